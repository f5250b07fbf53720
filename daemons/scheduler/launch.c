/*
 * launch.c - deis-scheduler: starting an instance (its bundle, its shim),
 * stopping it, and what happens when it ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/db.h"
#include "deis/log.h"
#include "deis/quota.h"
#include "deis/spawn.h"
#include "deis/validate.h"

extern char **environ;

#include "scheduler.h"

static int spawn_shim(struct inst *i, const char *bundle, struct deis_error *err)
{
	char dir[4400];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;

	inst_dir(i, NULL, dir, sizeof(dir));
	const char *argv[] = { scheduler_conf.shim, runc_root, bundle, i->id, dir, i->app,
			       i->name, deis_conf.syslog_socket, NULL };
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* Its own session: a signal to our process group is not its. */
	deis_spawnattr_init(&attr, POSIX_SPAWN_SETSID);
	int r = posix_spawn(&i->shim, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r) {
		i->shim = 0;
		return deis_error_set(err, r, "starting %s: %s", argv[0], strerror(r));
	}
	i->child = true;
	i->pidfd = pidfd_open(i->shim, 0);
	if (i->pidfd < 0)
		return deis_error_set(err, errno, "pidfd_open: %s", strerror(errno));
	return 0;
}

/*
 * Writes the bundle of a container of app m running cmd on release rel
 * into DIR/bundle: the slug at /app, the image's env under the release's
 * config, $PORT, $DYNO, the limits of type (else the defaults), tini as
 * pid 1, the network namespace ep.  extra (may be NULL) is added last
 * (TERM for a terminal).
 */
int make_bundle(const struct deis_app *m, const struct deis_release *rel,
		       const char *type, const char *cmd, const char *id,
		       const char *name, const struct deis_net_endpoint *ep, int port,
		       const struct deis_kvlist *extra, int terminal, const char *dir,
		       struct deis_error *err)
{
	const struct deis_build *b = build_of(m, rel);
	const struct deis_kvlist *ienv = NULL;
	const char *slug = NULL;
	struct deis_kvlist env = DEIS_KVLIST_INIT;
	char bundle[4500], key[96], num[32];
	int r;

	if (!b || !b->image[0])
		return deis_error_set(err, ENOENT, "its release has no image");
	r = slug_get(b->image, &slug, &ienv, err);
	if (r < 0)
		return deis_error_prefix(err, "cannot get its slug");
	deis_kvlist_copy(&env, ienv);
	for (size_t k = 0; k < rel->config.n; k++)
		deis_kvlist_set(&env, rel->config.items[k].key, rel->config.items[k].value);
	snprintf(num, sizeof(num), "%d", port);
	deis_kvlist_set(&env, "PORT", num);
	deis_kvlist_set(&env, "DYNO", name);
	deis_kvlist_set(&env, "DEIS_APP", m->name);
	snprintf(num, sizeof(num), "v%d", rel->version);
	deis_kvlist_set(&env, "DEIS_RELEASE", num);
	for (size_t k = 0; extra && k < extra->n; k++)
		deis_kvlist_set(&env, extra->items[k].key, extra->items[k].value);

	long long mem = deis_quota_default_memory();
	long cpu = 0, pids = scheduler_conf.pids;
	snprintf(key, sizeof(key), "%s.memory", type);
	if (deis_kvlist_get(&rel->limits, key))
		mem = deis_limits_memory_bytes(deis_kvlist_get(&rel->limits, key));
	snprintf(key, sizeof(key), "%s.cpu", type);
	if (deis_kvlist_get(&rel->limits, key))
		cpu = deis_limits_cpu_millis(deis_kvlist_get(&rel->limits, key));
	snprintf(key, sizeof(key), "%s.pids", type);
	if (deis_kvlist_get(&rel->limits, key))
		pids = strtol(deis_kvlist_get(&rel->limits, key), NULL, 10);

