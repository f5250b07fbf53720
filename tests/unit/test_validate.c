/*
 * test_validate.c - unit tests for the name grammars and deis_printable()
 * (lib/validate.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/validate.h"
#include "unit.h"

/* A string of n copies of c (static buffer, n < 600). */
static const char *rep(char c, size_t n)
{
	static char b[600];

	memset(b, c, n);
	b[n] = '\0';
	return b;
}

/* Names an attacker would try against paths, shells, SQL and nginx. */
static const char *const hostile[] = {
	"", "../x", "..", ".", "x/y", "x;id", "$(id)", "`id`", "a b", "a\tb",
	"a\nb", "x'y", "x\"y", "x\\y", "-foo", "x%00", "x.com; include /etc/passwd",
	"\xc3\xa9t\xc3\xa9", "*", NULL,
};

TEST(app_names)
{
	CHECK(deis_valid_app_name("hello"));
	CHECK(deis_valid_app_name("a"));
	CHECK(deis_valid_app_name("0"));
	CHECK(deis_valid_app_name("my-app-2"));
	CHECK(deis_valid_app_name("9lives"));
	CHECK(deis_valid_app_name(rep('a', 63)));
	CHECK(!deis_valid_app_name(rep('a', 64)));
	CHECK(!deis_valid_app_name("Hello"));
	CHECK(!deis_valid_app_name("HELLO"));
	CHECK(!deis_valid_app_name("-foo"));
	CHECK(!deis_valid_app_name("foo-"));
	CHECK(!deis_valid_app_name("my_app"));
	CHECK(!deis_valid_app_name("my.app"));
	CHECK(!deis_valid_app_name(NULL));
	for (int i = 0; hostile[i]; i++)
		CHECK(!deis_valid_app_name(hostile[i]));
}

TEST(config_keys)
{
	CHECK(deis_valid_config_key("DATABASE_URL"));
	CHECK(deis_valid_config_key("_"));
	CHECK(deis_valid_config_key("_X1"));
	CHECK(deis_valid_config_key("lower_case"));
	CHECK(deis_valid_config_key("A1"));
	CHECK(deis_valid_config_key(rep('K', 255)));
	CHECK(!deis_valid_config_key(rep('K', 256)));
	CHECK(!deis_valid_config_key("1A"));
	CHECK(!deis_valid_config_key("A-B"));
	CHECK(!deis_valid_config_key("A.B"));
	CHECK(!deis_valid_config_key("A=B"));
	CHECK(!deis_valid_config_key(NULL));
	for (int i = 0; hostile[i]; i++)
		CHECK(!deis_valid_config_key(hostile[i]));
}

TEST(user_names)
{
	CHECK(deis_valid_user_name("alice"));
	CHECK(deis_valid_user_name("_apt"));
	CHECK(deis_valid_user_name("bob-2_x"));
	CHECK(deis_valid_user_name(rep('u', 32)));
	CHECK(!deis_valid_user_name(rep('u', 33)));
	CHECK(!deis_valid_user_name("Alice"));
	CHECK(!deis_valid_user_name("1alice"));
	CHECK(!deis_valid_user_name("-alice"));
	CHECK(!deis_valid_user_name("machine$"));
	CHECK(!deis_valid_user_name("a.b"));
	CHECK(!deis_valid_user_name("a@b"));
	CHECK(!deis_valid_user_name(NULL));
	for (int i = 0; hostile[i]; i++)
		CHECK(!deis_valid_user_name(hostile[i]));
}

TEST(key_names)
{
	CHECK(deis_valid_key_name("laptop"));
	CHECK(deis_valid_key_name("alice@laptop"));
	CHECK(deis_valid_key_name("id_ed25519.pub"));
	CHECK(deis_valid_key_name("Work-Key_2"));
	CHECK(deis_valid_key_name("9"));
	CHECK(deis_valid_key_name(rep('k', 64)));
	CHECK(!deis_valid_key_name(rep('k', 65)));
	CHECK(!deis_valid_key_name(".hidden"));
	CHECK(!deis_valid_key_name("_x"));
	CHECK(!deis_valid_key_name("a/b"));
	CHECK(!deis_valid_key_name("a+b"));
	CHECK(!deis_valid_key_name(NULL));
	for (int i = 0; hostile[i]; i++)
		CHECK(!deis_valid_key_name(hostile[i]));
}

