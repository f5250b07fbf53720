/*
 * db.h - the Database module: every SQL statement of the platform.
 *
 * All SQL lives in lib/db_*.c; everything else calls these functions.
 * Parameters are always bound (PQexecParams), never spliced into text.
 * Each change is exactly one transaction: it either commits whole or
 * changes nothing.  A change that makes a release makes exactly one.
 *
 * A struct deis_db is one connection; it is not thread-safe (deisfs keeps
 * a small pool).  A broken connection is re-established at the next call.
 */
#ifndef DEIS_DB_H
#define DEIS_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deis/error.h"
#include "deis/kv.h"
#include "deis/model.h"
#include "deis/quota.h"

struct deis_db;

int deis_db_open(const char *conninfo, struct deis_db **out,
		 struct deis_error *err);
void deis_db_close(struct deis_db *db);
/*
 * The user on whose behalf the changes that follow run (deisfs sets it for
 * each request a tenant makes).  Every change to an app then checks, in its
 * own transaction and under the app row's lock, that this user is the
 * app's owner or listed in its perms (the owner only, for perms and the
 * app's destruction), and a key change that it is the key's user:
 * EACCES otherwise.  So a right revoked through any mount is in force for
 * the next commit, whatever this mount has heard yet.  NULL or "" (the
 * default): the platform itself or an admin, nothing checked.
 */
void deis_db_act_as(struct deis_db *db, const char *user);
/* Applies every migration not yet applied, under an advisory lock, so
 * concurrent starters are safe and re-running is harmless. */
int deis_db_migrate(struct deis_db *db, struct deis_error *err);
/* Round trip to the server; returns its latency in microseconds. */
long deis_db_ping(struct deis_db *db, struct deis_error *err);
/* Whether the connection answers, cheaply: a session the server ended
 * is seen by reading what it sent (no round trip); round_trip adds a
 * SELECT 1.  A lost connection is made again, once.  0, or -EIO. */
int deis_db_check(struct deis_db *db, bool round_trip, struct deis_error *err);
/* The connection was lost (its last statement found the server gone). */
bool deis_db_lost(const struct deis_db *db);

/* ---- loading (fills fresh structs the caller frees) ---- */

/* only == NULL loads every app; else the one app (n = 0 if it is gone).
 * prev, when not NULL, is that app as loaded before: its releases (which
 * never change) are shared, not read again.  The caller must keep prev
 * alive during the call. */
int deis_db_load_apps(struct deis_db *db, const char *only,
		      const struct deis_app *prev,
		      struct deis_app ***apps, size_t *n,
		      struct deis_error *err);
int deis_db_load_users(struct deis_db *db, const char *only,
		       struct deis_user ***users, size_t *n,
		       struct deis_error *err);
/* name -> serial of every app (key) and every user (prefixed "~"), for the
 * periodic resync that makes up for lost events. */
int deis_db_serials(struct deis_db *db, struct deis_kvlist *out,
		    struct deis_error *err);

/* The platform user a key belongs to, by SHA256 fingerprint ("SHA256:..."),
 * into user; -ENOENT for an unknown key. */
int deis_db_key_owner(struct deis_db *db, const char *fingerprint, char *user,
		      size_t len, struct deis_error *err);
/* Whether user owns app or is in its perms (*allowed), and the app's id
 * (*id, when id is not NULL); -ENOENT for an unknown app.  Admins are decided by the caller. */
int deis_db_app_access(struct deis_db *db, const char *app, const char *user,
		       bool *allowed, long *id, struct deis_error *err);

/* ---- changes ---- */

/* Creates the user row if missing (uid may be -1); never fails on exist. */
int deis_db_user_ensure(struct deis_db *db, const char *name, int uid,
			struct deis_error *err);
/* -EEXIST when the user exists.  uid < 0: a user with no local account,
 * given a uid of the reserved range (user_uid_min..user_uid_max) that no
 * other user and no local account has (lib/db_users.c). */
