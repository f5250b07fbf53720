#!/bin/bash
test_description='deis-builder: git push over SSH, key authentication, per-app access, only git commands, push lock, fetch'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
U=$DEIS_MOUNT/users
PORT=$DEIS_SSH_PORT
APP=bld-hello
REPO=$DEIS_HOME/git/$APP.git
BLOG=$DEIS_LOGDIR/deis-builder.log
CANARY=$TRASH_DIRECTORY/canary

# A fixed identity for git.
export GIT_AUTHOR_NAME=Alice GIT_AUTHOR_EMAIL=alice@example.com
export GIT_COMMITTER_NAME=Alice GIT_COMMITTER_EMAIL=alice@example.com

# ssh with only the given key, no questions, no known_hosts.
sshk() {	# KEY ARGS...
	local key=$1
	shift
	ssh -i "$TRASH_DIRECTORY/$key" -o IdentitiesOnly=yes -o IdentityAgent=none \
		-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o LogLevel=ERROR -p "$PORT" "$@"
}
export -f sshk
export TRASH_DIRECTORY PORT

# git with ssh as KEY.
gitk() {	# KEY GIT-ARGS...
	local key=$1
	shift
	GIT_SSH_COMMAND="ssh -i $TRASH_DIRECTORY/$key -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p $PORT" \
		git "$@"
}

# Succeeds once the builder has logged more than N pushes to APP.
pushes_started_above() {	# N
	test "$(grep -c "push to $APP started" "$BLOG")" -gt "$1"
}

url() {	# APP
	echo "ssh://git@127.0.0.1:$PORT/$1.git"
}

test_expect_success 'setup: users with keys, an app, a Procfile app in git' '
	deis_useradd deis-balice &&
	deis_useradd deis-bbob &&
	getent group deis-admin >/dev/null &&
	deis_useradd deis-badmin -G deis-admin &&
	for k in alice bob admin stranger; do
		ssh-keygen -q -t ed25519 -N "" -f $k &&
		chmod 644 $k.pub || return 1
	done &&
	deis_as deis-balice cp "$PWD/alice.pub" "$U/deis-balice/keys/laptop" &&
	deis_as deis-bbob cp "$PWD/bob.pub" "$U/deis-bbob/keys/laptop" &&
	deis_as deis-badmin cp "$PWD/admin.pub" "$U/deis-badmin/keys/laptop" &&
	deis_as deis-balice mkdir "$A/$APP" &&
	deis_as deis-bbob mkdir "$A/$APP-staging" &&
	git init -q -b main src &&
	printf "web: ./server --port \$PORT\nworker: bin/worker\n" >src/Procfile &&
	printf "#!/bin/sh\nexec python3 -m http.server \"\$2\"\n" >src/server &&
	chmod 755 src/server &&
	echo hello >src/README &&
	git -C src add . &&
	git -C src commit -q -m "first" &&
	git -C src rev-parse HEAD >first
'

test_expect_success 'git_url is ssh://git@HOST:PORT/APP.git on the builder port' '
	grep -Ex "ssh://git@[^:/]+:$PORT/$APP\.git" "$A/$APP/git_url"
'

test_expect_success 'the host key was made at first start, 0600 in a 0700 directory' '
	test "$(stat -c %a "$DEIS_HOME/builder")" = 700 &&
	test "$(stat -c %a "$DEIS_HOME/builder/ssh_host_ed25519_key")" = 600 &&
	grep -q "host key .*ED25519 SHA256:" "$BLOG"
'

test_expect_success 'a push of main with a Procfile is accepted and shows the build lines' '
	gitk alice -C src push "$(url $APP)" main >out 2>&1 &&
	cat out &&
	grep "^remote: -----> Building $APP from main" out &&
	grep "^remote: -----> Procfile declares types -> web, worker" out &&
	grep "^remote: -----> Launching v2" out &&
	! grep -E "Sanitizer|runtime error" out
'

test_expect_success 'the bare repository has the commit, and the hook names deis-builder' '
	test "$(git --git-dir="$REPO" rev-parse refs/heads/main)" = "$(cat first)" &&
	test "$(git --git-dir="$REPO" rev-parse --is-bare-repository)" = true &&
	head -n1 "$REPO/hooks/pre-receive" >hook &&
	grep -x "#!/.*/deis-builder hook --config=$DEIS_CONF" hook &&
	test_path_is_missing "$CANARY"
'

