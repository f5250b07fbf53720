#!/bin/bash
test_description='the tree tells the truth about deploys: releases/current is the live release, latest the newest, each release its status; git push returns when the release is live and routed, and fails with the reason when it does not go live'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
APP=ds-hello
USER_=deis-dsue

ct() { deis_ct $APP "$@"; }	# NAME FILE

rel() {	# current|latest
	readlink "$A/$APP/releases/$1"
}

status() {	# VERSION: its status line, without "status: "
	sed -n "s/^status: //p" "$A/$APP/releases/$1/info"
}

# The HTTP status of a request to the app through the router.
routed_code() {
	curl -s -o routed.body -w "%{http_code}" --max-time 5 -H "Host: $APP.localhost" \
		"http://127.0.0.1:$DEIS_HTTP_PORT/"
}

# deis_git_push in the background (its output in push.out as it comes).
push_bg() {
	deis_git_push $USER_ $APP src >/dev/null 2>&1 &
}

# The pre-receive hooks of this platform still running.
hooks_running() {
	pgrep -f "deis-builder hook --config=$DEIS_CONF" >/dev/null
}

test_expect_success 'setup: a user, an app, the hello app with a release phase in git' '
	deis_hello_app $USER_ $APP src &&
	echo "release: echo migrating; test ! -e fail-release" >>src/Procfile &&
	deis_git_commit src first
'

test_expect_success 'a first push returns once web.1 is up and routed: curl at once answers 200' '
	deis_git_push $USER_ $APP src &&
	code=$(routed_code) &&
	echo "through the router right after the push: $code $(cat routed.body)" &&
	test "$code" = 200 &&
	grep "hello from web.1 v2" routed.body &&
	grep "^remote: -----> Launching v2" push.out &&
	grep "^remote: -----> Release phase: running .echo migrating; test ! -e fail-release." push.out &&
	grep -E "^remote: -----> Release phase: done \([0-9]+ ms\)" push.out &&
	grep -E "^remote: -----> web\.1 up \([0-9]+ ms\)" push.out &&
	grep "^remote: -----> http://$APP\." push.out &&
	grep -n "Launching\|Release phase\|web.1 up\|http://" push.out >order &&
	tail -1 order | grep -q "http://"
'

test_expect_success 'current and latest name v2; v2 is deployed, with the time; v1 superseded' '
	test "$(rel current)" = v2 &&
	test "$(rel latest)" = v2 &&
	test -L "$A/$APP/releases/latest" &&
	grep -x "release: v2" "$A/$APP/info" &&
	test "$(status v2)" = deployed &&
	grep -E "^deployed: 20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]+Z$" "$A/$APP/releases/v2/info" &&
	test "$(status v1)" = superseded &&
	ls "$A/$APP/releases" >list &&
	printf "%s\n" current latest v1 v2 >expect &&
	test_cmp expect list &&
	test_must_fail bash -c "echo v1 >\"$A/$APP/releases/latest\""
'

test_expect_success 'a config change leaves current on the live release until the new one is up' '
	test_when_finished "scheduler_running || scheduler_start" &&
	scheduler_stop &&
	echo 1 >"$A/$APP/config/DEBUG" &&
	test "$(rel latest)" = v3 &&
	test "$(rel current)" = v2 &&
	grep -x "release: v2" "$A/$APP/info" &&
	test "$(status v3)" = pending &&
	! grep -q "^deployed:" "$A/$APP/releases/v3/info" &&
	test "$(status v2)" = deployed &&
	scheduler_start &&
	test_wait_for 30 eval "test \"\$(rel current)\" = v3" &&
	test "$(ct web.1 release)" = v3 &&
	test "$(ct web.1 state)" = up &&
	test "$(status v3)" = deployed &&
	test "$(status v2)" = superseded &&
	grep -x "release: v3" "$A/$APP/info" &&
	grep -q "$APP\[deis\]: v3 deployed: web.1 is up on it" "$A/$APP/logs"
'

test_expect_success 'a failing release command: the push fails with the reason; current stays on the live release' '
	: >src/fail-release &&
	git -C src add fail-release &&
	deis_git_commit src "fail the release phase" &&
	test_must_fail deis_git_push $USER_ $APP src &&
	grep "^remote: -----> Launching v4" push.out &&
	grep "^remote: -----> Release phase: running" push.out &&
	grep "^remote: -----> Release phase failed: its release command exited with status 1" push.out &&
	grep "^remote: -----> v3 keeps running" push.out &&
	! grep "^remote: -----> http://" push.out &&
	grep "pre-receive hook declined" push.out &&
	test "$(rel current)" = v3 &&
	test "$(rel latest)" = v4 &&
	grep -x "release: v3" "$A/$APP/info" &&
	grep -x "status: failed: its release command exited with status 1" "$A/$APP/releases/v4/info" &&
	! grep -q "^deployed:" "$A/$APP/releases/v4/info" &&
	test "$(status v3)" = deployed &&
	test "$(routed_code)" = 200 &&
	grep "hello from web.1 v3" routed.body
