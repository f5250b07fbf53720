#!/bin/bash
test_description='deis-scheduler: the formation runs as runc containers; scale, rolling config changes, restart, crash backoff, run, release phase, limits, health checks, adoption after a restart, app removal'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
APP=sch-hello
LAB=sch-lab
USER_=deis-sdave
SLOG=$DEIS_LOGDIR/deis-scheduler.log

ct() {	# NAME FILE [APP]
	cat "$A/${3:-$APP}/containers/$1/$2"
}

# Exactly the containers NAMES..., every one up on VERSION.
all_up_on() {	# VERSION NAMES...
	local v=$1 n
	shift
	[ "$(ls "$A/$APP/containers" | tr '\n' ' ')" = "$* " ] || return 1
	for n; do
		[ "$(ct "$n" state)" = up ] && [ "$(ct "$n" release)" = "$v" ] || return 1
	done
}

# The container NAME answers at its address with a body matching PATTERN.
# Each file of a container is read on its own, so right after a change
# the address may be a new instance's that the state read just before did
# not show yet: give it a few seconds.
answers() {	# NAME PATTERN [APP]
	test_wait_for 5 _answers "$@"
}
_answers() {
	curl -fsS --max-time 5 "http://$(ct "$1" address "${3:-}")/" >answer 2>/dev/null &&
	grep -q -- "$2" answer
}

# runc ids of APP's containers on this node.
runc_ids() {	# [APP]
	deis_containers "${1:-$APP}"
}

# The number of bash prompts a terminal's output FILE shows.
prompts() {	# FILE
	tr -d "\r" <"$1" | grep -o "bash-[0-9.]*\\$ " | wc -l
}

app_log_has() {	# PATTERN [APP]
	grep -Eq -- "$1" "$A/${2:-$APP}/logs"
}

# Stops the platform's deis-scheduler and starts it again, with extra
# options if given; its containers keep running and are adopted.
sched_restart() {	# [--OPTION=VALUE...]
	scheduler_stop && scheduler_start "$@"
}

# The number of lines of deis-scheduler's log matching PATTERN since the
# mark (slog.mark): its own record of what it did for the app.
slog_count_since_mark() {	# PATTERN
	tail -c +"$(($(cat slog.mark) + 1))" "$SLOG" | grep -c -- "$1"
}

test_expect_success 'setup: a user, an app, the hello app in git' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first
'

test_expect_success 'a push runs web.1 on v2: state, release, node, address, port, started, restarts, log' '
	deis_git_push $USER_ $APP src &&
	test_wait_for 60 all_up_on v2 web.1 &&
	test "$(ct web.1 node)" = "$(hostname)" &&
	ct web.1 port | grep -Ex "[0-9]+" &&
	ct web.1 address | grep -Ex "([0-9]+\.){3}[0-9]+:$(ct web.1 port)" &&
	ct web.1 started | grep -E "^20[0-9]{2}-" &&
	test "$(ct web.1 restarts)" = 0 &&
	answers web.1 "hello from web.1 v2" &&
	test_wait_for 10 grep -q "listening on $(ct web.1 port)" "$A/$APP/containers/web.1/log" &&
	app_log_has "$APP\[deis\]: web.1: up on v2"
'

test_expect_success 'each container runs as the unprivileged app user with its own pid namespace' '
	id=$(runc_ids | head -1) &&
	pid=$(runc --root "$DEIS_RUNC_ROOT" state "$id" | sed -n "s/.*\"pid\": *\([0-9]*\).*/\1/p") &&
	test -n "$pid" &&
	child=$(pgrep -P "$pid" | head -1) &&
	test "$(stat -c %u /proc/$child)" = 10000 &&
	test "$(readlink /proc/$child/ns/pid)" != "$(readlink /proc/self/ns/pid)" &&
	grep -q "NoNewPrivs:[[:space:]]*1" /proc/$child/status &&
	grep -q "CapEff:[[:space:]]*0000000000000000" /proc/$child/status
'

test_expect_success 'web=3 worker=1 converges to exactly that' '
	echo "web=3 worker=1" >"$A/$APP/formation" &&
	test_wait_for 60 all_up_on v2 web.1 web.2 web.3 worker.1 &&
	for n in web.1 web.2 web.3; do answers $n "hello from $n v2" || return 1; done &&
	test "$(runc_ids | wc -l)" = 4 &&
	test_wait_for 10 grep -q tick "$A/$APP/containers/worker.1/log"
