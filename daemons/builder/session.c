/*
 * session.c - one SSH connection to deis-builder, in its own process.
 *
 * main.c forks a child per accepted connection; the child runs
 * builder_session() and exits.  Everything here is single-threaded around
 * one libssh event loop (ssh_event): key exchange, public-key
 * authentication, the channel's requests, then git's pipes.
 *
 *   auth        public keys only; the key's SHA256 fingerprint must belong
 *               to a platform user (deis_db_key_owner); the SSH user name
 *               ("git") is not used
 *   channel     one "session" channel; a pty request is recorded (a pty
 *               is allocated only for `run`); env requests other
 *               than GIT_PROTOCOL, LANG and LC_* are refused
 *   requests    exec of git-receive-pack or git-upload-pack on an app the
 *               user may use (command.c, access.c), or of
 *               "run <app> <command>": a one-off container of the app on
 *               the channel, with a pty when one was requested (run.c);
 *               the "sftp" subsystem: sftp-server as the key's user,
 *               rooted at the tree (sftp.c); a shell, any other command,
 *               any other subsystem get "deis: only git push ... is
 *               supported ..." on the channel's stderr and exit status 1
 *   git         the real git (repo.c) with stdin fed from the channel and
 *               stdout / stderr copied to the channel's data / extended
 *               data; its exit status is the channel's; sftp-server's the
 *               same, but its stderr (its log, -e) goes to ours, a line
 *               at a time, never to the client
 *   other       port forwarding, X11 forwarding, a second channel, other
 *               channel types are refused by libssh's default replies, and
 *               logged; an agent forwarding request is logged and nothing
 *               done (no agent channel is ever opened)
 *
 * The connection has login_grace seconds (alarm) from accept to a git
 * command; a push itself has no time limit.  A receive-pack holds the app's
 * push lock (the platform's, in PostgreSQL: repo.c) for its whole run.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "deis/buf.h"
#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/db.h"
#include "deis/log.h"
#include "deis/validate.h"
#include "builder.h"

#define MAX_AUTH_TRIES	10
#define IO_CHUNK	32768

enum request {
	REQ_NONE,
	REQ_EXEC,
	REQ_SHELL,
	REQ_SUBSYSTEM,
};

struct session {
	ssh_session ssh;
	ssh_event event;
	ssh_channel channel;
	struct ssh_channel_callbacks_struct channel_cb;
	struct deis_db *db;
	const char *peer;
	char user[64];		/* the platform user, once authenticated */
	char fp[64];		/* the fingerprint of the key used */
	bool authed;
	int auth_tries;
	enum request req;
	char *cmd;		/* exec command or subsystem name */
	char git_protocol[80];
	bool pty;
	char term[64];		/* the pty request's TERM */
	int cols, rows;
	/* git */
	pid_t pid;
	int fds[3];		/* git's stdin, stdout, stderr (our ends) */
	bool out_eof, err_eof, in_closed, watching_in;
	struct deis_buf pending;	/* channel data not yet written to git */
	size_t pending_off;
	bool lost;		/* the connection broke */
	struct deis_buf errline;	/* sftp-server's log line being read */
	int notify;		/* told the daemon "authenticated"; -1 after */
};

static struct deis_db *db_get(struct session *s, struct deis_error *err)
{
	if (!s->db && deis_db_open(deis_conf.database, &s->db, err) < 0)
		return NULL;
	return s->db;
}

/* ---- authentication ---- */

