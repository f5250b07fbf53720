/*
 * scheduler.h - deis-scheduler's internals (docs/scheduler.md).
 *
 * The daemon in files of one concern each:
 *
 *   main.c       options, main, the subcommands
 *   loop.c       start-up, the main loop: events, resync, timers, passes,
 *                waits (the event thread is lib/daemon.c's)
 *   instances.c  the instances this node runs, and their apps
 *   policy.c     the rollout policy: pure functions (policy.h)
 *   pass.c       a pass over one app: carries the policy's plan out
 *   launch.c     starting, stopping, crashes, exits
 *   health.c     health checks of starting web instances
 *   record.c     the database: loads, rows, verdicts, the heartbeat
 *   autoscale.c  the apps' autoscale rules: CPU measured, formation written
 *   adopt.c      at start: what a previous scheduler left running
 *   run.c        `deis-scheduler run`: an attached one-off
 *   backend.c    the runtime backends (include/deis/backend.h);
 *   backend_runc.c, slug.c  the runc one, its slug cache;
 *   backend_swarm.c, swarm_spec.c, engine.c  the Docker Swarm one
 *   shim.c       deis-shim, a container's parent (a program of its own)
 */
#ifndef DEIS_SCHEDULER_H
#define DEIS_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "deis/backend.h"
#include "deis/daemon.h"
#include "deis/error.h"
#include "deis/kv.h"
#include "deis/model.h"
#include "policy.h"

/* The options (main.c); [SIGHUP]: a reload puts a new value in force. */
struct scheduler_conf {
	char *node;		/* this node's name [the host name] */
	char *address;		/* where the proxy reaches its containers */
	int port;		/* every container's $PORT */
	int grace;		/* s from SIGTERM to SIGKILL [SIGHUP] */
	int boot_timeout;	/* s for a web container to answer [SIGHUP] */
	int pids;		/* processes, when limits say nothing [SIGHUP] */
	int backoff_max;	/* s: the longest crash cool-off [SIGHUP] */
	int proxy_wait;		/* s a stopping container waits for the routers
				 * before the wait is logged [SIGHUP] */
	char *runtime;		/* the backend: "runc" */
	int autoscale_window;	/* s over which autoscale averages the CPU */
};

extern struct scheduler_conf scheduler_conf;

/* realloc() that never fails: there is no way on without memory. */
void *xrealloc(void *p, size_t size);
/* Appends a zeroed element to the array arr of n elements (n is counted
 * up); evaluates to the new element. */
#define ARRAY_ADD(arr, n) \
	((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))), \
	 memset(&(arr)[n], 0, sizeof(*(arr))), &(arr)[(n)++])

/* What the daemon holds open (loop.c sets it up). */
struct sched {
	struct deis_db *db;		/* waited for at start (lib/daemon.c) */
	struct deis_cache *cache;	/* NULL while Redis is away (the keeper's,
					 * taken again at every turn) */
	struct deis_logemit *logs;	/* the log server */
	struct deis_backend *backend;	/* runs the containers */
	CURLM *multi;			/* the health checks in flight */
};

extern struct sched sched;

/* main.c: a subcommand's start: the daemon's options over argv (argv[0]
 * is the subcommand's word), logging warnings only as log_name; --help,
 * --version and a bad option exit. */
void scheduler_subcommand_start(const char *log_name, int *argc, char **argv);
/* main.c: the backend's settings, from the options. */
struct deis_backend_conf scheduler_backend_conf(bool attached, bool setup);

/* ---- instances (instances.c) ---- */

