/*
 * db_settings.h - the seam between lib/db.c and lib/db_settings.c (the
 * app_settings rows), private to lib/.
 *
 * db.c keeps the connection, the transactions and the load pipeline;
 * db_settings.c holds the settings' SQL and decodes their rows.  When
 * db.c becomes several lib/db_*.c files sharing one private header, these
 * two declarations move there.
 */
#ifndef DEIS_DB_SETTINGS_H
#define DEIS_DB_SETTINGS_H

#include <stddef.h>

#include <libpq-fe.h>

#include "deis/error.h"
#include "deis/model.h"

struct deis_db;

/* (db.c) In one transaction: locks app's row (its serial and updated
 * bumped, the actor's right to change it checked, as every change does),
 * then runs sql with $1 the app's id and $2.. the nparams (at most 3)
 * params. */
int deis_db_app_exec(struct deis_db *db, const char *app, const char *sql,
		     int nparams, const char *const *params, struct deis_error *err);

/* (db_settings.c) The load's app_settings result (app_id, name, value,
 * mtime in microseconds; ordered by app_id) into apps (n of them, ordered
 * by id). */
int deis_db_settings_decode(PGresult *res, struct deis_app **apps, size_t n,
			    struct deis_error *err);

#endif
