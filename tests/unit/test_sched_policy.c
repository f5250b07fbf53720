/*
 * test_sched_policy.c - unit tests for deis-scheduler's rollout policy
 * (daemons/scheduler/policy.c): from an app as the database has it and
 * the instances as they run, the actions a pass takes.  No database, no
 * containers: the policy is pure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/kv.h"
#include "deis/model.h"
#include "policy.h"
#include "unit.h"

#define NOW 1000.0
#define BOOT 60

/* An app with builds, releases, verdicts, rows and instances. */
struct fx {
	struct deis_app app;
	struct deis_build builds[4];
	struct deis_release rels[8];
	struct deis_release *relp[8];
	struct deis_rollout ro[8];
	struct deis_container rows[8];
	struct policy_inst insts[16];
	size_t n;
	struct policy_plan plan;
};

static void fx_init(struct fx *f, const char *formation)
{
	char buf[128], *save = NULL;

	memset(f, 0, sizeof(*f));
	f->app.name = (char *)"hello";
	f->app.releases = f->relp;
	f->app.builds = f->builds;
	f->app.rollouts = f->ro;
	f->app.containers = f->rows;
	snprintf(buf, sizeof(buf), "%s", formation);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(t, '=');
		*eq = '\0';
		deis_kvlist_set(&f->app.formation, t, eq + 1);
	}
}

static void fx_clear(struct fx *f)
{
	deis_kvlist_clear(&f->app.formation);
	for (size_t k = 0; k < f->app.nbuilds; k++)
		deis_kvlist_clear(&f->builds[k].procfile);
	policy_plan_clear(&f->plan);
}

/* Build id (1, 2 ...) with a Procfile of web and worker, and release if
 * with_release. */
static void build(struct fx *f, long id, bool with_release)
{
	struct deis_build *b = &f->builds[f->app.nbuilds++];

	b->id = id;
	b->image = (char *)"hello@sha256:0";
	deis_kvlist_set(&b->procfile, "web", "python3 app.py");
	deis_kvlist_set(&b->procfile, "worker", "python3 worker.py");
	if (with_release)
		deis_kvlist_set(&b->procfile, "release", "./migrate");
}

static void release(struct fx *f, int version, long build_id)
{
	struct deis_release *r = &f->rels[f->app.nreleases];

	r->version = version;
	r->build_id = build_id;
	f->relp[f->app.nreleases++] = r;
}

static void verdict(struct fx *f, int version, const char *state)
{
	f->ro[f->app.nrollouts++] = (struct deis_rollout){
		.version = version, .state = (char *)state, .reason = (char *)"" };
}

static const char *const ids[] = { "i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7" };

/* Instance number f->n: type.number on release, in state. */
static size_t inst(struct fx *f, const char *type, int number, int release,
		   enum istate state)
{
	size_t k = f->n++;

	f->insts[k] = (struct policy_inst){
		.id = ids[k], .type = type, .number = number, .seq = 100 + (long)k,
		.release = release, .kind = !strcmp(type, "run") ? K_ONEOFF :
			!strcmp(type, "release") ? K_RELEASE : K_PROCESS,
		.state = state, .running = state != S_CRASHED,
		.boot_deadline = NOW + BOOT,
	};
	return k;
}

static struct deis_container *row(struct fx *f, const char *instance, const char *type,
				  const char *state, const char *node, const char *desired)
{
	struct deis_container *c = &f->rows[f->app.ncontainers++];

	*c = (struct deis_container){
		.name = (char *)"x", .instance = (char *)instance, .type = (char *)type,
		.state = (char *)state, .node = (char *)node, .desired = (char *)desired,
		.command = (char *)"", .address = (char *)"", .number = 1, .release = 1,
	};
	return c;
}

/* The nodes being drained in the passes of plan() (none by default). */
static const char *const *draining;
static size_t ndraining;
static const char *const node2[] = { "node2" };

/* Instance number f->n, type.number up on v1 on node. */
static size_t inst_on(struct fx *f, const char *type, int number, const char *node)
{
	size_t k = inst(f, type, number, 1, S_UP);

	f->insts[k].node = node;
	return k;
}

/* From now on node2 drains (on: true), or nothing does. */
static void drain_node2(bool on)
{
	draining = on ? node2 : NULL;
	ndraining = on ? 1 : 0;
}

