/*
 * cache.c - the Cache module over hiredis (0.14: blocking contexts).
 *
 * Every Redis key and channel name is defined in include/deis/cache.h or
 * here, nowhere else.
 */
#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "deis/cache.h"

/* Events kept in the stream for daemons catching up. */
#define EVENTS_STREAM_MAXLEN "10000"

/* Who publishes from this process: events it published itself are not
 * handed back to its own subscriber (it has already acted on them). */
static char origin[64];

void deis_cache_set_origin(const char *id)
{
	snprintf(origin, sizeof(origin), "%s", id);
}

struct deis_cache {
	redisContext *ctx;
	char *host;
	int port;
	char *password;
};

static int cache_connect(struct deis_cache *c, struct deis_error *err)
{
	struct timeval tv = { 1, 0 };

	if (c->ctx)
		redisFree(c->ctx);
	c->ctx = redisConnectWithTimeout(c->host, c->port, tv);
	if (!c->ctx || c->ctx->err) {
		int r = deis_error_set(err, EIO, "cannot connect to Redis at %s:%d: %s",
				       c->host, c->port, c->ctx ? c->ctx->errstr : "out of memory");
		if (c->ctx)
			redisFree(c->ctx);
		c->ctx = NULL;
		return r;
	}
	redisSetTimeout(c->ctx, tv);
	redisEnableKeepAlive(c->ctx);
	if (c->password && *c->password) {
		redisReply *rep = redisCommand(c->ctx, "AUTH %s", c->password);
		int bad = !rep || rep->type == REDIS_REPLY_ERROR;
		int r = 0;
		if (bad)
			r = deis_error_set(err, EACCES, "Redis refused AUTH: %s",
					   rep ? rep->str : c->ctx->errstr);
		if (rep)
			freeReplyObject(rep);
		if (bad) {
			redisFree(c->ctx);
			c->ctx = NULL;
			return r;
		}
	}
	return 0;
}

int deis_cache_open(const char *host, int port, const char *password,
		    struct deis_cache **out, struct deis_error *err)
{
	struct deis_cache *c = calloc(1, sizeof(*c));

	if (!c)
		abort();
	c->host = strdup(host);
	c->port = port;
	c->password = strdup(password ? password : "");
	int r = cache_connect(c, err);
	if (r < 0) {
		deis_cache_close(c);
		return r;
	}
	*out = c;
	return 0;
}

void deis_cache_close(struct deis_cache *c)
{
	if (!c)
		return;
	if (c->ctx)
		redisFree(c->ctx);
	free(c->host);
	free(c->password);
	free(c);
}

/* Runs a command; on a broken connection reconnects and tries once more. */
static redisReply *command(struct deis_cache *c, struct deis_error *err,
			   int argc, const char **argv)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((!c->ctx || c->ctx->err) && cache_connect(c, err) < 0)
			return NULL;
		redisReply *rep = redisCommandArgv(c->ctx, argc, argv, NULL);
		if (rep && rep->type == REDIS_REPLY_ERROR) {
			deis_error_set(err, EIO, "Redis: %s", rep->str);
			freeReplyObject(rep);
			return NULL;
		}
		if (rep)
			return rep;
		deis_error_set(err, EIO, "Redis: %s", c->ctx->errstr);
	}
	return NULL;
}

/* A command whose reply only says it worked: 0, or < 0 with err. */
static int run(struct deis_cache *c, struct deis_error *err, int argc, const char **argv)
{
	redisReply *rep = command(c, err, argc, argv);

	if (!rep)
		return -err->code;
	freeReplyObject(rep);
	return 0;
}

long deis_cache_ping(struct deis_cache *c, struct deis_error *err)
{
	const char *argv[] = { "PING" };
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	redisReply *rep = command(c, err, 1, argv);
	if (!rep)
		return -err->code;
	freeReplyObject(rep);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000;
}

