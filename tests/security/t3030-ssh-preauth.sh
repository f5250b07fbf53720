#!/bin/bash
test_description='builder SSH port: idle unauthenticated connections (80 and more, from one or many sources) never lock a real user out; they are closed at the limits at once and after the login grace; authenticated sessions do not count against the pre-auth limits'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
USER_=deis-sshfrank
APP=sec-ssh
PORT=$DEIS_SSH_PORT
BLOG=$DEIS_LOGDIR/deis-builder.log

# hold NAME SOURCES COUNT SECONDS: COUNT TCP connections to the SSH port,
# spread over the source addresses SOURCES (comma-separated, loopback),
# that never send a byte; held in the background for at most SECONDS.
# NAME.open has the number still open (updated every 0.1 s), NAME.closed
# the seconds after connecting at which the server closed each one.
hold() {
	python3 - "$@" "$PORT" <<-\EOF &
	import select, socket, sys, time
	name, sources, n, secs, port = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
	socks, born = [], {}
	for i in range(n):
	    s = socket.socket()
	    s.bind((sources[i % len(sources)], 0))
	    try:
	        s.connect(("127.0.0.1", port))
	    except OSError:
	        s.close()
	        continue
	    socks.append(s)
	    born[s] = time.monotonic()
	live, closed = set(socks), []
	def status():
	    with open(name + ".open.tmp", "w") as f:
	        f.write("%d\n" % len(live))
	    with open(name + ".closed.tmp", "w") as f:
	        f.write("".join("%.2f\n" % c for c in closed))
	    import os
	    os.replace(name + ".open.tmp", name + ".open")
	    os.replace(name + ".closed.tmp", name + ".closed")
	status()
	end = time.monotonic() + secs
	while live and time.monotonic() < end:
	    ready, _, _ = select.select(list(live), [], [], 0.1)
	    for s in ready:
	        try:
	            data = s.recv(4096)
	        except OSError:
	            data = b""
	        if not data:
	            live.discard(s)
	            closed.append(time.monotonic() - born[s])
	    status()
	EOF
	echo $! >"$1.pid"
}

# Stops a holder (by its pid) and forgets it.
unhold() {	# NAME
	[ -s "$1.pid" ] && kill "$(cat "$1.pid")" 2>/dev/null
	rm -f "$1.pid"
	return 0
}

open_count() {	# NAME
	cat "$1.open" 2>/dev/null
}

holding() {	# NAME: the holder is connected and reports
	test -s "$1.open"
}

push_new() {
	echo "$RANDOM" >>src/README &&
	deis_git_commit src change &&
	deis_git_push $USER_ $APP src
}

test_expect_success 'setup: a user with a key, an app with a first push' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	deis_git_push $USER_ $APP src
'

test_expect_success '80 idle connections from another address: the user still pushes, the excess closed at once' '
	test_when_finished "unhold other" &&
	hold other 127.0.0.2 80 60 &&
	test_wait_for 10 holding other &&
	push_new &&
	grep "^remote: -----> Launching v" push.out &&
	test_wait_for 3 eval "test \$(open_count other) -le 10" &&
	test "$(open_count other)" -ge 1
'

test_expect_success '80 idle connections from the user'\''s own address: the user still pushes' '
	test_when_finished "unhold same" &&
	hold same 127.0.0.1 80 60 &&
	test_wait_for 10 holding same &&
	push_new &&
	grep "^remote: -----> Launching v" push.out &&
	test_wait_for 3 eval "test \$(open_count same) -le 10"
'

test_expect_success '120 idle connections from 12 addresses: the user still pushes, at most the total limit held' '
	test_when_finished "unhold many" &&
	hold many 127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9,127.0.0.10,127.0.0.11,127.0.0.12,127.0.0.13,127.0.0.1 120 60 &&
	test_wait_for 10 holding many &&
	push_new &&
	grep "^remote: -----> Launching v" push.out &&
	test_wait_for 3 eval "test \$(open_count many) -le 32" &&
	deis_git_push $USER_ $APP src HEAD:refs/heads/other &&
	grep "Not deploying other" push.out
'

test_expect_success 'idle connections are closed after the login grace (20 s), not before' '
	test_when_finished "unhold idle" &&
	hold idle 127.0.0.14 5 60 &&
	test_wait_for 10 holding idle &&
	test_wait_for 30 eval "test \"\$(open_count idle)\" = 0" &&
	awk "\$1 < 18 || \$1 > 25 { bad = 1 } END { exit bad }" idle.closed &&
	test "$(wc -l <idle.closed)" = 5
'

test_expect_success 'authenticated sessions do not count: 12 of them from 127.0.0.1 (more than the per-source limit), pushes still work' '
	pids= &&
	test_when_finished "kill \$pids 2>/dev/null; true" &&
	for batch in 1 2 3; do
		before=$(grep -c ": authenticated $USER_ " "$BLOG") &&
		for i in 1 2 3 4; do
			{ timeout 60 ssh -N -i "$TRASH_DIRECTORY/$USER_.key" -o IdentitiesOnly=yes \
				-o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=no \
				-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p $PORT \
				git@127.0.0.1 </dev/null >/dev/null 2>&1 & } &&
			pids="$pids $!" || return 1
		done &&
		test_wait_for 10 eval "test \$(grep -c \": authenticated $USER_ \" \"$BLOG\") -ge $((before + 4))" ||
		return 1
	done &&
	test_when_finished "unhold auth" &&
	hold auth 127.0.0.1 20 60 &&
	test_wait_for 10 holding auth &&
	push_new &&
	grep "^remote: -----> Launching v" push.out &&
	for p in $pids; do
		kill -0 $p || return 1
	done
'

test_expect_success 'the builder log says why connections were closed' '
	grep -E "closed: not authenticated after [0-9]+ ms; .*builder_max_startups_per_source" "$BLOG" &&
	grep -E "closed: not authenticated after [0-9]+ ms; .*builder_max_startups\)" "$BLOG" &&
	grep -E "127\.0\.0\.14:[0-9]+: closed: not authenticated within builder_login_grace \(20 s\)" "$BLOG"
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