static void plan(struct fx *f, bool gone)
{
	const char *removed[] = { "hello.run.2.9" };
	struct policy_in in = {
		.app = gone ? NULL : &f->app, .insts = f->insts, .ninsts = f->n,
		.removed = removed, .nremoved = 1, .node = "node1", .now = NOW,
		.boot_timeout = BOOT, .draining = draining, .ndraining = ndraining,
	};

	policy_plan_clear(&f->plan);
	policy_plan(&in, &f->plan);
}

static size_t count(const struct fx *f, enum policy_verb verb)
{
	size_t n = 0;

	for (size_t k = 0; k < f->plan.n; k++)
		n += f->plan.v[k].verb == verb;
	return n;
}

static bool stops(const struct fx *f, size_t inst)
{
	for (size_t k = 0; k < f->plan.n; k++)
		if (f->plan.v[k].verb == P_STOP && f->plan.v[k].inst == inst)
			return true;
	return false;
}

static const struct policy_action *find(const struct fx *f, enum policy_verb verb, int nth)
{
	for (size_t k = 0; k < f->plan.n; k++)
		if (f->plan.v[k].verb == verb && nth-- == 0)
			return &f->plan.v[k];
	return NULL;
}

/* One build, v1 deployed. */
static void deployed_v1(struct fx *f, const char *formation)
{
	fx_init(f, formation);
	build(f, 1, false);
	release(f, 1, 1);
	verdict(f, 1, "deployed");
}

/* Then a config change: v2 of the same build. */
static void config_v2(struct fx *f, const char *formation)
{
	deployed_v1(f, formation);
	release(f, 2, 1);
}

/* Or a push: build 2 (with a release phase or not) and v2 of it, with
 * web.1 up on v1; returns that instance. */
static size_t pushed_v2(struct fx *f, const char *formation, bool with_release)
{
	deployed_v1(f, formation);
	build(f, 2, with_release);
	release(f, 2, 2);
	return inst(f, "web", 1, 1, S_UP);
}

TEST(steady_state_does_nothing)
{
	struct fx f;

	deployed_v1(&f, "web=2");
	inst(&f, "web", 1, 1, S_UP);
	inst(&f, "web", 2, 1, S_UP);
	plan(&f, false);
	CHECK(f.plan.n == 0);
	fx_clear(&f);

	/* Two of one name on the target (a restart's leftovers): the newest
	 * stays. */
	deployed_v1(&f, "web=1");
	size_t older = inst(&f, "web", 1, 1, S_UP);
	size_t newer = inst(&f, "web", 1, 1, S_UP);
	plan(&f, false);
	CHECK(f.plan.n == 1 && stops(&f, older) && !stops(&f, newer));
	fx_clear(&f);
}

TEST(scale_up_starts_the_new_names)
{
	struct fx f;

	deployed_v1(&f, "web=3 worker=1");
	inst(&f, "web", 1, 1, S_UP);
	plan(&f, false);
	CHECK(count(&f, P_START) == 3);
	CHECK(count(&f, P_STOP) == 0);
	const struct policy_action *a = find(&f, P_START, 0);
	CHECK(a && !strcmp(a->type, "web") && a->number == 2 && a->release == 1);
	CHECK(a && a->inst == 1);	/* numbered after the input's */
	a = find(&f, P_START, 2);
	CHECK(a && !strcmp(a->type, "worker") && a->number == 1);
	fx_clear(&f);
}

TEST(scale_down_stops_the_names_not_asked_for)
{
	struct fx f;

	deployed_v1(&f, "web=1");
	size_t w1 = inst(&f, "web", 1, 1, S_UP);
	size_t w2 = inst(&f, "web", 2, 1, S_UP);
	size_t w3 = inst(&f, "web", 3, 1, S_STARTING);
	size_t wk = inst(&f, "worker", 1, 1, S_UP);
	plan(&f, false);
	CHECK(!stops(&f, w1));
	CHECK(stops(&f, w2));
	CHECK(stops(&f, w3));
	CHECK(stops(&f, wk));	/* worker dropped from the formation */
	CHECK(count(&f, P_START) == 0);
	fx_clear(&f);

	/* web=0: everything of web stops, nothing starts. */
	deployed_v1(&f, "web=0");
	w1 = inst(&f, "web", 1, 1, S_UP);
	plan(&f, false);
	CHECK(stops(&f, w1) && f.plan.n == 1);
	fx_clear(&f);
}

