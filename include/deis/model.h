/*
 * model.h - the platform's state as the daemons hold it in memory.
 *
 * deis_db_load_*() fills these from PostgreSQL; deisfs keeps one
 * deis_state and answers every read from it.  A loaded app is immutable:
 * a change loads a fresh struct deis_app and swaps the pointer, so a
 * reader holding the state lock never sees a half-updated app.
 * Times are microseconds since the epoch.
 */
#ifndef DEIS_MODEL_H
#define DEIS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deis/kv.h"

/*
 * The plain fields an entity's database row fills, in column order, as a
 * list of X(field, kind): STR a string the entity owns, INT an int, LONG
 * a long, US a time in microseconds.  lib/db_load.c makes the SELECT list
 * and the decoder from the list, and deis_app_free() frees its STR
 * fields, so a new column of these is one entry here (and a migration).
 */

struct deis_release {
	int refs;			/* apps sharing it (releases never change) */
	int version;			/* 1, 2, ... */
	int64_t created;
	char *owner;			/* who made it */
	char *summary;			/* "alice added FOO" */
	long build_id;			/* 0 when no build yet */
	int build_number;		/* 0 when no build */
	struct deis_kvlist config;	/* sorted by key */
	struct deis_kvlist limits;	/* "web.memory" -> "512M", sorted */
};

struct deis_build {
	long id;
	int number;			/* per app: 1, 2, ... */
	int64_t created;
	int64_t finished;		/* 0 while running */
	char *owner;
	char *commit;			/* git sha, or "" for an image deploy */
	char *status;			/* running, succeeded, failed */
	char *image;			/* registry reference, "" until pushed */
	struct deis_kvlist procfile;	/* type -> command */
	char *log;			/* build output kept in the database */
};

struct deis_cert {
	char *domain;
	char *pem;
	int64_t not_after;
	int64_t updated;
};

#define DEIS_CERT_FIELDS(X) X(domain, STR) X(pem, STR) X(not_after, US) X(updated, US)

/*
 * One container instance, as the scheduler records it.  Two instances of
 * one name run side by side during a rollout or a restart (the new one
 * starting, the old one serving); an app lists them by type, number, then
 * newest first, so the first of a name is the newest.
 */
struct deis_container {
	char *name;			/* "web.1" */
	char *instance;			/* runc id: "<app>.<name>.<seq>" */
	long seq;			/* unique, increasing */
	char *command;			/* one-offs (run.N): what runs */
	char *desired;			/* "restart" when the user asked */
	char *type;
	int number;
	char *state;			/* starting, up, crashed, stopping */
	int release;			/* version it runs */
	char *node;
	char *address;			/* its own on the node's bridge */
	int port;
	int64_t started;
	int restarts;
	int64_t updated;
};

#define DEIS_CONTAINER_FIELDS(X) \
	X(name, STR) X(type, STR) X(number, INT) X(state, STR) X(release, INT) \
	X(node, STR) X(port, INT) X(started, US) X(restarts, INT) X(updated, US) \
	X(instance, STR) X(seq, LONG) X(command, STR) X(desired, STR) X(address, STR)

/*
 * The scheduler's verdict on a release (its rollouts row).  A release has
 * at most one: "released" (its release phase passed; not live yet),
 * "deployed" (it went live: its first web instance answered, or the
 * formation runs none of it) or "failed" (it never went live; reason
 * says why).
 */
struct deis_rollout {
	int version;
	char *state;
	char *reason;			/* "" unless failed */
	int64_t updated;		/* when state was set: for deployed,
					 * when the release went live */
};

#define DEIS_ROLLOUT_FIELDS(X) X(version, INT) X(state, STR) X(reason, STR) X(updated, US)

/* What a release is to the user (releases/vN/info `status:`). */
enum deis_release_status {
	DEIS_STATUS_PENDING,		/* not live yet, nor failed */
	DEIS_STATUS_DEPLOYED,		/* the live release: what runs */
	DEIS_STATUS_FAILED,		/* never went live (or was taken back) */
	DEIS_STATUS_SUPERSEDED,		/* a newer release went live */
};

/* A setting the app has set (deis/settings.h: healthcheck, maintenance
 * ...).  One it never set is not here: it has its default. */
struct deis_app_setting {
	char *name;
	char *value;			/* canonical */
	int64_t mtime;			/* when it was last written */
	struct deis_kvlist lines;	/* its "key=rest" lines, by key (healthcheck:
					 * path=/healthz) */
};

struct deis_app {
	int refs;			/* holders; freed at 0 (deisfs) */
	long id;
	char *name;
	char *owner;
	int64_t created;
	int64_t updated;		/* any change */
	long serial;			/* bumped by every change */

