#!/bin/bash
test_description='runtime: OCI bundles run by the real runc through lib/runtime.c (isolation, the host stack read-only, env and $PORT, memory and pids limits, kill/delete, detached containers found by list/state, start time)'
# The runtime needs no deisfs mount; under packaging/test the mount is
# there anyway.
export DEIS_TEST_NO_MOUNT=${DEIS_TEST_NO_MOUNT:-1}
. "$(dirname "$0")/../lib.sh"

TOOL=$DEIS_BUILD/tests/unit/runtime_tool
# A network of this script's own: a bridge and a /24 no route uses.
NETBR=$(free_bridge tr)
NETSUB=$(free_subnet)
TIMES=$TEST_LOG_DIR/t3200-runtime.times
RT=$(mktemp -d /tmp/deis-t3200.XXXXXX)
chmod 0711 "$RT"
STATE=$RT/state
P=t3200-$$
export TOOL RT STATE P TIMES NETBR NETSUB

net() {
	"$DEIS_BUILD/tests/unit/net_tool" "--bridge=$NETBR" "--subnet=$NETSUB" --nat=0 \
		"--state=$RT/net" "$@"
}

rt() {
	"$TOOL" "--state=$STATE" "$@"
}

# The "deis" parent cgroups runc makes beside our own cgroup (v1: one per
# hierarchy; cgroupsPath "deis/<id>" is relative to the caller's cgroup).
cgroup_parents() {
	local _n ctl path
	while IFS=: read -r _n ctl path; do
		if [ -z "$ctl" ]; then
			# the hybrid layout's cgroup2 tree
			[ -d /sys/fs/cgroup/unified ] || continue
			ctl=unified
		fi
		echo "/sys/fs/cgroup/${ctl#name=}${path%/}/deis"
	done </proc/self/cgroup
}
PRE_CG=" "
for d in $(cgroup_parents); do
	[ -d "$d" ] && PRE_CG="$PRE_CG$d "
done

rt_cleanup() {
	local id d
	if [ -x "$TOOL" ] && [ -d "$STATE" ]; then
		for id in $(rt list 2>/dev/null | awk '{print $1}'); do
			rt delete "$id" --force >/dev/null 2>&1 || :
		done
	fi
	for d in $(cgroup_parents); do
		case $PRE_CG in *" $d "*) continue ;; esac
		[ ! -d "$d" ] || rmdir "$d" 2>/dev/null || :
	done
	net teardown >/dev/null 2>&1 || :
	rm -rf "$RT"
}
trap '_rt_st=$?; rt_cleanup; (exit $_rt_st); _test_on_exit' EXIT

mkdir -p "$RT/slug" "$RT/cache" "$RT/envdir"
echo 'hello from the slug' >"$RT/slug/hello.txt"
echo 'web: python3 -m http.server $PORT' >"$RT/slug/Procfile"
echo 'secret-ish value' >"$RT/envdir/TOKEN"
chmod -R a+rX "$RT/slug" "$RT/envdir"

# Writes bundle NAME (id $P-NAME, /app = the slug) and runs it in the
# foreground: run_in NAME [SPEC...] [-- ARGV...]; stdout is the container's.
run_in() {
	local name=$1
	shift
	rt bundle "$RT/$name" --id="$P-$name" --app="$RT/slug" "$@" &&
	rt run "$RT/$name" "$P-$name"
}

# Does FILE have N lines?
has_lines() {	# FILE N
	[ "$(wc -l <"$1" 2>/dev/null)" = "$2" ]
}

# Waits until container ID is stopped.
wait_stopped() {	# ID
	test_wait_for 10 eval "rt state $1 | grep -q '^stopped '"
}

test_expect_success 'runc and the tool are there' '
	command -v runc >/dev/null &&
	test -x "$TOOL" &&
	rt list >out &&
	test_must_be_empty out
'

