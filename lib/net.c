/*
 * net.c - the containers' network on one node (include/deis/net.h).
 *
 * Netlink is spoken with libmnl, one request and its ACK at a time.  The
 * namespace of a container is made by a short-lived thread: it unshares
 * its own network namespace (a thread's namespace is its own: the daemon
 * that calls us stays where it is), pins it with a bind mount of
 * /proc/thread-self/ns/net, creates the veth pair through the caller's
 * netlink socket (bound to the host's namespace) with the peer placed in
 * the new namespace, and then configures lo and eth0 through a netlink
 * socket of its own, opened inside.  The firewall is one nftables
 * transaction per change (libnftables), so no packet ever sees half of it.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <nftables/libnftables.h>

#include "deis/conf.h"
#include "deis/file.h"
#include "deis/net.h"

/* An address file holds its owner's id and a newline. */
#define DEIS_NET_ID_MAX_LINE 256
/* One netlink message, or one read of its answers. */
#define NL_BUF 8192

struct deis_net {
	struct deis_net_conf conf;	/* strings owned below */
	char *bridge, *subnet, *state_dir;
	uint32_t net;			/* host order */
	int prefix;
	struct mnl_socket *rtnl;	/* in the host's namespace */
	unsigned seq;
	int bridge_index;
	struct nft_ctx *nft;
};

/* ------------------------------------------------------------ pure parts */

static bool valid_bridge(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n >= IF_NAMESIZE || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_'))
			return false;
	return true;
}

int deis_net_parse_subnet(const char *s, uint32_t *net, int *prefix,
			  struct deis_error *err)
{
	char addr[INET_ADDRSTRLEN], *end;
	const char *slash = s ? strchr(s, '/') : NULL;
	struct in_addr in;

	if (!slash || (size_t)(slash - s) >= sizeof(addr) || !slash[1])
		return deis_error_set(err, EINVAL, "subnet '%s': expected a.b.c.d/N",
				      s ? s : "");
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	errno = 0;
	long p = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET, addr, &in) != 1 || *end || errno || p < 8 || p > 30 ||
	    slash[1] < '0' || slash[1] > '9')
		return deis_error_set(err, EINVAL,
				      "subnet '%s': expected a.b.c.d/N with N from 8 to 30", s);
	uint32_t a = ntohl(in.s_addr), mask = 0xffffffffu << (32 - p);
	if (a & ~mask)
		return deis_error_set(err, EINVAL, "subnet '%s': host bits are set (the "
				      "network is %u.%u.%u.%u/%ld)", s, (a & mask) >> 24,
				      (a & mask) >> 16 & 255, (a & mask) >> 8 & 255,
				      a & mask & 255, p);
	*net = a;
	*prefix = (int)p;
	return 0;
}

int deis_net_check_conf(const struct deis_net_conf *conf, struct deis_error *err)
{
	uint32_t net;
	int prefix;

	if (!valid_bridge(conf->bridge))
		return deis_error_set(err, EINVAL, "bridge name '%s': expected "
				      "[a-z][a-z0-9_]{0,14}", conf->bridge ? conf->bridge : "");
	if (deis_net_parse_subnet(conf->subnet, &net, &prefix, err) < 0)
		return -EINVAL;
	if (!conf->state_dir || conf->state_dir[0] != '/')
		return deis_error_set(err, EINVAL, "the address directory must be absolute");
	return 0;
}

void deis_net_ifname(const char *bridge, const char *id, char out[IF_NAMESIZE])
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */
	const char *parts[] = { bridge, "/", id };

	for (size_t p = 0; p < 3; p++)
		for (const unsigned char *c = (const unsigned char *)parts[p]; *c; c++)
			h = (h ^ *c) * 1099511628211ull;
	snprintf(out, IF_NAMESIZE, "v%012llx", (unsigned long long)(h & 0xffffffffffffull));
}

static void ip_str(uint32_t a, char out[INET_ADDRSTRLEN])
{
	snprintf(out, INET_ADDRSTRLEN, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255,
		 a & 255);
}

/* The group's chain and set: "g_" and the name with '-' as '_' (app
 * names have no '_', so no two names meet). */
static void group_name(const char *group, char *out, size_t len)
{
	size_t k = 0;

	if (len < 3)
		return;
	out[k++] = 'g';
	out[k++] = '_';
	for (const char *c = group; *c && k + 1 < len; c++)
		out[k++] = *c == '-' ? '_' : *c;
	out[k] = '\0';
}

