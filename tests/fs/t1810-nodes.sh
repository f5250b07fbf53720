#!/bin/bash
test_description='platform/nodes/<node>/ on one runc machine: its facts (role, state, availability, containers, memory used and free), who may write availability, bad words refused at write, drain and pause refused on a runtime that cannot move containers'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
APP=nodes-hello
USER_=deis-ndave
NODE=$(hostname)
N=$DEIS_MOUNT/platform/nodes/$NODE

# A memory size as the tree writes it (24683628K, 512M, 0) in bytes.
bytes() {	# SIZE
	local v=$1 m=1
	case $v in
	*K) m=1024 ;;
	*M) m=$((1024 * 1024)) ;;
	*G) m=$((1024 * 1024 * 1024)) ;;
	*T) m=$((1024 * 1024 * 1024 * 1024)) ;;
	esac
	v=${v%[KMGT]}
	echo $((v * m))
}

# The node's containers file says what runs: the runc containers of this
# node (every one is the platform's here).
containers_match() {
	test "$(cat "$N/containers")" = "$(ls "$DEIS_RUNC_ROOT" 2>/dev/null | wc -l)"
}

# Its memory_used is N containers of SIZE each, and memory_free the rest.
memory_is() {	# N SIZE
	local total used free
	total=$(bytes "$(cat "$N/memory")") &&
	used=$(bytes "$(cat "$N/memory_used")") &&
	free=$(bytes "$(cat "$N/memory_free")") &&
	test "$used" = $(($1 * $(bytes "$2"))) &&
	test $((used + free)) = "$total"
}

desired() {	# NODE
	deis_psql "SELECT desired_availability FROM nodes WHERE name = '$1'"
}

test_expect_success 'setup: a user, an app with two web containers of 256M each' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	echo "web.memory=256M" >"$A/$APP/limits" &&
	deis_git_push $USER_ $APP src &&
	echo web=2 >"$A/$APP/formation" &&
	test_wait_for 90 eval "test \"\$(cat $A/$APP/containers/web.2/state 2>/dev/null)\" = up"
'

test_expect_success 'the node directory: one file per fact' '
	test_wait_for 10 test -d "$N" &&
	ls "$N" >files &&
	printf "%s\n" address availability containers memory memory_free memory_used role state >expect &&
	sort files >sorted &&
	test_cmp expect sorted &&
	test "$(cat "$N/role")" = node &&
	test "$(cat "$N/state")" = ready &&
	grep -Ex "[0-9.:]+" "$N/address" &&
	grep -Ex "[0-9]+[KMGT]?" "$N/memory"
'

test_expect_success 'memory is MemTotal; memory_used what the limits reserve, memory_free the rest' '
	kb=$(awk "/^MemTotal:/ { print \$2 }" /proc/meminfo) &&
	test "$(bytes "$(cat "$N/memory")")" = $((kb * 1024)) &&
	deis_scheduler_resyncs 2 &&
	test_wait_for 10 memory_is 2 256M
'

test_expect_success 'containers is what runs there, and follows a scale' '
	test_wait_for 10 containers_match &&
	test "$(cat "$N/containers")" = 2 &&
	echo web=3 >"$A/$APP/formation" &&
	test_wait_for 60 eval "test \"\$(cat $A/$APP/containers/web.3/state 2>/dev/null)\" = up" &&
	deis_scheduler_resyncs 2 &&
	test_wait_for 10 containers_match &&
	test "$(cat "$N/containers")" = 3 &&
	test_wait_for 10 memory_is 3 256M
'

test_expect_success 'availability: active, and why it can be nothing else here' '
	head -1 "$N/availability" >first &&
	echo active >expect &&
	test_cmp expect first &&
	grep -q "^# its runtime cannot move containers to another node" "$N/availability" &&
	test "$(desired "$NODE")" = active
'

