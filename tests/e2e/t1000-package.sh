#!/bin/bash
test_description='the Debian package: packaging/deb builds deisfs_<version>_<arch>.deb, with the daemons, helpers, conffile, units and manual pages where they belong'
# Needs no platform (lib-package.sh).  t1010-package-install.sh then
# installs the package into a clean Debian 12 chroot: two scripts, so that
# building the package and making the chroot (each a few minutes the first
# time) have a time limit each.  packaging/deb installs its tools with
# apt-get when missing, and so does this script (man-db).
. "$(dirname "$0")/lib-package.sh"

test_expect_success 'packaging/deb builds deisfs_<version>_<arch>.deb into the build directory' '
	test -n "$VERSION" &&
	package_build &&
	test "$(cat deb)" = "$DEIS_BUILD/deisfs_${VERSION}_$(dpkg-architecture -qDEB_HOST_ARCH).deb" &&
	test "$(dpkg-deb -f "$(cat deb)" Version)" = "$VERSION" &&
	test "$("$DEISFS" --version)" = "deisfs $VERSION"
'

test_expect_success 'it holds the daemons, the helpers, the conffile (0600), the manual pages and the units' '
	dpkg-deb -c "$(cat deb)" | awk "{ print \$1, \$6 }" >contents &&
	for f in usr/sbin/deisfs usr/sbin/deis-builder usr/sbin/deis-scheduler \
		usr/sbin/deis-proxy usr/lib/deisfs/deis-shim usr/lib/deisfs/deis-logd \
		usr/lib/deisfs/deis-log-send; do
		grep -qx -- "-rwxr-xr-x ./$f" contents || { echo "no executable $f"; return 1; }
	done &&
	grep -qx -- "-rw------- ./etc/deis/deis.conf" contents &&
	for f in man5/deisfs.5 man8/deisfs.8 man8/deis-builder.8 \
		man8/deis-scheduler.8 man8/deis-proxy.8; do
		grep -qx -- "-rw-r--r-- ./usr/share/man/$f.gz" contents || { echo "no page $f"; return 1; }
	done &&
	for u in "$DEIS_SRC"/packaging/systemd/*.service "$DEIS_SRC"/packaging/systemd/*.target; do
		[ -f "$u" ] || continue
		grep -qx -- "-rw-r--r-- ./lib/systemd/system/${u##*/}" contents ||
			{ echo "no unit ${u##*/}"; return 1; }
	done &&
	dpkg-deb -f "$(cat deb)" Depends >depends &&
	for p in libfuse3-3 libpq5 libhiredis0.14 postgresql-15 redis-server nginx \
		rsyslog runc docker-registry git fuse3 adduser; do
		grep -qE "(^|, )$p( |,|$)" depends || { echo "Depends lacks $p"; return 1; }
	done
'

test_expect_success 'its manual pages render without a warning' '
	need_host_packages man-db &&
	dpkg-deb -x "$(cat deb)" x &&
	for p in x/usr/share/man/man*/*.gz; do
		MANWIDTH=80 man --warnings -E UTF-8 -l "$p" >page 2>warnings &&
		test_must_be_empty warnings &&
		grep -q "^NAME" page || { echo "$p: see above"; return 1; }
	done &&
	"$DEISFS" --help | sed -n "s/^  \(--[a-z_]*=VALUE\) .*/\1/p" >options &&
	test_line_count -gt 20 options &&
	MANWIDTH=80 man -l x/usr/share/man/man8/deisfs.8.gz |
		sed -n "s/^       \(--[a-z_]*=VALUE\)\$/\1/p" >rendered &&
	test_cmp options rendered
'

test_done
