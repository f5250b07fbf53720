#!/bin/bash
test_description='ssh ... run: a client that hangs up (killed, no clean close) leaves no container behind within seconds, with a terminal and without'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
USER_=deis-shgina
APP=sec-hup
PORT=$DEIS_SSH_PORT
AROOT=$DEIS_HOME/scheduler/attached/runc
BLOG=$DEIS_LOGDIR/deis-builder.log

# ssh's options as the user; ssh is run directly (not from a function) so
# that $! is the client itself, which the tests kill.
SSH_OPTS=(-i "$TRASH_DIRECTORY/$USER_.key" -o IdentitiesOnly=yes -o IdentityAgent=none
	-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o LogLevel=ERROR -p "$PORT")

# runc ids of the app's attached one-offs (ssh ... run) that still exist.
attached() {
	runc --root "$AROOT" list -q 2>/dev/null | grep "^$APP\."
}

running_attached() {
	runc --root "$AROOT" list 2>/dev/null | awk -v p="^$APP\\\\." '$1 ~ p && $3 == "running"' | grep -q .
}

no_attached() {
	! attached >/dev/null
}

no_run_in_tree() {
	! ls "$A/$APP/containers" | grep -q "^run\."
}

app_up() {
	[ "$(cat "$A/$APP/containers/web.1/state" 2>/dev/null)" = up ]
}

# Starts `ssh [-tt] ... run APP sleep 1000` in the background, its stdin a
# FIFO it holds open itself (so it never sees EOF), its pid in NAME.pid.
start_run() {	# NAME [SSH-OPTION]
	local name=$1
	shift
	rm -f "$name.in" && mkfifo "$name.in" &&
	{ ssh "${SSH_OPTS[@]}" "$@" git@127.0.0.1 run $APP "sleep 1000" \
		<>"$name.in" >"$name.out" 2>&1 &
	  echo $! >"$name.pid"; }
}

test_expect_success 'setup: a user, an app running on v2' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	deis_git_push $USER_ $APP src &&
	test_wait_for 30 app_up &&
	no_attached
'

test_expect_success 'ssh -tt run, client killed: the container is gone within 10 s' '
	test_when_finished "kill -9 \$(cat tty.pid) 2>/dev/null; true" &&
	start_run tty -tt &&
	test_wait_for 20 running_attached &&
	test_wait_for 5 eval "ls \"$A/$APP/containers\" | grep -q \"^run\\.\"" &&
	grep -q "^ssh" "/proc/$(cat tty.pid)/comm" &&
	kill -9 "$(cat tty.pid)" &&
	test_wait_for 10 no_attached &&
	test_wait_for 5 no_run_in_tree
'

test_expect_success 'ssh run without a terminal (pipes), client killed: gone within 10 s' '
	test_when_finished "kill -9 \$(cat pipe.pid) 2>/dev/null; true" &&
	start_run pipe &&
	test_wait_for 20 running_attached &&
	kill -9 "$(cat pipe.pid)" &&
	test_wait_for 10 no_attached &&
	test_wait_for 5 no_run_in_tree
'

test_expect_success 'a command that ignores SIGHUP and SIGTERM is killed after the grace' '
	test_when_finished "kill -9 \$(cat stubborn.pid) 2>/dev/null; true" &&
	rm -f stubborn.in && mkfifo stubborn.in &&
	{ ssh "${SSH_OPTS[@]}" -tt git@127.0.0.1 run $APP "trap \"\" HUP TERM; while :; do sleep 1; done" \
		<>stubborn.in >stubborn.out 2>&1 &
	  echo $! >stubborn.pid; } &&
	test_wait_for 20 running_attached &&
	kill -9 "$(cat stubborn.pid)" &&
	test_wait_for 15 no_attached
'

nft list tables >/dev/null 2>&1 && command -v ss >/dev/null && test_set_prereq NFT

# The local port of the ssh client PID (its connection to the builder).
client_port() {	# PID
	ss -Htnp state established "( dport = :$PORT )" |
		sed -n "s/.*127\.0\.0\.1:\([0-9]*\) .*pid=$1,.*/\1/p" | head -1
}

test_expect_success NFT 'a client whose network went silent (no FIN, no RST): gone within 40 s' '
	test_when_finished "nft delete table inet deis_t3040 2>/dev/null; kill -9 \$(cat silent.pid) 2>/dev/null; true" &&
	start_run silent -tt &&
	test_wait_for 20 running_attached &&
	cport=$(client_port "$(cat silent.pid)") &&
	test -n "$cport" &&
	nft add table inet deis_t3040 &&
	nft add chain inet deis_t3040 cut "{ type filter hook input priority -300; }" &&
	nft add rule inet deis_t3040 cut iif lo tcp sport $cport drop &&
	nft add rule inet deis_t3040 cut iif lo tcp dport $cport drop &&
	test_wait_for 40 no_attached &&
	kill -0 "$(cat silent.pid)"
'

test_expect_success 'the builder logs the lost connections' '
	test "$(grep -c "run on $APP: .*(connection lost)" "$BLOG")" -ge 3 &&
	if test_have_prereq NFT; then
		test "$(grep -c "run on $APP: .*(connection lost)" "$BLOG")" -ge 4
	fi
'

test_expect_success 'a run whose client stays connected keeps running' '
	test_when_finished "kill -9 \$(cat alive.pid) 2>/dev/null; true" &&
	start_run alive -tt &&
	test_wait_for 20 running_attached &&
	running_attached &&
	kill -0 "$(cat alive.pid)" &&
	kill -9 "$(cat alive.pid)" &&
	test_wait_for 10 no_attached
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
