/*
 * registry.h - a client of the OCI distribution API (the private
 * Distribution registry, Debian's docker-registry) and the OCI image
 * documents deisfs stores in it.
 *
 * An image is the stack's layer (Debian 12, deis/stack:12, mounted from
 * that repository) and the slug layer over it (the built app, under app/),
 * plus a config blob carrying the Procfile, the env, build metadata and
 * what `docker run` starts, tied together by an OCI image manifest.  An
 * image of the host stack (before the stack) is the slug alone.  The
 * repository is the app name; a tag is a release ("hello:v3"); the
 * manifest digest names the image for good.
 *
 * Everything here speaks HTTP/1.1 over libcurl and JSON over jansson; no
 * program is run.  Every name, tag and digest is checked before it is put
 * in a URL, so none is ever escaped.  Functions return 0 (or a count) on
 * success and a negative errno with the reason in err:
 *   -EINVAL  a bad name, tag, digest or document (nothing was sent), or a
 *            request the registry refused as invalid (HTTP 400 and most
 *            other 4xx)
 *   -ENOENT  HTTP 404: unknown repository, manifest, tag or blob
 *   -EACCES  HTTP 401 / 403
 *   -EIO     a connection error, a time-out, an HTTP 5xx, an unexpected
 *            answer, or a digest that does not match the bytes received
 * err->msg then holds the method, the path, the HTTP status and the
 * registry's own error ("HTTP 404: MANIFEST_UNKNOWN: manifest unknown").
 *
 * A struct deis_registry is one libcurl easy handle (connections are kept
 * alive between calls): use one per thread.
 */
#ifndef DEIS_REGISTRY_H
#define DEIS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "deis/buf.h"
#include "deis/error.h"
#include "deis/kv.h"

/* ---- media types ---- */
#define DEIS_OCI_MANIFEST_TYPE	"application/vnd.oci.image.manifest.v1+json"
#define DEIS_OCI_CONFIG_TYPE	"application/vnd.oci.image.config.v1+json"
#define DEIS_OCI_LAYER_GZIP_TYPE "application/vnd.oci.image.layer.v1.tar+gzip"
#define DEIS_OCI_LAYER_TAR_TYPE	"application/vnd.oci.image.layer.v1.tar"

/* ---- sizes ---- */
#define DEIS_DIGEST_SIZE	72	/* "sha256:" + 64 hex + NUL, rounded up */
#define DEIS_TAG_MAX		128
#define DEIS_MANIFEST_MAX	(4 * 1024 * 1024)	/* as the registry */
#define DEIS_IMAGE_CONFIG_MAX	(4 * 1024 * 1024)
#define DEIS_IMAGE_MAX_LAYERS	128
#define DEIS_IMAGE_MAX_WORDS	256	/* of an Entrypoint or a Cmd */
/* Blobs larger than this are sent in PATCH chunks of this size. */
#define DEIS_REGISTRY_CHUNK	(64LL * 1024 * 1024)

/* ---- names, tags, digests, references ---- */

/* "sha256:" followed by 64 lowercase hex digits (the only algorithm). */
bool deis_valid_digest(const char *s);
/* [A-Za-z0-9_][A-Za-z0-9._-]{0,127} */
bool deis_valid_image_tag(const char *s);

/* The platform's own repositories ("deis/stack") are named under this
 * prefix; an app's is its name, which never has a '/'. */
#define DEIS_PLATFORM_REPO_PREFIX "deis/"
/* The stack every build goes on (packaging/stack/), and its repository:
 * an app image mounts the stack's layers from there. */
#define DEIS_STACK_REPO		DEIS_PLATFORM_REPO_PREFIX "stack"
#define DEIS_STACK_IMAGE	DEIS_STACK_REPO ":12"
/* An app name (validate.h), or DEIS_PLATFORM_REPO_PREFIX and one. */
bool deis_valid_repo_name(const char *s);

struct deis_image_ref {
	char name[72];			/* deis_valid_repo_name() */
	char tag[DEIS_TAG_MAX + 1];	/* "" when by digest */
	char digest[DEIS_DIGEST_SIZE];	/* "" when by tag */
};

