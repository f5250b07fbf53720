/*
 * nginx.c - the private nginx: checking a config, starting the master,
 * reloading it gracefully and knowing when the reload has taken effect.
 *
 * nginx runs as a daemon of its own (its master forks away from us), so
 * a restarting deis-proxy never takes the routes down: the next one finds
 * the master by its pid file, checked against /proc (a stale pid file
 * naming some other process is never signalled).  A master that died
 * without its workers (SIGKILL, the OOM killer) leaves them holding the
 * ports: they are in its session, and ended before a new master starts
 * (end_dead_session()).  Every program is
 * started with posix_spawn, never through a shell, and gets none of our
 * descriptors (the Redis and PostgreSQL sockets would otherwise live on
 * in the nginx master).
 *
 * A reload is SIGHUP to the master, which reads the config again, starts
 * new workers and tells the old ones to stop accepting and finish what
 * they are doing.  nginx does not say when that is done, so
 * proxy_nginx_reload() watches the master's children: it returns once a
 * new worker runs and every old worker has either gone or renamed itself
 * "worker process is shutting down", which nginx does just before it
 * closes its listening sockets.  From then on no new request is routed
 * by the old config: that is the moment the scheduler waits for, from
 * every live router (deis_db_router_applied), before it stops a
 * container.  A master that refuses the new config says so in its error
 * log ("[emerg]"), which is read back as the reason.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deis/daemon.h"
#include "deis/spawn.h"
#include "deis/file.h"
#include "deis/log.h"
#include "deis/validate.h"
#include "proxy.h"

extern char **environ;

/* Runs argv with stdout and stderr into out (at most 64 KiB kept);
 * returns the wait status, or -errno when it could not start. */
static int run(const char *bin, char *const argv[], struct deis_buf *out,
	       struct deis_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int p[2], st = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return deis_error_set(err, errno, "pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	deis_spawnattr_init(&attr, POSIX_SPAWN_SETSID);
	char *const env[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	/* nginx's logs (every app's requests, client addresses) are root's
	 * alone: they are created, and reopened at rotation, with the umask
	 * nginx starts with. */
	mode_t mask = umask(077);
	int r = posix_spawn(&pid, bin, &fa, &attr, argv, env);
	umask(mask);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[1]);
	if (r != 0) {
		close(p[0]);
		return deis_error_set(err, r, "cannot run %s: %s", bin, strerror(r));
	}
	char buf[4096];
	ssize_t n;
	while ((n = read(p[0], buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (out->len < 65536)
			deis_buf_add(out, buf, (size_t)n);
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return deis_error_set(err, errno, "waitpid: %s", strerror(errno));
	return st;
}

/* nginx's words, on one line, without its "nginx: " prefixes. */
static void one_line(const char *text, char *out, size_t len)
{
	struct deis_buf b = DEIS_BUF_INIT;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l >= 7 && !strncmp(p, "nginx: ", 7)) {
			p += 7;
			l -= 7;
		}
		/* "2026/11/26 16:28:00 [emerg] 5169#5169: what": "[emerg] what". */
		const char *lv = l > 20 && p[4] == '/' ? memchr(p, '[', l) : NULL;
		const char *hash = lv ? memchr(lv, '#', l - (size_t)(lv - p)) : NULL;
		const char *colon = hash ? memchr(hash, ':', l - (size_t)(hash - p)) : NULL;
		const char *rb = lv ? memchr(lv, ']', l - (size_t)(lv - p)) : NULL;
		if (rb && colon && colon + 2 <= p + l) {
			if (b.len)
				deis_buf_adds(&b, "; ");
			deis_buf_add(&b, lv, (size_t)(rb + 1 - lv));
			deis_buf_add(&b, colon + 1, (size_t)(p + l - colon - 1));
			p += l + (nl ? 1 : 0);
			continue;
		}
		/* "the configuration file ... test failed" adds nothing. */
		if (l && !memmem(p, l, "test failed", 11)) {
			if (b.len)
				deis_buf_adds(&b, "; ");
			deis_buf_add(&b, p, l);
		}
		p += l + (nl ? 1 : 0);
	}
	deis_printable(out, len, deis_buf_str(&b), b.len);
	deis_buf_release(&b);
}

int proxy_nginx_test(const struct proxy_nginx *n, const char *path, struct deis_error *err)
{
	struct deis_buf out = DEIS_BUF_INIT;
	char *const argv[] = { (char *)"nginx", (char *)"-t", (char *)"-q",
			       (char *)"-p", (char *)n->prefix, (char *)"-c",
			       (char *)path, NULL };
	int st = run(n->bin, argv, &out, err);

	if (st < 0) {
		deis_buf_release(&out);
		return st;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		if (out.len) {
			char line[1024];
			one_line(deis_buf_str(&out), line, sizeof(line));
			deis_log(LOG_INFO, "nginx -t: %s", line);
		}
		deis_buf_release(&out);
		return 0;
	}
	char line[900];
	one_line(deis_buf_str(&out), line, sizeof(line));
	deis_buf_release(&out);
	return deis_error_set(err, EINVAL, "nginx rejects the config: %s",
			      line[0] ? line : "(no reason given)");
}

/* /proc/<pid>/cmdline as one string (arguments joined by spaces). */
static bool cmdline(pid_t pid, char *out, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	ssize_t r = deis_file_read_small(path, out, len);
	if (r <= 0)
		return false;
	for (ssize_t i = 0; i < r; i++)
		if (out[i] == '\0')
			out[i] = ' ';
	while (r > 0 && out[r - 1] == ' ')
		r--;
	out[r] = '\0';
	return true;
}

/* The pid in the pid file, whoever runs under it now (0: none). */
static pid_t pidfile_pid(const struct proxy_nginx *n)
{
	char buf[32];

	if (deis_file_read_small(n->pidfile, buf, sizeof(buf)) <= 0)
		return 0;
	char *end;
	long pid = strtol(buf, &end, 10);
	return pid > 1 && (!*end || *end == '\n') ? (pid_t)pid : 0;
}

pid_t proxy_nginx_pid(const struct proxy_nginx *n)
{
	char cmd[8192];
	pid_t pid = pidfile_pid(n);

	/* Our master's title is "nginx: master process <bin> -p <prefix> -c
	 * <conf>": the config path tells it from any other nginx. */
	if (pid <= 0 || !cmdline(pid, cmd, sizeof(cmd)) ||
	    strncmp(cmd, "nginx: master process", 21) || !strstr(cmd, n->conf))
		return 0;
	return pid;
}

/* ---- the processes a dead master left behind ---- */

#define MAX_WORKERS 1024

/* The state and session of pid from /proc/<pid>/stat; false when it is
 * gone. */
static bool proc_session(pid_t pid, char *state, pid_t *sid)
{
	char path[64], buf[1024];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (deis_file_read_small(path, buf, sizeof(buf)) <= 0)
		return false;
	char *rp = strrchr(buf, ')');
	int ppid, pgrp, session;
	if (!rp || sscanf(rp + 1, " %c %d %d %d", state, &ppid, &pgrp, &session) != 4)
		return false;
	*sid = (pid_t)session;
	return true;
}

/* Every live process of session sid that nginx titled ("nginx: ..."). */
static size_t session_members(pid_t sid, pid_t *out, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;
	char cmd[64];

	while (d && (e = readdir(d)) && n < max) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)atoi(e->d_name), s;
		char state;
		if (proc_session(pid, &state, &s) && s == sid && state != 'Z' &&
		    cmdline(pid, cmd, sizeof(cmd)) && !strncmp(cmd, "nginx: ", 7))
			out[n++] = pid;
	}
	if (d)
		closedir(d);
	return n;
}

