#!/bin/bash
# Steering traffic into a site: the three recipes of README.md "Steering traffic into a site"
# and xfrmctl(8) EXAMPLES, each asserted on the traffic it steers and the traffic it leaves.
#   test/netns/steering.sh BUILD_DIR
#
#   ikdst-l (LAN host)   10.1.0.10  -- lan    --+
#   ikdst-g (guest host) 10.1.50.10 -- lan.50 --+ ikdst-r (branch, ikd initiator) 192.0.2.1
#                                                      -- bridge in ikdst-w --
#                                                 ikdst-p (pop1, ikd responder)    192.0.2.2
#                                                   serves 10.2.0.1 on TCP 80, 443 and 8080
# pop2 (192.0.2.3) is a backup POP that accepts no new tunnels, so it is skipped.
#
# 1. fwmark: nftables on the branch marks the LAN's TCP 80 and 443 with 0x10; site 'shop' has
#    mark 0x10/0xff: those ports go through the tunnel, TCP 8080 leaves in clear text.
# 2. Guest VLAN: everything from 10.1.50.0/24 (VLAN 50) is marked 0x20; site 'guest' (traffic
#    Guest Wifi, its own selectors and mark 0x20/0xff) carries it over its own SAs.
# 3. Route-based: site 'shop' edited to if-id 12, an xfrm interface ipsec12 and an ip rule send
#    the LAN's traffic for 10.2.0.0/24 into it, every port; without the route it leaves in clear.
# 4. A default route split by mark: site 'shop' back on mark 0x10 with remote-ts 0.0.0.0/0;
#    unmarked traffic from the LAN to the Internet goes and comes back in clear.
# Where the traffic went is read from the SAs' packet counters (kernel) and from nftables
# counters at pop1's WAN, which tell decapsulated packets (meta ipsec exists) from clear ones.
# On a kernel without ESP (the host) the Child SAs fail: the policies' marks and if_id are
# asserted, marked traffic must be blocked (fail-closed) while unmarked traffic leaves in
# clear, and the rest says it needs ESP (the VM runs it). Exit 0 pass, 1 fail, 77 skipped.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/steering.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "steering.sh: needs root for namespaces: skipped"; exit 77; }
command -v nft >/dev/null || { echo "steering.sh: nftables is not installed: skipped"; exit 77; }
py=$(command -v /usr/bin/python3 python3 | head -n 1)
[ -n "$py" ] || { echo "steering.sh: python3 is not installed: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
work=$(mktemp -d /tmp/ikdst.XXXXXX)
me=steering.sh
prefix=ikdst
. "$(dirname "$0")/lib.sh"
note() { echo "$me: $*"; }
ctl() { local who=$1; shift; ip netns exec "ikdst-$who" "$xfrmctl" -s "$work/$who.sock" "$@"; }

# ---- the network ----
ns_bridge r p	# the branch's WAN ikdst-r 192.0.2.1, pop1's ikdst-p 192.0.2.2
for n in l g; do ip netns add "ikdst-$n"; ip -n "ikdst-$n" link set lo up; done
ip link add lan netns ikdst-r type veth peer name eth0 netns ikdst-l
ip -n ikdst-r addr add 10.1.0.1/24 dev lan
ip -n ikdst-l addr add 10.1.0.10/24 dev eth0
ip -n ikdst-r link set lan up
ip -n ikdst-l link set eth0 up
ip -n ikdst-l route add default via 10.1.0.1
# The guest LAN is VLAN 50 on the same wire: the guest host's end is a VLAN device moved
# into its own namespace. A kernel without 802.1Q (the host) gets a veth named the same.
if ip -n ikdst-r link add link lan name lan.50 type vlan id 50 2>/dev/null; then
	ip -n ikdst-l link add link eth0 name eth0.50 type vlan id 50
	ip -n ikdst-l link set eth0.50 netns ikdst-g
	note "guest LAN: VLAN 50 (lan.50 on the branch)"
else
	ip link add lan.50 netns ikdst-r type veth peer name eth0.50 netns ikdst-g
	note "guest LAN: no 802.1Q in this kernel, a veth named lan.50 stands in for VLAN 50"
fi
ip -n ikdst-r addr add 10.1.50.1/24 dev lan.50
ip -n ikdst-g addr add 10.1.50.10/24 dev eth0.50
ip -n ikdst-r link set lan.50 up
ip -n ikdst-g link set eth0.50 up
ip -n ikdst-g route add default via 10.1.50.1
ip netns exec ikdst-r sysctl -qw net.ipv4.ip_forward=1
# The clear path to the cloud: what no steering rule takes goes out of the WAN as it is.
ip -n ikdst-r route add 10.2.0.0/24 via 192.0.2.2
ip -n ikdst-p addr add 10.2.0.1/32 dev lo
ip -n ikdst-p route add 10.1.0.0/16 via 192.0.2.1 src 10.2.0.1

# pop1's WAN: every TCP packet for the services, by port, decapsulated from ESP or clear.
ip netns exec ikdst-p nft -f - <<'NFT'
table inet ikdst {
	chain wan {
		type filter hook prerouting priority raw; policy accept;
		ip daddr 10.2.0.1 tcp dport 80 meta ipsec exists counter name "esp_80"
		ip daddr 10.2.0.1 tcp dport 80 meta ipsec missing counter name "clear_80"
		ip daddr 10.2.0.1 tcp dport 443 meta ipsec exists counter name "esp_443"
		ip daddr 10.2.0.1 tcp dport 443 meta ipsec missing counter name "clear_443"
		ip daddr 10.2.0.1 tcp dport 8080 meta ipsec exists counter name "esp_8080"
		ip daddr 10.2.0.1 tcp dport 8080 meta ipsec missing counter name "clear_8080"
	}
	counter esp_80 { }
	counter clear_80 { }
	counter esp_443 { }
	counter clear_443 { }
	counter esp_8080 { }
	counter clear_8080 { }
}
NFT
mkdir -p "$work/www"
echo "cloud service" >"$work/www/index.html"
# One interpreter serves the three ports (each start costs seconds under emulation).
ip netns exec ikdst-p "$py" -c '
import functools, http.server, sys, threading
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
for port in (80, 443, 8080):
	s = http.server.ThreadingHTTPServer(("10.2.0.1", port), h)
	threading.Thread(target=s.serve_forever, daemon=True).start()
print("serving", flush=True)
threading.Event().wait()' "$work/www" >"$work/http.log" 2>&1 &
echo $! >"$work/http.pid"

have_esp=0
esp_here && have_esp=1

# ---- ikd on both sides, configured with xfrmctl ----
umask 077
for who in r p; do
	role=$([ $who = r ] && echo initiator || echo responder)
	cat >"$work/$who.conf" <<CONF
role = $role
store = $work/$who.store
control-socket = $work/$who.sock
identity = pop1.example.net
retransmit-timeout = 500
reconnect-min = 1
reconnect-max = 4
# The SA counters below must see the test's traffic alone, not the probe's echoes.
probe = no
CONF
	# The branch's operator tunes the kernel's policy hash thresholds itself.
	[ $who = r ] && echo "policy-hash-thresholds = keep" >>"$work/$who.conf"
	ip netns exec "ikdst-$who" "$ikd" -c "$work/$who.conf" -d >"$work/$who.log" 2>&1 &
	echo $! >"$work/$who.pid"
done
for who in r p; do
	for _ in $(seq 100); do [ -S "$work/$who.sock" ] && break; sleep 0.1; done
done
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/shop.psk"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/guest.psk"
for who in r p; do
	ctl $who pop add pop1 gateway 192.0.2.2 probe-ip 10.2.0.1 ike-id pop1.example.net >/dev/null
	ctl $who pop add pop2 gateway 192.0.2.3 probe-ip 10.2.0.1 accepting no >/dev/null
done
# The same records on both sides but for mark and if-id, the branch's own steering: ikd
# applies them wherever it runs, and on pop1 they would keep its replies out of the tunnel.
shop=(id fqdn:shop.example.com source-ip 192.0.2.1 primary pop1 backups pop2 traffic Mixed
      local-ts 10.1.0.0/24 remote-ts 10.2.0.0/24 psk-file "$work/shop.psk")
guest=(id fqdn:guest.example.com source-ip 192.0.2.1 primary pop1 backups pop2
       traffic "Guest Wifi" local-ts 10.1.50.0/24 remote-ts 10.2.0.0/24 psk-file "$work/guest.psk")
ctl p site add shop "${shop[@]}" >/dev/null || fail "pop1: xfrmctl site add shop"
ctl p site add guest "${guest[@]}" >/dev/null || fail "pop1: xfrmctl site add guest"
ctl r site add shop "${shop[@]}" mark 0x10/0xff >/dev/null || fail "branch: xfrmctl site add shop"
ctl r site add guest "${guest[@]}" mark 0x20/0xff >/dev/null || fail "branch: xfrmctl site add guest"
ctl r site list

# The engineer's steering rules on the branch: recipes 1 and 2. The mark is set in prerouting
# (priority mangle), before the forward route and XFRM policy lookup that use it.
ip netns exec ikdst-r nft -f - <<'NFT'
table inet steer {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		iifname "lan" ip saddr 10.1.0.0/24 tcp dport { 80, 443 } meta mark set 0x10
		iifname "lan.50" ip saddr 10.1.50.0/24 meta mark set 0x20
	}
}
NFT

