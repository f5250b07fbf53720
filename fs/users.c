/*
 * users.c - users/<name>/: info, keys/<key> (SSH public keys), and the
 * directory of every platform user and local user.  users/<name>/quota is
 * in quota.c.  A platform user with no local account has a uid of the
 * reserved range (state.c maps it back; the builder's sftp runs as it).
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deis/log.h"
#include "deis/validate.h"
#include "tree.h"

/* ---- users/<name>/ ---- */

static int64_t mtime_user(const struct node *n)
{
	return n->user ? n->user->updated : state.started;
}

static int show_user_info(const struct node *n, struct deis_buf *out)
{
	char t[32];
	bool admin = false;
	int uid = n->user ? n->user->uid : -1;

	uid_t u;
	gid_t g;
	if (local_user(n->owner, &u, &g)) {
		struct caller c;
		uid = (int)u;
		caller_lookup(u, g, &c);
		admin = c.admin;
	}
	deis_buf_addf(out, "name: %s\n", n->owner);
	if (uid >= 0)
		deis_buf_addf(out, "uid: %d\n", uid);
	deis_buf_addf(out, "admin: %s\n", admin ? "yes" : "no");
	if (n->user) {
		fmt_time(n->user->created, t, sizeof(t));
		deis_buf_addf(out, "created: %s\n", t);
	}
	/* Which apps a user owns is theirs to know (and the admins'), as a
	 * home directory's listing is: others see the rest. */
	const struct caller *v = n->viewer;
	if (v && (v->admin || (v->name[0] && !strcmp(v->name, n->owner)))) {
		deis_buf_adds(out, "apps:");
		for (size_t i = 0; i < state.napps; i++)
			if (!strcmp(state.apps[i]->owner, n->owner))
				deis_buf_addf(out, " %s", state.apps[i]->name);
		deis_buf_addch(out, '\n');
	}
	for (size_t i = 0; n->user && i < n->user->nkeys; i++) {
		const struct deis_key *k = &n->user->keys[i];
		deis_buf_addf(out, "key: %s %s %s\n", k->name, k->type, k->fingerprint);
	}
	return 0;
}

static int show_key(const struct node *n, struct deis_buf *out)
{
	if (n->key)
		deis_buf_adds(out, n->key->data);
	return 0;
}

static const struct nodetype nt_keys;

static int store_key(struct req *r, const struct node *n, const char *data, size_t len)
{
	struct deis_sshkey key = { 0 };
	struct deis_buf line = DEIS_BUF_INIT;
	char user[64], name[256];

	if (!user_self(r, n->owner))
		return deis_error_set(&r->err, EACCES, "only %s or an admin may change "
				      "%s's keys", n->owner, n->owner);
	int rc = deis_sshkey_parse(data, len, &key, &r->err);
	if (rc < 0)
		return deis_error_prefix(&r->err, "key '%s'", n->name);
	deis_sshkey_format(&key, &line);
	snprintf(user, sizeof(user), "%s", n->owner);
	snprintf(name, sizeof(name), "%s", n->name);
	for (size_t i = 0; r->dry_run && i < state.nusers; i++)
		for (size_t j = 0; j < state.users[i]->nkeys; j++) {
			const struct deis_key *k = &state.users[i]->keys[j];
			if (!strcmp(k->fingerprint, key.fingerprint) &&
			    (strcmp(state.users[i]->name, user) || strcmp(k->name, name)))
				rc = deis_error_set(&r->err, EEXIST, "key %s is already "
						    "registered as %s/%s", key.fingerprint,
						    state.users[i]->name, k->name);
		}
	if (rc == 0)
		rc = tree_commit(r, fs_store->key_add, &(struct store_change){
			.user = user, .name = name, .key_type = key.type, .text = line.data,
			.fingerprint = key.fingerprint });
	if (rc == 0) {
		deis_log(LOG_INFO, "user %s: key %s added (%s) by %s", user, name,
			 key.fingerprint, r->who.name);
		if (n->scratch)
			tree_pending_stored(&nt_keys, user, name);
	}
	deis_sshkey_clear(&key);
	deis_buf_release(&line);
	return rc;
}

static int unlink_key(struct req *r, const struct node *n)
{
	char user[64], name[256];

	if (!user_self(r, n->owner))
		return deis_error_set(&r->err, EACCES, "only %s or an admin may change "
				      "%s's keys", n->owner, n->owner);
	snprintf(user, sizeof(user), "%s", n->owner);
	snprintf(name, sizeof(name), "%s", n->name);
	return tree_commit(r, fs_store->key_remove,
			   &(struct store_change){ .user = user, .name = name });
}

