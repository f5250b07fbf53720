/*
 * build.c - the build stage: from a checked-out commit to a new release.
 *
 * Called by the pre-receive hook (hook.c) for a push to the deploy branch
 * once the commit is checked out.  In order:
 *
 *   1. the builds row (status running): builds/<n>/ appears in the tree;
 *   2. the Procfile, if any, is read and checked (a bad one fails the
 *      build); the config vars of the current release are read;
 *   3. a forked child, in a process group of its own, does the work that
 *      may take long: the buildpack (detect, compile, release), the slug
 *      (slug.c) and the image pushed to the registry as <app>:build-<n>.
 *      Its stdout and stderr come back through a pipe, line by line, and
 *      its result (the manifest digest, or the reason it failed) through
 *      another.  The whole build has builder_build_timeout seconds: at
 *      the deadline the child's process group is killed;
 *   4. the build is marked succeeded with its image (<app>@sha256:...),
 *      the release is made in one transaction (deis_db_release_create,
 *      DEPLOY: "<user> deployed <sha7>", web=1 on the first build, vanished
 *      types dropped), the manifest is tagged v<version>, and the change
 *      is published so every mount reloads the app;
 *   5. the push waits until the release is live and routed (deploy.c):
 *      the release phase, the first web instance up; then the URL.  A
 *      release that does not go live fails the push (the build stays
 *      succeeded, the release stays, its status says why).
 *
 * Every line of the build goes to the pusher (ctx->out_fd: "remote: ...")
 * and to the log server as source "build.<n>" (logemit.h), so it is in
 * builds/<n>/log and in apps/<app>/logs as <app>[builder].  Any failure
 * marks the build failed, prints "-----> Build failed: <reason>" and
 * returns < 0: the hook then fails the push, and no release is made.
 *
 * The buildpack: the app's BUILDPACK_URL (a network git URL cloned for
 * the build, or the name of a built-in one), else the first built-in one
 * whose detect matches (Node.js, Makefile, static, Procfile-only).  A
 * BUILDPACK_URL of any other form (a host path, file://, ssh, ...) fails
 * the build before anything runs: the clone runs as root on the host.  All but Procfile-only run bin/compile and bin/release
 * in the child, inside a runc container (buildpack.c), with the child's
 * pipe as their output; the slug's process types are the Procfile's, else
 * the buildpack's default_process_types (see docs/builder.md).
 */
#include <errno.h>
#include <stdbool.h>
#include <spawn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deis/buf.h"
#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/db.h"
#include "deis/logemit.h"
#include "deis/registry.h"
#include "deis/runtime.h"
#include "deis/validate.h"
#include "builder.h"

#define LINE_MAX_BYTES	(16 * 1024)	/* longer output lines are cut */
#define STACK_PORT	"5000"		/* PORT in an image (docker run) */
#define RESULT_MAX	2048

/* ---- output: the pusher and the build's log ---- */

struct out {
	int fd;				/* the pusher */
	struct deis_logemit *log;	/* NULL once the log server failed */
	const char *app;
	char src[32];			/* "build.<n>"; "" before the row exists */
	struct deis_buf partial;	/* an unfinished line from the child */
};

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;		/* the pusher went away: the build goes on */
		p += w;
		n -= (size_t)w;
	}
}

/* One line (no newline in it) to the pusher and the log. */
static void out_line(struct out *o, const char *line, size_t len)
{
	struct deis_buf b = DEIS_BUF_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	deis_buf_add(&b, line, len);
	deis_buf_addch(&b, '\n');
	write_all(o->fd, b.data, b.len);
	if (o->log && o->src[0]) {
		b.data[--b.len] = '\0';
		if (deis_logemit_send(o->log, o->app, o->src, b.data, &err) < 0) {
			deis_logemit_close(o->log);
			o->log = NULL;
			deis_buf_reset(&b);
			deis_buf_addf(&b, " !     warning: the build log is not kept: %s\n",
				      err.msg);
			write_all(o->fd, b.data, b.len);
		}
	}
	deis_buf_release(&b);
}

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void outf(struct out *o, const char *fmt, ...)
{
	struct deis_buf b = DEIS_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	deis_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	out_line(o, b.data, b.len);
	deis_buf_release(&b);
}

/* Output of the child: whole lines go out, the rest waits (or is cut). */
static void out_feed(struct out *o, const char *p, size_t n, bool eof)
{
	deis_buf_add(&o->partial, p, n);
	if (!o->partial.len)
		return;
	size_t start = 0;
	for (;;) {
		char *nl = memchr(o->partial.data + start, '\n', o->partial.len - start);
		size_t len = nl ? (size_t)(nl - (o->partial.data + start))
				: o->partial.len - start;

		if (!nl && !(eof && len) && len < LINE_MAX_BYTES)
			break;
		if (!nl && len > LINE_MAX_BYTES)
			len = LINE_MAX_BYTES;
		size_t shown = len;
		if (shown && o->partial.data[start + shown - 1] == '\r')
			shown--;
		out_line(o, o->partial.data + start, shown);
		start += len + (nl ? 1 : 0);
		if (start >= o->partial.len)
			break;
	}
	if (start) {
		memmove(o->partial.data, o->partial.data + start, o->partial.len - start);
		o->partial.len -= start;
		o->partial.data[o->partial.len] = '\0';
	}
}

