#!/bin/bash
test_description='apps: mkdir creates, ls lists, info describes, rmdir and rm -rf destroy'
. "$(dirname "$0")/../lib.sh"

A="$DEIS_MOUNT/apps"

test_expect_success 'mkdir apps/hello creates an app with release v1' '
	mkdir "$A/hello" &&
	test_path_is_dir "$A/hello" &&
	ls "$A" >actual &&
	grep -x hello actual &&
	test_path_is_dir "$A/hello/releases/v1" &&
	grep "^summary: root created initial release$" "$A/hello/releases/v1/info" &&
	test "$(deis_psql "SELECT count(*) FROM apps WHERE name = '"'"'hello'"'"'")" = 1
'

test_expect_success 'an app directory has every file of the tree' '
	cat >expect <<-\EOF &&
	autoscale
	builds
	certs
	config
	containers
	domains
	drains
	env
	formation
	git_url
	healthcheck
	image
	info
	limits
	logs
	maintenance
	perms
	procfile
	releases
	rollback
	run
	url
	EOF
	ls "$A/hello" >actual &&
	test_cmp expect actual
'

test_expect_success 'info, url and git_url describe the app' '
	grep "^name: hello$" "$A/hello/info" &&
	grep "^owner: root$" "$A/hello/info" &&
	grep "^release: v1$" "$A/hello/info" &&
	grep "^created: 20[0-9-]*T[0-9:]*Z$" "$A/hello/info" &&
	domain=$(cat "$DEIS_MOUNT/platform/domain") &&
	port=$(conf_get "$DEIS_CONF" http_port || echo 80) &&
	case $port in 80) port= ;; *) port=":$port" ;; esac &&
	echo "http://hello.$domain$port" >expect &&
	test_cmp expect "$A/hello/url" &&
	grep -x "ssh://git@[a-z0-9.-]*:[0-9]*/hello.git" "$A/hello/git_url" &&
	grep -x "url: http://hello.$domain$port" "$A/hello/info"
'

test_expect_success 'mkdir of an existing app fails with EEXIST; mkdir -p succeeds' '
	test_must_fail mkdir "$A/hello" 2>err &&
	grep "File exists" err &&
	mkdir -p "$A/hello" &&
	test "$(deis_psql "SELECT count(*) FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = '"'"'hello'"'"'")" = 1
'

test_expect_success 'bad app names are refused with EINVAL and change nothing' '
	deis_log_mark &&
	before=$(deis_psql "SELECT count(*) FROM apps") &&
	for name in Hello hello_world -hello hello- "a b" "x;id" "\$(id)" \
		    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
	do
		test_must_fail mkdir "$A/$name" 2>err &&
		grep "Invalid argument" err || return 1
	done &&
	test "$(deis_psql "SELECT count(*) FROM apps")" = "$before" &&
	deis_log_has_since_mark "is not a valid app name"
'

test_expect_success 'files cannot be created in apps/' '
	test_must_fail sh -c "echo x >\"$A/notadir\"" &&
	test_path_is_missing "$A/notadir"
'

test_expect_success 'rmdir destroys the app with all its rows' '
	mkdir "$A/doomed" &&
	echo -n 1 >"$A/doomed/config/X" &&
	echo web=1 >"$A/doomed/formation" &&
	echo doomed.example.com >"$A/doomed/domains" &&
	id=$(deis_psql "SELECT id FROM apps WHERE name = '"'"'doomed'"'"'") &&
	rmdir "$A/doomed" &&
	test_path_is_missing "$A/doomed" &&
	! ls "$A" | grep -x doomed &&
	for t in apps releases formation domains perms certs builds; do
		col=app_id; test $t = apps && col=id
		test "$(deis_psql "SELECT count(*) FROM $t WHERE $col = $id")" = 0 || return 1
	done
'

test_expect_success 'rm -rf destroys an app and succeeds' '
	mkdir "$A/gone" &&
	echo -n 1 >"$A/gone/config/A" &&
	echo -n 2 >"$A/gone/config/B" &&
	rm -rf "$A/gone" &&
	test_path_is_missing "$A/gone" &&
	test "$(deis_psql "SELECT count(*) FROM apps WHERE name = '"'"'gone'"'"'")" = 0
'

test_expect_success 'the name of a destroyed app can be used again, starting at v1' '
	mkdir "$A/gone" &&
	echo v1 >expect &&
	readlink "$A/gone/releases/current" >actual &&
	test_cmp expect actual &&
	rmdir "$A/gone"
'

test_expect_success 'rmdir of an unknown app fails with ENOENT' '
	test_must_fail rmdir "$A/nosuchapp" 2>err &&
	grep "No such file" err
'

test_expect_success 'cleanup' '
	deis_app_destroy hello doomed gone
'

test_done