test_expect_success 'bundle: config.json and the rootfs skeleton' '
	rt bundle "$RT/sk" --id="$P-sk" -- true &&
	test -f "$RT/sk/config.json" &&
	test "$(readlink "$RT/sk/rootfs/bin")" = usr/bin &&
	test -f "$RT/sk/rootfs/etc/passwd" &&
	test_must_fail rt bundle "$RT/bad" --id="Bad/id" -- true 2>err &&
	grep -q "container id" err &&
	test_must_fail rt bundle "$RT/bad" --id=ok --env=A=B=C --app=relative -- true
'

test_expect_success 'a container runs as the unprivileged user 10000' '
	run_in uid -- id -u >out &&
	echo 10000 >expect &&
	test_cmp expect out &&
	run_in uidn -- id -un >out &&
	echo app >expect &&
	test_cmp expect out
'

test_expect_success '/etc/passwd is the bundle'"'"'s own, not the host'"'"'s' '
	run_in passwd -- cat /etc/passwd >out &&
	cut -d: -f1 out | sort >users &&
	printf "app\nnobody\nroot\n" >expect &&
	test_cmp expect users &&
	! grep -q "\\$" out &&
	cut -d: -f2 out | sort -u >pw &&
	echo x >expect &&
	test_cmp expect pw &&
	test_must_fail run_in shadow -- cat /etc/shadow >out 2>err &&
	test_must_be_empty out
'

test_expect_success 'it sees /app from the slug dir, read-only' '
	run_in app -- cat /app/hello.txt >out &&
	echo "hello from the slug" >expect &&
	test_cmp expect out &&
	test_must_fail run_in appw -- touch /app/new 2>err &&
	grep -q "Read-only" err &&
	test_path_is_missing "$RT/slug/new"
'

test_expect_success 'ls / shows no host /root or /home; the pid namespace is its own' '
	test -d /root &&
	run_in ls -- ls / >out &&
	! grep -qx root out &&
	! grep -qx home out &&
	grep -qx usr out &&
	run_in pid1 --cmd="echo \$\$; ls /proc | grep -c \"^[0-9]\"" >out &&
	test "$(sed -n 1p out)" = 1 &&
	test "$(sed -n 2p out)" -le 3
'

test_expect_success 'writing to /usr fails: the stack is read-only' '
	test_must_fail run_in usr -- touch /usr/deis-t3200 2>err &&
	grep -q "Read-only file system" err &&
	test_path_is_missing /usr/deis-t3200 &&
	test_must_fail run_in etc -- sh -c "echo x >/etc/passwd" 2>err &&
	test_must_fail run_in rootfs -- touch /newfile 2>err
'

test_expect_success '/tmp is private and writable' '
	echo host >"/tmp/deis-t3200-marker-$$" &&
	test_when_finished "rm -f /tmp/deis-t3200-marker-$$" &&
	run_in tmp --cmd="test ! -e /tmp/deis-t3200-marker-$$ && echo inside >/tmp/deis-t3200-inside-$$ && cat /tmp/deis-t3200-inside-$$ && stat -c %a /tmp" >out &&
	printf "inside\n1777\n" >expect &&
	test_cmp expect out &&
	test_path_is_missing "/tmp/deis-t3200-inside-$$"
'

test_expect_success 'env vars and $PORT arrive; HOME is /app' '
	run_in env --env=PORT=5123 --env=DYNO=web.1 --env="GREETING=hello world" \
		--env="EQ=a=b" \
		--cmd="echo \"\$PORT|\$DYNO|\$GREETING|\$EQ|\$HOME|\$(pwd)|\$(hostname)\"" >out &&
	echo "5123|web.1|hello world|a=b|/app|/app|$P-env" >expect &&
	test_cmp expect out
'

test_expect_success 'no capabilities, no_new_privileges, /proc/sys read-only' '
	run_in caps -- grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status >out &&
	printf "CapBnd:\t0000000000000000\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\n" >expect &&
	sort out >sorted &&
	test_cmp expect sorted &&
	run_in procsys -- grep " /proc/sys " /proc/self/mountinfo >out &&
	grep -q " ro," out &&
	run_in dev -- ls /dev >out &&
	grep -qx null out &&
	! grep -qx sda out &&
	test_must_fail run_in mem -- head -c1 /dev/mem 2>err
