/*
 * store_db.c - the tree's store over PostgreSQL: a pool of lib/db_*.c
 * connections and one line per operation of store.h.
 *
 * A store connection is a struct deis_db from the pool.  The operations
 * add nothing to deis_db_*: each is one transaction there, with the
 * acting user's rights checked under the app row's lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "deis/conf.h"
#include "deis/log.h"
#include "deisfs.h"
#include "deis/settings.h"
#include "store.h"

/* ---- the PostgreSQL pool ---- */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct deis_db *pool_free[64];
static int64_t pool_idle[64];		/* when each free one was given back */
static int pool_nfree, pool_total;

/* Known to be down: a check failed, or a connection came back lost,
 * and no check has succeeded since.  Writes fail at once meanwhile. */
static atomic_bool pool_down;

/* A connection, and since when it was idle (now for a new one). */
static struct deis_db *pool_take(int64_t *since, struct deis_error *err)
{
	struct deis_db *db = NULL;

	pthread_mutex_lock(&pool_lock);
	for (;;) {
		if (pool_nfree) {
			pool_nfree--;
			db = pool_free[pool_nfree];
			*since = pool_idle[pool_nfree];
			break;
		}
		if (pool_total < fs_conf.db_pool && pool_total < 64) {
			pool_total++;
			pthread_mutex_unlock(&pool_lock);
			*since = now_us();
			if (deis_db_open(deis_conf.database, &db, err) < 0) {
				pthread_mutex_lock(&pool_lock);
				pool_total--;
				pthread_mutex_unlock(&pool_lock);
				atomic_store(&pool_down, true);
				return NULL;
			}
			return db;
		}
		pthread_cond_wait(&pool_cond, &pool_lock);
	}
	pthread_mutex_unlock(&pool_lock);
	return db;
}

struct deis_db *db_acquire(void)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int64_t since;
	struct deis_db *db = pool_take(&since, &err);

	if (!db)
		deis_log(LOG_ERR, "%s", err.msg);
	return db;
}

void db_release(struct deis_db *db)
{
	if (!db)
		return;
	deis_db_act_as(db, NULL);	/* the next holder acts as itself */
	if (deis_db_lost(db))
		atomic_store(&pool_down, true);
	pthread_mutex_lock(&pool_lock);
	pool_idle[pool_nfree] = now_us();
	pool_free[pool_nfree++] = db;
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
}

/*
 * Before a change is accepted: a connection of the pool must answer.
 * Cheap on the hot path: the connection's status, and a read of what
 * the server may have sent (a server that went away closed the socket);
 * a round trip only when the connection sat idle longer than
 * CHECK_IDLE_US or the database was known down.  A failed connection is
 * made again here, so the first open after PostgreSQL is back succeeds.
 */
#define CHECK_IDLE_US 1000000

static int pg_check(bool known_only, struct deis_error *err)
{
	if (known_only)
		return atomic_load(&pool_down) ?
			deis_error_set(err, EIO, "the database is unreachable (PostgreSQL is "
				       "down); nothing written through this file commits") : 0;
	int64_t since;
	struct deis_db *db = pool_take(&since, err);
	if (!db) {
		err->code = EIO;
		return deis_error_prefix(err, "the database is unreachable");
	}
	bool trip = atomic_load(&pool_down) || now_us() - since > CHECK_IDLE_US;
	int r = deis_db_check(db, trip, err);
	if (r < 0) {
		err->code = EIO;
		deis_error_prefix(err, "the database is unreachable");
	}
	atomic_store(&pool_down, r < 0);
	db_release(db);
	return r;
}

/* ---- the operations ---- */

static struct deis_db *db_of(struct store_conn *s)
{
	return (struct deis_db *)s;
}

static struct store_conn *pg_acquire(void)
{
	return (struct store_conn *)db_acquire();
}

static void pg_release(struct store_conn *s)
{
	db_release(db_of(s));
}

static void pg_act_as(struct store_conn *s, const char *user)
{
	deis_db_act_as(db_of(s), user);
}

