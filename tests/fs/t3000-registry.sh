#!/bin/bash
test_description='registry: the private docker-registry and the OCI client of lib/registry.c (push, pull by tag and digest, re-push, corruption, refusals)'
. "$(dirname "$0")/../lib.sh"

TOOL=$DEIS_BUILD/tests/unit/registry_tool
REGLOG=$DEIS_LOGDIR/registry.log
STORAGE=$DEIS_REGISTRY_DIR/storage
TIMES=$TEST_LOG_DIR/t3000-registry.times
export DEIS_REGISTRY_URL
: >"$TIMES"

tool() {
	"$TOOL" "--config=$DEIS_CONF" "--url=$DEIS_REGISTRY_URL" "$@"
}

# Runs the tool and appends "LABEL: N.NNN s" to the timings.
timed() {	# LABEL TOOL-ARGS...
	local label=$1 t0 t1 st
	shift
	t0=${EPOCHREALTIME/./}
	tool "$@" && st=0 || st=$?
	t1=${EPOCHREALTIME/./}
	printf '%s: %d.%03d s\n' "$label" $(((t1 - t0) / 1000000)) $((((t1 - t0) / 1000) % 1000)) >>"$TIMES"
	return $st
}

# A random slug of about SIZE bytes: a tar.gz of incompressible data.
make_slug() {	# FILE SIZE
	local d
	d=$(mktemp -d slugdir.XXXXXX) &&
	head -c "$2" /dev/urandom >"$d/payload" &&
	printf 'web: ./run\n' >"$d/Procfile" &&
	tar -C "$d" -czf "$1" . &&
	rm -rf "$d"
}

# The value of a "stats" field in the tool's output file.
stat_of() {	# FILE FIELD
	sed -n "s/^stats .*\<$2=\([0-9]*\).*/\1/p" "$1"
}

digest_of() {	# FILE
	sed -n 's/^digest //p' "$1"
}

# The path of a blob's data in the registry's storage.
blob_path() {	# DIGEST
	local hex=${1#sha256:}
	printf '%s/docker/registry/v2/blobs/sha256/%s/%s/data\n' "$STORAGE" "${hex:0:2}" "$hex"
}

# The registry's log since reglog_mark.
reglog_mark() {
	wc -l <"$REGLOG" >reglog.mark
}
reglog_since() {
	tail -n +"$(($(cat reglog.mark) + 1))" "$REGLOG"
}

test_expect_success 'the registry answers GET /v2/ on 127.0.0.1 only, to the platform credentials' '
	registry_answers &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "$DEIS_REGISTRY_URL/v2/")" = 401 &&
	tool ping &&
	port=$(printf "%04X" "$DEIS_REGISTRY_PORT") &&
	awk -v p="$port" '\''NR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == p) print a[1] }'\'' \
		/proc/net/tcp /proc/net/tcp6 >listen.out &&
	echo 0100007F >expect &&
	test_cmp expect listen.out
'

test_expect_success 'deis.conf names the registry; pid file, log and storage are in DEIS_HOME' '
	test "$(conf_get "$DEIS_CONF" registry_url)" = "$DEIS_REGISTRY_URL" &&
	registry_running &&
	test_path_is_file "$REGLOG" &&
	grep -q "GET /v2/" "$REGLOG" &&
	test_path_is_dir "$STORAGE" &&
	pid=$(cat "$DEIS_RUNDIR/registry.pid") &&
	tr "\0" " " <"/proc/$pid/cmdline" | grep -qF "serve $DEIS_REGISTRY_DIR/config.yml" &&
	test "$(stat -c %U "/proc/$pid")" = "$(registry_user)"
'

test_expect_success 'slugs of 1 MB and 20 MB' '
	make_slug slug1.tar.gz 1048576 &&
	make_slug slug20.tar.gz 20971520 &&
	make_slug slugc.tar.gz 65536 &&
	tool config slug1.tar.gz web="./run --port \$PORT" worker=./work \
		env:GREETING="hello world" label:io.deis.build.git-sha=1a2b3c4 >cfg1.json &&
	tool config slug20.tar.gz web=./run >cfg20.json &&
	tool config slugc.tar.gz web=./run >cfgc.json &&
	grep -q "\"io.deis.procfile.worker\":\"./work\"" cfg1.json
