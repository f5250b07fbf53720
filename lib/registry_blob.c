/*
 * registry_blob.c - blobs in the registry: whether one is there, upload,
 * download (into a file or memory, checked against its digest), and the
 * cross-repository mount.  See include/deis/registry.h.  Beyond it:
 *  - Upload session URLs (Location) may be relative or absolute; an
 *    absolute one must be on the registry's own origin, so a registry
 *    cannot send our blobs elsewhere.  Blob GETs follow at most 5
 *    redirects (a storage back end may redirect).
 *  - A blob upload is POST then PUT ?digest= with the whole blob
 *    (monolithic), or PATCH chunks with Content-Range then an empty PUT
 *    for blobs over the chunk size.  Bodies are streamed from the file
 *    with pread(), so a 1 GB slug costs no memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "deis/file.h"
#include "deis/validate.h"
#include "registry_internal.h"

/* ------------------------------------------------------------ blobs */

int deis_registry_blob_exists(struct deis_registry *reg, const char *name,
			      const char *digest, long long *size,
			      struct deis_error *err)
{
	struct http_req r;
	int rc;

	if ((rc = registry_req_object(&r, reg, "HEAD", "blobs", name, digest, err)) < 0)
		return rc;
	rc = registry_http_do(reg, &r, err);
	if (rc == -ENOENT) {
		deis_error_clear(err);
		rc = 0;
	} else if (rc == 0) {
		if (size)
			*size = r.content_length;
		rc = 1;
	}
	registry_req_free(&r);
	return rc;
}

/* The absolute URL of an upload session from a Location header; NULL
 * (err set) when it is missing or on another origin. */
static char *session_url(struct deis_registry *reg, const struct http_req *r,
			 struct deis_error *err)
{
	const char *loc = r->location;
	size_t n = strlen(reg->url);

	if (!loc[0]) {
		deis_error_set(err, EIO, "registry %s: %s %s: no Location in the answer",
			       reg->url, r->method, registry_url_path(r->url));
		return NULL;
	}
	for (const char *p = loc; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			deis_error_set(err, EIO, "registry %s: bad Location", reg->url);
			return NULL;
		}
	if (loc[0] == '/' && loc[1] != '/')
		return registry_url_join(reg, "%s", loc);
	if (!strncmp(loc, reg->url, n) && loc[n] == '/')
		return strdup(loc);
	deis_error_set(err, EIO, "registry %s: upload Location is on another origin",
		       reg->url);
	return NULL;
}

/* session URL + "digest=sha256%3A..." */
static char *with_digest(const char *session, const char *digest)
{
	struct deis_buf b = DEIS_BUF_INIT;

	deis_buf_addf(&b, "%s%cdigest=sha256%%3A%s", session,
		      strchr(session, '?') ? '&' : '?', digest + 7);
	return deis_buf_detach(&b, NULL);
}

/* Uploads len bytes (from buf, or from fd) as the blob digest. */
static int blob_upload(struct deis_registry *reg, const char *name,
		       const char *digest, const char *buf, int fd,
		       long long len, struct deis_error *err)
{
	struct http_req r;
	char *session = NULL, range[64];
	long long off = 0;
	int rc;

	registry_req_v2(&r, reg, "POST", "/v2/%s/blobs/uploads/", name);
	rc = registry_http_do(reg, &r, err);
	if (rc == 0 && r.status != 202)
		rc = deis_error_set(err, EIO, "registry %s: POST %s: HTTP %ld, not 202",
				    reg->url, registry_url_path(r.url), r.status);
	if (rc == 0 && !(session = session_url(reg, &r, err)))
		rc = -EIO;
	registry_req_free(&r);
	if (rc < 0)
		return rc;

	/* chunks, for blobs over the chunk size */
	while (len > reg->chunk && off < len) {
		long long n = len - off < reg->chunk ? len - off : reg->chunk;

		registry_req_init(&r, "PATCH", session);
		r.blob = true;
		r.content_type = "application/octet-stream";
		snprintf(range, sizeof(range), "%lld-%lld", off, off + n - 1);
		r.content_range = range;
		r.body = buf ? buf + off : NULL;
		r.fd = fd;
		r.off = buf ? 0 : off;
		r.len = n;
		rc = registry_http_do(reg, &r, err);
		session = NULL;
		if (rc == 0 && r.status != 202)
			rc = deis_error_set(err, EIO, "registry %s: PATCH: HTTP %ld, not 202",
					    reg->url, r.status);
		if (rc == 0 && !(session = session_url(reg, &r, err)))
			rc = -EIO;
		registry_req_free(&r);	/* frees the old session URL */
		if (rc < 0)
			return rc;
		reg->stats.bytes_uploaded += n;
		off += n;
	}

	registry_req_init(&r, "PUT", with_digest(session, digest));
	free(session);
	r.blob = true;
	r.content_type = "application/octet-stream";
	r.body = buf ? buf + off : NULL;
	r.fd = fd;
	r.off = buf ? 0 : off;
	r.len = len - off;
	rc = registry_http_do(reg, &r, err);
	if (rc == 0 && r.digest[0] && strcmp(r.digest, digest))
		rc = deis_error_set(err, EIO, "registry %s: stored the blob as %s, not %s",
				    reg->url, r.digest, digest);
	if (rc == 0) {
		reg->stats.bytes_uploaded += len - off;
		reg->stats.blobs_uploaded++;
	}
	registry_req_free(&r);
	return rc;
}

