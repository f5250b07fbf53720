/*
 * ops.c - the FUSE low-level operations: one reply per request.  The
 * inode table is in inode.c, open files in handle.c, the invalidation
 * thread in inval.c.
 *
 * The caller is checked at every operation (the kernel's caches are shared by
 * all users of the mount), and app directories are never cached by the
 * kernel, so each path walk through one comes back here to be checked.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "deis/log.h"
#include "deis/validate.h"
#include "handle.h"
#include "inode.h"
#include "store.h"

/* ---- requests ---- */

static void req_init(fuse_req_t freq, struct req *r)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(freq);

	memset(r, 0, sizeof(*r));
	caller_lookup(ctx->uid, ctx->gid, &r->who);
	r->who.pid = ctx->pid;
	deis_error_clear(&r->err);
}

/* The state lock (the write lock when the operation may change scratch
 * files), and ino resolved into n, for a request whose caller is known.
 * The caller lets the lock go. */
static int req_lock(struct req *r, fuse_ino_t ino, struct node *n, bool write_lock)
{
	if (write_lock)
		pthread_rwlock_wrlock(&state.lock);
	else
		pthread_rwlock_rdlock(&state.lock);
	return resolve(r, ino, n);
}

/* The start of most operations: the caller, then req_lock. */
static int req_start(fuse_req_t freq, struct req *r, fuse_ino_t ino, struct node *n,
		     bool write_lock)
{
	req_init(freq, r);
	return req_lock(r, ino, n, write_lock);
}

/*
 * Every change is accepted only while the store can commit it (PostgreSQL
 * answers): refused here, at open(2), mkdir(2), rename(2) ..., the error
 * reaches the caller where a shell shows it ("bash: config/K: Input/output
 * error") rather than at close(2), whose error shells ignore.  EIO, as
 * for every other failure to reach the database.  Called without the
 * state lock (it may talk to the server), on a request whose caller is
 * known.  A server lost between a good open and the close still fails
 * only the close.
 */
static int store_ready(struct req *r)
{
	return fs_store->check ? fs_store->check(false, &r->err) : 0;
}

/* Replies with an error and logs the reason in words. */
static void reply_err(fuse_req_t freq, struct req *r, int rc, const char *op,
		      fuse_ino_t ino, const char *leaf)
{
	char path[1024];

	if (rc >= 0)
		rc = -EIO;
	if (r->err.code == 0)
		deis_error_set(&r->err, -rc, "%s", strerror(-rc));
	if (rc != -ENOENT || strcmp(op, "lookup")) {
		path_string(ino, leaf, path, sizeof(path));
		req_log_error(r, op, path);
	}
	fuse_reply_err(freq, -rc);
}

static double entry_timeout_of(const struct node *n)
{
	return n->t->gate ? 0 : fs_conf.entry_timeout;
}

static double attr_timeout_of(const struct node *n)
{
	if (n->t->direct || n->scratch)
		return 0;
	return n->t->gate ? 0 : fs_conf.attr_timeout;
}

/* Fills e for child `name` of parent (state lock held) and counts the
 * lookup.  Returns 0, or -errno. */
static int make_entry(const struct req *r, fuse_ino_t parent, const struct node *dir,
		      const char *name, struct fuse_entry_param *e)
{
	struct node child;
	int rc = tree_lookup(dir, name, &child);

	memset(e, 0, sizeof(*e));
	if (rc < 0)
		return rc;
	if (child.t->gate && tree_access(r, &child, false) < 0)
		return -EACCES;
	e->ino = inode_lookup(parent, name);
	if (!e->ino)
		return -ENOENT;
	tree_stat(&child, e->ino, &e->attr);
	e->entry_timeout = entry_timeout_of(&child);
	e->attr_timeout = attr_timeout_of(&child);
	return 0;
}

