/*
 * inode.h - what the FUSE side shares: the inode table (inode.c) and the
 * kernel invalidations (inval.c).
 */
#ifndef DEISFS_INODE_H
#define DEISFS_INODE_H

#include "deisfs.h"
#include "ops.h"

#define MAX_DEPTH TREE_DEPTH_MAX

/* Finds or makes the inode for (parent, name) and counts one lookup;
 * 0 when parent is unknown. */
fuse_ino_t inode_lookup(fuse_ino_t parent_ino, const char *name);
/* The kernel forgot n lookups of ino. */
void inode_forget(fuse_ino_t ino, uint64_t n);
/* After rename: the kernel moved the dentry, so move the inode too. */
void inode_move(fuse_ino_t parent_ino, const char *name,
		fuse_ino_t newparent_ino, const char *newname);
bool inode_parent(fuse_ino_t ino, fuse_ino_t *parent, char *name, size_t len);
/* The inode of the directory that holds path names[0..depth) in
 * *parent_ino (0 when the kernel has not looked it up), and every inode
 * at or under the path in a new array *inos the caller frees; returns how
 * many. */
size_t inode_subtree(const char *const *names, int depth, fuse_ino_t *parent_ino,
		     fuse_ino_t **inos);
/* The names from the root down to ino; returns the depth or -ENOENT. */
int inode_path(fuse_ino_t ino, char names[MAX_DEPTH][256]);
/* Resolves ino to a node; the caller holds the state lock.  Also checks
 * that the caller may see every directory on the way. */
int resolve(const struct req *r, fuse_ino_t ino, struct node *n);
/* "/apps/hello/env" of ino (and leaf, when not NULL), for messages. */
void path_string(fuse_ino_t ino, const char *leaf, char *out, size_t len);

/* Queues the invalidation of ino's name in its parent (inval.c). */
void inval_entry_queue(fuse_ino_t ino);

#endif
