/*
 * main.c - deisfs: the platform as a filesystem.
 *
 *   deisfs [--config=FILE] [--option=value ...] [-f] [-o opt,...] MOUNTPOINT
 *
 * Start-up order: logging; configuration (defaults, file, command line);
 * PostgreSQL (connect, migrate); the whole state loaded into memory;
 * Redis (events; optional at start, retried); the FUSE session and mount;
 * the event thread (Redis events, periodic resync, health probes) and the
 * invalidation thread; then the request loop until unmounted or signalled.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "deis/conf.h"
#include "deis/log.h"
#include "deisfs.h"
#include "ops.h"

struct fs_conf fs_conf;

static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ "entry_timeout", DEIS_CONF_DOUBLE, &fs_conf.entry_timeout, "10",
	  "seconds the kernel caches names (changes invalidate at once)" },
	{ "attr_timeout", DEIS_CONF_DOUBLE, &fs_conf.attr_timeout, "10",
	  "seconds the kernel caches attributes (changes invalidate at once)" },
	{ "negative_timeout", DEIS_CONF_DOUBLE, &fs_conf.negative_timeout, "1",
	  "seconds the kernel caches a name that does not exist" },
	{ "db_pool", DEIS_CONF_INT, &fs_conf.db_pool, "4",
	  "PostgreSQL connections for requests" },
	{ "scratch_files", DEIS_CONF_INT, &fs_conf.scratch_files, "64",
	  "scratch files (editors' temporary files) one user may hold; 0: no limit" },
	{ "scratch_mb", DEIS_CONF_INT, &fs_conf.scratch_mb, "16",
	  "MiB of scratch files one user may hold in deisfs's memory; 0: no limit" },
	{ "buffers_mb", DEIS_CONF_INT, &fs_conf.buffers_mb, "32",
	  "MiB one user's open files may hold in deisfs's memory; 0: no limit" },
	{ "memory_mb", DEIS_CONF_INT, &fs_conf.memory_mb, "512",
	  "MiB of scratch files and open files of all users together; 0: no limit" },
	{ NULL, 0, NULL, NULL, NULL },
};

static void usage(FILE *out)
{
	fprintf(out,
"usage: deisfs [--config=FILE] [--OPTION=VALUE ...] [-f] [-d] [-o opt,...] MOUNTPOINT\n"
"\n"
"Mounts the deis platform (apps, config, releases, users) as files.\n"
"Options come from FILE (\"name = value\" lines), then the command line.\n"
"\n"
"  --config=FILE             configuration file (default: $DEIS_HOME/deis.conf\n"
"                            or /var/lib/deis/deis.conf)\n"
"  --help, --version\n");
	deis_conf_usage(options, out);
	fprintf(out,
"\nFUSE options:\n"
"  -f                        stay in the foreground\n"
"  -d                        debug: print every FUSE request\n"
"  -o allow_other            share the mount with every local user (each\n"
"                            sees only the apps they own or may use)\n");
}

/* ---- events ---- */

static struct deis_cache *publisher;
static pthread_mutex_t publisher_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stopping;

void changed(const char *kind, const char *name)
{
	struct deis_error err = DEIS_ERROR_INIT;

	inval_queue(kind, name);
	pthread_mutex_lock(&publisher_lock);
	if (!publisher)
		deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
				deis_conf.redis_password, &publisher, &err);
	if (publisher && deis_cache_publish(publisher, kind, name, &err) < 0) {
		deis_cache_close(publisher);
		publisher = NULL;
	}
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
	pthread_mutex_lock(&publisher_lock);
	if (!publisher)
		deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
				deis_conf.redis_password, &publisher, &err);
	us = publisher ? deis_cache_ping(publisher, &err) : -1;
	if (us < 0 && publisher) {
		deis_cache_close(publisher);
		publisher = NULL;
	}
	pthread_mutex_unlock(&publisher_lock);
	state.cache_latency_us = us;
	snprintf(state.cache_error, sizeof(state.cache_error), "%s", err.msg);

	/* The other modules: the scheduler's nodes, the router's heartbeat. */
	struct deis_node *nodes = NULL;
	size_t nn = 0;
	bool alive = false;
	long serial = 0;
	int router = -1;
	db = db_acquire();
	if (db && deis_db_nodes(db, &nodes, &nn, &err) < 0) {
		nodes = NULL;
		nn = 0;
	}
	db_release(db);
	pthread_mutex_lock(&publisher_lock);
	if (publisher && deis_cache_proxy_state(publisher, "", &alive, &serial, &err) == 0)
		router = alive;
	pthread_mutex_unlock(&publisher_lock);
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

static void reload(const char *kind, const char *name)
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

