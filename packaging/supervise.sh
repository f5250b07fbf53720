# packaging/supervise.sh - the platform's processes under a supervisor.
# packaging/lib.sh sources it (after services.sh); not meant to be sourced
# alone.
#
# Every long-running process of the platform is a service that a
# supervisor restarts when it exits: runit (Debian's runit package: one
# private runsvdir over $DEIS_SV, never /etc/service) where systemd is not
# PID 1, as in containers and CI; systemd where it is (units generated
# from packaging/systemd/ into /run/systemd/system).  DEIS_SUPERVISOR=runit
# forces runit on a systemd host.  The services, in start order:
#
#   postgres redis rsyslog registry deisfs deis-builder deis-proxy
#   deis-scheduler
#
# rsyslog runs deis-logd itself (omprog starts it again for the next
# line), and deis-proxy its nginx (it starts a master that died within a
# second, and a new deis-proxy adopts the one running): neither is a
# service of its own, so that nginx outlives a restart of deis-proxy.
#
# Under runit a service directory $DEIS_SV/NAME holds:
#   run        writes a "start" line to history and the pid file
#              $DEIS_RUNDIR/NAME.pid, appends its output to the log, and
#              execs the program in the foreground
#   finish     writes an "exit" line to history (the exit status, the
#              signal, whether it was asked for) and, after repeated quick
#              exits, sleeps: 0, 2, 3, then 4 s (runsv itself waits 1 s when
#              run and finish took less), so that a crashing service does
#              not spin and a killed one is back within 5 s
#   history    "EPOCH start PID" and "EPOCH exit CODE SIGNAL WANT" lines,
#              what platform/status counts restarts from
#   logfile    a symbolic link to the service's log in $DEIS_LOGDIR
#   args       extra --name=value options, one per line (tests)
#   control/t  (PostgreSQL) what `sv down` sends instead of SIGTERM
#   supervise/ runsv's own: stat, pid, status (read by platform/status)
#
# The functions, for packaging/up, packaging/down, the start and stop
# functions of services.sh and the tests:
#   supervisor_kind        runit or systemd
#   svc_setup              writes every service and starts the supervisor
#   svc_up NAME SECS READY starts NAME, waits for `READY PID`
#   svc_restart NAME SECS READY
#   svc_down NAME SECS     stops NAME (SIGKILL after SECS) and keeps it down
#   svc_pid NAME           its pid, when it runs
#   svc_supervised NAME    whether the supervisor watches NAME
#   svc_teardown           ends the supervisor (every service is down)

DEIS_SERVICES=(postgres redis rsyslog registry deisfs deis-builder deis-proxy deis-scheduler)

supervisor_kind() {
	case ${DEIS_SUPERVISOR:-} in
	runit|systemd) echo "$DEIS_SUPERVISOR"; return ;;
	'') ;;
	*) die "DEIS_SUPERVISOR='$DEIS_SUPERVISOR': runit or systemd" ;;
	esac
	if [ -d /run/systemd/system ]; then echo systemd; else echo runit; fi
}

# '...' quoting for sh(1).
_shq() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# ---------------------------------------------------------------- the services

# The command a service execs, as sh words (what follows `exec` in its
# run script).  The pid is the one runsv and the pid file know: chpst,
# env and each program exec in turn.
_svc_command() {	# NAME
	local user
	case $1 in
	postgres)
		user=$(pg_user)
		printf 'chpst -u %s %s -D %s' "$(_shq "$user:$(id -gn "$user")")" \
			"$(_shq "$DEIS_PGBIN/postgres")" "$(_shq "$DEIS_PGDATA")" ;;
	redis)
		printf 'redis-server %s' "$(_shq "$DEIS_REDIS_DIR/redis.conf")" ;;
	rsyslog)
		printf 'rsyslogd -n -f %s -i %s' "$(_shq "$DEIS_RSYSLOG_DIR/rsyslog.conf")" \
			"$(_shq "$DEIS_RUNDIR/rsyslog.pid")" ;;
	registry)
		# A clean environment: REGISTRY_* variables would override the
		# config.
		user=$(registry_user)
		printf 'env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chpst -u %s docker-registry serve %s' \
			"$(_shq "$user:$(id -gn "$user")")" "$(_shq "$DEIS_REGISTRY_DIR/config.yml")" ;;
	deisfs)
		printf '%s %s -f -o allow_other %s' "$(_shq "$DEISFS")" \
			"$(_shq "--config=$DEIS_CONF")" "$(_shq "$DEIS_MOUNT")" ;;
	deis-builder) printf '%s %s "$@"' "$(_shq "$DEIS_BUILDER")" "$(_shq "--config=$DEIS_CONF")" ;;
	deis-proxy) printf '%s %s "$@"' "$(_shq "$DEIS_PROXY")" "$(_shq "--config=$DEIS_CONF")" ;;
	deis-scheduler) printf '%s %s "$@"' "$(_shq "$DEIS_SCHEDULER")" "$(_shq "--config=$DEIS_CONF")" ;;
	*) return 1 ;;
	esac
}

