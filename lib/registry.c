/*
 * registry.c - OCI distribution API client and OCI image documents.
 *
 * See include/deis/registry.h.  Beyond the header:
 *  - One libcurl easy handle per struct deis_registry, reset (not
 *    recreated) before each request so the connection is kept alive.
 *    HTTP/1.1 only, http and https only, a 10 s connect time-out, 60 s for
 *    small requests, and for blobs a stall limit (less than 1 byte/s for
 *    60 s) instead of a total limit.  "Expect: 100-continue" is turned off.
 *  - Upload session URLs (Location) may be relative or absolute; an
 *    absolute one must be on the registry's own origin, so a registry
 *    cannot send our blobs elsewhere.  Blob GETs follow at most 5
 *    redirects (a storage back end may redirect).
 *  - A blob upload is POST then PUT ?digest= with the whole blob
 *    (monolithic), or PATCH chunks with Content-Range then an empty PUT
 *    for blobs over the chunk size.  Bodies are streamed from the file
 *    with pread(), so a 1 GB slug costs no memory.
 *  - Error bodies (the registry's {"errors":[{code,message,detail}]}) are
 *    kept up to 64 KB and turned into words; a success body never goes
 *    into memory beyond the caller's limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "deis/conf.h"
#include "deis/registry.h"
#include "deis/validate.h"

#define IO_BLOCK		(1024 * 1024)
#define ERRBODY_MAX		(64 * 1024)
#define CONNECT_TIMEOUT_MS	10000L
#define SMALL_TIMEOUT_MS	60000L
#define STALL_SECONDS		60L
#define MIN_CHUNK		(64LL * 1024)

struct deis_registry {
	char *url;		/* "http://host:port", no trailing '/' */
	char *user, *password;	/* basic auth; NULL: none */
	CURL *curl;
	long long chunk;
	struct deis_registry_stats stats;
	char curl_err[CURL_ERROR_SIZE];
};

/* ------------------------------------------------------------ names */

static bool is_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool oci_is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z');
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

static int oci_bad_name(const char *name, struct deis_error *err)
{
	char shown[96];

	if (!name)
		return deis_error_set(err, EINVAL, "no repository name");
	return deis_error_set(err, EINVAL,
			      "'%s' is not a valid repository (app) name",
			      deis_printable(shown, sizeof(shown), name, strlen(name)));
}

