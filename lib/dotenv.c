/*
 * dotenv.c - the env document (all config vars of an app) and the value of
 * one config/<KEY> file.
 *
 * See include/deis/validate.h for the contract.  Choices the header leaves
 * open, made the way a shell user and a Heroku/Deis user would expect:
 *
 *  - Lines end in "\n"; a "\r" before it (a file saved on Windows) is
 *    trimmed like a blank, outside quotes.  Blanks are space, tab and CR.
 *  - Blanks are allowed around '=' ("KEY = value"), and after "export".
 *  - An unquoted value runs to the end of the line, '#' included
 *    ("A=x#y" is "x#y"): the header says "to end of line".
 *  - After a closing quote only blanks and a "# comment" may follow.
 *  - 'single quotes' are literal and, like "double quotes", may span lines
 *    (a PEM pasted in single quotes works, as in a shell).
 *  - In double quotes, \n \r \t \" \\ \$ are the header's escapes; \` is
 *    accepted too, and any other backslash is kept as is (as a shell keeps
 *    "\d"), so Windows paths survive.  There is no $VAR expansion: '$' is
 *    always literal, \$ is accepted for files written for a shell.
 *  - A key seen twice: the last one wins.  out is sorted by key.
 *  - On error out is left unchanged.
 *
 * deis_dotenv_format() writes every value that is not all safe characters
 * in double quotes, escaping \ " $ ` newline, CR and tab, so a var is
 * always one line (diff-friendly) and the file is also safe to "source"
 * from sh: nothing in it expands.
 *
 * The parser never looks keys up one by one (that would be quadratic for a
 * 1 MB document of short lines): it collects every assignment, sorts them
 * once, keeps the last of each key and hands the result to
 * deis_kvlist_copy(), which is linear.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deis/validate.h"

#define SHOW	80	/* bytes of user input quoted in a message */

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

long deis_config_value_check(const char *data, size_t len,
			     struct deis_error *err)
{
	size_t n = len;

	/* Refuse 10 MB writes before scanning them. */
	if (len > (size_t)DEIS_CONFIG_VALUE_MAX + 1)
		return deis_error_set(err, EINVAL,
				      "config value is too long (%zu bytes, at most %d)",
				      len, DEIS_CONFIG_VALUE_MAX);
	if (len && memchr(data, '\0', len))
		return deis_error_set(err, EINVAL,
				      "config value contains a NUL byte");
	size_t bad;
	if (!deis_valid_utf8(data, len, &bad))
		return deis_error_set(err, EINVAL,
				      "config value is not UTF-8 text (byte %zu); "
				      "encode binary data, for example in base64", bad);
	/* "echo 1 > config/DEBUG" stores "1"; a PEM keeps its last newline. */
	if (n && data[n - 1] == '\n' && !memchr(data, '\n', n - 1))
		n--;
	if (n > DEIS_CONFIG_VALUE_MAX)
		return deis_error_set(err, EINVAL,
				      "config value is too long (%zu bytes, at most %d)",
				      n, DEIS_CONFIG_VALUE_MAX);
	return (long)n;
}

/* One assignment: offsets into the arena while parsing (the arena moves as
 * it grows), pointers once it is complete. */
struct rec {
	size_t koff, voff;
	size_t seq;		/* position in the document: the last wins */
	const char *key, *value;
};

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct parser {
	const char *s;
	size_t len, p;
	size_t line;
	struct deis_buf arena;	/* key\0value\0 ... */
	struct deis_buf recs;	/* struct rec[] */
	struct deis_error *err;
	bool partial;		/* more text may follow (deis_dotenv_check) */
};

/* A quoted value still open at the end of the text: an error, or in a
 * partial check, 1 (it may close in text yet to come). */
static int unterminated(struct parser *ps, char q, size_t line,
			const char *key)
{
	if (ps->partial)
		return 1;
	return deis_error_set(ps->err, EINVAL,
			      "env: line %zu: the %c quote of the value of '%s' is never closed",
			      line, q, key);
}

static int too_long(struct parser *ps, size_t line, const char *key)
{
	return deis_error_set(ps->err, EINVAL,
			      "env: line %zu: the value of '%s' is too long (at most %d bytes)",
			      line, key, DEIS_CONFIG_VALUE_MAX);
}