/* A config change: v2 of the same build.  The new instance starts first;
 * the old one keeps serving until the new one is up; only then does it
 * stop, and only once the router applied the change does it get SIGTERM. */
TEST(config_change_rolls_out_new_first)
{
	struct fx f;

	config_v2(&f, "web=1");
	size_t old = inst(&f, "web", 1, 1, S_UP);
	plan(&f, false);
	CHECK(count(&f, P_START) == 1 && find(&f, P_START, 0)->release == 2);
	CHECK(!stops(&f, old));
	/* Not yet deployed: nothing up on v2. */
	CHECK(policy_deploy_with(&f.app, 0, f.insts, f.n) == -1);

	/* The new one starts: the old one still serves. */
	size_t neu = inst(&f, "web", 1, 2, S_STARTING);
	plan(&f, false);
	CHECK(f.plan.n == 0);

	/* It answers: the old one stops, the new one's row carries v2's
	 * verdict. */
	f.insts[neu].state = S_UP;
	plan(&f, false);
	CHECK(f.plan.n == 1 && stops(&f, old));
	CHECK(policy_deploy_with(&f.app, 0, f.insts, f.n) == (int)neu);
	CHECK(policy_deploy_with(&f.app, 2, f.insts, f.n) == -1);	/* marked */

	/* SIGTERM waits for the router to apply serial 7 (the write that
	 * marked it stopping). */
	struct policy_router r = { .known = true, .alive = true, .applied = 6 };
	CHECK(!policy_term_due(7, &r));
	r.applied = 7;
	CHECK(policy_term_due(7, &r));
	fx_clear(&f);
}

/* Unknown is not "go": with neither record answering (Redis and
 * PostgreSQL down, or not asked), a router may still send to it. */
TEST(term_waits_while_the_router_state_is_unknown)
{
	struct policy_router r = { .known = false, .trouble = "PostgreSQL: down; Redis: down" };
	char why[300];

	CHECK(!policy_term_due(7, NULL));
	CHECK(!policy_term_due(7, &r));
	/* Even what an old answer said is not taken once it is unknown. */
	r.alive = true;
	r.applied = 9;
	CHECK(!policy_term_due(7, &r));
	policy_term_why(7, &r, why, sizeof(why));
	CHECK(strstr(why, "not known") && strstr(why, "PostgreSQL: down"));
	policy_term_why(7, NULL, why, sizeof(why));
	CHECK(strstr(why, "not known"));
	/* A container that was never routed needs no router. */
	CHECK(policy_term_due(0, NULL));
	CHECK(policy_term_due(0, &r));
}

/* Known: every live router must have applied the serial (the least of
 * them is what the record gives); no live router routes anything. */
TEST(term_due_once_every_live_router_applied)
{
	struct policy_router r = { .known = true, .alive = true, .applied = 6,
				   .lagging = "node2" };
	char why[300];

	CHECK(!policy_term_due(7, &r));
	policy_term_why(7, &r, why, sizeof(why));
	CHECK_STR(why, "router node2 has applied serial 6 of the app, not yet 7");
	r.applied = 0;			/* a live router that never applied it */
	CHECK(!policy_term_due(7, &r));
	r.applied = 8;			/* a later serial includes it */
	CHECK(policy_term_due(7, &r));
	r = (struct policy_router){ .known = true, .alive = false };
	CHECK(policy_term_due(7, &r));	/* no router runs: none sends to it */
}

/* A new release whose web instance crashes without ever answering: once
 * its boot time is over, it is failed, its instances stop and the old
 * release keeps serving. */
