/*
 * platform.c - platform/: domain, status (the modules' health, and each
 * service's state as its supervisor sees it), version and nodes/<node>/
 * (the scheduler's heartbeats).  platform/quotas is in quota.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/db.h"
#include "deis/log.h"
#include "deis/file.h"
#include "deis/quota.h"
#include "deis/validate.h"
#include "tree.h"

static int show_domain(const struct node *n, struct deis_buf *out)
{
	deis_buf_addf(out, "%s\n", deis_conf.platform_domain);
	return 0;
}

static int show_version(const struct node *n, struct deis_buf *out)
{
	deis_buf_addf(out, "deisfs %s\n", DEIS_VERSION);
	return 0;
}

/* ---- the services, as their supervisor (runit) sees them ----
 *
 * packaging/supervise.sh writes one runit service directory per service
 * under supervise_dir; runsv keeps its state in supervise/ (stat, pid,
 * and status: daemontools' 20 bytes), the run and finish scripts a
 * history ("EPOCH start PID", "EPOCH exit CODE SIGNAL WANT": WANT "u"
 * when nobody asked for the exit), and logfile links to the service's
 * log.  What is read is small and local: no request waits on a network.
 */

/* The services in start order; what one runs itself (rsyslog runs
 * deis-logd, deis-proxy its nginx) is shown below it. */
static const struct service_row {
	const char *name;
	const char *child;
} services[] = {
	{ "postgres", NULL }, { "redis", NULL }, { "rsyslog", "deis-logd" },
	{ "registry", NULL }, { "deisfs", NULL }, { "deis-builder", NULL },
	{ "deis-proxy", "nginx" }, { "deis-scheduler", NULL },
};

/* What a log line that reports an error holds, per program. */
static const char *const error_marks[] = {
	": error: ", ": crit: ", ": alert: ", ": emerg: ",	/* lib/log.c, finish */
	"ERROR:", "FATAL:", "PANIC:",				/* PostgreSQL */
	"[error]", "[crit]", "[alert]", "[emerg]",		/* nginx */
	"level=error", "level=fatal", "level=panic",		/* docker-registry */
	"rsyslog.com/e/",					/* rsyslogd */
};

/* runsv's status file: TAI64N of the last change (TAI64: 2^62 + 10 +
 * Unix seconds), the pid (little endian), paused, want ('u' or 'd'),
 * term, state (0 down, 1 run, 2 finish). */
#define SV_STATUS_LEN 20
#define TAI64_UNIX 4611686018427387914ULL

struct sv_state {
	bool supervised;	/* runsv runs (it reads supervise/ok) */
	int state;		/* 0 down, 1 run, 2 finish */
	char want;
	pid_t pid;
	int64_t since_us;
	int restarts;		/* exits nobody asked for, in the last hour */
	int64_t last_exit_us;
	char last_exit[48];	/* "killed by signal 9", "exit status 1" */
};

/* runsv holds supervise/ok open for reading while it runs: sv(8)'s own
 * test (a FIFO without a reader refuses a non-blocking writer). */
