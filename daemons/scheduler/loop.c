/*
 * loop.c - deis-scheduler's main loop.
 *
 * Subsystems start in a fixed order: the database (waited for with the
 * backoff of every daemon, each try logged: lib/daemon.c), Redis (its
 * keeper: optional, events are sent once it is back), the log server, the
 * backend (the node's network before any container: without it no
 * container may start), adoption, the event thread (lib/daemon.c's, which
 * queues app names and resyncs for this loop).  Then each turn of the
 * loop, while deis_daemon_running() (a SIGHUP is a reload and a resync):
 *
 *   1. events and the resync say which apps to load again (while Redis
 *      does not answer, no event comes: the serials are compared every
 *      second instead); each resync ends with the nodes' heartbeat, which
 *      also applies the availability admins asked for (drains);
 *   2. the instances' timers run (health checks, restarts after their
 *      cool-off, the stop sequence);
 *   3. each app whose state changed gets a pass (pass.c; its instances
 *      on a draining node marked restart-requested first), then its rows
 *      and verdicts are written (record.c);
 *   4. it waits for an event, a container's end, a health check's answer
 *      or the next timer, whichever comes first.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/db.h"
#include "deis/log.h"
#include "deis/logemit.h"
#include "deis/quota.h"
#include "deis/validate.h"
#include "scheduler.h"

struct sched sched;
static struct deis_daemon_db db = DEIS_DAEMON_DB_INIT;
static struct deis_cache_keeper redis = DEIS_CACHE_KEEPER_INIT;
static char **draining;		/* the nodes being drained (nodes_heartbeat) */
static size_t ndraining;

/* The fds the loop waits on: the skeleton's (signals, events), then each
 * running instance's. */
struct waits {
	struct curl_waitfd *fds;
	size_t n, cap;
};

static int open_all(void)
{
	static const struct deis_daemon_events queued = { NULL, NULL, NULL };
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_backend_conf bc = scheduler_backend_conf(false, true);
	const struct deis_backend_ops *ops = deis_backend_find(scheduler_conf.runtime);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	sched.multi = curl_multi_init();
	deis_cache_set_origin("scheduler");
	sched.db = deis_daemon_db_wait(&db);
	if (!sched.db)
		return 1;	/* asked to stop meanwhile */
	/* The schema as deisfs makes it: on a cluster's control no deisfs
	 * may have run yet (migrations are locked and idempotent). */
	if (deis_db_migrate(sched.db, &err) < 0) {
		deis_log(LOG_ERR, "database: %s", err.msg);
		return -1;
	}
	sched.cache = deis_daemon_cache(&redis, "Redis");
	deis_logemit_open(deis_conf.syslog_socket, &sched.logs, &err);
	if (ops->open(&bc, &sched.backend, &err) < 0) {
		deis_log(LOG_ERR, "the containers' network: %s", err.msg);
		return -1;
	}
	adopt();
	if (deis_daemon_events_start(&queued, &err) < 0) {
		deis_log(LOG_ERR, "%s", err.msg);
		return -1;
	}
	deis_log(LOG_NOTICE, "scheduling on node %s (%s backend, bridge %s %s%s, $PORT %d)",
		 scheduler_conf.node, ops->name, deis_conf.network_bridge,
		 deis_conf.network_subnet, deis_conf.network_nat ? " with NAT" : "",
		 scheduler_conf.port);
	return 0;
}

static void close_all(void)
{
	deis_daemon_events_stop();
	insts_free_all();
	for (size_t k = 0; k < ndraining; k++)
		free(draining[k]);
	free(draining);
	draining = NULL;
	ndraining = 0;
	if (sched.backend)
		sched.backend->ops->close(sched.backend);
	if (sched.multi)
		curl_multi_cleanup(sched.multi);
	curl_global_cleanup();
	deis_logemit_close(sched.logs);
	deis_cache_keeper_close(&redis);
	sched.cache = NULL;
	deis_daemon_db_close(&db);
	sched.db = NULL;
}

void cache_failed(void)
{
	deis_cache_keeper_failed(&redis);
	sched.cache = NULL;
}

