/*
 * inode.c - the inode table: the (parent, name) pairs the kernel has
 * looked up, and the resolution of an inode to a node of the tree.
 *
 * An inode is a (parent, name) pair the kernel has looked up; what it
 * refers to is resolved against the model at every request, so a renamed,
 * reloaded or destroyed app can never leave a dangling pointer here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inode.h"

/* ---- the inode table ---- */

struct inode {
	fuse_ino_t ino;
	struct inode *parent;
	char *name;
	uint64_t nlookup;
	unsigned children;	/* inodes whose parent this is */
	struct inode *next_name, *next_ino;
};

#define HASH_SIZE 16384

static pthread_mutex_t itable_lock = PTHREAD_MUTEX_INITIALIZER;
static struct inode *by_name[HASH_SIZE], *by_ino[HASH_SIZE];
static struct inode root_inode = { .ino = FUSE_ROOT_ID, .name = (char *)"", .nlookup = 1 };
static fuse_ino_t next_ino = FUSE_ROOT_ID + 1;

static unsigned name_hash(const struct inode *parent, const char *name)
{
	unsigned h = (unsigned)((uintptr_t)parent >> 4) * 2654435761u;

	for (; *name; name++)
		h = h * 31 + (unsigned char)*name;
	return h % HASH_SIZE;
}

static void unhash_name(struct inode *in)
{
	struct inode **p = &by_name[name_hash(in->parent, in->name)];

	for (; *p; p = &(*p)->next_name)
		if (*p == in) {
			*p = in->next_name;
			break;
		}
	in->next_name = NULL;
}

static struct inode *inode_get(fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &root_inode;
	for (struct inode *in = by_ino[ino % HASH_SIZE]; in; in = in->next_ino)
		if (in->ino == ino)
			return in;
	return NULL;
}

static struct inode *inode_child(struct inode *parent, const char *name)
{
	for (struct inode *in = by_name[name_hash(parent, name)]; in; in = in->next_name)
		if (in->parent == parent && !strcmp(in->name, name))
			return in;
	return NULL;
}

/* Finds or makes the inode for (parent, name) and counts one lookup. */
fuse_ino_t inode_lookup(fuse_ino_t parent_ino, const char *name)
{
	fuse_ino_t ino = 0;

	pthread_mutex_lock(&itable_lock);
	struct inode *parent = inode_get(parent_ino);
	if (parent) {
		struct inode *in = inode_child(parent, name);
		if (!in) {
			in = calloc(1, sizeof(*in));
			if (!in)
				abort();
			in->ino = next_ino++;
			in->parent = parent;
			parent->children++;
			in->name = strdup(name);
			unsigned h = name_hash(parent, name);
			in->next_name = by_name[h];
			by_name[h] = in;
			in->next_ino = by_ino[in->ino % HASH_SIZE];
			by_ino[in->ino % HASH_SIZE] = in;
		}
		in->nlookup++;
		ino = in->ino;
	}
	pthread_mutex_unlock(&itable_lock);
	return ino;
}

static void inode_maybe_free(struct inode *in)
{
	while (in && in != &root_inode && in->nlookup == 0 && in->children == 0) {
		struct inode *parent = in->parent;
		unhash_name(in);
		struct inode **p = &by_ino[in->ino % HASH_SIZE];
		for (; *p; p = &(*p)->next_ino)
			if (*p == in) {
				*p = in->next_ino;
				break;
			}
		free(in->name);
		free(in);
		parent->children--;
		in = parent;
	}
}

void inode_forget(fuse_ino_t ino, uint64_t n)
{
	pthread_mutex_lock(&itable_lock);
	struct inode *in = inode_get(ino);
	if (in && in != &root_inode) {
		in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
		inode_maybe_free(in);
	}
	pthread_mutex_unlock(&itable_lock);
}

/* After rename: the kernel moved the dentry, so move the inode too.  An
 * inode already at the target is unhashed (the kernel will forget it). */
