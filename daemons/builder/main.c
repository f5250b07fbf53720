/*
 * main.c - deis-builder: the Builder's SSH server (git push over SSH).
 *
 *   deis-builder [--config=FILE] [--OPTION=VALUE ...]
 *   deis-builder hook --config=FILE          (git's pre-receive hook)
 *
 * The daemon listens on builder_listen:ssh_port, accepts connections and
 * forks one child per connection (session.c), which does the key
 * exchange, the authentication, the one git command (or `run`, or the
 * sftp subsystem: sftp.c) and the copying, and exits.  The parent does nothing else: it reaps its children (SIGCHLD),
 * caps their number and, on SIGTERM or SIGINT, stops accepting, gives
 * running sessions builder_shutdown_timeout seconds to finish, then ends
 * them (SIGTERM to each session's process group, which holds its git,
 * then SIGKILL).  SIGHUP reloads the configuration (lib/daemon.c): the
 * limits and timeouts apply to the sessions that start after it.
 *
 * Connections that have not authenticated yet are capped apart from the
 * sessions (as OpenSSH's MaxStartups and PerSourceMaxStartups), so that
 * idle TCP connections cannot lock users out: at most
 * builder_max_startups_per_source from one address and builder_max_startups
 * in all.  A new connection over either limit is taken, and the oldest
 * unauthenticated connection of that scope (its address, or all) is closed
 * at once in its place: whoever holds connections open without
 * authenticating loses them to the next client, and a client that
 * authenticates in time (a few hundred ms) is never the oldest for long.
 * Each child tells the parent when its client has authenticated (a byte on
 * a pipe); from then on it counts against builder_max_sessions only.  An
 * unauthenticated connection also ends at builder_login_grace (the child's
 * alarm; the parent kills it a second later should that fail).
 *
 * The host key (ed25519) is made at the first start and kept in
 * $DEIS_HOME/builder/ssh_host_ed25519_key (0600, directory 0700); its
 * fingerprint is logged at every start and its public half is beside it.
 *
 * No shell is ever run: git is started with posix_spawn (repo.c), and the
 * hook is installed with a "#!" line naming this binary.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/log.h"
#include "builder.h"

struct builder_conf builder_conf;

static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ "builder_listen", DEIS_CONF_STR, &builder_conf.listen, "127.0.0.1",
	  "address the builder's SSH server listens on (its port is ssh_port); "
	  "0.0.0.0 or :: for pushes from other hosts" },
	{ "builder_git", DEIS_CONF_STR, &builder_conf.git, "/usr/bin/git",
	  "the git binary that serves pushes and fetches (receive-pack, upload-pack)" },
	{ "builder_max_sessions", DEIS_CONF_INT | DEIS_CONF_RELOAD, &builder_conf.max_sessions, "64",
	  "authenticated SSH sessions served at once; a connection that arrives "
	  "when that many run is closed at once" },
	{ "builder_max_startups", DEIS_CONF_INT | DEIS_CONF_RELOAD, &builder_conf.max_startups, "32",
	  "connections not yet authenticated, in all; past it the oldest such "
	  "connection is closed to make room" },
	{ "builder_max_startups_per_source", DEIS_CONF_INT | DEIS_CONF_RELOAD,
	  &builder_conf.max_startups_per_source, "10",
	  "connections not yet authenticated from one address; past it the oldest "
	  "one from that address is closed to make room" },
	{ "builder_login_grace", DEIS_CONF_INT | DEIS_CONF_RELOAD, &builder_conf.login_grace, "20",
	  "seconds a connection has to authenticate and ask for git (or run)" },
	{ "builder_keepalive", DEIS_CONF_INT | DEIS_CONF_RELOAD, &builder_conf.keepalive, "5",
	  "seconds between TCP keepalive probes of a quiet client; after 3 "
	  "unanswered (or data unacknowledged for 4 times this) the connection "
	  "is dropped, and a `run` on it ended" },
	{ "builder_run_grace", DEIS_CONF_INT | DEIS_CONF_RELOAD, &builder_conf.run_grace, "5",
	  "seconds the command of an `ssh ... run` whose client hung up gets "
	  "between SIGHUP/SIGTERM and SIGKILL" },
	{ "builder_shutdown_timeout", DEIS_CONF_INT | DEIS_CONF_RELOAD, &builder_conf.shutdown_timeout, "20",
	  "seconds running pushes get to finish after SIGTERM" },
	{ "builder_build_timeout", DEIS_CONF_INT | DEIS_CONF_RELOAD, &builder_conf.build_timeout, "900",
	  "seconds a build may take; a build that runs longer is stopped and fails" },
	{ "builder_build_memory", DEIS_CONF_INT | DEIS_CONF_RELOAD, &builder_conf.build_memory, "2048",
	  "memory limit of a build container, in MB" },
	{ "builder_build_pids", DEIS_CONF_INT | DEIS_CONF_RELOAD, &builder_conf.build_pids, "4096",
	  "most processes a build container may have" },
	{ "builder_slug_limit", DEIS_CONF_INT | DEIS_CONF_RELOAD, &builder_conf.slug_limit, "500",
	  "largest slug (compressed) in MB; a bigger one fails the build" },
	{ "builder_deploy_timeout", DEIS_CONF_INT | DEIS_CONF_RELOAD, &builder_conf.deploy_timeout, "60",
	  "seconds a push waits for its release phase, then for its release to go "
	  "live (Heroku's boot limit); 0: the push does not wait" },
	{ "builder_sftp_mount", DEIS_CONF_STR | DEIS_CONF_RELOAD, &builder_conf.sftp_mount, "/deis",
	  "the tree the sftp subsystem serves: deisfs's mount point on this host "
	  "(mounted with allow_other); while nothing is mounted there, sftp is refused" },
	{ "builder_sftp_server", DEIS_CONF_STR | DEIS_CONF_RELOAD, &builder_conf.sftp_server,
	  "/usr/lib/openssh/sftp-server",
	  "OpenSSH's sftp-server (Debian openssh-sftp-server), run as the key's user" },
	{ NULL, 0, NULL, NULL, NULL },
};

static char config_buf[PATH_MAX];
static char self_buf[PATH_MAX];

static int check(struct deis_error *err)
{
	if (deis_conf.ssh_port < 1 || deis_conf.ssh_port > 65535 ||
	    builder_conf.max_sessions < 1 || builder_conf.login_grace < 1 ||
	    builder_conf.max_startups < 1 || builder_conf.max_startups_per_source < 1 ||
	    builder_conf.keepalive < 1 || builder_conf.run_grace < 0 ||
	    builder_conf.shutdown_timeout < 0 || builder_conf.build_timeout < 1 ||
	    builder_conf.slug_limit < 1 || builder_conf.slug_limit > 1024 * 1024 ||
	    builder_conf.build_memory < 16 || builder_conf.build_pids < 16 ||
	    builder_conf.deploy_timeout < 0)
		return deis_error_set(err, EINVAL, "ssh_port must be 1..65535; "
			"builder_max_sessions, builder_max_startups, "
			"builder_max_startups_per_source, builder_login_grace, "
			"builder_keepalive and builder_build_timeout positive; "
			"builder_shutdown_timeout, builder_run_grace and builder_deploy_timeout "
			">= 0; builder_slug_limit 1..1048576 (MB); builder_build_memory (MB) "
			"and builder_build_pids at least 16");
	if (builder_conf.git[0] != '/' || builder_conf.sftp_mount[0] != '/' ||
	    builder_conf.sftp_server[0] != '/')
		return deis_error_set(err, EINVAL, "builder_git, builder_sftp_mount and "
				      "builder_sftp_server must be absolute paths");
	/* The hook is started with this path: make it absolute. */
	if (!realpath(deis_conf_path(), config_buf))
		return deis_error_set(err, errno, "%s: %s", deis_conf_path(), strerror(errno));
	builder_conf.config_path = config_buf;
	ssize_t len = readlink("/proc/self/exe", self_buf, sizeof(self_buf) - 1);
	if (len > 0) {
		self_buf[len] = '\0';
		builder_conf.self = self_buf;
	}
	return 0;
}

