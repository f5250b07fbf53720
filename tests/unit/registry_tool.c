/*
 * registry_tool.c - a small command-line client of lib/registry.c, for
 * tests/fs/t3000-registry.sh and for looking into the registry by hand.
 *
 *   registry_tool [--config=FILE] [--url=URL] [--chunk=BYTES] COMMAND ARGS...
 *
 *   digest FILE                 sha256 digest of FILE
 *   diffid FILE                 sha256 digest of FILE gunzipped
 *   config SLUG [type=cmd | env:K=V | label:k=v | created=EPOCH]...
 *                               print the image config JSON for SLUG
 *   push SLUG CONFIG_FILE REF   push an image; prints "digest ..."
 *   pull REF OUTDIR             pull an image into OUTDIR (manifest.json,
 *                               config.json, layer-N); prints "digest ..."
 *   exists NAME DIGEST          prints "yes" or "no"
 *   manifest REF                print the manifest JSON
 *   copy REF NAME               copy an image into repository NAME (blobs
 *                               mounted, manifest by digest); prints "digest ..."
 *   ping                        GET /v2/
 *
 * The URL is --url, else $DEIS_REGISTRY_URL, else the registry_url of the
 * --config file (a deis.conf).  Credentials come only from that file
 * (registry_user, registry_password), as the platform's daemons read them:
 * without --config the tool is an anonymous client.  After push and pull a line
 * "stats requests=N uploaded=N skipped=N bytes_up=N bytes_down=N" follows.
 * Errors go to stderr; the exit status is the errno (ENOENT 2, EIO 5,
 * EINVAL 22), 64 for a usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deis/conf.h"
#include "deis/registry.h"
#include "tool.h"

static const struct deis_conf_option options[] = {
	DEIS_COMMON_OPTIONS,
	{ NULL, 0, NULL, NULL, NULL },
};

static void usage(void)
{
	fprintf(stderr,
		"usage: registry_tool [--config=FILE] [--url=URL] [--chunk=BYTES] COMMAND ARGS...\n"
		"  digest FILE | diffid FILE | config SLUG [ITEM...] |\n"
		"  push SLUG CONFIG_FILE REF | pull REF OUTDIR | exists NAME DIGEST |\n"
		"  manifest REF | copy REF NAME | ping\n");
	exit(64);
}

static int read_file(const char *path, struct deis_buf *out,
		     struct deis_error *err)
{
	char block[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (!f)
		return deis_error_set(err, errno, "%s: %s", path, strerror(errno));
	while ((n = fread(block, 1, sizeof(block), f)) > 0)
		deis_buf_add(out, block, n);
	if (ferror(f)) {
		fclose(f);
		return deis_error_set(err, EIO, "reading %s", path);
	}
	fclose(f);
	return 0;
}

static void print_stats(const struct deis_registry *reg)
{
	const struct deis_registry_stats *s = deis_registry_stats(reg);

	printf("stats requests=%lu uploaded=%lu skipped=%lu bytes_up=%lld bytes_down=%lld\n",
	       s->requests, s->blobs_uploaded, s->blobs_skipped,
	       s->bytes_uploaded, s->bytes_downloaded);
}

static int cmd_config(int argc, char **argv, struct deis_error *err)
{
	struct deis_image_config c = DEIS_IMAGE_CONFIG_INIT;
	struct deis_buf out = DEIS_BUF_INIT;
	char diff[DEIS_DIGEST_SIZE];
	int i, rc;

	if (argc < 1)
		usage();
	if ((rc = deis_digest_gunzip_file(argv[0], diff, err)) < 0)
		return rc;
	deis_strlist_add(&c.diff_ids, diff);
	c.created = time(NULL);
	for (i = 1; i < argc; i++) {
		char *a = argv[i], *eq = strchr(a, '=');

		if (!eq)
			usage();
		*eq = '\0';
		if (!strncmp(a, "env:", 4))
			deis_kvlist_set(&c.env, a + 4, eq + 1);
		else if (!strncmp(a, "label:", 6))
			deis_kvlist_set(&c.labels, a + 6, eq + 1);
		else if (!strcmp(a, "created"))
			c.created = (time_t)strtoll(eq + 1, NULL, 10);
		else
			deis_kvlist_set(&c.procfile, a, eq + 1);
	}
	rc = deis_image_config_build(&c, &out, err);
	if (rc == 0)
		printf("%s\n", out.data);
	deis_buf_release(&out);
	deis_image_config_clear(&c);
	return rc;
}

static int cmd_pull(struct deis_registry *reg, const char *ref,
		    const char *dir, struct deis_error *err)
{
	struct deis_image img;
	struct deis_buf path = DEIS_BUF_INIT;
	size_t i;
	FILE *f;
	int rc;

	rc = deis_registry_pull_image(reg, ref, &img, err);
	if (rc < 0)
		return rc;
	for (i = 0; i < img.manifest.n_layers && rc == 0; i++) {
		deis_buf_reset(&path);
		deis_buf_addf(&path, "%s/layer-%zu", dir, i);
		rc = deis_registry_blob_fetch(reg, img.ref.name,
					      img.manifest.layers[i].digest,
					      img.manifest.layers[i].size,
					      path.data, err);
	}
	for (i = 0; i < 2 && rc == 0; i++) {
		const struct deis_buf *b = i ? &img.config_json : &img.manifest_json;

		deis_buf_reset(&path);
		deis_buf_addf(&path, "%s/%s", dir, i ? "config.json" : "manifest.json");
		f = fopen(path.data, "wb");
		if (!f || fwrite(deis_buf_str(b), 1, b->len, f) != b->len) {
			rc = deis_error_set(err, EIO, "writing %s", path.data);
		}
		if (f && fclose(f) != 0 && rc == 0)
			rc = deis_error_set(err, EIO, "writing %s", path.data);
	}
	if (rc == 0) {
		printf("digest %s\n", img.digest);
		for (i = 0; i < img.config.procfile.n; i++)
			printf("proc %s=%s\n", img.config.procfile.items[i].key,
			       img.config.procfile.items[i].value);
	}
	deis_buf_release(&path);
	deis_image_clear(&img);
	return rc;
}

int main(int argc, char **argv)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_registry *reg = NULL;
	const char *url = getenv("DEIS_REGISTRY_URL"), *config = NULL;
	char digest[DEIS_DIGEST_SIZE];
	long long chunk = 0;
	const char *cmd;
	int rc = 0;

	while (argc > 1 && !strncmp(argv[1], "--", 2)) {
		if (!strncmp(argv[1], "--url=", 6))
			url = argv[1] + 6;
		else if (!strncmp(argv[1], "--config=", 9))
			config = argv[1] + 9;
		else if (!strncmp(argv[1], "--chunk=", 8))
			chunk = strtoll(argv[1] + 8, NULL, 10);
		else
			usage();
		argc--;
		argv++;
	}
	if (argc < 2)
		usage();
	cmd = argv[1];
	argc -= 2;
	argv += 2;

	if (!strcmp(cmd, "digest") || !strcmp(cmd, "diffid")) {
		if (argc != 1)
			usage();
		rc = !strcmp(cmd, "digest") ?
			deis_digest_file(argv[0], digest, NULL, &err) :
			deis_digest_gunzip_file(argv[0], digest, &err);
		if (rc < 0)
			return tool_fail(&err);
		printf("%s\n", digest);
		return 0;
	}
	if (!strcmp(cmd, "config"))
		return cmd_config(argc, argv, &err) < 0 ? tool_fail(&err) : 0;

	deis_conf_defaults(options);
	if (config && deis_conf_load(options, config, 1, &err) < 0)
		return tool_fail(&err);
	if (!url)
		url = deis_conf.registry_url;
	if (deis_registry_open(url, &reg, &err) < 0)
		return tool_fail(&err);
	if (config)
		deis_registry_set_credentials(reg, deis_conf.registry_user,
					      deis_conf.registry_password);
	if (chunk > 0)
		deis_registry_set_chunk_size(reg, chunk);

	if (!strcmp(cmd, "push") && argc == 3) {
		struct deis_buf cfg = DEIS_BUF_INIT;

		rc = read_file(argv[1], &cfg, &err);
		if (rc == 0)
			rc = deis_registry_push_image(reg, argv[2], argv[0],
						      deis_buf_str(&cfg), cfg.len,
						      digest, &err);
		deis_buf_release(&cfg);
		if (rc == 0)
			printf("digest %s\n", digest);
		print_stats(reg);
	} else if (!strcmp(cmd, "pull") && argc == 2) {
		rc = cmd_pull(reg, argv[0], argv[1], &err);
		print_stats(reg);
	} else if (!strcmp(cmd, "exists") && argc == 2) {
		rc = deis_registry_blob_exists(reg, argv[0], argv[1], NULL, &err);
		if (rc >= 0)
			printf("%s\n", rc ? "yes" : "no");
	} else if (!strcmp(cmd, "manifest") && argc == 1) {
		struct deis_image_ref ref;
		struct deis_buf out = DEIS_BUF_INIT;

		rc = deis_image_ref_parse(argv[0], &ref, &err);
		if (rc == 0)
			rc = deis_registry_manifest_get(reg, ref.name,
				deis_image_ref_reference(&ref), &out, digest, &err);
		if (rc == 0)
			printf("%s\n", deis_buf_str(&out));
		deis_buf_release(&out);
	} else if (!strcmp(cmd, "copy") && argc == 2) {
		struct deis_image img;

		rc = deis_registry_pull_image(reg, argv[0], &img, &err);
		if (rc == 0)
			rc = deis_registry_copy_image(reg, &img, argv[1], &err);
		if (rc == 0)
			printf("digest %s\n", img.digest);
		deis_image_clear(&img);
		print_stats(reg);
	} else if (!strcmp(cmd, "ping") && argc == 0) {
		rc = deis_registry_ping(reg, &err);
	} else {
		deis_registry_close(reg);
		usage();
	}
	deis_registry_close(reg);
	deis_conf_free(options);
	return rc < 0 ? tool_fail(&err) : 0;
}
