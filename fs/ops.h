/* ops.h - the FUSE operations table and the invalidation thread. */
#ifndef DEISFS_OPS_H
#define DEISFS_OPS_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops deisfs_ops;

/* Starts the thread that sends kernel cache invalidations. */
int ops_start(struct fuse_session *se);
void ops_stop(void);

#endif
