/*
 * conf.h - configuration as a table of {name, type, &var, default, help}.
 *
 * Every binary reads the same file format: "name = value" lines, '#'
 * comments, blank lines ignored, values optionally "double quoted".  The
 * same names work on the command line as --name=value, which wins over the
 * file.  Every option has a default that works on one machine.  A daemon
 * reads the file again on SIGHUP (include/deis/daemon.h): the options
 * marked DEIS_CONF_RELOAD take the new value, the others wait for a
 * restart.
 */
#ifndef DEIS_CONF_H
#define DEIS_CONF_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "deis/error.h"
#include "deis/kv.h"

enum deis_conf_type {
	DEIS_CONF_STR,		/* char ** (strdup'd; the default is copied) */
	DEIS_CONF_INT,		/* int * */
	DEIS_CONF_DOUBLE,	/* double * */
	DEIS_CONF_BOOL,		/* int *: yes/no, on/off, true/false, 1/0 */
	DEIS_CONF_ALIAS,	/* a deprecated name: def is the option's name */
};

/* Or'ed into the type: a reload (SIGHUP) puts a new value in force (the
 * daemon reads it where it uses it).  Without it a new value waits for
 * the next start. */
#define DEIS_CONF_RELOAD 0x100

struct deis_conf_option {
	const char *name;
	enum deis_conf_type type;
	void *var;
	const char *def;
	const char *help;
};

/* An old name kept so that existing files still work; using it adds a
 * deprecation note (see deis_conf_read). */
#define DEIS_CONF_DEPRECATED(old, name) \
	{ old, DEIS_CONF_ALIAS, NULL, name, "deprecated: the old name of " name }

/* Sets every option to its default. */
void deis_conf_defaults(const struct deis_conf_option *opts);
/* Sets one option from text.  -EINVAL for a bad value, -ENOENT for an
 * unknown name. */
int deis_conf_set(const struct deis_conf_option *opts, const char *name,
		  const char *value, struct deis_error *err);
/* Reads a file; a missing file is an error only when must_exist.  Names
 * the table does not know are skipped (they are other binaries'). */
int deis_conf_load(const struct deis_conf_option *opts, const char *path,
		   int must_exist, struct deis_error *err);
/* Prints "  --name=VALUE  help (default: x)" for each option, with
 * " [SIGHUP]" after those a reload puts in force. */
void deis_conf_usage(const struct deis_conf_option *opts, FILE *out);
/* Frees the options' strings (and those a reload retired). */
void deis_conf_free(const struct deis_conf_option *opts);

/*
 * The command line of every binary, split: --help (or -h), --version,
 * --config=FILE (or --config FILE), the --name=value arguments (kept in
 * order: they win over the file), and the rest, compacted in argv after
 * argv[0] for the caller (deisfs: FUSE's).  A "--" ends the options; it
 * and what follows are the rest.
 */
struct deis_conf_cmdline {
	const char *config;	/* the file: --config, else $DEIS_HOME/deis.conf,
				 * else /var/lib/deis/deis.conf */
	int help, version;
	char **sets;		/* the --name=value arguments (into argv) */
	int nsets;
};
void deis_conf_cmdline(int *argc, char **argv, struct deis_conf_cmdline *out);
void deis_conf_cmdline_free(struct deis_conf_cmdline *cl);

/*
 * Values read apart from the options' variables, one per row: what a
 * reload reads before it decides to put it in force.
 */
struct deis_conf_values;
/* Defaults, then the file (a missing one is an error only when
 * must_exist), then the --name=value arguments.  Each deprecated name
 * used adds a line to notes ("FILE:3: drain_refresh is deprecated: use
 * resync_interval").  NULL with err on a bad value or an unknown
 * --name. */
struct deis_conf_values *deis_conf_read(const struct deis_conf_option *opts,
					const char *path, int must_exist,
					char *const *sets, int nsets,
					struct deis_strlist *notes,
					struct deis_error *err);
/*
 * Puts v in force, and frees it.  The options whose value differs are
 * swapped in, then check (when not NULL) is asked; when it refuses a
 * reload, every option is put back, check is asked again (so that what it
 * derives from the options matches what is in force) and -1 returned.
 * On a reload (reload set), options without DEIS_CONF_RELOAD keep the
 * value in force: a note says the new one waits for a restart; notes also
 * say what changed ("resync_interval: 5 -> 2").  Strings that were once
 * in force are kept until deis_conf_free(), never freed before: another
 * thread may still be reading one.
 */
int deis_conf_apply(struct deis_conf_values *v, int reload,
		    int (*check)(struct deis_error *err), struct deis_strlist *notes,
		    struct deis_error *err);
void deis_conf_values_free(struct deis_conf_values *v);

/* The file the command line named (or the default; it may not exist). */
const char *deis_conf_path(void);

/* Whether the local user `user`, whose primary group is `gid`, is a member
 * of deis_conf.admin_group (false when that option is empty).  The one rule
 * deisfs and the builder both apply to name a platform admin. */
bool deis_conf_in_admin_group(const char *user, gid_t gid);

/* Options every binary shares (database, redis, platform naming, logging);
 * defined in conf.c, listed first in each binary's table. */
