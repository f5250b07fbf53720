#!/bin/bash
test_description='smaller leaks of the tree: a user'"'"'s app list, app names that cannot run, domain squats'
. "$(dirname "$0")/../lib.sh"

A="$DEIS_MOUNT/apps"
ALICE=deis-fsa
BOB=deis-fsb
PD=$(cat "$DEIS_MOUNT/platform/domain")

test_expect_success 'setup: alice and bob each own an app' '
	deis_useradd $ALICE &&
	deis_useradd $BOB &&
	deis_as $ALICE mkdir "$A/fsleak-alice" &&
	deis_as $BOB mkdir "$A/fsleak-bob"
'

test_expect_success 'users/<name>/info shows the app list to that user and admins only' '
	deis_as $ALICE cat "$DEIS_MOUNT/users/$ALICE/info" >alice &&
	grep "^apps:.* fsleak-alice" alice &&
	cat "$DEIS_MOUNT/users/$ALICE/info" >root &&
	grep "^apps:.* fsleak-alice" root &&
	deis_as $BOB cat "$DEIS_MOUNT/users/$ALICE/info" >bob &&
	cat bob &&
	! grep fsleak-alice bob &&
	! grep "^apps:" bob &&
	grep -x "name: $ALICE" bob &&
	deis_as $ALICE cat "$DEIS_MOUNT/users/$ALICE/info" >alice2 &&
	grep "^apps:.* fsleak-alice" alice2
'

test_expect_success 'an app name too long for its containers is refused at mkdir (EINVAL)' '
	name60=fs$(printf "%058d" 0 | tr 0 a) &&
	test ${#name60} = 60 &&
	test_must_fail mkdir "$A/$name60" 2>err &&
	grep "Invalid argument" err &&
	test_path_is_missing "$A/$name60" &&
	name31=fs$(printf "%029d" 0 | tr 0 b) &&
	test_must_fail mkdir "$A/$name31" &&
	name30=fs$(printf "%028d" 0 | tr 0 c) &&
	mkdir "$A/$name30" &&
	rmdir "$A/$name30"
'

test_expect_success 'a domain under the platform domain is refused at write (EINVAL)' '
	for d in "x.$PD" "fsleak-bob.$PD" "*.$PD" "$PD" "a.b.$PD"; do
		test_must_fail deis_as $ALICE bash -c "echo \"$d\" >$A/fsleak-alice/domains" 2>err || return 1
		grep "Invalid argument" err || return 1
	done &&
	test_must_be_empty "$A/fsleak-alice/domains" &&
	deis_log_has "platform domain"
'

test_expect_success 'a one-label wildcard is refused (EINVAL)' '
	test_must_fail deis_as $ALICE bash -c "echo \"*.com\" >$A/fsleak-alice/domains" 2>err &&
	grep "Invalid argument" err
'

test_expect_success 'a wildcard covering another app'"'"'s domain is refused (EEXIST)' '
	deis_as $BOB bash -c "echo www.fsleak-example.com >$A/fsleak-bob/domains" &&
	test_must_fail deis_as $ALICE bash -c "echo \"*.fsleak-example.com\" >$A/fsleak-alice/domains" 2>err &&
	grep "File exists" err &&
	deis_as $ALICE bash -c "printf \"ok.fsleak-other.com\\n*.fsleak-example.com\" >$A/fsleak-alice/domains" &&
	test_must_be_empty "$A/fsleak-alice/domains"
'

test_expect_success 'a domain under another app'"'"'s wildcard is refused (EEXIST)' '
	deis_as $BOB bash -c "printf \"www.fsleak-example.com\\n*.fsleak-wild.com\\n\" >$A/fsleak-bob/domains" &&
	test_must_fail deis_as $ALICE bash -c "echo api.fsleak-wild.com >$A/fsleak-alice/domains" 2>err &&
	grep "File exists" err &&
	test_must_fail deis_as $ALICE bash -c "echo a.b.fsleak-wild.com >$A/fsleak-alice/domains" &&
	test_must_fail deis_as $ALICE bash -c "echo \"*.x.fsleak-wild.com\" >$A/fsleak-alice/domains" &&
	deis_as $ALICE bash -c "printf api.fsleak-wild.com >$A/fsleak-alice/domains" &&
	test_must_be_empty "$A/fsleak-alice/domains" &&
	deis_as $ALICE bash -c "echo fsleak-wild.com >$A/fsleak-alice/domains" &&
	echo fsleak-wild.com >expect &&
	test_cmp expect "$A/fsleak-alice/domains"
'

# The database has the last word: a name taken through another mount (here
# behind every mount's back, so this one cannot know) is refused at commit.
test_expect_success 'a wildcard over a name this mount has not heard of is refused at commit' '
	deis_psql "INSERT INTO domains (domain, app_id, position) SELECT '"'"'api.fsleak-db.com'"'"', id, 9 FROM apps WHERE name = '"'"'fsleak-bob'"'"'" &&
	deis_write_close --as $ALICE "$A/fsleak-alice/domains" "*.fsleak-db.com\n" >out &&
	echo "write=0 close=EEXIST" >expect &&
	test_cmp expect out &&
	echo fsleak-wild.com >expect &&
	test_cmp expect "$A/fsleak-alice/domains"
'

test_expect_success 'cleanup' '
	deis_app_destroy fsleak-alice fsleak-bob
'

test_done
