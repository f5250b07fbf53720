/*
 * drains.c - deis-logd's drain thread: forwards every line of an app to
 * each of its drains (apps/<app>/drains), as RFC 5424 messages with
 * octet-counted framing over TCP ("syslog://") or TLS ("syslog+tls://",
 * OpenSSL; the server certificate is verified against the system CAs and
 * drain_ca_file, and must name the drain's host).
 *
 * The main loop only appends to a drain's bounded byte queue (drain_queue
 * bytes; a line that does not fit is dropped and counted), so a slow or
 * dead drain never stalls deis-logd.  One thread does all the network I/O
 * with non-blocking sockets and poll(); a drain that fails reconnects with
 * a backoff of 1 s doubling to 30 s.  Host names are resolved with
 * getaddrinfo() in this thread (IP addresses need no resolution).
 *
 * Before it connects, the thread checks every address the drain's host
 * resolves to against the drain policy (lib/drain.c: no loopback, no
 * address of this host or of a platform node, nothing in the containers'
 * subnet): deisfs refused such literal addresses at write, but a name may
 * resolve to anything, and may change.  A refused drain is retried like a
 * failed one (the name may change again); the refusal is logged, and said
 * once in the app's log as a "deis" line (drains_notices).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "deis/buf.h"
#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/drain.h"
#include "deis/log.h"
#include "logd.h"

enum dstate { D_IDLE, D_CONNECTING, D_HANDSHAKE, D_UP };

struct drain {
	char *app;
	char *url;
	struct deis_drain d;
	enum dstate state;
	int fd;
	SSL *ssl;
	int want_write;		/* TLS: the last call wanted POLLOUT */
	struct deis_buf q;	/* frames waiting to be sent */
	size_t qoff;		/* bytes of q already sent */
	long long dropped, sent;
	long long retry_ms;
	int backoff_ms;
	int failed_logged;
	int refused_told;	/* the app's log was told of a refusal */
	int dead;		/* removed by drains_set; freed by the thread */
	struct drain *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct drain *drains;
static pthread_t thread;
static int started;
static volatile int stopping;
static int wake[2] = { -1, -1 };
static SSL_CTX *ctx;
static char hostname[256];
/* The platform's nodes (name -> address), for the drain policy. */
static struct deis_kvlist node_addrs = DEIS_KVLIST_INIT;
/* Refusals to tell the apps: "app\ttext" lines. */
static struct deis_strlist notices = DEIS_STRLIST_INIT;

static void poke(void)
{
	char c = 1;

	if (write(wake[1], &c, 1) < 0 && errno != EAGAIN)
		deis_log(LOG_DEBUG, "drain wake-up: %s", strerror(errno));
}

/* ---- the interface of the main loop ---- */

void drains_set(const struct deis_kvlist *app_urls)
{
	struct deis_error err = DEIS_ERROR_INIT;

	pthread_mutex_lock(&lock);
	for (struct drain *d = drains; d; d = d->next)
		d->dead = 1;
	for (size_t i = 0; i < app_urls->n; i++) {
		const char *app = app_urls->items[i].key, *p = app_urls->items[i].value;
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			char url[512];
			if (len > 0 && len < sizeof(url)) {
				memcpy(url, p, len);
				url[len] = '\0';
				struct drain *d;
				for (d = drains; d; d = d->next)
					if (!strcmp(d->app, app) && !strcmp(d->url, url))
						break;
				if (d) {
					d->dead = 0;
				} else {
					struct deis_drain parsed;
					if (deis_drain_parse(url, &parsed, &err) < 0) {
						deis_log(LOG_WARNING, "app %s: %s", app, err.msg);
					} else {
						d = calloc(1, sizeof(*d));
						if (!d)
							abort();
						d->app = strdup(app);
						d->url = strdup(url);
						if (!d->app || !d->url)
							abort();
						d->d = parsed;
						d->fd = -1;
						d->next = drains;
						drains = d;
						deis_log(LOG_INFO, "app %s: drain %s added", app, url);
					}
				}
			}
			p = nl ? nl + 1 : p + len;
		}
	}
	pthread_mutex_unlock(&lock);
	poke();
}

