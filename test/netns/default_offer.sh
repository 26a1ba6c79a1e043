#!/bin/bash
# strongSwan's charon with its defaults (no proposals lines, the distribution's plugins) at an
# ikd gateway with the seeds' defaults: its IKE proposals carry 38 transforms each (5.9.8;
# 38 and 47 with 6.0.1), more than ikd once read, and were dropped without a word. Now: the
# IKE SA comes up at both ends; a proposal ikd does not share is answered with
# NO_PROPOSAL_CHOSEN, named in both logs; a cut-short IKE_SA_INIT is dropped and logged with
# the field at fault.
#   test/netns/default_offer.sh BUILD_DIR
#
#   hdo-a (charon)   192.0.2.1
#   hdo-b (ikd gw)   192.0.2.2
# With ESP in the kernel (the VM) a ping goes through the Child SA and no packet fails its
# integrity check. IKD_CHARON_ROOT: charon from that root (test/vm/trixie-root: strongSwan 6).
# Exit 0 pass, 1 fail, 77 skipped.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/default_offer.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "default_offer.sh: needs root for namespaces: skipped"; exit 77; }
[ -x /usr/lib/ipsec/charon ] || { echo "default_offer.sh: strongSwan's charon is not installed: skipped"; exit 77; }
ikd=$build/ikd/ikd
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/hdo.XXXXXX)
me=default_offer.sh
prefix=hdo
. "$(dirname "$0")/lib.sh"

ns_bridge a b
ip -n hdo-a addr add 10.4.1.1/32 dev lo
ip -n hdo-b addr add 10.3.1.1/32 dev lo
ip -n hdo-a route add 10.3.1.0/24 via 192.0.2.2
ip -n hdo-b route add 10.4.1.0/24 via 192.0.2.1
have_esp=0
esp_here && have_esp=1
umask 077
psk="default offer $(od -An -tx1 -N8 /dev/urandom | tr -d ' ')"
psk_hex=$(printf '%s' "$psk" | od -An -tx1 | tr -d ' \n')
cat >"$work/gw.store" <<STORE
version = 1
[pop charon]
gateway = 192.0.2.1
probe-ip = 10.2.0.1
[pop spare]
gateway = 192.0.2.9
probe-ip = 10.2.0.1
accepting = no
[site d1]
id = d1.branch.example
psk = hex:$psk_hex
primary = charon
backups = spare
local-ts = 10.4.1.0/24
remote-ts = 10.3.1.0/24
vendor-rules = no
STORE
cat >"$work/gw.conf" <<CONF
role = responder
store = $work/gw.store
control-socket = $work/gw.sock
identity = gw.example
CONF
cat >"$work/swanctl.conf" <<CONF
connections {
	d1 { version = 2
		local_addrs = 192.0.2.1
		remote_addrs = 192.0.2.2
		local { auth = psk
			id = fqdn:d1.branch.example }
		remote { auth = psk }
		children { d1 { local_ts = 10.4.1.0/24
			remote_ts = 10.3.1.0/24 } } }
	n1 { version = 2
		local_addrs = 192.0.2.1
		remote_addrs = 192.0.2.2
		proposals = aes128-sha256-modp1024
		local { auth = psk
			id = fqdn:d1.branch.example }
		remote { auth = psk }
		children { n1 { local_ts = 10.4.1.0/24
			remote_ts = 10.3.1.0/24 } } }
}
secrets { ike { secret = "$psk" } }
CONF

charon_start hdo-a "$work/swanctl.conf" stock
swan --list-conns 2>/dev/null | grep -q d1 || { fail "charon refused the configuration"; exit 1; }
ip netns exec hdo-b "$ikd" -c "$work/gw.conf" >"$work/gw.log" 2>&1 &
echo $! >"$work/gw.pid"
wait_for "$work/gw.log" "started" 5 || { fail "ikd did not start"; cat "$work/gw.log"; exit 1; }

v=$(swan --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1)
echo "default_offer.sh: strongSwan $v${IKD_CHARON_ROOT:+ from $IKD_CHARON_ROOT}"
swan --initiate --ike d1 --child d1 --timeout 20 >"$work/init-d1.out" 2>&1
if wait_for "$work/gw.log" "site 'd1' .*IKE SA up" 20 &&
	grep -q "IKE_SA d1\[[0-9]*\] established" "$work/charon.log"; then
	pass "charon $v with its default proposals: IKE SA up at both ends"
	if [ "$have_esp" = 1 ]; then
		if ip netns exec hdo-a ping -n -q -c 2 -i 0.2 -W 2 -I 10.4.1.1 10.3.1.1 >/dev/null; then
			pass "charon $v with its default proposals: ping through the Child SA"
		else
			fail "charon $v with its default proposals: no traffic through the Child SA"
		fi
		bad=$(xfrm_clean hdo-a hdo-b)
		[ -z "$bad" ] && pass "no packet failed its integrity check or found no SA" ||
			fail "$bad"
	fi
else
	fail "charon's default proposals: no IKE SA (charon: $(grep -m1 'IKE_SA_INIT' "$work/charon.log"))"
fi

swan --initiate --ike n1 --child n1 --timeout 10 >"$work/init-n1.out" 2>&1
if wait_for "$work/gw.log" "IKE_SA_INIT from 192.0.2.1:500 refused: NO_PROPOSAL_CHOSEN" 10 &&
	wait_for "$work/charon.log" "received NO_PROPOSAL_CHOSEN notify" 5; then
	pass "a proposal ikd does not share: NO_PROPOSAL_CHOSEN in both logs"
else
	fail "a proposal ikd does not share: not refused with NO_PROPOSAL_CHOSEN in both logs"
fi

# charon 5.9.8's captured default offer, cut short by 100 bytes (the header's length too, so
# it passes the header check), from another port.
ip netns exec hdo-a python3 -c '
import socket, sys
d = bytearray(bytes.fromhex(open(sys.argv[1]).read().strip())[:-100])
d[24:28] = len(d).to_bytes(4, "big")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(d, ("192.0.2.2", 500))' "$top/test/data/strongswan/default-offer/charon-5.9.8.hex"
if wait_for "$work/gw.log" "IKE_SA_INIT from 192.0.2.1:[0-9]* dropped: " 5; then
	pass "a cut-short IKE_SA_INIT: dropped and logged ($(grep -m1 -o 'dropped: .*' "$work/gw.log"))"
else
	fail "a cut-short IKE_SA_INIT: no log line"
fi
grep -rqF "$psk" "$work"/*.log && fail "a log holds the PSK"
[ "$fails" = 0 ] || { tail -n 20 "$work/gw.log" "$work/charon.log"; exit 1; }
echo "default_offer.sh: passed"
