#!/bin/bash
test_description='every commit runs as the user who opened the file, with that user'"'"'s rights checked again when it commits; a descriptor whose user lost access commits and streams nothing more'
. "$(dirname "$0")/../lib.sh"

A="$DEIS_MOUNT/apps"
ALICE=deis-fsa
BOB=deis-fsb

# A directory both users may write, for the handshakes below.
SHARED=$TRASH_DIRECTORY/shared
# Debian's python3, which every user can run.
PY=/usr/bin/python3

# Runs a bash script as USER in the background; its output goes to
# $SHARED/NAME.out and its pid to NAME.pid.
bg_as() {	# USER NAME SCRIPT
	deis_as "$1" bash -c "$3" >"$SHARED/$2.out" 2>&1 &
	echo $! >"$2.pid"
}

# Waits for the daemon to have handled the release of a descriptor that a
# background script closed: either the refusal logged for USER or a commit.
wait_release_handled() {	# USER APP
	test_wait_for 20 deis_log_has_since_mark "release /apps/$2/[^ ]* by $1|app $2: release v[0-9]+ by "
}

test_expect_success 'setup: alice owns two apps, bob may use them' '
	deis_useradd $ALICE &&
	deis_useradd $BOB &&
	mkdir -p "$SHARED" && chmod 1777 "$SHARED" &&
	deis_as $ALICE mkdir "$A/fsid" "$A/fsid2" &&
	deis_as $ALICE sh -c "printf \"A=1\n\" >$A/fsid/env" &&
	deis_as $ALICE sh -c "echo $BOB >$A/fsid/perms" &&
	deis_as $ALICE sh -c "echo $BOB >$A/fsid2/perms" &&
	deis_as $BOB cat "$A/fsid/env" >actual &&
	echo A=1 >expect &&
	test_cmp expect actual
'

test_expect_success 'a collaborator cannot empty perms with : > perms, and perms stays' '
	test_must_fail deis_as $BOB sh -c ": >$A/fsid/perms" 2>err &&
	grep "Permission denied" err &&
	test_must_fail deis_as $BOB sh -c "printf \"\" >$A/fsid/perms" &&
	test_must_fail deis_as $BOB truncate -s 0 "$A/fsid/perms" &&
	echo $BOB >expect &&
	test_cmp expect "$A/fsid/perms" &&
	deis_as $BOB cat "$A/fsid/perms" >actual &&
	test_cmp expect actual
'

test_expect_success 'a collaborator cannot replace perms by renaming a file onto it' '
	deis_as $BOB sh -c "echo $BOB-evil >$A/fsid/.perms.swp" &&
	test_must_fail deis_as $BOB mv "$A/fsid/.perms.swp" "$A/fsid/perms" &&
	echo $BOB >expect &&
	test_cmp expect "$A/fsid/perms" &&
	deis_as $BOB rm -f "$A/fsid/.perms.swp"
'

test_expect_success 'a descriptor opened (O_TRUNC) before a revocation commits nothing at its close' '
	n=$(deis_release_count fsid) &&
	rm -f "$SHARED/go" "$SHARED/opened" && mkfifo -m 666 "$SHARED/go" &&
	bg_as $BOB trunc "exec 3>$A/fsid/env && echo yes >$SHARED/opened && read x <$SHARED/go; exec 3>&-; echo closed" &&
	test_wait_for 10 test -s "$SHARED/opened" &&
	deis_as $ALICE sh -c "printf \"\\n\" >$A/fsid/perms" &&
	test_must_be_empty "$A/fsid/perms" &&
	deis_log_mark &&
	echo go >"$SHARED/go" &&
	wait "$(cat trunc.pid)" &&
	wait_release_handled $BOB fsid &&
	echo A=1 >expect &&
	test_cmp expect "$A/fsid/env" &&
	test "$(deis_release_count fsid)" = "$n" &&
	! deis_log_has_since_mark "release v[0-9]+ by root"
'

test_expect_success 'a descriptor opened before a revocation can neither write nor commit after it' '
	deis_as $ALICE sh -c "echo $BOB >$A/fsid/perms" &&
	n=$(deis_release_count fsid) &&
	rm -f "$SHARED/go" "$SHARED/opened" && mkfifo -m 666 "$SHARED/go" &&
	bg_as $BOB write "exec 3>$A/fsid/config/B && echo yes >$SHARED/opened && read x <$SHARED/go; echo -n 2 >&3; echo write=\$?; exec 3>&-; echo closed" &&
	test_wait_for 10 test -s "$SHARED/opened" &&
	deis_as $ALICE sh -c "printf \"\\n\" >$A/fsid/perms" &&
	deis_log_mark &&
	echo go >"$SHARED/go" &&
	wait "$(cat write.pid)" &&
	cat "$SHARED/write.out" &&
	grep "write=1" "$SHARED/write.out" &&
	grep "Permission denied" "$SHARED/write.out" &&
	test_wait_for 10 test_path_is_missing "$A/fsid/config/B" &&
	test "$(deis_release_count fsid)" = "$n"
'

test_expect_success 'a descriptor of a destroyed app commits nothing into an app of the same name made after' '
	rm -f "$SHARED/go" "$SHARED/opened" && mkfifo -m 666 "$SHARED/go" &&
	bg_as $BOB destroyed "exec 3>$A/fsid2/env && echo yes >$SHARED/opened && read x <$SHARED/go; exec 3>&-; echo closed" &&
	test_wait_for 10 test -s "$SHARED/opened" &&
	deis_as $ALICE rmdir "$A/fsid2" &&
	deis_as $ALICE mkdir "$A/fsid2" &&
	deis_as $ALICE sh -c "printf \"C=3\\n\" >$A/fsid2/env" &&
	n=$(deis_release_count fsid2) &&
	deis_log_mark &&
	echo go >"$SHARED/go" &&
	wait "$(cat destroyed.pid)" &&
	wait_release_handled $BOB fsid2 &&
	echo C=3 >expect &&
	test_cmp expect "$A/fsid2/env" &&
	test "$(deis_release_count fsid2)" = "$n"
