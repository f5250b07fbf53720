/*
 * main.c - deis-proxy: keeps a private nginx routing HTTP to the apps'
 * web containers.
 *
 *   deis-proxy [--config=FILE] [--OPTION=VALUE ...]
 *
 * Level-triggered, like every daemon of the platform: an "app <name>"
 * event (Redis, queued by the event thread of lib/daemon.c) only marks
 * the app to be read again; every resync_interval seconds the apps'
 * serials in PostgreSQL are compared with the serials rendered, so a lost
 * event, or a deis-proxy that was down, is made up.  Changes are batched (at most one install
 * every proxy_batch_ms), then:
 *
 *   1. each changed app is loaded (deis_db_load_apps) and rendered to its
 *      piece of config (render.c); nothing else is rendered again;
 *   2. when no piece differs from what nginx serves, nothing is reloaded
 *      (a new release or a container that is only starting changes no
 *      route) and the serials are recorded at once;
 *   3. else the whole nginx.conf is written beside the installed one,
 *      checked with `nginx -t`, renamed over it and nginx is reloaded
 *      gracefully (nginx.c).  A config nginx refuses is never installed:
 *      the changed apps are tried again at their last good piece, so one
 *      app's bad piece holds back only that app, and the reason is
 *      logged;
 *   4. after the reload has taken effect, the serials of the apps whose
 *      routes changed are recorded in PostgreSQL, in one transaction with
 *      this router's heartbeat (deis_db_router_applied: the scheduler
 *      waits for it before it stops a container that was taken out of the
 *      routes, with Redis or without), and in Redis
 *      (deis_cache_proxy_applied), for those who read them there.
 *
 * The router log (router.c) is read in the same loop.  nginx outlives
 * deis-proxy (packaging/down stops it), so restarting deis-proxy never
 * drops a request.  See docs/proxy.md.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/db.h"
#include "deis/db_proxy.h"
#include "deis/file.h"
#include "deis/log.h"
#include "deis/validate.h"
#include "proxy.h"

extern long long router_rotate_bytes;

static struct {
	char *name;
	char *listen;
	char *nginx;
	char *user;
	int workers;
	int worker_connections;
	int batch_ms;
	int reload_timeout;
	int log_rotate_mb;
	int heartbeat_ttl;
	int connect_timeout;
} pc;

/* What nginx's main config holds needs a restart; the rest reloads. */
static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ "proxy_name", DEIS_CONF_STR, &pc.name, "",
	  "this router's name in the routers' record the scheduler reads (one per "
	  "deis-proxy; default: the host name)" },
	{ "proxy_listen", DEIS_CONF_STR, &pc.listen, "",
	  "address the router listens on (an IP address); empty for every address" },
	{ "proxy_nginx", DEIS_CONF_STR, &pc.nginx, "/usr/sbin/nginx",
	  "the nginx binary" },
	{ "proxy_user", DEIS_CONF_STR, &pc.user, "www-data",
	  "user nginx's workers run as (when started as root); empty: nginx's default" },
	{ "proxy_workers", DEIS_CONF_INT, &pc.workers, "0",
	  "nginx worker processes; 0: one per CPU" },
	{ "proxy_worker_connections", DEIS_CONF_INT, &pc.worker_connections, "4096",
	  "connections each nginx worker may hold" },
	{ "proxy_batch_ms", DEIS_CONF_INT | DEIS_CONF_RELOAD, &pc.batch_ms, "50",
	  "least time between two installs of the config (changes are batched)" },
	DEIS_CONF_DEPRECATED("proxy_resync_interval", "resync_interval"),
	{ "proxy_reload_timeout", DEIS_CONF_INT | DEIS_CONF_RELOAD, &pc.reload_timeout, "30",
	  "seconds nginx gets to take a new config" },
	{ "proxy_log_rotate", DEIS_CONF_INT | DEIS_CONF_RELOAD, &pc.log_rotate_mb, "64",
	  "MB of nginx's access log (read by deis-proxy) before it is rotated" },
	{ "proxy_heartbeat_ttl", DEIS_CONF_INT | DEIS_CONF_RELOAD, &pc.heartbeat_ttl, "15",
	  "seconds this router counts as alive after its last heartbeat (a router "
	  "lost is waited for that long, plus proxy_reload_timeout in PostgreSQL)" },
	{ "proxy_connect_timeout", DEIS_CONF_INT, &pc.connect_timeout, "5",
	  "seconds nginx waits for a container to accept before it tries the next "
	  "(1 in a cluster: a node lost costs that much on a few requests)" },
	{ NULL, 0, NULL, NULL, NULL },
};

static int check(struct deis_error *err);

