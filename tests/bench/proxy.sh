#!/bin/bash
# proxy.sh - the router (deis-proxy's nginx) against its baseline, in one
# run, on a running platform (packaging/up; DEIS_HOME, DEIS_MOUNT as for
# the tests):
#
#   1. throughput and latency of a hello app through the router vs
#      straight to the container's port, the same load generator (ab)
#      and settings, BENCH_ROUNDS rounds alternating (median of each);
#      target: through the router >= 0.8x the direct throughput;
#   2. with BENCH_APPS (1000) apps routed: a full re-render and reload
#      (deis-proxy restarted: every app rendered, nginx -t, SIGHUP), and
#      one app's change from its event to its applied serial.
#
#   tests/bench/proxy.sh
#
# Only ratios and times are printed; nothing is asserted.  The apps it
# makes (pxbench, pxb-NNNN: rows written straight to the database, as the
# scheduler would) are removed at the end.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
export DEIS_TEST_NO_MOUNT=0
# shellcheck source=packaging/lib.sh
. "$SRC/packaging/lib.sh"
deis_env_init
ROUNDS=${BENCH_ROUNDS:-5}
NAPPS=${BENCH_APPS:-1000}
REQS=${BENCH_REQUESTS:-5000}
CONC=${BENCH_CONCURRENCY:-16}
HTTP=$DEIS_HTTP_PORT
PLOG=$DEIS_LOGDIR/deis-proxy.log
TMP=$(mktemp -d /tmp/deis-pxbench.XXXXXX)

proxy_running && nginx_running || { echo "proxy.sh: deis-proxy and nginx must run (packaging/up)" >&2; exit 1; }

psql_deis() {
	local db pw ci='' w
	db=$(conf_get "$DEIS_CONF" database)
	pw=$(conninfo_get "$db" password) || pw=''
	for w in $db; do case $w in password=*) ;; *) ci="$ci $w" ;; esac; done
	PGPASSWORD=$pw "$DEIS_PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 "${ci# }" "$@"
}

cleanup() {
	[ -z "${BPID:-}" ] || kill "$BPID" 2>/dev/null || :
	psql_deis -c "DELETE FROM apps WHERE name = 'pxbench' OR name LIKE 'pxb-%'" >/dev/null 2>&1 || :
	redis_cli PUBLISH deis:events "app pxbench" >/dev/null 2>&1 || :
	rm -rf "$TMP"
}
trap cleanup EXIT

# The hello app: answers in one write, as app servers do.
PORT=$(free_port "$HTTP")
setsid python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536
    def do_GET(self):
        body = b"hello\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$PORT" </dev/null >/dev/null 2>&1 &
BPID=$!
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done

serial_applied() {	# APP: succeeds once the app's serial is applied
	local s a
	s=$(psql_deis -c "SELECT serial FROM apps WHERE name = '$1'")
	a=$(redis_cli HGET deis:proxy:applied "$1")
	[ -n "$a" ] && [ "$a" -ge "$s" ]
}

psql_deis -c "DELETE FROM apps WHERE name = 'pxbench' OR name LIKE 'pxb-%'" >/dev/null
psql_deis -c "INSERT INTO apps (name, owner) VALUES ('pxbench', 'root')" >/dev/null
psql_deis -c "INSERT INTO containers (app_id, name, type, number, instance, state, release, node, port)
	SELECT id, 'web.1', 'web', 1, 'pxbench.web.1.1', 'up', 1, 'bench', $PORT FROM apps WHERE name = 'pxbench';
	UPDATE apps SET serial = serial + 1 WHERE name = 'pxbench'" >/dev/null
redis_cli PUBLISH deis:events "app pxbench" >/dev/null
for _ in $(seq 100); do serial_applied pxbench && break; sleep 0.1; done

# ab's "Requests per second" and mean "Time per request" (across all).
run_ab() {	# URL [HOST]
	local out=$TMP/ab.out h=()
	[ -z "${2:-}" ] || h=(-H "Host: $2")
	ab -q -n "$REQS" -c "$CONC" "${h[@]}" "$1" >"$out" 2>&1 || { cat "$out" >&2; return 1; }
	grep -qE '^Failed requests: +0$' "$out" || { echo "proxy.sh: ab saw failed requests" >&2; cat "$out" >&2; }
	printf '%s %s\n' "$(awk '/^Requests per second/ { print $4 }' "$out")" \
		"$(awk '/^Time per request/ && /across/ { print $4 }' "$out")"
}

median() { sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.2f", m }'; }

run_ab "http://127.0.0.1:$PORT/" >/dev/null	# warm-up
for r in $(seq "$ROUNDS"); do
	run_ab "http://127.0.0.1:$PORT/" >>"$TMP/direct"
	run_ab "http://127.0.0.1:$HTTP/" pxbench.localhost >>"$TMP/proxy"
done
d_rps=$(cut -d' ' -f1 "$TMP/direct" | median)
p_rps=$(cut -d' ' -f1 "$TMP/proxy" | median)
d_lat=$(cut -d' ' -f2 "$TMP/direct" | median)
p_lat=$(cut -d' ' -f2 "$TMP/proxy" | median)
ratio=$(awk -v p="$p_rps" -v d="$d_rps" 'BEGIN { printf "%.2f", p / d }')
echo "bench proxy.throughput: router ${p_rps} req/s, direct ${d_rps} req/s, ratio ${ratio} (target >= 0.8; ab -n $REQS -c $CONC, median of $ROUNDS)"
echo "bench proxy.latency: router ${p_lat} ms, direct ${d_lat} ms (mean per request across $CONC concurrent)"

# ---- 1,000 apps
psql_deis -c "INSERT INTO apps (name, owner) SELECT 'pxb-' || lpad(i::text, 4, '0'), 'root'
	FROM generate_series(1, $NAPPS) i;
	INSERT INTO domains (domain, app_id, position) SELECT a.name || '.example.com', a.id, 0
	FROM apps a WHERE a.name LIKE 'pxb-%';
	INSERT INTO containers (app_id, name, type, number, instance, state, release, node, port)
	SELECT a.id, 'web.' || k, 'web', k, a.name || '.web.' || k || '.' || k, 'up', 1, 'bench', 20000 + k
	FROM apps a, generate_series(1, 2) k WHERE a.name LIKE 'pxb-%'" >/dev/null
last=pxb-$(printf '%04d' "$NAPPS")
t0=${EPOCHREALTIME/./}
redis_cli PUBLISH deis:events "app $last" >/dev/null	# the others come with the resync
for _ in $(seq 600); do serial_applied "$last" && [ "$(redis_cli HLEN deis:proxy:applied)" -gt "$NAPPS" ] && break; sleep 0.05; done
t1=${EPOCHREALTIME/./}
echo "bench proxy.apps_added: $NAPPS apps (2 routes, 2 names each) routed $(( (t1 - t0) / 1000 )) ms after they were written (resync interval included)"

# A full re-render and reload: deis-proxy restarted renders every app.
read -r pid <"$DEIS_RUNDIR/deis-proxy.pid"
mark=$(stat -c %s "$PLOG")
total=$(ls "$DEIS_MOUNT/apps" | wc -l)	# ours and any other app
stop_pid "$pid" deis-proxy 10
t0=${EPOCHREALTIME/./}
setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' deis-proxy-start "$DEIS_RUNDIR/deis-proxy.pid" \
	"$DEIS_PROXY" "--config=$DEIS_CONF" </dev/null >>"$PLOG" 2>&1 &
line=''
for _ in $(seq 600); do
	line=$(tail -c +"$((mark + 1))" "$PLOG" | grep -m1 "nginx reloaded: $total app" || :)
	[ -z "$line" ] || break
	sleep 0.05
done
t1=${EPOCHREALTIME/./}
echo "bench proxy.full_reload: $total apps, start to reloaded $(( (t1 - t0) / 1000 )) ms (database load included); ${line#*: info: }"

# One app's change among them: event to applied.
psql_deis -c "UPDATE containers SET port = port + 100 WHERE instance = 'pxb-0001.web.1.1';
	UPDATE apps SET serial = serial + 1 WHERE name = 'pxb-0001'" >/dev/null
mark=$(stat -c %s "$PLOG")
t0=${EPOCHREALTIME/./}
redis_cli PUBLISH deis:events "app pxb-0001" >/dev/null
for _ in $(seq 600); do serial_applied pxb-0001 && break; sleep 0.005; done
t1=${EPOCHREALTIME/./}
line=$(tail -c +"$((mark + 1))" "$PLOG" | grep -m1 "nginx reloaded" || :)
echo "bench proxy.one_change: one app's route among $((NAPPS + 1)) apps, event to applied $(( (t1 - t0) / 1000 )) ms; ${line#*: info: }"

psql_deis -c "DELETE FROM apps WHERE name LIKE 'pxb-%'" >/dev/null
redis_cli PUBLISH deis:events "app $last" >/dev/null
