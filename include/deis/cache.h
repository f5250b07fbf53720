/*
 * cache.h - the Cache module: every Redis key name of the platform.
 *
 * Redis holds what may be lost: change events, queues, locks, recent log
 * lines.  Flushing it loses no platform state (PostgreSQL has that), so
 * every consumer also resyncs periodically from the database.
 *
 * Events: after a change commits, its writer publishes "<kind> <name>"
 * (kind is "app" or "user") on the channel DEIS_EVENTS_CHANNEL and appends
 * it to the capped stream DEIS_EVENTS_STREAM, from which daemons that were
 * down can catch up.
 */
#ifndef DEIS_CACHE_H
#define DEIS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deis/buf.h"
#include "deis/daemon.h"
#include "deis/error.h"

#define DEIS_EVENTS_CHANNEL	"deis:events"
#define DEIS_EVENTS_STREAM	"deis:events:stream"

struct deis_cache;

/* Connects (1 s timeout) and authenticates when password is not empty. */
int deis_cache_open(const char *host, int port, const char *password,
		    struct deis_cache **out, struct deis_error *err);
void deis_cache_close(struct deis_cache *c);
/* Round trip; returns its latency in microseconds. */
long deis_cache_ping(struct deis_cache *c, struct deis_error *err);

/* Names this process in the events it publishes ("<host>:<pid>"); a
 * subscriber in the same process then skips its own events. */
void deis_cache_set_origin(const char *id);
/* Publishes one change event.  Reconnects once on a broken connection. */
int deis_cache_publish(struct deis_cache *c, const char *kind,
		       const char *name, struct deis_error *err);

/* Turns c into a subscriber of the events channel. */
int deis_cache_subscribe(struct deis_cache *c, struct deis_error *err);
/* Waits up to timeout_ms for the next event: 1 and kind/name filled, 0 on
 * timeout, < 0 when the connection broke (open a new one and resync). */
int deis_cache_next_event(struct deis_cache *c, int timeout_ms, char *kind,
			  size_t kindlen, char *name, size_t namelen,
			  struct deis_error *err);

/* ---- a connection kept open ----
 *
 * The one way a process keeps a connection to Redis: opened at first
 * use, dropped when it breaks, opened again when the backoff
 * (include/deis/daemon.h) allows, so a Redis that is down costs one try
 * per backoff step, not one per call.  Not thread-safe: one keeper per
 * thread, or a lock around it.  (include/deis/daemon.h logs its
 * failures: deis_daemon_cache().)
 */
struct deis_cache_keeper {
	struct deis_cache *c;		/* NULL while Redis is down */
	struct deis_backoff backoff;
	bool subscriber;		/* subscribes to the events channel */
	bool fresh;			/* the last deis_cache_keep() connected: a
					 * subscriber may have missed events */
};

#define DEIS_CACHE_KEEPER_INIT { NULL, DEIS_BACKOFF_INIT, false, false }
#define DEIS_CACHE_SUBSCRIBER_INIT { NULL, DEIS_BACKOFF_INIT, true, false }

/* The connection, opened when there is none and the backoff allows.
 * NULL while Redis is down: err says why when this call tried (err->code
 * stays 0 while the backoff runs). */
struct deis_cache *deis_cache_keep(struct deis_cache_keeper *k, const char *host,
				   int port, const char *password,
				   struct deis_error *err);
/* The connection broke: closed; the next try waits for the backoff. */
void deis_cache_keeper_drop(struct deis_cache_keeper *k);
/* An operation on k's connection failed: when the connection is broken
 * (not a mere error reply), drops it and returns true. */
bool deis_cache_keeper_failed(struct deis_cache_keeper *k);
void deis_cache_keeper_close(struct deis_cache_keeper *k);

/* A subscriber that keeps itself connected (*sub starts NULL; close it
 * with deis_cache_close()): 2 when it has just (re)subscribed (events may
 * have been missed meanwhile: resync), 1 with an event, 0 after up to
 * timeout_ms without one (or with Redis down).  On the keeper above, with
 * the thread's own backoff: for a process that waits for an event in
 * its own loop (a push waiting for its release, daemons/builder/deploy.c);
 * a daemon follows events with the event thread of include/deis/daemon.h. */
int deis_cache_follow(struct deis_cache **sub, const char *host, int port,
		      const char *password, int timeout_ms, char *kind, size_t kindlen,
		      char *name, size_t namelen);