'

test_expect_success 'one type per line scales down: worker=0 stops it' '
	printf "web=2\nworker=0\n" >"$A/$APP/formation" &&
	test_wait_for 60 all_up_on v2 web.1 web.2 &&
	test_wait_for 10 eval "test \"\$(runc_ids | wc -l)\" = 2" &&
	app_log_has "worker.1: stopped \(v2"
'

test_expect_success 'a config change replaces every container, new ones up before old ones stop' '
	echo 1 >"$A/$APP/config/DEBUG" &&
	test_wait_for 60 all_up_on v3 web.1 web.2 &&
	answers web.1 "hello from web.1 v3 DEBUG=1" &&
	answers web.2 "hello from web.2 v3 DEBUG=1" &&
	test_wait_for 10 eval "test \"\$(runc_ids | wc -l)\" = 2" &&
	grep -n "web.1: up on v3\|web.1: stopping v2" "$A/$APP/logs" >order &&
	cat order &&
	head -1 order | grep -q "up on v3" &&
	sed -n 2p order | grep -q "stopping v2"
'

test_expect_success 'rmdir containers/web.2 replaces it; a missing one is ENOENT' '
	old=$(ct web.2 address) &&
	rmdir "$A/$APP/containers/web.2" &&
	test_wait_for 60 eval "all_up_on v3 web.1 web.2 && test \"\$(ct web.2 address)\" != $old" &&
	answers web.2 "hello from web.2 v3" &&
	app_log_has "restarted web.2" &&
	test_must_fail rmdir "$A/$APP/containers/web.9" 2>err &&
	grep -q "No such file" err
'

test_expect_success 'rm -r of a container directory restarts it too' '
	old=$(ct web.1 address) &&
	rm -r "$A/$APP/containers/web.1" &&
	test_wait_for 60 eval "all_up_on v3 web.1 web.2 && test \"\$(ct web.1 address)\" != $old" &&
	test_wait_for 10 eval "test \"\$(runc_ids | wc -l)\" = 2"
'

test_expect_success 'a killed process is restarted (restarts counts it)' '
	# The instance a restart just replaced may still be stopping: kill
	# the one that serves, once it is the only one.
	test_wait_for 40 eval "test \$(runc_ids | grep -c \"\\.web\\.1\\.\") = 1" &&
	id=$(runc_ids | grep "\.web\.1\.") &&
	runc --root "$DEIS_RUNC_ROOT" kill --all "$id" KILL &&
	test_wait_for 60 eval "test \"\$(ct web.1 restarts)\" = 1 && test \"\$(ct web.1 state)\" = up" &&
	answers web.1 "hello from web.1" &&
	app_log_has "web.1: crashed: exited on signal 9"
'

test_expect_success 'run: a one-off container runs the command; its output and status in logs' '
	stat -c %s "$SLOG" >slog.mark &&
	echo "echo one-off says \$DYNO \$DEBUG; exit 3" >"$A/$APP/run" &&
	test_wait_for 60 app_log_has "$APP\[run\.1\]: one-off says run.1 1" &&
	test_wait_for 60 app_log_has "$APP\[deis\]: run.1: exited with status 3" &&
	test_wait_for 10 eval "! test -e \"$A/$APP/containers/run.1\""
'

# At every resync the scheduler reloads what changed behind its back and
# looks at every app again: the finished one-off must not start again.
# Two resyncs from now, the one after the first has had its pass.
test_expect_success 'run: a one-off runs once (not again at the next resync)' '
	deis_scheduler_resyncs 2 &&
	test "$(slog_count_since_mark "$APP: run\.1: starting")" = 1 &&
	test "$(grep -c "\[run\.[0-9]*\]: one-off says" "$A/$APP/logs")" = 1 &&
	test "$(grep -c "run\.1: starting" "$A/$APP/logs")" = 1
'

test_expect_success 'run: an empty command is EINVAL and runs nothing' '
	test_must_fail bash -c "echo \"   \" >\"$A/$APP/run\"" 2>err &&
	grep -q "Invalid argument" err &&
	! test -e "$A/$APP/containers/run.2"
'

test_expect_success 'run: a long one-off shows as containers/run.N while it runs' '
	echo "echo started; sleep 30" >"$A/$APP/run" &&
	test_wait_for 60 eval "test \"\$(ct run.2 state)\" = up" &&
	test_wait_for 10 grep -q started "$A/$APP/containers/run.2/log"
'

