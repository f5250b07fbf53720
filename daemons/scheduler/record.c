/*
 * record.c - deis-scheduler's side of the database: loading apps, writing
 * what runs (one transaction per app per pass, which bumps the app's
 * serial and is followed by an "app <name>" event, so that the tree and
 * the proxy see it), the deployed verdicts and the resync; and what the routers recorded
 * they apply.  (The nodes' heartbeat is loop.c's.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/db.h"
#include "deis/db_proxy.h"
#include "deis/log.h"
#include "deis/quota.h"
#include "scheduler.h"

void publish(const char *app)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (sched.cache && deis_cache_publish(sched.cache, "app", app, &err) < 0) {
		/* The others learn of it at their resyncs. */
		deis_log(LOG_WARNING, "publishing: %s", err.msg);
		cache_failed();
	}
}

/*
 * Records the target release "deployed" once it serves (releases/current
 * moves to it, `git push` returns), then announces it.  Usually the write
 * of the row that shows its instance up carries the verdict (write_rows);
 * this is for the rest: a formation that runs none of it, an instance up
 * before the verdict existed.  Only from an app as loaded after its rows
 * were written (a->reload clear), so that the verdict comes after the rows
 * that made it: a router that applied its serial routes to the instance.
 */
void mark_deployed(struct sapp *a, double t)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char who[64];
	int v;

	if (!a->m || a->reload || a->pass || t < a->mark_retry ||
	    !policy_undeployed(a->m, a->marked))
		return;
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->app, a->name) && i->dirty)
			return;		/* rows not written yet */
	v = policy_deploy_alone(a->m, a->marked, who, sizeof(who));
	if (!v)
		return;
	if (deis_db_rollout_set(sched.db, a->name, v, "deployed", "", &err) < 0) {
		deis_log(LOG_WARNING, "%s: recording v%d deployed: %s (retrying)", a->name,
			 v, err.msg);
		a->mark_retry = t + 1;
		return;
	}
	a->marked = v;
	if (who[0])
		applog(a->name, "v%d deployed: %s is up on it", v, who);
	else
		applog(a->name, "v%d deployed: the formation runs none of its processes", v);
	a->reload = true;
	publish(a->name);
}

/* ---- the rows ---- */

/* Its row: what containers/<name>/ shows (strings borrowed from i). */
static void inst_row(struct inst *i, struct deis_container *c)
{
	*c = (struct deis_container){
		.name = i->name, .type = i->type, .number = i->number,
		.instance = i->id, .seq = i->seq, .state = (char *)state_names[i->state],
		.release = i->release, .node = i->node[0] ? i->node : scheduler_conf.node,
		.address = i->address,
		.port = i->port, .started = i->started_us, .restarts = i->restarts,
		.command = i->command,
	};
}

/* The instance that the policy says carries the verdict (policy_deploy_with). */
static const struct inst *deploys(const struct sapp *a)
{
	size_t n;
	struct policy_inst *views = inst_views(a->name, &n);
	int k = policy_deploy_with(a->m, a->marked, views, n);

	free(views);
	for (const struct inst *i = insts; k >= 0 && i; i = i->next)
		if (!strcmp(i->app, a->name) && k-- == 0)
			return i;
	return NULL;
}

void write_rows(struct sapp *a, double t)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_container *rows = NULL;
	const char **gone = NULL;
	size_t n = 0, ng = 0;
	long serial = 0;

	if (t < a->write_retry)
		return;
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->app, a->name) && i->dirty && !i->nodb)
			n++;
	for (size_t k = 0; k < nremoved; k++)
		if (!strcmp(removed[k].app, a->name))
			ng++;
	if (!n && !ng)
		return;
	if (!a->m) {
		/* The app is gone, and its rows with it. */
		for (struct inst *i = insts; i; i = i->next)
			if (!strcmp(i->app, a->name))
				i->dirty = false;
		goto forget;
	}
	rows = calloc(n ? n : 1, sizeof(*rows));
	gone = calloc(ng ? ng : 1, sizeof(*gone));
	if (!rows || !gone)
		abort();
	n = ng = 0;
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->app, a->name) && i->dirty && !i->nodb)
			inst_row(i, &rows[n++]);
	for (size_t k = 0; k < nremoved; k++)
		if (!strcmp(removed[k].app, a->name))
			gone[ng++] = removed[k].id;
	/* The rows that make the target serve carry its verdict: one
	 * transaction, one serial, one reload of the router (the verdict
	 * alone would cost another). */
	const struct inst *serving = deploys(a);
	int deployed = serving ? serving->release : 0;
	int r = deis_db_containers_write(sched.db, a->name, rows, n, gone, ng, deployed, &serial,
					 &err);
	free(rows);
	free(gone);
	if (r == -ENOENT) {
		a->reload = true;	/* gone meanwhile */
	} else if (r < 0) {
		deis_log(LOG_WARNING, "%s: recording containers: %s (retrying)", a->name,
			 err.msg);
		a->write_retry = t + 1;
		return;
	}
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->app, a->name)) {
			if (i->dirty && i->state == S_STOPPING && i->term_serial < 0)
				i->term_serial = serial;
			i->dirty = false;
		}
	if (r == 0 && deployed) {
		a->marked = deployed;
		applog(a->name, "v%d deployed: %s is up on it", deployed, serving->name);
	}
	if (r == 0) {
		/* Read the app back: its rows as written, and whatever else
		 * changed meanwhile (the serial includes it, and its event
		 * may be lost). */
		a->reload = true;
		publish(a->name);
	}
