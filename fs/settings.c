/*
 * settings.c - an app's settings in the tree: apps/<app>/healthcheck,
 * maintenance, and every other row of lib/settings.c's table.
 *
 * One node type serves them all, by the node's name: show formats the
 * stored value (or the default), store parses and commits it in one
 * transaction, the mtime is the setting's.  A new row of the table is a
 * new file here, listed in the app directory and the README, with no code
 * in this file.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "deis/settings.h"
#include "deis/validate.h"
#include "settings.h"

static const struct deis_setting *row_of(const struct node *n)
{
	return deis_setting_find(n->name);
}

static int show_setting(const struct node *n, struct deis_buf *out)
{
	const struct deis_setting *s = row_of(n);

	s->format(deis_app_setting(n->app, s->name), out);
	return 0;
}

static int64_t mtime_setting(const struct node *n)
{
	return deis_app_setting_mtime(n->app, n->name);
}

struct change {
	const char *app, *name, *value;
};

static int set_setting(struct deis_db *db, void *arg, struct deis_error *err)
{
	const struct change *c = arg;

	return deis_db_app_setting_set(db, c->app, c->name, c->value, err);
}

static int store_setting(struct req *r, const struct node *n, const char *data,
			 size_t len)
{
	const struct deis_setting *s = row_of(n);
	struct deis_buf value = DEIS_BUF_INIT;
	char app[64];
	int rc = s->parse(data, len, &value, &r->err);

	/* The node's pointers die with the read lock; the commit runs
	 * without it. */
	snprintf(app, sizeof(app), "%s", n->app->name);
	if (rc == 0) {
		struct change c = { app, s->name, deis_buf_str(&value) };
		rc = tree_app_change(r, app, set_setting, &c);
	}
	if (rc == 0 && s->summary)
		platform_line(app, "%s %s %s", r->who.name, s->summary, deis_buf_str(&value));
	else if (rc == 0)
		platform_line(app, "%s changed %s", r->who.name, s->name);
	deis_buf_release(&value);
	return rc;
}

/* `rm -rf apps/<app>` removes every file on its way to the rmdir that
 * destroys the app: accepted, and nothing changes. */
static int unlink_setting(struct req *r, const struct node *n)
{
	return 0;
}

static const struct nodetype nt_setting = {
	.mode = S_IFREG | 0644, .commit = COMMIT_CONTROL, .max = DEIS_CONTROL_MAX,
	.show = show_setting, .store = store_setting, .mtime = mtime_setting,
	.unlink = unlink_setting,
};

int settings_lookup(const struct node *dir, const char *name, struct node *child)
{
	if (!deis_setting_find(name))
		return -ENOENT;
	child->t = &nt_setting;
	return 0;
}

void settings_list(const struct node *dir, struct req *r,
		   void (*add)(void *ctx, const char *name, const struct node *n),
		   void *ctx)
{
	struct node c = *dir;

	c.t = &nt_setting;
	for (size_t i = 0; i < deis_nsettings; i++) {
		snprintf(c.name, sizeof(c.name), "%s", deis_settings[i].name);
		add(ctx, c.name, &c);
	}
}

void settings_readme(struct deis_buf *out)
{
	for (size_t i = 0; i < deis_nsettings; i++)
		deis_buf_addf(out, "    %-19s%s\n", deis_settings[i].name, deis_settings[i].help);
}
