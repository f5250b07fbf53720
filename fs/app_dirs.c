/*
 * app_dirs.c - the subdirectories of an app: config/<KEY>,
 * certs/<domain>.pem, releases/vN/, builds/<n>/, containers/<name>/.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deis/validate.h"
#include "tree.h"

/* ---- config/ ---- */

static int show_config_var(const struct node *n, struct deis_buf *out)
{
	const struct deis_release *rel = deis_app_current(n->app);
	const char *v = rel ? deis_kvlist_get(&rel->config, n->name) : NULL;

	if (v)
		deis_buf_adds(out, v);
	return 0;
}

static int store_config_var(struct req *r, const struct node *n, const char *data,
			    size_t len)
{
	long vlen = deis_config_value_check(data, len, &r->err);

	if (vlen < 0)
		return deis_error_prefix(&r->err, "config var '%s'", n->name);
	char *value = strndup(data, (size_t)vlen);
	if (!value)
		abort();
	struct deis_release_change c = { .kind = DEIS_RELEASE_SET, .key = n->name,
					 .value = value };
	int rc = release_change(r, n, &c);
	free(value);
	if (rc == 0 && n->scratch)
		tree_pending_stored(&nt_config, n->app->name, n->name);
	return rc;
}

static int unlink_config_var(struct req *r, const struct node *n)
{
	struct deis_release_change c = { .kind = DEIS_RELEASE_UNSET, .key = n->name };

	return release_change(r, n, &c);
}

/* mv config/A config/B: one release ("alice renamed A to B"). */
static int rename_config_var(struct req *r, const struct node *n, const char *toname)
{
	char key[256];

	snprintf(key, sizeof(key), "%s", n->name);
	struct deis_release_change c = { .kind = DEIS_RELEASE_RENAME, .key = key,
					 .new_key = toname };
	return release_change(r, n, &c);
}

/* A var's mtime is the time of the release that last changed it. */
static int64_t mtime_config_var(const struct node *n)
{
	const struct deis_app *a = n->app;
	const char *v = NULL;
	size_t i;

	if (!a->nreleases)
		return a->created;
	v = deis_kvlist_get(&a->releases[a->nreleases - 1]->config, n->name);
	for (i = a->nreleases - 1; i > 0; i--) {
		const char *prev = deis_kvlist_get(&a->releases[i - 1]->config, n->name);
		if (!prev || !v || strcmp(prev, v))
			break;
	}
	return a->releases[i]->created;
}

static const struct nodetype nt_config_var = {
	.pattern = "<KEY>", .mode = RW_MODE, .commit = COMMIT_CONTROL,
	.max = DEIS_CONFIG_VALUE_MAX + 1, .show = show_config_var, .store = store_config_var,
	.unlink = unlink_config_var, .rename = rename_config_var, .mtime = mtime_config_var,
	.help = "one file per var: write sets, rm unsets, mv renames",
	.doc_read = "the value, byte for byte",
	.doc_write = "sets (one release); `rm` unsets; `mv` renames",
};

static int config_lookup(const struct node *dir, const char *name, struct node *child)
{
	const struct deis_release *rel = deis_app_current(dir->app);

	return rel && deis_kvlist_get(&rel->config, name) ? 0 : -ENOENT;
}

static void config_list(const struct node *dir, struct req *r, struct node *e,
			struct tree_lister *l)
{
	const struct deis_release *rel = deis_app_current(dir->app);

	for (size_t i = 0; rel && i < rel->config.n; i++)
		tree_add(l, e, "%s", rel->config.items[i].key);
}

static bool config_creatable(const struct node *dir, const char *name, int flags)
{
	return deis_valid_config_key(name) && !temp_name(name, flags);
}

const struct nodetype nt_config = {
	.name = "config", .mode = DIR_MODE, .entry = &nt_config_var, .lookup = config_lookup,
	.list = config_list, .scratch_ns = "config", .creatable = config_creatable,
	.rmdir = unlink_ignore, .mtime = mtime_release, .help = "the config vars",
};

/* ---- certs/ ---- */

static int show_cert(const struct node *n, struct deis_buf *out)
{
	if (n->cert)
		deis_buf_adds(out, n->cert->pem);
	return 0;
}

