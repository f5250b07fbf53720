/*
 * tree_doc.c - what the tree says about itself, made from its rows: the
 * README at the root of the mount, and the generated parts of
 * docs/tree.md (the listing and the file tables).
 *
 * A row's help is one line; doc_read and doc_write are the columns of
 * the tables.  A row without help is left out with everything under it
 * (its directory's help covers it).  tests/unit/test_tree.c fails when
 * docs/tree.md differs from what this makes, and rewrites it on request
 * (test_tree --update-doc docs/tree.md), so a new row is documented where
 * it is written.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tree.h"

/* Where the help of README's listing starts. */
#define HELP_COLUMN 26

/* The i-th row of dir: its static rows, the rows added at start, then
 * the row of its dynamic entries; NULL past the last. */
static const struct nodetype *row_at(const struct nodetype *dir, size_t i)
{
	size_t n = 0;

	while (dir->children && dir->children[n])
		n++;
	if (i < n)
		return dir->children[i];
	i -= n;
	n = dir->more ? dir->more->n : 0;
	if (i < n)
		return dir->more->rows[i];
	return i == n ? dir->entry : NULL;
}

/* "config/", "<KEY>", "<domain>.pem" */
static void label(struct deis_buf *out, const struct nodetype *t)
{
	deis_buf_adds(out, t->name ? t->name : t->pattern);
	if (S_ISDIR(t->mode))
		deis_buf_addch(out, '/');
}

static void listing(struct deis_buf *out, const struct nodetype *dir, int depth)
{
	const struct nodetype *t;

	for (size_t i = 0; (t = row_at(dir, i)); i++) {
		if (!t->help)
			continue;
		struct deis_buf l = DEIS_BUF_INIT;
		deis_buf_addf(&l, "%*s", 2 * depth + 2, "");
		label(&l, t);
		deis_buf_addf(out, "%-*s %s\n", HELP_COLUMN - 1, deis_buf_str(&l), t->help);
		deis_buf_release(&l);
		if (S_ISDIR(t->mode))
			listing(out, t, depth + 1);
	}
}

void tree_readme(struct deis_buf *out)
{
	deis_buf_adds(out, "deisfs - the platform as files\n\n");
	listing(out, &nt_root, 0);
	deis_buf_adds(out,
"\n"
"Every change is one transaction; a config change makes one release.\n"
"A bad write fails with EINVAL (EDQUOT past a quota or the nodes' capacity)\n"
"and the reason is in the daemon log.\n");
}

/* One table row per file (and per directory that documents itself) under
 * dir, its path from where the table starts in prefix. */
static void table(struct deis_buf *out, const struct nodetype *dir, const char *prefix)
{
	const struct nodetype *t;

	for (size_t i = 0; (t = row_at(dir, i)); i++) {
		if (!t->help)
			continue;
		struct deis_buf path = DEIS_BUF_INIT;
		deis_buf_adds(&path, prefix);
		label(&path, t);
		if (!S_ISDIR(t->mode) || t->doc_read || t->doc_write) {
			const char *w = t->doc_write ? t->doc_write :
					t->store ? "replaces it" : "read-only";
			deis_buf_addf(out, "| `%s` | %s | %s |\n", deis_buf_str(&path),
				      t->doc_read ? t->doc_read : t->help, w);
		}
		if (S_ISDIR(t->mode))
			table(out, t, deis_buf_str(&path));
		deis_buf_release(&path);
	}
}

static void table_head(struct deis_buf *out)
{
	deis_buf_adds(out, "| file | read | write |\n|---|---|---|\n");
}

int tree_doc(const char *part, struct deis_buf *out)
{
	if (!strcmp(part, "listing")) {
		deis_buf_adds(out, "```\n");
		listing(out, &nt_root, 0);
		deis_buf_adds(out, "```\n");
	} else if (!strcmp(part, "platform")) {
		table_head(out);
		table(out, &nt_platform, "platform/");
		table(out, &nt_users, "users/");
	} else if (!strcmp(part, "apps")) {
		table_head(out);
		table(out, nt_apps.entry, "");
	} else {
		return -ENOENT;
	}
	return 0;
}

/*
 * The generated parts of a document stand between "<!-- tree:PART -->"
 * and "<!-- /tree:PART -->" lines; the rest is left as it is.
 */
int tree_doc_update(const char *doc, struct deis_buf *out, struct deis_error *err)
{
	const char *p = doc;

	for (;;) {
		const char *open = strstr(p, "<!-- tree:");
		if (!open)
			break;
		const char *name = open + strlen("<!-- tree:");
		const char *name_end = strstr(name, " -->");
		const char *body = name_end ? strchr(name_end, '\n') : NULL;
		if (!body || name_end - name >= 32)
			return deis_error_set(err, EINVAL, "a '<!-- tree:' marker is not "
					      "'<!-- tree:PART -->' on a line of its own");
		char part[32], close[64];
		snprintf(part, sizeof(part), "%.*s", (int)(name_end - name), name);
		snprintf(close, sizeof(close), "<!-- /tree:%s -->", part);
		const char *end = strstr(body, close);
		if (!end)
			return deis_error_set(err, EINVAL, "no '%s' after '<!-- tree:%s -->'",
					      close, part);
		deis_buf_add(out, p, (size_t)(body + 1 - p));
		if (tree_doc(part, out) < 0)
			return deis_error_set(err, EINVAL, "no generated part '%s'", part);
		p = end;
	}
	deis_buf_adds(out, p);
	return 0;
}
