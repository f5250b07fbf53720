/*
 * number.c - the number grammars of the control files: plain decimal
 * digits, thousandths written as decimals ("0.5" cores, "1.25"
 * overcommit), and byte sizes with a K, M, G or T suffix.  Each parser
 * reads back what its formatter writes.  See number.h.
 */
#include <stdio.h>
#include <string.h>

#include "number.h"

int number_uint(const char *s, size_t n, unsigned long long max,
		unsigned long long *out)
{
	unsigned long long v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long long)(s[i] - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

long long number_thousandths(const char *s, size_t n, long long max)
{
	const char *dot = memchr(s, '.', n);
	size_t il = dot ? (size_t)(dot - s) : n, fl = dot ? n - il - 1 : 0;
	unsigned long long ip = 0, fp = 0;
	long long v;

	if (n == 0 || (dot && (fl < 1 || fl > 3)))
		return -1;
	if (il && number_uint(s, il, (unsigned long long)max / 1000, &ip) < 0)
		return -1;
	if (fl && number_uint(dot + 1, fl, 999, &fp) < 0)
		return -1;
	for (size_t i = fl; i < 3; i++)
		fp *= 10;
	v = (long long)(ip * 1000 + fp);
	return v > max ? -1 : v;
}

void number_thousandths_format(long long v, char *buf, size_t size)
{
	long long frac = v % 1000;
	int digits = 3;

	if (!frac) {
		snprintf(buf, size, "%lld", v / 1000);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, size, "%lld.%0*lld", v / 1000, digits, frac);
}

/* 1024 to the power of the place of c in units (K: 1), or 0. */
static long long unit_of(char c, const char *units)
{
	const char *u;
	long long m = 1;

	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	u = c ? strchr(units, c) : NULL;
	if (!u)
		return 0;
	for (const char *p = units; p <= u; p++)
		m *= 1024;
	return m;
}

long long number_bytes(const char *s, size_t n, const char *units,
		       long long max)
{
	unsigned long long v;
	long long mult = n ? unit_of(s[n - 1], units) : 0;

	if (mult)
		n--;
	else
		mult = 1;
	if (number_uint(s, n, (unsigned long long)(max / mult), &v) < 0)
		return -1;
	return (long long)v * mult;
}

void number_bytes_format(long long bytes, const char *units, char *buf,
			 size_t size)
{
	for (size_t i = strlen(units); bytes > 0 && i-- > 0; ) {
		long long unit = unit_of(units[i], units);

		if (bytes % unit == 0) {
			snprintf(buf, size, "%lld%c", bytes / unit, units[i]);
			return;
		}
	}
	snprintf(buf, size, "%lld", bytes);
}
