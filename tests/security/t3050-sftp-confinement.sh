#!/bin/bash
test_description='sftp on the builder port: the user reaches the tree with their own rights and nothing of the host: no /etc/shadow, no host path, nothing writable outside the tree, no symlink way out, no other tenant'"'"'s app; sftp-server has no capability, no_new_privs, a mount namespace of its own; root never gets it; a shell, other subsystems and every forwarding stay refused'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
U=$DEIS_MOUNT/users
BLOG=$DEIS_LOGDIR/deis-builder.log
ALICE=deis-sftpsec-a
BOB=deis-sftpsec-b
APP=sec-sftp-a
OTHER=sec-sftp-b

# sftp in batch mode as NAME (deis_git_user's key), the commands on
# stdin ("-" before one that may fail); what it printed in sftp.out
# (without the echoed commands), its errors in sftp.err.
sftpb() {	# NAME
	sftp -b - -P "$DEIS_SSH_PORT" -i "$TRASH_DIRECTORY/$1.key" -o IdentitiesOnly=yes \
		-o IdentityAgent=none -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o LogLevel=ERROR git@127.0.0.1 >sftp.raw 2>sftp.err
	local st=$?
	grep -v "^sftp>" sftp.raw >sftp.out
	return $st
}

# The pid of the sftp-server of NAME's session number N + 1 (N: the
# count of "sftp started" lines of NAME before it), once it is logged.
server_pid() {	# NAME N
	sed -n "s/.*: $1: sftp started (pid \([0-9]*\),.*/\1/p" "$BLOG" | sed -n "$(($2 + 1))p"
}

test_expect_success 'setup: two users with an app each; the builder serves this tree' '
	deis_git_user $ALICE &&
	deis_git_user $BOB &&
	deis_as $ALICE mkdir "$A/$APP" &&
	deis_as $BOB mkdir "$A/$OTHER" &&
	deis_as $BOB sh -c "echo TOKEN=b0b-s3cret >$A/$OTHER/env" &&
	if [ "$(conf_get "$DEIS_CONF" builder_sftp_mount 2>/dev/null)" != "$DEIS_MOUNT" ]; then
		deis_conf_add "builder_sftp_mount = $DEIS_MOUNT" &&
		kill -HUP "$(daemon_pid deis-builder)" &&
		test_wait_for 10 grep -q "builder_sftp_mount: .* -> .$DEIS_MOUNT." "$BLOG"
	fi
'

test_expect_success 'the session starts in the tree, with the user'"'"'s view of it' '
	printf "pwd\nls -1 apps\n" | sftpb $ALICE &&
	grep -x "Remote working directory: /deis" sftp.out &&
	grep -x "apps/$APP" sftp.out &&
	! grep "$OTHER" sftp.out
'

test_expect_success 'the host is absent: / holds the tree, the library links and usr, etc and dev of its own; no shadow, proc, home, root, tmp' '
	printf "ls -1a /\nls -1a /etc\nls -1a /dev\nls -1 /usr\n-get /etc/shadow shadow\n-ls /proc\n-ls /home\n-ls /root\n-ls /tmp\n-ls /var\n-ls /run\n-ls /sys\n-get /deis/../../etc/shadow shadow\n" |
		sftpb $ALICE &&
	cat sftp.out &&
	sed -n "s|^/\([^/]*\)\$|\1|p" sftp.out | sort >root.list &&
	printf "%s\n" . .. deis dev etc usr >expect &&
	grep -vxE "lib[a-z0-9]*" root.list >actual &&
	test_cmp expect actual &&
	printf "%s\n" /etc/. /etc/.. /etc/group /etc/ld.so.cache /etc/nsswitch.conf /etc/passwd >expect &&
	grep "^/etc/" sftp.out | sort >actual &&
	test_cmp expect actual &&
	printf "%s\n" /dev/. /dev/.. /dev/null >expect &&
	grep "^/dev/" sftp.out | sort >actual &&
	test_cmp expect actual &&
	! grep -vE "^/usr/lib[a-z0-9]*$" <(grep "^/usr/" sftp.out) &&
	test_path_is_missing shadow &&
	test "$(grep -c "not found" sftp.err)" -ge 9
'

test_expect_success '/etc/passwd and /etc/group name only that user' '
	printf "get /etc/passwd passwd\nget /etc/group group\n" | sftpb $ALICE &&
	echo "$ALICE:x:$(id -u $ALICE):$(id -g $ALICE)::/deis:/usr/sbin/nologin" >expect &&
	test_cmp expect passwd &&
	echo "$(id -gn $ALICE):x:$(id -g $ALICE):" >expect &&
	test_cmp expect group
'

