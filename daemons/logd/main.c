/*
 * main.c - deis-logd: the part of the log server that rsyslog cannot do.
 *
 *   deis-logd [--config=FILE] [--OPTION=VALUE ...]
 *
 * rsyslog (packaging/rsyslog.conf) starts deis-logd through omprog and
 * hands it every message as one JSON line on stdin
 * ({"ts":..,"app":..,"src":..,"msg":..}), in transactions:
 *
 *   BEGIN TRANSACTION   -> OK
 *   {json}              -> DEFER_COMMIT   (formatted, kept in memory)
 *   COMMIT TRANSACTION  -> OK             (after one pipelined Redis write)
 *
 * so a batch is confirmed only once it is in the durable files and in
 * Redis (or, while Redis is down, queued in memory for a retry): rsyslog's
 * queue keeps everything while deis-logd restarts.  rsyslog 8.2302 has a
 * gap there: when the program dies in the middle of a transaction, it
 * sends again only the message that failed, not those already answered
 * DEFER_COMMIT.  So each message is appended to a journal
 * ($DEIS_HOME/logd/journal, one write per read) before it is answered, the
 * journal is emptied once its batch is stored, and a starting deis-logd
 * first replays what its predecessor left there.  For each message
 * deis-logd formats the lines ("<RFC 3339 UTC> app[src]: text", split,
 * escaped: lib/logemit.c), rate-limits per app (token bucket; drops
 * counted and reported once a second as a "deis" line), appends them to
 * the app's durable file (files.c: capped, rotated), to the app's Redis
 * stream and to the source's own stream (containers "web.1", builds
 * "build.3"), and queues them for the app's drains.
 *
 * Stream entry IDs are byte offsets (include/deis/cache.h).  deis-logd
 * keeps each stream's end in memory (from Redis the first time a stream is
 * seen, and from $DEIS_HOME/logd/offsets, saved every 2 s), so offsets
 * keep growing across a Redis flush and a deis-logd restart.  After a
 * restart, the journal and rsyslog may hand over again messages that were
 * already stored: the replay guard (guard.c) skips them, for the streams
 * and for the files, so no line is stored twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "deis/buf.h"
#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/log.h"
#include "deis/logemit.h"
#include "deis/validate.h"
#include "logd.h"

struct logd_conf logd_conf;

static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ "log_retention_lines", DEIS_CONF_INT | DEIS_CONF_RELOAD, &logd_conf.retention_lines,
	  "10000", "lines kept in Redis per log stream (app, container, build)" },
	{ "log_retention_bytes", DEIS_CONF_STR | DEIS_CONF_RELOAD, &logd_conf.retention_bytes_s,
	  "8M", "bytes kept in Redis per log stream (K, M, G suffixes)" },
	{ "log_rate", DEIS_CONF_INT | DEIS_CONF_RELOAD, &logd_conf.rate, "2000",
	  "lines per second an app may log (sustained); more are dropped and counted" },
	{ "log_burst", DEIS_CONF_INT | DEIS_CONF_RELOAD, &logd_conf.burst, "20000",
	  "lines an app may log at once above log_rate" },
	{ "drain_ca_file", DEIS_CONF_STR, &logd_conf.drain_ca_file, "",
	  "PEM file of CAs trusted for syslog+tls drains, besides the system's" },
	{ "drain_queue", DEIS_CONF_STR | DEIS_CONF_RELOAD, &logd_conf.drain_queue_s, "4M",
	  "bytes queued per drain while it is slow or down; more are dropped" },
	DEIS_CONF_DEPRECATED("drain_refresh", "resync_interval"),
	{ "log_file_max", DEIS_CONF_STR | DEIS_CONF_RELOAD, &logd_conf.file_max_s, "64M",
	  "bytes of an app's durable log file (<home>/logs/<app>.log) before it is rotated" },
	{ "log_file_keep", DEIS_CONF_INT | DEIS_CONF_RELOAD, &logd_conf.file_keep, "3",
	  "rotated durable log files kept per app (<app>.log.1 ...)" },
	{ NULL, 0, NULL, NULL, NULL },
};

/* The sizes, checked whole before any is put in force: the drain thread
 * reads drain_queue as it goes. */
