/*
 * autoscale.c - deis-scheduler: applies each app's `autoscale` setting
 * (docs/tree.md, "Autoscale"; the rules and the policy are lib/settings.c's).
 *
 * Once per window (scheduler_autoscale_window seconds) it reads the CPU
 * time of every running container of an autoscaled process type through
 * the backend, and for each type takes the average CPU over the window
 * (policy_cpu_percent) to deis_autoscale_count().  Every turn of the loop
 * it also keeps each formation within its rule's range, so that a rule
 * written (or a formation written out of it) acts at once, not a window
 * later.
 *
 * It acts the way a user would: it writes the app's formation (the other
 * types as they are) as the platform, with a `deis` line in the app's log
 * that says why, so that `formation` shows the count and the usual pass
 * starts or stops the containers.  The write bumps the app's serial and
 * is announced; the app is read again before it is scaled again.  A write that is
 * refused (EDQUOT: the owner's quota or the nodes' capacity) is said once
 * in the app's log and tried again a window later, not at every turn.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/db.h"
#include "deis/log.h"
#include "deis/settings.h"
#include "deis/validate.h"
#include "scheduler.h"

/* A container's CPU time when it was last read. */
struct seen {
	char id[DEIS_BACKEND_ID_MAX + 1];
	uint64_t ns;
	double t;
};

/* A type whose formation write was refused: not again before until; its
 * message is not repeated. */
struct refused {
	char app[64];
	char type[40];
	double until;
	char msg[256];
};

static struct seen *seen;		/* at the last window */
static size_t nseen;
static struct refused *refused;
static size_t nrefused;
static double next_window;

/* scheduler_autoscale_window, 60 when it is not a positive number. */
static int window_s(void)
{
	return scheduler_conf.autoscale_window > 0 ? scheduler_conf.autoscale_window : 60;
}

static struct refused *refused_find(const char *app, const char *type, bool add)
{
	for (size_t k = 0; k < nrefused; k++)
		if (!strcmp(refused[k].app, app) && !strcmp(refused[k].type, type))
			return &refused[k];
	if (!add)
		return NULL;
	struct refused *r = ARRAY_ADD(refused, nrefused);
	snprintf(r->app, sizeof(r->app), "%s", app);
	snprintf(r->type, sizeof(r->type), "%s", type);
	return r;
}

/* The process types a's rules name, in the value's order. */
static const struct deis_kvlist *rules_of(const struct deis_app *m)
{
	for (size_t k = 0; k < m->nsettings; k++)
		if (!strcmp(m->settings[k].name, "autoscale"))
			return &m->settings[k].lines;
	return NULL;
}

/* Whether the app's newest build runs type: a rule for a type the
 * Procfile lacks is kept and does nothing (a formation write would be
 * refused). */
static bool runs_type(const struct deis_app *m, const char *type)
{
	const struct deis_release *rel = m->nreleases ? m->releases[m->nreleases - 1] : NULL;
	const struct deis_build *b = rel ? policy_build_of(m, rel) : NULL;

	return b && deis_kvlist_get(&b->procfile, type);
}

/* The millicores of type's `limits` cpu on the release that runs (0:
 * none, one core is the measure). */
static unsigned cpu_limit(const struct deis_app *m, const char *type)
{
	const struct deis_release *pending, *rel = policy_target(m, &pending);
	char key[96];

	snprintf(key, sizeof(key), "%s.cpu", type);
	const char *v = rel ? deis_kvlist_get(&rel->limits, key) : NULL;
	long millis = v ? deis_limits_cpu_millis(v) : 0;
	return millis > 0 ? (unsigned)millis : 0;
}

static const struct seen *seen_find(const char *id)
{
	for (size_t k = 0; k < nseen; k++)
		if (!strcmp(seen[k].id, id))
			return &seen[k];
	return NULL;
}

/*
 * The average CPU of a's containers of type since the last window, the
 * counters read now added to *now.  -1 (unknown: the range alone holds)
 * unless exactly the formation's count runs, all of them up and measured
 * at both ends: mid-rollout, old and new share the load.
 */
static double measure(const struct sapp *a, const char *type, int count, double t,
		      struct seen **now, size_t *nnow)
{
	struct deis_backend *be = sched.backend;
	struct policy_cpu_sample *s = NULL;
	size_t n = 0;
	bool steady = true;

