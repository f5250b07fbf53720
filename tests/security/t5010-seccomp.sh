#!/bin/bash
test_description='containers and builds run under a default seccomp profile: no user namespaces, no bpf, perf_event_open, io_uring, keyctl, mount'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
U=sec-scu
APP=secsc
export A U APP

# A program that tries each call the profile refuses and prints
# "NAME errno" for each (0 when it was allowed).
cat >probe.py <<'PY'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
calls = {  # x86_64 numbers
    "bpf": (321, 0, 0, 0), "perf_event_open": (298, 0, 0, -1, -1, 0),
    "io_uring_setup": (425, 1, 0), "keyctl": (250, 0, 0, 0, 0),
    "add_key": (248, 0, 0, 0, 0, 0), "mount": (165, 0, 0, 0, 0, 0),
    "unshare_user": (272, 0x10000000), "unshare_net": (272, 0x40000000),
    "setns": (308, -1, 0),
}
for name, args in calls.items():
    r = libc.syscall(*[ctypes.c_long(a) for a in args])
    print(name, 0 if r >= 0 else ctypes.get_errno(), flush=True)
# clone(CLONE_NEWUSER | SIGCHLD) with no new stack: a fork when allowed.
r = libc.syscall(ctypes.c_long(56), ctypes.c_long(0x10000000 | 17), ctypes.c_long(0),
                 ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
if r == 0:
    os._exit(0)
if r > 0:
    os.waitpid(r, 0)
print("clone_newuser", 0 if r >= 0 else ctypes.get_errno(), flush=True)
PY

# Every line "NAME N" has N = 1 (EPERM), but clone3 and the like.
all_eperm() {	# FILE
	test "$(grep -c . "$1")" -ge 10 &&
	! grep -v " 1$" "$1"
}

test_expect_success 'setup: a user, an app built from a Makefile that tries the same calls' '
	deis_hello_app $U $APP src &&
	cp probe.py src/ &&
	printf "all:\n\t@echo BUILD-PROBE-START\n\t@python3 probe.py | sed s/^/build:/\n\t@unshare -Ur id 2>&1 | sed s/^/build-unshare:/ || :\n" >src/Makefile &&
	deis_git_commit src first &&
	deis_git_push $U $APP src >push &&
	test_wait_for 30 eval "test \"\$(cat $A/$APP/containers/web.1/state)\" = up"
'

test_expect_success 'in a container: unshare -Ur (a user namespace, uid 0) is refused' '
	deis_run_in $U $APP "unshare -Ur id; echo status=\$?" >out 2>&1 &&
	cat out &&
	grep -q "status=1" out &&
	grep -q "Operation not permitted" out &&
	! grep -q "uid=0" out
'

test_expect_success 'in a container: bpf, perf_event_open, io_uring, keyctl, mount, setns, namespaces refused with EPERM' '
	deis_run_in $U $APP "python3 /app/probe.py" >out 2>&1 &&
	cat out &&
	all_eperm out
'

test_expect_success 'in a build: the same calls are refused' '
	grep "BUILD-PROBE-START" push &&
	sed -n "s/^remote: build:\([a-z_0-9]* [0-9]*\).*/\1/p" push >out &&
	cat out &&
	all_eperm out &&
	grep "build-unshare:.*Operation not permitted" push &&
	! grep "build-unshare:uid=0" push
'

test_expect_success 'the app still runs and serves under the profile' '
	curl -fsS --max-time 5 "http://$(cat "$A/$APP/containers/web.1/address")/" | grep "hello from web.1"
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	deis_keys_remove $U
'

test_done
