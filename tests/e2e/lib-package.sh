# tests/e2e/lib-package.sh - what the package tests share (t1000-package.sh,
# t1010-package-install.sh): the test library without a platform (they
# need none: DEIS_TEST_NO_MOUNT), the version the package must carry
# (meson's project version), and host tools installed when missing.

DEIS_TEST_NO_MOUNT=1
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

export DEBIAN_FRONTEND=noninteractive
VERSION=$(meson introspect "$DEIS_SRC/meson.build" --projectinfo |
	sed -n 's/.*"version": "\([^"]*\)".*/\1/p')

# Installs the host packages named that are missing, saying so.
need_host_packages() {	# PACKAGE...
	local p missing=()
	for p; do
		[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
			missing+=("$p")
	done
	[ ${#missing[@]} != 0 ] || return 0
	echo "# installing with apt-get: ${missing[*]}"
	apt-get update -q >/dev/null &&
	apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >/dev/null
}

# Builds the package (again only if a file changed: packaging/deb) and
# writes its path to the file deb.
package_build() {
	"$DEIS_SRC/packaging/deb" >deb.log 2>&1 &&
	tail -n 1 deb.log >deb &&
	test_path_is_file "$(cat deb)"
}
