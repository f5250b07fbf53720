/*
 * main.c - deis-scheduler: makes the containers on this node match the
 * tree (docs/scheduler.md).
 *
 *   deis-scheduler [--config=FILE] [--OPTION=VALUE ...]
 *
 * Level-triggered.  Each pass compares what PostgreSQL says should run
 * (each app's releases, formation, limits, one-off `run` rows) with the
 * instances this node runs, and acts: start, stop, replace, restart.  A
 * pass runs for an app when an "app <name>" event arrives, when one of
 * its containers changes state, and at every resync (scheduler_resync
 * seconds: serials compared, so a lost event costs at most that long).
 *
 * A container is an instance: "<app>.<type>.<n>.<seq>", its runc id and
 * its row in containers.  Each runs under its own deis-shim (shim.c), the
 * container's parent and log forwarder, which the scheduler follows with
 * a pidfd.  The scheduler never holds a container's output or its life:
 * when it is restarted it finds its instances again ($DEIS_HOME/scheduler/
 * containers/<id>/, their rows, runc's list) and adopts them.
 *
 * Rollouts: for each process name (web.1) the target instance is one on
 * the target release (the newest release with an image whose release
 * phase passed and that did not fail).  While it starts, the newest
 * instance that is up keeps serving; once the new one answers its health
 * check (HTTP path from `healthcheck` with libcurl, else a TCP connect to
 * $PORT), the old one is marked stopping, and only when the proxy reports
 * that it applied the routes without it (or no proxy runs) does it get
 * SIGTERM, then SIGKILL after scheduler_grace seconds.  A release whose
 * web containers do not answer within scheduler_boot_timeout, while an
 * older release serves, is marked failed and never rolled out.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "deis/spawn.h"
#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/db.h"
#include "deis/log.h"
#include "deis/logemit.h"
#include "deis/net.h"
#include "deis/quota.h"
#include "deis/validate.h"
#include "scheduler.h"

extern char **environ;

struct scheduler_conf scheduler_conf;

static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ "scheduler_node", DEIS_CONF_STR, &scheduler_conf.node, "",
	  "this node's name (default: the host name)" },
	{ "scheduler_address", DEIS_CONF_STR, &scheduler_conf.address, "127.0.0.1",
	  "the address the proxy reaches this node's containers at" },
	{ "scheduler_port", DEIS_CONF_INT, &scheduler_conf.port, "5000",
	  "$PORT of every container (each has an address and ports of its own)" },
	{ "scheduler_grace", DEIS_CONF_INT, &scheduler_conf.grace, "30",
	  "seconds a stopping container gets between SIGTERM and SIGKILL" },
	{ "scheduler_boot_timeout", DEIS_CONF_INT, &scheduler_conf.boot_timeout, "60",
	  "seconds a web container has to answer its health check" },
	{ "scheduler_resync", DEIS_CONF_INT, &scheduler_conf.resync, "5",
	  "seconds between full comparisons with the database" },
	{ "scheduler_pids", DEIS_CONF_INT, &scheduler_conf.pids, "512",
	  "process limit of a container when `limits` sets none" },
	{ "scheduler_backoff_max", DEIS_CONF_INT, &scheduler_conf.backoff_max, "300",
	  "longest wait in seconds before restarting a crashing container" },
	{ "scheduler_proxy_wait", DEIS_CONF_INT, &scheduler_conf.proxy_wait, "10",
	  "seconds to wait for the proxy to stop routing to a container before SIGTERM" },
	{ "scheduler_shim", DEIS_CONF_STR, &scheduler_conf.shim, "",
	  "the deis-shim binary (default: beside deis-scheduler)" },
	{ "scheduler_init", DEIS_CONF_STR, &scheduler_conf.init, "/usr/bin/tini",
	  "pid 1 of every container, forwarding signals and reaping zombies "
	  "(\"\" for none)" },
	{ NULL, 0, NULL, NULL, NULL },
};


struct deis_db *db;
struct deis_cache *cache;
struct deis_logemit *logs;
struct deis_net *net;
CURLM *multi;
char run_dir[4096], runc_root[4200], cont_dir[4200], attached_root[4200];
char node_name[256];
static volatile sig_atomic_t got_term;

/* ---- main ---- */

