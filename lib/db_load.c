/*
 * db_load.c - loading the model: every app (or one) with all its child
 * rows in one round trip, the users with their keys, the serials.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db_int.h"

/* ---- pipelines: several statements in one round trip ---- */

static void pl_send(struct deis_db *db, const char *sql, int nparams, ...)
{
	const char *params[4];
	va_list ap;

	va_start(ap, nparams);
	for (int i = 0; i < nparams && i < 4; i++)
		params[i] = va_arg(ap, const char *);
	va_end(ap);
	PQsendQueryParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

/* The next statement's result (the caller PQclear()s it), or NULL with err
 * filled: the first failure aborts the rest of the pipeline. */
static PGresult *pl_next(struct deis_db *db, struct deis_error *err)
{
	PGresult *res = PQgetResult(db->conn);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		if (st == PGRES_PIPELINE_ABORTED)
			deis_error_set(err, EIO, "database: pipeline aborted");
		else
			db_result_error(db, res, err);
		PQclear(res);
		return NULL;
	}
	/* each statement's results end with a NULL */
	PGresult *end = PQgetResult(db->conn);
	if (end)
		PQclear(end);
	return res;
}

/* Reads whatever is left up to the sync and leaves pipeline mode; a
 * failed pipeline's transaction is rolled back. */
static void pl_end(struct deis_db *db)
{
	for (int nulls = 0; nulls < 64;) {
		PGresult *res = PQgetResult(db->conn);
		if (!res) {
			nulls++;
			continue;
		}
		ExecStatusType st = PQresultStatus(res);
		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC)
			break;
	}
	PQexitPipelineMode(db->conn);
	if (PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		PQclear(PQexec(db->conn, "ROLLBACK"));
}

/* ---- loading ---- */

/*
 * Loading one app and loading all of them are the same queries with an
 * optional filter ($1 NULL = all), so a reload after an event and the
 * start-up load can never disagree.  Child rows come ordered by app id and
 * are matched to their app by a binary search over the app array.
 */
