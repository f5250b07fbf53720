/*
 * tree.c - the deisfs tree as a table of node types: the generic
 * operations.
 *
 * Each directory is a static array of rows; each file has a show
 * function (render its content from the in-memory model) and, when
 * writable, a store function (validate, commit one transaction, reload).
 * Adding a file is one row and two small functions.  Dynamic directories
 * (apps/, config/, releases/ ...) add a lookup and a list function and
 * name the row of their entries.  Each family of directories has a file
 * of its own (tree.h lists them); this file walks the rows, and only the
 * rows know the layout.
 *
 * Names the tree does not define, in directories that allow it, are
 * scratch files held in memory, so editors and `sed -i` can write a
 * temporary file and rename it over the real one (which commits).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deis/log.h"
#include "deis/validate.h"
#include "tree.h"

/* ---- helpers ---- */

void fmt_time(int64_t us, char *out, size_t len)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Does caller use this app: admin, owner, or listed in perms. */
bool app_user(const struct req *r, const struct deis_app *a)
{
	if (r->who.admin)
		return true;
	if (!r->who.name[0])
		return false;
	return !strcmp(a->owner, r->who.name) || deis_strlist_has(&a->perms, r->who.name);
}

bool app_owner(const struct req *r, const struct deis_app *a)
{
	return r->who.admin || (r->who.name[0] && !strcmp(a->owner, r->who.name));
}

/* Temporary names of tools that write beside a file and rename it over
 * the file (GNU sed's "sedXXXXXX", Python's tempfile "tmpXXXXXXXX"):
 * created exclusively, such a name is a scratch file even where it would
 * be a valid config key, so `sed -i` never makes a stray variable. */
bool temp_name(const char *name, int flags)
{
	size_t n = strlen(name);

	if (!(flags & O_EXCL))
		return false;
	if (n == 9 && !strncmp(name, "sed", 3))
		return true;
	if (n == 11 && !strncmp(name, "tmp", 3))
		return true;
	return false;
}

/* Names editors give their own files beside the one they edit: vim's
 * ".KEY.swp" and "4913" probe, backups "KEY~", emacs's "#KEY#".  In
 * config/, keys/ and certs/ such a name is a scratch file, never an entry. */
bool tree_editor_name(const char *name, int flags)
{
	size_t n = strlen(name);
	bool digits = n > 0;

	for (size_t i = 0; i < n; i++)
		if (name[i] < '0' || name[i] > '9')
			digits = false;
	return temp_name(name, flags) || name[0] == '.' || (n && name[n - 1] == '~') ||
	       (n > 1 && name[0] == '#' && name[n - 1] == '#') || digits;
}

/* Is this caller allowed to change users/<name>? */
bool user_self(const struct req *r, const char *name)
{
	return r->who.admin || (r->who.name[0] && !strcmp(r->who.name, name));
}

/* Copies the app name out of the node: the node's pointers die with the
 * read lock, and stores run without it. */
void app_name(const struct node *n, char *out, size_t len)
{
	snprintf(out, len, "%s", n->app ? n->app->name : "");
}

/* ---- the root ---- */

int64_t mtime_started(const struct node *n)
{
	return state.started;
}

static int show_readme(const struct node *n, struct deis_buf *out)
{
	tree_readme(out);
	return 0;
}

static const struct nodetype nt_readme = {
	.name = "README", .mode = RO_MODE, .show = show_readme, .mtime = mtime_started,
	.help = "this help",
};

static const struct nodetype *const root_children[] = {
	&nt_readme, &nt_platform, &nt_users, &nt_apps, NULL,
};
const struct nodetype nt_root = {
	.mode = DIR_MODE, .children = root_children, .mtime = mtime_started,
};

int tree_more_add(const struct nodetype *dir, const struct nodetype *row,
		  struct deis_error *err)
{
	struct tree_more *m = dir->more;

	if (!m || !row->name)
		return deis_error_set(err, EINVAL, "rows can be added only to a directory "
				      "that takes them, and only with a name");
	for (const struct nodetype *const *c = dir->children; c && *c; c++)
		if (!strcmp((*c)->name, row->name))
			return deis_error_set(err, EEXIST, "'%s' is a row already", row->name);
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->rows[i]->name, row->name))
			return deis_error_set(err, EEXIST, "'%s' was added already", row->name);
	if (m->n == TREE_MORE_MAX)
		return deis_error_set(err, ENOSPC, "at most %d rows can be added",
				      TREE_MORE_MAX);
	m->rows[m->n++] = row;
	return 0;
}