wait_for "$work/http.log" serving 20 || fail "the web servers on pop1 did not start: $(cat "$work/http.log")"
for s in shop guest; do
	if wait_for "$work/r.log" "site '$s' pop 'pop1': IKE SA up" 20 &&
	   wait_for "$work/p.log" "site '$s' .*IKE SA up" 5; then
		pass "site '$s': IKE SA up between the branch and pop1"
	else
		fail "site '$s': no IKE SA to pop1"
	fi
done
grep -q "site 'shop': pop 'pop2' skipped (not accepting new tunnels)" "$work/r.log" &&
	pass "the backup pop2, not accepting, is skipped" || fail "pop2 was not skipped"

ip -n ikdst-r -s -s xfrm policy count | grep -q 'IPv4 thresholds: local 32 remote 32' &&
	! grep -q "policy hash thresholds" "$work/r.log" &&
	pass "policy-hash-thresholds = keep: the branch left the kernel's thresholds alone" ||
	fail "keep: $(ip -n ikdst-r -s -s xfrm policy count | grep IPv4)"

# The branch's policies carry each site's mark on the outbound direction only.
pol=$(ip -n ikdst-r xfrm policy)
out_has() {	# out_has SRC DST PATTERN: the outbound policy SRC -> DST shows PATTERN
	echo "$pol" | awk -v s="src $1 dst $2" 'index($0, s) == 1 { on = 1; next }
		/^src / { on = 0 } on' | grep -q "dir out" &&
	echo "$pol" | awk -v s="src $1 dst $2" 'index($0, s) == 1 { on = 1; next }
		/^src / { on = 0 } on' | grep -q -- "$3"
}
out_has 10.1.0.0/24 10.2.0.0/24 "mark 0x10/0xff" &&
	pass "site 'shop': the outbound policy has mark 0x10/0xff" ||
	{ fail "site 'shop': no outbound policy with mark 0x10/0xff"; echo "$pol"; }
