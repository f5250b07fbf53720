/*
 * backend_runc.c - the runc backend of the scheduler (include/deis/backend.h):
 * containers run by the real runc through lib/runtime.c, each under a
 * deis-shim of its own (shim.c), on the node's network (lib/net.c).
 *
 * A container's state is a directory, $DEIS_HOME/scheduler/containers/<id>/:
 * its bundle (lib/runtime.c: the slug at /app, the host's /usr, its own
 * /etc), and what its shim writes there: shim.pid, init.pid (the
 * container's init, once runc started it) and exit ("code=N signal=S", or
 * "error=..." when it could not start).  The scheduler never runs a
 * container itself: it spawns the shim (in a session of its own), which
 * runs `runc run -d`, reaps the container's init as its subreaper, sends
 * its output to the log server and writes its end, then exits.  The
 * scheduler follows the shim with a pidfd: the shim's end is the
 * container's.  So a scheduler that is restarted, upgraded or killed
 * leaves every container and its log flow untouched.
 *
 * Attached one-offs (`deis-scheduler run`) live under
 * $DEIS_HOME/scheduler/attached/ with a runc root of their own: the
 * daemon's list() never sees them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/file.h"
#include "deis/log.h"
#include "deis/net.h"
#include "deis/runtime.h"
#include "deis/spawn.h"
#include "scheduler.h"

extern char **environ;

struct runc {
	struct deis_backend b;
	char shim[PATH_MAX + 16];
	char init[PATH_MAX];		/* "" for none */
	char syslog_socket[PATH_MAX];
	char root[PATH_MAX + 32];	/* runc's state (--root) */
	char dirs[PATH_MAX + 32];	/* the containers' directories */
	char attached[PATH_MAX + 16];	/* attached one-offs' directories */
	char attached_root[PATH_MAX + 32];	/* and their runc state */
	struct deis_net *net;
};

#define RUNC(b) ((struct runc *)(b))

static char *shim_opt, *init_opt;

static const struct deis_conf_option runc_options[] = {
	{ "scheduler_shim", DEIS_CONF_STR, &shim_opt, "",
	  "runc: the deis-shim binary (default: beside deis-scheduler)" },
	{ "scheduler_init", DEIS_CONF_STR, &init_opt, "/usr/bin/tini",
	  "runc: pid 1 of every container, forwarding signals and reaping zombies "
	  "(\"\" for none)" },
	{ NULL, 0, NULL, NULL, NULL },
};

int sched_spawn(const char *const *argv, bool session, pid_t *pid, struct deis_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	deis_spawnattr_init(&attr, session ? POSIX_SPAWN_SETSID : 0);
	int r = posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r)
		return deis_error_set(err, r, "starting %s: %s", argv[0], strerror(r));
	return 0;
}

/* The directory of container id, or a file in it. */
static void path_of(const struct runc *rc, const char *id, const char *file,
		    char *out, size_t len)
{
	if (file)
		snprintf(out, len, "%s/%s/%s", rc->dirs, id, file);
	else
		snprintf(out, len, "%s/%s", rc->dirs, id);
}

/* The first integer in a file, or 0. */
static long read_number(const char *path)
{
	char line[64] = "";
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	return strtol(line, NULL, 10);
}

/* ---- open, close ---- */

static void runc_close(struct deis_backend *b)
{
	struct runc *rc = RUNC(b);

	slug_free_all();
	deis_net_close(rc->net);
	free(rc);
}

static int runc_teardown(const struct deis_backend_conf *conf, struct deis_error *err)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/net", conf->home);
	struct deis_net_conf nc = {
		.bridge = deis_conf.network_bridge, .subnet = deis_conf.network_subnet,
		.nat = deis_conf.network_nat, .state_dir = dir,
	};
	return deis_net_teardown(&nc, err);
}

/* ---- a container's life ---- */

/*
 * Its bundle in dir/bundle: the slug at /app, the image's env under
 * spec's, tini as pid 1, the network namespace ep.
 */
