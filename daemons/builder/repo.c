/*
 * repo.c - the apps' bare repositories and the real git.
 *
 * $DEIS_HOME/git/<app>.git is the app's bare repository on this host,
 * made at its first push here (libgit2, initial branch main).  Its push
 * lock is the platform's, not the host's: a PostgreSQL advisory lock
 * (db_locks.c), so one push per app runs at a time whichever node's
 * builder serves it.  Every node keeps its own repositories, so before a
 * push the deploy branch is made to show what the platform built last
 * (builder_repo_sync).  At every push the pre-receive hook is written again (so a moved binary or config
 * never leaves a stale hook): a file whose "#!" line names this binary
 * with "hook --config=<file>" as its one argument, so git runs
 * deis-builder directly, with no shell in between.
 *
 * git itself is started with posix_spawn (never through a shell), with an
 * environment built from scratch and every signal back at its default.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "deis/spawn.h"
#include "deis/conf.h"
#include "deis/db.h"
#include "deis/file.h"
#include "deis/log.h"
#include "deis/validate.h"
#include "builder.h"

#define HOOK_LINE_MAX	250	/* the kernel reads 256 bytes of a #! line */

static int git_dir(char *out, size_t size, struct deis_error *err)
{
	if ((size_t)snprintf(out, size, "%s/git", deis_conf.home) >= size)
		return deis_error_set(err, ENAMETOOLONG, "home directory path too long");
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return deis_error_set(err, errno, "%s: %s", out, strerror(errno));
	return 0;
}

int builder_repo_path(const char *app, char *out, size_t size)
{
	if (!deis_valid_app_name(app))
		return -EINVAL;
	if ((size_t)snprintf(out, size, "%s/git/%s.git", deis_conf.home, app) >= size)
		return -ENAMETOOLONG;
	return 0;
}

int builder_repo_lock(long app_id, struct deis_db_lock **lock, struct deis_error *err)
{
	int r = deis_db_lock_try(deis_conf.database, DEIS_DB_LOCK_PUSH, app_id,
				 "deis-builder push", lock, err);

	if (r == -EWOULDBLOCK)
		return deis_error_set(err, EWOULDBLOCK, "another push is in progress");
	return r;
}

/* Writes the hook to a temporary file beside it and renames it over. */
static int install_hook(const char *repo, struct deis_error *err)
{
	char line[512], path[4096];
	const char *self = builder_conf.self, *conf = builder_conf.config_path;

	if (!self || self[0] != '/' || !conf || conf[0] != '/' ||
	    strpbrk(self, " \t\n\r") || strpbrk(conf, " \t\n\r"))
		return deis_error_set(err, EINVAL, "the builder binary (%s) and its config (%s) "
				      "must be absolute paths without blanks to be named in a "
				      "hook's #! line", self ? self : "?", conf ? conf : "?");
	int n = snprintf(line, sizeof(line), "#!%s hook --config=%s\n", self, conf);
	if (n < 0 || n > HOOK_LINE_MAX)
		return deis_error_set(err, ENAMETOOLONG, "the hook's #! line would be longer "
				      "than %d bytes: install deis-builder or the config at a "
				      "shorter path", HOOK_LINE_MAX);
	if ((size_t)snprintf(path, sizeof(path), "%s/hooks", repo) >= sizeof(path))
		return deis_error_set(err, ENAMETOOLONG, "path too long");
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	if ((size_t)snprintf(path, sizeof(path), "%s/hooks/pre-receive", repo) >= sizeof(path))
		return deis_error_set(err, ENAMETOOLONG, "path too long");
	return deis_file_write(path, line, (size_t)n, 0755, err);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? -1 : 0;
}

/*
 * A repository records the id of the app it belongs to (deis-app-id in
 * it).  An app destroyed and made again under the same name has a new
 * id: its predecessor's repository is deleted, so the new owner never
 * sees the old code and its first push starts afresh.  A repository
 * without the file (made before it existed) is taken as the app's.
 */
int builder_repo_check(const char *app, long app_id, struct deis_error *err)
{
	char path[4096], idpath[4200], line[32] = "";
	struct stat st;

	if (builder_repo_path(app, path, sizeof(path)) < 0)
		return deis_error_set(err, EINVAL, "bad repository path for '%s'", app);
	if (stat(path, &st) < 0)
		return deis_error_set(err, ENOENT, "app '%s' has no repository", app);
	snprintf(idpath, sizeof(idpath), "%s/deis-app-id", path);
	FILE *f = fopen(idpath, "r");
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	if (!line[0] || strtol(line, NULL, 10) == app_id) {
		if (!line[0] && (f = fopen(idpath, "w"))) {
			fprintf(f, "%ld\n", app_id);
			fclose(f);
		}
		return 0;
	}
	deis_log(LOG_NOTICE, "deleting %s: it belonged to an app '%s' that was destroyed",
		 path, app);
	if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		return deis_error_set(err, errno, "deleting %s: %s", path, strerror(errno));
	return deis_error_set(err, ENOENT, "app '%s' has no repository", app);
}

