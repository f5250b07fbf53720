/*
 * test_registry.c - unit tests of lib/registry.c that need no registry:
 * digests, repository/tag/digest/reference grammars, the OCI manifest and
 * image config documents (build, parse, round trip, refusals), and the
 * checks every client call makes before it sends anything.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/registry.h"
#include "unit.h"

#define D_EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define D_ABC	"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define D_A	"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D_B	"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static char tmpdir[] = "/tmp/test_registry.XXXXXX";

static const char *tmp_path(const char *name)
{
	static char buf[8][256];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f))
		abort();
}

TEST(digest_buf)
{
	char d[DEIS_DIGEST_SIZE];

	deis_digest_buf("", 0, d);
	CHECK_STR(d, D_EMPTY);
	deis_digest_buf("abc", 3, d);
	CHECK_STR(d, D_ABC);
	CHECK(deis_valid_digest(d));
}

TEST(digest_file)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char d[DEIS_DIGEST_SIZE], d2[DEIS_DIGEST_SIZE];
	long long size = -1;
	size_t n = 3 * 1024 * 1024 + 17, i;
	char *big = malloc(n);

	write_file(tmp_path("abc"), "abc", 3);
	CHECK(deis_digest_file(tmp_path("abc"), d, &size, &err) == 0);
	CHECK_STR(d, D_ABC);
	CHECK(size == 3);
	write_file(tmp_path("empty"), "", 0);
	CHECK(deis_digest_file(tmp_path("empty"), d, &size, &err) == 0);
	CHECK_STR(d, D_EMPTY);
	CHECK(size == 0);
	/* over several read blocks */
	for (i = 0; i < n; i++)
		big[i] = (char)(i * 7 + i / 1000);
	write_file(tmp_path("big"), big, n);
	CHECK(deis_digest_file(tmp_path("big"), d, &size, &err) == 0);
	deis_digest_buf(big, n, d2);
	CHECK_STR(d, d2);
	CHECK(size == (long long)n);
	free(big);
	CHECK(deis_digest_file(tmp_path("missing"), d, NULL, &err) == -ENOENT);
	CHECK(err.msg[0] != '\0');
}

TEST(digest_gunzip)
{
	struct deis_error err = DEIS_ERROR_INIT;
	char cmd[600], d[DEIS_DIGEST_SIZE];

	write_file(tmp_path("plain"), "abc", 3);
	snprintf(cmd, sizeof(cmd), "gzip -c %s > %s && cat %s %s > %s",
		 tmp_path("plain"), tmp_path("plain.gz"), tmp_path("plain.gz"),
		 tmp_path("plain.gz"), tmp_path("two.gz"));
	if (system(cmd) != 0) {
		printf("# gzip not available\n");
		return;
	}
	CHECK(deis_digest_gunzip_file(tmp_path("plain.gz"), d, &err) == 0);
	CHECK_STR(d, D_ABC);
	/* two gzip members: "abcabc" */
	CHECK(deis_digest_gunzip_file(tmp_path("two.gz"), d, &err) == 0);
	CHECK_STR(d, "sha256:bbb59da3af939f7af5f360f2ceb80a496e3bae1cd87dde426db0ae40677e1c2c");
	CHECK(deis_digest_gunzip_file(tmp_path("plain"), d, &err) == -EINVAL);
	write_file(tmp_path("empty"), "", 0);
	CHECK(deis_digest_gunzip_file(tmp_path("empty"), d, &err) == -EINVAL);
	/* cut short */
	snprintf(cmd, sizeof(cmd), "head -c 12 %s > %s", tmp_path("plain.gz"),
		 tmp_path("cut.gz"));
	CHECK(system(cmd) == 0);
	CHECK(deis_digest_gunzip_file(tmp_path("cut.gz"), d, &err) == -EINVAL);
}