/*
 * The event thread: Redis events wake it, and every resync_interval it
 * compares the whole state with the database (level-triggered: a missed
 * event costs at most one interval).
 */
static void *event_main(void *arg)
{
	struct deis_cache *sub = NULL;
	struct deis_error err = DEIS_ERROR_INIT;
	time_t last_resync = time(NULL), last_probe = 0, last_attempt = 0;
	char kind[16], name[256];

	while (!stopping) {
		time_t now = time(NULL);
		if (!sub && now - last_attempt >= 1) {
			last_attempt = now;
			if (deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
					    deis_conf.redis_password, &sub, &err) == 0 &&
			    deis_cache_subscribe(sub, &err) == 0) {
				deis_log(LOG_INFO, "subscribed to events");
				last_resync = 0;	/* catch up on what was missed */
			} else {
				deis_cache_close(sub);
				sub = NULL;
			}
		}
		if (now - last_probe >= 2) {
			last_probe = now;
			health_probe();
		}
		if (now - last_resync >= deis_conf.resync_interval) {
			last_resync = now;
			if (state_resync(inval_queue, &err) < 0)
				deis_log(LOG_WARNING, "resync: %s", err.msg);
		}
		if (!sub) {
			usleep(200000);
			continue;
		}
		int r = deis_cache_next_event(sub, 500, kind, sizeof(kind), name,
					      sizeof(name), &err);
		if (r > 0) {
			reload(kind, name);
		} else if (r < 0) {
			deis_log(LOG_WARNING, "event subscription lost: %s", err.msg);
			deis_cache_close(sub);
			sub = NULL;
		}
	}
	deis_cache_close(sub);
	return NULL;
}

static void fuse_log_to_deis(enum fuse_log_level level, const char *fmt, va_list ap)
{
	deis_vlog((int)level, fmt, ap);
}

/* Takes our --options out of argv (they are not FUSE's). */
static int parse_own_options(int *argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;

	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(argv[i], "--version")) {
			printf("deisfs %s\n", DEIS_VERSION);
			exit(0);
		}
	}
	if (deis_conf_args(options, argc, argv, &err) < 0) {
		fprintf(stderr, "deisfs: %s\n", err.msg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct fuse_args args;
	struct fuse_cmdline_opts opts;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *loop = NULL;
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_db *db = NULL;
	pthread_t events;
	int ret = 1;

	if (parse_own_options(&argc, argv) < 0)
		return 2;
	int level = deis_log_level_parse(deis_conf.log_level);
	deis_log_init("deisfs", level < 0 ? LOG_INFO : level, 0);
	fuse_set_log_func(fuse_log_to_deis);

	args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 2;
	if (opts.show_help) {
		usage(stdout);
		fuse_lowlevel_help();
		return 0;
	}
	if (!opts.mountpoint) {
		usage(stderr);
		return 2;
	}

	/* 1. the database: migrations before anything reads it */
	if (deis_db_open(deis_conf.database, &db, &err) < 0 ||
	    deis_db_migrate(db, &err) < 0) {
		deis_log(LOG_ERR, "database: %s", err.msg);
		goto out;
	}
	deis_db_close(db);
	db = NULL;

	char origin[128], host[64] = "";
	gethostname(host, sizeof(host) - 1);
	snprintf(origin, sizeof(origin), "%s:%d:%lld", host, (int)getpid(), (long long)now_us());
	deis_cache_set_origin(origin);

	/* 2. the whole state, into memory */
	state.started = now_us();
	if (state_load_all(&err) < 0) {
		deis_log(LOG_ERR, "loading state: %s", err.msg);
		goto out;
	}
	deis_log(LOG_INFO, "loaded %zu apps and %zu users", state.napps, state.nusers);
	health_probe();

	/* 3. the mount */
	se = fuse_session_new(&args, &deisfs_ops, sizeof(deisfs_ops), NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(opts.foreground);
	deis_log(LOG_NOTICE, "mounted at %s", opts.mountpoint);

	/* 4. the threads that keep it fresh */
	if (ops_start(se) != 0 || pthread_create(&events, NULL, event_main, NULL) != 0) {
		deis_log(LOG_ERR, "cannot start threads");
		goto out_unmount;
	}

	/* 5. requests */
	loop = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(loop, opts.clone_fd);
	if (opts.max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(loop, opts.max_idle_threads);
	fuse_loop_cfg_set_max_threads(loop, opts.max_threads);
	ret = opts.singlethread ? fuse_session_loop(se) : fuse_session_loop_mt(se, loop);
	fuse_loop_cfg_destroy(loop);

	stopping = 1;
	pthread_join(events, NULL);
	ops_stop();
	deis_log(LOG_NOTICE, "unmounting %s", opts.mountpoint);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	deis_db_close(db);
	return ret ? 1 : 0;
}
