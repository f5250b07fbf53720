/*
 * runtime_internal.h - what the files of the container runtime share:
 * runtime_spec.c (the checks, config.json), runtime_seccomp.c,
 * runtime_bundle.c, runtime.c (runc) and runtime_state.c.  Private to
 * lib/; callers use include/deis/runtime.h.
 */
#ifndef DEIS_RUNTIME_INTERNAL_H
#define DEIS_RUNTIME_INTERNAL_H

#include <errno.h>
#include <stdio.h>

#include <jansson.h>

#include "deis/runtime.h"

static inline uid_t spec_uid(const struct deis_container_spec *s)
{
	return s->uid ? s->uid : DEIS_RUNTIME_UID;
}

static inline gid_t spec_gid(const struct deis_container_spec *s)
{
	return s->gid ? s->gid : DEIS_RUNTIME_UID;
}

static inline const char *spec_user(const struct deis_container_spec *s)
{
	return s->user ? s->user : DEIS_RUNTIME_USER;
}

static inline int join(char *out, size_t len, const char *a, const char *b,
		       struct deis_error *err)
{
	int n = snprintf(out, len, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= len)
		return deis_error_set(err, ENAMETOOLONG, "path %s/%s is too long",
				      a, b);
	return 0;
}

static inline int check_state_dir(const char *state_dir, struct deis_error *err)
{
	if (!state_dir || !*state_dir)
		return deis_error_set(err, EINVAL, "no runc state directory");
	return 0;
}

/* ---- runtime_spec.c ---- */

/* Read-only host directories of the stack, mounted when they exist
 * (NULL-terminated); the bundle makes their mount points. */
extern const char *const runtime_host_ro_dirs[];
/* A new JSON array of the strings of a NULL-terminated vector (v may be
 * NULL). */
json_t *runtime_strarray(const char *const *v);
#define HOSTNAME_MAX 63
/* The container's host name: spec->hostname, else its id cut to
 * HOSTNAME_MAX characters; out is the space for the cut one. */
const char *runtime_hostname(const struct deis_container_spec *spec,
			     char out[HOSTNAME_MAX + 1]);

/* ---- runtime_seccomp.c ---- */

/* A new JSON object: linux.seccomp of config.json. */
json_t *runtime_seccomp_json(void);

#endif
