/*
 * state.c - the platform as deisfs holds it in memory.
 *
 * Every read is answered from here.  The state is loaded whole at start,
 * then kept fresh one app (or user) at a time: after a change this mount
 * made, on an event from another mount or daemon, and by a periodic
 * resync that compares per-app serials with the database, so a lost
 * event (Redis down or flushed) is made up within resync_interval.
 */
#include <errno.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deis/conf.h"
#include "deis/logemit.h"
#include "deis/log.h"
#include "deisfs.h"
#include "store.h"

struct state state = { .lock = PTHREAD_RWLOCK_INITIALIZER,
		      .nodes_lock = PTHREAD_MUTEX_INITIALIZER, .router_alive = -1 };

int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the Redis pool (log reads) ---- */

static pthread_mutex_t cpool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct deis_cache *cpool[16];
static int cpool_n;

/* After a failed connect, log reads answer "nothing" at once for a while
 * instead of each waiting for the connect timeout (they run under the
 * state's read lock, from stat and readdir too). */
static int64_t cpool_down_until;

struct deis_cache *cache_acquire(void)
{
	struct deis_cache *c = NULL;
	struct deis_error err = DEIS_ERROR_INIT;
	int64_t now = now_us();

	pthread_mutex_lock(&cpool_lock);
	if (cpool_n)
		c = cpool[--cpool_n];
	bool down = !c && now < cpool_down_until;
	pthread_mutex_unlock(&cpool_lock);
	if (down)
		return NULL;
	if (!c && deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
				  deis_conf.redis_password, &c, &err) < 0) {
		deis_log(LOG_WARNING, "logs: %s", err.msg);
		pthread_mutex_lock(&cpool_lock);
		cpool_down_until = now + 2000000;
		pthread_mutex_unlock(&cpool_lock);
		return NULL;
	}
	return c;
}

void cache_release(struct deis_cache *c, bool broken)
{
	if (!c)
		return;
	pthread_mutex_lock(&cpool_lock);
	if (!broken && cpool_n < 16) {
		cpool[cpool_n++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&cpool_lock);
	deis_cache_close(c);
}

void log_bounds(const char *app, const char *src, long long *end, int64_t *mtime)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_cache *c = cache_acquire();

	*end = 0;
	*mtime = 0;
	if (c)
		cache_release(c, deis_cache_log_info(c, app, src, end, mtime, &err) < 0);
}

/* ---- platform lines ---- */

static pthread_mutex_t emit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct deis_logemit *emitter;

void platform_line(const char *app, const char *fmt, ...)
{
	/* A change never waits on a log server that is down: after a failed
	 * send, platform lines are dropped (and counted) for a few seconds. */
	static int64_t down_until;
	static unsigned long dropped;
	struct deis_error err = DEIS_ERROR_INIT;
	int64_t now = now_us();
	char msg[2048];
	va_list ap;

	pthread_mutex_lock(&emit_lock);
	if (now < down_until) {
		dropped++;
		pthread_mutex_unlock(&emit_lock);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!emitter)
		deis_logemit_open(deis_conf.syslog_socket, &emitter, &err);
	if (emitter && deis_logemit_send(emitter, app, "deis", msg, &err) < 0) {
		deis_log(LOG_WARNING, "platform line for %s not sent (%lu more dropped "
			 "before it): %s", app, dropped, err.msg);
		down_until = now + 3000000;
		dropped = 0;
	}
	pthread_mutex_unlock(&emit_lock);
}

/* ---- callers ---- */

/*
 * Platform users who have no local account act with a uid of the reserved
 * range (user_uid_min..user_uid_max, lib/db_users.c), which no
 * /etc/passwd names: the users' records do.  This table, rebuilt from
 * the loaded users at every load and user reload, maps those uids back
 * to names, and is asked before the local accounts.  Under its own
 * mutex: requests ask it before they take the state lock.  Each rebuild
 * bumps the generation, which retires what the caches below hold.
 */
