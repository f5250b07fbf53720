/*
 * policy.c - deis-scheduler: which release runs, and when it serves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler.h"

/* ---- the model ---- */

const struct deis_build *build_of(const struct deis_app *m,
					 const struct deis_release *r)
{
	if (!r || !r->build_id)
		return NULL;
	for (size_t k = 0; k < m->nbuilds; k++)
		if (m->builds[k].id == r->build_id)
			return &m->builds[k];
	return NULL;
}

/* The scheduler's verdict on a release: "released", "deployed",
 * "failed", or NULL. */
static const char *rollout(const struct deis_app *m, int version)
{
	const struct deis_rollout *ro = deis_app_rollout(m, version);

	return ro ? ro->state : NULL;
}

static bool runnable(const struct deis_app *m, const struct deis_release *r)
{
	const struct deis_build *b = build_of(m, r);

	return b && b->image[0] && !(rollout(m, r->version) &&
				     !strcmp(rollout(m, r->version), "failed"));
}

/* A release that went live had its release phase pass before. */
static bool needs_phase(const struct deis_app *m, const struct deis_release *r)
{
	const struct deis_build *b = build_of(m, r);
	const char *v = rollout(m, r->version);

	return b && deis_kvlist_get(&b->procfile, "release") &&
		!(v && (!strcmp(v, "released") || !strcmp(v, "deployed")));
}

/*
 * The release containers should run: the newest runnable release, unless
 * its release phase has not passed yet (*pending: run it), in which case
 * the newest older one that is live-able keeps running.  Older releases
 * still waiting for a release phase were superseded: they never run.
 */
const struct deis_release *target(const struct deis_app *m,
					 const struct deis_release **pending)
{
	bool first = true;

	*pending = NULL;
	for (size_t k = m->nreleases; k-- > 0;) {
		const struct deis_release *r = m->releases[k];
		if (!runnable(m, r))
			continue;
		if (needs_phase(m, r)) {
			if (first)
				*pending = r;
			first = false;
			continue;
		}
		return r;
	}
	return NULL;
}

const struct deis_release *release_of(const struct deis_app *m, int version)
{
	return deis_app_release(m, version);
}

/* ---- the verdict: deployed ---- */

/*
 * When a release serves: once its first web instance is up; for a
 * formation without web, its first instance of any type; at once when the
 * formation runs no process of it.  Whether the formation runs any
 * process of T (and whether web).
 */
bool runs_any(const struct deis_app *m, const struct deis_release *T, bool *web)
{
	const struct deis_build *b = build_of(m, T);
	bool any = false;

	*web = false;
	for (size_t k = 0; b && k < m->formation.n; k++) {
		const char *type = m->formation.items[k].key;
		if (!strcmp(type, "release") || atoi(m->formation.items[k].value) <= 0 ||
		    !deis_kvlist_get(&b->procfile, type))
			continue;
		any = true;
		*web = *web || !strcmp(type, "web");
	}
	return any;
}

/* The target release of a, when it is not recorded deployed yet. */
const struct deis_release *undeployed_target(const struct sapp *a)
{
	const struct deis_release *pending, *T = a->m ? target(a->m, &pending) : NULL;

	if (!T || T->version == a->marked ||
	    (rollout(a->m, T->version) && !strcmp(rollout(a->m, T->version), "deployed")))
		return NULL;
	return T;
}

/* Whether T serves as the database shows it (the rows the router routes
 * from); *who gets the instance's name ("" for none). */
bool serves(const struct deis_app *m, const struct deis_release *T,
		   char *who, size_t len)
{
	bool web;

	who[0] = '\0';
	if (!runs_any(m, T, &web))
		return true;
	for (size_t k = 0; k < m->ncontainers; k++) {
		const struct deis_container *c = &m->containers[k];
		if (c->release != T->version || strcmp(c->state, "up") ||
		    !strcmp(c->type, "run") || !strcmp(c->type, "release") ||
		    (web && strcmp(c->type, "web")))
			continue;
		snprintf(who, len, "%s", c->name);
		return true;
	}
	return false;
}
