/*
 * test_tree.c - the tree of deisfs (fs/) without FUSE and without
 * PostgreSQL: paths resolved, directories listed, files written through
 * the store and read back, who may do what, and refusals that change
 * nothing, all over the in-memory store of test_tree_store.c.  It also
 * checks that the generated parts of docs/tree.md and of the manual page
 * docs/man/deisfs.5 are what the rows make.
 *
 *   test_tree                          the tests (TAP)
 *   test_tree --update-doc FILE        rewrites FILE's generated parts
 *                                      (docs/tree.md, docs/man/deisfs.5)
 *   test_tree --readme                 prints README
 *
 * Requests are made as the FUSE side makes them: resolve and check under
 * the state's read lock, a dry run of a store there (as at write()),
 * then the commit without the lock, holding a reference on the app.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/settings.h"
#include "deis/conf.h"
#include "deis/log.h"
#include "deisfs.h"
#include "tree.h"
#include "test_tree_store.h"
#include "unit.h"

/* What main.c and inval.c give the tree in deisfs. */
struct fs_conf fs_conf = { .scratch_files = 64, .scratch_mb = 16, .buffers_mb = 32,
			   .memory_mb = 512 };
static char events[4096];

void changed(const char *kind, const char *name)
{
	size_t n = strlen(events);

	snprintf(events + n, sizeof(events) - n, "%s %s\n", kind, name);
}

void inval_queue(const char *kind, const char *name)
{
}

static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ NULL, 0, NULL, NULL, NULL },
};

static const struct caller alice = { .uid = 60001, .name = "alice" };
static const struct caller bob = { .uid = 60002, .name = "bob" };
static const struct caller carol = { .uid = 60003, .name = "carol" };
static const struct caller root = { .uid = 0, .name = "root", .admin = true };

/* A fresh platform: alice owns hello (FOO=bar), carol is in its perms,
 * bob is a user with no app. */
static void setup(void)
{
	struct deis_error err = DEIS_ERROR_INIT;

	mem_reset();
	mem_user("alice", 60001);
	mem_user("bob", 60002);
	mem_user("carol", 60003);
	mem_app("hello", "alice");
	mem_set("hello", "FOO", "bar");
	mem_perm("hello", "carol");
	if (state_load_all(&err) < 0)
		printf("# state_load_all: %s\n", err.msg);
	/* One node with room to spare, so that the capacity admission at
	 * write() does not depend on this host's memory. */
	static struct deis_node node = { .name = "n1", .address = "10.0.0.1",
					 .memory = 64LL << 30 };
	node.last_seen = now_us();
	state.nodes = &node;
	state.nnodes = 1;
	mem_commits = 0;
	events[0] = '\0';
}

/* Room for a refusal's reason (struct deis_error's message). */
#define WHY_LEN sizeof(((struct deis_error *)0)->msg)

static int split(const char *path, char names[TREE_DEPTH_MAX][256])
{
	int depth = 0;
	const char *p = path;

	while (*p && depth < TREE_DEPTH_MAX) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		snprintf(names[depth++], 256, "%.*s", (int)len, p);
		p += len + (slash ? 1 : 0);
	}
	return depth;
}

/* Resolves path as who; the caller holds the state lock. */
static int resolve(const struct req *r, const char *path, struct node *n)
{
	char names[TREE_DEPTH_MAX][256];

	return tree_resolve(r, names, split(path, names), n);
}

/* cat path: 0 with the content in out, or -errno. */
static int cat(const struct caller *who, const char *path, struct deis_buf *out)
{
	struct req r = { .who = *who };
	struct node n;

	deis_buf_reset(out);
	pthread_rwlock_rdlock(&state.lock);
	int rc = resolve(&r, path, &n);
	if (rc == 0)
		rc = tree_access(&r, &n, false);
	if (rc == 0)
		rc = tree_show(&n, out);
	pthread_rwlock_unlock(&state.lock);
	return rc;
}

/* printf data > path as far as write(), for r: the open's check and
 * the dry run, nothing committed; the caller holds the state lock. */
static int write_check(struct req *r, const char *path, const char *data, size_t len,
		       struct node *n)
{
	int rc = resolve(r, path, n);

	if (rc == 0)
		rc = tree_access(r, n, true);
	if (rc == 0) {
		r->dry_run = true;
		rc = tree_store(r, n, data, len);
		r->dry_run = false;
	}
	return rc;
}

/* printf data > path: checked at write() (a dry run), committed at
 * close; 0 or -errno, with the reason in why. */
