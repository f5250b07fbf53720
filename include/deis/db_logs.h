/*
 * db_logs.h - what the log server reads from PostgreSQL about a line's
 * source (lib/db_logs.c).
 *
 * A container on another node sends its output through its engine's syslog
 * driver, tagged "<app>.<seq>" by the scheduler (never by the app: the tag
 * is in the service's spec); the node's relay turns the tag into the
 * source "@<seq>" of app <app>, and deis-logd asks here which instance of
 * that app the container is (web.3), as the app's logs show it.
 */
#ifndef DEIS_DB_LOGS_H
#define DEIS_DB_LOGS_H

#include <stddef.h>

#include "deis/db.h"
#include "deis/error.h"

/*
 * The name (type.number) of app's instance whose container sequence
 * number is seq, into name (len bytes): 1 found, 0 when app has no such
 * container (a seq of another app, or one whose row is gone), < 0 on a
 * database error.
 */
int deis_db_instance_name(struct deis_db *db, const char *app, long long seq,
			  char *name, size_t len, struct deis_error *err);

#endif
