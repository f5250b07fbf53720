#!/bin/bash
test_description='users/<name>/: info and SSH keys, fingerprints, who may change them'
. "$(dirname "$0")/../lib.sh"

U="$DEIS_MOUNT/users"

test_expect_success 'setup: two local users and keys' '
	deis_useradd deis-kalice &&
	deis_useradd deis-kbob &&
	ssh-keygen -q -t ed25519 -N "" -C "alice@laptop" -f alice_ed &&
	ssh-keygen -q -t rsa -b 2048 -N "" -f alice_rsa &&
	ssh-keygen -q -t ed25519 -N "" -f bob_ed &&
	chmod 644 alice_ed.pub alice_rsa.pub bob_ed.pub
'

test_expect_success 'a local user who has done nothing still has a directory of their own' '
	deis_as deis-kalice ls "$U/deis-kalice" >actual &&
	printf "%s\n" info keys quota >expect &&
	test_cmp expect actual &&
	deis_as deis-kalice cat "$U/deis-kalice/info" >info &&
	grep -x "name: deis-kalice" info &&
	grep -x "uid: $(id -u deis-kalice)" info &&
	grep -x "admin: no" info
'

test_expect_success 'cp key.pub users/me/keys/laptop stores a key; info shows its SHA256 fingerprint' '
	deis_as deis-kalice cp "$PWD/alice_ed.pub" "$U/deis-kalice/keys/laptop" &&
	deis_as deis-kalice ls "$U/deis-kalice/keys" >actual &&
	echo laptop >expect &&
	test_cmp expect actual &&
	fp=$(ssh-keygen -lf alice_ed.pub | cut -d" " -f2) &&
	grep -x "key: laptop ssh-ed25519 $fp" "$U/deis-kalice/info" &&
	test_cmp alice_ed.pub "$U/deis-kalice/keys/laptop" &&
	test "$(deis_psql "SELECT fingerprint FROM keys k JOIN users u ON u.id = k.user_id WHERE u.name = '"'"'deis-kalice'"'"'")" = "$fp"
'

test_expect_success 'an RSA key too' '
	deis_as deis-kalice cp "$PWD/alice_rsa.pub" "$U/deis-kalice/keys/desktop" &&
	fp=$(ssh-keygen -lf alice_rsa.pub | cut -d" " -f2) &&
	grep -x "key: desktop ssh-rsa $fp" "$U/deis-kalice/info"
'

test_expect_success 'users/ lists users who have done something' '
	ls "$U" >actual &&
	grep -x deis-kalice actual &&
	grep -x root actual
'

test_expect_success 'a malformed key is refused with EINVAL and stores nothing' '
	deis_log_mark &&
	echo "ssh-ed25519 AAAAnotbase64!!" >bad.pub &&
	test_must_fail deis_as deis-kalice cp "$PWD/bad.pub" "$U/deis-kalice/keys/bad" 2>err &&
	grep "Invalid argument" err &&
	test_must_fail deis_as deis-kalice bash -c "echo garbage >$U/deis-kalice/keys/bad2" 2>err &&
	grep "Invalid argument" err &&
	test_wait_for 2 test_path_is_missing "$U/deis-kalice/keys/bad" &&
	deis_log_has_since_mark "ssh key" &&
	test "$(deis_psql "SELECT count(*) FROM keys k JOIN users u ON u.id = k.user_id WHERE u.name = '"'"'deis-kalice'"'"'")" = 2
'

test_expect_success 'an invalid key name is refused' '
	test_must_fail deis_as deis-kalice cp "$PWD/bob_ed.pub" "$U/deis-kalice/keys/bad name" &&
	test_must_fail deis_as deis-kalice cp "$PWD/bob_ed.pub" "$U/deis-kalice/keys/-x"
'

test_expect_success 'another user cannot change my keys (EACCES); root can' '
	test_must_fail deis_as deis-kbob cp "$PWD/bob_ed.pub" "$U/deis-kalice/keys/evil" 2>err &&
	grep "Permission denied" err &&
	test_must_fail deis_as deis-kbob rm "$U/deis-kalice/keys/laptop" 2>err &&
	grep "Permission denied" err &&
	test_path_is_file "$U/deis-kalice/keys/laptop" &&
	cp bob_ed.pub "$U/deis-kbob/keys/from-root" &&
	rm "$U/deis-kbob/keys/from-root"
'

test_expect_success 'a key registered to one user cannot be registered to another (EEXIST)' '
	test_must_fail deis_as deis-kbob cp "$PWD/alice_ed.pub" "$U/deis-kbob/keys/stolen" 2>err &&
	grep "File exists" err &&
	test_wait_for 2 test_path_is_missing "$U/deis-kbob/keys/stolen"
'

test_expect_success 'rm removes a key' '
	deis_as deis-kalice rm "$U/deis-kalice/keys/desktop" &&
	test_path_is_missing "$U/deis-kalice/keys/desktop" &&
	! grep "key: desktop" "$U/deis-kalice/info"
'

test_expect_success 'a local user always has a directory; an admin can mkdir a platform-only user' '
	test_must_fail mkdir "$U/deis-kbob" 2>err &&
	grep "File exists" err &&
	test_must_fail deis_as deis-kbob mkdir "$U/deis-remote" 2>err &&
	grep "Permission denied" err &&
	mkdir "$U/deis-remote" &&
	ls "$U" | grep -x deis-remote &&
	grep -x "name: deis-remote" "$U/deis-remote/info" &&
	test_must_fail mkdir "$U/Bad..Name" 2>err &&
	grep "Invalid argument" err
'

test_expect_success 'cleanup: the keys' '
	deis_keys_remove deis-kalice deis-kbob &&
	test -z "$(ls "$U/deis-kalice/keys")" &&
	test -z "$(ls "$U/deis-kbob/keys")"
'

test_done