/* "name:tag", "name@sha256:<hex>", or "name" (= "name:latest"), where name
 * is deis_valid_repo_name().  -EINVAL
 * for anything else (a registry host prefix, "name:tag@digest", ...). */
int deis_image_ref_parse(const char *ref, struct deis_image_ref *out,
			 struct deis_error *err);
/* The tag or the digest of ref: what goes after /manifests/. */
const char *deis_image_ref_reference(const struct deis_image_ref *ref);

/* ---- digests (OpenSSL EVP) ---- */

void deis_digest_buf(const void *data, size_t len,
		     char out[DEIS_DIGEST_SIZE]);
/* Reads the file in 1 MB blocks; size (if not NULL) gets its length. */
int deis_digest_file(const char *path, char out[DEIS_DIGEST_SIZE],
		     long long *size, struct deis_error *err);
/* The digest of the uncompressed contents of a gzip file: a layer's
 * "diff ID" (rootfs.diff_ids of the image config).  -EINVAL when the file
 * is not gzip (or is cut short). */
int deis_digest_gunzip_file(const char *path, char out[DEIS_DIGEST_SIZE],
			    struct deis_error *err);

/* ---- the image manifest (JSON) ---- */

struct deis_oci_descriptor {
	char media_type[96];
	char digest[DEIS_DIGEST_SIZE];
	long long size;
};

struct deis_oci_manifest {
	struct deis_oci_descriptor config;
	struct deis_oci_descriptor *layers;
	size_t n_layers;
};

/* Compact JSON: schemaVersion 2, mediaType, config, layers (in order).
 * Checks every media type, digest and size first. */
int deis_oci_manifest_build(const struct deis_oci_manifest *m,
			    struct deis_buf *out, struct deis_error *err);
/* Refuses (-EINVAL) anything but an OCI image manifest with schemaVersion
 * 2, the OCI config media type and 1..DEIS_IMAGE_MAX_LAYERS layers of the
 * OCI tar or tar+gzip layer types, each with a valid digest and size.
 * Unknown members are ignored (as the OCI spec asks).  out is overwritten;
 * free it with _clear (also safe after an error). */
int deis_oci_manifest_parse(const char *json, size_t len,
			    struct deis_oci_manifest *out,
			    struct deis_error *err);
void deis_oci_manifest_clear(struct deis_oci_manifest *m);

/* ---- the image config (JSON) ---- */

/*
 * What deisfs keeps in an image's config blob.  In the JSON (an OCI image
 * config, "os": "linux"): created (RFC 3339, UTC), config.Env ("KEY=value",
 * keys sorted), config.Entrypoint, config.Cmd, config.User,
 * config.WorkingDir "/app", config.ExposedPorts, config.Labels (the
 * labels, plus one "io.deis.procfile.<type>" label per Procfile entry),
 * rootfs.diff_ids.  Entrypoint, Cmd, User and ExposedPorts are written
 * only when set (an image of the host stack has none: runc starts its
 * commands itself); with them `docker run` starts the image as the
 * platform would.  Procfile types follow deis_valid_proc_type(), env keys
 * deis_valid_config_key(); label keys are [A-Za-z0-9._/-], 1..255 bytes,
 * and may not start with "io.deis.procfile."; values, Entrypoint and Cmd
 * words are UTF-8 text without NUL; User is [A-Za-z0-9_.:-]{1,63}; a port
 * is "<1-65535>/tcp" or "/udp".
 */
struct deis_image_config {
	time_t created;
	struct deis_kvlist procfile;	/* type -> command */
	struct deis_kvlist env;		/* KEY -> value */
	struct deis_kvlist labels;	/* build metadata: key -> value */
	struct deis_strlist diff_ids;	/* one per layer, bottom first */
	struct deis_strlist entrypoint;	/* argv before Cmd [none] */
	struct deis_strlist cmd;	/* the default command [none] */
	struct deis_strlist ports;	/* ExposedPorts: "5000/tcp" [none] */
	char user[64];			/* "uid:gid" or a name ["": root] */
};

