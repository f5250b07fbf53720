/*
 * main.c - deis-builder: the Builder's SSH server (git push over SSH).
 *
 *   deis-builder [--config=FILE] [--OPTION=VALUE ...]
 *   deis-builder hook --config=FILE          (git's pre-receive hook)
 *
 * The daemon listens on builder_listen:ssh_port, accepts connections and
 * forks one child per connection (session.c), which does the key
 * exchange, the authentication, the one git command and the copying, and
 * exits.  The parent does nothing else: it reaps its children (SIGCHLD),
 * caps their number (builder_max_sessions) and, on SIGTERM or SIGINT,
 * stops accepting, gives running sessions builder_shutdown_timeout
 * seconds to finish, then ends them (SIGTERM to each session's process
 * group, which holds its git, then SIGKILL).
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
#include <poll.h>
#include <signal.h>
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
	{ "builder_max_sessions", DEIS_CONF_INT, &builder_conf.max_sessions, "64",
	  "SSH connections served at once; more are closed at once" },
	{ "builder_login_grace", DEIS_CONF_INT, &builder_conf.login_grace, "60",
	  "seconds a connection has to authenticate and ask for git" },
	{ "builder_shutdown_timeout", DEIS_CONF_INT, &builder_conf.shutdown_timeout, "20",
	  "seconds running pushes get to finish after SIGTERM" },
	{ "builder_build_timeout", DEIS_CONF_INT, &builder_conf.build_timeout, "900",
	  "seconds a build may take; a build that runs longer is stopped and fails" },
	{ "builder_build_memory", DEIS_CONF_INT, &builder_conf.build_memory, "2048",
	  "memory limit of a build container, in MB" },
	{ "builder_build_pids", DEIS_CONF_INT, &builder_conf.build_pids, "4096",
	  "most processes a build container may have" },
	{ "builder_slug_limit", DEIS_CONF_INT, &builder_conf.slug_limit, "500",
	  "largest slug (compressed) in MB; a bigger one fails the build" },
	{ "builder_deploy_timeout", DEIS_CONF_INT, &builder_conf.deploy_timeout, "60",
	  "seconds a push waits for its release phase, then for its release to go "
	  "live (Heroku's boot limit); 0: the push does not wait" },
	{ NULL, 0, NULL, NULL, NULL },
};

static void usage(FILE *out)
{
	fprintf(out,
"usage: deis-builder [--config=FILE] [--OPTION=VALUE ...]\n"
"       deis-builder hook --config=FILE\n"
"\n"
"The Builder: an SSH server for git push.  Users push to\n"
"ssh://git@<ssh_host>:<ssh_port>/<app>.git (the app's git_url file) with a key\n"
"registered in users/<name>/keys/; the app must be theirs, shared with them\n"
"(perms) or they must be an admin.  Each app has a bare repository in\n"
"$DEIS_HOME/git/<app>.git.  Only git-receive-pack and git-upload-pack run;\n"
"no shell, no port forwarding.  See docs/builder.md.\n"
"\n"
"\"hook\" is the pre-receive hook that deis-builder installs in every app's\n"
"repository; it is not meant to be run by hand.\n"
"\n"
"  --config=FILE             configuration file (default: $DEIS_HOME/deis.conf\n"
"                            or /var/lib/deis/deis.conf)\n"
"  --help, --version\n");
	deis_conf_usage(options, out);
}

static char config_buf[PATH_MAX];
static char self_buf[PATH_MAX];

/* Options (argv holds only options here: no program name). */
static int parse_options(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	int n = argc + 1;

	if (!args)
		abort();
	args[0] = (char *)"deis-builder";
	for (int i = 0; i < argc; i++)
		args[i + 1] = argv[i];
	int r = deis_conf_cli(options, "deis-builder", usage, &n, args, 0);
	free(args);
	if (r < 0)
		return -1;
	/* The hook is started with this path: make it absolute. */
	if (!realpath(deis_conf_path(), config_buf)) {
		fprintf(stderr, "deis-builder: %s: %s\n", deis_conf_path(), strerror(errno));
		return -1;
	}
	builder_conf.config_path = config_buf;
	if (deis_conf.ssh_port < 1 || deis_conf.ssh_port > 65535 ||
	    builder_conf.max_sessions < 1 || builder_conf.login_grace < 1 ||
	    builder_conf.shutdown_timeout < 0 || builder_conf.build_timeout < 1 ||
	    builder_conf.slug_limit < 1 || builder_conf.slug_limit > 1024 * 1024 ||
	    builder_conf.build_memory < 16 || builder_conf.build_pids < 16 ||
	    builder_conf.deploy_timeout < 0) {
		fprintf(stderr, "deis-builder: ssh_port must be 1..65535; builder_max_sessions, "
			"builder_login_grace and builder_build_timeout positive; "
			"builder_shutdown_timeout and builder_deploy_timeout >= 0; "
			"builder_slug_limit 1..1048576 (MB); "
			"builder_build_memory (MB) and builder_build_pids at least 16\n");
		return -1;
	}
	if (builder_conf.git[0] != '/') {
		fprintf(stderr, "deis-builder: builder_git must be an absolute path\n");
		return -1;
	}
	ssize_t len = readlink("/proc/self/exe", self_buf, sizeof(self_buf) - 1);
	if (len > 0) {
		self_buf[len] = '\0';
		builder_conf.self = self_buf;
	}
	return 0;
}

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

