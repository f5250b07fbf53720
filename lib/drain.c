/*
 * drain.c - parsing log drain URLs ("syslog://host:port",
 * "syslog+tls://host:port").  See include/deis/drain.h.
 *
 * A drain URL ends up in a socket address and, for TLS, in certificate
 * name checks, so the grammar is strict: a scheme, a host (DNS name, IPv4
 * dotted quad or bracketed IPv6) and a decimal port; nothing else (no user
 * info, path, query, fragment, percent escapes or blanks).
 *
 * And where a drain may point (the policy): see the end of this file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "deis/drain.h"
#include "deis/validate.h"

#define DRAINS_MAX 10

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Host name: labels of [A-Za-z0-9-], 1..63 bytes, not starting or ending
 * with '-'; at most 253 bytes; at least one letter or '-' somewhere (an
 * all-numeric dotted name is an IPv4 address, checked separately). */
static int valid_dns(const char *h, size_t len)
{
	size_t lab = 0;
	int nondigit = 0;

	if (len < 1 || len > 253)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? h[i] : '.';
		if (c == '.') {
			if (lab == 0 || lab > 63 || h[i - 1] == '-' || h[i - lab] == '-')
				return 0;
			lab = 0;
			continue;
		}
		if (!alnum(c) && c != '-')
			return 0;
		if (!(c >= '0' && c <= '9'))
			nondigit = 1;
		lab++;
	}
	return nondigit;
}

int deis_drain_parse(const char *url, struct deis_drain *out, struct deis_error *err)
{
	char shown[120];
	const char *p;
	size_t ulen;

	memset(out, 0, sizeof(*out));
	if (!url)
		return deis_error_set(err, EINVAL, "drain: no URL");
	ulen = strlen(url);
	deis_printable(shown, sizeof(shown), url, ulen);
	if (ulen > 300)
		return deis_error_set(err, EINVAL, "drain '%s': too long", shown);
	if (!strncasecmp(url, "syslog://", 9)) {
		p = url + 9;
	} else if (!strncasecmp(url, "syslog+tls://", 13)) {
		out->tls = true;
		p = url + 13;
	} else {
		return deis_error_set(err, EINVAL, "drain '%s': the URL must start with "
				      "syslog:// or syslog+tls://", shown);
	}

	/* host */
	const char *hend;
	if (*p == '[') {
		hend = strchr(p, ']');
		if (!hend)
			return deis_error_set(err, EINVAL, "drain '%s': unclosed '['", shown);
		size_t hl = (size_t)(hend - p - 1);
		struct in6_addr a6;
		if (hl == 0 || hl >= sizeof(out->host))
			return deis_error_set(err, EINVAL, "drain '%s': bad IPv6 address", shown);
		memcpy(out->host, p + 1, hl);
		out->host[hl] = '\0';
		for (size_t i = 0; i < hl; i++)
			out->host[i] = lower(out->host[i]);
		if (inet_pton(AF_INET6, out->host, &a6) != 1)
			return deis_error_set(err, EINVAL, "drain '%s': bad IPv6 address", shown);
		hend++;
	} else {
		hend = p;
		while (*hend && *hend != ':')
			hend++;
		size_t hl = (size_t)(hend - p);
		if (hl == 0)
			return deis_error_set(err, EINVAL, "drain '%s': no host", shown);
		if (hl >= sizeof(out->host))
			return deis_error_set(err, EINVAL, "drain '%s': host name too long", shown);
		memcpy(out->host, p, hl);
		out->host[hl] = '\0';
		for (size_t i = 0; i < hl; i++)
			out->host[i] = lower(out->host[i]);
		struct in_addr a4;
		int all_num = 1;
		for (size_t i = 0; i < hl; i++)
			if (!((out->host[i] >= '0' && out->host[i] <= '9') || out->host[i] == '.'))
				all_num = 0;
		if (all_num) {
			/* inet_pton takes exactly the dotted quad (no octal, no
			 * shortened forms). */
			if (inet_pton(AF_INET, out->host, &a4) != 1)
				return deis_error_set(err, EINVAL, "drain '%s': bad IPv4 address", shown);
		} else if (!valid_dns(out->host, hl)) {
			return deis_error_set(err, EINVAL, "drain '%s': bad host name", shown);
		}
	}

	/* port */
	if (*hend != ':')
		return deis_error_set(err, EINVAL, "drain '%s': a port is required "
				      "(syslog://host:port)", shown);
	p = hend + 1;
	long port = 0;
	size_t nd = 0;
	while (p[nd] >= '0' && p[nd] <= '9' && nd < 6)
		port = port * 10 + (p[nd++] - '0');
	if (nd == 0 || nd > 5 || port < 1 || port > 65535)
		return deis_error_set(err, EINVAL, "drain '%s': the port must be a number "
				      "from 1 to 65535", shown);
	if (p[nd] != '\0')
		return deis_error_set(err, EINVAL, "drain '%s': nothing may follow the port "
				      "(no path, query or blanks)", shown);
	out->port = (int)port;
	return 0;
}