static void on_term(int sig)
{
	got_term = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: deis-scheduler [--config=FILE] [--OPTION=VALUE ...]\n"
"       deis-scheduler run [--config=FILE] APP USER TERM COMMAND\n"
"       deis-scheduler network up|down [--config=FILE]\n"
"\n"
"Runs this node's containers (runc, each under a deis-shim) as the tree says:\n"
"the formation of every app on its running release, one-offs, release\n"
"phases.  `run` runs one attached one-off (what `ssh ... run` starts);\n"
"`network` makes or removes the containers' bridge, namespaces and firewall.\n"
"\n"
"Options (also in the configuration file, as name = value):\n");
	deis_conf_usage(options, out);
}

static int parse_options(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	int n = argc + 1;

	if (!args)
		return -1;
	args[0] = (char *)"deis-scheduler";
	for (int i = 0; i < argc; i++)
		args[i + 1] = argv[i];
	int r = deis_conf_cli(options, "deis-scheduler", usage, &n, args, 0);
	free(args);
	return r;
}

static void setup_paths(const char *argv0)
{
	if (!scheduler_conf.node[0]) {
		char h[256] = "";
		gethostname(h, sizeof(h) - 1);
		free(scheduler_conf.node);
		scheduler_conf.node = strdup(h[0] ? h : "node1");
	}
	snprintf(node_name, sizeof(node_name), "%s", scheduler_conf.node);
	if (!scheduler_conf.shim[0]) {
		char exe[PATH_MAX];
		ssize_t r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[r > 0 ? r : 0] = '\0';
		char *slash = strrchr(exe, '/');
		char path[PATH_MAX + 16];
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/deis-shim", exe);
		} else {
			snprintf(path, sizeof(path), "deis-shim");
		}
		free(scheduler_conf.shim);
		scheduler_conf.shim = strdup(path);
	}
	if (scheduler_conf.init[0] && access(scheduler_conf.init, X_OK) != 0) {
		deis_log(LOG_WARNING, "%s is missing: containers run without an init "
			 "(install tini)", scheduler_conf.init);
		scheduler_conf.init[0] = '\0';
	}
	snprintf(run_dir, sizeof(run_dir), "%s/scheduler", deis_conf.home);
	snprintf(runc_root, sizeof(runc_root), "%s/runc", run_dir);
	snprintf(cont_dir, sizeof(cont_dir), "%s/containers", run_dir);
	snprintf(attached_root, sizeof(attached_root), "%s/attached", run_dir);
	mkdir(run_dir, 0700);
	mkdir(runc_root, 0700);
	mkdir(cont_dir, 0700);
	mkdir(attached_root, 0700);
}

