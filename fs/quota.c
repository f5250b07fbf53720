/*
 * quota.c - quotas and capacity in deisfs: platform/quotas,
 * users/<name>/quota, and the admission check at write().
 *
 * The quotas table is small (the platform's defaults, and one row per
 * user with quotas of their own), so it is held here whole, apart from
 * the app model: reloaded after a change through this mount, on a
 * "quotas" event from another mount, and at every health probe (main.c),
 * so a lost event costs at most one probe.
 *
 * The check at write() (a dry run, under the state lock) weighs the
 * change against this mount's model, so the shell sees EDQUOT where it
 * looks; lib/db_*.c checks again in the transaction that commits, against
 * the rows, which is what two racing writers cannot both pass.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/log.h"
#include "deis/quota.h"
#include "deis/validate.h"
#include "tree.h"

/* A node counts while its scheduler's heartbeat is this recent (as in
 * platform/status and lib/db_*.c's admission). */
#define NODE_LIVE_US (30LL * 1000000)

static pthread_mutex_t quota_lock = PTHREAD_MUTEX_INITIALIZER;
static struct deis_quota_row *rows;
static size_t nrows;
static int64_t rows_mtime;		/* when a reload last saw a change */

int quota_reload(struct deis_error *err)
{
	struct deis_quota_row *fresh = NULL;
	size_t n = 0;
	struct store_conn *s = fs_store->acquire();

	if (!s)
		return deis_error_set(err, EIO, "the database is unreachable");
	int r = fs_store->quotas(s, &fresh, &n, err);
	fs_store->release(s);
	if (r < 0)
		return r;
	pthread_mutex_lock(&quota_lock);
	if (n != nrows || (n && memcmp(fresh, rows, n * sizeof(*rows))) || !rows_mtime)
		rows_mtime = now_us();
	free(rows);
	rows = fresh;
	nrows = n;
	pthread_mutex_unlock(&quota_lock);
	return 0;
}

/* The quotas set for user (NULL: none) and for the platform. */
static void quota_levels(const char *user, struct deis_quota *own, struct deis_quota *platform)
{
	*own = DEIS_QUOTA_UNSET;
	*platform = DEIS_QUOTA_UNSET;
	pthread_mutex_lock(&quota_lock);
	for (size_t i = 0; i < nrows; i++) {
		if (!rows[i].scope[0])
			*platform = rows[i].q;
		else if (user && !strcmp(rows[i].scope, user))
			*own = rows[i].q;
	}
	pthread_mutex_unlock(&quota_lock);
}

static int64_t quota_mtime(const struct node *n)
{
	pthread_mutex_lock(&quota_lock);
	int64_t t = rows_mtime ? rows_mtime : state.started;
	pthread_mutex_unlock(&quota_lock);
	return t;
}

/* ---- usage, from the model (the caller holds the state lock) ---- */

static long app_oneoffs(const struct deis_app *a)
{
	long n = 0;

	for (size_t i = 0; i < a->ncontainers; i++)
		if (!strcmp(a->containers[i].type, "run"))
			n++;
	return n;
}

/* What app takes, with formation and limits replaced when not NULL and
 * extra more one-offs. */
static void app_usage(const struct deis_app *a, const struct deis_kvlist *formation,
		      const struct deis_kvlist *limits, long extra, struct deis_usage *u)
{
	const struct deis_release *rel = deis_app_current(a);

	deis_usage_add_app(u, formation ? formation : &a->formation,
			   limits ? limits : rel ? &rel->limits : NULL,
			   app_oneoffs(a) + extra, deis_quota_default_memory());
}

/* user's usage over all their apps (user NULL: none) and every app's
 * memory. */
