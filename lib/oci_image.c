/*
 * oci_image.c - the OCI image documents deisfs stores in the registry:
 * the image manifest and the image config, built and parsed (jansson).
 * Pure: no request is sent.  See include/deis/registry.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "deis/validate.h"
#include "registry_internal.h"

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

/* The JSON object of text[0..len), at most max bytes; NULL (err set, code
 * EINVAL) for anything else.  what names the document in messages. */
static json_t *json_load(const char *text, size_t len, int max,
			 const char *what, struct deis_error *err)
{
	json_error_t je;
	json_t *j;

	if (len > (size_t)max) {
		json_bad(err, what, "larger than %d bytes", max);
		return NULL;
	}
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

/* Replaces out with j as compact JSON, and drops j (a NULL j, from a
 * json_pack() out of memory, aborts as an allocation failure does). */
static void json_dump_drop(json_t *j, struct deis_buf *out)
{
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	if (!s)
		abort();
	deis_buf_reset(out);
	deis_buf_adds(out, s);
	free(s);
	json_decref(j);
}

/* Whether the member key of the object j is the string value. */
static bool json_str_is(json_t *j, const char *key, const char *value)
{
	json_t *v = json_object_get(j, key);

	return json_is_string(v) && !strcmp(json_string_value(v), value);
}

/* A document: what messages call it, its largest size, how its JSON
 * object is read into the struct (of size bytes) and how what a read
 * left there is freed. */
struct doc {
	const char *what;
	int max;
	size_t size;
	int (*read)(json_t *j, void *out, struct deis_error *err);
	void (*clear)(void *out);
};

/* Every document's parse: out zeroed, the text loaded and read into it;
 * on any failure out is cleared again, so it is never left half read. */
static int doc_parse(const struct doc *d, const char *text, size_t len, void *out,
		     struct deis_error *err)
{
	json_t *j;
	int rc;

	memset(out, 0, d->size);
	j = json_load(text, len, d->max, d->what, err);
	rc = j ? d->read(j, out, err) : -EINVAL;
	json_decref(j);
	if (rc < 0)
		d->clear(out);
	return rc;
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
	json_dump_drop(j, out);
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

static int read_manifest(json_t *j, void *p, struct deis_error *err)
{
	struct deis_oci_manifest *out = p;
	json_t *v = json_object_get(j, "schemaVersion");
	json_t *layers = json_object_get(j, "layers");
	char what[48];
	int rc;

	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return json_bad(err, "manifest", "schemaVersion is not 2");
	if (!json_str_is(j, "mediaType", DEIS_OCI_MANIFEST_TYPE))
		return json_bad(err, "manifest", "mediaType is not %s", DEIS_OCI_MANIFEST_TYPE);
	if ((rc = parse_descriptor(json_object_get(j, "config"), &out->config,
				   true, "manifest config", err)) < 0)
		return rc;
	if (!json_is_array(layers) || json_array_size(layers) == 0 ||
	    json_array_size(layers) > DEIS_IMAGE_MAX_LAYERS)
		return json_bad(err, "manifest", "layers must be an array of 1 to %d",
				DEIS_IMAGE_MAX_LAYERS);
	out->layers = calloc(json_array_size(layers), sizeof(*out->layers));
	if (!out->layers)
		abort();
	out->n_layers = json_array_size(layers);
	for (size_t i = 0; i < out->n_layers; i++) {
		snprintf(what, sizeof(what), "manifest layer %zu", i);
		if ((rc = parse_descriptor(json_array_get(layers, i),
					   &out->layers[i], false, what, err)) < 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------ image config */

/* 1 to max characters, each [A-Za-z0-9] or one of extra. */
static bool valid_word(const char *s, const char *extra, size_t max)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!oci_is_alnum(s[i]) && !strchr(extra, s[i]))
			return false;
	return i >= 1 && i <= max;
}

static bool valid_label_key(const char *k)
{
	return valid_word(k, "._/-", 255);
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

/* A label name: not one of the Procfile's (those are the procfile list). */
static bool valid_label_name(const char *k)
{
	return valid_label_key(k) &&
	       strncmp(k, DEIS_PROCFILE_LABEL, strlen(DEIS_PROCFILE_LABEL));
}

/* The grammar of a key/value list of the config: what its keys are, and
 * what its values are called (a process type's must not be empty). */
struct kv_grammar {
	bool (*valid_key)(const char *key);
	const char *key_is;
	const char *value_is;
	bool non_empty;
};

static const struct kv_grammar procfile_grammar = {
	deis_valid_proc_type, "a process type", "process type", true,
}, env_grammar = {
	deis_valid_config_key, "a config key", "config var", false,
}, labels_grammar = {
	valid_label_name, "a label name", "label", false,
};

static int check_kv(const struct deis_kvlist *l, const struct kv_grammar *g,
		    struct deis_error *err)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *k = l->items[i].key, *v = l->items[i].value;

		if (!g->valid_key(k))
			return json_bad(err, "image config", "'%.64s' is not %s", k, g->key_is);
		if (g->non_empty && !v[0])
			return json_bad(err, "image config", "%s '%s' has no command",
					g->value_is, k);
		if (check_text(v, g->value_is, k, err) < 0)
			return -EINVAL;
	}
	return 0;
}

/* Entrypoint and Cmd: words of text, at most DEIS_IMAGE_MAX_WORDS. */
static int check_words(const struct deis_strlist *l, const char *what,
		       struct deis_error *err)
{
	if (l->n > DEIS_IMAGE_MAX_WORDS)
		return json_bad(err, "image config", "%s has %zu words (at most %d)",
				what, l->n, DEIS_IMAGE_MAX_WORDS);
	for (size_t i = 0; i < l->n; i++)
		if (check_text(l->items[i], what, "word", err) < 0)
			return -EINVAL;
	return 0;
}

/* config.User: a name or uid, with a group or gid after ':'. */
static bool valid_user(const char *u)
{
	return valid_word(u, "_.:-", sizeof(((struct deis_image_config *)0)->user) - 1);
}

/* An ExposedPorts key: "<1-65535>/tcp" or "/udp", no leading zero. */
static bool valid_port(const char *p)
{
	char *end;
	long n;

	if (p[0] < '1' || p[0] > '9')
		return false;
	n = strtol(p, &end, 10);
	return n >= 1 && n <= 65535 && (!strcmp(end, "/tcp") || !strcmp(end, "/udp"));
}

/* What _build refuses: each member against its grammar (registry.h). */
static int check_config(const struct deis_image_config *c,
			struct deis_error *err)
{
	size_t i;

	if (check_kv(&c->procfile, &procfile_grammar, err) < 0 ||
	    check_kv(&c->env, &env_grammar, err) < 0 ||
	    check_kv(&c->labels, &labels_grammar, err) < 0 ||
	    check_words(&c->entrypoint, "Entrypoint", err) < 0 ||
	    check_words(&c->cmd, "Cmd", err) < 0)
		return -EINVAL;
	if (c->user[0] && !valid_user(c->user))
		return json_bad(err, "image config", "'%.64s' is not a user", c->user);
	for (i = 0; i < c->ports.n; i++)
		if (!valid_port(c->ports.items[i]))
			return json_bad(err, "image config", "'%.32s' is not a port "
					"(<number>/tcp or /udp)", c->ports.items[i]);
	for (i = 0; i < c->diff_ids.n; i++)
		if (!deis_valid_digest(c->diff_ids.items[i]))
			return json_bad(err, "image config", "bad diff ID");
	if (c->diff_ids.n == 0 || c->diff_ids.n > DEIS_IMAGE_MAX_LAYERS)
		return json_bad(err, "image config", "%zu diff IDs (1 to %d allowed)",
				c->diff_ids.n, DEIS_IMAGE_MAX_LAYERS);
	return 0;
}

static json_t *words_json(const struct deis_strlist *l)
{
	json_t *a = json_array();

	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->items[i]));
	return a;
}

