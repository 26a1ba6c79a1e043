#!/bin/bash
# A daemon killed with SIGKILL (no Delete sent) and started again, at either end.
#   test/netns/peer_restart.sh BUILD_DIR
#
#   ikdrs-a (branch)  192.0.2.1, LAN 10.1.0.1   -- bridge in ikdrs-w --
#   ikdrs-b (pop1)    192.0.2.2, cloud 10.2.0.1    ikd responder, the primary POP
#   ikdrs-c (pop2)    192.0.2.3, cloud 10.2.0.1    ikd responder, a backup
#   ikdrs-d (pop3)    192.0.2.4, cloud 10.2.0.1    strongSwan's charon, a backup (when installed)
#
#  1. pop1's ikd is killed: the branch's liveness checks find it dead (the time is printed,
#     bound dpd-interval x dpd-misses + 1 s) and traffic fails over to pop2 (the site's
#     active POP, its outbound policy's template, a ping that goes on).
#  2. pop1's ikd starts again (it removes what the killed one left in the kernel): the
#     branch builds a new IKE SA to it, and pop1 holds exactly one IKE SA for the site;
#     after the hold-down traffic falls back to pop1.
#  3. The same before the branch notices: pop1 killed and started again at once; the
#     branch's checks on the IKE SA the new pop1 does not know find it dead all the same.
#  4. The branch's ikd is killed and started again: each POP replaces the IKE SA it held
#     for the site by the new one (INITIAL_CONTACT, RFC 7296 section 2.4) and keeps exactly
#     one; with ESP (the VM) every kernel holds exactly the SAs and policies of one tunnel
#     per POP, as before the kill.
# Without ESP (the host) no Child SA is usable, so traffic never moves and charon refuses
# every Child SA: the IKE side is asserted (detection, a new IKE SA, one IKE SA per POP) and
# charon's part needs ESP. Exit 0 pass, 1 fail, 77 skipped (not root). KEEP=1 keeps the logs.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/peer_restart.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "peer_restart.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
work=$(mktemp -d /tmp/ikdrs.XXXXXX)
psk="restart key $(od -An -tx1 -N8 /dev/urandom | tr -d ' ')"
psk_hex=$(printf '%s' "$psk" | od -An -tx1 | tr -d ' \n')
me=peer_restart.sh
prefix=ikdrs
. "$(dirname "$0")/lib.sh"
hold=5 dpd_i=1 dpd_m=3

