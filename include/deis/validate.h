/*
 * validate.h - the grammars of every name and every control file.
 *
 * Everything a user writes into the tree is parsed here before it reaches
 * SQL, a path, a command line or a generated config.  Parsers take the raw
 * bytes of a write (not NUL-terminated, possibly containing NUL, which is
 * always refused) and either fill a canonical value or return -EINVAL with
 * the reason in err.  Each *_format() writes the canonical text, which the
 * matching parser accepts again unchanged (files read back in the format
 * they accept).
 */
#ifndef DEIS_VALIDATE_H
#define DEIS_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "deis/buf.h"
#include "deis/error.h"
#include "deis/kv.h"

/* ---- names ---- */

/* DNS label: [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?  The grammar of every
 * name that is already an app; a new app must also fit DEIS_APP_NAME_MAX. */
bool deis_valid_app_name(const char *s);
/*
 * The longest name a new app may take (Heroku's limit too).  Every
 * container of an app is named "<app>.<type>.<n>.<seq>" (its runc id, at
 * most 128 characters) and its host name is that id cut to 63 (the
 * kernel takes 64, DNS 63): with app <= 30 and a process type <= 30, the
 * id is at most 30 + 1 + 30 + 1 + 10 + 1 + 19 = 92 characters whatever
 * the counters reach, and the host name always holds "<app>.<type>"
 * whole.  Longer names (the DNS label allows 63) are refused at mkdir.
 */
#define DEIS_APP_NAME_MAX 30
/* [A-Za-z_][A-Za-z0-9_]*, at most 255 bytes */
bool deis_valid_config_key(const char *s);
/* Unix user name: [a-z_][a-z0-9_-]{0,31} (optionally ending in $ is refused) */
bool deis_valid_user_name(const char *s);
/* SSH key name: [A-Za-z0-9][A-Za-z0-9._@-]{0,63} */
bool deis_valid_key_name(const char *s);
/* Procfile process type: [a-z][a-z0-9_-]{0,29}; "run" is reserved */
bool deis_valid_proc_type(const char *s);
/* Host name: lowercase labels of [a-z0-9-] (no leading/trailing '-'),
 * at least two labels, at most 253 bytes; an optional leading "*." */
bool deis_valid_domain(const char *s);
/* A BUILDPACK_URL the builder may clone: "https://", "http://" or "git://"
 * (only network transports: never a host path, file://, ssh, which would
 * use root's own keys, or git's ext::), an authority whose host starts
 * with a letter, a digit or '[', a '/' and a path, and an optional "#ref"
 * of [A-Za-z0-9._/-] not starting with '-'; printable ASCII without
 * blanks, quotes or backslashes; at most 1024 bytes. */
bool deis_valid_buildpack_git_url(const char *s);

/* Do two valid domains claim a common host name?  A wildcard "*.S" claims
 * every name under S, at any depth (as nginx matches it): "a.S", "a.b.S"
 * and "*.b.S" overlap it; "S" itself does not. */
bool deis_domains_overlap(const char *a, const char *b);
/* Is a valid domain the platform's to give: platform_domain itself, a name
 * under it (<app>.<platform_domain> is how apps are routed), or a wildcard
 * that claims names under it? */
bool deis_domain_is_platform(const char *d, const char *platform_domain);

/* Is s[0..len) UTF-8 text (no overlong forms, surrogates or code points
 * past U+10FFFF)?  When not, *bad (if not NULL) is the offset of the first
 * byte that is not. */
bool deis_valid_utf8(const char *s, size_t len, size_t *bad);

/* ---- limits on sizes ---- */
#define DEIS_CONFIG_VALUE_MAX	(64 * 1024)	/* one config var */
#define DEIS_ENV_MAX		(1024 * 1024)	/* the whole env document */
#define DEIS_CONTROL_MAX	(64 * 1024)	/* formation, limits, ... */
#define DEIS_FORMATION_MAX_QTY	1000
#define DEIS_CERT_MAX		(1024 * 1024)	/* a certs/<domain>.pem document */

/* 0 when text[0..len) is at most max bytes without a NUL byte, else
 * -EINVAL: "<what>: too long (N bytes, at most MAX)" or "<what>: contains
 * a NUL byte".  What every document is checked for before it is parsed. */
int deis_text_check(const char *what, const char *text, size_t len,
		    size_t max, struct deis_error *err);

/* ---- messages ---- */

/* Renders len bytes of user input for an error message or a log line:
 * printable ASCII as is, a backslash as "\\", any other byte as \xNN; cut
 * with "..." when it does not fit size.  Returns dst (always terminated
 * when size > 0). */
const char *deis_printable(char *dst, size_t size, const char *s, size_t len);

/* ---- config values ---- */

/* Checks a value written to config/<KEY> and returns its stored length:
 * refuses NUL bytes, text that is not UTF-8 (a config var is a JSON string
 * in the database, as in Heroku's API: it is stored byte for byte or
 * refused, never altered) and values over DEIS_CONFIG_VALUE_MAX; a single-line
 * value ending in one '\n' ("echo 1 > config/DEBUG") loses that newline,
 * anything else (a multi-line PEM) is kept byte for byte.  Returns the
 * length to store, or -EINVAL. */
long deis_config_value_check(const char *data, size_t len,
			     struct deis_error *err);

/* ---- env (dotenv) ---- */

/* Parses a dotenv document: KEY=value lines; blank lines and lines starting
 * with '#' ignored; optional "export " prefix; values unquoted (to end of
 * line, surrounding blanks trimmed), 'single quoted' (literal) or
 * "double quoted" (escapes \n \r \t \" \\ \$, may span lines); values are
 * UTF-8 text.  A key seen twice: the last one wins.  Fills out (replacing
 * its contents). */
