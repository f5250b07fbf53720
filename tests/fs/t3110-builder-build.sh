#!/bin/bash
test_description='deis-builder: the build stage (Procfile-only buildpack): build row, slug, image in the registry, release, logs, failures, force-push'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
APP=bb-hello
USER_=deis-bcarol

export GIT_AUTHOR_NAME=Carol GIT_AUTHOR_EMAIL=carol@example.com
export GIT_COMMITTER_NAME=Carol GIT_COMMITTER_EMAIL=carol@example.com

# git push of src to the app as its user; the output in push.out.
push() { deis_git_push $USER_ $APP src "$@"; }

tool() { deis_registry_tool "$@"; }

# A TCP server that accepts and never answers (a hung registry); its port
# in hang.port, its pid in hang.pid.
hang_server() {
	python3 -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
time.sleep(120)
' >hang.port &
	echo $! >hang.pid
}

test_expect_success 'setup: a user with a key, an app, a Procfile app in git' '
	deis_git_user $USER_ &&
	deis_as $USER_ mkdir "$A/$APP" &&
	git init -q -b main src &&
	printf "web: ./server --port \$PORT\nworker: bin/worker\n" >src/Procfile &&
	printf "#!/bin/sh\nexec python3 -m http.server \"\$2\"\n" >src/server &&
	chmod 755 src/server &&
	mkdir -p src/bin src/a/very/long/directory/name/that/goes/on/and/on/past/one/hundred/bytes/of/tar/header &&
	printf "#!/bin/sh\necho hi\n" >src/bin/worker &&
	chmod 755 src/bin/worker &&
	echo deep >src/a/very/long/directory/name/that/goes/on/and/on/past/one/hundred/bytes/of/tar/header/file.txt &&
	ln -s /etc/shadow src/shadow-link &&
	echo hello >src/README &&
	git -C src add . &&
	git -C src commit -q -m "first" &&
	git -C src rev-parse HEAD >first &&
	cut -c1-7 first >first7
'

test_expect_success 'a push builds and releases v2; the pusher sees the build' '
	push main &&
	sha7=$(cat first7) &&
	grep "^remote: -----> Building $APP from main ($sha7), pushed by $USER_" push.out &&
	grep "^remote: -----> Procfile declares types -> web, worker" push.out &&
	grep "^remote: -----> Procfile-only app detected" push.out &&
	grep -E "^remote: -----> Compressing\.\.\. [0-9.]+[KM]" push.out &&
	grep "^remote: -----> Launching v2" push.out &&
	grep "^remote: -----> http://$APP\." push.out
'

test_expect_success 'builds/1 succeeded with the commit and the image' '
	cat "$A/$APP/builds/1/info" >info &&
	cat info &&
	grep -x "status: succeeded" info &&
	grep -x "commit: $(cat first)" info &&
	grep -x "by: $USER_" info &&
	grep -Ex "image: $APP@sha256:[0-9a-f]{64}" info
'

test_expect_success 'releases/v2 says who deployed which build; procfile and formation' '
	cat "$A/$APP/releases/v2/info" >rel &&
	cat rel &&
	grep "$USER_ deployed $(cat first7)" rel &&
	grep -x "build: 1 ($(cat first7))" rel &&
	grep -x "web: ./server --port \$PORT" "$A/$APP/procfile" &&
	grep -x "worker: bin/worker" "$A/$APP/procfile" &&
	cat "$A/$APP/formation" &&
	grep -qw "web=1" "$A/$APP/formation"
'

test_expect_success 'the registry has APP:build-1 and APP:v2, the same manifest' '
	tool manifest $APP:build-1 >m1 &&
	tool manifest $APP:v2 >m2 &&
	test_cmp m1 m2 &&
	digest=$(sed -n "s/^image: $APP@//p" "$A/$APP/builds/1/info") &&
	mkdir img &&
	tool pull "$APP@$digest" img >pull.out &&
	grep "^digest $digest" pull.out
'

test_expect_success 'the slug: the tree under app/ without .git, modes, symlinks kept, owner app, long names' '
	test_path_is_file img/layer-0 &&
	tar -tvzf img/layer-1 >list &&
	cat list &&
	! grep -E "(^|/)\.git(/|$)" list &&
	grep -E "^drwxr-xr-x app/app .* app/$" list &&
	! tar -tzf img/layer-1 | grep -v "^app/" &&
	grep -E "^-rwxr-xr-x app/app .* app/bin/worker$" list &&
	grep -E "^-rw-r--r-- app/app .* app/Procfile$" list &&
	grep -E "^lrwxrwxrwx app/app .* app/shadow-link -> /etc/shadow$" list &&
	grep -q "of/tar/header/file.txt$" list &&
	tar --numeric-owner -tvzf img/layer-1 | grep -q " 10000/10000 .* app/Procfile$" &&
	mkdir x &&
	tar -C x -xzf img/layer-1 &&
	test "$(cat x/app/a/very/long/directory/name/that/goes/on/and/on/past/one/hundred/bytes/of/tar/header/file.txt)" = deep &&
	test "$(readlink x/app/shadow-link)" = /etc/shadow &&
	grep -q "\"io.deis.stack\":\"deis/stack:12@sha256:" img/config.json &&
	grep -q "\"io.deis.procfile.worker\":\"bin/worker\"" img/config.json
