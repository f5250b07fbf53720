/*
 * backend_swarm.c - the Docker Swarm backend of the scheduler
 * (include/deis/backend.h), chosen with scheduler_runtime = swarm: one
 * scheduler for the whole cluster, on a manager, over the Engine API
 * (engine.c).
 *
 * Every instance is a service of its own (swarm_spec.c: <app>-<seq>, one
 * replica, no restart policy); Swarm places it, pulls its image, limits
 * it and connects it to the app's overlay.  The scheduler's policy stays
 * the only decision maker: a task that ends (its program exited, its node
 * went down, its image could not be had) is the instance's end, and the
 * policy restarts it as under runc.
 *
 * Tasks make no events, so one watcher thread polls GET /tasks (every
 * swarm_poll_ms) and GET /nodes, keeps each followed instance's latest
 * task, and writes the instance's eventfd (its proc.fd) once the task
 * has ended.  Everything the scheduler's thread asks (inspect, ended,
 * nodes) is read from that table under one lock; the two threads have an
 * engine handle each.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/log.h"
#include "engine.h"
#include "scheduler.h"
#include "swarm_spec.h"

static char *socket_opt, *registry_opt, *init_opt, *user_opt, *log_socket_opt;
static int poll_ms_opt;

static const struct deis_conf_option swarm_options[] = {
	{ "swarm_socket", DEIS_CONF_STR, &socket_opt, "/run/docker.sock",
	  "swarm: the Docker engine (a manager of the swarm) the scheduler talks to" },
	{ "swarm_registry", DEIS_CONF_STR, &registry_opt, "",
	  "swarm: host:port the nodes pull images from (default: registry_url's; "
	  "\"none\": image references as they are)" },
	{ "swarm_init", DEIS_CONF_STR, &init_opt, "/usr/bin/tini",
	  "swarm: pid 1 of every container, in its image (\"\" for none)" },
	{ "swarm_user", DEIS_CONF_STR, &user_opt, "10000:10000",
	  "swarm: the user containers run as (\"\": the image's)" },
	{ "swarm_log_socket", DEIS_CONF_STR, &log_socket_opt, "",
	  "swarm: the nodes' syslog socket for containers' output (\"\": the engine's "
	  "own log driver)" },
	{ "swarm_poll_ms", DEIS_CONF_INT, &poll_ms_opt, "250",
	  "swarm: ms between two looks at the cluster's tasks and nodes" },
	{ NULL, 0, NULL, NULL, NULL },
};

/* A task's states once it has ended (Swarm's TaskState). */
static const char *const ended_states[] = {
	"complete", "failed", "shutdown", "rejected", "orphaned", "remove", NULL,
};

struct node {
	char id[80], name[DEIS_BACKEND_NODE_MAX], address[DEIS_BACKEND_ADDRESS_MAX];
	char role[16], state[16], availability[16];
	long long memory, reserved;
	int containers;
};

/* An instance's latest task, as the watcher saw it. */
struct task {
	char id[80], state[16], desired[16], node[80], created[40];
	char error[512];
	int port, code;
	bool container;		/* a container was made (code is its) */
	long long reserved;
};

struct follow {
	char id[DEIS_BACKEND_ID_MAX + 1];
	char service[80];	/* its service's ID */
	int efd;		/* written once it ended; the scheduler's proc.fd
				 * is a dup of it, closed whenever the scheduler
				 * likes: this one is never a closed number */
	bool seen;		/* a task of it was seen */
	bool ended, down, gone;
	bool killed;		/* we deleted its service (stop(force)) */
	struct task t;
};

struct swarm {
	struct deis_backend b;
	struct engine *e;		/* the scheduler's thread's */
	char registry[256];
	char *auth;			/* X-Registry-Auth */
	struct swarm_spec_opts so;

	pthread_mutex_t mu;		/* over everything below */
	struct follow *fl;
	size_t nfl;
	struct node *nodes;
	size_t nnodes;
	bool polled;			/* nodes and tasks were read once */

	pthread_t watcher;
	bool watching, quit;
	struct engine *we;		/* the watcher's */
};

#define SWARM(b) ((struct swarm *)(b))

/* ---- names ---- */

/* The service of instance id ("<app>.<type>.<n>.<seq>"): named as
 * swarm_start named it, from the app and the sequence number. */
