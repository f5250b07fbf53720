/*
 * test_db.c - the Database module (lib/db_*.c) against a real PostgreSQL.
 *
 * Runs in a schema of its own (test_db_<pid>, dropped at the end) of the
 * database that $DEIS_TEST_DATABASE (a libpq conninfo) or the `database`
 * option of $DEIS_CONF names: packaging/test runs it against the test
 * platform's PostgreSQL.  With neither, it skips.
 *
 * Besides round trips of every loaded entity (so a loader that reads its
 * results out of order fails here), it provokes what a unit test of pure
 * code cannot: a COMMIT that fails (a deferred constraint trigger) and
 * JSON columns that do not decode, and checks both are reported.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "deis/conf.h"
#include "deis/db.h"
#include "deis/settings.h"
#include "../../lib/db_int.h"	/* db_committed(), for a COMMIT no API call makes */
#include "unit.h"

static char conninfo[1024];
static char schema[64];
static PGconn *raw;		/* for set-up and for faults the API cannot make */
static struct deis_db *db;

/* Runs sql on the raw connection (in the test's schema); 0 when it worked. */
static int sql(const char *text)
{
	PGresult *res = PQexec(raw, text);
	ExecStatusType st = PQresultStatus(res);
	int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		printf("# SQL failed: %s: %s", text, PQerrorMessage(raw));
	PQclear(res);
	return ok ? 0 : -1;
}

/* The one value of a one-row query on the raw connection, in buf. */
static const char *sql_value(const char *text, char *buf, size_t len)
{
	PGresult *res = PQexec(raw, text);

	snprintf(buf, len, "%s", PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) ?
		 PQgetvalue(res, 0, 0) : "(none)");
	PQclear(res);
	return buf;
}

static const char *database_conninfo(void)
{
	static char *from_conf;
	const char *env = getenv("DEIS_TEST_DATABASE"), *conf = getenv("DEIS_CONF");
	struct deis_conf_option opts[] = {
		{ "database", DEIS_CONF_STR, &from_conf, "", "" },
		{ NULL, 0, NULL, NULL, NULL },
	};
	struct deis_error err = DEIS_ERROR_INIT;

	if (env && *env)
		return env;
	if (!conf || !*conf)
		return NULL;
	deis_conf_defaults(opts);
	if (deis_conf_load(opts, conf, 1, &err) < 0 || !*from_conf)
		return NULL;
	return from_conf;
}

static void drop_schema(void)
{
	char q[128];

	if (db)
		deis_db_close(db);
	db = NULL;
	snprintf(q, sizeof(q), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
	sql(q);
	PQfinish(raw);
}

/* The loaded app name (from a fresh load of it alone), or NULL. */
static struct deis_app *load_one(const char *name, const struct deis_app *prev,
				 struct deis_error *err)
{
	struct deis_app **apps = NULL;
	size_t n = 0;
	struct deis_app *a = NULL;

	if (deis_db_load_apps(db, name, prev, &apps, &n, err) < 0)
		return NULL;
	if (n == 1)
		a = apps[0];
	for (size_t i = a ? 1 : 0; i < n; i++)
		deis_app_free(apps[i]);
	free(apps);
	return a;
}

/* Every app; *n of them. */
static struct deis_app **load_all(size_t *n, struct deis_error *err)
{
	struct deis_app **apps = NULL;

	*n = 0;
	if (deis_db_load_apps(db, NULL, NULL, &apps, n, err) < 0)
		return NULL;
	return apps;
}

static void free_all(struct deis_app **apps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		deis_app_free(apps[i]);
	free(apps);
}

static int set_var(const char *app, const char *key, const char *value, int *version,
		   struct deis_error *err)
{
	struct deis_release_change c = { .kind = DEIS_RELEASE_SET, .key = key, .value = value };

	return deis_db_release_create(db, app, "alice", &c, version, err);
}

/* ---- tests ---- */

TEST(migrate_twice)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char buf[64];

	CHECK(deis_db_migrate(db, &err) == 0);
	CHECK(deis_db_migrate(db, &err) == 0);
	CHECK_STR(sql_value("SELECT max(version) > 0 FROM schema_migrations", buf, sizeof(buf)),
		  "t");
	CHECK(deis_db_ping(db, &err) >= 0);
}

