/*
 * test_logd_guard.c - unit tests for deis-logd's replay guard
 * (daemons/logd/guard.c): after a restart, a message whose every line is
 * already in an output is skipped, for LOGD_GUARD_MS.
 */
#include "../../daemons/logd/logd.h"
#include "unit.h"

TEST(guard_knows_the_tail)
{
	struct logd_guard g = { 0 };

	guard_begin(&g, "t1 a[web.1]: one\nt2 a[web.1]: two\n", 34, 0, 1000);
	CHECK(guard_replayed(&g, "t1 a[web.1]: one\n", 17, 1001) == 1);
	CHECK(guard_replayed(&g, "t1 a[web.1]: one\nt2 a[web.1]: two\n", 34, 1002) == 1);
	/* One new line: the whole message is new, and remembered. */
	CHECK(guard_replayed(&g, "t2 a[web.1]: two\nt3 a[web.1]: three\n", 36, 1003) == 0);
	CHECK(guard_replayed(&g, "t3 a[web.1]: three\n", 19, 1004) == 1);
	CHECK(guard_replayed(&g, "t4 a[web.1]: four\n", 18, 1005) == 0);
	guard_release(&g);
}

TEST(guard_skips_a_cut_first_line)
{
	struct logd_guard g = { 0 };

	/* A tail read from the middle of the output: "ne" is the end of a
	 * line whose start was not read. */
	guard_begin(&g, "ne\nt2 two\n", 10, 1, 0);
	CHECK(guard_replayed(&g, "ne\n", 3, 1) == 0);
	CHECK(guard_replayed(&g, "t2 two\n", 7, 2) == 1);
	guard_release(&g);
}

TEST(guard_ends)
{
	struct logd_guard g = { 0 };

	guard_begin(&g, "t1 one\n", 7, 0, 0);
	CHECK(guard_replayed(&g, "t1 one\n", 7, LOGD_GUARD_MS) == 1);
	CHECK(guard_replayed(&g, "t1 one\n", 7, LOGD_GUARD_MS + 1) == 0);
	CHECK(g.seen == NULL && g.until == 0);
	CHECK(guard_replayed(&g, "t1 one\n", 7, LOGD_GUARD_MS + 2) == 0);
	/* Never started: nothing is skipped. */
	struct logd_guard off = { 0 };
	CHECK(guard_replayed(&off, "t1 one\n", 7, 5) == 0);
}

TEST(guard_many_lines)
{
	struct logd_guard g = { 0 };
	char line[64];

	guard_begin(&g, "", 0, 0, 0);
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(line, sizeof(line), "t%d line %d\n", i, i);
		CHECK(guard_replayed(&g, line, (size_t)n, 1) == 0);
	}
	for (int i = 0; i < 5000; i += 7) {
		int n = snprintf(line, sizeof(line), "t%d line %d\n", i, i);
		CHECK(guard_replayed(&g, line, (size_t)n, 2) == 1);
	}
	CHECK(g.nseen == 5000);
	guard_release(&g);
}

int main(void)
{
	RUN(guard_knows_the_tail);
	RUN(guard_skips_a_cut_first_line);
	RUN(guard_ends);
	RUN(guard_many_lines);
	return unit_done();
}
