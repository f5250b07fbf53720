/*
 * test_drain.c - unit tests for log drain URLs and where a drain may point
 * (lib/drain.c), and the log line format of lib/logemit.c (time stamps,
 * UTF-8 repair, escaping, splitting) that deis-logd applies to every line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/drain.h"
#include "deis/logemit.h"
#include "unit.h"

/* "tls host port" of a parsed URL, or "ERR". */
static const char *drain(const char *url)
{
	static char out[512];
	struct deis_drain d;
	struct deis_error err = DEIS_ERROR_INIT;

	if (deis_drain_parse(url, &d, &err) < 0) {
		if (err.code != EINVAL || !err.msg[0])
			return "BAD ERROR";
		return "ERR";
	}
	snprintf(out, sizeof(out), "%s %s %d", d.tls ? "tls" : "tcp", d.host, d.port);
	return out;
}

TEST(drain_valid)
{
	CHECK_STR(drain("syslog://logs.example.com:514"), "tcp logs.example.com 514");
	CHECK_STR(drain("syslog+tls://logs.example.com:6514"), "tls logs.example.com 6514");
	CHECK_STR(drain("SYSLOG://Logs.Example.COM:1"), "tcp logs.example.com 1");
	CHECK_STR(drain("syslog://127.0.0.1:65535"), "tcp 127.0.0.1 65535");
	CHECK_STR(drain("syslog://localhost:514"), "tcp localhost 514");
	CHECK_STR(drain("syslog://[::1]:514"), "tcp ::1 514");
	CHECK_STR(drain("syslog+tls://[2001:DB8::1]:6514"), "tls 2001:db8::1 6514");
	CHECK_STR(drain("syslog://a-b.c0:10"), "tcp a-b.c0 10");
	CHECK_STR(drain("syslog://1a.example:10"), "tcp 1a.example 10");
}

TEST(drain_invalid)
{
	const char *bad[] = {
		"", "syslog://", "syslog://:514", "syslog://host", "syslog://host:",
		"syslog://host:0", "syslog://host:65536", "syslog://host:123456",
		"syslog://host:-1", "syslog://host:+5", "syslog://host:5x",
		"http://host:514", "tcp://host:514", "syslog:/host:514", "host:514",
		"syslog://x.com:514/etc", "syslog://x.com:514/", "syslog://x.com:514?a=b",
		"syslog://x.com:514#f", "syslog://user@x.com:514",
		"syslog://user:pw@x.com:514", "syslog://x.com :514",
		"syslog://x.com:514 ", " syslog://x.com:514", "syslog://x.com:514\n",
		"syslog://x.com\n:514", "syslog://x.com:51\n4", "syslog://x com:514",
		"syslog://x.com;rm -rf /:514", "syslog://$(id):514", "syslog://`id`:514",
		"syslog://x%2ecom:514", "syslog://-x.com:514", "syslog://x-.com:514",
		"syslog://x..com:514", "syslog://.x.com:514", "syslog://x.com.:514",
		"syslog://x_y.com:514", "syslog://256.1.1.1:514", "syslog://1.2.3:514",
		"syslog://1.2.3.4.5:514", "syslog://01.2.3.4:514", "syslog://[::1:514",
		"syslog://[::g]:514", "syslog://[]:514", "syslog://::1:514",
		"syslog://[::1]514", "syslog://[::1]:514x", "syslog://h\xc3\xa9.com:514",
		"syslog://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com:514",
		"syslog+ssl://x.com:514", "syslog+tls:/x.com:514",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = drain(bad[i]);
		if (strcmp(r, "ERR")) {
			printf("# accepted bad URL '%s' as '%s'\n", bad[i], r);
			unit_cur_failed = 1;
		}
	}
	struct deis_drain d;
	CHECK(deis_drain_parse(NULL, &d, NULL) == -EINVAL);
}

