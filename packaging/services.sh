# packaging/services.sh - the start and stop function of each component
# of the platform, in the order packaging/up starts them: PostgreSQL,
# Redis, the log server, the registry, deisfs, the builder, the proxy, the
# scheduler (and the apps' containers).  packaging/lib.sh sources it (what
# a start and a stop function do is in its header); not meant to be
# sourced alone.

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

postgres_start() {	# [--restart]
	local log=$DEIS_LOGDIR/postgres.log
	if pg_running; then
		[ "${1:-}" = --restart ] || { info "already running"; return 0; }
		info "settings changed; restarting"
		_pg_ctl restart -m fast -l "$log" ||
			{ show_log_tail "$log"; err "PostgreSQL restart failed"; return 1; }
		return 0
	fi
	port_free "$DEIS_PG_PORT" DEIS_PG_PORT || return 1
	info "starting (log: $log)"
	_pg_ctl start -l "$log" || { show_log_tail "$log"; err "PostgreSQL did not start"; }
}

# A fast shutdown (sessions end, nothing is lost), else an immediate one.
postgres_stop() {
	if [ ! -f "$DEIS_PGDATA/PG_VERSION" ]; then
		info "no cluster in $DEIS_PGDATA"
	elif ! pg_running; then
		info "PostgreSQL not running"
	elif _pg_ctl stop -m fast; then
		info "PostgreSQL stopped"
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

redis_start() {	# [--restart]
	local pidf=$DEIS_RUNDIR/redis.pid log=$DEIS_LOGDIR/redis.log
	if redis_running; then
		[ "${1:-}" = --restart ] || { info "already running"; return 0; }
		info "settings changed; restarting"
		redis_stop || return 1
	elif pid_alive "$pidf" redis-server; then
		info "redis-server (pid $(cat "$pidf")) does not answer; restarting it"
		redis_stop || return 1
	fi
	port_free "$DEIS_REDIS_PORT" DEIS_REDIS_PORT || return 1
	info "starting (log: $log)"
	touch "$log" && chmod 0640 "$log" || return 1
	redis-server "$DEIS_REDIS_DIR/redis.conf" </dev/null >/dev/null ||
		{ show_log_tail "$log"; err "redis-server failed"; return 1; }
	for _ in $(seq 1 100); do
		redis_running && { info "password accepted: ok"; return 0; }
		sleep 0.1
	done
	show_log_tail "$log"
	err "Redis did not answer PING within 10s"
}

# SHUTDOWN NOSAVE (Redis is a cache), SIGTERM if it does not answer.
redis_stop() {
	local pidf=$DEIS_RUNDIR/redis.pid pid='' was=0
	if pid_alive "$pidf" redis-server; then
		read -r pid <"$pidf"
		was=1
	fi
	if redis_running; then
		redis_cli shutdown nosave >/dev/null 2>&1 || true
		was=1
	fi
	if [ -n "$pid" ] && ! wait_pid_gone "$pid" 10; then
		stop_pid "$pid" redis-server 5
	fi
	rm -f "$pidf"
	if [ $was = 1 ]; then info "Redis stopped"; else info "Redis not running"; fi
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

# rsyslogd listening on the producers' socket; it runs deis-logd itself.
logserver_start() {	# [--restart]
	local log=$DEIS_LOGDIR/rsyslog.log pid
	if rsyslog_running; then
		if [ "${1:-}" = --restart ]; then
			info "settings changed; restarting"
			logserver_stop || return 1
		else
			# A rebuilt deis-logd: end the old one, rsyslog starts the
			# new binary and sends again what was not confirmed.
			for pid in $(logd_pids); do
				if binary_changed "$pid" "$DEIS_LOGD"; then
					info "$DEIS_LOGD was rebuilt; restarting deis-logd (pid $pid)"
					kill -TERM "$pid" 2>/dev/null || true
				fi
			done
			info "already running (pid $(rsyslog_pid))"
			return 0
		fi
	fi
	info "starting (log: $log, deis-logd: $DEIS_LOGDIR/deis-logd.log)"
	rm -f "$DEIS_RUNDIR/rsyslog.pid" "$DEIS_SYSLOG_SOCKET"
	rsyslogd -f "$DEIS_RSYSLOG_DIR/rsyslog.conf" -i "$DEIS_RUNDIR/rsyslog.pid" \
		</dev/null >>"$log" 2>&1 ||
		{ show_log_tail "$log"; err "rsyslogd failed to start"; return 1; }
	for _ in $(seq 1 100); do
		[ -S "$DEIS_SYSLOG_SOCKET" ] && rsyslog_running && break
		sleep 0.1
	done
	[ -S "$DEIS_SYSLOG_SOCKET" ] ||
		{ show_log_tail "$log"; err "rsyslogd does not listen on $DEIS_SYSLOG_SOCKET after 10s"; return 1; }
	info "listening (pid $(rsyslog_pid))"
}

# rsyslogd closes deis-logd's stdin on the way out; deis-logd flushes and
# exits.  A deis-logd left over (its rsyslogd was killed) is stopped too.
logserver_stop() {
	local pid st=0
	if rsyslog_running; then
		pid=$(rsyslog_pid)
		stop_pid "$pid" rsyslogd 20
		info "rsyslogd stopped (pid $pid)"
		! proc_alive "$pid" || st=1
	else
		info "rsyslogd not running"
	fi
	rm -f "$DEIS_RUNDIR/rsyslog.pid"
	for pid in $(logd_pids); do
		warn "stopping stray deis-logd pid $pid"
		stop_pid "$pid" deis-logd 10
	done
	return $st
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

# Run as the docker-registry user, in a clean environment (REGISTRY_*
# variables would override the config).
registry_start() {	# [--restart]
	local user group
	if registry_running; then
		if [ "${1:-}" = --restart ]; then
			info "settings changed; restarting"
		elif registry_answers; then
			info "already running (pid $(daemon_pid registry))"
			return 0
		else
			info "docker-registry (pid $(daemon_pid registry)) does not answer; restarting it"
		fi
		registry_stop || return 1
	fi
	port_free "$DEIS_REGISTRY_PORT" DEIS_REGISTRY_PORT || return 1
	user=$(registry_user)
	group=$(id -gn "$user")
	info "starting as $user (log: $DEIS_LOGDIR/registry.log)"
	daemon_spawn registry 20 registry_answers \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		setpriv --reuid="$user" --regid="$group" --init-groups -- \
		docker-registry serve "$DEIS_REGISTRY_DIR/config.yml" || return 1
	info "answering GET /v2/ (pid $(daemon_pid registry))"
}

registry_stop() {
	pidfile_stop "$DEIS_RUNDIR/registry.pid" "$DEIS_REGISTRY_DIR/config.yml" docker-registry 10
}

# ---------------------------------------------------------------- deisfs

deisfs_running() { daemon_running deisfs; }

_deisfs_mounted() { mount_responsive "$DEIS_MOUNT" 2; }

# deisfs -f -o allow_other on $DEIS_MOUNT.  A mount left by a dead deisfs
# ("Transport endpoint is not connected"), or made by another, goes first.
deisfs_start() {	# [--restart]
	[ -x "$DEISFS" ] || { err "$DEISFS not found or not executable (did the build produce fs/deisfs?)"; return 1; }
	[ -e /dev/fuse ] || modprobe fuse 2>/dev/null || true
	[ -e /dev/fuse ] || { err "/dev/fuse is missing: this machine cannot mount FUSE filesystems"; return 1; }
	daemon_keep deisfs "$DEISFS" "${1:-}" _deisfs_mounted "runs but $DEIS_MOUNT is not usable" &&
		return 0
	! deisfs_running || deisfs_stop || return 1
	if is_mounted "$DEIS_MOUNT"; then
		if mount_responsive "$DEIS_MOUNT"; then
			info "$DEIS_MOUNT is mounted by a process we did not start; unmounting it"
			unmount_fuse "$DEIS_MOUNT" || { err "cannot unmount $DEIS_MOUNT"; return 1; }
		else
			info "removing stale mount on $DEIS_MOUNT (transport endpoint not connected)"
			umount -l "$DEIS_MOUNT" 2>/dev/null || fusermount3 -uz "$DEIS_MOUNT" 2>/dev/null || true
			! is_mounted "$DEIS_MOUNT" || { err "cannot remove the stale mount on $DEIS_MOUNT"; return 1; }
		fi
	fi
	mkdir -p "$DEIS_MOUNT" || return 1
	info "starting $DEISFS (log: $DEIS_LOGDIR/deisfs.log)"
	printf '%s packaging: starting %s\n' "$(date -Is)" "$DEISFS" >>"$DEIS_LOGDIR/deisfs.log"
	if ! daemon_spawn deisfs 20 _deisfs_mounted \
		"$DEISFS" "--config=$DEIS_CONF" -f -o allow_other "$DEIS_MOUNT"; then
		unmount_fuse "$DEIS_MOUNT" || true
		return 1
	fi
	info "mounted (pid $(daemon_pid deisfs))"
}

_deisfs_unmount() {
	unmount_fuse "$DEIS_MOUNT" && info "unmounted $DEIS_MOUNT"
}

# Unmounting ends the FUSE session, so deisfs normally exits by itself;
# it gets 3 s before SIGTERM (and SIGKILL 10 s later).  A mount left by a
# dead deisfs goes too.
deisfs_stop() {
	local st=0
	pidfile_stop "$DEIS_RUNDIR/deisfs.pid" "$DEIS_CONF" deisfs 10 3 _deisfs_unmount || st=1
	! is_mounted "$DEIS_MOUNT" || _deisfs_unmount || st=1
	return $st
}

# ---------------------------------------------------------------- builder

# deis-builder: git push over SSH on $DEIS_SSH_PORT (docs/builder.md).

builder_running() { daemon_running deis-builder; }

_builder_listening() {	# PID
	grep -q "deis-builder\[$1\]: .*listening on" "$DEIS_LOGDIR/deis-builder.log"
}

builder_start() {	# [--restart]
	[ -x "$DEIS_BUILDER" ] || { err "$DEIS_BUILDER not found (did the build produce daemons/builder/deis-builder?)"; return 1; }
	daemon_keep deis-builder "$DEIS_BUILDER" "${1:-}" && return 0
	! builder_running || builder_stop || return 1
	port_free "$DEIS_SSH_PORT" DEIS_SSH_PORT || return 1
	info "starting (log: $DEIS_LOGDIR/deis-builder.log)"
	daemon_spawn deis-builder 10 _builder_listening "$DEIS_BUILDER" "--config=$DEIS_CONF" ||
		return 1
	info "listening (pid $(daemon_pid deis-builder))"
}

# SIGTERM lets running pushes finish (up to its builder_shutdown_timeout,
# 20 s by default), SIGKILL after 30 s.
builder_stop() { daemon_stop deis-builder 30; }

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
	daemon_keep deis-proxy "$DEIS_PROXY" "${1:-}" nginx_running "runs without nginx" &&
		return 0
	! proxy_running || daemon_stop deis-proxy 10 || return 1
	if ! nginx_running; then
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
	info "starting (log: $DEIS_LOGDIR/deis-proxy.log; nginx: $DEIS_LOGDIR/nginx.log)"
	_proxy_log_mark=$(stat -c %s "$DEIS_LOGDIR/deis-proxy.log" 2>/dev/null) || _proxy_log_mark=0
	if ! daemon_spawn deis-proxy 30 _proxy_routing "$DEIS_PROXY" "--config=$DEIS_CONF"; then
		show_log_tail "$DEIS_LOGDIR/nginx.log" 10
		return 1
	fi
	info "routing (pid $(daemon_pid deis-proxy), nginx pid $(cat "$DEIS_NGINX_PID"))"
}

# deis-proxy, then nginx: SIGQUIT lets requests in flight finish (up to
# 20 s), then SIGTERM, then SIGKILL.
proxy_stop() {
	local st=0
	daemon_stop deis-proxy 10 || st=1
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

# OPTIONs (--name=value) go to deis-scheduler, over deis.conf.
scheduler_start() {	# [--restart] [OPTION...]
	local restart=''
	[ "${1:-}" != --restart ] || { restart=--restart; shift; }
	[ -x "$DEIS_SCHEDULER" ] || { err "$DEIS_SCHEDULER not found (did the build produce daemons/scheduler/deis-scheduler?)"; return 1; }
	daemon_keep deis-scheduler "$DEIS_SCHEDULER" "$restart" && return 0
	! scheduler_running || scheduler_stop || return 1
	info "starting (log: $DEIS_LOGDIR/deis-scheduler.log)"
	daemon_spawn deis-scheduler 10 _scheduler_running_on_node \
		"$DEIS_SCHEDULER" "--config=$DEIS_CONF" "$@" || return 1
	info "running (pid $(daemon_pid deis-scheduler))"
}

# Its containers keep running.
scheduler_stop() { daemon_stop deis-scheduler 10; }

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
