/*
 * adopt.c - deis-scheduler at start: takes over what a previous scheduler
 * left on this node, so that a restart, an upgrade or a kill -9 of the
 * scheduler touches no container.  For each container the backend finds:
 *
 *  - a row and something still following it (runc: a live shim): adopted;
 *    starting ones are probed again, stopping ones get their SIGTERM
 *    once the routers let them go;
 *  - a row and a known end: it ended while we were away: handled as an
 *    exit (a crash restarts it);
 *  - a row, nothing following it, no known end: it may run unwatched (its
 *    output has no reader): killed, and handled as a crash;
 *  - no row (or another node's): removed.
 *
 * Rows of this node without a container are deleted (the next pass starts
 * what is missing), and whatever the backend holds that no instance knows
 * goes.  Nothing is started twice: an instance is adopted or replaced.
 *
 * A cluster backend (swarm) lists every node's containers, and one
 * scheduler serves them all: every row is this scheduler's.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/db.h"
#include "deis/log.h"
#include "scheduler.h"

struct adoption {
	int adopted, dropped;
};

/* Whether a row of node is this scheduler's. */
static bool ours(const char *node)
{
	return sched.backend->ops->cluster || !node[0] || !strcmp(node, scheduler_conf.node);
}

static const struct deis_container *row_of(const char *id, struct sapp **app)
{
	for (size_t k = 0; k < napps; k++) {
		const struct deis_app *m = apps[k].m;
		for (size_t c = 0; m && c < m->ncontainers; c++)
			if (!strcmp(m->containers[c].instance, id)) {
				*app = &apps[k];
				return &m->containers[c];
			}
	}
	return NULL;
}

/* A container nobody wants: killed (what follows it gets a second to see
 * it end), deleted, its files removed. */
static void destroy(const struct deis_backend_found *f)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_backend *be = sched.backend;
	struct deis_backend_proc proc = f->proc;

	deis_log(LOG_NOTICE, "removing container %s: not in the database", f->id);
	be->ops->stop(be, f->id, true, &err);
	if (proc.fd >= 0) {
		struct pollfd p = { .fd = proc.fd, .events = POLLIN };
		poll(&p, 1, 1000);
	}
	be->ops->ended(be, f->id, &proc, NULL);
	be->ops->remove(be, f->id, NULL, NULL);
}

static void found(void *ctx, const struct deis_backend_found *f)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct adoption *ad = ctx;
	struct sapp *a = NULL;
	const struct deis_container *c = row_of(f->id, &a);

	if (!c || !ours(c->node)) {
		destroy(f);
		return;
	}
	struct inst *i = inst_from_row(a->name, c);
	i->proc = f->proc;
	if (i->proc.fd >= 0) {
		ad->adopted++;
		if (i->state == S_STOPPING) {
			/* Its row says stopping: the app's serial now is at
			 * least that of the write that said so, and the
			 * routers are asked again (the one before us may have
			 * been killed while it waited for them). */
			i->termed = false;
			i->term_serial = is_web(i) && a->m ? a->m->serial : 0;
			i->term_at = i->term_since = mono();
		} else if (i->state == S_CRASHED) {
			set_state(i, S_STARTING);
		}
		return;
	}
	/* Nothing follows it.  With a known end: it ended while we were
	 * away.  Without: it may run unwatched; end it. */
	if (i->state == S_CRASHED && !f->ended) {
		i->backoff_until = mono();
		return;
	}
	if (!f->ended) {
		sched.backend->ops->stop(sched.backend, i->id, true, &err);
		usleep(100000);
	}
	inst_exited(i);
}

/* Rows of this node whose container is gone.  An attached one-off
 * (`ssh ... run`) is not ours while it runs; what a killed one left
 * behind goes with its row. */
static void drop_stale_rows(struct adoption *ad)
{
	struct deis_backend *be = sched.backend;

	for (size_t k = 0; k < napps; k++) {
		const struct deis_app *m = apps[k].m;
		for (size_t c = 0; m && c < m->ncontainers; c++) {
			const struct deis_container *ct = &m->containers[c];
			if (inst_find(ct->instance) || !ours(ct->node) || !ct->node[0])
				continue;
			if (!strcmp(ct->desired, "attached") &&
			    be->ops->attached_runs(be, ct->instance))
				continue;
			removed_add(apps[k].name, ct->instance);
			ad->dropped++;
		}
	}
}

static bool known(void *ctx, const char *id)
{
	return inst_find(id) != NULL;
}

void adopt(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_app **list = NULL;
	struct adoption ad = { 0, 0 };
	size_t n = 0;

	if (deis_db_load_apps(sched.db, NULL, NULL, &list, &n, &err) < 0) {
		deis_log(LOG_ERR, "loading apps: %s", err.msg);
		exit(1);
	}
	for (size_t k = 0; k < n; k++) {
		struct sapp *a = app_find(list[k]->name, true);
		a->m = list[k];
		a->serial = list[k]->serial;
		a->reload = false;
		a->pass = true;
	}
	free(list);
	if (sched.backend->ops->list(sched.backend, found, &ad, &err) < 0)
		deis_log(LOG_WARNING, "finding containers: %s", err.msg);
	drop_stale_rows(&ad);
	sched.backend->ops->sweep(sched.backend, known, NULL);
	deis_log(LOG_NOTICE, "adopted %d running container(s); dropped %d stale row(s)",
		 ad.adopted, ad.dropped);
}