static int check(struct deis_error *err)
{
	long long retention = logd_parse_size(logd_conf.retention_bytes_s);
	long long queue = logd_parse_size(logd_conf.drain_queue_s);
	long long file_max = logd_parse_size(logd_conf.file_max_s);

	if (retention < 0 || queue < 0 || file_max < 0)
		return deis_error_set(err, EINVAL, "log_retention_bytes, drain_queue and "
				      "log_file_max are sizes (bytes, or with K, M, G)");
	/* A file holds at least a few of the longest lines (10,000 bytes of
	 * text and a prefix). */
	if (file_max < 16 * 1024 || logd_conf.file_keep < 0 || logd_conf.file_keep > 1000)
		return deis_error_set(err, EINVAL, "log_file_max must be at least 16K and "
				      "log_file_keep from 0 to 1000");
	if (logd_conf.retention_lines < 1 || logd_conf.rate < 1 || logd_conf.burst < 1)
		return deis_error_set(err, EINVAL, "log_retention_lines, log_rate and log_burst "
				      "must be positive");
	logd_conf.retention_bytes = retention;
	logd_conf.drain_queue = queue;
	logd_conf.file_max = file_max;
	return 0;
}

static const struct deis_daemon logd = {
	.name = "deis-logd",
	.synopsis = "deis-logd [--config=FILE] [--OPTION=VALUE ...]",
	.about =
"The log server's writer: run by rsyslog (omprog, see packaging/rsyslog.conf),\n"
"reads one JSON message per line on stdin, writes the apps' Redis log streams\n"
"and forwards lines to log drains.  See docs/logs.md.",
	.options = options, .check = check,
};

long long logd_parse_size(const char *s)
{
	char *end;
	long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v < 0)
		return -1;
	long long mul = 1;
	if (*end == 'K' || *end == 'k')
		mul = 1024;
	else if (*end == 'M' || *end == 'm')
		mul = 1024 * 1024;
	else if (*end == 'G' || *end == 'g')
		mul = 1024LL * 1024 * 1024;
	if (mul != 1)
		end++;
	if (*end || v > (1LL << 50) / mul)
		return -1;
	return v * mul;
}

static long long now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- streams and apps ---- */

/* A Redis stream: the app's (src NULL) or a source's own. */
struct stream {
	struct logd_entry e;
	long long end;		/* next offset (valid when init) */
	long long saved;	/* end from the offsets file (0 when none) */
	int init;
	int dirty;		/* appended since the last byte trim */
	struct logd_guard guard;	/* its last lines when first seen (guard.c) */
};

/* An app's rate limit (src NULL). */
struct app {
	struct logd_entry e;
	double tokens, ptokens;	/* app sources; platform ("deis") */
	long long last_us;
	long dropped;
};

static void stream_release(void *entry)
{
	guard_release(&((struct stream *)entry)->guard);
}

static struct logd_table streams = LOGD_TABLE_INIT(struct stream, stream_release);
static struct logd_table apps = LOGD_TABLE_INIT(struct app, NULL);
static int offsets_changed;

static struct stream *stream_get(const char *app, const char *src)
{
	struct stream *s = logd_table_find(&streams, app, src);

	return s ? s : logd_table_add(&streams, app, src);
}

static struct app *app_get(const char *name)
{
	struct app *a = logd_table_find(&apps, name, NULL);

	if (!a) {
		a = logd_table_add(&apps, name, NULL);
		a->tokens = a->ptokens = logd_conf.burst;
		a->last_us = now_us();
	}
	return a;
}

/* ---- Redis ---- */

static struct deis_cache_keeper redis = DEIS_CACHE_KEEPER_INIT;

static struct deis_cache *cache_get(void)
{
	return deis_daemon_cache(&redis, "Redis");
}

/* An operation failed: true when the connection broke (the lines wait in
 * memory for the next try), false for an error reply. */
static bool cache_failed(const struct deis_error *err)
{
	bool broken = deis_cache_keeper_failed(&redis);

	deis_log(LOG_WARNING, "Redis: %s%s", err->msg,
		 broken ? " (lines are kept in memory meanwhile)" : "");
	return broken;
}

#define REPLAY_TAIL (512 * 1024)

