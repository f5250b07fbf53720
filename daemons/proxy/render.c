/*
 * render.c - the nginx configuration, from the model.
 *
 * Nothing from the database reaches the text unchecked: an app name must
 * be a DNS label, a host name must pass deis_valid_domain(), a port must
 * be a number in range, and certificates reach nginx only as files named
 * by their SHA-256 (never their domain).  What does not pass is left out
 * with a warning, so one bad row can never make nginx refuse the whole
 * configuration (and so every other app's change).  The only free text
 * in the output is ours.
 *
 * One app renders to one piece (its upstream and servers) that depends on
 * nothing but the app and the settings, so the daemon renders again only
 * the apps whose serial changed and joins the pieces.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "deis/logemit.h"
#include "deis/validate.h"
#include "proxy.h"

void proxy_app_out_clear(struct proxy_app_out *o)
{
	deis_buf_release(&o->conf);
	free(o->certs);
	o->certs = NULL;
	o->ncerts = 0;
	deis_kvlist_clear(&o->dynos);
	deis_strlist_clear(&o->warnings);
	o->nroutes = 0;
	o->nhosts = 0;
}

bool proxy_path_ok(const char *path)
{
	if (!path || path[0] != '/' || strlen(path) > 1024 || strstr(path, ".."))
		return false;
	for (const char *p = path; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("/._+-", *p)))
			return false;
	return true;
}

/* "" or an IPv4 / IPv6 literal, written into out as nginx wants it
 * ("1.2.3.4:", "[::1]:"). */
static bool listen_prefix(const char *listen, char *out, size_t len)
{
	unsigned char a[16];

	if (!listen || !listen[0]) {
		snprintf(out, len, "%s", "");
		return true;
	}
	if (inet_pton(AF_INET, listen, a) == 1)
		return (size_t)snprintf(out, len, "%s:", listen) < len;
	if (inet_pton(AF_INET6, listen, a) == 1)
		return (size_t)snprintf(out, len, "[%s]:", listen) < len;
	return false;
}

/* The platform host of app: "<app>.<domain>", or "" when that is not a
 * valid host name (a platform_domain that is one label makes a two-label
 * host, which is fine: "hello.localhost"). */
static bool platform_host(const char *app, const char *domain, char *out, size_t len)
{
	if ((size_t)snprintf(out, len, "%s.%s", app, domain) >= len)
		return false;
	return deis_valid_domain(out) && out[0] != '*';
}

int proxy_render_check(const struct proxy_render_opts *o, struct deis_error *err)
{
	char host[300], lp[64];

	if (!o->platform_domain || !platform_host("app", o->platform_domain, host, sizeof(host)))
		return deis_error_set(err, EINVAL, "platform_domain '%s' does not make valid "
				      "host names", o->platform_domain ? o->platform_domain : "");
	if (!listen_prefix(o->listen, lp, sizeof(lp)))
		return deis_error_set(err, EINVAL, "proxy_listen '%s' is not an IP address",
				      o->listen);
	if (o->http_port < 1 || o->http_port > 65535 || o->https_port < 0 ||
	    o->https_port > 65535 || o->https_port == o->http_port)
		return deis_error_set(err, EINVAL, "http_port must be 1..65535 and https_port "
				      "0..65535 (0: no TLS), not the same");
	if (!proxy_path_ok(o->home))
		return deis_error_set(err, EINVAL, "home '%s' has characters the nginx config "
				      "cannot take (A-Z a-z 0-9 / . _ + - only)", o->home);
	if (o->workers < 0 || o->workers > 256 || o->worker_connections < 16 ||
	    o->worker_connections > 1000000)
		return deis_error_set(err, EINVAL, "proxy_workers must be 0..256 and "
				      "proxy_worker_connections 16..1000000");
	if (o->worker_user && o->worker_user[0] && !deis_valid_user_name(o->worker_user))
		return deis_error_set(err, EINVAL, "proxy_user '%s' is not a user name",
				      o->worker_user);
	/* nginx takes no connect timeout past 75 s. */
	if (o->connect_timeout < 1 || o->connect_timeout > 75)
		return deis_error_set(err, EINVAL, "proxy_connect_timeout must be 1..75 seconds");
	return 0;
}

