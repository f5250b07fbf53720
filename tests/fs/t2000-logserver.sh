#!/bin/bash
test_description='log server: rsyslog -> deis-logd -> Redis streams and per-app files; splitting, escaping, rate limits, restarts, drains, app removal'
. "$(dirname "$0")/../lib.sh"

SEND=$DEIS_BUILD/daemons/logd/deis-log-send
LOGS=$DEIS_HOME/logs
LOGD_LOG=$DEIS_LOGDIR/deis-logd.log
TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00'

# The entry IDs of a stream.
stream_ids() {	# APP [SOURCE]
	local key=deis:logs:$1
	[ -z "${2:-}" ] || key=$key:$2
	deis_redis --raw xrange "$key" - + | awk 'NR % 4 == 1'
}

# The lines of the app stream from SOURCE alone (deisfs adds its own
# "deis" lines, "root created x").
from() {	# APP SOURCE
	deis_log_stream "$1" | grep -F " $1[$2]: "
}

stream_count() {	# APP [SOURCE]
	deis_log_stream "$@" | wc -l
}

# Succeeds once the stream has at least N lines.
stream_has_at_least() {	# N APP [SOURCE]
	local n=$1
	shift
	[ "$(stream_count "$@")" -ge "$n" ]
}

logd_pid() {
	logd_pids | head -n 1
}

# Drains may not point at loopback or this host: the drains of these tests
# listen in a network namespace of the script's own.
deis_peer_ns_add || echo "# could not make a network namespace: the drain tests will fail"

# A syslog drain for the tests, in the peer namespace: appends what it
# receives to FILE; with a certificate and key, over TLS.  Prints its pid.
listen() {	# PORT FILE [CERT KEY]
	deis_listen --peer "$DEIS_PEER_ADDR" "$@"
}