	for (struct inst *i = insts; i; i = i->next) {
		struct deis_error err = DEIS_ERROR_INIT;
		uint64_t ns;
		if (strcmp(i->app, a->name) || i->kind != K_PROCESS || strcmp(i->type, type))
			continue;
		if (i->state != S_UP || i->proc.fd < 0 || !be->ops->cpu_usage ||
		    be->ops->cpu_usage(be, i->id, &ns, &err) < 0) {
			steady = false;
			continue;
		}
		struct seen *e = ARRAY_ADD(*now, *nnow);
		snprintf(e->id, sizeof(e->id), "%s", i->id);
		e->ns = ns;
		e->t = t;
		const struct seen *before = seen_find(i->id);
		if (!before) {
			steady = false;
			continue;
		}
		*ARRAY_ADD(s, n) = (struct policy_cpu_sample){ before->ns, ns, t - before->t };
	}
	double cpu = steady && (int)n == count ?
		policy_cpu_percent(s, n, cpu_limit(a->m, type)) : -1;
	free(s);
	return cpu;
}

/* Writes a's formation with type at want; false when refused. */
static bool scale(struct sapp *a, const char *type, int count, int want, double cpu,
		  const struct deis_autoscale *rule, double t)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_kvlist f = DEIS_KVLIST_INIT;
	char num[16], why[128];
	struct refused *r = refused_find(a->name, type, false);

	if (r && t < r->until)
		return false;
	if (cpu >= 0)
		snprintf(why, sizeof(why), "average CPU %.0f%% over %d s, target %d%%", cpu,
			 window_s(), rule->cpu);
	else
		snprintf(why, sizeof(why), "the rule's range is %d..%d", rule->min, rule->max);
	deis_kvlist_copy(&f, &a->m->formation);
	snprintf(num, sizeof(num), "%d", want);
	deis_kvlist_set(&f, type, num);
	int rc = deis_db_formation_set(sched.db, a->name, &f, &err);
	deis_kvlist_clear(&f);
	if (rc < 0) {
		r = refused_find(a->name, type, true);
		/* Tried again a window later (at least a few seconds: the
		 * range is checked at every turn). */
		r->until = t + (window_s() > 5 ? window_s() : 5);
		if (strcmp(r->msg, err.msg)) {
			snprintf(r->msg, sizeof(r->msg), "%s", err.msg);
			if (rc == -EDQUOT)
				applog(a->name, "autoscale: %s %d -> %d (%s) refused: %s", type,
				       count, want, why, err.msg);
			else
				deis_log(LOG_WARNING, "%s: autoscale: %s %d -> %d: %s", a->name,
					 type, count, want, err.msg);
		}
		return false;
	}
	if (r)
		*r = refused[--nrefused];
	publish(a->name);
	applog(a->name, "autoscale: %s %d -> %d (%s)", type, count, want, why);
	return true;
}

/*
 * One app: each type with a rule, measured when window is set (even when
 * the app is to be read again: its containers run all the same), and
 * scaled unless the app is to be read again.
 */
static void app_autoscale(struct sapp *a, bool window, double t, struct seen **now,
			  size_t *nnow)
{
	const struct deis_kvlist *types = rules_of(a->m);

	for (size_t k = 0; types && k < types->n; k++) {
		const char *type = types->items[k].key;
		struct deis_autoscale rule;
		if (!deis_autoscale_rule(a->m, type, &rule) || !runs_type(a->m, type))
			continue;
		const char *v = deis_kvlist_get(&a->m->formation, type);
		int count = v ? atoi(v) : 0;
		double cpu = window ? measure(a, type, count, t, now, nnow) : -1;
		int want = deis_autoscale_count(&rule, count, cpu);
		/* After a write the app is read again (its serial moved)
		 * before it is scaled again: never twice on one formation. */
		if (!a->reload && want != count && scale(a, type, count, want, cpu, &rule, t))
			a->reload = true;
	}
}

void autoscale(double t)
{
	bool window = t >= next_window;
	struct seen *now = NULL;
	size_t nnow = 0;

	for (size_t k = 0; k < napps; k++)
		if (apps[k].m && (window || !apps[k].reload))
			app_autoscale(&apps[k], window, t, &now, &nnow);
	if (!window)
		return;
	/* The counters read now are the next window's start; a container
	 * not read now (gone, not up) starts afresh. */
	free(seen);
	seen = now;
	nseen = nnow;
	next_window = t + window_s();
}
