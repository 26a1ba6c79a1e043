#!/bin/bash
# Reconnects to a strongSwan POP leave nothing behind at the POP: a branch (ikd, role
# initiator, default timers but a 3 s hold-down) whose primary POP is strongSwan's charon (no DPD of its own, its
# default uniqueness policy: it keeps an IKE SA until told otherwise), backup an ikd gateway.
#   test/netns/reconnect.sh BUILD_DIR        (FLAPS=N: how many flaps, default 3)
#
#   ikdrc-a (branch)  192.0.2.1, LAN 10.1.0.1/24   -- bridge in ikdrc-w (ports pa, pb, pc) --
#   ikdrc-b (pop1)    192.0.2.2, cloud 10.2.0.1       charon
#   ikdrc-c (pop2)    192.0.2.3, cloud 10.2.0.1       ikd responder
#
# Each flap: charon's bridge port goes down until the branch declares pop1 dead, then up
# until the branch's new IKE SA with pop1 is up. The branch's IKE_AUTH carries
# INITIAL_CONTACT each time (RFC 7296 §2.4), so charon replaces what it held for the site.
# Asserted after the flaps: charon holds exactly one IKE SA for the site and its kernel
# exactly one Child SA pair; traffic flows through pop1 again. Needs charon and ESP (the VM);
# skipped otherwise. Exit 0 pass, 1 fail, 77 skipped. KEEP=1 keeps the logs.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/reconnect.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "reconnect.sh: needs root for namespaces: skipped"; exit 77; }
[ -x /usr/lib/ipsec/charon ] || { echo "reconnect.sh: strongSwan's charon is not installed: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
flaps=${FLAPS:-3}
me=reconnect.sh
prefix=ikdrc
work=$(mktemp -d /tmp/ikdrc.XXXXXX)
. "$(dirname "$0")/lib.sh"
esp_here || { echo "reconnect.sh: no ESP in this kernel: charon cannot hold a Child SA (test/vm): skipped"; exit 77; }
psk="reconnect key $(od -An -tx1 -N12 /dev/urandom | tr -d ' ')"
psk_hex=$(printf '%s' "$psk" | od -An -tx1 | tr -d ' \n')
info() { echo "reconnect.sh: $*"; }
count() { grep -c -- "$2" "$1" 2>/dev/null; }
more_than() { [ "$(count "$1" "$2")" -gt "$3" ]; }
link() { ip -n ikdrc-w link set "$1" "$2"; }
charon_ike_sas() { swan --list-sas --ike branch1 2>/dev/null | grep -c "^branch1: #"; }
charon_sas() { ip -n ikdrc-b xfrm state | grep -c '^src'; }
ping_ok() { ip netns exec ikdrc-a ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1; }
active_is() {
	[ "$(ip netns exec ikdrc-a "$xfrmctl" -s "$work/a.sock" -j site show branch1 2>/dev/null |
		sed -n 's/.*"active_pop": *"\([^"]*\)".*/\1/p')" = "$1" ]
}
finish() {
	for f in a c; do echo "== $f.log"; tail -n 25 "$work/$f.log"; done
	echo "== charon.log"; tail -n 25 "$work/charon.log"
	exit 1
}

ns_bridge a b c
lans a b c

umask 077
site="[site branch1]
id = branch1.example.com
psk = hex:$psk_hex
primary = pop1
backups = pop2
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24"
printf '%s\n%s\n' "$two_pops" "$site" >"$work/a.store"
printf '%s\n%s\nsource-ip = 192.0.2.1\n' "$two_pops" "$site" >"$work/c.store"
# Default timers, but a short hold-down: traffic comes back to pop1 soon after the last flap.
printf 'role = initiator\nstore = %s/a.store\ncontrol-socket = %s/a.sock\nhold-down = 3\n' "$work" "$work" >"$work/a.conf"
printf 'role = responder\nstore = %s/c.store\ncontrol-socket = %s/c.sock\nidentity = pop2.example.net\n' \
	"$work" "$work" >"$work/c.conf"
# charon as a POP: no dpd_delay (it never checks the branch), the default unique policy.
cat >"$work/swanctl.conf" <<CONF
connections { branch1 { version = 2
	local_addrs = 192.0.2.2
	remote_addrs = 192.0.2.1
	proposals = aes256-sha256-x25519,aes256-sha256-modp2048
	local { auth = psk
		id = fqdn:pop1.example.net }
	remote { auth = psk
		id = fqdn:branch1.example.com }
	children { net { local_ts = 10.2.0.0/24
		remote_ts = 10.1.0.0/24
		esp_proposals = aes256gcm16,aes256-sha256 } } } }
secrets { ike { secret = "$psk" } }
CONF
charon_start ikdrc-b "$work/swanctl.conf"
for n in c a; do
	ip netns exec "ikdrc-$n" "$ikd" -c "$work/$n.conf" >>"$work/$n.log" 2>&1 &
	echo $! >"$work/$n.pid"
	wait_until 30 test -S "$work/$n.sock" || { fail "ikd in ikdrc-$n did not start"; finish; }
done
wait_until 30 grep -q "pop 'pop1': IKE SA up .*Child SA up" "$work/a.log" || { fail "no tunnel to charon"; finish; }
wait_until 15 active_is pop1 || fail "traffic is not on pop1 at the start"
info "charon holds $(charon_ike_sas) IKE SA and $(charon_sas) SAs at the start"

for i in $(seq "$flaps"); do
	downs=$(count "$work/a.log" "pop 'pop1': tunnel down")
	ups=$(count "$work/a.log" "pop 'pop1': IKE SA up")
	link pb down
	wait_until 20 more_than "$work/a.log" "pop 'pop1': tunnel down" "$downs" ||
		{ fail "flap $i: pop1 not declared dead"; finish; }
	link pb up
	wait_until 30 more_than "$work/a.log" "pop 'pop1': IKE SA up" "$ups" ||
		{ fail "flap $i: no new IKE SA with pop1"; finish; }
done
sleep 2
n_ike=$(charon_ike_sas)
n_sa=$(charon_sas)
info "after $flaps flaps charon holds $n_ike IKE SAs for the site and its kernel $n_sa SAs"
[ "$n_ike" = 1 ] && pass "after $flaps flaps: exactly one IKE SA at charon" ||
	fail "after $flaps flaps: $n_ike IKE SAs at charon"
[ "$n_sa" = 2 ] && pass "after $flaps flaps: exactly one Child SA pair in charon's kernel" ||
	fail "after $flaps flaps: $n_sa SAs in charon's kernel"
grep -q "INITIAL_CONTACT" "$work/charon.log" && pass "charon saw INITIAL_CONTACT" ||
	info "charon's log does not name INITIAL_CONTACT at this log level"
wait_until 20 active_is pop1 && wait_until 10 ping_ok && pass "traffic through pop1 after the flaps" ||
	fail "no traffic through pop1 after the flaps"
[ "$fails" = 0 ] || finish
exit 0
