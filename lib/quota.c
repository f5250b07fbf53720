/*
 * quota.c - quotas and host capacity: the admission policy (see quota.h).
 *
 * Pure functions over numbers the callers gather: the tree from its
 * in-memory model at write(), lib/db_*.c from the rows in the transaction
 * that commits.  Both therefore decide the same way, and the policy is
 * unit-tested on its own (tests/unit/test_quota.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/conf.h"
#include "deis/quota.h"
#include "deis/validate.h"
#include "number.h"

#define KiB 1024LL
#define MiB (1024LL * KiB)
#define GiB (1024LL * MiB)
#define TiB (1024LL * GiB)

long long deis_quota_container_memory(const struct deis_kvlist *limits,
				      const char *type, long long def)
{
	char key[64];

	snprintf(key, sizeof(key), "%s.memory", type);
	long long m = limits ? deis_limits_memory_bytes(deis_kvlist_get(limits, key)) : -1;
	return m > 0 ? m : def;
}

void deis_usage_add_app(struct deis_usage *u, const struct deis_kvlist *formation,
			const struct deis_kvlist *limits, long oneoffs, long long def)
{
	for (size_t i = 0; formation && i < formation->n; i++) {
		long n = strtol(formation->items[i].value, NULL, 10);
		if (n <= 0)
			continue;
		u->containers += n;
		u->memory += n * deis_quota_container_memory(limits, formation->items[i].key, def);
	}
	/* One-offs run with web's limits (the scheduler starts them so). */
	if (oneoffs > 0) {
		u->containers += oneoffs;
		u->memory += oneoffs * deis_quota_container_memory(limits, "web", def);
	}
}

bool deis_usage_grows(const struct deis_usage *before, const struct deis_usage *after)
{
	return after->containers > before->containers || after->memory > before->memory;
}

void deis_quota_resolve(const struct deis_quota *user, const struct deis_quota *platform,
			struct deis_quota *out)
{
	out->containers = user && user->containers >= 0 ? user->containers :
		platform && platform->containers >= 0 ? platform->containers :
		DEIS_QUOTA_CONTAINERS;
	out->memory = user && user->memory >= 0 ? user->memory :
		platform && platform->memory >= 0 ? platform->memory : DEIS_QUOTA_MEMORY;
	out->overcommit = platform && platform->overcommit > 0 ? platform->overcommit :
		DEIS_QUOTA_OVERCOMMIT;
}

/* ---- the quota file ---- */

void deis_quota_memory_format(long long bytes, char *buf, size_t len)
{
	number_bytes_format(bytes, "KMGT", buf, len);
}

void deis_quota_overcommit_format(int permille, char *buf, size_t len)
{
	number_thousandths_format(permille, buf, len);
}

/* A memory size for a message: exact when short ("10G", "1536M"), else
 * to a tenth of the largest unit ("23.5G"). */
static void memory_words(long long bytes, char *buf, size_t len)
{
	static const struct { long long unit; char suffix; } units[] = {
		{ TiB, 'T' }, { GiB, 'G' }, { MiB, 'M' }, { KiB, 'K' },
	};

	deis_quota_memory_format(bytes, buf, len);
	if (strlen(buf) <= 6)
		return;
	for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
		if (bytes >= units[i].unit) {
			snprintf(buf, len, "%.1f%c", (double)bytes / (double)units[i].unit,
				 units[i].suffix);
			return;
		}
}

/* Plain decimal digits, at least one, value <= max; -1 otherwise. */
static long long digits(const char *s, size_t n, long long max)
{
	unsigned long long v;

	return number_uint(s, n, (unsigned long long)max, &v) < 0 ? -1 : (long long)v;
}

int deis_quota_parse(const char *text, size_t len, bool platform,
		     struct deis_quota *out, struct deis_error *err)
{
	const char *keys = platform ? "containers, memory, overcommit" : "containers, memory";
	char show[96];
	size_t p = 0;

