#!/bin/bash
# tests/bench/logs.sh - log server benchmarks: throughput and latency of
# producer -> rsyslog -> deis-logd -> Redis streams (and per-app files).
#
#   tests/bench/logs.sh          bring a throwaway platform up, measure, tear down
#
# Measures, in the same run:
#   one-app    N lines from one producer: lines/s until the last is in the
#              Redis stream, and that exactly N are there (and in the file)
#   ten-apps   N lines split over 10 apps sent at once: the same
#   rsyslog    the ceiling: a second, plain rsyslogd (imptcp on a Unix
#              socket -> omfile, no deis-logd) writing the same N lines to a
#              file
#   latency    LAT_N lines sent at ~1000/s: from the producer's time stamp
#              to the line being readable in Redis (XREAD), p50/p99/max
# The rate limit and retention are raised for the run (log_rate,
# log_burst, log_retention_lines in deis.conf), so every line must arrive.
#
# Environment: LOGBENCH_N (200000), LAT_N (2000), DEIS_BUILD (build-bench),
# DEIS_SKIP_PACKAGES, DEIS_MESON_ARGS, BENCH_KEEP=1 keeps the directory.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
# shellcheck source=packaging/lib.sh
. "$BENCH_DIR/../../packaging/lib.sh"

case ${1:-} in -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;; esac
[ "$(id -u)" = 0 ] || die "tests/bench/logs.sh must run as root (packaging/up needs it)"
N=${LOGBENCH_N:-200000}
LAT_N=${LAT_N:-2000}
export LC_ALL=C.UTF-8 TZ=UTC

TMP=$(mktemp -d /tmp/deis-logbench.XXXXXX)
chmod 0711 "$TMP"
DEIS_HOME=$TMP/home
DEIS_MOUNT=$TMP/mnt
DEIS_FAST=1
DEIS_BUILD=${DEIS_BUILD:-build-bench}
DEIS_PG_PORT=$(free_port)
DEIS_REDIS_PORT=$(free_port "$DEIS_PG_PORT")
export DEIS_HOME DEIS_MOUNT DEIS_FAST DEIS_BUILD DEIS_PG_PORT DEIS_REDIS_PORT
deis_env_init
SEND=$DEIS_BUILD/daemons/logd/deis-log-send
PLAIN=$TMP/plain
finished=0

cleanup() {
	local st=$?
	if [ -s "$PLAIN/rsyslog.pid" ]; then
		stop_pid "$(cat "$PLAIN/rsyslog.pid")" "plain rsyslogd" 10
	fi
	bash "$DEIS_SRC/packaging/down" --purge >"$TMP/down.log" 2>&1 || true
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ $finished = 0 ]; then
		echo "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "platform in $DEIS_HOME (build $DEIS_BUILD)"
bash "$DEIS_SRC/packaging/up" >"$TMP/up.log" 2>&1 || { show_log_tail "$TMP/up.log" 40; die "packaging/up failed"; }
{
	echo "log_rate = 100000000"
	echo "log_burst = 100000000"
	echo "log_retention_lines = 10000000"
	echo "log_retention_bytes = 4G"
} >>"$DEIS_CONF"
for pid in $(logd_pids); do kill "$pid"; done
"$SEND" "--config=$DEIS_CONF" warmup deis "warm up"

now_us() { echo "${EPOCHREALTIME/./}"; }
xlen() { redis_cli xlen "deis:logs:$1"; }

# Waits until app's stream holds N lines (or 120 s); prints the time.
wait_len() {	# APP N
	local end=$((SECONDS + 120))
	while [ "$(xlen "$1")" -lt "$2" ]; do
		[ $SECONDS -lt $end ] || { echo "timeout"; return 1; }
		sleep 0.02
	done
	now_us
}

RESULTS=()
result() { RESULTS+=("$*"); echo "bench $*"; }

# ---- one app
step "one app: $N lines"
t0=$(now_us)
"$SEND" "--config=$DEIS_CONF" --count="$N" bench1 web.1 "benchmark line with some text in it like a real log line"
tsent=$(now_us)
t1=$(wait_len bench1 "$N")
got=$(xlen bench1)
sleep 1
file=$(grep -c "bench1\[web.1\]" "$DEIS_HOME/logs/bench1.log")
rate=$(awk -v n="$N" -v t="$((t1 - t0))" 'BEGIN { printf "%.0f", n / (t / 1e6) }')
srate=$(awk -v n="$N" -v t="$((tsent - t0))" 'BEGIN { printf "%.0f", n / (t / 1e6) }')
result "one-app: $rate lines/s end to end (producer alone: $srate lines/s); stored $got of $N; file $file"
[ "$got" = "$N" ] && [ "$file" = "$N" ] || result "one-app: LOSS ($got / $file of $N)"

# ---- ten apps
step "ten apps: $N lines in all"
per=$((N / 10))
t0=$(now_us)
for i in $(seq 1 10); do
	"$SEND" "--config=$DEIS_CONF" --count="$per" "bench10-$i" web.1 "benchmark line with some text in it like a real log line" &
