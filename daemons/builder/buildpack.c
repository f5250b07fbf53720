/*
 * buildpack.c - buildpacks that run programs (the Heroku contract), each
 * step in a runc container (runtime.h).
 *
 *   bin/detect  BUILD_DIR                    exit 0: it builds this app
 *   bin/compile BUILD_DIR CACHE_DIR ENV_DIR  turns the tree into the slug
 *   bin/release BUILD_DIR                    YAML on stdout:
 *                                            default_process_types, config_vars
 *
 * In the container (uid 10000, the host stack read-only): the build dir is
 * /app (read-write), the app's cache $DEIS_HOME/cache/<app> is /cache
 * (read-write, kept between builds), the env dir (one file per config var
 * of the app's current release) is /env (read-only), the buildpack is
 * /buildpack (read-only).  Every step of a build uses the container id
 * <app>.build-<n> (one at a time), so a build stopped at its deadline can
 * be deleted by name.
 *
 * The built-in buildpacks (nodejs, Makefile, static) are small shell
 * scripts kept here as strings and written to $DEIS_HOME/builder/buildpacks
 * at every build: they run only inside the container, never on the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deis/buf.h"
#include "deis/conf.h"
#include "deis/file.h"
#include "deis/log.h"
#include "deis/net.h"
#include "deis/runtime.h"
#include "deis/validate.h"
#include "builder.h"

struct bp_file {
	const char *pack;
	const char *name;		/* under bin/ */
	const char *text;
};

static const struct bp_file builtin_files[] = {
	{ "nodejs", "detect",
	  "#!/bin/sh\n"
	  "# bin/detect BUILD_DIR\n"
	  "[ -f \"$1/package.json\" ] || exit 1\n"
	  "echo Node.js\n" },
	{ "nodejs", "compile",
	  "#!/bin/sh\n"
	  "# bin/compile BUILD_DIR CACHE_DIR ENV_DIR\n"
	  "set -e\n"
	  "cd \"$1\"\n"
	  "echo \"-----> Installing dependencies: npm install --omit=dev\"\n"
	  "echo \"       node $(node --version), npm $(npm --version)\"\n"
	  "exec npm install --omit=dev --no-audit --no-fund --no-update-notifier \\\n"
	  "\t--cache \"$2/npm\"\n" },
	{ "nodejs", "release",
	  "#!/bin/sh\n"
	  "echo ---\n"
	  "echo default_process_types:\n"
	  "echo '  web: npm start'\n" },
	{ "Makefile", "detect",
	  "#!/bin/sh\n"
	  "[ -f \"$1/Makefile\" ] || exit 1\n"
	  "echo Makefile\n" },
	{ "Makefile", "compile",
	  "#!/bin/sh\n"
	  "cd \"$1\" || exit 1\n"
	  "echo \"-----> Running make\"\n"
	  "exec make\n" },
	{ "Makefile", "release",
	  "#!/bin/sh\n"
	  "echo ---\n" },
	{ "static", "detect",
	  "#!/bin/sh\n"
	  "[ -f \"$1/index.html\" ] || [ -d \"$1/public\" ] || exit 1\n"
	  "echo static\n" },
	{ "static", "compile",
	  "#!/bin/sh\n"
	  "echo \"-----> Static site: nothing to compile\"\n" },
	{ "static", "release",
	  "#!/bin/sh\n"
	  "dir=.\n"
	  "[ -d \"$1/public\" ] && dir=public\n"
	  "echo ---\n"
	  "echo default_process_types:\n"
	  "printf '  web: python3 -m http.server $PORT --directory /app/%s\\n' \"$dir\"\n" },
};

static int mkdir_one(const char *path, mode_t mode, struct deis_error *err)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return deis_error_set(err, errno, "mkdir %s: %s", path, strerror(errno));
	return 0;
}

int builder_buildpacks_install(char *dir, size_t size, struct deis_error *err)
{
	struct deis_buf p = DEIS_BUF_INIT;
	int r;

	if ((size_t)snprintf(dir, size, "%s/builder/buildpacks", deis_conf.home) >= size)
		return deis_error_set(err, ENAMETOOLONG, "$DEIS_HOME is too long");
	deis_buf_addf(&p, "%s/builder", deis_conf.home);
	if ((r = mkdir_one(p.data, 0700, err)) < 0 || (r = mkdir_one(dir, 0755, err)) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(builtin_files) / sizeof(builtin_files[0]); i++) {
		const struct bp_file *f = &builtin_files[i];

		deis_buf_reset(&p);
		deis_buf_addf(&p, "%s/%s", dir, f->pack);
		if ((r = mkdir_one(p.data, 0755, err)) < 0)
			goto out;
		deis_buf_addf(&p, "/bin");
		if ((r = mkdir_one(p.data, 0755, err)) < 0)
			goto out;
		deis_buf_addf(&p, "/%s", f->name);
		if ((r = deis_file_write(p.data, f->text, strlen(f->text), 0755, err)) < 0)
			goto out;
	}
out:
	deis_buf_release(&p);
	return r < 0 ? r : 0;
}

