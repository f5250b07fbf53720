/*
 * main.c - deisfs: the platform as a filesystem.
 *
 *   deisfs [--config=FILE] [--option=value ...] [-f] [-o opt,...] MOUNTPOINT
 *
 * Start-up order (lib/daemon.c first: options, configuration, logging,
 * signals): PostgreSQL (waited for with the backoff, then migrated); the
 * whole state loaded into memory; the FUSE session and mount (a dead
 * mount a killed deisfs left there removed first, so that a supervisor's
 * restart brings the tree back by itself); the invalidation thread and
 * the event thread (lib/daemon.c: Redis events, the periodic resync; here
 * also health probes and SIGHUP reloads, since FUSE's request loop owns
 * the main thread); then requests until unmounted or signalled.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/log.h"
#include "deis/spawn.h"
#include "deisfs.h"
#include "ops.h"

struct fs_conf fs_conf;

/* ops.c and state.c read these at each use: a reload takes effect at the
 * next request.  The pool's size needs a restart. */
static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ "entry_timeout", DEIS_CONF_DOUBLE | DEIS_CONF_RELOAD, &fs_conf.entry_timeout, "10",
	  "seconds the kernel caches names (changes invalidate at once)" },
	{ "attr_timeout", DEIS_CONF_DOUBLE | DEIS_CONF_RELOAD, &fs_conf.attr_timeout, "10",
	  "seconds the kernel caches attributes (changes invalidate at once)" },
	{ "negative_timeout", DEIS_CONF_DOUBLE | DEIS_CONF_RELOAD, &fs_conf.negative_timeout,
	  "1", "seconds the kernel caches a name that does not exist" },
	{ "db_pool", DEIS_CONF_INT, &fs_conf.db_pool, "4",
	  "PostgreSQL connections for requests" },
	{ "scratch_files", DEIS_CONF_INT | DEIS_CONF_RELOAD, &fs_conf.scratch_files, "64",
	  "scratch files (editors' temporary files) one user may hold; 0: no limit" },
	{ "scratch_mb", DEIS_CONF_INT | DEIS_CONF_RELOAD, &fs_conf.scratch_mb, "16",
	  "MiB of scratch files one user may hold in deisfs's memory; 0: no limit" },
	{ "buffers_mb", DEIS_CONF_INT | DEIS_CONF_RELOAD, &fs_conf.buffers_mb, "32",
	  "MiB one user's open files may hold in deisfs's memory; 0: no limit" },
	{ "memory_mb", DEIS_CONF_INT | DEIS_CONF_RELOAD, &fs_conf.memory_mb, "512",
	  "MiB of scratch files and open files of all users together; 0: no limit" },
	{ "supervise_dir", DEIS_CONF_STR | DEIS_CONF_RELOAD, &fs_conf.supervise_dir, "",
	  "runit's service directories of the platform (<home>/sv), which platform/status "
	  "reads; empty: the services are not under runit" },
	{ NULL, 0, NULL, NULL, NULL },
};

static void fuse_help(FILE *out)
{
	fprintf(out,
"\nFUSE options:\n"
"  -f                        stay in the foreground\n"
"  -d                        debug: print every FUSE request\n"
"  -o allow_other            share the mount with every local user (each\n"
"                            sees only the apps they own or may use)\n");
}

static const struct deis_daemon deisfs = {
	.name = "deisfs",
	.synopsis = "deisfs [--config=FILE] [--OPTION=VALUE ...] [-f] [-d] [-o opt,...] MOUNTPOINT",
	.about =
"Mounts the deis platform (apps, config, releases, users) as files.\n"
"Options come from FILE (\"name = value\" lines), then the command line.",
	.options = options, .help_more = fuse_help, .takes_args = true,
};

/* ---- events ---- */

/* Publishes this mount's changes; also probed for platform/status.
 * Request threads share it. */
static struct deis_cache_keeper publisher = DEIS_CACHE_KEEPER_INIT;
static pthread_mutex_t publisher_lock = PTHREAD_MUTEX_INITIALIZER;
static char publisher_error[1024] = "not connected yet";

/* Publisher's connection and its last failure (for platform/status);
 * under publisher_lock. */
static struct deis_cache *publisher_get(struct deis_error *err)
{
	struct deis_cache *c = deis_daemon_cache(&publisher, "Redis");

	if (err->code)
		snprintf(publisher_error, sizeof(publisher_error), "%s", err->msg);
	if (!c && !err->code)
		deis_error_set(err, EIO, "%s", publisher_error);
	return c;
}