TEST(digest_grammar)
{
	CHECK(deis_valid_digest(D_EMPTY));
	CHECK(!deis_valid_digest(NULL));
	CHECK(!deis_valid_digest(""));
	CHECK(!deis_valid_digest("sha256:"));
	CHECK(!deis_valid_digest("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
	CHECK(!deis_valid_digest(D_EMPTY "0"));
	CHECK(!deis_valid_digest("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	CHECK(!deis_valid_digest("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
	CHECK(!deis_valid_digest("sha256:../../../../etc/passwd"));
}

TEST(tag_grammar)
{
	char t[200];

	CHECK(deis_valid_image_tag("v3"));
	CHECK(deis_valid_image_tag("latest"));
	CHECK(deis_valid_image_tag("_x"));
	CHECK(deis_valid_image_tag("V1.2-rc_3"));
	CHECK(!deis_valid_image_tag(""));
	CHECK(!deis_valid_image_tag(NULL));
	CHECK(!deis_valid_image_tag(".v"));
	CHECK(!deis_valid_image_tag("-v"));
	CHECK(!deis_valid_image_tag("a/b"));
	CHECK(!deis_valid_image_tag("a:b"));
	CHECK(!deis_valid_image_tag("a b"));
	CHECK(!deis_valid_image_tag("a;b"));
	memset(t, 'a', 128);
	t[128] = '\0';
	CHECK(deis_valid_image_tag(t));
	t[128] = 'a';
	t[129] = '\0';
	CHECK(!deis_valid_image_tag(t));
}

static const char *ref(const char *s)
{
	static char out[300];
	struct deis_image_ref r;
	struct deis_error err = DEIS_ERROR_INIT;

	if (deis_image_ref_parse(s, &r, &err) < 0) {
		if (err.code != EINVAL || !err.msg[0])
			return "BAD ERROR";
		return "ERR";
	}
	snprintf(out, sizeof(out), "%s|%s|%s|%s", r.name, r.tag, r.digest,
		 deis_image_ref_reference(&r));
	return out;
}

TEST(refs)
{
	CHECK_STR(ref("hello:v3"), "hello|v3||v3");
	CHECK_STR(ref("hello"), "hello|latest||latest");
	CHECK_STR(ref("a-b-1:x.y_z-1"), "a-b-1|x.y_z-1||x.y_z-1");
	CHECK_STR(ref("hello@" D_EMPTY), "hello||" D_EMPTY "|" D_EMPTY);
	const char *bad[] = {
		"", ":v3", "@" D_EMPTY, "../x", "../x:v1", "X", "X:v1", "a;b",
		"a;b:v1", "hello:", "hello:.v", "hello:v3@" D_EMPTY, "hello@",
		"hello@sha256:abc", "hello@" D_EMPTY "x", "127.0.0.1:5000/hello:v1",
		"lib/hello:v1", "-hello:v1", "hello-:v1", "hel lo:v1", "hello:v 1",
		"hello:v1\n", "h\xc3\xa9llo:v1",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:v1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *r = ref(bad[i]);

		if (strcmp(r, "ERR")) {
			printf("# accepted bad reference '%s' as '%s'\n", bad[i], r);
			unit_cur_failed = 1;
		}
	}
	CHECK_STR(ref(NULL), "ERR");
}

/* snprintf into a fixed array field */
#define SET(field, s) snprintf((field), sizeof(field), "%s", (s))

static void manifest_two_layers(struct deis_oci_manifest *m,
				struct deis_oci_descriptor l[2])
{
	memset(m, 0, sizeof(*m));
	memset(l, 0, 2 * sizeof(*l));
	SET(m->config.media_type, DEIS_OCI_CONFIG_TYPE);
	SET(m->config.digest, D_ABC);
	m->config.size = 3;
	SET(l[0].media_type, DEIS_OCI_LAYER_GZIP_TYPE);
	SET(l[0].digest, D_A);
	l[0].size = 20 * 1024 * 1024 + 1;
	SET(l[1].media_type, DEIS_OCI_LAYER_TAR_TYPE);
	SET(l[1].digest, D_B);
	l[1].size = 0;
	m->layers = l;
	m->n_layers = 2;
}

TEST(manifest_round_trip)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_oci_manifest m, back;
	struct deis_oci_descriptor l[2];
	struct deis_buf json = DEIS_BUF_INIT, again = DEIS_BUF_INIT;

	manifest_two_layers(&m, l);
	CHECK(deis_oci_manifest_build(&m, &json, &err) == 0);
	CHECK(strstr(deis_buf_str(&json), "\"schemaVersion\":2") != NULL);
	CHECK(strstr(deis_buf_str(&json), "\"mediaType\":\"" DEIS_OCI_MANIFEST_TYPE "\"") != NULL);
	CHECK(deis_oci_manifest_parse(json.data, json.len, &back, &err) == 0);
	CHECK_STR(back.config.digest, D_ABC);
	CHECK_STR(back.config.media_type, DEIS_OCI_CONFIG_TYPE);
	CHECK(back.config.size == 3);
	CHECK(back.n_layers == 2);
	if (back.n_layers == 2) {
		CHECK_STR(back.layers[0].digest, D_A);
		CHECK(back.layers[0].size == 20 * 1024 * 1024 + 1);
		CHECK_STR(back.layers[1].media_type, DEIS_OCI_LAYER_TAR_TYPE);
		CHECK(back.layers[1].size == 0);
	}
	/* build(parse(build(x))) == build(x), byte for byte */
	CHECK(deis_oci_manifest_build(&back, &again, &err) == 0);
	CHECK_STR(deis_buf_str(&again), deis_buf_str(&json));
	deis_oci_manifest_clear(&back);
	deis_buf_release(&json);
	deis_buf_release(&again);
}

TEST(manifest_build_refuses)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_oci_manifest m;
	struct deis_oci_descriptor l[2];
	struct deis_buf json = DEIS_BUF_INIT;

	manifest_two_layers(&m, l);
	SET(m.config.media_type, "application/vnd.docker.container.image.v1+json");
	CHECK(deis_oci_manifest_build(&m, &json, &err) == -EINVAL);
	manifest_two_layers(&m, l);
	SET(l[1].media_type, "application/vnd.docker.image.rootfs.diff.tar.gzip");
	CHECK(deis_oci_manifest_build(&m, &json, &err) == -EINVAL);
	manifest_two_layers(&m, l);
	SET(l[0].digest, "sha256:xyz");
	CHECK(deis_oci_manifest_build(&m, &json, &err) == -EINVAL);
	manifest_two_layers(&m, l);
	l[0].size = -1;
	CHECK(deis_oci_manifest_build(&m, &json, &err) == -EINVAL);
	manifest_two_layers(&m, l);
	m.n_layers = 0;
	CHECK(deis_oci_manifest_build(&m, &json, &err) == -EINVAL);
	CHECK(err.code == EINVAL && err.msg[0]);
	deis_buf_release(&json);
}

static int parse_manifest(const char *s)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_oci_manifest m;
	int rc = deis_oci_manifest_parse(s, strlen(s), &m, &err);

	if (rc < 0 && (!err.msg[0] || m.layers || m.n_layers))
		return -1000;
	deis_oci_manifest_clear(&m);
	return rc;
}

#define CFG_OK "\"config\":{\"mediaType\":\"" DEIS_OCI_CONFIG_TYPE "\",\"digest\":\"" D_ABC "\",\"size\":3}"
#define LAYER_OK "{\"mediaType\":\"" DEIS_OCI_LAYER_GZIP_TYPE "\",\"digest\":\"" D_A "\",\"size\":10}"
#define HEAD_OK "\"schemaVersion\":2,\"mediaType\":\"" DEIS_OCI_MANIFEST_TYPE "\""

TEST(manifest_parse_refuses)
{
	CHECK(parse_manifest("{" HEAD_OK "," CFG_OK ",\"layers\":[" LAYER_OK "]}") == 0);
	/* unknown members are ignored */
	CHECK(parse_manifest("{" HEAD_OK "," CFG_OK ",\"layers\":[" LAYER_OK "],"
			     "\"annotations\":{\"a\":\"b\"}}") == 0);
	const char *bad[] = {
		"", "{", "[]", "null", "\"x\"", "{}", "{" HEAD_OK "}",
		"{" HEAD_OK "," CFG_OK ",\"layers\":[" LAYER_OK "]",
		"{" HEAD_OK "," CFG_OK ",\"layers\":[]}",
		"{" HEAD_OK "," CFG_OK ",\"layers\":{}}",
		"{" HEAD_OK "," CFG_OK ",\"layers\":[" LAYER_OK "],\"layers\":[" LAYER_OK "]}",
		"{\"schemaVersion\":1,\"mediaType\":\"" DEIS_OCI_MANIFEST_TYPE "\"," CFG_OK ",\"layers\":[" LAYER_OK "]}",
		"{\"schemaVersion\":\"2\",\"mediaType\":\"" DEIS_OCI_MANIFEST_TYPE "\"," CFG_OK ",\"layers\":[" LAYER_OK "]}",
		/* wrong manifest media types */
		"{\"schemaVersion\":2," CFG_OK ",\"layers\":[" LAYER_OK "]}",
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\"," CFG_OK ",\"layers\":[" LAYER_OK "]}",
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\"," CFG_OK ",\"layers\":[" LAYER_OK "]}",
		/* wrong config media type */
		"{" HEAD_OK ",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":\"" D_ABC "\",\"size\":3},\"layers\":[" LAYER_OK "]}",
		/* wrong layer media type */
		"{" HEAD_OK "," CFG_OK ",\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip\",\"digest\":\"" D_A "\",\"size\":1}]}",
		"{" HEAD_OK "," CFG_OK ",\"layers\":[{\"mediaType\":\"" DEIS_OCI_LAYER_GZIP_TYPE "\",\"digest\":\"sha256:zz\",\"size\":1}]}",
		"{" HEAD_OK "," CFG_OK ",\"layers\":[{\"mediaType\":\"" DEIS_OCI_LAYER_GZIP_TYPE "\",\"digest\":\"" D_A "\",\"size\":-1}]}",
		"{" HEAD_OK "," CFG_OK ",\"layers\":[{\"mediaType\":\"" DEIS_OCI_LAYER_GZIP_TYPE "\",\"digest\":\"" D_A "\",\"size\":1.5}]}",
		"{" HEAD_OK "," CFG_OK ",\"layers\":[{\"mediaType\":\"" DEIS_OCI_LAYER_GZIP_TYPE "\",\"digest\":\"" D_A "\"}]}",
		"{" HEAD_OK "," CFG_OK ",\"layers\":[" LAYER_OK ",42]}",
		"{" HEAD_OK ",\"layers\":[" LAYER_OK "]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse_manifest(bad[i]);

		if (rc != -EINVAL) {
			printf("# bad manifest %zu gave %d: %s\n", i, rc, bad[i]);
			unit_cur_failed = 1;
		}
	}
	/* a NUL byte inside */
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_oci_manifest m;
	CHECK(deis_oci_manifest_parse("{}\0{}", 5, &m, &err) == -EINVAL);
}

static void sample_config(struct deis_image_config *c)
{
	memset(c, 0, sizeof(*c));
	c->created = 1795694400;	/* 2026-11-26T12:00:00Z */
	deis_kvlist_set(&c->procfile, "web", "bundle exec rackup -p $PORT");
	deis_kvlist_set(&c->procfile, "worker", "./worker --queue=\"a b\"");
	deis_kvlist_set(&c->env, "ZED", "last");
	deis_kvlist_set(&c->env, "DATABASE_URL", "postgres://u:p@h/db?x=1&y=2");
	deis_kvlist_set(&c->env, "PEM", "-----BEGIN-----\nabc\n\"q\"\n");
	deis_kvlist_set(&c->env, "EMPTY", "");
	deis_kvlist_set(&c->labels, "io.deis.build.git-sha", "1a2b3c4");
	deis_kvlist_set(&c->labels, "io.deis.stack", "host");
	deis_kvlist_set(&c->labels, "io.deis.build.buildpack", "Procfile");
	deis_strlist_add(&c->diff_ids, D_A);
}

TEST(config_round_trip)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_image_config c, back;
	struct deis_buf json = DEIS_BUF_INIT, again = DEIS_BUF_INIT;
	const char *s;

	sample_config(&c);
	CHECK(deis_image_config_build(&c, &json, &err) == 0);
	s = deis_buf_str(&json);
	CHECK(strstr(s, "\"created\":\"2026-11-26T12:00:00Z\"") != NULL);
	CHECK(strstr(s, "\"os\":\"linux\"") != NULL);
	CHECK(strstr(s, "\"WorkingDir\":\"/app\"") != NULL);
	CHECK(strstr(s, "\"io.deis.procfile.web\":\"bundle exec rackup -p $PORT\"") != NULL);
	CHECK(strstr(s, "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D_A "\"]}") != NULL);
	/* Env sorted by key */
	CHECK(strstr(s, "\"Env\":[\"DATABASE_URL=") != NULL);
	CHECK(strstr(s, "\"ZED=last\"]") != NULL);

	CHECK(deis_image_config_parse(json.data, json.len, &back, &err) == 0);
	CHECK(back.created == c.created);
	CHECK(deis_kvlist_equal(&back.procfile, &c.procfile));
	CHECK(deis_kvlist_equal(&back.env, &c.env));
	CHECK(deis_kvlist_equal(&back.labels, &c.labels));
	CHECK(deis_strlist_equal(&back.diff_ids, &c.diff_ids));
	CHECK_STR(deis_kvlist_get(&back.env, "PEM"), "-----BEGIN-----\nabc\n\"q\"\n");
	/* build(parse(build(x))) == build(x), byte for byte */
	CHECK(deis_image_config_build(&back, &again, &err) == 0);
	CHECK_STR(deis_buf_str(&again), deis_buf_str(&json));
	deis_image_config_clear(&back);
	deis_image_config_clear(&c);
	deis_buf_release(&json);
	deis_buf_release(&again);

	/* fractional seconds and +00:00 are read */
	const char *other = "{\"created\":\"2026-11-26T12:00:00.123456789+00:00\",\"os\":\"linux\","
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D_A "\"]}}";
	CHECK(deis_image_config_parse(other, strlen(other), &back, &err) == 0);
	CHECK(back.created == 1795694400);
	CHECK(back.procfile.n == 0 && back.env.n == 0);
	deis_image_config_clear(&back);
}

