/*
 * backend.h - the scheduler's container runtime backend: a table of
 * operations, one implementation per runtime.
 *
 * deis-scheduler decides what runs (daemons/scheduler/policy.c); a
 * backend runs it.  It starts a container of a release's image with a
 * command, an environment and limits, on this node's network; tells
 * whether its process runs; signals it; says how it ended; how much CPU
 * it used (for autoscale); finds what a
 * scheduler that was restarted left running; and runs the attached
 * one-offs of `ssh ... run`.  The scheduler calls nothing else to run a
 * container.
 *
 * Today's one backend is "runc" (daemons/scheduler/backend_runc.c): the
 * node's slug cache, lib/runtime.c's bundles, one deis-shim per container
 * (its parent and log forwarder) and lib/net.c's network.  A second one,
 * Docker Swarm over the Engine API, fills in the same struct and is
 * chosen with `scheduler_runtime`.
 *
 * Every operation that can fail returns a negative errno and fills err.
 */
#ifndef DEIS_BACKEND_H
#define DEIS_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "deis/conf.h"
#include "deis/error.h"
#include "deis/kv.h"

#define DEIS_BACKEND_ID_MAX 128		/* a container id's characters */
#define DEIS_BACKEND_ADDRESS_MAX 16	/* an IPv4 address and its NUL */

/* What every backend of a node is given. */
struct deis_backend_conf {
	const char *home;	/* $DEIS_HOME: its state under home/scheduler */
	const char *syslog_socket;	/* where containers' output goes */
	bool attached;		/* for `deis-scheduler run`: a state of its own,
				 * which the daemon neither adopts nor removes */
	bool setup;		/* make the node's network (the daemon, at start) */
};

/* A container to start.  Borrowed for the call. */
struct deis_backend_spec {
	const char *id;		/* <app>.<name>.<seq>: [a-z0-9._-], unique */
	const char *app;	/* its app: its network group, its log lines */
	const char *name;	/* web.1: the source of its log lines */
	const char *image;	/* the release's image (registry reference) */
	const char *command;	/* run by bash -c, as Heroku runs a Procfile */
	const struct deis_kvlist *env;	/* over the image's own */
	uint64_t memory_bytes;	/* limits [none] */
	unsigned cpu_millicores;
	int64_t pids_max;
	bool terminal;		/* attach(): a pty of its own */
	const char *release;	/* "v7": a label for the cluster's tools; may be NULL */
	unsigned seq;		/* the instance's sequence number (unique on the
				 * platform): a cluster backend's name for it */
	int port;		/* $PORT it listens on (the scheduler's `port`) */
};

/* A started container, as the scheduler follows it. */
struct deis_backend_proc {
	int fd;			/* becomes readable when it ends; -1: none */
	pid_t pid;		/* what fd follows (runc: its deis-shim) */
	bool child;		/* pid is our child (reaped by ended()) */
};

#define DEIS_BACKEND_PROC_INIT { -1, 0, false }

/* How a container ended. */
struct deis_backend_exit {
	int code;		/* exit status, 128+N on signal N; -1 unknown */
	int signal;		/* the signal that ended it, else 0 */
	bool oom;		/* killed over its memory limit */
	char error[1024];	/* it never ran: why ("" when it ran) */
};

#define DEIS_BACKEND_NODE_MAX 64	/* a node's name and its NUL */

struct deis_backend_state {
	bool started;		/* its process was started */
	bool signalable;	/* its own program runs: a signal reaches it
				 * (not a runtime's init about to exec it) */
	/* Where it runs, once placed (a cluster backend fills them: the
	 * scheduler copies them into the instance and its row, and routes
	 * to address:port).  node "": this node; port 0: spec->port on
	 * address. */
	char node[DEIS_BACKEND_NODE_MAX];
	char address[DEIS_BACKEND_ADDRESS_MAX];
	int port;
};

/* A node of the backend's cluster (nodes()). */
struct deis_backend_node {
	const char *name;	/* its hostname: platform/nodes/<name> */
	const char *address;	/* its cluster address */
	const char *role;	/* "manager" or "worker" ("node" for runc) */
	const char *state;	/* "ready" or "down" */
	const char *availability;	/* "active", "pause" or "drain" */
	int containers;		/* the platform's containers running there */
	long long memory_total;	/* bytes, 0 unknown */
	long long memory_reserved;	/* bytes the platform's limits take there */
};

/* A container a backend found (list()). */
struct deis_backend_found {
	const char *id;
	struct deis_backend_proc proc;	/* fd -1: nothing follows it */
	bool ended;		/* how it ended is known (ended() reads it) */
};

/* stdio for attach(). */
struct deis_backend_io {
	int in, out, err;
};