struct platform_uid {
	uid_t uid;
	char name[64];
};

static pthread_mutex_t puids_lock = PTHREAD_MUTEX_INITIALIZER;
static struct platform_uid *puids;	/* sorted by uid */
static size_t npuids;
static unsigned puids_gen;

static bool reserved_uid(long uid)
{
	return uid >= deis_conf.user_uid_min && uid <= deis_conf.user_uid_max &&
	       deis_conf.user_uid_min > 0;
}

static int cmp_puid(const void *a, const void *b)
{
	const struct platform_uid *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Rebuilds the table from state.users; the caller holds the state lock. */
static void platform_uids_rebuild(void)
{
	/* zeroed: the tables are compared whole, padding included */
	struct platform_uid *t = calloc(state.nusers ? state.nusers : 1, sizeof(*t));
	size_t n = 0;

	if (!t)
		abort();
	for (size_t i = 0; i < state.nusers; i++) {
		const struct deis_user *u = state.users[i];

		if (!reserved_uid(u->uid) || strlen(u->name) >= sizeof(t[n].name))
			continue;
		t[n].uid = (uid_t)u->uid;
		snprintf(t[n].name, sizeof(t[n].name), "%s", u->name);
		n++;
	}
	qsort(t, n, sizeof(*t), cmp_puid);
	pthread_mutex_lock(&puids_lock);
	if (n != npuids || (n && memcmp(t, puids, n * sizeof(*t))))
		puids_gen++;	/* only a change retires the caches */
	free(puids);
	puids = t;
	npuids = n;
	pthread_mutex_unlock(&puids_lock);
}

/* The platform user whose reserved uid is uid, into name (size 64). */
static bool platform_uid_name(uid_t uid, char *name)
{
	struct platform_uid key = { .uid = uid }, *hit;
	bool found = false;

	if (!reserved_uid((long)uid))
		return false;
	pthread_mutex_lock(&puids_lock);
	hit = bsearch(&key, puids, npuids, sizeof(*puids), cmp_puid);
	if (hit) {
		snprintf(name, 64, "%s", hit->name);
		found = true;
	}
	pthread_mutex_unlock(&puids_lock);
	return found;
}

/* The reserved uid of the platform user name. */
static bool platform_name_uid(const char *name, uid_t *uid)
{
	bool found = false;

	pthread_mutex_lock(&puids_lock);
	for (size_t i = 0; i < npuids && !found; i++) {
		if (!strcmp(puids[i].name, name)) {
			*uid = puids[i].uid;
			found = true;
		}
	}
	pthread_mutex_unlock(&puids_lock);
	return found;
}

static unsigned platform_uids_gen(void)
{
	pthread_mutex_lock(&puids_lock);
	unsigned gen = puids_gen;
	pthread_mutex_unlock(&puids_lock);
	return gen;
}

struct caller_cache {
	uid_t uid;
	gid_t gid;
	int64_t when;
	unsigned gen;
	char name[64];
	bool admin;
};

static pthread_mutex_t callers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct caller_cache callers[64];

/* A local account's entry by name, uncached. */
static bool passwd_name(const char *name, uid_t *uid, gid_t *gid)
{
	char buf[16384];
	struct passwd pw, *pwp = NULL;

	if (getpwnam_r(name, &pw, buf, sizeof(buf), &pwp) || !pwp)
		return false;
	*uid = pwp->pw_uid;
	*gid = pwp->pw_gid;
	return true;
}

void caller_lookup(uid_t uid, gid_t gid, struct caller *who)
{
	int64_t now = now_us();
	unsigned gen = platform_uids_gen();
	struct caller_cache *slot = &callers[uid % 64];

	memset(who, 0, sizeof(*who));
	who->uid = uid;
	who->gid = gid;
	pthread_mutex_lock(&callers_lock);
	if (slot->when && slot->uid == uid && slot->gid == gid && slot->gen == gen &&
	    now - slot->when < 5000000) {
		snprintf(who->name, sizeof(who->name), "%s", slot->name);
		who->admin = slot->admin;
		pthread_mutex_unlock(&callers_lock);
		return;
	}
	pthread_mutex_unlock(&callers_lock);

	char buf[16384];
	struct passwd pw, *pwp = NULL;
	if (platform_uid_name(uid, who->name)) {
		/* A platform user is an admin as the local account of the
		 * same name would be, if there is one (the builder's rule). */
		uid_t lu;
		gid_t lg;
		who->admin = passwd_name(who->name, &lu, &lg) &&
			     deis_conf_in_admin_group(who->name, lg);
	} else {
		if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp &&
		    strlen(pwp->pw_name) < sizeof(who->name))
			snprintf(who->name, sizeof(who->name), "%s", pwp->pw_name);
		who->admin = uid == 0 || (who->name[0] &&
			deis_conf_in_admin_group(who->name, pwp ? pwp->pw_gid : gid));
	}

	pthread_mutex_lock(&callers_lock);
	slot->uid = uid;
	slot->gid = gid;
	slot->when = now;
	slot->gen = gen;
	snprintf(slot->name, sizeof(slot->name), "%s", who->name);
	slot->admin = who->admin;
	pthread_mutex_unlock(&callers_lock);
}

