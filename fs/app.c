/*
 * app.c - apps/ and the files of an app directory: info, url, git_url,
 * env, formation, limits, domains, perms, drains, procfile, rollback,
 * image, run, logs.  The settings (healthcheck, maintenance ...) are
 * settings.c's rows, added to every app directory at start.  The app's
 * subdirectories (config/, certs/, releases/, builds/, containers/) are in
 * app_dirs.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/conf.h"
#include "deis/drain.h"
#include "deis/log.h"
#include "deis/registry.h"
#include "deis/validate.h"
#include "tree.h"

/* ---- apps/<app>/ files ---- */

int64_t mtime_app(const struct node *n)
{
	return n->app->updated;
}

int64_t mtime_created(const struct node *n)
{
	return n->app->created;
}

int64_t mtime_release(const struct node *n)
{
	const struct deis_release *rel = deis_app_current(n->app);

	return rel ? rel->created : n->app->created;
}

static void app_url(const struct deis_app *a, struct deis_buf *out)
{
	deis_buf_addf(out, "http://%s.%s", a->name, deis_conf.platform_domain);
	if (deis_conf.http_port != 80)
		deis_buf_addf(out, ":%d", deis_conf.http_port);
}

static void app_git_url(const struct deis_app *a, struct deis_buf *out)
{
	deis_buf_addf(out, "ssh://git@%s:%d/%s.git", deis_conf.ssh_host,
		      deis_conf.ssh_port, a->name);
}

static int show_url(const struct node *n, struct deis_buf *out)
{
	app_url(n->app, out);
	deis_buf_addch(out, '\n');
	return 0;
}

static int show_git_url(const struct node *n, struct deis_buf *out)
{
	app_git_url(n->app, out);
	deis_buf_addch(out, '\n');
	return 0;
}

/* "build: 3 (1a2b3c4)", or for an image deployed without a build,
 * "build: 3 (image hello@sha256:...)". */
void build_line(const struct deis_build *b, struct deis_buf *out)
{
	if (b->commit[0])
		deis_buf_addf(out, "build: %d (%.7s)\n", b->number, b->commit);
	else
		deis_buf_addf(out, "build: %d (image %s)\n", b->number, b->image);
}

/* info names what runs: the live release and its build (not the newest
 * release, which may be pending or failed: releases/latest). */
static int show_info(const struct node *n, struct deis_buf *out)
{
	const struct deis_app *a = n->app;
	const struct deis_release *rel = deis_app_live(a);
	const struct deis_build *b = rel && rel->build_number ?
		deis_app_build(a, rel->build_number) : NULL;
	char t[32];

	fmt_time(a->created, t, sizeof(t));
	deis_buf_addf(out, "name: %s\nowner: %s\ncreated: %s\nurl: ", a->name, a->owner, t);
	app_url(a, out);
	deis_buf_adds(out, "\ngit_url: ");
	app_git_url(a, out);
	deis_buf_addf(out, "\nrelease: v%d\n", rel ? rel->version : 0);
	if (b)
		build_line(b, out);
	else
		deis_buf_adds(out, "build: none\n");
	deis_buf_adds(out, "formation:");
	for (size_t i = 0; i < a->formation.n; i++)
		deis_buf_addf(out, " %s=%s", a->formation.items[i].key,
			      a->formation.items[i].value);
	deis_buf_adds(out, "\ndomains:");
	for (size_t i = 0; i < a->domains.n; i++)
		deis_buf_addf(out, " %s", a->domains.items[i]);
	deis_buf_addf(out, "\nmaintenance: %s\n", deis_app_setting(a, "maintenance"));
	return 0;
}

static int show_env(const struct node *n, struct deis_buf *out)
{
	const struct deis_release *rel = deis_app_current(n->app);

	if (rel)
		deis_dotenv_format(&rel->config, out);
	return 0;
}