done
wait
for i in $(seq 1 10); do wait_len "bench10-$i" "$per" >/dev/null; done
t1=$(now_us)
lost=0
for i in $(seq 1 10); do
	[ "$(xlen "bench10-$i")" = "$per" ] || lost=$((lost + per - $(xlen "bench10-$i")))
done
rate=$(awk -v n="$((per * 10))" -v t="$((t1 - t0))" 'BEGIN { printf "%.0f", n / (t / 1e6) }')
result "ten-apps: $rate lines/s end to end; lost $lost of $((per * 10))"

# ---- rsyslog alone
step "rsyslog alone (imptcp -> omfile): $N lines"
mkdir -p "$PLAIN"
PLAIN_SOCKET=$PLAIN/syslog.sock
cat >"$PLAIN/rsyslog.conf" <<EOF
global(workDirectory="$PLAIN" maxMessageSize="64k" processInternalMessages="on"
	parser.escapeControlCharactersOnReceive="off")
module(load="imptcp")
template(name="f" type="string" string="%timereported:::date-rfc3339,date-utc% %app-name%[%procid%]: %msg:::escape-cc%\n")
ruleset(name="r" queue.type="LinkedList" queue.size="200000" queue.dequeueBatchSize="1024") {
	action(type="omfile" file="$PLAIN/out.log" template="f" flushOnTXEnd="on" asyncWriting="off" ioBufferSize="64k")
}
input(type="imptcp" path="$PLAIN_SOCKET" unlink="on" fileCreateMode="0600" ruleset="r"
	supportOctetCountedFraming="on")
*.* action(type="omfile" file="$PLAIN/internal.log")
EOF
rsyslogd -f "$PLAIN/rsyslog.conf" -i "$PLAIN/rsyslog.pid"
for _ in $(seq 1 50); do [ -S "$PLAIN_SOCKET" ] && break; sleep 0.1; done
t0=$(now_us)
"$SEND" "--config=$DEIS_CONF" "--syslog_socket=$PLAIN_SOCKET" --count="$N" plain web.1 "benchmark line with some text in it like a real log line"
end=$((SECONDS + 120))
while [ "$(wc -l <"$PLAIN/out.log" 2>/dev/null || echo 0)" -lt "$N" ] && [ $SECONDS -lt $end ]; do sleep 0.02; done
t1=$(now_us)
rate=$(awk -v n="$N" -v t="$((t1 - t0))" 'BEGIN { printf "%.0f", n / (t / 1e6) }')
result "rsyslog-alone: $rate lines/s to a file (the ceiling); $(wc -l <"$PLAIN/out.log") of $N"

# ---- latency
step "latency: $LAT_N lines at ~1000/s"
REDIS_PASSWORD=$(conf_get "$DEIS_CONF" redis_password) python3 - "$DEIS_REDIS_PORT" "$DEIS_SYSLOG_SOCKET" "$LAT_N" >"$TMP/latency" <<'EOF'
import os, socket, sys, threading, time, datetime
rport, spath, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

class Resp:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")
    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()
    def read(self):
        line = self.f.readline()[:-2]
        t, rest = line[:1], line[1:]
        if t in (b"+", b"-"):
            return rest
        if t == b":":
            return int(rest)
        if t == b"$":
            k = int(rest)
            if k < 0:
                return None
            d = self.f.read(k + 2)
            return d[:-2]
        if t == b"*":
            k = int(rest)
            return None if k < 0 else [self.read() for _ in range(k)]
        raise ValueError(line)

r = Resp(rport)
r.cmd("AUTH", os.environ["REDIS_PASSWORD"])
key = "deis:logs:latency"
lat = []
def reader():
    last = "0-0"
    while len(lat) < n:
        rep = r.cmd("XREAD", "BLOCK", "2000", "COUNT", "1000", "STREAMS", key, last)
        now = time.time()
        if not rep:
            continue
        for _, entries in rep:
            for eid, fields in entries:
                last = eid.decode()
                line = fields[1].decode()
                ts = datetime.datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()
                lat.append(now - ts)
t = threading.Thread(target=reader)
t.start()
time.sleep(0.2)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(spath)
for i in range(n):
    ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    m = ("<14>1 %s h latency web.1 - - latency %d" % (ts, i)).encode()
    s.sendall(b"%d %s" % (len(m), m))
    time.sleep(0.001)
t.join(60)
lat.sort()
if len(lat) < n:
    print("latency: only %d of %d lines arrived" % (len(lat), n))
if lat:
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    print("latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d lines" % (p(0.5), p(0.99), lat[-1] * 1000, len(lat)))
EOF
while read -r l; do result "$l"; done <"$TMP/latency"

echo
echo "Summary:"
for r in "${RESULTS[@]}"; do echo "  $r"; done
finished=1
