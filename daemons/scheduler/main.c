/*
 * main.c - deis-scheduler: makes the containers on this node match the
 * tree (docs/scheduler.md).
 *
 *   deis-scheduler [--config=FILE] [--OPTION=VALUE ...]
 *
 * Level-triggered.  Each pass compares what PostgreSQL says should run
 * (each app's releases, formation, limits, one-off `run` rows) with the
 * instances this node runs, and acts: start, stop, replace, restart.  A
 * pass runs for an app when an "app <name>" event arrives, when one of
 * its containers changes state, and at every resync (scheduler_resync
 * seconds: serials compared, so a lost event costs at most that long).
 *
 * A container is an instance: "<app>.<type>.<n>.<seq>", its runc id and
 * its row in containers.  Each runs under its own deis-shim (shim.c), the
 * container's parent and log forwarder, which the scheduler follows with
 * a pidfd.  The scheduler never holds a container's output or its life:
 * when it is restarted it finds its instances again ($DEIS_HOME/scheduler/
 * containers/<id>/, their rows, runc's list) and adopts them.
 *
 * Rollouts: for each process name (web.1) the target instance is one on
 * the target release (the newest release with an image whose release
 * phase passed and that did not fail).  While it starts, the newest
 * instance that is up keeps serving; once the new one answers its health
 * check (HTTP path from `healthcheck` with libcurl, else a TCP connect to
 * $PORT), the old one is marked stopping, and only when the proxy reports
 * that it applied the routes without it (or no proxy runs) does it get
 * SIGTERM, then SIGKILL after scheduler_grace seconds.  A release whose
 * web containers do not answer within scheduler_boot_timeout, while an
 * older release serves, is marked failed and never rolled out.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "deis/spawn.h"
#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/db.h"
#include "deis/log.h"
#include "deis/logemit.h"
#include "deis/net.h"
#include "deis/quota.h"
#include "deis/validate.h"
#include "scheduler.h"

extern char **environ;

struct scheduler_conf scheduler_conf;

static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ "scheduler_node", DEIS_CONF_STR, &scheduler_conf.node, "",
	  "this node's name (default: the host name)" },
	{ "scheduler_address", DEIS_CONF_STR, &scheduler_conf.address, "127.0.0.1",
	  "the address the proxy reaches this node's containers at" },
	{ "scheduler_port", DEIS_CONF_INT, &scheduler_conf.port, "5000",
	  "$PORT of every container (each has an address and ports of its own)" },
	{ "scheduler_grace", DEIS_CONF_INT, &scheduler_conf.grace, "30",
	  "seconds a stopping container gets between SIGTERM and SIGKILL" },
	{ "scheduler_boot_timeout", DEIS_CONF_INT, &scheduler_conf.boot_timeout, "60",
	  "seconds a web container has to answer its health check" },
	{ "scheduler_resync", DEIS_CONF_INT, &scheduler_conf.resync, "5",
	  "seconds between full comparisons with the database" },
	{ "scheduler_pids", DEIS_CONF_INT, &scheduler_conf.pids, "512",
	  "process limit of a container when `limits` sets none" },
	{ "scheduler_backoff_max", DEIS_CONF_INT, &scheduler_conf.backoff_max, "300",
	  "longest wait in seconds before restarting a crashing container" },
	{ "scheduler_proxy_wait", DEIS_CONF_INT, &scheduler_conf.proxy_wait, "10",
	  "seconds to wait for the proxy to stop routing to a container before SIGTERM" },
	{ "scheduler_shim", DEIS_CONF_STR, &scheduler_conf.shim, "",
	  "the deis-shim binary (default: beside deis-scheduler)" },
	{ "scheduler_init", DEIS_CONF_STR, &scheduler_conf.init, "/usr/bin/tini",
	  "pid 1 of every container, forwarding signals and reaping zombies "
	  "(\"\" for none)" },
	{ NULL, 0, NULL, NULL, NULL },
};

/* ---- instances ---- */

enum kind { K_PROCESS, K_ONEOFF, K_RELEASE };
enum istate { S_STARTING, S_UP, S_CRASHED, S_STOPPING };
static const char *const state_names[] = { "starting", "up", "crashed", "stopping" };

struct inst {
	struct inst *next;
	char app[64];
	char name[64];			/* web.1, run.3, release.7 */
	char type[40];
	int number;
	char id[DEIS_RUNTIME_ID_MAX + 1];
	long seq;
	int release;
	int port;
	char address[INET_ADDRSTRLEN];	/* its own, on the node's bridge */
	char *command;			/* one-offs */
	enum kind kind;
	enum istate state;
	pid_t shim;			/* 0 when not running */
	int pidfd;			/* the shim's, -1 when not running */
	bool child;			/* the shim is our child (reap it) */
	int64_t started_us;
	int restarts, crashes;
	double run_since, boot_deadline, next_probe, backoff_until;
	bool was_up;			/* up since its boot window opened */
	CURL *probe;			/* an HTTP health check in flight */
	bool restart_req;		/* the user asked (rmdir) */
	bool routed;			/* was up: the proxy may route to it */
	bool termed;
	long term_serial;		/* SIGTERM once the proxy applied it;
					 * -1 until the row is written */
	double term_at, kill_at;
	bool dirty;			/* its row must be written */
	bool nodb;			/* its app is gone: no row */
};

struct sapp {
	char name[64];
	struct deis_app *m;		/* NULL: gone (or not loaded yet) */
	long serial;			/* what m (or our last write) is */
	bool reload, pass;
	int marked;			/* the version last recorded deployed */
	double mark_retry;
	double write_retry;
};

struct removed {
	char app[64];
	char id[DEIS_RUNTIME_ID_MAX + 1];
};

static struct inst *insts;
static struct sapp *apps;
static size_t napps;
static struct removed *removed;
static size_t nremoved;
static struct deis_db *db;
static struct deis_cache *cache;
static struct deis_logemit *logs;
static struct deis_net *net;
static CURLM *multi;
static char run_dir[4096], runc_root[4200], cont_dir[4200], attached_root[4200];
static char node_name[256];
static volatile sig_atomic_t got_term;

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A line in the app's log (source "deis") and in ours. */
static void applog(const char *app, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void applog(const char *app, const char *fmt, ...)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	deis_log(LOG_INFO, "%s: %s", app, msg);
	if (logs && deis_logemit_send(logs, app, "deis", msg, &err) < 0)
		deis_log(LOG_WARNING, "log server: %s", err.msg);
}

static struct sapp *app_find(const char *name, bool add)
{
	for (size_t i = 0; i < napps; i++)
		if (!strcmp(apps[i].name, name))
			return &apps[i];
	if (!add)
		return NULL;
	struct sapp *a = realloc(apps, (napps + 1) * sizeof(*a));
	if (!a)
		abort();
	apps = a;
	a = &apps[napps++];
	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->reload = true;
	return a;
}

static struct inst *inst_find(const char *id)
{
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->id, id))
			return i;
	return NULL;
}

static void inst_dir(const struct inst *i, const char *file, char *out, size_t len)
{
	if (file)
		snprintf(out, len, "%s/%s/%s", cont_dir, i->id, file);
	else
		snprintf(out, len, "%s/%s", cont_dir, i->id);
}

static bool is_web(const struct inst *i)
{
	return i->kind == K_PROCESS && !strcmp(i->type, "web");
}

static void set_state(struct inst *i, enum istate s)
{
	if (i->state != s) {
		i->state = s;
		i->dirty = true;
	}
}

/* ---- the model ---- */

static const struct deis_build *build_of(const struct deis_app *m,
					 const struct deis_release *r)
{
	if (!r || !r->build_id)
		return NULL;
	for (size_t k = 0; k < m->nbuilds; k++)
		if (m->builds[k].id == r->build_id)
			return &m->builds[k];
	return NULL;
}

/* The scheduler's verdict on a release: "released", "deployed",
 * "failed", or NULL. */
static const char *rollout(const struct deis_app *m, int version)
{
	const struct deis_rollout *ro = deis_app_rollout(m, version);

	return ro ? ro->state : NULL;
}

static bool runnable(const struct deis_app *m, const struct deis_release *r)
{
	const struct deis_build *b = build_of(m, r);

	return b && b->image[0] && !(rollout(m, r->version) &&
				     !strcmp(rollout(m, r->version), "failed"));
}

/* A release that went live had its release phase pass before. */
static bool needs_phase(const struct deis_app *m, const struct deis_release *r)
{
	const struct deis_build *b = build_of(m, r);
	const char *v = rollout(m, r->version);

	return b && deis_kvlist_get(&b->procfile, "release") &&
		!(v && (!strcmp(v, "released") || !strcmp(v, "deployed")));
}

/*
 * The release containers should run: the newest runnable release, unless
 * its release phase has not passed yet (*pending: run it), in which case
 * the newest older one that is live-able keeps running.  Older releases
 * still waiting for a release phase were superseded: they never run.
 */
static const struct deis_release *target(const struct deis_app *m,
					 const struct deis_release **pending)
{
	bool first = true;

	*pending = NULL;
	for (size_t k = m->nreleases; k-- > 0;) {
		const struct deis_release *r = m->releases[k];
		if (!runnable(m, r))
			continue;
		if (needs_phase(m, r)) {
			if (first)
				*pending = r;
			first = false;
			continue;
		}
		return r;
	}
	return NULL;
}

