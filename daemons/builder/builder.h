/*
 * builder.h - deis-builder: git push over SSH (see docs/builder.md).
 *
 * Pieces, one file each:
 *   main.c      options, the listening socket, one forked child per
 *               connection, SIGTERM and SIGCHLD; "deis-builder hook"
 *   session.c   one SSH connection (libssh server, single-threaded event
 *               loop): key exchange, public-key authentication, the one
 *               exec or subsystem request, copying between the channel
 *               and git (or `run`, or sftp-server)
 *   command.c   the only commands accepted, parsed and validated
 *   access.c    key fingerprints, the key's user, who may use an app
 *   repo.c      bare repositories, the per-app push lock, the pre-receive
 *               hook, starting the real git (posix_spawn, never a shell)
 *   hook.c      the pre-receive hook: refs, checkout
 *   procfile.c  Procfile reading and parsing
 *   build.c     the build stage: build row, output, buildpack, image,
 *               release (a forked, time-limited child does the work)
 *   deploy.c    the end of a push: waits until the release is live
 *   buildpack.c buildpacks that run programs (bin/detect, compile,
 *               release in a runc container); the built-in ones
 *   slug.c      the slug: a streaming tar.gz writer (ustar + pax)
 *   run.c       `ssh ... run <app> <command>`: a one-off container
 *   sftp.c      the sftp subsystem: sftp-server as the key's user, in a
 *               mount namespace that holds the tree and what exec needs
 */
#ifndef DEIS_BUILDER_H
#define DEIS_BUILDER_H

#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "deis/error.h"
#include "deis/kv.h"

struct deis_db;

/* Options of deis-builder besides the common ones (main.c). */
struct builder_conf {
	char *listen;		/* address to listen on */
	char *git;		/* the real git binary */
	int max_sessions;	/* authenticated sessions at once */
	int max_startups;	/* unauthenticated connections at once */
	int max_startups_per_source;	/* ... from one address */
	int login_grace;	/* seconds to authenticate and ask for git */
	int keepalive;		/* seconds between TCP keepalive probes */
	int run_grace;		/* seconds a hung-up `run` gets before SIGKILL */
	int shutdown_timeout;	/* seconds sessions get after SIGTERM */
	int build_timeout;	/* seconds a build may take */
	int slug_limit;		/* largest slug (compressed), MB */
	int build_memory;	/* memory limit of a build container, MB */
	int build_pids;		/* pids limit of a build container */
	int deploy_timeout;	/* seconds a push waits for its release to go
				 * live, per stage (0: it does not wait) */
	char *sftp_mount;	/* the tree the sftp subsystem serves */
	char *sftp_server;	/* OpenSSH's sftp-server binary */
	char *config_path;	/* the config file read (baked into hooks) */
	char *self;		/* absolute path of this binary (for hooks) */
};

extern struct builder_conf builder_conf;

/* ---- command.c ---- */

enum builder_service {
	BUILDER_RECEIVE_PACK,	/* git push */
	BUILDER_UPLOAD_PACK,	/* git fetch, git clone */
};

#define BUILDER_APP_MAX	64	/* a DNS label and its NUL */

/* Parses the command of an SSH exec request: only
 *   git-receive-pack '<app>.git'   and   git-upload-pack '<app>.git'
 * with or without the single quotes, a leading '/' and the ".git".  The
 * app name must pass deis_valid_app_name().  -EPERM for another command,
 * -EINVAL for a bad repository name (err says which, for the user). */
int builder_parse_command(const char *cmd, enum builder_service *service,
			  char app[BUILDER_APP_MAX], struct deis_error *err);

/* ---- access.c ---- */

struct ssh_key_struct;
/* "SHA256:" + unpadded base64 of sha256(key blob), as lib/sshkey.c stores
 * it and ssh-keygen -l prints it. */
int builder_fingerprint(struct ssh_key_struct *key, char *out, size_t size);
/* Whether user is a platform admin: root, or a local user in the
 * admin_group Unix group. */
bool builder_is_admin(const char *user);
/* 0 when user may use app (owner, in perms, or an admin); -EACCES when
 * not, -ENOENT when there is no such app; other errors from the database. */
int builder_app_allowed(struct deis_db *db, const char *app, const char *user,
			long *id, struct deis_error *err);

/* ---- repo.c ---- */

/* $home/git/<app>.git into out. */
int builder_repo_path(const char *app, char *out, size_t size);
/* Takes the app's push lock, one for the whole platform (a PostgreSQL
 * advisory lock, db.h), without waiting: 0 and *lock (deis_db_unlock()
 * releases it), or -EWOULDBLOCK when another push holds it. */
struct deis_db_lock;
int builder_repo_lock(long app_id, struct deis_db_lock **lock, struct deis_error *err);
/* Makes the deploy branches show sha, the app's last build, when this
 * node's repository is behind (a push through another node); with apply
 * false only says whether it is: BUILDER_REPO_CURRENT, _BEHIND (sha is
 * here: the branches are set to it) or _MISSING (it is not: they are
 * deleted), or < 0. */