/*
 * Once a second, whether Redis answers.  While it does not, no event
 * tells of a change: the event thread is asked for a resync every second
 * rather than every resync_interval, so that a change made during the
 * outage is acted on within about a second (one query of the apps'
 * serials each time, and the node's heartbeat).
 */
static void cache_watch(double t)
{
	static double next;
	struct deis_error err = DEIS_ERROR_INIT;

	if (t < next)
		return;
	next = t + 1;
	if (sched.cache && deis_cache_ping(sched.cache, &err) < 0) {
		deis_log(LOG_WARNING, "Redis: %s; comparing serials every second until it "
			 "answers", err.msg);
		cache_failed();
	}
	if (!sched.cache)
		deis_daemon_events_resync();
}

/* ---- the nodes: their heartbeat, their availability, drains ----
 *
 * At every resync the scheduler reports the nodes it knows in one
 * transaction (platform/nodes/<node>/): every node of the cluster when
 * the backend has nodes() (swarm), else its own.  The same transaction
 * reads back the availability admins asked for, which the heartbeat
 * then applies, for a node whose runtime can move containers:
 *
 *   active, pause   the runtime's availability is set to it;
 *   drain           the node is paused first (nothing new is placed
 *                   there), and while it is paused its process instances
 *                   are restart-requested (policy_draining()): each is
 *                   replaced elsewhere, new first, as a restart is; once
 *                   the runtime counts no container of ours there, it is
 *                   set to drain.
 *
 * A runc node cannot move its containers: deisfs takes only active for
 * it (EOPNOTSUPP), and the database checks again (its row's movable).
 */

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		abort();
	return d;
}

/* The memory the limits of instance i reserve (as launch.c starts it). */
static long long inst_memory(const struct inst *i)
{
	const struct sapp *a = app_find(i->app, false);
	const struct deis_release *rel = a && a->m ? deis_app_release(a->m, i->release) : NULL;

	return deis_quota_container_memory(rel ? &rel->limits : NULL,
					   i->kind == K_PROCESS ? i->type : "web",
					   deis_quota_default_memory());
}

/* This node, as a runc scheduler reports it. */
static void own_node(struct deis_node *nd)
{
	memset(nd, 0, sizeof(*nd));
	snprintf(nd->name, sizeof(nd->name), "%s", scheduler_conf.node);
	snprintf(nd->address, sizeof(nd->address), "%s", scheduler_conf.address);
	snprintf(nd->role, sizeof(nd->role), "node");
	snprintf(nd->state, sizeof(nd->state), "ready");
	snprintf(nd->availability, sizeof(nd->availability), "active");
	nd->memory = deis_quota_host_memory();
	for (struct inst *i = insts; i; i = i->next)
		if (i->proc.fd >= 0) {
			nd->containers++;
			nd->memory_used += inst_memory(i);
		}
}

struct node_list {
	struct deis_node *v;
	size_t n;
	bool movable;
};

static void one_node(void *ctx, const struct deis_backend_node *bn)
{
	struct node_list *l = ctx;
	struct deis_node *nd = ARRAY_ADD(l->v, l->n);

	snprintf(nd->name, sizeof(nd->name), "%s", bn->name);
	snprintf(nd->address, sizeof(nd->address), "%s", bn->address ? bn->address : "");
	snprintf(nd->role, sizeof(nd->role), "%s", bn->role ? bn->role : "node");
	snprintf(nd->state, sizeof(nd->state), "%s",
		 bn->state && !strcmp(bn->state, "ready") ? "ready" : "down");
	snprintf(nd->availability, sizeof(nd->availability), "%s",
		 bn->availability ? bn->availability : "active");
	nd->movable = l->movable;
	nd->containers = bn->containers;
	nd->memory = bn->memory_total;
	nd->memory_used = bn->memory_reserved;
}

/* Sets node nd's availability in the runtime to want; true when it took. */
static bool set_availability(struct deis_node *nd, const char *want)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_backend *be = sched.backend;

	if (be->ops->node_availability(be, nd->name, want, &err) < 0) {
		deis_log(LOG_WARNING, "node %s: cannot set its availability to %s (next "
			 "heartbeat tries again): %s", nd->name, want, err.msg);
		return false;
	}
	snprintf(nd->availability, sizeof(nd->availability), "%s", want);
	return true;
}

