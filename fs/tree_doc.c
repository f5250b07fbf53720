/*
 * tree_doc.c - what the tree says about itself, made from its rows: the
 * README at the root of the mount, and the generated parts of
 * docs/tree.md (the listing and the file tables, in markdown) and of the
 * manual page deisfs(5), docs/man/deisfs.5 (the same, in roff).
 *
 * A row's help is one line; doc_read and doc_write are the columns of
 * the tables (markdown: `code` and **bold**; the roff output turns them
 * into bold).  A row without help is left out with everything under it
 * (its directory's help covers it).  tests/unit/test_tree.c fails when
 * either document differs from what this makes, and rewrites it on
 * request (test_tree --update-doc FILE), so a new row is documented where
 * it is written.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
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

/* The two languages of what this makes: plain text and markdown (README,
 * docs/tree.md), and roff (the manual page). */
enum doc_format { DOC_MARKDOWN, DOC_ROFF };

/* The UTF-8 character at p as a roff escape (troff reads bytes, not
 * UTF-8): \[u2014] for an em dash.  A byte that starts no character
 * becomes U+FFFD.  Returns the bytes read. */
static size_t utf8_char(struct deis_buf *out, const char *p)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;
	unsigned cp = n == 1 ? 0xfffd : s[0] & (0x3f >> (n - 1));

	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			deis_buf_adds(out, "\\[uFFFD]");
			return i;
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	deis_buf_addf(out, "\\[u%04X]", cp);
	return n;
}

/*
 * Markdown inline text as roff text: `code` and **bold** in bold, a
 * backslash escaped, a leading '.' or '\'' made text (\&), what is not
 * ASCII escaped.  A '-' is a minus sign (\-, what can be typed) in code
 * and wherever it does not join two words, so that "--name" and "->" stay
 * what they are in a terminal; "read-only" keeps its hyphen.
 */
static void roff_text(struct deis_buf *out, const char *md)
{
	bool code = false, bold = false;

	deis_buf_adds(out, "\\&");
	for (const char *p = md; *p; p++) {
		if (*p == '`') {
			code = !code;
			deis_buf_adds(out, code || bold ? "\\fB" : "\\fR");
		} else if (!code && p[0] == '*' && p[1] == '*') {
			bold = !bold;
			deis_buf_adds(out, bold ? "\\fB" : "\\fR");
			p++;
		} else if (*p == '\\') {
			deis_buf_adds(out, "\\e");
		} else if (*p == '-' && (code || p == md || !isalnum((unsigned char)p[-1]) ||
					 !isalnum((unsigned char)p[1]))) {
			deis_buf_adds(out, "\\-");
		} else if (*p == '\n') {
			deis_buf_adds(out, "\n\\&");
		} else if ((unsigned char)*p >= 0x80) {
			p += utf8_char(out, p) - 1;
		} else {
			deis_buf_addch(out, *p);
		}
	}
	if (code || bold)
		deis_buf_adds(out, "\\fR");
}

/* A row of the listing: its name, indented by its depth, and its help
 * beside it.  In roff a tagged paragraph (.TP, no space between them: see
 * doc_part), where the help wraps beside the name (tbl would do, but puts
 * a blank line where a page would end). */
static void listing_entry(struct deis_buf *out, enum doc_format f, const char *name,
			  const char *help, int depth)
{
	if (f == DOC_MARKDOWN) {
		struct deis_buf l = DEIS_BUF_INIT;
		deis_buf_addf(&l, "%*s%s", 2 * depth + 2, "", name);
		deis_buf_addf(out, "%-*s %s\n", HELP_COLUMN - 1, deis_buf_str(&l), help);
		deis_buf_release(&l);
		return;
	}
	deis_buf_addf(out, ".TP %dn\n", HELP_COLUMN - 4);
	for (int d = 0; d < depth; d++)
		deis_buf_adds(out, "\\ \\ ");
	deis_buf_adds(out, "\\fB");
	roff_text(out, name);
	deis_buf_adds(out, "\\fR\n");
	roff_text(out, help);
	deis_buf_addch(out, '\n');
}

/* The tree under dir, a line per row that has help (README's, and the
 * listing of docs/tree.md and deisfs(5)). */
static void listing(struct deis_buf *out, enum doc_format f, const struct nodetype *dir,
		    int depth)
{
	const struct nodetype *t;

	for (size_t i = 0; (t = row_at(dir, i)); i++) {
		if (!t->help)
			continue;
		struct deis_buf l = DEIS_BUF_INIT;
		label(&l, t);
		listing_entry(out, f, deis_buf_str(&l), t->help, depth);
		deis_buf_release(&l);
		if (S_ISDIR(t->mode))
			listing(out, f, t, depth + 1);
	}
}

void tree_readme(struct deis_buf *out)
{
	deis_buf_adds(out, "deisfs - the platform as files\n\n");
	listing(out, DOC_MARKDOWN, &nt_root, 0);
	deis_buf_adds(out,
"\n"
"Every change is one transaction; a config change makes one release.\n"
"A bad write fails with EINVAL (EDQUOT past a quota or the nodes' capacity)\n"
"and the reason is in the daemon log.\n");
}

