/*
 * db_locks.c - locks held for as long as a piece of work runs, across
 * every host of the platform, and what a push builds on (db.h, "locks
 * held by a session").
 *
 * A lock here is a session-level PostgreSQL advisory lock on a
 * connection of its own.  Its own, because a lock belongs to the server
 * session that took it: on a shared connection that is lost and made
 * again (db_connect does so quietly) the lock would be gone while its
 * holder went on.  Nothing else runs on this connection, so it never
 * reconnects: it lives exactly as long as the lock.
 *
 * The server drops the lock when the session ends, whatever ends it:
 * deis_db_unlock(), the holder's exit or death (the kernel closes its
 * socket and the server's backend reads the end at once), or, for a host
 * that vanished without closing anything, the server's TCP keepalives,
 * set short on this session (about 25 s).  A flock would hold on one
 * machine only, and a row in a table would outlive a killed holder.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>

#include "db_int.h"

struct deis_db_lock {
	struct deis_db *db;
};

/* Best effort, one statement: a server without one of these settings
 * still locks.  The keepalives are the server's (a client that vanished);
 * idle_session_timeout would end a lock held by a session that, by
 * design, sits idle; the name shows the holder in pg_stat_activity. */
static const char lock_settings_sql[] =
	"SELECT set_config('tcp_keepalives_idle', '10', false),"
	" set_config('tcp_keepalives_interval', '5', false),"
	" set_config('tcp_keepalives_count', '3', false),"
	" set_config('idle_session_timeout', '0', false),"
	" set_config('application_name', $1, false)";

int deis_db_lock_try(const char *conninfo, enum deis_db_lock_class cls, long key,
		     const char *holder, struct deis_db_lock **out,
		     struct deis_error *err)
{
	struct deis_db_lock *l = calloc(1, sizeof(*l));
	struct deis_error ignored = DEIS_ERROR_INIT;
	char c[16], k[32];
	int r;

	if (!l)
		abort();
	*out = NULL;
	r = deis_db_open(conninfo, &l->db, err);
	if (r < 0) {
		free(l);
		return r;
	}
	PQclear(db_query(l->db, &ignored, lock_settings_sql,
			 holder ? holder : "deis"));
	/* The two-key form: (class, key) never meets the one-key locks of
	 * db_lock().  An id past 2^31 wraps; two apps then share a lock, a
	 * refusal at worst, never two pushes of one app. */
	snprintf(c, sizeof(c), "%d", (int)cls);
	snprintf(k, sizeof(k), "%ld", key & INT_MAX);
	PGresult *res = db_query(l->db, err, "SELECT pg_try_advisory_lock($1::int, $2::int)",
				 c, k);
	if (!res) {
		r = -err->code;
	} else {
		r = PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "t") ? 0 :
		    deis_error_set(err, EWOULDBLOCK, "held by another session");
		PQclear(res);
	}
	if (r < 0) {
		deis_db_unlock(l);
		return r;
	}
	*out = l;
	return 0;
}

bool deis_db_lock_lost(struct deis_db_lock *l)
{
	PGconn *conn = l->db->conn;

	if (!conn || PQstatus(conn) != CONNECTION_OK)
		return true;
	/* An idle session hears from the server only when it is being
	 * ended (or a notice): read it without a round trip. */
	struct pollfd p = { .fd = PQsocket(conn), .events = POLLIN };
	if (poll(&p, 1, 0) > 0 && (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK))
		return true;
	return false;
}

void deis_db_unlock(struct deis_db_lock *l)
{
	if (!l)
		return;
	deis_db_close(l->db);	/* the session ends: the server drops the lock */
	free(l);
}

int deis_db_last_build_commit(struct deis_db *db, long app_id, char *sha, size_t len,
			      struct deis_error *err)
{
	char id[32];

	snprintf(id, sizeof(id), "%ld", app_id);
	sha[0] = '\0';
	PGresult *res = db_select(db, err, "SELECT b.commit FROM builds b"
				  " WHERE b.app_id = $1 AND b.status = 'succeeded'"
				  " AND b.commit <> ''"
				  " AND EXISTS (SELECT 1 FROM releases r"
				  "             WHERE r.app_id = b.app_id AND r.build_id = b.id)"
				  " ORDER BY b.number DESC LIMIT 1", id);
	if (!res)
		return -err->code;
	if (PQntuples(res) == 1)
		snprintf(sha, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}
