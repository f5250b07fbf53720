/*
 * db.c - the Database module: schema, migrations, loads and changes.
 *
 * Every SQL statement of the platform is in this file.  Parameters are
 * always bound, never spliced, and each statement is prepared once per
 * connection.  A change is one transaction that locks its app row first
 * (UPDATE apps ... RETURNING), so concurrent writers to one app serialise
 * and release numbers never collide, while writers to different apps never
 * wait for each other.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "deis/buf.h"
#include "deis/db.h"
#include "deis/validate.h"
#include "db_settings.h"

struct deis_db {
	PGconn *conn;
	char *conninfo;
	bool prepared;		/* the load statements, on this connection */
	/* Statements prepared on this connection, by the address of their
	 * SQL text: every statement here is a string literal, so the set is
	 * small and fixed, and each is planned once per connection. */
	const char *stmts[96];
	int nstmts;
	char actor[64];		/* deis_db_act_as(); "" for none */
};

/* ---- migrations ---- */

/*
 * Append-only: a migration, once shipped, never changes; a new schema
 * change is a new entry.  Each runs in its own transaction.
 */
static const struct {
	int version;
	const char *sql;
} migrations[] = {
	{ 1,
	  "CREATE TABLE users ("
	  "  id bigserial PRIMARY KEY,"
	  "  name text NOT NULL UNIQUE,"
	  "  uid integer NOT NULL DEFAULT -1,"
	  "  serial bigint NOT NULL DEFAULT 1,"
	  "  created timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp());"
	  "CREATE TABLE keys ("
	  "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	  "  name text NOT NULL,"
	  "  type text NOT NULL,"
	  "  data text NOT NULL,"
	  "  fingerprint text NOT NULL UNIQUE,"
	  "  created timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (user_id, name));"
	  "CREATE TABLE apps ("
	  "  id bigserial PRIMARY KEY,"
	  "  name text NOT NULL UNIQUE,"
	  "  owner text NOT NULL,"
	  "  serial bigint NOT NULL DEFAULT 1,"
	  "  created timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  healthcheck jsonb NOT NULL DEFAULT '[]',"
	  "  maintenance boolean NOT NULL DEFAULT false,"
	  "  formation_mtime timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  domains_mtime timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  perms_mtime timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  healthcheck_mtime timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  maintenance_mtime timestamptz NOT NULL DEFAULT clock_timestamp());"
	  "CREATE TABLE builds ("
	  "  id bigserial PRIMARY KEY,"
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  number integer NOT NULL,"
	  "  owner text NOT NULL,"
	  "  commit text NOT NULL DEFAULT '',"
	  "  status text NOT NULL DEFAULT 'running',"
	  "  image text NOT NULL DEFAULT '',"
	  "  procfile jsonb NOT NULL DEFAULT '{}',"
	  "  created timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  finished timestamptz,"
	  "  UNIQUE (app_id, number));"
	  "CREATE TABLE releases ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  version integer NOT NULL,"
	  "  owner text NOT NULL,"
	  "  summary text NOT NULL,"
	  "  build_id bigint REFERENCES builds(id) ON DELETE RESTRICT,"
	  "  config jsonb NOT NULL DEFAULT '{}',"
	  "  limits jsonb NOT NULL DEFAULT '{}',"
	  "  created timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (app_id, version));"
	  "CREATE TABLE formation ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  type text NOT NULL,"
	  "  quantity integer NOT NULL CHECK (quantity >= 0),"
	  "  PRIMARY KEY (app_id, type));"
	  "CREATE TABLE domains ("
	  "  domain text PRIMARY KEY,"
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  position integer NOT NULL);"
	  "CREATE INDEX domains_app ON domains (app_id);"
	  "CREATE TABLE perms ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  username text NOT NULL,"
	  "  PRIMARY KEY (app_id, username));"
	  "CREATE TABLE certs ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  domain text NOT NULL,"
	  "  pem text NOT NULL,"
	  "  not_after timestamptz NOT NULL,"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (app_id, domain));"
	  "CREATE TABLE nodes ("
	  "  name text PRIMARY KEY,"
	  "  address text NOT NULL DEFAULT '',"
	  "  info jsonb NOT NULL DEFAULT '{}',"
	  "  last_seen timestamptz NOT NULL DEFAULT clock_timestamp());" },
	{ 2,
	  "CREATE TABLE drains ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  url text NOT NULL,"
	  "  position integer NOT NULL,"
	  "  PRIMARY KEY (app_id, url));"
	  "ALTER TABLE apps ADD COLUMN drains_mtime timestamptz NOT NULL"
	  "  DEFAULT clock_timestamp();" },
	{ 3,
	  /* What runs: written by the scheduler, shown by the tree. */
	  "CREATE TABLE containers ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  name text NOT NULL,"
	  "  type text NOT NULL,"
	  "  number integer NOT NULL,"
	  "  state text NOT NULL DEFAULT 'starting',"
	  "  release integer NOT NULL DEFAULT 0,"
	  "  node text NOT NULL DEFAULT '',"
	  "  port integer NOT NULL DEFAULT 0,"
	  "  started timestamptz,"
	  "  restarts integer NOT NULL DEFAULT 0,"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (app_id, name));" },
	{ 4,
	  /* A container is an instance (its runc id): during a rollout or a
	   * restart two instances of one name run side by side. */
	  "CREATE SEQUENCE container_seq;"
	  "ALTER TABLE containers DROP CONSTRAINT containers_pkey;"
	  "ALTER TABLE containers ADD COLUMN seq bigint NOT NULL"
	  "  DEFAULT nextval('container_seq');"
	  "ALTER TABLE containers ADD COLUMN instance text;"
	  "UPDATE containers c SET instance = a.name || '.' || c.name || '.' || c.seq"
	  "  FROM apps a WHERE a.id = c.app_id;"
	  "ALTER TABLE containers ALTER COLUMN instance SET NOT NULL;"
	  "ALTER TABLE containers ADD PRIMARY KEY (instance);"
	  "CREATE INDEX containers_app ON containers (app_id, type, number, seq);"
	  "ALTER TABLE containers ADD COLUMN command text NOT NULL DEFAULT '';"
	  "ALTER TABLE containers ADD COLUMN desired text NOT NULL DEFAULT '';"
	  "ALTER TABLE apps ADD COLUMN run_serial integer NOT NULL DEFAULT 0;"
	  /* What the scheduler decided about a release: its release phase
	   * passed ('released') or the release never went live ('failed'). */
	  "CREATE TABLE rollouts ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  version integer NOT NULL,"
	  "  state text NOT NULL,"
	  "  reason text NOT NULL DEFAULT '',"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (app_id, version));" },
	{ 5,
	  /* Every container has an address of its own (its network
	   * namespace on the node's bridge): the router and the health
	   * checks reach it at address:port. */
	  "ALTER TABLE containers ADD COLUMN address text NOT NULL DEFAULT '';" },
	{ 6,
	  /* Quotas: scope '' holds the platform's defaults (platform/quotas),
	   * any other scope a user's own (users/<name>/quota).  NULL: not
	   * set at this level (the next one applies).  overcommit, in per
	   * mille of the nodes' memory, is the platform's alone. */
	  "CREATE TABLE quotas ("
	  "  scope text PRIMARY KEY,"
	  "  containers integer CHECK (containers >= 0),"
	  "  memory bigint CHECK (memory >= 0),"
	  "  overcommit integer CHECK (overcommit > 0),"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp());" },
	{ 7,
	  /* Settings as data (lib/settings.c, lib/db_settings.c): a row per
	   * app and setting it has set, the canonical value as text.  The
	   * healthcheck and maintenance columns move here. */
	  "CREATE TABLE app_settings ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  name text NOT NULL,"
	  "  value text NOT NULL,"
	  "  mtime timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (app_id, name));"
	  "INSERT INTO app_settings (app_id, name, value, mtime)"
	  "  SELECT id, 'healthcheck', coalesce((SELECT string_agg((p->>0) || '=' || (p->>1),"
	  "    E'\\n' ORDER BY i) FROM jsonb_array_elements(healthcheck)"
	  "    WITH ORDINALITY AS e(p, i)), ''), healthcheck_mtime FROM apps;"
	  "INSERT INTO app_settings (app_id, name, value, mtime)"
	  "  SELECT id, 'maintenance', CASE WHEN maintenance THEN 'on' ELSE 'off' END,"
	  "  maintenance_mtime FROM apps;"
	  "ALTER TABLE apps DROP COLUMN healthcheck, DROP COLUMN maintenance,"
	  "  DROP COLUMN healthcheck_mtime, DROP COLUMN maintenance_mtime;" },
};

