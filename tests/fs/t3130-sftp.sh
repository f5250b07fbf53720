#!/bin/bash
test_description='the tree over SSH: sshfs from another local account (a remote developer), with a local user'"'"'s key and with the key of a platform user who has no local account; each lists, reads, writes, edits with sed -i, follows logs and is refused what the local mount refuses them'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
U=$DEIS_MOUNT/users
BLOG=$DEIS_LOGDIR/deis-builder.log
ALICE=deis-sftpalice	# local accounts with keys (deis_git_user)
BOB=deis-sftpbob
CAROL=sftpcarol		# platform users with no local account
OLD=sftpolduser		# (this one made before uids were reserved)
DEV=deis-sftpdev	# the developer's own account, which runs sshfs
KEYS=$TRASH_DIRECTORY/dev	# what DEV owns: keys, mount points
# The options docs/builder.md gives for sshfs (measured there).
SSHFS_OPTS=dir_cache=no,attr_timeout=0,direct_io,sshfs_sync

# ---- helpers of this script (candidates for tests/lib-deis.sh) ----

# The builder's sftp serves the tree mounted on DIR (builder_sftp_mount,
# which packaging/up does not write yet): set it and reload the builder.
sftp_mount_set() {	# DIR
	local n
	[ "$(conf_get "$DEIS_CONF" builder_sftp_mount 2>/dev/null)" != "$1" ] || return 0
	n=$(grep -c "configuration reloaded" "$BLOG" || true)
	deis_conf_add "builder_sftp_mount = $1" &&
	kill -HUP "$(daemon_pid deis-builder)" &&
	test_wait_for 10 eval 'test "$(grep -c "configuration reloaded" "$BLOG")" -gt "$n"'
}

# Runs CMD as DEV (from /, with no home of its own).
dev_as() (	# CMD...
	cd / && exec setpriv --reuid="$DEV" --regid="$DEV" --init-groups -- env HOME=/ "$@"
)

# Runs CMD as DEV in the background; its pid in PIDFILE.
dev_bg() {	# PIDFILE CMD...
	local pidfile=$1
	shift
	dev_as sh -c 'echo $$ >&3; exec "$@" 3>&-' sh "$@" 3>"$pidfile" &
	test_wait_for 5 test -s "$pidfile"
}

# Mounts the tree over SSH at DIR as DEV, with the key KEY (a file of
# $KEYS), through the builder's port; sshfs's pid in DIR.pid.  Where DEV
# may not open /dev/fuse (some containers make it root-only), root makes
# the mount for it, as fusermount3 would, and DEV's sshfs serves it
# (/dev/fd/N).
sshfs_mount() {	# DIR KEY [OPTIONS]
	local dir=$1 key=$KEYS/$2 opts=${3:-$SSHFS_OPTS} mnt
	install -d -o "$DEV" -g "$DEV" "$dir" || return 1
	mnt=$dir
	if ! (dev_as sh -c ': <>/dev/fuse') 2>/dev/null; then
		exec 9<>/dev/fuse &&
		mount -i -t fuse.sshfs -o "nosuid,nodev,fd=9,rootmode=40000,user_id=$(id -u "$DEV"),group_id=$(id -g "$DEV")" \
			sshfs "$dir" || return 1
		mnt=/dev/fd/9
	fi
	dev_bg "$dir.pid" sshfs -f -p "$DEIS_SSH_PORT" \
		-o "IdentityFile=$key,IdentitiesOnly=yes,IdentityAgent=none,BatchMode=yes" \
		-o "StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR,$opts" \
		git@127.0.0.1: "$mnt" </dev/null >>"$dir.log" 2>&1
	exec 9>&-
	test_wait_for 15 dev_as test -d "$dir/apps" || { cat "$dir.log"; return 1; }
}

sshfs_umount() {	# DIR
	local dir=$1 pid
	[ -s "$dir.pid" ] || return 0
	pid=$(cat "$dir.pid")
	umount "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null
	wait_pid_gone "$pid" 10 || kill "$pid" 2>/dev/null
	rm -f "$dir.pid"
}