static const struct deis_release *release_of(const struct deis_app *m, int version)
{
	return deis_app_release(m, version);
}

/* ---- starting ---- */

static void inst_free(struct inst *i)
{
	if (i->probe) {
		curl_multi_remove_handle(multi, i->probe);
		curl_easy_cleanup(i->probe);
	}
	if (i->pidfd >= 0)
		close(i->pidfd);
	free(i->command);
	free(i);
}

/* Gives back a container's network (it has ended). */
static void net_release(const char *id, const char *app, const char *address)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (net && deis_net_detach(net, id, app, address, &err) < 0)
		deis_log(LOG_WARNING, "%s: %s", id, err.msg);
}

/* Forgets an instance: its row goes at the next write, its directory
 * now, its network too. */
static void inst_remove(struct inst *i)
{
	char dir[4400];

	if (!i->nodb) {
		struct removed *r = realloc(removed, (nremoved + 1) * sizeof(*r));
		if (!r)
			abort();
		removed = r;
		r = &removed[nremoved++];
		snprintf(r->app, sizeof(r->app), "%s", i->app);
		snprintf(r->id, sizeof(r->id), "%s", i->id);
	}
	inst_dir(i, NULL, dir, sizeof(dir));
	slug_rm_rf(dir);
	net_release(i->id, i->app, i->address);
	for (struct inst **p = &insts; *p; p = &(*p)->next)
		if (*p == i) {
			*p = i->next;
			break;
		}
	inst_free(i);
}

static struct inst *inst_new(struct sapp *a, const char *type, int number,
			     int release, enum kind kind, const char *command,
			     long seq)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct inst *i = calloc(1, sizeof(*i));

	if (!i)
		abort();
	snprintf(i->app, sizeof(i->app), "%s", a->name);
	snprintf(i->type, sizeof(i->type), "%s", type);
	i->number = number;
	snprintf(i->name, sizeof(i->name), "%s.%d", type, number);
	i->release = release;
	i->kind = kind;
	i->command = command ? strdup(command) : NULL;
	i->pidfd = -1;
	if (!seq && deis_db_seq_next(db, &seq, &err) < 0) {
		deis_log(LOG_WARNING, "%s: %s", a->name, err.msg);
		inst_free(i);
		return NULL;
	}
	i->seq = seq;
	if ((size_t)snprintf(i->id, sizeof(i->id), "%s.%s.%ld", a->name, i->name, seq) >=
	    sizeof(i->id)) {
		deis_log(LOG_WARNING, "%s: container id too long for %s", a->name, i->name);
		inst_free(i);
		return NULL;
	}
	i->state = S_STARTING;
	i->dirty = true;
	i->next = insts;
	insts = i;
	return i;
}

static void crash(struct inst *i, const char *why);

static int spawn_shim(struct inst *i, const char *bundle, struct deis_error *err)
{
	char dir[4400];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;

	inst_dir(i, NULL, dir, sizeof(dir));
	const char *argv[] = { scheduler_conf.shim, runc_root, bundle, i->id, dir, i->app,
			       i->name, deis_conf.syslog_socket, NULL };
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* Its own session: a signal to our process group is not its. */
	deis_spawnattr_init(&attr, POSIX_SPAWN_SETSID);
	int r = posix_spawn(&i->shim, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r) {
		i->shim = 0;
		return deis_error_set(err, r, "starting %s: %s", argv[0], strerror(r));
	}
	i->child = true;
	i->pidfd = pidfd_open(i->shim, 0);
	if (i->pidfd < 0)
		return deis_error_set(err, errno, "pidfd_open: %s", strerror(errno));
	return 0;
}

/*
 * Writes the bundle of a container of app m running cmd on release rel
 * into DIR/bundle: the slug at /app, the image's env under the release's
 * config, $PORT, $DYNO, the limits of type (else the defaults), tini as
 * pid 1, the network namespace ep.  extra (may be NULL) is added last
 * (TERM for a terminal).
 */
static int make_bundle(const struct deis_app *m, const struct deis_release *rel,
		       const char *type, const char *cmd, const char *id,
		       const char *name, const struct deis_net_endpoint *ep, int port,
		       const struct deis_kvlist *extra, int terminal, const char *dir,
		       struct deis_error *err)
{
	const struct deis_build *b = build_of(m, rel);
	const struct deis_kvlist *ienv = NULL;
	const char *slug = NULL;
	struct deis_kvlist env = DEIS_KVLIST_INIT;
	char bundle[4500], key[96], num[32];
	int r;

	if (!b || !b->image[0])
		return deis_error_set(err, ENOENT, "its release has no image");
	r = slug_get(b->image, &slug, &ienv, err);
	if (r < 0)
		return deis_error_prefix(err, "cannot get its slug");
	deis_kvlist_copy(&env, ienv);
	for (size_t k = 0; k < rel->config.n; k++)
		deis_kvlist_set(&env, rel->config.items[k].key, rel->config.items[k].value);
	snprintf(num, sizeof(num), "%d", port);
	deis_kvlist_set(&env, "PORT", num);
	deis_kvlist_set(&env, "DYNO", name);
	deis_kvlist_set(&env, "DEIS_APP", m->name);
	snprintf(num, sizeof(num), "v%d", rel->version);
	deis_kvlist_set(&env, "DEIS_RELEASE", num);
	for (size_t k = 0; extra && k < extra->n; k++)
		deis_kvlist_set(&env, extra->items[k].key, extra->items[k].value);

	long long mem = deis_quota_default_memory();
	long cpu = 0, pids = scheduler_conf.pids;
	snprintf(key, sizeof(key), "%s.memory", type);
	if (deis_kvlist_get(&rel->limits, key))
		mem = deis_limits_memory_bytes(deis_kvlist_get(&rel->limits, key));
	snprintf(key, sizeof(key), "%s.cpu", type);
	if (deis_kvlist_get(&rel->limits, key))
		cpu = deis_limits_cpu_millis(deis_kvlist_get(&rel->limits, key));
	snprintf(key, sizeof(key), "%s.pids", type);
	if (deis_kvlist_get(&rel->limits, key))
		pids = strtol(deis_kvlist_get(&rel->limits, key), NULL, 10);

	const char *argv[8];
	int n = 0;
	if (scheduler_conf.init[0]) {
		/* tini: pid 1 forwards SIGTERM to the process group of the
		 * command (a pid 1 without a handler would ignore it) and
		 * reaps orphans. */
		argv[n++] = scheduler_conf.init;
		argv[n++] = "-g";
		argv[n++] = "--";
	}
	/* bash -c, as Heroku runs Procfile commands: it runs a simple
	 * command in its place (no shell left in between to eat a signal),
	 * and waits cooperatively on ^C.  /bin/sh where there is no bash. */
	argv[n++] = access("/usr/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = cmd;
	argv[n] = NULL;
	struct deis_container_spec spec = {
		.id = id, .argv = argv, .env = &env, .app_dir = slug,
		.memory_bytes = mem > 0 ? (uint64_t)mem : 0,
		.cpu_millicores = cpu > 0 ? (unsigned)cpu : 0,
		.pids_max = pids > 0 ? pids : 0,
		.terminal = terminal,
		.netns = ep->netns, .address = ep->address,
	};
	mkdir(dir, 0700);
	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	r = deis_runtime_bundle(&spec, bundle, err);
	deis_kvlist_clear(&env);
	if (r < 0)
		return deis_error_prefix(err, "cannot make its bundle");
	return 0;
}

/* Starts (or restarts in place) an instance on its release. */
static int inst_launch(struct inst *i, struct sapp *a)
{
	struct deis_error err = DEIS_ERROR_INIT;
	const struct deis_app *m = a->m;
	const struct deis_release *rel = m ? release_of(m, i->release) : NULL;
	const struct deis_build *b = m ? build_of(m, rel) : NULL;
	const char *cmd = NULL;
	char dir[4400], bundle[4500], path[4500];
	int r;

	if (!b || !b->image[0]) {
		crash(i, "its release has no image");
		return -ENOENT;
	}
	if (i->kind == K_ONEOFF)
		cmd = i->command;
	else
		cmd = deis_kvlist_get(&b->procfile, i->kind == K_RELEASE ? "release" : i->type);
	if (!cmd) {
		crash(i, "the Procfile has no such process type");
		return -ENOENT;
	}
	/* Its network: kept across restarts in place (same address), made
	 * at the first start.  One-offs and release phases join the app's
	 * group too: they may talk to its other containers. */
	struct deis_net_endpoint ep;
	if (!deis_net_exists(net, i->id, i->address, &ep)) {
		r = deis_net_attach(net, i->id, i->app, &ep, &err);
		if (r < 0) {
			i->address[0] = '\0';
			crash(i, err.msg);
			return r;
		}
		snprintf(i->address, sizeof(i->address), "%s", ep.address);
	}
	i->port = scheduler_conf.port;
	inst_dir(i, NULL, dir, sizeof(dir));
	r = make_bundle(m, rel, i->kind == K_PROCESS ? i->type : "web", cmd, i->id,
			i->name, &ep, i->port, NULL, 0, dir, &err);
	if (r < 0) {
		crash(i, err.msg);
		return r;
	}
	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	static const char *const stale[] = { "exit", "shim.pid", "init.pid" };
	for (size_t k = 0; k < 3; k++) {
		snprintf(path, sizeof(path), "%s/%s", dir, stale[k]);
		unlink(path);
	}
	deis_runtime_delete(runc_root, i->id, 1, &err);	/* a previous run's */
	r = spawn_shim(i, bundle, &err);
	if (r < 0) {
		crash(i, err.msg);
		return r;
	}
	i->started_us = now_us();
	i->run_since = mono();
	/* The boot window opens at the first start, and again once it had
	 * been up: a crash loop before ever answering does not reopen it. */
	if (!i->boot_deadline || i->was_up) {
		i->boot_deadline = i->run_since + scheduler_conf.boot_timeout;
		i->was_up = false;
	}
	i->next_probe = i->run_since + 0.005;
	i->routed = false;
	set_state(i, S_STARTING);
	i->dirty = true;
	applog(i->app, "%s: starting `%s` on v%d at %s:%d", i->name, cmd, i->release,
	       i->address, i->port);
	return 0;
}

/* ---- stopping and exits ---- */

static void inst_stop(struct inst *i)
{
	if (i->state == S_STOPPING)
		return;
	bool running = i->pidfd >= 0;
	i->routed = i->state == S_UP && is_web(i);
	set_state(i, S_STOPPING);
	if (!running) {
		/* Crashed and waiting to restart: nothing runs. */
		applog(i->app, "%s: stopped (v%d)", i->name, i->release);
		inst_remove(i);
		return;
	}
	i->termed = false;
	if (i->routed && !i->nodb) {
		/* SIGTERM once the proxy routes no more to it. */
		i->term_serial = -1;
		i->term_at = mono() + scheduler_conf.proxy_wait;
	} else {
		i->term_serial = 0;
		i->term_at = mono();
	}
}

/* Whether the container's init has become its own program (tini): runc
 * writes the pid when it starts the container, but its init process is
 * still runc's ("runc:[2:INIT]") until it execs, and a SIGTERM sent to
 * it then is lost. */
static bool init_execd(const struct inst *i)
{
	char path[4500], comm[64] = "";
	int pid = 0;

	inst_dir(i, "init.pid", path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "r");
	if (!f)
		return true;	/* gone: nothing left to wait for */
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "runc:", 5) != 0;
}

