/*
 * runtime.c - OCI bundles and the runc binary: see include/deis/runtime.h
 * and docs/runtime.md.
 *
 * Bundles are generated here (config.json with jansson, a rootfs skeleton
 * whose /etc is the bundle's own); running is done by the real runc,
 * started with posix_spawnp() and an argument vector, never a shell.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "deis/spawn.h"
#include "deis/buf.h"
#include "deis/runtime.h"

extern char **environ;

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
#define DEFAULT_NOFILE 1024
#define DEFAULT_TMP_BYTES ((uint64_t)64 << 20)
#define CPU_PERIOD_US 100000
#define MEMSW_PROBE "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"

/* Read-only host directories of the stack, mounted when they exist. */
static const char *const runtime_host_ro_dirs[] = {
	"/etc/ssl/certs",	/* CA certificates (symlinks into /usr/share) */
	"/etc/alternatives",	/* Debian's awk, editor, ... symlinks */
	NULL,
};

/* Host files copied into the bundle's /etc when they exist: none secret. */
static const char *const host_etc_files[] = {
	"resolv.conf", "ld.so.cache", "services", "protocols", NULL,
};

/* Debian 12 merged /usr. */
static const char *const usr_links[][2] = {
	{ "bin", "usr/bin" }, { "lib", "usr/lib" },
	{ "lib64", "usr/lib64" }, { "sbin", "usr/sbin" },
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

/*
 * The default seccomp profile: every system call is allowed except those
 * Docker's default profile refuses to a container without capabilities
 * (moby profiles/seccomp/default.json): the kernel's module, key,
 * accounting, clock, mount, namespace, tracing, BPF and io_uring
 * interfaces.  They fail with EPERM, as a missing capability would, so
 * programs that probe for them (libuv tries io_uring) fall back.  A
 * denylist rather than Docker's allowlist, so that a new harmless call of
 * a newer libc or runtime keeps working; the calls that reach new kernel
 * attack surface are the ones named here.
 */
static const char *const seccomp_denied[] = {
	"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
	"delete_module", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
	"get_kernel_syms", "get_mempolicy", "init_module", "io_uring_enter",
	"io_uring_register", "io_uring_setup", "ioperm", "iopl", "kcmp",
	"kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount",
	"mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl",
	"open_by_handle_at", "open_tree", "perf_event_open", "pivot_root",
	"process_vm_readv", "process_vm_writev", "query_module", "quotactl",
	"quotactl_fd", "reboot", "request_key", "set_mempolicy", "setns",
	"settimeofday", "stime", "swapoff", "swapon", "_sysctl", "sysfs", "syslog",
	"umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86",
	"vm86old", "fanotify_init", "vhangup", "sethostname", "setdomainname",
	"chroot", NULL,
};
/* clone() making any namespace: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
 * NEWUSER, NEWPID, NEWNET (so no `unshare -U`, no user namespace). */
static const unsigned long clone_ns_flags[] = {
	0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
	0x40000000,
};
#define ENOSYS_NUMBER 38

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

static uid_t spec_uid(const struct deis_container_spec *s)
{
	return s->uid ? s->uid : DEIS_RUNTIME_UID;
}

static gid_t spec_gid(const struct deis_container_spec *s)
{
	return s->gid ? s->gid : DEIS_RUNTIME_UID;
}

static const char *spec_user(const struct deis_container_spec *s)
{
	return s->user ? s->user : DEIS_RUNTIME_USER;
}

/* ------------------------------------------------------------ config.json */

static json_t *runtime_strarray(const char *const *v)
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

static json_t *seccomp_rule(const char *name, const char *action, int errno_ret)
{
	json_t *r = json_object(), *names = json_array();

	json_array_append_new(names, json_string(name));
	json_object_set_new(r, "names", names);
	json_object_set_new(r, "action", json_string(action));
	if (errno_ret)
		json_object_set_new(r, "errnoRet", json_integer(errno_ret));
	return r;
}

static json_t *runtime_seccomp_json(void)
{
	static const char *const arches[] = { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
					      "SCMP_ARCH_X32", NULL };
	json_t *s = json_object(), *calls = json_array(), *deny = json_array();
	size_t i;

	json_object_set_new(s, "defaultAction", json_string("SCMP_ACT_ALLOW"));
	json_object_set_new(s, "architectures", runtime_strarray(arches));
	for (i = 0; seccomp_denied[i]; i++)
		json_array_append_new(deny, json_string(seccomp_denied[i]));
	json_t *d = json_object();
	json_object_set_new(d, "names", deny);
	json_object_set_new(d, "action", json_string("SCMP_ACT_ERRNO"));
	json_object_set_new(d, "errnoRet", json_integer(EPERM));
	json_array_append_new(calls, d);
	/* One rule per flag: the rules of one call are or-ed. */
	for (i = 0; i < sizeof(clone_ns_flags) / sizeof(*clone_ns_flags); i++) {
		json_t *r = seccomp_rule("clone", "SCMP_ACT_ERRNO", EPERM);
		json_t *args = json_array(), *a = json_object();

		json_object_set_new(a, "index", json_integer(0));
		json_object_set_new(a, "value", json_integer((json_int_t)clone_ns_flags[i]));
		json_object_set_new(a, "valueTwo", json_integer((json_int_t)clone_ns_flags[i]));
		json_object_set_new(a, "op", json_string("SCMP_CMP_MASKED_EQ"));
		json_array_append_new(args, a);
		json_object_set_new(r, "args", args);
		json_array_append_new(calls, r);
	}
	/* clone3 passes its flags in memory, where seccomp cannot look:
	 * ENOSYS makes glibc fall back to clone(), which is filtered. */
	json_array_append_new(calls, seccomp_rule("clone3", "SCMP_ACT_ERRNO",
						  ENOSYS_NUMBER));
	json_object_set_new(s, "syscalls", calls);
	return s;
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
#define HOSTNAME_MAX 63

static const char *runtime_hostname(const struct deis_container_spec *spec,
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

/* ------------------------------------------------------------ the bundle */

static int join(char *out, size_t len, const char *a, const char *b,
		struct deis_error *err)
{
	int n = snprintf(out, len, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= len)
		return deis_error_set(err, ENAMETOOLONG, "path %s/%s is too long",
				      a, b);
	return 0;
}

static int mkdir_p(const char *path, mode_t mode, struct deis_error *err)
{
	char tmp[PATH_MAX];
	size_t i, n = strlen(path);

	if (n >= sizeof(tmp))
		return deis_error_set(err, ENAMETOOLONG, "path too long");
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return deis_error_set(err, errno, "mkdir %s: %s", tmp,
					      strerror(errno));
		tmp[i] = i < n ? '/' : '\0';
	}
	return 0;
}

static int write_file(const char *path, const char *data, size_t len,
		      mode_t mode, struct deis_error *err)
{
	char tmp[PATH_MAX];
	int fd, n;
	size_t off = 0;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return deis_error_set(err, ENAMETOOLONG, "path too long");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return deis_error_set(err, errno, "creating %s: %s", tmp,
				      strerror(errno));
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = errno;

			close(fd);
			unlink(tmp);
			return deis_error_set(err, e, "writing %s: %s", tmp,
					      strerror(e));
		}
		off += (size_t)w;
	}
	if (fchmod(fd, mode) < 0 || close(fd) < 0) {
		int e = errno;

		unlink(tmp);
		return deis_error_set(err, e, "writing %s: %s", tmp, strerror(e));
	}
	if (rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		return deis_error_set(err, e, "renaming %s: %s", tmp, strerror(e));
	}
	return 0;
}

