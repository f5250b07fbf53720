/*
 * db_access.c - who may do what: users and their keys, an app's perms,
 * access checks for the builder, quotas and the admission of changes that
 * take more of the platform.  Creating a user and its uid: db_users.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db_int.h"

/* ---- access (the builder) ---- */

int deis_db_key_owner(struct deis_db *db, const char *fingerprint, char *user,
		      size_t len, struct deis_error *err)
{
	PGresult *res = db_select(db, err, "SELECT u.name FROM keys k JOIN users u"
				  " ON u.id = k.user_id WHERE k.fingerprint = $1", fingerprint);

	if (!res)
		return -err->code;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return deis_error_set(err, ENOENT, "no user has key %s", fingerprint);
	}
	snprintf(user, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

int deis_db_app_access(struct deis_db *db, const char *app, const char *user,
		       bool *allowed, long *id, struct deis_error *err)
{
	PGresult *res = db_select(db, err, "SELECT a.owner = $2 OR EXISTS (SELECT 1 FROM perms p"
				  " WHERE p.app_id = a.id AND p.username = $2), a.id FROM apps a"
				  " WHERE a.name = $1", app, user);

	*allowed = false;
	if (!res)
		return -err->code;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return deis_error_set(err, ENOENT, "no app '%s'", app);
	}
	*allowed = PQgetvalue(res, 0, 0)[0] == 't';
	if (id)
		*id = col_long(res, 0, 1);
	PQclear(res);
	return 0;
}

/* ---- users and keys ---- */

int db_user_ensure(struct deis_db *db, const char *name, int uid,
		   struct deis_error *err)
{
	char uidbuf[16];

	snprintf(uidbuf, sizeof(uidbuf), "%d", uid);
	return db_exec(db, err, "INSERT INTO users (name, uid) VALUES ($1, $2)"
		       " ON CONFLICT (name) DO NOTHING", name, uidbuf);
}

int deis_db_user_ensure(struct deis_db *db, const char *name, int uid,
			struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	return db_user_ensure(db, name, uid, err);
}

/* Begins a change to user's keys: with an actor, only their own. */
static int keys_begin(struct deis_db *db, const char *user, struct deis_error *err)
{
	if (db->actor[0] && strcmp(db->actor, user))
		return deis_error_set(err, EACCES, "%s may not change %s's keys",
				      db->actor, user);
	return db_begin(db, err);
}

/* Ends it; a change bumps the user's serial in the same transaction. */
static int keys_end(struct deis_db *db, const char *user, int r, struct deis_error *err)
{
	if (r == 0)
		r = db_exec(db, err, "UPDATE users SET serial = serial + 1,"
			    " updated = clock_timestamp() WHERE name = $1", user);
	return db_end(db, r, err);
}

int deis_db_key_add(struct deis_db *db, const char *user, const char *name,
		    const char *type, const char *data,
		    const char *fingerprint, struct deis_error *err)
{
	int r = keys_begin(db, user, err);

	if (r < 0)
		return r;
	r = db_user_ensure(db, user, -1, err);
	if (r == 0) {
		/* A key names exactly one user: the same key under another
		 * name or user is refused; rewriting a key file replaces it. */
		PGresult *res = db_query(db, err, "SELECT u.name, k.name FROM keys k JOIN users u"
					 " ON u.id = k.user_id WHERE k.fingerprint = $1", fingerprint);
		if (!res)
			r = -err->code;
		else if (PQntuples(res) && (strcmp(PQgetvalue(res, 0, 0), user) ||
					    strcmp(PQgetvalue(res, 0, 1), name)))
			r = deis_error_set(err, EEXIST, "key %s is already registered%s",
					   fingerprint,
					   strcmp(PQgetvalue(res, 0, 0), user) ?
					   " to another user" : " under another name");
		PQclear(res);
	}
	if (r == 0)
		r = db_exec(db, err, "INSERT INTO keys (user_id, name, type, data, fingerprint)"
			    " SELECT id, $2, $3, $4, $5 FROM users WHERE name = $1"
			    " ON CONFLICT (user_id, name) DO UPDATE SET type = EXCLUDED.type,"
			    " data = EXCLUDED.data, fingerprint = EXCLUDED.fingerprint,"
			    " created = clock_timestamp()", user, name, type, data, fingerprint);
	return keys_end(db, user, r, err);
}

