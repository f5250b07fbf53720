/*
 * router.c - the router log: one line per request in the app's log,
 * "hello[router]: GET / 200 bytes=12 time=3ms dyno=web.1 host=... from=...".
 *
 * nginx writes one tab-separated record per request to
 * <home>/proxy/access.log, buffered (64 KiB, flushed every second): the
 * cheapest thing nginx can do, and nginx never waits for us.  This file
 * tails it and sends each record with deis_logemit_send(app, "router").
 * The position read so far is saved in <home>/proxy/access.pos ("inode
 * offset"), only after the lines before it were sent, so a deis-proxy that
 * restarts (or a log server that was down) loses nothing: it goes on from
 * there (a crash between a send and the save may repeat a few lines,
 * never lose them).
 *
 * Rotation: once the file is bigger than router_rotate bytes and read to
 * its end, it is renamed access.log.1 and nginx is told (SIGUSR1) to
 * reopen its log; the old file is read to its end (nginx flushes its
 * buffers into it as it reopens) before the new one, then deleted.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deis/daemon.h"
#include "deis/log.h"
#include "deis/logemit.h"
#include "deis/validate.h"
#include "proxy.h"

long long router_rotate_bytes = 64LL * 1024 * 1024;

static char path[4096], path1[4096], pospath[4096];
static struct deis_logemit *emit;
static int fd = -1;		/* the file being read */
static ino_t ino;
static off_t off;
static int draining;		/* fd is access.log.1: read it out, then move on */
static time_t drain_since;
static int pos_fd = -1;
static off_t saved_off = -1;
static ino_t saved_ino;
static time_t last_err;

static void save_pos(void)
{
	char buf[64];

	if (pos_fd < 0 || fd < 0 || (off == saved_off && ino == saved_ino))
		return;
	/* Fixed width, one pwrite: a reader never sees half a position. */
	int n = snprintf(buf, sizeof(buf), "%20llu %20lld\n", (unsigned long long)ino,
			 (long long)off);
	if (pwrite(pos_fd, buf, (size_t)n, 0) == n) {
		saved_off = off;
		saved_ino = ino;
	}
}

static bool open_at(const char *p, off_t at)
{
	struct stat st;
	int f = open(p, O_RDONLY | O_CLOEXEC);

	if (f < 0)
		return false;
	if (fstat(f, &st) < 0) {
		close(f);
		return false;
	}
	if (fd >= 0)
		close(fd);
	fd = f;
	ino = st.st_ino;
	off = at > st.st_size ? 0 : at;
	return true;
}

