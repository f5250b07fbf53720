/* buf.c - see include/deis/buf.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/buf.h"

size_t deis_buf_cap_for(const struct deis_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return b->cap;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	return cap;
}

void deis_buf_grow(struct deis_buf *b, size_t extra)
{
	size_t cap = deis_buf_cap_for(b, extra);

	if (cap == b->cap)
		return;
	char *p = realloc(b->data, cap);
	if (!p)
		abort();
	b->data = p;
	b->cap = cap;
}

void deis_buf_add(struct deis_buf *b, const void *data, size_t len)
{
	deis_buf_grow(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void deis_buf_adds(struct deis_buf *b, const char *s)
{
	deis_buf_add(b, s, strlen(s));
}

void deis_buf_addch(struct deis_buf *b, char c)
{
	deis_buf_add(b, &c, 1);
}

void deis_buf_vaddf(struct deis_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	deis_buf_grow(b, 64);
	va_copy(cp, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
	va_end(cp);
	if (n < 0)
		abort();
	if ((size_t)n >= b->cap - b->len) {
		deis_buf_grow(b, (size_t)n);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void deis_buf_addf(struct deis_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	deis_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

void deis_buf_reset(struct deis_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void deis_buf_release(struct deis_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *deis_buf_detach(struct deis_buf *b, size_t *len)
{
	char *p;

	if (!b->data)
		deis_buf_grow(b, 0);
	p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

const char *deis_buf_str(const struct deis_buf *b)
{
	return b->data ? b->data : "";
}