/* Copies a small regular host file (following symlinks); absent is fine. */
static int copy_host_file(const char *src, const char *dst,
			  struct deis_error *err)
{
	struct deis_buf b = DEIS_BUF_INIT;
	char block[8192];
	ssize_t n;
	int fd, r;

	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 :
			deis_error_set(err, errno, "reading %s: %s", src,
				       strerror(errno));
	while ((n = read(fd, block, sizeof(block))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || b.len > (16u << 20)) {
			int e = n < 0 ? errno : EFBIG;

			close(fd);
			deis_buf_release(&b);
			return deis_error_set(err, e, "reading %s: %s", src,
					      strerror(e));
		}
		deis_buf_add(&b, block, (size_t)n);
	}
	close(fd);
	r = write_file(dst, deis_buf_str(&b), b.len, 0644, err);
	deis_buf_release(&b);
	return r;
}

static int make_symlink(const char *target, const char *path,
			struct deis_error *err)
{
	char cur[PATH_MAX];
	ssize_t n;

	if (symlink(target, path) == 0)
		return 0;
	if (errno == EEXIST) {
		n = readlink(path, cur, sizeof(cur) - 1);
		if (n >= 0) {
			cur[n] = '\0';
			if (!strcmp(cur, target))
				return 0;
		}
	}
	return deis_error_set(err, errno ? errno : EEXIST, "symlink %s: %s",
			      path, strerror(errno ? errno : EEXIST));
}