forget:
	for (size_t k = 0; k < nremoved;)
		if (!strcmp(removed[k].app, a->name))
			removed[k] = removed[--nremoved];
		else
			k++;
}

/* ---- loading ---- */

/* Reads a again (its pass follows). */
void load_app(struct sapp *a)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_app **list = NULL;
	size_t n = 0;

	if (deis_db_load_apps(sched.db, a->name, NULL, &list, &n, &err) < 0) {
		deis_log(LOG_WARNING, "loading %s: %s", a->name, err.msg);
		return;
	}
	deis_app_free(a->m);
	a->m = n ? list[0] : NULL;
	a->serial = a->m ? a->m->serial : 0;
	free(list);
	a->reload = false;
	a->pass = true;
}

/*
 * Which apps changed (serials compared: a lost event costs at most one
 * resync).  The nodes' heartbeat follows it (loop.c, nodes_heartbeat).
 */
void resync(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_kvlist serials = DEIS_KVLIST_INIT;

	if (deis_db_serials(sched.db, &serials, &err) < 0) {
		deis_log(LOG_WARNING, "resync: %s", err.msg);
		return;
	}
	for (size_t k = 0; k < serials.n; k++) {
		const char *name = serials.items[k].key;
		if (name[0] == '~')
			continue;
		struct sapp *a = app_find(name, true);
		if (!a->m || a->serial != strtol(serials.items[k].value, NULL, 10))
			a->reload = true;
		a->pass = true;
	}
	for (size_t k = 0; k < napps; k++)
		if (apps[k].m && !deis_kvlist_get(&serials, apps[k].name))
			apps[k].reload = true;
	deis_kvlist_clear(&serials);
}

/* ---- the routers ---- */

/* Live routers in PostgreSQL's last answer: Redis's record (one hash,
 * the last writer's) speaks for one router only. */
static int routers_seen = -1;

void router_state(const char *app, struct policy_router *r, char *trouble, size_t len)
{
	static struct deis_router_state st;	/* r->lagging points into it */
	struct deis_error err = DEIS_ERROR_INIT, cerr = DEIS_ERROR_INIT;
	bool alive = false;
	long applied = 0;

	if (deis_db_router_state(sched.db, app, &st, &err) == 0) {
		routers_seen = st.live;
		*r = (struct policy_router){ .known = true, .alive = st.live > 0,
					     .applied = st.applied, .lagging = st.lagging };
		return;
	}
	/* Redis may only confirm: without a heartbeat there it may have
	 * been flushed, which is no news of the routers. */
	if (routers_seen == 1 && sched.cache) {
		if (deis_cache_proxy_state(sched.cache, app, &alive, &applied, &cerr) < 0)
			cache_failed();
		else if (alive) {
			*r = (struct policy_router){ .known = true, .alive = true,
						     .applied = applied, .lagging = "(in Redis)" };
			return;
		}
	}
	snprintf(trouble, len, "PostgreSQL: %s; Redis: %s", err.msg,
		 routers_seen != 1 ? "not asked: it speaks for one router only" :
		 !sched.cache ? "not connected" : cerr.code ? cerr.msg : "no router's heartbeat");
	/* One line in the log: libpq's messages run over several. */
	for (char *p = trouble; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	*r = (struct policy_router){ .known = false, .trouble = trouble };
}
