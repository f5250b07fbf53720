/*
 * test_proxy_render.c - unit tests for deis-proxy's renderer and router
 * log records (daemons/proxy/render.c, router.c): what is routed, and
 * that nothing unvalidated reaches the nginx config.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/buf.h"
#include "deis/kv.h"
#include "deis/model.h"
#include "proxy.h"
#include "unit.h"

static struct proxy_render_opts opts(void)
{
	return (struct proxy_render_opts){
		.platform_domain = "localhost", .listen = "", .http_port = 8080,
		.https_port = 8443, .home = "/var/lib/deis", .workers = 0,
		.worker_connections = 1024, .worker_user = "", .connect_timeout = 5,
	};
}

static struct deis_container ct(const char *name, const char *type, const char *state,
				int port)
{
	return (struct deis_container){ .name = (char *)name, .type = (char *)type,
					.state = (char *)state, .port = port,
					.instance = (char *)"x.web.1.1", .number = 1 };
}

static struct deis_container rows[8];

static void app_init(struct deis_app *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->name = (char *)name;
	a->serial = 7;
	rows[0] = ct("web.1", "web", "up", 5001);
	rows[1] = ct("web.1", "web", "up", 5002);	/* the other side of a rollout */
	rows[2] = ct("web.2", "web", "starting", 5003);
	rows[3] = ct("worker.1", "worker", "up", 5004);
	rows[4] = ct("web.3", "web", "crashed", 5005);
	rows[5] = ct("web.4", "web", "stopping", 5006);
	rows[6] = ct("web.5", "web", "up", 0);
	rows[7] = ct("web.6", "web", "up", 70000);
	a->containers = rows;
	a->ncontainers = 8;
}

static struct proxy_app_out out_init(void)
{
	struct proxy_app_out o = { DEIS_BUF_INIT, NULL, 0, DEIS_KVLIST_INIT,
				   DEIS_STRLIST_INIT, 0, 0 };
	return o;
}

static int has(const struct proxy_app_out *o, const char *s)
{
	return strstr(deis_buf_str(&o->conf), s) != NULL;
}

TEST(routes_up_web_rows_only)
{
	struct deis_app a;
	struct proxy_app_out o = out_init();
	struct proxy_render_opts ro = opts();
	struct deis_error err = DEIS_ERROR_INIT;

	app_init(&a, "hello");
	CHECK(proxy_render_app(&a, &ro, &o, &err) == 0);
	CHECK(o.nroutes == 2);
	CHECK(has(&o, "upstream deis_app_hello {"));
	CHECK(has(&o, "server 127.0.0.1:5001 "));
	CHECK(has(&o, "server 127.0.0.1:5002 "));
	CHECK(!has(&o, "5003"));	/* starting */
	CHECK(!has(&o, "5004"));	/* not web */
	CHECK(!has(&o, "5005"));	/* crashed */
	CHECK(!has(&o, "5006"));	/* stopping */
	CHECK(!has(&o, "70000"));
	CHECK(has(&o, "listen 8080;"));
	CHECK(has(&o, "server_name hello.localhost;"));
	CHECK(has(&o, "proxy_pass http://deis_app_hello;"));
	CHECK(has(&o, "set $deis_app hello;"));
	CHECK(!has(&o, "ssl_certificate"));
	/* No certificate: TLS for the name is refused, not left to SNI's
	 * fallback (another app's wildcard). */
	CHECK(has(&o, "server_name hello.localhost;\n\t\tssl_reject_handshake on;"));
	CHECK_STR(deis_kvlist_get(&o.dynos, "127.0.0.1:5001"), "web.1");
	CHECK(o.warnings.n == 2);	/* web.5 and web.6: bad ports */
	proxy_app_out_clear(&o);
}

/* A cluster: instances on other nodes are reached at their node's
 * address and the port published there (any port), each its own server
 * even when two nodes publish the same port. */
