#!/bin/bash
test_description='quotas and host capacity: one tenant cannot take the host (formation, limits; EDQUOT at write)'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
P=$DEIS_MOUNT/platform
U=$DEIS_MOUNT/users
ALICE=deis-qalice
BOB=deis-qbob

# Scales APP to SPEC as the Unix user WHO (fails like the shell does).
scale() {	# WHO APP SPEC
	deis_as "$1" bash -c "echo \"$3\" >\"$A/$2/formation\""
}

# The sum of APP...'s formation counts.
containers_of() {	# APP...
	local a
	for a; do cat "$A/$a/formation"; done | awk -F= '{ s += $2 } END { print s + 0 }'
}

test_expect_success 'setup: alice owns two apps, bob five' '
	deis_useradd $ALICE &&
	deis_useradd $BOB &&
	deis_as $ALICE mkdir "$A/qa-one" "$A/qa-two" &&
	for i in 1 2 3 4 5; do deis_as $BOB mkdir "$A/qb-$i" || return 1; done
'

test_expect_success 'web=1000 is refused at write with EDQUOT; the old formation is kept' '
	scale $ALICE qa-one web=2 &&
	test_must_fail scale $ALICE qa-one web=1000 2>err &&
	grep "Disk quota exceeded" err &&
	echo web=2 >expect &&
	test_cmp expect "$A/qa-one/formation" &&
	deis_log_has "qa-one/formation by $ALICE .*quota" &&
	test_wait_for 5 grep -q "qa-one\[deis\]: $ALICE: refused: quota" "$A/qa-one/logs" &&
	test_must_fail scale $ALICE qa-one "web=1 worker=999" 2>err &&
	grep "Disk quota exceeded" err &&
	test_cmp expect "$A/qa-one/formation"
'

test_expect_success 'an admin'"'"'s own app is bound too: web=1000 as root is EDQUOT' '
	mkdir "$A/qroot" &&
	test_when_finished "rmdir \"$A/qroot\"" &&
	test_must_fail bash -c "echo web=1000 >\"$A/qroot/formation\"" 2>err &&
	grep "Disk quota exceeded" err &&
	test_must_be_empty "$A/qroot/formation"
'

test_expect_success 'the user reads their quota and what they use; others cannot' '
	deis_as $ALICE cat "$U/$ALICE/quota" >q &&
	cat q &&
	grep -E "^containers=[0-9]+$" q &&
	grep -E "^memory=[0-9]+[KMGT]?$" q &&
	grep -x "# used: containers=2 memory=1G" q &&
	cat "$U/$ALICE/quota" >q.root &&
	test_cmp q q.root &&
	test_must_fail deis_as $BOB cat "$U/$ALICE/quota" 2>err &&
	grep "Permission denied" err &&
	deis_as $BOB cat "$P/quotas" >pq &&
	grep -E "^containers=[0-9]+$" pq &&
	grep -E "^memory=[0-9]+[KMGT]?$" pq &&
	grep -E "^overcommit=[0-9.]+$" pq
'

test_expect_success 'a non-admin cannot change quotas (EACCES), not even their own' '
	cat "$U/$ALICE/quota" >before &&
	cat "$P/quotas" >pbefore &&
	test_must_fail deis_as $ALICE bash -c "echo containers=1000 >$U/$ALICE/quota" 2>err &&
	grep "Permission denied" err &&
	test_must_fail deis_as $ALICE bash -c "echo containers=1000 >$P/quotas" 2>err &&
	grep "Permission denied" err &&
	test_must_fail deis_as $ALICE bash -c "echo overcommit=100 >$P/quotas" 2>err &&
	grep "Permission denied" err &&
	test_must_fail deis_as $BOB bash -c "echo containers=1000 >$U/$ALICE/quota" 2>err &&
	grep "Permission denied" err &&
	cat "$U/$ALICE/quota" >after &&
	test_cmp before after &&
	cat "$P/quotas" >pafter &&
	test_cmp pbefore pafter
'