int deis_cache_publish(struct deis_cache *c, const char *kind,
		       const char *name, struct deis_error *err)
{
	char msg[512];

	if (origin[0])
		snprintf(msg, sizeof(msg), "%s %s %s", kind, name, origin);
	else
		snprintf(msg, sizeof(msg), "%s %s", kind, name);
	const char *pub[] = { "PUBLISH", DEIS_EVENTS_CHANNEL, msg };
	const char *xadd[] = { "XADD", DEIS_EVENTS_STREAM, "MAXLEN", "~",
			       EVENTS_STREAM_MAXLEN, "*", "kind", kind, "name", name };
	/* Both in one round trip; on a broken connection, once more. */
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((!c->ctx || c->ctx->err) && cache_connect(c, err) < 0)
			return -err->code;
		redisAppendCommandArgv(c->ctx, 3, pub, NULL);
		redisAppendCommandArgv(c->ctx, 10, xadd, NULL);
		int r = 0;
		for (int i = 0; i < 2; i++) {
			void *reply = NULL;
			if (redisGetReply(c->ctx, &reply) != REDIS_OK) {
				r = deis_error_set(err, EIO, "Redis: %s", c->ctx->errstr);
				break;
			}
			redisReply *rep = reply;
			if (rep->type == REDIS_REPLY_ERROR && !r)
				r = deis_error_set(err, EIO, "Redis: %s", rep->str);
			freeReplyObject(rep);
		}
		if (r == 0 || !c->ctx->err)
			return r;
	}
	return -err->code;
}

int deis_cache_subscribe(struct deis_cache *c, struct deis_error *err)
{
	const char *argv[] = { "SUBSCRIBE", DEIS_EVENTS_CHANNEL };

	return run(c, err, 2, argv);
}

int deis_cache_next_event(struct deis_cache *c, int timeout_ms, char *kind,
			  size_t kindlen, char *name, size_t namelen,
			  struct deis_error *err)
{
	if (!c->ctx || c->ctx->err)
		return deis_error_set(err, EIO, "Redis subscriber connection is closed");
	long long start = deis_mono_ms();
	for (;;) {
		void *reply = NULL;
		if (redisGetReplyFromReader(c->ctx, &reply) != REDIS_OK)
			return deis_error_set(err, EIO, "Redis: %s", c->ctx->errstr);
		if (reply) {
			redisReply *rep = reply;
			int got = 0;
			/* ["message", channel, "kind name [origin]"] */
			if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
			    rep->element[2]->type == REDIS_REPLY_STRING &&
			    !strcmp(rep->element[0]->str, "message")) {
				const char *m = rep->element[2]->str;
				const char *sp = strchr(m, ' ');
				const char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
				bool own = sp2 && origin[0] && !strcmp(sp2 + 1, origin);
				if (sp && !own) {
					snprintf(kind, kindlen, "%.*s", (int)(sp - m), m);
					snprintf(name, namelen, "%.*s",
						 (int)(sp2 ? sp2 - sp - 1 : (long)strlen(sp + 1)),
						 sp + 1);
					got = 1;
				}
			}
			freeReplyObject(rep);
			if (got)
				return 1;
			continue;
		}
		long long spent = deis_mono_ms() - start;
		if (spent >= timeout_ms)
			return 0;
		struct pollfd p = { c->ctx->fd, POLLIN, 0 };
		int n = poll(&p, 1, (int)(timeout_ms - spent));
		if (n < 0 && errno != EINTR)
			return deis_error_set(err, errno, "poll: %s", strerror(errno));
		if (n > 0 && redisBufferRead(c->ctx) != REDIS_OK)
			return deis_error_set(err, EIO, "Redis: %s", c->ctx->errstr);
	}
}

/* ---- log streams ---- */

static void log_key(char *out, size_t len, const char *app, const char *src)
{
	if (src)
		snprintf(out, len, "deis:logs:%s:%s", app, src);
	else
		snprintf(out, len, "deis:logs:%s", app);
}

