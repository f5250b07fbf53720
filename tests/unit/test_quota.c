/*
 * test_quota.c - unit tests for lib/quota.c: what a container and an app
 * commit, the quota file, and the admission policy (quotas, capacity).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "deis/kv.h"
#include "deis/quota.h"
#include "unit.h"

#define M (1024LL * 1024)
#define G (1024 * M)

static struct deis_kvlist kvs(const char *const *pairs)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;

	for (; pairs && pairs[0]; pairs += 2)
		deis_kvlist_set(&l, pairs[0], pairs[1]);
	deis_kvlist_sort(&l);
	return l;
}

TEST(container_memory)
{
	struct deis_kvlist l = kvs((const char *[]){ "web.memory", "1G", "web.cpu", "0.5",
						      "worker.memory", "64M", NULL });

	CHECK(deis_quota_container_memory(&l, "web", 512 * M) == G);
	CHECK(deis_quota_container_memory(&l, "worker", 512 * M) == 64 * M);
	CHECK(deis_quota_container_memory(&l, "clock", 512 * M) == 512 * M);
	CHECK(deis_quota_container_memory(NULL, "web", 256 * M) == 256 * M);
	deis_kvlist_clear(&l);
}

TEST(app_usage)
{
	struct deis_kvlist f = kvs((const char *[]){ "web", "3", "worker", "2", "clock", "0", NULL });
	struct deis_kvlist l = kvs((const char *[]){ "worker.memory", "64M", NULL });
	struct deis_usage u = { 0, 0 };

	deis_usage_add_app(&u, &f, &l, 0, 512 * M);
	CHECK(u.containers == 5);
	CHECK(u.memory == 3 * 512 * M + 2 * 64 * M);
	/* one-offs run with web's limits, and add up over apps */
	struct deis_kvlist l2 = kvs((const char *[]){ "web.memory", "2G", NULL });
	deis_usage_add_app(&u, NULL, &l2, 2, 512 * M);
	CHECK(u.containers == 7);
	CHECK(u.memory == 3 * 512 * M + 2 * 64 * M + 4 * G);
	deis_kvlist_clear(&f);
	deis_kvlist_clear(&l);
	deis_kvlist_clear(&l2);
}

TEST(grows)
{
	struct deis_usage a = { 2, G }, b = { 2, G }, c = { 1, 2 * G }, d = { 3, G / 2 };

	CHECK(!deis_usage_grows(&a, &b));
	CHECK(deis_usage_grows(&a, &c));	/* fewer containers, more memory */
	CHECK(deis_usage_grows(&a, &d));	/* more containers, less memory */
	CHECK(!deis_usage_grows(&c, &(struct deis_usage){ 1, G }));
}

TEST(resolve)
{
	struct deis_quota user = { 40, -1, 0 }, platform = { 5, 2 * G, 1500 }, q;

	deis_quota_resolve(&user, &platform, &q);
	CHECK(q.containers == 40);
	CHECK(q.memory == 2 * G);
	CHECK(q.overcommit == 1500);
	deis_quota_resolve(NULL, NULL, &q);
	CHECK(q.containers == DEIS_QUOTA_CONTAINERS);
	CHECK(q.memory == DEIS_QUOTA_MEMORY);
	CHECK(q.overcommit == DEIS_QUOTA_OVERCOMMIT);
	/* 0 is a quota (nothing allowed), not "unset" */
	user = (struct deis_quota){ 0, 0, 0 };
	deis_quota_resolve(&user, NULL, &q);
	CHECK(q.containers == 0 && q.memory == 0);
}

static int parse(const char *text, bool platform, struct deis_quota *q, char *msg)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int r = deis_quota_parse(text, strlen(text), platform, q, &err);

	snprintf(msg, 256, "%s", err.msg);
	return r;
}

TEST(parse)
{
	struct deis_quota q;
	char msg[256];

	CHECK(parse("containers=20\nmemory=10G\n", false, &q, msg) == 0);
	CHECK(q.containers == 20 && q.memory == 10 * G && q.overcommit == 0);
	CHECK(parse("  memory=1536m  ", false, &q, msg) == 0);
	CHECK(q.containers == -1 && q.memory == 1536 * M);
	CHECK(parse("", false, &q, msg) == 0);
	CHECK(q.containers == -1 && q.memory == -1 && q.overcommit == 0);
	/* what a read gives back parses, comments and all */
	CHECK(parse("containers=3\nmemory=2T\n# used: containers=2 memory=1G\n"
		    "overcommit=1.5 # the ratio\n", true, &q, msg) == 0);
	CHECK(q.containers == 3 && q.memory == 2048 * G && q.overcommit == 1500);
	CHECK(parse("overcommit=.25", true, &q, msg) == 0 && q.overcommit == 250);
	CHECK(parse("overcommit=100", true, &q, msg) == 0 && q.overcommit == 100000);
	CHECK(parse("containers=0 memory=0", false, &q, msg) == 0);
	CHECK(q.containers == 0 && q.memory == 0);
	CHECK(parse("memory=1024T", false, &q, msg) == 0 && q.memory == 1024 * 1024 * G);
}