/* Users by name, for st_uid of every app file: NSS reads /etc/passwd per
 * call, too slow for the stat path.  Kept 5 seconds; misses are kept
 * too. */
struct name_cache {
	char name[64];
	int64_t when;
	unsigned gen;
	bool found;
	uid_t uid;
	gid_t gid;
};

static pthread_mutex_t names_lock = PTHREAD_MUTEX_INITIALIZER;
static struct name_cache names[256];

bool local_user(const char *name, uid_t *uid, gid_t *gid)
{
	unsigned h = 5381, gen = platform_uids_gen();
	int64_t now = now_us();

	for (const char *p = name; *p; p++)
		h = h * 33 + (unsigned char)*p;
	struct name_cache *slot = &names[h % 256];
	pthread_mutex_lock(&names_lock);
	if (slot->when && now - slot->when < 5000000 && slot->gen == gen &&
	    !strcmp(slot->name, name)) {
		bool found = slot->found;
		if (uid)
			*uid = slot->uid;
		if (gid)
			*gid = slot->gid;
		pthread_mutex_unlock(&names_lock);
		return found;
	}
	pthread_mutex_unlock(&names_lock);

	uid_t u = 0;
	gid_t g = 0;
	bool found = strlen(name) < sizeof(slot->name) && passwd_name(name, &u, &g);
	if (!found && strlen(name) < sizeof(slot->name) && platform_name_uid(name, &u)) {
		g = (gid_t)u;	/* a group of its own, as the builder gives it */
		found = true;
	}
	pthread_mutex_lock(&names_lock);
	snprintf(slot->name, sizeof(slot->name), "%s", name);
	slot->when = now;
	slot->gen = gen;
	slot->found = found;
	slot->uid = u;
	slot->gid = g;
	if (uid)
		*uid = slot->uid;
	if (gid)
		*gid = slot->gid;
	pthread_mutex_unlock(&names_lock);
	return found;
}

/* ---- apps and users ---- */

/*
 * An app struct is immutable once loaded; a reload swaps in a new one.  A
 * change runs without the state lock (it talks to PostgreSQL), so it
 * holds a reference on the app it resolved, and the struct is freed when
 * the last holder lets go.
 */
void app_ref(const struct deis_app *a)
{
	if (a)
		__atomic_add_fetch(&((struct deis_app *)a)->refs, 1, __ATOMIC_ACQ_REL);
}

void app_unref(const struct deis_app *a)
{
	if (a && __atomic_sub_fetch(&((struct deis_app *)a)->refs, 1, __ATOMIC_ACQ_REL) == 0)
		deis_app_free((struct deis_app *)a);
}

static int cmp_app(const void *a, const void *b)
{
	return strcmp((*(struct deis_app *const *)a)->name,
		      (*(struct deis_app *const *)b)->name);
}

