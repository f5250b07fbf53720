/*
 * runtime.h - the container runtime layer: OCI bundles run by runc.
 *
 * The builder (buildpacks run in a container) and the scheduler (app
 * processes) both use this.  A struct deis_container_spec says what to
 * run; deis_runtime_bundle() turns it into an OCI runtime bundle (a
 * config.json and a rootfs skeleton in a directory); deis_runtime_run()
 * starts the real `runc` binary on that bundle (posix_spawn, never a
 * shell); the other calls wrap `runc kill/delete/state/list`.
 *
 * The stack is the host's own system, read-only: host /usr is bind-mounted
 * read-only, /bin /lib /lib64 /sbin are symlinks into it (Debian 12 merged
 * /usr), /etc is the bundle's own (passwd, group, hosts, resolv.conf,
 * nsswitch.conf, ld.so.cache) with /etc/ssl/certs and /etc/alternatives
 * bind-mounted read-only from the host.  The slug is /app.  Every
 * container has a network namespace of its own (lib/net.c makes one on
 * the node's bridge; else a new one with only lo) and a default seccomp
 * profile.  See docs/runtime.md for the choices (network, seccomp,
 * detached containers, cgroup v1).
 *
 * Every function that can fail returns a negative errno and fills err.
 * runc is $DEIS_RUNC if set, else `runc` from $PATH.
 */
#ifndef DEIS_RUNTIME_H
#define DEIS_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "deis/error.h"
#include "deis/kv.h"

#define DEIS_RUNTIME_ID_MAX 128		/* [a-z0-9][a-z0-9._-]{0,127} */
#define DEIS_RUNTIME_UID 10000		/* the default unprivileged user */
#define DEIS_RUNTIME_USER "app"

/* An extra bind mount (the builder's cache and env dirs). */
struct deis_runtime_mount {
	const char *source;		/* absolute host path */
	const char *destination;	/* absolute path in the container */
	int readonly;
};

/*
 * What to run.  Pointers are borrowed for the duration of the call.
 * Zero/NULL fields take the defaults in brackets.
 */
struct deis_container_spec {
	const char *id;			/* [a-z0-9][a-z0-9._-]{0,127} */
	/* Exactly one of argv (NULL-terminated) and command (run as
	 * /bin/sh -c command, the Procfile convention). */
	const char *const *argv;
	const char *command;
	const struct deis_kvlist *env;	/* PORT, DYNO, config vars; added
					 * to PATH, HOME=/app, LANG */
	const char *cwd;		/* [/app] */
	uid_t uid;			/* [10000]; 0 means the default:
					 * a container never runs as root */
	gid_t gid;			/* [10000], likewise */
	const char *user;		/* name in the bundle's passwd [app] */
	const char *hostname;		/* [id] */
	const char *app_dir;		/* host dir bound at /app [none: empty] */
	int app_rw;			/* /app read-write (the builder) */
	const struct deis_runtime_mount *mounts;
	size_t n_mounts;
	uint64_t memory_bytes;		/* cgroup memory limit [none] */
	unsigned cpu_millicores;	/* 500 = half a CPU [no limit] */
	int64_t pids_max;		/* [no limit] */
	uint64_t nofile;		/* RLIMIT_NOFILE soft = hard [1024] */
	uint64_t tmp_bytes;		/* size of the /tmp tmpfs [64M] */
	const char *const *caps;	/* capabilities kept ("CAP_CHOWN"),
					 * NULL-terminated [none] */
	int terminal;			/* a pty (foreground runs only: runc
					 * relays it to its stdio) [no] */
	const char *netns;		/* network namespace to join (a path,
					 * lib/net.c) [a new one: only lo] */
	const char *address;		/* its address, for /etc/hosts */
};

/*
 * Writes an OCI bundle for spec into dir (created if missing, mode 0711):
 * dir/config.json and dir/rootfs/.  Refuses (EINVAL) a bad id, relative
 * paths, an env key that is empty or holds '=', both or neither of argv
 * and command.
 */
int deis_runtime_bundle(const struct deis_container_spec *spec,
			const char *dir, struct deis_error *err);

/* Validation alone, as deis_runtime_bundle() does it. */
int deis_runtime_check_id(const char *id, struct deis_error *err);
int deis_runtime_check_spec(const struct deis_container_spec *spec,
			    struct deis_error *err);

