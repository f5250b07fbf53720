/*
 * cert.c - checks a certs/<domain>.pem document (certificate chain and
 * private key) before the proxy ever hands it to nginx.
 *
 * See include/deis/validate.h.  Choices the header leaves open:
 *  - The document is read block by block.  Text outside PEM blocks is
 *    ignored (as nginx and openssl do: "Bag Attributes" lines, notes).
 *    Blocks are CERTIFICATE, a private key (PRIVATE KEY, RSA/EC/DSA
 *    PRIVATE KEY) and EC PARAMETERS (which "openssl ecparam -genkey"
 *    writes and which is skipped); any other block (a CSR, a CRL, a
 *    public key) is refused, since it is most likely the wrong file.
 *  - An encrypted key is refused: the proxy has no passphrase to give.
 *  - Only the leaf (the first certificate) is checked for key, time and
 *    name; the others must merely be certificates.
 *  - Names are matched by X509_check_host() with partial-label wildcards
 *    ("w*.example.com") refused, as browsers do; the subject CN is used
 *    only when the certificate has no DNS names (RFC 6125 §6.4.4).  A
 *    domain "*.example.com" is covered only by a certificate that holds
 *    the wildcard "*.example.com" itself (OpenSSL lets a '*' in the name
 *    we ask for match only a '*' in the certificate), never by one listing
 *    a single host.
 *  - domain must pass deis_valid_domain() (lowercase).
 *  - info, when given, is filled as soon as the leaf is known, so an
 *    expired or mismatched certificate can still be described.
 *  - The document is at most DEIS_CERT_MAX bytes.
 *
 * OpenSSL's thread-local error queue is cleared on the way out so that no
 * stale error is blamed on a later, unrelated call.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "deis/validate.h"

#define SHOW	80

/* Copies UTF-8 text, replacing control characters and cutting at a
 * character boundary. */
static void copy_text(char *dst, size_t size, const unsigned char *s, size_t n)
{
	size_t i;

	if (n >= size) {
		n = size - 1;
		while (n && (s[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++)
		dst[i] = (s[i] < 0x20 || s[i] == 0x7f) ? '?' : (char)s[i];
	dst[i] = '\0';
}

static void describe(X509 *leaf, struct deis_cert_info *info)
{
	X509_NAME *sn = X509_get_subject_name(leaf);
	int idx = sn ? X509_NAME_get_index_by_NID(sn, NID_commonName, -1) : -1;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct tm tm;

	if (idx >= 0) {
		ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(sn, idx));
		unsigned char *u = NULL;
		int n = ASN1_STRING_to_UTF8(&u, d);

		if (n >= 0)
			copy_text(info->subject, sizeof(info->subject), u, (size_t)n);
		OPENSSL_free(u);
	} else if (sn) {
		BIO *mb = BIO_new(BIO_s_mem());
		char *p = NULL;
		long n;

		if (mb && X509_NAME_print_ex(mb, sn, 0, XN_FLAG_RFC2253) >= 0) {
			n = BIO_get_mem_data(mb, &p);
			if (n > 0)
				copy_text(info->subject, sizeof(info->subject),
					  (const unsigned char *)p, (size_t)n);
		}
		BIO_free(mb);
	}
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
		strftime(info->not_after, sizeof(info->not_after),
			 "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (X509_digest(leaf, EVP_sha256(), md, &mdlen) == 1) {
		size_t o = 0;

		for (unsigned int i = 0; i < mdlen; i++)
			o += (size_t)snprintf(info->fingerprint + o,
					      sizeof(info->fingerprint) - o,
					      i ? ":%02X" : "%02X", md[i]);
	}
}

/* The key in one PEM block's DER data; NULL when it does not decode. */
static EVP_PKEY *decode_key(const char *name, const unsigned char *der,
			    long len)
{
	const unsigned char *q = der;
	EVP_PKEY *k = NULL;

	if (!strcmp(name, "PRIVATE KEY")) {
		PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, len);

		if (p8)
			k = EVP_PKCS82PKEY(p8);
		PKCS8_PRIV_KEY_INFO_free(p8);
	} else if (!strcmp(name, "RSA PRIVATE KEY")) {
		k = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &q, len);
	} else if (!strcmp(name, "EC PRIVATE KEY")) {
		k = d2i_PrivateKey(EVP_PKEY_EC, NULL, &q, len);
	} else if (!strcmp(name, "DSA PRIVATE KEY")) {
		k = d2i_PrivateKey(EVP_PKEY_DSA, NULL, &q, len);
	}
	return k;
}

static bool is_key_block(const char *name)
{
	return !strcmp(name, "PRIVATE KEY") || !strcmp(name, "RSA PRIVATE KEY") ||
	       !strcmp(name, "EC PRIVATE KEY") || !strcmp(name, "DSA PRIVATE KEY");
}

int deis_cert_check(const char *pem, size_t len, const char *domain,
		    time_t now, struct deis_cert_info *info,
		    struct deis_error *err)
{
	struct deis_cert_info local;
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = NULL;
	SSL_CTX *ctx = NULL;
	BIO *bio = NULL;
	X509 *leaf;
	int keys = 0, block = 0, rc = 0;
	char show[SHOW];

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if ((rc = deis_text_check("certificate", pem, len, DEIS_CERT_MAX, err)) < 0)
		return rc;
	if (!deis_valid_domain(domain))
		return deis_error_set(err, EINVAL,
				      "certificate: '%s' is not a valid host name",
				      domain ? deis_printable(show, sizeof(show),
							      domain, strlen(domain))
					     : "");

