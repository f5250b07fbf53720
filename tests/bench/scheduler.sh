#!/bin/bash
# scheduler.sh - the Runtime module, measured end to end on a private
# platform.  Not a test: nothing is asserted.
#
#   tests/bench/scheduler.sh [N]        (N = 5 repetitions; root)
#
#  start     a container started the scheduler's way (deis-shim, then
#            `runc run -d`) vs a bare `runc run -d` of the same bundle, both
#            into a network namespace made beforehand, until the process runs
#            and until it answers at its address: median of N, and the ratio
#            (target <= 1.5); the namespace alone: lib/net.c in one process,
#            as a process, and ip(8)/nft(8) commands
#  push      git push of a new commit to the new code served through the
#            router (nginx), median of N (Piku: about 3 s); the push itself
#            returns once it is (the curl after it is one request)
#  config    `echo v > config/K` to the new value served through the router,
#            median of N (Piku: about 3.4 s)
#  web=20    `echo web=20 > formation` until all 20 answer on their ports
#  rollout   a config change rolled out to 10 web containers: until every
#            one answers with the new value and the old ones are gone
#  rss       deis-scheduler's own RSS, and the shims', with 100 containers
#
# Brings a platform up with packaging/up in a fresh temporary directory
# (random free ports, DEIS_FAST=1) and always brings it down again.
set -euo pipefail
# shellcheck source=tests/bench/platform.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/platform.sh"
N=$(bench_count "${1:-5}")
bench_platform_up schedbench deis-schedbench
APP=sb-hello
A=$DEIS_MOUNT/apps/$APP
# This measures speed, not admission (docs/tree.md, quotas): its user may
# run the 100 containers it starts, and they fit the node whatever its
# memory (they mostly sleep).
echo "containers=100 memory=1T" >"$DEIS_MOUNT/users/$BENCH_USER/quota"
echo "overcommit=100" >"$DEIS_MOUNT/platform/quotas"

git init -q -b main src
cp "$DEIS_SRC/tests/apps/hello/app.py" src/
printf 'web: python3 app.py\nidle: sleep infinity\n' >src/Procfile
echo 0 >src/VERSION
git -C src add .
git -C src commit -q -m first
as_user mkdir "$A"
git -C src push -q "ssh://git@127.0.0.1:$DEIS_SSH_PORT/$APP.git" main >push.out 2>&1 ||
	{ cat push.out; die "the first push failed"; }

now_us() { echo "${EPOCHREALTIME/./}"; }
median_ms() {
	sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.0f", m / 1000 }'
}
# The router's answer for the app.
routed() {
	curl -fsS --max-time 2 -H "Host: $APP.$DEIS_DOMAIN" "http://127.0.0.1:$DEIS_HTTP_PORT/" 2>/dev/null
}
# Polls every INTERVAL seconds until CMD succeeds; fails after 60 s.
until_every() {	# INTERVAL CMD...
	local interval=$1 end=$(($(now_us) + 60000000))
	shift
	until "$@"; do
		[ "$(now_us)" -lt "$end" ] || { echo "timed out: $*" >&2; return 1; }
		sleep "$interval"
	done
}
until_ok() { until_every 0.005 "$@"; }		# every 5 ms
until_slow() { until_every 0.1 "$@"; }		# every 100 ms
answers_on() {	# ADDRESS:PORT
	curl -fsS --max-time 1 "http://$1/" >/dev/null 2>&1
}
runs() {	# ROOT ID
	runc --root "$1" state "$2" 2>/dev/null | grep -q '"status": "running"'
}
until_ok eval 'routed | grep -q "hello from web.1"'