test_expect_success 'a bad quota is EINVAL and changes nothing' '
	cat "$U/$ALICE/quota" >before &&
	for bad in containers=-1 containers=x memory=12Q cpu=2 overcommit=2 "containers=1 containers=2"; do
		test_must_fail bash -c "echo \"$bad\" >\"$U/$ALICE/quota\"" 2>err || return 1
		grep "Invalid argument" err || return 1
	done &&
	test_must_fail bash -c "echo overcommit=0 >\"$P/quotas\"" 2>err &&
	grep "Invalid argument" err &&
	cat "$U/$ALICE/quota" >after &&
	test_cmp before after
'

test_expect_success 'a user at quota cannot scale another of their apps' '
	echo containers=2 >"$U/$ALICE/quota" &&
	test_when_finished ": >\"$U/$ALICE/quota\"" &&
	grep -x containers=2 "$U/$ALICE/quota" &&
	test_must_fail scale $ALICE qa-two web=1 2>err &&
	grep "Disk quota exceeded" err &&
	test_must_be_empty "$A/qa-two/formation" &&
	deis_log_has "qa-two/formation by $ALICE .*quota.* 3 containers" &&
	scale $ALICE qa-one web=1 &&
	scale $ALICE qa-two web=1 &&
	test "$(containers_of qa-one qa-two)" = 2 &&
	test_must_fail scale $ALICE qa-one web=2 &&
	scale $ALICE qa-two web=0 &&
	scale $ALICE qa-one web=2
'

test_expect_success 'over quota (lowered below use), scaling down still works and up does not' '
	echo containers=1 >"$U/$ALICE/quota" &&
	test_when_finished ": >\"$U/$ALICE/quota\"" &&
	test_must_fail scale $ALICE qa-one web=3 &&
	scale $ALICE qa-one web=2 &&
	scale $ALICE qa-one web=1 &&
	test_must_fail scale $ALICE qa-one web=2 &&
	echo web=1 >expect &&
	test_cmp expect "$A/qa-one/formation"
'

test_expect_success 'a memory limit raised over the quota is refused (EDQUOT), the limits kept' '
	echo "containers=10 memory=2G" >"$U/$ALICE/quota" &&
	test_when_finished ": >\"$U/$ALICE/quota\"" &&
	scale $ALICE qa-one web=2 &&
	scale $ALICE qa-two web=0 &&
	test_must_fail deis_as $ALICE bash -c "echo web.memory=2G >$A/qa-one/limits" 2>err &&
	grep "Disk quota exceeded" err &&
	test_must_be_empty "$A/qa-one/limits" &&
	deis_log_has "qa-one/limits by $ALICE .*quota.* 4G" &&
	deis_as $ALICE bash -c "echo web.memory=1G >$A/qa-one/limits" &&
	echo web.memory=1G >expect &&
	test_cmp expect "$A/qa-one/limits" &&
	test_must_fail scale $ALICE qa-two web=1 2>err &&
	grep "Disk quota exceeded" err &&
	deis_as $ALICE bash -c "echo worker.memory=64M >$A/qa-two/limits" &&
	test_must_fail scale $ALICE qa-two worker=1 &&
	deis_as $ALICE bash -c "echo web.memory=960M >$A/qa-one/limits" &&
	scale $ALICE qa-two worker=1 &&
	grep -x "# used: containers=3 memory=1984M" "$U/$ALICE/quota"
'

test_expect_success 'a rollback to limits over the quota is refused' '
	echo "containers=10 memory=2G" >"$U/$ALICE/quota" &&
	test_when_finished ": >\"$U/$ALICE/quota\"" &&
	scale $ALICE qa-two worker=0 &&
	scale $ALICE qa-one web=1 &&
	deis_as $ALICE bash -c "echo web.memory=2G >$A/qa-one/limits" &&
	big=$(readlink "$A/qa-one/releases/current") &&
	deis_as $ALICE bash -c "echo web.memory=512M >$A/qa-one/limits" &&
	scale $ALICE qa-one web=2 &&
	v=$(readlink "$A/qa-one/releases/current") &&
	test_must_fail deis_as $ALICE bash -c "echo $big >$A/qa-one/rollback" 2>err &&
	grep "Disk quota exceeded" err &&
	test "$(readlink "$A/qa-one/releases/current")" = "$v" &&
	echo web.memory=512M >expect &&
	test_cmp expect "$A/qa-one/limits"