struct deis_backend;

struct deis_backend_ops {
	const char *name;	/* what scheduler_runtime names it by */
	/* It places containers on the nodes of a cluster itself (swarm):
	 * one scheduler serves every node, list() returns every node's
	 * containers and inspect() says where each runs.  false: this
	 * node's containers only (runc, one scheduler per node). */
	bool cluster;
	/* Its own settings: rows of the scheduler's options table (read
	 * from the same file and command line), NULL-terminated. */
	const struct deis_conf_option *options;

	int (*open)(const struct deis_backend_conf *conf, struct deis_backend **out,
		    struct deis_error *err);
	void (*close)(struct deis_backend *b);
	/* Removes the node's network (packaging/down). */
	int (*teardown)(const struct deis_backend_conf *conf, struct deis_error *err);

	/*
	 * Starts spec's container (or again, in place, after it ended).
	 * address: its address from an earlier start ("" for none), which
	 * it keeps; set to its address on this node's network, or "" when
	 * it has none.  On success *proc follows it.  -EAGAIN: its image
	 * cannot be had for now (its registry does not answer); the same
	 * start may succeed later.
	 */
	int (*start)(struct deis_backend *b, const struct deis_backend_spec *spec,
		     char address[DEIS_BACKEND_ADDRESS_MAX], struct deis_backend_proc *proc,
		     struct deis_error *err);
	void (*inspect)(struct deis_backend *b, const char *id,
			struct deis_backend_state *st);
	/* SIGTERM to its program (force: SIGKILL to every process of it). */
	int (*stop)(struct deis_backend *b, const char *id, bool force,
		    struct deis_error *err);
	/*
	 * It ended (proc's fd is readable; proc NULL: whatever is left of
	 * it): closes proc, says how in *ex (may be NULL) and deletes the
	 * container.  Its place (address, files) stays for a restart.
	 */
	void (*ended)(struct deis_backend *b, const char *id, struct deis_backend_proc *proc,
		      struct deis_backend_exit *ex);
	/* It will not run again: its files and its address (app and
	 * address may be NULL) go. */
	void (*remove)(struct deis_backend *b, const char *id, const char *app,
		       const char *address);

	/*
	 * The CPU time its processes have used since it started, in ns
	 * (cumulative: the autoscaler takes differences).  ENOENT when it
	 * does not run; NULL: the backend cannot tell (nothing autoscales).
	 */
	int (*cpu_usage)(struct deis_backend *b, const char *id, uint64_t *ns,
			 struct deis_error *err);

	/* At start: every container a previous scheduler left on this node. */
	int (*list)(struct deis_backend *b,
		    void (*fn)(void *ctx, const struct deis_backend_found *f), void *ctx,
		    struct deis_error *err);
	/* After list(): removes whatever runs or holds an address here that
	 * known() does not know (nor a running attached one-off). */
	void (*sweep)(struct deis_backend *b, bool (*known)(void *ctx, const char *id),
		      void *ctx);
	/* An attached one-off, maybe of a session gone: true while it runs,
	 * else false once what it left is removed. */
	bool (*attached_runs)(struct deis_backend *b, const char *id);

	/*
	 * An attached one-off: starts spec's container with io as its stdio
	 * (a pty of its own relayed to them when spec->terminal).  placed()
	 * is called once it has its address, before it runs: < 0 cancels.
	 * *pid: a child of ours whose exit status is the container's.
	 */
	int (*attach)(struct deis_backend *b, const struct deis_backend_spec *spec,
		      const struct deis_backend_io *io,
		      int (*placed)(void *ctx, const char *address, struct deis_error *err),
		      void *ctx, char address[DEIS_BACKEND_ADDRESS_MAX], pid_t *pid,
		      struct deis_error *err);

	/* The cluster's nodes, each once to fn (NULL: the backend has no
	 * cluster; the scheduler reports its own node as today). */
	int (*nodes)(struct deis_backend *b,
		     void (*fn)(void *ctx, const struct deis_backend_node *n), void *ctx,
		     struct deis_error *err);
	/* Sets a node's availability: "active", "pause" (nothing new is
	 * placed there) or "drain" (NULL: not supported). */
	int (*node_availability)(struct deis_backend *b, const char *node,
				 const char *availability, struct deis_error *err);
};

/* An open backend: its operations and its own state. */
struct deis_backend {
	const struct deis_backend_ops *ops;
};

/* Every backend, NULL-terminated. */
extern const struct deis_backend_ops *const deis_backends[];

/* The backend called name ("runc"); NULL when there is none. */
const struct deis_backend_ops *deis_backend_find(const char *name);

#endif
