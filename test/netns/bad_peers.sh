#!/bin/bash
# Peers that want what an ikd gateway refuses, and what both sides say about it:
#  - charon proposing only suites the gateway refuses (aes128-sha1-modp1024), and an ikd
#    branch offering charon (as its POP) only suites charon refuses: NO_PROPOSAL_CHOSEN, and
#    on each side a log line naming the offered and the accepted proposals;
#  - a peer (test/netns/ike_peer.c) asking for an 11th Child SA of a site whose
#    max-child-sas is 10, and a 4th of one whose max-child-sas is 3: NO_ADDITIONAL_SAS;
#  - an ikd branch whose selectors the gateway narrows to nothing: TS_UNACCEPTABLE.
# Each asserted on the notify's name in both sides' logs (ike_peer's output is its log).
#   test/netns/bad_peers.sh BUILD_DIR
#
#   hbp-g (gateway)  192.0.2.1   ikd responder, identity gw.example.net
#   hbp-p (peer)     192.0.2.2   ike_peer
#   hbp-c (charon)   192.0.2.3   strongSwan's charon: initiator 'weak', responder 'strict'
#   hbp-a (branch)   192.0.2.4   ikd initiator: site 'narrow' to the gateway, 'strict' to charon
# Without charon the charon cases are skipped (said so). Exit 0 pass, 1 fail, 77 skipped.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/bad_peers.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "bad_peers.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
peer=$build/test/netns/ike_peer
work=$(mktemp -d /tmp/hbp.XXXXXX)
me=bad_peers.sh
prefix=hbp
. "$(dirname "$0")/lib.sh"
have_charon=0
[ -x /usr/lib/ipsec/charon ] && have_charon=1
have_esp=0
esp_here && have_esp=1