# What runs before the exec: what the program needs that a dead instance
# may have left in the way.
# (rsyslogd writes its pid file itself, and will not start when that
# names a live process: its own.)
_svc_prepare() {	# NAME
	case $1 in
	rsyslog) printf 'rm -f %s\n' "$(_shq "$DEIS_RUNDIR/rsyslog.pid")"; return ;;
	deisfs) printf 'mkdir -p %s 2>/dev/null\n' "$(_shq "$DEIS_MOUNT")" ;;
	esac
	printf 'echo $$ >%s\n' "$(_shq "$DEIS_RUNDIR/$1.pid")"
}

_svc_run() {	# NAME
	local log=$DEIS_LOGDIR/$1.log
	cat <<-EOF
	#!/bin/sh
	# $1, supervised by runit; written by packaging/up (packaging/supervise.sh).
	exec >>$(_shq "$log") 2>&1 </dev/null
	echo "\$(date +%s) start \$\$" >>history
	$(_svc_prepare "$1")
	set -f
	set -- \$(cat args 2>/dev/null)
	exec $(_svc_command "$1")
	EOF
}

# runsv runs finish with the exit code (-1 when killed) and the signal.
# WANT is runsv's (byte 17 of supervise/status): "d" when `sv down` asked
# for the exit, "u" when the service is to run again.  The first exit
# after a run of 10 s or more restarts at once (runsv waits 1 s when run
# and finish together took less); each quick exit after another waits a
# second longer, up to 4.
_svc_finish() {	# NAME
	cat <<-EOF
	#!/bin/sh
	# $1's finish, supervised by runit; written by packaging/up (packaging/supervise.sh).
	now=\$(date +%s)
	want=\$(od -An -j17 -N1 -c supervise/status 2>/dev/null | tr -d ' ')
	echo "\$now exit \$1 \$2 \${want:-u}" >>history
	if [ "\${want:-u}" = u ]; then
	  if [ "\$1" = -1 ]; then why="killed by signal \$2"; else why="exit status \$1"; fi
	  echo "\$(date -u +%Y-%m-%dT%H:%M:%SZ) runit: error: $1 ended (\$why); restarting it" \\
	    >>$(_shq "$DEIS_LOGDIR/$1.log")
	fi
	started=\$(awk '\$2 == "start" { t = \$1 } END { print t + 0 }' history)
	n=0
	if [ "\${want:-u}" = u ] && [ \$((now - started)) -lt 10 ]; then
	  read -r n 2>/dev/null <backoff || n=0
	  n=\$((n + 1))
	fi
	echo \$n >backoff
	[ \$n -le 1 ] || sleep \$((n > 4 ? 4 : n))
	if [ "\$(wc -l <history)" -gt 2000 ]; then
	  tail -n 1000 history >history.new && mv -f history.new history
	fi
	exit 0
	EOF
}

# PostgreSQL's SIGTERM is a "smart" shutdown that waits for every client
# to leave; SIGINT is the fast one (sessions end, nothing is lost).
_svc_control_t() {	# NAME
	[ "$1" = postgres ] || return 0
	cat <<-EOF
	#!/bin/sh
	# sv down / restart: PostgreSQL's fast shutdown.
	read -r pid <supervise/pid && kill -INT "\$pid"
	EOF
}