# ---- start: the scheduler's way vs a bare runc run -d, same bundle ----
# Every container has a network namespace of its own (lib/net.c).  Both
# sides join a namespace made the same way beforehand (not timed): the
# ratio is what the scheduler's way (deis-shim, then runc run -d) adds.
# The namespace itself is measured on its own below, in one process as
# the scheduler makes it (net_tool bench), and against ip(8)/nft(8).
RUNC_ROOT=$DEIS_HOME/scheduler/runc
SHIM=$DEIS_BUILD/daemons/scheduler/deis-shim
[ -x "$SHIM" ] || SHIM=$DEIS_SRC/$DEIS_BUILD/daemons/scheduler/deis-shim
NETT=$DEIS_BUILD/tests/unit/net_tool
net() {
	"$NETT" --bridge="$DEIS_BRIDGE" --subnet="$DEIS_SUBNET" --state="$DEIS_HOME/net" "$@"
}
id=$(runc --root "$RUNC_ROOT" list -q | grep "^$APP\.web\.1\." | head -1)
cp -a "$DEIS_HOME/scheduler/containers/$id/bundle" "$WORK/bundle"
port=$(cat "$A/containers/web.1/port")
# The same process, in the namespace NETNS.
set_netns() {	# NETNS
	python3 - "$WORK/bundle/config.json" "$1" <<'PY'
import json, sys
p, ns = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["linux"]["cgroupsPath"] = "deis/bench"
for n in c["linux"]["namespaces"]:
    if n["type"] == "network":
        n["path"] = ns
json.dump(c, open(p, "w"))
PY
}
BROOT=$WORK/runc
mkdir -p "$BROOT"
: >bare.run.us; : >bare.ans.us; : >shim.run.us; : >shim.ans.us; : >attach.us
for i in $(seq "$N"); do
	read -r ns _ addr < <(net attach "bench.b$i" "$APP")
	set_netns "$ns"
	t0=$(now_us)
	runc --root "$BROOT" run -d --bundle "$WORK/bundle" "b$i" </dev/null >/dev/null 2>&1
	t1=$(now_us)
	until_ok answers_on "$addr:$port"
	t2=$(now_us)
	echo $((t1 - t0)) >>bare.run.us
	echo $((t2 - t0)) >>bare.ans.us
	runc --root "$BROOT" delete --force "b$i" >/dev/null 2>&1
	net detach "bench.b$i" "$APP"

	d=$WORK/shim$i
	mkdir -p "$d"
	read -r ns _ addr < <(net attach "bench.s$i" "$APP")
	set_netns "$ns"
	t0=$(now_us)
	"$SHIM" "$BROOT" "$WORK/bundle" "s$i" "$d" "$APP" "web.9" "$DEIS_SYSLOG_SOCKET" \
		</dev/null >/dev/null 2>&1 &
	# Polled slowly: a poll every few ms (a process each) would take the
	# CPU from runc on two cores; the time is the file's, not the poll's.
	until_slow test -s "$d/init.pid"
	# When the shim wrote it (not when the poll saw it): no poll latency.
	t1=$(stat -c %.6Y "$d/init.pid" | tr -d .)
	until_ok answers_on "$addr:$port"
	t2=$(now_us)
	echo $((t1 - t0)) >>shim.run.us
	echo $((t2 - t0)) >>shim.ans.us
	runc --root "$BROOT" delete --force "s$i" >/dev/null 2>&1
	until_ok test -s "$d/exit"
	net detach "bench.s$i" "$APP"
