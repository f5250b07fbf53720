/*
 * events.c - deis-logd's event thread.
 *
 * Follows the platform's change events ("app <name>" on the Redis events
 * channel) and, every drain_refresh seconds, the database itself (events
 * may be lost: Redis is a cache):
 *   - reloads the drains of every app (deis_db_load_drains) and hands them
 *     to the drain thread;
 *   - when an app no longer exists (an event for an app that is gone, or an
 *     app that was in the previous list and is not any more), tells the
 *     main loop to delete its logs ("delete <app>\n" on the command pipe).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/db.h"
#include "deis/log.h"
#include "deis/validate.h"
#include "logd.h"

static pthread_t thread;
static int started;
static volatile int stopping;
static int cmd_fd = -1;
static struct deis_db *db;
static struct deis_strlist known;	/* the apps at the last listing */
static int known_valid;

static void send_delete(const char *app)
{
	char line[300];
	int n = snprintf(line, sizeof(line), "delete %s\n", app);

	if (n > 0 && (size_t)n < sizeof(line) && write(cmd_fd, line, (size_t)n) < 0)
		deis_log(LOG_WARNING, "deleting the logs of %s: %s", app, strerror(errno));
}

/* Reloads the drains and the app list; deletes the logs of apps that went
 * away (and of `gone`, an app an event named, when it does not exist). */
static int refresh(const char *gone)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_kvlist drains = DEIS_KVLIST_INIT, addrs = DEIS_KVLIST_INIT;
	struct deis_strlist names = DEIS_STRLIST_INIT;
	struct deis_node *nodes = NULL;
	size_t nnodes = 0;

	if (!db && deis_db_open(deis_conf.database, &db, &err) < 0)
		goto fail;
	if (deis_db_load_drains(db, &drains, &err) < 0 ||
	    deis_db_app_names(db, &names, &err) < 0 ||
	    deis_db_nodes(db, &nodes, &nnodes, &err) < 0)
		goto fail;
	for (size_t i = 0; i < nnodes; i++)
		deis_kvlist_set(&addrs, nodes[i].name, nodes[i].address);
	free(nodes);
	drains_set_nodes(&addrs);
	deis_kvlist_clear(&addrs);
	drains_set(&drains);
	if (gone && deis_valid_app_name(gone) && !deis_strlist_has(&names, gone))
		send_delete(gone);
	if (known_valid)
		for (size_t i = 0; i < known.n; i++)
			if (!deis_strlist_has(&names, known.items[i]) &&
			    !(gone && !strcmp(gone, known.items[i])))
				send_delete(known.items[i]);
	deis_strlist_clear(&known);
	known = names;
	known_valid = 1;
	deis_kvlist_clear(&drains);
	return 0;
fail:
	deis_log(LOG_WARNING, "database: %s (drains keep their last settings)", err.msg);
	deis_kvlist_clear(&drains);
	deis_strlist_clear(&names);
	return -1;
}

static void *events_main(void *arg)
{
	struct deis_cache *sub = NULL;
	time_t last_refresh = 0;
	char kind[16], name[256];

	while (!stopping) {
		time_t now = time(NULL);
		if (now - last_refresh >= logd_conf.drain_refresh) {
			last_refresh = now;
			refresh(NULL);
		}
		int r = deis_cache_follow(&sub, deis_conf.redis_host, deis_conf.redis_port,
					  deis_conf.redis_password, 500, kind, sizeof(kind),
					  name, sizeof(name));
		if (r == 2)
			last_refresh = 0;	/* catch up */
		else if (r == 1 && !strcmp(kind, "app"))
			refresh(name);
	}
	deis_cache_close(sub);
	return NULL;
}

int events_start(int fd, struct deis_error *err)
{
	cmd_fd = fd;
	if (pthread_create(&thread, NULL, events_main, NULL) != 0)
		return deis_error_set(err, EAGAIN, "cannot start the event thread");
	started = 1;
	return 0;
}

void events_stop(void)
{
	if (!started)
		return;
	stopping = 1;
	pthread_join(thread, NULL);
	started = 0;
	deis_db_close(db);
	db = NULL;
	deis_strlist_clear(&known);
}
