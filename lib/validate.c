/*
 * validate.c - the grammars of names: apps, config keys, users, SSH keys,
 * process types, host names; and deis_printable() for messages that quote
 * user input.
 *
 * These checks are what keeps user-chosen names safe to use in paths, SQL
 * parameters, command lines and nginx config, so each is a hand-written
 * scan of an explicit character set (no locale-dependent ctype calls, no
 * regex engine).  See include/deis/validate.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "deis/validate.h"

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_lower(c) || is_upper(c) || is_digit(c);
}

/* The character classes of the name grammars. */
enum { LOWER = 1, UPPER = 2, DIGIT = 4, ALNUM = LOWER | UPPER | DIGIT };

static bool in_class(char c, int classes, const char *punct)
{
	return ((classes & LOWER) && is_lower(c)) ||
	       ((classes & UPPER) && is_upper(c)) ||
	       ((classes & DIGIT) && is_digit(c)) || (c && strchr(punct, c));
}

/* A name of at most max bytes whose first byte is in the classes first
 * or the punctuation first_punct, and every other in rest or rest_punct:
 * the shape of every name grammar below but DNS's. */
static bool name_ok(const char *s, int first, const char *first_punct,
		    int rest, const char *rest_punct, size_t max)
{
	size_t i;

	if (!s || !in_class(s[0], first, first_punct))
		return false;
	for (i = 1; s[i]; i++)
		if (!in_class(s[i], rest, rest_punct))
			return false;
	return i <= max;
}

/* One DNS label of s[0..len): [a-z0-9]([a-z0-9-]*[a-z0-9])?, 1..63 bytes. */
static bool valid_label(const char *s, size_t len)
{
	if (len < 1 || len > 63)
		return false;
	if (s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_lower(s[i]) && !is_digit(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool deis_valid_app_name(const char *s)
{
	return s && valid_label(s, strlen(s));
}

bool deis_valid_config_key(const char *s)
{
	return name_ok(s, LOWER | UPPER, "_", ALNUM, "_", 255);
}

/* The portable subset of shadow's user names; the trailing '$' that
 * useradd allows for Samba machine accounts is refused like any other
 * character outside the set. */
bool deis_valid_user_name(const char *s)
{
	return name_ok(s, LOWER, "_", LOWER | DIGIT, "_-", 32);
}

/* The first character is alphanumeric, so "." and ".." cannot be key
 * names even though '.' is allowed after it. */
bool deis_valid_key_name(const char *s)
{
	return name_ok(s, ALNUM, "", ALNUM, "._@-", 64);
}

/* "run" names the one-off containers started from the run file, so it
 * cannot be a Procfile process type. */
bool deis_valid_proc_type(const char *s)
{
	return name_ok(s, LOWER, "", LOWER | DIGIT, "_-", 30) && strcmp(s, "run") != 0;
}

/*
 * A host name as a user writes it in domains or a certs/ file name.  Beyond
 * the header's grammar: a trailing dot (FQDN form) is refused, a label is at
 * most 63 bytes (DNS), "*." needs two labels after it (so "*.com" is
 * refused), and the last label may not be all digits (RFC 1123 §2.1), which
 * keeps IPv4 addresses out: a route is for a name, not an address.
 */
bool deis_valid_domain(const char *s)
{
	size_t len, labels = 0;
	const char *p, *end, *dot, *last = NULL;

	if (!s)
		return false;
	len = strlen(s);
	if (len == 0 || len > 253)
		return false;
	p = s;
	end = s + len;
	if (len >= 2 && p[0] == '*' && p[1] == '.')
		p += 2;
	while (p < end) {
		dot = memchr(p, '.', (size_t)(end - p));
		if (!dot)
			dot = end;
		if (!valid_label(p, (size_t)(dot - p)))
			return false;
		labels++;
		last = p;
		if (dot == end)
			break;
		p = dot + 1;
		if (p == end)		/* trailing dot */
			return false;
	}
	if (labels < 2)
		return false;
	for (p = last; p < end; p++)
		if (!is_digit(*p))
			return true;
	return false;
}

bool deis_valid_buildpack_git_url(const char *s)
{
	static const char *const schemes[] = { "https://", "http://", "git://" };
	const char *p = NULL, *hash, *slash, *host;
	size_t len;

	if (!s)
		return false;
	len = strlen(s);
	if (len == 0 || len > 1024)
		return false;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f ||
		    strchr("\\'\"`", *c))
			return false;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(*schemes); i++)
		if (!strncmp(s, schemes[i], strlen(schemes[i])))
			p = s + strlen(schemes[i]);
	if (!p)
		return false;
	hash = strchr(p, '#');
	slash = strchr(p, '/');
	if (!slash || (hash && hash < slash))
		return false;
	/* [user[:password]@]host[:port]: the host is what follows the last '@' */
	host = p;
	for (const char *c = p; c < slash; c++)
		if (*c == '@')
			host = c + 1;
	if (host == slash || !(is_alnum(*host) || *host == '['))
		return false;
	if (hash) {
		const char *ref = hash + 1;

		if (!*ref || *ref == '-')
			return false;
		for (; *ref; ref++)
			if (!is_alnum(*ref) && !strchr("._/-", *ref))
				return false;
	}
	return true;
}

/* Does the wildcard "*.S" (w) claim the name h: h ends with ".S". */
static bool wildcard_claims(const char *w, const char *h)
{
	size_t wl = strlen(w), hl = strlen(h);

	if (wl < 3 || w[0] != '*' || w[1] != '.')
		return false;
	/* ".S" (w + 1) at the end of h, with at least one label before it */
	return hl > wl - 1 && !strcmp(h + hl - (wl - 1), w + 1);
}

bool deis_domains_overlap(const char *a, const char *b)
{
	if (!a || !b)
		return false;
	return !strcmp(a, b) || wildcard_claims(a, b) || wildcard_claims(b, a);
}

bool deis_domain_is_platform(const char *d, const char *platform_domain)
{
	char wild[260];

	if (!d || !platform_domain || !platform_domain[0])
		return false;
	if (!strcmp(d, platform_domain))
		return true;
	if ((size_t)snprintf(wild, sizeof(wild), "*.%s", platform_domain) >= sizeof(wild))
		return false;
	return deis_domains_overlap(d, wild);
}

/*
 * UTF-8 as RFC 3629 defines it, which is what PostgreSQL and jansson
 * accept: the shortest form only, no surrogates (U+D800..U+DFFF), nothing
 * past U+10FFFF.
 */
bool deis_valid_utf8(const char *str, size_t len, size_t *bad)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned lo = 0x80, hi = 0xbf;	/* range of the second byte */

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			if (c == 0xe0)
				lo = 0xa0;	/* overlong */
			else if (c == 0xed)
				hi = 0x9f;	/* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			if (c == 0xf0)
				lo = 0x90;	/* overlong */
			else if (c == 0xf4)
				hi = 0x8f;	/* past U+10FFFF */
		} else {
			goto fail;
		}
		if (len - i < n || s[i + 1] < lo || s[i + 1] > hi)
			goto fail;
		for (size_t k = 2; k < n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				goto fail;
		i += n;
	}
	return true;