/* The stream's end: the larger of Redis's and the saved one.  Also reads
 * its tail for the replay guard.  -1 when Redis is unreachable. */
static int stream_init(struct stream *s)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf tail = DEIS_BUF_INIT;
	long long end = 0, start = 0;
	struct deis_cache *c = cache_get();

	if (s->init)
		return 0;
	if (!c)
		return -1;
	if (deis_cache_log_end(c, s->e.app, s->e.src, &end, &err) < 0) {
		cache_failed(&err);
		return -1;
	}
	if (end > 0) {
		long long from = end > REPLAY_TAIL ? end - REPLAY_TAIL : 0;
		if (deis_cache_log_read(c, s->e.app, s->e.src, from, REPLAY_TAIL, &tail,
					&start, &err) < 0) {
			deis_buf_release(&tail);
			cache_failed(&err);
			return -1;
		}
		guard_begin(&s->guard, tail.data, tail.len, start < from, deis_mono_ms());
	} else {
		guard_begin(&s->guard, "", 0, 0, deis_mono_ms());
	}
	deis_buf_release(&tail);
	s->end = end > s->saved ? end : s->saved;
	s->init = 1;
	return 0;
}

/* ---- the batch: lines waiting for Redis ---- */

struct pending {
	struct stream *s;
	long long off;		/* -1 until assigned */
	char *line;
	size_t len;
};

static struct pending *pend;
static size_t npend, cappend, pend_bytes;
static long long pend_lost;
#define PENDING_MAX_BYTES (256LL * 1024 * 1024)

static void pending_add(struct stream *s, const char *line, size_t len)
{
	if (npend == cappend) {
		cappend = cappend ? cappend * 2 : 4096;
		pend = realloc(pend, cappend * sizeof(*pend));
		if (!pend)
			abort();
	}
	char *copy = malloc(len + 1);
	if (!copy)
		abort();
	memcpy(copy, line, len);
	copy[len] = '\0';
	pend[npend++] = (struct pending){ s, -1, copy, len };
	pend_bytes += len;
}

/* Drops the oldest pending lines while Redis is down too long. */
static void pending_bound(void)
{
	size_t drop = 0;

	while (pend_bytes > PENDING_MAX_BYTES && drop < npend) {
		pend_bytes -= pend[drop].len;
		free(pend[drop].line);
		drop++;
	}
	if (!drop)
		return;
	memmove(pend, pend + drop, (npend - drop) * sizeof(*pend));
	npend -= drop;
	pend_lost += (long long)drop;
	deis_log(LOG_WARNING, "Redis down: dropped %zu lines from memory "
		 "(%lld so far; the per-app files have them)", drop, pend_lost);
}

/* Writes every pending line to Redis.  0 when done (or nothing to do), -1
 * when Redis is unreachable (the lines stay for the next try). */
static int flush(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	static struct deis_log_entry *ent;
	static size_t capent;

	if (!npend)
		return 0;
	struct deis_cache *c = cache_get();
	if (!c) {
		pending_bound();
		return -1;
	}
	/* Offsets, in order, once: a retry after a failure reuses them, and
	 * Redis ignores an entry whose ID is already there. */
	for (size_t i = 0; i < npend; i++) {
		if (pend[i].off >= 0)
			continue;
		if (stream_init(pend[i].s) < 0) {
			pending_bound();
			return -1;
		}
		pend[i].off = pend[i].s->end;
		pend[i].s->end += (long long)pend[i].len;
		pend[i].s->dirty = 1;
		offsets_changed = 1;
	}
	if (capent < npend) {
		capent = npend;
		ent = realloc(ent, capent * sizeof(*ent));
		if (!ent)
			abort();
	}
	for (size_t i = 0; i < npend; i++)
		ent[i] = (struct deis_log_entry){ pend[i].s->e.app, pend[i].s->e.src,
						  pend[i].off, pend[i].line, pend[i].len };
	for (size_t i = 0; i < npend; i += 8192) {
		size_t n = npend - i < 8192 ? npend - i : 8192;
		if (deis_cache_log_append(c, ent + i, n, logd_conf.retention_lines, &err) < 0) {
			if (cache_failed(&err)) {
				pending_bound();
				return -1;
			}
			/* An error reply for one entry (not the connection):
			 * logged, and on, or the batch would block forever. */
			deis_error_clear(&err);
		}
	}
	for (size_t i = 0; i < npend; i++)
		free(pend[i].line);
	npend = 0;
	pend_bytes = 0;
	return 0;
}