/* Reads a quoted value starting at the opening quote into the arena. */
static int read_quoted(struct parser *ps, const char *key, size_t *vlen)
{
	char q = ps->s[ps->p];
	size_t start_line = ps->line;
	size_t n = 0;

	ps->p++;
	for (;;) {
		char c, e;

		if (ps->p >= ps->len)
			return unterminated(ps, q, start_line, key);
		c = ps->s[ps->p++];
		if (c == q)
			break;
		if (c == '\n')
			ps->line++;
		if (c == '\\' && q == '"') {
			if (ps->p >= ps->len)
				return unterminated(ps, q, start_line, key);
			e = ps->s[ps->p++];
			switch (e) {
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case '"': case '\\': case '$': case '`': c = e; break;
			default:
				/* Unknown escape: keep the backslash. */
				deis_buf_addch(&ps->arena, '\\');
				n++;
				if (e == '\n')
					ps->line++;
				c = e;
				break;
			}
		}
		deis_buf_addch(&ps->arena, c);
		if (++n > DEIS_CONFIG_VALUE_MAX)
			return too_long(ps, start_line, key);
	}
	/* Only blanks and a comment may follow the closing quote. */
	while (ps->p < ps->len && is_blank(ps->s[ps->p]))
		ps->p++;
	if (ps->p < ps->len && ps->s[ps->p] == '#')
		while (ps->p < ps->len && ps->s[ps->p] != '\n')
			ps->p++;
	if (ps->p < ps->len && ps->s[ps->p] != '\n')
		return deis_error_set(ps->err, EINVAL,
				      "env: line %zu: unexpected text after the closing quote of the value of '%s'",
				      ps->line, key);
	*vlen = n;
	return 0;
}

/* Parses one non-blank, non-comment line at ps->p; on return ps->p is at
 * the '\n' that ends it (or at the end). */
static int parse_assignment(struct parser *ps)
{
	const char *s = ps->s;
	size_t ks, ke, q, vstart, vend, vlen = 0, line = ps->line;
	char key[256];
	char show[SHOW];
	struct rec r;

	/* "export KEY=value", but "export=1" sets a var named export. */
	if (ps->len - ps->p > 6 && !memcmp(s + ps->p, "export", 6) &&
	    is_blank(s[ps->p + 6])) {
		q = ps->p + 6;
		while (q < ps->len && is_blank(s[q]))
			q++;
		if (q < ps->len && s[q] != '=' && s[q] != '\n')
			ps->p = q;
	}
	ks = ps->p;
	while (ps->p < ps->len && s[ps->p] != '=' && s[ps->p] != '\n' &&
	       !is_blank(s[ps->p]))
		ps->p++;
	ke = ps->p;
	while (ps->p < ps->len && is_blank(s[ps->p]))
		ps->p++;
	if (ps->p >= ps->len || s[ps->p] != '=') {
		const char *nl = memchr(s + ks, '\n', ps->len - ks);
		size_t l = nl ? (size_t)(nl - (s + ks)) : ps->len - ks;

		return deis_error_set(ps->err, EINVAL,
				      "env: line %zu: expected KEY=value, got '%s'",
				      line, deis_printable(show, sizeof(show), s + ks, l));
	}
	if (ke - ks >= sizeof(key) || ke == ks) {
		deis_printable(show, sizeof(show), s + ks, ke - ks);
		goto bad_key;
	}
	memcpy(key, s + ks, ke - ks);
	key[ke - ks] = '\0';
	if (!deis_valid_config_key(key)) {
		deis_printable(show, sizeof(show), key, ke - ks);
		goto bad_key;
	}
	ps->p++;			/* '=' */
	while (ps->p < ps->len && is_blank(s[ps->p]))
		ps->p++;

	r.koff = ps->arena.len;
	deis_buf_add(&ps->arena, key, ke - ks + 1);
	r.voff = ps->arena.len;
	if (ps->p < ps->len && (s[ps->p] == '"' || s[ps->p] == '\'')) {
		int rc = read_quoted(ps, key, &vlen);

		if (rc != 0)
			return rc;	/* an error, or 1: still open */
	} else {
		vstart = ps->p;
		while (ps->p < ps->len && s[ps->p] != '\n')
			ps->p++;
		vend = ps->p;
		while (vend > vstart && is_blank(s[vend - 1]))
			vend--;
		vlen = vend - vstart;
		if (vlen > DEIS_CONFIG_VALUE_MAX)
			return too_long(ps, line, key);
		deis_buf_add(&ps->arena, s + vstart, vlen);
	}
	size_t bad;
	if (!deis_valid_utf8(ps->arena.data + r.voff, vlen, &bad))
		return deis_error_set(ps->err, EINVAL,
				      "env: line %zu: the value of '%s' is not UTF-8 text "
				      "(byte %zu of the value); encode binary data, for "
				      "example in base64", line, key, bad);
	deis_buf_addch(&ps->arena, '\0');
	r.seq = ps->recs.len / sizeof(r);
	r.key = r.value = NULL;
	deis_buf_add(&ps->recs, &r, sizeof(r));
	return 0;

bad_key:
	return deis_error_set(ps->err, EINVAL,
			      "env: line %zu: config key '%s' is not valid: a key is [A-Za-z_][A-Za-z0-9_]*, at most 255 bytes",
			      line, show);
}

/* Parses every line of the text.  In a partial parse, stops without an
 * error at a quoted value left open by the end of the text, with ps->p
 * and ps->line at the start of its assignment's line. */