/* "www.example.com.pem" -> "www.example.com" */
static bool cert_domain(const char *name, char *out, size_t len)
{
	size_t n = strlen(name);

	if (n <= 4 || strcmp(name + n - 4, ".pem") || n - 4 >= len)
		return false;
	memcpy(out, name, n - 4);
	out[n - 4] = '\0';
	return deis_valid_domain(out);
}

static int store_cert(struct req *r, const struct node *n, const char *data, size_t len)
{
	struct deis_cert_info info;
	char domain[256], app[64];
	struct tm tm = { 0 };

	if (!cert_domain(n->name, domain, sizeof(domain)))
		return deis_error_set(&r->err, EINVAL, "certs: '%s' is not <domain>.pem",
				      n->name);
	int rc = deis_cert_check(data, len, domain, time(NULL), &info, &r->err);
	if (rc < 0)
		return deis_error_prefix(&r->err, "certs/%s", n->name);
	strptime(info.not_after, "%Y-%m-%dT%H:%M:%SZ", &tm);
	int64_t not_after = (int64_t)timegm(&tm) * 1000000;
	char *pem = strndup(data, len);
	app_name(n, app, sizeof(app));
	rc = tree_commit(r, fs_store->cert_set, &(struct store_change){
		.app = app, .name = domain, .text = pem, .not_after = not_after });
	free(pem);
	if (rc == 0 && n->scratch)
		tree_pending_stored(&nt_certs, app, n->name);
	return rc;
}

static int unlink_cert(struct req *r, const struct node *n)
{
	char domain[256], app[64];

	if (!cert_domain(n->name, domain, sizeof(domain)))
		return -ENOENT;
	app_name(n, app, sizeof(app));
	return tree_commit(r, fs_store->cert_remove,
			   &(struct store_change){ .app = app, .name = domain });
}

static int64_t mtime_cert(const struct node *n)
{
	return n->cert ? n->cert->updated : n->app->created;
}

static const struct nodetype nt_cert = {
	.pattern = "<domain>.pem", .mode = S_IFREG | 0600, .commit = COMMIT_DOCUMENT,
	.max = 256 * 1024, .show = show_cert, .store = store_cert, .unlink = unlink_cert,
	.mtime = mtime_cert,
	.help = "certificate chain and key for a domain",
	.doc_read = "the chain and key as written (mode 0600)",
	.doc_write = "checked and stored; `rm` removes",
};

static int certs_lookup(const struct node *dir, const char *name, struct node *child)
{
	char domain[256];

	child->cert = cert_domain(name, domain, sizeof(domain)) ?
		      deis_app_cert(dir->app, domain) : NULL;
	return child->cert ? 0 : -ENOENT;
}

static void certs_list(const struct node *dir, struct req *r, struct node *e,
		       struct tree_lister *l)
{
	for (size_t i = 0; i < dir->app->ncerts; i++) {
		e->cert = &dir->app->certs[i];
		tree_add(l, e, "%s.pem", e->cert->domain);
	}
}

static bool certs_creatable(const struct node *dir, const char *name, int flags)
{
	char domain[256];

	return cert_domain(name, domain, sizeof(domain));
}

const struct nodetype nt_certs = {
	.name = "certs", .mode = DIR_MODE, .entry = &nt_cert, .lookup = certs_lookup,
	.list = certs_list, .scratch_ns = "certs", .creatable = certs_creatable,
	.rmdir = unlink_ignore, .mtime = mtime_app, .help = "TLS for custom domains",
};

/* ---- releases/ ---- */

/* The number a release's (after its 'v') or a build's name is: digits
 * without a leading zero, at most 10^9; -1 for anything else. */
static int entry_number(const char *name)
{
	char *end;

	if (name[0] < '1' || name[0] > '9')
		return -1;
	long v = strtol(name, &end, 10);
	return *end || v > 1000000000L ? -1 : (int)v;
}

static int64_t mtime_rel(const struct node *n)
{
	return n->rel->created;
}

/* A release's info changes with its status: its mtime is the last change
 * (the scheduler's verdict, or the newer release that superseded it). */
