/*
 * registry.c - the client of the OCI distribution API: the handle, its
 * credentials, and HTTP over libcurl.  See include/deis/registry.h; blobs
 * are in registry_blob.c, manifests and images in registry_image.c, the
 * documents and names they carry in oci_image.c and oci_ref.c.  Beyond
 * the header:
 *  - One libcurl easy handle per struct deis_registry, reset (not
 *    recreated) before each request so the connection is kept alive.
 *    HTTP/1.1 only, http and https only, a 10 s connect time-out, 60 s for
 *    small requests, and for blobs a stall limit (less than 1 byte/s for
 *    60 s) instead of a total limit.  "Expect: 100-continue" is turned off.
 *  - Error bodies (the registry's {"errors":[{code,message,detail}]}) are
 *    kept up to 64 KB and turned into words; a success body never goes
 *    into memory beyond the caller's limit.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "deis/conf.h"
#include "deis/validate.h"
#include "registry_internal.h"

#define ERRBODY_MAX		(64 * 1024)
#define CONNECT_TIMEOUT_MS	10000L
#define SMALL_TIMEOUT_MS	60000L
#define STALL_SECONDS		60L
#define MIN_CHUNK		(64LL * 1024)

/* ------------------------------------------------------------ HTTP */

void registry_req_init(struct http_req *r, const char *method, char *url)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->url = url;
	r->fd = -1;
	r->out_fd = -1;
	r->out_max = -1;
	r->content_length = -1;
}

void registry_req_free(struct http_req *r)
{
	free(r->url);
	deis_buf_release(&r->errbody);
}

static char *url_vjoin(const struct deis_registry *reg, const char *fmt,
		       va_list ap)
{
	struct deis_buf b = DEIS_BUF_INIT;

	deis_buf_adds(&b, reg->url);
	deis_buf_vaddf(&b, fmt, ap);
	return deis_buf_detach(&b, NULL);
}

char *registry_url_join(const struct deis_registry *reg, const char *fmt, ...)
{
	va_list ap;
	char *url;

	va_start(ap, fmt);
	url = url_vjoin(reg, fmt, ap);
	va_end(ap);
	return url;
}

void registry_req_v2(struct http_req *r, const struct deis_registry *reg,
		     const char *method, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	registry_req_init(r, method, url_vjoin(reg, fmt, ap));
	va_end(ap);
}

int registry_req_object(struct http_req *r, const struct deis_registry *reg,
			const char *method, const char *kind, const char *name,
			const char *digest, struct deis_error *err)
{
	int rc = oci_check_blob(name, digest, err);

	if (rc == 0)
		registry_req_v2(r, reg, method, "/v2/%s/%s/%s", name, kind, digest);
	return rc;
}

/* The path part of a URL, for messages. */
const char *registry_url_path(const char *url)
{
	const char *p = strstr(url, "://");

	p = p ? strchr(p + 3, '/') : NULL;
	return p ? p : url;
}

static size_t header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * n, vlen;
	const char *v;

	if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* a new response (after a redirect or a 100): start over */
		const char *sp = memchr(data, ' ', len);

		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->location[0] = r->digest[0] = r->content_type_resp[0] = '\0';
		r->content_length = -1;
		return len;
	}
	v = memchr(data, ':', len);
	if (!v)
		return len;
	size_t nlen = (size_t)(v - data);
	v++;
	while (v < data + len && (*v == ' ' || *v == '\t'))
		v++;
	vlen = (size_t)(data + len - v);
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
			v[vlen - 1] == ' '))
		vlen--;
#define HDR(name) (nlen == sizeof(name) - 1 && !strncasecmp(data, name, nlen))
	if (HDR("Location") && vlen < sizeof(r->location)) {
		memcpy(r->location, v, vlen);
		r->location[vlen] = '\0';
	} else if (HDR("Docker-Content-Digest") && vlen < sizeof(r->digest)) {
		memcpy(r->digest, v, vlen);
		r->digest[vlen] = '\0';
	} else if (HDR("Content-Type") && vlen < sizeof(r->content_type_resp)) {
		memcpy(r->content_type_resp, v, vlen);
		r->content_type_resp[vlen] = '\0';
	} else if (HDR("Content-Length")) {
		char num[32];

		if (vlen < sizeof(num)) {
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			r->content_length = strtoll(num, NULL, 10);
		}
	}
