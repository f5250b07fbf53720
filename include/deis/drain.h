/*
 * drain.h - per-app log drains: "syslog://host:port" and
 * "syslog+tls://host:port" URLs, one per line in apps/<app>/drains.
 */
#ifndef DEIS_DRAIN_H
#define DEIS_DRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "deis/error.h"
#include "deis/kv.h"

struct deis_drain {
	bool tls;
	char host[256];		/* a host name, IPv4 address or IPv6 address (no brackets) */
	int port;		/* 1..65535 */
};

/* Parses one URL.  Hosts: DNS names (labels of [A-Za-z0-9-]), IPv4, or
 * [IPv6]; no user info, path, query or spaces.  -EINVAL with a reason. */
int deis_drain_parse(const char *url, struct deis_drain *out, struct deis_error *err);
/* Parses the drains document: URLs separated by blanks or newlines,
 * duplicates dropped, at most 10; out holds the URLs in canonical form
 * ("syslog+tls://host:port", lowercased scheme and host). */
int deis_drains_parse(const char *text, size_t len, struct deis_strlist *out,
		      struct deis_error *err);

/* ---- where a drain may point ----
 *
 * deis-logd opens a drain's connection on the app's behalf, from the
 * platform's host, so a drain must not reach the platform itself: not
 * loopback (every platform service listens there, the log server would
 * feed itself), not an unspecified address (connecting to 0.0.0.0 or ::
 * reaches this host), not an address of this host or of a platform node,
 * nothing in the containers' subnet.  IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) are checked as the IPv4 address they are.
 *
 * deisfs checks a URL's host at write (a literal address, or a name of
 * the "localhost" family); deis-logd checks every address a name resolves
 * to, before it connects. */
struct deis_netaddr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char a[16];	/* network byte order */
	int bits;		/* prefix length */
	char what[96];		/* "an address of this host", ... */
};

struct deis_drain_policy {
	struct deis_netaddr *nets;	/* forbidden besides loopback and unspecified */
	size_t n, cap;
};

#define DEIS_DRAIN_POLICY_INIT { NULL, 0, 0 }

/* Forbids the network "ADDR" or "ADDR/BITS" (IPv4 or IPv6), described by
 * what ("in the containers' subnet 10.223.0.0/16").  -EINVAL when it does
 * not parse. */
int deis_drain_policy_add(struct deis_drain_policy *p, const char *cidr,
			  const char *what, struct deis_error *err);
/* Forbids every address of this host's interfaces (getifaddrs). */
int deis_drain_policy_add_local(struct deis_drain_policy *p, struct deis_error *err);
/* This host's policy: the containers' subnet (network_subnet) and every
 * address of this host.  Fills what it can; -errno with the first problem
 * (a subnet that does not parse) in err.  Callers add the platform's
 * nodes. */
int deis_drain_policy_host(struct deis_drain_policy *p, const char *subnet,
			   struct deis_error *err);
void deis_drain_policy_release(struct deis_drain_policy *p);

/* 0 when a drain to d's host may be written: -EINVAL, with the reason,
 * for a name of the localhost family (RFC 6761) or a forbidden literal
 * address.  Other names are checked at connect, once resolved. */
int deis_drain_check_host(const struct deis_drain_policy *p, const struct deis_drain *d,
			  struct deis_error *err);
/* NULL when deis-logd may connect to addr (AF_INET or AF_INET6); else
 * why not ("a loopback address", "an address of this host (eth0)"), with
 * the address as text in text (INET6_ADDRSTRLEN bytes). */
const char *deis_drain_addr_forbidden(const struct deis_drain_policy *p,
				      const struct sockaddr *addr, char *text, size_t len);

#endif
