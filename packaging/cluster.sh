# shellcheck shell=bash
# packaging/cluster.sh - the platform across hosts: the control and node
# roles of packaging/up (DEIS_ROLE), the cluster's certificates, and the
# settings a node takes from the control.  Sourced by packaging/up and
# packaging/join after packaging/lib.sh; not meant to be sourced alone.
#
#   all      (the default) one machine, every service, nothing beyond
#            loopback: what packaging/up always did
#   control  PostgreSQL, Redis, the registry and the log server, listening
#            on DEIS_CLUSTER_ADDRESS besides loopback, each with its
#            authentication (PostgreSQL: scram, for the cluster subnet only;
#            Redis: requirepass; the registry: basic auth; the log server:
#            TLS with a client certificate the control issued), and the
#            scheduler
#   node     deisfs, the builder, the router (deis-proxy and nginx, named by
#            the node) and a log relay, pointed at the control
#
# The control keeps in $DEIS_HOME/cluster/ (root's, 0700) the cluster's CA
# (ca.key, ca.pem), the log server's certificate and cluster.conf, the
# settings every node shares (the control's addresses and the
# credentials).  A node gets a bundle from it (cluster_bundle: cluster.conf,
# ca.pem and a key and certificate of its own, over SSH as root with
# packaging/join, or straight from the files in tests/cluster/platform.sh)
# into its own $DEIS_HOME/cluster/, and builds its deis.conf from it.

# Sets and checks DEIS_ROLE and what it needs: DEIS_CLUSTER_ADDRESS (this
# host's address on the cluster network), DEIS_CLUSTER_SUBNET (default: the
# network of the interface holding it), DEIS_NODE_NAME (default: the host
# name), DEIS_LOG_PORT (the log server's TLS port, 6514),
# DEIS_DOCKER_LOG_SOCKET (a node's: where its engine's syslog driver
# sends), DEIS_CLUSTER_DIR.
cluster_init() {
	DEIS_ROLE=${DEIS_ROLE:-all}
	DEIS_CLUSTER_DIR=$DEIS_HOME/cluster
	DEIS_LOG_PORT=${DEIS_LOG_PORT:-6514}
	# Where a node's engine sends its containers' lines (the syslog log
	# driver's address, unixgram:///run/deis/log/docker.sock).
	DEIS_DOCKER_LOG_SOCKET=${DEIS_DOCKER_LOG_SOCKET:-/run/deis/log/docker.sock}
	DEIS_NODE_NAME=${DEIS_NODE_NAME:-$(hostname -s 2>/dev/null || echo node1)}
	case $DEIS_ROLE in
	all) return 0 ;;
	control|node) ;;
	*) die "DEIS_ROLE='$DEIS_ROLE': all (the default: one machine), control or node" ;;
	esac
	cluster_node_name_ok "$DEIS_NODE_NAME" ||
		die "DEIS_NODE_NAME='$DEIS_NODE_NAME': [a-z0-9][a-z0-9-]{0,62}"
	[ -n "${DEIS_CLUSTER_ADDRESS:-}" ] ||
		die "DEIS_ROLE=$DEIS_ROLE needs DEIS_CLUSTER_ADDRESS (this host's IPv4 address on the cluster network)"
	_cluster_ipv4 "$DEIS_CLUSTER_ADDRESS" ||
		die "DEIS_CLUSTER_ADDRESS='$DEIS_CLUSTER_ADDRESS' is not an IPv4 address"
	case $DEIS_CLUSTER_ADDRESS in
	127.*|0.*) die "DEIS_CLUSTER_ADDRESS must be an address the other hosts reach, not $DEIS_CLUSTER_ADDRESS" ;;
	esac
	[ -n "$(_cluster_cidr_of "$DEIS_CLUSTER_ADDRESS")" ] ||
		die "DEIS_CLUSTER_ADDRESS=$DEIS_CLUSTER_ADDRESS is not an address of this host"
	if [ -z "${DEIS_CLUSTER_SUBNET:-}" ]; then
		DEIS_CLUSTER_SUBNET=$(cluster_subnet_of "$DEIS_CLUSTER_ADDRESS") ||
			die "cannot tell the subnet of $DEIS_CLUSTER_ADDRESS; set DEIS_CLUSTER_SUBNET"
	fi
	case $DEIS_CLUSTER_SUBNET in
	*/*) _cluster_ipv4 "${DEIS_CLUSTER_SUBNET%/*}" && [ "${DEIS_CLUSTER_SUBNET#*/}" -ge 8 ] 2>/dev/null &&
		[ "${DEIS_CLUSTER_SUBNET#*/}" -le 32 ] ||
		die "DEIS_CLUSTER_SUBNET='$DEIS_CLUSTER_SUBNET': an IPv4 network, /8 to /32" ;;
	*) die "DEIS_CLUSTER_SUBNET='$DEIS_CLUSTER_SUBNET': an IPv4 network (a.b.c.d/n)" ;;
	esac
	case $DEIS_LOG_PORT in ''|*[!0-9]*) die "bad port number '$DEIS_LOG_PORT' (DEIS_LOG_PORT)" ;; esac
	export DEIS_ROLE DEIS_CLUSTER_ADDRESS DEIS_CLUSTER_SUBNET DEIS_NODE_NAME DEIS_LOG_PORT \
		DEIS_DOCKER_LOG_SOCKET
}