/* Every entity the loader reads, written through the API and read back:
 * each lands in its own field, in its own order. */
TEST(load_round_trip)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_kvlist procfile = DEIS_KVLIST_INIT, formation = DEIS_KVLIST_INIT;
	struct deis_strlist domains = DEIS_STRLIST_INIT, perms = DEIS_STRLIST_INIT;
	struct deis_strlist drains = DEIS_STRLIST_INIT;
	int v = 0, build = 0;

	CHECK(deis_db_app_create(db, "rt", "alice", &err) == 0);
	CHECK(deis_db_app_create(db, "rt", "alice", &err) == -EEXIST);
	CHECK(set_var("rt", "A", "1", &v, &err) == 0 && v == 2);
	CHECK(set_var("rt", "B", "two", &v, &err) == 0 && v == 3);
	CHECK(set_var("rt", "B", "two", &v, &err) == 0 && v == 0);	/* no change */
	CHECK(deis_db_build_create(db, "rt", "alice", "abc123", &build, &err) == 0 && build == 1);
	deis_kvlist_set(&procfile, "web", "./serve");
	deis_kvlist_set(&procfile, "worker", "./work");
	CHECK(deis_db_build_finish(db, "rt", build, "succeeded", "reg/rt:1", &procfile, &err) == 0);
	struct deis_release_change deploy = { .kind = DEIS_RELEASE_DEPLOY, .key = "abc123",
					      .version = build };
	CHECK(deis_db_release_create(db, "rt", "alice", &deploy, &v, &err) == 0 && v == 4);
	deis_kvlist_set(&formation, "web", "2");
	deis_kvlist_set(&formation, "worker", "1");
	CHECK(deis_db_formation_set(db, "rt", &formation, &err) == 0);
	deis_strlist_add(&domains, "rt.example.com");
	deis_strlist_add(&domains, "a.example.com");
	CHECK(deis_db_domains_set(db, "rt", &domains, &err) == 0);
	deis_strlist_add(&perms, "bob");
	CHECK(deis_db_perms_set(db, "rt", &perms, &err) == 0);
	deis_strlist_add(&drains, "syslog://10.0.0.1:514");
	CHECK(deis_db_drains_set(db, "rt", &drains, &err) == 0);
	CHECK(deis_db_app_setting_set(db, "rt", "healthcheck", "path=/health\ntimeout=3",
				      &err) == 0);
	CHECK(deis_db_app_setting_set(db, "rt", "maintenance", "on", &err) == 0);
	CHECK(deis_db_app_setting_set(db, "rt", "no-such-setting", "1", &err) == -EINVAL);
	CHECK(deis_db_cert_set(db, "rt", "rt.example.com", "PEM", 1700000000000000LL, &err) == 0);
	struct deis_container ct = { .name = (char *)"web.1", .instance = (char *)"rt.web.1.7",
				     .seq = 7, .type = (char *)"web", .number = 1,
				     .state = (char *)"up", .release = 4, .node = (char *)"n1",
				     .address = (char *)"10.1.0.2", .port = 5000 };
	CHECK(deis_db_containers_write(db, "rt", &ct, 1, NULL, 0, 4, NULL, &err) == 0);
	CHECK(deis_db_rollout_set(db, "rt", 3, "failed", "crashed", &err) == 0);

	size_t n = 0;
	struct deis_app **all = load_all(&n, &err);
	struct deis_app *one = load_one("rt", NULL, &err);
	CHECK(all != NULL && n >= 1);
	CHECK(one != NULL);
	for (int pass = 0; pass < 2; pass++) {
		struct deis_app *a = pass ? one : NULL;
		for (size_t i = 0; !pass && all && i < n; i++)
			if (!strcmp(all[i]->name, "rt"))
				a = all[i];
		CHECK(a != NULL);
		if (!a)
			continue;
		CHECK_STR(a->owner, "alice");
		CHECK(a->nreleases == 4);
		CHECK(a->nreleases == 4 && a->releases[3]->version == 4 &&
		      a->releases[3]->build_number == 1);
		CHECK(a->nreleases == 4 && a->releases[2]->config.n == 2);
		CHECK(a->nreleases == 4 &&
		      !strcmp(deis_kvlist_get(&a->releases[2]->config, "B") ?: "", "two"));
		CHECK(a->nbuilds == 1 && !strcmp(a->builds[0].commit, "abc123") &&
		      !strcmp(a->builds[0].image, "reg/rt:1") && a->builds[0].procfile.n == 2);
		CHECK(a->formation.n == 2 &&
		      !strcmp(deis_kvlist_get(&a->formation, "web") ?: "", "2"));
		CHECK(a->domains.n == 2 && !strcmp(a->domains.items[0], "rt.example.com") &&
		      !strcmp(a->domains.items[1], "a.example.com"));
		CHECK(a->perms.n == 1 && !strcmp(a->perms.items[0], "bob"));
		CHECK(a->drains.n == 1 && !strcmp(a->drains.items[0], "syslog://10.0.0.1:514"));
		CHECK(!strcmp(deis_app_setting_kv(a, "healthcheck", "path") ?: "", "/health"));
		CHECK(deis_app_setting_on(a, "maintenance"));
		CHECK(a->nsettings == 2);
		CHECK(a->ncerts == 1 && !strcmp(a->certs[0].pem, "PEM") &&
		      a->certs[0].not_after == 1700000000000000LL);
		CHECK(a->ncontainers == 1 && !strcmp(a->containers[0].instance, "rt.web.1.7") &&
		      !strcmp(a->containers[0].address, "10.1.0.2") && a->containers[0].port == 5000);
		CHECK(a->nrollouts == 2 && a->rollouts[0].version == 3 &&
		      !strcmp(a->rollouts[0].reason, "crashed") && a->rollouts[1].version == 4 &&
		      !strcmp(a->rollouts[1].state, "deployed"));
	}
	free_all(all, n);

	/* A reload with the app as loaded before reads only the new
	 * releases and shares the old ones. */
	CHECK(set_var("rt", "C", "3", &v, &err) == 0 && v == 5);
	struct deis_app *again = one ? load_one("rt", one, &err) : NULL;
	CHECK(again != NULL && again->nreleases == 5);
	CHECK(again && one && again->nreleases == 5 && again->releases[0] == one->releases[0] &&
	      again->releases[4]->version == 5);
	if (again)
		deis_app_free(again);
	/* The same name, another app: read whole, nothing shared. */
	CHECK(deis_db_app_destroy(db, "rt", &err) == 0);
	CHECK(deis_db_app_create(db, "rt", "carol", &err) == 0);
	again = one ? load_one("rt", one, &err) : NULL;
	CHECK(again != NULL && again->nreleases == 1 && !strcmp(again->owner, "carol"));
	if (again)
		deis_app_free(again);
	if (one)
		deis_app_free(one);
	CHECK(deis_db_app_destroy(db, "rt", &err) == 0);
	deis_kvlist_clear(&procfile);
	deis_kvlist_clear(&formation);
	deis_strlist_clear(&domains);
	deis_strlist_clear(&perms);
	deis_strlist_clear(&drains);
}