#define DEIS_IMAGE_CONFIG_INIT { 0, DEIS_KVLIST_INIT, DEIS_KVLIST_INIT, \
				 DEIS_KVLIST_INIT, DEIS_STRLIST_INIT, \
				 DEIS_STRLIST_INIT, DEIS_STRLIST_INIT, \
				 DEIS_STRLIST_INIT, "" }
#define DEIS_PROCFILE_LABEL	"io.deis.procfile."

int deis_image_config_build(const struct deis_image_config *c,
			    struct deis_buf *out, struct deis_error *err);
/* Parses what _build makes (and any OCI config with those members);
 * -EINVAL for malformed JSON or members.  out is overwritten; free it with
 * _clear (also safe after an error). */
int deis_image_config_parse(const char *json, size_t len,
			    struct deis_image_config *out,
			    struct deis_error *err);
void deis_image_config_clear(struct deis_image_config *c);

/* ---- the client ---- */

struct deis_registry;

struct deis_registry_stats {
	unsigned long requests;		/* HTTP requests sent */
	unsigned long blobs_uploaded;	/* blobs sent (upload sessions) */
	unsigned long blobs_skipped;	/* blobs already there, not sent */
	unsigned long blobs_mounted;	/* blobs linked from another
					 * repository, not sent */
	long long bytes_uploaded;	/* blob bytes sent */
	long long bytes_downloaded;	/* blob and manifest bytes received */
};

/* url: "http://host:port" or "https://host:port" (a trailing '/' is
 * allowed, a path is not).  Contacts nothing. */
int deis_registry_open(const char *url, struct deis_registry **out,
		       struct deis_error *err);
/* HTTP basic credentials for every later request (copied; a NULL or empty
 * password sends none).  They go only to the registry's own origin: a
 * redirect elsewhere (a storage back end) gets no Authorization header. */
void deis_registry_set_credentials(struct deis_registry *reg, const char *user,
				   const char *password);
/* The platform's registry: deis_conf.registry_url with registry_user and
 * registry_password (conf.h).  What every daemon and deisfs uses. */
int deis_registry_open_platform(struct deis_registry **out,
				struct deis_error *err);
void deis_registry_close(struct deis_registry *reg);
/* GET /v2/: 0 when the registry answers as a v2 registry. */
int deis_registry_ping(struct deis_registry *reg, struct deis_error *err);
/* Whether the last request failed for the registry's own trouble, which
 * passes: no connection, a time-out, an HTTP 5xx (all -EIO).  False after
 * a success, a 4xx, or a digest that does not match (a bad image). */
bool deis_registry_unreachable(const struct deis_registry *reg);
const struct deis_registry_stats *
deis_registry_stats(const struct deis_registry *reg);
/* Blobs larger than bytes go in PATCH chunks of bytes (default
 * DEIS_REGISTRY_CHUNK; at least 64 KB). */
void deis_registry_set_chunk_size(struct deis_registry *reg, long long bytes);

/* ---- blobs ---- */

/* HEAD: 1 if the blob is there (size gets its length when not NULL), 0 if
 * not, <0 on error. */
int deis_registry_blob_exists(struct deis_registry *reg, const char *name,
			      const char *digest, long long *size,
			      struct deis_error *err);
/* Uploads a file (streamed, never held in memory) unless a blob of its
 * digest is already there.  digest and size (if not NULL) get the blob's.
 * Returns 1 when uploaded, 0 when skipped. */
int deis_registry_blob_push_file(struct deis_registry *reg, const char *name,
				 const char *path, char digest[DEIS_DIGEST_SIZE],
				 long long *size, struct deis_error *err);
int deis_registry_blob_push_buf(struct deis_registry *reg, const char *name,
				const void *data, size_t len,
				char digest[DEIS_DIGEST_SIZE],
				struct deis_error *err);
/* Downloads a blob into path, checking its sha256 (and its size when
 * size >= 0) while it streams into a temporary file beside path, renamed
 * onto path only when it matches; on any error path is left as it was and
 * no temporary file remains. */
