/*
 * guard.c - the replay guard of deis-logd's outputs (the Redis streams and
 * the durable files).
 *
 * After deis-logd restarts, a message it already stored may come again:
 * from its journal (it was killed after storing a batch but before
 * emptying the journal) and from rsyslog (which sends again what was not
 * confirmed, not always in its first place).  So when deis-logd first
 * touches an output it reads the output's last lines, and for
 * LOGD_GUARD_MS a message whose every formatted line (time stamp to the
 * microsecond, source and text) is already there, or was stored since, is
 * skipped.  The catch: two different messages of one source with the same
 * text and microsecond time stamp within that minute are taken for one.
 */
#include <stdlib.h>
#include <string.h>

#include "logd.h"

static unsigned long hash_line(const char *p, size_t len)
{
	unsigned long h = 1469598103934665603UL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211UL;
	return h ? h : 1;	/* 0 marks an empty slot */
}

/* The set of line hashes: open addressing. */
static void seen_add(struct logd_guard *g, unsigned long h)
{
	if ((g->nseen + 1) * 2 > g->capseen) {
		size_t ncap = g->capseen ? g->capseen * 2 : 1024;
		unsigned long *n = calloc(ncap, sizeof(*n));
		if (!n)
			abort();
		for (size_t i = 0; i < g->capseen; i++)
			if (g->seen[i])
				for (size_t j = g->seen[i] & (ncap - 1);; j = (j + 1) & (ncap - 1))
					if (!n[j]) {
						n[j] = g->seen[i];
						break;
					}
		free(g->seen);
		g->seen = n;
		g->capseen = ncap;
	}
	for (size_t j = h & (g->capseen - 1);; j = (j + 1) & (g->capseen - 1)) {
		if (g->seen[j] == h)
			return;
		if (!g->seen[j]) {
			g->seen[j] = h;
			g->nseen++;
			return;
		}
	}
}

static int seen_has(const struct logd_guard *g, unsigned long h)
{
	if (!g->capseen)
		return 0;
	for (size_t j = h & (g->capseen - 1);; j = (j + 1) & (g->capseen - 1)) {
		if (g->seen[j] == h)
			return 1;
		if (!g->seen[j])
			return 0;
	}
}

void guard_begin(struct logd_guard *g, const char *tail, size_t len, int cut,
		 long long now_ms)
{
	const char *p = tail, *e = tail + len;

	/* The first line of a tail read from the middle may be cut. */
	if (cut) {
		const char *nl = memchr(p, '\n', len);
		p = nl ? nl + 1 : e;
	}
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		if (!nl)
			break;
		seen_add(g, hash_line(p, (size_t)(nl - p) + 1));
		p = nl + 1;
	}
	g->until = now_ms + LOGD_GUARD_MS;
}

int guard_replayed(struct logd_guard *g, const char *lines, size_t len, long long now_ms)
{
	const char *p = lines, *e = lines + len;
	int all = 1;

	if (!g->until)
		return 0;
	if (now_ms > g->until) {
		guard_release(g);
		return 0;
	}
	while (p < e && all) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		all = seen_has(g, hash_line(p, (size_t)(nl - p) + 1));
		p = nl + 1;
	}
	if (all)
		return 1;
	for (p = lines; p < e;) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		seen_add(g, hash_line(p, (size_t)(nl - p) + 1));
		p = nl + 1;
	}
	return 0;
}

void guard_release(struct logd_guard *g)
{
	free(g->seen);
	g->seen = NULL;
	g->nseen = g->capseen = 0;
	g->until = 0;
}