static void send_term(struct inst *i)
{
	struct deis_error err = DEIS_ERROR_INIT;

	i->termed = true;
	i->kill_at = mono() + scheduler_conf.grace;
	applog(i->app, "%s: stopping v%d at %s:%d (SIGTERM; SIGKILL in %d s)", i->name,
	       i->release, i->address, i->port, scheduler_conf.grace);
	int r = scheduler_conf.init[0] ?
		deis_runtime_kill(runc_root, i->id, SIGTERM, &err) :
		deis_runtime_kill_all(runc_root, i->id, SIGTERM, &err);
	if (r < 0 && r != -ESRCH && r != -ENOENT)
		deis_log(LOG_WARNING, "%s: %s", i->id, err.msg);
}

static void crash(struct inst *i, const char *why)
{
	double t = mono();

	if (i->kind != K_PROCESS) {
		applog(i->app, "%s: %s", i->name, why);
		return;
	}
	if (i->run_since && t - i->run_since > 60)
		i->crashes = 0;
	i->crashes++;
	i->restarts++;
	/* Heroku's cool-off: the first restart at once, then doubling. */
	double delay = i->crashes <= 1 ? 0 :
		fmin(ldexp(1.0, i->crashes - 1), scheduler_conf.backoff_max);
	i->backoff_until = t + delay;
	set_state(i, S_CRASHED);
	i->dirty = true;
	if (delay > 0)
		applog(i->app, "%s: crashed: %s; restarting in %.0f s", i->name, why, delay);
	else
		applog(i->app, "%s: crashed: %s; restarting", i->name, why);
}

static void fail_release(struct sapp *a, int version, const char *why)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (deis_db_rollout_set(db, a->name, version, "failed", why, &err) < 0)
		deis_log(LOG_WARNING, "%s: %s", a->name, err.msg);
	applog(a->name, "v%d not deployed: %s", version, why);
	for (struct inst *i = insts, *nx; i; i = nx) {
		nx = i->next;
		if (!strcmp(i->app, a->name) && i->kind == K_PROCESS && i->release == version)
			inst_stop(i);
	}
	a->reload = true;
}

/* The shim ended: the container is gone.  Reads its status, and the
 * cgroup's OOM count before the container (and its cgroup) is deleted. */
static void inst_exited(struct inst *i)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char path[4500], line[1024] = "", buf[512];
	int code = -1, sig = 0;
	long oom = 0;

	if (i->pidfd >= 0)
		close(i->pidfd);
	i->pidfd = -1;
	if (i->child)
		waitpid(i->shim, NULL, WNOHANG);
	i->shim = 0;
	i->child = false;
	inst_dir(i, "exit", path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
		unlink(path);
	}
	line[strcspn(line, "\n")] = '\0';
	if (sscanf(line, "code=%d signal=%d", &code, &sig) < 1 && !line[0])
		snprintf(line, sizeof(line), "error=its shim ended without a status");
	if (deis_runtime_cgroup_read(runc_root, i->id, "memory", "memory.oom_control",
				     buf, sizeof(buf), &err) == 0) {
		char *o = strstr(buf, "oom_kill ");
		if (o)
			oom = strtol(o + 9, NULL, 10);
	}
	deis_runtime_delete(runc_root, i->id, 1, &err);

	char what[1200];
	if (!strncmp(line, "error=", 6))
		snprintf(what, sizeof(what), "could not start: %s", line + 6);
	else if (oom > 0)
		snprintf(what, sizeof(what),
			 "Error R14 (Memory quota exceeded): killed by the kernel over "
			 "its memory limit (exit status %d)", code);
	else if (sig)
		snprintf(what, sizeof(what), "exited on signal %d (status %d)", sig, code);
	else
		snprintf(what, sizeof(what), "exited with status %d", code);

	struct sapp *a = app_find(i->app, false);
	switch (i->kind) {
	case K_RELEASE:
		if (code == 0 && strncmp(line, "error=", 6)) {
			int w, tries = 0;
			/* The verdict must stick, or the phase runs again. */
			while ((w = deis_db_rollout_set(db, i->app, i->release, "released", "",
							&err)) < 0 && w != -ENOENT && ++tries < 5) {
				deis_log(LOG_WARNING, "%s: %s (retrying)", i->app, err.msg);
				usleep(200000);
			}
			applog(i->app, "release phase of v%d succeeded", i->release);
		} else if (!strncmp(line, "error=", 6) || code < 0) {
			/* It never ran (runc failed, the node rebooted): the
			 * next pass runs it again; only the command's own
			 * failure fails the release. */
			applog(i->app, "the release phase of v%d %s; retrying", i->release, what);
		} else if (i->state != S_STOPPING && a) {
			char why[1300];
			snprintf(why, sizeof(why), "its release command %s", what);
			fail_release(a, i->release, why);
		}
		if (a)
			a->reload = true;
		inst_remove(i);
		return;
	case K_ONEOFF:
		applog(i->app, "%s: %s", i->name, what);
		inst_remove(i);
		return;
	case K_PROCESS:
		break;
	}
	if (i->state == S_STOPPING) {
		applog(i->app, "%s: stopped (v%d, %s)", i->name, i->release, what);
		inst_remove(i);
		return;
	}
	crash(i, what);
	if (a)
		a->pass = true;
}

/* ---- health checks ---- */

static void set_up(struct inst *i)
{
	struct sapp *a = app_find(i->app, false);

	set_state(i, S_UP);
	i->was_up = true;
	applog(i->app, "%s: up on v%d at %s:%d (%.0f ms after start)", i->name, i->release,
	       i->address, i->port, (mono() - i->run_since) * 1000);
	if (a)
		a->pass = true;
}

static bool tcp_accepts(const char *address, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	bool ok = false;

	if (fd < 0)
		return false;
	if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) {
		close(fd);
		return false;
	}
	/* On the node's bridge the answer (SYN-ACK or RST) comes within
	 * microseconds; a full accept queue drops the SYN, which the short
	 * wait counts as not answering yet. */
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r == 0) {
		ok = true;
	} else if (errno == EINPROGRESS) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int e = 0;
		socklen_t el = sizeof(e);
		if (poll(&p, 1, 100) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
			ok = true;
	}
	close(fd);
	return ok;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
	return s * n;
}

