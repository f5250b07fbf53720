/*
 * events.c - what deis-logd's event thread (lib/daemon.c) does.
 *
 * At each change event "app <name>", and at every resync (every
 * resync_interval seconds: events may be lost, Redis is a cache), it
 *   - reloads the drains of every app (deis_db_load_drains) and hands them
 *     to the drain thread;
 *   - when an app no longer exists (an event for an app that is gone, or an
 *     app that was in the previous list and is not any more), tells the
 *     main loop to delete its logs ("delete <app>\n" on the command pipe).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/db.h"
#include "deis/log.h"
#include "deis/validate.h"
#include "logd.h"

static int cmd_fd = -1;
static struct deis_daemon_db db = DEIS_DAEMON_DB_INIT;
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
	struct deis_db *d = deis_daemon_db(&db);

	if (!d)
		return -1;	/* logged by the keeper; drains keep their settings */
	if (deis_db_load_drains(d, &drains, &err) < 0 ||
	    deis_db_app_names(d, &names, &err) < 0 ||
	    deis_db_nodes(d, &nodes, &nnodes, &err) < 0)
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

static void on_event(const char *kind, const char *name)
{
	if (!strcmp(kind, "app"))
		refresh(name);
}

static void on_resync(void)
{
	refresh(NULL);
}

int events_start(int fd, struct deis_error *err)
{
	static const struct deis_daemon_events callbacks = { on_event, on_resync, NULL };

	cmd_fd = fd;
	return deis_daemon_events_start(&callbacks, err);
}

void events_stop(void)
{
	deis_daemon_events_stop();
	deis_daemon_db_close(&db);
	deis_strlist_clear(&known);
}