static const struct deis_daemon builder = {
	.name = "deis-builder",
	.synopsis = "deis-builder [--config=FILE] [--OPTION=VALUE ...]\n"
		    "deis-builder hook --config=FILE",
	.about =
"The Builder: an SSH server for git push.  Users push to\n"
"ssh://git@<ssh_host>:<ssh_port>/<app>.git (the app's git_url file) with a key\n"
"registered in users/<name>/keys/; the app must be theirs, shared with them\n"
"(perms) or they must be an admin.  Each app has a bare repository in\n"
"$DEIS_HOME/git/<app>.git.  Only git-receive-pack and git-upload-pack run,\n"
"`run <app> <command>` (a one-off container), and the sftp subsystem\n"
"(the tree at builder_sftp_mount, as the key's user: sshfs -p <ssh_port>\n"
"git@<ssh_host>: ~/deis); no shell, no port forwarding.  See docs/builder.md.\n"
"\n"
"\"hook\" is the pre-receive hook that deis-builder installs in every app's\n"
"repository; it is not meant to be run by hand.",
	.options = options, .check = check,
};

/* ---- host key ---- */

static int host_key(ssh_key *out)
{
	char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX], pub[PATH_MAX];
	struct stat st;
	ssh_key key = NULL;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/builder", deis_conf.home) >= sizeof(dir) ||
	    (size_t)snprintf(path, sizeof(path), "%s/ssh_host_ed25519_key", dir) >= sizeof(path) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp) ||
	    (size_t)snprintf(pub, sizeof(pub), "%s.pub", path) >= sizeof(pub)) {
		deis_log(LOG_ERR, "home directory path too long");
		return -1;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		deis_log(LOG_ERR, "%s: %s", dir, strerror(errno));
		return -1;
	}
	chmod(dir, 0700);
	if (lstat(path, &st) < 0) {
		if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) {
			deis_log(LOG_ERR, "cannot generate an ed25519 host key");
			return -1;
		}
		mode_t old = umask(077);
		unlink(tmp);
		int r = ssh_pki_export_privkey_file(key, NULL, NULL, NULL, tmp);
		umask(old);
		if (r != SSH_OK || chmod(tmp, 0600) < 0 || rename(tmp, path) < 0) {
			deis_log(LOG_ERR, "cannot write the host key %s", path);
			unlink(tmp);
			ssh_key_free(key);
			return -1;
		}
		ssh_key_free(key);
		key = NULL;
		deis_log(LOG_NOTICE, "generated the host key %s", path);
	} else if (!S_ISREG(st.st_mode)) {
		deis_log(LOG_ERR, "%s is not a regular file", path);
		return -1;
	} else if (st.st_mode & 077) {
		deis_log(LOG_WARNING, "%s was readable by others; made it 0600", path);
		chmod(path, 0600);
	}
	if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) != SSH_OK) {
		deis_log(LOG_ERR, "cannot read the host key %s", path);
		return -1;
	}
	char fp[64] = "?";
	builder_fingerprint(key, fp, sizeof(fp));
	if (lstat(pub, &st) < 0)
		ssh_pki_export_pubkey_file(key, pub);
	deis_log(LOG_NOTICE, "host key %s (ED25519 %s)", path, fp);
	*out = key;
	return 0;
}

