/*
 * instances.c - deis-scheduler's instances: the containers of this node as
 * the scheduler follows them, and the apps they belong to.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deis/db.h"
#include "deis/log.h"
#include "deis/logemit.h"
#include "scheduler.h"

const char *const state_names[] = { "starting", "up", "crashed", "stopping" };

struct inst *insts;
struct sapp *apps;
size_t napps;
struct removed *removed;
size_t nremoved;

double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A line in the app's log (source "deis") and in ours. */
void applog(const char *app, const char *fmt, ...)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	deis_log(LOG_INFO, "%s: %s", app, msg);
	if (logs && deis_logemit_send(logs, app, "deis", msg, &err) < 0)
		deis_log(LOG_WARNING, "log server: %s", err.msg);
}

struct sapp *app_find(const char *name, bool add)
{
	for (size_t i = 0; i < napps; i++)
		if (!strcmp(apps[i].name, name))
			return &apps[i];
	if (!add)
		return NULL;
	struct sapp *a = realloc(apps, (napps + 1) * sizeof(*a));
	if (!a)
		abort();
	apps = a;
	a = &apps[napps++];
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->reload = true;
	return a;
}

struct inst *inst_find(const char *id)
{
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->id, id))
			return i;
	return NULL;
}

void inst_dir(const struct inst *i, const char *file, char *out, size_t len)
{
	if (file)
		snprintf(out, len, "%s/%s/%s", cont_dir, i->id, file);
	else
		snprintf(out, len, "%s/%s", cont_dir, i->id);
}

bool is_web(const struct inst *i)
{
	return i->kind == K_PROCESS && !strcmp(i->type, "web");
}

void set_state(struct inst *i, enum istate s)
{
	if (i->state != s) {
		i->state = s;
		i->dirty = true;
	}
}

void inst_free(struct inst *i)
{
	if (i->probe) {
		curl_multi_remove_handle(multi, i->probe);
		curl_easy_cleanup(i->probe);
	}
	if (i->pidfd >= 0)
		close(i->pidfd);
	free(i->command);
	free(i);
}

/* Gives back a container's network (it has ended). */
void net_release(const char *id, const char *app, const char *address)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (net && deis_net_detach(net, id, app, address, &err) < 0)
		deis_log(LOG_WARNING, "%s: %s", id, err.msg);
}

/* Forgets an instance: its row goes at the next write, its directory
 * now, its network too. */
void inst_remove(struct inst *i)
{
	char dir[4400];

	if (!i->nodb) {
		struct removed *r = realloc(removed, (nremoved + 1) * sizeof(*r));
		if (!r)
			abort();
		removed = r;
		r = &removed[nremoved++];
		snprintf(r->app, sizeof(r->app), "%s", i->app);
		snprintf(r->id, sizeof(r->id), "%s", i->id);
	}
	inst_dir(i, NULL, dir, sizeof(dir));
	slug_rm_rf(dir);
	net_release(i->id, i->app, i->address);
	for (struct inst **p = &insts; *p; p = &(*p)->next)
		if (*p == i) {
			*p = i->next;
			break;
		}
	inst_free(i);
}

struct inst *inst_new(struct sapp *a, const char *type, int number,
			     int release, enum kind kind, const char *command,
			     long seq)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct inst *i = calloc(1, sizeof(*i));

	if (!i)
		abort();
	snprintf(i->app, sizeof(i->app), "%s", a->name);
	snprintf(i->type, sizeof(i->type), "%s", type);
	i->number = number;
	snprintf(i->name, sizeof(i->name), "%s.%d", type, number);
	i->release = release;
	i->kind = kind;
	i->command = command ? strdup(command) : NULL;
	i->pidfd = -1;
	if (!seq && deis_db_seq_next(db, &seq, &err) < 0) {
		deis_log(LOG_WARNING, "%s: %s", a->name, err.msg);
		inst_free(i);
		return NULL;
	}
	i->seq = seq;
	if ((size_t)snprintf(i->id, sizeof(i->id), "%s.%s.%ld", a->name, i->name, seq) >=
	    sizeof(i->id)) {
		deis_log(LOG_WARNING, "%s: container id too long for %s", a->name, i->name);
		inst_free(i);
		return NULL;
	}
	i->state = S_STARTING;
	i->dirty = true;
	i->next = insts;
	insts = i;
	return i;
}

/* Whether id ended here and its row's deletion is not written yet. */
bool removing(const char *id)
{
	for (size_t k = 0; k < nremoved; k++)
		if (!strcmp(removed[k].id, id))
			return true;
	return false;
}
