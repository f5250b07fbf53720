#!/bin/bash
test_description='apps/<app>/image: another app'\''s image is refused at write() for a user without rights to that app, and copied into the app'\''s own repository for one with them'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
TOOL=$DEIS_BUILD/tests/unit/registry_tool
ALICE=deis-simalice	# owns sec-img-a, whose image is the prize
BOB=deis-simbob		# owns sec-img-b; may not use sec-img-a
CAROL=deis-simcarol	# owns sec-img-c; in sec-img-a's perms
R=$DEIS_REGISTRY_URL

reg() {
	"$TOOL" --config="$DEIS_CONF" "$@"
}

# curl with the platform's credentials (given on stdin, never in argv).
platform_curl() {	# CURL-ARGS...
	printf 'user = "%s:%s"\n' "$(conf_get "$DEIS_CONF" registry_user)" \
		"$(conf_get "$DEIS_CONF" registry_password 2>/dev/null)" |
		curl -K - -s --max-time 10 "$@"
}

status_of() {	# CURL-ARGS...: the HTTP status with the platform's credentials
	platform_curl -o /dev/null -w '%{http_code}' "$@"
}

# Writes REF into APP/image as USER with one write(2); fails as it fails.
write_image() {	# USER APP REF
	deis_as "$1" bash -c 'printf "%s\n" "$2" >"$1"' bash "$A/$2/image" "$3"
}

test_expect_success 'setup: three users and apps; sec-img-a has an image only it holds' '
	for u in $ALICE $BOB $CAROL; do
		deis_useradd $u || return 1
	done &&
	deis_as $ALICE mkdir "$A/sec-img-a" &&
	deis_as $BOB mkdir "$A/sec-img-b" &&
	deis_as $CAROL mkdir "$A/sec-img-c" &&
	deis_as $ALICE sh -c "echo $CAROL >$A/sec-img-a/perms" &&
	mkdir slug && echo "secret code of a" >slug/index.html &&
	tar -C slug -czf slug.tgz . &&
	reg config slug.tgz "web=python3 -m http.server \$PORT" >config.json &&
	reg push slug.tgz config.json sec-img-a:prebuilt >push.out &&
	sed -n "s/^digest //p" push.out >digest &&
	grep -Eq "^sha256:[0-9a-f]{64}$" digest &&
	reg digest slug.tgz >layer &&
	write_image $ALICE sec-img-a "sec-img-a@$(cat digest)" &&
	test "$(cat "$A/sec-img-a/image")" = "sec-img-a@$(cat digest)" &&
	ls "$A/sec-img-b/releases" >b.before &&
	ls "$A/sec-img-c/releases" >c.before
'

test_expect_success 'a user without rights to the other app gets EACCES at write(), nothing deployed' '
	deis_log_mark &&
	test_must_fail write_image $BOB sec-img-b "sec-img-a@$(cat digest)" 2>err &&
	cat err &&
	grep "Permission denied" err &&
	test_must_fail write_image $BOB sec-img-b "sec-img-a:prebuilt" 2>err &&
	grep "Permission denied" err &&
	ls "$A/sec-img-b/releases" >b.after &&
	test_cmp b.before b.after &&
	test_must_be_empty "$A/sec-img-b/image" &&
	deis_log_has_since_mark "app .sec-img-a. does not exist, or $BOB may not use it" &&
	test "$(status_of -I "$R/v2/sec-img-b/manifests/$(cat digest)")" = 404
'

test_expect_success 'an unknown app gets the same answer (app names do not leak)' '
	test_must_fail write_image $BOB sec-img-b "sec-img-nosuch@$(cat digest)" 2>err &&
	grep "Permission denied" err &&
	ls "$A/sec-img-b/releases" >b.after &&
	test_cmp b.before b.after
'

test_expect_success 'a user with rights to the other app deploys it: copied into the own repository' '
	write_image $CAROL sec-img-c "sec-img-a@$(cat digest)" &&
	test "$(cat "$A/sec-img-c/image")" = "sec-img-c@$(cat digest)" &&
	grep -x "build: 1 (image sec-img-c@$(cat digest))" "$A/sec-img-c/releases/v2/info" &&
	grep -q "deployed image sec-img-c@$(cat digest)" "$A/sec-img-c/logs" &&
	test "$(status_of -I -H "Accept: application/vnd.oci.image.manifest.v1+json" "$R/v2/sec-img-c/manifests/$(cat digest)")" = 200 &&
	test "$(status_of -I "$R/v2/sec-img-c/blobs/$(cat layer)")" = 200
'

test_expect_success 'the copy does not depend on the other repository: its manifest deleted, the app still deploys' '
	test "$(status_of -X DELETE "$R/v2/sec-img-a/manifests/$(cat digest)")" = 202 &&
	test "$(status_of -I "$R/v2/sec-img-a/manifests/$(cat digest)")" = 404 &&
	write_image $CAROL sec-img-c "sec-img-c@$(cat digest)" &&
	test -d "$A/sec-img-c/releases/v3" &&
	mkdir pulled &&
	reg pull "sec-img-c@$(cat digest)" pulled >/dev/null &&
	cmp slug.tgz pulled/layer-0
'

test_expect_success 'rights are those of the writer now: removed from perms, refused' '
	reg push slug.tgz config.json sec-img-a:again >/dev/null &&
	deis_as $ALICE sh -c ": >$A/sec-img-a/perms" &&
	ls "$A/sec-img-c/releases" >c.before &&
	test_must_fail write_image $CAROL sec-img-c "sec-img-a:again" 2>err &&
	grep "Permission denied" err &&
	ls "$A/sec-img-c/releases" >c.after &&
	test_cmp c.before c.after
'

test_expect_success 'an admin may deploy any app'\''s image; an unknown app is ENOENT for an admin' '
	echo "sec-img-a:again" >"$A/sec-img-b/image" &&
	test "$(cat "$A/sec-img-b/image")" = "sec-img-b@$(cat digest)" &&
	test_must_fail bash -c "echo sec-img-nosuch:v1 >\"$A/sec-img-b/image\"" 2>err &&
	grep "No such file or directory" err
'

test_expect_success 'cleanup' '
	deis_app_destroy sec-img-a sec-img-b sec-img-c &&
	deis_registry_delete sec-img-a:again
'

test_done