/* ---- scratch files ---- */

static int show_scratch(const struct node *n, struct deis_buf *out)
{
	deis_buf_add(out, n->scratch->data.data, n->scratch->data.len);
	return 0;
}

static int64_t mtime_scratch(const struct node *n)
{
	return n->scratch->mtime;
}

const struct nodetype nt_scratch = {
	.mode = S_IFREG, .show = show_scratch, .mtime = mtime_scratch,
};

/* The scratch namespace of dir: "config:<app>", "keys:<user>". */
static void scratch_dir(const struct node *dir, char *out, size_t len)
{
	snprintf(out, len, "%s:%s", dir->t->scratch_ns, dir->app ? dir->app->name : dir->owner);
}

/* A new scratch file in dir, counted against the caller; NULL with
 * r->err filled when they may hold no more.  State write lock held. */
static struct scratch *scratch_new(struct req *r, const struct node *dir, const char *name,
				   mode_t mode)
{
	char sdir[160];

	scratch_dir(dir, sdir, sizeof(sdir));
	return scratch_create(sdir, dir->app ? dir->app->name : dir->owner, !dir->app, name,
			      mode, r->who.uid, r->who.gid, &r->err);
}

int tree_create(struct req *r, const struct node *dir, const char *name, mode_t mode,
		int flags)
{
	if (!dir->t->scratch_ns)
		return deis_error_set(&r->err, EACCES, "files cannot be created here");
	if (tree_access(r, dir, true) < 0)
		return -EACCES;
	if (strlen(name) > 255)
		return -ENAMETOOLONG;
	/* In config/, keys/ and certs/ a new name is a new entry; one that
	 * cannot be (an invalid key) is refused, unless it is an editor's or
	 * tool's temporary file. */
	bool pending = dir->t->creatable && dir->t->creatable(dir, name, flags);
	if (dir->t->creatable && !pending && !tree_editor_name(name, flags))
		return deis_error_set(&r->err, EINVAL, "'%s' is not a valid name here", name);
	struct scratch *s = scratch_new(r, dir, name, mode & 07777);
	if (!s)
		return -r->err.code;
	s->pending = pending;
	return 0;
}

/* Drops pending scratch file name of namespace sdir; fills its owner. */
static bool drop_pending(const char *sdir, const char *name, char *owner, size_t len,
			 bool *of_user)
{
	bool dropped = false;

	pthread_rwlock_wrlock(&state.lock);
	struct scratch *s = scratch_find(sdir, name);
	if (s && s->pending) {
		snprintf(owner, len, "%s", s->owner);
		*of_user = s->of_user;
		scratch_remove(s);
		dropped = true;
	}
	pthread_rwlock_unlock(&state.lock);
	return dropped;
}

bool tree_drop_pending(const char *sdir, const char *name)
{
	char owner[256];
	bool of_user = false;

	if (!drop_pending(sdir, name, owner, sizeof(owner), &of_user))
		return false;
	inval_queue(of_user ? "user" : "app", owner);
	return true;
}

void tree_pending_stored(const struct nodetype *dir, const char *owner, const char *name)
{
	char sdir[160], was[256];
	bool of_user;

	snprintf(sdir, sizeof(sdir), "%s:%s", dir->scratch_ns, owner);
	drop_pending(sdir, name, was, sizeof(was), &of_user);
}

/* ---- lookups ---- */

/* The row called name among dir's static and added rows, or NULL. */
static const struct nodetype *row_named(const struct nodetype *dir, const char *name)
{
	for (const struct nodetype *const *c = dir->children; c && *c; c++)
		if (!strcmp((*c)->name, name))
			return *c;
	for (size_t i = 0; dir->more && i < dir->more->n; i++)
		if (!strcmp(dir->more->rows[i]->name, name))
			return dir->more->rows[i];
	return NULL;
}