void changed(const char *kind, const char *name)
{
	struct deis_error err = DEIS_ERROR_INIT;

	inval_queue(kind, name);
	pthread_mutex_lock(&publisher_lock);
	struct deis_cache *c = publisher_get(&err);
	if (c && deis_cache_publish(c, kind, name, &err) < 0)
		deis_cache_keeper_failed(&publisher);
	pthread_mutex_unlock(&publisher_lock);
	if (err.code)
		deis_log(LOG_WARNING, "event %s %s not published (other mounts catch up "
			 "at their next resync): %s", kind, name, err.msg);
}

static void health_probe(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_db *db = db_acquire();
	long us = db ? deis_db_ping(db, &err) : -1;

	if (!db)
		snprintf(err.msg, sizeof(err.msg), "no connection");
	db_release(db);
	state.db_latency_us = us;
	snprintf(state.db_error, sizeof(state.db_error), "%s", err.msg);
	deis_error_clear(&err);

	/* Redis, and the router's heartbeat in it. */
	bool alive = false;
	long serial = 0;
	int router = -1;
	pthread_mutex_lock(&publisher_lock);
	struct deis_cache *c = publisher_get(&err);
	us = c ? deis_cache_ping(c, &err) : -1;
	if (c && us < 0)
		deis_cache_keeper_failed(&publisher);
	else if (c && deis_cache_proxy_state(c, "", &alive, &serial, &err) == 0)
		router = alive;
	pthread_mutex_unlock(&publisher_lock);
	state.cache_latency_us = us;
	snprintf(state.cache_error, sizeof(state.cache_error), "%s", err.msg);

	/* The scheduler's nodes. */
	struct deis_node *nodes = NULL;
	size_t nn = 0;
	db = db_acquire();
	if (db && deis_db_nodes(db, &nodes, &nn, &err) < 0) {
		nodes = NULL;
		nn = 0;
	}
	db_release(db);
	pthread_mutex_lock(&state.nodes_lock);
	free(state.nodes);
	state.nodes = nodes;
	state.nnodes = nn;
	state.router_alive = router;
	pthread_mutex_unlock(&state.nodes_lock);
	/* Quotas: events bring changes at once; this makes up for a lost one. */
	struct deis_error qerr = DEIS_ERROR_INIT;
	if (quota_reload(&qerr) < 0 && state.db_latency_us >= 0)
		deis_log(LOG_WARNING, "reloading quotas: %s", qerr.msg);
}

/* The event thread's callbacks (lib/daemon.c). */
static void on_event(const char *kind, const char *name)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int r = !strcmp(kind, "app") ? state_reload_app(name, &err) :
		!strcmp(kind, "user") ? state_reload_user(name, &err) :
		!strcmp(kind, "quotas") ? quota_reload(&err) : 0;

	if (r < 0)
		deis_log(LOG_WARNING, "reloading %s %s: %s", kind, name, err.msg);
	else if (r > 0)
		inval_queue(kind, name);
}

static void on_resync(void)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (state_resync(inval_queue, &err) < 0)
		deis_log(LOG_WARNING, "resync: %s", err.msg);
}

static void on_tick(void)
{
	static long long last_probe;

	/* A SIGHUP's reload is done here: FUSE's loop owns the main thread
	 * (its end comes through deis_daemon_on_stop). */
	deis_daemon_running();
	if (deis_mono_ms() - last_probe >= 2000) {
		last_probe = deis_mono_ms();
		health_probe();
	}
}

/* ---- start-up ---- */

extern char **environ;

/*
 * A deisfs that died (kill -9, a crash) leaves its mount behind: the
 * kernel answers every access with ENOTCONN ("Transport endpoint is not
 * connected") until someone unmounts it, and a new mount over it fails
 * the same way.  Detach it (lazily: a process may still have its working
 * directory in it), as root with umount2, else through fusermount3 as
 * FUSE's unprivileged users do.  A mount that answers is left alone: the
 * mount below then fails and says why.
 */
