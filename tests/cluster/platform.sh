#!/bin/bash
# tests/cluster/platform.sh - the platform on the lab's nodes: what
# tests/cluster/lab runs once its nodes and their swarm are up.
#
#   platform.sh control I   the control role (packaging/up DEIS_ROLE=control)
#                           on node I: PostgreSQL, Redis, the registry and
#                           the log server on $NET.I, and the scheduler when
#                           the swarm backend is built (scheduler_runtime =
#                           swarm on $B/nI/d.sock); state in $B/nI/control
#   platform.sh node I      the node role on node I: the log relay, deisfs
#                           with the tree at $B/nI/mnt (in the host's mount
#                           namespace, where the tests see it), deis-builder
#                           on $NET.I:2222, deis-proxy and nginx on
#                           $NET.I:80; state in $B/nI/deis, its bundle taken
#                           from the control's files in $B/n1/control
#
# Environment (lab exports it): B (the lab's directory), P (its prefix: the
# node's network namespace is $P-nI), NET (the nodes' /24 without its last
# byte: node I is $NET.I), N (the number of nodes), REG (the lab's own
# registry, $NET.1:5000, which the platform leaves alone); CONTROL (the
# control's node, default 1), DEIS_LAB_REGISTRY_PORT (the platform's
# registry on the control, default 5001: the nodes' dockerd must trust
# $NET.1:5001 too, for the swarm backend's pulls).
#
# Every process runs in the node's network namespace (nsenter --net) and
# in the cgroup /$P-nI/platform of every cgroup v1 hierarchy, so that `lab
# kill I` and `lab down` find them with the node's own; each pid it
# started is also a line `I PID WHAT` of $B/pids.  Prints nothing on
# success; on failure, the tail of $B/nI/platform-ROLE.log, and exits 1.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
role=${1:-} i=${2:-}
case $role in control|node) ;; *) echo "usage: platform.sh control|node I" >&2; exit 2 ;; esac
case $i in ''|*[!0-9]*) echo "platform.sh: node number '$i'?" >&2; exit 2 ;; esac
for v in B P NET N; do
	[ -n "${!v:-}" ] || { echo "platform.sh: $v is not set (tests/cluster/lab exports B P NET N)" >&2; exit 2; }
done
ns=/run/netns/$P-n$i
[ -e "$ns" ] || { echo "platform.sh: no network namespace $ns" >&2; exit 1; }
ctl=${CONTROL:-1}
dir=$B/n$i
log=$dir/platform-$role.log
mkdir -p "$dir"

fail() {
	echo "platform.sh $role $i: $*" >&2
	[ ! -s "$log" ] || tail -n 30 "$log" | sed 's/^/    | /' >&2
	exit 1
}

# TLS for the log relays: the one package the roles add to packaging/up's.
if [ "$(dpkg-query -W -f='${db:Status-Status}' rsyslog-openssl 2>/dev/null)" != installed ]; then
	[ "${DEIS_SKIP_PACKAGES:-0}" != 1 ] || fail "rsyslog-openssl is not installed (DEIS_SKIP_PACKAGES=1)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends rsyslog-openssl \
		</dev/null >>"$log" 2>&1 || fail "could not install rsyslog-openssl"
fi

