/*
 * runtime_tool.c - a small command-line client of lib/runtime.c, for
 * tests/fs/t3200-runtime.sh, docs/runtime.md's measurements and trying
 * containers by hand.
 *
 *   runtime_tool [--state=DIR] COMMAND ARGS...
 *
 *   config SPEC... [-- ARGV...]      print the config.json for a spec
 *   bundle DIR SPEC... [-- ARGV...]  write an OCI bundle into DIR
 *   run BUNDLE ID [--detach] [--keep] [--in=FILE] [--out=FILE]
 *       [--err=FILE] [--status=FILE]
 *                                    run it; stdio is ours unless files
 *                                    are given; exits with the container's
 *                                    status; --status writes
 *                                    "code=N signal=N"; --detach prints the
 *                                    container's pid
 *   state ID                         "STATUS PID"
 *   list                             "ID STATUS PID BUNDLE" per container
 *   kill ID SIGNAL [--all] | delete ID [--force]
 *   cgroup ID CONTROLLER FILE        print a cgroup file of the container
 *   bench BUNDLE ID N                run it N times (stdio /dev/null),
 *                                    print each time and the median (ms)
 *
 * SPEC: --id=ID (required) --cmd=STRING --env=K=V --cwd=DIR --uid=N
 * --gid=N --user=NAME --hostname=NAME --netns=PATH --address=IP --app=DIR --app-rw
 * --mount=SRC:DST[:ro] --memory=BYTES[KMG] --cpu=MILLICORES --pids=N
 * --nofile=N --tmp=BYTES[KMG] --cap=CAP_X.  The state directory is
 * --state or $DEIS_RUNC_ROOT.  Errors go to stderr; the exit status is
 * the errno, 64 for a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deis/runtime.h"
#include "tool.h"

#define MAX_ITEMS 64

static void usage(void)
{
	fprintf(stderr,
		"usage: runtime_tool [--state=DIR] COMMAND ARGS...\n"
		"  config SPEC... [-- ARGV...] | bundle DIR SPEC... [-- ARGV...] |\n"
		"  run BUNDLE ID [--detach] [--keep] [--in=F] [--out=F] [--err=F] [--status=F] |\n"
		"  state ID | list | kill ID SIG [--all] | delete ID [--force] |\n"
		"  cgroup ID CONTROLLER FILE | bench BUNDLE ID N\n");
	exit(64);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (end == s || *end)
		usage();
	return v;
}

struct spec_args {
	struct deis_container_spec spec;
	struct deis_kvlist env;
	struct deis_runtime_mount mounts[MAX_ITEMS];
	char *mount_bufs[MAX_ITEMS];
	const char *caps[MAX_ITEMS + 1];
	size_t ncaps;
};

/* Parses SPEC options and an optional "-- ARGV..." from argv. */
static void parse_spec(int argc, char **argv, struct spec_args *a)
{
	struct deis_container_spec *s = &a->spec;
	int i;

	for (i = 0; i < argc; i++) {
		const char *o = argv[i];
		const char *v = strchr(o, '=');

		v = v ? v + 1 : "";
		if (!strcmp(o, "--")) {
			s->argv = (const char *const *)&argv[i + 1];
			break;
		} else if (!strncmp(o, "--id=", 5)) {
			s->id = v;
		} else if (!strncmp(o, "--cmd=", 6)) {
			s->command = v;
		} else if (!strncmp(o, "--env=", 6)) {
			const char *eq = strchr(v, '=');
			char *k;

			if (!eq)
				usage();
			k = strndup(v, (size_t)(eq - v));
			deis_kvlist_set(&a->env, k, eq + 1);
			free(k);
			s->env = &a->env;
		} else if (!strncmp(o, "--cwd=", 6)) {
			s->cwd = v;
		} else if (!strncmp(o, "--uid=", 6)) {
			s->uid = (uid_t)strtoul(v, NULL, 10);
		} else if (!strncmp(o, "--gid=", 6)) {
			s->gid = (gid_t)strtoul(v, NULL, 10);
		} else if (!strncmp(o, "--user=", 7)) {
			s->user = v;
		} else if (!strncmp(o, "--hostname=", 11)) {
			s->hostname = v;
		} else if (!strncmp(o, "--netns=", 8)) {
			s->netns = v;
		} else if (!strncmp(o, "--address=", 10)) {
			s->address = v;
		} else if (!strncmp(o, "--app=", 6)) {
			s->app_dir = v;
		} else if (!strcmp(o, "--app-rw")) {
			s->app_rw = 1;
		} else if (!strncmp(o, "--mount=", 8)) {
			struct deis_runtime_mount *m = &a->mounts[s->n_mounts];
			char *b, *c1, *c2;

			if (s->n_mounts >= MAX_ITEMS)
				usage();
			b = strdup(v);
			a->mount_bufs[s->n_mounts] = b;
			c1 = strchr(b, ':');
			if (!c1)
				usage();
			*c1++ = '\0';
			c2 = strchr(c1, ':');
			if (c2) {
				*c2++ = '\0';
				m->readonly = !strcmp(c2, "ro");
			}
			m->source = b;
			m->destination = c1;
			s->mounts = a->mounts;
			s->n_mounts++;
		} else if (!strncmp(o, "--memory=", 9)) {
			s->memory_bytes = parse_size(v);
		} else if (!strncmp(o, "--cpu=", 6)) {
			s->cpu_millicores = (unsigned)strtoul(v, NULL, 10);
		} else if (!strncmp(o, "--pids=", 7)) {
			s->pids_max = strtoll(v, NULL, 10);
		} else if (!strncmp(o, "--nofile=", 9)) {
			s->nofile = strtoull(v, NULL, 10);
		} else if (!strncmp(o, "--tmp=", 6)) {
			s->tmp_bytes = parse_size(v);
		} else if (!strncmp(o, "--cap=", 6)) {
			if (a->ncaps >= MAX_ITEMS)
				usage();
			a->caps[a->ncaps++] = v;
			s->caps = a->caps;
		} else {
			usage();
		}
	}
}

