#!/bin/bash
# push.sh - git push of a Procfile-only app through deis-builder, timed
# from the start of `git push` to its end (by then the release is live and
# routed: the pre-receive hook waits for it), median of N pushes (each a
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
# shellcheck source=tests/bench/platform.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/platform.sh"
N=$(bench_count "${1:-5}")
bench_platform_up pushbench deis-pushbench
USER_=$BENCH_USER

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

# ---- overhead vs a plain git push over OpenSSH (the issue's baseline) ----
#
# The same repository pushed to a bare repository through a private sshd
# on loopback, and to deis-builder (a new app each time), for a 1 MB and a
# 100 MB app: the ratio is everything deis adds (auth lookup, the hook,
# checkout, slug, registry upload, release), with no buildpack compile.
if [ ! -x /usr/sbin/sshd ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >"$WORK/apt.log" 2>&1 ||
		{ echo "bench push.overhead: skipped (openssh-server could not be installed)"; exit 0; }
fi
SSHD_USER=deis-pbssh
SSHD_HOME=$TMP/sshhome
SSHD_PORT=$(free_port "$DEIS_PG_PORT" "$DEIS_REDIS_PORT" "$DEIS_REGISTRY_PORT" "$DEIS_SSH_PORT")
mkdir -p "$SSHD_HOME/.ssh"
id -u "$SSHD_USER" >/dev/null 2>&1 ||
	useradd --home-dir "$SSHD_HOME" --shell /bin/sh "$SSHD_USER"
# no password, but not locked: sshd without PAM refuses locked accounts
usermod -p '*' "$SSHD_USER"
cp "$WORK/key.pub" "$SSHD_HOME/.ssh/authorized_keys"
chown -R "$SSHD_USER" "$SSHD_HOME"
chmod 700 "$SSHD_HOME/.ssh"
ssh-keygen -q -t ed25519 -N "" -f "$TMP/sshd_host_key"
cat >"$TMP/sshd_config" <<CONF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $TMP/sshd_host_key
PidFile $TMP/sshd.pid
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers $SSHD_USER
CONF
mkdir -p /run/sshd
/usr/sbin/sshd -f "$TMP/sshd_config" -E "$WORK/sshd.log"
sshd_cleanup() {
	local st=$?
	set +e	# a failing command here must not end the trap before cleanup
	kill "$(cat "$TMP/sshd.pid" 2>/dev/null)" 2>/dev/null
	userdel "$SSHD_USER" >/dev/null 2>&1
	(exit $st)
	bench_cleanup
}
trap sshd_cleanup EXIT
for _ in $(seq 50); do port_in_use "$SSHD_PORT" && break; sleep 0.1; done

make_repo() {	# DIR MB
	git init -q -b main "$1"
	printf 'web: ./server --port $PORT\n' >"$1/Procfile"
	head -c "$(( $2 * 1024 * 1024 ))" /dev/urandom >"$1/data.bin"
	git -C "$1" add .
	git -C "$1" commit -q -m data
}

push_us() {	# DIR URL SSH_PORT
	local t0 t1
	t0=${EPOCHREALTIME/./}
	GIT_SSH_COMMAND="ssh -i $WORK/key -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p $3" \
		git -C "$1" push -q "$2" main >"$WORK/push.out" 2>&1 ||
		{ cat "$WORK/push.out" >&2; return 1; }
	t1=${EPOCHREALTIME/./}
	echo $((t1 - t0))
}

for mb in 1 100; do
	make_repo "repo$mb" "$mb"
	: >"plain$mb.us"
	: >"deis$mb.us"
	for i in $(seq 3); do
		runuser -u "$SSHD_USER" -- git init -q --bare "$SSHD_HOME/r$mb-$i.git"
		push_us "repo$mb" "ssh://$SSHD_USER@127.0.0.1:$SSHD_PORT$SSHD_HOME/r$mb-$i.git" "$SSHD_PORT" >>"plain$mb.us"
		as_user mkdir "$DEIS_MOUNT/apps/pb-size$mb-$i"
		push_us "repo$mb" "ssh://git@127.0.0.1:$DEIS_SSH_PORT/pb-size$mb-$i.git" "$DEIS_SSH_PORT" >>"deis$mb.us"
	done
	plain=$(median_ms <"plain$mb.us")
	deis=$(median_ms <"deis$mb.us")
	echo "bench push.overhead.${mb}MB: deis-builder ${deis} ms, plain git push over OpenSSH ${plain} ms, ratio $(awk -v d="$deis" -v p="$plain" 'BEGIN { printf "%.2f", d / p }') (target <= 2)"
done
