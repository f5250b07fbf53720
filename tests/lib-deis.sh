# tests/lib-deis.sh - the helpers of tests/lib.sh that know the platform:
# its database, Redis and log server, extra mounts, users and git pushes,
# what runs on the node, containers and a peer host.  tests/lib.sh sources
# it (the list of helpers is in its header); not meant to be sourced alone.

# ---------------------------------------------------------------- platform

# psql as the deis role over TCP, with the credentials deisfs uses.
#   deis_psql 'SELECT ...' [psql args]    or    deis_psql <file.sql
deis_psql() {
	local db pw ci w
	db=$(conf_get "$DEIS_CONF" database) || { echo "deis_psql: no database in $DEIS_CONF" >&2; return 1; }
	pw=$(conninfo_get "$db" password) || pw=''
	ci=''
	for w in $db; do
		case $w in password=*) ;; *) ci="$ci $w" ;; esac
	done
	if [ $# = 0 ]; then
		PGPASSWORD=$pw "$DEIS_PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 "${ci# }"
	else
		PGPASSWORD=$pw "$DEIS_PGBIN/psql" -XAtq -v ON_ERROR_STOP=1 "${ci# }" -c "$1" "${@:2}"
	fi
}

# The number of APP's releases, from the database.
deis_release_count() {	# APP
	deis_psql "SELECT count(*) FROM releases r JOIN apps a ON a.id = r.app_id WHERE a.name = '$1'"
}

# The summary of APP's current release.
deis_release_summary() {	# APP
	sed -n "s/^summary: //p" "$DEIS_MOUNT/apps/$1/releases/current/info"
}

# redis-cli against the platform's Redis, authenticated.
deis_redis() {
	redis_cli "$@"
}

# Appends each LINE to deis.conf (as local settings), which is saved
# first; deis_conf_restore puts the saved one back.  A daemon reads
# deis.conf when it starts (the builder's hook at every push).
deis_conf_add() {	# LINE...
	local saved=$TRASH_DIRECTORY/.deis.conf.saved
	[ -e "$saved" ] || cp -p "$DEIS_CONF" "$saved" || return 1
	printf '%s\n' "$@" >>"$DEIS_CONF"
}

deis_conf_restore() {
	local saved=$TRASH_DIRECTORY/.deis.conf.saved
	[ ! -e "$saved" ] || mv -f "$saved" "$DEIS_CONF"
}

DEIS_LOG=$DEIS_LOGDIR/deisfs.log

# Succeeds if the main deisfs log matches the extended regexp PATTERN.
deis_log_has() {	# PATTERN
	grep -Eq -- "$1" "$DEIS_LOG"
}

# Remembers the log's current end; deis_log_has_since_mark looks after it.
deis_log_mark() {
	stat -c %s "$DEIS_LOG" >"$TRASH_DIRECTORY/.deis-log-mark" 2>/dev/null || echo 0 >"$TRASH_DIRECTORY/.deis-log-mark"
}

deis_log_has_since_mark() {	# PATTERN
	local off=0
	[ -r "$TRASH_DIRECTORY/.deis-log-mark" ] && read -r off <"$TRASH_DIRECTORY/.deis-log-mark"
	tail -c +"$((off + 1))" "$DEIS_LOG" | grep -Eq -- "$1"
}

# ---------------------------------------------------------------- services

# The platform's services run under a supervisor (packaging/supervise.sh)
# that restarts whatever exits: postgres redis rsyslog registry deisfs
# deis-builder deis-proxy deis-scheduler.  A test that needs one down on
# purpose stops it with deis_service_stop (a kill would see it back within
# seconds), and starts it again with deis_service_start, which waits until
# it answers.

# The pid of the service NAME, as its supervisor knows it; fails when it
# does not run.
deis_service_pid() {	# NAME
	svc_pid "$1"
}

# Stops NAME and keeps it down (SIGKILL after 60 s).  deis-proxy's nginx
# keeps serving; deis-scheduler's containers keep running.
deis_service_stop() {	# NAME
	svc_down "$1" 60 >/dev/null
}

# Starts NAME again and waits until it answers (its start function).
deis_service_start() {	# NAME
	case $1 in
	postgres) postgres_start ;;
	redis) redis_start ;;
	rsyslog) logserver_start ;;
	registry) registry_start ;;
	deisfs) deisfs_start ;;
	deis-builder) builder_start ;;
	deis-proxy) proxy_start ;;
	deis-scheduler) scheduler_start ;;
	*) echo "deis_service_start: no service '$1'" >&2; return 1 ;;
	esac >/dev/null
}