static int chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, DEIS_RUNTIME_UID, DEIS_RUNTIME_UID) < 0 ? -1 : 0;
}

int builder_chown_tree(const char *dir, struct deis_error *err)
{
	if (nftw(dir, chown_entry, 16, FTW_PHYS) != 0)
		return deis_error_set(err, errno ? errno : EIO, "giving %s to the build user: %s",
				      dir, strerror(errno ? errno : EIO));
	return 0;
}

int builder_cache_dir(const char *app, char *out, size_t size, struct deis_error *err)
{
	int r;

	if ((size_t)snprintf(out, size, "%s/cache", deis_conf.home) >= size)
		return deis_error_set(err, ENAMETOOLONG, "$DEIS_HOME is too long");
	/* Root's alone (each app's cache is bind-mounted into its builds). */
	if ((r = mkdir_one(out, 0700, err)) < 0 || chmod(out, 0700) < 0)
		return r < 0 ? r : deis_error_set(err, errno, "chmod %s: %s", out,
						  strerror(errno));
	if ((size_t)snprintf(out, size, "%s/cache/%s", deis_conf.home, app) >= size)
		return deis_error_set(err, ENAMETOOLONG, "$DEIS_HOME is too long");
	if ((r = mkdir_one(out, 0700, err)) < 0)
		return r;
	if (chown(out, DEIS_RUNTIME_UID, DEIS_RUNTIME_UID) < 0)
		return deis_error_set(err, errno, "chown %s: %s", out, strerror(errno));
	return 0;
}

int builder_env_dir(const char *dir, const struct deis_kvlist *config,
		    struct deis_error *err)
{
	int r = mkdir_one(dir, 0700, err);

