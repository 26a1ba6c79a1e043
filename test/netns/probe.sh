#!/bin/bash
# The ICMP probe: each tunnel of the branch echoes its POP's probe IP through its own SA, so a
# POP whose IKE still answers but whose data path is gone loses the traffic to a backup.
#   test/netns/probe.sh BUILD_DIR
#
#   ikdpr-a (branch)  192.0.2.1, LAN 10.1.0.1/24   -- bridge in ikdpr-w --
#   ikdpr-b (pop1)    192.0.2.2, probe IP 10.2.0.1    ikd responder
#   ikdpr-c (pop2)    192.0.2.3, probe IP 10.2.0.1    ikd responder (the same probe IP)
#
# 1. Both tunnels up: each is probed (site show: probe ok, an RTT), each through its own SA
#    (a probe policy per tunnel, told apart by mark although the probe IP is shared), and
#    the echoes leave the branch only as ESP.
# 2. pop1's probe IP stops answering (nftables drops ICMP there) while its IKE SA stays healthy:
#    within dpd-misses checks the branch says the probe failed and moves the traffic to pop2;
#    pop1's IKE SA stays up, DPD still answered.
# 3. The probe IP answers again: traffic falls back to pop1 after the hold-down, not before.
# 4. Every POP's probe fails while their IKE answers: the site is not failed closed.
# Needs ESP (the probe goes through a Child SA): on a kernel without it (the host) this says
# so and exits 77; test/vm/run-suite runs it. Exit 0 pass, 1 fail. KEEP=1 keeps the logs.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/probe.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "probe.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
work=$(mktemp -d /tmp/ikdpr.XXXXXX)
psk_hex=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
hold=8
me=probe.sh
prefix=ikdpr
. "$(dirname "$0")/lib.sh"
if ! esp_here; then
	echo "probe.sh: no ESP in this kernel: the probe needs a Child SA (test/vm/run-suite runs it): skipped"
	exit 77
fi
wait_until() {	# wait_until SECONDS COMMAND...
	local end=$((SECONDS + $1)); shift
	while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.3; done
	"$@"
}
ctl() { ip netns exec ikdpr-a "$xfrmctl" -s "$work/a.sock" "$@"; }
show() { ctl -j site show branch1 2>/dev/null; }
# tunnel FIELD POP: a field of the site's tunnel to POP in `site show`
tunnel() { show | jq -r --arg p "$2" ".tunnels[] | select(.pop == \$p) | .\"$1\""; }
active_is() { [ "$(show | jq -r .active_pop)" = "$1" ]; }
probe_is() { [ "$(tunnel probe "$2")" = "$1" ]; }	# probe_is ok|failing pop1
both_up() { [ "$(show | jq '[.tunnels[] | select(.state == "up")] | length')" = 2 ]; }
command -v jq >/dev/null || { echo "probe.sh: jq is not installed: skipped"; exit 77; }
command -v nft >/dev/null || { echo "probe.sh: nftables is not installed: skipped"; exit 77; }

ns_bridge a b c
ip -n ikdpr-a addr add 10.1.0.1/24 dev lo
ip -n ikdpr-b addr add 10.2.0.1/32 dev lo
ip -n ikdpr-c addr add 10.2.0.1/32 dev lo
ip -n ikdpr-a route add 10.2.0.0/24 via 192.0.2.2 src 10.1.0.1
ip -n ikdpr-b route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1
ip -n ikdpr-c route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1

umask 077
pops=$two_pops
site="[site branch1]
id = branch1.example.com
psk = hex:$psk_hex
primary = pop1
backups = pop2
traffic = mixed
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24"
printf '%s\n%s\n' "$pops" "$site" >"$work/a.store"
for n in b c; do printf '%s\n%s\nsource-ip = 192.0.2.1\n' "$pops" "$site" >"$work/$n.store"; done
cat >"$work/a.conf" <<CONF
role = initiator
store = $work/a.store
control-socket = $work/a.sock
hold-down = $hold
CONF
for n in b c; do
	p=$([ $n = b ] && echo pop1 || echo pop2)
	printf 'role = responder\nstore = %s/%s.store\ncontrol-socket = %s/%s.sock\nidentity = %s.example.net\n' \
		"$work" "$n" "$work" "$n" "$p" >"$work/$n.conf"
done
for n in b c a; do
	ip netns exec "ikdpr-$n" "$ikd" -c "$work/$n.conf" -d >"$work/$n.log" 2>&1 &
	echo $! >"$work/$n.pid"
	wait_until 30 test -S "$work/$n.sock" || fail "ikd in ikdpr-$n did not start"
done

# ---- 1: both tunnels probed, each through its own SA ----
wait_until 30 both_up || fail "the branch's tunnels to pop1 and pop2 did not both come up"
if wait_until 15 probe_is ok pop1 && wait_until 5 probe_is ok pop2; then
	pass "both tunnels probed: pop1 answers in $(tunnel probe_rtt_ms pop1) ms, pop2 (a backup, the same probe IP) in $(tunnel probe_rtt_ms pop2) ms"
else
	fail "probes: pop1 '$(tunnel probe pop1)', pop2 '$(tunnel probe pop2)'"