static void free_spec(struct spec_args *a)
{
	size_t i;

	deis_kvlist_clear(&a->env);
	for (i = 0; i < a->spec.n_mounts; i++)
		free(a->mount_bufs[i]);
}

static int open_io(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0644);

	if (fd < 0) {
		fprintf(stderr, "runtime_tool: %s: %s\n", path, strerror(errno));
		exit(errno);
	}
	return fd;
}

static int cmd_run(const char *state, int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_runtime_io io = { 0, 1, 2 };
	struct deis_runtime_exit ex = { 0, 0 };
	const char *status_file = NULL;
	int flags = 0, i, r;
	pid_t pid;

	if (argc < 2)
		usage();
	for (i = 2; i < argc; i++) {
		const char *o = argv[i], *v = strchr(o, '=');

		v = v ? v + 1 : "";
		if (!strcmp(o, "--detach"))
			flags |= DEIS_RUNTIME_DETACH;
		else if (!strcmp(o, "--keep"))
			flags |= DEIS_RUNTIME_KEEP;
		else if (!strncmp(o, "--in=", 5))
			io.in = open_io(v, O_RDONLY);
		else if (!strncmp(o, "--out=", 6))
			io.out = open_io(v, O_WRONLY | O_CREAT | O_APPEND);
		else if (!strncmp(o, "--err=", 6))
			io.err = open_io(v, O_WRONLY | O_CREAT | O_APPEND);
		else if (!strncmp(o, "--status=", 9))
			status_file = v;
		else
			usage();
	}
	pid = deis_runtime_run(state, argv[0], argv[1], &io, flags, &err);
	if (pid < 0)
		return tool_fail(&err);
	if (flags & DEIS_RUNTIME_DETACH) {
		printf("%d\n", (int)pid);
		return 0;
	}
	r = deis_runtime_wait(pid, 0, &ex, &err);
	if (r < 0)
		return tool_fail(&err);
	if (status_file) {
		FILE *f = fopen(status_file, "w");

		if (f) {
			fprintf(f, "code=%d signal=%d\n", ex.code, ex.signal);
			fclose(f);
		}
	}
	return ex.code;
}