/* ---- the child's side ---- */

/* The child's lines go to its stdout, the pipe to the parent; the
 * hook's to the pusher. */
void builder_say(const char *fmt, ...)
{
	struct deis_buf b = DEIS_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	deis_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	deis_buf_addch(&b, '\n');
	write_all(1, b.data, b.len);
	deis_buf_release(&b);
}

/* What a buildpack is given and what it gives back. */
struct bp_build {
	const struct build_ctx *ctx;
	int number;
	const struct deis_kvlist *procfile;	/* the app's Procfile; empty: none */
	const char *no_procfile;	/* why there is none, for the user */
	const struct deis_kvlist *config;	/* the current release's vars */
	struct deis_kvlist env;		/* config_vars of bin/release */
	struct deis_kvlist procs;	/* the process types of the slug */
	char name[64];			/* what bin/detect printed */
	const char *label;		/* the buildpack's label in the image */
	char bp_dir[4096];		/* a buildpack that runs programs */
	char cache_dir[4096];
	char env_dir[4096];
};

struct buildpack {
	const char *name;
	const char *id;		/* its BUILDPACK_URL name */
	/* 1 when it builds this app, 0 when not, < 0 on error. */
	int (*detect)(struct bp_build *b, struct deis_error *err);
	/* The built-in buildpack under $DEIS_HOME/builder/buildpacks run in a
	 * container (bin/compile, bin/release); NULL: nothing to run. */
	const char *dir;
};

