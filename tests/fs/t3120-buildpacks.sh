#!/bin/bash
test_description='deis-builder: buildpacks run in a runc container (static, Makefile, Node.js, BUILDPACK_URL): compile, release, ENV_DIR, cache, failures'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
USER_=deis-bdave
BP=$DEIS_HOME/t3120-buildpacks
GITD_PID=$TRASH_DIRECTORY/git-daemon.pid
APPS="bp-static bp-make bp-make2 bp-custom bp-node"

export GIT_AUTHOR_NAME=Dave GIT_AUTHOR_EMAIL=dave@example.com
export GIT_COMMITTER_NAME=Dave GIT_COMMITTER_EMAIL=dave@example.com

command -v make >/dev/null && test_set_prereq MAKE
command -v npm >/dev/null && command -v node >/dev/null && test_set_prereq NODE

# Pushes the repository APP (a directory) to the app APP; the output is
# in push.out.
push() {	# APP [GIT-PUSH-ARGS...]
	deis_git_push $USER_ "$1" "$@"
}

tool() { deis_registry_tool "$@"; }

# new_app APP: the app, and a git repository of that name.
new_app() {
	deis_as $USER_ mkdir "$A/$1" &&
	git init -q -b main "$1"
}

commit() {	# APP MESSAGE
	git -C "$1" add -A . && git -C "$1" commit -q -m "$2"
}

# The slug of the app's current build (the image's second layer, over
# the stack's; the tree under app/), listed into slug.list.
slug_list() {	# APP
	local digest
	digest=$(sed -n "s/^image: $1@//p" "$A/$1/builds/$(ls "$A/$1/builds" | sort -n | tail -1)/info") &&
	rm -rf img && mkdir img &&
	tool pull "$1@$digest" img >/dev/null &&
	tar -tzf img/layer-1 | sed -n "s|^app/||p" >slug.list &&
	cat slug.list
}

# A buildpack in the git repository $BP/NAME with bin/detect, bin/compile,
# bin/release from the arguments (shell script bodies), served by the
# test's git daemon as $(bp_url NAME): BUILDPACK_URL takes network git URLs
# only.
make_bp() {	# NAME DETECT COMPILE RELEASE
	mkdir -p "$BP/$1/bin" &&
	printf '#!/bin/sh\n%s\n' "$2" >"$BP/$1/bin/detect" &&
	printf '#!/bin/sh\n%s\n' "$3" >"$BP/$1/bin/compile" &&
	printf '#!/bin/sh\n%s\n' "$4" >"$BP/$1/bin/release" &&
	chmod 755 "$BP/$1/bin/"* &&
	git -C "$BP/$1" init -q -b main &&
	git -C "$BP/$1" add . &&
	git -C "$BP/$1" -c user.name=t -c user.email=t@t commit -q -m bp
}

bp_url() {	# NAME
	echo "git://127.0.0.1:$(cat "$TRASH_DIRECTORY/git-daemon.port")/$1"
}

# git daemon serving $BP on a free loopback port, for at most 20 minutes
# (timeout ends it should this script die); stopped by pid at the end.
start_git_daemon() {
	local port
	port=$(free_port) &&
	echo "$port" >"$TRASH_DIRECTORY/git-daemon.port" &&
	mkdir -p "$BP" &&
	{ timeout 1200 git daemon --reuseaddr --listen=127.0.0.1 --port="$port" \
		--base-path="$BP" --export-all --informative-errors "$BP" \
		</dev/null >>"$TRASH_DIRECTORY/git-daemon.log" 2>&1 &
	  echo $! >"$GITD_PID"; } &&
	test_wait_for 10 port_in_use "$port"
}

# A new commit of bp-custom, built by the test buildpack NAME (COMPILE its
# compile step) with the deis.conf LINE in force until the test ends: the
# push fails, its output in push.out.
push_fails_with() {	# LINE NAME COMPILE
	test_when_finished deis_conf_restore &&
	deis_conf_add "$1" &&
	make_bp "$2" "echo $2" "$3" "echo ---" &&
	set_var bp-custom BUILDPACK_URL "$(bp_url "$2")" &&
	echo "$2" >>bp-custom/README &&
	commit bp-custom "$2" &&
	test_must_fail push bp-custom main
}

set_var() {	# APP KEY VALUE
	deis_as $USER_ sh -c "printf %s '$3' >'$A/$1/config/$2'"
}

test_expect_success 'setup: a user with a key' '
	deis_git_user $USER_
'

test_expect_success 'a static site (index.html, no Procfile) deploys with a web process' '
	new_app bp-static &&
	echo "<h1>hi</h1>" >bp-static/index.html &&
	mkdir bp-static/css && echo "h1{}" >bp-static/css/site.css &&
	commit bp-static first &&
	push bp-static main &&
	grep "^remote: -----> static app detected" push.out &&
	grep "^remote: -----> Static site: nothing to compile" push.out &&
	grep "^remote: -----> Default process types for static -> web" push.out &&
	grep "^remote: -----> Launching v2" push.out &&
	grep -x "web: python3 -m http.server \$PORT --directory /app/." "$A/bp-static/procfile" &&
	grep -qw "web=1" "$A/bp-static/formation" &&
	slug_list bp-static &&
	grep -x "index.html" slug.list &&
	grep -x "css/site.css" slug.list &&
	grep -q "\"io.deis.build.buildpack\":\"static\"" img/config.json
