/*
 * policy.h - deis-scheduler's rollout policy: pure functions.
 *
 * Given what the database says an app should run (its releases, builds,
 * formation, rollout verdicts and container rows: a struct deis_app) and
 * the instances this node runs for it, as they are, the policy says what
 * to do: start this, stop that, record that release failed or deployed.
 * It does no I/O and keeps no state: pass.c and record.c carry its
 * answers out, and tests/unit/test_sched_policy.c tests it as
 * tests/unit/test_proxy_render.c tests the router's renderer.
 */
#ifndef DEIS_SCHED_POLICY_H
#define DEIS_SCHED_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deis/model.h"

enum kind { K_PROCESS, K_ONEOFF, K_RELEASE };
enum istate { S_STARTING, S_UP, S_CRASHED, S_STOPPING };

extern const char *const state_names[];	/* "starting", "up", ... */

/* An instance as the policy sees it. */
struct policy_inst {
	const char *id;		/* <app>.<name>.<seq> */
	const char *type;	/* web; with number, its name web.1 */
	int number;
	long seq;		/* newer instances have larger ones */
	int release;		/* the version it runs */
	enum kind kind;
	enum istate state;
	bool restart_req;	/* asked to restart (rmdir), as last seen */
	bool running;		/* something runs that a signal reaches */
	bool gone;		/* its app was deleted: it has no row */
	double boot_deadline;	/* when it must be up by (monotonic s) */
	const char *node;	/* the node it runs on, once placed (NULL or
				 * "": its row's node, if it has one) */
};

/* What a pass sees: one app, the instances of it on this node. */
struct policy_in {
	const struct deis_app *app;	/* NULL: the app is gone */
	const struct policy_inst *insts;
	size_t ninsts;
	const char *const *removed;	/* ids that ended here, their rows */
	size_t nremoved;		/* not deleted yet */
	const char *node;		/* this node's name */
	double now;			/* monotonic seconds */
	int boot_timeout;		/* s for a web instance to answer */
	/* The nodes being drained: an admin asked for drain and the runtime
	 * places nothing new there (paused).  Every process instance on one
	 * is replaced as a restart is (policy_draining()). */
	const char *const *draining;
	size_t ndraining;
};

enum policy_verb {
	P_RUN,		/* start the one-off of row */
	P_PHASE,	/* run the release phase of release */
	P_START,	/* start type.number on release */
	P_STOP,		/* stop inst (gone: its app went, it has no row) */
	P_FAIL,		/* record release failed, for why */
	P_BOOT_KILL,	/* inst missed its boot time with nothing else to
			 * serve: kill it (it restarts) and give it another */
};

/*
 * One thing to do.  inst numbers the instance it is about: 0 .. ninsts-1
 * are the input's, and each P_RUN, P_PHASE and P_START adds the next
 * number (a later action of the same plan may stop what one started).
 */
struct policy_action {
	enum policy_verb verb;
	size_t inst;
	const struct deis_container *row;	/* P_RUN */
	const char *type;			/* P_START */
	int number;				/* P_START */
	int release;		/* P_PHASE, P_START, P_FAIL */
	bool gone;		/* P_STOP */
	char why[300];		/* P_FAIL */
};

struct policy_plan {
	struct policy_action *v;
	size_t n, cap;
};

#define POLICY_PLAN_INIT { NULL, 0, 0 }

/*
 * A pass over one app (docs/scheduler.md, "A pass"): the actions, in the
 * order to take them.  After a P_FAIL the plan ends: the next pass works
 * from the new verdict.
 */
void policy_plan(const struct policy_in *in, struct policy_plan *out);
void policy_plan_clear(struct policy_plan *p);

/* Whether instance id was asked to restart: its row's `desired`, else
 * what was seen last (was). */
bool policy_restart_requested(const struct deis_app *m, const char *id, bool was);

/*
 * Whether inst is a process instance on a draining node of in (its own
 * node, else its row's): a drain is a restart of each one there, so that
 * no name ever has fewer instances serving than the formation asks.  Its
 * replacement starts first (the runtime places it elsewhere: the node is
 * paused), the old one serves until the new one is up, then stops as any
 * other (`stopping`, the routers' wait, SIGTERM).
 */
bool policy_draining(const struct policy_in *in, const struct policy_inst *inst);