static int auth_pubkey(ssh_session ssh, const char *sshuser, struct ssh_key_struct *key,
		       char state, void *userdata)
{
	struct session *s = userdata;
	struct deis_error err = DEIS_ERROR_INIT;
	char fp[64], owner[64];

	(void)ssh;
	if (++s->auth_tries > MAX_AUTH_TRIES || s->authed)
		return SSH_AUTH_DENIED;
	if (state != SSH_PUBLICKEY_STATE_NONE && state != SSH_PUBLICKEY_STATE_VALID)
		return SSH_AUTH_DENIED;
	if (builder_fingerprint(key, fp, sizeof(fp)) < 0)
		return SSH_AUTH_DENIED;

	struct deis_db *db = db_get(s, &err);
	if (!db || deis_db_key_owner(db, fp, owner, sizeof(owner), &err) < 0) {
		if (err.code == ENOENT)
			deis_log(LOG_NOTICE, "%s: unknown key %s (ssh user '%s') refused",
				 s->peer, fp, sshuser ? sshuser : "");
		else
			deis_log(LOG_ERR, "%s: looking up key %s: %s", s->peer, fp, err.msg);
		return SSH_AUTH_DENIED;
	}
	if (state == SSH_PUBLICKEY_STATE_NONE)
		return SSH_AUTH_SUCCESS;	/* "this key would do": sign with it */
	snprintf(s->user, sizeof(s->user), "%s", owner);
	snprintf(s->fp, sizeof(s->fp), "%s", fp);
	s->authed = true;
	deis_log(LOG_INFO, "%s: authenticated %s (key %s)", s->peer, s->user, s->fp);
	if (s->notify >= 0) {
		/* From now on the daemon counts us as a session, not as a
		 * connection that may be closed to make room. */
		if (write(s->notify, "A", 1) != 1)
			deis_log(LOG_WARNING, "%s: telling the daemon: %s", s->peer,
				 strerror(errno));
		close(s->notify);
		s->notify = -1;
	}
	return SSH_AUTH_SUCCESS;
}

/* Whatever no callback took: logged, then libssh's default reply (a
 * refusal; for authentication, the list of methods: publickey). */
static int on_message(ssh_session ssh, ssh_message msg, void *userdata)
{
	struct session *s = userdata;
	int type = ssh_message_type(msg), sub = ssh_message_subtype(msg);

	(void)ssh;
	if (type == SSH_REQUEST_AUTH || type == SSH_REQUEST_SERVICE)
		deis_log(LOG_DEBUG, "%s: default reply to request %d/%d", s->peer, type, sub);
	else
		deis_log(LOG_NOTICE, "%s: %s: refused %s (type %d, subtype %d)", s->peer,
			 s->authed ? s->user : "(not authenticated)",
			 type == SSH_REQUEST_GLOBAL ? "global request (port forwarding?)" :
			 type == SSH_REQUEST_CHANNEL_OPEN ? "channel (forwarding?)" :
			 type == SSH_REQUEST_CHANNEL && sub == SSH_CHANNEL_REQUEST_X11 ?
			 "channel request (X11 forwarding)" :
			 type == SSH_REQUEST_CHANNEL ? "channel request" : "request",
			 type, sub);
	return 1;
}

/* Agent forwarding: libssh neither replies to the request (OpenSSH wants
 * no reply) nor opens anything without a callback; this one says so. */
static void on_agent(ssh_session ssh, ssh_channel ch, void *userdata)
{
	struct session *s = userdata;

	(void)ssh, (void)ch;
	deis_log(LOG_NOTICE, "%s: %s: refused channel request (agent forwarding)", s->peer,
		 s->user);
}

/* ---- channel requests: only recorded here, acted on in the loop ---- */

