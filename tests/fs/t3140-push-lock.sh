#!/bin/bash
test_description='deis-builder on two nodes: one push per app at a time across builders (a PostgreSQL lock), freed when a builder dies; pushes through a node whose repository is behind'
. "$(dirname "$0")/../lib.sh"

APP=pl-hello USER_=deis-plock
# Two builders on one platform, as on two nodes: A is the platform's own
# (its log, its repositories in $DEIS_HOME/git), B a second deis-builder
# started here in $NB, with a home, a port and repositories of its own.
ALOG=$DEIS_LOGDIR/deis-builder.log AREPO=$DEIS_HOME/git/$APP.git
NB=$TRASH_DIRECTORY/nodeb
BLOG=$NB/builder.log BREPO=$NB/home/git/$APP.git
export TRASH_DIRECTORY	# for gatessh

# git push of src through builder A or B (a port); output in push.out.
push_a() { deis_git_push $USER_ $APP src "$@"; }
push_b() { DEIS_SSH_PORT=$(cat "$NB/port") deis_git_push $USER_ $APP src "$@"; }

# The lock of the app's push held in PostgreSQL: the holders' names.
lock_holders() {
	deis_psql "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		   WHERE l.locktype = 'advisory' AND l.classid = 7310 AND l.objsubid = 2
		   AND l.objid = $(cat "$TRASH_DIRECTORY/app.id") AND l.granted"
}
lock_free() { test -z "$(lock_holders)"; }

# Pushes started so far in builder LOG.
pushes() { grep -c "push to $APP started" "$1" || :; }
pushes_above() { test "$(pushes "$1")" -gt "$2"; }

# A push through PORT whose data waits, the lock held, until the file
# gate exists: its output in held.out, its status in held.rc.
held_push() {	# PORT
	local ssh
	ssh=$(DEIS_SSH_PORT=$1 _deis_ssh_command $USER_)
	rm -f gate held.rc held.out &&
	(
		GIT_SSH_COMMAND="$TRASH_DIRECTORY/gatessh ${ssh#ssh }" GIT_SSH_VARIANT=ssh \
			git -C src push "ssh://git@127.0.0.1:$1/$APP.git" main >held.out 2>&1
		echo $? >held.rc
	) &
	echo $! >held.pid
}

# A new commit of src adding the file NAME; its id in the file NAME.
new_commit() {	# NAME
	echo "$1" >"src/$1" &&
	deis_git_commit src "$1" &&
	git -C src rev-parse HEAD >"$1"
}

# The commit of the app's current release, from the database.
current_commit() {
	deis_psql "SELECT b.commit FROM releases r JOIN builds b ON b.id = r.build_id
		   JOIN apps a ON a.id = r.app_id WHERE a.name = '$APP'
		   ORDER BY r.version DESC LIMIT 1"
}

# Starts builder B; its pid in $NB/pid once it listens.
start_b() {
	local pid
	"$DEIS_BUILDER" --config="$NB/deis.conf" >>"$BLOG" 2>&1 &
	pid=$!
	test_wait_for 10 grep -q "deis-builder\[$pid\]: notice: listening on" "$BLOG" || {
		kill "$pid"
		return 1
	}
	echo "$pid" >"$NB/pid"
}

# SIGKILL builder B and every session it forked (each a process group
# with its git and hook): a node lost.
kill_b() {
	local pid c
	pid=$(cat "$NB/pid") || return 0
	for c in $(ps -o pid= --ppid "$pid"); do
		kill -KILL -- "-$c" 2>/dev/null
	done
	kill -KILL "$pid" 2>/dev/null
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	rm -f "$NB/pid"
}

