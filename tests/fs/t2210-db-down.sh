#!/bin/bash
test_description='PostgreSQL down: every change fails at open(), where a shell shows it, and changes nothing; once it is back the same change commits'
. "$(dirname "$0")/../lib.sh"

# A control file commits at close; a shell ignores close(2)'s error, so
# `echo v >config/K` must fail at the open (or at the write) instead.

APP="$DEIS_MOUNT/apps/dbd"

releases() {
	ls "$APP/releases" | grep -c '^v'
}

test_expect_success 'setup' '
	mkdir "$APP" &&
	echo -n one >"$APP/config/K" &&
	releases >releases.before
'

test_expect_success 'PostgreSQL down: echo v >config/K exits non-zero with the reason, changes nothing' '
	test_when_finished "deis_service_start postgres" &&
	deis_service_stop postgres &&
	deis_log_mark &&
	test_must_fail bash -c "echo v >\"$APP/config/K\"" 2>err &&
	cat err &&
	grep "config/K: Input/output error" err &&
	deis_log_has_since_mark "open .*config/K.*(database|PostgreSQL)" &&
	printf one >expect &&
	test_cmp expect "$APP/config/K" &&
	releases >releases.now &&
	test_cmp releases.before releases.now
'

test_expect_success 'PostgreSQL down: mkdir, rm, mv and truncate fail at once' '
	test_when_finished "deis_service_start postgres" &&
	deis_service_stop postgres &&
	test_must_fail mkdir "$DEIS_MOUNT/apps/dbd2" &&
	test_must_fail rm "$APP/config/K" &&
	test_must_fail mv "$APP/config/K" "$APP/config/L" &&
	test_must_fail truncate -s 0 "$APP/config/K" &&
	test_path_is_missing "$DEIS_MOUNT/apps/dbd2" &&
	printf one >expect &&
	test_cmp expect "$APP/config/K"
'

test_expect_success 'a descriptor opened before: its write fails once the database is known down' '
	test_when_finished "exec 3>&-; deis_service_start postgres" &&
	exec 3>>"$APP/config/K" &&
	deis_service_stop postgres &&
	test_must_fail bash -c "echo x >\"$APP/config/M\"" &&
	test_must_fail bash -c "echo two >&3" 2>err &&
	grep "Input/output error" err
'

test_expect_success 'PostgreSQL back: the same write succeeds' '
	echo v >"$APP/config/K" &&
	printf v >expect &&
	test_cmp expect "$APP/config/K" &&
	grep -x "K=v" "$APP/env"
'

test_expect_success 'cleanup' '
	deis_app_destroy dbd
'

test_done
