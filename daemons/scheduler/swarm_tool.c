/*
 * swarm_tool.c - a small driver of a cluster backend (backend.h) for the
 * cluster tests (tests/cluster/t90[12]*.sh) and for trying the swarm
 * backend by hand against a lab, without the rest of the platform.  Not
 * installed.
 *
 *   swarm_tool [--OPTION=VALUE ...] keep APP TYPE N IMAGE COMMAND STATE
 *       keeps N instances of TYPE running, as the scheduler's policy
 *       would: an instance that ends is started again at once (its first
 *       restart has no backoff); each event is a line on stdout
 *       ("<ms> start|up|ended <name> ..."), and STATE is rewritten on
 *       every change, one line per instance: "<name> <node> <address>
 *       <port> <state>".  SIGTERM or SIGINT: every instance is stopped
 *       (gracefully) and removed.
 *   swarm_tool [--OPTION=VALUE ...] nodes
 *       the cluster's nodes, one a line.
 *   swarm_tool [--OPTION=VALUE ...] list
 *       what a restarted scheduler would adopt: "<id> running|ended".
 *   swarm_tool [--OPTION=VALUE ...] sweep
 *       removes every service of the platform's (what no scheduler knows).
 *
 * OPTIONs are the backend's own (swarm_socket, swarm_registry, ...) and
 * scheduler_grace.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deis/kv.h"
#include "scheduler.h"

struct scheduler_conf scheduler_conf = { .grace = 10, .port = 5000 };

void *xrealloc(void *p, size_t size)
{
	if (!(p = realloc(p, size)))
		abort();
	return p;
}

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	quit = 1;
}

static long long ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);	/* the tests compare it with theirs */
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

struct one {
	char name[32], id[DEIS_BACKEND_ID_MAX + 1];
	struct deis_backend_proc proc;
	struct deis_backend_state st;
	bool up;
};

static void state_write(const char *path, const struct one *v, int n)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");

	if (!f)
		return;
	for (int k = 0; k < n; k++)
		fprintf(f, "%s %s %s %d %s\n", v[k].name, v[k].st.node[0] ? v[k].st.node : "-",
			v[k].st.address[0] ? v[k].st.address : "-", v[k].st.port,
			v[k].proc.fd < 0 ? "crashed" : v[k].up ? "up" : "starting");
	fclose(f);
	rename(tmp, path);
}

static int keep(struct deis_backend *be, char **argv)
{
	const char *app = argv[0], *type = argv[1], *image = argv[3], *cmd = argv[4];
	const char *state = argv[5];
	int n = atoi(argv[2]);
	static unsigned seq;
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_kvlist env = DEIS_KVLIST_INIT;
	struct one *v = calloc((size_t)n + 1, sizeof(*v));
	char port[16];

	if (!v || n < 1)
		return 2;
	snprintf(port, sizeof(port), "%d", scheduler_conf.port);
	deis_kvlist_set(&env, "PORT", port);
	seq = (unsigned)time(NULL) % 100000 * 100;
	for (int k = 0; k < n; k++)
		v[k].proc = (struct deis_backend_proc)DEIS_BACKEND_PROC_INIT;
	while (!quit) {
		bool changed = false;
		for (int k = 0; k < n && !quit; k++) {
			struct one *o = &v[k];
			if (o->proc.fd < 0) {
				snprintf(o->name, sizeof(o->name), "%s.%d", type, k + 1);
				snprintf(o->id, sizeof(o->id), "%s.%s.%u", app, o->name, ++seq);
				deis_kvlist_set(&env, "DYNO", o->name);
				struct deis_backend_spec spec = {
					.id = o->id, .app = app, .name = o->name, .image = image,
					.command = cmd, .env = &env, .seq = seq,
					.port = scheduler_conf.port, .release = "v1",
				};
				char address[DEIS_BACKEND_ADDRESS_MAX] = "";
				memset(&o->st, 0, sizeof(o->st));
				o->up = false;
				if (be->ops->start(be, &spec, address, &o->proc, &err) < 0) {
					printf("%lld failed %s: %s\n", ms(), o->name, err.msg);
					o->proc.fd = -1;
				} else {
					printf("%lld start %s %s\n", ms(), o->name, o->id);
				}
				changed = true;
				continue;
			}
			struct pollfd p = { .fd = o->proc.fd, .events = POLLIN };
			if (poll(&p, 1, 0) == 1) {
				struct deis_backend_exit ex;
				be->ops->ended(be, o->id, &o->proc, &ex);
				printf("%lld ended %s on %s: code %d %s\n", ms(), o->name,
				       o->st.node[0] ? o->st.node : "-", ex.code, ex.error);
				changed = true;
				continue;
			}
			if (!o->up) {
				be->ops->inspect(be, o->id, &o->st);
				if (o->st.started && o->st.node[0]) {
					o->up = true;
					printf("%lld up %s %s %s:%d\n", ms(), o->name, o->st.node,
					       o->st.address, o->st.port);
					changed = true;
				}
			}
		}
		if (changed) {
			state_write(state, v, n);
			fflush(stdout);
		}
		usleep(20000);
	}
	for (int k = 0; k < n; k++)
		if (v[k].proc.fd >= 0)
			be->ops->stop(be, v[k].id, false, &err);
	long long until = ms() + (scheduler_conf.grace + 5) * 1000LL;
	for (int k = 0; k < n; k++) {
		while (v[k].proc.fd >= 0 && ms() < until) {
			struct pollfd p = { .fd = v[k].proc.fd, .events = POLLIN };
			if (poll(&p, 1, 100) == 1)
				break;
		}
		be->ops->ended(be, v[k].id, v[k].proc.fd >= 0 ? &v[k].proc : NULL, NULL);
		be->ops->remove(be, v[k].id, app, NULL);
	}
	printf("%lld stopped\n", ms());
	deis_kvlist_clear(&env);
	free(v);
	return 0;
}