TEST(crash_looping_release_fails_old_kept)
{
	struct fx f;

	size_t old = pushed_v2(&f, "web=1 worker=1", false);
	size_t bad = inst(&f, "web", 1, 2, S_CRASHED);
	size_t wk = inst(&f, "worker", 1, 2, S_UP);
	size_t run = inst(&f, "run", 1, 2, S_UP);
	/* Within its boot time: it keeps trying. */
	plan(&f, false);
	CHECK(count(&f, P_FAIL) == 0 && f.plan.n == 0);

	f.insts[bad].boot_deadline = NOW - 1;
	plan(&f, false);
	const struct policy_action *fail = find(&f, P_FAIL, 0);
	CHECK(fail && fail->release == 2);
	CHECK(fail && strstr(fail->why, "web.1 did not answer its health check within 60 s"));
	CHECK(fail && strstr(fail->why, "v1 keeps serving"));
	CHECK(stops(&f, bad));
	CHECK(stops(&f, wk));		/* every process of the release */
	CHECK(!stops(&f, old));
	CHECK(!stops(&f, run));		/* not its one-offs */
	CHECK(count(&f, P_START) == 0);
	CHECK(f.plan.v[f.plan.n - 1].verb == P_STOP);	/* the plan ends there */

	/* Recorded failed: v1 is the target again, nothing to do for web. */
	verdict(&f, 2, "failed");
	f.insts[bad].state = S_STOPPING;
	f.insts[wk].state = S_STOPPING;
	const struct deis_release *pending, *T = policy_target(&f.app, &pending);
	CHECK(T && T->version == 1 && !pending);
	plan(&f, false);
	CHECK(!stops(&f, old));
	CHECK(count(&f, P_START) == 1 && !strcmp(find(&f, P_START, 0)->type, "worker"));
	fx_clear(&f);

	/* The cool-off between restarts: at once, then 2, 4, 8 ... s up to
	 * the maximum; a minute up starts the count again. */
	int crashes = 0;
	CHECK(policy_crash(&crashes, NOW, NOW + 1, 300) == 0);
	CHECK(policy_crash(&crashes, NOW, NOW + 1, 300) == 2);
	CHECK(policy_crash(&crashes, NOW, NOW + 1, 300) == 4);
	CHECK(policy_crash(&crashes, NOW, NOW + 1, 300) == 8);
	crashes = 20;
	CHECK(policy_crash(&crashes, NOW, NOW + 1, 300) == 300);
	CHECK(policy_crash(&crashes, NOW, NOW + 61, 300) == 0 && crashes == 1);

	/* The waits for a registry that does not answer: 0.5 s, doubling,
	 * at most 8 s. */
	CHECK(policy_backoff(0.5, 0, 8) == 0.5);
	CHECK(policy_backoff(0.5, 1, 8) == 1);
	CHECK(policy_backoff(0.5, 4, 8) == 8);
	CHECK(policy_backoff(0.5, 40, 8) == 8);
}

/* With nothing else to serve, a web instance that does not answer in
 * time is killed (Heroku's R10) and tried again: the release is not
 * failed. */
TEST(boot_timeout_alone_kills_and_retries)
{
	struct fx f;

	deployed_v1(&f, "web=1");
	size_t w = inst(&f, "web", 1, 1, S_STARTING);
	f.insts[w].boot_deadline = NOW - 1;
	plan(&f, false);
	CHECK(count(&f, P_FAIL) == 0);
	CHECK(f.plan.n == 1 && find(&f, P_BOOT_KILL, 0) && find(&f, P_BOOT_KILL, 0)->inst == w);
	fx_clear(&f);
}

/* rmdir containers/web.1: its row asks for a restart.  A new instance of
 * the same release starts; the old one serves until the new one is up. */
/* The new instance neu misses its boot time while old (same release)
 * serves: R10, not a failed release, and old keeps serving; once neu
 * answers, old stops. */
static void r10_then_up(struct fx *f, size_t neu, size_t old)
{
	f->insts[neu].boot_deadline = NOW - 1;
	plan(f, false);
	CHECK(count(f, P_FAIL) == 0 && !stops(f, old));
	CHECK(find(f, P_BOOT_KILL, 0) && find(f, P_BOOT_KILL, 0)->inst == neu);

	f->insts[neu].state = S_UP;
	plan(f, false);
	CHECK(f->plan.n == 1 && stops(f, old) && !stops(f, neu));
}

