#!/bin/bash
# NAT traversal: the branch sits behind a NAT router (nftables masquerade, as a home or LTE
# router would do) and keeps tunnels to an ikd gateway and to strongSwan's charon; with ESP,
# charon as a branch behind a NAT router of its own keeps a tunnel to the ikd gateway.
#   test/netns/nat.sh BUILD_DIR
#
#   ikdn-a (branch) 10.0.0.2 -- 10.0.0.1 ikdn-r (NAT) 203.0.113.1 -- bridge -- ikdn-b (ikd)   203.0.113.2
#                                                                          -- ikdn-c (charon) 203.0.113.3
#   ikdn-d (charon, branch2) 10.0.1.2 -- 10.0.1.1 ikdn-s (NAT) 203.0.113.4 -- bridge
# Asserted: both sides detect the NAT, IKE moves to port 4500, the gateway sees the branch at
# the router's address; with ESP (the VM) a ping flows through UDP-encapsulated ESP to both
# POPs, and from charon's LAN through the gateway (the NAT seen by both, the gateway's SAs
# encapsulated). IKD_CHARON_ROOT: charon from that root (test/vm/trixie-root: strongSwan 6).
# Exit 0 pass, 1 fail, 77 skipped.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/nat.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "nat.sh: needs root for namespaces: skipped"; exit 77; }
command -v nft >/dev/null || { echo "nat.sh: nftables is not installed: skipped"; exit 77; }
ikd=$build/ikd/ikd
work=$(mktemp -d /tmp/ikdn.XXXXXX)
psk="nat key $(od -An -tx1 -N8 /dev/urandom | tr -d ' ')"
psk_hex=$(printf '%s' "$psk" | od -An -tx1 | tr -d ' \n')
have_charon=0
[ -x /usr/lib/ipsec/charon ] && have_charon=1

me=nat.sh
prefix=ikdn
. "$(dirname "$0")/lib.sh"

for n in a r b c w; do ip netns add "ikdn-$n"; ip -n "ikdn-$n" link set lo up; done
ip link add ikdn-lan netns ikdn-a type veth peer name r-lan netns ikdn-r
ip -n ikdn-a addr add 10.0.0.2/24 dev ikdn-lan
ip -n ikdn-r addr add 10.0.0.1/24 dev r-lan
ip -n ikdn-a link set ikdn-lan up
ip -n ikdn-r link set r-lan up
ip -n ikdn-a route add default via 10.0.0.1
ip -n ikdn-a addr add 10.1.0.1/32 dev lo
ip -n ikdn-w link add br0 type bridge
ip -n ikdn-w link set br0 up
for x in "r 1" "b 2" "c 3"; do
	set -- $x
	ip link add "ikdn-$1w" netns "ikdn-$1" type veth peer name "p$1" netns ikdn-w
	ip -n "ikdn-$1" addr add "203.0.113.$2/24" dev "ikdn-$1w"
	ip -n "ikdn-$1" link set "ikdn-$1w" up
	ip -n ikdn-w link set "p$1" master br0 up
done
for x in b c; do
	ip -n "ikdn-$x" addr add 10.2.0.1/32 dev lo
	ip -n "ikdn-$x" route add 10.1.0.0/24 via 203.0.113.1 src 10.2.0.1
