/*
 * main.c - deis-scheduler: makes the containers on this node match the
 * tree (docs/scheduler.md).
 *
 *   deis-scheduler [--config=FILE] [--OPTION=VALUE ...]
 *   deis-scheduler run [--config=FILE] APP USER TERM COMMAND
 *   deis-scheduler network up|down [--config=FILE]
 *
 * Level-triggered.  Each pass compares what PostgreSQL says should run
 * (each app's releases, formation, limits, one-off `run` rows) with the
 * instances this node runs, and acts: start, stop, replace, restart.  The
 * decisions are the policy's (policy.c, pure); a runtime backend
 * (include/deis/backend.h: runc today) runs the containers; the loop
 * (loop.c) wakes on events, on a container's end, on health checks and
 * on timers.  A scheduler that is restarted adopts what runs (adopt.c):
 * containers outlive it.
 *
 * This file holds the options, the start-up and the subcommands.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/log.h"
#include "scheduler.h"

struct scheduler_conf scheduler_conf;

#define OPT(type, name, def, help) \
	{ "scheduler_" #name, DEIS_CONF_##type, &scheduler_conf.name, def, help }

/* The common options, the scheduler's, then each backend's own
 * (options_init()). */
static struct deis_conf_option options[64] = {
	DEIS_COMMON_OPTIONS,
	OPT(STR, node, "", "this node's name (default: the host name)"),
	OPT(STR, address, "127.0.0.1", "the address the proxy reaches this node's containers at"),
	OPT(INT, port, "5000", "$PORT of every container (each has an address of its own)"),
	OPT(INT, grace, "30", "seconds a stopping container gets between SIGTERM and SIGKILL"),
	OPT(INT, boot_timeout, "60", "seconds a web container has to answer its health check"),
	OPT(INT, resync, "5", "seconds between full comparisons with the database"),
	OPT(INT, pids, "512", "process limit of a container when `limits` sets none"),
	OPT(INT, backoff_max, "300", "longest wait in seconds before restarting a crashed one"),
	OPT(INT, proxy_wait, "10", "seconds to wait for the router to drop a container"),
	OPT(STR, runtime, "runc", "the container runtime backend (runc)"),
	OPT(INT, autoscale_window, "60", "seconds over which autoscale averages a process type's CPU"),
};

static void options_init(void)
{
	static bool done;
	size_t n = 0;

	if (done)
		return;
	done = true;
	while (options[n].name)
		n++;
	for (size_t b = 0; deis_backends[b]; b++)
		for (const struct deis_conf_option *o = deis_backends[b]->options; o && o->name; o++) {
			if (n + 1 >= sizeof(options) / sizeof(options[0]))
				abort();	/* a row more than the table holds */
			options[n++] = *o;
		}
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

int scheduler_options(int argc, char **argv)
{
	options_init();
	int r = deis_conf_cli(options, "deis-scheduler", usage, &argc, argv, 0);
	if (r == 0 && !scheduler_conf.node[0]) {
		char h[256] = "";
		gethostname(h, sizeof(h) - 1);
		free(scheduler_conf.node);
		scheduler_conf.node = strdup(h[0] ? h : "node1");
	}
	return r;
}

struct deis_backend_conf scheduler_backend_conf(bool attached, bool setup)
{
	return (struct deis_backend_conf){
		.home = deis_conf.home, .syslog_socket = deis_conf.syslog_socket,
		.attached = attached, .setup = setup,
	};
}

/* deis-scheduler network up|down [--OPTION=VALUE ...]: makes or removes
 * this node's containers' network (packaging/down; up is what the daemon
 * does when it starts). */
static int network(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_backend *b = NULL;
	int r;

	if (scheduler_options(argc - 2, argv + 2) < 0)
		return 2;
	deis_log_init("deis-scheduler network", LOG_WARNING, 0);
	struct deis_backend_conf bc = scheduler_backend_conf(false, true);
	const struct deis_backend_ops *ops = deis_backend_find(scheduler_conf.runtime);
	if (!ops)
		r = deis_error_set(&err, ENOENT, "no runtime backend '%s'", scheduler_conf.runtime);
	else if (!strcmp(argv[2], "down"))
		r = ops->teardown(&bc, &err);
	else if ((r = ops->open(&bc, &b, &err)) == 0)
		ops->close(b);
	if (r < 0)
		fprintf(stderr, "deis-scheduler: the containers' network: %s\n", err.msg);
	return r < 0 ? 1 : 0;
}

/* ---- start-up: options, logging, signals ----
 *
 * What every daemon does alike; the shared daemon skeleton (lib/daemon.c)
 * takes this part over.  Signal handlers only set a flag. */

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
	got_term = 1;
}

static int start_up(int argc, char **argv)
{
	if (scheduler_options(argc, argv) < 0)
		return -1;
	int level = deis_log_level_parse(deis_conf.log_level);
	deis_log_init("deis-scheduler", level < 0 ? LOG_INFO : level, 0);
	if (scheduler_conf.port < 1024 || scheduler_conf.port > 65535) {
		deis_log(LOG_ERR, "scheduler_port: a port from 1024 to 65535 (the app runs "
			 "unprivileged)");
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	return 0;
}

/* ---- end of start-up ---- */

int main(int argc, char **argv)
{
	int r;

	if (argc >= 3 && !strcmp(argv[1], "network") &&
	    (!strcmp(argv[2], "up") || !strcmp(argv[2], "down")))
		r = network(argc, argv);
	else if (argc >= 2 && !strcmp(argv[1], "run"))
		r = run_main(argc, argv);
	else if (start_up(argc, argv) < 0)
		r = 2;
	else
		r = scheduler_serve(&got_term);
	deis_conf_free(options);
	return r;
}