TEST(config_build_refuses)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_image_config c;
	struct deis_buf json = DEIS_BUF_INIT;

	sample_config(&c);
	deis_kvlist_set(&c.procfile, "Web", "x");
	CHECK(deis_image_config_build(&c, &json, &err) == -EINVAL);
	deis_image_config_clear(&c);

	sample_config(&c);
	deis_kvlist_set(&c.procfile, "web", "");
	CHECK(deis_image_config_build(&c, &json, &err) == -EINVAL);
	deis_image_config_clear(&c);

	sample_config(&c);
	deis_kvlist_set(&c.env, "1BAD", "x");
	CHECK(deis_image_config_build(&c, &json, &err) == -EINVAL);
	deis_image_config_clear(&c);

	sample_config(&c);
	deis_kvlist_set(&c.env, "OK", "\xff\xfe");
	CHECK(deis_image_config_build(&c, &json, &err) == -EINVAL);
	deis_image_config_clear(&c);

	sample_config(&c);
	deis_kvlist_set(&c.labels, "io.deis.procfile.web", "sneaky");
	CHECK(deis_image_config_build(&c, &json, &err) == -EINVAL);
	deis_image_config_clear(&c);

	sample_config(&c);
	deis_kvlist_set(&c.labels, "a b", "x");
	CHECK(deis_image_config_build(&c, &json, &err) == -EINVAL);
	deis_image_config_clear(&c);

	sample_config(&c);
	deis_strlist_clear(&c.diff_ids);
	CHECK(deis_image_config_build(&c, &json, &err) == -EINVAL);
	deis_strlist_add(&c.diff_ids, "sha256:nope");
	CHECK(deis_image_config_build(&c, &json, &err) == -EINVAL);
	deis_image_config_clear(&c);
	deis_buf_release(&json);
}