static const struct deis_daemon proxy = {
	.name = "deis-proxy",
	.synopsis = "deis-proxy [--config=FILE] [--OPTION=VALUE ...]",
	.about =
"The Proxy: keeps a private nginx (config, pid and logs under $DEIS_HOME)\n"
"routing http://<app>.<platform_domain>/ and the apps' domains to their web\n"
"containers, with TLS from the apps' certs/, maintenance pages and a router\n"
"line in the app's log for every request.  See docs/proxy.md.",
	.options = options, .check = check,
};

static struct proxy_render_opts ropts;
static char router_name[256];	/* proxy_name, or the host name */
static struct proxy_nginx ngx;
static char dir_proxy[PATH_MAX], dir_certs[PATH_MAX], conf_new[PATH_MAX];

/* ---- what is rendered, per app ---- */

struct entry {
	char *name;
	long serial;		/* of the piece; 0: never rendered */
	long db_serial;		/* last seen in the database or an event */
	char *piece;		/* rendered; NULL renders nothing */
	struct deis_strlist certs;	/* cert files the piece uses */
	char *good;		/* the piece nginx serves */
	struct deis_strlist good_certs;
	long good_serial;	/* serial of the routes nginx serves */
	long app_id, good_app_id;	/* the app's id (apps.id): of the piece,
					 * of the piece nginx serves */
	long applied;		/* serial recorded in Redis */
	long recorded;		/* serial recorded in PostgreSQL */
	long refused;		/* serial whose piece nginx refused: held
				 * back (at good) until the app changes */
	struct deis_kvlist dynos;	/* of the piece nginx serves */
	bool dirty;		/* load it again */
	bool gone;		/* deleted: remove at the next install */
};

static struct entry *entries;
static size_t nentries, capentries;
static bool any_dirty;

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static struct entry *entry_find(const char *name)
{
	struct entry key = { .name = (char *)name };

	return nentries ? bsearch(&key, entries, nentries, sizeof(*entries), entry_cmp) : NULL;
}

static struct entry *entry_get(const char *name)
{
	struct entry *e = entry_find(name);

	if (e)
		return e;
	if (nentries == capentries) {
		capentries = capentries ? capentries * 2 : 64;
		entries = realloc(entries, capentries * sizeof(*entries));
		if (!entries)
			abort();
	}
	size_t i = 0;
	while (i < nentries && strcmp(entries[i].name, name) < 0)
		i++;
	memmove(&entries[i + 1], &entries[i], (nentries - i) * sizeof(*entries));
	memset(&entries[i], 0, sizeof(*entries));
	entries[i].name = strdup(name);
	if (!entries[i].name)
		abort();
	nentries++;
	return &entries[i];
}

static void entry_clear(struct entry *e)
{
	free(e->name);
	free(e->piece);
	free(e->good);
	deis_strlist_clear(&e->certs);
	deis_strlist_clear(&e->good_certs);
	deis_kvlist_clear(&e->dynos);
}

static void mark_dirty(const char *name)
{
	if (!deis_valid_app_name(name))
		return;
	struct entry *e = entry_get(name);
	e->dirty = true;
	any_dirty = true;
}

/* For router.c: the container behind an upstream address. */
static const char *dyno_of(const char *app, const char *addr)
{
	struct entry *e = entry_find(app);

	return e ? deis_kvlist_get(&e->dynos, addr) : NULL;
}

/* ---- certificates ---- */

/* Checks are cached by file name (the SHA-256 of the PEM) and host. */
static struct deis_kvlist cert_checks;

static bool cert_ok(void *ctx, const struct deis_cert *c, const char *host, char *why,
		    size_t whylen)
{
	char key[400];
	struct deis_error err = DEIS_ERROR_INIT;
	time_t now = time(NULL), until = (time_t)(c->not_after / 1000000);

	(void)ctx;
	proxy_cert_name(c->pem, key, 80);
	snprintf(key + strlen(key), sizeof(key) - strlen(key), " %s", host);
	const char *v = deis_kvlist_get(&cert_checks, key);
	if (!v) {
		/* Everything but the date: an expired certificate is still
		 * served (with a warning below) rather than no TLS at all. */
		time_t at = until > 0 && until <= now ? until - 1 : now;
		int r = deis_cert_check(c->pem, strlen(c->pem), host, at, NULL, &err);
		if (cert_checks.n > 10000)
			deis_kvlist_clear(&cert_checks);
		deis_kvlist_set(&cert_checks, key, r == 0 ? "" : err.msg);
		v = deis_kvlist_get(&cert_checks, key);
	}
	if (v[0]) {
		snprintf(why, whylen, "%s", v);
		return false;
	}
	if (until > 0 && until <= now)
		deis_log(LOG_WARNING, "certificate %s.pem (for %s) expired; still served",
			 c->domain, host);
	return true;
}