static bool runsv_alive(int dirfd)
{
	int fd = openat(dirfd, "supervise/ok", O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static void sv_history(int dirfd, struct sv_state *sv)
{
	FILE *f = NULL;
	int fd = openat(dirfd, "history", O_RDONLY | O_CLOEXEC);
	int64_t hour_ago = now_us() / 1000000 - 3600;
	char line[128];

	if (fd < 0 || !(f = fdopen(fd, "r"))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		long long t;
		int code, sig;
		char want;
		if (sscanf(line, "%lld exit %d %d %c", &t, &code, &sig, &want) != 4 || want != 'u')
			continue;
		if (t >= hour_ago)
			sv->restarts++;
		sv->last_exit_us = t * 1000000;
		if (code < 0)
			snprintf(sv->last_exit, sizeof(sv->last_exit), "killed by signal %d", sig);
		else
			snprintf(sv->last_exit, sizeof(sv->last_exit), "exit status %d", code);
	}
	fclose(f);
}

static void sv_read(int dirfd, struct sv_state *sv)
{
	unsigned char st[SV_STATUS_LEN];

	memset(sv, 0, sizeof(*sv));
	sv->supervised = runsv_alive(dirfd);
	if (deis_file_read_at(dirfd, "supervise/status", st, sizeof(st)) == SV_STATUS_LEN) {
		uint64_t tai = 0;
		for (int i = 0; i < 8; i++)
			tai = tai << 8 | st[i];
		sv->since_us = tai > TAI64_UNIX ? (int64_t)(tai - TAI64_UNIX) * 1000000 : 0;
		sv->pid = (pid_t)(st[12] | st[13] << 8 | st[14] << 16 | (uint32_t)st[15] << 24);
		sv->want = (char)st[17];
		sv->state = st[19];
	}
	sv_history(dirfd, sv);
}

/* The last line of the log (its last 64 KiB) that reports an error,
 * printable, or "". */
static void last_error(int dirfd, char *out, size_t len)
{
	enum { TAIL = 65536 };
	char *buf = malloc(TAIL + 1);
	int fd = openat(dirfd, "logfile", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	out[0] = '\0';
	if (!buf || fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return;
	}
	off_t from = st.st_size > TAIL ? st.st_size - TAIL : 0;
	ssize_t n = pread(fd, buf, TAIL, from);
	close(fd);
	if (n <= 0) {
		free(buf);
		return;
	}
	buf[n] = '\0';
	/* The first line may be cut: it starts after the first newline. */
	char *line = from ? strchr(buf, '\n') : buf, *found = NULL;
	size_t found_len = 0;
	while (line && *line) {
		if (*line == '\n')
			line++;
		char *nl = strchr(line, '\n');
		size_t l = nl ? (size_t)(nl - line) : strlen(line);
		if (nl)
			*nl = '\0';
		for (size_t i = 0; i < sizeof(error_marks) / sizeof(error_marks[0]); i++)
			if (strstr(line, error_marks[i])) {
				found = line;
				found_len = l;
				break;
			}
		if (nl)
			*nl = '\n';
		line = nl;
	}
	if (found)
		deis_printable(out, len, found, found_len);
	free(buf);
}

/* The pid of the child of parent whose name (comm) is name, or 0. */
static pid_t child_named(pid_t parent, const char *name)
{
	char path[64], buf[4096], comm[32];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)parent, (int)parent);
	deis_file_read_small(path, buf, sizeof(buf));
	for (char *save = NULL, *w = strtok_r(buf, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
		snprintf(path, sizeof(path), "/proc/%s/comm", w);
		deis_file_read_small(path, comm, sizeof(comm));
		comm[strcspn(comm, "\n")] = '\0';
		if (!strcmp(comm, name))
			return (pid_t)atoi(w);
	}
	return 0;
}

/* nginx's master: the pid in <home>/run/nginx.pid, when it runs. */
static pid_t nginx_master(void)
{
	char path[4096], buf[32];

	snprintf(path, sizeof(path), "%s/run/nginx.pid", deis_conf.home);
	deis_file_read_small(path, buf, sizeof(buf));
	pid_t pid = (pid_t)atoi(buf);
	return pid > 1 && kill(pid, 0) == 0 ? pid : 0;
}


/* A process a service runs itself, below it. */
static void show_child(struct deis_buf *out, const char *name, const struct sv_state *parent)
{
	bool nginx = !strcmp(name, "nginx");
	pid_t pid = nginx ? nginx_master() :
		parent->state == 1 ? child_named(parent->pid, name) : 0;

	if (pid > 0)
		deis_buf_addf(out, "  %-14s up (pid %d), run by %s\n", name, (int)pid,
			      nginx ? "deis-proxy, which starts it again within a second" : "rsyslog");
	else if (nginx)
		deis_buf_addf(out, "  %-14s down: deis-proxy starts it again within a second; "
			      "if it does not, see deis-proxy's log\n", name);
	else
		deis_buf_addf(out, "  %-14s idle: rsyslog starts it at the next log line\n", name);
}

/* One service: its state, what to do about it, its last error. */
static void show_service(struct deis_buf *out, int root, const struct service_row *row,
			 struct sv_state *sv)
{
	const char *dir = fs_conf.supervise_dir, *name = row->name;
	char since[32], when[32], err[256];
	int fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	memset(sv, 0, sizeof(*sv));
	if (fd < 0) {
		deis_buf_addf(out, "  %-14s unsupervised: no %s/%s (packaging/up writes it)\n",
			      name, dir, name);
		return;
	}
	sv_read(fd, sv);
	last_error(fd, err, sizeof(err));
	close(fd);
	fmt_time(sv->since_us, since, sizeof(since));
	fmt_time(sv->last_exit_us, when, sizeof(when));
	deis_buf_addf(out, "  %-14s ", name);
	if (!sv->supervised)
		deis_buf_addf(out, "unsupervised: runsv does not run for %s/%s (packaging/up "
			      "starts the supervisor)", dir, name);
	else if (sv->state == 1 && sv->want == 'u')
		deis_buf_addf(out, "up (pid %d, since %s)", (int)sv->pid, since);
	else if (sv->state == 1)
		deis_buf_addf(out, "stopping (pid %d): sv down was asked", (int)sv->pid);
	else if (sv->want == 'u')
		deis_buf_addf(out, "restarting (down since %s): see %s's log", since, name);
	else
		deis_buf_addf(out, "down since %s (sv down): start it with `sv up %s/%s`",
			      since, dir, name);
	if (sv->supervised) {
		deis_buf_addf(out, "; %d restart%s in the last hour", sv->restarts,
			      sv->restarts == 1 ? "" : "s");
		if (sv->restarts)
			deis_buf_addf(out, ", the last at %s (%s)", when, sv->last_exit);
		if (sv->restarts >= 5 && sv->state == 1)
			deis_buf_adds(out, ": it keeps failing, see its log");
	}
	deis_buf_adds(out, "\n");
	if (err[0])
		deis_buf_addf(out, "%17slast error: %s\n", "", err);
}

/* The services' lines of platform/status, after the modules'. */
static void show_services(struct deis_buf *out)
{
	const char *dir = fs_conf.supervise_dir;

	if (!dir || !*dir) {
		deis_buf_addf(out, "%-12s unsupervised: supervise_dir is not set%s\n", "services",
			      access("/run/systemd/system", F_OK) == 0 ?
			      " (under systemd: systemctl status deis.target)" : "");
		return;
	}
	int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		deis_buf_addf(out, "%-12s unsupervised: %s: %s\n", "services", dir, strerror(errno));
		return;
	}
	deis_buf_addf(out, "%-12s runit (%s)\n", "services", dir);
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		struct sv_state sv;
		show_service(out, root, &services[i], &sv);
		if (services[i].child)
			show_child(out, services[i].child, &sv);
	}
	close(root);
}