/* The canonical document of deis_drains_parse, or "ERR". */
static const char *drains(const char *text)
{
	static char out[4096];
	struct deis_strlist l = DEIS_STRLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	if (deis_drains_parse(text, strlen(text), &l, &err) < 0)
		return "ERR";
	out[0] = '\0';
	for (size_t i = 0; i < l.n; i++) {
		strncat(out, l.items[i], sizeof(out) - strlen(out) - 2);
		strncat(out, "\n", sizeof(out) - strlen(out) - 1);
	}
	deis_strlist_clear(&l);
	return out;
}

TEST(drains_document)
{
	CHECK_STR(drains(""), "");
	CHECK_STR(drains("\n \n"), "");
	CHECK_STR(drains("syslog://a.com:1\nSYSLOG+TLS://B.com:2\n"),
		  "syslog://a.com:1\nsyslog+tls://b.com:2\n");
	CHECK_STR(drains("syslog://a.com:1 syslog://A.COM:1\tsyslog://[::1]:3"),
		  "syslog://a.com:1\nsyslog://[::1]:3\n");
	CHECK_STR(drains("syslog://a.com:1\nbogus"), "ERR");
	CHECK_STR(drains("syslog://a.com:1/x"), "ERR");
	char many[2048] = "";
	for (int i = 1; i <= 11; i++) {
		char one[64];
		snprintf(one, sizeof(one), "syslog://h%d.com:%d\n", i, i);
		strncat(many, one, sizeof(many) - strlen(many) - 1);
	}
	CHECK_STR(drains(many), "ERR");
	struct deis_strlist l = DEIS_STRLIST_INIT;
	CHECK(deis_drains_parse("syslog://a.com:1\0x", 18, &l, NULL) == -EINVAL);
}

/* The policy of the tests: the containers' subnet, this host's eth0
 * address (made up: the unit test does not read the machine's), a node. */
static void test_policy(struct deis_drain_policy *p)
{
	CHECK(deis_drain_policy_add(p, "10.223.0.0/16", "in the containers' subnet", NULL) == 0);
	CHECK(deis_drain_policy_add(p, "192.0.2.2", "an address of this host (eth0)", NULL) == 0);
	CHECK(deis_drain_policy_add(p, "fd00::2", "an address of this host (eth0)", NULL) == 0);
	CHECK(deis_drain_policy_add(p, "198.51.100.7", "the address of platform node n2", NULL) == 0);
}

/* "ok", or the reason a drain URL is refused at write. */
static const char *at_write(const char *url)
{
	static char out[512];
	struct deis_drain_policy p = DEIS_DRAIN_POLICY_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_drain d;

	test_policy(&p);
	if (deis_drain_parse(url, &d, &err) < 0)
		snprintf(out, sizeof(out), "bad URL");
	else if (deis_drain_check_host(&p, &d, &err) < 0)
		snprintf(out, sizeof(out), "%s%s", err.code == EINVAL ? "" : "(not EINVAL) ",
			 strstr(err.msg, ": ") ? strstr(err.msg, ": ") + 2 : err.msg);
	else
		snprintf(out, sizeof(out), "ok");
	deis_drain_policy_release(&p);
	return out;
}

