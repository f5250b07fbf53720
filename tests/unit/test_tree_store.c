/*
 * test_tree_store.c - the in-memory store of the tree's unit tests (see
 * test_tree_store.h): struct store_ops over a few arrays.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/buf.h"
#include "deisfs.h"
#include "test_tree_store.h"

#define MAX_APPS 16
#define MAX_USERS 16
#define MAX_KEYS 8
#define MAX_RELEASES 64

struct mem_release {
	int64_t created;
	char owner[64];
	char summary[256];
	struct deis_kvlist config, limits;
};

struct mem_app {
	long id, serial;
	char name[64], owner[64];
	int64_t created, updated;
	struct deis_kvlist formation;
	struct deis_kvlist settings;	/* name -> canonical value */
	struct deis_strlist domains, perms, drains;
	struct mem_release rel[MAX_RELEASES];
	int nrel;
};

struct mem_user {
	long id, serial;
	char name[64];
	int uid;
	int64_t created;
	struct deis_key keys[MAX_KEYS];
	size_t nkeys;
};

static struct mem_app apps[MAX_APPS];
static int napps;
static struct mem_user users[MAX_USERS];
static int nusers;
static long next_id = 1;
static char acting[64];		/* "" : the platform or an admin */
int mem_commits;

/* A connection: the tree only passes it back. */
static int conn;

/* ---- the data ---- */

static struct mem_app *app_of(const char *name)
{
	for (int i = 0; i < napps; i++)
		if (!strcmp(apps[i].name, name))
			return &apps[i];
	return NULL;
}

static struct mem_user *user_of(const char *name)
{
	for (int i = 0; i < nusers; i++)
		if (!strcmp(users[i].name, name))
			return &users[i];
	return NULL;
}

static void app_clear(struct mem_app *a)
{
	deis_kvlist_clear(&a->formation);
	deis_kvlist_clear(&a->settings);
	deis_strlist_clear(&a->domains);
	deis_strlist_clear(&a->perms);
	deis_strlist_clear(&a->drains);
	for (int i = 0; i < a->nrel; i++) {
		deis_kvlist_clear(&a->rel[i].config);
		deis_kvlist_clear(&a->rel[i].limits);
	}
	memset(a, 0, sizeof(*a));
}

static void user_clear(struct mem_user *u)
{
	for (size_t i = 0; i < u->nkeys; i++) {
		free(u->keys[i].name);
		free(u->keys[i].type);
		free(u->keys[i].data);
		free(u->keys[i].fingerprint);
	}
	memset(u, 0, sizeof(*u));
}

void mem_reset(void)
{
	for (int i = 0; i < napps; i++)
		app_clear(&apps[i]);
	for (int i = 0; i < nusers; i++)
		user_clear(&users[i]);
	napps = nusers = 0;
	mem_commits = 0;
	acting[0] = '\0';
}

void mem_user(const char *name, int uid)
{
	struct mem_user *u = &users[nusers++];

	snprintf(u->name, sizeof(u->name), "%s", name);
	u->id = next_id++;
	u->serial = 1;
	u->uid = uid;
	u->created = now_us();
}

/* The next release of a: a copy of the current one, to change. */
static struct mem_release *release_next(struct mem_app *a, const char *who)
{
	struct mem_release *r = &a->rel[a->nrel];

	memset(r, 0, sizeof(*r));
	if (a->nrel) {
		deis_kvlist_copy(&r->config, &a->rel[a->nrel - 1].config);
		deis_kvlist_copy(&r->limits, &a->rel[a->nrel - 1].limits);
	}
	snprintf(r->owner, sizeof(r->owner), "%s", who);
	r->created = now_us();
	return r;
}

void mem_app(const char *name, const char *owner)
{
	struct mem_app *a = &apps[napps++];

	snprintf(a->name, sizeof(a->name), "%s", name);
	snprintf(a->owner, sizeof(a->owner), "%s", owner);
	a->id = next_id++;
	a->serial = 1;
	a->created = a->updated = now_us();
	struct mem_release *r = release_next(a, owner);
	snprintf(r->summary, sizeof(r->summary), "%s created initial release", owner);
	a->nrel = 1;
}

void mem_set(const char *app, const char *key, const char *value)
{
	struct mem_app *a = app_of(app);

	deis_kvlist_set(&a->rel[a->nrel - 1].config, key, value);
	deis_kvlist_sort(&a->rel[a->nrel - 1].config);
}

