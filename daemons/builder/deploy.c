/*
 * deploy.c - the end of a push: wait until the new release is live.
 *
 * After build.c made release vN (and announced it), the pre-receive hook
 * stays until vN serves, so that `git push && curl` finds it: Deis v1's
 * push waited for the launch, Heroku's for its release phase.  What it
 * watches is what the scheduler records (docs/scheduler.md):
 *
 *   - the release phase (a Procfile `release` type): vN's rollouts row
 *     becomes "released" (or "deployed"), or "failed" with the reason;
 *   - the launch: the scheduler records vN "deployed" once its first web
 *     instance answers (for a formation without web, its first instance
 *     of any type; at once when the formation runs none);
 *   - the routers: every deis-proxy (one per node) records the app
 *     serial whose routes its nginx serves; once the least of them among
 *     the live routers is at least the serial at which vN was seen
 *     deployed, a request through any node's router reaches vN's
 *     instance.  PostgreSQL's record first, as the scheduler reads it
 *     (include/deis/db_proxy.h), Redis's when PostgreSQL does not answer;
 *     with no router alive, or neither record answering, there is nothing
 *     to wait for.
 *
 * The app is reloaded at each of its change events (Redis) and at least
 * every POLL_MS; the router's state is read every ROUTER_POLL_MS.  The
 * wait ends with an error when the release phase fails, when an instance
 * of vN crashes at boot (its row crashed, or restarted before it was ever
 * up), when the scheduler fails vN, and after builder_deploy_timeout
 * seconds (per stage: the release phase, then the boot); it ends quietly
 * when the pusher hangs up (the release goes live without anyone
 * watching) and at once when no scheduler runs (nothing would go live).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deis/buf.h"
#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/db.h"
#include "deis/db_proxy.h"
#include "deis/model.h"
#include "builder.h"

#define POLL_MS		100	/* the app's rows, even without an event */
#define ROUTER_POLL_MS	20	/* the routers' applied serials */
#define ROUTER_SAY_MS	2000	/* a router lags this long: say which */
/* A node whose scheduler has not been heard of for this long is down (as
 * platform/status says; its heartbeat comes every resync_interval s). */
#define NODE_STALE_US	(30LL * 1000000)

static void sayf(const struct deploy_wait *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sayf(const struct deploy_wait *w, const char *fmt, ...)
{
	struct deis_buf b = DEIS_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	deis_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	w->say(w->ctx, b.data);
	deis_buf_release(&b);
}

/* Whether a scheduler has been heard of lately (any node). */
static bool scheduler_alive(struct deis_db *db)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_node *nodes = NULL;
	size_t n = 0;
	bool alive = false;
	struct timespec ts;

	if (deis_db_nodes(db, &nodes, &n, &err) < 0)
		return true;	/* cannot tell: wait, within the time limit */
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	for (size_t i = 0; i < n; i++)
		if (now - nodes[i].last_seen < NODE_STALE_US)
			alive = true;
	free(nodes);
	return alive;
}

/* Whether the pusher is gone: its end of our output was closed. */
static bool hung_up(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL));
}

/* Whether the formation runs web (of the processes of release rel). */
static bool runs_web(const struct deis_app *m, const struct deis_release *rel)
{
	const struct deis_build *b = rel->build_number ?
		deis_app_build(m, rel->build_number) : NULL;
	const char *q = deis_kvlist_get(&m->formation, "web");

	return b && q && atoi(q) > 0 && deis_kvlist_get(&b->procfile, "web");
}

/* An instance of version that the launch waits for (web, or any process
 * when the formation runs no web) in state (NULL: any); with crashed, one
 * that crashed before it was ever up. */