static void op_lookup(fuse_req_t freq, fuse_ino_t parent, const char *name)
{
	struct req r;
	struct node dir;
	struct fuse_entry_param e;
	int rc = req_start(freq, &r, parent, &dir, false);

	if (rc == 0)
		rc = make_entry(&r, parent, &dir, name, &e);
	pthread_rwlock_unlock(&state.lock);
	/* A name that is not there is cached too, for negative_timeout. */
	if (rc == -ENOENT && fs_conf.negative_timeout > 0) {
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs_conf.negative_timeout;
		rc = 0;
	}
	if (rc < 0)
		reply_err(freq, &r, rc, "lookup", parent, name);
	else
		fuse_reply_entry(freq, &e);
}

static void op_forget(fuse_req_t freq, fuse_ino_t ino, uint64_t n)
{
	inode_forget(ino, n);
	fuse_reply_none(freq);
}

static void op_forget_multi(fuse_req_t freq, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++)
		inode_forget(f[i].ino, f[i].nlookup);
	fuse_reply_none(freq);
}

static void op_getattr(fuse_req_t freq, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct req r;
	struct node n;
	struct stat st;
	int rc = req_start(freq, &r, ino, &n, false);

	if (rc == 0)
		rc = tree_access(&r, &n, false);
	if (rc == 0)
		tree_stat(&n, ino, &st);
	pthread_rwlock_unlock(&state.lock);
	if (rc < 0)
		reply_err(freq, &r, rc, "stat", ino, NULL);
	else
		fuse_reply_attr(freq, &st, attr_timeout_of(&n));
}

static void op_readlink(fuse_req_t freq, fuse_ino_t ino)
{
	struct req r;
	struct node n;
	struct deis_buf b = DEIS_BUF_INIT;
	int rc = req_start(freq, &r, ino, &n, false);

	if (rc == 0)
		rc = S_ISLNK(n.t->mode) ? tree_show(&n, &b) : -EINVAL;
	pthread_rwlock_unlock(&state.lock);
	if (rc < 0)
		reply_err(freq, &r, rc, "readlink", ino, NULL);
	else
		fuse_reply_readlink(freq, deis_buf_str(&b));
	deis_buf_release(&b);
}

static void op_open(fuse_req_t freq, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct req r;
	struct node n;
	struct handle *h = NULL;
	int rc;

	/* Only truncating a scratch file changes state: take the write lock
	 * for opens that may, the read lock for the rest. */
	bool may_truncate = (fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY;
	req_init(freq, &r);
	if ((fi->flags & O_ACCMODE) != O_RDONLY && (rc = store_ready(&r)) < 0) {
		reply_err(freq, &r, rc, "open", ino, NULL);
		return;
	}
	rc = req_lock(&r, ino, &n, may_truncate);
	if (rc == 0)
		rc = handle_open(&r, ino, &n, fi, &h);
	pthread_rwlock_unlock(&state.lock);
	if (rc < 0) {
		reply_err(freq, &r, rc, "open", ino, NULL);
		return;
	}
	if (fuse_reply_open(freq, fi) == -ENOENT)
		handle_free(h);
}

static void op_read(fuse_req_t freq, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct deis_buf out = DEIS_BUF_INIT;
	struct req r;

	handle_req(freq, h, &r);
	int rc = handle_read(&r, h, size, off, &out);
	if (rc < 0)
		reply_err(freq, &r, rc, "read", ino, NULL);
	else
		fuse_reply_buf(freq, out.data, out.len);
	deis_buf_release(&out);
}

static void op_write(fuse_req_t freq, fuse_ino_t ino, const char *data, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct req r;

	handle_req(freq, h, &r);
	int rc = handle_write(&r, h, data, size, off);
	if (rc < 0)
		reply_err(freq, &r, rc, "write", ino, NULL);
	else
		fuse_reply_write(freq, size);
}

/*
 * close(2) of any descriptor of the handle.  A shell closes the descriptor
 * it opened right after dup2() onto stdout, before anything is written,
 * so only content that was written is committed here (and a failure is
 * returned to close); a file only truncated or created (`: > f`, `touch
 * config/NEW`) is committed at release, the last close.  Both act as the
 * descriptor's opener, whoever closes it.
 */
static void op_flush(fuse_req_t freq, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct req r;
	int rc = 0;

	handle_req(freq, h, &r);
	pthread_mutex_lock(&h->lock);
	if (h->dirty && h->written && !h->scratch) {
		rc = handle_commit(&r, h);
		if (rc < 0) {
			h->failed = true;
			h->fail_errno = -rc;
		}
		h->dirty = false;
		h->written = false;
	}
	if (h->failed)
		drop_pending(h);
	pthread_mutex_unlock(&h->lock);
	if (rc < 0)
		reply_err(freq, &r, rc, "close", ino, NULL);
	else
		fuse_reply_err(freq, 0);
}

/* The last close.  RELEASE comes from the kernel as root, and its error
 * reaches no one: it commits as the opener, and a refusal is logged. */
static void op_release(fuse_req_t freq, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);

	if (h->dirty && !h->scratch) {
		struct req r;
		char path[1024];
		handle_req(freq, h, &r);
		if (handle_commit(&r, h) < 0) {
			path_string(ino, NULL, path, sizeof(path));
			req_log_error(&r, "release", path);
		}
	}
	drop_pending(h);
	handle_free(h);
	fuse_reply_err(freq, 0);
}

