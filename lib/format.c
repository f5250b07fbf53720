/*
 * format.c - the small control files of an app: formation, limits,
 * domains, perms, healthcheck, maintenance and rollback.
 *
 * Each parser takes the raw bytes of a write and either fills a canonical
 * value or returns -EINVAL naming the offending item; each formatter
 * writes text its parser accepts unchanged.  See include/deis/validate.h.
 *
 * Choices the header leaves open:
 *  - Items are separated by any ASCII white space (space, tab, newline,
 *    CR, VT, FF), so "echo web=2 > formation" and a file with CRLF line
 *    ends both work.  Empty text (or only blanks) is a valid, empty value.
 *  - Numbers are plain decimal digits; no sign, leading zeros allowed and
 *    dropped ("web=007" is web=7).
 *  - A key twice is refused in limits and healthcheck too, as the header
 *    says for formation: "web.memory=1G web.memory=2G" is a mistake, not
 *    an instruction.
 *  - limits: the memory suffix may be lower case ("512m", as docker
 *    accepts) and is written upper case; no suffix means bytes.  A cpu
 *    value may omit the leading zero (".5").  The canonical forms are
 *    "512M", "1G", "4194305" and "0.5", "2", "0.015".
 *  - domains are lowercased before they are checked and compared; perms
 *    are not (Unix user names are case-sensitive), so "Alice" is refused.
 *    Both drop repeated items, keeping the first; at most 100 domains.
 *  - healthcheck path: exactly the header's set, '!'..'~'.
 *  - maintenance and rollback accept surrounding white space, so "echo on"
 *    works; rollback accepts "v3", "V3" and "3", and release numbers start
 *    at 1.
 *  - On error out is left unchanged.  Formatters append to out.
 *
 * No parser looks items up one at a time: items are collected, sorted
 * once and checked for repeats, so a 64 KiB document of tiny items costs
 * O(n log n), not O(n^2).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/validate.h"
#include "number.h"

#define SHOW		80	/* bytes of user input quoted in a message */
#define MAX_DOMAINS	100
#define HEALTH_PATH_MAX	1024

#define KiB	1024LL
#define MiB	(1024LL * KiB)
#define GiB	(1024LL * MiB)
#define MEMORY_MIN	(4 * MiB)
#define MEMORY_MAX	(1024 * GiB)
#define CPU_MIN		10		/* millicores */
#define CPU_MAX		256000
#define PIDS_MIN	16
#define PIDS_MAX	1048576
#define HEALTH_SECS_MAX	300

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static int check_input(const char *what, const char *text, size_t len,
		       struct deis_error *err)
{
	return deis_text_check(what, text, len, DEIS_CONTROL_MAX, err);
}

/* The next white-space separated item of text[*pos..len): 0 at the end. */
static int next_token(const char *text, size_t len, size_t *pos,
		      const char **tok, size_t *toklen)
{
	size_t p = *pos, s;

	while (p < len && is_space(text[p]))
		p++;
	if (p >= len) {
		*pos = p;
		return 0;
	}
	s = p;
	while (p < len && !is_space(text[p]))
		p++;
	*tok = text + s;
	*toklen = p - s;
	*pos = p;
	return 1;
}

/* An item of a control file (tok, len bytes), split at its first '='
 * (eq; val, vlen bytes after it; both NULL when it has none), and as a
 * message quotes it. */
struct item {
	const char *tok, *eq, *val;
	size_t len, vlen;
	char show[SHOW];
};

/* The next item of text[*pos..len): 0 at the end. */
static int next_item(const char *text, size_t len, size_t *pos, struct item *it)
{
	if (!next_token(text, len, pos, &it->tok, &it->len))
		return 0;
	deis_printable(it->show, sizeof(it->show), it->tok, it->len);
	it->eq = memchr(it->tok, '=', it->len);
	it->val = it->eq ? it->eq + 1 : NULL;
	it->vlen = it->eq ? it->len - (size_t)(it->val - it->tok) : 0;
	return 1;
}

