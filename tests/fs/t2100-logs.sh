#!/bin/bash
test_description='logs in the tree: cat, tail -f, tail -n, trimming, per-container and per-build logs, drains'
. "$(dirname "$0")/../lib.sh"

APP="$DEIS_MOUNT/apps/lgs"

# put_line STREAM TEXT: append one line to a log stream as the log server
# does (entry ID = byte offset), bypassing rsyslog to test the tree alone
put_line() {
	local key=$1 line="$2"$'\n' end
	end=$(deis_redis XREVRANGE "$key" + - COUNT 1 | { read -r id || id=; read -r _f; IFS= read -r l; if [ -n "$id" ]; then echo $(( ${id%-*} + ${#l} + 1 )); else echo 0; fi; })
	deis_redis XADD "$key" "$end-1" l "$line" >/dev/null
}

ts() {
	date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00
}

# The platform's own first line ("root created lgs") comes through the log
# server: it is waited for (in Redis: the tree must not have read the file
# yet), then dropped, so that the stream is the test's alone.
stream_has_created() {
	deis_redis --raw XRANGE deis:logs:lgs - + | grep -q "lgs\[deis\]: root created lgs"
}

test_expect_success 'setup' '
	mkdir "$APP" &&
	test_wait_for 10 stream_has_created &&
	deis_redis DEL deis:logs:lgs >/dev/null
'

test_expect_success 'logs is empty, then shows lines in order with true size' '
	test_must_be_empty "$APP/logs" &&
	for i in 1 2 3; do
		put_line deis:logs:lgs "$(ts) lgs[web.1]: hello $i" || return 1
	done &&
	cat "$APP/logs" >actual &&
	test_line_count = 3 actual &&
	grep -q "lgs\[web.1\]: hello 1\$" actual &&
	tail -n 1 actual | grep -q "hello 3\$" &&
	test "$(stat -c %s "$APP/logs")" = "$(wc -c <actual)"
'

test_expect_success 'ls -l shows the time of the last line' '
	put_line deis:logs:lgs "2030-01-02T03:04:05.000000+00:00 lgs[web.1]: future" &&
	test "$(stat -c %Y "$APP/logs")" = "$(date -d 2030-01-02T03:04:05Z +%s)"
'

test_expect_success 'tail -n 2 reads the last lines' '
	tail -n 2 "$APP/logs" >actual &&
	test_line_count = 2 actual &&
	tail -n 1 actual | grep -q "future\$"
'

test_expect_success 'tail -f shows a new line within a second, once, whole' '
	{ tail -f "$APP/logs" >tailed 2>&1 & } &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null || true" &&
	test_wait_for 2 test -s tailed &&
	put_line deis:logs:lgs "$(ts) lgs[web.1]: followed" &&
	test_wait_for 1.5 grep -q "followed\$" tailed &&
	put_line deis:logs:lgs "$(ts) lgs[web.2]: again" &&
	test_wait_for 1.5 grep -q "again\$" tailed &&
	test "$(grep -c followed tailed)" = 1 &&
	! grep -q "truncated" tailed
'

test_expect_success 'trimming old lines never breaks a running tail -f' '
	{ tail -f "$APP/logs" >tailed2 2>&1 & } &&
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null || true" &&
	test_wait_for 2 test -s tailed2 &&
	n=$(deis_redis XLEN deis:logs:lgs) &&
	deis_redis XTRIM deis:logs:lgs MAXLEN 1 >/dev/null &&
	put_line deis:logs:lgs "$(ts) lgs[web.1]: after trim" &&
	test_wait_for 1.5 grep -q "after trim\$" tailed2 &&
	! grep -q "truncated" tailed2 &&
	cat "$APP/logs" >actual &&
	test_line_count = 2 actual
'

test_expect_success 'the size only grows while old lines are trimmed; cat reads what is kept' '
	s1=$(stat -c %s "$APP/logs") &&
	put_line deis:logs:lgs "$(ts) lgs[web.1]: a rather long line to trim away later" &&
	deis_redis XTRIM deis:logs:lgs MAXLEN 1 >/dev/null &&
	put_line deis:logs:lgs "$(ts) lgs[web.1]: grow" &&
	s2=$(stat -c %s "$APP/logs") &&
	test "$s2" -gt "$s1" &&
	cat "$APP/logs" >actual &&
	test_line_count = 2 actual &&
	tail -n 1 actual | grep -q "grow\$" &&
	grep -c . actual >n && test "$(cat n)" = 2
'

test_expect_success 'containers/<name>/ shows what the scheduler records, and its own log' '
	deis_psql "INSERT INTO containers (app_id, name, type, number, instance, state, release, node, port, started)
		SELECT id, '"'"'web.1'"'"', '"'"'web'"'"', 1, '"'"'lgs.web.1.1'"'"', '"'"'up'"'"', 1, '"'"'node1'"'"', 31001, now()
		FROM apps WHERE name = '"'"'lgs'"'"';
		UPDATE apps SET serial = serial + 1 WHERE name = '"'"'lgs'"'"'" &&
	deis_redis publish deis:events "app lgs" >/dev/null &&
	test_wait_for 10 test -d "$APP/containers/web.1" &&
	ls "$APP/containers/web.1" >actual &&
	printf "%s\n" address log node port release restarts started state >expect &&
	test_cmp expect actual &&
	echo up >expect && test_cmp expect "$APP/containers/web.1/state" &&
	echo 31001 >expect && test_cmp expect "$APP/containers/web.1/port" &&
	put_line deis:logs:lgs:web.1 "$(ts) lgs[web.1]: mine" &&
	cat "$APP/containers/web.1/log" >actual &&
	test_line_count = 1 actual &&
	grep -q "mine\$" actual
'

test_expect_success 'builds/<n>/log is the build stream' '
	deis_psql "INSERT INTO builds (app_id, number, owner, commit, status)
		SELECT id, 1, '"'"'root'"'"', '"'"'abc'"'"', '"'"'succeeded'"'"' FROM apps WHERE name = '"'"'lgs'"'"';
		UPDATE apps SET serial = serial + 1 WHERE name = '"'"'lgs'"'"'" &&
	deis_redis publish deis:events "app lgs" >/dev/null &&
	test_wait_for 10 test -d "$APP/builds/1" &&
	put_line deis:logs:lgs:build.1 "$(ts) lgs[builder]: -----> Building" &&
	grep -q "Building\$" "$APP/builds/1/log"
'

test_expect_success 'logs are read-only' '
	test_must_fail bash -c "echo x >>\"$APP/logs\"" &&
	test_must_fail bash -c "echo x >\"$APP/containers/web.1/log\""
'

# A drain must point away from this host: at a namespace of our own (no
# listener there: nothing is sent anywhere).
deis_peer_ns_add || echo "# could not make a network namespace: the drain test will fail"

test_expect_success 'drains: URLs stored one per line; bad ones refused' '
	printf "syslog://$DEIS_PEER_ADDR:5140\nsyslog+tls://$DEIS_PEER_ADDR:6514\n" >"$APP/drains" &&
	printf "syslog://$DEIS_PEER_ADDR:5140\nsyslog+tls://$DEIS_PEER_ADDR:6514\n" >expect &&
	test_cmp expect "$APP/drains" &&
	test "$(deis_psql "SELECT count(*) FROM drains d JOIN apps a ON a.id = d.app_id WHERE a.name = '"'"'lgs'"'"'")" = 2 &&
	for bad in "http://x.com:80" "syslog://x.com" "syslog://x.com:99999" "syslog://x.com:514/path" "syslog://x;id:514" \
		"syslog://127.0.0.1:5140" "syslog://localhost:5140"; do
		test_must_fail bash -c "echo \"$bad\" >\"$APP/drains\"" 2>err &&
		grep "Invalid argument" err &&
		test_cmp expect "$APP/drains" || return 1
	done
'

test_expect_success 'rmdir deletes the app and its log streams' '
	rm -rf "$APP" &&
	test "$(deis_redis EXISTS deis:logs:lgs)" = 0 &&
	test "$(deis_redis EXISTS deis:logs:lgs:web.1)" = 0 &&
	test "$(deis_redis EXISTS deis:logs:lgs:build.1)" = 0
'

test_expect_success 'every change and every refusal is a platform line in the app log' '
	P="$DEIS_MOUNT/apps/lgp" &&
	mkdir "$P" &&
	echo -n 1 >"$P/config/X" &&
	echo "web=2" >"$P/formation" &&
	test_must_fail bash -c "echo web=abc >\"$P/formation\"" &&
	test_wait_for 3 grep -q "lgp\[deis\]: root added X (v2)\$" "$P/logs" &&
	test_wait_for 3 grep -q "lgp\[deis\]: root scaled web=2\$" "$P/logs" &&
	test_wait_for 3 grep -q "lgp\[deis\]: root: refused: formation: .web=abc.: quantity" "$P/logs" &&
	grep -E "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00 lgp\[deis\]: " "$P/logs" >lines &&
	test "$(wc -l <lines)" = "$(wc -l <"$P/logs")" &&
	rmdir "$P"
'

test_expect_success 'cleanup' '
	deis_app_destroy lgs lgp
'

test_done
