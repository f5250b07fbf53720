# tests/lib.sh - the shell test library for deisfs, in the style of git's
# t/test-lib.sh.  A test script looks like this:
#
#	#!/bin/bash
#	test_description='what this script covers'
#	. "$(dirname "$0")/../lib.sh"
#
#	test_expect_success 'creating an app makes its directory' '
#		mkdir "$DEIS_MOUNT/apps/hello" &&
#		test_path_is_dir "$DEIS_MOUNT/apps/hello"
#	'
#
#	test_done
#
# Each body is eval'd in a subshell (so a `cd` or a variable does not leak
# into the next test; keep state in files in the scratch dir), from the
# scratch directory $DEIS_HOME/trash.<script name>, with stdin from
# /dev/null and `set -e` on.  Chain commands with && as git does: the body's
# exit status decides, and a chain-lint pass (git's "(exit 117) && body"
# trick) fails a test whose && chain is broken.  Inside a body, `return 1`
# works (the body runs in a function) and `test_when_finished CMD` runs CMD
# when the body ends, pass or fail.
#
# Output is TAP: "ok N - title" or "not ok N - title", the latter followed by
# the body's output and source as "# " lines; test_done prints "1..N" and
# exits 1 if any test failed.  test_expect_failure marks a known breakage,
# as git's does: a body that fails is "not ok N - title # TODO known
# breakage" (neither a pass nor a failure), one that passes "ok N - title
# # TODO known breakage vanished" (time to make it test_expect_success).
# Everything (every body, its output and result) also goes to
# $DEIS_HOME/test-logs/<script name>.log.
#
# Options (to the script): -v/--verbose shows every body's output,
# -x traces bodies with set -x, -i/--immediate stops at the first failure,
# --no-chain-lint turns the chain lint off.  DEIS_TEST_VERBOSE=1 is -v.
#
# A script owns what it makes (apps, their containers, users' keys,
# processes, files under $DEIS_HOME, changes to deis.conf) and removes it
# with test_when_finished or in a last 'cleanup' test, so that it passes
# alone (packaging/test tNNNN) and leaves nothing that another script's
# check could count.  Every script runs on the same platform, one after
# the other; the platform's own processes run under a supervisor that
# restarts them when they exit: a script stops one on purpose with
# deis_service_stop (or the stop functions of packaging/services.sh) and
# starts it again with deis_service_start.
#
# Variables: every DEIS_* of deis_env_init (packaging/lib.sh), from the
# platform's deis.conf; TEST_NAME TRASH_DIRECTORY; HOME (the script's
# own).  Helpers:
#   the library   test_expect_success test_expect_failure test_must_fail
#                 test_might_fail test_expect_code test_cmp
#                 test_must_be_empty test_line_count test_path_is_file
#                 test_path_is_dir test_path_is_missing test_when_finished
#                 test_set_prereq test_have_prereq test_wait_for
#   services      deis_service_pid deis_service_stop deis_service_start
#                 deis_service_back
#   the platform  deis_psql deis_redis deis_release_count
#                 deis_release_summary deis_conf_add deis_conf_restore
#                 deis_log_has deis_log_mark deis_log_has_since_mark
#                 deis_mount_extra deis_unmount deis_write_close
#   logs          deis_log_send deis_log_stream deis_log_stream_has
#                 deis_logd_restart deis_listen
#   users, git    deis_useradd deis_as deis_git_user deis_keys_remove
#                 deis_hello_app deis_git_push deis_git_commit deis_ssh
#                 deis_make_cert deis_registry_tool deis_registry_delete
#   what runs     deis_ct deis_containers deis_nothing_runs
#                 deis_app_destroy deis_scheduler_resyncs deis_load_start
#                 deis_load_check
#   containers    deis_run_in deis_container_probe deis_bridge_address
#                 deis_platform_ports deis_peer_ns_add deis_peer_exec

# shellcheck source=packaging/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/packaging/lib.sh"
# The platform's own config is the truth about its ports.
deis_env_init --conf-first

# Stable output whatever the caller's environment.
export LC_ALL=C.UTF-8 LANG=C.UTF-8 TZ=UTC
unset CDPATH GREP_OPTIONS

TEST_NAME=$(basename "$0" .sh)
TRASH_DIRECTORY=$DEIS_HOME/trash.$TEST_NAME
TEST_LOG_DIR=$DEIS_HOME/test-logs
TEST_LOG=$TEST_LOG_DIR/$TEST_NAME.log
export TEST_NAME TRASH_DIRECTORY

