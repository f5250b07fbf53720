/*
 * db_apps.c - apps and the rows behind their control files: create,
 * destroy, formation, domains, drains, certs (settings: db_settings.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db_int.h"
#include "deis/buf.h"

/* ---- apps ---- */

/* Locks the app's row for the rest of the transaction and bumps its
 * serial; returns its id as text in idbuf.  With an actor
 * (deis_db_act_as), also checks that they may make this change, under
 * that lock: perms changes lock the same row, so no commit can slip past
 * a revocation. */
static int lock_app(struct deis_db *db, const char *app, enum db_app_right right,
		    char *idbuf, struct deis_error *err)
{
	PGresult *res = db_query(db, err, "UPDATE apps SET serial = serial + 1,"
				 " updated = clock_timestamp() WHERE name = $1 RETURNING id,"
				 " owner = $2, EXISTS (SELECT 1 FROM perms p"
				 " WHERE p.app_id = apps.id AND p.username = $2)", app, db->actor);
	if (!res)
		return -err->code;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return deis_error_set(err, ENOENT, "no app '%s'", app);
	}
	bool owner = PQgetvalue(res, 0, 1)[0] == 't';
	bool listed = PQgetvalue(res, 0, 2)[0] == 't';
	snprintf(idbuf, DB_ID_LEN, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (db->actor[0] && !owner && (right == DB_OWNER || !listed))
		return deis_error_set(err, EACCES, "%s may not %s app '%s'", db->actor,
				      right == DB_OWNER ? "do this to" : "change", app);
	return 0;
}

int db_app_begin(struct deis_db *db, const char *app, enum db_app_right right,
		 char *appid, struct deis_error *err)
{
	int r = db_begin(db, err);

	if (r == 0 && (r = lock_app(db, app, right, appid, err)) < 0)
		db_rollback(db, r);
	return r;
}

int db_app_stmt(struct deis_db *db, const char *app, enum db_app_right right,
		const char *missing, const char *sql, int n, const char *const *params,
		struct deis_error *err)
{
	char appid[DB_ID_LEN];
	const char *all[8] = { appid };

	if (n > 7)
		abort();
	memcpy(all + 1, params, n * sizeof(*params));
	int r = db_app_begin(db, app, right, appid, err);
	if (r < 0)
		return r;
	r = db_count(db_run(db, sql, n + 1, all, err), err);
	if (r == 0 && missing)
		r = deis_error_set(err, ENOENT, "%s", missing);
	return db_end(db, r < 0 ? r : 0, err);
}

int deis_db_app_create(struct deis_db *db, const char *name,
		       const char *owner, struct deis_error *err)
{
	char summary[512];
	int r = db_begin(db, err);

	if (r < 0)
		return r;
	r = db_user_ensure(db, owner, -1, err);
	if (r == 0)
		r = db_exec(db, err, "INSERT INTO apps (name, owner) VALUES ($1, $2)", name, owner);
	if (r == -EEXIST)
		deis_error_set(err, EEXIST, "app '%s' already exists", name);
	snprintf(summary, sizeof(summary), "%s created initial release", owner);
	if (r == 0)
		r = db_exec(db, err, "INSERT INTO releases (app_id, version, owner, summary)"
			    " SELECT id, 1, $2, $3 FROM apps WHERE name = $1", name, owner, summary);
	return db_end(db, r, err);
}

int deis_db_app_destroy(struct deis_db *db, const char *name,
			struct deis_error *err)
{
	char appid[DB_ID_LEN];
	int r = db_app_begin(db, name, DB_OWNER, appid, err);

	if (r < 0)
		return r;
	/* Releases refer to builds; drop them first, then the cascade. */
	r = db_exec(db, err, "DELETE FROM releases WHERE app_id = $1", appid);
	if (r == 0)
		r = db_exec(db, err, "DELETE FROM apps WHERE id = $1", appid);
	return db_end(db, r, err);
}

/* ---- formation, domains, drains: lists of rows ---- */