static void op_fsync(fuse_req_t freq, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	/* Every commit is already durable in PostgreSQL. */
	fuse_reply_err(freq, 0);
}

/* A scratch file's attributes are its own: size, mode, owner. */
static int setattr_scratch(struct req *r, struct scratch *s, const struct stat *attr,
			   int to_set)
{
	int rc = 0;

	if (to_set & FUSE_SET_ATTR_SIZE) {
		struct deis_buf *b = &s->data;
		if ((size_t)attr->st_size <= b->len) {
			b->len = (size_t)attr->st_size;
			if (b->data)
				b->data[b->len] = '\0';
		} else {
			rc = buf_place(b, "", 0, attr->st_size, SCRATCH_MAX, s->creator,
				       MEM_SCRATCH, &r->err);
		}
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		s->mode = attr->st_mode & 07777;
	if (to_set & FUSE_SET_ATTR_UID)
		s->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		s->gid = attr->st_gid;
	s->mtime = now_us();
	return rc;
}

/* truncate(2) by path on a control file: store the content cut to that
 * size (only shrinking; a file cannot grow holes). */
static int truncate_path(struct req *r, fuse_ino_t ino, size_t size)
{
	struct deis_buf b = DEIS_BUF_INIT;
	struct node n;

	pthread_rwlock_rdlock(&state.lock);
	int rc = resolve(r, ino, &n);
	if (rc == 0) {
		tree_show(&n, &b);
		app_ref(n.app);
	}
	pthread_rwlock_unlock(&state.lock);
	if (rc == 0) {
		if (size > b.len)
			rc = deis_error_set(&r->err, EINVAL, "cannot extend '%s'", n.name);
		else
			rc = tree_store(r, &n, deis_buf_str(&b), size);
		app_unref(n.app);
	}
	deis_buf_release(&b);
	return rc;
}

static void op_setattr(fuse_req_t freq, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct req r;
	struct node n;
	struct stat st;
	int rc;

	/* ftruncate(fd) acts as the descriptor's opener, like its writes. */
	if ((to_set & FUSE_SET_ATTR_SIZE) && fi)
		handle_req(freq, handle_of(fi), &r);
	else
		req_init(freq, &r);
	if ((to_set & FUSE_SET_ATTR_SIZE) && (rc = store_ready(&r)) < 0) {
		reply_err(freq, &r, rc, "truncate", ino, NULL);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) && fi && !handle_of(fi)->scratch) {
		rc = handle_truncate(handle_of(fi), (size_t)attr->st_size);
		if (rc < 0) {
			reply_err(freq, &r, rc, "truncate", ino, NULL);
			return;
		}
		to_set &= ~FUSE_SET_ATTR_SIZE;
	}
	pthread_rwlock_wrlock(&state.lock);
	rc = resolve(&r, ino, &n);
	if (rc == 0 && (to_set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MODE)))
		rc = tree_access(&r, &n, true);
	if (rc == 0 && n.scratch && !n.scratch->pending) {
		rc = setattr_scratch(&r, n.scratch, attr, to_set);
		to_set = 0;
	}
	pthread_rwlock_unlock(&state.lock);
	if (rc == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		rc = truncate_path(&r, ino, (size_t)attr->st_size);
	/* Mode, owner and times of defined files are the platform's: such
	 * changes are accepted and ignored, as tools (sed -i, cp -p, touch)
	 * set them routinely. */
	if (rc == 0) {
		pthread_rwlock_rdlock(&state.lock);
		rc = resolve(&r, ino, &n);
		if (rc == 0)
			tree_stat(&n, ino, &st);
		pthread_rwlock_unlock(&state.lock);
	}
	if (rc < 0)
		reply_err(freq, &r, rc, "setattr", ino, NULL);
	else
		fuse_reply_attr(freq, &st, attr_timeout_of(&n));
}

