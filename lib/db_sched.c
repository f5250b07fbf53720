/*
 * db_sched.c - the scheduler's records: containers (one row per
 * instance), one-off runs, rollout verdicts, nodes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db_int.h"

/* ---- containers (the scheduler's record of what runs) ---- */

/* A verdict on a release ($1 app id, $2 version, $3 state, $4 reason).
 * A failed one is final: a later verdict never revives it. */
#define ROLLOUT_SET "INSERT INTO rollouts (app_id, version, state, reason)" \
	" VALUES ($1, $2, $3, $4) ON CONFLICT (app_id, version) DO UPDATE" \
	" SET state = EXCLUDED.state, reason = EXCLUDED.reason," \
	" updated = clock_timestamp() WHERE rollouts.state <> 'failed'"

int deis_db_seq_next(struct deis_db *db, long *seq, struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	PGresult *res = db_query(db, err, "SELECT nextval('container_seq')");
	if (!res)
		return -err->code;
	*seq = col_long(res, 0, 0);
	PQclear(res);
	return 0;
}

int deis_db_containers_write(struct deis_db *db, const char *app,
			     const struct deis_container *rows, size_t n,
			     const char *const *removed, size_t nremoved,
			     int deployed, long *serial, struct deis_error *err)
{
	char appid[DB_ID_LEN];
	int r = db_app_begin(db, app, DB_ANY_USER, appid, err);

	if (r < 0)
		return r;
	if (serial) {
		PGresult *res = db_query(db, err, "SELECT serial FROM apps WHERE id = $1", appid);
		if (!res)
			r = -err->code;
		else
			*serial = col_long(res, 0, 0);
		PQclear(res);
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct deis_container *c = &rows[i];
		char number[16], release[16], port[16], started[32], restarts[16], seq[32];
		snprintf(number, sizeof(number), "%d", c->number);
		snprintf(release, sizeof(release), "%d", c->release);
		snprintf(port, sizeof(port), "%d", c->port);
		snprintf(started, sizeof(started), "%lld", (long long)c->started);
		snprintf(restarts, sizeof(restarts), "%d", c->restarts);
		snprintf(seq, sizeof(seq), "%ld", c->seq);
		r = db_exec(db, err, "INSERT INTO containers (app_id, name, type, number, instance,"
			    " seq, state, release, node, port, started, restarts, command, address)"
			    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
			    " CASE WHEN $11::bigint = 0 THEN NULL"
			    " ELSE to_timestamp($11::bigint / 1e6) END, $12, $13, $14)"
			    " ON CONFLICT (instance) DO UPDATE SET state = EXCLUDED.state,"
			    " release = EXCLUDED.release, node = EXCLUDED.node,"
			    " port = EXCLUDED.port, started = EXCLUDED.started,"
			    " restarts = EXCLUDED.restarts, address = EXCLUDED.address,"
			    " updated = clock_timestamp()",
			    appid, c->name, c->type, number, c->instance, seq,
			    c->state, release, c->node ? c->node : "", port, started,
			    restarts, c->command ? c->command : "", c->address ? c->address : "");
	}
	for (size_t i = 0; r == 0 && i < nremoved; i++)
		r = db_exec(db, err, "DELETE FROM containers WHERE app_id = $1 AND instance = $2",
			    appid, removed[i]);
	if (r == 0 && deployed > 0) {
		char v[16];
		snprintf(v, sizeof(v), "%d", deployed);
		r = db_exec(db, err, ROLLOUT_SET, appid, v, "deployed", "");
	}
	return db_end(db, r, err);
}

int deis_db_container_restart(struct deis_db *db, const char *app,
			      const char *name, struct deis_error *err)
{
	char missing[300];

	snprintf(missing, sizeof(missing), "no container '%s'", name);
	return db_app_exec(db, err, app, DB_ANY_USER, missing,
			   "UPDATE containers SET desired = 'restart',"
			   " updated = clock_timestamp() WHERE instance = (SELECT instance"
			   " FROM containers WHERE app_id = $1 AND name = $2"
			   " ORDER BY state = 'stopping', seq DESC LIMIT 1) RETURNING 1", name);
}