test_expect_success 'nothing outside the tree can be written: the root, /etc, /dev, /usr/lib are read-only' '
	echo probe >probe &&
	printf "%s\n" "-put probe /probe" "-put probe /etc/probe" "-put probe /etc/passwd" \
		"-put probe /usr/lib/deis-sftp-probe" "-put probe /dev/probe" "-mkdir /tmp" \
		"-mkdir /usr/lib/deis-sftp-probe.d" "-rm /etc/passwd" "-rename /etc/passwd /etc/x" \
		"-chmod 777 /etc" "-rmdir /usr" "-ln -s /deis /lnk" "ls -1 /" "get /etc/passwd passwd" |
		sftpb $ALICE &&
	cat sftp.err &&
	test "$(grep -cE "Failure|Permission denied|denied|failed|Couldn.t" sftp.err)" -ge 12 &&
	! grep -xE "/(probe|tmp|lnk)" sftp.out &&
	grep -q "^$ALICE:" passwd &&
	test_path_is_missing /probe &&
	test_path_is_missing /usr/lib/deis-sftp-probe &&
	test_path_is_missing /usr/lib/deis-sftp-probe.d &&
	test_must_be_empty <(ls -A "$DEIS_HOME/builder/sftp-root")
'

test_expect_success 'symlinks lead nowhere outside: none can be made, .. stops at the namespace root' '
	printf "%s\n" "-ln -s /etc/shadow apps/$APP/config/LNK" "-ln -s /proc/1/root /deis/apps/$APP/x" \
		"-ln /etc/passwd apps/$APP/config/HARD" "cd /deis/../../../.." "pwd" "ls -1" |
		sftpb $ALICE &&
	cat sftp.err &&
	grep -x "Remote working directory: /" sftp.out &&
	grep -x deis sftp.out &&
	test_path_is_missing "$A/$APP/config/LNK" &&
	test_path_is_missing "$A/$APP/config/HARD" &&
	test_path_is_missing "$A/$APP/x" &&
	test_must_be_empty <(ls "$A/$APP/config")
'

test_expect_success 'another tenant'"'"'s app is out of reach: list, read, write, link, rename into it' '
	echo EVIL=1 >evil &&
	printf "%s\n" "-ls /deis/apps/$OTHER" "-get /deis/apps/$OTHER/env stolen" \
		"-get apps/$OTHER/config/TOKEN stolen" "-put evil apps/$OTHER/config/EVIL" \
		"-put evil apps/$OTHER/env" "-ln apps/$OTHER/env apps/$APP/config/STOLEN" \
		"-rename apps/$OTHER/env apps/$APP/config/STOLEN" "-rmdir apps/$OTHER" \
		"ls -1 apps" |
		sftpb $ALICE &&
	cat sftp.err &&
	test_path_is_missing stolen &&
	! grep "$OTHER" sftp.out &&
	echo TOKEN=b0b-s3cret >expect &&
	test_cmp expect "$A/$OTHER/env" &&
	test_path_is_missing "$A/$OTHER/config/EVIL" &&
	test_path_is_missing "$A/$APP/config/STOLEN"
'

test_expect_success 'sftp-server runs as the user: no capability, no_new_privs, its own mount namespace, nothing of it on the host' '
	n=$(grep -c ": $ALICE: sftp started" "$BLOG" || true) &&
	mkfifo hold &&
	{ sleep 30 >hold & } &&
	echo $! >hold.pid &&
	test_when_finished "kill \$(cat hold.pid) 2>/dev/null; true" &&
	{ deis_ssh $ALICE -s git@127.0.0.1 sftp <hold >/dev/null 2>&1 & } &&
	test_wait_for 10 eval "test -n \"\$(server_pid $ALICE $n)\"" &&
	pid=$(server_pid $ALICE $n) &&
	uid=$(id -u $ALICE) gid=$(id -g $ALICE) &&
	grep -xP "Uid:\t$uid\t$uid\t$uid\t$uid" /proc/$pid/status &&
	grep -xP "Gid:\t$gid\t$gid\t$gid\t$gid" /proc/$pid/status &&
	for c in CapInh CapPrm CapEff CapBnd CapAmb; do
		grep -xP "$c:\t0000000000000000" /proc/$pid/status || return 1
	done &&
	grep -xP "NoNewPrivs:\t1" /proc/$pid/status &&
	test "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" &&
	awk "{ print \$5 }" /proc/$pid/mountinfo >mounts &&
	cat mounts &&
	! grep -vxE "/|/deis|/dev/null|/etc/ld\.so\.cache|/usr/lib[a-z0-9]*|/lib[a-z0-9]*" mounts &&
	grep -x /deis mounts &&
	! grep -q deis-sftp /proc/self/mountinfo &&
	test_must_be_empty <(ls -A "$DEIS_HOME/builder/sftp-root") &&
	kill $(cat hold.pid) &&
	test_wait_for 10 eval "! test -d /proc/$pid"
