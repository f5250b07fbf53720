/*
 * access.c - who is pushing, and may they use this app.
 *
 * A key is known by its SHA256 fingerprint, computed here from the key
 * libssh hands over (ssh_get_publickey_hash: sha256 of its blob), in exactly the form lib/sshkey.c stores
 * ("SHA256:" + unpadded base64), and looked up with deis_db_key_owner().
 * An app may be used by its owner, the users in its perms
 * (deis_db_app_access) and admins: root, and members of the admin_group
 * Unix group when the platform user is a local user (the same rule deisfs
 * applies to callers of the mount: deis_conf_in_admin_group()).
 */
#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <openssl/evp.h>

#include "deis/conf.h"
#include "deis/db.h"
#include "builder.h"

int builder_fingerprint(ssh_key key, char *out, size_t size)
{
	unsigned char *md = NULL;
	size_t mdlen = 0;
	unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];

	/* The SHA-256 of the key blob (RFC 4253 public key format). */
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &md, &mdlen) < 0)
		return -EINVAL;
	if (mdlen > EVP_MAX_MD_SIZE) {
		ssh_clean_pubkey_hash(&md);
		return -EINVAL;
	}
	int n = EVP_EncodeBlock(b64, md, (int)mdlen);
	ssh_clean_pubkey_hash(&md);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	b64[n] = '\0';
	if (size < sizeof("SHA256:") + (size_t)n)
		return -ENAMETOOLONG;
	memcpy(out, "SHA256:", 7);
	memcpy(out + 7, b64, (size_t)n + 1);
	return 0;
}

bool builder_is_admin(const char *user)
{
	char buf[16384];
	struct passwd pw, *pwp = NULL;

	if (!strcmp(user, "root"))
		return true;
	if (getpwnam_r(user, &pw, buf, sizeof(buf), &pwp) || !pwp)
		return false;	/* not a local user */
	return deis_conf_in_admin_group(user, pwp->pw_gid);
}

int builder_app_allowed(struct deis_db *db, const char *app, const char *user,
			long *id, struct deis_error *err)
{
	bool allowed = false;
	int r = deis_db_app_access(db, app, user, &allowed, id, err);

	if (r < 0)
		return r;
	if (allowed || builder_is_admin(user))
		return 0;
	return deis_error_set(err, EACCES, "%s may not use app '%s'", user, app);
}
