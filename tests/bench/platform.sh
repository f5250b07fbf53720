# platform.sh - a private platform for a benchmark.  Source it (it
# sources packaging/lib.sh), then:
#
#   N=$(bench_count "${1:-5}")    the number of repetitions, checked
#   bench_platform_up NAME USER
#
# brings a platform up with packaging/up in a fresh /tmp/deis-NAME.XXXXXX
# (random free ports, a bridge and subnet of its own, DEIS_FAST=1,
# DEIS_BUILD or build), always brought
# down again at exit (packaging/down --purge; the directory is kept when
# the benchmark failed), and makes USER: a local and platform user with an
# SSH key ($WORK/key) in the tree, as_user to run a command as it, and
# git's identity and GIT_SSH_COMMAND for pushes to the builder.  Sets TMP,
# WORK (the current directory afterwards) and every DEIS_* variable.

# shellcheck source=packaging/lib.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../packaging/lib.sh"

bench_count() {	# N
	case $1 in ''|*[!0-9]*|0) die "N must be a positive integer" ;; esac
	echo "$1"
}

bench_cleanup() {
	local st=$?
	set +e
	bash "$DEIS_SRC/packaging/down" --purge >"$WORK/down.log" 2>&1 ||
		warn "packaging/down failed (see $WORK/down.log)"
	userdel "$BENCH_USER" >/dev/null 2>&1
	[ $st = 0 ] && rm -rf "$TMP" || echo "kept $TMP" >&2
	exit $st
}

as_user() { (cd / && runuser -u "$BENCH_USER" -- "$@"); }

bench_platform_up() {	# NAME USER
	[ "$(id -u)" = 0 ] || die "$1 must run as root (packaging/up needs it)"
	BENCH_USER=$2
	TMP=$(mktemp -d "/tmp/deis-$1.XXXXXX")
	chmod 0711 "$TMP"
	DEIS_HOME=$TMP/home
	DEIS_MOUNT=$TMP/mnt
	DEIS_FAST=1
	DEIS_BUILD=${DEIS_BUILD:-build}
	free_ports DEIS_PG_PORT DEIS_REDIS_PORT DEIS_REGISTRY_PORT \
		DEIS_SSH_PORT DEIS_HTTP_PORT DEIS_HTTPS_PORT
	# A bridge and a subnet of its own, beside any other platform.
	DEIS_BRIDGE=$(free_bridge db)
	DEIS_SUBNET=$(free_subnet)
	export DEIS_HOME DEIS_MOUNT DEIS_FAST DEIS_BUILD DEIS_BRIDGE DEIS_SUBNET
	deis_env_init
	WORK=$TMP/work
	mkdir -p "$WORK"
	trap bench_cleanup EXIT
	bash "$DEIS_SRC/packaging/up" >"$WORK/up.log" 2>&1 ||
		{ show_log_tail "$WORK/up.log" 40; die "packaging/up failed"; }
	id -u "$BENCH_USER" >/dev/null 2>&1 ||
		useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$BENCH_USER"
	cd "$WORK"
	ssh-keygen -q -t ed25519 -N "" -f key
	chmod 644 key.pub
	as_user cp "$WORK/key.pub" "$DEIS_MOUNT/users/$BENCH_USER/keys/bench"
	export HOME=$WORK GIT_CONFIG_NOSYSTEM=1
	export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
	export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
	export GIT_SSH_COMMAND="ssh -i $WORK/key -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p $DEIS_SSH_PORT"
}
