/*
 * db_releases.c - releases (one per change of config, limits, build or a
 * rollback) and builds.
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

/* ---- releases ---- */

/* What a new release is made from: a release's row, then the change. */
struct release_row {
	int version;
	struct deis_kvlist config;
	struct deis_kvlist limits;
	char *build_id;			/* NULL: no build yet */
};

static void release_row_clear(struct release_row *rel)
{
	deis_kvlist_clear(&rel->config);
	deis_kvlist_clear(&rel->limits);
	free(rel->build_id);
	rel->build_id = NULL;
}

/* Replaces rel with release version of app appid (NULL: the newest):
 * 1, 0 when there is no such release, or < 0. */
static int release_get(struct deis_db *db, const char *appid, const char *version,
		       struct release_row *rel, struct deis_error *err)
{
	PGresult *res = version ?
		db_query(db, err, "SELECT version, config::text, limits::text, build_id"
			 " FROM releases WHERE app_id = $1 AND version = $2", appid, version) :
		db_query(db, err, "SELECT version, config::text, limits::text, build_id"
			 " FROM releases WHERE app_id = $1 ORDER BY version DESC LIMIT 1", appid);

	if (!res)
		return -err->code;
	if (!PQntuples(res)) {
		PQclear(res);
		return 0;
	}
	release_row_clear(rel);
	rel->version = (int)col_long(res, 0, 0);
	int r = db_json_to_kv(PQgetvalue(res, 0, 1), &rel->config, err);
	if (r == 0)
		r = db_json_to_kv(PQgetvalue(res, 0, 2), &rel->limits, err);
	if (r < 0)
		deis_error_prefix(err, "release v%d", rel->version);
	if (!PQgetisnull(res, 0, 3))
		rel->build_id = col_str(res, 0, 3);
	PQclear(res);
	return r < 0 ? r : 1;
}

/* Applies change c to rel and writes the summary. */
static int apply_release_change(struct deis_db *db, const char *appid,
				const char *who, const struct deis_release_change *c,
				struct release_row *rel, struct deis_buf *summary,
				struct deis_error *err)
{
	struct deis_kvlist before = DEIS_KVLIST_INIT;
	struct deis_kvlist *config = &rel->config, *limits = &rel->limits;

	switch (c->kind) {
	case DEIS_RELEASE_SET:
		deis_kvlist_copy(&before, config);
		deis_kvlist_set(config, c->key, c->value);
		deis_kvlist_sort(config);
		deis_release_summary(who, &before, config, summary);
		break;
	case DEIS_RELEASE_UNSET:
		if (!deis_kvlist_remove(config, c->key))
			return deis_error_set(err, ENOENT, "no config var '%s'", c->key);
		deis_buf_addf(summary, "%s removed %s", who, c->key);
		break;
	case DEIS_RELEASE_RENAME: {
		const char *v = deis_kvlist_get(config, c->key);
		if (!v)
			return deis_error_set(err, ENOENT, "no config var '%s'", c->key);
		if (!strcmp(c->key, c->new_key))
			break;
		char *val = strdup(v);
		deis_kvlist_remove(config, c->key);
		deis_kvlist_set(config, c->new_key, val);
		free(val);
		deis_kvlist_sort(config);
		deis_buf_addf(summary, "%s renamed %s to %s", who, c->key, c->new_key);
		break;
	}
	case DEIS_RELEASE_ENV:
		deis_kvlist_copy(&before, config);
		deis_kvlist_copy(config, c->vars);
		deis_kvlist_sort(config);
		deis_release_summary(who, &before, config, summary);
		break;
	case DEIS_RELEASE_LIMITS: {
		struct deis_kvlist sorted = DEIS_KVLIST_INIT;
		deis_kvlist_copy(&sorted, c->vars);
		deis_kvlist_sort(&sorted);
		if (!deis_kvlist_equal(&sorted, limits)) {
			deis_kvlist_copy(limits, &sorted);
			deis_buf_addf(summary, "%s changed limits", who);
		}
		deis_kvlist_clear(&sorted);
		break;
	}
	case DEIS_RELEASE_DEPLOY: {
		char num[16];
		snprintf(num, sizeof(num), "%d", c->version);
		PGresult *res = db_query(db, err, "SELECT id FROM builds WHERE app_id = $1 AND"
					 " number = $2 AND status = 'succeeded'", appid, num);
		if (!res)
			return -err->code;
		if (!PQntuples(res)) {
			PQclear(res);
			return deis_error_set(err, ENOENT, "no succeeded build %d", c->version);
		}
		free(rel->build_id);
		rel->build_id = col_str(res, 0, 0);
		PQclear(res);
		deis_buf_addf(summary, "%s deployed %s", who, c->key ? c->key : num);
		break;
	}
	case DEIS_RELEASE_ROLLBACK: {
		char ver[16];
		snprintf(ver, sizeof(ver), "%d", c->version);
		int found = release_get(db, appid, ver, rel, err);
		if (found <= 0)
			return found < 0 ? found :
				deis_error_set(err, ENOENT, "no release v%d", c->version);
		/* A rollback always makes a release, even to an equal one:
		 * the user asked for it and it belongs in the audit trail. */
		deis_buf_addf(summary, "%s rolled back to v%d", who, c->version);
		break;
	}
	}
	deis_kvlist_clear(&before);
	return 0;
}

