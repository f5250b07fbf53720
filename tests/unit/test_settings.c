/*
 * test_settings.c - unit tests of an app's settings as data
 * (lib/settings.c): each row's parser and formatter, the model's stored
 * values and their defaults, docs/tree.md naming every setting, and
 * autoscale's policy.
 */
#include <errno.h>
#include <math.h>
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
	CHECK(deis_setting_find("autoscale") != NULL);
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

/* ---- autoscale ---- */

TEST(autoscale_parse)
{
	/* What the file shows after each write. */
	static const struct {
		const char *in, *file;
	} cases[] = {
		{ "web=2..10 cpu=70", "web=2..10 cpu=70\n" },
		{ "web=2..10\n", "web=2..10 cpu=70\n" },
		{ "worker=1..4 cpu=80%\nweb=02..010", "web=2..10 cpu=70\nworker=1..4 cpu=80\n" },
		{ "web=3..3 cpu=100 clock=1..1000 cpu=1", "clock=1..1000 cpu=1\nweb=3..3 cpu=100\n" },
		{ "", "" },
		{ " \n\t", "" },
		/* An item with ".." is a rule: a type named cpu can have one. */
		{ "cpu=1..4 cpu=50", "cpu=1..4 cpu=50\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		CHECK_STR(as_file("autoscale", cases[i].in), cases[i].file);
		/* What a read gives back, written back, is the same. */
		CHECK_STR(as_file("autoscale", cases[i].file), cases[i].file);
	}
	CHECK_STR(value("autoscale", "b=1..2\ta=1..2"), "a=1..2 cpu=70\nb=1..2 cpu=70");
}

TEST(autoscale_refusals)
{
	/* Each refused with EINVAL and this message (as_file: "ERR: ..."). */
	static const struct {
		const char *in, *msg;
	} cases[] = {
		{ "web=5..2", "'web=5..2': expected TYPE=MIN..MAX with 1 <= MIN <= MAX <= 1000" },
		{ "web=2", "'web=2': expected TYPE=MIN..MAX, then cpu=PERCENT (web=2..10 cpu=70)" },
		{ "Web=1..2", "'Web=1..2': not a process type" },
		{ "cpu=70 web=1..2", "'cpu=70': cpu= follows the TYPE=MIN..MAX it is for" },
		{ "web=1..2 cpu=70 cpu=80", "'cpu=80': cpu is given twice for 'web'" },
		{ "web=1..2 cpu=0", "'cpu=0': cpu must be a percentage from 1 to 100" },
		{ "web=1..2 worker=1..3 web=3..4", "'web' is given twice" },
		{ "web=1..2 \x01",
		  "'\\x01': expected TYPE=MIN..MAX, then cpu=PERCENT (web=2..10 cpu=70)" },
	};
	/* Refused with EINVAL, the message naming what is wrong. */
	static const struct {
		const char *in, *why;
	} also[] = {
		{ "web=0..3", "with 1 <= MIN" }, { "web=1..1001", "with 1 <= MIN" },
		{ "web=..3", "with 1 <= MIN" }, { "web=1..", "with 1 <= MIN" },
		{ "web=a..3", "with 1 <= MIN" }, { "web=1...3", "with 1 <= MIN" },
		{ "web=-1..3", "with 1 <= MIN" }, { "web=1..2..3", "with 1 <= MIN" },
		{ "web=1..9999999", "with 1 <= MIN" }, { "web=1 ..3", "then cpu=PERCENT" },
		{ "web", "then cpu=PERCENT" }, { "memory=512M", "then cpu=PERCENT" },
		{ "run=1..2", "not a process type" }, { "=1..2", "not a process type" },
		{ "web=1..2 cpu=101", "percentage" }, { "web=1..2 cpu=abc", "percentage" },
		{ "web=1..2 cpu=%", "percentage" }, { "web=1..2 cpu=70%%", "percentage" },
		{ "web=1..2 cpu=", "percentage" }, { "web=1..2 cpu=-5", "percentage" },
		{ "web=1..2 cpu=7 0", "then cpu=PERCENT" },
	};
	char want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		snprintf(want, sizeof(want), "ERR: autoscale: %s", cases[i].msg);
		CHECK_STR(as_file("autoscale", cases[i].in), want);
	}
	for (size_t i = 0; i < sizeof(also) / sizeof(*also); i++) {
		const char *got = as_file("autoscale", also[i].in);
		if (!starts(got, "ERR: autoscale: ") || !strstr(got, also[i].why))
			printf("# '%s': %s\n", also[i].in, got);
		CHECK(starts(got, "ERR: autoscale: ") && strstr(got, also[i].why));
	}
}

