#!/bin/bash
test_description='registry: only the platform holds credentials; anonymous and wrong-credential reads, writes and deletes get 401 and change nothing; the builder, the scheduler and deisfs still push and pull'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
APP=sec-reg
USER_=deis-sregal
R=$DEIS_REGISTRY_URL
TOOL=$DEIS_BUILD/tests/unit/registry_tool

# curl as an anonymous client: prints the HTTP status only.
anon() {	# METHOD PATH [CURL-ARGS...]
	local m=$1 p=$2
	shift 2
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$m" "$@" "$R$p"
}

# curl with the platform's own credentials (from deis.conf, root-only),
# given to curl on stdin so that they never show in a command line.
platform_curl() {	# CURL-ARGS...
	local u pw
	u=$(conf_get "$DEIS_CONF" registry_user 2>/dev/null) || u=''
	pw=$(conf_get "$DEIS_CONF" registry_password 2>/dev/null) || pw=''
	if [ -n "$pw" ]; then
		printf 'user = "%s:%s"\n' "$u" "$pw" | curl -K - -s --max-time 10 "$@"
	else
		curl -s --max-time 10 "$@"
	fi
}

# The digest the registry has for APP:TAG (platform credentials).
tag_digest() {	# TAG
	platform_curl -o /dev/null -D - -H "Accept: application/vnd.oci.image.manifest.v1+json" \
		"$R/v2/$APP/manifests/$1" | tr -d '\r' |
		sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p'
}

app_up_on() {	# VERSION
	[ "$(cat "$A/$APP/containers/web.1/state" 2>/dev/null)" = up ] &&
	[ "$(cat "$A/$APP/containers/web.1/release" 2>/dev/null)" = "$1" ]
}

test_expect_success 'setup: an app pushed through the builder runs (the builder pushed, the scheduler pulled)' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	deis_git_push $USER_ $APP src &&
	test_wait_for 30 app_up_on v2 &&
	sed -n "s/^$APP@//p" "$A/$APP/image" >digest &&
	grep -Eq "^sha256:[0-9a-f]{64}$" digest &&
	tag_digest v2 >tagged &&
	test_cmp digest tagged &&
	platform_curl -o manifest.json -H "Accept: application/vnd.oci.image.manifest.v1+json" \
		"$R/v2/$APP/manifests/v2" &&
	sed -n "s/.*\"layers\":\[{[^}]*\"digest\":\"\(sha256:[0-9a-f]*\)\".*/\1/p" manifest.json >layer &&
	grep -Eq "^sha256:[0-9a-f]{64}$" layer
'

test_expect_success 'anonymous reads get 401: /v2/, the catalog, tags, manifests, blobs' '
	test "$(anon GET /v2/)" = 401 &&
	test "$(anon GET /v2/_catalog)" = 401 &&
	test "$(anon GET /v2/$APP/tags/list)" = 401 &&
	test "$(anon GET /v2/$APP/manifests/v2)" = 401 &&
	test "$(anon HEAD /v2/$APP/manifests/$(cat digest) -I)" = 401 &&
	test "$(anon GET /v2/$APP/blobs/$(cat layer))" = 401 &&
	test "$(anon HEAD /v2/$APP/blobs/$(cat layer) -I)" = 401
'

test_expect_success 'an anonymous overwrite of the tag, an upload and a delete get 401 and change nothing' '
	echo "{\"schemaVersion\":2,\"config\":{},\"layers\":[]}" >evil.json &&
	test "$(anon PUT /v2/$APP/manifests/v2 -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @evil.json)" = 401 &&
	test "$(anon POST /v2/$APP/blobs/uploads/)" = 401 &&
	test "$(anon POST "/v2/evil/blobs/uploads/?mount=$(cat layer)&from=$APP")" = 401 &&
	test "$(anon DELETE /v2/$APP/manifests/$(cat digest))" = 401 &&
	test "$(anon DELETE /v2/$APP/blobs/$(cat layer))" = 401 &&
	tag_digest v2 >after &&
	test_cmp digest after &&
	tag_digest "$(cat digest)" >after &&
	test_cmp digest after &&
	test "$(platform_curl -o /dev/null -w "%{http_code}" -I "$R/v2/$APP/blobs/$(cat layer)")" = 200 &&
	test "$(platform_curl -o /dev/null -w "%{http_code}" "$R/v2/evil/tags/list")" = 404
'

test_expect_success 'a wrong password, an unknown user and a malformed header get 401 and change nothing' '
	user=$(conf_get "$DEIS_CONF" registry_user) &&
	for cred in "$user:wrong" "$user:" "admin:admin" "docker:docker"; do
		test "$(anon GET /v2/ -u "$cred")" = 401 &&
		test "$(anon GET /v2/$APP/manifests/v2 -u "$cred")" = 401 &&
		test "$(anon PUT /v2/$APP/manifests/v2 -u "$cred" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @evil.json)" = 401 &&
		test "$(anon DELETE /v2/$APP/manifests/$(cat digest) -u "$cred")" = 401 || return 1
	done &&
	test "$(anon GET /v2/ -H "Authorization: Basic !!!")" = 401 &&
	test "$(anon GET /v2/ -H "Authorization: Bearer x")" = 401 &&
	tag_digest v2 >after &&
	test_cmp digest after
'

test_expect_success 'a local user cannot read the credentials, and gets 401 too' '
	test "$(stat -c "%a %U" "$DEIS_CONF")" = "600 root" &&
	test "$(stat -c "%a %U" "$DEIS_HOME/secrets")" = "600 root" &&
	test "$(stat -c %a "$DEIS_REGISTRY_DIR/htpasswd" | cut -c3)" = 0 &&
	! grep -q "$(conf_get "$DEIS_CONF" registry_password)" "$DEIS_REGISTRY_DIR/htpasswd" &&
	test_must_fail deis_as $USER_ cat "$DEIS_REGISTRY_DIR/htpasswd" &&
	test_must_fail deis_as $USER_ cat "$DEIS_CONF" &&
	test "$(deis_as $USER_ curl -s -o /dev/null -w "%{http_code}" "$R/v2/$APP/manifests/v2")" = 401
'

test_expect_success 'the test tool without credentials is refused (EACCES), with them it reads' '
	test_expect_code 13 "$TOOL" --url="$R" manifest "$APP:v2" 2>err &&
	grep "HTTP 401" err &&
	"$TOOL" --config="$DEIS_CONF" manifest "$APP:v2" >m.json &&
	grep -q "$(cat layer)" m.json
'

test_expect_success 'the platform still pushes (builder) and pulls (scheduler) a new build' '
	echo "# again" >>src/app.py &&
	deis_git_commit src second &&
	deis_git_push $USER_ $APP src &&
	test_wait_for 30 app_up_on v3 &&
	sed -n "s/^$APP@//p" "$A/$APP/image" >digest3 &&
	! test_cmp digest digest3 &&
	tag_digest v3 >tagged3 &&
	test_cmp digest3 tagged3
'

test_expect_success 'deisfs reads the registry with the credentials: image deploys a digest of the app' '
	echo "$APP@$(cat digest)" >"$A/$APP/image" &&
	test_wait_for 30 app_up_on v4 &&
	grep -q "deployed image $APP@$(cat digest)" "$A/$APP/logs"
'

test_expect_success 'the registry log names the platform user on what it served, and the refusals' '
	grep -q "auth.user.name=\"\{0,1\}$(conf_get "$DEIS_CONF" registry_user)" "$DEIS_LOGDIR/registry.log" &&
	grep -q "authentication failure" "$DEIS_LOGDIR/registry.log"
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
