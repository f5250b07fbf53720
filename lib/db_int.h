/*
 * db_int.h - what the lib/db_*.c files share; not a public header.
 *
 * The Database module (include/deis/db.h) is split by purpose:
 *   db_conn.c      connection, statement cache, one statement, transactions
 *   db_json.c      JSON columns <-> key/value lists
 *   db_schema.c    migrations (append-only) and their runner
 *   db_load.c      loading apps, users and serials
 *   db_apps.c      apps and their control files' rows
 *   db_releases.c  releases and builds
 *   db_sched.c     containers, runs, rollouts, nodes (the scheduler's)
 *   db_access.c    users, keys, perms, quotas and admission
 *   db_users.c     creating users; reserved uids for users with no local
 *                  account
 *   db_settings.c  an app's settings (app_settings rows)
 *   db_proxy.c     the routers' heartbeats and applied serials
 *
 * Every SQL statement of the platform is in these files.  Parameters are
 * always bound, never spliced, and each statement is prepared once per
 * connection.  A change is one transaction that locks its app row first
 * (UPDATE apps ... RETURNING), so concurrent writers to one app serialise
 * and release numbers never collide, while writers to different apps never
 * wait for each other.
 */
#ifndef DEIS_DB_INT_H
#define DEIS_DB_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "deis/db.h"

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

/* db_conn.c */

/* Connects when the connection is not up (a new session: nothing is
 * prepared on it yet). */
int db_connect(struct deis_db *db, struct deis_error *err);
/* Fills err from a failed result (res may be NULL); returns -errno. */
int db_result_error(struct deis_db *db, PGresult *res, struct deis_error *err);
/*
 * Runs one statement, prepared once per connection, with n text
 * parameters (NULL is SQL NULL).  Returns its result, which the caller
 * PQclear()s, or NULL with err (never NULL itself) filled.
 */
PGresult *db_run(struct deis_db *db, const char *sql, int n,
		 const char *const *params, struct deis_error *err);
/* db_run with the parameters as arguments, counted by the compiler:
 * db_query(db, err, "... $1 ... $2", a, b). */
#define db_query(db, err, sql, ...) \
	db_run(db, sql, DB_NARGS(__VA_ARGS__), DB_ARGS(__VA_ARGS__), err)
