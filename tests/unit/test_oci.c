/*
 * test_oci.c - unit tests of the OCI documents of an image over the stack
 * (lib/oci_image.c, lib/oci_ref.c): the app image's config and its
 * two-layer manifest byte for byte (golden JSON), the stack's config as
 * packaging/stack/push writes it, a config as docker writes it, the
 * platform's repository names, and what the new members refuse.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/registry.h"
#include "unit.h"

#define D_A	"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D_B	"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define D_C	"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

#if defined(__x86_64__)
#define ARCH "amd64"
#elif defined(__aarch64__)
#define ARCH "arm64"
#endif

#define STACK_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The config of an app image over the stack, as the builder makes it. */
static void app_config(struct deis_image_config *c)
{
	memset(c, 0, sizeof(*c));
	c->created = 1795694400;	/* 2026-11-26T12:00:00Z */
	deis_kvlist_set(&c->procfile, "web", "./run --port $PORT");
	deis_kvlist_set(&c->env, "PATH", STACK_PATH);
	deis_kvlist_set(&c->env, "LANG", "C.UTF-8");
	deis_kvlist_set(&c->env, "PORT", "5000");
	deis_strlist_add(&c->entrypoint, "/usr/bin/tini");
	deis_strlist_add(&c->entrypoint, "-g");
	deis_strlist_add(&c->entrypoint, "--");
	deis_strlist_add(&c->cmd, "/bin/bash");
	deis_strlist_add(&c->cmd, "-c");
	deis_strlist_add(&c->cmd, "./run --port $PORT");
	snprintf(c->user, sizeof(c->user), "10000:10000");
	deis_strlist_add(&c->ports, "5000/tcp");
	deis_kvlist_set(&c->labels, "io.deis.stack", "deis/stack:12@" D_C);
	deis_strlist_add(&c->diff_ids, D_A);
	deis_strlist_add(&c->diff_ids, D_B);
}

TEST(app_config_golden)
{
#ifdef ARCH
	static const char golden[] =
		"{\"created\":\"2026-11-26T12:00:00Z\",\"architecture\":\"" ARCH "\","
		"\"os\":\"linux\",\"config\":{"
		"\"Env\":[\"LANG=C.UTF-8\",\"PATH=" STACK_PATH "\",\"PORT=5000\"],"
		"\"Entrypoint\":[\"/usr/bin/tini\",\"-g\",\"--\"],"
		"\"Cmd\":[\"/bin/bash\",\"-c\",\"./run --port $PORT\"],"
		"\"User\":\"10000:10000\",\"WorkingDir\":\"/app\","
		"\"ExposedPorts\":{\"5000/tcp\":{}},"
		"\"Labels\":{\"io.deis.stack\":\"deis/stack:12@" D_C "\","
		"\"io.deis.procfile.web\":\"./run --port $PORT\"}},"
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D_A "\",\"" D_B "\"]}}";
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_image_config c, back;
	struct deis_buf json = DEIS_BUF_INIT, again = DEIS_BUF_INIT;

	app_config(&c);
	CHECK(deis_image_config_build(&c, &json, &err) == 0);
	CHECK_STR(deis_buf_str(&json), golden);
	/* and back: every member, then the same bytes again */
	CHECK(deis_image_config_parse(json.data, json.len, &back, &err) == 0);
	CHECK(deis_strlist_equal(&back.entrypoint, &c.entrypoint));
	CHECK(deis_strlist_equal(&back.cmd, &c.cmd));
	CHECK(deis_strlist_equal(&back.ports, &c.ports));
	CHECK(deis_strlist_equal(&back.diff_ids, &c.diff_ids));
	CHECK(deis_kvlist_equal(&back.env, &c.env));
	CHECK_STR(back.user, "10000:10000");
	CHECK(deis_image_config_build(&back, &again, &err) == 0);
	CHECK_STR(deis_buf_str(&again), golden);
	deis_image_config_clear(&back);
	deis_image_config_clear(&c);
	deis_buf_release(&json);
	deis_buf_release(&again);
#endif
}

/* An image of the host stack (one layer, no Entrypoint, Cmd, User or
 * ports) keeps the bytes it always had. */
TEST(host_config_golden)
{
#ifdef ARCH
	static const char golden[] =
		"{\"created\":\"2026-11-26T12:00:00Z\",\"architecture\":\"" ARCH "\","
		"\"os\":\"linux\",\"config\":{\"Env\":[\"GREETING=hello\"],"
		"\"WorkingDir\":\"/app\",\"Labels\":{\"io.deis.stack\":\"host\","
		"\"io.deis.procfile.web\":\"./run\"}},"
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D_A "\"]}}";
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_image_config c = DEIS_IMAGE_CONFIG_INIT;
	struct deis_buf json = DEIS_BUF_INIT;

	c.created = 1795694400;
	deis_kvlist_set(&c.procfile, "web", "./run");
	deis_kvlist_set(&c.env, "GREETING", "hello");
	deis_kvlist_set(&c.labels, "io.deis.stack", "host");
	deis_strlist_add(&c.diff_ids, D_A);
	CHECK(deis_image_config_build(&c, &json, &err) == 0);
	CHECK_STR(deis_buf_str(&json), golden);
	deis_image_config_clear(&c);
	deis_buf_release(&json);
#endif
}