'

test_expect_success 'a log descriptor held open streams nothing after its reader lost access' '
	deis_as $ALICE sh -c "echo $BOB >$A/fsid/perms" &&
	rm -f "$SHARED/go" "$SHARED/opened" && mkfifo -m 666 "$SHARED/go" &&
	cat >"$SHARED/reader.py" <<-\PY &&
	import errno, os, sys
	path, shared = sys.argv[1], sys.argv[2]
	fd = os.open(path, os.O_RDONLY)
	while os.read(fd, 65536):
	    pass
	open(shared + "/opened", "w").write("yes\n")
	open(shared + "/go").read()
	try:
	    data = b""
	    while True:
	        chunk = os.read(fd, 65536)
	        if not chunk:
	            break
	        data += chunk
	    sys.stdout.write("read %d bytes\n" % len(data))
	    sys.stdout.write(data.decode("utf-8", "replace"))
	except OSError as e:
	    sys.stdout.write("error %s\n" % errno.errorcode[e.errno])
	PY
	bg_as $BOB reader "$PY $SHARED/reader.py $A/fsid/logs $SHARED" &&
	test_wait_for 10 test -s "$SHARED/opened" &&
	deis_as $ALICE sh -c "printf \"\\n\" >$A/fsid/perms" &&
	deis_as $ALICE sh -c "echo on >$A/fsid/maintenance" &&
	test_wait_for 10 grep -q "turned maintenance on" "$A/fsid/logs" &&
	echo go >"$SHARED/go" &&
	wait "$(cat reader.pid)" &&
	cat "$SHARED/reader.out" &&
	! grep "turned maintenance on" "$SHARED/reader.out" &&
	grep -x "error EACCES" "$SHARED/reader.out"
'

test_expect_success 'a release summary names the user who opened the file, not root' '
	deis_as $ALICE sh -c "echo $BOB >$A/fsid/perms" &&
	deis_as $ALICE sh -c "printf \"A=1\\nD=4\\n\" >$A/fsid/env" &&
	deis_log_mark &&
	deis_as $ALICE sh -c ": >$A/fsid/env" &&
	test_wait_for 10 eval "test \"\$(deis_release_summary fsid)\" != \"$ALICE added D\"" &&
	test "$(deis_release_summary fsid)" = "$ALICE removed A, D" &&
	deis_log_has_since_mark "app fsid: release v[0-9]+ by $ALICE" &&
	deis_as $BOB touch "$A/fsid/config/NEWVAR" &&
	test_wait_for 10 test -e "$A/fsid/config/NEWVAR" &&
	test_wait_for 10 eval "test \"\$(deis_release_summary fsid)\" != \"$ALICE removed A, D\"" &&
	test "$(deis_release_summary fsid)" = "$BOB added NEWVAR"
'

# A process may change its identity between open and close (a descriptor
# passed on, or a setuid program): the file's opener stays the one who acts.
test_expect_success 'a descriptor opened by one user and written and closed by another acts as its opener' '
	cat >swap.py <<-\PY &&
	import os, pwd, sys
	path, opener, closer, data = sys.argv[1:5]
	def become(name):
	    os.seteuid(0)
	    pw = pwd.getpwnam(name)
	    os.setegid(pw.pw_gid)
	    os.seteuid(pw.pw_uid)
	become(opener)
	fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
	become(closer)
	os.write(fd, data.encode())
	os.close(fd)
	PY
	$PY swap.py "$A/fsid/env" $ALICE root "E=5
" &&
	test "$(deis_release_summary fsid)" = "$ALICE added E, removed NEWVAR" &&
	$PY swap.py "$A/fsid/env" root $BOB "E=6
" &&
	test "$(deis_release_summary fsid)" = "root changed E" &&
	$PY swap.py "$A/fsid/env" $BOB $ALICE "E=7
" &&
	test "$(deis_release_summary fsid)" = "$BOB changed E"
'

# A right revoked through another mount is in force at once, whatever
# this mount has heard: the database checks it in the commit's own
# transaction.  (Changed behind every mount's back here, so that this
# mount cannot have heard of it.)
test_expect_success 'a revocation this mount has not heard of yet still stops the next commit' '
	deis_as $ALICE sh -c "echo $BOB >$A/fsid/perms" &&
	n=$(deis_release_count fsid) &&
	deis_psql "DELETE FROM perms p USING apps a WHERE a.id = p.app_id AND a.name = '"'"'fsid'"'"'" &&
	deis_as $BOB cat "$A/fsid/perms" >actual &&
	echo $BOB >expect &&
	test_cmp expect actual &&
	deis_write_close --as $BOB "$A/fsid/config/STALE" "stale\n" >out &&
	echo "write=0 close=EACCES" >expect &&
	test_cmp expect out &&
	test "$(deis_release_count fsid)" = "$n" &&
	deis_log_has "fsid.*$BOB may not change app .fsid." &&
	deis_as $ALICE sh -c "echo $BOB >$A/fsid/perms" &&
	test_wait_for 10 test_path_is_missing "$A/fsid/config/STALE"
'

test_expect_success 'cleanup' '
	deis_app_destroy fsid fsid2
'

test_done
