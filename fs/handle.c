/*
 * handle.c - open files: the content a descriptor holds, the check of
 * what is written at write(), and the commit at close.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/log.h"
#include "handle.h"
#include "inode.h"
#include "store.h"

/* A request made through a descriptor: acts as its opener (looked up
 * again, so a change to their groups counts within seconds). */
void handle_req(fuse_req_t freq, const struct handle *h, struct req *r)
{
	memset(r, 0, sizeof(*r));
	caller_lookup(h->uid, h->gid, &r->who);
	r->who.pid = fuse_req_ctx(freq)->pid;
	deis_error_clear(&r->err);
}

void handle_free(struct handle *h)
{
	mem_charge(h->uid, MEM_BUFFER, -(long long)mem_buf_size(&h->buf), NULL);
	pthread_mutex_destroy(&h->lock);
	deis_buf_release(&h->buf);
	free(h);
}

struct handle *handle_of(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/* ---- open files ---- */


/* The opener's rights on the app of a descriptor (state lock held): the
 * app must be the one it was opened in, and still theirs to use. */
int handle_app_access(struct req *r, const struct handle *h)
{
	if (!h->app_id)
		return 0;
	const struct deis_app *a = state_app(h->app);
	if (!a || a->id != h->app_id)
		return deis_error_set(&r->err, EACCES, "app '%s' was destroyed after this "
				      "file was opened", h->app);
	struct node n;
	memset(&n, 0, sizeof(n));
	n.t = &nt_root;
	n.app = a;
	if (tree_access(r, &n, false) < 0)
		return deis_error_set(&r->err, EACCES, "%s may no longer use app '%s'",
				      r->who.name[0] ? r->who.name : "this user", h->app);
	return 0;
}

/* Resolves a descriptor's node (state lock held) and checks that its
 * opener may still use it (and write it, for want_write). */
int handle_node(struct req *r, const struct handle *h, struct node *n,
		bool want_write)
{
	int rc = handle_app_access(r, h);

	if (rc == 0)
		rc = resolve(r, h->ino, n);
	if (rc == 0 && tree_access(r, n, want_write) < 0)
		rc = deis_error_set(&r->err, EACCES, "%s may no longer %s '%s'",
				    r->who.name[0] ? r->who.name : "this user",
				    want_write ? "change" : "read", h->name);
	return rc;
}

/* Commits buffer content through the node's store, as the opener, without
 * the state lock (stores talk to PostgreSQL and reload the app). */
int handle_commit(struct req *r, struct handle *h)
{
	struct node n;
	int rc;

	pthread_rwlock_rdlock(&state.lock);
	rc = handle_node(r, h, &n, true);
	if (rc == 0)
		app_ref(n.app);
	pthread_rwlock_unlock(&state.lock);
	if (rc < 0)
		return rc;
	rc = tree_store(r, &n, deis_buf_str(&h->buf), h->buf.len);
	app_unref(n.app);
	return rc;
}

/* Checks the complete lines buf[0..end) without committing (control
 * files, at write), resuming where the last check of h stopped. */
int handle_check(struct req *r, struct handle *h, size_t end)
{
	struct node n;
	int rc;

	pthread_rwlock_rdlock(&state.lock);
	rc = handle_node(r, h, &n, true);
	if (rc == 0) {
		r->dry_run = true;
		r->partial = true;
		r->checked = h->checked;
		r->checked_lines = h->checked_lines;
		rc = tree_store(r, &n, deis_buf_str(&h->buf), end);
		if (rc >= 0) {
			h->checked = r->checked;
			h->checked_lines = r->checked_lines;
			h->checked_end = end;
		}
		r->dry_run = false;
		r->partial = false;
	}
	pthread_rwlock_unlock(&state.lock);
	return rc < 0 ? rc : 0;
}

/* Sets up a handle for node n (state lock held, write lock when the open
 * may truncate a scratch file). */
/* A handle of node n for its opener (who the request is). */
static struct handle *handle_new(const struct req *r, fuse_ino_t ino, const struct node *n,
				 const struct fuse_file_info *fi)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h)
		abort();
	pthread_mutex_init(&h->lock, NULL);
	h->ino = ino;
	h->uid = r->who.uid;
	h->gid = r->who.gid;
	if (n->app) {
		h->app_id = n->app->id;
		snprintf(h->app, sizeof(h->app), "%s", n->app->name);
	}
	h->writable = (fi->flags & O_ACCMODE) != O_RDONLY;
	h->append = fi->flags & O_APPEND;
	h->commit = n->t->commit;
	snprintf(h->name, sizeof(h->name), "%s", n->name);
	if (n->scratch) {
		snprintf(h->dir, sizeof(h->dir), "%s", n->scratch->dir);
		h->pending = n->scratch->pending;
	}
	return h;
}

