#!/bin/bash
# IPv6: a branch (ikd) and an ikd gateway over IPv6 outer addresses with IPv6 selectors and
# an IPv6 identity (ID_IPV6_ADDR).
#   test/netns/ipv6.sh BUILD_DIR
# With ESP (the VM) a ping6 goes through the tunnel; without it (the host) the IKE SA comes up
# and the Child SA install fails with a clear error. Exit 0 pass, 1 fail, 77 skipped.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/ipv6.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "ipv6.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
work=$(mktemp -d /tmp/ikd6.XXXXXX)
psk_hex=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
me=ipv6.sh
prefix=ikd6
. "$(dirname "$0")/lib.sh"
for n in a b; do ip netns add "ikd6-$n"; ip -n "ikd6-$n" link set lo up; done
ip link add ikd6a netns ikd6-a type veth peer name ikd6b netns ikd6-b
ip -n ikd6-a addr add 2001:db8::1/64 dev ikd6a nodad
ip -n ikd6-b addr add 2001:db8::2/64 dev ikd6b nodad
ip -n ikd6-a link set ikd6a up
ip -n ikd6-b link set ikd6b up
ip -n ikd6-a addr add fd00:1::1/128 dev lo nodad
ip -n ikd6-b addr add fd00:2::1/128 dev lo nodad
ip -n ikd6-a route add fd00:2::/64 via 2001:db8::2 src fd00:1::1
ip -n ikd6-b route add fd00:1::/64 via 2001:db8::1 src fd00:2::1
have_esp=0
esp_here esp6 && have_esp=1

umask 077
store="version = 1
[pop pop1]
gateway = 2001:db8::2
probe-ip = fd00:2::1
[pop pop2]
gateway = 2001:db8::3
probe-ip = fd00:2::1
accepting = no
[site v6site]
id = 2001:db8::1
psk = hex:$psk_hex
primary = pop1
backups = pop2
local-ts = fd00:1::/64
remote-ts = fd00:2::/64"
printf '%s\n' "$store" >"$work/a.store"
printf '%s\nsource-ip = 2001:db8::1\n' "$store" >"$work/b.store"
printf 'role = initiator\nstore = %s/a.store\ncontrol-socket = %s/a.sock\n' "$work" "$work" >"$work/a.conf"
printf 'role = responder\nstore = %s/b.store\ncontrol-socket = %s/b.sock\n' "$work" "$work" >"$work/b.conf"
ip netns exec ikd6-b "$ikd" -c "$work/b.conf" >"$work/b.log" 2>&1 &
echo $! >"$work/b.pid"
wait_for "$work/b.log" started 5
ip netns exec ikd6-a "$ikd" -c "$work/a.conf" >"$work/a.log" 2>&1 &
echo $! >"$work/a.pid"
if wait_for "$work/a.log" "pop 'pop1': IKE SA up" 10 && wait_for "$work/b.log" "site 'v6site' \[2001:db8::1\]:500: IKE SA up" 5; then
	pass "IKE SA over IPv6, identity 2001:db8::1 (ID_IPV6_ADDR)"
else
	fail "no IKE SA over IPv6"
fi
grep -q "pop 'pop2' skipped (not accepting new tunnels)" "$work/a.log" && pass "a POP not accepting is skipped" ||
	fail "the POP that is not accepting was not skipped"
if [ "$have_esp" = 1 ]; then
	if ip netns exec ikd6-a ping -6 -n -q -c 3 -i 0.2 -W 2 -I fd00:1::1 fd00:2::1 >/dev/null; then
		pass "ping6 through the IPv6 tunnel"
	else
		fail "no traffic through the IPv6 tunnel"
		ip -n ikd6-a xfrm state; ip -n ikd6-a xfrm policy
	fi
else
	# The gateway's kernel refuses the Child SA before it answers: the branch hears
	# NO_PROPOSAL_CHOSEN, and the gateway says why.
	grep -q "pop 'pop1': the POP refused the Child SA: NO_PROPOSAL_CHOSEN" "$work/a.log" &&
		grep -q "kernel refused the Child SA.*answered NO_PROPOSAL_CHOSEN" "$work/b.log" &&
		pass "no ESP here: the gateway's install error is clear, the branch told NO_PROPOSAL_CHOSEN" ||
		fail "no clear Child SA error"
fi
# The site's /64 policies are hashed: the IPv6 thresholds lowered to 64 and 64 (the IPv4 pair
# untouched), on the gateway too when it installed the Child SA's.
hthresh6_ok() {	# hthresh6_ok NS
	ip -n "$1" -s -s xfrm policy count | grep -q 'IPv6 thresholds: local 64 remote 64' &&
		ip -n "$1" -s -s xfrm policy count | grep -q 'IPv4 thresholds: local 32 remote 32'
}
hthresh6_ok ikd6-a && { [ "$have_esp" = 0 ] || hthresh6_ok ikd6-b; } &&
	pass "the IPv6 policy hash thresholds lowered to the site's /64s" ||
	fail "IPv6 thresholds: $(ip -n ikd6-a -s -s xfrm policy count | grep thresholds)"
[ "$fails" = 0 ] || { tail -n 20 "$work/a.log" "$work/b.log"; exit 1; }
echo "ipv6.sh: all passed"