/* "123-1" -> 123 */
static long long id_offset(const char *id)
{
	return strtoll(id, NULL, 10);
}

/* The line of a stream entry reply ([id, [field, value]]), or NULL. */
static const redisReply *entry_line(const redisReply *e)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[1]->type != REDIS_REPLY_ARRAY || e->element[1]->elements < 2)
		return NULL;
	return e->element[1]->element[1];
}

/* The end is log_info's (the time of the last line costs a strptime). */
int deis_cache_log_end(struct deis_cache *c, const char *app, const char *src,
		       long long *end, struct deis_error *err)
{
	int64_t mtime;

	return deis_cache_log_info(c, app, src, end, &mtime, err);
}

/* "2026-11-26T12:00:00.123456+00:00 ..." -> microseconds since the epoch */
static int64_t line_time(const char *line, size_t len)
{
	struct tm tm;
	char buf[40];
	long usec = 0;

	if (len < 20)
		return 0;
	snprintf(buf, sizeof(buf), "%.*s", (int)(len < 39 ? len : 39), line);
	memset(&tm, 0, sizeof(tm));
	char *p = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return 0;
	if (*p == '.') {
		char *end;
		usec = strtol(p + 1, &end, 10);
		for (long digits = end - p - 1; digits < 6; digits++)
			usec *= 10;
	}
	return (int64_t)timegm(&tm) * 1000000 + usec;
}

/* One edge of a log stream, in the offsets deis_cache_log_* speak of:
 * where its first line starts, or where its last line ends (and, when
 * mtime is given, that line's time).  Returns 1, or 0 for an empty stream. */
static int log_edge(struct deis_cache *c, const char *app, const char *src, bool last,
		    long long *off, int64_t *mtime, struct deis_error *err)
{
	char key[512];

	log_key(key, sizeof(key), app, src);
	const char *argv[] = { last ? "XREVRANGE" : "XRANGE", key, last ? "+" : "-",
			       last ? "-" : "+", "COUNT", "1" };
	redisReply *rep = command(c, err, 6, argv);
	if (!rep)
		return -err->code;
	int found = rep->type == REDIS_REPLY_ARRAY && rep->elements == 1;
	if (found) {
		const redisReply *l = entry_line(rep->element[0]);

		*off = id_offset(rep->element[0]->element[0]->str);
		if (last && l) {
			*off += (long long)l->len;
			if (mtime)
				*mtime = line_time(l->str, l->len);
		}
	}
	freeReplyObject(rep);
	return found;
}

int deis_cache_log_info(struct deis_cache *c, const char *app, const char *src,
			long long *end, int64_t *mtime, struct deis_error *err)
{
	*end = 0;
	*mtime = 0;
	int rc = log_edge(c, app, src, true, end, mtime, err);
	return rc < 0 ? rc : 0;
}

int deis_cache_log_start(struct deis_cache *c, const char *app, const char *src,
			 long long *start, struct deis_error *err)
{
	int rc = log_edge(c, app, src, false, start, NULL, err);

	if (rc == 0)	/* empty: it starts where it ends */
		return deis_cache_log_end(c, app, src, start, err);
	return rc < 0 ? rc : 0;
}