/* A file of a table: a row of docs/tree.md's, or a tagged paragraph of
 * the manual page. */
static void table_entry(struct deis_buf *out, enum doc_format f, const char *path,
			const char *read, const char *write)
{
	if (f == DOC_MARKDOWN) {
		deis_buf_addf(out, "| `%s` | %s | %s |\n", path, read, write);
		return;
	}
	deis_buf_adds(out, ".TP\n\\fB");
	roff_text(out, path);
	deis_buf_adds(out, "\\fR\n\\fIread:\\fR\n");
	roff_text(out, read);
	deis_buf_adds(out, "\n.br\n\\fIwrite:\\fR\n");
	roff_text(out, write);
	deis_buf_addch(out, '\n');
}

/* One table entry per file (and per directory that documents itself)
 * under dir, its path from where the table starts in prefix. */
static void table(struct deis_buf *out, enum doc_format f, const struct nodetype *dir,
		  const char *prefix)
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
			table_entry(out, f, deis_buf_str(&path),
				    t->doc_read ? t->doc_read : t->help, w);
		}
		if (S_ISDIR(t->mode))
			table(out, f, t, deis_buf_str(&path));
		deis_buf_release(&path);
	}
}

static int doc_part(enum doc_format f, const char *part, struct deis_buf *out)
{
	if (!strcmp(part, "listing")) {
		if (f == DOC_MARKDOWN) {
			deis_buf_adds(out, "```\n");
			listing(out, f, &nt_root, 0);
			deis_buf_adds(out, "```\n");
		} else {
			deis_buf_adds(out, ".PD 0\n");
			listing(out, f, &nt_root, 0);
			deis_buf_adds(out, ".PD\n");
		}
	} else if (!strcmp(part, "platform")) {
		if (f == DOC_MARKDOWN)
			deis_buf_adds(out, "| file | read | write |\n|---|---|---|\n");
		table(out, f, &nt_platform, "platform/");
		table(out, f, &nt_users, "users/");
	} else if (!strcmp(part, "apps")) {
		if (f == DOC_MARKDOWN)
			deis_buf_adds(out, "| file | read | write |\n|---|---|---|\n");
		table(out, f, nt_apps.entry, "");
	} else {
		return -ENOENT;
	}
	return 0;
}

int tree_doc(const char *part, struct deis_buf *out)
{
	return doc_part(DOC_MARKDOWN, part, out);
}

/*
 * The generated parts of a document stand between an opening and a
 * closing marker line, each in the document's own comment syntax:
 * "<!-- tree:PART -->" and "<!-- /tree:PART -->" in markdown, '.\" tree:PART'
 * and '.\" /tree:PART' in roff; the marker says which language to write.
 * The rest of the document is left as it is.
 */
static const struct doc_marker {
	enum doc_format format;
	const char *open;	/* before PART */
	const char *end;	/* after PART, on the opening line */
	const char *close;	/* the closing line, a format of PART */
} markers[] = {
	{ DOC_MARKDOWN, "<!-- tree:", " -->", "<!-- /tree:%s -->" },
	{ DOC_ROFF, ".\\\" tree:", "", ".\\\" /tree:%s\n" },
};

/* The first opening marker at or after p, and which syntax it is in. */
static const char *next_marker(const char *p, const struct doc_marker **m)
{
	const char *first = NULL;

	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		const char *at = strstr(p, markers[i].open);
		if (at && (!first || at < first)) {
			first = at;
			*m = &markers[i];
		}
	}
	return first;
}

int tree_doc_update(const char *doc, struct deis_buf *out, struct deis_error *err)
{
	const struct doc_marker *m = NULL;
	const char *p = doc, *open;

	while ((open = next_marker(p, &m))) {
		const char *name = open + strlen(m->open);
		const char *body = strchr(name, '\n');
		const char *name_end = body ? body - strlen(m->end) : NULL;
		if (!body || name_end < name || strncmp(name_end, m->end, strlen(m->end)) ||
		    name_end - name >= 32 || name_end == name ||
		    (open != doc && open[-1] != '\n'))
			return deis_error_set(err, EINVAL, "a '%s' marker is not '%sPART%s' "
					      "on a line of its own", m->open, m->open, m->end);
		char part[32], close[64];
		snprintf(part, sizeof(part), "%.*s", (int)(name_end - name), name);
		snprintf(close, sizeof(close), m->close, part);
		const char *end = strstr(body, close);
		if (!end)
			return deis_error_set(err, EINVAL, "no '%s' after '%s%s%s'",
					      close, m->open, part, m->end);
		deis_buf_add(out, p, (size_t)(body + 1 - p));
		if (doc_part(m->format, part, out) < 0)
			return deis_error_set(err, EINVAL, "no generated part '%s'", part);
		p = end;
	}
	deis_buf_adds(out, p);
	return 0;
}
