/*
 * test_format.c - unit tests for the small control files (lib/format.c):
 * formation, limits, domains, perms, healthcheck, maintenance, rollback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/validate.h"
#include "unit.h"

typedef int (*kvparse_fn)(const char *, size_t, struct deis_kvlist *,
			  struct deis_error *);
typedef int (*strparse_fn)(const char *, size_t, struct deis_strlist *,
			   struct deis_error *);

/* Parses s with f and returns the canonical text ("key=value\n"...), or
 * "ERR: <message>" (static buffer). */
static const char *kv(kvparse_fn f, const char *s)
{
	static char out[4096];
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf b = DEIS_BUF_INIT;
	int rc = f(s, strlen(s), &l, &err);

	if (rc < 0) {
		if (rc != -EINVAL || err.code != EINVAL)
			snprintf(out, sizeof(out), "BAD CODE %d/%d: %s", rc, err.code, err.msg);
		else
			snprintf(out, sizeof(out), "ERR: %s", err.msg);
	} else {
		deis_keyvalue_lines_format(&l, &b);
		snprintf(out, sizeof(out), "%s", deis_buf_str(&b));
	}
	deis_buf_release(&b);
	deis_kvlist_clear(&l);
	return out;
}

static const char *strs(strparse_fn f, const char *s)
{
	static char out[8192];
	struct deis_strlist l = DEIS_STRLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf b = DEIS_BUF_INIT;
	int rc = f(s, strlen(s), &l, &err);

	if (rc < 0) {
		if (rc != -EINVAL || err.code != EINVAL)
			snprintf(out, sizeof(out), "BAD CODE %d/%d: %s", rc, err.code, err.msg);
		else
			snprintf(out, sizeof(out), "ERR: %s", err.msg);
	} else {
		deis_lines_format(&l, &b);
		snprintf(out, sizeof(out), "%s", deis_buf_str(&b));
	}
	deis_buf_release(&b);
	deis_strlist_clear(&l);
	return out;
}

/* True when the result is a refusal whose message contains want. */
static int err_has(const char *res, const char *want)
{
	int ok = !strncmp(res, "ERR: ", 5) && strstr(res, want);

	if (!ok)
		printf("# got \"%s\", want an error containing \"%s\"\n", res, want);
	return ok;
}

/* parse(format(parse(s))) gives the same list. */
static int kv_round_trip(kvparse_fn f, const char *s)
{
	struct deis_kvlist a = DEIS_KVLIST_INIT, b = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf t = DEIS_BUF_INIT;
	int ok = f(s, strlen(s), &a, &err) == 0;

	deis_keyvalue_lines_format(&a, &t);
	ok = ok && f(deis_buf_str(&t), t.len, &b, &err) == 0 &&
	     deis_kvlist_equal(&a, &b) && a.n == b.n;
	for (size_t i = 0; ok && i < a.n; i++)	/* same order too */
		ok = !strcmp(a.items[i].key, b.items[i].key);
	deis_kvlist_clear(&a);
	deis_kvlist_clear(&b);
	deis_buf_release(&t);
	return ok;
}

static int str_round_trip(strparse_fn f, const char *s)
{
	struct deis_strlist a = DEIS_STRLIST_INIT, b = DEIS_STRLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf t = DEIS_BUF_INIT;
	int ok = f(s, strlen(s), &a, &err) == 0;

	deis_lines_format(&a, &t);
	ok = ok && f(deis_buf_str(&t), t.len, &b, &err) == 0 &&
	     deis_strlist_equal(&a, &b);
	deis_strlist_clear(&a);
	deis_strlist_clear(&b);
	deis_buf_release(&t);
	return ok;
}

