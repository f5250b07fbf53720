/*
 * spawn.h - posix_spawn with a clean signal state.
 *
 * Every program the platform starts (runc, git, nginx, tar, deis-shim,
 * deis-scheduler run) gets an empty signal mask and every signal at its
 * default: a daemon's blocked or ignored signals must never leak into it.
 */
#ifndef DEIS_SPAWN_H
#define DEIS_SPAWN_H

#include <spawn.h>

/* posix_spawnattr_init() with an empty mask, every signal at its default,
 * and flags (e.g. POSIX_SPAWN_SETSID) added. */
void deis_spawnattr_init(posix_spawnattr_t *attr, short flags);

#endif
