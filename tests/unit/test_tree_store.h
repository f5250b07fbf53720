/*
 * test_tree_store.h - an in-memory store for the tree (fs/store.h), so
 * that tests/unit/test_tree.c runs the tree without PostgreSQL.
 *
 * It keeps apps (owner, perms, formation, domains, drains, releases with
 * their config and limits), users and their keys, and checks what the
 * database checks that the tree relies on: rights of the acting user,
 * a domain of one app only, unknown apps and vars.  Other changes
 * (images, certs, runs, quotas ...) answer EOPNOTSUPP.
 */
#ifndef TEST_TREE_STORE_H
#define TEST_TREE_STORE_H

#include "store.h"

extern const struct store_ops mem_store;

/* Counts the changes committed, so a test can see that a refused write
 * changed nothing. */
extern int mem_commits;

/* Setting up the data of a test, without the tree. */
void mem_reset(void);
void mem_user(const char *name, int uid);
void mem_app(const char *name, const char *owner);
void mem_set(const char *app, const char *key, const char *value);
void mem_perm(const char *app, const char *user);

#endif
