/*
 * db_schema.c - the schema: the append-only table of migrations and the
 * runner that applies the ones not yet applied.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "db_int.h"

/* ---- migrations ---- */

/*
 * Append-only: a migration, once shipped, never changes; a new schema
 * change is a new entry at the end, with the next version.  The pending
 * ones run in one transaction (deis_db_migrate), each recorded in
 * schema_migrations.
 */
static const struct {
	int version;
	const char *sql;
} migrations[] = {
	{ 1,
	  "CREATE TABLE users ("
	  "  id bigserial PRIMARY KEY,"
	  "  name text NOT NULL UNIQUE,"
	  "  uid integer NOT NULL DEFAULT -1,"
	  "  serial bigint NOT NULL DEFAULT 1,"
	  "  created timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp());"
	  "CREATE TABLE keys ("
	  "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	  "  name text NOT NULL,"
	  "  type text NOT NULL,"
	  "  data text NOT NULL,"
	  "  fingerprint text NOT NULL UNIQUE,"
	  "  created timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (user_id, name));"
	  "CREATE TABLE apps ("
	  "  id bigserial PRIMARY KEY,"
	  "  name text NOT NULL UNIQUE,"
	  "  owner text NOT NULL,"
	  "  serial bigint NOT NULL DEFAULT 1,"
	  "  created timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  healthcheck jsonb NOT NULL DEFAULT '[]',"
	  "  maintenance boolean NOT NULL DEFAULT false,"
	  "  formation_mtime timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  domains_mtime timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  perms_mtime timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  healthcheck_mtime timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  maintenance_mtime timestamptz NOT NULL DEFAULT clock_timestamp());"
	  "CREATE TABLE builds ("
	  "  id bigserial PRIMARY KEY,"
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  number integer NOT NULL,"
	  "  owner text NOT NULL,"
	  "  commit text NOT NULL DEFAULT '',"
	  "  status text NOT NULL DEFAULT 'running',"
	  "  image text NOT NULL DEFAULT '',"
	  "  procfile jsonb NOT NULL DEFAULT '{}',"
	  "  created timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  finished timestamptz,"
	  "  UNIQUE (app_id, number));"
	  "CREATE TABLE releases ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  version integer NOT NULL,"
	  "  owner text NOT NULL,"
	  "  summary text NOT NULL,"
	  "  build_id bigint REFERENCES builds(id) ON DELETE RESTRICT,"
	  "  config jsonb NOT NULL DEFAULT '{}',"
	  "  limits jsonb NOT NULL DEFAULT '{}',"
	  "  created timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (app_id, version));"
	  "CREATE TABLE formation ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  type text NOT NULL,"
	  "  quantity integer NOT NULL CHECK (quantity >= 0),"
	  "  PRIMARY KEY (app_id, type));"
	  "CREATE TABLE domains ("
	  "  domain text PRIMARY KEY,"
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  position integer NOT NULL);"
	  "CREATE INDEX domains_app ON domains (app_id);"
	  "CREATE TABLE perms ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  username text NOT NULL,"
	  "  PRIMARY KEY (app_id, username));"
	  "CREATE TABLE certs ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  domain text NOT NULL,"
	  "  pem text NOT NULL,"
	  "  not_after timestamptz NOT NULL,"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (app_id, domain));"
	  "CREATE TABLE nodes ("
	  "  name text PRIMARY KEY,"
	  "  address text NOT NULL DEFAULT '',"
	  "  info jsonb NOT NULL DEFAULT '{}',"
	  "  last_seen timestamptz NOT NULL DEFAULT clock_timestamp());" },
	{ 2,
	  "CREATE TABLE drains ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  url text NOT NULL,"
	  "  position integer NOT NULL,"
	  "  PRIMARY KEY (app_id, url));"
	  "ALTER TABLE apps ADD COLUMN drains_mtime timestamptz NOT NULL"
	  "  DEFAULT clock_timestamp();" },
	{ 3,
	  /* What runs: written by the scheduler, shown by the tree. */
	  "CREATE TABLE containers ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  name text NOT NULL,"
	  "  type text NOT NULL,"
	  "  number integer NOT NULL,"
	  "  state text NOT NULL DEFAULT 'starting',"
	  "  release integer NOT NULL DEFAULT 0,"
	  "  node text NOT NULL DEFAULT '',"
	  "  port integer NOT NULL DEFAULT 0,"
	  "  started timestamptz,"
	  "  restarts integer NOT NULL DEFAULT 0,"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (app_id, name));" },
	{ 4,
	  /* A container is an instance (its runc id): during a rollout or a
	   * restart two instances of one name run side by side. */
	  "CREATE SEQUENCE container_seq;"
	  "ALTER TABLE containers DROP CONSTRAINT containers_pkey;"
	  "ALTER TABLE containers ADD COLUMN seq bigint NOT NULL"
	  "  DEFAULT nextval('container_seq');"
	  "ALTER TABLE containers ADD COLUMN instance text;"
	  "UPDATE containers c SET instance = a.name || '.' || c.name || '.' || c.seq"
	  "  FROM apps a WHERE a.id = c.app_id;"
	  "ALTER TABLE containers ALTER COLUMN instance SET NOT NULL;"
	  "ALTER TABLE containers ADD PRIMARY KEY (instance);"
	  "CREATE INDEX containers_app ON containers (app_id, type, number, seq);"
	  "ALTER TABLE containers ADD COLUMN command text NOT NULL DEFAULT '';"
	  "ALTER TABLE containers ADD COLUMN desired text NOT NULL DEFAULT '';"
	  "ALTER TABLE apps ADD COLUMN run_serial integer NOT NULL DEFAULT 0;"
	  /* What the scheduler decided about a release: its release phase
	   * passed ('released') or the release never went live ('failed'). */
	  "CREATE TABLE rollouts ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  version integer NOT NULL,"
	  "  state text NOT NULL,"
	  "  reason text NOT NULL DEFAULT '',"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (app_id, version));" },
	{ 5,
	  /* Every container has an address of its own (its network
	   * namespace on the node's bridge): the router and the health
	   * checks reach it at address:port. */
	  "ALTER TABLE containers ADD COLUMN address text NOT NULL DEFAULT '';" },
	{ 6,
	  /* Quotas: scope '' holds the platform's defaults (platform/quotas),
	   * any other scope a user's own (users/<name>/quota).  NULL: not
	   * set at this level (the next one applies).  overcommit, in per
	   * mille of the nodes' memory, is the platform's alone. */
	  "CREATE TABLE quotas ("
	  "  scope text PRIMARY KEY,"
	  "  containers integer CHECK (containers >= 0),"
	  "  memory bigint CHECK (memory >= 0),"
	  "  overcommit integer CHECK (overcommit > 0),"
	  "  updated timestamptz NOT NULL DEFAULT clock_timestamp());" },
	{ 7,
	  /* Settings as data (lib/settings.c, lib/db_settings.c): a row per
	   * app and setting it has set, the canonical value as text.  The
	   * healthcheck and maintenance columns move here. */
	  "CREATE TABLE app_settings ("
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  name text NOT NULL,"
	  "  value text NOT NULL,"
	  "  mtime timestamptz NOT NULL DEFAULT clock_timestamp(),"
	  "  PRIMARY KEY (app_id, name));"
	  "INSERT INTO app_settings (app_id, name, value, mtime)"
	  "  SELECT id, 'healthcheck', coalesce((SELECT string_agg((p->>0) || '=' || (p->>1),"
	  "    E'\\n' ORDER BY i) FROM jsonb_array_elements(healthcheck)"
	  "    WITH ORDINALITY AS e(p, i)), ''), healthcheck_mtime FROM apps;"
	  "INSERT INTO app_settings (app_id, name, value, mtime)"
	  "  SELECT id, 'maintenance', CASE WHEN maintenance THEN 'on' ELSE 'off' END,"
	  "  maintenance_mtime FROM apps;"
	  "ALTER TABLE apps DROP COLUMN healthcheck, DROP COLUMN maintenance,"
	  "  DROP COLUMN healthcheck_mtime, DROP COLUMN maintenance_mtime;" },
	{ 8,
	  /* Users with no local account get a uid of their own from the
	   * reserved range (lib/db_users.c): kept in users.uid, marked, and
	   * never given to two users. */
	  "ALTER TABLE users ADD COLUMN uid_reserved boolean NOT NULL DEFAULT false;"
	  "CREATE UNIQUE INDEX users_reserved_uid ON users (uid) WHERE uid_reserved;" },
	{ 9,
	  /* The routers' side of the handshake with the scheduler
	   * (lib/db_proxy.c): each router (a deis-proxy, by its name) and
	   * its heartbeat, good for ttl seconds; per app, the serial whose
	   * routes its nginx serves.  Written after each reload, so that a
	   * container is stopped only once no router sends to it, with or
	   * without Redis. */
	  "CREATE TABLE routers ("
	  "  name text PRIMARY KEY,"
	  "  ttl integer NOT NULL CHECK (ttl > 0),"
	  "  seen timestamptz NOT NULL DEFAULT clock_timestamp());"
	  "CREATE TABLE router_applied ("
	  "  router text NOT NULL REFERENCES routers(name) ON DELETE CASCADE,"
	  "  app_id bigint NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	  "  serial bigint NOT NULL,"
	  "  PRIMARY KEY (router, app_id));"
	  "CREATE INDEX router_applied_app ON router_applied (app_id);" },
	{ 10,
	  /* Nodes of a cluster (platform/nodes/<node>/, lib/db_sched.c): what
	   * the scheduler's heartbeat reports of each (its role, its state
	   * and availability as the runtime says them, whether that runtime
	   * can move containers to another node) and the availability an
	   * admin asked for, which only a write of the tree changes.  The
	   * figures (containers, memory, memory_used) stay in info, which the
	   * capacity admission reads. */
	  "ALTER TABLE nodes"
	  "  ADD COLUMN role text NOT NULL DEFAULT 'node',"
	  "  ADD COLUMN state text NOT NULL DEFAULT 'ready'"
	  "    CHECK (state IN ('ready', 'down')),"
	  "  ADD COLUMN availability text NOT NULL DEFAULT 'active'"
	  "    CHECK (availability IN ('active', 'pause', 'drain')),"
	  "  ADD COLUMN movable boolean NOT NULL DEFAULT false,"
	  "  ADD COLUMN desired_availability text NOT NULL DEFAULT 'active'"
	  "    CHECK (desired_availability IN ('active', 'pause', 'drain')),"
	  "  ADD COLUMN desired_by text NOT NULL DEFAULT '',"
	  "  ADD COLUMN desired_at timestamptz;" },
};

