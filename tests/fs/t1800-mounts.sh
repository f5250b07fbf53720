#!/bin/bash
test_description='many mounts, one platform: changes show everywhere within a second; nothing committed is lost'
. "$(dirname "$0")/../lib.sh"

M1="$DEIS_MOUNT"
M2="$DEIS_HOME/mnt2"

test_expect_success 'a second deisfs over the same PostgreSQL and Redis' '
	deis_mount_extra "$M2" &&
	mountpoint -q "$M2"
'

test_expect_success 'an app made in one mount shows in the other within a second' '
	test_must_fail ls "$M2/apps/twin" 2>/dev/null &&
	mkdir "$M1/apps/twin" &&
	test_wait_for 1 test -d "$M2/apps/twin"
'

test_expect_success 'a config change in one mount shows in the other within a second' '
	cat "$M2/apps/twin/env" >/dev/null &&
	stat "$M2/apps/twin/config" >/dev/null &&
	echo -n one >"$M1/apps/twin/config/V" &&
	test_wait_for 1 grep -qx "V=one" "$M2/apps/twin/env" &&
	test_wait_for 1 grep -qx "one" "$M2/apps/twin/config/V" &&
	echo -n two >"$M2/apps/twin/config/V" &&
	test_wait_for 1 grep -qx "V=two" "$M1/apps/twin/env" &&
	printf two >expect &&
	test_cmp expect "$M1/apps/twin/config/V"
'

test_expect_success 'a file kept open (tail-style fstat) sees the new size' '
	exec 7<"$M2/apps/twin/env" &&
	s1=$(stat -L -c %s /dev/fd/7) &&
	echo -n longer-value >"$M1/apps/twin/config/V" &&
	test_wait_for 1 eval "test \$(stat -c %s \"$M2/apps/twin/env\") -gt $s1" &&
	exec 7<&-
'

test_expect_success 'removals show too' '
	rm "$M1/apps/twin/config/V" &&
	test_wait_for 1 test_path_is_missing "$M2/apps/twin/config/V" &&
	rmdir "$M2/apps/twin" &&
	test_wait_for 1 test_path_is_missing "$M1/apps/twin"
'

test_expect_success 'a change made behind deisfs (no event) is picked up by the resync' '
	mkdir "$M1/apps/quiet" &&
	test_wait_for 1 test -d "$M2/apps/quiet" &&
	deis_psql "INSERT INTO app_settings (app_id, name, value) SELECT id, '"'"'maintenance'"'"', '"'"'on'"'"' FROM apps WHERE name = '"'"'quiet'"'"'; UPDATE apps SET serial = serial + 1 WHERE name = '"'"'quiet'"'"'" &&
	test_wait_for 15 grep -qx on "$M1/apps/quiet/maintenance" &&
	test_wait_for 15 grep -qx on "$M2/apps/quiet/maintenance"
'

test_expect_success 'flushing Redis loses nothing; events resume' '
	deis_redis flushall >/dev/null &&
	echo -n after-flush >"$M1/apps/quiet/config/F" &&
	test_wait_for 10 grep -qx "F=after-flush" "$M2/apps/quiet/env"
'

test_expect_success 'killing deisfs loses no committed change' '
	echo -n kept >"$M2/apps/quiet/config/K" &&
	pid=$(deis_mount_pid "$M2") &&
	kill -9 "$pid" &&
	deis_unmount "$M2" &&
	deis_mount_extra "$M2" &&
	printf kept >expect &&
	test_cmp expect "$M2/apps/quiet/config/K" &&
	test_cmp expect "$M1/apps/quiet/config/K"
'

test_expect_success 'cleanup' '
	deis_app_destroy twin quiet &&
	deis_unmount "$M2"
'

test_done