static const struct deis_container *instance_of(const struct deis_app *m, int version,
						bool web, const char *state, bool crashed)
{
	for (size_t k = 0; k < m->ncontainers; k++) {
		const struct deis_container *c = &m->containers[k];
		if (c->release != version || !strcmp(c->type, "run") ||
		    !strcmp(c->type, "release") || (web && strcmp(c->type, "web")))
			continue;
		if (crashed && (!strcmp(c->state, "crashed") ||
				(!strcmp(c->state, "starting") && c->restarts > 0)))
			return c;
		if (!crashed && (!state || !strcmp(c->state, state)))
			return c;
	}
	return NULL;
}

/* Whether every live router routes the app at serial or later (or no
 * router is alive, or no record answers: nothing to wait for); when not,
 * the router that lags and what it applied. */
static bool routed(const struct deploy_wait *w, long serial, char *lagging, size_t len,
		   long *applied)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_router_state st;
	struct deis_cache_routers cr;

	if (deis_db_router_state(w->db, w->app, &st, &err) == 0) {
		snprintf(lagging, len, "%s", st.lagging);
		*applied = st.applied;
		return st.live == 0 || st.applied >= serial;
	}
	if (!w->cache || deis_cache_proxy_routers(w->cache, w->app, &cr, &err) < 0)
		return true;
	snprintf(lagging, len, "%s", cr.lagging);
	*applied = cr.applied;
	return cr.live == 0 || cr.applied >= serial;
}

enum stage { PHASE, BOOT, ROUTER };

