# packaging/lib.sh - shell functions shared by packaging/up, packaging/down,
# packaging/test and tests/lib.sh.  Source it; it sets no shell options, so
# it works both under `set -euo pipefail` and in git-style test scripts.
#
# deis_env_init fills in every variable below from the environment, the
# existing $DEIS_HOME/deis.conf (so `packaging/down` finds the ports that
# `packaging/up` used) and the defaults:
#
#   DEIS_SRC         repo root (absolute)
#   DEIS_HOME        state directory            (default /var/lib/deis)
#   DEIS_MOUNT       where the tree is mounted  (default /deis)
#   DEIS_CONF        $DEIS_HOME/deis.conf
#   DEIS_BUILD       meson build dir, absolute  (default $DEIS_SRC/build, or
#                    $DEIS_SRC/build-asan when DEIS_MESON_ARGS asks for a
#                    sanitizer, $DEIS_SRC/build-custom for other args)
#   DEISFS           the deisfs binary          (DEIS_DEISFS overrides)
#   DEIS_PG_PORT     private PostgreSQL port    (default 5433)
#   DEIS_REDIS_PORT  private Redis port         (default 6380)
#   DEIS_SYSLOG_SOCKET the log server's producer socket (root only),
#                    $DEIS_HOME/run/log/syslog.sock
#   DEIS_LOGD        the deis-logd binary       ($DEIS_BUILD/daemons/logd/deis-logd)
#   DEIS_DOMAIN      platform_domain            (default localhost)
#   DEIS_LOG_LEVEL   log_level                  (default info)
#   DEIS_PGDATA DEIS_PG_SOCKDIR DEIS_REDIS_DIR DEIS_LOGDIR DEIS_RUNDIR

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
die()  { printf '%serror:%s %s\n' "$_c_red" "$_c_off" "$*" >&2; exit 1; }

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

deis_env_init() {
	DEIS_HOME=$(abspath "${DEIS_HOME:-/var/lib/deis}")
	DEIS_MOUNT=$(abspath "${DEIS_MOUNT:-/deis}")
	DEIS_CONF=$DEIS_HOME/deis.conf
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

	# Ports: environment, else what the existing config says, else default.
	local db=''
	db=$(conf_get "$DEIS_CONF" database 2>/dev/null) || db=''
	if [ -z "${DEIS_PG_PORT:-}" ]; then
		DEIS_PG_PORT=$(conninfo_get "$db" port 2>/dev/null) || DEIS_PG_PORT=5433
	fi
	if [ -z "${DEIS_REDIS_PORT:-}" ]; then
		DEIS_REDIS_PORT=$(conf_get "$DEIS_CONF" redis_port 2>/dev/null) || DEIS_REDIS_PORT=6380
	fi
	if [ -z "${DEIS_DOMAIN:-}" ]; then
		DEIS_DOMAIN=$(conf_get "$DEIS_CONF" platform_domain 2>/dev/null) || DEIS_DOMAIN=localhost
	fi
	: "${DEIS_LOG_LEVEL:=info}"
	local p
	for p in "$DEIS_PG_PORT" "$DEIS_REDIS_PORT"; do
		case $p in ''|*[!0-9]*) die "bad port number '$p'" ;; esac
		[ "$p" -ge 1 ] && [ "$p" -le 65535 ] || die "bad port number '$p'"
	done

	DEIS_LOGDIR=$DEIS_HOME/log
	DEIS_RUNDIR=$DEIS_HOME/run
	DEIS_PGDATA=$DEIS_HOME/postgres
	DEIS_PG_SOCKDIR=$DEIS_RUNDIR/postgres
	DEIS_REDIS_DIR=$DEIS_HOME/redis
	DEIS_SECRETS=$DEIS_HOME/secrets
	DEIS_RSYSLOG_DIR=$DEIS_HOME/rsyslog
	DEIS_LOGS_DIR=$DEIS_HOME/logs
	DEIS_SYSLOG_SOCKET=$DEIS_RUNDIR/log/syslog.sock
	export DEIS_SRC DEIS_HOME DEIS_MOUNT DEIS_CONF DEIS_BUILD DEISFS \
		DEIS_PG_PORT DEIS_REDIS_PORT DEIS_DOMAIN DEIS_LOG_LEVEL \
		DEIS_SYSLOG_SOCKET DEIS_LOGD
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

# ---------------------------------------------------------------- PostgreSQL

