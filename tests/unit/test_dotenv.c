/*
 * test_dotenv.c - unit tests for the env document and config values
 * (lib/dotenv.c): parsing, formatting, round trips and every refusal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/validate.h"
#include "unit.h"

static int parse(const char *s, struct deis_kvlist *out, struct deis_error *err)
{
	return deis_dotenv_parse(s, strlen(s), out, err);
}

/* Parses s, which must be refused; checks the message contains want. */
static int refused(const char *s, size_t len, const char *want)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	int rc = deis_dotenv_parse(s, len, &l, &err);
	int ok = rc == -EINVAL && err.code == EINVAL && strstr(err.msg, want) &&
		 l.n == 0;

	if (!ok)
		printf("# refused(%.40s): rc %d, msg \"%s\", want \"%s\"\n", s,
		       rc, err.msg, want);
	deis_kvlist_clear(&l);
	return ok;
}

/* ---- config values ---- */

TEST(config_value_newline_rules)
{
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(deis_config_value_check("1\n", 2, &err) == 1);
	CHECK(deis_config_value_check("1", 1, &err) == 1);
	CHECK(deis_config_value_check("", 0, &err) == 0);
	CHECK(deis_config_value_check("\n", 1, &err) == 0);
	CHECK(deis_config_value_check("two words\n", 10, &err) == 9);
	/* Multi-line values are kept byte for byte. */
	CHECK(deis_config_value_check("a\nb\n", 4, &err) == 4);
	CHECK(deis_config_value_check("a\n\n", 3, &err) == 3);
	CHECK(deis_config_value_check("a\nb", 3, &err) == 3);
	/* Only a final "\n" is dropped, not "\r". */
	CHECK(deis_config_value_check("a\r\n", 3, &err) == 2);
	CHECK(deis_config_value_check("a ", 2, &err) == 2);
	CHECK(err.code == 0);
}

TEST(config_value_refusals)
{
	struct deis_error err = DEIS_ERROR_INIT;
	size_t big = 10 * 1024 * 1024;
	char *v = malloc(big);

	memset(v, 'x', big);
	CHECK(deis_config_value_check(v, DEIS_CONFIG_VALUE_MAX, &err) ==
	      DEIS_CONFIG_VALUE_MAX);
	v[DEIS_CONFIG_VALUE_MAX] = '\n';
	CHECK(deis_config_value_check(v, DEIS_CONFIG_VALUE_MAX + 1, &err) ==
	      DEIS_CONFIG_VALUE_MAX);
	v[DEIS_CONFIG_VALUE_MAX] = 'x';
	CHECK(deis_config_value_check(v, DEIS_CONFIG_VALUE_MAX + 1, &err) == -EINVAL);
	CHECK(err.code == EINVAL);
	CHECK(strstr(err.msg, "too long") != NULL);
	deis_error_clear(&err);
	CHECK(deis_config_value_check(v, big, &err) == -EINVAL);
	CHECK(err.code == EINVAL && strstr(err.msg, "too long"));
	deis_error_clear(&err);
	CHECK(deis_config_value_check("a\0b", 3, &err) == -EINVAL);
	CHECK(err.code == EINVAL && strstr(err.msg, "NUL"));
	CHECK(deis_config_value_check("\0", 1, NULL) == -EINVAL);
	free(v);
}

/* ---- parsing ---- */

TEST(parse_basic)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse("B=two words\nA=1\nURL=postgres://u:p@h/db?x=1\n", &l, &err) == 0);
	CHECK(l.n == 3);
	/* out is sorted by key */
	CHECK_STR(l.items[0].key, "A");
	CHECK_STR(l.items[1].key, "B");
	CHECK_STR(l.items[2].key, "URL");
	CHECK_STR(deis_kvlist_get(&l, "A"), "1");
	CHECK_STR(deis_kvlist_get(&l, "B"), "two words");
	CHECK_STR(deis_kvlist_get(&l, "URL"), "postgres://u:p@h/db?x=1");
	/* No final newline. */
	CHECK(parse("X=y", &l, &err) == 0);
	CHECK(l.n == 1);
	CHECK_STR(deis_kvlist_get(&l, "X"), "y");
	deis_kvlist_clear(&l);
}