enum { BUILDER_REPO_CURRENT, BUILDER_REPO_BEHIND, BUILDER_REPO_MISSING };
int builder_repo_sync(const char *app, const char *sha, bool apply, struct deis_error *err);
/* Creates the bare repository if missing, (re)installs its pre-receive
 * hook. */
int builder_repo_prepare(const char *app, long app_id, struct deis_error *err);
/* The repository of app, if it belongs to the app with this id: a
 * repository left by a destroyed app of the same name is deleted, never
 * served (-ENOENT then, and when there is none). */
int builder_repo_check(const char *app, long app_id, struct deis_error *err);
/* Starts the real git (receive-pack or upload-pack) on the app's
 * repository with pipes for stdin, stdout, stderr (fds[0..2], ours,
 * non-blocking, close-on-exec); the environment is built from scratch:
 * PATH, HOME, LANG, DEIS_APP, DEIS_PUSH_USER, a checked GIT_PROTOCOL. */
int builder_git_spawn(enum builder_service service, const char *app,
		      const char *user, const char *git_protocol,
		      pid_t *pid, int fds[3], struct deis_error *err);
/* Three pipes (close-on-exec) for a child's stdin, stdout and stderr,
 * which fa puts in place (NULL: a forked child dup2()s them itself); p
 * starts as { { -1, -1 }, ... }. */
int builder_pipes_open(int p[3][2], posix_spawn_file_actions_t *fa,
		       struct deis_error *err);
/* The child runs: closes its ends; fds gets ours (its stdin to write, its
 * stdout and stderr to read), non-blocking. */
void builder_pipes_parent(int p[3][2], int fds[3]);
/* Closes what is open of p (the child did not start). */
void builder_pipes_close(int p[3][2]);
/* One line ("-----> ...") on stdout: the pusher's (the hook), or the
 * build child's pipe to its parent. */
void builder_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- run.c: `ssh -t git@host run <app> <command>` ---- */

/* "run <app> <command>": the app (checked) and where the command starts
 * in cmd.  -EPERM when cmd is no run command, -EINVAL when malformed. */
int builder_parse_run(const char *cmd, char app[BUILDER_APP_MAX], const char **command,
		      struct deis_error *err);
/* Starts `deis-scheduler run` for app; with term (the pty request's
 * TERM, may be "") on a new pty of cols x rows: fds[0] and fds[1] are
 * its master (fds[2] = -1); without, pipes as for git. */
int builder_run_spawn(const char *app, const char *user, const char *command,
		      const char *term, int cols, int rows, pid_t *pid, int fds[3],
		      struct deis_error *err);
void builder_run_resize(int master, int cols, int rows);

/* ---- sftp.c: `sshfs -p 2222 git@host: ~/deis`, `sftp`, `scp` ---- */

#define SFTP_GROUPS_MAX	64

/* Whom sftp-server runs as. */
struct sftp_ident {
	char name[64];		/* the platform user */
	char group[64];		/* its primary group's name (or the user's) */
	uid_t uid;
	gid_t gid;
	gid_t groups[SFTP_GROUPS_MAX];	/* supplementary (local accounts) */
	int ngroups;
};

/* Whether builder_sftp_mount is a FUSE mount (deisfs) that answers:
 * 0, or < 0 with the reason for the user. */
int builder_sftp_tree_check(struct deis_error *err);
/* The identity of platform user `user`: their local account (uid, group,
 * supplementary groups), else their reserved uid (allocated now if they
 * have none; the mount is told and waited for), with a group of the same
 * number.  -EPERM for uid or gid 0. */
int builder_sftp_identity(struct deis_db *db, const char *user, struct sftp_ident *id,
			  struct deis_error *err);
/* Starts sftp-server as id, rooted at the tree (see sftp.c), on pipes as
 * git's (fds: its stdin, stdout, stderr); peer ("address:port") names the
 * client in its log.  < 0 with the reason when it could not be started
 * (nothing runs then). */
int builder_sftp_spawn(const struct sftp_ident *id, const char *peer, pid_t *pid,
		       int fds[3], struct deis_error *err);

/* ---- session.c ---- */

struct ssh_bind_struct;
/* Runs one connection to its end (in a forked child); returns the exit
 * status for the child.  Once the client has authenticated, one byte is
 * written to notify (then closed), so that the daemon stops counting the
 * connection against its pre-authentication limits. */
int builder_session(struct ssh_bind_struct *bind, int fd, const char *peer, int notify);

/* ---- hook.c ---- */

/* deis-builder hook: the pre-receive hook's body; returns the exit status. */
int builder_hook_main(void);

/* ---- procfile.c ---- */

/* Parses a Procfile: "type: command" lines; blank lines and '#' comments
 * skipped; types valid (deis_valid_proc_type), each once; commands not
 * empty; at least one type; at most 64 KiB.  out: type -> command, in file
 * order. */