int deis_db_user_create(struct deis_db *db, const char *name, int uid,
			struct deis_error *err);
/* The reserved uid of user name, into *uid; a user who has none (a row
 * made before uids were reserved, or whose local account is gone) is
 * given one now (*allocated; the user's serial is bumped).  -ENOENT for
 * no such user.  For a user who has a local account, look that up first:
 * this gives them a reserved uid too. */
int deis_db_user_uid(struct deis_db *db, const char *name, int *uid, bool *allocated,
		     struct deis_error *err);
/* deis_conf.user_uid_min and _max, checked: -EINVAL for a bad range. */
int deis_db_uid_range(int *min, int *max, struct deis_error *err);
int deis_db_key_add(struct deis_db *db, const char *user, const char *name,
		    const char *type, const char *data,
		    const char *fingerprint, struct deis_error *err);
int deis_db_key_remove(struct deis_db *db, const char *user,
		       const char *name, struct deis_error *err);

/* Creates the app and its release v1 ("alice created initial release"). */
int deis_db_app_create(struct deis_db *db, const char *name,
		       const char *owner, struct deis_error *err);
/* Deletes the app and every row that belongs to it. */
int deis_db_app_destroy(struct deis_db *db, const char *name,
			struct deis_error *err);

enum deis_release_kind {
	DEIS_RELEASE_SET,	/* key = value */
	DEIS_RELEASE_UNSET,	/* key */
	DEIS_RELEASE_RENAME,	/* key -> new_key */
	DEIS_RELEASE_ENV,	/* vars replace the whole config */
	DEIS_RELEASE_LIMITS,	/* vars replace the limits */
	DEIS_RELEASE_ROLLBACK,	/* copy version's build, config, limits */
	DEIS_RELEASE_DEPLOY,	/* build number `version` goes live; key is
				 * the short commit (or image) for the summary */
};

struct deis_release_change {
	enum deis_release_kind kind;
	const char *key;
	const char *value;
	const char *new_key;
	const struct deis_kvlist *vars;
	int version;
};

/* Makes the next release of app from its current one and the change, in
 * one transaction, with its summary ("alice added A, changed B").  When
 * the change changes nothing, no release is made and *version = 0.
 * -ENOENT for an unknown app, key or version.  A DEPLOY also, in the same
 * transaction, scales the first build (no formation yet) to web=1, or to
 * its only process type, and drops formation entries for process types
 * the new build no longer has.  A change of limits, a rollback or a
 * deploy that would pass the owner's quota or the nodes' capacity is
 * refused with -EDQUOT (quota.h). */
int deis_db_release_create(struct deis_db *db, const char *app,
			   const char *who,
			   const struct deis_release_change *change,
			   int *version, struct deis_error *err);

/* Records a new build of app (status "running"); its number in *number. */
/*
 * An image deployed without a build (apps/<app>/image), in one
 * transaction: a finished build row of image with procfile (*number), then
 * the release that deploys it (*version; summary "<who> deployed <key>").
 * A release refused (EDQUOT, EACCES) leaves no build behind.
 */
int deis_db_image_deploy(struct deis_db *db, const char *app, const char *who,
			 const char *image, const struct deis_kvlist *procfile,
			 const char *key, int *number, int *version,
			 struct deis_error *err);
int deis_db_build_create(struct deis_db *db, const char *app, const char *owner,
			 const char *sha, int *number, struct deis_error *err);
/* Ends a build: status "succeeded" or "failed", the image reference (may be
 * ""), and the Procfile's process types. */
int deis_db_build_finish(struct deis_db *db, const char *app, int number,
			 const char *status, const char *image,
			 const struct deis_kvlist *procfile, struct deis_error *err);

/* Replaces the formation; types outside the current build's Procfile are
 * refused with -EINVAL once a build exists, and a formation past the
 * owner's quota or the nodes' capacity with -EDQUOT (quota.h).  No
 * release (as in Heroku). */