int drains_has(const char *app)
{
	int has = 0;

	pthread_mutex_lock(&lock);
	for (struct drain *d = drains; d && !has; d = d->next)
		has = !d->dead && !strcmp(d->app, app);
	pthread_mutex_unlock(&lock);
	return has;
}

void drains_send(const char *app, const char *line, const char *src,
		 const char *text, size_t len)
{
	char frame_head[512];
	const char *sp = strchr(line, ' ');
	int tslen = sp ? (int)(sp - line) : 0;
	int queued = 0;

	/* <14>: facility user, severity info; MSGID and SD "-". */
	int hl = snprintf(frame_head, sizeof(frame_head), "<14>1 %.*s %s %s %s - - ",
			  tslen, line, hostname, app, src);
	if (hl < 0 || (size_t)hl >= sizeof(frame_head))
		return;
	size_t body = (size_t)hl + len;
	char count[32];
	int cl = snprintf(count, sizeof(count), "%zu ", body);

	pthread_mutex_lock(&lock);
	for (struct drain *d = drains; d; d = d->next) {
		if (d->dead || strcmp(d->app, app))
			continue;
		if ((long long)(d->q.len - d->qoff + body + (size_t)cl) > logd_conf.drain_queue) {
			d->dropped++;
			continue;
		}
		if (d->qoff > 0 && d->qoff >= d->q.len / 2) {
			memmove(d->q.data, d->q.data + d->qoff, d->q.len - d->qoff);
			d->q.len -= d->qoff;
			d->qoff = 0;
		}
		deis_buf_add(&d->q, count, (size_t)cl);
		deis_buf_add(&d->q, frame_head, (size_t)hl);
		deis_buf_add(&d->q, text, len);
		queued = 1;
	}
	pthread_mutex_unlock(&lock);
	if (queued)
		poke();
}

/* ---- connections (called with the lock held) ---- */

static void drain_close(struct drain *d, const char *why)
{
	if (d->ssl) {
		SSL_free(d->ssl);
		d->ssl = NULL;
	}
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	d->state = D_IDLE;
	d->want_write = 0;
	if (why) {
		if (!d->failed_logged)
			deis_log(LOG_WARNING, "app %s: drain %s: %s (retrying)", d->app, d->url, why);
		d->failed_logged = 1;
		d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : 1000;
		if (d->backoff_ms > 30000)
			d->backoff_ms = 30000;
		d->retry_ms = deis_mono_ms() + d->backoff_ms;
		/* A partly sent frame cannot be finished on a new connection. */
		d->q.len = 0;
		d->qoff = 0;
	}
}

void drains_set_nodes(const struct deis_kvlist *nodes)
{
	pthread_mutex_lock(&lock);
	deis_kvlist_copy(&node_addrs, nodes);
	pthread_mutex_unlock(&lock);
}

void drains_notices(void (*tell)(const char *app, const char *text))
{
	struct deis_strlist l;

	pthread_mutex_lock(&lock);
	l = notices;
	notices = (struct deis_strlist)DEIS_STRLIST_INIT;
	pthread_mutex_unlock(&lock);
	for (size_t i = 0; i < l.n; i++) {
		char *tab = strchr(l.items[i], '\t');
		if (tab) {
			*tab = '\0';
			tell(l.items[i], tab + 1);
		}
	}
	deis_strlist_clear(&l);
}

/* 0 when every address of res may be connected to; else the drain is
 * closed (and retried later), the refusal logged and queued for the app.
 * The policy is made again each time: this host's addresses change. */
