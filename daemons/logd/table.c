/*
 * table.c - the one hash table of deis-logd's per-app state: the Redis
 * streams (an app and a source), the rate limits and the durable files
 * (an app).  Chained buckets, never resized: a node holds a few thousand
 * apps at most, and an entry lives until its app is destroyed.
 */
#include <stdlib.h>
#include <string.h>

#include "logd.h"

/* FNV-1a of app, then of src after a separator, when there is one. */
static unsigned long hash(const char *app, const char *src)
{
	unsigned long h = 1469598103934665603UL;

	for (; *app; app++)
		h = (h ^ (unsigned char)*app) * 1099511628211UL;
	h = (h ^ 0xff) * 1099511628211UL;
	for (; src && *src; src++)
		h = (h ^ (unsigned char)*src) * 1099511628211UL;
	return h % LOGD_BUCKETS;
}

static char *xstrdup(const char *s)
{
	char *p = s ? strdup(s) : NULL;

	if (s && !p)
		abort();
	return p;
}

static bool same(const struct logd_entry *e, const char *app, const char *src)
{
	return !strcmp(e->app, app) && (e->src && src ? !strcmp(e->src, src) : e->src == src);
}

void *logd_table_find(const struct logd_table *t, const char *app, const char *src)
{
	for (struct logd_entry *e = t->buckets[hash(app, src)]; e; e = e->next)
		if (same(e, app, src))
			return e;
	return NULL;
}

void *logd_table_add(struct logd_table *t, const char *app, const char *src)
{
	struct logd_entry *e = calloc(1, t->size);

	if (!e)
		abort();
	e->app = xstrdup(app);
	e->src = xstrdup(src);
	e->bucket = hash(app, src);
	e->next = t->buckets[e->bucket];
	t->buckets[e->bucket] = e;
	return e;
}

void *logd_table_next(const struct logd_table *t, const void *prev)
{
	const struct logd_entry *p = prev;
	size_t b = p ? p->bucket + 1 : 0;

	if (p && p->next)
		return p->next;
	for (; b < LOGD_BUCKETS; b++)
		if (t->buckets[b])
			return t->buckets[b];
	return NULL;
}

void logd_table_remove(struct logd_table *t, const char *app)
{
	for (size_t b = 0; b < LOGD_BUCKETS; b++)
		for (struct logd_entry **ep = &t->buckets[b]; *ep;) {
			struct logd_entry *e = *ep;

			if (app && strcmp(e->app, app)) {
				ep = &e->next;
				continue;
			}
			*ep = e->next;
			if (t->release)
				t->release(e);
			free(e->app);
			free(e->src);
			free(e);
		}
}
