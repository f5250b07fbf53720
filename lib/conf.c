/*
 * conf.c - see include/deis/conf.h.
 *
 * One parser serves the file and the command line (assign()); it writes
 * either into the options' variables (deis_conf_set, deis_conf_load) or
 * into a set of values held apart (deis_conf_read), which a daemon's
 * reload puts in force only once the whole of it is known to be good.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "deis/conf.h"

struct deis_common_conf deis_conf;

/* One option's value, wherever it is held. */
union value {
	char *s;
	int i;
	double d;
};

struct deis_conf_values {
	const struct deis_conf_option *opts;
	size_t n;
	union value *v;
};

/* Where assign() writes: the options' variables (vals NULL) or a set of
 * values; deprecated names used are noted in notes (when not NULL). */
struct target {
	const struct deis_conf_option *opts;
	union value *vals;
	struct deis_strlist *notes;
};

/* Strings that were in force once: kept until deis_conf_free(), since a
 * thread may still read one after a reload replaced it. */
static char **retired;
static size_t nretired, capretired;

static void *xalloc(void *p)
{
	if (!p)
		abort();
	return p;
}

static enum deis_conf_type type_of(const struct deis_conf_option *o)
{
	return (enum deis_conf_type)(o->type & 0xff);
}

static const struct deis_conf_option *find(const struct deis_conf_option *opts,
					   const char *name)
{
	for (; opts->name; opts++)
		if (!strcmp(opts->name, name))
			return opts;
	return NULL;
}

static void *slot(const struct target *t, const struct deis_conf_option *o)
{
	return t->vals ? (void *)&t->vals[o - t->opts] : o->var;
}

/* Parses value for o into dst (a char **, int * or double *). */
static int parse(const struct deis_conf_option *o, const char *value, void *dst,
		 struct deis_error *err)
{
	char *end;

	switch (type_of(o)) {
	case DEIS_CONF_STR: {
		char **p = dst;
		free(*p);
		*p = xalloc(strdup(value));
		return 0;
	}
	case DEIS_CONF_INT: {
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < -2147483647L || v > 2147483647L)
			return deis_error_set(err, EINVAL, "%s: '%s' is not an integer",
					      o->name, value);
		*(int *)dst = (int)v;
		return 0;
	}
	case DEIS_CONF_DOUBLE: {
		errno = 0;
		double v = strtod(value, &end);
		if (errno || end == value || *end)
			return deis_error_set(err, EINVAL, "%s: '%s' is not a number",
					      o->name, value);
		*(double *)dst = v;
		return 0;
	}
	case DEIS_CONF_BOOL:
		if (!strcasecmp(value, "yes") || !strcasecmp(value, "on") ||
		    !strcasecmp(value, "true") || !strcmp(value, "1"))
			*(int *)dst = 1;
		else if (!strcasecmp(value, "no") || !strcasecmp(value, "off") ||
			 !strcasecmp(value, "false") || !strcmp(value, "0"))
			*(int *)dst = 0;
		else
			return deis_error_set(err, EINVAL, "%s: '%s' is not yes or no",
					      o->name, value);
		return 0;
	case DEIS_CONF_ALIAS:
		break;
	}
	return deis_error_set(err, EINVAL, "%s: unknown option type", o->name);
}

/* Sets the option called name (where names the line, for notes). */
static int assign(const struct target *t, const char *name, const char *value,
		  const char *where, struct deis_error *err)
{
	const struct deis_conf_option *o = find(t->opts, name);

	if (o && type_of(o) == DEIS_CONF_ALIAS) {
		if (t->notes) {
			char note[512];
			snprintf(note, sizeof(note), "%s: %s is deprecated: use %s", where, name,
				 o->def);
			deis_strlist_add(t->notes, note);
		}
		o = find(t->opts, o->def);
	}
	if (!o)
		return deis_error_set(err, ENOENT, "unknown option '%s'", name);
	return parse(o, value, slot(t, o), err);
}

static void defaults(const struct target *t)
{
	for (const struct deis_conf_option *o = t->opts; o->name; o++)
		if (type_of(o) != DEIS_CONF_ALIAS)
			parse(o, o->def, slot(t, o), NULL);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int load(const struct target *t, const char *path, int must_exist,
		struct deis_error *err)
{
	FILE *f = fopen(path, "re");
	char line[4096], where[4200];
	int lineno = 0;

	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			fclose(f);
			return deis_error_set(err, EINVAL, "%s:%d: expected name = value",
					      path, lineno);
		}
		*eq = '\0';
		char *name = trim(s), *value = trim(eq + 1);
		size_t vn = strlen(value);
		if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
			value[vn - 1] = '\0';
			value++;
		}
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		int r = assign(t, name, value, where, err);
		/* One file serves every binary: a name this one does not
		 * know belongs to another, and is not an error here. */
		if (r == -ENOENT)
			continue;
		if (r < 0) {
			fclose(f);
			return deis_error_prefix(err, "%s", where);
		}
	}
	fclose(f);
	return 0;
}