static int bundle(const struct runc *rc, const struct deis_backend_spec *spec,
		  const struct deis_net_endpoint *ep, const char *dir, struct deis_error *err)
{
	const struct deis_kvlist *ienv = NULL;
	const char *slug = NULL;
	struct deis_kvlist env = DEIS_KVLIST_INIT;
	char path[PATH_MAX + 16];
	const char *argv[8];
	int n = 0;

	if (slug_get(spec->image, &slug, &ienv, err) < 0)
		return deis_error_prefix(err, "cannot get its slug");
	deis_kvlist_copy(&env, ienv);
	for (size_t k = 0; spec->env && k < spec->env->n; k++)
		deis_kvlist_set(&env, spec->env->items[k].key, spec->env->items[k].value);
	if (rc->init[0]) {
		/* tini: pid 1 forwards SIGTERM to the process group of the
		 * command (a pid 1 without a handler would ignore it) and
		 * reaps orphans. */
		argv[n++] = rc->init;
		argv[n++] = "-g";
		argv[n++] = "--";
	}
	/* bash -c, as Heroku runs Procfile commands: it runs a simple
	 * command in its place (no shell left in between to eat a signal),
	 * and waits cooperatively on ^C.  /bin/sh where there is no bash. */
	argv[n++] = access("/usr/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = spec->command;
	argv[n] = NULL;
	struct deis_container_spec cs = {
		.id = spec->id, .argv = argv, .env = &env, .app_dir = slug,
		.memory_bytes = spec->memory_bytes, .cpu_millicores = spec->cpu_millicores,
		.pids_max = spec->pids_max, .terminal = spec->terminal,
		.netns = ep->netns, .address = ep->address,
	};
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/bundle", dir);
	int r = deis_runtime_bundle(&cs, path, err);
	deis_kvlist_clear(&env);
	if (r < 0)
		return deis_error_prefix(err, "cannot make its bundle");
	return 0;
}

/* Its network: kept across restarts in place (same address), made at the
 * first start, in the app's group. */
static int place(struct runc *rc, const struct deis_backend_spec *spec,
		 char address[DEIS_BACKEND_ADDRESS_MAX], struct deis_net_endpoint *ep,
		 struct deis_error *err)
{
	if (deis_net_exists(rc->net, spec->id, address, ep))
		return 0;
	int r = deis_net_attach(rc->net, spec->id, spec->app, ep, err);
	snprintf(address, DEIS_BACKEND_ADDRESS_MAX, "%s", r < 0 ? "" : ep->address);
	return r;
}

static int runc_start(struct deis_backend *b, const struct deis_backend_spec *spec,
		      char address[DEIS_BACKEND_ADDRESS_MAX], struct deis_backend_proc *proc,
		      struct deis_error *err)
{
	struct runc *rc = RUNC(b);
	struct deis_net_endpoint ep;
	char dir[PATH_MAX + 200], file[PATH_MAX + 300];
	int r;

	r = place(rc, spec, address, &ep, err);
	path_of(rc, spec->id, NULL, dir, sizeof(dir));
	if (r == 0)
		r = bundle(rc, spec, &ep, dir, err);
	if (r < 0)
		return r;
	static const char *const stale[] = { "exit", "shim.pid", "init.pid" };
	for (size_t k = 0; k < 3; k++) {
		snprintf(file, sizeof(file), "%s/%s", dir, stale[k]);
		unlink(file);
	}
	deis_runtime_delete(rc->root, spec->id, 1, err);	/* a previous run's */
	deis_error_clear(err);
	snprintf(file, sizeof(file), "%s/bundle", dir);
	const char *argv[] = { rc->shim, rc->root, file, spec->id, dir, spec->app,
			       spec->name, rc->syslog_socket, NULL };
	/* Its own session: a signal to our process group is not its. */
	r = sched_spawn(argv, true, &proc->pid, err);
	if (r < 0) {
		proc->pid = 0;
		return r;
	}
	proc->child = true;
	proc->fd = pidfd_open(proc->pid, 0);
	if (proc->fd < 0)
		return deis_error_set(err, errno, "pidfd_open: %s", strerror(errno));
	return 0;
}

/* runc writes the init's pid when it starts the container, but that
 * process is still runc's ("runc:[2:INIT]") until it execs, and a
 * SIGTERM sent to it then is lost. */
static void runc_inspect(struct deis_backend *b, const char *id,
			 struct deis_backend_state *st)
{
	char path[PATH_MAX + 300], comm[64] = "";

	path_of(RUNC(b), id, "init.pid", path, sizeof(path));
	st->started = access(path, F_OK) == 0;
	long pid = read_number(path);
	st->signalable = false;
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	FILE *f = fopen(path, "r");
	if (!f) {
		st->signalable = true;	/* gone: nothing left to wait for */
		return;
	}
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	st->signalable = strncmp(comm, "runc:", 5) != 0;
}

/*
 * Is pid the init of container id: in its cgroup ("deis/<id>", as
 * lib/runtime_spec.c names it)?  So a pid file left by a container that
 * ended never makes us signal whatever process reused its pid.
 */
static bool is_init_of(long pid, const char *id)
{
	char path[64], line[512], want[DEIS_BACKEND_ID_MAX + 16];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/cgroup", pid);
	snprintf(want, sizeof(want), "/deis/%s\n", id);
	if (!(f = fopen(path, "r")))
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line), w = strlen(want);
		found = n >= w && !strcmp(line + n - w, want);
	}
	fclose(f);
	return found;
}