static int write_certs(const struct proxy_app_out *out, struct deis_error *err)
{
	char p[PATH_MAX + 80];
	struct stat st;

	for (size_t i = 0; i < out->ncerts; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir_certs, out->certs[i].name);
		/* Named by its content: already right when whole (a file cut
		 * short by a crash, since nothing is fsynced, is written
		 * again). */
		if (stat(p, &st) == 0 && (size_t)st.st_size == strlen(out->certs[i].pem))
			continue;
		if (deis_file_write(p, out->certs[i].pem, strlen(out->certs[i].pem), 0600,
				     err) < 0)
			return -err->code;
	}
	return 0;
}

/* Removes cert files no installed piece refers to. */
static void certs_gc(void)
{
	DIR *d = opendir(dir_certs);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		bool used = false;
		for (size_t i = 0; i < nentries && !used; i++)
			used = deis_strlist_has(&entries[i].good_certs, de->d_name) ||
			       deis_strlist_has(&entries[i].certs, de->d_name);
		if (!used)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	if (d)
		closedir(d);
}

/* ---- connections ---- */

static struct deis_daemon_db db = DEIS_DAEMON_DB_INIT;
static struct deis_cache_keeper redis = DEIS_CACHE_KEEPER_INIT;

static struct deis_cache *cache_get(void)
{
	return deis_daemon_cache(&redis, "Redis");
}

/* ---- loading and rendering ---- */

static int render_one(struct entry *e, const struct deis_app *app)
{
	struct proxy_app_out out = { DEIS_BUF_INIT, NULL, 0, DEIS_KVLIST_INIT,
				     DEIS_STRLIST_INIT, 0, 0 };
	struct deis_error err = DEIS_ERROR_INIT;
	int r = proxy_render_app(app, &ropts, &out, &err);

	for (size_t i = 0; i < out.warnings.n; i++)
		deis_log(LOG_WARNING, "app %s: %s", e->name, out.warnings.items[i]);
	free(e->piece);
	e->piece = NULL;
	deis_strlist_clear(&e->certs);
	if (r < 0) {
		deis_log(LOG_WARNING, "app %s: %s", e->name, err.msg);
	} else if (write_certs(&out, &err) < 0) {
		deis_log(LOG_ERR, "app %s: %s; its TLS is left out", e->name, err.msg);
		/* Rendered again without certificates rather than pointing
		 * nginx at a file that is not there. */
		struct proxy_render_opts o = ropts;
		o.https_port = 0;
		proxy_app_out_clear(&out);
		proxy_render_app(app, &o, &out, &err);
		e->piece = deis_buf_detach(&out.conf, NULL);
	} else {
		for (size_t i = 0; i < out.ncerts; i++)
			deis_strlist_add(&e->certs, out.certs[i].name);
		e->piece = deis_buf_detach(&out.conf, NULL);
	}
	/* The dyno names go with the piece; they are swapped in at install. */
	deis_kvlist_clear(&e->dynos);
	e->dynos = out.dynos;
	out.dynos = (struct deis_kvlist)DEIS_KVLIST_INIT;
	e->serial = app->serial;
	e->db_serial = app->serial;
	e->app_id = app->id;
	proxy_app_out_clear(&out);
	return 0;
}

/* Loads the dirty apps (all of them in one go when there are many) and
 * renders those whose serial moved.  Returns how many were rendered, or
 * -1 when the database could not be read. */