static int parse_lines(struct parser *ps)
{
	const char *text = ps->s;
	size_t len = ps->len;

	while (ps->p < len) {
		size_t start = ps->p, start_line = ps->line;
		char c;

		while (ps->p < len && is_blank(text[ps->p]))
			ps->p++;
		if (ps->p >= len)
			break;
		c = text[ps->p];
		if (c == '#') {
			while (ps->p < len && text[ps->p] != '\n')
				ps->p++;
		} else if (c != '\n') {
			int rc = parse_assignment(ps);
			if (rc < 0)
				return rc;
			if (rc > 0) {	/* still open: check again later */
				ps->p = start;
				ps->line = start_line;
				return 0;
			}
		}
		if (ps->p < len) {	/* at '\n' */
			ps->p++;
			ps->line++;
		}
	}
	return 0;
}

int deis_dotenv_check(const char *text, size_t len, size_t first_line,
		      size_t *good, size_t *lines, struct deis_error *err)
{
	struct parser ps = { text, len, 0, first_line, DEIS_BUF_INIT, DEIS_BUF_INIT,
			     err, true };
	int rc;

	*good = 0;
	*lines = 0;
	if ((rc = deis_text_check("env", text, len, DEIS_ENV_MAX, err)) < 0)
		return rc;
	rc = parse_lines(&ps);
	if (rc == 0) {
		/* Only whole lines count as checked: a last line without its
		 * newline may still grow. */
		while (ps.p > 0 && text[ps.p - 1] != '\n')
			ps.p--;
		*good = ps.p;
		*lines = 0;
		for (const char *q = text; (q = memchr(q, '\n', (size_t)(text + ps.p - q)));
		     q++)
			(*lines)++;
	}
	deis_buf_release(&ps.arena);
	deis_buf_release(&ps.recs);
	return rc;
}

int deis_dotenv_parse(const char *text, size_t len, struct deis_kvlist *out,
		      struct deis_error *err)
{
	struct parser ps = { text, len, 0, 1, DEIS_BUF_INIT, DEIS_BUF_INIT, err, false };
	struct deis_buf view = DEIS_BUF_INIT;
	struct deis_kvlist vl;
	struct rec *r;
	size_t n;
	int rc = 0;

	if ((rc = deis_text_check("env", text, len, DEIS_ENV_MAX, err)) < 0)
		return rc;

	rc = parse_lines(&ps);
	if (rc < 0)
		goto out;

	/* The arena is complete: turn offsets into pointers, sort, and keep
	 * the last assignment of each key. */
	r = (struct rec *)ps.recs.data;
	n = ps.recs.len / sizeof(*r);
	for (size_t i = 0; i < n; i++) {
		r[i].key = ps.arena.data + r[i].koff;
		r[i].value = ps.arena.data + r[i].voff;
	}
	if (n > 1)
		qsort(r, n, sizeof(*r), rec_cmp);
	for (size_t i = 0; i < n; i++) {
		struct deis_kv kv;

		if (i + 1 < n && !strcmp(r[i].key, r[i + 1].key))
			continue;
		kv.key = (char *)r[i].key;
		kv.value = (char *)r[i].value;
		deis_buf_add(&view, &kv, sizeof(kv));
	}
	vl.items = (struct deis_kv *)view.data;
	vl.n = vl.cap = view.len / sizeof(struct deis_kv);
	deis_kvlist_copy(out, &vl);
out:
	deis_buf_release(&view);
	deis_buf_release(&ps.arena);
	deis_buf_release(&ps.recs);
	return rc;
}

/* [A-Za-z0-9_./:@%+,=-]: what needs no quotes in the file. */
static int is_safe(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("_./:@%+,=-", c));
}

static void add_value(struct deis_buf *out, const char *v)
{
	const char *p;

	for (p = v; *p && is_safe((unsigned char)*p); p++)
		;
	if (*v && !*p) {
		deis_buf_adds(out, v);
		return;
	}
	deis_buf_addch(out, '"');
	for (p = v; *p; p++) {
		switch (*p) {
		case '\n': deis_buf_add(out, "\\n", 2); break;
		case '\r': deis_buf_add(out, "\\r", 2); break;
		case '\t': deis_buf_add(out, "\\t", 2); break;
		case '"': case '\\': case '$': case '`':
			deis_buf_addch(out, '\\');
			deis_buf_addch(out, *p);
			break;
		default:
			deis_buf_addch(out, *p);
		}
	}
	deis_buf_addch(out, '"');
}

/* Appends to out (does not reset it). */
void deis_dotenv_format(const struct deis_kvlist *vars, struct deis_buf *out)
{
	struct deis_kvlist sorted = DEIS_KVLIST_INIT;

	deis_kvlist_copy(&sorted, vars);
	deis_kvlist_sort(&sorted);
	for (size_t i = 0; i < sorted.n; i++) {
		deis_buf_adds(out, sorted.items[i].key);
		deis_buf_addch(out, '=');
		add_value(out, sorted.items[i].value);
		deis_buf_addch(out, '\n');
	}
	deis_kvlist_clear(&sorted);
}