TEST(routes_instances_on_other_nodes)
{
	struct deis_container r[4] = {
		ct("web.1", "web", "up", 31234), ct("web.2", "web", "up", 31234),
		ct("web.3", "web", "up", 5000), ct("web.4", "web", "up", 40000),
	};
	const char *addrs[4] = { "10.20.0.3", "10.20.0.2", "172.16.5.9",
				 "10.20.0.3:1; server evil" };
	struct deis_app a = { .name = (char *)"hello", .serial = 3, .containers = r,
			      .ncontainers = 4 };
	struct proxy_render_opts ro = opts();
	struct proxy_app_out o = out_init();
	struct deis_error err = DEIS_ERROR_INIT;

	for (int k = 0; k < 4; k++)
		r[k].address = (char *)addrs[k];
	CHECK(proxy_render_app(&a, &ro, &o, &err) == 0);
	CHECK(o.nroutes == 3);
	CHECK(has(&o, "server 10.20.0.3:31234 max_fails=1"));
	CHECK(has(&o, "server 10.20.0.2:31234 max_fails=1"));
	CHECK(has(&o, "server 172.16.5.9:5000 max_fails=1"));
	CHECK(!has(&o, "evil") && !has(&o, "40000"));
	CHECK(o.warnings.n == 1);
	CHECK_STR(deis_kvlist_get(&o.dynos, "10.20.0.3:31234"), "web.1");
	CHECK_STR(deis_kvlist_get(&o.dynos, "10.20.0.2:31234"), "web.2");
	proxy_app_out_clear(&o);
}

TEST(domains_validated_again)
{
	struct deis_app a;
	struct proxy_app_out o = out_init();
	struct proxy_render_opts ro = opts();
	struct deis_error err = DEIS_ERROR_INIT;

	app_init(&a, "hello");
	const char *doms[] = { "www.example.com", "x.com; include /etc/passwd", "a\nb.com",
			       "x.com}", "other.localhost", "*.example.org", "$host.com",
			       "www.example.com" };
	for (size_t i = 0; i < sizeof(doms) / sizeof(doms[0]); i++)
		deis_strlist_add(&a.domains, doms[i]);
	CHECK(proxy_render_app(&a, &ro, &o, &err) == 0);
	CHECK(has(&o, "server_name hello.localhost www.example.com *.example.org;"));
	CHECK(!has(&o, "passwd"));
	CHECK(!has(&o, "a\nb"));
	CHECK(!has(&o, "x.com}"));
	CHECK(!has(&o, "other.localhost"));	/* under the platform domain */
	CHECK(!has(&o, "$host"));
	CHECK(o.warnings.n == 2 + 5);
	CHECK(o.nhosts == 3);
	deis_strlist_clear(&a.domains);
	proxy_app_out_clear(&o);
}

TEST(bad_app_name_renders_nothing)
{
	const char *bad[] = { "../x", "Hello", "a b", "x;y", "", "a\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct deis_app a;
		struct proxy_app_out o = out_init();
		struct proxy_render_opts ro = opts();
		struct deis_error err = DEIS_ERROR_INIT;
		app_init(&a, bad[i]);
		CHECK(proxy_render_app(&a, &ro, &o, &err) == -EINVAL);
		CHECK(o.conf.len == 0);
		proxy_app_out_clear(&o);
	}
}

TEST(maintenance_and_no_web)
{
	struct deis_app a;
	struct proxy_app_out o = out_init();
	struct proxy_render_opts ro = opts();
	struct deis_error err = DEIS_ERROR_INIT;

	app_init(&a, "hello");
	deis_app_setting_put(&a, "maintenance", "on", 0);
	CHECK(proxy_render_app(&a, &ro, &o, &err) == 0);
	CHECK(has(&o, "error_page 503 @deis_maintenance;"));
	CHECK(!has(&o, "upstream"));
	CHECK(!has(&o, "proxy_pass"));
	proxy_app_out_clear(&o);
	deis_app_settings_clear(&a);

	app_init(&a, "hello");
	a.ncontainers = 3;
	rows[0].state = (char *)"starting";
	rows[1].state = (char *)"crashed";
	o = out_init();
	CHECK(proxy_render_app(&a, &ro, &o, &err) == 0);
	CHECK(o.nroutes == 0);
	CHECK(has(&o, "error_page 503 @deis_no_web;"));
	CHECK(!has(&o, "upstream"));
	proxy_app_out_clear(&o);
}

static bool cert_yes(void *ctx, const struct deis_cert *c, const char *host, char *why,
		     size_t len)
{
	(void)ctx; (void)c; (void)host; (void)why; (void)len;
	return true;
}

static bool cert_no(void *ctx, const struct deis_cert *c, const char *host, char *why,
		    size_t len)
{
	(void)ctx; (void)c; (void)host;
	snprintf(why, len, "the key does not match");
	return false;
}

