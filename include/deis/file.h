/*
 * file.h - reading a small file whole (/proc, /sys); writing a file whole: into a temporary file beside it, then
 * renamed over it, so that a reader sees the old contents or the new ones,
 * never a part (and a crash leaves at most a stray *.tmp.XXXXXX file).
 *
 * No fsync: what the platform writes this way (bundles, rendered configs,
 * hooks, cached blobs) is made again from the database or the registry.
 */
#ifndef DEIS_FILE_H
#define DEIS_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "deis/error.h"

/* Replaces path with len bytes of data, with exactly the given mode. */
int deis_file_write(const char *path, const void *data, size_t len, mode_t mode,
		    struct deis_error *err);

/* Ends a file written through fd at tmp (made by the caller, e.g. with
 * mkostemp): when rc is 0, gives it mode, closes it and renames it over
 * path; otherwise, or when one of those fails, closes fd and removes tmp.
 * Returns rc, or the first error of its own. */
int deis_file_install(int fd, const char *tmp, const char *path, mode_t mode,
		      int rc, struct deis_error *err);

/* One read(2) of at most len bytes of path (relative to dirfd, or
 * AT_FDCWD), opened non-blocking: a small /proc, /sys or state file read
 * whole.  Returns the bytes read, or -1 with errno set. */
ssize_t deis_file_read_at(int dirfd, const char *path, void *buf, size_t len);

/* The same for text: at most len - 1 bytes into buf, NUL-terminated, and
 * buf "" when it cannot be read.  Returns the bytes read, or -1 with
 * errno set (an empty file reads as 0). */
ssize_t deis_file_read_small(const char *path, char *buf, size_t len);

#endif