static void peer_name(const struct sockaddr_storage *ss, socklen_t len, char *out,
		      size_t size)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host), serv,
			sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(out, size, "?");
	else
		snprintf(out, size, "%s:%s", host, serv);
}

/* ---- the main loop ---- */

static volatile sig_atomic_t got_term, got_chld;

static void on_signal(int sig)
{
	if (sig == SIGCHLD)
		got_chld = 1;
	else
		got_term = 1;
}

static pid_t *children;
static int nchildren;

static void reap(void)
{
	pid_t pid;
	int st;

	got_chld = 0;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < nchildren; i++) {
			if (children[i] == pid) {
				children[i] = children[--nchildren];
				break;
			}
		}
		if (WIFSIGNALED(st))
			deis_log(LOG_WARNING, "session %d killed by signal %d", (int)pid,
				 WTERMSIG(st));
	}
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the sessions to end, up to ms, reaping them. */
static void wait_children(long long ms, const sigset_t *mask)
{
	long long end = mono_ms() + ms;

	reap();
	while (nchildren > 0 && mono_ms() < end) {
		long long left = end - mono_ms();
		struct timespec ts = { left / 1000, (left % 1000) * 1000000 };

		ppoll(NULL, 0, &ts, mask);
		reap();
	}
}

static void session_child(ssh_bind bind, int lfd, int fd, const char *peer)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	close(lfd);
	setpgid(0, 0);		/* the session and its git: one group to end */
	sigaction(SIGTERM, &dfl, NULL);
	sigaction(SIGINT, &dfl, NULL);
	sigaction(SIGCHLD, &dfl, NULL);
	sigaction(SIGHUP, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int rc = builder_session(bind, fd, peer);
	ssh_bind_free(bind);
	ssh_finalize();
	git_libgit2_shutdown();
	free(children);
	deis_conf_free(options);
	exit(rc);
}

