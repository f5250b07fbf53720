/*
 * runtime_spec.c - what a container is: the checks of a struct
 * deis_container_spec and the OCI runtime config (config.json) made from
 * it with jansson: mounts, env, the process, resources, namespaces, the
 * masked paths.  The seccomp profile is runtime_seccomp.c's, the bundle
 * directory runtime_bundle.c's.  See include/deis/runtime.h and
 * docs/runtime.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "deis/buf.h"
#include "runtime_internal.h"

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
#define DEFAULT_NOFILE 1024
#define DEFAULT_TMP_BYTES ((uint64_t)64 << 20)
#define CPU_PERIOD_US 100000
#define MEMSW_PROBE "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"

/* Read-only host directories of the stack, mounted when they exist. */
const char *const runtime_host_ro_dirs[] = {
	"/etc/ssl/certs",	/* CA certificates (symlinks into /usr/share) */
	"/etc/alternatives",	/* Debian's awk, editor, ... symlinks */
	NULL,
};

/* As runc's default spec (runc spec). */
static const char *const masked_paths[] = {
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/scsi", "/sys/firmware", NULL,
};

static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
	"/proc/sysrq-trigger", NULL,
};

/* ------------------------------------------------------------ validation */

int deis_runtime_check_id(const char *id, struct deis_error *err)
{
	size_t i, n;

	if (!id || !*id)
		return deis_error_set(err, EINVAL, "container id is empty");
	n = strnlen(id, DEIS_RUNTIME_ID_MAX + 1);
	if (n > DEIS_RUNTIME_ID_MAX)
		return deis_error_set(err, EINVAL,
				      "container id longer than %d characters",
				      DEIS_RUNTIME_ID_MAX);
	for (i = 0; i < n; i++) {
		char c = id[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (i > 0 && (c == '.' || c == '_' || c == '-'))
			continue;
		return deis_error_set(err, EINVAL,
				      "container id '%.*s' is not [a-z0-9][a-z0-9._-]*",
				      (int)n, id);
	}
	return 0;
}

/* An absolute path without "." or ".." components. */
static int check_path(const char *what, const char *p, struct deis_error *err)
{
	const char *s;

	if (!p || p[0] != '/')
		return deis_error_set(err, EINVAL, "%s '%s' is not an absolute path",
				      what, p ? p : "(null)");
	if (strnlen(p, PATH_MAX) >= PATH_MAX)
		return deis_error_set(err, ENAMETOOLONG, "%s is too long", what);
	for (s = p; *s; ) {
		size_t n;

		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return deis_error_set(err, EINVAL,
					      "%s '%s' has a '.' or '..' component",
					      what, p);
		s += n;
	}
	return 0;
}

static int check_name(const char *what, const char *s, struct deis_error *err)
{
	size_t i;

	if (!s || !*s || strlen(s) > 32)
		return deis_error_set(err, EINVAL, "%s is empty or too long", what);
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || c == '_' ||
		    (i > 0 && ((c >= '0' && c <= '9') || c == '-')))
			continue;
		return deis_error_set(err, EINVAL, "%s '%s' is not a valid name",
				      what, s);
	}
	return 0;
}

static int check_cap(const char *c, struct deis_error *err)
{
	size_t i;

	if (strncmp(c, "CAP_", 4) || !c[4] || strlen(c) > 64)
		return deis_error_set(err, EINVAL, "capability '%s' is not CAP_*", c);
	for (i = 4; c[i]; i++)
		if (!((c[i] >= 'A' && c[i] <= 'Z') || c[i] == '_'))
			return deis_error_set(err, EINVAL, "capability '%s' is invalid", c);
	return 0;
}

int deis_runtime_check_spec(const struct deis_container_spec *spec,
			    struct deis_error *err)
{
	size_t i;
	int r;