# Succeeds once NAME runs a process other than OLD and answers: what
# test_wait_for waits for after a kill.
deis_service_back() {	# NAME OLD
	local pid
	pid=$(svc_pid "$1") && [ "$pid" != "$2" ] && service_ready "$1" "$pid"
}

# ---------------------------------------------------------------- the log server

# Sends a line (or, with --count or --whole, more) to the log server as
# the platform's producers do.
deis_log_send() {	# [OPTIONS] APP SOURCE [TEXT...]
	"$DEIS_BUILD/daemons/logd/deis-log-send" "--config=$DEIS_CONF" "$@"
}

# The lines of an app's log stream in Redis (or of one SOURCE's), in order.
deis_log_stream() {	# APP [SOURCE]
	local key=deis:logs:$1
	[ -z "${2:-}" ] || key=$key:$2
	deis_redis --raw xrange "$key" - + | awk 'NR % 4 == 3'
}

deis_log_stream_has() {	# ERE APP [SOURCE]
	local re=$1
	shift
	deis_log_stream "$@" | grep -Eq -- "$re"
}

# Restarts deis-logd, which reads its settings when it starts: rsyslogd
# starts it again for the next line, sent here for APP, and waited for.
deis_logd_restart() {	# APP
	local pid mark="restarting deis-logd $RANDOM$RANDOM"
	pid=$(logd_pids | head -n 1) &&
	kill "$pid" &&
	wait_pid_gone "$pid" 10 &&
	deis_log_send "$1" deis "$mark" &&
	test_wait_for 10 eval 'test -n "$(logd_pids)"' &&
	test_wait_for 10 deis_log_stream_has "$mark" "$1"
}

# A TCP listener on ADDR:PORT in the background, with CERT and KEY over
# TLS, with --peer in the peer's namespace (deis_peer_ns_add): what a log
# drain points at.  It appends the bytes it receives to FILE, a line to
# FILE.connections at each connection it accepts, and makes FILE.ready
# once it listens.  Prints its pid.
deis_listen() {	# [--peer] ADDR PORT FILE [CERT KEY]
	local pre=()
	if [ "$1" = --peer ]; then pre=(deis_peer_exec); shift; fi
	"${pre[@]}" python3 -c "$_deis_listener" "$@" \
		</dev/null >/dev/null 2>>"$TRASH_DIRECTORY/listen.err" &
	echo $!
}

_deis_listener='
import socket, ssl, sys
addr, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = open(path, "ab", buffering=0)
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(5)
if len(sys.argv) > 5:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
    s = ctx.wrap_socket(s, server_side=True)
open(path + ".ready", "w").close()
while True:
    try:
        c, _ = s.accept()
    except (ssl.SSLError, OSError) as e:
        print("accept:", e, file=sys.stderr, flush=True)
        continue
    with open(path + ".connections", "a") as f:
        f.write("connected\n")
    while True:
        d = c.recv(65536)
        if not d:
            break
        out.write(d)
'

# ---------------------------------------------------------------- extra mounts

_deis_extra_registry=$DEIS_RUNDIR/extra-mounts

