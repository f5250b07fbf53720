#!/bin/bash
test_description='deis-proxy: routes, domains, TLS, maintenance, router log lines, validation, resync'
. "$(dirname "$0")/../lib.sh"

# Until the scheduler runs containers, the tests do what it does: a web
# process is a small HTTP server on a port of its own, recorded as a
# containers row; every change bumps the app's serial and publishes
# "app <name>" (docs/proxy.md, the contract with the scheduler).  The apps
# here have no build, so the scheduler has nothing to run for them.

APP=pxa
A="$DEIS_MOUNT/apps/$APP"
HTTP=$DEIS_HTTP_PORT
HTTPS=$DEIS_HTTPS_PORT
PLOG=$DEIS_LOGDIR/deis-proxy.log

# backend PORT NAME: an HTTP server answering "NAME PORT" (pid in NAME.pid).
backend() {
	setsid python3 -c '
import http.server, sys
port, name = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("%s %d host=%s\n" % (name, port, self.headers.get("Host"))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
' "$1" "$2" </dev/null >/dev/null 2>&1 &
	echo $! >"$TRASH_DIRECTORY/$2.pid"
	test_wait_for 5 curl -sf -o /dev/null "http://127.0.0.1:$1/"
}

backend_stop() {	# NAME
	local pid
	read -r pid <"$TRASH_DIRECTORY/$1.pid" 2>/dev/null || return 0
	kill "$pid" 2>/dev/null || :
	rm -f "$TRASH_DIRECTORY/$1.pid"
}

# row APP INSTANCE NAME STATE PORT: inserts or updates a container row.
row() {
	deis_psql "INSERT INTO containers (app_id, name, type, number, instance, state, release, node, port)
		SELECT id, '$3', split_part('$3', '.', 1), split_part('$3', '.', 2)::int, '$2', '$4', 1, 'node1', $5
		FROM apps WHERE name = '$1'
		ON CONFLICT (instance) DO UPDATE SET state = EXCLUDED.state, port = EXCLUDED.port"
}

# changed APP [quiet]: bumps the serial; publishes the event unless quiet.
changed() {
	deis_psql "UPDATE apps SET serial = serial + 1 WHERE name = '$1'" &&
	if [ "${2:-}" != quiet ]; then deis_redis PUBLISH deis:events "app $1" >/dev/null; fi
}

serial_of() { deis_psql "SELECT serial FROM apps WHERE name = '$1'"; }
# This router's record in Redis: deis-proxy's proxy_name, or the host name.
ROUTER=$(conf_get "$DEIS_CONF" proxy_name 2>/dev/null | grep . || hostname)
applied_of() { deis_redis HGET "deis:proxy:applied:$ROUTER" "$1"; }
is_applied() { [ "$(applied_of "$1")" -ge "$(serial_of "$1")" ] 2>/dev/null; }
wait_applied() { test_wait_for "${2:-5}" is_applied "$1"; }

# get HOST [PATH]: the status code and body through the router.
get() {
	curl -s --max-time 5 -H "Host: $1" -w '%{http_code}\n' "http://127.0.0.1:$HTTP${2:-/}"
}
code_is() {	# CODE HOST
	[ "$(curl -s -o /dev/null --max-time 5 -H "Host: $2" -w '%{http_code}' "http://127.0.0.1:$HTTP/")" = "$1" ]
}

proxy_log_mark() { stat -c %s "$PLOG" >"$TRASH_DIRECTORY/.plog-mark"; }
proxy_log_since() {
	local off
	read -r off <"$TRASH_DIRECTORY/.plog-mark"
	tail -c +"$((off + 1))" "$PLOG" | grep -E -- "$1"
}

P1=$(free_port) P2=$(free_port "$P1")

test_expect_success 'setup: the proxy and its nginx run' '
	proxy_running &&
	nginx_running &&
	mkdir "$A" &&
	backend "$P1" w1 &&
	backend "$P2" w2
'

test_expect_success 'an app with no web container answers 503 with our page' '
	wait_applied $APP &&
	get $APP.localhost >out &&
	tail -n 1 out >code && echo 503 >expect && test_cmp expect code &&
	grep "No web process running" out
'

test_expect_success 'an up web container is routed at <app>.<platform domain>' '
	row $APP $APP.web.1.1 web.1 up "$P1" &&
	changed $APP &&
	wait_applied $APP &&
	get $APP.localhost >out &&
	printf "w1 %s host=%s\n200\n" "$P1" "$APP.localhost" >expect &&
	test_cmp expect out
'

test_expect_success 'the url file leads there (a *.localhost name is loopback)' '
	url=$(cat "$A/url") &&
	case $HTTP in 80) port= ;; *) port=":$HTTP" ;; esac &&
	test "$url" = "http://$APP.localhost$port" &&
	curl -sf --max-time 5 "$url/" >out &&
	grep "^w1 " out &&
	curl -sf --max-time 5 "http://$APP.localhost:$HTTP/" >out &&
	grep "^w1 " out
