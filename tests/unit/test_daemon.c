/*
 * test_daemon.c - unit tests for the daemon skeleton's pure parts
 * (lib/daemon.c, lib/conf.c): the command line, the file and its
 * deprecated names, a reload that keeps the configuration in force when
 * the new file is bad, and the backoff.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/daemon.h"
#include "unit.h"

static struct {
	int count;	/* reloadable */
	int port;	/* restart only */
	char *label;	/* reloadable string */
	int twice;	/* derived by check() */
} tc;

static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ "t_count", DEIS_CONF_INT | DEIS_CONF_RELOAD, &tc.count, "3", "a count" },
	{ "t_port", DEIS_CONF_INT, &tc.port, "80", "a port (restart only)" },
	{ "t_label", DEIS_CONF_STR | DEIS_CONF_RELOAD, &tc.label, "none", "a label" },
	DEIS_CONF_DEPRECATED("t_old_count", "t_count"),
	{ NULL, 0, NULL, NULL, NULL },
};

static int check(struct deis_error *err)
{
	if (tc.count < 0 || tc.count > 100)
		return deis_error_set(err, EINVAL, "t_count must be 0..100");
	tc.twice = tc.count * 2;
	return 0;
}

static const struct deis_daemon daemon_row = {
	.name = "test-daemon", .synopsis = "test-daemon [--OPTION=VALUE ...]",
	.about = "Tests the skeleton.", .options = options, .check = check,
};

static char conf[64] = "/tmp/test_daemon.XXXXXX";

static void write_conf(const char *text)
{
	FILE *f = fopen(conf, "w");

	fputs(text, f);
	fclose(f);
}

/* Starts the test daemon with the arguments (the config file first). */
static int start(struct deis_error *err, const char *a1, const char *a2)
{
	static char cfg[128], s1[128], s2[128];
	char *argv[5] = { (char *)"test-daemon", cfg, NULL, NULL, NULL };
	int argc = 2;

	snprintf(cfg, sizeof(cfg), "--config=%s", conf);
	if (a1)
		argv[argc++] = strcpy(s1, a1);
	if (a2)
		argv[argc++] = strcpy(s2, a2);
	return deis_daemon_options(&daemon_row, &argc, argv, err);
}

TEST(backoff_sequence)
{
	struct deis_backoff b = DEIS_BACKOFF_INIT;
	const int want[] = { 250, 500, 1000, 2000, 4000, 5000, 5000 };

	CHECK(deis_backoff_due(&b, 0));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK(deis_backoff_failed(&b, 1000) == want[i]);
	CHECK(b.failures == 7);
	CHECK(!deis_backoff_due(&b, 5999));
	CHECK(deis_backoff_due(&b, 6000));
	deis_backoff_reset(&b);
	CHECK(b.failures == 0 && deis_backoff_due(&b, 0));
	CHECK(deis_backoff_failed(&b, 0) == 250);
}

TEST(cmdline_split)
{
	char *argv[] = { (char *)"deisfs", (char *)"--config", (char *)"/x.conf", (char *)"-f",
			 (char *)"--a=1", (char *)"-o", (char *)"allow_other", (char *)"--b=",
			 (char *)"--c", (char *)"/deis", (char *)"--", (char *)"--d=4", NULL };
	int argc = 12;
	struct deis_conf_cmdline cl;

	deis_conf_cmdline(&argc, argv, &cl);
	CHECK_STR(cl.config, "/x.conf");
	CHECK_STR(deis_conf_path(), "/x.conf");
	CHECK(!cl.help && !cl.version);
	CHECK(cl.nsets == 2);
	CHECK_STR(cl.sets[0], "--a=1");
	CHECK_STR(cl.sets[1], "--b=");
	/* The rest, in order; "--" ends the options. */
	CHECK(argc == 8);
	CHECK_STR(argv[1], "-f");
	CHECK_STR(argv[3], "allow_other");
	CHECK_STR(argv[4], "--c");
	CHECK_STR(argv[5], "/deis");
	CHECK_STR(argv[6], "--");
	CHECK_STR(argv[7], "--d=4");
	CHECK(argv[8] == NULL);
	deis_conf_cmdline_free(&cl);
}

TEST(file_then_command_line)
{
	struct deis_error err = DEIS_ERROR_INIT;

	write_conf("# a comment\n\nt_count = 7\nt_label = \"two words\"\n"
		   "someone_elses = 1\nresync_interval=9\n");
	CHECK(start(&err, "--t_count=8", NULL) == 0);
	CHECK(tc.count == 8);		/* the command line wins */
	CHECK(tc.twice == 16);		/* check() derived it */
	CHECK_STR(tc.label, "two words");
	CHECK(tc.port == 80);		/* the default */
	CHECK(deis_conf.resync_interval == 9);
	CHECK_STR(deis_conf.log_level, "info");
	deis_daemon_exit(0);
	CHECK(tc.label == NULL);
}