TEST(drain_policy_at_write)
{
	const char *why = "; a drain may not point at the platform";
	char want[300];

#define REFUSED(url, reason) do { \
	snprintf(want, sizeof(want), "%s%s", reason, why); \
	CHECK_STR(at_write(url), want); \
} while (0)
	REFUSED("syslog://127.0.0.1:514", "127.0.0.1 is a loopback address");
	REFUSED("syslog://127.255.0.9:6514", "127.255.0.9 is a loopback address");
	REFUSED("syslog+tls://[::1]:6514", "::1 is a loopback address");
	REFUSED("syslog://[::ffff:127.0.0.1]:514", "::ffff:127.0.0.1 is a loopback address");
	REFUSED("syslog://[::FFFF:7F00:1]:514", "::ffff:7f00:1 is a loopback address");
	REFUSED("syslog://0.0.0.0:514", "0.0.0.0 is an unspecified address (it reaches this host)");
	REFUSED("syslog://[::]:514", ":: is an unspecified address (it reaches this host)");
	REFUSED("syslog://localhost:514", "localhost names this host's loopback (RFC 6761)");
	REFUSED("syslog://LocalHost:514", "localhost names this host's loopback (RFC 6761)");
	REFUSED("syslog://logs.localhost:514", "logs.localhost names this host's loopback (RFC 6761)");
	REFUSED("syslog://10.223.0.1:514", "10.223.0.1 is in the containers' subnet");
	REFUSED("syslog://10.223.255.254:514", "10.223.255.254 is in the containers' subnet");
	REFUSED("syslog://[::ffff:10.223.4.5]:514", "::ffff:10.223.4.5 is in the containers' subnet");
	REFUSED("syslog://192.0.2.2:2222", "192.0.2.2 is an address of this host (eth0)");
	REFUSED("syslog://[fd00::2]:2222", "fd00::2 is an address of this host (eth0)");
	REFUSED("syslog://198.51.100.7:514", "198.51.100.7 is the address of platform node n2");
#undef REFUSED
	CHECK_STR(at_write("syslog://10.222.255.255:514"), "ok");
	CHECK_STR(at_write("syslog://10.224.0.0:514"), "ok");
	CHECK_STR(at_write("syslog://192.0.2.3:514"), "ok");
	CHECK_STR(at_write("syslog://128.0.0.1:514"), "ok");
	CHECK_STR(at_write("syslog://[fd00::3]:514"), "ok");
	CHECK_STR(at_write("syslog://[::2]:514"), "ok");
	CHECK_STR(at_write("syslog+tls://logs.example.com:6514"), "ok");
	/* Names are checked once resolved, at connect. */
	CHECK_STR(at_write("syslog://localhost.example.com:514"), "ok");
	CHECK_STR(at_write("syslog://mylocalhost:514"), "ok");
}

/* What deis-logd decides for an address a name resolved to. */
static const char *at_connect(int family, const char *addr)
{
	static char out[300];
	struct deis_drain_policy p = DEIS_DRAIN_POLICY_INIT;
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	struct sockaddr *sa = family == AF_INET ? (struct sockaddr *)&in : (struct sockaddr *)&in6;
	char text[64];

	test_policy(&p);
	if (inet_pton(family, addr, family == AF_INET ? (void *)&in.sin_addr : (void *)&in6.sin6_addr) != 1)
		return "bad address";
	const char *why = deis_drain_addr_forbidden(&p, sa, text, sizeof(text));
	snprintf(out, sizeof(out), "%s: %s", text, why ? why : "ok");
	deis_drain_policy_release(&p);
	return out;
}

TEST(drain_policy_at_connect)
{
	CHECK_STR(at_connect(AF_INET, "127.0.1.1"), "127.0.1.1: a loopback address");
	CHECK_STR(at_connect(AF_INET6, "::1"), "::1: a loopback address");
	CHECK_STR(at_connect(AF_INET6, "::ffff:192.0.2.2"), "::ffff:192.0.2.2: an address of this host (eth0)");
	CHECK_STR(at_connect(AF_INET, "10.223.7.7"), "10.223.7.7: in the containers' subnet");
	CHECK_STR(at_connect(AF_INET, "0.1.2.3"), "0.1.2.3: an unspecified address (it reaches this host)");
	CHECK_STR(at_connect(AF_INET, "203.0.113.9"), "203.0.113.9: ok");
	CHECK_STR(at_connect(AF_INET6, "2001:db8::9"), "2001:db8::9: ok");
	struct sockaddr un = { .sa_family = AF_UNIX };
	char text[64];
	CHECK(deis_drain_addr_forbidden(NULL, &un, text, sizeof(text)) != NULL);
}

