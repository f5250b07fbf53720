#!/bin/bash
test_description='the log server as a tenant sees it: no forged lines, no eviction, bounded durable logs, no drain into the platform'
. "$(dirname "$0")/../lib.sh"

# The attacker is a local user without root; the victim app is root's.
EVIL=deis-ulogevil
VICTIM=lsv
SEND=$DEIS_BUILD/daemons/logd/deis-log-send
LOGS=$DEIS_HOME/logs
LOGD_LOG=$DEIS_LOGDIR/deis-logd.log
SOCK=$DEIS_HOME/run/log/syslog.sock

# What the log server (rsyslogd) listens on: "tcp ADDR:PORT", "udp
# ADDR:PORT" or "unix PATH", one per line.
rsyslog_listeners() {
	local pid
	pid=$(rsyslog_pid) || return 1
	ss -Hlntup | awk -v p="pid=$pid," 'index($0, p) { print $1, $5 }'
	ss -Hlxp | awk -v p="pid=$pid," 'index($0, p) { print "unix", $5 }'
}

# Every way a local user might reach the log server: its listeners, the
# old syslog_port of the configuration if there is one, the socket path.
targets() {
	local port
	rsyslog_listeners | while read -r proto addr; do
		case $proto in
		tcp|udp) echo "$proto:$addr" ;;
		unix) echo "unix:$addr" ;;
		esac
	done
	port=$(conf_get "$DEIS_CONF" syslog_port 2>/dev/null) && echo "tcp:127.0.0.1:$port"
	echo "unix:$SOCK"
}

# The attacker's program: sends COUNT forged RFC 5424 messages for APP,
# under the sources a tenant would want to forge, to each TARGET; prints
# what each target did.
cat >"$TRASH_DIRECTORY/forge.py" <<-\EOF
	import socket, sys
	app, count, targets = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
	srcs = ["deis", "router", "web.1", "builder"]
	def frames():
	    for i in range(count):
	        m = ("<14>1 - evil %s %s - - forged by a tenant %d" % (app, srcs[i % 4], i)).encode()
	        yield str(len(m)).encode() + b" " + m
	for t in targets:
	    proto, addr = t.split(":", 1)
	    try:
	        if proto == "unix":
	            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	            s.connect(addr)
	        else:
	            host, port = addr.rsplit(":", 1)
	            host = host.strip("[]")
	            kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
	            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind)
	            s.settimeout(5)
	            s.connect((host, int(port)))
	        for f in frames():
	            s.sendall(f)
	        s.close()
	        print("%s: sent %d" % (t, count))
	    except OSError as e:
	        print("%s: %s" % (t, e.strerror or e))
	EOF
chmod 0644 "$TRASH_DIRECTORY/forge.py"

# Sends a line as root and waits for it: what was sent before it has been
# read by then.
root_marker() {	# TEXT
	deis_log_send "$VICTIM" web.9 "$1" &&
	test_wait_for 15 deis_log_stream_has "$1\$" "$VICTIM"
}

# No forged line anywhere: the victim's streams, any stream, any file.
nothing_forged() {
	local k
	for k in $(deis_redis --raw keys "deis:logs:*"); do
		if deis_redis --raw xrange "$k" - + | grep -q "forged by a tenant"; then
			echo "forged lines in $k:"
			deis_redis --raw xrange "$k" - + | grep "forged by a tenant" | head -n 3
			return 1
		fi
	done
	if grep -rl "forged by a tenant" "$LOGS" 2>/dev/null; then
		echo "forged lines in the durable files above"
		return 1
	fi
	return 0
}

test_expect_success 'setup: a local user, a victim app with real lines' '
	deis_useradd "$EVIL" &&
	mkdir "$DEIS_MOUNT/apps/$VICTIM" &&
	deis_as "$EVIL" mkdir "$DEIS_MOUNT/apps/lsevil" &&
	for i in 1 2 3; do
		deis_log_send "$VICTIM" web.1 "real line $i" || return 1
	done &&
	test_wait_for 10 deis_log_stream_has "real line 3\$" "$VICTIM"