'

test_expect_success 'static with public/ and a Procfile: the Procfile wins' '
	mkdir bp-static/public && echo x >bp-static/public/index.html &&
	printf "web: ./serve\n" >bp-static/Procfile &&
	printf "#!/bin/sh\nexec python3 -m http.server \"\$PORT\"\n" >bp-static/serve &&
	chmod 755 bp-static/serve &&
	commit bp-static procfile &&
	push bp-static main &&
	grep "^remote: -----> Procfile declares types -> web" push.out &&
	grep "^remote: -----> static app detected" push.out &&
	! grep "Default process types" push.out &&
	grep -x "web: ./serve" "$A/bp-static/procfile"
'

test_expect_success MAKE 'a Makefile app: make runs in the container, its output is in the slug' '
	new_app bp-make &&
	printf "all:\n\techo built by \$\$(id -u) >built.txt\n" >bp-make/Makefile &&
	printf "web: cat built.txt; exec python3 -m http.server \$PORT\n" >bp-make/Procfile &&
	commit bp-make first &&
	push bp-make main &&
	grep "^remote: -----> Makefile app detected" push.out &&
	grep "^remote: -----> Running make" push.out &&
	grep "^remote: echo built by" push.out &&
	grep "^remote: -----> Launching v2" push.out &&
	slug_list bp-make &&
	grep -x "built.txt" slug.list &&
	mkdir x && tar -C x -xzf img/layer-1 app/built.txt &&
	test "$(cat x/app/built.txt)" = "built by 10000"
'

test_expect_success MAKE 'a Makefile app without a Procfile fails: no process types' '
	new_app bp-make2 &&
	printf "all:\n\ttrue\n" >bp-make2/Makefile &&
	commit bp-make2 first &&
	test_must_fail push bp-make2 main &&
	grep "^remote: -----> Build failed: no Procfile in the root of the repository.*the Makefile buildpack declares no default process types" push.out &&
	test_path_is_missing "$A/bp-make2/releases/v2"
'

test_expect_success 'setup: test buildpacks under DEIS_HOME, served by git daemon' '
	start_git_daemon &&
	make_bp envbp "echo EnvTest" \
		"echo \"uid=\$(id -u) gid=\$(id -g)\"; for f in \$3/*; do echo \"env \$(basename \$f)=\$(cat \$f)\"; done; n=\$(cat \$2/counter 2>/dev/null || echo 0); n=\$((n+1)); echo \$n >\$2/counter; echo \"cache counter \$n\"; echo built >\$1/from-compile; touch /buildpack/x 2>/dev/null && echo bp-writable || echo bp-readonly" \
		"printf -- \"---\\nconfig_vars:\\n  FROM_RELEASE: yes\\ndefault_process_types:\\n  web: ./run-web\\n  clock: ./clock\\n\"" &&
	make_bp failbp "echo Failing" "echo compiling...; echo broken >&2; exit 3" "echo ---" &&
	make_bp nodetect "exit 1" "true" "echo ---"
'

test_expect_success 'BUILDPACK_URL: compile runs as uid 10000 and sees config vars as files' '
	new_app bp-custom &&
	set_var bp-custom BUILDPACK_URL "$(bp_url envbp)" &&
	set_var bp-custom GREETING "hello world" &&
	echo hi >bp-custom/README &&
	printf "#!/bin/sh\nexec python3 -m http.server \"\$PORT\"\n" >bp-custom/run-web &&
	chmod 755 bp-custom/run-web &&
	commit bp-custom first &&
	push bp-custom main &&
	grep "^remote: -----> EnvTest app detected" push.out &&
	grep "^remote: uid=10000 gid=10000" push.out &&
	grep "^remote: env GREETING=hello world" push.out &&
	grep "^remote: env BUILDPACK_URL=$(bp_url envbp)" push.out &&
	grep "^remote: bp-readonly" push.out &&
	grep "^remote: cache counter 1" push.out &&
	grep "^remote: -----> Default process types for EnvTest -> web, clock" push.out &&
	grep "^remote: -----> Launching v4" push.out &&
	grep -x "web: ./run-web" "$A/bp-custom/procfile" &&
	grep -x "clock: ./clock" "$A/bp-custom/procfile" &&
	slug_list bp-custom &&
	grep -x "from-compile" slug.list &&
	grep -q "FROM_RELEASE=yes" img/config.json &&
	test_wait_for 10 grep -q "uid=10000" "$A/bp-custom/builds/1/log"
'