/* A certificate for host among the app's: the exact domain, else a
 * wildcard one level up ("*.example.com" for "www.example.com"). */
static const struct deis_cert *cert_for(const struct deis_app *app, const char *host)
{
	const struct deis_cert *c = deis_app_cert(app, host);
	const char *dot = strchr(host, '.');
	char wild[300];

	if (c || !dot || host[0] == '*')
		return c;
	if ((size_t)snprintf(wild, sizeof(wild), "*%s", dot) >= sizeof(wild))
		return NULL;
	return deis_app_cert(app, wild);
}

void proxy_cert_name(const char *pem, char *out, size_t len)
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(pem, strlen(pem), md, &mdlen, EVP_sha256(), NULL);
	size_t o = 0;
	for (unsigned i = 0; i < mdlen && o + 3 < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%02x", md[i]);
	snprintf(out + o, len - o, ".pem");
}

/* The part every server of the app shares. */
static void server_body(struct deis_buf *b, const char *app, const struct proxy_render_opts *o,
			bool maintenance, bool routed)
{
	deis_buf_addf(b, "\t\tset $deis_app %s;\n", app);
	deis_buf_addf(b, "\t\tinclude %s/proxy/errors.conf;\n", o->home);
	if (maintenance)
		deis_buf_adds(b, "\t\tlocation / { return 503; }\n"
			      "\t\terror_page 503 @deis_maintenance;\n");
	else if (!routed)
		deis_buf_adds(b, "\t\tlocation / { return 503; }\n"
			      "\t\terror_page 503 @deis_no_web;\n");
	else
		deis_buf_addf(b, "\t\tlocation / { proxy_pass http://deis_app_%s; }\n", app);
}

int proxy_render_app(const struct deis_app *app, const struct proxy_render_opts *o,
		     struct proxy_app_out *out, struct deis_error *err)
{
	char host[300], lp[64];
	struct deis_strlist hosts = DEIS_STRLIST_INIT;
	struct deis_buf *b = &out->conf;

	if (!app || !app->name || !deis_valid_app_name(app->name))
		return deis_error_set(err, EINVAL, "app name '%s' is not a DNS label; not routed",
				      app && app->name ? app->name : "");
	if (!listen_prefix(o->listen, lp, sizeof(lp)))
		return deis_error_set(err, EINVAL, "bad proxy_listen");

	/* Host names: the platform's first, then the app's domains.  A custom
	 * domain under the platform domain could take another app's name,
	 * so those are refused here whatever the tree let through. */
	if (platform_host(app->name, o->platform_domain, host, sizeof(host)))
		deis_strlist_add(&hosts, host);
	else
		deis_strlist_addf(&out->warnings,
				  "platform host name of %s is not valid; not routed by it", app->name);
	size_t pdlen = strlen(o->platform_domain);
	for (size_t i = 0; i < app->domains.n; i++) {
		const char *d = app->domains.items[i];
		size_t dl = strlen(d);
		char shown[80];
		if (!deis_valid_domain(d)) {
			deis_strlist_addf(&out->warnings,
					  "domain '%s' is not a valid host name; skipped",
					  deis_printable(shown, sizeof(shown), d, dl));
			continue;
		}
		if (!strcmp(d, o->platform_domain) ||
		    (dl > pdlen && d[dl - pdlen - 1] == '.' &&
		     !strcmp(d + dl - pdlen, o->platform_domain))) {
			deis_strlist_addf(&out->warnings,
					  "domain '%s' is under the platform domain; skipped", d);
			continue;
		}
		if (!deis_strlist_has(&hosts, d))
			deis_strlist_add(&hosts, d);
	}
	out->nhosts = (int)hosts.n;

