/*
 * scheduler.h - deis-scheduler's internals (docs/scheduler.md).
 */
#ifndef DEIS_SCHEDULER_H
#define DEIS_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "deis/error.h"
#include "deis/kv.h"
#include "deis/model.h"
#include "deis/runtime.h"

struct scheduler_conf {
	char *node;		/* this node's name [the host name] */
	char *address;		/* where the proxy reaches its containers */
	int port;		/* every container's $PORT */
	int grace;		/* s from SIGTERM to SIGKILL */
	int boot_timeout;	/* s for a web container to answer */
	int resync;		/* s between full comparisons */
	int pids;		/* processes, when limits say nothing */
	int backoff_max;	/* s: the longest crash cool-off */
	int proxy_wait;		/* s to wait for the proxy to drop a route */
	char *shim;		/* the deis-shim binary */
	char *init;		/* pid 1 of every container ("" for none) */
};

extern struct scheduler_conf scheduler_conf;

/* slug.c: the node's slug cache.  *dir is the unpacked slug, *env the
 * image's env; both stay valid until slug_free_all(). */
int slug_get(const char *ref, const char **dir, const struct deis_kvlist **env,
	     struct deis_error *err);
void slug_free_all(void);
int slug_rm_rf(const char *path);

/* events.c: the Redis events thread.  It writes to wake_fd (an eventfd)
 * and queues the app names it saw; events_take() hands them over. */
int events_start(int wake_fd, struct deis_error *err);
void events_take(struct deis_strlist *out);
void events_stop(void);

#endif