/* The --name=value arguments, in order; an unknown name is an error. */
static int set_args(const struct target *t, char *const *sets, int nsets,
		    struct deis_error *err)
{
	for (int i = 0; i < nsets; i++) {
		char name[256];
		const char *eq = strchr(sets[i], '=');
		snprintf(name, sizeof(name), "%.*s", (int)(eq - sets[i] - 2), sets[i] + 2);
		if (assign(t, name, eq + 1, sets[i], err) < 0)
			return deis_error_prefix(err, "%s", sets[i]);
	}
	return 0;
}

void deis_conf_defaults(const struct deis_conf_option *opts)
{
	defaults(&(struct target){ opts, NULL, NULL });
}

int deis_conf_set(const struct deis_conf_option *opts, const char *name,
		  const char *value, struct deis_error *err)
{
	return assign(&(struct target){ opts, NULL, NULL }, name, value, "", err);
}

int deis_conf_load(const struct deis_conf_option *opts, const char *path,
		   int must_exist, struct deis_error *err)
{
	return load(&(struct target){ opts, NULL, NULL }, path, must_exist, err);
}

void deis_conf_usage(const struct deis_conf_option *opts, FILE *out)
{
	for (; opts->name; opts++) {
		int n = fprintf(out, "  --%s=VALUE", opts->name);
		fprintf(out, "%*s%s", n < 28 ? 28 - n : 1, "", opts->help);
		if (type_of(opts) != DEIS_CONF_ALIAS && opts->def && *opts->def)
			fprintf(out, " (default: %s)", opts->def);
		if (opts->type & DEIS_CONF_RELOAD)
			fputs(" [SIGHUP]", out);
		fputc('\n', out);
	}
}

void deis_conf_free(const struct deis_conf_option *opts)
{
	for (; opts->name; opts++)
		if (type_of(opts) == DEIS_CONF_STR) {
			free(*(char **)opts->var);
			*(char **)opts->var = NULL;
		}
	for (size_t i = 0; i < nretired; i++)
		free(retired[i]);
	free(retired);
	retired = NULL;
	nretired = capretired = 0;
}

/* ---- the command line ---- */

static char conf_path[4096];

const char *deis_conf_path(void)
{
	return conf_path;
}

void deis_conf_cmdline(int *argc, char **argv, struct deis_conf_cmdline *out)
{
	int rest = 1, i = 1;

	memset(out, 0, sizeof(*out));
	out->sets = xalloc(calloc((size_t)*argc + 1, sizeof(*out->sets)));
	for (; i < *argc; i++) {
		char *a = argv[i];
		if (!strcmp(a, "--"))
			break;
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			out->help = 1;
		else if (!strcmp(a, "--version"))
			out->version = 1;
		else if (!strncmp(a, "--config=", 9))
			out->config = a + 9;
		else if (!strcmp(a, "--config") && i + 1 < *argc)
			out->config = argv[++i];
		else if (!strncmp(a, "--", 2) && strchr(a, '=') && strchr(a, '=') > a + 2)
			out->sets[out->nsets++] = a;
		else
			argv[rest++] = a;
	}
	for (; i < *argc; i++)
		argv[rest++] = argv[i];
	*argc = rest;
	argv[rest] = NULL;
	if (out->config) {
		snprintf(conf_path, sizeof(conf_path), "%s", out->config);
	} else {
		const char *home = getenv("DEIS_HOME");
		snprintf(conf_path, sizeof(conf_path), "%s/deis.conf",
			 home && *home ? home : "/var/lib/deis");
	}
	out->config = conf_path;
}

void deis_conf_cmdline_free(struct deis_conf_cmdline *cl)
{
	free(cl->sets);
	cl->sets = NULL;
	cl->nsets = 0;
}

/* ---- values held apart, and putting them in force ---- */

struct deis_conf_values *deis_conf_read(const struct deis_conf_option *opts,
					const char *path, int must_exist,
					char *const *sets, int nsets,
					struct deis_strlist *notes,
					struct deis_error *err)
{
	struct deis_conf_values *v = xalloc(calloc(1, sizeof(*v)));

	v->opts = opts;
	while (opts[v->n].name)
		v->n++;
	v->v = xalloc(calloc(v->n + 1, sizeof(*v->v)));
	struct target t = { opts, v->v, notes };
	defaults(&t);
	if (load(&t, path, must_exist, err) < 0 || set_args(&t, sets, nsets, err) < 0) {
		deis_conf_values_free(v);
		return NULL;
	}
	return v;
}

void deis_conf_values_free(struct deis_conf_values *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++)
		if (type_of(&v->opts[i]) == DEIS_CONF_STR)
			free(v->v[i].s);
	free(v->v);
	free(v);
}

