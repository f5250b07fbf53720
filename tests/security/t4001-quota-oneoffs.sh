#!/bin/bash
test_description='quotas count one-off containers while they run: run and ssh ... run past the quota are refused'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
U=$DEIS_MOUNT/users
USER_=deis-qrun
APP=qrun

runs() {
	ls "$A/$APP/containers" | grep -c "^run\." || :
}

test_expect_success 'setup: a user, an app pushed, web.1 up' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	deis_git_push $USER_ $APP src &&
	test_wait_for 30 eval "test \"\$(cat \"$A/$APP/containers/web.1/state\" 2>/dev/null)\" = up"
'

test_expect_success 'a run past the quota is refused at write (EDQUOT) and starts nothing' '
	echo containers=1 >"$U/$USER_/quota" &&
	test_when_finished ": >\"$U/$USER_/quota\"" &&
	test_must_fail deis_as $USER_ bash -c "echo \"echo should-not-run\" >$A/$APP/run" 2>err &&
	grep "Disk quota exceeded" err &&
	deis_log_has "$APP/run by $USER_ .*quota" &&
	test "$(runs)" = 0 &&
	! grep -q should-not-run "$A/$APP/logs"
'

test_expect_success 'a running one-off counts: no scale-up past the quota until it ends' '
	echo containers=2 >"$U/$USER_/quota" &&
	test_when_finished ": >\"$U/$USER_/quota\"" &&
	deis_as $USER_ bash -c "echo \"sleep 4\" >$A/$APP/run" &&
	test "$(runs)" = 1 &&
	grep -x "# used: containers=2 memory=1G" "$U/$USER_/quota" &&
	test_must_fail deis_as $USER_ bash -c "echo web=2 >$A/$APP/formation" 2>err &&
	grep "Disk quota exceeded" err &&
	test_must_fail deis_as $USER_ bash -c "echo \"echo second\" >$A/$APP/run" 2>err &&
	grep "Disk quota exceeded" err &&
	test_wait_for 30 eval "test \"\$(runs)\" = 0" &&
	deis_as $USER_ bash -c "echo web=2 >$A/$APP/formation" &&
	deis_as $USER_ bash -c "echo web=1 >$A/$APP/formation"
'

test_expect_success 'ssh ... run past the quota is refused with the reason' '
	echo containers=1 >"$U/$USER_/quota" &&
	test_when_finished ": >\"$U/$USER_/quota\"" &&
	test_must_fail deis_run_in $USER_ $APP "echo should-not-run" >out 2>err &&
	cat err &&
	grep "quota" err &&
	! grep should-not-run out &&
	echo containers=2 >"$U/$USER_/quota" &&
	deis_run_in $USER_ $APP "echo ran-once" >out &&
	grep -x ran-once out
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