	if (r < 0)
		return r;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return deis_error_set(err, errno, "%s: %s", dir, strerror(errno));
	if (fchown(dfd, DEIS_RUNTIME_UID, DEIS_RUNTIME_UID) < 0) {
		r = deis_error_set(err, errno, "chown %s: %s", dir, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < config->n; i++) {
		const char *k = config->items[i].key, *v = config->items[i].value;
		size_t len = strlen(v), off = 0;

		if (!deis_valid_config_key(k) || strchr(k, '/') || !strcmp(k, ".") ||
		    !strcmp(k, ".."))
			continue;
		int fd = openat(dfd, k, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
				0400);
		if (fd < 0) {
			r = deis_error_set(err, errno, "%s/%s: %s", dir, k, strerror(errno));
			goto out;
		}
		while (off < len) {
			ssize_t w = write(fd, v + off, len - off);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		if (off < len || fchown(fd, DEIS_RUNTIME_UID, DEIS_RUNTIME_UID) < 0) {
			r = deis_error_set(err, errno ? errno : EIO, "%s/%s: %s", dir, k,
					   strerror(errno ? errno : EIO));
			close(fd);
			goto out;
		}
		close(fd);
	}
out:
	close(dfd);
	return r < 0 ? r : 0;
}

int builder_container_id(const char *app, int number, char *out, size_t size)
{
	if ((size_t)snprintf(out, size, "%s.build-%d", app, number) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* Build networks whose container is not running: what a build killed
 * before it could clean up left behind. */
static void net_gc_one(void *ctx, const char *id, const char *address)
{
	struct deis_net *net = ctx;
	struct deis_error err = DEIS_ERROR_INIT;
	enum deis_runtime_status st = DEIS_RT_UNKNOWN;
	char state[4096];
	pid_t pid = 0;

	if (!strstr(id, ".build-") || builder_runc_state(state, sizeof(state)) < 0)
		return;
	if (deis_runtime_state(state, id, &st, &pid, &err) == 0 && st == DEIS_RT_RUNNING)
		return;
	deis_net_detach(net, id, NULL, address, NULL);
}

void builder_net_gc(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_net *net = NULL;

	if (deis_net_open_platform(0, &net, &err) < 0) {
		deis_log(LOG_WARNING, "the containers' network: %s", err.msg);
		return;
	}
	deis_net_list(net, net_gc_one, net, &err);
	deis_net_close(net);
}

int builder_runc_state(char *out, size_t size)
{
	if ((size_t)snprintf(out, size, "%s/builder/runc", deis_conf.home) >= size)
		return -ENAMETOOLONG;
	return 0;
}

int builder_bp_step(const struct bp_run *run, const char *step, int out_fd,
		    struct deis_runtime_exit *ex, struct deis_error *err)
{
	const struct deis_runtime_mount mounts[] = {
		{ .source = run->bp_dir, .destination = "/buildpack", .readonly = 1 },
		{ .source = run->cache_dir, .destination = "/cache", .readonly = 0 },
		{ .source = run->env_dir, .destination = "/env", .readonly = 1 },
	};
	struct deis_kvlist env = DEIS_KVLIST_INIT;
	struct deis_buf prog = DEIS_BUF_INIT, bundle = DEIS_BUF_INIT;
	char id[DEIS_RUNTIME_ID_MAX + 1], state[4096];
	struct deis_net *net = NULL;
	struct deis_net_endpoint ep = { .address = "" };
	struct stat st;
	int r;

	deis_buf_addf(&prog, "%s/bin/%s", run->bp_dir, step);
	if (stat(prog.data, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
		r = deis_error_set(err, ENOENT, "the buildpack has no executable bin/%s", step);
		goto out;
	}
	deis_buf_reset(&prog);
	deis_buf_addf(&prog, "/buildpack/bin/%s", step);
	const char *argv[] = { prog.data, "/app", "/cache", "/env", NULL };
	if (strcmp(step, "compile"))
		argv[2] = NULL;
	deis_kvlist_set(&env, "STACK", "host");
	struct deis_container_spec spec = {
		.argv = argv, .env = &env, .cwd = "/app", .app_dir = run->build_dir,
		.app_rw = 1, .mounts = mounts, .n_mounts = sizeof(mounts) / sizeof(mounts[0]),
		.tmp_bytes = 256ull << 20,
		.memory_bytes = (uint64_t)builder_conf.build_memory << 20,
		.pids_max = builder_conf.build_pids,
	};
	if (builder_container_id(run->app, run->number, id, sizeof(id)) < 0 ||
	    builder_runc_state(state, sizeof(state)) < 0) {
		r = deis_error_set(err, ENAMETOOLONG, "the container id is too long");
		goto out;
	}
	spec.id = id;
	/* A network of its own, in no group: the outside world through NAT
	 * (npm, git), no platform service, no container. */
	if ((r = deis_net_open_platform(0, &net, err)) < 0 ||
	    (r = deis_net_attach(net, id, NULL, &ep, err)) < 0)
		goto out;
	spec.netns = ep.netns;
	spec.address = ep.address;
	deis_buf_addf(&bundle, "%s/bundle-%s", run->work_dir, step);
	if ((r = deis_runtime_bundle(&spec, bundle.data, err)) < 0)
		goto out;
	struct deis_runtime_io io = { .in = -1, .out = out_fd, .err = 1 };
	pid_t pid = deis_runtime_run(state, bundle.data, id, &io, 0, err);
	if (pid < 0) {
		r = (int)pid;
		goto out;
	}
	r = deis_runtime_wait(pid, 0, ex, err);
out:
	if (r < 0)
		deis_error_prefix(err, "running bin/%s", step);
	if (net) {
		if (ep.address[0])
			deis_net_detach(net, id, NULL, ep.address, NULL);
		deis_net_close(net);
	}
	deis_kvlist_clear(&env);
	deis_buf_release(&prog);
	deis_buf_release(&bundle);
	return r < 0 ? r : 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	if (n >= 2 && ((s[0] == '"' && s[n - 1] == '"') || (s[0] == '\'' && s[n - 1] == '\''))) {
		s[n - 1] = '\0';
		s++;
	}
	return s;
}

int builder_release_parse(const char *text, struct deis_buf *types,
			  struct deis_kvlist *env, struct deis_error *err)
{
	char *copy = strdup(text), *save = NULL;
	enum { NONE, TYPES, VARS } section = NONE;

	if (!copy)
		return deis_error_set(err, ENOMEM, "out of memory");
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		bool indented = line[0] == ' ' || line[0] == '\t';
		char *s = line;

		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#' || !strncmp(s, "---", 3))
			continue;
		char *colon = strchr(s, ':');
		if (!colon) {
			free(copy);
			return deis_error_set(err, EINVAL, "bin/release: not YAML: '%.80s'", s);
		}
		*colon = '\0';
		char *key = trim(s), *value = trim(colon + 1);
		if (!indented) {
			section = !strcmp(key, "default_process_types") ? TYPES :
				  !strcmp(key, "config_vars") ? VARS : NONE;
			continue;
		}
		if (section == TYPES)
			deis_buf_addf(types, "%s: %s\n", key, value);
		else if (section == VARS && deis_valid_config_key(key))
			deis_kvlist_set(env, key, value);
	}
	free(copy);
	return 0;
}