static void usage_of(const char *user, struct deis_usage *mine, struct deis_usage *all)
{
	*mine = (struct deis_usage){ 0, 0 };
	*all = (struct deis_usage){ 0, 0 };
	for (size_t i = 0; i < state.napps; i++) {
		struct deis_usage u = { 0, 0 };
		app_usage(state.apps[i], NULL, NULL, 0, &u);
		all->containers += u.containers;
		all->memory += u.memory;
		if (user && !strcmp(state.apps[i]->owner, user)) {
			mine->containers += u.containers;
			mine->memory += u.memory;
		}
	}
}

/* The memory of the nodes that are up (from the last health probe), or
 * this host's when none has reported its own (*nodes = 0). */
static long long node_memory(int *nodes)
{
	long long sum = 0;
	int64_t now = now_us();

	*nodes = 0;
	pthread_mutex_lock(&state.nodes_lock);
	for (size_t i = 0; i < state.nnodes; i++)
		if (state.nodes[i].memory > 0 && now - state.nodes[i].last_seen < NODE_LIVE_US) {
			sum += state.nodes[i].memory;
			(*nodes)++;
		}
	pthread_mutex_unlock(&state.nodes_lock);
	return *nodes ? sum : deis_quota_host_memory();
}

int quota_admit(struct req *r, const struct deis_app *app,
		const struct deis_kvlist *formation, const struct deis_kvlist *limits,
		long oneoffs)
{
	struct deis_usage before = { 0, 0 }, after = { 0, 0 }, mine, all;
	struct deis_quota own, platform;
	struct deis_admission a = { .user = app->owner };

	app_usage(app, NULL, NULL, 0, &before);
	app_usage(app, formation, limits, oneoffs, &after);
	if (!deis_usage_grows(&before, &after))
		return 0;
	usage_of(app->owner, &mine, &all);
	a.before = mine;
	a.after.containers = mine.containers - before.containers + after.containers;
	a.after.memory = mine.memory - before.memory + after.memory;
	a.committed_before = all.memory;
	a.committed_after = all.memory - before.memory + after.memory;
	quota_levels(app->owner, &own, &platform);
	deis_quota_resolve(&own, &platform, &a.quota);
	a.node_memory = node_memory(&a.nodes);
	return deis_admit(&a, &r->err);
}

/* ---- platform/quotas ---- */

static void usage_line(struct deis_buf *out, const char *what, const struct deis_usage *u)
{
	char m[32];

	deis_quota_memory_format(u->memory, m, sizeof(m));
	deis_buf_addf(out, "# %s: containers=%ld memory=%s\n", what, u->containers, m);
}

static int show_platform_quotas(const struct node *n, struct deis_buf *out)
{
	struct deis_quota own, platform, q;
	struct deis_usage mine, all;
	char m[32], ratio[16], nm[32], cap[32];
	int nodes;

	quota_levels(NULL, &own, &platform);
	deis_quota_resolve(NULL, &platform, &q);
	deis_quota_memory_format(q.memory, m, sizeof(m));
	deis_quota_overcommit_format(q.overcommit, ratio, sizeof(ratio));
	deis_buf_addf(out, "containers=%ld\nmemory=%s\novercommit=%s\n", q.containers, m, ratio);
	long long mem = node_memory(&nodes);
	deis_quota_memory_format(mem, nm, sizeof(nm));
	deis_quota_memory_format((long long)((__int128)mem * q.overcommit / 1000), cap,
				 sizeof(cap));
	if (nodes)
		deis_buf_addf(out, "# capacity: %s on %d node%s, x overcommit %s = %s\n", nm,
			      nodes, nodes == 1 ? "" : "s", ratio, cap);
	else
		deis_buf_addf(out, "# capacity: %s on this host (no node has reported), "
			      "x overcommit %s = %s\n", nm, ratio, cap);
	usage_of(NULL, &mine, &all);
	usage_line(out, "committed", &all);
	return 0;
}

