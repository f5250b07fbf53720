/*
 * db_json.c - JSON columns (jsonb as text) to key/value lists and back.
 *
 * One shape: an object of strings (config, limits, a Procfile, the
 * formation of a quota check).  Every such column is written here, so a column that does
 * not decode is damage, reported as EIO, never read as empty: a change
 * built on a config read as empty would drop every var.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db_int.h"
#include "deis/validate.h"

int db_json_to_kv(const char *text, struct deis_kvlist *out,
		  struct deis_error *err)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je), *v;
	const char *k, *why = NULL;

	if (!j)
		return deis_error_set(err, EIO, "database: malformed JSON: %s", je.text);
	if (!json_is_object(j)) {
		why = "not an object";
	} else {
		json_object_foreach(j, k, v) {
			if (!json_is_string(v)) {
				why = "a value that is not a string";
				break;
			}
			deis_kvlist_setn(out, k, json_string_value(v), json_string_length(v));
		}
		deis_kvlist_sort(out);
	}
	json_decref(j);
	if (why)
		return deis_error_set(err, EIO, "database: malformed JSON: %s", why);
	return 0;
}

char *db_kv_to_json(const struct deis_kvlist *l, struct deis_error *err)
{
	json_t *j = json_object();
	bool failed = !j;

	for (size_t i = 0; !failed && i < l->n; i++) {
		const char *k = l->items[i].key;
		json_t *v = json_stringn(l->items[i].value, strlen(l->items[i].value));
		/* jansson would leave such an item out, and a config var is
		 * stored byte for byte or refused, never dropped. */
		if (!v || !deis_valid_utf8(k, strlen(k), NULL)) {
			char shown[80];
			json_decref(v);
			json_decref(j);
			deis_error_set(err, EINVAL, "'%s': not UTF-8 text",
				       deis_printable(shown, sizeof(shown), k, strlen(k)));
			return NULL;
		}
		failed = json_object_set_new(j, k, v) < 0;
	}
	char *s = failed ? NULL : json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (!s)
		deis_error_set(err, ENOMEM, "database: cannot encode JSON");
	return s;
}
