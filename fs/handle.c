/*
 * handle.c - open files: the content a descriptor holds, the check of
 * what is written at write(), and the commit at close.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handle.h"
#include "inode.h"

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
int handle_open(struct req *r, fuse_ino_t ino, const struct node *n,
		       struct fuse_file_info *fi, struct handle **out)
{
	int acc = fi->flags & O_ACCMODE;
	bool want_write = acc != O_RDONLY;
	int rc;

	if (S_ISDIR(n->t->mode))
		return -EISDIR;
	rc = tree_access(r, n, want_write);
	if (rc < 0)
		return rc;
	if (want_write && !n->scratch && !n->t->store)
		return -EACCES;
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
	h->writable = want_write;
	h->append = fi->flags & O_APPEND;
	h->commit = n->t->commit;
	snprintf(h->name, sizeof(h->name), "%s", n->name);
	if (n->scratch) {
		snprintf(h->dir, sizeof(h->dir), "%s", n->scratch->dir);
		h->pending = n->scratch->pending;
	}
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

/* A created entry whose content was never stored leaves nothing: drop it
 * and make the kernel forget the name it was told about at create. */
void drop_pending(struct handle *h)
{
	if (h->pending && tree_drop_pending(h->dir, h->name))
		inval_entry_queue(h->ino);
}