/* ---- the runner ---- */

/* Whether migration version has been applied: 1, 0, or < 0. */
static int applied(struct deis_db *db, const char *version, struct deis_error *err)
{
	return db_count(db_query(db, err, "SELECT 1 FROM schema_migrations WHERE version = $1",
				 version), err);
}

/* Every pending migration in one transaction, after the migration lock:
 * a migrator that waited for another finds nothing left to do. */
int deis_db_migrate(struct deis_db *db, struct deis_error *err)
{
	char ver[16];
	int r = db_begin(db, err);

	if (r < 0)
		return r;
	r = db_lock(db, DB_LOCK_MIGRATE, err);
	if (r == 0)
		r = db_exec(db, err, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			    " version integer PRIMARY KEY,"
			    " applied timestamptz NOT NULL DEFAULT now())");
	for (size_t i = 0; r == 0 && i < sizeof(migrations) / sizeof(*migrations); i++) {
		snprintf(ver, sizeof(ver), "%d", migrations[i].version);
		r = applied(db, ver, err);
		if (r < 0)
			break;
		if (r == 1) {
			r = 0;
			continue;
		}
		/* Several statements: only the simple protocol runs them. */
		PGresult *m = PQexec(db->conn, migrations[i].sql);
		if (PQresultStatus(m) != PGRES_COMMAND_OK) {
			r = db_result_error(db, m, err);
			deis_error_prefix(err, "migration %d", migrations[i].version);
		}
		PQclear(m);
		if (r == 0)
			r = db_exec(db, err, "INSERT INTO schema_migrations (version) VALUES ($1)", ver);
	}
	return db_end(db, r, err);
}
