/*
 * test_net.c - unit tests for the pure parts of lib/net.c: the subnet and
 * bridge settings, the host end's name, and the nftables commands of the
 * firewall and of one endpoint (what isolates tenants, so every rule that
 * matters is checked by its text).  tests/security/t5000-network.sh runs
 * the real thing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "deis/net.h"
#include "unit.h"

static const char *subnet(const char *s)
{
	static char out[64];
	struct deis_error err = DEIS_ERROR_INIT;
	uint32_t net;
	int prefix;

	if (deis_net_parse_subnet(s, &net, &prefix, &err) < 0)
		return err.code == EINVAL && err.msg[0] ? "ERR" : "BAD ERROR";
	snprintf(out, sizeof(out), "%u.%u.%u.%u/%d", net >> 24, net >> 16 & 255, net >> 8 & 255,
		 net & 255, prefix);
	return out;
}

TEST(subnets)
{
	CHECK_STR(subnet("10.223.0.0/16"), "10.223.0.0/16");
	CHECK_STR(subnet("192.168.7.0/24"), "192.168.7.0/24");
	CHECK_STR(subnet("10.0.0.0/8"), "10.0.0.0/8");
	CHECK_STR(subnet("10.1.2.4/30"), "10.1.2.4/30");
	CHECK_STR(subnet("10.223.0.1/16"), "ERR");	/* host bits */
	CHECK_STR(subnet("10.223.0.0/31"), "ERR");	/* no room */
	CHECK_STR(subnet("10.0.0.0/7"), "ERR");
	CHECK_STR(subnet("10.223.0.0"), "ERR");
	CHECK_STR(subnet("10.223.0.0/"), "ERR");
	CHECK_STR(subnet("10.223.0.0/x"), "ERR");
	CHECK_STR(subnet("10.223.0.0/-8"), "ERR");
	CHECK_STR(subnet("10.223.0.0/16 "), "ERR");
	CHECK_STR(subnet("fd00::/64"), "ERR");
	CHECK_STR(subnet("localhost/24"), "ERR");
	CHECK_STR(subnet(""), "ERR");
}

static int conf_ok(const char *bridge, const char *sub, const char *dir)
{
	struct deis_net_conf c = { .bridge = bridge, .subnet = sub, .state_dir = dir };

	return deis_net_check_conf(&c, NULL) == 0;
}

TEST(conf)
{
	CHECK(conf_ok("deis0", "10.223.0.0/16", "/var/lib/deis/net"));
	CHECK(conf_ok("dt1a2b3c", "10.200.1.0/24", "/tmp/x"));
	CHECK(conf_ok("a", "10.200.1.0/24", "/tmp/x"));
	CHECK(conf_ok("abcdefghijklmno", "10.200.1.0/24", "/x"));	/* 15 */
	CHECK(!conf_ok("abcdefghijklmnop", "10.200.1.0/24", "/x"));	/* 16 */
	CHECK(!conf_ok("0deis", "10.200.1.0/24", "/x"));
	CHECK(!conf_ok("deis-0", "10.200.1.0/24", "/x"));	/* a table name */
	CHECK(!conf_ok("deis0;", "10.200.1.0/24", "/x"));
	CHECK(!conf_ok("deis 0", "10.200.1.0/24", "/x"));
	CHECK(!conf_ok("", "10.200.1.0/24", "/x"));
	CHECK(!conf_ok("deis0", "10.200.1.1/24", "/x"));
	CHECK(!conf_ok("deis0", "10.200.1.0/24", "relative"));
	CHECK(!conf_ok("deis0", "10.200.1.0/24", NULL));
}

TEST(ifnames)
{
	char a[IF_NAMESIZE], b[IF_NAMESIZE], c[IF_NAMESIZE];

	deis_net_ifname("deis0", "hello.web.1.42", a);
	deis_net_ifname("deis0", "hello.web.1.42", b);
	CHECK_STR(a, b);
	CHECK(strlen(a) == 13 && a[0] == 'v');
	CHECK(strspn(a + 1, "0123456789abcdef") == 12);
	deis_net_ifname("deis0", "hello.web.1.43", c);
	CHECK(strcmp(a, c) != 0);
	/* The same id on another platform's bridge: another name. */
	deis_net_ifname("dt01", "hello.web.1.42", c);
	CHECK(strcmp(a, c) != 0);
}

