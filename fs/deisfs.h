/*
 * deisfs.h - what the parts of deisfs share.
 *
 *   state.c    the platform held in memory (apps, users) and kept fresh
 *              from the store on events; scratch files; the callers' ids
 *   tree.c     the tree as a table of node types (rows), each with show
 *              (read) and store (commit) functions, like Plan 9's Dirtab;
 *              the rows of each family in files of their own (tree.h)
 *   store.h    what the tree asks of PostgreSQL (store_db.c)
 *   ops.c      the FUSE low-level operations, one reply per call, over
 *              inode.c (the inode table), handle.c (open files) and
 *              inval.c (the invalidation thread): they name no path
 *   main.c     options, start-up order, the event thread
 *
 * Locking: the state lock (a rwlock) guards the model and the scratch
 * files.  A request resolves its node and renders or checks under the read
 * lock; a change drops it, commits in PostgreSQL, then reloads the app
 * under the write lock.  The inode table has its own mutex, never held
 * while taking the state lock.
 */
#ifndef DEISFS_H
#define DEISFS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "deis/buf.h"
#include "deis/cache.h"
#include "deis/db.h"
#include "deis/error.h"
#include "deis/model.h"

/* ---- options (main.c) ---- */

struct fs_conf {
	double entry_timeout;	/* seconds the kernel may cache names */
	double attr_timeout;
	double negative_timeout;
	int db_pool;		/* PostgreSQL connections for requests */
	/* What one user may hold in deisfs's memory, and all users together
	 * (state.c: mem_charge) */
	int scratch_files;	/* scratch files (and created, unstored entries) */
	int scratch_mb;		/* MiB of scratch file content */
	int buffers_mb;		/* MiB held by the user's open files */
	int memory_mb;		/* MiB of scratch files and buffers of everyone */
	char *supervise_dir;	/* runit's service directories, for
				 * platform/status; "" when none */
};
extern struct fs_conf fs_conf;

/* ---- callers ---- */

struct caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char name[64];		/* the platform user; "" if uid has no name */
	bool admin;
};

/* Looks a user's ids up by name (cached for a few seconds): a local
 * account's, else a platform user's reserved uid (gid: the same number). */
bool local_user(const char *name, uid_t *uid, gid_t *gid);
/* Fills who from a uid (cached for a few seconds): a reserved uid names
 * its platform user, any other a local account. */
void caller_lookup(uid_t uid, gid_t gid, struct caller *who);

/* ---- state (state.c) ---- */

struct scratch {
	char *dir;		/* its namespace, "config:<app>", "keys:<user>"
				 * (tree.c makes them) */
	char *owner;		/* the app it belongs to, or the user */
	bool of_user;		/* owner is a user (keys/), not an app */
	char *name;
	struct deis_buf data;	/* counted against `creator` (mem_buf_size) */
	mode_t mode;
	uid_t uid;		/* shown owner (chown may change it) */
	gid_t gid;
	uid_t creator;		/* whose limits it counts against */
	int64_t mtime;
	bool pending;		/* a created config var not yet committed */
};

struct state {
	pthread_rwlock_t lock;
	struct deis_app **apps;		/* sorted by name */
	size_t napps;
	struct deis_user **users;	/* sorted by name */
	size_t nusers;
	struct scratch **scratch;
	size_t nscratch;
	int64_t started;
	long db_latency_us;		/* last health probe, -1 on failure */
	long cache_latency_us;
	char db_error[256];
	char cache_error[256];
	/* From the last health probe, under nodes_lock: the scheduler's
	 * nodes and whether a router (deis-proxy) is alive. */
	pthread_mutex_t nodes_lock;
	struct deis_node *nodes;
	size_t nnodes;
	int router_alive;		/* -1 unknown (Redis down) */
};
extern struct state state;

/* The PostgreSQL pool (store_db.c): a connection for the calling
 * thread's request; the tree's changes and loads go through fs_store
 * (store.h), the health probe and start-up use these directly. */
