/*
 * unit.h - a tiny TAP producer for the C unit tests.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_STR(a, "b"); }
 *   int main(void) { RUN(name); return unit_done(); }
 *
 * Each RUN prints "ok N - name" or "not ok N - name"; the suite runner
 * counts those lines.  A failed CHECK prints the expression and the values
 * as a TAP comment and marks the current test failed.
 */
#ifndef DEIS_UNIT_H
#define DEIS_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_n, unit_failed_total, unit_cur_failed;

#define TEST(name) static void test_##name(void)

#define CHECK(expr) do { \
	if (!(expr)) { \
		printf("# %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr); \
		unit_cur_failed = 1; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *unit_a_ = (a), *unit_b_ = (b); \
	if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_)) { \
		printf("# %s:%d: CHECK_STR(%s, %s) failed: got \"%s\", want \"%s\"\n", \
		       __FILE__, __LINE__, #a, #b, unit_a_ ? unit_a_ : "(null)", \
		       unit_b_ ? unit_b_ : "(null)"); \
		unit_cur_failed = 1; \
	} \
} while (0)

#define RUN(name) do { \
	unit_cur_failed = 0; \
	test_##name(); \
	unit_n++; \
	printf("%sok %d - %s\n", unit_cur_failed ? "not " : "", unit_n, #name); \
	unit_failed_total += unit_cur_failed; \
	fflush(stdout); \
} while (0)

static inline int unit_done(void)
{
	printf("1..%d\n", unit_n);
	return unit_failed_total ? 1 : 0;
}

#endif