int deis_cache_log_append(struct deis_cache *c, const struct deis_log_entry *e,
			  size_t n, long maxlen, struct deis_error *err)
{
	char key[512], id[32], ml[24];

	if ((!c->ctx || c->ctx->err) && cache_connect(c, err) < 0)
		return -err->code;
	snprintf(ml, sizeof(ml), "%ld", maxlen);
	for (size_t i = 0; i < n; i++) {
		log_key(key, sizeof(key), e[i].app, e[i].src);
		snprintf(id, sizeof(id), "%lld-1", e[i].off);
		const char *argv[] = { "XADD", key, "MAXLEN", "~", ml, id,
				       DEIS_LOG_FIELD, e[i].line };
		size_t lens[] = { 4, strlen(key), 6, 1, strlen(ml), strlen(id),
				  strlen(DEIS_LOG_FIELD), e[i].len };
		redisAppendCommandArgv(c->ctx, 8, argv, lens);
	}
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		void *reply = NULL;
		if (redisGetReply(c->ctx, &reply) != REDIS_OK) {
			r = deis_error_set(err, EIO, "Redis: %s", c->ctx->errstr);
			break;
		}
		redisReply *rep = reply;
		/* An ID at or below the stream's top means the line is there
		 * already (a replay after a restart): not an error. */
		if (rep->type == REDIS_REPLY_ERROR && !strstr(rep->str, "equal or smaller") && !r)
			r = deis_error_set(err, EIO, "Redis: XADD: %s", rep->str);
		freeReplyObject(rep);
	}
	return r;
}

int deis_cache_log_trim(struct deis_cache *c, const char *app, const char *src,
			long long min_off, struct deis_error *err)
{
	char key[512], minid[32];

	log_key(key, sizeof(key), app, src);
	snprintf(minid, sizeof(minid), "%lld-0", min_off);
	const char *argv[] = { "XTRIM", key, "MINID", "~", minid };
	return run(c, err, 5, argv);
}

int deis_cache_log_read(struct deis_cache *c, const char *app, const char *src,
			long long off, size_t max, struct deis_buf *out,
			long long *start, struct deis_error *err)
{
	char key[512], from[32];
	long long pos = -1;

	log_key(key, sizeof(key), app, src);
	/* The entry holding off, if off falls inside one. */
	snprintf(from, sizeof(from), "%lld-1", off);
	const char *rev[] = { "XREVRANGE", key, from, "-", "COUNT", "1" };
	redisReply *rep = command(c, err, 6, rev);
	if (!rep)
		return -err->code;
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1) {
		const redisReply *l = entry_line(rep->element[0]);
		long long eo = id_offset(rep->element[0]->element[0]->str);
		if (l && eo + (long long)l->len > off) {
			size_t skip = (size_t)(off - eo);
			size_t take = l->len - skip < max ? l->len - skip : max;
			deis_buf_add(out, l->str + skip, take);
			pos = off;
			max -= take;
		}
	}
	freeReplyObject(rep);
	/* Then whole entries after it, in batches, until max bytes. */
	snprintf(from, sizeof(from), "(%lld-1", off);
	while (max > 0) {
		const char *fwd[] = { "XRANGE", key, from, "+", "COUNT", "256" };
		rep = command(c, err, 6, fwd);
		if (!rep)
			return -err->code;
		size_t got = rep->type == REDIS_REPLY_ARRAY ? rep->elements : 0;
		for (size_t i = 0; i < got && max > 0; i++) {
			const redisReply *e = rep->element[i];
			const redisReply *l = entry_line(e);
			if (!l)
				continue;
			long long eo = id_offset(e->element[0]->str);
			if (pos < 0)
				pos = eo;	/* off was trimmed: start here */
			size_t take = l->len < max ? l->len : max;
			deis_buf_add(out, l->str, take);
			max -= take;
			snprintf(from, sizeof(from), "(%s", e->element[0]->str);
		}
		freeReplyObject(rep);
		if (got < 256)
			break;
	}
	if (pos >= 0) {
		*start = pos;
		return 0;
	}
	/* Nothing at or after off: the reader is at the end. */
	if (deis_cache_log_end(c, app, src, start, err) < 0)
		return -err->code;
	if (*start < off)
		*start = off;
	return 0;
}

int deis_cache_log_delete(struct deis_cache *c, const char *app,
			  struct deis_error *err)
{
	char key[512], pattern[512];
	char cursor[32] = "0";