/* A deploy's formation: drop types the build no longer has; the first
 * build (no formation at all) runs web=1, or its only type. */
static int deploy_formation(struct deis_db *db, const char *appid,
			    const char *build_id, struct deis_error *err)
{
	int r = db_exec(db, err, "DELETE FROM formation f USING builds b WHERE f.app_id = $1"
			" AND b.id = $2 AND NOT (b.procfile ? f.type)", appid, build_id);
	if (r < 0)
		return r;
	return db_exec(db, err, "INSERT INTO formation (app_id, type, quantity)"
		       " SELECT $1, t.type, 1 FROM builds b,"
		       " LATERAL (SELECT k AS type FROM jsonb_object_keys(b.procfile) k) t"
		       " WHERE b.id = $2 AND NOT EXISTS (SELECT 1 FROM formation WHERE app_id = $1)"
		       " AND (t.type = 'web' OR (NOT (b.procfile ? 'web') AND"
		       " (SELECT count(*) FROM jsonb_object_keys(b.procfile)) = 1))", appid, build_id);
}

/*
 * Makes the release of change in the open transaction of app (appid, its
 * row locked): *version is the new release, or 0 when the change changes
 * nothing.  The caller ends the transaction.
 */
static int release_in(struct deis_db *db, const char *app, const char *appid,
		      const char *who, const struct deis_release_change *change,
		      int *version, struct deis_error *err)
{
	struct release_row rel = { 0 };
	struct deis_buf summary = DEIS_BUF_INIT;
	char ver[16];
	int r = release_get(db, appid, NULL, &rel, err);

	*version = 0;
	if (r == 0)
		r = deis_error_set(err, EIO, "app '%s' has no release", app);
	int next = rel.version + 1;

	/* Limits, a rollback and a deploy may take more memory or
	 * containers: admitted below; config changes never do. */
	struct deis_usage before = { 0, 0 };
	bool weigh = change->kind == DEIS_RELEASE_LIMITS ||
		     change->kind == DEIS_RELEASE_ROLLBACK || change->kind == DEIS_RELEASE_DEPLOY;
	if (r > 0)
		r = weigh ? db_app_usage(db, appid, &before, err) : 0;
	if (r == 0)
		r = apply_release_change(db, appid, who, change, &rel, &summary, err);
	if (r == 0 && summary.len) {
		char *cj = db_kv_to_json(&rel.config, err);
		char *lj = cj ? db_kv_to_json(&rel.limits, err) : NULL;
		snprintf(ver, sizeof(ver), "%d", next);
		r = !lj ? -err->code :
			db_exec(db, err, "INSERT INTO releases (app_id, version, owner, summary,"
				" build_id, config, limits) VALUES ($1, $2, $3, $4, $5, $6, $7)",
				appid, ver, who, summary.data, rel.build_id, cj, lj);
		free(cj);
		free(lj);
		if (r == 0 && change->kind == DEIS_RELEASE_DEPLOY)
			r = deploy_formation(db, appid, rel.build_id, err);
		if (r == 0 && weigh)
			r = db_admit(db, appid, &before, err);
		if (r == 0)
			*version = next;
	}
	release_row_clear(&rel);
	deis_buf_release(&summary);
	return r;
}

