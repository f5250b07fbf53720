#!/bin/bash
test_description='end to end: a pushed app under load through the router while it is pushed again, its config changed, scaled down and up, and a container restarted: not one request fails'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
APP=zd-hello
USER_=deis-zfay

ct() { deis_ct $APP "$@"; }	# NAME FILE

routed() {
	curl -fsS --max-time 5 -H "Host: $APP.localhost" "http://127.0.0.1:$DEIS_HTTP_PORT/"
}

# Every web container up on the newest release (live), and only those
# running.
settled() {	# COUNT
	local v n=0 c
	v=$(readlink "$A/$APP/releases/latest") || return 1
	[ "$(readlink "$A/$APP/releases/current")" = "$v" ] || return 1
	for c in "$A/$APP"/containers/web.*; do
		[ "$(cat "$c/state")" = up ] && [ "$(cat "$c/release")" = "$v" ] || return 1
		n=$((n + 1))
	done
	[ "$n" = "$1" ] &&
	[ "$(deis_containers $APP | grep -c "^$APP\.web\.")" = "$1" ]
}

test_expect_success 'setup: the hello app pushed, two web containers routed' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	deis_git_push $USER_ $APP src &&
	echo web=2 >"$A/$APP/formation" &&
	test_wait_for 30 settled 2 &&
	test_wait_for 10 eval "routed | grep -q \"hello from web\""
'

test_expect_success 'under load: config change, push, scale down, scale up, restart: no request fails' '
	deis_load_start 25 $APP /ping &&
	sleep 1 &&
	echo 1 >"$A/$APP/config/DEBUG" &&
	test_wait_for 20 settled 2 &&
	test_wait_for 10 eval "routed | grep -q DEBUG=1" &&
	echo "# touched" >>src/app.py &&
	deis_git_commit src second &&
	deis_git_push $USER_ $APP src &&
	test_wait_for 20 settled 2 &&
	echo web=1 >"$A/$APP/formation" &&
	test_wait_for 20 settled 1 &&
	echo web=3 >"$A/$APP/formation" &&
	test_wait_for 20 settled 3 &&
	rmdir "$A/$APP/containers/web.1" &&
	sleep 1 &&
	test_wait_for 20 settled 3 &&
	deis_load_check
'

test_expect_success 'the router logged the requests in the app log' '
	test_wait_for 10 grep -qE "$APP\[router\]: GET /ping 200 " "$A/$APP/logs"
'

test_expect_success 'cleanup: destroy the app; nothing of it runs; the key' '
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