# A copy of NAME's key (deis_git_user) that DEV owns.
dev_key() {	# NAME
	install -o "$DEV" -m 600 "$TRASH_DIRECTORY/$1.key" "$KEYS/$1.key"
}

# The errno name of CMD run as DEV (or of the local mount's user with
# --as USER): "ok" when it succeeds.
errno_of() {	# [--as USER] CMD...
	local as=(dev_as)
	if [ "$1" = --as ]; then as=(deis_as "$2"); shift 2; fi
	("${as[@]}" "$@") >/dev/null 2>err.tmp && { echo ok; return; }
	sed -n 's/.*\(Permission denied\|No such file or directory\|Operation not permitted\|Input\/output error\|File exists\|Invalid argument\|Bad message\).*/\1/p' err.tmp | head -n 1
}

# ---- the tests ----

test_expect_success 'setup: two local users with an app each, the developer account, the builder serving this tree' '
	deis_git_user $ALICE &&
	deis_git_user $BOB &&
	deis_as $ALICE mkdir "$A/sftp-a" &&
	deis_as $BOB mkdir "$A/sftp-b" &&
	deis_as $BOB sh -c "echo SECRET=b0b >$A/sftp-b/env" &&
	{ id -u $DEV >/dev/null 2>&1 || useradd --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin $DEV; } &&
	install -d -o $DEV -m 755 "$KEYS" &&
	dev_key $ALICE &&
	sftp_mount_set "$DEIS_MOUNT"
'

test_expect_success 'sshfs as another local account with alice'"'"'s key: the tree as alice sees it' '
	sshfs_mount "$KEYS/alice" $ALICE.key &&
	S=$KEYS/alice &&
	dev_as ls "$S/apps" >actual &&
	deis_as $ALICE ls "$A" >expect &&
	test_cmp expect actual &&
	grep -x sftp-a actual &&
	! grep -x sftp-b actual &&
	dev_as cat "$S/apps/sftp-a/git_url" >actual &&
	test_cmp "$A/sftp-a/git_url" actual &&
	dev_as cat "$S/apps/sftp-a/info" >actual &&
	grep -x "owner: $ALICE" actual &&
	grep -q "sftp started (pid [0-9]*, uid $(id -u $ALICE), gid $(id -g $ALICE))" "$BLOG"
'

test_expect_success 'echo web=2 > formation over sshfs scales; no release' '
	S=$KEYS/alice/apps/sftp-a &&
	n=$(deis_release_count sftp-a) &&
	dev_as sh -c "echo web=2 >$S/formation" &&
	test_wait_for 5 grep -qx web=2 "$A/sftp-a/formation" &&
	test "$(deis_release_count sftp-a)" = "$n" &&
	echo web=2 >expect &&
	dev_as cat "$S/formation" >actual &&
	test_cmp expect actual
'

test_expect_success 'sed -i on env over sshfs: exactly one release, by alice' '
	S=$KEYS/alice/apps/sftp-a &&
	deis_as $ALICE sh -c "printf \"A=1\nB=2\n\" >$A/sftp-a/env" &&
	n=$(deis_release_count sftp-a) &&
	dev_as sed -i "s/^A=.*/A=3/" "$S/env" &&
	test_wait_for 5 eval "test \"\$(deis_release_count sftp-a)\" = $((n + 1))" &&
	printf "A=3\nB=2\n" >expect &&
	test_cmp expect "$A/sftp-a/env" &&
	test "$(deis_release_summary sftp-a)" = "$ALICE changed A" &&
	! ls "$A/sftp-a" "$A/sftp-a/config" | grep "^sed" &&
	sleep 1 &&
	test "$(deis_release_count sftp-a)" = $((n + 1))
'

test_expect_success 'a bad value fails at write() over sshfs, and changes nothing' '
	S=$KEYS/alice/apps/sftp-a &&
	test_must_fail dev_as sh -c "echo web=lots >$S/formation" &&
	echo web=2 >expect &&
	test_cmp expect "$A/sftp-a/formation" &&
	deis_log_has "formation by $ALICE .*web=lots"