'

test_expect_success 'requests spread over every web container that is up' '
	row $APP $APP.web.2.2 web.2 up "$P2" &&
	changed $APP &&
	wait_applied $APP &&
	for i in 1 2 3 4 5 6 7 8 9 10; do get $APP.localhost || return 1; done >out &&
	grep -q "^w1 " out &&
	grep -q "^w2 " out
'

test_expect_success 'containers that are starting, stopping or crashed get nothing' '
	for st in starting stopping crashed; do
		row $APP $APP.web.2.2 web.2 $st "$P2" &&
		changed $APP &&
		wait_applied $APP &&
		for i in 1 2 3 4 5 6; do get $APP.localhost || return 1; done >out &&
		! grep -q "^w2 " out || return 1
	done &&
	row $APP $APP.web.2.2 web.2 up "$P2" &&
	changed $APP &&
	wait_applied $APP
'

test_expect_success 'an unknown host name gets our 404 page' '
	get nosuchapp.localhost >out &&
	tail -n 1 out >code && echo 404 >expect && test_cmp expect code &&
	grep "No such app" out
'

test_expect_success 'a domain written to domains is routed; removing it stops that' '
	echo www.example.com >>"$A/domains" &&
	wait_applied $APP &&
	get www.example.com >out &&
	grep -E "^w[12] .*host=www.example.com$" out &&
	: >"$A/domains" &&
	wait_applied $APP &&
	code_is 404 www.example.com &&
	code_is 200 $APP.localhost
'

test_expect_success 'maintenance on: 503 with the maintenance page; off: routed again' '
	echo on >"$A/maintenance" &&
	wait_applied $APP &&
	get $APP.localhost >out &&
	tail -n 1 out >code && echo 503 >expect && test_cmp expect code &&
	grep "down for maintenance" out &&
	curl -sI --max-time 5 -H "Host: $APP.localhost" "http://127.0.0.1:$HTTP/" | grep -i "^retry-after: 60" &&
	echo off >"$A/maintenance" &&
	wait_applied $APP &&
	code_is 200 $APP.localhost
'

test_expect_success 'each request is a router line in the app log' '
	curl -sf -o /dev/null -H "Host: $APP.localhost" "http://127.0.0.1:$HTTP/router-probe?x=1" &&
	test_wait_for 10 grep -q "$APP\[router\]: GET /router-probe?x=1 200 bytes=[0-9]* time=[0-9]*ms dyno=web\.[12] host=$APP.localhost" "$A/logs"
'

test_expect_success 'certs/<domain>.pem serves TLS for that domain' '
	deis_make_cert good www.example.com 30 &&
	echo www.example.com >"$A/domains" &&
	cp good.pem "$A/certs/www.example.com.pem" &&
	wait_applied $APP &&
	curl -sf --max-time 5 --cacert good.crt --resolve "www.example.com:$HTTPS:127.0.0.1" \
		"https://www.example.com:$HTTPS/" >out &&
	grep -E "^w[12] .*host=www.example.com" out &&
	echo | openssl s_client -connect "127.0.0.1:$HTTPS" -servername www.example.com 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 >served &&
	openssl x509 -in good.crt -noout -fingerprint -sha256 >expect &&
	test_cmp expect served
'

test_expect_success 'TLS for a name with no certificate is refused at the handshake' '
	test_must_fail curl -s --max-time 5 -k --resolve "$APP.localhost:$HTTPS:127.0.0.1" \
		"https://$APP.localhost:$HTTPS/"
'