done
ip netns exec ikdn-r sysctl -qw net.ipv4.ip_forward=1
ip netns exec ikdn-r nft -f - <<'NFT'
table ip nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "ikdn-rw" masquerade
	}
}
NFT
have_esp=0
esp_here && have_esp=1
# charon as a branch behind a NAT of its own (it holds an IKE SA only with a Child SA: ESP).
charon_branch=0
[ "$have_charon" = 1 ] && [ "$have_esp" = 1 ] && charon_branch=1
if [ "$charon_branch" = 1 ]; then
	for n in d s; do ip netns add "ikdn-$n"; ip -n "ikdn-$n" link set lo up; done
	ip link add ikdn-dl netns ikdn-d type veth peer name s-lan netns ikdn-s
	ip -n ikdn-d addr add 10.0.1.2/24 dev ikdn-dl
	ip -n ikdn-s addr add 10.0.1.1/24 dev s-lan
	ip -n ikdn-d link set ikdn-dl up
	ip -n ikdn-s link set s-lan up
	ip -n ikdn-d route add default via 10.0.1.1
	ip -n ikdn-d addr add 10.5.0.1/32 dev lo
	ip link add ikdn-sw netns ikdn-s type veth peer name ps netns ikdn-w
	ip -n ikdn-s addr add 203.0.113.4/24 dev ikdn-sw
	ip -n ikdn-s link set ikdn-sw up
	ip -n ikdn-w link set ps master br0 up
	ip -n ikdn-b route add 10.5.0.0/24 via 203.0.113.4 src 10.2.0.1
	ip netns exec ikdn-s sysctl -qw net.ipv4.ip_forward=1
	ip netns exec ikdn-s nft -f - <<'NFT'
table ip nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "ikdn-sw" masquerade
	}
}
NFT
fi

umask 077
pops="version = 1
[pop pop1]
gateway = 203.0.113.2
probe-ip = 10.2.0.1
ike-id = pop1.example.net
[pop pop2]
gateway = 203.0.113.3
probe-ip = 10.2.0.1
ike-id = pop2.example.net"
site="[site branch1]
id = branch1.example.com
psk = hex:$psk_hex
primary = pop1
backups = pop2
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24"
# The branch's own address is private (dynamic source); the gateway sees the router's.
printf '%s\n%s\n' "$pops" "$site" >"$work/a.store"
printf '%s\n%s\nsource-ip = 203.0.113.1\n' "$pops" "$site" >"$work/b.store"
# charon's site at the gateway: its LAN behind the second NAT, seen from that NAT's address.
[ "$charon_branch" = 1 ] && printf '[site branch2]\nid = branch2.example.com\npsk = hex:%s\nprimary = pop1\nbackups = pop2\nlocal-ts = 10.5.0.0/24\nremote-ts = 10.2.0.0/24\nsource-ip = 203.0.113.4\n' \
	"$psk_hex" >>"$work/b.store"
printf 'role = initiator\nstore = %s/a.store\ncontrol-socket = %s/a.sock\nkeepalive-interval = 2\n' \
	"$work" "$work" >"$work/a.conf"
printf 'role = responder\nstore = %s/b.store\ncontrol-socket = %s/b.sock\nidentity = pop1.example.net\n' \
	"$work" "$work" >"$work/b.conf"

if [ "$have_charon" = 1 ]; then
	cat >"$work/swanctl.conf" <<CONF
connections { branch1 { version = 2
	local_addrs = 203.0.113.3
	proposals = aes256-sha256-modp2048
	local { auth = psk
		id = fqdn:pop2.example.net }
	remote { auth = psk
		id = fqdn:branch1.example.com }
	children { net { local_ts = 10.2.0.0/24
		remote_ts = 10.1.0.0/24
		esp_proposals = aes256gcm16,aes256-sha256 } } } }
secrets { ike { secret = "$psk" } }
CONF
	charon_start ikdn-c "$work/swanctl.conf"
fi
ip netns exec ikdn-b "$ikd" -c "$work/b.conf" -d >"$work/b.log" 2>&1 &
echo $! >"$work/b.pid"
wait_for "$work/b.log" started 5
if [ "$charon_branch" = 1 ]; then
	cat >"$work/swanctl2.conf" <<CONF
connections { gw { version = 2
	local_addrs = 10.0.1.2
	remote_addrs = 203.0.113.2
	proposals = aes256-sha256-modp2048
	local { auth = psk
		id = fqdn:branch2.example.com }
	remote { auth = psk
		id = fqdn:pop1.example.net }
	children { net { local_ts = 10.5.0.0/24
		remote_ts = 10.2.0.0/24
		esp_proposals = aes256gcm16
		start_action = start } } } }