out_has 10.1.50.0/24 10.2.0.0/24 "mark 0x20/0xff" &&
	pass "site 'guest': the outbound policy has mark 0x20/0xff" ||
	{ fail "site 'guest': no outbound policy with mark 0x20/0xff"; echo "$pol"; }

# get PORT NS [SECONDS]: GET / from 10.2.0.1:PORT in namespace ikdst-NS; the body, or nothing
get() {
	ip netns exec "ikdst-$2" timeout "${3:-5}" bash -c 'exec 3<>"/dev/tcp/10.2.0.1/$0" &&
		printf "GET / HTTP/1.0\r\n\r\n" >&3 && cat <&3' "$1" 2>/dev/null | tail -n 1
}
# spis SITE: "in out" of the site's newest Child SA, from the branch's log
spis() {
	grep "site '$1' pop 'pop1': IKE SA up .*Child SA up\|site '$1' pop 'pop1': Child SA .*rekeyed" \
		"$work/r.log" | tail -n 1 | sed -n 's/.*spi in \([0-9a-f]*\) out \([0-9a-f]*\).*/\1 \2/p'
}
# sa_packets STATE SPI: packets counted on that SA in STATE, the output of ip -s xfrm state
sa_packets() {
	printf '%s\n' "$1" | awk -v spi="spi 0x$2" '
		/^src / { on = 0; cur = 0 }
		index($0, spi "(") || index($0, spi " ") { on = 1 }
		on && /lifetime current:/ { cur = 1; next }
		on && cur { sub(/^[ \t]*/, ""); split($0, f, /[(), ]+/); print f[3]; exit }'
}
# count_all PREFIX: the packet counters of the sites' SAs (branch out and in, pop1 in) and of
# pop1's WAN (nft), as shell variables: PREFIX_shop_out, PREFIX_esp_80 ...
count_all() {
	local p=$1 s in out sr sp
	sr=$(ip -n ikdst-r -s xfrm state)
	sp=$(ip -n ikdst-p -s xfrm state)
	for s in shop guest; do
		read -r in out <<<"$(spis $s)"
		eval "${p}_${s}_out=$(sa_packets "$sr" "${out:-0}")"
		eval "${p}_${s}_in=$(sa_packets "$sr" "${in:-0}")"
		eval "${p}_${s}_pop=$(sa_packets "$sp" "${out:-0}")"
	done
	eval "$(ip netns exec ikdst-p nft list counters table inet ikdst | awk -v p="$p" '
		$1 == "counter" { n = $2 }
		$1 == "packets" && n != "" { print p "_" n "=" $2; n = "" }')"
}
# ctl_packets SITE KEY: KEY summed over the site's Child SAs, as `xfrmctl -j sa list` says
ctl_packets() {
	ctl r -j sa list 2>/dev/null | "$py" -c '
import json, sys
def walk(o):
	if isinstance(o, dict):
		if o.get("type") == "child" and o.get("site") == sys.argv[1]:
			yield int(o.get(sys.argv[2], 0))
		for v in o.values():
			yield from walk(v)
	elif isinstance(o, list):
		for v in o:
			yield from walk(v)
try:
	print(sum(walk(json.load(sys.stdin))))
except ValueError:
	print(-1)' "$1" "$2"
}
d() { echo $(( ${2:-0} - ${1:-0} )); }	# d BEFORE AFTER