static int load_dirty(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	size_t ndirty = 0;
	int rendered = 0;

	for (size_t i = 0; i < nentries; i++)
		ndirty += entries[i].dirty;
	struct deis_db *d = deis_daemon_db(&db);
	if (!d)
		return -1;	/* logged by the keeper; routes unchanged */
	if (ndirty > 32) {
		struct deis_app **apps = NULL;
		size_t n = 0;
		if (deis_db_load_apps(d, NULL, NULL, &apps, &n, &err) < 0) {
			deis_log(LOG_WARNING, "database: loading apps: %s", err.msg);
			return -1;
		}
		for (size_t i = 0; i < nentries; i++)
			if (entries[i].dirty)
				entries[i].gone = true;
		for (size_t i = 0; i < n; i++) {
			if (!deis_valid_app_name(apps[i]->name)) {
				deis_log(LOG_WARNING, "app name '%s' is not a DNS label; not routed",
					 apps[i]->name);
				deis_app_free(apps[i]);
				continue;
			}
			struct entry *e = entry_get(apps[i]->name);
			e->gone = false;
			if (e->dirty && e->serial != apps[i]->serial) {
				render_one(e, apps[i]);
				rendered++;
			}
			e->dirty = false;
			deis_app_free(apps[i]);
		}
		free(apps);
		for (size_t i = 0; i < nentries; i++)
			entries[i].dirty = false;
		return rendered;
	}
	for (size_t i = 0; i < nentries; i++) {
		struct entry *e = &entries[i];
		if (!e->dirty)
			continue;
		struct deis_app **apps = NULL;
		size_t n = 0;
		if (deis_db_load_apps(d, e->name, NULL, &apps, &n, &err) < 0) {
			deis_log(LOG_WARNING, "database: loading app %s: %s", e->name, err.msg);
			return -1;
		}
		e->dirty = false;
		if (n == 0) {
			e->gone = true;
		} else {
			e->gone = false;
			if (e->serial != apps[0]->serial) {
				render_one(e, apps[0]);
				rendered++;
			}
		}
		for (size_t k = 0; k < n; k++)
			deis_app_free(apps[k]);
		free(apps);
	}
	return rendered;
}

/* ---- installing ---- */

static bool ever_installed;

static bool piece_changed(const struct entry *e)
{
	const char *a = e->gone ? NULL : e->piece, *b = e->good;

	if (e->refused && e->refused == e->serial && !e->gone)
		return false;	/* held back: nothing new to try */
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b));
}

/* What build_and_test() puts in: every new piece (but those held back),
 * every last good piece, or the last good ones but for one app's new. */
enum build { BUILD_NEW, BUILD_GOOD, BUILD_ONE };

/* Renders the whole config, writes it beside the installed one and checks
 * it with nginx -t. */
static int build_and_test(enum build how, const struct entry *one, size_t *bytes,
			  struct deis_error *err)
{
	const char **pieces = calloc(nentries + 1, sizeof(*pieces));
	size_t n = 0;
	struct deis_buf conf = DEIS_BUF_INIT;

	if (!pieces)
		abort();
	for (size_t i = 0; i < nentries; i++) {
		const struct entry *e = &entries[i];
		bool held = e->refused && e->refused == e->serial && !e->gone;
		bool fresh = how == BUILD_NEW ? !held : how == BUILD_ONE && e == one;
		/* BUILD_GOOD: every app at what nginx serves. */
		const char *p = fresh ? (e->gone ? NULL : e->piece) : e->good;
		if (p)
			pieces[n++] = p;
	}
	proxy_render_main(&ropts, pieces, n, &conf);
	free(pieces);
	*bytes = conf.len;
	int r = deis_file_write(conf_new, conf.data, conf.len, 0600, err);
	deis_buf_release(&conf);
	if (r < 0)
		return r;
	return proxy_nginx_test(&ngx, conf_new, err);
}

/* This router's heartbeat: written every heartbeat_every() ms while
 * nginx runs, current for proxy_heartbeat_ttl s in Redis.  In PostgreSQL,
 * where the scheduler takes a router without a current one for no router
 * at all, for proxy_reload_timeout s more: no heartbeat is written while
 * a reload is waited for, and meanwhile nginx serves the old routes.
 * Three beats per TTL, at most one every 5 s: one late beat (a loaded
 * machine) does not make a live router look dead. */
#define HEARTBEAT_EVERY_MAX 5000

static long long heartbeat_every(void)
{
	long long every = pc.heartbeat_ttl * 1000LL / 3;

	return every < HEARTBEAT_EVERY_MAX ? every : HEARTBEAT_EVERY_MAX;
}

/* Whether e's routes, as nginx serves them, are still to be recorded in
 * PostgreSQL. */
static bool unrecorded(const struct entry *e)
{
	return !e->gone && e->good_serial && e->good_app_id && e->recorded != e->good_serial;
}

/*
 * PostgreSQL's record, what the scheduler trusts: the heartbeat and every
 * app whose routes changed since the last record, in one transaction
 * (after each install that changed a serial; and with each heartbeat,
 * beat, which also writes what a failed try left).  0 when written, or
 * when there was nothing to write.
 */