static int drain_allowed(struct drain *d, const struct addrinfo *res)
{
	struct deis_drain_policy p = DEIS_DRAIN_POLICY_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	char what[320], text[INET6_ADDRSTRLEN + 16], why[640], note[1200];
	const char *no = NULL;

	if (deis_drain_policy_host(&p, deis_conf.network_subnet, &err) < 0)
		deis_log(LOG_WARNING, "drains: %s", err.msg);
	deis_error_clear(&err);
	for (size_t i = 0; i < node_addrs.n; i++) {
		snprintf(what, sizeof(what), "the address of platform node %s",
			 node_addrs.items[i].key);
		deis_drain_policy_add(&p, node_addrs.items[i].value, what, &err); /* IPs only */
		deis_error_clear(&err);
	}
	for (const struct addrinfo *a = res; a && !no; a = a->ai_next)
		no = deis_drain_addr_forbidden(&p, a->ai_addr, text, sizeof(text));
	if (!no) {
		deis_drain_policy_release(&p);
		return 0;
	}
	if (!strcmp(text, d->d.host))
		snprintf(why, sizeof(why), "refused: %s is %s", text, no);
	else
		snprintf(why, sizeof(why), "refused: %s resolves to %s, %s", d->d.host, text, no);
	deis_drain_policy_release(&p);
	if (!d->refused_told) {
		d->refused_told = 1;
		snprintf(note, sizeof(note), "%s\tdrain %s %s; a drain may not point at the "
			 "platform", d->app, d->url, why);
		deis_strlist_add(&notices, note);
	}
	drain_close(d, why);
	return -1;
}

static void drain_connect(struct drain *d)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port[16];

	snprintf(port, sizeof(port), "%d", d->d.port);
	int r = getaddrinfo(d->d.host, port, &hints, &res);
	if (r) {
		drain_close(d, gai_strerror(r));
		return;
	}
	/* Every address, not only the one connected to: a name that also
	 * resolves to the platform is not a drain's. */
	if (drain_allowed(d, res) < 0) {
		freeaddrinfo(res);
		return;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		drain_close(d, strerror(errno));
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	d->fd = fd;
	if (r < 0 && errno != EINPROGRESS) {
		drain_close(d, strerror(errno));
		return;
	}
	d->state = D_CONNECTING;
}

static void tls_error(struct drain *d, const char *what)
{
	char buf[256], msg[400];
	unsigned long e = ERR_get_error();
	long vr = d->ssl ? SSL_get_verify_result(d->ssl) : X509_V_OK;

	if (vr != X509_V_OK)
		snprintf(buf, sizeof(buf), "certificate: %s", X509_verify_cert_error_string(vr));
	else if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s", errno ? strerror(errno) : "connection closed");
	ERR_clear_error();
	snprintf(msg, sizeof(msg), "%s: %s", what, buf);
	drain_close(d, msg);
}