'

test_expect_success 'tail -f logs over sshfs shows each new line, once, within a second or two' '
	S=$KEYS/alice/apps/sftp-a &&
	dev_bg tail.pid tail -n 0 -f "$S/logs" >tail.out 2>&1 &&
	test_when_finished "kill \$(cat tail.pid); wait_pid_gone \$(cat tail.pid) 5" &&
	sleep 1.5 &&
	for i in 1 2 3; do
		deis_log_send sftp-a web.1 "over sshfs $i $$" &&
		test_wait_for 2.5 grep -q "over sshfs $i $$" tail.out || return 1
	done &&
	test "$(grep -c "over sshfs [123] $$" tail.out)" = 3
'

# What alice tries on bob's app, as sh -c scripts; $0 is the apps/
# directory (the local mount's or the sshfs mount's).
BOB_OPS=(
	'cat "$0/sftp-b/env"'
	'ls "$0/sftp-b"'
	'stat "$0/sftp-b/info"'
	'echo web=9 >"$0/sftp-b/formation"'
	'rm "$0/sftp-b/perms"'
	'rmdir "$0/sftp-b"'
	'echo x >"$0/sftp-b/config/EVIL"'
)

test_expect_success 'bob'"'"'s app is refused over sshfs as on the local mount, and nothing changes' '
	S=$KEYS/alice/apps &&
	n=$(deis_release_count sftp-b) &&
	for op in "${BOB_OPS[@]}"; do
		want=$(errno_of --as $ALICE sh -c "$op" "$A") &&
		got=$(errno_of sh -c "$op" "$S") &&
		echo "$op: local: $want; sshfs: $got" &&
		test "$want" != ok &&
		case $want in
		"Permission denied"|"No such file or directory") test "$got" = "$want" ;;
		*) test "$got" != ok ;;
		esac || return 1
	done &&
	test_path_is_dir "$A/sftp-b" &&
	test "$(deis_release_count sftp-b)" = "$n" &&
	echo SECRET=b0b >expect &&
	test_cmp expect "$A/sftp-b/env"
'

test_expect_success 'alice adds a key of her own over sshfs; not one to bob' '
	S=$KEYS/alice &&
	ssh-keygen -q -t ed25519 -N "" -f alice2 &&
	chmod 644 alice2.pub &&
	dev_as cp "$TRASH_DIRECTORY/alice2.pub" "$S/users/$ALICE/keys/second" &&
	test_wait_for 5 grep -q "^key: second ssh-ed25519" "$U/$ALICE/info" &&
	ssh-keygen -q -t ed25519 -N "" -f evil &&
	chmod 644 evil.pub &&
	test_must_fail dev_as cp "$TRASH_DIRECTORY/evil.pub" "$S/users/$BOB/keys/evil" &&
	test_path_is_missing "$U/$BOB/keys/evil"
'

test_expect_success 'an admin makes a platform user with no local account: a reserved uid, no passwd entry' '
	! id -u $CAROL 2>/dev/null &&
	{ test -d "$U/$CAROL" || mkdir "$U/$CAROL"; } &&
	rm -f carol.key carol.key.pub &&
	ssh-keygen -q -t ed25519 -N "" -f carol.key &&
	cp carol.key.pub "$U/$CAROL/keys/laptop" &&
	install -o $DEV -m 600 carol.key "$KEYS/carol.key" &&
	uid=$(sed -n "s/^uid: //p" "$U/$CAROL/info") &&
	test "$uid" -ge 2000000000 &&
	test "$uid" -le 2099999999 &&
	test_must_fail getent passwd "$uid" &&
	test "$(deis_psql "SELECT uid FROM users WHERE name = '"'$CAROL'"' AND uid_reserved")" = "$uid" &&
	echo "$uid" >carol.uid
'