int deis_db_formation_set(struct deis_db *db, const char *app,
			  const struct deis_kvlist *formation,
			  struct deis_error *err);
/* -EEXIST when another app already has one of the domains. */
int deis_db_domains_set(struct deis_db *db, const char *app,
			const struct deis_strlist *domains,
			struct deis_error *err);
int deis_db_perms_set(struct deis_db *db, const char *app,
		      const struct deis_strlist *users, struct deis_error *err);
/* Replaces the app's log drains (canonical URLs, see drain.h). */
int deis_db_drains_set(struct deis_db *db, const char *app,
		       const struct deis_strlist *urls, struct deis_error *err);
/* app name -> its drain URLs joined by '\n', for every app with drains. */
int deis_db_load_drains(struct deis_db *db, struct deis_kvlist *out,
			struct deis_error *err);
/* The names of every app, sorted. */
int deis_db_app_names(struct deis_db *db, struct deis_strlist *out,
		      struct deis_error *err);
int deis_db_cert_set(struct deis_db *db, const char *app, const char *domain,
		     const char *pem, int64_t not_after,
		     struct deis_error *err);
int deis_db_cert_remove(struct deis_db *db, const char *app,
			const char *domain, struct deis_error *err);

/* ---- containers: what the scheduler records (docs/scheduler.md) ---- */

/* The next value of the container sequence: a new instance's seq. */
int deis_db_seq_next(struct deis_db *db, long *seq, struct deis_error *err);
/* In one transaction (bumping the app's serial): inserts or updates each
 * row by its instance (state, release, node, port, started, restarts; a
 * user's restart request is kept) and deletes the removed instances;
 * with deployed (a version; 0 for none), records that release "deployed"
 * (rollouts) in the same transaction, so that whoever sees the verdict
 * sees the rows that made it; *serial (if not NULL) gets the app's new
 * serial.  -ENOENT when the app is gone. */
int deis_db_containers_write(struct deis_db *db, const char *app,
			     const struct deis_container *rows, size_t n,
			     const char *const *removed, size_t nremoved,
			     int deployed, long *serial, struct deis_error *err);
/* rmdir containers/<name>: asks the scheduler to replace the newest
 * instance of name (desired = 'restart').  -ENOENT for no such name. */
int deis_db_container_restart(struct deis_db *db, const char *app,
			      const char *name, struct deis_error *err);
/* `run`: records a one-off run.N (N in *number, its instance id in
 * instance) of command on release: state 'starting' until the scheduler
 * starts it; or, with node (not NULL), an attached one already running
 * there (`ssh ... run`: state 'up', desired 'attached', port).  A one-off
 * counts against its owner's quota while it runs: -EDQUOT past it. */
int deis_db_run_create(struct deis_db *db, const char *app, const char *command,
		       int release, const char *node, int port, int *number,
		       char *instance, size_t ilen, struct deis_error *err);
/* The scheduler's verdict on a release: "released" (its release phase
 * passed), "deployed" (it went live; the row's time says when) or
 * "failed" (it never went live), with the reason; a failed verdict is
 * final (later ones leave it).  Locks the app row (its serial moves):
 * publish the app's event after. */
int deis_db_rollout_set(struct deis_db *db, const char *app, int version,
			const char *state, const char *reason,
			struct deis_error *err);
/* ---- nodes (platform/nodes/<node>/, docs/scheduler.md) ---- */

/* A node as its scheduler's heartbeat reports it, and the availability
 * an admin asked for.  Strings are NUL-terminated. */
struct deis_node {
	char name[256];
	char address[256];
	int64_t last_seen;	/* µs since the epoch of the last heartbeat */
	char role[16];		/* "manager", "worker"; "node" (runc) */
	char state[8];		/* "ready" or "down", as the runtime said */
	char availability[8];	/* "active", "pause", "drain": the runtime's */
	char desired[8];	/* the same words: what an admin asked for */
	bool movable;		/* its runtime can move its containers to
				 * another node (drain and pause possible) */
	int containers;		/* the platform's containers running there */
	long long memory;	/* bytes (its total), 0 when not reported */
	long long memory_used;	/* bytes the limits of its containers reserve */
};
/* Every node row, by name, in a new array *out the caller frees. */
int deis_db_nodes(struct deis_db *db, struct deis_node **out, size_t *n,
		  struct deis_error *err);
