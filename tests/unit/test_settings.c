/*
 * test_settings.c - unit tests of an app's settings as data
 * (lib/settings.c): each row's parser and formatter, the model's stored
 * values and their defaults, and docs/tree.md naming every setting.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/model.h"
#include "deis/settings.h"
#include "deis/validate.h"
#include "unit.h"

/* Writes s to setting name as a user would and returns what the file then
 * shows, or "ERR: <message>" (static buffer). */
static const char *as_file(const char *name, const char *s)
{
	static char out[4096];
	const struct deis_setting *row = deis_setting_find(name);
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf v = DEIS_BUF_INIT, f = DEIS_BUF_INIT;
	int rc = row->parse(s, strlen(s), &v, &err);

	if (rc < 0 && (rc != -EINVAL || err.code != EINVAL || v.len))
		snprintf(out, sizeof(out), "BAD CODE %d/%d: %s", rc, err.code, err.msg);
	else if (rc < 0)
		snprintf(out, sizeof(out), "ERR: %s", err.msg);
	else
		row->format(deis_buf_str(&v), &f);
	if (rc == 0)
		snprintf(out, sizeof(out), "%s", deis_buf_str(&f));
	deis_buf_release(&v);
	deis_buf_release(&f);
	return out;
}

/* The canonical value parse gives (what is stored). */
static const char *value(const char *name, const char *s)
{
	static char out[4096];
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf v = DEIS_BUF_INIT;

	if (deis_setting_find(name)->parse(s, strlen(s), &v, &err) < 0)
		snprintf(out, sizeof(out), "ERR: %s", err.msg);
	else
		snprintf(out, sizeof(out), "%s", deis_buf_str(&v));
	deis_buf_release(&v);
	return out;
}

static bool starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

TEST(table)
{
	CHECK(deis_nsettings >= 2);
	CHECK(deis_setting_find("healthcheck") != NULL);
	CHECK(deis_setting_find("maintenance") != NULL);
	CHECK(deis_setting_find("formation") == NULL);
	CHECK(deis_setting_find("") == NULL);
	for (size_t i = 0; i < deis_nsettings; i++) {
		const struct deis_setting *s = &deis_settings[i];
		struct deis_buf v = DEIS_BUF_INIT;
		struct deis_error err = DEIS_ERROR_INIT;

		CHECK(s->name && s->parse && s->format && s->help && s->def);
		CHECK(s->help[0] && !strchr(s->help, '\n') && strlen(s->help) <= 57);
		CHECK(deis_setting_find(s->name) == s);
		/* A default is a value its own parser gives back unchanged. */
		CHECK(s->parse(s->def, strlen(s->def), &v, &err) == 0);
		CHECK_STR(deis_buf_str(&v), s->def);
		deis_buf_release(&v);
	}
}

/* The files read and refuse as they did before they were rows. */
TEST(healthcheck)
{
	CHECK_STR(as_file("healthcheck", "path=/healthz\ntimeout=5\n"),
		  "path=/healthz\ntimeout=5\n");
	CHECK_STR(as_file("healthcheck", "interval=10 timeout=05 path=/x"),
		  "path=/x\ntimeout=5\ninterval=10\n");
	CHECK_STR(as_file("healthcheck", ""), "");
	CHECK_STR(as_file("healthcheck", "\n"), "");
	CHECK_STR(value("healthcheck", "timeout=5 path=/a"), "path=/a\ntimeout=5");
	CHECK_STR(as_file("healthcheck", "path=healthz"),
		  "ERR: healthcheck: 'path=healthz': path must start with '/' and be "
		  "printable ASCII without blanks, at most 1024 bytes");
	CHECK_STR(as_file("healthcheck", "timeout=0"),
		  "ERR: healthcheck: 'timeout=0': timeout must be seconds from 1 to 300");
	CHECK_STR(as_file("healthcheck", "colour=blue"),
		  "ERR: healthcheck: 'colour=blue': expected path=/..., timeout=N or interval=N");
	CHECK_STR(as_file("healthcheck", "path=/a path=/b"),
		  "ERR: healthcheck: 'path' is given twice");
	CHECK(starts(as_file("healthcheck", "path=/a\n\x01"), "ERR: "));
}

TEST(maintenance)
{
	CHECK_STR(as_file("maintenance", "on\n"), "on\n");
	CHECK_STR(as_file("maintenance", " Yes "), "on\n");
	CHECK_STR(as_file("maintenance", "0"), "off\n");
	CHECK_STR(value("maintenance", "TRUE\n"), "on");
	CHECK_STR(value("maintenance", "false"), "off");
	CHECK_STR(as_file("maintenance", "maybe\n"),
		  "ERR: maintenance: 'maybe': expected on or off (or 1/0, true/false, yes/no)");
	CHECK_STR(as_file("maintenance", ""),
		  "ERR: maintenance: '': expected on or off (or 1/0, true/false, yes/no)");
	CHECK(strstr(as_file("maintenance", "on off"), "expected on or off") != NULL);
}

