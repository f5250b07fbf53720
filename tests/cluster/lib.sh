# tests/cluster/lib.sh - what a cluster test script sources: the shell test
# library of tests/lib.sh (git's test-lib style: test_expect_success,
# test_wait_for, ...) plus helpers that know the lab of tests/cluster/lab.
#
#	#!/bin/bash
#	test_description='what this script covers'
#	. "$(dirname "$0")/lib.sh"
#
#	test_expect_success 'three nodes are ready' '
#		lab_docker 1 node ls --format "{{.Status}}" >st &&
#		test_line_count = 3 st
#	'
#	test_done
#
# The lab is the one DEIS_LAB_DIR names (tests/cluster/run brings one up
# with 3 nodes for the scripts t9010 and after, and exports it), else the
# only one that runs; its variables are set here: B P NET N REG IMAGE BARE.
# Scripts t9000-t9009 test the lab itself: they make their own with
# lab_own_up (and need none running).  A script that changes the lab (kills
# a node) says so in its description; the scripts run in name order.
#
# DEIS_HOME is the scratch dir of the test library (trash.<script>,
# test-logs/): tests/cluster/run's, else /tmp/deis-cluster-tests.  There is
# no single-machine platform here (DEIS_TEST_NO_MOUNT=1), unless the caller
# points DEIS_HOME at one.
#
# Helpers:
#   lab                  tests/cluster/lab
#   lab_use [B]          loads a lab's variables (default: DEIS_LAB_DIR or
#                        the only lab)
#   lab_own_up N         up a lab of this script's own (t900x); taken down
#                        at exit whatever happens
#   lab_docker I ARGS    Debian's docker client against node I's dockerd
#   lab_api I METHOD PATH [JSON]   the Engine API (v1.41) of node I
#   lab_in I CMD...      CMD in node I's network namespace
#   lab_curl URL [ARGS]  curl from the host to an address in the lab
#   lab_tasks SERVICE    the service's tasks meant to run, one a line:
#                        "node<i> <address> <published port> <state>"
#   lab_running SERVICE N [NODE...]   succeeds when exactly N tasks run,
#                        none on the NODEs (node<i>)
#   lab_node_state I     node<i>'s state in the swarm (ready, down, ...)
#   lab_pids_with STRING the pids one of whose arguments holds STRING
#   lab_measured WHAT VALUE   records a "# measured:" line, printed after
#                        the current test

export DEIS_HOME=${DEIS_HOME:-/tmp/deis-cluster-tests}
export DEIS_TEST_NO_MOUNT=${DEIS_TEST_NO_MOUNT:-1}
mkdir -p "$DEIS_HOME"
# shellcheck source=tests/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

LAB=$DEIS_SRC/tests/cluster/lab
LAB_DOCKER=/usr/bin/docker	# Debian's 20.10 client, not whatever PATH has
LAB_MEASURED=$TRASH_DIRECTORY/.measured

lab() { bash "$LAB" "$@"; }

lab_use() {	# [B]
	local b=${1:-${DEIS_LAB_DIR:-}}
	if [ -z "$b" ]; then
		b=$(bash "$LAB" env 2>/dev/null | sed -n 's/^B=//p') || b=''
		[ -n "$b" ] || return 1
	fi
	[ -r "$b/lab.env" ] || return 1
	# shellcheck disable=SC1091
	. "$b/lab.env"
	DEIS_LAB_DIR=$B
	export DEIS_LAB_DIR B P NET N REG IMAGE BARE
}

# The lab a script makes for itself, with a name of its own; lab down
# runs at exit if the script did not take it down.
lab_own_up() {	# N [ARGS...]
	DEIS_LAB_DIR=/tmp/dl$(printf %04x $$)t
	export DEIS_LAB_DIR
	bash "$LAB" up "$@"
}

_lab_own_down() {
	[ -n "${DEIS_LAB_DIR:-}" ] && [ "${DEIS_LAB_DIR%t}" != "$DEIS_LAB_DIR" ] &&
		[ -r "$DEIS_LAB_DIR/lab.env" ] || return 0
	bash "$LAB" down >/dev/null 2>&1 || true
}
trap '_lab_st=$?; _lab_own_down; (exit $_lab_st); _test_on_exit' EXIT

lab_docker() {	# I ARGS...
	local i=$1
	shift
	"$LAB_DOCKER" -H "unix://$B/n$i/d.sock" "$@"
}

lab_api() {	# I METHOD PATH [JSON]
	local i=$1 m=$2 p=$3
	if [ $# -ge 4 ]; then
		curl -sS --max-time 30 --unix-socket "$B/n$i/d.sock" -X "$m" \
			-H 'Content-Type: application/json' --data-binary "$4" "http://d/v1.41$p"
	else
		curl -sS --max-time 30 --unix-socket "$B/n$i/d.sock" -X "$m" "http://d/v1.41$p"
	fi
}

lab_in() {	# I CMD...
	local i=$1
	shift
	nsenter --net="/run/netns/$P-n$i" -- "$@"
}

lab_curl() {	# URL [CURL ARGS...]
	local url=$1
	shift
	curl -sS --noproxy '*' --connect-timeout 2 --max-time 10 "$@" "$url"
}

# A manager answers for the swarm: node1, the lab's only one.
lab_tasks() {	# SERVICE
	local nodes
	nodes=$(lab_api 1 GET /nodes) || return 1
	lab_api 1 GET "/tasks?filters=$(printf '{"service":["%s"],"desired-state":["running"]}' "$1" | jq -sRr @uri)" |
		jq -r --argjson nodes "$nodes" '
			($nodes | map({(.ID): {h: .Description.Hostname, a: .Status.Addr}}) | add) as $n
			| .[] | [($n[.NodeID].h // "?"), ($n[.NodeID].a // "?"),
				((.Status.PortStatus.Ports // [])[0].PublishedPort // "-"), .Status.State]
			| map(tostring) | join(" ")'
}

lab_running() {	# SERVICE N [NODE...]
	local svc=$1 want=$2 x
	shift 2
	lab_tasks "$svc" >.lab_tasks 2>/dev/null || return 1
	awk '$4 == "running"' .lab_tasks >.lab_running
	for x; do
		! awk -v n="$x" '$1 == n { f = 1 } END { exit !f }' .lab_running || return 1
	done
	[ "$(wc -l <.lab_running)" = "$want" ]
}

# Pids one of whose arguments holds STRING (not the grep that looks).
lab_pids_with() {	# STRING
	local pid
	for pid in $(grep -lzF -- "$1" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
		[ "$pid" != $$ ] && [ "$pid" != "$BASHPID" ] && [ -e "/proc/$pid" ] && echo "$pid"
	done
	return 0
}

lab_node_state() {	# I
	lab_api 1 GET /nodes | jq -r --arg h "node$1" '.[] | select(.Description.Hostname == $h) | .Status.State'
}

lab_measured() {	# WHAT VALUE
	echo "# measured: $1 $2" >>"$LAB_MEASURED"
}

# Prints the "# measured:" lines of the test that just ran, in the TAP
# output (a body's own output is shown only on failure).
_lab_measured_flush() {
	[ -s "$LAB_MEASURED" ] || return 0
	cat "$LAB_MEASURED"
	cat "$LAB_MEASURED" >>"$TEST_LOG"
	: >"$LAB_MEASURED"
}
eval "_lab_orig_$(declare -f _test_expect)"
_test_expect() {
	local st=0
	"_lab_orig__test_expect" "$@" || st=$?
	_lab_measured_flush
	return $st
}

# The lab this script works on, when one runs.
lab_use >/dev/null 2>&1 || true