int deis_db_release_create(struct deis_db *db, const char *app, const char *who,
			   const struct deis_release_change *change,
			   int *version, struct deis_error *err)
{
	char appid[DB_ID_LEN];
	int r = db_app_begin(db, app, DB_ANY_USER, appid, err);

	*version = 0;
	if (r < 0)
		return r;
	r = release_in(db, app, appid, who, change, version, err);
	if (r == 0 && *version == 0)
		return db_rollback(db, 0);	/* nothing changed: no release */
	r = db_end(db, r, err);
	if (r < 0)
		*version = 0;
	return r;
}

int deis_db_image_deploy(struct deis_db *db, const char *app, const char *who,
			 const char *image, const struct deis_kvlist *procfile,
			 const char *key, int *number, int *version,
			 struct deis_error *err)
{
	char appid[DB_ID_LEN];
	char *pj = db_kv_to_json(procfile, err);
	int r;

	*number = *version = 0;
	if (!pj)
		return -err->code;
	r = db_app_begin(db, app, DB_ANY_USER, appid, err);
	if (r < 0) {
		free(pj);
		return r;
	}
	PGresult *res = db_query(db, err, "INSERT INTO builds (app_id, number, owner, commit,"
				 " status, image, procfile, finished)"
				 " SELECT $1, coalesce(max(number), 0) + 1, $2, '', 'succeeded',"
				 " $3, $4, clock_timestamp() FROM builds WHERE app_id = $1"
				 " RETURNING number", appid, who, image, pj);
	free(pj);
	r = res ? 0 : -err->code;
	if (res) {
		*number = (int)col_long(res, 0, 0);
		PQclear(res);
	}
	if (r == 0) {
		struct deis_release_change deploy = { .kind = DEIS_RELEASE_DEPLOY,
						      .version = *number, .key = key };
		r = release_in(db, app, appid, who, &deploy, version, err);
	}
	if (r == 0 && *version == 0)
		r = deis_error_set(err, EIO, "deploying %s made no release", image);
	r = db_end(db, r, err);
	if (r < 0)
		*number = *version = 0;
	return r;
}

/* ---- builds ---- */

int deis_db_build_create(struct deis_db *db, const char *app, const char *owner,
			 const char *sha, int *number, struct deis_error *err)
{
	char appid[DB_ID_LEN];
	int r = db_app_begin(db, app, DB_ANY_USER, appid, err);

	if (r < 0)
		return r;
	PGresult *res = db_query(db, err, "INSERT INTO builds (app_id, number, owner, commit)"
				 " SELECT $1, coalesce(max(number), 0) + 1, $2, $3 FROM builds"
				 " WHERE app_id = $1 RETURNING number", appid, owner, sha);
	if (res) {
		*number = (int)col_long(res, 0, 0);
		PQclear(res);
	}
	return db_end(db, res ? 0 : -err->code, err);
}

int deis_db_build_finish(struct deis_db *db, const char *app, int number,
			 const char *status, const char *image,
			 const struct deis_kvlist *procfile, struct deis_error *err)
{
	char num[16];
	char *pj = db_kv_to_json(procfile, err);

	if (!pj)
		return -EINVAL;
	snprintf(num, sizeof(num), "%d", number);
	int r = db_app_exec(db, err, app, DB_ANY_USER, NULL,
			    "UPDATE builds SET status = $3, image = $4, procfile = $5,"
			    " finished = clock_timestamp() WHERE app_id = $1 AND number = $2",
			    num, status, image, pj);
	free(pj);
	return r;
}
