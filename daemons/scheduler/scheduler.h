/*
 * scheduler.h - deis-scheduler's internals (docs/scheduler.md).
 */
#ifndef DEIS_SCHEDULER_H
#define DEIS_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "deis/error.h"
#include "deis/kv.h"
#include "deis/model.h"
#include "deis/runtime.h"
#include "deis/net.h"

#include <arpa/inet.h>
#include <curl/curl.h>

struct scheduler_conf {
	char *node;		/* this node's name [the host name] */
	char *address;		/* where the proxy reaches its containers */
	int port;		/* every container's $PORT */
	int grace;		/* s from SIGTERM to SIGKILL */
	int boot_timeout;	/* s for a web container to answer */
	int resync;		/* s between full comparisons */
	int pids;		/* processes, when limits say nothing */
	int backoff_max;	/* s: the longest crash cool-off */
	int proxy_wait;		/* s to wait for the proxy to drop a route */
	char *shim;		/* the deis-shim binary */
	char *init;		/* pid 1 of every container ("" for none) */
};

extern struct scheduler_conf scheduler_conf;

/* slug.c: the node's slug cache.  *dir is the unpacked slug, *env the
 * image's env; both stay valid until slug_free_all(). */
int slug_get(const char *ref, const char **dir, const struct deis_kvlist **env,
	     struct deis_error *err);
void slug_free_all(void);
int slug_rm_rf(const char *path);

/* events.c: the Redis events thread.  It writes to wake_fd (an eventfd)
 * and queues the app names it saw; events_take() hands them over. */
int events_start(int wake_fd, struct deis_error *err);
void events_take(struct deis_strlist *out);
void events_stop(void);

/* ---- instances (instances.c) ---- */

enum kind { K_PROCESS, K_ONEOFF, K_RELEASE };
enum istate { S_STARTING, S_UP, S_CRASHED, S_STOPPING };
extern const char *const state_names[];

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

extern struct inst *insts;
extern struct sapp *apps;
extern size_t napps;
extern struct removed *removed;
extern size_t nremoved;
extern struct deis_db *db;
extern struct deis_cache *cache;
extern struct deis_logemit *logs;
extern struct deis_net *net;
extern CURLM *multi;
extern char run_dir[4096], runc_root[4200], cont_dir[4200], attached_root[4200];
extern char node_name[256];

double mono(void);
int64_t now_us(void);
/* A line in the app's log (source "deis") and in ours. */
void applog(const char *app, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
struct sapp *app_find(const char *name, bool add);
struct inst *inst_find(const char *id);
void inst_dir(const struct inst *i, const char *file, char *out, size_t len);
bool is_web(const struct inst *i);
void set_state(struct inst *i, enum istate s);
void inst_free(struct inst *i);
void net_release(const char *id, const char *app, const char *address);
void inst_remove(struct inst *i);
struct inst *inst_new(struct sapp *a, const char *type, int number,
		      int release, enum kind kind, const char *command,
		      long seq);
bool removing(const char *id);

/* ---- the model (policy.c) ---- */

const struct deis_build *build_of(const struct deis_app *m,
				  const struct deis_release *r);
const struct deis_release *target(const struct deis_app *m,
				  const struct deis_release **pending);
const struct deis_release *release_of(const struct deis_app *m, int version);
bool runs_any(const struct deis_app *m, const struct deis_release *T, bool *web);
const struct deis_release *undeployed_target(const struct sapp *a);
bool serves(const struct deis_app *m, const struct deis_release *T,
	    char *who, size_t len);

/* ---- launching, stopping, exits (launch.c) ---- */

int make_bundle(const struct deis_app *m, const struct deis_release *rel,
		const char *type, const char *cmd, const char *id,
		const char *name, const struct deis_net_endpoint *ep, int port,
		const struct deis_kvlist *extra, int terminal, const char *dir,
		struct deis_error *err);
int inst_launch(struct inst *i, struct sapp *a);
void inst_stop(struct inst *i);
bool init_execd(const struct inst *i);
void send_term(struct inst *i);
void crash(struct inst *i, const char *why);
void fail_release(struct sapp *a, int version, const char *why);
void inst_exited(struct inst *i);

/* ---- health checks (health.c) ---- */

void set_up(struct inst *i);
void probe(struct inst *i, const struct deis_app *m, double t);
void probes_done(void);

/* ---- the pass (pass.c) ---- */

void reconcile(struct sapp *a);

/* ---- the record (record.c) ---- */

void mark_deployed(struct sapp *a, double t);
void write_rows(struct sapp *a, double t);
void load_app(struct sapp *a);
void resync(void);

/* ---- adoption (adopt.c) ---- */

void adopt(void);

/* ---- attached one-offs (run.c) ---- */

int run_attached(const char *app, const char *user, const char *term,
		 const char *command);

#endif
