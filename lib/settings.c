/*
 * settings.c - an app's settings as data: the table of settings, their
 * parsers, the accessors of the model's stored values, and autoscale's
 * policy.  See include/deis/settings.h.
 *
 * healthcheck and maintenance parse with lib/format.c's parsers (the same
 * grammar and messages as before they were rows); autoscale's grammar is
 * here:
 *
 *   web=2..10 cpu=70 worker=1..4
 *
 * Items are separated by blanks or newlines.  TYPE=MIN..MAX starts a
 * process type's rule (1 <= MIN <= MAX <= 1000); cpu=PERCENT (1..100, an
 * optional '%') sets the target average CPU of the rule before it, 70
 * when left out, as Deis's `autoscale:set web --min 2 --max 10
 * --cpu-percent 70` and Kubernetes' HPA do.  An item with ".." is always a
 * rule, so even a process type named cpu can be autoscaled.  A type given
 * twice is refused, as in formation.  The canonical value is one rule per
 * line, sorted by type, with its cpu: "web=2..10 cpu=70\nworker=1..4
 * cpu=70".  Whether the type is in the Procfile is not checked: a rule for
 * a type the app does not run is kept and does nothing, so a rule may be
 * written before the first push.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/model.h"
#include "deis/settings.h"
#include "deis/validate.h"

#define SHOW			80	/* bytes of user input quoted in a message */
#define AUTOSCALE_CPU_DEFAULT	70
#define AUTOSCALE_BAND		0.1	/* the policy's hysteresis: +-10% */

/* ---- the rows ---- */

/* The value, and a newline unless it is empty. */
static void format_text(const char *value, struct deis_buf *out)
{
	if (value[0])
		deis_buf_addf(out, "%s\n", value);
}

/* The canonical text of a key=value list, without its final newline. */
static void kv_value(const struct deis_kvlist *l, struct deis_buf *out)
{
	size_t from = out->len;

	deis_keyvalue_lines_format(l, out);
	if (out->len > from)
		out->data[--out->len] = '\0';
}

static int parse_healthcheck(const char *text, size_t len, struct deis_buf *out,
			     struct deis_error *err)
{
	struct deis_kvlist hc = DEIS_KVLIST_INIT;
	int rc = deis_healthcheck_parse(text, len, &hc, err);

	if (rc == 0)
		kv_value(&hc, out);
	deis_kvlist_clear(&hc);
	return rc;
}

static int parse_onoff(const char *text, size_t len, struct deis_buf *out,
		       struct deis_error *err)
{
	bool on;
	int rc = deis_onoff_parse(text, len, &on, err);

	if (rc == 0)
		deis_buf_adds(out, on ? "on" : "off");
	return rc;
}

static int parse_autoscale(const char *text, size_t len, struct deis_buf *out,
			   struct deis_error *err);

const struct deis_setting deis_settings[] = {
	{ .name = "healthcheck", .parse = parse_healthcheck, .format = format_text,
	  .help = "\"path=/healthz timeout=5\"", .def = "",
	  .doc_read = "`path=/healthz`, `timeout=5`, `interval=N` lines",
	  .doc_write = "replaces it; empty text clears it (the check is then a TCP connect "
		"to the port)" },
	{ .name = "maintenance", .parse = parse_onoff, .format = format_text,
	  .help = "on or off", .def = "off", .summary = "turned maintenance",
	  .doc_read = "`on` or `off`",
	  .doc_write = "`on`/`off` (also 1/0, yes/no, true/false); `on`: the router answers "
		"503 with a maintenance page" },
	{ .name = "autoscale", .parse = parse_autoscale, .format = format_text,
	  .help = "\"web=2..10 cpu=70\": 2 to 10 web, at 70% CPU each", .def = "",
	  .doc_read = "a rule per process type, one per line, sorted: `web=2..10 cpu=70`",
	  .doc_write = "replaces the rules; the scheduler keeps each type's count in its range "
		"(see \"Autoscale\" below)" },
};
const size_t deis_nsettings = sizeof(deis_settings) / sizeof(*deis_settings);

const struct deis_setting *deis_setting_find(const char *name)
{
	for (size_t i = 0; i < deis_nsettings; i++)
		if (!strcmp(deis_settings[i].name, name))
			return &deis_settings[i];
	return NULL;
}

/* ---- the model's stored values ---- */

static struct deis_app_setting *stored(const struct deis_app *app, const char *name)
{
	size_t i = 0;

