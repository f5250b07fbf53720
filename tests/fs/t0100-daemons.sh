#!/bin/bash
test_description='the daemon skeleton: --help and --version of every daemon; SIGHUP reloads the configuration (and keeps the one in force, saying why, when the new one is bad); the database is waited for at start'
. "$(dirname "$0")/../lib.sh"

# A deisfs of this script's own, with a configuration file of its own, so
# that no other script sees its limits change.
M=$TRASH_DIRECTORY/t0100-mnt
CONF=$TRASH_DIRECTORY/t0100.conf
MLOG=$DEIS_LOGDIR/deisfs.extra.t0100-mnt.log
APP=t0100-app
S=$M/apps/$APP

mlog_mark() { stat -c %s "$MLOG" >"$TRASH_DIRECTORY/.mlog-mark"; }
mlog_since() {	# PATTERN
	local off
	read -r off <"$TRASH_DIRECTORY/.mlog-mark"
	tail -c +"$((off + 1))" "$MLOG" | grep -E -- "$1"
}
# Creates scratch files .s1 .. .sN (editors' temporary files) in the app.
scratch() {	# N
	local i
	for i in $(seq 1 "$1"); do : >"$S/.s$i" || return 1; done
}
scratch_refused() {	# NAME
	test_must_fail sh -c ": >\"$S/$1\"" 2>err &&
	grep "Disk quota exceeded" err
}
hup() {
	mlog_mark &&
	kill -HUP "$(deis_mount_pid "$M")"
}

