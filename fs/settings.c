/*
 * settings.c - an app's settings in the tree: apps/<app>/healthcheck,
 * maintenance, autoscale and every other row of lib/settings.c's table.
 *
 * One row of the tree per setting, made from the table at start and added
 * to every app directory (tree_app_add); all of them share the functions
 * below, which find their setting by the row's name: show formats the
 * stored value (or the default), store parses it and commits it in one
 * transaction, the mtime is the setting's.  A new row of the table is a
 * new file, listed in the app directory, the README and docs/tree.md,
 * with no code here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "deis/log.h"
#include "deis/settings.h"
#include "deis/validate.h"
#include "tree.h"

static const struct deis_setting *row_of(const struct node *n)
{
	return deis_setting_find(n->t->name);
}

static int show_setting(const struct node *n, struct deis_buf *out)
{
	const struct deis_setting *s = row_of(n);

	s->format(deis_app_setting(n->app, s->name), out);
	return 0;
}

static int64_t mtime_setting(const struct node *n)
{
	return deis_app_setting_mtime(n->app, n->t->name);
}

static int store_setting(struct req *r, const struct node *n, const char *data,
			 size_t len)
{
	const struct deis_setting *s = row_of(n);
	struct deis_buf value = DEIS_BUF_INIT;
	char app[64];
	int rc = s->parse(data, len, &value, &r->err);

	app_name(n, app, sizeof(app));
	if (rc == 0)
		rc = tree_commit(r, fs_store->setting_set,
				 &(struct store_change){ .app = app, .name = s->name,
							 .text = deis_buf_str(&value) });
	if (rc == 0 && s->summary)
		platform_line(app, "%s %s %s", r->who.name, s->summary, deis_buf_str(&value));
	else if (rc == 0)
		platform_line(app, "%s changed %s", r->who.name, s->name);
	deis_buf_release(&value);
	return rc;
}

/* The rows, one per setting; made once, before the mount serves. */
static struct nodetype rows[TREE_MORE_MAX];

__attribute__((constructor)) static void settings_rows(void)
{
	struct deis_error err = DEIS_ERROR_INIT;

	for (size_t i = 0; i < deis_nsettings; i++) {
		const struct deis_setting *s = &deis_settings[i];
		rows[i] = (struct nodetype){
			.name = s->name, .mode = RW_MODE, .commit = COMMIT_CONTROL,
			.max = DEIS_CONTROL_MAX, .show = show_setting, .store = store_setting,
			.mtime = mtime_setting, .unlink = unlink_ignore, .help = s->help,
			.doc_read = s->doc_read, .doc_write = s->doc_write,
		};
		/* A row that cannot be added is a programming error (a name
		 * twice, too many rows): no mount without its settings. */
		if (i >= TREE_MORE_MAX || tree_app_add(&rows[i], &err) < 0) {
			fprintf(stderr, "deisfs: setting %s: %s\n", s->name,
				err.msg[0] ? err.msg : "too many settings");
			abort();
		}
	}
}