/* 1 when dir/name is a regular file (or, with want_dir, a directory). */
static int has_entry(const char *dir, const char *name, bool want_dir,
		     struct deis_error *err)
{
	struct stat st;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return deis_error_set(err, errno, "%s: %s", dir, strerror(errno));
	int r = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		(want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
	close(dfd);
	return r;
}

/* The built-in Procfile-only buildpack: the tree is the slug as pushed. */
static int procfile_detect(struct bp_build *b, struct deis_error *err)
{
	return has_entry(b->ctx->src_dir, "Procfile", false, err);
}

/* A built-in buildpack that needs a program of the host stack. */
static int need_tool(const char *what, const char *tool, struct deis_error *err)
{
	if (access(tool, X_OK) == 0)
		return 1;
	return deis_error_set(err, ENOENT, "this is a %s app, but %s is not on the stack "
			      "(install it on the host)", what, tool);
}

static int nodejs_detect(struct bp_build *b, struct deis_error *err)
{
	int r = has_entry(b->ctx->src_dir, "package.json", false, err);

	if (r > 0)
		r = need_tool("Node.js", "/usr/bin/npm", err);
	return r;
}

static int make_detect(struct bp_build *b, struct deis_error *err)
{
	int r = has_entry(b->ctx->src_dir, "Makefile", false, err);

	if (r > 0)
		r = need_tool("Makefile", "/usr/bin/make", err);
	return r;
}

static int static_detect(struct bp_build *b, struct deis_error *err)
{
	int r = has_entry(b->ctx->src_dir, "index.html", false, err);

	if (r == 0)
		r = has_entry(b->ctx->src_dir, "public", true, err);
	if (r > 0)
		r = need_tool("static", "/usr/bin/python3", err);
	return r;
}

/* In detect order, after the app's BUILDPACK_URL. */
static const struct buildpack buildpacks[] = {
	{ "Node.js", "nodejs", nodejs_detect, "nodejs" },
	{ "Makefile", "make", make_detect, "Makefile" },
	{ "static", "static", static_detect, "static" },
	{ "Procfile-only", "procfile", procfile_detect, NULL },
};

#define N_BUILDPACKS (sizeof(buildpacks) / sizeof(buildpacks[0]))

static const struct buildpack *builtin_named(const char *id)
{
	for (size_t i = 0; i < N_BUILDPACKS; i++)
		if (!strcmp(buildpacks[i].id, id))
			return &buildpacks[i];
	return NULL;
}

/*
 * BUILDPACK_URL, checked before the build runs anything: empty (detect),
 * a built-in name, or a git URL with a network transport
 * (deis_valid_buildpack_git_url: https, http, git).  Never a path or a
 * file:// URL (root would copy any host directory, other apps' repositories
 * included, into the build) nor ssh (root's own keys would authenticate the
 * clone), nor git's other transports (ext:: runs a command).
 */
static int buildpack_url_check(const struct deis_kvlist *config, struct deis_error *err)
{
	const char *url = deis_kvlist_get(config, "BUILDPACK_URL");
	char shown[160];

	if (!url || !url[0] || builtin_named(url) || deis_valid_buildpack_git_url(url))
		return 0;
	return deis_error_set(err, EINVAL, "BUILDPACK_URL %s: only https://, http:// or "
			      "git:// URLs or a built-in buildpack (nodejs, make, static, "
			      "procfile) are accepted",
			      deis_printable(shown, sizeof(shown), url, strlen(url)));
}

static int step_failed(const char *step, const struct deis_runtime_exit *ex,
		       struct deis_error *err)
{
	if (ex->signal)
		return deis_error_set(err, EIO, "%s was killed by signal %d", step, ex->signal);
	return deis_error_set(err, EIO, "%s exited with status %d", step, ex->code);
}

/* A scratch file for a step's stdout (bin/detect, bin/release). */
static int out_file(const struct bp_build *b, const char *name, struct deis_error *err)
{
	struct deis_buf p = DEIS_BUF_INIT;

	deis_buf_addf(&p, "%s/%s.out", b->ctx->work_dir, name);
	int fd = open(p.data, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = deis_error_set(err, errno, "%s: %s", p.data, strerror(errno));
	deis_buf_release(&p);
	return fd;
}

/* What a step wrote to fd (at most 64 KiB), NUL-terminated, into out. */
static int read_back(int fd, struct deis_buf *out, struct deis_error *err)
{
	char buf[4096];

	if (lseek(fd, 0, SEEK_SET) < 0)
		return deis_error_set(err, errno, "lseek: %s", strerror(errno));
	while (out->len < 64 * 1024) {
		ssize_t got = read(fd, buf, sizeof(buf));

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return deis_error_set(err, errno, "read: %s", strerror(errno));
		if (got == 0)
			break;
		deis_buf_add(out, buf, (size_t)got);
	}
	deis_buf_adds(out, "");
	return 0;
}

/* The dirs a container step needs: the tree given to the build user, the
 * app's cache, the env dir. */
static int container_prepare(struct bp_build *b, struct bp_run *run, struct deis_error *err)
{
	const struct build_ctx *ctx = b->ctx;
	char state[4096];
	int r;

	snprintf(b->env_dir, sizeof(b->env_dir), "%s/env", ctx->work_dir);
	if ((r = builder_chown_tree(ctx->src_dir, err)) < 0 ||
	    (r = builder_cache_dir(ctx->app, b->cache_dir, sizeof(b->cache_dir), err)) < 0 ||
	    (r = builder_env_dir(b->env_dir, b->config, err)) < 0)
		return r;
	if (builder_runc_state(state, sizeof(state)) == 0 && mkdir(state, 0700) < 0 &&
	    errno != EEXIST)
		return deis_error_set(err, errno, "mkdir %s: %s", state, strerror(errno));
	*run = (struct bp_run){
		.app = ctx->app, .number = b->number, .bp_dir = b->bp_dir,
		.build_dir = ctx->src_dir, .cache_dir = b->cache_dir,
		.env_dir = b->env_dir, .work_dir = ctx->work_dir,
	};
	return 0;
}

/* git clone --depth 1 [--branch REF] -- URL DIR, started with posix_spawn
 * (no shell), its output in the build log; inside the build's time limit.
 * git is confined to the URL's own transports (GIT_ALLOW_PROTOCOL also
 * binds redirects and submodules), reads no system or root's config,
 * credentials or ~/.netrc (HOME is not root's), and never prompts. */
static int clone_buildpack(const char *url, const char *dir, struct deis_error *err)
{
	char repo[1024], ref[256] = "";
	const char *hash = strchr(url, '#');
	size_t n = hash ? (size_t)(hash - url) : strlen(url);
	pid_t pid;
	int status;

	if (n >= sizeof(repo) || (hash && strlen(hash + 1) >= sizeof(ref)))
		return deis_error_set(err, EINVAL, "BUILDPACK_URL is too long");
	memcpy(repo, url, n);
	repo[n] = '\0';
	if (hash)
		snprintf(ref, sizeof(ref), "%s", hash + 1);
	if (ref[0] == '-')
		return deis_error_set(err, EINVAL, "BUILDPACK_URL %s: bad ref", url);
	const char *argv[] = { builder_conf.git, "clone", "-q", "--depth", "1",
			       ref[0] ? "--branch" : "--", ref[0] ? ref : repo,
			       ref[0] ? "--" : dir, ref[0] ? repo : NULL, ref[0] ? dir : NULL,
			       NULL };
	/* Not the hook's GIT_* variables (the pushed repository, its
	 * quarantine): this clone is a different repository. */
	static char *const confine[] = {
		(char *)"GIT_ALLOW_PROTOCOL=https:http:git",
		(char *)"GIT_CONFIG_NOSYSTEM=1", (char *)"GIT_CONFIG_GLOBAL=/dev/null",
		(char *)"GIT_TERMINAL_PROMPT=0", (char *)"GIT_ASKPASS=/bin/false",
		(char *)"SSH_ASKPASS=/bin/false", (char *)"HOME=/nonexistent",
	};
	extern char **environ;
	size_t ne = sizeof(confine) / sizeof(*confine);
	for (char **e = environ; *e; e++)
		ne++;
	char **env = calloc(ne + 1, sizeof(*env));
	if (!env)
		abort();
	ne = 0;
	for (size_t i = 0; i < sizeof(confine) / sizeof(*confine); i++)
		env[ne++] = confine[i];
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "GIT_", 4) && strncmp(*e, "SSH_", 4) && strncmp(*e, "HOME=", 5))
			env[ne++] = *e;
	int r = posix_spawn(&pid, builder_conf.git, NULL, NULL, (char *const *)argv, env);
	free(env);
	if (r)
		return deis_error_set(err, r, "git clone: %s", strerror(r));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return deis_error_set(err, errno, "git clone: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return deis_error_set(err, EIO, "BUILDPACK_URL %s: git clone failed", url);
	return 0;
}

/* BUILDPACK_URL: a git URL (buildpack_url_check) cloned for this build;
 * its bin/detect must agree. */
static int custom_detect(struct bp_build *b, const char *url, struct bp_run *run,
			 struct deis_error *err)
{
	struct deis_runtime_exit ex = { 0, 0 };
	struct deis_buf name = DEIS_BUF_INIT;
	struct stat st;
	char dir[512];
	int r, fd;