static void op_create(fuse_req_t freq, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct req r;
	struct node dir, child;
	struct fuse_entry_param e;
	struct handle *h = NULL;
	int rc;

	req_init(freq, &r);
	rc = store_ready(&r);
	if (rc < 0) {
		reply_err(freq, &r, rc, "create", parent, name);
		return;
	}
	rc = req_lock(&r, parent, &dir, true);
	if (rc == 0)
		rc = tree_access(&r, &dir, false);
	if (rc == 0 && tree_lookup(&dir, name, &child) == 0) {
		/* Exists (or the kernel thought it did not, after an
		 * editor's rename): an ordinary open. */
		if (fi->flags & O_EXCL)
			rc = -EEXIST;
	} else if (rc == 0) {
		rc = tree_create(&r, &dir, name, mode, fi->flags);
	}
	if (rc == 0)
		rc = make_entry(&r, parent, &dir, name, &e);
	if (rc == 0) {
		rc = tree_lookup(&dir, name, &child);
		if (rc == 0)
			rc = handle_open(&r, e.ino, &child, fi, &h);
		if (rc < 0)
			inode_forget(e.ino, 1);
	}
	pthread_rwlock_unlock(&state.lock);
	if (rc < 0) {
		reply_err(freq, &r, rc, "create", parent, name);
		return;
	}
	if (fuse_reply_create(freq, &e, fi) == -ENOENT)
		handle_free(h);
}

static void op_mknod(fuse_req_t freq, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	fuse_reply_err(freq, EPERM);
}

/* ---- directories ---- */

static void op_mkdir(fuse_req_t freq, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct req r;
	struct node dir, child;
	struct fuse_entry_param e;
	int rc;

	req_init(freq, &r);
	rc = store_ready(&r);
	if (rc < 0) {
		reply_err(freq, &r, rc, "mkdir", parent, name);
		return;
	}
	rc = req_lock(&r, parent, &dir, false);
	if (rc == 0 && tree_lookup(&dir, name, &child) == 0)
		rc = -EEXIST;
	else if (rc == 0 && !dir.t->mkdir)
		rc = deis_error_set(&r.err, EPERM, "directories cannot be made here");
	pthread_rwlock_unlock(&state.lock);
	if (rc == 0)
		rc = dir.t->mkdir(&r, &dir, name);
	if (rc == 0) {
		pthread_rwlock_rdlock(&state.lock);
		rc = resolve(&r, parent, &dir);
		if (rc == 0)
			rc = make_entry(&r, parent, &dir, name, &e);
		pthread_rwlock_unlock(&state.lock);
	}
	if (rc < 0)
		reply_err(freq, &r, rc, "mkdir", parent, name);
	else
		fuse_reply_entry(freq, &e);
}

/* unlink and rmdir: resolve the child, then its remove function runs
 * without the state lock. */