fi
n=$(ip -n ikdpr-a xfrm policy | grep -c "^src 10.1.0.1/32 dst 10.2.0.1/32 proto icmp")
[ "$n" = 2 ] && pass "a probe policy per tunnel (2), told apart by mark" ||
	fail "$n probe policies in the branch's kernel (expected 2)"
# Each POP's inbound SA from the branch counts the echoes it decrypted.
for n in b c; do
	before=$(ip -n "ikdpr-$n" -s xfrm state | awk '/src 192.0.2.1 /{ f = 1 } f && /lifetime current/ { getline; print $1 + 0; exit }')
	sleep 2.5
	after=$(ip -n "ikdpr-$n" -s xfrm state | awk '/src 192.0.2.1 /{ f = 1 } f && /lifetime current/ { getline; print $1 + 0; exit }')
	[ "${after:-0}" -gt "${before:-0}" ] &&
		pass "ikdpr-$n decrypts the echoes meant for it (${before:-0} -> ${after:-0} bytes)" ||
		fail "ikdpr-$n's inbound SA counted nothing (${before:-?} -> ${after:-?} bytes)"
done
active_is pop1 || fail "the active POP is $(show | jq -r .active_pop), not pop1"

# ---- 2: pop1's data path gone, its IKE still fine ----
spi=$(ctl -j sa list 2>/dev/null | jq -r '.sas[] | select(.pop == "pop1" and .type == "ike") | .spi' | head -n 1)
t0=$SECONDS
ip netns exec ikdpr-b nft -f - <<'NFT'
table inet probe_test {
	chain in {
		type filter hook input priority 0; policy accept;
		meta l4proto icmp drop
	}
}
NFT
if wait_until 15 probe_is failing pop1 && wait_until 5 active_is pop2; then
	pass "pop1's probe IP silent: probe failed and traffic moved to pop2 in $((SECONDS - t0)) s"
else
	fail "pop1's probe IP silent: probe '$(tunnel probe pop1)', active '$(show | jq -r .active_pop)'"
fi
grep -q "site 'branch1' pop 'pop1': probe 10.2.0.1 unanswered 3 times" "$work/a.log" &&
	pass "the branch logs the failed probe" || fail "no log line for the failed probe"
[ "$(tunnel state pop1)" = up ] &&
[ "$(ctl -j sa list 2>/dev/null | jq -r '.sas[] | select(.pop == "pop1" and .type == "ike") | .spi' | head -n 1)" = "$spi" ] &&
	pass "pop1's IKE SA stays up (the same SPIs): DPD still answered" ||
	fail "pop1's IKE SA went away (state $(tunnel state pop1))"
[ "$(ctl -j site list 2>/dev/null | jq -r '.sites[0].status')" = up ] &&
	pass "site status up (on pop2)" || fail "site status $(ctl -j site list | jq -r '.sites[0].status')"

# ---- 3: pop1 answers again: fallback after the hold-down ----
ip netns exec ikdpr-b nft delete table inet probe_test
t0=$SECONDS
wait_until 10 probe_is ok pop1 || fail "pop1's probe did not recover ($(tunnel probe pop1))"
t1=$SECONDS
sleep $((hold / 2))
active_is pop2 && pass "no fallback before the hold-down ($hold s)" ||
	fail "traffic went back to pop1 $((SECONDS - t1)) s after its probe recovered, before the hold-down"
if wait_until $((hold + 5)) active_is pop1; then
	pass "fallback to pop1 $((SECONDS - t1)) s after its probe answered again (hold-down $hold s)"
else
	fail "no fallback to pop1 ($(show | jq -r .active_pop))"
fi

# ---- 4: every probe failing (a wrong probe IP, say) never blocks the site ----
for n in b c; do
	ip netns exec "ikdpr-$n" nft -f - <<'NFT'
table inet probe_test {
	chain in {
		type filter hook input priority 0; policy accept;
		meta l4proto icmp drop
	}
}
NFT
done
if wait_until 15 probe_is failing pop1 && wait_until 5 probe_is failing pop2; then
	out=$(ip -n ikdpr-a xfrm policy | awk '/^src 10.1.0.0\/24 dst 10.2.0.0\/24/ { f = 1 } f' |
		sed -n '1,4p' | tr '\n' ' ')
	if grep -q <<<"$out" "dir out" && ! grep -q <<<"$out" "action block" &&
	   grep -q <<<"$out" "tmpl src 192.0.2.1"; then
		pass "every probe failing: the site keeps a tunnel ($(show | jq -r .active_pop)), no block"
	else
		fail "every probe failing: the outbound policy is '$out'"
	fi
else
	fail "probes: pop1 '$(tunnel probe pop1)', pop2 '$(tunnel probe pop2)' (both should fail)"
fi

for n in a b c; do
	kill -0 "$(cat "$work/$n.pid")" 2>/dev/null || fail "ikd in ikdpr-$n is gone"
done
[ "$fails" = 0 ] || {
	for f in a b c; do echo "== $f.log"; grep -v DEBUG "$work/$f.log" | tail -20; done
	ip -n ikdpr-a xfrm policy
	exit 1
}
echo "probe.sh: all passed"