	while (i < app->nsettings && strcmp(app->settings[i].name, name))
		i++;
	return i < app->nsettings ? &app->settings[i] : NULL;
}

const char *deis_app_setting(const struct deis_app *app, const char *name)
{
	const struct deis_app_setting *s = stored(app, name);
	const struct deis_setting *row;

	if (s)
		return s->value;
	row = deis_setting_find(name);
	return row ? row->def : NULL;
}

const char *deis_app_setting_kv(const struct deis_app *app, const char *name,
				const char *key)
{
	const struct deis_app_setting *s = stored(app, name);

	return s ? deis_kvlist_get(&s->lines, key) : NULL;
}

bool deis_app_setting_on(const struct deis_app *app, const char *name)
{
	const char *v = deis_app_setting(app, name);

	return v && !strcmp(v, "on");
}

int64_t deis_app_setting_mtime(const struct deis_app *app, const char *name)
{
	const struct deis_app_setting *s = stored(app, name);

	return s ? s->mtime : app->created;
}

static void setting_free(struct deis_app_setting *s)
{
	free(s->name);
	free(s->value);
	deis_kvlist_clear(&s->lines);
}

void deis_app_setting_put(struct deis_app *app, const char *name, const char *value,
			  int64_t mtime)
{
	struct deis_app_setting *s = stored(app, name);

	if (s) {
		setting_free(s);
	} else {
		s = realloc(app->settings, (app->nsettings + 1) * sizeof(*s));
		if (!s)
			abort();
		app->settings = s;
		s = &app->settings[app->nsettings++];
	}
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	s->value = strdup(value);
	if (!s->name || !s->value)
		abort();
	s->mtime = mtime;
	/* Its "key=rest" lines, so readers get a NUL-terminated piece
	 * without parsing (the scheduler's health check path). */
	for (const char *line = value; *line;) {
		const char *end = strchrnul(line, '\n'), *eq = memchr(line, '=', (size_t)(end - line));
		if (eq) {
			char *key = strndup(line, (size_t)(eq - line));
			if (!key)
				abort();
			deis_kvlist_setn(&s->lines, key, eq + 1, (size_t)(end - eq - 1));
			free(key);
		}
		line = *end ? end + 1 : end;
	}
}

void deis_app_settings_clear(struct deis_app *app)
{
	for (size_t i = 0; i < app->nsettings; i++)
		setting_free(&app->settings[i]);
	free(app->settings);
	app->settings = NULL;
	app->nsettings = 0;
}

/* ---- autoscale ---- */

/* s[0..n) as a number from 0 to max: digits only, leading zeros allowed;
 * s[n] must not be a digit. */
static bool number(const char *s, size_t n, int max, int *out)
{
	size_t z = 0;

	if (n == 0 || strspn(s, "0123456789") != n)
		return false;
	while (z + 1 < n && s[z] == '0')
		z++;
	if (n - z > 6)
		return false;
	*out = atoi(s + z);
	return *out <= max;
}

static int by_type(const void *a, const void *b)
{
	return strcmp(((const struct deis_autoscale *)a)->type,
		      ((const struct deis_autoscale *)b)->type);
}

/* One item of the text: a new rule (rules has room for it) or the cpu of
 * the last one (rules[*n - 1]). */
static int autoscale_item(char *tok, struct deis_autoscale *rules, size_t *n,
			  struct deis_error *err)
{
	char show[SHOW];
	char *eq = strchr(tok, '='), *val = eq ? eq + 1 : NULL;
	const char *dots = val ? strstr(val, "..") : NULL;
	int pct;

