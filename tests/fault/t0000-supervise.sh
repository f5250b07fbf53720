#!/bin/bash
test_description='supervision: kill -9 of each process of the platform; its supervisor brings it back within 5 s; nothing committed is lost; a change made meanwhile is applied; platform/status says what happened'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
APP=sup-hello		# a running app: the router and the scheduler
DATA=sup-data		# an app without containers: config writes
USER_=deis-supu

# The HTTP status of a request to the app through the router.
routed() {
	curl -s -o routed.body -w "%{http_code}" --max-time 5 -H "Host: $APP.localhost" \
		"http://127.0.0.1:$DEIS_HTTP_PORT/"
}
routed_ok() { test "$(routed)" = 200; }

# Succeeds when web.1 of the app runs the latest release and answers
# with it through the router.
live() {
	local v
	v=$(readlink "$A/$APP/releases/latest") &&
	test "$(deis_ct $APP web.1 release)" = "$v" &&
	test "$(deis_ct $APP web.1 state)" = up &&
	routed_ok && grep -q "hello from web.1 $v" routed.body
}

# SIGKILL to PID (WHAT), then waits up to 5 s for CHECK...; appends
# "WHAT MS" (how long it took) to back.txt.
kill_back() {	# WHAT PID CHECK...
	local what=$1 pid=$2 t0
	shift 2
	t0=${EPOCHREALTIME/./}
	kill -9 "$pid" &&
	test_wait_for 5 "$@" &&
	echo "$what $(( (${EPOCHREALTIME/./} - t0) / 1000 ))" | tee -a back.txt
}

# A config write to the data app before a kill: it must outlive it.
write_before() {	# WHAT
	echo -n "before $1" >"$A/$DATA/config/K_${1//-/_}"
}

test_expect_success 'setup: an app running web.1 behind the router; an app to write to' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	deis_git_push $USER_ $APP src &&
	test_wait_for 30 live &&
	mkdir "$A/$DATA" &&
	: >"$TRASH_DIRECTORY/back.txt"
'

for svc in postgres redis rsyslog registry deis-builder deis-proxy; do
	test_expect_success "kill -9 of $svc: back within 5 s" '
		write_before '$svc' &&
		pid=$(deis_service_pid '$svc') &&
		kill_back '$svc' "$pid" deis_service_back '$svc' "$pid"
	'
done

test_expect_success 'after PostgreSQL was killed, changes commit again' '
	test_wait_for 15 eval "echo -n after >\"$A/$DATA/config/AFTER\" 2>/dev/null" &&
	test "$(cat "$A/$DATA/config/AFTER")" = after
'

# rsyslog runs deis-logd (omprog) and starts it again for the next line.
logd_back() {	# OLD MARK
	local pid
	pid=$(logd_pids | head -n 1) && test -n "$pid" && test "$pid" != "$1" &&
	deis_log_stream_has "$2" $DATA
}

test_expect_success 'kill -9 of deis-logd: rsyslog starts it again at the next line, which is stored' '
	pid=$(logd_pids | head -n 1) &&
	test -n "$pid" &&
	t0=${EPOCHREALTIME/./} &&
	kill -9 "$pid" &&
	wait_pid_gone "$pid" 5 &&
	deis_log_send $DATA web.1 "after the kill $pid" &&
	test_wait_for 5 logd_back "$pid" "after the kill $pid" &&
	echo "deis-logd $(( (${EPOCHREALTIME/./} - t0) / 1000 ))" | tee -a back.txt
'

nginx_back() {	# OLD
	nginx_running && test "$(cat "$DEIS_NGINX_PID")" != "$1" && routed_ok
}

test_expect_success 'kill -9 of the nginx master: deis-proxy starts another within 5 s; the app answers' '
	read -r pid <"$DEIS_NGINX_PID" &&
	kill_back nginx "$pid" nginx_back "$pid" &&
	live
'

test_expect_success 'kill -9 of deis-scheduler: back within 5 s; a config change made while it was down goes live' '
	write_before deis-scheduler &&
	pid=$(deis_service_pid deis-scheduler) &&
	kill -9 "$pid" &&
	echo -n during >"$A/$APP/config/DURING" &&
	t0=${EPOCHREALTIME/./} &&
	test_wait_for 5 deis_service_back deis-scheduler "$pid" &&
	echo "deis-scheduler $(( (${EPOCHREALTIME/./} - t0) / 1000 ))" | tee -a back.txt &&
	test_wait_for 60 live
'