/* ---- messages ---- */

static struct deis_logemit *emitter;

/* Is src a container or a build (a stream of its own)? */
static int own_stream(const char *src)
{
	return strchr(src, '.') != NULL;
}

/* The rate limit: 1 when the lines may pass. */
static int admit(struct app *a, int platform, size_t n)
{
	long long now = now_us();
	double dt = (double)(now - a->last_us) / 1e6;

	if (dt > 0) {
		a->tokens += dt * logd_conf.rate;
		a->ptokens += dt * logd_conf.rate;
		if (a->tokens > logd_conf.burst)
			a->tokens = logd_conf.burst;
		if (a->ptokens > logd_conf.burst)
			a->ptokens = logd_conf.burst;
		a->last_us = now;
	}
	double *t = platform ? &a->ptokens : &a->tokens;
	if (*t < (double)n && *t < logd_conf.burst)
		return 0;
	*t -= (double)n;
	return 1;
}

static long long stat_msgs, stat_lines, stat_dropped, stat_replayed, stat_bad, stat_unknown;

static void handle_message(const char *raw, size_t rawlen)
{
	static struct deis_buf fixed, lines;
	json_error_t jerr;
	const char *ts, *app, *src, *msg;
	size_t msglen;

	/* jansson refuses invalid UTF-8; rsyslog's mmutf8fix should have
	 * repaired it already, but never lose a line over it. */
	deis_buf_reset(&fixed);
	deis_log_utf8_fix(raw, rawlen, &fixed);
	json_t *j = json_loadb(fixed.data, fixed.len, JSON_ALLOW_NUL, &jerr);
	if (!j || json_unpack(j, "{s:s, s:s, s:s, s:s%}", "ts", &ts, "app", &app,
			      "src", &src, "msg", &msg, &msglen) < 0) {
		char shown[200];
		stat_bad++;
		deis_log(LOG_WARNING, "input: not a message: %s",
			 deis_printable(shown, sizeof(shown), raw, rawlen));
		json_decref(j);
		return;
	}
	/* A container's line from another node: its instance, or dropped. */
	if (src[0] == '@' && deis_valid_app_name(app) && !logd_instance_source(app, src, &src)) {
		stat_unknown++;
		json_decref(j);
		return;
	}
	if (!deis_valid_app_name(app) || !deis_log_source_valid(src)) {
		stat_bad++;
		json_decref(j);
		return;
	}
	stat_msgs++;
	long long us;
	if (deis_log_parse_time(ts, &us) < 0)
		us = now_us();
	/* A build's lines show as "builder" in the app's log. */
	const char *shown = !strncmp(src, "build.", 6) ? "builder" : src;
	deis_buf_reset(&lines);
	size_t n = deis_log_format_lines(us, app, shown, msg, msglen, &lines);

	struct app *a = app_get(app);
	if (!admit(a, !strcmp(src, "deis"), n)) {
		a->dropped += (long)n;
		stat_dropped += (long long)n;
		json_decref(j);
		return;
	}
	stat_lines += (long long)n;
	files_add(app, lines.data, lines.len);

	struct stream *targets[2] = { stream_get(app, NULL),
				      own_stream(src) ? stream_get(app, src) : NULL };
	for (int t = 0; t < 2; t++) {
		struct stream *s = targets[t];
		if (!s)
			continue;
		if (!s->init)
			stream_init(s);	/* for the replay guard; retried at flush */
		if (guard_replayed(&s->guard, lines.data, lines.len, deis_mono_ms())) {
			stat_replayed++;
			continue;
		}
		const char *p = lines.data, *end = lines.data + lines.len;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t len = (size_t)(nl - p) + 1;
			pending_add(s, p, len);
			if (t == 0 && drains_has(app)) {
				/* the text after "<time> app[src]: " */
				const char *text = strstr(p, "]: ");
				text = text && text < nl ? text + 3 : nl;
				drains_send(app, p, shown, text, (size_t)(nl - text));
			}
			p = nl + 1;
		}
	}
	json_decref(j);
}

