/*
 * test_sshkey.c - unit tests for SSH public key parsing and fingerprints
 * (lib/sshkey.c).
 *
 * The keys below were made with ssh-keygen (-t ed25519, rsa -b 3072,
 * rsa -b 1024, ecdsa -b 256 and -b 521) and the fingerprints are what
 * "ssh-keygen -lf" printed for them, so the fingerprint code is checked
 * against OpenSSH itself.  The security-key lines were assembled by hand
 * from the ed25519 and ecdsa keys (there is no token here), and
 * "ssh-keygen -lf" printed their fingerprints too.  The malformed blobs
 * were built with Python's struct and base64 modules.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deis/validate.h"
#include "unit.h"

#define ED25519 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7OiuEFGiykvUSBEpa/SSStH00mKgbomNcOvMD0JK6i alice@laptop"
#define ED25519_BLOB "AAAAC3NzaC1lZDI1NTE5AAAAIE7OiuEFGiykvUSBEpa/SSStH00mKgbomNcOvMD0JK6i"
#define ED25519_FP "SHA256:PuV/Y6qcqU2M/h4QGEROiw6as2vHPBAd0ig0Y6Zi+Bg"

#define RSA3072_BLOB "AAAAB3NzaC1yc2EAAAADAQABAAABgQDHIYMAuOO+Dv8m/UXnCuRKNczdbXGQr3h9wsKAsqSYDTIPuGBqUa32PkFqcTuOsXcGGG1gFuOrs3xoYSW4F6s6VgQU5Fr8tqpaM/jlSOGJtaPbadAJF+ZOxUeN3boyhxU/JjulFfjhKKgzn5qJLyajcNqL9FpiaLSnjtZBVAMv3GjpDt9ZV2vLhkhD01FEo4XZD25wwSqZ/EgTk3mORpFXM4kVdJcD52bqAV3Jqcqi3r6skwHVJnmTNkPsZIxY+AiwE3CJGNB2DFlVzpe7FUs+mvJXG14pSKOsjE/Lc7SupEAhXWlwKoNOzntF5IzZi6+NpZ4K/XY00HnI+DYXLTYUsQHd9nDZW4N8/YWv6m5FfEtDGQfKMXOGOvZe6eQ6eU8KLBkAxWU3h4Jrr+OpodgdkxSdUeV4/d6i6ot5VqeC+LqQQCf1EJd5kKzLyVIDJGCb3AdIZpDleAmVN+f2rbrM6m6emMpgX9bOdYx/4pAnyrDCpPeaolCK61UKWXQH8d0="
#define RSA3072 "ssh-rsa " RSA3072_BLOB " bob@desk two words\n"
#define RSA3072_FP "SHA256:LDKrPd4OuslAfYJUsvxM6qW3qAzcB58ysrKaVlcQxs8"

#define RSA1024 "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDTcoQanqzquppgWybpe/ZRaXI4pcvfWBGU+PaHEFFvhQ6BlmO9FI4xXdhfhePOOizbsjnab51fP3UzPujm/QjuvooJWfrwjuD0IJmaRshlhOfBapseEXU1RiBjLJ+xcixCd32m3cAIXqnRjVdtlIx67vi3rW5K1i/ZxPYZq6uBqQ== small"
#define RSA1024_FP "SHA256:jvBfyFhuyCiGTAyGy8MFJ4tzwqEhP7yRY6J1RLjjmZA"

/* As ssh-keygen writes it with -C '': a trailing blank, no comment. */
#define ECDSA256 "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLbugjGaYhFu+nCwkLS9DZGYjbo+j43BZnEjHcXEEI0+jWrhTEeucy/Pnvu9NY3GoVhOcq3mb/7h1WE1z1GOBA8= \n"
#define ECDSA256_FP "SHA256:55oIbNOPqCyUcOiCuClpTjvxWg+HyUY258YIco0z++E"

#define ECDSA521 "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBABjEU7LC+sY8CY0f9s8xFWoEHDfhB4WECref7bHpYSFEUa4JDMWeOqeVF3myQnMW5Z6WlMRbAL0f1PrdE9y9mDC0QBpUye9edbV8paHOZmB2GUkiIWqAxEFWur32mn9Hd8GayIgcSEyQQGFT4tLp6Lt3JGX4vwNesk2okOLzzKUgwxg0g== e521"
#define ECDSA521_FP "SHA256:kY74XLT3fBe/2VUn8YcPynXuWsUtMOXRpRa+PA6LQaY"