TEST(parse_replaces_out)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	deis_kvlist_set(&l, "OLD", "1");
	CHECK(parse("NEW=2\n", &l, &err) == 0);
	CHECK(l.n == 1);
	CHECK(deis_kvlist_get(&l, "OLD") == NULL);
	CHECK(parse("", &l, &err) == 0);
	CHECK(l.n == 0);
	CHECK(parse("\n\n  \n# only comments\n", &l, &err) == 0);
	CHECK(l.n == 0);
	/* A refused document leaves out as it was. */
	deis_kvlist_set(&l, "KEEP", "1");
	CHECK(parse("A=1\n1B=2\n", &l, &err) == -EINVAL);
	CHECK(l.n == 1);
	CHECK_STR(deis_kvlist_get(&l, "KEEP"), "1");
	deis_kvlist_clear(&l);
}

TEST(parse_comments_blanks_export)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse("# a comment\n"
		    "\n"
		    "   \t\n"
		    "  # indented comment\n"
		    "export A=1\n"
		    "export\tB=2\n"
		    "  C = spaced value  \t\n"
		    "D=x#not a comment\n"
		    "E=\n"
		    "export=3\n"
		    "F=a=b\n"
		    "G=it's\n", &l, &err) == 0);
	CHECK(l.n == 8);
	CHECK_STR(deis_kvlist_get(&l, "A"), "1");
	CHECK_STR(deis_kvlist_get(&l, "B"), "2");
	CHECK_STR(deis_kvlist_get(&l, "C"), "spaced value");
	CHECK_STR(deis_kvlist_get(&l, "D"), "x#not a comment");
	CHECK_STR(deis_kvlist_get(&l, "E"), "");
	CHECK_STR(deis_kvlist_get(&l, "export"), "3");
	CHECK_STR(deis_kvlist_get(&l, "F"), "a=b");
	CHECK_STR(deis_kvlist_get(&l, "G"), "it's");
	deis_kvlist_clear(&l);
}

TEST(parse_crlf)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse("A=1\r\nB=\"q\"\r\n\r\nC='s'  \r\n", &l, &err) == 0);
	CHECK(l.n == 3);
	CHECK_STR(deis_kvlist_get(&l, "A"), "1");
	CHECK_STR(deis_kvlist_get(&l, "B"), "q");
	CHECK_STR(deis_kvlist_get(&l, "C"), "s");
	deis_kvlist_clear(&l);
}

TEST(parse_single_quotes_literal)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse("A='a\\nb $HOME \"q\" # x'\n"
		    "B=''\n"
		    "C='line1\nline2\n'\n"
		    "D= '  padded  '  # trailing comment\n", &l, &err) == 0);
	CHECK(l.n == 4);
	CHECK_STR(deis_kvlist_get(&l, "A"), "a\\nb $HOME \"q\" # x");
	CHECK_STR(deis_kvlist_get(&l, "B"), "");
	CHECK_STR(deis_kvlist_get(&l, "C"), "line1\nline2\n");
	CHECK_STR(deis_kvlist_get(&l, "D"), "  padded  ");
	deis_kvlist_clear(&l);
}

TEST(parse_double_quotes_escapes)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse("A=\"a\\nb\\rc\\td\\\"e\\\\f\\$g\\`h\"\n"
		    "B=\"C:\\dir\\x\"\n"
		    "C=\"multi\nline\"\n"
		    "D=\"\"\n"
		    "E=\"$HOME ${X} 'single'\"\n"
		    "F=\"#hash\" # comment\n", &l, &err) == 0);
	CHECK(l.n == 6);
	CHECK_STR(deis_kvlist_get(&l, "A"), "a\nb\rc\td\"e\\f$g`h");
	/* Unknown escapes keep their backslash, as in sh. */
	CHECK_STR(deis_kvlist_get(&l, "B"), "C:\\dir\\x");
	CHECK_STR(deis_kvlist_get(&l, "C"), "multi\nline");
	CHECK_STR(deis_kvlist_get(&l, "D"), "");
	CHECK_STR(deis_kvlist_get(&l, "E"), "$HOME ${X} 'single'");
	CHECK_STR(deis_kvlist_get(&l, "F"), "#hash");
	deis_kvlist_clear(&l);
}

TEST(parse_pem_value)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	const char *doc = "KEY=\"-----BEGIN PRIVATE KEY-----\nMIIEvQ+/=\n"
			  "-----END PRIVATE KEY-----\n\"\nNEXT=1\n";

	CHECK(parse(doc, &l, &err) == 0);
	CHECK_STR(deis_kvlist_get(&l, "KEY"),
		  "-----BEGIN PRIVATE KEY-----\nMIIEvQ+/=\n-----END PRIVATE KEY-----\n");
	CHECK_STR(deis_kvlist_get(&l, "NEXT"), "1");
	deis_kvlist_clear(&l);
}

