/*
 * instances.c - deis-scheduler's instances: the containers of this node as
 * the scheduler follows them, and the apps they belong to.
 *
 * An instance is "<app>.<type>.<n>.<seq>": its container's id and the key
 * of its row in containers.  Two instances of one name (web.1) run side
 * by side during a rollout or a restart; seq, from the database, tells
 * the newer.  The list is newest first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/db.h"
#include "deis/log.h"
#include "deis/logemit.h"
#include "scheduler.h"

struct inst *insts;
struct sapp *apps;
size_t napps;
struct removed *removed;
size_t nremoved;

/* A line in the app's log (source "deis") and in ours. */
void applog(const char *app, const char *fmt, ...)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	deis_log(LOG_INFO, "%s: %s", app, msg);
	if (sched.logs && deis_logemit_send(sched.logs, app, "deis", msg, &err) < 0)
		deis_log(LOG_WARNING, "log server: %s", err.msg);
	free(msg);
}

void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p)
		abort();
	return p;
}

struct sapp *app_find(const char *name, bool add)
{
	for (size_t i = 0; i < napps; i++)
		if (!strcmp(apps[i].name, name))
			return &apps[i];
	if (!add)
		return NULL;
	struct sapp *a = ARRAY_ADD(apps, napps);
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->reload = true;
	return a;
}

/* Forgets the apps that are gone and have nothing left here. */
void apps_forget_gone(void)
{
	for (size_t k = 0; k < napps;) {
		bool any = false;
		for (struct inst *i = insts; i && !any; i = i->next)
			any = !strcmp(i->app, apps[k].name);
		if (!apps[k].m && !any && !apps[k].reload) {
			apps[k] = apps[--napps];
			continue;
		}
		k++;
	}
}

struct inst *inst_find(const char *id)
{
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->id, id))
			return i;
	return NULL;
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
		curl_multi_remove_handle(sched.multi, i->probe);
		curl_easy_cleanup(i->probe);
	}
	if (i->proc.fd >= 0)
		close(i->proc.fd);
	free(i->command);
	free(i);
}

void insts_free_all(void)
{
	while (insts) {
		struct inst *i = insts;
		insts = i->next;
		inst_free(i);
	}
	for (size_t k = 0; k < napps; k++)
		deis_app_free(apps[k].m);
	free(apps);
	free(removed);
}

void removed_add(const char *app, const char *id)
{
	struct removed *r = ARRAY_ADD(removed, nremoved);

	snprintf(r->app, sizeof(r->app), "%s", app);
	snprintf(r->id, sizeof(r->id), "%s", id);
}

/* Forgets an instance: its row goes at the next write, its files and its
 * address now. */
void inst_remove(struct inst *i)
{
	if (!i->nodb)
		removed_add(i->app, i->id);
	sched.backend->ops->remove(sched.backend, i->id, i->app, i->address);
	for (struct inst **p = &insts; *p; p = &(*p)->next)
		if (*p == i) {
			*p = i->next;
			break;
		}
	inst_free(i);
}

static struct inst *inst_alloc(const char *app)
{
	struct inst *i = calloc(1, sizeof(*i));

	if (!i)
		abort();
	snprintf(i->app, sizeof(i->app), "%s", app);
	i->proc = (struct deis_backend_proc)DEIS_BACKEND_PROC_INIT;
	return i;
}

static struct inst *inst_link(struct inst *i)
{
	i->next = insts;
	insts = i;
	return i;
}

/* A new instance of a's type.number on release (its row is written at
 * the next write).  seq 0: a new one from the database. */
struct inst *inst_new(struct sapp *a, const char *type, int number,
		      int release, enum kind kind, const char *command,
		      long seq)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct inst *i = inst_alloc(a->name);

	snprintf(i->type, sizeof(i->type), "%s", type);
	i->number = number;
	snprintf(i->name, sizeof(i->name), "%s.%d", type, number);
	i->release = release;
	i->kind = kind;
	i->command = command ? strdup(command) : NULL;
	if (!seq && deis_db_seq_next(sched.db, &seq, &err) < 0) {
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
	return inst_link(i);
}

/* The instance a row of app describes (a one-off the tree asked for, or
 * one a previous scheduler left running): nothing of it runs yet. */
struct inst *inst_from_row(const char *app, const struct deis_container *c)
{
	struct inst *i = inst_alloc(app);

	snprintf(i->name, sizeof(i->name), "%s", c->name);
	snprintf(i->type, sizeof(i->type), "%s", c->type);
	snprintf(i->id, sizeof(i->id), "%s", c->instance);
	i->number = c->number;
	i->seq = c->seq;
	i->release = c->release;
	i->port = c->port;
	snprintf(i->address, sizeof(i->address), "%s", c->address);
	/* A cluster backend's rows say where each runs; runc's are ours. */
	if (sched.backend && sched.backend->ops->cluster)
		snprintf(i->node, sizeof(i->node), "%s", c->node);
	i->started_us = c->started;
	i->restarts = c->restarts;
	i->command = c->command[0] ? strdup(c->command) : NULL;
	i->kind = !strcmp(c->type, "run") ? K_ONEOFF :
		!strcmp(c->type, "release") ? K_RELEASE : K_PROCESS;
	i->run_since = mono();
	i->boot_deadline = i->run_since + scheduler_conf.boot_timeout;
	for (int s = 0; s < 4; s++)
		if (!strcmp(c->state, state_names[s]))
			i->state = (enum istate)s;
	return inst_link(i);
}

struct policy_inst *inst_views(const char *app, size_t *n)
{
	struct policy_inst *v = NULL;
	size_t cap = 0;

	*n = 0;
	for (struct inst *i = insts; i; i = i->next) {
		if (strcmp(i->app, app))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[(*n)++] = (struct policy_inst){
			.id = i->id, .type = i->type, .number = i->number, .seq = i->seq,
			.release = i->release, .kind = i->kind, .state = i->state,
			.restart_req = i->restart_req, .running = i->proc.fd >= 0,
			.gone = i->nodb, .boot_deadline = i->boot_deadline,
		};
	}
	return v;
}