/* A platform ("deis") line for app, through the log server like any
 * other (so it reaches the file and the drains too). */
static void tell_app(const char *app, const char *text)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (!emitter)
		deis_logemit_open(deis_conf.syslog_socket, &emitter, &err);
	if (emitter && deis_logemit_send(emitter, app, "deis", text, &err) < 0)
		deis_log(LOG_WARNING, "a platform line for %s: %s", app, err.msg);
}

/* Once a second: "dropped N lines (rate limit)" for each app that lost
 * lines, and the drains refused since (drains.c). */
static void report_drops(void)
{
	char text[128];

	for (struct app *a = NULL; (a = logd_table_next(&apps, a));) {
		if (!a->dropped)
			continue;
		snprintf(text, sizeof(text), "dropped %ld lines (rate limit)", a->dropped);
		deis_log(LOG_NOTICE, "%s: %s", a->e.app, text);
		tell_app(a->e.app, text);
		a->dropped = 0;
	}
	drains_notices(tell_app);
}

/* ---- retention, offsets, deletion ---- */

static void trim_bytes(void)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (logd_conf.retention_bytes <= 0)
		return;
	for (struct stream *s = NULL; (s = logd_table_next(&streams, s));) {
		if (!s->dirty || s->end <= logd_conf.retention_bytes)
			continue;
		struct deis_cache *c = cache_get();
		if (!c)
			return;
		if (deis_cache_log_trim(c, s->e.app, s->e.src,
					s->end - logd_conf.retention_bytes, &err) < 0) {
			cache_failed(&err);
			return;
		}
		s->dirty = 0;
	}
}

static char offsets_path[4200];

static void offsets_load(void)
{
	FILE *f = fopen(offsets_path, "r");
	char app[256], src[256];
	long long end;

	if (!f)
		return;
	while (fscanf(f, "%255s %255s %lld", app, src, &end) == 3) {
		int is_app = !strcmp(src, "-");
		if (!deis_valid_app_name(app) || (!is_app && !deis_log_source_valid(src)) ||
		    end < 0)
			continue;
		struct stream *s = stream_get(app, is_app ? NULL : src);
		s->saved = end;
	}
	fclose(f);
}

static void offsets_save(void)
{
	char tmp[4300];

	if (!offsets_changed)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", offsets_path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		deis_log(LOG_WARNING, "%s: %s", tmp, strerror(errno));
		return;
	}
	for (struct stream *s = NULL; (s = logd_table_next(&streams, s));) {
		long long e = s->init ? s->end : s->saved;
		if (e > 0)
			fprintf(f, "%s %s %lld\n", s->e.app, s->e.src ? s->e.src : "-", e);
	}
	if (fclose(f) != 0 || rename(tmp, offsets_path) < 0) {
		deis_log(LOG_WARNING, "%s: %s", offsets_path, strerror(errno));
		unlink(tmp);
		return;
	}
	offsets_changed = 0;
}

/* The app was destroyed: its streams, offsets, pending lines and durable
 * file go. */
static void delete_app(const char *name)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (!deis_valid_app_name(name))
		return;
	size_t keep = 0;
	for (size_t i = 0; i < npend; i++) {
		if (!strcmp(pend[i].s->e.app, name)) {
			pend_bytes -= pend[i].len;
			free(pend[i].line);
		} else {
			pend[keep++] = pend[i];
		}
	}
	npend = keep;
	logd_table_remove(&streams, name);
	offsets_changed = 1;
	struct deis_cache *c = cache_get();
	if (c && deis_cache_log_delete(c, name, &err) < 0)
		cache_failed(&err);
	files_delete(name);
	deis_log(LOG_NOTICE, "app %s destroyed: its logs are deleted", name);
}

/* ---- the journal of unconfirmed messages ---- */

#define JOURNAL_MAX (256LL * 1024 * 1024)
static int journal_fd = -1;
static char journal_path[4300];
static long long journal_size;