/* ---- connection and statement helpers ---- */

static int db_connect(struct deis_db *db, struct deis_error *err)
{
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK)
		return 0;
	db->prepared = false;	/* a new session has no prepared statements */
	db->nstmts = 0;
	if (db->conn) {
		PQreset(db->conn);
		if (PQstatus(db->conn) == CONNECTION_OK)
			return 0;
		PQfinish(db->conn);
	}
	db->conn = PQconnectdb(db->conninfo);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		int r = deis_error_set(err, EIO, "cannot connect to PostgreSQL: %s",
				       PQerrorMessage(db->conn));
		PQfinish(db->conn);
		db->conn = NULL;
		return r;
	}
	/* Quiet notices ("relation already exists, skipping"). */
	PQclear(PQexec(db->conn, "SET client_min_messages = warning"));
	return 0;
}

int deis_db_open(const char *conninfo, struct deis_db **out,
		 struct deis_error *err)
{
	struct deis_db *db = calloc(1, sizeof(*db));

	if (!db)
		abort();
	db->conninfo = strdup(conninfo);
	int r = db_connect(db, err);
	if (r < 0) {
		deis_db_close(db);
		return r;
	}
	*out = db;
	return 0;
}

void deis_db_act_as(struct deis_db *db, const char *user)
{
	snprintf(db->actor, sizeof(db->actor), "%s", user ? user : "");
}

void deis_db_close(struct deis_db *db)
{
	if (!db)
		return;
	if (db->conn)
		PQfinish(db->conn);
	free(db->conninfo);
	free(db);
}

/* Maps a failed result to an errno: unique violations are EEXIST, foreign
 * keys and checks EINVAL, a lost connection EIO. */
static int result_error(struct deis_db *db, PGresult *res,
			struct deis_error *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn);
	int code = EIO;

	if (state && !strcmp(state, "23505"))
		code = EEXIST;
	else if (state && (!strncmp(state, "23", 2) || !strncmp(state, "22", 2)))
		code = EINVAL;
	else if (state && !strcmp(state, "40P01"))
		code = EAGAIN;
	return deis_error_set(err, code, "database: %s", msg && *msg ? msg : "no result");
}

/* Runs sql, prepared once per connection (see struct deis_db). */
static PGresult *exec_stmt(struct deis_db *db, const char *sql, int nparams,
			   const char *const *params)
{
	char name[16];
	int i;

	for (i = 0; i < db->nstmts; i++)
		if (db->stmts[i] == sql)
			break;
	if (i == db->nstmts) {
		if (db->nstmts == (int)(sizeof(db->stmts) / sizeof(*db->stmts)))
			return PQexecParams(db->conn, sql, nparams, NULL, params,
					    NULL, NULL, 0);
		snprintf(name, sizeof(name), "s%d", i);
		PGresult *p = PQprepare(db->conn, name, sql, nparams, NULL);
		if (PQresultStatus(p) != PGRES_COMMAND_OK)
			return p;	/* the caller reports the error */
		PQclear(p);
		db->stmts[db->nstmts++] = sql;
	}
	snprintf(name, sizeof(name), "s%d", i);
	return PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0);
}

/* Runs one statement with text parameters (NULL = SQL NULL).  Returns the
 * result (the caller PQclear()s it) or NULL with err filled. */
