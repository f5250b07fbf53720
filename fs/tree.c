/*
 * tree.c - the deisfs tree as a table of node types.
 *
 * Each directory is a static array of entries; each file has a show
 * function (render its content from the in-memory model) and, when
 * writable, a store function (validate, commit one transaction, reload).
 * Adding a file is one row and two small functions.  Dynamic directories
 * (apps/, config/, releases/ ...) add a lookup and a list function.
 *
 * Names the tree does not define, in directories that allow it, are
 * scratch files held in memory, so editors and `sed -i` can write a
 * temporary file and rename it over the real one (which commits).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/log.h"
#include "deis/drain.h"
#include "deis/quota.h"
#include "deis/registry.h"
#include "deis/validate.h"
#include "deisfs.h"
#include "settings.h"

#define DIR_MODE (S_IFDIR | 0755)
#define RO_MODE (S_IFREG | 0444)
#define RW_MODE (S_IFREG | 0644)

/* ---- helpers ---- */

static void fmt_time(int64_t us, char *out, size_t len)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Does caller use this app: admin, owner, or listed in perms. */
static bool app_user(const struct req *r, const struct deis_app *a)
{
	if (r->who.admin)
		return true;
	if (!r->who.name[0])
		return false;
	return !strcmp(a->owner, r->who.name) || deis_strlist_has(&a->perms, r->who.name);
}

static bool app_owner(const struct req *r, const struct deis_app *a)
{
	return r->who.admin || (r->who.name[0] && !strcmp(a->owner, r->who.name));
}

/* Temporary names of tools that write beside a file and rename it over
 * the file (GNU sed's "sedXXXXXX", Python's tempfile "tmpXXXXXXXX"):
 * created exclusively, such a name is a scratch file even where it would
 * be a valid config key, so `sed -i` never makes a stray variable. */
static bool temp_name(const char *name, int flags)
{
	size_t n = strlen(name);

	if (!(flags & O_EXCL))
		return false;
	if (n == 9 && !strncmp(name, "sed", 3))
		return true;
	if (n == 11 && !strncmp(name, "tmp", 3))
		return true;
	return false;
}

/* Names editors give their own files beside the one they edit: vim's
 * ".KEY.swp" and "4913" probe, backups "KEY~", emacs's "#KEY#".  In
 * config/, keys/ and certs/ such a name is a scratch file, never an entry. */
bool tree_editor_name(const char *name, int flags)
{
	size_t n = strlen(name);
	bool digits = n > 0;

	for (size_t i = 0; i < n; i++)
		if (name[i] < '0' || name[i] > '9')
			digits = false;
	return temp_name(name, flags) || name[0] == '.' || (n && name[n - 1] == '~') ||
	       (n > 1 && name[0] == '#' && name[n - 1] == '#') || digits;
}

/* Is this caller allowed to change users/<name>? */
static bool user_self(const struct req *r, const char *name)
{
	return r->who.admin || (r->who.name[0] && !strcmp(r->who.name, name));
}

/* After a committed change to an app: reload it here, then tell the
 * kernel and every other mount. */
static void app_changed(struct req *r, const char *app)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (state_reload_app(app, &err) < 0)
		deis_log(LOG_WARNING, "reloading app '%s': %s", app, err.msg);
	changed("app", app);
}

static void user_changed(const char *user)
{
	struct deis_error err = DEIS_ERROR_INIT;

	if (state_reload_user(user, &err) < 0)
		deis_log(LOG_WARNING, "reloading user '%s': %s", user, err.msg);
	changed("user", user);
}

/* Makes sure the acting user has a users/ row ("every user who has done
 * anything"). */
static void ensure_user(struct req *r, struct deis_db *db)
{
	bool known;

	pthread_rwlock_rdlock(&state.lock);
	known = state_user(r->who.name) != NULL;
	pthread_rwlock_unlock(&state.lock);
	if (known)
		return;
	if (deis_db_user_ensure(db, r->who.name, (int)r->who.uid, NULL) == 0)
		user_changed(r->who.name);
}

/* Runs one change against the database with a pooled connection, on
 * behalf of the request's user: the database checks their rights on the
 * app again, in the change's own transaction (deis_db_act_as).  In a dry
 * run it stops here and yields 1, which callers treat as "not done". */
#define WITH_DB(r, db, body) ({						\
	int rc_;							\
	struct deis_db *db = (r)->dry_run ? NULL : db_acquire();	\
	if ((r)->dry_run) {						\
		rc_ = 1;						\
	} else if (!db) {						\
		rc_ = deis_error_set(&(r)->err, EIO, "the database is unreachable"); \
	} else {							\
		ensure_user((r), db);					\
		deis_db_act_as(db, (r)->who.admin ? NULL : (r)->who.name); \
		rc_ = (body);						\
		db_release(db);						\
	}								\
	rc_;								\
})

/* WITH_DB and app_changed for fs/settings.c (see settings.h). */
int tree_app_change(struct req *r, const char *app,
		    int (*fn)(struct deis_db *db, void *arg, struct deis_error *err),
		    void *arg)
{
	int rc = WITH_DB(r, db, fn(db, arg, &r->err));

	if (rc == 0)
		app_changed(r, app);
	return rc;
}

/* Copies the app name out of the node: the node's pointers die with the
 * read lock, and stores run without it. */
static void app_name(const struct node *n, char *out, size_t len)
{
	snprintf(out, len, "%s", n->app ? n->app->name : "");
}

static int release_change(struct req *r, const struct node *n,
			  const struct deis_release_change *c)
{
	char app[64];
	int version = 0;

	app_name(n, app, sizeof(app));
	int rc = WITH_DB(r, db, deis_db_release_create(db, app, r->who.name, c,
							&version, &r->err));
	if (rc == 0 && version) {
		deis_log(LOG_INFO, "app %s: release v%d by %s", app, version, r->who.name);
		app_changed(r, app);
		pthread_rwlock_rdlock(&state.lock);
		const struct deis_app *a = state_app(app);
		const struct deis_release *rel = a ? deis_app_current(a) : NULL;
		if (rel && rel->version == version)
			platform_line(app, "%s (v%d)", rel->summary, version);
		pthread_rwlock_unlock(&state.lock);
	}
	return rc;
}

/* ---- root, README, platform ---- */

void tree_readme(struct deis_buf *out)
{
	deis_buf_adds(out,
"deisfs - the platform as files\n"
"\n"
"  platform/            domain, status (health of each module), version, nodes/,\n"
"                       quotas (every user's defaults; the nodes' overcommit)\n"
"  users/<name>/        info, quota; keys/<keyname>: cp ~/.ssh/id_ed25519.pub here\n"
"  apps/                mkdir apps/<app> creates an app, rmdir destroys it\n"
"  apps/<app>/\n"
"    info url git_url   about the app (read-only)\n"
"    env                all config vars (KEY=value lines); writing replaces them\n"
"    config/<KEY>       one file per var: write sets, rm unsets, mv renames\n"
"    formation          \"web=2 worker=1\": write to scale\n"
"    limits             \"web.memory=512M web.cpu=0.5\"\n"
"    domains            custom domains, one per line\n"
"    certs/<domain>.pem certificate chain and key for a domain\n");
	settings_readme(out);
	deis_buf_adds(out,
"    perms              users who may use the app, one per line\n"
"    procfile           process types of the current build\n"
"    releases/vN/       info (status) and env of each release; current -> the\n"
"                       live one, latest -> the newest\n"
"    rollback           write vN: a new release copying vN\n"
"    builds/<n>/        info and log of each build\n"
"    containers/        the running containers; rmdir containers/web.2 restarts it\n"
"    run                write a command: a one-off container runs it\n"
"    image              write an image reference in the registry: deploy it\n"
"    logs               the app's log; tail -f works\n"
"    drains             syslog:// log drains, one per line\n"
"\n"
"Every change is one transaction; a config change makes one release.\n"
"A bad write fails with EINVAL (EDQUOT past a quota or the nodes' capacity)\n"
"and the reason is in the daemon log.\n");
}

static int show_readme(const struct node *n, struct deis_buf *out)
{
	tree_readme(out);
	return 0;
}

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

static int show_node_address(const struct node *n, struct deis_buf *out)
{
	struct deis_node nd;

	if (!node_get(n->host, &nd))
		return -ENOENT;
	deis_buf_addf(out, "%s\n", nd.address);
	return 0;
}

static int show_node_state(const struct node *n, struct deis_buf *out)
{
	struct deis_node nd;

	if (!node_get(n->host, &nd))
		return -ENOENT;
	deis_buf_addf(out, "%s\n", node_live(&nd) ? "ready" : "unreachable");
	return 0;
}

static int show_node_containers(const struct node *n, struct deis_buf *out)
{
	struct deis_node nd;

	if (!node_get(n->host, &nd))
		return -ENOENT;
	deis_buf_addf(out, "%d\n", nd.containers);
	return 0;
}

/* What the capacity admission weighs (platform/quotas); empty until the
 * node's scheduler has reported it. */
