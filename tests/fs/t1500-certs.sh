#!/bin/bash
test_description='certs/<domain>.pem: a chain and key for TLS on a domain, checked at write'
. "$(dirname "$0")/../lib.sh"

APP="$DEIS_MOUNT/apps/tls"

test_expect_success 'setup' '
	mkdir "$APP" &&
	echo www.example.com >"$APP/domains" &&
	deis_make_cert good www.example.com 30 &&
	deis_make_cert wild "*.example.com" 30 &&
	deis_make_cert other www.other.org 30 &&
	deis_make_cert good2 www.example.com 30 &&
	cat good.crt good2.key >mismatch.pem &&
	mkdir -p ca/newcerts && : >ca/index.txt && echo 01 >ca/serial &&
	printf "[ca]\ndefault_ca = d\n[d]\ndir = ./ca\ndatabase = ./ca/index.txt\nnew_certs_dir = ./ca/newcerts\nserial = ./ca/serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n[p]\ncommonName = supplied\n" >ca.cnf &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout old.key -out old.csr -subj "/CN=www.example.com" \
		-addext "subjectAltName=DNS:www.example.com" 2>/dev/null &&
	openssl ca -batch -config ca.cnf -selfsign -keyfile old.key -in old.csr \
		-out old.crt -startdate 20200101000000Z -enddate 20200201000000Z 2>/dev/null &&
	cat old.crt old.key >expired.pem
'

test_expect_success 'a valid chain and key is stored and read back byte for byte' '
	cp good.pem "$APP/certs/www.example.com.pem" &&
	cmp good.pem "$APP/certs/www.example.com.pem" &&
	ls "$APP/certs" >actual &&
	echo www.example.com.pem >expect &&
	test_cmp expect actual &&
	test "$(stat -c %a "$APP/certs/www.example.com.pem")" = 600 &&
	test "$(deis_psql "SELECT count(*) FROM certs c JOIN apps a ON a.id = c.app_id WHERE a.name = '"'"'tls'"'"'")" = 1
'

test_expect_success 'a wildcard cert covers a wildcard domain' '
	cp wild.pem "$APP/certs/*.example.com.pem" &&
	cmp wild.pem "$APP/certs/*.example.com.pem"
'

test_expect_success 'a cert that does not match its key is refused with EINVAL' '
	deis_log_mark &&
	test_must_fail cp mismatch.pem "$APP/certs/api.example.com.pem" 2>err &&
	grep "Invalid argument" err &&
	test_wait_for 2 test_path_is_missing "$APP/certs/api.example.com.pem" &&
	deis_log_has_since_mark "certs/api.example.com.pem"
'

test_expect_success 'an expired cert is refused' '
	test_must_fail cp expired.pem "$APP/certs/www.example.com.pem" &&
	cmp good.pem "$APP/certs/www.example.com.pem"
'

test_expect_success 'a cert that does not cover the domain is refused' '
	test_must_fail cp other.pem "$APP/certs/www.example.com.pem" &&
	cmp good.pem "$APP/certs/www.example.com.pem"
'

test_expect_success 'garbage is refused' '
	echo "not a pem" >garbage &&
	test_must_fail cp garbage "$APP/certs/www.example.com.pem" &&
	test_must_fail cp good.crt "$APP/certs/www.example.com.pem" &&
	cmp good.pem "$APP/certs/www.example.com.pem"
'

test_expect_success 'a file name that is not <domain>.pem cannot be created' '
	test_must_fail cp good.pem "$APP/certs/www.example.com" &&
	test_must_fail cp good.pem "$APP/certs/bad_domain.pem" &&
	ls "$APP/certs" >actual &&
	printf "%s\n" "*.example.com.pem" www.example.com.pem >expect &&
	test_cmp expect actual
'

test_expect_success 'sed -i that breaks a cert fails and leaves it as it was' '
	cp good2.pem edit.pem &&
	cp "$APP/certs/www.example.com.pem" before.pem &&
	test_must_fail sed -i "s/^-----BEGIN/-----BOGUS/" "$APP/certs/www.example.com.pem" 2>err &&
	cmp before.pem "$APP/certs/www.example.com.pem" &&
	! ls "$APP/certs" | grep "^sed"
'

test_expect_success 'rm removes a cert' '
	rm "$APP/certs/*.example.com.pem" &&
	test_path_is_missing "$APP/certs/*.example.com.pem" &&
	test "$(deis_psql "SELECT count(*) FROM certs c JOIN apps a ON a.id = c.app_id WHERE a.name = '"'"'tls'"'"'")" = 1
'

test_expect_success 'cleanup' '
	deis_app_destroy tls
'

test_done