int deis_image_config_build(const struct deis_image_config *c,
			    struct deis_buf *out, struct deis_error *err)
{
	struct deis_kvlist env = DEIS_KVLIST_INIT;
	json_t *j, *cfg, *envj, *labels, *diffs;
	struct deis_buf line = DEIS_BUF_INIT;
	char created[40], key[300];
	size_t i;
	int rc;

	if ((rc = check_config(c, err)) < 0)
		return rc;
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

	/* The members in the order docker writes them; the optional ones
	 * only when set, so that an image of the host stack keeps the
	 * bytes it always had. */
	cfg = json_object();
	json_object_set_new(cfg, "Env", envj);
	if (c->entrypoint.n)
		json_object_set_new(cfg, "Entrypoint", words_json(&c->entrypoint));
	if (c->cmd.n)
		json_object_set_new(cfg, "Cmd", words_json(&c->cmd));
	if (c->user[0])
		json_object_set_new(cfg, "User", json_string(c->user));
	json_object_set_new(cfg, "WorkingDir", json_string("/app"));
	if (c->ports.n) {
		json_t *ports = json_object();

		for (i = 0; i < c->ports.n; i++)
			json_object_set_new(ports, c->ports.items[i], json_object());
		json_object_set_new(cfg, "ExposedPorts", ports);
	}
	json_object_set_new(cfg, "Labels", labels);