TEST(two_layer_manifest_golden)
{
	static const char golden[] =
		"{\"schemaVersion\":2,\"mediaType\":\"" DEIS_OCI_MANIFEST_TYPE "\","
		"\"config\":{\"mediaType\":\"" DEIS_OCI_CONFIG_TYPE "\",\"digest\":\"" D_C "\",\"size\":812},"
		"\"layers\":[{\"mediaType\":\"" DEIS_OCI_LAYER_GZIP_TYPE "\",\"digest\":\"" D_A "\",\"size\":56141548},"
		"{\"mediaType\":\"" DEIS_OCI_LAYER_GZIP_TYPE "\",\"digest\":\"" D_B "\",\"size\":1024}]}";
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_oci_descriptor l[2];
	struct deis_oci_manifest m, back;
	struct deis_buf json = DEIS_BUF_INIT;

	memset(&m, 0, sizeof(m));
	memset(l, 0, sizeof(l));
	snprintf(m.config.media_type, sizeof(m.config.media_type), DEIS_OCI_CONFIG_TYPE);
	snprintf(m.config.digest, sizeof(m.config.digest), D_C);
	m.config.size = 812;
	for (int i = 0; i < 2; i++)
		snprintf(l[i].media_type, sizeof(l[i].media_type), DEIS_OCI_LAYER_GZIP_TYPE);
	snprintf(l[0].digest, sizeof(l[0].digest), D_A);
	l[0].size = 56141548;
	snprintf(l[1].digest, sizeof(l[1].digest), D_B);
	l[1].size = 1024;
	m.layers = l;
	m.n_layers = 2;
	CHECK(deis_oci_manifest_build(&m, &json, &err) == 0);
	CHECK_STR(deis_buf_str(&json), golden);
	CHECK(deis_oci_manifest_parse(json.data, json.len, &back, &err) == 0);
	CHECK(back.n_layers == 2);
	if (back.n_layers == 2) {
		CHECK_STR(back.layers[0].digest, D_A);
		CHECK_STR(back.layers[1].digest, D_B);
	}
	deis_oci_manifest_clear(&back);
	deis_buf_release(&json);
}

/* The stack's config exactly as packaging/stack/push writes it. */
TEST(stack_config_parse)
{
	static const char stack[] =
		"{\"created\":\"2026-12-03T18:48:00Z\",\"architecture\":\"amd64\",\"os\":\"linux\","
		"\"config\":{\"Env\":[\"PATH=" STACK_PATH "\",\"LANG=C.UTF-8\"],"
		"\"Entrypoint\":[\"/usr/bin/tini\",\"-g\",\"--\"],\"User\":\"10000:10000\","
		"\"WorkingDir\":\"/app\",\"Labels\":{\"io.deis.stack.packages\":"
		"\"e909938e88d4de7e4e2e261ec594e6f68d327982fcaad8b600609e36468ae35e\"}},"
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D_A "\"]}}";
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_image_config c;

	CHECK(deis_image_config_parse(stack, strlen(stack), &c, &err) == 0);
	CHECK(c.entrypoint.n == 3);
	if (c.entrypoint.n == 3)
		CHECK_STR(c.entrypoint.items[0], "/usr/bin/tini");
	CHECK(c.cmd.n == 0 && c.ports.n == 0 && c.procfile.n == 0);
	CHECK_STR(c.user, "10000:10000");
	CHECK_STR(deis_kvlist_get(&c.env, "PATH"), STACK_PATH);
	CHECK_STR(deis_kvlist_get(&c.labels, "io.deis.stack.packages"),
		  "e909938e88d4de7e4e2e261ec594e6f68d327982fcaad8b600609e36468ae35e");
	CHECK(c.diff_ids.n == 1);
	deis_image_config_clear(&c);
}

/* What docker writes: nulls, an empty User, several ports, members we
 * do not keep. */
