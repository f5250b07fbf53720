#!/bin/bash
test_description='control files: formation, limits, domains, healthcheck, maintenance, perms, procfile; bad input'
. "$(dirname "$0")/../lib.sh"

APP="$DEIS_MOUNT/apps/ctl"

release_count() { deis_release_count ctl; }

test_expect_success 'setup' '
	mkdir "$APP" &&
	mkdir "$DEIS_MOUNT/apps/ctl-other"
'

# ---- formation

test_expect_success 'formation: "web=2 worker=1" is stored and read back one per line' '
	n=$(release_count) &&
	echo "web=2 worker=1" >"$APP/formation" &&
	printf "web=2\nworker=1\n" >expect &&
	test_cmp expect "$APP/formation" &&
	test "$(release_count)" = "$n" &&
	test "$(deis_psql "SELECT quantity FROM formation f JOIN apps a ON a.id = f.app_id WHERE a.name = '"'"'ctl'"'"' AND type = '"'"'web'"'"'")" = 2
'

test_expect_success 'formation: newlines work as separators; read-back is accepted as input' '
	printf "worker=3\nweb=1\n" >"$APP/formation" &&
	printf "web=1\nworker=3\n" >expect &&
	test_cmp expect "$APP/formation" &&
	cp "$APP/formation" f.copy &&
	cp f.copy "$APP/formation" &&
	test_cmp expect "$APP/formation"
'

test_expect_success 'formation: bad input fails with EINVAL and changes nothing' '
	printf "web=1\nworker=3\n" >expect &&
	for bad in "web=abc" "web=-1" "web=1001" "web" "=2" "Web=1" "web=1 web=2" "we b=1"; do
		test_must_fail bash -c "echo \"$bad\" >\"$APP/formation\"" 2>err &&
		grep "Invalid argument" err &&
		test_cmp expect "$APP/formation" || return 1
	done
'

test_expect_success 'formation: info shows it' '
	grep -x "formation: web=1 worker=3" "$APP/info"
'

test_expect_success 'once a build exists, types not in its Procfile are refused' '
	deis_psql "INSERT INTO builds (app_id, number, owner, commit, status, procfile)
		SELECT id, 1, '"'"'root'"'"', '"'"'1a2b3c4d5e'"'"', '"'"'succeeded'"'"',
		'"'"'{\"web\": \"python app.py\", \"clock\": \"python clock.py\"}'"'"'
		FROM apps WHERE name = '"'"'ctl'"'"';
		INSERT INTO releases (app_id, version, owner, summary, build_id)
		SELECT a.id, (SELECT max(version) + 1 FROM releases WHERE app_id = a.id),
		'"'"'root'"'"', '"'"'root deployed 1a2b3c4'"'"', b.id
		FROM apps a JOIN builds b ON b.app_id = a.id WHERE a.name = '"'"'ctl'"'"';
		UPDATE apps SET serial = serial + 1 WHERE name = '"'"'ctl'"'"'" &&
	deis_redis publish deis:events "app ctl" >/dev/null &&
	test_wait_for 10 test -s "$APP/procfile" &&
	printf "clock: python clock.py\nweb: python app.py\n" >expect &&
	test_cmp expect "$APP/procfile" &&
	test_must_fail bash -c "echo worker=1 >\"$APP/formation\"" 2>err &&
	grep "Invalid argument" err &&
	deis_log_has "process type .worker. is not in the current build" &&
	echo "web=2 clock=1" >"$APP/formation" &&
	printf "clock=1\nweb=2\n" >expect &&
	test_cmp expect "$APP/formation" &&
	grep -x "build: 1 (1a2b3c4)" "$APP/info"
'

test_expect_success 'procfile is read-only' '
	test_must_fail bash -c "echo web: x >\"$APP/procfile\"" 2>err &&
	grep "Permission denied" err
'

# ---- limits

test_expect_success 'limits: stored in a new release, read back canonical' '
	n=$(release_count) &&
	printf "web.memory=512M\nweb.cpu=0.5\n" >"$APP/limits" &&
	printf "web.cpu=0.5\nweb.memory=512M\n" >expect &&
	test_cmp expect "$APP/limits" &&
	test "$(release_count)" = $((n + 1)) &&
	grep -x "summary: root changed limits" "$APP/releases/current/info" &&
	cp "$APP/limits" l.copy && cp l.copy "$APP/limits" &&
	test "$(release_count)" = $((n + 1))
'

test_expect_success 'limits: bad input refused, nothing changes' '
	cp "$APP/limits" expect &&
	n=$(release_count) &&
	for bad in "web.memory=lots" "web.memory=1K" "web.cpu=0" "web.disk=1G" "web=1" "Web.cpu=1"; do
		test_must_fail bash -c "echo \"$bad\" >\"$APP/limits\"" 2>err &&
		grep "Invalid argument" err || return 1
	done &&
	test_cmp expect "$APP/limits" &&
	test "$(release_count)" = "$n"
