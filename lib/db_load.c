/*
 * db_load.c - loading the model: every app (or one) with all its child
 * rows in one round trip, the users with their keys, the serials.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db_int.h"

/* ---- pipelines: several statements in one round trip ---- */

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

/* ---- what a load reads: one row per step, in the order it is read ---- */

/* Appends an element to the array arr of n elements; returns it (the
 * caller sets it whole). */
#define APPEND(arr, n) \
	((arr) = grow((arr), (n) + 1, sizeof(*(arr))), &(arr)[(n)++])

static void *grow(void *p, size_t n, size_t size)
{
	p = realloc(p, n * size);
	if (!p)
		abort();
	return p;
}

/*
 * An entity's plain columns (its DEIS_*_FIELDS list, include/deis/model.h)
 * after the app's id: each names its field (and column of table t) and
 * how it decodes, so that the SELECT list and the decoder are made from
 * one list and cannot drift apart.
 */
#define COL_SQL(field, kind) ", " COL_SQL_##kind("t." #field)
#define COL_SQL_STR(c) c
#define COL_SQL_INT(c) c
#define COL_SQL_LONG(c) c
#define COL_SQL_US(c) US(c)
#define COL_DECODE(field, kind) e->field = COL_##kind(res, i, ++col);
#define COL_STR col_str
#define COL_INT (int)col_long
#define COL_LONG col_long
#define COL_US col_us

/* The decoder of rows that are an array of the app, one element a row. */
#define DECODE_ROWS(name, type, arr, n, COLS) \
	static int name(struct deis_app *a, PGresult *res, int i, struct deis_error *err) \
	{ \
		type *e = memset(APPEND(a->arr, a->n), 0, sizeof(type)); \
		int col = 0; \
		COLS(COL_DECODE) \
		return 0; \
	}

static int decode_app(struct deis_app *e, PGresult *res, int i, struct deis_error *err)
{
	int col = 0;

	DEIS_APP_FIELDS(COL_DECODE)
	return 0;
}

static int decode_build(struct deis_app *a, PGresult *res, int i, struct deis_error *err)
{
	struct deis_build *b = APPEND(a->builds, a->nbuilds);

	*b = (struct deis_build){
		.id = col_long(res, i, 1),
		.number = (int)col_long(res, i, 2),
		.owner = col_str(res, i, 3),
		.commit = col_str(res, i, 4),
		.status = col_str(res, i, 5),
		.image = col_str(res, i, 6),
		.created = col_us(res, i, 8),
		.finished = col_us(res, i, 9),
	};
	if (db_json_to_kv(PQgetvalue(res, i, 7), &b->procfile, err) < 0)
		return deis_error_prefix(err, "build %d", b->number);
	return 0;
}

static int decode_release(struct deis_app *a, PGresult *res, int i, struct deis_error *err)
{
	struct deis_release *rel = calloc(1, sizeof(*rel));

	if (!rel)
		abort();
	if (a->nreleases == a->releases_cap) {
		/* grow geometrically: apps may have thousands */
		a->releases_cap = a->releases_cap ? a->releases_cap * 2 : 4;
		a->releases = grow(a->releases, a->releases_cap, sizeof(*a->releases));
	}
	a->releases[a->nreleases++] = rel;
	rel->refs = 1;
	rel->version = (int)col_long(res, i, 1);
	rel->owner = col_str(res, i, 2);
	rel->summary = col_str(res, i, 3);
	rel->build_id = col_long(res, i, 4);
	rel->build_number = (int)col_long(res, i, 5);
	rel->created = col_us(res, i, 8);
	if (db_json_to_kv(PQgetvalue(res, i, 6), &rel->config, err) < 0 ||
	    db_json_to_kv(PQgetvalue(res, i, 7), &rel->limits, err) < 0)
		return deis_error_prefix(err, "release v%d", rel->version);
	return 0;
}