static int on_pty(ssh_session ssh, ssh_channel ch, const char *term, int w, int h,
		  int pw, int ph, void *userdata)
{
	struct session *s = userdata;

	(void)ssh, (void)ch, (void)pw, (void)ph;
	s->pty = true;
	/* TERM reaches the container's environment: a plain name only. */
	s->term[0] = '\0';
	if (term && strlen(term) < sizeof(s->term) &&
	    strspn(term, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+") ==
	    strlen(term))
		snprintf(s->term, sizeof(s->term), "%s", term);
	s->cols = w;
	s->rows = h;
	return 0;
}

static int on_pty_change(ssh_session ssh, ssh_channel ch, int w, int h, int pw, int ph,
			 void *userdata)
{
	struct session *s = userdata;

	(void)ssh, (void)ch, (void)pw, (void)ph;
	s->cols = w;
	s->rows = h;
	if (s->pty && s->req == REQ_EXEC && s->fds[2] < 0)
		builder_run_resize(s->fds[1], w, h);
	return 0;
}

static int on_shell(ssh_session ssh, ssh_channel ch, void *userdata)
{
	struct session *s = userdata;

	(void)ssh, (void)ch;
	if (s->req != REQ_NONE)
		return 1;
	s->req = REQ_SHELL;
	return 0;
}

/* A channel's one request with a text (a second one is refused). */
static int take_request(struct session *s, enum request req, const char *text)
{
	if (s->req != REQ_NONE)
		return 1;
	s->req = req;
	s->cmd = strdup(text ? text : "");
	return s->cmd ? 0 : 1;
}

static int on_exec(ssh_session ssh, ssh_channel ch, const char *command, void *userdata)
{
	(void)ssh, (void)ch;
	return take_request(userdata, REQ_EXEC, command);
}

static int on_subsystem(ssh_session ssh, ssh_channel ch, const char *name, void *userdata)
{
	(void)ssh, (void)ch;
	return take_request(userdata, REQ_SUBSYSTEM, name);
}

static int on_env(ssh_session ssh, ssh_channel ch, const char *name, const char *value,
		  void *userdata)
{
	struct session *s = userdata;
	char shown[80];

	(void)ssh, (void)ch;
	if (!name || !value)
		return 1;
	if (!strcmp(name, "GIT_PROTOCOL")) {
		snprintf(s->git_protocol, sizeof(s->git_protocol), "%s", value);
		return 0;
	}
	if (!strcmp(name, "LANG") || !strncmp(name, "LC_", 3))
		return 0;	/* harmless, and not passed on */
	deis_log(LOG_NOTICE, "%s: %s: refused env request %s", s->peer, s->user,
		 deis_printable(shown, sizeof(shown), name, strlen(name)));
	return 1;
}

static ssh_channel on_channel_open(ssh_session ssh, void *userdata)
{
	struct session *s = userdata;

	if (!s->authed || s->channel)
		return NULL;
	s->channel = ssh_channel_new(ssh);
	if (!s->channel)
		return NULL;
	memset(&s->channel_cb, 0, sizeof(s->channel_cb));
	s->channel_cb.userdata = s;
	s->channel_cb.channel_pty_request_function = on_pty;
	s->channel_cb.channel_pty_window_change_function = on_pty_change;
	s->channel_cb.channel_shell_request_function = on_shell;
	s->channel_cb.channel_exec_request_function = on_exec;
	s->channel_cb.channel_subsystem_request_function = on_subsystem;
	s->channel_cb.channel_env_request_function = on_env;
	s->channel_cb.channel_auth_agent_req_function = on_agent;
	ssh_callbacks_init(&s->channel_cb);
	ssh_set_channel_callbacks(s->channel, &s->channel_cb);
	return s->channel;
}

/* ---- ending a channel ---- */

static void finish(struct session *s, int status)
{
	if (!s->channel || ssh_channel_is_closed(s->channel))
		return;
	ssh_channel_request_send_exit_status(s->channel, status);
	ssh_channel_send_eof(s->channel);
	ssh_channel_close(s->channel);
}

static void refuse(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tell(struct session *s, const char *what, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* "deis: <text>" on the channel's stderr (the user's terminal), and in
 * our log after what. */
static void tell(struct session *s, const char *what, const char *fmt, va_list ap)
{
	struct deis_buf b = DEIS_BUF_INIT;

	deis_buf_adds(&b, "deis: ");
	deis_buf_vaddf(&b, fmt, ap);
	deis_log(LOG_NOTICE, "%s: %s: %s: %s", s->peer, s->user, what, b.data + 6);
	deis_buf_addch(&b, '\n');
	ssh_channel_write_stderr(s->channel, b.data, (uint32_t)b.len);
	deis_buf_release(&b);
}

/* "deis: <why>" on the channel's stderr, exit status 1. */
static void refuse(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tell(s, "refused", fmt, ap);
	va_end(ap);
	finish(s, 1);
}

static void note(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "deis: <text>" on the channel's stderr; the request goes on. */
static void note(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tell(s, "told", fmt, ap);
	va_end(ap);
}

/* ---- copying ---- */

/* sftp-server's log (its stderr): our log, a line at a time, prefixed
 * with the connection and the user; a line too long is cut. */
static void log_lines(struct session *s, const char *buf, size_t n, bool eof)
{
	for (size_t i = 0; i <= n; i++) {
		bool end = i == n ? eof && s->errline.len : buf[i] == '\n';

		if (!end) {
			if (i < n && buf[i] != '\r' && s->errline.len < 1024)
				deis_buf_addch(&s->errline, buf[i]);
			continue;
		}
		char shown[1100];
		deis_log(LOG_INFO, "%s: %s: sftp-server: %s", s->peer, s->user,
			 deis_printable(shown, sizeof(shown), s->errline.data,
					s->errline.len));
		deis_buf_reset(&s->errline);
	}
}

static int copy_out(int fd, struct session *s, bool is_err)
{
	char buf[IO_CHUNK];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (is_err && s->req == REQ_SUBSYSTEM && !(n < 0 && (errno == EAGAIN || errno == EINTR))) {
		log_lines(s, buf, n > 0 ? (size_t)n : 0, n <= 0);
		if (n <= 0) {
			s->err_eof = true;
			ssh_event_remove_fd(s->event, fd);
		}
		return 0;
	}

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		if (is_err)
			s->err_eof = true;
		else
			s->out_eof = true;
		ssh_event_remove_fd(s->event, fd);
		return 0;
	}
	int w = is_err ? ssh_channel_write_stderr(s->channel, buf, (uint32_t)n)
		       : ssh_channel_write(s->channel, buf, (uint32_t)n);
	if (w == SSH_ERROR)
		s->lost = true;
	return 0;
}

static int on_git_out(socket_t fd, int revents, void *userdata)
{
	(void)revents;
	return copy_out(fd, userdata, false);
}

static int on_git_err(socket_t fd, int revents, void *userdata)
{
	(void)revents;
	return copy_out(fd, userdata, true);
}

static int on_git_in(socket_t fd, int revents, void *userdata)
{
	struct session *s = userdata;

	(void)revents;
	ssh_event_remove_fd(s->event, fd);
	s->watching_in = false;
	return 0;
}

static void close_git_stdin(struct session *s)
{
	if (s->in_closed)
		return;
	if (s->watching_in)
		ssh_event_remove_fd(s->event, s->fds[0]);
	s->watching_in = false;
	close(s->fds[0]);
	s->in_closed = true;
}

/* Moves what the client sent on to git's stdin, as far as its pipe takes
 * it; reads more from the channel only when all of it is written, so the
 * SSH window is the flow control. */
static void feed_git(struct session *s)
{
	while (!s->in_closed) {
		if (s->pending_off == s->pending.len) {
			char buf[IO_CHUNK];

			deis_buf_reset(&s->pending);
			s->pending_off = 0;
			int n = ssh_channel_read_nonblocking(s->channel, buf, sizeof(buf), 0);
			if (n == SSH_EOF) {	/* the client is done sending */
				close_git_stdin(s);
				return;
			}
			if (n < 0) {
				s->lost = true;
				close_git_stdin(s);
				return;
			}
			if (n == 0) {
				if (ssh_channel_is_eof(s->channel) ||
				    ssh_channel_is_closed(s->channel))
					close_git_stdin(s);
				return;
			}
			deis_buf_add(&s->pending, buf, (size_t)n);
		}
		ssize_t w = write(s->fds[0], s->pending.data + s->pending_off,
				  s->pending.len - s->pending_off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if (!s->watching_in &&
			    ssh_event_add_fd(s->event, s->fds[0], POLLOUT, on_git_in, s) == SSH_OK)
				s->watching_in = true;
			return;
		}
		if (w < 0) {	/* git stopped reading (EPIPE): drop the rest */
			s->pending_off = s->pending.len;
			close_git_stdin(s);
			return;
		}
		s->pending_off += (size_t)w;
	}
}

/* Runs git to its end; returns its exit status for the client. */
static int pump(struct session *s)
{
	int status = -1, st;
	long long exited_at = 0;

	ssh_event_add_fd(s->event, s->fds[1], POLLIN, on_git_out, s);
	if (s->fds[2] >= 0)
		ssh_event_add_fd(s->event, s->fds[2], POLLIN, on_git_err, s);
	else
		s->err_eof = true;	/* a pty: one stream */
	while (!(s->out_eof && s->err_eof) && !s->lost) {
		feed_git(s);
		if (ssh_event_dopoll(s->event, 100) == SSH_ERROR &&
		    ssh_get_status(s->ssh) & (SSH_CLOSED | SSH_CLOSED_ERROR))
			s->lost = true;
		/* A client that was killed, or whose network went (TCP
		 * keepalive, main.c), leaves a socket that libssh closed
		 * without dopoll failing; one that closed the channel before
		 * our output ended is gone too.  Either way: hang up on what
		 * runs for it, rather than let it run for nobody. */
		if (!ssh_is_connected(s->ssh) ||
		    ssh_get_status(s->ssh) & (SSH_CLOSED | SSH_CLOSED_ERROR) ||
		    ssh_channel_is_closed(s->channel))
			s->lost = true;
		if (status < 0 && waitpid(s->pid, &st, WNOHANG) == s->pid) {
			status = st;
			exited_at = deis_mono_ms();
		}
		/* git is gone but something it started keeps its pipes open. */
		if (status >= 0 && deis_mono_ms() - exited_at > 2000)
			break;
	}
	close_git_stdin(s);
	if (!s->out_eof)
		ssh_event_remove_fd(s->event, s->fds[1]);
	if (!s->err_eof)
		ssh_event_remove_fd(s->event, s->fds[2]);
	close(s->fds[1]);
	if (s->fds[2] >= 0)
		close(s->fds[2]);
	if (status < 0) {
		/* A pty's master is closed by now: its foreground (`deis-scheduler
		 * run`) got SIGHUP.  SIGTERM for pipes (and git). */
		if (s->lost)
			kill(s->pid, SIGTERM);
		/* git, or `deis-scheduler run` (which passes the signal on to its
		 * container and SIGKILLs it builder_run_grace seconds later):
		 * SIGKILL if it outlasts 60 s. */
		long long until = deis_mono_ms() + 60000;
		pid_t w;
		st = 0;
		while ((w = waitpid(s->pid, &st, WNOHANG)) != s->pid) {
			if (w < 0 && errno != EINTR)
				break;
			if (s->lost && deis_mono_ms() > until) {
				kill(s->pid, SIGKILL);
				while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
					;
				break;
			}
			usleep(2000);
		}
		status = st;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* ---- the request ---- */

static int pump(struct session *s);

/* Whether the session's user may use app (its id in *app_id); refuses the
 * channel when not. */
static bool may_use(struct session *s, const char *app, long *app_id)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_db *db = db_get(s, &err);
	int r = db ? builder_app_allowed(db, app, s->user, app_id, &err) : -err.code;

	if (r == -ENOENT || r == -EACCES) {
		deis_log(LOG_NOTICE, "%s: %s: %s", s->peer, s->user, err.msg);
		refuse(s, "app '%s' does not exist, or %s may not use it", app, s->user);
		return false;
	}
	if (r < 0) {
		deis_log(LOG_ERR, "%s: %s: checking access to %s: %s", s->peer, s->user, app,
			 err.msg);
		refuse(s, "the platform cannot check access right now; try again later");
		return false;
	}
	return true;
}

/* The sftp subsystem: sftp-server as the user, rooted at the tree. */
static void run_sftp(struct session *s)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct sftp_ident id;
	struct deis_db *db = db_get(s, &err);

	if (builder_sftp_tree_check(&err) < 0) {
		deis_log(LOG_WARNING, "%s: %s: sftp: %s", s->peer, s->user, err.msg);
		refuse(s, "sftp is not available: %s", err.msg);
		return;
	}
	if (!db || builder_sftp_identity(db, s->user, &id, &err) < 0) {
		deis_log(LOG_ERR, "%s: %s: sftp: %s", s->peer, s->user, err.msg);
		refuse(s, "%s", err.code == EPERM ? err.msg :
		       "sftp cannot find who you are right now (see the builder's log)");
		return;
	}
	if (builder_sftp_spawn(&id, s->peer, &s->pid, s->fds, &err) < 0) {
		deis_log(LOG_ERR, "%s: %s: starting sftp-server: %s", s->peer, s->user, err.msg);
		refuse(s, "cannot start sftp (see the builder's log)");
		return;
	}
	alarm(0);	/* a mount stays as long as its user likes */
	deis_log(LOG_INFO, "%s: %s: sftp started (pid %d, uid %u, gid %u)", s->peer, s->user,
		 (int)s->pid, (unsigned)id.uid, (unsigned)id.gid);
	int status = pump(s);
	deis_log(LOG_INFO, "%s: %s: sftp ended with status %d%s", s->peer, s->user, status,
		 s->lost ? " (connection lost)" : "");
	if (!s->lost)
		finish(s, status);
}

/* `run <app> <command>`: a one-off container on the channel (run.c). */
static void run_oneoff(struct session *s)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char app[BUILDER_APP_MAX];
	const char *command = NULL;

	if (builder_parse_run(s->cmd, app, &command, &err) < 0) {
		refuse(s, "%s", err.msg);
		return;
	}
	if (!may_use(s, app, NULL))
		return;
	if (builder_run_spawn(app, s->user, command, s->pty ? s->term : NULL, s->cols,
			      s->rows, &s->pid, s->fds, &err) < 0) {
		deis_log(LOG_ERR, "%s: %s: run on %s: %s", s->peer, s->user, app, err.msg);
		refuse(s, "cannot start the one-off container (see the builder's log)");
		return;
	}
	alarm(0);	/* an interactive session has no time limit */
	deis_log(LOG_INFO, "%s: %s: run on %s started (pid %d%s)", s->peer, s->user, app,
		 (int)s->pid, s->pty ? ", terminal" : "");
	int status = pump(s);
	deis_log(LOG_INFO, "%s: %s: run on %s: exited with status %d%s", s->peer, s->user,
		 app, status, s->lost ? " (connection lost)" : "");
	if (!s->lost)
		finish(s, status);
}

/*
 * A push: the app's push lock, one for the whole platform, so a second
 * push of the app through any node's builder is refused at once; this
 * node's repository (made at its first push here); its deploy branches
 * at the platform's last build (repo.c: this node may have missed pushes
 * made through others).  Refuses the channel and returns false when one
 * of them fails; *lock is released by the caller.
 */
static bool push_prepare(struct session *s, const char *app, long app_id,
			 struct deis_db_lock **lock)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_db *db;
	char built[80];
	int r = builder_repo_lock(app_id, lock, &err);

	if (r == -EWOULDBLOCK) {
		refuse(s, "another push is in progress for app '%s'; try again when it "
		       "has finished", app);
		return false;
	}
	if (r < 0) {
		deis_log(LOG_ERR, "%s: %s: taking the push lock: %s", s->peer, app, err.msg);
		refuse(s, "cannot take the push lock of '%s' right now; try again later", app);
		return false;
	}
	if (builder_repo_prepare(app, app_id, &err) < 0 || !(db = db_get(s, &err)) ||
	    deis_db_last_build_commit(db, app_id, built, sizeof(built), &err) < 0 ||
	    builder_repo_sync(app, built, true, &err) < 0) {
		deis_log(LOG_ERR, "%s: %s: %s", s->peer, app, err.msg);
		refuse(s, "cannot prepare the repository of '%s' (see the builder's log)", app);
		return false;
	}
	return true;
}