int tree_lookup(const struct node *dir, const char *name, struct node *child)
{
	const struct nodetype *t = dir->t;
	char sdir[160];

	if (!S_ISDIR(t->mode))
		return -ENOTDIR;
	if (strlen(name) >= sizeof(child->name))
		return -ENAMETOOLONG;
	*child = *dir;
	child->scratch = NULL;
	snprintf(child->name, sizeof(child->name), "%s", name);
	if ((child->t = row_named(t, name)))
		return 0;
	child->t = t->entry;
	if (t->lookup && t->lookup(dir, name, child) == 0)
		return 0;
	if (t->scratch_ns) {
		scratch_dir(dir, sdir, sizeof(sdir));
		struct scratch *s = scratch_find(sdir, name);
		if (s) {
			child->scratch = s;
			/* A pending entry is the real type, not yet stored. */
			child->t = s->pending ? t->entry : &nt_scratch;
			return 0;
		}
	}
	return -ENOENT;
}

int tree_resolve(const struct req *r, char names[][256], int depth, struct node *n)
{
	memset(n, 0, sizeof(*n));
	n->t = &nt_root;
	n->viewer = &r->who;
	for (int i = 0; i < depth; i++) {
		struct node child;
		int rc = tree_lookup(n, names[i], &child);
		if (rc < 0)
			return rc;
		*n = child;
		if (n->t->gate && tree_access(r, n, false) < 0)
			return -EACCES;
	}
	return 0;
}

struct tree_lister {
	void (*add)(void *ctx, const char *name, const struct node *n);
	void *ctx;
};

void tree_add(struct tree_lister *l, struct node *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->name, sizeof(e->name), fmt, ap);
	va_end(ap);
	l->add(l->ctx, e->name, e);
}

void tree_list(const struct node *dir, struct req *r,
	       void (*add)(void *ctx, const char *name, const struct node *n), void *ctx)
{
	const struct nodetype *t = dir->t;
	struct tree_lister l = { add, ctx };
	struct node c = *dir;
	char sdir[160];

	for (const struct nodetype *const *ch = t->children; ch && *ch; ch++) {
		c.t = *ch;
		add(ctx, c.t->name, &c);
	}
	for (size_t i = 0; t->more && i < t->more->n; i++) {
		c.t = t->more->rows[i];
		add(ctx, c.t->name, &c);
	}
	if (t->list) {
		c.t = t->entry;
		t->list(dir, r, &c, &l);
	}
	if (t->scratch_ns) {
		scratch_dir(dir, sdir, sizeof(sdir));
		c.t = &nt_scratch;
		for (size_t i = 0; i < state.nscratch; i++)
			if (!strcmp(state.scratch[i]->dir, sdir))
				add(ctx, state.scratch[i]->name, &c);
	}
}

/* ---- access, stat, content ---- */

int tree_access(const struct req *r, const struct node *n, bool want_write)
{
	if (n->app && !app_user(r, n->app))
		return -EACCES;
	/* What a user uses is theirs and the admins' to read. */
	if (n->t->self_only && !user_self(r, n->owner))
		return -EACCES;
	if (!want_write)
		return 0;
	if (n->t == &nt_scratch)
		return 0;
	if (S_ISREG(n->t->mode) && !n->t->store)
		return -EACCES;
	/* Refused at open, not only at commit: a commit can come at the
	 * last close, where no one sees its error (`: > perms`). */
	if (n->t->owner_only && n->app && !app_owner(r, n->app))
		return -EACCES;
	if (n->user || n->owner[0]) {
		if (!user_self(r, n->owner))
			return -EACCES;
	}
	if (!r->who.name[0])
		return -EACCES;
	return 0;
}

void tree_stat(const struct node *n, ino_t ino, struct stat *st)
{
	struct deis_buf b = DEIS_BUF_INIT;
	int64_t mt = n->scratch ? n->scratch->mtime : n->t->mtime ? n->t->mtime(n) :
		     state.started;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = n->t->mode;
	if (n->scratch && n->t == &nt_scratch)
		st->st_mode = S_IFREG | (n->scratch->mode & 07777);
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	st->st_uid = 0;
	st->st_gid = 0;
	if (n->app)
		local_user(n->app->owner, &st->st_uid, &st->st_gid); else if (n->user && n->user->uid >= 0) {
		st->st_uid = (uid_t)n->user->uid;
	}
	if (n->scratch) {
		st->st_uid = n->scratch->uid;
		st->st_gid = n->scratch->gid;
	}
	if (n->t->logsrc) {
		char src[64];
		long long end;
		int64_t last;
		n->t->logsrc(n, src, sizeof(src));
		log_bounds(n->app->name, src[0] ? src : NULL, &end, &last);
		/* every byte ever written: the size only grows (tail -f reads
		 * a shrinking size as truncation) */
		st->st_size = (off_t)end;
		mt = last ? last : n->app->created;
	} else if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode)) {
		tree_show(n, &b);
		st->st_size = (off_t)b.len;
		deis_buf_release(&b);
	} else {
		st->st_size = 4096;
	}
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim.tv_sec = (time_t)(mt / 1000000);
	st->st_mtim.tv_nsec = (long)(mt % 1000000) * 1000;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