TEST(parse_last_wins)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse("A=1\nB=x\nA=2\nA=3\nC=c\nB=y\n", &l, &err) == 0);
	CHECK(l.n == 3);
	CHECK_STR(deis_kvlist_get(&l, "A"), "3");
	CHECK_STR(deis_kvlist_get(&l, "B"), "y");
	CHECK_STR(deis_kvlist_get(&l, "C"), "c");
	deis_kvlist_clear(&l);
}

TEST(parse_refusals)
{
	CHECK(refused("1A=x\n", 5, "config key '1A' is not valid"));
	CHECK(refused("1A=x\n", 5, "[A-Za-z_][A-Za-z0-9_]*"));
	CHECK(refused("A=1\n1A=x\n", 9, "line 2"));
	CHECK(refused("A-B=1\n", 6, "'A-B'"));
	CHECK(refused("x;id=1\n", 7, "'x;id'"));
	CHECK(refused("$(id)=1\n", 8, "'$(id)'"));
	CHECK(refused("../x=1\n", 7, "'../x'"));
	CHECK(refused("=x\n", 3, "config key '' is not valid"));
	CHECK(refused("A\n", 2, "expected KEY=value"));
	CHECK(refused("just some words\n", 16, "expected KEY=value, got 'just some words'"));
	CHECK(refused("A B=1\n", 6, "expected KEY=value"));
	CHECK(refused("export A\n", 9, "expected KEY=value"));
	CHECK(refused("A=\"open\nB=2\n", 12, "line 1: the \" quote of the value of 'A' is never closed"));
	CHECK(refused("A='open\n", 8, "never closed"));
	CHECK(refused("A=\"x\\", 5, "never closed"));
	CHECK(refused("A=\"x\" y\n", 8, "unexpected text after the closing quote"));
	CHECK(refused("A='x'y\n", 7, "unexpected text"));
	/* Line numbers count the lines inside a quoted value. */
	CHECK(refused("A=\"x\ny\"\n\n1B=2\n", 14, "line 4"));
	CHECK(refused("A=1\0B=2\n", 8, "NUL"));
	CHECK(refused("\0", 1, "NUL"));
}

TEST(parse_size_limits)
{
	size_t big = 10 * 1024 * 1024;
	char *doc = malloc(big + 16);
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	size_t n;

	/* The whole document. */
	memset(doc, '#', big);
	CHECK(refused(doc, big, "too long"));
	CHECK(refused(doc, DEIS_ENV_MAX + 1, "too long"));
	CHECK(deis_dotenv_parse(doc, DEIS_ENV_MAX, &l, &err) == 0);
	CHECK(l.n == 0);

	/* One value: 64 KiB is fine, one byte more is not, quoted or not. */
	memcpy(doc, "BIG=", 4);
	memset(doc + 4, 'v', DEIS_CONFIG_VALUE_MAX);
	n = 4 + DEIS_CONFIG_VALUE_MAX;
	doc[n] = '\n';
	CHECK(deis_dotenv_parse(doc, n + 1, &l, &err) == 0);
	CHECK(l.n == 1 && strlen(deis_kvlist_get(&l, "BIG")) == DEIS_CONFIG_VALUE_MAX);
	doc[n] = 'v';
	doc[n + 1] = '\n';
	CHECK(refused(doc, n + 2, "the value of 'BIG' is too long"));
	doc[4] = '"';
	doc[n + 1] = 'v';
	doc[n + 2] = '"';
	CHECK(refused(doc, n + 3, "too long"));
	doc[n] = '"';
	CHECK(deis_dotenv_parse(doc, n + 1, &l, &err) == 0);
	CHECK(strlen(deis_kvlist_get(&l, "BIG")) == DEIS_CONFIG_VALUE_MAX - 1);
	deis_kvlist_clear(&l);
	free(doc);
}

