/*
 * files.c - the durable per-app log files: <home>/logs/<app>.log.
 *
 * deis-logd writes them after its rate limit, so the limit bounds the
 * disk as it bounds Redis: a flooding app's dropped lines reach no output,
 * and the "dropped N lines (rate limit)" line reaches them all.  Each file
 * holds exactly what the app's `logs` shows (the same formatted lines).
 *
 * A file is rotated when the next line would take it past log_file_max
 * bytes: <app>.log becomes <app>.log.1, .1 becomes .2 and so on, the file
 * past log_file_keep is deleted, so an app holds at most
 * (log_file_keep + 1) * log_file_max bytes.  Rotation happens between two
 * lines, never inside one.
 *
 * Durability: the lines of a batch are queued as deis-logd answers rsyslog
 * (the journal has the batch's messages) and written, one write(2) per
 * file, when rsyslog commits the batch, before it is confirmed: the same
 * point at which rsyslog's own omfile wrote them before (no fsync either).
 * A deis-logd killed after writing a batch but before confirming it gets
 * the batch again (journal, rsyslog): the replay guard (guard.c) knows the
 * file's last lines, read when the file is first touched, and skips them.
 *
 * Files are kept open while used: closed after FILE_IDLE_MS without a
 * write, when more than FILE_OPEN_MAX are open, and when the file was
 * moved or deleted by someone else (a new one is made at the next line).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deis/buf.h"
#include "deis/daemon.h"
#include "deis/log.h"
#include "logd.h"

#define FILE_IDLE_MS 30000
#define FILE_OPEN_MAX 256
#define FILE_TAIL (512 * 1024)

/* An app's file (src NULL). */
struct lfile {
	struct logd_entry e;
	int fd;			/* -1 when closed */
	long long size;		/* of the open file */
	long long used_ms;
	long long warned_ms;	/* the last open failure logged */
	int guarded;		/* the guard was started (once per process) */
	struct logd_guard guard;
	struct deis_buf q;	/* lines waiting for files_flush */
	int queued;		/* on the dirty list */
};

static char dir[4096];
static void file_release(void *entry);
static struct logd_table files = LOGD_TABLE_INIT(struct lfile, file_release);
static struct lfile **dirty;
static size_t ndirty, capdirty;
static int nopen;
static long long lost_lines, lost_reported;

static void path_of(const char *app, int n, char *out, size_t len)
{
	if (n)
		snprintf(out, len, "%s/%s.log.%d", dir, app, n);
	else
		snprintf(out, len, "%s/%s.log", dir, app);
}

void files_init(const char *d)
{
	snprintf(dir, sizeof(dir), "%s", d);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		deis_log(LOG_WARNING, "%s: %s", dir, strerror(errno));
}

static void file_close(struct lfile *f)
{
	if (f->fd < 0)
		return;
	close(f->fd);
	f->fd = -1;
	nopen--;
}

/* The least recently used open file goes when too many are open. */
static void close_lru(void)
{
	struct lfile *old = NULL;

	for (struct lfile *f = NULL; (f = logd_table_next(&files, f));)
		if (f->fd >= 0 && (!old || f->used_ms < old->used_ms))
			old = f;
	if (old)
		file_close(old);
}

static int file_open(struct lfile *f)
{
	char path[4200];
	struct stat st;

	if (f->fd >= 0)
		return 0;
	if (nopen >= FILE_OPEN_MAX)
		close_lru();
	path_of(f->e.app, 0, path, sizeof(path));
	f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (f->fd < 0) {
		/* Once a minute per file: every message would try again. */
		if (!f->warned_ms || deis_mono_ms() - f->warned_ms > 60000) {
			deis_log(LOG_WARNING, "%s: %s (its lines are lost from the file)", path,
				 strerror(errno));
			f->warned_ms = deis_mono_ms();
		}
		return -1;
	}
	nopen++;
	f->size = fstat(f->fd, &st) == 0 ? (long long)st.st_size : 0;
	if (!f->guarded) {
		/* What a killed predecessor wrote: its last lines, for the guard. */
		struct deis_buf tail = DEIS_BUF_INIT;
		long long from = f->size > FILE_TAIL ? f->size - FILE_TAIL : 0;
		int rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (rfd >= 0) {
			deis_buf_grow(&tail, (size_t)(f->size - from));
			ssize_t r = pread(rfd, tail.data, (size_t)(f->size - from), from);
			if (r > 0)
				tail.len = (size_t)r;
			close(rfd);
		}
		guard_begin(&f->guard, tail.data ? tail.data : "", tail.len, from > 0, deis_mono_ms());
		deis_buf_release(&tail);
		f->guarded = 1;
	}
	return 0;
}

static struct lfile *file_get(const char *app)
{
	struct lfile *f = logd_table_find(&files, app, NULL);

	if (!f) {
		f = logd_table_add(&files, app, NULL);
		f->fd = -1;
	}
	return f;
}

static void count_lost(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		lost_lines += p[i] == '\n';
}