static int64_t mtime_rel_info(const struct node *n)
{
	const struct deis_rollout *ro = deis_app_rollout(n->app, n->rel->version);
	int64_t t = n->rel->created;

	if (ro && ro->updated > t)
		t = ro->updated;
	if (deis_release_status(n->app, n->rel, NULL) == DEIS_STATUS_SUPERSEDED) {
		const struct deis_release *live = deis_app_live(n->app);
		int64_t since = 0;
		if (live)
			deis_release_status(n->app, live, &since);
		if (since > t)
			t = since;
	}
	return t;
}

static int show_release_info(const struct node *n, struct deis_buf *out)
{
	const struct deis_release *rel = n->rel;
	int64_t since = 0;
	enum deis_release_status st = deis_release_status(n->app, rel, &since);
	char t[32];

	fmt_time(rel->created, t, sizeof(t));
	deis_buf_addf(out, "version: v%d\ncreated: %s\nby: %s\nsummary: %s\n",
		      rel->version, t, rel->owner, rel->summary);
	const struct deis_build *b = rel->build_number ?
		deis_app_build(n->app, rel->build_number) : NULL;
	if (b)
		build_line(b, out);
	else
		deis_buf_adds(out, "build: none\n");
	if (st == DEIS_STATUS_FAILED) {
		const struct deis_rollout *ro = deis_app_rollout(n->app, rel->version);
		deis_buf_addf(out, "status: failed: %s\n",
			      ro && ro->reason[0] ? ro->reason : "no reason recorded");
	} else {
		deis_buf_addf(out, "status: %s\n", deis_release_status_name(st));
	}
	if (since) {
		fmt_time(since, t, sizeof(t));
		deis_buf_addf(out, "deployed: %s\n", t);
	}
	return 0;
}

static int show_release_env(const struct node *n, struct deis_buf *out)
{
	deis_dotenv_format(&n->rel->config, out);
	return 0;
}

static const struct nodetype nt_release_info = {
	.name = "info", .mode = RO_MODE, .show = show_release_info, .mtime = mtime_rel_info,
	.unlink = unlink_ignore,
	.help = "version, created, by, summary, build, status",
	.doc_read = "version, created, by, summary, build, `status:` (see \"Deploys\" "
		"below) and, once it went live, `deployed:` (the time, as `created:`)",
	.doc_write = "read-only; all but the status and `deployed:` never change",
};
static const struct nodetype nt_release_env = {
	.name = "env", .mode = RO_MODE, .show = show_release_env, .mtime = mtime_rel,
	.unlink = unlink_ignore, .help = "the config of that release",
};
static const struct nodetype *const release_children[] = {
	&nt_release_info, &nt_release_env, NULL,
};
static const struct nodetype nt_release = {
	.pattern = "vN", .mode = DIR_MODE, .children = release_children, .mtime = mtime_rel,
	.rmdir = unlink_ignore, .help = "one release (they never change)",
};

/* current -> the live release (what runs); latest -> the newest one,
 * which may still be pending, or have failed. */
static int show_current(const struct node *n, struct deis_buf *out)
{
	const struct deis_release *rel = deis_app_live(n->app);

	deis_buf_addf(out, "v%d", rel ? rel->version : 0);
	return 0;
}

static int64_t mtime_current(const struct node *n)
{
	const struct deis_release *rel = deis_app_live(n->app);
	int64_t since = 0;

	if (rel)
		deis_release_status(n->app, rel, &since);
	return since ? since : n->app->created;
}

static int show_latest(const struct node *n, struct deis_buf *out)
{
	const struct deis_release *rel = deis_app_current(n->app);

	deis_buf_addf(out, "v%d", rel ? rel->version : 0);
	return 0;
}

static const struct nodetype nt_current = {
	.name = "current", .mode = S_IFLNK | 0777, .show = show_current,
	.mtime = mtime_current, .unlink = unlink_ignore,
	.help = "-> the live release: what runs",
	.doc_read = "symlink to the live `vN`: what runs",
};
static const struct nodetype nt_latest = {
	.name = "latest", .mode = S_IFLNK | 0777, .show = show_latest,
	.mtime = mtime_release, .unlink = unlink_ignore,
	.help = "-> the newest release, live or not",
	.doc_read = "symlink to the newest `vN`, live or not",
};

