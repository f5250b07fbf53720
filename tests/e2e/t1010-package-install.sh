#!/bin/bash
test_description='the Debian package installs with apt into a clean Debian 12 chroot (mmdebstrap), runs, shows its manual pages, and purges'
# Needs no platform (lib-package.sh).  The package is packaging/deb's
# (t1000-package.sh built it; it is built here if not).  The chroot is
# made with mmdebstrap (minbase) from the mirrors apt uses on this host,
# with the package's dependencies, and kept as a tarball in
# $DEIS_BUILD/deb/ keyed by the mirrors and that package list, so that the
# next run only unpacks it.  The chroot tests are skipped (prerequisite
# MIRROR) only when no mirror answers.  packaging/deb and this script
# install their tools (mmdebstrap, ...) with apt-get when missing.
. "$(dirname "$0")/lib-package.sh"

CACHE=$DEIS_BUILD/deb
ROOT=$TRASH_DIRECTORY/chroot

# The sources of this host's apt for Debian 12 ("deb URI SUITE COMPONENT..."
# lines): the chroot is made from the mirrors the host uses.
bookworm_sources() {
	apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' |
		awk '$2 ~ /^bookworm(-updates|-security)?$/ { c[$1 " " $2] = c[$1 " " $2] " " $3 }
		     END { for (k in c) print "deb " k c[k] }' | sort
}

# Runs CMD in the chroot, in a mount namespace of its own (its /proc and
# pseudo-terminals go with it), with a clean environment.
in_chroot() {	# CMD...
	unshare --mount --propagation private -- sh -c '
		root=$1; shift
		mount -t proc proc "$root/proc" &&
		mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" &&
		exec chroot "$root" "$@"' sh "$ROOT" \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 TERM=dumb "$@"
}

# The dependencies of the package, one name each (the first of
# alternatives), and man-db to read its pages.
chroot_packages() {	# DEB
	{
		dpkg-deb -f "$1" Depends | tr ',' '\n' |
			sed -e 's/([^)]*)//g' -e 's/|.*//' -e 's/ //g'
		echo man-db
	} | grep . | sort -u
}

# Is a mirror reachable?  Its Release file, fetched through apt's own
# methods (and proxy settings).
bookworm_sources >sources.list 2>/dev/null || true
if [ ! -s sources.list ]; then
	# No Debian 12 source on this host: its main mirror, for bookworm.
	uri=$(apt-get indextargets --format '$(REPO_URI)' 'Identifier: Packages' 2>/dev/null |
		grep -v security | head -n1)
	[ -z "$uri" ] || echo "deb $uri bookworm main" >sources.list
fi
read -r _ mirror_uri mirror_suite _ < <(awk '$3 == "bookworm"' sources.list; cat sources.list) || true
if [ -n "${mirror_uri:-}" ] &&
	timeout 60 /usr/lib/apt/apt-helper download-file \
		"${mirror_uri%/}/dists/$mirror_suite/InRelease" "$TRASH_DIRECTORY/InRelease" \
		>/dev/null 2>&1; then
	test_set_prereq MIRROR
else
	echo "# no Debian mirror answers (${mirror_uri:-apt on this host names none}):" \
		"the tests that need the chroot are skipped"
fi

test_expect_success 'the package (packaging/deb)' '
	package_build
'

test_expect_success MIRROR 'a clean Debian 12 chroot (mmdebstrap minbase) with the dependencies' '
	need_host_packages mmdebstrap &&
	chroot_packages "$(cat deb)" >packages &&
	key=$({ echo v1 minbase; cat sources.list packages; } | sha256sum | cut -c1-16) &&
	tarball=$CACHE/chroot-$key.tar &&
	mkdir -p "$CACHE" &&
	(
		flock 9 &&
		if [ ! -f "$tarball" ]; then
			echo "# making $tarball (mmdebstrap: log in mmdebstrap.log)" &&
			mmdebstrap --variant=minbase --mode=root --format=tar \
				--aptopt="APT::Install-Recommends \"false\"" \
				--include="$(paste -sd, packages)" \
				bookworm "${tarball%.tar}.tmp.tar" - <sources.list >mmdebstrap.log 2>&1 &&
			mv "${tarball%.tar}.tmp.tar" "$tarball" &&
			find "$CACHE" -maxdepth 1 -name "chroot-*.tar" ! -name "${tarball##*/}" -delete
		fi
	) 9>"$CACHE/chroot.lock" &&
	mkdir "$ROOT" &&
	tar -C "$ROOT" --numeric-owner -xpf "$tarball" &&
	test_path_is_file "$ROOT/etc/debian_version" &&
	grep -q "^12\\." "$ROOT/etc/debian_version" &&
	! in_chroot dpkg-query -W deisfs 2>/dev/null
'