/* The master's workers outlive a master killed by SIGKILL (or the OOM
 * killer), holding the listening sockets and serving the old routes: no
 * new master could bind.  Remembering them is not enough (a reload since
 * the last look makes new ones), but all of them are in the master's
 * session, which nginx made with setsid() when it daemonized and which
 * no other process can join; its id is the dead master's pid, still in
 * the pid file (only a clean exit removes it).  While any member lives,
 * the kernel hands that number to no new process; so a live, non-zombie
 * process under that pid means the master and its session are long gone
 * and the number was reused: nothing is ours to end.  The members get
 * SIGKILL (their master is gone: nothing would ever tell them to stop),
 * and the start waits (at most 2 s) until they have exited, so the new
 * master binds at its first try.  Works just the same for a deis-proxy
 * that restarted meanwhile: it needs to have seen nothing. */
static void end_dead_session(const struct proxy_nginx *n)
{
	pid_t sid = pidfile_pid(n), left[MAX_WORKERS], s;
	char state;

	if (sid <= 0 || (proc_session(sid, &state, &s) && state != 'Z'))
		return;
	size_t nleft = session_members(sid, left, MAX_WORKERS);
	if (!nleft)
		return;
	deis_log(LOG_WARNING, "nginx master (pid %d) is gone; ending the %zu processes it "
		 "left behind (they hold the listening sockets)", (int)sid, nleft);
	long long end = deis_mono_ms() + 2000;
	while (nleft && deis_mono_ms() < end) {
		for (size_t i = 0; i < nleft; i++)
			kill(left[i], SIGKILL);
		usleep(5000);
		nleft = session_members(sid, left, MAX_WORKERS);
	}
	if (nleft)
		deis_log(LOG_ERR, "%zu processes of the dead nginx master (pid %d) did not exit "
			 "on SIGKILL within 2 s", nleft, (int)sid);
}

