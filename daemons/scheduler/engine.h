/*
 * engine.h - the Docker Engine API (v1.41) over its unix socket, as the
 * swarm backend calls it (backend_swarm.c): one request, a JSON body in,
 * a JSON reply out, Docker's own message in the error.
 *
 * An engine handle is one libcurl easy handle (its connection kept alive
 * between calls): not to be shared between threads; each thread opens
 * its own.
 */
#ifndef DEIS_SCHED_ENGINE_H
#define DEIS_SCHED_ENGINE_H

#include <jansson.h>

#include "deis/error.h"

#define ENGINE_API "v1.41"	/* Debian's docker.io 20.10: its highest */

struct engine;

/* A handle on the engine at socket (a path; sun_path: < 108 bytes). */
int engine_open(const char *socket, struct engine **out, struct deis_error *err);
void engine_close(struct engine *e);

/*
 * method path (after /v1.41, with its query) with body (NULL: none) and
 * auth (NULL: none) as X-Registry-Auth.  *reply (may be NULL) gets the
 * reply's JSON (NULL when it had none); the caller json_decref()s it.
 * A status other than 2xx fails with Docker's message: -ENOENT (404),
 * -EEXIST (409), -EINVAL (400), -EAGAIN (503: no swarm, no leader),
 * -EIO (else); -ECONNREFUSED when the engine does not answer.
 */
int engine_call(struct engine *e, const char *method, const char *path, json_t *body,
		const char *auth, json_t **reply, struct deis_error *err);

/* A query parameter's value, URL-encoded (filters={"label":["io.deis"]}):
 * into out of len bytes. */
void engine_escape(const char *s, char *out, size_t len);

#endif