static int decode_formation(struct deis_app *a, PGresult *res, int i, struct deis_error *err)
{
	deis_kvlist_set(&a->formation, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
	return 0;
}

/* domains, perms, drains: column 1 added to a string list of the app. */
#define DECODE_STRLIST(name, list) \
	static int name(struct deis_app *a, PGresult *res, int i, struct deis_error *err) \
	{ \
		deis_strlist_add(&a->list, PQgetvalue(res, i, 1)); \
		return 0; \
	}
DECODE_STRLIST(decode_domain, domains)
DECODE_STRLIST(decode_perm, perms)
DECODE_STRLIST(decode_drain, drains)

DECODE_ROWS(decode_container, struct deis_container, containers, ncontainers,
	    DEIS_CONTAINER_FIELDS)
DECODE_ROWS(decode_cert, struct deis_cert, certs, ncerts, DEIS_CERT_FIELDS)
DECODE_ROWS(decode_rollout, struct deis_rollout, rollouts, nrollouts, DEIS_ROLLOUT_FIELDS)

/* An app_settings row (lib/settings.c's table names the settings). */
static int decode_setting(struct deis_app *a, PGresult *res, int i, struct deis_error *err)
{
	deis_app_setting_put(a, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), col_us(res, i, 3));
	return 0;
}

/*
 * The steps of a load, in the order their results are read; each its
 * statement and how one of its rows fills an app, so the two cannot
 * drift apart.  `one` reads one app ($1 its name; $2, where the text
 * names it, the newest release already held) and is prepared once per
 * connection; `all` reads every app.  The first column of every row is
 * the app's id.  The first step reads the apps themselves: its rows make
 * the array the rows of the others are matched against (ordered by app
 * id, by a binary search).
 *
 * A new loaded entity is one STEP row here and its decode function (for
 * plain columns, a column list and DECODE_ROWS).
 */
static const struct load_step {
	const char *one;
	const char *all;
	db_decode_fn *decode;
} load_steps[] = {
#define APPS_Q "SELECT t.id" DEIS_APP_FIELDS(COL_SQL) " FROM apps t"
	{ APPS_Q " WHERE t.name = $1", APPS_Q " ORDER BY t.id", decode_app },
/* A child table's step: select reads table t (t.app_id first); filter
 * narrows the one app's rows; order sorts the rows of an app. */
#define STEP(select, filter, order, decode) \
	{ select " JOIN apps a ON a.id = t.app_id WHERE a.name = $1" filter \
	  " ORDER BY " order, select " ORDER BY t.app_id, " order, decode }
	STEP("SELECT t.app_id, t.id, t.number, t.owner, t.commit, t.status, t.image,"
	     " t.procfile::text, " US("t.created") ", " US("t.finished") " FROM builds t",
	     "", "t.number", decode_build),
	STEP("SELECT t.app_id, t.version, t.owner, t.summary, t.build_id,"
	     " coalesce(b.number, 0), t.config::text, t.limits::text, " US("t.created")
	     " FROM releases t LEFT JOIN builds b ON b.id = t.build_id",
	     " AND t.version > $2::int", "t.version", decode_release),
	STEP("SELECT t.app_id, t.type, t.quantity FROM formation t",
	     "", "t.type", decode_formation),
	STEP("SELECT t.app_id, t.domain FROM domains t", "", "t.position", decode_domain),
	STEP("SELECT t.app_id, t.username FROM perms t", "", "t.username", decode_perm),
	STEP("SELECT t.app_id" DEIS_CONTAINER_FIELDS(COL_SQL) " FROM containers t",
	     "", "t.type, t.number, t.seq DESC", decode_container),
	STEP("SELECT t.app_id, t.url FROM drains t", "", "t.position", decode_drain),
	STEP("SELECT t.app_id" DEIS_CERT_FIELDS(COL_SQL) " FROM certs t", "", "t.domain",
	     decode_cert),
	STEP("SELECT t.app_id" DEIS_ROLLOUT_FIELDS(COL_SQL) " FROM rollouts t", "", "t.version",
	     decode_rollout),
	STEP("SELECT t.app_id, t.name, t.value, " US("t.mtime") " FROM app_settings t",
	     "", "t.name", decode_setting),
#undef STEP
};
#define NSTEPS (sizeof(load_steps) / sizeof(*load_steps))

/* ---- loading ---- */

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

/* The parameters a step's `one` statement takes: those its text names. */
static int step_nparams(const struct load_step *s)
{
	return strstr(s->one, "$2") ? 2 : 1;
}