int proxy_nginx_start(const struct proxy_nginx *n, struct deis_error *err)
{
	struct deis_buf out = DEIS_BUF_INIT;
	char *const argv[] = { (char *)n->bin, (char *)"-p", (char *)n->prefix,
			       (char *)"-c", (char *)n->conf, NULL };
	/* With "daemon on" (nginx's default) the program we start forks the
	 * master and exits once the listening sockets are bound. */
	end_dead_session(n);
	int st = run(n->bin, argv, &out, err);

	if (st < 0) {
		deis_buf_release(&out);
		return st;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char line[900];
		one_line(deis_buf_str(&out), line, sizeof(line));
		deis_buf_release(&out);
		return deis_error_set(err, EIO, "nginx did not start: %s",
				      line[0] ? line : "(see its error log)");
	}
	deis_buf_release(&out);
	long long end = deis_mono_ms() + 5000;
	while (deis_mono_ms() < end) {
		pid_t pid = proxy_nginx_pid(n);
		if (pid > 0) {
			deis_log(LOG_NOTICE, "started nginx (master pid %d, %s)", (int)pid, n->conf);
			return 0;
		}
		usleep(10000);
	}
	return deis_error_set(err, EIO, "nginx started but wrote no pid file %s within 5 s",
			      n->pidfile);
}

/* The master's children: from /proc/<pid>/task/<pid>/children when the
 * kernel has it, else by scanning /proc. */
static size_t children(pid_t master, pid_t *out, size_t max)
{
	char path[64], buf[8192];
	size_t n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)master, (int)master);
	if (deis_file_read_small(path, buf, sizeof(buf)) >= 0) {
		for (char *save = NULL, *w = strtok_r(buf, " \n", &save); w && n < max;
		     w = strtok_r(NULL, " \n", &save))
			out[n++] = (pid_t)atoi(w);
		return n;
	}
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)) && n < max) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char stat_path[sizeof(e->d_name) + 16];
		snprintf(stat_path, sizeof(stat_path), "/proc/%s/stat", e->d_name);
		if (deis_file_read_small(stat_path, buf, sizeof(buf)) <= 0)
			continue;
		char *rp = strrchr(buf, ')');
		int ppid = 0;
		if (rp && sscanf(rp + 1, " %*c %d", &ppid) == 1 && ppid == master)
			out[n++] = (pid_t)atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

/* A worker that accepts connections (not one that is shutting down). */
static bool accepting_worker(pid_t pid)
{
	char cmd[256];

	return cmdline(pid, cmd, sizeof(cmd)) && !strcmp(cmd, "nginx: worker process");
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* The first "[emerg]" line the master wrote to its error log after off. */
static bool log_emerg(const char *path, off_t off, char *out, size_t len)
{
	char buf[16384];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	ssize_t r = pread(fd, buf, sizeof(buf) - 1, off);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = '\0';
	char *e = strstr(buf, "[emerg]");
	if (!e)
		return false;
	char *nl = strchr(e, '\n');
	if (!nl)
		return false;	/* not whole yet */
	deis_printable(out, len, e, (size_t)(nl - e));
	return true;
}


int proxy_nginx_reload(const struct proxy_nginx *n, pid_t master, struct deis_error *err)
{
	pid_t old[MAX_WORKERS], now[MAX_WORKERS];
	size_t nold = children(master, old, MAX_WORKERS);
	off_t logoff = file_size(n->errlog);

	if (kill(master, SIGHUP) < 0)
		return deis_error_set(err, errno, "SIGHUP to nginx (pid %d): %s", (int)master,
				      strerror(errno));
	long long start = deis_mono_ms(), end = start + n->reload_timeout_ms;
	int sleep_us = 1000;
	while (deis_mono_ms() < end) {
		size_t nnow = children(master, now, MAX_WORKERS);
		bool fresh = false, stale = false;
		for (size_t i = 0; i < nnow; i++) {
			bool was = false;
			for (size_t j = 0; j < nold && !was; j++)
				was = now[i] == old[j];
			if (!accepting_worker(now[i]))
				continue;
			if (was)
				stale = true;
			else
				fresh = true;
		}
		if (fresh && !stale)
			return 0;
		char why[600];
		if (log_emerg(n->errlog, logoff, why, sizeof(why)))
			return deis_error_set(err, EIO, "nginx did not reload: %s", why);
		if (kill(master, 0) < 0)
			return deis_error_set(err, ESRCH, "nginx (pid %d) exited during the reload",
					      (int)master);
		usleep((useconds_t)sleep_us);
		if (sleep_us < 20000)
			sleep_us *= 2;
	}
	return deis_error_set(err, ETIMEDOUT, "nginx did not finish its reload within %d ms "
			      "(see %s)", n->reload_timeout_ms, n->errlog);
}
