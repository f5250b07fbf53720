#!/bin/bash
test_description='env: the whole config as a dotenv document; every way of editing it makes one release'
. "$(dirname "$0")/../lib.sh"

APP="$DEIS_MOUNT/apps/envy"

latest_summary() { deis_release_summary envy; }
release_count() { deis_release_count envy; }

config_keys() {
	ls "$APP/config"
}

test_expect_success 'setup' '
	mkdir "$APP" &&
	test_must_be_empty "$APP/env"
'

test_expect_success 'echo A=1 >> env appends a var in one release' '
	echo "A=1" >>"$APP/env" &&
	echo "A=1" >expect &&
	test_cmp expect "$APP/env" &&
	test "$(release_count)" = 2 &&
	test "$(latest_summary)" = "root added A"
'

test_expect_success 'printf > env replaces the whole set in one release with a Deis summary' '
	printf "A=2\nB=x\nC=y\n" >"$APP/env" &&
	test "$(release_count)" = 3 &&
	test "$(latest_summary)" = "root added B, C, changed A" &&
	printf "A=2\nB=x\nC=y\n" >expect &&
	test_cmp expect "$APP/env" &&
	printf "%s\n" A B C >expect &&
	config_keys >actual &&
	test_cmp expect actual
'

test_expect_success 'sed -i changes one var: one release, no stray var' '
	sed -i "s/^A=.*/A=3/" "$APP/env" &&
	test "$(release_count)" = 4 &&
	test "$(latest_summary)" = "root changed A" &&
	printf "%s\n" A B C >expect &&
	config_keys >actual &&
	test_cmp expect actual &&
	ls "$APP" >files &&
	! grep -v -x -e autoscale -e builds -e certs -e config -e containers -e domains -e drains -e env \
		-e formation -e git_url -e healthcheck -e image -e info -e limits -e logs \
		-e maintenance -e perms -e procfile -e releases -e rollback -e run -e url files
'

test_expect_success 'sed -i that changes and removes: "changed A, removed B"' '
	sed -i -e "s/^A=.*/A=4/" -e "/^B=/d" "$APP/env" &&
	test "$(release_count)" = 5 &&
	test "$(latest_summary)" = "root changed A, removed B"
'

test_expect_success 'ex (vim) :w on env: one release, no stray files or vars' '
	ex -s -u NONE -c "%s/^C=.*/C=z/" -c "wq" "$APP/env" &&
	test "$(release_count)" = 6 &&
	test "$(latest_summary)" = "root changed C" &&
	printf "%s\n" A C >expect &&
	config_keys >actual &&
	test_cmp expect actual &&
	! ls -a "$APP" | grep -e "~\$" -e "\\.swp\$" -e "^4913\$"
'

test_expect_success 'vim -es adding a line: one release' '
	vim -es -u NONE -c "normal GoD=new" -c wq "$APP/env" &&
	test "$(release_count)" = 7 &&
	test "$(latest_summary)" = "root added D"
'

test_expect_success 'cp file env: one release' '
	printf "A=4\nC=z\nD=new\nE=\"two words\"\n" >new.env &&
	cp new.env "$APP/env" &&
	test "$(release_count)" = 8 &&
	test "$(latest_summary)" = "root added E" &&
	printf "two words" >expect &&
	test_cmp expect "$APP/config/E"
'

test_expect_success 'writing the same content makes no release' '
	cp "$APP/env" same.env &&
	cp same.env "$APP/env" &&
	test "$(release_count)" = 8
'

test_expect_success 'comments, export and quotes are understood' '
	cat >doc.env <<-\EOF &&
	# a comment
	export A=4
	C='"'"'z'"'"'
	D="new"

	E="two words"
	F="multi\nline"
	EOF
	cp doc.env "$APP/env" &&
	test "$(latest_summary)" = "root added F" &&
	printf "multi\nline" >expect &&
	test_cmp expect "$APP/config/F"
'

test_expect_success 'a bad document fails at close with EINVAL and changes nothing' '
	n=$(release_count) &&
	cp "$APP/env" before &&
	deis_log_mark &&
	printf "A=1\nnot a var line\n" >bad.env &&
	test_must_fail cp bad.env "$APP/env" 2>err &&
	grep "Invalid argument" err &&
	test "$(release_count)" = "$n" &&
	test_cmp before "$APP/env" &&
	deis_log_has_since_mark "env" &&
	printf "1BAD=x\n" >bad2.env &&
	test_must_fail cp bad2.env "$APP/env" &&
	test "$(release_count)" = "$n" &&
	test_cmp before "$APP/env"
'

test_expect_success 'sed -i producing a bad document fails and changes nothing' '
	n=$(release_count) &&
	test_must_fail sed -i "s/^A=4/A 4/" "$APP/env" 2>err &&
	test "$(release_count)" = "$n" &&
	grep -x "A=4" "$APP/env" &&
	! ls "$APP" | grep "^sed"
'

test_expect_success 'an empty env removes every var in one release' '
	n=$(release_count) &&
	: >"$APP/env" &&
	test_wait_for 5 eval "test \"\$(release_count)\" = $((n + 1))" &&
	test "$(latest_summary)" = "root removed A, C, D, E, F" &&
	test_must_be_empty "$APP/env" &&
	test -z "$(ls "$APP/config")"
'

test_expect_success 'env and config/ agree' '
	printf "X=1\nY=2\n" >"$APP/env" &&
	for k in X Y; do
		test -f "$APP/config/$k" || return 1
	done &&
	printf 1 >expect &&
	test_cmp expect "$APP/config/X"
'

test_expect_success 'cleanup' '
	deis_app_destroy envy
'

test_done
