#!/bin/bash
test_description='Redis killed: a config change, a scale-down and a restart made during the outage lose no request; the scheduler stops no container a router may still send to'
. "$(dirname "$0")/../lib.sh"

# Redis is a cache (docs/scheduler.md, "Health, rollouts and the
# router"): while it is down, the daemons learn of changes at their
# resyncs, and the scheduler confirms through PostgreSQL (router_applied)
# that every router's nginx no longer sends to a container before it
# stops it.  ab runs through the router all along; not one request may
# fail or get anything but a 200.

A=$DEIS_MOUNT/apps
APP=nc-hello
USER_=deis-ncfay
SLOG=$DEIS_LOGDIR/deis-scheduler.log

redis_down() { ! deis_redis ping >/dev/null 2>&1; }

routed() {
	curl -fsS --max-time 5 -H "Host: $APP.localhost" "http://127.0.0.1:$DEIS_HTTP_PORT/"
}

# The router answers DEBUG=VALUE eight times in a row (round robin over
# every container it routes to), and COUNT web containers run on the
# node: the value is served everywhere and the old containers are gone.
# From the router and runc's state, not the mount, which learns of the
# scheduler's rows only at its resyncs while Redis is down.
served() {	# VALUE COUNT
	local k
	for k in 1 2 3 4 5 6 7 8; do
		routed 2>/dev/null | grep -q "DEBUG=$1\$" || return 1
	done
	[ "$(deis_containers $APP | grep -c "^$APP\.web\.")" = "$2" ]
}

# The mount shows COUNT web containers, every one up on the live release.
mount_shows() {	# COUNT
	local v
	v=$(readlink "$A/$APP/releases/current") &&
	[ "$v" = "$(readlink "$A/$APP/releases/latest")" ] &&
	[ "$(ls -d "$A/$APP"/containers/web.* | wc -l)" = "$1" ] &&
	[ "$(cat "$A/$APP"/containers/web.*/state | sort -u)" = up ] &&
	[ "$(cat "$A/$APP"/containers/web.*/release | sort -u)" = "$v" ]
}

# Sets DEBUG=VALUE and waits until it is served everywhere by COUNT
# containers; says how long that took (until the old ones were gone).
config_change() {	# VALUE COUNT WHAT
	local t0 t1
	t0=${EPOCHREALTIME/./}
	echo "$1" >"$A/$APP/config/DEBUG" &&
	test_wait_for 60 served "$1" "$2" &&
	t1=${EPOCHREALTIME/./} &&
	printf '# %s: served by every container, the old ones gone, %d ms after the write\n' \
		"$3" $(((t1 - t0) / 1000)) | tee -a timings
}

# The instance id of NAME (web.1) on the node.
instance() { deis_containers $APP | grep "^$APP\.$1\."; }

# Stops ab (it reports what it did at SIGINT) and checks, as
# deis_load_check does, that every request got a 200.
load_done() {
	local pid
	read -r pid <ab.pid || return 1
	kill -INT "$pid" 2>/dev/null || :
	wait "$pid" 2>/dev/null || :
	cat ab.out &&
	grep -E "^Complete requests: +[1-9][0-9]*$" ab.out &&
	grep -E "^Failed requests: +0$" ab.out &&
	! grep -E "^Non-2xx responses" ab.out
}

# What the database says: the state of instance ID's row; whether the
# router's record of the app is its current serial; how many routers'
# heartbeats are current.
row_state() {	# ID
	deis_psql "SELECT state FROM containers WHERE instance = '$1'"
}
applied_is_current() {
	test "$(deis_psql "SELECT bool_and(ra.serial = a.serial) FROM router_applied ra
		JOIN apps a ON a.id = ra.app_id WHERE a.name = '$APP'")" = t
}
# Router NAME records the app's routes at its current serial.
applied_by() {	# NAME
	deis_psql "INSERT INTO router_applied (router, app_id, serial)
		SELECT '$1', id, serial FROM apps WHERE name = '$APP'
		ON CONFLICT (router, app_id) DO UPDATE SET serial = EXCLUDED.serial"
}
live_routers() {
	deis_psql "SELECT count(*) FROM routers WHERE seen > clock_timestamp() - ttl * interval '1 second'"
}

