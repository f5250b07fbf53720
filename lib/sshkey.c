/*
 * sshkey.c - OpenSSH public key lines (users/<name>/keys/<keyname>) and
 * their SHA256 fingerprints, which the builder uses to find the user
 * behind a git push.
 *
 * See include/deis/validate.h.  Beyond the header:
 *  - The base64 must be canonical (padded, no stray bits), so one key has
 *    exactly one stored text.
 *  - The decoded blob is checked field by field for its type (ed25519 key
 *    of 32 bytes; RSA e and n, n of 1024 to 16384 bits as OpenSSH
 *    requires; ECDSA curve name matching the type and an uncompressed
 *    point of the curve's size; security-key types with their
 *    application string), with nothing left over.  A key that OpenSSH
 *    would not load is refused here, not at the first push.
 *  - Leading blanks and trailing white space (one or more newlines, CR)
 *    are ignored; a newline followed by more text is refused: one key per
 *    file.  The comment is the rest of the line with its trailing blanks
 *    removed; it may not contain control characters (it is shown in info
 *    and logs).
 *  - The line is at most DEIS_CONTROL_MAX bytes (an RSA 16384 key is
 *    about 2.8 KB).
 *  - out is overwritten (not freed first); after an error it holds
 *    nothing to free, and deis_sshkey_clear() is safe on it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "deis/validate.h"

#define SHOW	80

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict, padded base64 into out; -1 when not canonical base64. */
static int b64_decode(const char *s, size_t n, struct deis_buf *out)
{
	size_t pad = 0;

	if (n == 0 || n % 4)
		return -1;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		bool last = i + 4 == n;

		for (int j = 0; j < 4; j++) {
			if (last && j >= 4 - (int)pad) {
				if (s[i + j] != '=')
					return -1;
				v[j] = 0;
			} else if ((v[j] = b64val(s[i + j])) < 0) {
				return -1;
			}
		}
		deis_buf_addch(out, (char)(v[0] << 2 | v[1] >> 4));
		if (last && pad == 2) {
			if (v[1] & 0xf)		/* stray bits */
				return -1;
			break;
		}
		deis_buf_addch(out, (char)((v[1] & 0xf) << 4 | v[2] >> 2));
		if (last && pad == 1) {
			if (v[2] & 0x3)
				return -1;
			break;
		}
		deis_buf_addch(out, (char)((v[2] & 0x3) << 6 | v[3]));
	}
	return 0;
}