int main(int argc, char **argv)
{
	bool hook = false;
	char *hargv[8];
	int hargc = 0;

	/* "deis-builder hook --config=F", also as a #! line, which the kernel
	 * hands over as one argument ("hook --config=F") before the path of
	 * the hook script. */
	if (argc >= 2 && (!strcmp(argv[1], "hook") || !strncmp(argv[1], "hook ", 5))) {
		hook = true;
		for (char *save = NULL, *w = strtok_r(argv[1], " ", &save); w;
		     w = strtok_r(NULL, " ", &save))
			if (strcmp(w, "hook") && hargc < 7)
				hargv[hargc++] = w;
		for (int i = 2; i < argc && hargc < 7; i++)
			if (!strncmp(argv[i], "--", 2))
				hargv[hargc++] = argv[i];
		hargv[hargc] = NULL;
	}
	if (hook ? parse_options(hargc, hargv) < 0 : parse_options(argc - 1, argv + 1) < 0)
		return 2;
	int level = deis_log_level_parse(deis_conf.log_level);
	if (hook) {
		/* Its stdout and stderr go to the pusher. */
		deis_log_init("deis-builder hook", level < 0 ? LOG_INFO : level, 0);
		int rc = builder_hook_main();
		deis_conf_free(options);
		return rc;
	}
	deis_log_init("deis-builder", level < 0 ? LOG_INFO : level, 0);

	signal(SIGPIPE, SIG_IGN);
	sigset_t block, none;
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigemptyset(&none);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);

	children = calloc((size_t)builder_conf.max_sessions, sizeof(*children));
	if (!children)
		return 1;
	ssh_init();
	git_libgit2_init();	/* before fork: sessions create repositories */
	ssh_key key = NULL;
	if (host_key(&key) < 0)
		return 1;
	ssh_bind bind = ssh_bind_new();
	bool no = false;
	if (!bind || ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    ssh_bind_options_set(bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) < 0) {
		deis_log(LOG_ERR, "libssh: %s", bind ? ssh_get_error(bind) : "out of memory");
		return 1;
	}
	builder_net_gc();
	int lfd = listen_on(builder_conf.listen, deis_conf.ssh_port);
	if (lfd < 0)
		return 1;
	deis_log(LOG_NOTICE, "listening on %s port %d (git %s, repositories in %s/git)",
		 builder_conf.listen, deis_conf.ssh_port, builder_conf.git, deis_conf.home);

	while (!got_term) {
		struct pollfd p = { lfd, POLLIN, 0 };

		if (got_chld)
			reap();
		if (ppoll(&p, 1, NULL, &none) < 0) {
			if (errno != EINTR)
				deis_log(LOG_ERR, "poll: %s", strerror(errno));
			continue;
		}
		if (!(p.revents & POLLIN))
			continue;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				deis_log(LOG_WARNING, "accept: %s", strerror(errno));
			continue;
		}
		char peer[NI_MAXHOST + NI_MAXSERV + 2];
		peer_name(&ss, sl, peer, sizeof(peer));
		reap();
		if (nchildren >= builder_conf.max_sessions) {
			deis_log(LOG_WARNING, "%s: refused: %d sessions already", peer, nchildren);
			close(fd);
			continue;
		}
		pid_t pid = fork();
		if (pid < 0) {
			deis_log(LOG_ERR, "fork: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (pid == 0)
			session_child(bind, lfd, fd, peer);
		setpgid(pid, pid);
		children[nchildren++] = pid;
		close(fd);
		deis_log(LOG_DEBUG, "%s: session %d", peer, (int)pid);
	}

	close(lfd);
	deis_log(LOG_NOTICE, "stopping: no new connections; %d session(s) running", nchildren);
	wait_children((long long)builder_conf.shutdown_timeout * 1000, &none);
	if (nchildren > 0) {
		deis_log(LOG_WARNING, "ending %d session(s) still running after %d s", nchildren,
			 builder_conf.shutdown_timeout);
		for (int i = 0; i < nchildren; i++)
			kill(-children[i], SIGTERM);
		wait_children(3000, &none);
		for (int i = 0; i < nchildren; i++)
			kill(-children[i], SIGKILL);
		wait_children(2000, &none);
	}
	ssh_bind_free(bind);
	ssh_finalize();
	git_libgit2_shutdown();
	free(children);
	deis_conf_free(options);
	deis_log(LOG_NOTICE, "stopped");
	return 0;
}
