#!/bin/bash
test_description='two routers (deis-proxy + nginx each, as on two nodes): a container goes only once both let it go; a router lost is waited for until its heartbeat expires; a deploy through both loses no request'
. "$(dirname "$0")/../lib.sh"

# Router a is the platform's own deis-proxy (its heartbeat lasts
# proxy_heartbeat_ttl + proxy_reload_timeout = 45 s in PostgreSQL by
# default); router b is a second deis-proxy with a home (BHOME), a port
# and a name (BNAME) of its own, and a shorter heartbeat (10 + 2 s),
# started here.  Of two routers at the same serial the scheduler names the
# first by name: b's sorts before any host name.
BHOME=$TRASH_DIRECTORY/b BNAME=0-tp-b
# Both read the same PostgreSQL and Redis, as the routers of two nodes
# do.  The scheduler stops a container taken out of the routes once every
# live router has applied the change (docs/proxy.md): ab runs through
# both routers, and not one request may fail or get anything but a 200.
A=$DEIS_MOUNT/apps APP=tp-hello USER_=deis-tpfay SLOG=$DEIS_LOGDIR/deis-scheduler.log

a_name() { conf_get "$DEIS_CONF" proxy_name 2>/dev/null | grep . || hostname; }

get() {	# PORT
	curl -fsS --max-time 5 -H "Host: $APP.$DEIS_DOMAIN" "http://127.0.0.1:$1/"
}

# Both routers answer DEBUG=VALUE eight times in a row each, and COUNT
# web containers run: the value is served everywhere, the old ones gone.
served() {	# VALUE COUNT
	local k p
	for p in "$DEIS_HTTP_PORT" "$BPORT"; do
		for k in 1 2 3 4 5 6 7 8; do
			get "$p" 2>/dev/null | grep -q "DEBUG=$1\$" || return 1
		done
	done
	[ "$(deis_containers $APP | grep -c "^$APP\.web\.")" = "$2" ]
}

mount_shows() {	# COUNT
	[ "$(ls -d "$A/$APP"/containers/web.* 2>/dev/null | wc -l)" = "$1" ] &&
	[ "$(cat "$A/$APP"/containers/web.*/state | sort -u)" = up ]
}

instance() { deis_containers $APP | grep "^$APP\.$1\."; }
# Router b's record in PostgreSQL is at the app's current serial.
b_routes_current() {
	local serial
	serial=$(deis_psql "SELECT serial FROM apps WHERE name = '$APP'") &&
	test "$(deis_psql "SELECT ra.serial >= $serial FROM router_applied ra
		JOIN apps a ON a.id = ra.app_id
		WHERE a.name = '$APP' AND ra.router = '$BNAME'")" = t
}
row_state() { deis_psql "SELECT state FROM containers WHERE instance = '$1'"; }
live_routers() {
	deis_psql "SELECT string_agg(name, ' ' ORDER BY name) FROM routers
		WHERE seen > clock_timestamp() - ttl * interval '1 second'"
}

# ab through the router on PORT for up to 300 s, in the background, as
# NAME; load_done NAME stops it and checks every request got a 200.
load_start() {	# NAME PORT
	ab -q -t 300 -n 1000000 -c 4 -s 10 -H "Host: $APP.$DEIS_DOMAIN" \
		"http://127.0.0.1:$2/ping" >"$1.out" 2>&1 &
	echo $! >"$1.pid"
}
load_done() {	# NAME
	local pid
	read -r pid <"$1.pid" || return 1
	kill -INT "$pid" 2>/dev/null || :
	wait "$pid" 2>/dev/null || :
	rm -f "$1.pid"
	sed -n "s/^\(Complete\|Failed\) requests:/# $1: &/p" "$1.out" | tee -a numbers &&
	grep -E "^Complete requests: +[1-9][0-9]*$" "$1.out" &&
	grep -E "^Failed requests: +0$" "$1.out" &&
	! grep -E "^Non-2xx responses" "$1.out"
}
load_kill() {
	local n pid
	for n in "$@"; do
		! read -r pid <"$n.pid" 2>/dev/null || kill "$pid" 2>/dev/null
		rm -f "$n.pid"
	done
	return 0
}

# git push in the background; its status in push.st when it returns.
push_start() {
	{ deis_git_push $USER_ $APP src >/dev/null; echo $? >push.st; } &
}