/* What admins asked of a node we report (rep: as reported; row: as read
 * back), one step (policy_node_next()); true when it is being drained. */
static bool apply_availability(const struct deis_node *rep, struct deis_node *row)
{
	snprintf(row->availability, sizeof(row->availability), "%s", rep->availability);
	if (!rep->movable || !sched.backend->ops->node_availability)
		return false;
	const char *next = policy_node_next(row->desired, row->availability, rep->containers);
	bool drain = !strcmp(row->desired, "drain");

	if (next && set_availability(row, next)) {
		if (!drain)
			deis_log(LOG_NOTICE, "node %s: availability %s", row->name, next);
		else if (!strcmp(next, "pause"))
			deis_log(LOG_NOTICE, "node %s: draining: paused (nothing new is placed "
				 "there); its %d container%s are replaced elsewhere, each new one "
				 "first", row->name, rep->containers, rep->containers == 1 ? "" : "s");
		else
			deis_log(LOG_NOTICE, "node %s: drained: no container of the platform is "
				 "left there", row->name);
	}
	return policy_node_draining(row->desired, row->availability);
}

/* The heartbeat: the nodes reported, what admins asked applied, and the
 * passes told of a change in the nodes being drained. */
static void nodes_heartbeat(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	const struct deis_backend_ops *ops = sched.backend->ops;
	struct node_list l = { NULL, 0, ops->cluster && ops->node_availability };
	struct deis_node *rows = NULL;
	size_t nrows = 0;

	if (!ops->nodes) {
		own_node(ARRAY_ADD(l.v, l.n));
	} else if (ops->nodes(sched.backend, one_node, &l, &err) < 0) {
		deis_log(LOG_WARNING, "the cluster's nodes: %s", err.msg);
		free(l.v);
		return;
	}
	if (deis_db_nodes_report(sched.db, l.v, l.n, &rows, &nrows, &err) < 0) {
		deis_log(LOG_WARNING, "node heartbeat: %s", err.msg);
		free(l.v);
		return;
	}
	char **now = NULL;
	size_t nnow = 0;
	for (size_t k = 0; k < nrows; k++)
		for (size_t j = 0; j < l.n; j++)
			if (!strcmp(rows[k].name, l.v[j].name) &&
			    apply_availability(&l.v[j], &rows[k]))
				*ARRAY_ADD(now, nnow) = xstrdup(rows[k].name);
	bool same = nnow == ndraining;
	for (size_t k = 0; same && k < nnow; k++)
		same = !strcmp(now[k], draining[k]);
	for (size_t k = 0; k < ndraining; k++)
		free(draining[k]);
	free(draining);
	draining = now;
	ndraining = nnow;
	/* Every app's instances on a node that starts or stops draining
	 * are looked at again, from rows loaded afresh: a drain called off
	 * leaves no restart request behind (mark_draining()). */
	for (size_t k = 0; !same && k < napps; k++)
		apps[k].reload = apps[k].pass = true;
	free(rows);
	free(l.v);
}

/* Before a pass over a: the rows of its processes on a node being
 * drained are restart-requested in the model as loaded (not in the
 * database: a drain is the platform's request, not a user's), so that
 * the pass (pass.c, policy.c) replaces each one as a restart, new first. */
static void mark_draining(struct sapp *a)
{
	struct policy_in in = {
		.app = a->m, .draining = (const char *const *)draining, .ndraining = ndraining,
	};

	for (size_t k = 0; a->m && ndraining && k < a->m->ncontainers; k++) {
		struct deis_container *c = &a->m->containers[k];
		struct policy_inst v = {
			.id = c->instance, .node = c->node,
			.kind = !strcmp(c->type, "run") ? K_ONEOFF :
				!strcmp(c->type, "release") ? K_RELEASE : K_PROCESS,
		};
		if (policy_draining(&in, &v) && strcmp(c->desired, "restart")) {
			free(c->desired);
			c->desired = xstrdup("restart");
		}
	}
}