void deis_net_ruleset(const struct deis_net_conf *c, struct deis_buf *o)
{
	const char *b = c->bridge;

	/* The bridge family: frames between ports (forward) and from a port
	 * to the host (input).  Frames of interfaces that are not ours pass:
	 * this table keeps only our own bridge. */
	deis_buf_addf(o, "add table bridge deis_%s\n", b);
	deis_buf_addf(o, "add set bridge deis_%s ports { type ifname; }\n", b);
	deis_buf_addf(o, "add set bridge deis_%s port_ip { type ifname . ipv4_addr; }\n", b);
	deis_buf_addf(o, "add map bridge deis_%s src { type ipv4_addr : verdict; }\n", b);
	for (int k = 0; k < 2; k++) {
		const char *ch = k ? "input" : "forward";
		deis_buf_addf(o, "add chain bridge deis_%s %s { type filter hook %s "
			      "priority 0; policy accept; }\n", b, ch, ch);
		deis_buf_addf(o, "flush chain bridge deis_%s %s\n", b, ch);
		deis_buf_addf(o, "add rule bridge deis_%s %s iifname != @ports accept\n", b, ch);
		deis_buf_addf(o, "add rule bridge deis_%s %s ether type arp accept\n", b, ch);
		deis_buf_addf(o, "add rule bridge deis_%s %s ether type != ip drop\n", b, ch);
		deis_buf_addf(o, "add rule bridge deis_%s %s iifname . ip saddr != @port_ip "
			      "drop\n", b, ch);
	}
	/* Between ports: only within the sender's group. */
	deis_buf_addf(o, "add rule bridge deis_%s forward ip saddr vmap @src\n", b);
	deis_buf_addf(o, "add rule bridge deis_%s forward drop\n", b);

	/* The host: no new connection from a container to any of its
	 * addresses; nothing from elsewhere into the containers; out through
	 * NAT, or not at all.  Bridged frames also pass the inet forward hook
	 * when br_netfilter calls it: the bridge table has judged those. */
	deis_buf_addf(o, "add table inet deis_%s\n", b);
	deis_buf_addf(o, "add chain inet deis_%s input { type filter hook input priority 0; "
		      "policy accept; }\n", b);
	deis_buf_addf(o, "add chain inet deis_%s forward { type filter hook forward "
		      "priority 0; policy accept; }\n", b);
	deis_buf_addf(o, "add chain inet deis_%s postrouting { type nat hook postrouting "
		      "priority 100; policy accept; }\n", b);
	deis_buf_addf(o, "flush chain inet deis_%s input\n", b);
	deis_buf_addf(o, "flush chain inet deis_%s forward\n", b);
	deis_buf_addf(o, "flush chain inet deis_%s postrouting\n", b);
	deis_buf_addf(o, "add rule inet deis_%s input iifname \"%s\" ct state "
		      "established,related accept\n", b, b);
	deis_buf_addf(o, "add rule inet deis_%s input iifname \"%s\" drop\n", b, b);
	deis_buf_addf(o, "add rule inet deis_%s forward iifname \"%s\" oifname \"%s\" "
		      "accept\n", b, b, b);
	deis_buf_addf(o, "add rule inet deis_%s forward oifname \"%s\" ct state "
		      "established,related accept\n", b, b);
	deis_buf_addf(o, "add rule inet deis_%s forward oifname \"%s\" drop\n", b, b);
	deis_buf_addf(o, "add rule inet deis_%s forward iifname \"%s\" %s\n", b, b,
		      c->nat ? "accept" : "drop");
	if (c->nat)
		deis_buf_addf(o, "add rule inet deis_%s postrouting ip saddr %s oifname != "
			      "\"%s\" masquerade\n", b, c->subnet, b);
}

void deis_net_elements(const struct deis_net_conf *c, const char *ifname,
		       const char *address, const char *group, int del,
		       struct deis_buf *o)
{
	const char *b = c->bridge, *verb = del ? "delete" : "add";
	char g[96];