/* A 1 MB document of tiny lines: must parse (in n log n, not n^2). */
TEST(parse_many_vars)
{
	struct deis_buf doc = DEIS_BUF_INIT;
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	int i;

	for (i = 0; doc.len < DEIS_ENV_MAX - 32; i++)
		deis_buf_addf(&doc, "K%d=%d\n", i % 70000, i);
	CHECK(deis_dotenv_parse(doc.data, doc.len, &l, &err) == 0);
	CHECK(l.n == 70000);
	/* Keys repeat from i = 70000 on: the last assignment wins. */
	CHECK_STR(deis_kvlist_get(&l, "K0"), "70000");
	CHECK_STR(deis_kvlist_get(&l, "K69999"), "69999");
	deis_kvlist_clear(&l);
	deis_buf_release(&doc);
}

/* ---- formatting and round trips ---- */

TEST(format_quoting)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_buf b = DEIS_BUF_INIT;

	deis_kvlist_set(&l, "Z", "plain-._/:@%+,=value09");
	deis_kvlist_set(&l, "A", "two words");
	deis_kvlist_set(&l, "E", "");
	deis_kvlist_set(&l, "M", "a\nb\r\tc");
	deis_kvlist_set(&l, "S", "$HOME `id` \"q\" \\ 'x' #");
	deis_dotenv_format(&l, &b);
	CHECK_STR(deis_buf_str(&b),
		  "A=\"two words\"\n"
		  "E=\"\"\n"
		  "M=\"a\\nb\\r\\tc\"\n"
		  "S=\"\\$HOME \\`id\\` \\\"q\\\" \\\\ 'x' #\"\n"
		  "Z=plain-._/:@%+,=value09\n");
	/* format appends; an empty list adds nothing. */
	deis_kvlist_clear(&l);
	deis_dotenv_format(&l, &b);
	CHECK(b.len == strlen(deis_buf_str(&b)) && b.len > 0);
	deis_buf_release(&b);
	deis_dotenv_format(&l, &b);
	CHECK_STR(deis_buf_str(&b), "");
	deis_buf_release(&b);
}

static int round_trips(const struct deis_kvlist *x)
{
	struct deis_kvlist y = DEIS_KVLIST_INIT;
	struct deis_buf b = DEIS_BUF_INIT, b2 = DEIS_BUF_INIT;
	struct deis_error err = DEIS_ERROR_INIT;
	int ok;

	deis_dotenv_format(x, &b);
	ok = deis_dotenv_parse(b.data ? b.data : "", b.len, &y, &err) == 0 &&
	     deis_kvlist_equal(x, &y);
	deis_dotenv_format(&y, &b2);
	ok = ok && b.len == b2.len && !memcmp(deis_buf_str(&b), deis_buf_str(&b2), b.len);
	if (!ok)
		printf("# round trip failed: %s\n", err.msg);
	deis_kvlist_clear(&y);
	deis_buf_release(&b);
	deis_buf_release(&b2);
	return ok;
}

TEST(round_trip_every_byte)
{
	struct deis_kvlist x = DEIS_KVLIST_INIT;
	char all[256], k[16];

	/* Every ASCII byte but NUL, in one value and one per key (values are
	 * UTF-8 text: bytes past 0x7f come in sequences, below). */
	for (int c = 1; c < 128; c++)
		all[c - 1] = (char)c;
	all[127] = '\0';
	deis_kvlist_set(&x, "ALL", all);
	deis_kvlist_set(&x, "UTF8", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
	for (int c = 1; c < 128; c++) {
		char v[4] = { (char)c, 0 };

		snprintf(k, sizeof(k), "C%d", c);
		deis_kvlist_set(&x, k, v);
	}
	deis_kvlist_set(&x, "EMPTY", "");
	deis_kvlist_set(&x, "SPACES", "  lead and trail  ");
	deis_kvlist_set(&x, "QUOTES", "\"'\"");
	deis_kvlist_set(&x, "BACKSLASH_END", "x\\");
	deis_kvlist_set(&x, "NEWLINES", "\n\n");
	deis_kvlist_set(&x, "CRLF", "a\r\n");
	deis_kvlist_set(&x, "HASH", "#");
	deis_kvlist_set(&x, "export", "e");
	deis_kvlist_set(&x, "UNKNOWN_ESC", "\\d\\q\\");
	CHECK(round_trips(&x));
	deis_kvlist_clear(&x);
}

TEST(round_trip_parsed_document)
{
	struct deis_kvlist l = DEIS_KVLIST_INIT;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse("export A='x y'\nB=\"1\\n2\"\n# c\nC=3\nD=\"\\q\"\n", &l, &err) == 0);
	CHECK(round_trips(&l));
	deis_kvlist_clear(&l);
}

