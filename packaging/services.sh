# packaging/services.sh - the start and stop function of each component
# of the platform, in the order packaging/up starts them: PostgreSQL,
# Redis, the log server, the registry, deisfs, the builder, the proxy, the
# scheduler (and the apps' containers).  packaging/lib.sh sources it (what
# a start and a stop function do is in its header); not meant to be
# sourced alone.  Each component is a service of the supervisor
# (packaging/supervise.sh): a start function asks it to run the service
# and waits until it answers, a stop function asks it to keep it down.
# What a platform started before it had a supervisor still runs is
# stopped by its pid file first.

# ---------------------------------------------------------------- any service

# Starts the service NAME, or keeps it running: not when RESTART is
# --restart (its configuration changed), when BINARY was rebuilt since it
# started, or when it is not ready (`READY PID`) within SECS.  Says which.
# LEGACY..., when given, stops what runs NAME outside the supervisor.
service_start() {	# NAME SECS READY RESTART [BINARY [LEGACY...]]
	local name=$1 secs=$2 ready=$3 restart=$4 bin=${5:-} pid
	shift $(($# < 5 ? $# : 5))
	if pid=$(svc_pid "$name"); then
		if [ "$restart" = --restart ]; then
			info "configuration changed; restarting $name (pid $pid)"
		elif [ -n "$bin" ] && binary_changed "$pid" "$bin"; then
			info "$bin was rebuilt; restarting $name (pid $pid)"
		elif _svc_ready_within "$name" "$secs" "$ready"; then
			info "already running (pid $(svc_pid "$name"))"
			return 0
		else
			info "$name (pid $pid) is not ready after ${secs}s; restarting it"
		fi
		svc_restart "$name" "$secs" "$ready" || return 1
	else
		[ $# = 0 ] || "$@" || return 1
		svc_up "$name" "$secs" "$ready" || return 1
	fi
}

# Whether NAME runs a process that `READY PID` accepts within SECS.
_svc_ready_within() {	# NAME SECS READY
	local pid
	for _ in $(seq 1 $(($2 * 10))); do
		pid=$(svc_pid "$1") && "$3" "$pid" && return 0
		sleep 0.1
	done
	return 1
}

# Stops the service NAME (SIGTERM, SIGKILL after SECS) and keeps it down;
# LEGACY... stops what runs NAME outside the supervisor.
service_stop() {	# NAME SECS [LEGACY...]
	local name=$1 secs=$2
	shift 2
	if svc_supervised "$name"; then
		svc_down "$name" "$secs"
	elif [ $# != 0 ]; then
		"$@"
	else
		info "$name not running"
	fi
}

# A daemon a platform started before it had a supervisor: SIGTERM by its
# pid file, SIGKILL after SECS.
daemon_stop_legacy() {	# NAME SECS
	! pid_alive "$DEIS_RUNDIR/$1.pid" "$DEIS_CONF" || daemon_stop "$1" "$2"
}

# Whether the service NAME, running as PID, answers: the check its start
# function waits for.
service_ready() {	# NAME PID
	case $1 in
	postgres) _pg_ready "$2" ;;
	redis) _redis_ready "$2" ;;
	rsyslog) _rsyslog_ready "$2" ;;
	registry) _registry_ready "$2" ;;
	deisfs) _deisfs_mounted "$2" ;;
	deis-builder) _builder_listening "$2" ;;
	deis-proxy) _proxy_routing "$2" ;;
	deis-scheduler) _scheduler_running_on_node "$2" ;;
	*) return 1 ;;
	esac
}