test_expect_success 'deis-scheduler stopped on purpose stays down; a change made meanwhile goes live once it is started' '
	test_when_finished "deis_service_start deis-scheduler" &&
	deis_service_stop deis-scheduler &&
	before=$(readlink "$A/$APP/releases/current") &&
	echo -n stopped >"$A/$APP/config/STOPPED" &&
	sleep 2 &&
	! deis_service_pid deis-scheduler &&
	test "$(deis_ct $APP web.1 release)" = "$before" &&
	deis_service_start deis-scheduler &&
	test_wait_for 60 live
'

test_expect_success 'kill -9 of deisfs: back within 5 s, the mount answers again, every write committed before a kill is there' '
	write_before deisfs &&
	pid=$(deis_service_pid deisfs) &&
	kill_back deisfs "$pid" eval "deis_service_back deisfs $pid && mount_responsive \"$DEIS_MOUNT\" 1" &&
	for svc in postgres redis rsyslog registry deis-builder deis-proxy deis-scheduler deisfs; do
		echo "before $svc" >expect &&
		cat "$A/$DATA/config/K_${svc//-/_}" >actual &&
		echo >>actual &&
		test_cmp expect actual || return 1
	done &&
	grep -q "removed the dead mount on $DEIS_MOUNT" "$DEIS_LOGDIR/deisfs.log"
'

test_expect_success 'platform/status: each service up under runit, with its restart and its last error' '
	cat "$DEIS_MOUNT/platform/status" >status &&
	cat status &&
	grep -E "^services +runit \($DEIS_SV\)$" status &&
	for svc in postgres redis rsyslog registry deisfs deis-builder deis-proxy deis-scheduler; do
		grep -E "^  $svc +up \(pid $(deis_service_pid $svc), since [0-9T:-]+Z\); [1-9][0-9]* restarts? in the last hour, the last at [0-9T:-]+Z \(killed by signal 9\)$" status ||
		return 1
	done &&
	grep -E "^ +last error: .*runit: error: deis-builder ended \(killed by signal 9\); restarting it$" status &&
	grep -E "^  nginx +up \(pid $(cat "$DEIS_NGINX_PID")\), run by deis-proxy" status &&
	grep -E "^  deis-logd +(up \(pid [0-9]+\), run by rsyslog|idle)" status
'

test_expect_success 'platform/status: a service stopped on purpose is down, with the command that starts it' '
	test_when_finished "deis_service_start deis-builder" &&
	deis_service_stop deis-builder &&
	grep -E "^  deis-builder +down since [0-9T:-]+Z \(sv down\): start it with .sv up $DEIS_SV/deis-builder." \
		"$DEIS_MOUNT/platform/status" &&
	deis_service_start deis-builder &&
	grep -E "^  deis-builder +up \(pid $(deis_service_pid deis-builder)," "$DEIS_MOUNT/platform/status"
'

# The history's start times after the mark, one per line.
starts_after() {	# SERVICE EPOCH
	awk -v t="$2" '$2 == "start" && $1 >= t { print $1 }' "$DEIS_SV/$1/history"
}

test_expect_success 'a service that exits at once is started again with a growing delay, capped; it is back within 5 s of being fixed' '
	test_when_finished ": >\"$DEIS_SV/deis-builder/args\"; deis_service_start deis-builder" &&
	echo "--no_such_option=1" >"$DEIS_SV/deis-builder/args" &&
	t=$(date +%s) &&
	pid=$(deis_service_pid deis-builder) &&
	kill -9 "$pid" &&
	test_wait_for 30 eval "test \$(starts_after deis-builder $t | wc -l) -ge 6" &&
	starts_after deis-builder $t >starts &&
	awk "NR > 1 { print \$1 - p } { p = \$1 }" starts >gaps &&
	cat gaps &&
	# 1 s (runsv), then 2, 3, 4 s, and 4 s from then on.
	awk "NR >= 2 && \$1 < 2 { exit 1 } \$1 > 5 { exit 1 }" gaps &&
	test "$(tail -n 1 gaps)" -ge 3 &&
	grep -E "^  deis-builder +(restarting|up).* [5-9] restarts in the last hour|^  deis-builder +(restarting|up).* [1-9][0-9]+ restarts in the last hour" \
		"$DEIS_MOUNT/platform/status" &&
	: >"$DEIS_SV/deis-builder/args" &&
	test_wait_for 5 eval "deis_service_pid deis-builder >/dev/null && service_ready deis-builder \$(deis_service_pid deis-builder)"
'

test_expect_success 'the times back after each kill (ms)' '
	cat back.txt &&
	test $(wc -l <back.txt) = 10
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP $DATA &&
	deis_keys_remove $USER_
'

test_done
