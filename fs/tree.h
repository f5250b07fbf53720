/*
 * tree.h - what the files of the tree share: the helpers of tree.c, the
 * rows one family of directories takes from another.  The FUSE side
 * (ops.c) sees only deisfs.h.
 *
 *   tree.c      the generic operations (lookup, access, stat, store,
 *               rename), the root, README, scratch files, helpers
 *   commit.c    tree_commit(): how every store function commits
 *   tree_doc.c  README and docs/tree.md's tables, made from the rows
 *   platform.c  platform/
 *   users.c     users/<name>/
 *   app.c       apps/ and the files of an app directory
 *   app_dirs.c  config/, certs/, releases/, builds/, containers/
 *   quota.c     platform/quotas, users/<name>/quota
 */
#ifndef DEISFS_TREE_H
#define DEISFS_TREE_H

#include "deisfs.h"
#include "store.h"

#define DIR_MODE (S_IFDIR | 0755)
#define RO_MODE (S_IFREG | 0444)
#define RW_MODE (S_IFREG | 0644)

/* A file of a directory of facts (platform/nodes/<node>/,
 * containers/<name>/): read-only, shown by a show function that tells the
 * facts apart by the row's name. */
#define TREE_FACT(fname, fshow, fmtime, ...) \
	{ .name = fname, .mode = RO_MODE, .show = fshow, .mtime = fmtime, __VA_ARGS__ }

/* ---- helpers (tree.c) ---- */

/* A list function's entry e, named by fmt: handed to the lister. */
void tree_add(struct tree_lister *l, struct node *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void fmt_time(int64_t us, char *out, size_t len);
bool app_user(const struct req *r, const struct deis_app *a);
bool app_owner(const struct req *r, const struct deis_app *a);
bool temp_name(const char *name, int flags);
bool user_self(const struct req *r, const char *name);
void app_name(const struct node *n, char *out, size_t len);
int64_t mtime_started(const struct node *n);
/* Adds row to directory dir's added rows (dir->more), before the mount
 * serves: -EEXIST when dir has a row of that name. */
int tree_more_add(const struct nodetype *dir, const struct nodetype *row,
		  struct deis_error *err);
/* Adds row to every app directory (app.c): rows built from a table, as
 * the per-app settings are. */
int tree_app_add(const struct nodetype *row, struct deis_error *err);
/* A created entry (a config var, a key, a cert: a pending scratch file
 * of dir's namespace for owner) was stored: the scratch file goes. */
void tree_pending_stored(const struct nodetype *dir, const char *owner, const char *name);

/* ---- commits (commit.c) ---- */

/*
 * Commits one change of the store for request r: takes a connection,
 * makes the acting user's users/ row if they have none, acts as them (the
 * store checks their rights on the app again, in the change's own
 * transaction), runs change with c, and gives the connection back.  On
 * success it reloads what c names (c->app, c->user) and tells the kernel
 * and the other mounts.  Returns 0, or < 0 with r->err filled.  In a dry
 * run it does nothing and returns 1, which store functions take as "not
 * done": they check everything before it, and follow up on 0 only.
 */
int tree_commit(struct req *r, store_fn *change, struct store_change *c);
/* A change that makes a release (config, env, limits, rollback), with its
 * summary as a platform line in the app's log. */
int release_change(struct req *r, const struct node *n,
		   const struct deis_release_change *c);

/* ---- what the tree says about itself (tree_doc.c) ---- */

/* A generated part of docs/tree.md: "listing" (the tree, as in README),
 * "platform" (the file table of platform/ and users/), "apps" (of an app
 * directory); -ENOENT for another name. */
int tree_doc(const char *part, struct deis_buf *out);
/* doc with each of its generated parts made again from the rows, into
 * out: in markdown between "<!-- tree:PART -->" and "<!-- /tree:PART -->"
 * lines (docs/tree.md), in roff between '.\" tree:PART' and
 * '.\" /tree:PART' lines (docs/man/deisfs.5).  -EINVAL when a marker is
 * malformed or names no part. */
int tree_doc_update(const char *doc, struct deis_buf *out, struct deis_error *err);

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
extern const struct nodetype nt_apps;		/* app.c */
extern const struct nodetype nt_config;		/* app_dirs.c */
extern const struct nodetype nt_certs;
extern const struct nodetype nt_releases;
extern const struct nodetype nt_builds;
extern const struct nodetype nt_containers;

#endif
