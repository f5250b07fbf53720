#!/bin/bash
test_description='logs across nodes: a container'\''s line from node 3 reaches the log server on node 1 under its instance'\''s name; nothing a tenant or another host sends takes an identity'
# Runs on the lab's nodes (tests/cluster/lab up 3 and platform.sh).  A container's line comes the way node 3's engine sends it
# (its syslog driver: RFC 5424 on the relay's datagram socket, tagged
# "<app>.<seq>"), and the app's container row is the one the scheduler
# writes before it starts the container.  The time from a line's sending
# on node 3 to its being readable in node 1's tree is reported.
# The lab's directory (tests/cluster/run exports DEIS_LAB_DIR; else the
# only lab that runs), for node 3's platform, which this script's helpers
# use (its tree, its config, its builder).
B=${DEIS_LAB_DIR:-$(bash "$(dirname "$0")/lab" env 2>/dev/null | sed -n 's/^B=//p')}
: "${B:?no lab runs (tests/cluster/lab up 3)}"
export DEIS_HOME=$B/n3/deis DEIS_MOUNT=$B/n3/mnt DEIS_TEST_NO_MOUNT=0
. "$(dirname "$0")/lib.sh"

APP=li-hello
OTHER=li-other
M1=$B/n1/mnt
ENGINE=$B/n3/run/deis/log/docker.sock
CTL=$B/n1/control

# A line as node 3's engine sends a container's output (rfc5424micro).
engine_send() {	# TAG TEXT
	python3 - "$ENGINE" "$1" "$2" <<-'EOF'
	import datetime, socket, sys
	path, tag, text = sys.argv[1:]
	ts = datetime.datetime.now(datetime.timezone.utc).isoformat()
	s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
	s.sendto(("<30>1 %s node3 %s 4242 %s - %s" % (ts, tag, tag, text)).encode(), path)
	print(int(datetime.datetime.now().timestamp() * 1000000))
	EOF
}

# The scheduler's row of a container of APP named NAME, sequence SEQ.
container_row() {	# APP NAME SEQ
	deis_psql "INSERT INTO containers (app_id, name, type, number, instance, seq)
		SELECT id, '$2', '${2%.*}', ${2#*.}, '$1.$2.$3', $3 FROM apps WHERE name = '$1'" >/dev/null
}

logs_have() {	# APP FIXED-STRING
	grep -qF -- "$2" "$M1/apps/$1/logs"
}

test_expect_success 'setup: two apps, a web.1 container of each (their rows, as the scheduler writes them)' '
	mkdir "$DEIS_MOUNT/apps/$APP" "$DEIS_MOUNT/apps/$OTHER" &&
	seq=$(deis_psql "SELECT nextval('"'"'container_seq'"'"')") &&
	oseq=$(deis_psql "SELECT nextval('"'"'container_seq'"'"')") &&
	echo $seq >seq && echo $oseq >oseq &&
	container_row $APP web.1 $seq &&
	container_row $OTHER web.1 $oseq &&
	test_wait_for 2 test -d "$M1/apps/$APP"
'

test_expect_success 'a container line sent on node 3 is in node 1'\''s logs as app[web.1] within 2 s' '
	seq=$(cat seq) &&
	t0=$(engine_send $APP.$seq "hello from node3 $seq") &&
	test_wait_for 2 logs_have $APP "$APP[web.1]: hello from node3 $seq" &&
	t1=${EPOCHREALTIME/./} &&
	lab_measured "container line on node3, readable in the tree of node1:" "$(( (t1 - t0) / 1000 )) ms" &&
	grep -qF "$APP[web.1]: hello from node3 $seq" "$CTL/logs/$APP.log"
'

test_expect_success 'a container of node 3'\''s real engine, its log driver as the scheduler sets it: in node 1'\''s logs as app[web.2]' '
	seq2=$(deis_psql "SELECT nextval('"'"'container_seq'"'"')") &&
	container_row $APP web.2 $seq2 &&
	lab_docker 3 run --rm --log-driver syslog \
		--log-opt syslog-address=unixgram:///run/deis/log/docker.sock \
		--log-opt syslog-format=rfc5424micro --log-opt tag=$APP.$seq2 \
		"$IMAGE" sh -c "echo engine line $seq2" &&
	test_wait_for 5 logs_have $APP "$APP[web.2]: engine line $seq2"
'

test_expect_success 'what a container prints is only its text: a printed other[web.1] stays the app'\''s' '
	seq=$(cat seq) &&
	engine_send $APP.$seq "$OTHER[web.1]: forged" >/dev/null &&
	engine_send $APP.$seq "barrier-1" >/dev/null &&
	test_wait_for 2 logs_have $APP "$APP[web.1]: barrier-1" &&
	logs_have $APP "$APP[web.1]: $OTHER[web.1]: forged" &&
	! logs_have $OTHER "forged"
'

test_expect_success 'a tag naming another app'\''s container, or no container, names nothing: dropped' '
	seq=$(cat seq) oseq=$(cat oseq) &&
	engine_send $APP.$oseq "cross-app" >/dev/null &&
	engine_send $OTHER.$seq "cross-app-2" >/dev/null &&
	engine_send $APP.999999999999 "no-such" >/dev/null &&
	engine_send $APP "untagged" >/dev/null &&
	engine_send $APP.$seq "barrier-2" >/dev/null &&
	test_wait_for 2 logs_have $APP "barrier-2" &&
	! logs_have $APP "cross-app" && ! logs_have $OTHER "cross-app" &&
	! logs_have $APP "no-such" && ! logs_have $APP "untagged" &&
	grep -q "untagged" "$DEIS_LOGDIR/rsyslog-rejected.log"
'

test_expect_success 'the platform'\''s own lines on node 3 (its producers'\'' socket) reach node 1' '
	deis_log_send $APP deis "platform line $$" &&
	test_wait_for 2 logs_have $APP "$APP[deis]: platform line $$"
'

# What reaches the log server's TLS port without a node's certificate.
tls_send() {	# LINE [openssl s_client args...]
	local line=$1
	shift
	printf "%s" "${#line} $line" |
		timeout 5 openssl s_client -quiet -connect "$NET.1:$DEIS_LOG_PORT" "$@" >/dev/null 2>&1
	return 0
}

test_expect_success 'the log server refuses a host without a certificate from the cluster'\''s CA' '
	DEIS_LOG_PORT=$(conf_get "$DEIS_HOME/cluster/cluster.conf" log_server) &&
	DEIS_LOG_PORT=${DEIS_LOG_PORT##*:} &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout rogue.key \
		-out rogue.pem -days 1 -subj "/CN=node9.nodes.deis" \
		-addext subjectAltName=DNS:node9.nodes.deis 2>/dev/null &&
	tls_send "<14>1 2026-01-01T00:00:00Z x $APP web.1 - - forged-nocert" &&
	tls_send "<14>1 2026-01-01T00:00:00Z x $APP web.1 - - forged-rogue" -cert rogue.pem -key rogue.key &&
	deis_log_send $APP deis "barrier-3" &&
	test_wait_for 2 logs_have $APP "barrier-3" &&
	! logs_have $APP "forged-nocert" && ! logs_have $APP "forged-rogue"
'

test_expect_success 'cleanup' '
	rm -rf "$DEIS_MOUNT/apps/$APP" "$DEIS_MOUNT/apps/$OTHER" &&
	test_wait_for 5 test ! -e "$M1/apps/$APP"
'

test_done