test_expect_success 'another app'"'"'s wildcard certificate never answers for a host without one' '
	mkdir "$DEIS_MOUNT/apps/pxw" &&
	deis_make_cert wild "*.example.net" 30 &&
	echo "*.example.net" >"$DEIS_MOUNT/apps/pxw/domains" &&
	cp wild.pem "$DEIS_MOUNT/apps/pxw/certs/*.example.net.pem" &&
	# The tree refuses a name under another app'"'"'s wildcard; a platform
	# that took one before it did may still hold such a pair.
	deis_psql "INSERT INTO domains (domain, app_id, position) SELECT '"'"'shop.example.net'"'"', id, 99 FROM apps WHERE name = '"'"'$APP'"'"'; UPDATE apps SET serial = serial + 1 WHERE name = '"'"'$APP'"'"'" &&
	deis_redis publish deis:events "app $APP" >/dev/null &&
	wait_applied $APP &&
	wait_applied pxw &&
	test_must_fail curl -s --max-time 5 -k --resolve "shop.example.net:$HTTPS:127.0.0.1" \
		"https://shop.example.net:$HTTPS/" >out &&
	! grep -q . out &&
	curl -s --max-time 5 -k --resolve "other.example.net:$HTTPS:127.0.0.1" \
		"https://other.example.net:$HTTPS/" -o /dev/null -w "%{http_code}\n" >code &&
	grep -x 503 code &&
	rm -rf "$DEIS_MOUNT/apps/pxw" &&
	echo www.example.com >"$A/domains"
'

test_expect_success 'a certificate a TLS server would refuse (1024-bit RSA) is refused at write' '
	openssl req -x509 -newkey rsa:1024 -nodes -keyout weak.key -out weak.crt -days 30 \
		-subj /CN=www.example.com -addext subjectAltName=DNS:www.example.com 2>/dev/null &&
	cat weak.crt weak.key >weak.pem &&
	test_must_fail cp weak.pem "$A/certs/www.example.com.pem" 2>err &&
	grep "Invalid argument" err &&
	cmp good.pem "$A/certs/www.example.com.pem"
'

test_expect_success 'bad certificates are refused at write with EINVAL and a reason' '
	deis_make_cert other www.other.org 30 &&
	deis_make_cert good2 www.example.com 30 &&
	cat good.crt good2.key >mismatch.pem &&
	deis_log_mark &&
	test_must_fail cp mismatch.pem "$A/certs/www.example.com.pem" 2>err &&
	grep "Invalid argument" err &&
	test_must_fail cp other.pem "$A/certs/www.example.com.pem" 2>err &&
	grep "Invalid argument" err &&
	deis_log_has_since_mark "certs/www.example.com.pem.*(match|cover)" &&
	cmp good.pem "$A/certs/www.example.com.pem"
'

test_expect_success 'domains that could inject nginx config are refused at write' '
	echo www.example.com >expect &&
	for bad in "x.com; include /etc/passwd" "x.com{" "x.com}" "\$host.com" "x.com/a" "a b.com"; do
		test_must_fail bash -c "printf \"%s\\n\" \"$bad\" >>\"$A/domains\"" 2>err &&
		grep "Invalid argument" err &&
		test_cmp expect "$A/domains" || return 1
	done &&
	test_must_fail bash -c "printf \"x.com\\ninclude.evil\\n;\\n\" >\"$A/domains\"" &&
	test_cmp expect "$A/domains"
'

test_expect_success 'the renderer validates again what it reads: bad rows are skipped, logged' '
	proxy_log_mark &&
	app_id=$(deis_psql "SELECT id FROM apps WHERE name = '"'$APP'"'") &&
	deis_psql "INSERT INTO domains (domain, app_id, position) VALUES
		('"'x.com; include /etc/passwd'"', $app_id, 10),
		(E'"'evil.com\\\\nlisten 1'"', $app_id, 11),
		('"'other.localhost'"', $app_id, 12)" &&
	row $APP $APP.web.9.9 web.9 up 0 &&
	changed $APP &&
	wait_applied $APP &&
	proxy_log_since "app $APP: domain .x.com; include /etc/passwd. is not a valid host name; skipped" &&
	proxy_log_since "app $APP: domain .evil.com.*skipped" &&
	proxy_log_since "app $APP: domain .other.localhost. is under the platform domain; skipped" &&
	proxy_log_since "app $APP: container $APP.web.9.9 is up with no valid port" &&
	! grep -e passwd -e evil -e other.localhost "$DEIS_HOME/proxy/nginx.conf" &&
	code_is 200 $APP.localhost &&
	code_is 200 www.example.com &&
	code_is 404 other.localhost &&
	deis_psql "DELETE FROM domains WHERE app_id = $app_id AND position >= 10;
		DELETE FROM containers WHERE instance = '"'$APP.web.9.9'"'" &&
	changed $APP &&
	wait_applied $APP