static int record_db(bool beat)
{
	static bool failing;
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_router_applied *v = calloc(nentries + 1, sizeof(*v));
	struct deis_db *d = deis_daemon_db(&db);
	size_t n = 0;
	int r = -1;

	if (!v)
		abort();
	for (size_t i = 0; d && i < nentries; i++)
		if (unrecorded(&entries[i]))
			v[n++] = (struct deis_router_applied){ entries[i].good_app_id,
							       entries[i].good_serial };
	if (!n && !beat) {
		free(v);
		return 0;
	}
	if (d)
		r = deis_db_router_applied(d, router_name, pc.heartbeat_ttl + pc.reload_timeout,
					   v, n, &err);
	free(v);
	if (r < 0) {
		/* The scheduler keeps what would go until this is written. */
		if (d && !failing)
			deis_log(LOG_WARNING, "database: recording the applied routes: %s "
				 "(retried with each heartbeat)", err.msg);
		failing = true;
		return -1;
	}
	if (failing)
		deis_log(LOG_NOTICE, "database: the applied routes are recorded again");
	failing = false;
	for (size_t i = 0; i < nentries; i++)
		if (unrecorded(&entries[i]))
			entries[i].recorded = entries[i].good_serial;
	return 0;
}

/* The same in Redis, for those who read it there. */
static void record_applied(void)
{
	struct deis_error err = DEIS_ERROR_INIT;

	for (size_t i = 0; i < nentries; i++) {
		struct entry *e = &entries[i];
		if (e->gone || !e->good_serial || e->applied == e->good_serial)
			continue;
		struct deis_cache *c = cache_get();
		if (!c)
			return;
		if (deis_cache_proxy_applied(c, router_name, e->name, e->good_serial, &err) < 0) {
			deis_log(LOG_WARNING, "redis: recording the routes of %s: %s", e->name,
				 err.msg);
			deis_cache_keeper_failed(&redis);
			return;
		}
		e->applied = e->good_serial;
	}
}

/* Drops the entries of deleted apps once nginx no longer routes them. */
static void drop_gone(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	size_t j = 0;

	for (size_t i = 0; i < nentries; i++) {
		struct entry *e = &entries[i];
		if (e->gone && !e->good) {
			struct deis_cache *c = cache_get();
			if (c && deis_cache_proxy_forget(c, router_name, e->name, &err) < 0)
				deis_cache_keeper_failed(&redis);
			deis_log(LOG_INFO, "app %s: gone; no longer routed", e->name);
			entry_clear(e);
			continue;
		}
		entries[j++] = *e;
	}
	nentries = j;
}

/* nginx serves e's piece: the serial (and the app) its routes are of. */
static void set_good_serial(struct entry *e)
{
	e->good_serial = e->gone ? 0 : e->serial;
	if (e->good_app_id != e->app_id)
		e->recorded = 0;	/* another app of that name */
	e->good_app_id = e->app_id;
}

/* Returns 0 when nginx serves the current pieces (or all it could). */
static int install(bool force)
{
	struct deis_error err = DEIS_ERROR_INIT;
	long long t0 = deis_mono_ms();
	size_t changed = 0, bytes = 0, napps = 0;
	char names[200] = "";

	for (size_t i = 0; i < nentries; i++) {
		if (!entries[i].gone && entries[i].piece)
			napps++;
		if (!piece_changed(&entries[i]))
			continue;
		changed++;
		size_t l = strlen(names);
		if (l < sizeof(names) - 70)
			snprintf(names + l, sizeof(names) - l, "%s%s", l ? " " : "",
				 entries[i].name);
		else if (!strstr(names, "..."))
			snprintf(names + l, sizeof(names) - l, " ...");
	}
	pid_t master = proxy_nginx_pid(&ngx);
	if (!changed && !force && master > 0) {
		/* The same routes: nothing for nginx to do. */
		for (size_t i = 0; i < nentries; i++)
			if (!entries[i].gone)
				set_good_serial(&entries[i]);
		record_db(false);
		record_applied();
		return 0;
	}

	int r = build_and_test(BUILD_NEW, NULL, &bytes, &err);
	long long t_test = deis_mono_ms();
	if (r < 0) {
		deis_log(LOG_ERR, "config with the changes of %s refused: %s", names[0] ? names : "(none)", err.msg);
		/* Not the apps' fault if the last good config fails too (our
		 * own files, the disk): nothing is held back, and the whole
		 * install is tried again at the next resync. */
		if (build_and_test(BUILD_GOOD, NULL, &bytes, &err) < 0) {
			deis_log(LOG_ERR, "last good config refused too: %s; nginx keeps what it "
				 "serves", err.msg);
			unlink(conf_new);
			return -err.code;
		}
		/* Find the app(s) whose new piece nginx refuses, each tried
		 * alone over the last good config; hold back only those, so
		 * one app's bad piece never stops the others' changes. */
		for (size_t i = 0; i < nentries; i++) {
			struct entry *e = &entries[i];
			if (!piece_changed(e))
				continue;
			struct deis_error one = DEIS_ERROR_INIT;
			if (build_and_test(BUILD_ONE, e, &bytes, &one) < 0) {
				deis_log(LOG_ERR, "app %s: its routes at serial %ld are held back "
					 "(nginx refused them: %s); it keeps those of serial %ld",
					 e->name, e->serial, one.msg, e->good_serial);
				e->refused = e->serial;
			}
		}
		r = build_and_test(BUILD_NEW, NULL, &bytes, &err);
		if (r < 0) {
			deis_log(LOG_ERR, "config refused even without the refused apps: %s; nginx "
				 "keeps what it serves", err.msg);
			unlink(conf_new);
			return r;
		}
	}
	if (rename(conf_new, ngx.conf) < 0) {
		deis_log(LOG_ERR, "installing %s: %s", ngx.conf, strerror(errno));
		unlink(conf_new);
		return -errno;
	}
	if (master > 0)
		r = proxy_nginx_reload(&ngx, master, &err);
	else
		r = proxy_nginx_start(&ngx, &err);
	long long t_done = deis_mono_ms();
	if (r < 0) {
		deis_log(LOG_ERR, "%s", err.msg);
		return r;
	}
	ever_installed = true;
	for (size_t i = 0; i < nentries; i++) {
		struct entry *e = &entries[i];
		if (e->refused && e->refused == e->serial && !e->gone)
			continue;	/* not tried again before its next change */
		free(e->good);
		e->good = e->gone || !e->piece ? NULL : strdup(e->piece);
		deis_strlist_clear(&e->good_certs);
		deis_strlist_copy(&e->good_certs, &e->certs);
		set_good_serial(e);
	}
	drop_gone();
	certs_gc();
	record_db(false);
	record_applied();
	deis_log(LOG_INFO, "nginx %s: %zu app(s), %zu KB of config; changed: %s "
		 "(render and nginx -t %lld ms, %s %lld ms)", master > 0 ? "reloaded" : "started",
		 napps, (bytes + 1023) / 1024, names[0] ? names : "none", t_test - t0,
		 master > 0 ? "reload" : "start", t_done - t_test);
	return 0;
}

