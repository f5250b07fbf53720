/*
 * settings.h - an app's settings as data.
 *
 * A setting is a small control file under apps/<app>/ whose value is one
 * piece of text: healthcheck, maintenance, autoscale.  Each is one row of
 * deis_settings[] (lib/settings.c): its name, a parser (the text a user
 * writes -> the canonical value, or EINVAL with the reason), a formatter
 * (canonical value -> file content), a line of help and a default.  They
 * are stored alike (one app_settings row per app and setting: value and
 * mtime; lib/db_settings.c), held alike (struct deis_app's settings, read
 * with deis_app_setting() and friends in deis/model.h) and served alike
 * (fs/settings.c: one generic node type for every row).
 *
 * So a new setting is one row, its parser and the parser's test: no
 * migration, no model field, no SQL, no tree code.  What reads it (the
 * scheduler, the proxy) reads the canonical value.
 *
 * Canonical values are text without a final newline ("on", "path=/x\n
 * timeout=5"); a file shows its value followed by a newline (nothing for an
 * empty value), so what a read gives back can be written back.
 */
#ifndef DEIS_SETTINGS_H
#define DEIS_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "deis/buf.h"
#include "deis/error.h"

struct deis_app;
struct deis_db;

struct deis_setting {
	const char *name;	/* the file under apps/<app>/ and the stored name */
	/* text (len bytes, not NUL-terminated, as written) -> the canonical
	 * value appended to out; or -EINVAL (with err) and out unchanged */
	int (*parse)(const char *text, size_t len, struct deis_buf *out,
		     struct deis_error *err);
	/* canonical value -> the file's content, appended to out */
	void (*format)(const char *value, struct deis_buf *out);
	const char *help;	/* one line for the README */
	/* docs/tree.md's file table: what a read shows, what a write does */
	const char *doc_read, *doc_write;
	const char *def;	/* the value of an app that never set it; one
				 * line (deis_app_setting_kv reads stored values) */
	/* The platform line of a change: "<who> <summary> <value>" ("alice
	 * turned maintenance on"); NULL: "<who> changed <name>". */
	const char *summary;
};

/* Every setting, in the order the README lists them. */
extern const struct deis_setting deis_settings[];
extern const size_t deis_nsettings;

/* The row of name, or NULL when name is no setting. */
const struct deis_setting *deis_setting_find(const char *name);

/* ---- stored (lib/db_settings.c) ---- */

/*
 * Sets an app's setting to a canonical value (the row's parse made it), in
 * one transaction that locks the app's row first, bumps its serial and
 * updated (so every mount and daemon reloads it) and checks that the
 * acting user (deis_db_act_as) may change it.  The setting's mtime becomes
 * now.  EINVAL for a name that is no setting, ENOENT for no such app,
 * EACCES when the actor may not change it.
 */
int deis_db_app_setting_set(struct deis_db *db, const char *app, const char *name,
			    const char *value, struct deis_error *err);

/* ---- autoscale: "web=2..10 cpu=70" ---- */

/*
 * One process type's rule: run between min and max containers, as many
 * as keep their average CPU near cpu percent (of the type's `limits` cpu,
 * else of one core).
 */
struct deis_autoscale {
	char type[32];
	int min, max;		/* 1 <= min <= max <= DEIS_FORMATION_MAX_QTY */
	int cpu;		/* target, percent: 1..100 */
};

/* The app's rule for type: 1 and *out filled when it autoscales type, 0
 * when not (no rule for it, or none at all). */
int deis_autoscale_rule(const struct deis_app *app, const char *type,
			struct deis_autoscale *out);

/*
 * The policy (pure): how many containers of a type to run, given its rule,
 * how many run now and their average CPU (percent, as the rule's target;
 * negative when unknown: then only the range is enforced).
 *
 *  - above the target by more than 10% (cpu > 1.1 x target): up at once
 *    to as many as bring the average to the target, ceil(n x cpu / target);
 *  - below it by more than 10%: down to as many as keep the average at
 *    most 90% of the target, ceil(n x cpu / (0.9 x target)), if fewer;
 *  - otherwise n;
 *  - and always within min..max (none running, or the CPU unknown: the
 *    nearest bound).
 *
 * The band is the hysteresis: after a step up the average is at most the
 * target, after a step down at most 90% of it, so neither undoes the
 * other unless the load itself moves by more than 10%.  A measured CPU
 * that wanders within +-5% of a level never makes the count go back and
 * forth (tests/unit/test_settings.c checks it).  The caller averages the
 * CPU over a window (a minute, say) and calls this once per window.
 */
int deis_autoscale_count(const struct deis_autoscale *rule, int current,
			 double cpu);

#endif