test_expect_success 'rsyslog and deis-logd are running, on a root-only socket' '
	rsyslog_running &&
	test -S "$DEIS_SYSLOG_SOCKET" &&
	test "$(conf_get "$DEIS_CONF" syslog_socket)" = "$DEIS_SYSLOG_SOCKET" &&
	test "$(stat -c "%U %a" "${DEIS_SYSLOG_SOCKET%/*}")" = "root 700" &&
	test -x "$SEND"
'

# deis-logd reads its settings at start: these tests keep more lines (to
# count a flood) and trust a test CA for TLS drains.
CA=$DEIS_HOME/t2000-ca.pem
CAKEY=$DEIS_HOME/t2000-ca.key

test_expect_success 'setup: apps, settings' '
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$CAKEY" -out "$CA" -days 1 \
		-subj "/CN=$DEIS_PEER_ADDR" -addext "subjectAltName=IP:$DEIS_PEER_ADDR" 2>/dev/null &&
	mkdir "$DEIS_MOUNT/apps/logx" "$DEIS_MOUNT/apps/logy" "$DEIS_MOUNT/apps/logz" &&
	deis_conf_add "log_retention_lines = 100000" "drain_ca_file = $CA" &&
	deis_logd_restart logz
'

test_expect_success 'a line reaches the app stream in the exact format' '
	deis_log_send logx web.1 "hello world" &&
	test_wait_for 5 deis_log_stream_has "hello world" logx &&
	from logx web.1 >actual &&
	test_line_count = 1 actual &&
	grep -Ex "$TS logx\[web\.1\]: hello world" actual
'

test_expect_success 'lines arrive in order, once each, with byte-offset IDs' '
	deis_log_send --count=300 logx web.1 "line" &&
	test_wait_for 10 deis_log_stream_has "line 300\$" logx &&
	sleep 0.5 &&
	from logx web.1 | sed -n "2,\$p" | sed -E "s/^$TS logx\[web\.1\]: //" >actual &&
	seq 1 300 | sed "s/^/line /" >expect &&
	test_cmp expect actual &&
	deis_log_stream logx >lines &&
	stream_ids logx >ids &&
	awk "{ print length(\$0) + 1 }" lines >sizes &&
	awk -F- "NR == 1 { off = \$1; if (off != 0) exit 1; next } { print \$1 }" ids >got &&
	awk "{ off += \$1; print off }" sizes | sed "\$d" >want &&
	test_cmp want got
'

test_expect_success 'the durable per-app file has every line' '
	test_wait_for 5 test -s "$LOGS/logx.log" &&
	test_wait_for 5 grep -q "logx\[web.1\]: line 300\$" "$LOGS/logx.log" &&
	grep -Ex "$TS logx\[web\.1\]: hello world" "$LOGS/logx.log" &&
	test "$(grep -c "logx\[web.1\]: line [0-9]*\$" "$LOGS/logx.log")" = 300
'

test_expect_success 'container and build lines also go to their own streams' '
	deis_log_send logy web.1 "from web" &&
	deis_log_send logy worker.2 "from worker" &&
	deis_log_send logy build.3 "compiling" &&
	deis_log_send logy router "GET / 200" &&
	deis_log_send logy deis "alice deployed v2" &&
	test_wait_for 5 deis_log_stream_has "alice deployed v2" logy &&
	deis_log_stream logy | grep -v "root created" | sed -E "s/^$TS //" >actual &&
	cat >expect <<-\EOF &&
	logy[web.1]: from web
	logy[worker.2]: from worker
	logy[builder]: compiling
	logy[router]: GET / 200
	logy[deis]: alice deployed v2
	EOF
	test_cmp expect actual &&
	deis_log_stream logy web.1 | sed -E "s/^$TS //" >actual &&
	echo "logy[web.1]: from web" >expect &&
	test_cmp expect actual &&
	deis_log_stream logy build.3 | sed -E "s/^$TS //" >actual &&
	echo "logy[builder]: compiling" >expect &&
	test_cmp expect actual &&
	test "$(stream_count logy router)" = 0 &&
	test "$(stream_count logy deis)" = 0
'

test_expect_success 'bad app or source names are refused everywhere' '
	test_must_fail deis_log_send Bad web.1 x 2>err &&
	python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
for app, src in ((b\"../etc\", b\"web.1\"), (b\"logz\", b\"../x\"), (b\"Logz\", b\"web.1\")):
    m = b\"<14>1 - h \" + app + b\" \" + src + b\" - - injected\"
    s.sendall(str(len(m)).encode() + b\" \" + m)
" "$DEIS_SYSLOG_SOCKET" &&
	deis_log_send logz web.1 "after bad" &&
	test_wait_for 5 deis_log_stream_has "after bad" logz &&
	test_path_is_missing "$LOGS/../etc.log" &&
	! deis_log_stream logz | grep -q injected &&
	test -z "$(deis_redis --raw keys "deis:logs:../*")" &&
	grep -q "injected" "$DEIS_LOGDIR/rsyslog-rejected.log"
'

test_expect_success 'a 25,000-byte line is split into 10,000-byte pieces' '
	head -c 25000 /dev/zero | tr "\0" "x" >big &&
	deis_log_send logz web.1 <big &&
	test_wait_for 5 stream_has_at_least 3 logz web.1 &&
	sleep 0.5 &&
	from logz web.1 | grep -v "after bad" | sed -E "s/^$TS logz\[web\.1\]: //" >pieces &&
	awk "{ print length(\$0) }" pieces >actual &&
	printf "10000\n10000\n5000\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'invalid UTF-8 and control characters are neutralised' '
	printf "bad \377\376 utf8 \033[2J\033]0;title\007 esc\r end\n" | deis_log_send --whole logz web.2 &&
	test_wait_for 5 stream_has_at_least 1 logz web.2 &&
	deis_log_stream logz web.2 >actual &&
	test_line_count = 1 actual &&
	iconv -f UTF-8 -t UTF-8 actual >/dev/null &&
	! grep -q "$(printf "\033")" actual &&
	! grep -q "$(printf "\007")" actual &&
	! grep -q "$(printf "\r")" actual &&
	grep -F "\\x1b[2J\\x1b]0;title\\x07 esc\\x0d end" actual &&
	test_wait_for 5 grep -q "logz\[web.2\]" "$LOGS/logz.log" &&
	grep "logz\[web.2\]" "$LOGS/logz.log" >file &&
	iconv -f UTF-8 -t UTF-8 file >/dev/null &&
	! grep -q "$(printf "\033")" file &&
	test_cmp actual file
'

test_expect_success 'a message that looks like a frame is text of its producer' '
	printf "58 <14>1 - h logx deis - - forged\nlogx[deis]: forged too\n" | deis_log_send --whole logz web.4 &&
	test_wait_for 5 deis_log_stream_has "forged too" logz web.4 &&
	deis_log_stream logz web.4 | sed -E "s/^$TS //" >actual &&
	cat >expect <<-\EOF &&
	logz[web.4]: 58 <14>1 - h logx deis - - forged
	logz[web.4]: logx[deis]: forged too
	EOF
	test_cmp expect actual &&
	! deis_log_stream logx | grep forged
'

test_expect_success 'a multi-line message becomes one line each' '
	printf "Traceback:\n  File x\n\nError: boom\n" | deis_log_send --whole logz worker.1 &&
	test_wait_for 5 stream_has_at_least 4 logz worker.1 &&
	deis_log_stream logz worker.1 | sed -E "s/^$TS //" >actual &&
	cat >expect <<-\EOF &&
	logz[worker.1]: Traceback:
	logz[worker.1]:   File x
	logz[worker.1]: 
	logz[worker.1]: Error: boom
	EOF
	test_cmp expect actual &&
	test_wait_for 5 grep -q "logz\[worker.1\]: Error: boom\$" "$LOGS/logz.log" &&
	grep "logz\[worker.1\]" "$LOGS/logz.log" | sed -E "s/^$TS //" >file &&
	test_cmp expect file
'

test_expect_success 'a flooding app is rate-limited, counted, and does not hold up others' '
	mkdir "$DEIS_MOUNT/apps/logflood" &&
	{ deis_log_send --count=50000 logflood web.1 "flood" & } &&
	sleep 0.3 &&
	t0=${EPOCHREALTIME/./} &&
	deis_log_send logx web.1 "not delayed" &&
	test_wait_for 10 deis_log_stream_has "not delayed" logx &&
	t1=${EPOCHREALTIME/./} &&
	wait &&
	echo "other app line after $(( (t1 - t0) / 1000 )) ms" &&
	test $((t1 - t0)) -lt 5000000 &&
	test_wait_for 15 deis_log_stream_has "logflood\[deis\]: dropped [0-9]+ lines \(rate limit\)" logflood &&
	sleep 2 &&
	stored=$(deis_log_stream logflood | grep -c "logflood\[web.1\]: flood") &&
	dropped=$(deis_log_stream logflood | sed -nE "s/.*\[deis\]: dropped ([0-9]+) lines \(rate limit\)\$/\1/p" | awk "{ n += \$1 } END { print n + 0 }") &&
	echo "stored $stored dropped $dropped" &&
	test "$stored" -lt 50000 &&
	test "$dropped" -gt 0 &&
	test $((stored + dropped)) = 50000 &&
	test_wait_for 10 grep -qE "logflood\[deis\]: dropped [0-9]+ lines \(rate limit\)\$" "$LOGS/logflood.log" &&
	infile=$(grep -c "logflood\[web.1\]: flood" "$LOGS/logflood.log") &&
	echo "in the file: $infile" &&
	test "$infile" = "$stored"
'

test_expect_success 'killing deis-logd loses nothing and stores nothing twice' '
	pid=$(logd_pid) &&
	test -n "$pid" &&
	{ deis_log_send --count=4000 logy web.3 "survive" & } &&
	sleep 0.05 &&
	kill -9 "$pid" &&
	wait &&
	{ test_wait_for 60 stream_has_at_least 4000 logy web.3 ||
	  { echo "only $(stream_count logy web.3) lines; in the file: $(grep -c "survive" "$LOGS/logy.log")"; false; }; } &&
	sleep 1 &&
	deis_log_stream logy web.3 | sed -E "s/^$TS logy\[web\.3\]: //" >actual &&
	seq 1 4000 | sed "s/^/survive /" >expect &&
	test_cmp expect actual &&
	test_wait_for 10 grep -q "logy\[web.3\]: survive 4000\$" "$LOGS/logy.log" &&
	grep "logy\[web.3\]: survive " "$LOGS/logy.log" | sed -E "s/^$TS logy\[web\.3\]: //" >file &&
	test_cmp expect file &&
	newpid=$(logd_pid) &&
	test -n "$newpid" &&
	test "$newpid" != "$pid"
'

test_expect_success 'after FLUSHALL, offsets continue above the old end' '
	last=$(stream_ids logx | tail -n 1) &&
	lastline=$(deis_log_stream logx | tail -n 1) &&
	old_end=$(( ${last%-*} + ${#lastline} + 1 )) &&
	deis_redis flushall >/dev/null &&
	deis_log_send logx web.1 "after flush" &&
	test_wait_for 5 deis_log_stream_has "after flush" logx &&
	id=$(stream_ids logx | head -n 1) &&
	echo "old end $old_end, new id $id" &&
	test "${id%-*}" -ge "$old_end"
'

test_expect_success 'a syslog:// drain receives the app lines as RFC 5424' '
	port=$(free_port) &&
	lp=$(listen "$port" drained) &&
	echo "$lp" >listener.pid &&
	test_when_finished "kill \$(cat listener.pid)" &&
	test_wait_for 20 test -e drained.ready &&
	echo "syslog://$DEIS_PEER_ADDR:$port" >"$DEIS_MOUNT/apps/logx/drains" &&
	test_wait_for 10 grep -q "app logx: drain syslog://$DEIS_PEER_ADDR:$port added" "$LOGD_LOG" &&
	deis_log_send logx web.1 "to the drain" &&
	deis_log_send logx router "GET /drain 200" &&
	test_wait_for 10 grep -q "GET /drain 200" drained &&
	cat drained &&
	grep -aEq "[0-9]+ <14>1 $TS [^ ]+ logx web\.1 - - to the drain" drained &&
	grep -aEq "[0-9]+ <14>1 $TS [^ ]+ logx router - - GET /drain 200" drained &&
	python3 - drained <<-\EOF
	import sys
	data = open(sys.argv[1], "rb").read()
	i = 0
	while i < len(data):
	    sp = data.index(b" ", i)
	    n = int(data[i:sp])
	    frame = data[sp + 1:sp + 1 + n]
	    assert frame.startswith(b"<14>1 "), frame
	    assert len(frame) == n, (len(frame), n)
	    i = sp + 1 + n
	EOF
'

test_expect_success 'a syslog+tls:// drain receives the lines over verified TLS' '
	port=$(free_port) &&
	lp=$(listen "$port" tlsdrained "$CA" "$CAKEY") &&
	test_when_finished "kill $lp" &&
	test_wait_for 20 test -e tlsdrained.ready &&
	echo "syslog+tls://$DEIS_PEER_ADDR:$port" >"$DEIS_MOUNT/apps/logz/drains" &&
	test_wait_for 10 grep -q "app logz: drain syslog+tls://$DEIS_PEER_ADDR:$port added" "$LOGD_LOG" &&
	deis_log_send logz web.1 "secret over tls" &&
	test_wait_for 10 grep -q "secret over tls" tlsdrained &&
	grep -aEq "[0-9]+ <14>1 $TS [^ ]+ logz web\.1 - - secret over tls" tlsdrained
'

test_expect_success 'a drain whose certificate does not verify gets nothing' '
	port=$(free_port) &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout key2.pem -out cert2.pem -days 1 \
		-subj "/CN=$DEIS_PEER_ADDR" -addext "subjectAltName=IP:$DEIS_PEER_ADDR" 2>/dev/null &&
	lp=$(listen "$port" untrusted cert2.pem key2.pem) &&
	test_when_finished "kill $lp" &&
	test_wait_for 20 test -e untrusted.ready &&
	cat "$DEIS_MOUNT/apps/logz/drains" >drains &&
	echo "syslog+tls://$DEIS_PEER_ADDR:$port" >>drains &&
	cp drains "$DEIS_MOUNT/apps/logz/drains" &&
	test_wait_for 10 grep -q "drain syslog+tls://$DEIS_PEER_ADDR:$port: TLS handshake: certificate" "$LOGD_LOG" &&
	deis_log_send logz web.1 "not for strangers" &&
	sleep 2 &&
	test_must_be_empty untrusted
'

test_expect_success 'rmdir deletes the app streams and its files, rotated ones too' '
	deis_log_send logy web.1 "last words" &&
	test_wait_for 5 deis_log_stream_has "last words" logy web.1 &&
	test -n "$(deis_redis --raw keys "deis:logs:logy*")" &&
	test_path_is_file "$LOGS/logy.log" &&
	echo "an older file" >"$LOGS/logy.log.1" &&
	echo "an older file, past log_file_keep" >"$LOGS/logy.log.7" &&
	rmdir "$DEIS_MOUNT/apps/logy" &&
	test_wait_for 10 eval "test -z \"\$(deis_redis --raw keys \"deis:logs:logy*\")\"" &&
	test_wait_for 10 test_path_is_missing "$LOGS/logy.log" &&
	test_path_is_missing "$LOGS/logy.log.1" &&
	test_path_is_missing "$LOGS/logy.log.7" &&
	test -n "$(deis_redis --raw keys "deis:logs:logx")"
'

test_expect_success 'a new app of the same name starts a new file' '
	mkdir "$DEIS_MOUNT/apps/logy" &&
	deis_log_send logy web.1 "reborn" &&
	test_wait_for 5 grep -q "reborn" "$LOGS/logy.log" &&
	! grep -q "from web" "$LOGS/logy.log"
'

test_expect_success 'cleanup' '
	deis_conf_restore &&
	deis_logd_restart logz &&
	deis_app_destroy logx logy logz logflood &&
	rm -f "$CA" "$CAKEY"
'

test_done