static int pg_user_ensure(struct store_conn *s, const char *name, int uid,
			  struct deis_error *err)
{
	return deis_db_user_ensure(db_of(s), name, uid, err);
}

static int pg_load_apps(struct store_conn *s, const char *only, const struct deis_app *prev,
			struct deis_app ***apps, size_t *n, struct deis_error *err)
{
	return deis_db_load_apps(db_of(s), only, prev, apps, n, err);
}

static int pg_load_users(struct store_conn *s, const char *only, struct deis_user ***users,
			 size_t *n, struct deis_error *err)
{
	return deis_db_load_users(db_of(s), only, users, n, err);
}

static int pg_serials(struct store_conn *s, struct deis_kvlist *out, struct deis_error *err)
{
	return deis_db_serials(db_of(s), out, err);
}

static int pg_quotas(struct store_conn *s, struct deis_quota_row **out, size_t *n,
		     struct deis_error *err)
{
	return deis_db_quotas(db_of(s), out, n, err);
}

/* One change: a store_fn named pg_<op> whose body is the deis_db call,
 * with db the connection and c the change (store.h says what each reads). */
#define CHANGE(op, call)							\
	static int pg_##op(struct store_conn *s, struct store_change *c,	\
			   struct deis_error *err)				\
	{									\
		struct deis_db *db = db_of(s);					\
		return call;							\
	}

CHANGE(user_create, deis_db_user_create(db, c->user, c->uid, err))
CHANGE(key_add, deis_db_key_add(db, c->user, c->name, c->key_type, c->text, c->fingerprint,
				err))
CHANGE(key_remove, deis_db_key_remove(db, c->user, c->name, err))
CHANGE(app_create, deis_db_app_create(db, c->app, c->user, err))
CHANGE(app_destroy, deis_db_app_destroy(db, c->app, err))
CHANGE(release_create, deis_db_release_create(db, c->app, c->who, c->release, &c->version,
					      err))
CHANGE(formation_set, deis_db_formation_set(db, c->app, c->kv, err))
CHANGE(domains_set, deis_db_domains_set(db, c->app, c->list, err))
CHANGE(perms_set, deis_db_perms_set(db, c->app, c->list, err))
CHANGE(drains_set, deis_db_drains_set(db, c->app, c->list, err))
CHANGE(setting_set, deis_db_app_setting_set(db, c->app, c->name, c->text, err))
CHANGE(cert_set, deis_db_cert_set(db, c->app, c->name, c->text, c->not_after, err))
CHANGE(cert_remove, deis_db_cert_remove(db, c->app, c->name, err))
CHANGE(container_restart, deis_db_container_restart(db, c->app, c->name, err))
CHANGE(run_create, deis_db_run_create(db, c->app, c->text, c->release_version, NULL, 0,
				      &c->number, NULL, 0, err))
CHANGE(quota_set, deis_db_quota_set(db, c->name, c->quota, err))

/* An image deployed without a build: one transaction (lib/db_releases.c). */
CHANGE(image_deploy, deis_db_image_deploy(db, c->app, c->who, c->text, c->kv, c->name,
					  &c->number, &c->version, err))

const struct store_ops store_db = {
	/* connections and loads */
	.acquire = pg_acquire, .release = pg_release, .act_as = pg_act_as,
	.check = pg_check,
	.user_ensure = pg_user_ensure, .load_apps = pg_load_apps, .load_users = pg_load_users,
	.serials = pg_serials, .quotas = pg_quotas,
	/* changes */
	.user_create = pg_user_create, .key_add = pg_key_add, .key_remove = pg_key_remove,
	.app_create = pg_app_create, .app_destroy = pg_app_destroy,
	.release_create = pg_release_create, .image_deploy = pg_image_deploy,
	.formation_set = pg_formation_set, .domains_set = pg_domains_set,
	.perms_set = pg_perms_set, .drains_set = pg_drains_set,
	.setting_set = pg_setting_set,
	.cert_set = pg_cert_set, .cert_remove = pg_cert_remove,
	.container_restart = pg_container_restart, .run_create = pg_run_create,
	.quota_set = pg_quota_set,
};

const struct store_ops *fs_store = &store_db;
