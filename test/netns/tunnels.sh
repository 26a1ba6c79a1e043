#!/bin/bash
# ikd end to end over network namespaces: a branch router (ikd, role initiator) with a site
# whose primary POP is an ikd gateway (role responder) and whose backup POP is strongSwan's
# charon; then charon as the initiator towards the ikd gateway; then an unknown site.
#   test/netns/tunnels.sh BUILD_DIR
#
#   ikdt-a (branch)  192.0.2.1, LAN 10.1.0.1      -- bridge in ikdt-w --
#   ikdt-b (pop1)    192.0.2.2, cloud 10.2.0.1       ikd responder
#   ikdt-c (pop2)    192.0.2.3, cloud 10.2.0.1       charon responder (and later initiator)
#
# On a kernel with ESP (the VM) traffic must go through the tunnel, and when pop1's ikd is
# killed the branch must fail over to pop2 and keep the ping going, then fall back to pop1
# when it returns. On a kernel without ESP (the host) the IKE SAs must come up and ikd must
# say clearly that the kernel refused the Child SA. IKD_CHARON_ROOT: charon from that root
# (test/vm/trixie-root: strongSwan 6). Exit 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
build=$(cd "${1:?usage: test/netns/tunnels.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "tunnels.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
work=$(mktemp -d /tmp/ikdt.XXXXXX)
psk="site key $(od -An -tx1 -N8 /dev/urandom | tr -d ' ')"
psk_hex=$(printf '%s' "$psk" | od -An -tx1 | tr -d ' \n')
have_charon=0
[ -x /usr/lib/ipsec/charon ] && have_charon=1

me=tunnels.sh
prefix=ikdt
. "$(dirname "$0")/lib.sh"

ns_bridge a b c
ip -n ikdt-a addr add 10.1.0.1/32 dev lo
ip -n ikdt-b addr add 10.2.0.1/32 dev lo
ip -n ikdt-c addr add 10.2.0.1/32 dev lo
ip -n ikdt-a route add 10.2.0.0/24 via 192.0.2.2 src 10.1.0.1
ip -n ikdt-b route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1
ip -n ikdt-c route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1

have_esp=0
esp_here && have_esp=1

umask 077
pops="version = 1
[pop pop1]
gateway = 192.0.2.2
probe-ip = 10.2.0.1
location = Frankfurt
ike-id = pop1.example.net
[pop pop2]
gateway = 192.0.2.3
probe-ip = 10.2.0.1
location = Amsterdam
ike-id = pop2.example.net"
site="[site branch1]
id = branch1.example.com
psk = hex:$psk_hex
primary = pop1
backups = pop2
traffic = mixed
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24
dpd-interval = 1"
printf '%s\n%s\nsource-ip = 192.0.2.1\n' "$pops" "$site" >"$work/a.store"
printf '%s\n%s\nsource-ip = 192.0.2.1\n' "$pops" "$site" >"$work/b.store"
cat >"$work/a.conf" <<CONF
role = initiator
store = $work/a.store
control-socket = $work/a.sock
retransmit-timeout = 300
retransmit-tries = 3
reconnect-min = 1
reconnect-max = 4
hold-down = 3
CONF
cat >"$work/b.conf" <<CONF
role = responder
store = $work/b.store
control-socket = $work/b.sock
identity = pop1.example.net
CONF

start_ikd() {	# start_ikd NS NAME
	ip netns exec "ikdt-$1" "$ikd" -c "$work/$2.conf" -d >>"$work/$2.log" 2>&1 &
	echo $! >"$work/$2.pid"
}

start_charon() {	# the POP pop2 as charon, answering branch1 and able to call pop1
	cat >"$work/swanctl.conf" <<CONF
connections {
	branch1 { version = 2
		local_addrs = 192.0.2.3
		remote_addrs = 192.0.2.1
		proposals = aes256-sha256-modp2048
		dpd_delay = 2s
		local { auth = psk
			id = fqdn:pop2.example.net }
		remote { auth = psk
			id = fqdn:branch1.example.com }
		children { net { local_ts = 10.2.0.0/24
			remote_ts = 10.1.0.0/24
			esp_proposals = aes256gcm16,aes256-sha256 } } }
	tobranch { version = 2
		local_addrs = 192.0.2.3
		remote_addrs = 192.0.2.2
		proposals = aes256-sha256-modp2048
		local { auth = psk
			id = fqdn:branch2.example.com }
		remote { auth = psk
			id = fqdn:pop1.example.net }
		children { net2 { local_ts = 10.3.0.0/24
			remote_ts = 10.2.0.0/24
			esp_proposals = aes256-sha256 } } }
}
secrets { ike { secret = "$psk" } }
CONF
	charon_start ikdt-c "$work/swanctl.conf"
}

# ---- 1: the branch comes up to both POPs ----
[ "$have_charon" = 1 ] && start_charon
start_ikd b b
wait_for "$work/b.log" "started" 5 || fail "the ikd gateway did not start"
start_ikd a a
# `xfrmctl monitor` follows the branch's events from the start (JSON Lines).
for _ in $(seq 50); do [ -S "$work/a.sock" ] && break; sleep 0.1; done
ip netns exec ikdt-a "$xfrmctl" -j -s "$work/a.sock" monitor >"$work/monitor.json" 2>&1 &
echo $! >"$work/monitor.pid"
if wait_for "$work/a.log" "pop 'pop1': IKE SA up" 10 && wait_for "$work/b.log" "site 'branch1' .*IKE SA up" 5; then
	pass "ikd initiator <-> ikd responder: IKE SA up on both sides"
else
	fail "no IKE SA between the two ikd"
fi
if [ "$have_charon" = 1 ]; then
	if wait_for "$work/a.log" "pop 'pop2': IKE SA up" 10 &&
	   grep -q "IKE_SA branch1\[[0-9]*\] established" "$work/charon.log"; then
		pass "ikd initiator <-> charon responder: IKE SA up on both sides"
	else
		fail "no IKE SA between ikd and charon"
	fi
fi

if [ "$have_esp" = 1 ]; then
	if ip netns exec ikdt-a ping -n -q -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null; then
		pass "ping through the tunnel to pop1"
	else
		fail "no traffic through the tunnel to pop1"
		ip -n ikdt-a xfrm state; ip -n ikdt-a xfrm policy
	fi
	n=$(ip -n ikdt-b -s xfrm state | grep -c 'src 192.0.2.1 dst 192.0.2.2')
	[ "$n" -ge 1 ] && pass "pop1 holds the branch's inbound SA" || fail "pop1 has no SA from the branch"
else
	# The gateway tries the install before it answers and, refused, says so and answers
	# NO_PROPOSAL_CHOSEN: the branch is never told of a Child SA that is not there.
	if grep -q "kernel refused the Child SA.*answered NO_PROPOSAL_CHOSEN, the IKE SA kept" "$work/b.log" &&
	   grep -q "pop 'pop1': the POP refused the Child SA: NO_PROPOSAL_CHOSEN" "$work/a.log"; then
		pass "no ESP in this kernel: the gateway's kernel refused the Child SA and the branch was told NO_PROPOSAL_CHOSEN"
	else
		fail "no clear error about the Child SA install"
	fi
	# charon cannot get an SPI from a kernel without ESP and refuses the child: said in words.
	if [ "$have_charon" = 1 ]; then
		grep -q "pop 'pop2': the POP refused the Child SA: NO_PROPOSAL_CHOSEN" "$work/a.log" &&
			pass "charon's refusal of the child is logged by name" ||
			fail "charon's refusal of the child is not logged"
	fi
	# Fail-closed even so: the branch's outbound policy blocks.
	if ip -n ikdt-a xfrm policy | grep -A3 'dir out' | grep -q 'action block'; then
		pass "no usable POP: the site's outbound policy blocks (fail-closed)"
	else
		fail "the outbound policy does not block with no usable POP"
		ip -n ikdt-a xfrm policy
	fi
fi

# Policies hashed, not searched: ikd lowered its namespace's IPv4 policy hash thresholds to
# its policies' prefixes (the site's /24s; the kernel's default 32/32 hashes only /32s), and
# said so. The gateway too when it installed the Child SA's policies (ESP).
hthresh_ok() {	# hthresh_ok NS LOG
	ip -n "$1" -s -s xfrm policy count | grep -q 'IPv4 thresholds: local 24 remote 24' &&
		grep -q "IPv4 policy hash thresholds: local 24, remote 24 bits (were 32, 32)" "$2"
}
if hthresh_ok ikdt-a "$work/a.log" && { [ "$have_esp" = 0 ] || hthresh_ok ikdt-b "$work/b.log"; }; then
	pass "the kernel's IPv4 policy hash thresholds lowered to the sites' prefixes (24, 24)"
else
	fail "policy hash thresholds not lowered: $(ip -n ikdt-a -s -s xfrm policy count | grep IPv4)"
fi

# ikd keeps only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (bits 12 and 10) and no-new-privileges.
caps=$(awk '/^CapEff:/ { print $2 }' "/proc/$(cat "$work/a.pid")/status")
nnp=$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$(cat "$work/a.pid")/status")
if [ "$caps" = 0000000000001400 ] && [ "$nnp" = 1 ]; then
	pass "ikd runs with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only, no-new-privileges set"
else
	fail "ikd's capabilities: CapEff $caps, NoNewPrivs $nnp"
fi
# No key on ikd's command line, ever (the process list is world-readable).
grep -qaF "$psk" "/proc/$(cat "$work/a.pid")/cmdline" && fail "the PSK is on ikd's command line"

# ---- 2: the control socket ----
if [ -x "$xfrmctl" ]; then
	out=$(ip netns exec ikdt-a "$xfrmctl" -s "$work/a.sock" site list 2>&1)
	echo "$out"
	grep -q <<<"$out" branch1 && pass "xfrmctl site list shows the site" || fail "xfrmctl site list: $out"
	out=$(ip netns exec ikdt-a "$xfrmctl" -s "$work/a.sock" -j site show branch1 2>&1)
	grep -q <<<"$out" '"pop1"' && pass "xfrmctl -j site show names the POP tunnels" || fail "site show: $out"
	grep -qF "$psk" <<<"$out" && fail "site show printed the PSK"
	out=$(ip netns exec ikdt-a "$xfrmctl" -s "$work/a.sock" -j status 2>&1)
	grep -q '"policy_hash_thresholds": *"auto"' <<<"$out" &&
		grep -q '"policy_hash_ipv4": *"local 24 remote 24"' <<<"$out" &&
		grep -q '"policy_hash_ipv6": *"local 128 remote 128"' <<<"$out" &&
		pass "xfrmctl status shows the kernel's policy hash thresholds" ||
		fail "xfrmctl -j status: $out"
	out=$(ip netns exec ikdt-a "$xfrmctl" -s "$work/a.sock" sa list 2>&1)
	grep -q <<<"$out" "pop1" && pass "xfrmctl sa list shows the IKE SAs" || fail "sa list: $out"
fi

# ---- 3: pop1 dies: failover to pop2, then fallback when it returns ----
if [ "$have_esp" = 1 ] && [ "$have_charon" = 1 ]; then
	kill -9 "$(cat "$work/b.pid")"; rm -f "$work/b.pid"
	if wait_for "$work/a.log" "failover from pop 'pop1' to pop 'pop2'" 15; then
		pass "pop1 dead: failover to pop2"
	else
		fail "no failover to pop2"
	fi
	if ip netns exec ikdt-a ping -n -q -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null; then
		pass "ping through the tunnel to pop2 (charon)"
	else
		fail "no traffic through pop2"
	fi
	ip -n ikdt-b xfrm state flush; ip -n ikdt-b xfrm policy flush
	start_ikd b b
	if wait_for "$work/a.log" "fallback from pop 'pop2' to pop 'pop1'" 20; then
		pass "pop1 back: fallback after the hold-down"
	else
		fail "no fallback to pop1"
	fi
	ip netns exec ikdt-a ping -n -q -c 2 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null &&
		pass "ping through pop1 again" || fail "no traffic after fallback"
fi

# ---- 4: charon initiates to the ikd gateway with an identity it does not know ----
if [ "$have_charon" = 1 ]; then
	swan --initiate --ike tobranch --child net2 --timeout 5 >/dev/null 2>&1
	if wait_for "$work/b.log" "refused (AUTHENTICATION_FAILED): unknown identity 'branch2.example.com'" 5; then
		pass "unknown identity refused with AUTHENTICATION_FAILED"
	else
		fail "the ikd gateway did not refuse an unknown identity"
	fi
	grep -q "received AUTHENTICATION_FAILED" "$work/charon.log" &&
		pass "charon was told AUTHENTICATION_FAILED" || fail "charon did not get AUTHENTICATION_FAILED"
	# Now the gateway learns branch2 (the site record, its selectors) and charon gets in.
	printf '[site branch2]\nid = branch2.example.com\npsk = hex:%s\nprimary = pop1\nbackups = pop2\nlocal-ts = 10.3.0.0/24\nremote-ts = 10.2.0.0/24\nesp-proposals = aes256-sha256\n' \
		"$psk_hex" >>"$work/b.store"
	kill "$(cat "$work/b.pid")" 2>/dev/null; sleep 0.5
	start_ikd b b
	wait_for "$work/b.log" "started.*2 sites" 5
	swan --initiate --ike tobranch --child net2 --timeout 8 >/dev/null 2>&1
	if wait_for "$work/b.log" "site 'branch2' .*IKE SA up" 5 &&
	   swan --list-sas 2>/dev/null | grep -q "tobranch.*ESTABLISHED"; then
		pass "charon initiator <-> ikd responder: IKE SA up on both sides"
	else
		fail "charon could not connect to the ikd gateway"
	fi
fi

# ---- 5: kill -9 and restart: the kernel is reconciled, the tunnel comes back ----
# The gateway may have restarted above: first the branch is back with it.
for _ in $(seq 150); do
	[ "$(awk '/ikd .* started/ { n = 0 } /site .branch1. .*IKE SA up/ { n++ } END { print n }' "$work/b.log")" -ge 1 ] && break
	sleep 0.1
done
# ---- the events xfrmctl monitor saw (the gateway's restarts above cut the tunnel) ----
if [ "$have_charon" = 1 ] || [ "$have_esp" = 1 ]; then
	if grep -q '"event": "down", "site": "branch1", "pop": "pop1"' "$work/monitor.json" &&
	   grep -q '"event": "up", "site": "branch1", "pop": "pop1"' "$work/monitor.json"; then
		pass "xfrmctl monitor: the tunnel going down and up, one JSON line per event"
	else
		fail "xfrmctl monitor missed events: $(head -c 400 "$work/monitor.json")"
	fi
fi
if [ "$have_esp" = 1 ] && [ "$have_charon" = 1 ]; then
	grep -q '"event": "failover", "site": "branch1", "pop": "pop2"' "$work/monitor.json" &&
		pass "xfrmctl monitor: the failover" || fail "xfrmctl monitor did not report the failover"
	grep -q '"event": "fallback", "site": "branch1", "pop": "pop1"' "$work/monitor.json" &&
		pass "xfrmctl monitor: the fallback" || fail "xfrmctl monitor did not report the fallback"
fi
n=$(grep -c "site 'branch1' .*IKE SA up" "$work/b.log")
m=$(($(wc -l <"$work/b.log") + 1))
kill -9 "$(cat "$work/a.pid")"
sleep 0.3
before=$(ip -n ikdt-a xfrm policy | grep -c 'dir ')
ip -n ikdt-a xfrm policy add src 10.9.0.0/24 dst 10.8.0.0/24 dir out priority 100 action block
echo "half-written" >"$work/a.store.tmp.Xy12Zq"	# as a power cut mid-write leaves it
start_ikd a a
if wait_for "$work/a.log" "removed $work/a.store.tmp.Xy12Zq, left by an interrupted store write" 5 &&
   [ ! -e "$work/a.store.tmp.Xy12Zq" ]; then
	pass "restart: the temporary file of an interrupted store write was removed"
else
	fail "restart: a stale store temporary file was left"
fi
if wait_for "$work/a.log" "removed what an earlier ikd left in the kernel: .* $before policies" 5; then
	pass "restart after kill -9: the $before policies left behind were removed"
else
	fail "restart after kill -9: leftovers not reconciled ($before policies were left)"
fi
ip -n ikdt-a xfrm policy | grep -q 'src 10.9.0.0/24' && pass "restart: a policy that is not ikd's was kept" ||
	fail "restart: ikd removed a policy that was not its own"
ip -n ikdt-a xfrm policy del src 10.9.0.0/24 dst 10.8.0.0/24 dir out
if wait_count "$work/b.log" "site 'branch1' .*IKE SA up" $((n + 1)) 15; then
	pass "restart: the branch's tunnel to pop1 is back"
	# The gateway replaces the old IKE SA, unless its liveness check found it dead first
	# (3 s of silence: the restart takes as long in the VM); either way one is left.
	if wait_for "$work/b.log" "replaced by a new IKE SA" 2; then
		pass "the gateway replaced the old IKE SA"
	elif tail -n +"$m" "$work/b.log" | grep -q "site 'branch1' .*tunnel down: peer dead"; then
		pass "the gateway had found the old IKE SA dead before the new one came"
	fi
	gw_ike() { ip netns exec ikdt-b "$xfrmctl" -s "$work/b.sock" -j sa list 2>/dev/null |
		jq '[.. | objects | select(.type == "ike" and .site == "branch1")] | length'; }
	# (an old IKE SA whose Delete is not answered goes after the retransmissions)
	wait_until 15 test "$(gw_ike)" = 1 && pass "the gateway holds one IKE SA for the site" ||
		fail "the gateway holds $(gw_ike) IKE SAs for the site (the old one kept beside the new one)"
else
	fail "restart: no new tunnel to pop1"
fi

# ---- 6: SIGTERM deletes politely ----
n=$(grep -c "site 'branch1' .*the peer deleted the IKE SA" "$work/b.log")
kill -TERM "$(cat "$work/a.pid")"
wait_for "$work/a.log" "ikd stopped" 5 && pass "SIGTERM: ikd stopped" || fail "ikd did not stop on SIGTERM"
if wait_count "$work/b.log" "site 'branch1' .*the peer deleted the IKE SA" $((n + 1)) 5; then
	pass "SIGTERM: the gateway was told (Delete)"
else
	fail "the gateway got no Delete on SIGTERM"
fi
left=$(ip -n ikdt-a xfrm policy | grep -c 'dir ')
[ "$left" = 0 ] && pass "SIGTERM: no policies left behind" || fail "$left policies left after SIGTERM"
# ---- 7: a store that does not parse stops ikd with the line and the reason, untouched ----
cp "$work/a.store" "$work/bad.store"
printf 'mark = 0x10/0xff\nbackups = pop2, pop2\n' >>"$work/bad.store"
sum=$(md5sum <"$work/bad.store")
sed "s|$work/a.store|$work/bad.store|" "$work/a.conf" >"$work/bad.conf"
out=$(ip netns exec ikdt-a "$ikd" -c "$work/bad.conf" 2>&1); rc=$?
if [ "$rc" = 1 ] && grep -q <<<"$out" "bad.store:[0-9]*: .*backups" && [ "$(md5sum <"$work/bad.store")" = "$sum" ]; then
	pass "a store that does not parse: ikd exits 1 naming the line ($(echo "$out" | grep -o 'bad.store:[0-9]*: .*' | head -1)), the file untouched"
else
	fail "bad store: exit $rc, '$out'"
fi

grep -rqF "$psk" "$work"/*.log && fail "a log holds the PSK"
[ "$fails" = 0 ] || { for f in a b; do echo "== $f.log"; tail -n 30 "$work/$f.log"; done; exit 1; }
echo "tunnels.sh: all passed"