/* Unpadded base64, as ssh-keygen prints fingerprints. */
static void b64_encode_unpadded(const unsigned char *in, size_t n,
				char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 4 < size; i += 3) {
		unsigned v = (unsigned)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64chars[v >> 18 & 63];
		out[o++] = b64chars[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = b64chars[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = b64chars[v & 63];
	}
	out[o] = '\0';
}

/* A cursor over the SSH wire format (RFC 4251 §5). */
struct wire {
	const unsigned char *p;
	size_t left;
};

/* Reads one length-prefixed string; -1 when truncated. */
static int wire_string(struct wire *w, const unsigned char **s, size_t *n)
{
	uint32_t len;

	if (w->left < 4)
		return -1;
	len = (uint32_t)w->p[0] << 24 | (uint32_t)w->p[1] << 16 |
	      (uint32_t)w->p[2] << 8 | w->p[3];
	if (len > w->left - 4)
		return -1;
	*s = w->p + 4;
	*n = len;
	w->p += 4 + len;
	w->left -= 4 + len;
	return 0;
}

static bool wire_eq(const unsigned char *s, size_t n, const char *want)
{
	return n == strlen(want) && !memcmp(s, want, n);
}

/* A positive mpint: its size in bits, or -1 when negative or malformed. */
static long mpint_bits(const unsigned char *s, size_t n)
{
	size_t i = 0;
	long bits;
	unsigned char top;

	if (n == 0 || (s[0] & 0x80))
		return -1;
	while (i < n && s[i] == 0)
		i++;
	if (i == n)
		return 0;
	if (i > 1)		/* at most one leading zero byte */
		return -1;
	top = s[i];
	bits = (long)(n - i - 1) * 8;
	while (top) {
		bits++;
		top >>= 1;
	}
	return bits;
}

enum keykind { K_ED25519, K_RSA, K_ECDSA, K_SK_ED25519, K_SK_ECDSA };

static const struct {
	const char *type;
	enum keykind kind;
	const char *curve;	/* ECDSA: curve name in the blob */
	size_t point;		/* ECDSA: uncompressed point size */
} key_types[] = {
	{ "ssh-ed25519", K_ED25519, NULL, 0 },
	{ "ssh-rsa", K_RSA, NULL, 0 },
	{ "ecdsa-sha2-nistp256", K_ECDSA, "nistp256", 65 },
	{ "ecdsa-sha2-nistp384", K_ECDSA, "nistp384", 97 },
	{ "ecdsa-sha2-nistp521", K_ECDSA, "nistp521", 133 },
	{ "sk-ssh-ed25519@openssh.com", K_SK_ED25519, NULL, 0 },
	{ "sk-ecdsa-sha2-nistp256@openssh.com", K_SK_ECDSA, "nistp256", 65 },
};
#define N_KEY_TYPES (sizeof(key_types) / sizeof(key_types[0]))

/* Checks the fields after the type string; returns a reason or NULL. */
static const char *check_blob(size_t t, struct wire *w)
{
	const unsigned char *a, *b;
	size_t an, bn;
	long bits;

	switch (key_types[t].kind) {
	case K_ED25519:
	case K_SK_ED25519:
		if (wire_string(w, &a, &an) < 0 || an != 32)
			return "the ed25519 key is not 32 bytes";
		break;
	case K_RSA:
		if (wire_string(w, &a, &an) < 0 || wire_string(w, &b, &bn) < 0)
			return "the RSA key is truncated";
		if (mpint_bits(a, an) < 2)
			return "the RSA exponent is not valid";
		bits = mpint_bits(b, bn);
		if (bits < 1024 || bits > 16384)
			return "the RSA modulus must be 1024 to 16384 bits";
		break;
	case K_ECDSA:
	case K_SK_ECDSA:
		if (wire_string(w, &a, &an) < 0 ||
		    !wire_eq(a, an, key_types[t].curve))
			return "the ECDSA curve does not match the key type";
		if (wire_string(w, &b, &bn) < 0 || bn != key_types[t].point ||
		    b[0] != 4)
			return "the ECDSA point is not valid";
		break;
	}
	if (key_types[t].kind == K_SK_ED25519 || key_types[t].kind == K_SK_ECDSA)
		if (wire_string(w, &a, &an) < 0)
			return "the security key application is missing";
	if (w->left)
		return "extra bytes after the key";
	return NULL;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

void deis_sshkey_clear(struct deis_sshkey *k)
{
	free(k->blob);
	free(k->comment);
	memset(k, 0, sizeof(*k));
}

int deis_sshkey_parse(const char *text, size_t len, struct deis_sshkey *out,
		      struct deis_error *err)
{
	struct deis_buf blob = DEIS_BUF_INIT, tmp = DEIS_BUF_INIT;
	const char *p = text, *end, *ts, *bs, *cs, *reason;
	size_t tn, bn, cn, t;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct wire w;
	const unsigned char *ws;
	size_t wn;
	char show[SHOW];
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = deis_text_check("ssh key", text, len, DEIS_CONTROL_MAX, err)) < 0)
		return rc;

	end = text + len;
	while (end > p && (is_blank(end[-1]) || end[-1] == '\n' ||
			   end[-1] == '\r'))
		end--;
	while (p < end && is_blank(*p))
		p++;
	if (p == end)
		return deis_error_set(err, EINVAL,
				      "ssh key: empty; expected a line such as \"ssh-ed25519 AAAA... you@host\"");
	if (memchr(p, '\n', (size_t)(end - p)))
		return deis_error_set(err, EINVAL,
				      "ssh key: more than one line; write one key per file");

	ts = p;
	while (p < end && !is_blank(*p))
		p++;
	tn = (size_t)(p - ts);
	for (t = 0; t < N_KEY_TYPES; t++)
		if (tn == strlen(key_types[t].type) &&
		    !memcmp(ts, key_types[t].type, tn))
			break;
	if (t == N_KEY_TYPES)
		return deis_error_set(err, EINVAL,
				      "ssh key: '%s' is not a supported key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com; options before the type are not accepted)",
				      deis_printable(show, sizeof(show), ts, tn));

	while (p < end && is_blank(*p))
		p++;
	bs = p;
	while (p < end && !is_blank(*p))
		p++;
	bn = (size_t)(p - bs);
	while (p < end && is_blank(*p))
		p++;
	cs = p;
	cn = (size_t)(end - p);

	if (bn == 0 || b64_decode(bs, bn, &blob) < 0) {
		rc = deis_error_set(err, EINVAL,
				    "ssh key: the key data '%s' is not valid base64",
				    deis_printable(show, sizeof(show), bs, bn));
		goto out;
	}
	w.p = (const unsigned char *)blob.data;
	w.left = blob.len;
	if (wire_string(&w, &ws, &wn) < 0 || !wire_eq(ws, wn, key_types[t].type)) {
		rc = deis_error_set(err, EINVAL,
				    "ssh key: the key data is not a %s key",
				    key_types[t].type);
		goto out;
	}
	reason = check_blob(t, &w);
	if (reason) {
		rc = deis_error_set(err, EINVAL, "ssh key: %s", reason);
		goto out;
	}
	for (size_t i = 0; i < cn; i++) {
		unsigned char c = (unsigned char)cs[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			rc = deis_error_set(err, EINVAL,
					    "ssh key: the comment '%s' contains a control character",
					    deis_printable(show, sizeof(show), cs, cn));
			goto out;
		}
	}
	if (!EVP_Digest(blob.data, blob.len, md, &mdlen, EVP_sha256(), NULL)) {
		rc = deis_error_set(err, EIO, "ssh key: cannot compute SHA-256");
		goto out;
	}

	memcpy(out->type, ts, tn);
	out->type[tn] = '\0';
	memcpy(out->fingerprint, "SHA256:", 7);
	b64_encode_unpadded(md, mdlen, out->fingerprint + 7,
			    sizeof(out->fingerprint) - 7);
	deis_buf_add(&tmp, bs, bn);
	out->blob = deis_buf_detach(&tmp, NULL);
	deis_buf_add(&tmp, cs, cn);
	out->comment = deis_buf_detach(&tmp, NULL);
	rc = 0;
out:
	deis_buf_release(&blob);
	return rc;
}

void deis_sshkey_format(const struct deis_sshkey *k, struct deis_buf *out)
{
	deis_buf_adds(out, k->type);
	deis_buf_addch(out, ' ');
	deis_buf_adds(out, k->blob ? k->blob : "");
	if (k->comment && *k->comment) {
		deis_buf_addch(out, ' ');
		deis_buf_adds(out, k->comment);
	}
	deis_buf_addch(out, '\n');
}