static void remove_entry(fuse_req_t freq, fuse_ino_t parent, const char *name, bool dir_op)
{
	struct req r;
	struct node dir, child;
	int rc;

	req_init(freq, &r);
	rc = store_ready(&r);
	if (rc < 0) {
		reply_err(freq, &r, rc, dir_op ? "rmdir" : "unlink", parent, name);
		return;
	}
	rc = req_lock(&r, parent, &dir, true);
	if (rc == 0)
		rc = tree_lookup(&dir, name, &child);
	if (rc == 0 && tree_access(&r, &child, false) < 0)
		rc = -EACCES;
	if (rc == 0 && dir_op != S_ISDIR(child.t->mode))
		rc = dir_op ? -ENOTDIR : -EISDIR;
	if (rc == 0 && child.scratch && (child.t == &nt_scratch || child.scratch->pending)) {
		rc = tree_access(&r, &dir, true);
		if (rc == 0)
			scratch_remove(child.scratch);
		pthread_rwlock_unlock(&state.lock);
		goto out;
	}
	int (*fn)(struct req *, const struct node *) = NULL;
	if (rc == 0) {
		fn = dir_op ? child.t->rmdir : child.t->unlink;
		if (!fn)
			rc = deis_error_set(&r.err, EPERM, "'%s' cannot be removed", name);
		else if (tree_access(&r, &dir, true) < 0)
			rc = -EACCES;	/* the remove function checks the rest */
	}
	if (rc == 0)
		app_ref(child.app);
	pthread_rwlock_unlock(&state.lock);
	if (rc == 0) {
		rc = fn(&r, &child);
		app_unref(child.app);
	}
out:
	if (rc < 0)
		reply_err(freq, &r, rc, dir_op ? "rmdir" : "unlink", parent, name);
	else
		fuse_reply_err(freq, 0);
}

static void op_unlink(fuse_req_t freq, fuse_ino_t parent, const char *name)
{
	remove_entry(freq, parent, name, false);
}

static void op_rmdir(fuse_req_t freq, fuse_ino_t parent, const char *name)
{
	remove_entry(freq, parent, name, true);
}

static void op_rename(fuse_req_t freq, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct req r;
	struct node dir, todir, from, to;
	bool to_exists = false;
	int rc;

	if (flags & RENAME_EXCHANGE) {
		fuse_reply_err(freq, EINVAL);
		return;
	}
	req_init(freq, &r);
	rc = store_ready(&r);
	if (rc < 0) {
		reply_err(freq, &r, rc, "rename", parent, name);
		return;
	}
	pthread_rwlock_wrlock(&state.lock);
	rc = resolve(&r, parent, &dir);
	if (rc == 0)
		rc = resolve(&r, newparent, &todir);
	if (rc == 0)
		rc = tree_lookup(&dir, name, &from);
	if (rc == 0 && (tree_access(&r, &dir, true) < 0 || tree_access(&r, &todir, true) < 0))
		rc = -EACCES;
	if (rc == 0) {
		to_exists = tree_lookup(&todir, newname, &to) == 0;
		if (to_exists && (flags & RENAME_NOREPLACE))
			rc = -EEXIST;
	}
	if (rc == 0) {
		const struct deis_app *ref = from.app;
		app_ref(ref);
		rc = tree_rename(&r, &from, &todir, newname, to_exists ? &to : NULL, to_exists);
		app_unref(ref);
	}
	pthread_rwlock_unlock(&state.lock);
	if (rc < 0) {
		reply_err(freq, &r, rc, "rename", parent, name);
		return;
	}
	inode_move(parent, name, newparent, newname);
	fuse_reply_err(freq, 0);
}

struct dirent_snap {
	char *name;
	mode_t mode;
};

struct dirhandle {
	struct dirent_snap *items;
	size_t n, cap;
};

static void dir_add(void *ctx, const char *name, const struct node *n)
{
	struct dirhandle *d = ctx;

	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 32;
		d->items = realloc(d->items, d->cap * sizeof(*d->items));
		if (!d->items)
			abort();
	}
	d->items[d->n].name = strdup(name);
	d->items[d->n].mode = n->t->mode;
	d->n++;
}

static void dirhandle_free(struct dirhandle *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->items[i].name);
	free(d->items);
	free(d);
}

