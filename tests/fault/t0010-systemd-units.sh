#!/bin/bash
test_description='the systemd units of packaging/systemd/: each parses (systemd-analyze verify), restarts its service, belongs to deis.target, reloads on SIGHUP; the ones packaging/up makes of them for this platform too'
. "$(dirname "$0")/../lib.sh"

UNITS=$DEIS_SRC/packaging/systemd

! command -v systemd-analyze >/dev/null || test_set_prereq SYSTEMD_ANALYZE

# The units of this platform, as packaging/up writes them where systemd is
# PID 1 (its paths: the binaries of the build, which exist here).
make_units() {	# DIR
	local n
	mkdir -p "$1" &&
	for n in "${DEIS_SERVICES[@]}"; do
		svc_unit_text "$(_svc_unit_file $n)" >"$1/$(svc_unit $n)" || return 1
	done &&
	svc_unit_text deis.target >"$1/$(svc_target)"
}

# systemd-analyze verify, without systemd running: any word on stderr
# (an unknown key, a bad value, a missing command) is a failure.
verify() {	# UNIT...
	systemd-analyze verify --man=no "$@" 2>verify.err
	cat verify.err
	test_must_be_empty verify.err
}

test_expect_success 'a service and deis.target per service of the platform' '
	for n in "${DEIS_SERVICES[@]}"; do
		test_path_is_file "$UNITS/$(_svc_unit_file $n)" || return 1
		grep -q "^Wants=.*\b$(_svc_unit_file $n)\b" "$UNITS/deis.target" || return 1
	done &&
	ls "$UNITS" | grep -c . >count &&
	echo $((${#DEIS_SERVICES[@]} + 1)) >expect &&
	test_cmp expect count
'

test_expect_success SYSTEMD_ANALYZE 'the units packaging/up makes for this platform pass systemd-analyze verify' '
	make_units units &&
	test_path_is_file "units/deisfs$(_svc_unit_suffix).service" &&
	grep -qx "PartOf=deis$(_svc_unit_suffix).target" "units/deisfs$(_svc_unit_suffix).service" &&
	grep -qx "ExecStart=$DEISFS --config=$DEIS_CONF -f -o allow_other $DEIS_MOUNT" "units/deisfs$(_svc_unit_suffix).service" &&
	(cd units && verify ./*.service ./*.target)
'

test_expect_success SYSTEMD_ANALYZE 'verify fails on a unit with a bad value (the check can fail)' '
	make_units bad &&
	sed -i "s/^Restart=always/Restart=sometimes/" "bad/$(svc_unit deisfs)" &&
	(cd bad && test_must_fail verify "./$(svc_unit deisfs)") &&
	grep "restart specifier" bad/verify.err
'

test_expect_success 'each service restarts whatever its exit, within a second, belongs to deis.target, and starts with it' '
	for f in "$UNITS"/*.service; do
		grep -qx "Restart=always" "$f" &&
		grep -qx "RestartSec=1" "$f" &&
		grep -qx "PartOf=deis.target" "$f" &&
		grep -qx "WantedBy=deis.target" "$f" &&
		grep -qx "StandardOutput=append:/var/lib/deis/log/$(basename "$f" .service | sed "s/^deis-\(postgres\|redis\|rsyslog\|registry\)$/\1/").log" "$f" ||
		{ echo "$f"; return 1; }
	done
'

test_expect_success 'the daemons and PostgreSQL and rsyslog reload on SIGHUP' '
	for f in deisfs deis-builder deis-proxy deis-scheduler deis-postgres deis-rsyslog; do
		grep -qx "ExecReload=/bin/kill -HUP \$MAINPID" "$UNITS/$f.service" || { echo $f; return 1; }
	done
'

test_expect_success 'the paths are the Debian package'"'"'s' '
	grep -qx "ExecStart=/usr/sbin/deisfs --config=/etc/deis/deis.conf -f -o allow_other /deis" "$UNITS/deisfs.service" &&
	for d in builder proxy scheduler; do
		grep -qx "ExecStart=/usr/sbin/deis-$d --config=/etc/deis/deis.conf" "$UNITS/deis-$d.service" || return 1
	done
'

test_expect_success 'deisfs has no mount namespace of its own (its mount must be the host'"'"'s); nginx and the containers outlive a restart of their daemon' '
	! grep -E "^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|ReadWritePaths|ReadOnlyPaths|InaccessiblePaths|TemporaryFileSystem|PrivateMounts|ProtectKernelTunables|ProtectControlGroups)=" "$UNITS/deisfs.service" &&
	grep -qx "KillMode=process" "$UNITS/deis-proxy.service" &&
	grep -qx "KillMode=process" "$UNITS/deis-scheduler.service" &&
	grep -qx "Delegate=yes" "$UNITS/deis-scheduler.service"
'

test_done
