/*
 * test_runtime.c - unit tests of lib/runtime.c: spec -> config.json (read
 * back with jansson), the bundle's rootfs skeleton and /etc, refusals, and
 * the parsers of runc's state and list JSON.  Runs no container (that is
 * tests/fs/t3200-runtime.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "deis/runtime.h"
#include "unit.h"

static json_t *config_of(const struct deis_container_spec *s)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char *text = deis_runtime_config_json(s, &err);
	json_t *j;

	if (!text) {
		printf("# config_json: %s\n", err.msg);
		return NULL;
	}
	j = json_loads(text, 0, NULL);
	free(text);
	return j;
}

/* The mount whose destination is dest, or NULL. */
static json_t *mount_at(json_t *cfg, const char *dest)
{
	json_t *m;
	size_t i;

	json_array_foreach(json_object_get(cfg, "mounts"), i, m)
		if (!strcmp(json_string_value(json_object_get(m, "destination")),
			    dest))
			return m;
	return NULL;
}

static int has_str(json_t *arr, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return 1;
	return 0;
}

/* The member of o at a dotted path ("linux.resources.memory.limit"). */
static json_t *jget(json_t *o, const char *path)
{
	char key[128];
	const char *dot;

	while ((dot = strchr(path, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		o = json_object_get(o, key);
		path = dot + 1;
	}
	return json_object_get(o, path);
}

static const char *jstr(json_t *o, const char *path)
{
	return json_string_value(jget(o, path));
}

static json_int_t jint(json_t *o, const char *path)
{
	return json_integer_value(jget(o, path));
}

static const char *const web_argv[] = { "python3", "-m", "http.server", NULL };

TEST(app_spec_config)
{
	struct deis_kvlist env = DEIS_KVLIST_INIT;
	struct deis_container_spec s = {
		.id = "hello.web.1-v3",
		.argv = web_argv,
		.env = &env,
		.app_dir = "/var/lib/deis/slugs/hello/v3",
		.memory_bytes = 512u << 20,
		.cpu_millicores = 500,
		.pids_max = 256,
		.nofile = 4096,
	};
	json_t *c, *m, *ns, *v, *proc;
	size_t i;
	int seen_pid = 0, seen_net = 0, seen_mnt = 0, seen_uts = 0, seen_ipc = 0;

	deis_kvlist_set(&env, "PORT", "5000");
	deis_kvlist_set(&env, "DYNO", "web.1");
	deis_kvlist_set(&env, "GREETING", "a b=c");
	c = config_of(&s);
	CHECK(c != NULL);
	if (!c)
		goto out;
	proc = json_object_get(c, "process");
	CHECK(jint(proc, "user.uid") == 10000);
	CHECK(jint(proc, "user.gid") == 10000);
	CHECK_STR(jstr(proc, "cwd"), "/app");
	CHECK(json_is_true(json_object_get(proc, "noNewPrivileges")));
	CHECK(json_is_false(json_object_get(proc, "terminal")));
	CHECK(json_array_size(json_object_get(proc, "args")) == 3);
	CHECK_STR(json_string_value(json_array_get(json_object_get(proc, "args"), 2)),
		  "http.server");
	v = json_object_get(proc, "env");
	CHECK(has_str(v, "PORT=5000"));
	CHECK(has_str(v, "DYNO=web.1"));
	CHECK(has_str(v, "GREETING=a b=c"));
	CHECK(has_str(v, "HOME=/app"));
	CHECK(has_str(v, "USER=app"));
	CHECK(json_array_size(v) == 7);	/* PATH HOME LANG USER + 3 */
	/* no capability at all for an app */
	CHECK(json_array_size(json_object_get(json_object_get(proc, "capabilities"),
					      "bounding")) == 0);
	CHECK(json_array_size(json_object_get(json_object_get(proc, "capabilities"),
					      "effective")) == 0);
	v = json_array_get(json_object_get(proc, "rlimits"), 0);
	CHECK_STR(jstr(v, "type"), "RLIMIT_NOFILE");
	CHECK(jint(v, "soft") == 4096 && jint(v, "hard") == 4096);

	CHECK(json_is_true(json_object_get(json_object_get(c, "root"), "readonly")));
	CHECK_STR(jstr(c, "root.path"), "rootfs");
	CHECK_STR(jstr(c, "hostname"), "hello.web.1-v3");

	/* mounts */
	m = mount_at(c, "/usr");
	CHECK(m && !strcmp(jstr(m, "source"), "/usr"));
	CHECK(m && has_str(json_object_get(m, "options"), "ro"));
	CHECK(m && has_str(json_object_get(m, "options"), "rbind"));
	m = mount_at(c, "/app");
	CHECK(m && !strcmp(jstr(m, "source"), "/var/lib/deis/slugs/hello/v3"));
	CHECK(m && has_str(json_object_get(m, "options"), "ro"));
	m = mount_at(c, "/tmp");
	CHECK(m && !strcmp(jstr(m, "type"), "tmpfs"));
	CHECK(m && has_str(json_object_get(m, "options"), "mode=1777"));
	CHECK(mount_at(c, "/proc") && !strcmp(jstr(mount_at(c, "/proc"), "type"), "proc"));
	CHECK(mount_at(c, "/dev") && mount_at(c, "/dev/pts") && mount_at(c, "/dev/shm"));
	if (access("/etc/ssl/certs", F_OK) == 0) {
		m = mount_at(c, "/etc/ssl/certs");
		CHECK(m && has_str(json_object_get(m, "options"), "ro"));
	}
	/* never the host's /etc, /root or /home */
	CHECK(!mount_at(c, "/etc"));
	CHECK(!mount_at(c, "/root"));
	CHECK(!mount_at(c, "/home"));

	/* linux */
	v = json_object_get(c, "linux");
	CHECK_STR(jstr(v, "cgroupsPath"), "deis/hello.web.1-v3");
	ns = json_object_get(v, "namespaces");
	json_array_foreach(ns, i, m) {
		const char *t = jstr(m, "type");

		seen_pid += !strcmp(t, "pid");
		seen_net += !strcmp(t, "network");
		seen_mnt += !strcmp(t, "mount");
		seen_uts += !strcmp(t, "uts");
		seen_ipc += !strcmp(t, "ipc");
	}
	CHECK(seen_pid == 1 && seen_mnt == 1 && seen_uts == 1 && seen_ipc == 1);
	/* A network namespace of its own, never the host's: without a path,
	 * a new one (only lo). */
	CHECK(seen_net == 1);
	json_array_foreach(ns, i, m)
		if (!strcmp(jstr(m, "type"), "network"))
			CHECK(!json_object_get(m, "path"));
	CHECK(jint(v, "resources.memory.limit") == 512 << 20);
	CHECK(jint(v, "resources.cpu.quota") == 50000);
	CHECK(jint(v, "resources.cpu.period") == 100000);
	CHECK(jint(v, "resources.pids.limit") == 256);
	m = json_array_get(json_object_get(json_object_get(v, "resources"), "devices"), 0);
	CHECK(m && json_is_false(json_object_get(m, "allow")));
	CHECK(has_str(json_object_get(v, "maskedPaths"), "/proc/kcore"));
	CHECK(has_str(json_object_get(v, "maskedPaths"), "/sys/firmware"));
	CHECK(has_str(json_object_get(v, "readonlyPaths"), "/proc/sys"));
	CHECK(has_str(json_object_get(v, "readonlyPaths"), "/proc/sysrq-trigger"));
out:
	json_decref(c);
	deis_kvlist_clear(&env);
}

TEST(builder_spec_config)
{
	static const struct deis_runtime_mount mounts[] = {
		{ "/var/cache/deis/hello", "/cache", 0 },
		{ "/run/deis/env.1", "/env", 1 },
	};
	static const char *const caps[] = { "CAP_CHOWN", NULL };
	struct deis_container_spec s = {
		.id = "build-hello-7",
		.command = "bin/compile /app /cache /env",
		.app_dir = "/tmp/build.7",
		.app_rw = 1,
		.mounts = mounts,
		.n_mounts = 2,
		.uid = 2000,
		.gid = 3000,
		.user = "builder",
		.cwd = "/app/src",
		.hostname = "builder",
		.caps = caps,
	};
	json_t *c = config_of(&s), *m, *proc, *args;

	CHECK(c != NULL);
	if (!c)
		return;
	proc = json_object_get(c, "process");
	args = json_object_get(proc, "args");
	CHECK(json_array_size(args) == 3);
	CHECK_STR(json_string_value(json_array_get(args, 0)), "/bin/sh");
	CHECK_STR(json_string_value(json_array_get(args, 1)), "-c");
	CHECK_STR(json_string_value(json_array_get(args, 2)),
		  "bin/compile /app /cache /env");
	CHECK(jint(proc, "user.uid") == 2000 && jint(proc, "user.gid") == 3000);
	CHECK_STR(jstr(proc, "cwd"), "/app/src");
	CHECK(has_str(json_object_get(proc, "env"), "USER=builder"));
	CHECK(has_str(json_object_get(json_object_get(proc, "capabilities"),
				      "bounding"), "CAP_CHOWN"));
	CHECK_STR(jstr(c, "hostname"), "builder");
	m = mount_at(c, "/app");
	CHECK(m && has_str(json_object_get(m, "options"), "rw"));
	CHECK(m && !has_str(json_object_get(m, "options"), "ro"));
	m = mount_at(c, "/cache");
	CHECK(m && !strcmp(jstr(m, "source"), "/var/cache/deis/hello"));
	CHECK(m && has_str(json_object_get(m, "options"), "rw"));
	m = mount_at(c, "/env");
	CHECK(m && has_str(json_object_get(m, "options"), "ro"));
	/* no limits given: no resource sections but the device rule */
	m = json_object_get(json_object_get(c, "linux"), "resources");
	CHECK(!json_object_get(m, "memory") && !json_object_get(m, "cpu") &&
	      !json_object_get(m, "pids"));
	/* default nofile */
	CHECK(jint(json_array_get(json_object_get(proc, "rlimits"), 0), "soft") == 1024);
	json_decref(c);
}

/* Whether the profile refuses name with errno e (no argument filter). */
static int seccomp_refuses(json_t *sc, const char *name, int e)
{
	size_t i;
	json_t *r;

	json_array_foreach(json_object_get(sc, "syscalls"), i, r)
		if (has_str(json_object_get(r, "names"), name) &&
		    !json_object_get(r, "args") &&
		    !strcmp(jstr(r, "action"), "SCMP_ACT_ERRNO") &&
		    jint(r, "errnoRet") == e)
			return 1;
	return 0;
}

TEST(network_and_seccomp)
{
	static const char *const argv[] = { "true", NULL };
	struct deis_container_spec s = {
		.id = "hello.web.1.7", .argv = argv,
		.netns = "/run/netns/deis0-hello.web.1.7", .address = "10.223.0.9",
	};
	json_t *c = config_of(&s), *l, *m, *sc, *r;
	size_t i;
	int net = 0, user_clone = 0;

	CHECK(c != NULL);
	if (!c)
		return;
	l = json_object_get(c, "linux");
	json_array_foreach(json_object_get(l, "namespaces"), i, m)
		if (!strcmp(jstr(m, "type"), "network")) {
			net++;
			CHECK_STR(jstr(m, "path"), "/run/netns/deis0-hello.web.1.7");
		}
	CHECK(net == 1);
	sc = json_object_get(l, "seccomp");
	CHECK(sc != NULL);
	CHECK_STR(jstr(sc, "defaultAction"), "SCMP_ACT_ALLOW");
	CHECK(has_str(json_object_get(sc, "architectures"), "SCMP_ARCH_X86_64"));
	/* What the issue names, and what Docker's profile refuses. */
	CHECK(seccomp_refuses(sc, "unshare", EPERM));
	CHECK(seccomp_refuses(sc, "setns", EPERM));
	CHECK(seccomp_refuses(sc, "bpf", EPERM));
	CHECK(seccomp_refuses(sc, "perf_event_open", EPERM));
	CHECK(seccomp_refuses(sc, "keyctl", EPERM));
	CHECK(seccomp_refuses(sc, "add_key", EPERM));
	CHECK(seccomp_refuses(sc, "io_uring_setup", EPERM));
	CHECK(seccomp_refuses(sc, "mount", EPERM));
	CHECK(seccomp_refuses(sc, "kexec_load", EPERM));
	CHECK(seccomp_refuses(sc, "userfaultfd", EPERM));
	CHECK(seccomp_refuses(sc, "clone3", ENOSYS));
	CHECK(!seccomp_refuses(sc, "read", EPERM));
	/* clone with CLONE_NEWUSER (0x10000000) is refused by argument. */
	json_array_foreach(json_object_get(sc, "syscalls"), i, r) {
		json_t *a = json_array_get(json_object_get(r, "args"), 0);
		if (has_str(json_object_get(r, "names"), "clone") && a &&
		    jint(a, "value") == 0x10000000 && jint(a, "valueTwo") == 0x10000000 &&
		    !strcmp(jstr(a, "op"), "SCMP_CMP_MASKED_EQ"))
			user_clone = 1;
	}
	CHECK(user_clone);
	json_decref(c);

	/* A relative namespace path or a bad address is refused. */
	s.netns = "run/netns/x";
	CHECK(deis_runtime_config_json(&s, NULL) == NULL);
	s.netns = "/run/netns/x";
	s.address = "10.223.0.999";
	CHECK(deis_runtime_config_json(&s, NULL) == NULL);
}

static int refused(const struct deis_container_spec *s)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char *text = deis_runtime_config_json(s, &err);

	free(text);
	return !text && err.code == EINVAL && err.msg[0];
}

TEST(refusals)
{
	static const char *const argv[] = { "true", NULL };
	static const char *const empty_argv[] = { NULL };
	static const char *const bad_cap[] = { "chown", NULL };
	struct deis_kvlist env = DEIS_KVLIST_INIT;
	struct deis_runtime_mount mt = { "/srv", "/data", 0 };
	struct deis_container_spec ok = { .id = "a", .argv = argv };
	struct deis_container_spec s;
	char longid[DEIS_RUNTIME_ID_MAX + 2];
	const char *bad_ids[] = { "", "A", "-a", ".a", "a/b", "a b", "a..b/",
				  "ab:c", "\xc3\xa9", "a$", NULL };
	size_t i;

	CHECK(!refused(&ok));
	for (i = 0; bad_ids[i]; i++) {
		s = ok;
		s.id = bad_ids[i];
		CHECK(refused(&s));
	}
	s = ok;
	s.id = NULL;
	CHECK(refused(&s));
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	s.id = longid;
	CHECK(refused(&s));
	longid[DEIS_RUNTIME_ID_MAX] = '\0';	/* exactly 128: fine */
	CHECK(!refused(&s));

	s = ok;
	s.command = "true";		/* both */
	CHECK(refused(&s));
	s.argv = NULL;
	s.command = NULL;		/* neither */
	CHECK(refused(&s));
	s.argv = empty_argv;
	CHECK(refused(&s));

	s = ok;
	s.app_dir = "slug/dir";
	CHECK(refused(&s));
	s.app_dir = "/slugs/../etc";
	CHECK(refused(&s));
	s = ok;
	s.cwd = "app";
	CHECK(refused(&s));
	s = ok;
	s.mounts = &mt;
	s.n_mounts = 1;
	CHECK(!refused(&s));
	mt.source = "srv";
	CHECK(refused(&s));
	mt.source = "/srv";
	mt.destination = "data";
	CHECK(refused(&s));
	mt.destination = "/";
	CHECK(refused(&s));
	mt.destination = "/app/./x";
	CHECK(refused(&s));

	s = ok;
	s.env = &env;
	deis_kvlist_set(&env, "GOOD", "x=y");
	CHECK(!refused(&s));
	deis_kvlist_set(&env, "BA=D", "1");
	CHECK(refused(&s));
	deis_kvlist_clear(&env);
	deis_kvlist_set(&env, "", "1");
	CHECK(refused(&s));
	deis_kvlist_clear(&env);

	s = ok;
	s.caps = bad_cap;
	CHECK(refused(&s));
	s = ok;
	s.user = "Root!";
	CHECK(refused(&s));
	s = ok;
	s.hostname = "a/b";
	CHECK(refused(&s));
	s = ok;
	s.memory_bytes = 1024;
	CHECK(refused(&s));
	s = ok;
	s.pids_max = -1;
	CHECK(refused(&s));
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static char *slurp(const char *dir, const char *rel)
{
	char path[4096], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

TEST(bundle_on_disk)
{
	static const char *const argv[] = { "id", "-u", NULL };
	static const struct deis_runtime_mount mounts[] = {
		{ "/etc/hostname", "/etc/extra/file", 1 },
		{ "/tmp", "/cache/dir", 0 },
	};
	struct deis_container_spec s = {
		.id = "unit-1", .argv = argv, .hostname = "box",
		.mounts = mounts, .n_mounts = 2,
	};
	struct deis_error err = DEIS_ERROR_INIT;
	char tmpl[] = "/tmp/test_runtime.XXXXXX", path[4096], lnk[64];
	char *dir = mkdtemp(tmpl), *t;
	struct stat st;
	ssize_t n;
	int r;

	CHECK(dir != NULL);
	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/b", dir);
	r = deis_runtime_bundle(&s, path, &err);
	if (r < 0)
		printf("# %s\n", err.msg);
	CHECK(r == 0);
	/* idempotent: a second run over the same directory works */
	CHECK(deis_runtime_bundle(&s, path, &err) == 0);

	t = slurp(path, "config.json");
	{
		json_t *j = t ? json_loads(t, 0, NULL) : NULL;

		CHECK(j != NULL);
		CHECK(t && strstr(t, "\"deis/unit-1\""));
		json_decref(j);
	}
	free(t);
	t = slurp(path, "rootfs/etc/passwd");
	CHECK(t && strstr(t, "app:x:10000:10000:"));
	CHECK(t && strstr(t, "root:x:0:0:"));
	/* no password hash and no host user */
	CHECK(t && !strstr(t, "$"));
	CHECK(t && !strstr(t, "postgres") && !strstr(t, "/home/"));
	free(t);
	t = slurp(path, "rootfs/etc/group");
	CHECK(t && strstr(t, "app:x:10000:"));
	free(t);
	t = slurp(path, "rootfs/etc/hosts");
	CHECK(t && strstr(t, "localhost box"));
	free(t);
	/* With an address, the hostname names it. */
	s.address = "10.223.0.5";
	CHECK(deis_runtime_bundle(&s, path, &err) == 0);
	t = slurp(path, "rootfs/etc/hosts");
	CHECK(t && strstr(t, "10.223.0.5\tbox\n"));
	free(t);
	s.address = NULL;
	t = slurp(path, "rootfs/etc/nsswitch.conf");
	CHECK(t && strstr(t, "passwd: files"));
	free(t);
	snprintf(lnk, sizeof(lnk), "%s", "rootfs/etc/shadow");
	t = slurp(path, lnk);
	CHECK(t == NULL);
	free(t);

	snprintf(lnk, sizeof(lnk), "x");
	{
		char p2[4200];

		snprintf(p2, sizeof(p2), "%s/rootfs/bin", path);
		n = readlink(p2, lnk, sizeof(lnk) - 1);
		CHECK(n == 7 && !memcmp(lnk, "usr/bin", 7));
		snprintf(p2, sizeof(p2), "%s/rootfs/lib64", path);
		n = readlink(p2, lnk, sizeof(lnk) - 1);
		CHECK(n == 9 && !memcmp(lnk, "usr/lib64", 9));
		snprintf(p2, sizeof(p2), "%s/rootfs/tmp", path);
		CHECK(stat(p2, &st) == 0 && (st.st_mode & 07777) == 01777);
		snprintf(p2, sizeof(p2), "%s/rootfs/usr", path);
		CHECK(stat(p2, &st) == 0 && S_ISDIR(st.st_mode));
		snprintf(p2, sizeof(p2), "%s/rootfs/etc/extra/file", path);
		CHECK(stat(p2, &st) == 0 && S_ISREG(st.st_mode));
		snprintf(p2, sizeof(p2), "%s/rootfs/cache/dir", path);
		CHECK(stat(p2, &st) == 0 && S_ISDIR(st.st_mode));
		snprintf(p2, sizeof(p2), "%s/rootfs/home", path);
		CHECK(stat(p2, &st) < 0);
	}
	/* a bad spec writes nothing */
	s.id = "Bad";
	snprintf(path, sizeof(path), "%s/c", dir);
	CHECK(deis_runtime_bundle(&s, path, &err) == -EINVAL);
	CHECK(stat(path, &st) < 0);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

TEST(parse_state)
{
	enum deis_runtime_status st = DEIS_RT_UNKNOWN;
	struct deis_error err = DEIS_ERROR_INIT;
	pid_t pid = -1;

	CHECK(deis_runtime_parse_state(
		"{\"ociVersion\":\"1.0.2-dev\",\"id\":\"web-1\",\"pid\":4242,"
		"\"status\":\"running\",\"bundle\":\"/b\",\"rootfs\":\"/b/rootfs\","
		"\"created\":\"2024-01-01T00:00:00Z\",\"owner\":\"\"}",
		&st, &pid, &err) == 0);
	CHECK(st == DEIS_RT_RUNNING && pid == 4242);
	CHECK(deis_runtime_parse_state("{\"id\":\"x\",\"pid\":0,\"status\":\"stopped\"}",
				       &st, &pid, &err) == 0);
	CHECK(st == DEIS_RT_STOPPED && pid == 0);
	CHECK(deis_runtime_parse_state("{\"id\":\"x\",\"pid\":7,\"status\":\"weird\"}",
				       &st, &pid, &err) == 0);
	CHECK(st == DEIS_RT_UNKNOWN);
	CHECK(deis_runtime_parse_state("not json", &st, &pid, &err) == -EIO);
	CHECK(deis_runtime_parse_state("{\"pid\":1}", &st, &pid, &err) == -EIO);
	CHECK(deis_runtime_parse_state("[]", &st, &pid, &err) == -EIO);
	CHECK_STR(deis_runtime_status_name(DEIS_RT_PAUSED), "paused");
}

TEST(parse_list)
{
	struct deis_runtime_list l;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(deis_runtime_parse_list("null", &l, &err) == 0 && l.n == 0);
	CHECK(deis_runtime_parse_list("[]", &l, &err) == 0 && l.n == 0);
	CHECK(deis_runtime_parse_list(
		"[{\"ociVersion\":\"1.0.2\",\"id\":\"a\",\"pid\":10,\"status\":\"running\","
		"\"bundle\":\"/x/a\",\"rootfs\":\"/x/a/rootfs\",\"created\":\"t\",\"owner\":\"root\"},"
		"{\"id\":\"b\",\"pid\":0,\"status\":\"stopped\",\"bundle\":\"/x/b\"},"
		"{\"id\":\"c\",\"pid\":11,\"status\":\"created\"}]", &l, &err) == 0);
	CHECK(l.n == 3);
	if (l.n == 3) {
		CHECK_STR(l.items[0].id, "a");
		CHECK(l.items[0].status == DEIS_RT_RUNNING && l.items[0].pid == 10);
		CHECK_STR(l.items[0].bundle, "/x/a");
		CHECK(l.items[1].status == DEIS_RT_STOPPED && l.items[1].pid == 0);
		CHECK(l.items[2].status == DEIS_RT_CREATED && !l.items[2].bundle);
	}
	deis_runtime_list_free(&l);
	CHECK(deis_runtime_parse_list("{}", &l, &err) == -EIO && l.n == 0);
	CHECK(deis_runtime_parse_list("[{\"id\":1}]", &l, &err) == -EIO && l.n == 0);
	CHECK(deis_runtime_parse_list("[", &l, &err) == -EIO);
}

TEST(no_runc_needed_errors)
{
	struct deis_error err = DEIS_ERROR_INIT;
	enum deis_runtime_status st;
	pid_t pid;

	CHECK(deis_runtime_state(NULL, "a", &st, &pid, &err) == -EINVAL);
	CHECK(deis_runtime_state("/tmp/x", "../a", &st, &pid, &err) == -EINVAL);
	CHECK(deis_runtime_kill("/tmp/x", "a", 0, &err) == -EINVAL);
	CHECK(deis_runtime_delete("/tmp/x", "A", 0, &err) == -EINVAL);
	CHECK(deis_runtime_run("/tmp/x", "/b", "a b", NULL, 0, &err) == -EINVAL);
	CHECK(deis_runtime_run("/tmp/x", "", "ab", NULL, 0, &err) == -EINVAL);
}

TEST(missing_runc)
{
	struct deis_error err = DEIS_ERROR_INIT;
	enum deis_runtime_status st;
	pid_t pid;
	int r;

	setenv("DEIS_RUNC", "/nonexistent/runc", 1);
	r = deis_runtime_state("/tmp/x", "a", &st, &pid, &err);
	CHECK(r == -ENOENT);
	CHECK(strstr(err.msg, "/nonexistent/runc") != NULL);
	unsetenv("DEIS_RUNC");
}

/* A host name is at most 63 characters (the kernel refuses more than 64,
 * and runc with it): an id whose counters grew long is cut, not refused. */
TEST(long_id_hostname)
{
	static const char *const argv[] = { "true", NULL };
	char id[DEIS_RUNTIME_ID_MAX + 1];
	/* a 30-character app, a 30-character process type, big counters */
	snprintf(id, sizeof(id), "%s.%s.1000.1234567890123456789",
		 "abcdefghijklmnopqrstuvwxyz0123", "worker-with-a-long-type-name-x");
	struct deis_container_spec s = { .id = id, .argv = argv };
	json_t *c = config_of(&s);

	CHECK(c != NULL);
	if (!c)
		return;
	const char *h = jstr(c, "hostname");
	CHECK(h && strlen(h) <= 63);
	/* the app and the type stay whole; no trailing dot */
	CHECK_STR(h, "abcdefghijklmnopqrstuvwxyz0123.worker-with-a-long-type-name-x");
	json_decref(c);
	s.id = "short.web.1.42";
	c = config_of(&s);
	CHECK_STR(jstr(c, "hostname"), "short.web.1.42");
	json_decref(c);
}

int main(void)
{
	RUN(long_id_hostname);
	RUN(app_spec_config);
	RUN(builder_spec_config);
	RUN(network_and_seccomp);
	RUN(refusals);
	RUN(bundle_on_disk);
	RUN(parse_state);
	RUN(parse_list);
	RUN(no_runc_needed_errors);
	RUN(missing_runc);
	return unit_done();
}
