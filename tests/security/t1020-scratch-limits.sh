#!/bin/bash
test_description='scratch files and open-file buffers are limited per user (EDQUOT) and never grow deisfs without bound'
. "$(dirname "$0")/../lib.sh"

A="$DEIS_MOUNT/apps"
ALICE=deis-fsa
BOB=deis-fsb
PY=/usr/bin/python3

rss_kib() {
	local pid
	read -r pid <"$DEIS_RUNDIR/deisfs.pid" &&
	awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"
}

test_expect_success 'setup: alice and bob each own an app' '
	deis_useradd $ALICE &&
	deis_useradd $BOB &&
	deis_as $ALICE mkdir "$A/fsscratch" &&
	deis_as $BOB mkdir "$A/fsscratch2" &&
	rss_kib >rss.start &&
	echo "# deisfs VmRSS at start: $(cat rss.start) KiB"
'

test_expect_success 'a user may hold 64 scratch files; the next one fails with EDQUOT' '
	deis_as $ALICE bash -c "for i in \$(seq 1 64); do : >$A/fsscratch/.s\$i || exit 1; done" &&
	test_must_fail deis_as $ALICE sh -c ": >$A/fsscratch/.s65" 2>err &&
	cat err &&
	grep "Disk quota exceeded" err &&
	test_path_is_missing "$A/fsscratch/.s65" &&
	deis_log_has "create /apps/fsscratch/.s65 by $ALICE .*scratch files" &&
	deis_as $BOB sh -c ": >$A/fsscratch2/.bob1" &&
	deis_as $ALICE rm "$A/fsscratch/.s1" &&
	deis_as $ALICE sh -c ": >$A/fsscratch/.s65" &&
	deis_as $ALICE bash -c "rm -f $A/fsscratch/.s*" &&
	deis_as $BOB rm "$A/fsscratch2/.bob1"
'

test_expect_success 'scratch files of a user hold 16 MiB; a write past it fails with EDQUOT' '
	head -c 4194304 /dev/zero | tr "\0" x >4m &&
	chmod 644 4m &&
	for i in 1 2 3 4; do
		deis_as $ALICE cp "$TRASH_DIRECTORY/4m" "$A/fsscratch/.big$i" || return 1
	done &&
	test_must_fail deis_as $ALICE cp "$TRASH_DIRECTORY/4m" "$A/fsscratch/.big5" 2>err &&
	cat err &&
	grep "Disk quota exceeded" err &&
	test_must_fail deis_as $ALICE truncate -s 2M "$A/fsscratch/.grow" 2>err &&
	grep "Disk quota exceeded" err &&
	deis_as $BOB cp "$TRASH_DIRECTORY/4m" "$A/fsscratch2/.big1" &&
	deis_as $ALICE bash -c "rm -f $A/fsscratch/.big* $A/fsscratch/.grow" &&
	deis_as $BOB rm "$A/fsscratch2/.big1" &&
	deis_as $ALICE cp "$TRASH_DIRECTORY/4m" "$A/fsscratch/.big1" &&
	deis_as $ALICE rm "$A/fsscratch/.big1"
'

test_expect_success 'a flood of 250 x 4 MiB scratch files fails with EDQUOT and deisfs stays small' '
	rss_kib >rss.before &&
	deis_as $ALICE bash -c "ok=0 bad=0; for i in \$(seq 1 250); do if cp $TRASH_DIRECTORY/4m $A/fsscratch/.f\$i 2>/dev/null; then ok=\$((ok+1)); else bad=\$((bad+1)); fi; done; echo \$ok \$bad" >counts &&
	rss_kib >rss.after &&
	echo "# flood: $(cat counts) (written, refused); deisfs VmRSS $(cat rss.before) KiB before, $(cat rss.after) KiB after" &&
	read ok bad <counts &&
	test "$ok" -le 4 &&
	test "$bad" -ge 246 &&
	test $(( $(cat rss.after) - $(cat rss.before) )) -lt 65536 &&
	deis_as $ALICE bash -c "rm -f $A/fsscratch/.f*"
'

test_expect_success 'open descriptors cannot buffer more than a user may hold (EDQUOT at write)' '
	cat >hold.py <<-\PY &&
	import errno, os, sys
	path, n = sys.argv[1], int(sys.argv[2])
	# 1 MiB of comment lines: a valid env, held by each descriptor until
	# close; a last incomplete bad line makes every close commit nothing.
	line = b"#" + b"x" * 1022 + b"\n"
	chunk = line * 1023
	fds, ok, refused = [], 0, 0
	for i in range(n):
	    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
	    fds.append(fd)
	    try:
	        os.write(fd, chunk)
	        os.write(fd, b"BAD")
	        ok += 1
	    except OSError as e:
	        if e.errno != errno.EDQUOT:
	            raise
	        refused += 1
	with open(sys.argv[3]) as f:
	    rss = [l.split()[1] for l in f if l.startswith("VmRSS:")][0]
	for fd in fds:
	    try:
	        os.close(fd)
	    except OSError:
	        pass
	print(ok, refused, rss)
	PY
	chmod 644 hold.py &&
	rss_kib >rss.before &&
	deis_as $ALICE $PY "$TRASH_DIRECTORY/hold.py" "$A/fsscratch/env" 100 "/proc/$(cat "$DEIS_RUNDIR/deisfs.pid")/status" >counts &&
	read ok refused rss <counts &&
	echo "# 100 descriptors x 1 MiB: $ok held, $refused refused; deisfs VmRSS $(cat rss.before) KiB before, $rss KiB while held" &&
	test "$ok" -le 40 &&
	test "$refused" -ge 60 &&
	test $(( rss - $(cat rss.before) )) -lt 131072 &&
	test_must_be_empty "$A/fsscratch/env"
'

test_expect_success 'all users together are bounded too (ENOSPC past memory_mb)' '
	deis_mount_extra small --memory_mb=6 &&
	deis_as $ALICE cp "$TRASH_DIRECTORY/4m" "$TRASH_DIRECTORY/small/apps/fsscratch/.big" &&
	test_must_fail deis_as $BOB cp "$TRASH_DIRECTORY/4m" "$TRASH_DIRECTORY/small/apps/fsscratch2/.big" 2>err &&
	cat err &&
	grep "No space left on device" err &&
	deis_as $ALICE rm "$TRASH_DIRECTORY/small/apps/fsscratch/.big" &&
	deis_as $BOB cp "$TRASH_DIRECTORY/4m" "$TRASH_DIRECTORY/small/apps/fsscratch2/.big" &&
	deis_as $BOB rm "$TRASH_DIRECTORY/small/apps/fsscratch2/.big" &&
	deis_unmount small
'

test_expect_success 'cleanup' '
	deis_app_destroy fsscratch fsscratch2 &&
	echo "# deisfs VmRSS at end: $(rss_kib) KiB"
'

test_done