int deis_dotenv_parse(const char *text, size_t len, struct deis_kvlist *out,
		      struct deis_error *err);
/* Checks the beginning of a dotenv document as it is being written: text
 * starts at the beginning of a line (line number first_line), and every
 * assignment in it must be whole and valid, except a quoted value still
 * open at the end, which may close in text yet to come.  On success *good
 * is the length of the prefix that is entirely checked and ends at the
 * beginning of a line outside quotes (where the next check may start),
 * and *lines the number of lines in it.  Cost: linear in len. */
int deis_dotenv_check(const char *text, size_t len, size_t first_line,
		      size_t *good, size_t *lines, struct deis_error *err);
/* Writes vars sorted by key, one KEY=value per line; a value that is not
 * entirely safe characters [A-Za-z0-9_./:@%+,=-] (or is empty) is written
 * "double quoted" with escapes, so parse(format(x)) == x. */
void deis_dotenv_format(const struct deis_kvlist *vars, struct deis_buf *out);

/* ---- formation: "web=2 worker=1" ---- */

/* Items separated by spaces, tabs or newlines; each type=N with a valid
 * process type and 0 <= N <= DEIS_FORMATION_MAX_QTY; a type twice is
 * refused.  out: key = type, value = decimal count, sorted by type. */
int deis_formation_parse(const char *text, size_t len,
			 struct deis_kvlist *out, struct deis_error *err);
/* One "type=N\n" per entry, in list order. */
void deis_formation_format(const struct deis_kvlist *f, struct deis_buf *out);

/* ---- limits: "web.memory=512M\nweb.cpu=0.5" ---- */

/* Lines (or blank-separated items) type.resource=value; resources:
 *   memory  bytes with optional K, M, G suffix (powers of 1024),
 *           4M .. 1024G, canonical: the largest exact suffix ("512M")
 *   cpu     cores, decimal with up to 3 fractional digits, 0.01 .. 256,
 *           canonical without trailing zeros ("0.5", "2")
 *   pids    integer 16 .. 1048576
 * out: key "type.resource", canonical value, sorted by key. */
int deis_limits_parse(const char *text, size_t len, struct deis_kvlist *out,
		      struct deis_error *err);
void deis_limits_format(const struct deis_kvlist *l, struct deis_buf *out);
/* Helpers for the runtime: bytes of a canonical memory value, millicores
 * of a canonical cpu value; -1 when malformed. */
long long deis_limits_memory_bytes(const char *value);
long deis_limits_cpu_millis(const char *value);

/* ---- domains: one per line ---- */

/* Blank-separated host names, lowercased, each deis_valid_domain();
 * duplicates dropped, order kept.  At most 100. */
int deis_domains_parse(const char *text, size_t len, struct deis_strlist *out,
		       struct deis_error *err);
/* ---- perms: user names, one per line ---- */
int deis_perms_parse(const char *text, size_t len, struct deis_strlist *out,
		     struct deis_error *err);
/* One item per line (domains, perms). */
void deis_lines_format(const struct deis_strlist *l, struct deis_buf *out);

/* ---- healthcheck: "path=/healthz\ntimeout=5" ---- */

/* Keys: path (starts with '/', printable ASCII without blanks, <= 1024),
 * timeout (seconds, 1..300), interval (seconds, 1..300), port-less.
 * Empty text = no settings.  out in the order path, timeout, interval. */
int deis_healthcheck_parse(const char *text, size_t len,
			   struct deis_kvlist *out, struct deis_error *err);
/* Same "key=value\n" line format as limits/formation. */
void deis_keyvalue_lines_format(const struct deis_kvlist *l, struct deis_buf *out);

/* ---- maintenance: on/off ---- */
/* Accepts on/off, 1/0, true/false, yes/no (any case, surrounding blanks). */
int deis_onoff_parse(const char *text, size_t len, bool *out,
		     struct deis_error *err);

/* ---- rollback: "v3" or "3" ---- */
int deis_version_parse(const char *text, size_t len, int *out,
		       struct deis_error *err);

/* ---- SSH public keys ---- */

struct deis_sshkey {
	char type[64];		/* "ssh-ed25519" */
	char *blob;		/* base64 text as given; caller frees with _clear */
	char *comment;		/* may be "" */
	char fingerprint[64];	/* "SHA256:" + unpadded base64 of sha256(blob) */
};

/* Parses one OpenSSH public key line ("type base64 [comment]", optional
 * trailing newline; options before the type are refused).  Types:
 * ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp{256,384,521},
 * sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com.  The
 * decoded blob must begin with the same type string. */
int deis_sshkey_parse(const char *text, size_t len, struct deis_sshkey *out,
		      struct deis_error *err);
/* "type blob comment\n" (no comment: "type blob\n"). */
void deis_sshkey_format(const struct deis_sshkey *k, struct deis_buf *out);
void deis_sshkey_clear(struct deis_sshkey *k);

/* ---- TLS certificates ---- */

struct deis_cert_info {
	char subject[256];	/* subject CN, or the whole subject */
	char not_after[32];	/* "2027-01-01T00:00:00Z" */
	char fingerprint[100];	/* SHA256 of the leaf, hex pairs with ':' */
};

/* Checks a PEM document holding a certificate chain (leaf first) and its
 * private key (any order): at least one certificate and exactly one key;
 * the key matches the leaf; the leaf is valid at `now`; the leaf covers
 * `domain` (wildcards as in RFC 6125).  info may be NULL. */
int deis_cert_check(const char *pem, size_t len, const char *domain,
		    time_t now, struct deis_cert_info *info,
		    struct deis_error *err);

#endif