ns_bridge g p c a
umask 077
psk="peer key $(od -An -tx1 -N8 /dev/urandom | tr -d ' ')"
psk_hex=$(printf '%s' "$psk" | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$psk" >"$work/psk"
pops="version = 1
[pop gw]
gateway = 192.0.2.1
probe-ip = 10.2.0.1
ike-id = gw.example.net
[pop swan]
gateway = 192.0.2.3
probe-ip = 10.2.0.1
ike-id = swan.example.net
[pop spare]
gateway = 192.0.2.9
probe-ip = 10.2.0.1
accepting = no"
site() {	# site NAME [KEY = VALUE ...]: a site of the gateway's, to its POP gw
	printf '[site %s]\nid = %s.example.com\npsk = hex:%s\nprimary = gw\nbackups = spare\n' "$1" "$1" "$psk_hex"
	printf 'local-ts = 10.1.0.0/24\nremote-ts = 10.2.0.0/24\n'
	shift
	for kv in "$@"; do printf '%s\n' "$kv"; done
}
{
	echo "$pops"
	site many "max-child-sas = 10"
	site few "max-child-sas = 3"
	site narrow | sed 's|^local-ts = .*|local-ts = 10.7.0.0/24|'	# the gateway knows another LAN
	site weak
} >"$work/g.store"
{
	echo "$pops"
	site narrow
	site strict | sed 's/^primary = gw/primary = swan/'
} >"$work/a.store"
printf 'role = responder\nstore = %s/g.store\ncontrol-socket = %s/g.sock\nidentity = gw.example.net\n' \
	"$work" "$work" >"$work/g.conf"
printf 'role = initiator\nstore = %s/a.store\ncontrol-socket = %s/a.sock\nreconnect-min = 30\n' \
	"$work" "$work" >"$work/a.conf"

if [ "$have_charon" = 1 ]; then
	cat >"$work/swanctl.conf" <<CONF
connections {
	weak { version = 2
		local_addrs = 192.0.2.3
		remote_addrs = 192.0.2.1
		proposals = aes128-sha1-modp1024
		local { auth = psk
			id = fqdn:weak.example.com }
		remote { auth = psk
			id = fqdn:gw.example.net }
		children { c { local_ts = 10.1.0.0/24
			remote_ts = 10.2.0.0/24
			esp_proposals = aes128-sha1 } } }
	strict { version = 2
		local_addrs = 192.0.2.3
		remote_addrs = 192.0.2.4
		proposals = aes128-sha256-modp3072
		local { auth = psk
			id = fqdn:swan.example.net }
		remote { auth = psk
			id = fqdn:strict.example.com }
		children { c { local_ts = 10.2.0.0/24
			remote_ts = 10.1.0.0/24
			esp_proposals = aes128-sha256 } } }
}
secrets { ike { secret = "$psk" } }
CONF
	charon_start hbp-c "$work/swanctl.conf"
fi
ip netns exec hbp-g "$ikd" -c "$work/g.conf" >"$work/g.log" 2>&1 &
echo $! >"$work/g.pid"
wait_for "$work/g.log" started 5 || { fail "the gateway did not start"; cat "$work/g.log"; exit 1; }

# ---- NO_ADDITIONAL_SAS: 11 Child SAs asked where 10 are allowed, 4 where 3 are ----
# The gateway installs each Child SA before it answers: without ESP in the kernel none goes in
# and every one is refused NO_PROPOSAL_CHOSEN, with the kernel's reason in its log; the cap
# needs Child SAs that exist (the VM suite runs this script).
for case in "many 11 10" "few 4 3"; do
	set -- $case
	ip netns exec hbp-p "$peer" 192.0.2.1 192.0.2.2 "$1.example.com" "$work/psk" "$2" >"$work/peer-$1.out" 2>&1
	if [ "$have_esp" = 0 ]; then
		grep -q "ike_peer: 0 of $2 Child SAs created" "$work/peer-$1.out" &&
		   [ "$(grep -c "refused: NO_PROPOSAL_CHOSEN" "$work/peer-$1.out")" -ge $(($2 - 1)) ] &&
			pass "site '$1', no ESP here: each Child SA refused NO_PROPOSAL_CHOSEN, none announced" ||
			{ fail "site '$1': the peer's view:"; cat "$work/peer-$1.out"; }
		grep -q "site '$1' .*kernel refused the Child SA.*the peer's new Child SA is refused" "$work/g.log" &&
			pass "site '$1': the gateway's log says its kernel refused them" ||
			fail "site '$1': no kernel refusal in the gateway's log"
		continue
	fi
	grep -q "Child SA $2: refused: NO_ADDITIONAL_SAS" "$work/peer-$1.out" &&
	   grep -q "ike_peer: $3 of $2 Child SAs created" "$work/peer-$1.out" &&
		pass "site '$1' (max-child-sas $3): the peer got $3 Child SAs, and NO_ADDITIONAL_SAS for number $2" ||
		{ fail "site '$1': the peer's view:"; cat "$work/peer-$1.out"; }
	wait_for "$work/g.log" "site '$1' 192.0.2.2:500: the peer's CREATE_CHILD_SA refused: NO_ADDITIONAL_SAS" 3 &&
		pass "site '$1': the gateway's log names NO_ADDITIONAL_SAS" ||
		fail "site '$1': no NO_ADDITIONAL_SAS line in the gateway's log"
	[ "$(grep -c "site '$1' .*refused: NO_ADDITIONAL_SAS" "$work/g.log")" = 1 ] ||
		fail "site '$1': more than one Child SA refused"
done
grep -h "Child SA 1[01]:\|Child SA [34]:\|Child SAs created" "$work"/peer-*.out | sed "s/^/$me: /"

# ---- TS_UNACCEPTABLE: the gateway knows the branch by another LAN ----
ip netns exec hbp-a "$ikd" -c "$work/a.conf" >"$work/a.log" 2>&1 &
echo $! >"$work/a.pid"
if wait_for "$work/a.log" "site 'narrow' pop 'gw': the POP refused the Child SA: TS_UNACCEPTABLE" 10; then
	pass "the branch's log: the POP refused the Child SA: TS_UNACCEPTABLE"
else
	fail "the branch did not log TS_UNACCEPTABLE"
fi
wait_for "$work/g.log" "site 'narrow' 192.0.2.4:500: Child SA refused: TS_UNACCEPTABLE" 3 &&
	pass "the gateway's log: Child SA refused: TS_UNACCEPTABLE" ||
	fail "the gateway did not log TS_UNACCEPTABLE"

# ---- NO_PROPOSAL_CHOSEN both ways, with charon ----
if [ "$have_charon" = 1 ]; then
	swan --initiate --ike weak --child c --timeout 5 >"$work/swan-weak.out" 2>&1
	line=$(grep "IKE_SA_INIT from 192.0.2.3:500 refused: NO_PROPOSAL_CHOSEN" "$work/g.log" | head -1)
	echo "$me: gateway: $line"
	grep -q <<<"$line" "(offered aes128-sha1-modp1024; we accept aes256-sha256-modp2048)" &&
		pass "the gateway's log: NO_PROPOSAL_CHOSEN, naming charon's offer and its own proposals" ||
		fail "the gateway's NO_PROPOSAL_CHOSEN line: '$line'"
	grep -q "received NO_PROPOSAL_CHOSEN notify error" "$work/charon.log" &&
		pass "charon's log: received NO_PROPOSAL_CHOSEN" || fail "charon did not log NO_PROPOSAL_CHOSEN"

	if wait_for "$work/a.log" "site 'strict' pop 'swan': IKE_SA_INIT refused by the POP: NO_PROPOSAL_CHOSEN; we offered aes256-sha256-modp2048" 10; then
		pass "the branch's log: the POP refused with NO_PROPOSAL_CHOSEN, naming what it offered"
	else
		fail "the branch did not log charon's NO_PROPOSAL_CHOSEN"
	fi
	grep -h "received proposals\|configured proposals\|NO_PROP" "$work/charon.log" | sed "s/^/$me: charon: /"
	grep -q "received proposals: IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048" "$work/charon.log" &&
	   grep -q "configured proposals: IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_3072" "$work/charon.log" &&
	   grep -q "generating IKE_SA_INIT response 0 \[ N(NO_PROP) \]" "$work/charon.log" &&
		pass "charon's log: the branch's proposal, its own, and NO_PROPOSAL_CHOSEN (N(NO_PROP)) sent" ||
		fail "charon's log does not name both proposals"
else
	echo "$me: SKIP: charon is not installed: the NO_PROPOSAL_CHOSEN cases need it"
fi
[ "$fails" = 0 ] || { echo "== g.log"; tail -n 20 "$work/g.log"; echo "== a.log"; tail -n 10 "$work/a.log"; exit 1; }
echo "$me: all passed"
