# tests/cluster/platform-lib.sh - sourced by the cluster tests that drive the
# platform on the lab's nodes (tests/cluster/platform.sh started it: the
# control and the swarm scheduler on node 1, deisfs, builder and router on
# every node).  The test's view is node 1's: its tree ($DEIS_MOUNT, $A),
# its builder, its router.  Sources tests/cluster/lib.sh.
if [ -z "${B:-}" ] && [ -r "${DEIS_LAB_DIR:-}/lab.env" ]; then
	. "$DEIS_LAB_DIR/lab.env"
fi
: "${B:?the lab's B (tests/cluster/run exports DEIS_LAB_DIR)}" "${NET:?the lab's NET}"
export DEIS_HOME=$B/n1/deis DEIS_MOUNT=$B/n1/mnt DEIS_TEST_NO_MOUNT=0
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

A=$DEIS_MOUNT/apps

# One fact of a container of APP, from node 1's tree.
ct() {	# APP NAME FILE
	cat "$A/$1/containers/$2/$3"
}

# How many of APP's web.1 .. web.N are up on node I.
web_up_on() {	# APP N I
	local k c=0
	for k in $(seq "$2"); do
		[ "$(ct "$1" web.$k node 2>/dev/null)" = "node$3" ] &&
			[ "$(ct "$1" web.$k state 2>/dev/null)" = up ] && c=$((c + 1))
	done
	echo $c
}

# Every one of APP's web.1 .. web.N up, none on node I (0: anywhere).
web_up_off() {	# APP N I
	local k
	for k in $(seq "$2"); do
		[ "$(ct "$1" web.$k state 2>/dev/null)" = up ] || return 1
		[ "$(ct "$1" web.$k node 2>/dev/null)" != "node$3" ] || return 1
	done
}

# The hello app APP of USER in DIR, committed and pushed through node 1's
# builder (its output in DIR.push).
push_hello() {	# USER APP DIR
	deis_hello_app "$1" "$2" "$3" &&
	deis_git_commit "$3" first &&
	GIT_SSH_COMMAND=$(_deis_ssh_command "$1") \
		git -C "$3" -c user.name="$1" -c user.email="$1@example.com" \
		push "ssh://git@$NET.1:$DEIS_SSH_PORT/$2.git" main >"$3.push" 2>&1
}

# ab through node 1's router, COUNT requests 4 at a time, in the
# background: its output in ab.out, its pid in ab.pid.
ab_start() {	# HOST COUNT
	ab -q -n "$2" -c 4 -s 10 -H "Host: $1" "http://$NET.1:80/" >ab.out 2>&1 &
	echo $! >ab.pid
}
