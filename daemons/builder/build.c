/*
 * build.c - the build stage: from a checked-out commit to a new release.
 *
 * Called by the pre-receive hook (hook.c) for a push to the deploy branch
 * once the commit is checked out and its Procfile is valid.  Whatever it
 * writes to ctx->out_fd reaches the pusher as "remote: ..." lines.
 *
 * TODO(build stage): this is where the build plugs in, and none of it is
 * done yet, so nothing here pretends to deploy:
 *   1. insert a builds row (status running) and stream the build's output
 *      to its log (source "build.N") as well as to ctx->out_fd;
 *   2. run the buildpacks (bin/detect, bin/compile BUILD CACHE ENV,
 *      bin/release) on ctx->src_dir in a runc container, as an
 *      unprivileged user, with the app's config vars;
 *   3. pack the slug as an OCI layer over the stack and push the image to
 *      the registry (lib/ registry client);
 *   4. one transaction: the build (commit, image, Procfile) and the release
 *      "user deployed <short commit>"; web=1 when no formation is set;
 *   5. run the Procfile's release command, if any, before it goes live.
 * A failure anywhere returns an error: the hook then fails the push.
 */
#include <errno.h>

#include "builder.h"

int builder_build(const struct build_ctx *ctx, struct deis_error *err)
{
	(void)ctx;
	return deis_error_set(err, ENOSYS, "Build stage is not connected yet");
}