/* ---- resync ---- */

static int resync(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_kvlist serials = DEIS_KVLIST_INIT;
	struct deis_db *d = deis_daemon_db(&db);

	if (!d)
		return -1;
	if (deis_db_serials(d, &serials, &err) < 0) {
		static time_t last;
		if (time(NULL) - last >= 60) {
			last = time(NULL);
			deis_log(LOG_WARNING, "database: %s (routes unchanged)", err.msg);
		}
		deis_kvlist_clear(&serials);
		return -1;
	}
	for (size_t i = 0; i < serials.n; i++) {
		const char *name = serials.items[i].key;
		if (name[0] == '~' || !deis_valid_app_name(name))
			continue;
		struct entry *e = entry_find(name);
		if (!e || e->serial != strtol(serials.items[i].value, NULL, 10))
			mark_dirty(name);
	}
	for (size_t i = 0; i < nentries; i++)
		if (!deis_kvlist_get(&serials, entries[i].name) && !entries[i].gone)
			mark_dirty(entries[i].name);
	deis_kvlist_clear(&serials);
	return 0;
}

/* Redis lost what we recorded (flushed, restarted): record it again. */
static void check_recorded(struct deis_cache *c)
{
	struct deis_error err = DEIS_ERROR_INIT;
	long serial;

	for (size_t i = 0; i < nentries; i++) {
		struct entry *e = &entries[i];
		if (!e->applied)
			continue;
		if (deis_cache_proxy_recorded(c, router_name, e->name, &serial, &err) < 0) {
			deis_cache_keeper_failed(&redis);
			return;
		}
		if (serial == 0) {
			deis_log(LOG_NOTICE, "redis lost the applied routes; recording them again");
			for (size_t k = 0; k < nentries; k++)
				entries[k].applied = 0;
		}
		return;
	}
}

/* ---- main ---- */