int router_open(const char *home, const char *syslog_socket, struct deis_error *err)
{
	struct stat st;
	unsigned long long sino = 0;
	long long soff = -1;

	snprintf(path, sizeof(path), "%s/proxy/access.log", home);
	snprintf(path1, sizeof(path1), "%s/proxy/access.log.1", home);
	snprintf(pospath, sizeof(pospath), "%s/proxy/access.pos", home);
	if (deis_logemit_open(syslog_socket, &emit, err) < 0)
		return -err->code;
	pos_fd = open(pospath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (pos_fd < 0)
		return deis_error_set(err, errno, "%s: %s", pospath, strerror(errno));
	char buf[64] = "";
	ssize_t r = pread(pos_fd, buf, sizeof(buf) - 1, 0);
	if (r > 0) {
		buf[r] = '\0';
		if (sscanf(buf, "%llu %lld", &sino, &soff) != 2)
			soff = -1;
	}
	if (soff >= 0 && stat(path1, &st) == 0 && st.st_ino == (ino_t)sino) {
		/* Stopped while reading a rotated file: finish it first. */
		open_at(path1, soff);
		draining = 1;
		drain_since = 0;
	} else if (stat(path, &st) == 0) {
		/* Our file: go on where we were.  Another (or no saved
		 * position: the first start): from its end, rather than send
		 * again lines that may have been sent. */
		open_at(path, soff >= 0 && st.st_ino == (ino_t)sino ? soff : st.st_size);
		if (stat(path1, &st) == 0)
			unlink(path1);
	}
	save_pos();
	return 0;
}

void router_close(void)
{
	save_pos();
	if (fd >= 0)
		close(fd);
	fd = -1;
	if (pos_fd >= 0)
		close(pos_fd);
	pos_fd = -1;
	deis_logemit_close(emit);
	emit = NULL;
}

/* The next tab-separated field of [*p, end). */
static bool field(const char **p, const char *end, const char **f, size_t *len)
{
	if (*p > end)
		return false;
	const char *t = memchr(*p, '\t', (size_t)(end - *p));
	if (!t)
		t = end;
	*f = *p;
	*len = (size_t)(t - *p);
	*p = t + 1;
	return true;
}

bool router_format(const char *rec, size_t len, proxy_dyno_fn dyno, char *app,
		   size_t applen, struct deis_buf *msg)
{
	const char *p = rec, *end = rec + len, *f[9];
	size_t l[9];

	for (int i = 0; i < 9; i++)
		if (!field(&p, end, &f[i], &l[i]))
			return false;
	if (p <= end || l[0] == 0 || l[0] >= applen)
		return false;	/* more fields, or no app (the default server) */
	memcpy(app, f[0], l[0]);
	app[l[0]] = '\0';
	if (!deis_valid_app_name(app))
		return false;
	/* request_time: seconds with milliseconds, "0.003". */
	long ms = 0;
	for (size_t i = 0; i < l[5]; i++)
		if (f[5][i] >= '0' && f[5][i] <= '9')
			ms = ms * 10 + (f[5][i] - '0');
	deis_buf_reset(msg);
	deis_buf_add(msg, f[1], l[1] > 16 ? 16 : l[1]);
	deis_buf_addch(msg, ' ');
	if (l[2] > 2000) {
		deis_buf_add(msg, f[2], 2000);
		deis_buf_adds(msg, "...");
	} else {
		deis_buf_add(msg, f[2], l[2]);
	}
	deis_buf_addf(msg, " %.*s bytes=%.*s time=%ldms", (int)(l[3] > 3 ? 3 : l[3]), f[3],
		      (int)(l[4] > 20 ? 20 : l[4]), f[4], ms);
	/* upstream_addr: "127.0.0.1:5001" or, after a retry,
	 * "127.0.0.1:5001, 127.0.0.1:5002": the last one answered. */
	if (l[6]) {
		char addr[64];
		const char *last = f[6], *c;
		int tries = 1;
		while ((c = memchr(last, ',', (size_t)(f[6] + l[6] - last)))) {
			last = c + 1;
			tries++;
		}
		while (last < f[6] + l[6] && *last == ' ')
			last++;
		size_t al = (size_t)(f[6] + l[6] - last);
		if (al < sizeof(addr)) {
			memcpy(addr, last, al);
			addr[al] = '\0';
			const char *d = dyno ? dyno(app, addr) : NULL;
			deis_buf_addf(msg, " dyno=%s", d ? d : addr);
		}
		if (tries > 1)
			deis_buf_addf(msg, " tries=%d", tries);
	}
	deis_buf_addf(msg, " host=%.*s from=%.*s", (int)(l[7] > 253 ? 253 : l[7]), f[7],
		      (int)(l[8] > 64 ? 64 : l[8]), f[8]);
	return true;
}

long router_poll(proxy_dyno_fn dyno)
{
	static char buf[256 * 1024];
	struct deis_buf msg = DEIS_BUF_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	long sent = 0;
	static time_t failed_at;
	long long t0;

	/* The log server failed a moment ago: give it a second before the
	 * next try, so that route changes are never held up behind it. */
	if (failed_at && time(NULL) - failed_at < 1)
		return 0;
	failed_at = 0;
	t0 = deis_mono_ms();
	if (fd < 0 && !draining) {
		if (!open_at(path, 0))
			return 0;
		save_pos();
	}
	for (int rounds = 0; fd >= 0 && rounds < 16; rounds++) {
		ssize_t r = pread(fd, buf, sizeof(buf), off);
		if (r <= 0)
			break;
		size_t done = 0;
		bool failed = false, out_of_time = false;
		for (;;) {
			char *nl = memchr(buf + done, '\n', (size_t)r - done);
			if (!nl) {
				/* A record longer than the buffer: skip it. */
				if (done == 0 && (size_t)r == sizeof(buf))
					done = (size_t)r;
				break;
			}
			size_t len = (size_t)(nl - (buf + done));
			char app[64];
			if (router_format(buf + done, len, dyno, app, sizeof(app), &msg) &&
			    deis_logemit_send(emit, app, "router", deis_buf_str(&msg), &err) < 0) {
				/* Keep the line: it is sent again at the next poll. */
				if (time(NULL) - last_err >= 60) {
					last_err = time(NULL);
					deis_log(LOG_WARNING, "router log: %s (lines wait)", err.msg);
				}
				failed = true;
				failed_at = time(NULL);
				break;
			}
			sent++;
			done += len + 1;
			/* A budget of 30 ms per poll: the rest waits for the
			 * next one (every 100 ms at most), after events. */
			if (sent % 64 == 0) {
				if (deis_mono_ms() - t0 > 30) {
					out_of_time = true;
					break;
				}
			}
		}
		off += (off_t)done;
		if (failed || out_of_time || done == 0)
			break;
	}
	deis_buf_release(&msg);
	return sent;
}

void router_tick(pid_t master)
{
	struct stat st, cur;

	save_pos();
	if (draining) {
		/* nginx flushes into the old file as it reopens: wait a little
		 * after the last byte before leaving it. */
		if (fd >= 0 && fstat(fd, &cur) == 0 && off < cur.st_size)
			return;
		if (drain_since && deis_mono_ms() / 1000 - drain_since < 3)
			return;
		draining = 0;
		unlink(path1);
		if (fd >= 0)
			close(fd);
		fd = -1;
		if (open_at(path, 0))
			save_pos();
		return;
	}
	if (fd < 0 || fstat(fd, &cur) < 0)
		return;
	if (stat(path, &st) < 0 || st.st_ino != ino) {
		/* Moved or deleted under us: read it out, then the new one. */
		draining = 1;
		drain_since = deis_mono_ms() / 1000;
		return;
	}
	if (master > 0 && off >= cur.st_size && cur.st_size > router_rotate_bytes) {
		if (rename(path, path1) < 0) {
			deis_log(LOG_WARNING, "router log: rotating %s: %s", path, strerror(errno));
			return;
		}
		kill(master, SIGUSR1);
		draining = 1;
		drain_since = deis_mono_ms() / 1000;
		deis_log(LOG_INFO, "router log: rotated %s (%lld bytes)", path,
			 (long long)cur.st_size);
	}
}