TEST(restart_by_rmdir_replaces_new_first)
{
	struct fx f;

	deployed_v1(&f, "web=1");
	size_t old = inst(&f, "web", 1, 1, S_UP);
	row(&f, ids[old], "web", "up", "node1", "restart");
	CHECK(policy_restart_requested(&f.app, ids[old], false));
	CHECK(!policy_restart_requested(&f.app, "other", false));
	CHECK(policy_restart_requested(&f.app, "other", true));	/* as seen last */
	plan(&f, false);
	CHECK(count(&f, P_START) == 1 && find(&f, P_START, 0)->release == 1);
	CHECK(!stops(&f, old));

	/* The new one misses its boot time while the old one (same
	 * release) serves: R10, not a failed release. */
	r10_then_up(&f, inst(&f, "web", 1, 1, S_STARTING), old);
	fx_clear(&f);
}

/* The instances serving name type.number in f: up, not stopped by the
 * last plan. */
static int serving(const struct fx *f, const char *type, int number)
{
	int n = 0;

	for (size_t k = 0; k < f->n; k++)
		if (!strcmp(f->insts[k].type, type) && f->insts[k].number == number &&
		    f->insts[k].state == S_UP && !stops(f, k))
			n++;
	return n;
}

/* A drain of node2 with web=2 worker=1 over node1 and node2: each
 * instance there is replaced as a restart is, new first; no name is ever
 * left with nothing serving; what runs elsewhere, one-offs included, is
 * left alone. */
TEST(drain_replaces_new_first_never_below_the_formation)
{
	struct fx f;

	deployed_v1(&f, "web=2 worker=1");
	size_t w1 = inst_on(&f, "web", 1, "node1");
	size_t w2 = inst_on(&f, "web", 2, "node2");
	size_t wk = inst_on(&f, "worker", 1, NULL);
	size_t run = inst_on(&f, "run", 1, NULL);
	row(&f, ids[wk], "worker", "up", "node2", "");	/* where its row says */
	row(&f, ids[run], "run", "up", "node2", "");
	plan(&f, false);
	CHECK(f.plan.n == 0);		/* nothing drains: nothing to do */

	drain_node2(true);
	CHECK(!policy_draining(&(struct policy_in){ .app = &f.app, .draining = node2,
						   .ndraining = 1 }, &f.insts[w1]));
	CHECK(policy_draining(&(struct policy_in){ .app = &f.app, .draining = node2,
						  .ndraining = 1 }, &f.insts[wk]));
	plan(&f, false);
	/* web.2 and worker.1 get a new one each, on the same release; nothing
	 * stops yet, the one-off runs on */
	CHECK(count(&f, P_START) == 2 && count(&f, P_STOP) == 0);
	CHECK(find(&f, P_START, 0) && find(&f, P_START, 0)->release == 1);
	CHECK(serving(&f, "web", 1) == 1 && serving(&f, "web", 2) == 1 &&
	      serving(&f, "worker", 1) == 1);

	/* The new ones start elsewhere (node3, as the runtime placed them):
	 * the old ones serve until they are up. */
	size_t n2 = inst(&f, "web", 2, 1, S_STARTING);
	size_t nk = inst(&f, "worker", 1, 1, S_STARTING);
	f.insts[n2].node = "node3";
	f.insts[nk].node = "node3";
	plan(&f, false);
	CHECK(f.plan.n == 0);
	CHECK(serving(&f, "web", 2) == 1 && serving(&f, "worker", 1) == 1);

	/* web.2's new one answers: the old one stops (then waits for the
	 * routers, as every stop does); worker.1's old one still serves. */
	f.insts[n2].state = S_UP;
	plan(&f, false);
	CHECK(f.plan.n == 1 && stops(&f, w2));
	CHECK(serving(&f, "web", 2) == 1 && serving(&f, "worker", 1) == 1);
	f.insts[w2].state = S_STOPPING;

	/* A new one that misses its boot time while the old one serves:
	 * R10, and the old one keeps serving (never below the formation). */
	r10_then_up(&f, nk, wk);
	CHECK(!stops(&f, run));
	CHECK(serving(&f, "worker", 1) == 1 && serving(&f, "web", 1) == 1);
	f.insts[wk].state = S_STOPPING;

	/* Once drained, the next passes do nothing more. */
	plan(&f, false);
	CHECK(f.plan.n == 0);
	drain_node2(false);
	fx_clear(&f);
}

/* A new instance the runtime placed on the draining node after all (the
 * pause not applied yet): replaced too, new first; the old one serves
 * meanwhile. */