	const char *argv[8];
	int n = 0;
	if (scheduler_conf.init[0]) {
		/* tini: pid 1 forwards SIGTERM to the process group of the
		 * command (a pid 1 without a handler would ignore it) and
		 * reaps orphans. */
		argv[n++] = scheduler_conf.init;
		argv[n++] = "-g";
		argv[n++] = "--";
	}
	/* bash -c, as Heroku runs Procfile commands: it runs a simple
	 * command in its place (no shell left in between to eat a signal),
	 * and waits cooperatively on ^C.  /bin/sh where there is no bash. */
	argv[n++] = access("/usr/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = cmd;
	argv[n] = NULL;
	struct deis_container_spec spec = {
		.id = id, .argv = argv, .env = &env, .app_dir = slug,
		.memory_bytes = mem > 0 ? (uint64_t)mem : 0,
		.cpu_millicores = cpu > 0 ? (unsigned)cpu : 0,
		.pids_max = pids > 0 ? pids : 0,
		.terminal = terminal,
		.netns = ep->netns, .address = ep->address,
	};
	mkdir(dir, 0700);
	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	r = deis_runtime_bundle(&spec, bundle, err);
	deis_kvlist_clear(&env);
	if (r < 0)
		return deis_error_prefix(err, "cannot make its bundle");
	return 0;
}

/* Starts (or restarts in place) an instance on its release. */
int inst_launch(struct inst *i, struct sapp *a)
{
	struct deis_error err = DEIS_ERROR_INIT;
	const struct deis_app *m = a->m;
	const struct deis_release *rel = m ? release_of(m, i->release) : NULL;
	const struct deis_build *b = m ? build_of(m, rel) : NULL;
	const char *cmd = NULL;
	char dir[4400], bundle[4500], path[4500];
	int r;

	if (!b || !b->image[0]) {
		crash(i, "its release has no image");
		return -ENOENT;
	}
	if (i->kind == K_ONEOFF)
		cmd = i->command;
	else
		cmd = deis_kvlist_get(&b->procfile, i->kind == K_RELEASE ? "release" : i->type);
	if (!cmd) {
		crash(i, "the Procfile has no such process type");
		return -ENOENT;
	}
	/* Its network: kept across restarts in place (same address), made
	 * at the first start.  One-offs and release phases join the app's
	 * group too: they may talk to its other containers. */
	struct deis_net_endpoint ep;
	if (!deis_net_exists(net, i->id, i->address, &ep)) {
		r = deis_net_attach(net, i->id, i->app, &ep, &err);
		if (r < 0) {
			i->address[0] = '\0';
			crash(i, err.msg);
			return r;
		}
		snprintf(i->address, sizeof(i->address), "%s", ep.address);
	}
	i->port = scheduler_conf.port;
	inst_dir(i, NULL, dir, sizeof(dir));
	r = make_bundle(m, rel, i->kind == K_PROCESS ? i->type : "web", cmd, i->id,
			i->name, &ep, i->port, NULL, 0, dir, &err);
	if (r < 0) {
		crash(i, err.msg);
		return r;
	}
	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	static const char *const stale[] = { "exit", "shim.pid", "init.pid" };
	for (size_t k = 0; k < 3; k++) {
		snprintf(path, sizeof(path), "%s/%s", dir, stale[k]);
		unlink(path);
	}
	deis_runtime_delete(runc_root, i->id, 1, &err);	/* a previous run's */
	r = spawn_shim(i, bundle, &err);
	if (r < 0) {
		crash(i, err.msg);
		return r;
	}
	i->started_us = now_us();
	i->run_since = mono();
	/* The boot window opens at the first start, and again once it had
	 * been up: a crash loop before ever answering does not reopen it. */
	if (!i->boot_deadline || i->was_up) {
		i->boot_deadline = i->run_since + scheduler_conf.boot_timeout;
		i->was_up = false;
	}
	i->next_probe = i->run_since + 0.005;
	i->routed = false;
	set_state(i, S_STARTING);
	i->dirty = true;
	applog(i->app, "%s: starting `%s` on v%d at %s:%d", i->name, cmd, i->release,
	       i->address, i->port);
	return 0;
}

/* ---- stopping and exits ---- */

void inst_stop(struct inst *i)
{
	if (i->state == S_STOPPING)
		return;
	bool running = i->pidfd >= 0;
	i->routed = i->state == S_UP && is_web(i);
	set_state(i, S_STOPPING);
	if (!running) {
		/* Crashed and waiting to restart: nothing runs. */
		applog(i->app, "%s: stopped (v%d)", i->name, i->release);
		inst_remove(i);
		return;
	}
	i->termed = false;
	if (i->routed && !i->nodb) {
		/* SIGTERM once the proxy routes no more to it. */
		i->term_serial = -1;
		i->term_at = mono() + scheduler_conf.proxy_wait;
	} else {
		i->term_serial = 0;
		i->term_at = mono();
	}
}

/* Whether the container's init has become its own program (tini): runc
 * writes the pid when it starts the container, but its init process is
 * still runc's ("runc:[2:INIT]") until it execs, and a SIGTERM sent to
 * it then is lost. */
bool init_execd(const struct inst *i)
{
	char path[4500], comm[64] = "";
	int pid = 0;

	inst_dir(i, "init.pid", path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return true;	/* gone: nothing left to wait for */
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "runc:", 5) != 0;
}

void send_term(struct inst *i)
{
	struct deis_error err = DEIS_ERROR_INIT;

	i->termed = true;
	i->kill_at = mono() + scheduler_conf.grace;
	applog(i->app, "%s: stopping v%d at %s:%d (SIGTERM; SIGKILL in %d s)", i->name,
	       i->release, i->address, i->port, scheduler_conf.grace);
	int r = scheduler_conf.init[0] ?
		deis_runtime_kill(runc_root, i->id, SIGTERM, &err) :
		deis_runtime_kill_all(runc_root, i->id, SIGTERM, &err);
	if (r < 0 && r != -ESRCH && r != -ENOENT)
		deis_log(LOG_WARNING, "%s: %s", i->id, err.msg);
}

void crash(struct inst *i, const char *why)
{
	double t = mono();

	if (i->kind != K_PROCESS) {
		applog(i->app, "%s: %s", i->name, why);
		return;
	}
	if (i->run_since && t - i->run_since > 60)
		i->crashes = 0;
	i->crashes++;
	i->restarts++;
	/* Heroku's cool-off: the first restart at once, then doubling. */
	double delay = i->crashes <= 1 ? 0 :
		fmin(ldexp(1.0, i->crashes - 1), scheduler_conf.backoff_max);
	i->backoff_until = t + delay;
	set_state(i, S_CRASHED);
	i->dirty = true;
	if (delay > 0)
		applog(i->app, "%s: crashed: %s; restarting in %.0f s", i->name, why, delay);
	else
		applog(i->app, "%s: crashed: %s; restarting", i->name, why);
}

void fail_release(struct sapp *a, int version, const char *why)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (deis_db_rollout_set(db, a->name, version, "failed", why, &err) < 0)
		deis_log(LOG_WARNING, "%s: %s", a->name, err.msg);
	applog(a->name, "v%d not deployed: %s", version, why);
	for (struct inst *i = insts, *nx; i; i = nx) {
		nx = i->next;
		if (!strcmp(i->app, a->name) && i->kind == K_PROCESS && i->release == version)
			inst_stop(i);
	}
	a->reload = true;
}

