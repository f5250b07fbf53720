#!/bin/bash
test_description='the lab itself: up 3 nodes, a service answering on every node, a node lost and its task placed again, down leaving nothing'
. "$(dirname "$0")/lib.sh"

# What the lab may leave behind, each a sorted list: its namespaces, host
# links, host mounts, cgroups and processes (by command line or cgroup).
# The shims' sockets in /run/containerd/s, which a SIGKILLed shim leaves,
# are checked by name (lab sockets): other labs come and go there.
snapshot() {	# FILE
	local f pid
	{
		ip netns list | awk -v p="$P-" 'index($1, p) == 1 { print "netns " $1 }'
		ip -o link show | awk -F': ' -v p="$P-" '{ sub(/@.*/, "", $2) } index($2, p) == 1 { print "link " $2 }'
		grep -F -e "$B" -e "/$P-" /proc/self/mountinfo | awk '{ print "mount " $5 }'
		for f in /sys/fs/cgroup/*/"$P"-*; do [ -e "$f" ] && echo "cgroup $f"; done
		# The processes: by command line, or by cgroup (a container's).
		for pid in $( { lab_pids_with "$B/"; grep -lF "/$P-" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3; } | sort -u); do
			[ -e "/proc/$pid" ] && echo "process $pid $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | cut -c1-100)"
		done
	} | sort >"$1"
}

# Takes snapshot FILE and succeeds if it is BEFORE's (shows the
# difference otherwise).
snapshot_is() {	# BEFORE FILE
	snapshot "$2" && test_cmp "$1" "$2"
}

# Succeeds if every socket FILE names is there (-S) or gone (!).
sockets_are() {	# -S|! FILE
	local s
	while read -r s; do
		if [ "$1" = -S ]; then
			[ -S "$s" ] || { echo "no socket $s" >&2; return 1; }
		else
			[ ! -e "$s" ] || { echo "socket $s left behind" >&2; return 1; }
		fi
	done <"$2"
}

ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
secs() { printf '%d.%03d s' $(($1 / 1000)) $(($1 % 1000)); }	# MILLISECONDS

# This script's own lab (lab_own_up's name), bare: the platform is
# t9030's business; here only the machines.
B=/tmp/dl$(printf %04x $$)t P=${B##*/}

test_expect_success 'nothing of the lab exists before up' '
	snapshot "$TRASH_DIRECTORY/before" &&
	test_must_be_empty "$TRASH_DIRECTORY/before"
'

test_expect_success 'lab up 3 prints a line per node' '
	t0=$(ms) &&
	lab_own_up --bare 3 >up.out 2>up.err &&
	lab_measured "lab up 3 (bare):" "$(secs $(($(ms) - t0)))" &&
	lab_use "$B" &&
	for i in 1 2 3; do
		grep -qx "node$i $NET.$i - - -" up.out || return 1
	done &&
	test_line_count = 3 up.out
'
lab_use "$B" || true

test_expect_success 'the swarm has three ready nodes, node1 the manager' '
	lab_docker 1 node ls --format "{{.Hostname}} {{.Status}} {{.ManagerStatus}}" | sort >nodes &&
	printf "%s\n" "node1 Ready Leader" "node2 Ready " "node3 Ready " >expect &&
	test_cmp expect nodes
'

test_expect_success 'every node has the test image, with python3' '
	for i in 1 2 3; do
		lab_docker $i image inspect "$IMAGE" >/dev/null || return 1
	done &&
	lab_docker 2 run --rm --network none "$IMAGE" python3 -c "print(6 * 7)" >out &&
	echo 42 >expect &&
	test_cmp expect out
'

# Host-mode publishing needs a network with an egress (docker_gwbridge):
# the nodes have no default bridge (--bridge=none), hence the overlay.
test_expect_success 'a service of 3 answers from the host on every node, on its published port' '
	lab_docker 1 network create --driver overlay smoke >/dev/null &&
	t0=$(ms) &&
	lab_docker 1 service create --detach --name smoke --network smoke --replicas 3 \
		--endpoint-mode dnsrr --publish mode=host,target=8000 \
		--restart-condition any --restart-delay 0s --stop-grace-period 1s \
		"$IMAGE" python3 -m http.server 8000 >/dev/null &&
	test_wait_for 60 lab_running smoke 3 &&
	lab_measured "service create to 3 tasks running:" "$(secs $(($(ms) - t0)))" &&
	lab_tasks smoke >tasks &&
	cp tasks tasks.before &&
	cut -d" " -f1 tasks | sort >nodes &&
	printf "%s\n" node1 node2 node3 >expect &&
	test_cmp expect nodes &&
	while read -r node addr port state; do
		test_wait_for 20 lab_curl "http://$addr:$port/" -o page &&
		grep -q "Directory listing" page || return 1
	done <tasks
'

test_expect_success 'a node reaches the task of another node' '
	read -r node addr port state < <(grep "^node3 " tasks.before) &&
	lab_in 1 curl -sS --noproxy "*" --max-time 5 "http://$addr:$port/" >page &&
	grep -q "Directory listing" page
'

test_expect_success 'lab kill 3: node3 is lost and its task runs again on another node' '
	lab sockets 3 >sockets3 &&
	test_line_count = 1 sockets3 &&
	sockets_are -S sockets3 &&
	t0=$(ms) &&
	lab kill 3 >out &&
	echo node3 killed >expect &&
	test_cmp expect out &&
	lab_measured "lab kill 3:" "$(secs $(($(ms) - t0)))" &&
	test_wait_for 60 lab_running smoke 3 node3 &&
	lab_measured "failover (kill to 3 tasks running on node1 and node2):" "$(secs $(($(ms) - t0)))" &&
	lab_tasks smoke | awk "\$4 == \"running\"" >tasks &&
	while read -r node addr port state; do
		test_wait_for 20 lab_curl "http://$addr:$port/" -o page &&
		grep -q "Directory listing" page || return 1
	done <tasks &&
	test "$(lab_node_state 3)" = down
'

test_expect_success 'nothing of node3 runs any more, and it answers nothing' '
	find /sys/fs/cgroup/pids/$P-n3 -name cgroup.procs -exec cat {} + >pids &&
	lab_pids_with "$B/n3/" >>pids &&
	test_must_be_empty pids &&
	sockets_are ! sockets3 &&
	read -r node addr port state < <(grep "^node3 " tasks.before) &&
	{ lab_curl "http://$addr:$port/" >/dev/null; st=$?; } &&
	echo "curl: $st" &&
	{ test $st = 28 || test $st = 7; }	# a timeout or no route: no answer
'

test_expect_success 'lab down leaves nothing: the snapshots are equal' '
	lab sockets >sockets &&
	test_line_count = 3 sockets &&
	sockets_are -S sockets &&
	t0=$(ms) &&
	lab down >out 2>err &&
	lab_measured "lab down:" "$(secs $(($(ms) - t0)))" &&
	# A process SIGKILLed by down is gone once the kernel has finished
	# its exit (a moment, with an empty command line until then).
	test_wait_for 10 snapshot_is "$TRASH_DIRECTORY/before" after &&
	test_path_is_missing "$B" &&
	sockets_are ! sockets
'

test_done