struct deis_db *db_acquire(void);
void db_release(struct deis_db *db);
/* The Redis pool, for reading logs; NULL when Redis is unreachable. */
struct deis_cache *cache_acquire(void);
void cache_release(struct deis_cache *c, bool broken);

/* A platform line ("deis" source) in an app's log. */
void platform_line(const char *app, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A log stream's size (every byte ever written) and the time of its last
 * line (0 when empty); both 0 when Redis is unreachable. */
void log_bounds(const char *app, const char *src, long long *end, int64_t *mtime);

int state_load_all(struct deis_error *err);
/* Reloads one app or user from the database (gone rows disappear);
 * returns 1 when something changed, 0 when not, < 0 on error.  Takes the
 * write lock itself. */
int state_reload_app(const char *name, struct deis_error *err);
int state_reload_user(const char *name, struct deis_error *err);
/* Compares serials with the database and reloads what differs.  Calls
 * changed(kind, name) for each change. */
int state_resync(void (*changed)(const char *kind, const char *name),
		 struct deis_error *err);

void app_ref(const struct deis_app *a);
void app_unref(const struct deis_app *a);

/* Lookups; the caller holds the state lock. */
const struct deis_app *state_app(const char *name);
const struct deis_user *state_user(const char *name);

/*
 * Memory a user makes deisfs hold: scratch files (held until removed) and
 * the buffers of open files (held until the last close).  Each kind has a
 * limit per user (scratch_mb, buffers_mb) and both together one for all
 * users (memory_mb).  Counted in allocated bytes (what a buffer can hold).
 */
enum mem_kind { MEM_SCRATCH, MEM_BUFFER };

/* Accounts bytes (negative: given back, always succeeds) to uid.  Past a
 * limit: -EDQUOT (the user's) or -ENOSPC (everyone's) with err filled, and
 * nothing is counted.  Takes its own lock. */
int mem_charge(uid_t uid, enum mem_kind kind, long long bytes, struct deis_error *err);
/* What a buffer counts: the bytes it can hold (its terminating NUL is the
 * library's, not the user's). */
size_t mem_buf_size(const struct deis_buf *b);
/* Grows b (charged to uid as kind) so that it can hold `need` bytes (plus
 * its NUL): charges the new capacity first, and leaves b as it was when
 * that is refused. */
int mem_buf_reserve(struct deis_buf *b, uid_t uid, enum mem_kind kind, size_t need,
		    struct deis_error *err);

/* The scratch files: the caller holds the state write lock. */
struct scratch *scratch_find(const char *dir, const char *name);
/* NULL with err filled (EDQUOT, ENOSPC) when uid may hold no more. */
struct scratch *scratch_create(const char *dir, const char *owner, bool of_user,
			       const char *name, mode_t mode, uid_t uid, gid_t gid,
			       struct deis_error *err);
void scratch_remove(struct scratch *s);
/* Drops every scratch file of an app (it was destroyed). */
void scratch_drop_app(const char *app);

/* After a committed change: publish the event and invalidate the kernel's
 * caches for that app or user (asynchronously, from the event thread). */
void changed(const char *kind, const char *name);
/* Queues kernel cache invalidation for an app or user subtree. */
void inval_queue(const char *kind, const char *name);

int64_t now_us(void);

/* ---- the tree (tree.c) ---- */

struct node;
struct req;
struct tree_lister;

/*
 * When a write commits.  Every writable file commits when the writer is
 * done (the last write before close, or a rename onto it), so one
 * `printf 'a\nb\n' > f` is one change even when the shell splits it into
 * several write()s.  A control file (every line-oriented file, env
 * included) is also checked at each write(): the complete lines written so
 * far, so a bad line fails the write itself and the shell shows it (shells
 * ignore errors from close); only a last line without its newline (or a
 * quoted env value still open) waits for the close.  A certificate may be
 * invalid until it is whole, so it is checked only at commit.
 */
enum commit_when {
	COMMIT_NEVER,		/* read-only */
	COMMIT_CONTROL,		/* complete lines checked at each write,
				 * committed at close */
	COMMIT_DOCUMENT,	/* committed (and checked) at close or rename */
};

/* The deepest path of the tree, in names below the root. */
#define TREE_DEPTH_MAX 12

/* Rows added to a directory at start, beside its static children: rows
 * built from a table elsewhere (the per-app settings).  Filled before the
 * mount serves and never changed after, so read without a lock. */
#define TREE_MORE_MAX 32
struct tree_more {
	const struct nodetype *rows[TREE_MORE_MAX];
	size_t n;
};

/*
 * One row of the tree: a file, a symlink or a directory, with what it
 * shows, what storing it does, and what it says about itself.  Only the
 * rows know the layout: the FUSE side asks them (through tree_*()) and
 * names no path.
 */
struct nodetype {
	const char *name;	/* fixed name, or NULL for a dynamic entry */
	const char *pattern;	/* a dynamic entry's name in help: "<app>" */
	mode_t mode;		/* S_IFDIR|0755, S_IFREG|0644, S_IFLNK|0777 */
	enum commit_when commit;
	size_t max;		/* largest content a store accepts */
	bool direct;		/* content changes without events, or with the
				 * reader: direct_io, no page cache */
	bool owner_only;	/* only the app's owner (or an admin) writes it */
	bool self_only;		/* only that user (users/<name>) and admins
				 * read it */
	/* an app directory: its entry is never cached by the kernel, so every
	 * path walk through it comes back to check the caller */
	bool gate;
	/* What it is, for README and docs/tree.md (tree_doc.c): help is one
	 * line; doc_read and doc_write are the columns of docs/tree.md's file
	 * tables (doc_read defaults to help, doc_write to "read-only").  A
	 * row without help is left out of both: its directory's covers it. */
	const char *help;
	const char *doc_read;
	const char *doc_write;
	/* What the kernel must forget on an event (changed(kind, name)): a
	 * directory whose entries are named by the events of this kind
	 * (apps/ for "app"), or a file that changes with every one (status). */
	const char *event;
	/* files: render the content; symlinks: the target */
	int (*show)(const struct node *n, struct deis_buf *out);
	/* commit new content; returns 0 or -errno with err filled */
	int (*store)(struct req *r, const struct node *n, const char *data,
		     size_t len);
	int (*unlink)(struct req *r, const struct node *n);
	int (*rmdir)(struct req *r, const struct node *n);
	/* an entry renamed to another name of its directory (mv config/A
	 * config/B), toname valid there (creatable) */
	int (*rename)(struct req *r, const struct node *n, const char *toname);
	/* directories */
	const struct nodetype *const *children;	/* static entries */
	struct tree_more *more;			/* entries added at start */
	/* the type of its dynamic entries (and of a created entry, a config
	 * var or a key before it is stored) */
	const struct nodetype *entry;
	/* dynamic entries: fill child (a copy of dir, its type `entry`) from
	 * a name; 0 or -ENOENT */
	int (*lookup)(const struct node *dir, const char *name, struct node *child);
	/* list them: fill e (as child above) for each, and tree_add() it */
	void (*list)(const struct node *dir, struct req *r, struct node *e,
		     struct tree_lister *l);
	int (*mkdir)(struct req *r, const struct node *dir, const char *name);
	/* the scratch namespace of this directory ("config" makes
	 * "config:<app>"), NULL when it takes no scratch files */
	const char *scratch_ns;
	/* may a created file of this name be a pending entry (config var,
	 * key, cert) rather than a scratch file? */
	bool (*creatable)(const struct node *dir, const char *name, int flags);
	int64_t (*mtime)(const struct node *n);
	/* a log file: fills the stream's source ("" for the app's log) */
	void (*logsrc)(const struct node *n, char *src, size_t len);
};

/* A resolved path: its type and what it refers to in the model.  Pointers
 * are valid while the state lock is held. */
struct node {
	const struct nodetype *t;
	const struct deis_app *app;
	const struct deis_user *user;
	const struct deis_release *rel;
	const struct deis_build *build;
	const struct deis_cert *cert;
	const struct deis_key *key;
	const struct deis_container *container;
	struct scratch *scratch;
	const struct caller *viewer;	/* who resolved it (what some files show
					 * depends on it), NULL if unknown */
	char owner[64];		/* user name for users/<name> */
	char host[256];		/* node name for platform/nodes/<node> */
	char name[256];		/* the leaf name */
};

/* A request: the caller and the error of the operation. */
struct req {
	struct caller who;	/* for a file's descriptor: who opened it */
	struct deis_error err;
	bool dry_run;		/* check only: store stops before the database,
				 * with the state lock held by the caller */
	/* A dry run of the complete lines written so far (more may follow):
	 * data[0..checked) (checked_lines lines) was found good by an earlier
	 * check of the same descriptor, so a store that can check line by
	 * line (env) starts there and moves both on; others check it all. */
	bool partial;
	size_t checked;
	size_t checked_lines;
};

extern const struct nodetype nt_root;
extern const struct nodetype nt_scratch;

/* An editor's or tool's temporary file name (see tree.c). */
bool tree_editor_name(const char *name, int flags);
/* Finds child `name` of dir: static entries, added ones, dynamic entries,
 * scratch files. */
int tree_lookup(const struct node *dir, const char *name, struct node *child);
/* Walks names[0..depth) from the root into n, checking that the caller
 * may pass every app directory on the way; the caller holds the state
 * lock. */
int tree_resolve(const struct req *r, char names[][256], int depth, struct node *n);
/* Calls add for every entry of dir, in the order ls shows them ("." and
 * ".." are the caller's); the caller holds the state lock. */
void tree_list(const struct node *dir, struct req *r,
	       void (*add)(void *ctx, const char *name, const struct node *n), void *ctx);
/* May the caller see (want_write = false) or change this node? */
int tree_access(const struct req *r, const struct node *n, bool want_write);
/* stat of a node */
void tree_stat(const struct node *n, ino_t ino, struct stat *st);
/* Content of a file or scratch file (a new buffer in out). */
int tree_show(const struct node *n, struct deis_buf *out);
/* Commits content to a node (store or scratch write). */
int tree_store(struct req *r, const struct node *n, const char *data, size_t len);
/* rename within the tree (see tree.c for the rules) */
int tree_rename(struct req *r, const struct node *from, const struct node *todir,
		const char *toname, const struct node *to, bool to_exists);
/* Creates scratch file `name` in dir (pending: an entry not yet stored);
 * the caller holds the state write lock.  0, or < 0 with r->err filled
 * (EACCES where dir takes none, EINVAL for a name it cannot take, EDQUOT,
 * ENOSPC). */
int tree_create(struct req *r, const struct node *dir, const char *name, mode_t mode,
		int flags);
/* A created entry whose content was never stored leaves nothing: drops
 * scratch file `name` of namespace dir when it is still pending, and
 * queues the invalidation of its directory.  Returns whether it did.
 * Takes the state lock itself. */
bool tree_drop_pending(const char *dir, const char *name);
/* Calls fn with each path (names from the root) whose kernel caches an
 * event (kind, name) makes stale. */
void tree_event_paths(const char *kind, const char *name,
		      void (*fn)(void *ctx, const char *const *names, int depth),
		      void *ctx);
/* README: the tree, a line per row that has help (tree_doc.c). */
void tree_readme(struct deis_buf *out);

/* Logs an operation's failure once, in words, with the caller. */
void req_log_error(const struct req *r, const char *op, const char *path);

/* ---- quotas and capacity (quota.c) ---- */

/* platform/quotas and users/<name>/quota */
extern const struct nodetype nt_platform_quotas;
extern const struct nodetype nt_user_quota;
/* Reloads the quotas from the database (after a change, on a "quotas"
 * event, at each health probe). */
int quota_reload(struct deis_error *err);
/* The check at write() (a dry run: the caller holds the state lock):
 * app's formation or limits replaced by these (when not NULL), and
 * oneoffs more one-off containers; 0, or -EDQUOT with the reason. */
int quota_admit(struct req *r, const struct deis_app *app,
		const struct deis_kvlist *formation, const struct deis_kvlist *limits,
		long oneoffs);

#endif