if [ "$have_esp" = 1 ]; then
	for s in shop guest; do
		wait_for "$work/r.log" "site '$s' pop 'pop1': IKE SA up .*Child SA up" 5 &&
		[ -n "$(spis $s)" ] || fail "site '$s': no Child SA logged"
		grep -q "site '$s' pop 'pop1': kernel refused" "$work/r.log" && fail "site '$s': Child SA install failed"
	done
	wait_for "$work/r.log" "site 'guest': traffic to pop 'pop1'" 5 || true

	# ---- 1: fwmark ----
	count_all a
	body80=$(get 80 l)
	body443=$(get 443 l)
	count_all b
	[ "$body80" = "cloud service" ] && pass "fwmark: TCP 80 from the LAN is answered" ||
		fail "fwmark: no answer on TCP 80 ('$body80')"
	[ "$body443" = "cloud service" ] && pass "fwmark: TCP 443 from the LAN is answered" ||
		fail "fwmark: no answer on TCP 443 ('$body443')"
	if [ "$(d "$a_esp_80" "$b_esp_80")" -gt 0 ] && [ "$(d "$a_esp_443" "$b_esp_443")" -gt 0 ] &&
	   [ "$(d "$a_clear_80" "$b_clear_80")" = 0 ] && [ "$(d "$a_clear_443" "$b_clear_443")" = 0 ]; then
		pass "fwmark: TCP 80 and 443 reach pop1 only through ESP ($(d "$a_esp_80" "$b_esp_80") and $(d "$a_esp_443" "$b_esp_443") packets decapsulated, none clear)"
	else
		fail "fwmark: TCP 80/443 at pop1: esp $(d "$a_esp_80" "$b_esp_80")/$(d "$a_esp_443" "$b_esp_443"), clear $(d "$a_clear_80" "$b_clear_80")/$(d "$a_clear_443" "$b_clear_443")"
	fi
	n=$(d "$a_shop_pop" "$b_shop_pop")
	r=$(d "$a_shop_in" "$b_shop_in")
	if [ "$n" -gt 0 ] && [ "$r" -gt 0 ]; then
		pass "fwmark: site 'shop' SAs counted the requests ($n packets in at pop1) and the replies ($r in at the branch)"
	else
		fail "fwmark: site 'shop' SA counters: $n packets in at pop1, $r replies at the branch"
	fi
	[ "$(d "$a_guest_out" "$b_guest_out")" = 0 ] && pass "fwmark: site 'guest' SAs untouched" ||
		fail "fwmark: site 'guest' SA counted $(d "$a_guest_out" "$b_guest_out") packets of the shop LAN"

	count_all a
	body8080=$(get 8080 l 2)
	count_all b
	if [ "$(d "$a_clear_8080" "$b_clear_8080")" -gt 0 ] && [ "$(d "$a_esp_8080" "$b_esp_8080")" = 0 ]; then
		pass "fwmark: TCP 8080 is not marked and leaves in clear ($(d "$a_clear_8080" "$b_clear_8080") clear packets at pop1)"
	else
		fail "fwmark: TCP 8080 at pop1: esp $(d "$a_esp_8080" "$b_esp_8080"), clear $(d "$a_clear_8080" "$b_clear_8080")"
	fi
	[ "$(d "$a_shop_out" "$b_shop_out")" = 0 ] && [ "$(d "$a_shop_pop" "$b_shop_pop")" = 0 ] &&
		pass "fwmark: site 'shop' SA counters unchanged by TCP 8080" ||
		fail "fwmark: TCP 8080 went into site 'shop' ($(d "$a_shop_out" "$b_shop_out") packets)"
	# Between the site's selectors IPsec wants ESP both ways: pop1's inbound policy drops the
	# clear request (and the branch's forward policy would drop a clear reply). Unmarked
	# traffic is for destinations outside remote-ts; README.md says so.
	if [ -n "$body8080" ]; then
		note "fwmark: the clear TCP 8080 request was answered"
	else
		note "fwmark: the clear TCP 8080 request was not answered (pop1's inbound policy requires ESP for 10.1.0.0/24)"
	fi

	# ---- 2: guest VLAN ----
	count_all a
	c0=$(ctl_packets guest packets_out)
	g80=$(get 80 g)
	g8080=$(get 8080 g)
	count_all b
	[ "$g80" = "cloud service" ] && [ "$g8080" = "cloud service" ] &&
		pass "guest VLAN: TCP 80 and 8080 from 10.1.50.10 are answered" ||
		fail "guest VLAN: answers '$g80' (80), '$g8080' (8080)"
	n=$(d "$a_guest_pop" "$b_guest_pop")
	r=$(d "$a_guest_in" "$b_guest_in")
	[ "$n" -gt 0 ] && [ "$r" -gt 0 ] &&
		pass "guest VLAN: site 'guest' SAs counted it ($n packets in at pop1, $r replies at the branch)" ||
		fail "guest VLAN: site 'guest' SA counters: $n in at pop1, $r at the branch"
	[ "$(d "$a_clear_8080" "$b_clear_8080")" = 0 ] && [ "$(d "$a_clear_80" "$b_clear_80")" = 0 ] &&
		pass "guest VLAN: nothing of it reached pop1 in clear" ||
		fail "guest VLAN: clear packets at pop1 (80: $(d "$a_clear_80" "$b_clear_80"), 8080: $(d "$a_clear_8080" "$b_clear_8080"))"
	c1=$(ctl_packets guest packets_out)
	if [ "$c0" -ge 0 ] && [ "$(d "$c0" "$c1")" -gt 0 ]; then
		pass "guest VLAN: xfrmctl sa list shows it on site 'guest' ($(d "$c0" "$c1") packets out)"
	else
		fail "guest VLAN: xfrmctl -j sa list: site 'guest' packets_out $c0 -> $c1"
		ctl r -j sa list
	fi
	[ "$(d "$a_shop_out" "$b_shop_out")" = 0 ] && pass "guest VLAN: site 'shop' SAs untouched" ||
		fail "guest VLAN: site 'shop' counted $(d "$a_shop_out" "$b_shop_out") guest packets"
