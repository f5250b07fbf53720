/*
 * quota.h - quotas and host capacity: what a tenant may commit.
 *
 * The owner of an app is charged for its containers: every process type
 * of its formation, and its one-off containers while they run.  A
 * container's memory is its type's `limits` memory, else the platform's
 * default (scheduler_memory); a one-off runs with web's limits, as the
 * scheduler starts it.
 *
 * Two bounds, checked by deis_admit(), a pure function (the tree calls
 * it at write() against its model, and lib/db_*.c again in the transaction
 * that commits the change, against the rows):
 *   - the owner's quota: containers and memory over all their apps
 *     (users/<name>/quota, else the platform's defaults, platform/quotas,
 *     else the built-in ones below);
 *   - the platform's capacity: the memory committed by every app must fit
 *     the nodes' memory times the overcommit ratio (platform/quotas).
 * A change that takes no more than before always passes, even over a
 * bound (a quota lowered below what is used, a node lost): scaling down
 * must always work.
 */
#ifndef DEIS_QUOTA_H
#define DEIS_QUOTA_H

#include <stdbool.h>
#include <stddef.h>

#include "deis/error.h"
#include "deis/kv.h"

/* Built-in defaults, when platform/quotas sets none: twenty standard
 * (512M) containers per user, and the nodes' memory as it is. */
#define DEIS_QUOTA_CONTAINERS	20
#define DEIS_QUOTA_MEMORY	(10LL << 30)
#define DEIS_QUOTA_OVERCOMMIT	1000		/* per mille: 1.0 */

/* Bounds of what may be written. */
#define DEIS_QUOTA_CONTAINERS_MAX	1000000L
#define DEIS_QUOTA_MEMORY_MAX		(1LL << 50)	/* 1024T */
#define DEIS_QUOTA_OVERCOMMIT_MIN	10		/* 0.01 */
#define DEIS_QUOTA_OVERCOMMIT_MAX	100000		/* 100 */

/* One level of quotas: a user's own, the platform's, or resolved.  A
 * field not set at this level is -1 (overcommit: 0). */
struct deis_quota {
	long containers;
	long long memory;		/* bytes */
	int overcommit;			/* per mille of the nodes' memory;
					 * platform only */
};

#define DEIS_QUOTA_UNSET ((struct deis_quota){ -1, -1, 0 })

/* What some apps take. */
struct deis_usage {
	long containers;
	long long memory;		/* bytes */
};

/* The memory of a container of type under limits ("web.memory"), else
 * def (bytes). */
long long deis_quota_container_memory(const struct deis_kvlist *limits,
				      const char *type, long long def);
/* Adds one app's commitment to u: each formation entry (type -> count)
 * at its type's memory, and oneoffs one-off containers at web's. */
void deis_usage_add_app(struct deis_usage *u, const struct deis_kvlist *formation,
			const struct deis_kvlist *limits, long oneoffs, long long def);
/* Does after take more than before, in containers or memory? */
bool deis_usage_grows(const struct deis_usage *before, const struct deis_usage *after);

/* The effective quota: each field from user (may be NULL) if set, else
 * platform (may be NULL), else the built-in default. */
void deis_quota_resolve(const struct deis_quota *user, const struct deis_quota *platform,
			struct deis_quota *out);

/* Parses a quota file: items "containers=N", "memory=SIZE" (bytes with
 * an optional K, M, G or T suffix, powers of 1024) and, when platform,
 * "overcommit=R" (0.01 to 100, at most 3 decimals), separated by blanks
 * or newlines; '#' starts a comment to the end of its line.  A key not
 * given is unset in out.  -EINVAL with the reason. */
int deis_quota_parse(const char *text, size_t len, bool platform,
		     struct deis_quota *out, struct deis_error *err);
/* "10G", "1536M", "24683628K": the largest suffix that divides exactly. */
void deis_quota_memory_format(long long bytes, char *buf, size_t len);
/* "1", "0.5", "1.25" */
void deis_quota_overcommit_format(int permille, char *buf, size_t len);

/* Everything admission weighs for one change. */
struct deis_admission {
	const char *user;		/* the owner charged */
	struct deis_usage before;	/* the owner's, over all their apps */
	struct deis_usage after;	/* the same with the change made */
	struct deis_quota quota;	/* resolved (deis_quota_resolve) */
	long long committed_before;	/* memory of every app on the platform */
	long long committed_after;
	long long node_memory;		/* of the nodes that are up (bytes) */
	int nodes;			/* how many; 0: node_memory is this
					 * host's (no node known) */
};

/* The policy: 0 when the change may go, else -EDQUOT with the reason in
 * words in err (the first bound it passes: containers, memory, then
 * capacity). */
int deis_admit(const struct deis_admission *a, struct deis_error *err);

/* This host's memory (MemTotal of /proc/meminfo) in bytes; 0 when
 * unknown. */
long long deis_quota_host_memory(void);
/* The memory of a container whose type has no limit: scheduler_memory
 * (MB, a common option), in bytes. */
long long deis_quota_default_memory(void);

#endif