static void journal_open(void)
{
	snprintf(journal_path, sizeof(journal_path), "%s/logd/journal", deis_conf.home);
	journal_fd = open(journal_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (journal_fd < 0)
		deis_log(LOG_WARNING, "%s: %s (a deis-logd killed in the middle of a batch "
			 "may lose lines from the cache)", journal_path, strerror(errno));
}

static void journal_clear(void)
{
	if (journal_fd >= 0 && journal_size > 0 && ftruncate(journal_fd, 0) < 0)
		deis_log(LOG_WARNING, "%s: %s", journal_path, strerror(errno));
	journal_size = 0;
}

/* Emptied once what it holds is in Redis (or too big to keep: the files
 * have every line). */
static void journal_done(int flushed)
{
	if (flushed == 0 || journal_size > JOURNAL_MAX)
		journal_clear();
}

/* What a killed predecessor answered but did not store. */
static void journal_replay(void)
{
	struct deis_buf b = DEIS_BUF_INIT;
	char chunk[65536];
	ssize_t r;
	size_t n = 0;

	if (journal_fd < 0)
		return;
	lseek(journal_fd, 0, SEEK_SET);
	while ((r = read(journal_fd, chunk, sizeof(chunk))) > 0)
		deis_buf_add(&b, chunk, (size_t)r);
	const char *p = deis_buf_str(&b), *e = p + b.len;
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		if (!nl)
			break;	/* a torn last line: its message is sent again */
		handle_message(p, (size_t)(nl - p));
		n++;
		p = nl + 1;
	}
	deis_buf_release(&b);
	if (n)
		deis_log(LOG_NOTICE, "replayed %zu messages from %s", n, journal_path);
	journal_size = 1;	/* clear it (a torn line included) */
	files_flush();
	journal_done(flush());
}

/* ---- rsyslog's protocol ---- */

static struct deis_buf in, out, jbuf;
static int in_tx;

/*
 * Reads what rsyslog sent and answers each whole line: BEGIN TRANSACTION
 * -> OK; a message -> DEFER_COMMIT inside a transaction (once it is in
 * the journal), else OK once stored; COMMIT TRANSACTION -> OK once the
 * batch is in the files and in Redis (or queued for it).  -1 at the end
 * of the input.
 */
static int read_input(void)
{
	int eof = 0, plain = 0;
	size_t done = 0;

	deis_buf_grow(&in, 65536);
	ssize_t r = read(0, in.data + in.len, in.cap - in.len - 1);
	if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
		eof = 1;
	if (r > 0) {
		in.len += (size_t)r;
		in.data[in.len] = '\0';
	}
	deis_buf_reset(&out);
	deis_buf_reset(&jbuf);
	for (char *nl; (nl = memchr(in.data + done, '\n', in.len - done));) {
		char *line = in.data + done;
		size_t len = (size_t)(nl - line);
		done += len + 1;
		if (len == 17 && !memcmp(line, "BEGIN TRANSACTION", 17)) {
			in_tx = 1;
			deis_buf_adds(&out, "OK\n");
		} else if (len == 18 && !memcmp(line, "COMMIT TRANSACTION", 18)) {
			in_tx = 0;
			files_flush();
			journal_done(flush());
			deis_buf_adds(&out, "OK\n");
		} else {
			handle_message(line, len);
			if (in_tx) {
				deis_buf_add(&jbuf, line, len + 1);
				deis_buf_adds(&out, "DEFER_COMMIT\n");
			} else {
				plain = 1;
				deis_buf_adds(&out, "OK\n");
			}
		}
	}
	if (plain) {
		files_flush();
		flush();
	}
	memmove(in.data, in.data + done, in.len - done);
	in.len -= done;
	/* The journal first, then the answers. */
	if (jbuf.len && journal_fd >= 0) {
		if (files_write_all(journal_fd, jbuf.data, jbuf.len) < 0)
			deis_log(LOG_WARNING, "%s: %s", journal_path, strerror(errno));
		journal_size += (long long)jbuf.len;
	}
	if (out.len && files_write_all(1, out.data, out.len) < 0)
		eof = 1;
	return eof ? -1 : 0;
}

/* What the event thread asks on the command pipe: "delete <app>" lines. */
static void read_commands(int fd)
{
	char cbuf[4096];
	ssize_t r = read(fd, cbuf, sizeof(cbuf) - 1);

	if (r <= 0)
		return;
	cbuf[r] = '\0';
	for (char *save = NULL, *line = strtok_r(cbuf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, "delete ", 7))
			delete_app(line + 7);
}