'

test_expect_success 'push 1 MB: layer and config are uploaded' '
	timed "push 1 MB" push slug1.tar.gz cfg1.json hello:v1 >push1.out &&
	test "$(stat_of push1.out uploaded)" = 2 &&
	test "$(stat_of push1.out skipped)" = 0 &&
	digest_of push1.out >d1 &&
	grep -qE "^sha256:[0-9a-f]{64}$" d1
'

test_expect_success 'pull 1 MB by tag and by digest gives the same bytes' '
	mkdir bytag bydigest &&
	timed "pull 1 MB (tag)" pull hello:v1 bytag >pull1.out &&
	cmp slug1.tar.gz bytag/layer-0 &&
	test "$(digest_of pull1.out)" = "$(cat d1)" &&
	grep -q "^proc web=./run --port \$PORT$" pull1.out &&
	grep -q "\"GREETING=hello world\"" bytag/config.json &&
	tool pull "hello@$(cat d1)" bydigest >pull1d.out &&
	cmp slug1.tar.gz bydigest/layer-0 &&
	test "$(tool digest bytag/manifest.json)" = "$(cat d1)" &&
	grep -q "application/vnd.oci.image.manifest.v1+json" bytag/manifest.json
'

test_expect_success 'push and pull 20 MB (monolithic upload)' '
	timed "push 20 MB" push slug20.tar.gz cfg20.json big:v1 >push20.out &&
	test "$(stat_of push20.out uploaded)" = 2 &&
	mkdir big &&
	timed "pull 20 MB" pull big:v1 big >pull20.out &&
	cmp slug20.tar.gz big/layer-0 &&
	mkdir big2 &&
	tool pull "big@$(digest_of push20.out)" big2 >/dev/null &&
	cmp slug20.tar.gz big2/layer-0
'

test_expect_success 'a 20 MB push in 4 MB PATCH chunks, pulled back' '
	reglog_mark &&
	make_slug slug20c.tar.gz 20971520 &&
	tool config slug20c.tar.gz web=./run >cfg20c.json &&
	timed "push 20 MB (4 MB chunks)" --chunk=4194304 push slug20c.tar.gz cfg20c.json chunked:v1 >pushc.out &&
	test "$(stat_of pushc.out uploaded)" = 2 &&
	reglog_since | grep -c "\"PATCH /v2/chunked/blobs/uploads/" >patches &&
	test "$(cat patches)" -ge 5 &&
	mkdir chunked &&
	tool pull chunked:v1 chunked >/dev/null &&
	cmp slug20c.tar.gz chunked/layer-0
'

test_expect_success 'a second push of the same slug uploads no blob' '
	reglog_mark &&
	timed "second push 20 MB" push slug20.tar.gz cfg20.json big:v1 >again.out &&
	test "$(stat_of again.out uploaded)" = 0 &&
	test "$(stat_of again.out skipped)" = 2 &&
	test "$(stat_of again.out bytes_up)" = 0 &&
	test "$(digest_of again.out)" = "$(digest_of push20.out)" &&
	reglog_since >since &&
	! grep -q "blobs/uploads" since &&
	timed "second push 1 MB" push slug1.tar.gz cfg1.json hello:v2 >again1.out &&
	test "$(stat_of again1.out uploaded)" = 0
'

test_expect_success 'the same slug under another app is uploaded there (repositories are separate)' '
	tool push slug1.tar.gz cfg1.json other:v1 >other.out &&
	test "$(stat_of other.out uploaded)" -ge 1 &&
	mkdir other &&
	tool pull other:v1 other >/dev/null &&
	cmp slug1.tar.gz other/layer-0
'