	if (!spec)
		return deis_error_set(err, EINVAL, "no container spec");
	r = deis_runtime_check_id(spec->id, err);
	if (r < 0)
		return r;
	if (!!spec->argv == !!spec->command)
		return deis_error_set(err, EINVAL,
				      "give exactly one of argv and command");
	if (spec->argv && !spec->argv[0])
		return deis_error_set(err, EINVAL, "argv is empty");
	if (spec->command && !*spec->command)
		return deis_error_set(err, EINVAL, "command is empty");
	if (spec->cwd && (r = check_path("cwd", spec->cwd, err)) < 0)
		return r;
	if (spec->app_dir && (r = check_path("app dir", spec->app_dir, err)) < 0)
		return r;
	if (spec->netns && (r = check_path("network namespace", spec->netns, err)) < 0)
		return r;
	if (spec->address) {
		struct in_addr in;

		if (inet_pton(AF_INET, spec->address, &in) != 1)
			return deis_error_set(err, EINVAL, "address '%s' is not an IPv4 address",
					      spec->address);
	}
	if (spec->user && (r = check_name("user", spec->user, err)) < 0)
		return r;
	if (spec->hostname) {
		size_t n = strlen(spec->hostname);

		if (n == 0 || n > 63 || strspn(spec->hostname,
		    "abcdefghijklmnopqrstuvwxyz0123456789-.") != n)
			return deis_error_set(err, EINVAL, "hostname '%s' is invalid",
					      spec->hostname);
	}
	for (i = 0; i < spec->n_mounts; i++) {
		const struct deis_runtime_mount *m = &spec->mounts[i];

		if ((r = check_path("mount source", m->source, err)) < 0 ||
		    (r = check_path("mount destination", m->destination, err)) < 0)
			return r;
		if (!strcmp(m->destination, "/"))
			return deis_error_set(err, EINVAL, "cannot mount over /");
	}
	if (spec->env) {
		for (i = 0; i < spec->env->n; i++) {
			const char *k = spec->env->items[i].key;

			if (!k || !*k)
				return deis_error_set(err, EINVAL, "empty env key");
			if (strchr(k, '='))
				return deis_error_set(err, EINVAL,
						      "env key '%s' holds '='", k);
			if (!spec->env->items[i].value)
				return deis_error_set(err, EINVAL,
						      "env key '%s' has no value", k);
		}
	}
	if (spec->caps)
		for (i = 0; spec->caps[i]; i++)
			if ((r = check_cap(spec->caps[i], err)) < 0)
				return r;
	if (spec->nofile > (1u << 20))
		return deis_error_set(err, EINVAL, "nofile %" PRIu64 " is too large",
				      spec->nofile);
	if (spec->pids_max < 0)
		return deis_error_set(err, EINVAL, "pids_max is negative");
	if (spec->memory_bytes && spec->memory_bytes < (4u << 20))
		return deis_error_set(err, EINVAL, "memory limit below 4M");
	if (spec->cpu_millicores && spec->cpu_millicores < 10)
		return deis_error_set(err, EINVAL, "cpu limit below 10 millicores");
	return 0;
}

/* ------------------------------------------------------------ config.json */