TEST(tls_servers_by_certificate)
{
	struct deis_app a;
	struct proxy_app_out o = out_init();
	struct proxy_render_opts ro = opts();
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_cert certs[2] = {
		{ .domain = (char *)"*.example.org", .pem = (char *)"PEM-B" },
		{ .domain = (char *)"www.example.com", .pem = (char *)"PEM-A" },
	};

	app_init(&a, "hello");
	deis_strlist_add(&a.domains, "www.example.com");
	deis_strlist_add(&a.domains, "api.example.org");
	deis_strlist_add(&a.domains, "plain.example.net");
	a.certs = certs;
	a.ncerts = 2;
	ro.cert_ok = cert_yes;
	CHECK(proxy_render_app(&a, &ro, &o, &err) == 0);
	CHECK(o.ncerts == 2);
	CHECK(has(&o, "listen 8443 ssl;\n\t\tserver_name www.example.com;"));
	CHECK(has(&o, "listen 8443 ssl;\n\t\tserver_name api.example.org;"));	/* wildcard */
	CHECK(has(&o, "listen 8443 ssl;\n\t\tserver_name plain.example.net;\n"
		       "\t\tssl_reject_handshake on;"));
	char name[80];
	proxy_cert_name("PEM-A", name, sizeof(name));
	CHECK(strlen(name) == 68);
	char want[200];
	snprintf(want, sizeof(want), "ssl_certificate /var/lib/deis/proxy/certs/%s;", name);
	CHECK(has(&o, want));
	CHECK(!has(&o, "PEM-A"));	/* by file, never inline */
	proxy_app_out_clear(&o);

	ro.cert_ok = cert_no;
	o = out_init();
	CHECK(proxy_render_app(&a, &ro, &o, &err) == 0);
	CHECK(o.ncerts == 0);
	CHECK(!has(&o, "ssl_certificate"));
	CHECK(has(&o, "server_name www.example.com;\n\t\tssl_reject_handshake on;"));
	CHECK(o.warnings.n == 2 + 2);
	proxy_app_out_clear(&o);

	ro.cert_ok = cert_yes;
	ro.https_port = 0;
	o = out_init();
	CHECK(proxy_render_app(&a, &ro, &o, &err) == 0);
	CHECK(!has(&o, "ssl"));
	proxy_app_out_clear(&o);
	deis_strlist_clear(&a.domains);
}

TEST(settings_checked)
{
	struct proxy_render_opts ro = opts();
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(proxy_render_check(&ro, &err) == 0);
	ro.listen = "127.0.0.1";
	CHECK(proxy_render_check(&ro, &err) == 0);
	ro.listen = "::1";
	CHECK(proxy_render_check(&ro, &err) == 0);
	ro.listen = "localhost; evil";
	CHECK(proxy_render_check(&ro, &err) == -EINVAL);
	ro = opts();
	ro.platform_domain = "example.com;";
	CHECK(proxy_render_check(&ro, &err) == -EINVAL);
	ro = opts();
	ro.home = "/var/lib/my deis";
	CHECK(proxy_render_check(&ro, &err) == -EINVAL);
	ro.home = "/var/lib/../etc";
	CHECK(proxy_render_check(&ro, &err) == -EINVAL);
	ro.home = "relative";
	CHECK(proxy_render_check(&ro, &err) == -EINVAL);
	ro = opts();
	ro.http_port = 0;
	CHECK(proxy_render_check(&ro, &err) == -EINVAL);
	ro = opts();
	ro.https_port = ro.http_port;
	CHECK(proxy_render_check(&ro, &err) == -EINVAL);
	ro = opts();
	ro.worker_user = "www-data; x";
	CHECK(proxy_render_check(&ro, &err) == -EINVAL);
	ro = opts();
	ro.connect_timeout = 0;
	CHECK(proxy_render_check(&ro, &err) == -EINVAL);
	ro.connect_timeout = 76;
	CHECK(proxy_render_check(&ro, &err) == -EINVAL);
	ro.connect_timeout = 1;
	CHECK(proxy_render_check(&ro, &err) == 0);
}

