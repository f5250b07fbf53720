/*
 * test_swarm_spec.c - the swarm backend's documents (daemons/scheduler/
 * swarm_spec.c): a web instance's service as golden JSON (limits, env in
 * its order, labels, the log tag, the host-mode port), what a worker and
 * an instance with no limits leave out, names within Swarm's 63
 * characters, the app's network, and X-Registry-Auth's padded base64url.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "deis/kv.h"
#include "swarm_spec.h"
#include "unit.h"

static struct deis_kvlist env = DEIS_KVLIST_INIT;

/* A web instance with every field set. */
static struct deis_backend_spec web(void)
{
	deis_kvlist_clear(&env);
	/* Not sorted: the engine gets them in the scheduler's order (later
	 * ones win over the image's). */
	deis_kvlist_set(&env, "GREETING", "a b=c");
	deis_kvlist_set(&env, "PORT", "5000");
	deis_kvlist_set(&env, "DYNO", "web.1");
	return (struct deis_backend_spec){
		.id = "hello.web.1.17", .app = "hello", .name = "web.1",
		.image = "hello@sha256:0123", .command = "python3 -m http.server $PORT",
		.env = &env, .memory_bytes = 268435456, .cpu_millicores = 500, .pids_max = 256,
		.release = "v7", .seq = 17, .port = 5000,
	};
}

static const struct swarm_spec_opts opts = {
	.registry = "10.213.0.1:5000", .init = "/usr/bin/tini", .user = "10000:10000",
	.grace = 30, .log_socket = "/run/deis/log/docker.sock",
};

/* j as compact JSON with sorted keys (static buffer); j is released. */
static const char *text(json_t *j)
{
	static char out[8192];
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	snprintf(out, sizeof(out), "%s", s ? s : "(null)");
	free(s);
	json_decref(j);
	return out;
}

#define LABELS "{\"io.deis\":\"1\",\"io.deis.app\":\"hello\",\"io.deis.instance\":" \
	"\"hello.web.1.17\",\"io.deis.name\":\"web.1\",\"io.deis.release\":\"v7\"," \
	"\"io.deis.type\":\"web\"}"

TEST(web_service_golden)
{
	struct deis_backend_spec s = web();

	CHECK_STR(text(swarm_service_json(&s, &opts)),
		"{\"EndpointSpec\":{\"Mode\":\"dnsrr\",\"Ports\":[{\"Protocol\":\"tcp\","
		"\"PublishMode\":\"host\",\"TargetPort\":5000}]},"
		"\"Labels\":" LABELS ","
		"\"Mode\":{\"Replicated\":{\"Replicas\":1}},"
		"\"Name\":\"hello-17\","
		"\"TaskTemplate\":{\"ContainerSpec\":{\"CapabilityDrop\":[\"ALL\"],"
		"\"Command\":[\"/usr/bin/tini\",\"-g\",\"--\",\"/bin/bash\",\"-c\","
		"\"python3 -m http.server $PORT\"],"
		"\"Dir\":\"/app\","
		"\"Env\":[\"GREETING=a b=c\",\"PORT=5000\",\"DYNO=web.1\"],"
		"\"Hostname\":\"hello\","
		"\"Image\":\"10.213.0.1:5000/hello@sha256:0123\","
		"\"Labels\":" LABELS ","
		"\"Mounts\":[{\"Target\":\"/tmp\",\"TmpfsOptions\":{\"SizeBytes\":67108864},"
		"\"Type\":\"tmpfs\"}],"
		"\"ReadOnly\":true,\"StopGracePeriod\":30000000000,\"StopSignal\":\"SIGTERM\","
		"\"Ulimits\":[{\"Hard\":1024,\"Name\":\"nofile\",\"Soft\":1024}],"
		"\"User\":\"10000:10000\"},"
		"\"LogDriver\":{\"Name\":\"syslog\",\"Options\":{"
		"\"syslog-address\":\"unixgram:///run/deis/log/docker.sock\","
		"\"syslog-format\":\"rfc5424micro\",\"tag\":\"hello.17\"}},"
		"\"Networks\":[{\"Aliases\":[\"web\"],\"Target\":\"deis-hello\"}],"
		"\"Resources\":{\"Limits\":{\"MemoryBytes\":268435456,\"NanoCPUs\":500000000,"
		"\"Pids\":256},\"Reservations\":{\"MemoryBytes\":268435456}},"
		"\"RestartPolicy\":{\"Condition\":\"none\"}}}");
}

/* A worker: nothing published (the routers never reach it), its type as
 * its alias; no limits, no release, no init, no registry, no log socket,
 * the image's user: each is left out rather than sent empty. */