static int parse_config(const char *s)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_image_config c;
	int rc = deis_image_config_parse(s, strlen(s), &c, &err);

	if (rc < 0 && (!err.msg[0] || c.env.n || c.diff_ids.n))
		return -1000;
	deis_image_config_clear(&c);
	return rc;
}

#define ROOTFS "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D_A "\"]}"

TEST(config_parse_refuses)
{
	CHECK(parse_config("{\"os\":\"linux\"," ROOTFS "}") == 0);
	const char *bad[] = {
		"", "{", "[]", "{}", "{\"os\":\"linux\"}",
		"{\"os\":\"windows\"," ROOTFS "}",
		"{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
		"{\"os\":\"linux\",\"rootfs\":{\"type\":\"x\",\"diff_ids\":[\"" D_A "\"]}}",
		"{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:1\"]}}",
		"{\"os\":\"linux\",\"created\":\"yesterday\"," ROOTFS "}",
		"{\"os\":\"linux\",\"created\":\"2026-11-26T12:00:00+01:00\"," ROOTFS "}",
		"{\"os\":\"linux\",\"config\":[]," ROOTFS "}",
		"{\"os\":\"linux\",\"config\":{\"Env\":\"A=1\"}," ROOTFS "}",
		"{\"os\":\"linux\",\"config\":{\"Env\":[\"A\"]}," ROOTFS "}",
		"{\"os\":\"linux\",\"config\":{\"Env\":[\"1A=x\"]}," ROOTFS "}",
		"{\"os\":\"linux\",\"config\":{\"Env\":[\"A=x\\u0000y\"]}," ROOTFS "}",
		"{\"os\":\"linux\",\"config\":{\"Env\":[\"A=x\"],\"Env\":[]}," ROOTFS "}",
		"{\"os\":\"linux\",\"config\":{\"Labels\":{\"io.deis.procfile.Web\":\"x\"}}," ROOTFS "}",
		"{\"os\":\"linux\",\"config\":{\"Labels\":{\"io.deis.procfile.web\":\"\"}}," ROOTFS "}",
		"{\"os\":\"linux\",\"config\":{\"Labels\":{\"a b\":\"x\"}}," ROOTFS "}",
		"{\"os\":\"linux\",\"config\":{\"Labels\":{\"a\":1}}," ROOTFS "}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse_config(bad[i]);

		if (rc != -EINVAL) {
			printf("# bad config %zu gave %d: %s\n", i, rc, bad[i]);
			unit_cur_failed = 1;
		}
	}
}