static int runc_stop(struct deis_backend *b, const char *id, bool force,
		     struct deis_error *err)
{
	struct runc *rc = RUNC(b);
	int sig = force ? SIGKILL : SIGTERM, r;
	char path[PATH_MAX + 300];

	/* Without an init, pid 1 is the command, which ignores a SIGTERM
	 * it has no handler for: the whole container gets it. */
	if (!force && rc->init[0])
		r = deis_runtime_kill(rc->root, id, sig, err);
	else
		r = deis_runtime_kill_all(rc->root, id, sig, err);
	if (r != -ENOENT)
		return r;
	/* runc does not know it (yet, or any more) while its init, which
	 * inspect() found running its own program, is there: a busy
	 * machine showed it, and the signal was lost.  To the init then. */
	path_of(rc, id, "init.pid", path, sizeof(path));
	long pid = read_number(path);
	if (pid > 1 && is_init_of(pid, id) && kill((pid_t)pid, sig) == 0) {
		deis_error_clear(err);
		return 0;
	}
	return r;
}

/* Reads its end (the shim's exit file), and the cgroup's OOM count before
 * the container (and its cgroup) is deleted. */
static void runc_ended(struct deis_backend *b, const char *id, struct deis_backend_proc *proc,
		       struct deis_backend_exit *ex)
{
	struct runc *rc = RUNC(b);
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_backend_exit dummy;
	char path[PATH_MAX + 300], line[1024] = "", buf[512];

	if (proc) {
		if (proc->fd >= 0)
			close(proc->fd);
		if (proc->child)
			waitpid(proc->pid, NULL, WNOHANG);
		*proc = (struct deis_backend_proc)DEIS_BACKEND_PROC_INIT;
	}
	if (!ex)
		ex = &dummy;
	*ex = (struct deis_backend_exit){ .code = -1 };
	path_of(rc, id, "exit", path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
		unlink(path);
	}
	line[strcspn(line, "\n")] = '\0';
	if (!strncmp(line, "error=", 6))
		snprintf(ex->error, sizeof(ex->error), "%s", line + 6);
	else if (sscanf(line, "code=%d signal=%d", &ex->code, &ex->signal) < 1 && !line[0])
		snprintf(ex->error, sizeof(ex->error), "its shim ended without a status");
	if (deis_runtime_cgroup_read(rc->root, id, "memory", "memory.oom_control", buf,
				     sizeof(buf), &err) == 0) {
		char *o = strstr(buf, "oom_kill ");
		ex->oom = o && strtol(o + 9, NULL, 10) > 0;
	}
	deis_runtime_delete(rc->root, id, 1, &err);
}

/* cgroup v1's cpuacct.usage: the ns of CPU every task of the cgroup used. */
static int runc_cpu_usage(struct deis_backend *b, const char *id, uint64_t *ns,
			  struct deis_error *err)
{
	char buf[64], *end;
	int r = deis_runtime_cgroup_read(RUNC(b)->root, id, "cpuacct", "cpuacct.usage", buf,
					 sizeof(buf), err);

	if (r < 0)
		return r;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (end == buf || errno)
		return deis_error_set(err, EIO, "container %s: cpuacct.usage is '%.20s'", id, buf);
	*ns = v;
	return 0;
}

static void runc_remove(struct deis_backend *b, const char *id, const char *app,
			const char *address)
{
	struct runc *rc = RUNC(b);
	struct deis_error err = DEIS_ERROR_INIT;
	char dir[PATH_MAX + 200];

	path_of(rc, id, NULL, dir, sizeof(dir));
	slug_rm_rf(dir);
	if (address && rc->net && deis_net_detach(rc->net, id, app, address, &err) < 0)
		deis_log(LOG_WARNING, "%s: %s", id, err.msg);
}

/* ---- after a restart ---- */

/* Whether pid is the shim of container id (checked by its command line:
 * argv[0] is deis-shim, argv[3] the id), not a process that got its pid
 * since. */
static bool shim_alive(pid_t pid, const char *id)
{
	char path[64], cmd[4096], want[NAME_MAX + 3];

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	ssize_t r = deis_file_read_small(path, cmd, sizeof(cmd));
	if (r <= 0)
		return false;
	if (!strstr(cmd, "deis-shim"))
		return false;
	for (ssize_t k = 0; k < r; k++)
		if (cmd[k] == '\0')
			cmd[k] = '\n';
	snprintf(want, sizeof(want), "\n%s\n", id);
	return strstr(cmd, want) != NULL;
}