test_expect_success 'a user who is not an admin may not open availability for writing' '
	deis_useradd deis-nnobody &&
	test_must_fail deis_as deis-nnobody sh -c "echo active >\"$N/availability\"" 2>err &&
	grep -q "Permission denied" err &&
	test_must_fail deis_as $USER_ sh -c ": >\"$N/availability\"" 2>err &&
	grep -q "Permission denied" err &&
	deis_as deis-nnobody cat "$N/availability" >/dev/null &&
	test_must_fail sh -c "echo ready >\"$N/state\"" 2>err &&
	grep -q "Permission denied" err
'

test_expect_success 'a word other than active, pause or drain: EINVAL at write, in the log, nothing changed' '
	for w in bogus Drain "" "drain pause"; do
		deis_write_close "$N/availability" "$w\n" >out &&
		grep -q "^write=EINVAL" out || { cat out; return 1; }
	done &&
	deis_log_has "write /platform/nodes/$NODE/availability by root \(uid 0\): availability: .bogus. is not active, pause or drain" &&
	test "$(desired "$NODE")" = active
'

test_expect_success 'drain and pause on a runc node: EOPNOTSUPP at write, the reason in the log, no app stopped' '
	ids=$(deis_containers $APP) &&
	deis_write_close "$N/availability" "drain\n" >out &&
	grep -Eq "^write=E(OPNOTSUPP|NOTSUP) " out &&
	deis_log_has "write /platform/nodes/$NODE/availability by root \(uid 0\): node $NODE runs its containers with a runtime that cannot move them" &&
	deis_write_close "$N/availability" "pause\n" >out &&
	grep -Eq "^write=E(OPNOTSUPP|NOTSUP) " out &&
	test_must_fail bash -c "echo drain >\"$N/availability\"" 2>err &&
	grep -q "write error: Operation not supported" err &&
	test "$(desired "$NODE")" = active &&
	head -1 "$N/availability" | grep -qx active &&
	deis_scheduler_resyncs 1 &&
	test "$(deis_containers $APP)" = "$ids"
'

test_expect_success 'active is taken (one transaction: who and when recorded)' '
	deis_write_close "$N/availability" "active\n" >out &&
	grep -q "^write=0 close=0" out &&
	test "$(desired "$NODE")" = active &&
	test "$(deis_psql "SELECT desired_by FROM nodes WHERE name = '\''$NODE'\''")" = root
'

# A node whose runtime can move containers, as a swarm scheduler reports
# one (there is no cluster here: its row alone, which no scheduler acts on).
test_expect_success 'a node that can move containers takes drain: stored, shown, an event' '
	deis_psql "INSERT INTO nodes (name, address, role, availability, movable, info)
		VALUES ('\''nodes-far'\'', '\''10.254.0.9'\'', '\''worker'\'', '\''active'\'', true,
		'\''{\"containers\": 2, \"memory\": 1073741824}'\'')" &&
	F=$DEIS_MOUNT/platform/nodes/nodes-far &&
	test_wait_for 5 test -d "$F" &&
	test "$(cat "$F/role")" = worker &&
	echo drain >"$F/availability" &&
	test "$(desired nodes-far)" = drain &&
	head -1 "$F/availability" | grep -qx drain &&
	grep -q "^# the runtime says active: the scheduler applies drain" "$F/availability" &&
	deis_log_has "node nodes-far: availability drain, set by root" &&
	deis_write_close "$F/availability" "active\n# a comment\n" >out &&
	grep -q "^write=0 close=0" out &&
	test "$(desired nodes-far)" = active &&
	deis_psql "DELETE FROM nodes WHERE name = '\''nodes-far'\''"
'

test_expect_success 'no such node: ENOENT' '
	test_must_fail cat "$DEIS_MOUNT/platform/nodes/no-such-node/availability" 2>err &&
	grep -q "No such file" err
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	userdel deis-nnobody &&
	userdel $USER_
'

test_done