/* ---- log streams ----
 *
 * Recent log lines live in Redis streams, one per app and one per source
 * that has a file of its own (a container "web.1", a build "build.3").
 * An entry's ID is "<offset>-1", where offset is the byte position of the
 * line in that stream's log since the app began: so the tree can present a
 * log as a file whose size only grows, and a read at any offset is one
 * range query.  Each entry has one field, DEIS_LOG_FIELD, the whole line
 * with its newline.  Old entries are trimmed (by count and by bytes); a
 * read below the oldest entry starts at the oldest entry.
 */
#define DEIS_LOG_FIELD "l"

struct deis_log_entry {
	const char *app;
	const char *src;	/* NULL: the app's stream; else "web.1", "build.3" */
	long long off;		/* byte offset of the line in that stream */
	const char *line;	/* the whole line, ending in '\n' */
	size_t len;
};

/* End offset (bytes) of a stream: 0 when it is empty or missing. */
int deis_cache_log_end(struct deis_cache *c, const char *app, const char *src,
		       long long *end, struct deis_error *err);
/* Appends entries (pipelined), trimming each stream to about maxlen
 * entries; min_off (per call, applies to every stream touched) trims
 * entries below that offset when > 0. */
int deis_cache_log_append(struct deis_cache *c, const struct deis_log_entry *e,
			  size_t n, long maxlen, struct deis_error *err);
/* Trims a stream to entries at or above min_off (byte retention). */
int deis_cache_log_trim(struct deis_cache *c, const char *app, const char *src,
			long long min_off, struct deis_error *err);
/* Appends to out up to max bytes of the stream from offset off; *start is
 * set to the offset the data begins at (off, or the oldest retained entry
 * when off was trimmed away; the end when there is nothing to read). */
int deis_cache_log_read(struct deis_cache *c, const char *app, const char *src,
			long long off, size_t max, struct deis_buf *out,
			long long *start, struct deis_error *err);
/* End offset and the time of the last line (microseconds; 0 when empty),
 * in one round trip. */
int deis_cache_log_info(struct deis_cache *c, const char *app, const char *src,
			long long *end, int64_t *mtime, struct deis_error *err);
/* Offset of the oldest retained entry (the end when empty). */
int deis_cache_log_start(struct deis_cache *c, const char *app, const char *src,
			 long long *start, struct deis_error *err);
/* Deletes every log stream of an app. */
int deis_cache_log_delete(struct deis_cache *c, const char *app,
			  struct deis_error *err);

/* ---- the proxy's applied routes ----
 *
 * Each router (a deis-proxy and its nginx, one per node, named by
 * proxy_name) records, per app, the app serial whose routes its nginx
 * serves (after a successful reload), and refreshes a heartbeat with a
 * TTL while it runs.  A container taken out of the routes is stopped only
 * once every live router has applied a serial that no longer routes to
 * it: that is what makes a rollout lose no request.  A router whose
 * heartbeat expired (its node lost) is waited for no more; a live one
 * that lags is.  PostgreSQL keeps the same record (include/deis/
 * db_proxy.h), the one the scheduler trusts; this one may be lost.
 */
int deis_cache_proxy_applied(struct deis_cache *c, const char *proxy, const char *app,
			     long serial, struct deis_error *err);
int deis_cache_proxy_forget(struct deis_cache *c, const char *proxy, const char *app,
			    struct deis_error *err);
/* proxy's heartbeat, current for ttl_s seconds. */
int deis_cache_proxy_alive(struct deis_cache *c, const char *proxy, int ttl_s,
			   struct deis_error *err);
/* What proxy itself recorded for app (0: nothing), so that a router sees
 * whether Redis lost its record. */
int deis_cache_proxy_recorded(struct deis_cache *c, const char *proxy, const char *app,
			      long *serial, struct deis_error *err);

/* What the live routers say of an app (one atomic read). */
struct deis_cache_routers {
	int live;		/* routers whose heartbeat is current */
	long applied;		/* the least serial of the app they applied
				 * (0: one of them has applied none) */
	char lagging[64];	/* the router with that least serial */
};
int deis_cache_proxy_routers(struct deis_cache *c, const char *app,
			     struct deis_cache_routers *out, struct deis_error *err);
/* The same, shortly: *alive when any router's heartbeat is current;
 * *serial the least applied serial of app among the live ones. */
int deis_cache_proxy_state(struct deis_cache *c, const char *app, bool *alive,
			   long *serial, struct deis_error *err);

#endif
