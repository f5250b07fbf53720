/*
 * instances.c - the source of a line from a container on another node.
 *
 * The engine's syslog driver tags a container's lines "<app>.<seq>" (the
 * scheduler puts the tag in the service's spec: the app cannot change
 * it); the node's relay (packaging/rsyslog-relay.conf) sends them as app
 * <app>, source "@<seq>".  Here "@<seq>" becomes the instance's name
 * (web.3), read once from PostgreSQL (lib/db_logs.c) and kept: a sequence
 * number is never reused, so the answer never changes.  A seq that is not
 * one of the app's containers (a tag of another app, or a row already
 * gone) names nothing, and its lines are dropped and counted: a line
 * never takes a source it cannot prove.  Such a miss is asked again after
 * MISS_RETRY_MS (the row may come later than a first line).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/daemon.h"
#include "deis/db_logs.h"
#include "deis/log.h"
#include "deis/logemit.h"
#include "logd.h"

#define MISS_RETRY_MS	1000
#define MAX_KEPT	65536	/* names kept; past it the table starts over */

struct instance {
	struct logd_entry e;	/* app, "@<seq>" */
	char name[64];		/* "" while unknown */
	long long miss_ms;	/* when it was last not found */
};

static struct logd_table known = LOGD_TABLE_INIT(struct instance, NULL);
static size_t nknown;
static struct deis_daemon_db db = DEIS_DAEMON_DB_INIT;

/* "@<digits>" (at most 18 of them), its number in *seq. */
static int parse_seq(const char *src, long long *seq)
{
	char *end;

	if (src[0] != '@' || src[1] < '0' || src[1] > '9' || strlen(src) > 19)
		return -1;
	*seq = strtoll(src + 1, &end, 10);
	return *end ? -1 : 0;
}

int logd_instance_source(const char *app, const char *src, const char **name)
{
	struct deis_error err = DEIS_ERROR_INIT;
	long long seq, now = deis_mono_ms();
	struct instance *in;

	if (parse_seq(src, &seq) < 0)
		return 0;
	in = logd_table_find(&known, app, src);
	if (in && in->name[0]) {
		*name = in->name;
		return 1;
	}
	if (in && now - in->miss_ms < MISS_RETRY_MS)
		return 0;
	struct deis_db *d = deis_daemon_db(&db);
	if (!d)
		return 0;	/* logged by the keeper */
	if (!in) {
		if (nknown >= MAX_KEPT) {
			logd_table_remove(&known, NULL);
			nknown = 0;
		}
		in = logd_table_add(&known, app, src);
		nknown++;
	}
	int r = deis_db_instance_name(d, app, seq, in->name, sizeof(in->name), &err);
	if (r < 0)
		deis_log(LOG_WARNING, "database: the instance of %s's container %lld: %s",
			 app, seq, err.msg);
	if (r <= 0 || !deis_log_source_valid(in->name)) {
		in->name[0] = '\0';
		in->miss_ms = now;
		return 0;
	}
	*name = in->name;
	return 1;
}

void logd_instances_close(void)
{
	logd_table_remove(&known, NULL);
	nknown = 0;
	deis_daemon_db_close(&db);
}