static int show_node_memory(const struct node *n, struct deis_buf *out)
{
	struct deis_node nd;
	char m[32];

	if (!node_get(n->host, &nd))
		return -ENOENT;
	if (nd.memory > 0) {
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

#define NODE_FILE(var, fname, fshow) \
	static const struct nodetype var = { .name = fname, .mode = RO_MODE, \
		.show = fshow, .mtime = mtime_node, .direct = true }

NODE_FILE(nt_node_address, "address", show_node_address);
NODE_FILE(nt_node_state, "state", show_node_state);
NODE_FILE(nt_node_containers, "containers", show_node_containers);
NODE_FILE(nt_node_memory, "memory", show_node_memory);
static const struct nodetype *const node_children[] = {
	&nt_node_address, &nt_node_state, &nt_node_containers, &nt_node_memory, NULL,
};
static const struct nodetype nt_node = {
	.mode = DIR_MODE, .children = node_children, .mtime = mtime_node,
};

static int nodes_lookup(const struct node *dir, const char *name, struct node *child)
{
	struct deis_node nd;

	if (!node_get(name, &nd))
		return -ENOENT;
	child->t = &nt_node;
	snprintf(child->host, sizeof(child->host), "%s", name);
	return 0;
}

static void nodes_list(const struct node *dir, struct req *r,
		       void (*add)(void *, const char *, const struct node *), void *ctx)
{
	struct node c = *dir;
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
		c.t = &nt_node;
		snprintf(c.name, sizeof(c.name), "%s", names[i]);
		snprintf(c.host, sizeof(c.host), "%s", names[i]);
		add(ctx, names[i], &c);
	}
	free(names);
}

static int64_t mtime_started(const struct node *n)
{
	return state.started;
}

static const struct nodetype nt_readme = {
	.name = "README", .mode = RO_MODE, .show = show_readme, .mtime = mtime_started,
};
static const struct nodetype nt_platform_domain = {
	.name = "domain", .mode = RO_MODE, .show = show_domain, .mtime = mtime_started,
};
static const struct nodetype nt_platform_status = {
	.name = "status", .mode = RO_MODE, .show = show_status, .direct = true,
	.mtime = mtime_started,
};
static const struct nodetype nt_platform_version = {
	.name = "version", .mode = RO_MODE, .show = show_version, .mtime = mtime_started,
};
static const struct nodetype nt_nodes = {
	.name = "nodes", .mode = DIR_MODE, .mtime = mtime_started,
	.lookup = nodes_lookup, .list = nodes_list,
};
static const struct nodetype *const platform_children[] = {
	&nt_platform_domain, &nt_platform_status, &nt_platform_version, &nt_nodes,
	&nt_platform_quotas, NULL,
};
static const struct nodetype nt_platform = {
	.name = "platform", .mode = DIR_MODE, .children = platform_children,
	.mtime = mtime_started,
};

/* ---- users/<name>/ ---- */

static int64_t mtime_user(const struct node *n)
{
	return n->user ? n->user->updated : state.started;
}

static int show_user_info(const struct node *n, struct deis_buf *out)
{
	char t[32];
	bool admin = false;
	int uid = n->user ? n->user->uid : -1;

	uid_t u;
	gid_t g;
	if (local_user(n->owner, &u, &g)) {
		struct caller c;
		uid = (int)u;
		caller_lookup(u, g, &c);
		admin = c.admin;
	}
	deis_buf_addf(out, "name: %s\n", n->owner);
	if (uid >= 0)
		deis_buf_addf(out, "uid: %d\n", uid);
	deis_buf_addf(out, "admin: %s\n", admin ? "yes" : "no");
	if (n->user) {
		fmt_time(n->user->created, t, sizeof(t));
		deis_buf_addf(out, "created: %s\n", t);
	}
	/* Which apps a user owns is theirs to know (and the admins'), as a
	 * home directory's listing is: others see the rest. */
	const struct caller *v = n->viewer;
	if (v && (v->admin || (v->name[0] && !strcmp(v->name, n->owner)))) {
		deis_buf_adds(out, "apps:");
		for (size_t i = 0; i < state.napps; i++)
			if (!strcmp(state.apps[i]->owner, n->owner))
				deis_buf_addf(out, " %s", state.apps[i]->name);
		deis_buf_addch(out, '\n');
	}
	for (size_t i = 0; n->user && i < n->user->nkeys; i++) {
		const struct deis_key *k = &n->user->keys[i];
		deis_buf_addf(out, "key: %s %s %s\n", k->name, k->type, k->fingerprint);
	}
	return 0;
}

static int show_key(const struct node *n, struct deis_buf *out)
{
	if (n->scratch)
		deis_buf_add(out, n->scratch->data.data, n->scratch->data.len);
	else if (n->key)
		deis_buf_adds(out, n->key->data);
	return 0;
}

static int store_key(struct req *r, const struct node *n, const char *data, size_t len)
{
	struct deis_sshkey key = { 0 };
	struct deis_buf line = DEIS_BUF_INIT;
	char user[64], name[256];

	if (!user_self(r, n->owner))
		return deis_error_set(&r->err, EACCES, "only %s or an admin may change "
				      "%s's keys", n->owner, n->owner);
	int rc = deis_sshkey_parse(data, len, &key, &r->err);
	if (rc < 0)
		return deis_error_prefix(&r->err, "key '%s'", n->name);
	deis_sshkey_format(&key, &line);
	snprintf(user, sizeof(user), "%s", n->owner);
	snprintf(name, sizeof(name), "%s", n->name);
	for (size_t i = 0; r->dry_run && i < state.nusers; i++)
		for (size_t j = 0; j < state.users[i]->nkeys; j++) {
			const struct deis_key *k = &state.users[i]->keys[j];
			if (!strcmp(k->fingerprint, key.fingerprint) &&
			    (strcmp(state.users[i]->name, user) || strcmp(k->name, name)))
				rc = deis_error_set(&r->err, EEXIST, "key %s is already "
						    "registered as %s/%s", key.fingerprint,
						    state.users[i]->name, k->name);
		}
	if (rc == 0)
		rc = WITH_DB(r, db, deis_db_key_add(db, user, name, key.type, line.data,
					     key.fingerprint, &r->err));
	if (rc == 0) {
		deis_log(LOG_INFO, "user %s: key %s added (%s) by %s", user, name,
			 key.fingerprint, r->who.name);
		if (n->scratch) {
			char dir[128];
			snprintf(dir, sizeof(dir), "keys:%s", user);
			pthread_rwlock_wrlock(&state.lock);
			struct scratch *s = scratch_find(dir, name);
			if (s)
				scratch_remove(s);
			pthread_rwlock_unlock(&state.lock);
		}
		user_changed(user);
	}
	deis_sshkey_clear(&key);
	deis_buf_release(&line);
	return rc;
}

static int unlink_key(struct req *r, const struct node *n)
{
	char user[64], name[256];

	if (!user_self(r, n->owner))
		return deis_error_set(&r->err, EACCES, "only %s or an admin may change "
				      "%s's keys", n->owner, n->owner);
	snprintf(user, sizeof(user), "%s", n->owner);
	snprintf(name, sizeof(name), "%s", n->name);
	int rc = WITH_DB(r, db, deis_db_key_remove(db, user, name, &r->err));
	if (rc == 0)
		user_changed(user);
	return rc;
}

static int64_t mtime_key(const struct node *n)
{
	return n->key ? n->key->created : n->scratch ? n->scratch->mtime : state.started;
}

static const struct nodetype nt_key = {
	.mode = RW_MODE, .commit = COMMIT_CONTROL, .max = 16384, .show = show_key,
	.store = store_key, .unlink = unlink_key, .mtime = mtime_key,
};

static void keys_scratch_dir(const struct node *dir, char *out, size_t len)
{
	snprintf(out, len, "keys:%s", dir->owner);
}

static int keys_lookup(const struct node *dir, const char *name, struct node *child)
{
	if (!dir->user)
		return -ENOENT;
	const struct deis_key *k = deis_user_key(dir->user, name);
	if (!k)
		return -ENOENT;
	child->t = &nt_key;
	child->key = k;
	return 0;
}

static void keys_list(const struct node *dir, struct req *r,
		      void (*add)(void *, const char *, const struct node *), void *ctx)
{
	struct node c = *dir;

	for (size_t i = 0; dir->user && i < dir->user->nkeys; i++) {
		c.t = &nt_key;
		c.key = &dir->user->keys[i];
		snprintf(c.name, sizeof(c.name), "%s", c.key->name);
		add(ctx, c.name, &c);
	}
}

static bool keys_creatable(const struct node *dir, const char *name, int flags)
{
	return deis_valid_key_name(name) && !temp_name(name, flags);
}

static const struct nodetype nt_keys = {
	.name = "keys", .mode = DIR_MODE, .lookup = keys_lookup, .list = keys_list,
	.scratch_dir = keys_scratch_dir, .creatable = keys_creatable,
	.mtime = mtime_user,
};
/* direct: its content depends on the reader, so the kernel's page cache
 * (shared by every user of the mount) must not keep it. */
static const struct nodetype nt_user_info = {
	.name = "info", .mode = RO_MODE, .show = show_user_info, .mtime = mtime_user,
	.direct = true,
};
static const struct nodetype *const user_children[] = {
	&nt_user_info, &nt_keys, &nt_user_quota, NULL,
};
static const struct nodetype nt_user = {
	.mode = DIR_MODE, .children = user_children, .mtime = mtime_user,
};

static int users_lookup(const struct node *dir, const char *name, struct node *child)
{
	const struct deis_user *u = state_user(name);

	/* A local user who has done nothing yet still has a directory, so
	 * the first `cp key.pub users/me/keys/laptop` works. */
	if (!u && (!deis_valid_user_name(name) || !local_user(name, NULL, NULL)))
		return -ENOENT;
	child->t = &nt_user;
	child->user = u;
	snprintf(child->owner, sizeof(child->owner), "%s", name);
	return 0;
}

static void users_list(const struct node *dir, struct req *r,
		       void (*add)(void *, const char *, const struct node *), void *ctx)
{
	struct node c = *dir;
	bool self_listed = false;

	for (size_t i = 0; i < state.nusers; i++) {
		c.t = &nt_user;
		c.user = state.users[i];
		snprintf(c.owner, sizeof(c.owner), "%s", c.user->name);
		add(ctx, c.owner, &c);
		if (!strcmp(c.owner, r->who.name))
			self_listed = true;
	}
	if (!self_listed && r->who.name[0] && deis_valid_user_name(r->who.name)) {
		c.t = &nt_user;
		c.user = NULL;
		snprintf(c.owner, sizeof(c.owner), "%s", r->who.name);
		add(ctx, c.owner, &c);
	}
}

static int users_mkdir(struct req *r, const struct node *dir, const char *name)
{
	struct passwd pw, *pwp = NULL;
	char buf[4096];

	if (!r->who.admin)
		return deis_error_set(&r->err, EACCES, "only an admin may create users");
	if (!deis_valid_user_name(name))
		return deis_error_set(&r->err, EINVAL, "'%s' is not a valid user name", name);
	int uid = getpwnam_r(name, &pw, buf, sizeof(buf), &pwp) == 0 && pwp ?
		  (int)pwp->pw_uid : -1;
	int rc = WITH_DB(r, db, deis_db_user_create(db, name, uid, &r->err));
	if (rc == 0)
		user_changed(name);
	return rc;
}

static const struct nodetype nt_users = {
	.name = "users", .mode = DIR_MODE, .lookup = users_lookup, .list = users_list,
	.mkdir = users_mkdir, .mtime = mtime_started,
};

/* ---- apps/<app>/ files ---- */

static int64_t mtime_app(const struct node *n)
{
	return n->app->updated;
}

static int64_t mtime_created(const struct node *n)
{
	return n->app->created;
}

static int64_t mtime_release(const struct node *n)
{
	const struct deis_release *rel = deis_app_current(n->app);

	return rel ? rel->created : n->app->created;
}

static void app_url(const struct deis_app *a, struct deis_buf *out)
{
	deis_buf_addf(out, "http://%s.%s", a->name, deis_conf.platform_domain);
	if (deis_conf.http_port != 80)
		deis_buf_addf(out, ":%d", deis_conf.http_port);
}

static void app_git_url(const struct deis_app *a, struct deis_buf *out)
{
	deis_buf_addf(out, "ssh://git@%s:%d/%s.git", deis_conf.ssh_host,
		      deis_conf.ssh_port, a->name);
}

static int show_url(const struct node *n, struct deis_buf *out)
{
	app_url(n->app, out);
	deis_buf_addch(out, '\n');
	return 0;
}

static int show_git_url(const struct node *n, struct deis_buf *out)
{
	app_git_url(n->app, out);
	deis_buf_addch(out, '\n');
	return 0;
}

/* "build: 3 (1a2b3c4)", or for an image deployed without a build,
 * "build: 3 (image hello@sha256:...)". */
static void build_line(const struct deis_build *b, struct deis_buf *out)
{
	if (b->commit[0])
		deis_buf_addf(out, "build: %d (%.7s)\n", b->number, b->commit);
	else
		deis_buf_addf(out, "build: %d (image %s)\n", b->number, b->image);
}

/* info names what runs: the live release and its build (not the newest
 * release, which may be pending or failed: releases/latest). */
static int show_info(const struct node *n, struct deis_buf *out)
{
	const struct deis_app *a = n->app;
	const struct deis_release *rel = deis_app_live(a);
	const struct deis_build *b = rel && rel->build_number ?
		deis_app_build(a, rel->build_number) : NULL;
	char t[32];

	fmt_time(a->created, t, sizeof(t));
	deis_buf_addf(out, "name: %s\nowner: %s\ncreated: %s\nurl: ", a->name, a->owner, t);
	app_url(a, out);
	deis_buf_adds(out, "\ngit_url: ");
	app_git_url(a, out);
	deis_buf_addf(out, "\nrelease: v%d\n", rel ? rel->version : 0);
	if (b)
		build_line(b, out);
	else
		deis_buf_adds(out, "build: none\n");
	deis_buf_adds(out, "formation:");
	for (size_t i = 0; i < a->formation.n; i++)
		deis_buf_addf(out, " %s=%s", a->formation.items[i].key,
			      a->formation.items[i].value);
	deis_buf_adds(out, "\ndomains:");
	for (size_t i = 0; i < a->domains.n; i++)
		deis_buf_addf(out, " %s", a->domains.items[i]);
	deis_buf_addf(out, "\nmaintenance: %s\n", deis_app_setting(a, "maintenance"));
	return 0;
}

static int show_env(const struct node *n, struct deis_buf *out)
{
	const struct deis_release *rel = deis_app_current(n->app);

	if (rel)
		deis_dotenv_format(&rel->config, out);
	return 0;
}

/* Checks every key and value of a parsed env document. */
static int check_vars(struct req *r, const struct deis_kvlist *vars)
{
	for (size_t i = 0; i < vars->n; i++) {
		if (!deis_valid_config_key(vars->items[i].key))
			return deis_error_set(&r->err, EINVAL, "config key '%s' is not valid: "
					      "a key is [A-Za-z_][A-Za-z0-9_]*",
					      vars->items[i].key);
		size_t vlen = strlen(vars->items[i].value);
		if (vlen > DEIS_CONFIG_VALUE_MAX)
			return deis_error_set(&r->err, EINVAL, "config var '%s' is over %d "
					      "bytes", vars->items[i].key, DEIS_CONFIG_VALUE_MAX);
	}
	return 0;
}

static int store_env(struct req *r, const struct node *n, const char *data, size_t len)
{
	struct deis_kvlist vars = DEIS_KVLIST_INIT;

	if (r->partial) {
		/* Line by line, from where the last check of this descriptor
		 * stopped: a document written a line per write() costs linear
		 * time, not quadratic. */
		size_t good, lines;
		size_t from = r->checked <= len ? r->checked : 0;
		int rc = deis_dotenv_check(data + from, len - from, r->checked_lines + 1,
					   &good, &lines, &r->err);
		if (rc == 0) {
			r->checked = from + good;
			r->checked_lines += lines;
		}
		return rc;
	}
	int rc = deis_dotenv_parse(data, len, &vars, &r->err);

	if (rc == 0)
		rc = check_vars(r, &vars);
	if (rc == 0) {
		struct deis_release_change c = { .kind = DEIS_RELEASE_ENV, .vars = &vars };
		rc = release_change(r, n, &c);
	}
	deis_kvlist_clear(&vars);
	return rc;
}

static int show_formation(const struct node *n, struct deis_buf *out)
{
	deis_formation_format(&n->app->formation, out);
	return 0;
}

static int store_formation(struct req *r, const struct node *n, const char *data,
			   size_t len)
{
	struct deis_kvlist f = DEIS_KVLIST_INIT;
	char app[64];
	int rc = deis_formation_parse(data, len, &f, &r->err);

	app_name(n, app, sizeof(app));
	const struct deis_build *b = r->dry_run ? deis_app_current_build(n->app) : NULL;
	for (size_t i = 0; rc == 0 && b && i < f.n; i++)
		if (!deis_kvlist_get(&b->procfile, f.items[i].key))
			rc = deis_error_set(&r->err, EINVAL, "formation: process type '%s' "
					    "is not in the current build's Procfile",
					    f.items[i].key);
	if (rc == 0 && r->dry_run)
		rc = quota_admit(r, n->app, &f, NULL, 0);
	if (rc == 0)
		rc = WITH_DB(r, db, deis_db_formation_set(db, app, &f, &r->err));
	if (rc == 0) {
		struct deis_buf line = DEIS_BUF_INIT;
		for (size_t i = 0; i < f.n; i++)
			deis_buf_addf(&line, " %s=%s", f.items[i].key, f.items[i].value);
		deis_log(LOG_INFO, "app %s: formation set by %s", app, r->who.name);
		app_changed(r, app);
		platform_line(app, "%s scaled%s", r->who.name, f.n ? line.data : " to nothing");
		deis_buf_release(&line);
	}
	deis_kvlist_clear(&f);
	return rc;
}

static int64_t mtime_formation(const struct node *n)
{
	return n->app->formation_mtime;
}

static int show_limits(const struct node *n, struct deis_buf *out)
{
	const struct deis_release *rel = deis_app_current(n->app);

	if (rel)
		deis_limits_format(&rel->limits, out);
	return 0;
}

static int store_limits(struct req *r, const struct node *n, const char *data, size_t len)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	int rc = deis_limits_parse(data, len, &l, &r->err);

	if (rc == 0 && r->dry_run)
		rc = quota_admit(r, n->app, NULL, &l, 0);
	if (rc == 0) {
		struct deis_release_change c = { .kind = DEIS_RELEASE_LIMITS, .vars = &l };
		rc = release_change(r, n, &c);
	}
	deis_kvlist_clear(&l);
	return rc;
}

