#!/bin/bash
test_description='deis-proxy: no request fails during a deploy, a scale-down, a restart or a crash, under load'
. "$(dirname "$0")/../lib.sh"

# The scheduler's side is played by the test, as the contract says
# (docs/proxy.md): a new instance is recorded "up" only once it serves;
# an old one is first recorded "stopping" (the app's serial bumped, the
# event published), and only once deis-proxy has applied that serial
# (deis:proxy:applied:<router>) is it sent SIGTERM.  ab runs all along; not one of
# its requests may fail or get anything but a 200.

APP=pxz
HTTP=$DEIS_HTTP_PORT

backend() {	# PORT NAME
	setsid python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        # The whole response in one write, as a real server sends a small
        # one: a kill lands before it (nginx retries on another) or after
        # it, never between headers and body (a cut response no proxy
        # could retry, since the client has its headers already).
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 128
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$1" </dev/null >/dev/null 2>&1 &
	echo $! >"$TRASH_DIRECTORY/$2.pid"
	test_wait_for 5 curl -sf -o /dev/null "http://127.0.0.1:$1/"
}

backend_kill() {	# NAME [SIGNAL]
	local pid
	read -r pid <"$TRASH_DIRECTORY/$1.pid" 2>/dev/null || return 0
	kill -"${2:-TERM}" "$pid" 2>/dev/null || :
	rm -f "$TRASH_DIRECTORY/$1.pid"
}

row() {	# INSTANCE NAME STATE PORT
	deis_psql "INSERT INTO containers (app_id, name, type, number, instance, state, release, node, port)
		SELECT id, '$2', 'web', split_part('$2', '.', 2)::int, '$1', '$3', 1, 'node1', $4
		FROM apps WHERE name = '$APP'
		ON CONFLICT (instance) DO UPDATE SET state = EXCLUDED.state, port = EXCLUDED.port"
}

unrow() { deis_psql "DELETE FROM containers WHERE instance = '$1'"; }

changed() {
	deis_psql "UPDATE apps SET serial = serial + 1 WHERE name = '$APP'" &&
	deis_redis PUBLISH deis:events "app $APP" >/dev/null
}

# This router's record in Redis: deis-proxy's proxy_name, or the host name.
ROUTER=$(conf_get "$DEIS_CONF" proxy_name 2>/dev/null | grep . || hostname)

is_applied() {
	[ "$(deis_redis HGET "deis:proxy:applied:$ROUTER" $APP)" -ge \
	  "$(deis_psql "SELECT serial FROM apps WHERE name = '$APP'")" ] 2>/dev/null
}

# What the scheduler does after each change it records.
commit() { changed && test_wait_for 10 is_applied; }

# What the scheduler does to retire an instance: record it stopping, wait
# until deis-proxy has applied that, stop its process, remove its row.
retire() {	# INSTANCE NAME PORT BACKEND
	row "$1" "$2" stopping "$3" &&
	commit &&
	backend_kill "$4" &&
	unrow "$1" &&
	commit
}

P=()
for i in 1 2 3 4 5 6; do P[i]=$(free_port "${P[@]}"); done

test_expect_success 'setup: an app with web.1 and web.2 up' '
	mkdir "$DEIS_MOUNT/apps/$APP" &&
	backend "${P[1]}" a1 &&
	backend "${P[2]}" a2 &&
	row $APP.web.1.1 web.1 up "${P[1]}" &&
	row $APP.web.2.2 web.2 up "${P[2]}" &&
	commit &&
	curl -sf -H "Host: $APP.localhost" "http://127.0.0.1:$HTTP/"
'

test_expect_success 'a deploy, a scale-down, a restart and a crash under load: no request fails' '
	deis_load_start 12 $APP &&
	sleep 1 &&

	: deploy: new instances start, get routed, then the old ones go &&
	backend "${P[3]}" b1 &&
	backend "${P[4]}" b2 &&
	row $APP.web.1.3 web.1 starting "${P[3]}" &&
	row $APP.web.2.4 web.2 starting "${P[4]}" &&
	commit &&
	row $APP.web.1.3 web.1 up "${P[3]}" &&
	row $APP.web.2.4 web.2 up "${P[4]}" &&
	commit &&
	row $APP.web.1.1 web.1 stopping "${P[1]}" &&
	row $APP.web.2.2 web.2 stopping "${P[2]}" &&
	commit &&
	backend_kill a1 &&
	backend_kill a2 &&
	unrow $APP.web.1.1 &&
	unrow $APP.web.2.2 &&
	commit &&
	sleep 1 &&

	: scale down to web=1 &&
	retire $APP.web.2.4 web.2 "${P[4]}" b2 &&
	sleep 1 &&

	: restart web.1: a new instance beside the old one, then the old one goes &&
	backend "${P[5]}" c1 &&
	row $APP.web.1.5 web.1 up "${P[5]}" &&
	commit &&
	retire $APP.web.1.3 web.1 "${P[3]}" b1 &&
	sleep 1 &&

	: a routed container dies without warning: retried on the other &&
	backend "${P[6]}" d2 &&
	row $APP.web.2.6 web.2 up "${P[6]}" &&
	commit &&
	sleep 1 &&
	backend_kill c1 KILL &&
	sleep 1 &&
	row $APP.web.1.5 web.1 crashed "${P[5]}" &&
	commit &&

	deis_load_check
'

test_expect_success 'the router logged the requests, retries included' '
	test_wait_for 10 grep -q "$APP\[router\]: GET / 200 .*dyno=web.2" "$DEIS_MOUNT/apps/$APP/logs"
'

test_expect_success 'cleanup' '
	for b in a1 a2 b1 b2 c1 d2; do backend_kill $b || return 1; done &&
	deis_app_destroy $APP
'

test_done
