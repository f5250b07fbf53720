/*
 * sftp.c - the sftp subsystem: OpenSSH's own sftp-server, run as the key's
 * user, seeing nothing of the host but the tree.
 *
 * Who it runs as.  The platform user the key belongs to: a local account
 * gives its uid, primary group and supplementary groups (initgroups); a
 * user with no local account has a uid of the reserved range recorded in
 * PostgreSQL (lib/db_users.c) and runs as that uid with a group of the
 * same number and no other.  deisfs maps either uid back to the same
 * name, so every check of the tree (apps owned or shared in perms,
 * admins, keys, quotas, the commit's identity) applies unchanged: the
 * builder decides nothing about files.  root never runs it.
 *
 * What it sees.  A FUSE tree cannot hold the loader and the libraries an
 * exec needs, so the process gets a mount namespace of its own whose root
 * is a small tmpfs, read-only once made, holding only:
 *
 *   /deis                     the tree (a bind of builder_sftp_mount;
 *                             nosuid, nodev, noexec): the start directory
 *   /lib /lib64 ...           the host's own links (merged /usr: usr/lib
 *                             ...), or its
 *                             directories bound read-only
 *   /usr/lib /usr/lib64 ...   the host's library directories, bound
 *                             read-only, nosuid, nodev (the binary, the
 *                             loader, libc: public system files)
 *   /etc/passwd /etc/group    one line each: this user (sftp-server asks
 *                             getpwuid(getuid()) and exits without it)
 *   /etc/nsswitch.conf        files only
 *   /etc/ld.so.cache          the host's, read-only
 *   /dev/null                 the host's, read-only (sftp-server opens it)
 *
 * made in a forked child: unshare(CLONE_NEWNS), every mount private (none
 * leaks to the host), a tmpfs over $DEIS_HOME/builder/sftp-root,
 * pivot_root into it and the old root detached.  No /proc, /sys, /tmp,
 * /home, /etc/shadow, sockets or devices besides /dev/null exist there,
 * and nothing is writable but the tree.  Then the identity: supplementary
 * groups, gid, uid (all three of each), the capability bounding set,
 * ambient and inheritable sets emptied, NO_NEW_PRIVS, the parent-death
 * signal; then exec.  A failure before exec comes back to the session
 * through a close-on-exec pipe (as words), so the user gets a refusal
 * rather than a closed channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/close_range.h>

#include "deis/cache.h"
#include "deis/conf.h"
#include "deis/daemon.h"
#include "deis/db.h"
#include "deis/log.h"
#include "builder.h"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

/* Where the tree appears, and sftp-server's start directory. */
#define TREE_DIR "/deis"

/* ---- the tree ---- */

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* The file system type and super options of the mount on path (the
 * last one listed: the one on top), from /proc/self/mountinfo; false
 * when nothing is mounted there. */
static bool mount_on(const char *path, char *fstype, size_t ftlen, char *opts, size_t olen)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	bool found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		/* id parent dev root MOUNTPOINT opts [tags] - TYPE source SUPEROPTS */
		char *save = NULL, *tok = strtok_r(line, " \n", &save);
		for (int i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " \n", &save);
		if (!tok)
			continue;
		unescape(tok);
		if (strcmp(tok, path))
			continue;
		while ((tok = strtok_r(NULL, " \n", &save)) && strcmp(tok, "-"))
			;
		char *type = strtok_r(NULL, " \n", &save);
		char *source = type ? strtok_r(NULL, " \n", &save) : NULL;
		char *super = source ? strtok_r(NULL, " \n", &save) : NULL;
		if (!super)
			continue;
		snprintf(fstype, ftlen, "%s", type);
		snprintf(opts, olen, ",%s,", super);
		found = true;
	}
	fclose(f);
	return found;
}

int builder_sftp_tree_check(struct deis_error *err)
{
	const char *m = builder_conf.sftp_mount;
	char real[PATH_MAX], type[64], opts[1024];
	struct statfs sf;

	if (!m || m[0] != '/')
		return deis_error_set(err, EINVAL, "builder_sftp_mount ('%s') is not an "
				      "absolute path", m ? m : "");
	if (statfs(m, &sf) < 0 || !realpath(m, real)) {
		int e = errno;
		return deis_error_set(err, e == ENOTCONN ? ENOTCONN : EIO,
				      "the tree is not available: %s: %s%s", m, strerror(e),
				      e == ENOTCONN ? " (its deisfs is gone)" : "");
	}
	if (sf.f_type != FUSE_SUPER_MAGIC || !mount_on(real, type, sizeof(type), opts, sizeof(opts)) ||
	    strncmp(type, "fuse", 4))
		return deis_error_set(err, ENOENT, "the tree is not mounted on this host "
				      "(no FUSE file system is mounted on %s, builder_sftp_mount)", m);
	if (!strstr(opts, ",allow_other,"))
		return deis_error_set(err, EACCES, "the tree on %s is mounted without "
				      "allow_other: only its owner could use it", m);
	return 0;
}