/* ---- listening ---- */

static int listen_on(const char *addr, int port)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
	}, *res = NULL;
	char portstr[16];
	int one = 1;

	snprintf(portstr, sizeof(portstr), "%d", port);
	int r = getaddrinfo(addr, portstr, &hints, &res);
	if (r) {
		deis_log(LOG_ERR, "builder_listen '%s': %s", addr, gai_strerror(r));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		deis_log(LOG_ERR, "listening on %s port %d: %s", addr, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* "address:port" into out, the address alone into source. */
static void peer_name(const struct sockaddr_storage *ss, socklen_t len, char *out,
		      size_t size, char *source, size_t ssize)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host), serv,
			sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV)) {
		snprintf(out, size, "?");
		snprintf(source, ssize, "?");
	} else {
		snprintf(out, size, "%s:%s", host, serv);
		snprintf(source, ssize, "%s", host);
	}
}

/* TCP keepalive, so that a client that vanished without closing (its host
 * or network gone) is noticed in seconds even while nothing is sent:
 * probes after `every` quiet seconds, then every `every`, dropped after 3
 * unanswered; data we sent that stays unacknowledged for 4 x every
 * seconds drops it too.  A session then sees the connection fail and ends
 * what it started (a `run` container above all). */
static void keepalive(int fd, int every)
{
	int one = 1, cnt = 3;
	unsigned int user_ms = (unsigned int)every * 4000u;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &every, sizeof(every)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &every, sizeof(every)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms, sizeof(user_ms)) < 0)
		deis_log(LOG_WARNING, "setting TCP keepalive: %s", strerror(errno));
}