	/* Upstreams: every instance of a web process that is up, whatever
	 * its release (both sides of a rollout serve until the old one is
	 * taken out). */
	struct deis_buf ups = DEIS_BUF_INIT;
	for (size_t i = 0; i < app->ncontainers; i++) {
		const struct deis_container *c = &app->containers[i];
		char addr[32];
		if (!c->type || strcmp(c->type, "web") || !c->state || strcmp(c->state, "up"))
			continue;
		if (c->port < 1 || c->port > 65535) {
			char shown[80];
			deis_strlist_addf(&out->warnings,
					  "container %s is up with no valid port (%d); not routed",
					  c->instance ? deis_printable(shown, sizeof(shown), c->instance,
							  strlen(c->instance)) : "?", c->port);
			continue;
		}
		/* Its own address on the node's bridge; a row without one is
		 * a container from before network namespaces, on the host's
		 * loopback. */
		struct in_addr in;
		const char *ip = c->address && c->address[0] ? c->address : "127.0.0.1";
		if (inet_pton(AF_INET, ip, &in) != 1) {
			char shown[80];
			deis_strlist_addf(&out->warnings,
					  "container %s is up with an invalid address; not routed",
					  c->instance ? deis_printable(shown, sizeof(shown), c->instance,
							  strlen(c->instance)) : "?");
			continue;
		}
		snprintf(addr, sizeof(addr), "%s:%d", ip, c->port);
		if (deis_kvlist_get(&out->dynos, addr))
			continue;	/* two rows on one port: one server */
		deis_kvlist_set(&out->dynos, addr,
				c->name && deis_log_source_valid(c->name) ? c->name : "web");
		/* One failure takes a server out for a few seconds, so a
		 * container that has just gone costs one retry, not one per
		 * request (ignored by nginx when it is the only one). */
		deis_buf_addf(&ups, "\t\tserver %s max_fails=1 fail_timeout=3s;\n", addr);
		out->nroutes++;
	}
	bool routed = out->nroutes > 0;

	deis_buf_addf(b, "\t# app %s (serial %ld): %d route(s)%s\n", app->name, app->serial,
		      out->nroutes, deis_app_setting_on(app, "maintenance") ? ", maintenance" : "");
	if (routed && !deis_app_setting_on(app, "maintenance"))
		/* No keepalive to the containers: a fresh loopback connection
		 * costs little, while on a kept connection an app that writes
		 * its headers and body separately (Python's http.server, many
		 * others) stalls 40 ms per response on Nagle and delayed ACKs,
		 * and a container going away could never be told from a
		 * stale connection. */
		deis_buf_addf(b, "\tupstream deis_app_%s {\n%s\t}\n",
			      app->name, deis_buf_str(&ups));
	deis_buf_release(&ups);

	if (hosts.n) {
		deis_buf_addf(b, "\tserver {\n\t\tlisten %s%d;\n\t\tserver_name", lp, o->http_port);
		for (size_t i = 0; i < hosts.n; i++)
			deis_buf_addf(b, " %s", hosts.items[i]);
		deis_buf_adds(b, ";\n");
		server_body(b, app->name, o, deis_app_setting_on(app, "maintenance"), routed);
		deis_buf_adds(b, "\t}\n");
	}

	/* TLS: one server per host name that has a certificate (nginx picks
	 * it by SNI).  A host without one gets a server that refuses the
	 * handshake: without it, another app's wildcard certificate
	 * (*.example.com) would answer for it, and its HTTPS traffic would
	 * go to that app. */
	for (size_t i = 0; o->https_port && i < hosts.n; i++) {
		const char *h = hosts.items[i];
		const struct deis_cert *c = cert_for(app, h);
		char why[256] = "", name[72];
		bool usable = c != NULL;
		if (c && (!c->pem || !c->pem[0] || !deis_valid_domain(c->domain))) {
			deis_strlist_addf(&out->warnings,
					  "certificate for %s is empty; %s served without TLS", h, h);
			usable = false;
		} else if (c && o->cert_ok && !o->cert_ok(o->cert_ctx, c, h, why, sizeof(why))) {
			deis_strlist_addf(&out->warnings,
					  "certificate %s.pem not served for %s: %s", c->domain, h, why);
			usable = false;
		}
		if (!usable) {
			deis_buf_addf(b, "\tserver {\n\t\tlisten %s%d ssl;\n\t\tserver_name %s;\n"
				      "\t\tssl_reject_handshake on;\n\t}\n", lp, o->https_port, h);
			continue;
		}
		proxy_cert_name(c->pem, name, sizeof(name));
		size_t k;
		for (k = 0; k < out->ncerts; k++)
			if (!strcmp(out->certs[k].name, name))
				break;
		if (k == out->ncerts) {
			struct proxy_cert_file *nc = realloc(out->certs,
							     (out->ncerts + 1) * sizeof(*nc));
			if (!nc)
				abort();
			out->certs = nc;
			snprintf(nc[k].name, sizeof(nc[k].name), "%s", name);
			nc[k].pem = c->pem;
			out->ncerts++;
		}
		deis_buf_addf(b, "\tserver {\n\t\tlisten %s%d ssl;\n\t\tserver_name %s;\n"
			      "\t\tssl_certificate %s/proxy/certs/%s;\n"
			      "\t\tssl_certificate_key %s/proxy/certs/%s;\n",
			      lp, o->https_port, h, o->home, name, o->home, name);
		server_body(b, app->name, o, deis_app_setting_on(app, "maintenance"), routed);
		deis_buf_adds(b, "\t}\n");
	}
	deis_strlist_clear(&hosts);
	return 0;
}