# A node's name: a DNS label (it names the node's certificate).
cluster_node_name_ok() {	# NAME
	case $1 in [a-z0-9]*) ;; *) return 1 ;; esac
	[ ${#1} -le 63 ] && [ -z "${1//[a-z0-9-]/}" ]
}

_cluster_ipv4() {	# TEXT
	local IFS=. a
	# shellcheck disable=SC2086
	set -- $1
	[ $# = 4 ] || return 1
	for a; do
		case $a in ''|*[!0-9]*) return 1 ;; esac
		[ "$a" -le 255 ] || return 1
	done
}

# ADDRESS/prefix as an interface of this host holds it, else nothing.
# (All of ip's output is read: a reader that stops early would fail the
# pipeline under pipefail, as soon as there are many interfaces.)
_cluster_cidr_of() {	# ADDRESS
	ip -o -4 addr show 2>/dev/null |
		awk -v a="$1" '{ split($4, x, "/"); if (x[1] == a && !f) { print $4; f = 1 } }'
}

# The network (a.b.c.0/n) of the interface that holds ADDRESS.
cluster_subnet_of() {	# ADDRESS
	local cidr ip n a b c d m
	cidr=$(_cluster_cidr_of "$1")
	[ -n "$cidr" ] || return 1
	ip=${cidr%/*} n=${cidr#*/}
	IFS=. read -r a b c d <<<"$ip"
	m=$(( (0xffffffff << (32 - n)) & 0xffffffff ))
	ip=$(( ((a << 24) | (b << 16) | (c << 8) | d) & m ))
	printf '%d.%d.%d.%d/%d\n' $((ip >> 24 & 255)) $((ip >> 16 & 255)) $((ip >> 8 & 255)) $((ip & 255)) "$n"
}

# ---------------------------------------------------------------- certificates

# A P-256 key and a certificate signed by the cluster's CA: CN and a
# subjectAltName of NAME (and IP, when given), for USAGE (serverAuth or
# clientAuth).  Written as DIR/BASE.key (0600) and DIR/BASE.pem.
_cluster_sign() {	# DIR BASE NAME USAGE [IP]
	local dir=$1 base=$2 name=$3 usage=$4 ip=${5:-} san ext
	san="DNS:$name"
	[ -z "$ip" ] || san="$san,IP:$ip"
	ext=$(mktemp "$dir/.ext.XXXXXX")
	printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$san" "$usage" >"$ext"
	(umask 077
	 openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/$base.key.new" -subj "/CN=$name" -out "$dir/$base.csr" 2>/dev/null &&
	 openssl x509 -req -in "$dir/$base.csr" -CA "$DEIS_CLUSTER_DIR/ca.pem" \
		-CAkey "$DEIS_CLUSTER_DIR/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
		-days 3650 -extfile "$ext" -out "$dir/$base.pem.new" 2>/dev/null) ||
		{ rm -f "$ext" "$dir/$base.csr" "$dir/$base.key.new" "$dir/$base.pem.new"; return 1; }
	rm -f "$ext" "$dir/$base.csr"
	chmod 0600 "$dir/$base.key.new"
	chmod 0644 "$dir/$base.pem.new"
	mv -f "$dir/$base.key.new" "$dir/$base.key"
	mv -f "$dir/$base.pem.new" "$dir/$base.pem"
}

# The control's CA and the log server's certificate (for the name
# deis-logserver, which the relays check, and the cluster address), made
# once; the certificate again when the address changed.
cluster_ca() {
	install -d -m 0700 -o root -g root "$DEIS_CLUSTER_DIR"
	if [ ! -s "$DEIS_CLUSTER_DIR/ca.key" ] || [ ! -s "$DEIS_CLUSTER_DIR/ca.pem" ]; then
		info "making the cluster's CA in $DEIS_CLUSTER_DIR"
		(umask 077
		 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$DEIS_CLUSTER_DIR/ca.key.new" -out "$DEIS_CLUSTER_DIR/ca.pem.new" \
			-days 3650 -subj "/CN=deis cluster CA $(openssl rand -hex 4)" \
			-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
			2>/dev/null) || die "openssl could not make the cluster's CA"
		mv -f "$DEIS_CLUSTER_DIR/ca.key.new" "$DEIS_CLUSTER_DIR/ca.key"
		mv -f "$DEIS_CLUSTER_DIR/ca.pem.new" "$DEIS_CLUSTER_DIR/ca.pem"
		rm -f "$DEIS_CLUSTER_DIR/logserver.pem"
	fi
	chmod 0644 "$DEIS_CLUSTER_DIR/ca.pem"
	if ! openssl x509 -in "$DEIS_CLUSTER_DIR/logserver.pem" -noout -ext subjectAltName 2>/dev/null |
		grep -q "IP Address:$DEIS_CLUSTER_ADDRESS\$"; then
		_cluster_sign "$DEIS_CLUSTER_DIR" logserver deis-logserver serverAuth "$DEIS_CLUSTER_ADDRESS" ||
			die "openssl could not make the log server's certificate"
	fi
}

# ---------------------------------------------------------------- what a node shares

# The settings every node takes from the control (its deis.conf starts
# with them): where the control's services are, and their credentials.
cluster_conf() {
	echo "# The cluster's shared settings, written by packaging/up on the control"
	echo "# ($DEIS_CLUSTER_ADDRESS); every node's deis.conf starts with them."
	echo "database = \"host=$DEIS_CLUSTER_ADDRESS port=$DEIS_PG_PORT dbname=deis user=deis password=$PG_PASSWORD\""
	echo "redis_host = $DEIS_CLUSTER_ADDRESS"
	echo "redis_port = $DEIS_REDIS_PORT"
	echo "redis_password = $REDIS_PASSWORD"
	echo "platform_domain = $DEIS_DOMAIN"
	echo "admin_group = deis-admin"
	echo "registry_url = $DEIS_REGISTRY_URL"
	echo "registry_user = $DEIS_REGISTRY_USER"
	echo "registry_password = $REGISTRY_PASSWORD"
	echo "http_port = $DEIS_HTTP_PORT"
	echo "https_port = $DEIS_HTTPS_PORT"
	echo "ssh_port = $DEIS_SSH_PORT"
	# Read by packaging/up on the nodes only (the daemons skip names
	# they do not know): where the relays send.
	echo "log_server = $DEIS_CLUSTER_ADDRESS:$DEIS_LOG_PORT"
}

# A node's bundle, as a tar on stdout: cluster.conf, ca.pem, and node.key
# and node.pem (a client certificate for NODE.nodes.deis, the names the
# log server admits, made now) - all a node needs
# to reach the control.  Run on the control, as root; the key never touches
# the control's disk for longer than this takes.
cluster_bundle() {	# NODE
	local tmp
	[ -s "$DEIS_CLUSTER_DIR/cluster.conf" ] && [ -s "$DEIS_CLUSTER_DIR/ca.key" ] ||
		die "$DEIS_HOME is not a control (no $DEIS_CLUSTER_DIR/cluster.conf): run DEIS_ROLE=control packaging/up first"
	tmp=$(mktemp -d "$DEIS_CLUSTER_DIR/.bundle.XXXXXX")
	cp "$DEIS_CLUSTER_DIR/cluster.conf" "$DEIS_CLUSTER_DIR/ca.pem" "$tmp/"
	if ! _cluster_sign "$tmp" node "$1.nodes.deis" clientAuth; then
		rm -rf "$tmp"
		die "openssl could not make the certificate of $1"
	fi
	tar -C "$tmp" -cf - cluster.conf ca.pem node.key node.pem
	rm -rf "$tmp"
}

# A node's view of the bundle in its $DEIS_CLUSTER_DIR: the value of NAME
# in its cluster.conf.
cluster_get() {	# NAME
	conf_get "$DEIS_CLUSTER_DIR/cluster.conf" "$1"
}

# The node's checks of its bundle; sets the variables packaging/up uses
# (the credentials, the registry, the ports the cluster shares).
cluster_node_load() {
	local f
	for f in cluster.conf ca.pem node.key node.pem; do
		[ -s "$DEIS_CLUSTER_DIR/$f" ] ||
			die "$DEIS_CLUSTER_DIR/$f is missing: a node gets them from the control (packaging/join)"
	done
	chmod 0700 "$DEIS_CLUSTER_DIR"
	chmod 0600 "$DEIS_CLUSTER_DIR/node.key" "$DEIS_CLUSTER_DIR/cluster.conf"
	DEIS_LOG_SERVER=$(cluster_get log_server) || die "$DEIS_CLUSTER_DIR/cluster.conf names no log_server"
	DEIS_REGISTRY_URL=$(cluster_get registry_url) || die "$DEIS_CLUSTER_DIR/cluster.conf names no registry_url"
	DEIS_HTTP_PORT=$(cluster_get http_port) || true
	DEIS_HTTPS_PORT=$(cluster_get https_port) || true
	DEIS_SSH_PORT=$(cluster_get ssh_port) || true
	DEIS_DOMAIN=$(cluster_get platform_domain) || true
	export DEIS_REGISTRY_URL DEIS_HTTP_PORT DEIS_HTTPS_PORT DEIS_SSH_PORT DEIS_DOMAIN
}

# ---------------------------------------------------------------- PostgreSQL

# pg_hba.conf with the cluster's line: role deis, database deis, from the
# cluster subnet only, with scram.  The block between the markers is ours
# (rewritten each run); the rest is initdb's.  Prints changed or unchanged.
cluster_pg_hba() {
	local f=$DEIS_PGDATA/pg_hba.conf begin='# --- deis cluster: begin (packaging/up) ---'
	local end='# --- deis cluster: end ---'
	{
		awk -v b="$begin" -v e="$end" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' "$f"
		if [ "$DEIS_ROLE" = control ]; then
			echo "$begin"
			echo "host deis deis $DEIS_CLUSTER_SUBNET scram-sha-256"
			echo "$end"
		fi
	} | write_if_changed "$f" 0600 "$(stat -c %U:%G "$f")"
}

# ---------------------------------------------------------------- firewall

# The containers of a node (their traffic enters the node's netfilter from
# docker_gwbridge, Swarm's way out of every task) reach nothing of the
# cluster: no node's address (the control's PostgreSQL, Redis, registry and
# log server, a router, a builder) and no published port of any task, on
# this node or another (host-mode ports listen on every address, so the
# per-app overlay alone does not keep apps apart).  NEW connections only:
# replies to the routers and health checks that reach a task pass.  What a
# task opens to outside the cluster (the Internet, through docker_gwbridge's
# masquerade) is left alone, as on one machine.  Idempotent (each rule
# checked before it is added); DOCKER-USER is made when dockerd has not run
# yet (dockerd keeps a chain it finds).
cluster_firewall() {
	command -v iptables >/dev/null || die "iptables not found (the cluster's container firewall)"
	iptables -w -N DOCKER-USER 2>/dev/null || true
	local r
	for r in "DOCKER-USER -i docker_gwbridge -m conntrack --ctstate NEW --ctorigdst $DEIS_CLUSTER_SUBNET -j DROP" \
		 "INPUT -i docker_gwbridge -m conntrack --ctstate NEW -j DROP"; do
		# shellcheck disable=SC2086
		iptables -w -C $r 2>/dev/null || iptables -w -I $r ||
			die "iptables -I $r failed"
	done
	info "containers reach no address of $DEIS_CLUSTER_SUBNET (iptables DOCKER-USER, INPUT)"
}
