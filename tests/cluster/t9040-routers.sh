#!/bin/bash
test_description='web=6 placed by the swarm scheduler spreads over the 3 nodes and answers through the router of every node'
# Runs on the lab's nodes with the platform (tests/cluster/platform.sh);
# the test's view is node 1's tree.  Each node's nginx routes to every
# web instance wherever it runs (its node's address, its published port).
. "$(dirname "$0")/platform-lib.sh"

APP=rt-hello
USER_=deis-rtalice
# COUNT requests through node I's router; the status codes, one a line.
through() {	# I COUNT
	local k
	for k in $(seq "$2"); do
		curl -s --noproxy "*" --max-time 5 -o /dev/null -w "%{http_code}\n" \
			-H "Host: $APP.$domain" "http://$NET.$1:80/"
	done
}

test_expect_success 'setup: the hello app pushed through node 1, web=6' '
	domain=$(cat "$DEIS_MOUNT/platform/domain") &&
	push_hello $USER_ $APP src &&
	echo web=6 >"$A/$APP/formation" &&
	test_wait_for 120 web_up_off $APP 6 0
'

test_expect_success 'web=6 has instances on every node' '
	n1=$(web_up_on $APP 6 1) && n2=$(web_up_on $APP 6 2) && n3=$(web_up_on $APP 6 3) &&
	lab_measured "web=6 per node (from the tree):" "node1=$n1 node2=$n2 node3=$n3" &&
	test "$n1" -ge 1 && test "$n2" -ge 1 && test "$n3" -ge 1 &&
	test $((n1 + n2 + n3)) = 6
'

test_expect_success 'the tree of every node shows the same instances' '
	for i in 2 3; do
		ls "$B/n$i/mnt/apps/$APP/containers" >c$i &&
		ls "$A/$APP/containers" >c1 &&
		test_cmp c1 c$i || return 1
	done
'

test_expect_success 'the router of every node answers for the app: 3 x 100 requests, all 200' '
	domain=$(cat "$DEIS_MOUNT/platform/domain") &&
	for i in 1 2 3; do
		through $i 100 >codes.$i &&
		test_line_count = 100 codes.$i &&
		! grep -v "^200$" codes.$i || return 1
	done
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