static void probe(struct inst *i, const struct deis_app *m, double t)
{
	const char *path = m ? deis_app_setting_kv(m, "healthcheck", "path") : NULL;

	if (i->probe)
		return;
	if (!path) {
		if (tcp_accepts(i->address, i->port))
			set_up(i);
		else
			i->next_probe = t + (t - i->run_since < 2 ? 0.01 : 0.1);
		return;
	}
	/* Only once the port accepts: no HTTP client per attempt before. */
	if (!tcp_accepts(i->address, i->port)) {
		i->next_probe = t + (t - i->run_since < 2 ? 0.01 : 0.1);
		return;
	}
	const char *tmo = deis_app_setting_kv(m, "healthcheck", "timeout");
	char url[1200];
	snprintf(url, sizeof(url), "http://%s:%d%s", i->address, i->port, path);
	i->probe = curl_easy_init();
	if (!i->probe)
		return;
	curl_easy_setopt(i->probe, CURLOPT_URL, url);
	curl_easy_setopt(i->probe, CURLOPT_TIMEOUT_MS, (tmo ? atol(tmo) : 5) * 1000L);
	curl_easy_setopt(i->probe, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(i->probe, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(i->probe, CURLOPT_PRIVATE, i);
	curl_easy_setopt(i->probe, CURLOPT_USERAGENT, "deis-scheduler health check");
	curl_multi_add_handle(multi, i->probe);
}

static void probes_done(void)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct inst *i = NULL;
		long status = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&i);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		CURLcode rc = msg->data.result;
		curl_multi_remove_handle(multi, msg->easy_handle);
		curl_easy_cleanup(msg->easy_handle);
		if (!i)
			continue;
		i->probe = NULL;
		if (i->state != S_STARTING)
			continue;
		if (rc == CURLE_OK && status >= 200 && status < 400) {
			set_up(i);
		} else {
			double t = mono();
			i->next_probe = t + (t - i->run_since < 2 ? 0.05 : 0.25);
		}
	}
}

/* ---- the pass ---- */

/* Whether id ended here and its row's deletion is not written yet. */
static bool removing(const char *id)
{
	for (size_t k = 0; k < nremoved; k++)
		if (!strcmp(removed[k].id, id))
			return true;
	return false;
}

static void start_oneoff(struct sapp *a, const struct deis_container *c)
{
	struct inst *i = calloc(1, sizeof(*i));

	if (!i)
		abort();
	snprintf(i->app, sizeof(i->app), "%s", a->name);
	snprintf(i->type, sizeof(i->type), "%s", c->type);
	snprintf(i->name, sizeof(i->name), "%s", c->name);
	snprintf(i->id, sizeof(i->id), "%s", c->instance);
	i->number = c->number;
	i->seq = c->seq;
	i->release = c->release;
	i->kind = K_ONEOFF;
	i->command = strdup(c->command);
	i->pidfd = -1;
	i->next = insts;
	insts = i;
	if (inst_launch(i, a) < 0) {
		set_state(i, S_STOPPING);
		inst_remove(i);
		return;
	}
	set_state(i, S_UP);	/* one-offs are up once they run */
}

static struct inst *start_process(struct sapp *a, const char *type, int number,
				  int version)
{
	struct inst *i = inst_new(a, type, number, version, K_PROCESS, NULL, 0);

	if (i)
		inst_launch(i, a);
	return i;
}

static void per_name(struct sapp *a, const char *type, int number,
		     const struct deis_release *T, double t)
{
	struct inst *good = NULL, *serving = NULL;
	char name[64];

	snprintf(name, sizeof(name), "%s.%d", type, number);
	/* The good one: the newest on T that nobody asked to restart (any
	 * other good one is stopped with the rest below). */
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->app, a->name) && i->kind == K_PROCESS &&
		    !strcmp(i->name, name) && i->state != S_STOPPING && T &&
		    i->release == T->version && !i->restart_req &&
		    (!good || i->seq > good->seq))
			good = i;
	if (!good && T)
		good = start_process(a, type, number, T->version);
	bool good_up = good && good->state == S_UP;
	for (struct inst *i = insts; !good_up && i; i = i->next)
		if (!strcmp(i->app, a->name) && i->kind == K_PROCESS && i != good &&
		    !strcmp(i->name, name) && i->state == S_UP &&
		    (!serving || i->seq > serving->seq))
			serving = i;
	for (struct inst *i = insts, *nx; i; i = nx) {
		nx = i->next;
		if (!strcmp(i->app, a->name) && i->kind == K_PROCESS && i != good &&
		    i != serving && !strcmp(i->name, name) && i->state != S_STOPPING)
			inst_stop(i);
	}
	if (good && !good_up && t > good->boot_deadline) {
		char why[300];
		if (serving && serving->release != good->release) {
			snprintf(why, sizeof(why), "%s did not answer its health check within "
				 "%d s (Heroku's R10); v%d keeps serving", name,
				 scheduler_conf.boot_timeout, serving->release);
			fail_release(a, good->release, why);
		} else if (good->pidfd >= 0) {
			/* Nothing else serves, or an instance of the same
			 * release does (a restart): R10, and keep trying. */
			struct deis_error err = DEIS_ERROR_INIT;
			applog(a->name, "%s: Error R10 (Boot timeout): did not answer on $PORT "
			       "(%d) within %d s; killing it", name, good->port,
			       scheduler_conf.boot_timeout);
			good->boot_deadline = t + scheduler_conf.boot_timeout;
			deis_runtime_kill_all(runc_root, good->id, SIGKILL, &err);
		}
	}
}

static void reconcile(struct sapp *a)
{
	const struct deis_app *m = a->m;
	double t = mono();

	if (!m) {
		for (struct inst *i = insts, *nx; i; i = nx) {
			nx = i->next;
			if (!strcmp(i->app, a->name)) {
				i->nodb = true;
				inst_stop(i);
			}
		}
		return;
	}
	for (size_t k = 0; k < m->ncontainers; k++) {
		const struct deis_container *c = &m->containers[k];
		struct inst *i = inst_find(c->instance);
		if (i) {
			i->restart_req = !strcmp(c->desired, "restart");
			continue;
		}
		if (!strcmp(c->type, "run") && !strcmp(c->state, "starting") &&
		    (!c->node[0] || !strcmp(c->node, node_name)) && !removing(c->instance))
			start_oneoff(a, c);
	}
	const struct deis_release *pending, *T = target(m, &pending);
	if (pending) {
		bool running = false;
		for (struct inst *i = insts; i; i = i->next)
			if (!strcmp(i->app, a->name) && i->kind == K_RELEASE &&
			    i->release == pending->version)
				running = true;
		if (!running) {
			struct inst *i = inst_new(a, "release", pending->version,
						  pending->version, K_RELEASE, NULL, 0);
			if (i) {
				applog(a->name, "running the release phase of v%d", pending->version);
				if (inst_launch(i, a) < 0) {
					/* The platform's trouble (registry, ports),
					 * not the release's: the next pass tries
					 * again. */
					applog(a->name, "the release phase of v%d could not start; "
					       "retrying", pending->version);
					set_state(i, S_STOPPING);
					inst_remove(i);
				} else {
					set_state(i, S_UP);
				}
			}
		}
	}
	/* Release phases of releases no longer pending: superseded. */
	for (struct inst *i = insts, *nx; i; i = nx) {
		nx = i->next;	/* inst_stop() may free i */
		if (!strcmp(i->app, a->name) && i->kind == K_RELEASE &&
		    (!pending || i->release != pending->version))
			inst_stop(i);
	}

	struct deis_strlist want = DEIS_STRLIST_INIT;
	const struct deis_build *b = T ? build_of(m, T) : NULL;
	for (size_t k = 0; b && k < m->formation.n; k++) {
		const char *type = m->formation.items[k].key;
		int count = atoi(m->formation.items[k].value);
		if (!strcmp(type, "release") || !deis_kvlist_get(&b->procfile, type))
			continue;
		for (int n = 1; n <= count; n++) {
			char name[64];
			snprintf(name, sizeof(name), "%s.%d", type, n);
			deis_strlist_add(&want, name);
			per_name(a, type, n, T, t);
			if (a->reload) {
				/* T failed: the next pass works from the new
				 * verdict (not starting what it just stopped). */
				deis_strlist_clear(&want);
				return;
			}
		}
	}
	for (struct inst *i = insts, *nx; i; i = nx) {
		nx = i->next;
		if (!strcmp(i->app, a->name) && i->kind == K_PROCESS &&
		    i->state != S_STOPPING && !deis_strlist_has(&want, i->name))
			inst_stop(i);
	}
	deis_strlist_clear(&want);
}

/* ---- the verdict: deployed ---- */

/*
 * When a release serves: once its first web instance is up; for a
 * formation without web, its first instance of any type; at once when the
 * formation runs no process of it.  Whether the formation runs any
 * process of T (and whether web).
 */
static bool runs_any(const struct deis_app *m, const struct deis_release *T, bool *web)
{
	const struct deis_build *b = build_of(m, T);
	bool any = false;

	*web = false;
	for (size_t k = 0; b && k < m->formation.n; k++) {
		const char *type = m->formation.items[k].key;
		if (!strcmp(type, "release") || atoi(m->formation.items[k].value) <= 0 ||
		    !deis_kvlist_get(&b->procfile, type))
			continue;
		any = true;
		*web = *web || !strcmp(type, "web");
	}
	return any;
}

/* The target release of a, when it is not recorded deployed yet. */
static const struct deis_release *undeployed_target(const struct sapp *a)
{
	const struct deis_release *pending, *T = a->m ? target(a->m, &pending) : NULL;

	if (!T || T->version == a->marked ||
	    (rollout(a->m, T->version) && !strcmp(rollout(a->m, T->version), "deployed")))
		return NULL;
	return T;
}

