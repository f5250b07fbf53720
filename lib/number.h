/*
 * number.h - the number grammars the control files share (lib/number.c):
 * format.c's limits, healthcheck and rollback, quota.c's quota files.
 * Private to lib/.
 */
#ifndef DEIS_NUMBER_H
#define DEIS_NUMBER_H

#include <stddef.h>

/* Plain decimal digits, at least one, value <= max: 0 with *out set, else
 * -1.  No sign; leading zeros are allowed and dropped ("007" is 7). */
int number_uint(const char *s, size_t n, unsigned long long max,
		unsigned long long *out);

/* "2", "0.5", ".25", "1.125" (at most 3 decimals) in thousandths, at most
 * max; -1 when malformed or larger. */
long long number_thousandths(const char *s, size_t n, long long max);
/* The decimal without trailing zeros: 500 -> "0.5", 2000 -> "2". */
void number_thousandths_format(long long v, char *buf, size_t size);

/* Bytes of "512M", "1g", "4194304": digits with an optional suffix, one of
 * the letters of units (upper case, smallest first: "KMG", "KMGT"; powers
 * of 1024) in either case; -1 when malformed or over max. */
long long number_bytes(const char *s, size_t n, const char *units,
		       long long max);
/* With the largest suffix of units that divides bytes exactly ("512M",
 * "1T"), else plain bytes; what number_bytes() reads back. */
void number_bytes_format(long long bytes, const char *units, char *buf,
			 size_t size);

#endif