test_expect_success 'ssh run: a one-off on the channel, its output and exit status' '
	test_expect_code 5 deis_ssh $USER_ git@127.0.0.1 run $APP "echo via ssh \$DYNO \$DEBUG; id -u; exit 5" </dev/null >out 2>err &&
	cat out err &&
	grep -E "^via ssh run\.[0-9]+ 1$" out &&
	grep -x 10000 out &&
	echo "some input" | deis_ssh $USER_ git@127.0.0.1 run $APP "tr a-z A-Z" >out &&
	grep -x "SOME INPUT" out &&
	app_log_has "run\.[0-9]+: $USER_ ran .echo via ssh" &&
	app_log_has "run\.[0-9]+: exited with status 5"
'

test_expect_success 'ssh -t run: the command gets a terminal (bash with job control, ^C interrupts)' '
	test_expect_code 3 deis_ssh $USER_ -tt git@127.0.0.1 run $APP "test -t 0 && test -t 1 && echo on a terminal TERM=\$TERM \$(tty); exit 3" </dev/null >out 2>&1 &&
	tr -d "\r" <out >out2 &&
	grep -E "^on a terminal TERM=.+ /dev/pts/[0-9]+$" out2 &&
	rm -f tty.in && mkfifo tty.in &&
	{ { deis_ssh $USER_ -tt git@127.0.0.1 run $APP bash <tty.in >tty.out 2>&1; echo $? >tty.st; } & } &&
	exec 8>tty.in &&
	test_wait_for 60 eval "test \$(prompts tty.out) -ge 1" &&
	echo "sleep 30; echo not-interrupted" >&8 &&
	test_wait_for 60 grep -q "sleep 30; echo not-interrupted" tty.out &&
	printf "\003" >&8 &&
	test_wait_for 60 eval "test \$(prompts tty.out) -ge 2" &&
	echo "echo still-here; exit 6" >&8 &&
	exec 8>&- &&
	test_wait_for 60 test -s tty.st &&
	test "$(cat tty.st)" = 6 &&
	tr -d "\r" <tty.out >out2 &&
	cat out2 &&
	test "$(grep -c still-here out2)" = 2 &&
	test "$(grep -c not-interrupted out2)" = 1 &&
	! grep -q "no job control" out2
'

test_expect_success 'ssh run: refused for another user, without a command, for a missing app' '
	deis_git_user deis-seve &&
	test_expect_code 1 deis_ssh deis-seve git@127.0.0.1 run $APP id </dev/null >out 2>err &&
	grep "does not exist, or deis-seve may not use it" err &&
	! grep -q . out &&
	test_expect_code 1 deis_ssh $USER_ git@127.0.0.1 run $APP </dev/null 2>err &&
	grep "usage: run <app> <command>" err &&
	test_expect_code 1 deis_ssh $USER_ git@127.0.0.1 run no-such-app id </dev/null 2>err &&
	grep "does not exist" err
'

test_expect_success 'setup: the lab app (release phase, crash, memory hog, fork bomb)' '
	deis_as $USER_ mkdir "$A/$LAB" &&
	git init -q -b main lab &&
	cp "$DEIS_SRC/tests/apps/hello/app.py" lab/ &&
	cat >lab/Procfile <<-\EOF &&
	web: python3 app.py
	crash: echo boom; exit 1
	hog: python3 -c "a = [bytearray(10**6) for _ in range(10**4)]"
	bomb: i=0; while true; do sleep 1000 & i=$((i+1)); [ $((i % 20)) = 0 ] && echo forked $i; done
	release: echo migrating; test -z "$FAIL_RELEASE"
	EOF
	deis_git_commit lab first &&
	deis_git_push $USER_ $LAB lab &&
	test_wait_for 60 eval "test \"\$(ct web.1 state $LAB)\" = up" &&
	app_log_has "$LAB\[release\.2\]: migrating" $LAB &&
	app_log_has "release phase of v2 succeeded" $LAB
'

test_expect_success 'a failing release phase: the release does not go live, the old one serves' '
	echo 1 >"$A/$LAB/config/FAIL_RELEASE" &&
	test_wait_for 60 app_log_has "v3 not deployed: its release command exited with status 1" $LAB &&
	sleep 1 &&
	test "$(ct web.1 release $LAB)" = v2 &&
	answers web.1 "hello from web.1 v2" $LAB &&
	test "$(readlink "$A/$LAB/releases/current")" = v2 &&
	test "$(readlink "$A/$LAB/releases/latest")" = v3 &&
	grep -x "status: failed: its release command exited with status 1" "$A/$LAB/releases/v3/info" &&
	grep -x "status: deployed" "$A/$LAB/releases/v2/info"