TEST(users_and_keys)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_user **users = NULL;
	size_t n = 0;
	char owner[64] = "";

	CHECK(deis_db_user_create(db, "dave", 1001, &err) == 0);
	CHECK(deis_db_user_create(db, "dave", 1001, &err) == -EEXIST);
	CHECK(deis_db_key_add(db, "dave", "laptop", "ssh-ed25519", "ssh-ed25519 AAAA dave",
			      "SHA256:dave1", &err) == 0);
	CHECK(deis_db_key_add(db, "erin", "laptop", "ssh-ed25519", "ssh-ed25519 AAAA dave",
			      "SHA256:dave1", &err) == -EEXIST);
	CHECK(deis_db_key_owner(db, "SHA256:dave1", owner, sizeof(owner), &err) == 0);
	CHECK_STR(owner, "dave");
	CHECK(deis_db_load_users(db, "dave", &users, &n, &err) == 0);
	CHECK(n == 1 && users[0]->uid == 1001 && users[0]->nkeys == 1 &&
	      !strcmp(users[0]->keys[0].fingerprint, "SHA256:dave1"));
	for (size_t i = 0; i < n; i++)
		deis_user_free(users[i]);
	free(users);
	/* Every user, each with their own keys. */
	CHECK(deis_db_key_add(db, "erin", "a", "ssh-ed25519", "ssh-ed25519 AAAB erin",
			      "SHA256:erin1", &err) == 0);
	CHECK(deis_db_key_add(db, "erin", "b", "ssh-ed25519", "ssh-ed25519 AAAC erin",
			      "SHA256:erin2", &err) == 0);
	CHECK(deis_db_user_ensure(db, "frank", -1, &err) == 0);
	CHECK(deis_db_load_users(db, NULL, &users, &n, &err) == 0);
	size_t keys = 0;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(users[i]->name, "dave"))
			CHECK(users[i]->nkeys == 1 && !strcmp(users[i]->keys[0].name, "laptop"));
		else if (!strcmp(users[i]->name, "erin"))
			CHECK(users[i]->nkeys == 2 && !strcmp(users[i]->keys[1].name, "b"));
		else
			CHECK(users[i]->nkeys == 0);
		keys += users[i]->nkeys;
		deis_user_free(users[i]);
	}
	free(users);
	CHECK(keys == 3);
	CHECK(deis_db_key_remove(db, "dave", "laptop", &err) == 0);
	CHECK(deis_db_key_remove(db, "dave", "laptop", &err) == -ENOENT);
}

