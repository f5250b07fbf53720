/*
 * pass.c - deis-scheduler: a pass over one app: what runs compared with
 * what should, and the starts and stops that follow.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/db.h"
#include "deis/log.h"

#include "scheduler.h"

static void start_oneoff(struct sapp *a, const struct deis_container *c)
{
	struct inst *i = calloc(1, sizeof(*i));

	if (!i)
		abort();
	snprintf(i->app, sizeof(i->app), "%s", a->name);
	snprintf(i->type, sizeof(i->type), "%s", c->type);
	snprintf(i->name, sizeof(i->name), "%s", c->name);
	snprintf(i->id, sizeof(i->id), "%s", c->instance);
	i->number = c->number;
	i->seq = c->seq;
	i->release = c->release;
	i->kind = K_ONEOFF;
	i->command = strdup(c->command);
	i->pidfd = -1;
	i->next = insts;
	insts = i;
	if (inst_launch(i, a) < 0) {
		set_state(i, S_STOPPING);
		inst_remove(i);
		return;
	}
	set_state(i, S_UP);	/* one-offs are up once they run */
}

static struct inst *start_process(struct sapp *a, const char *type, int number,
				  int version)
{
	struct inst *i = inst_new(a, type, number, version, K_PROCESS, NULL, 0);

	if (i)
		inst_launch(i, a);
	return i;
}

static void per_name(struct sapp *a, const char *type, int number,
		     const struct deis_release *T, double t)
{
	struct inst *good = NULL, *serving = NULL;
	char name[64];

	snprintf(name, sizeof(name), "%s.%d", type, number);
	/* The good one: the newest on T that nobody asked to restart (any
	 * other good one is stopped with the rest below). */
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->app, a->name) && i->kind == K_PROCESS &&
		    !strcmp(i->name, name) && i->state != S_STOPPING && T &&
		    i->release == T->version && !i->restart_req &&
		    (!good || i->seq > good->seq))
			good = i;
	if (!good && T)
		good = start_process(a, type, number, T->version);
	bool good_up = good && good->state == S_UP;
	for (struct inst *i = insts; !good_up && i; i = i->next)
		if (!strcmp(i->app, a->name) && i->kind == K_PROCESS && i != good &&
		    !strcmp(i->name, name) && i->state == S_UP &&
		    (!serving || i->seq > serving->seq))
			serving = i;
	for (struct inst *i = insts, *nx; i; i = nx) {
		nx = i->next;
		if (!strcmp(i->app, a->name) && i->kind == K_PROCESS && i != good &&
		    i != serving && !strcmp(i->name, name) && i->state != S_STOPPING)
			inst_stop(i);
	}
	if (good && !good_up && t > good->boot_deadline) {
		char why[300];
		if (serving && serving->release != good->release) {
			snprintf(why, sizeof(why), "%s did not answer its health check within "
				 "%d s (Heroku's R10); v%d keeps serving", name,
				 scheduler_conf.boot_timeout, serving->release);
			fail_release(a, good->release, why);
		} else if (good->pidfd >= 0) {
			/* Nothing else serves, or an instance of the same
			 * release does (a restart): R10, and keep trying. */
			struct deis_error err = DEIS_ERROR_INIT;
			applog(a->name, "%s: Error R10 (Boot timeout): did not answer on $PORT "
			       "(%d) within %d s; killing it", name, good->port,
			       scheduler_conf.boot_timeout);
			good->boot_deadline = t + scheduler_conf.boot_timeout;
			deis_runtime_kill_all(runc_root, good->id, SIGKILL, &err);
		}
	}
}

void reconcile(struct sapp *a)
{
	const struct deis_app *m = a->m;
	double t = mono();

	if (!m) {
		for (struct inst *i = insts, *nx; i; i = nx) {
			nx = i->next;
			if (!strcmp(i->app, a->name)) {
				i->nodb = true;
				inst_stop(i);
			}
		}
		return;
	}
	for (size_t k = 0; k < m->ncontainers; k++) {
		const struct deis_container *c = &m->containers[k];
		struct inst *i = inst_find(c->instance);
		if (i) {
			i->restart_req = !strcmp(c->desired, "restart");
			continue;
		}
		if (!strcmp(c->type, "run") && !strcmp(c->state, "starting") &&
		    (!c->node[0] || !strcmp(c->node, node_name)) && !removing(c->instance))
			start_oneoff(a, c);
	}
	const struct deis_release *pending, *T = target(m, &pending);
	if (pending) {
		bool running = false;
		for (struct inst *i = insts; i; i = i->next)
			if (!strcmp(i->app, a->name) && i->kind == K_RELEASE &&
			    i->release == pending->version)
				running = true;
		if (!running) {
			struct inst *i = inst_new(a, "release", pending->version,
						  pending->version, K_RELEASE, NULL, 0);
			if (i) {
				applog(a->name, "running the release phase of v%d", pending->version);
				if (inst_launch(i, a) < 0) {
					/* The platform's trouble (registry, ports),
					 * not the release's: the next pass tries
					 * again. */
					applog(a->name, "the release phase of v%d could not start; "
					       "retrying", pending->version);
					set_state(i, S_STOPPING);
					inst_remove(i);
				} else {
					set_state(i, S_UP);
				}
			}
		}
	}
	/* Release phases of releases no longer pending: superseded. */
	for (struct inst *i = insts, *nx; i; i = nx) {
		nx = i->next;	/* inst_stop() may free i */
		if (!strcmp(i->app, a->name) && i->kind == K_RELEASE &&
		    (!pending || i->release != pending->version))
			inst_stop(i);
	}

	struct deis_strlist want = DEIS_STRLIST_INIT;
	const struct deis_build *b = T ? build_of(m, T) : NULL;
	for (size_t k = 0; b && k < m->formation.n; k++) {
		const char *type = m->formation.items[k].key;
		int count = atoi(m->formation.items[k].value);
		if (!strcmp(type, "release") || !deis_kvlist_get(&b->procfile, type))
			continue;
		for (int n = 1; n <= count; n++) {
			char name[64];
			snprintf(name, sizeof(name), "%s.%d", type, n);
			deis_strlist_add(&want, name);
			per_name(a, type, n, T, t);
			if (a->reload) {
				/* T failed: the next pass works from the new
				 * verdict (not starting what it just stopped). */
				deis_strlist_clear(&want);
				return;
			}
		}
	}
	for (struct inst *i = insts, *nx; i; i = nx) {
		nx = i->next;
		if (!strcmp(i->app, a->name) && i->kind == K_PROCESS &&
		    i->state != S_STOPPING && !deis_strlist_has(&want, i->name))
			inst_stop(i);
	}
	deis_strlist_clear(&want);
}