/* Every parser refuses NUL bytes, 64 KiB + 1 and 10 MB. */
static void check_size_and_nul(kvparse_fn kf, strparse_fn sf, const char *what)
{
	size_t big = 10 * 1024 * 1024;
	char *s = malloc(big);
	struct deis_kvlist kl = DEIS_KVLIST_INIT;
	struct deis_strlist sl = DEIS_STRLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	size_t sizes[2] = { DEIS_CONTROL_MAX + 1, big };

	memset(s, ' ', big);
	for (int i = 0; i < 2; i++) {
		int rc = kf ? kf(s, sizes[i], &kl, &err) : sf(s, sizes[i], &sl, &err);

		CHECK(rc == -EINVAL && err.code == EINVAL);
		CHECK(strstr(err.msg, what) && strstr(err.msg, "too long"));
		deis_error_clear(&err);
	}
	/* Exactly the limit is read (all blanks: an empty value). */
	CHECK((kf ? kf(s, DEIS_CONTROL_MAX, &kl, &err)
		  : sf(s, DEIS_CONTROL_MAX, &sl, &err)) == 0);
	memcpy(s, "web", 3);
	s[1] = '\0';
	CHECK((kf ? kf(s, 4, &kl, &err) : sf(s, 4, &sl, &err)) == -EINVAL);
	CHECK(err.code == EINVAL && strstr(err.msg, "NUL"));
	deis_kvlist_clear(&kl);
	deis_strlist_clear(&sl);
	free(s);
}

/* ---- formation ---- */

TEST(formation_parse)
{
	CHECK_STR(kv(deis_formation_parse, "web=2 worker=1"), "web=2\nworker=1\n");
	CHECK_STR(kv(deis_formation_parse, "worker=1\nweb=2\n"), "web=2\nworker=1\n");
	CHECK_STR(kv(deis_formation_parse, "\tclock=0\r\nweb=007  "), "clock=0\nweb=7\n");
	CHECK_STR(kv(deis_formation_parse, "web=1000"), "web=1000\n");
	CHECK_STR(kv(deis_formation_parse, "a-b_c=3"), "a-b_c=3\n");
	CHECK_STR(kv(deis_formation_parse, ""), "");
	CHECK_STR(kv(deis_formation_parse, " \n\n"), "");
	CHECK(kv_round_trip(deis_formation_parse, "worker=1 web=2 clock=0"));
}

TEST(formation_refusals)
{
	CHECK_STR(kv(deis_formation_parse, "web=abc"),
		  "ERR: formation: 'web=abc': quantity must be a number from 0 to 1000");
	CHECK(err_has(kv(deis_formation_parse, "web=1001"), "'web=1001': quantity"));
	CHECK(err_has(kv(deis_formation_parse, "web=-1"), "quantity"));
	CHECK(err_has(kv(deis_formation_parse, "web=+1"), "quantity"));
	CHECK(err_has(kv(deis_formation_parse, "web="), "quantity"));
	CHECK(err_has(kv(deis_formation_parse, "web=1.5"), "quantity"));
	CHECK(err_has(kv(deis_formation_parse, "web=99999999999999999999999999"), "quantity"));
	CHECK(err_has(kv(deis_formation_parse, "web=1=2"), "quantity"));
	CHECK(err_has(kv(deis_formation_parse, "web=2;id"), "'web=2;id'"));
	CHECK(err_has(kv(deis_formation_parse, "web"), "'web': expected type=N"));
	CHECK(err_has(kv(deis_formation_parse, "web:2"), "expected type=N"));
	CHECK(err_has(kv(deis_formation_parse, "=2"), "not a valid process type"));
	CHECK(err_has(kv(deis_formation_parse, "Web=1"), "'Web=1': not a valid process type"));
	CHECK(err_has(kv(deis_formation_parse, "run=1"), "not a valid process type"));
	CHECK(err_has(kv(deis_formation_parse, "$(id)=1"), "'$(id)=1'"));
	CHECK(err_has(kv(deis_formation_parse, "../x=1"), "not a valid process type"));
	CHECK(err_has(kv(deis_formation_parse, "x;id=1"), "not a valid process type"));
	CHECK(err_has(kv(deis_formation_parse,
			 "abcdefghijabcdefghijabcdefghijk=1"), "not a valid process type"));
	CHECK(err_has(kv(deis_formation_parse, "web=1 worker=2 web=3"),
		      "formation: 'web' is given twice"));
	check_size_and_nul(deis_formation_parse, NULL, "formation");
}

TEST(formation_out_unchanged_on_error)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(deis_formation_parse("web=1", 5, &l, &err) == 0);
	CHECK(deis_formation_parse("web=2 x=y", 9, &l, &err) == -EINVAL);
	CHECK(l.n == 1);
	CHECK_STR(deis_kvlist_get(&l, "web"), "1");
	deis_kvlist_clear(&l);
}