/* The first uid from `from` on that no local account holds. */
static int free_local_uid(int from)
{
	while (getpwuid((uid_t)from))
		from++;
	return from;
}

/*
 * Users with no local account get a uid of the reserved range: the lowest
 * free one, never one a local account holds (the range starts at nobody's
 * 65534 here), never one twice; a user made without one gets one when
 * asked; a full range and a bad range are errors.
 */
TEST(reserved_uids)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int min = deis_conf.user_uid_min, max = deis_conf.user_uid_max;
	int u1 = free_local_uid(65534), u2 = free_local_uid(u1 + 1), u3 = free_local_uid(u2 + 1);
	int uid = 0;
	bool allocated = true;
	char q[128], buf[32];

	deis_conf.user_uid_min = 65534;
	deis_conf.user_uid_max = u3;
	CHECK(deis_db_user_create(db, "ru1", -1, &err) == 0);
	CHECK(deis_db_user_create(db, "ru2", -1, &err) == 0);
	CHECK(deis_db_user_create(db, "ru1", -1, &err) == -EEXIST);
	CHECK(deis_db_user_uid(db, "ru1", &uid, &allocated, &err) == 0);
	CHECK(uid == u1 && !allocated);
	CHECK(deis_db_user_uid(db, "ru2", &uid, &allocated, &err) == 0);
	CHECK(uid == u2 && !allocated);
	/* a row made before uids were reserved */
	CHECK(deis_db_user_ensure(db, "ru3", -1, &err) == 0);
	CHECK(deis_db_user_uid(db, "ru3", &uid, &allocated, &err) == 0);
	CHECK(uid == u3 && allocated);
	snprintf(q, sizeof(q), "SELECT serial FROM users WHERE name = 'ru3'");
	CHECK_STR(sql_value(q, buf, sizeof(buf)), "2");
	CHECK(deis_db_user_uid(db, "ru3", &uid, &allocated, &err) == 0);
	CHECK(uid == u3 && !allocated);
	CHECK(deis_db_user_create(db, "ru4", -1, &err) == -ENOSPC);
	CHECK(deis_db_user_uid(db, "nobody-here", &uid, &allocated, &err) == -ENOENT);
	deis_conf.user_uid_min = 10;
	CHECK(deis_db_user_create(db, "ru5", -1, &err) == -EINVAL);
	deis_conf.user_uid_min = min;
	deis_conf.user_uid_max = max;
}

