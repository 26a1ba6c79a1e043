#!/bin/bash
# Rekeying under traffic: a branch (ikd) with a site whose primary POP is an ikd gateway and
# whose backup POP is strongSwan's charon, all with short lifetimes, while a 10 Hz ping runs.
#   test/netns/rekey.sh BUILD_DIR
# Both ikd use the same rekey times with no jitter, so their Child SA and IKE SA rekeys
# collide (RFC 7296 §2.8.1) as often as not. Asserted: Child SAs and IKE SAs are rekeyed by
# both sides and with charon; with ESP in the kernel (the VM) no ping is lost and at the end
# each tunnel holds exactly one SA pair (the old and the redundant ones are gone), and no ESP
# packet fails its integrity check (the keys of charon's own rekeys); without
# ESP (the host) the IKE SA rekeys are asserted. Exit 0 pass, 1 fail, 77 skipped.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/rekey.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "rekey.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
work=$(mktemp -d /tmp/ikdr.XXXXXX)
psk="rekey key $(od -An -tx1 -N8 /dev/urandom | tr -d ' ')"
psk_hex=$(printf '%s' "$psk" | od -An -tx1 | tr -d ' \n')
have_charon=0
[ -x /usr/lib/ipsec/charon ] && have_charon=1

me=rekey.sh
prefix=ikdr
. "$(dirname "$0")/lib.sh"

ns_bridge a b c
ip -n ikdr-a addr add 10.1.0.1/32 dev lo
ip -n ikdr-b addr add 10.2.0.1/32 dev lo
ip -n ikdr-c addr add 10.2.0.1/32 dev lo
ip -n ikdr-a route add 10.2.0.0/24 via 192.0.2.2 src 10.1.0.1
ip -n ikdr-b route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1
ip -n ikdr-c route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1
have_esp=0
esp_here && have_esp=1
# Long enough for several Child SA rekeys (7 s) and two IKE SA rekeys (12 s).
run_s=${REKEY_SECONDS:-$([ "$have_esp" = 1 ] && echo 40 || echo 26)}

umask 077
store="version = 1
[pop pop1]
gateway = 192.0.2.2
probe-ip = 10.2.0.1
ike-id = pop1.example.net
[pop pop2]
gateway = 192.0.2.3
probe-ip = 10.2.0.1
ike-id = pop2.example.net
[site branch1]
id = branch1.example.com
source-ip = 192.0.2.1
psk = hex:$psk_hex
primary = pop1
backups = pop2
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24
esp-proposals = aes256gcm16-modp2048,aes256-sha256-modp2048
vendor-rules = no
ike-lifetime = 60
ike-rekey = 12
child-lifetime = 40
child-rekey = 7
dpd-interval = 2"
printf '%s\n' "$store" >"$work/a.store"
printf '%s\n' "$store" >"$work/b.store"
for x in a b; do
	cat >"$work/$x.conf" <<CONF
role = $([ $x = a ] && echo initiator || echo responder)
store = $work/$x.store
control-socket = $work/$x.sock
identity = pop1.example.net
rekey-jitter = 0
retransmit-timeout = 500
CONF
done
if [ "$have_charon" = 1 ]; then
	cat >"$work/swanctl.conf" <<CONF
connections { branch1 { version = 2
	local_addrs = 192.0.2.3
	remote_addrs = 192.0.2.1
	proposals = aes256-sha256-modp2048
	rekey_time = 15s
	over_time = 30s
	local { auth = psk
		id = fqdn:pop2.example.net }
	remote { auth = psk
		id = fqdn:branch1.example.com }
	children { net { local_ts = 10.2.0.0/24
		remote_ts = 10.1.0.0/24
		rekey_time = 9s
		life_time = 30s
		esp_proposals = aes256gcm16-modp2048 } } } }
secrets { ike { secret = "$psk" } }
CONF
	charon_start ikdr-c "$work/swanctl.conf"
fi
ip netns exec ikdr-b "$ikd" -c "$work/b.conf" >"$work/b.log" 2>&1 &
echo $! >"$work/b.pid"
wait_for "$work/b.log" started 5
ip netns exec ikdr-a "$ikd" -c "$work/a.conf" >"$work/a.log" 2>&1 &
echo $! >"$work/a.pid"
wait_for "$work/a.log" "pop 'pop1': IKE SA up" 10 || fail "no tunnel to pop1"

if [ "$have_esp" = 1 ]; then
	# A probe every 0.1 s over the run, each given time for its answer (-c, a later -w):
	# one still in flight when a deadline ends ping would count as lost without being so.
	ip netns exec ikdr-a ping -n -q -i 0.1 -c "$((run_s * 10 - 10))" -w "$((run_s + 5))" \
		-I 10.1.0.1 10.2.0.1 >"$work/ping.out" 2>&1 &
	echo $! >"$work/ping.pid"