'

test_expect_success 'fixing the config runs the release phase again and deploys' '
	rm "$A/$LAB/config/FAIL_RELEASE" &&
	test_wait_for 60 eval "test \"\$(ct web.1 release $LAB)\" = v4 && test \"\$(ct web.1 state $LAB)\" = up" &&
	answers web.1 "hello from web.1 v4" $LAB
'

test_expect_success 'a crash loop backs off: few restarts, growing delays' '
	echo "web=1 crash=1" >"$A/$LAB/formation" &&
	test_wait_for 60 app_log_has "crash.1: crashed: exited with status 1; restarting in 2 s" $LAB &&
	test_wait_for 60 app_log_has "crash.1: crashed: exited with status 1; restarting in 4 s" $LAB &&
	r=$(ct crash.1 restarts $LAB) &&
	echo "restarts when the delay reached 4 s: $r" &&
	test "$r" -ge 1 &&
	test "$r" -le 5 &&
	grep -n "crash.1: crashed: .*restarting in [24] s" "$A/$LAB/logs" | head -2 >delays &&
	grep -q "restarting in 2 s" <(head -1 delays) &&
	grep -q "restarting in 4 s" <(tail -1 delays)
'

test_expect_success 'memory limit: the hog is killed (R14) and restarted; its neighbour is untouched' '
	web_restarts=$(ct web.1 restarts $LAB) &&
	echo "hog.memory=64M" >"$A/$LAB/limits" &&
	echo "web=1 hog=1" >"$A/$LAB/formation" &&
	test_wait_for 60 app_log_has "hog.1: crashed: Error R14 \(Memory quota exceeded\)" $LAB &&
	test_wait_for 60 eval "test \"\$(ct web.1 state $LAB)\" = up" &&
	test_wait_for 60 eval "test \"\$(ct hog.1 restarts $LAB)\" -ge 1" &&
	answers web.1 "hello from web.1" $LAB &&
	test "$(ct web.1 restarts $LAB)" = "$web_restarts"
'

test_expect_success 'pids limit: a fork bomb stays inside its container' '
	before=$(ps -e --no-headers | wc -l) &&
	printf "bomb.pids=32\n" >"$A/$LAB/limits" &&
	echo "web=1 bomb=1" >"$A/$LAB/formation" &&
	test_wait_for 60 grep -q "Cannot fork\|fork: Resource temporarily unavailable\|can.t fork" "$A/$LAB/logs" &&
	test_wait_for 60 eval "test \"\$(ct web.1 state $LAB)\" = up" &&
	after=$(ps -e --no-headers | wc -l) &&
	echo "processes: $before before, $after during" &&
	test "$after" -lt $((before + 40)) &&
	answers web.1 "hello from web.1" $LAB &&
	echo "web=1" >"$A/$LAB/formation"
'

# The health check tests run deis-scheduler with a short boot window (an
# option its supervisor keeps for the restarts after a crash); the kill -9
# test below starts it again as the platform runs it.
test_expect_success 'health check: a release whose web never answers is not rolled out' '
	sched_restart --scheduler_boot_timeout=3 &&
	echo "web=1" >"$A/$LAB/formation" &&
	test_wait_for 60 eval "test \"\$(ct web.1 state $LAB)\" = up" &&
	good=$(ct web.1 release $LAB) &&
	echo 1 >"$A/$LAB/config/BROKEN" &&
	bad=$(readlink "$A/$LAB/releases/latest") &&
	test_wait_for 60 app_log_has "$bad not deployed: web.1 did not answer its health check within 3 s" $LAB &&
	test_wait_for 10 eval "test \"\$(ct web.1 release $LAB)\" = $good" &&
	answers web.1 "hello from web.1 $good" $LAB
'

test_expect_success 'a release whose web crashes at boot is not rolled out either' '
	good=$(ct web.1 release $LAB) &&
	echo 1 >"$A/$LAB/config/CRASH" &&
	bad=$(readlink "$A/$LAB/releases/latest") &&
	test_wait_for 60 app_log_has "$bad not deployed: web.1 did not answer" $LAB &&
	test_wait_for 10 eval "test \"\$(ct web.1 release $LAB)\" = $good" &&
	answers web.1 "hello from web.1 $good" $LAB &&
	rm "$A/$LAB/config/CRASH"