static int oci_bad_digest(const char *d, struct deis_error *err)
{
	char shown[96];

	if (!d)
		return deis_error_set(err, EINVAL, "no digest");
	return deis_error_set(err, EINVAL, "'%s' is not a valid sha256 digest",
			      deis_printable(shown, sizeof(shown), d, strlen(d)));
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
	if (!deis_valid_app_name(out->name))
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

static void oci_digest_final(EVP_MD_CTX *md, char out[DEIS_DIGEST_SIZE])
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

static EVP_MD_CTX *oci_digest_new(void)
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

/* ------------------------------------------------------------ JSON helpers */

static int json_bad(struct deis_error *err, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int json_bad(struct deis_error *err, const char *what, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return deis_error_set(err, EINVAL, "%s: %s", what, msg);
}

static json_t *json_load(const char *text, size_t len, const char *what,
			 struct deis_error *err)
{
	json_error_t je;
	json_t *j;

	if (!text || memchr(text, '\0', len)) {
		json_bad(err, what, "not JSON text (NUL byte)");
		return NULL;
	}
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		json_bad(err, what, "malformed JSON at line %d: %s", je.line, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		json_bad(err, what, "not a JSON object");
		return NULL;
	}
	return j;
}

static void json_dump_buf(json_t *j, struct deis_buf *out)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (!s)
		abort();
	deis_buf_reset(out);
	deis_buf_adds(out, s);
	free(s);
}

/* ------------------------------------------------------------ manifests */

static bool is_layer_type(const char *t)
{
	return !strcmp(t, DEIS_OCI_LAYER_GZIP_TYPE) ||
	       !strcmp(t, DEIS_OCI_LAYER_TAR_TYPE);
}

static int check_descriptor(const struct deis_oci_descriptor *d, bool config,
			    const char *what, struct deis_error *err)
{
	if (config ? strcmp(d->media_type, DEIS_OCI_CONFIG_TYPE)
		   : !is_layer_type(d->media_type))
		return json_bad(err, what, "media type '%.96s' is not %s",
				d->media_type, config ? DEIS_OCI_CONFIG_TYPE :
				"an OCI layer type");
	if (!deis_valid_digest(d->digest))
		return json_bad(err, what, "bad digest");
	if (d->size < 0)
		return json_bad(err, what, "bad size");
	return 0;
}

static json_t *descriptor_json(const struct deis_oci_descriptor *d)
{
	return json_pack("{s:s, s:s, s:I}", "mediaType", d->media_type,
			 "digest", d->digest, "size", (json_int_t)d->size);
}

int deis_oci_manifest_build(const struct deis_oci_manifest *m,
			    struct deis_buf *out, struct deis_error *err)
{
	json_t *j, *layers;
	char what[48];
	size_t i;
	int rc;

	if ((rc = check_descriptor(&m->config, true, "manifest config", err)) < 0)
		return rc;
	if (m->n_layers == 0 || m->n_layers > DEIS_IMAGE_MAX_LAYERS)
		return json_bad(err, "manifest", "%zu layers (1 to %d allowed)",
				m->n_layers, DEIS_IMAGE_MAX_LAYERS);
	for (i = 0; i < m->n_layers; i++) {
		snprintf(what, sizeof(what), "manifest layer %zu", i);
		if ((rc = check_descriptor(&m->layers[i], false, what, err)) < 0)
			return rc;
	}
	layers = json_array();
	for (i = 0; i < m->n_layers; i++)
		json_array_append_new(layers, descriptor_json(&m->layers[i]));
	j = json_pack("{s:i, s:s, s:o, s:o}", "schemaVersion", 2,
		      "mediaType", DEIS_OCI_MANIFEST_TYPE,
		      "config", descriptor_json(&m->config), "layers", layers);
	if (!j)
		abort();
	json_dump_buf(j, out);
	json_decref(j);
	return 0;
}

static int parse_descriptor(json_t *j, struct deis_oci_descriptor *d,
			    bool config, const char *what,
			    struct deis_error *err)
{
	json_t *t, *dg, *sz;

	if (!json_is_object(j))
		return json_bad(err, what, "not an object");
	t = json_object_get(j, "mediaType");
	dg = json_object_get(j, "digest");
	sz = json_object_get(j, "size");
	if (!json_is_string(t) || !json_is_string(dg) || !json_is_integer(sz))
		return json_bad(err, what, "needs mediaType, digest and size");
	if (json_string_length(t) >= sizeof(d->media_type))
		return json_bad(err, what, "media type too long");
	memcpy(d->media_type, json_string_value(t), json_string_length(t) + 1);
	if (!deis_valid_digest(json_string_value(dg)))
		return json_bad(err, what, "bad digest");
	memcpy(d->digest, json_string_value(dg), json_string_length(dg) + 1);
	d->size = (long long)json_integer_value(sz);
	return check_descriptor(d, config, what, err);
}

void deis_oci_manifest_clear(struct deis_oci_manifest *m)
{
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

int deis_oci_manifest_parse(const char *json, size_t len,
			    struct deis_oci_manifest *out,
			    struct deis_error *err)
{
	json_t *j, *v, *layers;
	char what[48];
	size_t i;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (len > DEIS_MANIFEST_MAX)
		return json_bad(err, "manifest", "larger than %d bytes",
				DEIS_MANIFEST_MAX);
	j = json_load(json, len, "manifest", err);
	if (!j)
		return -EINVAL;
	v = json_object_get(j, "schemaVersion");
	if (!json_is_integer(v) || json_integer_value(v) != 2) {
		json_bad(err, "manifest", "schemaVersion is not 2");
		goto out;
	}
	v = json_object_get(j, "mediaType");
	if (!json_is_string(v) || strcmp(json_string_value(v), DEIS_OCI_MANIFEST_TYPE)) {
		json_bad(err, "manifest", "mediaType is not %s",
			 DEIS_OCI_MANIFEST_TYPE);
		goto out;
	}
	if ((rc = parse_descriptor(json_object_get(j, "config"), &out->config,
				   true, "manifest config", err)) < 0)
		goto out;
	layers = json_object_get(j, "layers");
	if (!json_is_array(layers) || json_array_size(layers) == 0 ||
	    json_array_size(layers) > DEIS_IMAGE_MAX_LAYERS) {
		rc = json_bad(err, "manifest", "layers must be an array of 1 to %d",
			      DEIS_IMAGE_MAX_LAYERS);
		goto out;
	}
	out->layers = calloc(json_array_size(layers), sizeof(*out->layers));
	if (!out->layers)
		abort();
	out->n_layers = json_array_size(layers);
	for (i = 0; i < out->n_layers; i++) {
		snprintf(what, sizeof(what), "manifest layer %zu", i);
		if ((rc = parse_descriptor(json_array_get(layers, i),
					   &out->layers[i], false, what, err)) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(j);
	if (rc < 0)
		deis_oci_manifest_clear(out);
	return rc;
}

/* ------------------------------------------------------------ image config */

static bool valid_label_key(const char *k)
{
	size_t i;

	for (i = 0; k[i]; i++)
		if (!oci_is_alnum(k[i]) && !strchr("._/-", k[i]))
			return false;
	return i >= 1 && i <= 255;
}

static void format_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, size, "1970-01-01T00:00:00Z");
}

/* RFC 3339 in UTC as the OCI config uses: "2026-11-26T12:00:00[.frac]Z"
 * (or +00:00). */
static int parse_time(const char *s, time_t *out)
{
	struct tm tm;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (strcmp(p, "Z") && strcmp(p, "+00:00"))
		return -1;
	*out = timegm(&tm);
	return 0;
}

static const char *go_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#elif defined(__i386__)
	return "386";
#elif defined(__arm__)
	return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
	return "riscv64";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return "ppc64le";
#elif defined(__s390x__)
	return "s390x";
#else
	return "unknown";
#endif
}

static int check_text(const char *v, const char *what, const char *key,
		      struct deis_error *err)
{
	size_t len = strlen(v);
	json_t *s = json_stringn(v, len);	/* NULL unless valid UTF-8 */

	if (!s)
		return json_bad(err, "image config", "%s '%.64s': value is not UTF-8",
				what, key);
	json_decref(s);
	return 0;
}

int deis_image_config_build(const struct deis_image_config *c,
			    struct deis_buf *out, struct deis_error *err)
{
	struct deis_kvlist env = DEIS_KVLIST_INIT;
	json_t *j, *envj, *labels, *diffs;
	struct deis_buf line = DEIS_BUF_INIT;
	char created[40], key[300];
	size_t i;
	int rc = 0;

	for (i = 0; i < c->procfile.n; i++) {
		if (!deis_valid_proc_type(c->procfile.items[i].key))
			return json_bad(err, "image config", "'%.64s' is not a process type",
					c->procfile.items[i].key);
		if (!c->procfile.items[i].value[0])
			return json_bad(err, "image config", "process type '%s' has no command",
					c->procfile.items[i].key);
		if ((rc = check_text(c->procfile.items[i].value, "process type",
				     c->procfile.items[i].key, err)) < 0)
			return rc;
	}
	for (i = 0; i < c->env.n; i++) {
		if (!deis_valid_config_key(c->env.items[i].key))
			return json_bad(err, "image config", "'%.64s' is not a config key",
					c->env.items[i].key);
		if ((rc = check_text(c->env.items[i].value, "config var",
				     c->env.items[i].key, err)) < 0)
			return rc;
	}
	for (i = 0; i < c->labels.n; i++) {
		const char *k = c->labels.items[i].key;

		if (!valid_label_key(k) || !strncmp(k, DEIS_PROCFILE_LABEL,
						    strlen(DEIS_PROCFILE_LABEL)))
			return json_bad(err, "image config", "'%.64s' is not a label name", k);
		if ((rc = check_text(c->labels.items[i].value, "label", k, err)) < 0)
			return rc;
	}
	for (i = 0; i < c->diff_ids.n; i++)
		if (!deis_valid_digest(c->diff_ids.items[i]))
			return json_bad(err, "image config", "bad diff ID");
	if (c->diff_ids.n == 0 || c->diff_ids.n > DEIS_IMAGE_MAX_LAYERS)
		return json_bad(err, "image config", "%zu diff IDs (1 to %d allowed)",
				c->diff_ids.n, DEIS_IMAGE_MAX_LAYERS);

	deis_kvlist_copy(&env, &c->env);
	deis_kvlist_sort(&env);
	envj = json_array();
	for (i = 0; i < env.n; i++) {
		deis_buf_reset(&line);
		deis_buf_addf(&line, "%s=%s", env.items[i].key, env.items[i].value);
		json_array_append_new(envj, json_stringn(line.data, line.len));
	}
	deis_kvlist_clear(&env);
	deis_buf_release(&line);

	labels = json_object();
	for (i = 0; i < c->labels.n; i++)
		json_object_set_new(labels, c->labels.items[i].key,
				    json_string(c->labels.items[i].value));
	for (i = 0; i < c->procfile.n; i++) {
		snprintf(key, sizeof(key), "%s%s", DEIS_PROCFILE_LABEL,
			 c->procfile.items[i].key);
		json_object_set_new(labels, key,
				    json_string(c->procfile.items[i].value));
	}
	diffs = json_array();
	for (i = 0; i < c->diff_ids.n; i++)
		json_array_append_new(diffs, json_string(c->diff_ids.items[i]));

	format_time(c->created, created, sizeof(created));
	j = json_pack("{s:s, s:s, s:s, s:{s:o, s:s, s:o}, s:{s:s, s:o}}",
		      "created", created, "architecture", go_arch(), "os", "linux",
		      "config", "Env", envj, "WorkingDir", "/app", "Labels", labels,
		      "rootfs", "type", "layers", "diff_ids", diffs);
	if (!j)
		abort();
	json_dump_buf(j, out);
	json_decref(j);
	return 0;
}

void deis_image_config_clear(struct deis_image_config *c)
{
	deis_kvlist_clear(&c->procfile);
	deis_kvlist_clear(&c->env);
	deis_kvlist_clear(&c->labels);
	deis_strlist_clear(&c->diff_ids);
	c->created = 0;
}

int deis_image_config_parse(const char *json, size_t len,
			    struct deis_image_config *out,
			    struct deis_error *err)
{
	json_t *j, *v, *cfg, *rootfs, *item;
	const char *key;
	size_t i;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (len > DEIS_IMAGE_CONFIG_MAX)
		return json_bad(err, "image config", "larger than %d bytes",
				DEIS_IMAGE_CONFIG_MAX);
	j = json_load(json, len, "image config", err);
	if (!j)
		return -EINVAL;
	v = json_object_get(j, "os");
	if (!json_is_string(v) || strcmp(json_string_value(v), "linux")) {
		json_bad(err, "image config", "os is not linux");
		goto out;
	}
	v = json_object_get(j, "created");
	if (v && (!json_is_string(v) ||
		  parse_time(json_string_value(v), &out->created) < 0)) {
		json_bad(err, "image config", "created is not an RFC 3339 UTC time");
		goto out;
	}
	cfg = json_object_get(j, "config");
	if (cfg && !json_is_object(cfg)) {
		json_bad(err, "image config", "config is not an object");
		goto out;
	}
	v = json_object_get(cfg, "Env");
	if (v && !json_is_array(v) && !json_is_null(v)) {
		json_bad(err, "image config", "config.Env is not an array");
		goto out;
	}
	json_array_foreach(v, i, item) {
		const char *s = json_string_value(item), *eq;
		char k[256];

		eq = s ? strchr(s, '=') : NULL;
		if (!eq || (size_t)(eq - s) >= sizeof(k) ||
		    json_string_length(item) != strlen(s)) {
			json_bad(err, "image config", "config.Env[%zu] is not KEY=value", i);
			goto out;
		}
		memcpy(k, s, (size_t)(eq - s));
		k[eq - s] = '\0';
		if (!deis_valid_config_key(k)) {
			json_bad(err, "image config", "config.Env[%zu]: bad key", i);
			goto out;
		}
		deis_kvlist_set(&out->env, k, eq + 1);
	}
	v = json_object_get(cfg, "Labels");
	if (v && !json_is_object(v) && !json_is_null(v)) {
		json_bad(err, "image config", "config.Labels is not an object");
		goto out;
	}
	json_object_foreach(v, key, item) {
		const char *s = json_string_value(item);

		if (!s || json_string_length(item) != strlen(s) ||
		    !valid_label_key(key)) {
			json_bad(err, "image config", "bad label '%.64s'", key);
			goto out;
		}
		if (!strncmp(key, DEIS_PROCFILE_LABEL, strlen(DEIS_PROCFILE_LABEL))) {
			const char *type = key + strlen(DEIS_PROCFILE_LABEL);

			if (!deis_valid_proc_type(type) || !s[0]) {
				json_bad(err, "image config", "bad Procfile entry '%.64s'",
					 key);
				goto out;
			}
			deis_kvlist_set(&out->procfile, type, s);
		} else {
			deis_kvlist_set(&out->labels, key, s);
		}
	}
	rootfs = json_object_get(j, "rootfs");
	v = json_object_get(rootfs, "diff_ids");
	item = json_object_get(rootfs, "type");
	if (!json_is_string(item) || strcmp(json_string_value(item), "layers") ||
	    !json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > DEIS_IMAGE_MAX_LAYERS) {
		json_bad(err, "image config", "rootfs must be type layers with 1 to %d diff_ids",
			 DEIS_IMAGE_MAX_LAYERS);
		goto out;
	}
	json_array_foreach(v, i, item) {
		if (!deis_valid_digest(json_string_value(item))) {
			json_bad(err, "image config", "rootfs.diff_ids[%zu] is not a digest", i);
			goto out;
		}
		deis_strlist_add(&out->diff_ids, json_string_value(item));
	}
	rc = 0;
out:
	json_decref(j);
	if (rc < 0)
		deis_image_config_clear(out);
	return rc;
}

/* ------------------------------------------------------------ HTTP */

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

static void registry_req_init(struct http_req *r, const char *method)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->fd = -1;
	r->out_fd = -1;
	r->out_max = -1;
	r->content_length = -1;
}

