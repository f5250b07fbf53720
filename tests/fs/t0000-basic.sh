#!/bin/bash
test_description='the mount is up and shows the top of the tree; the test library works'
. "$(dirname "$0")/../lib.sh"

test_expect_success 'the mount is a mount point' '
	mountpoint -q "$DEIS_MOUNT" &&
	stat -f "$DEIS_MOUNT" >/dev/null
'

test_expect_success 'ls shows README apps platform users' '
	printf "%s\n" README apps platform users >expect &&
	ls "$DEIS_MOUNT" >actual &&
	test_cmp expect actual
'

test_expect_success 'README is a non-empty file' '
	test_path_is_file "$DEIS_MOUNT/README" &&
	cat "$DEIS_MOUNT/README" >readme &&
	test -s readme
'

test_expect_success 'apps, platform and users are directories' '
	test_path_is_dir "$DEIS_MOUNT/apps" &&
	test_path_is_dir "$DEIS_MOUNT/platform" &&
	test_path_is_dir "$DEIS_MOUNT/users"
'

test_expect_success 'the private PostgreSQL accepts the configured credentials' '
	echo 1 >expect &&
	deis_psql "SELECT 1" >actual &&
	test_cmp expect actual &&
	echo deis >expect &&
	deis_psql "SELECT current_user" >actual &&
	test_cmp expect actual
'

test_expect_success 'the private Redis accepts the configured password' '
	echo PONG >expect &&
	deis_redis ping >actual &&
	test_cmp expect actual
'

# ---------------------------------------------------------------- the library

test_expect_success 'test_must_fail: a failing command' '
	test_must_fail false &&
	test_must_fail sh -c "exit 3"
'

test_expect_success 'test_must_fail: success, signals and missing commands are not failures' '
	! test_must_fail true 2>err &&
	grep "command succeeded" err &&
	! test_must_fail sh -c "kill -TERM \$\$" 2>err &&
	grep "signal 15" err &&
	! test_must_fail no-such-command-deis 2>err &&
	grep "not found" err
'

test_expect_success 'test_cmp detects a difference' '
	echo a >one &&
	echo b >two &&
	test_must_fail test_cmp one two >diff &&
	grep "^-a" diff &&
	grep "^+b" diff &&
	test_cmp one one
'

test_expect_success 'test_wait_for polls until success or time-out' '
	test_wait_for 1 true &&
	test_must_fail test_wait_for 0.2 false 2>err &&
	grep "timed out after 0.2s" err &&
	rm -f flag &&
	{ (sleep 0.3 && touch flag) & } &&
	test_wait_for 5 test -e flag
'

test_expect_success 'test_when_finished runs after the body' '
	test_when_finished "rm -f finished" &&
	touch finished &&
	test_path_is_file finished
'

test_expect_success 'test_when_finished ran' '
	test_path_is_missing finished
'

test_expect_success 'a script reports passes, failures, skips and broken chains' '
	test_when_finished "rm -rf \"\$DEIS_HOME/trash.t9999-selftest\" \"\$DEIS_HOME/test-logs/t9999-selftest.log\"" &&
	mkdir -p selftest &&
	cat >selftest/t9999-selftest.sh <<-\SCRIPT &&
	. "$DEIS_SRC/tests/lib.sh"
	test_expect_success "passes" "true"
	test_expect_success "fails" "echo output-of-fails && false"
	test_expect_success "fails under set -e" "{ false; true; }"
	test_expect_success "broken chain" "true
		true && true"
	test_expect_success NOSUCHPREREQ "skipped" "false"
	test_expect_success "return 0 passes" "for i in 1 2; do test \$i -lt 3 || return 1; done"
	test_expect_success "return 1 fails" "for i in 1 5; do test \$i -lt 3 || return 1; done"
	test_done
	SCRIPT
	test_expect_code 1 env DEIS_TEST_NO_MOUNT=1 bash selftest/t9999-selftest.sh >out &&
	grep "^ok\|^not ok\|^1\.\." out >actual &&
	cat >expect <<-\EXPECT &&
	ok 1 - passes
	not ok 2 - fails
	not ok 3 - fails under set -e
	not ok 4 - broken chain
	ok 5 # skip skipped (missing NOSUCHPREREQ)
	ok 6 - return 0 passes
	not ok 7 - return 1 fails
	1..7
	EXPECT
	test_cmp expect actual &&
	grep "^# output-of-fails" out &&
	test_line_count = 1 <(grep "^# bug in the test script: broken &&-chain" out)
'

test_expect_success 'test_expect_failure: a known breakage is reported, neither a pass nor a failure' '
	test_when_finished "rm -rf \"\$DEIS_HOME/trash.t9998-known\" \"\$DEIS_HOME/test-logs/t9998-known.log\"" &&
	mkdir -p selftest &&
	cat >selftest/t9998-known.sh <<-\SCRIPT &&
	. "$DEIS_SRC/tests/lib.sh"
	test_expect_success "passes" "true"
	test_expect_failure "still broken" "echo output-of-broken && false"
	test_expect_failure "fixed since" "true"
	test_expect_failure NOSUCHPREREQ "skipped" "true"
	test_done
	SCRIPT
	env DEIS_TEST_NO_MOUNT=1 bash selftest/t9998-known.sh >out &&
	grep "^ok\|^not ok\|^1\.\." out >actual &&
	cat >expect <<-\EXPECT &&
	ok 1 - passes
	not ok 2 - still broken # TODO known breakage
	ok 3 - fixed since # TODO known breakage vanished
	ok 4 # skip skipped (missing NOSUCHPREREQ)
	1..4
	EXPECT
	test_cmp expect actual &&
	! grep "^# output-of-broken" out &&
	grep "^# still have 1 known breakage(s)$" out &&
	grep "^# 1 known breakage(s) vanished; please update test(s)$" out &&
	grep "^# passed all remaining 2 test(s) (1 skipped)$" out
'

test_expect_success 'test_expect_failure: a broken &&-chain is still a failure' '
	test_when_finished "rm -rf \"\$DEIS_HOME/trash.t9997-chain\" \"\$DEIS_HOME/test-logs/t9997-chain.log\"" &&
	mkdir -p selftest &&
	cat >selftest/t9997-chain.sh <<-\SCRIPT &&
	. "$DEIS_SRC/tests/lib.sh"
	test_expect_failure "broken chain" "false
		true"
	test_done
	SCRIPT
	test_expect_code 1 env DEIS_TEST_NO_MOUNT=1 bash selftest/t9997-chain.sh >out &&
	grep -x "not ok 1 - broken chain" out &&
	grep "^# bug in the test script: broken &&-chain" out
'

test_done