void mem_perm(const char *app, const char *user)
{
	deis_strlist_add(&app_of(app)->perms, user);
}

/* ---- the model, as deis_db_load_* makes it ---- */

static struct deis_app *app_model(const struct mem_app *m)
{
	struct deis_app *a = calloc(1, sizeof(*a));

	if (!a)
		abort();
	a->refs = 1;
	a->id = m->id;
	a->name = strdup(m->name);
	a->owner = strdup(m->owner);
	a->created = m->created;
	a->updated = m->updated;
	a->serial = m->serial;
	deis_kvlist_copy(&a->formation, &m->formation);
	for (size_t i = 0; i < m->settings.n; i++)
		deis_app_setting_put(a, m->settings.items[i].key, m->settings.items[i].value,
				     m->updated);
	deis_strlist_copy(&a->domains, &m->domains);
	deis_strlist_copy(&a->perms, &m->perms);
	deis_strlist_copy(&a->drains, &m->drains);
	a->formation_mtime = a->domains_mtime = a->perms_mtime = a->drains_mtime = m->updated;
	a->releases = calloc((size_t)m->nrel + 1, sizeof(*a->releases));
	if (!a->releases)
		abort();
	for (int i = 0; i < m->nrel; i++) {
		struct deis_release *r = calloc(1, sizeof(*r));
		if (!r)
			abort();
		r->refs = 1;
		r->version = i + 1;
		r->created = m->rel[i].created;
		r->owner = strdup(m->rel[i].owner);
		r->summary = strdup(m->rel[i].summary);
		deis_kvlist_copy(&r->config, &m->rel[i].config);
		deis_kvlist_copy(&r->limits, &m->rel[i].limits);
		a->releases[i] = r;
	}
	a->nreleases = a->releases_cap = (size_t)m->nrel;
	return a;
}

static struct deis_user *user_model(const struct mem_user *m)
{
	struct deis_user *u = calloc(1, sizeof(*u));

	if (!u)
		abort();
	u->id = m->id;
	u->name = strdup(m->name);
	u->uid = m->uid;
	u->serial = m->serial;
	u->created = u->updated = m->created;
	u->keys = calloc(m->nkeys + 1, sizeof(*u->keys));
	if (!u->keys)
		abort();
	for (size_t i = 0; i < m->nkeys; i++) {
		u->keys[i].name = strdup(m->keys[i].name);
		u->keys[i].type = strdup(m->keys[i].type);
		u->keys[i].data = strdup(m->keys[i].data);
		u->keys[i].fingerprint = strdup(m->keys[i].fingerprint);
		u->keys[i].created = m->keys[i].created;
	}
	u->nkeys = m->nkeys;
	return u;
}

static struct store_conn *mem_acquire(void)
{
	return (struct store_conn *)&conn;
}

static void mem_release(struct store_conn *s)
{
	acting[0] = '\0';
}

static void mem_act_as(struct store_conn *s, const char *user)
{
	snprintf(acting, sizeof(acting), "%s", user ? user : "");
}

static int mem_load_apps(struct store_conn *s, const char *only, const struct deis_app *prev,
			 struct deis_app ***out, size_t *n, struct deis_error *err)
{
	*out = calloc((size_t)napps + 1, sizeof(**out));
	*n = 0;
	for (int i = 0; i < napps; i++)
		if (!only || !strcmp(only, apps[i].name))
			(*out)[(*n)++] = app_model(&apps[i]);
	return 0;
}

static int mem_load_users(struct store_conn *s, const char *only, struct deis_user ***out,
			  size_t *n, struct deis_error *err)
{
	*out = calloc((size_t)nusers + 1, sizeof(**out));
	*n = 0;
	for (int i = 0; i < nusers; i++)
		if (!only || !strcmp(only, users[i].name))
			(*out)[(*n)++] = user_model(&users[i]);
	return 0;
}

static int mem_serials(struct store_conn *s, struct deis_kvlist *out, struct deis_error *err)
{
	char k[80], v[32];

	for (int i = 0; i < napps; i++) {
		snprintf(v, sizeof(v), "%ld", apps[i].serial);
		deis_kvlist_set(out, apps[i].name, v);
	}
	for (int i = 0; i < nusers; i++) {
		snprintf(k, sizeof(k), "~%s", users[i].name);
		snprintf(v, sizeof(v), "%ld", users[i].serial);
		deis_kvlist_set(out, k, v);
	}
	return 0;
}