fi
sleep "$run_s"
sleep 1
[ -f "$work/ping.pid" ] && wait "$(cat "$work/ping.pid")" 2>/dev/null
rm -f "$work/ping.pid"

c_us=$(grep -c "pop 'pop1': Child SA .* rekeyed by us" "$work/a.log")
c_peer=$(grep -c "pop 'pop1': Child SA .* rekeyed by the peer" "$work/a.log")
i_any=$(grep -c "pop 'pop1': IKE SA rekeyed" "$work/a.log")
echo "rekey.sh: branch<->pop1 in ${run_s}s: Child SA rekeys by us $c_us, by the gateway $c_peer; IKE SA rekeys $i_any"
echo "rekey.sh: rekey collisions seen: $(grep -c 'redundant\|collision won' "$work/a.log") (branch), $(grep -c 'redundant\|collision won' "$work/b.log") (gateway)"
[ "$i_any" -ge 2 ] && pass "IKE SA rekeyed with the ikd gateway" || fail "no IKE SA rekeys with the ikd gateway"
if [ "$have_esp" = 1 ]; then
	[ $((c_us + c_peer)) -ge 3 ] && pass "Child SA rekeyed with the ikd gateway" || fail "too few Child SA rekeys ($c_us + $c_peer)"
	cat "$work/ping.out" | grep -E 'transmitted|loss'
	grep -q ' 0% packet loss' "$work/ping.out" && pass "no packet lost across the rekeys" ||
		fail "packets lost across the rekeys"
	sleep 2
	n_a=$(ip -n ikdr-a xfrm state | grep -c '^src 192.0.2.1 dst 192.0.2.2')
	n_b=$(ip -n ikdr-b xfrm state | grep -c '^src 192.0.2.2 dst 192.0.2.1')
	[ "$n_a" -le 2 ] && [ "$n_b" -le 2 ] && pass "old SAs gone: branch->pop1 $n_a SA(s), pop1->branch $n_b" ||
		fail "SAs pile up: branch->pop1 $n_a, pop1->branch $n_b"
	if [ "$have_charon" = 1 ]; then
		cc=$(grep -c "pop 'pop2': Child SA .* rekeyed" "$work/a.log")
		ci=$(grep -c "pop 'pop2': IKE SA rekeyed" "$work/a.log")
		echo "rekey.sh: branch<->charon: Child SA rekeys $cc, IKE SA rekeys $ci"
		[ "$cc" -ge 2 ] && pass "Child SA rekeyed with charon" || fail "no Child SA rekeys with charon"
		[ "$ci" -ge 1 ] && pass "IKE SA rekeyed with charon" || fail "no IKE SA rekey with charon"
		n_c=$(ip -n ikdr-a xfrm state | grep -c '^src 192.0.2.1 dst 192.0.2.3')
		[ "$n_c" -le 2 ] && pass "old SAs to charon gone ($n_c)" || fail "SAs to charon pile up ($n_c)"
		# charon rekeys its Child SAs itself (rand_time), as the IKE SA's responder: the
		# keys of an exchange's initiator protect what it sends (RFC 7296 §1.3, §2.17).
		# The probes through the backup tunnel carry ESP both ways all along: charon
		# must decrypt them and the branch its answers, after every one of those rekeys.
		for n in a c; do
			bad=$(ip netns exec "ikdr-$n" awk '$1 == "XfrmInStateProtoError" { print $2 }' /proc/net/xfrm_stat)
			[ "${bad:-x}" = 0 ] && pass "ikdr-$n: no ESP packet failed its integrity check" ||
				fail "ikdr-$n: ${bad:-?} ESP packets failed their integrity check (keys the wrong way round)"
		done
		probe=$(ip netns exec ikdr-a "$build/xfrmctl/xfrmctl" -s "$work/a.sock" -j site show branch1 |
			jq -r '.tunnels[] | select(.pop == "pop2") | .probe')
		[ "$probe" = ok ] && pass "the backup tunnel to charon answers its probe after charon's rekeys" ||
			fail "the probe through the tunnel to charon: '${probe:-?}'"
	fi
elif [ "$have_charon" = 1 ]; then
	ci=$(grep -c "pop 'pop2': IKE SA rekeyed" "$work/a.log")
	# Without ESP charon refuses the child, so no IKE SA lives long enough to rekey there.
	echo "rekey.sh: no ESP here: charon IKE SA rekeys $ci (not asserted)"
fi
grep -rqF "$psk" "$work"/*.log && fail "a log holds the PSK"
[ "$fails" = 0 ] || { tail -n 25 "$work/a.log" "$work/b.log"; exit 1; }
echo "rekey.sh: all passed"