/* The shim ended: the container is gone.  Reads its status, and the
 * cgroup's OOM count before the container (and its cgroup) is deleted. */
void inst_exited(struct inst *i)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char path[4500], line[1024] = "", buf[512];
	int code = -1, sig = 0;
	long oom = 0;

	if (i->pidfd >= 0)
		close(i->pidfd);
	i->pidfd = -1;
	if (i->child)
		waitpid(i->shim, NULL, WNOHANG);
	i->shim = 0;
	i->child = false;
	inst_dir(i, "exit", path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
		unlink(path);
	}
	line[strcspn(line, "\n")] = '\0';
	if (sscanf(line, "code=%d signal=%d", &code, &sig) < 1 && !line[0])
		snprintf(line, sizeof(line), "error=its shim ended without a status");
	if (deis_runtime_cgroup_read(runc_root, i->id, "memory", "memory.oom_control",
				     buf, sizeof(buf), &err) == 0) {
		char *o = strstr(buf, "oom_kill ");
		if (o)
			oom = strtol(o + 9, NULL, 10);
	}
	deis_runtime_delete(runc_root, i->id, 1, &err);

	char what[1200];
	if (!strncmp(line, "error=", 6))
		snprintf(what, sizeof(what), "could not start: %s", line + 6);
	else if (oom > 0)
		snprintf(what, sizeof(what),
			 "Error R14 (Memory quota exceeded): killed by the kernel over "
			 "its memory limit (exit status %d)", code);
	else if (sig)
		snprintf(what, sizeof(what), "exited on signal %d (status %d)", sig, code);
	else
		snprintf(what, sizeof(what), "exited with status %d", code);

	struct sapp *a = app_find(i->app, false);
	switch (i->kind) {
	case K_RELEASE:
		if (code == 0 && strncmp(line, "error=", 6)) {
			int w, tries = 0;
			/* The verdict must stick, or the phase runs again. */
			while ((w = deis_db_rollout_set(db, i->app, i->release, "released", "",
							&err)) < 0 && w != -ENOENT && ++tries < 5) {
				deis_log(LOG_WARNING, "%s: %s (retrying)", i->app, err.msg);
				usleep(200000);
			}
			applog(i->app, "release phase of v%d succeeded", i->release);
		} else if (!strncmp(line, "error=", 6) || code < 0) {
			/* It never ran (runc failed, the node rebooted): the
			 * next pass runs it again; only the command's own
			 * failure fails the release. */
			applog(i->app, "the release phase of v%d %s; retrying", i->release, what);
		} else if (i->state != S_STOPPING && a) {
			char why[1300];
			snprintf(why, sizeof(why), "its release command %s", what);
			fail_release(a, i->release, why);
		}
		if (a)
			a->reload = true;
		inst_remove(i);
		return;
	case K_ONEOFF:
		applog(i->app, "%s: %s", i->name, what);
		inst_remove(i);
		return;
	case K_PROCESS:
		break;
	}
	if (i->state == S_STOPPING) {
		applog(i->app, "%s: stopped (v%d, %s)", i->name, i->release, what);
		inst_remove(i);
		return;
	}
	crash(i, what);
	if (a)
		a->pass = true;
}