/*
 * A COMMIT that fails (here a deferred constraint trigger, checked only at
 * COMMIT; a serialization failure or a lost connection look the same to
 * the caller) is an error returned to the caller, and nothing of the
 * change stays.
 */
TEST(failed_commit_is_reported)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int v = -1;
	char buf[64];

	CHECK(sql("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
		  " $$BEGIN RAISE EXCEPTION 'refused at commit' USING ERRCODE = '23514';"
		  " END$$") == 0);
	CHECK(sql("CREATE CONSTRAINT TRIGGER refuse_cert AFTER INSERT ON certs"
		  " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
		  " WHEN (NEW.domain = 'refused.example.com') EXECUTE FUNCTION refuse()") == 0);
	CHECK(sql("CREATE CONSTRAINT TRIGGER refuse_release AFTER INSERT ON releases"
		  " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
		  " WHEN (NEW.config ? 'REFUSED') EXECUTE FUNCTION refuse()") == 0);
	CHECK(deis_db_app_create(db, "fc", "alice", &err) == 0);
	const char *serial = sql_value("SELECT serial FROM apps WHERE name = 'fc'", buf,
				       sizeof(buf));
	char before[64];
	snprintf(before, sizeof(before), "%s", serial);

	deis_error_clear(&err);
	CHECK(deis_db_cert_set(db, "fc", "refused.example.com", "PEM", 0, &err) < 0);
	CHECK(err.code != 0 && strstr(err.msg, "refused at commit"));
	CHECK_STR(sql_value("SELECT count(*) FROM certs WHERE domain = 'refused.example.com'",
			    buf, sizeof(buf)), "0");
	CHECK_STR(sql_value("SELECT serial FROM apps WHERE name = 'fc'", buf, sizeof(buf)),
		  before);

	deis_error_clear(&err);
	CHECK(set_var("fc", "REFUSED", "1", &v, &err) < 0);
	CHECK(v == 0);
	CHECK(err.code != 0 && strstr(err.msg, "refused at commit"));
	CHECK_STR(sql_value("SELECT max(version) FROM releases r JOIN apps a"
			    " ON a.id = r.app_id WHERE a.name = 'fc'", buf, sizeof(buf)), "1");

	/* The connection is usable after: the next change commits. */
	CHECK(deis_db_cert_set(db, "fc", "fine.example.com", "PEM", 0, &err) == 0);
	CHECK(set_var("fc", "FINE", "1", &v, &err) == 0 && v == 2);
	CHECK(deis_db_app_destroy(db, "fc", &err) == 0);
	sql("DROP TRIGGER refuse_cert ON certs");
	sql("DROP TRIGGER refuse_release ON releases");
}

/* The server answers COMMIT with ROLLBACK when the transaction had
 * failed: an error too, however the failure went unnoticed. */
TEST(rolled_back_commit_is_an_error)
{
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(sql("BEGIN") == 0);
	PQclear(PQexec(raw, "SELECT 1/0"));
	PGresult *res = PQexec(raw, "COMMIT");
	CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
	CHECK(db_committed(res, &err) == -EIO && strstr(err.msg, "rolled back"));
	PQclear(res);
	res = PQexec(raw, "SELECT 1");
	CHECK(db_committed(res, &err) == -EIO);
	PQclear(res);
	CHECK(sql("BEGIN") == 0);
	res = PQexec(raw, "COMMIT");
	CHECK(db_committed(res, &err) == 0);
	PQclear(res);
}