/* Every client call checks names, tags and digests before it sends
 * anything: the URL points at a port where nothing listens, so a request
 * would give EIO, not EINVAL. */
TEST(client_refuses_before_sending)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_registry *reg = NULL;
	struct deis_buf out = DEIS_BUF_INIT;
	struct deis_image img;
	char d[DEIS_DIGEST_SIZE];
	const char *names[] = { "../x", "X", "a;b", "", "a/b", "a:b", NULL };

	CHECK(deis_registry_open("http://127.0.0.1:1", &reg, &err) == 0);
	if (!reg)
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *n = names[i];

		CHECK(deis_registry_blob_exists(reg, n, D_A, NULL, &err) == -EINVAL);
		CHECK(deis_registry_blob_push_buf(reg, n, "x", 1, d, &err) == -EINVAL);
		CHECK(deis_registry_blob_fetch(reg, n, D_A, -1, tmp_path("f"), &err) == -EINVAL);
		CHECK(deis_registry_manifest_get(reg, n, "v1", &out, d, &err) == -EINVAL);
		CHECK(deis_registry_manifest_put(reg, n, "v1", "{}", 2, d, &err) == -EINVAL);
	}
	CHECK(deis_registry_blob_exists(reg, "hello", "sha256:../x", NULL, &err) == -EINVAL);
	CHECK(deis_registry_manifest_get(reg, "hello", "../v1", &out, d, &err) == -EINVAL);
	CHECK(deis_registry_manifest_put(reg, "hello", "v1;rm", "{}", 2, d, &err) == -EINVAL);
	CHECK(deis_registry_manifest_delete(reg, "hello", "v1", &err) == -EINVAL);
	CHECK(deis_registry_pull_image(reg, "../x:v1", &img, &err) == -EINVAL);
	CHECK(deis_registry_push_image(reg, "X:v1", "/nonexistent", "{}", 2, d, &err) == -EINVAL);
	/* a config that is not ours is refused before any upload */
	CHECK(deis_registry_push_image(reg, "hello:v1", "/nonexistent", "{}", 2, d, &err) == -EINVAL);
	CHECK(deis_registry_stats(reg)->requests == 0);
	CHECK(access(tmp_path("f"), F_OK) != 0);
	/* and now one that is sent: nothing listens on port 1 */
	CHECK(deis_registry_ping(reg, &err) == -EIO);
	CHECK(strstr(err.msg, "GET /v2/") != NULL);
	CHECK(deis_registry_stats(reg)->requests == 1);
	deis_registry_close(reg);
	deis_buf_release(&out);
}