/* Copies s[0..n) into a C string of size dst_size; -1 when it is longer. */
static int copy_str(char *dst, size_t dst_size, const char *s, size_t n)
{
	if (n >= dst_size)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* ---- sorted, repeat-free key/value lists (formation, limits) ---- */

struct kvrec {
	char key[40];		/* type (<= 30) "." resource (<= 6) */
	char value[24];		/* canonical number */
};

static int kvrec_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kvrec *)a)->key,
		      ((const struct kvrec *)b)->key);
}

/* Unless rc says an item was refused already: sorts the records, refuses
 * a key given twice, and replaces out with them.  Releases recs either
 * way; returns rc or the new error. */
static int rec_finish(struct deis_buf *recs, int rc, const char *what,
		      struct deis_kvlist *out, struct deis_error *err)
{
	struct kvrec *r = (struct kvrec *)recs->data;
	size_t n = recs->len / sizeof(*r);
	struct deis_buf view = DEIS_BUF_INIT;
	struct deis_kvlist vl;

	if (rc < 0)
		goto out;
	if (n > 1)
		qsort(r, n, sizeof(*r), kvrec_cmp);
	for (size_t i = 0; i < n; i++) {
		struct deis_kv kv = { r[i].key, r[i].value };

		if (i + 1 < n && !strcmp(r[i].key, r[i + 1].key)) {
			rc = deis_error_set(err, EINVAL, "%s: '%s' is given twice",
					    what, r[i].key);
			goto out;
		}
		deis_buf_add(&view, &kv, sizeof(kv));
	}
	vl.items = (struct deis_kv *)view.data;
	vl.n = vl.cap = n;
	deis_kvlist_copy(out, &vl);
out:
	deis_buf_release(&view);
	deis_buf_release(recs);
	return rc;
}

/* One item of a key/value list into its record (key and canonical
 * value); -EINVAL naming the item otherwise. */
typedef int kv_item_fn(const struct item *it, struct kvrec *r, struct deis_error *err);

/* A key/value list: each item into a record by item(), then the records
 * sorted and checked for a key given twice into out. */
static int kv_parse(const char *what, kv_item_fn *item, const char *text, size_t len,
		    struct deis_kvlist *out, struct deis_error *err)
{
	struct deis_buf recs = DEIS_BUF_INIT;
	size_t pos = 0;
	struct kvrec r;
	struct item it;
	int rc = check_input(what, text, len, err);

	while (rc == 0 && next_item(text, len, &pos, &it)) {
		rc = item(&it, &r, err);
		if (rc == 0)
			deis_buf_add(&recs, &r, sizeof(r));
	}
	return rec_finish(&recs, rc, what, out, err);
}

/* The process type an item names in tok[0..n), into type[32]. */
static int item_type(const char *what, const struct item *it, size_t n, char type[32],
		     struct deis_error *err)
{
	if (copy_str(type, 32, it->tok, n) == 0 && deis_valid_proc_type(type))
		return 0;
	return deis_error_set(err, EINVAL,
			      "%s: '%s': not a valid process type: [a-z][a-z0-9_-]{0,29}, not \"run\"",
			      what, it->show);
}

void deis_keyvalue_lines_format(const struct deis_kvlist *l, struct deis_buf *out)
{
	for (size_t i = 0; i < l->n; i++)
		deis_buf_addf(out, "%s=%s\n", l->items[i].key, l->items[i].value);
}

/* ---- formation ---- */

/* type=N */
static int formation_item(const struct item *it, struct kvrec *r, struct deis_error *err)
{
	unsigned long long qty;
	int rc;

	if (!it->eq)
		return deis_error_set(err, EINVAL,
				      "formation: '%s': expected type=N, such as web=2", it->show);
	rc = item_type("formation", it, (size_t)(it->eq - it->tok), r->key, err);
	if (rc < 0)
		return rc;
	if (number_uint(it->val, it->vlen, DEIS_FORMATION_MAX_QTY, &qty) < 0)
		return deis_error_set(err, EINVAL,
				      "formation: '%s': quantity must be a number from 0 to %d",
				      it->show, DEIS_FORMATION_MAX_QTY);
	snprintf(r->value, sizeof(r->value), "%llu", qty);
	return 0;
}