static int runc_list(struct deis_backend *b,
		     void (*fn)(void *ctx, const struct deis_backend_found *f), void *ctx,
		     struct deis_error *err)
{
	struct runc *rc = RUNC(b);
	DIR *d = opendir(rc->dirs);
	struct dirent *e;

	if (!d)
		return deis_error_set(err, errno, "%s: %s", rc->dirs, strerror(errno));
	while ((e = readdir(d))) {
		char path[PATH_MAX + 300];
		if (e->d_name[0] == '.')
			continue;
		struct deis_backend_found f = { .id = e->d_name,
						.proc = DEIS_BACKEND_PROC_INIT };
		path_of(rc, e->d_name, "shim.pid", path, sizeof(path));
		pid_t shim = (pid_t)read_number(path);
		if (shim > 0 && shim_alive(shim, e->d_name)) {
			f.proc.fd = pidfd_open(shim, 0);
			f.proc.pid = f.proc.fd >= 0 ? shim : 0;
		}
		path_of(rc, e->d_name, "exit", path, sizeof(path));
		f.ended = access(path, F_OK) == 0;
		fn(ctx, &f);
	}
	closedir(d);
	return 0;
}

static bool attached_running(const struct runc *rc, const char *id)
{
	struct deis_error err = DEIS_ERROR_INIT;
	enum deis_runtime_status st = DEIS_RT_UNKNOWN;
	pid_t pid = 0;

	return deis_runtime_state(rc->attached_root, id, &st, &pid, &err) == 0 &&
		st == DEIS_RT_RUNNING;
}

static bool runc_attached_runs(struct deis_backend *b, const char *id)
{
	struct runc *rc = RUNC(b);
	struct deis_error err = DEIS_ERROR_INIT;
	char dir[PATH_MAX + 200];

	if (attached_running(rc, id))
		return true;
	deis_runtime_delete(rc->attached_root, id, 1, &err);
	snprintf(dir, sizeof(dir), "%s/%s", rc->attached, id);
	slug_rm_rf(dir);
	return false;
}

struct net_gc {
	struct runc *rc;
	bool (*known)(void *ctx, const char *id);
	void *ctx;
	struct gone {
		char id[DEIS_BACKEND_ID_MAX + 1];
		char address[DEIS_BACKEND_ADDRESS_MAX];
	} *items;
	size_t n;
};

static void net_gc_one(void *ctx, const char *id, const char *address)
{
	struct net_gc *gc = ctx;

	/* The builder's ("<app>.build-N") are the builder's to clean; an
	 * attached one-off that still runs keeps its own. */
	if (gc->known(gc->ctx, id) || strstr(id, ".build-") || attached_running(gc->rc, id))
		return;
	struct gone *g = ARRAY_ADD(gc->items, gc->n);
	snprintf(g->id, sizeof(g->id), "%s", id);
	snprintf(g->address, sizeof(g->address), "%s", address);
}

/* runc containers with no directory of ours, and networks nothing runs in
 * any more (a container that ended while we were away, an attached
 * one-off whose process was killed). */
static void runc_sweep(struct deis_backend *b, bool (*known)(void *ctx, const char *id),
		       void *ctx)
{
	struct runc *rc = RUNC(b);
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_runtime_list rl = { 0 };
	struct net_gc gc = { .rc = rc, .known = known, .ctx = ctx };

	if (deis_runtime_list(rc->root, &rl, &err) == 0) {
		for (size_t k = 0; k < rl.n; k++) {
			if (known(ctx, rl.items[k].id))
				continue;
			deis_log(LOG_NOTICE, "removing stray container %s", rl.items[k].id);
			deis_runtime_kill_all(rc->root, rl.items[k].id, SIGKILL, &err);
			deis_runtime_delete(rc->root, rl.items[k].id, 1, &err);
		}
		deis_runtime_list_free(&rl);
	}
	deis_net_list(rc->net, net_gc_one, &gc, &err);
	for (size_t k = 0; k < gc.n; k++) {
		deis_log(LOG_NOTICE, "removing the network of %s (%s): nothing runs there",
			 gc.items[k].id, gc.items[k].address);
		if (deis_net_detach(rc->net, gc.items[k].id, NULL, gc.items[k].address,
				    &err) < 0)
			deis_log(LOG_WARNING, "%s: %s", gc.items[k].id, err.msg);
	}
	free(gc.items);
}