/* The config.json text for spec (malloc'd; the caller frees it). */
char *deis_runtime_config_json(const struct deis_container_spec *spec,
			       struct deis_error *err);

/* The container's stdio: fds given to it, -1 for /dev/null. */
struct deis_runtime_io {
	int in, out, err;
};

enum {
	DEIS_RUNTIME_DETACH = 1 << 0,	/* runc run -d: runc exits once the
					 * container runs; it survives us */
	DEIS_RUNTIME_KEEP = 1 << 1,	/* runc run --keep: the stopped
					 * container (and its cgroup) stay
					 * until deis_runtime_delete() */
};

/*
 * Starts `runc --root STATE run --bundle DIR ID` with io as its stdio.
 * Foreground (flags without DETACH): returns the pid of runc, whose exit
 * is the container's (deis_runtime_wait()).  DETACH: waits for runc to
 * start the container and returns the container's init pid (not our
 * child: follow it with deis_runtime_state()).
 */
pid_t deis_runtime_run(const char *state_dir, const char *bundle_dir,
		       const char *id, const struct deis_runtime_io *io,
		       int flags, struct deis_error *err);

struct deis_runtime_exit {
	int code;	/* runc's exit status: the container's; 128+N when
			 * the container's init died of signal N */
	int signal;	/* the signal that ended the container, else 0 */
};

/* Waits for a foreground run (pid from deis_runtime_run()).  nohang:
 * returns 0 when it is still running, 1 when it ended. */
int deis_runtime_wait(pid_t pid, int nohang, struct deis_runtime_exit *ex,
		      struct deis_error *err);

/*
 * runc kill ID SIGNAL: signals the container's init (pid 1 in its pid
 * namespace).  Pid 1 gets no signal it has no handler for (the kernel's
 * rule for init), so a plain `sleep` or `sh -c` ignores SIGTERM: stop with
 * SIGTERM, then SIGKILL after a grace period (Heroku waits 30 s).
 * -ESRCH when it is not running, -ENOENT when there is no such container.
 */
int deis_runtime_kill(const char *state_dir, const char *id, int signal,
		      struct deis_error *err);
/* runc kill --all: every process of the container (its cgroup). */
int deis_runtime_kill_all(const char *state_dir, const char *id, int signal,
			  struct deis_error *err);
/* runc delete [--force] ID; deleting a missing container is -ENOENT. */
int deis_runtime_delete(const char *state_dir, const char *id, int force,
			struct deis_error *err);

enum deis_runtime_status {
	DEIS_RT_UNKNOWN = 0,
	DEIS_RT_CREATING,
	DEIS_RT_CREATED,
	DEIS_RT_RUNNING,
	DEIS_RT_PAUSED,
	DEIS_RT_STOPPED,
};
const char *deis_runtime_status_name(enum deis_runtime_status s);

/* runc state ID: its status and init pid (0 when stopped); -ENOENT when
 * there is no such container. */
int deis_runtime_state(const char *state_dir, const char *id,
		       enum deis_runtime_status *status, pid_t *pid,
		       struct deis_error *err);

struct deis_runtime_info {
	char id[DEIS_RUNTIME_ID_MAX + 1];
	enum deis_runtime_status status;
	pid_t pid;
	char *bundle;
};

struct deis_runtime_list {
	struct deis_runtime_info *items;
	size_t n;
};

/* runc list --format json: every container under state_dir. */
int deis_runtime_list(const char *state_dir, struct deis_runtime_list *out,
		      struct deis_error *err);
void deis_runtime_list_free(struct deis_runtime_list *l);

/*
 * Reads a cgroup file of a container (e.g. "memory", "memory.failcnt")
 * into buf (NUL-terminated, trailing newline kept).  The path comes from
 * runc's state of the container, so it works while the container exists
 * (running, or stopped and kept).
 */
int deis_runtime_cgroup_read(const char *state_dir, const char *id,
			     const char *controller, const char *file,
			     char *buf, size_t len, struct deis_error *err);

/* Parses runc's state JSON (one object) / list JSON (an array or null).
 * Exposed for the unit tests. */
int deis_runtime_parse_state(const char *json, enum deis_runtime_status *st,
			     pid_t *pid, struct deis_error *err);
int deis_runtime_parse_list(const char *json, struct deis_runtime_list *out,
			    struct deis_error *err);

#endif