secrets { ike { secret = "$psk" } }
CONF
	charon_id=2 charon_start ikdn-d "$work/swanctl2.conf"
fi
ip netns exec ikdn-a "$ikd" -c "$work/a.conf" -d >"$work/a.log" 2>&1 &
echo $! >"$work/a.pid"

if wait_for "$work/a.log" "pop 'pop1': NAT detected (this side)" 10; then
	pass "the branch detected that it is behind a NAT"
else
	fail "no NAT detected by the branch"
fi
if wait_for "$work/b.log" "site 'branch1' 203.0.113.1:[0-9]*: IKE SA up" 10; then
	pass "the gateway accepted the site from the NAT's address (source-ip 203.0.113.1)"
else
	fail "no IKE SA at the gateway"
fi
grep -q "site 'branch1' 203.0.113.1:500: IKE SA up" "$work/b.log" &&
	fail "IKE did not move to port 4500 behind the NAT"
if [ "$have_charon" = 1 ]; then
	wait_for "$work/a.log" "pop 'pop2': IKE SA up" 10 && pass "IKE SA with charon through the NAT" ||
		fail "no IKE SA with charon through the NAT"
	grep -q "remote host is behind NAT" "$work/charon.log" && pass "charon saw the branch behind a NAT" ||
		fail "charon did not detect the NAT"