int handle_open(struct req *r, fuse_ino_t ino, const struct node *n,
		struct fuse_file_info *fi, struct handle **out)
{
	bool want_write = (fi->flags & O_ACCMODE) != O_RDONLY;
	int rc;

	if (S_ISDIR(n->t->mode))
		return -EISDIR;
	rc = tree_access(r, n, want_write);
	if (rc < 0)
		return rc;
	if (want_write && !n->scratch && !n->t->store)
		return -EACCES;
	struct handle *h = handle_new(r, ino, n, fi);
	if (n->t->logsrc) {
		h->log = true;
		h->delta = -1;
		n->t->logsrc(n, h->src, sizeof(h->src));
	} else if (n->scratch && !n->scratch->pending) {
		h->scratch = true;
		if (want_write && (fi->flags & O_TRUNC)) {
			deis_buf_reset(&n->scratch->data);
			n->scratch->mtime = now_us();
		}
	} else if (want_write && (fi->flags & O_TRUNC)) {
		/* Never commit at O_TRUNC: the content comes with the writes,
		 * and an empty file is committed only at close. */
		h->dirty = true;
	} else {
		/* The content as it is now, held by this descriptor (and
		 * counted against its opener) until the last close. */
		tree_show(n, &h->buf);
		rc = mem_charge(h->uid, MEM_BUFFER, (long long)mem_buf_size(&h->buf), &r->err);
		if (rc < 0) {
			pthread_mutex_destroy(&h->lock);
			deis_buf_release(&h->buf);
			free(h);
			return rc;
		}
		if (h->pending)
			h->dirty = true;	/* `touch config/NEW` sets NEW="" */
	}
	fi->direct_io = n->t->direct;
	fi->keep_cache = 0;
	fi->fh = (uint64_t)(uintptr_t)h;
	*out = h;
	return 0;
}

/* Places data at off in b, growing it (charged to uid as kind); refuses
 * to pass max. */
int buf_place(struct deis_buf *b, const char *data, size_t size, off_t off,
	      size_t max, uid_t uid, enum mem_kind kind, struct deis_error *err)
{
	size_t end = (size_t)off + size;

	if (off < 0 || end > max)
		return deis_error_set(err, EFBIG, "at most %zu bytes", max);
	if (end > b->len) {
		int rc = mem_buf_reserve(b, uid, kind, end, err);
		if (rc < 0)
			return rc;
		size_t old = b->len;
		deis_buf_grow(b, end - b->len);
		memset(b->data + old, 0, end - old);
		b->len = end;
		b->data[end] = '\0';
	}
	if (size)
		memcpy(b->data + off, data, size);
	return 0;
}

/* Bytes [off, off + size) of data[0..len), into out. */
static void copy_range(struct deis_buf *out, const char *data, size_t len, size_t size,
		       off_t off)
{
	if (off >= 0 && (size_t)off < len)
		deis_buf_add(out, data + off, len - (size_t)off < size ? len - (size_t)off : size);
}

/* A log's bytes from off: the stream's own offsets, shifted once up to
 * the oldest line kept for a reader that starts below it. */
static void read_log(struct handle *h, size_t size, off_t off, struct deis_buf *out)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_cache *c = cache_acquire();
	const char *src = h->src[0] ? h->src : NULL;
	long long start = 0;
	int rc = c ? 0 : -EIO;

	pthread_mutex_lock(&h->lock);
	if (rc == 0 && h->delta < 0) {
		rc = deis_cache_log_start(c, h->app, src, &start, &err);
		h->delta = rc == 0 && off < start ? start - off : 0;
	}
	long long delta = h->delta < 0 ? 0 : h->delta;
	pthread_mutex_unlock(&h->lock);
	if (rc == 0)
		rc = deis_cache_log_read(c, h->app, src, off + delta, size, out, &start, &err);
	cache_release(c, rc < 0);
	if (rc < 0)
		deis_log(LOG_WARNING, "reading the log of %s: %s", h->app,
			 c ? err.msg : "Redis is unreachable");
}

