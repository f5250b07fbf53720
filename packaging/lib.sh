# packaging/lib.sh - the platform's processes as shell functions, shared by
# packaging/up, packaging/down, packaging/test, tests/lib.sh and the
# benchmarks.  Source it; it sets no shell options, so it works both under
# `set -euo pipefail` and in git-style test scripts.
#
# deis_env_init sets every DEIS_* variable the others use.  Each component
# then has one start and one stop function (in packaging/services.sh,
# which this sources), listed here in the order packaging/up starts them
# (packaging/down stops them the other way round):
#
#   postgres_start   postgres_stop    PostgreSQL 15, as its own user
#   redis_start      redis_stop       Redis (a cache: no persistence)
#   logserver_start  logserver_stop   rsyslogd and the deis-logd it runs
#   registry_start   registry_stop    docker-registry
#   deisfs_start     deisfs_stop      deisfs, mounted at $DEIS_MOUNT
#   builder_start    builder_stop     deis-builder (git push over SSH)
#   proxy_start      proxy_stop       deis-proxy and its nginx
#   scheduler_start  scheduler_stop   deis-scheduler; the apps' containers
#                                     outlive it (containers_stop)
#
# Each is a service of a supervisor (packaging/supervise.sh: runit, or
# systemd where it is PID 1) that restarts it when it exits.  A start
# function expects the configuration packaging/up writes and the
# services it wrote (svc_setup).  It asks the supervisor to run what does
# not run, and restarts what runs a binary rebuilt since it started or
# does not answer; with --restart (its configuration changed) it
# restarts what runs.  A stop function asks the supervisor to stop what
# runs and keep it down (a start brings it back), and nothing running is
# no error.  Both say what they do on stdout and fail
# (status 1) with the reason on stderr, so that packaging/up can stop at
# the first error and a test can restart a component it stopped or killed.

DEIS_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEIS_PGBIN=/usr/lib/postgresql/15/bin

# ---------------------------------------------------------------- output

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
	_c_bold=$'\e[1m' _c_red=$'\e[31m' _c_green=$'\e[32m' _c_yellow=$'\e[33m' _c_off=$'\e[0m'
else
	_c_bold='' _c_red='' _c_green='' _c_yellow='' _c_off=''
fi

step() { printf '%s==> %s%s\n' "$_c_bold" "$*" "$_c_off"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '%swarning:%s %s\n' "$_c_yellow" "$_c_off" "$*" >&2; }
# An error that the caller returns: `... || { err "why"; return 1; }`.
err()  { printf '%serror:%s %s\n' "$_c_red" "$_c_off" "$*" >&2; return 1; }
die()  { err "$@"; exit 1; }

# Shows the last lines of a log file, indented, on stderr.
show_log_tail() {	# FILE [LINES]
	local f=$1 n=${2:-30}
	if [ -s "$f" ]; then
		printf '    --- last %s lines of %s ---\n' "$n" "$f" >&2
		tail -n "$n" "$f" | sed 's/^/    | /' >&2
	else
		printf '    (%s is empty or missing)\n' "$f" >&2
	fi
}

# ---------------------------------------------------------------- config

# Prints the value of NAME in a "name = value" file (last one wins, as in
# deis_conf_load), without surrounding double quotes.  Fails if absent.
conf_get() {	# FILE NAME
	[ -r "$1" ] || return 1
	awk -v want="$2" '
		/^[ \t]*(#|$)/ { next }
		{
			i = index($0, "="); if (!i) next
			n = substr($0, 1, i - 1); v = substr($0, i + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", n); gsub(/^[ \t]+|[ \t]+$/, "", v)
			if (n != want) next
			if (length(v) >= 2 && v ~ /^".*"$/) v = substr(v, 2, length(v) - 2)
			val = v; found = 1
		}
		END { if (!found) exit 1; print val }' "$1"
}

# Prints one keyword's value from a libpq conninfo string ("k=v k=v").
conninfo_get() {	# CONNINFO KEY
	local w
	for w in $1; do
		case $w in "$2"=*) printf '%s\n' "${w#*=}"; return 0 ;; esac
	done
	return 1
}

# Absolute path without touching the last component (which may be a dead
# or hung FUSE mount that a stat would block on).
abspath() {
	local d=$1
	case $d in /*) ;; *) d=$PWD/$d ;; esac
	while [ "${#d}" -gt 1 ] && [ "${d%/}" != "$d" ]; do d=${d%/}; done
	if [ "$d" = / ]; then printf '/\n'; return; fi
	local parent base
	parent=$(realpath -m -- "${d%/*}/") base=${d##*/}
	[ "$parent" = / ] && parent=''
	printf '%s/%s\n' "$parent" "$base"
}

