/*
 * run.c - deis-scheduler run: an attached one-off (`ssh ... run`).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/db.h"
#include "deis/log.h"
#include "deis/logemit.h"

#include "scheduler.h"

/* ---- attached one-offs: `ssh -t git@host run <app> <command>` ---- */

/*
 * deis-scheduler run APP USER TERM COMMAND: runs COMMAND in a one-off
 * container of APP's running release with this process's stdin, stdout
 * and stderr (a terminal when the builder gives one), and exits with its
 * status.  The builder's SSH session starts it for `ssh ... run`.  The
 * container runs in the foreground under its own runc root
 * ($DEIS_HOME/scheduler/attached), so the scheduler daemon neither adopts
 * nor removes it; its row (run.N, desired 'attached') shows it in the
 * tree while it runs.
 */
static volatile pid_t attached_runc;
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
	if (attached_runc > 0)
		kill(attached_runc, sig);
}

int run_attached(const char *app, const char *user, const char *term,
			const char *command)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_app **list = NULL;
	size_t n = 0;
	char instance[DEIS_RUNTIME_ID_MAX + 1], dir[4400], bundle[4500], name[32];
	int number = 0, rc = 1;

	struct sigaction fw = { .sa_handler = forward_signal };
	sigaction(SIGINT, &fw, NULL);
	sigaction(SIGQUIT, &fw, NULL);
	sigaction(SIGHUP, &fw, NULL);
	sigaction(SIGTERM, &fw, NULL);
	sigaction(SIGWINCH, &fw, NULL);
	if (deis_db_open(deis_conf.database, &db, &err) < 0 ||
	    deis_db_load_apps(db, app, NULL, &list, &n, &err) < 0) {
		fprintf(stderr, "deis: %s\n", err.msg);
		return 1;
	}
	deis_logemit_open(deis_conf.syslog_socket, &logs, &err);
	struct deis_app *m = n ? list[0] : NULL;
	const struct deis_release *pending, *T = m ? target(m, &pending) : NULL;
	if (!m || !T) {
		fprintf(stderr, "deis: app '%s' has no release running yet: git push first\n", app);
		goto out;
	}
	int port = scheduler_conf.port;
	struct deis_net_endpoint ep = { .address = "" };
	if (deis_net_open_platform(0, &net, &err) < 0 ||
	    deis_db_run_create(db, app, command, T->version, node_name, port,
			       &number, instance, sizeof(instance), &err) < 0) {
		fprintf(stderr, "deis: %s\n", err.msg);
		goto out;
	}
	snprintf(name, sizeof(name), "run.%d", number);
	snprintf(dir, sizeof(dir), "%s/%s", attached_root, instance);
	struct deis_kvlist extra = DEIS_KVLIST_INIT;
	if (term[0] && strcmp(term, "-"))
		deis_kvlist_set(&extra, "TERM", term);
	/* On a terminal (ssh -t): the container gets a pty of its own, which
	 * runc in the foreground relays to ours (job control works); else
	 * runc -d hands it our pipes as they are. */
	int tty = isatty(0) && isatty(1);
	int r = deis_net_attach(net, instance, app, &ep, &err);
	if (r == 0) {
		/* Its address in its row, as the daemon's containers have. */
		struct deis_container row = {
			.name = name, .type = (char *)"run", .number = number,
			.instance = instance, .state = (char *)"up", .release = T->version,
			.node = node_name, .address = ep.address, .port = port,
			.started = now_us(), .command = (char *)command,
		};
		const char *dot = strrchr(instance, '.');	/* <app>.run.<n>.<seq> */
		row.seq = dot ? strtol(dot + 1, NULL, 10) : 0;
		if (deis_db_containers_write(db, app, &row, 1, NULL, 0, 0, NULL, &err) < 0)
			deis_log(LOG_WARNING, "%s: %s", app, err.msg);
		deis_error_clear(&err);
		r = make_bundle(m, T, "web", command, instance, name, &ep, port, &extra, tty,
				dir, &err);
	}
	deis_kvlist_clear(&extra);
	char state_dir[4500];
	snprintf(state_dir, sizeof(state_dir), "%s/runc", attached_root);
	mkdir(state_dir, 0700);
	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	pid_t pid = -1;
	if (r == 0 && attached_cancel) {
		r = -ECANCELED;
		deis_error_set(&err, ECANCELED, "cancelled");
	}
	if (r == 0) {
		applog(app, "%s: %s ran `%s` attached (ssh) on v%d", name, user, command,
		       T->version);
		/* Without a terminal: detached, so that runc hands our pipes
		 * to the container as they are (a foreground runc would copy
		 * through pipes of its own); as a subreaper we still get the
		 * container's init as our child, and its exit status.  With a
		 * terminal: runc in the foreground relays the container's pty;
		 * its exit status is the container's. */
		struct deis_runtime_io io = { .in = 0, .out = 1, .err = 2 };
		prctl(PR_SET_CHILD_SUBREAPER, 1);
		pid = deis_runtime_run(state_dir, bundle, instance, &io,
				       tty ? 0 : DEIS_RUNTIME_DETACH, &err);
	}
	if (pid < 0) {
		fprintf(stderr, "deis: cannot start the one-off container: %s\n", err.msg);
	} else {
		int st = 0, pfd = pidfd_open(pid, 0);
		double term_since = 0;
		attached_runc = pid;
		if (attached_cancel)
			kill(pid, SIGTERM);
		/* Wait for it; once told to end (the session is gone), give it
		 * scheduler_grace seconds, then SIGKILL everything in it. */
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
				deis_runtime_kill_all(state_dir, instance, SIGKILL, &err);
		}
		if (pfd >= 0)
			close(pfd);
		rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		applog(app, "%s: exited with status %d", name, rc);
	}
	const char *gone[] = { instance };
	if (deis_db_containers_write(db, app, NULL, 0, gone, 1, 0, NULL, &err) < 0)
		deis_log(LOG_WARNING, "%s: %s", app, err.msg);
	deis_runtime_delete(state_dir, instance, 1, &err);
	slug_rm_rf(dir);
	if (ep.address[0])
		net_release(instance, app, ep.address);
	if (cache || deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
				     deis_conf.redis_password, &cache, &err) == 0)
		deis_cache_publish(cache, "app", app, &err);
out:
	for (size_t k = 0; k < n; k++)
		deis_app_free(list[k]);
	free(list);
	slug_free_all();
	deis_net_close(net);
	deis_logemit_close(logs);
	deis_cache_close(cache);
	deis_db_close(db);
	return rc;
}
