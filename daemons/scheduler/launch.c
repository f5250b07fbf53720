/*
 * launch.c - deis-scheduler: an instance's life.  Starting it (or again,
 * in place, after a crash) through the backend, its timers (health
 * checks, the crash cool-off, the stop sequence), stopping it, and what
 * happens when it ends.
 *
 * Stopping an instance that was routed waits for the routers: it is
 * marked stopping (which takes it out of nginx's upstreams), and gets
 * SIGTERM only once every live router (one per node) recorded a serial at
 * least that of the write (or no router is alive): PostgreSQL's record,
 * or Redis's when PostgreSQL does not answer (record.c, router_state).
 * A router that lags is waited for; one lost with its node counts no
 * more once its heartbeat expires (docs/proxy.md).  While neither
 * answers it keeps running, however long; the wait is logged once.
 * SIGKILL follows after scheduler_grace.  This ordering is what makes a
 * deploy, a scale-down and a restart lose no request, with Redis or
 * without (tests/fs/t4010, t4030).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/db.h"
#include "deis/log.h"
#include "deis/quota.h"
#include "deis/validate.h"
#include "scheduler.h"

/* The limit type.what of rel, or def. */
static long long limit(const struct deis_release *rel, const char *type, const char *what,
		       long long (*parse)(const char *), long long def)
{
	char key[96];

	snprintf(key, sizeof(key), "%s.%s", type, what);
	const char *v = deis_kvlist_get(&rel->limits, key);
	return v ? parse(v) : def;
}

static long long cpu_millis(const char *v)
{
	return deis_limits_cpu_millis(v);
}

static long long pids_of(const char *v)
{
	return strtol(v, NULL, 10);
}

int launch_spec(const struct deis_app *m, const struct deis_release *rel,
		const char *type, const char *cmd, const char *id, const char *name,
		int port, const struct deis_kvlist *extra, struct deis_kvlist *env,
		struct deis_backend_spec *spec, struct deis_error *err)
{
	const struct deis_build *b = policy_build_of(m, rel);
	char num[32];

	if (!b || !b->image[0])
		return deis_error_set(err, ENOENT, "its release has no image");
	for (size_t k = 0; k < rel->config.n; k++)
		deis_kvlist_set(env, rel->config.items[k].key, rel->config.items[k].value);
	snprintf(num, sizeof(num), "%d", port);
	deis_kvlist_set(env, "PORT", num);
	deis_kvlist_set(env, "DYNO", name);
	deis_kvlist_set(env, "DEIS_APP", m->name);
	snprintf(num, sizeof(num), "v%d", rel->version);
	deis_kvlist_set(env, "DEIS_RELEASE", num);
	for (size_t k = 0; extra && k < extra->n; k++)
		deis_kvlist_set(env, extra->items[k].key, extra->items[k].value);

	long long mem = limit(rel, type, "memory", deis_limits_memory_bytes,
			      deis_quota_default_memory());
	long long cpu = limit(rel, type, "cpu", cpu_millis, 0);
	long long pids = limit(rel, type, "pids", pids_of, scheduler_conf.pids);
	*spec = (struct deis_backend_spec){
		.id = id, .app = m->name, .name = name, .image = b->image,
		.command = cmd, .env = env,
		.memory_bytes = mem > 0 ? (uint64_t)mem : 0,
		.cpu_millicores = cpu > 0 ? (unsigned)cpu : 0,
		.pids_max = pids > 0 ? pids : 0,
		.release = deis_kvlist_get(env, "DEIS_RELEASE"), .port = port,
	};
	return 0;
}

/*
 * Seconds between two starts while the registry does not answer: from
 * the first, doubling, at most the last, so that a registry restarted by
 * its supervisor is seen within seconds of its return.
 */
#define PULL_WAIT_FIRST 0.5
#define PULL_WAIT_MAX 8.0

/*
 * Its slug could not be had: the registry does not answer.  The
 * platform's outage, not the release's fault: it is no crash (no
 * restart counted, no crash cool-off), and its boot window has not
 * begun, since nothing ran; it moves on with every try, so that the
 * rollout waits (the old release keeps serving) rather than fail.
 */
static void pull_wait(struct inst *i, const char *why)
{
	double delay = policy_backoff(PULL_WAIT_FIRST, i->pull_tries, PULL_WAIT_MAX);

	i->pull_tries++;
	i->backoff_until = mono() + delay;
	i->boot_deadline = i->backoff_until + scheduler_conf.boot_timeout;
	set_state(i, S_CRASHED);	/* the timer that starts it again */
	applog(i->app, "%s: cannot start v%d yet (try %d): %s; trying again in %.1f s",
	       i->name, i->release, i->pull_tries, why, delay);
}