/*
 * A fetch takes no lock and changes nothing, but for one thing: when this
 * node's repository is behind the platform's last build and has it (it
 * was pushed here once), its deploy branches are moved to it, under the
 * push lock if that is free.  Code pushed only through other nodes is not
 * here: the fetcher is told, rather than served old code in silence.
 */
static bool fetch_prepare(struct session *s, const char *app, long app_id)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_db_lock *lock = NULL;
	struct deis_db *db = db_get(s, &err);
	char built[80] = "";

	if (!db || deis_db_last_build_commit(db, app_id, built, sizeof(built), &err) < 0) {
		deis_log(LOG_WARNING, "%s: %s: the last build of %s: %s", s->peer, s->user, app,
			 err.msg);
		built[0] = '\0';
	}
	if (builder_repo_check(app, app_id, &err) < 0) {
		if (built[0])
			refuse(s, "the code of app '%s' (its last build, %.7s) was pushed through "
			       "another node and is not on this one: fetch through that node's "
			       "builder, or push to this one", app, built);
		else
			refuse(s, "app '%s' has no code yet: git push to it first", app);
		return false;
	}
	int st = builder_repo_sync(app, built, false, &err);
	if (st == BUILDER_REPO_BEHIND && builder_repo_lock(app_id, &lock, &err) == 0) {
		st = builder_repo_sync(app, built, true, &err);
		deis_db_unlock(lock);
	}
	if (st < 0)
		deis_log(LOG_WARNING, "%s: %s: %s", s->peer, app, err.msg);
	if (st == BUILDER_REPO_MISSING)
		note(s, "the last build of app '%s' (%.7s) was pushed through another node and "
		     "is not on this one: what you fetch here is older", app, built);
	return true;
}