load_kill() {
	local pid
	! read -r pid <ab.pid 2>/dev/null || kill "$pid" 2>/dev/null
	return 0
}

test_expect_success 'setup: the hello app pushed with web=2, both containers routed' '
	deis_hello_app $USER_ $APP src &&
	echo web=2 >"$A/$APP/formation" &&
	deis_git_commit src first &&
	deis_git_push $USER_ $APP src &&
	test_wait_for 30 mount_shows 2 &&
	test_wait_for 10 served "" 2
'

test_expect_success 'Redis up: a config change under load loses no request (the time to compare)' '
	test_when_finished load_kill &&
	deis_load_start 120 $APP /ping &&
	sleep 1 &&
	config_change 1 2 "config change, Redis up" &&
	load_done
'

test_expect_success 'Redis killed: a config change, a scale-down and a restart during the outage, then a change as it comes back empty: no request fails' '
	test_when_finished "deis_service_start redis" &&
	test_when_finished load_kill &&
	deis_load_start 300 $APP /ping &&
	sleep 1 &&
	deis_service_stop redis &&
	redis_down &&

	config_change 2 2 "config change, Redis down" &&

	echo web=1 >"$A/$APP/formation" &&
	test_wait_for 60 served 2 1 &&

	before=$(instance web.1) &&
	rmdir "$A/$APP/containers/web.1" &&
	test_wait_for 60 eval "test \"\$(instance web.1)\" != \"$before\" && served 2 1" &&

	: Redis comes back with no heartbeat and no applied serial in it &&
	deis_service_start redis &&
	echo web=2 >"$A/$APP/formation" &&
	config_change 3 2 "config change as Redis comes back" &&
	test_wait_for 30 mount_shows 2 &&
	load_done
'

test_expect_success 'the routers record what they apply in PostgreSQL, with a heartbeat' '
	test_wait_for 10 applied_is_current &&
	echo 1 >expect &&
	live_routers >live &&
	test_cmp expect live
'

# deis-proxy frozen (SIGSTOP) is a router that has not applied a change
# yet; its nginx serves on, and its heartbeat is current for a while.
test_expect_success 'Redis killed, the router behind: a container it may send to keeps running until it has applied the change' '
	test_when_finished "deis_service_start redis" &&
	test_when_finished "deis_conf_restore; kill -HUP \$(daemon_pid deis-scheduler)" &&
	test_when_finished "kill -CONT \$(daemon_pid deis-proxy)" &&
	test_when_finished load_kill &&
	deis_conf_add "scheduler_proxy_wait = 1" &&
	deis_load_start 300 $APP /ping &&
	sleep 1 &&
	deis_service_stop redis &&
	web2=$(instance web.2) &&
	mark=$(stat -c %s "$SLOG") &&
	kill -STOP "$(daemon_pid deis-proxy)" &&
	echo web=1 >"$A/$APP/formation" &&
	: the reload resyncs at once and puts the 1 s wait in force &&
	kill -HUP "$(daemon_pid deis-scheduler)" &&
	test_wait_for 20 eval "tail -c +$((mark + 1)) \"\$SLOG\" |
		grep -q \"web.2: kept running .*router .* has applied serial\"" &&
	deis_containers $APP | grep -x "$web2" &&
	test "$(row_state "$web2")" = stopping &&
	kill -CONT "$(daemon_pid deis-proxy)" &&
	test_wait_for 30 served 3 1 &&
	tail -c +$((mark + 1)) "$SLOG" | grep "web.2: the routers no longer send to it" &&
	deis_service_start redis &&
	load_done
'