static void op_opendir(fuse_req_t freq, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct req r;
	struct node n;
	int rc;

	struct dirhandle *d = calloc(1, sizeof(*d));
	if (!d)
		abort();
	rc = req_start(freq, &r, ino, &n, false);
	if (rc == 0)
		rc = tree_access(&r, &n, false);
	if (rc == 0 && !S_ISDIR(n.t->mode))
		rc = -ENOTDIR;
	if (rc == 0) {
		dir_add(d, ".", &n);
		dir_add(d, "..", &n);
		tree_list(&n, &r, dir_add, d);
	}
	pthread_rwlock_unlock(&state.lock);
	if (rc < 0) {
		dirhandle_free(d);
		reply_err(freq, &r, rc, "opendir", ino, NULL);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->cache_readdir = 0;
	fuse_reply_open(freq, fi);
}

static void do_readdir(fuse_req_t freq, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct dirhandle *d = (struct dirhandle *)(uintptr_t)fi->fh;
	char *buf = malloc(size);
	size_t used = 0;
	struct req r;
	struct node dir;
	bool have_dir = false;

	if (!buf)
		abort();
	req_init(freq, &r);
	if (plus) {
		pthread_rwlock_rdlock(&state.lock);
		have_dir = resolve(&r, ino, &dir) == 0;
	}
	for (size_t i = (size_t)off; i < d->n; i++) {
		const char *name = d->items[i].name;
		size_t len;
		if (plus) {
			struct fuse_entry_param e;
			memset(&e, 0, sizeof(e));
			bool dots = !strcmp(name, ".") || !strcmp(name, "..");
			bool counted = false;
			if (dots || !have_dir) {
				e.attr.st_ino = dots ? ino : 0xffffffff;
				e.attr.st_mode = d->items[i].mode;
			} else if (make_entry(&r, ino, &dir, name, &e) == 0) {
				counted = true;
			} else {
				continue;	/* gone since opendir, or hidden */
			}
			len = fuse_add_direntry_plus(freq, buf + used, size - used, name,
						     &e, (off_t)i + 1);
			if (len > size - used) {
				if (counted)
					inode_forget(e.ino, 1);
				break;
			}
		} else {
			struct stat st;
			memset(&st, 0, sizeof(st));
			/* d_ino must not be 0: glibc skips such entries */
			st.st_ino = 2 + i;
			st.st_mode = d->items[i].mode;
			len = fuse_add_direntry(freq, buf + used, size - used, name, &st,
						(off_t)i + 1);
			if (len > size - used)
				break;
		}
		used += len;
	}
	if (plus)
		pthread_rwlock_unlock(&state.lock);
	fuse_reply_buf(freq, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t freq, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(freq, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t freq, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(freq, ino, size, off, fi, true);
}

static void op_releasedir(fuse_req_t freq, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dirhandle_free((struct dirhandle *)(uintptr_t)fi->fh);
	fuse_reply_err(freq, 0);
}

static void op_access(fuse_req_t freq, fuse_ino_t ino, int mask)
{
	struct req r;
	struct node n;
	int rc = req_start(freq, &r, ino, &n, false);

	if (rc == 0)
		rc = tree_access(&r, &n, mask & W_OK);
	if (rc == 0 && (mask & W_OK) && S_ISREG(n.t->mode) && !n.scratch && !n.t->store)
		rc = -EACCES;
	if (rc == 0 && (mask & X_OK) && !S_ISDIR(n.t->mode))
		rc = -EACCES;
	pthread_rwlock_unlock(&state.lock);
	fuse_reply_err(freq, -rc);
}

static void op_statfs(fuse_req_t freq, fuse_ino_t ino)
{
	struct statvfs st;

	memset(&st, 0, sizeof(st));
	st.f_bsize = 4096;
	st.f_frsize = 4096;
	st.f_blocks = 1 << 20;
	st.f_bfree = 1 << 19;
	st.f_bavail = 1 << 19;
	st.f_files = 1 << 20;
	st.f_ffree = 1 << 19;
	st.f_namemax = 255;
	fuse_reply_statfs(freq, &st);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* A commit can take a transaction: keep writes whole. */
	conn->max_write = 1024 * 1024;
}

const struct fuse_lowlevel_ops deisfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.access = op_access,
	.create = op_create,
};
