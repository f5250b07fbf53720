/*
 * swarm_spec.c - an instance's Swarm service and its app's network, as
 * the Engine API v1.41 takes them (swarm_spec.h).  Pure: no I/O.
 *
 * The service is what runc gives a container, in Docker's words: the
 * command under the image's init through bash -c, the release's env, the
 * limits, a read-only root with a tmpfs /tmp, no capabilities, nofile
 * 1024.  Swarm restarts nothing (Condition "none"): a task that ends is
 * the instance's end, and the scheduler decides what comes next.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "swarm_spec.h"

#define TMP_BYTES (64LL << 20)	/* /tmp, as runc's containers have it */
#define NOFILE 1024

void swarm_service_name(const char *app, unsigned seq, char out[SWARM_NAME_MAX])
{
	snprintf(out, SWARM_NAME_MAX, "%.40s-%u", app, seq);
}

/*
 * "deis-<app>"; an app name too long for that (over 58 characters) is
 * cut and followed by a hash of the whole, so that two apps of the same
 * first 49 never share a network (backend_swarm.c also checks the
 * network's io.deis.app label before it joins one that exists).
 */
void swarm_network_name(const char *app, char out[SWARM_NAME_MAX])
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	if (strlen(app) <= SWARM_NAME_MAX - 1 - 5) {
		snprintf(out, SWARM_NAME_MAX, "deis-%s", app);
		return;
	}
	for (const unsigned char *c = (const unsigned char *)app; *c; c++)
		h = (h ^ *c) * 16777619u;
	snprintf(out, SWARM_NAME_MAX, "deis-%.49s-%08x", app, (unsigned)h);
}

/* The process type of name ("web" of "web.1"). */
static void type_of(const char *name, char *out, size_t len)
{
	size_t n = strcspn(name, ".");
	snprintf(out, len, "%.*s", (int)n, name);
}

bool swarm_spec_published(const struct deis_backend_spec *spec)
{
	char type[64];

	type_of(spec->name, type, sizeof(type));
	return !strcmp(type, "web") && spec->port > 0;
}

static json_t *labels(const struct deis_backend_spec *spec)
{
	char type[64];

	type_of(spec->name, type, sizeof(type));
	json_t *l = json_pack("{s:s, s:s, s:s, s:s, s:s}", SWARM_LABEL, "1",
			      SWARM_LABEL ".app", spec->app, SWARM_LABEL ".type", type,
			      SWARM_LABEL ".name", spec->name, SWARM_LABEL ".instance", spec->id);
	if (spec->release)
		json_object_set_new(l, SWARM_LABEL ".release", json_string(spec->release));
	return l;
}

static json_t *argv_of(const struct deis_backend_spec *spec, const struct swarm_spec_opts *o)
{
	json_t *a = json_array();

	if (o->init && o->init[0]) {
		/* -g: SIGTERM to the command's whole process group, as under
		 * runc. */
		json_array_append_new(a, json_string(o->init));
		json_array_append_new(a, json_string("-g"));
		json_array_append_new(a, json_string("--"));
	}
	json_array_append_new(a, json_string("/bin/bash"));
	json_array_append_new(a, json_string("-c"));
	json_array_append_new(a, json_string(spec->command));
	return a;
}

static json_t *env_of(const struct deis_backend_spec *spec)
{
	json_t *a = json_array();

	for (size_t k = 0; spec->env && k < spec->env->n; k++) {
		char *kv;
		if (asprintf(&kv, "%s=%s", spec->env->items[k].key, spec->env->items[k].value) < 0)
			abort();
		json_array_append_new(a, json_string(kv));
		free(kv);
	}
	return a;
}

static json_t *container_spec(const struct deis_backend_spec *spec,
			      const struct swarm_spec_opts *o)
{
	char image[1024];

	snprintf(image, sizeof(image), "%s%s%s", o->registry && o->registry[0] ? o->registry : "",
		 o->registry && o->registry[0] ? "/" : "", spec->image);
	json_t *c = json_pack(
		"{s:s, s:o, s:o, s:s, s:s, s:b, s:[{s:s, s:s, s:{s:I}}], s:s, s:I,"
		" s:[s], s:[{s:s, s:i, s:i}], s:o}",
		"Image", image, "Command", argv_of(spec, o), "Env", env_of(spec),
		"Dir", "/app", "Hostname", spec->app, "ReadOnly", 1,
		"Mounts", "Type", "tmpfs", "Target", "/tmp", "TmpfsOptions", "SizeBytes",
		(json_int_t)TMP_BYTES,
		"StopSignal", "SIGTERM", "StopGracePeriod", (json_int_t)o->grace * 1000000000LL,
		"CapabilityDrop", "ALL", "Ulimits", "Name", "nofile", "Soft", NOFILE, "Hard", NOFILE,
		"Labels", labels(spec));
	if (o->user && o->user[0])
		json_object_set_new(c, "User", json_string(o->user));
	if (spec->terminal)
		json_object_set_new(c, "TTY", json_true());
	return c;
}

