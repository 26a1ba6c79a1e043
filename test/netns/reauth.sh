#!/bin/bash
# A branch that reauthenticates make-before-break (strongSwan's charon, make_before_break =
# yes, reauth_time 12 s) against an ikd gateway: the gateway replaces the old IKE SA with the
# new one, sends a Delete for the old one and answers the branch's own Delete of it, so that
# neither end waits for an answer that never comes and exactly one IKE SA is left at both.
#   test/netns/reauth.sh BUILD_DIR
#
#   ikdra-a (charon, branch) 192.0.2.1, LAN 10.1.0.1   -- bridge --   ikdra-b (ikd gateway) 192.0.2.2
#
# Asserted over two reauthentications: the gateway logs each replacement; charon never
# retransmits an INFORMATIONAL request (its Delete of the old SA, unanswered before); charon
# never destroys an IKE SA for want of an answer; at the end one IKE SA at each end. With ESP
# (the VM) also: one Child SA pair in each kernel and a ping through it. Exit 0 pass, 1 fail,
# 77 skipped (no ESP: the host). KEEP=1 keeps the logs.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/reauth.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "reauth.sh: needs root for namespaces: skipped"; exit 77; }
[ -x /usr/lib/ipsec/charon ] || { echo "reauth.sh: strongSwan's charon is not installed: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
me=reauth.sh
prefix=ikdra
work=$(mktemp -d /tmp/ikdra.XXXXXX)
. "$(dirname "$0")/lib.sh"
# Without a Child SA charon does not reauthenticate at all ("no CHILD_SA to recreate").
esp_here || { echo "reauth.sh: no ESP in this kernel: charon reauthenticates only with a Child SA (test/vm): skipped"; exit 77; }
have_esp=1
psk="reauth key $(od -An -tx1 -N12 /dev/urandom | tr -d ' ')"
psk_hex=$(printf '%s' "$psk" | od -An -tx1 | tr -d ' \n')
info() { echo "reauth.sh: $*"; }
count() { grep -c -- "$2" "$1" 2>/dev/null; }
count_ge() { [ "$(count "$1" "$2")" -ge "$3" ]; }
finish() {
	echo "== b.log"; tail -n 30 "$work/b.log"
	echo "== charon.log"; grep -E "IKE_SA|INFORMATIONAL|retransmit|reauth|delet" "$work/charon.log" | tail -n 30
	exit 1
}

ns_bridge a b
lans a b

umask 077
printf '%s\n[site branch1]\nid = branch1.example.com\npsk = hex:%s\nprimary = pop1\nbackups = pop2\nlocal-ts = 10.1.0.0/24\nremote-ts = 10.2.0.0/24\n' \
	"$two_pops" "$psk_hex" >"$work/b.store"
printf 'role = responder\nstore = %s/b.store\ncontrol-socket = %s/b.sock\nidentity = pop1.example.net\n' \
	"$work" "$work" >"$work/b.conf"
cat >"$work/swanctl.conf" <<CONF
connections { pop1 { version = 2
	local_addrs = 192.0.2.1
	remote_addrs = 192.0.2.2
	proposals = aes256-sha256-modp2048
	reauth_time = 12s
	rekey_time = 0
	over_time = 30s
	local { auth = psk
		id = fqdn:branch1.example.com }
	remote { auth = psk
		id = fqdn:pop1.example.net }
	children { net { local_ts = 10.1.0.0/24
		remote_ts = 10.2.0.0/24
		esp_proposals = aes256gcm16
		start_action = start } } } }
secrets { ike { secret = "$psk" } }
CONF
ip netns exec ikdra-b "$ikd" -c "$work/b.conf" >>"$work/b.log" 2>&1 &
echo $! >"$work/b.pid"
wait_until 30 test -S "$work/b.sock" || { fail "ikd did not start"; finish; }
charon_extra="make_before_break = yes" charon_start ikdra-a "$work/swanctl.conf"
wait_until 30 grep -q "site 'branch1' .*IKE SA up" "$work/b.log" || { fail "no IKE SA from charon"; finish; }
info "IKE SA up; waiting for two reauthentications (every 12 s)"
wait_until 45 count_ge "$work/b.log" "replaced by a new IKE SA" 2 &&
	pass "the gateway replaced the IKE SA at each reauthentication" ||
	{ fail "the gateway replaced the IKE SA $(count "$work/b.log" "replaced by a new IKE SA") times"; finish; }
# Give the Deletes their round trips and charon its first retransmission timeout (4 s).
sleep 6
if grep -q "retransmit" "$work/charon.log"; then
	fail "charon retransmitted: $(grep "retransmit" "$work/charon.log" | head -n 3 | tr '\n' ' ')"
else
	pass "charon never had to retransmit (every Delete answered at once)"
fi
grep -q "giving up after\|destroying IKE_SA.*without\|without notification" "$work/charon.log" &&
	fail "charon gave up on an answer: $(grep "giving up after\|without notification" "$work/charon.log" | head -n 2 | tr '\n' ' ')" ||
	pass "charon never gave up on an answer"
ike_charon=$(swan --list-sas 2>/dev/null | grep -c "^pop1: #")
ike_ikd=$(ip netns exec ikdra-b "$xfrmctl" -s "$work/b.sock" -j sa list 2>/dev/null | grep -c '"type": *"ike"')
info "IKE SAs: charon $ike_charon, ikd $ike_ikd"
# The next reauthentication may be under way this very second: allow it to settle.
[ "$ike_charon" = 1 ] || { sleep 4; ike_charon=$(swan --list-sas 2>/dev/null | grep -c "^pop1: #"); }
[ "$ike_charon" = 1 ] && pass "one IKE SA at charon" || fail "$ike_charon IKE SAs at charon"
[ "$ike_ikd" -le 1 ] || { sleep 4; ike_ikd=$(ip netns exec ikdra-b "$xfrmctl" -s "$work/b.sock" -j sa list 2>/dev/null | grep -c '"type": *"ike"'); }
[ "$ike_ikd" = 1 ] && pass "one IKE SA at the gateway" || fail "$ike_ikd IKE SAs at the gateway"
if [ "$have_esp" = 1 ]; then
	sas_a=$(ip -n ikdra-a xfrm state | grep -c '^src')
	sas_b=$(ip -n ikdra-b xfrm state | grep -c '^src')
	[ "$sas_a" = 2 ] && [ "$sas_b" = 2 ] && pass "one Child SA pair in each kernel" ||
		fail "SAs: charon's kernel $sas_a, the gateway's $sas_b"
	ip netns exec ikdra-a ping -c 2 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1 &&
		pass "ping through the reauthenticated tunnel" || fail "no ping through the tunnel"
else
	info "no ESP in this kernel: the Child SAs and traffic are checked in the VM"
fi
[ "$fails" = 0 ] || finish
exit 0