else
	note "no ESP in this kernel: the Child SAs fail and the traffic through them needs ESP (test/vm/boot runs it)"
	grep -q "site 'shop' pop 'pop1': the POP refused the Child SA: NO_PROPOSAL_CHOSEN" "$work/r.log" &&
		grep -q "site 'shop' .*kernel refused the Child SA.*answered NO_PROPOSAL_CHOSEN" "$work/p.log" &&
		pass "no ESP: pop1 says its kernel refused the Child SA, the branch that pop1 refused it" ||
		fail "no clear error about the Child SA install"
	# No usable POP: the marked traffic meets the site's blocking policy, the rest goes out.
	blocked() { ip netns exec ikdst-r awk '$1 == "XfrmOutPolBlock" { print $2 }' /proc/net/xfrm_stat; }
	count_all a
	k0=$(blocked)
	get 80 l 2 >/dev/null
	get 443 l 2 >/dev/null
	count_all b
	k1=$(blocked)
	[ "$(d "$a_clear_80" "$b_clear_80")" = 0 ] && [ "$(d "$a_clear_443" "$b_clear_443")" = 0 ] &&
	[ "$(d "$k0" "$k1")" -gt 0 ] &&
		pass "fwmark: marked TCP 80 and 443 meet the blocking policy of site 'shop' (fail-closed, XfrmOutPolBlock +$(d "$k0" "$k1")), none in clear" ||
		fail "fwmark without a Child SA: clear packets at pop1: 80: $(d "$a_clear_80" "$b_clear_80"), 443: $(d "$a_clear_443" "$b_clear_443"); XfrmOutPolBlock +$(d "$k0" "$k1")"
	count_all a
	get 8080 l 2 >/dev/null
	count_all b
	[ "$(d "$a_clear_8080" "$b_clear_8080")" -gt 0 ] &&
		pass "fwmark: unmarked TCP 8080 leaves in clear ($(d "$a_clear_8080" "$b_clear_8080") packets at pop1)" ||
		fail "fwmark: unmarked TCP 8080 did not reach pop1 in clear"
	count_all a
	k0=$(blocked)
	get 8080 g 2 >/dev/null
	count_all b
	k1=$(blocked)
	[ "$(d "$a_clear_8080" "$b_clear_8080")" = 0 ] && [ "$(d "$k0" "$k1")" -gt 0 ] &&
		pass "guest VLAN: everything from 10.1.50.0/24 meets the blocking policy of site 'guest', none in clear" ||
		fail "guest VLAN without a Child SA: $(d "$a_clear_8080" "$b_clear_8080") clear packets at pop1, XfrmOutPolBlock +$(d "$k0" "$k1")"