static int show_domains(const struct node *n, struct deis_buf *out)
{
	deis_lines_format(&n->app->domains, out);
	return 0;
}

/* A domain belongs to one app, and so does every name a wildcard claims:
 * neither may claim a name of another app.  The caller holds the state
 * lock; the database's primary key is the last word on exact names. */
static int domains_taken(struct req *r, const char *app, const struct deis_strlist *d)
{
	for (size_t i = 0; i < state.napps; i++) {
		const struct deis_app *other = state.apps[i];
		if (!strcmp(other->name, app))
			continue;
		for (size_t j = 0; j < d->n; j++)
			for (size_t k = 0; k < other->domains.n; k++) {
				const char *mine = d->items[j], *theirs = other->domains.items[k];
				if (!deis_domains_overlap(mine, theirs))
					continue;
				if (!strcmp(mine, theirs))
					return deis_error_set(&r->err, EEXIST, "domain '%s' is "
							      "already used by another app", mine);
				return deis_error_set(&r->err, EEXIST, "domain '%s' overlaps "
						      "'%s' of another app", mine, theirs);
			}
	}
	return 0;
}

static int store_domains(struct req *r, const struct node *n, const char *data,
			 size_t len)
{
	struct deis_strlist d = DEIS_STRLIST_INIT;
	char app[64];
	int rc = deis_domains_parse(data, len, &d, &r->err);

	app_name(n, app, sizeof(app));
	/* The router serves <app>.<platform_domain> itself; a custom domain
	 * there would take (or wait for) another app's name. */
	for (size_t j = 0; rc == 0 && j < d.n; j++)
		if (deis_domain_is_platform(d.items[j], deis_conf.platform_domain))
			rc = deis_error_set(&r->err, EINVAL, "domains: '%s' is in the "
					    "platform domain (%s), whose names are the "
					    "apps' own: <app>.%s", d.items[j],
					    deis_conf.platform_domain, deis_conf.platform_domain);
	if (rc == 0) {
		if (!r->dry_run)	/* a dry run already holds the lock */
			pthread_rwlock_rdlock(&state.lock);
		rc = domains_taken(r, app, &d);
		if (!r->dry_run)
			pthread_rwlock_unlock(&state.lock);
	}
	if (rc == 0)
		rc = WITH_DB(r, db, deis_db_domains_set(db, app, &d, &r->err));
	if (rc == 0) {
		app_changed(r, app);
		platform_line(app, "%s changed domains", r->who.name);
	}
	deis_strlist_clear(&d);
	return rc;
}

