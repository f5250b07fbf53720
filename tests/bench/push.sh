#!/bin/bash
# push.sh - git push of a Procfile-only app through deis-builder, timed
# from the start of `git push` to its end (by then the release exists: the
# pre-receive hook makes it before it returns), median of N pushes (each a
# new commit to the same app), plus the first push of a new app, and the
# build's own share as its log shows it.  The issue's target: under 1 s.
# Not a test: nothing is asserted.
#
#   tests/bench/push.sh [N]        (N = 5; root: packaging/up needs it)
#
# Brings a private platform up with packaging/up in a fresh temporary
# directory (random free ports, DEIS_FAST=1, DEIS_BUILD default build),
# and always brings it down again (packaging/down --purge).
set -euo pipefail
SRC=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
# shellcheck source=packaging/lib.sh
. "$SRC/packaging/lib.sh"
N=${1:-5}
case $N in ''|*[!0-9]*|0) die "N must be a positive integer" ;; esac
[ "$(id -u)" = 0 ] || die "push.sh must run as root (packaging/up needs it)"

TMP=$(mktemp -d /tmp/deis-pushbench.XXXXXX)
chmod 0711 "$TMP"
DEIS_HOME=$TMP/home
DEIS_MOUNT=$TMP/mnt
DEIS_FAST=1
DEIS_BUILD=${DEIS_BUILD:-build}
DEIS_PG_PORT=$(free_port)
DEIS_REDIS_PORT=$(free_port "$DEIS_PG_PORT")
DEIS_SYSLOG_PORT=$(free_port "$DEIS_PG_PORT" "$DEIS_REDIS_PORT")
DEIS_REGISTRY_PORT=$(free_port "$DEIS_PG_PORT" "$DEIS_REDIS_PORT" "$DEIS_SYSLOG_PORT")
DEIS_SSH_PORT=$(free_port "$DEIS_PG_PORT" "$DEIS_REDIS_PORT" "$DEIS_SYSLOG_PORT" "$DEIS_REGISTRY_PORT")
export DEIS_HOME DEIS_MOUNT DEIS_FAST DEIS_BUILD DEIS_PG_PORT DEIS_REDIS_PORT \
	DEIS_SYSLOG_PORT DEIS_REGISTRY_PORT DEIS_SSH_PORT
deis_env_init
registry_env_init
builder_env_init
WORK=$TMP/work
mkdir -p "$WORK"
USER_=deis-pushbench

cleanup() {
	local st=$?
	set +e
	bash "$DEIS_SRC/packaging/down" --purge >"$WORK/down.log" 2>&1 ||
		warn "packaging/down failed (see $WORK/down.log)"
	userdel "$USER_" >/dev/null 2>&1
	[ $st = 0 ] && rm -rf "$TMP" || echo "kept $TMP" >&2
	exit $st
}
trap cleanup EXIT

bash "$DEIS_SRC/packaging/up" >"$WORK/up.log" 2>&1 ||
	{ show_log_tail "$WORK/up.log" 40; die "packaging/up failed"; }

id -u "$USER_" >/dev/null 2>&1 ||
	useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$USER_"
as_user() { (cd / && runuser -u "$USER_" -- "$@"); }
cd "$WORK"
ssh-keygen -q -t ed25519 -N "" -f key
chmod 644 key.pub
as_user cp "$WORK/key.pub" "$DEIS_MOUNT/users/$USER_/keys/bench"
export HOME=$WORK GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_SSH_COMMAND="ssh -i $WORK/key -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p $DEIS_SSH_PORT"

git init -q -b main src
printf 'web: ./server --port $PORT\nworker: ./worker\n' >src/Procfile
printf '#!/bin/sh\nexec python3 -m http.server "$PORT"\n' >src/server
chmod 755 src/server
echo hello >src/README
git -C src add .
git -C src commit -q -m first

# Times one push (microseconds, on stdout); fails if no release came of it.
timed_push() {	# APP
	local t0 t1
	t0=${EPOCHREALTIME/./}
	git -C src push -q "ssh://git@127.0.0.1:$DEIS_SSH_PORT/$1.git" main >"$WORK/push.out" 2>&1 ||
		{ cat "$WORK/push.out" >&2; return 1; }
	t1=${EPOCHREALTIME/./}
	grep -q "Launching v" "$WORK/push.out" || { cat "$WORK/push.out" >&2; return 1; }
	echo $((t1 - t0))
}

median_ms() {
	sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.0f", m / 1000 }'
}

: >first.us
: >next.us
for i in $(seq "$N"); do
	as_user mkdir "$DEIS_MOUNT/apps/pb-first$i"
	timed_push "pb-first$i" >>first.us
done
as_user mkdir "$DEIS_MOUNT/apps/pb-hello"
timed_push pb-hello >/dev/null
for i in $(seq "$N"); do
	echo "$i" >>src/README
	git -C src commit -q -am "change $i"
	timed_push pb-hello >>next.us
done
first=$(median_ms <first.us)
next=$(median_ms <next.us)
echo "bench push.first: git push of a new Procfile-only app to its release v2: median ${first} ms of $N (target < 1000)"
echo "bench push.next: git push of a new commit to the same app to its release: median ${next} ms of $N (target < 1000)"
echo "  first pushes (ms): $(awk '{ printf "%d ", $1 / 1000 }' first.us)"
echo "  next pushes (ms):  $(awk '{ printf "%d ", $1 / 1000 }' next.us)"