#undef HDR
	return len;
}

static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t len = size * n, done = 0;

	if (r->status < 200 || r->status >= 300) {
		/* an error body (or a redirect's): keep the start of it */
		if (r->errbody.len < ERRBODY_MAX)
			deis_buf_add(&r->errbody, data,
				     len < ERRBODY_MAX - r->errbody.len ?
				     len : ERRBODY_MAX - r->errbody.len);
		return len;
	}
	if (r->out_fd >= 0) {
		if (r->out_max >= 0 && r->got + (long long)len > r->out_max) {
			r->too_big = true;
			return 0;
		}
		EVP_DigestUpdate(r->out_md, data, len);
		while (done < len) {
			ssize_t w = write(r->out_fd, data + done, len - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r->write_failed = true;
				r->write_errno = errno;
				return 0;
			}
			done += (size_t)w;
		}
		r->got += (long long)len;
		return len;
	}
	if (r->resp) {
		if (r->resp->len + len > r->resp_max) {
			r->too_big = true;
			return 0;
		}
		deis_buf_add(r->resp, data, len);
		r->got += (long long)len;
	}
	return len;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct http_req *r = arg;
	size_t want = size * n;
	long long left = r->len - r->pos;

	if (left <= 0)
		return 0;
	if ((long long)want > left)
		want = (size_t)left;
	if (r->body) {
		memcpy(buf, r->body + r->pos, want);
		r->pos += (long long)want;
		return want;
	}
	for (;;) {
		ssize_t got = pread(r->fd, buf, want, (off_t)(r->off + r->pos));

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)	/* the file shrank or failed: abort */
			return CURL_READFUNC_ABORT;
		r->pos += got;
		return (size_t)got;
	}
}

static int seek_cb(void *arg, curl_off_t offset, int origin)
{
	struct http_req *r = arg;

	if (origin != SEEK_SET || offset < 0 || offset > r->len)
		return CURL_SEEKFUNC_FAIL;
	r->pos = offset;
	return CURL_SEEKFUNC_OK;
}

/* "HTTP 404: MANIFEST_UNKNOWN: manifest unknown; ..." from an error body. */
static void describe_error(const struct http_req *r, struct deis_buf *out)
{
	json_t *j = NULL, *errors, *e;
	size_t i;

	deis_buf_addf(out, "HTTP %ld", r->status);
	if (r->errbody.len)
		j = json_loadb(r->errbody.data, r->errbody.len, 0, NULL);
	errors = json_object_get(j, "errors");
	json_array_foreach(errors, i, e) {
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		json_t *detail = json_object_get(e, "detail");
		char shown[256];

		if (i >= 3)
			break;
		deis_buf_adds(out, i ? "; " : ": ");
		if (code)
			deis_buf_addf(out, "%s: ", deis_printable(shown, sizeof(shown),
								  code, strlen(code)));
		deis_buf_adds(out, msg ? deis_printable(shown, sizeof(shown), msg,
							strlen(msg)) : "(no message)");
		if (json_is_string(detail)) {
			const char *d = json_string_value(detail);

			deis_buf_addf(out, " (%s)", deis_printable(shown, sizeof(shown),
								   d, strlen(d)));
		} else if (json_is_object(detail)) {
			char *d = json_dumps(detail, JSON_COMPACT);

			if (d)
				deis_buf_addf(out, " (%s)", deis_printable(shown,
						sizeof(shown), d, strlen(d)));
			free(d);
		}
	}
	json_decref(j);
}

/* name: value, when value is set. */
static struct curl_slist *add_header(struct curl_slist *hdrs, const char *name,
				     const char *value)
{
	struct deis_buf line = DEIS_BUF_INIT;

	if (!value)
		return hdrs;
	deis_buf_addf(&line, "%s: %s", name, value);
	hdrs = curl_slist_append(hdrs, line.data);
	deis_buf_release(&line);
	if (!hdrs)
		abort();
	return hdrs;
}