int deis_formation_parse(const char *text, size_t len,
			 struct deis_kvlist *out, struct deis_error *err)
{
	return kv_parse("formation", formation_item, text, len, out, err);
}

void deis_formation_format(const struct deis_kvlist *f, struct deis_buf *out)
{
	deis_keyvalue_lines_format(f, out);
}

/* ---- limits ---- */

/* Bytes of "512M", "1g", "4194304" from 4M to 1024G; -1 otherwise. */
static long long memory_parse(const char *s, size_t n)
{
	long long v = number_bytes(s, n, "KMG", MEMORY_MAX);

	return v < MEMORY_MIN ? -1 : v;
}

/* Millicores of "0.5", "2", ".25", "1.125" from 0.01 to 256; -1
 * otherwise. */
static long cpu_parse(const char *s, size_t n)
{
	long long m = number_thousandths(s, n, CPU_MAX);

	return m < CPU_MIN ? -1 : (long)m;
}

long long deis_limits_memory_bytes(const char *value)
{
	return value ? memory_parse(value, strlen(value)) : -1;
}

long deis_limits_cpu_millis(const char *value)
{
	return value ? cpu_parse(value, strlen(value)) : -1;
}

/* type.resource=value */
static int limits_item(const struct item *it, struct kvrec *r, struct deis_error *err)
{
	const char *dot = it->eq ? memchr(it->tok, '.', (size_t)(it->eq - it->tok)) : NULL;
	char type[32], res[8];
	unsigned long long pids;
	int rc;

	if (!dot)
		return deis_error_set(err, EINVAL,
				      "limits: '%s': expected type.resource=value, such as web.memory=512M (resources: memory, cpu, pids)",
				      it->show);
	rc = item_type("limits", it, (size_t)(dot - it->tok), type, err);
	if (rc < 0)
		return rc;
	if (copy_str(res, sizeof(res), dot + 1, (size_t)(it->eq - dot - 1)) < 0 ||
	    (strcmp(res, "memory") && strcmp(res, "cpu") && strcmp(res, "pids")))
		return deis_error_set(err, EINVAL,
				      "limits: '%s': unknown resource (resources: memory, cpu, pids)",
				      it->show);
	snprintf(r->key, sizeof(r->key), "%s.%s", type, res);
	if (!strcmp(res, "memory")) {
		long long b = memory_parse(it->val, it->vlen);

		if (b < 0)
			return deis_error_set(err, EINVAL,
					      "limits: '%s': memory must be bytes with an optional K, M or G suffix, from 4M to 1024G",
					      it->show);
		number_bytes_format(b, "KMG", r->value, sizeof(r->value));
	} else if (!strcmp(res, "cpu")) {
		long m = cpu_parse(it->val, it->vlen);

		if (m < 0)
			return deis_error_set(err, EINVAL,
					      "limits: '%s': cpu must be cores from 0.01 to 256, with at most 3 decimals",
					      it->show);
		number_thousandths_format(m, r->value, sizeof(r->value));
	} else {
		if (number_uint(it->val, it->vlen, PIDS_MAX, &pids) < 0 || pids < PIDS_MIN)
			return deis_error_set(err, EINVAL,
					      "limits: '%s': pids must be a whole number from %d to %d",
					      it->show, PIDS_MIN, PIDS_MAX);
		snprintf(r->value, sizeof(r->value), "%llu", pids);
	}
	return 0;
}

int deis_limits_parse(const char *text, size_t len, struct deis_kvlist *out,
		      struct deis_error *err)
{
	return kv_parse("limits", limits_item, text, len, out, err);
}

void deis_limits_format(const struct deis_kvlist *l, struct deis_buf *out)
{
	deis_keyvalue_lines_format(l, out);
}

/* ---- domains, perms ---- */

static int strp_cmp(const void *a, const void *b)
{
	char *const *x = *(char *const *const *)a;
	char *const *y = *(char *const *const *)b;
	int c = strcmp(*x, *y);

	/* Equal strings in list order, so the first one is kept. */
	if (c)
		return c;
	return x < y ? -1 : x > y;
}

/* Appends to out the items of in, each once, in the order of their first
 * appearance: sort pointers, mark the later copies, then walk in order. */