static void node_line(void *ctx, const struct deis_backend_node *n)
{
	printf("%s %s %s %s %s %d %lld %lld\n", n->name, n->address, n->role, n->state,
	       n->availability, n->containers, n->memory_total, n->memory_reserved);
}

static void found_line(void *ctx, const struct deis_backend_found *f)
{
	printf("%s %s\n", f->id, f->ended ? "ended" : f->proc.fd >= 0 ? "running" : "unknown");
	if (f->proc.fd >= 0)
		close(f->proc.fd);
}

static bool nothing_known(void *ctx, const char *id)
{
	return false;
}

int main(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	const struct deis_backend_ops *ops = deis_backend_find("swarm");
	struct deis_backend *be;
	int k = 1;

	deis_conf_defaults(ops->options);
	for (; k < argc && !strncmp(argv[k], "--", 2); k++) {
		char *eq = strchr(argv[k], '=');
		if (!eq)
			break;
		*eq = '\0';
		if (!strcmp(argv[k] + 2, "scheduler_grace"))
			scheduler_conf.grace = atoi(eq + 1);
		else if (deis_conf_set(ops->options, argv[k] + 2, eq + 1, &err) < 0) {
			fprintf(stderr, "swarm_tool: %s\n", err.msg);
			return 2;
		}
	}
	if (k >= argc) {
		fprintf(stderr, "usage: swarm_tool [--OPTION=VALUE ...] keep|nodes|list|sweep ...\n");
		return 2;
	}
	struct deis_backend_conf bc = { .home = "/nonexistent" };
	if (ops->open(&bc, &be, &err) < 0) {
		fprintf(stderr, "swarm_tool: %s\n", err.msg);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	int r = 0;
	if (!strcmp(argv[k], "keep") && argc - k == 7) {
		r = keep(be, argv + k + 1);
	} else if (!strcmp(argv[k], "nodes")) {
		r = ops->nodes(be, node_line, NULL, &err) < 0;
	} else if (!strcmp(argv[k], "list")) {
		r = ops->list(be, found_line, NULL, &err) < 0;
	} else if (!strcmp(argv[k], "sweep")) {
		ops->sweep(be, nothing_known, NULL);
	} else {
		fprintf(stderr, "swarm_tool: bad command\n");
		r = 2;
	}
	if (r == 1)
		fprintf(stderr, "swarm_tool: %s\n", err.msg);
	ops->close(be);
	return r;
}