/* Events and the resync (queued by the event thread: every
 * resync_interval s, after a SIGHUP, when the subscription is made
 * again): which apps to load again.  Also where a Redis that was away
 * is found again. */
static void take_events(void)
{
	struct deis_strlist names = DEIS_STRLIST_INIT;

	sched.cache = deis_daemon_cache(&redis, "Redis");
	if (deis_daemon_events_take(&names)) {
		resync();
		nodes_heartbeat();
	}
	for (size_t k = 0; k < names.n; k++)
		if (deis_valid_app_name(names.items[k]))
			app_find(names.items[k], true)->reload = true;
	deis_strlist_clear(&names);
	for (size_t k = 0; k < napps; k++)
		if (apps[k].reload)
			load_app(&apps[k]);
}

/* When the loop must turn next at the latest (a second at the most). */
static double next_timer(double t)
{
	double next = t + 1;

	for (struct inst *i = insts; i; i = i->next) {
		if (i->state == S_STARTING && i->proc.fd >= 0 && !i->probe)
			next = fmin(next, i->next_probe);
		if (i->state == S_STARTING && i->proc.fd >= 0)
			next = fmin(next, i->boot_deadline);
		if (i->state == S_CRASHED)
			next = fmin(next, i->backoff_until);
		if (i->state == S_STOPPING && !i->termed)
			next = fmin(next, i->term_serial < 0 ? t + 0.05 : i->term_at);
		if (i->state == S_STOPPING && i->termed)
			next = fmin(next, i->kill_at);
	}
	for (size_t k = 0; k < napps; k++)
		if (apps[k].reload || apps[k].pass)
			next = t;
	return next;
}

static void wait_add(struct waits *w, int fd)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->fds = xrealloc(w->fds, w->cap * sizeof(*w->fds));
	}
	w->fds[w->n++] = (struct curl_waitfd){ .fd = fd, .events = CURL_WAIT_POLLIN };
}

/* Waits for an event, a container's end, a health check, or the next
 * timer; then takes what came. */
static void wait_and_collect(struct waits *w, double next)
{
	int running;

	w->n = 0;
	wait_add(w, deis_daemon_fd());	/* read by deis_daemon_running() */
	for (struct inst *i = insts; i; i = i->next)
		if (i->proc.fd >= 0)
			wait_add(w, i->proc.fd);
	double wait = next - mono();
	int ms = wait <= 0 ? 0 : wait > 1 ? 1000 : (int)(wait * 1000) + 1;
	curl_multi_wait(sched.multi, w->fds, (unsigned)w->n, ms, NULL);
	curl_multi_perform(sched.multi, &running);
	probes_done();
	/* Ended containers: collected after the wait (the list changes as
	 * they go). */
	for (size_t k = 1; k < w->n; k++) {
		if (!w->fds[k].revents)
			continue;
		for (struct inst *i = insts; i; i = i->next)
			if (i->proc.fd == w->fds[k].fd) {
				inst_exited(i);
				break;
			}
	}
}

int scheduler_serve(void)
{
	struct waits w = { NULL, 0, 0 };
	int r = open_all();

	/* The event thread asks for a resync at once: the node's heartbeat
	 * (platform/status) and the serials. */
	while (r == 0 && deis_daemon_running()) {
		double t = mono();

		take_events();
		cache_watch(t);
		for_each_inst(i, nx)
			inst_timers(i, app_find(i->app, false), t);
		for (size_t k = 0; k < napps; k++)
			if (apps[k].pass) {
				apps[k].pass = false;
				mark_draining(&apps[k]);
				reconcile(&apps[k]);
			}
		autoscale(t);
		for (size_t k = 0; k < napps; k++)
			write_rows(&apps[k], t);
		for (size_t k = 0; k < napps; k++)
			mark_deployed(&apps[k], t);
		apps_forget_gone();
		wait_and_collect(&w, next_timer(t));
	}
	if (r == 0)
		deis_log(LOG_NOTICE, "stopping; the containers keep running and are adopted "
			 "at the next start");
	free(w.fds);
	close_all();
	return r < 0 ? 1 : 0;
}
