/*
 * commit.c - how every store function commits: tree_commit() runs one
 * change of the store (store.h) for a request, then reloads what it
 * changed and tells the kernel and the other mounts.
 */
#include <errno.h>
#include <stdio.h>

#include "deis/log.h"
#include "tree.h"

/* After a committed change to an app: reload it here, then tell the
 * kernel and every other mount. */
static void app_changed(const char *app)
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

/* Every user who has done anything has a users/ row: the acting user's
 * is made before their first change, in a transaction of its own. */
static void user_row(struct req *r, struct store_conn *s)
{
	bool known;

	pthread_rwlock_rdlock(&state.lock);
	known = state_user(r->who.name) != NULL;
	pthread_rwlock_unlock(&state.lock);
	if (!known && fs_store->user_ensure(s, r->who.name, (int)r->who.uid, NULL) == 0)
		user_changed(r->who.name);
}

int tree_commit(struct req *r, store_fn *change, struct store_change *c)
{
	if (r->dry_run)
		return 1;
	struct store_conn *s = fs_store->acquire();
	if (!s)
		return deis_error_set(&r->err, EIO, "the database is unreachable");
	user_row(r, s);
	/* The store checks the user's rights on the app again, in the
	 * change's own transaction; admins act as the platform. */
	fs_store->act_as(s, r->who.admin ? NULL : r->who.name);
	c->who = r->who.name;
	int rc = change(s, c, &r->err);
	fs_store->release(s);
	if (rc < 0)
		return rc;
	/* A release change that made no release changed nothing. */
	if (c->release && !c->version)
		return 0;
	if (c->app)
		app_changed(c->app);
	if (c->user)
		user_changed(c->user);
	return 0;
}

int release_change(struct req *r, const struct node *n,
		   const struct deis_release_change *release)
{
	char app[64];

	app_name(n, app, sizeof(app));
	struct store_change c = { .app = app, .release = release };
	int rc = tree_commit(r, fs_store->release_create, &c);
	if (rc == 0 && c.version) {
		deis_log(LOG_INFO, "app %s: release v%d by %s", app, c.version, r->who.name);
		pthread_rwlock_rdlock(&state.lock);
		const struct deis_app *a = state_app(app);
		const struct deis_release *rel = a ? deis_app_current(a) : NULL;
		if (rel && rel->version == c.version)
			platform_line(app, "%s (v%d)", rel->summary, c.version);
		pthread_rwlock_unlock(&state.lock);
	}
	return rc;
}