TEST(autoscale_rule_of_app)
{
	struct deis_app a;
	struct deis_autoscale r;

	memset(&a, 0, sizeof(a));
	CHECK(deis_autoscale_rule(&a, "web", &r) == 0);
	deis_app_setting_put(&a, "autoscale", value("autoscale", "worker=1..4 cpu=80 web=2..10"),
			     1);
	CHECK(deis_autoscale_rule(&a, "web", &r) == 1);
	CHECK_STR(r.type, "web");
	CHECK(r.min == 2 && r.max == 10 && r.cpu == 70);
	CHECK(deis_autoscale_rule(&a, "worker", &r) == 1);
	CHECK(r.min == 1 && r.max == 4 && r.cpu == 80);
	CHECK(deis_autoscale_rule(&a, "clock", &r) == 0);
	deis_app_settings_clear(&a);
}

TEST(autoscale_policy)
{
	struct deis_autoscale r = { "web", 2, 10, 70 };
	struct deis_autoscale fixed = { "web", 3, 3, 50 };

	/* Within 10% of the target: as it is. */
	CHECK(deis_autoscale_count(&r, 4, 70) == 4);
	CHECK(deis_autoscale_count(&r, 4, 76.9) == 4);
	CHECK(deis_autoscale_count(&r, 4, 63.1) == 4);
	/* Above: at once to as many as bring the average to the target. */
	CHECK(deis_autoscale_count(&r, 2, 140) == 4);
	CHECK(deis_autoscale_count(&r, 2, 78) == 3);
	CHECK(deis_autoscale_count(&r, 4, 71 * 1.1) == 5);
	CHECK(deis_autoscale_count(&r, 8, 200) == 10);
	CHECK(deis_autoscale_count(&r, 3, 1e12) == 10);
	/* Below: down to as many as keep it at most 90% of the target. */
	CHECK(deis_autoscale_count(&r, 4, 30) == 2);
	CHECK(deis_autoscale_count(&r, 10, 30) == 5);
	CHECK(deis_autoscale_count(&r, 4, 60) == 4);	/* three would be at 80 */
	CHECK(deis_autoscale_count(&r, 4, 0) == 2);
	/* The range holds whatever the CPU, and when it is unknown. */
	CHECK(deis_autoscale_count(&r, 0, -1) == 2);
	CHECK(deis_autoscale_count(&r, 0, 500) == 2);
	CHECK(deis_autoscale_count(&r, 1, 300) == 5);
	CHECK(deis_autoscale_count(&r, 20, 70) == 10);
	CHECK(deis_autoscale_count(&r, 20, 1) == 2);	/* the load of two */
	CHECK(deis_autoscale_count(&r, -3, 70) == 2);
	CHECK(deis_autoscale_count(&r, 5, -1) == 5);
	CHECK(deis_autoscale_count(&r, 5, NAN) == 5);
	CHECK(deis_autoscale_count(&fixed, 3, 100) == 3);
	CHECK(deis_autoscale_count(&fixed, 3, 1) == 3);
	CHECK(deis_autoscale_count(&fixed, 9, 50) == 3);
}

/*
 * The hysteresis: for every level of load, target, range and starting
 * count, a measured CPU that wanders within +-5% of the level moves the
 * count one way only (never up after down, nor down after up), and a
 * steady load is settled after the first step.
 */
TEST(autoscale_does_not_flap)
{
	static const int targets[] = { 20, 50, 70, 90, 100 };
	static const int mins[] = { 1, 3 };
	unsigned seed = 12345;
	int failures = 0;

	for (size_t ti = 0; ti < sizeof(targets) / sizeof(*targets); ti++)
	for (size_t mi = 0; mi < sizeof(mins) / sizeof(*mins); mi++)
	for (int load = 1; load <= 6000; load += 7)
	for (int start = 0; start <= 120; start += 17) {
		struct deis_autoscale r = { "web", mins[mi], 100, targets[ti] };
		int n = start, dir = 0, steady = -1;

		for (int step = 0; step < 60; step++) {
			seed = seed * 1103515245 + 12345;
			double noise = 0.95 + 0.1 * ((seed >> 8) % 10001) / 10000.0;
			double cpu = n > 0 ? load * noise / n : -1;
			int next = deis_autoscale_count(&r, n, cpu);
			int d = next > n ? 1 : next < n ? -1 : 0;
			if (d && dir && d != dir && failures++ < 5)
				printf("# flaps: target %d, min %d, load %d, from %d: %d -> %d\n",
				       r.cpu, r.min, load, start, n, next);
			if (d)
				dir = d;
			n = next;
		}
		/* Steady load: one step, then nothing. */
		n = deis_autoscale_count(&r, start, start ? (double)load / start : -1);
		n = deis_autoscale_count(&r, n, (double)load / n);
		steady = deis_autoscale_count(&r, n, (double)load / n);
		if (steady != n && failures++ < 5)
			printf("# not settled: target %d, load %d, from %d: %d -> %d\n",
			       r.cpu, load, start, n, steady);
	}
	CHECK(failures == 0);
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
	RUN(autoscale_parse);
	RUN(autoscale_refusals);
	RUN(autoscale_rule_of_app);
	RUN(autoscale_policy);
	RUN(autoscale_does_not_flap);
	return unit_done();
}
