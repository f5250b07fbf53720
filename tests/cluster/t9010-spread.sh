#!/bin/bash
test_description='swarm backend: web=6 spreads over the 3 nodes; every instance answers on its node address and published port'
. "$(dirname "$0")/lib.sh"
. "$DEIS_SRC/tests/cluster/swarm-lib.sh"

# The backend alone (swarm-lib.sh); through the platform once the nodes
# have one: `echo web=6 > formation` and the routers' answers.
APP=spread$$

test_expect_success 'the lab and the tool are there' '
	test -n "$B" && test -S "$B/n1/d.sock" && test -x "$TOOL" &&
	"$TOOL" --swarm_socket="$B/n1/d.sock" nodes >nodes &&
	test "$(awk "\$4 == \"ready\"" nodes | wc -l)" -ge 3
'

test_expect_success 'web=6: six instances up within 120 s' '
	t0=$(ms) &&
	keep_start "$APP" 6 &&
	test_wait_for 120 up_count 6 &&
	lab_measured "web=6 up (create to the last running):" "$(( $(ms) - t0 )) ms"
'

test_expect_success 'at least one on every node (3 each way: 2 + 2 + 2 expected)' '
	awk "{ print \$2 }" state | sort | uniq -c >per-node &&
	cat per-node &&
	test "$(wc -l <per-node)" = 3 &&
	lab_measured "web=6 per node:" "$(awk "{ printf \"%s=%s \", \$2, \$1 }" per-node)"
'

test_expect_success 'each answers 200 at its node address and published port' '
	while read -r name node addr port st; do
		test "$port" -gt 0 &&
		test "$addr" = "$NET.${node#node}" &&
		code=$(lab_curl "http://$addr:$port/" -o /dev/null -w "%{http_code}") &&
		test "$code" = 200 || { echo "$name on $node $addr:$port: $code"; return 1; }
	done <state
'

test_expect_success '200 requests over the six: all 200' '
	for k in $(seq 200); do
		line=$(sed -n "$(( k % 6 + 1 ))p" state) &&
		set -- $line &&
		lab_curl "http://$3:$4/" -o /dev/null -w "%{http_code}\n" || echo fail
	done >codes &&
	test "$(grep -cx 200 codes)" = 200
'

test_expect_success 'the services carry the labels the scheduler adopts by' '
	app_services "$APP" >svcs &&
	test "$(jq length svcs)" = 6 &&
	jq -r ".[].Spec.Labels[\"io.deis.type\"]" svcs | sort -u >types &&
	echo web >expect && test_cmp expect types &&
	jq -r ".[].Spec.TaskTemplate.RestartPolicy.Condition" svcs | sort -u >cond &&
	echo none >expect && test_cmp expect cond
'

test_expect_success 'stopped: every service of the app removed' '
	keep_stop &&
	app_services "$APP" >svcs &&
	test "$(jq length svcs)" = 0
'

test_done