TEST(proc_types)
{
	CHECK(deis_valid_proc_type("web"));
	CHECK(deis_valid_proc_type("worker"));
	CHECK(deis_valid_proc_type("clock_2"));
	CHECK(deis_valid_proc_type("a-b"));
	CHECK(deis_valid_proc_type("release"));
	CHECK(deis_valid_proc_type("runner"));
	CHECK(deis_valid_proc_type(rep('w', 30)));
	CHECK(!deis_valid_proc_type(rep('w', 31)));
	CHECK(!deis_valid_proc_type("run"));
	CHECK(!deis_valid_proc_type("Web"));
	CHECK(!deis_valid_proc_type("2web"));
	CHECK(!deis_valid_proc_type("_web"));
	CHECK(!deis_valid_proc_type("web.1"));
	CHECK(!deis_valid_proc_type(NULL));
	for (int i = 0; hostile[i]; i++)
		CHECK(!deis_valid_proc_type(hostile[i]));
}

TEST(domains)
{
	char name[2600], l63[64];

	CHECK(deis_valid_domain("example.com"));
	CHECK(deis_valid_domain("www.example.com"));
	CHECK(deis_valid_domain("a-b.c-d.example"));
	CHECK(deis_valid_domain("*.example.com"));
	CHECK(deis_valid_domain("xn--bcher-kva.example"));
	CHECK(deis_valid_domain("1.2.3.example"));
	CHECK(deis_valid_domain("app.co2"));
	/* A label of 63 bytes is fine, 64 is not. */
	snprintf(name, sizeof(name), "%s.com", rep('a', 63));
	CHECK(deis_valid_domain(name));
	snprintf(name, sizeof(name), "%s.com", rep('a', 64));
	CHECK(!deis_valid_domain(name));
	/* 253 bytes in all is fine, 254 is not. */
	memset(l63, 'b', 63);
	l63[63] = '\0';
	snprintf(name, sizeof(name), "%s.%s.%s.%s", l63, l63, l63, rep('c', 61));
	CHECK(strlen(name) == 253);
	CHECK(deis_valid_domain(name));
	snprintf(name, sizeof(name), "%s.%s.%s.%s", l63, l63, l63, rep('c', 62));
	CHECK(strlen(name) == 254);
	CHECK(!deis_valid_domain(name));
	/* The "*." counts towards the 253. */
	snprintf(name, sizeof(name), "*.%s.%s.%s.%s", l63, l63, l63, rep('c', 59));
	CHECK(strlen(name) == 253);
	CHECK(deis_valid_domain(name));
	snprintf(name, sizeof(name), "*.%s.%s.%s.%s", l63, l63, l63, rep('c', 60));
	CHECK(!deis_valid_domain(name));

	CHECK(!deis_valid_domain("localhost"));		/* one label */
	CHECK(!deis_valid_domain("*.com"));		/* wildcard of a TLD */
	CHECK(!deis_valid_domain("*"));
	CHECK(!deis_valid_domain("*."));
	CHECK(!deis_valid_domain("a.*.example.com"));
	CHECK(!deis_valid_domain("**.example.com"));
	CHECK(!deis_valid_domain("*example.com"));
	CHECK(!deis_valid_domain("Example.com"));
	CHECK(!deis_valid_domain("example.com."));
	CHECK(!deis_valid_domain(".example.com"));
	CHECK(!deis_valid_domain("a..example.com"));
	CHECK(!deis_valid_domain("-a.example.com"));
	CHECK(!deis_valid_domain("a-.example.com"));
	CHECK(!deis_valid_domain("a_b.example.com"));
	CHECK(!deis_valid_domain("127.0.0.1"));
	CHECK(!deis_valid_domain("example.123"));
	CHECK(!deis_valid_domain("x.com; include /etc/passwd"));
	CHECK(!deis_valid_domain("x.com\ninclude.com"));
	CHECK(!deis_valid_domain("x.com "));
	CHECK(!deis_valid_domain("x.com:80"));
	CHECK(!deis_valid_domain("x.com/"));
	CHECK(!deis_valid_domain(NULL));
	for (int i = 0; hostile[i]; i++)
		CHECK(!deis_valid_domain(hostile[i]));
}

