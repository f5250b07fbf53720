/*
 * adopt.c - deis-scheduler: at start, taking over what a previous
 * scheduler left running.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/db.h"
#include "deis/log.h"

#include "scheduler.h"

/* ---- adoption ---- */

static bool shim_alive(pid_t pid, const char *id)
{
	char path[64], cmd[4096];

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t r = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (r <= 0)
		return false;
	cmd[r] = '\0';
	/* argv[0] is the shim, argv[3] the id. */
	if (!strstr(cmd, "deis-shim"))
		return false;
	for (ssize_t k = 0; k < r; k++)
		if (cmd[k] == '\0')
			cmd[k] = '\n';
	char want[DEIS_RUNTIME_ID_MAX + 3];
	snprintf(want, sizeof(want), "\n%s\n", id);
	return strstr(cmd, want) != NULL;
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

struct net_gc {
	struct { char id[DEIS_RUNTIME_ID_MAX + 1]; char address[INET_ADDRSTRLEN]; } *items;
	size_t n;
};

static void net_gc_one(void *ctx, const char *id, const char *address)
{
	struct net_gc *gc = ctx;
	struct deis_error err = DEIS_ERROR_INIT;
	char root[4400];
	enum deis_runtime_status st = DEIS_RT_UNKNOWN;
	pid_t pid = 0;

	if (inst_find(id) || strstr(id, ".build-"))
		return;
	/* An attached one-off that still runs keeps its own. */
	snprintf(root, sizeof(root), "%s/runc", attached_root);
	if (deis_runtime_state(root, id, &st, &pid, &err) == 0 && st == DEIS_RT_RUNNING)
		return;
	void *p = realloc(gc->items, (gc->n + 1) * sizeof(*gc->items));
	if (!p)
		abort();
	gc->items = p;
	snprintf(gc->items[gc->n].id, sizeof(gc->items[gc->n].id), "%s", id);
	snprintf(gc->items[gc->n].address, sizeof(gc->items[gc->n].address), "%s", address);
	gc->n++;
}

/* At start: takes over the containers a previous scheduler left running,
 * drops rows of containers that are gone, removes what has no row. */
void adopt(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_app **list = NULL;
	size_t n = 0;
	int adopted = 0, dropped = 0;

	if (deis_db_load_apps(db, NULL, NULL, &list, &n, &err) < 0) {
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

	DIR *d = opendir(cont_dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[4500], line[64];
		if (e->d_name[0] == '.')
			continue;
		struct sapp *a = NULL;
		const struct deis_container *c = row_of(e->d_name, &a);
		snprintf(path, sizeof(path), "%s/%s/shim.pid", cont_dir, e->d_name);
		pid_t shim = 0;
		FILE *f = fopen(path, "r");
		if (f) {
			if (fgets(line, sizeof(line), f))
				shim = (pid_t)atoi(line);
			fclose(f);
		}
		bool alive = shim > 0 && shim_alive(shim, e->d_name);
		if (!c || (c->node[0] && strcmp(c->node, node_name))) {
			/* No row: nobody wants it. */
			deis_log(LOG_NOTICE, "removing container %s: not in the database",
				 e->d_name);
			deis_runtime_kill_all(runc_root, e->d_name, SIGKILL, &err);
			for (int w = 0; alive && w < 50 && shim_alive(shim, e->d_name); w++)
				usleep(20000);
			deis_runtime_delete(runc_root, e->d_name, 1, &err);
			snprintf(path, sizeof(path), "%s/%s", cont_dir, e->d_name);
			slug_rm_rf(path);
			continue;
		}
		struct inst *i = calloc(1, sizeof(*i));
		if (!i)
			abort();
		snprintf(i->app, sizeof(i->app), "%s", a->name);
		snprintf(i->name, sizeof(i->name), "%s", c->name);
		snprintf(i->type, sizeof(i->type), "%s", c->type);
		snprintf(i->id, sizeof(i->id), "%s", c->instance);
		i->number = c->number;
		i->seq = c->seq;
		i->release = c->release;
		i->port = c->port;
		snprintf(i->address, sizeof(i->address), "%s", c->address);
		i->started_us = c->started;
		i->restarts = c->restarts;
		i->command = c->command[0] ? strdup(c->command) : NULL;
		i->kind = !strcmp(c->type, "run") ? K_ONEOFF :
			!strcmp(c->type, "release") ? K_RELEASE : K_PROCESS;
		i->pidfd = -1;
		i->run_since = mono();
		i->boot_deadline = i->run_since + scheduler_conf.boot_timeout;
		for (int s = 0; s < 4; s++)
			if (!strcmp(c->state, state_names[s]))
				i->state = (enum istate)s;
		i->next = insts;
		insts = i;
		if (alive)
			i->pidfd = pidfd_open(shim, 0);
		if (i->pidfd >= 0) {
			i->shim = shim;
			adopted++;
			if (i->state == S_STOPPING) {
				i->termed = false;
				i->term_serial = 0;
				i->term_at = mono();
			} else if (i->state == S_CRASHED) {
				set_state(i, S_STARTING);
			}
			continue;
		}
		/* Its shim is gone.  With a status: it ended while we were
		 * away.  Without: the container may run unwatched; end it. */
		snprintf(path, sizeof(path), "%s/%s/exit", cont_dir, e->d_name);
		if (i->state == S_CRASHED && access(path, F_OK) != 0) {
			i->backoff_until = mono();
			continue;
		}
		if (access(path, F_OK) != 0) {
			deis_runtime_kill_all(runc_root, i->id, SIGKILL, &err);
			usleep(100000);
		}
		inst_exited(i);
	}
	if (d)
		closedir(d);
	/* Rows of this node whose container is gone. */
	for (size_t k = 0; k < napps; k++) {
		const struct deis_app *m = apps[k].m;
		for (size_t c = 0; m && c < m->ncontainers; c++) {
			const struct deis_container *ct = &m->containers[c];
			if (inst_find(ct->instance) || strcmp(ct->node, node_name))
				continue;
			if (!strcmp(ct->desired, "attached")) {
				/* An `ssh ... run` session: not ours while it runs;
				 * what a killed one left behind goes. */
				char adir[4400], aroot[4400];
				enum deis_runtime_status st = DEIS_RT_UNKNOWN;
				pid_t apid = 0;
				snprintf(aroot, sizeof(aroot), "%s/runc", attached_root);
				if (deis_runtime_state(aroot, ct->instance, &st, &apid, &err) == 0 &&
				    st == DEIS_RT_RUNNING)
					continue;
				deis_runtime_delete(aroot, ct->instance, 1, &err);
				snprintf(adir, sizeof(adir), "%s/%s", attached_root, ct->instance);
				slug_rm_rf(adir);
			}
			struct removed *r = realloc(removed, (nremoved + 1) * sizeof(*r));
			if (!r)
				abort();
			removed = r;
			r = &removed[nremoved++];
			snprintf(r->app, sizeof(r->app), "%s", apps[k].name);
			snprintf(r->id, sizeof(r->id), "%s", ct->instance);
			dropped++;
		}
	}
	/* runc containers with no directory of ours. */
	struct deis_runtime_list rl = { 0 };
	if (deis_runtime_list(runc_root, &rl, &err) == 0) {
		for (size_t k = 0; k < rl.n; k++) {
			if (inst_find(rl.items[k].id))
				continue;
			deis_log(LOG_NOTICE, "removing stray container %s", rl.items[k].id);
			deis_runtime_kill_all(runc_root, rl.items[k].id, SIGKILL, &err);
			deis_runtime_delete(runc_root, rl.items[k].id, 1, &err);
		}
		deis_runtime_list_free(&rl);
	}
	/* Networks nothing runs in any more (a container that ended while
	 * we were away, an attached one-off whose process was killed).  The
	 * builder's ("<app>.build-N") are the builder's to clean. */
	struct net_gc gc = { 0 };
	deis_net_list(net, net_gc_one, &gc, &err);
	for (size_t k = 0; k < gc.n; k++) {
		deis_log(LOG_NOTICE, "removing the network of %s (%s): nothing runs there",
			 gc.items[k].id, gc.items[k].address);
		net_release(gc.items[k].id, NULL, gc.items[k].address);
	}
	free(gc.items);
	deis_log(LOG_NOTICE, "adopted %d running container(s); dropped %d stale row(s)",
		 adopted, dropped);
}