/* Checks every key and value of a parsed env document. */
static int check_vars(struct req *r, const struct deis_kvlist *vars)
{
	for (size_t i = 0; i < vars->n; i++) {
		if (!deis_valid_config_key(vars->items[i].key))
			return deis_error_set(&r->err, EINVAL, "config key '%s' is not valid: "
					      "a key is [A-Za-z_][A-Za-z0-9_]*",
					      vars->items[i].key);
		size_t vlen = strlen(vars->items[i].value);
		if (vlen > DEIS_CONFIG_VALUE_MAX)
			return deis_error_set(&r->err, EINVAL, "config var '%s' is over %d "
					      "bytes", vars->items[i].key, DEIS_CONFIG_VALUE_MAX);
	}
	return 0;
}

static int store_env(struct req *r, const struct node *n, const char *data, size_t len)
{
	struct deis_kvlist vars = DEIS_KVLIST_INIT;

	if (r->partial) {
		/* Line by line, from where the last check of this descriptor
		 * stopped: a document written a line per write() costs linear
		 * time, not quadratic. */
		size_t good, lines;
		size_t from = r->checked <= len ? r->checked : 0;
		int rc = deis_dotenv_check(data + from, len - from, r->checked_lines + 1,
					   &good, &lines, &r->err);
		if (rc == 0) {
			r->checked = from + good;
			r->checked_lines += lines;
		}
		return rc;
	}
	int rc = deis_dotenv_parse(data, len, &vars, &r->err);

	if (rc == 0)
		rc = check_vars(r, &vars);
	if (rc == 0) {
		struct deis_release_change c = { .kind = DEIS_RELEASE_ENV, .vars = &vars };
		rc = release_change(r, n, &c);
	}
	deis_kvlist_clear(&vars);
	return rc;
}

static int show_formation(const struct node *n, struct deis_buf *out)
{
	deis_formation_format(&n->app->formation, out);
	return 0;
}

static int store_formation(struct req *r, const struct node *n, const char *data,
			   size_t len)
{
	struct deis_kvlist f = DEIS_KVLIST_INIT;
	char app[64];
	int rc = deis_formation_parse(data, len, &f, &r->err);

	app_name(n, app, sizeof(app));
	const struct deis_build *b = r->dry_run ? deis_app_current_build(n->app) : NULL;
	for (size_t i = 0; rc == 0 && b && i < f.n; i++)
		if (!deis_kvlist_get(&b->procfile, f.items[i].key))
			rc = deis_error_set(&r->err, EINVAL, "formation: process type '%s' "
					    "is not in the current build's Procfile",
					    f.items[i].key);
	if (rc == 0 && r->dry_run)
		rc = quota_admit(r, n->app, &f, NULL, 0);
	if (rc == 0)
		rc = tree_commit(r, fs_store->formation_set,
				 &(struct store_change){ .app = app, .kv = &f });
	if (rc == 0) {
		struct deis_buf line = DEIS_BUF_INIT;
		for (size_t i = 0; i < f.n; i++)
			deis_buf_addf(&line, " %s=%s", f.items[i].key, f.items[i].value);
		deis_log(LOG_INFO, "app %s: formation set by %s", app, r->who.name);
		platform_line(app, "%s scaled%s", r->who.name, f.n ? line.data : " to nothing");
		deis_buf_release(&line);
	}
	deis_kvlist_clear(&f);
	return rc;
}

static int64_t mtime_formation(const struct node *n)
{
	return n->app->formation_mtime;
}

static int show_limits(const struct node *n, struct deis_buf *out)
{
	const struct deis_release *rel = deis_app_current(n->app);

	if (rel)
		deis_limits_format(&rel->limits, out);
	return 0;
}

static int store_limits(struct req *r, const struct node *n, const char *data, size_t len)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	int rc = deis_limits_parse(data, len, &l, &r->err);

	if (rc == 0 && r->dry_run)
		rc = quota_admit(r, n->app, NULL, &l, 0);
	if (rc == 0) {
		struct deis_release_change c = { .kind = DEIS_RELEASE_LIMITS, .vars = &l };
		rc = release_change(r, n, &c);
	}
	deis_kvlist_clear(&l);
	return rc;
}

/*
 * domains, perms, drains: lists of lines, each kept in rows of its own (a
 * domain belongs to one app, a drain must not point at the platform, a
 * user must exist).  A write replaces the list: parsed, checked by the
 * file's check, committed by its store operation.
 */