	if (del)	/* whatever group the address was in */
		deis_buf_addf(o, "delete element bridge deis_%s src { %s }\n", b, address);
	if (group && group[0]) {
		group_name(group, g, sizeof(g));
		if (del) {
			deis_buf_addf(o, "delete element bridge deis_%s %s { %s }\n", b, g, address);
		} else {
			deis_buf_addf(o, "add set bridge deis_%s %s { type ipv4_addr; }\n", b, g);
			deis_buf_addf(o, "add chain bridge deis_%s %s\n", b, g);
			deis_buf_addf(o, "flush chain bridge deis_%s %s\n", b, g);
			deis_buf_addf(o, "add rule bridge deis_%s %s ip daddr @%s accept\n", b, g, g);
			deis_buf_addf(o, "add rule bridge deis_%s %s drop\n", b, g);
			deis_buf_addf(o, "add element bridge deis_%s %s { %s }\n", b, g, address);
			deis_buf_addf(o, "add element bridge deis_%s src { %s : jump %s }\n", b,
				      address, g);
		}
	}
	deis_buf_addf(o, "%s element bridge deis_%s port_ip { \"%s\" . %s }\n", verb, b,
		      ifname, address);
	deis_buf_addf(o, "%s element bridge deis_%s ports { \"%s\" }\n", verb, b, ifname);
}

/* ------------------------------------------------------------ nftables */

static int nft_run(struct nft_ctx *nft, const char *cmds, struct deis_error *err)
{
	if (nft_run_cmd_from_buffer(nft, cmds) == 0)
		return 0;
	const char *e = nft_ctx_get_error_buffer(nft);
	char first[512] = "";
	if (e) {
		/* nft repeats the command and marks the spot: the first
		 * line says why. */
		snprintf(first, sizeof(first), "%s", e);
		first[strcspn(first, "\n")] = '\0';
	}
	return deis_error_set(err, EIO, "nftables: %s", first[0] ? first : "failed");
}

/* Runs each line of cmds on its own, ignoring failures (removing what may
 * be half gone). */
static void nft_run_each(struct nft_ctx *nft, const char *cmds)
{
	struct deis_error e = DEIS_ERROR_INIT;
	char line[1024];

	for (const char *p = cmds; *p;) {
		size_t n = strcspn(p, "\n");
		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			nft_run(nft, line, &e);
		}
		p += n + (p[n] == '\n');
	}
}

static struct nft_ctx *nft_new(struct deis_error *err)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);

	if (!nft) {
		deis_error_set(err, ENOMEM, "nftables: cannot make a context");
		return NULL;
	}
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	return nft;
}

/* ------------------------------------------------------------ netlink */

/* Sends one request and reads its ACK (or error). */
static int rtnl_talk(struct mnl_socket *s, unsigned *seqp, struct nlmsghdr *nlh,
		     const char *what, struct deis_error *err)
{
	char buf[NL_BUF];
	unsigned seq = ++*seqp, portid = mnl_socket_get_portid(s);

	nlh->nlmsg_seq = seq;
	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(s, nlh, nlh->nlmsg_len) < 0)
		return deis_error_set(err, errno, "%s: netlink: %s", what, strerror(errno));
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(s, buf, sizeof(buf));
		if (n < 0)
			return deis_error_set(err, errno, "%s: netlink: %s", what,
					      strerror(errno));
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
		if (r == MNL_CB_ERROR)
			return deis_error_set(err, errno, "%s: %s", what, strerror(errno));
		if (r == MNL_CB_STOP || r == MNL_CB_OK)
			return 0;
	}
}

static struct mnl_socket *rtnl_open(struct deis_error *err)
{
	struct mnl_socket *s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);

	if (!s) {
		deis_error_set(err, errno, "netlink: %s", strerror(errno));
		return NULL;
	}
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
		deis_error_set(err, errno, "netlink: %s", strerror(errno));
		mnl_socket_close(s);
		return NULL;
	}
	return s;
}

static struct nlmsghdr *link_msg(char *buf, uint16_t type, uint16_t flags, int index,
				 unsigned up)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	if (up) {
		ifi->ifi_flags = IFF_UP;
		ifi->ifi_change = IFF_UP;
	}
	return nlh;
}

static int link_up(struct mnl_socket *s, unsigned *seq, int index, const char *what,
		   struct deis_error *err)
{
	char buf[NL_BUF];

	return rtnl_talk(s, seq, link_msg(buf, RTM_NEWLINK, 0, index, 1), what, err);
}

