/*
 * db_json.c - JSON columns (jsonb as text) to key/value lists and back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db_int.h"
#include "deis/validate.h"

/* ---- JSON <-> lists ---- */

/* A JSON object of strings into a sorted kvlist. */
int db_json_to_kv(const char *text, struct deis_kvlist *out,
		  struct deis_error *err)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);
	const char *k;
	json_t *v;

	if (!o || !json_is_object(o)) {
		json_decref(o);
		return deis_error_set(err, EIO, "database: malformed JSON: %s", je.text);
	}
	json_object_foreach(o, k, v) {
		if (json_is_string(v))
			deis_kvlist_setn(out, k, json_string_value(v),
					 json_string_length(v));
	}
	json_decref(o);
	deis_kvlist_sort(out);
	return 0;
}

/* A JSON array of [key, value] pairs (keeps order: healthcheck). */
int db_json_pairs_to_kv(const char *text, struct deis_kvlist *out,
			struct deis_error *err)
{
	json_error_t je;
	json_t *a = json_loads(text, 0, &je);
	size_t i;
	json_t *p;

	if (!a || !json_is_array(a)) {
		json_decref(a);
		return deis_error_set(err, EIO, "database: malformed JSON: %s", je.text);
	}
	json_array_foreach(a, i, p) {
		json_t *k = json_array_get(p, 0), *v = json_array_get(p, 1);
		if (json_is_string(k) && json_is_string(v))
			deis_kvlist_set(out, json_string_value(k), json_string_value(v));
	}
	json_decref(a);
	return 0;
}

/* A kvlist as JSON text (the caller frees it), or NULL with err filled
 * when a key or value is not UTF-8: jansson would leave that item out, and
 * a config var must be stored byte for byte or refused, never dropped. */
char *db_kv_to_json(const struct deis_kvlist *l, int as_pairs,
		    struct deis_error *err)
{
	json_t *j = as_pairs ? json_array() : json_object();

	for (size_t i = 0; i < l->n; i++) {
		json_t *v = json_stringn(l->items[i].value, strlen(l->items[i].value));
		const char *k = l->items[i].key;
		if (!v || !deis_valid_utf8(k, strlen(k), NULL)) {
			char shown[80];
			json_decref(v);
			json_decref(j);
			deis_error_set(err, EINVAL, "'%s': not UTF-8 text",
				       deis_printable(shown, sizeof(shown), k, strlen(k)));
			return NULL;
		}
		if (as_pairs) {
			json_t *p = json_array();
			json_array_append_new(p, json_string(l->items[i].key));
			json_array_append_new(p, v);
			json_array_append_new(j, p);
		} else {
			json_object_set_new(j, l->items[i].key, v);
		}
	}
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (!s)
		abort();
	return s;
}
