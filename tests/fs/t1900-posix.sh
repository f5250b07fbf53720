#!/bin/bash
test_description='POSIX where users feel it: sizes, mtimes, find, grep -r, tar, cp -r, mkdir -p, truncate'
. "$(dirname "$0")/../lib.sh"

A="$DEIS_MOUNT/apps"
APP="$A/px"

test_expect_success 'setup' '
	mkdir -p "$APP" &&
	printf "A=1\nB=two words\n" >src.env &&
	sed "s/^B=two words/B=\"two words\"/" src.env >src2.env &&
	cp src2.env "$APP/env" &&
	echo "web=1" >"$APP/formation"
'

test_expect_success 'ls -l and stat show true sizes for every file' '
	for f in info url git_url env formation limits domains healthcheck maintenance \
		 perms procfile releases/v1/info releases/v2/env config/A config/B; do
		test "$(stat -c %s "$APP/$f")" = "$(cat "$APP/$f" | wc -c)" || {
			echo "size of $f is wrong" && return 1
		}
	done
'

test_expect_success 'mtimes: a file changes its mtime when it changes, and only then' '
	m1=$(stat -c %Y.%y "$APP/formation") &&
	e1=$(stat -c %y "$APP/env") &&
	sleep 1.1 &&
	echo "web=2" >"$APP/formation" &&
	m2=$(stat -c %Y.%y "$APP/formation") &&
	test "$m1" != "$m2" &&
	test "$(stat -c %y "$APP/env")" = "$e1" &&
	echo -n 3 >"$APP/config/C" &&
	test "$(stat -c %y "$APP/env")" != "$e1" &&
	now=$(date +%s) &&
	test $(( now - $(stat -c %Y "$APP/env") )) -le 5
'

test_expect_success 'a config var keeps the mtime of the release that last changed it' '
	a=$(stat -c %Y "$APP/config/A") &&
	c=$(stat -c %Y "$APP/config/C") &&
	test "$a" -lt "$c"
'

test_expect_success 'O_APPEND: echo >> env appends' '
	echo "D=4" >>"$APP/env" &&
	tail -n 1 "$APP/env" >actual &&
	echo D=4 >expect &&
	test_cmp expect actual
'

test_expect_success 'find lists the tree' '
	find "$APP" -maxdepth 1 -type f | sort >actual &&
	grep -x "$APP/env" actual &&
	grep -x "$APP/info" actual &&
	find "$APP/releases" -name env | wc -l >n &&
	test "$(cat n)" -ge 4 &&
	find "$APP/releases" -type l >links &&
	grep -x "$APP/releases/current" links
'

test_expect_success 'grep -r searches the tree' '
	grep -r "two words" "$APP/config" >out &&
	grep "config/B:two words" out &&
	grep -rl "^D=4" "$APP" >out &&
	grep -x "$APP/env" out
'

test_expect_success 'tar c of an app, and tar x of it elsewhere' '
	tar -C "$A" -cf px.tar px 2>tar.err &&
	mkdir tarout && tar -C tarout -xf px.tar &&
	test_cmp "$APP/env" tarout/px/env &&
	test_cmp "$APP/releases/v1/info" tarout/px/releases/v1/info &&
	test -L tarout/px/releases/current
'

test_expect_success 'cp -r out of the tree copies content' '
	cp -r "$APP/releases" rel-copy &&
	test_cmp "$APP/releases/v2/env" rel-copy/v2/env &&
	cp -rL "$APP/config" cfg-copy &&
	printf 1 >expect &&
	test_cmp expect cfg-copy/A
'

test_expect_success 'mkdir -p on existing paths succeeds' '
	mkdir -p "$APP/config" "$APP/releases" "$A"
'

test_expect_success 'truncate -s 0 of a config var sets it empty' '
	truncate -s 0 "$APP/config/C" &&
	test_must_be_empty "$APP/config/C" &&
	grep -x "C=\"\"" "$APP/env"
'

test_expect_success 'stat -f (statfs) and df work' '
	stat -f "$DEIS_MOUNT" >/dev/null &&
	df "$DEIS_MOUNT" >/dev/null
'

test_expect_success 'scratch files in an app directory are private and vanish with the app' '
	echo draft >"$APP/notes.txt" &&
	echo draft >expect &&
	test_cmp expect "$APP/notes.txt" &&
	rm "$APP/notes.txt" &&
	test_path_is_missing "$APP/notes.txt" &&
	test "$(deis_psql "SELECT count(*) FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = '"'"'px'"'"' AND r.summary LIKE '"'"'%notes%'"'"'")" = 0
'

test_expect_success 'cleanup' '
	deis_app_destroy px
'

test_done