static int addr_add(struct mnl_socket *s, unsigned *seq, int index, uint32_t a,
		    int prefix, const char *what, struct deis_error *err)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;
	uint32_t be = htonl(a);

	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)index;
	mnl_attr_put_u32(nlh, IFA_LOCAL, be);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, be);
	if (prefix < 31)
		mnl_attr_put_u32(nlh, IFA_BROADCAST, htonl(a | ~(0xffffffffu << (32 - prefix))));
	return rtnl_talk(s, seq, nlh, what, err);
}

static int route_default(struct mnl_socket *s, unsigned *seq, int index, uint32_t gw,
			 struct deis_error *err)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = RTM_NEWROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(nlh, RTA_GATEWAY, htonl(gw));
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)index);
	return rtnl_talk(s, seq, nlh, "the default route", err);
}

static int link_del(struct mnl_socket *s, unsigned *seq, const char *name,
		    struct deis_error *err)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, 0, 0);

	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return rtnl_talk(s, seq, nlh, name, err);
}

static int write_proc(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, value, strlen(value));
	int e = w < 0 ? -errno : 0;
	close(fd);
	return e;
}

/* The first line of a small /proc or /sys file, without its newline. */
static int read_proc(const char *path, char *out, size_t len)
{
	if (deis_file_read_small(path, out, len) < 0)
		return -1;
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* ------------------------------------------------------------ set-up */

/* /run/netns as a shared mount point, as `ip netns add` makes it: a
 * namespace's bind mount then leaves every mount namespace made after it
 * when we unmount it, instead of pinning the namespace there. */
static int netns_dir_ready(struct deis_error *err)
{
	if (mkdir(DEIS_NET_NETNS_DIR, 0755) < 0 && errno != EEXIST)
		return deis_error_set(err, errno, "%s: %s", DEIS_NET_NETNS_DIR, strerror(errno));
	for (int tries = 0; tries < 2; tries++) {
		if (mount("", DEIS_NET_NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
			return 0;
		if (errno != EINVAL || tries)
			break;
		if (mount(DEIS_NET_NETNS_DIR, DEIS_NET_NETNS_DIR, "none", MS_BIND | MS_REC,
			  NULL) < 0)
			break;
	}
	return deis_error_set(err, errno, "making %s a shared mount: %s", DEIS_NET_NETNS_DIR,
			      strerror(errno));
}

/* The bridge's MAC address, set rather than taken from its ports.  A
 * bridge whose address the kernel chose takes its lowest port's address,
 * and takes another when that port leaves: every container's ARP entry for
 * the host then names an address nobody answers to, and its replies to the
 * router are lost until the entry goes stale (seconds of hung requests
 * after any container stops).  Setting the address it has now (random at
 * creation) pins it for good. */
static int bridge_mac_pin(struct deis_net *n, int idx, struct deis_error *err)
{
	char path[128], type[8] = "", text[32] = "", buf[NL_BUF];
	unsigned char mac[6];

	snprintf(path, sizeof(path), "/sys/class/net/%s/addr_assign_type", n->bridge);
	if (read_proc(path, type, sizeof(type)) < 0)
		return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	if (atoi(type) == 3)	/* NET_ADDR_SET */
		return 0;
	snprintf(path, sizeof(path), "/sys/class/net/%s/address", n->bridge);
	if (read_proc(path, text, sizeof(text)) < 0)
		return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	if (sscanf(text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
		   &mac[3], &mac[4], &mac[5]) != 6)
		return deis_error_set(err, EIO, "%s: '%s' is not a MAC address", path, text);
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, idx, 0);
	mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(mac), mac);
	return rtnl_talk(n->rtnl, &n->seq, nlh, "setting the bridge's MAC address", err);
}

static int bridge_ready(struct deis_net *n, struct deis_error *err)
{
	char buf[NL_BUF], path[128];
	int idx = (int)if_nametoindex(n->bridge);

	if (!idx) {
		struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, 0);
		mnl_attr_put_strz(nlh, IFLA_IFNAME, n->bridge);
		struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
		mnl_attr_nest_end(nlh, li);
		int r = rtnl_talk(n->rtnl, &n->seq, nlh, "creating the bridge", err);
		if (r < 0 && r != -EEXIST)
			return r;
		idx = (int)if_nametoindex(n->bridge);
		if (!idx)
			return deis_error_set(err, ENODEV, "bridge %s: not there after creating "
					      "it", n->bridge);
	}
	if (bridge_mac_pin(n, idx, err) < 0)
		return deis_error_prefix(err, "bridge %s", n->bridge);
	/* No IPv6 on the bridge: containers have none, and a link-local
	 * address would be one more address of the host to reach. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", n->bridge);
	write_proc(path, "1");
	if (addr_add(n->rtnl, &n->seq, idx, n->net + 1, n->prefix, "the bridge's address",
		     err) < 0 ||
	    link_up(n->rtnl, &n->seq, idx, "bridge up", err) < 0)
		return deis_error_prefix(err, "bridge %s", n->bridge);
	n->bridge_index = idx;
	return 0;
}

/* A handle on conf's network: its settings copied, netlink and nftables
 * open; NULL with err filled. */
static struct deis_net *net_new(const struct deis_net_conf *conf, struct deis_error *err)
{
	struct deis_net *n;

	if (deis_net_check_conf(conf, err) < 0)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n) {
		deis_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	n->bridge = strdup(conf->bridge);
	n->subnet = strdup(conf->subnet);
	n->state_dir = strdup(conf->state_dir);
	n->conf = (struct deis_net_conf){ .bridge = n->bridge, .subnet = n->subnet,
					  .nat = conf->nat, .state_dir = n->state_dir };
	n->seq = (unsigned)time(NULL);
	deis_net_parse_subnet(conf->subnet, &n->net, &n->prefix, err);
	if (!n->bridge || !n->subnet || !n->state_dir) {
		deis_error_set(err, ENOMEM, "out of memory");
		deis_net_close(n);
		return NULL;
	}
	n->rtnl = rtnl_open(err);
	n->nft = n->rtnl ? nft_new(err) : NULL;
	if (!n->nft) {
		deis_net_close(n);
		return NULL;
	}
	return n;
}

int deis_net_open(const struct deis_net_conf *conf, int setup, struct deis_net **out,
		  struct deis_error *err)
{
	struct deis_net *n;
	int r;

	*out = NULL;
	if (!(n = net_new(conf, err)))
		return -(err && err->code ? err->code : EINVAL);
	if (mkdir(n->state_dir, 0700) < 0 && errno != EEXIST) {
		r = deis_error_set(err, errno, "%s: %s", n->state_dir, strerror(errno));
		goto fail;
	}
	if (setup) {
		struct deis_buf rules = DEIS_BUF_INIT;
		if ((r = netns_dir_ready(err)) < 0 || (r = bridge_ready(n, err)) < 0)
			goto fail;
		deis_net_ruleset(&n->conf, &rules);
		r = nft_run(n->nft, deis_buf_str(&rules), err);
		deis_buf_release(&rules);
		if (r < 0) {
			deis_error_prefix(err, "installing the firewall");
			goto fail;
		}
		if (conf->nat && write_proc("/proc/sys/net/ipv4/ip_forward", "1") < 0) {
			r = deis_error_set(err, errno, "enabling IPv4 forwarding (for NAT): %s",
					   strerror(errno));
			goto fail;
		}
	} else {
		n->bridge_index = (int)if_nametoindex(n->bridge);
		if (!n->bridge_index) {
			r = deis_error_set(err, ENOENT, "bridge %s does not exist (the "
					   "scheduler makes it when it starts)", n->bridge);
			goto fail;
		}
	}
	*out = n;
	return 0;
fail:
	deis_net_close(n);
	return r < 0 ? r : -EIO;
}

int deis_net_open_platform(int setup, struct deis_net **out, struct deis_error *err)
{
	char dir[PATH_MAX];
	struct deis_net_conf c = {
		.bridge = deis_conf.network_bridge, .subnet = deis_conf.network_subnet,
		.nat = deis_conf.network_nat, .state_dir = dir,
	};

	snprintf(dir, sizeof(dir), "%s/net", deis_conf.home);
	int r = deis_net_open(&c, setup, out, err);
	if (r == -ENOENT && !setup)
		r = deis_net_open(&c, 1, out, err);
	return r;
}

void deis_net_close(struct deis_net *n)
{
	if (!n)
		return;
	if (n->nft)
		nft_ctx_free(n->nft);
	if (n->rtnl)
		mnl_socket_close(n->rtnl);
	free(n->bridge);
	free(n->subnet);
	free(n->state_dir);
	free(n);
}

/* ------------------------------------------------------------ addresses */

static void addr_path(const struct deis_net *n, const char *address, char *out,
		      size_t len)
{
	snprintf(out, len, "%s/%s", n->state_dir, address);
}

/* Takes a free address for id: the next after the last one handed out,
 * so that an address just freed (the router may still be draining it) is
 * not given again at once. */
static int addr_alloc(struct deis_net *n, const char *id, uint32_t *out,
		      struct deis_error *err)
{
	char path[PATH_MAX], last[64] = "", a[INET_ADDRSTRLEN];
	uint32_t first = n->net + 2, size = (1u << (32 - n->prefix)) - 3, start = 0;
	struct in_addr in;

	snprintf(path, sizeof(path), "%s/last", n->state_dir);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fgets(last, sizeof(last), f)) {
			last[strcspn(last, "\n")] = '\0';
			if (inet_pton(AF_INET, last, &in) == 1) {
				uint32_t l = ntohl(in.s_addr);
				if (l >= first && l < first + size)
					start = l - first + 1;
			}
		}
		fclose(f);
	}
	for (uint32_t k = 0; k < size; k++) {
		uint32_t ip = first + (start + k) % size;
		ip_str(ip, a);
		addr_path(n, a, path, sizeof(path));
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
		}
		dprintf(fd, "%s\n", id);
		close(fd);
		snprintf(path, sizeof(path), "%s/last", n->state_dir);
		char tmp[PATH_MAX + 8];
		snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
		f = fopen(tmp, "w");
		if (f) {
			fprintf(f, "%s\n", a);
			if (fclose(f) == 0)
				rename(tmp, path);
			else
				unlink(tmp);
		}
		*out = ip;
		return 0;
	}
	return deis_error_set(err, ENOSPC, "no free address left in %s", n->subnet);
}

