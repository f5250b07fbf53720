/*
 * policy.c - deis-scheduler's rollout policy (policy.h): from what an app
 * should run and what runs, the actions to take.  Pure: no I/O, no state,
 * no clock but the one it is given.
 *
 * A pass (docs/scheduler.md) works on a copy of the instances: what a
 * step stops is stopping for the steps after it, what it starts is there
 * for them, as if each action had been taken at once.  The copy is kept
 * in the order of the scheduler's list (newest first), so the actions
 * come in the order the scheduler always took them.
 *
 * A node drained is no verb of its own: its process instances are
 * restart-requested (policy_draining), so a drain replaces them as a
 * restart does, new first, never leaving a name with nothing serving.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

const char *const state_names[] = { "starting", "up", "crashed", "stopping" };

/* ---- the model ---- */

const struct deis_build *policy_build_of(const struct deis_app *m,
					 const struct deis_release *r)
{
	if (!r || !r->build_id)
		return NULL;
	for (size_t k = 0; k < m->nbuilds; k++)
		if (m->builds[k].id == r->build_id)
			return &m->builds[k];
	return NULL;
}

/* Whether the scheduler's verdict on a release is v ("released",
 * "deployed", "failed"). */
static bool verdict_is(const struct deis_app *m, int version, const char *v)
{
	const struct deis_rollout *ro = deis_app_rollout(m, version);

	return ro && !strcmp(ro->state, v);
}

static bool runnable(const struct deis_app *m, const struct deis_release *r)
{
	const struct deis_build *b = policy_build_of(m, r);

	return b && b->image[0] && !verdict_is(m, r->version, "failed");
}

/* A release that went live had its release phase pass before. */
static bool needs_phase(const struct deis_app *m, const struct deis_release *r)
{
	const struct deis_build *b = policy_build_of(m, r);

	return b && deis_kvlist_get(&b->procfile, "release") &&
		!verdict_is(m, r->version, "released") &&
		!verdict_is(m, r->version, "deployed");
}

/* Older releases still waiting for a release phase were superseded by
 * the newest one: they never run. */
const struct deis_release *policy_target(const struct deis_app *m,
					 const struct deis_release **pending)
{
	bool first = true;

	*pending = NULL;
	for (size_t k = m->nreleases; k-- > 0;) {
		const struct deis_release *r = m->releases[k];
		if (!runnable(m, r))
			continue;
		if (needs_phase(m, r)) {
			if (first)
				*pending = r;
			first = false;
			continue;
		}
		return r;
	}
	return NULL;
}

bool policy_restart_requested(const struct deis_app *m, const char *id, bool was)
{
	for (size_t k = 0; m && id && k < m->ncontainers; k++)
		if (!strcmp(m->containers[k].instance, id))
			return !strcmp(m->containers[k].desired, "restart");
	return was;
}

bool policy_draining(const struct policy_in *in, const struct policy_inst *inst)
{
	const char *node = inst->node && inst->node[0] ? inst->node : NULL;
	const struct deis_app *m = in->app;

	if (inst->kind != K_PROCESS || !in->ndraining)
		return false;
	for (size_t k = 0; !node && m && inst->id && k < m->ncontainers; k++)
		if (!strcmp(m->containers[k].instance, inst->id))
			node = m->containers[k].node;
	for (size_t k = 0; node && node[0] && k < in->ndraining; k++)
		if (!strcmp(in->draining[k], node))
			return true;
	return false;
}

const char *policy_node_next(const char *desired, const char *is, int containers)
{
	if (strcmp(desired, "drain"))
		return strcmp(is, desired) ? desired : NULL;
	if (!strcmp(is, "active"))
		return "pause";
	if (!strcmp(is, "pause") && containers == 0)
		return "drain";
	return NULL;
}

bool policy_node_draining(const char *desired, const char *is)
{
	return !strcmp(desired, "drain") && strcmp(is, "active");
}

/* ---- a pass ---- */

struct pass {
	const struct policy_in *in;
	struct policy_plan *plan;
	struct policy_inst *w;		/* the input's, then the started */
	size_t n, cap;
	long seq;			/* the next started one's */
};

