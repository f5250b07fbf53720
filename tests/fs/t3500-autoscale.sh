#!/bin/bash
test_description='deis-scheduler applies autoscale: a busy web scales up on its CPU, a formation out of its rule range is brought into it at once, a rule removed leaves the formation as it is'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
BUSY=as-busy
IDLE=as-idle
USER_=deis-sauto
WINDOW=3

count() {	# APP TYPE: the type's count in formation (0 when absent)
	sed -n "s/^$2=//p" "$A/$1/formation" | grep . || echo 0
}

# Exactly N containers of TYPE of APP, every one up.
runs_up() {	# APP TYPE N
	local n
	n=$(ls "$A/$1/containers" | grep -c "^$2\.") &&
	test "$n" = "$3" &&
	for c in $(ls "$A/$1/containers" | grep "^$2\."); do
		test "$(cat "$A/$1/containers/$c/state")" = up || return 1
	done
}

log_has() {	# APP ERE
	grep -Eq -- "$2" "$A/$1/logs"
}

test_expect_success 'setup: a scheduler with a short autoscale window; two apps of a user' '
	test_when_finished "scheduler_running || scheduler_start" &&
	scheduler_stop &&
	scheduler_start --scheduler_autoscale_window=$WINDOW &&
	deis_hello_app $USER_ $BUSY busy &&
	# web burns all the CPU it gets beside its HTTP server.
	echo "web: (while :; do :; done) & exec python3 app.py" >busy/Procfile &&
	deis_git_commit busy "a busy web" &&
	deis_hello_app $USER_ $IDLE idle &&
	deis_git_commit idle first
'

test_expect_success 'a busy web with web=1..3 cpu=50 goes to more than 1; formation shows it; the log says why' '
	# A fifth of a core each: the machine is shared, and its share
	# is what the percent is of.
	echo "web.cpu=0.2" >"$A/$BUSY/limits" &&
	deis_git_push $USER_ $BUSY busy &&
	test_wait_for 30 runs_up $BUSY web 1 &&
	echo "web=1..3 cpu=50" >"$A/$BUSY/autoscale" &&
	test_wait_for 60 eval "test \$(count $BUSY web) -gt 1" &&
	log_has $BUSY "$BUSY\[deis\]: autoscale: web 1 -> [23] \(average CPU [0-9]+% over $WINDOW s, target 50%\)" &&
	test_wait_for 60 eval "runs_up $BUSY web \$(count $BUSY web)"
'

# A low target, so that even the share of a loaded machine is far above it.
test_expect_success 'busy far above its target, it goes to its maximum and no further' '
	test_when_finished "deis_app_destroy $BUSY" &&
	echo "web=1..3 cpu=10" >"$A/$BUSY/autoscale" &&
	test_wait_for 60 eval "test \$(count $BUSY web) = 3" &&
	deis_scheduler_resyncs 3 &&
	test "$(count $BUSY web)" = 3 &&
	! grep -E "autoscale: web [0-9]+ -> ([4-9]|[0-9]{2})" "$A/$BUSY/logs"
'

test_expect_success 'an idle app at web=1 given web=2..4 goes to 2 at once, saying why' '
	deis_git_push $USER_ $IDLE idle &&
	test_wait_for 30 runs_up $IDLE web 1 &&
	test "$(count $IDLE web)" = 1 &&
	echo "web=2..4" >"$A/$IDLE/autoscale" &&
	test_wait_for 10 eval "test \$(count $IDLE web) = 2" &&
	log_has $IDLE "$IDLE\[deis\]: autoscale: web 1 -> 2 \(the rule.s range is 2\.\.4\)" &&
	test_wait_for 30 runs_up $IDLE web 2
'

test_expect_success 'idle, it stays at its minimum: a window does not take it below' '
	deis_scheduler_resyncs 3 &&
	test "$(count $IDLE web)" = 2 &&
	runs_up $IDLE web 2
'

test_expect_success 'a formation written out of the range is brought back into it' '
	echo "web=1" >"$A/$IDLE/formation" &&
	test_wait_for 10 eval "test \$(grep -c \"autoscale: web 1 -> 2\" \"$A/$IDLE/logs\") = 2" &&
	test "$(count $IDLE web)" = 2
'

test_expect_success 'a rule removed (empty write) leaves the formation as it is, and stops acting' '
	: >"$A/$IDLE/autoscale" &&
	test_wait_for 5 test ! -s "$A/$IDLE/autoscale" &&
	deis_scheduler_resyncs 3 &&
	test "$(count $IDLE web)" = 2 &&
	echo "web=1" >"$A/$IDLE/formation" &&
	test_wait_for 30 runs_up $IDLE web 1 &&
	deis_scheduler_resyncs 3 &&
	test "$(count $IDLE web)" = 1 &&
	test "$(grep -c "autoscale: web" "$A/$IDLE/logs")" = 2
'

test_expect_success 'cleanup: the apps, the keys; the scheduler as the platform runs it' '
	deis_app_destroy $BUSY $IDLE &&
	deis_keys_remove $USER_ &&
	scheduler_stop &&
	scheduler_start
'

test_done