static bool addr_owned(const struct deis_net *n, const char *address, const char *id)
{
	char path[PATH_MAX], line[DEIS_NET_ID_MAX_LINE];

	addr_path(n, address, path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool own = fgets(line, sizeof(line), f) && (line[strcspn(line, "\n")] = '\0',
						    !strcmp(line, id));
	fclose(f);
	return own;
}

struct find_ctx {
	const char *id;
	char address[INET_ADDRSTRLEN];
};

static void find_one(void *ctx, const char *id, const char *address)
{
	struct find_ctx *c = ctx;

	if (!strcmp(id, c->id))
		snprintf(c->address, sizeof(c->address), "%s", address);
}

int deis_net_list(struct deis_net *n,
		  void (*fn)(void *ctx, const char *id, const char *address),
		  void *ctx, struct deis_error *err)
{
	DIR *d = opendir(n->state_dir);
	struct dirent *e;
	struct in_addr in;

	if (!d)
		return deis_error_set(err, errno, "%s: %s", n->state_dir, strerror(errno));
	while ((e = readdir(d))) {
		char path[PATH_MAX], line[DEIS_NET_ID_MAX_LINE];
		if (inet_pton(AF_INET, e->d_name, &in) != 1)
			continue;
		addr_path(n, e->d_name, path, sizeof(path));
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			fn(ctx, line, e->d_name);
		}
		fclose(f);
	}
	closedir(d);
	return 0;
}