static PGresult *q(struct deis_db *db, struct deis_error *err, const char *sql,
		   int nparams, ...)
{
	const char *params[16];
	va_list ap;

	if (nparams > 16)
		abort();
	va_start(ap, nparams);
	for (int i = 0; i < nparams; i++)
		params[i] = va_arg(ap, const char *);
	va_end(ap);
	PGresult *res = exec_stmt(db, sql, nparams, params);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		result_error(db, res, err);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* A statement whose result is not needed. */
static int x(struct deis_db *db, struct deis_error *err, const char *sql,
	     int nparams, ...)
{
	const char *params[16];
	va_list ap;

	if (nparams > 16)
		abort();
	va_start(ap, nparams);
	for (int i = 0; i < nparams; i++)
		params[i] = va_arg(ap, const char *);
	va_end(ap);
	PGresult *res = exec_stmt(db, sql, nparams, params);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int r = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		r = result_error(db, res, err);
	PQclear(res);
	return r;
}

static int begin(struct deis_db *db, struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	r = x(db, err, "BEGIN", 0);
	if (r < 0 && PQstatus(db->conn) != CONNECTION_OK) {
		/* The server went away since the last call: one fresh try. */
		r = db_connect(db, err);
		if (r == 0)
			r = x(db, err, "BEGIN", 0);
	}
	return r;
}

static int commit(struct deis_db *db, struct deis_error *err)
{
	return x(db, err, "COMMIT", 0);
}

/* Ends a failed transaction; keeps the first error. */
static int rollback(struct deis_db *db, int r)
{
	PQclear(PQexec(db->conn, "ROLLBACK"));
	return r;
}

static int64_t col_us(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static long col_long(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtol(PQgetvalue(res, row, col), NULL, 10);
}

static long long col_ll(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static char *col_str(PGresult *res, int row, int col)
{
	char *s = strdup(PQgetvalue(res, row, col));

	if (!s)
		abort();
	return s;
}

/* Microseconds since the epoch, as SQL text for a timestamptz column. */
#define US(col) "(extract(epoch from " col ") * 1000000)::bigint"

/* ---- JSON <-> lists ---- */

/* A JSON object of strings into a sorted kvlist. */
static int json_to_kv(const char *text, struct deis_kvlist *out,
		      struct deis_error *err)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	const char *k;
	json_t *v;

	if (!o || !json_is_object(o)) {
		json_decref(o);
		return deis_error_set(err, EIO, "database: malformed JSON: %s", je.text);
	}
	json_object_foreach(o, k, v) {
		if (json_is_string(v))
			deis_kvlist_setn(out, k, json_string_value(v),
					 json_string_length(v));
	}
	json_decref(o);
	deis_kvlist_sort(out);
	return 0;
}

/* A kvlist as JSON text (the caller frees it), or NULL with err filled
 * when a key or value is not UTF-8: jansson would leave that item out, and
 * a config var must be stored byte for byte or refused, never dropped. */
static char *kv_to_json(const struct deis_kvlist *l, int as_pairs,
			struct deis_error *err)
{
	json_t *j = as_pairs ? json_array() : json_object();

	for (size_t i = 0; i < l->n; i++) {
		json_t *v = json_stringn(l->items[i].value, strlen(l->items[i].value));
		const char *k = l->items[i].key;
		if (!v || !deis_valid_utf8(k, strlen(k), NULL)) {
			char shown[80];
			json_decref(v);
			json_decref(j);
			deis_error_set(err, EINVAL, "'%s': not UTF-8 text",
				       deis_printable(shown, sizeof(shown), k, strlen(k)));
			return NULL;
		}
		if (as_pairs) {
			json_t *p = json_array();
			json_array_append_new(p, json_string(l->items[i].key));
			json_array_append_new(p, v);
			json_array_append_new(j, p);
		} else {
			json_object_set_new(j, l->items[i].key, v);
		}
	}
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (!s)
		abort();
	return s;
}

/* ---- migrations ---- */

int deis_db_migrate(struct deis_db *db, struct deis_error *err)
{
	char ver[16];
	int r = begin(db, err);

	if (r < 0)
		return r;
	/* One migrator at a time, platform-wide. */
	r = x(db, err, "SELECT pg_advisory_xact_lock(7306)", 0);
	if (r == 0)
		r = x(db, err, "CREATE TABLE IF NOT EXISTS schema_migrations ("
		      " version integer PRIMARY KEY,"
		      " applied timestamptz NOT NULL DEFAULT now())", 0);
	for (size_t i = 0; r == 0 && i < sizeof(migrations) / sizeof(*migrations); i++) {
		snprintf(ver, sizeof(ver), "%d", migrations[i].version);
		PGresult *res = q(db, err, "SELECT 1 FROM schema_migrations WHERE version = $1",
				  1, ver);
		if (!res) {
			r = -err->code;
			break;
		}
		int done = PQntuples(res) > 0;
		PQclear(res);
		if (done)
			continue;
		PGresult *m = PQexec(db->conn, migrations[i].sql);
		if (PQresultStatus(m) != PGRES_COMMAND_OK) {
			r = result_error(db, m, err);
			deis_error_prefix(err, "migration %d", migrations[i].version);
		}
		PQclear(m);
		if (r == 0)
			r = x(db, err, "INSERT INTO schema_migrations (version) VALUES ($1)",
			      1, ver);
	}
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

long deis_db_ping(struct deis_db *db, struct deis_error *err)
{
	struct timespec a, b;
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &a);
	r = x(db, err, "SELECT 1", 0);
	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000;
}

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
			result_error(db, res, err);
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
	", " US("formation_mtime") ", " US("domains_mtime") ", " US("perms_mtime") \
	", " US("drains_mtime") " FROM apps"
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
#define SETTINGS_Q "SELECT t.app_id, t.name, t.value, " US("t.mtime") " FROM app_settings t"
	{ SETTINGS_Q ONE " ORDER BY t.name", SETTINGS_Q " ORDER BY t.app_id, t.name", 1 },
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
				r = result_error(db, p, err);
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
		a->formation_mtime = col_us(res, (int)i, 6);
		a->domains_mtime = col_us(res, (int)i, 7);
		a->perms_mtime = col_us(res, (int)i, 8);
		a->drains_mtime = col_us(res, (int)i, 9);
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
		json_to_kv(PQgetvalue(res, i, 7), &b->procfile, NULL);
		b->created = col_us(res, i, 8);
		b->finished = col_us(res, i, 9);
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
		if (json_to_kv(PQgetvalue(res, i, 6), &rel->config, err) < 0 ||
		    json_to_kv(PQgetvalue(res, i, 7), &rel->limits, err) < 0) {
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

	res = pl_next(db, err);
	if (!res)
		goto fail;
	r = deis_db_settings_decode(res, apps, n, err);
	PQclear(res);
	if (r < 0)
		goto fail;

	res = pl_next(db, err);		/* COMMIT */
	if (!res)
		goto fail;
	PQclear(res);
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
	r = x(db, err, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0);
	if (r < 0)
		return r;
	PGresult *res = q(db, err, "SELECT id, name, uid, " US("created") ", " US("updated") ", serial"
			  " FROM users WHERE ($1::text IS NULL OR name = $1) ORDER BY id",
			  1, only);
	if (!res)
		return rollback(db, -err->code);
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
	res = q(db, err, "SELECT k.user_id, k.name, k.type, k.data, k.fingerprint, "
		US("k.created") " FROM keys k JOIN users u ON u.id = k.user_id"
		" WHERE ($1::text IS NULL OR u.name = $1) ORDER BY k.user_id, k.name",
		1, only);
	if (!res) {
		for (size_t i = 0; i < n; i++)
			deis_user_free(users[i]);
		free(users);
		return rollback(db, -err->code);
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
	x(db, NULL, "COMMIT", 0);
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
	PGresult *res = q(db, err, "SELECT name, serial FROM apps UNION ALL"
			  " SELECT '~' || name, serial FROM users", 0);
	if (!res)
		return -err->code;
	for (int i = 0; i < PQntuples(res); i++)
		deis_kvlist_set(out, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	PQclear(res);
	return 0;
}

/* ---- access (the builder) ---- */

int deis_db_key_owner(struct deis_db *db, const char *fingerprint, char *user,
		      size_t len, struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	PGresult *res = q(db, err, "SELECT u.name FROM keys k JOIN users u ON u.id = k.user_id"
			  " WHERE k.fingerprint = $1", 1, fingerprint);
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
	int r = db_connect(db, err);

	*allowed = false;
	if (r < 0)
		return r;
	PGresult *res = q(db, err, "SELECT a.owner = $2 OR EXISTS (SELECT 1 FROM perms p"
			  " WHERE p.app_id = a.id AND p.username = $2), a.id FROM apps a"
			  " WHERE a.name = $1", 2, app, user);
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

static int user_ensure(struct deis_db *db, const char *name, int uid,
		       struct deis_error *err)
{
	char uidbuf[16];

	snprintf(uidbuf, sizeof(uidbuf), "%d", uid);
	return x(db, err, "INSERT INTO users (name, uid) VALUES ($1, $2)"
		 " ON CONFLICT (name) DO NOTHING", 2, name, uidbuf);
}

int deis_db_user_ensure(struct deis_db *db, const char *name, int uid,
			struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	return user_ensure(db, name, uid, err);
}

int deis_db_user_create(struct deis_db *db, const char *name, int uid,
			struct deis_error *err)
{
	char uidbuf[16];
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	snprintf(uidbuf, sizeof(uidbuf), "%d", uid);
	r = x(db, err, "INSERT INTO users (name, uid) VALUES ($1, $2)", 2, name, uidbuf);
	if (r == -EEXIST)
		deis_error_set(err, EEXIST, "user '%s' already exists", name);
	return r;
}

/* With an actor, only that user's own keys may change. */
static int key_owner_check(struct deis_db *db, const char *user, struct deis_error *err)
{
	if (db->actor[0] && strcmp(db->actor, user))
		return deis_error_set(err, EACCES, "%s may not change %s's keys",
				      db->actor, user);
	return 0;
}

int deis_db_key_add(struct deis_db *db, const char *user, const char *name,
		    const char *type, const char *data,
		    const char *fingerprint, struct deis_error *err)
{
	int r = key_owner_check(db, user, err);

	if (r < 0)
		return r;
	r = begin(db, err);

	if (r < 0)
		return r;
	r = user_ensure(db, user, -1, err);
	if (r == 0) {
		/* A key names exactly one user: the same key under another
		 * name or user is refused; rewriting a key file replaces it. */
		PGresult *res = q(db, err, "SELECT u.name, k.name FROM keys k JOIN users u"
				  " ON u.id = k.user_id WHERE k.fingerprint = $1", 1, fingerprint);
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
		r = x(db, err, "INSERT INTO keys (user_id, name, type, data, fingerprint)"
		      " SELECT id, $2, $3, $4, $5 FROM users WHERE name = $1"
		      " ON CONFLICT (user_id, name) DO UPDATE SET type = EXCLUDED.type,"
		      " data = EXCLUDED.data, fingerprint = EXCLUDED.fingerprint,"
		      " created = clock_timestamp()", 5, user, name, type, data, fingerprint);
	if (r == 0)
		r = x(db, err, "UPDATE users SET serial = serial + 1, updated = clock_timestamp()"
		      " WHERE name = $1", 1, user);
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

int deis_db_key_remove(struct deis_db *db, const char *user, const char *name,
		       struct deis_error *err)
{
	int r = key_owner_check(db, user, err);

	if (r < 0)
		return r;
	r = begin(db, err);

	if (r < 0)
		return r;
	PGresult *res = q(db, err, "DELETE FROM keys k USING users u WHERE u.id = k.user_id"
			  " AND u.name = $1 AND k.name = $2 RETURNING 1", 2, user, name);
	if (!res)
		return rollback(db, -err->code);
	int found = PQntuples(res);
	PQclear(res);
	if (!found)
		return rollback(db, deis_error_set(err, ENOENT, "no key '%s'", name));
	r = x(db, err, "UPDATE users SET serial = serial + 1, updated = clock_timestamp()"
	      " WHERE name = $1", 1, user);
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

/* ---- apps ---- */

enum app_right { ANY_USER, OWNER };

/* Locks the app's row for the rest of the transaction and bumps its
 * serial; returns its id as text in idbuf.  With an actor
 * (deis_db_act_as), also checks that they may make this change, under
 * that lock: perms changes lock the same row, so no commit can slip past
 * a revocation. */
static int lock_app(struct deis_db *db, const char *app, enum app_right right,
		    char *idbuf, size_t idlen, struct deis_error *err)
{
	PGresult *res = q(db, err, "UPDATE apps SET serial = serial + 1,"
			  " updated = clock_timestamp() WHERE name = $1 RETURNING id,"
			  " owner = $2, EXISTS (SELECT 1 FROM perms p"
			  " WHERE p.app_id = apps.id AND p.username = $2)",
			  2, app, db->actor);
	if (!res)
		return -err->code;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return deis_error_set(err, ENOENT, "no app '%s'", app);
	}
	bool owner = PQgetvalue(res, 0, 1)[0] == 't';
	bool listed = PQgetvalue(res, 0, 2)[0] == 't';
	snprintf(idbuf, idlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (db->actor[0] && !owner && (right == OWNER || !listed))
		return deis_error_set(err, EACCES, "%s may not %s app '%s'", db->actor,
				      right == OWNER ? "do this to" : "change", app);
	return 0;
}

int deis_db_app_create(struct deis_db *db, const char *name,
		       const char *owner, struct deis_error *err)
{
	char summary[512];
	int r = begin(db, err);

	if (r < 0)
		return r;
	r = user_ensure(db, owner, -1, err);
	if (r == 0)
		r = x(db, err, "INSERT INTO apps (name, owner) VALUES ($1, $2)", 2, name, owner);
	if (r == -EEXIST)
		deis_error_set(err, EEXIST, "app '%s' already exists", name);
	snprintf(summary, sizeof(summary), "%s created initial release", owner);
	if (r == 0)
		r = x(db, err, "INSERT INTO releases (app_id, version, owner, summary)"
		      " SELECT id, 1, $2, $3 FROM apps WHERE name = $1", 3, name, owner, summary);
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

int deis_db_app_destroy(struct deis_db *db, const char *name,
			struct deis_error *err)
{
	int r = begin(db, err);

	if (r < 0)
		return r;
	char appid[32];
	r = lock_app(db, name, OWNER, appid, sizeof(appid), err);
	if (r < 0)
		return rollback(db, r);
	/* Releases refer to builds; drop them first, then the cascade. */
	r = x(db, err, "DELETE FROM releases USING apps WHERE apps.id = releases.app_id"
	      " AND apps.name = $1", 1, name);
	PGresult *res = r < 0 ? NULL :
		q(db, err, "DELETE FROM apps WHERE name = $1 RETURNING id", 1, name);
	if (!res)
		return rollback(db, -err->code);
	int found = PQntuples(res);
	PQclear(res);
	if (!found)
		return rollback(db, deis_error_set(err, ENOENT, "no app '%s'", name));
	return commit(db, err);
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
#define ADMISSION_LOCK "SELECT pg_advisory_xact_lock(7307)"

/* Per app: owner, current limits, formation, running one-offs. */
#define USAGE_Q "SELECT a.id, a.owner," \
	" coalesce((SELECT r.limits::text FROM releases r WHERE r.app_id = a.id" \
	" ORDER BY r.version DESC LIMIT 1), '{}')," \
	" coalesce((SELECT jsonb_object_agg(f.type, f.quantity::text) FROM formation f" \
	" WHERE f.app_id = a.id), '{}')::text," \
	" (SELECT count(*) FROM containers c WHERE c.app_id = a.id AND c.type = 'run')" \
	" FROM apps a"

/* A node counts while its heartbeat is this recent (as platform/status). */
#define NODE_LIVE "last_seen > clock_timestamp() - interval '30 seconds'"

static void usage_row(PGresult *res, int i, struct deis_usage *u)
{
	struct deis_kvlist limits = DEIS_KVLIST_INIT, formation = DEIS_KVLIST_INIT;

	json_to_kv(PQgetvalue(res, i, 2), &limits, NULL);
	json_to_kv(PQgetvalue(res, i, 3), &formation, NULL);
	deis_usage_add_app(u, &formation, &limits, col_long(res, i, 4),
			   deis_quota_default_memory());
	deis_kvlist_clear(&limits);
	deis_kvlist_clear(&formation);
}

/* What the app takes now, in this transaction. */
static int app_usage(struct deis_db *db, const char *appid, struct deis_usage *out,
		     struct deis_error *err)
{
	PGresult *res = q(db, err, USAGE_Q " WHERE a.id = $1", 1, appid);

	*out = (struct deis_usage){ 0, 0 };
	if (!res)
		return -err->code;
	if (PQntuples(res))
		usage_row(res, 0, out);
	PQclear(res);
	return 0;
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
static int admit(struct deis_db *db, const char *appid, const struct deis_usage *before,
		 struct deis_error *err)
{
	struct deis_usage app = { 0, 0 };
	struct deis_admission a = { 0 };
	struct deis_quota user = DEIS_QUOTA_UNSET, platform = DEIS_QUOTA_UNSET;
	char owner[256] = "";
	long id = strtol(appid, NULL, 10);
	int r = app_usage(db, appid, &app, err);

	if (r < 0 || !deis_usage_grows(before, &app))
		return r;
	r = x(db, err, ADMISSION_LOCK, 0);
	PGresult *res = r < 0 ? NULL : q(db, err, USAGE_Q, 0);
	if (!res)
		return -err->code;
	for (int i = 0; i < PQntuples(res); i++)
		if (col_long(res, i, 0) == id)
			snprintf(owner, sizeof(owner), "%s", PQgetvalue(res, i, 1));
	for (int i = 0; i < PQntuples(res); i++) {
		struct deis_usage u = { 0, 0 };
		usage_row(res, i, &u);
		a.committed_after += u.memory;
		if (!strcmp(PQgetvalue(res, i, 1), owner)) {
			a.after.containers += u.containers;
			a.after.memory += u.memory;
		}
	}
	PQclear(res);
	a.user = owner;
	a.before.containers = a.after.containers - app.containers + before->containers;
	a.before.memory = a.after.memory - app.memory + before->memory;
	a.committed_before = a.committed_after - app.memory + before->memory;

	res = q(db, err, "SELECT scope, containers, memory, overcommit FROM quotas"
		" WHERE scope = '' OR scope = $1", 1, owner);
	if (!res)
		return -err->code;
	for (int i = 0; i < PQntuples(res); i++)
		quota_row(res, i, PQgetvalue(res, i, 0)[0] ? &user : &platform);
	PQclear(res);
	deis_quota_resolve(&user, &platform, &a.quota);

	res = q(db, err, "SELECT count(*), coalesce(sum((info->>'memory')::bigint), 0)"
		" FROM nodes WHERE (info->>'memory')::bigint > 0 AND " NODE_LIVE, 0);
	if (!res)
		return -err->code;
	a.nodes = (int)col_long(res, 0, 0);
	a.node_memory = a.nodes ? col_ll(res, 0, 1) : deis_quota_host_memory();
	PQclear(res);
	return deis_admit(&a, err);
}

/* ---- releases ---- */

/* Applies change to (config, limits, build) and writes the summary. */
static int apply_release_change(struct deis_db *db, const char *appid,
				const char *who,
				const struct deis_release_change *c,
				struct deis_kvlist *config,
				struct deis_kvlist *limits, char **build_id,
				struct deis_buf *summary, struct deis_error *err)
{
	struct deis_kvlist before = DEIS_KVLIST_INIT;

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
		PGresult *res = q(db, err, "SELECT id FROM builds WHERE app_id = $1 AND"
				  " number = $2 AND status = 'succeeded'", 2, appid, num);
		if (!res)
			return -err->code;
		if (!PQntuples(res)) {
			PQclear(res);
			return deis_error_set(err, ENOENT, "no succeeded build %d", c->version);
		}
		free(*build_id);
		*build_id = strdup(PQgetvalue(res, 0, 0));
		PQclear(res);
		deis_buf_addf(summary, "%s deployed %s", who, c->key ? c->key : num);
		break;
	}
	case DEIS_RELEASE_ROLLBACK: {
		char ver[16];
		snprintf(ver, sizeof(ver), "%d", c->version);
		PGresult *res = q(db, err, "SELECT config::text, limits::text, build_id"
				  " FROM releases WHERE app_id = $1 AND version = $2",
				  2, appid, ver);
		if (!res)
			return -err->code;
		if (!PQntuples(res)) {
			PQclear(res);
			return deis_error_set(err, ENOENT, "no release v%d", c->version);
		}
		deis_kvlist_clear(config);
		deis_kvlist_clear(limits);
		json_to_kv(PQgetvalue(res, 0, 0), config, NULL);
		json_to_kv(PQgetvalue(res, 0, 1), limits, NULL);
		free(*build_id);
		*build_id = PQgetisnull(res, 0, 2) ? NULL : strdup(PQgetvalue(res, 0, 2));
		PQclear(res);
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
	int r = x(db, err, "DELETE FROM formation f USING builds b WHERE f.app_id = $1"
		  " AND b.id = $2 AND NOT (b.procfile ? f.type)", 2, appid, build_id);
	if (r < 0)
		return r;
	return x(db, err, "INSERT INTO formation (app_id, type, quantity)"
		 " SELECT $1, t.type, 1 FROM builds b,"
		 " LATERAL (SELECT k AS type FROM jsonb_object_keys(b.procfile) k) t"
		 " WHERE b.id = $2 AND NOT EXISTS (SELECT 1 FROM formation WHERE app_id = $1)"
		 " AND (t.type = 'web' OR (NOT (b.procfile ? 'web') AND"
		 " (SELECT count(*) FROM jsonb_object_keys(b.procfile)) = 1))",
		 2, appid, build_id);
}

int deis_db_release_create(struct deis_db *db, const char *app, const char *who,
			   const struct deis_release_change *change,
			   int *version, struct deis_error *err)
{
	struct deis_kvlist config = DEIS_KVLIST_INIT, limits = DEIS_KVLIST_INIT;
	struct deis_buf summary = DEIS_BUF_INIT;
	char appid[32], ver[16];
	char *build_id = NULL;
	int cur;
	int r = begin(db, err);

	*version = 0;
	if (r < 0)
		return r;
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	if (r < 0)
		return rollback(db, r);
	PGresult *res = q(db, err, "SELECT version, config::text, limits::text, build_id"
			  " FROM releases WHERE app_id = $1 ORDER BY version DESC LIMIT 1",
			  1, appid);
	if (!res)
		return rollback(db, -err->code);
	if (PQntuples(res) == 0) {
		PQclear(res);
		return rollback(db, deis_error_set(err, EIO, "app '%s' has no release", app));
	}
	cur = (int)col_long(res, 0, 0);
	json_to_kv(PQgetvalue(res, 0, 1), &config, NULL);
	json_to_kv(PQgetvalue(res, 0, 2), &limits, NULL);
	if (!PQgetisnull(res, 0, 3))
		build_id = strdup(PQgetvalue(res, 0, 3));
	PQclear(res);

	/* Limits, a rollback and a deploy may take more memory or
	 * containers: admitted below; config changes never do. */
	struct deis_usage before = { 0, 0 };
	bool weigh = change->kind == DEIS_RELEASE_LIMITS ||
		     change->kind == DEIS_RELEASE_ROLLBACK || change->kind == DEIS_RELEASE_DEPLOY;
	r = weigh ? app_usage(db, appid, &before, err) : 0;
	if (r == 0)
		r = apply_release_change(db, appid, who, change, &config, &limits, &build_id,
					 &summary, err);
	if (r == 0 && summary.len) {
		char *cj = kv_to_json(&config, 0, err);
		char *lj = cj ? kv_to_json(&limits, 0, err) : NULL;
		snprintf(ver, sizeof(ver), "%d", cur + 1);
		r = !cj || !lj ? -EINVAL :
			x(db, err, "INSERT INTO releases (app_id, version, owner, summary,"
			  " build_id, config, limits) VALUES ($1, $2, $3, $4, $5, $6, $7)", 7,
			  appid, ver, who, summary.data, build_id, cj, lj);
		free(cj);
		free(lj);
		if (r == 0 && change->kind == DEIS_RELEASE_DEPLOY)
			r = deploy_formation(db, appid, build_id, err);
		if (r == 0 && weigh)
			r = admit(db, appid, &before, err);
		if (r == 0)
			*version = cur + 1;
	}
	deis_kvlist_clear(&config);
	deis_kvlist_clear(&limits);
	deis_buf_release(&summary);
	free(build_id);
	if (r < 0) {
		*version = 0;
		return rollback(db, r);
	}
	if (*version == 0)
		return rollback(db, 0);	/* nothing changed: no release */
	r = commit(db, err);
	if (r < 0)
		*version = 0;
	return r;
}

/* ---- builds ---- */

int deis_db_build_create(struct deis_db *db, const char *app, const char *owner,
			 const char *sha, int *number, struct deis_error *err)
{
	char appid[32];
	int r = begin(db, err);

	if (r < 0)
		return r;
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	PGresult *res = r < 0 ? NULL :
		q(db, err, "INSERT INTO builds (app_id, number, owner, commit)"
		  " SELECT $1, coalesce(max(number), 0) + 1, $2, $3 FROM builds"
		  " WHERE app_id = $1 RETURNING number", 3, appid, owner, sha);
	if (!res)
		return rollback(db, -err->code);
	*number = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return commit(db, err);
}

int deis_db_build_finish(struct deis_db *db, const char *app, int number,
			 const char *status, const char *image,
			 const struct deis_kvlist *procfile, struct deis_error *err)
{
	char appid[32], num[16];
	char *pj = kv_to_json(procfile, 0, err);
	int r = pj ? begin(db, err) : -EINVAL;

	if (r < 0) {
		free(pj);
		return r;
	}
	snprintf(num, sizeof(num), "%d", number);
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	if (r == 0)
		r = x(db, err, "UPDATE builds SET status = $3, image = $4, procfile = $5,"
		      " finished = clock_timestamp() WHERE app_id = $1 AND number = $2",
		      5, appid, num, status, image, pj);
	free(pj);
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

/* ---- formation, domains, perms, certs ---- */

/*
 * The child rows behind one control file (formation, domains, perms,
 * drains): in the caller's transaction, with the app row locked, delete
 * them all and insert one row per item, in order, then touch the file's
 * mtime.  ins takes $1 the app id, $2 the item, and $3 (when nparams is 3)
 * its value, or its position when there are no values.
 */
static int replace_rows(struct deis_db *db, const char *appid, const char *del,
			const char *ins, int nparams, const char *mtime,
			const struct deis_strlist *items, const struct deis_kvlist *pairs,
			struct deis_error *err)
{
	size_t n = pairs ? pairs->n : items->n;
	char pos[24];
	int r = x(db, err, del, 1, appid);

	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *item = pairs ? pairs->items[i].key : items->items[i];
		snprintf(pos, sizeof(pos), "%zu", i);
		r = x(db, err, ins, nparams, appid, item, pairs ? pairs->items[i].value : pos);
		if (r == -EEXIST)
			deis_error_set(err, EEXIST, "'%s' is already used by another app", item);
	}
	if (r == 0)
		r = x(db, err, mtime, 1, appid);
	return r;
}

int deis_db_formation_set(struct deis_db *db, const char *app,
			  const struct deis_kvlist *f, struct deis_error *err)
{
	char appid[32];
	int r = begin(db, err);

	if (r < 0)
		return r;
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	if (r < 0)
		return rollback(db, r);
	/* The current build's process types, if there is a build. */
	PGresult *res = q(db, err, "SELECT b.procfile::text FROM releases r JOIN builds b"
			  " ON b.id = r.build_id WHERE r.app_id = $1"
			  " ORDER BY r.version DESC LIMIT 1", 1, appid);
	if (!res)
		return rollback(db, -err->code);
	if (PQntuples(res)) {
		struct deis_kvlist types = DEIS_KVLIST_INIT;
		json_to_kv(PQgetvalue(res, 0, 0), &types, NULL);
		for (size_t i = 0; r == 0 && i < f->n; i++)
			if (!deis_kvlist_get(&types, f->items[i].key))
				r = deis_error_set(err, EINVAL, "formation: process type '%s' "
						   "is not in the current build's Procfile",
						   f->items[i].key);
		deis_kvlist_clear(&types);
	}
	PQclear(res);
	struct deis_usage before;
	if (r == 0)
		r = app_usage(db, appid, &before, err);
	if (r == 0)
		r = replace_rows(db, appid, "DELETE FROM formation WHERE app_id = $1",
				 "INSERT INTO formation (app_id, type, quantity) VALUES ($1, $2, $3)",
				 3, "UPDATE apps SET formation_mtime = clock_timestamp() WHERE id = $1",
				 NULL, f, err);
	if (r == 0)
		r = admit(db, appid, &before, err);
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

/* One control file's rows, in one transaction that locks the app. */
static int set_rows(struct deis_db *db, const char *app, enum app_right right,
		    const char *del, const char *ins, int nparams, const char *mtime,
		    const struct deis_strlist *items, struct deis_error *err)
{
	char appid[32];
	int r = begin(db, err);

	if (r < 0)
		return r;
	r = lock_app(db, app, right, appid, sizeof(appid), err);
	if (r == 0)
		r = replace_rows(db, appid, del, ins, nparams, mtime, items, NULL, err);
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

/* Domain writers of every app, one at a time (a transaction-level
 * advisory lock; 7306 is the migrations'). */
#define DOMAINS_LOCK "7307"

int deis_db_domains_set(struct deis_db *db, const char *app,
			const struct deis_strlist *d, struct deis_error *err)
{
	char appid[32];
	struct deis_buf arr = DEIS_BUF_INIT;
	int r = begin(db, err);

	if (r < 0)
		return r;
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	if (r == 0)
		r = x(db, err, "SELECT pg_advisory_xact_lock(" DOMAINS_LOCK ")", 0);
	/* A name belongs to one app, and so does every name a wildcard
	 * ("*.S": any name ending in ".S") claims; the primary key covers
	 * equal names only.  Domains are [a-z0-9.*-]: safe in an array
	 * literal, quoted all the same. */
	deis_buf_addch(&arr, '{');
	for (size_t i = 0; i < d->n; i++)
		deis_buf_addf(&arr, "%s\"%s\"", i ? "," : "", d->items[i]);
	deis_buf_addch(&arr, '}');
	PGresult *res = r < 0 ? NULL :
		q(db, err, "SELECT n.d, o.domain FROM unnest($2::text[]) AS n(d)"
		  " JOIN domains o ON o.app_id <> $1 AND (o.domain = n.d"
		  " OR (left(n.d, 2) = '*.' AND length(o.domain) > length(n.d) - 1"
		  "     AND right(o.domain, length(n.d) - 1) = substr(n.d, 2))"
		  " OR (left(o.domain, 2) = '*.' AND length(n.d) > length(o.domain) - 1"
		  "     AND right(n.d, length(o.domain) - 1) = substr(o.domain, 2)))"
		  " LIMIT 1", 2, appid, arr.data);
	deis_buf_release(&arr);
	if (!res)
		return rollback(db, r < 0 ? r : -err->code);
	if (PQntuples(res)) {
		r = deis_error_set(err, EEXIST, "domain '%s' overlaps '%s' of another app",
				   PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		PQclear(res);
		return rollback(db, r);
	}
	PQclear(res);
	r = replace_rows(db, appid, "DELETE FROM domains WHERE app_id = $1",
			 "INSERT INTO domains (domain, app_id, position) VALUES ($2, $1, $3)", 3,
			 "UPDATE apps SET domains_mtime = clock_timestamp() WHERE id = $1",
			 d, NULL, err);
	if (r == -EEXIST)
		deis_error_prefix(err, "domain");
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

int deis_db_perms_set(struct deis_db *db, const char *app,
		      const struct deis_strlist *users, struct deis_error *err)
{
	return set_rows(db, app, OWNER, "DELETE FROM perms WHERE app_id = $1",
			"INSERT INTO perms (app_id, username) VALUES ($1, $2)"
			" ON CONFLICT DO NOTHING", 2,
			"UPDATE apps SET perms_mtime = clock_timestamp() WHERE id = $1",
			users, err);
}

int deis_db_drains_set(struct deis_db *db, const char *app,
		       const struct deis_strlist *urls, struct deis_error *err)
{
	return set_rows(db, app, ANY_USER, "DELETE FROM drains WHERE app_id = $1",
			"INSERT INTO drains (app_id, url, position) VALUES ($1, $2, $3)"
			" ON CONFLICT DO NOTHING", 3,
			"UPDATE apps SET drains_mtime = clock_timestamp() WHERE id = $1",
			urls, err);
}

int deis_db_load_drains(struct deis_db *db, struct deis_kvlist *out,
			struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	PGresult *res = q(db, err, "SELECT a.name, string_agg(d.url, E'\\n' ORDER BY d.position)"
			  " FROM drains d JOIN apps a ON a.id = d.app_id GROUP BY a.name", 0);
	if (!res)
		return -err->code;
	for (int i = 0; i < PQntuples(res); i++)
		deis_kvlist_set(out, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	PQclear(res);
	return 0;
}

int deis_db_app_names(struct deis_db *db, struct deis_strlist *out,
		      struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	PGresult *res = q(db, err, "SELECT name FROM apps ORDER BY name", 0);
	if (!res)
		return -err->code;
	for (int i = 0; i < PQntuples(res); i++)
		deis_strlist_add(out, PQgetvalue(res, i, 0));
	PQclear(res);
	return 0;
}

/* For lib/db_settings.c (db_settings.h). */
int deis_db_app_exec(struct deis_db *db, const char *app, const char *sql,
		     int nparams, const char *const *params, struct deis_error *err)
{
	char appid[32];
	int r = nparams <= 3 ? begin(db, err) :
		deis_error_set(err, EINVAL, "database: too many parameters");

	if (r < 0)
		return r;
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	if (r == 0)
		r = x(db, err, sql, nparams + 1, appid, nparams > 0 ? params[0] : NULL,
		      nparams > 1 ? params[1] : NULL, nparams > 2 ? params[2] : NULL);
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

int deis_db_cert_set(struct deis_db *db, const char *app, const char *domain,
		     const char *pem, int64_t not_after, struct deis_error *err)
{
	char appid[32], na[32];
	int r = begin(db, err);

	if (r < 0)
		return r;
	snprintf(na, sizeof(na), "%lld", (long long)(not_after / 1000000));
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	if (r == 0)
		r = x(db, err, "INSERT INTO certs (app_id, domain, pem, not_after)"
		      " VALUES ($1, $2, $3, to_timestamp($4::bigint))"
		      " ON CONFLICT (app_id, domain) DO UPDATE SET pem = EXCLUDED.pem,"
		      " not_after = EXCLUDED.not_after, updated = clock_timestamp()",
		      4, appid, domain, pem, na);
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

int deis_db_cert_remove(struct deis_db *db, const char *app, const char *domain,
			struct deis_error *err)
{
	char appid[32];
	int r = begin(db, err);

	if (r < 0)
		return r;
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	PGresult *res = r < 0 ? NULL :
		q(db, err, "DELETE FROM certs WHERE app_id = $1 AND domain = $2 RETURNING 1",
		  2, appid, domain);
	if (!res)
		return rollback(db, -err->code);
	int found = PQntuples(res);
	PQclear(res);
	if (!found)
		return rollback(db, deis_error_set(err, ENOENT, "no certificate for '%s'",
						   domain));
	return commit(db, err);
}

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
	PGresult *res = q(db, err, "SELECT nextval('container_seq')", 0);
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
	char appid[32];
	int r = begin(db, err);

	if (r < 0)
		return r;
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	if (r == 0 && serial) {
		PGresult *res = q(db, err, "SELECT serial FROM apps WHERE id = $1", 1, appid);
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
		r = x(db, err, "INSERT INTO containers (app_id, name, type, number, instance,"
		      " seq, state, release, node, port, started, restarts, command, address)"
		      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
		      " CASE WHEN $11::bigint = 0 THEN NULL"
		      " ELSE to_timestamp($11::bigint / 1e6) END, $12, $13, $14)"
		      " ON CONFLICT (instance) DO UPDATE SET state = EXCLUDED.state,"
		      " release = EXCLUDED.release, node = EXCLUDED.node,"
		      " port = EXCLUDED.port, started = EXCLUDED.started,"
		      " restarts = EXCLUDED.restarts, address = EXCLUDED.address,"
		      " updated = clock_timestamp()",
		      14, appid, c->name, c->type, number, c->instance, seq,
		      c->state, release, c->node ? c->node : "", port, started,
		      restarts, c->command ? c->command : "", c->address ? c->address : "");
	}
	for (size_t i = 0; r == 0 && i < nremoved; i++)
		r = x(db, err, "DELETE FROM containers WHERE app_id = $1 AND instance = $2",
		      2, appid, removed[i]);
	if (r == 0 && deployed > 0) {
		char v[16];
		snprintf(v, sizeof(v), "%d", deployed);
		r = x(db, err, ROLLOUT_SET, 4, appid, v, "deployed", "");
	}
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

int deis_db_container_restart(struct deis_db *db, const char *app,
			      const char *name, struct deis_error *err)
{
	char appid[32];
	int r = begin(db, err);

	if (r < 0)
		return r;
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	PGresult *res = r < 0 ? NULL :
		q(db, err, "UPDATE containers SET desired = 'restart',"
		  " updated = clock_timestamp() WHERE instance = (SELECT instance"
		  " FROM containers WHERE app_id = $1 AND name = $2"
		  " ORDER BY state = 'stopping', seq DESC LIMIT 1) RETURNING 1", 2, appid, name);
	if (!res)
		return rollback(db, -err->code);
	int found = PQntuples(res);
	PQclear(res);
	if (!found)
		return rollback(db, deis_error_set(err, ENOENT, "no container '%s'", name));
	return commit(db, err);
}

int deis_db_run_create(struct deis_db *db, const char *app, const char *command,
		       int release, const char *node, int port, int *number,
		       char *instance, size_t ilen, struct deis_error *err)
{
	char appid[32], rel[16], portbuf[16];
	int r = begin(db, err);

	if (r < 0)
		return r;
	snprintf(rel, sizeof(rel), "%d", release);
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	PGresult *res = r < 0 ? NULL :
		q(db, err, "UPDATE apps SET run_serial = run_serial + 1 WHERE id = $1"
		  " RETURNING run_serial", 1, appid);
	if (!res)
		return rollback(db, -err->code);
	*number = (int)col_long(res, 0, 0);
	PQclear(res);
	struct deis_usage before;
	r = app_usage(db, appid, &before, err);
	if (r < 0)
		return rollback(db, r);
	char num[16];
	snprintf(num, sizeof(num), "%d", *number);
	snprintf(portbuf, sizeof(portbuf), "%d", port);
	/* Attached (node given): it runs already, started by its caller. */
	res = q(db, err, "INSERT INTO containers (app_id, name, type, number, seq, instance,"
		" state, release, command, node, port, desired, started)"
		" SELECT $1, 'run.' || $2, 'run', $2::int, s.v,"
		" a.name || '.run.' || $2 || '.' || s.v,"
		" CASE WHEN $5 = '' THEN 'starting' ELSE 'up' END, $3, $4, $5, $6,"
		" CASE WHEN $5 = '' THEN '' ELSE 'attached' END,"
		" CASE WHEN $5 = '' THEN NULL ELSE clock_timestamp() END"
		" FROM apps a, (SELECT nextval('container_seq') AS v) s WHERE a.id = $1"
		" RETURNING instance", 6, appid, num, rel, command, node ? node : "", portbuf);
	if (!res)
		return rollback(db, -err->code);
	if (instance)
		snprintf(instance, ilen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	r = admit(db, appid, &before, err);
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

int deis_db_rollout_set(struct deis_db *db, const char *app, int version,
			const char *state, const char *reason,
			struct deis_error *err)
{
	char appid[32], v[16];
	int r = begin(db, err);

	if (r < 0)
		return r;
	snprintf(v, sizeof(v), "%d", version);
	r = lock_app(db, app, ANY_USER, appid, sizeof(appid), err);
	if (r == 0)
		r = x(db, err, ROLLOUT_SET, 4, appid, v, state, reason ? reason : "");
	if (r < 0)
		return rollback(db, r);
	return commit(db, err);
}

int deis_db_node_seen(struct deis_db *db, const char *name, const char *address,
		      const char *info_json, struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	return x(db, err, "INSERT INTO nodes (name, address, info) VALUES ($1, $2, $3)"
		 " ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address,"
		 " info = EXCLUDED.info, last_seen = clock_timestamp()",
		 3, name, address, info_json ? info_json : "{}");
}

int deis_db_nodes(struct deis_db *db, struct deis_node **out, size_t *n,
		  struct deis_error *err)
{
	int r = db_connect(db, err);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	PGresult *res = q(db, err, "SELECT name, address, " US("last_seen") ","
			  " coalesce((info->>'containers')::int, 0),"
			  " coalesce((info->>'memory')::bigint, 0) FROM nodes ORDER BY name", 0);
	if (!res)
		return -err->code;
	int rows = PQntuples(res);
	if (rows) {
		*out = calloc((size_t)rows, sizeof(**out));
		if (!*out)
			abort();
	}
	for (int i = 0; i < rows; i++) {
		struct deis_node *nd = &(*out)[i];
		snprintf(nd->name, sizeof(nd->name), "%s", PQgetvalue(res, i, 0));
		snprintf(nd->address, sizeof(nd->address), "%s", PQgetvalue(res, i, 1));
		nd->last_seen = col_us(res, i, 2);
		nd->containers = (int)col_long(res, i, 3);
		nd->memory = col_ll(res, i, 4);
	}
	*n = (size_t)rows;
	PQclear(res);
	return 0;
}

/* ---- quotas (platform/quotas, users/<name>/quota) ---- */

int deis_db_quotas(struct deis_db *db, struct deis_quota_row **out, size_t *n,
		   struct deis_error *err)
{
	int r = db_connect(db, err);

	*out = NULL;
	*n = 0;
	if (r < 0)
		return r;
	PGresult *res = q(db, err, "SELECT scope, containers, memory, overcommit FROM quotas"
			  " ORDER BY scope", 0);
	if (!res)
		return -err->code;
	int rows = PQntuples(res);
	if (rows) {
		*out = calloc((size_t)rows, sizeof(**out));
		if (!*out)
			abort();
	}
	for (int i = 0; i < rows; i++) {
		snprintf((*out)[i].scope, sizeof((*out)[i].scope), "%s", PQgetvalue(res, i, 0));
		quota_row(res, i, &(*out)[i].q);
	}
	*n = (size_t)rows;
	PQclear(res);
	return 0;
}

int deis_db_quota_set(struct deis_db *db, const char *scope, const struct deis_quota *qt,
		      struct deis_error *err)
{
	char c[24], m[24], o[24];
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	if (qt->containers < 0 && qt->memory < 0 && qt->overcommit <= 0)
		return x(db, err, "DELETE FROM quotas WHERE scope = $1", 1, scope);
	snprintf(c, sizeof(c), "%ld", qt->containers);
	snprintf(m, sizeof(m), "%lld", qt->memory);
	snprintf(o, sizeof(o), "%d", qt->overcommit);
	return x(db, err, "INSERT INTO quotas (scope, containers, memory, overcommit)"
		 " VALUES ($1, $2, $3, $4) ON CONFLICT (scope) DO UPDATE SET"
		 " containers = EXCLUDED.containers, memory = EXCLUDED.memory,"
		 " overcommit = EXCLUDED.overcommit, updated = clock_timestamp()", 4, scope,
		 qt->containers >= 0 ? c : NULL, qt->memory >= 0 ? m : NULL,
		 qt->overcommit > 0 ? o : NULL);
}
