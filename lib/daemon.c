/*
 * daemon.c - see include/deis/daemon.h: the skeleton of every daemon.
 *
 * The signal handlers only set flags and write a byte to a pipe (the
 * self-pipe trick), so that a daemon sleeping in poll() wakes; what a
 * signal asks for is done by deis_daemon_running(), in the loop that owns
 * the daemon, never in the handler.  A reload reads the whole file into
 * values held apart (lib/conf.c) and puts them in force only when they
 * parse and the daemon's check accepts them: a bad file leaves the
 * daemon as it was, and the log says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deis/cache.h"
#include "deis/daemon.h"
#include "deis/db.h"
#include "deis/log.h"

/* ---- the clocks and the backoff ---- */

long long deis_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t deis_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool deis_backoff_due(const struct deis_backoff *b, long long now_ms)
{
	return now_ms >= b->next_ms;
}

int deis_backoff_failed(struct deis_backoff *b, long long now_ms)
{
	b->delay_ms = b->delay_ms ? b->delay_ms * 2 : DEIS_BACKOFF_MIN_MS;
	if (b->delay_ms > DEIS_BACKOFF_MAX_MS)
		b->delay_ms = DEIS_BACKOFF_MAX_MS;
	b->failures++;
	b->next_ms = now_ms + b->delay_ms;
	return b->delay_ms;
}

void deis_backoff_reset(struct deis_backoff *b)
{
	*b = (struct deis_backoff)DEIS_BACKOFF_INIT;
}

/* ---- start-up ---- */

static const struct deis_daemon *daemon_row;
static struct deis_conf_cmdline cmdline;
static struct deis_strlist start_notes;
static volatile sig_atomic_t got_stop, got_hup;
static int wake[2] = { -1, -1 };
static void (*stop_fn)(void *arg);
static void *stop_arg;

/* The options every daemon shares, then the daemon's own check. */
static int check_all(struct deis_error *err)
{
	if (deis_log_level_parse(deis_conf.log_level) < 0)
		return deis_error_set(err, EINVAL, "log_level: '%s' is not error, warning, "
				      "notice, info or debug", deis_conf.log_level);
	if (deis_conf.resync_interval < 1)
		return deis_error_set(err, EINVAL, "resync_interval: seconds, at least 1");
	return daemon_row->check ? daemon_row->check(err) : 0;
}

void deis_daemon_usage(FILE *out)
{
	const struct deis_daemon *d = daemon_row;
	const char *s = d->synopsis;

	for (const char *p = "usage: "; *s; p = "       ") {
		const char *nl = strchr(s, '\n');
		int n = nl ? (int)(nl - s) : (int)strlen(s);
		fprintf(out, "%s%.*s\n", p, n, s);
		s += n + (nl != NULL);
	}
	fprintf(out, "\n%s\n\n"
"  --config=FILE             configuration file (default: $DEIS_HOME/deis.conf\n"
"                            or /var/lib/deis/deis.conf)\n"
"  --help, --version\n"
"\n"
"Options (in FILE as name = value; those marked [SIGHUP] take a new value\n"
"when the daemon reloads FILE on SIGHUP, the others at its next start):\n",
		d->about);
	deis_conf_usage(d->options, out);
	if (d->help_more)
		d->help_more(out);
}

int deis_daemon_options(const struct deis_daemon *d, int *argc, char **argv,
			struct deis_error *err)
{
	if (daemon_row)
		deis_daemon_exit(0);
	daemon_row = d;
	deis_conf_cmdline(argc, argv, &cmdline);
	if (cmdline.help)
		return 1;
	if (cmdline.version)
		return 2;
	struct deis_conf_values *v = deis_conf_read(d->options, cmdline.config, 0, cmdline.sets,
						    cmdline.nsets, &start_notes, err);
	if (!v || deis_conf_apply(v, 0, check_all, NULL, err) < 0)
		return -err->code;
	if (!d->takes_args && *argc > 1)
		return deis_error_set(err, EINVAL, "unknown argument '%s' (see --help)", argv[1]);
	return 0;
}

void deis_daemon_configure(const struct deis_daemon *d, const char *log_name,
			   int *argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int r = deis_daemon_options(d, argc, argv, &err);

	if (r == 1) {
		deis_daemon_usage(stdout);
		exit(0);
	}
	if (r == 2) {
		printf("%s %s\n", d->name, DEIS_VERSION);
		exit(0);
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", d->name, err.msg);
		exit(2);
	}
	deis_log_init(log_name, deis_log_level_parse(deis_conf.log_level), 0);
	for (size_t i = 0; i < start_notes.n; i++)
		deis_log(LOG_WARNING, "%s", start_notes.items[i]);
	deis_strlist_clear(&start_notes);
}