/* A JSON column that does not decode is an error, whichever reads it:
 * the loader, or a change that builds on what it reads. */
TEST(bad_json_is_reported)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_kvlist procfile = DEIS_KVLIST_INIT, formation = DEIS_KVLIST_INIT;
	int v = -1, build = 0;
	size_t n = 0;
	struct deis_app **apps;
	char buf[64];

	CHECK(deis_db_app_create(db, "bj", "alice", &err) == 0);
	CHECK(set_var("bj", "KEEP", "me", &v, &err) == 0 && v == 2);
	CHECK(deis_db_build_create(db, "bj", "alice", "abc", &build, &err) == 0);
	deis_kvlist_set(&procfile, "web", "./serve");
	CHECK(deis_db_build_finish(db, "bj", build, "succeeded", "img", &procfile, &err) == 0);
	struct deis_release_change deploy = { .kind = DEIS_RELEASE_DEPLOY, .version = build };
	CHECK(deis_db_release_create(db, "bj", "alice", &deploy, &v, &err) == 0 && v == 3);
	deis_kvlist_set(&formation, "web", "1");

	/* A build's Procfile that is not an object of strings. */
	CHECK(sql("UPDATE builds SET procfile = '\"web\"'") == 0);
	deis_error_clear(&err);
	apps = load_all(&n, &err);
	CHECK(apps == NULL && err.code != 0 && strstr(err.msg, "JSON"));
	free_all(apps, n);
	CHECK(load_one("bj", NULL, &err) == NULL);
	deis_error_clear(&err);
	CHECK(deis_db_formation_set(db, "bj", &formation, &err) == -EIO && strstr(err.msg, "JSON"));
	CHECK(sql("UPDATE builds SET procfile = '{\"web\": 1}'") == 0);
	deis_error_clear(&err);
	CHECK(load_one("bj", NULL, &err) == NULL && strstr(err.msg, "JSON"));
	CHECK(sql("UPDATE builds SET procfile = '{\"web\": \"./serve\"}'") == 0);
	struct deis_app *a = load_one("bj", NULL, &err);
	CHECK(a != NULL);
	if (a)
		deis_app_free(a);
	CHECK(deis_db_formation_set(db, "bj", &formation, &err) == 0);

	/* The current release's config: a change must not build on what
	 * it cannot read (it would drop every var). */
	CHECK(sql("UPDATE releases SET config = '[\"KEEP\"]' WHERE version = 3") == 0);
	deis_error_clear(&err);
	CHECK(set_var("bj", "MORE", "1", &v, &err) < 0 && v == 0);
	CHECK(err.code != 0 && strstr(err.msg, "JSON"));
	CHECK_STR(sql_value("SELECT count(*) FROM releases WHERE version > 3", buf, sizeof(buf)),
		  "0");
	deis_error_clear(&err);
	CHECK(load_one("bj", NULL, &err) == NULL && strstr(err.msg, "JSON"));
	CHECK(sql("UPDATE releases SET config = '{\"KEEP\": \"me\"}' WHERE version = 3") == 0);
	/* ... nor the one a rollback copies. */
	CHECK(sql("UPDATE releases SET limits = '{\"web\": [\"512M\"]}' WHERE version = 2") == 0);
	struct deis_release_change back = { .kind = DEIS_RELEASE_ROLLBACK, .version = 2 };
	deis_error_clear(&err);
	CHECK(deis_db_release_create(db, "bj", "alice", &back, &v, &err) < 0 && v == 0);
	CHECK(err.code != 0 && strstr(err.msg, "JSON"));
	CHECK(sql("UPDATE releases SET limits = '{}' WHERE version = 2") == 0);

	/* Encoding: a key that is not UTF-8 is refused, not dropped. */
	deis_error_clear(&err);
	CHECK(set_var("bj", "BAD\xff", "1", &v, &err) == -EINVAL && v == 0);
	CHECK(set_var("bj", "MORE", "1", &v, &err) == 0 && v == 4);
	CHECK(deis_db_release_create(db, "bj", "alice", &back, &v, &err) == 0 && v == 5);
	a = load_one("bj", NULL, &err);
	CHECK(a && a->nreleases == 5 && a->releases[3]->config.n == 2 &&
	      a->releases[4]->config.n == 1);
	if (a)
		deis_app_free(a);
	CHECK(deis_db_app_destroy(db, "bj", &err) == 0);
	deis_kvlist_clear(&procfile);
	deis_kvlist_clear(&formation);
}

