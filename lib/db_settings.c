/*
 * db_settings.c - the app_settings rows: an app's settings (healthcheck,
 * maintenance, autoscale ...; include/deis/settings.h) as one row per app
 * and setting it has set: name, canonical value, mtime.
 *
 * One table for every setting is what makes a new setting cost no
 * migration and no SQL.  A setting an app never set has no row: it has
 * the default of its row in lib/settings.c.  The rows are loaded with the
 * app (db_load.c's app_settings step).
 */
#include <errno.h>

#include "deis/settings.h"
#include "db_int.h"

int deis_db_app_setting_set(struct deis_db *db, const char *app, const char *name,
			    const char *value, struct deis_error *err)
{
	if (!deis_setting_find(name))
		return deis_error_set(err, EINVAL, "'%s' is not a setting", name);
	return db_app_exec(db, err, app, DB_ANY_USER, NULL,
			   "INSERT INTO app_settings (app_id, name, value)"
			   " VALUES ($1, $2, $3) ON CONFLICT (app_id, name) DO UPDATE"
			   " SET value = excluded.value, mtime = clock_timestamp()",
			   name, value);
}