static int64_t mtime_domains(const struct node *n)
{
	return n->app->domains_mtime;
}

static int show_perms(const struct node *n, struct deis_buf *out)
{
	deis_lines_format(&n->app->perms, out);
	return 0;
}

static int store_perms(struct req *r, const struct node *n, const char *data, size_t len)
{
	struct deis_strlist users = DEIS_STRLIST_INIT;
	char app[64];
	int rc;

	if (!app_owner(r, n->app))
		return deis_error_set(&r->err, EACCES, "only the owner (%s) or an admin "
				      "may change perms", n->app->owner);
	rc = deis_perms_parse(data, len, &users, &r->err);
	for (size_t i = 0; rc == 0 && i < users.n; i++) {
		bool known;
		if (!r->dry_run)	/* a dry run already holds it */
			pthread_rwlock_rdlock(&state.lock);
		known = state_user(users.items[i]) != NULL;
		if (!r->dry_run)
			pthread_rwlock_unlock(&state.lock);
		if (!known && !local_user(users.items[i], NULL, NULL))
			rc = deis_error_set(&r->err, EINVAL, "perms: no user '%s'",
					    users.items[i]);
	}
	app_name(n, app, sizeof(app));
	if (rc == 0)
		rc = WITH_DB(r, db, deis_db_perms_set(db, app, &users, &r->err));
	if (rc == 0) {
		app_changed(r, app);
		platform_line(app, "%s changed perms", r->who.name);
	}
	deis_strlist_clear(&users);
	return rc;
}

static int64_t mtime_perms(const struct node *n)
{
	return n->app->perms_mtime;
}

static int show_drains(const struct node *n, struct deis_buf *out)
{
	deis_lines_format(&n->app->drains, out);
	return 0;
}

/* A drain is a connection deis-logd makes from this host for the app: it
 * may not point at the platform (lib/drain.c says what that covers).
 * Checked at every write, against the host's addresses of the moment and
 * the platform's nodes; deis-logd checks again what a name resolves to. */
static int drains_allowed(const struct deis_strlist *urls, struct deis_error *err)
{
	struct deis_drain_policy p = DEIS_DRAIN_POLICY_INIT;
	struct deis_error e = DEIS_ERROR_INIT;
	char what[320];
	int rc = 0;

	if (deis_drain_policy_host(&p, deis_conf.network_subnet, &e) < 0)
		deis_log(LOG_WARNING, "drains: %s", e.msg);
	deis_error_clear(&e);
	pthread_mutex_lock(&state.nodes_lock);
	for (size_t i = 0; i < state.nnodes; i++) {
		snprintf(what, sizeof(what), "the address of platform node %s", state.nodes[i].name);
		deis_drain_policy_add(&p, state.nodes[i].address, what, &e);	/* IPs only */
		deis_error_clear(&e);
	}
	pthread_mutex_unlock(&state.nodes_lock);
	for (size_t i = 0; rc == 0 && i < urls->n; i++) {
		struct deis_drain d;
		rc = deis_drain_parse(urls->items[i], &d, err);
		if (rc == 0)
			rc = deis_drain_check_host(&p, &d, err);
	}
	deis_drain_policy_release(&p);
	return rc;
}

static int store_drains(struct req *r, const struct node *n, const char *data, size_t len)
{
	struct deis_strlist urls = DEIS_STRLIST_INIT;
	char app[64];
	int rc = deis_drains_parse(data, len, &urls, &r->err);

	if (rc == 0)
		rc = drains_allowed(&urls, &r->err);
	app_name(n, app, sizeof(app));
	if (rc == 0)
		rc = WITH_DB(r, db, deis_db_drains_set(db, app, &urls, &r->err));
	if (rc == 0) {
		app_changed(r, app);
		platform_line(app, "%s changed drains", r->who.name);
	}
	deis_strlist_clear(&urls);
	return rc;
}

static int64_t mtime_drains(const struct node *n)
{
	return n->app->drains_mtime;
}

/* image: the image of the current build; writing an image reference that
 * is in the registry deploys it without a build (Deis's builds:create).
 * An image of another app is taken only from an app the writer may use
 * (checked at write() and again at commit, with the writer's rights), and
 * is copied into this app's repository first (its blobs mounted, the same
 * manifest by digest), so the release names <app>@sha256:... and never
 * depends on what stays in the other repository. */
static int show_image(const struct node *n, struct deis_buf *out)
{
	const struct deis_build *b = deis_app_current_build(n->app);

	if (b && b->image[0])
		deis_buf_addf(out, "%s\n", b->image);
	return 0;
}

/* May the writer deploy an image of app `from`: as for any use of that
 * app (tree_access).  An unknown app and one the writer may not use get the
 * same EACCES, so names of other users' apps do not leak; an admin, who
 * may use any, is told ENOENT.  A dry run already holds the state lock. */
static int image_source_allowed(struct req *r, const char *from)
{
	int rc = 0;

	if (!r->dry_run)
		pthread_rwlock_rdlock(&state.lock);
	const struct deis_app *a = state_app(from);
	if (!a && r->who.admin)
		rc = deis_error_set(&r->err, ENOENT, "image: there is no app '%s'", from);
	else if (!a || !app_user(r, a))
		rc = deis_error_set(&r->err, EACCES,
				    "image: app '%s' does not exist, or %s may not use it",
				    from, r->who.name[0] ? r->who.name : "this user");
	if (!r->dry_run)
		pthread_rwlock_unlock(&state.lock);
	return rc;
}

static int store_image(struct req *r, const struct node *n, const char *data, size_t len)
{
	struct deis_image_ref ir;
	struct deis_image img;
	struct deis_registry *reg = NULL;
	char ref[512], full[160], app[64];
	int number = 0, version = 0;

	while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
		len--;
	if (len >= sizeof(ref))
		return deis_error_set(&r->err, EINVAL, "image: reference too long");
	memcpy(ref, data, len);
	ref[len] = '\0';
	int rc = deis_image_ref_parse(ref, &ir, &r->err);
	if (rc < 0)
		return deis_error_prefix(&r->err, "image");
	app_name(n, app, sizeof(app));
	bool other = strcmp(ir.name, app) != 0;
	if (other && (rc = image_source_allowed(r, ir.name)) < 0)
		return rc;
	if (r->dry_run)
		return 0;
	memset(&img, 0, sizeof(img));
	rc = deis_registry_open_platform(&reg, &r->err);
	if (rc == 0)
		rc = deis_registry_pull_image(reg, ref, &img, &r->err);
	if (rc == -ENOENT)
		deis_error_set(&r->err, EINVAL, "image: '%s' is not in the registry", ref);
	if (rc == 0 && !img.config.procfile.n)
		rc = deis_error_set(&r->err, EINVAL, "image: '%s' declares no process types",
				    ref);
	if (rc == 0 && other)
		rc = deis_registry_copy_image(reg, &img, app, &r->err);
	deis_registry_close(reg);
	if (rc < 0) {
		deis_image_clear(&img);
		return rc == -ENOENT ? -EINVAL : rc;
	}
	if (other)
		deis_log(LOG_INFO, "app %s: image %s@%s copied from %s for %s", app, app,
			 img.digest, ir.name, r->who.name);
	snprintf(full, sizeof(full), "%s@%s", app, img.digest);
	rc = WITH_DB(r, db, deis_db_build_create(db, app, r->who.name, "", &number, &r->err));
	if (rc == 0)
		rc = WITH_DB(r, db, deis_db_build_finish(db, app, number, "succeeded", full,
							 &img.config.procfile, &r->err));
	if (rc == 0) {
		char shortd[16];
		snprintf(shortd, sizeof(shortd), "%.7s", img.digest + 7);
		struct deis_release_change c = { .kind = DEIS_RELEASE_DEPLOY,
						 .version = number, .key = shortd };
		rc = WITH_DB(r, db, deis_db_release_create(db, app, r->who.name, &c,
							   &version, &r->err));
	}
	deis_image_clear(&img);
	if (rc == 0) {
		deis_log(LOG_INFO, "app %s: image %s deployed as v%d by %s", app, full,
			 version, r->who.name);
		app_changed(r, app);
		platform_line(app, "%s deployed image %s (v%d)", r->who.name, full, version);
	}
	return rc;
}