TEST(drain_replaces_what_lands_on_the_node)
{
	struct fx f;

	drain_node2(true);
	deployed_v1(&f, "web=1");
	inst_on(&f, "web", 1, "node2");
	f.insts[inst_on(&f, "web", 1, "node2")].state = S_STARTING;
	plan(&f, false);
	CHECK(count(&f, P_START) == 1 && !stops(&f, 0));
	CHECK(serving(&f, "web", 1) == 1);
	drain_node2(false);
	fx_clear(&f);
}

/* A node's availability, heartbeat after heartbeat: a drain pauses
 * first, drains once nothing is left; active and pause are set as asked;
 * its instances are replaced only while the runtime places nothing new
 * there. */
TEST(node_availability_steps)
{
	static const struct {
		const char *desired, *is;
		int containers;
		const char *next;	/* NULL: nothing to set */
		bool draining;		/* before the step is taken */
	} steps[] = {
		{ "active", "active", 3, NULL, false },
		{ "drain", "active", 3, "pause", false },
		{ "drain", "pause", 3, NULL, true },
		{ "drain", "pause", 1, NULL, true },
		{ "drain", "pause", 0, "drain", true },
		{ "drain", "drain", 0, NULL, true },
		{ "active", "drain", 0, "active", false },
		{ "pause", "active", 2, "pause", false },
		{ "pause", "pause", 2, NULL, false },
		{ "active", "pause", 2, "active", false },
		{ "pause", "drain", 0, "pause", false },
	};

	for (size_t k = 0; k < sizeof(steps) / sizeof(*steps); k++) {
		const char *next = policy_node_next(steps[k].desired, steps[k].is,
						    steps[k].containers);
		bool ok = next && steps[k].next ? !strcmp(next, steps[k].next) :
			  next == steps[k].next;
		if (!ok)
			printf("# step %zu: %s, %s, %d: got %s\n", k, steps[k].desired,
			       steps[k].is, steps[k].containers, next ? next : "nothing");
		CHECK(ok);
		CHECK(policy_node_draining(steps[k].desired, steps[k].is) == steps[k].draining);
	}
}

/* One-offs (run.N) run to their end whatever the formation does; the
 * tree's new run rows start, on this node only, once. */
TEST(oneoffs_untouched)
{
	struct fx f;

	config_v2(&f, "web=0");
	size_t run = inst(&f, "run", 1, 1, S_UP);
	size_t w = inst(&f, "web", 1, 1, S_UP);
	struct deis_container *mine = row(&f, "hello.run.3.10", "run", "starting", "", "");
	row(&f, "hello.run.4.11", "run", "starting", "node2", "");	/* not ours */
	row(&f, "hello.run.2.9", "run", "starting", "node1", "");	/* ended here */
	row(&f, ids[run], "run", "up", "node1", "");			/* runs */
	plan(&f, false);
	CHECK(!stops(&f, run));
	CHECK(stops(&f, w));
	CHECK(count(&f, P_RUN) == 1 && find(&f, P_RUN, 0)->row == mine);
	fx_clear(&f);
}

/* A release with a release phase: it runs first, the previous release
 * keeps running; once it passed, the release rolls out. */
TEST(release_phase_runs_first)
{
	struct fx f;

	size_t old = pushed_v2(&f, "web=1", true);
	plan(&f, false);
	const struct policy_action *ph = find(&f, P_PHASE, 0);
	CHECK(ph && ph->release == 2 && f.plan.n == 1);
	CHECK(!stops(&f, old));

	/* Running: not started twice. */
	size_t p = inst(&f, "release", 2, 2, S_UP);
	plan(&f, false);
	CHECK(f.plan.n == 0);

	/* Passed: web.1 rolls out to v2. */
	f.insts[p].state = S_STOPPING;
	verdict(&f, 2, "released");
	plan(&f, false);
	CHECK(count(&f, P_PHASE) == 0);
	CHECK(count(&f, P_START) == 1 && find(&f, P_START, 0)->release == 2);
	fx_clear(&f);
}

/* rmdir apps/hello: everything of it stops, with no row to write. */
TEST(app_gone_stops_everything)
{
	struct fx f;

	deployed_v1(&f, "web=1");
	inst(&f, "web", 1, 1, S_UP);
	inst(&f, "run", 1, 1, S_UP);
	inst(&f, "web", 2, 1, S_STOPPING);
	plan(&f, true);
	CHECK(count(&f, P_STOP) == 3);
	for (size_t k = 0; k < f.plan.n; k++)
		CHECK(f.plan.v[k].gone);
	fx_clear(&f);
}