# The settings of this node's platform.  Inside its own namespace every
# port is free: the defaults serve.
export DEIS_ROLE=$role DEIS_CLUSTER_ADDRESS=$NET.$i DEIS_NODE_NAME=node$i
export DEIS_SKIP_PACKAGES=1 DEIS_FAST=1 DEIS_SUPERVISOR=runit
export DEIS_PG_PORT=5433 DEIS_REDIS_PORT=6380 DEIS_REGISTRY_PORT=${DEIS_LAB_REGISTRY_PORT:-5001}
export DEIS_SSH_PORT=2222 DEIS_HTTP_PORT=80 DEIS_HTTPS_PORT=443 DEIS_DOMAIN=${DEIS_DOMAIN:-localhost}
# The bridges of the builds' containers: a name of each node's own, as
# their namespaces' names (/run/netns/<bridge>-<id>) are the host's.
br=${P//[!a-z0-9]/}
export DEIS_BRIDGE=${br:0:10}${role:0:1}$i DEIS_SUBNET=10.217.$i.0/24
unset DEIS_MESON_ARGS DEIS_BUILD
if [ "$role" = control ]; then
	export DEIS_HOME=$dir/control DEIS_MOUNT=$dir/control/mnt
	mkdir -p "$DEIS_HOME"
	chmod 0711 "$B" "$dir" "$DEIS_HOME"
	# The scheduler of the cluster: the swarm backend.  (Not decided by
	# asking a built binary: packaging/up builds after this, and CI's
	# checkout has no build/ yet.)
	export DEIS_CONTROL_SCHEDULER=1
	if ! grep -q '^scheduler_runtime' "$DEIS_HOME/deis.conf" 2>/dev/null; then
		printf '%s\n' '# --- local settings: lines below are kept by packaging/up ---' \
			'scheduler_runtime = swarm' "swarm_socket = $dir/d.sock" \
			'swarm_log_socket = /run/deis/log/docker.sock' \
			>"$DEIS_HOME/deis.conf"
		chmod 0600 "$DEIS_HOME/deis.conf"
	fi
else
	export DEIS_HOME=$dir/deis DEIS_MOUNT=$dir/mnt
	# The node's dockerd sees $dir/run/deis as /run/deis (lab binds it in
	# its mount namespace): its syslog driver's socket.
	export DEIS_DOCKER_LOG_SOCKET=$dir/run/deis/log/docker.sock
	mkdir -p "$DEIS_HOME" "$DEIS_MOUNT"
	chmod 0711 "$B" "$dir" "$DEIS_HOME"
	# This node's bundle, from the control's files (packaging/join
	# fetches the same over SSH on a real host).
	install -d -m 0700 "$DEIS_HOME/cluster"
	DEIS_HOME=$B/n$ctl/control bash "$SRC/packaging/join" --bundle "node$i" 2>>"$log" |
		tar -C "$DEIS_HOME/cluster" -xf - || fail "no bundle from the control on node$ctl"
fi

# Moves this shell into /$P-nI/platform of every hierarchy (cpuset needs
# its cpus and mems first).
cgroup_join() {
	local h d
	for h in /sys/fs/cgroup/*/; do
		[ -f "$h/cgroup.procs" ] || continue
		d=$h$P-n$i/platform
		mkdir -p "$d" 2>/dev/null || continue
		if [ -f "$h/cpuset.cpus" ]; then
			for f in cpuset.cpus cpuset.mems; do
				[ -n "$(cat "$h$P-n$i/$f")" ] || cat "$h/$f" >"$h$P-n$i/$f"
				[ -n "$(cat "$d/$f")" ] || cat "$h/$f" >"$d/$f"
			done 2>/dev/null
		fi
		echo "$BASHPID" >"$d/cgroup.procs" 2>/dev/null || true
	done
}

if ! (cgroup_join; exec nsenter --net="$ns" -- bash "$SRC/packaging/up") >>"$log" 2>&1 </dev/null; then
	fail "packaging/up DEIS_ROLE=$role failed (log: $log)"
fi

# The pids, for lab's kill and down: the supervisor, each runsv, each
# service and what the services run (nginx, deis-logd).
# shellcheck source=packaging/lib.sh
. "$SRC/packaging/lib.sh"
deis_env_init
{
	p=$(svdir_pid) && echo "$i $p runsvdir-$role"
	for p in $(runsv_pids); do echo "$i $p runsv-$role"; done
	for s in "${DEIS_SERVICES[@]}"; do
		p=$(svc_pid "$s") && echo "$i $p $s"
	done
	[ "$role" != node ] || { read -r p <"$DEIS_NGINX_PID" && echo "$i $p nginx"; }
	for p in $(logd_pids); do echo "$i $p deis-logd"; done
} >>"$B/pids" 2>/dev/null || true
