/*
 * logemit.h - sending log lines to the log server.
 *
 * Every producer (deisfs for platform lines, the builder, the scheduler for
 * container output, the proxy for router lines) sends RFC 5424 syslog
 * messages over TCP with octet-counted framing (RFC 6587) to the log
 * server's rsyslog: APP-NAME is the app, PROCID the source ("web.1",
 * "builder", "router", "deis", "build.3" for a build's own lines, which
 * also appear in the app's log as "builder"), MSG the text.
 *
 * Not thread-safe: one emitter per thread, or a lock around it.
 */
#ifndef DEIS_LOGEMIT_H
#define DEIS_LOGEMIT_H

#include "deis/error.h"

struct deis_logemit;

/* Connects lazily: open never fails for an unreachable server. */
int deis_logemit_open(const char *host, int port, struct deis_logemit **out,
		      struct deis_error *err);
/* Sends one message; reconnects once if the connection broke.  The
 * message may hold newlines (each becomes a line of its own in the log). */
int deis_logemit_send(struct deis_logemit *l, const char *app, const char *src,
		      const char *msg, struct deis_error *err);
void deis_logemit_close(struct deis_logemit *l);

#endif
