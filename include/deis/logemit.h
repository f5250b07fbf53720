/*
 * logemit.h - sending log lines to the log server.
 *
 * Every producer (deisfs for platform lines, the builder, the scheduler
 * and its shims for container output, the proxy for router lines,
 * deis-logd for its own reports) sends RFC 5424 syslog messages with
 * octet-counted framing (RFC 6587) over the log server's Unix stream
 * socket (syslog_socket, in a directory only root may enter): APP-NAME is
 * the app, PROCID the source ("web.1", "builder", "router", "deis",
 * "build.3" for a build's own lines, which also appear in the app's log as
 * "builder"), MSG the text.  The producer names the app and the source;
 * a tenant's text is only ever MSG.
 *
 * Not thread-safe: one emitter per thread, or a lock around it.
 */
#ifndef DEIS_LOGEMIT_H
#define DEIS_LOGEMIT_H

#include "deis/error.h"

struct deis_logemit;

/* path: the log server's socket (deis_conf.syslog_socket).  Connects
 * lazily: open fails only for a path that cannot be a socket's, never for
 * a server that is down. */
int deis_logemit_open(const char *path, struct deis_logemit **out,
		      struct deis_error *err);
/* Sends one message; reconnects once if the connection broke.  The
 * message may hold newlines (each becomes a line of its own in the log). */
int deis_logemit_send(struct deis_logemit *l, const char *app, const char *src,
		      const char *msg, struct deis_error *err);
void deis_logemit_close(struct deis_logemit *l);

/* The source (PROCID) grammar: "router", "deis", "builder", or
 * "<type>.<n>" with a process type [a-z][a-z0-9_-]{0,29} ("web.1",
 * "run.3", "build.7") and n a decimal number of 1 to 9 digits. */
#include <stdbool.h>
#include <stddef.h>
#include "deis/buf.h"
bool deis_log_source_valid(const char *src);

/* ---- the log line format (used by deis-logd) ----
 *
 *   2026-11-26T12:00:00.123456+00:00 hello[web.1]: message\n
 */
#define DEIS_LOG_LINE_MAX 10000	/* bytes of message per line; longer are split */

/* Parses an RFC 3339 timestamp ("2026-11-26T12:00:00.123456+01:00",
 * "...Z", fractions of 0 to 9 digits) into microseconds since the epoch,
 * UTC.  -EINVAL when it does not parse. */
int deis_log_parse_time(const char *s, long long *us);
/* Appends the RFC 3339 UTC form with microseconds and "+00:00". */
void deis_log_format_time(long long us, struct deis_buf *out);
/* Copies len bytes to out, replacing every byte that is not part of a
 * valid UTF-8 sequence (overlong forms, surrogates and code points above
 * U+10FFFF included) with U+FFFD.  NUL bytes become U+FFFD too. */
void deis_log_utf8_fix(const char *s, size_t len, struct deis_buf *out);
/* Appends msg (valid UTF-8, as from deis_log_utf8_fix) as log lines:
 * one per line of the message (a final newline, and "\r" before each
 * newline, dropped), each message part at most DEIS_LOG_LINE_MAX bytes
 * (split at a character boundary, never inside an escape), control
 * characters (C0 other than TAB, DEL, and C1) written as \xNN so that
 * nothing can change a terminal's state.  Every line is
 * "<time> <app>[<src>]: <text>\n".  Returns the number of lines. */
size_t deis_log_format_lines(long long us, const char *app, const char *src,
			     const char *msg, size_t len, struct deis_buf *out);

#endif