static void drain_handshake(struct drain *d)
{
	if (!d->ssl) {
		d->ssl = SSL_new(ctx);
		if (!d->ssl) {
			tls_error(d, "TLS");
			return;
		}
		SSL_set_fd(d->ssl, d->fd);
		SSL_set_mode(d->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
			     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		X509_VERIFY_PARAM *param = SSL_get0_param(d->ssl);
		struct in6_addr a;
		if (inet_pton(AF_INET, d->d.host, &a) == 1 ||
		    inet_pton(AF_INET6, d->d.host, &a) == 1) {
			X509_VERIFY_PARAM_set1_ip_asc(param, d->d.host);
		} else {
			SSL_set_tlsext_host_name(d->ssl, d->d.host);
			X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			X509_VERIFY_PARAM_set1_host(param, d->d.host, 0);
		}
	}
	errno = 0;
	int r = SSL_connect(d->ssl);
	if (r == 1) {
		d->state = D_UP;
		d->want_write = 0;
		return;
	}
	int e = SSL_get_error(d->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		d->want_write = 0;
	} else if (e == SSL_ERROR_WANT_WRITE) {
		d->want_write = 1;
	} else {
		tls_error(d, "TLS handshake");
	}
}

static void drain_up(struct drain *d)
{
	if (d->failed_logged)
		deis_log(LOG_NOTICE, "app %s: drain %s: connected", d->app, d->url);
	d->failed_logged = 0;
	d->backoff_ms = 0;
}

/* Sends what is queued; reads (and ignores) what the server sends, to see
 * it close. */
static void drain_io(struct drain *d, short revents)
{
	char junk[4096];

	if (!d->ssl && (revents & (POLLERR | POLLHUP))) {
		drain_close(d, "connection closed");
		return;
	}
	if (revents & POLLIN) {
		ssize_t r;
		if (d->ssl) {
			r = SSL_read(d->ssl, junk, sizeof(junk));
			if (r <= 0) {
				int e = SSL_get_error(d->ssl, (int)r);
				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
					tls_error(d, "TLS");
					return;
				}
			}
		} else {
			r = recv(d->fd, junk, sizeof(junk), MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				drain_close(d, r == 0 ? "connection closed" : strerror(errno));
				return;
			}
		}
	}
	while (d->qoff < d->q.len) {
		size_t n = d->q.len - d->qoff;
		if (n > 65536)
			n = 65536;
		ssize_t w;
		if (d->ssl) {
			errno = 0;
			int r = SSL_write(d->ssl, d->q.data + d->qoff, (int)n);
			if (r <= 0) {
				int e = SSL_get_error(d->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
					d->want_write = e == SSL_ERROR_WANT_WRITE;
					return;
				}
				tls_error(d, "TLS write");
				return;
			}
			w = r;
		} else {
			w = send(d->fd, d->q.data + d->qoff, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return;
				drain_close(d, strerror(errno));
				return;
			}
		}
		d->qoff += (size_t)w;
		d->sent += w;
	}
	d->q.len = 0;
	d->qoff = 0;
	d->want_write = 0;
}

static void drain_free(struct drain *d)
{
	drain_close(d, NULL);
	if (d->dropped)
		deis_log(LOG_NOTICE, "app %s: drain %s removed (%lld lines dropped while "
			 "it was slow or down)", d->app, d->url, d->dropped);
	free(d->app);
	free(d->url);
	deis_buf_release(&d->q);
	free(d);
}

