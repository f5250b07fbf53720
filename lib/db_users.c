/*
 * db_users.c - creating platform users, and the uids of those who have no
 * local account.
 *
 * A platform user is a name.  One with a local account acts with that
 * account's uid on the host; one without (a remote developer with only a
 * key) gets a uid of its own from the reserved range user_uid_min ..
 * user_uid_max, recorded in users.uid with uid_reserved set (migration
 * 8; unique among reserved uids), so that the processes the platform runs
 * for it (the builder's sftp-server) have an identity deisfs maps back to
 * the name.  No /etc/passwd entry is made: the record is the account.
 *
 * A uid is the lowest free one of the range that no local account holds
 * (a local account inside the range is skipped, never shared).  Two
 * allocators racing for the same uid meet the unique index: the loser
 * picks again.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "deis/conf.h"
#include "db_int.h"

/* Local accounts skipped inside the range, and races lost, at most. */
#define PICK_TRIES	1000

int deis_db_uid_range(int *min, int *max, struct deis_error *err)
{
	*min = deis_conf.user_uid_min;
	*max = deis_conf.user_uid_max;
	if (*min < 1000 || *max < *min || *max >= INT_MAX)
		return deis_error_set(err, EINVAL, "user_uid_min..user_uid_max (%d..%d) must be "
				      "a range of uids from 1000 up, below %d", *min, *max,
				      INT_MAX);
	return 0;
}

/* Whether uid belongs to a local account (it is then never allocated). */
static bool uid_is_local(long uid)
{
	char buf[16384];
	struct passwd pw, *pwp = NULL;

	return getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp;
}

/* The lowest uid of the range from `from` on that no user row has
 * reserved, into out; -ENOSPC when none is left. */
static int free_uid(struct deis_db *db, long from, int max, char out[16],
		    struct deis_error *err)
{
	char f[24], m[16];

	snprintf(f, sizeof(f), "%ld", from);
	snprintf(m, sizeof(m), "%d", max);
	PGresult *res = db_query(db, err, "SELECT min(c) FROM (SELECT $1::int AS c UNION ALL"
				 " SELECT uid + 1 FROM users WHERE uid_reserved AND uid >= $1) s"
				 " WHERE c <= $2::int AND NOT EXISTS (SELECT 1 FROM users u"
				 " WHERE u.uid_reserved AND u.uid = s.c)", f, m);
	if (!res)
		return -err->code;
	int r = 0;
	if (PQgetisnull(res, 0, 0))
		r = deis_error_set(err, ENOSPC, "no uid is left in user_uid_min..user_uid_max");
	else
		snprintf(out, 16, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return r;
}

/*
 * Gives name a reserved uid, *uid: a new row (create; -EEXIST when the
 * name is taken), or its row that has none (-ENOENT when it has one by
 * now, or has gone).
 */
static int reserve(struct deis_db *db, const char *name, bool create, int *uid,
		   struct deis_error *err)
{
	const char *sql = create ?
		"INSERT INTO users (name, uid, uid_reserved) VALUES ($1, $2::int, true)"
		" RETURNING 1" :
		"UPDATE users SET uid = $2::int, uid_reserved = true, serial = serial + 1,"
		" updated = clock_timestamp() WHERE name = $1 AND NOT uid_reserved RETURNING 1";
	int min, max, r = deis_db_uid_range(&min, &max, err);
	long from = min;
	char pick[16];

	for (int tries = 0; r == 0 && tries < PICK_TRIES; tries++) {
		r = free_uid(db, from, max, pick, err);
		if (r < 0)
			return r;
		from = strtol(pick, NULL, 10);
		if (uid_is_local(from)) {
			from++;		/* a local account's: never shared */
			continue;
		}
		PGresult *res = db_run(db, sql, 2, (const char *const[]){ name, pick }, err);
		if (!res && err->code == EEXIST) {
			/* the uid went to a concurrent allocator, or the
			 * name exists: which one, the name's row says */
			PGresult *u = db_query(db, err, "SELECT 1 FROM users WHERE name = $1", name);
			int taken = db_count(u, err);
			if (taken < 0)
				return taken;
			if (taken && create)
				return deis_error_set(err, EEXIST, "user '%s' already exists", name);
			from = min;
			deis_error_clear(err);
			continue;
		}
		int rows = db_count(res, err);
		if (rows < 0)
			return rows;
		if (rows == 0)
			return deis_error_set(err, ENOENT, "no user '%s' without a uid", name);
		*uid = (int)from;
		return 0;
	}
	if (r == 0)
		r = deis_error_set(err, ENOSPC, "no free uid found in user_uid_min..user_uid_max "
				   "after %d tries (local accounts inside the range?)", PICK_TRIES);
	return r;
}

int deis_db_user_create(struct deis_db *db, const char *name, int uid,
			struct deis_error *err)
{
	char uidbuf[16];
	int r = db_connect(db, err);

	if (r < 0)
		return r;
	if (uid < 0)
		return reserve(db, name, true, &uid, err);
	snprintf(uidbuf, sizeof(uidbuf), "%d", uid);
	r = db_exec(db, err, "INSERT INTO users (name, uid) VALUES ($1, $2)", name, uidbuf);
	if (r == -EEXIST)
		deis_error_set(err, EEXIST, "user '%s' already exists", name);
	return r;
}

int deis_db_user_uid(struct deis_db *db, const char *name, int *uid, bool *allocated,
		     struct deis_error *err)
{
	PGresult *res = db_select(db, err, "SELECT uid, uid_reserved FROM users WHERE name = $1",
				  name);

	*allocated = false;
	if (!res)
		return -err->code;
	int rows = PQntuples(res);
	bool reserved = rows && PQgetvalue(res, 0, 1)[0] == 't';
	*uid = rows ? (int)col_long(res, 0, 0) : -1;
	PQclear(res);
	if (!rows)
		return deis_error_set(err, ENOENT, "no user '%s'", name);
	if (reserved)
		return 0;
	/* A row made before uids were reserved, or of a local account that
	 * has gone: it gets one now; the serial bump tells every mount. */
	int r = reserve(db, name, false, uid, err);
	if (r == -ENOENT)	/* a concurrent allocation won: read it back */
		return deis_db_user_uid(db, name, uid, allocated, err);
	*allocated = r == 0;
	return r;
}
