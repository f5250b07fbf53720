#!/bin/bash
test_description='many users on one allow_other mount: each sees and changes only their own apps'
. "$(dirname "$0")/../lib.sh"

A="$DEIS_MOUNT/apps"

test_expect_success 'setup: two real local users, each with an app' '
	deis_useradd deis-ualice &&
	deis_useradd deis-ubob &&
	deis_as deis-ualice mkdir "$A/ualice-app" &&
	deis_as deis-ubob mkdir "$A/ubob-app" &&
	deis_as deis-ualice sh -c "echo -n s3cret >$A/ualice-app/config/SECRET"
'

test_expect_success 'each user lists only their own apps' '
	deis_as deis-ualice ls "$A" >actual &&
	echo ualice-app >expect &&
	test_cmp expect actual &&
	deis_as deis-ubob ls "$A" >actual &&
	echo ubob-app >expect &&
	test_cmp expect actual
'

test_expect_success 'root (admin) sees every app, owned by their users in ls -l' '
	ls "$A" >actual &&
	grep -x ualice-app actual &&
	grep -x ubob-app actual &&
	test "$(stat -c %U "$A/ualice-app")" = deis-ualice &&
	test "$(stat -c %U "$A/ualice-app/env")" = deis-ualice
'

test_expect_success 'another user cannot read an app, even after its owner looked paths up' '
	deis_as deis-ualice cat "$A/ualice-app/config/SECRET" >/dev/null &&
	deis_as deis-ualice stat "$A/ualice-app/info" >/dev/null &&
	test_must_fail deis_as deis-ubob cat "$A/ualice-app/config/SECRET" 2>err &&
	grep "Permission denied" err &&
	test_must_fail deis_as deis-ubob cat "$A/ualice-app/env" 2>err &&
	grep "Permission denied" err &&
	test_must_fail deis_as deis-ubob stat "$A/ualice-app/info" 2>err &&
	grep "Permission denied" err &&
	test_must_fail deis_as deis-ubob ls "$A/ualice-app" 2>err &&
	test_must_fail deis_as deis-ubob ls "$A/ualice-app/releases/v1" 2>err
'

test_expect_success 'another user cannot change an app (EACCES), and nothing changes' '
	n=$(deis_psql "SELECT count(*) FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = '"'"'ualice-app'"'"'") &&
	test_must_fail deis_as deis-ubob sh -c "echo -n x >$A/ualice-app/config/EVIL" &&
	test_must_fail deis_as deis-ubob sh -c "echo web=9 >$A/ualice-app/formation" &&
	test_must_fail deis_as deis-ubob rm "$A/ualice-app/config/SECRET" &&
	test_must_fail deis_as deis-ubob rmdir "$A/ualice-app" 2>err &&
	grep "Permission denied" err &&
	test_must_fail deis_as deis-ubob rm -rf "$A/ualice-app" &&
	test_path_is_dir "$A/ualice-app" &&
	test "$(deis_psql "SELECT count(*) FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = '"'"'ualice-app'"'"'")" = "$n" &&
	printf s3cret >expect &&
	test_cmp expect "$A/ualice-app/config/SECRET"
'

test_expect_success 'a user named in perms may use the app, but not change perms or destroy it' '
	deis_as deis-ualice sh -c "echo deis-ubob >$A/ualice-app/perms" &&
	deis_as deis-ubob ls "$A" >actual &&
	printf "%s\n" ualice-app ubob-app >expect &&
	test_cmp expect actual &&
	deis_as deis-ubob cat "$A/ualice-app/config/SECRET" >actual &&
	printf s3cret >expect &&
	test_cmp expect actual &&
	deis_as deis-ubob sh -c "echo -n 1 >$A/ualice-app/config/BOB_WAS_HERE" &&
	grep -x "summary: deis-ubob added BOB_WAS_HERE" "$A/ualice-app/releases/current/info" &&
	test_must_fail deis_as deis-ubob sh -c "echo deis-ubob >$A/ualice-app/perms" &&
	test_must_fail deis_as deis-ubob rmdir "$A/ualice-app" &&
	test_path_is_dir "$A/ualice-app"
'

test_expect_success 'owning an app whose name starts the same grants nothing' '
	deis_as deis-ubob mkdir "$A/ualice-app-staging" &&
	deis_as deis-ualice sh -c ": >$A/ualice-app/perms" &&
	test_wait_for 5 eval "! deis_as deis-ubob ls $A | grep -qx ualice-app" &&
	test_must_fail deis_as deis-ubob cat "$A/ualice-app/info"
'

test_expect_success 'a uid with no user name can see no app and change nothing' '
	test_must_fail setpriv --reuid 54321 --regid 54321 --clear-groups mkdir "$A/nobodys" &&
	setpriv --reuid 54321 --regid 54321 --clear-groups ls "$A" >actual &&
	test_must_be_empty actual
'

test_expect_success 'members of the admin group are admins' '
	admin_group=$(sed -n "s/^admin_group *= *//p" "$DEIS_CONF" | tr -d "\"") &&
	test -n "$admin_group" &&
	deis_useradd deis-uadmin -G "$admin_group" &&
	deis_as deis-uadmin ls "$A" >actual &&
	grep -x ualice-app actual &&
	grep -x ubob-app actual &&
	grep -x "admin: yes" "$DEIS_MOUNT/users/deis-uadmin/info"
'

test_expect_success 'owners destroy their own apps' '
	deis_as deis-ualice rmdir "$A/ualice-app" &&
	deis_as deis-ubob rm -rf "$A/ubob-app" "$A/ualice-app-staging" &&
	test_path_is_missing "$A/ualice-app" &&
	test_path_is_missing "$A/ubob-app"
'

test_expect_success 'cleanup' '
	deis_app_destroy ualice-app ubob-app ualice-app-staging
'

test_done