	ERR_clear_error();
	certs = sk_X509_new_null();
	bio = BIO_new_mem_buf(len ? pem : "", (int)len);
	if (!certs || !bio) {
		rc = deis_error_set(err, ENOMEM, "certificate: out of memory");
		goto out;
	}
	for (;;) {
		char *name = NULL, *header = NULL;
		unsigned char *data = NULL;
		long dlen = 0;

		if (!PEM_read_bio(bio, &name, &header, &data, &dlen)) {
			unsigned long e = ERR_peek_last_error();

			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
				break;	/* no more blocks */
			rc = deis_error_set(err, EINVAL,
					    "certificate: PEM block %d is malformed (bad base64 or no END line)",
					    block + 1);
			goto out;
		}
		block++;
		if (!strcmp(name, "CERTIFICATE")) {
			const unsigned char *q = data;
			X509 *x = d2i_X509(NULL, &q, dlen);

			if (!x || q != data + dlen || !sk_X509_push(certs, x)) {
				X509_free(x);
				rc = deis_error_set(err, EINVAL,
						    "certificate: PEM block %d is not a valid certificate",
						    block);
			}
		} else if (!strcmp(name, "ENCRYPTED PRIVATE KEY") ||
			   (is_key_block(name) && strstr(header, "ENCRYPTED"))) {
			rc = deis_error_set(err, EINVAL,
					    "certificate: the private key is encrypted; write it without a passphrase (openssl pkey -in key.pem)");
		} else if (is_key_block(name)) {
			if (++keys > 1) {
				rc = deis_error_set(err, EINVAL,
						    "certificate: more than one private key; exactly one is expected");
			} else if (!(key = decode_key(name, data, dlen))) {
				rc = deis_error_set(err, EINVAL,
						    "certificate: PEM block %d is not a valid %s",
						    block, name);
			}
		} else if (strcmp(name, "EC PARAMETERS")) {
			rc = deis_error_set(err, EINVAL,
					    "certificate: unexpected PEM block '%s'; expected certificates and one private key",
					    deis_printable(show, sizeof(show), name,
							   strlen(name)));
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		if (rc < 0)
			goto out;
	}

	if (sk_X509_num(certs) == 0) {
		rc = deis_error_set(err, EINVAL,
				    "certificate: no certificate found (expected a -----BEGIN CERTIFICATE----- block)");
		goto out;
	}
	if (!key) {
		rc = deis_error_set(err, EINVAL,
				    "certificate: no private key found; the file holds the certificate chain and its key");
		goto out;
	}
	leaf = sk_X509_value(certs, 0);
	describe(leaf, info);

	if (X509_check_private_key(leaf, key) != 1) {
		rc = deis_error_set(err, EINVAL,
				    "certificate: the private key does not match the certificate for '%s' (the first certificate must be the server's own)",
				    info->subject);
		goto out;
	}
	if (X509_cmp_time(X509_get0_notBefore(leaf), &now) >= 0) {
		rc = deis_error_set(err, EINVAL,
				    "certificate: the certificate for '%s' is not valid yet",
				    info->subject);
		goto out;
	}
	if (X509_cmp_time(X509_get0_notAfter(leaf), &now) <= 0) {
		rc = deis_error_set(err, EINVAL,
				    "certificate: the certificate for '%s' expired at %s",
				    info->subject, info->not_after);
		goto out;
	}
	if (X509_check_host(leaf, domain, strlen(domain),
			    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) != 1) {
		rc = deis_error_set(err, EINVAL,
				    "certificate: the certificate for '%s' does not cover '%s'",
				    info->subject, domain);
		goto out;
	}
	/* What the TLS server (nginx, OpenSSL with the system's security
	 * level: 2 on Debian 12) would refuse to load, such as an RSA key
	 * under 2048 bits: loaded into a scratch context the way nginx
	 * loads it. */
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx && (SSL_CTX_use_certificate(ctx, leaf) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, key) != 1)) {
		char why[256];
		ERR_error_string_n(ERR_peek_last_error(), why, sizeof(why));
		const char *reason = ERR_reason_error_string(ERR_peek_last_error());
		rc = deis_error_set(err, EINVAL,
				    "certificate: a TLS server refuses the certificate for '%s' "
				    "or its key: %s (RSA keys need 2048 bits or more)",
				    info->subject, reason ? reason : why);
		goto out;
	}
	for (int i = 1; ctx && i < sk_X509_num(certs); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(certs, i)) != 1) {
			const char *reason = ERR_reason_error_string(ERR_peek_last_error());
			rc = deis_error_set(err, EINVAL,
					    "certificate: a TLS server refuses certificate %d of the "
					    "chain: %s", i + 1, reason ? reason : "refused");
			goto out;
		}
out:
	SSL_CTX_free(ctx);
	EVP_PKEY_free(key);
	sk_X509_pop_free(certs, X509_free);
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}