/* ------------------------------------------------------------ endpoints */

static void netns_path(const struct deis_net *n, const char *id, char *out, size_t len)
{
	snprintf(out, len, "%s/%s-%s", DEIS_NET_NETNS_DIR, n->bridge, id);
}

/* What the namespace thread does, and what it reports. */
struct ns_job {
	struct deis_net *n;
	const char *path, *ifname;
	uint32_t ip;
	int r;
	struct deis_error err;
};

static void *ns_thread(void *arg)
{
	struct ns_job *j = arg;
	struct deis_net *n = j->n;
	char buf[NL_BUF];
	struct mnl_socket *in = NULL;
	unsigned seq = n->seq + 1000;
	int nsfd = -1, eth;

	if (unshare(CLONE_NEWNET) < 0) {
		j->r = deis_error_set(&j->err, errno, "a new network namespace: %s",
				      strerror(errno));
		return NULL;
	}
	if (mount("/proc/thread-self/ns/net", j->path, "none", MS_BIND, NULL) < 0) {
		j->r = deis_error_set(&j->err, errno, "pinning the namespace at %s: %s",
				      j->path, strerror(errno));
		return NULL;
	}
	nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	/* Interfaces made from now on in this namespace (eth0) get no IPv6:
	 * the bridge carries IPv4 and ARP only.  lo keeps ::1, so an app
	 * listening on "::" still starts. */
	write_proc("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	in = rtnl_open(&j->err);
	if (nsfd < 0 || !in) {
		j->r = nsfd < 0 ? deis_error_set(&j->err, errno, "namespace: %s",
						 strerror(errno)) : -j->err.code;
		goto out;
	}
	/* The pair: our end on the host, eth0 in the namespace. */
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, j->ifname);
	struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	struct ifinfomsg *pi = mnl_nlmsg_get_payload_tail(nlh);
	nlh->nlmsg_len += MNL_ALIGN(sizeof(*pi));
	memset(pi, 0, sizeof(*pi));
	pi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "eth0");
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)nsfd);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, li);
	j->r = rtnl_talk(n->rtnl, &n->seq, nlh, "creating the veth pair", &j->err);
	if (j->r == -EEXIST) {
		/* The pair of a namespace of the same id that the kernel has
		 * not finished removing: remove it now, then again. */
		link_del(n->rtnl, &n->seq, j->ifname, NULL);
		deis_error_clear(&j->err);
		j->r = rtnl_talk(n->rtnl, &n->seq, nlh, "creating the veth pair", &j->err);
	}
	if (j->r < 0)
		goto out;
	nlh = link_msg(buf, RTM_NEWLINK, 0, 0, 1);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, j->ifname);
	mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)n->bridge_index);
	if ((j->r = rtnl_talk(n->rtnl, &n->seq, nlh, "attaching it to the bridge",
			      &j->err)) < 0)
		goto out;
	/* Inside: lo (always index 1), eth0, the route. */
	eth = (int)if_nametoindex("eth0");
	if (!eth) {
		j->r = deis_error_set(&j->err, ENODEV, "eth0 is missing in the namespace");
		goto out;
	}
	if ((j->r = link_up(in, &seq, 1, "lo up", &j->err)) < 0 ||
	    (j->r = addr_add(in, &seq, eth, j->ip, n->prefix, "eth0's address", &j->err)) < 0 ||
	    (j->r = link_up(in, &seq, eth, "eth0 up", &j->err)) < 0 ||
	    (j->r = route_default(in, &seq, eth, n->net + 1, &j->err)) < 0)
		goto out;
	j->r = 0;