# The unprivileged user PostgreSQL runs as: the owner of an existing data
# dir, else Debian's postgres user, else deis-pg (created by packaging/up).
pg_user() {
	if [ -d "$DEIS_PGDATA" ]; then
		stat -c %U "$DEIS_PGDATA"
	elif id -u postgres >/dev/null 2>&1; then
		echo postgres
	else
		echo deis-pg
	fi
}

# Runs a command as the PostgreSQL user, from a directory it can read.
pg_as() {
	(cd / && runuser -u "$(pg_user)" -- "$@")
}

pg_running() {
	[ -f "$DEIS_PGDATA/PG_VERSION" ] || return 1
	pg_as "$DEIS_PGBIN/pg_ctl" status -D "$DEIS_PGDATA" >/dev/null 2>&1
}

# psql as the PostgreSQL superuser over the private socket.
pg_superuser_psql() {
	pg_as "$DEIS_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEIS_PG_SOCKDIR" \
		-p "$DEIS_PG_PORT" -d postgres "$@"
}

# ---------------------------------------------------------------- Redis

# redis-cli against the private instance; the password goes through the
# environment, not argv.
redis_cli() {
	local pw=''
	pw=$(conf_get "$DEIS_CONF" redis_password 2>/dev/null) ||
		pw=$(secret_get redis_password 2>/dev/null) || pw=''
	REDISCLI_AUTH=$pw redis-cli --no-auth-warning -h 127.0.0.1 \
		-p "$DEIS_REDIS_PORT" "$@"
}

redis_running() {
	[ "$(redis_cli ping 2>/dev/null)" = PONG ]
}

# ---------------------------------------------------------------- rsyslog

# The private rsyslogd (the log server), by its pid file and its config
# path on the command line.
# (rsyslogd writes its pid file without a final newline.)
rsyslog_pid() {
	local pid
	pid=$(cat "$DEIS_RUNDIR/rsyslog.pid" 2>/dev/null) || return 1
	case $pid in ''|*[!0-9]*) return 1 ;; esac
	echo "$pid"
}

rsyslog_running() {
	local pid
	pid=$(rsyslog_pid) || return 1
	proc_alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DEIS_RSYSLOG_DIR/rsyslog.conf"
}

# The pids of deis-logd processes that this platform's rsyslogd runs.
logd_pids() {
	local p cmd
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		case $cmd in
		*"deis-logd --config=$DEIS_CONF"*) echo "${p#/proc/}" ;;
		esac
	done
}

# ---------------------------------------------------------------- registry

# The private registry (Distribution 2.8, Debian's docker-registry).  Sets
# DEIS_REGISTRY_PORT (the environment, else the port of registry_url in
# deis.conf, else 5000), DEIS_REGISTRY_URL and DEIS_REGISTRY_DIR.  Call it
# after deis_env_init.
registry_env_init() {
	local url=''
	if [ -z "${DEIS_REGISTRY_PORT:-}" ]; then
		url=$(conf_get "$DEIS_CONF" registry_url 2>/dev/null) || url=''
		DEIS_REGISTRY_PORT=${url##*:}
		case $DEIS_REGISTRY_PORT in ''|*[!0-9]*) DEIS_REGISTRY_PORT=5000 ;; esac
	fi
	case $DEIS_REGISTRY_PORT in ''|*[!0-9]*) die "bad port number '$DEIS_REGISTRY_PORT'" ;; esac
	[ "$DEIS_REGISTRY_PORT" -ge 1 ] && [ "$DEIS_REGISTRY_PORT" -le 65535 ] ||
		die "bad port number '$DEIS_REGISTRY_PORT'"
	DEIS_REGISTRY_URL=http://127.0.0.1:$DEIS_REGISTRY_PORT
	DEIS_REGISTRY_DIR=$DEIS_HOME/registry
	DEIS_REGISTRY_USER=deis
	export DEIS_REGISTRY_PORT DEIS_REGISTRY_URL DEIS_REGISTRY_DIR DEIS_REGISTRY_USER
}

# The user the registry runs as: Debian's docker-registry, else root.
registry_user() {
	if id -u docker-registry >/dev/null 2>&1; then
		echo docker-registry
	else
		echo root
	fi
}

# Succeeds if the pid file names a live docker-registry serving our config.
registry_running() {
	pid_alive "$DEIS_RUNDIR/registry.pid" "$DEIS_REGISTRY_DIR/config.yml"
}

