/*
 * shim.c - deis-shim: the parent of one running container.
 *
 *   deis-shim STATE_DIR BUNDLE_DIR ID DIR APP SOURCE SYSLOG_SOCKET
 *
 * The scheduler starts one shim per container (posix_spawn, in a new
 * session) and never runs a container itself, so that a scheduler that is
 * restarted, upgraded or killed leaves every container, and the flow of
 * its output to the log server, untouched.  The shim
 *
 *  1. becomes a child subreaper, so the container's init (started by
 *     `runc run -d`, whose own process exits at once) is reparented to it
 *     and its exit status can be read with waitpid();
 *  2. writes DIR/shim.pid and starts the container with lib/runtime.c, its
 *     stdout and stderr both the write end of one pipe;
 *  3. sends each line the container writes to the log server as
 *     APP[SOURCE] (lib/logemit.c, RFC 5424 over the root-only socket
 *     SYSLOG_SOCKET), so `logs` and containers/<name>/log show it: the
 *     app and source are the shim's arguments, the container's output is
 *     only ever the message text;
 *  4. when the init exits (the kernel then kills the rest of its pid
 *     namespace, which closes the pipe), sends what is left and writes
 *     DIR/exit ("code=N signal=S", or "error=..." when it could not start)
 *     atomically, then exits.  The scheduler follows the shim with a pidfd
 *     and reads DIR/exit.
 *
 * A shim is the conmon of this platform: about one megabyte of memory per
 * container, no threads, no polling loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deis/daemon.h"
#include "deis/logemit.h"
#include "deis/runtime.h"

#define LINE_MAX_BYTES 10000	/* the log server splits longer lines anyway */

static const char *dir, *app, *source;
static struct deis_logemit *logs;

/* Writes DIR/name atomically (a temporary file renamed over it). */
static void write_file(const char *name, const char *fmt, ...)
{
	char path[4096], tmp[4200];
	va_list ap;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) == 0)
		rename(tmp, path);
	else
		unlink(tmp);
}

static void send_line(const char *s, size_t len)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char *msg = strndup(s, len);

	if (!msg)
		abort();
	/* A log server that is down loses the line, not the container. */
	if (deis_logemit_send(logs, app, source, msg, &err) < 0)
		fprintf(stderr, "deis-shim %s: %s\n", source, err.msg);
	free(msg);
}

/* Sends every complete line of buf; keeps the rest (unless flush). */
static void send_lines(char *buf, size_t *len, int flush)
{
	size_t start = 0;

	for (size_t i = 0; i < *len; i++)
		if (buf[i] == '\n') {
			send_line(buf + start, i - start);
			start = i + 1;
		}
	if (*len - start >= LINE_MAX_BYTES || (flush && *len > start)) {
		send_line(buf + start, *len - start);
		start = *len;
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
}

int main(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int p[2];

	if (argc != 8) {
		fprintf(stderr, "usage: deis-shim STATE_DIR BUNDLE_DIR ID DIR APP SOURCE "
			"SYSLOG_SOCKET\n(started by deis-scheduler)\n");
		return 2;
	}
	const char *state = argv[1], *bundle = argv[2], *id = argv[3];
	dir = argv[4];
	app = argv[5];
	source = argv[6];
	signal(SIGPIPE, SIG_IGN);
	/* The scheduler's SIGTERM/SIGINT to its process group is not ours. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		write_file("exit", "error=prctl: %s\n", strerror(errno));
		return 1;
	}
	write_file("shim.pid", "%d\n", (int)getpid());
	deis_logemit_open(argv[7], &logs, &err);
	if (pipe2(p, O_CLOEXEC) < 0) {
		write_file("exit", "error=pipe: %s\n", strerror(errno));
		return 1;
	}
	struct deis_runtime_io io = { .in = -1, .out = p[1], .err = p[1] };
	pid_t init = deis_runtime_run(state, bundle, id, &io, DEIS_RUNTIME_DETACH, &err);
	close(p[1]);
	if (init < 0) {
		char msg[600];
		snprintf(msg, sizeof(msg), "%s", err.msg);
		for (char *c = msg; *c; c++)
			if (*c == '\n')
				*c = ' ';
		write_file("exit", "error=%s\n", msg);
		return 1;
	}
	write_file("init.pid", "%d\n", (int)init);
	/* The init is our child now (runc exited; we are its subreaper).  A
	 * pidfd of a child that already ended is readable at once. */
	int pfd = pidfd_open(init, 0);
	char *buf = malloc(LINE_MAX_BYTES + 65536);
	size_t len = 0;
	int status = 0, ended = 0, eof = 0;
	long long deadline = 0;	/* deis_mono_ms() */

	if (!buf)
		abort();
	while (!eof || !ended) {
		struct pollfd fds[2] = {
			{ .fd = eof ? -1 : p[0], .events = POLLIN },
			{ .fd = ended ? -1 : pfd, .events = POLLIN },
		};
		int timeout = -1;
		if (ended) {
			/* Processes outside the pid namespace's kill (none
			 * should exist) could hold the pipe: bound the wait
			 * for more, but read whatever is there. */
			long long left = deadline - deis_mono_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		if (pfd < 0 && !ended)
			timeout = 200;	/* no pidfd: poll waitpid */
		int n = poll(fds, 2, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (n == 0 && ended && deis_mono_ms() >= deadline)
			break;
		if (!ended && (pfd < 0 || (fds[1].revents & POLLIN))) {
			pid_t w = waitpid(init, &status, WNOHANG);
			if (w == init || (w < 0 && errno == ECHILD)) {
				ended = 1;
				deadline = deis_mono_ms() + 2000;
			}
		}
		if (!eof && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t r = read(p[0], buf + len, LINE_MAX_BYTES + 65536 - len);
			if (r > 0) {
				len += (size_t)r;
				send_lines(buf, &len, 0);
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				eof = 1;
			}
		}
	}
	send_lines(buf, &len, 1);
	free(buf);
	/* Reap anything else reparented to us (runc's leftovers). */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	if (WIFSIGNALED(status))
		write_file("exit", "code=%d signal=%d\n", 128 + WTERMSIG(status),
			   WTERMSIG(status));
	else
		write_file("exit", "code=%d signal=0\n", WEXITSTATUS(status));
	deis_logemit_close(logs);
	return 0;
}