/* ---- attached one-offs ---- */

static int runc_attach(struct deis_backend *b, const struct deis_backend_spec *spec,
		       const struct deis_backend_io *io,
		       int (*placed)(void *ctx, const char *address, struct deis_error *err),
		       void *ctx, char address[DEIS_BACKEND_ADDRESS_MAX], pid_t *pid,
		       struct deis_error *err)
{
	struct runc *rc = RUNC(b);
	struct deis_net_endpoint ep;
	char dir[PATH_MAX + 200], path[PATH_MAX + 300];
	int r;

	address[0] = '\0';
	r = place(rc, spec, address, &ep, err);
	path_of(rc, spec->id, NULL, dir, sizeof(dir));
	if (r == 0)
		r = bundle(rc, spec, &ep, dir, err);
	if (r == 0)
		r = placed(ctx, address, err);
	if (r < 0)
		return r;
	/* Without a terminal: detached, so that runc hands our pipes to the
	 * container as they are (a foreground runc would copy through pipes
	 * of its own); as a subreaper we still get the container's init as
	 * our child, and its exit status.  With a terminal: runc in the
	 * foreground relays the container's pty; its exit status is the
	 * container's. */
	struct deis_runtime_io rio = { .in = io->in, .out = io->out, .err = io->err };
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	snprintf(path, sizeof(path), "%s/bundle", dir);
	*pid = deis_runtime_run(rc->root, path, spec->id, &rio,
				spec->terminal ? 0 : DEIS_RUNTIME_DETACH, err);
	return *pid < 0 ? (int)*pid : 0;
}

/* ---- open ---- */

static int runc_open(const struct deis_backend_conf *conf, struct deis_backend **out,
		     struct deis_error *err)
{
	struct runc *rc = calloc(1, sizeof(*rc));
	char run[PATH_MAX];

	if (!rc)
		abort();
	rc->b.ops = &deis_backend_runc;
	snprintf(rc->shim, sizeof(rc->shim), "%s", shim_opt ? shim_opt : "");
	if (!rc->shim[0]) {
		/* Beside deis-scheduler. */
		char exe[PATH_MAX];
		ssize_t r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[r > 0 ? r : 0] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(rc->shim, sizeof(rc->shim), "%s%sdeis-shim", slash ? exe : "",
			 slash ? "/" : "");
	}
	snprintf(rc->init, sizeof(rc->init), "%s", init_opt ? init_opt : "");
	if (rc->init[0] && access(rc->init, X_OK) != 0) {
		deis_log(LOG_WARNING, "%s is missing: containers run without an init "
			 "(install tini)", rc->init);
		rc->init[0] = '\0';
	}
	snprintf(rc->syslog_socket, sizeof(rc->syslog_socket), "%s", conf->syslog_socket);
	snprintf(run, sizeof(run), "%s/scheduler", conf->home);
	snprintf(rc->attached, sizeof(rc->attached), "%s/attached", run);
	snprintf(rc->attached_root, sizeof(rc->attached_root), "%s/runc", rc->attached);
	if (conf->attached) {
		snprintf(rc->dirs, sizeof(rc->dirs), "%s", rc->attached);
		snprintf(rc->root, sizeof(rc->root), "%s", rc->attached_root);
	} else {
		snprintf(rc->dirs, sizeof(rc->dirs), "%s/containers", run);
		snprintf(rc->root, sizeof(rc->root), "%s/runc", run);
	}
	mkdir(run, 0700);
	mkdir(rc->attached, 0700);
	mkdir(rc->dirs, 0700);
	mkdir(rc->root, 0700);
	/* The bridge and the firewall before any container: without them no
	 * container may start (it would have no isolation). */
	int r = deis_net_open_platform(conf->setup, &rc->net, err);
	if (r < 0) {
		free(rc);
		return r;
	}
	if (!conf->attached)
		deis_log(LOG_INFO, "runc: state %s, containers in %s, init %s", rc->root, rc->dirs,
			 rc->init[0] ? rc->init : "none");
	*out = &rc->b;
	return 0;
}

const struct deis_backend_ops deis_backend_runc = {
	.name = "runc", .options = runc_options,
	.open = runc_open, .close = runc_close, .teardown = runc_teardown,
	.start = runc_start, .inspect = runc_inspect, .stop = runc_stop,
	.ended = runc_ended, .remove = runc_remove, .cpu_usage = runc_cpu_usage,
	.list = runc_list, .sweep = runc_sweep, .attached_runs = runc_attached_runs,
	.attach = runc_attach,
};
