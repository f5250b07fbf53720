#!/bin/bash
test_description='the stack image deis/stack:12 and app images over it: two layers, the stack mounted (never uploaded), a config docker can run, nothing uploaded again'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
APP=st-hello
USER_=deis-sterry

tool() { deis_registry_tool "$@"; }
push() { deis_git_push $USER_ $APP src "$@"; }

# The digests of a manifest's layers, one a line, bottom first.
layers_of() {	# MANIFEST-FILE
	grep -o '"layers":\[{[^]]*' "$1" | grep -o 'sha256:[0-9a-f]*'
}

# The config's JSON member NAME, compact, as python sees it.
config_member() {	# CONFIG-FILE NAME
	python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["config"].get(sys.argv[2]), separators=(",", ":")))' "$1" "$2"
}

# The diff_id number N of a config.
diff_id_of() {	# CONFIG-FILE N
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["rootfs"]["diff_ids"][int(sys.argv[2])])' "$1" "$2"
}

# The numbers of the builder's "Pushed" line in push.out.
pushed_line() {
	sed -n "s/^remote: -----> Pushed $APP:build-[0-9]*: \(.*[^[:space:]]\)[[:space:]]*$/\1/p" push.out
}

test_expect_success 'deis/stack:12 is in the registry: one layer, the stack build, its config' '
	tool manifest deis/stack:12 >stack.m &&
	cat stack.m &&
	test $(layers_of stack.m | wc -l) = 1 &&
	mkdir stack &&
	tool pull deis/stack:12 stack >stack.out &&
	cat stack/config.json &&
	name=$(python3 -c "import json; print(json.load(open(\"stack/config.json\"))[\"config\"][\"Labels\"][\"io.deis.stack.packages\"])") &&
	cmp stack/layer-0 /var/cache/deis/stack/$name.tar.gz &&
	test "$(config_member stack/config.json Entrypoint)" = "[\"/usr/bin/tini\",\"-g\",\"--\"]" &&
	test "$(config_member stack/config.json User)" = "\"10000:10000\"" &&
	test "$(config_member stack/config.json WorkingDir)" = "\"/app\"" &&
	grep -q "\"diff_ids\":\[\"$(cat /var/cache/deis/stack/$name.diff_id)\"\]" stack/config.json &&
	tar -tzf stack/layer-0 >stack.list &&
	grep -x "./usr/bin/python3" stack.list &&
	grep -x "./usr/bin/tini" stack.list &&
	grep -x "./app/" stack.list &&
	! grep "^./dev/." stack.list
'

test_expect_success 'packaging/stack/push again sends nothing: the stack is unchanged' '
	name=$(python3 -c "import json; print(json.load(open(\"stack/config.json\"))[\"config\"][\"Labels\"][\"io.deis.stack.packages\"])") &&
	flavour=full &&
	{ cmp -s /var/cache/deis/stack/$name.packages "$DEIS_SRC/packaging/stack/packages" || flavour=test; } &&
	DEIS_HOME=$DEIS_HOME "$DEIS_SRC/packaging/stack/push" $flavour >repush.out 2>&1 &&
	cat repush.out &&
	grep "unchanged (deis/stack@sha256:" repush.out &&
	! grep uploaded repush.out &&
	tool manifest deis/stack:12 >stack2.m &&
	test_cmp stack.m stack2.m
'

test_expect_success 'setup: a user, an app, the hello app in git' '
	deis_hello_app $USER_ $APP src &&
	deis_git_commit src first &&
	git -C src rev-parse HEAD >first
'

test_expect_success 'a push makes a two-layer image whose first layer is the stack layer' '
	push main &&
	grep "^remote: -----> Launching v2" push.out &&
	tool manifest $APP:v2 >app.m &&
	cat app.m &&
	test $(layers_of app.m | wc -l) = 2 &&
	test "$(layers_of app.m | head -n1)" = "$(layers_of stack.m)"
'

test_expect_success 'the stack layer was mounted from deis/stack, not uploaded' '
	pushed_line >pushed &&
	cat pushed &&
	grep -E "^2 blob\(s\) sent \([0-9.]+K\), 1 stack layer\(s\) mounted, 0 blob\(s\) already there \([0-9]+ ms\)$" pushed &&
	hex=$(layers_of stack.m | cut -d: -f2) &&
	grep -E "\"POST /v2/$APP/blobs/uploads/\?mount=sha256(%3A|:)$hex&from=deis/stack HTTP/1.1\" 201" \
		"$DEIS_LOGDIR/registry.log" &&
	! grep -E "/v2/$APP/blobs/uploads/[^ ]*digest=sha256(%3A|:)$hex" "$DEIS_LOGDIR/registry.log"
'

test_expect_success 'the config: the stack config with Cmd, User, ExposedPorts, PORT, both diff_ids' '
	digest=$(sed -n "s/^image: $APP@//p" "$A/$APP/builds/1/info") &&
	mkdir img &&
	tool pull "$APP@$digest" img >pull.out &&
	cat img/config.json &&
	web=$(sed -n "s/^web: //p" src/Procfile) &&
	test "$(config_member img/config.json Cmd)" = "$(python3 -c "import json, sys; print(json.dumps([\"/bin/bash\", \"-c\", sys.argv[1]], separators=(\",\", \":\")))" "$web")" &&
	test "$(config_member img/config.json Entrypoint)" = "[\"/usr/bin/tini\",\"-g\",\"--\"]" &&
	test "$(config_member img/config.json User)" = "\"10000:10000\"" &&
	test "$(config_member img/config.json WorkingDir)" = "\"/app\"" &&
	test "$(config_member img/config.json ExposedPorts)" = "{\"5000/tcp\":{}}" &&
	config_member img/config.json Env | grep -q "\"PORT=5000\"" &&
	config_member img/config.json Env | grep -q "\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"" &&
	grep -q "\"io.deis.stack\":\"deis/stack:12@$(cat stack.out | sed -n "s/^digest //p")\"" img/config.json &&
	test "$(diff_id_of img/config.json 0)" = "$(diff_id_of stack/config.json 0)" &&
	test "$(diff_id_of img/config.json 1)" = "$(tool diffid img/layer-1)" &&
	cmp img/layer-0 stack/layer-0 &&
	tar -tzf img/layer-1 >slug.list &&
	grep -x "app/Procfile" slug.list &&
	! grep -v "^app/" slug.list
'

test_expect_success 'the app runs from the slug layer: its /app is the tree' '
	deis_run_in $USER_ $APP "ls /app" >ls.out &&
	cat ls.out &&
	grep -x Procfile ls.out &&
	grep -x app.py ls.out &&
	! grep -x app ls.out
'

test_expect_success 'a rebuild of the same tree sends only its config, no layer' '
	echo change >src/CHANGE &&
	deis_git_commit src second &&
	push main &&
	grep "^remote: -----> Launching v3" push.out &&
	push -f "$(cat first):refs/heads/main" &&
	grep "^remote: -----> Launching v4" push.out &&
	pushed_line >pushed &&
	cat pushed &&
	grep -E "^1 blob\(s\) sent \([0-9.]+K\), 0 stack layer\(s\) mounted, 2 blob\(s\) already there \([0-9]+ ms\)$" pushed &&
	tool manifest $APP:v4 >v4.m &&
	test "$(layers_of v4.m)" = "$(layers_of app.m)"
'

test_expect_success 'cleanup' '
	deis_app_destroy $APP &&
	deis_registry_delete $APP:v2 $APP:v3 $APP:v4
'

test_done