int main(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char *runv[4];
	int runc_ = 0;

	/* deis-scheduler network up|down [--OPTION=VALUE ...]: makes or removes
	 * this node's containers' network (packaging/down; up is what the
	 * daemon does when it starts). */
	if (argc >= 3 && !strcmp(argv[1], "network") &&
	    (!strcmp(argv[2], "up") || !strcmp(argv[2], "down"))) {
		if (parse_options(argc - 3, argv + 3) < 0)
			return 2;
		deis_log_init("deis-scheduler network", LOG_WARNING, 0);
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/net", deis_conf.home);
		struct deis_net_conf nc = {
			.bridge = deis_conf.network_bridge, .subnet = deis_conf.network_subnet,
			.nat = deis_conf.network_nat, .state_dir = dir,
		};
		int r = !strcmp(argv[2], "up") ? deis_net_open(&nc, 1, &net, &err) :
			deis_net_teardown(&nc, &err);
		deis_net_close(net);
		if (r < 0)
			fprintf(stderr, "deis-scheduler: the containers' network: %s\n", err.msg);
		deis_conf_free(options);
		return r < 0 ? 1 : 0;
	}
	/* deis-scheduler run [--OPTION=VALUE ...] APP USER TERM COMMAND */
	if (argc >= 2 && !strcmp(argv[1], "run")) {
		char *opts[64];
		int no = 0;
		for (int k = 2; k < argc; k++) {
			if (runc_ < 4 && no < 64 && !strncmp(argv[k], "--", 2) &&
			    strchr(argv[k], '='))
				opts[no++] = argv[k];
			else if (runc_ < 4)
				runv[runc_++] = argv[k];
		}
		if (runc_ != 4 || !deis_valid_app_name(runv[0]) || !runv[3][0]) {
			fprintf(stderr, "usage: deis-scheduler run [--config=FILE] APP USER TERM "
				"COMMAND\n");
			return 2;
		}
		if (parse_options(no, opts) < 0)
			return 2;
		/* Its stderr is the user's terminal: warnings only. */
		deis_log_init("deis-scheduler run", LOG_WARNING, 0);
		setup_paths(argv[0]);
		return run_attached(runv[0], runv[1], runv[2], runv[3]);
	}
	if (parse_options(argc - 1, argv + 1) < 0)
		return 2;
	int level = deis_log_level_parse(deis_conf.log_level);
	deis_log_init("deis-scheduler", level < 0 ? LOG_INFO : level, 0);
	if (scheduler_conf.port < 1024 || scheduler_conf.port > 65535) {
		deis_log(LOG_ERR, "scheduler_port: a port from 1024 to 65535 (the app runs "
			 "unprivileged)");
		return 2;
	}
	setup_paths(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	deis_cache_set_origin("scheduler");

	while (deis_db_open(deis_conf.database, &db, &err) < 0 && !got_term) {
		deis_log(LOG_WARNING, "%s (retrying)", err.msg);
		sleep(1);
	}
	if (got_term)
		return 0;
	if (deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
			    deis_conf.redis_password, &cache, &err) < 0)
		deis_log(LOG_WARNING, "Redis: %s (events are sent when it is back)", err.msg);
	deis_logemit_open(deis_conf.syslog_socket, &logs, &err);
	/* The bridge and the firewall before any container: without them no
	 * container may start (it would have no isolation). */
	if (deis_net_open_platform(1, &net, &err) < 0) {
		deis_log(LOG_ERR, "the containers' network: %s", err.msg);
		return 1;
	}
	adopt();
	int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake < 0 || events_start(wake, &err) < 0) {
		deis_log(LOG_ERR, "events: %s", wake < 0 ? strerror(errno) : err.msg);
		return 1;
	}
	deis_log(LOG_NOTICE, "scheduling on node %s (runc state %s, bridge %s %s%s, "
		 "$PORT %d, init %s)", node_name, runc_root, deis_conf.network_bridge,
		 deis_conf.network_subnet, deis_conf.network_nat ? " with NAT" : "",
		 scheduler_conf.port, scheduler_conf.init[0] ? scheduler_conf.init : "none");

	/* At once: the node's heartbeat (platform/status) and the serials. */
	double next_resync = mono();
	struct curl_waitfd *wfds = NULL;
	size_t wcap = 0;

	while (!got_term) {
		double t = mono();

		/* Events and resync: which apps to reload. */
		struct deis_strlist names;
		events_take(&names);
		for (size_t k = 0; k < names.n; k++) {
			if (!strcmp(names.items[k], "*")) {
				next_resync = t;
				continue;
			}
			if (deis_valid_app_name(names.items[k]))
				app_find(names.items[k], true)->reload = true;
		}
		deis_strlist_clear(&names);
		if (t >= next_resync) {
			resync();
			next_resync = t + scheduler_conf.resync;
		}
		for (size_t k = 0; k < napps; k++)
			if (apps[k].reload)
				load_app(&apps[k]);

		/* Timers of instances. */
		for (struct inst *i = insts, *nx; i; i = nx) {
			nx = i->next;
			struct sapp *a = app_find(i->app, false);
			if (i->state == S_STARTING && i->pidfd >= 0 && t >= i->next_probe) {
				if (is_web(i)) {
					probe(i, a ? a->m : NULL, t);
				} else {
					char p[4500];
					inst_dir(i, "init.pid", p, sizeof(p));
					if (access(p, F_OK) == 0)
						set_up(i);
					else
						i->next_probe = t + 0.01;
				}
			}
			if (i->state == S_CRASHED && t >= i->backoff_until && a && a->m)
				inst_launch(i, a);
			if (i->state == S_STOPPING && !i->termed && i->term_serial >= 0) {
				bool go = t >= i->term_at || i->term_serial == 0;
				if (!go && cache) {
					bool alive = false;
					long applied = 0;
					if (deis_cache_proxy_state(cache, i->app, &alive, &applied,
								   &err) < 0 ||
					    !alive || applied >= i->term_serial)
						go = true;
				}
				/* Not before the container's init runs its
				 * own program: a signal to a container still
				 * being created, or to runc's init before its
				 * exec, is lost.  (The shim's end also ends
				 * this.) */
				if (go && init_execd(i))
					send_term(i);
			}
			if (i->state == S_STOPPING && i->termed && t >= i->kill_at) {
				applog(i->app, "%s: did not stop within %d s: SIGKILL", i->name,
				       scheduler_conf.grace);
				deis_runtime_kill_all(runc_root, i->id, SIGKILL, &err);
				i->kill_at = t + 5;
			}
		}

		/* Passes, then the record. */
		for (size_t k = 0; k < napps; k++)
			if (apps[k].pass) {
				apps[k].pass = false;
				reconcile(&apps[k]);
			}
		for (size_t k = 0; k < napps; k++)
			write_rows(&apps[k], t);
		for (size_t k = 0; k < napps; k++)
			mark_deployed(&apps[k], t);
		for (size_t k = 0; k < napps;) {
			/* Apps that are gone and have nothing left here. */
			bool any = false;
			for (struct inst *i = insts; i && !any; i = i->next)
				any = !strcmp(i->app, apps[k].name);
			if (!apps[k].m && !any && !apps[k].reload) {
				apps[k] = apps[--napps];
				continue;
			}
			k++;
		}

		/* Wait: for an event, a shim's end, a probe, or the next timer. */
		double next = next_resync;
		size_t nw = 0;
		for (struct inst *i = insts; i; i = i->next) {
			if (i->state == S_STARTING && i->pidfd >= 0 && !i->probe)
				next = fmin(next, i->next_probe);
			if (i->state == S_STARTING && i->pidfd >= 0)
				next = fmin(next, i->boot_deadline);
			if (i->state == S_CRASHED)
				next = fmin(next, i->backoff_until);
			if (i->state == S_STOPPING && !i->termed)
				next = fmin(next, i->term_serial < 0 ? t + 0.05 :
					    fmin(i->term_at, t + 0.02));
			if (i->state == S_STOPPING && i->termed)
				next = fmin(next, i->kill_at);
			if (i->pidfd >= 0)
				nw++;
		}
		for (size_t k = 0; k < napps; k++)
			if (apps[k].reload || apps[k].pass)
				next = t;
		if (nw + 1 > wcap) {
			wcap = (nw + 1) * 2;
			wfds = realloc(wfds, wcap * sizeof(*wfds));
			if (!wfds)
				abort();
		}
		nw = 0;
		wfds[nw++] = (struct curl_waitfd){ .fd = wake, .events = CURL_WAIT_POLLIN };
		for (struct inst *i = insts; i; i = i->next)
			if (i->pidfd >= 0)
				wfds[nw++] = (struct curl_waitfd){ .fd = i->pidfd,
								   .events = CURL_WAIT_POLLIN };
		double wait = next - mono();
		int ms = wait <= 0 ? 0 : wait > 1 ? 1000 : (int)(wait * 1000) + 1;
		curl_multi_wait(multi, wfds, (unsigned)nw, ms, NULL);
		int running;
		curl_multi_perform(multi, &running);
		probes_done();
		if (wfds[0].revents) {
			uint64_t v;
			if (read(wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
				deis_log(LOG_WARNING, "wake: %s", strerror(errno));
		}
		/* Ended shims: collect first (the list changes as they go). */
		for (size_t k = 1; k < nw; k++) {
			if (!wfds[k].revents)
				continue;
			for (struct inst *i = insts; i; i = i->next)
				if (i->pidfd == wfds[k].fd) {
					inst_exited(i);
					break;
				}
		}
	}

	deis_log(LOG_NOTICE, "stopping; the containers keep running and are adopted "
		 "at the next start");
	events_stop();
	while (insts) {
		struct inst *i = insts;
		insts = i->next;
		inst_free(i);
	}
	for (size_t k = 0; k < napps; k++)
		deis_app_free(apps[k].m);
	free(apps);
	free(removed);
	free(wfds);
	slug_free_all();
	deis_net_close(net);
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	deis_logemit_close(logs);
	deis_cache_close(cache);
	deis_db_close(db);
	close(wake);
	deis_conf_free(options);
	return 0;
}