/* run: a command written here runs in a one-off container run.N on the
 * current release (Heroku's `heroku run`, detached); its output goes to
 * logs and to containers/run.N/log while it runs. */
static int store_run(struct req *r, const struct node *n, const char *data, size_t len)
{
	const struct deis_release *rel = deis_app_current(n->app);
	const struct deis_build *b = deis_app_current_build(n->app);
	char app[64];
	int number = 0;

	while (len && (data[len - 1] == '\n' || data[len - 1] == ' ' || data[len - 1] == '\t'))
		len--;
	while (len && (data[0] == ' ' || data[0] == '\t' || data[0] == '\n')) {
		data++;
		len--;
	}
	if (!len)
		return deis_error_set(&r->err, EINVAL, "run: no command given");
	if (memchr(data, '\0', len))
		return deis_error_set(&r->err, EINVAL, "run: the command holds a NUL byte");
	if (!rel || !b || !b->image[0])
		return deis_error_set(&r->err, EINVAL,
				      "run: the app has no build yet (git push first)");
	if (r->dry_run)
		return quota_admit(r, n->app, NULL, NULL, 1);
	char *cmd = strndup(data, len);
	if (!cmd)
		abort();
	app_name(n, app, sizeof(app));
	int rc = WITH_DB(r, db, deis_db_run_create(db, app, cmd, rel->version, NULL, 0,
						   &number, NULL, 0, &r->err));
	if (rc == 0) {
		deis_log(LOG_INFO, "app %s: run.%d started by %s", app, number, r->who.name);
		app_changed(r, app);
		platform_line(app, "%s ran `%s` as run.%d", r->who.name, cmd, number);
	}
	free(cmd);
	return rc;
}

static int show_procfile(const struct node *n, struct deis_buf *out)
{
	const struct deis_build *b = deis_app_current_build(n->app);

	for (size_t i = 0; b && i < b->procfile.n; i++)
		deis_buf_addf(out, "%s: %s\n", b->procfile.items[i].key,
			      b->procfile.items[i].value);
	return 0;
}

static int show_empty(const struct node *n, struct deis_buf *out)
{
	return 0;
}

static int store_rollback(struct req *r, const struct node *n, const char *data,
			  size_t len)
{
	int version;
	int rc = deis_version_parse(data, len, &version, &r->err);

	if (rc < 0)
		return rc;
	const struct deis_release *rel = deis_app_release(n->app, version);
	if (!rel)
		return deis_error_set(&r->err, ENOENT, "rollback: no release v%d", version);
	/* A copy of a failed release would fail the same way (or, worse,
	 * go live where it was judged unfit): never made. */
	if (deis_release_status(n->app, rel, NULL) == DEIS_STATUS_FAILED) {
		const struct deis_rollout *ro = deis_app_rollout(n->app, version);
		return deis_error_set(&r->err, EINVAL, "rollback: v%d failed (%s); it cannot "
				      "be deployed again", version,
				      ro && ro->reason[0] ? ro->reason : "no reason recorded");
	}
	/* Nor a copy of one from before the first build once the app has
	 * one: it would have nothing to run, the old build would keep
	 * running, and `current` would name a release that does not run. */
	const struct deis_release *cur = deis_app_current(n->app);
	const struct deis_build *b = rel->build_number ?
		deis_app_build(n->app, rel->build_number) : NULL;
	const struct deis_build *cb = cur && cur->build_number ?
		deis_app_build(n->app, cur->build_number) : NULL;
	if ((!b || !b->image[0]) && cb && cb->image[0])
		return deis_error_set(&r->err, EINVAL, "rollback: v%d has no build (it is "
				      "from before the first push): nothing to run", version);
	if (r->dry_run && (rc = quota_admit(r, n->app, NULL, &rel->limits, 0)) < 0)
		return rc;
	struct deis_release_change c = { .kind = DEIS_RELEASE_ROLLBACK, .version = version };
	return release_change(r, n, &c);
}

/* Removing a generated file is accepted and changes nothing, so that
 * `rm -rf apps/<app>` walks the tree and ends in the rmdir that
 * destroys the app. */
static int unlink_ignore(struct req *r, const struct node *n)
{
	return 0;
}

#define APP_FILE(var, fname, fmode, fshow, fmtime, ...) \
	static const struct nodetype var = { .name = fname, .mode = fmode, \
		.show = fshow, .mtime = fmtime, .unlink = unlink_ignore, __VA_ARGS__ }

APP_FILE(nt_info, "info", RO_MODE, show_info, mtime_app);
APP_FILE(nt_url, "url", RO_MODE, show_url, mtime_created);
APP_FILE(nt_git_url, "git_url", RO_MODE, show_git_url, mtime_created);
APP_FILE(nt_env, "env", RW_MODE, show_env, mtime_release, .commit = COMMIT_CONTROL,
	 .max = DEIS_ENV_MAX, .store = store_env);
APP_FILE(nt_formation, "formation", RW_MODE, show_formation, mtime_formation,
	 .commit = COMMIT_CONTROL, .max = DEIS_CONTROL_MAX, .store = store_formation);
APP_FILE(nt_limits, "limits", RW_MODE, show_limits, mtime_release,
	 .commit = COMMIT_CONTROL, .max = DEIS_CONTROL_MAX, .store = store_limits);
APP_FILE(nt_domains, "domains", RW_MODE, show_domains, mtime_domains,
	 .commit = COMMIT_CONTROL, .max = DEIS_CONTROL_MAX, .store = store_domains);
APP_FILE(nt_perms, "perms", RW_MODE, show_perms, mtime_perms,
	 .commit = COMMIT_CONTROL, .max = DEIS_CONTROL_MAX, .store = store_perms,
	 .owner_only = true);
APP_FILE(nt_procfile, "procfile", RO_MODE, show_procfile, mtime_release);
APP_FILE(nt_rollback, "rollback", S_IFREG | 0200, show_empty, mtime_release,
	 .commit = COMMIT_CONTROL, .max = 64, .store = store_rollback);
APP_FILE(nt_image, "image", RW_MODE, show_image, mtime_release,
	 .commit = COMMIT_CONTROL, .max = 1024, .store = store_image);
APP_FILE(nt_run, "run", S_IFREG | 0200, show_empty, mtime_release,
	 .commit = COMMIT_CONTROL, .max = DEIS_CONTROL_MAX, .store = store_run);
APP_FILE(nt_drains, "drains", RW_MODE, show_drains, mtime_drains,
	 .commit = COMMIT_CONTROL, .max = DEIS_CONTROL_MAX, .store = store_drains);

static void logsrc_app(const struct node *n, char *src, size_t len)
{
	snprintf(src, len, "%s", "");
}

/* A log's mtime is its last line's (tree_stat reads it with the size). */
static int64_t mtime_log(const struct node *n)
{
	return n->app->created;
}

APP_FILE(nt_logs, "logs", RO_MODE, show_empty, mtime_log, .direct = true,
	 .logsrc = logsrc_app);

/* ---- config/ ---- */

static int show_config_var(const struct node *n, struct deis_buf *out)
{
	if (n->scratch) {
		deis_buf_add(out, n->scratch->data.data, n->scratch->data.len);
		return 0;
	}
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
	if (rc == 0 && n->scratch) {
		char dir[128];
		snprintf(dir, sizeof(dir), "config:%s", n->app->name);
		pthread_rwlock_wrlock(&state.lock);
		struct scratch *s = scratch_find(dir, n->name);
		if (s && s->pending)
			scratch_remove(s);
		pthread_rwlock_unlock(&state.lock);
	}
	return rc;
}

static int unlink_config_var(struct req *r, const struct node *n)
{
	struct deis_release_change c = { .kind = DEIS_RELEASE_UNSET, .key = n->name };

	return release_change(r, n, &c);
}