void inode_move(fuse_ino_t parent_ino, const char *name,
		fuse_ino_t newparent_ino, const char *newname)
{
	pthread_mutex_lock(&itable_lock);
	struct inode *parent = inode_get(parent_ino), *newparent = inode_get(newparent_ino);
	struct inode *in = parent ? inode_child(parent, name) : NULL;
	if (in && newparent) {
		struct inode *old = inode_child(newparent, newname);
		if (old && old != in) {
			unhash_name(old);
			/* keep it findable by ino, with a name nobody can look up */
			free(old->name);
			old->name = strdup("");
		}
		unhash_name(in);
		in->parent->children--;
		struct inode *oldparent = in->parent;
		in->parent = newparent;
		newparent->children++;
		free(in->name);
		in->name = strdup(newname);
		unsigned h = name_hash(newparent, newname);
		in->next_name = by_name[h];
		by_name[h] = in;
		inode_maybe_free(oldparent);
	}
	pthread_mutex_unlock(&itable_lock);
}

/* The parent and the name of ino, for invalidating its entry; false when
 * it has none (the root, or an inode a rename replaced). */
bool inode_parent(fuse_ino_t ino, fuse_ino_t *parent, char *name, size_t len)
{
	bool found = false;

	pthread_mutex_lock(&itable_lock);
	struct inode *in = inode_get(ino);
	if (in && in->parent && in->name[0]) {
		*parent = in->parent->ino;
		snprintf(name, len, "%s", in->name);
		found = true;
	}
	pthread_mutex_unlock(&itable_lock);
	return found;
}

size_t inode_subtree(const char *const *names, int depth, fuse_ino_t *parent_ino,
		     fuse_ino_t **inos)
{
	size_t n = 0, cap = 0;
	struct inode *parent = &root_inode, *base = NULL;

	*parent_ino = 0;
	*inos = NULL;
	pthread_mutex_lock(&itable_lock);
	for (int i = 0; parent && i < depth - 1; i++)
		parent = inode_child(parent, names[i]);
	if (parent && depth > 0) {
		*parent_ino = parent->ino;
		base = inode_child(parent, names[depth - 1]);
	}
	for (size_t h = 0; base && h < HASH_SIZE; h++)
		for (struct inode *in = by_ino[h]; in; in = in->next_ino) {
			struct inode *p = in;
			while (p && p != base && p != &root_inode)
				p = p->parent;
			if (p != base)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				*inos = realloc(*inos, cap * sizeof(**inos));
				if (!*inos)
					abort();
			}
			(*inos)[n++] = in->ino;
		}
	pthread_mutex_unlock(&itable_lock);
	return n;
}

/* The names from the root down to ino; returns the depth or -ENOENT. */
int inode_path(fuse_ino_t ino, char names[MAX_DEPTH][256])
{
	const char *chain[MAX_DEPTH];
	int depth = 0;

	pthread_mutex_lock(&itable_lock);
	struct inode *in = inode_get(ino);
	if (!in) {
		pthread_mutex_unlock(&itable_lock);
		return -ENOENT;
	}
	for (; in && in != &root_inode; in = in->parent) {
		if (depth == MAX_DEPTH || !in->name[0]) {
			pthread_mutex_unlock(&itable_lock);
			return -ENOENT;
		}
		chain[depth++] = in->name;
	}
	for (int i = 0; i < depth; i++)
		snprintf(names[i], 256, "%s", chain[depth - 1 - i]);
	pthread_mutex_unlock(&itable_lock);
	return depth;
}

/* Resolves ino to a node; the caller holds the state lock.  Also checks
 * that the caller may see every directory on the way. */
int resolve(const struct req *r, fuse_ino_t ino, struct node *n)
{
	char names[MAX_DEPTH][256];
	int depth = inode_path(ino, names);

	if (depth < 0)
		return depth;
	return tree_resolve(r, names, depth, n);
}

void path_string(fuse_ino_t ino, const char *leaf, char *out, size_t len)
{
	char names[MAX_DEPTH][256];
	int depth = inode_path(ino, names);
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; i < depth && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "/%s", names[i]);
	if (leaf && n < len)
		snprintf(out + n, len - n, "/%s", leaf);
	if (!out[0])
		snprintf(out, len, "/");
}