static int cmp_user(const void *a, const void *b)
{
	return strcmp((*(struct deis_user *const *)a)->name,
		      (*(struct deis_user *const *)b)->name);
}

/* Binary search over a sorted array of pointers to structs whose first
 * string member is `name`; returns the index or -(insert point) - 1. */
#define FIND(arr, n, key) ({						\
	long lo_ = 0, hi_ = (long)(n) - 1, at_ = -1;			\
	while (lo_ <= hi_) {						\
		long mid_ = (lo_ + hi_) / 2;				\
		int c_ = strcmp((arr)[mid_]->name, (key));		\
		if (c_ == 0) { at_ = mid_; break; }			\
		if (c_ < 0) lo_ = mid_ + 1; else hi_ = mid_ - 1;	\
	}								\
	at_ >= 0 ? at_ : -lo_ - 1;					\
})

const struct deis_app *state_app(const char *name)
{
	long i = FIND(state.apps, state.napps, name);

	return i >= 0 ? state.apps[i] : NULL;
}

const struct deis_user *state_user(const char *name)
{
	long i = FIND(state.users, state.nusers, name);

	return i >= 0 ? state.users[i] : NULL;
}

/*
 * Reloads are serialised, from the query to the swap: a reload that began
 * before a commit (an event thread catching up) must not finish after the
 * reload that follows the commit and put the older snapshot back.
 */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

int state_load_all(struct deis_error *err)
{
	struct deis_app **apps;
	struct deis_user **users;
	size_t napps, nusers;
	struct store_conn *db = fs_store->acquire();
	int r;

	if (!db)
		return deis_error_set(err, EIO, "no database connection");
	pthread_mutex_lock(&reload_lock);
	r = fs_store->load_apps(db, NULL, NULL, &apps, &napps, err);
	if (r == 0) {
		r = fs_store->load_users(db, NULL, &users, &nusers, err);
		if (r < 0) {
			for (size_t i = 0; i < napps; i++)
				deis_app_free(apps[i]);
			free(apps);
		}
	}
	fs_store->release(db);
	if (r < 0) {
		pthread_mutex_unlock(&reload_lock);
		return r;
	}
	qsort(apps, napps, sizeof(*apps), cmp_app);
	qsort(users, nusers, sizeof(*users), cmp_user);

	pthread_rwlock_wrlock(&state.lock);
	struct deis_app **old_apps = state.apps;
	struct deis_user **old_users = state.users;
	size_t old_napps = state.napps, old_nusers = state.nusers;
	state.apps = apps;
	state.napps = napps;
	state.users = users;
	state.nusers = nusers;
	platform_uids_rebuild();
	pthread_rwlock_unlock(&state.lock);
	pthread_mutex_unlock(&reload_lock);

	for (size_t i = 0; i < old_napps; i++)
		app_unref(old_apps[i]);
	free(old_apps);
	for (size_t i = 0; i < old_nusers; i++)
		deis_user_free(old_users[i]);
	free(old_users);
	return 0;
}

/* Puts item (or removes name when item is NULL) into a sorted pointer
 * array; returns the replaced item for the caller to free. */
