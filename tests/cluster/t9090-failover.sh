#!/bin/bash
test_description='swarm backend: a worker lost (lab kill 3; this script changes the lab) - every instance that ran there runs again elsewhere; the time, and failed requests through the published ports'
. "$(dirname "$0")/lib.sh"
. "$DEIS_SRC/tests/cluster/swarm-lib.sh"

# Among the last scripts that share the lab (tests/cluster/run runs them
# in name order): node3 stays lost after it, and t9095 then loses node2.
#
# The swarm backend alone (daemons/scheduler/swarm_tool keeps web=6 as the
# scheduler would, with the policy's immediate first restart), against
# node1, the manager.  Without a platform on the nodes there is no router:
# requests go round the published ports the tool reports, and those to the
# lost node fail until its instances run elsewhere (with routers, nginx
# retries the next upstream: 0 expected).
APP=failover$$

extra_stop() {
	[ -s "$TRASH_DIRECTORY/load.pid" ] || return 0
	kill "$(cat "$TRASH_DIRECTORY/load.pid")" 2>/dev/null
	rm -f "$TRASH_DIRECTORY/load.pid"
}

# Every instance up, none on node3.
moved() { up_count 6 && ! awk '$2 == "node3" { f = 1 } END { exit !f }' state; }

# Requests round the instances the tool reports, one every 20 ms; each
# line "<ms> <code>" (000: no answer within 1 s).
load() {
	local k=0 line
	while :; do
		k=$((k + 1))
		line=$(sed -n "$(( k % 6 + 1 ))p" state 2>/dev/null) || line=
		set -- $line
		if [ "${5:-}" = up ]; then
			echo "$(ms) $(curl -s --noproxy "*" --connect-timeout 1 --max-time 2 \
				-o /dev/null -w "%{http_code}" "http://$3:$4/")"
		fi
		sleep 0.02
	done
}

test_expect_success 'web=6 up, some on node3' '
	test -n "$B" && test -x "$TOOL" &&
	keep_start "$APP" 6 &&
	test_wait_for 120 up_count 6 &&
	cat state &&
	awk "\$2 == \"node3\" { f = 1 } END { exit !f }" state
'

test_expect_success 'lab kill 3: every instance runs again on node1 or node2' '
	{ load >codes & echo $! >load.pid; } &&
	sleep 1 &&
	t0=$(ms) &&
	lab kill 3 &&
	test_wait_for 20 eval "test \"\$(lab_node_state 3)\" = down" &&
	down=$(( $(ms) - t0 )) &&
	test_wait_for 120 moved &&
	back=$(( $(ms) - t0 )) &&
	sleep 1 && extra_stop &&
	cat state &&
	lab_measured "node3 seen down by the swarm after:" "$down ms" &&
	lab_measured "every instance running again elsewhere after:" "$back ms" &&
	ended=$(awk "\$2 == \"ended\" { print \$1; exit }" keep.out) &&
	lab_measured "first end reported after the kill:" "$(( ended - t0 )) ms"
'

test_expect_success 'requests through the published ports: the failed ones counted' '
	total=$(wc -l <codes) &&
	bad=$(grep -vc " 200$" codes || true) &&
	lab_measured "requests during the failover:" "$total, not 200: $bad (direct to ports; no router)" &&
	test "$total" -gt 0
'

test_expect_success 'stopped: every service of the app removed' '
	keep_stop &&
	app_services "$APP" >svcs &&
	test "$(jq length svcs)" = 0
'

test_done
