/*
 * hook.c - "deis-builder hook": the pre-receive hook of every app's
 * repository.
 *
 * git receive-pack runs it (see repo.c for how it is installed) with the
 * pushed refs on stdin, one "<old> <new> <ref>" line each, the new objects
 * in a quarantine directory (GIT_QUARANTINE_PATH, GIT_OBJECT_DIRECTORY),
 * and, from the session, DEIS_APP and DEIS_PUSH_USER in its environment.
 * What it prints on stdout reaches the pusher as "remote: ..." lines.  An
 * exit status other than 0 makes git refuse every ref of the push.
 *
 * Only refs/heads/main and refs/heads/master deploy.  Other refs are
 * accepted and stored, with a line saying they do not deploy.  For the
 * deploy branch the pushed commit is checked out with libgit2 into a
 * temporary directory and the build stage (build.c) builds and releases
 * it; any failure there (a missing or bad Procfile included) fails the
 * push.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "deis/buf.h"
#include "deis/conf.h"
#include "deis/validate.h"
#include "builder.h"

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool is_zero(const char *s)
{
	return strspn(s, "0") == strlen(s);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int git_fail(struct deis_error *err, const char *what)
{
	const git_error *e = git_error_last();

	return deis_error_set(err, EIO, "%s: %s", what, e && e->message ? e->message : "failed");
}

/* The new objects of a push are in the quarantine directory until the
 * hook accepts it; libgit2 does not read git's environment, so it is
 * added here as an alternate object directory. */
static int add_quarantine(git_repository *repo, struct deis_error *err)
{
	static const char *vars[] = { "GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY" };
	git_odb *odb = NULL;
	char real[4096];

	if (git_repository_odb(&odb, repo) < 0)
		return git_fail(err, "opening the object database");
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);

		if (!v || !*v || !realpath(v, real))
			continue;
		if (git_odb_add_disk_alternate(odb, real) < 0) {
			git_odb_free(odb);
			return git_fail(err, "adding the pushed objects");
		}
	}
	git_odb_free(odb);
	return 0;
}

static int checkout(const char *app, const char *commit, const char *dir,
		    time_t *when, struct deis_error *err)
{
	char path[4096];
	git_repository *repo = NULL;
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_oid oid;
	int r = 0;

	if (builder_repo_path(app, path, sizeof(path)) < 0)
		return deis_error_set(err, EINVAL, "bad repository path");
	if (git_repository_open_bare(&repo, path) < 0)
		return git_fail(err, "opening the repository");
	if ((r = add_quarantine(repo, err)) < 0)
		goto out;
	if (git_oid_fromstr(&oid, commit) < 0 || git_commit_lookup(&c, repo, &oid) < 0) {
		r = git_fail(err, "reading the pushed commit");
		goto out;
	}
	*when = (time_t)git_commit_time(c);
	if (git_commit_tree(&tree, c) < 0) {
		r = git_fail(err, "reading the pushed tree");
		goto out;
	}
	git_checkout_options opts;
	git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
	opts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
	opts.target_directory = dir;
	if (git_checkout_tree(repo, (const git_object *)tree, &opts) < 0)
		r = git_fail(err, "checking out the pushed commit");
out:
	git_tree_free(tree);
	git_commit_free(c);
	git_repository_free(repo);
	return r;
}

/* Makes $home/builder/tmp/<app>-<what>-XXXXXX into out. */
static int make_temp(const char *app, const char *what, char *out, size_t size)
{
	snprintf(out, size, "%s/builder", deis_conf.home);
	mkdir(out, 0700);
	snprintf(out, size, "%s/builder/tmp", deis_conf.home);
	mkdir(out, 0700);
	if ((size_t)snprintf(out, size, "%s/builder/tmp/%s-%s-XXXXXX", deis_conf.home, app,
			     what) >= size || !mkdtemp(out))
		return -1;
	return 0;
}

static int deploy(const char *app, const char *user, const char *branch,
		  const char *commit)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char dir[4096], work[4096];
	time_t when = 0;
	int rc = 1;

	if (make_temp(app, "src", dir, sizeof(dir)) < 0) {
		builder_say("-----> Build failed: cannot make a work directory: %s", strerror(errno));
		return 1;
	}
	if (make_temp(app, "work", work, sizeof(work)) < 0) {
		builder_say("-----> Build failed: cannot make a work directory: %s", strerror(errno));
		rm_tree(dir);
		return 1;
	}
	if (checkout(app, commit, dir, &when, &err) < 0) {
		builder_say("-----> Build failed: %s", err.msg);
		builder_say(" !     Push rejected: %s was not deployed", branch);
		goto out;
	}
	struct build_ctx ctx = {
		.app = app, .user = user, .branch = branch, .commit = commit,
		.commit_time = when, .src_dir = dir, .work_dir = work, .out_fd = 1,
	};
	if (builder_build(&ctx, &err) < 0)
		builder_say(" !     Push rejected: %s was not deployed", branch);
	else
		rc = 0;
out:
	rm_tree(dir);
	rm_tree(work);
	return rc;
}

int builder_hook_main(void)
{
	const char *app = getenv("DEIS_APP"), *user = getenv("DEIS_PUSH_USER");
	char line[1024], shown[128];
	int rc = 0;

	if (!app || !deis_valid_app_name(app) || !user || !deis_valid_user_name(user)) {
		builder_say(" !     deis-builder hook: run by deis-builder only (no DEIS_APP or "
		    "DEIS_PUSH_USER)");
		return 1;
	}
	git_libgit2_init();
	while (fgets(line, sizeof(line), stdin)) {
		char *old = line, *new, *ref;
		size_t n = strlen(line);

		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		new = strchr(old, ' ');
		ref = new ? strchr(new + 1, ' ') : NULL;
		if (!new || !ref) {
			builder_say(" !     unexpected hook input '%s'",
			    deis_printable(shown, sizeof(shown), line, n));
			rc = 1;
			continue;
		}
		*new++ = '\0';
		*ref++ = '\0';
		size_t hl = strlen(new);
		if ((hl != 40 && hl != 64) || !is_hex(new, hl) || strlen(old) != hl ||
		    !is_hex(old, hl)) {
			builder_say(" !     unexpected hook input for %s",
			    deis_printable(shown, sizeof(shown), ref, strlen(ref)));
			rc = 1;
			continue;
		}
		const char *branch = !strncmp(ref, "refs/heads/", 11) ? ref + 11 : NULL;
		deis_printable(shown, sizeof(shown), branch ? branch : ref,
			       strlen(branch ? branch : ref));
		if (is_zero(new)) {
			builder_say("-----> Deleted %s; nothing deployed", shown);
		} else if (branch && (!strcmp(branch, "main") || !strcmp(branch, "master"))) {
			if (deploy(app, user, branch, new))
				rc = 1;
		} else {
			builder_say("-----> Not deploying %s: only main or master deploy", shown);
		}
	}
	git_libgit2_shutdown();
	return rc;
}