TEST(worker_leaves_out)
{
	struct deis_backend_spec s = web();
	struct swarm_spec_opts o = { .registry = "", .init = "", .user = "", .grace = 5 };

	s.name = "worker.2";
	s.id = "hello.worker.2.18";
	s.seq = 18;
	s.memory_bytes = 0;
	s.cpu_millicores = 0;
	s.pids_max = 0;
	s.release = NULL;
	json_t *j = swarm_service_json(&s, &o);
	CHECK_STR(text(json_incref(json_object_get(j, "EndpointSpec"))), "{\"Mode\":\"dnsrr\"}");
	json_t *task = json_object_get(j, "TaskTemplate");
	json_t *cs = json_object_get(task, "ContainerSpec");
	CHECK_STR(text(json_incref(json_object_get(cs, "Command"))),
		  "[\"/bin/bash\",\"-c\",\"python3 -m http.server $PORT\"]");
	CHECK_STR(json_string_value(json_object_get(cs, "Image")), "hello@sha256:0123");
	CHECK(!json_object_get(cs, "User"));
	CHECK(!json_object_get(task, "LogDriver"));
	CHECK(!json_object_get(json_object_get(j, "Labels"), "io.deis.release"));
	CHECK_STR(text(json_incref(json_object_get(task, "Resources"))),
		  "{\"Limits\":{},\"Reservations\":{}}");
	CHECK_STR(text(json_incref(json_object_get(task, "Networks"))),
		  "[{\"Aliases\":[\"worker\"],\"Target\":\"deis-hello\"}]");
	CHECK(json_integer_value(json_object_get(cs, "StopGracePeriod")) == 5000000000LL);
	json_decref(j);
}

/* Swarm's names: at most 63 characters; the longest app name and a large
 * sequence number stay unique and within it. */
TEST(names_fit)
{
	char name[SWARM_NAME_MAX], net[SWARM_NAME_MAX];
	const char *app = "a234567890123456789012345678901234567890";	/* 40 */

	swarm_service_name(app, 4294967295u, name);
	CHECK(strlen(name) <= 63);
	CHECK_STR(name, "a234567890123456789012345678901234567890-4294967295");
	swarm_service_name("hello", 7, name);
	CHECK_STR(name, "hello-7");
	swarm_network_name(app, net);
	CHECK(strlen(net) <= 63);
	CHECK_STR(net, "deis-a234567890123456789012345678901234567890");
}

/* Two long app names of the same first 58 characters: two networks
 * (a shared one would put one tenant's containers on another's). */
TEST(long_names_distinct_networks)
{
	char a[SWARM_NAME_MAX], b[SWARM_NAME_MAX], c[SWARM_NAME_MAX];
	const char *p = "x23456789012345678901234567890123456789012345678901234567";	/* 57 */
	char n1[80], n2[80];

	snprintf(n1, sizeof(n1), "%s8901", p);
	snprintf(n2, sizeof(n2), "%s8902", p);
	swarm_network_name(n1, a);
	swarm_network_name(n2, b);
	CHECK(strlen(a) <= 63 && strlen(b) <= 63);
	CHECK(strcmp(a, b) != 0);
	swarm_network_name(n1, c);
	CHECK_STR(a, c);	/* the same app: the same network */
	/* and the service names of long apps stay within 63 */
	swarm_service_name(n1, 4294967295u, c);
	CHECK(strlen(c) <= 63);
}

TEST(network_golden)
{
	CHECK_STR(text(swarm_network_json("hello")),
		  "{\"Attachable\":true,\"CheckDuplicate\":true,\"Driver\":\"overlay\","
		  "\"Labels\":{\"io.deis\":\"1\",\"io.deis.app\":\"hello\"},"
		  "\"Name\":\"deis-hello\"}");
}

TEST(published_only_web)
{
	struct deis_backend_spec s = web();

	CHECK(swarm_spec_published(&s));
	s.name = "webhook.1";
	CHECK(!swarm_spec_published(&s));
	s.name = "run.3";
	CHECK(!swarm_spec_published(&s));
}

/* The engine decodes X-Registry-Auth as base64 URL encoding with its
 * padding: no '+', '/', and '=' kept. */
TEST(registry_auth)
{
	/* A password that makes '+' and '/' in standard base64, and a
	 * length that needs padding. */
	char *a = swarm_registry_auth("deis", "s3cret?>~~", "10.213.0.1:5000");
	unsigned char dec[512];
	char std[512];

	CHECK(strchr(a, '=') != NULL);
	CHECK(!strpbrk(a, "+/"));
	snprintf(std, sizeof(std), "%s", a);
	for (char *p = std; *p; p++)
		*p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
	int n = EVP_DecodeBlock(dec, (const unsigned char *)std, (int)strlen(std));
	CHECK(n > 0);
	while (n > 0 && dec[n - 1] == '\0')
		n--;
	dec[n > 0 ? n : 0] = '\0';
	CHECK_STR((char *)dec, "{\"password\":\"s3cret?>~~\",\"serveraddress\":"
		  "\"10.213.0.1:5000\",\"username\":\"deis\"}");
	free(a);
}

int main(void)
{
	RUN(web_service_golden);
	RUN(worker_leaves_out);
	RUN(names_fit);
	RUN(long_names_distinct_networks);
	RUN(network_golden);
	RUN(published_only_web);
	RUN(registry_auth);
	deis_kvlist_clear(&env);
	return unit_done();
}
