/*
 * oci_ref.c - what names an image: repository names (an app's, or
 * "deis/<name>" for the platform's own images: no app name has a '/'),
 * tags, references ("app:tag", "app@sha256:...", "deis/stack:12"), and the sha256 digests that name blobs
 * and manifests (OpenSSL EVP), of a buffer, a file, or a gzip file's
 * contents.  Pure: no request is sent.  See include/deis/registry.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "deis/validate.h"
#include "registry_internal.h"

#define IO_BLOCK		(1024 * 1024)

/* ------------------------------------------------------------ names */

static bool is_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool deis_valid_digest(const char *s)
{
	size_t i;

	if (!s || strncmp(s, "sha256:", 7))
		return false;
	for (i = 0; i < 64; i++)
		if (!is_hex_lower(s[7 + i]))
			return false;
	return s[7 + 64] == '\0';
}

bool deis_valid_image_tag(const char *s)
{
	size_t i;

	if (!s || !(oci_is_alnum(s[0]) || s[0] == '_'))
		return false;
	for (i = 1; s[i]; i++) {
		if (i >= DEIS_TAG_MAX)
			return false;
		if (!oci_is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	}
	return true;
}

bool deis_valid_repo_name(const char *s)
{
	if (s && !strncmp(s, DEIS_PLATFORM_REPO_PREFIX, strlen(DEIS_PLATFORM_REPO_PREFIX)))
		s += strlen(DEIS_PLATFORM_REPO_PREFIX);
	return deis_valid_app_name(s);
}

static int bad_name(const char *name, struct deis_error *err)
{
	char shown[96];

	if (!name)
		return deis_error_set(err, EINVAL, "no repository name");
	return deis_error_set(err, EINVAL,
			      "'%s' is not a valid repository name (an app's, "
			      "or " DEIS_PLATFORM_REPO_PREFIX "<name>)",
			      deis_printable(shown, sizeof(shown), name, strlen(name)));
}

static int bad_digest(const char *d, struct deis_error *err)
{
	char shown[96];

	if (!d)
		return deis_error_set(err, EINVAL, "no digest");
	return deis_error_set(err, EINVAL, "'%s' is not a valid sha256 digest",
			      deis_printable(shown, sizeof(shown), d, strlen(d)));
}

int oci_check_name(const char *name, struct deis_error *err)
{
	return deis_valid_repo_name(name) ? 0 : bad_name(name, err);
}

int oci_check_blob(const char *name, const char *digest, struct deis_error *err)
{
	if (!deis_valid_repo_name(name))
		return bad_name(name, err);
	return deis_valid_digest(digest) ? 0 : bad_digest(digest, err);
}

int deis_image_ref_parse(const char *ref, struct deis_image_ref *out,
			 struct deis_error *err)
{
	char shown[96];
	const char *sep;
	size_t nlen;

	memset(out, 0, sizeof(*out));
	if (!ref)
		return deis_error_set(err, EINVAL, "no image reference");
	sep = strpbrk(ref, ":@");
	nlen = sep ? (size_t)(sep - ref) : strlen(ref);
	if (nlen == 0 || nlen >= sizeof(out->name))
		goto bad;
	memcpy(out->name, ref, nlen);
	out->name[nlen] = '\0';
	if (!deis_valid_repo_name(out->name))
		goto bad;
	if (!sep) {
		memcpy(out->tag, "latest", sizeof("latest"));
		return 0;
	}
	if (*sep == '@') {
		if (!deis_valid_digest(sep + 1))
			goto bad;
		memcpy(out->digest, sep + 1, strlen(sep + 1) + 1);
		return 0;
	}
	if (!deis_valid_image_tag(sep + 1))
		goto bad;
	memcpy(out->tag, sep + 1, strlen(sep + 1) + 1);
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return deis_error_set(err, EINVAL,
		"'%s' is not an image reference (app:tag or app@sha256:<hex>)",
		deis_printable(shown, sizeof(shown), ref, strlen(ref)));
}

const char *deis_image_ref_reference(const struct deis_image_ref *ref)
{
	return ref->digest[0] ? ref->digest : ref->tag;
}

/* ------------------------------------------------------------ digests */

void oci_digest_final(EVP_MD_CTX *md, char out[DEIS_DIGEST_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	EVP_DigestFinal_ex(md, h, &n);
	memcpy(out, "sha256:", 7);
	for (i = 0; i < n && i < 32; i++) {
		out[7 + 2 * i] = hex[h[i] >> 4];
		out[7 + 2 * i + 1] = hex[h[i] & 15];
	}
	out[7 + 2 * i] = '\0';
}

EVP_MD_CTX *oci_digest_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		abort();
	return md;
}

void deis_digest_buf(const void *data, size_t len, char out[DEIS_DIGEST_SIZE])
{
	EVP_MD_CTX *md = oci_digest_new();

	EVP_DigestUpdate(md, data, len);
	oci_digest_final(md, out);
	EVP_MD_CTX_free(md);
}

int deis_digest_file(const char *path, char out[DEIS_DIGEST_SIZE],
		     long long *size, struct deis_error *err)
{
	EVP_MD_CTX *md;
	long long total = 0;
	char *block;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	block = malloc(IO_BLOCK);
	if (!block)
		abort();
	md = oci_digest_new();
	while ((n = read(fd, block, IO_BLOCK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = deis_error_set(err, errno, "reading %s: %s", path,
					    strerror(errno));
			break;
		}
		EVP_DigestUpdate(md, block, (size_t)n);
		total += n;
	}
	if (rc == 0) {
		oci_digest_final(md, out);
		if (size)
			*size = total;
	}
	EVP_MD_CTX_free(md);
	free(block);
	close(fd);
	return rc;
}

int deis_digest_gunzip_file(const char *path, char out[DEIS_DIGEST_SIZE],
			    struct deis_error *err)
{
	unsigned char *in, *dec;
	EVP_MD_CTX *md;
	z_stream z;
	ssize_t n;
	int fd, zr = Z_OK, rc = 0, any = 0, need_input = 1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	in = malloc(IO_BLOCK);
	dec = malloc(IO_BLOCK);
	if (!in || !dec)
		abort();
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		abort();
	md = oci_digest_new();
	for (;;) {
		if (z.avail_in == 0 && need_input) {
			n = read(fd, in, IO_BLOCK);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = deis_error_set(err, errno, "reading %s: %s",
						    path, strerror(errno));
				goto out;
			}
			if (n == 0)
				break;
			z.next_in = in;
			z.avail_in = (uInt)n;
			any = 1;
		}
		if (zr == Z_STREAM_END) {
			if (z.avail_in == 0) {
				need_input = 1;
				continue;
			}
			/* another gzip member follows (cat a.gz b.gz) */
			if (inflateReset(&z) != Z_OK)
				abort();
		}
		z.next_out = dec;
		z.avail_out = IO_BLOCK;
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_BUF_ERROR) {	/* no progress without input */
			zr = Z_OK;
			need_input = 1;
			continue;
		}
		if (zr != Z_OK && zr != Z_STREAM_END) {
			rc = deis_error_set(err, EINVAL, "%s is not a gzip file (%s)",
					    path, z.msg ? z.msg : "bad data");
			goto out;
		}
		EVP_DigestUpdate(md, dec, IO_BLOCK - z.avail_out);
		/* a full output block may leave output pending */
		need_input = z.avail_out != 0;
	}
	if (!any || zr != Z_STREAM_END) {
		rc = deis_error_set(err, EINVAL, "%s is not a complete gzip file",
				    path);
		goto out;
	}
	oci_digest_final(md, out);
out:
	inflateEnd(&z);
	EVP_MD_CTX_free(md);
	free(in);
	free(dec);
	close(fd);
	return rc;
}
