/*
 * db_settings.c - the app_settings rows: an app's settings (healthcheck,
 * maintenance ...; include/deis/settings.h) as one row per app
 * and setting it has set: name, canonical value, mtime.
 *
 * One table for every setting is what makes a new setting cost no
 * migration and no SQL.  A setting an app never set has no row: it has
 * the default of its row in lib/settings.c.  The load statement is one
 * of db.c's load pipeline (SETTINGS_Q); its rows are decoded here.
 */
#include <errno.h>
#include <stdlib.h>

#include "deis/settings.h"
#include "db_settings.h"

int deis_db_settings_decode(PGresult *res, struct deis_app **apps, size_t n,
			    struct deis_error *err)
{
	size_t j = 0;

	/* Both are ordered by app id: one walk matches them. */
	for (int i = 0; i < PQntuples(res); i++) {
		long id = strtol(PQgetvalue(res, i, 0), NULL, 10);
		while (j < n && apps[j]->id < id)
			j++;
		if (j == n)
			break;
		if (apps[j]->id == id)
			deis_app_setting_put(apps[j], PQgetvalue(res, i, 1),
					     PQgetvalue(res, i, 2),
					     strtoll(PQgetvalue(res, i, 3), NULL, 10));
	}
	return 0;
}

int deis_db_app_setting_set(struct deis_db *db, const char *app, const char *name,
			    const char *value, struct deis_error *err)
{
	const char *params[] = { name, value };

	if (!deis_setting_find(name))
		return deis_error_set(err, EINVAL, "'%s' is not a setting", name);
	return deis_db_app_exec(db, app, "INSERT INTO app_settings (app_id, name, value)"
				" VALUES ($1, $2, $3) ON CONFLICT (app_id, name) DO UPDATE"
				" SET value = excluded.value, mtime = clock_timestamp()",
				2, params, err);
}