static int write_etc(const struct deis_container_spec *spec, const char *etc,
		     struct deis_error *err)
{
	const char *user = spec_user(spec);
	char hostbuf[HOSTNAME_MAX + 1];
	const char *host = runtime_hostname(spec, hostbuf);
	struct deis_buf b = DEIS_BUF_INIT;
	char path[PATH_MAX], src[PATH_MAX];
	size_t i;
	int r;

	deis_buf_addf(&b,
		"root:x:0:0:root:/root:/usr/sbin/nologin\n"
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
		"%s:x:%u:%u:%s:/app:/bin/sh\n",
		user, (unsigned)spec_uid(spec), (unsigned)spec_gid(spec), user);
	if ((r = join(path, sizeof(path), etc, "passwd", err)) < 0 ||
	    (r = write_file(path, b.data, b.len, 0644, err)) < 0)
		goto out;
	deis_buf_reset(&b);
	deis_buf_addf(&b, "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n%s:x:%u:\n",
		      user, (unsigned)spec_gid(spec));
	if ((r = join(path, sizeof(path), etc, "group", err)) < 0 ||
	    (r = write_file(path, b.data, b.len, 0644, err)) < 0)
		goto out;
	deis_buf_reset(&b);
	if (spec->address)
		deis_buf_addf(&b, "127.0.0.1\tlocalhost\n%s\t%s\n"
			      "::1\tlocalhost ip6-localhost ip6-loopback\n", spec->address, host);
	else
		deis_buf_addf(&b, "127.0.0.1\tlocalhost %s\n"
			      "::1\tlocalhost ip6-localhost ip6-loopback\n", host);
	if ((r = join(path, sizeof(path), etc, "hosts", err)) < 0 ||
	    (r = write_file(path, b.data, b.len, 0644, err)) < 0)
		goto out;
	deis_buf_reset(&b);
	deis_buf_adds(&b, "passwd: files\ngroup: files\nshadow: files\n"
		      "hosts: files dns\nnetworks: files\nprotocols: files\n"
		      "services: files\n");
	if ((r = join(path, sizeof(path), etc, "nsswitch.conf", err)) < 0 ||
	    (r = write_file(path, b.data, b.len, 0644, err)) < 0)
		goto out;
	deis_buf_reset(&b);
	deis_buf_addf(&b, "%s\n", host);
	if ((r = join(path, sizeof(path), etc, "hostname", err)) < 0 ||
	    (r = write_file(path, b.data, b.len, 0644, err)) < 0)
		goto out;
	for (i = 0; host_etc_files[i]; i++) {
		if ((r = join(path, sizeof(path), etc, host_etc_files[i], err)) < 0 ||
		    (r = join(src, sizeof(src), "/etc", host_etc_files[i], err)) < 0 ||
		    (r = copy_host_file(src, path, err)) < 0)
			goto out;
	}
	r = 0;
out:
	deis_buf_release(&b);
	return r;
}