static int releases_lookup(const struct node *dir, const char *name, struct node *child)
{
	int v = name[0] == 'v' ? entry_number(name + 1) : -1;

	child->rel = v > 0 ? deis_app_release(dir->app, v) : NULL;
	return child->rel ? 0 : -ENOENT;
}

static void releases_list(const struct node *dir, struct req *r, struct node *e,
			  struct tree_lister *l)
{
	for (size_t i = 0; i < dir->app->nreleases; i++) {
		e->rel = dir->app->releases[i];
		tree_add(l, e, "v%d", e->rel->version);
	}
}

static const struct nodetype *const releases_children[] = { &nt_current, &nt_latest,
							   NULL };
const struct nodetype nt_releases = {
	.name = "releases", .mode = DIR_MODE, .children = releases_children,
	.entry = &nt_release, .lookup = releases_lookup, .list = releases_list,
	.mtime = mtime_release, .rmdir = unlink_ignore, .help = "every release",
};

/* ---- builds/ ---- */

static int64_t mtime_build(const struct node *n)
{
	return n->build->finished ? n->build->finished : n->build->created;
}

static int show_build_info(const struct node *n, struct deis_buf *out)
{
	const struct deis_build *b = n->build;
	char t[32];

	fmt_time(b->created, t, sizeof(t));
	deis_buf_addf(out, "number: %d\ncreated: %s\nby: %s\ncommit: %s\nstatus: %s\n"
		      "image: %s\n", b->number, t, b->owner, b->commit, b->status, b->image);
	return 0;
}

static int show_build_log(const struct node *n, struct deis_buf *out)
{
	if (n->build->log)
		deis_buf_adds(out, n->build->log);
	return 0;
}

static const struct nodetype nt_build_info = {
	.name = "info", .mode = RO_MODE, .show = show_build_info, .mtime = mtime_build,
	.unlink = unlink_ignore, .help = "number, created, by, commit, status, image",
};
static void logsrc_build(const struct node *n, char *src, size_t len)
{
	snprintf(src, len, "build.%d", n->build->number);
}

static const struct nodetype nt_build_log = {
	.name = "log", .mode = RO_MODE, .show = show_build_log, .mtime = mtime_log,
	.unlink = unlink_ignore, .direct = true, .logsrc = logsrc_build,
	.help = "the build's own log lines",
};
static const struct nodetype *const build_children[] = {
	&nt_build_info, &nt_build_log, NULL,
};
static const struct nodetype nt_build = {
	.pattern = "<n>", .mode = DIR_MODE, .children = build_children, .mtime = mtime_build,
	.rmdir = unlink_ignore, .help = "one build",
};

static int builds_lookup(const struct node *dir, const char *name, struct node *child)
{
	int v = entry_number(name);

	child->build = v > 0 ? deis_app_build(dir->app, v) : NULL;
	return child->build ? 0 : -ENOENT;
}

static void builds_list(const struct node *dir, struct req *r, struct node *e,
			struct tree_lister *l)
{
	for (size_t i = 0; i < dir->app->nbuilds; i++) {
		e->build = &dir->app->builds[i];
		tree_add(l, e, "%d", e->build->number);
	}
}

const struct nodetype nt_builds = {
	.name = "builds", .mode = DIR_MODE, .entry = &nt_build, .lookup = builds_lookup,
	.list = builds_list, .mtime = mtime_app, .rmdir = unlink_ignore,
	.help = "every build",
};
/* ---- containers/ (what the scheduler records) ---- */

static int64_t mtime_container(const struct node *n)
{
	return n->container->updated;
}

/* One fact of the container, as the scheduler records it; its address
 * is IP:PORT, where the router reaches it (empty until it has one). */
static int show_ct_fact(const struct node *n, struct deis_buf *out)
{
	const struct deis_container *c = n->container;
	const char *fact = n->t->name;
	char t[32];

	if (!strcmp(fact, "state"))
		deis_buf_addf(out, "%s\n", c->state);
	else if (!strcmp(fact, "release"))
		deis_buf_addf(out, "v%d\n", c->release);
	else if (!strcmp(fact, "node"))
		deis_buf_addf(out, "%s\n", c->node);
	else if (!strcmp(fact, "port"))
		deis_buf_addf(out, "%d\n", c->port);
	else if (!strcmp(fact, "restarts"))
		deis_buf_addf(out, "%d\n", c->restarts);
	else if (!strcmp(fact, "address") && c->address && c->address[0])
		deis_buf_addf(out, "%s:%d\n", c->address, c->port);
	else if (!strcmp(fact, "started") && c->started) {
		fmt_time(c->started, t, sizeof(t));
		deis_buf_addf(out, "%s\n", t);
	}
	return 0;
}