	/* Checked by the parent before the build began; again here, so
	 * that nothing else ever reaches git. */
	if (!deis_valid_buildpack_git_url(url))
		return deis_error_set(err, EINVAL, "BUILDPACK_URL is not a git URL");
	if ((size_t)snprintf(dir, sizeof(dir), "%s/buildpack", b->ctx->work_dir) >=
	    sizeof(dir))
		return deis_error_set(err, ENAMETOOLONG, "work directory path too long");
	builder_say("-----> Fetching buildpack %s", url);
	if ((r = clone_buildpack(url, dir, err)) < 0)
		return r;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    (size_t)snprintf(b->bp_dir, sizeof(b->bp_dir), "%s", dir) >= sizeof(b->bp_dir))
		return deis_error_set(err, ENOENT, "BUILDPACK_URL %s: no buildpack cloned", url);
	if ((r = container_prepare(b, run, err)) < 0)
		return r;
	if ((fd = out_file(b, "detect", err)) < 0)
		return fd;
	r = builder_bp_step(run, "detect", fd, &ex, err);
	if (r == 0 && (ex.code || ex.signal)) {
		r = step_failed("detect", &ex, err);
		deis_error_prefix(err, "the buildpack of BUILDPACK_URL does not build this app");
	}
	if (r == 0 && (r = read_back(fd, &name, err)) == 0) {
		size_t n = strcspn(name.data, "\r\n");

		if (!n || n >= sizeof(b->name))
			snprintf(b->name, sizeof(b->name), "%s", "Custom");
		else
			snprintf(b->name, sizeof(b->name), "%.*s", (int)n, name.data);
	}
	close(fd);
	deis_buf_release(&name);
	return r;
}

/* bin/compile (output to the build log), then bin/release. */
static int container_build(struct bp_build *b, const struct bp_run *run,
			   struct deis_buf *types, struct deis_error *err)
{
	struct deis_runtime_exit ex = { 0, 0 };
	struct deis_buf yaml = DEIS_BUF_INIT;
	int r, fd;

	if ((r = builder_bp_step(run, "compile", 1, &ex, err)) < 0)
		return r;
	if (ex.code || ex.signal)
		return step_failed("compile", &ex, err);
	if ((fd = out_file(b, "release", err)) < 0)
		return fd;
	r = builder_bp_step(run, "release", fd, &ex, err);
	if (r == 0 && (ex.code || ex.signal))
		r = step_failed("release", &ex, err);
	if (r == 0)
		r = read_back(fd, &yaml, err);
	if (r == 0)
		r = builder_release_parse(yaml.data, types, &b->env, err);
	close(fd);
	deis_buf_release(&yaml);
	return r;
}

/* Picks and runs the buildpack; b->procs gets the slug's process types:
 * the Procfile's, else the buildpack's default_process_types. */