	*out = DEIS_QUOTA_UNSET;
	if (deis_text_check("quota", text, len, DEIS_CONTROL_MAX, err) < 0)
		return -EINVAL;
	while (p < len) {
		char c = text[p];
		if (c == '#') {
			while (p < len && text[p] != '\n')
				p++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			p++;
			continue;
		}
		size_t s = p;
		while (p < len && text[p] != ' ' && text[p] != '\t' && text[p] != '\n' &&
		       text[p] != '\r' && text[p] != '#')
			p++;
		const char *tok = text + s, *eq = memchr(tok, '=', p - s);
		size_t tl = p - s;
		deis_printable(show, sizeof(show), tok, tl);
		if (!eq)
			return deis_error_set(err, EINVAL, "quota: '%s': expected key=value "
					      "(keys: %s)", show, keys);
		size_t kl = (size_t)(eq - tok), vl = tl - kl - 1;
		const char *val = eq + 1;
		bool twice = false;
		if (kl == 10 && !memcmp(tok, "containers", 10)) {
			twice = out->containers >= 0;
			out->containers = (long)digits(val, vl, DEIS_QUOTA_CONTAINERS_MAX);
			if (out->containers < 0)
				return deis_error_set(err, EINVAL, "quota: '%s': containers must be "
						      "a whole number from 0 to %ld", show,
						      DEIS_QUOTA_CONTAINERS_MAX);
		} else if (kl == 6 && !memcmp(tok, "memory", 6)) {
			twice = out->memory >= 0;
			out->memory = number_bytes(val, vl, "KMGT", DEIS_QUOTA_MEMORY_MAX);
			if (out->memory < 0)
				return deis_error_set(err, EINVAL, "quota: '%s': memory must be "
						      "bytes with an optional K, M, G or T suffix, "
						      "at most 1024T", show);
		} else if (kl == 10 && !memcmp(tok, "overcommit", 10) && platform) {
			twice = out->overcommit > 0;
			long long r = number_thousandths(val, vl, DEIS_QUOTA_OVERCOMMIT_MAX);
			if (r < DEIS_QUOTA_OVERCOMMIT_MIN || r > DEIS_QUOTA_OVERCOMMIT_MAX)
				return deis_error_set(err, EINVAL, "quota: '%s': overcommit must "
						      "be a ratio from 0.01 to 100, with at most "
						      "3 decimals", show);
			out->overcommit = (int)r;
		} else if (kl == 10 && !memcmp(tok, "overcommit", 10)) {
			return deis_error_set(err, EINVAL, "quota: '%s': overcommit is the "
					      "platform's (platform/quotas)", show);
		} else {
			return deis_error_set(err, EINVAL, "quota: '%s': unknown key (keys: %s)",
					      show, keys);
		}
		if (twice)
			return deis_error_set(err, EINVAL, "quota: '%.*s' is given twice",
					      (int)kl, tok);
	}
	return 0;
}

/* ---- the policy ---- */

int deis_admit(const struct deis_admission *a, struct deis_error *err)
{
	char m1[32], m2[32], m3[32], ratio[16];

	if (a->after.containers > a->before.containers &&
	    a->after.containers > a->quota.containers)
		return deis_error_set(err, EDQUOT, "quota: %s's apps would run %ld containers; "
				      "the quota is %ld (an admin can raise it in "
				      "users/%s/quota)", a->user, a->after.containers,
				      a->quota.containers, a->user);
	if (a->after.memory > a->before.memory && a->after.memory > a->quota.memory) {
		memory_words(a->after.memory, m1, sizeof(m1));
		memory_words(a->quota.memory, m2, sizeof(m2));
		return deis_error_set(err, EDQUOT, "quota: %s's apps would take %s of memory; "
				      "the quota is %s (an admin can raise it in "
				      "users/%s/quota)", a->user, m1, m2, a->user);
	}
	/* The nodes' memory times the ratio, in 128 bits: 1024T x 100. */
	long long capacity = (long long)((__int128)a->node_memory * a->quota.overcommit / 1000);
	if (a->committed_after > a->committed_before && a->committed_after > capacity) {
		memory_words(a->committed_after, m1, sizeof(m1));
		memory_words(a->node_memory, m2, sizeof(m2));
		memory_words(capacity, m3, sizeof(m3));
		deis_quota_overcommit_format(a->quota.overcommit, ratio, sizeof(ratio));
		if (!a->nodes)
			return deis_error_set(err, EDQUOT, "capacity: the platform would commit "
					      "%s of container memory; this host has %s (no "
					      "node has reported its own), x overcommit %s = %s "
					      "(platform/quotas)", m1, m2, ratio, m3);
		return deis_error_set(err, EDQUOT, "capacity: the platform would commit %s "
				      "of container memory; its %d node%s %s %s, x "
				      "overcommit %s = %s (platform/quotas)", m1, a->nodes,
				      a->nodes == 1 ? "" : "s", a->nodes == 1 ? "has" : "have",
				      m2, ratio, m3);
	}
	return 0;
}

/* ---- what the host has, what a container gets ---- */

long long deis_quota_host_memory(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb > 0 ? kb * KiB : 0;
}

long long deis_quota_default_memory(void)
{
	/* Every binary reads scheduler_memory (a common option), so the
	 * tree's admission and the scheduler's cgroups agree. */
	return (deis_conf.scheduler_memory > 0 ? deis_conf.scheduler_memory : 512) * MiB;
}