int handle_read(struct req *r, struct handle *h, size_t size, off_t off, struct deis_buf *out)
{
	struct node n;
	int rc;

	pthread_rwlock_rdlock(&state.lock);
	/* A log grows after the open: its reader must still be one who may
	 * read it, at every read (EACCES, so tail stops, rather than an end
	 * of file it would wait on for ever); so must every other reader. */
	rc = h->scratch ? handle_node(r, h, &n, false) : handle_app_access(r, h);
	/* only the part asked for: a scratch file may be large */
	if (rc == 0 && h->scratch && n.scratch)
		copy_range(out, n.scratch->data.data, n.scratch->data.len, size, off);
	pthread_rwlock_unlock(&state.lock);
	if (rc < 0 || h->scratch)
		return rc;
	if (h->log) {
		read_log(h, size, off, out);
		return 0;
	}
	pthread_mutex_lock(&h->lock);
	copy_range(out, h->buf.data, h->buf.len, size, off);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* A write to a scratch file goes straight to it. */
static int write_scratch(struct req *r, struct handle *h, const char *data, size_t size,
			 off_t off)
{
	struct node n;

	pthread_rwlock_wrlock(&state.lock);
	int rc = handle_node(r, h, &n, true);
	if (rc == 0 && !n.scratch)
		rc = -ENOENT;
	if (rc == 0) {
		if (h->append)
			off = (off_t)n.scratch->data.len;
		rc = buf_place(&n.scratch->data, data, size, off, SCRATCH_MAX,
			       n.scratch->creator, MEM_SCRATCH, &r->err);
		n.scratch->mtime = now_us();
	}
	pthread_rwlock_unlock(&state.lock);
	return rc;
}

int handle_write(struct req *r, struct handle *h, const char *data, size_t size, off_t off)
{
	struct node n;
	size_t max = 0;
	int rc = 0;

	if (h->scratch)
		return write_scratch(r, h, data, size, off);
	pthread_mutex_lock(&h->lock);
	/* After a refusal the content is spoiled: a later write must not turn
	 * what is left of it into something that commits (a shell's printf
	 * writes what it still holds after an error). */
	if (h->failed)
		rc = deis_error_set(&r->err, h->fail_errno ? h->fail_errno : EIO,
				    "an earlier write to this descriptor was refused; "
				    "nothing written through it is committed");
	/* The database known down (since the open): the close could not
	 * commit, and a shell ignores close's error; it sees write's. */
	if (rc == 0 && fs_store->check)
		rc = fs_store->check(true, &r->err);
	pthread_rwlock_rdlock(&state.lock);
	if (rc == 0)
		rc = handle_node(r, h, &n, true);
	if (rc == 0)
		max = n.t->max;
	pthread_rwlock_unlock(&state.lock);
	if (rc == 0 && h->append)
		off = (off_t)h->buf.len;
	if (rc == 0 && off >= 0 && (size_t)off < h->checked_end)
		h->checked = h->checked_lines = h->checked_end = 0;	/* rewritten */
	if (rc == 0) {
		rc = buf_place(&h->buf, data, size, off, max, h->uid, MEM_BUFFER, &r->err);
		if (rc == -EFBIG)
			deis_error_set(&r->err, EFBIG, "'%s' takes at most %zu bytes",
				       h->name, max);
	}
	if (rc == 0) {
		h->dirty = true;
		h->written = true;
		/* The complete lines are checked now, so the shell sees EINVAL
		 * from write(); a last line without its newline may be cut
		 * mid-line and waits for close. */
		const char *nl = h->commit == COMMIT_CONTROL && h->buf.len ?
			memrchr(h->buf.data, '\n', h->buf.len) : NULL;
		size_t end = nl ? (size_t)(nl - h->buf.data) + 1 : 0;
		if (end > h->checked_end)
			rc = handle_check(r, h, end);
	}
	/* A refused write spoils the whole content: close commits nothing
	 * (never a prefix of what the writer meant). */
	if (rc < 0) {
		h->failed = true;
		if (!h->fail_errno)
			h->fail_errno = -rc;
		h->dirty = h->written = false;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int handle_truncate(struct handle *h, size_t size)
{
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	if (size <= h->buf.len) {
		h->buf.len = size;
		if (h->buf.data)
			h->buf.data[h->buf.len] = '\0';
		if (h->buf.len < h->checked_end)
			h->checked = h->checked_lines = h->checked_end = 0;
		/* an explicit change, like a write: close commits it */
		h->dirty = true;
		h->written = true;
	} else {
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* A created entry whose content was never stored leaves nothing: drop it
 * and make the kernel forget the name it was told about at create. */
void drop_pending(struct handle *h)
{
	if (h->pending && tree_drop_pending(h->dir, h->name))
		inval_entry_queue(h->ino);
}
