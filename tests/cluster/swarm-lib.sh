# tests/cluster/swarm-lib.sh - what the swarm backend's cluster scripts
# (t9010-t9029) share, sourced after lib.sh: the backend alone, driven by
# daemons/scheduler/swarm_tool against node1 (the manager) on the lab's
# test image, as deis-scheduler drives it.
#
#   keep_start APP N    keeps web=N of APP (python3's http.server on $PORT)
#                       running: events in keep.out, instances in state
#                       ("<name> <node> <address> <port> <state>")
#   keep_stop           stops them (every service removed) and the tool
#   up_count N          succeeds when exactly N instances are up
#   app_services APP    the swarm's services of APP, as JSON
#   ms                  the wall clock in ms (the tool's clock too)

TOOL=${DEIS_BUILD:-$DEIS_SRC/build}/daemons/scheduler/swarm_tool

ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }

keep_start() {	# APP N
	"$TOOL" --swarm_socket="$B/n1/d.sock" --swarm_registry=none --swarm_user= \
		--scheduler_grace=5 keep "$1" web "$2" "$IMAGE" \
		'exec python3 -m http.server $PORT' "$PWD/state" >keep.out 2>&1 &
	echo $! >"$TRASH_DIRECTORY/keep.pid"
}

keep_stop() {
	[ -s "$TRASH_DIRECTORY/keep.pid" ] || return 0
	kill "$(cat "$TRASH_DIRECTORY/keep.pid")" 2>/dev/null
	test_wait_for 60 eval '! kill -0 "$(cat "$TRASH_DIRECTORY/keep.pid")" 2>/dev/null'
	rm -f "$TRASH_DIRECTORY/keep.pid"
}

up_count() {	# N
	[ -s state ] && [ "$(awk '$5 == "up"' state | wc -l)" = "$1" ]
}

app_services() {	# APP
	lab_api 1 GET "/services?filters=$(printf '{"label":["io.deis.app=%s"]}' "$1" | jq -sRr @uri)"
}

# The tool goes at exit whatever happens (then lib.sh's own exit work).
trap '_lab_st=$?; type extra_stop >/dev/null 2>&1 && extra_stop; keep_stop; _lab_own_down; (exit $_lab_st); _test_on_exit' EXIT