/* The pages nginx answers itself.  Fixed text: nothing from the model. */
#define PAGE(title, text) \
	"<!DOCTYPE html><html><head><meta charset=\\\"utf-8\\\"><title>" title \
	"</title></head><body><h1>" title "</h1><p>" text "</p></body></html>\\n"

void proxy_render_errors(struct deis_buf *out)
{
	deis_buf_adds(out,
"# Generated by deis-proxy: the pages nginx answers itself, included in\n"
"# every app's server.  Named locations, so no path of the app is taken.\n"
"error_page 502 @deis_bad_gateway;\n"
"error_page 504 @deis_timeout;\n"
"location @deis_maintenance {\n"
"\tdefault_type text/html;\n"
"\tadd_header Retry-After 60 always;\n"
"\tadd_header Cache-Control no-store always;\n"
"\treturn 503 \"" PAGE("Maintenance",
	"This app is down for maintenance. Please try again in a moment.") "\";\n"
"}\n"
"location @deis_no_web {\n"
"\tdefault_type text/html;\n"
"\tadd_header Cache-Control no-store always;\n"
"\treturn 503 \"" PAGE("No web process running",
	"This app has no web process up: scale it with formation (web=1) "
	"or wait for its deploy to finish.") "\";\n"
"}\n"
"location @deis_bad_gateway {\n"
"\tdefault_type text/html;\n"
"\tadd_header Cache-Control no-store always;\n"
"\treturn 502 \"" PAGE("Application error",
	"The app did not answer this request (its web processes refused the "
	"connection or closed it).") "\";\n"
"}\n"
"location @deis_timeout {\n"
"\tdefault_type text/html;\n"
"\tadd_header Cache-Control no-store always;\n"
"\treturn 504 \"" PAGE("Request timeout",
	"The app took too long to answer this request.") "\";\n"
"}\n");
}