TEST(parse_refuses)
{
	struct deis_quota q;
	char msg[256];

	CHECK(parse("containers=-1", false, &q, msg) == -EINVAL);
	CHECK(strstr(msg, "containers must be") != NULL);
	CHECK(parse("containers=1000001", false, &q, msg) == -EINVAL);
	CHECK(parse("containers=x", false, &q, msg) == -EINVAL);
	CHECK(parse("containers=", false, &q, msg) == -EINVAL);
	CHECK(parse("memory=12Q", false, &q, msg) == -EINVAL);
	CHECK(parse("memory=1025T", false, &q, msg) == -EINVAL);
	CHECK(parse("memory=G", false, &q, msg) == -EINVAL);
	CHECK(parse("cpu=2", false, &q, msg) == -EINVAL);
	CHECK(strstr(msg, "unknown key") != NULL);
	CHECK(parse("containers", false, &q, msg) == -EINVAL);
	CHECK(parse("containers=1 containers=2", false, &q, msg) == -EINVAL);
	CHECK(strstr(msg, "given twice") != NULL);
	CHECK(parse("overcommit=2", false, &q, msg) == -EINVAL);
	CHECK(strstr(msg, "platform") != NULL);
	CHECK(parse("overcommit=0", true, &q, msg) == -EINVAL);
	CHECK(parse("overcommit=0.001", true, &q, msg) == -EINVAL);
	CHECK(parse("overcommit=101", true, &q, msg) == -EINVAL);
	CHECK(parse("overcommit=1.", true, &q, msg) == -EINVAL);
	CHECK(parse("overcommit=1.2345", true, &q, msg) == -EINVAL);
	CHECK(parse("containers=1\0", false, &q, msg) == 0);	/* strlen stops */
	struct deis_error err = DEIS_ERROR_INIT;
	CHECK(deis_quota_parse("containers=1\0x", 14, false, &q, &err) == -EINVAL);
}

TEST(formats)
{
	char b[32];

	deis_quota_memory_format(10 * G, b, sizeof(b));
	CHECK_STR(b, "10G");
	deis_quota_memory_format(1536 * M, b, sizeof(b));
	CHECK_STR(b, "1536M");
	deis_quota_memory_format(24683628LL * 1024, b, sizeof(b));
	CHECK_STR(b, "24683628K");
	deis_quota_memory_format(2048 * G, b, sizeof(b));
	CHECK_STR(b, "2T");
	deis_quota_memory_format(0, b, sizeof(b));
	CHECK_STR(b, "0");
	deis_quota_memory_format(1000, b, sizeof(b));
	CHECK_STR(b, "1000");
	deis_quota_overcommit_format(1000, b, sizeof(b));
	CHECK_STR(b, "1");
	deis_quota_overcommit_format(1500, b, sizeof(b));
	CHECK_STR(b, "1.5");
	deis_quota_overcommit_format(10, b, sizeof(b));
	CHECK_STR(b, "0.01");
	deis_quota_overcommit_format(1125, b, sizeof(b));
	CHECK_STR(b, "1.125");
}

/* alice: 20 containers, 10G; one node of 24G; overcommit 1. */
static struct deis_admission base(void)
{
	return (struct deis_admission){
		.user = "alice",
		.before = { 2, G }, .after = { 2, G },
		.quota = { 20, 10 * G, 1000 },
		.committed_before = 4 * G, .committed_after = 4 * G,
		.node_memory = 24 * G, .nodes = 1,
	};
}

static int admit(const struct deis_admission *a, char *msg)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int r = deis_admit(a, &err);

	snprintf(msg, 512, "%s", err.msg);
	return r;
}

TEST(admit_within)
{
	struct deis_admission a = base();
	char msg[512];

	CHECK(admit(&a, msg) == 0);
	a.after = (struct deis_usage){ 20, 10 * G };	/* exactly the quota */
	a.committed_after = 12 * G;
	CHECK(admit(&a, msg) == 0);
	a.after = (struct deis_usage){ 20, 10 * G };
	a.committed_after = 24 * G;			/* exactly the node */
	CHECK(admit(&a, msg) == 0);
}

TEST(admit_containers)
{
	struct deis_admission a = base();
	char msg[512];

	/* web=1000 at 512M */
	a.after = (struct deis_usage){ 1000, 500 * G };
	a.committed_after = 503 * G;
	CHECK(admit(&a, msg) == -EDQUOT);
	CHECK_STR(msg, "quota: alice's apps would run 1000 containers; the quota is 20 "
		  "(an admin can raise it in users/alice/quota)");
	a.after = (struct deis_usage){ 21, 2 * G };
	a.committed_after = 5 * G;
	CHECK(admit(&a, msg) == -EDQUOT);
}