static void *drains_main(void *arg)
{
	struct pollfd *p = NULL;
	struct drain **who = NULL;
	size_t cap = 0;
	long long last_report = deis_mono_ms();

	while (!stopping) {
		size_t n = 1;
		int timeout = 1000;
		long long now = deis_mono_ms();

		pthread_mutex_lock(&lock);
		for (struct drain **dp = &drains; *dp;) {
			struct drain *d = *dp;
			if (d->dead) {
				*dp = d->next;
				deis_log(LOG_INFO, "app %s: drain %s removed", d->app, d->url);
				drain_free(d);
				continue;
			}
			if (d->state == D_IDLE && now >= d->retry_ms)
				drain_connect(d);
			if (d->state == D_IDLE && d->retry_ms - now < timeout)
				timeout = (int)(d->retry_ms - now) > 0 ? (int)(d->retry_ms - now) : 0;
			dp = &d->next;
		}
		size_t nd = 0;
		for (struct drain *d = drains; d; d = d->next)
			nd++;
		if (cap < nd + 1) {
			cap = nd + 16;
			p = realloc(p, cap * sizeof(*p));
			who = realloc(who, cap * sizeof(*who));
			if (!p || !who)
				abort();
		}
		p[0] = (struct pollfd){ wake[0], POLLIN, 0 };
		who[0] = NULL;
		for (struct drain *d = drains; d; d = d->next) {
			if (d->fd < 0)
				continue;
			short ev = POLLIN;
			if (d->state == D_CONNECTING)
				ev = POLLOUT;
			else if (d->state == D_HANDSHAKE)
				ev = d->want_write ? POLLOUT : POLLIN;
			else if (d->qoff < d->q.len || d->want_write)
				ev |= POLLOUT;
			p[n] = (struct pollfd){ d->fd, ev, 0 };
			who[n++] = d;
		}
		pthread_mutex_unlock(&lock);

		if (poll(p, n, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN) {
			char junk[256];
			while (read(wake[0], junk, sizeof(junk)) > 0)
				;
		}
		pthread_mutex_lock(&lock);
		for (size_t i = 1; i < n; i++) {
			struct drain *d = who[i];
			if (d->dead || d->fd != p[i].fd)
				continue;
			if (d->state == D_CONNECTING && p[i].revents) {
				int soerr = 0;
				socklen_t sl = sizeof(soerr);
				getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
				if (soerr) {
					drain_close(d, strerror(soerr));
					continue;
				}
				if (d->d.tls) {
					d->state = D_HANDSHAKE;
				} else {
					d->state = D_UP;
					drain_up(d);
				}
			}
			if (d->state == D_HANDSHAKE) {
				drain_handshake(d);
				if (d->state == D_UP)
					drain_up(d);
				else
					continue;
			}
			if (d->state == D_UP)
				drain_io(d, p[i].revents);
		}
		/* Queued data with no poll event yet (just connected, or new
		 * lines): try now, the socket is usually writable. */
		for (struct drain *d = drains; d; d = d->next)
			if (!d->dead && d->state == D_UP && d->qoff < d->q.len && !d->want_write)
				drain_io(d, 0);
		if (deis_mono_ms() - last_report >= 10000) {
			last_report = deis_mono_ms();
			for (struct drain *d = drains; d; d = d->next)
				if (d->dropped) {
					deis_log(LOG_WARNING, "app %s: drain %s: %lld lines dropped "
						 "(slow or down)", d->app, d->url, d->dropped);
					d->dropped = 0;
				}
		}
		pthread_mutex_unlock(&lock);
	}
	free(p);
	free(who);
	return NULL;
}

int drains_start(struct deis_error *err)
{
	if (gethostname(hostname, sizeof(hostname) - 1) < 0 || !hostname[0])
		snprintf(hostname, sizeof(hostname), "-");
	for (char *c = hostname; *c; c++)
		if (*c <= ' ' || *c > '~')
			*c = '-';
	if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return deis_error_set(err, errno, "pipe: %s", strerror(errno));
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return deis_error_set(err, ENOMEM, "TLS: cannot make a context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_default_verify_paths(ctx);
	if (logd_conf.drain_ca_file && *logd_conf.drain_ca_file &&
	    SSL_CTX_load_verify_locations(ctx, logd_conf.drain_ca_file, NULL) != 1) {
		char buf[256];
		ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
		deis_log(LOG_WARNING, "drain_ca_file %s: %s", logd_conf.drain_ca_file, buf);
	}
	if (pthread_create(&thread, NULL, drains_main, NULL) != 0)
		return deis_error_set(err, EAGAIN, "cannot start the drain thread");
	started = 1;
	return 0;
}

void drains_stop(void)
{
	if (!started)
		return;
	/* A moment for what is queued to go out. */
	for (int i = 0; i < 20; i++) {
		int busy = 0;
		pthread_mutex_lock(&lock);
		for (struct drain *d = drains; d; d = d->next)
			busy |= d->state == D_UP && d->qoff < d->q.len;
		pthread_mutex_unlock(&lock);
		if (!busy)
			break;
		usleep(50000);
	}
	stopping = 1;
	poke();
	pthread_join(thread, NULL);
	started = 0;
	while (drains) {
		struct drain *d = drains;
		drains = d->next;
		drain_free(d);
	}
	SSL_CTX_free(ctx);
	ctx = NULL;
	deis_kvlist_clear(&node_addrs);
	deis_strlist_clear(&notices);
}