# Starts a second deisfs on DIR with the same config (as packaging/up does:
# -f -o allow_other, in its own session), waits up to 20 s for the mount and
# registers it so that test_done (or the script's exit, or packaging/down)
# unmounts it.  Extra ARGS go to deisfs before the mount point.  Its log is
# $DEIS_HOME/log/deisfs.extra.<basename DIR>.log.
deis_mount_extra() {	# DIR [ARGS...]
	local dir log pidf pid=''
	dir=$(abspath "$1")
	shift
	mkdir -p "$dir" || return 1
	log=$DEIS_LOGDIR/deisfs.extra.${dir##*/}.log
	# root's alone, as the platform's own logs and state are
	(umask 077 && : >>"$log" && : >>"$_deis_extra_registry") || return 1
	pidf=$(mktemp "$DEIS_RUNDIR/extra.XXXXXX")
	setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' deisfs-extra "$pidf" \
		"$DEISFS" "--config=$DEIS_CONF" -f -o allow_other "$@" "$dir" \
		</dev/null >>"$log" 2>&1 &
	for _ in $(seq 1 100); do
		[ -s "$pidf" ] && break
		sleep 0.02
	done
	read -r pid <"$pidf" || pid=''
	rm -f "$pidf"
	echo "$pid $dir" >>"$_deis_extra_registry"
	# Up to 20 s; give up at once if deisfs exits.
	for _ in $(seq 1 400); do
		if [ -z "$pid" ] || ! proc_alive "$pid"; then
			echo "deis_mount_extra: deisfs for $dir exited; tail of $log:" >&2
			tail -n 20 "$log" >&2
			deis_unmount "$dir"
			return 1
		fi
		mount_responsive "$dir" 2 && return 0
		sleep 0.05
	done
	echo "deis_mount_extra: $dir did not mount within 20 s; tail of $log:" >&2
	tail -n 20 "$log" >&2
	deis_unmount "$dir"
	return 1
}

# Unmounts DIR; if deis_mount_extra started it, waits for that deisfs to
# exit (SIGTERM after 5 s, SIGKILL 10 s later) and forgets it.
deis_unmount() {	# DIR
	local dir pid d rest='' st=0
	dir=$(abspath "$1")
	unmount_fuse "$dir" || st=1
	if [ -s "$_deis_extra_registry" ]; then
		while read -r pid d; do
			if [ "$d" = "$dir" ]; then
				if [ -n "$pid" ] && ! wait_pid_gone "$pid" 5; then
					stop_pid "$pid" "deisfs on $dir" 10
				fi
			else
				rest="$rest$pid $d"$'\n'
			fi
		done <"$_deis_extra_registry"
		printf '%s' "$rest" >"$_deis_extra_registry"
	fi
	return $st
}

deis_mount_pid() {	# DIR: the pid of the deisfs that deis_mount_extra started there
	local dir pid d
	dir=$(abspath "$1")
	[ -s "$_deis_extra_registry" ] || return 1
	while read -r pid d; do
		if [ "$d" = "$dir" ] && [ -n "$pid" ]; then
			echo "$pid"
			return 0
		fi
	done <"$_deis_extra_registry"
	return 1
}
_deis_unmount_all_extra() {
	local pid d
	[ -s "$_deis_extra_registry" ] || return 0
	while read -r pid d; do
		[ -n "$d" ] || continue
		deis_unmount "$d" >/dev/null 2>&1 || true
	done < <(cat "$_deis_extra_registry")
}

# Opens FILE (O_WRONLY | O_CREAT | O_TRUNC) as USER (default: the
# caller), writes TEXT (Python escapes: \n, \xff) with one write(2) and
# closes it; prints "write=E close=E", each 0 or the errno's name: which
# call a control file's check failed, where a shell would only say that
# something did.
deis_write_close() {	# [--as USER] FILE TEXT
	local as=()
	if [ "$1" = --as ]; then as=(runuser -u "$2" --); shift 2; fi
	(cd / && "${as[@]}" /usr/bin/python3 - "$1" "$2") <<-\PY
	import errno, os, sys
	path, text = sys.argv[1], sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
	fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
	w = c = "0"
	try:
	    os.write(fd, text)
	except OSError as e:
	    w = errno.errorcode[e.errno]
	try:
	    os.close(fd)
	except OSError as e:
	    c = errno.errorcode[e.errno]
	print("write=%s close=%s" % (w, c))
	PY
}

# Creates a Unix user NAME (no home, no login) if it does not exist.
deis_useradd() {	# NAME [useradd args]
	local name=$1
	shift
	id -u "$name" >/dev/null 2>&1 && return 0
	useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$@" "$name"
}

# Runs CMD as the Unix user NAME (from /, which every user can enter).
deis_as() {	# NAME CMD...
	local name=$1
	shift
	(cd / && runuser -u "$name" -- "$@")
}

# ---------------------------------------------------------------- apps from git

# A Unix and platform user NAME with an SSH key ($TRASH_DIRECTORY/NAME.key)
# for git push, and git's identity.
deis_git_user() {	# NAME
	local name=$1
	deis_useradd "$name" &&
	rm -f "$TRASH_DIRECTORY/$name.key" "$TRASH_DIRECTORY/$name.key.pub" &&
	ssh-keygen -q -t ed25519 -N "" -f "$TRASH_DIRECTORY/$name.key" &&
	chmod 644 "$TRASH_DIRECTORY/$name.key.pub" &&
	deis_as "$name" cp "$TRASH_DIRECTORY/$name.key.pub" "$DEIS_MOUNT/users/$name/keys/test"
}

# NAME (deis_git_user) with an app APP of theirs, and the hello test app
# (tests/apps/hello) in a new git repository DIR, not committed yet.
deis_hello_app() {	# NAME APP DIR
	deis_git_user "$1" &&
	deis_as "$1" mkdir "$DEIS_MOUNT/apps/$2" &&
	git init -q -b main "$3" &&
	cp "$DEIS_SRC/tests/apps/hello/app.py" "$DEIS_SRC/tests/apps/hello/Procfile" "$3/"
}

# git push DIR's main branch to APP as NAME; the output in push.out.  A
# push that shows a sanitizer report (the builder's hook) fails.
deis_git_push() {	# NAME APP DIR [GIT-PUSH-ARGS...]
	local name=$1 app=$2 dir=$3
	shift 3
	GIT_SSH_COMMAND=$(_deis_ssh_command "$name") \
		git -C "$dir" -c user.name="$name" -c user.email="$name@example.com" \
		push "ssh://git@127.0.0.1:$DEIS_SSH_PORT/$app.git" "${@:-main}" >push.out 2>&1
	local st=$?
	cat push.out
	! grep -E "Sanitizer|runtime error" push.out || return 1
	return $st
}

# ssh to the builder's port as NAME (its key from deis_git_user).
deis_ssh() {	# NAME SSH-ARGS...
	local name=$1
	shift
	$(_deis_ssh_command "$name") "$@"
}

# ssh as NAME to the builder: only that key, no questions, no known_hosts.
_deis_ssh_command() {	# NAME
	printf 'ssh -i %s -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes' \
		"$TRASH_DIRECTORY/$1.key"
	printf ' -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p %s\n' \
		"$DEIS_SSH_PORT"
}

# A self-signed certificate NAME.crt for DAYS days, its key NAME.key and
# both in NAME.pem (what certs/<domain>.pem takes); EC P-256, the first
# of the comma-separated names as the subject.
deis_make_cert() {	# NAME SUBJECT_ALT_NAMES DAYS
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$1.key" -out "$1.crt" -days "$3" -subj "/CN=${2%%,*}" \
		-addext "subjectAltName=DNS:${2//,/,DNS:}" 2>/dev/null &&
	cat "$1.crt" "$1.key" >"$1.pem"
}

# Removes every SSH key of each user NAME (what deis_git_user registered).
deis_keys_remove() {	# NAME...
	local u
	for u; do
		rm -f "$DEIS_MOUNT/users/$u/keys/"* || return 1
	done
}

# Deletes from the platform's registry each image REF (NAME:TAG or
# NAME@DIGEST) that a script pushed there itself: the platform deletes no
# image.  One that is not there is no error.  The credentials go to curl
# on stdin, never on a command line.
deis_registry_delete() {	# REF...
	local ref name auth digest
	auth=$(printf 'user = "%s:%s"' "$(conf_get "$DEIS_CONF" registry_user)" \
		"$(conf_get "$DEIS_CONF" registry_password)") || return 1
	for ref; do
		name=${ref%%[:@]*}
		digest=$(printf '%s\n' "$auth" | curl -K - -sS -o /dev/null -D - --max-time 10 -I \
			-H "Accept: application/vnd.oci.image.manifest.v1+json" \
			"$DEIS_REGISTRY_URL/v2/$name/manifests/${ref:${#name}+1}" |
			tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p') || return 1
		[ -n "$digest" ] || continue
		printf '%s\n' "$auth" | curl -K - -fsS -o /dev/null --max-time 10 -X DELETE \
			"$DEIS_REGISTRY_URL/v2/$name/manifests/$digest" || return 1
	done
}

# The registry's test tool (tests/unit/registry_tool) with the platform's
# credentials and registry.
deis_registry_tool() {	# ARGS...
	"$DEIS_BUILD/tests/unit/registry_tool" "--config=$DEIS_CONF" "--url=$DEIS_REGISTRY_URL" "$@"
}

# ab(1) through the router to APP (4 requests at a time) for SECONDS, in
# the background; deis_load_check, in the same test, waits for it and
# fails unless every request was answered, with a 200.
deis_load_start() {	# SECONDS APP [PATH]
	ab -q -t "$1" -n 1000000 -c 4 -s 10 -H "Host: $2.$DEIS_DOMAIN" \
		"http://127.0.0.1:$DEIS_HTTP_PORT${3:-/}" >ab.out 2>&1 &
	echo $! >ab.pid
}

deis_load_check() {
	local pid
	read -r pid <ab.pid && wait "$pid" 2>/dev/null
	cat ab.out &&
	grep -E "^Complete requests: +[1-9][0-9]*$" ab.out &&
	grep -E "^Failed requests: +0$" ab.out &&
	! grep -E "^Non-2xx responses" ab.out
}

# ---------------------------------------------------------------- what runs

# A file of APP's container NAME (containers/NAME/FILE): state, release,
# address, ...
deis_ct() {	# APP NAME FILE
	cat "$DEIS_MOUNT/apps/$1/containers/$2/$3"
}

# The ids of APP's containers on this node (deis-scheduler's), one per
# line, sorted.  Read from runc's state directory: `runc list` fails when
# any container, another app's, goes away while it lists; this never
# fails, and names APP's alone.
deis_containers() {	# APP
	[ -d "$DEIS_RUNC_ROOT" ] || return 0
	ls "$DEIS_RUNC_ROOT" | grep "^$1\." | sort
	return 0
}

# Succeeds if nothing of any APP is on this node: no container, no attached
# one-off (ssh ... run), no bundle.
deis_nothing_runs() {	# APP...
	local app d
	for app; do
		for d in "$DEIS_RUNC_ROOT" "$DEIS_HOME/scheduler/attached/runc" \
			"$DEIS_HOME/scheduler/containers"; do
			! compgen -G "$d/$app.*" >/dev/null || return 1
		done
	done
}

# Destroys each APP (as root, an admin: rm -rf, as a user would) and waits
# until nothing of it is left on this node, so that the next script starts
# on a quiet platform.  An app that does not exist is no error.
deis_app_destroy() {	# APP...
	local app
	for app; do
		rm -rf "$DEIS_MOUNT/apps/$app" || return 1
	done
	test_wait_for 60 deis_nothing_runs "$@" || {
		echo "deis_app_destroy: still on this node after 60 s:" >&2
		ls "$DEIS_RUNC_ROOT" "$DEIS_HOME/scheduler/containers" >&2 2>/dev/null
		return 1
	}
}

# The time of deis-scheduler's last heartbeat (nodes.last_seen), which
# ends every resync of its.
_deis_heartbeat() {
	deis_psql "SELECT max(last_seen) FROM nodes"
}

# Waits until deis-scheduler has resynced N times from now (at most
# SECONDS, default 120, for each): whatever it does at a resync (every
# scheduler_resync seconds, or at once after an event it may have missed)
# has then been done at least N - 1 times over.
deis_scheduler_resyncs() {	# N [SECONDS]
	local n=$1 secs=${2:-120} last now end
	last=$(_deis_heartbeat) || return 1
	while [ "$n" -gt 0 ]; do
		end=$((SECONDS + secs))
		while :; do
			now=$(_deis_heartbeat) || now=$last
			[ "$now" = "$last" ] || break
			if [ $SECONDS -ge $end ]; then
				echo "deis_scheduler_resyncs: no heartbeat after $last within ${secs}s" >&2
				return 1
			fi
			sleep 0.2
		done
		last=$now n=$((n - 1))
	done
}

# ---------------------------------------------------------------- inside a container

# The address of the host on the containers' bridge (the subnet's first).
deis_bridge_address() {
	local subnet
	subnet=$(conf_get "$DEIS_CONF" network_subnet) || return 1
	python3 -c 'import ipaddress, sys; print(ipaddress.ip_network(sys.argv[1])[1])' "$subnet"
}

# Every TCP port the platform listens on, one per line: PostgreSQL, Redis,
# the registry, the builder's SSH, the router's HTTP and HTTPS (the log
# server has none: a root-only socket).
deis_platform_ports() {
	printf '%s\n' "$DEIS_PG_PORT" "$DEIS_REDIS_PORT" "$DEIS_REGISTRY_PORT" \
		"$DEIS_SSH_PORT" "$DEIS_HTTP_PORT" "$DEIS_HTTPS_PORT"
}

# Runs CMD in a one-off container of APP as NAME would (ssh ... run), its
# output on stdout.
deis_run_in() {	# NAME APP CMD...
	local name=$1 app=$2
	shift 2
	deis_ssh "$name" git@127.0.0.1 run "$app" "$@" </dev/null
}

# From inside a one-off container of APP (tenant code), tries a TCP
# connection to each HOST:PORT and prints "HOST:PORT open" or
# "HOST:PORT closed" for each, in order.  The attack probe of
# tests/security: a container must reach nothing of the platform, on its
# own loopback or the host's addresses, and no other app's container.
deis_container_probe() {	# NAME APP HOST:PORT...
	local name=$1 app=$2 prog
	shift 2
	prog=$(base64 -w0 <<'PY'
import socket, sys
for t in sys.argv[1:]:
    host, port = t.rsplit(":", 1)
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.settimeout(1.5)
    try:
        s.connect((host.strip("[]"), int(port)))
        print(t, "open", flush=True)
    except OSError:
        print(t, "closed", flush=True)
    finally:
        s.close()
PY
)
	deis_run_in "$name" "$app" "python3 -c \"import base64; exec(base64.b64decode('$prog'))\" $*"
}

# Commits everything in DIR (a git repository made with git init -b main).
deis_git_commit() {	# DIR MESSAGE
	git -C "$1" add -A &&
	git -C "$1" -c user.name=Test -c user.email=test@example.com commit -q -m "$2"
}

# ---------------------------------------------------------------- a peer host

# A network namespace of the script's own, joined to this host by a veth
# pair on a random /30 of 198.18.0.0/15 (RFC 2544's benchmarking range):
# a listener there has an address that is neither loopback nor one of this
# host's, which is what a log drain may point at.  Call it at the top of a
# script (not inside a body: it sets variables); test_done and the script's
# exit remove it.  Sets DEIS_PEER_NS, DEIS_PEER_ADDR (the namespace's end)
# and DEIS_PEER_HOST_ADDR (this host's end).
deis_peer_ns_add() {
	local a b i
	DEIS_PEER_NS=deis-peer-$$
	for i in $(seq 1 20); do
		a=$((RANDOM % 256)) b=$((RANDOM % 64 * 4))
		ip -o -4 addr show | grep -qE " 198\.18\.$a\.($((b + 1))|$((b + 2)))/" || break
	done
	DEIS_PEER_HOST_ADDR=198.18.$a.$((b + 1))
	DEIS_PEER_ADDR=198.18.$a.$((b + 2))
	ip netns add "$DEIS_PEER_NS" &&
	ip link add "dp$$h" type veth peer name "dp$$n" netns "$DEIS_PEER_NS" &&
	ip addr add "$DEIS_PEER_HOST_ADDR/30" dev "dp$$h" &&
	ip link set "dp$$h" up &&
	ip -n "$DEIS_PEER_NS" addr add "$DEIS_PEER_ADDR/30" dev "dp$$n" &&
	ip -n "$DEIS_PEER_NS" link set "dp$$n" up &&
	ip -n "$DEIS_PEER_NS" link set lo up || { _deis_peer_ns_del; return 1; }
	export DEIS_PEER_NS DEIS_PEER_ADDR DEIS_PEER_HOST_ADDR
}

# Runs CMD inside the peer's namespace.
deis_peer_exec() {	# CMD...
	ip netns exec "$DEIS_PEER_NS" "$@"
}

# Deleting the namespace ends its listeners' sockets and the veth pair.
_deis_peer_ns_del() {
	[ -n "${DEIS_PEER_NS:-}" ] || return 0
	local pid
	for pid in $(ip netns pids "$DEIS_PEER_NS" 2>/dev/null); do
		kill "$pid" 2>/dev/null || true
	done
	ip netns del "$DEIS_PEER_NS" 2>/dev/null || true
	ip link del "dp$$h" 2>/dev/null || true
	DEIS_PEER_NS=''
}