test_expect_success 'setup: a user, an app, hello in git; a second builder with its own repositories' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src c1 &&
	git -C src rev-parse HEAD >c1 &&
	deis_psql "SELECT id FROM apps WHERE name = '\''$APP'\''" >app.id &&
	test -s app.id &&
	cat >gatessh <<-\EOF &&
	#!/bin/sh
	# ssh whose input waits (at most 60 s) until the file gate exists.
	{ i=0; while [ ! -e "$TRASH_DIRECTORY/gate" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done; cat; } | ssh "$@"
	EOF
	chmod +x gatessh &&
	mkdir -p "$NB/home" &&
	free_port "$DEIS_SSH_PORT" >"$NB/port" &&
	sed -e "s|^home = .*|home = $NB/home|" -e "s|^ssh_port = .*|ssh_port = $(cat "$NB/port")|" \
		"$DEIS_CONF" >"$NB/deis.conf" &&
	grep -qx "home = $NB/home" "$NB/deis.conf" &&
	start_b
'

test_expect_success 'a push through A builds v2; its lock is held in PostgreSQL only while it runs' '
	push_a &&
	grep "^remote: -----> Launching v2" push.out &&
	lock_free &&
	test "$(git --git-dir="$AREPO" rev-parse refs/heads/main)" = "$(cat c1)"
'

test_expect_success 'a follow-up commit through B, whose repository is empty, builds the next release' '
	test_path_is_missing "$BREPO" &&
	new_commit c2 &&
	push_b &&
	grep "^remote: -----> Launching v3" push.out &&
	test "$(current_commit)" = "$(cat c2)" &&
	test "$(git --git-dir="$BREPO" rev-parse refs/heads/main)" = "$(cat c2)" &&
	lock_free
'

test_expect_success 'back through A, whose copy is behind and lacks the last build: the push works' '
	new_commit c3 &&
	push_a &&
	grep "^remote: -----> Launching v4" push.out &&
	grep -q "$APP.git: deleted main ($(cut -c1-12 c1)): the app.s last build, $(cut -c1-12 c2)" "$ALOG" &&
	test "$(git --git-dir="$AREPO" rev-parse refs/heads/main)" = "$(cat c3)" &&
	test "$(current_commit)" = "$(cat c3)"
'

test_expect_success 'history rewritten through B (a force push), then a fast-forward of it through A' '
	git -C src reset -q --hard "$(cat c2)" &&
	push_b +main &&
	grep "^remote: -----> Launching v5" push.out &&
	test "$(current_commit)" = "$(cat c2)" &&
	new_commit c4 &&
	push_a &&
	grep "^remote: -----> Launching v6" push.out &&
	grep -q "$APP.git: main was $(cut -c1-12 c3), now $(cut -c1-12 c2): the app.s last build" "$ALOG" &&
	test "$(current_commit)" = "$(cat c4)"
'

test_expect_success 'through a node that has the last build, a push that is not a fast-forward of it is rejected' '
	n=$(deis_release_count $APP) &&
	test_must_fail push_a "$(cat c3):refs/heads/main" &&
	grep -E "\[rejected\].*(non-fast-forward|fetch first)" push.out &&
	test "$(deis_release_count $APP)" = "$n"
'

test_expect_success 'concurrent pushes through A and B: the one through B is refused at once, with the message' '
	new_commit c5 &&
	n=$(pushes "$ALOG") &&
	held_push "$DEIS_SSH_PORT" &&
	test_wait_for 20 pushes_above "$ALOG" "$n" &&
	test "$(lock_holders)" = "deis-builder push" &&
	t0=${EPOCHREALTIME/./} &&
	test_must_fail push_b &&
	t1=${EPOCHREALTIME/./} &&
	echo "refused in $(((t1 - t0) / 1000)) ms" &&
	grep "^deis: another push is in progress for app .$APP.; try again when it has finished" push.out &&
	test $((t1 - t0)) -lt 5000000 &&
	touch gate &&
	test_wait_for 60 test -s held.rc &&
	cat held.out &&
	test "$(cat held.rc)" = 0 &&
	grep "^remote: -----> Launching v7" held.out &&
	lock_free
'

test_expect_success 'B SIGKILLed mid-push (with its sessions): the lock is freed, the next push through A works' '
	new_commit c6 &&
	n=$(pushes "$BLOG") &&
	held_push "$(cat "$NB/port")" &&
	test_wait_for 20 pushes_above "$BLOG" "$n" &&
	test "$(lock_holders)" = "deis-builder push" &&
	test_must_fail push_a &&
	grep "^deis: another push is in progress for app .$APP." push.out &&
	t0=${EPOCHREALTIME/./} &&
	kill_b &&
	test_wait_for 10 lock_free &&
	echo "lock freed $(((${EPOCHREALTIME/./} - t0) / 1000)) ms after the SIGKILL" &&
	touch gate &&
	test_wait_for 60 test -s held.rc &&
	test "$(cat held.rc)" != 0 &&
	push_a &&
	grep "^remote: -----> Launching v8" push.out &&
	test "$(current_commit)" = "$(cat c6)" &&
	lock_free
'

test_expect_success 'B back: a fetch through it, which lacks the last build, says so; a clone through A has it' '
	start_b &&
	GIT_SSH_COMMAND="$(DEIS_SSH_PORT=$(cat "$NB/port") _deis_ssh_command $USER_)" \
		git ls-remote "ssh://git@127.0.0.1:$(cat "$NB/port")/$APP.git" >refs 2>err &&
	cat err &&
	grep "^deis: the last build of app .$APP. ($(cut -c1-7 c6)) was pushed through another node" err &&
	! grep "$(cat c6)" refs &&
	GIT_SSH_COMMAND="$(_deis_ssh_command $USER_)" \
		git clone -q "ssh://git@127.0.0.1:$DEIS_SSH_PORT/$APP.git" clone &&
	test "$(git -C clone rev-parse HEAD)" = "$(cat c6)"
'

test_expect_success 'cleanup: builder B, held pushes, the app and its containers, the key' '
	touch gate &&
	kill_b &&
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
