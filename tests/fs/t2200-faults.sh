#!/bin/bash
test_description='faults: PostgreSQL or Redis down; reads keep working, changes fail cleanly or still commit'
. "$(dirname "$0")/../lib.sh"

APP="$DEIS_MOUNT/apps/flt"

test_expect_success 'setup' '
	mkdir "$APP" &&
	echo -n one >"$APP/config/A"
'

test_expect_success 'PostgreSQL down: reads are served from memory' '
	test_when_finished postgres_start &&
	postgres_stop &&
	printf one >expect &&
	test_cmp expect "$APP/config/A" &&
	grep -x "A=one" "$APP/env" &&
	ls "$APP/releases" >/dev/null &&
	test_wait_for 5 grep -q "^database *down" "$DEIS_MOUNT/platform/status"
'

test_expect_success 'PostgreSQL down: a change fails with EIO, then works again once it is back' '
	test_when_finished postgres_start &&
	postgres_stop &&
	deis_log_mark &&
	printf two >v &&
	test_must_fail cp v "$APP/config/A" 2>err &&
	grep "Input/output error" err &&
	echo web=2 >f &&
	test_must_fail cp f "$APP/formation" &&
	deis_log_has_since_mark "PostgreSQL" &&
	postgres_start &&
	printf one >expect &&
	test_cmp expect "$APP/config/A" &&
	echo -n two >"$APP/config/A" &&
	printf two >expect &&
	test_cmp expect "$APP/config/A"
'

test_expect_success 'Redis down: changes still commit; logs read as empty' '
	test_when_finished redis_start &&
	redis_stop &&
	test_wait_for 5 eval "! deis_redis ping >/dev/null 2>&1" &&
	echo -n three >"$APP/config/A" &&
	printf three >expect &&
	test_cmp expect "$APP/config/A" &&
	cat "$APP/logs" >out &&
	test_must_be_empty out &&
	ls -l "$APP" >/dev/null
'

test_expect_success 'after Redis is back, events flow again between mounts' '
	M2="$DEIS_HOME/mnt-flt" &&
	deis_mount_extra "$M2" &&
	test_when_finished "deis_unmount \"$M2\"" &&
	echo -n four >"$APP/config/A" &&
	test_wait_for 10 grep -qx "A=four" "$M2/apps/flt/env"
'

test_expect_success 'cleanup' '
	deis_app_destroy flt
'

test_done