	format_time(c->created, created, sizeof(created));
	j = json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:o}}",
		      "created", created, "architecture", go_arch(), "os", "linux",
		      "config", cfg, "rootfs", "type", "layers", "diff_ids", diffs);
	json_dump_drop(j, out);
	return 0;
}

void deis_image_config_clear(struct deis_image_config *c)
{
	deis_kvlist_clear(&c->procfile);
	deis_kvlist_clear(&c->env);
	deis_kvlist_clear(&c->labels);
	deis_strlist_clear(&c->diff_ids);
	deis_strlist_clear(&c->entrypoint);
	deis_strlist_clear(&c->cmd);
	deis_strlist_clear(&c->ports);
	c->user[0] = '\0';
	c->created = 0;
}

/* config.Env: "KEY=value" strings, each key a config key. */
static int parse_env(json_t *cfg, struct deis_kvlist *env,
		     struct deis_error *err)
{
	json_t *v = json_object_get(cfg, "Env"), *item;
	size_t i;

	if (v && !json_is_array(v) && !json_is_null(v))
		return json_bad(err, "image config", "config.Env is not an array");
	json_array_foreach(v, i, item) {
		const char *s = json_string_value(item), *eq;
		char k[256];

		eq = s ? strchr(s, '=') : NULL;
		if (!eq || (size_t)(eq - s) >= sizeof(k) ||
		    json_string_length(item) != strlen(s))
			return json_bad(err, "image config",
					"config.Env[%zu] is not KEY=value", i);
		memcpy(k, s, (size_t)(eq - s));
		k[eq - s] = '\0';
		if (!deis_valid_config_key(k))
			return json_bad(err, "image config", "config.Env[%zu]: bad key", i);
		deis_kvlist_set(env, k, eq + 1);
	}
	return 0;
}

/* config.Labels: the Procfile's entries (DEIS_PROCFILE_LABEL<type>) into
 * out->procfile, the others into out->labels. */
static int parse_labels(json_t *cfg, struct deis_image_config *out,
			struct deis_error *err)
{
	json_t *v = json_object_get(cfg, "Labels"), *item;
	const char *key;

	if (v && !json_is_object(v) && !json_is_null(v))
		return json_bad(err, "image config", "config.Labels is not an object");
	json_object_foreach(v, key, item) {
		const char *s = json_string_value(item);

		if (!s || json_string_length(item) != strlen(s) ||
		    !valid_label_key(key))
			return json_bad(err, "image config", "bad label '%.64s'", key);
		if (!strncmp(key, DEIS_PROCFILE_LABEL, strlen(DEIS_PROCFILE_LABEL))) {
			const char *type = key + strlen(DEIS_PROCFILE_LABEL);

			if (!deis_valid_proc_type(type) || !s[0])
				return json_bad(err, "image config",
						"bad Procfile entry '%.64s'", key);
			deis_kvlist_set(&out->procfile, type, s);
		} else {
			deis_kvlist_set(&out->labels, key, s);
		}
	}
	return 0;
}

/* config.Entrypoint or config.Cmd: an array of strings, or null. */
static int parse_words(json_t *cfg, const char *key, struct deis_strlist *out,
		       struct deis_error *err)
{
	json_t *v = json_object_get(cfg, key), *item;
	size_t i;

