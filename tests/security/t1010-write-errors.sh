#!/bin/bash
test_description='line-oriented files check every complete line at write(), so the shell sees a bad line; a config value is stored byte for byte or refused'
. "$(dirname "$0")/../lib.sh"

APP="$DEIS_MOUNT/apps/fserr"

release_count() { deis_release_count fserr; }

# The shell command CMD, a write into env, fails with EINVAL; env and the
# releases are as they were.
env_write_refused() {	# CMD
	local n
	n=$(release_count) &&
	test_must_fail bash -c "$1" 2>err &&
	cat err &&
	grep "Invalid argument" err &&
	test_cmp env.before "$APP/env" &&
	test "$(release_count)" = "$n"
}

test_expect_success 'setup' '
	mkdir "$APP" &&
	printf "A=1\n" >"$APP/env" &&
	echo web=1 >"$APP/formation" &&
	echo www.fserr-example.com >"$APP/domains" &&
	echo web.memory=256M >"$APP/limits" &&
	echo path=/ >"$APP/healthcheck" &&
	for f in env formation domains limits healthcheck perms drains; do
		cat "$APP/$f" >"$f.before" || return 1
	done
'

test_expect_success 'echo "FOO BAR" > env fails in the shell (EINVAL) and changes nothing' '
	env_write_refused "echo \"FOO BAR\" >\"$APP/env\""
'

test_expect_success 'a bad complete line fails at write even when an incomplete line follows it' '
	n=$(release_count) &&
	env_write_refused "printf \"B=2\\nFOO BAR\\nC=\" >\"$APP/env\"" &&
	test "$(deis_write_close "$APP/env" "B=2\\nFOO BAR\\nC=")" = "write=EINVAL close=0" &&
	test_cmp env.before "$APP/env" &&
	test "$(release_count)" = "$n"
'

test_expect_success 'a final incomplete line is checked at close only' '
	n=$(release_count) &&
	test "$(deis_write_close "$APP/env" "B=2\\nFOO BAR")" = "write=0 close=EINVAL" &&
	test_cmp env.before "$APP/env" &&
	test "$(release_count)" = "$n" &&
	test "$(deis_write_close "$APP/env" "A=1\\nB=2")" = "write=0 close=0" &&
	printf "A=1\nB=2\n" >expect &&
	test_cmp expect "$APP/env" &&
	printf "A=1\n" >"$APP/env"
'

test_expect_success 'a quoted value may span lines and writes' '
	{ printf "A=1\nP=\"line 1\n" && printf "line 2\"\n"; } >"$APP/env" &&
	printf "line 1\nline 2" >expect &&
	test_cmp expect "$APP/config/P" &&
	{ printf "P='"'"'x\n" && printf "FOO BAR\n" && printf "y'"'"'\n"; } >"$APP/env" &&
	printf "x\nFOO BAR\ny" >expect &&
	test_cmp expect "$APP/config/P" &&
	printf "A=1\n" >"$APP/env"
'

# One bad complete line followed by an incomplete one: a single write()
# that ends mid-line, so only a check of the complete lines sees it.
for f in formation:web=abc domains:not_a_domain perms:No-Such-User \
	drains:http://nowhere limits:web.memory=lots healthcheck:path=relative; do
	file=${f%%:*} bad=${f#*:}
	test_expect_success "a bad line in $file fails at write even when an incomplete line follows" '
		test_must_fail bash -c "printf \"$bad\\nx\" >\"$APP/$file\"" 2>err &&
		grep "Invalid argument" err &&
		test "$(deis_write_close "$APP/$file" "$bad\\nx")" = "write=EINVAL close=0" &&
		test_cmp $file.before "$APP/$file"
	'
done

test_expect_success 'a bad line in env, written one line per write(), fails at that write' '
	env_write_refused "{ echo A=1; echo B=2; echo FOO BAR; echo C=3; } >\"$APP/env\""
'

test_expect_success 'a config value that is not UTF-8 is refused at write (EINVAL), never dropped' '
	n=$(release_count) &&
	test_must_fail bash -c "printf \"\\377\\376bin\\n\" >\"$APP/config/BIN\"" 2>err &&
	grep "Invalid argument" err &&
	test_path_is_missing "$APP/config/BIN" &&
	test "$(deis_write_close "$APP/config/BIN" "\\xff\\xfe")" = "write=0 close=EINVAL" &&
	test_path_is_missing "$APP/config/BIN" &&
	test_must_fail bash -c "printf \"BIN=\\377\\376\\n\" >\"$APP/env\"" 2>err &&
	grep "Invalid argument" err &&
	test_cmp env.before "$APP/env" &&
	test "$(release_count)" = "$n" &&
	! grep -q BIN "$APP/releases/current/info"
'

test_expect_success 'UTF-8 values round-trip byte for byte' '
	printf "caf\303\251 \342\202\254 \360\237\230\200" >"$APP/config/UTF" &&
	printf "caf\303\251 \342\202\254 \360\237\230\200" >expect &&
	test_cmp expect "$APP/config/UTF" &&
	printf "UTF=\"caf\303\251 \342\202\254 \360\237\230\200\"\n" >line &&
	grep -Fx -f line "$APP/env"
'

test_expect_success 'cleanup' '
	deis_app_destroy fserr
'

test_done
