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
 *      second instead);
 *   2. the instances' timers run (health checks, restarts after their
 *      cool-off, the stop sequence);
 *   3. each app whose state changed gets a pass (pass.c), then its rows
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
#include "deis/validate.h"
#include "scheduler.h"

struct sched sched;
static struct deis_daemon_db db = DEIS_DAEMON_DB_INIT;
static struct deis_cache_keeper redis = DEIS_CACHE_KEEPER_INIT;

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

/* Events and the resync (queued by the event thread: every
 * resync_interval s, after a SIGHUP, when the subscription is made
 * again): which apps to load again.  Also where a Redis that was away
 * is found again. */
static void take_events(void)
{
	struct deis_strlist names = DEIS_STRLIST_INIT;

	sched.cache = deis_daemon_cache(&redis, "Redis");
	if (deis_daemon_events_take(&names))
		resync();
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