test_count=0
test_failed=0
test_skipped=0
test_broken=0
test_fixed=0
_test_done_called=0
_test_verbose=${DEIS_TEST_VERBOSE:-0}
_test_trace=0
_test_immediate=0
_test_chain_lint=${DEIS_TEST_CHAIN_LINT:-1}
_test_prereqs=' '

for _arg; do
	case $_arg in
	-v|--verbose) _test_verbose=1 ;;
	-x) _test_trace=1 ;;
	-i|--immediate) _test_immediate=1 ;;
	--no-chain-lint) _test_chain_lint=0 ;;
	-h|--help)
		sed -n '/^test_description=/{s/^test_description=//;p}' "$0"
		echo "options: -v (verbose) -x (trace) -i (stop at first failure) --no-chain-lint"
		exit 0 ;;
	*) echo "Bail out! $TEST_NAME: unknown option $_arg"; exit 1 ;;
	esac
done
unset _arg

# ---------------------------------------------------------------- set-up

_test_bail() {
	echo "Bail out! $TEST_NAME: $*"
	exit 1
}

mkdir -p "$TEST_LOG_DIR" || _test_bail "cannot create $TEST_LOG_DIR"
: >"$TEST_LOG" || _test_bail "cannot write $TEST_LOG"
safe_rm_rf "$TRASH_DIRECTORY" >/dev/null 2>&1 || _test_bail "cannot clean $TRASH_DIRECTORY"
mkdir -p "$TRASH_DIRECTORY" || _test_bail "cannot create $TRASH_DIRECTORY"
cd "$TRASH_DIRECTORY" || _test_bail "cannot cd to $TRASH_DIRECTORY"
# A home of the script's own (git, ssh): no user or system configuration.
export HOME=$TRASH_DIRECTORY/.home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME" || _test_bail "cannot create $HOME"

[ "$(id -u)" = 0 ] && _test_prereqs="$_test_prereqs ROOT "
case ${DEIS_MESON_ARGS:-} in *sanitize*) _test_prereqs="$_test_prereqs SANITIZE " ;; esac

{
	echo "# $TEST_NAME: $(date -Is)"
	echo "# DEIS_HOME=$DEIS_HOME DEIS_MOUNT=$DEIS_MOUNT DEISFS=$DEISFS"
} >>"$TEST_LOG"

if [ "${DEIS_TEST_NO_MOUNT:-0}" != 1 ]; then
	[ -r "$DEIS_CONF" ] || _test_bail "$DEIS_CONF not found (run packaging/up, or set DEIS_HOME)"
	mount_responsive "$DEIS_MOUNT" ||
		_test_bail "$DEIS_MOUNT is not a working deisfs mount (run packaging/up, or set DEIS_MOUNT)"
fi

_test_on_exit() {
	local st=$?
	_deis_unmount_all_extra
	_deis_peer_ns_del
	if [ $_test_done_called = 0 ]; then
		echo "Bail out! $TEST_NAME exited (status $st) before test_done"
		[ $st != 0 ] || st=1
	fi
	exit $st
}
trap _test_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- core

# Prints lines of stdin prefixed with "# ".
_test_comment() {
	sed 's/^/# /'
}

# Runs a body inside a function (so `return` works), in the caller's
# subshell.
_test_eval() {
	eval "$1"
}

# Runs a body in a subshell with set -e; output into $1.  Returns its
# status.  Call it as a plain command with errexit off: inside an && or ||
# list (or an if), bash ignores set -e in the subshell too.
_test_run() {	# OUTFILE BODY
	local out=$1 body=$2
	(
		test_cleanup_cmds=''
		trap '_test_st=$?
			set +e +x
			if [ -n "$test_cleanup_cmds" ]; then
				_test_cleanup_failed=0
				_test_eval "$test_cleanup_cmds"
				if [ $_test_cleanup_failed != 0 ]; then
					echo "test_when_finished: a clean-up command failed" >&2
					[ $_test_st != 0 ] || _test_st=1
				fi
			fi
			exit $_test_st' EXIT
		cd "$TRASH_DIRECTORY" || exit 1
		[ "$_test_trace" = 0 ] || set -x
		set -e
		_test_eval "$body"
	) </dev/null >"$out" 2>&1
}

# git's chain lint: with an intact && chain nothing after "(exit 117) &&"
# runs, so the status is 117.
_test_chain_ok() {	# BODY
	local st restore_e=0
	[ "$_test_chain_lint" = 1 ] || return 0
	case $- in *e*) restore_e=1; set +e ;; esac
	(
		cd "$TRASH_DIRECTORY" || exit 1
		_test_eval "(exit 117) && $1"
	) </dev/null >/dev/null 2>&1
	st=$?
	[ $restore_e = 0 ] || set -e
	[ $st = 117 ]
}