struct lines_file {
	struct nodetype t;	/* first: the row the tree sees */
	size_t lines;		/* offsetof(struct deis_app, the list) */
	size_t mtime;		/* offsetof(struct deis_app, its mtime) */
	int (*parse)(const char *text, size_t len, struct deis_strlist *out,
		     struct deis_error *err);
	/* checks the list of app (the state lock held); 0 or -errno */
	int (*check)(struct req *r, const char *app, const struct deis_strlist *l);
};

static const struct lines_file *lines_file_of(const struct node *n)
{
	return (const struct lines_file *)n->t;
}

static int show_lines(const struct node *n, struct deis_buf *out)
{
	const char *a = (const char *)n->app;

	deis_lines_format((const struct deis_strlist *)(a + lines_file_of(n)->lines), out);
	return 0;
}

static int64_t mtime_lines(const struct node *n)
{
	const char *a = (const char *)n->app;

	return *(const int64_t *)(a + lines_file_of(n)->mtime);
}

static int store_lines(struct req *r, const struct node *n, const char *data, size_t len,
		       store_fn *op)
{
	const struct lines_file *f = lines_file_of(n);
	struct deis_strlist l = DEIS_STRLIST_INIT;
	char app[64];
	int rc = f->parse(data, len, &l, &r->err);

	app_name(n, app, sizeof(app));
	if (rc == 0) {
		if (!r->dry_run)	/* a dry run already holds the lock */
			pthread_rwlock_rdlock(&state.lock);
		rc = f->check(r, app, &l);
		if (!r->dry_run)
			pthread_rwlock_unlock(&state.lock);
	}
	if (rc == 0)
		rc = tree_commit(r, op, &(struct store_change){ .app = app, .list = &l });
	if (rc == 0)
		platform_line(app, "%s changed %s", r->who.name, f->t.name);
	deis_strlist_clear(&l);
	return rc;
}

/* A domain belongs to one app, and so does every name a wildcard claims:
 * neither may claim a name of another app.  The caller holds the state
 * lock; the database's primary key is the last word on exact names. */
static int domains_taken(struct req *r, const char *app, const struct deis_strlist *d)
{
	for (size_t i = 0; i < state.napps; i++) {
		const struct deis_app *other = state.apps[i];
		if (!strcmp(other->name, app))
			continue;
		for (size_t j = 0; j < d->n; j++)
			for (size_t k = 0; k < other->domains.n; k++) {
				const char *mine = d->items[j], *theirs = other->domains.items[k];
				if (!deis_domains_overlap(mine, theirs))
					continue;
				if (!strcmp(mine, theirs))
					return deis_error_set(&r->err, EEXIST, "domain '%s' is "
							      "already used by another app", mine);
				return deis_error_set(&r->err, EEXIST, "domain '%s' overlaps "
						      "'%s' of another app", mine, theirs);
			}
	}
	return 0;
}

/* The router serves <app>.<platform_domain> itself; a custom domain there
 * would take (or wait for) another app's name. */
static int domains_check(struct req *r, const char *app, const struct deis_strlist *d)
{
	for (size_t j = 0; j < d->n; j++)
		if (deis_domain_is_platform(d->items[j], deis_conf.platform_domain))
			return deis_error_set(&r->err, EINVAL, "domains: '%s' is in the "
					      "platform domain (%s), whose names are the "
					      "apps' own: <app>.%s", d->items[j],
					      deis_conf.platform_domain, deis_conf.platform_domain);
	return domains_taken(r, app, d);
}

static int store_domains(struct req *r, const struct node *n, const char *data, size_t len)
{
	return store_lines(r, n, data, len, fs_store->domains_set);
}

static int perms_check(struct req *r, const char *app, const struct deis_strlist *users)
{
	for (size_t i = 0; i < users->n; i++)
		if (!state_user(users->items[i]) && !local_user(users->items[i], NULL, NULL))
			return deis_error_set(&r->err, EINVAL, "perms: no user '%s'",
					      users->items[i]);
	return 0;
}

