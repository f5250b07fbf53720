/*
 * health.c - deis-scheduler: when a starting instance is up.
 *
 * A web instance is up when it answers: the `healthcheck` path with
 * libcurl (2xx or 3xx within its timeout) when one is set, else a TCP
 * connect to $PORT at its address.  Probes start 5 ms after the start and
 * repeat every 10 ms for 2 s, then every 100 ms: a Python app is up about
 * 100-150 ms after its start.  HTTP checks run in the main loop's curl
 * multi handle, never blocking it.  Other types are up as soon as the
 * backend started their process.
 *
 * On a cluster backend (swarm) an instance has no address until it is
 * placed: its node, the node's address and the port published there come
 * from the backend's inspect() once its task runs, into the instance and
 * its row (the routers send to address:port), and the probes go there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "scheduler.h"

void set_up(struct inst *i)
{
	struct sapp *a = app_find(i->app, false);

	set_state(i, S_UP);
	i->was_up = true;
	applog(i->app, "%s: up on v%d at %s:%d (%.0f ms after start)", i->name, i->release,
	       i->address, i->port, (mono() - i->run_since) * 1000);
	if (a)
		a->pass = true;
}

static bool tcp_accepts(const char *address, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	bool ok = false;

	if (fd < 0)
		return false;
	if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) {
		close(fd);
		return false;
	}
	/* On the node's bridge the answer (SYN-ACK or RST) comes within
	 * microseconds; a full accept queue drops the SYN, which the short
	 * wait counts as not answering yet. */
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r == 0) {
		ok = true;
	} else if (errno == EINPROGRESS) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int e = 0;
		socklen_t el = sizeof(e);
		if (poll(&p, 1, 100) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
			ok = true;
	}
	close(fd);
	return ok;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
	return s * n;
}

/* Where a cluster backend placed i, once it has: false while it has not
 * (its task is not running yet). */
static bool placed(struct inst *i, struct deis_backend_state *st)
{
	if (!sched.backend->ops->cluster)
		return true;
	if (!st->node[0])
		return false;
	if (strcmp(i->node, st->node) || strcmp(i->address, st->address) ||
	    (st->port && i->port != st->port)) {
		snprintf(i->node, sizeof(i->node), "%s", st->node);
		snprintf(i->address, sizeof(i->address), "%s", st->address);
		i->port = st->port ? st->port : scheduler_conf.port;
		i->dirty = true;
		applog(i->app, "%s: placed on %s at %s:%d", i->name, i->node, i->address,
		       i->port);
	}
	return true;
}

void probe(struct inst *i, const struct deis_app *m, double t)
{
	const char *path = m ? deis_app_setting_kv(m, "healthcheck", "path") : NULL;
	struct deis_backend_state st = { 0 };

	if (!is_web(i) || sched.backend->ops->cluster)
		sched.backend->ops->inspect(sched.backend, i->id, &st);
	if (!is_web(i)) {
		if (st.started && placed(i, &st))
			set_up(i);
		else
			i->next_probe = t + 0.01;
		return;
	}
	if (!placed(i, &st)) {
		i->next_probe = t + (t - i->run_since < 2 ? 0.02 : 0.1);
		return;
	}
	if (i->probe)
		return;
	if (!path) {
		if (tcp_accepts(i->address, i->port))
			set_up(i);
		else
			i->next_probe = t + (t - i->run_since < 2 ? 0.01 : 0.1);
		return;
	}
	/* Only once the port accepts: no HTTP client per attempt before. */
	if (!tcp_accepts(i->address, i->port)) {
		i->next_probe = t + (t - i->run_since < 2 ? 0.01 : 0.1);
		return;
	}
	const char *tmo = deis_app_setting_kv(m, "healthcheck", "timeout");
	char url[1200];
	snprintf(url, sizeof(url), "http://%s:%d%s", i->address, i->port, path);
	i->probe = curl_easy_init();
	if (!i->probe)
		return;
	curl_easy_setopt(i->probe, CURLOPT_URL, url);
	curl_easy_setopt(i->probe, CURLOPT_TIMEOUT_MS, (tmo ? atol(tmo) : 5) * 1000L);
	curl_easy_setopt(i->probe, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(i->probe, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(i->probe, CURLOPT_PRIVATE, i);
	curl_easy_setopt(i->probe, CURLOPT_USERAGENT, "deis-scheduler health check");
	curl_multi_add_handle(sched.multi, i->probe);
}

void probes_done(void)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(sched.multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct inst *i = NULL;
		long status = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&i);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		CURLcode rc = msg->data.result;
		curl_multi_remove_handle(sched.multi, msg->easy_handle);
		curl_easy_cleanup(msg->easy_handle);
		if (!i)
			continue;
		i->probe = NULL;
		if (i->state != S_STARTING)
			continue;
		if (rc == CURLE_OK && status >= 200 && status < 400) {
			set_up(i);
		} else {
			double t = mono();
			i->next_probe = t + (t - i->run_since < 2 ? 0.05 : 0.25);
		}
	}
}