/* The canonical URL of a parsed drain. */
static void drain_format(const struct deis_drain *d, char *out, size_t len)
{
	int v6 = strchr(d->host, ':') != NULL;

	snprintf(out, len, "%s://%s%s%s:%d", d->tls ? "syslog+tls" : "syslog",
		 v6 ? "[" : "", d->host, v6 ? "]" : "", d->port);
}

int deis_drains_parse(const char *text, size_t len, struct deis_strlist *out,
		      struct deis_error *err)
{
	struct deis_strlist l = DEIS_STRLIST_INIT;
	char word[512], canon[300];
	size_t i = 0;

	if (memchr(text, '\0', len)) {
		return deis_error_set(err, EINVAL, "drains: NUL byte");
	}
	while (i < len) {
		while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
				   text[i] == '\r'))
			i++;
		if (i >= len)
			break;
		size_t s = i;
		while (i < len && !(text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
				    text[i] == '\r'))
			i++;
		size_t wl = i - s;
		if (wl >= sizeof(word)) {
			char shown[80];
			deis_printable(shown, sizeof(shown), text + s, wl);
			deis_strlist_clear(&l);
			return deis_error_set(err, EINVAL, "drain '%s': too long", shown);
		}
		memcpy(word, text + s, wl);
		word[wl] = '\0';
		struct deis_drain d;
		if (deis_drain_parse(word, &d, err) < 0) {
			deis_strlist_clear(&l);
			return -err->code;
		}
		drain_format(&d, canon, sizeof(canon));
		if (deis_strlist_has(&l, canon))
			continue;
		if (l.n >= DRAINS_MAX) {
			deis_strlist_clear(&l);
			return deis_error_set(err, EINVAL, "drains: at most %d", DRAINS_MAX);
		}
		deis_strlist_add(&l, canon);
	}
	deis_strlist_clear(out);
	*out = l;
	return 0;
}

/* ---- where a drain may point ---- */

#define DRAIN_WHY "a drain may not point at the platform"

/* An IPv6 address that is an IPv4 one: ::ffff:a.b.c.d reaches a.b.c.d. */
static int v4mapped(const unsigned char *a)
{
	static const unsigned char pre[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(a, pre, sizeof(pre));
}

/* Address bytes in a canonical family (IPv4-mapped becomes IPv4). */
static void addr_norm(int *family, const unsigned char **a)
{
	if (*family == AF_INET6 && v4mapped(*a)) {
		*family = AF_INET;
		*a += 12;
	}
}

static int prefix_match(const unsigned char *a, const unsigned char *net, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, net, (size_t)full))
		return 0;
	if (!rest)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (net[full] & mask);
}

static void policy_push(struct deis_drain_policy *p, int family, const unsigned char *a,
			int bits, const char *what)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->nets = realloc(p->nets, p->cap * sizeof(*p->nets));
		if (!p->nets)
			abort();
	}
	struct deis_netaddr *na = &p->nets[p->n++];
	memset(na, 0, sizeof(*na));
	addr_norm(&family, &a);
	if (family == AF_INET && bits > 32)
		bits -= 96;	/* a mapped prefix */
	na->family = family;
	memcpy(na->a, a, family == AF_INET ? 4 : 16);
	na->bits = bits;
	snprintf(na->what, sizeof(na->what), "%s", what);
}

int deis_drain_policy_add(struct deis_drain_policy *p, const char *cidr,
			  const char *what, struct deis_error *err)
{
	char addr[INET6_ADDRSTRLEN + 8];
	unsigned char a[16];
	const char *slash = cidr ? strchr(cidr, '/') : NULL;
	size_t alen = slash ? (size_t)(slash - cidr) : (cidr ? strlen(cidr) : 0);
	int family, bits;

	if (!cidr || alen == 0 || alen >= sizeof(addr))
		return deis_error_set(err, EINVAL, "'%s' is not an address or a network",
				      cidr ? cidr : "(null)");
	memcpy(addr, cidr, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		family = AF_INET6;
	else
		return deis_error_set(err, EINVAL, "'%s' is not an address or a network", cidr);
	int max = family == AF_INET ? 32 : 128;
	bits = max;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || b < 0 || b > max)
			return deis_error_set(err, EINVAL, "'%s': bad prefix length", cidr);
		bits = (int)b;
	}
	policy_push(p, family, a, bits, what);
	return 0;
}