int builder_deploy_wait(const struct deploy_wait *w, struct deis_error *err)
{
	struct deis_cache *sub = NULL;
	struct deis_app *m = NULL;
	const long long limit = (long long)builder_conf.deploy_timeout * 1000;
	long long stage_t0 = deis_mono_ms(), last_load = 0, router_t0 = 0;
	enum stage stage = BOOT;
	bool first = true, load = true, router_told = false;
	long serial = 0;
	int live_version = 0, r = 0;

	if (builder_conf.deploy_timeout <= 0)
		return 0;	/* asked not to wait */
	if (!scheduler_alive(w->db)) {
		sayf(w, " !     No scheduler has been heard from in the last %lld s: v%d goes "
		     "live when one runs (see releases/v%d/info)", NODE_STALE_US / 1000000,
		     w->version, w->version);
		return 0;
	}
	for (;;) {
		long long now = deis_mono_ms();

		if (load) {
			struct deis_app **list = NULL;
			size_t n = 0;
			r = deis_db_load_apps(w->db, w->app, m, &list, &n, err);
			if (r < 0) {
				deis_error_prefix(err, "watching v%d", w->version);
				break;
			}
			deis_app_free(m);
			m = n ? list[0] : NULL;
			free(list);
			last_load = now;
			load = false;
			if (!m) {
				r = deis_error_set(err, ENOENT, "the app was destroyed");
				sayf(w, "-----> %s: %s", w->app, err->msg);
				break;
			}
		}
		const struct deis_release *rel = deis_app_release(m, w->version);
		if (!rel) {
			r = deis_error_set(err, ENOENT, "v%d is gone", w->version);
			sayf(w, "-----> %s", err->msg);
			break;
		}
		const struct deis_build *b = rel->build_number ?
			deis_app_build(m, rel->build_number) : NULL;
		const struct deis_rollout *ro = deis_app_rollout(m, w->version);
		const char *cmd = b ? deis_kvlist_get(&b->procfile, "release") : NULL;
		if (first && cmd) {
			sayf(w, "-----> Release phase: running `%s`", cmd);
			stage = PHASE;
		}
		first = false;
		if (stage == PHASE && ro && (!strcmp(ro->state, "released") ||
					     !strcmp(ro->state, "deployed"))) {
			sayf(w, "-----> Release phase: done (%lld ms)", now - stage_t0);
			stage = BOOT;
			stage_t0 = now;
		}
		if (ro && !strcmp(ro->state, "failed")) {
			r = deis_error_set(err, EIO, "%s", ro->reason);
			if (stage == PHASE)
				sayf(w, "-----> Release phase failed: %s", ro->reason);
			else
				sayf(w, "-----> v%d not deployed: %s", w->version, ro->reason);
			const struct deis_release *live = deis_app_live(m);
			const struct deis_build *lb = live && live->build_number ?
				deis_app_build(m, live->build_number) : NULL;
			if (lb && lb->image[0])
				sayf(w, "-----> v%d keeps running; its output is in logs "
				     "(apps/%s/logs)", live->version, w->app);
			else
				sayf(w, "-----> Its output is in logs (apps/%s/logs)", w->app);
			break;
		}
		const struct deis_release *live = deis_app_live(m);
		if (stage != ROUTER && live && live->version >= w->version) {
			if (live->build_number != rel->build_number) {
				r = deis_error_set(err, EIO, "v%d was superseded by v%d (%s) "
						   "before it went live", w->version,
						   live->version, live->summary);
				sayf(w, "-----> %s", err->msg);
				break;
			}
			/* Live: now the router, from the serial it was seen at. */
			live_version = live->version;
			serial = m->serial;
			stage = ROUTER;
			router_t0 = now;
		}
		if (stage == ROUTER) {
			char lagging[64] = "";
			long applied = 0;
			bool done = routed(w, serial, lagging, sizeof(lagging), &applied);
			if (!done && !router_told && now - router_t0 >= ROUTER_SAY_MS) {
				sayf(w, "-----> Waiting for router %s (it routes serial %ld of "
				     "the app, not yet %ld)", lagging, applied, serial);
				router_told = true;
			}
			if (done) {
				const struct deis_container *c =
					instance_of(m, live_version, runs_web(m, live), "up", false);
				char later[64] = "";
				if (live_version != w->version)
					snprintf(later, sizeof(later), " as v%d (a newer release "
						 "of this build)", live_version);
				if (c)
					sayf(w, "-----> %s up%s (%lld ms)", c->name, later,
					     now - stage_t0);
				else
					sayf(w, "-----> v%d deployed%s: the formation runs none of "
					     "its processes", w->version, later);
				r = 0;
				break;
			}
		}
		if (stage == BOOT) {
			const struct deis_container *c =
				instance_of(m, w->version, runs_web(m, rel), NULL, true);
			if (c) {
				r = deis_error_set(err, EIO, "%s crashed at boot", c->name);
				sayf(w, "-----> %s of v%d crashed at boot: its output is in logs "
				     "(apps/%s/logs)", c->name, w->version, w->app);
				break;
			}
		}
		if (now - stage_t0 > limit) {
			r = deis_error_set(err, ETIMEDOUT, "not live after %d s",
					   builder_conf.deploy_timeout);
			sayf(w, "-----> %s of v%d did not finish within %d s "
			     "(builder_deploy_timeout); it may still: see releases/v%d/info "
			     "(status:) and logs", stage == PHASE ? "The release phase" :
			     stage == BOOT ? "The launch" : "Routing", w->version,
			     builder_conf.deploy_timeout, w->version);
			break;
		}
		if (hung_up(w->out_fd)) {
			/* Nobody to tell (but the build's log): the release
			 * goes on without us. */
			sayf(w, " !     The pusher hung up: v%d goes on without it (see "
			     "releases/v%d/info)", w->version, w->version);
			r = 0;
			break;
		}

		/* An event for the app, or the next poll. */
		long long next = stage == ROUTER ? now + ROUTER_POLL_MS : last_load + POLL_MS;
		int wait = next > now ? (int)(next - now) : 0;
		char kind[16], name[256];
		int e = wait ? deis_cache_follow(&sub, deis_conf.redis_host, deis_conf.redis_port,
						 deis_conf.redis_password, wait, kind, sizeof(kind),
						 name, sizeof(name)) : 0;
		if (e == 2 || (e == 1 && !strcmp(kind, "app") && !strcmp(name, w->app)) ||
		    deis_mono_ms() - last_load >= POLL_MS)
			load = true;
	}
	deis_cache_close(sub);
	deis_app_free(m);
	return r;
}