static int run_buildpack(struct bp_build *b, const char **label, struct deis_error *err)
{
	const struct build_ctx *ctx = b->ctx;
	const char *url = deis_kvlist_get(b->config, "BUILDPACK_URL");
	struct deis_buf types = DEIS_BUF_INIT, path = DEIS_BUF_INIT;
	struct bp_run run;
	bool in_container = false;
	int r = 0;

	const struct buildpack *named = url && url[0] ? builtin_named(url) : NULL;

	if (url && url[0] && !named) {
		if ((r = custom_detect(b, url, &run, err)) < 0)
			goto out;
		in_container = true;
		*label = b->name;
	} else {
		const struct buildpack *bp = NULL;

		/* A built-in one by name: its detect must agree. */
		for (size_t i = 0; !bp && i < N_BUILDPACKS; i++) {
			if (named && &buildpacks[i] != named)
				continue;
			r = buildpacks[i].detect(b, err);
			if (r < 0)
				goto out;
			if (r > 0)
				bp = &buildpacks[i];
		}
		if (!bp && named) {
			r = deis_error_set(err, ENOENT, "the %s buildpack does not build this app "
					   "(BUILDPACK_URL %s)", named->name, named->id);
			goto out;
		}
		if (!bp) {
			r = deis_error_set(err, ENOENT, "%s", b->no_procfile ? b->no_procfile :
					   "no buildpack detects this app");
			goto out;
		}
		snprintf(b->name, sizeof(b->name), "%s", bp->name);
		*label = bp->name;
		if (bp->dir) {
			char dir[4096];

			if ((r = builder_buildpacks_install(dir, sizeof(dir), err)) < 0)
				goto out;
			if ((size_t)snprintf(b->bp_dir, sizeof(b->bp_dir), "%s/%s", dir,
					     bp->dir) >= sizeof(b->bp_dir)) {
				r = deis_error_set(err, ENAMETOOLONG, "$DEIS_HOME is too long");
				goto out;
			}
			if ((r = container_prepare(b, &run, err)) < 0)
				goto out;
			in_container = true;
		}
	}
	builder_say("-----> %s app detected", b->name);
	if (in_container && (r = container_build(b, &run, &types, err)) < 0)
		goto out;
	if (b->procfile->n) {
		deis_kvlist_copy(&b->procs, b->procfile);
		goto out;
	}
	if (!types.len) {
		r = deis_error_set(err, ENOENT, "%s; the %s buildpack declares no default "
				   "process types", b->no_procfile ? b->no_procfile :
				   "no Procfile", b->name);
		goto out;
	}
	if ((r = builder_procfile_parse(types.data, types.len, &b->procs, err)) < 0) {
		deis_error_prefix(err, "the buildpack's default_process_types");
		goto out;
	}
	/* For the parent, which records the build's process types. */
	deis_buf_addf(&path, "%s/Procfile", ctx->work_dir);
	int fd = open(path.data, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = deis_error_set(err, errno, "%s: %s", path.data, strerror(errno));
		goto out;
	}
	write_all(fd, types.data, types.len);
	close(fd);
	deis_buf_reset(&path);
	for (size_t i = 0; i < b->procs.n; i++)
		deis_buf_addf(&path, "%s%s", i ? ", " : "", b->procs.items[i].key);
	builder_say("-----> Default process types for %s -> %s", b->name, path.data);
out:
	deis_buf_release(&types);
	deis_buf_release(&path);
	return r < 0 ? r : 0;
}

static void human_size(long long n, char *out, size_t size)
{
	if (n < 1024 * 1024)
		snprintf(out, size, "%.1fK", (double)n / 1024);
	else
		snprintf(out, size, "%.1fM", (double)n / (1024 * 1024));
}

/*
 * The image's config: the stack's (its Env, Entrypoint, User) with the
 * build's env and PORT over it, the Procfile as labels, and what
 * `docker run` starts: web, or the only process type, under bash -c as
 * the platform starts it.  Its layers are the stack's and the slug.
 */
static void image_config(const struct bp_build *b, const struct deis_image *stack,
			 const char *diff_id, struct deis_image_config *c)
{
	const struct build_ctx *ctx = b->ctx;
	const char *cmd = deis_kvlist_get(&b->procs, "web");
	char num[16], label[160];

	c->created = time(NULL);
	deis_kvlist_copy(&c->procfile, &b->procs);
	deis_kvlist_copy(&c->env, &stack->config.env);
	for (size_t i = 0; i < b->env.n; i++)
		deis_kvlist_set(&c->env, b->env.items[i].key, b->env.items[i].value);
	deis_kvlist_set(&c->env, "PORT", STACK_PORT);
	deis_kvlist_sort(&c->env);
	deis_strlist_copy(&c->entrypoint, &stack->config.entrypoint);
	if (!cmd && b->procs.n == 1)
		cmd = b->procs.items[0].value;
	if (cmd) {
		deis_strlist_add(&c->cmd, "/bin/bash");
		deis_strlist_add(&c->cmd, "-c");
		deis_strlist_add(&c->cmd, cmd);
	}
	memcpy(c->user, stack->config.user, sizeof(c->user));
	deis_strlist_add(&c->ports, STACK_PORT "/tcp");
	snprintf(num, sizeof(num), "%d", b->number);
	deis_kvlist_set(&c->labels, "io.deis.build.git-sha", ctx->commit);
	deis_kvlist_set(&c->labels, "io.deis.build.number", num);
	deis_kvlist_set(&c->labels, "io.deis.build.buildpack", b->label);
	snprintf(label, sizeof(label), "%s@%s", DEIS_STACK_IMAGE, stack->digest);
	deis_kvlist_set(&c->labels, "io.deis.stack", label);
	deis_strlist_copy(&c->diff_ids, &stack->config.diff_ids);
	deis_strlist_add(&c->diff_ids, diff_id);
}