/* A node whose scheduler has not been heard of for this long is down. */
#define NODE_STALE_US (30LL * 1000000)

static void status_line(struct deis_buf *out, const char *module, long us,
			const char *error)
{
	if (us >= 0)
		deis_buf_addf(out, "%-12s ok (%ld.%03ld ms)\n", module, us / 1000, us % 1000);
	else
		deis_buf_addf(out, "%-12s down: %s\n", module, error);
}

static int show_status(const struct node *n, struct deis_buf *out)
{
	char started[32];

	fmt_time(state.started, started, sizeof(started));
	deis_buf_addf(out, "%-12s ok (pid %d, since %s, %zu apps, %zu users)\n",
		      "controller", (int)getpid(), started, state.napps, state.nusers);
	status_line(out, "database", state.db_latency_us, state.db_error);
	status_line(out, "cache", state.cache_latency_us, state.cache_error);

	/* A node is live while its scheduler's heartbeat (every resync,
	 * 5 s by default) is recent and its runtime does not say it is
	 * down. */
	int64_t now = now_us();
	size_t live = 0;
	int containers = 0;
	pthread_mutex_lock(&state.nodes_lock);
	for (size_t i = 0; i < state.nnodes; i++)
		if (now - state.nodes[i].last_seen < NODE_STALE_US &&
		    strcmp(state.nodes[i].state, "down")) {
			live++;
			containers += state.nodes[i].containers;
		}
	if (live)
		deis_buf_addf(out, "%-12s ok (%zu node%s, %d container%s)\n", "scheduler", live,
			      live == 1 ? "" : "s", containers, containers == 1 ? "" : "s");
	else
		deis_buf_addf(out, "%-12s down: no node seen in the last %d s\n", "scheduler",
			      (int)(NODE_STALE_US / 1000000));
	if (state.router_alive > 0)
		deis_buf_addf(out, "%-12s ok\n", "router");
	else
		deis_buf_addf(out, "%-12s %s\n", "router", state.router_alive < 0 ?
			      "unknown: the cache is down" : "down: no heartbeat from deis-proxy");
	pthread_mutex_unlock(&state.nodes_lock);
	show_services(out);
	return 0;
}

