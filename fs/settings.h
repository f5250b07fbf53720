/*
 * settings.h - the seam between fs/tree.c and fs/settings.c (an app's
 * settings files).
 *
 * The app directory finds and lists its settings through settings_lookup
 * and settings_list (every row of lib/settings.c's table, one generic node
 * type); the README lists them with settings_readme.  fs/settings.c
 * commits through tree_app_change, tree.c's way of running one change
 * as the request's user (WITH_DB) and reloading the app after.
 */
#ifndef DEISFS_SETTINGS_H
#define DEISFS_SETTINGS_H

#include "deisfs.h"

/* The app directory's dynamic entries: one per setting. */
int settings_lookup(const struct node *dir, const char *name, struct node *child);
void settings_list(const struct node *dir, struct req *r,
		   void (*add)(void *ctx, const char *name, const struct node *n),
		   void *ctx);
/* "    <name>  <help>" lines for the README. */
void settings_readme(struct deis_buf *out);

/* (tree.c) Runs fn(db, arg, err) with a pooled connection on behalf of
 * the request's user (who is recorded, and whose rights the database
 * checks again), then reloads app and tells the kernel and every other
 * mount.  0 when done, 1 in a dry run (nothing done), < 0 with r->err. */
int tree_app_change(struct req *r, const char *app,
		    int (*fn)(struct deis_db *db, void *arg, struct deis_error *err),
		    void *arg);

#endif
