/*
 * test_cert.c - unit tests for the certificate check (lib/cert.c).
 *
 * Every PEM here is made at run time by the openssl command line tool in
 * a private temporary directory, so the check runs against real OpenSSL
 * output: RSA, EC and Ed25519 keys, PKCS#8 and traditional key files, a
 * wildcard, a CA-signed chain, a certificate valid for one day, encrypted
 * keys, a CSR.  Expected fingerprints and dates are what "openssl x509"
 * prints for the same files.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deis/validate.h"
#include "unit.h"

static char dir[64];
static int setup_failed;

/* Runs a shell command in dir; output goes to dir/log. */
static void sh(const char *fmt, ...)
{
	char cmd[2048], full[2300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && ( %s ) >>log 2>&1", dir, cmd);
	if (system(full) != 0) {
		printf("# setup command failed: %s\n", cmd);
		setup_failed = 1;
	}
}

/* Appends the file dir/name to b. */
static void add_file(struct deis_buf *b, const char *name)
{
	char path[256], chunk[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f) {
		printf("# cannot read %s\n", path);
		setup_failed = 1;
		return;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		deis_buf_add(b, chunk, n);
	fclose(f);
}

/* The concatenation of the named files (NULL-terminated list). */
static char *doc(size_t *len, ...)
{
	struct deis_buf b = DEIS_BUF_INIT;
	const char *name;
	va_list ap;

	va_start(ap, len);
	while ((name = va_arg(ap, const char *)))
		add_file(&b, name);
	va_end(ap);
	return deis_buf_detach(&b, len);
}

/* The first line of the output of a command run in dir, after the first
 * '=' and without the newline (e.g. "notAfter=..." -> "..."). */
static void cmd_value(char *out, size_t size, const char *cmd)
{
	char full[1024], line[512];
	char *eq, *nl;
	FILE *p;

	out[0] = '\0';
	snprintf(full, sizeof(full), "cd '%s' && %s", dir, cmd);
	p = popen(full, "r");
	if (!p)
		return;
	if (fgets(line, sizeof(line), p)) {
		eq = strchr(line, '=');
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		snprintf(out, size, "%s", eq ? eq + 1 : line);
	}
	pclose(p);
}

/* Checks the concatenation of files for domain at now + days; returns
 * the result code and leaves the message in msg. */
static int check_at(const char *domain, double days, struct deis_cert_info *info,
		    char *msg, size_t msgsize, ...)
{
	struct deis_buf b = DEIS_BUF_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	const char *name;
	va_list ap;
	int rc;

	va_start(ap, msgsize);
	while ((name = va_arg(ap, const char *)))
		add_file(&b, name);
	va_end(ap);
	rc = deis_cert_check(deis_buf_str(&b), b.len, domain,
			     time(NULL) + (time_t)(days * 86400), info, &err);
	if (rc < 0 && (rc != -EINVAL || err.code != EINVAL))
		printf("# unexpected code %d/%d\n", rc, err.code);
	snprintf(msg, msgsize, "%s", err.msg);
	deis_buf_release(&b);
	return rc;
}

#define OK(domain, ...) \
	(check_at(domain, 0, NULL, msg, sizeof(msg), __VA_ARGS__, (char *)NULL) == 0)
/* Refused with EINVAL and a message containing want. */
#define REFUSED(want, domain, ...) \
	(check_at(domain, 0, NULL, msg, sizeof(msg), __VA_ARGS__, (char *)NULL) == -EINVAL && \
	 (strstr(msg, want) || (printf("# message: %s\n", msg), 0)))

static void make_pems(void)
{
	const char *req = "openssl req -x509 -nodes -days 30";

	/* RSA, PKCS#8 key, two names. */
	sh("%s -newkey rsa:2048 -keyout k1.pem -out c1.pem -subj /CN=www.example.com "
	   "-addext subjectAltName=DNS:www.example.com,DNS:example.com", req);
	/* EC wildcard. */
	sh("%s -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout k2.pem -out c2.pem "
	   "-subj /CN=*.example.org -addext subjectAltName=DNS:*.example.org", req);
	/* Valid for one day only. */
	sh("openssl req -x509 -nodes -days 1 -newkey rsa:2048 -keyout k3.pem -out c3.pem "
	   "-subj /CN=short.example.com -addext subjectAltName=DNS:short.example.com");
	/* No subjectAltName: only the CN names it. */
	sh("%s -newkey rsa:2048 -keyout k4.pem -out c4.pem -subj /CN=cn.example.net", req);
	/* A CA and a leaf it signs. */
	sh("%s -newkey rsa:2048 -keyout cakey.pem -out ca.pem -subj '/CN=Test CA'", req);
	sh("openssl req -new -nodes -newkey rsa:2048 -keyout k5.pem -out csr.pem "
	   "-subj /CN=api.example.com");
	sh("printf 'subjectAltName=DNS:api.example.com\\n' > ext.cnf");
	sh("openssl x509 -req -in csr.pem -CA ca.pem -CAkey cakey.pem -CAcreateserial "
	   "-days 30 -extfile ext.cnf -out c5.pem");
	/* Traditional ("RSA PRIVATE KEY") and encrypted keys. */
	sh("openssl rsa -in k1.pem -traditional -out k1trad.pem");
	sh("openssl pkey -in k1.pem -aes256 -passout pass:secret -out k1enc.pem");
	sh("openssl rsa -in k1.pem -traditional -aes256 -passout pass:secret -out k1encleg.pem");
	/* "openssl ecparam -genkey" writes EC PARAMETERS before the key. */
	sh("openssl ecparam -genkey -name prime256v1 -out k6.pem");
	sh("%s -key k6.pem -out c6.pem -subj /CN=ec.example.com "
	   "-addext subjectAltName=DNS:ec.example.com", req);
	/* Ed25519. */
	sh("%s -newkey ed25519 -keyout k7.pem -out c7.pem -subj /CN=ed.example.com "
	   "-addext subjectAltName=DNS:ed.example.com", req);
	/* A partial-label wildcard, which browsers do not honour. */
	sh("%s -newkey rsa:2048 -keyout k8.pem -out c8.pem -subj /CN=partial "
	   "-addext subjectAltName=DNS:w*.example.com", req);
	/* What a TLS server at Debian's security level (2) refuses to load:
	 * a 1024-bit RSA key (nginx: "ee key too small"). */
	sh("%s -newkey rsa:1024 -keyout k9.pem -out c9.pem -subj /CN=weak.example.com "
	   "-addext subjectAltName=DNS:weak.example.com", req);
	/* A certificate without its END line, and one with broken base64. */
	sh("head -n -1 c1.pem > c1trunc.pem");
	sh("sed '3s/^..../!!!!/' c1.pem > c1bad64.pem");
	/* Text that is no PEM at all. */
	sh("printf 'this is not a certificate\\n' > garbage.txt");
	sh("printf 'Bag Attributes\\n    localKeyID: 01 02\\nsubject=CN = www.example.com\\n' > notes.txt");
}

TEST(valid_certificate)
{
	struct deis_cert_info info;
	char msg[1024], fp[512], end[512];

	CHECK(OK("www.example.com", "c1.pem", "k1.pem"));
	CHECK(OK("example.com", "c1.pem", "k1.pem"));
	/* Key first, text around the blocks. */
	CHECK(OK("www.example.com", "notes.txt", "k1.pem", "notes.txt", "c1.pem", "garbage.txt"));
	/* Traditional RSA key file. */
	CHECK(OK("www.example.com", "c1.pem", "k1trad.pem"));
	/* EC key with its EC PARAMETERS block; Ed25519. */
	CHECK(OK("ec.example.com", "k6.pem", "c6.pem"));
	CHECK(OK("ed.example.com", "c7.pem", "k7.pem"));

	CHECK(check_at("www.example.com", 0, &info, msg, sizeof(msg),
		       "c1.pem", "k1.pem", (char *)NULL) == 0);
	CHECK_STR(info.subject, "www.example.com");
	cmd_value(fp, sizeof(fp), "openssl x509 -in c1.pem -noout -fingerprint -sha256");
	CHECK(strlen(fp) == 95);
	CHECK_STR(info.fingerprint, fp);
	cmd_value(end, sizeof(end), "openssl x509 -in c1.pem -noout -enddate -dateopt iso_8601");
	/* "2026-12-26 14:02:17Z" -> "2026-12-26T14:02:17Z" */
	if (strlen(end) > 10)
		end[10] = 'T';
	CHECK_STR(info.not_after, end);
}

TEST(chain)
{
	struct deis_cert_info info;
	char msg[1024], fp[512];

	CHECK(check_at("api.example.com", 0, &info, msg, sizeof(msg),
		       "c5.pem", "ca.pem", "k5.pem", (char *)NULL) == 0);
	cmd_value(fp, sizeof(fp), "openssl x509 -in c5.pem -noout -fingerprint -sha256");
	CHECK_STR(info.fingerprint, fp);	/* the leaf's, not the CA's */
	CHECK_STR(info.subject, "api.example.com");
	CHECK(OK("api.example.com", "k5.pem", "c5.pem", "ca.pem"));
	/* The leaf must come first. */
	CHECK(REFUSED("the private key does not match the certificate for 'Test CA'",
		      "api.example.com", "ca.pem", "c5.pem", "k5.pem"));
}

TEST(key_mismatch)
{
	char msg[1024];

	CHECK(REFUSED("does not match", "www.example.com", "c1.pem", "k2.pem"));
	CHECK(REFUSED("does not match", "www.example.com", "c1.pem", "k4.pem"));
	CHECK(REFUSED("does not match", "api.example.com", "c5.pem", "cakey.pem"));
}

TEST(weak_keys_and_signatures)
{
	char msg[1024];

	CHECK(REFUSED("a TLS server refuses", "weak.example.com", "c9.pem", "k9.pem"));
	CHECK(REFUSED("too small", "weak.example.com", "c9.pem", "k9.pem"));
}

TEST(validity_period)
{
	struct deis_cert_info info;
	char msg[1024];

	CHECK(check_at("short.example.com", 0, NULL, msg, sizeof(msg),
		       "c3.pem", "k3.pem", (char *)NULL) == 0);
	CHECK(check_at("short.example.com", 10, &info, msg, sizeof(msg),
		       "c3.pem", "k3.pem", (char *)NULL) == -EINVAL);
	CHECK(strstr(msg, "the certificate for 'short.example.com' expired at ") != NULL);
	CHECK(strstr(msg, info.not_after) != NULL && info.not_after[0] == '2');
	/* info describes the refused certificate too. */
	CHECK_STR(info.subject, "short.example.com");
	CHECK(strlen(info.fingerprint) == 95);
	CHECK(check_at("short.example.com", 2, NULL, msg, sizeof(msg),
		       "c3.pem", "k3.pem", (char *)NULL) == -EINVAL);
	CHECK(check_at("www.example.com", 29, NULL, msg, sizeof(msg),
		       "c1.pem", "k1.pem", (char *)NULL) == 0);
	CHECK(check_at("www.example.com", 31, NULL, msg, sizeof(msg),
		       "c1.pem", "k1.pem", (char *)NULL) == -EINVAL);
	CHECK(strstr(msg, "expired") != NULL);
	CHECK(check_at("www.example.com", -2, NULL, msg, sizeof(msg),
		       "c1.pem", "k1.pem", (char *)NULL) == -EINVAL);
	CHECK(strstr(msg, "is not valid yet") != NULL);
}

TEST(names_and_wildcards)
{
	char msg[1024];

	CHECK(REFUSED("the certificate for 'www.example.com' does not cover 'other.example.com'",
		      "other.example.com", "c1.pem", "k1.pem"));
	CHECK(REFUSED("does not cover", "www.example.co", "c1.pem", "k1.pem"));
	/* A certificate for one host does not cover the wildcard. */
	CHECK(REFUSED("does not cover '*.example.com'", "*.example.com", "c1.pem", "k1.pem"));
	/* A wildcard certificate covers one level of names and itself. */
	CHECK(OK("a.example.org", "c2.pem", "k2.pem"));
	CHECK(OK("www.example.org", "c2.pem", "k2.pem"));
	CHECK(OK("*.example.org", "c2.pem", "k2.pem"));
	CHECK(REFUSED("does not cover", "example.org", "c2.pem", "k2.pem"));
	CHECK(REFUSED("does not cover", "a.b.example.org", "c2.pem", "k2.pem"));
	CHECK(REFUSED("does not cover", "*.b.example.org", "c2.pem", "k2.pem"));
	CHECK(REFUSED("does not cover", "*.example.com", "c2.pem", "k2.pem"));
	CHECK(REFUSED("does not cover", "a.example.com", "c2.pem", "k2.pem"));
	/* The CN counts when there are no DNS names. */
	CHECK(OK("cn.example.net", "c4.pem", "k4.pem"));
	CHECK(REFUSED("does not cover", "www.cn.example.net", "c4.pem", "k4.pem"));
	/* Partial-label wildcards are not honoured. */
	CHECK(REFUSED("does not cover", "www.example.com", "c8.pem", "k8.pem"));
}

TEST(refused_documents)
{
	char msg[1024];

	CHECK(REFUSED("no private key found", "www.example.com", "c1.pem"));
	CHECK(REFUSED("no private key found", "api.example.com", "c5.pem", "ca.pem"));
	CHECK(REFUSED("no certificate found", "www.example.com", "k1.pem"));
	CHECK(REFUSED("no certificate found", "www.example.com", "garbage.txt"));
	CHECK(REFUSED("no certificate found", "www.example.com", "notes.txt"));
	CHECK(REFUSED("more than one private key", "www.example.com", "c1.pem", "k1.pem", "k1.pem"));
	CHECK(REFUSED("more than one private key", "www.example.com", "k2.pem", "c1.pem", "k1.pem"));
	CHECK(REFUSED("the private key is encrypted", "www.example.com", "c1.pem", "k1enc.pem"));
	CHECK(REFUSED("the private key is encrypted", "www.example.com", "c1.pem", "k1encleg.pem"));
	CHECK(REFUSED("unexpected PEM block 'CERTIFICATE REQUEST'", "www.example.com",
		      "c1.pem", "k1.pem", "csr.pem"));
	CHECK(REFUSED("malformed", "www.example.com", "k1.pem", "c1trunc.pem"));
	CHECK(REFUSED("PEM block", "www.example.com", "k1.pem", "c1bad64.pem"));
}

TEST(refused_bytes_and_domains)
{
	struct deis_error err = DEIS_ERROR_INIT;
	size_t len, big = 10 * 1024 * 1024;
	char *pem = doc(&len, "c1.pem", "k1.pem", (char *)NULL);
	char *huge = malloc(big);
	time_t now = time(NULL);

	CHECK(deis_cert_check(pem, len, "www.example.com", now, NULL, &err) == 0);
	CHECK(deis_cert_check(pem, len, "x.com; include /etc/passwd", now, NULL, &err) == -EINVAL);
	CHECK(strstr(err.msg, "'x.com; include /etc/passwd' is not a valid host name") != NULL);
	CHECK(deis_cert_check(pem, len, "www.example.com\n", now, NULL, &err) == -EINVAL);
	CHECK(strstr(err.msg, "'www.example.com\\x0a' is not a valid host name") != NULL);
	CHECK(deis_cert_check(pem, len, "WWW.example.com", now, NULL, &err) == -EINVAL);
	CHECK(deis_cert_check(pem, len, "../../etc/passwd", now, NULL, &err) == -EINVAL);
	CHECK(deis_cert_check(pem, len, "", now, NULL, &err) == -EINVAL);
	CHECK(deis_cert_check(pem, len, NULL, now, NULL, &err) == -EINVAL);
	CHECK(deis_cert_check("", 0, "www.example.com", now, NULL, &err) == -EINVAL);
	CHECK(strstr(err.msg, "no certificate found") != NULL);
	/* A NUL byte anywhere. */
	pem[len / 2] = '\0';
	CHECK(deis_cert_check(pem, len, "www.example.com", now, NULL, &err) == -EINVAL);
	CHECK(strstr(err.msg, "NUL") != NULL);
	/* 10 MB, and one byte over the limit. */
	memset(huge, '\n', big);
	CHECK(deis_cert_check(huge, big, "www.example.com", now, NULL, &err) == -EINVAL);
	CHECK(strstr(err.msg, "too long") != NULL);
	CHECK(deis_cert_check(huge, DEIS_CERT_MAX + 1, "www.example.com", now, NULL, &err) == -EINVAL);
	CHECK(strstr(err.msg, "too long") != NULL);
	CHECK(err.code == EINVAL);
	free(pem);
	free(huge);
}

int main(void)
{
	char cmd[128];

	snprintf(dir, sizeof(dir), "/tmp/deis-test-cert.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	make_pems();
	if (setup_failed) {
		printf("not ok 1 - setup (see %s/log)\n1..1\n", dir);
		return 1;
	}
	RUN(valid_certificate);
	RUN(chain);
	RUN(key_mismatch);
	RUN(weak_keys_and_signatures);
	RUN(validity_period);
	RUN(names_and_wildcards);
	RUN(refused_documents);
	RUN(refused_bytes_and_domains);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return unit_done();
}