static void *swap_in(void ***arr, size_t *n, const char *name, void *item,
		     const char *(*name_of)(const void *))
{
	void **a = *arr;
	long lo = 0, hi = (long)*n - 1, at = -1;

	while (lo <= hi) {
		long mid = (lo + hi) / 2;
		int c = strcmp(name_of(a[mid]), name);
		if (c == 0) {
			at = mid;
			break;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	if (at >= 0) {
		void *old = a[at];
		if (item) {
			a[at] = item;
		} else {
			memmove(&a[at], &a[at + 1], (*n - (size_t)at - 1) * sizeof(*a));
			(*n)--;
		}
		return old;
	}
	if (!item)
		return NULL;
	a = realloc(a, (*n + 1) * sizeof(*a));
	if (!a)
		abort();
	memmove(&a[lo + 1], &a[lo], (*n - (size_t)lo) * sizeof(*a));
	a[lo] = item;
	(*n)++;
	*arr = a;
	return NULL;
}

static const char *app_name_of(const void *p)
{
	return ((const struct deis_app *)p)->name;
}

static const char *user_name_of(const void *p)
{
	return ((const struct deis_user *)p)->name;
}

/* Loads one app (prev: the app as held now, whose releases are shared)
 * or one user from the store: a fresh struct in *fresh, NULL when it is
 * gone.  The caller holds reload_lock. */
static int load_one(const char *name, bool user, const struct deis_app *prev, void **fresh,
		    struct deis_error *err)
{
	struct store_conn *db = fs_store->acquire();
	struct deis_app **apps = NULL;
	struct deis_user **users = NULL;
	size_t n = 0;

	if (!db)
		return deis_error_set(err, EIO, "no database connection");
	int r = user ? fs_store->load_users(db, name, &users, &n, err) :
		fs_store->load_apps(db, name, prev, &apps, &n, err);
	fs_store->release(db);
	*fresh = r < 0 || !n ? NULL : user ? (void *)users[0] : (void *)apps[0];
	free(apps);
	free(users);
	return r;
}

int state_reload_app(const char *name, struct deis_error *err)
{
	void *loaded;
	int changed_ = 1;

	pthread_mutex_lock(&reload_lock);
	/* The app as held now: only reloads replace it, and they are
	 * serialised by reload_lock, so it stays alive during the load. */
	pthread_rwlock_rdlock(&state.lock);
	const struct deis_app *prev = state_app(name);
	app_ref(prev);
	pthread_rwlock_unlock(&state.lock);
	int r = load_one(name, false, prev, &loaded, err);
	app_unref(prev);
	if (r < 0) {
		pthread_mutex_unlock(&reload_lock);
		return r;
	}
	struct deis_app *fresh = loaded;

	pthread_rwlock_wrlock(&state.lock);
	const struct deis_app *cur = state_app(name);
	if (cur && fresh && cur->serial == fresh->serial && cur->id == fresh->id)
		changed_ = 0;
	else if (!cur && !fresh)
		changed_ = 0;
	struct deis_app *old = NULL;
	if (changed_)
		old = swap_in((void ***)&state.apps, &state.napps, name, fresh, app_name_of);
	if (!fresh)
		scratch_drop_app(name);
	pthread_rwlock_unlock(&state.lock);
	pthread_mutex_unlock(&reload_lock);
	app_unref(changed_ ? old : fresh);
	return changed_;
}

int state_reload_user(const char *name, struct deis_error *err)
{
	void *fresh;

	pthread_mutex_lock(&reload_lock);
	int r = load_one(name, true, NULL, &fresh, err);
	if (r == 0) {
		pthread_rwlock_wrlock(&state.lock);
		fresh = swap_in((void ***)&state.users, &state.nusers, name, fresh, user_name_of);
		platform_uids_rebuild();
		pthread_rwlock_unlock(&state.lock);
	}
	pthread_mutex_unlock(&reload_lock);
	if (r < 0)
		return r;
	deis_user_free(fresh);	/* the one it replaced */
	return 1;
}

int state_resync(void (*cb)(const char *kind, const char *name),
		 struct deis_error *err)
{
	struct deis_kvlist serials = DEIS_KVLIST_INIT;
	struct deis_strlist apps = DEIS_STRLIST_INIT, users = DEIS_STRLIST_INIT;
	struct store_conn *db = fs_store->acquire();
	int r;

	if (!db)
		return deis_error_set(err, EIO, "no database connection");
	r = fs_store->serials(db, &serials, err);
	fs_store->release(db);
	if (r < 0)
		return r;

	/* Collect what differs under the read lock, reload without it. */
	pthread_rwlock_rdlock(&state.lock);
	for (size_t i = 0; i < serials.n; i++) {
		const char *k = serials.items[i].key;
		long serial = strtol(serials.items[i].value, NULL, 10);
		if (k[0] == '~') {
			const struct deis_user *u = state_user(k + 1);
			if (!u || u->serial != serial)
				deis_strlist_add(&users, k + 1);
		} else {
			const struct deis_app *a = state_app(k);
			if (!a || a->serial != serial)
				deis_strlist_add(&apps, k);
		}
	}
	for (size_t i = 0; i < state.napps; i++)
		if (!deis_kvlist_get(&serials, state.apps[i]->name))
			deis_strlist_add(&apps, state.apps[i]->name);
	pthread_rwlock_unlock(&state.lock);

	for (size_t i = 0; i < apps.n; i++)
		if (state_reload_app(apps.items[i], err) > 0 && cb)
			cb("app", apps.items[i]);
	for (size_t i = 0; i < users.n; i++)
		if (state_reload_user(users.items[i], err) > 0 && cb)
			cb("user", users.items[i]);
	deis_kvlist_clear(&serials);
	deis_strlist_clear(&apps);
	deis_strlist_clear(&users);
	return 0;
}

/* ---- memory held for users ---- */

/*
 * What each user makes deisfs hold, so that no tenant can grow the daemon
 * without bound: 250 scratch files of 4 MiB once took it from 47 MB to
 * 1.1 GB, and every open descriptor of a writable file may buffer up to
 * its file's largest value.  A row per user who holds something; few
 * users hold anything at once, so a short array is searched.
 */
struct usage {
	uid_t uid;
	long files;
	long long bytes[2];	/* by enum mem_kind */
};

static pthread_mutex_t usage_lock = PTHREAD_MUTEX_INITIALIZER;
static struct usage *usages;
static size_t nusages;
static long long usage_total;

static struct usage *usage_of(uid_t uid)
{
	for (size_t i = 0; i < nusages; i++)
		if (usages[i].uid == uid)
			return &usages[i];
	usages = realloc(usages, (nusages + 1) * sizeof(*usages));
	if (!usages)
		abort();
	usages[nusages] = (struct usage){ .uid = uid };
	return &usages[nusages++];
}

static void usage_trim(struct usage *u)
{
	if (u->files || u->bytes[0] || u->bytes[1])
		return;
	*u = usages[--nusages];
}

static long long mib(int n)
{
	return (long long)n << 20;
}

/* Changes uid's scratch file count and bytes; the caller holds usage_lock. */
static int usage_add(uid_t uid, enum mem_kind kind, long files, long long bytes,
		     struct deis_error *err)
{
	struct usage *u = usage_of(uid);
	long long limit = mib(kind == MEM_SCRATCH ? fs_conf.scratch_mb : fs_conf.buffers_mb);

	if (files > 0 && fs_conf.scratch_files > 0 && u->files + files > fs_conf.scratch_files) {
		usage_trim(u);
		return deis_error_set(err, EDQUOT, "this user holds %ld scratch files, the most "
				      "a user may (scratch_files): remove some",
				      u->files);
	}
	if (bytes > 0 && limit > 0 && u->bytes[kind] + bytes > limit) {
		usage_trim(u);
		if (kind == MEM_SCRATCH)
			return deis_error_set(err, EDQUOT, "this user's scratch files would "
					      "take more than %d MiB (scratch_mb): remove some",
					      fs_conf.scratch_mb);
		return deis_error_set(err, EDQUOT, "this user's open files would hold more "
				      "than %d MiB (buffers_mb): close some", fs_conf.buffers_mb);
	}
	if (bytes > 0 && fs_conf.memory_mb > 0 && usage_total + bytes > mib(fs_conf.memory_mb)) {
		usage_trim(u);
		return deis_error_set(err, ENOSPC, "deisfs holds %lld MiB of scratch files and "
				      "open files of all users, its limit (memory_mb)",
				      usage_total >> 20);
	}
	u->files += files;
	u->bytes[kind] += bytes;
	usage_total += bytes;
	if (u->files < 0 || u->bytes[kind] < 0 || usage_total < 0) {
		/* a bug in the accounting: log it once, never go negative */
		deis_log(LOG_ERR, "memory accounting of uid %u went negative", (unsigned)uid);
		u->files = u->files < 0 ? 0 : u->files;
		u->bytes[kind] = u->bytes[kind] < 0 ? 0 : u->bytes[kind];
		usage_total = usage_total < 0 ? 0 : usage_total;
	}
	usage_trim(u);
	return 0;
}

int mem_charge(uid_t uid, enum mem_kind kind, long long bytes, struct deis_error *err)
{
	struct deis_error ignored = DEIS_ERROR_INIT;

	pthread_mutex_lock(&usage_lock);
	int rc = usage_add(uid, kind, 0, bytes, err ? err : &ignored);
	pthread_mutex_unlock(&usage_lock);
	return rc;
}

size_t mem_buf_size(const struct deis_buf *b)
{
	return b->cap ? b->cap - 1 : 0;
}

int mem_buf_reserve(struct deis_buf *b, uid_t uid, enum mem_kind kind, size_t need,
		    struct deis_error *err)
{
	size_t extra = need > b->len ? need - b->len : 0;
	size_t cap = deis_buf_cap_for(b, extra);

	if (cap <= b->cap)
		return 0;
	/* Past 64 KiB, grow to what is needed (in pages) rather than to the
	 * next power of two: a user's limit counts what is allocated, and
	 * glibc moves large blocks with mremap, without copying. */
	if (need >= 65536)
		cap = ((need + 4095) & ~(size_t)4095) + 1;
	size_t before = mem_buf_size(b);
	int rc = mem_charge(uid, kind, (long long)(cap - 1 - before), err);
	if (rc < 0)
		return rc;
	char *p = realloc(b->data, cap);
	if (!p)
		abort();
	b->data = p;
	b->cap = cap;
	return 0;
}

/* ---- scratch files ---- */

struct scratch *scratch_find(const char *dir, const char *name)
{
	for (size_t i = 0; i < state.nscratch; i++)
		if (!strcmp(state.scratch[i]->dir, dir) &&
		    !strcmp(state.scratch[i]->name, name))
			return state.scratch[i];
	return NULL;
}

struct scratch *scratch_create(const char *dir, const char *owner, bool of_user,
			       const char *name, mode_t mode, uid_t uid, gid_t gid,
			       struct deis_error *err)
{
	pthread_mutex_lock(&usage_lock);
	int rc = usage_add(uid, MEM_SCRATCH, 1, 0, err);
	pthread_mutex_unlock(&usage_lock);
	if (rc < 0)
		return NULL;

	struct scratch *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	s->creator = uid;
	s->dir = strdup(dir);
	s->owner = strdup(owner);
	s->of_user = of_user;
	s->name = strdup(name);
	s->mode = mode;
	s->uid = uid;
	s->gid = gid;
	s->mtime = now_us();
	struct scratch **a = realloc(state.scratch, (state.nscratch + 1) * sizeof(*a));
	if (!a)
		abort();
	state.scratch = a;
	a[state.nscratch++] = s;
	return s;
}

void scratch_remove(struct scratch *s)
{
	for (size_t i = 0; i < state.nscratch; i++) {
		if (state.scratch[i] != s)
			continue;
		state.scratch[i] = state.scratch[--state.nscratch];
		pthread_mutex_lock(&usage_lock);
		usage_add(s->creator, MEM_SCRATCH, -1, -(long long)mem_buf_size(&s->data), NULL);
		pthread_mutex_unlock(&usage_lock);
		free(s->dir);
		free(s->owner);
		free(s->name);
		deis_buf_release(&s->data);
		free(s);
		return;
	}
}

void scratch_drop_app(const char *app)
{
	for (size_t i = 0; i < state.nscratch;) {
		if (!state.scratch[i]->of_user && !strcmp(state.scratch[i]->owner, app))
			scratch_remove(state.scratch[i]);
		else
			i++;
	}
}
