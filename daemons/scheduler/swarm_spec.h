/*
 * swarm_spec.h - what the swarm backend asks Docker for, as JSON (pure
 * code: tests/unit/test_swarm_spec.c holds its golden documents).
 *
 * One Swarm service per instance (docs/scale.md): named <app>-<seq>
 * (instance ids have dots and reach 76 characters; Swarm's names allow
 * 63 of [A-Za-z0-9] with - or _ between), one replica, no restart policy
 * (the scheduler's policy makes every restart), the instance's id and
 * type in labels, on the app's overlay network deis-<app>, and a web
 * instance's $PORT published in host mode on an ephemeral port of its
 * node (this kernel has no IPVS: no routing mesh, no virtual IPs).
 */
#ifndef DEIS_SCHED_SWARM_SPEC_H
#define DEIS_SCHED_SWARM_SPEC_H

#include <stdbool.h>

#include <jansson.h>

#include "deis/backend.h"

#define SWARM_NAME_MAX 64	/* a service's name (63) and its NUL */
#define SWARM_LABEL "io.deis"	/* every service of ours has it */

/* The settings of the platform a service spec takes. */
struct swarm_spec_opts {
	const char *registry;	/* "host:port" before the image's name; "" none */
	const char *init;	/* pid 1 in the image ("/usr/bin/tini"); "" none */
	const char *user;	/* "10000:10000"; "" the image's */
	int grace;		/* s from SIGTERM to SIGKILL */
	const char *log_socket;	/* the node's syslog socket for the engine; "" the
				 * engine's default log driver */
};

/* The service's name of instance seq of app. */
void swarm_service_name(const char *app, unsigned seq, char out[SWARM_NAME_MAX]);
/* The app's overlay network's name ("deis-<app>"). */
void swarm_network_name(const char *app, char out[SWARM_NAME_MAX]);
/* Whether spec publishes its port (a web instance: the routers reach it). */
bool swarm_spec_published(const struct deis_backend_spec *spec);

/* POST /services/create's body for spec (a new reference). */
json_t *swarm_service_json(const struct deis_backend_spec *spec,
			   const struct swarm_spec_opts *o);
/* POST /networks/create's body for app's network. */
json_t *swarm_network_json(const char *app);

/* X-Registry-Auth: base64url with padding (the engine refuses it
 * unpadded) of {"username","password","serveraddress"}.  The caller
 * frees it. */
char *swarm_registry_auth(const char *user, const char *password, const char *server);

#endif
