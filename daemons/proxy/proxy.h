/*
 * proxy.h - deis-proxy's pieces.
 *
 *   render.c  the nginx configuration from the model: pure functions (no
 *             I/O), so tests/unit/test_proxy_render.c can check them
 *   nginx.c   the private nginx: atomic config install, `nginx -t`,
 *             start, graceful reload (SIGHUP) and knowing when it is done
 *   router.c  the router log: tails nginx's access log and sends each line
 *             to the log server as the app's "router" line
 *   main.c    options, events, resync, batching (docs/proxy.md)
 */
#ifndef DEIS_PROXY_H
#define DEIS_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "deis/buf.h"
#include "deis/error.h"
#include "deis/kv.h"
#include "deis/model.h"

/* ---- render.c ---- */

/* The settings every rendered piece depends on.  Every string here is
 * checked by proxy_render_check() before use. */
struct proxy_render_opts {
	const char *platform_domain;	/* apps are <app>.<platform_domain> */
	const char *listen;		/* "" (every address) or an IP literal */
	int http_port;
	int https_port;			/* 0: no TLS listener */
	const char *home;		/* $DEIS_HOME: every path below it */
	int workers;			/* worker_processes; 0 = auto */
	int worker_connections;
	const char *worker_user;	/* "" : nginx's default */
	int connect_timeout;		/* s a container gets to accept (1..75) */
	/* Whether a certificate can be served for host (which it covers):
	 * NULL trusts the tree's check at write.  why gets the reason when
	 * not. */
	bool (*cert_ok)(void *ctx, const struct deis_cert *c, const char *host,
			char *why, size_t whylen);
	void *cert_ctx;
};

/* A certificate file the app's servers refer to: its name under
 * <home>/proxy/certs is the SHA-256 of its content, so a file, once
 * written, never changes under a configuration that uses it. */
struct proxy_cert_file {
	char name[72];			/* "<64 hex>.pem" */
	const char *pem;		/* the app's (valid while the app is) */
};

/* What rendering one app gives. */
struct proxy_app_out {
	struct deis_buf conf;		/* its upstream and server blocks */
	struct proxy_cert_file *certs;
	size_t ncerts;
	struct deis_kvlist dynos;	/* "127.0.0.1:5001" -> "web.1" */
	struct deis_strlist warnings;	/* what was skipped, and why */
	int nroutes;			/* upstream servers */
	int nhosts;			/* host names served */
};

void proxy_app_out_clear(struct proxy_app_out *o);

/* Checks the settings (domain, listen address, ports, home path); -EINVAL
 * with the reason. */
int proxy_render_check(const struct proxy_render_opts *o, struct deis_error *err);

/* Renders one app.  An invalid app name renders nothing and returns
 * -EINVAL; any other invalid value (a domain, a port, a certificate) is
 * skipped with a warning, and the rest is rendered. */
int proxy_render_app(const struct deis_app *app, const struct proxy_render_opts *o,
		     struct proxy_app_out *out, struct deis_error *err);

/* The whole nginx.conf: settings, the default servers, then the apps'
 * pieces in the order given. */
void proxy_render_main(const struct proxy_render_opts *o, const char *const *pieces,
		       size_t n, struct deis_buf *out);

/* The pages nginx serves itself (maintenance, no web container, app not
 * answering), included in every app's server: <home>/proxy/errors.conf. */
void proxy_render_errors(struct deis_buf *out);

/* "<sha256 hex>.pem": the file name of a certificate (len >= 69). */
void proxy_cert_name(const char *pem, char *out, size_t len);

/* Safe for a path in the config: [A-Za-z0-9/._+-], absolute, no "..". */
bool proxy_path_ok(const char *path);

/* ---- nginx.c ---- */

struct proxy_nginx {
	const char *bin;		/* /usr/sbin/nginx */
	char prefix[4096];		/* <home>/proxy/ */
	char conf[4096];		/* <home>/proxy/nginx.conf */
	char pidfile[4096];		/* <home>/run/nginx.pid */
	char errlog[4096];		/* <home>/log/nginx.log */
	int reload_timeout_ms;
};

/* Runs `nginx -t -q` on path; -EINVAL with nginx's words when it rejects
 * it. */
int proxy_nginx_test(const struct proxy_nginx *n, const char *path,
		     struct deis_error *err);
/* The pid of our nginx master (pid file, checked against /proc), or 0. */
pid_t proxy_nginx_pid(const struct proxy_nginx *n);
/* Starts nginx on the installed config; waits until its master runs.
 * Whatever a master killed with SIGKILL left behind (its workers, which
 * hold the listening sockets) is ended first. */
int proxy_nginx_start(const struct proxy_nginx *n, struct deis_error *err);
/* SIGHUP, then waits until the new workers run and no old worker accepts
 * any more (they finish their requests on their own): from then on, no
 * new request goes by the old routes. */
int proxy_nginx_reload(const struct proxy_nginx *n, pid_t master,
		       struct deis_error *err);

/* ---- router.c ---- */

/* dynos: "addr:port" -> container name, per app, for the log lines. */
typedef const char *(*proxy_dyno_fn)(const char *app, const char *addr);

int router_open(const char *home, const char *syslog_socket, struct deis_error *err);
/* Reads what nginx appended and sends it; returns the lines sent. */
long router_poll(proxy_dyno_fn dyno);
/* Called about once a second: rotation of a big access log (reopen by
 * SIGUSR1 to master) and saving the read position. */
void router_tick(pid_t master);
void router_close(void);
/* Turns one access log record into the router line's text; false when
 * the record is malformed.  Pure, for the unit test. */
bool router_format(const char *rec, size_t len, proxy_dyno_fn dyno, char *app,
		   size_t applen, struct deis_buf *msg);

#endif