TEST(formation_format)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_buf b = DEIS_BUF_INIT;

	deis_kvlist_set(&l, "worker", "3");
	deis_kvlist_set(&l, "web", "1");
	deis_formation_format(&l, &b);
	CHECK_STR(deis_buf_str(&b), "worker=3\nweb=1\n");	/* list order */
	deis_buf_release(&b);
	deis_kvlist_clear(&l);
}

/* Many distinct types in one 64 KiB write stay fast and correct. */
TEST(formation_many_types)
{
	struct deis_buf doc = DEIS_BUF_INIT;
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	int n;

	for (n = 0; doc.len < DEIS_CONTROL_MAX - 16; n++)
		deis_buf_addf(&doc, "t%d=1\n", n);
	CHECK(deis_formation_parse(doc.data, doc.len, &l, &err) == 0);
	CHECK((int)l.n == n);
	deis_buf_addf(&doc, "t%d=2\n", n / 2);
	CHECK(deis_formation_parse(doc.data, doc.len, &l, &err) == -EINVAL);
	CHECK(strstr(err.msg, "given twice") != NULL);
	deis_kvlist_clear(&l);
	deis_buf_release(&doc);
}

/* ---- limits ---- */

TEST(limits_parse_canonical)
{
	CHECK_STR(kv(deis_limits_parse, "web.memory=512M\nweb.cpu=0.5"),
		  "web.cpu=0.5\nweb.memory=512M\n");
	CHECK_STR(kv(deis_limits_parse, "web.memory=1024M"), "web.memory=1G\n");
	CHECK_STR(kv(deis_limits_parse, "web.memory=4096K"), "web.memory=4M\n");
	CHECK_STR(kv(deis_limits_parse, "web.memory=4194304"), "web.memory=4M\n");
	CHECK_STR(kv(deis_limits_parse, "web.memory=4194305"), "web.memory=4194305\n");
	CHECK_STR(kv(deis_limits_parse, "web.memory=4198400"), "web.memory=4100K\n");
	CHECK_STR(kv(deis_limits_parse, "web.memory=512m"), "web.memory=512M\n");
	CHECK_STR(kv(deis_limits_parse, "web.memory=2g"), "web.memory=2G\n");
	CHECK_STR(kv(deis_limits_parse, "web.memory=1536M"), "web.memory=1536M\n");
	CHECK_STR(kv(deis_limits_parse, "web.memory=1024G"), "web.memory=1024G\n");
	CHECK_STR(kv(deis_limits_parse, "web.memory=1048576M"), "web.memory=1024G\n");
	CHECK_STR(kv(deis_limits_parse, "web.memory=0512M"), "web.memory=512M\n");
	CHECK_STR(kv(deis_limits_parse, "web.cpu=0.50"), "web.cpu=0.5\n");
	CHECK_STR(kv(deis_limits_parse, "web.cpu=2.000"), "web.cpu=2\n");
	CHECK_STR(kv(deis_limits_parse, "web.cpu=2"), "web.cpu=2\n");
	CHECK_STR(kv(deis_limits_parse, "web.cpu=.25"), "web.cpu=0.25\n");
	CHECK_STR(kv(deis_limits_parse, "web.cpu=1.125"), "web.cpu=1.125\n");
	CHECK_STR(kv(deis_limits_parse, "web.cpu=0.01"), "web.cpu=0.01\n");
	CHECK_STR(kv(deis_limits_parse, "web.cpu=0.015"), "web.cpu=0.015\n");
	CHECK_STR(kv(deis_limits_parse, "web.cpu=256"), "web.cpu=256\n");
	CHECK_STR(kv(deis_limits_parse, "web.cpu=10.10"), "web.cpu=10.1\n");
	CHECK_STR(kv(deis_limits_parse, "web.pids=16"), "web.pids=16\n");
	CHECK_STR(kv(deis_limits_parse, "web.pids=0100"), "web.pids=100\n");
	CHECK_STR(kv(deis_limits_parse, "web.pids=1048576"), "web.pids=1048576\n");
	CHECK_STR(kv(deis_limits_parse,
		     "worker.pids=64 web.memory=1G\r\n web.cpu=1 worker.memory=256M"),
		  "web.cpu=1\nweb.memory=1G\nworker.memory=256M\nworker.pids=64\n");
	CHECK_STR(kv(deis_limits_parse, ""), "");
	CHECK(kv_round_trip(deis_limits_parse,
			    "web.memory=4194305 web.cpu=.5 web.pids=0099 w.memory=3072m"));
}