/* ---- the main loop ---- */

static volatile sig_atomic_t got_chld;

static void on_chld(int sig)
{
	got_chld = 1;
}

/* One forked session. */
struct child {
	pid_t pid;
	int notify;		/* read end of its pipe until it authenticates; -1 */
	bool authed;		/* its client authenticated */
	bool closing;		/* killed by us: no longer counted, being reaped */
	long long started;	/* deis_mono_ms() at accept */
	char peer[NI_MAXHOST + NI_MAXSERV + 2];
	char source[NI_MAXHOST];	/* the peer's address */
};

static struct child *children;
static int nchildren, children_cap;

static void child_forget_notify(struct child *c)
{
	if (c->notify >= 0)
		close(c->notify);
	c->notify = -1;
}

static void reap(void)
{
	pid_t pid;
	int st;

	got_chld = 0;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		struct child gone = { .pid = pid };

		for (int i = 0; i < nchildren; i++) {
			if (children[i].pid == pid) {
				gone = children[i];
				child_forget_notify(&children[i]);
				children[i] = children[--nchildren];
				break;
			}
		}
		if (!WIFSIGNALED(st) || gone.closing)
			continue;
		if (WTERMSIG(st) == SIGALRM)	/* the session's login grace */
			deis_log(LOG_INFO, "%s: closed: %s within builder_login_grace (%d s)",
				 gone.peer[0] ? gone.peer : "?", gone.authed ?
				 "no command" : "not authenticated", builder_conf.login_grace);
		else
			deis_log(LOG_WARNING, "session %d killed by signal %d", (int)pid,
				 WTERMSIG(st));
	}
}

/* Reads what sessions wrote on their pipes: a byte when their client has
 * authenticated; end of file when they exit (or exec git). */
static void read_notifications(const struct pollfd *p, int n)
{
	for (int k = 0; k < n; k++) {
		if (!p[k].revents)
			continue;
		for (int i = 0; i < nchildren; i++) {
			struct child *c = &children[i];
			char b;

			if (c->notify != p[k].fd)
				continue;
			if (read(c->notify, &b, 1) == 1 && b == 'A')
				c->authed = true;
			child_forget_notify(c);
			break;
		}
	}
}

/* Ends an unauthenticated connection at once (its process group holds
 * nothing else yet) and says why. */
static void close_startup(struct child *c, const char *why)
{
	kill(-c->pid, SIGKILL);
	kill(c->pid, SIGKILL);
	c->closing = true;
	child_forget_notify(c);
	deis_log(LOG_INFO, "%s: closed: not authenticated after %lld ms; %s", c->peer,
		 deis_mono_ms() - c->started, why);
}

/* Makes room for a new connection from source under the pre-authentication
 * limits, and says whether the sessions' own limit lets it in. */
static bool admit(const char *peer, const char *source)
{
	struct child *oldest_here = NULL, *oldest = NULL;
	int startups = 0, here = 0, sessions = 0;
	char why[NI_MAXHOST + NI_MAXSERV + 96];

	for (int i = 0; i < nchildren; i++) {
		struct child *c = &children[i];

		if (c->closing)
			continue;
		if (c->authed) {
			sessions++;
			continue;
		}
		startups++;
		if (!oldest || c->started < oldest->started)
			oldest = c;
		if (!strcmp(c->source, source)) {
			here++;
			if (!oldest_here || c->started < oldest_here->started)
				oldest_here = c;
		}
	}
	if (sessions >= builder_conf.max_sessions) {
		deis_log(LOG_WARNING, "%s: refused: %d sessions already (builder_max_sessions)",
			 peer, sessions);
		return false;
	}
	if (here >= builder_conf.max_startups_per_source) {
		snprintf(why, sizeof(why), "its place goes to %s "
			 "(builder_max_startups_per_source)", peer);
		close_startup(oldest_here, why);
	} else if (startups >= builder_conf.max_startups) {
		snprintf(why, sizeof(why), "its place goes to %s (builder_max_startups)", peer);
		close_startup(oldest, why);
	}
	return true;
}