int deis_db_key_remove(struct deis_db *db, const char *user, const char *name,
		       struct deis_error *err)
{
	int r = keys_begin(db, user, err);

	if (r < 0)
		return r;
	r = db_count(db_query(db, err, "DELETE FROM keys k USING users u WHERE u.id = k.user_id"
			      " AND u.name = $1 AND k.name = $2 RETURNING 1", user, name), err);
	if (r == 0)
		r = deis_error_set(err, ENOENT, "no key '%s'", name);
	return keys_end(db, user, r < 0 ? r : 0, err);
}

int deis_db_perms_set(struct deis_db *db, const char *app,
		      const struct deis_strlist *users, struct deis_error *err)
{
	static const struct db_list_rows perms = DB_LIST_ROWS("perms",
		"INSERT INTO perms (app_id, username) VALUES ($1, $2) ON CONFLICT DO NOTHING", 2);

	return db_set_rows(db, app, DB_OWNER, &perms, users, err);
}

/* ---- admission: quotas and capacity (lib/quota.c decides) ---- */

/*
 * A change that may take more of the platform (a formation, limits, a
 * rollback, a deploy, a one-off) is admitted inside the transaction that
 * commits it, once its rows are written: usage is read back from the
 * rows, so what is checked is exactly what commits.  The checks are
 * serialised platform-wide by an advisory lock, taken after the app's row
 * lock (each such transaction locks one app, then this lock, and nothing
 * takes them the other way round).  So two changes to two apps of one
 * owner cannot both pass on the same headroom: the second reads the rows
 * of the first once it has committed (read committed: each statement
 * sees what committed before it began).  A change that takes nothing more
 * skips all of it.
 */
/* Per app: owner, current limits, formation, running one-offs, name. */
#define USAGE_Q "SELECT a.id, a.owner," \
	" coalesce((SELECT r.limits::text FROM releases r WHERE r.app_id = a.id" \
	" ORDER BY r.version DESC LIMIT 1), '{}')," \
	" coalesce((SELECT jsonb_object_agg(f.type, f.quantity::text) FROM formation f" \
	" WHERE f.app_id = a.id), '{}')::text," \
	" (SELECT count(*) FROM containers c WHERE c.app_id = a.id AND c.type = 'run')," \
	" a.name FROM apps a"

/* A node counts while its heartbeat is this recent (as platform/status). */
#define NODE_LIVE "last_seen > clock_timestamp() - interval '30 seconds'"

/* Adds row i of a USAGE_Q result to u. */
static int usage_row(PGresult *res, int i, struct deis_usage *u, struct deis_error *err)
{
	struct deis_kvlist limits = DEIS_KVLIST_INIT, formation = DEIS_KVLIST_INIT;
	int r = db_json_to_kv(PQgetvalue(res, i, 2), &limits, err);

	if (r == 0)
		r = db_json_to_kv(PQgetvalue(res, i, 3), &formation, err);
	if (r == 0)
		deis_usage_add_app(u, &formation, &limits, col_long(res, i, 4),
				   deis_quota_default_memory());
	else
		deis_error_prefix(err, "usage of app '%s'", PQgetvalue(res, i, 5));
	deis_kvlist_clear(&limits);
	deis_kvlist_clear(&formation);
	return r;
}

/* What the app takes now, in this transaction. */
int db_app_usage(struct deis_db *db, const char *appid, struct deis_usage *out,
		 struct deis_error *err)
{
	PGresult *res = db_query(db, err, USAGE_Q " WHERE a.id = $1", appid);

	int r = res ? 0 : -err->code;

	*out = (struct deis_usage){ 0, 0 };
	if (res && PQntuples(res))
		r = usage_row(res, 0, out, err);
	PQclear(res);
	return r;
}

static void quota_row(PGresult *res, int i, struct deis_quota *q)
{
	q->containers = PQgetisnull(res, i, 1) ? -1 : col_long(res, i, 1);
	q->memory = PQgetisnull(res, i, 2) ? -1 : col_ll(res, i, 2);
	q->overcommit = PQgetisnull(res, i, 3) ? 0 : (int)col_long(res, i, 3);
}

/* Admits the change made to app appid in this transaction, which took
 * `before` until now: 0, or -EDQUOT with the reason (the caller rolls
 * back). */