int builder_procfile_parse(const char *text, size_t len,
			   struct deis_kvlist *out, struct deis_error *err);
/* Reads and parses dir/Procfile: a regular file, never through a symlink.
 * -ENOENT (with a message for the user) when there is none. */
int builder_procfile_read(const char *dir, struct deis_kvlist *out,
			  struct deis_error *err);

/* ---- slug.c ---- */

/* Writes the tree under dir (".git" at its top skipped) as a tar.gz to
 * path, streaming: ustar entries (pax headers for long names), regular
 * files, directories and symlinks (never followed), modes kept, owner
 * 10000:10000 "app", every mtime = mtime, names sorted (the same tree
 * makes the same bytes).  -EFBIG as soon as the compressed size passes
 * limit bytes.  *size gets the compressed size. */
int builder_slug_write(const char *dir, const char *path, time_t mtime,
		       long long limit, long long *size, struct deis_error *err);

/* ---- buildpack.c ---- */

struct deis_buf;
struct deis_runtime_exit;

/* Writes the built-in buildpacks (nodejs, Makefile, static: shell scripts
 * run only in the container) to $DEIS_HOME/builder/buildpacks; dir gets
 * that path. */
int builder_buildpacks_install(char *dir, size_t size, struct deis_error *err);
/* lchown -R dir to the build user (10000:10000), symlinks not followed. */
int builder_chown_tree(const char *dir, struct deis_error *err);
/* $DEIS_HOME/cache/<app> (made, 0700, owned by the build user) into out. */
int builder_cache_dir(const char *app, char *out, size_t size, struct deis_error *err);
/* Makes dir with one file per config var (the Heroku ENV_DIR), readable
 * only by the build user. */
int builder_env_dir(const char *dir, const struct deis_kvlist *config,
		    struct deis_error *err);
/* The container id of build number of app: "<app>.build-<n>". */
int builder_container_id(const char *app, int number, char *out, size_t size);
/* runc's state directory for builds: $DEIS_HOME/builder/runc. */
int builder_runc_state(char *out, size_t size);
/* Removes the networks of builds that no longer run (after a crash). */
void builder_net_gc(void);

/* Where a buildpack step runs. */
struct bp_run {
	const char *app;
	int number;
	const char *bp_dir;	/* the buildpack: /buildpack, read-only */
	const char *build_dir;	/* /app, read-write */
	const char *cache_dir;	/* /cache, read-write */
	const char *env_dir;	/* /env, read-only */
	const char *work_dir;	/* where the bundles are written */
};

/* Runs bin/<step> of the buildpack in a container (as uid 10000): its
 * stdout to out_fd, its stderr to our fd 1; waits for it, *ex gets its
 * exit.  < 0 only when it could not be run. */
int builder_bp_step(const struct bp_run *run, const char *step, int out_fd,
		    struct deis_runtime_exit *ex, struct deis_error *err);
/* Parses bin/release's YAML: default_process_types as Procfile lines into
 * types, config_vars into env. */
int builder_release_parse(const char *text, struct deis_buf *types,
			  struct deis_kvlist *env, struct deis_error *err);

/* ---- build.c ---- */

/* What the build stage gets from the hook. */
struct build_ctx {
	const char *app;
	const char *user;		/* who pushed */
	const char *branch;		/* "main" or "master" */
	const char *commit;		/* full hex SHA-1 */
	time_t commit_time;		/* the commit's committer time */
	const char *src_dir;		/* the checked-out commit (temporary) */
	const char *work_dir;		/* a temporary directory for the slug */
	int out_fd;			/* lines for the pusher ("remote: ...") */
};

/* Builds and releases the pushed commit: the build row, the Procfile,
 * the buildpack, the slug, the image (tags build-N and vN), the release,
 * then waits until the release is live (deploy.c).
 * Every line goes to out_fd and to the log server (source build.N).
 * Returns 0 when released and live; < 0 when the build failed (the build
 * is then marked failed, "-----> Build failed: <reason>" was printed and
 * no release was made), or when the release did not go live (the build
 * stays succeeded and the release stays; the reason was printed). */
int builder_build(const struct build_ctx *ctx, struct deis_error *err);

/* ---- deploy.c ---- */

struct deis_cache;

/* What the wait for a release watches, and where it says so. */
struct deploy_wait {
	struct deis_db *db;
	struct deis_cache *cache;	/* NULL: the router is not waited for */
	const char *app;
	int version;
	int out_fd;			/* the pusher: its hang-up ends the wait */
	void (*say)(void *ctx, const char *line);	/* one line, no newline */
	void *ctx;
};

/* Waits until release w->version is live and routed, saying so
 * ("-----> Release phase: ...", "-----> web.1 up (N ms)").  0 when it is (or the
 * pusher hung up, or no scheduler runs: said so); < 0 with the reason
 * (said too) when its release phase failed, an instance crashed at boot,
 * the scheduler failed it, or builder_deploy_timeout passed. */
int builder_deploy_wait(const struct deploy_wait *w, struct deis_error *err);

#endif
