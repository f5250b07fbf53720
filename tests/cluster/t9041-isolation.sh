#!/bin/bash
test_description='a container of one app reaches nothing of the cluster: not another app'"'"'s container (its published port, on its node or another), not a router, not the control'"'"'s PostgreSQL, Redis or registry'
# Runs on the lab's nodes with the platform (tests/cluster/platform.sh),
# whose roles put the container firewall in every node (packaging/cluster.sh,
# cluster_firewall).  The probe runs inside a web container of app A with
# python3 (the test stack's), as the app would: a TCP connect, 2 s at most.
. "$(dirname "$0")/platform-lib.sh"

APP_A=iso-a
APP_B=iso-b
USER_=deis-isoalice
# "open" or "closed": a TCP connect from inside container CID of node I.
probe() {	# I CID HOST PORT
	lab_docker "$1" exec "$2" python3 -c '
import socket, sys
s = socket.socket()
s.settimeout(2)
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("open")
except OSError:
    print("closed")
' "$3" "$4"
}

test_expect_success 'setup: apps A (web=1) and B (web=3, over the nodes)' '
	push_hello $USER_ $APP_A a &&
	push_hello $USER_ $APP_B b &&
	echo web=3 >"$A/$APP_B/formation" &&
	test_wait_for 120 web_up_off $APP_A 1 0 &&
	test_wait_for 120 web_up_off $APP_B 3 0
'

test_expect_success 'the probe works: A reaches its own port; the host reaches B' '
	node=$(ct $APP_A web.1 node) && i=${node#node} &&
	cid=$(lab_docker "$i" ps -q --filter "label=com.docker.swarm.service.name" \
		--format "{{.ID}} {{.Names}}" | awk -v p="$APP_A-" "index(\$2, p) == 1 { print \$1; exit }") &&
	test -n "$cid" &&
	echo "$i $cid" >a.cid &&
	port=$(lab_docker "$i" exec "$cid" printenv PORT) &&
	test "$(probe "$i" "$cid" 127.0.0.1 "$port")" = open &&
	b1=$(ct $APP_B web.1 address) &&
	test "$(curl -s --noproxy "*" --max-time 5 -o /dev/null -w "%{http_code}" "http://$b1/")" = 200
'

test_expect_success 'A reaches no container of B (on any node), no router, no platform service' '
	read -r i cid <a.cid &&
	: >verdicts &&
	for k in 1 2 3; do
		addr=$(ct $APP_B web.$k address) &&
		echo "B web.$k $addr $(probe "$i" "$cid" "${addr%:*}" "${addr##*:}")" >>verdicts || return 1
	done &&
	for n in 1 2 3; do
		echo "router node$n $(probe "$i" "$cid" "$NET.$n" 80)" >>verdicts &&
		echo "builder node$n $(probe "$i" "$cid" "$NET.$n" "$DEIS_SSH_PORT")" >>verdicts || return 1
	done &&
	echo "postgresql $(probe "$i" "$cid" "$NET.1" 5433)" >>verdicts &&
	echo "redis $(probe "$i" "$cid" "$NET.1" 6380)" >>verdicts &&
	echo "registry $(probe "$i" "$cid" "$NET.1" "${DEIS_LAB_REGISTRY_PORT:-5001}")" >>verdicts &&
	cat verdicts &&
	test_line_count = 12 verdicts &&
	! grep -v " closed$" verdicts
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP_A &&
	deis_app_destroy $APP_B &&
	deis_keys_remove $USER_
'

test_done