int deis_drain_policy_add_local(struct deis_drain_policy *p, struct deis_error *err)
{
	struct ifaddrs *ifs, *i;
	char what[96];

	if (getifaddrs(&ifs) < 0)
		return deis_error_set(err, errno, "this host's addresses: %s", strerror(errno));
	for (i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		snprintf(what, sizeof(what), "an address of this host (%s)", i->ifa_name);
		if (i->ifa_addr->sa_family == AF_INET)
			policy_push(p, AF_INET, (const unsigned char *)
				    &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr,
				    32, what);
		else if (i->ifa_addr->sa_family == AF_INET6)
			policy_push(p, AF_INET6, (const unsigned char *)
				    &((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr,
				    128, what);
	}
	freeifaddrs(ifs);
	return 0;
}

int deis_drain_policy_host(struct deis_drain_policy *p, const char *subnet,
			   struct deis_error *err)
{
	struct deis_error e = DEIS_ERROR_INIT;
	char what[320];
	int rc = 0;

	snprintf(what, sizeof(what), "in the containers' subnet %s", subnet ? subnet : "");
	if (deis_drain_policy_add(p, subnet, what, &e) < 0)
		rc = deis_error_set(err, e.code, "network_subnet: %s", e.msg);
	deis_error_clear(&e);
	if (deis_drain_policy_add_local(p, &e) < 0 && rc == 0)
		rc = deis_error_set(err, e.code, "%s", e.msg);
	return rc;
}

void deis_drain_policy_release(struct deis_drain_policy *p)
{
	free(p->nets);
	p->nets = NULL;
	p->n = p->cap = 0;
}

/* Why the address may not be a drain's, or NULL when it may. */
static const char *addr_forbidden(const struct deis_drain_policy *p, int family,
				  const unsigned char *a)
{
	static const unsigned char zero[16];

	addr_norm(&family, &a);
	if (family == AF_INET) {
		if (a[0] == 127)
			return "a loopback address";
		if (a[0] == 0)
			return "an unspecified address (it reaches this host)";
	} else {
		if (!memcmp(a, zero, 15) && a[15] == 1)
			return "a loopback address";
		if (!memcmp(a, zero, 16))
			return "an unspecified address (it reaches this host)";
	}
	for (size_t i = 0; p && i < p->n; i++)
		if (p->nets[i].family == family && prefix_match(a, p->nets[i].a, p->nets[i].bits))
			return p->nets[i].what;
	return NULL;
}

int deis_drain_check_host(const struct deis_drain_policy *p, const struct deis_drain *d,
			  struct deis_error *err)
{
	char url[300];
	unsigned char a[16];
	const char *why = NULL;
	size_t hl = strlen(d->host);

	drain_format(d, url, sizeof(url));
	if (inet_pton(AF_INET, d->host, a) == 1)
		why = addr_forbidden(p, AF_INET, a);
	else if (inet_pton(AF_INET6, d->host, a) == 1)
		why = addr_forbidden(p, AF_INET6, a);
	else if (!strcmp(d->host, "localhost") ||
		 (hl > 10 && !strcmp(d->host + hl - 10, ".localhost")))
		return deis_error_set(err, EINVAL, "drain '%s': %s names this host's loopback "
				      "(RFC 6761); " DRAIN_WHY, url, d->host);
	if (why)
		return deis_error_set(err, EINVAL, "drain '%s': %s is %s; " DRAIN_WHY, url,
				      d->host, why);
	return 0;
}

const char *deis_drain_addr_forbidden(const struct deis_drain_policy *p,
				      const struct sockaddr *addr, char *text, size_t len)
{
	const unsigned char *a;

	if (addr->sa_family == AF_INET)
		a = (const unsigned char *)&((const struct sockaddr_in *)(const void *)addr)->sin_addr;
	else if (addr->sa_family == AF_INET6)
		a = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
	else {
		snprintf(text, len, "(family %d)", addr->sa_family);
		return "not an IP address";
	}
	if (!inet_ntop(addr->sa_family, a, text, (socklen_t)len))
		snprintf(text, len, "?");
	return addr_forbidden(p, addr->sa_family, a);
}