test_expect_success 'a push without a Procfile is rejected with a clear message' '
	git -C src rm -q Procfile &&
	git -C src commit -q -m "no procfile" &&
	test_must_fail gitk alice -C src push "$(url $APP)" main >out 2>&1 &&
	cat out &&
	grep "remote:.*Build failed: no Procfile in the root of the repository" out &&
	grep "pre-receive hook declined" out &&
	! grep -E "Sanitizer|runtime error" out &&
	test "$(git --git-dir="$REPO" rev-parse refs/heads/main)" = "$(cat first)"
'

test_expect_success 'a push with a bad Procfile is rejected, naming the line' '
	printf "web: ./server\nWeb Server: x\n" >src/Procfile &&
	git -C src add Procfile &&
	git -C src commit -q -m "bad procfile" &&
	test_must_fail gitk alice -C src push "$(url $APP)" main >out 2>&1 &&
	cat out &&
	grep "remote:.*Procfile line 2: .Web Server. is not a valid process type" out &&
	printf "web: ./server\n" >src/Procfile &&
	ln -sf /etc/shadow src/Procfile &&
	git -C src add Procfile &&
	git -C src commit -q -m "symlink procfile" &&
	test_must_fail gitk alice -C src push "$(url $APP)" main >out 2>&1 &&
	grep "remote:.*Procfile is a symbolic link" out &&
	! grep "root:" out &&
	test "$(git --git-dir="$REPO" rev-parse refs/heads/main)" = "$(cat first)"
'

test_expect_success 'a push of another branch is stored but does not deploy' '
	gitk alice -C src push "$(url $APP)" HEAD:refs/heads/feature >out 2>&1 &&
	cat out &&
	grep "^remote: -----> Not deploying feature: only main or master deploy" out &&
	! grep "Procfile declares" out &&
	test "$(git --git-dir="$REPO" rev-parse refs/heads/feature)" = "$(git -C src rev-parse HEAD)"
'

test_expect_success 'master deploys too' '
	gitk alice -C src push "$(url $APP)" "$(cat first):refs/heads/master" >out 2>&1 &&
	grep "^remote: -----> Building $APP from master" out &&
	grep "^remote: -----> Launching v3" out &&
	! grep -E "Sanitizer|runtime error" out
'

test_expect_success 'an unknown key is refused at authentication' '
	test_must_fail gitk stranger -C src push "$(url $APP)" HEAD:refs/heads/x >out 2>&1 &&
	cat out &&
	grep "Permission denied (publickey)" out &&
	test_must_fail git --git-dir="$REPO" rev-parse --verify -q refs/heads/x &&
	grep -q "unknown key SHA256:" "$BLOG"
'

test_expect_success 'a user without access to the app (only to APP-staging) is refused' '
	test_must_fail gitk bob -C src push "$(url $APP)" HEAD:refs/heads/bobs >out 2>&1 &&
	cat out &&
	grep "deis: app .$APP. does not exist, or deis-bbob may not use it" out &&
	test_must_fail git --git-dir="$REPO" rev-parse --verify -q refs/heads/bobs &&
	test_must_fail gitk bob clone -q "$(url $APP)" bobclone 2>err &&
	grep "may not use it" err &&
	test_must_fail gitk alice -C src push "$(url $APP-staging)" "$(cat first):refs/heads/main" >out 2>&1 &&
	grep "deis: app .$APP-staging. does not exist, or deis-balice may not use it" out &&
	gitk bob -C src push "$(url $APP-staging)" "$(cat first):refs/heads/main" >out 2>&1 &&
	grep "Procfile declares types" out
'

test_expect_success 'perms grant access; an admin may push to any app' '
	test_when_finished "deis_as deis-balice sh -c \": >$A/$APP/perms\"" &&
	deis_as deis-balice sh -c "echo deis-bbob >$A/$APP/perms" &&
	gitk bob -C src push "$(url $APP)" "$(cat first):refs/heads/from-bob" >out 2>&1 &&
	grep "Not deploying from-bob" out &&
	gitk admin -C src push "$(url $APP)" "$(cat first):refs/heads/from-admin" >out 2>&1 &&
	grep "Not deploying from-admin" out
'

test_expect_success 'bad repository names are refused before anything runs' '
	for repo in "../x.git" "x;id.git" "\$(id).git" "-oProxyCommand=x" \
		"x;touch $CANARY.git" "\$(touch $CANARY).git" "$APP/../$APP.git" \
		"$APP.git;touch $CANARY" "/$APP.git'"'"' '"'"'x" "HELLO.git" "" "$APP.git.git"
	do
		test_expect_code 1 sshk alice git@127.0.0.1 "git-receive-pack '"'"'$repo'"'"'" \
			</dev/null >out 2>err &&
		grep "^deis: .* is not a repository of an app" err || return 1
		test_expect_code 1 sshk alice git@127.0.0.1 "git-upload-pack $repo" \
			</dev/null >out 2>err &&
		grep "^deis: " err || return 1
	done &&
	test_path_is_missing "$CANARY" &&
	test_path_is_missing "$DEIS_HOME/x.git" &&
	test_path_is_missing "$DEIS_HOME/git/x.git" &&
	grep -q "refused: .* is not a repository of an app" "$BLOG"