/* ---- platform/nodes/<name> ----
 *
 * One directory per node, from the rows its scheduler's heartbeat writes
 * (lib/db_sched.c; read again at every health probe, main.c): the swarm
 * scheduler reports every node of its cluster, a runc one its own.  The
 * availability an admin writes is the one fact that goes the other way:
 * the scheduler reads it at its next heartbeat and acts (drain: its
 * containers are replaced elsewhere, new first, docs/scheduler.md).
 */

/* Not a user's name (':' cannot be in one): set as the owner of a node's
 * files, it makes tree_access() refuse their opening for writing to
 * everyone but admins, at open (where a shell shows it) rather than at
 * the close that commits. */
#define NODE_OWNER ":admins"

static bool node_get(const char *name, struct deis_node *out)
{
	bool found = false;

	pthread_mutex_lock(&state.nodes_lock);
	for (size_t i = 0; i < state.nnodes && !found; i++)
		if (!strcmp(state.nodes[i].name, name)) {
			*out = state.nodes[i];
			found = true;
		}
	pthread_mutex_unlock(&state.nodes_lock);
	return found;
}

/* Its scheduler reported it lately (a dead scheduler reports nothing). */
static bool node_live(const struct deis_node *nd)
{
	return now_us() - nd->last_seen < NODE_STALE_US;
}

static void show_memory(struct deis_buf *out, long long bytes)
{
	char m[32];

	deis_quota_memory_format(bytes, m, sizeof(m));
	deis_buf_addf(out, "%s\n", m);
}

/* What the availability file says below the availability asked for:
 * where the runtime is on the way to it. */
static void availability_note(const struct deis_node *nd, struct deis_buf *out)
{
	const char *want = nd->desired, *is = nd->availability;

	if (!nd->movable)
		deis_buf_adds(out, "# its runtime cannot move containers to another node: "
			      "active only\n");
	else if (!strcmp(want, "drain") && !strcmp(is, "pause"))
		deis_buf_addf(out, "# draining: nothing new is placed here, %d container%s "
			      "left to replace elsewhere\n", nd->containers,
			      nd->containers == 1 ? "" : "s");
	else if (strcmp(want, is))
		deis_buf_addf(out, "# the runtime says %s: the scheduler applies %s at its "
			      "next heartbeat\n", is, want);
}

/* One fact of the node's last heartbeat (the rows' doc strings say what
 * each means). */
static int show_node_fact(const struct node *n, struct deis_buf *out)
{
	const char *fact = n->t->name;
	struct deis_node nd;

	if (!node_get(n->host, &nd))
		return -ENOENT;
	if (!strcmp(fact, "address"))
		deis_buf_addf(out, "%s\n", nd.address);
	else if (!strcmp(fact, "role"))
		deis_buf_addf(out, "%s\n", nd.role);
	else if (!strcmp(fact, "state"))
		deis_buf_addf(out, "%s\n", node_live(&nd) && strcmp(nd.state, "down") ?
			      "ready" : "down");
	else if (!strcmp(fact, "availability")) {
		deis_buf_addf(out, "%s\n", nd.desired);
		availability_note(&nd, out);
	} else if (!strcmp(fact, "containers"))
		deis_buf_addf(out, "%d\n", nd.containers);
	else if (nd.memory <= 0)
		;	/* not reported: empty */
	else if (!strcmp(fact, "memory"))
		show_memory(out, nd.memory);
	else if (!strcmp(fact, "memory_used"))
		show_memory(out, nd.memory_used);
	else
		show_memory(out, nd.memory > nd.memory_used ? nd.memory - nd.memory_used : 0);
	return 0;
}

/* The one word of an availability file: active, pause or drain ('#'
 * starts a comment, as in what it shows).  0 or -EINVAL. */
static int availability_parse(const char *data, size_t len, char *word, size_t wlen,
			      struct deis_error *err)
{
	size_t words = 0, i = 0;

