/*
 * db_json.c - JSON columns (jsonb as text) to key/value lists and back.
 *
 * Two shapes: an object of strings (config, limits, a Procfile), and an
 * array of [key, value] pairs where the order matters (healthcheck).
 * Every column of either shape is written here, so a column that does
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

int db_json_to_kv(const char *text, int as_pairs, struct deis_kvlist *out,
		  struct deis_error *err)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je), *v, *p;
	const char *k, *why = NULL;
	size_t i;

	if (!j)
		return deis_error_set(err, EIO, "database: malformed JSON: %s", je.text);
	if (as_pairs ? !json_is_array(j) : !json_is_object(j)) {
		why = as_pairs ? "not an array" : "not an object";
	} else if (as_pairs) {
		json_array_foreach(j, i, p) {
			k = json_string_value(json_array_get(p, 0));
			v = json_array_get(p, 1);
			if (json_array_size(p) != 2 || !k || !json_is_string(v)) {
				why = "an item that is not a [key, value] pair of strings";
				break;
			}
			deis_kvlist_setn(out, k, json_string_value(v), json_string_length(v));
		}
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

/* Adds one item to j; -1 when jansson cannot (out of memory). */
static int add_item(json_t *j, int as_pairs, const char *key, json_t *value)
{
	if (!as_pairs)
		return json_object_set_new(j, key, value);
	return json_array_append_new(j, json_pack("[so]", key, value));
}

char *db_kv_to_json(const struct deis_kvlist *l, int as_pairs,
		    struct deis_error *err)
{
	json_t *j = as_pairs ? json_array() : json_object();
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
		failed = add_item(j, as_pairs, k, v) < 0;
	}
	char *s = failed ? NULL : json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (!s)
		deis_error_set(err, ENOMEM, "database: cannot encode JSON");
	return s;
}