/* Pushes the slug over the stack (deis/stack:12, which a platform
 * without it lacks: then nothing is built) as <app>:build-<n>. */
static int push_image(struct bp_build *b, const char *slug,
		      char digest[DEIS_DIGEST_SIZE], struct deis_error *err)
{
	struct deis_image_config c = DEIS_IMAGE_CONFIG_INIT;
	struct deis_buf json = DEIS_BUF_INIT;
	struct deis_registry *reg = NULL;
	struct deis_image stack;
	char diff_id[DEIS_DIGEST_SIZE], ref[160], shown[32];
	int r;

	struct timespec t0, t1;

	memset(&stack, 0, sizeof(stack));
	if ((r = deis_digest_gunzip_file(slug, diff_id, err)) < 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((r = deis_registry_open_platform(&reg, err)) < 0)
		goto out;
	if ((r = deis_registry_pull_image(reg, DEIS_STACK_IMAGE, &stack, err)) < 0) {
		deis_error_prefix(err, "the stack %s (packaging/up pushes it)",
				  DEIS_STACK_IMAGE);
		goto out;
	}
	image_config(b, &stack, diff_id, &c);
	if ((r = deis_image_config_build(&c, &json, err)) < 0)
		goto out;
	snprintf(ref, sizeof(ref), "%s:build-%d", b->ctx->app, b->number);
	r = deis_registry_push_image_layers(reg, ref, DEIS_STACK_REPO,
					    stack.manifest.layers,
					    stack.manifest.n_layers, slug,
					    json.data, json.len, digest, err);
	if (r == 0) {
		const struct deis_registry_stats *st = deis_registry_stats(reg);

		clock_gettime(CLOCK_MONOTONIC, &t1);
		human_size(st->bytes_uploaded, shown, sizeof(shown));
		builder_say("-----> Pushed %s: %lu blob(s) sent (%s), %lu stack "
			    "layer(s) mounted, %lu blob(s) already there (%lld ms)", ref,
			    st->blobs_uploaded, shown, st->blobs_mounted,
			    st->blobs_skipped, (long long)(t1.tv_sec - t0.tv_sec) * 1000 +
			    (t1.tv_nsec - t0.tv_nsec) / 1000000);
	}
out:
	if (r < 0)
		deis_error_prefix(err, "pushing the image");
	deis_image_clear(&stack);
	deis_registry_close(reg);
	deis_image_config_clear(&c);
	deis_buf_release(&json);
	return r;
}

/* The child's work: buildpack, slug, image.  digest gets the manifest's. */
static int child_build(struct bp_build *b, char digest[DEIS_DIGEST_SIZE],
		       struct deis_error *err)
{
	const struct build_ctx *ctx = b->ctx;
	struct deis_buf path = DEIS_BUF_INIT;
	char shown[32];
	long long size = 0;
	int r = 0;

	if ((r = run_buildpack(b, &b->label, err)) < 0)
		return r;
	deis_buf_addf(&path, "%s/slug.tar.gz", ctx->work_dir);
	r = builder_slug_write(ctx->src_dir, path.data, ctx->commit_time,
			       (long long)builder_conf.slug_limit * 1024 * 1024, &size, err);
	if (r == 0) {
		human_size(size, shown, sizeof(shown));
		builder_say("-----> Compressing... %s", shown);
		r = push_image(b, path.data, digest, err);
	}
	deis_buf_release(&path);
	return r;
}

/* In the child: never returns. */
static void child_main(struct bp_build *b, int out_w, int res_w)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char digest[DEIS_DIGEST_SIZE] = "";
	struct deis_buf res = DEIS_BUF_INIT;
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	setpgid(0, 0);
	if (null < 0 || dup2(null, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0)
		_exit(127);
	int r = child_build(b, digest, &err);
	if (r < 0)
		deis_buf_addf(&res, "E%s", err.msg);
	else
		deis_buf_addf(&res, "D%s", digest);
	write_all(res_w, res.data, res.len);
	_exit(r < 0 ? 1 : 0);
}

/* ---- the parent's side ---- */

/* Runs the child, relaying its output until it ends or the deadline;
 * digest gets the image's manifest digest. */
static int run_child(struct bp_build *b, struct out *o, long long deadline,
		     char digest[DEIS_DIGEST_SIZE], struct deis_error *err)
{
	int outp[2], resp[2];
	char buf[8192], res[RESULT_MAX];
	size_t rlen = 0;
	bool timed_out = false;
	int status = 0;

	if (pipe2(outp, O_CLOEXEC) < 0)
		return deis_error_set(err, errno, "pipe: %s", strerror(errno));
	if (pipe2(resp, O_CLOEXEC) < 0) {
		int e = errno;
		close(outp[0]);
		close(outp[1]);
		return deis_error_set(err, e, "pipe: %s", strerror(e));
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(outp[0]);
		close(outp[1]);
		close(resp[0]);
		close(resp[1]);
		return deis_error_set(err, e, "fork: %s", strerror(e));
	}
	if (pid == 0) {
		close(outp[0]);
		close(resp[0]);
		child_main(b, outp[1], resp[1]);
	}
	setpgid(pid, pid);
	close(outp[1]);
	close(resp[1]);
	for (;;) {
		long long left = deadline - deis_mono_ms();
		struct pollfd p = { .fd = outp[0], .events = POLLIN };

		if (left <= 0) {
			timed_out = true;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		ssize_t got = read(outp[0], buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		out_feed(o, buf, (size_t)got, false);
	}
	out_feed(o, "", 0, true);
	close(outp[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* Whatever is left in the group (a runc buildpack's processes). */
	kill(-pid, SIGKILL);
	for (;;) {
		ssize_t got = read(resp[0], res + rlen, sizeof(res) - 1 - rlen);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		rlen += (size_t)got;
		if (rlen == sizeof(res) - 1)
			break;
	}
	close(resp[0]);
	res[rlen] = '\0';
	if (timed_out) {
		/* runc was killed with the group; its container may not be. */
		struct deis_error rerr = DEIS_ERROR_INIT;
		char id[DEIS_RUNTIME_ID_MAX + 1], state[4096];

		if (builder_container_id(b->ctx->app, b->number, id, sizeof(id)) == 0 &&
		    builder_runc_state(state, sizeof(state)) == 0 && access(state, F_OK) == 0)
			deis_runtime_delete(state, id, 1, &rerr);
		builder_net_gc();	/* and its network */
	}
	if (timed_out)
		return deis_error_set(err, ETIMEDOUT, "the build took longer than %d s "
				      "(builder_build_timeout) and was stopped",
				      builder_conf.build_timeout);
	if (res[0] == 'E')
		return deis_error_set(err, EIO, "%s", res + 1);
	if (res[0] != 'D' || !deis_valid_digest(res + 1) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		if (WIFSIGNALED(status))
			return deis_error_set(err, EIO, "the build was killed by signal %d",
					      WTERMSIG(status));
		return deis_error_set(err, EIO, "the build ended without a result "
				      "(exit status %d)", WIFEXITED(status) ?
				      WEXITSTATUS(status) : -1);
	}
	memcpy(digest, res + 1, strlen(res + 1) + 1);	/* 71 bytes: checked */
	return 0;
}

/* Tags the manifest digest of app as tag too (the same bytes). */
static int tag_image(const char *app, const char *digest, const char *tag,
		     struct deis_error *err)
{
	struct deis_registry *reg = NULL;
	struct deis_buf m = DEIS_BUF_INIT;
	char got[DEIS_DIGEST_SIZE];
	int r = deis_registry_open_platform(&reg, err);

	if (r == 0)
		r = deis_registry_manifest_get(reg, app, digest, &m, got, err);
	if (r == 0)
		r = deis_registry_manifest_put(reg, app, tag, m.data, m.len, got, err);
	deis_registry_close(reg);
	deis_buf_release(&m);
	return r;
}

static void publish(struct deis_cache **cache, struct out *o, const char *app)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (!*cache && deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
				       deis_conf.redis_password, cache, &err) < 0)
		*cache = NULL;
	if (!*cache || deis_cache_publish(*cache, "app", app, &err) < 0)
		outf(o, " !     warning: the change was not announced (%s); mounts see it "
		     "at their next resync", err.msg);
}

static void deploy_say(void *o, const char *line)
{
	out_line(o, line, strlen(line));
}

/* The config vars of the app's current release into out. */
static int load_config(struct deis_db *db, const char *app, struct deis_kvlist *out,
		       struct deis_error *err)
{
	struct deis_app **apps = NULL;
	size_t n = 0;
	int r = deis_db_load_apps(db, app, NULL, &apps, &n, err);

	if (r < 0)
		return r;
	const struct deis_release *rel = n ? deis_app_current(apps[0]) : NULL;
	if (rel)
		deis_kvlist_copy(out, &rel->config);
	for (size_t i = 0; i < n; i++)
		deis_app_free(apps[i]);
	free(apps);
	return 0;
}

int builder_build(const struct build_ctx *ctx, struct deis_error *err)
{
	struct out o = { .fd = ctx->out_fd, .app = ctx->app, .partial = DEIS_BUF_INIT };
	struct deis_kvlist procfile = DEIS_KVLIST_INIT, config = DEIS_KVLIST_INIT;
	struct deis_buf types = DEIS_BUF_INIT;
	struct deis_db *db = NULL;
	char *no_procfile = NULL;
	struct deis_cache *cache = NULL;
	char digest[DEIS_DIGEST_SIZE], image[160], sha7[8], tag[32];
	long long deadline = deis_mono_ms() + (long long)builder_conf.build_timeout * 1000;
	int number = 0, version = 0, r;

	signal(SIGPIPE, SIG_IGN);
	snprintf(sha7, sizeof(sha7), "%.7s", ctx->commit);
	if ((r = deis_db_open(deis_conf.database, &db, err)) < 0 ||
	    (r = deis_db_build_create(db, ctx->app, ctx->user, ctx->commit, &number,
				      err)) < 0) {
		deis_error_prefix(err, "recording the build");
		outf(&o, "-----> Building %s from %s (%s)", ctx->app, ctx->branch, sha7);
		outf(&o, "-----> Build failed: %s", err->msg);
		goto out;
	}
	snprintf(o.src, sizeof(o.src), "build.%d", number);
	struct deis_error lerr = DEIS_ERROR_INIT;
	if (deis_logemit_open(deis_conf.syslog_socket, &o.log, &lerr) < 0)
		o.log = NULL;
	outf(&o, "-----> Building %s from %s (%s), pushed by %s", ctx->app, ctx->branch,
	     sha7, ctx->user);
	publish(&cache, &o, ctx->app);

	/* No Procfile is fine when a buildpack declares the process types. */
	if ((r = builder_procfile_read(ctx->src_dir, &procfile, err)) == -ENOENT) {
		no_procfile = strdup(err->msg);
		*err = (struct deis_error)DEIS_ERROR_INIT;
	} else if (r < 0) {
		goto failed;
	} else {
		for (size_t i = 0; i < procfile.n; i++)
			deis_buf_addf(&types, "%s%s", i ? ", " : "", procfile.items[i].key);
		outf(&o, "-----> Procfile declares types -> %s", deis_buf_str(&types));
	}
	if ((r = load_config(db, ctx->app, &config, err)) < 0) {
		deis_error_prefix(err, "reading the app's config");
		goto failed;
	}
	if ((r = buildpack_url_check(&config, err)) < 0)
		goto failed;

	struct bp_build b = { .ctx = ctx, .number = number, .procfile = &procfile,
			      .no_procfile = no_procfile, .config = &config,
			      .env = DEIS_KVLIST_INIT, .procs = DEIS_KVLIST_INIT };
	if ((r = run_child(&b, &o, deadline, digest, err)) < 0)
		goto failed;
	/* The buildpack's default_process_types, written by the child. */
	if (!procfile.n && (r = builder_procfile_read(ctx->work_dir, &procfile, err)) < 0)
		goto failed;
	snprintf(image, sizeof(image), "%s@%s", ctx->app, digest);
	if ((r = deis_db_build_finish(db, ctx->app, number, "succeeded", image, &procfile,
				      err)) < 0) {
		deis_error_prefix(err, "recording the build");
		goto failed;
	}
	r = deis_db_release_create(db, ctx->app, ctx->user, &(struct deis_release_change){
		.kind = DEIS_RELEASE_DEPLOY, .version = number, .key = sha7 }, &version, err);
	if (r < 0) {
		deis_error_prefix(err, "making the release");
		goto failed;
	}
	snprintf(tag, sizeof(tag), "v%d", version);
	struct deis_error terr = DEIS_ERROR_INIT;
	if (tag_image(ctx->app, digest, tag, &terr) < 0)
		outf(&o, " !     warning: the image was not tagged %s: %s", tag, terr.msg);
	outf(&o, "-----> Launching %s", tag);
	publish(&cache, &o, ctx->app);
	/* The push returns when the release is live (deploy.c); if it does
	 * not go live, the build stays good and the push fails. */
	r = builder_deploy_wait(&(struct deploy_wait){
		.db = db, .cache = cache, .app = ctx->app, .version = version,
		.out_fd = ctx->out_fd, .say = deploy_say, .ctx = &o }, err);
	if (r < 0)
		goto out;
	if (deis_conf.http_port != 80)
		outf(&o, "-----> http://%s.%s:%d", ctx->app, deis_conf.platform_domain,
		     deis_conf.http_port);
	else
		outf(&o, "-----> http://%s.%s", ctx->app, deis_conf.platform_domain);
	goto out;
failed:
	outf(&o, "-----> Build failed: %s", err->msg);
	{
		struct deis_error ferr = DEIS_ERROR_INIT;

		if (deis_db_build_finish(db, ctx->app, number, "failed", "", &procfile,
					 &ferr) < 0)
			outf(&o, " !     warning: the build was not marked failed: %s",
			     ferr.msg);
	}
	publish(&cache, &o, ctx->app);
	if (r >= 0)
		r = -EIO;
out:
	deis_cache_close(cache);
	deis_logemit_close(o.log);
	deis_db_close(db);
	deis_kvlist_clear(&procfile);
	deis_kvlist_clear(&config);
	free(no_procfile);
	deis_buf_release(&types);
	deis_buf_release(&o.partial);
	return r < 0 ? r : 0;
}