'

test_expect_success 'the builder: /app read-write, extra bind mounts (rw cache, ro env)' '
	mkdir -p "$RT/build" &&
	chown 10000:10000 "$RT/build" "$RT/cache" &&
	rt bundle "$RT/bld" --id="$P-bld" --app="$RT/build" --app-rw \
		--mount="$RT/cache:/cache" --mount="$RT/envdir:/env:ro" \
		--cmd="echo built >/app/out && echo c >/cache/c && cat /env/TOKEN && ! touch /env/x 2>/dev/null" &&
	rt run "$RT/bld" "$P-bld" >out &&
	echo "secret-ish value" >expect &&
	test_cmp expect out &&
	test "$(cat "$RT/build/out")" = built &&
	test "$(stat -c %u "$RT/build/out")" = 10000 &&
	test -f "$RT/cache/c"
'

test_expect_success 'without a network namespace given, a container has only lo' '
	rt bundle "$RT/nonet" --id="$P-nonet" --app="$RT/slug" \
		--cmd="cat /proc/net/dev" &&
	rt run "$RT/nonet" "$P-nonet" >out &&
	grep -q "lo:" out &&
	test $(grep -c ":" out) = 1
'

test_expect_success 'a process listening on $PORT in its namespace answers curl from the host' '
	port=$(free_port) &&
	net setup &&
	net attach "$P-web" >ep &&
	read -r netns ifname addr <ep &&
	rt bundle "$RT/web" --id="$P-web" --app="$RT/slug" --env=PORT=$port \
		--netns="$netns" --address="$addr" \
		--cmd="exec python3 -m http.server \$PORT" &&
	test_when_finished "rt delete $P-web --force >/dev/null 2>&1 || :" &&
	rt run "$RT/web" "$P-web" --detach --out="$RT/web.out" --err="$RT/web.err" >pid &&
	test_wait_for 15 curl -fsS -o body "http://$addr:$port/hello.txt" &&
	echo "hello from the slug" >expect &&
	test_cmp expect body &&
	test_must_fail curl -fsS --max-time 2 "http://127.0.0.1:$port/hello.txt" &&
	rt kill "$P-web" 9 &&
	wait_stopped "$P-web" &&
	rt delete "$P-web" &&
	net detach "$P-web" &&
	test_path_is_missing "$netns" &&
	test_must_fail curl -fsS --max-time 2 "http://$addr:$port/hello.txt"
'

test_expect_success 'a cpu limit becomes cpu.cfs_quota_us' '
	rt bundle "$RT/cpu" --id="$P-cpu" --cpu=500 -- sleep 1000 &&
	test_when_finished "rt delete $P-cpu --force >/dev/null 2>&1 || :" &&
	rt run "$RT/cpu" "$P-cpu" --detach >/dev/null &&
	test "$(rt cgroup "$P-cpu" cpu cpu.cfs_quota_us)" = 50000 &&
	test "$(rt cgroup "$P-cpu" cpu cpu.cfs_period_us)" = 100000
'

test_expect_success 'memory limit 32M: 100M allocation is OOM-killed, the neighbour keeps running' '
	rt bundle "$RT/nb" --id="$P-nb" --memory=32M -- sleep 1000 &&
	test_when_finished "rt delete $P-nb --force >/dev/null 2>&1 || :" &&
	rt run "$RT/nb" "$P-nb" --detach >/dev/null &&
	rt bundle "$RT/oom" --id="$P-oom" --memory=32M -- \
		python3 -c "s = bytearray(b\"x\") * (100 << 20); print(\"survived\")" &&
	test_when_finished "rt delete $P-oom --force >/dev/null 2>&1 || :" &&
	test_expect_code 137 rt run "$RT/oom" "$P-oom" --keep --status=st >out &&
	echo "code=137 signal=9" >expect &&
	test_cmp expect st &&
	! grep -q survived out &&
	test "$(rt cgroup "$P-oom" memory memory.limit_in_bytes)" = $((32 << 20)) &&
	rt cgroup "$P-oom" memory memory.oom_control >oomc &&
	cat oomc &&
	awk "/^oom_kill / { n = \$2 } END { exit !(n >= 1) }" oomc &&
	rt state "$P-nb" | grep -q "^running " &&
	rt delete "$P-oom"