/* Whether T serves as the database shows it (the rows the router routes
 * from); *who gets the instance's name ("" for none). */
static bool serves(const struct deis_app *m, const struct deis_release *T,
		   char *who, size_t len)
{
	bool web;

	who[0] = '\0';
	if (!runs_any(m, T, &web))
		return true;
	for (size_t k = 0; k < m->ncontainers; k++) {
		const struct deis_container *c = &m->containers[k];
		if (c->release != T->version || strcmp(c->state, "up") ||
		    !strcmp(c->type, "run") || !strcmp(c->type, "release") ||
		    (web && strcmp(c->type, "web")))
			continue;
		snprintf(who, len, "%s", c->name);
		return true;
	}
	return false;
}

/*
 * Records the target release "deployed" once it serves (releases/current
 * moves to it, `git push` returns), then announces it.  Usually the write
 * of the row that shows its instance up carries the verdict (write_rows);
 * this is for the rest: a formation that runs none of it, an instance up
 * before the verdict existed.  Only from an app as loaded after its rows
 * were written (a->reload clear), so that the verdict comes after the rows
 * that made it: a router that applied its serial routes to the instance.
 */
static void mark_deployed(struct sapp *a, double t)
{
	struct deis_error err = DEIS_ERROR_INIT;
	const struct deis_app *m = a->m;
	const struct deis_release *T;
	char who[64];

	if (!m || a->reload || a->pass || t < a->mark_retry)
		return;
	T = undeployed_target(a);
	if (!T)
		return;
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->app, a->name) && i->dirty)
			return;		/* rows not written yet */
	if (!serves(m, T, who, sizeof(who)))
		return;
	if (deis_db_rollout_set(db, a->name, T->version, "deployed", "", &err) < 0) {
		deis_log(LOG_WARNING, "%s: recording v%d deployed: %s (retrying)", a->name,
			 T->version, err.msg);
		a->mark_retry = t + 1;
		return;
	}
	a->marked = T->version;
	if (who[0])
		applog(a->name, "v%d deployed: %s is up on it", T->version, who);
	else
		applog(a->name, "v%d deployed: the formation runs none of its processes",
		       T->version);
	a->reload = true;
	if (cache && deis_cache_publish(cache, "app", a->name, &err) < 0)
		deis_log(LOG_WARNING, "publishing: %s", err.msg);
}

/* ---- the record: rows, events ---- */

static void write_rows(struct sapp *a, double t)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_container *rows = NULL;
	const char **gone = NULL;
	size_t n = 0, ng = 0;
	long serial = 0;

	if (t < a->write_retry)
		return;
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->app, a->name) && i->dirty && !i->nodb)
			n++;
	for (size_t k = 0; k < nremoved; k++)
		if (!strcmp(removed[k].app, a->name))
			ng++;
	if (!n && !ng)
		return;
	if (!a->m) {
		/* The app is gone, and its rows with it. */
		for (struct inst *i = insts; i; i = i->next)
			if (!strcmp(i->app, a->name))
				i->dirty = false;
		goto forget;
	}
	rows = calloc(n ? n : 1, sizeof(*rows));
	gone = calloc(ng ? ng : 1, sizeof(*gone));
	if (!rows || !gone)
		abort();
	n = ng = 0;
	for (struct inst *i = insts; i; i = i->next) {
		if (strcmp(i->app, a->name) || !i->dirty || i->nodb)
			continue;
		struct deis_container *c = &rows[n++];
		c->name = i->name;
		c->type = i->type;
		c->number = i->number;
		c->instance = i->id;
		c->seq = i->seq;
		c->state = (char *)state_names[i->state];
		c->release = i->release;
		c->node = node_name;
		c->address = i->address;
		c->port = i->port;
		c->started = i->started_us;
		c->restarts = i->restarts;
		c->command = i->command;
	}
	for (size_t k = 0; k < nremoved; k++)
		if (!strcmp(removed[k].app, a->name))
			gone[ng++] = removed[k].id;
	/* The rows that make the target serve carry its verdict: one
	 * transaction, one serial, one reload of the router (the verdict
	 * alone would cost another). */
	const struct deis_release *T = undeployed_target(a);
	const struct inst *serving = NULL;
	bool web;
	if (T && runs_any(a->m, T, &web))
		for (struct inst *i = insts; i && !serving; i = i->next)
			if (!strcmp(i->app, a->name) && i->kind == K_PROCESS && !i->nodb &&
			    i->state == S_UP && i->release == T->version &&
			    (!web || is_web(i)))
				serving = i;
	int deployed = serving ? T->version : 0;
	int r = deis_db_containers_write(db, a->name, rows, n, gone, ng, deployed, &serial,
					 &err);
	free(rows);
	free(gone);
	if (r == -ENOENT) {
		a->reload = true;	/* gone meanwhile */
	} else if (r < 0) {
		deis_log(LOG_WARNING, "%s: recording containers: %s (retrying)", a->name,
			 err.msg);
		a->write_retry = t + 1;
		return;
	}
	for (struct inst *i = insts; i; i = i->next)
		if (!strcmp(i->app, a->name)) {
			if (i->dirty && i->state == S_STOPPING && i->term_serial < 0)
				i->term_serial = serial;
			i->dirty = false;
		}
	if (r == 0 && deployed) {
		a->marked = deployed;
		applog(a->name, "v%d deployed: %s is up on it", deployed, serving->name);
	}
	if (r == 0) {
		/* Read the app back: its rows as written, and whatever else
		 * changed meanwhile (the serial includes it, and its event
		 * may be lost). */
		a->reload = true;
		if (cache && deis_cache_publish(cache, "app", a->name, &err) < 0)
			deis_log(LOG_WARNING, "publishing: %s", err.msg);
	}
forget:
	for (size_t k = 0; k < nremoved;)
		if (!strcmp(removed[k].app, a->name))
			removed[k] = removed[--nremoved];
		else
			k++;
}

/* ---- loading ---- */

static void load_app(struct sapp *a)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_app **list = NULL;
	size_t n = 0;

	if (deis_db_load_apps(db, a->name, NULL, &list, &n, &err) < 0) {
		deis_log(LOG_WARNING, "loading %s: %s", a->name, err.msg);
		return;
	}
	deis_app_free(a->m);
	a->m = n ? list[0] : NULL;
	a->serial = a->m ? a->m->serial : 0;
	free(list);
	a->reload = false;
	a->pass = true;
}

static void resync(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_kvlist serials = DEIS_KVLIST_INIT;

	if (!cache && deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
				      deis_conf.redis_password, &cache, &err) < 0)
		deis_error_clear(&err);	/* retried at the next resync */
	if (deis_db_serials(db, &serials, &err) < 0) {
		deis_log(LOG_WARNING, "resync: %s", err.msg);
		return;
	}
	for (size_t k = 0; k < serials.n; k++) {
		const char *name = serials.items[k].key;
		if (name[0] == '~')
			continue;
		struct sapp *a = app_find(name, true);
		if (!a->m || a->serial != strtol(serials.items[k].value, NULL, 10))
			a->reload = true;
		a->pass = true;
	}
	for (size_t k = 0; k < napps; k++)
		if (apps[k].m && !deis_kvlist_get(&serials, apps[k].name))
			apps[k].reload = true;
	deis_kvlist_clear(&serials);
	char info[256];
	int count = 0;
	for (struct inst *i = insts; i; i = i->next)
		count++;
	/* The node's memory is what the tree's capacity admission weighs
	 * (platform/nodes/<node>/memory). */
	snprintf(info, sizeof(info), "{\"containers\": %d, \"memory\": %lld}", count,
		 deis_quota_host_memory());
	if (deis_db_node_seen(db, node_name, scheduler_conf.address, info, &err) < 0)
		deis_log(LOG_WARNING, "node heartbeat: %s", err.msg);
}

/* ---- adoption ---- */

static bool shim_alive(pid_t pid, const char *id)
{
	char path[64], cmd[4096];

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t r = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (r <= 0)
		return false;
	cmd[r] = '\0';
	/* argv[0] is the shim, argv[3] the id. */
	if (!strstr(cmd, "deis-shim"))
		return false;
	for (ssize_t k = 0; k < r; k++)
		if (cmd[k] == '\0')
			cmd[k] = '\n';
	char want[DEIS_RUNTIME_ID_MAX + 3];
	snprintf(want, sizeof(want), "\n%s\n", id);
	return strstr(cmd, want) != NULL;
}

static const struct deis_container *row_of(const char *id, struct sapp **app)
{
	for (size_t k = 0; k < napps; k++) {
		const struct deis_app *m = apps[k].m;
		for (size_t c = 0; m && c < m->ncontainers; c++)
			if (!strcmp(m->containers[c].instance, id)) {
				*app = &apps[k];
				return &m->containers[c];
			}
	}
	return NULL;
}

struct net_gc {
	struct { char id[DEIS_RUNTIME_ID_MAX + 1]; char address[INET_ADDRSTRLEN]; } *items;
	size_t n;
};

