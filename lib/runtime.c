/*
 * runtime.c - running containers with the runc binary: run (in the
 * foreground or detached), wait, kill, delete, state and list.  runc is
 * started with posix_spawnp() and an argument vector, never a shell; its
 * stderr becomes the error message.  See include/deis/runtime.h and
 * docs/runtime.md; the bundle it runs is made by runtime_bundle.c, what
 * runc prints is parsed by runtime_state.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deis/spawn.h"
#include "deis/buf.h"
#include "runtime_internal.h"

extern char **environ;

/* ------------------------------------------------------------ running runc */

static const char *runc_path(void)
{
	const char *p = getenv("DEIS_RUNC");

	return p && *p ? p : "runc";
}

/*
 * Starts runc with args (after argv[0]) and the given stdio (-1: /dev/null).
 * Every other fd of ours is closed in the child.
 */
static int spawn_runc(const char *const *args, int in, int out, int errfd,
		      pid_t *pid, struct deis_error *err)
{
	const char *argv[32];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	const int fds[3] = { in, out, errfd };
	size_t n = 0;
	int i, r;

	argv[n++] = runc_path();
	for (; *args && n < sizeof(argv) / sizeof(argv[0]) - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;

	posix_spawn_file_actions_init(&fa);
	for (i = 0; i < 3; i++) {
		if (fds[i] < 0)
			posix_spawn_file_actions_addopen(&fa, i, "/dev/null",
							 i ? O_WRONLY : O_RDONLY, 0);
		else
			posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	}
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* A clean signal state: runc forwards signals to the container. */
	deis_spawnattr_init(&attr, 0);
	r = posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r)
		return deis_error_set(err, r, "starting %s: %s", argv[0],
				      strerror(r));
	return 0;
}