/* Every second: drop reports, offsets; every 5 s: byte trims, idle
 * files; every minute: the counters. */
static void timers(void)
{
	static long long last_second, last_trim, last_stats;
	long long now = deis_mono_ms();

	if (!last_second)
		last_second = last_trim = last_stats = now;
	if (now - last_second >= 1000) {
		last_second = now;
		report_drops();
		offsets_save();
	}
	if (now - last_trim >= 5000) {
		last_trim = now;
		trim_bytes();
		files_tick();
	}
	if (now - last_stats >= 60000) {
		last_stats = now;
		deis_log(LOG_INFO, "%lld messages, %lld lines stored, %lld dropped by the "
			 "rate limit, %lld replays skipped, %lld malformed, %lld of no known "
			 "container", stat_msgs, stat_lines, stat_dropped, stat_replayed, stat_bad,
			 stat_unknown);
	}
}

/* The state of the last run: the offsets, the durable files, the journal
 * (replayed once the threads run). */
static void state_open(void)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s/logd", deis_conf.home);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		deis_log(LOG_WARNING, "%s: %s", dir, strerror(errno));
	snprintf(offsets_path, sizeof(offsets_path), "%s/offsets", dir);
	offsets_load();
	snprintf(dir, sizeof(dir), "%s/logs", deis_conf.home);
	files_init(dir);
	journal_open();
}

static void state_close(void)
{
	offsets_changed = 1;
	offsets_save();
	files_close_all();
	if (journal_fd >= 0)
		close(journal_fd);
	logd_table_remove(&streams, NULL);
	logd_table_remove(&apps, NULL);
	for (size_t i = 0; i < npend; i++)
		free(pend[i].line);
	free(pend);
	deis_buf_release(&in);
	deis_buf_release(&out);
	deis_buf_release(&jbuf);
}

int main(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int cmd[2], eof = 0;

	deis_daemon_start(&logd, &argc, argv);
	/* 1. what the last run left: offsets, files, journal; Redis */
	state_open();
	cache_get();
	/* 2. the drain thread; the event thread (drains, destroyed apps) */
	if (pipe2(cmd, O_CLOEXEC | O_NONBLOCK) < 0 || drains_start(&err) < 0 ||
	    events_start(cmd[1], &err) < 0) {
		deis_log(LOG_ERR, "start-up: %s", err.code ? err.msg : strerror(errno));
		return deis_daemon_exit(1);
	}
	deis_log(LOG_NOTICE, "started (retention %d lines, %lld bytes; rate %d/s, burst %d; "
		 "files of %lld bytes, %d rotated kept)", logd_conf.retention_lines,
		 logd_conf.retention_bytes, logd_conf.rate, logd_conf.burst, logd_conf.file_max,
		 logd_conf.file_keep);
	/* 3. what a killed predecessor answered but did not store; then
	 * "OK", which rsyslog (confirmMessages) waits for */
	journal_replay();
	if (files_write_all(1, "OK\n", 3) < 0)
		return deis_daemon_exit(1);

	/* 4. messages until rsyslog closes our input (or a signal) */
	while (!eof && deis_daemon_running()) {
		struct pollfd p[3] = { { 0, POLLIN, 0 }, { cmd[0], POLLIN, 0 },
				       { deis_daemon_fd(), POLLIN, 0 } };
		if (poll(p, 3, npend ? 200 : 250) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN)
			read_commands(cmd[0]);
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			eof = read_input() < 0;
		if (npend && !in_tx)
			flush();	/* a retry while Redis was down */
		timers();
	}

	/* What was not committed rsyslog sends again. */
	if (!in_tx) {
		files_flush();
		journal_done(flush());
	}
	events_stop();
	drains_stop();
	logd_instances_close();
	deis_log(LOG_NOTICE, "exiting (%s): %lld messages, %lld lines stored, %lld dropped "
		 "by the rate limit", eof ? "end of input" : "signal", stat_msgs, stat_lines,
		 stat_dropped);
	state_close();
	deis_cache_keeper_close(&redis);
	deis_logemit_close(emitter);
	return deis_daemon_exit(0);
}