/* v (n used of *cap, each of size) with room for one more. */
static void *room(void *v, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return v;
	*cap = *cap ? *cap * 2 : 16;
	v = realloc(v, *cap * size);
	if (!v)
		abort();
	return v;
}

static struct policy_action *act(struct pass *p, enum policy_verb verb, size_t inst)
{
	struct policy_plan *pl = p->plan;

	pl->v = room(pl->v, pl->n, &pl->cap, sizeof(*pl->v));
	struct policy_action *a = &pl->v[pl->n++];
	memset(a, 0, sizeof(*a));
	a->verb = verb;
	a->inst = inst;
	return a;
}

/* The j-th instance in the scheduler's list order: what this pass
 * started (newest first), then the input's. */
static size_t nth(const struct pass *p, size_t j)
{
	size_t started = p->n - p->in->ninsts;

	return j < started ? p->n - 1 - j : j - started;
}

#define EACH(p, k) for (size_t j_ = 0, k; j_ < (p)->n && ((k) = nth(p, j_), 1); j_++)

static size_t add(struct pass *p, enum kind kind, const char *type, int number,
		  int release, enum istate state)
{
	p->w = room(p->w, p->n, &p->cap, sizeof(*p->w));
	p->w[p->n] = (struct policy_inst){
		.type = type, .number = number, .seq = p->seq++, .release = release,
		.kind = kind, .state = state, .running = true,
		.boot_deadline = p->in->now + p->in->boot_timeout,
	};
	return p->n++;
}

static bool is_name(const struct policy_inst *i, const char *type, int number)
{
	return i->kind == K_PROCESS && i->number == number && !strcmp(i->type, type);
}

static void stop(struct pass *p, size_t k)
{
	if (p->w[k].state == S_STOPPING)
		return;
	p->w[k].state = S_STOPPING;
	act(p, P_STOP, k);
}

/* Records release failed and stops its processes. */
static void fail(struct pass *p, int release, const char *why)
{
	struct policy_action *a = act(p, P_FAIL, 0);

	a->release = release;
	snprintf(a->why, sizeof(a->why), "%s", why);
	EACH(p, k)
		if (p->w[k].kind == K_PROCESS && p->w[k].release == release)
			stop(p, k);
}

/*
 * One name (web.1) on target T.  The good instance is the newest on T
 * that nobody asked to restart; without one, one starts.  Once it is up,
 * every other instance of the name stops; until then the newest other one
 * that is up keeps serving.  Returns false when T failed.
 */
static bool per_name(struct pass *p, const char *type, int number,
		     const struct deis_release *T)
{
	long good = -1, serving = -1;
	double now = p->in->now;

	EACH(p, k) {
		const struct policy_inst *i = &p->w[k];
		if (is_name(i, type, number) && i->state != S_STOPPING &&
		    i->release == T->version && !i->restart_req &&
		    (good < 0 || i->seq > p->w[good].seq))
			good = (long)k;
	}
	if (good < 0) {
		good = (long)add(p, K_PROCESS, type, number, T->version, S_STARTING);
		struct policy_action *a = act(p, P_START, (size_t)good);
		a->type = type;
		a->number = number;
		a->release = T->version;
	}
	bool good_up = p->w[good].state == S_UP;
	EACH(p, k) {
		const struct policy_inst *i = &p->w[k];
		if (!good_up && (long)k != good && is_name(i, type, number) &&
		    i->state == S_UP && (serving < 0 || i->seq > p->w[serving].seq))
			serving = (long)k;
	}
	EACH(p, k)
		if ((long)k != good && (long)k != serving && is_name(&p->w[k], type, number))
			stop(p, k);
	struct policy_inst *g = &p->w[good];
	if (good_up || now <= g->boot_deadline)
		return true;
	if (serving >= 0 && p->w[serving].release != g->release) {
		char why[300];
		snprintf(why, sizeof(why), "%s.%d did not answer its health check within "
			 "%d s (Heroku's R10); v%d keeps serving", type, number,
			 p->in->boot_timeout, p->w[serving].release);
		fail(p, g->release, why);
		return false;
	}
	if (g->running) {
		/* Nothing else serves, or an instance of the same release does
		 * (a restart): R10, and keep trying. */
		g->boot_deadline = now + p->in->boot_timeout;
		act(p, P_BOOT_KILL, (size_t)good);
	}
	return true;
}