/* The scheduler's and the platform's small tables, and the readers of
 * lists; last, as its live node changes what admission allows. */
TEST(nodes_quotas_and_lists)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_node *nodes = NULL;
	struct deis_quota_row *quotas = NULL;
	struct deis_kvlist kv = DEIS_KVLIST_INIT, formation = DEIS_KVLIST_INIT;
	struct deis_strlist names = DEIS_STRLIST_INIT, drains = DEIS_STRLIST_INIT;
	long s1 = 0, s2 = 0;
	size_t n = 9;

	CHECK(deis_db_seq_next(db, &s1, &err) == 0 && deis_db_seq_next(db, &s2, &err) == 0);
	CHECK(s2 > s1);

	CHECK(deis_db_quotas(db, &quotas, &n, &err) == 0 && n == 0 && quotas == NULL);
	struct deis_quota platform = { 10, -1, 1500 }, user = { 2, -1, 0 };
	CHECK(deis_db_quota_set(db, "", &platform, &err) == 0);
	CHECK(deis_db_quota_set(db, "lq", &user, &err) == 0);
	CHECK(deis_db_quotas(db, &quotas, &n, &err) == 0 && n == 2);
	CHECK(n == 2 && !strcmp(quotas[0].scope, "") && quotas[0].q.overcommit == 1500 &&
	      !strcmp(quotas[1].scope, "lq") && quotas[1].q.containers == 2 &&
	      quotas[1].q.memory == -1);
	free(quotas);
	CHECK(deis_db_quota_set(db, "lq", &DEIS_QUOTA_UNSET, &err) == 0);
	CHECK(deis_db_quotas(db, &quotas, &n, &err) == 0 && n == 1);
	free(quotas);

	CHECK(deis_db_app_create(db, "lq", "lq", &err) == 0);
	deis_strlist_add(&drains, "syslog://10.0.0.1:514");
	deis_strlist_add(&drains, "syslog://10.0.0.2:514");
	CHECK(deis_db_drains_set(db, "lq", &drains, &err) == 0);
	CHECK(deis_db_load_drains(db, &kv, &err) == 0);
	CHECK_STR(deis_kvlist_get(&kv, "lq"), "syslog://10.0.0.1:514\nsyslog://10.0.0.2:514");
	deis_kvlist_clear(&kv);
	CHECK(deis_db_serials(db, &kv, &err) == 0);
	CHECK(deis_kvlist_get(&kv, "lq") && deis_kvlist_get(&kv, "~lq"));
	CHECK(deis_db_app_names(db, &names, &err) == 0 && deis_strlist_has(&names, "lq"));

	/* A node that reports 1 MB: no container of the default size fits. */
	CHECK(deis_db_node_seen(db, "n1", "10.0.0.9", "{\"containers\": 3, \"memory\": 1048576}",
				&err) == 0);
	CHECK(deis_db_nodes(db, &nodes, &n, &err) == 0 && n == 1);
	CHECK(n == 1 && !strcmp(nodes[0].name, "n1") && !strcmp(nodes[0].address, "10.0.0.9") &&
	      nodes[0].containers == 3 && nodes[0].memory == 1048576 && nodes[0].last_seen > 0);
	free(nodes);
	deis_kvlist_set(&formation, "web", "1");
	CHECK(deis_db_formation_set(db, "lq", &formation, &err) == -EDQUOT);
	CHECK(deis_db_app_destroy(db, "lq", &err) == 0);
	deis_kvlist_clear(&kv);
	deis_kvlist_clear(&formation);
	deis_strlist_clear(&names);
	deis_strlist_clear(&drains);
}

