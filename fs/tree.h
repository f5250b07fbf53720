/*
 * tree.h - what the files of the tree share: the helpers of tree.c, the
 * rows one family of directories takes from another.  The FUSE side
 * (ops.c) sees only deisfs.h.
 *
 *   tree.c      the generic operations (lookup, access, stat, store,
 *               rename), the root, README, scratch files, helpers
 *   platform.c  platform/
 *   users.c     users/<name>/
 *   app.c       apps/ and the files of an app directory
 *   app_dirs.c  config/, certs/, releases/, builds/, containers/
 *   quota.c     platform/quotas, users/<name>/quota
 */
#ifndef DEISFS_TREE_H
#define DEISFS_TREE_H

#include "deisfs.h"

#define DIR_MODE (S_IFDIR | 0755)
#define RO_MODE (S_IFREG | 0444)
#define RW_MODE (S_IFREG | 0644)

/* ---- helpers (tree.c) ---- */

void fmt_time(int64_t us, char *out, size_t len);
bool app_user(const struct req *r, const struct deis_app *a);
bool app_owner(const struct req *r, const struct deis_app *a);
bool temp_name(const char *name, int flags);
bool user_self(const struct req *r, const char *name);
void app_changed(struct req *r, const char *app);
void user_changed(const char *user);
void ensure_user(struct req *r, struct deis_db *db);
void app_name(const struct node *n, char *out, size_t len);
int release_change(struct req *r, const struct node *n,
		   const struct deis_release_change *c);
int64_t mtime_started(const struct node *n);

/* Runs one change against the database with a pooled connection, on
 * behalf of the request's user: the database checks their rights on the
 * app again, in the change's own transaction (deis_db_act_as).  In a dry
 * run it stops here and yields 1, which callers treat as "not done". */
#define WITH_DB(r, db, body) ({						\
	int rc_;							\
	struct deis_db *db = (r)->dry_run ? NULL : db_acquire();	\
	if ((r)->dry_run) {						\
		rc_ = 1;						\
	} else if (!db) {						\
		rc_ = deis_error_set(&(r)->err, EIO, "the database is unreachable"); \
	} else {							\
		ensure_user((r), db);					\
		deis_db_act_as(db, (r)->who.admin ? NULL : (r)->who.name); \
		rc_ = (body);						\
		db_release(db);						\
	}								\
	rc_;								\
})

/* ---- app files (app.c) ---- */

int64_t mtime_app(const struct node *n);
int64_t mtime_created(const struct node *n);
int64_t mtime_release(const struct node *n);
int64_t mtime_log(const struct node *n);
int show_empty(const struct node *n, struct deis_buf *out);
int unlink_ignore(struct req *r, const struct node *n);
void build_line(const struct deis_build *b, struct deis_buf *out);

/* ---- the rows of each family ---- */

extern const struct nodetype nt_platform;	/* platform.c */
extern const struct nodetype nt_users;		/* users.c */
extern const struct nodetype nt_key;
extern const struct nodetype nt_apps;		/* app.c */
extern const struct nodetype nt_config;		/* app_dirs.c */
extern const struct nodetype nt_config_var;
extern const struct nodetype nt_certs;
extern const struct nodetype nt_cert;
extern const struct nodetype nt_releases;
extern const struct nodetype nt_builds;
extern const struct nodetype nt_containers;

#endif
