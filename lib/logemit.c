/*
 * logemit.c - the producer side of the log server: RFC 5424 messages with
 * octet-counted framing (RFC 6587) over the log server's Unix stream
 * socket.  See include/deis/logemit.h.
 *
 * A message is "LEN SP <14>1 TIMESTAMP HOST APP SRC - - MSG", TIMESTAMP in
 * UTC with microseconds.  The connection is made at the first send; a send
 * on a connection that broke (the server restarted) reconnects once and
 * sends again.  Sends time out after DEIS_LOGEMIT_TIMEOUT seconds, so a
 * stuck log server cannot hang a producer forever.
 *
 * Why a Unix socket and not TCP: the socket lives in a directory only
 * root may enter (<home>/run/log, 0700), so connecting to it is the
 * producer's proof of being one of the platform's own processes; a TCP
 * port on loopback answers every local user and every container sharing
 * the host's network.  A producer is trusted to name the app and source it
 * serves: the shim names its container's, the builder its build's, never
 * text a tenant wrote.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "deis/buf.h"
#include "deis/logemit.h"
#include "deis/validate.h"

#define DEIS_LOGEMIT_TIMEOUT 5

struct deis_logemit {
	struct sockaddr_un addr;
	int fd;
	char hostname[256];
	struct deis_buf msg;
};

bool deis_log_source_valid(const char *src)
{
	size_t i, digits = 0;

	if (!src)
		return false;
	if (!strcmp(src, "router") || !strcmp(src, "deis") || !strcmp(src, "builder"))
		return true;
	if (!(src[0] >= 'a' && src[0] <= 'z'))
		return false;
	for (i = 1; src[i] && src[i] != '.'; i++)
		if (!((src[i] >= 'a' && src[i] <= 'z') || (src[i] >= '0' && src[i] <= '9') ||
		      src[i] == '_' || src[i] == '-'))
			return false;
	if (i > 30 || src[i] != '.')
		return false;
	for (i++; src[i]; i++, digits++)
		if (src[i] < '0' || src[i] > '9')
			return false;
	return digits >= 1 && digits <= 9;
}

int deis_logemit_open(const char *path, struct deis_logemit **out,
		      struct deis_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (!path || !*path)
		return deis_error_set(err, EINVAL, "log server: no socket path (syslog_socket)");
	if (strlen(path) >= sizeof(addr.sun_path))
		return deis_error_set(err, ENAMETOOLONG, "log server: socket path %s is "
				      "longer than %zu bytes", path, sizeof(addr.sun_path) - 1);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	struct deis_logemit *l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	l->addr = addr;
	l->fd = -1;
	if (gethostname(l->hostname, sizeof(l->hostname) - 1) < 0 || !l->hostname[0])
		snprintf(l->hostname, sizeof(l->hostname), "-");
	/* RFC 5424 HOSTNAME: printable ASCII without spaces, at most 255. */
	for (char *p = l->hostname; *p; p++)
		if (*p <= ' ' || *p > '~')
			*p = '-';
	*out = l;
	return 0;
}

static int emit_connect(struct deis_logemit *l, struct deis_error *err)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return deis_error_set(err, errno, "log server %s: socket: %s",
				      l->addr.sun_path, strerror(errno));
	struct timeval tv = { DEIS_LOGEMIT_TIMEOUT, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&l->addr, sizeof(l->addr)) < 0) {
		int e = errno;
		close(fd);
		return deis_error_set(err, e, "log server %s: connect: %s", l->addr.sun_path,
				      strerror(e));
	}
	l->fd = fd;
	return 0;
}

/* Has the server closed the connection (or sent something we never
 * expect)?  rsyslog never writes to a client. */
static int emit_broken(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char c;

	if (poll(&p, 1, 0) <= 0)
		return 0;
	if (p.revents & (POLLERR | POLLHUP))
		return 1;
	return recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0;
}