#define DB_ARGS(...) ((const char *const[]){ NULL, ##__VA_ARGS__ } + 1)
#define DB_NARGS(...) \
	((int)(sizeof((const char *const[]){ NULL, ##__VA_ARGS__ }) / sizeof(char *)) - 1)
/* The number of rows of a db_run() result, which it frees; < 0 (err
 * filled by db_run) for none. */
int db_count(PGresult *res, struct deis_error *err);
/* A statement whose rows are not needed: 0, or < 0 with err filled. */
#define db_exec(db, err, sql, ...) \
	db_status(db_count(db_query(db, err, sql, ##__VA_ARGS__), err))
static inline int db_status(int rows)
{
	return rows < 0 ? rows : 0;
}
/* db_query for a statement on its own, outside a transaction: a
 * connection lost since the last call is made again first. */
#define db_select(db, err, sql, ...) \
	(db_connect(db, err) < 0 ? NULL : db_query(db, err, sql, ##__VA_ARGS__))
/* The rows of res (which they free; NULL: err is filled), as key (column
 * 0) and value (1) added to out, or column 0 added to out; 0 or < 0. */
int db_rows_kv(PGresult *res, struct deis_kvlist *out, struct deis_error *err);
int db_rows_list(PGresult *res, struct deis_strlist *out, struct deis_error *err);
/* A new zeroed array of one element of size bytes per row of res (NULL
 * for none, or for no res) and their number in *n. */
void *db_rows_array(PGresult *res, size_t size, size_t *n);
/* Begins a transaction; a connection lost since the last call is made
 * again first. */
int db_begin(struct deis_db *db, struct deis_error *err);
/* COMMIT; a COMMIT that fails (a deferred constraint, a serialization
 * failure, a lost connection) or that the server turned into a ROLLBACK
 * (the transaction had failed) is an error, never a success. */
int db_commit(struct deis_db *db, struct deis_error *err);
/* Whether res, the result of a COMMIT, committed: 0 or -EIO. */
int db_committed(PGresult *res, struct deis_error *err);
/* Ends a failed transaction; returns r, keeping the first error. */
int db_rollback(struct deis_db *db, int r);
/* Ends the transaction: commits when r is 0, else rolls back and returns r. */
int db_end(struct deis_db *db, int r, struct deis_error *err);

/*
 * Platform-wide advisory locks, held to the end of the transaction.  The
 * numbers are shipped: every binary of a platform must agree on them.
 * Domain writers and admissions share one, as they always have (each
 * takes it after its one app row, so the sharing cannot deadlock).
 */
enum db_lock {
	DB_LOCK_MIGRATE = 7306,		/* one migrator at a time */
	DB_LOCK_DOMAINS = 7307,		/* domain writers of every app */
	DB_LOCK_ADMISSION = 7307,	/* quota admission (db_admit) */
};
int db_lock(struct deis_db *db, enum db_lock lock, struct deis_error *err);

/* db_load.c: how one row of a load step fills its app (see load_steps[]);
 * < 0 with err filled for a row that does not decode.  A decoder that
 * lives with its entity's other statements, outside db_load.c, is
 * declared here as `db_decode_fn db_decode_<entity>;`. */
typedef int db_decode_fn(struct deis_app *a, PGresult *res, int row,
			 struct deis_error *err);

/* db_json.c */

/* A JSON object of strings, sorted, added to out; anything else is -EIO
 * with err filled. */
int db_json_to_kv(const char *text, struct deis_kvlist *out, struct deis_error *err);
/* l as a JSON object (the caller frees it), or NULL with err filled:
 * EINVAL for text that is not UTF-8, ENOMEM if jansson fails. */
char *db_kv_to_json(const struct deis_kvlist *l, struct deis_error *err);

/* db_apps.c */

/* An app's id as text ($1 of most statements). */
#define DB_ID_LEN 32
enum db_app_right { DB_ANY_USER, DB_OWNER };
/* Begins a change to app: a transaction with the app's row locked and its
 * serial bumped, after checking that the acting user (deis_db_act_as) has
 * right on it; its id in appid (DB_ID_LEN).  On failure nothing is left
 * open.  End it with db_end(). */
int db_app_begin(struct deis_db *db, const char *app, enum db_app_right right,
		 char *appid, struct deis_error *err);
/*
 * A change that is one statement (db_app_exec): in a transaction of its
 * own, as db_app_begin(), runs sql with $1 the app's id and the n params
 * as $2...  With missing (not NULL), a statement that returns no row is
 * -ENOENT with that message, and nothing changes.
 */
int db_app_stmt(struct deis_db *db, const char *app, enum db_app_right right,
		const char *missing, const char *sql, int n, const char *const *params,
		struct deis_error *err);
#define db_app_exec(db, err, app, right, missing, sql, ...) \
	db_app_stmt(db, app, right, missing, sql, DB_NARGS(__VA_ARGS__), \
		    DB_ARGS(__VA_ARGS__), err)
/*
 * The rows behind a control file that is a list (formation, domains,
 * perms, drains): delete them all, insert one per item, touch the file's
 * mtime.  ins takes $1 the app's id, $2 the item and, when nparams is 3,
 * $3 its value or, for a list without values, its position.
 */
struct db_list_rows {
	const char *del;
	const char *ins;
	int nparams;
	const char *mtime;
};
#define DB_LIST_ROWS(table, ins, nparams) { \
	"DELETE FROM " table " WHERE app_id = $1", ins, nparams, \
	"UPDATE apps SET " table "_mtime = clock_timestamp() WHERE id = $1" }
/* Replaces app's rows of a list with items, in a transaction of its own. */
int db_set_rows(struct deis_db *db, const char *app, enum db_app_right right,
		const struct db_list_rows *rows, const struct deis_strlist *items,
		struct deis_error *err);

/* db_access.c */
int db_user_ensure(struct deis_db *db, const char *name, int uid,
		   struct deis_error *err);
int db_app_usage(struct deis_db *db, const char *appid, struct deis_usage *out,
		 struct deis_error *err);
int db_admit(struct deis_db *db, const char *appid, const struct deis_usage *before,
	     struct deis_error *err);

/* Columns of a result. */
static inline int64_t col_us(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static inline long col_long(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtol(PQgetvalue(res, row, col), NULL, 10);
}

static inline long long col_ll(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static inline char *col_str(PGresult *res, int row, int col)
{
	char *s = strdup(PQgetvalue(res, row, col));

	if (!s)
		abort();
	return s;
}

/* Microseconds since the epoch, as SQL text for a timestamptz column. */
#define US(col) "(extract(epoch from " col ") * 1000000)::bigint"

#endif