TEST(limits_refusals)
{
	CHECK(err_has(kv(deis_limits_parse, "web.memory=1T"),
		      "limits: 'web.memory=1T': memory must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory=2048G"), "memory must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory=1025G"), "memory must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory=3M"), "memory must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory=4194303"), "memory must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory=1.5G"), "memory must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory=M"), "memory must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory="), "memory must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory=512MB"), "memory must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory=-512M"), "memory must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory=99999999999999999999999G"),
		      "memory must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=0.009"),
		      "limits: 'web.cpu=0.009': cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=0"), "cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=0.0001"), "cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=256.001"), "cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=257"), "cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=2."), "cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=."), "cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=-1"), "cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=1e2"), "cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=0x10"), "cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=500m"), "cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.cpu=1.2.3"), "cpu must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.pids=15"), "pids must be a whole number from 16 to 1048576"));
	CHECK(err_has(kv(deis_limits_parse, "web.pids=1048577"), "pids must be"));
	CHECK(err_has(kv(deis_limits_parse, "web.pids=1k"), "pids must be"));
	CHECK(err_has(kv(deis_limits_parse, "web=512M"), "'web=512M': expected type.resource=value"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory"), "expected type.resource=value"));
	CHECK(err_has(kv(deis_limits_parse, "web.disk=1G"), "'web.disk=1G': unknown resource"));
	CHECK(err_has(kv(deis_limits_parse, "web.memoryx=1G"), "unknown resource"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory.x=1G"), "unknown resource"));
	CHECK(err_has(kv(deis_limits_parse, "Web.memory=1G"), "not a valid process type"));
	CHECK(err_has(kv(deis_limits_parse, "run.memory=1G"), "not a valid process type"));
	CHECK(err_has(kv(deis_limits_parse, ".memory=1G"), "not a valid process type"));
	CHECK(err_has(kv(deis_limits_parse, "$(id).memory=1G"), "not a valid process type"));
	CHECK(err_has(kv(deis_limits_parse, "web.memory=1G web.memory=2G"),
		      "limits: 'web.memory' is given twice"));
	check_size_and_nul(deis_limits_parse, NULL, "limits");
}

TEST(limits_helpers)
{
	CHECK(deis_limits_memory_bytes("512M") == 536870912LL);
	CHECK(deis_limits_memory_bytes("1G") == 1073741824LL);
	CHECK(deis_limits_memory_bytes("1024G") == 1099511627776LL);
	CHECK(deis_limits_memory_bytes("4100K") == 4198400LL);
	CHECK(deis_limits_memory_bytes("4194305") == 4194305LL);
	CHECK(deis_limits_memory_bytes("junk") == -1);
	CHECK(deis_limits_memory_bytes("1T") == -1);
	CHECK(deis_limits_memory_bytes("") == -1);
	CHECK(deis_limits_memory_bytes(NULL) == -1);
	CHECK(deis_limits_cpu_millis("0.5") == 500);
	CHECK(deis_limits_cpu_millis("2") == 2000);
	CHECK(deis_limits_cpu_millis("0.015") == 15);
	CHECK(deis_limits_cpu_millis("256") == 256000);
	CHECK(deis_limits_cpu_millis("x") == -1);
	CHECK(deis_limits_cpu_millis("0") == -1);
	CHECK(deis_limits_cpu_millis("") == -1);
	CHECK(deis_limits_cpu_millis(NULL) == -1);
}

TEST(limits_format)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_buf b = DEIS_BUF_INIT;

	deis_kvlist_set(&l, "web.memory", "1G");
	deis_kvlist_set(&l, "web.cpu", "0.5");
	deis_limits_format(&l, &b);
	CHECK_STR(deis_buf_str(&b), "web.memory=1G\nweb.cpu=0.5\n");
	deis_buf_release(&b);
	deis_kvlist_clear(&l);
}

/* ---- domains ---- */

TEST(domains_parse)
{
	CHECK_STR(strs(deis_domains_parse,
		       "www.example.com\nExample.COM  *.example.org\nwww.example.com\n"),
		  "www.example.com\nexample.com\n*.example.org\n");
	CHECK_STR(strs(deis_domains_parse, "b.example.com a.example.com"),
		  "b.example.com\na.example.com\n");	/* order kept */
	CHECK_STR(strs(deis_domains_parse, "WWW.EXAMPLE.COM www.example.com"),
		  "www.example.com\n");
	CHECK_STR(strs(deis_domains_parse, ""), "");
	CHECK(str_round_trip(deis_domains_parse, "x.example.com\r\n*.y.example.com\n"));
}

TEST(domains_refusals)
{
	char long_tok[10000];
	struct deis_buf doc = DEIS_BUF_INIT;
	const char *res;

	CHECK(err_has(strs(deis_domains_parse, "x.com; include /etc/passwd"),
		      "domains: 'x.com;' is not a valid host name"));
	/* A newline separates: the second line is checked on its own. */
	CHECK(err_has(strs(deis_domains_parse, "x.com\ninclude /etc/passwd;"), "'include'"));
	CHECK(err_has(strs(deis_domains_parse, "localhost"), "'localhost'"));
	CHECK(err_has(strs(deis_domains_parse, "-foo.com"), "'-foo.com'"));
	CHECK(err_has(strs(deis_domains_parse, "a..b.com"), "not a valid host name"));
	CHECK(err_has(strs(deis_domains_parse, "127.0.0.1"), "not a valid host name"));
	CHECK(err_has(strs(deis_domains_parse, "*.com"), "not a valid host name"));
	CHECK(err_has(strs(deis_domains_parse, "example.com."), "not a valid host name"));
	CHECK(err_has(strs(deis_domains_parse, "x_y.example.com"), "not a valid host name"));
	CHECK(err_has(strs(deis_domains_parse, "$(id).example.com"), "not a valid host name"));
	CHECK(err_has(strs(deis_domains_parse, "\xc3\xa9.example.com"), "'\\xc3\\xa9.example.com'"));
	memset(long_tok, 'a', sizeof(long_tok) - 5);
	memcpy(long_tok + sizeof(long_tok) - 5, ".com", 5);
	res = strs(deis_domains_parse, long_tok);
	CHECK(err_has(res, "...' is not a valid host name"));
	CHECK(strlen(res) < 400);		/* the item is cut in messages */
	/* 100 domains are fine, 101 are not (repeats do not count). */
	for (int i = 0; i < 100; i++)
		deis_buf_addf(&doc, "d%d.example.com\nd%d.example.com\n", i, i);
	CHECK(!strncmp(strs(deis_domains_parse, doc.data), "d0.example.com\n", 15));
	deis_buf_adds(&doc, "one-more.example.com\n");
	CHECK(err_has(strs(deis_domains_parse, doc.data), "101 domains given, at most 100"));
	deis_buf_release(&doc);
	check_size_and_nul(NULL, deis_domains_parse, "domains");
}

/* ---- perms ---- */

TEST(perms_parse)
{
	CHECK_STR(strs(deis_perms_parse, "alice bob\nalice\n_svc\tbob-2\n"),
		  "alice\nbob\n_svc\nbob-2\n");
	CHECK_STR(strs(deis_perms_parse, "\n"), "");
	CHECK(str_round_trip(deis_perms_parse, "carol alice carol"));
}

TEST(perms_refusals)
{
	CHECK(err_has(strs(deis_perms_parse, "alice Alice"),
		      "perms: 'Alice' is not a valid user name"));
	CHECK(err_has(strs(deis_perms_parse, "root;id"), "'root;id'"));
	CHECK(err_has(strs(deis_perms_parse, "../x"), "'../x'"));
	CHECK(err_has(strs(deis_perms_parse, "-foo"), "'-foo'"));
	CHECK(err_has(strs(deis_perms_parse, "$(id)"), "'$(id)'"));
	CHECK(err_has(strs(deis_perms_parse, "machine$"), "not a valid user name"));
	CHECK(err_has(strs(deis_perms_parse, "abcdefghijabcdefghijabcdefghijabc"),
		      "not a valid user name"));
	CHECK_STR(strs(deis_perms_parse, "abcdefghijabcdefghijabcdefghijab"),
		  "abcdefghijabcdefghijabcdefghijab\n");
	check_size_and_nul(NULL, deis_perms_parse, "perms");
}

TEST(perms_many_users)
{
	struct deis_buf doc = DEIS_BUF_INIT;
	struct deis_strlist l = DEIS_STRLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	int n;

	for (n = 0; doc.len < DEIS_CONTROL_MAX - 32; n++)
		deis_buf_addf(&doc, "u%d u%d\n", n, n / 2);
	CHECK(deis_perms_parse(doc.data, doc.len, &l, &err) == 0);
	CHECK((int)l.n == n);
	CHECK_STR(l.items[0], "u0");
	CHECK_STR(l.items[1], "u1");
	CHECK_STR(l.items[2], "u2");
	deis_strlist_clear(&l);
	deis_buf_release(&doc);
}

/* ---- healthcheck ---- */

TEST(healthcheck_parse)
{
	CHECK_STR(kv(deis_healthcheck_parse, "path=/healthz\ntimeout=5"),
		  "path=/healthz\ntimeout=5\n");
	CHECK_STR(kv(deis_healthcheck_parse, "interval=10 timeout=05 path=/x?y=1&z=%20"),
		  "path=/x?y=1&z=%20\ntimeout=5\ninterval=10\n");
	CHECK_STR(kv(deis_healthcheck_parse, "interval=300\n"), "interval=300\n");
	CHECK_STR(kv(deis_healthcheck_parse, "path=/"), "path=/\n");
	CHECK_STR(kv(deis_healthcheck_parse, ""), "");
	CHECK(kv_round_trip(deis_healthcheck_parse, "timeout=1 path=/a/b interval=2"));
}

TEST(healthcheck_refusals)
{
	char path[1100];

	CHECK(err_has(kv(deis_healthcheck_parse, "path=healthz"),
		      "healthcheck: 'path=healthz': path must start with '/'"));
	CHECK(err_has(kv(deis_healthcheck_parse, "path="), "path must start"));
	CHECK(err_has(kv(deis_healthcheck_parse, "path=/a\x7f"), "path must start"));
	CHECK(err_has(kv(deis_healthcheck_parse, "path=/\xc3\xa9"), "path must start"));
	CHECK(err_has(kv(deis_healthcheck_parse, "path=/a\x01"), "path must start"));
	memcpy(path, "path=/", 6);
	memset(path + 6, 'p', 1023);
	path[6 + 1023] = '\0';
	CHECK(!strncmp(kv(deis_healthcheck_parse, path), "path=/ppp", 9));
	memcpy(path + 6 + 1023, "p", 2);
	CHECK(err_has(kv(deis_healthcheck_parse, path), "at most 1024 bytes"));
	CHECK(err_has(kv(deis_healthcheck_parse, "timeout=0"),
		      "healthcheck: 'timeout=0': timeout must be seconds from 1 to 300"));
	CHECK(err_has(kv(deis_healthcheck_parse, "timeout=301"), "timeout must be"));
	CHECK(err_has(kv(deis_healthcheck_parse, "timeout=abc"), "timeout must be"));
	CHECK(err_has(kv(deis_healthcheck_parse, "timeout=5s"), "timeout must be"));
	CHECK(err_has(kv(deis_healthcheck_parse, "interval=-1"), "interval must be"));
	CHECK(err_has(kv(deis_healthcheck_parse, "port=80"), "'port=80': expected path="));
	CHECK(err_has(kv(deis_healthcheck_parse, "PATH=/x"), "expected path="));
	CHECK(err_has(kv(deis_healthcheck_parse, "path"), "expected path="));
	CHECK(err_has(kv(deis_healthcheck_parse, "path=/a path=/b"),
		      "healthcheck: 'path' is given twice"));
	check_size_and_nul(deis_healthcheck_parse, NULL, "healthcheck");
}

/* ---- maintenance ---- */

static int onoff(const char *s)
{
	struct deis_error err = DEIS_ERROR_INIT;
	bool v = false;
	int rc = deis_onoff_parse(s, strlen(s), &v, &err);

	if (rc < 0)
		return rc == -EINVAL && err.code == EINVAL &&
		       strstr(err.msg, "maintenance") ? -1 : -2;
	return v;
}

TEST(onoff)
{
	struct deis_error err = DEIS_ERROR_INIT;
	bool v = true;

	CHECK(onoff("on") == 1);
	CHECK(onoff("ON") == 1);
	CHECK(onoff(" On\n") == 1);
	CHECK(onoff("1\n") == 1);
	CHECK(onoff("true") == 1);
	CHECK(onoff("Yes") == 1);
	CHECK(onoff("off") == 0);
	CHECK(onoff("OFF\r\n") == 0);
	CHECK(onoff("0") == 0);
	CHECK(onoff("false") == 0);
	CHECK(onoff("no") == 0);
	CHECK(onoff("") == -1);
	CHECK(onoff("\n") == -1);
	CHECK(onoff("maybe") == -1);
	CHECK(onoff("onn") == -1);
	CHECK(onoff("o n") == -1);
	CHECK(onoff("on off") == -1);
	CHECK(onoff("2") == -1);
	CHECK(onoff("y") == -1);
	CHECK(deis_onoff_parse("maybe\n", 6, &v, &err) == -EINVAL);
	CHECK_STR(err.msg, "maintenance: 'maybe': expected on or off (or 1/0, true/false, yes/no)");
	CHECK(v == true);		/* untouched on error */
	CHECK(deis_onoff_parse("on\0", 3, &v, &err) == -EINVAL);
	CHECK(strstr(err.msg, "NUL") != NULL);
}

/* ---- rollback ---- */

static int version(const char *s)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int v = -99;
	int rc = deis_version_parse(s, strlen(s), &v, &err);

	if (rc < 0)
		return rc == -EINVAL && err.code == EINVAL &&
		       strstr(err.msg, "release version") ? -1 : -2;
	return v;
}

TEST(version)
{
	struct deis_error err = DEIS_ERROR_INIT;
	int v;

	CHECK(version("v3") == 3);
	CHECK(version("3") == 3);
	CHECK(version("v3\n") == 3);
	CHECK(version(" V12 ") == 12);
	CHECK(version("v007") == 7);
	CHECK(version("v2147483647") == 2147483647);
	CHECK(version("v2147483648") == -1);
	CHECK(version("v99999999999999999999999") == -1);
	CHECK(version("v0") == -1);
	CHECK(version("0") == -1);
	CHECK(version("v") == -1);
	CHECK(version("") == -1);
	CHECK(version("vv3") == -1);
	CHECK(version("v-1") == -1);
	CHECK(version("v3x") == -1);
	CHECK(version("3.0") == -1);
	CHECK(version("v 3") == -1);
	CHECK(version("v3 v4") == -1);
	CHECK(deis_version_parse("x;id", 4, &v, &err) == -EINVAL);
	CHECK_STR(err.msg, "rollback: 'x;id': expected a release version such as v3");
	CHECK(deis_version_parse("v3\0", 3, &v, &err) == -EINVAL);
	CHECK(strstr(err.msg, "NUL") != NULL);
}

TEST(small_files_size_limits)
{
	size_t big = 10 * 1024 * 1024;
	char *s = malloc(big);
	struct deis_error err = DEIS_ERROR_INIT;
	bool b;
	int v;

	memset(s, ' ', big);
	memcpy(s, "on", 2);
	CHECK(deis_onoff_parse(s, big, &b, &err) == -EINVAL);
	CHECK(strstr(err.msg, "too long") != NULL);
	memcpy(s, "v3", 2);
	CHECK(deis_version_parse(s, big, &v, &err) == -EINVAL);
	CHECK(strstr(err.msg, "too long") != NULL);
	free(s);
}

int main(void)
{
	RUN(formation_parse);
	RUN(formation_refusals);
	RUN(formation_out_unchanged_on_error);
	RUN(formation_format);
	RUN(formation_many_types);
	RUN(limits_parse_canonical);
	RUN(limits_refusals);
	RUN(limits_helpers);
	RUN(limits_format);
	RUN(domains_parse);
	RUN(domains_refusals);
	RUN(perms_parse);
	RUN(perms_refusals);
	RUN(perms_many_users);
	RUN(healthcheck_parse);
	RUN(healthcheck_refusals);
	RUN(onoff);
	RUN(version);
	RUN(small_files_size_limits);
	return unit_done();
}