/* Every parser refuses NUL bytes and more than a control file holds,
 * with EINVAL, and leaves out alone. */
TEST(every_row_refuses_nul_and_size)
{
	size_t big = DEIS_CONTROL_MAX + 1;
	char *s = malloc(big);

	memset(s, ' ', big);
	for (size_t i = 0; i < deis_nsettings; i++) {
		const struct deis_setting *row = &deis_settings[i];
		struct deis_buf v = DEIS_BUF_INIT;
		struct deis_error err = DEIS_ERROR_INIT;

		CHECK(row->parse(s, big, &v, &err) == -EINVAL && err.code == EINVAL);
		CHECK(strstr(err.msg, "too long") && starts(err.msg, row->name));
		CHECK(row->parse("on\0x", 4, &v, &err) == -EINVAL);
		CHECK(strstr(err.msg, "NUL") != NULL);
		CHECK(v.len == 0);
		deis_buf_release(&v);
	}
	free(s);
}

TEST(model_defaults_and_stored)
{
	struct deis_app a;

	memset(&a, 0, sizeof(a));
	a.created = 1000;
	CHECK_STR(deis_app_setting(&a, "healthcheck"), "");
	CHECK_STR(deis_app_setting(&a, "maintenance"), "off");
	CHECK(deis_app_setting(&a, "nonesuch") == NULL);
	CHECK(!deis_app_setting_on(&a, "maintenance"));
	CHECK(!deis_app_setting_on(&a, "nonesuch"));
	CHECK(deis_app_setting_mtime(&a, "maintenance") == 1000);
	CHECK(deis_app_setting_kv(&a, "healthcheck", "path") == NULL);

	deis_app_setting_put(&a, "maintenance", "on", 2000);
	deis_app_setting_put(&a, "healthcheck", "path=/healthz\ntimeout=5", 3000);
	CHECK(deis_app_setting_on(&a, "maintenance"));
	CHECK(deis_app_setting_mtime(&a, "maintenance") == 2000);
	CHECK(deis_app_setting_mtime(&a, "healthcheck") == 3000);
	CHECK_STR(deis_app_setting_kv(&a, "healthcheck", "path"), "/healthz");
	CHECK_STR(deis_app_setting_kv(&a, "healthcheck", "timeout"), "5");
	CHECK(deis_app_setting_kv(&a, "healthcheck", "interval") == NULL);
	CHECK(deis_app_setting_kv(&a, "maintenance", "on") == NULL);

	/* A reload replaces a value, and its lines with it. */
	deis_app_setting_put(&a, "healthcheck", "interval=7", 4000);
	CHECK(a.nsettings == 2);
	CHECK_STR(deis_app_setting(&a, "healthcheck"), "interval=7");
	CHECK(deis_app_setting_kv(&a, "healthcheck", "path") == NULL);
	CHECK_STR(deis_app_setting_kv(&a, "healthcheck", "interval"), "7");
	deis_app_setting_put(&a, "maintenance", "off", 5000);
	CHECK(!deis_app_setting_on(&a, "maintenance"));

	/* A stored value of a name no row has (a newer platform's) is kept
	 * and harms nothing. */
	deis_app_setting_put(&a, "future", "x=1", 6000);
	CHECK_STR(deis_app_setting(&a, "future"), "x=1");

	deis_app_settings_clear(&a);
	CHECK(a.nsettings == 0 && a.settings == NULL);
	CHECK_STR(deis_app_setting(&a, "maintenance"), "off");
}

/* docs/tree.md has a row for every setting that shows its help text, as
 * the README does: a new row of the table without its documentation
 * fails here. */
TEST(documented)
{
	FILE *f = fopen(DEIS_SOURCE_ROOT "/docs/tree.md", "r");
	char line[4096], want[512];
	bool *seen = calloc(deis_nsettings, sizeof(*seen));

	CHECK(f != NULL);
	while (f && fgets(line, sizeof(line), f))
		for (size_t i = 0; i < deis_nsettings; i++) {
			snprintf(want, sizeof(want), "| `%s` | %s |", deis_settings[i].name,
				 deis_settings[i].help);
			if (starts(line, want))
				seen[i] = true;
		}
	for (size_t i = 0; i < deis_nsettings; i++) {
		if (!seen[i])
			printf("# docs/tree.md has no row \"| `%s` | %s | ...\"\n",
			       deis_settings[i].name, deis_settings[i].help);
		CHECK(seen[i]);
	}
	if (f)
		fclose(f);
	free(seen);
}

int main(void)
{
	RUN(table);
	RUN(healthcheck);
	RUN(maintenance);
	RUN(every_row_refuses_nul_and_size);
	RUN(model_defaults_and_stored);
	RUN(documented);
	return unit_done();
}
