/*
 * error.h - the one error convention of the library and the daemons.
 *
 * A function that can fail returns a negative value (-errno) and fills a
 * struct deis_error with the errno and a message in words.  Callers add
 * context with deis_error_prefix() ("loading app 'x': ...").  Library code
 * never prints; the caller decides where the message goes (at the FUSE
 * boundary it becomes exactly one reply and one log line).
 */
#ifndef DEIS_ERROR_H
#define DEIS_ERROR_H

#include <stddef.h>

struct deis_error {
	int code;		/* a positive errno; 0 when no error */
	char msg[1024];
};

#define DEIS_ERROR_INIT { 0, "" }

/* Sets err (if not NULL) and returns -code. */
int deis_error_set(struct deis_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends "context: " to err->msg; returns -err->code. */
int deis_error_prefix(struct deis_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void deis_error_clear(struct deis_error *err);

#endif