# test_expect_success [PREREQ] 'title' 'body'
test_expect_success() {
	_test_expect success test_expect_success "$@"
}

# test_expect_failure [PREREQ] 'title' 'body': a known breakage, the body
# saying what should work and does not yet.
test_expect_failure() {
	_test_expect failure test_expect_failure "$@"
}

_test_expect() {	# success|failure FUNCTION [PREREQ] TITLE BODY
	local want=$1 fn=$2 prereq='' title body out st failed_before=$test_failed
	shift 2
	if [ $# = 3 ]; then prereq=$1; shift; fi
	[ $# = 2 ] || _test_bail "bug in the test script: $fn needs 2 or 3 arguments, got $#"
	title=$1 body=$2
	test_count=$((test_count + 1))
	if [ -n "$prereq" ] && ! test_have_prereq "$prereq"; then
		test_skipped=$((test_skipped + 1))
		echo "ok $test_count # skip $title (missing $prereq)"
		echo "ok $test_count # skip $title (missing $prereq)" >>"$TEST_LOG"
		return 0
	fi
	out=$(mktemp "$TEST_LOG_DIR/.$TEST_NAME.out.XXXXXX")
	{
		echo
		echo "=== $test_count - $title"
		printf '%s\n' "$body" | sed 's/^/  > /'
	} >>"$TEST_LOG"
	if ! _test_chain_ok "$body"; then
		echo "bug in the test script: broken &&-chain or run-away HERE-DOC in this body" >"$out"
		st=117
	else
		# Not in an && / || list: that would switch off set -e inside.
		case $- in *e*) set +e; _test_run "$out" "$body"; st=$?; set -e ;;
		*) _test_run "$out" "$body"; st=$? ;;
		esac
	fi
	cat "$out" >>"$TEST_LOG"
	if [ $want = failure ] && [ $st != 117 ]; then
		_test_known_breakage "$st" "$title" "$out"
	elif [ $st = 0 ]; then
		echo "ok $test_count - $title"
		[ "$_test_verbose" = 0 ] || _test_comment <"$out"
		echo "--- ok $test_count - $title" >>"$TEST_LOG"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $title"
		if [ -s "$out" ]; then
			_test_comment <"$out"
		fi
		echo "exit status $st; body:" | _test_comment
		printf '%s\n' "$body" | sed '/^[[:space:]]*$/d; s/^/#   /'
		echo "--- not ok $test_count - $title (exit status $st)" >>"$TEST_LOG"
	fi
	rm -f "$out"
	if [ $test_failed != "$failed_before" ] && [ "$_test_immediate" = 1 ]; then
		echo "# stopping at the first failure (-i)"
		test_done
	fi
	return 0
}

# The result of a test_expect_failure body that ended with STATUS.
_test_known_breakage() {	# STATUS TITLE OUTFILE
	if [ "$1" = 0 ]; then
		test_fixed=$((test_fixed + 1))
		echo "ok $test_count - $2 # TODO known breakage vanished"
		echo "--- ok $test_count - $2 (known breakage vanished)" >>"$TEST_LOG"
	else
		test_broken=$((test_broken + 1))
		echo "not ok $test_count - $2 # TODO known breakage"
		echo "--- not ok $test_count - $2 (known breakage, exit status $1)" >>"$TEST_LOG"
	fi
	[ "$_test_verbose" = 0 ] || _test_comment <"$3"
}

test_done() {
	_test_done_called=1
	_deis_unmount_all_extra
	_deis_peer_ns_del
	if [ $test_count = 0 ]; then
		echo "1..0 # SKIP no tests"
	else
		echo "1..$test_count"
	fi
	{
		echo
		echo "# $test_count test(s), $test_failed failed, $test_skipped skipped," \
			"$test_broken known breakage(s), $test_fixed vanished"
	} >>"$TEST_LOG"
	[ $test_broken = 0 ] || echo "# still have $test_broken known breakage(s)"
	[ $test_fixed = 0 ] ||
		echo "# $test_fixed known breakage(s) vanished; please update test(s)"
	if [ $test_failed != 0 ]; then
		echo "# failed $test_failed among $test_count test(s); scratch dir kept: $TRASH_DIRECTORY; log: $TEST_LOG"
		exit 1
	fi
	local msg="$test_count test(s)"
	[ $((test_broken + test_fixed)) = 0 ] ||
		msg="remaining $((test_count - test_broken - test_fixed)) test(s)"
	[ $test_skipped = 0 ] || msg="$msg ($test_skipped skipped)"
	echo "# passed all $msg"
	cd "$DEIS_HOME" && safe_rm_rf "$TRASH_DIRECTORY" >/dev/null 2>&1
	exit 0
}