TEST(drain_policy_networks)
{
	struct deis_drain_policy p = DEIS_DRAIN_POLICY_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(deis_drain_policy_add(&p, "10.0.0.0/8", "x", &err) == 0);
	CHECK(deis_drain_policy_add(&p, "2001:db8::/32", "y", &err) == 0);
	CHECK(deis_drain_policy_add(&p, "172.16.0.0/12", "z", &err) == 0);
	CHECK(deis_drain_policy_add(&p, "10.0.0.0/33", "x", &err) == -EINVAL);
	CHECK(deis_drain_policy_add(&p, "10.0.0.0/", "x", &err) == -EINVAL);
	CHECK(deis_drain_policy_add(&p, "node1.example.com", "x", &err) == -EINVAL);
	CHECK(deis_drain_policy_add(&p, "", "x", &err) == -EINVAL);
	CHECK(deis_drain_policy_add(&p, NULL, "x", &err) == -EINVAL);
	CHECK(p.n == 3);
	struct sockaddr_in in = { .sin_family = AF_INET };
	char text[64];
	inet_pton(AF_INET, "172.31.255.255", &in.sin_addr);
	CHECK_STR(deis_drain_addr_forbidden(&p, (struct sockaddr *)&in, text, sizeof(text)), "z");
	inet_pton(AF_INET, "172.32.0.0", &in.sin_addr);
	CHECK(deis_drain_addr_forbidden(&p, (struct sockaddr *)&in, text, sizeof(text)) == NULL);
	/* This host's own addresses: loopback at least, and it is forbidden. */
	CHECK(deis_drain_policy_add_local(&p, &err) == 0);
	CHECK(p.n > 3);
	deis_drain_policy_release(&p);
	CHECK(p.n == 0 && p.nets == NULL);
}

TEST(source_names)
{
	const char *good[] = { "web.1", "worker.2", "run.3", "router", "deis", "builder",
			       "build.12", "a.1", "my_type-2.123456789" };
	const char *bad[] = { "", "web", "web.", "web.x", "Web.1", "1web.1", "web.1.2",
			      "web.1234567890", "web 1", "web.1\n", "../x.1", "deis2",
			      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.1" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!deis_log_source_valid(good[i])) {
			printf("# refused '%s'\n", good[i]);
			unit_cur_failed = 1;
		}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (deis_log_source_valid(bad[i])) {
			printf("# accepted '%s'\n", bad[i]);
			unit_cur_failed = 1;
		}
	CHECK(!deis_log_source_valid(NULL));
}

TEST(times)
{
	long long us;
	struct deis_buf b = DEIS_BUF_INIT;

	CHECK(deis_log_parse_time("2026-11-26T12:00:00.123456+00:00", &us) == 0);
	deis_log_format_time(us, &b);
	CHECK_STR(b.data, "2026-11-26T12:00:00.123456+00:00");
	deis_buf_reset(&b);
	CHECK(deis_log_parse_time("2026-11-26T13:30:00.5+01:30", &us) == 0);
	deis_log_format_time(us, &b);
	CHECK_STR(b.data, "2026-11-26T12:00:00.500000+00:00");
	deis_buf_reset(&b);
	CHECK(deis_log_parse_time("2026-01-01T00:00:00Z", &us) == 0);
	CHECK(us == 1767225600LL * 1000000);
	CHECK(deis_log_parse_time("2025-12-31T23:00:00.123456789-01:00", &us) == 0);
	deis_log_format_time(us, &b);
	CHECK_STR(b.data, "2026-01-01T00:00:00.123456+00:00");
	CHECK(deis_log_parse_time("2026-11-26 12:00:00", &us) < 0);
	CHECK(deis_log_parse_time("2026-13-26T12:00:00Z", &us) < 0);
	CHECK(deis_log_parse_time("2026-11-26T12:00:00.Z", &us) < 0);
	CHECK(deis_log_parse_time("2026-11-26T12:00:00+0100", &us) < 0);
	CHECK(deis_log_parse_time("2026-11-26T12:00:00Zjunk", &us) < 0);
	CHECK(deis_log_parse_time("-", &us) < 0);
	deis_buf_release(&b);
}