static json_t *resources(const struct deis_backend_spec *spec)
{
	json_t *lim = json_object(), *res = json_object();

	if (spec->memory_bytes) {
		json_object_set_new(lim, "MemoryBytes", json_integer((json_int_t)spec->memory_bytes));
		/* Reserved too: Swarm places by what is reserved, so a node
		 * is never given more than its memory. */
		json_object_set_new(res, "MemoryBytes", json_integer((json_int_t)spec->memory_bytes));
	}
	if (spec->cpu_millicores)
		json_object_set_new(lim, "NanoCPUs",
				    json_integer((json_int_t)spec->cpu_millicores * 1000000));
	if (spec->pids_max > 0)
		json_object_set_new(lim, "Pids", json_integer(spec->pids_max));
	return json_pack("{s:o, s:o}", "Limits", lim, "Reservations", res);
}

json_t *swarm_service_json(const struct deis_backend_spec *spec,
			   const struct swarm_spec_opts *o)
{
	char name[SWARM_NAME_MAX], net[SWARM_NAME_MAX], type[64];

	swarm_service_name(spec->app, spec->seq, name);
	swarm_network_name(spec->app, net);
	type_of(spec->name, type, sizeof(type));
	json_t *task = json_pack(
		"{s:o, s:o, s:{s:s}, s:[{s:s, s:[s]}]}",
		"ContainerSpec", container_spec(spec, o), "Resources", resources(spec),
		"RestartPolicy", "Condition", "none",
		/* The alias: in the app, "web" resolves to every web task. */
		"Networks", "Target", net, "Aliases", type);
	if (o->log_socket && o->log_socket[0]) {
		char addr[300], tag[DEIS_BACKEND_ID_MAX];
		snprintf(addr, sizeof(addr), "unixgram://%s", o->log_socket);
		/* The tag names the instance (deis-logd maps it back); the
		 * app cannot choose it. */
		snprintf(tag, sizeof(tag), "%s.%u", spec->app, spec->seq);
		json_object_set_new(task, "LogDriver", json_pack(
			"{s:s, s:{s:s, s:s, s:s}}", "Name", "syslog", "Options",
			"syslog-address", addr, "syslog-format", "rfc5424micro", "tag", tag));
	}
	json_t *ep = json_pack("{s:s}", "Mode", "dnsrr");
	if (swarm_spec_published(spec))
		/* No PublishedPort: the engine picks an ephemeral one. */
		json_object_set_new(ep, "Ports", json_pack("[{s:s, s:i, s:s}]", "Protocol", "tcp",
							   "TargetPort", spec->port,
							   "PublishMode", "host"));
	return json_pack("{s:s, s:o, s:o, s:{s:{s:i}}, s:o}", "Name", name, "Labels",
			 labels(spec), "TaskTemplate", task, "Mode", "Replicated", "Replicas", 1,
			 "EndpointSpec", ep);
}

json_t *swarm_network_json(const char *app)
{
	char name[SWARM_NAME_MAX];

	swarm_network_name(app, name);
	/* Unencrypted: this kernel has no IPsec ESP (docs/scale.md).
	 * Attachable: an attached one-off joins it from its own engine. */
	return json_pack("{s:s, s:s, s:b, s:b, s:{s:s, s:s}}", "Name", name, "Driver", "overlay",
			 "Attachable", 1, "CheckDuplicate", 1, "Labels", SWARM_LABEL, "1",
			 SWARM_LABEL ".app", app);
}

char *swarm_registry_auth(const char *user, const char *password, const char *server)
{
	json_t *j = json_pack("{s:s, s:s, s:s}", "username", user ? user : "", "password",
			      password ? password : "", "serveraddress", server ? server : "");
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	size_t n = strlen(text);
	unsigned char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (!out)
		abort();
	EVP_EncodeBlock(out, (const unsigned char *)text, (int)n);
	free(text);
	/* URL-safe alphabet; the padding stays. */
	for (unsigned char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	return (char *)out;
}
