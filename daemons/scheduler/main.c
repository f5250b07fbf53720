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
 * This file holds the options, and main: the daemon stands on the
 * skeleton of every daemon (include/deis/daemon.h: options, --help,
 * --version, logging, SIGTERM stops, SIGHUP reloads), and so do the
 * subcommands, which read the same options.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/log.h"
#include "scheduler.h"

struct scheduler_conf scheduler_conf;
static char *node_opt;		/* scheduler_node as given; "": the host name */

#define OPT(type, name, def, help) \
	{ "scheduler_" #name, DEIS_CONF_##type, &scheduler_conf.name, def, help }

/* The common options, the scheduler's, then each backend's own
 * (options_init()).  What a reload puts in force is read where it is
 * used: by the next container started or stopped, the next crash, the
 * next pass. */
static struct deis_conf_option options[64] = {
	DEIS_COMMON_OPTIONS,
	{ "scheduler_node", DEIS_CONF_STR, &node_opt, "",
	  "this node's name (default: the host name)" },
	OPT(STR, address, "127.0.0.1", "the address the proxy reaches this node's containers at"),
	OPT(INT, port, "5000", "$PORT of every container (each has an address of its own)"),
	OPT(INT | DEIS_CONF_RELOAD, grace, "30",
	    "seconds a stopping container gets between SIGTERM and SIGKILL"),
	OPT(INT | DEIS_CONF_RELOAD, boot_timeout, "60",
	    "seconds a web container has to answer its health check"),
	DEIS_CONF_DEPRECATED("scheduler_resync", "resync_interval"),
	OPT(INT | DEIS_CONF_RELOAD, pids, "512",
	    "process limit of a container when `limits` sets none (0: none)"),
	OPT(INT | DEIS_CONF_RELOAD, backoff_max, "300",
	    "longest wait in seconds before restarting a crashed one"),
	OPT(INT | DEIS_CONF_RELOAD, proxy_wait, "10",
	    "seconds a stopping container waits for the routers to drop it before the "
	    "wait is logged (it waits on: it is never stopped while routed)"),
	OPT(STR, runtime, "runc", "the container runtime backend (runc)"),
	OPT(INT, autoscale_window, "60", "seconds over which autoscale averages a process type's CPU"),
};

static void options_init(void)
{
	size_t n = 0;

	while (options[n].name)
		n++;
	for (size_t b = 0; deis_backends[b]; b++)
		for (const struct deis_conf_option *o = deis_backends[b]->options; o && o->name; o++) {
			if (n + 1 >= sizeof(options) / sizeof(options[0]))
				abort();	/* a row more than the table holds */
			options[n++] = *o;
		}
}

/* The least value of each number a reload may change, so that a slip in
 * the file is refused rather than put in force. */
static const struct {
	const char *name;
	const int *v;
	int least;
} least[] = {
	{ "scheduler_grace", &scheduler_conf.grace, 0 },
	{ "scheduler_boot_timeout", &scheduler_conf.boot_timeout, 1 },
	{ "scheduler_pids", &scheduler_conf.pids, 0 },
	{ "scheduler_backoff_max", &scheduler_conf.backoff_max, 0 },
	{ "scheduler_proxy_wait", &scheduler_conf.proxy_wait, 0 },
};

/* The options as a whole, and the node's name derived from them. */
static int check(struct deis_error *err)
{
	static char node[256];

	if (scheduler_conf.port < 1024 || scheduler_conf.port > 65535)
		return deis_error_set(err, EINVAL, "scheduler_port: a port from 1024 to 65535 "
				      "(the app runs unprivileged)");
	for (size_t k = 0; k < sizeof(least) / sizeof(least[0]); k++)
		if (*least[k].v < least[k].least)
			return deis_error_set(err, EINVAL, "%s: seconds or a count, at least %d",
					      least[k].name, least[k].least);
	if (!deis_backend_find(scheduler_conf.runtime))
		return deis_error_set(err, ENOENT, "scheduler_runtime: no backend '%s' (runc)",
				      scheduler_conf.runtime);
	if (node_opt[0])
		snprintf(node, sizeof(node), "%s", node_opt);
	else if (gethostname(node, sizeof(node) - 1) < 0 || !node[0])
		snprintf(node, sizeof(node), "node1");
	scheduler_conf.node = node;
	return 0;
}

static const struct deis_daemon scheduler = {
	.name = "deis-scheduler",
	.synopsis = "deis-scheduler [--config=FILE] [--OPTION=VALUE ...]\n"
		    "deis-scheduler run [--config=FILE] APP USER TERM COMMAND\n"
		    "deis-scheduler network up|down [--config=FILE]",
	.about =
"Runs this node's containers (runc, each under a deis-shim) as the tree says:\n"
"the formation of every app on its running release, one-offs, release\n"
"phases.  `run` runs one attached one-off (what `ssh ... run` starts);\n"
"`network` makes or removes the containers' bridge, namespaces and firewall.\n"
"See docs/scheduler.md.",
	.options = options, .check = check,
};

void scheduler_subcommand_start(const char *log_name, int *argc, char **argv)
{
	deis_daemon_configure(&scheduler, log_name, argc, argv);
	deis_log_set_level(LOG_WARNING);
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
	bool down = !strcmp(argv[2], "down");
	int nargs = argc - 2, r;

	scheduler_subcommand_start("deis-scheduler network", &nargs, argv + 2);
	struct deis_backend_conf bc = scheduler_backend_conf(false, true);
	const struct deis_backend_ops *ops = deis_backend_find(scheduler_conf.runtime);
	if (down)
		r = ops->teardown(&bc, &err);
	else if ((r = ops->open(&bc, &b, &err)) == 0)
		ops->close(b);
	if (r < 0)
		fprintf(stderr, "deis-scheduler: the containers' network: %s\n", err.msg);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	options_init();
	if (argc >= 3 && !strcmp(argv[1], "network") &&
	    (!strcmp(argv[2], "up") || !strcmp(argv[2], "down")))
		return deis_daemon_exit(network(argc, argv));
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return deis_daemon_exit(run_main(argc, argv));

	deis_daemon_start(&scheduler, &argc, argv);
	/* The database (waited for), Redis, the log server, the backend and
	 * the node's network, adoption, the event thread; then the loop until
	 * SIGTERM (loop.c). */
	return deis_daemon_exit(scheduler_serve());
}
