/*
 * kv.c - small ordered lists of strings and of key/value pairs.
 *
 * See include/deis/kv.h.  Lists own copies of every string.  A kvlist keeps
 * its keys unique (set replaces in place), so it is a map that remembers
 * insertion order; deis_kvlist_equal() therefore compares as maps (order
 * ignored), while deis_strlist_equal() compares in order, because for a
 * strlist such as "domains" the order is part of the data.
 *
 * Allocation failure aborts, as in buf.c.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/kv.h"

static void *xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		abort();
	n *= size;
	p = realloc(p, n ? n : 1);
	if (!p)
		abort();
	return p;
}

static char *xstrndup(const char *s, size_t len)
{
	char *p = xrealloc(NULL, len + 1, 1);

	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Makes room for want items of size bytes in items, which has room for
 * *cap (amortised doubling); returns the array, maybe moved. */
static void *reserve(void *items, size_t *cap, size_t want, size_t size)
{
	size_t c;

	if (want <= *cap)
		return items;
	c = *cap ? *cap : 8;
	while (c < want) {
		if (c > SIZE_MAX / 2)
			abort();
		c *= 2;
	}
	*cap = c;
	return xrealloc(items, c, size);
}

static void kv_reserve(struct deis_kvlist *l, size_t want)
{
	l->items = reserve(l->items, &l->cap, want, sizeof(*l->items));
}

static void str_reserve(struct deis_strlist *l, size_t want)
{
	l->items = reserve(l->items, &l->cap, want, sizeof(*l->items));
}

static struct deis_kv *kv_find(const struct deis_kvlist *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->items[i].key, key))
			return &l->items[i];
	return NULL;
}

void deis_kvlist_setn(struct deis_kvlist *l, const char *key,
		      const char *value, size_t len)
{
	struct deis_kv *kv = kv_find(l, key);
	/* Copy first: value may point into the item being replaced. */
	char *v = xstrndup(value, len);

	if (kv) {
		free(kv->value);
		kv->value = v;
		return;
	}
	kv_reserve(l, l->n + 1);
	l->items[l->n].key = xstrndup(key, strlen(key));
	l->items[l->n].value = v;
	l->n++;
}

void deis_kvlist_set(struct deis_kvlist *l, const char *key, const char *value)
{
	deis_kvlist_setn(l, key, value, strlen(value));
}

const char *deis_kvlist_get(const struct deis_kvlist *l, const char *key)
{
	const struct deis_kv *kv = key ? kv_find(l, key) : NULL;

	return kv ? kv->value : NULL;
}

int deis_kvlist_remove(struct deis_kvlist *l, const char *key)
{
	struct deis_kv *kv = kv_find(l, key);
	size_t i;

	if (!kv)
		return 0;
	i = (size_t)(kv - l->items);
	free(kv->key);
	free(kv->value);
	/* Keep the order of the others. */
	memmove(&l->items[i], &l->items[i + 1],
		(l->n - i - 1) * sizeof(*l->items));
	l->n--;
	return 1;
}

static int kv_cmp(const void *a, const void *b)
{
	const struct deis_kv *x = a, *y = b;

	return strcmp(x->key, y->key);
}

void deis_kvlist_sort(struct deis_kvlist *l)
{
	if (l->n > 1)
		qsort(l->items, l->n, sizeof(*l->items), kv_cmp);
}

/* Replaces dst's contents with copies of src's, in src's order, without
 * looking keys up again (src's keys are already unique), so copying is
 * linear; the parsers rely on that to build large lists quickly. */
void deis_kvlist_copy(struct deis_kvlist *dst, const struct deis_kvlist *src)
{
	if (dst == src)
		return;
	deis_kvlist_clear(dst);
	kv_reserve(dst, src->n);
	for (size_t i = 0; i < src->n; i++) {
		const struct deis_kv *kv = &src->items[i];

		dst->items[i].key = xstrndup(kv->key, strlen(kv->key));
		dst->items[i].value = xstrndup(kv->value, strlen(kv->value));
	}
	dst->n = src->n;
}

static int kvp_cmp(const void *a, const void *b)
{
	const struct deis_kv *x = *(const struct deis_kv *const *)a;
	const struct deis_kv *y = *(const struct deis_kv *const *)b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->value, y->value);
}

static const struct deis_kv **kv_sorted_view(const struct deis_kvlist *l)
{
	const struct deis_kv **v = xrealloc(NULL, l->n, sizeof(*v));

	for (size_t i = 0; i < l->n; i++)
		v[i] = &l->items[i];
	qsort(v, l->n, sizeof(*v), kvp_cmp);
	return v;
}

/* Equal as maps: the same keys with the same values, in any order.  Sorting
 * views keeps this O(n log n) for large env documents. */
int deis_kvlist_equal(const struct deis_kvlist *a, const struct deis_kvlist *b)
{
	const struct deis_kv **va, **vb;
	int eq = 1;

	if (a->n != b->n)
		return 0;
	if (a->n == 0)
		return 1;
	va = kv_sorted_view(a);
	vb = kv_sorted_view(b);
	for (size_t i = 0; i < a->n && eq; i++)
		eq = !strcmp(va[i]->key, vb[i]->key) &&
		     !strcmp(va[i]->value, vb[i]->value);
	free(va);
	free(vb);
	return eq;
}

void deis_kvlist_clear(struct deis_kvlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].key);
		free(l->items[i].value);
	}
	free(l->items);
	l->items = NULL;
	l->n = l->cap = 0;
}

/* Appends (no duplicate check: callers that want a set use _has). */
void deis_strlist_add(struct deis_strlist *l, const char *s)
{
	str_reserve(l, l->n + 1);
	l->items[l->n++] = xstrndup(s, strlen(s));
}

void deis_strlist_addf(struct deis_strlist *l, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();	/* as xrealloc: no memory */
	str_reserve(l, l->n + 1);
	l->items[l->n++] = s;
}

int deis_strlist_has(const struct deis_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->items[i], s))
			return 1;
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void deis_strlist_sort(struct deis_strlist *l)
{
	if (l->n > 1)
		qsort(l->items, l->n, sizeof(*l->items), str_cmp);
}

/* Replaces dst's contents with copies of src's. */
void deis_strlist_copy(struct deis_strlist *dst, const struct deis_strlist *src)
{
	if (dst == src)
		return;
	deis_strlist_clear(dst);
	str_reserve(dst, src->n);
	for (size_t i = 0; i < src->n; i++)
		dst->items[i] = xstrndup(src->items[i], strlen(src->items[i]));
	dst->n = src->n;
}

/* Equal in order: the same strings at the same positions. */
int deis_strlist_equal(const struct deis_strlist *a, const struct deis_strlist *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->items[i], b->items[i]))
			return 0;
	return 1;
}

void deis_strlist_clear(struct deis_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = l->cap = 0;
}