struct inst {
	struct inst *next;
	char app[64];
	char name[64];			/* web.1, run.3, release.7 */
	char type[40];
	int number;
	char id[DEIS_BACKEND_ID_MAX + 1];
	long seq;
	int release;
	int port;
	char address[DEIS_BACKEND_ADDRESS_MAX];	/* its own on the node */
	char node[DEIS_BACKEND_NODE_MAX];	/* where it runs ("": this node) */
	char *command;			/* one-offs */
	enum kind kind;
	enum istate state;
	struct deis_backend_proc proc;	/* fd -1 when nothing runs */
	int64_t started_us;
	int restarts, crashes;
	int pull_tries;			/* starts that found the registry away */
	double run_since, boot_deadline, next_probe, backoff_until;
	bool was_up;			/* up since its boot window opened */
	CURL *probe;			/* an HTTP health check in flight */
	bool restart_req;		/* the user asked (rmdir) */
	bool routed;			/* was up: the proxy may route to it */
	bool termed;
	long term_serial;		/* SIGTERM once the routers applied it;
					 * -1 until the row is written */
	double term_since;		/* when it began to wait for them */
	double term_at, kill_at;	/* when to ask them next; SIGKILL */
	bool term_told;			/* why it waits is in the log */
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

/* An instance that ended here; its row is deleted at the next write. */
struct removed {
	char app[64];
	char id[DEIS_BACKEND_ID_MAX + 1];
};

extern struct inst *insts;		/* newest first */
extern struct sapp *apps;
extern size_t napps;
extern struct removed *removed;
extern size_t nremoved;

#define for_each_inst(i, nx) for (struct inst *i = insts, *nx; i && ((nx = i->next), 1); i = nx)

/* Seconds of the daemons' one monotonic clock (deis_mono_ms()): the
 * scheduler's timers are seconds as doubles, as policy.h takes them. */
static inline double mono(void)
{
	return deis_mono_ms() / 1000.0;
}
/* A line in the app's log (source "deis") and in ours. */
void applog(const char *app, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
struct sapp *app_find(const char *name, bool add);
void apps_forget_gone(void);
struct inst *inst_find(const char *id);
bool is_web(const struct inst *i);
void set_state(struct inst *i, enum istate s);
struct inst *inst_new(struct sapp *a, const char *type, int number,
		      int release, enum kind kind, const char *command,
		      long seq);
struct inst *inst_from_row(const char *app, const struct deis_container *c);
void inst_free(struct inst *i);
void inst_remove(struct inst *i);
void removed_add(const char *app, const char *id);
/* The policy's view of app's instances (list order); n gets the count.
 * The caller frees the array. */
struct policy_inst *inst_views(const char *app, size_t *n);
void insts_free_all(void);

/* ---- launching, stopping, exits (launch.c) ---- */

/*
 * What a container of app m runs for cmd on release rel as type (its
 * limits) and name: spec and *env (the release's config, $PORT, $DYNO ...,
 * then extra; the caller clears it).
 */
int launch_spec(const struct deis_app *m, const struct deis_release *rel,
		const char *type, const char *cmd, const char *id, const char *name,
		int port, const struct deis_kvlist *extra, struct deis_kvlist *env,
		struct deis_backend_spec *spec, struct deis_error *err);
int inst_launch(struct inst *i, struct sapp *a);
void inst_stop(struct inst *i);
void inst_timers(struct inst *i, struct sapp *a, double t);
void crash(struct inst *i, const char *why);
void release_failed(struct sapp *a, int version, const char *why);
void inst_exited(struct inst *i);

/* ---- health checks (health.c) ---- */

void set_up(struct inst *i);
void probe(struct inst *i, const struct deis_app *m, double t);
void probes_done(void);

/* ---- a pass (pass.c) ---- */

void reconcile(struct sapp *a);

/* ---- the record (record.c) ---- */

/* Announces a change of app: the tree and the proxy read it again. */
void publish(const char *app);
void mark_deployed(struct sapp *a, double t);
void write_rows(struct sapp *a, double t);
void load_app(struct sapp *a);
void resync(void);
/* What the routers say of app (policy.h): PostgreSQL's record, or
 * Redis's when PostgreSQL does not answer; when neither does, not known,
 * and trouble (of len bytes) says why. */
void router_state(const char *app, struct policy_router *r, char *trouble, size_t len);

/* ---- autoscale (autoscale.c) ---- */

/* Each turn of the loop: keeps autoscaled formations in their rules'
 * ranges; once per window, scales them on their CPU. */
void autoscale(double t);

/* ---- adoption (adopt.c) ---- */

void adopt(void);

/* ---- the loop (loop.c) ---- */

/* An operation on sched.cache failed: the connection is dropped (taken
 * again after the backoff) and, meanwhile, changes are looked for every
 * second. */
void cache_failed(void);

/* Opens what the daemon needs (the database waited for with the backoff),
 * adopts, and serves until deis_daemon_running() says stop; then closes
 * everything.  The exit code. */
int scheduler_serve(void);

/* ---- attached one-offs (run.c) ---- */

/* deis-scheduler run [--OPTION=VALUE ...] APP USER TERM COMMAND */
int run_main(int argc, char **argv);

/* ---- the backends (backend_runc.c, slug.c; backend_swarm.c) ---- */

extern const struct deis_backend_ops deis_backend_runc;
extern const struct deis_backend_ops deis_backend_swarm;

/* Spawns argv (stdin /dev/null, no other fd but 1 and 2; session: in a
 * session of its own) into *pid. */
int sched_spawn(const char *const *argv, bool session, pid_t *pid, struct deis_error *err);


/* *dir is the unpacked slug, *env the image's env; both stay valid until
 * slug_free_all(). */
int slug_get(const char *ref, const char **dir, const struct deis_kvlist **env,
	     struct deis_error *err);
void slug_free_all(void);
int slug_rm_rf(const char *path);

#endif