test_expect_success 'with only the key, that user works over sshfs: creates an app, scales, edits env, follows logs' '
	sshfs_mount "$KEYS/carol" carol.key &&
	S=$KEYS/carol/apps &&
	grep -q "$CAROL: sftp started (pid [0-9]*, uid $(cat carol.uid), gid $(cat carol.uid))" "$BLOG" &&
	dev_as mkdir "$S/sftp-c" &&
	grep -x "owner: $CAROL" "$A/sftp-c/info" &&
	test "$(stat -c %u "$A/sftp-c/env")" = "$(cat carol.uid)" &&
	dev_as ls "$S" >actual &&
	echo sftp-c >expect &&
	test_cmp expect actual &&
	dev_as sh -c "echo web=1 >$S/sftp-c/formation" &&
	test_wait_for 5 grep -qx web=1 "$A/sftp-c/formation" &&
	dev_as sh -c "echo C=1 >$S/sftp-c/env" &&
	test_wait_for 5 grep -qx C=1 "$A/sftp-c/env" &&
	n=$(deis_release_count sftp-c) &&
	dev_as sed -i "s/^C=.*/C=2/" "$S/sftp-c/env" &&
	test_wait_for 5 eval "test \"\$(deis_release_count sftp-c)\" = $((n + 1))" &&
	test "$(deis_release_summary sftp-c)" = "$CAROL changed C" &&
	dev_bg tail.pid tail -n 0 -f "$S/sftp-c/logs" >tail.out 2>&1 &&
	test_when_finished "kill \$(cat tail.pid); wait_pid_gone \$(cat tail.pid) 5" &&
	sleep 1.5 &&
	deis_log_send sftp-c web.1 "carol over sshfs $$" &&
	test_wait_for 2.5 grep -q "carol over sshfs $$" tail.out
'

test_expect_success 'that user adds a second key and uses it; other users'"'"' apps and keys are refused' '
	S=$KEYS/carol &&
	ssh-keygen -q -t ed25519 -N "" -f carol2.key &&
	chmod 644 carol2.key.pub &&
	dev_as cp "$TRASH_DIRECTORY/carol2.key.pub" "$S/users/$CAROL/keys/desktop" &&
	test_wait_for 5 grep -q "^key: desktop " "$U/$CAROL/info" &&
	install -o $DEV -m 600 carol2.key "$KEYS/carol2.key" &&
	sshfs_mount "$KEYS/carol2" carol2.key &&
	dev_as cat "$KEYS/carol2/apps/sftp-c/formation" >actual &&
	echo web=1 >expect &&
	test_cmp expect actual &&
	test "$(errno_of cat "$S/apps/sftp-a/env")" != ok &&
	test "$(errno_of sh -c "echo web=5 >$S/apps/sftp-a/formation")" != ok &&
	test_must_fail dev_as cp "$TRASH_DIRECTORY/evil.pub" "$S/users/$ALICE/keys/evil" &&
	test_path_is_missing "$U/$ALICE/keys/evil" &&
	echo web=2 >expect &&
	test_cmp expect "$A/sftp-a/formation"
'

test_expect_success 'perms name that user: the app is theirs to use over sshfs, until removed' '
	S=$KEYS/carol/apps &&
	deis_as $ALICE sh -c "echo $CAROL >$A/sftp-a/perms" &&
	test_wait_for 5 eval "dev_as cat \"$S/sftp-a/formation\" >actual" &&
	echo web=2 >expect &&
	test_cmp expect actual &&
	dev_as sh -c "echo web=3 >$S/sftp-a/formation" &&
	test_wait_for 5 grep -qx web=3 "$A/sftp-a/formation" &&
	test_must_fail dev_as sh -c "echo $CAROL >$S/sftp-a/perms" &&
	deis_as $ALICE sh -c ": >$A/sftp-a/perms" &&
	test_wait_for 5 eval "test \"\$(errno_of cat \"$S/sftp-a/formation\")\" = \"Permission denied\""
'