fi

# ---- 3: route-based, an xfrm interface ----
# The marks are gone with the rules; the site moves from mark 0x10 to the interface's if_id.
ip netns exec ikdst-r nft delete table inet steer
n=$(grep -c "site 'shop' pop 'pop1': IKE SA up" "$work/r.log")
ctl r site edit shop mark 0 if-id 12 || fail "xfrmctl site edit shop mark 0 if-id 12"
wait_count "$work/r.log" "site 'shop' pop 'pop1': IKE SA up" $((n + 1)) 20 ||
	fail "site 'shop': no new IKE SA after the edit"
sleep 0.5
pol=$(ip -n ikdst-r xfrm policy)
out_has 10.1.0.0/24 10.2.0.0/24 "if_id 0xc" &&
	pass "route-based: site 'shop' outbound policy has if_id 12" ||
	{ fail "route-based: no outbound policy with if_id 12"; echo "$pol"; }
# The edit replaces the site's policies: none from before (mark 0x10/0xff, no if_id) is left.
sel=$(echo "$pol" | grep -c "^src 10.1.0.0/24 dst 10.2.0.0/24 \|^src 10.2.0.0/24 dst 10.1.0.0/24 ")
n=$(echo "$pol" | grep -c "if_id 0xc")
if [ "$sel" = 3 ] && [ "$n" = 3 ]; then
	pass "route-based: the edit replaced the site's policies: out, in and fwd, each with if_id 12"
