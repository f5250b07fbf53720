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
 * temporary directory, its Procfile is read and checked, and the build
 * stage (build.c) is called; a missing or bad Procfile fails the push.
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

#define PROCFILE_READ_MAX	(64 * 1024 + 1)

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line to the pusher (stdout; git relays it as "remote: ..."). */
static void say(const char *fmt, ...)
{
	struct deis_buf b = DEIS_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	deis_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	deis_buf_addch(&b, '\n');
	for (size_t off = 0; off < b.len;) {
		ssize_t w = write(1, b.data + off, b.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	deis_buf_release(&b);
}

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
		    struct deis_error *err)
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

/* Reads dir/Procfile: a regular file, never through a symlink (a pushed
 * symlink must not make the hook read a file of the host). */
static int read_procfile(const char *dir, struct deis_buf *out, struct deis_error *err)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return deis_error_set(err, errno, "%s: %s", dir, strerror(errno));
	int fd = openat(dfd, "Procfile", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int e = errno;
	close(dfd);
	if (fd < 0) {
		if (e == ENOENT)
			return deis_error_set(err, ENOENT, "no Procfile in the root of the "
					      "repository: add one with lines like "
					      "'web: ./server'");
		if (e == ELOOP)
			return deis_error_set(err, EINVAL, "the Procfile is a symbolic link: "
					      "make it a regular file");
		return deis_error_set(err, e, "Procfile: %s", strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return deis_error_set(err, EINVAL, "the Procfile is not a regular file");
	}
	for (;;) {
		deis_buf_grow(out, 8192);
		ssize_t n = read(fd, out->data + out->len, 8192);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			close(fd);
			return deis_error_set(err, e, "Procfile: %s", strerror(e));
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = '\0';
		if (out->len > PROCFILE_READ_MAX)
			break;
	}
	close(fd);
	return 0;
}

static int deploy(const char *app, const char *user, const char *branch,
		  const char *commit)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_kvlist procfile = DEIS_KVLIST_INIT;
	struct deis_buf text = DEIS_BUF_INIT, types = DEIS_BUF_INIT;
	char dir[4096];
	int rc = 1;

	say("-----> Building %s from %s (%.7s), pushed by %s", app, branch, commit, user);
	snprintf(dir, sizeof(dir), "%s/builder", deis_conf.home);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/builder/tmp", deis_conf.home);
	mkdir(dir, 0700);
	if ((size_t)snprintf(dir, sizeof(dir), "%s/builder/tmp/%s-XXXXXX", deis_conf.home,
			     app) >= sizeof(dir) || !mkdtemp(dir)) {
		say(" !     Build failed: cannot make a work directory: %s", strerror(errno));
		return 1;
	}
	if (checkout(app, commit, dir, &err) < 0 ||
	    read_procfile(dir, &text, &err) < 0 ||
	    builder_procfile_parse(deis_buf_str(&text), text.len, &procfile, &err) < 0) {
		say(" !     Build failed: %s", err.msg);
		say(" !     Push rejected: %s was not deployed", branch);
		goto out;
	}
	for (size_t i = 0; i < procfile.n; i++)
		deis_buf_addf(&types, "%s%s", i ? ", " : "", procfile.items[i].key);
	say("-----> Procfile declares types -> %s", deis_buf_str(&types));

	struct build_ctx ctx = {
		.app = app, .user = user, .branch = branch, .commit = commit,
		.src_dir = dir, .procfile = &procfile, .out_fd = 1,
	};
	int r = builder_build(&ctx, &err);
	if (r == -ENOSYS) {
		say("-----> %s", err.msg);
		say("-----> Stored %.7s on %s; nothing was deployed", commit, branch);
		rc = 0;
	} else if (r < 0) {
		say(" !     Build failed: %s", err.msg);
		say(" !     Push rejected: %s was not deployed", branch);
	} else {
		rc = 0;
	}
out:
	rm_tree(dir);
	deis_kvlist_clear(&procfile);
	deis_buf_release(&text);
	deis_buf_release(&types);
	return rc;
}

int builder_hook_main(void)
{
	const char *app = getenv("DEIS_APP"), *user = getenv("DEIS_PUSH_USER");
	char line[1024], shown[128];
	int rc = 0;

	if (!app || !deis_valid_app_name(app) || !user || !deis_valid_user_name(user)) {
		say(" !     deis-builder hook: run by deis-builder only (no DEIS_APP or "
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
			say(" !     unexpected hook input '%s'",
			    deis_printable(shown, sizeof(shown), line, n));
			rc = 1;
			continue;
		}
		*new++ = '\0';
		*ref++ = '\0';
		size_t hl = strlen(new);
		if ((hl != 40 && hl != 64) || !is_hex(new, hl) || strlen(old) != hl ||
		    !is_hex(old, hl)) {
			say(" !     unexpected hook input for %s",
			    deis_printable(shown, sizeof(shown), ref, strlen(ref)));
			rc = 1;
			continue;
		}
		const char *branch = !strncmp(ref, "refs/heads/", 11) ? ref + 11 : NULL;
		deis_printable(shown, sizeof(shown), branch ? branch : ref,
			       strlen(branch ? branch : ref));
		if (is_zero(new)) {
			say("-----> Deleted %s; nothing deployed", shown);
		} else if (branch && (!strcmp(branch, "main") || !strcmp(branch, "master"))) {
			if (deploy(app, user, branch, new))
				rc = 1;
		} else {
			say("-----> Not deploying %s: only main or master deploy", shown);
		}
	}
	git_libgit2_shutdown();
	return rc;
}