test_expect_success 'copy: an image copied into another repository sends no blob and outlives its source' '
	reglog_mark &&
	tool copy "big@$(digest_of push20.out)" bigcopy >copy.out &&
	test "$(digest_of copy.out)" = "$(digest_of push20.out)" &&
	test "$(stat_of copy.out bytes_up)" = 0 &&
	reglog_since >since &&
	grep -q "blobs/uploads/?mount=" since &&
	! grep -q "PATCH\|PUT /v2/bigcopy/blobs" since &&
	tool copy "big@$(digest_of push20.out)" bigcopy >again.out &&
	test "$(digest_of again.out)" = "$(digest_of push20.out)" &&
	printf "user = \"%s:%s\"\n" "$(conf_get "$DEIS_CONF" registry_user)" \
		"$(conf_get "$DEIS_CONF" registry_password)" |
		curl -K - -fsS -X DELETE "$DEIS_REGISTRY_URL/v2/big/manifests/$(digest_of push20.out)" &&
	test_expect_code 2 tool manifest "big@$(digest_of push20.out)" &&
	mkdir bigcopy &&
	tool pull "bigcopy@$(digest_of push20.out)" bigcopy >/dev/null &&
	cmp slug20.tar.gz bigcopy/layer-0
'

test_expect_success 'a corrupted blob in storage is refused at pull and leaves no file' '
	tool push slugc.tar.gz cfgc.json corrupt:v1 >pushcor.out &&
	layer=$(tool digest slugc.tar.gz) &&
	f=$(blob_path "$layer") &&
	test_path_is_file "$f" &&
	printf X | dd of="$f" bs=1 seek=5000 conv=notrunc 2>/dev/null &&
	mkdir cor &&
	test_expect_code 5 tool pull corrupt:v1 cor >cor.out 2>cor.err &&
	grep -q "the bytes received have digest" cor.err &&
	test_path_is_missing cor/layer-0 &&
	ls -A cor >left &&
	test_must_be_empty left &&
	echo previous >cor/layer-0 &&
	test_expect_code 5 tool pull corrupt:v1 cor 2>/dev/null &&
	echo previous >expect &&
	test_cmp expect cor/layer-0 &&
	test "$(ls -A cor)" = layer-0
'

test_expect_success 'an unknown tag or app is ENOENT' '
	mkdir none &&
	test_expect_code 2 tool pull hello:nope none 2>err &&
	grep -q "HTTP 404: MANIFEST_UNKNOWN" err &&
	test_expect_code 2 tool pull nosuchapp:v1 none 2>/dev/null &&
	test_expect_code 2 tool pull "hello@sha256:0000000000000000000000000000000000000000000000000000000000000000" none 2>/dev/null &&
	test "$(tool exists hello "$(tool digest slug20.tar.gz)")" = no &&
	test "$(tool exists big "$(tool digest slug20.tar.gz)")" = yes &&
	test -z "$(ls -A none)"
'

test_expect_success 'bad names, tags and digests are refused with EINVAL before any request' '
	reglog_mark &&
	mkdir bad &&
	for ref in "../x:v1" "X:v1" "a;b:v1" "X" "a;b" "../x" "hello:../v1" \
		"hello:v1;rm" "hello@sha256:abc" "127.0.0.1:5000/hello:v1" "hello:v1@$(cat d1)"
	do
		test_expect_code 22 tool pull "$ref" bad >out 2>err &&
		grep -q "requests=0" out &&
		test_expect_code 22 tool push slug1.tar.gz cfg1.json "$ref" >out 2>/dev/null &&
		grep -q "requests=0" out || return 1
	done &&
	test_expect_code 22 tool exists "../x" "$(cat d1)" 2>/dev/null &&
	test_expect_code 22 tool exists hello "sha256:../../x" 2>/dev/null &&
	test -z "$(reglog_since)" &&
	test -z "$(ls -A bad)"
'

test_expect_success 'a push of a file that is not gzip, or of a config without diff IDs, is refused' '
	head -c 1000 /dev/urandom >notgz &&
	test_expect_code 22 tool config notgz web=x 2>/dev/null &&
	echo "{}" >empty.json &&
	test_expect_code 22 tool push slug1.tar.gz empty.json hello:v9 >out 2>/dev/null &&
	grep -q "requests=0" out
'

test_expect_success 'cleanup: the images this script pushed' '
	deis_registry_delete hello:v1 hello:v2 big:v1 chunked:v1 other:v1 corrupt:v1 \
		"bigcopy@$(digest_of push20.out)" &&
	test_expect_code 2 tool manifest hello:v1 &&
	test_expect_code 2 tool manifest chunked:v1
'

sed 's/^/# /' "$TIMES"
test_done
