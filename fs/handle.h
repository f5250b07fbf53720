/*
 * handle.h - open files (handle.c), for the FUSE operations.
 */
#ifndef DEISFS_HANDLE_H
#define DEISFS_HANDLE_H

#include "deis/validate.h"
#include "deisfs.h"
#include "ops.h"

/*
 * A descriptor acts as the user who opened it, whoever uses it later: the
 * kernel sends RELEASE (the last close, where `: > f` and `touch` commit)
 * as root, and a descriptor may be passed on or outlive a change of
 * identity.  Every operation on it (read, write, flush, release) looks
 * that user up again and checks their rights at that moment, so one who
 * lost access (removed from perms, the app destroyed, even if an app of
 * the same name was made since) can neither commit nor read any more.
 */
struct handle {
	pthread_mutex_t lock;
	fuse_ino_t ino;
	uid_t uid;		/* who opened it */
	gid_t gid;
	long app_id;		/* the app it belongs to (0: none) */
	struct deis_buf buf;	/* content read at open, or being written;
				 * counted against uid (MEM_BUFFER) */
	/* control files: buf[0..checked_end) was checked at write; a store
	 * that checks line by line (env) resumes at checked */
	size_t checked, checked_lines, checked_end;
	bool writable;
	bool dirty;		/* written (or truncated), not yet committed */
	bool written;		/* write() data arrived since the last commit */
	bool failed;		/* a write or commit was refused: nothing more
				 * is taken from this descriptor */
	int fail_errno;
	bool scratch;		/* reads and writes go to the scratch file */
	bool append;
	bool pending;		/* opened a created, not yet stored entry */
	int commit;
	char dir[160];		/* scratch namespace and name, for release */
	char name[256];
	/* a log: offsets are the stream's byte offsets, so the size only
	 * grows; a reader that starts below the oldest retained line (cat
	 * from 0) is shifted up to it once, at its first read, by delta */
	bool log;
	long long delta;		/* -1 until the first read */
	char app[64];			/* the app's name ("" for none) */
	char src[64];
};

/* The largest a scratch file may grow. */
#define SCRATCH_MAX ((size_t)DEIS_ENV_MAX * 4)

/* A request made through a descriptor: acts as its opener. */
void handle_req(fuse_req_t freq, const struct handle *h, struct req *r);
void handle_free(struct handle *h);
struct handle *handle_of(struct fuse_file_info *fi);
/* The opener's rights on the app of a descriptor (state lock held). */
int handle_app_access(struct req *r, const struct handle *h);
/* Resolves a descriptor's node (state lock held) and checks that its
 * opener may still use it (and write it, for want_write). */
int handle_node(struct req *r, const struct handle *h, struct node *n,
		bool want_write);
/* Commits the buffer through the node's store, as the opener. */
int handle_commit(struct req *r, struct handle *h);
/* Checks the complete lines buf[0..end) without committing. */
int handle_check(struct req *r, struct handle *h, size_t end);
/* Sets up a handle for node n (state lock held). */
int handle_open(struct req *r, fuse_ino_t ino, const struct node *n,
		struct fuse_file_info *fi, struct handle **out);
/* read(2): bytes [off, off + size) of what the descriptor reads (its
 * buffer, the scratch file, or the log), into out; 0 or -errno. */
int handle_read(struct req *r, struct handle *h, size_t size, off_t off, struct deis_buf *out);
/* write(2): into the buffer (the complete lines checked) or the scratch
 * file; 0 or -errno, after which the descriptor commits nothing. */
int handle_write(struct req *r, struct handle *h, const char *data, size_t size, off_t off);
/* ftruncate(2) of an open file: its buffer only (-EINVAL to grow it). */
int handle_truncate(struct handle *h, size_t size);
/* Places data at off in b, growing it (charged to uid as kind). */
int buf_place(struct deis_buf *b, const char *data, size_t size, off_t off,
	      size_t max, uid_t uid, enum mem_kind kind, struct deis_error *err);
/* A created entry whose content was never stored leaves nothing. */
void drop_pending(struct handle *h);

#endif