static void net_gc_one(void *ctx, const char *id, const char *address)
{
	struct net_gc *gc = ctx;
	struct deis_error err = DEIS_ERROR_INIT;
	char root[4400];
	enum deis_runtime_status st = DEIS_RT_UNKNOWN;
	pid_t pid = 0;

	if (inst_find(id) || strstr(id, ".build-"))
		return;
	/* An attached one-off that still runs keeps its own. */
	snprintf(root, sizeof(root), "%s/runc", attached_root);
	if (deis_runtime_state(root, id, &st, &pid, &err) == 0 && st == DEIS_RT_RUNNING)
		return;
	void *p = realloc(gc->items, (gc->n + 1) * sizeof(*gc->items));
	if (!p)
		abort();
	gc->items = p;
	snprintf(gc->items[gc->n].id, sizeof(gc->items[gc->n].id), "%s", id);
	snprintf(gc->items[gc->n].address, sizeof(gc->items[gc->n].address), "%s", address);
	gc->n++;
}

/* At start: takes over the containers a previous scheduler left running,
 * drops rows of containers that are gone, removes what has no row. */
static void adopt(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_app **list = NULL;
	size_t n = 0;
	int adopted = 0, dropped = 0;

	if (deis_db_load_apps(db, NULL, NULL, &list, &n, &err) < 0) {
		deis_log(LOG_ERR, "loading apps: %s", err.msg);
		exit(1);
	}
	for (size_t k = 0; k < n; k++) {
		struct sapp *a = app_find(list[k]->name, true);
		a->m = list[k];
		a->serial = list[k]->serial;
		a->reload = false;
		a->pass = true;
	}
	free(list);

	DIR *d = opendir(cont_dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[4500], line[64];
		if (e->d_name[0] == '.')
			continue;
		struct sapp *a = NULL;
		const struct deis_container *c = row_of(e->d_name, &a);
		snprintf(path, sizeof(path), "%s/%s/shim.pid", cont_dir, e->d_name);
		pid_t shim = 0;
		FILE *f = fopen(path, "r");
		if (f) {
			if (fgets(line, sizeof(line), f))
				shim = (pid_t)atoi(line);
			fclose(f);
		}
		bool alive = shim > 0 && shim_alive(shim, e->d_name);
		if (!c || (c->node[0] && strcmp(c->node, node_name))) {
			/* No row: nobody wants it. */
			deis_log(LOG_NOTICE, "removing container %s: not in the database",
				 e->d_name);
			deis_runtime_kill_all(runc_root, e->d_name, SIGKILL, &err);
			for (int w = 0; alive && w < 50 && shim_alive(shim, e->d_name); w++)
				usleep(20000);
			deis_runtime_delete(runc_root, e->d_name, 1, &err);
			snprintf(path, sizeof(path), "%s/%s", cont_dir, e->d_name);
			slug_rm_rf(path);
			continue;
		}
		struct inst *i = calloc(1, sizeof(*i));
		if (!i)
			abort();
		snprintf(i->app, sizeof(i->app), "%s", a->name);
		snprintf(i->name, sizeof(i->name), "%s", c->name);
		snprintf(i->type, sizeof(i->type), "%s", c->type);
		snprintf(i->id, sizeof(i->id), "%s", c->instance);
		i->number = c->number;
		i->seq = c->seq;
		i->release = c->release;
		i->port = c->port;
		snprintf(i->address, sizeof(i->address), "%s", c->address);
		i->started_us = c->started;
		i->restarts = c->restarts;
		i->command = c->command[0] ? strdup(c->command) : NULL;
		i->kind = !strcmp(c->type, "run") ? K_ONEOFF :
			!strcmp(c->type, "release") ? K_RELEASE : K_PROCESS;
		i->pidfd = -1;
		i->run_since = mono();
		i->boot_deadline = i->run_since + scheduler_conf.boot_timeout;
		for (int s = 0; s < 4; s++)
			if (!strcmp(c->state, state_names[s]))
				i->state = (enum istate)s;
		i->next = insts;
		insts = i;
		if (alive)
			i->pidfd = pidfd_open(shim, 0);
		if (i->pidfd >= 0) {
			i->shim = shim;
			adopted++;
			if (i->state == S_STOPPING) {
				i->termed = false;
				i->term_serial = 0;
				i->term_at = mono();
			} else if (i->state == S_CRASHED) {
				set_state(i, S_STARTING);
			}
			continue;
		}
		/* Its shim is gone.  With a status: it ended while we were
		 * away.  Without: the container may run unwatched; end it. */
		snprintf(path, sizeof(path), "%s/%s/exit", cont_dir, e->d_name);
		if (i->state == S_CRASHED && access(path, F_OK) != 0) {
			i->backoff_until = mono();
			continue;
		}
		if (access(path, F_OK) != 0) {
			deis_runtime_kill_all(runc_root, i->id, SIGKILL, &err);
			usleep(100000);
		}
		inst_exited(i);
	}
	if (d)
		closedir(d);
	/* Rows of this node whose container is gone. */
	for (size_t k = 0; k < napps; k++) {
		const struct deis_app *m = apps[k].m;
		for (size_t c = 0; m && c < m->ncontainers; c++) {
			const struct deis_container *ct = &m->containers[c];
			if (inst_find(ct->instance) || strcmp(ct->node, node_name))
				continue;
			if (!strcmp(ct->desired, "attached")) {
				/* An `ssh ... run` session: not ours while it runs;
				 * what a killed one left behind goes. */
				char adir[4400], aroot[4400];
				enum deis_runtime_status st = DEIS_RT_UNKNOWN;
				pid_t apid = 0;
				snprintf(aroot, sizeof(aroot), "%s/runc", attached_root);
				if (deis_runtime_state(aroot, ct->instance, &st, &apid, &err) == 0 &&
				    st == DEIS_RT_RUNNING)
					continue;
				deis_runtime_delete(aroot, ct->instance, 1, &err);
				snprintf(adir, sizeof(adir), "%s/%s", attached_root, ct->instance);
				slug_rm_rf(adir);
			}
			struct removed *r = realloc(removed, (nremoved + 1) * sizeof(*r));
			if (!r)
				abort();
			removed = r;
			r = &removed[nremoved++];
			snprintf(r->app, sizeof(r->app), "%s", apps[k].name);
			snprintf(r->id, sizeof(r->id), "%s", ct->instance);
			dropped++;
		}
	}
	/* runc containers with no directory of ours. */
	struct deis_runtime_list rl = { 0 };
	if (deis_runtime_list(runc_root, &rl, &err) == 0) {
		for (size_t k = 0; k < rl.n; k++) {
			if (inst_find(rl.items[k].id))
				continue;
			deis_log(LOG_NOTICE, "removing stray container %s", rl.items[k].id);
			deis_runtime_kill_all(runc_root, rl.items[k].id, SIGKILL, &err);
			deis_runtime_delete(runc_root, rl.items[k].id, 1, &err);
		}
		deis_runtime_list_free(&rl);
	}
	/* Networks nothing runs in any more (a container that ended while
	 * we were away, an attached one-off whose process was killed).  The
	 * builder's ("<app>.build-N") are the builder's to clean. */
	struct net_gc gc = { 0 };
	deis_net_list(net, net_gc_one, &gc, &err);
	for (size_t k = 0; k < gc.n; k++) {
		deis_log(LOG_NOTICE, "removing the network of %s (%s): nothing runs there",
			 gc.items[k].id, gc.items[k].address);
		net_release(gc.items[k].id, NULL, gc.items[k].address);
	}
	free(gc.items);
	deis_log(LOG_NOTICE, "adopted %d running container(s); dropped %d stale row(s)",
		 adopted, dropped);
}

/* ---- attached one-offs: `ssh -t git@host run <app> <command>` ---- */

/*
 * deis-scheduler run APP USER TERM COMMAND: runs COMMAND in a one-off
 * container of APP's running release with this process's stdin, stdout
 * and stderr (a terminal when the builder gives one), and exits with its
 * status.  The builder's SSH session starts it for `ssh ... run`.  The
 * container runs in the foreground under its own runc root
 * ($DEIS_HOME/scheduler/attached), so the scheduler daemon neither adopts
 * nor removes it; its row (run.N, desired 'attached') shows it in the
 * tree while it runs.
 */
static volatile pid_t attached_runc;
static volatile sig_atomic_t attached_cancel, attached_term;

/* The terminal's signals (^C, ^\\, a resize, a hang-up) and the
 * builder's SIGTERM reach us, the terminal's foreground process group:
 * they go on to the container's init, and tini passes them on to the
 * command's process group. */
static void forward_signal(int sig)
{
	if (sig != SIGWINCH && sig != SIGQUIT)
		attached_cancel = 1;	/* before the start: do not start */
	if (sig == SIGTERM || sig == SIGHUP)
		attached_term = 1;	/* SIGKILL follows if it lingers */
	if (attached_runc > 0)
		kill(attached_runc, sig);
}

