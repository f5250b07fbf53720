#!/bin/bash
test_description='containers: a network namespace and an address each; tenant code reaches no platform service, no address of the host and no other app; every app may listen on the same $PORT; the outside through NAT'
. "$(dirname "$0")/../lib.sh"

A=$DEIS_MOUNT/apps
U=sec-netu
APP=secnet-a
OTHER=secnet-b
BR=$(conf_get "$DEIS_CONF" network_bridge)
HTTP=$(conf_get "$DEIS_CONF" http_port)
export A U APP OTHER BR HTTP

ct() {	# APP NAME FILE
	cat "$A/$1/containers/$2/$3"
}

# Every line of the probe's output says "closed".
all_closed() {	# FILE
	test -s "$1" && ! grep -v " closed$" "$1"
}

test_expect_success 'setup: a user with two apps, the hello app pushed to both' '
	deis_hello_app $U $APP src &&
	deis_as $U mkdir "$A/$OTHER" &&
	deis_git_commit src first &&
	deis_git_push $U $APP src &&
	deis_git_push $U $OTHER src &&
	echo web=2 >"$A/$APP/formation" &&
	test_wait_for 30 eval "test \"\$(ct $APP web.2 state)\" = up && test \"\$(ct $OTHER web.1 state)\" = up"
'

test_expect_success 'every container has an address of its own in the subnet, all on one $PORT' '
	a1=$(ct $APP web.1 address) && a2=$(ct $APP web.2 address) && b1=$(ct $OTHER web.1 address) &&
	test "${a1##*:}" = "${b1##*:}" && test "${a2##*:}" = "${b1##*:}" &&
	test "${a1%:*}" != "${a2%:*}" && test "${a1%:*}" != "${b1%:*}" &&
	python3 -c "import ipaddress, sys