#define SK_ED25519 "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIE7OiuEFGiykvUSBEpa/SSStH00mKgbomNcOvMD0JK6iAAAABHNzaDo= yk"
#define SK_ED25519_FP "SHA256:QUrNWuCZ3/hOOVkfjw42jUkAzS1CbT/rm6a6P1/euzM"

#define SK_ECDSA "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBLbugjGaYhFu+nCwkLS9DZGYjbo+j43BZnEjHcXEEI0+jWrhTEeucy/Pnvu9NY3GoVhOcq3mb/7h1WE1z1GOBA8AAAAEc3NoOg== yk"
#define SK_ECDSA_FP "SHA256:q4MDdTsLskyezQXIj9OYIDzdG/M3tDyISq74KSwW01M"

#define DSA "ssh-dss AAAAB3NzaC1kc3MAAACBAIOcAOzIXYphviq5rFR35VCwIW0EOFHNgNl5CLdx5fElZU4vLOaerJnQc1JsVqSftoWcw8LlLRTYUEvZ4Nv6aJbnQKxARys3Np7GjKNVHq02hStFh2sONqLjMMCRHOKusNUn4CrPXinrurqKUPKwtaEZZmia5IfdTURNCh6B6NcPAAAAFQDgh4L1TZjak0bff9TClurx/cn9NQAAAIBMT9mmSXdv78Sw7kcdUVjoqEbxFXClbjVtG0o3z3ucQ7zyVyNcQlK6ZtH5x3d1+lbr1xFd9M8zZwueT1+k27MhfXFOlhBf9SfncCZ3bKWzL9KJNnlxS11KGSDfEObKyiyTXuIUfAobu0rJhp7fl91iYGsZhQOE1zoF5hwZHSMDfQAAAIAn+5ih93HdjGIXYIY6BSJKMbllQax2rJR7UN+6nvXxUuv58sWDT05VfJ3o7Leou36V9RDTKpPPOkSCMI997/ZR54sSisxok70lvE+yeouDXpQg7wsUWC88OplBBm/whLblUx9CYqFdnkdlj+KREa/zf1p2GMrmfrq1VrXPG7lvhw== root@vm"

static int parse(const char *s, struct deis_sshkey *k, struct deis_error *err)
{
	return deis_sshkey_parse(s, strlen(s), k, err);
}

/* Parses s, which must be refused with a message containing want. */
static int refused_n(const char *s, size_t len, const char *want)
{
	struct deis_sshkey k;
	struct deis_error err = DEIS_ERROR_INIT;
	int rc = deis_sshkey_parse(s, len, &k, &err);
	int ok = rc == -EINVAL && err.code == EINVAL && strstr(err.msg, want) &&
		 k.blob == NULL && k.comment == NULL;

	if (!ok)
		printf("# refused(%.50s): rc %d, msg \"%s\", want \"%s\"\n",
		       s, rc, err.msg, want);
	deis_sshkey_clear(&k);
	return ok;
}

static int refused(const char *s, const char *want)
{
	return refused_n(s, strlen(s), want);
}

TEST(ed25519)
{
	struct deis_sshkey k;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse(ED25519 "\n", &k, &err) == 0);
	CHECK_STR(k.type, "ssh-ed25519");
	CHECK_STR(k.blob, ED25519_BLOB);
	CHECK_STR(k.comment, "alice@laptop");
	CHECK_STR(k.fingerprint, ED25519_FP);
	deis_sshkey_clear(&k);
	CHECK(k.blob == NULL && k.comment == NULL && k.type[0] == '\0');
	deis_sshkey_clear(&k);		/* twice is harmless */
}

TEST(rsa)
{
	struct deis_sshkey k;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse(RSA3072, &k, &err) == 0);
	CHECK_STR(k.type, "ssh-rsa");
	CHECK_STR(k.blob, RSA3072_BLOB);
	CHECK_STR(k.comment, "bob@desk two words");
	CHECK_STR(k.fingerprint, RSA3072_FP);
	deis_sshkey_clear(&k);
	CHECK(parse(RSA1024, &k, &err) == 0);
	CHECK_STR(k.fingerprint, RSA1024_FP);
	CHECK_STR(k.comment, "small");
	deis_sshkey_clear(&k);
}