static void registry_req_free(struct http_req *r)
{
	free(r->url);
	deis_buf_release(&r->errbody);
}

static char *registry_url_join(const struct deis_registry *reg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static char *registry_url_join(const struct deis_registry *reg, const char *fmt, ...)
{
	struct deis_buf b = DEIS_BUF_INIT;
	va_list ap;

	deis_buf_adds(&b, reg->url);
	va_start(ap, fmt);
	deis_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return deis_buf_detach(&b, NULL);
}

/* The path part of a URL, for messages. */
static const char *registry_url_path(const char *url)
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

/* Sends one request; returns 0 for a 2xx answer, else -errno with err set
 * ("registry URL: METHOD /path: reason"). */
static int registry_http_do(struct deis_registry *reg, struct http_req *r,
			    struct deis_error *err)
{
	struct curl_slist *hdrs = NULL;
	struct deis_buf line = DEIS_BUF_INIT;
	CURL *h = reg->curl;
	CURLcode cc;
	int code;

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

	hdrs = curl_slist_append(hdrs, "Expect:");
	if (r->accept) {
		deis_buf_addf(&line, "Accept: %s", r->accept);
		hdrs = curl_slist_append(hdrs, line.data);
	}
	if (r->content_type) {
		deis_buf_reset(&line);
		deis_buf_addf(&line, "Content-Type: %s", r->content_type);
		hdrs = curl_slist_append(hdrs, line.data);
	}
	if (r->content_range) {
		deis_buf_reset(&line);
		deis_buf_addf(&line, "Content-Range: %s", r->content_range);
		hdrs = curl_slist_append(hdrs, line.data);
	}
	if (!hdrs)
		abort();
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

	reg->stats.requests++;
	cc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	deis_buf_reset(&line);
	if (r->write_failed) {
		code = deis_error_set(err, r->write_errno, "writing: %s",
				      strerror(r->write_errno));
	} else if (r->too_big) {
		code = deis_error_set(err, EIO, "answer larger than expected");
	} else if (cc != CURLE_OK) {
		code = deis_error_set(err, EIO, "%s", reg->curl_err[0] ?
				      reg->curl_err : curl_easy_strerror(cc));
	} else if (r->status >= 200 && r->status < 300) {
		code = 0;
	} else {
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
	}
	deis_buf_release(&line);
	if (code < 0)
		deis_error_prefix(err, "registry %s: %s %s", reg->url, r->method,
				  registry_url_path(r->url));
	return code;
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

	registry_req_init(&r, "GET");
	r.url = registry_url_join(reg, "/v2/");
	r.resp = &body;
	r.resp_max = ERRBODY_MAX;
	rc = registry_http_do(reg, &r, err);
	registry_req_free(&r);
	deis_buf_release(&body);
	return rc;
}

/* ------------------------------------------------------------ blobs */

int deis_registry_blob_exists(struct deis_registry *reg, const char *name,
			      const char *digest, long long *size,
			      struct deis_error *err)
{
	struct http_req r;
	int rc;

	if (!deis_valid_app_name(name))
		return oci_bad_name(name, err);
	if (!deis_valid_digest(digest))
		return oci_bad_digest(digest, err);
	registry_req_init(&r, "HEAD");
	r.url = registry_url_join(reg, "/v2/%s/blobs/%s", name, digest);
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

	registry_req_init(&r, "POST");
	r.url = registry_url_join(reg, "/v2/%s/blobs/uploads/", name);
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

		registry_req_init(&r, "PATCH");
		r.url = session;
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

	registry_req_init(&r, "PUT");
	r.url = with_digest(session, digest);
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

	if (!deis_valid_app_name(name))
		return oci_bad_name(name, err);
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

	if (!deis_valid_app_name(name))
		return oci_bad_name(name, err);
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

	if (!deis_valid_app_name(name))
		return oci_bad_name(name, err);
	if (!deis_valid_digest(digest))
		return oci_bad_digest(digest, err);
	deis_buf_addf(&tmp, "%s.tmp.XXXXXX", path);
	fd = mkostemp(tmp.data, O_CLOEXEC);
	if (fd < 0) {
		rc = deis_error_set(err, errno, "%s: %s", tmp.data, strerror(errno));
		deis_buf_release(&tmp);
		return rc;
	}
	registry_req_init(&r, "GET");
	r.url = registry_url_join(reg, "/v2/%s/blobs/%s", name, digest);
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
	if (rc == 0 && fchmod(fd, 0644) < 0)
		rc = deis_error_set(err, errno, "%s: %s", tmp.data, strerror(errno));
	if (close(fd) < 0 && rc == 0)
		rc = deis_error_set(err, errno, "%s: %s", tmp.data, strerror(errno));
	if (rc == 0 && rename(tmp.data, path) < 0)
		rc = deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	if (rc < 0)
		unlink(tmp.data);
	EVP_MD_CTX_free(r.out_md);
	registry_req_free(&r);
	deis_buf_release(&tmp);
	return rc;
}

int deis_registry_blob_get(struct deis_registry *reg, const char *name,
			   const char *digest, size_t max,
			   struct deis_buf *out, struct deis_error *err)
{
	char got[DEIS_DIGEST_SIZE];
	struct http_req r;
	int rc;

	if (!deis_valid_app_name(name))
		return oci_bad_name(name, err);
	if (!deis_valid_digest(digest))
		return oci_bad_digest(digest, err);
	deis_buf_reset(out);
	registry_req_init(&r, "GET");
	r.url = registry_url_join(reg, "/v2/%s/blobs/%s", name, digest);
	r.follow = true;
	r.resp = out;
	r.resp_max = max;
	rc = registry_http_do(reg, &r, err);
	if (rc == 0) {
		reg->stats.bytes_downloaded += r.got;
		deis_digest_buf(deis_buf_str(out), out->len, got);
		if (strcmp(got, digest))
			rc = deis_error_set(err, EIO,
				"registry %s: blob %s: the bytes received have digest %s",
				reg->url, digest, got);
	}
	if (rc < 0)
		deis_buf_reset(out);
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

	if (!deis_valid_app_name(name))
		return oci_bad_name(name, err);
	if (!deis_valid_app_name(from))
		return oci_bad_name(from, err);
	if (!deis_valid_digest(digest))
		return oci_bad_digest(digest, err);
	if ((rc = deis_registry_blob_exists(reg, name, digest, NULL, err)) != 0)
		return rc;
	registry_req_init(&r, "POST");
	r.url = registry_url_join(reg, "/v2/%s/blobs/uploads/?mount=sha256%%3A%s&from=%s",
				  name, digest + 7, from);
	rc = registry_http_do(reg, &r, err);
	if (rc == 0 && r.status == 201) {
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

		registry_req_init(&r, "DELETE");
		r.url = session;
		registry_http_do(reg, &r, &ignored);
		registry_req_free(&r);
	}
	return rc;
}

/* ------------------------------------------------------------ manifests */

static int check_reference(const char *reference, struct deis_error *err)
{
	char shown[96];

	if (reference && (deis_valid_image_tag(reference) ||
			  deis_valid_digest(reference)))
		return 0;
	return deis_error_set(err, EINVAL, "'%s' is not a tag or a digest",
			      reference ? deis_printable(shown, sizeof(shown),
					reference, strlen(reference)) : "(null)");
}

int deis_registry_manifest_put(struct deis_registry *reg, const char *name,
			       const char *tag, const char *json, size_t len,
			       char digest[DEIS_DIGEST_SIZE],
			       struct deis_error *err)
{
	char mine[DEIS_DIGEST_SIZE];
	struct http_req r;
	int rc;

	if (!deis_valid_app_name(name))
		return oci_bad_name(name, err);
	if ((rc = check_reference(tag, err)) < 0)
		return rc;
	if (len > DEIS_MANIFEST_MAX)
		return deis_error_set(err, EINVAL, "manifest larger than %d bytes",
				      DEIS_MANIFEST_MAX);
	deis_digest_buf(json, len, mine);
	if (deis_valid_digest(tag) && strcmp(tag, mine))
		return deis_error_set(err, EINVAL, "manifest digest %s is not %s",
				      mine, tag);
	registry_req_init(&r, "PUT");
	r.url = registry_url_join(reg, "/v2/%s/manifests/%s", name, tag);
	r.content_type = DEIS_OCI_MANIFEST_TYPE;
	r.body = json;
	r.len = (long long)len;
	rc = registry_http_do(reg, &r, err);
	if (rc == 0 && r.digest[0] && strcmp(r.digest, mine))
		rc = deis_error_set(err, EIO, "registry %s: stored the manifest as %s, not %s",
				    reg->url, r.digest, mine);
	if (rc == 0 && digest)
		memcpy(digest, mine, sizeof(mine));
	registry_req_free(&r);
	return rc;
}

int deis_registry_manifest_get(struct deis_registry *reg, const char *name,
			       const char *reference, struct deis_buf *out,
			       char digest[DEIS_DIGEST_SIZE],
			       struct deis_error *err)
{
	char got[DEIS_DIGEST_SIZE];
	struct http_req r;
	int rc;

	if (!deis_valid_app_name(name))
		return oci_bad_name(name, err);
	if ((rc = check_reference(reference, err)) < 0)
		return rc;
	deis_buf_reset(out);
	registry_req_init(&r, "GET");
	r.url = registry_url_join(reg, "/v2/%s/manifests/%s", name, reference);
	r.accept = DEIS_OCI_MANIFEST_TYPE;
	r.resp = out;
	r.resp_max = DEIS_MANIFEST_MAX;
	rc = registry_http_do(reg, &r, err);
	if (rc == 0) {
		reg->stats.bytes_downloaded += r.got;
		deis_digest_buf(deis_buf_str(out), out->len, got);
		if (r.digest[0] && strcmp(r.digest, got))
			rc = deis_error_set(err, EIO,
				"registry %s: manifest %s:%s: the bytes received have digest %s, the registry says %s",
				reg->url, name, reference, got, r.digest);
		else if (deis_valid_digest(reference) && strcmp(reference, got))
			rc = deis_error_set(err, EIO,
				"registry %s: manifest %s@%s: the bytes received have digest %s",
				reg->url, name, reference, got);
	}
	if (rc == 0 && digest)
		memcpy(digest, got, sizeof(got));
	if (rc < 0)
		deis_buf_reset(out);
	registry_req_free(&r);
	return rc;
}

int deis_registry_manifest_delete(struct deis_registry *reg, const char *name,
				  const char *digest, struct deis_error *err)
{
	struct http_req r;
	int rc;

	if (!deis_valid_app_name(name))
		return oci_bad_name(name, err);
	if (!deis_valid_digest(digest))
		return oci_bad_digest(digest, err);
	registry_req_init(&r, "DELETE");
	r.url = registry_url_join(reg, "/v2/%s/manifests/%s", name, digest);
	rc = registry_http_do(reg, &r, err);
	registry_req_free(&r);
	return rc;
}

/* ------------------------------------------------------------ images */

int deis_registry_push_image(struct deis_registry *reg, const char *ref,
			     const char *slug_path, const char *config_json,
			     size_t config_len, char digest[DEIS_DIGEST_SIZE],
			     struct deis_error *err)
{
	struct deis_image_config cfg = DEIS_IMAGE_CONFIG_INIT;
	struct deis_oci_manifest m;
	struct deis_oci_descriptor layer;
	struct deis_buf json = DEIS_BUF_INIT;
	struct deis_image_ref r;
	int rc;

	if ((rc = deis_image_ref_parse(ref, &r, err)) < 0)
		return rc;
	if (!r.tag[0])
		return deis_error_set(err, EINVAL, "push %s: push to a tag, not a digest",
				      ref);
	rc = deis_image_config_parse(config_json, config_len, &cfg, err);
	if (rc == 0 && cfg.diff_ids.n != 1)
		rc = deis_error_set(err, EINVAL,
				    "image config: %zu diff IDs for one layer",
				    cfg.diff_ids.n);
	deis_image_config_clear(&cfg);
	if (rc < 0)
		return deis_error_prefix(err, "push %s", ref);

	memset(&m, 0, sizeof(m));
	memset(&layer, 0, sizeof(layer));
	memcpy(layer.media_type, DEIS_OCI_LAYER_GZIP_TYPE,
	       sizeof(DEIS_OCI_LAYER_GZIP_TYPE));
	rc = deis_registry_blob_push_file(reg, r.name, slug_path, layer.digest,
					  &layer.size, err);
	if (rc < 0)
		return deis_error_prefix(err, "push %s: slug layer", ref);
	memcpy(m.config.media_type, DEIS_OCI_CONFIG_TYPE, sizeof(DEIS_OCI_CONFIG_TYPE));
	m.config.size = (long long)config_len;
	rc = deis_registry_blob_push_buf(reg, r.name, config_json, config_len,
					 m.config.digest, err);
	if (rc < 0)
		return deis_error_prefix(err, "push %s: config", ref);
	m.layers = &layer;
	m.n_layers = 1;
	rc = deis_oci_manifest_build(&m, &json, err);
	if (rc == 0)
		rc = deis_registry_manifest_put(reg, r.name, r.tag, json.data,
						json.len, digest, err);
	deis_buf_release(&json);
	if (rc < 0)
		return deis_error_prefix(err, "push %s: manifest", ref);
	return 0;
}

void deis_image_clear(struct deis_image *img)
{
	deis_oci_manifest_clear(&img->manifest);
	deis_buf_release(&img->manifest_json);
	deis_buf_release(&img->config_json);
	deis_image_config_clear(&img->config);
	memset(img, 0, sizeof(*img));
}

int deis_registry_copy_image(struct deis_registry *reg, const struct deis_image *img,
			     const char *name, struct deis_error *err)
{
	const struct deis_oci_descriptor *d;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i <= img->manifest.n_layers; i++) {
		d = i == 0 ? &img->manifest.config : &img->manifest.layers[i - 1];
		rc = deis_registry_blob_mount(reg, name, img->ref.name, d->digest, err);
		if (rc == 0)
			rc = deis_error_set(err, EIO, "registry %s: blob %s of %s could "
					    "not be mounted into %s", reg->url, d->digest,
					    img->ref.name, name);
		else if (rc > 0)
			rc = 0;
	}
	if (rc == 0)
		rc = deis_registry_manifest_put(reg, name, img->digest,
						deis_buf_str(&img->manifest_json),
						img->manifest_json.len, NULL, err);
	if (rc < 0)
		deis_error_prefix(err, "copying %s@%s into %s", img->ref.name, img->digest,
				  name);
	return rc;
}