	deis_printable(show, sizeof(show), tok, strlen(tok));
	if (dots) {
		struct deis_autoscale *r = &rules[*n];
		*eq = '\0';
		if (!deis_valid_proc_type(tok))
			return deis_error_set(err, EINVAL, "autoscale: '%s': not a process type",
					      show);
		if (!number(val, (size_t)(dots - val), DEIS_FORMATION_MAX_QTY, &r->min) ||
		    !number(dots + 2, strlen(dots + 2), DEIS_FORMATION_MAX_QTY, &r->max) ||
		    r->min < 1 || r->max < r->min)
			return deis_error_set(err, EINVAL, "autoscale: '%s': expected TYPE=MIN..MAX "
					      "with 1 <= MIN <= MAX <= %d", show,
					      DEIS_FORMATION_MAX_QTY);
		snprintf(r->type, sizeof(r->type), "%s", tok);
		r->cpu = 0;
		(*n)++;
		return 0;
	}
	struct deis_autoscale *cur = *n ? &rules[*n - 1] : NULL;
	if (!eq || (size_t)(eq - tok) != 3 || strncmp(tok, "cpu", 3))
		return deis_error_set(err, EINVAL, "autoscale: '%s': expected TYPE=MIN..MAX, "
				      "then cpu=PERCENT (web=2..10 cpu=70)", show);
	if (!cur)
		return deis_error_set(err, EINVAL, "autoscale: '%s': cpu= follows the "
				      "TYPE=MIN..MAX it is for", show);
	if (cur->cpu)
		return deis_error_set(err, EINVAL, "autoscale: '%s': cpu is given twice "
				      "for '%s'", show, cur->type);
	size_t vl = strlen(val);
	if (vl && val[vl - 1] == '%')
		vl--;
	if (!number(val, vl, 100, &pct) || pct < 1)
		return deis_error_set(err, EINVAL, "autoscale: '%s': cpu must be a "
				      "percentage from 1 to 100", show);
	cur->cpu = pct;
	return 0;
}

static int parse_autoscale(const char *text, size_t len, struct deis_buf *out,
			   struct deis_error *err)
{
	struct deis_autoscale *rules = NULL;
	size_t n = 0, cap = 0;
	char *copy, *save = NULL;
	int rc = 0;

	if (len > DEIS_CONTROL_MAX)
		return deis_error_set(err, EINVAL, "autoscale: too long (%zu bytes, at most %d)",
				      len, DEIS_CONTROL_MAX);
	if (memchr(text, '\0', len))
		return deis_error_set(err, EINVAL, "autoscale: contains a NUL byte");
	copy = strndup(text, len);
	if (!copy)
		abort();
	for (char *tok = strtok_r(copy, " \t\n\r\v\f", &save); tok && rc == 0;
	     tok = strtok_r(NULL, " \t\n\r\v\f", &save)) {
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			rules = realloc(rules, cap * sizeof(*rules));
			if (!rules)
				abort();
		}
		rc = autoscale_item(tok, rules, &n, err);
	}
	if (rc == 0 && n)
		qsort(rules, n, sizeof(*rules), by_type);
	for (size_t i = 1; rc == 0 && i < n; i++)
		if (!strcmp(rules[i].type, rules[i - 1].type))
			rc = deis_error_set(err, EINVAL, "autoscale: '%s' is given twice",
					    rules[i].type);
	for (size_t i = 0; rc == 0 && i < n; i++)
		deis_buf_addf(out, "%s%s=%d..%d cpu=%d", i ? "\n" : "", rules[i].type,
			      rules[i].min, rules[i].max,
			      rules[i].cpu ? rules[i].cpu : AUTOSCALE_CPU_DEFAULT);
	free(rules);
	free(copy);
	return rc;
}

int deis_autoscale_rule(const struct deis_app *app, const char *type,
			struct deis_autoscale *out)
{
	const char *rest = deis_app_setting_kv(app, "autoscale", type);
	struct deis_autoscale r;

	/* The stored value is canonical: "2..10 cpu=70". */
	if (!rest || sscanf(rest, "%d..%d cpu=%d", &r.min, &r.max, &r.cpu) != 3)
		return 0;
	snprintf(r.type, sizeof(r.type), "%s", type);
	*out = r;
	return 1;
}

/* The least whole count >= x, for 0 <= x <= limit (else limit). */
static int ceil_count(double x, int limit)
{
	int k;

	if (!(x < limit))
		return limit;
	k = (int)x;
	return k < x ? k + 1 : k;
}

int deis_autoscale_count(const struct deis_autoscale *rule, int current, double cpu)
{
	int n = current;
	double target = rule->cpu;

	if (n >= 1 && cpu >= 0) {	/* false for NaN too */
		double load = (double)n * cpu;	/* in percent of one container */
		if (cpu > target * (1 + AUTOSCALE_BAND)) {
			n = ceil_count(load / target, rule->max);
		} else if (cpu < target * (1 - AUTOSCALE_BAND)) {
			int fewer = ceil_count(load / (target * (1 - AUTOSCALE_BAND)), rule->max);
			if (fewer < n)
				n = fewer;
		}
	}
	if (n < rule->min)
		return rule->min;
	return n > rule->max ? rule->max : n;
}