for d in deisfs:"$DEISFS" deis-logd:"$DEIS_LOGD" deis-proxy:"$DEIS_BUILD/daemons/proxy/deis-proxy" \
	deis-builder:"$DEIS_BUILD/daemons/builder/deis-builder" \
	deis-scheduler:"$DEIS_BUILD/daemons/scheduler/deis-scheduler"; do
	name=${d%%:*} bin=${d#*:}
	test_expect_success "$name: --version, --help, and a bad option exits 2 saying why" '
		"$bin" --version >out &&
		grep -Ex "$name [0-9]+\.[0-9]+\.[0-9]+" out &&
		"$bin" --help >out &&
		grep "^usage: $name \[--config=FILE\]" out &&
		grep -e "--log_level=VALUE" out &&
		grep -e "--database=VALUE" out &&
		test_expect_code 2 "$bin" --config="$DEIS_CONF" --no_such_option=1 2>err &&
		grep -x "$name: --no_such_option=1: unknown option .no_such_option." err
	'
done

test_expect_success 'the options a reload puts in force are marked in --help' '
	"$DEISFS" --help >out &&
	grep -e "--scratch_files=VALUE .*\[SIGHUP\]$" out &&
	grep -e "--db_pool=VALUE" out >db_pool &&
	! grep SIGHUP db_pool &&
	"$DEIS_SCHEDULER" --help >out &&
	grep -e "--scheduler_grace=VALUE .*\[SIGHUP\]$" out &&
	grep -e "--scheduler_port=VALUE" out >port &&
	! grep SIGHUP port
'

test_expect_success 'setup: a deisfs of its own with scratch_files = 1, and an app' '
	{ cat "$DEIS_CONF" && echo "scratch_files = 1"; } >"$CONF" &&
	deis_mount_extra "$M" --config="$CONF" &&
	mkdir "$S"
'

test_expect_success 'SIGHUP with a changed valid configuration: the new limit is in force' '
	test_when_finished "rm -f \"$S\"/.s*" &&
	scratch 1 &&
	scratch_refused .s2 &&
	sed -i "s/^scratch_files = 1\$/scratch_files = 3/" "$CONF" &&
	echo "db_pool = 2" >>"$CONF" &&
	hup &&
	test_wait_for 10 mlog_since "configuration reloaded" &&
	mlog_since "notice: scratch_files: 1 -> 3" &&
	mlog_since "db_pool changed: the new value takes effect at the next start" &&
	scratch 3 &&
	scratch_refused .s4
'

test_expect_success 'SIGHUP with a broken configuration: the one in force is kept, the reason logged' '
	test_when_finished "rm -f \"$S\"/.s*" &&
	pid=$(deis_mount_pid "$M") &&
	echo "scratch_files = lots" >>"$CONF" &&
	hup &&
	test_wait_for 10 mlog_since "reload refused, the configuration in force is kept: .*t0100.conf:[0-9]+: scratch_files: .lots. is not an integer" &&
	! mlog_since "configuration reloaded" &&
	proc_alive "$pid" &&
	mount_responsive "$M" &&
	scratch 3 &&
	scratch_refused .s4
'

test_expect_success 'SIGHUP with the file gone: refused too, not a return to the defaults' '
	test_when_finished "rm -f \"$S\"/.s*" &&
	mv "$CONF" "$CONF.away" &&
	test_when_finished "mv \"$CONF.away\" \"$CONF\"" &&
	hup &&
	test_wait_for 10 mlog_since "reload refused.*t0100.conf: No such file" &&
	scratch 3 &&
	scratch_refused .s4
'

# SIGHUP to a daemon of the platform, with its file unchanged: it reads it
# again and goes on.
reloaded_since_mark() {	# NAME
	local off
	read -r off <"mark.$1"
	tail -c +"$((off + 1))" "$DEIS_LOGDIR/$1.log" | grep -q "configuration reloaded"
}
hup_daemon() {	# NAME PID
	stat -c %s "$DEIS_LOGDIR/$1.log" >"mark.$1" &&
	kill -HUP "$2" &&
	test_wait_for 10 reloaded_since_mark "$1" &&
	proc_alive "$2"
}

test_expect_success 'deis-proxy, deis-builder, deis-scheduler and deis-logd of the platform reload on SIGHUP and go on' '
	hup_daemon deis-proxy "$(cat "$DEIS_RUNDIR/deis-proxy.pid")" &&
	hup_daemon deis-builder "$(cat "$DEIS_RUNDIR/deis-builder.pid")" &&
	hup_daemon deis-scheduler "$(cat "$DEIS_RUNDIR/deis-scheduler.pid")" &&
	pid=$(logd_pids | head -n 1) &&
	test -n "$pid" &&
	hup_daemon deis-logd "$pid" &&
	test "$(logd_pids | head -n 1)" = "$pid"
'

# A configuration whose database nobody listens on.
nodb_conf() {	# FILE
	local port
	port=$(free_port) &&
	{ cat "$DEIS_CONF" &&
	  echo "database = \"host=127.0.0.1 port=$port dbname=deis user=deis connect_timeout=2\""; } >"$1"
}
# deisfs with it.
nodb_start() {
	nodb_conf nodb.conf &&
	mkdir -p nodb &&
	{ setsid "$DEISFS" --config="$PWD/nodb.conf" -f "$PWD/nodb" </dev/null >nodb.log 2>&1 &
	  echo $! >nodb.pid; }
}

test_expect_success 'a daemon waits for a database that is down, saying why at each try, and stops on SIGTERM' '
	nodb_start &&
	pid=$(cat nodb.pid) &&
	test_when_finished "kill -KILL $pid 2>/dev/null; true" &&
	test_wait_for 10 grep -q "database: cannot connect to PostgreSQL: .* (try 3 failed; the next in 1.00 s)" nodb.log &&
	grep "(try 1 failed; the next in 0.25 s)" nodb.log &&
	grep "(try 2 failed; the next in 0.50 s)" nodb.log &&
	proc_alive $pid &&
	! is_mounted nodb &&
	kill -TERM $pid &&
	wait_pid_gone $pid 5
'

# deis-scheduler with it: it waits for the database before it touches the
# node's network or any container, and meanwhile answers signals.
test_expect_success 'deis-scheduler: waits for the database, reloads on SIGHUP (keeping the configuration in force when the new one is bad), stops on SIGTERM' '
	nodb_conf sched.conf &&
	{ setsid "$DEIS_SCHEDULER" --config="$PWD/sched.conf" --home="$PWD/sched-home" \
		--scheduler_resync=7 </dev/null >sched.log 2>&1 &
	  echo $! >sched.pid; } &&
	pid=$(cat sched.pid) &&
	test_when_finished "kill -KILL $pid 2>/dev/null; true" &&
	test_wait_for 10 grep -q "database: cannot connect to PostgreSQL: .* (try 2 failed; the next in 0.50 s)" sched.log &&
	grep "warning: --scheduler_resync=7: scheduler_resync is deprecated: use resync_interval" sched.log &&
	echo "scheduler_grace = 5" >>sched.conf &&
	kill -HUP $pid &&
	test_wait_for 10 grep -q "configuration reloaded" sched.log &&
	grep "notice: scheduler_grace: 30 -> 5" sched.log &&
	echo "scheduler_grace = -1" >>sched.conf &&
	kill -HUP $pid &&
	test_wait_for 10 grep -q "reload refused, the configuration in force is kept: scheduler_grace: seconds or a count, at least 0" sched.log &&
	test $(grep -c "configuration reloaded" sched.log) = 1 &&
	proc_alive $pid &&
	kill -TERM $pid &&
	wait_pid_gone $pid 5
'

test_expect_success 'deis-logd: an old option name still works, with a deprecation warning' '
	mkdir -p logd-home &&
	"$DEIS_LOGD" --config="$DEIS_CONF" --home="$PWD/logd-home" --drain_refresh=7 \
		</dev/null >out 2>log &&
	grep -x OK out &&
	grep "warning: --drain_refresh=7: drain_refresh is deprecated: use resync_interval" log &&
	grep "exiting (end of input)" log
'

test_expect_success 'cleanup' '
	rmdir "$S" &&
	deis_unmount "$M"
'

test_done
