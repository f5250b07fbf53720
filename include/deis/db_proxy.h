/*
 * db_proxy.h - the routers' record in PostgreSQL (lib/db_proxy.c): the
 * durable side of the handshake between deis-proxy and deis-scheduler.
 *
 * Each router (a deis-proxy, named by proxy_name: its node's name by
 * default) records, after each nginx reload that took effect, the app
 * serial whose routes its nginx serves, and a heartbeat.  The scheduler
 * stops a container taken out of the routes (its row written "stopping"
 * at serial S) only once every router whose heartbeat is current has
 * applied S or more for that app.  Redis holds the same record
 * (lib/cache.c, deis:proxy:applied) for those who read it there; it is a
 * cache, and losing it must not lose a request, so this is the one the
 * scheduler trusts (docs/scheduler.md, docs/proxy.md).
 */
#ifndef DEIS_DB_PROXY_H
#define DEIS_DB_PROXY_H

#include <stddef.h>

#include "deis/db.h"
#include "deis/error.h"

/* One app's routes as a router's nginx serves them. */
struct deis_router_applied {
	long app_id;		/* apps.id: a deleted app's rows go with it */
	long serial;		/* the app's serial those routes were made from */
};

/*
 * Router name's heartbeat (current for ttl_s seconds from now) and the
 * serials of the n apps given, in one transaction (one statement for all
 * the apps, whatever n; n 0: the heartbeat alone).  An app deleted
 * meanwhile is skipped.  Committed without waiting for the disk: a record
 * lost in a crash of PostgreSQL only makes the scheduler wait for the
 * next one.
 */
int deis_db_router_applied(struct deis_db *db, const char *name, int ttl_s,
			   const struct deis_router_applied *v, size_t n,
			   struct deis_error *err);

/* What the live routers (heartbeat current) say of app. */
struct deis_router_state {
	int live;		/* routers whose heartbeat is current */
	long applied;		/* the least serial of app they applied (0:
				 * one of them has not applied any) */
	char lagging[64];	/* the router with that least serial */
};

/* One query; 0, or < 0 with err filled when the database did not answer. */
int deis_db_router_state(struct deis_db *db, const char *app,
			 struct deis_router_state *out, struct deis_error *err);

#endif
