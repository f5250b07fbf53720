/*
 * pass.c - deis-scheduler: a pass over one app.  The policy (policy.c)
 * says what to do from the app as loaded and its instances as they are;
 * this carries it out, in its order: one-offs and release phases
 * started, instances started and stopped, verdicts recorded.
 *
 * A pass runs for an app when an event names it, when one of its
 * instances changes state, and at every resync.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/log.h"
#include "scheduler.h"

static void start_oneoff(struct sapp *a, const struct deis_container *c, struct inst **made)
{
	struct inst *i = inst_from_row(a->name, c);

	if (inst_launch(i, a) < 0) {
		set_state(i, S_STOPPING);
		inst_remove(i);
		return;
	}
	set_state(i, S_UP);	/* one-offs are up once they run */
	*made = i;
}

static void start_phase(struct sapp *a, int version, struct inst **made)
{
	struct inst *i = inst_new(a, "release", version, version, K_RELEASE, NULL, 0);

	if (!i)
		return;
	applog(a->name, "running the release phase of v%d", version);
	if (inst_launch(i, a) < 0) {
		/* The platform's trouble (registry, network), not the
		 * release's: the next pass tries again. */
		applog(a->name, "the release phase of v%d could not start; retrying", version);
		set_state(i, S_STOPPING);
		inst_remove(i);
		return;
	}
	set_state(i, S_UP);
	*made = i;
}

/* The Heroku R10 of an instance nothing else serves for: killed, it
 * restarts, with a new boot window. */
static void boot_kill(struct inst *i, double t)
{
	struct deis_error err = DEIS_ERROR_INIT;

	applog(i->app, "%s: Error R10 (Boot timeout): did not answer on $PORT (%d) within "
	       "%d s; killing it", i->name, i->port, scheduler_conf.boot_timeout);
	i->boot_deadline = t + scheduler_conf.boot_timeout;
	sched.backend->ops->stop(sched.backend, i->id, true, &err);
}

/* Carries one action out.  by numbers the instances as the plan does
 * (NULL: gone); it grows with what the action starts. */
static struct inst **apply(struct sapp *a, const struct policy_action *act,
			   struct inst **by, double now)
{
	struct inst *made = NULL;

	switch (act->verb) {
	case P_RUN:
		start_oneoff(a, act->row, &made);
		break;
	case P_PHASE:
		start_phase(a, act->release, &made);
		break;
	case P_START:
		made = inst_new(a, act->type, act->number, act->release, K_PROCESS, NULL, 0);
		if (made)
			inst_launch(made, a);
		break;
	case P_STOP:
		if (by[act->inst]) {
			by[act->inst]->nodb |= act->gone;
			inst_stop(by[act->inst]);	/* may free it */
			by[act->inst] = NULL;
		}
		return by;
	case P_FAIL:
		release_failed(a, act->release, act->why);
		return by;
	case P_BOOT_KILL:
		if (by[act->inst])
			boot_kill(by[act->inst], now);
		return by;
	}
	by = xrealloc(by, (act->inst + 1) * sizeof(*by));
	by[act->inst] = made;
	return by;
}

void reconcile(struct sapp *a)
{
	struct policy_plan plan = POLICY_PLAN_INIT;
	const char **gone = xrealloc(NULL, (nremoved + 1) * sizeof(*gone));
	size_t n, k = 0;

	for (size_t r = 0; r < nremoved; r++)
		gone[r] = removed[r].id;
	/* Keep what the rows say of restarts: a row may lag its instance. */
	for (struct inst *i = insts; a->m && i; i = i->next)
		if (!strcmp(i->app, a->name))
			i->restart_req = policy_restart_requested(a->m, i->id, i->restart_req);
	struct policy_inst *views = inst_views(a->name, &n);
	struct inst **by = xrealloc(NULL, (n + 1) * sizeof(*by));
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->app, a->name))
			by[k++] = i;
	struct policy_in in = {
		.app = a->m, .insts = views, .ninsts = n, .removed = gone,
		.nremoved = nremoved, .node = scheduler_conf.node, .now = mono(),
		.boot_timeout = scheduler_conf.boot_timeout,
	};
	policy_plan(&in, &plan);
	for (size_t p = 0; p < plan.n; p++)
		by = apply(a, &plan.v[p], by, in.now);
	policy_plan_clear(&plan);
	free(by);
	free(views);
	free(gone);
}