static int64_t mtime_key(const struct node *n)
{
	return n->key ? n->key->created : state.started;
}

static const struct nodetype nt_key = {
	.pattern = "<key>", .mode = RW_MODE, .commit = COMMIT_CONTROL, .max = 16384,
	.show = show_key, .store = store_key, .unlink = unlink_key, .mtime = mtime_key,
	.help = "an OpenSSH public key line",
	.doc_write = "that user or an admin: adds the key (`EEXIST` when the same key is "
		"registered under another name); `rm` removes it",
};

static int keys_lookup(const struct node *dir, const char *name, struct node *child)
{
	child->key = dir->user ? deis_user_key(dir->user, name) : NULL;
	return child->key ? 0 : -ENOENT;
}

static void keys_list(const struct node *dir, struct req *r, struct node *e,
		      struct tree_lister *l)
{
	for (size_t i = 0; dir->user && i < dir->user->nkeys; i++) {
		e->key = &dir->user->keys[i];
		tree_add(l, e, "%s", e->key->name);
	}
}

static bool keys_creatable(const struct node *dir, const char *name, int flags)
{
	return deis_valid_key_name(name) && !temp_name(name, flags);
}

static const struct nodetype nt_keys = {
	.name = "keys", .mode = DIR_MODE, .entry = &nt_key, .lookup = keys_lookup,
	.list = keys_list, .scratch_ns = "keys", .creatable = keys_creatable,
	.mtime = mtime_user, .help = "SSH keys: cp ~/.ssh/id_ed25519.pub keys/laptop",
};
/* direct: its content depends on the reader, so the kernel's page cache
 * (shared by every user of the mount) must not keep it. */
static const struct nodetype nt_user_info = {
	.name = "info", .mode = RO_MODE, .show = show_user_info, .mtime = mtime_user,
	.direct = true,
	.help = "name, uid, admin, created, apps, keys",
	.doc_read = "name, uid, admin, created, apps (to that user and admins), keys with "
		"SHA256 fingerprints",
};
static const struct nodetype *const user_children[] = {
	&nt_user_info, &nt_keys, &nt_user_quota, NULL,
};
static const struct nodetype nt_user = {
	.pattern = "<name>", .mode = DIR_MODE, .children = user_children, .mtime = mtime_user,
	.help = "a user (every local user has one)",
};

static int users_lookup(const struct node *dir, const char *name, struct node *child)
{
	const struct deis_user *u = state_user(name);

	/* A local user who has done nothing yet still has a directory, so
	 * the first `cp key.pub users/me/keys/laptop` works. */
	if (!u && (!deis_valid_user_name(name) || !local_user(name, NULL, NULL)))
		return -ENOENT;
	child->user = u;
	snprintf(child->owner, sizeof(child->owner), "%s", name);
	return 0;
}

static void users_list(const struct node *dir, struct req *r, struct node *e,
		       struct tree_lister *l)
{
	bool self_listed = false;

	for (size_t i = 0; i < state.nusers; i++) {
		e->user = state.users[i];
		snprintf(e->owner, sizeof(e->owner), "%s", e->user->name);
		tree_add(l, e, "%s", e->owner);
		self_listed |= !strcmp(e->owner, r->who.name);
	}
	/* and the caller, as users_lookup finds them */
	if (!self_listed && r->who.name[0] && deis_valid_user_name(r->who.name)) {
		e->user = NULL;
		snprintf(e->owner, sizeof(e->owner), "%s", r->who.name);
		tree_add(l, e, "%s", e->owner);
	}
}

static int users_mkdir(struct req *r, const struct node *dir, const char *name)
{
	struct passwd pw, *pwp = NULL;
	char buf[4096];

	if (!r->who.admin)
		return deis_error_set(&r->err, EACCES, "only an admin may create users");
	if (!deis_valid_user_name(name))
		return deis_error_set(&r->err, EINVAL, "'%s' is not a valid user name", name);
	/* A local account keeps its uid; anyone else gets one of the reserved
	 * range from the store (-1: lib/db_users.c), which the builder's sftp
	 * runs them as and caller_lookup() maps back to them. */
	int uid = getpwnam_r(name, &pw, buf, sizeof(buf), &pwp) == 0 && pwp ?
		  (int)pwp->pw_uid : -1;
	return tree_commit(r, fs_store->user_create,
			   &(struct store_change){ .user = name, .uid = uid });
}

const struct nodetype nt_users = {
	.name = "users", .mode = DIR_MODE, .entry = &nt_user, .lookup = users_lookup,
	.list = users_list, .mkdir = users_mkdir, .mtime = mtime_started, .event = "user",
	.help = "the platform's users; an admin may mkdir one",
};