static void dedupe(const struct deis_strlist *in, struct deis_strlist *out)
{
	struct deis_buf ptrs = DEIS_BUF_INIT, dup = DEIS_BUF_INIT;
	char *const **p;
	size_t n = in->n;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char *const *ip = &in->items[i];

		deis_buf_add(&ptrs, &ip, sizeof(ip));
	}
	deis_buf_grow(&dup, n);
	memset(dup.data, 0, n);
	p = (char *const **)ptrs.data;
	qsort(p, n, sizeof(*p), strp_cmp);
	for (size_t j = 1; j < n; j++)
		if (!strcmp(*p[j], *p[j - 1]))
			dup.data[p[j] - in->items] = 1;
	for (size_t i = 0; i < n; i++)
		if (!dup.data[i])
			deis_strlist_add(out, in->items[i]);
	deis_buf_release(&ptrs);
	deis_buf_release(&dup);
}

/* A list of names, one grammar each (what, how long a name may be, whether
 * it is compared in lower case, its check and how a message names it,
 * how many there may be). */
struct name_list {
	const char *what;
	size_t size;			/* the longest name + 1 */
	bool lower;			/* DNS names are case-insensitive */
	bool (*valid)(const char *name);
	const char *grammar;
	size_t max;			/* 0: no limit */
};

static const struct name_list domain_list = {
	"domains", 256, true, deis_valid_domain,
	"host name: labels of a-z, 0-9 and '-' separated by dots, at least two, optionally starting with \"*.\"",
	MAX_DOMAINS,
};

static const struct name_list perm_list = {
	"perms", 40, false, deis_valid_user_name,
	"user name: [a-z_][a-z0-9_-]{0,31}", 0,
};

static int names_parse(const struct name_list *g, const char *text, size_t len,
		       struct deis_strlist *out, struct deis_error *err)
{
	struct deis_strlist all = DEIS_STRLIST_INIT, uniq = DEIS_STRLIST_INIT;
	const char *tok;
	size_t tl, pos = 0;
	char name[256], show[SHOW];
	int rc;

	rc = check_input(g->what, text, len, err);
	if (rc < 0)
		return rc;
	while (next_token(text, len, &pos, &tok, &tl)) {
		if (copy_str(name, g->size, tok, tl) == 0 && g->lower) {
			for (char *c = name; *c; c++)
				if (*c >= 'A' && *c <= 'Z')
					*c = (char)(*c - 'A' + 'a');
		}
		if (tl >= g->size || !g->valid(name)) {
			rc = deis_error_set(err, EINVAL, "%s: '%s' is not a valid %s",
					    g->what, deis_printable(show, sizeof(show), tok, tl),
					    g->grammar);
			goto out;
		}
		deis_strlist_add(&all, name);
	}
	dedupe(&all, &uniq);
	if (g->max && uniq.n > g->max) {
		rc = deis_error_set(err, EINVAL, "%s: %zu %s given, at most %zu",
				    g->what, uniq.n, g->what, g->max);
		goto out;
	}
	deis_strlist_copy(out, &uniq);
out:
	deis_strlist_clear(&all);
	deis_strlist_clear(&uniq);
	return rc;
}

int deis_domains_parse(const char *text, size_t len, struct deis_strlist *out,
		       struct deis_error *err)
{
	return names_parse(&domain_list, text, len, out, err);
}

int deis_perms_parse(const char *text, size_t len, struct deis_strlist *out,
		     struct deis_error *err)
{
	return names_parse(&perm_list, text, len, out, err);
}

void deis_lines_format(const struct deis_strlist *l, struct deis_buf *out)
{
	for (size_t i = 0; i < l->n; i++) {
		deis_buf_adds(out, l->items[i]);
		deis_buf_addch(out, '\n');
	}
}

/* ---- healthcheck ---- */

int deis_healthcheck_parse(const char *text, size_t len,
			   struct deis_kvlist *out, struct deis_error *err)
{
	static const char *const names[] = { "path", "timeout", "interval" };
	char vals[3][HEALTH_PATH_MAX + 1];
	bool seen[3] = { false, false, false };
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	size_t pos = 0, k;
	unsigned long long secs;
	struct item it;
	int rc;