	struct deis_kvlist formation;	/* type -> count, sorted */
	int64_t formation_mtime;
	struct deis_strlist domains;
	int64_t domains_mtime;
	struct deis_strlist perms;
	int64_t perms_mtime;
	struct deis_strlist drains;	/* log drain URLs */
	int64_t drains_mtime;
	struct deis_app_setting *settings;	/* the stored ones, by name: read
						 * with deis_app_setting() */
	size_t nsettings;

	struct deis_cert *certs;	/* sorted by domain */
	size_t ncerts;
	struct deis_release **releases;	/* ascending by version; shared, so a
					 * reload reads only the new ones */
	size_t nreleases;
	size_t releases_cap;
	struct deis_build *builds;	/* ascending by number */
	size_t nbuilds;
	struct deis_container *containers;	/* by type, number, newest first */
	size_t ncontainers;
	struct deis_rollout *rollouts;	/* ascending by version */
	size_t nrollouts;
};

/* The apps row (its id first, apart). */
#define DEIS_APP_FIELDS(X) \
	X(name, STR) X(owner, STR) X(serial, LONG) X(created, US) X(updated, US) \
	X(formation_mtime, US) X(domains_mtime, US) X(perms_mtime, US) X(drains_mtime, US)

struct deis_key {
	char *name;
	char *type;
	char *data;			/* the whole public key line */
	char *fingerprint;
	int64_t created;
};

struct deis_user {
	long id;
	char *name;
	int uid;			/* -1 when not a local user */
	long serial;			/* bumped by every change */
	int64_t created;
	int64_t updated;
	struct deis_key *keys;		/* sorted by name */
	size_t nkeys;
};

/* The newest release (the highest version), or NULL: the base of the next
 * release and the config to build with.  Not necessarily what runs: see
 * deis_app_live(). */
const struct deis_release *deis_app_current(const struct deis_app *app);
/* The scheduler's verdict on version, or NULL when it has none. */
const struct deis_rollout *deis_app_rollout(const struct deis_app *app, int version);
/*
 * The live release, what runs: the newest release that went live and was
 * not failed since.  A release with an image went live when the scheduler
 * recorded it "deployed"; a release without one (config changes before the
 * first build) has nothing to run and is live from its creation.  NULL for
 * an app without releases.
 */
const struct deis_release *deis_app_live(const struct deis_app *app);
/* The status of rel (one of app's releases): failed when the scheduler
 * failed it; else deployed when it is the live release, superseded when a
 * newer one is, pending otherwise.  *live_since (may be NULL) gets the time
 * it went live, or 0 when it never did. */
enum deis_release_status deis_release_status(const struct deis_app *app,
					     const struct deis_release *rel,
					     int64_t *live_since);
/* "pending", "deployed", "failed", "superseded". */
const char *deis_release_status_name(enum deis_release_status s);
const struct deis_release *deis_app_release(const struct deis_app *app, int version);
const struct deis_build *deis_app_build(const struct deis_app *app, int number);
/* The build of the current release, or NULL before the first build. */
const struct deis_build *deis_app_current_build(const struct deis_app *app);
/* The instance of name the tree shows: the newest that is not stopping,
 * else the newest. */
const struct deis_container *deis_app_container(const struct deis_app *app,
					       const char *name);
const struct deis_cert *deis_app_cert(const struct deis_app *app, const char *domain);
const struct deis_key *deis_user_key(const struct deis_user *u, const char *name);

/*
 * An app's settings (defined in lib/settings.c, which knows their
 * defaults).  deis_app_setting: the value, or the setting's default when
 * the app never set it; NULL for a name that is no setting.
 * deis_app_setting_kv: the rest of the stored value's line "key=rest"
 * (healthcheck "path" -> "/healthz"), or NULL.  deis_app_setting_on: is
 * the value "on" (maintenance)?  deis_app_setting_mtime: when it was last
 * written, the app's creation when never.
 */
const char *deis_app_setting(const struct deis_app *app, const char *name);
const char *deis_app_setting_kv(const struct deis_app *app, const char *name,
				const char *key);
bool deis_app_setting_on(const struct deis_app *app, const char *name);
int64_t deis_app_setting_mtime(const struct deis_app *app, const char *name);
/* Sets a stored value (the loader, tests): copies name and value. */
void deis_app_setting_put(struct deis_app *app, const char *name, const char *value,
			  int64_t mtime);
/* Frees the stored settings (deis_app_free). */
void deis_app_settings_clear(struct deis_app *app);

/* Deis-style audit line for a config change, appended to out:
 * "alice added A, B, changed C, removed D"; nothing appended when the two
 * lists are equal.  Both lists sorted by key. */
struct deis_buf;
void deis_release_summary(const char *who, const struct deis_kvlist *before,
			  const struct deis_kvlist *after,
			  struct deis_buf *out);

void deis_app_free(struct deis_app *app);
void deis_user_free(struct deis_user *u);

#endif