static const struct db_list_rows formation_rows = DB_LIST_ROWS("formation",
	"INSERT INTO formation (app_id, type, quantity) VALUES ($1, $2, $3)", 3);
static const struct db_list_rows domains_rows = DB_LIST_ROWS("domains",
	"INSERT INTO domains (domain, app_id, position) VALUES ($2, $1, $3)", 3);
static const struct db_list_rows drains_rows = DB_LIST_ROWS("drains",
	"INSERT INTO drains (app_id, url, position) VALUES ($1, $2, $3)"
	" ON CONFLICT DO NOTHING", 3);

/* A list's rows (db_list_rows) replaced by items or pairs, in the
 * caller's transaction with the app row locked. */
static int replace_rows(struct deis_db *db, const char *appid,
			const struct db_list_rows *rows, const struct deis_strlist *items,
			const struct deis_kvlist *pairs, struct deis_error *err)
{
	size_t n = pairs ? pairs->n : items->n;
	char pos[24];
	int r = db_exec(db, err, rows->del, appid);

	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *item = pairs ? pairs->items[i].key : items->items[i];
		snprintf(pos, sizeof(pos), "%zu", i);
		const char *params[] = { appid, item, pairs ? pairs->items[i].value : pos };
		r = db_status(db_count(db_run(db, rows->ins, rows->nparams, params, err), err));
		if (r == -EEXIST)
			deis_error_set(err, EEXIST, "'%s' is already used by another app", item);
	}
	if (r == 0)
		r = db_exec(db, err, rows->mtime, appid);
	return r;
}

/* Every type of f is one of the current build's process types (any,
 * before the first build). */
static int check_types(struct deis_db *db, const char *appid, const struct deis_kvlist *f,
		       struct deis_error *err)
{
	struct deis_kvlist types = DEIS_KVLIST_INIT;
	PGresult *res = db_query(db, err, "SELECT b.procfile::text FROM releases r JOIN builds b"
				 " ON b.id = r.build_id WHERE r.app_id = $1"
				 " ORDER BY r.version DESC LIMIT 1", appid);
	int r = res ? 0 : -err->code;

	if (res && PQntuples(res)) {
		r = db_json_to_kv(PQgetvalue(res, 0, 0), &types, err);
		if (r < 0)
			deis_error_prefix(err, "the current build's Procfile");
		for (size_t i = 0; r == 0 && i < f->n; i++)
			if (!deis_kvlist_get(&types, f->items[i].key))
				r = deis_error_set(err, EINVAL, "formation: process type '%s' "
						   "is not in the current build's Procfile",
						   f->items[i].key);
	}
	deis_kvlist_clear(&types);
	PQclear(res);
	return r;
}

int deis_db_formation_set(struct deis_db *db, const char *app,
			  const struct deis_kvlist *f, struct deis_error *err)
{
	struct deis_usage before;
	char appid[DB_ID_LEN];
	int r = db_app_begin(db, app, DB_ANY_USER, appid, err);

	if (r < 0)
		return r;
	r = check_types(db, appid, f, err);
	if (r == 0)
		r = db_app_usage(db, appid, &before, err);
	if (r == 0)
		r = replace_rows(db, appid, &formation_rows, NULL, f, err);
	if (r == 0)
		r = db_admit(db, appid, &before, err);
	return db_end(db, r, err);
}

int db_set_rows(struct deis_db *db, const char *app, enum db_app_right right,
		const struct db_list_rows *rows, const struct deis_strlist *items,
		struct deis_error *err)
{
	char appid[DB_ID_LEN];
	int r = db_app_begin(db, app, right, appid, err);

	if (r < 0)
		return r;
	r = replace_rows(db, appid, rows, items, NULL, err);
	return db_end(db, r, err);
}

