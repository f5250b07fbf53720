/*
 * registry_image.c - manifests in the registry (put, get, delete, each
 * checked against its digest) and whole images: push a slug and its
 * config over base layers mounted from another repository (the stack), pull a manifest and config, copy an image into another
 * repository by mounting its blobs.  See include/deis/registry.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/validate.h"
#include "registry_internal.h"

/* ------------------------------------------------------------ manifests */

/* What a manifest request names: a repository, and a tag or a digest. */
static int check_manifest(const char *name, const char *reference,
			  struct deis_error *err)
{
	char shown[96];
	int rc;

	if ((rc = oci_check_name(name, err)) < 0)
		return rc;
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

	if ((rc = check_manifest(name, tag, err)) < 0)
		return rc;
	if (len > DEIS_MANIFEST_MAX)
		return deis_error_set(err, EINVAL, "manifest larger than %d bytes",
				      DEIS_MANIFEST_MAX);
	deis_digest_buf(json, len, mine);
	if (deis_valid_digest(tag) && strcmp(tag, mine))
		return deis_error_set(err, EINVAL, "manifest digest %s is not %s",
				      mine, tag);
	registry_req_v2(&r, reg, "PUT", "/v2/%s/manifests/%s", name, tag);
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
	struct deis_buf what = DEIS_BUF_INIT;
	char got[DEIS_DIGEST_SIZE];
	struct http_req r;
	int rc;

	if ((rc = check_manifest(name, reference, err)) < 0)
		return rc;
	registry_req_v2(&r, reg, "GET", "/v2/%s/manifests/%s", name, reference);
	r.accept = DEIS_OCI_MANIFEST_TYPE;
	deis_buf_addf(&what, "manifest %s%c%s", name,
		      deis_valid_digest(reference) ? '@' : ':', reference);
	rc = registry_get_buf(reg, &r, out, DEIS_MANIFEST_MAX, reference, what.data, got, err);
	if (rc == 0 && digest)
		memcpy(digest, got, sizeof(got));
	deis_buf_release(&what);
	registry_req_free(&r);
	return rc;
}

int deis_registry_manifest_delete(struct deis_registry *reg, const char *name,
				  const char *digest, struct deis_error *err)
{
	struct http_req r;
	int rc;

	if ((rc = registry_req_object(&r, reg, "DELETE", "manifests", name, digest, err)) < 0)
		return rc;
	rc = registry_http_do(reg, &r, err);
	registry_req_free(&r);
	return rc;
}

/* ------------------------------------------------------------ images */

/* The base layers into name, each mounted from from, never uploaded. */
static int mount_base(struct deis_registry *reg, const char *name, const char *from,
		      const struct deis_oci_descriptor *base, size_t n_base,
		      struct deis_error *err)
{
	for (size_t i = 0; i < n_base; i++) {
		int rc = deis_registry_blob_mount(reg, name, from, base[i].digest, err);

		if (rc == 0)
			return deis_error_set(err, EIO, "registry %s: layer %s of %s could "
					      "not be mounted into %s", reg->url,
					      base[i].digest, from, name);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int deis_registry_push_image_layers(struct deis_registry *reg, const char *ref,
				    const char *from,
				    const struct deis_oci_descriptor *base,
				    size_t n_base, const char *slug_path,
				    const char *config_json, size_t config_len,
				    char digest[DEIS_DIGEST_SIZE],
				    struct deis_error *err)
{
	struct deis_image_config cfg = DEIS_IMAGE_CONFIG_INIT;
	struct deis_oci_manifest m;
	struct deis_oci_descriptor *layers;
	struct deis_buf json = DEIS_BUF_INIT;
	struct deis_image_ref r;
	int rc;

	if ((rc = deis_image_ref_parse(ref, &r, err)) < 0)
		return rc;
	if (!r.tag[0])
		return deis_error_set(err, EINVAL, "push %s: push to a tag, not a digest",
				      ref);
	if (n_base >= DEIS_IMAGE_MAX_LAYERS)
		return deis_error_set(err, EINVAL, "push %s: %zu base layers", ref, n_base);
	if (n_base && (rc = oci_check_name(from, err)) < 0)
		return deis_error_prefix(err, "push %s: base layers", ref);
	rc = deis_image_config_parse(config_json, config_len, &cfg, err);
	if (rc == 0 && cfg.diff_ids.n != n_base + 1)
		rc = deis_error_set(err, EINVAL,
				    "image config: %zu diff IDs for %zu layers",
				    cfg.diff_ids.n, n_base + 1);
	deis_image_config_clear(&cfg);
	if (rc < 0)
		return deis_error_prefix(err, "push %s", ref);

	if ((rc = mount_base(reg, r.name, from, base, n_base, err)) < 0)
		return deis_error_prefix(err, "push %s: base layers", ref);
	layers = calloc(n_base + 1, sizeof(*layers));
	if (!layers)
		abort();
	if (n_base)
		memcpy(layers, base, n_base * sizeof(*layers));
	memset(&m, 0, sizeof(m));
	memcpy(layers[n_base].media_type, DEIS_OCI_LAYER_GZIP_TYPE,
	       sizeof(DEIS_OCI_LAYER_GZIP_TYPE));
	rc = deis_registry_blob_push_file(reg, r.name, slug_path, layers[n_base].digest,
					  &layers[n_base].size, err);
	if (rc < 0) {
		deis_error_prefix(err, "push %s: slug layer", ref);
		goto out;
	}
	memcpy(m.config.media_type, DEIS_OCI_CONFIG_TYPE, sizeof(DEIS_OCI_CONFIG_TYPE));
	m.config.size = (long long)config_len;
	rc = deis_registry_blob_push_buf(reg, r.name, config_json, config_len,
					 m.config.digest, err);
	if (rc < 0) {
		deis_error_prefix(err, "push %s: config", ref);
		goto out;
	}
	m.layers = layers;
	m.n_layers = n_base + 1;
	rc = deis_oci_manifest_build(&m, &json, err);
	if (rc == 0)
		rc = deis_registry_manifest_put(reg, r.name, r.tag, json.data,
						json.len, digest, err);
	if (rc < 0)
		deis_error_prefix(err, "push %s: manifest", ref);
out:
	deis_buf_release(&json);
	free(layers);
	return rc < 0 ? rc : 0;
}

int deis_registry_push_image(struct deis_registry *reg, const char *ref,
			     const char *slug_path, const char *config_json,
			     size_t config_len, char digest[DEIS_DIGEST_SIZE],
			     struct deis_error *err)
{
	return deis_registry_push_image_layers(reg, ref, NULL, NULL, 0, slug_path,
					       config_json, config_len, digest, err);
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