void files_add(const char *app, const char *lines, size_t len)
{
	struct lfile *f = file_get(app);

	f->used_ms = deis_mono_ms();
	if (file_open(f) < 0) {
		count_lost(lines, len);
		return;
	}
	if (guard_replayed(&f->guard, lines, len, f->used_ms))
		return;
	deis_buf_add(&f->q, lines, len);
	if (!f->queued) {
		if (ndirty == capdirty) {
			capdirty = capdirty ? capdirty * 2 : 256;
			dirty = realloc(dirty, capdirty * sizeof(*dirty));
			if (!dirty)
				abort();
		}
		dirty[ndirty++] = f;
		f->queued = 1;
	}
}

/* <app>.log -> .1 -> .2 ... ; the one past log_file_keep is deleted. */
static int file_rotate(struct lfile *f)
{
	char from[4200], to[4200];

	file_close(f);
	path_of(f->e.app, logd_conf.file_keep, to, sizeof(to));
	if (logd_conf.file_keep == 0 && unlink(to) < 0 && errno != ENOENT)
		deis_log(LOG_WARNING, "%s: %s", to, strerror(errno));
	for (int n = logd_conf.file_keep; n >= 1; n--) {
		path_of(f->e.app, n - 1, from, sizeof(from));
		path_of(f->e.app, n, to, sizeof(to));
		if (rename(from, to) < 0 && errno != ENOENT)
			deis_log(LOG_WARNING, "rotating %s: %s", from, strerror(errno));
	}
	return file_open(f);
}

int files_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes f's queue: as many whole lines as fit under log_file_max at a
 * time, rotating in between. */
static void file_flush(struct lfile *f)
{
	const char *p = f->q.data, *e = f->q.data + f->q.len;

	while (p < e) {
		if (f->fd < 0 && file_open(f) < 0)
			break;
		const char *chunk = p;
		long long room = logd_conf.file_max - f->size;
		while (p < e) {
			const char *nl = memchr(p, '\n', (size_t)(e - p));
			size_t n = (size_t)(nl - p) + 1;
			if ((long long)n > room && !(p == chunk && f->size == 0))
				break;
			room -= (long long)n;
			p += n;
		}
		if (p > chunk) {
			if (files_write_all(f->fd, chunk, (size_t)(p - chunk)) < 0) {
				char path[4200];
				path_of(f->e.app, 0, path, sizeof(path));
				deis_log(LOG_WARNING, "%s: %s", path, strerror(errno));
				p = chunk;
				break;
			}
			f->size += (long long)(p - chunk);
		}
		if (p < e && file_rotate(f) < 0)
			break;
	}
	count_lost(p, (size_t)(e - p));
	deis_buf_reset(&f->q);
}

void files_flush(void)
{
	for (size_t i = 0; i < ndirty; i++) {
		file_flush(dirty[i]);
		dirty[i]->queued = 0;
	}
	ndirty = 0;
	if (lost_lines > lost_reported) {
		deis_log(LOG_WARNING, "durable files: %lld lines could not be written "
			 "(%lld in all)", lost_lines - lost_reported, lost_lines);
		lost_reported = lost_lines;
	}
}

void files_tick(void)
{
	long long now = deis_mono_ms();
	struct stat st;

	for (struct lfile *f = NULL; (f = logd_table_next(&files, f));)
		if (f->fd >= 0 && (now - f->used_ms > FILE_IDLE_MS ||
				   (fstat(f->fd, &st) == 0 && st.st_nlink == 0)))
			file_close(f);
}

/* What a file holds besides its name; it leaves the dirty list too. */
static void file_release(void *entry)
{
	struct lfile *f = entry;

	for (size_t i = 0; i < ndirty; i++)
		if (dirty[i] == f)
			dirty[i] = dirty[--ndirty];
	file_close(f);
	guard_release(&f->guard);
	deis_buf_release(&f->q);
}

void files_delete(const char *app)
{
	char path[4400];

	logd_table_remove(&files, app);
	/* Its rotated files too, those above a log_file_keep lowered since
	 * included: every "<app>.log.<n>". */
	path_of(app, 0, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		deis_log(LOG_WARNING, "%s: %s", path, strerror(errno));
	DIR *d = opendir(dir);
	if (!d) {
		deis_log(LOG_WARNING, "%s: %s", dir, strerror(errno));
		return;
	}
	size_t al = strlen(app);
	for (struct dirent *e; (e = readdir(d));) {
		const char *n = e->d_name;
		if (strncmp(n, app, al) || strncmp(n + al, ".log.", 5) || !n[al + 5] ||
		    strspn(n + al + 5, "0123456789") != strlen(n + al + 5))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, n);
		if (unlink(path) < 0 && errno != ENOENT)
			deis_log(LOG_WARNING, "%s: %s", path, strerror(errno));
	}
	closedir(d);
}

void files_close_all(void)
{
	logd_table_remove(&files, NULL);
	free(dirty);
	dirty = NULL;
	ndirty = capdirty = 0;
}
