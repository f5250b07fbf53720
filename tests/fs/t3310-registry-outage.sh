#!/bin/bash
test_description='deis-scheduler: a rollout whose slug cannot be pulled while the registry is down waits for it (the old release serving) and goes live once it is back; a release whose image is really gone is refused'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
APP=rout-hello
USER_=deis-rout

ct() {	# NAME FILE
	deis_ct $APP "$1" "$2"
}

# The router answers for the app as web.1 on VERSION (while a rollout
# waits, containers/web.1 shows the new instance, not the one serving).
serves() {	# VERSION [PATTERN]
	curl -fsS --max-time 5 -H "Host: $APP.localhost" \
		"http://127.0.0.1:$DEIS_HTTP_PORT/" >answer 2>/dev/null &&
	grep -q -- "hello from web.1 $1${2:+ $2}" answer
}

# web.1 is up on VERSION, and the router answers as it.
live() {	# VERSION [PATTERN]
	test "$(ct web.1 release)" = "$1" && test "$(ct web.1 state)" = up &&
	serves "$@"
}

app_log_has() {	# ERE
	grep -Eq -- "$1" "$A/$APP/logs"
}

# A scheduler started anew knows no image yet (its slug cache is in
# memory): its next container must ask the registry.
sched_restart() {
	scheduler_stop && scheduler_start
}

test_expect_success 'setup: the hello app running web.1 on v2' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	deis_git_push $USER_ $APP src &&
	test_wait_for 60 live v2
'

test_expect_success 'a config change made while the registry is down goes live once it is back, without another write' '
	sched_restart &&
	test_wait_for 30 live v2 &&
	deis_service_stop registry &&
	test_when_finished "deis_service_start registry" &&
	echo 1 >"$A/$APP/config/DEBUG" &&
	test_wait_for 30 app_log_has "web.1: cannot start v3 yet \(try 2\)" &&
	serves v2 &&
	! app_log_has "v3 not deployed" &&
	deis_service_start registry &&
	test_wait_for 60 live v3 DEBUG=1 &&
	! app_log_has "v3 not deployed" &&
	app_log_has "v3 deployed"
'

test_expect_success 'a release whose image is gone from the registry is refused; the old one keeps serving' '
	image=$(cat "$A/$APP/image") &&
	test -n "$image" &&
	sched_restart &&
	test_wait_for 30 live v3 &&
	deis_registry_delete "$image" &&
	echo 2 >"$A/$APP/config/DEBUG" &&
	test_wait_for 60 app_log_has "v4 not deployed" &&
	! app_log_has "cannot start v4 yet" &&
	test_wait_for 10 live v3 DEBUG=1
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP
'

test_done
