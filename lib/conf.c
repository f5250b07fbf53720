/* conf.c - see include/deis/conf.h. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deis/conf.h"

struct deis_common_conf deis_conf;

static const struct deis_conf_option *find(const struct deis_conf_option *opts,
					   const char *name)
{
	for (; opts->name; opts++)
		if (!strcmp(opts->name, name))
			return opts;
	return NULL;
}

static int set_one(const struct deis_conf_option *o, const char *value,
		   struct deis_error *err)
{
	char *end;

	switch (o->type) {
	case DEIS_CONF_STR: {
		char **p = o->var;
		free(*p);
		*p = strdup(value);
		return 0;
	}
	case DEIS_CONF_INT: {
		errno = 0;
		long v = strtol(value, &end, 10);
		if (errno || end == value || *end || v < -2147483647L || v > 2147483647L)
			return deis_error_set(err, EINVAL, "%s: '%s' is not an integer",
					      o->name, value);
		*(int *)o->var = (int)v;
		return 0;
	}
	case DEIS_CONF_DOUBLE: {
		errno = 0;
		double v = strtod(value, &end);
		if (errno || end == value || *end)
			return deis_error_set(err, EINVAL, "%s: '%s' is not a number",
					      o->name, value);
		*(double *)o->var = v;
		return 0;
	}
	case DEIS_CONF_BOOL:
		if (!strcasecmp(value, "yes") || !strcasecmp(value, "on") ||
		    !strcasecmp(value, "true") || !strcmp(value, "1"))
			*(int *)o->var = 1;
		else if (!strcasecmp(value, "no") || !strcasecmp(value, "off") ||
			 !strcasecmp(value, "false") || !strcmp(value, "0"))
			*(int *)o->var = 0;
		else
			return deis_error_set(err, EINVAL, "%s: '%s' is not yes or no",
					      o->name, value);
		return 0;
	}
	return deis_error_set(err, EINVAL, "%s: unknown option type", o->name);
}

void deis_conf_defaults(const struct deis_conf_option *opts)
{
	for (; opts->name; opts++)
		set_one(opts, opts->def, NULL);
}

int deis_conf_set(const struct deis_conf_option *opts, const char *name,
		  const char *value, struct deis_error *err)
{
	const struct deis_conf_option *o = find(opts, name);

	if (!o)
		return deis_error_set(err, ENOENT, "unknown option '%s'", name);
	return set_one(o, value, err);
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

int deis_conf_load(const struct deis_conf_option *opts, const char *path,
		   int must_exist, struct deis_error *err)
{
	FILE *f = fopen(path, "re");
	char line[4096];
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
		int r = deis_conf_set(opts, name, value, err);
		/* One file serves every binary: a name this one does not
		 * know belongs to another, and is not an error here. */
		if (r == -ENOENT)
			continue;
		if (r < 0) {
			fclose(f);
			return deis_error_prefix(err, "%s:%d", path, lineno);
		}
	}
	fclose(f);
	return 0;
}

void deis_conf_usage(const struct deis_conf_option *opts, FILE *out)
{
	for (; opts->name; opts++) {
		int n = fprintf(out, "  --%s=VALUE", opts->name);
		fprintf(out, "%*s%s", n < 28 ? 28 - n : 1, "", opts->help);
		if (opts->def && *opts->def)
			fprintf(out, " (default: %s)", opts->def);
		fputc('\n', out);
	}
}

void deis_conf_free(const struct deis_conf_option *opts)
{
	for (; opts->name; opts++)
		if (opts->type == DEIS_CONF_STR) {
			free(*(char **)opts->var);
			*(char **)opts->var = NULL;
		}
}

/*
 * The command line of every binary: --config=FILE (or --config FILE)
 * names the file (default $DEIS_HOME/deis.conf, else
 * /var/lib/deis/deis.conf); defaults, then the file, then --name=value
 * options, which win.  Arguments that are not --name=value are left in
 * argv (in order) for the caller, e.g. FUSE's -f and the mount point.
 */
static char conf_path[4096];

const char *deis_conf_path(void)
{
	return conf_path;
}

int deis_conf_args(const struct deis_conf_option *opts, int *argc, char **argv,
		   struct deis_error *err)
{
	const char *path = NULL;
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		char *a = argv[i];
		if (!strncmp(a, "--config=", 9)) {
			path = a + 9;
		} else if (!strcmp(a, "--config") && i + 1 < *argc) {
			path = argv[++i];
		} else {
			argv[out++] = a;
		}
	}
	*argc = out;
	argv[out] = NULL;
	if (path) {
		snprintf(conf_path, sizeof(conf_path), "%s", path);
	} else {
		const char *home = getenv("DEIS_HOME");
		snprintf(conf_path, sizeof(conf_path), "%s/deis.conf",
			 home && *home ? home : "/var/lib/deis");
	}
	deis_conf_defaults(opts);
	int r = deis_conf_load(opts, conf_path, 0, err);
	if (r < 0)
		return r;
	out = 1;
	for (int i = 1; i < *argc; i++) {
		char *a = argv[i];
		char *eq = strchr(a, '=');
		if (strncmp(a, "--", 2) || !eq) {
			argv[out++] = a;
			continue;
		}
		*eq = '\0';
		r = deis_conf_set(opts, a + 2, eq + 1, err);
		*eq = '=';
		if (r < 0)
			return deis_error_prefix(err, "%s", a);
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int deis_conf_cli(const struct deis_conf_option *opts, const char *program,
		  void (*usage)(FILE *out), int *argc, char **argv, int allow_args)
{
	struct deis_error err = DEIS_ERROR_INIT;

	for (int i = 1; i < *argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(argv[i], "--version")) {
			printf("%s %s\n", program, DEIS_VERSION);
			exit(0);
		}
	}
	if (deis_conf_args(opts, argc, argv, &err) < 0) {
		fprintf(stderr, "%s: %s\n", program, err.msg);
		return -1;
	}
	if (!allow_args && *argc > 1) {
		fprintf(stderr, "%s: unknown argument '%s' (see --help)\n", program, argv[1]);
		return -1;
	}
	return 0;
}