static int has(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

/* line a comes before line b */
static int before(const char *text, const char *a, const char *b)
{
	const char *pa = strstr(text, a), *pb = strstr(text, b);

	return pa && pb && pa < pb;
}

TEST(ruleset)
{
	struct deis_net_conf c = { .bridge = "deis0", .subnet = "10.223.0.0/16", .nat = 1,
				   .state_dir = "/x" };
	struct deis_buf b = DEIS_BUF_INIT;
	const char *t;

	deis_net_ruleset(&c, &b);
	t = deis_buf_str(&b);
	/* Replaced as a whole: base chains are flushed in the same batch. */
	CHECK(has(t, "flush chain bridge deis_deis0 forward"));
	CHECK(has(t, "flush chain inet deis_deis0 input"));
	/* Between ports: not ours passes; only IPv4 and ARP; a port speaks
	 * with its own address; then the sender's group decides; else drop. */
	CHECK(has(t, "add rule bridge deis_deis0 forward iifname != @ports accept"));
	CHECK(has(t, "add rule bridge deis_deis0 forward ether type != ip drop"));
	CHECK(has(t, "add rule bridge deis_deis0 forward iifname . ip saddr != @port_ip drop"));
	CHECK(has(t, "add rule bridge deis_deis0 forward ip saddr vmap @src"));
	CHECK(before(t, "forward iifname . ip saddr != @port_ip drop",
		     "forward ip saddr vmap @src"));
	CHECK(before(t, "forward ip saddr vmap @src",
		     "add rule bridge deis_deis0 forward drop"));
	CHECK(has(t, "add rule bridge deis_deis0 input iifname . ip saddr != @port_ip drop"));
	/* The host: replies only; nothing in from elsewhere; NAT out. */
	CHECK(has(t, "add rule inet deis_deis0 input iifname \"deis0\" ct state "
		  "established,related accept"));
	CHECK(has(t, "add rule inet deis_deis0 input iifname \"deis0\" drop"));
	CHECK(has(t, "add rule inet deis_deis0 forward oifname \"deis0\" drop"));
	CHECK(has(t, "add rule inet deis_deis0 forward iifname \"deis0\" accept"));
	CHECK(has(t, "add rule inet deis_deis0 postrouting ip saddr 10.223.0.0/16 oifname != "
		  "\"deis0\" masquerade"));
	deis_buf_release(&b);

	/* Without NAT: nothing leaves, nothing is masqueraded. */
	c.nat = 0;
	deis_net_ruleset(&c, &b);
	t = deis_buf_str(&b);
	CHECK(has(t, "add rule inet deis_deis0 forward iifname \"deis0\" drop"));
	CHECK(!strstr(t, "masquerade"));
	CHECK(!has(t, "add rule inet deis_deis0 forward iifname \"deis0\" accept"));
	deis_buf_release(&b);
}

TEST(elements)
{
	struct deis_net_conf c = { .bridge = "deis0", .subnet = "10.223.0.0/16", .nat = 1,
				   .state_dir = "/x" };
	struct deis_buf b = DEIS_BUF_INIT;
	const char *t;

	deis_net_elements(&c, "v0123456789ab", "10.223.0.7", "my-app", 0, &b);
	t = deis_buf_str(&b);
	/* The group: a set and a chain of its own, named without '-'. */
	CHECK(has(t, "add rule bridge deis_deis0 g_my_app ip daddr @g_my_app accept"));
	CHECK(has(t, "add rule bridge deis_deis0 g_my_app drop"));
	CHECK(has(t, "add element bridge deis_deis0 g_my_app { 10.223.0.7 }"));
	CHECK(has(t, "add element bridge deis_deis0 src { 10.223.0.7 : jump g_my_app }"));
	CHECK(has(t, "add element bridge deis_deis0 port_ip { \"v0123456789ab\" . 10.223.0.7 }"));
	CHECK(has(t, "add element bridge deis_deis0 ports { \"v0123456789ab\" }"));
	deis_buf_release(&b);

	/* No group (a build): reaches no container at all. */
	deis_net_elements(&c, "v0123456789ab", "10.223.0.8", NULL, 0, &b);
	t = deis_buf_str(&b);
	CHECK(!strstr(t, "src {"));
	CHECK(!strstr(t, " g_"));
	CHECK(has(t, "add element bridge deis_deis0 ports { \"v0123456789ab\" }"));
	deis_buf_release(&b);

	/* Removal: whatever group it was in loses the address. */
	deis_net_elements(&c, "v0123456789ab", "10.223.0.7", NULL, 1, &b);
	t = deis_buf_str(&b);
	CHECK(has(t, "delete element bridge deis_deis0 src { 10.223.0.7 }"));
	CHECK(has(t, "delete element bridge deis_deis0 ports { \"v0123456789ab\" }"));
	deis_buf_release(&b);
	deis_net_elements(&c, "v0123456789ab", "10.223.0.7", "my-app", 1, &b);
	CHECK(has(deis_buf_str(&b), "delete element bridge deis_deis0 g_my_app { 10.223.0.7 }"));
	deis_buf_release(&b);
}

int main(void)
{
	RUN(subnets);
	RUN(conf);
	RUN(ifnames);
	RUN(ruleset);
	RUN(elements);
	return unit_done();
}
