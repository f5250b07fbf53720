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

#include <stddef.h>

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

#endif