static int store_perms(struct req *r, const struct node *n, const char *data, size_t len)
{
	if (!app_owner(r, n->app))
		return deis_error_set(&r->err, EACCES, "only the owner (%s) or an admin "
				      "may change perms", n->app->owner);
	return store_lines(r, n, data, len, fs_store->perms_set);
}

/* A drain is a connection deis-logd makes from this host for the app: it
 * may not point at the platform (lib/drain.c says what that covers).
 * Checked at every write, against the host's addresses of the moment and
 * the platform's nodes; deis-logd checks again what a name resolves to. */
static int drains_check(struct req *r, const char *app, const struct deis_strlist *urls)
{
	struct deis_drain_policy p = DEIS_DRAIN_POLICY_INIT;
	struct deis_error e = DEIS_ERROR_INIT;
	char what[320];
	int rc = 0;

	if (deis_drain_policy_host(&p, deis_conf.network_subnet, &e) < 0)
		deis_log(LOG_WARNING, "drains: %s", e.msg);
	deis_error_clear(&e);
	pthread_mutex_lock(&state.nodes_lock);
	for (size_t i = 0; i < state.nnodes; i++) {
		snprintf(what, sizeof(what), "the address of platform node %s", state.nodes[i].name);
		deis_drain_policy_add(&p, state.nodes[i].address, what, &e);	/* IPs only */
		deis_error_clear(&e);
	}
	pthread_mutex_unlock(&state.nodes_lock);
	for (size_t i = 0; rc == 0 && i < urls->n; i++) {
		struct deis_drain d;
		rc = deis_drain_parse(urls->items[i], &d, &r->err);
		if (rc == 0)
			rc = deis_drain_check_host(&p, &d, &r->err);
	}
	deis_drain_policy_release(&p);
	return rc;
}

static int store_drains(struct req *r, const struct node *n, const char *data, size_t len)
{
	return store_lines(r, n, data, len, fs_store->drains_set);
}

/* image: the image of the current build; writing an image reference that
 * is in the registry deploys it without a build (Deis's builds:create).
 * An image of another app is taken only from an app the writer may use
 * (checked at write() and again at commit, with the writer's rights), and
 * is copied into this app's repository first (its blobs mounted, the same
 * manifest by digest), so the release names <app>@sha256:... and never
 * depends on what stays in the other repository. */
static int show_image(const struct node *n, struct deis_buf *out)
{
	const struct deis_build *b = deis_app_current_build(n->app);

	if (b && b->image[0])
		deis_buf_addf(out, "%s\n", b->image);
	return 0;
}

/* May the writer deploy an image of app `from`: as for any use of that
 * app (tree_access).  An unknown app and one the writer may not use get the
 * same EACCES, so names of other users' apps do not leak; an admin, who
 * may use any, is told ENOENT.  A dry run already holds the state lock. */
static int image_source_allowed(struct req *r, const char *from)
{
	int rc = 0;

	if (!r->dry_run)
		pthread_rwlock_rdlock(&state.lock);
	const struct deis_app *a = state_app(from);
	if (!a && r->who.admin)
		rc = deis_error_set(&r->err, ENOENT, "image: there is no app '%s'", from);
	else if (!a || !app_user(r, a))
		rc = deis_error_set(&r->err, EACCES,
				    "image: app '%s' does not exist, or %s may not use it",
				    from, r->who.name[0] ? r->who.name : "this user");
	if (!r->dry_run)
		pthread_rwlock_unlock(&state.lock);
	return rc;
}

