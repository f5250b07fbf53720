/*
 * engine.c - the Docker Engine API over its unix socket (engine.h):
 * libcurl with CURLOPT_UNIX_SOCKET_PATH (the host part of the URL is
 * ignored), jansson for the bodies.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "deis/buf.h"
#include "engine.h"

struct engine {
	CURL *curl;
	char socket[108];
};

/* A call answers within this (a create pulls in the background: the
 * engine answers at once); more means the engine is stuck. */
#define ENGINE_TIMEOUT_MS 30000L

int engine_open(const char *socket, struct engine **out, struct deis_error *err)
{
	if (strlen(socket) >= sizeof(((struct engine *)0)->socket))
		return deis_error_set(err, ENAMETOOLONG, "engine socket %s: too long a path",
				      socket);
	struct engine *e = calloc(1, sizeof(*e));
	if (!e || !(e->curl = curl_easy_init()))
		abort();
	snprintf(e->socket, sizeof(e->socket), "%s", socket);
	*out = e;
	return 0;
}

void engine_close(struct engine *e)
{
	if (!e)
		return;
	curl_easy_cleanup(e->curl);
	free(e);
}

static size_t collect(char *p, size_t s, size_t n, void *u)
{
	deis_buf_add(u, p, s * n);
	return s * n;
}

void engine_escape(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

/* What a status other than 2xx is as an errno. */
static int status_errno(long status)
{
	switch (status) {
	case 400: return EINVAL;
	case 401: case 403: return EACCES;
	case 404: return ENOENT;
	case 409: return EEXIST;
	case 503: return EAGAIN;
	default: return EIO;
	}
}

int engine_call(struct engine *e, const char *method, const char *path, json_t *body,
		const char *auth, json_t **reply, struct deis_error *err)
{
	struct deis_buf in = DEIS_BUF_INIT;
	struct curl_slist *h = NULL;
	char url[2048], *text = NULL;
	long status = 0;
	int r = 0;

	if (reply)
		*reply = NULL;
	snprintf(url, sizeof(url), "http://engine/" ENGINE_API "%s", path);
	curl_easy_reset(e->curl);
	curl_easy_setopt(e->curl, CURLOPT_UNIX_SOCKET_PATH, e->socket);
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, ENGINE_TIMEOUT_MS);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &in);
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, text);
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, "");
	}
	if (auth) {
		char line[4096];
		snprintf(line, sizeof(line), "X-Registry-Auth: %s", auth);
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, h);
	CURLcode c = curl_easy_perform(e->curl);
	curl_slist_free_all(h);
	free(text);
	if (c != CURLE_OK) {
		r = deis_error_set(err, c == CURLE_COULDNT_CONNECT ? ECONNREFUSED : EIO,
				   "docker engine at %s: %s %s: %s", e->socket, method, path,
				   curl_easy_strerror(c));
		deis_buf_release(&in);
		return r;
	}
	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	json_t *j = in.len ? json_loadb(in.data, in.len, 0, NULL) : NULL;
	if (status < 200 || status > 299) {
		const char *m = json_string_value(json_object_get(j, "message"));
		r = deis_error_set(err, status_errno(status), "docker: %s %s: %s (%ld)", method,
				   path, m ? m : "no message", status);
		json_decref(j);
	} else if (reply) {
		*reply = j;
	} else {
		json_decref(j);
	}
	deis_buf_release(&in);
	return r;
}