static int store_platform_quotas(struct req *r, const struct node *n, const char *data,
				 size_t len)
{
	struct deis_quota q;

	if (!r->who.admin)
		return deis_error_set(&r->err, EACCES, "only an admin may change quotas");
	int rc = deis_quota_parse(data, len, true, &q, &r->err);
	if (rc == 0)
		rc = tree_commit(r, fs_store->quota_set,
				 &(struct store_change){ .name = "", .quota = &q });
	if (rc != 0)
		return rc < 0 ? rc : 0;
	deis_log(LOG_NOTICE, "platform quotas set by %s", r->who.name);
	struct deis_error err = DEIS_ERROR_INIT;
	if (quota_reload(&err) < 0)
		deis_log(LOG_WARNING, "reloading quotas: %s", err.msg);
	changed("quotas", "*");
	return 0;
}

const struct nodetype nt_platform_quotas = {
	.name = "quotas", .mode = RW_MODE, .commit = COMMIT_CONTROL,
	.max = DEIS_CONTROL_MAX, .direct = true, .show = show_platform_quotas,
	.store = store_platform_quotas, .mtime = quota_mtime,
	.help = "every user's default quotas; the nodes' overcommit",
	.doc_read = "`containers=N`, `memory=SIZE`, `overcommit=R`, then `#` lines: the "
		"capacity (the nodes' memory x `overcommit`) and what every app commits",
	.doc_write = "admins only (else `EACCES`): the defaults of every user without a "
		"quota of their own, and the overcommit ratio. A key left out takes the "
		"built-in default (`containers=20 memory=10G overcommit=1`)",
};

/* ---- users/<name>/quota ---- */

static int show_user_quota(const struct node *n, struct deis_buf *out)
{
	struct deis_quota own, platform, q;
	struct deis_usage mine, all;
	char m[32];

	quota_levels(n->owner, &own, &platform);
	deis_quota_resolve(&own, &platform, &q);
	deis_quota_memory_format(q.memory, m, sizeof(m));
	deis_buf_addf(out, "containers=%ld\nmemory=%s\n", q.containers, m);
	if (own.containers < 0 || own.memory < 0)
		deis_buf_addf(out, "# the platform's default (platform/quotas): %s\n",
			      own.containers < 0 && own.memory < 0 ? "containers, memory" :
			      own.containers < 0 ? "containers" : "memory");
	usage_of(n->owner, &mine, &all);
	usage_line(out, "used", &mine);
	return 0;
}

static int store_user_quota(struct req *r, const struct node *n, const char *data,
			    size_t len)
{
	struct deis_quota q;
	char user[64];

	if (!r->who.admin)
		return deis_error_set(&r->err, EACCES, "only an admin may change %s's quota",
				      n->owner);
	int rc = deis_quota_parse(data, len, false, &q, &r->err);
	snprintf(user, sizeof(user), "%s", n->owner);
	if (rc == 0)
		rc = tree_commit(r, fs_store->quota_set,
				 &(struct store_change){ .name = user, .quota = &q });
	if (rc != 0)
		return rc < 0 ? rc : 0;
	deis_log(LOG_NOTICE, "quota of %s set by %s", user, r->who.name);
	struct deis_error err = DEIS_ERROR_INIT;
	if (quota_reload(&err) < 0)
		deis_log(LOG_WARNING, "reloading quotas: %s", err.msg);
	changed("quotas", user);
	return 0;
}

const struct nodetype nt_user_quota = {
	.name = "quota", .mode = RW_MODE, .commit = COMMIT_CONTROL,
	.max = DEIS_CONTROL_MAX, .direct = true, .self_only = true, .show = show_user_quota,
	.store = store_user_quota, .mtime = quota_mtime,
	.help = "that user's quotas, and what they use",
	.doc_read = "`containers=N`, `memory=SIZE` in effect, then `#` lines: which come "
		"from `platform/quotas`, and `# used: containers=N memory=SIZE`. That user "
		"and admins only (else `EACCES`)",
	.doc_write = "admins only (else `EACCES`, the user too): that user's own quotas; a "
		"key left out (or `: > quota`) follows `platform/quotas`",
};
