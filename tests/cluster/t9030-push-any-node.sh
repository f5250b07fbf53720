#!/bin/bash
test_description='every node a front door: a push through node 2'\''s builder; node 3'\''s tree shows the new release within a second'
# Runs on the lab's nodes (tests/cluster/lab up 3, which starts the
# platform with tests/cluster/platform.sh).
# The test's own view is node 2's platform (its tree, its builder); node
# 3's tree is read at $B/n3/mnt.  The time from the release's commit (its
# `created` in PostgreSQL) to node 3's tree naming it is reported (a
# "# measured:" line).
# The lab's directory (tests/cluster/run exports DEIS_LAB_DIR; else the
# only lab that runs), for node 2's platform, which this script's helpers
# use (its tree, its config, its builder).
B=${DEIS_LAB_DIR:-$(bash "$(dirname "$0")/lab" env 2>/dev/null | sed -n 's/^B=//p')}
: "${B:?no lab runs (tests/cluster/lab up 3)}"
export DEIS_HOME=$B/n2/deis DEIS_MOUNT=$B/n2/mnt DEIS_TEST_NO_MOUNT=0
. "$(dirname "$0")/lib.sh"
# A node's registry is the control's (deis_env_init knows one machine's).
DEIS_REGISTRY_URL=$(conf_get "$DEIS_CONF" registry_url)

APP=pn-hello
export GIT_AUTHOR_NAME=Alice GIT_AUTHOR_EMAIL=alice@example.com
export GIT_COMMITTER_NAME=Alice GIT_COMMITTER_EMAIL=alice@example.com
USER_=deis-pnalice
M3=$B/n3/mnt

# git push through node I's builder, as the test's user.
push_via() {	# I
	GIT_SSH_COMMAND=$(_deis_ssh_command $USER_) \
		git -C src -c user.name=$USER_ -c user.email=$USER_@example.com \
		push "ssh://git@$NET.$1:$DEIS_SSH_PORT/$APP.git" main >push.out 2>&1
	local st=$?
	cat push.out
	return $st
}

# Polls node 3's releases/latest every 50 ms in the background; each
# change is a line "EPOCH-MS TARGET" of seen.n3.
watch_node3() {
	(
		last=''
		while :; do
			t=$(readlink "$M3/apps/$APP/releases/latest" 2>/dev/null) || t=''
			if [ "$t" != "$last" ]; then
				echo "$(( ${EPOCHREALTIME/./} / 1000 )) $t" >>seen.n3
				last=$t
			fi
			sleep 0.05
		done
	) &
	echo $! >watch.pid
}

# The newest release of the app, and when it was committed (ms since the
# epoch, PostgreSQL's clock: this host's).
newest() {
	deis_psql "SELECT r.version FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = '$APP' ORDER BY r.version DESC LIMIT 1"
}
created_ms() {	# VERSION
	deis_psql "SELECT (extract(epoch FROM r.created) * 1000)::bigint FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = '$APP' AND r.version = $1"
}
# When node 3 first named vN (ms), from seen.n3.
seen_ms() {	# VERSION
	awk -v v="v$1" '$2 == v { print $1; f = 1; exit } END { exit !f }' seen.n3
}

test_expect_success 'setup: node 3 runs the same tree; a user, an app made through node 2, hello in git' '
	mount_responsive "$M3" &&
	deis_hello_app $USER_ $APP src &&
	test_wait_for 2 test -d "$M3/apps/$APP" &&
	git -C src add . && git -C src commit -q -m first
'

test_expect_success 'a push through node 2 builds and releases; node 3 shows the release within a second' '
	test_when_finished "kill \$(cat watch.pid) 2>/dev/null; true" &&
	: >seen.n3 &&
	watch_node3 &&
	push_via 2 &&
	v=$(newest) &&
	test "$v" -ge 2 &&
	created=$(created_ms $v) &&
	test_wait_for 5 seen_ms $v &&
	seen=$(seen_ms $v) &&
	ms=$((seen - created)) &&
	lab_measured "release pushed through node2, named by the tree of node3 (from its commit; polled every 50 ms):" "$ms ms" &&
	test "$ms" -lt 1000 &&
	grep -q "^summary: .*$(git -C src rev-parse --short=7 HEAD)" "$M3/apps/$APP/releases/v$v/info"
'

test_expect_success 'the same release on node 1 and node 2; the image is in the control'\''s registry' '
	v=$(readlink "$M3/apps/$APP/releases/latest") &&
	test "$(readlink "$B/n1/mnt/apps/$APP/releases/latest")" = "$v" &&
	test "$(readlink "$DEIS_MOUNT/apps/$APP/releases/latest")" = "$v" &&
	image=$(deis_psql "SELECT b.image FROM builds b JOIN apps a ON a.id = b.app_id WHERE a.name = '"'"'$APP'"'"' ORDER BY b.number DESC LIMIT 1") &&
	test -n "$image" &&
	deis_registry_tool manifest "$image" >manifest &&
	grep -q layers manifest
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	test_wait_for 5 test ! -e "$M3/apps/$APP" &&
	deis_keys_remove $USER_
'

test_done
