/*
 * slug.c - the node's slug cache: an image's slug, unpacked once per node.
 *
 * A release names its image by digest (<app>@sha256:...).  The first
 * container of an image pulls the manifest and config (lib/registry.c,
 * verified), fetches the slug layer (verified by digest while it streams),
 * and unpacks it with the system's tar (posix_spawn, no shell) into
 * $DEIS_HOME/slugs/<layer hex>.tmp, renamed to <layer hex> when whole: a
 * directory without ".tmp" is always complete, so a scheduler killed
 * half-way leaves only a .tmp that the next attempt replaces.  Containers
 * mount it read-only at /app: its root for an image of the host stack,
 * its app/ for an image over the stack (whose last layer is the slug).  Layers are shared: two releases of one
 * build (a config change) use the same directory.
 *
 * The image's config (its env and Procfile) is kept in memory per image
 * reference, so later containers cost no registry round trip.
 *
 * A registry that does not answer (no connection, a time-out, a 5xx) is
 * the platform's outage, not the release's fault: slug_get() then fails
 * with -EAGAIN, and the scheduler tries again later (launch.c).  Any
 * other failure (an unknown manifest, a digest that does not match) is
 * the image's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/log.h"
#include "deis/registry.h"
#include "scheduler.h"

struct slug {
	char *ref;
	char dir[4200];
	struct deis_kvlist env;
};

static struct slug *slugs;
static size_t nslugs;

static int run_argv(const char *const *argv, struct deis_error *err)
{
	pid_t pid;
	int st, r = sched_spawn(argv, false, &pid, err);

	if (r < 0)
		return r;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return deis_error_set(err, errno, "waiting for %s", argv[0]);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return deis_error_set(err, EIO, "%s failed (status %d)", argv[0],
				      WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

static int rm_rf(const char *path)
{
	const char *argv[] = { "rm", "-rf", "--one-file-system", "--", path, NULL };
	struct deis_error err = DEIS_ERROR_INIT;

	return run_argv(argv, &err);
}

/* An image of the host stack (io.deis.stack "host", or none: before
 * there was a stack) is one layer whose root is /app; any other is
 * layers over the stack, the last the slug, its tree under app/. */
static bool slug_on_host(const struct deis_image_config *c)
{
	const char *stack = deis_kvlist_get(&c->labels, "io.deis.stack");

	return !stack || !strcmp(stack, "host");
}

int slug_get(const char *ref, const char **dir, const struct deis_kvlist **env,
	     struct deis_error *err)
{
	struct deis_registry *reg = NULL;
	struct deis_image img;
	char blob[4200], tmp[4200], final[4096];
	int r, lock = -1;

	for (size_t i = 0; i < nslugs; i++)
		if (!strcmp(slugs[i].ref, ref)) {
			*dir = slugs[i].dir;
			*env = &slugs[i].env;
			return 0;
		}
	memset(&img, 0, sizeof(img));
	r = deis_registry_open_platform(&reg, err);
	if (r == 0)
		r = deis_registry_pull_image(reg, ref, &img, err);
	if (r < 0)
		goto out;
	bool host = slug_on_host(&img.config);
	if (host && img.manifest.n_layers != 1) {
		r = deis_error_set(err, EINVAL, "image %s has %zu layers, not one slug",
				   ref, img.manifest.n_layers);
		goto out;
	}
	const struct deis_oci_descriptor *layer =
		&img.manifest.layers[img.manifest.n_layers - 1];
	const char *hex = strchr(layer->digest, ':');
	hex = hex ? hex + 1 : layer->digest;
	snprintf(final, sizeof(final), "%s/slugs/%s", deis_conf.home, hex);
	if (access(final, F_OK) != 0) {
		char parent[4096], lockpath[4200];
		snprintf(parent, sizeof(parent), "%s/slugs", deis_conf.home);
		/* Root's alone: an app's code is its owner's. */
		if (mkdir(parent, 0700) < 0 && errno == EEXIST)
			chmod(parent, 0700);
		/* The daemon and `deis-scheduler run` may unpack the same slug
		 * at once: one at a time, and the second finds it done. */
		snprintf(lockpath, sizeof(lockpath), "%s/.lock", parent);
		lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (lock >= 0)
			while (flock(lock, LOCK_EX) < 0 && errno == EINTR)
				;
	}
	if (access(final, F_OK) != 0) {
		snprintf(blob, sizeof(blob), "%s.tar.gz", final);
		snprintf(tmp, sizeof(tmp), "%s.tmp", final);
		r = deis_registry_blob_fetch(reg, img.ref.name, layer->digest, layer->size,
					     blob, err);
		if (r < 0)
			goto out;
		rm_rf(tmp);
		if (mkdir(tmp, 0755) < 0) {
			r = deis_error_set(err, errno, "mkdir %s", tmp);
			unlink(blob);
			goto out;
		}
		const char *argv[] = { "tar", "-xzf", blob, "-C", tmp, "--no-same-owner",
				       "--preserve-permissions", NULL };
		r = run_argv(argv, err);
		unlink(blob);
		if (r == 0 && rename(tmp, final) < 0)
			r = deis_error_set(err, errno, "rename %s", tmp);
		if (r < 0) {
			rm_rf(tmp);
			goto out;
		}
		deis_log(LOG_INFO, "slug %.12s of %s unpacked in %s", hex, ref, final);
	}
	struct slug *s = ARRAY_ADD(slugs, nslugs);
	s->ref = strdup(ref);
	snprintf(s->dir, sizeof(s->dir), "%s%s", final, host ? "" : "/app");
	deis_kvlist_copy(&s->env, &img.config.env);
	*dir = s->dir;
	*env = &s->env;
out:
	if (r < 0 && deis_registry_unreachable(reg))
		r = -(err->code = EAGAIN);
	if (lock >= 0)
		close(lock);
	deis_image_clear(&img);
	deis_registry_close(reg);
	return r;
}

void slug_free_all(void)
{
	for (size_t i = 0; i < nslugs; i++) {
		free(slugs[i].ref);
		deis_kvlist_clear(&slugs[i].env);
	}
	free(slugs);
	slugs = NULL;
	nslugs = 0;
}

int slug_rm_rf(const char *path)
{
	return rm_rf(path);
}
