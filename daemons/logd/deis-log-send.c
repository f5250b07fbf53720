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
 * it.  Uses lib/logemit.c, like every producer of the platform, and the
 * daemons' command line (lib/daemon.c: --help, --version, --config).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/buf.h"
#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/logemit.h"
#include "deis/validate.h"

static int count, whole;

static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ "count", DEIS_CONF_INT, &count, "0",
	  "send MESSAGE N times, each followed by \" <i>\" (1..N)" },
	{ "whole", DEIS_CONF_BOOL, &whole, "no",
	  "without MESSAGE: all of stdin is one message (--whole alone works too)" },
	{ NULL, 0, NULL, NULL, NULL },
};

static int check(struct deis_error *err)
{
	return count < 0 ? deis_error_set(err, EINVAL, "--count needs a positive number") : 0;
}

static const struct deis_daemon tool = {
	.name = "deis-log-send",
	.synopsis = "deis-log-send [--config=FILE] [--OPTION=VALUE ...] [--count=N] [--whole] "
		    "APP SOURCE [MESSAGE...]",
	.about =
"Sends MESSAGE (or each line of stdin; all of stdin with --whole) to the log\n"
"server as APP[SOURCE]: SOURCE is web.1, worker.2, run.3, build.4, router,\n"
"builder or deis.  --count=N sends MESSAGE N times, numbered.",
	.options = options, .check = check, .takes_args = true,
};

int main(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int argi = 1;

	deis_daemon_configure(&tool, "deis-log-send", &argc, argv);
	for (; argi < argc && !strncmp(argv[argi], "--", 2); argi++) {
		if (!strcmp(argv[argi], "--")) {
			argi++;
			break;
		}
		if (strcmp(argv[argi], "--whole")) {
			fprintf(stderr, "deis-log-send: %s needs =VALUE\n", argv[argi]);
			return deis_daemon_exit(2);
		}
		whole = 1;
	}
	if (argc - argi < 2) {
		deis_daemon_usage(stderr);
		return deis_daemon_exit(2);
	}
	const char *app = argv[argi], *src = argv[argi + 1];
	if (!deis_valid_app_name(app) || !deis_log_source_valid(src)) {
		fprintf(stderr, "deis-log-send: '%s' is not an app name or '%s' not a source\n",
			app, src);
		return deis_daemon_exit(2);
	}
	struct deis_logemit *l;
	if (deis_logemit_open(deis_conf.syslog_socket, &l, &err) < 0) {
		fprintf(stderr, "deis-log-send: %s\n", err.msg);
		return deis_daemon_exit(1);
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
	return deis_daemon_exit(rc);
}