test_set_prereq() {	# NAME
	_test_prereqs="$_test_prereqs $1 "
}

# Succeeds if every comma-separated PREREQ is set (or, for !NAME, unset).
test_have_prereq() {	# PREREQ[,PREREQ...]
	local p
	for p in ${1//,/ }; do
		case $p in
		!*) case $_test_prereqs in *" ${p#!} "*) return 1 ;; esac ;;
		*) case $_test_prereqs in *" $p "*) ;; *) return 1 ;; esac ;;
		esac
	done
	return 0
}

# ---------------------------------------------------------------- assertions

# Succeeds only if CMD fails normally: not by a signal, and not because it
# was not found or could not run.
test_must_fail() {
	local st
	"$@" && st=0 || st=$?
	if [ $st = 0 ]; then
		echo "test_must_fail: command succeeded: $*" >&2
		return 1
	elif [ $st -gt 128 ]; then
		echo "test_must_fail: died by signal $((st - 128)): $*" >&2
		return 1
	elif [ $st = 127 ]; then
		echo "test_must_fail: command not found: $*" >&2
		return 1
	elif [ $st = 126 ]; then
		echo "test_must_fail: command could not run: $*" >&2
		return 1
	fi
	return 0
}

# Like test_must_fail, but success is fine too.
test_might_fail() {
	local st
	"$@" && st=0 || st=$?
	if [ $st -gt 128 ] || [ $st = 127 ] || [ $st = 126 ]; then
		echo "test_might_fail: status $st: $*" >&2
		return 1
	fi
	return 0
}

# Succeeds if CMD exits with exactly CODE.
test_expect_code() {	# CODE CMD...
	local want=$1 st
	shift
	"$@" && st=0 || st=$?
	[ $st = "$want" ] && return 0
	echo "test_expect_code: want exit status $want, got $st: $*" >&2
	return 1
}

test_cmp() {	# EXPECTED ACTUAL
	[ $# = 2 ] || { echo "test_cmp: needs 2 arguments" >&2; return 1; }
	diff -u -- "$1" "$2"
}

test_must_be_empty() {	# FILE
	if [ ! -e "$1" ]; then
		echo "'$1' is missing" >&2
		return 1
	elif [ -s "$1" ]; then
		echo "'$1' is not empty, it contains:" >&2
		cat "$1" >&2
		return 1
	fi
}

# test_line_count = 3 FILE  (any test(1) operator: = -lt -ge ...)
test_line_count() {	# OP N FILE
	[ $# = 3 ] || { echo "test_line_count: needs 3 arguments" >&2; return 1; }
	local n
	n=$(wc -l <"$3") || return 1
	if ! test "$n" "$1" "$2"; then
		echo "test_line_count: line count for $3 ($n) is not $1 $2" >&2
		cat "$3" >&2
		return 1
	fi
}

test_path_is_file() {
	[ -f "$1" ] || { echo "File $1 does not exist" >&2; return 1; }
}
test_path_is_dir() {
	[ -d "$1" ] || { echo "Directory $1 does not exist" >&2; return 1; }
}
test_path_is_missing() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		echo "Path $1 exists" >&2
		ls -ld "$1" >&2
		return 1
	fi
}

# Inside a body: run CMD when the body ends, pass or fail (the last
# registered runs first).  A failing clean-up fails the test.
test_when_finished() {
	test_cleanup_cmds="{ $*
} || _test_cleanup_failed=1
${test_cleanup_cmds:-}"
}

# Polls CMD every 0.05 s until it succeeds; fails after SECONDS.
test_wait_for() {	# SECONDS CMD...
	local secs=$1 end now int frac
	shift
	int=${secs%%.*} frac=
	[ "$int" != "$secs" ] && frac=${secs#*.}
	frac=${frac}000000
	frac=${frac:0:6}
	now=${EPOCHREALTIME/./}
	end=$((now + ${int:-0} * 1000000 + 10#$frac))
	while :; do
		"$@" && return 0
		now=${EPOCHREALTIME/./}
		if [ "$now" -ge "$end" ]; then
			echo "test_wait_for: timed out after ${secs}s: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# The helpers that know the platform.
# shellcheck source=tests/lib-deis.sh
. "$DEIS_SRC/tests/lib-deis.sh"