'

test_expect_success 'a lost event is made up at the next resync' '
	row $APP $APP.web.2.2 web.2 stopping "$P2" &&
	changed $APP quiet &&
	wait_applied $APP 15 &&
	for i in 1 2 3 4 5 6; do get $APP.localhost || return 1; done >out &&
	! grep -q "^w2 " out &&
	row $APP $APP.web.2.2 web.2 up "$P2" &&
	changed $APP quiet &&
	wait_applied $APP 15
'

test_expect_success 'a config nginx rejects is not installed; the last good one keeps serving' '
	cp "$DEIS_HOME/proxy/errors.conf" errors.conf.good &&
	cp "$DEIS_HOME/proxy/nginx.conf" nginx.conf.before &&
	test_when_finished "cp errors.conf.good \"$DEIS_HOME/proxy/errors.conf\"" &&
	echo "no_such_directive on;" >>"$DEIS_HOME/proxy/errors.conf" &&
	proxy_log_mark &&
	row $APP $APP.web.2.2 web.2 stopping "$P2" &&
	changed $APP &&
	test_wait_for 5 proxy_log_since "refused: nginx rejects the config: \[emerg\] unknown directive .no_such_directive." &&
	test_wait_for 5 proxy_log_since "last good config refused too" &&
	cmp nginx.conf.before "$DEIS_HOME/proxy/nginx.conf" &&
	! is_applied $APP &&
	for i in 1 2 3 4 5 6 7 8; do get $APP.localhost || return 1; done >out &&
	grep -q "^w2 " out &&
	cp errors.conf.good "$DEIS_HOME/proxy/errors.conf" &&
	wait_applied $APP 15 &&
	for i in 1 2 3 4 5 6; do get $APP.localhost || return 1; done >out &&
	! grep -q "^w2 " out
'

test_expect_success 'nginx killed with SIGKILL: its orphaned workers go, a new master routes' '
	read -r npid <"$DEIS_NGINX_PID" &&
	ps -o pid= --ppid "$npid" >workers &&
	test -s workers &&
	kill -KILL "$npid" &&
	test_wait_for 15 eval "nginx_running && test \"\$(cat \"$DEIS_NGINX_PID\")\" != $npid" &&
	test_wait_for 10 eval "! ps -o pid= -p \"\$(tr \"\\n\" , <workers | sed \"s/,\$//\")\" >/dev/null" &&
	test_wait_for 5 code_is 200 $APP.localhost
'

test_expect_success 'nginx stopped behind its back is started again' '
	read -r npid <"$DEIS_NGINX_PID" &&
	kill -TERM "$npid" &&
	test_wait_for 10 nginx_running &&
	test "$(cat "$DEIS_NGINX_PID")" != "$npid" &&
	test_wait_for 5 code_is 200 $APP.localhost
'

test_expect_success 'a restarted deis-proxy converges; nginx serves all along' '
	ppid=$(deis_service_pid deis-proxy) &&
	test_when_finished "deis_service_start deis-proxy" &&
	deis_service_stop deis-proxy &&
	! proc_alive "$ppid" &&
	code_is 200 $APP.localhost &&
	row $APP $APP.web.2.2 web.2 up "$P2" &&
	echo api.example.com >>"$A/domains" &&
	code_is 404 api.example.com &&
	proxy_start &&
	wait_applied $APP 10 &&
	code_is 200 api.example.com &&
	for i in 1 2 3 4 5 6 7 8 9 10; do get $APP.localhost || return 1; done >out &&
	grep -q "^w2 " out
'

test_expect_success 'destroying the app removes its routes and its applied serial' '
	rmdir "$A" &&
	test_wait_for 10 code_is 404 $APP.localhost &&
	test_wait_for 5 eval "test -z \"\$(applied_of $APP)\"" &&
	! grep -q "deis_app_$APP " "$DEIS_HOME/proxy/nginx.conf"
'

test_expect_success 'cleanup' '
	backend_stop w1 &&
	backend_stop w2 &&
	deis_app_destroy $APP pxw
'

test_done