# Router b: started in the background; its pid in b.pid, nginx's in
# $BHOME/run/nginx.pid.
b_start() {
	mkdir -p "$BHOME" && chmod 711 "$TRASH_DIRECTORY" "$BHOME" || return 1
	"$DEIS_PROXY" "--config=$DEIS_CONF" "--home=$BHOME" "--proxy_name=$BNAME" \
		"--http_port=$BPORT" --https_port=0 --proxy_heartbeat_ttl=10 \
		--proxy_reload_timeout=2 >>b.log 2>&1 &
	echo $! >b.pid
}
b_nginx() { cat "$BHOME/run/nginx.pid" 2>/dev/null; }
b_routing() { grep -q "nginx \(started\|reloaded\)" b.log 2>/dev/null; }
# Everything b made, by pid: deis-proxy, then its nginx (SIGQUIT: the
# master ends its workers), then its records.
b_stop() {
	local pid
	if read -r pid <b.pid 2>/dev/null; then
		kill "$pid" 2>/dev/null
		test_wait_for 20 eval "! kill -0 $pid 2>/dev/null"
		rm -f b.pid
	fi
	pid=$(b_nginx) && [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null &&
		test_wait_for 20 eval "! kill -0 $pid 2>/dev/null"
	deis_psql "DELETE FROM routers WHERE name = '$BNAME'" >/dev/null
	deis_redis del "deis:proxy:alive:$BNAME" "deis:proxy:applied:$BNAME" >/dev/null
	deis_redis srem deis:proxy:routers "$BNAME" >/dev/null
	return 0
}

# Router b goes however the script ends.
trap '_st=$?; b_stop >/dev/null 2>&1; (exit $_st); _test_on_exit' EXIT

test_expect_success 'setup: router b, and the hello app with web=2 served by both routers' '
	BPORT=$(free_port "$DEIS_HTTP_PORT" "$DEIS_HTTPS_PORT") &&
	echo "$BPORT" >bport &&
	b_start &&
	test_wait_for 30 b_routing &&
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	deis_git_push $USER_ $APP src &&
	: a scale-up, routed by both &&
	echo web=2 >"$A/$APP/formation" &&
	test_wait_for 30 mount_shows 2 &&
	test_wait_for 20 served "" 2
'
BPORT=$(cat bport 2>/dev/null)

test_expect_success 'both routers keep their own record, in PostgreSQL and in Redis' '
	printf "%s\n" "$(a_name)" "$BNAME" | sort | paste -sd " " >expect &&
	test_wait_for 10 eval "live_routers >live && test_cmp expect live" &&
	test "$(deis_redis exists "deis:proxy:alive:$BNAME")" = 1 &&
	test "$(deis_redis exists "deis:proxy:alive:$(a_name)")" = 1 &&
	serial=$(deis_psql "SELECT serial FROM apps WHERE name = '"'$APP'"'") &&
	test_wait_for 10 eval "test \"\$(deis_redis hget deis:proxy:applied:$BNAME $APP)\" = $serial" &&
	test_wait_for 10 eval "test \"\$(deis_redis hget deis:proxy:applied:$(a_name) $APP)\" = $serial" &&
	test "$(deis_redis ttl "deis:proxy:alive:$BNAME")" -le 10
'

test_expect_success 'a deploy under ab through both routers: not one request fails' '
	test_when_finished "load_kill ab-a ab-b" &&
	load_start ab-a "$DEIS_HTTP_PORT" &&
	load_start ab-b "$BPORT" &&
	sleep 1 &&
	t0=${EPOCHREALTIME/./} &&
	echo 1 >"$A/$APP/config/DEBUG" &&
	test_wait_for 60 served 1 2 &&
	t1=${EPOCHREALTIME/./} &&
	printf "# deploy: served by both routers, the old containers gone, %d ms after the write\n" \
		$(((t1 - t0) / 1000)) | tee -a numbers &&
	load_done ab-a &&
	load_done ab-b
'

# Router a frozen (SIGSTOP): it has not applied the scale-down, its nginx
# still sends to web.2, and its heartbeat stays current for 45 s.  Router b
# has applied it at once: the stop waits for the slower one.
test_expect_success 'a scale-down waits for the slower router: web.2 runs until router a applies it' '
	test_when_finished "kill -CONT \$(daemon_pid deis-proxy)" &&
	test_when_finished "deis_conf_restore; kill -HUP \$(daemon_pid deis-scheduler)" &&
	test_when_finished "load_kill ab-a ab-b" &&
	deis_conf_add "scheduler_proxy_wait = 1" &&
	kill -HUP "$(daemon_pid deis-scheduler)" &&
	load_start ab-a "$DEIS_HTTP_PORT" &&
	load_start ab-b "$BPORT" &&
	sleep 1 &&
	web2=$(instance web.2) &&
	mark=$(stat -c %s "$SLOG") &&
	kill -STOP "$(daemon_pid deis-proxy)" &&
	echo web=1 >"$A/$APP/formation" &&
	test_wait_for 20 eval "tail -c +$((mark + 1)) \"\$SLOG\" |
		grep -q \"web.2: kept running .*router .* has applied serial\"" &&
	: router b applies it: then only a holds it back &&
	test_wait_for 20 b_routes_current &&
	: the scheduler asks every 20 ms: a second for it to go wrongly &&
	sleep 1 &&
	deis_containers $APP | grep -x "$web2" &&
	test "$(row_state "$web2")" = stopping &&
	kill -CONT "$(daemon_pid deis-proxy)" &&
	test_wait_for 30 served 1 1 &&
	tail -c +$((mark + 1)) "$SLOG" | grep "web.2: the routers no longer send to it" |
		sed "s/^/# /" | tee -a numbers &&
	load_done ab-a &&
	load_done ab-b
'

# The same for a push: it returns once every live router routes the new
# release, and says which one it waits for.  Router a's heartbeat is made
# to outlast the build (proxy_heartbeat_ttl takes effect at SIGHUP).
test_expect_success 'a push waits for the slower router, says so, and returns once it routes the release' '
	test_when_finished "kill -CONT \$(daemon_pid deis-proxy)" &&
	test_when_finished "deis_conf_restore; kill -HUP \$(daemon_pid deis-proxy)" &&
	deis_conf_add "proxy_heartbeat_ttl = 300" &&
	kill -HUP "$(daemon_pid deis-proxy)" &&
	test_wait_for 20 eval "test \"\$(deis_psql \"SELECT ttl FROM routers
		WHERE name = '"'$(a_name)'"'\")\" -gt 300" &&
	echo "# two" >>src/app.py &&
	deis_git_commit src second &&
	rm -f push.out push.st &&
	kill -STOP "$(daemon_pid deis-proxy)" &&
	push_start &&
	test_wait_for 120 grep -q "Waiting for router " push.out &&
	: router b routes the release: then only a holds the push back &&
	test_wait_for 20 b_routes_current &&
	: the builder asks every 20 ms: a second for it to go wrongly &&
	sleep 1 &&
	test_path_is_missing push.st &&
	kill -CONT "$(daemon_pid deis-proxy)" &&
	test_wait_for 60 test -e push.st &&
	cat push.out &&
	test "$(cat push.st)" = 0 &&
	grep -- "-----> web\.[0-9]* up" push.out
'

# Router b behind (frozen), then lost with its node (deis-proxy
# SIGKILLed, its nginx gone): it is waited for until its heartbeat
# expires (10 + 2 s), not for ever.
test_expect_success 'a router lost is waited for until its heartbeat expires, then no more' '
	test_when_finished "deis_conf_restore; kill -HUP \$(daemon_pid deis-scheduler)" &&
	test_when_finished "load_kill ab-a" &&
	echo web=2 >"$A/$APP/formation" &&
	test_wait_for 30 served 1 2 &&
	deis_conf_add "scheduler_proxy_wait = 1" &&
	kill -HUP "$(daemon_pid deis-scheduler)" &&
	load_start ab-a "$DEIS_HTTP_PORT" &&
	sleep 1 &&
	web2=$(instance web.2) &&
	mark=$(stat -c %s "$SLOG") &&
	read -r pid <b.pid && kill -STOP "$pid" &&
	echo web=1 >"$A/$APP/formation" &&
	test_wait_for 20 eval "tail -c +$((mark + 1)) \"\$SLOG\" |
		grep -q \"web.2: kept running .*router $BNAME has applied serial\"" &&
	kill -KILL "$pid" && rm -f b.pid &&
	npid=$(b_nginx) && kill -QUIT "$npid" &&
	test_wait_for 20 eval "! kill -0 $npid 2>/dev/null" &&
	deis_containers $APP | grep -x "$web2" &&
	test_wait_for 30 eval "! deis_containers $APP | grep -qx \"$web2\"" &&
	tail -c +$((mark + 1)) "$SLOG" | grep "web.2: the routers no longer send to it" |
		sed "s/^/# /" | tee -a numbers &&
	test "$(live_routers)" = "$(a_name)" &&
	test "$(deis_redis exists "deis:proxy:alive:$BNAME")" = 0 &&
	load_done ab-a &&
	cat numbers
'

test_expect_success 'cleanup: router b, the app, the key' '
	b_stop &&
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
