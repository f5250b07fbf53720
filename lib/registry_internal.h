/*
 * registry_internal.h - what the files of the registry client share:
 * registry.c (the handle, HTTP), registry_blob.c, registry_image.c,
 * oci_ref.c (names, digests) and oci_image.c (documents).  Private to
 * lib/; callers use include/deis/registry.h.
 */
#ifndef DEIS_REGISTRY_INTERNAL_H
#define DEIS_REGISTRY_INTERNAL_H

#include <stdbool.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "deis/registry.h"

/* The client handle: one libcurl easy handle, reset before each request
 * so that its connection is kept alive. */
struct deis_registry {
	char *url;		/* "http://host:port", no trailing '/' */
	char *user, *password;	/* basic auth; NULL: none */
	CURL *curl;
	long long chunk;
	struct deis_registry_stats stats;
	char curl_err[CURL_ERROR_SIZE];
	bool unreachable;	/* the last request failed for the registry's
				 * own trouble (deis_registry_unreachable) */
};

/* One request and what came back (registry_http_do()). */
struct http_req {
	const char *method;
	char *url;			/* absolute */
	const char *content_type;	/* request body type */
	const char *accept;
	const char *content_range;
	bool blob;			/* stall limit instead of a time-out */
	bool follow;			/* follow redirects (blob GET) */
	/* request body: a buffer, or len bytes of fd from off */
	const char *body;
	int fd;
	long long off, len, pos;
	/* response body: into resp (at most resp_max), or into out_fd
	 * (hashed, at most out_max when >= 0) */
	struct deis_buf *resp;
	size_t resp_max;
	int out_fd;
	EVP_MD_CTX *out_md;
	long long out_max, got;
	bool too_big, write_failed;
	int write_errno;
	/* response */
	long status;
	struct deis_buf errbody;
	char location[4096];
	char digest[DEIS_DIGEST_SIZE];
	char content_type_resp[128];
	long long content_length;
};

/* [A-Za-z0-9], whatever the locale. */
static inline bool oci_is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
}

/* ---- oci_ref.c ---- */

/* 0 when name is a repository (app) name, and digest a sha256 digest;
 * else -EINVAL with err set ("'x' is not a valid repository (app) name").
 * Every request checks what it names before it builds a URL. */
int oci_check_name(const char *name, struct deis_error *err);
int oci_check_blob(const char *name, const char *digest, struct deis_error *err);
/* A sha256 context (aborts when out of memory); free it with
 * EVP_MD_CTX_free(). */
EVP_MD_CTX *oci_digest_new(void);
/* out = "sha256:<hex>" of what md has hashed. */
void oci_digest_final(EVP_MD_CTX *md, char out[DEIS_DIGEST_SIZE]);

/* ---- registry.c ---- */

/* Starts r: method on url, an absolute URL that r takes. */
void registry_req_init(struct http_req *r, const char *method, char *url);
/* Starts r: method on reg's URL followed by fmt (a path from "/v2/"). */
void registry_req_v2(struct http_req *r, const struct deis_registry *reg,
		     const char *method, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Starts r: method on name's blob or manifest (kind "blobs" or
 * "manifests") of that digest, once both are checked (oci_check_blob);
 * else -EINVAL with err set, and r is not started. */
int registry_req_object(struct http_req *r, const struct deis_registry *reg,
			const char *method, const char *kind, const char *name,
			const char *digest, struct deis_error *err);
/* Frees r->url and the error body. */
void registry_req_free(struct http_req *r);
/* reg->url followed by fmt: a new string the caller frees. */
char *registry_url_join(const struct deis_registry *reg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The path part of a URL, for messages. */
const char *registry_url_path(const char *url);
/* Sends one request; returns 0 for a 2xx answer, else -errno with err set
 * ("registry URL: METHOD /path: reason"). */
int registry_http_do(struct deis_registry *reg, struct http_req *r,
		     struct deis_error *err);
/* Sends r (a GET) with the answer into out (replaced; at most max bytes),
 * counts it as downloaded and checks the bytes: their digest (into got)
 * must be the one the registry names (Docker-Content-Digest) when it names
 * one, and want when want is a digest; what names the object in the error
 * ("blob sha256:...").  On failure out is left empty. */
int registry_get_buf(struct deis_registry *reg, struct http_req *r,
		     struct deis_buf *out, size_t max, const char *want,
		     const char *what, char got[DEIS_DIGEST_SIZE],
		     struct deis_error *err);

#endif
