/*
 * pqbench.c - the baseline of the commit benchmark: the transaction that
 * deisfs runs for `echo v > apps/<app>/config/KEY`, over bare libpq.
 *
 *   pqbench CONF APP KEY ITERATIONS
 *
 * Connects with the conninfo of the `database = "..."` line of CONF (a
 * deis.conf, so no password is on the command line), runs two untimed
 * warm-up transactions, then ITERATIONS timed ones, and prints the mean
 * cost of one in nanoseconds.  Each transaction writes the same rows as
 * deis_db_release_create() in lib/db_releases.c for a DEIS_RELEASE_SET: it bumps
 * the app's serial, reads the latest release, sets KEY to a new value in
 * its config (with jansson, as deisfs does) and inserts the next release
 * with the summary "root changed KEY".  It does none of what deisfs does
 * around that (FUSE, reloading the app, publishing the event): that is
 * the overhead the benchmark measures.
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

static PGconn *conn;

static void die(const char *what, PGresult *res)
{
	fprintf(stderr, "pqbench: %s: %s", what,
		res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	exit(1);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The value of `database = "..."` in a deis.conf (last one wins). */
static char *conf_database(const char *path)
{
	char line[4096], *found = NULL;
	FILE *f = fopen(path, "r");

	if (!f) {
		perror(path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *q;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "database", 8))
			continue;
		p += 8;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != '=')
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		q = p + strlen(p);
		while (q > p && (q[-1] == '\n' || q[-1] == ' ' || q[-1] == '\t'))
			*--q = '\0';
		if (q - p >= 2 && *p == '"' && q[-1] == '"') {
			q[-1] = '\0';
			p++;
		}
		free(found);
		found = strdup(p);
	}
	fclose(f);
	if (!found) {
		fprintf(stderr, "pqbench: no database line in %s\n", path);
		exit(1);
	}
	return found;
}

static PGresult *run(const char *sql, int n, const char *const *params,
		     ExecStatusType want)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != want)
		die(sql, res);
	return res;
}

static void one(const char *app, const char *key, const char *summary, long i)
{
	char appid[32], ver[24], val[64];
	const char *p[7];
	json_error_t je;

	PQclear(run("BEGIN", 0, NULL, PGRES_COMMAND_OK));
	p[0] = app;
	PGresult *res = run("UPDATE apps SET serial = serial + 1,"
			    " updated = clock_timestamp() WHERE name = $1 RETURNING id",
			    1, p, PGRES_TUPLES_OK);
	if (PQntuples(res) != 1)
		die("no such app", NULL);
	snprintf(appid, sizeof(appid), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);

	p[0] = appid;
	res = run("SELECT version, config::text, limits::text, build_id"
		  " FROM releases WHERE app_id = $1 ORDER BY version DESC LIMIT 1",
		  1, p, PGRES_TUPLES_OK);
	if (PQntuples(res) != 1)
		die("app has no release", NULL);
	long cur = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	json_t *config = json_loads(PQgetvalue(res, 0, 1), 0, &je);
	json_t *limits = json_loads(PQgetvalue(res, 0, 2), 0, &je);
	char *build = PQgetisnull(res, 0, 3) ? NULL : strdup(PQgetvalue(res, 0, 3));
	PQclear(res);
	if (!config || !limits) {
		fprintf(stderr, "pqbench: malformed JSON: %s\n", je.text);
		exit(1);
	}
	snprintf(val, sizeof(val), "v%ld.%ld", (long)getpid(), i);
	json_object_set_new(config, key, json_string(val));
	char *cj = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
	char *lj = json_dumps(limits, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(config);
	json_decref(limits);

	snprintf(ver, sizeof(ver), "%ld", cur + 1);
	p[0] = appid;
	p[1] = ver;
	p[2] = "root";
	p[3] = summary;
	p[4] = build;
	p[5] = cj;
	p[6] = lj;
	PQclear(run("INSERT INTO releases (app_id, version, owner, summary, build_id,"
		    " config, limits) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		    7, p, PGRES_COMMAND_OK));
	PQclear(run("COMMIT", 0, NULL, PGRES_COMMAND_OK));
	free(cj);
	free(lj);
	free(build);
}

int main(int argc, char **argv)
{
	char summary[256];
	char *end;
	long n, i = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: pqbench DEIS_CONF APP KEY ITERATIONS\n");
		return 2;
	}
	n = strtol(argv[4], &end, 10);
	if (*end || n < 1) {
		fprintf(stderr, "pqbench: bad iteration count '%s'\n", argv[4]);
		return 2;
	}
	char *conninfo = conf_database(argv[1]);
	conn = PQconnectdb(conninfo);
	free(conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
		die("connect", NULL);
	snprintf(summary, sizeof(summary), "root changed %s", argv[3]);
	for (; i < 2; i++)
		one(argv[2], argv[3], summary, i);
	long long t0 = now_ns();
	for (long k = 0; k < n; k++, i++)
		one(argv[2], argv[3], summary, i);
	long long t1 = now_ns();
	printf("%.1f 0\n", (double)(t1 - t0) / (double)n);
	PQfinish(conn);
	return 0;
}