static bool removing(const struct policy_in *in, const char *id)
{
	for (size_t k = 0; k < in->nremoved; k++)
		if (!strcmp(in->removed[k], id))
			return true;
	return false;
}

static bool has_id(const struct pass *p, const char *id)
{
	for (size_t k = 0; k < p->in->ninsts; k++)
		if (!strcmp(p->w[k].id, id))
			return true;
	return false;
}

/* One-offs the tree asked for (run rows "starting" on this node). */
static void oneoffs(struct pass *p)
{
	const struct deis_app *m = p->in->app;

	for (size_t k = 0; k < m->ncontainers; k++) {
		const struct deis_container *c = &m->containers[k];
		if (strcmp(c->type, "run") || strcmp(c->state, "starting") ||
		    (c->node[0] && strcmp(c->node, p->in->node)) || has_id(p, c->instance) ||
		    removing(p->in, c->instance))
			continue;
		size_t i = add(p, K_ONEOFF, c->type, c->number, c->release, S_UP);
		act(p, P_RUN, i)->row = c;
	}
}

/* The release phase of pending runs (once); phases of releases no longer
 * pending were superseded: they stop. */
static void phases(struct pass *p, const struct deis_release *pending)
{
	bool running = false;

	EACH(p, k)
		if (p->w[k].kind == K_RELEASE && pending && p->w[k].release == pending->version)
			running = true;
	if (pending && !running) {
		size_t i = add(p, K_RELEASE, "release", pending->version, pending->version, S_UP);
		act(p, P_PHASE, i)->release = pending->version;
	}
	EACH(p, k)
		if (p->w[k].kind == K_RELEASE && (!pending || p->w[k].release != pending->version))
			stop(p, k);
}

struct name {
	const char *type;
	int number;
};

void policy_plan(const struct policy_in *in, struct policy_plan *out)
{
	const struct deis_app *m = in->app;
	struct pass p = { .in = in, .plan = out, .seq = 0 };
	struct name *want = NULL;
	size_t nwant = 0;

	if (!m) {
		/* The app is gone, and its rows with it: everything stops. */
		for (size_t k = 0; k < in->ninsts; k++)
			act(&p, P_STOP, k)->gone = true;
		return;
	}
	p.cap = in->ninsts + 16;
	p.w = malloc(p.cap * sizeof(*p.w));
	if (!p.w)
		abort();
	for (size_t k = 0; k < in->ninsts; k++) {
		p.w[k] = in->insts[k];
		/* A drain is a restart of every process there (policy.h). */
		p.w[k].restart_req = policy_restart_requested(m, p.w[k].id, p.w[k].restart_req) ||
				     policy_draining(in, &in->insts[k]);
		if (p.w[k].seq >= p.seq)
			p.seq = p.w[k].seq + 1;
	}
	p.n = in->ninsts;

	oneoffs(&p);
	const struct deis_release *pending, *T = policy_target(m, &pending);
	phases(&p, pending);

	const struct deis_build *b = T ? policy_build_of(m, T) : NULL;
	for (size_t k = 0; b && k < m->formation.n; k++) {
		const char *type = m->formation.items[k].key;
		int count = atoi(m->formation.items[k].value);
		if (!strcmp(type, "release") || !deis_kvlist_get(&b->procfile, type))
			continue;
		want = realloc(want, (nwant + (count > 0 ? (size_t)count : 0) + 1) *
			       sizeof(*want));
		if (!want)
			abort();
		for (int n = 1; n <= count; n++) {
			want[nwant++] = (struct name){ type, n };
			if (!per_name(&p, type, n, T))
				goto out;	/* T failed: the next pass works
						 * from the new verdict */
		}
	}
	/* Names not asked for: a scale-down, a type the build dropped. */
	EACH(&p, k) {
		bool wanted = false;
		for (size_t n = 0; n < nwant && !wanted; n++)
			wanted = is_name(&p.w[k], want[n].type, want[n].number);
		if (p.w[k].kind == K_PROCESS && !wanted)
			stop(&p, k);
	}
out:
	free(want);
	free(p.w);
}

void policy_plan_clear(struct policy_plan *p)
{
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}