int db_admit(struct deis_db *db, const char *appid, const struct deis_usage *before,
	     struct deis_error *err)
{
	struct deis_usage app = { 0, 0 };
	struct deis_admission a = { 0 };
	struct deis_quota user = DEIS_QUOTA_UNSET, platform = DEIS_QUOTA_UNSET;
	char owner[256] = "";
	long id = strtol(appid, NULL, 10);
	int r = db_app_usage(db, appid, &app, err);

	if (r < 0 || !deis_usage_grows(before, &app))
		return r;
	r = db_lock(db, DB_LOCK_ADMISSION, err);
	PGresult *res = r < 0 ? NULL : db_query(db, err, USAGE_Q);
	if (!res)
		return -err->code;
	for (int i = 0; i < PQntuples(res); i++)
		if (col_long(res, i, 0) == id)
			snprintf(owner, sizeof(owner), "%s", PQgetvalue(res, i, 1));
	for (int i = 0; r == 0 && i < PQntuples(res); i++) {
		struct deis_usage u = { 0, 0 };
		r = usage_row(res, i, &u, err);
		a.committed_after += u.memory;
		if (!strcmp(PQgetvalue(res, i, 1), owner)) {
			a.after.containers += u.containers;
			a.after.memory += u.memory;
		}
	}
	PQclear(res);
	if (r < 0)
		return r;
	a.user = owner;
	a.before.containers = a.after.containers - app.containers + before->containers;
	a.before.memory = a.after.memory - app.memory + before->memory;
	a.committed_before = a.committed_after - app.memory + before->memory;

	res = db_query(db, err, "SELECT scope, containers, memory, overcommit FROM quotas"
		       " WHERE scope = '' OR scope = $1", owner);
	if (!res)
		return -err->code;
	for (int i = 0; i < PQntuples(res); i++)
		quota_row(res, i, PQgetvalue(res, i, 0)[0] ? &user : &platform);
	PQclear(res);
	deis_quota_resolve(&user, &platform, &a.quota);

	res = db_query(db, err, "SELECT count(*), coalesce(sum((info->>'memory')::bigint), 0)"
		       " FROM nodes WHERE (info->>'memory')::bigint > 0 AND " NODE_LIVE);
	if (!res)
		return -err->code;
	a.nodes = (int)col_long(res, 0, 0);
	a.node_memory = a.nodes ? col_ll(res, 0, 1) : deis_quota_host_memory();
	PQclear(res);
	return deis_admit(&a, err);
}

/* ---- quotas (platform/quotas, users/<name>/quota) ---- */

int deis_db_quotas(struct deis_db *db, struct deis_quota_row **out, size_t *n,
		   struct deis_error *err)
{
	PGresult *res = db_select(db, err, "SELECT scope, containers, memory, overcommit"
				  " FROM quotas ORDER BY scope");

	*out = db_rows_array(res, sizeof(**out), n);
	for (int i = 0; i < (int)*n; i++) {
		snprintf((*out)[i].scope, sizeof((*out)[i].scope), "%s", PQgetvalue(res, i, 0));
		quota_row(res, i, &(*out)[i].q);
	}
	return db_status(db_count(res, err));
}

int deis_db_quota_set(struct deis_db *db, const char *scope, const struct deis_quota *qt,
		      struct deis_error *err)
{
	char c[24], m[24], o[24];
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	if (qt->containers < 0 && qt->memory < 0 && qt->overcommit <= 0)
		return db_exec(db, err, "DELETE FROM quotas WHERE scope = $1", scope);
	snprintf(c, sizeof(c), "%ld", qt->containers);
	snprintf(m, sizeof(m), "%lld", qt->memory);
	snprintf(o, sizeof(o), "%d", qt->overcommit);
	return db_exec(db, err, "INSERT INTO quotas (scope, containers, memory, overcommit)"
		       " VALUES ($1, $2, $3, $4) ON CONFLICT (scope) DO UPDATE SET"
		       " containers = EXCLUDED.containers, memory = EXCLUDED.memory,"
		       " overcommit = EXCLUDED.overcommit, updated = clock_timestamp()", scope,
		       qt->containers >= 0 ? c : NULL, qt->memory >= 0 ? m : NULL,
		       qt->overcommit > 0 ? o : NULL);
}