TEST(admit_memory)
{
	struct deis_admission a = base();
	char msg[512];

	a.after = (struct deis_usage){ 2, 10 * G + 1 };
	a.committed_after = 12 * G;
	CHECK(admit(&a, msg) == -EDQUOT);
	CHECK(strstr(msg, "quota: alice's apps would take ") == msg);
	CHECK(strstr(msg, "the quota is 10G") != NULL);
	/* fewer containers but more memory than the quota: refused */
	a.after = (struct deis_usage){ 1, 11 * G };
	CHECK(admit(&a, msg) == -EDQUOT);
	a.after = (struct deis_usage){ 4, 4 * G };
	a.quota.memory = 2 * G;
	CHECK(admit(&a, msg) == -EDQUOT);
	CHECK(strstr(msg, "would take 4G of memory; the quota is 2G") != NULL);
}

TEST(admit_capacity)
{
	struct deis_admission a = base();
	char msg[512];

	/* within the user's (raised) quota, over the node */
	a.quota = (struct deis_quota){ 1000, 1000 * G, 1000 };
	a.after = (struct deis_usage){ 50, 25 * G };
	a.committed_after = 27 * G;
	CHECK(admit(&a, msg) == -EDQUOT);
	CHECK_STR(msg, "capacity: the platform would commit 27G of container memory; its "
		  "1 node has 24G, x overcommit 1 = 24G (platform/quotas)");
	/* an overcommit ratio makes room */
	a.quota.overcommit = 1500;
	CHECK(admit(&a, msg) == 0);
	/* a low ratio refuses even one container */
	a.quota.overcommit = 10;
	a.committed_before = 0;
	a.committed_after = 512 * M;
	a.after = (struct deis_usage){ 3, 1536 * M };
	CHECK(admit(&a, msg) == -EDQUOT);
	CHECK(strstr(msg, "x overcommit 0.01 = ") != NULL);
	/* two nodes; none known: this host */
	a.quota.overcommit = 1000;
	a.committed_after = 50 * G;
	a.nodes = 2;
	CHECK(admit(&a, msg) == -EDQUOT);
	CHECK(strstr(msg, "its 2 nodes have 24G") != NULL);
	a.nodes = 0;
	CHECK(admit(&a, msg) == -EDQUOT);
	CHECK(strstr(msg, "this host has 24G (no node has reported its own)") != NULL);
	/* the quota is reported first when both are passed */
	a.quota = (struct deis_quota){ 1, 1000 * G, 1000 };
	CHECK(admit(&a, msg) == -EDQUOT);
	CHECK(strstr(msg, "quota: ") == msg);
}

TEST(admit_never_blocks_a_decrease)
{
	struct deis_admission a = base();
	char msg[512];

	/* over every bound already (a quota lowered, a node gone) */
	a.quota = (struct deis_quota){ 1, G, 1000 };
	a.before = (struct deis_usage){ 5, 5 * G };
	a.committed_before = 40 * G;
	a.after = (struct deis_usage){ 3, 3 * G };
	a.committed_after = 38 * G;
	CHECK(admit(&a, msg) == 0);
	a.after = a.before;			/* unchanged: passes too */
	a.committed_after = a.committed_before;
	CHECK(admit(&a, msg) == 0);
	a.after = (struct deis_usage){ 6, 5 * G };	/* one more: refused */
	CHECK(admit(&a, msg) == -EDQUOT);
	/* another user's growth does not matter to a user's quota, but the
	 * platform's does to capacity */
	a.after = a.before;
	a.committed_after = a.committed_before + 1;
	CHECK(admit(&a, msg) == -EDQUOT);
	CHECK(strstr(msg, "capacity: ") == msg);
}

TEST(huge_numbers)
{
	struct deis_admission a = base();
	char msg[512];

	/* 1024T of nodes x 100 does not overflow */
	a.node_memory = 1LL << 50;
	a.quota = (struct deis_quota){ 1000000, 1LL << 50, 100000 };
	a.after = (struct deis_usage){ 1000000, 1LL << 50 };
	a.committed_after = 1LL << 56;
	CHECK(admit(&a, msg) == 0);
	a.committed_after = (1LL << 56) + (1LL << 50) * 100;
	CHECK(admit(&a, msg) == -EDQUOT);
}

int main(void)
{
	RUN(container_memory);
	RUN(app_usage);
	RUN(grows);
	RUN(resolve);
	RUN(parse);
	RUN(parse_refuses);
	RUN(formats);
	RUN(admit_within);
	RUN(admit_containers);
	RUN(admit_memory);
	RUN(admit_capacity);
	RUN(admit_never_blocks_a_decrease);
	RUN(huge_numbers);
	return unit_done();
}