/* ---- the identity ---- */

/* Tells the mounts that name has a new uid, then waits (up to a resync
 * interval and a second) until this host's mount shows it, so that its
 * first request is not refused for a uid the mount has not heard of. */
static void announce_uid(const char *name, int uid)
{
	struct deis_error err = DEIS_ERROR_INIT;
	struct deis_cache *c = NULL;
	char path[PATH_MAX], want[32], buf[4096];

	if (deis_cache_open(deis_conf.redis_host, deis_conf.redis_port,
			    deis_conf.redis_password, &c, &err) == 0) {
		if (deis_cache_publish(c, "user", name, &err) < 0)
			deis_log(LOG_WARNING, "sftp: telling the mounts about %s: %s", name,
				 err.msg);
		deis_cache_close(c);
	}
	snprintf(path, sizeof(path), "%s/users/%s/info", builder_conf.sftp_mount, name);
	snprintf(want, sizeof(want), "\nuid: %d\n", uid);
	long long end = deis_mono_ms() + 1000LL * (deis_conf.resync_interval + 1);
	do {
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

		if (f)
			fclose(f);
		buf[n] = '\0';
		if (strstr(buf, want))
			return;
		usleep(50000);
	} while (deis_mono_ms() < end);
	deis_log(LOG_WARNING, "sftp: the tree does not show %s's uid %d yet", name, uid);
}

int builder_sftp_identity(struct deis_db *db, const char *user, struct sftp_ident *id,
			  struct deis_error *err)
{
	char buf[16384];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;

	memset(id, 0, sizeof(*id));
	if (strlen(user) >= sizeof(id->name))
		return deis_error_set(err, EINVAL, "user name too long");
	snprintf(id->name, sizeof(id->name), "%s", user);
	if (getpwnam_r(user, &pw, buf, sizeof(buf), &pwp) == 0 && pwp) {
		id->uid = pwp->pw_uid;
		id->gid = pwp->pw_gid;
		id->ngroups = SFTP_GROUPS_MAX;
		if (getgrouplist(user, id->gid, id->groups, &id->ngroups) < 0)
			return deis_error_set(err, E2BIG, "%s is in more than %d groups", user,
					      SFTP_GROUPS_MAX);
		if (getgrgid_r(id->gid, &gr, buf, sizeof(buf), &grp) == 0 && grp &&
		    strlen(grp->gr_name) < sizeof(id->group))
			snprintf(id->group, sizeof(id->group), "%s", grp->gr_name);
		else
			snprintf(id->group, sizeof(id->group), "%s", user);
	} else {
		int uid;
		bool allocated;
		int r = deis_db_user_uid(db, user, &uid, &allocated, err);

		if (r < 0)
			return r;
		if (allocated) {
			deis_log(LOG_NOTICE, "sftp: user %s has no local account: given uid %d",
				 user, uid);
			announce_uid(user, uid);
		}
		id->uid = (uid_t)uid;
		id->gid = (gid_t)uid;
		id->ngroups = 0;
		snprintf(id->group, sizeof(id->group), "%s", user);
	}
	if (id->uid == 0 || id->gid == 0)
		return deis_error_set(err, EPERM, "%s has uid or gid 0: root does not use "
				      "sftp (use an account in admin_group)", user);
	return 0;
}

/* ---- the child: its root, its identity ---- */

/* A failure of the child before exec: the words go up the pipe. */
static void child_fail(int errfd, const char *fmt, ...) __attribute__((format(printf, 2, 3),
								     noreturn));
static void child_fail(int errfd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(msg) - 64)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(e));
	if (n > 0 && write(errfd, msg, strlen(msg)) < 0)
		_exit(127);
	_exit(127);
}

/* root + path (path starts with '/'); "" when too long (fails to make). */
static const char *in_root(const char *root, const char *path)
{
	static char buf[PATH_MAX];

	if ((size_t)snprintf(buf, sizeof(buf), "%s%s", root, path) >= sizeof(buf))
		buf[0] = '\0';
	return buf;
}

/* Binds the host's src onto root+src (a directory or file made for it),
 * read-only, nosuid, with the flags of `also` (MS_NODEV, MS_NOEXEC). */