# ---------------------------------------------------------------- environment

# The settings packaging/up writes into deis.conf from the environment:
# the variable, its name in deis.conf, its default.  DEIS_PG_PORT (the
# port of `database`) and DEIS_REGISTRY_PORT (of `registry_url`) are read
# apart.
_deis_env_settings='
DEIS_REDIS_PORT  redis_port       6380
DEIS_DOMAIN      platform_domain  localhost
DEIS_SSH_PORT    ssh_port         2222
DEIS_HTTP_PORT   http_port        80
DEIS_HTTPS_PORT  https_port       443
DEIS_BRIDGE      network_bridge   deis0
DEIS_SUBNET      network_subnet   10.223.0.0/16
'

# Sets (and exports) every variable of the platform:
#
#   DEIS_SRC          repo root (absolute)
#   DEIS_HOME         state directory            (default /var/lib/deis)
#   DEIS_MOUNT        where the tree is mounted  (default /deis)
#   DEIS_CONF         $DEIS_HOME/deis.conf
#   DEIS_BUILD        meson build dir, absolute  (default $DEIS_SRC/build, or
#                     $DEIS_SRC/build-asan when DEIS_MESON_ARGS asks for a
#                     sanitizer, $DEIS_SRC/build-custom for other args)
#   DEISFS DEIS_LOGD DEIS_BUILDER DEIS_PROXY DEIS_SCHEDULER   the binaries
#                     (DEIS_DEISFS overrides DEISFS)
#   DEIS_PG_PORT DEIS_REDIS_PORT DEIS_REGISTRY_PORT DEIS_SSH_PORT
#   DEIS_HTTP_PORT DEIS_HTTPS_PORT DEIS_DOMAIN DEIS_BRIDGE DEIS_SUBNET
#                     the environment, else the existing deis.conf (so that
#                     packaging/down finds what packaging/up used), else the
#                     defaults; with --conf-first, deis.conf before the
#                     environment (the truth about a running platform)
#   DEIS_LOG_LEVEL    log_level                  (default info)
#   DEIS_REGISTRY_URL DEIS_REGISTRY_USER DEIS_SYSLOG_SOCKET DEIS_RUNC_ROOT
#   DEIS_NGINX_PID and the directories: DEIS_LOGDIR DEIS_RUNDIR DEIS_SV
#   DEIS_PGDATA DEIS_PG_SOCKDIR DEIS_REDIS_DIR DEIS_SECRETS
#   DEIS_RSYSLOG_DIR DEIS_LOGS_DIR DEIS_REGISTRY_DIR
deis_env_init() {	# [--conf-first]
	local var name dflt v
	DEIS_HOME=$(abspath "${DEIS_HOME:-/var/lib/deis}")
	DEIS_MOUNT=$(abspath "${DEIS_MOUNT:-/deis}")
	DEIS_CONF=$DEIS_HOME/deis.conf
	if [ "${1:-}" = --conf-first ] && [ -r "$DEIS_CONF" ]; then
		unset DEIS_PG_PORT DEIS_REGISTRY_PORT
		while read -r var name dflt; do
			[ -z "$var" ] || unset "$var"
		done <<<"$_deis_env_settings"
	fi
	if [ -z "${DEIS_BUILD:-}" ]; then
		case ${DEIS_MESON_ARGS:-} in
		'') DEIS_BUILD=build ;;
		*sanitize*) DEIS_BUILD=build-asan ;;
		*) DEIS_BUILD=build-custom ;;
		esac
	fi
	case $DEIS_BUILD in /*) ;; *) DEIS_BUILD=$DEIS_SRC/$DEIS_BUILD ;; esac
	DEISFS=${DEIS_DEISFS:-$DEIS_BUILD/fs/deisfs}
	DEIS_LOGD=$DEIS_BUILD/daemons/logd/deis-logd
	DEIS_BUILDER=$DEIS_BUILD/daemons/builder/deis-builder
	DEIS_PROXY=$DEIS_BUILD/daemons/proxy/deis-proxy
	DEIS_SCHEDULER=$DEIS_BUILD/daemons/scheduler/deis-scheduler

	while read -r var name dflt; do
		[ -n "$var" ] && [ -z "${!var:-}" ] || continue
		v=$(conf_get "$DEIS_CONF" "$name" 2>/dev/null) || v=$dflt
		printf -v "$var" '%s' "$v"
	done <<<"$_deis_env_settings"
	if [ -z "${DEIS_PG_PORT:-}" ]; then
		v=$(conf_get "$DEIS_CONF" database 2>/dev/null) || v=''
		DEIS_PG_PORT=$(conninfo_get "$v" port) || DEIS_PG_PORT=5433
	fi
	if [ -z "${DEIS_REGISTRY_PORT:-}" ]; then
		v=$(conf_get "$DEIS_CONF" registry_url 2>/dev/null) || v=''
		DEIS_REGISTRY_PORT=${v##*:}
		case $DEIS_REGISTRY_PORT in ''|*[!0-9]*) DEIS_REGISTRY_PORT=5000 ;; esac
	fi
	: "${DEIS_LOG_LEVEL:=info}"
	for v in "$DEIS_PG_PORT" "$DEIS_REDIS_PORT" "$DEIS_REGISTRY_PORT" "$DEIS_SSH_PORT" \
		"$DEIS_HTTP_PORT" "$DEIS_HTTPS_PORT"; do
		case $v in ''|*[!0-9]*) die "bad port number '$v'" ;; esac
		[ "$v" -ge 1 ] && [ "$v" -le 65535 ] || die "bad port number '$v'"
	done
	case $DEIS_BRIDGE in
	[a-z]*) [ ${#DEIS_BRIDGE} -le 15 ] && [ -z "${DEIS_BRIDGE//[a-z0-9_]/}" ] ||
		die "bad bridge name '$DEIS_BRIDGE' ([a-z][a-z0-9_]{0,14})" ;;
	*) die "bad bridge name '$DEIS_BRIDGE' ([a-z][a-z0-9_]{0,14})" ;;
	esac

	DEIS_LOGDIR=$DEIS_HOME/log
	DEIS_RUNDIR=$DEIS_HOME/run
	DEIS_PGDATA=$DEIS_HOME/postgres
	DEIS_PG_SOCKDIR=$DEIS_RUNDIR/postgres
	DEIS_REDIS_DIR=$DEIS_HOME/redis
	DEIS_SECRETS=$DEIS_HOME/secrets
	DEIS_RSYSLOG_DIR=$DEIS_HOME/rsyslog
	DEIS_LOGS_DIR=$DEIS_HOME/logs
	DEIS_SYSLOG_SOCKET=$DEIS_RUNDIR/log/syslog.sock
	DEIS_REGISTRY_URL=http://127.0.0.1:$DEIS_REGISTRY_PORT
	DEIS_REGISTRY_DIR=$DEIS_HOME/registry
	DEIS_REGISTRY_USER=deis
	DEIS_RUNC_ROOT=$DEIS_HOME/scheduler/runc
	DEIS_NGINX_PID=$DEIS_RUNDIR/nginx.pid
	DEIS_SV=$DEIS_HOME/sv
	export DEIS_SRC DEIS_HOME DEIS_MOUNT DEIS_CONF DEIS_BUILD DEISFS DEIS_LOGD \
		DEIS_BUILDER DEIS_PROXY DEIS_SCHEDULER DEIS_PG_PORT DEIS_REDIS_PORT \
		DEIS_REGISTRY_PORT DEIS_SSH_PORT DEIS_HTTP_PORT DEIS_HTTPS_PORT \
		DEIS_DOMAIN DEIS_BRIDGE DEIS_SUBNET DEIS_LOG_LEVEL DEIS_SYSLOG_SOCKET \
		DEIS_REGISTRY_URL DEIS_REGISTRY_DIR DEIS_REGISTRY_USER DEIS_RUNC_ROOT \
		DEIS_NGINX_PID DEIS_SV
}

# Writes CONTENT (stdin) to FILE with MODE only if it differs; prints
# "changed" or "unchanged".
write_if_changed() {	# FILE MODE [OWNER]
	local f=$1 mode=$2 owner=${3:-root:root} tmp
	tmp=$(mktemp "$f.XXXXXX")
	chmod "$mode" "$tmp"
	cat >"$tmp"
	chown "$owner" "$tmp"
	if [ -f "$f" ] && cmp -s "$tmp" "$f"; then
		rm -f "$tmp"
		chmod "$mode" "$f"
		echo unchanged
	else
		mv -f "$tmp" "$f"
		echo changed
	fi
}

# Secrets file: "name=value" lines, 0600 root.
secret_get() {	# NAME
	conf_get "$DEIS_SECRETS" "$1"
}

# ---------------------------------------------------------------- processes

# Succeeds if PID is a live process (a zombie is not alive).
proc_alive() {	# PID
	kill -0 "$1" 2>/dev/null || return 1
	case $(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) in Z|X) return 1 ;; esac
	return 0
}

# Succeeds if PIDFILE names a live process whose command line contains WORD.
pid_alive() {	# PIDFILE [WORD]
	local pid
	[ -r "$1" ] || return 1
	read -r pid <"$1" 2>/dev/null || return 1
	case $pid in ''|*[!0-9]*) return 1 ;; esac
	proc_alive "$pid" || return 1
	if [ -n "${2:-}" ]; then
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
	fi
	return 0
}

# Waits up to SECONDS for PID to exit.
wait_pid_gone() {	# PID SECONDS
	local pid=$1 end=$((SECONDS + $2))
	while proc_alive "$pid"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
	return 0
}

# SIGTERM, then SIGKILL after SECONDS.  Quiet if the process is gone.
stop_pid() {	# PID NAME [SECONDS]
	local pid=$1 name=$2 secs=${3:-10}
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	if ! wait_pid_gone "$pid" "$secs"; then
		warn "$name (pid $pid) did not exit within ${secs}s of SIGTERM; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait_pid_gone "$pid" 5 || warn "$name (pid $pid) survived SIGKILL"
	fi
}

# Stops the process PIDFILE names if it is alive and its command line
# holds WORD: first `ACTION... PID` (if given: what asks it to end) and up
# to GRACE seconds to exit by itself, then SIGTERM, SIGKILL after SECONDS.
# The pid file goes either way.  Says which; fails if the process
# survived or ACTION failed.
pidfile_stop() {	# PIDFILE WORD NAME SECONDS [GRACE ACTION...]
	local pidf=$1 word=$2 name=$3 secs=$4 grace=${5:-0} pid='' st=0
	shift $(($# < 5 ? $# : 5))
	if pid_alive "$pidf" "$word"; then
		read -r pid <"$pidf"
		[ $# = 0 ] || "$@" "$pid" || st=1
		wait_pid_gone "$pid" "$grace" || stop_pid "$pid" "$name" "$secs"
		info "$name stopped (pid $pid)"
		! proc_alive "$pid" || st=1
	else
		info "$name not running"
	fi
	rm -f "$pidf"
	return $st
}

# Succeeds if process PID does not run the current BINARY: another file,
# a deleted one, or one rebuilt since the process started.
binary_changed() {	# PID BINARY
	local exe btime ticks start
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	case $exe in *" (deleted)") return 0 ;; esac
	[ "$exe" = "$(readlink -f "$2")" ] || return 0
	# Process start, in seconds since the epoch: btime + field 22 of stat.
	btime=$(awk '/^btime/ { print $2 }' /proc/stat)
	ticks=$(awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat") || return 1
	start=$((btime + ticks / $(getconf CLK_TCK)))
	[ "$(stat -c %Y "$2")" -le "$start" ] || return 0
	return 1
}

# ---------------------------------------------------------------- daemons

# The platform's daemons (deisfs, docker-registry, deis-builder,
# deis-proxy, deis-scheduler) are services of the supervisor
# (supervise.sh), which writes their exact pid in $DEIS_RUNDIR/NAME.pid
# and appends their output to $DEIS_LOGDIR/NAME.log.  All but the
# registry are recognised by the path of deis.conf in their command line
# (deisfs rewrites its argv: "--config=X" shows as "--config X").

daemon_running() {	# NAME
	svc_pid "$1" >/dev/null 2>&1 || pid_alive "$DEIS_RUNDIR/$1.pid" "$DEIS_CONF"
}

# The supervisor's pid of NAME, else its pid file's.
daemon_pid() {	# NAME
	svc_pid "$1" 2>/dev/null || cat "$DEIS_RUNDIR/$1.pid" 2>/dev/null
}

# SIGTERM, then SIGKILL after SECONDS, to a daemon that runs without the
# supervisor.
daemon_stop() {	# NAME SECONDS
	pidfile_stop "$DEIS_RUNDIR/$1.pid" "$DEIS_CONF" "$1" "$2"
}

# ---------------------------------------------------------------- ports

# Succeeds if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {	# PORT
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Fails, naming VARIABLE (that sets it), if PORT is taken.
port_free() {	# PORT VARIABLE
	! port_in_use "$1" || err "port $1 is taken by another program; set $2"
}

# Prints a free port below the kernel's ephemeral range, other than those
# given.
free_port() {	# [EXCLUDED...]
	local p i x bad
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		bad=0
		for x in "$@"; do [ "$p" = "$x" ] && bad=1; done
		[ $bad = 0 ] || continue
		port_in_use "$p" && continue
		# Also refuse ports bound (in any state) on any address.
		if awk -v p="$(printf '%04X' "$p")" 'NR > 1 { split($2, a, ":"); if (a[2] == p) f = 1 } END { exit !f }' \
			/proc/net/tcp /proc/net/tcp6 2>/dev/null; then
			continue
		fi
		echo "$p"
		return 0
	done
	die "no free TCP port found"
}

# Sets each VARIABLE to a free port, no two the same, and exports it: the
# ports of a throwaway platform.
free_ports() {	# VARIABLE...
	local v used=()
	for v; do
		printf -v "$v" '%s' "$(free_port "${used[@]}")"
		used+=("${!v}")
		export "${v?}"
	done
}

# A bridge name of PREFIX and six random hex digits, for a throwaway
# platform's containers.
free_bridge() {	# PREFIX
	printf '%s%s\n' "$1" "$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
}

# A /24 of 10.200.0.0-10.254.255.0 that no route of this host touches,
# for a throwaway platform's containers (packaging/test).
free_subnet() {
	local a b dflt via
	# Free: the kernel would send it where it sends what it has no route
	# for (the default route, or nowhere).
	dflt=$(ip -4 route show default 2>/dev/null | awk 'NR == 1 { print $3, $5 }')
	for _ in $(seq 1 200); do
		a=$((200 + RANDOM % 55)) b=$((RANDOM % 256))
		via=$(ip -4 route get "10.$a.$b.1" 2>/dev/null |
			awk 'NR == 1 { for (i = 1; i < NF; i++) { if ($i == "via") v = $(i + 1); if ($i == "dev") d = $(i + 1) } print v, d }') || via=''
		[ -z "$via" ] || [ "$via" = "$dflt" ] || continue
		echo "10.$a.$b.0/24"
		return 0
	done
	die "no free /24 in 10.200.0.0/16-10.254.0.0/16 for the containers"
}

# ---------------------------------------------------------------- mounts

# mountinfo escapes these characters in mount points.
_mountinfo_escape() {
	local s=$1
	s=${s//\\/\\134}
	s=${s// /\\040}
	s=${s//$'\t'/\\011}
	s=${s//$'\n'/\\012}
	printf '%s' "$s"
}

# Succeeds if DIR is a mount point, per /proc/self/mountinfo.  Never stats
# DIR, so a dead ("Transport endpoint is not connected") or hung FUSE mount
# is reported without blocking.
is_mounted() {	# DIR
	local d
	d=$(_mountinfo_escape "$(abspath "$1")")
	awk -v d="$d" '$5 == d { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# Prints every mount point at or below DIR (escaped as in mountinfo),
# deepest first.
mounts_under() {	# DIR
	local d
	d=$(_mountinfo_escape "$(abspath "$1")")
	awk -v d="$d" '$5 == d || index($5, d "/") == 1 { print length($5) " " $5 }' \
		/proc/self/mountinfo | sort -rn | cut -d' ' -f2- | uniq
}

# Succeeds if DIR is mounted and its daemon answers a statfs (which the
# kernel never serves from a cache) within SECONDS (default 5).  Note that
# mountpoint(1) reads mountinfo, so it reports a dead FUSE mount as mounted.
mount_responsive() {	# DIR [SECONDS]
	is_mounted "$1" && timeout "${2:-5}" stat -f -c %T -- "$1" >/dev/null 2>&1
}

# Unmounts a FUSE mount: fusermount3 -u, else a lazy umount.
unmount_fuse() {	# DIR
	local d=$1
	is_mounted "$d" || return 0
	if timeout 10 fusermount3 -u "$d" 2>/dev/null || timeout 10 umount "$d" 2>/dev/null; then
		return 0
	fi
	warn "$d is busy or hung; detaching it lazily (umount -l)"
	umount -l "$d" 2>/dev/null || timeout 10 fusermount3 -uz "$d" 2>/dev/null
	is_mounted "$d" && { warn "could not unmount $d"; return 1; }
	return 0
}

# rm -rf that never descends into a mount (a live deisfs mount left inside a
# scratch dir must not have its apps deleted by the clean-up).
safe_rm_rf() {	# DIR
	local d=$1 m
	[ -e "$d" ] || return 0
	while read -r m; do
		[ -n "$m" ] || continue
		m=$(printf '%b' "$m")
		unmount_fuse "$m" || true
	done < <(mounts_under "$d")
	if [ -n "$(mounts_under "$d")" ]; then
		warn "not removing $d: something is still mounted below it"
		return 1
	fi
	rm -rf --one-file-system -- "$d"
}

# ---------------------------------------------------------------- docker.io

# What the cluster needs of Debian: docker.io (the engine of the Swarm
# backend and of the nodes of tests/cluster/lab) and mmdebstrap (root
# filesystems for images).
DEIS_CLUSTER_PACKAGES=(docker.io mmdebstrap rsyslog-openssl)

# Installs the cluster's packages that are missing, never starting a
# dockerd on this host: without systemd, docker.io's postinst starts its
# sysv script through invoke-rc.d, and a dockerd in the host's namespace
# would add docker0 and iptables rules (FORWARD DROP) under the runc
# platform's own NAT.  So the install runs under a /usr/sbin/policy-rc.d
# that forbids every start (exit 101): an existing one that already
# forbids them stays as it is, another is put aside and back.  Then, and
# at every call (an upgrade's postinst may enable it again), the sysv
# script is disabled in every runlevel.  apt waits for the dpkg lock of
# another install.
cluster_packages_install() {
	local p missing=() prc=/usr/sbin/policy-rc.d saved='' st=0
	# One put aside by a call that was killed before it put it back.
	[ ! -e "$prc.deis-saved" ] || mv -f "$prc.deis-saved" "$prc" || return 1
	for p in "${DEIS_CLUSTER_PACKAGES[@]}"; do
		[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
			missing+=("$p")
	done
	if [ ${#missing[@]} != 0 ]; then
		info "installing: ${missing[*]} (no service started: policy-rc.d)"
		if [ -e "$prc" ] && ! { "$prc" docker start >/dev/null 2>&1; [ $? = 101 ]; }; then
			saved=$prc.deis-saved
			mv -f "$prc" "$saved" || return 1
		fi
		if [ ! -e "$prc" ]; then
			printf '#!/bin/sh\n# put by deisfs packaging during an install: no service starts\nexit 101\n' >"$prc.deis"
			chmod 0755 "$prc.deis"
			mv -f "$prc.deis" "$prc"
		else
			saved=''	# an existing one that forbids starts: kept
			prc=''
		fi
		{ apt-get update -q && apt-get install -y -q --no-install-recommends \
			-o DPkg::Lock::Timeout=300 "${missing[@]}" </dev/null; } || st=$?
		if [ -n "$prc" ]; then
			rm -f "$prc"
			[ -z "$saved" ] || mv -f "$saved" "$prc"
		fi
		[ $st = 0 ] || { err "could not install ${missing[*]}"; return 1; }
	fi
	if [ -x /etc/init.d/docker ] && compgen -G '/etc/rc[2-5].d/S*docker' >/dev/null; then
		update-rc.d docker disable >/dev/null 2>&1 ||
			{ err "update-rc.d docker disable failed"; return 1; }
		info "docker's sysv script disabled (no dockerd on this host)"
	fi
	return 0
}

# The start and stop functions of the components, and the supervisor
# they go through.
# shellcheck source=packaging/services.sh
. "$DEIS_SRC/packaging/services.sh"
# shellcheck source=packaging/supervise.sh
. "$DEIS_SRC/packaging/supervise.sh"