'

test_expect_success 'rollback to the failed release is refused with the reason; nothing is made' '
	test_must_fail bash -c "echo v4 >\"$A/$APP/rollback\"" 2>err &&
	grep "Invalid argument" err &&
	test "$(rel latest)" = v4 &&
	test_path_is_missing "$A/$APP/releases/v5" &&
	test_wait_for 10 grep -q "$APP\[deis\]: root: refused: rollback: v4 failed (its release command exited with status 1)" "$A/$APP/logs"
'

test_expect_success 'rollback to a release from before the first push is refused too: nothing to run' '
	test_must_fail bash -c "echo v1 >\"$A/$APP/rollback\"" 2>err &&
	grep "Invalid argument" err &&
	test_path_is_missing "$A/$APP/releases/v5" &&
	test_wait_for 10 grep -q "$APP\[deis\]: root: refused: rollback: v1 has no build" "$A/$APP/logs"
'

test_expect_success 'a web process that crashes at boot: the push says so, points at logs, fails' '
	git -C src rm -q fail-release &&
	sed -i "s/^web: .*/web: echo crashing at boot; exit 1/" src/Procfile &&
	deis_git_commit src "web crashes" &&
	test_must_fail deis_git_push $USER_ $APP src &&
	grep "^remote: -----> Launching v5" push.out &&
	grep "^remote: -----> Release phase: done" push.out &&
	grep "^remote: -----> web.1 of v5 crashed at boot: its output is in logs (apps/$APP/logs)" push.out &&
	grep "pre-receive hook declined" push.out &&
	test "$(rel current)" = v3 &&
	test "$(status v5)" = pending &&
	test "$(routed_code)" = 200
'

test_expect_success 'a web that never answers: the push ends after builder_deploy_timeout, saying so' '
	test_when_finished deis_conf_restore &&
	deis_conf_add "builder_deploy_timeout = 2" &&
	sed -i "s/^web: .*/web: echo not listening; sleep 1000/" src/Procfile &&
	deis_git_commit src "web never listens" &&
	start=$(date +%s) &&
	test_must_fail deis_git_push $USER_ $APP src &&
	end=$(date +%s) &&
	echo "the push took $((end - start)) s" &&
	test $((end - start)) -lt 20 &&
	grep "^remote: -----> Launching v6" push.out &&
	grep "^remote: -----> The launch of v6 did not finish within 2 s (builder_deploy_timeout); it may still: see releases/v6/info (status:) and logs" push.out &&
	test "$(rel current)" = v3
'

test_expect_success 'a pusher that hangs up while the push waits: the hook ends at once' '
	echo "# again" >>src/app.py &&
	deis_git_commit src "still never listens" &&
	push_bg &&
	test_wait_for 60 grep -q "Launching v7" push.out &&
	hooks_running &&
	pkill -f "ssh -i $TRASH_DIRECTORY/$USER_.key" &&
	test_wait_for 5 eval "! hooks_running"
'

test_expect_success 'no scheduler running: the push says so and returns; the release goes live when one runs' '
	test_when_finished "scheduler_running || scheduler_start" &&
	scheduler_stop &&
	deis_psql "UPDATE nodes SET last_seen = now() - interval '"'"'1 minute'"'"'" &&
	cp "$DEIS_SRC/tests/apps/hello/Procfile" src/Procfile &&
	echo "release: echo migrating" >>src/Procfile &&
	deis_git_commit src "a good one again" &&
	deis_git_push $USER_ $APP src &&
	grep "^remote:  !     No scheduler has been heard from in the last 30 s: v8 goes live when one runs" push.out &&
	test "$(rel current)" = v3 &&
	test "$(rel latest)" = v8 &&
	test "$(status v8)" = pending &&
	scheduler_start &&
	test_wait_for 30 eval "test \"\$(rel current)\" = v8" &&
	test_wait_for 10 eval "routed_code >/dev/null; grep -q \"hello from web.1 v8\" routed.body"
'

test_expect_success 'cleanup: destroy the app; nothing of it runs; the key' '
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