int builder_repo_prepare(const char *app, long app_id, struct deis_error *err)
{
	char path[4096];
	struct stat st;
	int r = git_dir(path, sizeof(path), err);

	if (r < 0)
		return r;
	r = builder_repo_check(app, app_id, err);
	if (r < 0 && r != -ENOENT)
		return r;
	if (builder_repo_path(app, path, sizeof(path)) < 0)
		return deis_error_set(err, EINVAL, "bad repository path for '%s'", app);
	if (stat(path, &st) < 0) {
		git_repository_init_options opts;
		git_repository *repo = NULL;

		git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);

		opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT |
			     GIT_REPOSITORY_INIT_MKDIR;
		opts.initial_head = "main";
		if (git_repository_init_ext(&repo, path, &opts) < 0) {
			const git_error *e = git_error_last();

			return deis_error_set(err, EIO, "git init %s: %s", path,
					      e ? e->message : "failed");
		}
		git_repository_free(repo);
		char idpath[4200];
		snprintf(idpath, sizeof(idpath), "%s/deis-app-id", path);
		FILE *f = fopen(idpath, "w");
		if (!f || fprintf(f, "%ld\n", app_id) < 0 || fclose(f) != 0)
			return deis_error_set(err, EIO, "writing %s", idpath);
		deis_log(LOG_NOTICE, "created repository %s", path);
	} else if (!S_ISDIR(st.st_mode)) {
		return deis_error_set(err, ENOTDIR, "%s is not a directory", path);
	}
	return install_hook(path, err);
}

/* The branches a push deploys (hook.c); main is the one a repository
 * made here starts with. */
static const char *const deploy_refs[] = { "refs/heads/main", "refs/heads/master" };

static int repo_fail(struct deis_error *err, const char *repo, const char *what)
{
	const git_error *e = git_error_last();

	return deis_error_set(err, EIO, "%s: %s: %s", repo, what,
			      e && e->message ? e->message : "failed");
}

/*
 * Every node has its own bare repositories and a push may go through any
 * node's builder, so this repository may be behind the platform: the app
 * was pushed through another node since (main here is older, or missing),
 * maybe with its history rewritten there (a force push).  The pusher's
 * git decides whether its push is a fast-forward from the refs we
 * advertise, so those must show what the platform built last (sha), not
 * what this node last saw:
 *
 *   - a deploy branch already at sha: this node served that push (a
 *     single host always does); nothing changes;
 *   - sha is here (it was pushed through this node once): main, and
 *     master if it exists, are set to it;
 *   - it is not: they are deleted, so the push creates them, and the
 *     pusher's git sends all it has.  Nothing here can tell whether such
 *     a push contains sha (docs/builder.md, "The push lock, and pushes
 *     through any node").
 *
 * With apply false nothing changes: the state is only read (a fetch).
 * Called under the app's push lock when apply is true.
 */
int builder_repo_sync(const char *app, const char *sha, bool apply, struct deis_error *err)
{
	char path[4096], was[GIT_OID_HEXSZ + 1];
	git_repository *repo = NULL;
	git_commit *c = NULL;
	git_oid want, tip[2];
	bool has[2];
	int state = BUILDER_REPO_CURRENT;

	if (strlen(sha) != GIT_OID_HEXSZ || git_oid_fromstr(&want, sha) < 0)
		return BUILDER_REPO_CURRENT;	/* nothing built from git here (or not SHA-1) */
	if (builder_repo_path(app, path, sizeof(path)) < 0)
		return deis_error_set(err, EINVAL, "bad repository path for '%s'", app);
	if (git_repository_open_bare(&repo, path) < 0)
		return repo_fail(err, path, "opening");
	for (int i = 0; i < 2; i++) {
		has[i] = git_reference_name_to_id(&tip[i], repo, deploy_refs[i]) == 0;
		if (has[i] && git_oid_equal(&tip[i], &want))
			goto out;
	}
	state = git_commit_lookup(&c, repo, &want) == 0 ? BUILDER_REPO_BEHIND :
							  BUILDER_REPO_MISSING;
	for (int i = 0; i < 2 && apply; i++) {
		const char *name = deploy_refs[i] + 11;

		snprintf(was, sizeof(was), "%s", "(none)");
		if (has[i])
			git_oid_tostr(was, sizeof(was), &tip[i]);
		if (state == BUILDER_REPO_BEHIND && (i == 0 || has[i])) {
			git_reference *ref = NULL;

			if (git_reference_create(&ref, repo, deploy_refs[i], &want, 1,
						 "deis: the platform's last build") < 0) {
				state = repo_fail(err, path, "setting the deploy branch");
				goto out;
			}
			git_reference_free(ref);
			deis_log(LOG_NOTICE, "%s: %s was %.12s, now %.12s: the app's last build, "
				 "pushed through another node", path, name, was, sha);
		} else if (state == BUILDER_REPO_MISSING && has[i]) {
			if (git_reference_remove(repo, deploy_refs[i]) < 0) {
				state = repo_fail(err, path, "deleting the deploy branch");
				goto out;
			}
			deis_log(LOG_NOTICE, "%s: deleted %s (%.12s): the app's last build, %.12s, "
				 "was pushed through another node and is not here", path, name,
				 was, sha);
		}
	}
out:
	git_commit_free(c);
	git_repository_free(repo);
	return state;
}