	log_key(key, sizeof(key), app, NULL);
	const char *del[] = { "DEL", key };
	if (run(c, err, 2, del) < 0)
		return -err->code;
	redisReply *rep;
	snprintf(pattern, sizeof(pattern), "deis:logs:%s:*", app);
	do {
		const char *scan[] = { "SCAN", cursor, "MATCH", pattern, "COUNT", "1000" };
		rep = command(c, err, 6, scan);
		if (!rep)
			return -err->code;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
			freeReplyObject(rep);
			return deis_error_set(err, EIO, "Redis: unexpected SCAN reply");
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		for (size_t i = 0; i < rep->element[1]->elements; i++) {
			const char *d[] = { "DEL", rep->element[1]->element[i]->str };
			run(c, err, 2, d);
		}
		freeReplyObject(rep);
	} while (strcmp(cursor, "0"));
	return 0;
}

/* ---- the proxy's applied routes ----
 *
 * One record per router (a deis-proxy, one per node), keyed by its name:
 * the hash PROXY_APPLIED:<name> (app -> serial its nginx serves), the
 * heartbeat PROXY_ALIVE:<name> (a key with a TTL), and the set
 * PROXY_ROUTERS of every name that ever beat, so that a reader finds them
 * without a SCAN.  A router whose heartbeat expired counts no more: a
 * node lost stops holding the platform back after its TTL. */

#define PROXY_APPLIED "deis:proxy:applied:"
#define PROXY_ALIVE "deis:proxy:alive:"
#define PROXY_ROUTERS "deis:proxy:routers"

/* KEYS[1] the set of routers; ARGV: the app, the two prefixes.  Returns
 * {live routers, the least serial of the app among them (0 when one has
 * none), that router's name}: one round trip, one consistent view. */
static const char proxy_state_lua[] =
	"local live, least, lag = 0, nil, ''\n"
	"for _, p in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
	"  if redis.call('EXISTS', ARGV[3] .. p) == 1 then\n"
	"    live = live + 1\n"
	"    local s = tonumber(redis.call('HGET', ARGV[2] .. p, ARGV[1]) or '0') or 0\n"
	"    if least == nil or s < least or (s == least and p < lag) then\n"
	"      least, lag = s, p\n"
	"    end\n"
	"  end\n"
	"end\n"
	"return {live, least or 0, lag}\n";

static void proxy_key(char *out, size_t len, const char *prefix, const char *proxy)
{
	snprintf(out, len, "%s%s", prefix, proxy);
}

int deis_cache_proxy_applied(struct deis_cache *c, const char *proxy, const char *app,
			     long serial, struct deis_error *err)
{
	char v[32], key[128];

	snprintf(v, sizeof(v), "%ld", serial);
	proxy_key(key, sizeof(key), PROXY_APPLIED, proxy);
	const char *argv[] = { "HSET", key, app, v };
	return run(c, err, 4, argv);
}

int deis_cache_proxy_forget(struct deis_cache *c, const char *proxy, const char *app,
			    struct deis_error *err)
{
	char key[128];

	proxy_key(key, sizeof(key), PROXY_APPLIED, proxy);
	const char *argv[] = { "HDEL", key, app };
	return run(c, err, 3, argv);
}

int deis_cache_proxy_alive(struct deis_cache *c, const char *proxy, int ttl_s,
			   struct deis_error *err)
{
	char ttl[16], now[32], key[128];

	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	proxy_key(key, sizeof(key), PROXY_ALIVE, proxy);
	const char *set[] = { "SET", key, now, "EX", ttl };
	const char *add[] = { "SADD", PROXY_ROUTERS, proxy };
	int r = run(c, err, 5, set);
	return r < 0 ? r : run(c, err, 3, add);
}

int deis_cache_proxy_recorded(struct deis_cache *c, const char *proxy, const char *app,
			      long *serial, struct deis_error *err)
{
	char key[128];

	proxy_key(key, sizeof(key), PROXY_APPLIED, proxy);
	const char *argv[] = { "HGET", key, app };
	redisReply *rep = command(c, err, 3, argv);

	if (!rep)
		return -err->code;
	*serial = rep->type == REDIS_REPLY_STRING ? strtol(rep->str, NULL, 10) : 0;
	freeReplyObject(rep);
	return 0;
}

