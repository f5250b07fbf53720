/*
 * logd.h - deis-logd's pieces: the main loop (main.c) reads rsyslog's
 * messages, rate-limits them and writes Redis; files.c writes the durable
 * per-app files (capped, rotated); guard.c keeps a restart from storing a
 * line twice; the drain thread (drains.c) forwards lines to per-app syslog
 * drains; the event thread (lib/daemon.c, with events.c's callbacks)
 * follows PostgreSQL and Redis events to refresh the drains and delete
 * destroyed apps' logs; table.c is the hash table of the per-app state.
 */
#ifndef DEIS_LOGD_H
#define DEIS_LOGD_H

#include <stdbool.h>
#include <stddef.h>

#include "deis/error.h"
#include "deis/kv.h"

struct logd_conf {
	int retention_lines;		/* MAXLEN ~ of every stream */
	char *retention_bytes_s;
	long long retention_bytes;	/* trimmed periodically */
	int rate;			/* lines per second per app (sustained) */
	int burst;			/* lines per app at once */
	char *drain_ca_file;		/* extra CA for syslog+tls drains */
	char *drain_queue_s;
	long long drain_queue;		/* bytes queued per drain before dropping */
	char *file_max_s;
	long long file_max;		/* bytes of a durable file before it is rotated */
	int file_keep;			/* rotated files kept per app */
};

extern struct logd_conf logd_conf;

/* Parses "8M", "512K", "1G", "1000" (bytes); -1 when malformed. */
long long logd_parse_size(const char *s);

/* ---- table.c ---- */
/*
 * A hash table of per-app state: entries named by an app and, for the
 * streams, a source (NULL: none).  Each entry's struct starts with a
 * struct logd_entry; the table owns the entries and their names, and
 * release (when not NULL) frees what else an entry holds.
 */
#define LOGD_BUCKETS 4096

struct logd_entry {
	char *app;
	char *src;
	size_t bucket;
	struct logd_entry *next;
};

struct logd_table {
	size_t size;			/* of the struct an entry starts */
	void (*release)(void *entry);
	struct logd_entry *buckets[LOGD_BUCKETS];
};

#define LOGD_TABLE_INIT(type, release) { sizeof(type), (release), { NULL } }

/* The entry of app and src, or NULL. */
void *logd_table_find(const struct logd_table *t, const char *app, const char *src);
/* A new entry of app and src, zeroed but for its names (one must not be
 * there already).  Allocation failure aborts. */
void *logd_table_add(struct logd_table *t, const char *app, const char *src);
/* The entry after prev (NULL: the first), NULL after the last:
 * for (e = NULL; (e = logd_table_next(t, e));).  Nothing may be added or
 * removed meanwhile. */
void *logd_table_next(const struct logd_table *t, const void *prev);
/* Removes the entries of app, whatever their source; every entry when app
 * is NULL. */
void logd_table_remove(struct logd_table *t, const char *app);

/* ---- guard.c ---- */
#define LOGD_GUARD_MS 60000

struct logd_guard {
	unsigned long *seen;	/* hashes of lines (open addressing, 0 = empty) */
	size_t nseen, capseen;
	long long until;	/* monotonic ms; 0: off */
};

/* Starts guarding an output whose last lines are tail (cut: its first
 * line may be partial). */
void guard_begin(struct logd_guard *g, const char *tail, size_t len, int cut,
		 long long now_ms);
/* 1 when every line of lines (formatted, each ending in '\n') is already
 * in the output: skip them.  Else remembers them and returns 0. */
int guard_replayed(struct logd_guard *g, const char *lines, size_t len, long long now_ms);
void guard_release(struct logd_guard *g);

/* ---- files.c ---- */
/* The durable files: <dir>/<app>.log, rotated to <app>.log.1 .. .N. */
void files_init(const char *dir);
/* Queues the formatted lines of one message (after the rate limit) for
 * app's file, unless the replay guard knows them. */
void files_add(const char *app, const char *lines, size_t len);
/* Writes what was queued, rotating as needed.  Errors are logged; lines
 * that could not be written are dropped (counted). */
void files_flush(void);
/* Closes idle files and those moved or deleted behind our back. */
void files_tick(void);
/* The app was destroyed: its files go. */
void files_delete(const char *app);
/* write(2) until all n bytes are written (EINTR retried); -1 on error,
 * with errno set. */
int files_write_all(int fd, const char *p, size_t n);
/* Closes every file; lines still queued (a batch rsyslog did not commit,
 * which it will send again) are dropped. */
void files_close_all(void);

/* ---- drains.c ---- */
int drains_start(struct deis_error *err);
void drains_stop(void);
/* Replaces the set of drains: key app, value URLs joined by '\n'. */
void drains_set(const struct deis_kvlist *app_urls);
/* Does app have drains?  (Cheap; may be stale by a refresh.) */
int drains_has(const char *app);
/* Queues one line (the text after "app[src]: ") for every drain of app. */
void drains_send(const char *app, const char *ts, const char *src,
		 const char *text, size_t len);
/* The platform's nodes (name -> address): a drain may not point at them. */
void drains_set_nodes(const struct deis_kvlist *nodes);
/* Calls tell(app, text) for each refusal of a drain not yet told (a drain
 * whose host resolved to the platform), once. */
void drains_notices(void (*tell)(const char *app, const char *text));

/* ---- events.c ---- */
/* Starts the event thread (lib/daemon.c) with deis-logd's callbacks; they
 * write "delete <app>\n" to cmd_fd when an app's logs must go. */
int events_start(int cmd_fd, struct deis_error *err);
void events_stop(void);

/* ---- instances.c ---- */
/*
 * The source a container's line from another node shows (web.3) for its
 * relay's "@<seq>" (logd_instance_source: 1 and *name, valid until the
 * next call; 0 when src is not "@<seq>" of one of app's containers, or the
 * database cannot say now).
 */
int logd_instance_source(const char *app, const char *src, const char **name);
void logd_instances_close(void);

#endif