/* GIT_PROTOCOL ("version=2") as the client sent it, if it is harmless. */
static bool protocol_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '=' || *s == ':' || *s == '.' || *s == '-' || *s == '_'))
			return false;
	return true;
}

int builder_git_spawn(enum builder_service service, const char *app,
		      const char *user, const char *git_protocol,
		      pid_t *pid, int fds[3], struct deis_error *err)
{
	char repo[4096], dir[4096];
	char e_home[4200], e_app[128], e_user[128], e_proto[128];
	static const char *pass[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };
	char e_pass[3][1024];
	char *envp[16];
	int n = 0;
	int p[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int r;

	if (builder_repo_path(app, repo, sizeof(repo)) < 0 ||
	    (size_t)snprintf(dir, sizeof(dir), "%s/git", deis_conf.home) >= sizeof(dir))
		return deis_error_set(err, EINVAL, "bad repository path");

	envp[n++] = (char *)"PATH=/usr/local/bin:/usr/bin:/bin";
	envp[n++] = (char *)"LANG=C.UTF-8";
	envp[n++] = (char *)"GIT_CONFIG_NOSYSTEM=1";
	snprintf(e_home, sizeof(e_home), "HOME=%s/builder", deis_conf.home);
	envp[n++] = e_home;
	snprintf(e_app, sizeof(e_app), "DEIS_APP=%s", app);
	envp[n++] = e_app;
	snprintf(e_user, sizeof(e_user), "DEIS_PUSH_USER=%s", user);
	envp[n++] = e_user;
	if (protocol_ok(git_protocol)) {
		snprintf(e_proto, sizeof(e_proto), "GIT_PROTOCOL=%s", git_protocol);
		envp[n++] = e_proto;
	}
	for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++) {
		const char *v = getenv(pass[i]);

		if (v && (size_t)snprintf(e_pass[i], sizeof(e_pass[i]), "%s=%s", pass[i], v) <
			 sizeof(e_pass[i]))
			envp[n++] = e_pass[i];
	}
	envp[n] = NULL;

	char *argv[5];
	int a = 0;
	argv[a++] = (char *)"git";
	if (service == BUILDER_RECEIVE_PACK) {
		argv[a++] = (char *)"receive-pack";
	} else {
		argv[a++] = (char *)"upload-pack";
		argv[a++] = (char *)"--strict";
	}
	argv[a++] = repo;
	argv[a] = NULL;

	posix_spawn_file_actions_init(&fa);
	if (builder_pipes_open(p, &fa, err) < 0) {
		posix_spawn_file_actions_destroy(&fa);
		builder_pipes_close(p);
		return -err->code;
	}
	posix_spawn_file_actions_addchdir_np(&fa, dir);
	deis_spawnattr_init(&attr, 0);
	r = posix_spawn(pid, builder_conf.git, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r) {
		builder_pipes_close(p);
		return deis_error_set(err, r, "%s: %s", builder_conf.git, strerror(r));
	}
	builder_pipes_parent(p, fds);
	return 0;
}

int builder_pipes_open(int p[3][2], posix_spawn_file_actions_t *fa,
		       struct deis_error *err)
{
	for (int i = 0; i < 3; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0)
			return deis_error_set(err, errno, "pipe: %s", strerror(errno));
	if (!fa)
		return 0;
	posix_spawn_file_actions_adddup2(fa, p[0][0], 0);
	posix_spawn_file_actions_adddup2(fa, p[1][1], 1);
	posix_spawn_file_actions_adddup2(fa, p[2][1], 2);
	return 0;
}

void builder_pipes_parent(int p[3][2], int fds[3])
{
	close(p[0][0]);
	close(p[1][1]);
	close(p[2][1]);
	fds[0] = p[0][1];
	fds[1] = p[1][0];
	fds[2] = p[2][0];
	for (int i = 0; i < 3; i++)
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
}

void builder_pipes_close(int p[3][2])
{
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 2; j++)
			if (p[i][j] >= 0) {
				close(p[i][j]);
				p[i][j] = -1;
			}
}
