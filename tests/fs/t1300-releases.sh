#!/bin/bash
test_description='releases: v1..vN, current, diff between releases, rollback; releases never change'
. "$(dirname "$0")/../lib.sh"

APP="$DEIS_MOUNT/apps/rel"

test_expect_success 'setup: four releases' '
	mkdir "$APP" &&
	echo -n 1 >"$APP/config/A" &&
	echo -n 2 >"$APP/config/B" &&
	echo -n 3 >"$APP/config/A"
'

test_expect_success 'releases/ lists v1..v4, current and latest' '
	ls "$APP/releases" >actual &&
	printf "%s\n" current latest v1 v2 v3 v4 >expect &&
	test_cmp expect actual
'

test_expect_success 'without a build, current and latest are the newest release: deployed at once' '
	test -L "$APP/releases/current" &&
	echo v4 >expect &&
	readlink "$APP/releases/current" >actual &&
	test_cmp expect actual &&
	readlink "$APP/releases/latest" >actual &&
	test_cmp expect actual &&
	grep -x "status: deployed" "$APP/releases/v4/info" &&
	grep -x "status: superseded" "$APP/releases/v3/info" &&
	test_cmp "$APP/releases/v4/env" "$APP/releases/current/env" &&
	grep -x "release: v4" "$APP/info"
'

test_expect_success 'each release has info and env' '
	grep -x "version: v2" "$APP/releases/v2/info" &&
	grep -x "by: root" "$APP/releases/v2/info" &&
	grep -x "summary: root added A" "$APP/releases/v2/info" &&
	grep -x "build: none" "$APP/releases/v2/info" &&
	echo A=1 >expect &&
	test_cmp expect "$APP/releases/v2/env"
'

test_expect_success 'diff -u between two releases shows the change' '
	test_must_fail diff -u "$APP/releases/v3/env" "$APP/releases/v4/env" >d &&
	grep -x -- "-A=1" d &&
	grep -x -- "+A=3" d &&
	grep -x " B=2" d
'

test_expect_success 'releases are read-only' '
	test_must_fail sh -c "echo A=9 >\"$APP/releases/v2/env\"" &&
	test_must_fail sh -c "echo x >\"$APP/releases/v2/info\"" &&
	echo A=1 >expect &&
	test_cmp expect "$APP/releases/v2/env" &&
	test_must_fail mkdir "$APP/releases/v9" &&
	test_must_fail touch "$APP/releases/new"
'

test_expect_success 'echo v2 > rollback makes v5, a copy of v2' '
	echo v2 >"$APP/rollback" &&
	echo v5 >expect &&
	readlink "$APP/releases/current" >actual &&
	test_cmp expect actual &&
	test_cmp "$APP/releases/v2/env" "$APP/releases/v5/env" &&
	grep -x "summary: root rolled back to v2" "$APP/releases/v5/info" &&
	echo A=1 >expect &&
	test_cmp expect "$APP/env" &&
	test_path_is_missing "$APP/config/B"
'

test_expect_success 'rollback accepts a bare number too' '
	echo 4 >"$APP/rollback" &&
	grep -x "summary: root rolled back to v4" "$APP/releases/current/info" &&
	printf "A=3\nB=2\n" >expect &&
	test_cmp expect "$APP/env"
'

test_expect_success 'rollback to a release that does not exist fails and changes nothing' '
	test_must_fail bash -c "echo v99 >\"$APP/rollback\"" 2>err &&
	grep "No such file" err &&
	test_must_fail bash -c "echo banana >\"$APP/rollback\"" 2>err &&
	grep "Invalid argument" err &&
	echo v6 >expect &&
	readlink "$APP/releases/current" >actual &&
	test_cmp expect actual
'

test_expect_success 'older releases never changed' '
	echo A=1 >expect &&
	test_cmp expect "$APP/releases/v2/env" &&
	printf "A=1\nB=2\n" >expect &&
	test_cmp expect "$APP/releases/v3/env" &&
	test "$(deis_psql "SELECT count(DISTINCT version) FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = '"'"'rel'"'"'")" = 6
'

test_expect_success 'limits are part of a release and are rolled back with it' '
	echo "web.memory=256M" >"$APP/limits" &&
	grep -x "summary: root changed limits" "$APP/releases/current/info" &&
	echo v6 >"$APP/rollback" &&
	test_must_be_empty "$APP/limits"
'

test_expect_success 'cleanup' '
	deis_app_destroy rel
'

test_done