static int mem_quotas(struct store_conn *s, struct deis_quota_row **out, size_t *n,
		      struct deis_error *err)
{
	*out = NULL;
	*n = 0;
	return 0;
}

static int mem_user_ensure(struct store_conn *s, const char *name, int uid,
			   struct deis_error *err)
{
	if (!user_of(name))
		mem_user(name, uid);
	return 0;
}

/* ---- changes ---- */

/* The app a change is to, with the acting user's rights on it checked
 * as lib/db_*.c checks them (owner_only: perms and destroying). */
static struct mem_app *app_for(const char *name, bool owner_only, struct deis_error *err)
{
	struct mem_app *a = app_of(name);

	if (!a) {
		deis_error_set(err, ENOENT, "no app '%s'", name);
		return NULL;
	}
	if (acting[0] && strcmp(a->owner, acting) &&
	    (owner_only || !deis_strlist_has(&a->perms, acting))) {
		deis_error_set(err, EACCES, "%s may not change app '%s'", acting, name);
		return NULL;
	}
	return a;
}

static int changed_app(struct mem_app *a)
{
	a->serial++;
	a->updated = now_us();
	mem_commits++;
	return 0;
}

static int changed_user(struct mem_user *u)
{
	u->serial++;
	mem_commits++;
	return 0;
}

static int mem_user_create(struct store_conn *s, struct store_change *c, struct deis_error *err)
{
	if (user_of(c->user))
		return deis_error_set(err, EEXIST, "user '%s' exists", c->user);
	mem_user(c->user, c->uid);
	return changed_user(user_of(c->user));
}

static int mem_key_add(struct store_conn *s, struct store_change *c, struct deis_error *err)
{
	struct mem_user *u = user_of(c->user);

	if (acting[0] && strcmp(acting, c->user))
		return deis_error_set(err, EACCES, "only %s may change their keys", c->user);
	if (!u)
		return deis_error_set(err, ENOENT, "no user '%s'", c->user);
	if (u->nkeys == MAX_KEYS)
		return deis_error_set(err, ENOSPC, "too many keys");
	struct deis_key *k = &u->keys[u->nkeys++];
	k->name = strdup(c->name);
	k->type = strdup(c->key_type);
	k->data = strdup(c->text);
	k->fingerprint = strdup(c->fingerprint);
	k->created = now_us();
	return changed_user(u);
}

static int mem_app_create(struct store_conn *s, struct store_change *c, struct deis_error *err)
{
	if (app_of(c->app))
		return deis_error_set(err, EEXIST, "app '%s' exists", c->app);
	if (napps == MAX_APPS)
		return deis_error_set(err, ENOSPC, "too many apps");
	mem_app(c->app, c->user);
	mem_commits++;
	return 0;
}

static int mem_app_destroy(struct store_conn *s, struct store_change *c,
			   struct deis_error *err)
{
	struct mem_app *a = app_for(c->app, true, err);

	if (!a)
		return -err->code;
	app_clear(a);
	*a = apps[--napps];
	memset(&apps[napps], 0, sizeof(apps[napps]));
	mem_commits++;
	return 0;
}

/* The config part of lib/db_*.c's release making: set, unset, rename,
 * env, limits.  No change, no release (version 0). */
static int mem_release_create(struct store_conn *s, struct store_change *c,
			      struct deis_error *err)
{
	const struct deis_release_change *ch = c->release;
	struct mem_app *a = app_for(c->app, false, err);
	struct deis_buf summary = DEIS_BUF_INIT;
	int rc = 0;