int deis_runtime_bundle(const struct deis_container_spec *spec,
			const char *dir, struct deis_error *err)
{
	static const char *const dirs[] = {
		"usr", "etc", "proc", "dev", "sys", "tmp", "app",
		NULL,
	};
	char rootfs[PATH_MAX], path[PATH_MAX];
	char *json = NULL;
	size_t i;
	int r;

	if (!dir || !*dir)
		return deis_error_set(err, EINVAL, "no bundle directory");
	json = deis_runtime_config_json(spec, err);
	if (!json)
		return -err->code;
	if ((r = mkdir_p(dir, 0711, err)) < 0 ||
	    (r = join(rootfs, sizeof(rootfs), dir, "rootfs", err)) < 0 ||
	    (r = mkdir_p(rootfs, 0755, err)) < 0)
		goto out;
	for (i = 0; dirs[i]; i++) {
		if ((r = join(path, sizeof(path), rootfs, dirs[i], err)) < 0 ||
		    (r = mkdir_p(path, 0755, err)) < 0)
			goto out;
	}
	for (i = 0; runtime_host_ro_dirs[i]; i++) {
		if ((r = join(path, sizeof(path), rootfs,
			      runtime_host_ro_dirs[i] + 1, err)) < 0 ||
		    (r = mkdir_p(path, 0755, err)) < 0)
			goto out;
	}
	for (i = 0; i < spec->n_mounts; i++) {
		const char *d = spec->mounts[i].destination;
		struct stat st;

		while (*d == '/')
			d++;
		if ((r = join(path, sizeof(path), rootfs, d, err)) < 0)
			goto out;
		/* a file is bound onto a file, a directory onto a directory */
		if (stat(spec->mounts[i].source, &st) == 0 && !S_ISDIR(st.st_mode)) {
			char *slash = strrchr(path, '/');

			*slash = '\0';
			r = mkdir_p(path, 0755, err);
			*slash = '/';
			if (r < 0 || (r = write_file(path, "", 0, 0644, err)) < 0)
				goto out;
		} else if ((r = mkdir_p(path, 0755, err)) < 0) {
			goto out;
		}
	}
	for (i = 0; i < sizeof(usr_links) / sizeof(usr_links[0]); i++) {
		if ((r = join(path, sizeof(path), rootfs, usr_links[i][0], err)) < 0 ||
		    (r = make_symlink(usr_links[i][1], path, err)) < 0)
			goto out;
	}
	if ((r = join(path, sizeof(path), rootfs, "tmp", err)) < 0 ||
	    chmod(path, 01777) < 0) {
		if (r == 0)
			r = deis_error_set(err, errno, "chmod %s: %s", path,
					   strerror(errno));
		goto out;
	}
	if ((r = join(path, sizeof(path), rootfs, "etc", err)) < 0 ||
	    (r = write_etc(spec, path, err)) < 0)
		goto out;
	if ((r = join(path, sizeof(path), dir, "config.json", err)) < 0 ||
	    (r = write_file(path, json, strlen(json), 0644, err)) < 0)
		goto out;
	r = 0;
out:
	free(json);
	if (r < 0)
		deis_error_prefix(err, "bundle for '%s'", spec->id);
	return r;
}

/* ------------------------------------------------------------ running runc */

static const char *runc_path(void)
{
	const char *p = getenv("DEIS_RUNC");

	return p && *p ? p : "runc";
}

/*
 * Starts runc with args (after argv[0]) and the given stdio (-1: /dev/null).
 * Every other fd of ours is closed in the child.
 */
static int spawn_runc(const char *const *args, int in, int out, int errfd,
		      pid_t *pid, struct deis_error *err)
{
	const char *argv[32];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	const int fds[3] = { in, out, errfd };
	size_t n = 0;
	int i, r;

	argv[n++] = runc_path();
	for (; *args && n < sizeof(argv) / sizeof(argv[0]) - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;

	posix_spawn_file_actions_init(&fa);
	for (i = 0; i < 3; i++) {
		if (fds[i] < 0)
			posix_spawn_file_actions_addopen(&fa, i, "/dev/null",
							 i ? O_WRONLY : O_RDONLY, 0);
		else
			posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	}
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* A clean signal state: runc forwards signals to the container. */
	deis_spawnattr_init(&attr, 0);
	r = posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r)
		return deis_error_set(err, r, "starting %s: %s", argv[0],
				      strerror(r));
	return 0;
}