/* Values must be UTF-8 text: a JSON string in the database, as in
 * Heroku's API.  Refused, never altered or dropped. */
TEST(values_must_be_utf8)
{
	struct deis_error err = DEIS_ERROR_INIT;
	static const char *const bad[] = {
		"\xff", "\xfe\xff", "a\x80", "\xc0\xaf" /* overlong '/' */,
		"\xe0\x80\xaf", "\xed\xa0\x80" /* surrogate */,
		"\xf4\x90\x80\x80" /* past U+10FFFF */, "\xc3" /* cut */,
		"ok \xe2\x82", "\xf8\x88\x80\x80\x80",
	};
	char doc[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		CHECK(deis_config_value_check(bad[i], strlen(bad[i]), &err) == -EINVAL);
		CHECK(strstr(err.msg, "not UTF-8") != NULL);
		snprintf(doc, sizeof(doc), "A=1\nB=%s\n", bad[i]);
		CHECK(refused(doc, strlen(doc), "line 2: the value of 'B' is not UTF-8"));
		snprintf(doc, sizeof(doc), "B='%s'\n", bad[i]);
		CHECK(refused(doc, strlen(doc), "not UTF-8"));
	}
	CHECK(deis_config_value_check("caf\xc3\xa9\n", 6, &err) == 5);
	CHECK(deis_valid_utf8("\xf0\x9f\x98\x80", 4, NULL));
	size_t at = 99;
	CHECK(!deis_valid_utf8("ab\xc3(", 4, &at) && at == 2);
}

/* The check at write: complete lines of a document being written. */
TEST(check_prefix)
{
	struct deis_error err = DEIS_ERROR_INIT;
	size_t good, lines;
	const char *s;

	s = "A=1\nB=2\n";
	CHECK(deis_dotenv_check(s, strlen(s), 1, &good, &lines, &err) == 0);
	CHECK(good == strlen(s) && lines == 2);
	/* an incomplete last line is left for later */
	s = "A=1\nB=2";
	CHECK(deis_dotenv_check(s, strlen(s), 1, &good, &lines, &err) == 0);
	CHECK(good == 4 && lines == 1);
	/* a bad complete line, with its line number counted from first_line */
	s = "A=1\nFOO BAR\n";
	CHECK(deis_dotenv_check(s, strlen(s), 10, &good, &lines, &err) == -EINVAL);
	CHECK(strstr(err.msg, "line 11: expected KEY=value") != NULL);
	/* a quoted value still open: fine so far, checked again from its line */
	s = "A=1\nP=\"one\nFOO BAR\n";
	CHECK(deis_dotenv_check(s, strlen(s), 1, &good, &lines, &err) == 0);
	CHECK(good == 4 && lines == 1);
	s = "P=\"one\nFOO BAR\ntwo\"\nB=2\n";
	CHECK(deis_dotenv_check(s, strlen(s), 2, &good, &lines, &err) == 0);
	CHECK(good == strlen(s) && lines == 4);
	s = "P='one\n";
	CHECK(deis_dotenv_check(s, strlen(s), 1, &good, &lines, &err) == 0);
	CHECK(good == 0 && lines == 0);
	/* but not text after a closing quote, nor bad bytes */
	s = "P=\"one\" x\n";
	CHECK(deis_dotenv_check(s, strlen(s), 1, &good, &lines, &err) == -EINVAL);
	s = "A=\xff\n";
	CHECK(deis_dotenv_check(s, strlen(s), 1, &good, &lines, &err) == -EINVAL);
	/* comments and blank lines count as lines */
	s = "# c\n\nA=1\n";
	CHECK(deis_dotenv_check(s, strlen(s), 1, &good, &lines, &err) == 0);
	CHECK(good == strlen(s) && lines == 3);
}

int main(void)
{
	RUN(values_must_be_utf8);
	RUN(check_prefix);
	RUN(config_value_newline_rules);
	RUN(config_value_refusals);
	RUN(parse_basic);
	RUN(parse_replaces_out);
	RUN(parse_comments_blanks_export);
	RUN(parse_crlf);
	RUN(parse_single_quotes_literal);
	RUN(parse_double_quotes_escapes);
	RUN(parse_pem_value);
	RUN(parse_last_wins);
	RUN(parse_refusals);
	RUN(parse_size_limits);
	RUN(parse_many_vars);
	RUN(format_quoting);
	RUN(round_trip_every_byte);
	RUN(round_trip_parsed_document);
	return unit_done();
}