int deis_registry_blob_push_file(struct deis_registry *reg, const char *name,
				 const char *path, char digest[DEIS_DIGEST_SIZE],
				 long long *size, struct deis_error *err)
{
	long long len, have = -1;
	struct stat st;
	int fd, rc;

	if ((rc = oci_check_name(name, err)) < 0)
		return rc;
	if ((rc = deis_digest_file(path, digest, &len, err)) < 0)
		return rc;
	if (size)
		*size = len;
	rc = deis_registry_blob_exists(reg, name, digest, &have, err);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		reg->stats.blobs_skipped++;
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || st.st_size != len) {
		close(fd);
		return deis_error_set(err, EIO, "%s changed while it was read", path);
	}
	rc = blob_upload(reg, name, digest, NULL, fd, len, err);
	close(fd);
	return rc < 0 ? rc : 1;
}

int deis_registry_blob_push_buf(struct deis_registry *reg, const char *name,
				const void *data, size_t len,
				char digest[DEIS_DIGEST_SIZE],
				struct deis_error *err)
{
	int rc;

	if ((rc = oci_check_name(name, err)) < 0)
		return rc;
	deis_digest_buf(data, len, digest);
	rc = deis_registry_blob_exists(reg, name, digest, NULL, err);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		reg->stats.blobs_skipped++;
		return 0;
	}
	rc = blob_upload(reg, name, digest, data, -1, (long long)len, err);
	return rc < 0 ? rc : 1;
}

int deis_registry_blob_fetch(struct deis_registry *reg, const char *name,
			     const char *digest, long long size,
			     const char *path, struct deis_error *err)
{
	struct deis_buf tmp = DEIS_BUF_INIT;
	char got[DEIS_DIGEST_SIZE];
	struct http_req r;
	int fd, rc;

	if ((rc = registry_req_object(&r, reg, "GET", "blobs", name, digest, err)) < 0)
		return rc;
	deis_buf_addf(&tmp, "%s.tmp.XXXXXX", path);
	fd = mkostemp(tmp.data, O_CLOEXEC);
	if (fd < 0) {
		rc = deis_error_set(err, errno, "%s: %s", tmp.data, strerror(errno));
		registry_req_free(&r);
		deis_buf_release(&tmp);
		return rc;
	}
	r.blob = true;
	r.follow = true;
	r.out_fd = fd;
	r.out_md = oci_digest_new();
	r.out_max = size;
	rc = registry_http_do(reg, &r, err);
	if (r.too_big)
		rc = deis_error_set(err, EIO, "registry %s: blob %s is larger than %lld bytes",
				    reg->url, digest, size);
	if (rc == 0) {
		reg->stats.bytes_downloaded += r.got;
		oci_digest_final(r.out_md, got);
		if (strcmp(got, digest))
			rc = deis_error_set(err, EIO,
				"registry %s: blob %s: the bytes received have digest %s",
				reg->url, digest, got);
		else if (size >= 0 && r.got != size)
			rc = deis_error_set(err, EIO,
				"registry %s: blob %s: %lld bytes received, %lld expected",
				reg->url, digest, r.got, size);
	}
	rc = deis_file_install(fd, tmp.data, path, 0644, rc, err);
	EVP_MD_CTX_free(r.out_md);
	registry_req_free(&r);
	deis_buf_release(&tmp);
	return rc;
}

int deis_registry_blob_get(struct deis_registry *reg, const char *name,
			   const char *digest, size_t max,
			   struct deis_buf *out, struct deis_error *err)
{
	char got[DEIS_DIGEST_SIZE], what[DEIS_DIGEST_SIZE + 8];
	struct http_req r;
	int rc;

	if ((rc = registry_req_object(&r, reg, "GET", "blobs", name, digest, err)) < 0)
		return rc;
	r.follow = true;
	snprintf(what, sizeof(what), "blob %s", digest);
	rc = registry_get_buf(reg, &r, out, max, digest, what, got, err);
	registry_req_free(&r);
	return rc;
}

int deis_registry_blob_mount(struct deis_registry *reg, const char *name,
			     const char *from, const char *digest,
			     struct deis_error *err)
{
	struct http_req r;
	char *session = NULL;
	int rc;

	if ((rc = oci_check_name(name, err)) < 0 ||
	    (rc = oci_check_blob(from, digest, err)) < 0)
		return rc;
	if ((rc = deis_registry_blob_exists(reg, name, digest, NULL, err)) != 0) {
		if (rc > 0)
			reg->stats.blobs_skipped++;
		return rc;
	}
	registry_req_v2(&r, reg, "POST",
			"/v2/%s/blobs/uploads/?mount=sha256%%3A%s&from=%s",
			name, digest + 7, from);
	rc = registry_http_do(reg, &r, err);
	if (rc == 0 && r.status == 201) {
		reg->stats.blobs_mounted++;
		rc = 1;
	} else if (rc == 0 && r.status == 202) {
		/* Not mountable (not in from): an upload session was opened
		 * for us; close it rather than leave it to the purge. */
		session = session_url(reg, &r, err);
		rc = 0;
	} else if (rc == 0) {
		rc = deis_error_set(err, EIO, "registry %s: POST %s: HTTP %ld, not 201",
				    reg->url, registry_url_path(r.url), r.status);
	}
	registry_req_free(&r);
	if (session) {
		struct deis_error ignored = DEIS_ERROR_INIT;

		registry_req_init(&r, "DELETE", session);
		registry_http_do(reg, &r, &ignored);
		registry_req_free(&r);
	}
	return rc;
}