static bool differs(const struct deis_conf_option *o, const union value *a)
{
	switch (type_of(o)) {
	case DEIS_CONF_STR: {
		const char *b = *(char **)o->var;
		return !b || strcmp(a->s, b);
	}
	case DEIS_CONF_INT:
	case DEIS_CONF_BOOL:
		return a->i != *(int *)o->var;
	case DEIS_CONF_DOUBLE:
		return a->d != *(double *)o->var;
	case DEIS_CONF_ALIAS:
		break;
	}
	return false;
}

static void swap(const struct deis_conf_option *o, union value *a)
{
	union value t = *a;

	switch (type_of(o)) {
	case DEIS_CONF_STR:
		a->s = *(char **)o->var;
		*(char **)o->var = t.s;
		break;
	case DEIS_CONF_INT:
	case DEIS_CONF_BOOL:
		a->i = *(int *)o->var;
		*(int *)o->var = t.i;
		break;
	case DEIS_CONF_DOUBLE:
		a->d = *(double *)o->var;
		*(double *)o->var = t.d;
		break;
	case DEIS_CONF_ALIAS:
		break;
	}
}

static void show(const struct deis_conf_option *o, const union value *a, char *out,
		 size_t len)
{
	switch (type_of(o)) {
	case DEIS_CONF_STR:
		snprintf(out, len, "'%s'", a->s ? a->s : "");
		break;
	case DEIS_CONF_INT:
		snprintf(out, len, "%d", a->i);
		break;
	case DEIS_CONF_BOOL:
		snprintf(out, len, "%s", a->i ? "yes" : "no");
		break;
	case DEIS_CONF_DOUBLE:
		snprintf(out, len, "%g", a->d);
		break;
	case DEIS_CONF_ALIAS:
		out[0] = '\0';
		break;
	}
}

static void retire(char *s)
{
	if (!s)
		return;
	if (nretired == capretired) {
		capretired = capretired ? capretired * 2 : 16;
		retired = xalloc(realloc(retired, capretired * sizeof(*retired)));
	}
	retired[nretired++] = s;
}

int deis_conf_apply(struct deis_conf_values *v, int reload,
		    int (*check)(struct deis_error *err), struct deis_strlist *notes,
		    struct deis_error *err)
{
	const struct deis_conf_option *opts = v->opts;
	bool *changed = xalloc(calloc(v->n + 1, sizeof(*changed)));
	struct deis_error ignored = DEIS_ERROR_INIT;
	char note[1200], was[400], now[400];
	int r = 0, waits = 0;

	/* Swapped: v then holds what was in force. */
	for (size_t i = 0; i < v->n; i++)
		if (type_of(&opts[i]) != DEIS_CONF_ALIAS && differs(&opts[i], &v->v[i])) {
			changed[i] = true;
			swap(&opts[i], &v->v[i]);
		}
	if (check && check(err) < 0) {
		r = -1;
		/* At start nothing was in force before: the caller exits. */
		for (size_t i = 0; i < v->n && reload; i++)
			if (changed[i])
				swap(&opts[i], &v->v[i]);
		if (reload)
			check(&ignored);
	}
	for (size_t i = 0; i < v->n && r == 0 && reload; i++) {
		if (!changed[i])
			continue;
		if (!(opts[i].type & DEIS_CONF_RELOAD)) {
			swap(&opts[i], &v->v[i]);
			waits++;
			snprintf(note, sizeof(note), "%s changed: the new value takes effect "
				 "at the next start", opts[i].name);
		} else {
			show(&opts[i], &v->v[i], was, sizeof(was));
			show(&opts[i], (const union value *)opts[i].var, now, sizeof(now));
			snprintf(note, sizeof(note), "%s: %s -> %s", opts[i].name, was, now);
		}
		if (notes)
			deis_strlist_add(notes, note);
	}
	if (waits && check)
		check(&ignored);
	/* What v holds now was in force at some point if it changed. */
	for (size_t i = 0; i < v->n; i++)
		if (changed[i] && type_of(&opts[i]) == DEIS_CONF_STR) {
			retire(v->v[i].s);
			v->v[i].s = NULL;
		}
	free(changed);
	deis_conf_values_free(v);
	return r;
}

bool deis_conf_in_admin_group(const char *user, gid_t gid)
{
	char buf[16384];
	struct group gr, *grp = NULL;
	gid_t groups[256];
	int ngroups = 256;

	if (!deis_conf.admin_group || !*deis_conf.admin_group)
		return false;
	if (getgrnam_r(deis_conf.admin_group, &gr, buf, sizeof(buf), &grp) || !grp)
		return false;
	if (gid == grp->gr_gid)
		return true;
	if (getgrouplist(user, gid, groups, &ngroups) < 0)
		return false;
	for (int i = 0; i < ngroups; i++)
		if (groups[i] == grp->gr_gid)
			return true;
	return false;
}