/* Prepares the steps' `one` statements on this connection, once. */
static int prepare_steps(struct deis_db *db, struct deis_error *err)
{
	char name[16];

	for (size_t i = 0; !db->prepared && i < NSTEPS; i++) {
		snprintf(name, sizeof(name), "load%zu", i);
		PGresult *p = PQprepare(db->conn, name, load_steps[i].one,
					step_nparams(&load_steps[i]), NULL);
		int r = PQresultStatus(p) == PGRES_COMMAND_OK ? 0 : db_result_error(db, p, err);
		PQclear(p);
		if (r < 0)
			return r;
	}
	db->prepared = true;
	return 0;
}

/* Sends every step in one pipeline, in one repeatable-read snapshot so
 * the rows of one app agree; params (NULL: every app) for `one`. */
static int send_steps(struct deis_db *db, const char *const *params, struct deis_error *err)
{
	char name[16];

	if (!PQenterPipelineMode(db->conn))
		return deis_error_set(err, EIO, "database: cannot enter pipeline mode");
	PQsendQueryParams(db->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
			  0, NULL, NULL, NULL, NULL, 0);
	for (size_t i = 0; i < NSTEPS; i++) {
		snprintf(name, sizeof(name), "load%zu", i);
		if (params)
			PQsendQueryPrepared(db->conn, name, step_nparams(&load_steps[i]),
					    params, NULL, NULL, 0);
		else
			PQsendQueryParams(db->conn, load_steps[i].all, 0, NULL, NULL, NULL,
					  NULL, 0);
	}
	PQsendQueryParams(db->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
	PQpipelineSync(db->conn);
	return 0;
}

/* The apps of the first step's result, each with its id (and refs). */
static struct deis_app **new_apps(PGresult *res, size_t *n)
{
	struct deis_app **apps;

	*n = (size_t)PQntuples(res);
	apps = calloc(*n ? *n : 1, sizeof(*apps));
	if (!apps)
		abort();
	for (size_t i = 0; i < *n; i++) {
		apps[i] = calloc(1, sizeof(**apps));
		if (!apps[i])
			abort();
		apps[i]->refs = 1;
		apps[i]->id = col_long(res, (int)i, 0);
	}
	return apps;
}

/* Each row of res into its app. */
static int decode_rows(const struct load_step *step, PGresult *res,
		       struct deis_app **apps, size_t n, struct deis_error *err)
{
	for (int i = 0; i < PQntuples(res); i++) {
		struct deis_app *a = find_app(apps, n, col_long(res, i, 0));
		if (a && step->decode(a, res, i, err) < 0)
			return deis_error_prefix(err, "loading app '%s'", a->name ? a->name : "?");
	}
	return 0;
}

/* Releases never change: a the same app as prev shares its releases (the
 * load read only the newer ones).  1 when a is another app of that name
 * (destroyed and made again): it must be read again, whole. */
static int share_releases(struct deis_app *a, const struct deis_app *prev)
{
	if (a->id != prev->id)
		return 1;
	a->releases = grow(NULL, prev->nreleases * 2, sizeof(*a->releases));
	for (size_t i = 0; i < prev->nreleases; i++) {
		__atomic_add_fetch(&prev->releases[i]->refs, 1, __ATOMIC_ACQ_REL);
		a->releases[i] = prev->releases[i];
	}
	a->nreleases = prev->nreleases;
	a->releases_cap = prev->nreleases * 2;
	return 0;
}

/*
 * Loading one app and loading all of them are the same steps with or
 * without the filter, so a reload after an event and the start-up load
 * can never disagree.  Every statement goes in one round trip; for one
 * app they are prepared once per connection (planning them each time
 * cost more than running them).
 */
int deis_db_load_apps(struct deis_db *db, const char *only,
		      const struct deis_app *prev,
		      struct deis_app ***out, size_t *nout,
		      struct deis_error *err)
{
	struct deis_app **apps = NULL;
	size_t n = 0;
	int redo = 0;
	char after[16] = "0";
	const char *params[2] = { only, after };
	int r = db_connect(db, err);

	if (!only || !prev || !prev->nreleases)
		prev = NULL;
	else
		snprintf(after, sizeof(after), "%d", prev->releases[prev->nreleases - 1]->version);
	if (r == 0 && only)
		r = prepare_steps(db, err);
	if (r == 0)
		r = send_steps(db, only ? params : NULL, err);
	if (r < 0)
		return r;
	PGresult *res = pl_next(db, err);	/* BEGIN */
	r = res ? 0 : -err->code;
	PQclear(res);
	for (size_t i = 0; r == 0 && i < NSTEPS; i++) {
		res = pl_next(db, err);
		if (!res) {
			r = -err->code;
			break;
		}
		if (i == 0)
			apps = new_apps(res, &n);
		r = decode_rows(&load_steps[i], res, apps, n, err);
		PQclear(res);
		if (r == 0 && i == 0 && prev && n == 1)
			r = redo = share_releases(apps[0], prev);
	}
	if (r == 0) {
		res = pl_next(db, err);		/* COMMIT */
		r = res ? db_committed(res, err) : -err->code;
		PQclear(res);
	}
	pl_end(db);
	if (r == 0) {
		*out = apps;
		*nout = n;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		deis_app_free(apps[i]);
	free(apps);
	if (redo)
		return deis_db_load_apps(db, only, NULL, out, nout, err);
	return r;
}

static void free_users(struct deis_user **users, size_t n)
{
	for (size_t i = 0; i < n; i++)
		deis_user_free(users[i]);
	free(users);
}

/* The users, then their keys, both ordered by the user's id, in one
 * repeatable-read snapshot. */
int deis_db_load_users(struct deis_db *db, const char *only,
		       struct deis_user ***out, size_t *nout,
		       struct deis_error *err)
{
	struct deis_user **users = NULL;
	size_t n = 0, u = 0;
	int r = db_connect(db, err);

	if (r == 0)
		r = db_exec(db, err, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (r < 0)
		return r;
	PGresult *res = db_query(db, err, "SELECT id, name, uid, " US("created") ", "
				 US("updated") ", serial FROM users"
				 " WHERE ($1::text IS NULL OR name = $1) ORDER BY id", only);
	if (!res)
		return db_rollback(db, -err->code);
	n = (size_t)PQntuples(res);
	users = grow(NULL, n ? n : 1, sizeof(*users));
	for (size_t i = 0; i < n; i++) {
		users[i] = calloc(1, sizeof(**users));
		if (!users[i])
			abort();
		users[i]->id = col_long(res, (int)i, 0);
		users[i]->name = col_str(res, (int)i, 1);
		users[i]->uid = (int)col_long(res, (int)i, 2);
		users[i]->created = col_us(res, (int)i, 3);
		users[i]->updated = col_us(res, (int)i, 4);
		users[i]->serial = col_long(res, (int)i, 5);
	}
	PQclear(res);
	res = db_query(db, err, "SELECT k.user_id, k.name, k.type, k.data, k.fingerprint, "
		       US("k.created") " FROM keys k JOIN users u ON u.id = k.user_id"
		       " WHERE ($1::text IS NULL OR u.name = $1) ORDER BY k.user_id, k.name", only);
	for (int i = 0; res && i < PQntuples(res); i++) {
		long id = col_long(res, i, 0);
		while (u < n && users[u]->id < id)
			u++;
		if (u == n || users[u]->id != id)
			continue;
		*APPEND(users[u]->keys, users[u]->nkeys) = (struct deis_key){
			.name = col_str(res, i, 1),
			.type = col_str(res, i, 2),
			.data = col_str(res, i, 3),
			.fingerprint = col_str(res, i, 4),
			.created = col_us(res, i, 5),
		};
	}
	r = db_end(db, res ? 0 : -err->code, err);
	PQclear(res);
	if (r < 0) {
		free_users(users, n);
		return r;
	}
	*out = users;
	*nout = n;
	return 0;
}

int deis_db_serials(struct deis_db *db, struct deis_kvlist *out,
		    struct deis_error *err)
{
	return db_rows_kv(db_select(db, err, "SELECT name, serial FROM apps UNION ALL"
				    " SELECT '~' || name, serial FROM users"), out, err);
}
