/*
 * db_conn.c - the connection: connect and reconnect, the statement cache,
 * running one statement, transactions.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "db_int.h"

/* ---- the connection ---- */

int db_connect(struct deis_db *db, struct deis_error *err)
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
	PQfinish(db->conn);	/* NULL is fine */
	free(db->conninfo);
	free(db);
}

/* ---- one statement ---- */

/* Maps a failed result to an errno: unique violations are EEXIST, foreign
 * keys and checks EINVAL, a lost connection EIO. */
int db_result_error(struct deis_db *db, PGresult *res,
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

PGresult *db_run(struct deis_db *db, const char *sql, int n,
		 const char *const *params, struct deis_error *err)
{
	PGresult *res = exec_stmt(db, sql, n, params);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		db_result_error(db, res, err);
		PQclear(res);
		return NULL;
	}
	return res;
}

int db_count(PGresult *res, struct deis_error *err)
{
	if (!res)
		return -err->code;
	int n = PQntuples(res);
	PQclear(res);
	return n;
}

int db_rows_kv(PGresult *res, struct deis_kvlist *out, struct deis_error *err)
{
	for (int i = 0; res && i < PQntuples(res); i++)
		deis_kvlist_set(out, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	return db_status(db_count(res, err));
}

int db_rows_list(PGresult *res, struct deis_strlist *out, struct deis_error *err)
{
	for (int i = 0; res && i < PQntuples(res); i++)
		deis_strlist_add(out, PQgetvalue(res, i, 0));
	return db_status(db_count(res, err));
}

void *db_rows_array(PGresult *res, size_t size, size_t *n)
{
	void *rows = NULL;

	*n = res ? (size_t)PQntuples(res) : 0;
	if (*n && !(rows = calloc(*n, size)))
		abort();
	return rows;
}

/* ---- transactions ---- */

/* Runs sql (nothing that could apply twice); when the server went away
 * since the last call, connects again and tries once more. */
static int exec_reconnecting(struct deis_db *db, const char *sql, struct deis_error *err)
{
	int r = db_exec(db, err, sql);

	if (r < 0 && PQstatus(db->conn) != CONNECTION_OK) {
		r = db_connect(db, err);
		if (r == 0)
			r = db_exec(db, err, sql);
	}
	return r;
}

int db_begin(struct deis_db *db, struct deis_error *err)
{
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	return exec_reconnecting(db, "BEGIN", err);
}

int db_commit(struct deis_db *db, struct deis_error *err)
{
	PGresult *res = db_query(db, err, "COMMIT");

	if (!res)
		return -err->code;
	int r = db_committed(res, err);
	PQclear(res);
	return r;
}

int db_committed(PGresult *res, struct deis_error *err)
{
	if (strcmp(PQcmdStatus(res), "COMMIT"))
		return deis_error_set(err, EIO, "database: the transaction was rolled back");
	return 0;
}

int db_rollback(struct deis_db *db, int r)
{
	PQclear(PQexec(db->conn, "ROLLBACK"));
	return r;
}

int db_end(struct deis_db *db, int r, struct deis_error *err)
{
	return r < 0 ? db_rollback(db, r) : db_commit(db, err);
}

int db_lock(struct deis_db *db, enum db_lock lock, struct deis_error *err)
{
	char id[16];

	snprintf(id, sizeof(id), "%d", (int)lock);
	return db_exec(db, err, "SELECT pg_advisory_xact_lock($1::bigint)", id);
}

long deis_db_ping(struct deis_db *db, struct deis_error *err)
{
	struct timespec a, b;
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &a);
	r = db_exec(db, err, "SELECT 1");
	if (r < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000;
}

/* An idle connection has nothing to read unless the server said
 * something on its own: most often that it ended the session (a shutdown,
 * or the backends exiting with a killed postmaster: a FATAL message, then
 * the end of the socket).  So a readable idle socket, found with no round
 * trip, asks for one; reading it first lets libpq see an end already
 * there and mark the connection bad. */
int deis_db_check(struct deis_db *db, bool round_trip, struct deis_error *err)
{
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) == PQTRANS_IDLE) {
		struct pollfd p = { .fd = PQsocket(db->conn), .events = POLLIN };
		if (poll(&p, 1, 0) != 0) {
			round_trip = true;
			PQconsumeInput(db->conn);
		}
	}
	int r = db_connect(db, err);	/* reconnects a lost connection */
	if (r < 0 || !round_trip)
		return r;
	return exec_reconnecting(db, "SELECT 1", err) < 0 ? -EIO : 0;
}

bool deis_db_lost(const struct deis_db *db)
{
	return !db->conn || PQstatus(db->conn) != CONNECTION_OK;
}