static void logsrc_container(const struct node *n, char *src, size_t len)
{
	snprintf(src, len, "%s", n->container->name);
}

static const struct nodetype ct_facts[] = {
	TREE_FACT("state", show_ct_fact, mtime_container, .unlink = unlink_ignore),
	TREE_FACT("release", show_ct_fact, mtime_container, .unlink = unlink_ignore),
	TREE_FACT("node", show_ct_fact, mtime_container, .unlink = unlink_ignore),
	TREE_FACT("address", show_ct_fact, mtime_container, .unlink = unlink_ignore),
	TREE_FACT("port", show_ct_fact, mtime_container, .unlink = unlink_ignore),
	TREE_FACT("started", show_ct_fact, mtime_container, .unlink = unlink_ignore),
	TREE_FACT("restarts", show_ct_fact, mtime_container, .unlink = unlink_ignore),
};
static const struct nodetype nt_ct_log = {
	.name = "log", .mode = RO_MODE, .show = show_empty, .mtime = mtime_log,
	.unlink = unlink_ignore, .direct = true, .logsrc = logsrc_container,
};
static const struct nodetype *const container_children[] = {
	&ct_facts[0], &ct_facts[1], &ct_facts[2], &ct_facts[3], &ct_facts[4],
	&ct_facts[5], &ct_facts[6], &nt_ct_log, NULL,
};
/* rmdir containers/web.2 (or rm -r): the scheduler replaces it, a new
 * instance first and the old one stopped once the new one is up. */
static int container_rmdir(struct req *r, const struct node *n)
{
	char app[64];

	app_name(n, app, sizeof(app));
	int rc = tree_commit(r, fs_store->container_restart, &(struct store_change){
		.app = app, .name = n->container->name });
	if (rc == 0)
		platform_line(app, "%s restarted %s", r->who.name, n->container->name);
	return rc;
}

static const struct nodetype nt_container = {
	.pattern = "<type>.<n>", .mode = DIR_MODE, .children = container_children,
	.mtime = mtime_container, .rmdir = container_rmdir,
	.help = "state, release, node, address, started, log",
	.doc_read = "`state` (`starting`, `up`, `crashed`, `stopping`), `release`, `node`, "
		"`address` (`IP:PORT`: its own on the node's bridge, where the router "
		"reaches it), `port` (`$PORT`), `started`, `restarts` as the scheduler "
		"records them, and `log`: that container's lines alone. During a rollout or "
		"a restart two instances of a name run side by side; the directory shows "
		"the newest that is not stopping",
	.doc_write = "`rmdir` (or `rm -r`): restart it — a new instance starts, and the "
		"old one stops once the new one is up. `ENOENT` for a name that does not run",
};

static int containers_lookup(const struct node *dir, const char *name, struct node *child)
{
	child->container = deis_app_container(dir->app, name);
	return child->container ? 0 : -ENOENT;
}

/* Instances of one name are together: the name is listed once, as
 * deis_app_container() picks its instance. */
static void containers_list(const struct node *dir, struct req *r, struct node *e,
			    struct tree_lister *l)
{
	const struct deis_app *a = dir->app;

	for (size_t i = 0; i < a->ncontainers; i++)
		if (!i || strcmp(a->containers[i].name, a->containers[i - 1].name)) {
			e->container = deis_app_container(a, a->containers[i].name);
			tree_add(l, e, "%s", e->container->name);
		}
}

const struct nodetype nt_containers = {
	.name = "containers", .mode = DIR_MODE, .mtime = mtime_app, .entry = &nt_container,
	.lookup = containers_lookup, .list = containers_list, .rmdir = unlink_ignore,
	.help = "what runs; rmdir containers/web.2 restarts one",
};