/* A var's mtime is the time of the release that last changed it. */
static int64_t mtime_config_var(const struct node *n)
{
	const struct deis_app *a = n->app;
	const char *v = NULL;
	size_t i;

	if (n->scratch)
		return n->scratch->mtime;
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
	.mode = RW_MODE, .commit = COMMIT_CONTROL, .max = DEIS_CONFIG_VALUE_MAX + 1,
	.show = show_config_var, .store = store_config_var, .unlink = unlink_config_var,
	.mtime = mtime_config_var,
};

static int config_lookup(const struct node *dir, const char *name, struct node *child)
{
	const struct deis_release *rel = deis_app_current(dir->app);

	if (!rel || !deis_kvlist_get(&rel->config, name))
		return -ENOENT;
	child->t = &nt_config_var;
	return 0;
}

static void config_list(const struct node *dir, struct req *r,
			void (*add)(void *, const char *, const struct node *), void *ctx)
{
	const struct deis_release *rel = deis_app_current(dir->app);
	struct node c = *dir;

	for (size_t i = 0; rel && i < rel->config.n; i++) {
		c.t = &nt_config_var;
		snprintf(c.name, sizeof(c.name), "%s", rel->config.items[i].key);
		add(ctx, c.name, &c);
	}
}

static void config_scratch_dir(const struct node *dir, char *out, size_t len)
{
	snprintf(out, len, "config:%s", dir->app->name);
}

static bool config_creatable(const struct node *dir, const char *name, int flags)
{
	return deis_valid_config_key(name) && !temp_name(name, flags);
}

static const struct nodetype nt_config = {
	.name = "config", .mode = DIR_MODE, .lookup = config_lookup, .list = config_list,
	.scratch_dir = config_scratch_dir, .creatable = config_creatable,
	.rmdir = unlink_ignore, .mtime = mtime_release,
};

/* ---- certs/ ---- */

static int show_cert(const struct node *n, struct deis_buf *out)
{
	if (n->scratch)
		deis_buf_add(out, n->scratch->data.data, n->scratch->data.len);
	else if (n->cert)
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
	rc = WITH_DB(r, db, deis_db_cert_set(db, app, domain, pem, not_after, &r->err));
	free(pem);
	if (rc == 0) {
		if (n->scratch) {
			char dir[128];
			snprintf(dir, sizeof(dir), "certs:%s", app);
			pthread_rwlock_wrlock(&state.lock);
			struct scratch *s = scratch_find(dir, n->name);
			if (s && s->pending)
				scratch_remove(s);
			pthread_rwlock_unlock(&state.lock);
		}
		app_changed(r, app);
	}
	return rc;
}

static int unlink_cert(struct req *r, const struct node *n)
{
	char domain[256], app[64];

	if (!cert_domain(n->name, domain, sizeof(domain)))
		return -ENOENT;
	app_name(n, app, sizeof(app));
	int rc = WITH_DB(r, db, deis_db_cert_remove(db, app, domain, &r->err));
	if (rc == 0)
		app_changed(r, app);
	return rc;
}

static int64_t mtime_cert(const struct node *n)
{
	return n->cert ? n->cert->updated : n->scratch ? n->scratch->mtime : n->app->created;
}

static const struct nodetype nt_cert = {
	.mode = S_IFREG | 0600, .commit = COMMIT_DOCUMENT, .max = 256 * 1024,
	.show = show_cert, .store = store_cert, .unlink = unlink_cert, .mtime = mtime_cert,
};

static int certs_lookup(const struct node *dir, const char *name, struct node *child)
{
	char domain[256];

	if (!cert_domain(name, domain, sizeof(domain)))
		return -ENOENT;
	const struct deis_cert *c = deis_app_cert(dir->app, domain);
	if (!c)
		return -ENOENT;
	child->t = &nt_cert;
	child->cert = c;
	return 0;
}

static void certs_list(const struct node *dir, struct req *r,
		       void (*add)(void *, const char *, const struct node *), void *ctx)
{
	struct node c = *dir;

	for (size_t i = 0; i < dir->app->ncerts; i++) {
		c.t = &nt_cert;
		c.cert = &dir->app->certs[i];
		snprintf(c.name, sizeof(c.name), "%s.pem", c.cert->domain);
		add(ctx, c.name, &c);
	}
}

static void certs_scratch_dir(const struct node *dir, char *out, size_t len)
{
	snprintf(out, len, "certs:%s", dir->app->name);
}

static bool certs_creatable(const struct node *dir, const char *name, int flags)
{
	char domain[256];

	return cert_domain(name, domain, sizeof(domain));
}

static const struct nodetype nt_certs = {
	.name = "certs", .mode = DIR_MODE, .lookup = certs_lookup, .list = certs_list,
	.scratch_dir = certs_scratch_dir, .creatable = certs_creatable,
	.rmdir = unlink_ignore, .mtime = mtime_app,
};

/* ---- releases/ ---- */

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
};
static const struct nodetype nt_release_env = {
	.name = "env", .mode = RO_MODE, .show = show_release_env, .mtime = mtime_rel,
	.unlink = unlink_ignore,
};
static const struct nodetype *const release_children[] = {
	&nt_release_info, &nt_release_env, NULL,
};
static const struct nodetype nt_release = {
	.mode = DIR_MODE, .children = release_children, .mtime = mtime_rel,
	.rmdir = unlink_ignore,
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
};
static const struct nodetype nt_latest = {
	.name = "latest", .mode = S_IFLNK | 0777, .show = show_latest,
	.mtime = mtime_release, .unlink = unlink_ignore,
};

static int releases_lookup(const struct node *dir, const char *name, struct node *child)
{
	char *end;

	if (name[0] != 'v' || name[1] < '1' || name[1] > '9')
		return -ENOENT;
	long v = strtol(name + 1, &end, 10);
	if (*end || v > 1000000000L)
		return -ENOENT;
	child->rel = deis_app_release(dir->app, (int)v);
	if (!child->rel)
		return -ENOENT;
	child->t = &nt_release;
	return 0;
}

static void releases_list(const struct node *dir, struct req *r,
			  void (*add)(void *, const char *, const struct node *), void *ctx)
{
	struct node c = *dir;

	for (size_t i = 0; i < dir->app->nreleases; i++) {
		c.t = &nt_release;
		c.rel = dir->app->releases[i];
		snprintf(c.name, sizeof(c.name), "v%d", c.rel->version);
		add(ctx, c.name, &c);
	}
}

static const struct nodetype *const releases_children[] = { &nt_current, &nt_latest,
							   NULL };
static const struct nodetype nt_releases = {
	.name = "releases", .mode = DIR_MODE, .children = releases_children,
	.lookup = releases_lookup, .list = releases_list, .mtime = mtime_release,
	.rmdir = unlink_ignore,
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
	.unlink = unlink_ignore,
};
static void logsrc_build(const struct node *n, char *src, size_t len)
{
	snprintf(src, len, "build.%d", n->build->number);
}

static const struct nodetype nt_build_log = {
	.name = "log", .mode = RO_MODE, .show = show_build_log, .mtime = mtime_log,
	.unlink = unlink_ignore, .direct = true, .logsrc = logsrc_build,
};
static const struct nodetype *const build_children[] = {
	&nt_build_info, &nt_build_log, NULL,
};
static const struct nodetype nt_build = {
	.mode = DIR_MODE, .children = build_children, .mtime = mtime_build,
	.rmdir = unlink_ignore,
};

static int builds_lookup(const struct node *dir, const char *name, struct node *child)
{
	char *end;

	if (name[0] < '1' || name[0] > '9')
		return -ENOENT;
	long v = strtol(name, &end, 10);
	if (*end || v > 1000000000L)
		return -ENOENT;
	child->build = deis_app_build(dir->app, (int)v);
	if (!child->build)
		return -ENOENT;
	child->t = &nt_build;
	return 0;
}

static void builds_list(const struct node *dir, struct req *r,
			void (*add)(void *, const char *, const struct node *), void *ctx)
{
	struct node c = *dir;

	for (size_t i = 0; i < dir->app->nbuilds; i++) {
		c.t = &nt_build;
		c.build = &dir->app->builds[i];
		snprintf(c.name, sizeof(c.name), "%d", c.build->number);
		add(ctx, c.name, &c);
	}
}

static const struct nodetype nt_builds = {
	.name = "builds", .mode = DIR_MODE, .lookup = builds_lookup, .list = builds_list,
	.mtime = mtime_app, .rmdir = unlink_ignore,
};
/* ---- containers/ (what the scheduler records) ---- */

static int64_t mtime_container(const struct node *n)
{
	return n->container->updated;
}

static int show_ct_state(const struct node *n, struct deis_buf *out)
{
	deis_buf_addf(out, "%s\n", n->container->state);
	return 0;
}

static int show_ct_release(const struct node *n, struct deis_buf *out)
{
	deis_buf_addf(out, "v%d\n", n->container->release);
	return 0;
}

static int show_ct_node(const struct node *n, struct deis_buf *out)
{
	deis_buf_addf(out, "%s\n", n->container->node);
	return 0;
}

static int show_ct_port(const struct node *n, struct deis_buf *out)
{
	deis_buf_addf(out, "%d\n", n->container->port);
	return 0;
}

/* IP:PORT, where the router reaches it (empty until it has one). */
static int show_ct_address(const struct node *n, struct deis_buf *out)
{
	if (n->container->address && n->container->address[0])
		deis_buf_addf(out, "%s:%d\n", n->container->address, n->container->port);
	return 0;
}

