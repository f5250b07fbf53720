/* model.c - lookups over the in-memory model and release summaries. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "deis/buf.h"
#include "deis/model.h"

const struct deis_release *deis_app_current(const struct deis_app *app)
{
	return app->nreleases ? app->releases[app->nreleases - 1] : NULL;
}

const struct deis_release *deis_app_release(const struct deis_app *app, int version)
{
	/* Versions are dense from 1, but search anyway: a gap costs nothing. */
	size_t lo = 0, hi = app->nreleases;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int v = app->releases[mid]->version;
		if (v == version)
			return app->releases[mid];
		if (v < version)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct deis_rollout *deis_app_rollout(const struct deis_app *app, int version)
{
	size_t lo = 0, hi = app->nrollouts;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int v = app->rollouts[mid].version;
		if (v == version)
			return &app->rollouts[mid];
		if (v < version)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Whether rel has an image to run.  Builds are ascending by number: a
 * binary search, as deis_app_live() may ask for every release. */
static bool has_image(const struct deis_app *app, const struct deis_release *rel)
{
	size_t lo = 0, hi = app->nbuilds;

	if (!rel->build_number)
		return false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int n = app->builds[mid].number;
		if (n == rel->build_number)
			return app->builds[mid].image && app->builds[mid].image[0];
		if (n < rel->build_number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* When rel went live (0: never, or failed since). */
static int64_t went_live(const struct deis_app *app, const struct deis_release *rel)
{
	const struct deis_rollout *ro = deis_app_rollout(app, rel->version);

	if (ro && !strcmp(ro->state, "failed"))
		return 0;
	if (!has_image(app, rel))
		return rel->created ? rel->created : 1;	/* nothing to run */
	if (ro && !strcmp(ro->state, "deployed"))
		return ro->updated ? ro->updated : 1;
	return 0;
}

const struct deis_release *deis_app_live(const struct deis_app *app)
{
	for (size_t i = app->nreleases; i-- > 0;)
		if (went_live(app, app->releases[i]))
			return app->releases[i];
	return NULL;
}

enum deis_release_status deis_release_status(const struct deis_app *app,
					     const struct deis_release *rel,
					     int64_t *live_since)
{
	const struct deis_rollout *ro = deis_app_rollout(app, rel->version);
	int64_t since = went_live(app, rel);

	if (live_since)
		*live_since = since;
	if (ro && !strcmp(ro->state, "failed"))
		return DEIS_STATUS_FAILED;
	const struct deis_release *live = deis_app_live(app);
	if (live == rel)
		return DEIS_STATUS_DEPLOYED;
	if (live && live->version > rel->version)
		return DEIS_STATUS_SUPERSEDED;
	return DEIS_STATUS_PENDING;
}

const char *deis_release_status_name(enum deis_release_status s)
{
	static const char *const names[] = { "pending", "deployed", "failed", "superseded" };

	return (unsigned)s < sizeof(names) / sizeof(*names) ? names[s] : "pending";
}

const struct deis_build *deis_app_build(const struct deis_app *app, int number)
{
	for (size_t i = 0; i < app->nbuilds; i++)
		if (app->builds[i].number == number)
			return &app->builds[i];
	return NULL;
}

const struct deis_build *deis_app_current_build(const struct deis_app *app)
{
	const struct deis_release *r = deis_app_current(app);

	if (!r || !r->build_number)
		return NULL;
	return deis_app_build(app, r->build_number);
}

const struct deis_cert *deis_app_cert(const struct deis_app *app, const char *domain)
{
	for (size_t i = 0; i < app->ncerts; i++)
		if (!strcmp(app->certs[i].domain, domain))
			return &app->certs[i];
	return NULL;
}

const struct deis_container *deis_app_container(const struct deis_app *app,
					       const char *name)
{
	const struct deis_container *first = NULL;

	/* Newest first: the newest that is not stopping (during a rollout
	 * the new one starting, after a failed one the one still serving),
	 * else the newest. */
	for (size_t i = 0; i < app->ncontainers; i++)
		if (!strcmp(app->containers[i].name, name)) {
			if (strcmp(app->containers[i].state, "stopping"))
				return &app->containers[i];
			if (!first)
				first = &app->containers[i];
		}
	return first;
}

const struct deis_key *deis_user_key(const struct deis_user *u, const char *name)
{
	for (size_t i = 0; i < u->nkeys; i++)
		if (!strcmp(u->keys[i].name, name))
			return &u->keys[i];
	return NULL;
}

static void summary_part(struct deis_buf *out, const char *verb,
			 const struct deis_strlist *keys, int *first)
{
	if (!keys->n)
		return;
	deis_buf_adds(out, *first ? " " : ", ");
	deis_buf_adds(out, verb);
	for (size_t i = 0; i < keys->n; i++) {
		deis_buf_adds(out, i ? ", " : " ");
		deis_buf_adds(out, keys->items[i]);
	}
	*first = 0;
}

void deis_release_summary(const char *who, const struct deis_kvlist *before,
			  const struct deis_kvlist *after, struct deis_buf *out)
{
	struct deis_strlist added = DEIS_STRLIST_INIT, changed = DEIS_STRLIST_INIT,
			    removed = DEIS_STRLIST_INIT;
	int first = 1;

	for (size_t i = 0; i < after->n; i++) {
		const char *old = deis_kvlist_get(before, after->items[i].key);
		if (!old)
			deis_strlist_add(&added, after->items[i].key);
		else if (strcmp(old, after->items[i].value))
			deis_strlist_add(&changed, after->items[i].key);
	}
	for (size_t i = 0; i < before->n; i++)
		if (!deis_kvlist_get(after, before->items[i].key))
			deis_strlist_add(&removed, before->items[i].key);
	if (added.n || changed.n || removed.n) {
		deis_buf_adds(out, who);
		summary_part(out, "added", &added, &first);
		summary_part(out, "changed", &changed, &first);
		summary_part(out, "removed", &removed, &first);
	}
	deis_strlist_clear(&added);
	deis_strlist_clear(&changed);
	deis_strlist_clear(&removed);
}

/* The strings an entity owns, by its field list (include/deis/model.h). */
#define FREE_FIELD(field, kind) FREE_##kind(e->field)
#define FREE_STR(p) free(p);
#define FREE_INT(p)
#define FREE_LONG(p)
#define FREE_US(p)
#define FREE_FIELDS(name, type, FIELDS) \
	static void name(type *e) \
	{ \
		FIELDS(FREE_FIELD) \
	}
FREE_FIELDS(free_app_fields, struct deis_app, DEIS_APP_FIELDS)
FREE_FIELDS(free_cert, struct deis_cert, DEIS_CERT_FIELDS)
FREE_FIELDS(free_container, struct deis_container, DEIS_CONTAINER_FIELDS)
FREE_FIELDS(free_rollout, struct deis_rollout, DEIS_ROLLOUT_FIELDS)

void deis_app_free(struct deis_app *app)
{
	if (!app)
		return;
	free_app_fields(app);
	deis_kvlist_clear(&app->formation);
	deis_strlist_clear(&app->domains);
	deis_strlist_clear(&app->perms);
	deis_strlist_clear(&app->drains);
	deis_app_settings_clear(app);
	for (size_t i = 0; i < app->ncerts; i++)
		free_cert(&app->certs[i]);
	free(app->certs);
	for (size_t i = 0; i < app->nreleases; i++) {
		struct deis_release *r = app->releases[i];
		if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL))
			continue;	/* a newer copy of the app still has it */
		free(r->owner);
		free(r->summary);
		deis_kvlist_clear(&r->config);
		deis_kvlist_clear(&r->limits);
		free(r);
	}
	free(app->releases);
	for (size_t i = 0; i < app->nbuilds; i++) {
		struct deis_build *b = &app->builds[i];
		free(b->owner);
		free(b->commit);
		free(b->status);
		free(b->image);
		free(b->log);
		deis_kvlist_clear(&b->procfile);
	}
	free(app->builds);
	for (size_t i = 0; i < app->ncontainers; i++)
		free_container(&app->containers[i]);
	free(app->containers);
	for (size_t i = 0; i < app->nrollouts; i++)
		free_rollout(&app->rollouts[i]);
	free(app->rollouts);
	free(app);
}

void deis_user_free(struct deis_user *u)
{
	if (!u)
		return;
	free(u->name);
	for (size_t i = 0; i < u->nkeys; i++) {
		free(u->keys[i].name);
		free(u->keys[i].type);
		free(u->keys[i].data);
		free(u->keys[i].fingerprint);
	}
	free(u->keys);
	free(u);
}