	word[0] = '\0';
	while (i < len) {
		if (data[i] == '#') {
			while (i < len && data[i] != '\n')
				i++;
			continue;
		}
		if (data[i] == ' ' || data[i] == '\t' || data[i] == '\n') {
			i++;
			continue;
		}
		size_t start = i;
		while (i < len && data[i] != ' ' && data[i] != '\t' && data[i] != '\n' &&
		       data[i] != '#')
			i++;
		if (words++ == 0)
			snprintf(word, wlen, "%.*s", (int)(i - start), data + start);
	}
	if (words == 0)
		return deis_error_set(err, EINVAL, "availability: empty; write active, pause or "
				      "drain");
	if (words > 1)
		return deis_error_set(err, EINVAL, "availability: %zu words; write one, active, "
				      "pause or drain", words);
	if (strcmp(word, "active") && strcmp(word, "pause") && strcmp(word, "drain")) {
		char shown[40];
		deis_printable(shown, sizeof(shown), word, strlen(word));
		return deis_error_set(err, EINVAL, "availability: '%s' is not active, pause or "
				      "drain", shown);
	}
	return 0;
}

/*
 * echo drain > platform/nodes/<node>/availability (admins only): the
 * availability asked for, in one transaction, then an event ("node
 * <node>").  A node whose runtime cannot move containers (one runc node)
 * takes only active: pause would hold every start (deploys, restarts)
 * with nowhere else to go, drain would stop every app.  Refusals come at
 * write(); deisfs logs them with who asked.
 */
static int store_availability(struct req *r, const struct node *n, const char *data,
			      size_t len)
{
	struct deis_node nd;
	char word[16];
	int rc = 0;

	if (!r->who.admin)
		rc = deis_error_set(&r->err, EACCES, "only an admin may change a node's "
				    "availability");
	else if (!node_get(n->host, &nd))
		rc = deis_error_set(&r->err, ENOENT, "no node '%s'", n->host);
	else if ((rc = availability_parse(data, len, word, sizeof(word), &r->err)) < 0)
		;
	else if (!nd.movable && strcmp(word, "active"))
		rc = deis_error_set(&r->err, EOPNOTSUPP, "node %s runs its containers with a "
				    "runtime that cannot move them to another node (runc): %s "
				    "would %s; only active is taken", n->host, word,
				    !strcmp(word, "drain") ? "stop every app" :
				    "hold every start, with nowhere else to place it");
	if (rc < 0 || r->dry_run)
		return rc;	/* deisfs logs a refusal with its caller */
	/* Not through the store's table (store.h has no node operation): the
	 * pool's connection, as the health probe reads the nodes. */
	struct deis_db *db = db_acquire();
	bool differs = false;
	if (!db)
		return deis_error_set(&r->err, EIO, "the database is unreachable");
	rc = deis_db_node_availability_set(db, n->host, word, r->who.name, &differs, &r->err);
	db_release(db);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&state.nodes_lock);
	for (size_t i = 0; i < state.nnodes; i++)
		if (!strcmp(state.nodes[i].name, n->host))
			snprintf(state.nodes[i].desired, sizeof(state.nodes[i].desired), "%s", word);
	pthread_mutex_unlock(&state.nodes_lock);
	if (differs)
		deis_log(LOG_NOTICE, "node %s: availability %s, set by %s", n->host, word,
			 r->who.name);
	changed("node", n->host);
	return 0;
}

static int64_t mtime_node(const struct node *n)
{
	struct deis_node nd;

	return node_get(n->host, &nd) ? nd.last_seen : state.started;
}

#define NODE_FACT(fname, fhelp, fdoc) \
	TREE_FACT(fname, show_node_fact, mtime_node, .direct = true, .help = fhelp, \
		  .doc_read = fdoc)