else
	fail "route-based: after 'site edit shop mark 0 if-id 12' the kernel holds $sel policies for the site's selectors, $n with if_id 12 (expected 3 and 3)"
	echo "$pol" | awk '/^src 10.1.0.0\/24 dst 10.2.0.0\/24 |^src 10.2.0.0\/24 dst 10.1.0.0\/24 / { on = 1 }
		/^src / && !/^src 10.1.0.0\/24 dst 10.2.0.0\/24 |^src 10.2.0.0\/24 dst 10.1.0.0\/24 / { on = 0 } on'
fi

if ip -n ikdst-r link add ipsec12 type xfrm if_id 12 2>"$work/xfrmi.err"; then
	ip -n ikdst-r link set ipsec12 up
	ip -n ikdst-r route add 10.2.0.0/24 dev ipsec12 table 12
	ip -n ikdst-r rule add iif lan from 10.1.0.0/24 to 10.2.0.0/24 lookup 12 priority 1000
	have_xfrmi=1
else
	have_xfrmi=0
	note "route-based: no xfrm interface in this kernel ($(cat "$work/xfrmi.err")): the VM runs it"
fi
if [ "$have_esp" = 1 ] && [ "$have_xfrmi" = 1 ]; then
	tx() { ip -n ikdst-r -s link show ipsec12 | awk '/TX:/ { getline; print $2; exit }'; }
	count_all a
	t0=$(tx)
	body=$(get 8080 l)
	body80=$(get 80 l)
	count_all b
	t1=$(tx)
	[ "$body" = "cloud service" ] && [ "$body80" = "cloud service" ] &&
		pass "route-based: TCP 8080 and 80 from the LAN are answered" ||
		fail "route-based: answers '$body' (8080), '$body80' (80)"
	n=$(d "$a_shop_pop" "$b_shop_pop")
	r=$(d "$a_shop_in" "$b_shop_in")
	[ "$n" -gt 0 ] && [ "$r" -gt 0 ] && [ "$(d "$t0" "$t1")" -gt 0 ] &&
		pass "route-based: through ipsec12 ($(d "$t0" "$t1") packets sent) and site 'shop' SAs ($n in at pop1, $r replies)" ||
		fail "route-based: ipsec12 sent $(d "$t0" "$t1"), site 'shop' SAs $n in at pop1, $r replies"
	[ "$(d "$a_clear_8080" "$b_clear_8080")" = 0 ] && [ "$(d "$a_esp_8080" "$b_esp_8080")" -gt 0 ] &&
		pass "route-based: TCP 8080 reaches pop1 only through ESP" ||
		fail "route-based: TCP 8080 at pop1: esp $(d "$a_esp_8080" "$b_esp_8080"), clear $(d "$a_clear_8080" "$b_clear_8080")"

	ip -n ikdst-r route del 10.2.0.0/24 dev ipsec12 table 12
	count_all a
	t0=$(tx)
	get 8080 l 2 >/dev/null
	count_all b
	t1=$(tx)
	[ "$(d "$a_shop_out" "$b_shop_out")" = 0 ] && [ "$(d "$a_shop_pop" "$b_shop_pop")" = 0 ] &&
	[ "$(d "$t0" "$t1")" = 0 ] &&
		pass "route-based: without the route nothing goes into ipsec12 or the SAs" ||
		fail "route-based: without the route: ipsec12 sent $(d "$t0" "$t1"), SA $(d "$a_shop_out" "$b_shop_out") packets"
	[ "$(d "$a_clear_8080" "$b_clear_8080")" -gt 0 ] && [ "$(d "$a_esp_8080" "$b_esp_8080")" = 0 ] &&
		pass "route-based: without the route TCP 8080 leaves in clear" ||
		fail "route-based: without the route, TCP 8080 at pop1: esp $(d "$a_esp_8080" "$b_esp_8080"), clear $(d "$a_clear_8080" "$b_clear_8080")"