# Succeeds if the registry answers GET /v2/ with 200 to the platform's
# credentials (from $DEIS_SECRETS, root-only; given to curl on stdin, so
# they never show in a command line).
registry_answers() {
	local pw
	pw=$(secret_get registry_password 2>/dev/null) || pw=''
	printf 'user = "%s:%s"\n' "$DEIS_REGISTRY_USER" "$pw" |
		curl -K - -fsS -o /dev/null --max-time 2 "$DEIS_REGISTRY_URL/v2/" 2>/dev/null
}

# ---------------------------------------------------------------- ports

# Succeeds if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {	# PORT
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
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

# ---------------------------------------------------------------- builder

# deis-builder, the SSH server for git push (docs/builder.md).  Sets
# DEIS_SSH_PORT (the environment, else ssh_port in deis.conf, else 2222)
# and DEIS_BUILDER (the binary).  Call it after deis_env_init.
builder_env_init() {
	if [ -z "${DEIS_SSH_PORT:-}" ]; then
		DEIS_SSH_PORT=$(conf_get "$DEIS_CONF" ssh_port 2>/dev/null) || DEIS_SSH_PORT=2222
	fi
	case $DEIS_SSH_PORT in ''|*[!0-9]*) die "bad port number '$DEIS_SSH_PORT'" ;; esac
	[ "$DEIS_SSH_PORT" -ge 1 ] && [ "$DEIS_SSH_PORT" -le 65535 ] ||
		die "bad port number '$DEIS_SSH_PORT'"
	DEIS_BUILDER=$DEIS_BUILD/daemons/builder/deis-builder
	export DEIS_SSH_PORT DEIS_BUILDER
}

# A platform daemon NAME started with --config=$DEIS_CONF, its pid in
# $DEIS_RUNDIR/NAME.pid: whether it runs, and stopping it (SIGTERM, then
# SIGKILL after SECONDS); the pid file goes either way.
daemon_running() {	# NAME
	pid_alive "$DEIS_RUNDIR/$1.pid" "--config=$DEIS_CONF"
}
daemon_stop() {	# NAME SECONDS
	local pid=''
	if daemon_running "$1"; then
		read -r pid <"$DEIS_RUNDIR/$1.pid"
		stop_pid "$pid" "$1" "$2"
	fi
	rm -f "$DEIS_RUNDIR/$1.pid"
}

builder_running() { daemon_running deis-builder; }
# SIGTERM lets running pushes finish (up to its builder_shutdown_timeout,
# 20 s by default), SIGKILL after 30 s.
builder_stop() { daemon_stop deis-builder 30; }

# ---------------------------------------------------------------- scheduler