# Writes the service directory of NAME; prints "changed" when its run
# script changed (what runs must be restarted), else "unchanged".  A new
# directory gets a `down` file, so that runsvdir does not start it before
# packaging/up gets to it.
_svc_write() {	# NAME
	local d=$DEIS_SV/$1 st
	if [ ! -d "$d" ]; then
		install -d -m 0700 "$d"
		: >"$d/down"
	fi
	st=$(_svc_run "$1" | write_if_changed "$d/run" 0755)
	_svc_finish "$1" | write_if_changed "$d/finish" 0755 >/dev/null
	if [ -n "$(_svc_control_t "$1")" ]; then
		install -d -m 0700 "$d/control"
		_svc_control_t "$1" | write_if_changed "$d/control/t" 0755 >/dev/null
	fi
	touch "$DEIS_LOGDIR/$1.log"
	chmod 0640 "$DEIS_LOGDIR/$1.log"
	ln -sfn "$DEIS_LOGDIR/$1.log" "$d/logfile"
	touch "$d/history"
	echo "$st"
}

# ---------------------------------------------------------------- runsvdir

svdir_pid() {
	local pid
	read -r pid 2>/dev/null <"$DEIS_RUNDIR/runsvdir.pid" || return 1
	case $pid in ''|*[!0-9]*) return 1 ;; esac
	proc_alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "runsvdir -P $DEIS_SV " || return 1
	echo "$pid"
}

svdir_running() { svdir_pid >/dev/null; }

# One runsvdir for this platform, in a session of its own, with a plain
# environment (what the services inherit): the sanitizers' options and
# the runtime overrides pass.
_svdir_start() {
	local v env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		"HOME=${HOME:-/root}" LANG=C.UTF-8 "DEIS_HOME=$DEIS_HOME")
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS DEIS_RUNC DEIS_SCHEDULER_BIN; do
		[ -z "${!v:-}" ] || env+=("$v=${!v}")
	done
	setsid env -i "${env[@]}" bash -c 'echo $$ >"$1"; shift; exec "$@"' runsvdir \
		"$DEIS_RUNDIR/runsvdir.pid" runsvdir -P "$DEIS_SV" \
		"log: ................................................................" \
		</dev/null >/dev/null 2>&1 &
	for _ in $(seq 1 50); do
		svdir_running && return 0
		sleep 0.1
	done
	err "runsvdir did not start over $DEIS_SV"
}

# ---------------------------------------------------------------- systemd

# Units of a platform in another DEIS_HOME than /var/lib/deis get a
# suffix of their own (deisfs-1a2b3c4d.service), so that several run on
# one host.
_svc_unit_suffix() {
	[ "$DEIS_HOME" = /var/lib/deis ] ||
		echo "-$(printf '%s' "$DEIS_HOME" | md5sum | cut -c1-8)"
}

# The unit of the service NAME, and the platform's target.
svc_unit() {	# NAME
	local f
	f=$(_svc_unit_file "$1")
	echo "${f%.service}$(_svc_unit_suffix).service"
}

svc_target() {
	echo "deis$(_svc_unit_suffix).target"
}

# The file of packaging/systemd/ that holds NAME's unit.
_svc_unit_file() {	# NAME
	case $1 in
	deisfs|deis-*) echo "$1.service" ;;
	*) echo "deis-$1.service" ;;
	esac
}

# A unit of packaging/systemd/ (FILE) for this platform: the paths of the
# Debian package replaced by this platform's, the units' names by its
# own.  PrivateTmp and ProtectHome go: a checkout may be in /home, a
# throwaway platform in /tmp.
svc_unit_text() {	# FILE
	local x
	x=$(_svc_unit_suffix)
	sed -e "s|/etc/deis/deis.conf|$DEIS_CONF|g" \
		-e "s|/usr/sbin/deisfs|$DEISFS|g" \
		-e "s|/usr/sbin/deis-builder|$DEIS_BUILDER|g" \
		-e "s|/usr/sbin/deis-proxy|$DEIS_PROXY|g" \
		-e "s|/usr/sbin/deis-scheduler|$DEIS_SCHEDULER|g" \
		-e "s|/var/lib/deis|$DEIS_HOME|g" \
		-e "s| /deis\$| $DEIS_MOUNT|" \
		-e "s/\b\(deisfs\|deis-[a-z]*\)\.service/\1$x.service/g" \
		-e "s/\bdeis\.target/deis$x.target/g" \
		-e "s|^User=postgres\$|User=$(pg_user)|" \
		-e '/^PrivateTmp=/d' -e '/^ProtectHome=/d' \
		"$DEIS_SRC/packaging/systemd/$1"
}

