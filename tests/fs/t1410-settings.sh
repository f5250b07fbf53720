#!/bin/bash
test_description='settings as data: every row of lib/settings.c is a file of each app (autoscale, healthcheck, maintenance), stored in app_settings'
. "$(dirname "$0")/../lib.sh"

APP="$DEIS_MOUNT/apps/knobs"

setting_row() {	# NAME: the stored value, "" when the app never wrote it
	deis_psql "SELECT s.value FROM app_settings s JOIN apps a ON a.id = s.app_id WHERE a.name = 'knobs' AND s.name = '$1'"
}

test_expect_success 'setup' '
	mkdir "$APP"
'
test_expect_success 'every setting is a file of the app, and a line of the README' '
	ls "$APP" >files &&
	grep -x autoscale files &&
	grep -x healthcheck files &&
	grep -x maintenance files &&
	grep "^ *autoscale  *\"web=2..10 cpu=70\"" "$DEIS_MOUNT/README" &&
	grep "^ *maintenance  *on or off" "$DEIS_MOUNT/README"
'

test_expect_success 'an app that never wrote one has its default and no row, mtime its creation' '
	test_must_be_empty "$APP/autoscale" &&
	echo off >expect &&
	test_cmp expect "$APP/maintenance" &&
	test -z "$(setting_row autoscale)" &&
	created=$(deis_psql "SELECT floor(extract(epoch FROM created))::bigint FROM apps WHERE name = '"'"'knobs'"'"'") &&
	test "$(stat -c %Y "$APP/autoscale")" = "$created"
'

test_expect_success 'autoscale: written, read back canonical, one row, a platform line' '
	echo "worker=1..4 cpu=80% web=2..10" >"$APP/autoscale" &&
	printf "web=2..10 cpu=70\nworker=1..4 cpu=80\n" >expect &&
	test_cmp expect "$APP/autoscale" &&
	test "$(setting_row autoscale)" = "$(printf "web=2..10 cpu=70\nworker=1..4 cpu=80")" &&
	test "$(stat -c %s "$APP/autoscale")" = "$(wc -c <expect)" &&
	test_wait_for 10 grep -q "knobs\[deis\]: root changed autoscale" "$APP/logs"
'

test_expect_success 'the mtime is the stored one' '
	stored=$(deis_psql "SELECT floor(extract(epoch FROM s.mtime))::bigint FROM app_settings s JOIN apps a ON a.id = s.app_id WHERE a.name = '"'"'knobs'"'"' AND s.name = '"'"'autoscale'"'"'") &&
	test "$(stat -c %Y "$APP/autoscale")" = "$stored"
'

test_expect_success 'autoscale: bad input fails at write() with EINVAL, changes nothing, says why' '
	printf "web=2..10 cpu=70\nworker=1..4 cpu=80\n" >expect &&
	for bad in "web=2" "web=5..2" "web=0..3" "cpu=70" "web=1..2 cpu=101" "web=1..2 web=3..4" "Web=1..2"; do
		test_must_fail bash -c "echo \"$bad\" >\"$APP/autoscale\"" 2>err &&
		grep "Invalid argument" err &&
		test_cmp expect "$APP/autoscale" || return 1
	done &&
	test_wait_for 10 grep -q "refused: autoscale: .web=5..2.: expected TYPE=MIN..MAX" "$APP/logs"
'

test_expect_success 'sed -i changes it in one go; what a read gives back is accepted' '
	sed -i "s/cpu=80/cpu=60/" "$APP/autoscale" &&
	printf "web=2..10 cpu=70\nworker=1..4 cpu=60\n" >expect &&
	test_cmp expect "$APP/autoscale" &&
	cp "$APP/autoscale" copy &&
	cp copy "$APP/autoscale" &&
	test_cmp expect "$APP/autoscale"
'

test_expect_success 'rm is accepted and changes nothing; an empty write clears it (at the last close)' '
	rm "$APP/autoscale" &&
	test_cmp expect "$APP/autoscale" &&
	: >"$APP/autoscale" &&
	test_wait_for 5 test ! -s "$APP/autoscale" &&
	test -z "$(setting_row autoscale)"
'

test_expect_success 'maintenance: stored as on/off, summary names the value' '
	echo yes >"$APP/maintenance" &&
	test "$(setting_row maintenance)" = on &&
	grep -x "maintenance: on" "$APP/info" &&
	test_wait_for 10 grep -q "root turned maintenance on" "$APP/logs" &&
	echo off >"$APP/maintenance" &&
	test "$(setting_row maintenance)" = off
'

test_expect_success 'cleanup: the app and its settings rows go' '
	rmdir "$APP" &&
	test "$(deis_psql "SELECT count(*) FROM app_settings s LEFT JOIN apps a ON a.id = s.app_id WHERE a.id IS NULL")" = 0
'

test_done
