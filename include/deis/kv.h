/*
 * kv.h - small ordered lists of strings and of key/value pairs.
 *
 * Used for config vars, limits, domains and perms.  Lists own their
 * strings.  Sizes here are tens to a few thousand, so lookups are linear.
 */
#ifndef DEIS_KV_H
#define DEIS_KV_H

#include <stddef.h>

struct deis_kv {
	char *key;
	char *value;
};

struct deis_kvlist {
	struct deis_kv *items;
	size_t n, cap;
};

struct deis_strlist {
	char **items;
	size_t n, cap;
};

#define DEIS_KVLIST_INIT { NULL, 0, 0 }
#define DEIS_STRLIST_INIT { NULL, 0, 0 }

/* Sets key to value (copies both), replacing an existing value. */
void deis_kvlist_set(struct deis_kvlist *l, const char *key, const char *value);
/* Like set, with a value of len bytes (may hold newlines, not NUL). */
void deis_kvlist_setn(struct deis_kvlist *l, const char *key,
		      const char *value, size_t len);
const char *deis_kvlist_get(const struct deis_kvlist *l, const char *key);
/* Returns 1 when removed, 0 when key was not there. */
int deis_kvlist_remove(struct deis_kvlist *l, const char *key);
void deis_kvlist_sort(struct deis_kvlist *l);	/* by key, strcmp order */
void deis_kvlist_copy(struct deis_kvlist *dst, const struct deis_kvlist *src);
int deis_kvlist_equal(const struct deis_kvlist *a, const struct deis_kvlist *b);
void deis_kvlist_clear(struct deis_kvlist *l);	/* frees contents */

void deis_strlist_add(struct deis_strlist *l, const char *s);
/* Adds the formatted string (warnings and other messages built as lists). */
void deis_strlist_addf(struct deis_strlist *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int deis_strlist_has(const struct deis_strlist *l, const char *s);
void deis_strlist_sort(struct deis_strlist *l);
void deis_strlist_copy(struct deis_strlist *dst, const struct deis_strlist *src);
int deis_strlist_equal(const struct deis_strlist *a, const struct deis_strlist *b);
void deis_strlist_clear(struct deis_strlist *l);

#endif
