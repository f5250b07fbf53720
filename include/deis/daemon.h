/*
 * daemon.h - the skeleton every daemon of the platform stands on.
 *
 * A daemon is one row (struct deis_daemon: its name, its --help text, its
 * option table and a check of the options) and a main() of one shape:
 *
 *	int main(int argc, char **argv)
 *	{
 *		deis_daemon_start(&daemon, &argc, argv);
 *		// 1. 2. 3. ...: its own set-up, in a fixed, commented order
 *		while (deis_daemon_running()) {
 *			// one turn: wait (on deis_daemon_fd() too), do what is due
 *		}
 *		// the set-up undone, in reverse order
 *		return deis_daemon_exit(0);
 *	}
 *
 * deis_daemon_start() reads the command line (--help and --version print
 * and exit; --config=FILE; --name=value wins over the file), the
 * configuration file, asks the daemon's check, starts logging at
 * log_level and installs signal handlers that only set flags: SIGTERM
 * and SIGINT stop; SIGHUP reloads the configuration file at the next
 * deis_daemon_running(), which keeps the configuration in force, and logs
 * why, when the new one is bad (conf.h: which options take effect on a
 * reload).  SIGPIPE is ignored.
 *
 * Also here, because every daemon needs them and needs them alike: the
 * clocks, the one backoff of every reconnection, the database
 * at start, and the event thread (Redis events and the periodic resync).
 */
#ifndef DEIS_DAEMON_H
#define DEIS_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "deis/conf.h"
#include "deis/error.h"
#include "deis/kv.h"

/* ---- the clocks ---- */

/* Milliseconds of CLOCK_MONOTONIC: for timers and timeouts (never goes
 * back when the wall clock is set). */
long long deis_mono_ms(void);
/* Microseconds since the epoch (CLOCK_REALTIME): for times that are
 * stored or shown (a container's start), never for timeouts. */
int64_t deis_wall_us(void);

/* ---- the backoff of every reconnection (Redis, PostgreSQL) ---- */

#define DEIS_BACKOFF_MIN_MS	250	/* the first retry */
#define DEIS_BACKOFF_MAX_MS	5000	/* doubling up to this */

struct deis_backoff {
	long long next_ms;	/* deis_mono_ms() of the next try; 0: now */
	int delay_ms;		/* the last delay; 0 after a success */
	int failures;		/* in a row */
};

#define DEIS_BACKOFF_INIT { 0, 0, 0 }

/* Whether a try is due at now_ms. */
bool deis_backoff_due(const struct deis_backoff *b, long long now_ms);
/* A try failed at now_ms: the next waits 250 ms, then twice as long
 * after each failure, up to 5 s.  Returns that delay. */
int deis_backoff_failed(struct deis_backoff *b, long long now_ms);
/* A try succeeded: the next failure starts again at 250 ms. */
void deis_backoff_reset(struct deis_backoff *b);

/* ---- start-up, signals, reload ---- */

struct deis_daemon {
	const char *name;	/* "deis-proxy": --version, log lines */
	const char *synopsis;	/* after "usage: "; more lines after '\n' */
	const char *about;	/* what it does, for --help */
	const struct deis_conf_option *options;	/* DEIS_COMMON_OPTIONS first */
	/* Checks the options as read and derives what the daemon computes
	 * from them; < 0 with err refuses them.  Asked at start, and at each
	 * reload before the new values are put in force (and again after,
	 * on what then is in force).  May be NULL. */
	int (*check)(struct deis_error *err);
	/* Prints more help after the options (deisfs: FUSE's); or NULL. */
	void (*help_more)(FILE *out);
	/* Arguments other than options are the daemon's (deisfs: FUSE's
	 * and the mount point); else they are refused. */
	bool takes_args;
};

/*
 * Reads the command line and the configuration, asks d->check and starts
 * logging as d->name; then installs the signal handlers.  --help and
 * --version print and exit(0); a bad option, file or check prints
 * "name: why" on stderr and exits 2.  What is left of argv (takes_args)
 * is compacted after argv[0].
 */
void deis_daemon_start(const struct deis_daemon *d, int *argc, char **argv);
/* The same without the signal handlers, for a daemon's subcommands
 * (deis-builder hook, deis-scheduler run), logging as log_name. */
void deis_daemon_configure(const struct deis_daemon *d, const char *log_name,
			   int *argc, char **argv);