/* ---- the verdict: deployed ---- */

/*
 * When a release serves: once its first web instance is up; for a
 * formation without web, its first instance of any type; at once when the
 * formation runs no process of it.  Whether the formation runs any
 * process of T (and whether web).
 */
static bool runs_any(const struct deis_app *m, const struct deis_release *T, bool *web)
{
	const struct deis_build *b = policy_build_of(m, T);
	bool any = false;

	*web = false;
	for (size_t k = 0; b && k < m->formation.n; k++) {
		const char *type = m->formation.items[k].key;
		if (!strcmp(type, "release") || atoi(m->formation.items[k].value) <= 0 ||
		    !deis_kvlist_get(&b->procfile, type))
			continue;
		any = true;
		*web = *web || !strcmp(type, "web");
	}
	return any;
}

const struct deis_release *policy_undeployed(const struct deis_app *m, int marked)
{
	const struct deis_release *pending, *T = m ? policy_target(m, &pending) : NULL;

	if (!T || T->version == marked || verdict_is(m, T->version, "deployed"))
		return NULL;
	return T;
}

int policy_deploy_with(const struct deis_app *m, int marked,
		       const struct policy_inst *insts, size_t n)
{
	const struct deis_release *T = policy_undeployed(m, marked);
	bool web;

	if (!T || !runs_any(m, T, &web))
		return -1;
	for (size_t k = 0; k < n; k++) {
		const struct policy_inst *i = &insts[k];
		if (i->kind == K_PROCESS && !i->gone && i->state == S_UP &&
		    i->release == T->version && (!web || !strcmp(i->type, "web")))
			return (int)k;
	}
	return -1;
}

int policy_deploy_alone(const struct deis_app *m, int marked, char *who, size_t len)
{
	const struct deis_release *T = policy_undeployed(m, marked);
	bool web;

	who[0] = '\0';
	if (!T)
		return 0;
	if (!runs_any(m, T, &web))
		return T->version;
	for (size_t k = 0; k < m->ncontainers; k++) {
		const struct deis_container *c = &m->containers[k];
		if (c->release != T->version || strcmp(c->state, "up") ||
		    !strcmp(c->type, "run") || !strcmp(c->type, "release") ||
		    (web && strcmp(c->type, "web")))
			continue;
		snprintf(who, len, "%s", c->name);
		return T->version;
	}
	return 0;
}

/* ---- stopping and crashes ---- */

bool policy_term_due(long serial, const struct policy_router *router)
{
	if (serial == 0)
		return true;
	return router && router->known && (!router->alive || router->applied >= serial);
}

void policy_term_why(long serial, const struct policy_router *router, char *buf,
		     size_t len)
{
	if (!router || !router->known)
		snprintf(buf, len, "the routers' state is not known (%s)",
			 router && router->trouble ? router->trouble : "not asked");
	else if (router->alive && router->applied < serial)
		snprintf(buf, len, "router %s has applied serial %ld of the app, not yet %ld",
			 router->lagging && router->lagging[0] ? router->lagging : "(unnamed)",
			 router->applied, serial);
	else
		snprintf(buf, len, "nothing: the routers no longer send to it");
}

double policy_backoff(double first, int step, double max)
{
	double delay = first;

	for (int k = 0; k < step && delay < max; k++)
		delay *= 2;
	return delay < max ? delay : max;
}

double policy_crash(int *crashes, double run_since, double now, int max)
{
	if (run_since && now - run_since > 60)
		*crashes = 0;
	if (++*crashes <= 1)
		return 0;
	return policy_backoff(1, *crashes - 1, max);
}

/* ---- autoscale ---- */

double policy_cpu_percent(const struct policy_cpu_sample *s, size_t n,
			  unsigned millicores)
{
	double cores = millicores ? millicores / 1000.0 : 1.0, sum = 0;
	size_t used = 0;

	for (size_t k = 0; k < n; k++) {
		if (s[k].ns1 < s[k].ns0 || !(s[k].seconds > 0))
			continue;
		sum += (double)(s[k].ns1 - s[k].ns0) / (s[k].seconds * 1e9 * cores) * 100;
		used++;
	}
	return used ? sum / (double)used : -1;
}