static int store_image(struct req *r, const struct node *n, const char *data, size_t len)
{
	struct deis_image_ref ir;
	struct deis_image img;
	struct deis_registry *reg = NULL;
	char ref[512], full[160], app[64], shortd[16];

	while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
		len--;
	if (len >= sizeof(ref))
		return deis_error_set(&r->err, EINVAL, "image: reference too long");
	memcpy(ref, data, len);
	ref[len] = '\0';
	int rc = deis_image_ref_parse(ref, &ir, &r->err);
	if (rc < 0)
		return deis_error_prefix(&r->err, "image");
	app_name(n, app, sizeof(app));
	bool other = strcmp(ir.name, app) != 0;
	if (other && (rc = image_source_allowed(r, ir.name)) < 0)
		return rc;
	if (r->dry_run)
		return 0;
	memset(&img, 0, sizeof(img));
	rc = deis_registry_open_platform(&reg, &r->err);
	if (rc == 0)
		rc = deis_registry_pull_image(reg, ref, &img, &r->err);
	if (rc == -ENOENT)
		deis_error_set(&r->err, EINVAL, "image: '%s' is not in the registry", ref);
	if (rc == 0 && !img.config.procfile.n)
		rc = deis_error_set(&r->err, EINVAL, "image: '%s' declares no process types",
				    ref);
	if (rc == 0 && other)
		rc = deis_registry_copy_image(reg, &img, app, &r->err);
	deis_registry_close(reg);
	if (rc < 0) {
		deis_image_clear(&img);
		return rc == -ENOENT ? -EINVAL : rc;
	}
	if (other)
		deis_log(LOG_INFO, "app %s: image %s@%s copied from %s for %s", app, app,
			 img.digest, ir.name, r->who.name);
	/* One change: the build row and the release that deploys it. */
	snprintf(full, sizeof(full), "%s@%s", app, img.digest);
	snprintf(shortd, sizeof(shortd), "%.7s", img.digest + 7);
	struct store_change c = { .app = app, .text = full, .kv = &img.config.procfile,
				  .name = shortd };
	rc = tree_commit(r, fs_store->image_deploy, &c);
	deis_image_clear(&img);
	if (rc == 0) {
		deis_log(LOG_INFO, "app %s: image %s deployed as v%d by %s", app, full,
			 c.version, r->who.name);
		platform_line(app, "%s deployed image %s (v%d)", r->who.name, full, c.version);
	}
	return rc;
}

/* run: a command written here runs in a one-off container run.N on the
 * current release (Heroku's `heroku run`, detached); its output goes to
 * logs and to containers/run.N/log while it runs. */
static int store_run(struct req *r, const struct node *n, const char *data, size_t len)
{
	const struct deis_release *rel = deis_app_current(n->app);
	const struct deis_build *b = deis_app_current_build(n->app);
	char app[64];

	while (len && (data[len - 1] == '\n' || data[len - 1] == ' ' || data[len - 1] == '\t'))
		len--;
	while (len && (data[0] == ' ' || data[0] == '\t' || data[0] == '\n')) {
		data++;
		len--;
	}
	if (!len)
		return deis_error_set(&r->err, EINVAL, "run: no command given");
	if (memchr(data, '\0', len))
		return deis_error_set(&r->err, EINVAL, "run: the command holds a NUL byte");
	if (!rel || !b || !b->image[0])
		return deis_error_set(&r->err, EINVAL,
				      "run: the app has no build yet (git push first)");
	if (r->dry_run)
		return quota_admit(r, n->app, NULL, NULL, 1);
	char *cmd = strndup(data, len);
	if (!cmd)
		abort();
	app_name(n, app, sizeof(app));
	struct store_change c = { .app = app, .text = cmd, .release_version = rel->version };
	int rc = tree_commit(r, fs_store->run_create, &c);
	if (rc == 0) {
		deis_log(LOG_INFO, "app %s: run.%d started by %s", app, c.number, r->who.name);
		platform_line(app, "%s ran `%s` as run.%d", r->who.name, cmd, c.number);
	}
	free(cmd);
	return rc;
}

static int show_procfile(const struct node *n, struct deis_buf *out)
{
	const struct deis_build *b = deis_app_current_build(n->app);

	for (size_t i = 0; b && i < b->procfile.n; i++)
		deis_buf_addf(out, "%s: %s\n", b->procfile.items[i].key,
			      b->procfile.items[i].value);
	return 0;
}

int show_empty(const struct node *n, struct deis_buf *out)
{
	return 0;
}