/* The verdict without a row write: a formation that runs none of the
 * release is deployed at once; else once a row shows it up (web first). */
TEST(deployed_verdict_from_rows)
{
	struct fx f;
	char who[64];

	config_v2(&f, "web=0");
	CHECK(policy_deploy_alone(&f.app, 0, who, sizeof(who)) == 2 && !who[0]);
	fx_clear(&f);

	config_v2(&f, "web=1 worker=1");
	struct deis_container *c = row(&f, "hello.worker.1.5", "worker", "up", "node1", "");
	c->release = 2;
	CHECK(policy_deploy_alone(&f.app, 0, who, sizeof(who)) == 0);	/* web first */
	c = row(&f, "hello.web.1.6", "web", "up", "node1", "");
	c->release = 2;
	c->name = (char *)"web.1";
	CHECK(policy_deploy_alone(&f.app, 0, who, sizeof(who)) == 2);
	CHECK_STR(who, "web.1");
	verdict(&f, 2, "deployed");
	CHECK(!policy_undeployed(&f.app, 0));
	fx_clear(&f);
}

/* ---- autoscale: the average CPU of a window ---- */

#define NS 1000000000ULL

TEST(cpu_average_of_one_core_or_of_the_limit)
{
	/* Two containers over 60 s: 54 s and 30 s of CPU, 90% and 50%. */
	struct policy_cpu_sample s[] = {
		{ 100 * NS, 154 * NS, 60 }, { 7 * NS, 37 * NS, 60 },
	};
	double p = policy_cpu_percent(s, 2, 0);
	CHECK(p > 69.99 && p < 70.01);
	/* Of a half core each (web.cpu=0.5): twice as much. */
	p = policy_cpu_percent(s, 2, 500);
	CHECK(p > 139.99 && p < 140.01);
	/* Two cores each: half. */
	p = policy_cpu_percent(s, 2, 2000);
	CHECK(p > 34.99 && p < 35.01);
	/* Each over the time it had: a container seen for 10 s of the
	 * window, busy all of it, is at 100%. */
	struct policy_cpu_sample late[] = { { 0, 10 * NS, 10 }, { 0, 0, 60 } };
	p = policy_cpu_percent(late, 2, 0);
	CHECK(p > 49.99 && p < 50.01);
}

TEST(cpu_average_leaves_out_what_cannot_be_measured)
{
	/* Restarted in place (the counter went back), no time between. */
	struct policy_cpu_sample s[] = {
		{ 50 * NS, 2 * NS, 60 }, { 0, NS, 0 }, { 0, 30 * NS, 60 },
	};
	double p = policy_cpu_percent(s, 3, 0);
	CHECK(p > 49.99 && p < 50.01);
	CHECK(policy_cpu_percent(s, 2, 0) < 0);
	CHECK(policy_cpu_percent(NULL, 0, 0) < 0);
	/* Idle: 0, known (scale down), not unknown. */
	struct policy_cpu_sample idle[] = { { 5 * NS, 5 * NS, 60 } };
	CHECK(policy_cpu_percent(idle, 1, 0) == 0);
}

int main(void)
{
	RUN(steady_state_does_nothing);
	RUN(scale_up_starts_the_new_names);
	RUN(scale_down_stops_the_names_not_asked_for);
	RUN(config_change_rolls_out_new_first);
	RUN(term_waits_while_the_router_state_is_unknown);
	RUN(term_due_once_every_live_router_applied);
	RUN(crash_looping_release_fails_old_kept);
	RUN(boot_timeout_alone_kills_and_retries);
	RUN(restart_by_rmdir_replaces_new_first);
	RUN(drain_replaces_new_first_never_below_the_formation);
	RUN(drain_replaces_what_lands_on_the_node);
	RUN(node_availability_steps);
	RUN(oneoffs_untouched);
	RUN(release_phase_runs_first);
	RUN(app_gone_stops_everything);
	RUN(deployed_verdict_from_rows);
	RUN(cpu_average_of_one_core_or_of_the_limit);
	RUN(cpu_average_leaves_out_what_cannot_be_measured);
	return unit_done();
}