TEST(ecdsa)
{
	struct deis_sshkey k;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse(ECDSA256, &k, &err) == 0);
	CHECK_STR(k.type, "ecdsa-sha2-nistp256");
	CHECK_STR(k.comment, "");
	CHECK_STR(k.fingerprint, ECDSA256_FP);
	deis_sshkey_clear(&k);
	CHECK(parse(ECDSA521, &k, &err) == 0);
	CHECK_STR(k.type, "ecdsa-sha2-nistp521");
	CHECK_STR(k.fingerprint, ECDSA521_FP);
	deis_sshkey_clear(&k);
}

TEST(security_keys)
{
	struct deis_sshkey k;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse(SK_ED25519, &k, &err) == 0);
	CHECK_STR(k.type, "sk-ssh-ed25519@openssh.com");
	CHECK_STR(k.fingerprint, SK_ED25519_FP);
	deis_sshkey_clear(&k);
	CHECK(parse(SK_ECDSA, &k, &err) == 0);
	CHECK_STR(k.type, "sk-ecdsa-sha2-nistp256@openssh.com");
	CHECK_STR(k.fingerprint, SK_ECDSA_FP);
	deis_sshkey_clear(&k);
}

TEST(blanks_and_newlines)
{
	struct deis_sshkey k;
	struct deis_error err = DEIS_ERROR_INIT;

	CHECK(parse("  ssh-ed25519\t" ED25519_BLOB "   alice@laptop  \r\n\n", &k, &err) == 0);
	CHECK_STR(k.blob, ED25519_BLOB);
	CHECK_STR(k.comment, "alice@laptop");
	CHECK_STR(k.fingerprint, ED25519_FP);
	deis_sshkey_clear(&k);
	CHECK(parse("ssh-ed25519 " ED25519_BLOB, &k, &err) == 0);
	CHECK_STR(k.comment, "");
	deis_sshkey_clear(&k);
	CHECK(parse("ssh-ed25519 " ED25519_BLOB " a  b\tc", &k, &err) == 0);
	CHECK_STR(k.comment, "a  b\tc");
	deis_sshkey_clear(&k);
	/* Non-ASCII comments are kept. */
	CHECK(parse("ssh-ed25519 " ED25519_BLOB " J\xc3\xa9r\xc3\xb4me", &k, &err) == 0);
	CHECK_STR(k.comment, "J\xc3\xa9r\xc3\xb4me");
	deis_sshkey_clear(&k);
}

TEST(format_round_trip)
{
	const char *lines[] = { ED25519 "\n", RSA3072, ECDSA256, ECDSA521,
				SK_ED25519, SK_ECDSA, RSA1024, NULL };
	struct deis_error err = DEIS_ERROR_INIT;

	for (int i = 0; lines[i]; i++) {
		struct deis_sshkey a, b;
		struct deis_buf t = DEIS_BUF_INIT, t2 = DEIS_BUF_INIT;

		CHECK(parse(lines[i], &a, &err) == 0);
		deis_sshkey_format(&a, &t);
		CHECK(parse(deis_buf_str(&t), &b, &err) == 0);
		CHECK_STR(a.type, b.type);
		CHECK_STR(a.blob, b.blob);
		CHECK_STR(a.comment, b.comment);
		CHECK_STR(a.fingerprint, b.fingerprint);
		deis_sshkey_format(&b, &t2);
		CHECK_STR(deis_buf_str(&t), deis_buf_str(&t2));
		deis_sshkey_clear(&a);
		deis_sshkey_clear(&b);
		deis_buf_release(&t);
		deis_buf_release(&t2);
	}
}

TEST(format_exact)
{
	struct deis_sshkey k;
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_buf b = DEIS_BUF_INIT;

	CHECK(parse(ED25519, &k, &err) == 0);
	deis_sshkey_format(&k, &b);
	CHECK_STR(deis_buf_str(&b), ED25519 "\n");
	deis_sshkey_clear(&k);
	deis_buf_reset(&b);
	CHECK(parse(ECDSA256, &k, &err) == 0);
	deis_sshkey_format(&k, &b);
	/* No comment: no trailing blank. */
	CHECK(b.len > 2 && b.data[b.len - 2] == '=' && b.data[b.len - 1] == '\n');
	deis_sshkey_clear(&k);
	deis_buf_release(&b);
}

TEST(refuse_types_and_options)
{
	CHECK(refused(DSA, "'ssh-dss' is not a supported key type"));
	CHECK(refused("from=\"10.0.0.1\" " ED25519, "'from=\"10.0.0.1\"' is not a supported key type"));
	CHECK(refused("no-pty " ED25519, "options before the type are not accepted"));
	CHECK(refused("command=\"rm -rf /\" " ED25519, "not a supported key type"));
	CHECK(refused("SSH-ED25519 " ED25519_BLOB, "not a supported key type"));
	CHECK(refused("ssh-ed25519x " ED25519_BLOB, "not a supported key type"));
	CHECK(refused("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
		      "-----END OPENSSH PRIVATE KEY-----\n", "more than one line"));
	CHECK(refused("garbage", "not a supported key type"));
	CHECK(refused("", "empty"));
	CHECK(refused(" \n\n", "empty"));
}

