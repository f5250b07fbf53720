/*
 * cache.c - the Cache module over hiredis (0.14: blocking contexts).
 *
 * Every Redis key and channel name is defined in include/deis/cache.h or
 * here, nowhere else.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "deis/cache.h"

/* Events kept in the stream for daemons catching up. */
#define EVENTS_STREAM_MAXLEN "10000"

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

	snprintf(msg, sizeof(msg), "%s %s", kind, name);
	const char *pub[] = { "PUBLISH", DEIS_EVENTS_CHANNEL, msg };
	redisReply *rep = command(c, err, 3, pub);
	if (!rep)
		return -err->code;
	freeReplyObject(rep);
	const char *xadd[] = { "XADD", DEIS_EVENTS_STREAM, "MAXLEN", "~",
			       EVENTS_STREAM_MAXLEN, "*", "kind", kind, "name", name };
	rep = command(c, err, 10, xadd);
	if (!rep)
		return -err->code;
	freeReplyObject(rep);
	return 0;
}

int deis_cache_subscribe(struct deis_cache *c, struct deis_error *err)
{
	const char *argv[] = { "SUBSCRIBE", DEIS_EVENTS_CHANNEL };
	redisReply *rep = command(c, err, 2, argv);

	if (!rep)
		return -err->code;
	freeReplyObject(rep);
	return 0;
}

int deis_cache_next_event(struct deis_cache *c, int timeout_ms, char *kind,
			  size_t kindlen, char *name, size_t namelen,
			  struct deis_error *err)
{
	struct timespec start, now;

	if (!c->ctx || c->ctx->err)
		return deis_error_set(err, EIO, "Redis subscriber connection is closed");
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		void *reply = NULL;
		if (redisGetReplyFromReader(c->ctx, &reply) != REDIS_OK)
			return deis_error_set(err, EIO, "Redis: %s", c->ctx->errstr);
		if (reply) {
			redisReply *rep = reply;
			int got = 0;
			/* ["message", channel, "kind name"] */
			if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
			    rep->element[2]->type == REDIS_REPLY_STRING &&
			    !strcmp(rep->element[0]->str, "message")) {
				const char *m = rep->element[2]->str;
				const char *sp = strchr(m, ' ');
				if (sp) {
					snprintf(kind, kindlen, "%.*s", (int)(sp - m), m);
					snprintf(name, namelen, "%s", sp + 1);
					got = 1;
				}
			}
			freeReplyObject(rep);
			if (got)
				return 1;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		long spent = (now.tv_sec - start.tv_sec) * 1000 +
			     (now.tv_nsec - start.tv_nsec) / 1000000;
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
