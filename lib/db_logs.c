/*
 * db_logs.c - the log server's look-ups (include/deis/db_logs.h): which
 * instance of an app a container sequence number names.  One indexed
 * read per container (deis-logd keeps the answer), never per line.
 */
#include <stdio.h>

#include <libpq-fe.h>

#include "db_int.h"
#include "deis/db_logs.h"

/* The app is part of the key: a tag naming another app's container names
 * nothing. */
#define INSTANCE_NAME "SELECT c.name FROM containers c JOIN apps a ON a.id = c.app_id" \
	" WHERE a.name = $1 AND c.seq = $2::bigint"

int deis_db_instance_name(struct deis_db *db, const char *app, long long seq,
			  char *name, size_t len, struct deis_error *err)
{
	char s[24];
	int found = 0;

	snprintf(s, sizeof(s), "%lld", seq);
	PGresult *res = db_select(db, err, INSTANCE_NAME, app, s);
	if (!res)
		return -err->code;
	if (PQntuples(res) == 1 && len) {
		snprintf(name, len, "%s", PQgetvalue(res, 0, 0));
		found = 1;
	}
	PQclear(res);
	return found;
}
