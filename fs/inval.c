/*
 * inval.c - the invalidation thread: tells the kernel what changed.
 *
 * An event (changed(kind, name): an app, a user) makes stale the paths
 * the tree's rows say (tree_event_paths); a name created and never
 * stored makes stale that one entry.  Both are queued here and sent in
 * order by a thread of their own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"
#include "ops.h"

/*
 * Kernel caches are invalidated from the event thread, never from a
 * request handler: an invalidation can wait for a lock the kernel holds
 * while it waits for our reply.
 */
static struct fuse_session *session;

struct inval {
	char kind[16];		/* an event's kind; "" for one entry */
	char name[256];		/* the event's name, or the entry's */
	fuse_ino_t parent;	/* the entry's directory (0 for an event) */
};

static pthread_mutex_t inval_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t inval_cond = PTHREAD_COND_INITIALIZER;
static struct inval inval_q[1024];
static size_t inval_n;
static bool inval_stop;

static void inval_push(const char *kind, const char *name, fuse_ino_t parent)
{
	pthread_mutex_lock(&inval_lock);
	for (size_t i = 0; i < inval_n; i++)
		if (!strcmp(inval_q[i].kind, kind) && !strcmp(inval_q[i].name, name) &&
		    inval_q[i].parent == parent) {
			pthread_mutex_unlock(&inval_lock);
			return;
		}
	if (inval_n < sizeof(inval_q) / sizeof(*inval_q)) {
		snprintf(inval_q[inval_n].kind, sizeof(inval_q[0].kind), "%s", kind);
		snprintf(inval_q[inval_n].name, sizeof(inval_q[0].name), "%s", name);
		inval_q[inval_n].parent = parent;
		inval_n++;
	}
	pthread_cond_signal(&inval_cond);
	pthread_mutex_unlock(&inval_lock);
}

void inval_queue(const char *kind, const char *name)
{
	inval_push(kind, name, 0);
}

/* The kernel keeps a name it was told about at create: one that was never
 * stored (a refused new config var) must be forgotten by name, or the
 * next create of that name is an open of a file that is not there. */
void inval_entry_queue(fuse_ino_t ino)
{
	fuse_ino_t parent = 0;
	char name[256] = "";

	if (inode_parent(ino, &parent, name, sizeof(name)))
		inval_push("", name, parent);
}

/* One stale path: its entry in its directory, the directory, and every
 * inode at or under it. */
static void inval_path(void *ctx, const char *const *names, int depth)
{
	fuse_ino_t parent_ino = 0, *inos = NULL;
	size_t n = inode_subtree(names, depth, &parent_ino, &inos);
	const char *leaf = names[depth - 1];

	if (parent_ino) {
		fuse_lowlevel_notify_inval_entry(session, parent_ino, leaf, strlen(leaf));
		fuse_lowlevel_notify_inval_inode(session, parent_ino, 0, 0);
	}
	for (size_t i = 0; i < n; i++)
		fuse_lowlevel_notify_inval_inode(session, inos[i], 0, 0);
	free(inos);
}

static void *inval_main(void *arg)
{
	for (;;) {
		struct inval item;
		pthread_mutex_lock(&inval_lock);
		while (!inval_n && !inval_stop)
			pthread_cond_wait(&inval_cond, &inval_lock);
		if (inval_stop) {
			pthread_mutex_unlock(&inval_lock);
			return NULL;
		}
		item = inval_q[0];
		memmove(&inval_q[0], &inval_q[1], (inval_n - 1) * sizeof(*inval_q));
		inval_n--;
		pthread_mutex_unlock(&inval_lock);
		if (item.parent)
			fuse_lowlevel_notify_inval_entry(session, item.parent, item.name,
							 strlen(item.name));
		else
			tree_event_paths(item.kind, item.name, inval_path, NULL);
	}
}

static pthread_t inval_thread;

int ops_start(struct fuse_session *se)
{
	session = se;
	return pthread_create(&inval_thread, NULL, inval_main, NULL);
}

void ops_stop(void)
{
	pthread_mutex_lock(&inval_lock);
	inval_stop = true;
	pthread_cond_signal(&inval_cond);
	pthread_mutex_unlock(&inval_lock);
	pthread_join(inval_thread, NULL);
}
