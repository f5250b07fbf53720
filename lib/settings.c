/*
 * settings.c - an app's settings as data: the table of settings, their
 * parsers, and the accessors of the model's stored values.  See
 * include/deis/settings.h.
 *
 * healthcheck and maintenance parse with lib/format.c's parsers (the same
 * grammar and messages as before they were rows).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deis/model.h"
#include "deis/settings.h"
#include "deis/validate.h"

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

const struct deis_setting deis_settings[] = {
	{ .name = "healthcheck", .parse = parse_healthcheck, .format = format_text,
	  .help = "\"path=/healthz timeout=5\"", .def = "" },
	{ .name = "maintenance", .parse = parse_onoff, .format = format_text,
	  .help = "on or off", .def = "off", .summary = "turned maintenance" },
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