static int emit_write(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int deis_logemit_send(struct deis_logemit *l, const char *app, const char *src,
		      const char *msg, struct deis_error *err)
{
	char ts[64];
	struct timeval tv;
	struct tm tm;

	if (!deis_valid_app_name(app))
		return deis_error_set(err, EINVAL, "log: bad app name");
	if (!deis_log_source_valid(src))
		return deis_error_set(err, EINVAL, "log: bad source name");
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%06ld+00:00", (long)tv.tv_usec);

	/* <14> = facility user, severity info. */
	struct deis_buf body = DEIS_BUF_INIT;
	deis_buf_addf(&body, "<14>1 %s %s %s %s - - ", ts, l->hostname, app, src);
	deis_buf_adds(&body, msg ? msg : "");
	deis_buf_reset(&l->msg);
	deis_buf_addf(&l->msg, "%zu ", body.len);
	deis_buf_add(&l->msg, body.data, body.len);
	deis_buf_release(&body);

	for (int attempt = 0; attempt < 2; attempt++) {
		if (l->fd >= 0 && emit_broken(l->fd)) {
			close(l->fd);
			l->fd = -1;
		}
		if (l->fd < 0 && emit_connect(l, err) < 0)
			return -err->code;
		int r = emit_write(l->fd, l->msg.data, l->msg.len);
		if (r == 0)
			return 0;
		close(l->fd);
		l->fd = -1;
		/* A timeout is not a broken connection: do not send twice. */
		if (r == -EAGAIN || r == -EWOULDBLOCK)
			return deis_error_set(err, ETIMEDOUT, "log server %s: send timed out",
					      l->addr.sun_path);
		deis_error_set(err, -r, "log server %s: send: %s", l->addr.sun_path,
			       strerror(-r));
	}
	return -err->code;
}

void deis_logemit_close(struct deis_logemit *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	deis_buf_release(&l->msg);
	free(l);
}

/* ---- the log line format ---- */

static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static long long days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int deis_log_parse_time(const char *s, long long *us)
{
	int Y, M, D, h, m, sec, frac = 0, oh = 0, om = 0, sign = 0;

	if (!s || strlen(s) < 20)
		return -EINVAL;
	if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
	    digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) ||
	    s[16] != ':' || digits(s + 17, 2, &sec))
		return -EINVAL;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -EINVAL;
	const char *p = s + 19;
	if (*p == '.') {
		int n = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (n < 6)
				frac = frac * 10 + (*p - '0');
			n++;
			p++;
		}
		if (n == 0 || n > 9)
			return -EINVAL;
		for (; n < 6; n++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return -EINVAL;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	if (sec == 60)
		sec = 59;	/* a leap second: keep it in its minute */
	long long t = days_from_civil(Y, M, D) * 86400LL + h * 3600LL + m * 60LL + sec;
	t -= sign * (oh * 3600LL + om * 60LL);
	*us = t * 1000000LL + frac;
	return 0;
}

void deis_log_format_time(long long us, struct deis_buf *out)
{
	char ts[64];
	struct tm tm;
	time_t t = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);

	if (frac < 0) {
		frac += 1000000;
		t--;
	}
	gmtime_r(&t, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%06ld+00:00", frac);
	deis_buf_adds(out, ts);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];

	if (c >= 0x01 && c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return len >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (len < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0;	/* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0;	/* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (len < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;	/* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0;	/* above U+10FFFF */
		return 4;
	}
	return 0;
}

void deis_log_utf8_fix(const char *s, size_t len, struct deis_buf *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	deis_buf_grow(out, len);
	while (i < len) {
		size_t n = utf8_seq(u + i, len - i);
		if (n) {
			i += n;
			run += n;
			continue;
		}
		deis_buf_add(out, s + i - run, run);
		run = 0;
		deis_buf_add(out, "\xef\xbf\xbd", 3);
		i++;
	}
	deis_buf_add(out, s + i - run, run);
}

static const char hexd[] = "0123456789abcdef";

size_t deis_log_format_lines(long long us, const char *app, const char *src,
			     const char *msg, size_t len, struct deis_buf *out)
{
	struct deis_buf prefix = DEIS_BUF_INIT;
	const unsigned char *u = (const unsigned char *)msg;
	size_t lines = 0, i = 0;

	deis_log_format_time(us, &prefix);
	deis_buf_addf(&prefix, " %s[%s]: ", app, src);
	/* A UTF-8 byte order mark (RFC 5424 allows one before MSG). */
	if (len >= 3 && !memcmp(msg, "\xef\xbb\xbf", 3))
		i = 3;
	if (len > i && msg[len - 1] == '\n') {
		len--;
		if (len > i && msg[len - 1] == '\r')
			len--;
	}
	for (;;) {
		size_t piece = 0;
		deis_buf_add(out, prefix.data, prefix.len);
		lines++;
		while (i < len && msg[i] != '\n') {
			unsigned char c = u[i];
			size_t n = 1, w;
			char esc[8];
			const char *rep;
			if (c == '\r' && i + 1 < len && msg[i + 1] == '\n') {
				i++;	/* CRLF ends the line like LF */
				continue;
			}
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				esc[0] = '\\'; esc[1] = 'x';
				esc[2] = hexd[c >> 4]; esc[3] = hexd[c & 15];
				rep = esc;
				w = 4;
			} else if (c == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f) {
				/* C1 control (U+0080..U+009F): 8-bit CSI and friends */
				esc[0] = '\\'; esc[1] = 'x';
				esc[2] = hexd[u[i + 1] >> 4]; esc[3] = hexd[u[i + 1] & 15];
				rep = esc;
				w = 4;
				n = 2;
			} else {
				if (c >= 0xf0)
					n = 4;
				else if (c >= 0xe0)
					n = 3;
				else if (c >= 0xc0)
					n = 2;
				if (n > len - i)
					n = len - i;
				rep = msg + i;
				w = n;
			}
			if (piece + w > DEIS_LOG_LINE_MAX) {
				deis_buf_addch(out, '\n');
				deis_buf_add(out, prefix.data, prefix.len);
				lines++;
				piece = 0;
			}
			deis_buf_add(out, rep, w);
			piece += w;
			i += n;
		}
		deis_buf_addch(out, '\n');
		if (i >= len)
			break;
		i++;	/* the '\n' */
	}
	deis_buf_release(&prefix);
	return lines;
}