	rc = check_input("healthcheck", text, len, err);
	if (rc < 0)
		return rc;
	while (next_item(text, len, &pos, &it)) {
		for (k = 0; it.eq && k < 3; k++)
			if ((size_t)(it.eq - it.tok) == strlen(names[k]) &&
			    !memcmp(it.tok, names[k], (size_t)(it.eq - it.tok)))
				break;
		if (!it.eq || k == 3)
			return deis_error_set(err, EINVAL,
					      "healthcheck: '%s': expected path=/..., timeout=N or interval=N",
					      it.show);
		if (seen[k])
			return deis_error_set(err, EINVAL,
					      "healthcheck: '%s' is given twice", names[k]);
		if (k == 0) {
			bool ok = it.vlen >= 1 && it.vlen <= HEALTH_PATH_MAX &&
				  it.val[0] == '/';

			/* White space never reaches here: it separates items. */
			for (size_t i = 0; ok && i < it.vlen; i++)
				ok = it.val[i] > ' ' && it.val[i] <= '~';
			if (!ok)
				return deis_error_set(err, EINVAL,
						      "healthcheck: '%s': path must start with '/' and be printable ASCII without blanks, at most %d bytes",
						      it.show, HEALTH_PATH_MAX);
			memcpy(vals[0], it.val, it.vlen);
			vals[0][it.vlen] = '\0';
		} else {
			if (number_uint(it.val, it.vlen, HEALTH_SECS_MAX, &secs) < 0 ||
			    secs < 1)
				return deis_error_set(err, EINVAL,
						      "healthcheck: '%s': %s must be seconds from 1 to %d",
						      it.show, names[k], HEALTH_SECS_MAX);
			snprintf(vals[k], sizeof(vals[k]), "%llu", secs);
		}
		seen[k] = true;
	}
	for (k = 0; k < 3; k++)
		if (seen[k])
			deis_kvlist_set(&l, names[k], vals[k]);
	deis_kvlist_copy(out, &l);
	deis_kvlist_clear(&l);
	return 0;
}

/* ---- maintenance, rollback ---- */

/* A one-word file: its text checked, then without surrounding white
 * space. */
static int word_input(const char *what, const char **text, size_t *len,
		      struct deis_error *err)
{
	const char *s = *text;
	size_t n = *len;
	int rc = check_input(what, s, n, err);

	while (n && is_space(*s)) {
		s++;
		n--;
	}
	while (n && is_space(s[n - 1]))
		n--;
	*text = s;
	*len = n;
	return rc;
}

/* ASCII case-insensitive equality of s[0..n) and the lower-case word w. */
static bool word_is(const char *s, size_t n, const char *w)
{
	if (n != strlen(w))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != w[i])
			return false;
	}
	return true;
}

int deis_onoff_parse(const char *text, size_t len, bool *out,
		     struct deis_error *err)
{
	static const char *const on[] = { "on", "1", "true", "yes" };
	static const char *const off[] = { "off", "0", "false", "no" };
	char show[SHOW];
	int rc = word_input("maintenance", &text, &len, err);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < 4; i++) {
		if (word_is(text, len, on[i])) {
			*out = true;
			return 0;
		}
		if (word_is(text, len, off[i])) {
			*out = false;
			return 0;
		}
	}
	return deis_error_set(err, EINVAL,
			      "maintenance: '%s': expected on or off (or 1/0, true/false, yes/no)",
			      deis_printable(show, sizeof(show), text, len));
}

int deis_version_parse(const char *text, size_t len, int *out,
		       struct deis_error *err)
{
	const char *s;
	size_t n;
	unsigned long long v;
	char show[SHOW];
	int rc = word_input("rollback", &text, &len, err);

	if (rc < 0)
		return rc;
	s = text;
	n = len;
	if (n && (*s == 'v' || *s == 'V')) {
		s++;
		n--;
	}
	if (number_uint(s, n, INT_MAX, &v) < 0 || v < 1)
		return deis_error_set(err, EINVAL,
				      "rollback: '%s': expected a release version such as v3",
				      deis_printable(show, sizeof(show), text, len));
	*out = (int)v;
	return 0;
}