TEST(refuse_bad_blobs)
{
	/* The type on the line must be the one in the blob. */
	CHECK(refused("ssh-rsa " ED25519_BLOB, "the key data is not a ssh-rsa key"));
	CHECK(refused("ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLbugjGaYhFu+nCwkLS9DZGYjbo+j43BZnEjHcXEEI0+jWrhTEeucy/Pnvu9NY3GoVhOcq3mb/7h1WE1z1GOBA8=",
		      "not a ecdsa-sha2-nistp384 key"));
	CHECK(refused("ssh-ed25519", "not valid base64"));
	CHECK(refused("ssh-ed25519 ", "not valid base64"));
	CHECK(refused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7OiuEFGiykvUSBEpa/SSStH00mKgbomNcOvMD0JK6", "not valid base64"));
	CHECK(refused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7OiuEFGiykvUSBEpa/SSStH00mKgbomNcOvMD0JK6!", "not valid base64"));
	CHECK(refused("ssh-ed25519 AAAA=3NzaC1lZDI1NTE5AAAAIE7OiuEFGiykvUSBEpa/SSStH00mKgbomNcOvMD0JK6i", "not valid base64"));
	/* Padding with stray bits: same bytes, different text; refused. */
	CHECK(refused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7OiuEFGiykvUSBEpa/SSStH00mKgbomNcOvMD0JK6iAB==", "not valid base64"));
	/* A 31-byte ed25519 key, a trailing byte, a truncated string. */
	CHECK(refused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAH86K4QUaLKS9RIESlr9JJK0fTSYqBuiY1w68wPQkrqI=", "not 32 bytes"));
	CHECK(refused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE7OiuEFGiykvUSBEpa/SSStH00mKgbomNcOvMD0JK6iAA==", "extra bytes"));
	CHECK(refused("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGFi", "not 32 bytes"));
	CHECK(refused("ssh-ed25519 AAAA", "not a ssh-ed25519 key"));
	/* A 512-bit RSA modulus is too weak for OpenSSH. */
	CHECK(refused("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAQQDDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8MB",
		      "1024 to 16384 bits"));
	/* ecdsa-sha2-nistp256 naming curve nistp384 inside. */
	CHECK(refused("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAzODQAAABBBLbugjGaYhFu+nCwkLS9DZGYjbo+j43BZnEjHcXEEI0+jWrhTEeucy/Pnvu9NY3GoVhOcq3mb/7h1WE1z1GOBA8=",
		      "curve does not match"));
	/* The security-key application string is missing. */
	CHECK(refused("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIE7OiuEFGiykvUSBEpa/SSStH00mKgbomNcOvMD0JK6i",
		      "application is missing"));
}

TEST(refuse_lines_and_bytes)
{
	size_t big = 10 * 1024 * 1024;
	char *s = malloc(big);

	CHECK(refused(ED25519 "\n" ED25519 "\n", "more than one line"));
	CHECK(refused(ED25519 "\nssh-rsa", "more than one line"));
	CHECK(refused("ssh-ed25519 " ED25519_BLOB " evil\x1b[2J", "control character"));
	CHECK(refused("ssh-ed25519 " ED25519_BLOB " a\rb", "control character"));
	CHECK(refused_n(ED25519 "\0", sizeof(ED25519), "NUL"));
	CHECK(refused_n("ssh-ed25519\0 " ED25519_BLOB, 12 + sizeof(ED25519_BLOB), "NUL"));
	memset(s, ' ', big);
	memcpy(s, ED25519, strlen(ED25519));
	CHECK(refused_n(s, big, "too long"));
	CHECK(refused_n(s, DEIS_CONTROL_MAX + 1, "too long"));
	free(s);
}

int main(void)
{
	RUN(ed25519);
	RUN(rsa);
	RUN(ecdsa);
	RUN(security_keys);
	RUN(blanks_and_newlines);
	RUN(format_round_trip);
	RUN(format_exact);
	RUN(refuse_types_and_options);
	RUN(refuse_bad_blobs);
	RUN(refuse_lines_and_bytes);
	return unit_done();
}