int deis_cache_proxy_routers(struct deis_cache *c, const char *app,
			     struct deis_cache_routers *out, struct deis_error *err)
{
	const char *argv[] = { "EVAL", proxy_state_lua, "1", PROXY_ROUTERS, app,
			       PROXY_APPLIED, PROXY_ALIVE };
	redisReply *rep = command(c, err, 7, argv);

	*out = (struct deis_cache_routers){ 0 };
	if (!rep)
		return -err->code;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER ||
	    rep->element[1]->type != REDIS_REPLY_INTEGER ||
	    rep->element[2]->type != REDIS_REPLY_STRING) {
		freeReplyObject(rep);
		return deis_error_set(err, EIO, "Redis: unexpected reply to the routers' state");
	}
	out->live = (int)rep->element[0]->integer;
	out->applied = (long)rep->element[1]->integer;
	snprintf(out->lagging, sizeof(out->lagging), "%s", rep->element[2]->str);
	freeReplyObject(rep);
	return 0;
}

int deis_cache_proxy_state(struct deis_cache *c, const char *app, bool *alive,
			   long *serial, struct deis_error *err)
{
	struct deis_cache_routers st;
	int r = deis_cache_proxy_routers(c, app, &st, err);

	*alive = st.live > 0;
	*serial = st.applied;
	return r;
}

/* ---- a connection kept open ---- */

struct deis_cache *deis_cache_keep(struct deis_cache_keeper *k, const char *host,
				   int port, const char *password,
				   struct deis_error *err)
{
	k->fresh = false;
	if (k->c)
		return k->c;
	if (!deis_backoff_due(&k->backoff, deis_mono_ms()))
		return NULL;
	if (deis_cache_open(host, port, password, &k->c, err) < 0 ||
	    (k->subscriber && deis_cache_subscribe(k->c, err) < 0)) {
		deis_cache_keeper_drop(k);
		return NULL;
	}
	deis_backoff_reset(&k->backoff);
	k->fresh = true;
	return k->c;
}

void deis_cache_keeper_drop(struct deis_cache_keeper *k)
{
	deis_cache_close(k->c);
	k->c = NULL;
	deis_backoff_failed(&k->backoff, deis_mono_ms());
}

bool deis_cache_keeper_failed(struct deis_cache_keeper *k)
{
	if (k->c && k->c->ctx && !k->c->ctx->err)
		return false;	/* an error reply: the connection is fine */
	deis_cache_keeper_drop(k);
	return true;
}

void deis_cache_keeper_close(struct deis_cache_keeper *k)
{
	deis_cache_close(k->c);
	k->c = NULL;
}

int deis_cache_follow(struct deis_cache **sub, const char *host, int port,
		      const char *password, int timeout_ms, char *kind, size_t kindlen,
		      char *name, size_t namelen)
{
	/* One subscriber per thread: its backoff is the thread's. */
	static __thread struct deis_cache_keeper k = DEIS_CACHE_SUBSCRIBER_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	if (!*sub) {
		k.c = NULL;	/* the caller closed it */
		*sub = deis_cache_keep(&k, host, port, password, &err);
		if (*sub)
			return 2;
		long long wait = k.backoff.next_ms - deis_mono_ms();
		usleep((useconds_t)(wait < 0 ? 0 : wait < timeout_ms ? wait : timeout_ms) * 1000);
		return 0;
	}
	int r = deis_cache_next_event(*sub, timeout_ms, kind, kindlen, name, namelen, &err);
	if (r < 0) {
		k.c = *sub;
		deis_cache_keeper_drop(&k);
		*sub = NULL;
		return 0;
	}
	return r > 0 ? 1 : 0;
}
