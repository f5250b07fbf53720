/*
 * run.c - deis-scheduler run APP USER TERM COMMAND: an attached one-off
 * (`ssh -t -p 2222 git@host run <app> <command>`).
 *
 * Runs COMMAND in a one-off container of APP's running release with this
 * process's stdin, stdout and stderr (a terminal when the builder gives
 * one), and exits with its status.  The builder's SSH session starts it.
 * The backend runs it apart from the daemon's containers (runc: its own
 * root, $DEIS_HOME/scheduler/attached), so the daemon neither adopts nor
 * removes it; its row (run.N, desired 'attached') shows it in the tree
 * while it runs.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/db.h"
#include "deis/log.h"
#include "deis/logemit.h"
#include "deis/validate.h"
#include "scheduler.h"

static volatile pid_t attached_pid;
static volatile sig_atomic_t attached_cancel, attached_term;

/* The terminal's signals (^C, ^\\, a resize, a hang-up) and the
 * builder's SIGTERM reach us, the terminal's foreground process group:
 * they go on to the container's init, and tini passes them on to the
 * command's process group. */
static void forward_signal(int sig)
{
	if (sig != SIGWINCH && sig != SIGQUIT)
		attached_cancel = 1;	/* before the start: do not start */
	if (sig == SIGTERM || sig == SIGHUP)
		attached_term = 1;	/* SIGKILL follows if it lingers */
	if (attached_pid > 0)
		kill(attached_pid, sig);
}

struct session {
	const char *app, *user, *command, *instance, *name;
	int number, release, port;
};

/* It has its address: its row shows it (as the daemon's containers'
 * rows do), unless the session is already gone. */
static int placed(void *ctx, const char *address, struct deis_error *err)
{
	const struct session *s = ctx;
	const char *dot = strrchr(s->instance, '.');	/* <app>.run.<n>.<seq> */
	struct deis_container row = {
		.name = (char *)s->name, .type = (char *)"run", .number = s->number,
		.instance = (char *)s->instance, .state = (char *)"up",
		.release = s->release, .node = scheduler_conf.node,
		.address = (char *)address, .port = s->port, .started = deis_wall_us(),
		.command = (char *)s->command, .seq = dot ? strtol(dot + 1, NULL, 10) : 0,
	};
	struct deis_error e = DEIS_ERROR_INIT;

	if (deis_db_containers_write(sched.db, s->app, &row, 1, NULL, 0, 0, NULL, &e) < 0)
		deis_log(LOG_WARNING, "%s: %s", s->app, e.msg);
	if (attached_cancel)
		return deis_error_set(err, ECANCELED, "cancelled");
	applog(s->app, "%s: %s ran `%s` attached (ssh) on v%d", s->name, s->user, s->command,
	       s->release);
	return 0;
}

/* Waits for it; once told to end (the session is gone), gives it
 * scheduler_grace seconds, then SIGKILL to everything in it.  Returns its
 * exit status. */
