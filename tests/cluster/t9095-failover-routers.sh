#!/bin/bash
test_description='a node lost under load (lab kill 2): its web instances run again on node1, placed by the swarm scheduler, and node1 router follows; the time and the failed requests reported'
# After t9090 (node3 is lost already): the platform's own failover, through
# deis-scheduler and node 1's router, where t9090 drove the backend alone.
# The last script of the shared lab: node2 stays lost after it.
. "$(dirname "$0")/platform-lib.sh"

APP=fo-hello
USER_=deis-foalice
test_expect_success 'setup: the hello app, web=4 with some on node2' '
	test "$(cat "$DEIS_MOUNT/platform/nodes/node2/state")" = ready &&
	push_hello $USER_ $APP src &&
	echo web=4 >"$A/$APP/formation" &&
	test_wait_for 120 eval "web_up_off $APP 4 0 && test \$(web_up_on $APP 4 2) -ge 1"
'

test_expect_success 'lab kill 2 under ab through node1: every instance up on node1 again; failed requests counted' '
	domain=$(cat "$DEIS_MOUNT/platform/domain") &&
	ab_start "$APP.$domain" 3000 &&
	sleep 1 &&
	t0=${EPOCHREALTIME/./} &&
	lab kill 2 &&
	test_wait_for 60 eval "test \"\$(cat $DEIS_MOUNT/platform/nodes/node2/state)\" = down" &&
	t1=${EPOCHREALTIME/./} &&
	test_wait_for 120 web_up_off $APP 4 2 &&
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