static void bind_ro(int errfd, const char *root, const char *src, bool dir,
		    unsigned long also)
{
	const char *dst = in_root(root, src);
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | also;

	if (dir ? mkdir(dst, 0755) < 0 && errno != EEXIST :
	    close(open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0)
		child_fail(errfd, "sftp root: making %s", dst);
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0 || mount(NULL, dst, NULL, flags, NULL) < 0)
		child_fail(errfd, "sftp root: binding %s", src);
}

/* The host's dir/name (name "lib*"): a symlink is copied (merged /usr),
 * a directory bound read-only. */
static void lib_entry(int errfd, const char *root, const char *dir, const char *name)
{
	char host[PATH_MAX], target[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(host, sizeof(host), "%s/%s", dir, name) >= sizeof(host) ||
	    lstat(host, &st) < 0)
		return;
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(host, target, sizeof(target) - 1);
		if (n <= 0)
			return;
		target[n] = '\0';
		if (symlink(target, in_root(root, host)) < 0)
			child_fail(errfd, "sftp root: link %s", host);
	} else if (S_ISDIR(st.st_mode)) {
		bind_ro(errfd, root, host, true, MS_NODEV);
	}
}

static void write_file(int errfd, const char *root, const char *path, const char *text)
{
	const char *dst = in_root(root, path);
	int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0)
		child_fail(errfd, "sftp root: writing %s", dst);
}

/* Makes the root at root (a directory of the host) in this namespace and
 * moves into it. */
