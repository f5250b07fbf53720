/*
 * net.h - the containers' network on one node: a bridge, a network
 * namespace per container, and the firewall that keeps tenants apart.
 *
 * Every container (app processes, one-offs, release phases, builds) gets a
 * network namespace of its own, /run/netns/<bridge>-<id>, holding `lo` and
 * `eth0`, one end of a veth pair whose other end is a port of the node's
 * bridge.  eth0 has an address of the subnet (deis_conf.network_subnet);
 * the bridge has the subnet's first address and is the default route.
 * Every app can listen on the same $PORT: nothing is shared but the bridge.
 *
 * What a container reaches (nftables, table "deis_<bridge>" in the bridge
 * and inet families, installed by deis_net_open(setup) and removed by
 * deis_net_teardown()):
 *   - the containers of its own group (an app's containers) and nothing
 *     else on the bridge: the bridge's forward hook jumps, by source
 *     address, to the chain of the sender's group, which accepts only
 *     destinations of that group;
 *   - no address of the host: the host's input hook drops every new
 *     connection that arrives on the bridge (replies to the host's own
 *     connections, the router's and the health checks', pass);
 *   - the outside world through NAT (masquerade), unless nat is off;
 *   - a port's frames must carry its own address (no spoofing) and be
 *     IPv4 or ARP.
 *
 * The library talks netlink itself (libmnl) and drives nftables through
 * libnftables: no `ip` or `nft` process per container.  Addresses are
 * handed out from files in state_dir, one per address holding the owner's
 * id, created with O_EXCL: the scheduler, its attached one-offs and the
 * builder allocate from one subnet without a lock or a daemon.
 *
 * Every function that can fail returns a negative errno and fills err.
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for the namespace mounts).
 */
#ifndef DEIS_NET_H
#define DEIS_NET_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>

#include "deis/buf.h"
#include "deis/error.h"

#define DEIS_NET_NETNS_DIR "/run/netns"

struct deis_net_conf {
	const char *bridge;	/* [a-z][a-z0-9_]{0,14} */
	const char *subnet;	/* IPv4 CIDR, /8 to /30 */
	int nat;		/* masquerade what leaves for the outside */
	const char *state_dir;	/* the address files (created if missing) */
};

struct deis_net;

/* What deis_net_attach() made: the namespace to give runc, the host end
 * of the veth pair, and the container's address. */
struct deis_net_endpoint {
	char netns[320];
	char ifname[IF_NAMESIZE];
	char address[INET_ADDRSTRLEN];
};

/*
 * Opens the node's network.  setup: also makes it ready (idempotent):
 * the bridge with the gateway address, up; /run/netns as a shared mount
 * (as iproute2 makes it); the firewall, replaced atomically; IPv4
 * forwarding when nat is on.  Without setup, a missing bridge is -ENOENT.
 */
int deis_net_open(const struct deis_net_conf *conf, int setup, struct deis_net **out,
		  struct deis_error *err);
void deis_net_close(struct deis_net *n);
/* deis_net_open() with the platform's settings (deis_conf: network_bridge,
 * network_subnet, network_nat; addresses in $DEIS_HOME/net). */
int deis_net_open_platform(int setup, struct deis_net **out, struct deis_error *err);

/*
 * Makes the network of container id: an address, the namespace, the veth
 * pair, the routes, the firewall elements.  group (an app's name, may be
 * NULL) names who else the container may reach: the other members of its
 * group.  Anything id had before is replaced.
 */
int deis_net_attach(struct deis_net *n, const char *id, const char *group,
		    struct deis_net_endpoint *ep, struct deis_error *err);

/* Undoes deis_net_attach(): firewall elements, namespace, veth, address.
 * What is already gone is skipped; address may be NULL (looked up). */
int deis_net_detach(struct deis_net *n, const char *id, const char *group,
		    const char *address, struct deis_error *err);

/* Whether id's namespace exists (a container restarting in place keeps
 * it); fills ep when it does. */
int deis_net_exists(struct deis_net *n, const char *id, const char *address,
		    struct deis_net_endpoint *ep);

/* Calls fn for every address held, with its owner's id (clean-up of what
 * a killed process left behind). */
int deis_net_list(struct deis_net *n,
		  void (*fn)(void *ctx, const char *id, const char *address),
		  void *ctx, struct deis_error *err);

/* Removes the firewall, every namespace of this bridge, the bridge and
 * the address files (packaging/down, tests). */
int deis_net_teardown(const struct deis_net_conf *conf, struct deis_error *err);

/* ---- pure parts, exposed for the unit tests ---- */

int deis_net_check_conf(const struct deis_net_conf *conf, struct deis_error *err);
/* "10.223.0.0/16": network (host order) and prefix; the address must be
 * the network's own (no host bits). */
int deis_net_parse_subnet(const char *s, uint32_t *net, int *prefix,
			  struct deis_error *err);
/* The host end's name: "v" and 12 hex digits of a hash of bridge and id. */
void deis_net_ifname(const char *bridge, const char *id, char out[IF_NAMESIZE]);
/* The nftables commands that install the firewall (setup). */
void deis_net_ruleset(const struct deis_net_conf *conf, struct deis_buf *out);
/* The commands that add (or, del, remove) one endpoint. */
void deis_net_elements(const struct deis_net_conf *conf, const char *ifname,
		       const char *address, const char *group, int del,
		       struct deis_buf *out);

#endif