static struct deis_app *find_app(struct deis_app **apps, size_t n, long id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (apps[mid]->id == id)
			return apps[mid];
		if (apps[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The next result of a load pipeline: (app id, text) rows appended to the
 * string list at `field` of each app (domains, perms, drains). */
static int load_strlist(struct deis_db *db, struct deis_app **apps, size_t n,
			size_t field, struct deis_error *err)
{
	PGresult *res = pl_next(db, err);

	if (!res)
		return -err->code;
	for (int i = 0; i < PQntuples(res); i++) {
		struct deis_app *a = find_app(apps, n, col_long(res, i, 0));
		if (a)
			deis_strlist_add((struct deis_strlist *)((char *)a + field),
					 PQgetvalue(res, i, 1));
	}
	PQclear(res);
	return 0;
}

/*
 * The statements of a load, in the order their results are read: each
 * once for one app (prepared; $1 the name, and for releases $2 the newest
 * version already held) and once for all apps.
 */
#define ONE " JOIN apps a ON a.id = t.app_id WHERE a.name = $1"

static const struct {
	const char *one;
	const char *all;
	int nparams;
} load_stmts[] = {
#define APPS_Q "SELECT id, name, owner, serial, " US("created") ", " US("updated") \
	", healthcheck::text, maintenance, " US("formation_mtime") ", " \
	US("domains_mtime") ", " US("perms_mtime") ", " US("healthcheck_mtime") \
	", " US("maintenance_mtime") ", " US("drains_mtime") " FROM apps"
	{ APPS_Q " WHERE name = $1", APPS_Q " ORDER BY id", 1 },
#define BUILDS_Q "SELECT t.app_id, t.id, t.number, t.owner, t.commit, t.status, t.image," \
	" t.procfile::text, " US("t.created") ", " US("t.finished") " FROM builds t"
	{ BUILDS_Q ONE " ORDER BY t.number", BUILDS_Q " ORDER BY t.app_id, t.number", 1 },
#define RELEASES_Q "SELECT t.app_id, t.version, t.owner, t.summary, t.build_id," \
	" coalesce(b.number, 0), t.config::text, t.limits::text, " US("t.created") \
	" FROM releases t LEFT JOIN builds b ON b.id = t.build_id"
	{ RELEASES_Q ONE " AND t.version > $2::int ORDER BY t.version",
	  RELEASES_Q " ORDER BY t.app_id, t.version", 2 },
#define FORMATION_Q "SELECT t.app_id, t.type, t.quantity FROM formation t"
	{ FORMATION_Q ONE " ORDER BY t.type", FORMATION_Q " ORDER BY t.app_id, t.type", 1 },
#define DOMAINS_Q "SELECT t.app_id, t.domain FROM domains t"
	{ DOMAINS_Q ONE " ORDER BY t.position", DOMAINS_Q " ORDER BY t.app_id, t.position", 1 },
#define PERMS_Q "SELECT t.app_id, t.username FROM perms t"
	{ PERMS_Q ONE " ORDER BY t.username", PERMS_Q " ORDER BY t.app_id, t.username", 1 },
#define CONTAINERS_Q "SELECT t.app_id, t.name, t.type, t.number, t.state, t.release, t.node," \
	" t.port, " US("t.started") ", t.restarts, " US("t.updated") ", t.instance, t.seq," \
	" t.command, t.desired, t.address FROM containers t"
	{ CONTAINERS_Q ONE " ORDER BY t.type, t.number, t.seq DESC",
	  CONTAINERS_Q " ORDER BY t.app_id, t.type, t.number, t.seq DESC", 1 },
#define DRAINS_Q "SELECT t.app_id, t.url FROM drains t"
	{ DRAINS_Q ONE " ORDER BY t.position", DRAINS_Q " ORDER BY t.app_id, t.position", 1 },
#define CERTS_Q "SELECT t.app_id, t.domain, t.pem, " US("t.not_after") ", " \
	US("t.updated") " FROM certs t"
	{ CERTS_Q ONE " ORDER BY t.domain", CERTS_Q " ORDER BY t.app_id, t.domain", 1 },
#define ROLLOUTS_Q "SELECT t.app_id, t.version, t.state, t.reason, " US("t.updated") \
	" FROM rollouts t"
	{ ROLLOUTS_Q ONE " ORDER BY t.version", ROLLOUTS_Q " ORDER BY t.app_id, t.version", 1 },
};
#define NLOAD (sizeof(load_stmts) / sizeof(*load_stmts))

int deis_db_load_apps(struct deis_db *db, const char *only,
		      const struct deis_app *prev,
		      struct deis_app ***out, size_t *nout,
		      struct deis_error *err)
{
	struct deis_app **apps = NULL;
	size_t n = 0;
	bool redo = false;
	PGresult *res;
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	/* Releases never change: with prev (the same app as loaded before),
	 * share its releases and read only the newer ones. */
	char after[16] = "0";
	const char *after_p = NULL;
	if (prev && only && prev->nreleases) {
		snprintf(after, sizeof(after), "%d", prev->releases[prev->nreleases - 1]->version);
		after_p = after;
	}
	/* Every query in one round trip, in a repeatable-read snapshot so
	 * the rows of one app agree.  For one app the statements are
	 * prepared once per connection: planning them each time cost more
	 * than running them. */
	if (only && !db->prepared) {
		for (size_t i = 0; i < NLOAD; i++) {
			char name[16];
			snprintf(name, sizeof(name), "load%zu", i);
			PGresult *p = PQprepare(db->conn, name, load_stmts[i].one,
						load_stmts[i].nparams, NULL);
			ExecStatusType st = PQresultStatus(p);
			if (st != PGRES_COMMAND_OK) {
				r = db_result_error(db, p, err);
				PQclear(p);
				return r;
			}
			PQclear(p);
		}
		db->prepared = true;
	}
	if (!PQenterPipelineMode(db->conn))
		return deis_error_set(err, EIO, "database: cannot enter pipeline mode");
	pl_send(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0);
	for (size_t i = 0; i < NLOAD; i++) {
		if (only) {
			const char *params[2] = { only, after_p ? after_p : "0" };
			char name[16];
			snprintf(name, sizeof(name), "load%zu", i);
			PQsendQueryPrepared(db->conn, name, load_stmts[i].nparams, params,
					    NULL, NULL, 0);
		} else {
			pl_send(db, load_stmts[i].all, 0);
		}
	}
	pl_send(db, "COMMIT", 0);
	PQpipelineSync(db->conn);
	res = pl_next(db, err);		/* BEGIN */
	if (!res)
		goto fail;
	PQclear(res);

	res = pl_next(db, err);
	if (!res)
		goto fail;
	n = (size_t)PQntuples(res);
	apps = calloc(n ? n : 1, sizeof(*apps));
	if (!apps)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct deis_app *a = calloc(1, sizeof(*a));
		if (!a)
			abort();
		apps[i] = a;
		a->refs = 1;
		a->id = col_long(res, (int)i, 0);
		a->name = col_str(res, (int)i, 1);
		a->owner = col_str(res, (int)i, 2);
		a->serial = col_long(res, (int)i, 3);
		a->created = col_us(res, (int)i, 4);
		a->updated = col_us(res, (int)i, 5);
		if (db_json_to_kv(PQgetvalue(res, (int)i, 6), 1, &a->healthcheck, err) < 0) {
			PQclear(res);
			goto fail;
		}
		a->maintenance = PQgetvalue(res, (int)i, 7)[0] == 't';
		a->formation_mtime = col_us(res, (int)i, 8);
		a->domains_mtime = col_us(res, (int)i, 9);
		a->perms_mtime = col_us(res, (int)i, 10);
		a->healthcheck_mtime = col_us(res, (int)i, 11);
		a->maintenance_mtime = col_us(res, (int)i, 12);
		a->drains_mtime = col_us(res, (int)i, 13);
	}
	PQclear(res);

	/* Builds before releases: a release refers to its build's number. */
	res = pl_next(db, err);
	if (!res)
		goto fail;
	for (int i = 0; i < PQntuples(res); i++) {
		struct deis_app *a = find_app(apps, n, col_long(res, i, 0));
		if (!a)
			continue;
		struct deis_build *b = realloc(a->builds, (a->nbuilds + 1) * sizeof(*b));
		if (!b)
			abort();
		a->builds = b;
		b = &a->builds[a->nbuilds++];
		memset(b, 0, sizeof(*b));
		b->id = col_long(res, i, 1);
		b->number = (int)col_long(res, i, 2);
		b->owner = col_str(res, i, 3);
		b->commit = col_str(res, i, 4);
		b->status = col_str(res, i, 5);
		b->image = col_str(res, i, 6);
		b->created = col_us(res, i, 8);
		b->finished = col_us(res, i, 9);
		if (db_json_to_kv(PQgetvalue(res, i, 7), 0, &b->procfile, err) < 0) {
			PQclear(res);
			goto fail;
		}
	}
	PQclear(res);

	if (prev && n == 1 && apps[0]->id == prev->id && prev->nreleases) {
		struct deis_app *a = apps[0];
		a->releases = malloc(prev->nreleases * 2 * sizeof(*a->releases));
		if (!a->releases)
			abort();
		for (size_t i = 0; i < prev->nreleases; i++) {
			__atomic_add_fetch(&prev->releases[i]->refs, 1, __ATOMIC_ACQ_REL);
			a->releases[i] = prev->releases[i];
		}
		a->nreleases = prev->nreleases;
		a->releases_cap = prev->nreleases * 2;
	} else if (after_p) {
		/* Not the app prev was (destroyed and made again): read it
		 * whole, without prev. */
		redo = true;
		goto fail;
	}
	res = pl_next(db, err);
	if (!res)
		goto fail;
	for (int i = 0; i < PQntuples(res); i++) {
		struct deis_app *a = find_app(apps, n, col_long(res, i, 0));
		if (!a)
			continue;
		if (a->nreleases == a->releases_cap) {
			/* grow geometrically: apps may have thousands */
			a->releases_cap = a->releases_cap ? a->releases_cap * 2 : 4;
			struct deis_release **rs = realloc(a->releases,
							   a->releases_cap * sizeof(*rs));
			if (!rs)
				abort();
			a->releases = rs;
		}
		struct deis_release *rel = calloc(1, sizeof(*rel));
		if (!rel)
			abort();
		rel->refs = 1;
		a->releases[a->nreleases++] = rel;
		rel->version = (int)col_long(res, i, 1);
		rel->owner = col_str(res, i, 2);
		rel->summary = col_str(res, i, 3);
		rel->build_id = col_long(res, i, 4);
		rel->build_number = (int)col_long(res, i, 5);
		if (db_json_to_kv(PQgetvalue(res, i, 6), 0, &rel->config, err) < 0 ||
		    db_json_to_kv(PQgetvalue(res, i, 7), 0, &rel->limits, err) < 0) {
			PQclear(res);
			goto fail;
		}
		rel->created = col_us(res, i, 8);
	}
	PQclear(res);

	res = pl_next(db, err);
	if (!res)
		goto fail;
	for (int i = 0; i < PQntuples(res); i++) {
		struct deis_app *a = find_app(apps, n, col_long(res, i, 0));
		if (a)
			deis_kvlist_set(&a->formation, PQgetvalue(res, i, 1),
					PQgetvalue(res, i, 2));
	}
	PQclear(res);

	if (load_strlist(db, apps, n, offsetof(struct deis_app, domains), err) < 0)
		goto fail;

	if (load_strlist(db, apps, n, offsetof(struct deis_app, perms), err) < 0)
		goto fail;

	res = pl_next(db, err);
	if (!res)
		goto fail;
	for (int i = 0; i < PQntuples(res); i++) {
		struct deis_app *a = find_app(apps, n, col_long(res, i, 0));
		if (!a)
			continue;
		struct deis_container *ct = realloc(a->containers,
						    (a->ncontainers + 1) * sizeof(*ct));
		if (!ct)
			abort();
		a->containers = ct;
		ct = &a->containers[a->ncontainers++];
		ct->name = col_str(res, i, 1);
		ct->type = col_str(res, i, 2);
		ct->number = (int)col_long(res, i, 3);
		ct->state = col_str(res, i, 4);
		ct->release = (int)col_long(res, i, 5);
		ct->node = col_str(res, i, 6);
		ct->port = (int)col_long(res, i, 7);
		ct->started = col_us(res, i, 8);
		ct->restarts = (int)col_long(res, i, 9);
		ct->updated = col_us(res, i, 10);
		ct->instance = col_str(res, i, 11);
		ct->seq = col_long(res, i, 12);
		ct->command = col_str(res, i, 13);
		ct->desired = col_str(res, i, 14);
		ct->address = col_str(res, i, 15);
	}
	PQclear(res);

	if (load_strlist(db, apps, n, offsetof(struct deis_app, drains), err) < 0)
		goto fail;

	res = pl_next(db, err);
	if (!res)
		goto fail;
	for (int i = 0; i < PQntuples(res); i++) {
		struct deis_app *a = find_app(apps, n, col_long(res, i, 0));
		if (!a)
			continue;
		struct deis_cert *c = realloc(a->certs, (a->ncerts + 1) * sizeof(*c));
		if (!c)
			abort();
		a->certs = c;
		c = &a->certs[a->ncerts++];
		c->domain = col_str(res, i, 1);
		c->pem = col_str(res, i, 2);
		c->not_after = col_us(res, i, 3);
		c->updated = col_us(res, i, 4);
	}
	PQclear(res);

	res = pl_next(db, err);
	if (!res)
		goto fail;
	for (int i = 0; i < PQntuples(res); i++) {
		struct deis_app *a = find_app(apps, n, col_long(res, i, 0));
		if (!a)
			continue;
		struct deis_rollout *ro = realloc(a->rollouts,
						  (a->nrollouts + 1) * sizeof(*ro));
		if (!ro)
			abort();
		a->rollouts = ro;
		ro = &a->rollouts[a->nrollouts++];
		ro->version = (int)col_long(res, i, 1);
		ro->state = col_str(res, i, 2);
		ro->reason = col_str(res, i, 3);
		ro->updated = col_us(res, i, 4);
	}
	PQclear(res);

	res = pl_next(db, err);		/* COMMIT */
	if (!res)
		goto fail;
	r = db_committed(res, err);
	PQclear(res);
	if (r < 0)
		goto fail;
	pl_end(db);
	*out = apps;
	*nout = n;
	return 0;

fail:
	pl_end(db);
	for (size_t i = 0; i < n; i++)
		deis_app_free(apps[i]);
	free(apps);
	if (redo)
		return deis_db_load_apps(db, only, NULL, out, nout, err);
	return -err->code;
}

int deis_db_load_users(struct deis_db *db, const char *only,
		       struct deis_user ***out, size_t *nout,
		       struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	r = db_exec(db, err, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (r < 0)
		return r;
	PGresult *res = db_query(db, err, "SELECT id, name, uid, " US("created") ", "
				 US("updated") ", serial FROM users"
				 " WHERE ($1::text IS NULL OR name = $1) ORDER BY id", only);
	if (!res)
		return db_rollback(db, -err->code);
	size_t n = (size_t)PQntuples(res);
	struct deis_user **users = calloc(n ? n : 1, sizeof(*users));
	if (!users)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct deis_user *u = calloc(1, sizeof(*u));
		if (!u)
			abort();
		users[i] = u;
		u->id = col_long(res, (int)i, 0);
		u->name = col_str(res, (int)i, 1);
		u->uid = (int)col_long(res, (int)i, 2);
		u->created = col_us(res, (int)i, 3);
		u->updated = col_us(res, (int)i, 4);
		u->serial = col_long(res, (int)i, 5);
	}
	PQclear(res);
	res = db_query(db, err, "SELECT k.user_id, k.name, k.type, k.data, k.fingerprint, "
		       US("k.created") " FROM keys k JOIN users u ON u.id = k.user_id"
		       " WHERE ($1::text IS NULL OR u.name = $1) ORDER BY k.user_id, k.name", only);
	if (!res) {
		for (size_t i = 0; i < n; i++)
			deis_user_free(users[i]);
		free(users);
		return db_rollback(db, -err->code);
	}
	for (int i = 0; i < PQntuples(res); i++) {
		long uid = col_long(res, i, 0);
		struct deis_user *u = NULL;
		for (size_t j = 0; j < n && !u; j++)
			if (users[j]->id == uid)
				u = users[j];
		if (!u)
			continue;
		struct deis_key *k = realloc(u->keys, (u->nkeys + 1) * sizeof(*k));
		if (!k)
			abort();
		u->keys = k;
		k = &u->keys[u->nkeys++];
		k->name = col_str(res, i, 1);
		k->type = col_str(res, i, 2);
		k->data = col_str(res, i, 3);
		k->fingerprint = col_str(res, i, 4);
		k->created = col_us(res, i, 5);
	}
	PQclear(res);
	r = db_commit(db, err);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			deis_user_free(users[i]);
		free(users);
		return r;
	}
	*out = users;
	*nout = n;
	return 0;
}

int deis_db_serials(struct deis_db *db, struct deis_kvlist *out,
		    struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	PGresult *res = db_query(db, err, "SELECT name, serial FROM apps UNION ALL"
				 " SELECT '~' || name, serial FROM users");
	if (!res)
		return -err->code;
	for (int i = 0; i < PQntuples(res); i++)
		deis_kvlist_set(out, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	PQclear(res);
	return 0;
}