'

test_expect_success 'health check path: a 503 on the healthcheck path blocks the rollout' '
	rm "$A/$LAB/config/BROKEN" &&
	test_wait_for 60 eval "test \"\$(ct web.1 release $LAB)\" = \"\$(readlink $A/$LAB/releases/latest)\" && test \"\$(readlink $A/$LAB/releases/current)\" = \"\$(readlink $A/$LAB/releases/latest)\" && test \"\$(ct web.1 state $LAB)\" = up" &&
	echo "path=/healthz" >"$A/$LAB/healthcheck" &&
	good=$(ct web.1 release $LAB) &&
	echo 1 >"$A/$LAB/config/UNHEALTHY" &&
	bad=$(readlink "$A/$LAB/releases/latest") &&
	test_wait_for 60 app_log_has "$bad not deployed" $LAB &&
	test_wait_for 10 eval "test \"\$(ct web.1 release $LAB)\" = $good" &&
	rm "$A/$LAB/config/UNHEALTHY" &&
	test_wait_for 60 eval "test \"\$(ct web.1 release $LAB)\" = \"\$(readlink $A/$LAB/releases/latest)\" && test \"\$(readlink $A/$LAB/releases/current)\" = \"\$(readlink $A/$LAB/releases/latest)\" && test \"\$(ct web.1 state $LAB)\" = up"
'

test_expect_success 'kill -9 of the scheduler: containers keep serving; the one its supervisor starts adopts them, starts nothing twice' '
	ids=$(runc_ids) &&
	addrs="$(ct web.1 address) $(ct web.2 address)" &&
	pid=$(deis_service_pid deis-scheduler) &&
	test_when_finished "scheduler_running || scheduler_start" &&
	stat -c %s "$SLOG" >slog.mark &&
	kill -9 "$pid" &&
	answers web.1 "hello from web.1 v3" &&
	test_wait_for 5 deis_service_back deis-scheduler "$pid" &&
	test_wait_for 10 eval "test \$(slog_count_since_mark \"adopted [1-9][0-9]* running container\") -ge 1" &&
	sched_restart &&
	deis_scheduler_resyncs 2 &&
	test "$(runc_ids)" = "$ids" &&
	test "$(ct web.1 address) $(ct web.2 address)" = "$addrs" &&
	answers web.2 "hello from web.2 v3" &&
	echo "echo after-adoption" >"$A/$APP/run" &&
	test_wait_for 60 app_log_has "$APP\[run\.[0-9]+\]: after-adoption"
'

test_expect_success 'container output survives a scheduler restart (the shim forwards it)' '
	echo "worker=1 web=2" >"$A/$APP/formation" &&
	test_wait_for 60 grep -q tick "$A/$APP/containers/worker.1/log" &&
	sched_restart &&
	n=$(grep -c tick "$A/$APP/containers/worker.1/log") &&
	test_wait_for 10 eval "test \$(grep -c tick \"$A/$APP/containers/worker.1/log\") -gt $n"
'

test_expect_success 'platform/nodes/<node> and platform/status show the scheduler' '
	deis_psql "SELECT name FROM nodes" >nodes &&
	grep -x "$(hostname)" nodes &&
	N="$DEIS_MOUNT/platform/nodes/$(hostname)" &&
	test_wait_for 10 test -d "$N" &&
	test "$(cat "$N/state")" = ready &&
	grep -Ex "[0-9]+" "$N/containers" &&
	grep -Ex "[0-9]+[KMGT]?" "$N/memory" &&
	grep -Ex "[0-9.:]+" "$N/address" &&
	grep -E "^scheduler +ok \(1 node, [0-9]+ containers?\)" "$DEIS_MOUNT/platform/status" &&
	test_must_fail cat "$DEIS_MOUNT/platform/nodes/no-such-node" 2>/dev/null
'

test_expect_success 'rmdir of an app stops every one of its containers' '
	test -n "$(runc_ids $LAB)" &&
	deis_app_destroy $LAB &&
	test_path_is_missing "$A/$LAB"
'

test_expect_success 'cleanup: destroy the app; nothing of it runs; the keys; the scheduler as the platform runs it' '
	deis_app_destroy $APP &&
	deis_keys_remove $USER_ deis-seve &&
	{ ! pid_alive "$DEIS_RUNDIR/deis-scheduler.pid" --scheduler_ || sched_restart; }
'

test_done