net = ipaddress.ip_network(sys.argv[1])
for a in sys.argv[2:]:
    assert ipaddress.ip_address(a.rsplit(\":\", 1)[0]) in net, a" \
		"$(conf_get "$DEIS_CONF" network_subnet)" "$a1" "$a2" "$b1" &&
	curl -fsS --max-time 5 "http://$a1/" | grep "hello from web.1"
'

test_expect_success 'from a container, no platform port answers on loopback or on the host (bridge) address' '
	gw=$(deis_bridge_address) &&
	targets= &&
	for p in $(deis_platform_ports); do
		targets="$targets 127.0.0.1:$p $gw:$p"
	done &&
	test -n "$targets" &&
	deis_container_probe $U $APP $targets >probe &&
	cat probe &&
	test "$(wc -l <probe)" = "$(echo $targets | wc -w)" &&
	all_closed probe
'

test_expect_success 'the probe can see an open port: its own app answers' '
	deis_container_probe $U $APP "$(ct $APP web.1 address)" "$(ct $APP web.2 address)" >probe &&
	cat probe &&
	test "$(grep -c " open$" probe)" = 2
'

test_expect_success 'no container of another app answers, either way' '
	deis_container_probe $U $APP "$(ct $OTHER web.1 address)" >probe &&
	cat probe && all_closed probe &&
	deis_container_probe $U $OTHER "$(ct $APP web.1 address)" "$(ct $APP web.2 address)" >probe &&
	cat probe && all_closed probe
'

test_expect_success 'a container sees only its own interfaces and sockets, and cannot change them' '
	deis_run_in $U $APP "cat /proc/net/dev; ip link set eth0 down && echo CHANGED; ip addr add 10.9.9.9/32 dev eth0 && echo CHANGED; true" >out 2>&1 &&
	cat out &&
	grep -q "^ *lo:" out && grep -q "^ *eth0:" out &&
	test "$(grep -c "^ *[a-z0-9]*:" out)" = 2 &&
	! grep -q CHANGED out &&
	deis_run_in $U $APP "cat /proc/net/tcp /proc/net/tcp6" >out &&
	for p in $(deis_platform_ports); do
		hex=$(printf "%04X" "$p") &&
		! grep -q ":$hex 00000000:0000 0A" out || return 1
	done
'

test_expect_success 'every app may listen on the same port, on :: too: binding another app'"'"'s port squats nothing' '
	port=$(ct $OTHER web.1 port) &&
	deis_run_in $U $APP "python3 -c \"import socket
for fam, host in ((socket.AF_INET, \\\"0.0.0.0\\\"), (socket.AF_INET6, \\\"::\\\")):
    s = socket.socket(fam); s.bind((host, $port)); s.listen(); print(\\\"bound\\\", host)\"" >out 2>&1 &&
	cat out &&
	test "$(grep -c "^bound" out)" = 2 &&
	old=$(ct $OTHER web.1 address) &&
	rmdir "$A/$OTHER/containers/web.1" &&
	test_wait_for 30 eval "test \"\$(ct $OTHER web.1 address)\" != $old && test \"\$(ct $OTHER web.1 state)\" = up" &&
	test_wait_for 10 eval "curl -fsS --max-time 5 -H \"Host: $OTHER.localhost\" http://127.0.0.1:$HTTP/ | grep -q \"hello from web.1\""
'

# A host of the test's own "outside", in a namespace, one hop from the
# host: what leaves a container must come from the host (masquerade), and
# the host's own address on that link must not answer a container.
test_expect_success ROOT 'the outside world is reached through NAT, never the host itself' '
	sub=$(free_subnet) && pre=${sub%.0/24} &&
	ns=dto$$ hv=dto$$h &&
	test_when_finished "kill \$(cat srv.pid 2>/dev/null) 2>/dev/null; ip netns del $ns 2>/dev/null; ip link del $hv 2>/dev/null; :" &&
	ip netns add $ns &&
	ip link add $hv type veth peer name eth0 netns $ns &&
	ip addr add "$pre.1/30" dev $hv && ip link set $hv up &&
	ip -n $ns addr add "$pre.2/30" dev eth0 && ip -n $ns link set eth0 up &&
	ip -n $ns link set lo up &&
	(ip netns exec $ns python3 -c "import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = self.client_address[0].encode()
        self.send_response(200); self.send_header(\"Content-Length\", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.HTTPServer((\"$pre.2\", 8080), H).serve_forever()" >/dev/null 2>&1 &
	 echo $! >srv.pid) &&
	test_wait_for 10 curl -fsS --max-time 2 "http://$pre.2:8080/" &&
	deis_run_in $U $APP "python3 -c \"import urllib.request; print(urllib.request.urlopen(\\\"http://$pre.2:8080/\\\", timeout=5).read().decode())\"" >out &&
	cat out &&
	test "$(cat out)" = "$pre.1" &&
	deis_container_probe $U $APP "$pre.1:22" "$pre.1:$HTTP" >probe &&
	cat probe && all_closed probe
'

test_expect_success 'the firewall is the platform'"'"'s own: its tables name the bridge' '
	nft list table bridge "deis_$BR" >rules &&
	grep -q "ip saddr vmap @src" rules &&
	nft list table inet "deis_$BR" >rules &&
	grep -q "iifname \"$BR\" drop" rules
'

test_expect_success ROOT 'a network made and removed leaves no namespace, bridge or rule behind' '
	br=dtn$$ && st=$TRASH_DIRECTORY/net &&
	net() { "$DEIS_BUILD/tests/unit/net_tool" --bridge=$br --subnet=$(cat sub) --state=$st "$@"; } &&
	free_subnet >sub &&
	test_when_finished "net teardown >/dev/null 2>&1 || :" &&
	net setup && net attach x.web.1.1 x >ep && net attach y.web.1.2 y >>ep &&
	test "$(ls /run/netns | grep -c "^$br-")" = 2 &&
	net teardown &&
	test "$(ls /run/netns | grep -c "^$br-")" = 0 &&
	! ip link show $br 2>/dev/null &&
	! nft list table bridge deis_$br 2>/dev/null &&
	! nft list table inet deis_$br 2>/dev/null &&
	test_path_is_missing "$st"
'

# The kernel gives a bridge whose address nobody set the lowest address of
# its ports, and another when that port leaves: the containers' ARP entries
# for the host then name an address nobody answers, and their replies to the
# router are lost for seconds (requests hung after a container stopped).
test_expect_success ROOT 'the bridge keeps its MAC address while containers come and go' '
	br=dtm$$ && st=$TRASH_DIRECTORY/netm &&
	net() { "$DEIS_BUILD/tests/unit/net_tool" --bridge=$br --subnet=$(cat sub) --state=$st "$@"; } &&
	free_subnet >sub &&
	test_when_finished "net teardown >/dev/null 2>&1 || :" &&
	net setup &&
	mac=$(cat /sys/class/net/$br/address) &&
	for i in 1 2 3 4; do net attach m.web.$i.$i m >/dev/null || return 1; done &&
	test "$(cat /sys/class/net/$br/address)" = "$mac" &&
	for i in 1 2 3 4; do
		net detach m.web.$i.$i m &&
		test "$(cat /sys/class/net/$br/address)" = "$mac" || return 1
	done &&
	test "$(cat /sys/class/net/$br/addr_assign_type)" = 3
'

test_expect_success 'cleanup: the apps go, and with them their namespaces; the key' '
	deis_app_destroy $APP $OTHER &&
	test_wait_for 30 eval "! ls /run/netns | grep -q \"^$BR-secnet-\"" &&
	deis_keys_remove $U
'

test_done