'

test_expect_success 'other commands, a shell, subsystems but sftp and forwarding are refused; nothing runs' '
	for cmd in id sh "touch $CANARY" "bash -c touch\ $CANARY" "git-receive-pack" \
		"git receive-pack $APP.git" "scp -t /tmp" "git-upload-archive $APP.git"
	do
		test_expect_code 1 sshk alice git@127.0.0.1 "$cmd" </dev/null >out 2>err &&
		grep "^deis: only git push is supported" err || return 1
	done &&
	test_expect_code 1 sshk alice git@127.0.0.1 </dev/null >out 2>err &&
	grep "^deis: only git push is supported here, no shell" err &&
	test_expect_code 1 sshk alice -tt git@127.0.0.1 </dev/null >out 2>&1 &&
	grep "deis: only git push is supported here, no shell (interactive)" out &&
	test_expect_code 1 sshk alice -s git@127.0.0.1 netconf </dev/null >out 2>err &&
	grep "^deis: only git push is supported here, no subsystem but sftp" err &&
	test_expect_code 255 sshk alice -N -o ExitOnForwardFailure=yes -R 0:127.0.0.1:22 \
		git@127.0.0.1 </dev/null >out 2>err &&
	cat err &&
	test_expect_code 255 sshk alice -W "127.0.0.1:$DEIS_PG_PORT" git@127.0.0.1 </dev/null >out 2>err &&
	cat err &&
	test_path_is_missing "$CANARY" &&
	grep -q "refused: only git push is supported" "$BLOG" &&
	grep -q "refused global request" "$BLOG" &&
	grep -q "refused channel" "$BLOG"
'

test_expect_success 'two concurrent pushes to one app: the second is told another is in progress' '
	# A push whose data reaches the server 3 s late holds the lock meanwhile.
	cat >slowssh <<-\EOF &&
	#!/bin/sh
	{ sleep 3; cat; } | ssh "$@"
	EOF
	chmod +x slowssh &&
	n=$(grep -c "push to $APP started" "$BLOG") &&
	git -C src checkout -q -b slow "$(cat first)" &&
	echo slow >src/slow &&
	git -C src add slow &&
	git -C src commit -q -m slow &&
	(
		GIT_SSH_COMMAND="$PWD/slowssh -i $PWD/alice -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p $PORT" &&
		export GIT_SSH_COMMAND &&
		{ git -C src push "$(url $APP)" slow:refs/heads/slow >slow.out 2>&1; echo $? >slow.rc; } &
	) &&
	test_wait_for 5 pushes_started_above "$n" &&
	sleep 0.5 &&
	test_must_fail gitk alice -C src push "$(url $APP)" slow:refs/heads/fast >out 2>&1 &&
	cat out &&
	grep "deis: another push is in progress for app .$APP." out &&
	test_wait_for 20 test -s slow.rc &&
	cat slow.out &&
	test "$(cat slow.rc)" = 0 &&
	test "$(git --git-dir="$REPO" rev-parse refs/heads/slow)" = "$(git -C src rev-parse slow)" &&
	test_must_fail git --git-dir="$REPO" rev-parse --verify -q refs/heads/fast
'

test_expect_success 'git clone and git fetch work for the app user' '
	gitk alice clone -q "$(url $APP)" clone &&
	test "$(git -C clone rev-parse HEAD)" = "$(cat first)" &&
	test_path_is_file clone/Procfile &&
	gitk alice -C clone fetch -q origin feature &&
	test "$(git -C clone rev-parse FETCH_HEAD)" = "$(git --git-dir="$REPO" rev-parse refs/heads/feature)" &&
	test_must_fail gitk alice clone -q "$(url bld-nothing)" nothing 2>err &&
	grep "deis: app .bld-nothing. does not exist" err
'

test_expect_success 'the builder logs who pushed where' '
	grep -q "deis-balice: push to $APP: git exited with status 0" "$BLOG" &&
	grep -q "deis-balice: fetch from $APP: git exited with status 0" "$BLOG" &&
	test_path_is_missing "$CANARY"
'

test_expect_success 'cleanup: the apps and their containers, the keys' '
	deis_app_destroy $APP $APP-staging &&
	deis_keys_remove deis-balice deis-bbob deis-badmin
'

test_done