done
# The namespace alone: lib/net.c (through net_tool, a process each) vs the
# same made with ip(8) and nft(8) commands, as a script would.
gw=$(python3 -c 'import ipaddress, sys; print(ipaddress.ip_network(sys.argv[1])[1])' "$DEIS_SUBNET")
plen=${DEIS_SUBNET#*/}
: >ip.us
for i in $(seq "$N"); do
	t0=$(now_us)
	net attach "bench.n$i" "$APP" >/dev/null
	echo $(($(now_us) - t0)) >>attach.us
	net detach "bench.n$i" "$APP"
	ns=bench-ip$$-$i h=vbip$$$i a=${gw%.*}.$((200 + i))
	t0=$(now_us)
	ip netns add "$ns"
	ip link add "$h" type veth peer name eth0 netns "$ns"
	ip link set "$h" master "$DEIS_BRIDGE" up
	ip -n "$ns" addr add "$a/$plen" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" route add default via "$gw"
	nft add element bridge "deis_$DEIS_BRIDGE" ports "{ \"$h\" }"
	nft add element bridge "deis_$DEIS_BRIDGE" port_ip "{ \"$h\" . $a }"
	echo $(($(now_us) - t0)) >>ip.us
	nft delete element bridge "deis_$DEIS_BRIDGE" port_ip "{ \"$h\" . $a }"
	nft delete element bridge "deis_$DEIS_BRIDGE" ports "{ \"$h\" }"
	ip netns del "$ns"
done
read -r _ inproc _ detach < <(net bench 20 "$APP")
br=$(median_ms <bare.run.us); sr=$(median_ms <shim.run.us)
ba=$(median_ms <bare.ans.us); sa=$(median_ms <shim.ans.us)
echo "bench scheduler.start.running: deis-shim + runc run -d ${sr} ms vs bare runc run -d ${br} ms, both into a ready namespace: ratio $(awk -v a="$sr" -v b="$br" 'BEGIN { printf "%.2f", a / b }') (target <= 1.5)"
echo "bench scheduler.start.answering: the same until it answers at its address: ${sa} ms vs ${ba} ms: ratio $(awk -v a="$sa" -v b="$ba" 'BEGIN { printf "%.2f", a / b }')"
echo "bench scheduler.start.with_namespace: making the namespace too (in one process, as the scheduler does: ${inproc} ms): $(awk -v a="$sr" -v n="$inproc" -v b="$br" 'BEGIN { printf "%.2f", (a + n) / b }') x the bare run without it"
echo "bench scheduler.netns: a container's namespace, veth, address, route and firewall: lib/net.c ${inproc} ms in one process (${detach} ms to remove), $(median_ms <attach.us) ms as a process of its own (net_tool), vs ip(8)/nft(8) commands $(median_ms <ip.us) ms"

# ---- push to serving, config change to serving (through the router) ----
: >push.us; : >config.us
for i in $(seq "$N"); do
	echo "$i" >src/VERSION
	git -C src commit -q -am "change $i"
	next=$(( $(readlink "$A/releases/latest" | tr -d v) + 1 ))
	t0=$(now_us)
	git -C src push -q "ssh://git@127.0.0.1:$DEIS_SSH_PORT/$APP.git" main >push.out 2>&1 ||
		{ cat push.out; die "push $i failed"; }
	until_ok eval 'routed | grep -q " v$next "'
	echo $(($(now_us) - t0)) >>push.us

	t0=$(now_us)
	echo "value$i" >"$A/config/DEBUG"
	until_ok eval 'routed | grep -q "DEBUG=value$i"'
	echo $(($(now_us) - t0)) >>config.us
done
echo "bench scheduler.push: git push to the new release served through the router: median $(median_ms <push.us) ms of $N (Piku: ~3000 ms; target < 1000)"
echo "bench scheduler.config: config change to the new value served through the router: median $(median_ms <config.us) ms of $N (Piku: ~3400 ms)"
echo "  push (ms):   $(awk '{ printf "%d ", $1 / 1000 }' push.us)"
echo "  config (ms): $(awk '{ printf "%d ", $1 / 1000 }' config.us)"

# ---- web=20 ----
all_answer() {	# COUNT [PATTERN]
	local n=0 c p
	for c in "$A"/containers/web.*; do
		p=$(cat "$c/address" 2>/dev/null) || return 1
		[ "$(cat "$c/state" 2>/dev/null)" = up ] || return 1
		curl -fsS --max-time 1 "http://$p/" 2>/dev/null | grep -q -- "${2:-hello}" || return 1
		n=$((n + 1))
	done
	[ "$n" = "$1" ]
}
t0=$(now_us)
echo "web=20" >"$A/formation"
until_ok all_answer 20
echo "bench scheduler.scale20: echo web=20 > formation until all 20 answer on their ports: $((($(now_us) - t0) / 1000)) ms"

# ---- a config change rolled out to 10 ----
echo "web=10" >"$A/formation"
until_ok eval '[ "$(runc --root "$RUNC_ROOT" list -q | grep -c "^$APP\.web\.")" = 10 ]'
t0=$(now_us)
echo rolled >"$A/config/DEBUG"
until_ok all_answer 10 "DEBUG=rolled"
t1=$(now_us)
until_ok eval '[ "$(runc --root "$RUNC_ROOT" list -q | grep -c "^$APP\.web\.")" = 10 ]'
t2=$(now_us)
echo "bench scheduler.rollout10: a config change rolled out to 10 web containers: all new ones answering after $(((t1 - t0) / 1000)) ms, old ones gone after $(((t2 - t0) / 1000)) ms"

# ---- RSS with 100 containers ----
echo "web=1 idle=99" >"$A/formation"
until_ok eval '[ "$(runc --root "$RUNC_ROOT" list -q | grep -c "^$APP\.")" = 100 ]'
until_ok eval '[ "$(grep -l starting "$A"/containers/*/state | wc -l)" = 0 ]'
sleep 1
spid=$(cat "$DEIS_RUNDIR/deis-scheduler.pid")
srss=$(awk '/^VmRSS/ { print $2 }' "/proc/$spid/status")
shims=$(pgrep -x deis-shim | wc -l)
shimrss=$(pgrep -x deis-shim | while read -r p; do awk '/^VmRSS/ { print $2 }' "/proc/$p/status"; done | awk '{ s += $1 } END { print s + 0 }')
echo "bench scheduler.rss: deis-scheduler ${srss} kB with 100 containers; $shims shims ${shimrss} kB in all ($((shimrss / (shims > 0 ? shims : 1))) kB each)"
echo "web=1" >"$A/formation"