static int putn(const struct caller *who, const char *path, const char *data, size_t len,
		char *why)
{
	struct req r = { .who = *who };
	struct node n;

	why[0] = '\0';
	pthread_rwlock_rdlock(&state.lock);
	int rc = write_check(&r, path, data, len, &n);
	if (rc >= 0)
		app_ref(n.app);
	pthread_rwlock_unlock(&state.lock);
	if (rc >= 0) {
		rc = tree_store(&r, &n, data, len);
		app_unref(n.app);
	}
	snprintf(why, WHY_LEN, "%s", r.err.msg);
	return rc;
}

static int put(const struct caller *who, const char *path, const char *data, char *why)
{
	return putn(who, path, data, strlen(data), why);
}

/* printf data > path as far as write(): the open's check and the dry
 * run, nothing committed; 0 or -errno, with the reason in why. */
static int wcheck(const struct caller *who, const char *path, const char *data, char *why)
{
	struct req r = { .who = *who };
	struct node n;

	why[0] = '\0';
	pthread_rwlock_rdlock(&state.lock);
	int rc = write_check(&r, path, data, strlen(data), &n);
	pthread_rwlock_unlock(&state.lock);
	snprintf(why, WHY_LEN, "%s", r.err.msg);
	return rc;
}

struct names {
	char all[2048];
};

static void add_name(void *ctx, const char *name, const struct node *n)
{
	struct names *l = ctx;
	size_t used = strlen(l->all);

	snprintf(l->all + used, sizeof(l->all) - used, "%s ", name);
}

/* ls path: the names, each followed by a space. */
static int ls(const struct caller *who, const char *path, struct names *out)
{
	struct req r = { .who = *who };
	struct node n;

	out->all[0] = '\0';
	pthread_rwlock_rdlock(&state.lock);
	int rc = resolve(&r, path, &n);
	if (rc == 0)
		rc = tree_access(&r, &n, false);
	if (rc == 0)
		tree_list(&n, &r, add_name, out);
	pthread_rwlock_unlock(&state.lock);
	return rc;
}

static bool listed(const struct names *l, const char *name)
{
	char word[300];

	snprintf(word, sizeof(word), " %s ", name);
	char all[2100];
	snprintf(all, sizeof(all), " %s", l->all);
	return strstr(all, word) != NULL;
}

/* ---- tests ---- */