'

test_expect_success 'root never runs sftp-server: a key of root is refused' '
	test_when_finished "rm -f \"$U/root/keys/sftptest\"" &&
	ssh-keygen -q -t ed25519 -N "" -f root.key &&
	cp root.key.pub "$U/root/keys/sftptest" &&
	n=$(grep -c "sftp started" "$BLOG" || true) &&
	test_must_fail ssh -i root.key -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		-p "$DEIS_SSH_PORT" -s git@127.0.0.1 sftp </dev/null >out 2>err &&
	grep "^deis: root has uid or gid 0: root does not use sftp" err &&
	test "$(grep -c "sftp started" "$BLOG")" = "$n"
'

test_expect_success 'a shell, other commands and other subsystems are refused; nothing runs' '
	for cmd in /usr/lib/openssh/sftp-server internal-sftp "sftp-server -d /" \
		"/bin/sh -c id" "scp -f /etc/shadow"
	do
		test_expect_code 1 deis_ssh $ALICE git@127.0.0.1 "$cmd" </dev/null >out 2>err &&
		grep "^deis: only git push is supported" err || return 1
	done &&
	for sub in SFTP sftp-server netconf "sftp " x11; do
		test_expect_code 1 deis_ssh $ALICE -s git@127.0.0.1 "$sub" </dev/null >out 2>err &&
		grep "^deis: only git push is supported here, no subsystem but sftp" err || return 1
	done &&
	test_expect_code 1 deis_ssh $ALICE -tt git@127.0.0.1 </dev/null >out 2>&1 &&
	grep "no shell (interactive)" out
'

test_expect_success 'port forwarding is refused, also on a connection that runs sftp' '
	test_expect_code 255 deis_ssh $ALICE -W "127.0.0.1:$DEIS_PG_PORT" git@127.0.0.1 </dev/null >out 2>err &&
	test_must_be_empty out &&
	test_expect_code 255 deis_ssh $ALICE -N -o ExitOnForwardFailure=yes -R 0:127.0.0.1:22 \
		git@127.0.0.1 </dev/null >out 2>err &&
	n=$(grep -c "refused channel" "$BLOG" || true) &&
	rm -f hold && mkfifo hold &&
	{ sleep 30 >hold & } &&
	echo $! >hold.pid &&
	test_when_finished "kill \$(cat hold.pid) 2>/dev/null; true" &&
	{ deis_ssh $ALICE -o ControlMaster=yes -o ControlPath="$PWD/ctl" -s git@127.0.0.1 sftp \
		<hold >/dev/null 2>&1 & } &&
	test_wait_for 10 test -S ctl &&
	test_wait_for 10 eval "grep -q \": $ALICE: sftp started\" \"$BLOG\"" &&
	test_expect_code 255 deis_ssh $ALICE -o ControlPath="$PWD/ctl" -W "127.0.0.1:$DEIS_PG_PORT" \
		git@127.0.0.1 </dev/null >out 2>err &&
	test_must_be_empty out &&
	test "$(grep -c "refused channel" "$BLOG")" -gt "$n" &&
	kill $(cat hold.pid)
'

test_expect_success 'agent and X11 forwarding requests are refused' '
	eval "$(ssh-agent -s)" >/dev/null &&
	test_when_finished "kill $SSH_AGENT_PID" &&
	ssh-add -q "$TRASH_DIRECTORY/$ALICE.key" &&
	nx=$(grep -c "refused channel request (X11 forwarding)" "$BLOG" || true) &&
	na=$(grep -c "refused channel request (agent forwarding)" "$BLOG" || true) &&
	test_might_fail env DISPLAY=:7 ssh -A -X -o ForwardAgent=yes -o ForwardX11=yes -o IdentitiesOnly=yes \
		-i "$TRASH_DIRECTORY/$ALICE.key" -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p "$DEIS_SSH_PORT" \
		git@127.0.0.1 "git-upload-pack $APP.git" </dev/null >out 2>err &&
	cat err &&
	grep "X11 forwarding request failed" err &&
	test "$(grep -c "refused channel request (X11 forwarding)" "$BLOG")" -gt "$nx" &&
	test "$(grep -c "refused channel request (agent forwarding)" "$BLOG")" -gt "$na"
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP $OTHER &&
	deis_keys_remove $ALICE $BOB &&
	deis_conf_restore &&
	kill -HUP "$(daemon_pid deis-builder)" &&
	userdel $ALICE &&
	userdel $BOB
'

test_done