/*
 * A node's availability, one heartbeat at a time (loop.c): what its
 * runtime should be set to now (NULL: nothing), given what an admin asked
 * (desired), what the runtime says (is) and how many of the platform's
 * containers it counts there.  active and pause are set as they are; a
 * drain pauses first, and sets drain only once nothing of ours is left
 * (the passes replace it meanwhile: policy_node_draining()).
 */
const char *policy_node_next(const char *desired, const char *is, int containers);
/* Whether a node's process instances are to be replaced elsewhere: a
 * drain was asked and the runtime places nothing new there. */
bool policy_node_draining(const char *desired, const char *is);

/* The build of release r (NULL when it has none). */
const struct deis_build *policy_build_of(const struct deis_app *m,
					 const struct deis_release *r);

/*
 * The release containers should run: the newest release with an image
 * that did not fail, unless its release phase has not passed yet
 * (*pending: run it), in which case the newest older one whose phase
 * passed keeps running.  NULL when there is none.
 */
const struct deis_release *policy_target(const struct deis_app *m,
					 const struct deis_release **pending);

/* ---- autoscale: a type's CPU over a window ---- */

/* One container's CPU over a window: its cumulative CPU time (ns) at the
 * window's start and at its end, and the seconds between. */
struct policy_cpu_sample {
	uint64_t ns0, ns1;
	double seconds;
};

/*
 * The average CPU of a process type's containers over a window, in
 * percent of millicores each (their `limits` cpu; 0: of one core), as
 * deis_autoscale_count() takes it: each container's CPU time over the
 * time it had, averaged.  A sample whose counter went back (a container
 * started again in place has a new cgroup) or that spans no time is left
 * out; -1 when none is left (unknown).  A container may use more than
 * its share (no limit, or a burst): over 100 is kept, as it is load.
 */
double policy_cpu_percent(const struct policy_cpu_sample *s, size_t n,
			  unsigned millicores);

/* ---- the verdict: deployed ---- */

/* The target of m when it is not recorded deployed (nor was by us:
 * marked, the version we recorded last). */
const struct deis_release *policy_undeployed(const struct deis_app *m, int marked);

/*
 * The instance among insts (one app's, in the order given) whose row,
 * written up, makes the undeployed target serve: its write carries the
 * verdict.  -1 when none does.
 */
int policy_deploy_with(const struct deis_app *m, int marked,
		       const struct policy_inst *insts, size_t n);

/*
 * The undeployed target's version when the rows as loaded show it
 * serving (*who: the instance's name, "" when the formation runs none of
 * it), else 0.
 */
int policy_deploy_alone(const struct deis_app *m, int marked, char *who, size_t len);

/* ---- stopping and crashes ---- */

/*
 * What the routers say of an app: every router's record of the serial
 * whose routes its nginx serves (record.c: PostgreSQL's router_applied;
 * Redis's deis:proxy:applied only when PostgreSQL does not answer).
 */
struct policy_router {
	bool known;		/* a record answered */
	bool alive;		/* a router's heartbeat is current */
	long applied;		/* the least serial of the app the live
				 * routers applied */
	const char *lagging;	/* the router that applied it ("": unnamed) */
	const char *trouble;	/* !known: why neither record answered */
};

/*
 * Whether a stopping instance may get its SIGTERM: its row, marked
 * stopping, was written with serial (0: it was never routed), and every
 * live router applied that serial or a later one (from then on nginx
 * sends it nothing), or no router is alive.  A router state not known
 * (router NULL, or !known) is never a yes, nor is any length of wait: a
 * router may still send to it, so it keeps running until one answers.
 */
bool policy_term_due(long serial, const struct policy_router *router);

/* Why a stopping instance keeps running (policy_term_due() said no), in
 * words for the logs. */
void policy_term_why(long serial, const struct policy_router *router, char *buf,
		     size_t len);

/* The delay before try step + 1 of a doubling backoff: first, then twice
 * as long at each step, at most max. */
double policy_backoff(double first, int step, double max);

/*
 * A crash: counts it in *crashes (the count starts again after a minute
 * up: run_since is when it started) and returns the seconds to wait
 * before the restart (Heroku's: at once, then 2, 4, 8 ... up to max).
 */
double policy_crash(int *crashes, double run_since, double now, int max);

#endif