_svc_systemd_write() {
	local n st=unchanged
	for n in "${DEIS_SERVICES[@]}"; do
		[ "$(svc_unit_text "$(_svc_unit_file "$n")" |
			write_if_changed "/run/systemd/system/$(svc_unit "$n")" 0644)" = unchanged ] ||
			{ st=changed; SVC_CHANGED[$n]=1; }
	done
	[ "$(svc_unit_text deis.target |
		write_if_changed "/run/systemd/system/$(svc_target)" 0644)" = unchanged ] ||
		st=changed
	[ $st = unchanged ] || systemctl daemon-reload
}

# ---------------------------------------------------------------- the interface

# Services whose run script or unit this run of packaging/up changed.
declare -A SVC_CHANGED=()

# Writes every service and starts the supervisor.  Under runit, when
# runsvdir does not run (the first packaging/up, or after packaging/down),
# every service gets a `down` file first: packaging/up starts each in its
# turn, once what it needs is there.
svc_setup() {
	local n
	case $(supervisor_kind) in
	systemd)
		info "systemd (PID 1): units $(svc_unit deisfs) ... in /run/systemd/system, $(svc_target)"
		_svc_systemd_write ;;
	runit)
		command -v runsvdir >/dev/null || { err "runsvdir not found (is runit installed?)"; return 1; }
		if [ -d /run/systemd/system ]; then
			info "runit (DEIS_SUPERVISOR=runit): runsvdir over $DEIS_SV"
		else
			info "runit (systemd is not PID 1): runsvdir over $DEIS_SV"
		fi
		install -d -m 0700 "$DEIS_SV"
		if ! svdir_running; then
			# (A runsv left by a runsvdir that was killed still
			# watches its service: that one runs on.)
			for n in "${DEIS_SERVICES[@]}"; do
				[ ! -d "$DEIS_SV/$n" ] || svc_supervised "$n" || : >"$DEIS_SV/$n/down"
			done
		fi
		for n in "${DEIS_SERVICES[@]}"; do
			[ "$(_svc_write "$n")" = unchanged ] || SVC_CHANGED[$n]=1
		done
		if svdir_running; then
			info "runsvdir already running (pid $(svdir_pid))"
		else
			_svdir_start || return 1
			info "runsvdir started (pid $(svdir_pid))"
		fi ;;
	esac
}

# "--restart" when this run changed NAME's run script or unit.
svc_restart_if() {	# NAME
	if [ -n "${SVC_CHANGED[$1]:-}" ]; then echo --restart; fi
}

# Whether runsv watches NAME (it holds supervise/ok open), or systemd
# knows its unit.
svc_supervised() {	# NAME
	case $(supervisor_kind) in
	systemd) [ -f "/run/systemd/system/$(svc_unit "$1")" ] ;;
	runit) [ -p "$DEIS_SV/$1/supervise/ok" ] && sv status "$DEIS_SV/$1" >/dev/null 2>&1 ;;
	esac
}

# Waits (up to 6 s: runsvdir looks for new directories every 5 s) for
# runsv to watch NAME.
_svc_wait_runsv() {	# NAME
	for _ in $(seq 1 60); do
		svc_supervised "$1" && return 0
		sleep 0.1
	done
	err "runsv does not watch $DEIS_SV/$1 (is runsvdir running?)"
}

# Whether the supervisor is to keep NAME running (it may be restarting
# it): runsv's want byte in supervise/status.
svc_wants_up() {	# NAME
	case $(supervisor_kind) in
	systemd)
		case $(systemctl is-active "$(svc_unit "$1")" 2>/dev/null) in
		active|activating|reloading) return 0 ;;
		*) return 1 ;;
		esac ;;
	runit)
		svc_supervised "$1" &&
		[ "$(od -An -j17 -N1 -c "$DEIS_SV/$1/supervise/status" 2>/dev/null | tr -d ' ')" = u ] ;;
	esac
}

# The pid of NAME when it runs (not while it is finishing or down).
svc_pid() {	# NAME
	local stat pid
	case $(supervisor_kind) in
	systemd)
		pid=$(systemctl show -p MainPID --value "$(svc_unit "$1")" 2>/dev/null) || return 1 ;;
	runit)
		svc_supervised "$1" || return 1
		read -r stat 2>/dev/null <"$DEIS_SV/$1/supervise/stat" || return 1
		case $stat in run*) ;; *) return 1 ;; esac
		read -r pid 2>/dev/null <"$DEIS_SV/$1/supervise/pid" || return 1 ;;
	esac
	case $pid in ''|0|*[!0-9]*) return 1 ;; esac
	proc_alive "$pid" || return 1
	echo "$pid"
}