TEST(docker_config_parse)
{
	static const char docker[] =
		"{\"architecture\":\"amd64\",\"config\":{\"Hostname\":\"\",\"User\":\"\","
		"\"ExposedPorts\":{\"53/udp\":{},\"8080/tcp\":{}},\"Env\":[\"A=1\"],"
		"\"Cmd\":null,\"Entrypoint\":[\"/bin/sh\",\"-c\",\"echo $A\"],\"Labels\":null,"
		"\"OnBuild\":null},\"created\":\"2026-11-26T12:00:00.5Z\",\"history\":[{}],"
		"\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D_A "\",\"" D_B "\"]}}";
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_image_config c;

	CHECK(deis_image_config_parse(docker, strlen(docker), &c, &err) == 0);
	CHECK_STR(c.user, "");
	CHECK(c.cmd.n == 0 && c.entrypoint.n == 3);
	CHECK(c.ports.n == 2);
	if (c.ports.n == 2) {
		CHECK_STR(c.ports.items[0], "53/udp");
		CHECK_STR(c.ports.items[1], "8080/tcp");
	}
	CHECK(c.diff_ids.n == 2);
	deis_image_config_clear(&c);
}

TEST(config_refuses)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_image_config c;
	struct deis_buf json = DEIS_BUF_INIT;
	const char *ports[] = { "5000", "0/tcp", "65536/tcp", "05000/tcp", "5000/sctp",
				"5000/tcp ", "-1/tcp", "" };
	const char *users[] = { "a b", "root;x", "10000:10000\n", "\xc3\xa9", "$(id)" };

	for (size_t i = 0; i < sizeof(ports) / sizeof(*ports); i++) {
		app_config(&c);
		deis_strlist_add(&c.ports, ports[i]);
		if (deis_image_config_build(&c, &json, &err) != -EINVAL) {
			printf("# accepted port '%s'\n", ports[i]);
			unit_cur_failed = 1;
		}
		deis_image_config_clear(&c);
	}
	for (size_t i = 0; i < sizeof(users) / sizeof(*users); i++) {
		app_config(&c);
		snprintf(c.user, sizeof(c.user), "%s", users[i]);
		if (deis_image_config_build(&c, &json, &err) != -EINVAL) {
			printf("# accepted user '%s'\n", users[i]);
			unit_cur_failed = 1;
		}
		deis_image_config_clear(&c);
	}
	app_config(&c);
	deis_strlist_add(&c.cmd, "\xff");	/* not UTF-8 */
	CHECK(deis_image_config_build(&c, &json, &err) == -EINVAL);
	deis_image_config_clear(&c);
	app_config(&c);
	for (int i = 0; i < DEIS_IMAGE_MAX_WORDS; i++)
		deis_strlist_add(&c.entrypoint, "x");
	CHECK(deis_image_config_build(&c, &json, &err) == -EINVAL);
	CHECK(strstr(err.msg, "Entrypoint") != NULL);
	deis_image_config_clear(&c);

	const char *bad[] = {
		"\"Cmd\":\"/bin/sh\"", "\"Cmd\":[1]", "\"Entrypoint\":{}",
		"\"User\":7", "\"User\":\"a b\"",
		"\"User\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
		"\"ExposedPorts\":[\"80/tcp\"]",
		"\"ExposedPorts\":{\"80\":{}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char doc[512];

		snprintf(doc, sizeof(doc), "{\"os\":\"linux\",\"config\":{%s},\"rootfs\":"
			 "{\"type\":\"layers\",\"diff_ids\":[\"" D_A "\"]}}", bad[i]);
		if (deis_image_config_parse(doc, strlen(doc), &c, &err) != -EINVAL) {
			printf("# accepted %s\n", bad[i]);
			unit_cur_failed = 1;
		}
		deis_image_config_clear(&c);
	}
	deis_buf_release(&json);
}

TEST(platform_repositories)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_image_ref r;
	const char *bad[] = { "deis/", "deis/Stack", "deis/a/b", "deis//stack",
			      "lib/stack", "deis", "/stack", "deis/-x", "stack/deis" };

	CHECK(deis_valid_repo_name("deis/stack"));
	CHECK(deis_valid_repo_name("hello"));
	CHECK(deis_valid_repo_name("deis"));	/* an app may be called deis */
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (!strcmp(bad[i], "deis") ? !deis_valid_repo_name(bad[i])
					    : deis_valid_repo_name(bad[i])) {
			printf("# wrong about '%s'\n", bad[i]);
			unit_cur_failed = 1;
		}
	CHECK(deis_image_ref_parse(DEIS_STACK_IMAGE, &r, &err) == 0);
	CHECK_STR(r.name, "deis/stack");
	CHECK_STR(r.tag, "12");
	CHECK(deis_image_ref_parse("deis/stack@" D_A, &r, &err) == 0);
	CHECK_STR(r.digest, D_A);
	CHECK(deis_image_ref_parse("deis/a/b:12", &r, &err) == -EINVAL);
	CHECK(deis_image_ref_parse("127.0.0.1:5000/deis/stack:12", &r, &err) == -EINVAL);
}

int main(void)
{
	RUN(app_config_golden);
	RUN(host_config_golden);
	RUN(two_layer_manifest_golden);
	RUN(stack_config_parse);
	RUN(docker_config_parse);
	RUN(config_refuses);
	RUN(platform_repositories);
	return unit_done();
}