static int store_rollback(struct req *r, const struct node *n, const char *data,
			  size_t len)
{
	int version;
	int rc = deis_version_parse(data, len, &version, &r->err);

	if (rc < 0)
		return rc;
	const struct deis_release *rel = deis_app_release(n->app, version);
	if (!rel)
		return deis_error_set(&r->err, ENOENT, "rollback: no release v%d", version);
	/* A copy of a failed release would fail the same way (or, worse,
	 * go live where it was judged unfit): never made. */
	if (deis_release_status(n->app, rel, NULL) == DEIS_STATUS_FAILED) {
		const struct deis_rollout *ro = deis_app_rollout(n->app, version);
		return deis_error_set(&r->err, EINVAL, "rollback: v%d failed (%s); it cannot "
				      "be deployed again", version,
				      ro && ro->reason[0] ? ro->reason : "no reason recorded");
	}
	/* Nor a copy of one from before the first build once the app has
	 * one: it would have nothing to run, the old build would keep
	 * running, and `current` would name a release that does not run. */
	const struct deis_release *cur = deis_app_current(n->app);
	const struct deis_build *b = rel->build_number ?
		deis_app_build(n->app, rel->build_number) : NULL;
	const struct deis_build *cb = cur && cur->build_number ?
		deis_app_build(n->app, cur->build_number) : NULL;
	if ((!b || !b->image[0]) && cb && cb->image[0])
		return deis_error_set(&r->err, EINVAL, "rollback: v%d has no build (it is "
				      "from before the first push): nothing to run", version);
	if (r->dry_run && (rc = quota_admit(r, n->app, NULL, &rel->limits, 0)) < 0)
		return rc;
	struct deis_release_change c = { .kind = DEIS_RELEASE_ROLLBACK, .version = version };
	return release_change(r, n, &c);
}

/* Removing a generated file is accepted and changes nothing, so that
 * `rm -rf apps/<app>` walks the tree and ends in the rmdir that
 * destroys the app. */
int unlink_ignore(struct req *r, const struct node *n)
{
	return 0;
}

#define APP_FILE(var, fname, fmode, fshow, fmtime, ...) \
	static const struct nodetype var = { .name = fname, .mode = fmode, \
		.show = fshow, .mtime = fmtime, .unlink = unlink_ignore, __VA_ARGS__ }
/* A file written to act: its lines (at most fmax bytes) are checked at
 * each write and fstore runs at close (COMMIT_CONTROL). */
#define CONTROL_FILE(var, fname, fmode, fshow, fmtime, fstore, fmax, ...) \
	APP_FILE(var, fname, fmode, fshow, fmtime, .commit = COMMIT_CONTROL, \
		 .max = fmax, .store = fstore, __VA_ARGS__)
