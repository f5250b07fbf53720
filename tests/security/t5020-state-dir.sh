#!/bin/bash
test_description='the platform state under $DEIS_HOME (slugs, build caches, the router'"'"'s access log, logs, repositories) is readable by root alone'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
U=sec-stu
APP=secst
HTTP=$(conf_get "$DEIS_CONF" http_port)
export A U APP HTTP

# Files any user may read: process ids, the router's error pages, the
# builder's public host key.
public() {	# PATH
	case $1 in
	*.pid|*/proxy/errors.conf|*/ssh_host_*_key.pub) return 0 ;;
	esac
	return 1
}

test_expect_success 'setup: an app pushed and served, so its slug, cache and access log exist' '
	deis_hello_app $U $APP src &&
	echo "TOKEN = \"s3cret-in-the-code\"" >>src/app.py &&
	deis_git_commit src first &&
	deis_git_push $U $APP src &&
	test_wait_for 30 eval "curl -fsS --max-time 2 -H \"Host: $APP.localhost\" http://127.0.0.1:$HTTP/secret-path-probe >/dev/null" &&
	test_wait_for 10 grep -q secret-path-probe "$DEIS_HOME/proxy/access.log"
'

test_expect_success 'another local user cannot read the app'"'"'s code in the slug cache' '
	f=$(grep -l s3cret-in-the-code "$DEIS_HOME"/slugs/*/app/app.py | head -1) &&
	test -n "$f" &&
	test_must_fail deis_as $U cat "$f" &&
	test_must_fail deis_as $U ls "$DEIS_HOME/slugs"
'

test_expect_success 'another local user cannot read the router'"'"'s access log' '
	test_must_fail deis_as $U cat "$DEIS_HOME/proxy/access.log" &&
	test_must_fail deis_as $U cat "$DEIS_HOME/log/nginx.log"
'

test_expect_success 'no file of the platform'"'"'s state is readable by another user' '
	find "$DEIS_HOME" -xdev \( -path "$DEIS_MOUNT" -o -path "$DEIS_HOME/test-logs" \
		-o -path "$DEIS_HOME/trash.*" \) -prune -o -type f -print >files &&
	test "$(wc -l <files)" -gt 20 &&
	: >readable &&
	while read -r f; do
		public "$f" && continue
		if deis_as $U test -r "$f"; then echo "$f" >>readable; fi
	done <files &&
	cat readable &&
	test_must_be_empty readable
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	deis_keys_remove $U
'

test_done
