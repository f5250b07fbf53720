/*
 * deis-log-send.c - send lines to the log server, as a producer does.
 *
 *   deis-log-send [--config=FILE] [--syslog_socket=PATH]
 *                 [--count=N] [--whole] APP SOURCE [MESSAGE...]
 *
 * With MESSAGE, sends it (the words joined by spaces) as one message; with
 * --count=N, sends it N times, each followed by " <i>" (1..N).  Without
 * MESSAGE, sends each line of stdin as a message, or all of stdin as one
 * message with --whole (a multi-line message).  The log server's socket
 * comes from the configuration (syslog_socket); only root may connect to
 * it.  Uses lib/logemit.c, like every producer of the platform.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/buf.h"
#include "deis/conf.h"
#include "deis/logemit.h"
#include "deis/validate.h"

static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ NULL, 0, NULL, NULL, NULL },
};

static void usage(FILE *out)
{
	fprintf(out,
"usage: deis-log-send [--config=FILE] [--OPTION=VALUE ...] [--count=N] [--whole]\n"
"                     APP SOURCE [MESSAGE...]\n"
"\n"
"Sends MESSAGE (or each line of stdin; all of stdin with --whole) to the log\n"
"server as APP[SOURCE]: SOURCE is web.1, worker.2, run.3, build.4, router,\n"
"builder or deis.  --count=N sends MESSAGE N times, numbered.\n");
}

int main(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	const char *config = NULL;
	long count = 0;
	int whole = 0, argi = 1;

	deis_conf_defaults(options);
	for (; argi < argc && !strncmp(argv[argi], "--", 2); argi++) {
		if (!strncmp(argv[argi], "--config=", 9))
			config = argv[argi] + 9;
	}
	if (!config) {
		const char *home = getenv("DEIS_HOME");
		static char def[4096];
		snprintf(def, sizeof(def), "%s/deis.conf", home && *home ? home : "/var/lib/deis");
		config = def;
	}
	if (deis_conf_load(options, config, 0, &err) < 0) {
		fprintf(stderr, "deis-log-send: %s\n", err.msg);
		return 2;
	}
	for (argi = 1; argi < argc && !strncmp(argv[argi], "--", 2); argi++) {
		char *a = argv[argi];
		if (!strcmp(a, "--")) {
			argi++;
			break;
		}
		if (!strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--whole")) {
			whole = 1;
			continue;
		}
		if (!strncmp(a, "--count=", 8)) {
			char *end;
			count = strtol(a + 8, &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, "deis-log-send: --count needs a positive number\n");
				return 2;
			}
			continue;
		}
		if (!strncmp(a, "--config=", 9))
			continue;
		char *eq = strchr(a, '=');
		if (!eq) {
			fprintf(stderr, "deis-log-send: %s needs =VALUE\n", a);
			return 2;
		}
		*eq = '\0';
		if (deis_conf_set(options, a + 2, eq + 1, &err) < 0) {
			fprintf(stderr, "deis-log-send: --%s: %s\n", a + 2, err.msg);
			return 2;
		}
	}
	if (argc - argi < 2) {
		usage(stderr);
		return 2;
	}
	const char *app = argv[argi], *src = argv[argi + 1];
	if (!deis_valid_app_name(app) || !deis_log_source_valid(src)) {
		fprintf(stderr, "deis-log-send: '%s' is not an app name or '%s' not a source\n",
			app, src);
		return 2;
	}
	struct deis_logemit *l;
	if (deis_logemit_open(deis_conf.syslog_socket, &l, &err) < 0) {
		fprintf(stderr, "deis-log-send: %s\n", err.msg);
		return 1;
	}
	int rc = 0;
	struct deis_buf msg = DEIS_BUF_INIT;
	if (argc - argi > 2) {
		for (int i = argi + 2; i < argc; i++) {
			if (i > argi + 2)
				deis_buf_addch(&msg, ' ');
			deis_buf_adds(&msg, argv[i]);
		}
		if (count > 0) {
			struct deis_buf one = DEIS_BUF_INIT;
			for (long i = 1; i <= count && !rc; i++) {
				deis_buf_reset(&one);
				deis_buf_add(&one, msg.data, msg.len);
				deis_buf_addf(&one, " %ld", i);
				if (deis_logemit_send(l, app, src, one.data, &err) < 0)
					rc = 1;
			}
			deis_buf_release(&one);
		} else if (deis_logemit_send(l, app, src, msg.data, &err) < 0) {
			rc = 1;
		}
	} else if (whole) {
		char buf[65536];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
			deis_buf_add(&msg, buf, n);
		if (deis_logemit_send(l, app, src, deis_buf_str(&msg), &err) < 0)
			rc = 1;
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while (!rc && (n = getline(&line, &cap, stdin)) >= 0) {
			if (n > 0 && line[n - 1] == '\n')
				line[n - 1] = '\0';
			if (deis_logemit_send(l, app, src, line, &err) < 0)
				rc = 1;
		}
		free(line);
	}
	if (rc)
		fprintf(stderr, "deis-log-send: %s\n", err.msg);
	deis_buf_release(&msg);
	deis_logemit_close(l);
	deis_conf_free(options);
	return rc;
}
