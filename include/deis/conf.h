/*
 * conf.h - configuration as a table of {name, type, &var, default, help}.
 *
 * Every binary reads the same file format: "name = value" lines, '#'
 * comments, blank lines ignored, values optionally "double quoted".  The
 * same names work on the command line as --name=value, which wins over the
 * file.  Every option has a default that works on one machine.
 */
#ifndef DEIS_CONF_H
#define DEIS_CONF_H

#include <stdio.h>

#include "deis/error.h"

enum deis_conf_type {
	DEIS_CONF_STR,		/* char ** (strdup'd; the default is copied) */
	DEIS_CONF_INT,		/* int * */
	DEIS_CONF_DOUBLE,	/* double * */
	DEIS_CONF_BOOL,		/* int *: yes/no, on/off, true/false, 1/0 */
};

struct deis_conf_option {
	const char *name;
	enum deis_conf_type type;
	void *var;
	const char *def;
	const char *help;
};

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
/* Prints "  --name=VALUE  help (default: x)" for each option. */
void deis_conf_usage(const struct deis_conf_option *opts, FILE *out);
void deis_conf_free(const struct deis_conf_option *opts);
/* Defaults, then the file named by --config=FILE (default
 * $DEIS_HOME/deis.conf), then --name=value arguments; what is left of argv
 * (anything else) is compacted for the caller. */
int deis_conf_args(const struct deis_conf_option *opts, int *argc, char **argv,
		   struct deis_error *err);
/* A daemon's command line: --help (usage(stdout)) and --version exit at
 * once; then deis_conf_args(); arguments left over are refused unless
 * allow_args (the caller reads them in argv[1..*argc-1]).  On an error
 * prints "program: why" on stderr and returns -1. */
int deis_conf_cli(const struct deis_conf_option *opts, const char *program,
		  void (*usage)(FILE *out), int *argc, char **argv, int allow_args);
/* The file deis_conf_args() read (or would have: it may not exist). */
const char *deis_conf_path(void);

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
	{ "log_level", DEIS_CONF_STR, &deis_conf.log_level, "info", \
	  "error, warning, notice, info or debug" }, \
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
	  "memory limit of a container in MB when `limits` sets none" }

#endif
