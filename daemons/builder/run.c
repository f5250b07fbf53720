/*
 * run.c - `ssh -t -p 2222 git@host run <app> <command>`: a one-off
 * container attached to the SSH channel.
 *
 * The command after the app name is passed as one string to /bin/sh -c
 * inside the container (Heroku's `heroku run`), never to a shell here.
 * The container is started by `deis-scheduler run` (the scheduler owns
 * how containers are made: slug, release config, limits), spawned with
 * posix_spawn.  With a terminal (ssh -t) its stdin, stdout and stderr are
 * the slave of a pty we allocate, made its controlling terminal (a new
 * session that opens it), so bash has job control and ^C reaches the
 * container; without one they are pipes, like git's.
 *
 * When the client hangs up (session.c notices), the pty's master is
 * closed (SIGHUP to `deis-scheduler run`, the terminal's foreground) or
 * the process gets SIGTERM; it passes the signal on to the container and
 * SIGKILLs whatever is left in it after builder_run_grace seconds, given
 * to it as its scheduler_grace.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "deis/spawn.h"
#include "deis/conf.h"
#include "deis/validate.h"
#include "builder.h"

#define RUN_CMD_MAX 4096

int builder_parse_run(const char *cmd, char app[BUILDER_APP_MAX], const char **command,
		      struct deis_error *err)
{
	const char *p = cmd + 4, *sp;

	if (strncmp(cmd, "run ", 4))
		return deis_error_set(err, EPERM, "not a run command");
	while (*p == ' ')
		p++;
	sp = strchr(p, ' ');
	size_t n = sp ? (size_t)(sp - p) : strlen(p);
	if (n == 0 || n >= BUILDER_APP_MAX)
		return deis_error_set(err, EINVAL, "usage: run <app> <command>");
	memcpy(app, p, n);
	app[n] = '\0';
	if (!deis_valid_app_name(app))
		return deis_error_set(err, EINVAL, "'%s' is not an app name", app);
	p += n;
	while (*p == ' ')
		p++;
	if (!*p)
		return deis_error_set(err, EINVAL, "usage: run <app> <command> (e.g. run %s bash)",
				      app);
	if (strlen(p) > RUN_CMD_MAX)
		return deis_error_set(err, EINVAL, "the command is longer than %d bytes",
				      RUN_CMD_MAX);
	*command = p;
	return 0;
}

/* deis-scheduler: $DEIS_SCHEDULER_BIN, else beside this binary (installed),
 * else in the build tree's daemons/scheduler/. */
static void scheduler_path(char *out, size_t len)
{
	char exe[PATH_MAX];
	const char *env = getenv("DEIS_SCHEDULER_BIN");
	ssize_t r;

	if (env && *env) {
		snprintf(out, len, "%s", env);
		return;
	}
	r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[r > 0 ? r : 0] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(out, len, "%s/deis-scheduler", exe);
	if (access(out, X_OK) != 0)
		snprintf(out, len, "%s/../scheduler/deis-scheduler", exe);
}

int builder_run_spawn(const char *app, const char *user, const char *command,
		      const char *term, int cols, int rows, pid_t *pid, int fds[3],
		      struct deis_error *err)
{
	char bin[PATH_MAX + 64], conf[PATH_MAX + 16], grace[48];
	int p[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	int master = -1, slave = -1;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int r;

	scheduler_path(bin, sizeof(bin));
	snprintf(conf, sizeof(conf), "--config=%s", builder_conf.config_path);
	snprintf(grace, sizeof(grace), "--scheduler_grace=%d", builder_conf.run_grace);
	char *argv[] = { bin, (char *)"run", conf, grace, (char *)app, (char *)user,
			 (char *)(term && *term ? term : "-"), (char *)command, NULL };
	char *envp[] = { (char *)"PATH=/usr/local/bin:/usr/bin:/bin",
			 (char *)"LANG=C.UTF-8", NULL };

	posix_spawn_file_actions_init(&fa);
	deis_spawnattr_init(&attr, POSIX_SPAWN_SETSID);
	if (term) {
		struct winsize ws = { .ws_row = (unsigned short)(rows > 0 ? rows : 24),
				      .ws_col = (unsigned short)(cols > 0 ? cols : 80) };
		char name[128];
		if (openpty(&master, &slave, name, NULL, &ws) < 0) {
			r = deis_error_set(err, errno, "openpty: %s", strerror(errno));
			goto fail;
		}
		fcntl(master, F_SETFD, FD_CLOEXEC);
		fcntl(slave, F_SETFD, FD_CLOEXEC);
		/* The child is a new session's leader: opening the slave
		 * makes it its controlling terminal. */
		posix_spawn_file_actions_addopen(&fa, 0, name, O_RDWR, 0);
		posix_spawn_file_actions_adddup2(&fa, 0, 1);
		posix_spawn_file_actions_adddup2(&fa, 0, 2);
	} else if (builder_pipes_open(p, &fa, err) < 0) {
		r = -err->code;
		goto fail;
	}
	r = posix_spawn(pid, bin, &fa, &attr, argv, envp);
	if (r) {
		r = deis_error_set(err, r, "%s: %s", bin, strerror(r));
		goto fail;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (!term) {
		builder_pipes_parent(p, fds);
		return 0;
	}
	close(slave);
	fds[0] = dup(master);
	fds[1] = master;
	fds[2] = -1;
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	for (int i = 0; i < 2; i++)
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
	return 0;
fail:
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	builder_pipes_close(p);
	return r;
}

void builder_run_resize(int master, int cols, int rows)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };

	if (master >= 0 && cols > 0 && rows > 0)
		ioctl(master, TIOCSWINSZ, &ws);
}