/* The backstop of the login grace (the session's own alarm ends it
 * first); returns the ms until the next unauthenticated connection is due,
 * or -1 when none waits. */
static long long enforce_grace(void)
{
	long long now = deis_mono_ms(), limit = (long long)builder_conf.login_grace * 1000 + 1000;
	long long next = -1;

	for (int i = 0; i < nchildren; i++) {
		struct child *c = &children[i];

		if (c->authed || c->closing)
			continue;
		if (now - c->started >= limit) {
			close_startup(c, "builder_login_grace");
			continue;
		}
		if (next < 0 || c->started + limit - now < next)
			next = c->started + limit - now;
	}
	return next;
}

/* Waits for the sessions to end, up to ms, reaping them. */
static void wait_children(long long ms, const sigset_t *mask)
{
	long long end = deis_mono_ms() + ms;

	reap();
	while (nchildren > 0 && deis_mono_ms() < end) {
		long long left = end - deis_mono_ms();
		struct timespec ts = { left / 1000, (left % 1000) * 1000000 };

		ppoll(NULL, 0, &ts, mask);
		reap();
	}
}

static void session_child(ssh_bind bind, int lfd, int fd, const char *peer, int notify)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	close(lfd);
	for (int i = 0; i < nchildren; i++)
		child_forget_notify(&children[i]);	/* the others' pipes */
	setpgid(0, 0);		/* the session and its git: one group to end */
	sigaction(SIGTERM, &dfl, NULL);
	sigaction(SIGINT, &dfl, NULL);
	sigaction(SIGCHLD, &dfl, NULL);
	sigaction(SIGHUP, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int rc = builder_session(bind, fd, peer, notify);
	ssh_bind_free(bind);
	ssh_finalize();
	git_libgit2_shutdown();
	free(children);
	exit(deis_daemon_exit(rc));
}

/* Takes one connection: makes room for it under the limits and forks its
 * session. */
static void accept_one(int lfd, ssh_bind bind)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char peer[NI_MAXHOST + NI_MAXSERV + 2], source[NI_MAXHOST];
	int note[2];
	int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			deis_log(LOG_WARNING, "accept: %s", strerror(errno));
		return;
	}
	peer_name(&ss, sl, peer, sizeof(peer), source, sizeof(source));
	reap();
	if (!admit(peer, source)) {
		close(fd);
		return;
	}
	if (pipe2(note, O_CLOEXEC) < 0) {
		deis_log(LOG_ERR, "pipe: %s", strerror(errno));
		close(fd);
		return;
	}
	keepalive(fd, builder_conf.keepalive);
	pid_t pid = fork();
	if (pid < 0) {
		deis_log(LOG_ERR, "fork: %s", strerror(errno));
		close(fd);
		close(note[0]);
		close(note[1]);
		return;
	}
	if (pid == 0) {
		close(note[0]);
		session_child(bind, lfd, fd, peer, note[1]);
	}
	setpgid(pid, pid);
	close(note[1]);
	close(fd);
	if (nchildren == children_cap) {
		children_cap = children_cap ? children_cap * 2 : 64;
		children = realloc(children, (size_t)children_cap * sizeof(*children));
		if (!children)
			abort();
	}
	struct child *c = &children[nchildren++];
	*c = (struct child){ .pid = pid, .notify = note[0], .started = deis_mono_ms() };
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	snprintf(c->source, sizeof(c->source), "%s", source);
	deis_log(LOG_DEBUG, "%s: session %d", peer, (int)pid);
}

/* Waits for the listening socket, the sessions' pipes, a signal (SIGCHLD
 * only inside ppoll: mask) or the next login grace to end; returns the
 * listening socket's readiness. */
