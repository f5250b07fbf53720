/*
 * drain.h - per-app log drains: "syslog://host:port" and
 * "syslog+tls://host:port" URLs, one per line in apps/<app>/drains.
 */
#ifndef DEIS_DRAIN_H
#define DEIS_DRAIN_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