int deis_db_domains_set(struct deis_db *db, const char *app,
			const struct deis_strlist *d, struct deis_error *err)
{
	char appid[DB_ID_LEN];
	struct deis_buf arr = DEIS_BUF_INIT;
	int r = db_app_begin(db, app, DB_ANY_USER, appid, err);

	if (r < 0)
		return r;
	r = db_lock(db, DB_LOCK_DOMAINS, err);
	/* A name belongs to one app, and so does every name a wildcard
	 * ("*.S": any name ending in ".S") claims; the primary key covers
	 * equal names only.  Domains are [a-z0-9.*-]: safe in an array
	 * literal, quoted all the same. */
	deis_buf_addch(&arr, '{');
	for (size_t i = 0; i < d->n; i++)
		deis_buf_addf(&arr, "%s\"%s\"", i ? "," : "", d->items[i]);
	deis_buf_addch(&arr, '}');
	PGresult *res = r < 0 ? NULL :
		db_query(db, err, "SELECT n.d, o.domain FROM unnest($2::text[]) AS n(d)"
			 " JOIN domains o ON o.app_id <> $1 AND (o.domain = n.d"
			 " OR (left(n.d, 2) = '*.' AND length(o.domain) > length(n.d) - 1"
			 "     AND right(o.domain, length(n.d) - 1) = substr(n.d, 2))"
			 " OR (left(o.domain, 2) = '*.' AND length(n.d) > length(o.domain) - 1"
			 "     AND right(n.d, length(o.domain) - 1) = substr(o.domain, 2)))"
			 " LIMIT 1", appid, arr.data);
	deis_buf_release(&arr);
	if (!res)
		return db_end(db, -err->code, err);
	if (PQntuples(res)) {
		r = deis_error_set(err, EEXIST, "domain '%s' overlaps '%s' of another app",
				   PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		PQclear(res);
		return db_end(db, r, err);
	}
	PQclear(res);
	r = replace_rows(db, appid, &domains_rows, d, NULL, err);
	if (r == -EEXIST)
		deis_error_prefix(err, "domain");
	return db_end(db, r, err);
}

int deis_db_drains_set(struct deis_db *db, const char *app,
		       const struct deis_strlist *urls, struct deis_error *err)
{
	return db_set_rows(db, app, DB_ANY_USER, &drains_rows, urls, err);
}

int deis_db_load_drains(struct deis_db *db, struct deis_kvlist *out,
			struct deis_error *err)
{
	return db_rows_kv(db_select(db, err, "SELECT a.name, string_agg(d.url, E'\\n'"
				    " ORDER BY d.position) FROM drains d JOIN apps a"
				    " ON a.id = d.app_id GROUP BY a.name"), out, err);
}

int deis_db_app_names(struct deis_db *db, struct deis_strlist *out,
		      struct deis_error *err)
{
	return db_rows_list(db_select(db, err, "SELECT name FROM apps ORDER BY name"), out, err);
}

/* ---- certs: one statement each ---- */

int deis_db_cert_set(struct deis_db *db, const char *app, const char *domain,
		     const char *pem, int64_t not_after, struct deis_error *err)
{
	char na[32];

	snprintf(na, sizeof(na), "%lld", (long long)(not_after / 1000000));
	return db_app_exec(db, err, app, DB_ANY_USER, NULL,
			   "INSERT INTO certs (app_id, domain, pem, not_after)"
			   " VALUES ($1, $2, $3, to_timestamp($4::bigint))"
			   " ON CONFLICT (app_id, domain) DO UPDATE SET pem = EXCLUDED.pem,"
			   " not_after = EXCLUDED.not_after, updated = clock_timestamp()",
			   domain, pem, na);
}

int deis_db_cert_remove(struct deis_db *db, const char *app, const char *domain,
			struct deis_error *err)
{
	char missing[300];

	snprintf(missing, sizeof(missing), "no certificate for '%s'", domain);
	return db_app_exec(db, err, app, DB_ANY_USER, missing,
			   "DELETE FROM certs WHERE app_id = $1 AND domain = $2 RETURNING 1",
			   domain);
}