int tree_show(const struct node *n, struct deis_buf *out)
{
	if (!n->t->show)
		return -EISDIR;
	/* A scratch file, or an entry created and not stored yet (a pending
	 * config var, key or cert), shows what was written to it. */
	if (n->scratch) {
		deis_buf_add(out, n->scratch->data.data, n->scratch->data.len);
		return 0;
	}
	return n->t->show(n, out);
}

int tree_store(struct req *r, const struct node *n, const char *data, size_t len)
{
	if (!n->t->store)
		return deis_error_set(&r->err, EACCES, "'%s' is read-only", n->name);
	if (len > n->t->max)
		return deis_error_set(&r->err, EFBIG, "'%s' takes at most %zu bytes",
				      n->name, n->t->max);
	int rc;
	/* Everything a file stores is text in PostgreSQL, which takes UTF-8
	 * only: refused here, so that a value is stored byte for byte or
	 * refused at write, never dropped on the way.  (What an earlier
	 * check of the same descriptor saw is not scanned again.) */
	size_t from = r->partial && r->checked <= len ? r->checked : 0, bad;
	if (memchr(data + from, '\0', len - from))
		rc = deis_error_set(&r->err, EINVAL, "'%s': NUL bytes are not allowed",
				    n->name);
	else if (!deis_valid_utf8(data + from, len - from, &bad))
		rc = deis_error_set(&r->err, EINVAL, "'%s': not UTF-8 text (byte %zu); "
				    "encode binary data, for example in base64",
				    n->name, from + bad);
	else
		rc = n->t->store(r, n, data, len);
	/* The app's users read why in the app's log, as a platform line. */
	if (rc < 0 && n->app && rc != -EACCES)
		platform_line(n->app->name, "%s: refused: %s", r->who.name, r->err.msg);
	return rc;
}

/*
 * rename(2) inside the tree:
 *  - a scratch file onto a defined file commits its content there, whole
 *    (sed -i, vim, cp --atomic); the scratch file is gone after;
 *  - a scratch file onto another scratch name moves it;
 *  - an entry onto another name of its directory renames it (config/A
 *    onto config/B renames the var, in one release);
 *  - a defined file onto a scratch name copies its content there and leaves
 *    the file as it is (an editor's backup copy);
 *  - across directories: EXDEV, so mv falls back to copy and unlink;
 *  - anything else: EPERM.
 */
/* Scratch (or pending) content onto a defined file or var: a commit of
 * that content, with the renamer's rights on the file, as a write to it;
 * the scratch file is gone after.  State write lock held (let go while
 * the store commits). */
static int rename_commit(struct req *r, const struct node *from, const struct node *to)
{
	struct deis_buf data = DEIS_BUF_INIT;
	char fdir[160], fname[256];
	struct node dst = *to;

	if (tree_access(r, to, true) < 0)
		return deis_error_set(&r->err, EACCES, "%s may not write '%s'",
				      r->who.name[0] ? r->who.name : "this user", to->name);
	deis_buf_add(&data, from->scratch->data.data, from->scratch->data.len);
	snprintf(fdir, sizeof(fdir), "%s", from->scratch->dir);
	snprintf(fname, sizeof(fname), "%s", from->scratch->name);
	pthread_rwlock_unlock(&state.lock);
	int rc = tree_store(r, &dst, deis_buf_str(&data), data.len);
	pthread_rwlock_wrlock(&state.lock);
	if (rc == 0) {
		struct scratch *s = scratch_find(fdir, fname);
		if (s)
			scratch_remove(s);
	}
	deis_buf_release(&data);
	return rc;
}

/* A defined file onto a scratch name (to, or a new one): an editor's
 * backup copy of its content; the file stays as it is. */
