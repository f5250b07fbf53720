#!/bin/bash
test_description='BUILDPACK_URL: only network git URLs (https, http, git) or built-in names; a host path, file://, ssh and other transports fail the push before anything runs'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
USER_=deis-sbpeve
APP=sec-bp
# A directory only root may read, with a buildpack in it (and as a git
# repository): what a tenant must never get the builder to run or clone.
SECRET=$DEIS_HOME/t3020-root-only

set_var() {	# KEY VALUE
	deis_as $USER_ bash -c 'printf %s "$2" >"$1"' bash "$A/$APP/config/$1" "$2"
}

# A push of a new commit (a build runs each time); output in push.out.
push_new() {
	echo "$RANDOM" >>src/README &&
	deis_git_commit src "change" &&
	deis_git_push $USER_ $APP src
}

refused() {	# URL: the push failed naming the rule, and nothing of SECRET ran
	grep -F "remote: -----> Build failed: BUILDPACK_URL $1: " push.out &&
	grep -F "only https://, http:// or git:// URLs or a built-in buildpack" push.out &&
	! grep "LEAKED" push.out &&
	! grep "Fetching buildpack" push.out &&
	! grep "app detected" push.out
}

test_expect_success 'setup: a user, the hello app (a Procfile), a root-only buildpack on the host' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	install -d -m 0700 "$SECRET" &&
	install -d -m 0755 "$SECRET/bp" "$SECRET/bp/bin" &&
	echo "root secret" >"$SECRET/secret.txt" &&
	printf "#!/bin/sh\necho Leaky\n" >"$SECRET/bp/bin/detect" &&
	printf "#!/bin/sh\necho LEAKED \$(cat /buildpack/../secret.txt 2>&1)\n" >"$SECRET/bp/bin/compile" &&
	printf "#!/bin/sh\necho ---\n" >"$SECRET/bp/bin/release" &&
	chmod 755 "$SECRET/bp/bin/"* &&
	git -C "$SECRET/bp" init -q -b main &&
	git -C "$SECRET/bp" add . &&
	git -C "$SECRET/bp" -c user.name=r -c user.email=r@r commit -q -m bp &&
	test_must_fail deis_as $USER_ ls "$SECRET"
'

test_expect_success 'a host path is refused: the push fails, the buildpack never runs' '
	set_var BUILDPACK_URL "$SECRET/bp" &&
	test_must_fail push_new &&
	refused "$SECRET/bp" &&
	grep -x "status: failed" "$A/$APP/builds/1/info"
'

test_expect_success 'file:// is refused, also with a #ref and in upper case' '
	set_var BUILDPACK_URL "file://$SECRET/bp" &&
	test_must_fail push_new &&
	refused "file://$SECRET/bp" &&
	set_var BUILDPACK_URL "file://$SECRET/bp#main" &&
	test_must_fail push_new &&
	refused "file://$SECRET/bp#main" &&
	set_var BUILDPACK_URL "FILE://$SECRET/bp" &&
	test_must_fail push_new &&
	refused "FILE://$SECRET/bp"
'

test_expect_success 'ssh (root'\''s keys), scp style, ext:: and other transports are refused' '
	for url in "ssh://root@127.0.0.1$SECRET/bp" "root@127.0.0.1:$SECRET/bp" \
		"ext::sh -c touch% /tmp/pwned" "ext::true" "fd::3" "git+ssh://h/x" \
		"ssh+git://h/x" "https:$SECRET/bp" "https:///etc" "git://-oProxyCommand=x/y" \
		"http://h/x#-ubad" "../bp" "bp"; do
		set_var BUILDPACK_URL "$url" &&
		test_must_fail push_new &&
		refused "$url" || return 1
	done &&
	test_path_is_missing /tmp/pwned
'

test_expect_success 'a built-in buildpack by name builds; an unknown name is refused' '
	set_var BUILDPACK_URL procfile &&
	push_new &&
	grep "^remote: -----> Procfile-only app detected" push.out &&
	grep "^remote: -----> Launching v" push.out &&
	set_var BUILDPACK_URL static &&
	test_must_fail push_new &&
	grep "^remote: -----> Build failed: the static buildpack does not build this app" push.out
'

test_expect_success 'a network git URL is still accepted (it is cloned; here it cannot be)' '
	set_var BUILDPACK_URL "git://127.0.0.1:1/nothing.git#v1" &&
	test_must_fail push_new &&
	grep "^remote: -----> Fetching buildpack git://127.0.0.1:1/nothing.git#v1" push.out &&
	grep "^remote: -----> Build failed: BUILDPACK_URL git://127.0.0.1:1/nothing.git#v1: git clone failed" push.out
'

test_expect_success 'cleanup' '
	rm -rf "$SECRET" &&
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