static int show_ct_started(const struct node *n, struct deis_buf *out)
{
	char t[32];

	if (n->container->started) {
		fmt_time(n->container->started, t, sizeof(t));
		deis_buf_addf(out, "%s\n", t);
	}
	return 0;
}

static int show_ct_restarts(const struct node *n, struct deis_buf *out)
{
	deis_buf_addf(out, "%d\n", n->container->restarts);
	return 0;
}

static void logsrc_container(const struct node *n, char *src, size_t len)
{
	snprintf(src, len, "%s", n->container->name);
}

#define CT_FILE(var, fname, fshow) \
	static const struct nodetype var = { .name = fname, .mode = RO_MODE, \
		.show = fshow, .mtime = mtime_container, .unlink = unlink_ignore }

CT_FILE(nt_ct_state, "state", show_ct_state);
CT_FILE(nt_ct_release, "release", show_ct_release);
CT_FILE(nt_ct_node, "node", show_ct_node);
CT_FILE(nt_ct_port, "port", show_ct_port);
CT_FILE(nt_ct_address, "address", show_ct_address);
CT_FILE(nt_ct_started, "started", show_ct_started);
CT_FILE(nt_ct_restarts, "restarts", show_ct_restarts);
static const struct nodetype nt_ct_log = {
	.name = "log", .mode = RO_MODE, .show = show_empty, .mtime = mtime_log,
	.unlink = unlink_ignore, .direct = true, .logsrc = logsrc_container,
};
static const struct nodetype *const container_children[] = {
	&nt_ct_state, &nt_ct_release, &nt_ct_node, &nt_ct_address, &nt_ct_port,
	&nt_ct_started, &nt_ct_restarts, &nt_ct_log, NULL,
};
/* rmdir containers/web.2 (or rm -r): the scheduler replaces it, a new
 * instance first and the old one stopped once the new one is up. */
static int container_rmdir(struct req *r, const struct node *n)
{
	char app[64];

	app_name(n, app, sizeof(app));
	int rc = WITH_DB(r, db, deis_db_container_restart(db, app, n->container->name,
							  &r->err));
	if (rc == 0) {
		app_changed(r, app);
		platform_line(app, "%s restarted %s", r->who.name, n->container->name);
	}
	return rc;
}

static const struct nodetype nt_container = {
	.mode = DIR_MODE, .children = container_children, .mtime = mtime_container,
	.rmdir = container_rmdir,
};

static int containers_lookup(const struct node *dir, const char *name, struct node *child)
{
	child->container = deis_app_container(dir->app, name);
	if (!child->container)
		return -ENOENT;
	child->t = &nt_container;
	return 0;
}

static void containers_list(const struct node *dir, struct req *r,
			    void (*add)(void *, const char *, const struct node *), void *ctx)
{
	struct node c = *dir;

	for (size_t i = 0; i < dir->app->ncontainers; i++) {
		c.t = &nt_container;
		/* Instances of one name are together: list the name once,
		 * as deis_app_container() picks its instance. */
		if (i && !strcmp(dir->app->containers[i].name, dir->app->containers[i - 1].name))
			continue;
		c.container = deis_app_container(dir->app, dir->app->containers[i].name);
		add(ctx, c.container->name, &c);
	}
}

static const struct nodetype nt_containers = {
	.name = "containers", .mode = DIR_MODE, .mtime = mtime_app,
	.lookup = containers_lookup, .list = containers_list, .rmdir = unlink_ignore,
};

/* ---- apps/ ---- */

static const struct nodetype *const app_children[] = {
	&nt_info, &nt_url, &nt_git_url, &nt_env, &nt_config, &nt_formation,
	&nt_limits, &nt_domains, &nt_certs, &nt_perms, &nt_procfile, &nt_releases,
	&nt_rollback, &nt_builds, &nt_containers, &nt_logs, &nt_drains, &nt_image, &nt_run, NULL,
};

static void app_scratch_dir(const struct node *dir, char *out, size_t len)
{
	snprintf(out, len, "app:%s", dir->app->name);
}

static int app_rmdir(struct req *r, const struct node *n)
{
	char app[64];

	if (!app_owner(r, n->app))
		return deis_error_set(&r->err, EACCES, "only the owner (%s) or an admin "
				      "may destroy app '%s'", n->app->owner, n->app->name);
	app_name(n, app, sizeof(app));
	int rc = WITH_DB(r, db, deis_db_app_destroy(db, app, &r->err));
	if (rc == 0) {
		struct deis_error err = DEIS_ERROR_INIT;
		struct deis_cache *c = cache_acquire();
		deis_log(LOG_NOTICE, "app %s destroyed by %s", app, r->who.name);
		app_changed(r, app);
		/* The log server deletes its files when it sees the event. */
		if (c && deis_cache_log_delete(c, app, &err) < 0)
			deis_log(LOG_WARNING, "deleting the logs of %s: %s", app, err.msg);
		cache_release(c, err.code != 0);
	}
	return rc;
}

/* Its settings (healthcheck, maintenance ...) are the dynamic entries. */
static const struct nodetype nt_app = {
	.mode = DIR_MODE, .children = app_children, .lookup = settings_lookup,
	.list = settings_list, .scratch_dir = app_scratch_dir, .rmdir = app_rmdir,
	.mtime = mtime_app,
};

bool tree_is_gate(const struct node *n)
{
	return n->t == &nt_app;
}

static int apps_lookup(const struct node *dir, const char *name, struct node *child)
{
	const struct deis_app *a = state_app(name);

	if (!a)
		return -ENOENT;
	child->t = &nt_app;
	child->app = a;
	return 0;
}

static void apps_list(const struct node *dir, struct req *r,
		      void (*add)(void *, const char *, const struct node *), void *ctx)
{
	struct node c = *dir;

	for (size_t i = 0; i < state.napps; i++) {
		if (!app_user(r, state.apps[i]))
			continue;
		c.t = &nt_app;
		c.app = state.apps[i];
		add(ctx, c.app->name, &c);
	}
}

static int apps_mkdir(struct req *r, const struct node *dir, const char *name)
{
	if (!r->who.name[0])
		return deis_error_set(&r->err, EACCES, "uid %u has no user name",
				      (unsigned)r->who.uid);
	if (!deis_valid_app_name(name) || strlen(name) > DEIS_APP_NAME_MAX)
		return deis_error_set(&r->err, EINVAL, "'%s' is not a valid app name: "
				      "a name is a DNS label, [a-z0-9] and '-', at most "
				      "%d characters (its containers' names must fit a "
				      "host name)", name, DEIS_APP_NAME_MAX);
	int rc = WITH_DB(r, db, deis_db_app_create(db, name, r->who.name, &r->err));
	if (rc == 0) {
		deis_log(LOG_NOTICE, "app %s created by %s", name, r->who.name);
		app_changed(r, name);
		user_changed(r->who.name);
		platform_line(name, "%s created %s", r->who.name, name);
	}
	return rc;
}

static const struct nodetype nt_apps = {
	.name = "apps", .mode = DIR_MODE, .lookup = apps_lookup, .list = apps_list,
	.mkdir = apps_mkdir, .mtime = mtime_started,
};

static const struct nodetype *const root_children[] = {
	&nt_readme, &nt_platform, &nt_users, &nt_apps, NULL,
};
const struct nodetype nt_root = {
	.mode = DIR_MODE, .children = root_children, .mtime = mtime_started,
};

/* ---- scratch files ---- */

static int show_scratch(const struct node *n, struct deis_buf *out)
{
	deis_buf_add(out, n->scratch->data.data, n->scratch->data.len);
	return 0;
}

static int64_t mtime_scratch(const struct node *n)
{
	return n->scratch->mtime;
}

const struct nodetype nt_scratch = {
	.mode = S_IFREG, .show = show_scratch, .mtime = mtime_scratch,
};

/* ---- the generic operations ---- */

int tree_lookup(const struct node *dir, const char *name, struct node *child)
{
	const struct nodetype *t = dir->t;
	char sdir[160];

	if (!S_ISDIR(t->mode))
		return -ENOTDIR;
	if (strlen(name) >= sizeof(child->name))
		return -ENAMETOOLONG;
	*child = *dir;
	child->scratch = NULL;
	snprintf(child->name, sizeof(child->name), "%s", name);
	for (const struct nodetype *const *c = t->children; c && *c; c++) {
		if (!strcmp((*c)->name, name)) {
			child->t = *c;
			return 0;
		}
	}
	if (t->lookup && t->lookup(dir, name, child) == 0)
		return 0;
	if (t->scratch_dir) {
		t->scratch_dir(dir, sdir, sizeof(sdir));
		struct scratch *s = scratch_find(sdir, name);
		if (s) {
			child->scratch = s;
			if (!s->pending) {
				child->t = &nt_scratch;
				return 0;
			}
			/* A pending entry is the real type, not yet stored. */
			if (!strncmp(sdir, "config:", 7))
				child->t = &nt_config_var;
			else if (!strncmp(sdir, "certs:", 6))
				child->t = &nt_cert;
			else
				child->t = &nt_key;
			return 0;
		}
	}
	return -ENOENT;
}