/* ---- signals ---- */

static void poke(void)
{
	char b = 1;

	if (wake[1] >= 0 && write(wake[1], &b, 1) < 0) {
		/* full: a wake-up is pending anyway */
	}
}

static void on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGHUP) {
		got_hup = 1;
	} else {
		got_stop = 1;
		if (stop_fn)
			stop_fn(stop_arg);
	}
	poke();
	errno = saved;
}

void deis_daemon_start(const struct deis_daemon *d, int *argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };

	deis_daemon_configure(d, d->name, argc, argv);
	if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		deis_log(LOG_ERR, "pipe: %s", strerror(errno));
		exit(1);
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int deis_daemon_fd(void)
{
	return wake[0];
}

void deis_daemon_stop(void)
{
	got_stop = 1;
	poke();
}

void deis_daemon_on_stop(void (*fn)(void *arg), void *arg)
{
	stop_fn = NULL;
	stop_arg = arg;
	stop_fn = fn;
	if (fn && got_stop)
		fn(arg);	/* the signal came first */
}

int deis_daemon_reload(struct deis_error *err)
{
	struct deis_strlist notes = DEIS_STRLIST_INIT;
	const struct deis_daemon *d = daemon_row;
	struct deis_conf_values *v = deis_conf_read(d->options, cmdline.config, 1, cmdline.sets,
						    cmdline.nsets, &notes, err);
	int r = v ? deis_conf_apply(v, 1, check_all, &notes, err) : -err->code;

	for (size_t i = 0; i < notes.n && r == 0; i++)
		deis_log(strstr(notes.items[i], "deprecated") ? LOG_WARNING : LOG_NOTICE,
			 "%s", notes.items[i]);
	deis_strlist_clear(&notes);
	if (r < 0)
		return r;
	deis_log_set_level(deis_log_level_parse(deis_conf.log_level));
	return 0;
}

bool deis_daemon_running(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char buf[64];

	while (wake[0] >= 0 && read(wake[0], buf, sizeof(buf)) > 0)
		;
	if (got_hup) {
		got_hup = 0;
		deis_log(LOG_NOTICE, "SIGHUP: reading %s again", cmdline.config);
		if (deis_daemon_reload(&err) < 0)
			deis_log(LOG_ERR, "reload refused, the configuration in force is kept: %s",
				 err.msg);
		else
			deis_log(LOG_NOTICE, "configuration reloaded");
		deis_daemon_events_resync();
	}
	return !got_stop;
}

int deis_daemon_exit(int code)
{
	deis_daemon_events_stop();
	if (daemon_row)
		deis_conf_free(daemon_row->options);
	deis_conf_cmdline_free(&cmdline);
	deis_strlist_clear(&start_notes);
	daemon_row = NULL;
	return code;
}

/* ---- reconnections, logged ---- */

/* libpq's messages run over lines ("...failed: Connection refused\n\tIs
 * the server running..."): one line in the log. */
static void one_line(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++) {
		if (*p == '\n' || *p == '\t') {
			if (o > s && o[-1] != ' ')
				*o++ = ' ';
			continue;
		}
		*o++ = *p;
	}
	while (o > s && o[-1] == ' ')
		o--;
	*o = '\0';
}

static void log_failure(const char *what, struct deis_error *err,
			const struct deis_backoff *b)
{
	one_line(err->msg);
	deis_log(LOG_WARNING, "%s: %s (try %d failed; the next in %d.%02d s)", what, err->msg,
		 b->failures, b->delay_ms / 1000, b->delay_ms % 1000 / 10);
}

struct deis_db *deis_daemon_db(struct deis_daemon_db *k)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (k->db || !deis_backoff_due(&k->backoff, deis_mono_ms()))
		return k->db;
	if (deis_db_open(deis_conf.database, &k->db, &err) < 0) {
		k->db = NULL;
		deis_backoff_failed(&k->backoff, deis_mono_ms());
		log_failure("database", &err, &k->backoff);
		return NULL;
	}
	if (k->backoff.failures)
		deis_log(LOG_NOTICE, "database: connected (after %d failed tries)",
			 k->backoff.failures);
	deis_backoff_reset(&k->backoff);
	return k->db;
}

struct deis_db *deis_daemon_db_wait(struct deis_daemon_db *k)
{
	while (!deis_daemon_db(k)) {
		if (!deis_daemon_running())
			return NULL;
		long long left = k->backoff.next_ms - deis_mono_ms();
		struct pollfd p = { wake[0], POLLIN, 0 };
		if (left > 0)
			poll(&p, 1, (int)left);
	}
	return k->db;
}

