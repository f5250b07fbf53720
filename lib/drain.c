/*
 * drain.c - parsing log drain URLs ("syslog://host:port",
 * "syslog+tls://host:port").  See include/deis/drain.h.
 *
 * A drain URL ends up in a socket address and, for TLS, in certificate
 * name checks, so the grammar is strict: a scheme, a host (DNS name, IPv4
 * dotted quad or bracketed IPv6) and a decimal port; nothing else (no user
 * info, path, query, fragment, percent escapes or blanks).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
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
