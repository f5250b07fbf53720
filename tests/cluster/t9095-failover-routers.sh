#!/bin/bash
test_description='a node lost under load (lab kill 2): its web instances run again on node1, placed by the swarm scheduler, and node1 router follows; the time and the failed requests reported'
# After t9090 (node3 is lost already): the platform's own failover, through
# deis-scheduler and node 1's router, where t9090 drove the backend alone.
# The last script of the shared lab: node2 stays lost after it.
if [ -z "${B:-}" ] && [ -r "${DEIS_LAB_DIR:-}/lab.env" ]; then
	. "$DEIS_LAB_DIR/lab.env"
fi
: "${B:?the lab's B (tests/cluster/run exports DEIS_LAB_DIR)}" "${NET:?the lab's NET}"
export DEIS_HOME=$B/n1/deis DEIS_MOUNT=$B/n1/mnt DEIS_TEST_NO_MOUNT=0
. "$(dirname "$0")/lib.sh"

APP=fo-hello
USER_=deis-foalice
A=$DEIS_MOUNT/apps

ct() {	# NAME FILE
	cat "$A/$APP/containers/$1/$2"
}

# How many of web.1 .. web.N are up on node I.
up_on() {	# N I
	local k c=0
	for k in $(seq "$1"); do
		[ "$(ct web.$k node 2>/dev/null)" = "node$2" ] &&
			[ "$(ct web.$k state 2>/dev/null)" = up ] && c=$((c + 1))
	done
	echo $c
}

# Every one of web.1 .. web.N up, none on node I.
all_up_off() {	# N I
	local k
	for k in $(seq "$1"); do
		[ "$(ct web.$k state 2>/dev/null)" = up ] || return 1
		[ "$(ct web.$k node 2>/dev/null)" != "node$2" ] || return 1
	done
}

# ab through node 1's router, in the background (its pid in ab.pid).
ab_start() {	# HOST
	ab -q -n 3000 -c 4 -s 10 -H "Host: $1" "http://$NET.1:80/" >ab.out 2>&1 &
	echo $! >ab.pid
}

test_expect_success 'setup: the hello app, web=4 with some on node2' '
	test "$(cat "$DEIS_MOUNT/platform/nodes/node2/state")" = ready &&
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	GIT_SSH_COMMAND=$(_deis_ssh_command $USER_) \
		git -C src -c user.name=$USER_ -c user.email=$USER_@example.com \
		push "ssh://git@$NET.1:$DEIS_SSH_PORT/$APP.git" main >push.out 2>&1 &&
	echo web=4 >"$A/$APP/formation" &&
	test_wait_for 120 eval "all_up_off 4 0 && test \$(up_on 4 2) -ge 1"
'

test_expect_success 'lab kill 2 under ab through node1: every instance up on node1 again; failed requests counted' '
	domain=$(cat "$DEIS_MOUNT/platform/domain") &&
	ab_start "$APP.$domain" &&
	sleep 1 &&
	t0=${EPOCHREALTIME/./} &&
	lab kill 2 &&
	test_wait_for 60 eval "test \"\$(cat $DEIS_MOUNT/platform/nodes/node2/state)\" = down" &&
	t1=${EPOCHREALTIME/./} &&
	test_wait_for 120 all_up_off 4 2 &&
	t2=${EPOCHREALTIME/./} &&
	read -r pid <ab.pid && wait "$pid" &&
	cat ab.out &&
	lab_measured "node2 down in the tree after" "$(( (t1 - t0) / 1000 )) ms" &&
	lab_measured "every web instance up again on node1 after" "$(( (t2 - t0) / 1000 )) ms" &&
	failed=$(sed -n "s/^Failed requests: *//p" ab.out) &&
	non2xx=$(sed -n "s/^Non-2xx responses: *//p" ab.out) &&
	lab_measured "requests through node1 router during the loss:" "3000, failed ${failed:-?}, non-2xx ${non2xx:-0}" &&
	grep -E "^Complete requests: +3000$" ab.out
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