TEST(main_config)
{
	struct proxy_render_opts ro = opts();
	struct deis_buf b = DEIS_BUF_INIT;
	const char *pieces[] = { "\t# PIECE-ONE\n", "\t# PIECE-TWO\n" };

	ro.listen = "10.0.0.1";
	proxy_render_main(&ro, pieces, 2, &b);
	const char *s = deis_buf_str(&b);
	CHECK(strstr(s, "listen 10.0.0.1:8080 default_server;"));
	CHECK(strstr(s, "listen 10.0.0.1:8443 ssl default_server;"));
	CHECK(strstr(s, "ssl_reject_handshake on;"));
	CHECK(strstr(s, "pid /var/lib/deis/run/nginx.pid;"));
	CHECK(strstr(s, "access_log /var/lib/deis/proxy/access.log deis_router"));
	CHECK(strstr(s, "proxy_next_upstream error timeout http_502;"));
	CHECK(strstr(s, "proxy_connect_timeout 5s;"));
	deis_buf_release(&b);
	/* A cluster's: a node lost stalls a request 1 s, then the next
	 * container gets it. */
	ro.connect_timeout = 1;
	proxy_render_main(&ro, pieces, 2, &b);
	s = deis_buf_str(&b);
	CHECK(strstr(s, "proxy_connect_timeout 1s;"));
	CHECK(strstr(s, "proxy_next_upstream error timeout http_502;"));
	CHECK(strstr(s, "PIECE-ONE") && strstr(s, "PIECE-ONE") < strstr(s, "PIECE-TWO"));
	CHECK(b.len > 0 && s[b.len - 2] == '}');
	deis_buf_release(&b);
}

static const char *dyno(const char *app, const char *addr)
{
	if (!strcmp(app, "hello") && !strcmp(addr, "127.0.0.1:5002"))
		return "web.2";
	return NULL;
}

TEST(router_records)
{
	struct deis_buf m = DEIS_BUF_INIT;
	char app[64];
	const char *rec = "hello\tGET\t/a?b=1\t200\t12\t0.003\t127.0.0.1:5002\thello.localhost\t10.1.2.3";

	CHECK(router_format(rec, strlen(rec), dyno, app, sizeof(app), &m));
	CHECK_STR(app, "hello");
	CHECK_STR(deis_buf_str(&m), "GET /a?b=1 200 bytes=12 time=3ms dyno=web.2 "
		  "host=hello.localhost from=10.1.2.3");
	rec = "hello\tPOST\t/\t502\t0\t1.250\t127.0.0.1:5001, 127.0.0.1:5002\th.example.com\t::1";
	CHECK(router_format(rec, strlen(rec), dyno, app, sizeof(app), &m));
	CHECK_STR(deis_buf_str(&m), "POST / 502 bytes=0 time=1250ms dyno=web.2 tries=2 "
		  "host=h.example.com from=::1");
	rec = "hello\tGET\t/\t503\t10\t0.000\t\thello.localhost\t127.0.0.1";
	CHECK(router_format(rec, strlen(rec), dyno, app, sizeof(app), &m));
	CHECK_STR(deis_buf_str(&m), "GET / 503 bytes=10 time=0ms host=hello.localhost "
		  "from=127.0.0.1");
	/* Not for an app (the default server), malformed, or a bad app. */
	rec = "\tGET\t/\t404\t10\t0.000\t\tx.localhost\t127.0.0.1";
	CHECK(!router_format(rec, strlen(rec), dyno, app, sizeof(app), &m));
	rec = "hello\tGET\t/\t404\t10\t0.000\t\tx.localhost";
	CHECK(!router_format(rec, strlen(rec), dyno, app, sizeof(app), &m));
	rec = "hello\tGET\t/\t404\t10\t0.000\t\tx.localhost\t127.0.0.1\textra";
	CHECK(!router_format(rec, strlen(rec), dyno, app, sizeof(app), &m));
	rec = "../x\tGET\t/\t404\t10\t0.000\t\tx.localhost\t127.0.0.1";
	CHECK(!router_format(rec, strlen(rec), dyno, app, sizeof(app), &m));
	deis_buf_release(&m);
}

int main(void)
{
	RUN(routes_up_web_rows_only);
	RUN(routes_instances_on_other_nodes);
	RUN(domains_validated_again);
	RUN(bad_app_name_renders_nothing);
	RUN(maintenance_and_no_web);
	RUN(tls_servers_by_certificate);
	RUN(settings_checked);
	RUN(main_config);
	RUN(router_records);
	return unit_done();
}