TEST(help_version_and_errors)
{
	struct deis_error err = DEIS_ERROR_INIT;

	write_conf("t_count = 1\n");
	CHECK(start(&err, "--help", NULL) == 1);
	CHECK(start(&err, "-h", NULL) == 1);
	CHECK(start(&err, "--version", NULL) == 2);

	CHECK(start(&err, "--t_nope=1", NULL) == -ENOENT);
	CHECK_STR(err.msg, "--t_nope=1: unknown option 't_nope'");
	deis_error_clear(&err);
	CHECK(start(&err, "stray", NULL) == -EINVAL);
	CHECK_STR(err.msg, "unknown argument 'stray' (see --help)");
	deis_error_clear(&err);
	CHECK(start(&err, "--t_count=101", NULL) == -EINVAL);
	CHECK_STR(err.msg, "t_count must be 0..100");
	deis_error_clear(&err);
	CHECK(start(&err, "--log_level=loud", NULL) == -EINVAL);
	deis_error_clear(&err);
	CHECK(start(&err, "--resync_interval=0", NULL) == -EINVAL);
	deis_error_clear(&err);

	write_conf("t_count = 1\nt_port = eighty\n");
	CHECK(start(&err, NULL, NULL) == -EINVAL);
	char want[200];
	snprintf(want, sizeof(want), "%s:2: t_port: 'eighty' is not an integer", conf);
	CHECK_STR(err.msg, want);
	deis_error_clear(&err);
	write_conf("t_count\n");
	CHECK(start(&err, NULL, NULL) == -EINVAL);
	deis_daemon_exit(0);
}

TEST(deprecated_name)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_strlist notes = DEIS_STRLIST_INIT;
	char want[200];

	write_conf("t_old_count = 42\n");
	struct deis_conf_values *v = deis_conf_read(options, conf, 1, NULL, 0, &notes, &err);
	CHECK(v != NULL);
	CHECK(deis_conf_apply(v, 0, NULL, NULL, &err) == 0);
	CHECK(tc.count == 42);
	CHECK(notes.n == 1);
	snprintf(want, sizeof(want), "%s:1: t_old_count is deprecated: use t_count", conf);
	CHECK_STR(notes.n ? notes.items[0] : NULL, want);
	deis_strlist_clear(&notes);
	/* The legacy setter knows it too. */
	CHECK(deis_conf_set(options, "t_old_count", "5", &err) == 0 && tc.count == 5);
	deis_conf_free(options);
}

TEST(reload_keeps_the_old_config_when_the_new_is_bad)
{
	struct deis_error err = DEIS_ERROR_INIT;

	write_conf("t_count = 10\nt_port = 8080\nt_label = first\n");
	CHECK(start(&err, NULL, NULL) == 0);
	CHECK(tc.count == 10 && tc.twice == 20 && tc.port == 8080);
	const char *label = tc.label;

	/* Not an integer: nothing changes. */
	write_conf("t_count = 11\nt_port = 8080\nt_label = second\nt_count = lots\n");
	CHECK(deis_daemon_reload(&err) < 0);
	CHECK(strstr(err.msg, "t_count: 'lots' is not an integer") != NULL);
	CHECK(tc.count == 10 && tc.twice == 20);
	CHECK(tc.label == label);
	CHECK_STR(tc.label, "first");
	deis_error_clear(&err);

	/* Parses, but the check refuses it: put back, and what check
	 * derives matches what is in force again. */
	write_conf("t_count = 500\nt_label = third\n");
	CHECK(deis_daemon_reload(&err) < 0);
	CHECK_STR(err.msg, "t_count must be 0..100");
	CHECK(tc.count == 10 && tc.twice == 20);
	CHECK_STR(tc.label, "first");
	deis_error_clear(&err);

	/* A missing file is refused too (not a return to the defaults). */
	unlink(conf);
	CHECK(deis_daemon_reload(&err) < 0);
	CHECK(tc.count == 10);
	deis_error_clear(&err);

	/* Good: the reloadable options change, t_port waits for a restart. */
	write_conf("t_count = 12\nt_port = 9090\nt_label = fourth\nlog_level = debug\n");
	CHECK(deis_daemon_reload(&err) == 0);
	CHECK(tc.count == 12 && tc.twice == 24);
	CHECK_STR(tc.label, "fourth");
	CHECK(tc.port == 8080);
	CHECK_STR(deis_conf.log_level, "debug");
	/* The replaced string is still readable (another thread may hold
	 * it) until the options are freed. */
	CHECK_STR(label, "first");
	deis_daemon_exit(0);
}

TEST(command_line_still_wins_after_a_reload)
{
	struct deis_error err = DEIS_ERROR_INIT;

	write_conf("t_count = 1\n");
	CHECK(start(&err, "--t_count=50", NULL) == 0);
	CHECK(tc.count == 50);
	write_conf("t_count = 2\n");
	CHECK(deis_daemon_reload(&err) == 0);
	CHECK(tc.count == 50);
	deis_daemon_exit(0);
}

int main(void)
{
	int fd = mkstemp(conf);

	if (fd < 0)
		return 1;
	close(fd);
	RUN(backoff_sequence);
	RUN(cmdline_split);
	RUN(file_then_command_line);
	RUN(help_version_and_errors);
	RUN(deprecated_name);
	RUN(reload_keeps_the_old_config_when_the_new_is_bad);
	RUN(command_line_still_wins_after_a_reload);
	unlink(conf);
	return unit_done();
}
