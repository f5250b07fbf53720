/*
 * db_proxy.c - the routers' record (include/deis/db_proxy.h): which serial
 * of each app every router's nginx serves, and the routers' heartbeats.
 * deis-proxy writes it after each reload; deis-scheduler reads it before
 * it stops a container that was taken out of the routes.
 *
 * Write cost: one transaction per reload (or per heartbeat, every 5 s):
 * the router's row, then one statement for all the apps that changed,
 * their ids and serials passed as two arrays, so a reload of 1,000 apps
 * costs the same round trips as one of a single app.  Keyed by (router,
 * app id): several routers, on several nodes, each keep their own rows.
 */
#include <stdio.h>

#include <libpq-fe.h>

#include "db_int.h"
#include "deis/buf.h"
#include "deis/db_proxy.h"

/* Nothing here needs the disk before the reply: what a crash of
 * PostgreSQL loses is written again at the next reload or heartbeat, and
 * meanwhile the scheduler only waits. */
#define NO_SYNC "SELECT set_config('synchronous_commit', 'off', true)"

#define ROUTER_SEEN "INSERT INTO routers (name, ttl) VALUES ($1, $2)" \
	" ON CONFLICT (name) DO UPDATE SET ttl = EXCLUDED.ttl, seen = clock_timestamp()"

/* $1 the router, $2 and $3 the apps' ids and serials (bigint arrays). */
#define ROUTER_APPLIED "INSERT INTO router_applied (router, app_id, serial)" \
	" SELECT $1, a.id, s.serial FROM unnest($2::bigint[], $3::bigint[])" \
	" AS s(app_id, serial) JOIN apps a ON a.id = s.app_id" \
	" ON CONFLICT (router, app_id) DO UPDATE SET serial = EXCLUDED.serial" \
	" WHERE router_applied.serial <> EXCLUDED.serial"

/* The live routers of $1's app, the one that applied the least first.
 * None for an app that no longer exists: a destroyed app is routed
 * nowhere, and its rows of router_applied went with it (a container of it
 * that waited for them would wait for ever). */
#define ROUTER_STATE "SELECT count(*) OVER (), r.name, coalesce(ra.serial, 0)" \
	" FROM routers r LEFT JOIN router_applied ra ON ra.router = r.name" \
	" AND ra.app_id = (SELECT id FROM apps WHERE name = $1)" \
	" WHERE r.seen > clock_timestamp() - r.ttl * interval '1 second'" \
	" AND EXISTS (SELECT 1 FROM apps WHERE name = $1)" \
	" ORDER BY 3, 2 LIMIT 1"

int deis_db_router_applied(struct deis_db *db, const char *name, int ttl_s,
			   const struct deis_router_applied *v, size_t n,
			   struct deis_error *err)
{
	struct deis_buf ids = DEIS_BUF_INIT, serials = DEIS_BUF_INIT;
	char ttl[16];
	int r = db_begin(db, err);

	if (r < 0)
		return r;
	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	r = db_exec(db, err, NO_SYNC);
	if (r == 0)
		r = db_exec(db, err, ROUTER_SEEN, name, ttl);
	if (r == 0 && n) {
		for (size_t k = 0; k < n; k++) {
			deis_buf_addf(&ids, "%s%ld", k ? "," : "{", v[k].app_id);
			deis_buf_addf(&serials, "%s%ld", k ? "," : "{", v[k].serial);
		}
		deis_buf_addch(&ids, '}');
		deis_buf_addch(&serials, '}');
		r = db_exec(db, err, ROUTER_APPLIED, name, deis_buf_str(&ids),
			    deis_buf_str(&serials));
	}
	deis_buf_release(&ids);
	deis_buf_release(&serials);
	return db_end(db, r, err);
}

int deis_db_router_state(struct deis_db *db, const char *app,
			 struct deis_router_state *out, struct deis_error *err)
{
	PGresult *res = db_select(db, err, ROUTER_STATE, app);

	*out = (struct deis_router_state){ 0 };
	if (!res)
		return -err->code;
	if (PQntuples(res) == 1) {
		out->live = (int)col_long(res, 0, 0);
		snprintf(out->lagging, sizeof(out->lagging), "%s", PQgetvalue(res, 0, 1));
		out->applied = col_long(res, 0, 2);
	}
	PQclear(res);
	return 0;
}