static int run_attached(const char *app, const char *user, const char *term,
			const char *command)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_app **list = NULL;
	size_t n = 0;
	char instance[DEIS_RUNTIME_ID_MAX + 1], dir[4400], bundle[4500], name[32];
	int number = 0, rc = 1;

	struct sigaction fw = { .sa_handler = forward_signal };
	sigaction(SIGINT, &fw, NULL);
	sigaction(SIGQUIT, &fw, NULL);
	sigaction(SIGHUP, &fw, NULL);
	sigaction(SIGTERM, &fw, NULL);
	sigaction(SIGWINCH, &fw, NULL);
	if (deis_db_open(deis_conf.database, &db, &err) < 0 ||
	    deis_db_load_apps(db, app, NULL, &list, &n, &err) < 0) {
		fprintf(stderr, "deis: %s\n", err.msg);
		return 1;
	}
	deis_logemit_open(deis_conf.syslog_socket, &logs, &err);
	struct deis_app *m = n ? list[0] : NULL;
	const struct deis_release *pending, *T = m ? target(m, &pending) : NULL;
	if (!m || !T) {
		fprintf(stderr, "deis: app '%s' has no release running yet: git push first\n", app);
		goto out;
	}
	int port = scheduler_conf.port;
	struct deis_net_endpoint ep = { .address = "" };
	if (deis_net_open_platform(0, &net, &err) < 0 ||
	    deis_db_run_create(db, app, command, T->version, node_name, port,
			       &number, instance, sizeof(instance), &err) < 0) {
		fprintf(stderr, "deis: %s\n", err.msg);
		goto out;
	}
	snprintf(name, sizeof(name), "run.%d", number);
	snprintf(dir, sizeof(dir), "%s/%s", attached_root, instance);
	struct deis_kvlist extra = DEIS_KVLIST_INIT;
	if (term[0] && strcmp(term, "-"))
		deis_kvlist_set(&extra, "TERM", term);
	/* On a terminal (ssh -t): the container gets a pty of its own, which
	 * runc in the foreground relays to ours (job control works); else
	 * runc -d hands it our pipes as they are. */
	int tty = isatty(0) && isatty(1);
	int r = deis_net_attach(net, instance, app, &ep, &err);
	if (r == 0) {
		/* Its address in its row, as the daemon's containers have. */
		struct deis_container row = {
			.name = name, .type = (char *)"run", .number = number,
			.instance = instance, .state = (char *)"up", .release = T->version,
			.node = node_name, .address = ep.address, .port = port,
			.started = now_us(), .command = (char *)command,
		};
		const char *dot = strrchr(instance, '.');	/* <app>.run.<n>.<seq> */
		row.seq = dot ? strtol(dot + 1, NULL, 10) : 0;
		if (deis_db_containers_write(db, app, &row, 1, NULL, 0, 0, NULL, &err) < 0)
			deis_log(LOG_WARNING, "%s: %s", app, err.msg);
		deis_error_clear(&err);
		r = make_bundle(m, T, "web", command, instance, name, &ep, port, &extra, tty,
				dir, &err);
	}
	deis_kvlist_clear(&extra);
	char state_dir[4500];
	snprintf(state_dir, sizeof(state_dir), "%s/runc", attached_root);
	mkdir(state_dir, 0700);
	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	pid_t pid = -1;
	if (r == 0 && attached_cancel) {
		r = -ECANCELED;
		deis_error_set(&err, ECANCELED, "cancelled");
	}
	if (r == 0) {
		applog(app, "%s: %s ran `%s` attached (ssh) on v%d", name, user, command,
		       T->version);
		/* Without a terminal: detached, so that runc hands our pipes
		 * to the container as they are (a foreground runc would copy
		 * through pipes of its own); as a subreaper we still get the
		 * container's init as our child, and its exit status.  With a
		 * terminal: runc in the foreground relays the container's pty;
		 * its exit status is the container's. */
		struct deis_runtime_io io = { .in = 0, .out = 1, .err = 2 };
		prctl(PR_SET_CHILD_SUBREAPER, 1);
		pid = deis_runtime_run(state_dir, bundle, instance, &io,
				       tty ? 0 : DEIS_RUNTIME_DETACH, &err);
	}
	if (pid < 0) {
		fprintf(stderr, "deis: cannot start the one-off container: %s\n", err.msg);
	} else {
		int st = 0, pfd = pidfd_open(pid, 0);
		double term_since = 0;
		attached_runc = pid;
		if (attached_cancel)
			kill(pid, SIGTERM);
		/* Wait for it; once told to end (the session is gone), give it
		 * scheduler_grace seconds, then SIGKILL everything in it. */
		for (;;) {
			struct pollfd p = { .fd = pfd, .events = POLLIN };
			if (pfd < 0 || poll(&p, 1, 1000) > 0 || waitpid(pid, &st, WNOHANG) == pid) {
				while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
					;
				break;
			}
			if (attached_term && !term_since)
				term_since = mono();
			if (term_since && mono() - term_since > scheduler_conf.grace)
				deis_runtime_kill_all(state_dir, instance, SIGKILL, &err);
		}
		if (pfd >= 0)
			close(pfd);
		rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		applog(app, "%s: exited with status %d", name, rc);
	}
	const char *gone[] = { instance };
	if (deis_db_containers_write(db, app, NULL, 0, gone, 1, 0, NULL, &err) < 0)
		deis_log(LOG_WARNING, "%s: %s", app, err.msg);
	deis_runtime_delete(state_dir, instance, 1, &err);
	slug_rm_rf(dir);
	if (ep.address[0])
		net_release(instance, app, ep.address);
	if (cache || deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
				     deis_conf.redis_password, &cache, &err) == 0)
		deis_cache_publish(cache, "app", app, &err);
out:
	for (size_t k = 0; k < n; k++)
		deis_app_free(list[k]);
	free(list);
	slug_free_all();
	deis_net_close(net);
	deis_logemit_close(logs);
	deis_cache_close(cache);
	deis_db_close(db);
	return rc;
}

/* ---- main ---- */

static void on_term(int sig)
{
	got_term = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: deis-scheduler [--config=FILE] [--OPTION=VALUE ...]\n"
"       deis-scheduler run [--config=FILE] APP USER TERM COMMAND\n"
"       deis-scheduler network up|down [--config=FILE]\n"
"\n"
"Runs this node's containers (runc, each under a deis-shim) as the tree says:\n"
"the formation of every app on its running release, one-offs, release\n"
"phases.  `run` runs one attached one-off (what `ssh ... run` starts);\n"
"`network` makes or removes the containers' bridge, namespaces and firewall.\n"
"\n"
"Options (also in the configuration file, as name = value):\n");
	deis_conf_usage(options, out);
}

static int parse_options(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 2, sizeof(*args));
	int n = argc + 1;

	if (!args)
		return -1;
	args[0] = (char *)"deis-scheduler";
	for (int i = 0; i < argc; i++)
		args[i + 1] = argv[i];
	int r = deis_conf_cli(options, "deis-scheduler", usage, &n, args, 0);
	free(args);
	return r;
}

static void setup_paths(const char *argv0)
{
	if (!scheduler_conf.node[0]) {
		char h[256] = "";
		gethostname(h, sizeof(h) - 1);
		free(scheduler_conf.node);
		scheduler_conf.node = strdup(h[0] ? h : "node1");
	}
	snprintf(node_name, sizeof(node_name), "%s", scheduler_conf.node);
	if (!scheduler_conf.shim[0]) {
		char exe[PATH_MAX];
		ssize_t r = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[r > 0 ? r : 0] = '\0';
		char *slash = strrchr(exe, '/');
		char path[PATH_MAX + 16];
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/deis-shim", exe);
		} else {
			snprintf(path, sizeof(path), "deis-shim");
		}
		free(scheduler_conf.shim);
		scheduler_conf.shim = strdup(path);
	}
	if (scheduler_conf.init[0] && access(scheduler_conf.init, X_OK) != 0) {
		deis_log(LOG_WARNING, "%s is missing: containers run without an init "
			 "(install tini)", scheduler_conf.init);
		scheduler_conf.init[0] = '\0';
	}
	snprintf(run_dir, sizeof(run_dir), "%s/scheduler", deis_conf.home);
	snprintf(runc_root, sizeof(runc_root), "%s/runc", run_dir);
	snprintf(cont_dir, sizeof(cont_dir), "%s/containers", run_dir);
	snprintf(attached_root, sizeof(attached_root), "%s/attached", run_dir);
	mkdir(run_dir, 0700);
	mkdir(runc_root, 0700);
	mkdir(cont_dir, 0700);
	mkdir(attached_root, 0700);
}