int tree_access(const struct req *r, const struct node *n, bool want_write)
{
	if (n->app && !app_user(r, n->app))
		return -EACCES;
	/* What a user uses is theirs and the admins' to read. */
	if (n->t == &nt_user_quota && !user_self(r, n->owner))
		return -EACCES;
	if (!want_write)
		return 0;
	if (n->t == &nt_scratch)
		return 0;
	if (S_ISREG(n->t->mode) && !n->t->store)
		return -EACCES;
	/* Refused at open, not only at commit: a commit can come at the
	 * last close, where no one sees its error (`: > perms`). */
	if (n->t->owner_only && n->app && !app_owner(r, n->app))
		return -EACCES;
	if (n->user || n->owner[0]) {
		if (!user_self(r, n->owner))
			return -EACCES;
	}
	if (!r->who.name[0])
		return -EACCES;
	return 0;
}

void tree_stat(const struct node *n, ino_t ino, struct stat *st)
{
	struct deis_buf b = DEIS_BUF_INIT;
	int64_t mt = n->t->mtime ? n->t->mtime(n) : state.started;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = n->t->mode;
	if (n->scratch && n->t == &nt_scratch)
		st->st_mode = S_IFREG | (n->scratch->mode & 07777);
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	st->st_uid = 0;
	st->st_gid = 0;
	if (n->app)
		local_user(n->app->owner, &st->st_uid, &st->st_gid); else if (n->user && n->user->uid >= 0) {
		st->st_uid = (uid_t)n->user->uid;
	}
	if (n->scratch) {
		st->st_uid = n->scratch->uid;
		st->st_gid = n->scratch->gid;
	}
	if (n->t->logsrc) {
		char src[64];
		long long end;
		int64_t last;
		n->t->logsrc(n, src, sizeof(src));
		log_bounds(n->app->name, src[0] ? src : NULL, &end, &last);
		/* every byte ever written: the size only grows (tail -f reads
		 * a shrinking size as truncation) */
		st->st_size = (off_t)end;
		mt = last ? last : n->app->created;
	} else if (S_ISREG(st->st_mode) || S_ISLNK(st->st_mode)) {
		tree_show(n, &b);
		st->st_size = (off_t)b.len;
		deis_buf_release(&b);
	} else {
		st->st_size = 4096;
	}
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim.tv_sec = (time_t)(mt / 1000000);
	st->st_mtim.tv_nsec = (long)(mt % 1000000) * 1000;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

int tree_show(const struct node *n, struct deis_buf *out)
{
	if (!n->t->show)
		return -EISDIR;
	return n->t->show(n, out);
}

int tree_store(struct req *r, const struct node *n, const char *data, size_t len)
{
	if (!n->t->store)
		return deis_error_set(&r->err, EACCES, "'%s' is read-only", n->name);
	if (len > n->t->max)
		return deis_error_set(&r->err, EFBIG, "'%s' takes at most %zu bytes",
				      n->name, n->t->max);
	int rc;
	/* Everything a file stores is text in PostgreSQL, which takes UTF-8
	 * only: refused here, so that a value is stored byte for byte or
	 * refused at write, never dropped on the way.  (What an earlier
	 * check of the same descriptor saw is not scanned again.) */
	size_t from = r->partial && r->checked <= len ? r->checked : 0, bad;
	if (memchr(data + from, '\0', len - from))
		rc = deis_error_set(&r->err, EINVAL, "'%s': NUL bytes are not allowed",
				    n->name);
	else if (!deis_valid_utf8(data + from, len - from, &bad))
		rc = deis_error_set(&r->err, EINVAL, "'%s': not UTF-8 text (byte %zu); "
				    "encode binary data, for example in base64",
				    n->name, from + bad);
	else
		rc = n->t->store(r, n, data, len);
	/* The app's users read why in the app's log, as a platform line. */
	if (rc < 0 && n->app && rc != -EACCES)
		platform_line(n->app->name, "%s: refused: %s", r->who.name, r->err.msg);
	return rc;
}

/*
 * rename(2) inside the tree:
 *  - a scratch file onto a defined file commits its content there, whole
 *    (sed -i, vim, cp --atomic); the scratch file is gone after;
 *  - a scratch file onto another scratch name moves it;
 *  - config/A onto config/B renames the var (one release);
 *  - a defined file onto a scratch name copies its content there and leaves
 *    the file as it is (an editor's backup copy);
 *  - across directories: EXDEV, so mv falls back to copy and unlink;
 *  - anything else: EPERM.
 */
int tree_rename(struct req *r, const struct node *from, const struct node *todir,
		const char *toname, const struct node *to, bool to_exists)
{
	char sdir[160], fdir[160] = "";

	if (S_ISDIR(from->t->mode))
		return deis_error_set(&r->err, EPERM, "directories cannot be renamed");
	if (!todir->t->scratch_dir)
		return deis_error_set(&r->err, EXDEV, "cannot rename into this directory");
	todir->t->scratch_dir(todir, sdir, sizeof(sdir));
	if (from->scratch)
		snprintf(fdir, sizeof(fdir), "%s", from->scratch->dir);

	/* A pending entry (created, not yet stored) counts as defined. */
	bool to_defined = to_exists && to->t != &nt_scratch;
	struct node target;

	if (from->scratch && !to_defined && todir->t->creatable &&
	    todir->t->creatable(todir, toname, 0)) {
		/* e.g. `mv config/.tmp config/FOO` where FOO is new */
		target = *todir;
		snprintf(target.name, sizeof(target.name), "%s", toname);
		target.scratch = NULL;
		target.cert = NULL;
		target.key = NULL;
		if (!strncmp(sdir, "config:", 7))
			target.t = &nt_config_var;
		else if (!strncmp(sdir, "certs:", 6))
			target.t = &nt_cert;
		else
			target.t = &nt_key;
		to = &target;
		to_defined = true;
	}
	/* Scratch (or pending) content onto a defined file or var: commit,
	 * with the caller's rights on that file, as a write to it. */
	if (from->scratch && to_defined) {
		if (strcmp(fdir, sdir))
			return deis_error_set(&r->err, EXDEV, "cross-directory rename");
		if (tree_access(r, to, true) < 0)
			return deis_error_set(&r->err, EACCES, "%s may not write '%s'",
					      r->who.name[0] ? r->who.name : "this user",
					      to->name);
		struct deis_buf data = DEIS_BUF_INIT;
		deis_buf_add(&data, from->scratch->data.data, from->scratch->data.len);
		char fname[256];
		snprintf(fname, sizeof(fname), "%s", from->scratch->name);
		struct node dst = *to;
		pthread_rwlock_unlock(&state.lock);
		int rc = tree_store(r, &dst, deis_buf_str(&data), data.len);
		pthread_rwlock_wrlock(&state.lock);
		if (rc == 0) {
			struct scratch *s = scratch_find(fdir, fname);
			if (s)
				scratch_remove(s);
		}
		deis_buf_release(&data);
		return rc;
	}
	/* Scratch onto another scratch name: move it. */
	if (from->scratch) {
		if (strcmp(fdir, sdir))
			return deis_error_set(&r->err, EXDEV, "cross-directory rename");
		if (to_exists && to->scratch)
			scratch_remove(to->scratch);
		struct scratch *s = scratch_find(fdir, from->scratch->name);
		if (s) {
			free(s->name);
			s->name = strdup(toname);
			s->pending = false;
		}
		return 0;
	}
	/* config/A -> config/B */
	if (from->t == &nt_config_var && todir->t == &nt_config &&
	    deis_valid_config_key(toname) && (!to_exists || to->t == &nt_config_var)) {
		if (from->app != todir->app)
			return deis_error_set(&r->err, EXDEV, "cross-app rename");
		char key[256];
		snprintf(key, sizeof(key), "%s", from->name);
		struct deis_release_change c = { .kind = DEIS_RELEASE_RENAME,
						 .key = key, .new_key = toname };
		struct node n = *from;
		pthread_rwlock_unlock(&state.lock);
		int rc = release_change(r, &n, &c);
		pthread_rwlock_wrlock(&state.lock);
		return rc;
	}
	/* A defined file onto a scratch name: an editor's backup copy. */
	if (!from->scratch && (!to_exists || to->t == &nt_scratch) && from->t->show) {
		if (from->app != todir->app)
			return deis_error_set(&r->err, EXDEV, "cross-directory rename");
		struct deis_buf data = DEIS_BUF_INIT;
		tree_show(from, &data);
		struct scratch *s = to_exists ? to->scratch :
			scratch_create(sdir, toname, 0644, r->who.uid, r->who.gid, &r->err);
		int rc = s ? 0 : -r->err.code;
		if (rc == 0) {
			deis_buf_reset(&s->data);
			rc = mem_buf_reserve(&s->data, s->creator, MEM_SCRATCH, data.len, &r->err);
		}
		if (rc == 0) {
			deis_buf_add(&s->data, deis_buf_str(&data), data.len);
			s->mtime = now_us();
		}
		deis_buf_release(&data);
		return rc;
	}
	if (S_ISREG(from->t->mode))
		return deis_error_set(&r->err, EXDEV, "'%s' cannot be renamed here; "
				      "copy it instead", from->name);
	return deis_error_set(&r->err, EPERM, "'%s' cannot be renamed", from->name);
}

void req_log_error(const struct req *r, const char *op, const char *path)
{
	deis_log(LOG_WARNING, "%s %s by %s (uid %u): %s", op, path,
		 r->who.name[0] ? r->who.name : "?", (unsigned)r->who.uid,
		 r->err.msg[0] ? r->err.msg : strerror(r->err.code));
}