static void make_root(int errfd, const char *root, const struct sftp_ident *id)
{
	static const char *const libs[] = { "lib", "lib32", "lib64", "libx32", "libexec" };
	char text[512];
	struct stat st;

	if (unshare(CLONE_NEWNS) < 0)
		child_fail(errfd, "sftp root: unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(errfd, "sftp root: making mounts private");
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		child_fail(errfd, "sftp root: %s", root);
	if (mount("deis-sftp", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=256k,nr_inodes=64,mode=0755") < 0)
		child_fail(errfd, "sftp root: tmpfs on %s", root);
	if (mkdir(in_root(root, "/usr"), 0755) < 0 || mkdir(in_root(root, "/etc"), 0755) < 0 ||
	    mkdir(in_root(root, "/dev"), 0755) < 0 || mkdir(in_root(root, TREE_DIR), 0755) < 0)
		child_fail(errfd, "sftp root: directories");

	/* what the exec needs: the binary, the loader, the libraries */
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		lib_entry(errfd, root, "", libs[i]);
		lib_entry(errfd, root, "/usr", libs[i]);
	}
	if (stat(in_root(root, builder_conf.sftp_server), &st) < 0) {
		/* not in a library directory: the file alone, at its path */
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", builder_conf.sftp_server);
		for (char *p = dir + 1; (p = strchr(p, '/')); *p++ = '/') {
			*p = '\0';
			if (mkdir(in_root(root, dir), 0755) < 0 && errno != EEXIST)
				child_fail(errfd, "sftp root: %s", dir);
		}
		bind_ro(errfd, root, builder_conf.sftp_server, false, MS_NODEV);
	}
	if (stat("/etc/ld.so.cache", &st) == 0)
		bind_ro(errfd, root, "/etc/ld.so.cache", false, MS_NODEV | MS_NOEXEC);
	bind_ro(errfd, root, "/dev/null", false, MS_NOEXEC);	/* a device */
	snprintf(text, sizeof(text), "%s:x:%u:%u::" TREE_DIR ":/usr/sbin/nologin\n", id->name,
		 (unsigned)id->uid, (unsigned)id->gid);
	write_file(errfd, root, "/etc/passwd", text);
	snprintf(text, sizeof(text), "%s:x:%u:\n", id->group, (unsigned)id->gid);
	write_file(errfd, root, "/etc/group", text);
	write_file(errfd, root, "/etc/nsswitch.conf", "passwd: files\ngroup: files\n");

	/* the tree: its own mount's flags, plus nosuid, nodev, noexec */
	if (mount(builder_conf.sftp_mount, in_root(root, TREE_DIR), NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, in_root(root, TREE_DIR), NULL,
		  MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail(errfd, "sftp root: binding the tree %s", builder_conf.sftp_mount);

	/* read-only from now on, then the only root there is */
	if (mount(NULL, root, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0)
		child_fail(errfd, "sftp root: read-only");
	if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		child_fail(errfd, "sftp root: pivot_root into %s", root);
}

/* Becomes the user, with no capability in any set and no way to gain
 * one. */
static void drop_privileges(int errfd, const struct sftp_ident *id, pid_t parent)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[2];

	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			child_fail(errfd, "dropping capability %d", cap);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		child_fail(errfd, "clearing ambient capabilities");
	if (setgroups((size_t)id->ngroups, id->groups) < 0 ||
	    setresgid(id->gid, id->gid, id->gid) < 0 ||
	    setresuid(id->uid, id->uid, id->uid) < 0)
		child_fail(errfd, "becoming uid %u gid %u", (unsigned)id->uid, (unsigned)id->gid);
	memset(none, 0, sizeof(none));
	if (syscall(SYS_capset, &hdr, none) < 0)
		child_fail(errfd, "clearing capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(errfd, "no_new_privs");
	/* The credentials changed, which cleared any death signal: set it now
	 * (the session gone, sftp-server goes too). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		child_fail(errfd, "parent death signal");
	errno = EPERM;
	if (setuid(0) == 0 || setgid(0) == 0)
		child_fail(errfd, "still able to become root");
}

static void child(const struct sftp_ident *id, const char *peer, int p[3][2], int errfd,
		  pid_t parent)
{
	char root[PATH_MAX];
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* the session gone, so is this (set again once the credentials
	 * changed, which clear it) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		child_fail(errfd, "parent death signal");
	if (dup2(p[0][0], 0) < 0 || dup2(p[1][1], 1) < 0 || dup2(p[2][1], 2) < 0)
		child_fail(errfd, "dup2");
	if ((size_t)snprintf(root, sizeof(root), "%s/builder/sftp-root", deis_conf.home) >=
	    sizeof(root))
		child_fail(errfd, "the home directory's path is too long");
	make_root(errfd, root, id);
	/* nothing of the session's but stdin, stdout, stderr reaches it */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		for (int fd = 3; fd < 1024; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	drop_privileges(errfd, id, parent);
	if (chdir(TREE_DIR) < 0)
		child_fail(errfd, "entering the tree as %s", id->name);

	/* SSH_CONNECTION: the client's address in sftp-server's log lines */
	char e_user[96], e_logname[96], e_conn[128];
	const char *colon = strrchr(peer, ':');
	snprintf(e_user, sizeof(e_user), "USER=%s", id->name);
	snprintf(e_logname, sizeof(e_logname), "LOGNAME=%s", id->name);
	snprintf(e_conn, sizeof(e_conn), "SSH_CONNECTION=%.*s %s 0 0",
		 colon ? (int)(colon - peer) : 0, peer, colon ? colon + 1 : "0");
	char *envp[] = { (char *)"PATH=/usr/bin:/bin", (char *)"HOME=" TREE_DIR,
			 (char *)"LANG=C.UTF-8", e_user, e_logname, e_conn, NULL };
	char *argv[] = { (char *)"sftp-server", (char *)"-e", (char *)"-l", (char *)"INFO",
			 (char *)"-d", (char *)TREE_DIR, NULL };
	execve(builder_conf.sftp_server, argv, envp);
	child_fail(errfd, "exec %s", builder_conf.sftp_server);
}

int builder_sftp_spawn(const struct sftp_ident *id, const char *peer, pid_t *pid,
		       int fds[3], struct deis_error *err)
{
	int p[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } }, e[2];
	pid_t parent = getpid();
	char why[1024];

	if (builder_conf.sftp_server[0] != '/')
		return deis_error_set(err, EINVAL, "builder_sftp_server must be an absolute path");
	if (builder_pipes_open(p, NULL, err) < 0) {
		builder_pipes_close(p);
		return -err->code;
	}
	if (pipe2(e, O_CLOEXEC) < 0) {
		builder_pipes_close(p);
		return deis_error_set(err, errno, "pipe: %s", strerror(errno));
	}
	*pid = fork();
	if (*pid < 0) {
		int r = errno;
		builder_pipes_close(p);
		close(e[0]);
		close(e[1]);
		return deis_error_set(err, r, "fork: %s", strerror(r));
	}
	if (*pid == 0) {
		close(e[0]);
		child(id, peer, p, e[1], parent);
	}
	close(e[1]);
	/* End of file: exec'd (the pipe was close-on-exec); words: failed. */
	ssize_t n, got = 0;
	while ((n = read(e[0], why + got, sizeof(why) - 1 - (size_t)got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += n;
		if ((size_t)got == sizeof(why) - 1)
			break;
	}
	close(e[0]);
	if (got > 0) {
		why[got] = '\0';
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
		builder_pipes_close(p);
		return deis_error_set(err, EIO, "%s", why);
	}
	builder_pipes_parent(p, fds);
	return 0;
}