#define LINES_FILE(var, fname, member, fstore, fcheck, fparse, ...) \
	static const struct lines_file var = { .t = { .name = fname, .mode = RW_MODE, \
		.commit = COMMIT_CONTROL, .max = DEIS_CONTROL_MAX, .show = show_lines, \
		.store = fstore, .mtime = mtime_lines, .unlink = unlink_ignore, __VA_ARGS__ }, \
		.lines = offsetof(struct deis_app, member), \
		.mtime = offsetof(struct deis_app, member##_mtime), \
		.parse = fparse, .check = fcheck }

APP_FILE(nt_info, "info", RO_MODE, show_info, mtime_app,
	 .help = "about the app (read-only)",
	 .doc_read = "name, owner, created, url, git_url, release and build (the live "
		"release: what runs, as `releases/current`), formation, domains, maintenance",
	 .doc_write = "read-only (EACCES)");
APP_FILE(nt_url, "url", RO_MODE, show_url, mtime_created,
	 .help = "the app's address, one line");
APP_FILE(nt_git_url, "git_url", RO_MODE, show_git_url, mtime_created,
	 .help = "where to git push, one line");
CONTROL_FILE(nt_env, "env", RW_MODE, show_env, mtime_release, store_env, DEIS_ENV_MAX,
	     .help = "every config var, KEY=value; writing replaces them",
	     .doc_read = "every config var, `KEY=value`, sorted",
	     .doc_write = "replaces the whole set: **one release**");
CONTROL_FILE(nt_formation, "formation", RW_MODE, show_formation, mtime_formation,
	     store_formation, DEIS_CONTROL_MAX,
	     .help = "\"web=2 worker=1\": write to scale",
	     .doc_read = "`type=N` one per line",
	     .doc_write = "scales; no release (as in Heroku). `EDQUOT` past the owner's quota "
		"or the nodes' capacity");
CONTROL_FILE(nt_limits, "limits", RW_MODE, show_limits, mtime_release, store_limits,
	     DEIS_CONTROL_MAX,
	     .help = "\"web.memory=512M web.cpu=0.5\"",
	     .doc_read = "`type.resource=value` one per line",
	     .doc_write = "one release (\"alice changed limits\"). `EDQUOT` when its memory "
		"would pass a quota or the capacity");
LINES_FILE(nt_domains, "domains", domains, store_domains, domains_check,
	   deis_domains_parse,
	   .help = "custom domains, one per line",
	   .doc_read = "one host name per line",
	   .doc_write = "replaces the list; a domain belongs to one app, and so does every "
		"name a wildcard claims; names in the platform domain are refused");
LINES_FILE(nt_perms, "perms", perms, store_perms, perms_check, deis_perms_parse,
	   .owner_only = true,
	   .help = "users who may use the app, one per line",
	   .doc_read = "user names, one per line",
	   .doc_write = "owner and admins only (others: `EACCES` at open)");
APP_FILE(nt_procfile, "procfile", RO_MODE, show_procfile, mtime_release,
	 .help = "process types of the current build",
	 .doc_read = "`type: command` of the current build");
CONTROL_FILE(nt_rollback, "rollback", S_IFREG | 0200, show_empty, mtime_release,
	     store_rollback, 64,
	     .help = "write vN: a new release copying vN",
	     .doc_read = "(empty)",
	     .doc_write = "`vN` or `N`: a new release copying vN's build, config and limits. "
		"`EINVAL` (reason in `logs`) for a failed release, and for a release from "
		"before the first build once the app has one (it would have nothing to run)");
CONTROL_FILE(nt_image, "image", RW_MODE, show_image, mtime_release, store_image, 1024,
	     .help = "write an image reference in the registry: deploy it",
	     .doc_read = "the image of the current build (`hello@sha256:...`)",
	     .doc_write = "an image reference already in the registry (`name:tag` or "
		"`name@sha256:...`): deploys it without a build — a build row, then one "
		"release \"alice deployed 1a2b3c4\" (Deis's builds:create).  An image of "
		"another app only if the writer may use that app (else `EACCES` at `write()`, "
		"the same for an app that does not exist; `ENOENT` for an admin); it is "
		"copied into this app's repository first, so the release names "
		"`hello@sha256:...`");
CONTROL_FILE(nt_run, "run", S_IFREG | 0200, show_empty, mtime_release, store_run,
	     DEIS_CONTROL_MAX,
	     .help = "write a command: a one-off container runs it",
	     .doc_read = "(empty)",
	     .doc_write = "a command: a one-off container `run.N` runs it (`bash -c`) on the "
		"newest release (`releases/latest`), with its config; its output goes to "
		"`logs` and `containers/run.N/log`, its exit status to `logs`; it shows in "
		"`containers/` while it runs, and counts against the owner's quota. `EINVAL` "
		"for an empty command or an app without a build, `EDQUOT` past the quota or "
		"the capacity");
LINES_FILE(nt_drains, "drains", drains, store_drains, drains_check, deis_drains_parse,
	   .help = "syslog:// log drains, one per line",
	   .doc_read = "log drain URLs, one per line",
	   .doc_write = "`syslog://host:port` or `syslog+tls://host:port`, at most 10; "
		"`EINVAL` for a drain that points at the platform: a loopback or unspecified "
		"address, `localhost` (and `*.localhost`), an address of this host or of a "
		"platform node, or one in the containers' subnet (`network_subnet`). A name "
		"is checked when deis-logd resolves it: one that resolves to such an address "
		"is not connected to, and the app's `logs` says so");

static void logsrc_app(const struct node *n, char *src, size_t len)
{
	snprintf(src, len, "%s", "");
}

/* A log's mtime is its last line's (tree_stat reads it with the size). */
int64_t mtime_log(const struct node *n)
{
	return n->app->created;
}

APP_FILE(nt_logs, "logs", RO_MODE, show_empty, mtime_log, .direct = true,
	 .logsrc = logsrc_app, .help = "the app's log; tail -f works",
	 .doc_read = "the app's log: every container, build, router and platform line",
	 .doc_write = "read-only; `tail -f` works");

/* ---- apps/ ---- */

static const struct nodetype *const app_children[] = {
	&nt_info, &nt_url, &nt_git_url, &nt_env, &nt_config, &nt_formation,
	&nt_limits, &nt_domains.t, &nt_certs, &nt_perms.t, &nt_procfile, &nt_releases,
	&nt_rollback, &nt_builds, &nt_containers, &nt_logs, &nt_drains.t, &nt_image,
	&nt_run, NULL,
};

static int app_rmdir(struct req *r, const struct node *n)
{
	char app[64];

	if (!app_owner(r, n->app))
		return deis_error_set(&r->err, EACCES, "only the owner (%s) or an admin "
				      "may destroy app '%s'", n->app->owner, n->app->name);
	app_name(n, app, sizeof(app));
	int rc = tree_commit(r, fs_store->app_destroy, &(struct store_change){ .app = app });
	if (rc == 0) {
		struct deis_error err = DEIS_ERROR_INIT;
		struct deis_cache *c = cache_acquire();
		deis_log(LOG_NOTICE, "app %s destroyed by %s", app, r->who.name);
		/* The log server deletes its files when it sees the event. */
		if (c && deis_cache_log_delete(c, app, &err) < 0)
			deis_log(LOG_WARNING, "deleting the logs of %s: %s", app, err.msg);
		cache_release(c, err.code != 0);
	}
	return rc;
}

/* Rows added at start (tree_app_add): the per-app settings. */
static struct tree_more app_more;

static const struct nodetype nt_app = {
	.pattern = "<app>", .mode = DIR_MODE, .gate = true, .children = app_children,
	.more = &app_more, .scratch_ns = "app", .rmdir = app_rmdir, .mtime = mtime_app,
	.help = "an app: its files (rm -rf destroys it too)",
};

int tree_app_add(const struct nodetype *row, struct deis_error *err)
{
	return tree_more_add(&nt_app, row, err);
}

static int apps_lookup(const struct node *dir, const char *name, struct node *child)
{
	child->app = state_app(name);
	return child->app ? 0 : -ENOENT;
}

/* Only the apps the caller may use are listed. */
static void apps_list(const struct node *dir, struct req *r, struct node *e,
		      struct tree_lister *l)
{
	for (size_t i = 0; i < state.napps; i++) {
		e->app = state.apps[i];
		if (app_user(r, e->app))
			tree_add(l, e, "%s", e->app->name);
	}
}

static int apps_mkdir(struct req *r, const struct node *dir, const char *name)
{
	if (!r->who.name[0])
		return deis_error_set(&r->err, EACCES, "uid %u has no user name",
				      (unsigned)r->who.uid);
	if (!deis_valid_app_name(name) || strlen(name) > DEIS_APP_NAME_MAX)
		return deis_error_set(&r->err, EINVAL, "'%s' is not a valid app name: "
				      "a name is a DNS label, [a-z0-9] and '-', at most "
				      "%d characters (its containers' names must fit a "
				      "host name)", name, DEIS_APP_NAME_MAX);
	/* The owner's users/<name>/info lists the app: both are reloaded. */
	int rc = tree_commit(r, fs_store->app_create,
			     &(struct store_change){ .app = name, .user = r->who.name });
	if (rc == 0) {
		deis_log(LOG_NOTICE, "app %s created by %s", name, r->who.name);
		platform_line(name, "%s created %s", r->who.name, name);
	}
	return rc;
}

const struct nodetype nt_apps = {
	.name = "apps", .mode = DIR_MODE, .entry = &nt_app, .lookup = apps_lookup,
	.list = apps_list, .mkdir = apps_mkdir, .mtime = mtime_started, .event = "app",
	.help = "mkdir apps/<app> creates an app, rmdir destroys it",
};