test_expect_success 'an admin (a local account in admin_group) sees and changes every app over sshfs' '
	getent group deis-admin >/dev/null &&
	deis_useradd deis-sftpadmin -G deis-admin &&
	deis_git_user deis-sftpadmin &&
	dev_key deis-sftpadmin &&
	sshfs_mount "$KEYS/admin" deis-sftpadmin.key &&
	S=$KEYS/admin/apps &&
	dev_as ls "$S" >actual &&
	grep -x sftp-a actual &&
	grep -x sftp-b actual &&
	grep -x sftp-c actual &&
	dev_as sh -c "echo web=0 >$S/sftp-b/formation" &&
	test_wait_for 5 grep -qx web=0 "$A/sftp-b/formation" &&
	sshfs_umount "$KEYS/admin" &&
	deis_keys_remove deis-sftpadmin
'

test_expect_success 'a user made before uids were reserved gets one at the first sftp, and the session works at once' '
	deis_psql "INSERT INTO users (name) VALUES ('"'$OLD'"') ON CONFLICT (name) DO UPDATE
		SET uid = -1, uid_reserved = false, serial = users.serial + 1" &&
	test "$(deis_psql "SELECT uid FROM users WHERE name = '"'$OLD'"'")" = -1 &&
	test_wait_for 10 test -d "$U/$OLD" &&
	rm -f old.key old.key.pub &&
	ssh-keygen -q -t ed25519 -N "" -f old.key &&
	cp old.key.pub "$U/$OLD/keys/laptop" &&
	install -o $DEV -m 600 old.key "$KEYS/old.key" &&
	sshfs_mount "$KEYS/old" old.key &&
	uid=$(deis_psql "SELECT uid FROM users WHERE name = '"'$OLD'"' AND uid_reserved") &&
	test "$uid" -ge 2000000000 &&
	grep -q "sftp: user $OLD has no local account: given uid $uid" "$BLOG" &&
	dev_as mkdir "$KEYS/old/apps/sftp-old" &&
	grep -x "owner: $OLD" "$A/sftp-old/info" &&
	grep -x "uid: $uid" "$U/$OLD/info" &&
	sshfs_umount "$KEYS/old" &&
	deis_app_destroy sftp-old &&
	deis_keys_remove $OLD
'

test_expect_success 'with no tree where the builder looks, or one without allow_other, sftp is refused and says why' '
	sshfs_umount "$KEYS/carol2" &&
	test_when_finished "sftp_mount_set \"$DEIS_MOUNT\"" &&
	mkdir -p notmounted &&
	sftp_mount_set "$PWD/notmounted" &&
	test_must_fail deis_ssh $ALICE -s git@127.0.0.1 sftp </dev/null >out 2>err &&
	cat err &&
	grep "^deis: sftp is not available: the tree is not mounted on this host" err &&
	mkdir -p private &&
	{ setsid bash -c "echo \$\$ >private.pid; exec \"$DEISFS\" --config=\"$DEIS_CONF\" -f \"$PWD/private\"" \
		</dev/null >private.log 2>&1 & } &&
	test_when_finished "unmount_fuse \"$PWD/private\"; wait_pid_gone \$(cat private.pid) 10" &&
	test_wait_for 20 mount_responsive "$PWD/private" 1 &&
	sftp_mount_set "$PWD/private" &&
	test_must_fail deis_ssh $ALICE -s git@127.0.0.1 sftp </dev/null >out 2>err &&
	cat err &&
	grep "^deis: sftp is not available: the tree on .*/private is mounted without allow_other" err
'

test_expect_success 'cleanup' '
	sshfs_umount "$KEYS/alice" &&
	sshfs_umount "$KEYS/carol" &&
	sshfs_umount "$KEYS/carol2" &&
	sshfs_umount "$KEYS/admin" &&
	deis_app_destroy sftp-a sftp-b sftp-c &&
	deis_keys_remove $ALICE $BOB $CAROL &&
	deis_conf_restore &&
	kill -HUP "$(daemon_pid deis-builder)" &&
	for u in $DEV $ALICE $BOB deis-sftpadmin; do
		userdel $u || return 1
	done
'

test_done