# The first start of NAME (not a restart after a crash, which holds the
# port itself): PORT must be free.
_service_port_free() {	# NAME PORT VARIABLE
	svc_pid "$1" >/dev/null || svc_wants_up "$1" || port_free "$2" "$3"
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

# pg_ctl ACTION on the cluster, waiting for it (up to 60 s).
_pg_ctl() {	# ACTION [ARGS...]
	pg_as "$DEIS_PGBIN/pg_ctl" "$1" -D "$DEIS_PGDATA" -w -t 60 "${@:2}" >/dev/null
}

# The postmaster PID accepts connections: it says so in its pid file, as
# pg_ctl -w reads it (a connection to ask would log a FATAL line while it
# starts).
_pg_ready() {	# PID
	[ "$(sed -n '1p' "$DEIS_PGDATA/postmaster.pid" 2>/dev/null)" = "$1" ] &&
	[ "$(sed -n '8p' "$DEIS_PGDATA/postmaster.pid" 2>/dev/null | tr -d ' ')" = ready ]
}

postgres_start() {	# [--restart]
	svc_pid postgres >/dev/null || pg_running ||
		_service_port_free postgres "$DEIS_PG_PORT" DEIS_PG_PORT || return 1
	info "log: $DEIS_LOGDIR/postgres.log"
	service_start postgres 60 _pg_ready "${1:-}" "" _postgres_stop_legacy
}

# A fast shutdown (sessions end, nothing is lost: the supervisor sends
# SIGINT, packaging/supervise.sh's control/t), SIGKILL after 60 s.
postgres_stop() {
	service_stop postgres 60 _postgres_stop_legacy
}

# A cluster started with pg_ctl: a fast shutdown, else an immediate one.
_postgres_stop_legacy() {
	if [ ! -f "$DEIS_PGDATA/PG_VERSION" ] || ! pg_running; then
		return 0
	elif _pg_ctl stop -m fast; then
		info "PostgreSQL (started without the supervisor) stopped"
	else
		warn "fast shutdown failed; trying immediate"
		pg_as "$DEIS_PGBIN/pg_ctl" stop -D "$DEIS_PGDATA" -m immediate -w -t 30 >/dev/null
	fi
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

# It answers PING with our password.
_redis_ready() { redis_running; }

redis_start() {	# [--restart]
	svc_pid redis >/dev/null || redis_running ||
		_service_port_free redis "$DEIS_REDIS_PORT" DEIS_REDIS_PORT || return 1
	info "log: $DEIS_LOGDIR/redis.log"
	service_start redis 10 _redis_ready "${1:-}" "" _redis_stop_legacy || return 1
	info "password accepted: ok"
}

# SIGTERM: Redis saves nothing (a cache), SIGKILL after 10 s.
redis_stop() {
	service_stop redis 10 _redis_stop_legacy
}

# A redis-server that daemonized itself: SHUTDOWN NOSAVE, SIGTERM if it
# does not answer.
_redis_stop_legacy() {
	local pidf=$DEIS_RUNDIR/redis.pid pid=''
	if pid_alive "$pidf" redis-server; then
		read -r pid <"$pidf"
	fi
	redis_running || [ -n "$pid" ] || return 0
	redis_cli shutdown nosave >/dev/null 2>&1 || true
	if [ -n "$pid" ] && ! wait_pid_gone "$pid" 10; then
		stop_pid "$pid" redis-server 5
	fi
	info "Redis (started without the supervisor) stopped"
	[ -z "$pid" ] || ! proc_alive "$pid"
}

# ---------------------------------------------------------------- log server

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

# The pids of deis-logd processes that this platform's rsyslogd runs (its
# command line read with a builtin: no process per process).
logd_pids() {
	local p argv
	for p in /proc/[0-9]*; do
		mapfile -d '' -t argv 2>/dev/null <"$p/cmdline" || continue
		[ "${argv[0]##*/}" = deis-logd ] && [ "${argv[1]:-}" = "--config=$DEIS_CONF" ] &&
			echo "${p#/proc/}"
	done
	return 0
}

# It listens on the producers' socket.
_rsyslog_ready() {	# PID
	[ -S "$DEIS_SYSLOG_SOCKET" ] && rsyslog_running
}

# rsyslogd listening on the producers' socket; it runs deis-logd itself.
logserver_start() {	# [--restart]
	local pid
	info "log: $DEIS_LOGDIR/rsyslog.log, deis-logd: $DEIS_LOGDIR/deis-logd.log"
	if svc_pid rsyslog >/dev/null && [ "${1:-}" != --restart ]; then
		# A rebuilt deis-logd: end the old one, rsyslog starts the
		# new binary and sends again what was not confirmed.
		for pid in $(logd_pids); do
			if binary_changed "$pid" "$DEIS_LOGD"; then
				info "$DEIS_LOGD was rebuilt; restarting deis-logd (pid $pid)"
				kill -TERM "$pid" 2>/dev/null || true
			fi
		done
	fi
	service_start rsyslog 10 _rsyslog_ready "${1:-}" "" _logserver_stop_legacy || return 1
	info "listening (pid $(rsyslog_pid))"
}

# rsyslogd closes deis-logd's stdin on the way out; deis-logd flushes and
# exits.  A deis-logd left over (its rsyslogd was killed) is stopped too.
logserver_stop() {
	local pid st=0
	service_stop rsyslog 20 _logserver_stop_legacy || st=1
	for pid in $(logd_pids); do
		warn "stopping stray deis-logd pid $pid"
		stop_pid "$pid" deis-logd 10
	done
	return $st
}

_logserver_stop_legacy() {
	local pid
	rsyslog_running || return 0
	pid=$(rsyslog_pid)
	stop_pid "$pid" rsyslogd 20
	info "rsyslogd (started without the supervisor) stopped (pid $pid)"
	rm -f "$DEIS_RUNDIR/rsyslog.pid"
	! proc_alive "$pid"
}

# ---------------------------------------------------------------- registry

# The private registry (Distribution 2.8, Debian's docker-registry) on
# $DEIS_REGISTRY_URL (127.0.0.1 only), blobs under $DEIS_REGISTRY_DIR.

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

_registry_ready() { registry_answers; }

# Run as the docker-registry user, in a clean environment (REGISTRY_*
# variables would override the config).
registry_start() {	# [--restart]
	svc_pid registry >/dev/null || registry_running ||
		_service_port_free registry "$DEIS_REGISTRY_PORT" DEIS_REGISTRY_PORT || return 1
	info "as $(registry_user) (log: $DEIS_LOGDIR/registry.log)"
	service_start registry 20 _registry_ready "${1:-}" "" _registry_stop_legacy || return 1
	info "answering GET /v2/ (pid $(svc_pid registry))"
}

registry_stop() {
	service_stop registry 10 _registry_stop_legacy
}

_registry_stop_legacy() {
	registry_running || return 0
	pidfile_stop "$DEIS_RUNDIR/registry.pid" "$DEIS_REGISTRY_DIR/config.yml" docker-registry 10
}

# ---------------------------------------------------------------- deisfs

deisfs_running() { daemon_running deisfs; }

_deisfs_mounted() { mount_responsive "$DEIS_MOUNT" 2; }

# deisfs -f -o allow_other on $DEIS_MOUNT.  A mount left by a dead deisfs
# ("Transport endpoint is not connected") deisfs removes itself at start;
# a live one that another process made goes first.
deisfs_start() {	# [--restart]
	[ -x "$DEISFS" ] || { err "$DEISFS not found or not executable (did the build produce fs/deisfs?)"; return 1; }
	[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
	[ -e /dev/fuse ] || { err "/dev/fuse is missing: this machine cannot mount FUSE filesystems"; return 1; }
	if ! svc_pid deisfs >/dev/null && ! deisfs_running && mount_responsive "$DEIS_MOUNT"; then
		info "$DEIS_MOUNT is mounted by a process we did not start; unmounting it"
		unmount_fuse "$DEIS_MOUNT" || { err "cannot unmount $DEIS_MOUNT"; return 1; }
	fi
	info "$DEISFS (log: $DEIS_LOGDIR/deisfs.log)"
	service_start deisfs 20 _deisfs_mounted "${1:-}" "$DEISFS" _deisfs_stop_legacy || return 1
	info "mounted (pid $(svc_pid deisfs))"
}

_deisfs_unmount() {
	unmount_fuse "$DEIS_MOUNT" && info "unmounted $DEIS_MOUNT"
}

# SIGTERM ends the FUSE session: deisfs unmounts and exits (SIGKILL after
# 10 s).  A mount left by a dead deisfs goes too.
deisfs_stop() {
	local st=0
	service_stop deisfs 10 _deisfs_stop_legacy || st=1
	! is_mounted "$DEIS_MOUNT" || _deisfs_unmount || st=1
	return $st
}

# Unmounting ends the FUSE session, so deisfs normally exits by itself;
# it gets 3 s before SIGTERM.
_deisfs_stop_legacy() {
	deisfs_running || return 0
	pidfile_stop "$DEIS_RUNDIR/deisfs.pid" "$DEIS_CONF" deisfs 10 3 _deisfs_unmount
}

# ---------------------------------------------------------------- builder

# deis-builder: git push over SSH on $DEIS_SSH_PORT (docs/builder.md).

builder_running() { daemon_running deis-builder; }

_builder_listening() {	# PID
	grep -q "deis-builder\[$1\]: .*listening on" "$DEIS_LOGDIR/deis-builder.log"
}

builder_start() {	# [--restart]
	[ -x "$DEIS_BUILDER" ] || { err "$DEIS_BUILDER not found (did the build produce daemons/builder/deis-builder?)"; return 1; }
	svc_pid deis-builder >/dev/null || builder_running ||
		_service_port_free deis-builder "$DEIS_SSH_PORT" DEIS_SSH_PORT || return 1
	info "log: $DEIS_LOGDIR/deis-builder.log"
	service_start deis-builder 10 _builder_listening "${1:-}" "$DEIS_BUILDER" \
		daemon_stop_legacy deis-builder 30 || return 1
	info "listening (pid $(svc_pid deis-builder))"
}

# SIGTERM lets running pushes finish (up to its builder_shutdown_timeout,
# 20 s by default), SIGKILL after 30 s.
builder_stop() { service_stop deis-builder 30 daemon_stop_legacy deis-builder 30; }

# ---------------------------------------------------------------- proxy

# deis-proxy renders nginx's config from the routes and runs a private
# nginx (config and certificates in $DEIS_HOME/proxy, pid in
# $DEIS_NGINX_PID, error log in log/nginx.log).  nginx outlives deis-proxy
# on purpose: a new deis-proxy adopts it, so restarting deis-proxy drops no
# request.

proxy_running() { daemon_running deis-proxy; }

# Succeeds if our private nginx master runs (its title names our config).
nginx_running() {
	pid_alive "$DEIS_NGINX_PID" "$DEIS_HOME/proxy/nginx.conf"
}

# Debian's nginx package starts its own service when it is installed: the
# "Welcome to nginx" site on port 80.  Only that untouched default is taken
# down, so that the platform can have port 80; a system nginx someone has
# configured is left alone (then set DEIS_HTTP_PORT).
debian_nginx_is_default() {
	pid_alive /run/nginx.pid nginx || return 1
	[ "$(ls -A /etc/nginx/sites-enabled 2>/dev/null)" = default ] || return 1
	[ -z "$(ls -A /etc/nginx/conf.d 2>/dev/null)" ] || return 1
	! dpkg --verify nginx-common 2>/dev/null | grep -q sites-available/default
}

# Where the log of the deis-proxy being started began.
_proxy_log_mark=0

_proxy_routing() {	# PID
	nginx_running &&
	tail -c +"$((_proxy_log_mark + 1))" "$DEIS_LOGDIR/deis-proxy.log" |
		grep -q "deis-proxy\[$1\]: .*nginx \(started\|reloaded\)"
}

# A restart (rebuilt, reconfigured, or running without its nginx)
# restarts deis-proxy alone; nginx keeps serving.
proxy_start() {	# [--restart]
	local p
	[ -x "$DEIS_PROXY" ] || { err "$DEIS_PROXY not found (did the build produce daemons/proxy/deis-proxy?)"; return 1; }
	[ -x /usr/sbin/nginx ] || { err "/usr/sbin/nginx not found (is nginx installed?)"; return 1; }
	if ! svc_pid deis-proxy >/dev/null && ! nginx_running; then
		for p in "$DEIS_HTTP_PORT" "$DEIS_HTTPS_PORT"; do
			port_in_use "$p" || continue
			if [ "$p" = 80 ] || [ "$p" = 443 ] && debian_nginx_is_default; then
				info "stopping Debian's default nginx service (its welcome page holds port $p)"
				systemctl disable --now nginx >/dev/null 2>&1 ||
					stop_pid "$(cat /run/nginx.pid)" nginx 10
			fi
			port_free "$p" "DEIS_HTTP_PORT / DEIS_HTTPS_PORT" || return 1
		done
	fi
	info "log: $DEIS_LOGDIR/deis-proxy.log; nginx: $DEIS_LOGDIR/nginx.log"
	svc_pid deis-proxy >/dev/null ||
		_proxy_log_mark=$(stat -c %s "$DEIS_LOGDIR/deis-proxy.log" 2>/dev/null) || _proxy_log_mark=0
	if ! service_start deis-proxy 30 _proxy_routing "${1:-}" "$DEIS_PROXY" \
		daemon_stop_legacy deis-proxy 10; then
		show_log_tail "$DEIS_LOGDIR/nginx.log" 10
		return 1
	fi
	info "routing (pid $(svc_pid deis-proxy), nginx pid $(cat "$DEIS_NGINX_PID"))"
}

# deis-proxy, then nginx: SIGQUIT lets requests in flight finish (up to
# 20 s), then SIGTERM, then SIGKILL.
proxy_stop() {
	local st=0
	service_stop deis-proxy 10 daemon_stop_legacy deis-proxy 10 || st=1
	pidfile_stop "$DEIS_NGINX_PID" "$DEIS_HOME/proxy/nginx.conf" nginx 10 20 kill -QUIT || st=1
	return $st
}


# ---------------------------------------------------------------- scheduler

# deis-scheduler runs the apps' containers (docs/scheduler.md): runc
# containers under $DEIS_RUNC_ROOT, each with a deis-shim parent, on the
# bridge $DEIS_BRIDGE in $DEIS_SUBNET.  They outlive it: a new scheduler
# adopts them.

scheduler_running() { daemon_running deis-scheduler; }

_scheduler_running_on_node() {	# PID
	grep -q "deis-scheduler\[$1\]: .*scheduling on node" "$DEIS_LOGDIR/deis-scheduler.log"
}

# OPTIONs (--name=value) go to deis-scheduler, over deis.conf, when this
# starts it (they stay in force for the restarts after a crash, until the
# next start without them).
scheduler_start() {	# [--restart] [OPTION...]
	local restart='' args=$DEIS_SV/deis-scheduler/args
	[ "${1:-}" != --restart ] || { restart=--restart; shift; }
	[ -x "$DEIS_SCHEDULER" ] || { err "$DEIS_SCHEDULER not found (did the build produce daemons/scheduler/deis-scheduler?)"; return 1; }
	if [ -n "$*" ] && svc_pid deis-scheduler >/dev/null &&
		[ "$(printf '%s\n' "$@")" != "$(cat "$args" 2>/dev/null)" ]; then
		restart=--restart
	fi
	if [ "$restart" = --restart ] || ! svc_pid deis-scheduler >/dev/null; then
		if [ $# = 0 ]; then : >"$args"; else printf '%s\n' "$@" >"$args"; fi
	fi
	info "log: $DEIS_LOGDIR/deis-scheduler.log"
	service_start deis-scheduler 10 _scheduler_running_on_node "$restart" "$DEIS_SCHEDULER" \
		daemon_stop_legacy deis-scheduler 10 || return 1
	info "running (pid $(svc_pid deis-scheduler))"
}

# Its containers keep running.
scheduler_stop() { service_stop deis-scheduler 10 daemon_stop_legacy deis-scheduler 10; }

# Every app container of this platform: SIGTERM to each, SIGKILL after
# 10 s, then runc delete (their shims exit with them); every attached
# one-off (`ssh ... run`, under its own runc root, with no shim to wait
# for): SIGKILL and delete; then the containers' network (the firewall,
# the namespaces, the bridge).
containers_stop() {
	local root id ids n=0 st=0
	if [ -d "$DEIS_RUNC_ROOT" ] && ids=$(runc --root "$DEIS_RUNC_ROOT" list -q 2>/dev/null); then
		for id in $ids; do
			runc --root "$DEIS_RUNC_ROOT" kill --all "$id" TERM >/dev/null 2>&1 || :
			n=$((n + 1))
		done
		for _ in $(seq 1 100); do
			[ -z "$(runc --root "$DEIS_RUNC_ROOT" list -q 2>/dev/null |
				while read -r id; do
					runc --root "$DEIS_RUNC_ROOT" state "$id" 2>/dev/null |
						grep -q '"status": *"stopped"' || echo "$id"
				done)" ] && break
			sleep 0.1
		done
		for id in $ids; do
			runc --root "$DEIS_RUNC_ROOT" kill --all "$id" KILL >/dev/null 2>&1 || :
			runc --root "$DEIS_RUNC_ROOT" delete --force "$id" >/dev/null 2>&1 || :
		done
		rm -rf "$DEIS_HOME/scheduler/containers"
	fi
	info "$n container(s) stopped"
	root=$DEIS_HOME/scheduler/attached/runc n=0
	for id in $(runc --root "$root" list -q 2>/dev/null); do
		runc --root "$root" kill --all "$id" KILL >/dev/null 2>&1 || :
		runc --root "$root" delete --force "$id" >/dev/null 2>&1 || :
		n=$((n + 1))
	done
	[ $n = 0 ] || info "$n attached one-off(s) (ssh ... run) ended"
	if [ -f "$DEIS_CONF" ] && [ -x "$DEIS_SCHEDULER" ]; then
		if "$DEIS_SCHEDULER" network down "--config=$DEIS_CONF"; then
			info "network $DEIS_BRIDGE ($DEIS_SUBNET) removed"
		else
			st=1
		fi
	fi
	return $st
}