int deis_registry_blob_fetch(struct deis_registry *reg, const char *name,
			     const char *digest, long long size,
			     const char *path, struct deis_error *err);
/* The same into memory (at most max bytes): for config blobs. */
int deis_registry_blob_get(struct deis_registry *reg, const char *name,
			   const char *digest, size_t max,
			   struct deis_buf *out, struct deis_error *err);
/* Cross-repository mount (POST /v2/<name>/blobs/uploads/?mount=<digest>
 * &from=<from>): links a blob the registry holds in repository from into
 * name, sending no byte.  Returns 1 when the blob is in name afterwards
 * (mounted, or there already), 0 when the registry would not mount it
 * (it opened an upload session instead, which is cancelled). */
int deis_registry_blob_mount(struct deis_registry *reg, const char *name,
			     const char *from, const char *digest,
			     struct deis_error *err);

/* ---- manifests ---- */

/* PUT /v2/<name>/manifests/<tag>; digest (if not NULL) gets the digest of
 * json, which the registry must confirm. */
int deis_registry_manifest_put(struct deis_registry *reg, const char *name,
			       const char *tag, const char *json, size_t len,
			       char digest[DEIS_DIGEST_SIZE],
			       struct deis_error *err);
/* GET by tag or digest (reference).  The sha256 of the bytes received must
 * equal the Docker-Content-Digest header, and reference when it is a
 * digest; digest (if not NULL) gets it.  out gets the bytes (replaced). */
int deis_registry_manifest_get(struct deis_registry *reg, const char *name,
			       const char *reference, struct deis_buf *out,
			       char digest[DEIS_DIGEST_SIZE],
			       struct deis_error *err);
/* DELETE /v2/<name>/manifests/<digest> (a digest, not a tag). */
int deis_registry_manifest_delete(struct deis_registry *reg, const char *name,
				  const char *digest, struct deis_error *err);

/* ---- images ---- */

/* Pushes a slug (tar.gz) as the one layer of an image, the config JSON
 * (checked with deis_image_config_parse(): it must list one diff ID) as
 * its config blob, and the manifest under ref's tag.  Blobs already in the
 * repository are not sent again.  digest gets the manifest's digest. */
int deis_registry_push_image(struct deis_registry *reg, const char *ref,
			     const char *slug_path, const char *config_json,
			     size_t config_len, char digest[DEIS_DIGEST_SIZE],
			     struct deis_error *err);
/* The same over base layers: the n_base layers of base (the stack's, in
 * the repository from) are mounted into ref's repository (a blob already
 * there is skipped; none is ever uploaded), then the slug goes on top as
 * the last layer.  The config must list n_base + 1 diff IDs.  -EIO when a
 * base layer cannot be mounted (it is not in from). */
int deis_registry_push_image_layers(struct deis_registry *reg, const char *ref, const char *from,
		const struct deis_oci_descriptor *base, size_t n_base, const char *slug_path,
		const char *config_json, size_t config_len, char digest[DEIS_DIGEST_SIZE],
		struct deis_error *err);

struct deis_image {
	struct deis_image_ref ref;
	char digest[DEIS_DIGEST_SIZE];		/* the manifest's */
	struct deis_oci_manifest manifest;
	struct deis_buf manifest_json;
	struct deis_buf config_json;		/* verified bytes */
	struct deis_image_config config;
};

/* Gets an image's manifest and config (verified, parsed) by "name:tag" or
 * "name@sha256:...".  Layers are fetched with deis_registry_blob_fetch().
 * out is overwritten; free it with _clear (also safe after an error). */
int deis_registry_pull_image(struct deis_registry *reg, const char *ref,
			     struct deis_image *out, struct deis_error *err);
void deis_image_clear(struct deis_image *img);
/* Copies a pulled image into repository name: its config and layers
 * mounted from img->ref.name, then the very manifest bytes put by digest,
 * so name@img->digest names the same image and depends on nothing left in
 * the other repository.  -EIO when a blob cannot be mounted. */
int deis_registry_copy_image(struct deis_registry *reg, const struct deis_image *img,
			     const char *name, struct deis_error *err);

#endif
