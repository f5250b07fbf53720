/*
 * events.c - deis-scheduler's event thread.
 *
 * Follows "app <name>" events on the Redis channel and hands the names to
 * the main loop (a queue under a mutex and a write to its eventfd).  Lost
 * events are made up by the main loop's periodic resync, so this thread
 * only has to reconnect, never to replay.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/log.h"
#include "scheduler.h"

static pthread_t thread;
static int started;
static volatile int stopping;
static int wake = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct deis_strlist queue;

static void poke(void)
{
	uint64_t one = 1;

	if (write(wake, &one, sizeof(one)) < 0 && errno != EAGAIN)
		deis_log(LOG_WARNING, "event wake-up: %s", strerror(errno));
}

static void *events_main(void *arg)
{
	struct deis_cache *sub = NULL;
	char kind[16], name[256];

	while (!stopping) {
		int r = deis_cache_follow(&sub, deis_conf.redis_host, deis_conf.redis_port,
					  deis_conf.redis_password, 500, kind, sizeof(kind),
					  name, sizeof(name));
		if (r == 2) {
			/* Events may have been missed while disconnected. */
			pthread_mutex_lock(&lock);
			deis_strlist_add(&queue, "*");
			pthread_mutex_unlock(&lock);
			poke();
		} else if (r == 1 && !strcmp(kind, "app")) {
			pthread_mutex_lock(&lock);
			if (!deis_strlist_has(&queue, name))
				deis_strlist_add(&queue, name);
			pthread_mutex_unlock(&lock);
			poke();
		}
	}
	deis_cache_close(sub);
	return NULL;
}

int events_start(int wake_fd, struct deis_error *err)
{
	wake = wake_fd;
	if (pthread_create(&thread, NULL, events_main, NULL) != 0)
		return deis_error_set(err, EAGAIN, "cannot start the event thread");
	started = 1;
	return 0;
}

void events_take(struct deis_strlist *out)
{
	pthread_mutex_lock(&lock);
	*out = queue;
	memset(&queue, 0, sizeof(queue));
	pthread_mutex_unlock(&lock);
}

void events_stop(void)
{
	if (!started)
		return;
	stopping = 1;
	pthread_join(thread, NULL);
	started = 0;
	deis_strlist_clear(&queue);
}