static const struct nodetype node_facts[] = {
	NODE_FACT("address", "its address", "the address its containers are reached at "
		  "(the cluster address of a swarm node; `scheduler_address` of a runc one)"),
	NODE_FACT("role", "manager, worker or node", "`manager` or `worker` (a swarm "
		  "node's role), or `node` (a runc node: it runs its own containers only)"),
	NODE_FACT("state", "ready or down", "`ready`, or `down`: its runtime reports it "
		  "down, or no scheduler has reported it for 30 s (then every fact is its last)"),
	{ .name = "availability", .mode = RW_MODE, .commit = COMMIT_CONTROL,
	  .max = DEIS_CONTROL_MAX, .direct = true, .show = show_node_fact,
	  .store = store_availability, .mtime = mtime_node,
	  .help = "active, pause or drain",
	  .doc_read = "the availability an admin asked for (`active` until one writes): "
		"`active` (containers are placed there), `pause` (nothing new is), `drain` "
		"(nothing new is, and each container there is replaced elsewhere, the new one "
		"first, then stopped once no router sends to it). Then `#` lines: where the "
		"runtime is on the way (`# draining: ... 3 containers left`)",
	  .doc_write = "admins only (else `EACCES` at open): `active`, `pause` or `drain` "
		"(else `EINVAL`), in one transaction, then an event; the scheduler applies it "
		"at its next heartbeat. A node whose runtime cannot move containers (runc: one "
		"node) takes only `active`: `EOPNOTSUPP`, and nothing changes" },
	NODE_FACT("containers", "how many of the platform's containers run there",
		  "how many of the platform's containers run there (every app's processes, "
		  "one-offs and release phases; attached `run` sessions aside), as its "
		  "scheduler last counted them"),
	NODE_FACT("memory", "its memory", "its memory (`24683628K`: MemTotal of a runc "
		  "node, the engine's figure of a swarm node); what the capacity check weighs"),
	NODE_FACT("memory_used", "the memory its containers' limits reserve",
		  "the memory the limits of the containers running there reserve: each one's "
		  "`limits` memory, else `scheduler_memory` (what they may take, not what "
		  "they touch now)"),
	NODE_FACT("memory_free", "memory less memory_used",
		  "`memory` less `memory_used`, `0` when the limits there overcommit it"),
};
static const struct nodetype *const node_children[] = {
	&node_facts[0], &node_facts[1], &node_facts[2], &node_facts[3], &node_facts[4],
	&node_facts[5], &node_facts[6], &node_facts[7], NULL,
};
static const struct nodetype nt_node = {
	.pattern = "<node>", .mode = DIR_MODE, .children = node_children,
	.mtime = mtime_node,
	.help = "one node: what its scheduler reports, its availability",
	.doc_read = "one directory per node, from its scheduler's heartbeat (the swarm "
		"scheduler reports every node of its cluster; a runc one its own)",
};

static int nodes_lookup(const struct node *dir, const char *name, struct node *child)
{
	struct deis_node nd;

	if (!node_get(name, &nd))
		return -ENOENT;
	snprintf(child->host, sizeof(child->host), "%s", name);
	snprintf(child->owner, sizeof(child->owner), "%s", NODE_OWNER);
	return 0;
}

static void nodes_list(const struct node *dir, struct req *r, struct node *e,
		       struct tree_lister *l)
{
	char (*names)[256] = NULL;
	size_t n = 0;

	pthread_mutex_lock(&state.nodes_lock);
	if (state.nnodes) {
		names = calloc(state.nnodes, sizeof(*names));
		if (!names)
			abort();
		for (n = 0; n < state.nnodes; n++)
			snprintf(names[n], sizeof(names[n]), "%s", state.nodes[n].name);
	}
	pthread_mutex_unlock(&state.nodes_lock);
	snprintf(e->owner, sizeof(e->owner), "%s", NODE_OWNER);
	for (size_t i = 0; i < n; i++) {
		snprintf(e->host, sizeof(e->host), "%s", names[i]);
		tree_add(l, e, "%s", names[i]);
	}
	free(names);
}

static const struct nodetype nt_platform_domain = {
	.name = "domain", .mode = RO_MODE, .show = show_domain, .mtime = mtime_started,
	.help = "the platform domain (apps are <app>.<domain>)",
	.doc_read = "the platform domain (apps are `<app>.<domain>`)",
};
static const struct nodetype nt_platform_status = {
	.name = "status", .mode = RO_MODE, .show = show_status, .direct = true,
	.mtime = mtime_started, .event = "app",
	.help = "health of each module, with latency",
};
static const struct nodetype nt_platform_version = {
	.name = "version", .mode = RO_MODE, .show = show_version, .mtime = mtime_started,
	.help = "deisfs version",
};
static const struct nodetype nt_nodes = {
	.name = "nodes", .mode = DIR_MODE, .mtime = mtime_started, .entry = &nt_node,
	.lookup = nodes_lookup, .list = nodes_list, .event = "node",
	.help = "the nodes that run containers, one directory each",
};
static const struct nodetype *const platform_children[] = {
	&nt_platform_domain, &nt_platform_status, &nt_platform_version, &nt_nodes,
	&nt_platform_quotas, NULL,
};
const struct nodetype nt_platform = {
	.name = "platform", .mode = DIR_MODE, .children = platform_children,
	.mtime = mtime_started, .help = "the platform as a whole",
};