/* What deis_daemon_configure() does without printing or exiting: 0, or
 * 1 when the command line asks for --help, 2 for --version, or < 0 with
 * err (for tests). */
int deis_daemon_options(const struct deis_daemon *d, int *argc, char **argv,
			struct deis_error *err);
/* --help's text. */
void deis_daemon_usage(FILE *out);

/* Acts on the signals received: a SIGHUP reloads the configuration (and
 * asks the event thread for a resync).  false once SIGTERM or SIGINT came
 * (or deis_daemon_stop()).  The loop that owns the daemon calls it at
 * every turn (deisfs: its event thread; FUSE owns the main thread). */
bool deis_daemon_running(void);
/* Readable when a signal came or the event thread has something queued:
 * poll it beside the daemon's own descriptors. */
int deis_daemon_fd(void);
/* Asks the daemon to stop, as SIGTERM does. */
void deis_daemon_stop(void);
/* fn(arg) is called from the handler of SIGTERM and SIGINT (at once when
 * one came already): it must be async-signal-safe (deisfs:
 * fuse_session_exit, which sets a flag).  NULL removes it. */
void deis_daemon_on_stop(void (*fn)(void *arg), void *arg);
/* Reads the configuration file again and puts it in force, as SIGHUP
 * does: < 0 with err (and the configuration in force unchanged) when it
 * is bad.  Notes what changed in the log. */
int deis_daemon_reload(struct deis_error *err);
/* Frees the options; returns code (for main's return). */
int deis_daemon_exit(int code);

/* ---- the database at start ---- */

struct deis_db;

/* A connection opened with the backoff: each failed try is logged in
 * words with the time to the next. */
struct deis_daemon_db {
	struct deis_db *db;	/* NULL until connected */
	struct deis_backoff backoff;
};

#define DEIS_DAEMON_DB_INIT { NULL, DEIS_BACKOFF_INIT }

/* The connection; while there is none, one try when the backoff allows;
 * NULL while the database cannot be reached.  (Once open, lib/db_*.c
 * re-establishes a broken connection itself.) */
struct deis_db *deis_daemon_db(struct deis_daemon_db *k);
/*
 * The start-up policy of every daemon for the database: tries until it
 * connects, waiting the backoff between tries (each failure logged in
 * words), and never exits for want of it; NULL only when asked to stop
 * meanwhile.  A daemon that has other work (deis-logd) calls
 * deis_daemon_db() where it needs the database instead.
 */
struct deis_db *deis_daemon_db_wait(struct deis_daemon_db *k);
void deis_daemon_db_close(struct deis_daemon_db *k);

/* ---- Redis: lib/cache.c's keeper, logged ---- */

struct deis_cache;
struct deis_cache_keeper;

/* k's connection to the configured Redis (opened, or again after the
 * backoff, each failure logged as what: "Redis", "Redis events"); NULL
 * while Redis is down.  After an operation on it fails, the caller logs
 * why and calls deis_cache_keeper_failed() (lib/cache.c). */
struct deis_cache *deis_daemon_cache(struct deis_cache_keeper *k, const char *what);

/* ---- the event thread ---- */

/*
 * One thread per daemon follows the platform's change events ("app
 * <name>" on the Redis events channel: lib/cache.c) and keeps the
 * daemon level-triggered: every resync_interval seconds, and at once
 * whenever the subscription is made (events may have been lost meanwhile)
 * or the configuration reloaded, it asks for a resync.  Either the
 * callbacks run in the thread, or (NULL) the thread queues app names and
 * the resync for the main loop, which takes them with
 * deis_daemon_events_take() when deis_daemon_fd() wakes it.
 */
struct deis_daemon_events {
	/* An event from another process. */
	void (*event)(const char *kind, const char *name);
	/* Compare everything with the database. */
	void (*resync)(void);
	/* About twice a second (deisfs: health probes, reloads). */
	void (*tick)(void);
};

int deis_daemon_events_start(const struct deis_daemon_events *ev,
			     struct deis_error *err);
/* The queued app names (added to *apps) and whether a resync is due. */
bool deis_daemon_events_take(struct deis_strlist *apps);
/* A resync as soon as the thread can. */
void deis_daemon_events_resync(void);
void deis_daemon_events_stop(void);

#endif