void proxy_render_main(const struct proxy_render_opts *o, const char *const *pieces,
		       size_t n, struct deis_buf *b)
{
	char lp[64];
	const char *h = o->home;

	listen_prefix(o->listen, lp, sizeof(lp));
	deis_buf_adds(b, "# Generated by deis-proxy from the platform's routes; do not edit\n"
		      "# (every change is rendered again, checked with nginx -t and\n"
		      "# installed by a graceful reload).  See docs/proxy.md.\n");
	if (o->worker_user && o->worker_user[0])
		deis_buf_addf(b, "user %s;\n", o->worker_user);
	if (o->workers)
		deis_buf_addf(b, "worker_processes %d;\n", o->workers);
	else
		deis_buf_adds(b, "worker_processes auto;\n");
	deis_buf_addf(b, "pid %s/run/nginx.pid;\n"
		      "lock_file %s/run/nginx.lock;\n"
		      "error_log %s/log/nginx.log warn;\n"
		      "worker_rlimit_nofile %d;\n"
		      "worker_shutdown_timeout 60s;\n"
		      "events {\n\tworker_connections %d;\n}\n",
		      h, h, h, o->worker_connections * 2 + 64, o->worker_connections);
	deis_buf_adds(b, "http {\n"
		      "\tdefault_type application/octet-stream;\n"
		      "\tserver_tokens off;\n"
		      "\tsendfile on;\n"
		      "\ttcp_nodelay on;\n"
		      "\tkeepalive_timeout 65s;\n"
		      "\tkeepalive_requests 10000;\n"
		      "\tclient_max_body_size 1g;\n"
		      /* $deis_app is set by the rewrite phase, which a request
		       * that never parsed (a bare TLS handshake, a 400) skips. */
		      "\tuninitialized_variable_warn off;\n");
	deis_buf_addf(b, "\tclient_body_temp_path %s/proxy/tmp/body;\n"
		      "\tproxy_temp_path %s/proxy/tmp/proxy;\n"
		      "\tfastcgi_temp_path %s/proxy/tmp/fastcgi;\n"
		      "\tuwsgi_temp_path %s/proxy/tmp/uwsgi;\n"
		      "\tscgi_temp_path %s/proxy/tmp/scgi;\n", h, h, h, h, h);
	/* Host names up to 253 bytes, thousands of them. */
	deis_buf_adds(b, "\tserver_names_hash_bucket_size 512;\n"
		      "\tserver_names_hash_max_size 262144;\n"
		      "\tmap_hash_bucket_size 128;\n");
	/* The router log: one tab-separated record per request, escaped
	 * (escape=json turns tabs, newlines and quotes into \t \n \"), in a
	 * buffered file that deis-proxy tails (router.c): nginx never waits
	 * for deis-proxy, and nothing is lost while deis-proxy restarts. */
	deis_buf_addf(b, "\tlog_format deis_router escape=json '$deis_app\\t$request_method\\t"
		      "$request_uri\\t$status\\t$body_bytes_sent\\t$request_time\\t"
		      "$upstream_addr\\t$host\\t$remote_addr';\n"
		      "\taccess_log %s/proxy/access.log deis_router buffer=64k flush=1s;\n", h);
	deis_buf_adds(b, "\tmap $http_upgrade $deis_connection {\n"
		      "\t\tdefault upgrade;\n\t\t'' close;\n\t}\n"
		      "\tproxy_http_version 1.1;\n"
		      "\tproxy_set_header Host $http_host;\n"
		      "\tproxy_set_header Upgrade $http_upgrade;\n"
		      "\tproxy_set_header Connection $deis_connection;\n"
		      "\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
		      "\tproxy_set_header X-Forwarded-Proto $scheme;\n"
		      "\tproxy_set_header X-Forwarded-Port $server_port;\n"
		      "\tproxy_set_header X-Request-Id $request_id;\n"
		      "\tproxy_set_header X-Request-Start t=${msec};\n"
		      /* A connection refused by a container that is going away
		       * (or a 502 from it) is tried again on another one. */
		      "\tproxy_next_upstream error timeout http_502;\n"
		      "\tproxy_next_upstream_tries 0;\n");
	/* A container that does not accept (its node lost, a SYN into the
	 * void) is given up after this, and the request goes to the next:
	 * nothing was sent, so even a POST is retried. */
	deis_buf_addf(b, "\tproxy_connect_timeout %ds;\n", o->connect_timeout);
	deis_buf_adds(b, "\tproxy_send_timeout 60s;\n"
		      "\tproxy_read_timeout 60s;\n"
		      "\tproxy_redirect off;\n"
		      "\tssl_protocols TLSv1.2 TLSv1.3;\n"
		      "\tssl_prefer_server_ciphers off;\n"
		      "\tssl_session_cache shared:deis_ssl:10m;\n"
		      "\tssl_session_timeout 1h;\n");
	/* The default servers: a host no app has gets a 404 page of ours;
	 * TLS for a name without a certificate is refused at the handshake. */
	deis_buf_addf(b, "\tserver {\n\t\tlisten %s%d default_server;\n\t\tserver_name _;\n"
		      "\t\tset $deis_app '';\n"
		      "\t\tlocation / {\n\t\t\tdefault_type text/html;\n"
		      "\t\t\treturn 404 \"" PAGE("No such app",
			"No app on this platform answers to this host name.") "\";\n"
		      "\t\t}\n\t}\n", lp, o->http_port);
	if (o->https_port)
		deis_buf_addf(b, "\tserver {\n\t\tlisten %s%d ssl default_server;\n"
			      "\t\tserver_name _;\n\t\tset $deis_app '';\n"
			      "\t\tssl_reject_handshake on;\n\t}\n", lp, o->https_port);
	for (size_t i = 0; i < n; i++)
		deis_buf_adds(b, pieces[i]);
	deis_buf_adds(b, "}\n");
}