	if (!a)
		return -err->code;
	if (a->nrel == MAX_RELEASES)
		return deis_error_set(err, ENOSPC, "too many releases");
	struct mem_release *r = release_next(a, c->who);
	const struct mem_release *cur = &a->rel[a->nrel - 1];
	switch (ch->kind) {
	case DEIS_RELEASE_SET:
		deis_kvlist_set(&r->config, ch->key, ch->value);
		deis_kvlist_sort(&r->config);
		break;
	case DEIS_RELEASE_UNSET:
		if (!deis_kvlist_remove(&r->config, ch->key))
			rc = deis_error_set(err, ENOENT, "no config var '%s'", ch->key);
		break;
	case DEIS_RELEASE_RENAME:
		if (!deis_kvlist_get(&r->config, ch->key)) {
			rc = deis_error_set(err, ENOENT, "no config var '%s'", ch->key);
			break;
		}
		deis_kvlist_set(&r->config, ch->new_key, deis_kvlist_get(&cur->config, ch->key));
		deis_kvlist_remove(&r->config, ch->key);
		deis_kvlist_sort(&r->config);
		deis_buf_addf(&summary, "%s renamed %s to %s", c->who, ch->key, ch->new_key);
		break;
	case DEIS_RELEASE_ENV:
		deis_kvlist_copy(&r->config, ch->vars);
		deis_kvlist_sort(&r->config);
		break;
	case DEIS_RELEASE_LIMITS:
		deis_kvlist_copy(&r->limits, ch->vars);
		deis_kvlist_sort(&r->limits);
		if (!deis_kvlist_equal(&r->limits, &cur->limits))
			deis_buf_addf(&summary, "%s changed limits", c->who);
		break;
	default:
		rc = deis_error_set(err, EOPNOTSUPP, "the in-memory store makes no such release");
	}
	if (rc == 0 && !summary.len)
		deis_release_summary(c->who, &cur->config, &r->config, &summary);
	if (rc == 0 && summary.len) {
		snprintf(r->summary, sizeof(r->summary), "%s", deis_buf_str(&summary));
		c->version = ++a->nrel;
		changed_app(a);
	} else {
		deis_kvlist_clear(&r->config);
		deis_kvlist_clear(&r->limits);
	}
	deis_buf_release(&summary);
	return rc;
}

static int mem_formation_set(struct store_conn *s, struct store_change *c,
			     struct deis_error *err)
{
	struct mem_app *a = app_for(c->app, false, err);

	if (!a)
		return -err->code;
	deis_kvlist_clear(&a->formation);
	deis_kvlist_copy(&a->formation, c->kv);
	deis_kvlist_sort(&a->formation);
	return changed_app(a);
}

static int mem_setting_set(struct store_conn *s, struct store_change *c,
			   struct deis_error *err)
{
	struct mem_app *a = app_for(c->app, false, err);

	if (!a)
		return -err->code;
	deis_kvlist_set(&a->settings, c->name, c->text);
	return changed_app(a);
}

static int mem_domains_set(struct store_conn *s, struct store_change *c,
			   struct deis_error *err)
{
	struct mem_app *a = app_for(c->app, false, err);

	if (!a)
		return -err->code;
	for (int i = 0; i < napps; i++)
		for (size_t j = 0; &apps[i] != a && j < c->list->n; j++)
			if (deis_strlist_has(&apps[i].domains, c->list->items[j]))
				return deis_error_set(err, EEXIST, "domain '%s' is taken",
						      c->list->items[j]);
	deis_strlist_clear(&a->domains);
	deis_strlist_copy(&a->domains, c->list);
	return changed_app(a);
}

static int mem_perms_set(struct store_conn *s, struct store_change *c, struct deis_error *err)
{
	struct mem_app *a = app_for(c->app, true, err);

	if (!a)
		return -err->code;
	deis_strlist_clear(&a->perms);
	deis_strlist_copy(&a->perms, c->list);
	return changed_app(a);
}

static int mem_unsupported(struct store_conn *s, struct store_change *c,
			   struct deis_error *err)
{
	return deis_error_set(err, EOPNOTSUPP, "the in-memory store does not keep this");
}

const struct store_ops mem_store = {
	.acquire = mem_acquire, .release = mem_release, .act_as = mem_act_as,
	.user_ensure = mem_user_ensure, .load_apps = mem_load_apps,
	.load_users = mem_load_users, .serials = mem_serials, .quotas = mem_quotas,
	.user_create = mem_user_create, .key_add = mem_key_add,
	.app_create = mem_app_create, .app_destroy = mem_app_destroy,
	.release_create = mem_release_create, .formation_set = mem_formation_set,
	.domains_set = mem_domains_set, .perms_set = mem_perms_set,
	.setting_set = mem_setting_set,
	/* what it does not keep */
	.key_remove = mem_unsupported, .image_deploy = mem_unsupported,
	.drains_set = mem_unsupported, .cert_set = mem_unsupported,
	.cert_remove = mem_unsupported, .container_restart = mem_unsupported,
	.run_create = mem_unsupported, .quota_set = mem_unsupported,
};