struct deis_common_conf {
	char *database;		/* libpq conninfo */
	char *redis_host;
	int redis_port;
	char *redis_password;
	char *platform_domain;	/* apps are <app>.<platform_domain> */
	char *ssh_host;		/* host name in git_url */
	int ssh_port;
	char *admin_group;	/* members of this Unix group are admins */
	char *log_level;
	int resync_interval;	/* s between comparisons with the database */
	char *home;		/* $DEIS_HOME: state directory */
	char *syslog_socket;	/* the log server's producer socket (rsyslog) */
	char *registry_url;	/* the image registry (OCI distribution API) */
	char *registry_user;	/* its HTTP basic credentials (the platform's */
	char *registry_password; /* own; empty password: send none) */
	int http_port;		/* the router's ports: apps' URLs name them */
	int https_port;
	char *network_bridge;	/* the containers' bridge on this node */
	char *network_subnet;	/* IPv4 CIDR of the containers' addresses */
	int network_nat;	/* containers reach the outside through NAT */
	int scheduler_memory;	/* MB of a container whose type has no limit:
				 * the scheduler's cgroup and the tree's
				 * quota and capacity admission agree on it */
	int user_uid_min;	/* the uids of platform users who have no */
	int user_uid_max;	/* local account (lib/db_users.c) */
};

extern struct deis_common_conf deis_conf;

#define DEIS_COMMON_OPTIONS \
	{ "database", DEIS_CONF_STR, &deis_conf.database, \
	  "host=127.0.0.1 port=5433 dbname=deis user=deis", \
	  "PostgreSQL connection string (libpq conninfo)" }, \
	{ "redis_host", DEIS_CONF_STR, &deis_conf.redis_host, "127.0.0.1", \
	  "Redis host" }, \
	{ "redis_port", DEIS_CONF_INT, &deis_conf.redis_port, "6380", \
	  "Redis port" }, \
	{ "redis_password", DEIS_CONF_STR, &deis_conf.redis_password, "", \
	  "Redis password (AUTH); empty for none" }, \
	{ "platform_domain", DEIS_CONF_STR, &deis_conf.platform_domain, \
	  "localhost", "apps are served as <app>.<platform_domain>" }, \
	{ "ssh_host", DEIS_CONF_STR, &deis_conf.ssh_host, "localhost", \
	  "host name users push to (in git_url)" }, \
	{ "ssh_port", DEIS_CONF_INT, &deis_conf.ssh_port, "2222", \
	  "builder SSH port (in git_url)" }, \
	{ "admin_group", DEIS_CONF_STR, &deis_conf.admin_group, "deis-admin", \
	  "members of this Unix group are platform admins (root always is)" }, \
	{ "log_level", DEIS_CONF_STR | DEIS_CONF_RELOAD, &deis_conf.log_level, "info", \
	  "error, warning, notice, info or debug" }, \
	{ "resync_interval", DEIS_CONF_INT | DEIS_CONF_RELOAD, &deis_conf.resync_interval, \
	  "5", "seconds between comparisons with the database (events may be lost)" }, \
	{ "home", DEIS_CONF_STR, &deis_conf.home, "/var/lib/deis", \
	  "state directory ($DEIS_HOME)" }, \
	{ "syslog_socket", DEIS_CONF_STR, &deis_conf.syslog_socket, \
	  "/var/lib/deis/run/log/syslog.sock", \
	  "the log server's Unix socket for producers (root only; <home>/run/log/syslog.sock)" }, \
	{ "registry_url", DEIS_CONF_STR, &deis_conf.registry_url, \
	  "http://127.0.0.1:5000", "image registry (OCI distribution API)" }, \
	{ "registry_user", DEIS_CONF_STR, &deis_conf.registry_user, "deis", \
	  "user name the platform's processes give the registry (HTTP basic auth)" }, \
	{ "registry_password", DEIS_CONF_STR, &deis_conf.registry_password, "", \
	  "its password (keep this file root-only); empty to send no credentials" }, \
	{ "http_port", DEIS_CONF_INT, &deis_conf.http_port, "80", \
	  "port the router (nginx) serves HTTP on; apps' URLs name it when not 80" }, \
	{ "https_port", DEIS_CONF_INT, &deis_conf.https_port, "443", \
	  "port the router serves HTTPS on (apps' certs/); 0 for none" }, \
	{ "network_bridge", DEIS_CONF_STR, &deis_conf.network_bridge, "deis0", \
	  "the bridge every container of this node is attached to" }, \
	{ "network_subnet", DEIS_CONF_STR, &deis_conf.network_subnet, \
	  "10.223.0.0/16", "IPv4 subnet of the containers' addresses (the bridge has its first)" }, \
	{ "network_nat", DEIS_CONF_BOOL, &deis_conf.network_nat, "yes", \
	  "containers reach the outside world through NAT (no: they reach nothing off the node)" }, \
	{ "scheduler_memory", DEIS_CONF_INT, &deis_conf.scheduler_memory, "512", \
	  "memory limit of a container in MB when `limits` sets none" }, \
	{ "user_uid_min", DEIS_CONF_INT, &deis_conf.user_uid_min, "2000000000", \
	  "lowest uid given to a platform user who has no local account (no local " \
	  "account should use the range; keep it once uids are given)" }, \
	{ "user_uid_max", DEIS_CONF_INT, &deis_conf.user_uid_max, "2099999999", \
	  "highest uid given to a platform user who has no local account" }

#endif