static int cmd_bench(const char *state, int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_runtime_io io = { -1, -1, -1 };
	struct deis_runtime_exit ex;
	double *t;
	int n, i;

	if (argc != 3)
		usage();
	n = atoi(argv[2]);
	if (n <= 0 || n > 1000)
		usage();
	t = calloc((size_t)n, sizeof(*t));
	if (!t)
		return ENOMEM;
	for (i = 0; i < n; i++) {
		double t0 = tool_now_ms();
		pid_t pid = deis_runtime_run(state, argv[0], argv[1], &io, 0, &err);

		if (pid < 0 || deis_runtime_wait(pid, 0, &ex, &err) < 0) {
			free(t);
			return tool_fail(&err);
		}
		t[i] = tool_now_ms() - t0;
		printf("%.1f\n", t[i]);
		if (ex.code) {
			fprintf(stderr, "runtime_tool: run %d exited %d\n", i, ex.code);
			free(t);
			return EIO;
		}
	}
	printf("median %.1f\n", tool_median(t, n));
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	const char *state = getenv("DEIS_RUNC_ROOT");
	const char *cmd;
	int r;

	argc--, argv++;
	if (argc && !strncmp(argv[0], "--state=", 8)) {
		state = argv[0] + 8;
		argc--, argv++;
	}
	if (argc < 1)
		usage();
	cmd = argv[0];
	argc--, argv++;

	if (!strcmp(cmd, "config") || !strcmp(cmd, "bundle")) {
		struct spec_args a;
		int isb = !strcmp(cmd, "bundle");

		memset(&a, 0, sizeof(a));
		if (isb && argc < 1)
			usage();
		parse_spec(argc - isb, argv + isb, &a);
		if (isb) {
			r = deis_runtime_bundle(&a.spec, argv[0], &err);
		} else {
			char *s = deis_runtime_config_json(&a.spec, &err);

			r = s ? 0 : -err.code;
			if (s)
				puts(s);
			free(s);
		}
		free_spec(&a);
		return r < 0 ? tool_fail(&err) : 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(state, argc, argv);
	if (!strcmp(cmd, "bench"))
		return cmd_bench(state, argc, argv);
	if (!strcmp(cmd, "state")) {
		enum deis_runtime_status st;
		pid_t pid;

		if (argc != 1)
			usage();
		if (deis_runtime_state(state, argv[0], &st, &pid, &err) < 0)
			return tool_fail(&err);
		printf("%s %d\n", deis_runtime_status_name(st), (int)pid);
		return 0;
	}
	if (!strcmp(cmd, "list")) {
		struct deis_runtime_list l;
		size_t i;

		if (argc != 0)
			usage();
		if (deis_runtime_list(state, &l, &err) < 0)
			return tool_fail(&err);
		for (i = 0; i < l.n; i++)
			printf("%s %s %d %s\n", l.items[i].id,
			       deis_runtime_status_name(l.items[i].status),
			       (int)l.items[i].pid,
			       l.items[i].bundle ? l.items[i].bundle : "-");
		deis_runtime_list_free(&l);
		return 0;
	}
	if (!strcmp(cmd, "kill")) {
		if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--all")))
			usage();
		r = argc == 3 ?
			deis_runtime_kill_all(state, argv[0], atoi(argv[1]), &err) :
			deis_runtime_kill(state, argv[0], atoi(argv[1]), &err);
		return r < 0 ? tool_fail(&err) : 0;
	}
	if (!strcmp(cmd, "delete")) {
		if (argc < 1 || argc > 2 || (argc == 2 && strcmp(argv[1], "--force")))
			usage();
		r = deis_runtime_delete(state, argv[0], argc == 2, &err);
		return r < 0 ? tool_fail(&err) : 0;
	}
	if (!strcmp(cmd, "cgroup")) {
		char buf[8192];

		if (argc != 3)
			usage();
		r = deis_runtime_cgroup_read(state, argv[0], argv[1], argv[2], buf,
					     sizeof(buf), &err);
		if (r < 0)
			return tool_fail(&err);
		fputs(buf, stdout);
		return 0;
	}
	usage();
	return 64;
}