test_expect_success 'the cache dir persists between builds' '
	echo again >>bp-custom/README &&
	commit bp-custom second &&
	push bp-custom main &&
	grep "^remote: cache counter 2" push.out &&
	test "$(cat "$DEIS_HOME/cache/bp-custom/counter")" = 2 &&
	test "$(stat -c %u "$DEIS_HOME/cache/bp-custom")" = 10000
'

test_expect_success 'a compile that fails rejects the push, shows its output, no release' '
	ls "$A/bp-custom/releases" >before &&
	set_var bp-custom BUILDPACK_URL "$(bp_url failbp)" &&
	ls "$A/bp-custom/releases" | tail -1 >last &&
	echo third >>bp-custom/README &&
	commit bp-custom third &&
	test_must_fail push bp-custom main &&
	grep "^remote: compiling\.\.\." push.out &&
	grep "^remote: broken" push.out &&
	grep "^remote: -----> Build failed: compile exited with status 3" push.out &&
	grep "pre-receive hook declined" push.out &&
	grep -x "status: failed" "$A/bp-custom/builds/3/info" &&
	ls "$A/bp-custom/releases" | tail -1 >after &&
	test_cmp last after
'

test_expect_success 'a BUILDPACK_URL whose detect says no, that cannot be cloned, or that is no URL, fails' '
	set_var bp-custom BUILDPACK_URL "$(bp_url nodetect)" &&
	test_must_fail push bp-custom main &&
	grep "^remote: -----> Build failed: the buildpack of BUILDPACK_URL does not build this app: detect exited with status 1" push.out &&
	set_var bp-custom BUILDPACK_URL "$(bp_url missing)" &&
	test_must_fail push bp-custom main &&
	grep "^remote: -----> Build failed: BUILDPACK_URL $(bp_url missing): git clone failed" push.out &&
	set_var bp-custom BUILDPACK_URL "not-a-path-or-url" &&
	test_must_fail push bp-custom main &&
	grep "^remote: -----> Build failed: BUILDPACK_URL not-a-path-or-url: only https://, http:// or git:// URLs or a built-in buildpack" push.out &&
	set_var bp-custom BUILDPACK_URL "$BP/envbp" &&
	test_must_fail push bp-custom main &&
	grep "^remote: -----> Build failed: BUILDPACK_URL $BP/envbp: only https://, http:// or git:// URLs" push.out
'

test_expect_success 'a BUILDPACK_URL that is a git URL is cloned for the build (with #ref)' '
	git -C "$BP/envbp" tag v1 &&
	set_var bp-custom BUILDPACK_URL "$(bp_url envbp)#v1" &&
	push bp-custom main &&
	grep "^remote: -----> Fetching buildpack $(bp_url envbp)#v1" push.out &&
	grep "^remote: -----> EnvTest app detected" push.out &&
	grep "^remote: uid=10000 gid=10000" push.out &&
	grep "^remote: -----> Launching v" push.out
'

test_expect_success 'a compile over builder_build_timeout is stopped; its container is gone' '
	t0=$(date +%s) &&
	push_fails_with "builder_build_timeout = 3" slowbp "echo sleeping; sleep 60" &&
	test $(($(date +%s) - t0)) -lt 20 &&
	grep "^remote: sleeping" push.out &&
	grep "^remote: -----> Build failed: the build took longer than 3 s" push.out &&
	! runc --root "$DEIS_HOME/builder/runc" list -q | grep -x "bp-custom.build-[0-9]*"
'

test_expect_success NODE 'a Node.js app (package.json, no dependencies): npm install, web: npm start' '
	new_app bp-node &&
	cat >bp-node/package.json <<-\EOF &&
	{ "name": "bp-node", "version": "1.0.0", "private": true,
	  "scripts": { "start": "node server.js" }, "dependencies": {} }
	EOF
	echo "require(\"http\").createServer((q, s) => s.end(\"ok\")).listen(process.env.PORT)" >bp-node/server.js &&
	commit bp-node first &&
	push bp-node main &&
	grep "^remote: -----> Node.js app detected" push.out &&
	grep "^remote: -----> Installing dependencies: npm install --omit=dev" push.out &&
	grep "^remote: -----> Default process types for Node.js -> web" push.out &&
	grep -x "web: npm start" "$A/bp-node/procfile" &&
	slug_list bp-node &&
	grep -x "package.json" slug.list &&
	test -d "$DEIS_HOME/cache/bp-node/npm"
'

test_expect_success 'a build over builder_build_memory is killed and rejected' '
	push_fails_with "builder_build_memory = 64" hogbp \
		"echo allocating; python3 -c \"b = bytearray(400 * 1024 * 1024); print(len(b))\"" &&
	grep "^remote: allocating" push.out &&
	grep -E "^remote: -----> Build failed: compile (was killed by signal 9|exited with status 137)" push.out &&
	! grep "^remote: 419430400" push.out
'

test_expect_success 'cleanup: the git daemon, the test buildpacks, the apps and their containers, the key' '
	{ test ! -s "$GITD_PID" || kill "$(cat "$GITD_PID")"; } &&
	rm -rf "$BP" &&
	deis_app_destroy $APPS &&
	deis_keys_remove $USER_
'

test_done
