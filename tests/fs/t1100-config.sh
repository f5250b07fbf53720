#!/bin/bash
test_description='config/<KEY>: one file per var; write sets, rm unsets, mv renames'
. "$(dirname "$0")/../lib.sh"

APP="$DEIS_MOUNT/apps/cfg"

latest_summary() { deis_release_summary cfg; }
release_count() { deis_release_count cfg; }

# Runs CMD... on config/BAR (an editor): BAR then holds VALUE, in exactly
# one new release, and no stray var is left (an editor's temporary file).
edited_in_one_release() {	# VALUE CMD...
	local n value=$1
	shift
	n=$(release_count) &&
	"$@" "$APP/config/BAR" &&
	printf %s "$value" >expect &&
	test_cmp expect "$APP/config/BAR" &&
	test "$(release_count)" = $((n + 1)) &&
	ls "$APP/config" >actual &&
	printf "%s\n" BAR MULTI TLS_KEY >expect &&
	test_cmp expect actual
}

test_expect_success 'setup' '
	mkdir "$APP"
'

test_expect_success 'echo -n sets a var in exactly one release; cat reads it back' '
	echo -n bar >"$APP/config/FOO" &&
	printf bar >expect &&
	test_cmp expect "$APP/config/FOO" &&
	test "$(release_count)" = 2 &&
	test "$(latest_summary)" = "root added FOO" &&
	ls "$APP/config" >actual &&
	echo FOO >expect &&
	test_cmp expect actual
'

test_expect_success 'a single trailing newline of a one-line value is dropped' '
	echo 1 >"$APP/config/DEBUG" &&
	printf 1 >expect &&
	test_cmp expect "$APP/config/DEBUG" &&
	grep -x "DEBUG=1" "$APP/env"
'

test_expect_success 'writing the same value again makes no release' '
	n=$(release_count) &&
	echo -n bar >"$APP/config/FOO" &&
	test "$(release_count)" = "$n"
'

test_expect_success 'a multi-line value (a PEM key) round-trips byte for byte' '
	openssl genpkey -algorithm ed25519 -out key.pem 2>/dev/null &&
	cp key.pem "$APP/config/TLS_KEY" &&
	cmp key.pem "$APP/config/TLS_KEY" &&
	printf "line1\nline2\n\n  indented \"quoted\" \$dollar\\\\\n" >multi &&
	cp multi "$APP/config/MULTI" &&
	cmp multi "$APP/config/MULTI" &&
	test "$(stat -c %s "$APP/config/MULTI")" = "$(stat -c %s multi)"
'

test_expect_success 'env shows multi-line values quoted, and they survive a rewrite of env' '
	grep "^MULTI=\"line1\\\\nline2" "$APP/env" &&
	cp "$APP/env" env.copy &&
	n=$(release_count) &&
	cp env.copy "$APP/env" &&
	test "$(release_count)" = "$n" &&
	cmp multi "$APP/config/MULTI" &&
	cmp key.pem "$APP/config/TLS_KEY"
'

test_expect_success 'rm unsets a var in one release' '
	n=$(release_count) &&
	rm "$APP/config/DEBUG" &&
	test_path_is_missing "$APP/config/DEBUG" &&
	test "$(release_count)" = $((n + 1)) &&
	test "$(latest_summary)" = "root removed DEBUG" &&
	! grep "^DEBUG=" "$APP/env"
'

test_expect_success 'mv renames a var in one release' '
	n=$(release_count) &&
	mv "$APP/config/FOO" "$APP/config/BAR" &&
	test_path_is_missing "$APP/config/FOO" &&
	printf bar >expect &&
	test_cmp expect "$APP/config/BAR" &&
	test "$(release_count)" = $((n + 1)) &&
	test "$(latest_summary)" = "root renamed FOO to BAR"
'

test_expect_success 'sed -i on a config file changes it in one release, no stray var' '
	edited_in_one_release baz sed -i "s/bar/baz/"
'

test_expect_success 'vim on a config file: one release, no stray var' '
	edited_in_one_release qux vim -es -u NONE -c "s/baz/qux/" -c wq
'

test_expect_success 'touch creates an empty var' '
	touch "$APP/config/EMPTY" &&
	test_wait_for 5 grep -x "EMPTY=\"\"" "$APP/env" &&
	test_must_be_empty "$APP/config/EMPTY"
'

test_expect_success 'invalid keys are refused with EINVAL and change nothing' '
	n=$(release_count) &&
	deis_log_mark &&
	for k in 1BAD BAD-KEY "A B" "x;id"; do
		test_must_fail sh -c "echo v >\"$APP/config/$k\"" 2>err &&
		grep "Invalid argument" err || return 1
	done &&
	test "$(release_count)" = "$n" &&
	deis_log_has_since_mark "not a valid name"
'

test_expect_success 'a value with a NUL byte is refused and changes nothing' '
	n=$(release_count) &&
	test_must_fail bash -c "printf \"a\\0b\\n\" >\"$APP/config/NUL\"" 2>err &&
	grep "Invalid argument" err &&
	printf "a\0b" >nul &&
	test_must_fail cp nul "$APP/config/NUL" &&
	test_wait_for 2 test_path_is_missing "$APP/config/NUL" &&
	test "$(release_count)" = "$n"
'

test_expect_success 'a value over 64 KiB is refused with EFBIG; nothing changes' '
	n=$(release_count) &&
	head -c 100000 /dev/zero | tr "\\0" a >big &&
	test_must_fail cp big "$APP/config/BIG" 2>err &&
	grep -E "too large|Invalid argument" err &&
	test_wait_for 2 test_path_is_missing "$APP/config/BIG" &&
	test "$(release_count)" = "$n"
'

test_expect_success 'rm of a var that does not exist fails with ENOENT' '
	test_must_fail rm "$APP/config/NOPE" 2>err &&
	grep "No such file" err
'

# A new deisfs process knows only what the database holds: what it reads
# back through its own mount was committed before the first one ended.
test_expect_success 'config survives a restart of deisfs (it is in PostgreSQL)' '
	test_when_finished "deis_service_start deisfs" &&
	pid=$(deis_service_pid deisfs) &&
	deis_service_stop deisfs &&
	! proc_alive "$pid" &&
	! mount_responsive "$DEIS_MOUNT" 1 &&
	deis_service_start deisfs &&
	test "$(deis_service_pid deisfs)" != "$pid" &&
	mount_responsive "$DEIS_MOUNT" &&
	printf qux >expect &&
	test_cmp expect "$APP/config/BAR" &&
	cmp multi "$APP/config/MULTI" &&
	cmp key.pem "$APP/config/TLS_KEY" &&
	ls "$APP/config" >actual &&
	printf "%s\n" BAR EMPTY MULTI TLS_KEY >expect &&
	test_cmp expect actual
'

test_expect_success 'cleanup' '
	deis_app_destroy cfg
'

test_done
