#!/bin/bash
test_description='drain a node under load: echo drain > platform/nodes/node2/availability moves its containers elsewhere, new first, with no failed request; active takes it back'
# Runs on the lab's nodes (tests/cluster/lab up 3, the platform started on
# them by tests/cluster/platform.sh, the swarm scheduler on node 1).  The
# test's view is node 1's platform (its tree, its builder, its router);
# node 2 is drained.  ab sends 4000 requests, 4 at a time, through node 1's
# router all along; the time from the write to node 2's `containers`
# reaching 0 is reported.
. "$(dirname "$0")/platform-lib.sh"

APP=dr-hello
USER_=deis-dralice
N2=$DEIS_MOUNT/platform/nodes/node2

# How many of the app's containers up on node I, from the tree.
up_on() {	# I
	local n c=0
	for n in $(ls "$A/$APP/containers"); do
		[ "$(ct $APP "$n" node 2>/dev/null)" = "node$1" ] &&
			[ "$(ct $APP "$n" state 2>/dev/null)" = up ] && c=$((c + 1))
	done
	echo $c
}

# The swarm's word on node I's availability.
swarm_availability() {	# I
	lab_api 1 GET /nodes | jq -r --arg h "node$1" \
		'.[] | select(.Description.Hostname == $h) | .Spec.Availability'
}

test_expect_success 'setup: a user, the hello app pushed through node 1, web=6 over the nodes' '
	push_hello $USER_ $APP src &&
	echo web=6 >"$A/$APP/formation" &&
	test_wait_for 120 eval "test \$(up_on 1) -ge 1 && test \$(up_on 2) -ge 1 && web_up_off $APP 6 0" &&
	test "$(head -1 "$N2/availability")" = active &&
	test "$(cat "$N2/state")" = ready &&
	test "$(cat "$N2/role")" = worker
'

test_expect_success 'drain node2 under ab through node 1: 0 failed, its containers reach 0, the swarm says drain' '
	domain=$(cat "$DEIS_MOUNT/platform/domain") &&
	ab_start "$APP.$domain" 4000 &&
	t0=${EPOCHREALTIME/./} &&
	echo drain >"$N2/availability" &&
	test_wait_for 10 eval "test \"\$(swarm_availability 2)\" = pause" &&
	test_wait_for 120 eval "test \"\$(cat $N2/containers)\" = 0" &&
	t1=${EPOCHREALTIME/./} &&
	lab_measured "node2 drained (containers 0) after" "$(( (t1 - t0) / 1000 )) ms" &&
	test_wait_for 30 eval "test \"\$(swarm_availability 2)\" = drain" &&
	test "$(head -1 "$N2/availability")" = drain &&
	web_up_off $APP 6 2 &&
	test "$(up_on 2)" = 0 &&
	read -r pid <ab.pid && wait "$pid" &&
	cat ab.out &&
	grep -E "^Complete requests: +4000$" ab.out &&
	grep -E "^Failed requests: +0$" ab.out &&
	! grep -E "^Non-2xx responses" ab.out
'

test_expect_success 'active takes node2 back: the swarm places there again' '
	echo active >"$N2/availability" &&
	test_wait_for 10 eval "test \"\$(swarm_availability 2)\" = active" &&
	test "$(head -1 "$N2/availability")" = active &&
	echo web=9 >"$A/$APP/formation" &&
	test_wait_for 120 eval "test \$(up_on 2) -ge 1 && web_up_off $APP 9 0"
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