# Waits up to SECS for NAME to run a process other than OLD that `READY
# PID` accepts.  On failure it says why, with its log's tail, and stops
# NAME (so that a service that cannot start does not spin).
_svc_wait_ready() {	# NAME SECS READY [OLD]
	local pid=''
	for _ in $(seq 1 $(($2 * 10))); do
		if pid=$(svc_pid "$1") && [ "$pid" != "${4:-}" ] && "$3" "$pid"; then
			return 0
		fi
		sleep 0.1
	done
	show_log_tail "$DEIS_LOGDIR/$1.log"
	svc_down "$1" 10 >/dev/null || true
	err "$1 was not ready within ${2}s"
}

svc_up() {	# NAME SECS READY
	case $(supervisor_kind) in
	systemd) systemctl start "$(svc_unit "$1")" || { err "systemctl start $(svc_unit "$1") failed"; return 1; } ;;
	runit)
		rm -f "$DEIS_SV/$1/down"
		_svc_wait_runsv "$1" || return 1
		sv up "$DEIS_SV/$1" >/dev/null || { err "sv up $DEIS_SV/$1 failed"; return 1; } ;;
	esac
	_svc_wait_ready "$1" "$2" "$3"
}

# Down, then up (not `sv restart`: its exit would count as a crash in
# platform/status, which counts the exits nobody asked for).
svc_restart() {	# NAME SECS READY
	case $(supervisor_kind) in
	systemd)
		systemctl restart "$(svc_unit "$1")" || { err "systemctl restart $(svc_unit "$1") failed"; return 1; }
		_svc_wait_ready "$1" "$2" "$3" ;;
	runit)
		svc_down "$1" 30 >/dev/null && svc_up "$1" "$2" "$3" ;;
	esac
}

# Stops NAME and keeps it down: SIGTERM (PostgreSQL: SIGINT), SIGKILL
# after SECS.  Quiet when it is not supervised.
svc_down() {	# NAME SECS
	local pid
	svc_supervised "$1" || return 0
	pid=$(svc_pid "$1") || pid=''
	case $(supervisor_kind) in
	systemd) systemctl stop "$(svc_unit "$1")" ;;
	runit)
		if ! sv -w "$2" down "$DEIS_SV/$1" >/dev/null; then
			warn "$1 did not stop within $2 s; sending SIGKILL"
			sv kill "$DEIS_SV/$1" >/dev/null
			sv -w 10 down "$DEIS_SV/$1" >/dev/null || { err "$1 survived SIGKILL"; return 1; }
		fi ;;
	esac
	if [ -n "$pid" ]; then info "$1 stopped (pid $pid)"; else info "$1 not running"; fi
}

# Every service is down (packaging/down stopped them in order): runsvdir
# first (it would start runsv again), then each runsv.
svc_teardown() {
	local pid n left
	case $(supervisor_kind) in
	systemd)
		systemctl stop "$(svc_target)" 2>/dev/null || true
		return 0 ;;
	esac
	if pid=$(svdir_pid); then
		kill -TERM "$pid" 2>/dev/null
		wait_pid_gone "$pid" 10 || { err "runsvdir (pid $pid) did not exit"; return 1; }
		info "runsvdir stopped (pid $pid)"
	fi
	rm -f "$DEIS_RUNDIR/runsvdir.pid"
	for n in "${DEIS_SERVICES[@]}"; do
		[ -d "$DEIS_SV/$n" ] || continue
		: >"$DEIS_SV/$n/down"
		svc_supervised "$n" && sv exit "$DEIS_SV/$n" >/dev/null 2>&1
	done
	for _ in $(seq 1 100); do
		left=$(runsv_pids)
		[ -n "$left" ] || return 0
		sleep 0.1
	done
	err "runsv still running: $left"
}

# The runsv processes of this platform's services: runsvdir runs
# "runsv NAME" from $DEIS_SV, and runsv works in $DEIS_SV/NAME.
runsv_pids() {
	local p argv
	for p in /proc/[0-9]*; do
		mapfile -d '' -t argv 2>/dev/null <"$p/cmdline" || continue
		[ "${argv[0]:-}" = runsv ] && [ ${#argv[@]} = 2 ] || continue
		[ "$(readlink "$p/cwd" 2>/dev/null)" = "$DEIS_SV/${argv[1]}" ] || continue
		echo "${p#/proc/}"
	done
	return 0
}