static int rename_copy(struct req *r, const struct node *from, const struct node *todir,
		       const char *toname, const struct node *to)
{
	struct deis_buf data = DEIS_BUF_INIT;

	tree_show(from, &data);
	struct scratch *s = to ? to->scratch : scratch_new(r, todir, toname, 0644);
	int rc = s ? 0 : -r->err.code;
	if (rc == 0) {
		deis_buf_reset(&s->data);
		rc = mem_buf_reserve(&s->data, s->creator, MEM_SCRATCH, data.len, &r->err);
	}
	if (rc == 0) {
		deis_buf_add(&s->data, deis_buf_str(&data), data.len);
		s->mtime = now_us();
	}
	deis_buf_release(&data);
	return rc;
}

int tree_rename(struct req *r, const struct node *from, const struct node *todir,
		const char *toname, const struct node *to, bool to_exists)
{
	char sdir[160];

	if (S_ISDIR(from->t->mode))
		return deis_error_set(&r->err, EPERM, "directories cannot be renamed");
	if (!todir->t->scratch_ns)
		return deis_error_set(&r->err, EXDEV, "cannot rename into this directory");
	scratch_dir(todir, sdir, sizeof(sdir));
	if (from->scratch && strcmp(from->scratch->dir, sdir))
		return deis_error_set(&r->err, EXDEV, "cross-directory rename");

	/* A pending entry (created, not yet stored) counts as defined. */
	bool to_defined = to_exists && to->t != &nt_scratch;
	struct node target;

	if (from->scratch && !to_defined && todir->t->creatable &&
	    todir->t->creatable(todir, toname, 0)) {
		/* e.g. `mv config/.tmp config/FOO` where FOO is new */
		target = *todir;
		snprintf(target.name, sizeof(target.name), "%s", toname);
		target.scratch = NULL;
		target.cert = NULL;
		target.key = NULL;
		target.t = todir->t->entry;
		to = &target;
		to_defined = true;
	}
	if (from->scratch && to_defined)
		return rename_commit(r, from, to);
	/* Scratch onto another scratch name: move it. */
	if (from->scratch) {
		if (to_exists && to->scratch && to->scratch != from->scratch)
			scratch_remove(to->scratch);
		free(from->scratch->name);
		from->scratch->name = strdup(toname);
		from->scratch->pending = false;
		return 0;
	}
	if (from->app != todir->app)
		return deis_error_set(&r->err, EXDEV, "cross-app rename");
	/* An entry onto another name of its directory: config/A -> config/B */
	if (from->t->rename && from->t == todir->t->entry && todir->t->creatable &&
	    todir->t->creatable(todir, toname, 0) && (!to_exists || to->t == from->t)) {
		struct node n = *from;
		pthread_rwlock_unlock(&state.lock);
		int rc = n.t->rename(r, &n, toname);
		pthread_rwlock_wrlock(&state.lock);
		return rc;
	}
	if ((!to_exists || to->t == &nt_scratch) && from->t->show)
		return rename_copy(r, from, todir, toname, to_exists ? to : NULL);
	if (S_ISREG(from->t->mode))
		return deis_error_set(&r->err, EXDEV, "'%s' cannot be renamed here; "
				      "copy it instead", from->name);
	return deis_error_set(&r->err, EPERM, "'%s' cannot be renamed", from->name);
}

/* ---- invalidation ---- */

static void event_walk(const struct nodetype *dir, const char *kind, const char *name,
		       const char **names, int depth,
		       void (*fn)(void *ctx, const char *const *names, int depth), void *ctx)
{
	for (const struct nodetype *const *c = dir->children; c && *c; c++) {
		const struct nodetype *t = *c;
		names[depth] = t->name;
		if (t->event && !strcmp(t->event, kind)) {
			if (S_ISDIR(t->mode)) {
				names[depth + 1] = name;
				fn(ctx, names, depth + 2);
			} else {
				fn(ctx, names, depth + 1);
			}
		}
		if (S_ISDIR(t->mode) && depth + 2 < TREE_DEPTH_MAX)
			event_walk(t, kind, name, names, depth + 1, fn, ctx);
	}
}

void tree_event_paths(const char *kind, const char *name,
		      void (*fn)(void *ctx, const char *const *names, int depth),
		      void *ctx)
{
	const char *names[TREE_DEPTH_MAX];

	event_walk(&nt_root, kind, name, names, 0, fn, ctx);
}

void req_log_error(const struct req *r, const char *op, const char *path)
{
	deis_log(LOG_WARNING, "%s %s by %s (uid %u): %s", op, path,
		 r->who.name[0] ? r->who.name : "?", (unsigned)r->who.uid,
		 r->err.msg[0] ? r->err.msg : strerror(r->err.code));
}
