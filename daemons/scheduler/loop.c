/*
 * loop.c - deis-scheduler's main loop.
 *
 * Subsystems start in a fixed order: the database (retried until it
 * answers), Redis (optional: events are sent once it is back), the log
 * server, the backend (the node's network before any container: without
 * it no container may start), adoption, the event thread.  Then each turn
 * of the loop:
 *
 *   1. events and the resync say which apps to load again;
 *   2. the instances' timers run (health checks, restarts after their
 *      cool-off, the stop sequence);
 *   3. each app whose state changed gets a pass (pass.c), then its rows
 *      and verdicts are written (record.c);
 *   4. it waits for an event, a container's end, a health check's answer
 *      or the next timer, whichever comes first.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/db.h"
#include "deis/log.h"
#include "deis/logemit.h"
#include "deis/validate.h"
#include "scheduler.h"

struct sched sched;

/* The fds the loop waits on: the wake-up eventfd, then each running
 * instance's. */
struct waits {
	struct curl_waitfd *fds;
	size_t n, cap;
};

static int open_all(volatile sig_atomic_t *stop, int *wake)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_backend_conf bc = scheduler_backend_conf(false, true);
	const struct deis_backend_ops *ops = deis_backend_find(scheduler_conf.runtime);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	sched.multi = curl_multi_init();
	deis_cache_set_origin("scheduler");
	if (!ops) {
		deis_log(LOG_ERR, "scheduler_runtime: no backend '%s' (runc)",
			 scheduler_conf.runtime);
		return -1;
	}
	while (deis_db_open(deis_conf.database, &sched.db, &err) < 0 && !*stop) {
		deis_log(LOG_WARNING, "%s (retrying)", err.msg);
		sleep(1);
	}
	if (*stop)
		return 1;
	if (deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
			    deis_conf.redis_password, &sched.cache, &err) < 0)
		deis_log(LOG_WARNING, "Redis: %s (events are sent when it is back)", err.msg);
	deis_logemit_open(deis_conf.syslog_socket, &sched.logs, &err);
	if (ops->open(&bc, &sched.backend, &err) < 0) {
		deis_log(LOG_ERR, "the containers' network: %s", err.msg);
		return -1;
	}
	adopt();
	*wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*wake < 0 || events_start(*wake, &err) < 0) {
		deis_log(LOG_ERR, "events: %s", *wake < 0 ? strerror(errno) : err.msg);
		return -1;
	}
	deis_log(LOG_NOTICE, "scheduling on node %s (%s backend, bridge %s %s%s, $PORT %d)",
		 scheduler_conf.node, ops->name, deis_conf.network_bridge,
		 deis_conf.network_subnet, deis_conf.network_nat ? " with NAT" : "",
		 scheduler_conf.port);
	return 0;
}

static void close_all(int wake)
{
	events_stop();
	insts_free_all();
	if (sched.backend)
		sched.backend->ops->close(sched.backend);
	if (sched.multi)
		curl_multi_cleanup(sched.multi);
	curl_global_cleanup();
	deis_logemit_close(sched.logs);
	deis_cache_close(sched.cache);
	deis_db_close(sched.db);
	if (wake >= 0)
		close(wake);
}

/* Events and the resync: which apps to load again. */
static void take_events(double t, double *next_resync)
{
	struct deis_strlist names;

	events_take(&names);
	for (size_t k = 0; k < names.n; k++) {
		if (!strcmp(names.items[k], "*")) {
			*next_resync = t;
			continue;
		}
		if (deis_valid_app_name(names.items[k]))
			app_find(names.items[k], true)->reload = true;
	}
	deis_strlist_clear(&names);
	if (t >= *next_resync) {
		resync();
		*next_resync = t + scheduler_conf.resync;
	}
	for (size_t k = 0; k < napps; k++)
		if (apps[k].reload)
			load_app(&apps[k]);
}

/* When the loop must turn next at the latest. */
static double next_timer(double t, double next_resync)
{
	double next = next_resync;

	for (struct inst *i = insts; i; i = i->next) {
		if (i->state == S_STARTING && i->proc.fd >= 0 && !i->probe)
			next = fmin(next, i->next_probe);
		if (i->state == S_STARTING && i->proc.fd >= 0)
			next = fmin(next, i->boot_deadline);
		if (i->state == S_CRASHED)
			next = fmin(next, i->backoff_until);
		if (i->state == S_STOPPING && !i->termed)
			next = fmin(next, i->term_serial < 0 ? t + 0.05 :
				    fmin(i->term_at, t + 0.02));
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
static void wait_and_collect(struct waits *w, int wake, double next)
{
	int running;

	w->n = 0;
	wait_add(w, wake);
	for (struct inst *i = insts; i; i = i->next)
		if (i->proc.fd >= 0)
			wait_add(w, i->proc.fd);
	double wait = next - mono();
	int ms = wait <= 0 ? 0 : wait > 1 ? 1000 : (int)(wait * 1000) + 1;
	curl_multi_wait(sched.multi, w->fds, (unsigned)w->n, ms, NULL);
	curl_multi_perform(sched.multi, &running);
	probes_done();
	if (w->fds[0].revents) {
		uint64_t v;
		if (read(wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
			deis_log(LOG_WARNING, "wake: %s", strerror(errno));
	}
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

int scheduler_serve(volatile sig_atomic_t *stop)
{
	struct waits w = { NULL, 0, 0 };
	int wake = -1;
	int r = open_all(stop, &wake);

	/* At once: the node's heartbeat (platform/status) and the serials. */
	double next_resync = mono();
	while (r == 0 && !*stop) {
		double t = mono();

		take_events(t, &next_resync);
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
		wait_and_collect(&w, wake, next_timer(t, next_resync));
	}
	if (r == 0)
		deis_log(LOG_NOTICE, "stopping; the containers keep running and are adopted "
			 "at the next start");
	free(w.fds);
	close_all(wake);
	return r < 0 ? 1 : 0;
}