fail:
	if (bad)
		*bad = i;
	return false;
}

int deis_text_check(const char *what, const char *text, size_t len,
		    size_t max, struct deis_error *err)
{
	if (len > max)
		return deis_error_set(err, EINVAL, "%s: too long (%zu bytes, at most %zu)",
				      what, len, max);
	if (len && memchr(text, '\0', len))
		return deis_error_set(err, EINVAL, "%s: contains a NUL byte", what);
	return 0;
}

const char *deis_printable(char *dst, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t need = 0, pos = 0, room;
	bool cut;

	if (!dst || size == 0)
		return dst;
	if (!s)
		len = 0;
	/* Will everything fit?  Stop counting as soon as it cannot. */
	for (size_t i = 0; i < len && need < size; i++) {
		unsigned char c = (unsigned char)s[i];

		need += c == '\\' ? 2 : (c >= 0x20 && c < 0x7f) ? 1 : 4;
	}
	cut = need >= size;
	room = size - 1;
	if (cut)
		room = size > 4 ? size - 4 : 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t w = c == '\\' ? 2 : (c >= 0x20 && c < 0x7f) ? 1 : 4;

		if (pos + w > room)
			break;
		if (c == '\\') {
			dst[pos++] = '\\';
			dst[pos++] = '\\';
		} else if (w == 1) {
			dst[pos++] = (char)c;
		} else {
			dst[pos++] = '\\';
			dst[pos++] = 'x';
			dst[pos++] = hex[c >> 4];
			dst[pos++] = hex[c & 15];
		}
	}
	if (cut && size > 4) {
		memcpy(dst + pos, "...", 3);
		pos += 3;
	}
	dst[pos] = '\0';
	return dst;
}