void deis_daemon_db_close(struct deis_daemon_db *k)
{
	deis_db_close(k->db);
	k->db = NULL;
}

struct deis_cache *deis_daemon_cache(struct deis_cache_keeper *k, const char *what)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int failures = k->backoff.failures;
	struct deis_cache *c = deis_cache_keep(k, deis_conf.redis_host, deis_conf.redis_port,
					       deis_conf.redis_password, &err);

	if (!c && err.code)
		log_failure(what, &err, &k->backoff);
	else if (c && k->fresh && failures)
		deis_log(LOG_NOTICE, "%s: connected again (after %d failed tries)", what,
			 failures);
	return c;
}

/* ---- the event thread ---- */

static struct {
	pthread_t thread;
	bool started;
	volatile int stopping;
	volatile int resync_asked;
	struct deis_daemon_events ev;
	pthread_mutex_t lock;		/* guards what follows */
	struct deis_strlist apps;	/* queued for deis_daemon_events_take() */
	bool resync_due;
} events = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void event_queue(const char *kind, const char *name)
{
	if (strcmp(kind, "app"))
		return;
	pthread_mutex_lock(&events.lock);
	if (!deis_strlist_has(&events.apps, name))
		deis_strlist_add(&events.apps, name);
	pthread_mutex_unlock(&events.lock);
	poke();
}

static void resync_queue(void)
{
	pthread_mutex_lock(&events.lock);
	events.resync_due = true;
	pthread_mutex_unlock(&events.lock);
	poke();
}

static long long min_ll(long long a, long long b)
{
	return a < b ? a : b;
}

static void *events_main(void *arg)
{
	struct deis_cache_keeper sub = DEIS_CACHE_SUBSCRIBER_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	void (*event)(const char *, const char *) = events.ev.event ? events.ev.event : event_queue;
	void (*resync)(void) = events.ev.resync ? events.ev.resync : resync_queue;
	long long next_resync = 0, next_tick = 0;
	char kind[16], name[256];

	while (!events.stopping) {
		long long now = deis_mono_ms();
		if (events.ev.tick && now >= next_tick) {
			next_tick = now + 500;
			events.ev.tick();
		}
		struct deis_cache *c = deis_daemon_cache(&sub, "Redis events");
		if (c && sub.fresh) {
			deis_log(LOG_INFO, "subscribed to events");
			next_resync = 0;	/* catch up on what was missed */
		}
		if (events.resync_asked) {
			events.resync_asked = 0;
			next_resync = 0;
		}
		if (deis_mono_ms() >= next_resync) {
			resync();
			next_resync = deis_mono_ms() + deis_conf.resync_interval * 1000LL;
		}
		now = deis_mono_ms();
		long long wait = min_ll(500, next_resync - now);
		if (events.ev.tick)
			wait = min_ll(wait, next_tick - now);
		if (!c)
			wait = min_ll(wait, sub.backoff.next_ms - now);
		if (wait < 0)
			wait = 0;
		if (!c) {
			usleep((useconds_t)wait * 1000);
			continue;
		}
		int r = deis_cache_next_event(c, (int)wait, kind, sizeof(kind), name,
					      sizeof(name), &err);
		if (r > 0) {
			event(kind, name);
		} else if (r < 0) {
			deis_log(LOG_WARNING, "event subscription lost: %s", err.msg);
			deis_error_clear(&err);
			deis_cache_keeper_drop(&sub);
		}
	}
	deis_cache_keeper_close(&sub);
	return NULL;
}

int deis_daemon_events_start(const struct deis_daemon_events *ev, struct deis_error *err)
{
	sigset_t all, old;

	events.ev = *ev;
	events.stopping = 0;
	/* Signals go to the thread that waits for them (FUSE's main loop
	 * in deisfs), never to this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&events.thread, NULL, events_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0)
		return deis_error_set(err, r, "cannot start the event thread: %s", strerror(r));
	events.started = true;
	return 0;
}

bool deis_daemon_events_take(struct deis_strlist *apps)
{
	pthread_mutex_lock(&events.lock);
	for (size_t i = 0; i < events.apps.n; i++)
		deis_strlist_add(apps, events.apps.items[i]);
	deis_strlist_clear(&events.apps);
	bool resync = events.resync_due;
	events.resync_due = false;
	pthread_mutex_unlock(&events.lock);
	return resync;
}

void deis_daemon_events_resync(void)
{
	events.resync_asked = 1;
}

void deis_daemon_events_stop(void)
{
	if (!events.started)
		return;
	events.stopping = 1;
	pthread_join(events.thread, NULL);
	events.started = false;
	pthread_mutex_lock(&events.lock);
	deis_strlist_clear(&events.apps);
	pthread_mutex_unlock(&events.lock);
}
