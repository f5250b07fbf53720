/*
 * platform.c - platform/: domain, status, version and nodes/<node>/ (the
 * scheduler's heartbeats).  platform/quotas is in quota.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/quota.h"
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
	 * 5 s by default) is recent. */
	int64_t now = now_us();
	size_t live = 0;
	int containers = 0;
	pthread_mutex_lock(&state.nodes_lock);
	for (size_t i = 0; i < state.nnodes; i++)
		if (now - state.nodes[i].last_seen < NODE_STALE_US) {
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
	return 0;
}

/* ---- platform/nodes/<name> ---- */

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

/* platform/nodes/<node>/: one file per fact, as the scheduler's last
 * heartbeat recorded it. */
static bool node_live(const struct deis_node *nd)
{
	return now_us() - nd->last_seen < NODE_STALE_US;
}

/* One fact of the node's last heartbeat.  Its memory is what the
 * capacity admission weighs (platform/quotas): empty until the node's
 * scheduler has reported it. */
static int show_node_fact(const struct node *n, struct deis_buf *out)
{
	const char *fact = n->t->name;
	struct deis_node nd;
	char m[32];

	if (!node_get(n->host, &nd))
		return -ENOENT;
	if (!strcmp(fact, "address"))
		deis_buf_addf(out, "%s\n", nd.address);
	else if (!strcmp(fact, "state"))
		deis_buf_addf(out, "%s\n", node_live(&nd) ? "ready" : "unreachable");
	else if (!strcmp(fact, "containers"))
		deis_buf_addf(out, "%d\n", nd.containers);
	else if (nd.memory > 0) {
		deis_quota_memory_format(nd.memory, m, sizeof(m));
		deis_buf_addf(out, "%s\n", m);
	}
	return 0;
}

static int64_t mtime_node(const struct node *n)
{
	struct deis_node nd;

	return node_get(n->host, &nd) ? nd.last_seen : state.started;
}

static const struct nodetype node_facts[] = {
	TREE_FACT("address", show_node_fact, mtime_node, .direct = true),
	TREE_FACT("state", show_node_fact, mtime_node, .direct = true),
	TREE_FACT("containers", show_node_fact, mtime_node, .direct = true),
	TREE_FACT("memory", show_node_fact, mtime_node, .direct = true),
};
static const struct nodetype *const node_children[] = {
	&node_facts[0], &node_facts[1], &node_facts[2], &node_facts[3], NULL,
};
static const struct nodetype nt_node = {
	.pattern = "<node>", .mode = DIR_MODE, .children = node_children,
	.mtime = mtime_node,
	.help = "its address, state, containers, memory",
	.doc_read = "`address`, `state` (`ready`, or `unreachable` when its scheduler "
		"has not been heard of for 30 s), `containers` (how many it runs), "
		"`memory` (its MemTotal, `24683628K`; what the capacity check weighs), "
		"from its scheduler's heartbeat",
};

static int nodes_lookup(const struct node *dir, const char *name, struct node *child)
{
	struct deis_node nd;

	if (!node_get(name, &nd))
		return -ENOENT;
	snprintf(child->host, sizeof(child->host), "%s", name);
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
	.lookup = nodes_lookup, .list = nodes_list,
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
