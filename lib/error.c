/* error.c - see include/deis/error.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "deis/error.h"

int deis_error_set(struct deis_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (code < 0)
		code = -code;
	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -code;
}

int deis_error_prefix(struct deis_error *err, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	char ctx[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return -1;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	/* context first; the original message is cut if it must be */
	size_t n = strnlen(ctx, sizeof(err->msg) - 3);
	memcpy(err->msg, ctx, n);
	memcpy(err->msg + n, ": ", 2);
	n += 2;
	size_t rest = strnlen(old, sizeof(err->msg) - n - 1);
	memcpy(err->msg + n, old, rest);
	err->msg[n + rest] = '\0';
	return -err->code;
}

void deis_error_clear(struct deis_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