/* Starts (or restarts in place) an instance on its release. */
int inst_launch(struct inst *i, struct sapp *a)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_backend *be = sched.backend;
	const struct deis_app *m = a->m;
	const struct deis_release *rel = m ? deis_app_release(m, i->release) : NULL;
	const struct deis_build *b = m ? policy_build_of(m, rel) : NULL;
	struct deis_kvlist env = DEIS_KVLIST_INIT;
	struct deis_backend_spec spec;
	const char *cmd = NULL;
	int r;

	if (!b || !b->image[0]) {
		crash(i, "its release has no image");
		return -ENOENT;
	}
	if (i->kind == K_ONEOFF)
		cmd = i->command;
	else
		cmd = deis_kvlist_get(&b->procfile, i->kind == K_RELEASE ? "release" : i->type);
	if (!cmd) {
		crash(i, "the Procfile has no such process type");
		return -ENOENT;
	}
	/* Its address is kept across restarts in place, made at the first
	 * start.  One-offs and release phases join the app's group too:
	 * they may talk to its other containers. */
	r = launch_spec(m, rel, i->kind == K_PROCESS ? i->type : "web", cmd, i->id, i->name,
			scheduler_conf.port, NULL, &env, &spec, &err);
	spec.seq = (unsigned)i->seq;	/* a cluster backend's name for it */
	if (r == 0)
		r = be->ops->start(be, &spec, i->address, &i->proc, &err);
	deis_kvlist_clear(&env);
	if (i->address[0])
		i->port = scheduler_conf.port;
	if (r == -EAGAIN && i->kind == K_PROCESS) {
		pull_wait(i, err.msg);
		return r;
	}
	if (r < 0) {
		crash(i, err.msg);
		return r;
	}
	i->started_us = deis_wall_us();
	i->run_since = mono();
	/* The boot window opens at the first start (the first that ran),
	 * and again once it had been up: a crash loop before ever
	 * answering does not reopen it. */
	if (!i->boot_deadline || i->was_up || i->pull_tries) {
		i->boot_deadline = i->run_since + scheduler_conf.boot_timeout;
		i->was_up = false;
	}
	i->pull_tries = 0;
	i->next_probe = i->run_since + 0.005;
	i->routed = false;
	set_state(i, S_STARTING);
	i->dirty = true;
	applog(i->app, "%s: starting `%s` on v%d at %s:%d", i->name, cmd, i->release,
	       i->address, i->port);
	return 0;
}

/* ---- stopping ---- */

void inst_stop(struct inst *i)
{
	if (i->state == S_STOPPING)
		return;
	bool running = i->proc.fd >= 0;
	i->routed = i->state == S_UP && is_web(i);
	set_state(i, S_STOPPING);
	if (!running) {
		/* Crashed and waiting to restart: nothing runs. */
		applog(i->app, "%s: stopped (v%d)", i->name, i->release);
		inst_remove(i);
		return;
	}
	i->termed = false;
	i->term_told = false;
	i->term_at = i->term_since = mono();
	/* SIGTERM once the routers send no more to it: the serial of the
	 * write that marks it stopping, once written. */
	i->term_serial = i->routed && !i->nodb ? -1 : 0;
}

static void send_term(struct inst *i)
{
	struct deis_error err = DEIS_ERROR_INIT;

	i->termed = true;
	i->kill_at = mono() + scheduler_conf.grace;
	applog(i->app, "%s: stopping v%d at %s:%d (SIGTERM; SIGKILL in %d s)", i->name,
	       i->release, i->address, i->port, scheduler_conf.grace);
	int r = sched.backend->ops->stop(sched.backend, i->id, false, &err);
	if (r < 0 && r != -ESRCH && r != -ENOENT)
		deis_log(LOG_WARNING, "%s: %s", i->id, err.msg);
}

/* Seconds between two questions to the routers' record while a stopping
 * instance waits: often while it answers (a reload is confirmed within
 * a turn of the loop), seldom while it does not. */
#define TERM_ASK 0.02
#define TERM_ASK_UNKNOWN 0.5

/* Whether a stopping instance may get its SIGTERM: the routers' word
 * (policy_term_due).  Why it may not is logged once while no record
 * answers, and once more if a live router lags past
 * scheduler_proxy_wait; it keeps running either way. */
static bool term_due(struct inst *i, double t)
{
	struct policy_router r = { 0 };
	char trouble[700], why[900];

	if (i->term_serial > 0)
		router_state(i->app, &r, trouble, sizeof(trouble));
	bool go = policy_term_due(i->term_serial, &r);
	i->term_at = t + (r.known || !i->term_serial ? TERM_ASK : TERM_ASK_UNKNOWN);
	if (go) {
		if (i->term_told)
			applog(i->app, "%s: the routers no longer send to it (after %.1f s)",
			       i->name, t - i->term_since);
		i->term_told = false;
		return true;
	}
	if (!i->term_told && (!r.known || t - i->term_since >= scheduler_conf.proxy_wait)) {
		policy_term_why(i->term_serial, &r, why, sizeof(why));
		applog(i->app, "%s: kept running (v%d at %s:%d): %s; SIGTERM once the routers "
		       "confirm they no longer send to it", i->name, i->release, i->address,
		       i->port, why);
		i->term_told = true;
	}
	return false;
}