int main(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char *runv[4];
	int runc_ = 0;

	/* deis-scheduler network up|down [--OPTION=VALUE ...]: makes or removes
	 * this node's containers' network (packaging/down; up is what the
	 * daemon does when it starts). */
	if (argc >= 3 && !strcmp(argv[1], "network") &&
	    (!strcmp(argv[2], "up") || !strcmp(argv[2], "down"))) {
		if (parse_options(argc - 3, argv + 3) < 0)
			return 2;
		deis_log_init("deis-scheduler network", LOG_WARNING, 0);
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/net", deis_conf.home);
		struct deis_net_conf nc = {
			.bridge = deis_conf.network_bridge, .subnet = deis_conf.network_subnet,
			.nat = deis_conf.network_nat, .state_dir = dir,
		};
		int r = !strcmp(argv[2], "up") ? deis_net_open(&nc, 1, &net, &err) :
			deis_net_teardown(&nc, &err);
		deis_net_close(net);
		if (r < 0)
			fprintf(stderr, "deis-scheduler: the containers' network: %s\n", err.msg);
		deis_conf_free(options);
		return r < 0 ? 1 : 0;
	}
	/* deis-scheduler run [--OPTION=VALUE ...] APP USER TERM COMMAND */
	if (argc >= 2 && !strcmp(argv[1], "run")) {
		char *opts[64];
		int no = 0;
		for (int k = 2; k < argc; k++) {
			if (runc_ < 4 && no < 64 && !strncmp(argv[k], "--", 2) &&
			    strchr(argv[k], '='))
				opts[no++] = argv[k];
			else if (runc_ < 4)
				runv[runc_++] = argv[k];
		}
		if (runc_ != 4 || !deis_valid_app_name(runv[0]) || !runv[3][0]) {
			fprintf(stderr, "usage: deis-scheduler run [--config=FILE] APP USER TERM "
				"COMMAND\n");
			return 2;
		}
		if (parse_options(no, opts) < 0)
			return 2;
		/* Its stderr is the user's terminal: warnings only. */
		deis_log_init("deis-scheduler run", LOG_WARNING, 0);
		setup_paths(argv[0]);
		return run_attached(runv[0], runv[1], runv[2], runv[3]);
	}
	if (parse_options(argc - 1, argv + 1) < 0)
		return 2;
	int level = deis_log_level_parse(deis_conf.log_level);
	deis_log_init("deis-scheduler", level < 0 ? LOG_INFO : level, 0);
	if (scheduler_conf.port < 1024 || scheduler_conf.port > 65535) {
		deis_log(LOG_ERR, "scheduler_port: a port from 1024 to 65535 (the app runs "
			 "unprivileged)");
		return 2;
	}
	setup_paths(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	deis_cache_set_origin("scheduler");

	while (deis_db_open(deis_conf.database, &db, &err) < 0 && !got_term) {
		deis_log(LOG_WARNING, "%s (retrying)", err.msg);
		sleep(1);
	}
	if (got_term)
		return 0;
	if (deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
			    deis_conf.redis_password, &cache, &err) < 0)
		deis_log(LOG_WARNING, "Redis: %s (events are sent when it is back)", err.msg);
	deis_logemit_open(deis_conf.syslog_socket, &logs, &err);
	/* The bridge and the firewall before any container: without them no
	 * container may start (it would have no isolation). */
	if (deis_net_open_platform(1, &net, &err) < 0) {
		deis_log(LOG_ERR, "the containers' network: %s", err.msg);
		return 1;
	}
	adopt();
	int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake < 0 || events_start(wake, &err) < 0) {
		deis_log(LOG_ERR, "events: %s", wake < 0 ? strerror(errno) : err.msg);
		return 1;
	}
	deis_log(LOG_NOTICE, "scheduling on node %s (runc state %s, bridge %s %s%s, "
		 "$PORT %d, init %s)", node_name, runc_root, deis_conf.network_bridge,
		 deis_conf.network_subnet, deis_conf.network_nat ? " with NAT" : "",
		 scheduler_conf.port, scheduler_conf.init[0] ? scheduler_conf.init : "none");

	/* At once: the node's heartbeat (platform/status) and the serials. */
	double next_resync = mono();
	struct curl_waitfd *wfds = NULL;
	size_t wcap = 0;

	while (!got_term) {
		double t = mono();

		/* Events and resync: which apps to reload. */
		struct deis_strlist names;
		events_take(&names);
		for (size_t k = 0; k < names.n; k++) {
			if (!strcmp(names.items[k], "*")) {
				next_resync = t;
				continue;
			}
			if (deis_valid_app_name(names.items[k]))
				app_find(names.items[k], true)->reload = true;
		}
		deis_strlist_clear(&names);
		if (t >= next_resync) {
			resync();
			next_resync = t + scheduler_conf.resync;
		}
		for (size_t k = 0; k < napps; k++)
			if (apps[k].reload)
				load_app(&apps[k]);

		/* Timers of instances. */
		for (struct inst *i = insts, *nx; i; i = nx) {
			nx = i->next;
			struct sapp *a = app_find(i->app, false);
			if (i->state == S_STARTING && i->pidfd >= 0 && t >= i->next_probe) {
				if (is_web(i)) {
					probe(i, a ? a->m : NULL, t);
				} else {
					char p[4500];
					inst_dir(i, "init.pid", p, sizeof(p));
					if (access(p, F_OK) == 0)
						set_up(i);
					else
						i->next_probe = t + 0.01;
				}
			}
			if (i->state == S_CRASHED && t >= i->backoff_until && a && a->m)
				inst_launch(i, a);
			if (i->state == S_STOPPING && !i->termed && i->term_serial >= 0) {
				bool go = t >= i->term_at || i->term_serial == 0;
				if (!go && cache) {
					bool alive = false;
					long applied = 0;
					if (deis_cache_proxy_state(cache, i->app, &alive, &applied,
								   &err) < 0 ||
					    !alive || applied >= i->term_serial)
						go = true;
				}
				/* Not before the container's init runs its
				 * own program: a signal to a container still
				 * being created, or to runc's init before its
				 * exec, is lost.  (The shim's end also ends
				 * this.) */
				if (go && init_execd(i))
					send_term(i);
			}
			if (i->state == S_STOPPING && i->termed && t >= i->kill_at) {
				applog(i->app, "%s: did not stop within %d s: SIGKILL", i->name,
				       scheduler_conf.grace);
				deis_runtime_kill_all(runc_root, i->id, SIGKILL, &err);
				i->kill_at = t + 5;
			}
		}

		/* Passes, then the record. */
		for (size_t k = 0; k < napps; k++)
			if (apps[k].pass) {
				apps[k].pass = false;
				reconcile(&apps[k]);
			}
		for (size_t k = 0; k < napps; k++)
			write_rows(&apps[k], t);
		for (size_t k = 0; k < napps; k++)
			mark_deployed(&apps[k], t);
		for (size_t k = 0; k < napps;) {
			/* Apps that are gone and have nothing left here. */
			bool any = false;
			for (struct inst *i = insts; i && !any; i = i->next)
				any = !strcmp(i->app, apps[k].name);
			if (!apps[k].m && !any && !apps[k].reload) {
				apps[k] = apps[--napps];
				continue;
			}
			k++;
		}

		/* Wait: for an event, a shim's end, a probe, or the next timer. */
		double next = next_resync;
		size_t nw = 0;
		for (struct inst *i = insts; i; i = i->next) {
			if (i->state == S_STARTING && i->pidfd >= 0 && !i->probe)
				next = fmin(next, i->next_probe);
			if (i->state == S_STARTING && i->pidfd >= 0)
				next = fmin(next, i->boot_deadline);
			if (i->state == S_CRASHED)
				next = fmin(next, i->backoff_until);
			if (i->state == S_STOPPING && !i->termed)
				next = fmin(next, i->term_serial < 0 ? t + 0.05 :
					    fmin(i->term_at, t + 0.02));
			if (i->state == S_STOPPING && i->termed)
				next = fmin(next, i->kill_at);
			if (i->pidfd >= 0)
				nw++;
		}
		for (size_t k = 0; k < napps; k++)
			if (apps[k].reload || apps[k].pass)
				next = t;
		if (nw + 1 > wcap) {
			wcap = (nw + 1) * 2;
			wfds = realloc(wfds, wcap * sizeof(*wfds));
			if (!wfds)
				abort();
		}
		nw = 0;
		wfds[nw++] = (struct curl_waitfd){ .fd = wake, .events = CURL_WAIT_POLLIN };
		for (struct inst *i = insts; i; i = i->next)
			if (i->pidfd >= 0)
				wfds[nw++] = (struct curl_waitfd){ .fd = i->pidfd,
								   .events = CURL_WAIT_POLLIN };
		double wait = next - mono();
		int ms = wait <= 0 ? 0 : wait > 1 ? 1000 : (int)(wait * 1000) + 1;
		curl_multi_wait(multi, wfds, (unsigned)nw, ms, NULL);
		int running;
		curl_multi_perform(multi, &running);
		probes_done();
		if (wfds[0].revents) {
			uint64_t v;
			if (read(wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
				deis_log(LOG_WARNING, "wake: %s", strerror(errno));
		}
		/* Ended shims: collect first (the list changes as they go). */
		for (size_t k = 1; k < nw; k++) {
			if (!wfds[k].revents)
				continue;
			for (struct inst *i = insts; i; i = i->next)
				if (i->pidfd == wfds[k].fd) {
					inst_exited(i);
					break;
				}
		}
	}

	deis_log(LOG_NOTICE, "stopping; the containers keep running and are adopted "
		 "at the next start");
	events_stop();
	while (insts) {
		struct inst *i = insts;
		insts = i->next;
		inst_free(i);
	}
	for (size_t k = 0; k < napps; k++)
		deis_app_free(apps[k].m);
	free(apps);
	free(removed);
	free(wfds);
	slug_free_all();
	deis_net_close(net);
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	deis_logemit_close(logs);
	deis_cache_close(cache);
	deis_db_close(db);
	close(wake);
	deis_conf_free(options);
	return 0;
}