/* The options as a whole, and what is derived from them. */
static int check(struct deis_error *err)
{
	ropts = (struct proxy_render_opts){
		.platform_domain = deis_conf.platform_domain, .listen = pc.listen,
		.http_port = deis_conf.http_port, .https_port = deis_conf.https_port,
		.home = deis_conf.home, .workers = pc.workers,
		.worker_connections = pc.worker_connections, .worker_user = pc.user,
		.connect_timeout = pc.connect_timeout, .cert_ok = cert_ok,
	};
	if (proxy_render_check(&ropts, err) < 0)
		return -err->code;
	if (pc.batch_ms < 0 || pc.batch_ms > 60000 || pc.reload_timeout < 1 ||
	    pc.log_rotate_mb < 1)
		return deis_error_set(err, EINVAL, "proxy_batch_ms must be 0..60000; "
				      "proxy_reload_timeout and proxy_log_rotate positive");
	if (pc.heartbeat_ttl < 3 || pc.heartbeat_ttl > 3600)
		return deis_error_set(err, EINVAL, "proxy_heartbeat_ttl must be 3..3600 "
				      "seconds (a heartbeat every third of it)");
	if (!proxy_path_ok(pc.nginx) || access(pc.nginx, X_OK) < 0)
		return deis_error_set(err, EINVAL, "proxy_nginx '%s' is not an executable at "
				      "an absolute path (is nginx installed?)", pc.nginx);
	if (pc.name[0])
		snprintf(router_name, sizeof(router_name), "%s", pc.name);
	else if (gethostname(router_name, sizeof(router_name) - 1) < 0 || !router_name[0])
		snprintf(router_name, sizeof(router_name), "router");
	if (strlen(router_name) > 63 || strspn(router_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"abcdefghijklmnopqrstuvwxyz0123456789.-_") != strlen(router_name))
		return deis_error_set(err, EINVAL, "proxy_name '%s': up to 63 letters, digits, "
				      "'.', '-' and '_'", router_name);
	router_rotate_bytes = (long long)pc.log_rotate_mb * 1024 * 1024;
	ngx.reload_timeout_ms = pc.reload_timeout * 1000;
	return 0;
}

static int setup_dirs(void)
{
	char p[PATH_MAX];
	struct deis_error err = DEIS_ERROR_INIT;
	const char *h = deis_conf.home;
	struct {
		const char *fmt;
		mode_t mode;
	} dirs[] = {
		{ "%s/proxy", 0711 }, { "%s/proxy/certs", 0700 }, { "%s/proxy/tmp", 0711 },
		{ "%s/run", 0711 }, { "%s/log", 0711 },
	};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), dirs[i].fmt, h);
		if (mkdir(p, dirs[i].mode) < 0 && errno != EEXIST) {
			deis_log(LOG_ERR, "%s: %s", p, strerror(errno));
			return -1;
		}
	}
	snprintf(dir_proxy, sizeof(dir_proxy), "%s/proxy", h);
	snprintf(dir_certs, sizeof(dir_certs), "%s/proxy/certs", h);
	chmod(dir_certs, 0700);
	snprintf(conf_new, sizeof(conf_new), "%s/proxy/nginx.conf.new", h);
	ngx.bin = pc.nginx;
	snprintf(ngx.prefix, sizeof(ngx.prefix), "%s/proxy/", h);
	snprintf(ngx.conf, sizeof(ngx.conf), "%s/proxy/nginx.conf", h);
	snprintf(ngx.pidfile, sizeof(ngx.pidfile), "%s/run/nginx.pid", h);
	snprintf(ngx.errlog, sizeof(ngx.errlog), "%s/log/nginx.log", h);
	/* Logs an older nginx made readable by all (nginx.c now starts it
	 * with umask 077). */
	chmod(ngx.errlog, 0600);
	snprintf(p, sizeof(p), "%s/proxy/access.log", h);
	chmod(p, 0600);

	struct deis_buf b = DEIS_BUF_INIT;
	proxy_render_errors(&b);
	snprintf(p, sizeof(p), "%s/proxy/errors.conf", h);
	int r = deis_file_write(p, b.data, b.len, 0644, &err);
	deis_buf_release(&b);
	if (r < 0) {
		deis_log(LOG_ERR, "%s", err.msg);
		return -1;
	}
	return 0;
}

/* The loop's timers (deis_mono_ms()). */
static struct {
	long long last_install, due, retry_at, last_beat, last_tick;
	bool need_install;	/* the first: always a reload (or start) */
	bool synced;		/* a resync has listed every app */
} t = { .need_install = true };

/* What the event thread queued: apps to read again, a resync. */
static void take_events(long long now)
{
	struct deis_strlist names = DEIS_STRLIST_INIT;

	if (deis_daemon_events_take(&names)) {
		int rs = resync();
		if (rs == 0)
			t.synced = true;
		if (rs == 0 && any_dirty && !t.due)
			t.due = now;
	}
	for (size_t i = 0; i < names.n; i++) {
		mark_dirty(names.items[i]);
		if (!t.due)
			t.due = now;
	}
	deis_strlist_clear(&names);
}

/* Loads, renders and installs what changed, batched.  Never before the
 * first full listing: a config rendered from no apps would take every
 * route away. */