test_expect_success MIRROR 'apt installs the package in it (its Depends resolve)' '
	cp "$(cat deb)" "$ROOT/tmp/deisfs.deb" &&
	printf "#!/bin/sh\nexit 101\n" >"$ROOT/usr/sbin/policy-rc.d" &&
	chmod 0755 "$ROOT/usr/sbin/policy-rc.d" &&
	in_chroot apt-get install -y -q --no-install-recommends /tmp/deisfs.deb \
		>apt.log 2>&1 </dev/null &&
	in_chroot dpkg-query -W -f="\${Status} \${Version}\n" deisfs >actual &&
	echo "install ok installed $VERSION" >expect &&
	test_cmp expect actual
'

test_expect_success MIRROR 'its files are where they belong' '
	for f in /usr/sbin/deisfs /usr/sbin/deis-builder /usr/sbin/deis-scheduler \
		/usr/sbin/deis-proxy /usr/lib/deisfs/deis-shim /usr/lib/deisfs/deis-logd \
		/usr/lib/deisfs/deis-log-send; do
		test -x "$ROOT$f" || { echo "$f is not there"; return 1; }
	done &&
	stat -c "%a %U %G" "$ROOT/etc/deis/deis.conf" >actual &&
	echo "600 root root" >expect &&
	test_cmp expect actual &&
	shim=$(sed -n "s/^scheduler_shim = //p" "$ROOT/etc/deis/deis.conf") &&
	test "$shim" = /usr/lib/deisfs/deis-shim &&
	for u in "$DEIS_SRC"/packaging/systemd/*.service "$DEIS_SRC"/packaging/systemd/*.target; do
		[ -f "$u" ] || continue
		test_path_is_file "$ROOT/lib/systemd/system/${u##*/}" || return 1
	done &&
	test_path_is_file "$ROOT/usr/share/doc/deisfs/copyright" &&
	test_path_is_file "$ROOT/usr/share/doc/deisfs/tree.md.gz"
'

test_expect_success MIRROR 'deisfs --version prints the version there, and every daemon runs' '
	in_chroot deisfs --version >actual &&
	echo "deisfs $VERSION" >expect &&
	test_cmp expect actual &&
	for d in deis-builder deis-scheduler deis-proxy /usr/lib/deisfs/deis-logd \
		/usr/lib/deisfs/deis-log-send; do
		in_chroot "$d" --version >actual &&
		echo "${d##*/} $VERSION" >expect &&
		test_cmp expect actual || return 1
	done
'

test_expect_success MIRROR 'man 5 deisfs shows the tree, man 8 deisfs the options' '
	in_chroot env MANWIDTH=80 man --warnings 5 deisfs >man5 2>warnings &&
	test_must_be_empty warnings &&
	grep -q "^THE TREE" man5 &&
	grep -E "^ +apps/ +mkdir apps/<app> creates an app" man5 &&
	grep -E "^ +formation +\"web=2 worker=1\": write to scale" man5 &&
	in_chroot env MANWIDTH=80 man --warnings 8 deisfs >man8 2>warnings &&
	test_must_be_empty warnings &&
	grep -E "^ +--database=VALUE" man8 &&
	grep -q "deisfs $VERSION" man8
'

test_expect_success MIRROR 'every program the units run is installed' '
	for u in "$ROOT"/lib/systemd/system/deis*.service; do
		[ -f "$u" ] || continue
		sed -n "s/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p" "$u" >programs &&
		test -s programs || { echo "${u##*/} runs nothing"; return 1; }
		while read -r prog; do
			test -x "$ROOT$prog" ||
				{ echo "${u##*/}: $prog is not installed"; return 1; }
		done <programs
	done
'

test_expect_success MIRROR 'dpkg lists /etc/deis/deis.conf as a conffile' '
	in_chroot dpkg-query -W -f="\${Conffiles}\n" deisfs >conffiles &&
	grep -E "^ /etc/deis/deis.conf [0-9a-f]{32}$" conffiles
'

test_expect_success MIRROR 'postinst made the deis-admin system group and /var/lib/deis (0711)' '
	in_chroot getent group deis-admin >group &&
	gid=$(cut -d: -f3 group) &&
	test "$gid" -lt 1000 &&
	stat -c "%a %U %G" "$ROOT/var/lib/deis" >actual &&
	echo "711 root root" >expect &&
	test_cmp expect actual
'

test_expect_success MIRROR 'remove keeps the state, the group and the conffile; purge removes them' '
	echo state >"$ROOT/var/lib/deis/kept" &&
	in_chroot apt-get remove -y -q deisfs >remove.log 2>&1 </dev/null &&
	test_path_is_missing "$ROOT/usr/sbin/deisfs" &&
	test_path_is_file "$ROOT/var/lib/deis/kept" &&
	test_path_is_file "$ROOT/etc/deis/deis.conf" &&
	in_chroot getent group deis-admin &&
	in_chroot dpkg --purge deisfs >purge.log 2>&1 &&
	test_path_is_missing "$ROOT/var/lib/deis" &&
	test_path_is_missing "$ROOT/etc/deis/deis.conf" &&
	test_must_fail in_chroot getent group deis-admin &&
	test_must_fail in_chroot dpkg-query -W deisfs
'

test_expect_success 'cleanup' '
	safe_rm_rf "$ROOT" &&
	test_path_is_missing "$ROOT"
'

test_done