'

test_expect_success 'an admin raising the quota lets it through' '
	echo "containers=2 memory=10G" >"$U/$ALICE/quota" &&
	test_when_finished ": >\"$U/$ALICE/quota\"" &&
	: >"$A/qa-one/limits" &&
	scale $ALICE qa-one web=2 &&
	test_must_fail scale $ALICE qa-one web=3 2>err &&
	grep "Disk quota exceeded" err &&
	echo "containers=3 memory=10G" >"$U/$ALICE/quota" &&
	scale $ALICE qa-one web=3 &&
	echo web=3 >expect &&
	test_cmp expect "$A/qa-one/formation" &&
	grep -x "containers=3" "$U/$ALICE/quota" &&
	grep -x "# used: containers=3 memory=1536M" "$U/$ALICE/quota"
'

test_expect_success 'the platform defaults apply to users without a quota of their own' '
	cp "$P/quotas" quotas.orig &&
	test_when_finished "cat quotas.orig >\"$P/quotas\"" &&
	test_when_finished ": >\"$U/$ALICE/quota\"" &&
	: >"$U/$ALICE/quota" &&
	scale $ALICE qa-one web=1 &&
	echo "containers=1 memory=10G" >"$P/quotas" &&
	grep -x containers=1 "$U/$ALICE/quota" &&
	test_must_fail scale $ALICE qa-two web=1 2>err &&
	grep "Disk quota exceeded" err &&
	echo "containers=2" >"$U/$ALICE/quota" &&
	scale $ALICE qa-two web=1 &&
	scale $ALICE qa-two web=0
'

test_expect_success 'capacity: a formation that does not fit the nodes is refused even within quota' '
	cp "$P/quotas" quotas.orig &&
	test_when_finished "cat quotas.orig >\"$P/quotas\"" &&
	test_when_finished ": >\"$U/$ALICE/quota\"" &&
	echo "containers=1000 memory=100000G" >"$U/$ALICE/quota" &&
	ls "$P/nodes" >nodes &&
	test -s nodes &&
	node=$(head -1 nodes) &&
	grep -Ex "[0-9]+[KMGT]?" "$P/nodes/$node/memory" &&
	scale $ALICE qa-one web=1 &&
	scale $ALICE qa-two web=0 &&
	cp "$A/qa-two/formation" formation.before &&
	echo "overcommit=0.01" >"$P/quotas" &&
	grep -x overcommit=0.01 "$P/quotas" &&
	test_must_fail scale $ALICE qa-two web=1 2>err &&
	grep "Disk quota exceeded" err &&
	test_cmp formation.before "$A/qa-two/formation" &&
	deis_log_has "qa-two/formation by $ALICE .*capacity" &&
	test_wait_for 5 grep -q "qa-two\[deis\]: $ALICE: refused: capacity" "$A/qa-two/logs" &&
	echo "overcommit=1" >"$P/quotas" &&
	deis_as $ALICE bash -c "echo web.memory=1024G >$A/qa-two/limits" &&
	test_must_fail scale $ALICE qa-two web=1 2>err &&
	grep "Disk quota exceeded" err &&
	test_cmp formation.before "$A/qa-two/formation" &&
	deis_as $ALICE bash -c ": >$A/qa-two/limits" &&
	scale $ALICE qa-two web=1
'

test_expect_success 'concurrent scale-ups of several apps cannot pass the quota together' '
	echo containers=1 >"$U/$BOB/quota" &&
	test_when_finished ": >\"$U/$BOB/quota\"" &&
	for round in 1 2 3 4 5; do
		for i in 1 2 3 4 5; do
			scale $BOB qb-$i web=0 || return 1
		done
		pids=
		for i in 1 2 3 4 5; do
			scale $BOB qb-$i web=1 2>/dev/null &
			pids="$pids $!"
		done
		for p in $pids; do wait $p || :; done
		n=$(containers_of qb-1 qb-2 qb-3 qb-4 qb-5) &&
		echo "round $round: $n" &&
		test "$n" = 1 || return 1
	done
'

test_expect_success 'cleanup' '
	deis_app_destroy qa-one qa-two qb-1 qb-2 qb-3 qb-4 qb-5
'

test_done
