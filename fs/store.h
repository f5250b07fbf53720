/*
 * store.h - what the tree asks of the platform's durable state: the loads
 * that fill the model, and one operation per kind of change.
 *
 * deisfs runs over PostgreSQL through store_db.c, a thin adapter over
 * lib/db_*.c (deis_db_*); the unit tests run the whole tree over an
 * in-memory store (tests/unit/test_tree_store.c).  Like the data source
 * of fuse-overlayfs, the table is the seam: the tree never names the
 * database, and what it stores can be read back without one.
 *
 * Every change is one transaction of the store: it commits whole or
 * changes nothing, and it checks the acting user's rights on the app
 * again, under the app's lock (act_as), so a right revoked through any
 * mount stops the next commit.  The tree calls the changes only through
 * tree_commit() (tree.h).
 */
#ifndef DEISFS_STORE_H
#define DEISFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deis/db.h"
#include "deis/error.h"
#include "deis/kv.h"
#include "deis/model.h"
#include "deis/quota.h"

/* One connection of a store: used by one request at a time. */
struct store_conn;

/*
 * The arguments of one change and what it gives back.  Each operation
 * below says which fields it reads; the others are left zero.
 */
struct store_change {
	const char *app;		/* the app changed: reloaded after */
	const char *user;		/* the user changed (users/<user>):
					 * reloaded after */
	const char *who;		/* the acting user, for summaries
					 * (tree_commit fills it) */
	const char *name;		/* an entry: key, domain, container,
					 * quota scope, short image digest */
	const char *text;		/* a value: key line, PEM, command,
					 * image reference */
	const char *key_type;		/* key_add */
	const char *fingerprint;	/* key_add */
	const struct deis_kvlist *kv;
	const struct deis_strlist *list;
	const struct deis_release_change *release;
	const struct deis_quota *quota;
	int64_t not_after;		/* cert_set */
	int uid;			/* user_create: -1 when not local */
	int release_version;		/* run_create: the release it runs */
	/* results */
	int version;			/* the release made (0: none) */
	int number;			/* the build or the one-off made */
};

/* A change: 0, or < 0 with err filled (-EACCES, -EEXIST, -EDQUOT ...). */
typedef int store_fn(struct store_conn *s, struct store_change *c,
		     struct deis_error *err);

struct store_ops {
	/* A connection for the calling thread's request; NULL when the
	 * store is unreachable.  release gives it back, acting as nobody. */
	struct store_conn *(*acquire)(void);
	void (*release)(struct store_conn *s);
	/* The user the changes that follow act as (NULL: the platform
	 * or an admin, nothing checked). */
	void (*act_as)(struct store_conn *s, const char *user);
	/* Whether a change can commit now: 0, or -EIO with the reason
	 * (NULL: always).  Called before every change is accepted (open
	 * for writing, mkdir, rename, unlink, rmdir, truncate) so that the
	 * error reaches the caller where a shell shows it, not at close;
	 * known_only answers from what is known, with no I/O (at write). */
	int (*check)(bool known_only, struct deis_error *err);
	/* A users row for name, when it has none (uid may be -1). */
	int (*user_ensure)(struct store_conn *s, const char *name, int uid,
			   struct deis_error *err);

	/* ---- loads: fresh structs the caller frees (as deis_db_load_*) ---- */
	int (*load_apps)(struct store_conn *s, const char *only,
			 const struct deis_app *prev, struct deis_app ***apps,
			 size_t *n, struct deis_error *err);
	int (*load_users)(struct store_conn *s, const char *only,
			  struct deis_user ***users, size_t *n,
			  struct deis_error *err);
	/* app name -> serial, and "~user" -> serial */
	int (*serials)(struct store_conn *s, struct deis_kvlist *out,
		       struct deis_error *err);
	int (*quotas)(struct store_conn *s, struct deis_quota_row **out, size_t *n,
		      struct deis_error *err);

	/* ---- changes ---- */
	store_fn *user_create;		/* user, uid; -EEXIST */
	store_fn *key_add;		/* user, name, key_type, text, fingerprint */
	store_fn *key_remove;		/* user, name */
	store_fn *app_create;		/* app, user (its owner); makes v1 */
	store_fn *app_destroy;		/* app */
	store_fn *release_create;	/* app, who, release -> version */
	/* app, who, text (the image, <app>@sha256:...), kv (its Procfile),
	 * name (the short digest, for the summary): a build and its
	 * release -> number, version */
	store_fn *image_deploy;
	store_fn *formation_set;	/* app, kv */
	store_fn *domains_set;		/* app, list */
	store_fn *perms_set;		/* app, list */
	store_fn *drains_set;		/* app, list */
	store_fn *setting_set;		/* app, name (a setting), text (its value) */
	store_fn *cert_set;		/* app, name (domain), text (PEM), not_after */
	store_fn *cert_remove;		/* app, name */
	store_fn *container_restart;	/* app, name */
	store_fn *run_create;		/* app, text (command), release_version
					 * -> number */
	store_fn *quota_set;		/* name (the scope: "" or a user), quota */
};

/* The store deisfs uses: store_db, unless a test sets another. */
extern const struct store_ops *fs_store;
extern const struct store_ops store_db;

#endif