/* A node's heartbeat: its row in nodes (platform/nodes/), the facts in
 * info (JSON: containers, memory) merged over what it held. */
int deis_db_node_seen(struct deis_db *db, const char *name, const char *address,
		      const char *info_json, struct deis_error *err);
/*
 * The heartbeat of a scheduler: each of rows (name, address, role,
 * state, availability, movable, and in info containers, memory,
 * memory_used; the rest is ignored) inserted or updated, seen now, in
 * one transaction.
 * The desired availability is left as it is.  Then *out (when not NULL)
 * gets every row, as deis_db_nodes() gives them.
 */
int deis_db_nodes_report(struct deis_db *db, const struct deis_node *rows, size_t n,
			 struct deis_node **out, size_t *nout, struct deis_error *err);
/*
 * An admin's availability for node (active, pause, drain), by who, in one
 * transaction: -ENOENT for no such node, -EINVAL for another word,
 * -EOPNOTSUPP for pause or drain on a node whose runtime cannot move its
 * containers (its row's movable: one runc node).  *changed (may be NULL):
 * whether it differed.
 */
int deis_db_node_availability_set(struct deis_db *db, const char *node,
				  const char *availability, const char *who,
				  bool *changed, struct deis_error *err);

/* ---- quotas (platform/quotas, users/<name>/quota; quota.h) ---- */

struct deis_quota_row {
	char scope[64];			/* "": the platform's defaults; else a user */
	struct deis_quota q;		/* unset fields: the next level applies */
};
/* Every row, sorted by scope, in a new array *out the caller frees. */
int deis_db_quotas(struct deis_db *db, struct deis_quota_row **out, size_t *n,
		   struct deis_error *err);
/* Replaces scope's quotas; nothing set removes its row. */
int deis_db_quota_set(struct deis_db *db, const char *scope, const struct deis_quota *q,
		      struct deis_error *err);

/* ---- locks held by a session, and what a push builds on (lib/db_locks.c) ---- */

/*
 * A lock that holds across every host of the platform for as long as its
 * holder keeps it: a PostgreSQL advisory lock on a connection of its own
 * (never reconnected, so never dropped unseen).  The server releases it
 * when that session ends: deis_db_unlock(), the holder's exit, its death
 * (its socket closes), or a host gone silent (TCP keepalives, ~25 s).
 * Each class is a namespace of keys; the numbers are shipped: every
 * binary of a platform must agree on them.
 */
enum deis_db_lock_class {
	DEIS_DB_LOCK_PUSH = 7310,	/* one push per app at a time; key: the app's id */
};
struct deis_db_lock;
/* Takes (cls, key) without waiting: 0 and *out, or -EWOULDBLOCK when
 * another session holds it (-EIO: no database).  holder names the
 * session in pg_stat_activity (application_name). */
int deis_db_lock_try(const char *conninfo, enum deis_db_lock_class cls, long key,
		     const char *holder, struct deis_db_lock **out,
		     struct deis_error *err);
/* Whether the lock's session has ended (the server restarted or ended
 * it), so that the lock no longer holds; no round trip. */
bool deis_db_lock_lost(struct deis_db_lock *l);
/* Ends the session, which releases the lock; NULL is fine. */
void deis_db_unlock(struct deis_db_lock *l);
/* The commit (hex) of the app's newest build that succeeded and went into
 * a release, into sha; "" when it has none (never built from git). */
int deis_db_last_build_commit(struct deis_db *db, long app_id, char *sha, size_t len,
			      struct deis_error *err);

#endif