'

# ---- domains

test_expect_success 'domains: one per line, appended with >>' '
	echo www.example.com >"$APP/domains" &&
	echo api.example.com >>"$APP/domains" &&
	printf "www.example.com\napi.example.com\n" >expect &&
	test_cmp expect "$APP/domains"
'

test_expect_success 'domains: a domain belongs to one app (EEXIST)' '
	test_must_fail bash -c "echo www.example.com >\"$DEIS_MOUNT/apps/ctl-other/domains\"" 2>err &&
	grep "File exists" err &&
	test_must_be_empty "$DEIS_MOUNT/apps/ctl-other/domains"
'

test_expect_success 'domains: values that could reach nginx config are refused' '
	printf "www.example.com\napi.example.com\n" >expect &&
	for bad in "x.com; include /etc/passwd" "x.com{" "-x.com" "x..com" "localhost" "x.com/path" "\$host.com"; do
		test_must_fail bash -c "printf \"%s\\n\" \"$bad\" >\"$APP/domains\"" 2>err &&
		grep "Invalid argument" err &&
		test_cmp expect "$APP/domains" || return 1
	done
'

test_expect_success 'domains: upper case is folded; a rewrite without a line removes it' '
	printf "WWW.Example.com\n" >"$APP/domains" &&
	echo www.example.com >expect &&
	test_cmp expect "$APP/domains" &&
	echo api.example.com >"$DEIS_MOUNT/apps/ctl-other/domains"
'

# ---- healthcheck, maintenance

test_expect_success 'healthcheck: parsed, stored, read back' '
	printf "path=/healthz\ntimeout=5\n" >"$APP/healthcheck" &&
	printf "path=/healthz\ntimeout=5\n" >expect &&
	test_cmp expect "$APP/healthcheck" &&
	test_must_fail bash -c "echo path=healthz >\"$APP/healthcheck\"" &&
	test_must_fail bash -c "echo timeout=0 >\"$APP/healthcheck\"" &&
	test_must_fail bash -c "echo colour=blue >\"$APP/healthcheck\"" &&
	test_cmp expect "$APP/healthcheck"
'

test_expect_success 'maintenance: on/off' '
	echo off >expect &&
	test_cmp expect "$APP/maintenance" &&
	echo on >"$APP/maintenance" &&
	echo on >expect &&
	test_cmp expect "$APP/maintenance" &&
	grep -x "maintenance: on" "$APP/info" &&
	test_must_fail bash -c "echo maybe >\"$APP/maintenance\"" &&
	test_cmp expect "$APP/maintenance" &&
	echo off >"$APP/maintenance"
'

# ---- perms

test_expect_success 'perms: user names one per line; unknown users refused' '
	echo root >"$APP/perms" &&
	echo root >expect &&
	test_cmp expect "$APP/perms" &&
	test_must_fail bash -c "echo no-such-user-xyz >\"$APP/perms\"" 2>err &&
	grep "Invalid argument" err &&
	test_must_fail bash -c "echo \"bad user\" >\"$APP/perms\"" &&
	test_cmp expect "$APP/perms" &&
	: >"$APP/perms" &&
	test_wait_for 5 test ! -s "$APP/perms"
'

# ---- general bad input

test_expect_success 'read-only files refuse writes with EACCES' '
	for f in info url git_url procfile logs; do
		test_must_fail bash -c "echo x >\"$APP/$f\"" 2>err &&
		grep "Permission denied" err || return 1
	done &&
	grep -x "name: ctl" "$APP/info"
'

test_expect_success 'a 10 MB write into a control file fails and changes nothing' '
	cp "$APP/formation" expect &&
	head -c 10000000 /dev/zero | tr "\\0" "1" >big &&
	test_must_fail cp big "$APP/formation" 2>err &&
	grep -E "File too large|Invalid argument" err &&
	test_cmp expect "$APP/formation" &&
	test_must_fail cp big "$APP/env" &&
	test_must_fail cp big "$APP/domains"
'

test_expect_success 'every refusal is explained in the daemon log' '
	deis_log_has "formation: .web=abc.: quantity" &&
	deis_log_has "is not a valid host name" &&
	deis_log_has "takes at most"
'

test_expect_success 'truncate and O_TRUNC work; a control file is never committed at O_TRUNC' '
	echo "web=1" >"$APP/formation" &&
	test_wait_for 2 grep -x "web=1" "$APP/formation" &&
	truncate -s 0 "$APP/formation" &&
	test_wait_for 2 test ! -s "$APP/formation"
'

test_expect_success 'cleanup' '
	deis_app_destroy ctl ctl-other
'

test_done