int deis_registry_pull_image(struct deis_registry *reg, const char *ref,
			     struct deis_image *out, struct deis_error *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = deis_image_ref_parse(ref, &out->ref, err)) < 0)
		return rc;
	rc = deis_registry_manifest_get(reg, out->ref.name,
					deis_image_ref_reference(&out->ref),
					&out->manifest_json, out->digest, err);
	if (rc == 0)
		rc = deis_oci_manifest_parse(deis_buf_str(&out->manifest_json),
					     out->manifest_json.len,
					     &out->manifest, err);
	if (rc == 0 && out->manifest.config.size > DEIS_IMAGE_CONFIG_MAX)
		rc = deis_error_set(err, EINVAL, "image config of %lld bytes",
				    out->manifest.config.size);
	if (rc == 0)
		rc = deis_registry_blob_get(reg, out->ref.name,
					    out->manifest.config.digest,
					    (size_t)out->manifest.config.size,
					    &out->config_json, err);
	if (rc == 0 && (long long)out->config_json.len != out->manifest.config.size)
		rc = deis_error_set(err, EIO, "image config: %zu bytes, %lld expected",
				    out->config_json.len, out->manifest.config.size);
	if (rc == 0)
		rc = deis_image_config_parse(deis_buf_str(&out->config_json),
					     out->config_json.len, &out->config, err);
	if (rc == 0 && out->config.diff_ids.n != out->manifest.n_layers)
		rc = deis_error_set(err, EINVAL,
				    "image config lists %zu diff IDs for %zu layers",
				    out->config.diff_ids.n, out->manifest.n_layers);
	if (rc < 0) {
		deis_error_prefix(err, "pull %s", ref);
		deis_image_clear(out);
	}
	return rc;
}