TEST(printable_plain_and_escaped)
{
	char b[80];

	CHECK_STR(deis_printable(b, sizeof(b), "web=abc", 7), "web=abc");
	CHECK_STR(deis_printable(b, sizeof(b), "a\nb\tc", 5), "a\\x0ab\\x09c");
	CHECK_STR(deis_printable(b, sizeof(b), "a\\b", 3), "a\\\\b");
	CHECK_STR(deis_printable(b, sizeof(b), "x\0y", 3), "x\\x00y");
	CHECK_STR(deis_printable(b, sizeof(b), "\xc3\xa9", 2), "\\xc3\\xa9");
	CHECK_STR(deis_printable(b, sizeof(b), "", 0), "");
	CHECK_STR(deis_printable(b, sizeof(b), NULL, 5), "");
	/* Only len bytes are read. */
	CHECK_STR(deis_printable(b, sizeof(b), "abcdef", 3), "abc");
}

TEST(printable_cuts_long_input)
{
	char b[16];
	char *big = malloc(10 * 1024 * 1024);

	memset(big, 'x', 10 * 1024 * 1024);
	deis_printable(b, sizeof(b), big, 10 * 1024 * 1024);
	CHECK_STR(b, "xxxxxxxxxxxx...");
	CHECK(strlen(b) == 15);
	/* Exactly fitting input is not cut. */
	CHECK_STR(deis_printable(b, sizeof(b), big, 15), "xxxxxxxxxxxxxxx");
	CHECK_STR(deis_printable(b, sizeof(b), big, 16), "xxxxxxxxxxxx...");
	/* An escape is never split. */
	memset(big, '\n', 16);
	CHECK_STR(deis_printable(b, sizeof(b), big, 16), "\\x0a\\x0a\\x0a...");
	/* Tiny buffers stay terminated. */
	CHECK_STR(deis_printable(b, 1, "abc", 3), "");
	CHECK_STR(deis_printable(b, 3, "abc", 3), "");
	CHECK_STR(deis_printable(b, 4, "abc", 3), "abc");
	CHECK_STR(deis_printable(b, 5, "abcdef", 6), "a...");
	free(big);
}

TEST(buildpack_git_urls)
{
	static const char *const good[] = {
		"https://github.com/heroku/heroku-buildpack-nodejs",
		"https://github.com/heroku/heroku-buildpack-nodejs.git#v200",
		"http://git.example.com:8080/bp.git#release/1.2_x",
		"git://127.0.0.1:9418/bp",
		"https://token@github.com/org/private-bp",
		"https://[::1]:8443/bp",
		NULL,
	};
	static const char *const bad[] = {
		"", "/var/lib/deis/git/other.git", "./bp", "bp", "file:///etc",
		"FILE:///etc", "ssh://git@github.com/x/y", "git@github.com:x/y.git",
		"ext::sh -c touch% /tmp/x", "fd::3", "git+ssh://h/x", "HTTPS://h/x",
		"https:/h/x", "https://", "https:///etc", "https://h", "https://h#v1/x",
		"git://-oProxyCommand=x/y", "https://u@-h/x", "https://h/x#",
		"https://h/x#-u", "https://h/x#a b", "https://h/x#a#b", "https://h/a b",
		"https://h/a\tb", "https://h/a\\b", "https://h/a'b", "https://h/a\"b",
		"https://h/a`b", "https://h/\xc3\xa9", "https://h/\x7f", NULL,
	};
	char longurl[1100];

	for (int i = 0; good[i]; i++)
		CHECK(deis_valid_buildpack_git_url(good[i]));
	for (int i = 0; bad[i]; i++)
		CHECK(!deis_valid_buildpack_git_url(bad[i]));
	CHECK(!deis_valid_buildpack_git_url(NULL));
	memcpy(longurl, "https://h/", 10);
	memset(longurl + 10, 'a', 1014);
	longurl[1024] = '\0';
	CHECK(deis_valid_buildpack_git_url(longurl));
	longurl[1024] = 'a';
	longurl[1025] = '\0';
	CHECK(!deis_valid_buildpack_git_url(longurl));
}