out:
	if (in)
		mnl_socket_close(in);
	if (nsfd >= 0)
		close(nsfd);
	return NULL;
}

static void endpoint_fill(const struct deis_net *n, const char *id, const char *address,
			  struct deis_net_endpoint *ep)
{
	netns_path(n, id, ep->netns, sizeof(ep->netns));
	deis_net_ifname(n->bridge, id, ep->ifname);
	snprintf(ep->address, sizeof(ep->address), "%s", address);
}

/* Unpins and removes a namespace file; the namespace (and eth0, and so
 * the pair) goes once no process is in it. */
static void netns_remove(const char *path)
{
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return;
	unlink(path);
}

int deis_net_attach(struct deis_net *n, const char *id, const char *group,
		    struct deis_net_endpoint *ep, struct deis_error *err)
{
	struct deis_buf cmds = DEIS_BUF_INIT;
	char a[INET_ADDRSTRLEN] = "";
	uint32_t ip = 0;
	pthread_t t;
	int r, fd;

	if (!id || !id[0] || strchr(id, '/') || strlen(id) > 200)
		return deis_error_set(err, EINVAL, "container id '%s'", id ? id : "");
	/* A previous endpoint of this id (a restart that did not reuse it):
	 * replace it.  Checked by its namespace, not by scanning every
	 * address file on every start. */
	struct stat st;
	netns_path(n, id, ep->netns, sizeof(ep->netns));
	if (lstat(ep->netns, &st) == 0)
		deis_net_detach(n, id, group, NULL, NULL);
	if ((r = addr_alloc(n, id, &ip, err)) < 0)
		return r;
	ip_str(ip, a);
	endpoint_fill(n, id, a, ep);
	fd = open(ep->netns, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0) {
		r = deis_error_set(err, errno, "%s: %s", ep->netns, strerror(errno));
		goto fail;
	}
	close(fd);
	struct ns_job job = { .n = n, .path = ep->netns, .ifname = ep->ifname, .ip = ip,
			      .err = DEIS_ERROR_INIT };
	if ((r = pthread_create(&t, NULL, ns_thread, &job)) != 0) {
		r = deis_error_set(err, r, "starting the namespace thread: %s", strerror(r));
		goto fail;
	}
	pthread_join(t, NULL);
	if (job.r < 0) {
		*err = job.err;
		r = job.r;
		goto fail;
	}
	deis_net_elements(&n->conf, ep->ifname, a, group, 0, &cmds);
	r = nft_run(n->nft, deis_buf_str(&cmds), err);
	if (r < 0) {
		/* Elements of this address left by an endpoint that was not
		 * undone (a crash between the two): remove, then again. */
		struct deis_buf stale = DEIS_BUF_INIT;
		deis_net_elements(&n->conf, ep->ifname, a, group, 1, &stale);
		nft_run_each(n->nft, deis_buf_str(&stale));
		deis_buf_release(&stale);
		deis_error_clear(err);
		r = nft_run(n->nft, deis_buf_str(&cmds), err);
	}
	deis_buf_release(&cmds);
	if (r < 0)
		goto fail;
	return 0;
fail:
	deis_error_prefix(err, "network of %s", id);
	deis_net_detach(n, id, group, a, NULL);
	return r;
}