static void run_request(struct session *s)
{
	struct deis_error err = DEIS_ERROR_INIT;
	enum builder_service service;
	char app[BUILDER_APP_MAX], shown[200];
	const char *how = "git push ssh://git@HOST:PORT/<app>.git (or git fetch / git clone), "
			  "ssh -t git@HOST -p PORT run <app> <command>, "
			  "or the tree: sshfs -p PORT git@HOST: DIR (sftp)";
	struct deis_db_lock *lock = NULL;

	if (s->req == REQ_SHELL) {
		refuse(s, "only git push is supported here, no shell%s: %s", s->pty ?
		       " (interactive)" : "", how);
		return;
	}
	if (s->req == REQ_SUBSYSTEM && !strcmp(s->cmd, "sftp")) {
		run_sftp(s);
		return;
	}
	if (s->req == REQ_SUBSYSTEM) {
		refuse(s, "only git push is supported here, no subsystem but sftp ('%s'): %s",
		       deis_printable(shown, sizeof(shown), s->cmd, strlen(s->cmd)), how);
		return;
	}
	if (!strncmp(s->cmd, "run ", 4) || !strcmp(s->cmd, "run")) {
		run_oneoff(s);
		return;
	}
	if (builder_parse_command(s->cmd, &service, app, &err) < 0) {
		if (err.code == EPERM)
			refuse(s, "only git push is supported here; '%s' is refused: %s",
			       deis_printable(shown, sizeof(shown), s->cmd, strlen(s->cmd)),
			       how);
		else
			refuse(s, "%s", err.msg);
		return;
	}
	long app_id = 0;
	if (!may_use(s, app, &app_id))
		return;
	if (service == BUILDER_RECEIVE_PACK ? !push_prepare(s, app, app_id, &lock) :
					      !fetch_prepare(s, app, app_id))
		goto out;
	/* Nothing below needs the session's connection, and a push holds
	 * its lock's: one connection per push, as before the lock was in
	 * the database. */
	deis_db_close(s->db);
	s->db = NULL;
	if (builder_git_spawn(service, app, s->user, s->git_protocol, &s->pid, s->fds,
			      &err) < 0) {
		deis_log(LOG_ERR, "%s: %s: starting git: %s", s->peer, app, err.msg);
		refuse(s, "cannot start git (see the builder's log)");
		goto out;
	}
	alarm(0);	/* the push itself has no time limit */
	const char *what = service == BUILDER_RECEIVE_PACK ? "push to" : "fetch from";
	deis_log(LOG_INFO, "%s: %s: %s %s started (git pid %d)", s->peer, s->user, what,
		 app, (int)s->pid);
	int status = pump(s);
	deis_log(status ? LOG_NOTICE : LOG_INFO, "%s: %s: %s %s: git exited with status %d%s",
		 s->peer, s->user, what, app, status, s->lost ? " (connection lost)" : "");
	if (lock && deis_db_lock_lost(lock))
		deis_log(LOG_WARNING, "%s: %s: the push lock of %s was lost during the push (the "
			 "database ended its session): another push may have run meanwhile",
			 s->peer, s->user, app);
	if (!s->lost)
		finish(s, status);
out:
	deis_db_unlock(lock);
}