'

test_expect_success 'the build lines are in builds/1/log and in the app logs as [builder]' '
	test_wait_for 10 grep -q "Launching v2" "$A/$APP/builds/1/log" &&
	grep -q "Procfile declares types -> web, worker" "$A/$APP/builds/1/log" &&
	test_wait_for 10 grep -q "$APP\[builder\]: -----> Launching v2" "$A/$APP/logs" &&
	grep -q "$APP\[builder\]: -----> Building $APP from main" "$A/$APP/logs"
'

test_expect_success 'the same commit again: Everything up-to-date, no build' '
	push main &&
	grep "Everything up-to-date" push.out &&
	test_path_is_missing "$A/$APP/builds/2"
'

test_expect_success 'a Procfile without worker: v3, worker leaves the formation' '
	deis_as $USER_ sh -c "echo web=2 worker=1 >$A/$APP/formation" &&
	grep -qw "worker=1" "$A/$APP/formation" &&
	printf "web: ./server --port \$PORT\n" >src/Procfile &&
	git -C src commit -q -am "no worker" &&
	push main &&
	grep "^remote: -----> Launching v3" push.out &&
	grep "build: 2 (" "$A/$APP/releases/v3/info" &&
	cat "$A/$APP/formation" &&
	grep -qw "web=2" "$A/$APP/formation" &&
	! grep -q worker "$A/$APP/formation" &&
	! grep -q worker "$A/$APP/procfile" &&
	tool manifest $APP:v3 >/dev/null
'

test_expect_success 'a broken Procfile: push rejected, build failed, no release' '
	printf "web: ./server\nWeb Server: x\n" >src/Procfile &&
	git -C src commit -q -am "broken" &&
	test_must_fail push main &&
	grep "^remote: -----> Build failed: Procfile line 2" push.out &&
	grep "pre-receive hook declined" push.out &&
	grep -x "status: failed" "$A/$APP/builds/3/info" &&
	test_path_is_missing "$A/$APP/releases/v4" &&
	test_wait_for 10 grep -q "Build failed: Procfile line 2" "$A/$APP/builds/3/log"
'

test_expect_success 'a slug over builder_slug_limit fails the build with a clear message' '
	test_when_finished deis_conf_restore &&
	deis_conf_add "builder_slug_limit = 1" &&
	printf "web: ./server\n" >src/Procfile &&
	head -c 3000000 /dev/urandom >src/big &&
	git -C src add big Procfile &&
	git -C src commit -q -m "big" &&
	test_must_fail push main &&
	grep "^remote: -----> Build failed: the slug is larger than the limit of 1 MB (builder_slug_limit)" push.out &&
	grep -x "status: failed" "$A/$APP/builds/4/info" &&
	test_path_is_missing "$A/$APP/releases/v4" &&
	git -C src reset -q --hard HEAD~2
'

# The slug's layer digest of a manifest (the last layer, over the
# stack's): the same tree makes the same slug bytes.
layer_of() {	# MANIFEST-FILE
	grep -o '"layers":\[{[^]]*' "$1" | grep -o 'sha256:[0-9a-f]*' | tail -n1
}

test_expect_success 'a force-push of the first commit deploys it as v4' '
	push -f "$(cat first):refs/heads/main" &&
	grep "^remote: -----> Launching v4" push.out &&
	grep "$USER_ deployed $(cat first7)" "$A/$APP/releases/v4/info" &&
	grep -x "build: 5 ($(cat first7))" "$A/$APP/releases/v4/info" &&
	grep -x "worker: bin/worker" "$A/$APP/procfile" &&
	tool manifest $APP:v4 >m4 &&
	tool manifest $APP:build-5 >m5 &&
	test_cmp m4 m5 &&
	test "$(layer_of m4)" = "$(layer_of m1)" &&
	! test_cmp m1 m4 >/dev/null
'

test_expect_success 'a registry that is down fails the build, no release' '
	test_when_finished deis_conf_restore &&
	deis_conf_add "registry_url = http://127.0.0.1:1" &&
	echo change >>src/README &&
	git -C src commit -q -am "registry down" &&
	test_must_fail push main &&
	grep "^remote: -----> Build failed: pushing the image" push.out &&
	grep -x "status: failed" "$A/$APP/builds/6/info" &&
	test_path_is_missing "$A/$APP/releases/v5"
'

test_expect_success 'a build over builder_build_timeout is stopped and fails' '
	test_when_finished "deis_conf_restore; kill \$(cat hang.pid)" &&
	hang_server &&
	test_wait_for 5 test -s hang.port &&
	deis_conf_add "builder_build_timeout = 1" "registry_url = http://127.0.0.1:$(cat hang.port)" &&
	echo again >>src/README &&
	git -C src commit -q -am "hung registry" &&
	t0=$(date +%s) &&
	test_must_fail push main &&
	test $(($(date +%s) - t0)) -lt 10 &&
	grep "^remote: -----> Build failed: the build took longer than 1 s (builder_build_timeout) and was stopped" push.out &&
	grep -x "status: failed" "$A/$APP/builds/7/info" &&
	test_path_is_missing "$A/$APP/releases/v5"
'

test_expect_success 'cleanup: the app and its containers, the key' '
	deis_app_destroy $APP &&
	deis_keys_remove $USER_
'

test_done