fi
if [ "$have_esp" = 1 ]; then
	# (the gateway logs its IKE SA as it answers: the branch's Child SA follows the answer)
	branch_encap() { ip -n ikdn-a xfrm state | grep -q 'encap type espinudp sport 4500 dport 4500'; }
	wait_until 10 branch_encap &&
		pass "the branch's SAs are UDP-encapsulated (RFC 3948)" || fail "no UDP encapsulation on the branch's SAs"
	if ip netns exec ikdn-a ping -n -q -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null; then
		pass "ping through the NAT to pop1 (ESP in UDP)"
	else
		fail "no traffic through the NAT to pop1"
		ip -n ikdn-a -s xfrm state; ip -n ikdn-b -s xfrm state
	fi
	if [ "$charon_branch" = 1 ]; then
		# The other way: charon, a branch behind its own NAT, with the ikd gateway.
		if wait_for "$work/b.log" "site 'branch2' 203.0.113.4:[0-9]*: IKE SA up" 15; then
			pass "charon behind a NAT: IKE SA up at the gateway, from the NAT's address"
			grep -q "site 'branch2' 203.0.113.4:500: IKE SA up" "$work/b.log" &&
				fail "charon behind a NAT: IKE did not move to port 4500"
		else
			fail "charon behind a NAT: no IKE SA at the gateway"
		fi
		grep -q "local host is behind NAT" "$work/charon2.log" &&
			pass "charon behind a NAT: charon saw its own NAT" ||
			fail "charon behind a NAT: charon did not detect its NAT"
		ip -n ikdn-b xfrm state | grep -A6 '^src 203.0.113.2 dst 203.0.113.4' |
			grep -q 'encap type espinudp sport 4500 dport' &&
			pass "charon behind a NAT: the gateway's SA to it is UDP-encapsulated" ||
			fail "charon behind a NAT: no UDP encapsulation on the gateway's SA to 203.0.113.4"
		if wait_until 10 ip netns exec ikdn-d ping -n -q -c 2 -i 0.2 -W 1 -I 10.5.0.1 10.2.0.1 >/dev/null; then
			pass "charon behind a NAT: ping from its LAN through the gateway (ESP in UDP)"
		else
			fail "charon behind a NAT: no traffic through the gateway"
			ip -n ikdn-b -s xfrm state; ip -n ikdn-d -s xfrm state
		fi
	fi
	# The NAT's public address changes (an LTE router's new lease; masquerade forgets its
	# mappings with the old address): the gateway follows the branch, rekeys the Child SA
	# towards the new address and removes the old SAs by the addresses they were installed
	# with. Before, the old outbound SA (dst the old address) stayed until its hard lifetime.
	moved0=$(grep -c "peer moved\|saw the peer move" "$work/b.log")
	rekeys0=$(grep -c "Child SA .* rekeyed" "$work/b.log")
	# (the old address first: deleting a primary address takes its secondaries with it)
	ip -n ikdn-r addr del 203.0.113.1/24 dev ikdn-rw
	ip -n ikdn-r addr add 203.0.113.11/24 dev ikdn-rw
	for x in b c; do ip -n "ikdn-$x" route replace 10.1.0.0/24 via 203.0.113.11 src 10.2.0.1; done
	for _ in $(seq 150); do
		[ "$(grep -c "peer moved\|saw the peer move" "$work/b.log")" -gt "$moved0" ] &&
			[ "$(grep -c "Child SA .* rekeyed" "$work/b.log")" -gt "$rekeys0" ] && break
		sleep 0.1
	done
	[ "$(grep -c "Child SA .* rekeyed" "$work/b.log")" -gt "$rekeys0" ] &&
		pass "the NAT's new address: the gateway followed the branch and rekeyed its Child SA" ||
		fail "the NAT's new address: the gateway did not rekey ($(grep "moved" "$work/b.log" | tail -n 1))"
	sleep 3	# the old SA's Delete and its answer
	stale=$(ip -n ikdn-b xfrm state | grep -cE '(src|dst) 203\.0\.113\.1( |$)')
	# (charon's SAs, with the other NAT's address, are not the branch's)
	n_sa=$(ip -n ikdn-b xfrm state | grep '^src' | grep -vc '203\.0\.113\.4')
	[ "$stale" = 0 ] && [ "$n_sa" = 2 ] &&
		pass "the NAT's new address: no SA with the old address left at the gateway, one pair in all" ||
		{ fail "the NAT's new address: $stale SAs with the old address left at the gateway ($n_sa in all)"
		  ip -n ikdn-b xfrm state | grep '^src'; }
	ip netns exec ikdn-a ping -n -q -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null &&
		pass "ping through the NAT's new address to pop1" || fail "no traffic after the NAT's address changed"
	if [ "$have_charon" = 1 ]; then
		# Traffic to pop2: make it the active POP by stopping pop1's ikd.
		kill "$(cat "$work/b.pid")"; rm -f "$work/b.pid"
		ok=0
		if wait_for "$work/a.log" "to pop 'pop2'" 10; then
			for _ in 1 2 3 4 5; do
				ip netns exec ikdn-a ping -n -q -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 \
					>/dev/null && { ok=1; break; }
			done
		fi
		if [ "$ok" = 1 ]; then
			pass "ping through the NAT to charon (ESP in UDP)"
		else
			fail "no traffic through the NAT to charon"
		fi
	fi
else
	# The gateway's kernel refuses the Child SA before it answers: the branch hears
	# NO_PROPOSAL_CHOSEN, and the gateway says why.
	grep -q "pop 'pop1': the POP refused the Child SA: NO_PROPOSAL_CHOSEN" "$work/a.log" &&
		grep -q "kernel refused the Child SA.*answered NO_PROPOSAL_CHOSEN" "$work/b.log" &&
		pass "no ESP here: the gateway's install error is clear, the branch told NO_PROPOSAL_CHOSEN" ||
		fail "no clear Child SA error"
fi
grep -rqF "$psk" "$work"/*.log && fail "a log holds the PSK"
[ "$fails" = 0 ] || { tail -n 20 "$work/a.log" "$work/b.log" 2>/dev/null; exit 1; }
echo "nat.sh: all passed"
