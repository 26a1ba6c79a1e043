#!/bin/bash
# Bad IKE messages at an established IKE SA, from an attacker on the path who knows none of
# its keys (test/netns/ike_bad.c): it reads the live SA's SPIs from `xfrmctl -j sa list`,
# captures the branch's real messages to the gateway (AF_PACKET), then sends the gateway,
# with the branch's address forged, a replay, a flipped ICV bit, truncated SK payloads,
# absurd lengths, a wrong responder SPI, an old message ID, a forged retransmission of
# IKE_AUTH and a stub. Asserted for each: dropped, the gateway's ike_dropped (and bad_icv
# where the ICV is what fails) counters go up by one, nothing is sent back for it, and the
# IKE SA and Child SA keep their SPIs; after all of them the liveness checks still pass.
#   test/netns/ike_bad.sh BUILD_DIR
#
#   hib-a (branch)    192.0.2.1   ikd initiator, dpd-interval 1
#   hib-b (gateway)   192.0.2.2   ikd responder
#   hib-x (attacker)  192.0.2.3
# Exit 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
build=$(cd "${1:?usage: test/netns/ike_bad.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "ike_bad.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
bad=$build/test/netns/ike_bad
work=$(mktemp -d /tmp/hib.XXXXXX)
me=ike_bad.sh
prefix=hib
. "$(dirname "$0")/lib.sh"

ns_bridge a b x
umask 077
psk_hex=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
store="version = 1
[pop gw]
gateway = 192.0.2.2
probe-ip = 10.2.0.1
[pop spare]
gateway = 192.0.2.9
probe-ip = 10.2.0.1
accepting = no
[site branch]
id = branch.example.com
psk = hex:$psk_hex
primary = gw
backups = spare
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24
dpd-interval = 1"
printf '%s\n' "$store" >"$work/a.store"
printf '%s\n' "$store" >"$work/b.store"
printf 'role = initiator\nstore = %s/a.store\ncontrol-socket = %s/a.sock\ndpd-interval = 1\n' \
	"$work" "$work" >"$work/a.conf"
printf 'role = responder\nstore = %s/b.store\ncontrol-socket = %s/b.sock\n' "$work" "$work" >"$work/b.conf"
ip netns exec hib-b "$ikd" -c "$work/b.conf" -d >"$work/b.log" 2>&1 &
echo $! >"$work/b.pid"
wait_for "$work/b.log" started 5
ip netns exec hib-a "$ikd" -c "$work/a.conf" >"$work/a.log" 2>&1 &
echo $! >"$work/a.pid"
wait_for "$work/b.log" "site 'branch' .*IKE SA up" 10 || { fail "no IKE SA"; tail "$work"/*.log; exit 1; }
bx() { ip netns exec hib-b "$xfrmctl" -s "$work/b.sock" "$@"; }

# What an observer learns: the SPIs (here from sa list; the capture shows the same).
sa_ids() {	# the IKE SA's SPIs and its Child SAs' SPIs, one line
	bx -j sa list | jq -r '[.sas[] | .spi, (.children[] | "\(.spi_in)/\(.spi_out)")] | join(" ")'
}
counters() {	# the gateway's ike_dropped and bad_icv
	bx -j status | jq -r '"\(.ike_dropped) \(.bad_icv)"'
}
ids0=$(sa_ids)
echo "$me: the gateway's SAs: $ids0"
[ -n "$ids0" ] || { fail "sa list shows no SA"; exit 1; }
ike_spi=$(bx -j sa list | jq -r '.sas[0].spi')

# Capture the branch's messages to the gateway for 3 s (DPD both ways every second).
mkdir "$work/cap"
ip netns exec hib-b "$bad" capture hib-b 192.0.2.1 192.0.2.2 3 "$work/cap" >"$work/cap.txt"
echo "$me: captured $(wc -l <"$work/cap.txt") messages from the branch, e.g.: $(head -1 "$work/cap.txt")"
msg=$(awk -v s="$ike_spi" '$2 == "INFORMATIONAL" && $3 == "request" && $6 == s { print $1; exit }' "$work/cap.txt")
[ -n "$msg" ] && pass "an INFORMATIONAL request of the live IKE SA ($ike_spi) captured on the wire" ||
	{ fail "no INFORMATIONAL request of $ike_spi captured"; cat "$work/cap.txt"; exit 1; }
sleep 2	# its message ID is now at least two behind: a replay, not a retransmission

rx_a0=$(ip netns exec hib-a "$xfrmctl" -s "$work/a.sock" -j status | jq .ike_dropped)
attack() {	# attack MUTATION DROPPED BAD_ICV WHAT
	local d0 i0 d1 i1
	read -r d0 i0 < <(counters)
	ip netns exec hib-x "$bad" send "$msg" "$1" 192.0.2.1 192.0.2.2 >/dev/null || { fail "$1: not sent"; return; }
	sleep 0.2
	read -r d1 i1 < <(counters)
	echo "$me: $1: ike_dropped $d0 -> $d1, bad_icv $i0 -> $i1"
	if [ $((d1 - d0)) = "$2" ] && [ $((i1 - i0)) = "$3" ]; then
		pass "$4: dropped (ike_dropped +$2, bad_icv +$3)"
	else
		fail "$4: ike_dropped +$((d1 - d0)), bad_icv +$((i1 - i0)); expected +$2, +$3"
	fi
	[ "$(sa_ids)" = "$ids0" ] || fail "$4: the SAs changed: $(sa_ids)"
}
rx0=$(bx -j status | jq .ike_received)
attack replay 1 0 "a replay of a captured request (old message ID, genuine ICV)"
attack icv-bit 1 1 "one ICV bit flipped"
attack truncate 1 0 "the SK payload cut short, lengths unchanged"
attack truncate-sk 1 0 "the SK payload cut below IV, a block and ICV, lengths made to agree"
attack sk-length 1 0 "an SK payload length of 65535"
attack header-length 1 0 "an IKE header length of 2^31 - 1"
attack spi-r 1 0 "a wrong responder SPI"
attack msg-id 1 1 "the message ID rewritten to 0"
attack auth-retx 1 1 "a forged retransmission of IKE_AUTH (message ID 1)"
attack stub 1 0 "a 10-byte stub"
rx1=$(bx -j status | jq .ike_received)
echo "$me: the gateway received $((rx1 - rx0)) messages during the attacks (10 forged, the rest liveness checks)"

# Nothing went back to the branch for them: it dropped nothing unexpected.
rx_a1=$(ip netns exec hib-a "$xfrmctl" -s "$work/a.sock" -j status | jq .ike_dropped)
[ "$rx_a1" = "$rx_a0" ] && pass "no answer reached the branch for any forged message (its ike_dropped stays $rx_a0)" ||
	fail "the branch dropped $((rx_a1 - rx_a0)) messages: the gateway answered a forged one"

# The tunnel stays as it was, and alive: liveness checks both ways after the attacks.
sleep 3
ids1=$(sa_ids)
[ "$ids1" = "$ids0" ] && pass "the IKE SA and Child SA keep their SPIs ($ids1)" || fail "SAs changed: $ids0 -> $ids1"
heard=$(bx -j site show branch | jq '[.tunnels[] | select(.state == "up") | .last_heard_s] | min')
[ -n "$heard" ] && [ "$heard" -le 2 ] && pass "DPD keeps working: the gateway heard the branch $heard s ago" ||
	fail "the gateway last heard the branch ${heard:-never}"
grep -q "peer dead\|tunnel down\|IKE SA up" <(sed -n '/IKE SA up/,$p' "$work/a.log" | tail -n +2) &&
	fail "the branch's tunnel went down or was rebuilt" || pass "the branch's tunnel stayed up throughout"
grep -c "message dropped" "$work/b.log" | sed "s/^/$me: 'message dropped' debug lines in the gateway's log: /"
[ "$fails" = 0 ] || { tail -n 20 "$work/b.log"; exit 1; }
echo "$me: all passed"