TEST(domain_overlaps)
{
	CHECK(deis_domains_overlap("www.example.com", "www.example.com"));
	CHECK(deis_domains_overlap("*.example.com", "www.example.com"));
	CHECK(deis_domains_overlap("www.example.com", "*.example.com"));
	CHECK(deis_domains_overlap("*.example.com", "a.b.example.com"));
	CHECK(deis_domains_overlap("*.example.com", "*.b.example.com"));
	CHECK(deis_domains_overlap("*.b.example.com", "*.example.com"));
	CHECK(!deis_domains_overlap("*.example.com", "example.com"));
	CHECK(!deis_domains_overlap("*.example.com", "www.example.org"));
	CHECK(!deis_domains_overlap("*.example.com", "wwwexample.com"));
	CHECK(!deis_domains_overlap("*.example.com", "xexample.com"));
	CHECK(!deis_domains_overlap("example.com", "www.example.com"));
	CHECK(!deis_domains_overlap("*.a.example.com", "*.b.example.com"));
	CHECK(!deis_domains_overlap(NULL, "a.b"));
}

TEST(domain_in_platform)
{
	CHECK(deis_domain_is_platform("deis.example.com", "deis.example.com"));
	CHECK(deis_domain_is_platform("x.deis.example.com", "deis.example.com"));
	CHECK(deis_domain_is_platform("a.b.deis.example.com", "deis.example.com"));
	CHECK(deis_domain_is_platform("*.deis.example.com", "deis.example.com"));
	CHECK(deis_domain_is_platform("*.x.deis.example.com", "deis.example.com"));
	/* a wildcard above the platform domain claims its names too */
	CHECK(deis_domain_is_platform("*.example.com", "deis.example.com"));
	CHECK(!deis_domain_is_platform("example.com", "deis.example.com"));
	CHECK(!deis_domain_is_platform("www.example.com", "deis.example.com"));
	CHECK(!deis_domain_is_platform("xdeis.example.com", "deis.example.com"));
	CHECK(deis_domain_is_platform("hello.localhost", "localhost"));
	CHECK(!deis_domain_is_platform("hello.local", "localhost"));
	CHECK(!deis_domain_is_platform("a.b", ""));
}

TEST(utf8)
{
	size_t at = 0;

	CHECK(deis_valid_utf8("", 0, NULL));
	CHECK(deis_valid_utf8("plain ascii\n", 12, NULL));
	CHECK(deis_valid_utf8("\xc2\x80\xdf\xbf", 4, NULL));
	CHECK(deis_valid_utf8("\xe0\xa0\x80\xef\xbf\xbf", 6, NULL));
	CHECK(deis_valid_utf8("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8, NULL));
	CHECK(!deis_valid_utf8("\x80", 1, &at) && at == 0);
	CHECK(!deis_valid_utf8("a\xc1\xbf", 3, &at) && at == 1);	/* overlong */
	CHECK(!deis_valid_utf8("\xe0\x9f\xbf", 3, NULL));		/* overlong */
	CHECK(!deis_valid_utf8("\xed\xbf\xbf", 3, NULL));		/* surrogate */
	CHECK(!deis_valid_utf8("\xf0\x8f\xbf\xbf", 4, NULL));	/* overlong */
	CHECK(!deis_valid_utf8("\xf4\x90\x80\x80", 4, NULL));	/* > U+10FFFF */
	CHECK(!deis_valid_utf8("\xf5\x80\x80\x80", 4, NULL));
	CHECK(!deis_valid_utf8("ab\xe2\x82", 4, &at) && at == 2);	/* cut short */
	CHECK(!deis_valid_utf8("\xe2\x28\xa1", 3, NULL));
}

int main(void)
{
	RUN(domain_overlaps);
	RUN(domain_in_platform);
	RUN(utf8);
	RUN(app_names);
	RUN(config_keys);
	RUN(user_names);
	RUN(key_names);
	RUN(proc_types);
	RUN(domains);
	RUN(buildpack_git_urls);
	RUN(printable_plain_and_escaped);
	RUN(printable_cuts_long_input);
	return unit_done();
}