static bool wait_for_work(int lfd, const sigset_t *mask)
{
	static struct pollfd *pfds;
	static int pfds_cap;
	long long wait_ms = enforce_grace();
	int np = 0;

	if (pfds_cap < nchildren + 2) {
		pfds_cap = (nchildren + 2) * 2;
		pfds = realloc(pfds, (size_t)pfds_cap * sizeof(*pfds));
		if (!pfds)
			abort();
	}
	pfds[np++] = (struct pollfd){ lfd, POLLIN, 0 };
	pfds[np++] = (struct pollfd){ deis_daemon_fd(), POLLIN, 0 };
	for (int i = 0; i < nchildren; i++)
		if (children[i].notify >= 0)
			pfds[np++] = (struct pollfd){ children[i].notify, POLLIN, 0 };
	struct timespec ts = { wait_ms / 1000, (wait_ms % 1000) * 1000000 };
	if (ppoll(pfds, (nfds_t)np, wait_ms >= 0 ? &ts : NULL, mask) < 0) {
		if (errno != EINTR)
			deis_log(LOG_ERR, "poll: %s", strerror(errno));
		return false;
	}
	read_notifications(pfds + 2, np - 2);
	return pfds[0].revents & POLLIN;
}

/* Stopping: the sessions get builder_shutdown_timeout seconds, then
 * SIGTERM, then SIGKILL. */
static void end_sessions(const sigset_t *mask)
{
	deis_log(LOG_NOTICE, "stopping: no new connections; %d session(s) running", nchildren);
	wait_children((long long)builder_conf.shutdown_timeout * 1000, mask);
	if (nchildren == 0)
		return;
	deis_log(LOG_WARNING, "ending %d session(s) still running after %d s", nchildren,
		 builder_conf.shutdown_timeout);
	for (int i = 0; i < nchildren; i++)
		kill(-children[i].pid, SIGTERM);
	wait_children(3000, mask);
	for (int i = 0; i < nchildren; i++)
		kill(-children[i].pid, SIGKILL);
	wait_children(2000, mask);
}

/* "deis-builder hook --config=F", also as a #! line, which the kernel
 * hands over as one argument ("hook --config=F") before the path of the
 * hook script.  Its stdout and stderr go to the pusher. */
static int hook_main(int argc, char **argv)
{
	char *hargv[8] = { (char *)"deis-builder" };
	int hargc = 1;

	for (char *save = NULL, *w = strtok_r(argv[1], " ", &save); w;
	     w = strtok_r(NULL, " ", &save))
		if (strcmp(w, "hook") && hargc < 7)
			hargv[hargc++] = w;
	for (int i = 2; i < argc && hargc < 7; i++)
		if (!strncmp(argv[i], "--", 2))
			hargv[hargc++] = argv[i];
	deis_daemon_configure(&builder, "deis-builder hook", &hargc, hargv);
	return deis_daemon_exit(builder_hook_main());
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "hook") || !strncmp(argv[1], "hook ", 5)))
		return hook_main(argc, argv);
	deis_daemon_start(&builder, &argc, argv);

	/* 1. SIGCHLD: blocked but inside ppoll(), so no exit goes unseen */
	sigset_t chld, none;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sigemptyset(&none);
	struct sigaction sa = { .sa_handler = on_chld };
	sigaction(SIGCHLD, &sa, NULL);

	/* 2. libssh, libgit2 (before fork: sessions create repositories),
	 * the host key */
	ssh_init();
	git_libgit2_init();
	ssh_key key = NULL;
	if (host_key(&key) < 0)
		return deis_daemon_exit(1);
	ssh_bind bind = ssh_bind_new();
	bool no = false;
	if (!bind || ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) < 0) {
		deis_log(LOG_ERR, "libssh: %s", bind ? ssh_get_error(bind) : "out of memory");
		return deis_daemon_exit(1);
	}
	/* 3. what a killed predecessor's builds left; the socket */
	builder_net_gc();
	int lfd = listen_on(builder_conf.listen, deis_conf.ssh_port);
	if (lfd < 0)
		return deis_daemon_exit(1);
	deis_log(LOG_NOTICE, "listening on %s port %d (git %s, repositories in %s/git)",
		 builder_conf.listen, deis_conf.ssh_port, builder_conf.git, deis_conf.home);

	/* 4. connections, each a forked session */
	while (deis_daemon_running()) {
		if (got_chld)
			reap();
		if (wait_for_work(lfd, &none))
			accept_one(lfd, bind);
	}

	close(lfd);
	end_sessions(&none);
	ssh_bind_free(bind);
	ssh_finalize();
	git_libgit2_shutdown();
	free(children);
	deis_log(LOG_NOTICE, "stopped");
	return deis_daemon_exit(0);
}
