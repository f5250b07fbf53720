#!/bin/bash
test_description='apps/<app>/image: deploy an image already in the registry, without a build'
. "$(dirname "$0")/../lib.sh"

TOOL=$DEIS_BUILD/tests/unit/registry_tool
URL=$(sed -n 's/^registry_url *= *//p' "$DEIS_CONF" | tr -d '"')
APP="$DEIS_MOUNT/apps/imgapp"

reg() {
	"$TOOL" --config="$DEIS_CONF" --url="$URL" "$@"
}

test_expect_success 'setup: an app, and an image pushed to the registry' '
	mkdir "$APP" &&
	mkdir slug && echo hi >slug/index.html &&
	tar -C slug -czf slug.tgz . &&
	reg config slug.tgz "web=python3 -m http.server \$PORT" "worker=sleep 1000" >config.json &&
	reg push slug.tgz config.json imgapp:prebuilt >push.out &&
	digest=$(sed -n "s/^digest //p" push.out) &&
	test -n "$digest" &&
	echo "$digest" >digest
'

test_expect_success 'writing a reference deploys it: a build, a release, its process types' '
	echo imgapp:prebuilt >"$APP/image" &&
	digest=$(cat digest) &&
	echo "imgapp@$digest" >expect &&
	test_cmp expect "$APP/image" &&
	grep -x "status: succeeded" "$APP/builds/1/info" &&
	grep -x "summary: root deployed $(echo "$digest" | cut -c8-14)" "$APP/releases/v2/info" &&
	grep -x "build: 1 (image imgapp@$digest)" "$APP/releases/v2/info" &&
	printf "web: python3 -m http.server \$PORT\nworker: sleep 1000\n" >expect &&
	test_cmp expect "$APP/procfile" &&
	echo web=1 >expect &&
	test_cmp expect "$APP/formation"
'

test_expect_success 'by digest too' '
	echo "imgapp@$(cat digest)" >"$APP/image" &&
	test -d "$APP/releases/v3"
'

test_expect_success 'an image that is not in the registry is refused and changes nothing' '
	echo imgapp:nosuchtag >ref &&
	test_must_fail cp ref "$APP/image" 2>err &&
	grep "Invalid argument" err &&
	test_path_is_missing "$APP/releases/v4" &&
	deis_log_has "is not in the registry"
'

test_expect_success 'a malformed reference fails at write' '
	test_must_fail bash -c "echo \"../x:1\" >\"$APP/image\"" 2>err &&
	grep "Invalid argument" err &&
	test_must_fail bash -c "echo \"registry.example.com/x:1\" >\"$APP/image\"" &&
	test_path_is_missing "$APP/releases/v4"
'

test_expect_success 'cleanup' '
	deis_app_destroy imgapp &&
	deis_registry_delete imgapp:prebuilt
'

test_done
