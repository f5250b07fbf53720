/*
 * tool.h - what the small command-line clients of tests/unit share
 * (registry_tool, runtime_tool, net_tool): a library error as the exit
 * status, and the clock and median of their bench commands.
 */
#ifndef DEIS_TOOL_H
#define DEIS_TOOL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "deis/error.h"

/* "<tool>: message" on stderr; the errno is the exit status, so that the
 * shell tests can tell ENOENT from EINVAL. */
static inline int tool_fail(const struct deis_error *err)
{
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, err->msg);
	return err->code ? err->code : 1;
}

static inline double tool_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline int tool_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of v[0..n), n > 0 (sorts v). */
static inline double tool_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), tool_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