static void clear_dead_mount(const char *mountpoint)
{
	struct stat st;

	if (stat(mountpoint, &st) == 0 || errno != ENOTCONN)
		return;
	if (umount2(mountpoint, MNT_DETACH) == 0) {
		deis_log(LOG_NOTICE, "removed the dead mount on %s (a deisfs before this one "
			 "ended without unmounting)", mountpoint);
		return;
	}
	int uerr = errno;
	char *const argv[] = { (char *)"fusermount3", (char *)"-u", (char *)"-z",
			       (char *)mountpoint, NULL };
	posix_spawnattr_t attr;
	pid_t pid;
	int status = -1;

	deis_spawnattr_init(&attr, 0);
	int r = posix_spawnp(&pid, "fusermount3", NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	if (r == 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	if (r == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		deis_log(LOG_NOTICE, "removed the dead mount on %s (fusermount3 -u -z)", mountpoint);
	else
		deis_log(LOG_WARNING, "%s is a dead mount that cannot be removed (umount2: %s; "
			 "fusermount3 -u -z failed): unmount it by hand", mountpoint, strerror(uerr));
}

static void fuse_log_to_deis(enum fuse_log_level level, const char *fmt, va_list ap)
{
	deis_vlog((int)level, fmt, ap);
}

/* SIGTERM and SIGINT end FUSE's loop: libfuse's own handlers do the
 * same (fuse_session_exit only sets a flag, and the signal interrupts
 * the main thread's wait: every other thread blocks signals). */
static void exit_session(void *se)
{
	fuse_session_exit(se);
}

/* The invalidation thread and the event thread, with signals blocked
 * (they go to FUSE's main thread). */
static int start_threads(struct fuse_session *se, struct deis_error *err)
{
	static const struct deis_daemon_events callbacks = { on_event, on_resync, on_tick };
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = ops_start(se);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return deis_error_set(err, r, "cannot start the invalidation thread");
	return deis_daemon_events_start(&callbacks, err);
}

/* Migrations before anything reads the database; then the whole state. */
static int load(struct deis_error *err)
{
	struct deis_daemon_db wait = DEIS_DAEMON_DB_INIT;
	struct deis_db *db = deis_daemon_db_wait(&wait);

	if (!db)
		return 1;	/* asked to stop meanwhile */
	int r = deis_db_migrate(db, err);
	deis_daemon_db_close(&wait);
	if (r < 0)
		return deis_error_prefix(err, "database");
	state.started = now_us();
	if (state_load_all(err) < 0)
		return deis_error_prefix(err, "loading state");
	deis_log(LOG_INFO, "loaded %zu apps and %zu users", state.napps, state.nusers);
	return 0;
}

int main(int argc, char **argv)
{
	struct fuse_cmdline_opts opts = { 0 };
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop = NULL;
	struct deis_error err = DEIS_ERROR_INIT;
	char origin[128], host[64] = "";
	int ret = 1, r;

	deis_daemon_start(&deisfs, &argc, argv);
	fuse_set_log_func(fuse_log_to_deis);
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	if (fuse_parse_cmdline(&args, &opts) != 0 || !opts.mountpoint) {
		deis_daemon_usage(stderr);
		ret = 2;
		goto out;
	}
	gethostname(host, sizeof(host) - 1);
	snprintf(origin, sizeof(origin), "%s:%d:%lld", host, (int)getpid(), (long long)now_us());
	deis_cache_set_origin(origin);

	/* 1. the database (waited for), its migrations, the whole state */
	if ((r = load(&err)) != 0) {
		if (r < 0)
			deis_log(LOG_ERR, "%s", err.msg);
		ret = r < 0;
		goto out;
	}
	health_probe();

	/* 2. the mount */
	se = fuse_session_new(&args, &deisfs_ops, sizeof(deisfs_ops), NULL);
	if (!se)
		goto out;
	deis_daemon_on_stop(exit_session, se);
	clear_dead_mount(opts.mountpoint);
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_session;
	fuse_daemonize(opts.foreground);
	deis_log(LOG_NOTICE, "mounted at %s", opts.mountpoint);

	/* 3. the threads that keep it fresh */
	if (start_threads(se, &err) < 0) {
		deis_log(LOG_ERR, "%s", err.msg);
		goto out_unmount;
	}

	/* 4. requests, until unmounted or signalled */
	loop = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(loop, opts.clone_fd);
	if (opts.max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(loop, opts.max_idle_threads);
	fuse_loop_cfg_set_max_threads(loop, opts.max_threads);
	ret = (opts.singlethread ? fuse_session_loop(se) : fuse_session_loop_mt(se, loop)) != 0;
	fuse_loop_cfg_destroy(loop);

	deis_daemon_events_stop();
	ops_stop();
	deis_log(LOG_NOTICE, "unmounting %s", opts.mountpoint);
out_unmount:
	fuse_session_unmount(se);
out_session:
	deis_daemon_on_stop(NULL, NULL);
	fuse_session_destroy(se);
out:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	pthread_mutex_lock(&publisher_lock);
	deis_cache_keeper_close(&publisher);
	pthread_mutex_unlock(&publisher_lock);
	return deis_daemon_exit(ret);
}