info() { echo "peer_restart.sh: $*"; }
now() { local t=$EPOCHREALTIME; echo "${t/,/.}"; }
stamp() { local l t; while IFS= read -r l; do t=$EPOCHREALTIME; printf '%s %s\n' "${t/,/.}" "$l"; done; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
lines() { wc -l <"$1"; }
# first_after FILE LINE TEXT SECONDS: the time of the first line from LINE on with TEXT in it
first_after() {
	local t end=$((SECONDS + $4))
	while :; do
		t=$(awk -v m="$2" -v p="$3" 'NR >= m && index($0, p) { print $1; exit }' "$1")
		[ -n "$t" ] && { echo "$t"; return 0; }
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}
wait_until() {	# wait_until SECONDS COMMAND...
	local end=$((SECONDS + $1)); shift
	while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.2; done
	"$@"
}

have_charon=0
[ -x /usr/lib/ipsec/charon ] && have_charon=1
if [ "$have_charon" = 1 ]; then ns_bridge a b c d; else ns_bridge a b c; fi
ip -n ikdrs-a addr add 10.1.0.1/32 dev lo
ip -n ikdrs-a route add 10.2.0.0/24 via 192.0.2.2 src 10.1.0.1
for n in b c $([ "$have_charon" = 1 ] && echo d); do
	ip -n "ikdrs-$n" addr add 10.2.0.1/32 dev lo
	ip -n "ikdrs-$n" route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1
done
have_esp=0
esp_here && have_esp=1
[ "$have_esp" = 1 ] && info "this kernel runs ESP: traffic and kernel state are asserted" ||
	info "no ESP in this kernel: the IKE side is asserted; traffic, failover and charon need ESP (test/vm)"

umask 077
pops=$two_pops
backups=pop2
if [ "$have_charon" = 1 ]; then
	pops="$pops
[pop pop3]
gateway = 192.0.2.4
probe-ip = 10.2.0.1
ike-id = pop3.example.net"
	backups="pop2,pop3"
fi
site="[site branch1]
id = branch1.example.com
psk = hex:$psk_hex
primary = pop1
backups = $backups
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24
esp-proposals = aes256gcm16-modp2048,aes256-sha256-modp2048
dpd-interval = 2"
printf '%s\n%s\n' "$pops" "$site" >"$work/a.store"
for n in b c; do printf '%s\n%s\nsource-ip = 192.0.2.1\n' "$pops" "$site" >"$work/$n.store"; done
cat >"$work/a.conf" <<CONF
role = initiator
store = $work/a.store
control-socket = $work/a.sock
retransmit-timeout = 300
retransmit-tries = 4
reconnect-min = 1
reconnect-max = 2
dpd-interval = $dpd_i
dpd-misses = $dpd_m
hold-down = $hold
CONF
for n in b c; do
	printf 'role = responder\nstore = %s/%s.store\ncontrol-socket = %s/%s.sock\nidentity = pop%s.example.net\n' \
		"$work" "$n" "$work" "$n" "$([ $n = b ] && echo 1 || echo 2)" >"$work/$n.conf"
done
if [ "$have_charon" = 1 ]; then
	cat >"$work/swanctl.conf" <<CONF
connections { branch1 { version = 2
	local_addrs = 192.0.2.4
	remote_addrs = 192.0.2.1
	proposals = aes256-sha256-modp2048
	dpd_delay = 2s
	local { auth = psk
		id = fqdn:pop3.example.net }
	remote { auth = psk
		id = fqdn:branch1.example.com }
	children { net { local_ts = 10.2.0.0/24
		remote_ts = 10.1.0.0/24
		esp_proposals = aes256gcm16-modp2048,aes256-sha256-modp2048 } } } }
secrets { ike { secret = "$psk" } }
CONF
fi

start_ikd() {	# start_ikd a|b|c: its log gets the time of each line
	ip netns exec "ikdrs-$1" "$ikd" -c "$work/$1.conf" 2> >(stamp >>"$work/$1.log") >/dev/null &
	echo $! >"$work/$1.pid"
	wait_until 30 test -S "$work/$1.sock" || { fail "ikd in ikdrs-$1 did not start"; finish; }
}
kill9() {	# kill9 a|b|c: no Delete goes out; the kernel state stays behind. Sets t_kill.
	local pid
	pid=$(cat "$work/$1.pid"); rm -f "$work/$1.pid"
	t_kill=${EPOCHREALTIME/,/.}	# no fork between the clock and the kill
	kill -9 "$pid"
	wait "$pid" 2>/dev/null	# reaped quietly
	rm -f "$work/$1.sock"
}
finish() {
	for f in a b c; do echo "== $f.log"; tail -n 25 "$work/$f.log"; done
	[ -f "$work/charon.log" ] && { echo "== charon.log"; tail -n 15 "$work/charon.log"; }
	exit 1
}
ctl() { ip netns exec "ikdrs-$1" "$xfrmctl" -s "$work/$1.sock" "${@:2}"; }
# The IKE SAs a POP holds for the site.
ike_sas() {
	if [ "$1" = d ]; then
		swan --list-sas --ike branch1 2>/dev/null | grep -c "^branch1: #"
	else
		ctl "$1" -j sa list 2>/dev/null | grep -c '"type": *"ike"'
	fi
}
active_pop() { ctl a -j site show branch1 2>/dev/null | sed -n 's/.*"active_pop": *"\([^"]*\)".*/\1/p'; }
active_is() { [ "$(active_pop)" = "$1" ]; }
# The template of the site's outbound policy (ikd's priority 0x494b; its probes have their own).
out_tmpl() {
	ip -n ikdrs-a xfrm policy list dir out src 10.1.0.0/24 dst 10.2.0.0/24 priority 18763 |
		sed -n 's/.*tmpl src [^ ]* dst \([^ ]*\).*/\1/p'
}
pings() { grep -c 'bytes from' "$work/ping.log"; }
pings_ge() { [ "$(pings)" -ge "$1" ]; }
pings_grow() {	# pings_grow N SECONDS: N more replies within SECONDS
	wait_until "$2" pings_ge $(($(pings) + $1))
}
# kernel_state NS: "SAs/policies" in a namespace's kernel (not the IKE sockets' own policies)
kernel_state() {
	echo "$(ip -n "$1" xfrm state | grep -c '^src')/$(ip -n "$1" xfrm policy | grep -cE '^\s+dir (in|out|fwd) ')"
}

# ---- start: every POP, then the branch, every tunnel up ----
[ "$have_charon" = 1 ] && charon_start ikdrs-d "$work/swanctl.conf"
start_ikd b
start_ikd c
start_ikd a
npops=$([ "$have_charon" = 1 ] && echo 3 || echo 2)
wait_until 15 grep -q "pop 'pop1': IKE SA up" "$work/a.log" &&
	wait_until 10 grep -q "pop 'pop2': IKE SA up" "$work/a.log" &&
	pass "IKE SAs up to pop1 and pop2" || { fail "the branch's tunnels did not come up"; finish; }
if [ "$have_esp" = 1 ]; then
	[ "$have_charon" = 1 ] && { wait_until 20 grep -q "pop 'pop3': IKE SA up" "$work/a.log" ||
		fail "no IKE SA to charon (pop3)"; }
	wait_until 20 active_is pop1 && pass "traffic to pop1 (the primary)" || fail "active POP: $(active_pop)"
	ip netns exec ikdrs-a ping -D -n -i 0.1 -W 1 -I 10.1.0.1 10.2.0.1 >"$work/ping.log" 2>&1 &
	echo $! >"$work/ping.pid"
	pings_grow 5 10 && pass "the ping goes through pop1" || fail "no ping through pop1"
	sleep 1
	before_a=$(kernel_state ikdrs-a) before_b=$(kernel_state ikdrs-b) before_c=$(kernel_state ikdrs-c)
	info "kernel SAs/policies before the kills: branch $before_a, pop1 $before_b, pop2 $before_c"
fi

# ---- 1: pop1's ikd killed ----
m=$(($(lines "$work/a.log") + 1))
kill9 b
t_det=$(first_after "$work/a.log" "$m" "pop 'pop1': tunnel down" $((dpd_i * dpd_m + 5)))
if [ -n "$t_det" ]; then
	det=$(sub "$t_det" "$t_kill")
	info "1: pop1 killed: declared dead after $det s ($(tail -n +"$m" "$work/a.log" | grep -m1 "pop 'pop1': tunnel down" | sed 's/.*tunnel down: //'))"
	le "$det" $((dpd_i * dpd_m + 1)) && pass "1: pop1's death detected in $det s (bound $((dpd_i * dpd_m + 1)) s)" ||
		fail "1: pop1's death detected after $det s (bound $((dpd_i * dpd_m + 1)) s)"
else
	fail "1: pop1's death not detected"
fi
if [ "$have_esp" = 1 ]; then
	t_fo=$(first_after "$work/a.log" "$m" "failover from pop 'pop1' to pop 'pop2'" 5)
	[ -n "$t_fo" ] && pass "1: failover to pop2 $(sub "$t_fo" "$t_kill") s after the kill" || fail "1: no failover to pop2"
	[ "$(active_pop)" = pop2 ] && [ "$(out_tmpl)" = 192.0.2.3 ] &&
		pass "1: site's active POP pop2, its outbound policy's template to 192.0.2.3" ||
		fail "1: active POP $(active_pop), outbound template to $(out_tmpl)"
	pings_grow 10 5 && pass "1: the ping goes on through pop2" || fail "1: the ping stopped after the failover"
fi

# ---- 2: pop1 comes back ----
sleep 1
m=$(($(lines "$work/a.log") + 1))
t_start=$(now)
start_ikd b
[ "$have_esp" = 0 ] || wait_for "$work/b.log" "removed what an earlier ikd left in the kernel" 3 ||
	fail "2: pop1 did not remove what the killed ikd left in the kernel"
t_up=$(first_after "$work/a.log" "$m" "pop 'pop1': IKE SA up" 15)
if [ -n "$t_up" ]; then
	pass "2: a new IKE SA to pop1 $(sub "$t_up" "$t_start") s after its restart"
else
	fail "2: no new IKE SA to pop1 after its restart"
fi
sleep 2
n=$(ike_sas b)
[ "$n" = 1 ] && pass "2: pop1 holds exactly one IKE SA for the site" || fail "2: pop1 holds $n IKE SAs for the site"
if [ "$have_esp" = 1 ] && [ -n "$t_up" ]; then
	t_fb=$(first_after "$work/a.log" "$m" "fallback from pop 'pop2' to pop 'pop1'" $((hold + 10)))
	if [ -n "$t_fb" ]; then
		fb=$(sub "$t_fb" "$t_up")
		info "2: fallback to pop1 $fb s after its tunnel came up (hold-down $hold s)"
		le "$((hold - 1))" "$fb" && le "$fb" "$((hold + 3))" &&
			pass "2: traffic fell back to pop1 after the hold-down ($fb s)" ||
			fail "2: fallback $fb s after pop1's tunnel came up (hold-down $hold s)"
	else
		fail "2: no fallback to pop1"
	fi
	[ "$(out_tmpl)" = 192.0.2.2 ] && pass "2: the outbound policy points at pop1 again" ||
		fail "2: outbound template to $(out_tmpl)"
	pings_grow 10 5 && pass "2: the ping goes through pop1" || fail "2: the ping stopped after the fallback"
fi

# ---- 3: pop1 killed and started again before the branch notices ----
m=$(($(lines "$work/a.log") + 1))
kill9 b
start_ikd b
t_det=$(first_after "$work/a.log" "$m" "pop 'pop1': tunnel down" $((dpd_i * dpd_m + 5)))
if [ -n "$t_det" ]; then
	det=$(sub "$t_det" "$t_kill")
	le "$det" $((dpd_i * dpd_m + 1)) &&
		pass "3: pop1 restarted at once: the old IKE SA declared dead in $det s" ||
		fail "3: the old IKE SA to the restarted pop1 declared dead after $det s"
else
	fail "3: the IKE SA the restarted pop1 does not know was never declared dead"
fi
t_up=$(first_after "$work/a.log" "$m" "pop 'pop1': IKE SA up" 15)
[ -n "$t_up" ] && pass "3: a new IKE SA to pop1 $(sub "$t_up" "$t_kill") s after the kill" ||
	fail "3: no new IKE SA to pop1"
sleep 1
n=$(ike_sas b)
[ "$n" = 1 ] && pass "3: pop1 holds exactly one IKE SA for the site" || fail "3: pop1 holds $n IKE SAs"
[ "$have_esp" = 1 ] && { wait_until $((hold + 10)) active_is pop1 || fail "3: traffic did not come back to pop1"; }

# ---- 4: the branch's ikd killed and started again ----
rb=$(grep -c "replaced by a new IKE SA" "$work/b.log") rc=$(grep -c "replaced by a new IKE SA" "$work/c.log")
[ "$have_charon" = 1 ] && swan --list-sas --ike branch1 2>/dev/null | grep -o "branch1: #[0-9]*" >"$work/charon-before"
m=$(($(lines "$work/a.log") + 1))
kill9 a
start_ikd a
for n in b c; do
	p=$([ $n = b ] && echo pop1 || echo pop2)
	r=$([ $n = b ] && echo "$rb" || echo "$rc")
	if wait_count "$work/$n.log" "replaced by a new IKE SA" $((r + 1)) 15; then
		t=$(grep "replaced by a new IKE SA" "$work/$n.log" | tail -n 1 | cut -d' ' -f1)
		pass "4: $p replaced the IKE SA of the killed branch $(sub "$t" "$t_kill") s after the kill"
	else
		fail "4: $p did not replace the killed branch's IKE SA"
	fi
done
sleep 2
for n in b c; do
	p=$([ $n = b ] && echo pop1 || echo pop2)
	k=$(ike_sas "$n")
	[ "$k" = 1 ] && pass "4: $p holds exactly one IKE SA for the site" || fail "4: $p holds $k IKE SAs for the site"
done
if [ "$have_esp" = 1 ]; then
	if [ "$have_charon" = 1 ]; then
		first_after "$work/a.log" "$m" "pop 'pop3': IKE SA up" 15 >/dev/null
		sleep 1
		k=$(ike_sas d)
		old=$(swan --list-sas --ike branch1 2>/dev/null | grep -o "branch1: #[0-9]*" | grep -cxFf "$work/charon-before")
		[ "$k" = 1 ] && [ "$old" = 0 ] && pass "4: charon replaced the old IKE SA and holds exactly one" ||
			fail "4: charon holds $k IKE SAs for the site, $old of them from before the kill"
	fi
	wait_until 15 active_is pop1 || fail "4: no traffic to pop1 after the branch's restart"
	sleep 2
	after_a=$(kernel_state ikdrs-a) after_b=$(kernel_state ikdrs-b) after_c=$(kernel_state ikdrs-c)
	info "kernel SAs/policies after the restarts: branch $after_a, pop1 $after_b, pop2 $after_c"
	[ "$after_a" = "$before_a" ] && [ "$after_b" = "$before_b" ] && [ "$after_c" = "$before_c" ] &&
		[ "${before_a%/*}" = $((2 * npops)) ] && [ "$before_b" = 2/3 ] && [ "$before_c" = 2/3 ] &&
		pass "4: every kernel holds one tunnel's SAs and policies per POP, as before the kills" ||
		fail "4: kernel state changed: branch $before_a -> $after_a, pop1 $before_b -> $after_b, pop2 $before_c -> $after_c"
	pings_grow 10 5 && pass "4: the ping goes through after the branch's restart" || fail "4: no ping after the branch's restart"
	kill "$(cat "$work/ping.pid")" 2>/dev/null; rm -f "$work/ping.pid"
fi
grep -qF "$psk" "$work"/*.log && fail "a log holds the PSK"
[ "$fails" = 0 ] || finish
info "all passed in $SECONDS s"