int deis_db_run_create(struct deis_db *db, const char *app, const char *command,
		       int release, const char *node, int port, int *number,
		       char *instance, size_t ilen, struct deis_error *err)
{
	char appid[DB_ID_LEN], rel[16], portbuf[16];
	int r = db_app_begin(db, app, DB_ANY_USER, appid, err);

	if (r < 0)
		return r;
	snprintf(rel, sizeof(rel), "%d", release);
	PGresult *res = db_query(db, err, "UPDATE apps SET run_serial = run_serial + 1"
				 " WHERE id = $1 RETURNING run_serial", appid);
	if (!res)
		return db_end(db, -err->code, err);
	*number = (int)col_long(res, 0, 0);
	PQclear(res);
	struct deis_usage before;
	r = db_app_usage(db, appid, &before, err);
	if (r < 0)
		return db_end(db, r, err);
	char num[16];
	snprintf(num, sizeof(num), "%d", *number);
	snprintf(portbuf, sizeof(portbuf), "%d", port);
	/* Attached (node given): it runs already, started by its caller. */
	res = db_query(db, err, "INSERT INTO containers (app_id, name, type, number, seq, instance,"
		       " state, release, command, node, port, desired, started)"
		       " SELECT $1, 'run.' || $2, 'run', $2::int, s.v,"
		       " a.name || '.run.' || $2 || '.' || s.v,"
		       " CASE WHEN $5 = '' THEN 'starting' ELSE 'up' END, $3, $4, $5, $6,"
		       " CASE WHEN $5 = '' THEN '' ELSE 'attached' END,"
		       " CASE WHEN $5 = '' THEN NULL ELSE clock_timestamp() END"
		       " FROM apps a, (SELECT nextval('container_seq') AS v) s WHERE a.id = $1"
		       " RETURNING instance", appid, num, rel, command, node ? node : "", portbuf);
	if (!res)
		return db_end(db, -err->code, err);
	if (instance)
		snprintf(instance, ilen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return db_end(db, db_admit(db, appid, &before, err), err);
}

int deis_db_rollout_set(struct deis_db *db, const char *app, int version,
			const char *state, const char *reason,
			struct deis_error *err)
{
	char v[16];

	snprintf(v, sizeof(v), "%d", version);
	return db_app_exec(db, err, app, DB_ANY_USER, NULL, ROLLOUT_SET, v, state,
			   reason ? reason : "");
}

int deis_db_node_seen(struct deis_db *db, const char *name, const char *address,
		      const char *info_json, struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	/* info merged: the figures it does not give (memory_used, from
	 * deis_db_nodes_report) stay. */
	return db_exec(db, err, "INSERT INTO nodes (name, address, info) VALUES ($1, $2, $3)"
		       " ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address,"
		       " info = nodes.info || EXCLUDED.info, last_seen = clock_timestamp()",
		       name, address, info_json ? info_json : "{}");
}

/* ---- nodes (platform/nodes/<node>/) ---- */

#define NODE_COLUMNS "name, address, " US("last_seen") ", role, state, availability," \
	" desired_availability, movable, coalesce((info->>'containers')::int, 0)," \
	" coalesce((info->>'memory')::bigint, 0)," \
	" coalesce((info->>'memory_used')::bigint, 0)"

/* res's rows (NODE_COLUMNS) as a new array *out; res freed. */
static int node_rows(PGresult *res, struct deis_node **out, size_t *n,
		     struct deis_error *err)
{
	*out = db_rows_array(res, sizeof(**out), n);
	for (int i = 0; i < (int)*n; i++) {
		struct deis_node *nd = &(*out)[i];
		snprintf(nd->name, sizeof(nd->name), "%s", PQgetvalue(res, i, 0));
		snprintf(nd->address, sizeof(nd->address), "%s", PQgetvalue(res, i, 1));
		nd->last_seen = col_us(res, i, 2);
		snprintf(nd->role, sizeof(nd->role), "%s", PQgetvalue(res, i, 3));
		snprintf(nd->state, sizeof(nd->state), "%s", PQgetvalue(res, i, 4));
		snprintf(nd->availability, sizeof(nd->availability), "%s", PQgetvalue(res, i, 5));
		snprintf(nd->desired, sizeof(nd->desired), "%s", PQgetvalue(res, i, 6));
		nd->movable = PQgetvalue(res, i, 7)[0] == 't';
		nd->containers = (int)col_long(res, i, 8);
		nd->memory = col_ll(res, i, 9);
		nd->memory_used = col_ll(res, i, 10);
	}
	return db_status(db_count(res, err));
}

int deis_db_nodes(struct deis_db *db, struct deis_node **out, size_t *n,
		  struct deis_error *err)
{
	return node_rows(db_select(db, err, "SELECT " NODE_COLUMNS " FROM nodes ORDER BY name"),
			 out, n, err);
}

int deis_db_nodes_report(struct deis_db *db, const struct deis_node *rows, size_t n,
			 struct deis_node **out, size_t *nout, struct deis_error *err)
{
	int r = db_begin(db, err);

	if (out) {
		*out = NULL;
		*nout = 0;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct deis_node *nd = &rows[i];
		char info[128];
		/* The figures in info, where the capacity admission reads the
		 * memory (db_access.c). */
		snprintf(info, sizeof(info), "{\"containers\": %d, \"memory\": %lld,"
			 " \"memory_used\": %lld}", nd->containers, nd->memory, nd->memory_used);
		r = db_exec(db, err, "INSERT INTO nodes (name, address, info, role, state,"
			    " availability, movable) VALUES ($1, $2, $3, $4, $5, $6, $7::boolean)"
			    " ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address,"
			    " info = EXCLUDED.info, role = EXCLUDED.role, state = EXCLUDED.state,"
			    " availability = EXCLUDED.availability, movable = EXCLUDED.movable,"
			    " last_seen = clock_timestamp()",
			    nd->name, nd->address, info,
			    nd->role[0] ? nd->role : "node", nd->state[0] ? nd->state : "ready",
			    nd->availability[0] ? nd->availability : "active",
			    nd->movable ? "true" : "false");
	}
	if (r == 0 && out)
		r = node_rows(db_query(db, err, "SELECT " NODE_COLUMNS " FROM nodes ORDER BY name"),
			      out, nout, err);
	r = db_end(db, r, err);
	if (r < 0 && out) {
		free(*out);
		*out = NULL;
		*nout = 0;
	}
	return r;
}

int deis_db_node_availability_set(struct deis_db *db, const char *node,
				  const char *availability, const char *who,
				  bool *changed, struct deis_error *err)
{
	if (strcmp(availability, "active") && strcmp(availability, "pause") &&
	    strcmp(availability, "drain"))
		return deis_error_set(err, EINVAL, "availability '%s': active, pause or drain",
				      availability);
	int r = db_begin(db, err);
	if (r < 0)
		return r;
	/* The row locked, then checked: a heartbeat that changes movable
	 * meanwhile waits for this transaction. */
	PGresult *res = db_query(db, err, "SELECT movable, desired_availability FROM nodes"
				 " WHERE name = $1 FOR UPDATE", node);
	if (!res)
		return db_end(db, -err->code, err);
	if (PQntuples(res) == 0)
		r = deis_error_set(err, ENOENT, "no node '%s'", node);
	else if (PQgetvalue(res, 0, 0)[0] != 't' && strcmp(availability, "active"))
		r = deis_error_set(err, EOPNOTSUPP, "node %s cannot %s: its runtime cannot "
				   "move containers to another node", node, availability);
	else if (changed)
		*changed = strcmp(PQgetvalue(res, 0, 1), availability) != 0;
	PQclear(res);
	if (r == 0)
		r = db_exec(db, err, "UPDATE nodes SET desired_availability = $2, desired_by = $3,"
			    " desired_at = clock_timestamp() WHERE name = $1",
			    node, availability, who ? who : "");
	return db_end(db, r, err);
}