/* An image deployed without a build is one transaction: the build row
 * and its release, or neither. */
TEST(image_deploy_is_one_transaction)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_kvlist procfile = DEIS_KVLIST_INIT;
	int number = -1, version = -1;
	struct deis_app *a;

	deis_kvlist_set(&procfile, "web", "./serve");
	CHECK(sql("DELETE FROM nodes") == 0);
	CHECK(deis_db_app_create(db, "im", "alice", &err) == 0);

	/* No room on the only node for the web=1 a first deploy scales to:
	 * the release is refused, and no build row is left behind. */
	CHECK(deis_db_node_seen(db, "tiny", "10.0.0.9", "{\"containers\": 0, \"memory\": 1048576}",
				&err) == 0);
	CHECK(deis_db_image_deploy(db, "im", "alice", "im@sha256:aa", &procfile, "aa",
				   &number, &version, &err) == -EDQUOT);
	CHECK(number == 0 && version == 0);
	a = load_one("im", NULL, &err);
	CHECK(a && a->nbuilds == 0 && a->nreleases == 1);
	if (a)
		deis_app_free(a);

	CHECK(sql("DELETE FROM nodes") == 0);
	deis_error_clear(&err);
	CHECK(deis_db_image_deploy(db, "im", "alice", "im@sha256:aa", &procfile, "aa",
				   &number, &version, &err) == 0);
	CHECK(number == 1 && version == 2);
	a = load_one("im", NULL, &err);
	CHECK(a && a->nbuilds == 1 && !strcmp(a->builds[0].status, "succeeded") &&
	      !strcmp(a->builds[0].image, "im@sha256:aa") && a->nreleases == 2 &&
	      strstr(a->releases[1]->summary, "deployed aa"));
	if (a)
		deis_app_free(a);
	CHECK(deis_db_app_destroy(db, "im", &err) == 0);
	deis_kvlist_clear(&procfile);
}

int main(void)
{
	const char *base = database_conninfo();
	struct deis_error err = DEIS_ERROR_INIT;
	char q[128];

	if (!base) {
		printf("1..0 # SKIP no database: set DEIS_TEST_DATABASE or DEIS_CONF\n");
		return 0;
	}
	snprintf(schema, sizeof(schema), "test_db_%d", (int)getpid());
	raw = PQconnectdb(base);
	if (PQstatus(raw) != CONNECTION_OK) {
		printf("Bail out! cannot connect: %s", PQerrorMessage(raw));
		return 1;
	}
	snprintf(q, sizeof(q), "CREATE SCHEMA %s", schema);
	if (sql(q) < 0) {
		printf("Bail out! cannot create schema %s\n", schema);
		return 1;
	}
	atexit(drop_schema);
	snprintf(q, sizeof(q), "SET search_path = %s", schema);
	sql(q);
	PQclear(PQexec(raw, "SET client_min_messages = warning"));
	snprintf(conninfo, sizeof(conninfo), "%s options='-c search_path=%s'", base, schema);
	if (deis_db_open(conninfo, &db, &err) < 0) {
		printf("Bail out! %s\n", err.msg);
		return 1;
	}
	RUN(migrate_twice);
	RUN(load_round_trip);
	RUN(users_and_keys);
	RUN(reserved_uids);
	RUN(failed_commit_is_reported);
	RUN(rolled_back_commit_is_an_error);
	RUN(bad_json_is_reported);
	RUN(nodes_quotas_and_lists);
	RUN(image_deploy_is_one_transaction);
	return unit_done();
}