static int wait_for(pid_t pid, const char *instance)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int st = 0, pfd = pidfd_open(pid, 0);
	double term_since = 0;

	attached_pid = pid;
	if (attached_cancel)
		kill(pid, SIGTERM);
	for (;;) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		if (pfd < 0 || poll(&p, 1, 1000) > 0 || waitpid(pid, &st, WNOHANG) == pid) {
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			break;
		}
		if (attached_term && !term_since)
			term_since = mono();
		if (term_since && mono() - term_since > scheduler_conf.grace)
			sched.backend->ops->stop(sched.backend, instance, true, &err);
	}
	if (pfd >= 0)
		close(pfd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int run_attached(const char *app, const char *user, const char *term,
			const char *command)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_app **list = NULL;
	size_t n = 0;
	char instance[DEIS_BACKEND_ID_MAX + 1], name[32], address[DEIS_BACKEND_ADDRESS_MAX] = "";
	int rc = 1;

	struct sigaction fw = { .sa_handler = forward_signal };
	sigaction(SIGINT, &fw, NULL);
	sigaction(SIGQUIT, &fw, NULL);
	sigaction(SIGHUP, &fw, NULL);
	sigaction(SIGTERM, &fw, NULL);
	sigaction(SIGWINCH, &fw, NULL);
	if (deis_db_open(deis_conf.database, &sched.db, &err) < 0 ||
	    deis_db_load_apps(sched.db, app, NULL, &list, &n, &err) < 0) {
		fprintf(stderr, "deis: %s\n", err.msg);
		return 1;
	}
	deis_logemit_open(deis_conf.syslog_socket, &sched.logs, &err);
	struct deis_app *m = n ? list[0] : NULL;
	const struct deis_release *pending, *T = m ? policy_target(m, &pending) : NULL;
	if (!m || !T) {
		fprintf(stderr, "deis: app '%s' has no release running yet: git push first\n", app);
		goto out;
	}
	struct session s = {
		.app = app, .user = user, .command = command, .instance = instance,
		.name = name, .release = T->version, .port = scheduler_conf.port,
	};
	struct deis_backend_conf bc = scheduler_backend_conf(true, false);
	const struct deis_backend_ops *ops = deis_backend_find(scheduler_conf.runtime);
	if (ops->open(&bc, &sched.backend, &err) < 0 ||
	    deis_db_run_create(sched.db, app, command, T->version, scheduler_conf.node,
			       s.port, &s.number, instance, sizeof(instance), &err) < 0) {
		fprintf(stderr, "deis: %s\n", err.msg);
		goto out;
	}
	snprintf(name, sizeof(name), "run.%d", s.number);
	struct deis_kvlist extra = DEIS_KVLIST_INIT, env = DEIS_KVLIST_INIT;
	if (term[0] && strcmp(term, "-"))
		deis_kvlist_set(&extra, "TERM", term);
	struct deis_backend_spec spec = { 0 };
	int r = launch_spec(m, T, "web", command, instance, name, s.port, &extra, &env,
			    &spec, &err);
	/* On a terminal (ssh -t): the container gets a pty of its own,
	 * relayed to ours (job control works); else our pipes as they are. */
	spec.terminal = isatty(0) && isatty(1);
	pid_t pid = -1;
	struct deis_backend_io io = { .in = 0, .out = 1, .err = 2 };
	if (r == 0)
		r = sched.backend->ops->attach(sched.backend, &spec, &io, placed, &s, address,
					       &pid, &err);
	deis_kvlist_clear(&extra);
	deis_kvlist_clear(&env);
	if (r < 0) {
		fprintf(stderr, "deis: cannot start the one-off container: %s\n", err.msg);
	} else {
		rc = wait_for(pid, instance);
		applog(app, "%s: exited with status %d", name, rc);
	}
	const char *gone[] = { instance };
	if (deis_db_containers_write(sched.db, app, NULL, 0, gone, 1, 0, NULL, &err) < 0)
		deis_log(LOG_WARNING, "%s: %s", app, err.msg);
	sched.backend->ops->ended(sched.backend, instance, NULL, NULL);
	sched.backend->ops->remove(sched.backend, instance, app, address[0] ? address : NULL);
	if (sched.cache || deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
					   deis_conf.redis_password, &sched.cache, &err) == 0)
		deis_cache_publish(sched.cache, "app", app, &err);
out:
	for (size_t k = 0; k < n; k++)
		deis_app_free(list[k]);
	free(list);
	if (sched.backend)
		sched.backend->ops->close(sched.backend);
	deis_logemit_close(sched.logs);
	deis_cache_close(sched.cache);
	deis_db_close(sched.db);
	return rc;
}

int run_main(int argc, char **argv)
{
	char *runv[4], *opts[65] = { argv[1] };
	int nrun = 0, nopts = 1;

	for (int k = 2; k < argc; k++) {
		if (nrun < 4 && nopts < 64 && !strncmp(argv[k], "--", 2) && strchr(argv[k], '='))
			opts[nopts++] = argv[k];
		else if (nrun < 4)
			runv[nrun++] = argv[k];
	}
	if (nrun != 4 || !deis_valid_app_name(runv[0]) || !runv[3][0]) {
		fprintf(stderr, "usage: deis-scheduler run [--config=FILE] APP USER TERM "
			"COMMAND\n");
		return 2;
	}
	/* Its stderr is the user's terminal: warnings only. */
	scheduler_subcommand_start("deis-scheduler run", &nopts, opts);
	return run_attached(runv[0], runv[1], runv[2], runv[3]);
}