TEST(resolve_paths)
{
	struct deis_buf b = DEIS_BUF_INIT;

	setup();
	CHECK(cat(&alice, "apps/hello/config/FOO", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "bar");
	CHECK(cat(&alice, "apps/hello/releases/v1/env", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "FOO=bar\n");
	CHECK(cat(&alice, "apps/hello/releases/current", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "v1");
	CHECK(cat(&alice, "platform/version", &b) == 0);
	CHECK(!strncmp(deis_buf_str(&b), "deisfs ", 7));
	CHECK(cat(&alice, "apps/nope", &b) == -ENOENT);
	CHECK(cat(&alice, "apps/hello/config/NOPE", &b) == -ENOENT);
	CHECK(cat(&alice, "apps/hello/releases/v2", &b) == -ENOENT);
	CHECK(cat(&alice, "apps/hello/info/x", &b) == -ENOTDIR);
	CHECK(cat(&alice, "apps/hello", &b) == -EISDIR);
	deis_buf_release(&b);
}

TEST(list_app_dir)
{
	struct names l;
	const char *files[] = { "info", "url", "git_url", "env", "config", "formation",
				"limits", "domains", "certs", "perms", "procfile", "releases",
				"rollback", "builds", "containers", "logs", "drains", "image",
				"run" };

	setup();
	CHECK(ls(&alice, "apps/hello", &l) == 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++)
		if (!listed(&l, files[i])) {
			printf("# %s not in: %s\n", files[i], l.all);
			CHECK(listed(&l, files[i]));
		}
	CHECK(ls(&alice, "apps/hello/config", &l) == 0);
	CHECK_STR(l.all, "FOO ");
	CHECK(ls(&alice, "apps/hello/releases", &l) == 0);
	CHECK_STR(l.all, "current latest v1 ");
	CHECK(ls(&alice, "", &l) == 0);
	CHECK_STR(l.all, "README platform users apps ");
}

TEST(formation_through_the_store)
{
	struct deis_buf b = DEIS_BUF_INIT;
	char why[WHY_LEN];

	setup();
	CHECK(put(&alice, "apps/hello/formation", "web=2 worker=1\n", why) == 0);
	CHECK(mem_commits == 1);
	CHECK(cat(&alice, "apps/hello/formation", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "web=2\nworker=1\n");
	/* a scale makes no release, and tells the other mounts */
	CHECK(cat(&alice, "apps/hello/releases/current", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "v1");
	CHECK(strstr(events, "app hello\n") != NULL);
	deis_buf_release(&b);
}

TEST(config_through_the_store)
{
	struct deis_buf b = DEIS_BUF_INIT;
	char why[WHY_LEN];
	struct names l;

	setup();
	CHECK(put(&carol, "apps/hello/config/FOO", "baz\n", why) == 0);
	CHECK(cat(&alice, "apps/hello/config/FOO", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "baz");
	CHECK(cat(&alice, "apps/hello/releases/current", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "v2");
	CHECK(cat(&alice, "apps/hello/releases/v2/info", &b) == 0);
	CHECK(strstr(deis_buf_str(&b), "summary: carol changed FOO\n") != NULL);
	/* the same value again changes nothing and makes no release */
	CHECK(put(&carol, "apps/hello/config/FOO", "baz", why) == 0);
	CHECK(cat(&alice, "apps/hello/releases/latest", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "v2");
	/* env replaces the whole set: one release */
	CHECK(put(&alice, "apps/hello/env", "A=1\nB='two words'\n", why) == 0);
	CHECK(cat(&alice, "apps/hello/env", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "A=1\nB=\"two words\"\n");
	CHECK(ls(&alice, "apps/hello/config", &l) == 0);
	CHECK_STR(l.all, "A B ");
	CHECK(mem_commits == 2);
	deis_buf_release(&b);
}

TEST(rename_config_var)
{
	struct deis_buf b = DEIS_BUF_INIT;
	struct req r = { .who = alice };
	struct node from, dir;

	setup();
	pthread_rwlock_wrlock(&state.lock);
	CHECK(resolve(&r, "apps/hello/config/FOO", &from) == 0);
	CHECK(resolve(&r, "apps/hello/config", &dir) == 0);
	app_ref(from.app);
	CHECK(tree_rename(&r, &from, &dir, "BAR", NULL, false) == 0);
	app_unref(from.app);
	pthread_rwlock_unlock(&state.lock);
	CHECK(cat(&alice, "apps/hello/config/BAR", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "bar");
	CHECK(cat(&alice, "apps/hello/config/FOO", &b) == -ENOENT);
	CHECK(cat(&alice, "apps/hello/releases/v2/info", &b) == 0);
	CHECK(strstr(deis_buf_str(&b), "summary: alice renamed FOO to BAR\n") != NULL);
	deis_buf_release(&b);
}

TEST(who_may_do_what)
{
	struct deis_buf b = DEIS_BUF_INIT;
	struct names l;
	char why[WHY_LEN];

	setup();
	/* the owner, a user in perms and an admin see the app; others not */
	CHECK(cat(&alice, "apps/hello/env", &b) == 0);
	CHECK(cat(&carol, "apps/hello/env", &b) == 0);
	CHECK(cat(&root, "apps/hello/env", &b) == 0);
	CHECK(cat(&bob, "apps/hello/env", &b) == -EACCES);
	CHECK(cat(&bob, "apps/hello", &b) == -EACCES);
	CHECK(ls(&bob, "apps", &l) == 0);
	CHECK_STR(l.all, "");
	CHECK(ls(&carol, "apps", &l) == 0);
	CHECK_STR(l.all, "hello ");
	CHECK(ls(&root, "apps", &l) == 0);
	CHECK_STR(l.all, "hello ");
	/* bob can change nothing of it */
	CHECK(put(&bob, "apps/hello/formation", "web=1\n", why) == -EACCES);
	/* perms: the owner and admins only, refused at open (a commit may
	 * come at the last close, where no one sees its error) */
	struct req rc = { .who = carol };
	struct node n;
	pthread_rwlock_rdlock(&state.lock);
	CHECK(resolve(&rc, "apps/hello/perms", &n) == 0);
	CHECK(tree_access(&rc, &n, false) == 0);
	CHECK(tree_access(&rc, &n, true) == -EACCES);
	pthread_rwlock_unlock(&state.lock);
	CHECK(put(&carol, "apps/hello/perms", "carol\nbob\n", why) == -EACCES);
	CHECK(put(&alice, "apps/hello/perms", "carol\nbob\n", why) == 0);
	CHECK(cat(&bob, "apps/hello/env", &b) == 0);
	CHECK(put(&root, "apps/hello/perms", "", why) == 0);
	CHECK(cat(&carol, "apps/hello/env", &b) == -EACCES);
	/* read-only files */
	CHECK(put(&alice, "apps/hello/info", "x\n", why) == -EACCES);
	/* a uid with no user name changes nothing */
	struct caller nobody = { .uid = 60099 };
	CHECK(put(&nobody, "apps/hello/formation", "web=1\n", why) == -EACCES);
	CHECK(mem_commits == 2);
	deis_buf_release(&b);
}

TEST(users_quota_is_theirs)
{
	struct deis_buf b = DEIS_BUF_INIT;

	setup();
	CHECK(cat(&alice, "users/alice/quota", &b) == 0);
	CHECK(cat(&root, "users/alice/quota", &b) == 0);
	CHECK(cat(&bob, "users/alice/quota", &b) == -EACCES);
	/* info lists apps to that user and admins only */
	CHECK(cat(&alice, "users/alice/info", &b) == 0);
	CHECK(strstr(deis_buf_str(&b), "apps: hello\n") != NULL);
	CHECK(cat(&bob, "users/alice/info", &b) == 0);
	CHECK(strstr(deis_buf_str(&b), "apps:") == NULL);
	deis_buf_release(&b);
}

TEST(bad_input_changes_nothing)
{
	struct deis_buf b = DEIS_BUF_INIT;
	struct req r = { .who = alice };
	struct node n;
	char why[WHY_LEN];

	setup();
	CHECK(put(&alice, "apps/hello/formation", "web=abc\n", why) == -EINVAL);
	CHECK(strstr(why, "web=abc") != NULL);
	CHECK(putn(&alice, "apps/hello/formation", "web=1\n\0x\n", 9, why) == -EINVAL);
	CHECK(strstr(why, "NUL") != NULL);
	CHECK(put(&alice, "apps/hello/formation", "web=1\n", why) == 0);
	CHECK(put(&alice, "apps/hello/config/FOO", "a\xff\n", why) == -EINVAL);
	CHECK(put(&alice, "apps/hello/env", "NOT A LINE\n", why) == -EINVAL);
	CHECK(put(&alice, "apps/hello/perms", "nosuchuser\n", why) == -EINVAL);
	CHECK(put(&alice, "apps/hello/domains", "not a domain\n", why) == -EINVAL);
	CHECK(put(&alice, "apps/hello/domains", "hello.localhost\n", why) == -EINVAL);
	CHECK(put(&alice, "apps/hello/limits", "web.memory=1K\n", why) == -EINVAL);
	CHECK(put(&alice, "apps/hello/rollback", "v9\n", why) == -ENOENT);
	char big[70000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(put(&alice, "apps/hello/formation", big, why) == -EFBIG);
	/* only the one good write above was committed */
	CHECK(mem_commits == 1);
	CHECK(cat(&alice, "apps/hello/config/FOO", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "bar");
	CHECK(cat(&alice, "apps/hello/releases/latest", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "v1");
	/* a new name in config/ that is not a key, nor an editor's file */
	pthread_rwlock_wrlock(&state.lock);
	CHECK(resolve(&r, "apps/hello/config", &n) == 0);
	CHECK(tree_create(&r, &n, "1BAD", 0644, 0) == -EINVAL);
	CHECK(tree_create(&r, &n, ".FOO.swp", 0644, 0) == 0);
	pthread_rwlock_unlock(&state.lock);
	struct names l;
	CHECK(ls(&alice, "apps/hello/config", &l) == 0);
	CHECK_STR(l.all, "FOO .FOO.swp ");
	/* a dry run never reaches the store */
	pthread_rwlock_rdlock(&state.lock);
	CHECK(resolve(&r, "apps/hello/formation", &n) == 0);
	r.dry_run = true;
	CHECK(tree_store(&r, &n, "web=3\n", 6) == 1);
	pthread_rwlock_unlock(&state.lock);
	CHECK(mem_commits == 1);
	deis_buf_release(&b);
}

TEST(apps_made_and_destroyed)
{
	struct names l;
	struct req r = { .who = bob };
	struct node n;

	setup();
	pthread_rwlock_rdlock(&state.lock);
	CHECK(resolve(&r, "apps", &n) == 0);
	pthread_rwlock_unlock(&state.lock);
	CHECK(n.t->mkdir(&r, &n, "Bad_Name") == -EINVAL);
	CHECK(n.t->mkdir(&r, &n, "hello") == -EEXIST);
	CHECK(n.t->mkdir(&r, &n, "bobs") == 0);
	CHECK(ls(&bob, "apps", &l) == 0);
	CHECK_STR(l.all, "bobs ");
	/* only the owner (or an admin) destroys it */
	struct req rc = { .who = carol };
	pthread_rwlock_rdlock(&state.lock);
	CHECK(resolve(&r, "apps/hello", &n) == -EACCES);
	CHECK(resolve(&rc, "apps/hello", &n) == 0);
	app_ref(n.app);
	pthread_rwlock_unlock(&state.lock);
	CHECK(n.t->rmdir(&rc, &n) == -EACCES);
	struct req ra = { .who = alice };
	CHECK(n.t->rmdir(&ra, &n) == 0);
	app_unref(n.app);
	CHECK(ls(&root, "apps", &l) == 0);
	CHECK_STR(l.all, "bobs ");
}

/* What an event makes stale, from the rows. */
static void add_path(void *ctx, const char *const *names, int depth)
{
	char *out = ctx;

	for (int i = 0; i < depth; i++)
		snprintf(out + strlen(out), 512 - strlen(out), "%s%s", names[i],
			 i + 1 < depth ? "/" : " ");
}

TEST(event_paths)
{
	char paths[512] = "";

	tree_event_paths("app", "hello", add_path, paths);
	CHECK_STR(paths, "platform/status apps/hello ");
	paths[0] = '\0';
	tree_event_paths("user", "alice", add_path, paths);
	CHECK_STR(paths, "users/alice ");
	paths[0] = '\0';
	tree_event_paths("quotas", "alice", add_path, paths);
	CHECK_STR(paths, "");
}

TEST(nodes_facts_and_availability)
{
	struct deis_buf b = DEIS_BUF_INIT;
	struct names l;
	char why[WHY_LEN];
	/* n1: one runc node; n2: a swarm worker draining (the runtime has
	 * paused it), 3 containers left, its limits over its memory. */
	static struct deis_node nodes[2] = {
		{ .name = "n1", .address = "10.0.0.1", .role = "node", .state = "ready",
		  .availability = "active", .desired = "active", .containers = 2,
		  .memory = 8LL << 30, .memory_used = 1LL << 30 },
		{ .name = "n2", .address = "10.0.0.2", .role = "worker", .state = "ready",
		  .availability = "pause", .desired = "drain", .movable = true,
		  .containers = 3, .memory = 1LL << 30, .memory_used = 2LL << 30 },
	};

	setup();
	nodes[0].last_seen = nodes[1].last_seen = now_us();
	state.nodes = nodes;
	state.nnodes = 2;
	CHECK(ls(&bob, "platform/nodes/n1", &l) == 0);
	CHECK_STR(l.all, "address role state availability containers memory memory_used "
		  "memory_free ");
	static const struct { const char *path, *want; } facts[] = {
		{ "n1/role", "node\n" },
		{ "n1/state", "ready\n" },
		{ "n1/memory", "8G\n" },
		{ "n1/memory_used", "1G\n" },
		{ "n1/memory_free", "7G\n" },
		{ "n1/availability", "active\n# its runtime cannot move containers to another "
		  "node: active only\n" },
		/* overcommitted: nothing free, never below 0 */
		{ "n2/memory_free", "0\n" },
		{ "n2/availability", "drain\n# draining: nothing new is placed here, 3 "
		  "containers left to replace elsewhere\n" },
	};
	for (size_t k = 0; k < sizeof(facts) / sizeof(*facts); k++) {
		char path[64];
		snprintf(path, sizeof(path), "platform/nodes/%s", facts[k].path);
		CHECK(cat(&bob, path, &b) == 0);
		CHECK_STR(deis_buf_str(&b), facts[k].want);
	}
	/* a node its scheduler no longer reports is down */
	nodes[1].last_seen = now_us() - 31LL * 1000000;
	CHECK(cat(&bob, "platform/nodes/n2/state", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "down\n");
	snprintf(nodes[1].state, sizeof(nodes[1].state), "down");
	nodes[1].last_seen = now_us();
	CHECK(cat(&bob, "platform/nodes/n2/state", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "down\n");

	/* Who: admins only, refused at open; the other facts are read-only
	 * to everyone. */
	CHECK(wcheck(&alice, "platform/nodes/n2/availability", "drain\n", why) == -EACCES);
	CHECK(wcheck(&bob, "platform/nodes/n2/availability", "active\n", why) == -EACCES);
	CHECK(wcheck(&root, "platform/nodes/n2/state", "ready\n", why) == -EACCES);
	CHECK(wcheck(&root, "platform/nodes/n2/availability", "drain\n", why) == 0);
	/* The grammar: one word; '#' lines are comments (what it shows
	 * writes back). */
	CHECK(wcheck(&root, "platform/nodes/n2/availability", "pause", why) == 0);
	CHECK(wcheck(&root, "platform/nodes/n2/availability",
		     "drain\n# draining: nothing new\n", why) == 0);
	static const char *const bad[] = { "", "\n", "Drain\n", "drained\n", "drain pause\n",
					   "active\nactive\n", "# only a comment\n", "dr ain\n" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
		if (wcheck(&root, "platform/nodes/n2/availability", bad[k], why) != -EINVAL)
			printf("# not refused: \"%s\"\n", bad[k]);
		CHECK(wcheck(&root, "platform/nodes/n2/availability", bad[k], why) == -EINVAL);
		CHECK(strstr(why, "active, pause or drain") != NULL);
	}
	/* A runc node takes active only: nowhere to move its containers. */
	CHECK(wcheck(&root, "platform/nodes/n1/availability", "drain\n", why) == -EOPNOTSUPP);
	CHECK(strstr(why, "cannot move them to another node") != NULL);
	CHECK(wcheck(&root, "platform/nodes/n1/availability", "pause\n", why) == -EOPNOTSUPP);
	CHECK(wcheck(&root, "platform/nodes/n1/availability", "active\n", why) == 0);
	/* refusals and checks changed nothing */
	CHECK(mem_commits == 0);
	CHECK_STR(events, "");
	CHECK(cat(&bob, "platform/nodes/n1/availability", &b) == 0);
	CHECK(strncmp(deis_buf_str(&b), "active\n", 7) == 0);
	/* the event of a node names its directory */
	char paths[256] = "";
	tree_event_paths("node", "n2", add_path, paths);
	CHECK_STR(paths, "platform/nodes/n2 ");
	deis_buf_release(&b);
	state.nodes = NULL;
	state.nnodes = 0;
	setup();
}

TEST(readme_from_the_rows)
{
	struct deis_buf b = DEIS_BUF_INIT;

	setup();
	CHECK(cat(&bob, "README", &b) == 0);
	CHECK(strstr(deis_buf_str(&b), "\n  apps/ ") != NULL);
	CHECK(strstr(deis_buf_str(&b), "\n      formation ") != NULL);
	CHECK(strstr(deis_buf_str(&b), "\n        <KEY> ") != NULL);
	/* a row without help (containers/<name>/state) is left out; one with
	 * help (platform/nodes/<node>/state) is in */
	CHECK(strstr(deis_buf_str(&b), "\n          state ") == NULL);
	CHECK(strstr(deis_buf_str(&b), "\n        state ") != NULL);
	/* it reads on a terminal of 80 columns */
	for (const char *l = deis_buf_str(&b); *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		if (len > 80)
			printf("# longer than 80: %.*s\n", (int)len, l);
		CHECK(len <= 80);
		l += len + (nl ? 1 : 0);
	}
	deis_buf_release(&b);
}

static char *read_doc(const char *path)
{
	FILE *f = fopen(path, "r");
	struct deis_buf b = DEIS_BUF_INIT;
	char chunk[4096];
	size_t n;

	if (!f)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		deis_buf_add(&b, chunk, n);
	fclose(f);
	return b.data ? b.data : strdup("");	/* the buffer's, to free */
}

/*
 * The document at rel (from the source root) is what the rows make: the
 * listing and both tables are in it (marker is the format of a part's
 * opening marker), and they are up to date.  A byte of a row's entry
 * changed (row, at off) is a difference that tree_doc_update makes good.
 * Returns the document, to free, or NULL.
 */
static char *doc_is_what_the_rows_make(const char *rel, const char *marker,
				       const char *row, size_t off)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf b = DEIS_BUF_INIT, changed = DEIS_BUF_INIT;
	char path[4096], open[64];
	static const char *const parts[] = { "listing", "platform", "apps" };

	snprintf(path, sizeof(path), "%s/%s", DEIS_SOURCE_ROOT, rel);
	char *doc = read_doc(path);
	CHECK(doc != NULL);
	if (!doc)
		return NULL;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		snprintf(open, sizeof(open), marker, parts[i]);
		CHECK(strstr(doc, open) != NULL);
	}
	CHECK(tree_doc_update(doc, &b, &err) == 0);
	if (strcmp(doc, deis_buf_str(&b))) {
		printf("# %s differs from the tree's rows: run\n"
		       "#   build/tests/unit/test_tree --update-doc %s\n", rel, rel);
		CHECK(!"the document is what the rows make");
	}
	deis_buf_adds(&changed, doc);
	char *at = strstr(changed.data, row);
	CHECK(at != NULL);
	if (at)
		at[off] = 'F';
	deis_buf_reset(&b);
	CHECK(tree_doc_update(deis_buf_str(&changed), &b, &err) == 0);
	CHECK(!strcmp(doc, deis_buf_str(&b)));
	deis_buf_release(&changed);
	deis_buf_release(&b);
	return doc;
}

TEST(doc_matches_the_rows)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf b = DEIS_BUF_INIT;

	free(doc_is_what_the_rows_make("docs/tree.md", "<!-- tree:%s -->",
				       "| `formation` |", 3));
	CHECK(tree_doc_update("<!-- tree:nope -->\n<!-- /tree:nope -->\n", &b, &err) == -EINVAL);
	deis_buf_release(&b);
}

/* The manual page deisfs(5) has the same generated parts, in roff. */
TEST(man_page_matches_the_rows)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf b = DEIS_BUF_INIT;
	char *doc = doc_is_what_the_rows_make("docs/man/deisfs.5", ".\\\" tree:%s\n",
					      "\\&formation\\fR\n", 2);

	/* the rows, in roff: a tagged paragraph per file */
	CHECK(doc && strstr(doc, ".TP\n\\fB\\&formation\\fR\n\\fIread:\\fR\n") != NULL);
	/* markers that name no part, are not on a line of their own, or
	 * are never closed */
	CHECK(tree_doc_update(".\\\" tree:nope\n.\\\" /tree:nope\n", &b, &err) == -EINVAL);
	CHECK(tree_doc_update("x .\\\" tree:apps\n.\\\" /tree:apps\n", &b, &err) == -EINVAL);
	CHECK(tree_doc_update(".\\\" tree:apps\n", &b, &err) == -EINVAL);
	deis_buf_release(&b);
	free(doc);
}

/* A row added at start (as the per-app settings are) is looked up,
 * listed, stored through and documented like a static one. */
static int show_added(const struct node *n, struct deis_buf *out)
{
	deis_buf_adds(out, "added\n");
	return 0;
}

static const struct nodetype nt_added = {
	.name = "example", .mode = S_IFREG | 0444, .show = show_added,
	.help = "a row added at start",
};
/* Help with what roff must escape: a control character at the start of
 * a line, a backslash, dashes that are not hyphens, markdown, UTF-8. */
static const struct nodetype nt_added_roff = {
	.name = "example2", .mode = S_IFREG | 0444, .show = show_added,
	.help = ".x \\ --o a-b -> `c-d` **b** \xc3\xa9\xe2\x80\x94",
};
static const struct nodetype nt_added_env = {
	.name = "env", .mode = S_IFREG | 0444, .show = show_added,
};

TEST(rows_added_at_start)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf b = DEIS_BUF_INIT;
	struct names l;

	setup();
	CHECK(tree_app_add(&nt_added, &err) == 0);
	CHECK(tree_app_add(&nt_added, &err) == -EEXIST);
	CHECK(tree_app_add(&nt_added_env, &err) == -EEXIST);
	CHECK(cat(&alice, "apps/hello/example", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "added\n");
	CHECK(cat(&bob, "apps/hello/example", &b) == -EACCES);
	CHECK(ls(&alice, "apps/hello", &l) == 0);
	CHECK(listed(&l, "example"));
	CHECK(cat(&alice, "README", &b) == 0);
	CHECK(strstr(deis_buf_str(&b), "\n      example ") != NULL);
	deis_buf_reset(&b);
	CHECK(tree_doc("apps", &b) == 0);
	CHECK(strstr(deis_buf_str(&b), "| `example` | a row added at start | read-only |"));
	/* and in the manual page's roff */
	CHECK(tree_app_add(&nt_added_roff, &err) == 0);
	deis_buf_reset(&b);
	CHECK(tree_doc_update(".\\\" tree:apps\n.\\\" /tree:apps\n", &b, &err) == 0);
	CHECK(strstr(deis_buf_str(&b), ".TP\n\\fB\\&example\\fR\n\\fIread:\\fR\n"
		     "\\&a row added at start\n.br\n\\fIwrite:\\fR\n\\&read-only\n"));
	CHECK(strstr(deis_buf_str(&b), "\n\\&.x \\e \\-\\-o a-b \\-> \\fBc\\-d\\fR "
		     "\\fBb\\fR \\[u00E9]\\[u2014]\n"));
	deis_buf_reset(&b);
	CHECK(tree_doc_update(".\\\" tree:listing\n.\\\" /tree:listing\n", &b, &err) == 0);
	CHECK(strstr(deis_buf_str(&b), "\n\\ \\ \\ \\ \\fB\\&example\\fR\n"
		     "\\&a row added at start\n"));
	deis_buf_release(&b);
}

/* The settings (lib/settings.c's table, fs/settings.c's rows): every
 * row is a file of every app, stored through the store, with its
 * default until written; a bad value changes nothing. */
TEST(settings_are_rows_of_a_table)
{
	struct deis_buf b = DEIS_BUF_INIT;
	char why[WHY_LEN];
	struct names l;

	setup();
	CHECK(ls(&alice, "apps/hello", &l) == 0);
	for (size_t i = 0; i < deis_nsettings; i++)
		CHECK(listed(&l, deis_settings[i].name));
	CHECK(cat(&alice, "apps/hello/maintenance", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "off\n");
	CHECK(put(&carol, "apps/hello/maintenance", "yes\n", why) == 0);
	CHECK(cat(&alice, "apps/hello/maintenance", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "on\n");
	CHECK(put(&alice, "apps/hello/autoscale", "web=2..4 cpu=60\n", why) == 0);
	CHECK(cat(&alice, "apps/hello/autoscale", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "web=2..4 cpu=60\n");
	int commits = mem_commits;
	CHECK(put(&alice, "apps/hello/autoscale", "web=4..2\n", why) == -EINVAL);
	CHECK(why[0] != '\0');
	CHECK(mem_commits == commits);
	CHECK(cat(&alice, "apps/hello/autoscale", &b) == 0);
	CHECK_STR(deis_buf_str(&b), "web=2..4 cpu=60\n");
	CHECK(put(&bob, "apps/hello/maintenance", "off\n", why) == -EACCES);
	CHECK(cat(&alice, "README", &b) == 0);
	CHECK(strstr(deis_buf_str(&b), "\n      healthcheck ") != NULL);
	deis_buf_release(&b);
}

static void init(void)
{
	deis_log_init("test_tree", LOG_CRIT, 0);
	deis_conf_defaults(options);
	/* no log server, no Redis: platform lines and log sizes are left out */
	free(deis_conf.syslog_socket);
	deis_conf.syslog_socket = NULL;
	deis_conf.redis_port = 1;
	fs_store = &mem_store;
}

static int update_doc(const char *path)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf b = DEIS_BUF_INIT;
	char *doc = read_doc(path);
	FILE *f = NULL;
	int rc = 1;

	if (doc && tree_doc_update(doc, &b, &err) == 0 && (f = fopen(path, "w"))) {
		fputs(deis_buf_str(&b), f);
		rc = fclose(f) ? 1 : 0;
	}
	if (rc)
		fprintf(stderr, "test_tree: %s: %s\n", path,
			err.msg[0] ? err.msg : "cannot read or write it");
	free(doc);
	deis_buf_release(&b);
	return rc;
}

int main(int argc, char **argv)
{
	init();
	if (argc == 3 && !strcmp(argv[1], "--update-doc"))
		return update_doc(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "--readme")) {
		struct deis_buf b = DEIS_BUF_INIT;
		tree_readme(&b);
		fputs(deis_buf_str(&b), stdout);
		deis_buf_release(&b);
		return 0;
	}
	RUN(resolve_paths);
	RUN(list_app_dir);
	RUN(formation_through_the_store);
	RUN(config_through_the_store);
	RUN(rename_config_var);
	RUN(who_may_do_what);
	RUN(users_quota_is_theirs);
	RUN(bad_input_changes_nothing);
	RUN(apps_made_and_destroyed);
	RUN(event_paths);
	RUN(nodes_facts_and_availability);
	RUN(readme_from_the_rows);
	RUN(doc_matches_the_rows);
	RUN(man_page_matches_the_rows);
	RUN(settings_are_rows_of_a_table);
	RUN(rows_added_at_start);	/* last: the added row stays */
	return unit_done();
}