'

test_expect_success 'pids.max 32 stops a fork bomb in its container; the host is fine' '
	rt bundle "$RT/fork" --id="$P-fork" --pids=32 \
		--cmd="i=0; while [ \$i -lt 200 ]; do sleep 30 & i=\$((i+1)); done; echo forked \$i" &&
	test_when_finished "rt delete $P-fork --force >/dev/null 2>&1 || :" &&
	test_must_fail timeout 60 "$TOOL" "--state=$STATE" run "$RT/fork" "$P-fork" --keep >out 2>err &&
	! grep -q "forked 200" out &&
	grep -qi "fork" err &&
	test "$(rt cgroup "$P-fork" pids pids.max)" = 32 &&
	rt cgroup "$P-fork" pids pids.events >ev &&
	awk "/^max / { n = \$2 } END { exit !(n >= 1) }" ev &&
	sh -c "for i in 1 2 3 4 5 6 7 8; do true & done; wait" &&
	rt delete "$P-fork"
'

test_expect_success 'kill and delete' '
	rt bundle "$RT/kd" --id="$P-kd" -- sleep 1000 &&
	test_when_finished "rt delete $P-kd --force >/dev/null 2>&1 || :" &&
	rt run "$RT/kd" "$P-kd" --detach >pid &&
	test_expect_code 16 rt delete "$P-kd" 2>err &&
	grep -q "not stopped" err &&
	rt kill "$P-kd" 9 &&
	wait_stopped "$P-kd" &&
	test_expect_code 3 rt kill "$P-kd" 9 &&
	rt delete "$P-kd" &&
	test_expect_code 2 rt state "$P-kd" &&
	test_expect_code 2 rt delete "$P-kd" &&
	! rt list | grep -q "^$P-kd " &&
	rt run "$RT/kd" "$P-kd" --detach >pid &&
	rt delete "$P-kd" --force &&
	test_expect_code 2 rt state "$P-kd"
'

test_expect_success 'a detached container outlives the tool that started it; list and state find it' '
	rt bundle "$RT/det" --id="$P-det" --cmd="echo started; exec sleep 1000" &&
	test_when_finished "rt delete $P-det --force >/dev/null 2>&1 || :" &&
	rt run "$RT/det" "$P-det" --detach --out="$RT/det.out" --err="$RT/det.err" >pid &&
	pid=$(cat pid) &&
	kill -0 "$pid" &&
	test "$(awk "/^Uid:/ { print \$2 }" /proc/$pid/status)" = 10000 &&
	rt state "$P-det" >st &&
	echo "running $pid" >expect &&
	test_cmp expect st &&
	rt list >l &&
	grep -qx "$P-det running $pid $RT/det" l &&
	test_wait_for 5 grep -qx started "$RT/det.out"
'

test_expect_success 'a detached container keeps writing into a pipe handed over to it' '
	mkfifo "$RT/fifo" &&
	rt bundle "$RT/pipe" --id="$P-pipe" --cmd="echo one; sleep 1; echo two; exec sleep 1000" &&
	test_when_finished "rt delete $P-pipe --force >/dev/null 2>&1 || :" &&
	{ head -n 2 <"$RT/fifo" >got & } &&
	rt run "$RT/pipe" "$P-pipe" --detach --out="$RT/fifo" >pid &&
	test_wait_for 10 has_lines got 2 &&
	printf "one\ntwo\n" >expect &&
	test_cmp expect got &&
	rt state "$P-pipe" | grep -q "^running "
'

test_expect_success 'every container of this test is gone after delete' '
	for id in $(rt list | awk "{ print \$1 }"); do
		rt delete "$id" --force || return 1
	done &&
	rt list >out &&
	test_must_be_empty out
'

test_done