# deis-scheduler runs the apps' containers (docs/scheduler.md); each
# container has a deis-shim parent.  Sets DEIS_SCHEDULER, DEIS_RUNC_ROOT.
# Also DEIS_BRIDGE and DEIS_SUBNET, the containers' network (the
# environment, else network_bridge / network_subnet in deis.conf, else
# deis0 and 10.223.0.0/16).
scheduler_env_init() {
	DEIS_SCHEDULER=$DEIS_BUILD/daemons/scheduler/deis-scheduler
	DEIS_RUNC_ROOT=$DEIS_HOME/scheduler/runc
	if [ -z "${DEIS_BRIDGE:-}" ]; then
		DEIS_BRIDGE=$(conf_get "$DEIS_CONF" network_bridge 2>/dev/null) || DEIS_BRIDGE=deis0
	fi
	if [ -z "${DEIS_SUBNET:-}" ]; then
		DEIS_SUBNET=$(conf_get "$DEIS_CONF" network_subnet 2>/dev/null) ||
			DEIS_SUBNET=10.223.0.0/16
	fi
	case $DEIS_BRIDGE in
	[a-z]*) [ ${#DEIS_BRIDGE} -le 15 ] && [ -z "${DEIS_BRIDGE//[a-z0-9_]/}" ] ||
		die "bad bridge name '$DEIS_BRIDGE' ([a-z][a-z0-9_]{0,14})" ;;
	*) die "bad bridge name '$DEIS_BRIDGE' ([a-z][a-z0-9_]{0,14})" ;;
	esac
	export DEIS_SCHEDULER DEIS_RUNC_ROOT DEIS_BRIDGE DEIS_SUBNET
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

# Removes this platform's containers' network: the firewall, the
# namespaces, the bridge (deis-scheduler network down).
network_down() {
	[ -x "$DEIS_SCHEDULER" ] || return 0
	"$DEIS_SCHEDULER" network down "--config=$DEIS_CONF"
}

scheduler_running() { daemon_running deis-scheduler; }
# Its containers keep running: a new scheduler adopts them.
scheduler_stop() { daemon_stop deis-scheduler 10; }

# Stops every app container of this platform: SIGTERM to each, SIGKILL
# after 10 s, then runc delete.  Their shims exit with them.
containers_stop_all() {
	local ids id n=0
	[ -d "$DEIS_RUNC_ROOT" ] || return 0
	ids=$(runc --root "$DEIS_RUNC_ROOT" list -q 2>/dev/null) || return 0
	[ -n "$ids" ] || return 0
	for id in $ids; do
		runc --root "$DEIS_RUNC_ROOT" kill --all "$id" TERM >/dev/null 2>&1 || :
		n=$((n + 1))
	done
	for _ in $(seq 1 100); do
		[ -z "$(runc --root "$DEIS_RUNC_ROOT" list -q 2>/dev/null |
			while read -r id; do
				st=$(runc --root "$DEIS_RUNC_ROOT" state "$id" 2>/dev/null |
					sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')
				[ "$st" = stopped ] || echo "$id"
			done)" ] && break
		sleep 0.1
	done
	for id in $ids; do
		runc --root "$DEIS_RUNC_ROOT" kill --all "$id" KILL >/dev/null 2>&1 || :
		runc --root "$DEIS_RUNC_ROOT" delete --force "$id" >/dev/null 2>&1 || :
	done
	rm -rf "$DEIS_HOME/scheduler/containers"
	echo "$n"
}

# Ends every attached one-off (`ssh ... run`, under its own runc root) that
# outlived its session: SIGKILL and delete (they have no shim to wait for).
attached_stop_all() {
	local root=$DEIS_HOME/scheduler/attached/runc id n=0
	[ -d "$root" ] || { echo 0; return 0; }
	for id in $(runc --root "$root" list -q 2>/dev/null); do
		runc --root "$root" kill --all "$id" KILL >/dev/null 2>&1 || :
		runc --root "$root" delete --force "$id" >/dev/null 2>&1 || :
		n=$((n + 1))
	done
	echo "$n"
}

# ---------------------------------------------------------------- 10. proxy

# deis-proxy and its private nginx (docs/proxy.md).  Sets DEIS_HTTP_PORT
# and DEIS_HTTPS_PORT (the environment, else http_port / https_port in
# deis.conf, else 80 and 443), DEIS_PROXY (the binary) and DEIS_NGINX_PID
# (nginx's pid file).  Call it after deis_env_init.
proxy_env_init() {
	local p
	if [ -z "${DEIS_HTTP_PORT:-}" ]; then
		DEIS_HTTP_PORT=$(conf_get "$DEIS_CONF" http_port 2>/dev/null) || DEIS_HTTP_PORT=80
	fi
	if [ -z "${DEIS_HTTPS_PORT:-}" ]; then
		DEIS_HTTPS_PORT=$(conf_get "$DEIS_CONF" https_port 2>/dev/null) || DEIS_HTTPS_PORT=443
	fi
	for p in "$DEIS_HTTP_PORT" "$DEIS_HTTPS_PORT"; do
		case $p in ''|*[!0-9]*) die "bad port number '$p'" ;; esac
		[ "$p" -ge 1 ] && [ "$p" -le 65535 ] || die "bad port number '$p'"
	done
	DEIS_PROXY=$DEIS_BUILD/daemons/proxy/deis-proxy
	DEIS_NGINX_PID=$DEIS_RUNDIR/nginx.pid
	export DEIS_HTTP_PORT DEIS_HTTPS_PORT DEIS_PROXY DEIS_NGINX_PID
}

proxy_running() { daemon_running deis-proxy; }

# Succeeds if our private nginx master runs (its title names our config).
nginx_running() {
	pid_alive "$DEIS_NGINX_PID" "$DEIS_HOME/proxy/nginx.conf"
}

# nginx keeps serving: it outlives deis-proxy on purpose.
proxy_stop() { daemon_stop deis-proxy 10; }

# Stops the private nginx: SIGQUIT lets requests in flight finish (up to
# 20 s), then SIGTERM (stop_pid), then SIGKILL.
nginx_stop() {
	local pid='' end
	nginx_running || return 0
	read -r pid <"$DEIS_NGINX_PID"
	kill -QUIT "$pid" 2>/dev/null || return 0
	end=$((SECONDS + 20))
	while proc_alive "$pid" && [ "$SECONDS" -lt "$end" ]; do
		sleep 0.1
	done
	stop_pid "$pid" nginx 10
	rm -f "$DEIS_NGINX_PID"
}