int builder_session(ssh_bind bind, int fd, const char *peer, int notify)
{
	struct session s = { .peer = peer, .fds = { -1, -1, -1 }, .notify = notify };
	struct ssh_server_callbacks_struct server_cb = {
		.userdata = &s,
		.auth_pubkey_function = auth_pubkey,
		.channel_open_request_session_function = on_channel_open,
	};
	int rc = 1;

	alarm((unsigned)builder_conf.login_grace);
	s.ssh = ssh_new();
	if (!s.ssh) {
		close(fd);
		return 1;
	}
	if (ssh_bind_accept_fd(bind, s.ssh, fd) != SSH_OK) {
		deis_log(LOG_ERR, "%s: %s", peer, ssh_get_error(bind));
		close(fd);
		goto out;
	}
	ssh_callbacks_init(&server_cb);
	ssh_set_server_callbacks(s.ssh, &server_cb);
	if (ssh_handle_key_exchange(s.ssh) != SSH_OK) {
		deis_log(LOG_INFO, "%s: key exchange failed: %s", peer, ssh_get_error(s.ssh));
		goto out;
	}
	ssh_set_auth_methods(s.ssh, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_set_message_callback(s.ssh, on_message, &s);
	s.event = ssh_event_new();
	if (!s.event || ssh_event_add_session(s.event, s.ssh) != SSH_OK)
		goto out;

	/* Authentication, the channel, its requests. */
	while (s.req == REQ_NONE) {
		if (ssh_event_dopoll(s.event, 1000) == SSH_ERROR) {
			deis_log(LOG_DEBUG, "%s: closed: %s", peer, ssh_get_error(s.ssh));
			goto out;
		}
		if (s.auth_tries > MAX_AUTH_TRIES) {
			deis_log(LOG_NOTICE, "%s: too many authentication attempts", peer);
			goto out;
		}
	}
	run_request(&s);
	rc = 0;
	/* Let the client see the end of the channel and go. */
	for (long long end = deis_mono_ms() + 2000; !s.lost && deis_mono_ms() < end;) {
		if (!ssh_is_connected(s.ssh) || ssh_event_dopoll(s.event, 100) == SSH_ERROR)
			break;
	}
out:
	if (s.event) {
		ssh_event_remove_session(s.event, s.ssh);
		ssh_event_free(s.event);
	}
	if (s.channel)
		ssh_channel_free(s.channel);
	ssh_disconnect(s.ssh);
	ssh_free(s.ssh);
	if (s.db)
		deis_db_close(s.db);
	if (s.notify >= 0)
		close(s.notify);
	deis_buf_release(&s.pending);
	deis_buf_release(&s.errline);
	free(s.cmd);
	return rc;
}