int deis_net_detach(struct deis_net *n, const char *id, const char *group,
		    const char *address, struct deis_error *err)
{
	struct find_ctx fc = { .id = id, .address = "" };
	struct deis_net_endpoint ep;
	char path[PATH_MAX], app[128];

	/* An app's containers are "<app>.<...>" and in the app's group. */
	if (!group) {
		size_t k = strcspn(id, ".");
		if (id[k] == '.' && k < sizeof(app)) {
			memcpy(app, id, k);
			app[k] = '\0';
			group = app;
		}
	}
	if (!address || !address[0]) {
		deis_net_list(n, find_one, &fc, NULL);
		address = fc.address;
	}
	endpoint_fill(n, id, address, &ep);
	if (address[0]) {
		struct deis_buf cmds = DEIS_BUF_INIT;
		deis_net_elements(&n->conf, ep.ifname, address, group, 1, &cmds);
		if (nft_run(n->nft, deis_buf_str(&cmds), NULL) < 0)
			nft_run_each(n->nft, deis_buf_str(&cmds));
		deis_buf_release(&cmds);
	}
	/* The namespace goes once nothing holds it, and the pair with it:
	 * the kernel does that in the background (deleting the link here
	 * would wait for it, 10-30 ms of RCU grace periods per container on
	 * a daemon's one thread).  A new endpoint that meets the old name
	 * still there deletes it then (ns_thread). */
	netns_remove(ep.netns);
	if (address[0] && addr_owned(n, address, id)) {
		addr_path(n, address, path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	}
	return 0;
}

int deis_net_exists(struct deis_net *n, const char *id, const char *address,
		    struct deis_net_endpoint *ep)
{
	struct stat st;

	if (!address || !address[0] || !addr_owned(n, address, id))
		return 0;
	endpoint_fill(n, id, address, ep);
	return stat(ep->netns, &st) == 0 && if_nametoindex(ep->ifname) != 0;
}

/* ------------------------------------------------------------ teardown */

int deis_net_teardown(const struct deis_net_conf *conf, struct deis_error *err)
{
	struct deis_net *n = net_new(conf, err);
	char prefix[IF_NAMESIZE + 2], cmd[128];

	if (!n)
		return -(err && err->code ? err->code : EINVAL);
	for (int fam = 0; fam < 2; fam++) {
		snprintf(cmd, sizeof(cmd), "delete table %s deis_%s", fam ? "inet" : "bridge",
			 n->bridge);
		nft_run(n->nft, cmd, NULL);
	}
	/* Every namespace of this bridge, and the host ends of their pairs. */
	snprintf(prefix, sizeof(prefix), "%s-", n->bridge);
	DIR *d = opendir(DEIS_NET_NETNS_DIR);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		char path[PATH_MAX], ifname[IF_NAMESIZE];
		deis_net_ifname(n->bridge, e->d_name + strlen(prefix), ifname);
		if (if_nametoindex(ifname))
			link_del(n->rtnl, &n->seq, ifname, NULL);
		snprintf(path, sizeof(path), "%s/%s", DEIS_NET_NETNS_DIR, e->d_name);
		netns_remove(path);
	}
	if (d)
		closedir(d);
	if (if_nametoindex(n->bridge))
		link_del(n->rtnl, &n->seq, n->bridge, NULL);
	d = opendir(n->state_dir);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", n->state_dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(n->state_dir);
	deis_net_close(n);
	return 0;
}