'

test_expect_success 'rsyslogd listens on no TCP or UDP port' '
	rsyslog_listeners >listeners &&
	cat listeners &&
	! grep -E "^(tcp|udp) " listeners
'

test_expect_success 'the producers socket is root-only: a local user cannot connect' '
	rsyslog_listeners >listeners &&
	cat listeners &&
	grep -Fx "unix $SOCK" listeners &&
	test "$(stat -c "%U %a" "${SOCK%/*}")" = "root 700" &&
	test "$(stat -c %U "$SOCK")" = root &&
	deis_as "$EVIL" python3 "$TRASH_DIRECTORY/forge.py" "$VICTIM" 1 "unix:$SOCK" >out &&
	cat out &&
	grep -F "unix:$SOCK: Permission denied" out &&
	test_must_fail deis_as "$EVIL" "$SEND" --config=/dev/null "--syslog_socket=$SOCK" \
		"$VICTIM" deis forged by a tenant 2>err &&
	cat err &&
	grep "Permission denied" err
'

test_expect_success 'a local user cannot write a line into any app log by any reachable means' '
	targets | sort -u >targets &&
	cat targets &&
	deis_as "$EVIL" python3 "$TRASH_DIRECTORY/forge.py" "$VICTIM" 8 $(cat targets) >out &&
	cat out &&
	test_must_fail deis_as "$EVIL" bash -c "echo forged by a tenant >>\"$DEIS_HOME/proxy/access.log\"" &&
	test_must_fail deis_as "$EVIL" bash -c "echo forged by a tenant >>\"$DEIS_MOUNT/apps/$VICTIM/logs\"" &&
	test_must_fail deis_as "$EVIL" bash -c "echo forged by a tenant >>\"$DEIS_HOME/logd/journal\"" &&
	test_must_fail deis_as "$EVIL" bash -c "echo forged by a tenant >>\"$LOGS/$VICTIM.log\"" &&
	root_marker "after the forgery" &&
	nothing_forged
'

test_expect_success '10,000 forged lines evict no real line' '
	targets | sort -u >targets &&
	deis_as "$EVIL" python3 "$TRASH_DIRECTORY/forge.py" "$VICTIM" 10000 $(cat targets) >out &&
	cat out &&
	root_marker "after the flood of forgeries" &&
	deis_log_stream "$VICTIM" >lines &&
	grep -E "$VICTIM\[web\.1\]: real line 1\$" lines &&
	grep -E "$VICTIM\[web\.1\]: real line 3\$" lines &&
	nothing_forged
'

test_expect_success 'a root producer still works, with the app and source it names' '
	deis_log_send "$VICTIM" router "GET / 200 from root" &&
	test_wait_for 10 deis_log_stream_has "$VICTIM\[router\]: GET / 200 from root\$" "$VICTIM" &&
	test_wait_for 10 grep -q "$VICTIM\[router\]: GET / 200 from root\$" "$LOGS/$VICTIM.log"
'

# ---- limits: the durable file

# Lines of the flood in the durable file, and lines it says were dropped.
flood_in_file() {
	infile=$(grep -c "lsflood\[web.1\]: flood [0-9]*\$" "$LOGS/lsflood.log")
	dropped=$(sed -nE "s/.*lsflood\[deis\]: dropped ([0-9]+) lines \(rate limit\)\$/\1/p" \
		"$LOGS/lsflood.log" | awk "{ n += \$1 } END { print n + 0 }")
	echo "$infile $dropped"
}

# Every line of the flood is either in the file or counted as dropped.
flood_accounted() {
	set -- $(flood_in_file)
	[ $(($1 + $2)) = 50000 ]
}

test_expect_success 'a flood is rate-limited in the durable file too, with a line saying so' '
	mkdir "$DEIS_MOUNT/apps/lsflood" &&
	deis_log_send --count=50000 lsflood web.1 "flood" &&
	test_wait_for 20 deis_log_stream_has "lsflood\[deis\]: dropped [0-9]+ lines \(rate limit\)" lsflood &&
	{ test_wait_for 30 flood_accounted || { flood_in_file; false; }; } &&
	set -- $(flood_in_file) &&
	echo "in the file $1, dropped $2, of 50000" &&
	test "$1" -lt 50000 &&
	test "$2" -gt 0
'

test_expect_success 'the durable file is capped per app and rotated' '
	test_when_finished "deis_conf_restore && deis_logd_restart $VICTIM" &&
	deis_conf_add "log_file_max = 64K" "log_file_keep = 2" &&
	deis_logd_restart "$VICTIM" &&
	mkdir "$DEIS_MOUNT/apps/lsrot" &&
	deis_log_send --count=3000 lsrot web.1 "a line of about a hundred bytes, to fill the durable file of the app quickly" &&
	test_wait_for 20 deis_log_stream_has "quickly 3000\$" lsrot &&
	test_wait_for 10 grep -q "quickly 3000\$" "$LOGS/lsrot.log" &&
	ls -l "$LOGS" | grep lsrot &&
	test_path_is_file "$LOGS/lsrot.log.1" &&
	test_path_is_file "$LOGS/lsrot.log.2" &&
	test_path_is_missing "$LOGS/lsrot.log.3" &&
	for f in "$LOGS/lsrot.log" "$LOGS/lsrot.log.1" "$LOGS/lsrot.log.2"; do
		test "$(stat -c %s "$f")" -le 65536 || return 1
	done &&
	last1=$(tail -n 1 "$LOGS/lsrot.log.1" | sed -n "s/.* quickly //p") &&
	first=$(head -n 1 "$LOGS/lsrot.log" | sed -n "s/.* quickly //p") &&
	test "$first" = $((last1 + 1))
'

# ---- drains

deis_peer_ns_add || echo "# could not make a network namespace: the drain tests will fail"

# Addresses of this host, from the kernel (never sent to: refused at write).
host_addrs() {
	ip -o addr show | awk "{ print \$4 }" | sed "s|/.*||" | grep -v "^fe80:"
}

# Succeeds if the drain URL points at an address this host no longer has:
# other platforms on the host (other test runs) add and remove bridges
# while this runs, and a drain to an address that went away is allowed.
not_this_host_now() {	# URL
	local h=${1#*://}
	h=${h%:*} h=${h#[} h=${h%]}
	! host_addrs | grep -qxF -- "$h"
}

test_expect_success 'drains to loopback, this host, its ports and the containers subnet are refused at write' '
	test_when_finished ": >\"$DEIS_MOUNT/apps/$VICTIM/drains\"" &&
	subnet=$(conf_get "$DEIS_CONF" network_subnet 2>/dev/null || echo 10.223.0.0/16) &&
	in_subnet=$(echo "${subnet%/*}" | awk -F. "{ print \$1 \".\" \$2 \".\" \$3 \".\" \$4 + 5 }") &&
	redis_port=$(conf_get "$DEIS_CONF" redis_port) &&
	ssh_port=$(conf_get "$DEIS_CONF" ssh_port) &&
	{
		echo "syslog://127.0.0.1:$redis_port"
		echo "syslog://127.0.0.1:514"
		echo "syslog://127.9.9.9:514"
		echo "syslog://localhost:514"
		echo "syslog+tls://localhost:6514"
		echo "syslog://logs.localhost:514"
		echo "syslog://[::1]:514"
		echo "syslog://[::ffff:127.0.0.1]:514"
		echo "syslog://0.0.0.0:514"
		echo "syslog://[::]:514"
		echo "syslog://$in_subnet:514"
		echo "syslog://$DEIS_PEER_HOST_ADDR:$ssh_port"
	} >bad &&
	for a in $(host_addrs); do
		case $a in *:*) echo "syslog://[$a]:$ssh_port" ;; *) echo "syslog://$a:$ssh_port" ;; esac
	done >hostbad &&
	cat hostbad >>bad &&
	cat bad &&
	echo "syslog://$DEIS_PEER_ADDR:514" >expect &&
	cp expect "$DEIS_MOUNT/apps/$VICTIM/drains" &&
	while read -r url; do
		if ! { test_must_fail bash -c "echo \"$url\" >\"$DEIS_MOUNT/apps/$VICTIM/drains\"" 2>err &&
			grep "Invalid argument" err; }; then
			grep -qxF "$url" hostbad && not_this_host_now "$url" || { echo "accepted: $url"; return 1; }
			echo "accepted: $url, no longer an address of this host" &&
			cp expect "$DEIS_MOUNT/apps/$VICTIM/drains" || return 1
		fi
		test_cmp expect "$DEIS_MOUNT/apps/$VICTIM/drains" || return 1
	done <bad &&
	deis_log_has "drain .syslog://127.0.0.1:514.: .*loopback" &&
	test_must_fail deis_as "$EVIL" bash -c "echo syslog://127.0.0.1:514 >\"$DEIS_MOUNT/apps/lsevil/drains\"" 2>err &&
	grep "Invalid argument" err &&
	test_must_be_empty "$DEIS_MOUNT/apps/lsevil/drains" &&
	test_wait_for 5 grep -q "lsevil\[deis\]: $EVIL: refused: drain .syslog://127.0.0.1:514.: " "$DEIS_MOUNT/apps/lsevil/logs"
'

test_expect_success 'a drain whose name resolves to a forbidden address is not connected to' '
	name=$(hostname) &&
	getent ahostsv4 "$name" | awk "{ print \$1 }" | sort -u >resolved &&
	cat resolved &&
	grep -q "^127\." resolved &&
	port=$(free_port) &&
	: >received &&
	lp=$(deis_listen 127.0.0.1 "$port" received) &&
	test_when_finished "kill $lp; : >\"$DEIS_MOUNT/apps/$VICTIM/drains\"" &&
	test_wait_for 20 test -e received.ready &&
	deis_psql "INSERT INTO drains (app_id, url, position) SELECT id, '"'"'syslog://$name:$port'"'"', 0 FROM apps WHERE name = '"'"'$VICTIM'"'"'" &&
	deis_redis publish deis:events "app $VICTIM" >/dev/null &&
	test_wait_for 15 eval "grep -q \"drain syslog://$name:$port: refused\" \"$LOGD_LOG\" || test -e received.connections" &&
	deis_log_send "$VICTIM" web.1 "for the drain" &&
	root_marker "after the drain" &&
	test_must_be_empty received &&
	test_path_is_missing received.connections &&
	grep "app $VICTIM: drain syslog://$name:$port: refused: $name resolves to 127\.[0-9.]*, a loopback address" "$LOGD_LOG" &&
	test_wait_for 10 deis_log_stream_has "$VICTIM\[deis\]: drain syslog://$name:$port refused: $name resolves to 127\.[0-9.]*, a loopback address; a drain may not point at the platform\$" "$VICTIM"
'

test_expect_success 'a drain to a peer host still works' '
	port=$(free_port) &&
	: >peer-received &&
	lp=$(deis_listen --peer "$DEIS_PEER_ADDR" "$port" peer-received) &&
	test_when_finished "kill $lp; : >\"$DEIS_MOUNT/apps/$VICTIM/drains\"" &&
	test_wait_for 20 test -e peer-received.ready &&
	echo "syslog://$DEIS_PEER_ADDR:$port" >"$DEIS_MOUNT/apps/$VICTIM/drains" &&
	test_wait_for 10 grep -q "app $VICTIM: drain syslog://$DEIS_PEER_ADDR:$port added" "$LOGD_LOG" &&
	deis_log_send "$VICTIM" web.1 "to the peer" &&
	test_wait_for 10 grep -q "to the peer" peer-received
'

test_expect_success 'cleanup' '
	deis_app_destroy "$VICTIM" lsevil lsflood lsrot
'

test_done