static int wait_pid(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static void drain(int *fd, struct deis_buf *b)
{
	char block[4096];
	ssize_t n = read(*fd, block, sizeof(block));

	if (n > 0) {
		if (b->len < (64u << 20))
			deis_buf_add(b, block, (size_t)n);
	} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * Runs runc with args, collecting its stdout and stderr; returns its exit
 * status (0..255) or <0.  A runc killed by a signal is -EIO.
 */
static int runc_capture(const char *const *args, struct deis_buf *out,
			struct deis_buf *errout, struct deis_error *err)
{
	int po[2], pe[2], status, r;
	pid_t pid;

	if (pipe2(po, O_CLOEXEC) < 0)
		return deis_error_set(err, errno, "pipe: %s", strerror(errno));
	if (pipe2(pe, O_CLOEXEC) < 0) {
		close(po[0]);
		close(po[1]);
		return deis_error_set(err, errno, "pipe: %s", strerror(errno));
	}
	r = spawn_runc(args, -1, po[1], pe[1], &pid, err);
	close(po[1]);
	close(pe[1]);
	if (r < 0) {
		close(po[0]);
		close(pe[0]);
		return r;
	}
	while (po[0] >= 0 || pe[0] >= 0) {
		struct pollfd p[2] = {
			{ .fd = po[0], .events = POLLIN },
			{ .fd = pe[0], .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (po[0] >= 0 && p[0].revents)
			drain(&po[0], out);
		if (pe[0] >= 0 && p[1].revents)
			drain(&pe[0], errout);
	}
	if (po[0] >= 0)
		close(po[0]);
	if (pe[0] >= 0)
		close(pe[0]);
	if ((r = wait_pid(pid, &status)) < 0)
		return deis_error_set(err, -r, "waiting for runc: %s", strerror(-r));
	if (!WIFEXITED(status))
		return deis_error_set(err, EIO, "runc died of signal %d",
				      WTERMSIG(status));
	return WEXITSTATUS(status);
}

/* The last line of runc's stderr, for messages. */
static const char *last_line(struct deis_buf *b)
{
	char *s, *nl;

	if (!b->data)
		return "";
	while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
		b->data[--b->len] = '\0';
	nl = strrchr(b->data, '\n');
	s = nl ? nl + 1 : b->data;
	/* runc logs 'time="..." level=error msg="the message"' */
	nl = strstr(s, "msg=\"");
	if (nl) {
		char *end;

		s = nl + 5;
		end = strrchr(s, '"');
		if (end)
			*end = '\0';
	}
	return s;
}

/* Maps a failed runc command's stderr to an errno. */
static int runc_errno(const char *msg)
{
	if (strstr(msg, "does not exist") || strstr(msg, "not found"))
		return ENOENT;
	if (strstr(msg, "not running") || strstr(msg, "process already finished"))
		return ESRCH;
	if (strstr(msg, "already exists"))
		return EEXIST;
	if (strstr(msg, "cannot delete container") || strstr(msg, "is running"))
		return EBUSY;
	return EIO;
}

/* Runs a runc command whose output does not matter. */
static int runc_simple(const char *const *args, const char *what,
		       const char *id, struct deis_error *err)
{
	struct deis_buf out = DEIS_BUF_INIT, eo = DEIS_BUF_INIT;
	int r = runc_capture(args, &out, &eo, err);

	if (r > 0) {
		const char *m = last_line(&eo);

		r = deis_error_set(err, runc_errno(m), "runc %s %s: %s", what, id,
				   *m ? m : "failed");
	} else if (r < 0) {
		deis_error_prefix(err, "runc %s %s", what, id);
	}
	deis_buf_release(&out);
	deis_buf_release(&eo);
	return r;
}

static int check_state_dir(const char *state_dir, struct deis_error *err)
{
	if (!state_dir || !*state_dir)
		return deis_error_set(err, EINVAL, "no runc state directory");
	return 0;
}

pid_t deis_runtime_run(const char *state_dir, const char *bundle_dir,
		       const char *id, const struct deis_runtime_io *io,
		       int flags, struct deis_error *err)
{
	const char *args[16];
	char pidfile[PATH_MAX];
	size_t n = 0;
	pid_t pid;
	int r, status;
	const struct deis_runtime_io none = { -1, -1, -1 };

	if ((r = check_state_dir(state_dir, err)) < 0 ||
	    (r = deis_runtime_check_id(id, err)) < 0)
		return r;
	if (!bundle_dir || !*bundle_dir)
		return deis_error_set(err, EINVAL, "no bundle directory");
	if (!io)
		io = &none;
	args[n++] = "--root";
	args[n++] = state_dir;
	args[n++] = "run";
	args[n++] = "--bundle";
	args[n++] = bundle_dir;
	if (flags & DEIS_RUNTIME_KEEP)
		args[n++] = "--keep";
	if (flags & DEIS_RUNTIME_DETACH) {
		if ((r = join(pidfile, sizeof(pidfile), bundle_dir, "init.pid",
			      err)) < 0)
			return r;
		unlink(pidfile);
		args[n++] = "--detach";
		args[n++] = "--pid-file";
		args[n++] = pidfile;
	}
	args[n++] = id;
	args[n] = NULL;
	r = spawn_runc(args, io->in, io->out, io->err, &pid, err);
	if (r < 0)
		return deis_error_prefix(err, "running container %s", id);
	if (!(flags & DEIS_RUNTIME_DETACH))
		return pid;

	/* runc run -d exits once the container's process runs. */
	if ((r = wait_pid(pid, &status)) < 0)
		return deis_error_set(err, -r, "waiting for runc: %s", strerror(-r));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return deis_error_set(err, EIO,
				      "runc run -d %s failed (status %d; its "
				      "messages are on the container's stderr)",
				      id, WIFEXITED(status) ? WEXITSTATUS(status) :
				      128 + WTERMSIG(status));
	{
		char buf[32];
		ssize_t got;
		int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
		long v;

		if (fd < 0)
			return deis_error_set(err, errno, "reading %s: %s", pidfile,
					      strerror(errno));
		got = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (got <= 0)
			return deis_error_set(err, EIO, "empty pid file %s", pidfile);
		buf[got] = '\0';
		v = strtol(buf, NULL, 10);
		if (v <= 0 || v > INT_MAX)
			return deis_error_set(err, EIO, "bad pid file %s", pidfile);
		return (pid_t)v;
	}
}

int deis_runtime_wait(pid_t pid, int nohang, struct deis_runtime_exit *ex,
		      struct deis_error *err)
{
	int status;
	pid_t r;

	do {
		r = waitpid(pid, &status, nohang ? WNOHANG : 0);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return deis_error_set(err, errno, "waiting for %d: %s", (int)pid,
				      strerror(errno));
	if (r == 0)
		return 0;
	if (WIFEXITED(status)) {
		ex->code = WEXITSTATUS(status);
		ex->signal = ex->code > 128 && ex->code <= 128 + 64 ?
			ex->code - 128 : 0;
	} else {
		ex->signal = WTERMSIG(status);
		ex->code = 128 + ex->signal;
	}
	return 1;
}

static int runtime_kill(const char *state_dir, const char *id, int signal,
			int all, struct deis_error *err)
{
	char sig[16];
	const char *args[] = { "--root", state_dir, "kill", all ? "--all" : id,
			       all ? id : sig, all ? sig : NULL, NULL };
	int r;

	if ((r = check_state_dir(state_dir, err)) < 0 ||
	    (r = deis_runtime_check_id(id, err)) < 0)
		return r;
	if (signal <= 0 || signal > 64)
		return deis_error_set(err, EINVAL, "bad signal %d", signal);
	snprintf(sig, sizeof(sig), "%d", signal);
	return runc_simple(args, "kill", id, err);
}

int deis_runtime_kill(const char *state_dir, const char *id, int signal,
		      struct deis_error *err)
{
	return runtime_kill(state_dir, id, signal, 0, err);
}

int deis_runtime_kill_all(const char *state_dir, const char *id, int signal,
			  struct deis_error *err)
{
	return runtime_kill(state_dir, id, signal, 1, err);
}

int deis_runtime_delete(const char *state_dir, const char *id, int force,
			struct deis_error *err)
{
	const char *args[] = { "--root", state_dir, "delete",
			       force ? "--force" : id, force ? id : NULL, NULL };
	int r;

	if ((r = check_state_dir(state_dir, err)) < 0 ||
	    (r = deis_runtime_check_id(id, err)) < 0)
		return r;
	return runc_simple(args, "delete", id, err);
}

/* ------------------------------------------------------------ state, list */

static const char *const status_names[] = {
	[DEIS_RT_UNKNOWN] = "unknown",
	[DEIS_RT_CREATING] = "creating",
	[DEIS_RT_CREATED] = "created",
	[DEIS_RT_RUNNING] = "running",
	[DEIS_RT_PAUSED] = "paused",
	[DEIS_RT_STOPPED] = "stopped",
};

const char *deis_runtime_status_name(enum deis_runtime_status s)
{
	if ((size_t)s >= sizeof(status_names) / sizeof(status_names[0]))
		return "unknown";
	return status_names[s];
}

static enum deis_runtime_status parse_status(const char *s)
{
	size_t i;

	for (i = 1; s && i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (!strcmp(s, status_names[i]))
			return (enum deis_runtime_status)i;
	return DEIS_RT_UNKNOWN;
}

static int parse_one(json_t *o, struct deis_runtime_info *info,
		     struct deis_error *err)
{
	json_t *id = json_object_get(o, "id");
	json_t *st = json_object_get(o, "status");
	json_t *pid = json_object_get(o, "pid");
	json_t *bundle = json_object_get(o, "bundle");
	json_int_t p;

	if (!json_is_object(o) || !json_is_string(id) || !json_is_string(st) ||
	    (pid && !json_is_integer(pid)))
		return deis_error_set(err, EIO, "runc state: unexpected JSON");
	if (strlen(json_string_value(id)) > DEIS_RUNTIME_ID_MAX)
		return deis_error_set(err, EIO, "runc state: id too long");
	memset(info, 0, sizeof(*info));
	snprintf(info->id, sizeof(info->id), "%s", json_string_value(id));
	info->status = parse_status(json_string_value(st));
	p = pid ? json_integer_value(pid) : 0;
	info->pid = p > 0 && p <= INT_MAX ? (pid_t)p : 0;
	if (info->status == DEIS_RT_STOPPED)
		info->pid = 0;
	if (json_is_string(bundle)) {
		info->bundle = strdup(json_string_value(bundle));
		if (!info->bundle)
			return deis_error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

int deis_runtime_parse_state(const char *json, enum deis_runtime_status *st,
			     pid_t *pid, struct deis_error *err)
{
	struct deis_runtime_info info;
	json_error_t je;
	json_t *o = json_loads(json ? json : "", 0, &je);
	int r;

	if (!o)
		return deis_error_set(err, EIO, "runc state: bad JSON: %s", je.text);
	r = parse_one(o, &info, err);
	json_decref(o);
	if (r < 0)
		return r;
	free(info.bundle);
	if (st)
		*st = info.status;
	if (pid)
		*pid = info.pid;
	return 0;
}

int deis_runtime_parse_list(const char *json, struct deis_runtime_list *out,
			    struct deis_error *err)
{
	json_error_t je;
	json_t *a;
	size_t i, n;
	int r = 0;

	out->items = NULL;
	out->n = 0;
	a = json_loads(json ? json : "", JSON_DECODE_ANY, &je);
	if (!a)
		return deis_error_set(err, EIO, "runc list: bad JSON: %s", je.text);
	if (json_is_null(a)) {
		json_decref(a);
		return 0;
	}
	if (!json_is_array(a)) {
		json_decref(a);
		return deis_error_set(err, EIO, "runc list: not an array");
	}
	n = json_array_size(a);
	if (n) {
		out->items = calloc(n, sizeof(*out->items));
		if (!out->items) {
			json_decref(a);
			return deis_error_set(err, ENOMEM, "out of memory");
		}
	}
	for (i = 0; i < n; i++) {
		r = parse_one(json_array_get(a, i), &out->items[i], err);
		if (r < 0)
			break;
		out->n++;
	}
	json_decref(a);
	if (r < 0)
		deis_runtime_list_free(out);
	return r;
}

void deis_runtime_list_free(struct deis_runtime_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		free(l->items[i].bundle);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

int deis_runtime_state(const char *state_dir, const char *id,
		       enum deis_runtime_status *status, pid_t *pid,
		       struct deis_error *err)
{
	const char *args[] = { "--root", state_dir, "state", id, NULL };
	struct deis_buf out = DEIS_BUF_INIT, eo = DEIS_BUF_INIT;
	int r;

	if ((r = check_state_dir(state_dir, err)) < 0 ||
	    (r = deis_runtime_check_id(id, err)) < 0)
		return r;
	r = runc_capture(args, &out, &eo, err);
	if (r > 0) {
		const char *m = last_line(&eo);

		r = deis_error_set(err, runc_errno(m), "runc state %s: %s", id,
				   *m ? m : "failed");
	} else if (r == 0) {
		r = deis_runtime_parse_state(deis_buf_str(&out), status, pid, err);
	}
	deis_buf_release(&out);
	deis_buf_release(&eo);
	return r;
}

int deis_runtime_list(const char *state_dir, struct deis_runtime_list *l,
		      struct deis_error *err)
{
	const char *args[] = { "--root", state_dir, "list", "--format", "json",
			       NULL };
	struct deis_buf out = DEIS_BUF_INIT, eo = DEIS_BUF_INIT;
	int r;

	l->items = NULL;
	l->n = 0;
	if ((r = check_state_dir(state_dir, err)) < 0)
		return r;
	r = runc_capture(args, &out, &eo, err);
	if (r > 0) {
		const char *m = last_line(&eo);

		r = deis_error_set(err, runc_errno(m), "runc list: %s",
				   *m ? m : "failed");
	} else if (r == 0) {
		const char *s = deis_buf_str(&out);

		/* an empty or missing state dir prints nothing or "null" */
		r = s[strspn(s, " \t\r\n")] ? deis_runtime_parse_list(s, l, err) : 0;
	}
	deis_buf_release(&out);
	deis_buf_release(&eo);
	return r;
}

int deis_runtime_cgroup_read(const char *state_dir, const char *id,
			     const char *controller, const char *file,
			     char *buf, size_t len, struct deis_error *err)
{
	char path[PATH_MAX];
	json_error_t je;
	json_t *st, *paths, *p;
	ssize_t n;
	size_t off = 0;
	int fd, r;

	if ((r = check_state_dir(state_dir, err)) < 0 ||
	    (r = deis_runtime_check_id(id, err)) < 0)
		return r;
	if (!controller || !file || !*controller || !*file ||
	    strchr(controller, '/') || strchr(file, '/') || file[0] == '.' ||
	    controller[0] == '.' || len == 0)
		return deis_error_set(err, EINVAL, "bad cgroup controller or file");
	r = snprintf(path, sizeof(path), "%s/%s/state.json", state_dir, id);
	if (r < 0 || (size_t)r >= sizeof(path))
		return deis_error_set(err, ENAMETOOLONG, "path too long");
	st = json_load_file(path, 0, &je);
	if (!st)
		return deis_error_set(err, access(path, F_OK) ? ENOENT : EIO,
				      "container %s: %s", id, je.text);
	paths = json_object_get(st, "cgroup_paths");
	p = json_object_get(paths, controller);
	if (!json_is_string(p)) {
		json_decref(st);
		return deis_error_set(err, ENOENT, "container %s has no %s cgroup",
				      id, controller);
	}
	r = snprintf(path, sizeof(path), "%s/%s", json_string_value(p), file);
	json_decref(st);
	if (r < 0 || (size_t)r >= sizeof(path))
		return deis_error_set(err, ENAMETOOLONG, "path too long");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	while (off + 1 < len && (n = read(fd, buf + off, len - off - 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return deis_error_set(err, e, "%s: %s", path, strerror(e));
		}
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return 0;
}
