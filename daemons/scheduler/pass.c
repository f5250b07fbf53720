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

void reconcile(struct sapp *a)
{
	struct policy_plan plan = POLICY_PLAN_INIT;
	const char **gone = calloc(nremoved + 1, sizeof(*gone));
	size_t n;

	if (!gone)
		abort();
	for (size_t k = 0; k < nremoved; k++)
		gone[k] = removed[k].id;
	/* Keep what the rows say of restarts: a row may lag its instance. */
	for (struct inst *i = insts; a->m && i; i = i->next)
		if (!strcmp(i->app, a->name))
			i->restart_req = policy_restart_requested(a->m, i->id, i->restart_req);
	struct policy_inst *views = inst_views(a->name, &n);
	/* The instances the plan numbers: the views', then what it starts. */
	struct inst **by = calloc(n + 1, sizeof(*by));
	if (!by)
		abort();
	size_t k = 0;
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->app, a->name))
			by[k++] = i;
	struct policy_in in = {
		.app = a->m, .insts = views, .ninsts = n, .removed = gone,
		.nremoved = nremoved, .node = scheduler_conf.node, .now = mono(),
		.boot_timeout = scheduler_conf.boot_timeout,
	};
	policy_plan(&in, &plan);
	for (size_t p = 0; p < plan.n; p++) {
		const struct policy_action *act = &plan.v[p];
		struct inst *made = NULL;
		if (act->verb == P_RUN || act->verb == P_PHASE || act->verb == P_START) {
			by = xrealloc(by, (act->inst + 1) * sizeof(*by));
		}
		switch (act->verb) {
		case P_RUN:
			start_oneoff(a, act->row, &made);
			by[act->inst] = made;
			break;
		case P_PHASE:
			start_phase(a, act->release, &made);
			by[act->inst] = made;
			break;
		case P_START:
			made = inst_new(a, act->type, act->number, act->release, K_PROCESS,
					NULL, 0);
			if (made)
				inst_launch(made, a);
			by[act->inst] = made;
			break;
		case P_STOP:
			if (!by[act->inst])
				break;
			by[act->inst]->nodb |= act->gone;
			inst_stop(by[act->inst]);	/* may free it */
			by[act->inst] = NULL;
			break;
		case P_FAIL:
			release_failed(a, act->release, act->why);
			break;
		case P_BOOT_KILL:
			if (by[act->inst])
				boot_kill(by[act->inst], in.now);
			break;
		}
	}
	policy_plan_clear(&plan);
	free(by);
	free(views);
	free(gone);
}