static int wait_pid(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static void drain(int *fd, struct deis_buf *b)
{
	char block[4096];
	ssize_t n = read(*fd, block, sizeof(block));

	if (n > 0) {
		if (b->len < (64u << 20))
			deis_buf_add(b, block, (size_t)n);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * Runs runc with args, collecting its stdout and stderr; returns its exit
 * status (0..255) or <0.  A runc killed by a signal is -EIO.
 */
static int runc_capture(const char *const *args, struct deis_buf *out,
			struct deis_buf *errout, struct deis_error *err)
{
	int po[2], pe[2], status, r;
	pid_t pid;

	if (pipe2(po, O_CLOEXEC) < 0)
		return deis_error_set(err, errno, "pipe: %s", strerror(errno));
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return deis_error_set(err, errno, "pipe: %s", strerror(errno));
	}
	r = spawn_runc(args, -1, po[1], pe[1], &pid, err);
	close(po[1]);
	close(pe[1]);
	if (r < 0) {
		close(po[0]);
		close(pe[0]);
		return r;
	}
	while (po[0] >= 0 || pe[0] >= 0) {
		struct pollfd p[2] = {
			{ .fd = po[0], .events = POLLIN },
			{ .fd = pe[0], .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (po[0] >= 0 && p[0].revents)
			drain(&po[0], out);
		if (pe[0] >= 0 && p[1].revents)
			drain(&pe[0], errout);
	}
	if (po[0] >= 0)
		close(po[0]);
	if (pe[0] >= 0)
		close(pe[0]);
	if ((r = wait_pid(pid, &status)) < 0)
		return deis_error_set(err, -r, "waiting for runc: %s", strerror(-r));
	if (!WIFEXITED(status))
		return deis_error_set(err, EIO, "runc died of signal %d",
				      WTERMSIG(status));
	return WEXITSTATUS(status);
}

/* The last line of runc's stderr, for messages. */
static const char *last_line(struct deis_buf *b)
{
	char *s, *nl;

	if (!b->data)
		return "";
	while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
		b->data[--b->len] = '\0';
	nl = strrchr(b->data, '\n');
	s = nl ? nl + 1 : b->data;
	/* runc logs 'time="..." level=error msg="the message"' */
	nl = strstr(s, "msg=\"");
	if (nl) {
		char *end;

		s = nl + 5;
		end = strrchr(s, '"');
		if (end)
			*end = '\0';
	}
	return s;
}

/* Maps a failed runc command's stderr to an errno. */
static int runc_errno(const char *msg)
{
	if (strstr(msg, "does not exist") || strstr(msg, "not found"))
		return ENOENT;
	if (strstr(msg, "not running") || strstr(msg, "process already finished"))
		return ESRCH;
	if (strstr(msg, "already exists"))
		return EEXIST;
	if (strstr(msg, "cannot delete container") || strstr(msg, "is running"))
		return EBUSY;
	return EIO;
}

/*
 * Runs the runc command what (on container id, unless NULL), its stdout
 * into out (unless NULL); 0 when it succeeds.  When it fails, its last
 * line on stderr is the message ("runc kill ID: ...") and gives the errno.
 */
static int runc_cmd(const char *const *args, const char *what, const char *id,
		    struct deis_buf *out, struct deis_error *err)
{
	struct deis_buf ignored = DEIS_BUF_INIT, eo = DEIS_BUF_INIT;
	const char *sp = id ? " " : "";
	int r = runc_capture(args, out ? out : &ignored, &eo, err);

	if (!id)
		id = "";
	if (r > 0) {
		const char *m = last_line(&eo);

		r = deis_error_set(err, runc_errno(m), "runc %s%s%s: %s", what, sp,
				   id, *m ? m : "failed");
	} else if (r < 0) {
		deis_error_prefix(err, "runc %s%s%s", what, sp, id);
	}
	deis_buf_release(&ignored);
	deis_buf_release(&eo);
	return r;
}

pid_t deis_runtime_run(const char *state_dir, const char *bundle_dir,
		       const char *id, const struct deis_runtime_io *io,
		       int flags, struct deis_error *err)
{
	const char *args[16];
	char pidfile[PATH_MAX];
	size_t n = 0;
	pid_t pid;
	int r, status;
	const struct deis_runtime_io none = { -1, -1, -1 };

	if ((r = check_state_dir(state_dir, err)) < 0 ||
	    (r = deis_runtime_check_id(id, err)) < 0)
		return r;
	if (!bundle_dir || !*bundle_dir)
		return deis_error_set(err, EINVAL, "no bundle directory");
	if (!io)
		io = &none;
	args[n++] = "--root";
	args[n++] = state_dir;
	args[n++] = "run";
	args[n++] = "--bundle";
	args[n++] = bundle_dir;
	if (flags & DEIS_RUNTIME_KEEP)
		args[n++] = "--keep";
	if (flags & DEIS_RUNTIME_DETACH) {
		if ((r = join(pidfile, sizeof(pidfile), bundle_dir, "init.pid",
			      err)) < 0)
			return r;
		unlink(pidfile);
		args[n++] = "--detach";
		args[n++] = "--pid-file";
		args[n++] = pidfile;
	}
	args[n++] = id;
	args[n] = NULL;
	r = spawn_runc(args, io->in, io->out, io->err, &pid, err);
	if (r < 0)
		return deis_error_prefix(err, "running container %s", id);
	if (!(flags & DEIS_RUNTIME_DETACH))
		return pid;

	/* runc run -d exits once the container's process runs. */
	if ((r = wait_pid(pid, &status)) < 0)
		return deis_error_set(err, -r, "waiting for runc: %s", strerror(-r));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return deis_error_set(err, EIO,
				      "runc run -d %s failed (status %d; its "
				      "messages are on the container's stderr)",
				      id, WIFEXITED(status) ? WEXITSTATUS(status) :
				      128 + WTERMSIG(status));
	{
		char buf[32];
		ssize_t got;
		int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
		long v;

		if (fd < 0)
			return deis_error_set(err, errno, "reading %s: %s", pidfile,
					      strerror(errno));
		got = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (got <= 0)
			return deis_error_set(err, EIO, "empty pid file %s", pidfile);
		buf[got] = '\0';
		v = strtol(buf, NULL, 10);
		if (v <= 0 || v > INT_MAX)
			return deis_error_set(err, EIO, "bad pid file %s", pidfile);
		return (pid_t)v;
	}
}

int deis_runtime_wait(pid_t pid, int nohang, struct deis_runtime_exit *ex,
		      struct deis_error *err)
{
	int status;
	pid_t r;

	do {
		r = waitpid(pid, &status, nohang ? WNOHANG : 0);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return deis_error_set(err, errno, "waiting for %d: %s", (int)pid,
				      strerror(errno));
	if (r == 0)
		return 0;
	if (WIFEXITED(status)) {
		ex->code = WEXITSTATUS(status);
		ex->signal = ex->code > 128 && ex->code <= 128 + 64 ?
			ex->code - 128 : 0;
	} else {
		ex->signal = WTERMSIG(status);
		ex->code = 128 + ex->signal;
	}
	return 1;
}

static int runtime_kill(const char *state_dir, const char *id, int signal,
			int all, struct deis_error *err)
{
	char sig[16];
	const char *args[] = { "--root", state_dir, "kill", all ? "--all" : id,
			       all ? id : sig, all ? sig : NULL, NULL };
	int r;

	if ((r = check_state_dir(state_dir, err)) < 0 ||
	    (r = deis_runtime_check_id(id, err)) < 0)
		return r;
	if (signal <= 0 || signal > 64)
		return deis_error_set(err, EINVAL, "bad signal %d", signal);
	snprintf(sig, sizeof(sig), "%d", signal);
	return runc_cmd(args, "kill", id, NULL, err);
}

int deis_runtime_kill(const char *state_dir, const char *id, int signal,
		      struct deis_error *err)
{
	return runtime_kill(state_dir, id, signal, 0, err);
}

int deis_runtime_kill_all(const char *state_dir, const char *id, int signal,
			  struct deis_error *err)
{
	return runtime_kill(state_dir, id, signal, 1, err);
}

int deis_runtime_delete(const char *state_dir, const char *id, int force,
			struct deis_error *err)
{
	const char *args[] = { "--root", state_dir, "delete",
			       force ? "--force" : id, force ? id : NULL, NULL };
	int r;

	if ((r = check_state_dir(state_dir, err)) < 0 ||
	    (r = deis_runtime_check_id(id, err)) < 0)
		return r;
	return runc_cmd(args, "delete", id, NULL, err);
}

int deis_runtime_state(const char *state_dir, const char *id,
		       enum deis_runtime_status *status, pid_t *pid,
		       struct deis_error *err)
{
	const char *args[] = { "--root", state_dir, "state", id, NULL };
	struct deis_buf out = DEIS_BUF_INIT;
	int r;

	if ((r = check_state_dir(state_dir, err)) < 0 ||
	    (r = deis_runtime_check_id(id, err)) < 0)
		return r;
	r = runc_cmd(args, "state", id, &out, err);
	if (r == 0)
		r = deis_runtime_parse_state(deis_buf_str(&out), status, pid, err);
	deis_buf_release(&out);
	return r;
}

int deis_runtime_list(const char *state_dir, struct deis_runtime_list *l,
		      struct deis_error *err)
{
	const char *args[] = { "--root", state_dir, "list", "--format", "json",
			       NULL };
	struct deis_buf out = DEIS_BUF_INIT;
	int r;

	l->items = NULL;
	l->n = 0;
	if ((r = check_state_dir(state_dir, err)) < 0)
		return r;
	r = runc_cmd(args, "list", NULL, &out, err);
	if (r == 0) {
		const char *s = deis_buf_str(&out);

		/* an empty or missing state dir prints nothing or "null" */
		r = s[strspn(s, " \t\r\n")] ? deis_runtime_parse_list(s, l, err) : 0;
	}
	deis_buf_release(&out);
	return r;
}
