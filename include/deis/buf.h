/*
 * buf.h - a growable byte buffer, always NUL-terminated.
 *
 * Allocation failure aborts (the daemons cannot do anything useful without
 * memory, and checking every append would hide the real logic).
 */
#ifndef DEIS_BUF_H
#define DEIS_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct deis_buf {
	char *data;	/* NUL-terminated; NULL until the first append */
	size_t len;
	size_t cap;
};

#define DEIS_BUF_INIT { NULL, 0, 0 }

void deis_buf_grow(struct deis_buf *b, size_t extra);
/* The capacity (bytes allocated) b would have after deis_buf_grow(b, extra),
 * so that a caller can account for memory before it takes it. */
size_t deis_buf_cap_for(const struct deis_buf *b, size_t extra);
void deis_buf_add(struct deis_buf *b, const void *data, size_t len);
void deis_buf_adds(struct deis_buf *b, const char *s);
void deis_buf_addch(struct deis_buf *b, char c);
void deis_buf_addf(struct deis_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void deis_buf_vaddf(struct deis_buf *b, const char *fmt, va_list ap);
void deis_buf_reset(struct deis_buf *b);		/* len = 0, keeps memory */
void deis_buf_release(struct deis_buf *b);		/* frees */
/* Returns the data (never NULL) and leaves b empty; the caller frees it. */
char *deis_buf_detach(struct deis_buf *b, size_t *len);
/* A pointer that is never NULL ("" for an empty buffer). */
const char *deis_buf_str(const struct deis_buf *b);

#endif