/* A stopping instance: SIGTERM once the routers let it go, SIGKILL after
 * the grace. */
static void stop_timers(struct inst *i, double t)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_backend *be = sched.backend;

	if (!i->termed && i->term_serial >= 0 && t >= i->term_at && term_due(i, t)) {
		/* Not before the container's init runs its own program: a
		 * signal to a container still being created, or to runc's
		 * init before its exec, is lost.  (Its end also ends this.) */
		struct deis_backend_state st = { 0 };
		be->ops->inspect(be, i->id, &st);
		if (st.signalable)
			send_term(i);
	}
	if (i->termed && t >= i->kill_at) {
		applog(i->app, "%s: did not stop within %d s: SIGKILL", i->name,
		       scheduler_conf.grace);
		be->ops->stop(be, i->id, true, &err);
		i->kill_at = t + 5;
	}
}

void inst_timers(struct inst *i, struct sapp *a, double t)
{
	if (i->state == S_STARTING && i->proc.fd >= 0 && t >= i->next_probe)
		probe(i, a ? a->m : NULL, t);
	if (i->state == S_CRASHED && t >= i->backoff_until && a && a->m)
		inst_launch(i, a);
	if (i->state == S_STOPPING)
		stop_timers(i, t);
}

/* ---- crashes and exits ---- */

void crash(struct inst *i, const char *why)
{
	double t = mono();

	if (i->kind != K_PROCESS) {
		applog(i->app, "%s: %s", i->name, why);
		return;
	}
	double delay = policy_crash(&i->crashes, i->run_since, t, scheduler_conf.backoff_max);
	i->restarts++;
	i->backoff_until = t + delay;
	set_state(i, S_CRASHED);
	i->dirty = true;
	if (delay > 0)
		applog(i->app, "%s: crashed: %s; restarting in %.0f s", i->name, why, delay);
	else
		applog(i->app, "%s: crashed: %s; restarting", i->name, why);
}

/* Records release version of a failed (the pass stops its instances). */
void release_failed(struct sapp *a, int version, const char *why)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (deis_db_rollout_set(sched.db, a->name, version, "failed", why, &err) < 0)
		deis_log(LOG_WARNING, "%s: %s", a->name, err.msg);
	applog(a->name, "v%d not deployed: %s", version, why);
	a->reload = true;
}

/* A release phase ended: its verdict.  Only the command's own failure
 * fails the release; one that never ran (the runtime failed, the node
 * rebooted) runs again at the next pass. */
static void phase_ended(struct inst *i, struct sapp *a, const struct deis_backend_exit *ex,
			const char *what)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (ex->code == 0 && !ex->error[0]) {
		int w, tries = 0;
		/* The verdict must stick, or the phase runs again. */
		while ((w = deis_db_rollout_set(sched.db, i->app, i->release, "released", "",
						&err)) < 0 && w != -ENOENT && ++tries < 5) {
			deis_log(LOG_WARNING, "%s: %s (retrying)", i->app, err.msg);
			usleep(200000);
		}
		applog(i->app, "release phase of v%d succeeded", i->release);
	} else if (ex->error[0] || ex->code < 0) {
		applog(i->app, "the release phase of v%d %s; retrying", i->release, what);
	} else if (i->state != S_STOPPING && a) {
		char why[1300];
		snprintf(why, sizeof(why), "its release command %s", what);
		release_failed(a, i->release, why);
		for_each_inst(j, nx)
			if (!strcmp(j->app, a->name) && j->kind == K_PROCESS &&
			    j->release == i->release)
				inst_stop(j);
	}
	if (a)
		a->reload = true;
}

/* Its container ended (what proc follows became readable). */
void inst_exited(struct inst *i)
{
	struct deis_backend_exit ex;
	char what[1200];

	sched.backend->ops->ended(sched.backend, i->id, &i->proc, &ex);
	if (ex.error[0])
		snprintf(what, sizeof(what), "could not start: %s", ex.error);
	else if (ex.oom)
		snprintf(what, sizeof(what),
			 "Error R14 (Memory quota exceeded): killed by the kernel over "
			 "its memory limit (exit status %d)", ex.code);
	else if (ex.signal)
		snprintf(what, sizeof(what), "exited on signal %d (status %d)", ex.signal,
			 ex.code);
	else
		snprintf(what, sizeof(what), "exited with status %d", ex.code);

	struct sapp *a = app_find(i->app, false);
	switch (i->kind) {
	case K_RELEASE:
		phase_ended(i, a, &ex, what);
		inst_remove(i);
		return;
	case K_ONEOFF:
		applog(i->app, "%s: %s", i->name, what);
		inst_remove(i);
		return;
	case K_PROCESS:
		break;
	}
	if (i->state == S_STOPPING) {
		applog(i->app, "%s: stopped (v%d, %s)", i->name, i->release, what);
		inst_remove(i);
		return;
	}
	crash(i, what);
	if (a)
		a->pass = true;
}