static void service_of(const char *id, char out[SWARM_NAME_MAX])
{
	const char *dot = strchr(id, '.'), *last = strrchr(id, '.');
	char app[DEIS_BACKEND_ID_MAX + 1];

	if (!dot || !last) {
		snprintf(out, SWARM_NAME_MAX, "%.63s", id);
		return;
	}
	snprintf(app, sizeof(app), "%.*s", (int)(dot - id), id);
	swarm_service_name(app, (unsigned)strtoul(last + 1, NULL, 10), out);
}

/* The member at path ("A.B.C": nested objects; a key with dots, as
 * labels have, is the rest of the path once no shorter key matches). */
static json_t *jget(json_t *o, const char *path)
{
	char key[128];

	while (o && *path) {
		json_t *whole = json_object_get(o, path);
		if (whole)
			return whole;
		size_t n = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, path);
		o = json_object_get(o, key);
		path += n + (path[n] == '.');
	}
	return o;
}

static const char *jstr(json_t *o, const char *path)
{
	return json_string_value(jget(o, path));
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* ---- the watcher ---- */

static struct follow *follow_find(struct swarm *s, const char *id)
{
	for (size_t k = 0; k < s->nfl; k++)
		if (!strcmp(s->fl[k].id, id))
			return &s->fl[k];
	return NULL;
}

static struct node *node_by_id(struct swarm *s, const char *id)
{
	for (size_t k = 0; k < s->nnodes; k++)
		if (!strcmp(s->nodes[k].id, id))
			return &s->nodes[k];
	return NULL;
}

static bool is_ended_state(const char *state)
{
	for (size_t k = 0; ended_states[k]; k++)
		if (!strcmp(state, ended_states[k]))
			return true;
	return false;
}

static void task_read(json_t *j, struct task *t)
{
	copy(t->id, sizeof(t->id), jstr(j, "ID"));
	copy(t->state, sizeof(t->state), jstr(j, "Status.State"));
	copy(t->desired, sizeof(t->desired), jstr(j, "DesiredState"));
	copy(t->node, sizeof(t->node), jstr(j, "NodeID"));
	copy(t->created, sizeof(t->created), jstr(j, "CreatedAt"));
	copy(t->error, sizeof(t->error), jstr(j, "Status.Err"));
	const char *cid = jstr(j, "Status.ContainerStatus.ContainerID");
	t->container = cid && cid[0];
	t->code = (int)json_integer_value(jget(j, "Status.ContainerStatus.ExitCode"));
	t->port = 0;
	json_t *ports = jget(j, "Status.PortStatus.Ports");
	if (json_array_size(ports))
		t->port = (int)json_integer_value(
			json_object_get(json_array_get(ports, 0), "PublishedPort"));
	t->reserved = json_integer_value(
		jget(j, "Spec.Resources.Reservations.MemoryBytes"));
}

static void nodes_read(struct swarm *s, json_t *list)
{
	size_t k;
	json_t *j;

	free(s->nodes);
	s->nodes = calloc(json_array_size(list) + 1, sizeof(*s->nodes));
	if (!s->nodes)
		abort();
	s->nnodes = 0;
	json_array_foreach(list, k, j) {
		struct node *n = &s->nodes[s->nnodes++];
		copy(n->id, sizeof(n->id), jstr(j, "ID"));
		copy(n->name, sizeof(n->name), jstr(j, "Description.Hostname"));
		copy(n->address, sizeof(n->address), jstr(j, "Status.Addr"));
		copy(n->role, sizeof(n->role), jstr(j, "Spec.Role"));
		copy(n->availability, sizeof(n->availability), jstr(j, "Spec.Availability"));
		const char *st = jstr(j, "Status.State");
		/* unknown and disconnected count as down: nothing reaches it. */
		copy(n->state, sizeof(n->state), st && !strcmp(st, "ready") ? "ready" : "down");
		n->memory = json_integer_value(jget(j, "Description.Resources.MemoryBytes"));
	}
}

/* Whether f's instance has ended, as its latest task (or its absence)
 * says. */
static bool follow_ended(struct swarm *s, struct follow *f, bool found)
{
	if (!found) {
		/* Its service is gone (deleted, or its tasks with it); one we
		 * deleted before its first task showed is gone too. */
		f->gone = f->seen || f->killed;
		return f->gone;
	}
	if (is_ended_state(f->t.state))
		return true;
	struct node *n = node_by_id(s, f->t.node);
	/* A down node's tasks never report again; Swarm (restart policy
	 * none) replaces none of them: the instance ended. */
	f->down = f->t.node[0] && n && !strcmp(n->state, "down");
	return f->down;
}

/* One look at the cluster: nodes, then tasks; each followed instance
 * that ended gets its eventfd written (once). */
static int poll_once(struct swarm *s, struct engine *e, struct deis_error *err)
{
	json_t *nodes = NULL, *tasks = NULL;
	char q[256], path[400];
	size_t k;
	json_t *j;

	engine_escape("{\"label\":[\"" SWARM_LABEL "\"]}", q, sizeof(q));
	snprintf(path, sizeof(path), "/tasks?filters=%s", q);
	int r = engine_call(e, "GET", "/nodes", NULL, NULL, &nodes, err);
	if (r == 0)
		r = engine_call(e, "GET", path, NULL, NULL, &tasks, err);
	if (r < 0) {
		json_decref(nodes);
		return r;
	}
	pthread_mutex_lock(&s->mu);
	nodes_read(s, nodes);
	bool *found = calloc(s->nfl + 1, sizeof(*found));
	if (!found)
		abort();
	json_array_foreach(tasks, k, j) {
		struct task t;
		const char *sid = jstr(j, "ServiceID");
		task_read(j, &t);
		struct node *n = node_by_id(s, t.node);
		/* A down node's tasks still read running: none of them is. */
		if (n && !strcmp(t.state, "running") && !strcmp(n->state, "ready")) {
			n->containers++;
			n->reserved += t.reserved;
		}
		for (size_t f = 0; sid && f < s->nfl; f++) {
			struct follow *fl = &s->fl[f];
			if (strcmp(fl->service, sid))
				continue;
			/* The newest of its tasks (one replica: one task,
			 * but a task history may be kept). */
			if (!found[f] || strcmp(t.created, fl->t.created) >= 0)
				fl->t = t;
			found[f] = fl->seen = true;
		}
	}
	for (size_t f = 0; f < s->nfl; f++) {
		struct follow *fl = &s->fl[f];
		if (fl->ended || !follow_ended(s, fl, found[f]))
			continue;
		fl->ended = true;
		uint64_t one = 1;
		if (fl->efd >= 0 && write(fl->efd, &one, sizeof(one)) < 0)
			deis_log(LOG_WARNING, "%s: eventfd: %m", fl->id);
	}
	s->polled = true;
	pthread_mutex_unlock(&s->mu);
	free(found);
	json_decref(nodes);
	json_decref(tasks);
	return 0;
}

static void *watch(void *arg)
{
	struct swarm *s = arg;
	struct deis_error err = DEIS_ERROR_INIT;
	bool failing = false;
	int ms = poll_ms_opt > 10 ? poll_ms_opt : 10;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		bool quit = s->quit;
		pthread_mutex_unlock(&s->mu);
		if (quit)
			break;
		int r = poll_once(s, s->we, &err);
		if (r < 0 && !failing)
			deis_log(LOG_WARNING, "swarm: %s (retrying)", err.msg);
		else if (r == 0 && failing)
			deis_log(LOG_NOTICE, "swarm: the engine answers again");
		failing = r < 0;
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Follows service sid as instance id: a dup of its eventfd for the
 * scheduler's proc.fd. */
static int follow_add(struct swarm *s, const char *id, const char *sid,
		      struct deis_error *err)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), theirs;

	if (fd < 0)
		return deis_error_set(err, errno, "eventfd: %m");
	if ((theirs = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		close(fd);
		return deis_error_set(err, errno, "eventfd: %m");
	}
	pthread_mutex_lock(&s->mu);
	struct follow *f = follow_find(s, id);
	if (f) {
		if (f->efd >= 0)
			close(f->efd);
	} else {
		f = ARRAY_ADD(s->fl, s->nfl);
	}
	*f = (struct follow){ .efd = fd };
	copy(f->id, sizeof(f->id), id);
	copy(f->service, sizeof(f->service), sid);
	pthread_mutex_unlock(&s->mu);
	return theirs;
}

/* Stops following id (the scheduler's dup, if any, is the scheduler's). */
static void follow_drop(struct swarm *s, const char *id)
{
	pthread_mutex_lock(&s->mu);
	struct follow *f = follow_find(s, id);
	if (f) {
		if (f->efd >= 0)
			close(f->efd);
		*f = s->fl[--s->nfl];
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- a service's life ---- */

static int network_ensure(struct swarm *s, const char *app, struct deis_error *err)
{
	json_t *body = swarm_network_json(app);
	int r = engine_call(s->e, "POST", "/networks/create", body, NULL, NULL, err);

	json_decref(body);
	if (r == -EEXIST) {
		/* Ours only if it is this app's: an app must never join
		 * another's network, whatever its name. */
		char name[SWARM_NAME_MAX], path[200];
		json_t *net = NULL;
		deis_error_clear(err);
		swarm_network_name(app, name);
		snprintf(path, sizeof(path), "/networks/%s", name);
		r = engine_call(s->e, "GET", path, NULL, NULL, &net, err);
		if (r == 0) {
			json_t *lab = json_object_get(json_object_get(net, "Labels"),
						      SWARM_LABEL ".app");
			if (!json_is_string(lab) || strcmp(json_string_value(lab), app))
				r = deis_error_set(err, EEXIST, "network %s exists and is not "
						   "this app's", name);
		}
		json_decref(net);
	}
	return r < 0 ? deis_error_prefix(err, "the network of %s", app) : 0;
}

/* DELETE /services/<name or ID>: gone already counts as done. */
static int service_delete(struct swarm *s, const char *service, struct deis_error *err)
{
	char path[200];

	snprintf(path, sizeof(path), "/services/%s", service);
	int r = engine_call(s->e, "DELETE", path, NULL, NULL, NULL, err);
	if (r == -ENOENT) {
		deis_error_clear(err);
		return 0;
	}
	return r;
}

static int swarm_start(struct deis_backend *b, const struct deis_backend_spec *spec,
		       char address[DEIS_BACKEND_ADDRESS_MAX], struct deis_backend_proc *proc,
		       struct deis_error *err)
{
	struct swarm *s = SWARM(b);
	char name[SWARM_NAME_MAX];
	json_t *reply = NULL;

	/* Swarm places it anew: where it ran before says nothing. */
	address[0] = '\0';
	swarm_service_name(spec->app, spec->seq, name);
	int r = network_ensure(s, spec->app, err);
	/* A service of that name is a previous run's (restarted in place). */
	if (r == 0)
		r = service_delete(s, name, err);
	if (r < 0)
		return r;
	json_t *body = swarm_service_json(spec, &s->so);
	r = engine_call(s->e, "POST", "/services/create", body, s->auth, &reply, err);
	json_decref(body);
	/* An engine that does not answer is a registry that does not, to
	 * the policy: the same start may succeed later. */
	if (r == -ECONNREFUSED)
		err->code = EAGAIN;
	if (r < 0)
		return -err->code;
	const char *sid = jstr(reply, "ID");
	const char *warn = jstr(reply, "Warning");
	if (warn && warn[0])
		deis_log(LOG_NOTICE, "%s: docker: %s", spec->id, warn);
	r = sid ? follow_add(s, spec->id, sid, err) :
		deis_error_set(err, EIO, "docker: no ID for service %s", name);
	json_decref(reply);
	if (r < 0) {
		/* Not followed: it must not run unseen until a sweep. */
		struct deis_error e2 = DEIS_ERROR_INIT;
		if (service_delete(s, name, &e2) < 0)
			deis_log(LOG_WARNING, "%s: %s", name, e2.msg);
		return r;
	}
	*proc = (struct deis_backend_proc){ .fd = r, .pid = 0, .child = false };
	return 0;
}

static void swarm_inspect(struct deis_backend *b, const char *id,
			  struct deis_backend_state *st)
{
	struct swarm *s = SWARM(b);

	pthread_mutex_lock(&s->mu);
	struct follow *f = follow_find(s, id);
	/* A stop is a service update, safe at any moment: Swarm stops
	 * the task whatever it is doing. */
	st->signalable = true;
	st->started = f && f->seen && (!strcmp(f->t.state, "running") ||
					(f->ended && f->t.container));
	if (f && f->seen && !strcmp(f->t.state, "running")) {
		struct node *n = node_by_id(s, f->t.node);
		if (n) {
			copy(st->node, sizeof(st->node), n->name);
			copy(st->address, sizeof(st->address), n->address);
		}
		st->port = f->t.port;
	}
	pthread_mutex_unlock(&s->mu);
}

/* Replicas 0: Swarm sends the stop signal (after its 2 s gossip delay
 * for overlay tasks) and SIGKILL after StopGracePeriod.  On "update out
 * of sequence" (another update came between) it reads again. */
static int scale_to_zero(struct swarm *s, const char *service, struct deis_error *err)
{
	char path[300];
	int r = -EIO;

	for (int tries = 0; tries < 3; tries++) {
		json_t *svc = NULL;
		snprintf(path, sizeof(path), "/services/%s", service);
		if ((r = engine_call(s->e, "GET", path, NULL, NULL, &svc, err)) < 0)
			return r;
		json_int_t version = json_integer_value(jget(svc, "Version.Index"));
		json_t *spec = json_object_get(svc, "Spec");
		json_t *rep = jget(spec, "Mode.Replicated");
		if (rep)
			json_object_set_new(rep, "Replicas", json_integer(0));
		snprintf(path, sizeof(path), "/services/%s/update?version=%lld", service,
			 (long long)version);
		r = rep ? engine_call(s->e, "POST", path, spec, NULL, NULL, err) :
			service_delete(s, service, err);
		json_decref(svc);
		if (r != -EIO || !strstr(err->msg, "out of sequence"))
			return r;
	}
	return r;
}

static int swarm_stop(struct deis_backend *b, const char *id, bool force,
		      struct deis_error *err)
{
	char name[SWARM_NAME_MAX];

	service_of(id, name);
	if (!force)
		return scale_to_zero(SWARM(b), name, err);
	/* Its end is then a SIGKILL's, not a service gone astray. */
	pthread_mutex_lock(&SWARM(b)->mu);
	struct follow *f = follow_find(SWARM(b), id);
	if (f)
		f->killed = true;
	pthread_mutex_unlock(&SWARM(b)->mu);
	return service_delete(SWARM(b), name, err);
}

static void swarm_ended(struct deis_backend *b, const char *id, struct deis_backend_proc *proc,
			struct deis_backend_exit *ex)
{
	struct swarm *s = SWARM(b);
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_backend_exit dummy;
	char name[SWARM_NAME_MAX], node[80] = "";

	if (!ex)
		ex = &dummy;
	*ex = (struct deis_backend_exit){ .code = -1 };
	pthread_mutex_lock(&s->mu);
	struct follow *f = follow_find(s, id);
	if (f && f->down) {
		struct node *n = node_by_id(s, f->t.node);
		copy(node, sizeof(node), n ? n->name : f->t.node);
		snprintf(ex->error, sizeof(ex->error), "its node %s is down", node);
	} else if (f && f->gone && f->killed) {
		ex->code = 128 + SIGKILL;
		ex->signal = SIGKILL;
	} else if (f && f->gone) {
		snprintf(ex->error, sizeof(ex->error), "its service was removed");
	} else if (f && f->seen && f->t.container && is_ended_state(f->t.state)) {
		ex->code = f->t.code;
		if (ex->code > 128 && ex->code < 128 + 65)
			ex->signal = ex->code - 128;
	} else if (f && f->seen && f->t.error[0]) {
		snprintf(ex->error, sizeof(ex->error), "%s", f->t.error);
	} else {
		snprintf(ex->error, sizeof(ex->error), "its task ended with no status");
	}
	pthread_mutex_unlock(&s->mu);
	if (node[0])
		deis_log(LOG_WARNING, "%s: node %s is down: the instance ended", id, node);
	follow_drop(s, id);
	if (proc) {
		if (proc->fd >= 0)
			close(proc->fd);
		*proc = (struct deis_backend_proc)DEIS_BACKEND_PROC_INIT;
	}
	service_of(id, name);
	if (service_delete(s, name, &err) < 0)
		deis_log(LOG_WARNING, "%s: %s", id, err.msg);
}

static void swarm_remove(struct deis_backend *b, const char *id, const char *app,
			 const char *address)
{
	struct swarm *s = SWARM(b);
	struct deis_error err = DEIS_ERROR_INIT;
	char name[SWARM_NAME_MAX], path[200];

	service_of(id, name);
	if (service_delete(s, name, &err) < 0)
		deis_log(LOG_WARNING, "%s: %s", id, err.msg);
	follow_drop(s, id);
	if (!app)
		return;
	/* The app's network goes with its last service: the engine refuses
	 * while one uses it, and sweep() takes what is left. */
	swarm_network_name(app, name);
	snprintf(path, sizeof(path), "/networks/%s", name);
	engine_call(s->e, "DELETE", path, NULL, NULL, NULL, &err);
}

/* ---- after a restart ---- */

/* GET path?filters={"label":["io.deis"]} */
static int list_ours(struct swarm *s, const char *what, json_t **out, struct deis_error *err)
{
	char q[256], path[400];

	engine_escape("{\"label\":[\"" SWARM_LABEL "\"]}", q, sizeof(q));
	snprintf(path, sizeof(path), "/%s?filters=%s", what, q);
	return engine_call(s->e, "GET", path, NULL, NULL, out, err);
}

static int swarm_list(struct deis_backend *b,
		      void (*fn)(void *ctx, const struct deis_backend_found *f), void *ctx,
		      struct deis_error *err)
{
	struct swarm *s = SWARM(b);
	json_t *svcs = NULL, *j;
	size_t k;

	int r = list_ours(s, "services", &svcs, err);
	if (r < 0)
		return r;
	int *fds = xrealloc(NULL, (json_array_size(svcs) + 1) * sizeof(*fds));
	for (k = 0; k <= json_array_size(svcs); k++)
		fds[k] = -1;
	json_array_foreach(svcs, k, j) {
		const char *id = jstr(j, "Spec.Labels." SWARM_LABEL ".instance");
		const char *sid = jstr(j, "ID");
		if (!id || !sid)
			continue;
		if ((r = follow_add(s, id, sid, err)) < 0)
			break;
		fds[k] = r;
	}
	/* Their tasks now, not at the watcher's next turn. */
	if (r >= 0)
		r = poll_once(s, s->e, err);
	json_array_foreach(svcs, k, j) {
		const char *id = jstr(j, "Spec.Labels." SWARM_LABEL ".instance");
		if (fds[k] < 0)
			continue;
		if (r < 0) {
			close(fds[k]);
			continue;
		}
		pthread_mutex_lock(&s->mu);
		struct follow *f = follow_find(s, id);
		struct deis_backend_found found = { .id = id, .proc = DEIS_BACKEND_PROC_INIT };
		if (f && f->ended) {
			found.ended = true;
			close(fds[k]);
		} else {
			found.proc.fd = fds[k];
		}
		pthread_mutex_unlock(&s->mu);
		fn(ctx, &found);
	}
	free(fds);
	json_decref(svcs);
	return r < 0 ? r : 0;
}

/* Services of ours no instance knows, and app networks no service uses. */
static void swarm_sweep(struct deis_backend *b, bool (*known)(void *ctx, const char *id),
			void *ctx)
{
	struct swarm *s = SWARM(b);
	struct deis_error err = DEIS_ERROR_INIT;
	json_t *svcs = NULL, *nets = NULL, *j, *n;
	size_t k, m;

	if (list_ours(s, "services", &svcs, &err) < 0) {
		deis_log(LOG_WARNING, "swarm: %s", err.msg);
		return;
	}
	json_array_foreach(svcs, k, j) {
		const char *id = jstr(j, "Spec.Labels." SWARM_LABEL ".instance");
		if (id && known(ctx, id))
			continue;
		deis_log(LOG_NOTICE, "removing stray service %s (%s)", jstr(j, "Spec.Name"),
			 id ? id : "no instance");
		if (service_delete(s, jstr(j, "ID"), &err) < 0)
			deis_log(LOG_WARNING, "swarm: %s", err.msg);
		if (id)
			follow_drop(s, id);
	}
	if (list_ours(s, "networks", &nets, &err) == 0) {
		json_array_foreach(nets, m, n) {
			const char *app = jstr(n, "Labels." SWARM_LABEL ".app");
			bool used = false;
			json_array_foreach(svcs, k, j) {
				const char *id = jstr(j, "Spec.Labels." SWARM_LABEL ".instance");
				const char *sa = jstr(j, "Spec.Labels." SWARM_LABEL ".app");
				used |= id && known(ctx, id) && sa && app && !strcmp(sa, app);
			}
			if (used || !jstr(n, "ID"))
				continue;
			char path[200];
			snprintf(path, sizeof(path), "/networks/%s", jstr(n, "ID"));
			if (engine_call(s->e, "DELETE", path, NULL, NULL, NULL, &err) == 0)
				deis_log(LOG_NOTICE, "removed network %s: nothing uses it",
					 jstr(n, "Name"));
		}
	}
	json_decref(nets);
	json_decref(svcs);
}

static bool swarm_attached_runs(struct deis_backend *b, const char *id)
{
	return false;
}

static int swarm_attach(struct deis_backend *b, const struct deis_backend_spec *spec,
			const struct deis_backend_io *io,
			int (*placed)(void *ctx, const char *address, struct deis_error *err),
			void *ctx, char address[DEIS_BACKEND_ADDRESS_MAX], pid_t *pid,
			struct deis_error *err)
{
	address[0] = '\0';
	return deis_error_set(err, ENOTSUP, "attached one-offs (ssh ... run) are not "
			      "supported on the swarm backend yet; write the command to the "
			      "app's run file instead (it runs unattached, its output in the logs)");
}

/* ---- the cluster ---- */

/*
 * A host that left the swarm and joined again is two nodes of one name
 * to it, the old one down for good: the platform's node of that name is
 * the ready one (its row, its availability).  n is shadowed when another
 * node of its name is ready and it is not, or when both are down and
 * the other comes first.  (Tasks keep their own node's ID: a task of the
 * old one still reads as on a down node.)
 */
static bool node_shadowed(const struct swarm *s, const struct node *n)
{
	bool ready = !strcmp(n->state, "ready");

	for (size_t k = 0; k < s->nnodes; k++) {
		const struct node *o = &s->nodes[k];
		if (o == n || strcmp(o->name, n->name))
			continue;
		bool oready = !strcmp(o->state, "ready");
		if ((oready && !ready) || (oready == ready && o < n))
			return true;
	}
	return false;
}

static int swarm_nodes(struct deis_backend *b,
		       void (*fn)(void *ctx, const struct deis_backend_node *n), void *ctx,
		       struct deis_error *err)
{
	struct swarm *s = SWARM(b);

	pthread_mutex_lock(&s->mu);
	bool polled = s->polled;
	pthread_mutex_unlock(&s->mu);
	if (!polled) {
		int r = poll_once(s, s->e, err);
		if (r < 0)
			return r;
	}
	pthread_mutex_lock(&s->mu);
	for (size_t k = 0; k < s->nnodes; k++) {
		const struct node *n = &s->nodes[k];
		if (node_shadowed(s, n))
			continue;
		struct deis_backend_node bn = {
			.name = n->name, .address = n->address, .role = n->role,
			.state = n->state, .availability = n->availability,
			.containers = n->containers, .memory_total = n->memory,
			.memory_reserved = n->reserved,
		};
		fn(ctx, &bn);
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static int swarm_node_availability(struct deis_backend *b, const char *node,
				   const char *availability, struct deis_error *err)
{
	struct swarm *s = SWARM(b);
	char nid[80] = "", path[300];
	json_t *nd = NULL;

	if (strcmp(availability, "active") && strcmp(availability, "pause") &&
	    strcmp(availability, "drain"))
		return deis_error_set(err, EINVAL, "availability '%s': active, pause or drain",
				      availability);
	pthread_mutex_lock(&s->mu);
	for (size_t k = 0; k < s->nnodes; k++)
		if (!strcmp(s->nodes[k].name, node) && !node_shadowed(s, &s->nodes[k]))
			copy(nid, sizeof(nid), s->nodes[k].id);
	pthread_mutex_unlock(&s->mu);
	if (!nid[0])
		return deis_error_set(err, ENOENT, "no node %s in the swarm", node);
	snprintf(path, sizeof(path), "/nodes/%s", nid);
	int r = engine_call(s->e, "GET", path, NULL, NULL, &nd, err);
	if (r < 0)
		return r;
	json_t *spec = json_object_get(nd, "Spec");
	json_object_set_new(spec, "Availability", json_string(availability));
	snprintf(path, sizeof(path), "/nodes/%s/update?version=%lld", nid,
		 (long long)json_integer_value(jget(nd, "Version.Index")));
	r = engine_call(s->e, "POST", path, spec, NULL, NULL, err);
	json_decref(nd);
	return r;
}

/* ---- open, close ---- */

static void swarm_close(struct deis_backend *b)
{
	struct swarm *s = SWARM(b);

	if (s->watching) {
		pthread_mutex_lock(&s->mu);
		s->quit = true;
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->watcher, NULL);
	}
	for (size_t k = 0; k < s->nfl; k++)
		if (s->fl[k].efd >= 0)
			close(s->fl[k].efd);
	free(s->fl);
	free(s->nodes);
	free(s->auth);
	engine_close(s->we);
	engine_close(s->e);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int swarm_teardown(const struct deis_backend_conf *conf, struct deis_error *err)
{
	return 0;	/* the swarm's networks are the swarm's */
}

/* "host:port" of the registry the nodes pull from. */
static void registry_of(char *out, size_t len)
{
	const char *u = registry_opt && registry_opt[0] ? registry_opt : deis_conf.registry_url;

	if (!u || !strcmp(u, "none")) {
		out[0] = '\0';
		return;
	}
	const char *p = strstr(u, "://");
	p = p ? p + 3 : u;
	snprintf(out, len, "%.*s", (int)strcspn(p, "/"), p);
}

static int swarm_open(const struct deis_backend_conf *conf, struct deis_backend **out,
		      struct deis_error *err)
{
	struct swarm *s = calloc(1, sizeof(*s));
	json_t *info = NULL;

	if (!s)
		abort();
	s->b.ops = &deis_backend_swarm;
	pthread_mutex_init(&s->mu, NULL);
	int r = engine_open(socket_opt, &s->e, err);
	if (r == 0)
		r = engine_call(s->e, "GET", "/info", NULL, NULL, &info, err);
	if (r == 0) {
		const char *st = jstr(info, "Swarm.LocalNodeState");
		if (!st || strcmp(st, "active"))
			r = deis_error_set(err, ENOTCONN, "docker engine at %s: not in a swarm "
					   "(its state: %s)", socket_opt, st ? st : "unknown");
		else if (!json_is_true(jget(info, "Swarm.ControlAvailable")))
			r = deis_error_set(err, ENOTCONN, "docker engine at %s: a worker of "
					   "the swarm; the scheduler needs a manager", socket_opt);
	}
	json_decref(info);
	if (r < 0) {
		swarm_close(&s->b);
		return r;
	}
	registry_of(s->registry, sizeof(s->registry));
	s->auth = swarm_registry_auth(deis_conf.registry_user, deis_conf.registry_password,
				      s->registry);
	s->so = (struct swarm_spec_opts){
		.registry = s->registry, .init = init_opt ? init_opt : "",
		.user = user_opt ? user_opt : "", .grace = scheduler_conf.grace,
		.log_socket = log_socket_opt ? log_socket_opt : "",
	};
	if (!conf->attached) {
		engine_open(socket_opt, &s->we, err);
		if (pthread_create(&s->watcher, NULL, watch, s) != 0) {
			swarm_close(&s->b);
			return deis_error_set(err, EAGAIN, "swarm: cannot start its watcher");
		}
		s->watching = true;
		deis_log(LOG_INFO, "swarm: engine %s, images from %s, tasks polled every %d ms",
			 socket_opt, s->registry[0] ? s->registry : "(as named)", poll_ms_opt);
	}
	*out = &s->b;
	return 0;
}

const struct deis_backend_ops deis_backend_swarm = {
	.name = "swarm", .cluster = true, .options = swarm_options,
	.open = swarm_open, .close = swarm_close, .teardown = swarm_teardown,
	.start = swarm_start, .inspect = swarm_inspect, .stop = swarm_stop,
	.ended = swarm_ended, .remove = swarm_remove, .cpu_usage = NULL,
	.list = swarm_list, .sweep = swarm_sweep, .attached_runs = swarm_attached_runs,
	.attach = swarm_attach, .nodes = swarm_nodes,
	.node_availability = swarm_node_availability,
};