static void install_due(long long now)
{
	if (!t.synced || !(any_dirty || t.need_install) || now < t.retry_at ||
	    now < t.last_install + pc.batch_ms || (t.due && now < t.due))
		return;
	if (load_dirty() < 0) {
		t.retry_at = now + 1000;
		t.due = 0;
		return;
	}
	any_dirty = false;
	for (size_t i = 0; i < nentries; i++)
		any_dirty |= entries[i].dirty;
	if (install(t.need_install) == 0) {
		t.need_install = false;
		t.retry_at = 0;
	} else {
		/* Tried again at the next resync, not in a loop. */
		t.need_install = true;
		t.retry_at = now + deis_conf.resync_interval * 1000LL;
	}
	t.last_install = deis_mono_ms();
	t.due = 0;
}

/* Once a second: nginx runs (started again if it died behind our back),
 * the router log's bookkeeping, whether Redis answers (while it does not,
 * no event tells of a change: the serials are compared every second
 * rather than every resync_interval), and every 5 s the heartbeat the
 * scheduler reads, in PostgreSQL and in Redis. */
static void tick(long long now)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (now - t.last_tick < 1000)
		return;
	t.last_tick = now;
	pid_t master = proxy_nginx_pid(&ngx);
	if (ever_installed && master == 0) {
		deis_log(LOG_WARNING, "nginx is not running; starting it");
		if (proxy_nginx_start(&ngx, &err) < 0)
			deis_log(LOG_ERR, "%s", err.msg);
		master = proxy_nginx_pid(&ngx);
	}
	router_tick(master);
	struct deis_cache *c = cache_get();
	if (c && deis_cache_ping(c, &err) < 0) {
		deis_log(LOG_WARNING, "Redis: %s; comparing serials every second until it "
			 "answers", err.msg);
		deis_cache_keeper_failed(&redis);
		c = NULL;
	}
	if (!c)
		deis_daemon_events_resync();
	if (!ever_installed || master <= 0 || now - t.last_beat < heartbeat_every())
		return;
	t.last_beat = now;
	record_db(true);
	if (!c)
		return;
	if (deis_cache_proxy_alive(c, router_name, pc.heartbeat_ttl, &err) < 0) {
		deis_log(LOG_WARNING, "redis: heartbeat: %s", err.msg);
		deis_cache_keeper_failed(&redis);
	} else {
		check_recorded(c);
		record_applied();
	}
}

/* Until something is due: at most 100 ms (the router log). */
static int wait_ms(void)
{
	if (!any_dirty)
		return 100;
	long long at = t.last_install + pc.batch_ms;
	if (t.due > at)
		at = t.due;
	if (t.retry_at > at)
		at = t.retry_at;
	long long wait = at - deis_mono_ms();
	return wait < 0 ? 0 : wait > 100 ? 100 : (int)wait;
}

int main(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	static const struct deis_daemon_events queued = { NULL, NULL, NULL };

	deis_daemon_start(&proxy, &argc, argv);
	/* 1. our directories and nginx's paths */
	if (setup_dirs() < 0)
		return deis_daemon_exit(1);
	/* 2. the router log, read from nginx's access log */
	if (router_open(deis_conf.home, deis_conf.syslog_socket, &err) < 0) {
		deis_log(LOG_ERR, "router log: %s", err.msg);
		return deis_daemon_exit(1);
	}
	/* 3. events and resyncs, queued for this loop */
	if (deis_daemon_events_start(&queued, &err) < 0) {
		deis_log(LOG_ERR, "%s", err.msg);
		return deis_daemon_exit(1);
	}
	deis_log(LOG_NOTICE, "routing http://<app>.%s:%d/%s as router %s (nginx %s, config %s)",
		 deis_conf.platform_domain, deis_conf.http_port,
		 deis_conf.https_port ? " and https" : "", router_name, pc.nginx, ngx.conf);

	/* 4. the loop: events, installs, nginx, the router log */
	while (deis_daemon_running()) {
		long long now = deis_mono_ms();
		take_events(now);
		install_due(now);
		tick(now);
		router_poll(dyno_of);
		struct pollfd p = { deis_daemon_fd(), POLLIN, 0 };
		poll(&p, 1, wait_ms());
	}

	deis_log(LOG_NOTICE, "stopping; nginx (pid %d) keeps serving the last routes",
		 (int)proxy_nginx_pid(&ngx));
	deis_daemon_events_stop();
	router_poll(dyno_of);
	router_close();
	deis_cache_keeper_close(&redis);
	deis_daemon_db_close(&db);
	for (size_t i = 0; i < nentries; i++)
		entry_clear(&entries[i]);
	free(entries);
	deis_kvlist_clear(&cert_checks);
	return deis_daemon_exit(0);
}