# Neither record answers: PostgreSQL stopped (Redis killed) while the
# container waits for a router that lags.  Not known is not "go".
test_expect_success 'Redis and PostgreSQL down while a container waits for the router: it keeps running, and the log says why' '
	test_when_finished "deis_service_start redis" &&
	test_when_finished "postgres_start >/dev/null" &&
	test_when_finished "kill -CONT \$(daemon_pid deis-proxy)" &&
	echo web=2 >"$A/$APP/formation" &&
	test_wait_for 30 served 3 2 &&
	deis_service_stop redis &&
	web2=$(instance web.2) &&
	mark=$(stat -c %s "$SLOG") &&
	kill -STOP "$(daemon_pid deis-proxy)" &&
	echo web=1 >"$A/$APP/formation" &&
	: a reload resyncs at once &&
	kill -HUP "$(daemon_pid deis-scheduler)" &&
	test_wait_for 20 eval "test \"\$(row_state $web2)\" = stopping" &&
	postgres_stop >/dev/null &&
	test_wait_for 20 eval "tail -c +$((mark + 1)) \"\$SLOG\" |
		grep -q \"web.2: kept running .*the routers. state is not known (PostgreSQL: \"" &&
	deis_containers $APP | grep -x "$web2" &&
	postgres_start >/dev/null &&
	kill -CONT "$(daemon_pid deis-proxy)" &&
	test_wait_for 60 served 3 1 &&
	tail -c +$((mark + 1)) "$SLOG" | grep "web.2: the routers no longer send to it"
'

# Routers on other nodes, as rows of their own: one whose heartbeat is
# current and that has applied nothing of the app yet, one whose
# heartbeat is an hour old (gone: it counts no more).
test_expect_success 'several routers: a container goes once every live router has applied the change' '
	test_when_finished "deis_psql \"DELETE FROM routers WHERE name IN ('"'other', 'gone'"')\"" &&
	test_when_finished "deis_conf_restore; kill -HUP \$(daemon_pid deis-scheduler)" &&
	test_when_finished load_kill &&
	echo web=2 >"$A/$APP/formation" &&
	test_wait_for 30 served 3 2 &&
	deis_conf_add "scheduler_proxy_wait = 1" &&
	kill -HUP "$(daemon_pid deis-scheduler)" &&
	deis_psql "INSERT INTO routers (name, ttl) VALUES ('"'other'"', 300);
		INSERT INTO routers (name, ttl, seen) VALUES ('"'gone'"', 15, now() - interval '"'1 hour'"')" &&
	deis_load_start 300 $APP /ping &&
	sleep 1 &&
	web2=$(instance web.2) &&
	mark=$(stat -c %s "$SLOG") &&
	echo web=1 >"$A/$APP/formation" &&
	test_wait_for 20 eval "tail -c +$((mark + 1)) \"\$SLOG\" |
		grep -q \"web.2: kept running .*router other has applied serial 0 \"" &&
	deis_containers $APP | grep -x "$web2" &&
	applied_by other &&
	test_wait_for 30 served 3 1 &&
	tail -c +$((mark + 1)) "$SLOG" | grep "web.2: the routers no longer send to it" &&
	load_done
'

# A destroyed app is routed nowhere: a container of it that waits for a
# router to apply its last change goes with the app, without waiting for
# a record that will never come (the app's rows are gone with it).
test_expect_success 'destroying the app while a router lags: its containers go at once' '
	test_when_finished "deis_psql \"DELETE FROM routers WHERE name = '"'other'"'\"" &&
	test_when_finished "deis_conf_restore; kill -HUP \$(daemon_pid deis-scheduler)" &&
	echo web=2 >"$A/$APP/formation" &&
	test_wait_for 30 served 3 2 &&
	deis_conf_add "scheduler_proxy_wait = 1" &&
	kill -HUP "$(daemon_pid deis-scheduler)" &&
	deis_psql "INSERT INTO routers (name, ttl) VALUES ('"'other'"', 300)" &&
	mark=$(stat -c %s "$SLOG") &&
	echo web=1 >"$A/$APP/formation" &&
	test_wait_for 20 eval "tail -c +$((mark + 1)) \"\$SLOG\" |
		grep -q \"web.2: kept running .*router other has applied serial 0 \"" &&
	cat timings &&
	deis_app_destroy $APP
'

test_expect_success 'cleanup: the key' '
	deis_keys_remove $USER_
'


test_done