TEST(open_urls)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_registry *reg;
	const char *good[] = { "http://127.0.0.1:5000", "http://127.0.0.1:5000/",
			       "https://registry.example.com", "http://[::1]:5000" };
	const char *bad[] = { "", "127.0.0.1:5000", "ftp://x", "http://",
			      "http:///", "http://x/v2", "http://x y", "file:///etc",
			      "http://u:p@x", NULL };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK(deis_registry_open(good[i], &reg, &err) == 0);
		deis_registry_close(reg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reg = (struct deis_registry *)1;
		if (deis_registry_open(bad[i], &reg, &err) != -EINVAL || reg) {
			printf("# accepted URL '%s'\n", bad[i] ? bad[i] : "(null)");
			unit_cur_failed = 1;
		}
	}
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(tmpdir)) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	RUN(digest_buf);
	RUN(digest_file);
	RUN(digest_gunzip);
	RUN(digest_grammar);
	RUN(tag_grammar);
	RUN(refs);
	RUN(manifest_round_trip);
	RUN(manifest_build_refuses);
	RUN(manifest_parse_refuses);
	RUN(config_round_trip);
	RUN(config_build_refuses);
	RUN(config_parse_refuses);
	RUN(client_refuses_before_sending);
	RUN(open_urls);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return unit_done();
}