	if (v && !json_is_array(v) && !json_is_null(v))
		return json_bad(err, "image config", "config.%s is not an array", key);
	if (json_array_size(v) > DEIS_IMAGE_MAX_WORDS)
		return json_bad(err, "image config", "config.%s has more than %d words",
				key, DEIS_IMAGE_MAX_WORDS);
	json_array_foreach(v, i, item) {
		const char *s = json_string_value(item);

		if (!s || json_string_length(item) != strlen(s))
			return json_bad(err, "image config", "config.%s[%zu] is not text",
					key, i);
		deis_strlist_add(out, s);
	}
	return 0;
}

/* config.User and config.ExposedPorts (an object of "<port>/<proto>"). */
static int parse_user_ports(json_t *cfg, struct deis_image_config *out,
			    struct deis_error *err)
{
	json_t *v = json_object_get(cfg, "User"), *item;
	const char *key;

	if (v && !json_is_null(v) && !(json_is_string(v) &&
	    (!json_string_length(v) || valid_user(json_string_value(v)))))
		return json_bad(err, "image config", "config.User is not a user");
	if (json_is_string(v))
		snprintf(out->user, sizeof(out->user), "%s", json_string_value(v));
	v = json_object_get(cfg, "ExposedPorts");
	if (v && !json_is_object(v) && !json_is_null(v))
		return json_bad(err, "image config", "config.ExposedPorts is not an object");
	json_object_foreach(v, key, item) {
		if (!valid_port(key))
			return json_bad(err, "image config", "bad exposed port '%.32s'", key);
		deis_strlist_add(&out->ports, key);
	}
	return 0;
}

static int read_config(json_t *j, void *p, struct deis_error *err)
{
	struct deis_image_config *out = p;
	json_t *v = json_object_get(j, "created");
	json_t *cfg = json_object_get(j, "config");
	json_t *rootfs = json_object_get(j, "rootfs");
	json_t *item;
	size_t i;
	int rc;

	if (!json_str_is(j, "os", "linux"))
		return json_bad(err, "image config", "os is not linux");
	if (v && (!json_is_string(v) ||
		  parse_time(json_string_value(v), &out->created) < 0))
		return json_bad(err, "image config", "created is not an RFC 3339 UTC time");
	if (cfg && !json_is_object(cfg))
		return json_bad(err, "image config", "config is not an object");
	if ((rc = parse_env(cfg, &out->env, err)) < 0 ||
	    (rc = parse_labels(cfg, out, err)) < 0 ||
	    (rc = parse_words(cfg, "Entrypoint", &out->entrypoint, err)) < 0 ||
	    (rc = parse_words(cfg, "Cmd", &out->cmd, err)) < 0 ||
	    (rc = parse_user_ports(cfg, out, err)) < 0)
		return rc;
	v = json_object_get(rootfs, "diff_ids");
	if (!json_str_is(rootfs, "type", "layers") || !json_is_array(v) ||
	    json_array_size(v) == 0 || json_array_size(v) > DEIS_IMAGE_MAX_LAYERS)
		return json_bad(err, "image config",
				"rootfs must be type layers with 1 to %d diff_ids",
				DEIS_IMAGE_MAX_LAYERS);
	json_array_foreach(v, i, item) {
		if (!deis_valid_digest(json_string_value(item)))
			return json_bad(err, "image config",
					"rootfs.diff_ids[%zu] is not a digest", i);
		deis_strlist_add(&out->diff_ids, json_string_value(item));
	}
	return 0;
}

/* ------------------------------------------------------------ parsing */

static void clear_manifest(void *m)
{
	deis_oci_manifest_clear(m);
}

static void clear_config(void *c)
{
	deis_image_config_clear(c);
}

static const struct doc manifest_doc = {
	"manifest", DEIS_MANIFEST_MAX, sizeof(struct deis_oci_manifest),
	read_manifest, clear_manifest,
}, config_doc = {
	"image config", DEIS_IMAGE_CONFIG_MAX, sizeof(struct deis_image_config),
	read_config, clear_config,
};

int deis_oci_manifest_parse(const char *json, size_t len,
			    struct deis_oci_manifest *out,
			    struct deis_error *err)
{
	return doc_parse(&manifest_doc, json, len, out, err);
}

int deis_image_config_parse(const char *json, size_t len,
			    struct deis_image_config *out,
			    struct deis_error *err)
{
	return doc_parse(&config_doc, json, len, out, err);
}