/* Sets reg's handle up for r; returns the header list to free after. */
static struct curl_slist *set_request(struct deis_registry *reg,
				      struct http_req *r)
{
	struct curl_slist *hdrs;
	CURL *h = reg->curl;

	curl_easy_reset(h);
	reg->curl_err[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, reg->curl_err);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "deisfs/" DEIS_VERSION);
	if (reg->password) {
		/* Basic at once, not after a 401 round trip; libcurl sends
		 * it to this origin only (CURLOPT_UNRESTRICTED_AUTH is off),
		 * so a blob redirect never carries it. */
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, reg->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, reg->password);
	}
	if (r->blob) {
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
	} else {
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, SMALL_TIMEOUT_MS);
	}
	if (r->follow) {
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	}
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);

	hdrs = curl_slist_append(NULL, "Expect:");
	if (!hdrs)
		abort();
	hdrs = add_header(hdrs, "Accept", r->accept);
	hdrs = add_header(hdrs, "Content-Type", r->content_type);
	hdrs = add_header(hdrs, "Content-Range", r->content_range);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(r->method, "POST") && r->len == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	} else if (!strcmp(r->method, "DELETE")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else {
		/* PUT or PATCH, with a body from read_cb (maybe empty) */
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, r);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
		if (strcmp(r->method, "PUT"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	}
	return hdrs;
}

/* What the answer to r means: 0 for a 2xx, else -errno with err set (the
 * HTTP status mapped as registry.h says). */
static int answer(const struct deis_registry *reg, const struct http_req *r,
		  CURLcode cc, struct deis_error *err)
{
	struct deis_buf line = DEIS_BUF_INIT;
	int code;

	if (r->write_failed)
		return deis_error_set(err, r->write_errno, "writing: %s",
				      strerror(r->write_errno));
	if (r->too_big)
		return deis_error_set(err, EIO, "answer larger than expected");
	if (cc != CURLE_OK)
		return deis_error_set(err, EIO, "%s", reg->curl_err[0] ?
				      reg->curl_err : curl_easy_strerror(cc));
	if (r->status >= 200 && r->status < 300)
		return 0;
	describe_error(r, &line);
	if (r->status == 404)
		code = ENOENT;
	else if (r->status == 401 || r->status == 403)
		code = EACCES;
	else if (r->status >= 400 && r->status < 500)
		code = EINVAL;
	else
		code = EIO;
	code = deis_error_set(err, code, "%s", line.data);
	deis_buf_release(&line);
	return code;
}

/* Sends one request; returns 0 for a 2xx answer, else -errno with err set
 * ("registry URL: METHOD /path: reason"). */
int registry_http_do(struct deis_registry *reg, struct http_req *r,
		     struct deis_error *err)
{
	struct curl_slist *hdrs = set_request(reg, r);
	CURLcode cc;
	int code;

	reg->stats.requests++;
	cc = curl_easy_perform(reg->curl);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(reg->curl, CURLINFO_RESPONSE_CODE, &r->status);
	code = answer(reg, r, cc, err);
	/* No answer, or a 5xx: the registry's outage, which passes; a 4xx,
	 * a write that failed here or an answer too large would not. */
	reg->unreachable = code < 0 && !r->write_failed && !r->too_big &&
			   (cc != CURLE_OK || r->status >= 500);
	if (code < 0)
		deis_error_prefix(err, "registry %s: %s %s", reg->url, r->method,
				  registry_url_path(r->url));
	return code;
}

int registry_get_buf(struct deis_registry *reg, struct http_req *r,
		     struct deis_buf *out, size_t max, const char *want,
		     const char *what, char got[DEIS_DIGEST_SIZE],
		     struct deis_error *err)
{
	int rc;

	r->resp = out;
	r->resp_max = max;
	/* A GET is safe to repeat: the registry's filesystem storage answers
	 * 500 ("invalid checksum digest format") to a read of a manifest
	 * whose link a push of the same manifest is rewriting, for a few
	 * milliseconds; a scheduler pulling the release just made saw it. */
	for (int attempt = 0;; attempt++) {
		deis_buf_reset(out);
		deis_buf_reset(&r->errbody);
		r->got = 0;
		r->too_big = false;
		r->digest[0] = '\0';
		rc = registry_http_do(reg, r, err);
		if (rc == 0 || r->status < 500 || attempt == 2)
			break;
		deis_error_clear(err);
		usleep(attempt ? 200000 : 50000);
	}
	if (rc < 0)
		goto out;
	reg->stats.bytes_downloaded += r->got;
	deis_digest_buf(deis_buf_str(out), out->len, got);
	if (r->digest[0] && strcmp(r->digest, got))
		rc = deis_error_set(err, EIO, "registry %s: %s: the bytes received have "
				    "digest %s, the registry says %s", reg->url, what, got,
				    r->digest);
	else if (want && deis_valid_digest(want) && strcmp(want, got))
		rc = deis_error_set(err, EIO, "registry %s: %s: the bytes received have "
				    "digest %s", reg->url, what, got);
out:
	if (rc < 0)
		deis_buf_reset(out);
	return rc;
}

/* ------------------------------------------------------------ client */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int deis_registry_open(const char *url, struct deis_registry **out,
		       struct deis_error *err)
{
	struct deis_registry *reg;
	const char *host, *p;
	char shown[128];
	size_t len;

	*out = NULL;
	if (!url)
		return deis_error_set(err, EINVAL, "no registry URL");
	len = strlen(url);
	if (!strncmp(url, "http://", 7))
		host = url + 7;
	else if (!strncmp(url, "https://", 8))
		host = url + 8;
	else
		goto bad;
	if (len && url[len - 1] == '/')
		len--;
	if (host >= url + len)
		goto bad;
	for (p = host; p < url + len; p++)
		if (!oci_is_alnum(*p) && !strchr(".-:[]_", *p))
			goto bad;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return deis_error_set(err, EIO, "curl_global_init: %s",
				      curl_easy_strerror(curl_init_rc));
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		abort();
	reg->url = strndup(url, len);
	reg->curl = curl_easy_init();
	if (!reg->url || !reg->curl)
		abort();
	reg->chunk = DEIS_REGISTRY_CHUNK;
	*out = reg;
	return 0;
bad:
	return deis_error_set(err, EINVAL,
		"'%s' is not a registry URL (http://host:port)",
		deis_printable(shown, sizeof(shown), url, strlen(url)));
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void deis_registry_close(struct deis_registry *reg)
{
	if (!reg)
		return;
	curl_easy_cleanup(reg->curl);
	free(reg->url);
	free(reg->user);
	free_secret(reg->password);
	free(reg);
}

void deis_registry_set_credentials(struct deis_registry *reg, const char *user,
				   const char *password)
{
	free(reg->user);
	free_secret(reg->password);
	reg->user = reg->password = NULL;
	if (!password || !password[0])
		return;
	reg->user = strdup(user ? user : "");
	reg->password = strdup(password);
	if (!reg->user || !reg->password)
		abort();
}

int deis_registry_open_platform(struct deis_registry **out, struct deis_error *err)
{
	int r = deis_registry_open(deis_conf.registry_url, out, err);

	if (r == 0)
		deis_registry_set_credentials(*out, deis_conf.registry_user,
					      deis_conf.registry_password);
	return r;
}

bool deis_registry_unreachable(const struct deis_registry *reg)
{
	return reg && reg->unreachable;
}

const struct deis_registry_stats *
deis_registry_stats(const struct deis_registry *reg)
{
	return &reg->stats;
}

void deis_registry_set_chunk_size(struct deis_registry *reg, long long bytes)
{
	reg->chunk = bytes < MIN_CHUNK ? MIN_CHUNK : bytes;
}

int deis_registry_ping(struct deis_registry *reg, struct deis_error *err)
{
	struct deis_buf body = DEIS_BUF_INIT;
	struct http_req r;
	int rc;

	registry_req_v2(&r, reg, "GET", "/v2/");
	r.resp = &body;
	r.resp_max = ERRBODY_MAX;
	rc = registry_http_do(reg, &r, err);
	registry_req_free(&r);
	deis_buf_release(&body);
	return rc;
}