json_t *runtime_strarray(const char *const *v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static void add_mount(json_t *mounts, const char *dest, const char *type,
		      const char *source, const char *const *options)
{
	json_t *m = json_object();

	json_object_set_new(m, "destination", json_string(dest));
	json_object_set_new(m, "type", json_string(type));
	json_object_set_new(m, "source", json_string(source));
	json_object_set_new(m, "options", runtime_strarray(options));
	json_array_append_new(mounts, m);
}

static int dir_exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static json_t *build_mounts(const struct deis_container_spec *spec)
{
	static const char *const proc_o[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const dev_o[] = { "nosuid", "strictatime", "mode=755",
					     "size=65536k", NULL };
	static const char *const pts_o[] = { "nosuid", "noexec", "newinstance",
					     "ptmxmode=0666", "mode=0620",
					     "gid=5", NULL };
	static const char *const shm_o[] = { "nosuid", "noexec", "nodev",
					     "mode=1777", "size=65536k", NULL };
	static const char *const sys_o[] = { "nosuid", "noexec", "nodev", "ro",
					     NULL };
	static const char *const usr_o[] = { "rbind", "ro", "nosuid", "nodev",
					     NULL };
	static const char *const etc_o[] = { "rbind", "ro", "nosuid", "nodev",
					     "noexec", NULL };
	const char *bind_ro[] = { "rbind", "ro", "nosuid", "nodev", NULL };
	const char *bind_rw[] = { "rbind", "rw", "nosuid", "nodev", NULL };
	const char *tmp_o[] = { "nosuid", "nodev", "mode=1777", NULL, NULL };
	char tmpsize[64];
	json_t *mounts = json_array();
	size_t i;

	add_mount(mounts, "/proc", "proc", "proc", proc_o);
	add_mount(mounts, "/dev", "tmpfs", "tmpfs", dev_o);
	add_mount(mounts, "/dev/pts", "devpts", "devpts", pts_o);
	add_mount(mounts, "/dev/shm", "tmpfs", "shm", shm_o);
	add_mount(mounts, "/sys", "sysfs", "sysfs", sys_o);
	add_mount(mounts, "/usr", "bind", "/usr", usr_o);
	for (i = 0; runtime_host_ro_dirs[i]; i++)
		if (dir_exists(runtime_host_ro_dirs[i]))
			add_mount(mounts, runtime_host_ro_dirs[i], "bind",
				  runtime_host_ro_dirs[i], etc_o);
	snprintf(tmpsize, sizeof(tmpsize), "size=%" PRIu64,
		 spec->tmp_bytes ? spec->tmp_bytes : DEFAULT_TMP_BYTES);
	tmp_o[3] = tmpsize;
	add_mount(mounts, "/tmp", "tmpfs", "tmpfs", tmp_o);
	if (spec->app_dir)
		add_mount(mounts, "/app", "bind", spec->app_dir,
			  spec->app_rw ? bind_rw : bind_ro);
	for (i = 0; i < spec->n_mounts; i++)
		add_mount(mounts, spec->mounts[i].destination, "bind",
			  spec->mounts[i].source,
			  spec->mounts[i].readonly ? bind_ro : bind_rw);
	return mounts;
}

static void env_put(json_t *env, const char *k, const char *v)
{
	struct deis_buf b = DEIS_BUF_INIT;

	deis_buf_addf(&b, "%s=%s", k, v);
	json_array_append_new(env, json_string(deis_buf_str(&b)));
	deis_buf_release(&b);
}

static json_t *build_env(const struct deis_container_spec *spec)
{
	static const char *const defaults[][2] = {
		{ "PATH", DEFAULT_PATH }, { "HOME", "/app" },
		{ "LANG", "C.UTF-8" },
	};
	json_t *env = json_array();
	size_t i;

	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		if (!spec->env || !deis_kvlist_get(spec->env, defaults[i][0]))
			env_put(env, defaults[i][0], defaults[i][1]);
	if (!spec->env || !deis_kvlist_get(spec->env, "USER"))
		env_put(env, "USER", spec_user(spec));
	if (spec->env)
		for (i = 0; i < spec->env->n; i++)
			env_put(env, spec->env->items[i].key,
				spec->env->items[i].value);
	return env;
}

static json_t *build_process(const struct deis_container_spec *spec)
{
	static const char *const sh[] = { "/bin/sh", "-c", NULL, NULL };
	const char *shargv[4];
	json_t *p = json_object(), *user = json_object(), *caps = json_object();
	json_t *rl = json_object(), *rls = json_array();
	uint64_t nofile = spec->nofile ? spec->nofile : DEFAULT_NOFILE;
	static const char *const sets[] = { "bounding", "effective", "permitted",
					    "ambient", NULL };
	size_t i;

	/* A terminal: runc makes a pty in the container (its own devpts) and,
	 * run in the foreground, relays it to its own stdio, which it puts
	 * in raw mode; job control, ^C and resizes then work as in a login. */
	json_object_set_new(p, "terminal", spec->terminal ? json_true() : json_false());
	json_object_set_new(user, "uid", json_integer(spec_uid(spec)));
	json_object_set_new(user, "gid", json_integer(spec_gid(spec)));
	json_object_set_new(p, "user", user);
	if (spec->command) {
		memcpy(shargv, sh, sizeof(shargv));
		shargv[2] = spec->command;
		json_object_set_new(p, "args", runtime_strarray(shargv));
	} else {
		json_object_set_new(p, "args", runtime_strarray(spec->argv));
	}
	json_object_set_new(p, "env", build_env(spec));
	json_object_set_new(p, "cwd", json_string(spec->cwd ? spec->cwd : "/app"));
	/* Non-root with no ambient set: the kept ones only matter with
	 * ambient; keep them in all sets so that they are usable. */
	for (i = 0; sets[i]; i++)
		json_object_set_new(caps, sets[i], runtime_strarray(spec->caps));
	json_object_set_new(p, "capabilities", caps);
	json_object_set_new(rl, "type", json_string("RLIMIT_NOFILE"));
	json_object_set_new(rl, "hard", json_integer((json_int_t)nofile));
	json_object_set_new(rl, "soft", json_integer((json_int_t)nofile));
	json_array_append_new(rls, rl);
	json_object_set_new(p, "rlimits", rls);
	json_object_set_new(p, "noNewPrivileges", json_true());
	return p;
}

static json_t *build_resources(const struct deis_container_spec *spec)
{
	json_t *r = json_object(), *devs = json_array(), *deny = json_object();

	json_object_set_new(deny, "allow", json_false());
	json_object_set_new(deny, "access", json_string("rwm"));
	json_array_append_new(devs, deny);
	json_object_set_new(r, "devices", devs);
	if (spec->memory_bytes) {
		json_t *m = json_object();

		json_object_set_new(m, "limit",
				    json_integer((json_int_t)spec->memory_bytes));
		/* memory+swap = memory: no swap, when the kernel accounts it */
		if (access(MEMSW_PROBE, F_OK) == 0)
			json_object_set_new(m, "swap",
					    json_integer((json_int_t)spec->memory_bytes));
		json_object_set_new(r, "memory", m);
	}
	if (spec->cpu_millicores) {
		json_t *c = json_object();
		uint64_t quota = (uint64_t)spec->cpu_millicores * CPU_PERIOD_US / 1000;

		json_object_set_new(c, "quota", json_integer((json_int_t)quota));
		json_object_set_new(c, "period", json_integer(CPU_PERIOD_US));
		json_object_set_new(r, "cpu", c);
	}
	if (spec->pids_max) {
		json_t *p = json_object();

		json_object_set_new(p, "limit", json_integer(spec->pids_max));
		json_object_set_new(r, "pids", p);
	}
	return r;
}

static json_t *build_linux(const struct deis_container_spec *spec)
{
	static const char *const ns[] = { "pid", "mount", "uts", "ipc", "network", NULL };
	json_t *l = json_object(), *nss = json_array();
	struct deis_buf path = DEIS_BUF_INIT;
	size_t i;

	json_object_set_new(l, "resources", build_resources(spec));
	deis_buf_addf(&path, "deis/%s", spec->id);
	json_object_set_new(l, "cgroupsPath", json_string(deis_buf_str(&path)));
	deis_buf_release(&path);
	for (i = 0; ns[i]; i++) {
		json_t *n = json_object();

		json_object_set_new(n, "type", json_string(ns[i]));
		/* The network: the namespace the caller made (lib/net.c), else
		 * a new one holding only lo. */
		if (!strcmp(ns[i], "network") && spec->netns)
			json_object_set_new(n, "path", json_string(spec->netns));
		json_array_append_new(nss, n);
	}
	json_object_set_new(l, "namespaces", nss);
	json_object_set_new(l, "seccomp", runtime_seccomp_json());
	json_object_set_new(l, "maskedPaths", runtime_strarray(masked_paths));
	json_object_set_new(l, "readonlyPaths", runtime_strarray(readonly_paths));
	return l;
}

/*
 * The container's host name: the one asked for, else its id, cut when
 * longer than 63 characters (DNS's limit; the kernel refuses more than 64)
 * after its last whole dot-separated part that fits.  An id holds
 * counters that only grow ("<app>.<type>.<n>.<seq>"), so no app name
 * limit alone could keep every id short enough, and runc would refuse to
 * start such a container; a part cut in the middle would read as another
 * number, so none is.
 */
const char *runtime_hostname(const struct deis_container_spec *spec,
				    char out[HOSTNAME_MAX + 1])
{
	size_t n;

	if (spec->hostname)
		return spec->hostname;
	n = strnlen(spec->id, HOSTNAME_MAX + 1);
	if (n <= HOSTNAME_MAX)
		return spec->id;
	n = HOSTNAME_MAX;
	if (spec->id[n] != '.') {
		const char *dot = memrchr(spec->id, '.', n);
		if (dot && dot > spec->id)
			n = (size_t)(dot - spec->id);
	}
	memcpy(out, spec->id, n);
	while (n > 1 && strchr(".-_", out[n - 1]))
		n--;
	out[n] = '\0';
	return out;
}

static json_t *build_config(const struct deis_container_spec *spec)
{
	json_t *c = json_object(), *root = json_object();

	json_object_set_new(c, "ociVersion", json_string("1.0.2"));
	json_object_set_new(c, "process", build_process(spec));
	json_object_set_new(root, "path", json_string("rootfs"));
	json_object_set_new(root, "readonly", json_true());
	json_object_set_new(c, "root", root);
	char hostbuf[HOSTNAME_MAX + 1];
	json_object_set_new(c, "hostname", json_string(runtime_hostname(spec, hostbuf)));
	json_object_set_new(c, "mounts", build_mounts(spec));
	json_object_set_new(c, "linux", build_linux(spec));
	return c;
}

char *deis_runtime_config_json(const struct deis_container_spec *spec,
			       struct deis_error *err)
{
	json_t *c;
	char *s;

	if (deis_runtime_check_spec(spec, err) < 0)
		return NULL;
	c = build_config(spec);
	s = json_dumps(c, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(c);
	if (!s)
		deis_error_set(err, ENOMEM, "encoding config.json");
	return s;
}