else
	# Policies with an if_id match only what is routed into the interface: ordinary
	# forwarding to the cloud, even to TCP 80, now leaves in clear.
	count_all a
	get 80 l 2 >/dev/null
	count_all b
	[ "$(d "$a_clear_80" "$b_clear_80")" -gt 0 ] &&
		pass "route-based: traffic not routed into an xfrm interface passes the if_id 12 policy by" ||
		fail "route-based: TCP 80 routed by the main table did not leave in clear"
	[ "$have_esp" = 1 ] || note "route-based: the traffic through ipsec12 needs ESP and xfrm interfaces (test/vm/boot runs it)"
fi

# ---- 4: a default route split by mark ----
# remote-ts 0.0.0.0/0 steered by mark: only marked traffic goes into the site, and the
# inbound and forward policies, which cover everything that comes back, let what the router
# sends direct come back in clear (their templates are optional: "level use").
ip -n ikdst-r link del ipsec12 2>/dev/null
ctl r site edit shop if-id 0 mark 0x10/0xff remote-ts 0.0.0.0/0 ||
	fail "xfrmctl site edit shop if-id 0 mark 0x10/0xff remote-ts 0.0.0.0/0"
sleep 0.5
pol=$(ip -n ikdst-r xfrm policy)
fwd=$(echo "$pol" | awk '/^src / { on = /^src 0.0.0.0\/0 dst 10.1.0.0\/24 / } on' | tr '\n' ' ')
if grep -q <<<"$fwd" "dir fwd" && grep -q <<<"$fwd" "level use"; then
	pass "default route by mark: the site's forward and inbound policies let clear packets by"
else
	fail "default route by mark: no optional forward policy for 0.0.0.0/0 -> 10.1.0.0/24"
	echo "$pol"
fi
if ip netns exec ikdst-l ping -n -q -c 3 -i 0.2 -W 2 192.0.2.2 >/dev/null 2>&1; then
	pass "default route by mark: unmarked traffic from the LAN to the Internet is answered in clear"
else
	fail "default route by mark: a ping from the LAN to 192.0.2.2 was not answered (XfrmInTmplMismatch: $(ip netns exec ikdst-r awk '$1 == "XfrmInTmplMismatch" { print $2 }' /proc/net/xfrm_stat))"
fi

[ "$fails" = 0 ] || {
	for f in r p; do echo "== $f.log"; grep -v DEBUG "$work/$f.log" | tail -25; done
	ip -n ikdst-r -s xfrm state | head -60; ip -n ikdst-r xfrm policy
	exit 1
}
echo "steering.sh: all passed"