static const char *fix(const char *s, size_t len)
{
	static char out[256];
	struct deis_buf b = DEIS_BUF_INIT;

	deis_log_utf8_fix(s, len, &b);
	snprintf(out, sizeof(out), "%s", deis_buf_str(&b));
	deis_buf_release(&b);
	return out;
}

TEST(utf8)
{
	CHECK_STR(fix("plain", 5), "plain");
	CHECK_STR(fix("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12), "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	CHECK_STR(fix("a\xff" "b", 3), "a\xef\xbf\xbd" "b");
	CHECK_STR(fix("\xc3", 1), "\xef\xbf\xbd");
	CHECK_STR(fix("\xc0\xaf", 2), "\xef\xbf\xbd\xef\xbf\xbd");		/* overlong '/' */
	CHECK_STR(fix("\xed\xa0\x80", 3), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");	/* surrogate */
	CHECK_STR(fix("\xf4\x90\x80\x80", 4), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_STR(fix("a\0b", 3), "a\xef\xbf\xbd" "b");
}

static const char *lines(const char *msg, size_t *n)
{
	static struct deis_buf b;

	deis_buf_reset(&b);
	*n = deis_log_format_lines(1795694400123456LL, "hello", "web.1", msg, strlen(msg), &b);
	return deis_buf_str(&b);
}

#define P "2026-11-26T12:00:00.123456+00:00 hello[web.1]: "

TEST(format_lines)
{
	size_t n;

	CHECK_STR(lines("message", &n), P "message\n");
	CHECK(n == 1);
	CHECK_STR(lines("message\n", &n), P "message\n");
	CHECK(n == 1);
	CHECK_STR(lines("one\r\ntwo\n\nfour", &n), P "one\n" P "two\n" P "\n" P "four\n");
	CHECK(n == 4);
	CHECK_STR(lines("", &n), P "\n");
	CHECK(n == 1);
	CHECK_STR(lines("\x1b[31mred\x1b[0m\ttab\a\x7f", &n),
		  P "\\x1b[31mred\\x1b[0m\ttab\\x07\\x7f\n");
	CHECK_STR(lines("csi \xc2\x9b" "2J \xc3\xa9", &n), P "csi \\x9b2J \xc3\xa9\n");
	CHECK_STR(lines("a\rb", &n), P "a\\x0db\n");
	CHECK_STR(lines("\xef\xbb\xbf" "bom", &n), P "bom\n");
}

TEST(format_split)
{
	static char big[25001];
	size_t n;

	memset(big, 'x', 25000);
	const char *out = lines(big, &n);
	CHECK(n == 3);
	size_t plen = strlen(P);
	CHECK(strlen(out) == 3 * plen + 25000 + 3);
	const char *l2 = strchr(out, '\n') + 1;
	CHECK(l2 - out == (long)(plen + 10001));
	const char *l3 = strchr(l2, '\n') + 1;
	CHECK(strlen(l3) == plen + 5000 + 1);

	/* A multi-byte character is never cut: 9999 'x' then 'é'. */
	memset(big, 'x', 9999);
	memcpy(big + 9999, "\xc3\xa9", 2);
	big[10001] = '\0';
	out = lines(big, &n);
	CHECK(n == 2);
	CHECK(strstr(out, "\n" P "\xc3\xa9\n") != NULL);
	/* Nor an escape: 9998 'x' then ESC. */
	memset(big, 'x', 9998);
	big[9998] = '\x1b';
	big[9999] = '\0';
	out = lines(big, &n);
	CHECK(n == 2);
	CHECK(strstr(out, "\n" P "\\x1b\n") != NULL);
}

int main(void)
{
	RUN(drain_valid);
	RUN(drain_invalid);
	RUN(drains_document);
	RUN(drain_policy_at_write);
	RUN(drain_policy_at_connect);
	RUN(drain_policy_networks);
	RUN(source_names);
	RUN(times);
	RUN(utf8);
	RUN(format_lines);
	RUN(format_split);
	return unit_done();
}
