#!/bin/bash
# Which POP carries a site's traffic when ikd starts, and how soon every site is back after
# all its POPs were dark, with ikd's default timers on the branch (no retransmit, reconnect,
# hold-down or grace settings): a branch (ikd, role initiator) whose site has an ikd gateway
# as primary POP (pop1) and another as backup (pop2).
#   test/netns/startup.sh BUILD_DIR
#
#   ikdsu-a (branch)  192.0.2.1, LAN 10.1.0.1/24   -- bridge in ikdsu-w (ports pa, pb, pc) --
#   ikdsu-b (pop1)    192.0.2.2, cloud 10.2.0.1       ikd responder
#   ikdsu-c (pop2)    192.0.2.3, cloud 10.2.0.1       ikd responder
#
# A POP is slow or dark while its bridge port is down (its packets are lost).
#  1. primary first: pop1's tunnel is up before pop2's; traffic to pop1 from the start.
#  2. backup first, primary slow: pop1's first packets are lost for 2 s, so pop2's handshake
#     finishes first; within primary-grace (5 s) traffic goes to pop1, never to pop2, with no
#     failover or fallback event and ikd_site_fallbacks_total 0.
#  3. backup first, primary late: pop1 is dark for 15 s after the start: pop2 carries the
#     traffic once the grace has run out, and when pop1 comes up traffic moves to it within
#     seconds (not after the 60 s hold-down), as an "active" event, not a fallback, and
#     neither ikd_site_fallbacks_total nor ikd_site_failovers_total counts it.
#  4. every POP dark for 30 s, then back: traffic flows again within 8 s (default timers;
#     the figure is printed: a couple of seconds), and it is on pop1. Before, a POP silent
#     that long was retried on a doubling back-off and found up to 16 s after its return.
# Each start is a new branch ikd (SIGTERM between, which deletes its SAs at the POPs).
# Traffic (and so which POP is active) needs ESP: without it (the host) the script says so
# and is skipped. Exit 0 pass, 1 fail, 77 skipped. KEEP=1 keeps the logs.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/startup.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "startup.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
me=startup.sh
prefix=ikdsu
work=$(mktemp -d /tmp/ikdsu.XXXXXX)
. "$(dirname "$0")/lib.sh"
esp_here || { echo "startup.sh: no ESP in this kernel: which POP carries traffic needs ESP (test/vm): skipped"; exit 77; }
psk_hex=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
info() { echo "startup.sh: $*"; }
now() { local t=$EPOCHREALTIME; echo "${t/,/.}"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
ctl() { ip netns exec ikdsu-a "$xfrmctl" -s "$work/a.sock" "$@"; }
active_pop() { ctl -j site show branch1 2>/dev/null | sed -n 's/.*"active_pop": *"\([^"]*\)".*/\1/p'; }
active_is() { [ "$(active_pop)" = "$1" ]; }
site_up() { ctl -j site list 2>/dev/null | grep -q '"status": *"up"'; }
link() { ip -n ikdsu-w link set "$1" "$2"; }	# link pb|pc up|down
# The branch's choices since its start, as "EVENT POP" lines in order, from its log (logged
# where they are sent to xfrmctl monitor, which in the VM may connect after the first one).
events() {
	tail -n +"$log0" "$work/a.log" | sed -n \
		-e "s/^.*site 'branch1': traffic to pop '\([^']*\)'.*/active \1/p" \
		-e "s/^.*site 'branch1': \(failover\|fallback\) from pop '[^']*' to pop '\([^']*\)'.*/\1 \2/p" \
		-e "s/^.*site 'branch1': no usable POP.*/blocked -/p"
}
metric() { ctl metrics 2>/dev/null | awk -v m="$1" '$1 ~ "^"m"\\{" && /site="branch1"/ { print $2 }'; }

ns_bridge a b c
lans a b c

umask 077
site="[site branch1]
id = branch1.example.com
psk = hex:$psk_hex
primary = pop1
backups = pop2
traffic = mixed
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24"
printf '%s\n%s\n' "$two_pops" "$site" >"$work/a.store"
for n in b c; do printf '%s\n%s\nsource-ip = 192.0.2.1\n' "$two_pops" "$site" >"$work/$n.store"; done
printf 'role = initiator\nstore = %s/a.store\ncontrol-socket = %s/a.sock\n' "$work" "$work" >"$work/a.conf"
for n in b c; do
	p=$([ $n = b ] && echo pop1 || echo pop2)
	printf 'role = responder\nstore = %s/%s.store\ncontrol-socket = %s/%s.sock\nidentity = %s.example.net\n' \
		"$work" "$n" "$work" "$n" "$p" >"$work/$n.conf"
done
finish() { for f in a b c; do echo "== $f.log"; tail -n 30 "$work/$f.log"; done; exit 1; }
start_ikd() {	# start_ikd a|b|c
	ip netns exec "ikdsu-$1" "$ikd" -c "$work/$1.conf" >>"$work/$1.log" 2>&1 &
	echo $! >"$work/$1.pid"
	wait_until 30 test -S "$work/$1.sock" || { fail "ikd in ikdsu-$1 did not start"; finish; }
}
stop_branch() {
	kill "$(cat "$work/a.pid")" 2>/dev/null
	wait_until 10 sh -c "! kill -0 $(cat "$work/a.pid") 2>/dev/null" || true
	rm -f "$work/a.pid" "$work/a.sock"
	echo "---- branch stopped" >>"$work/a.log"
}
# since PATTERN: PATTERN in what the branch logged since its last start
since() { tail -n +"$log0" "$work/a.log" | grep -q -- "$1"; }
start_branch() {
	touch "$work/a.log"
	log0=$(($(wc -l <"$work/a.log") + 1))
	start_ikd a
}
ping_ok() { ip netns exec ikdsu-a ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1; }

start_ikd b
start_ikd c

# ---- 1: primary first ----
info "1: pop1 answers first"
link pc down
start_branch
wait_until 30 since "pop 'pop1': IKE SA up" || { fail "1: no IKE SA to pop1"; finish; }
link pc up
wait_until 20 since "pop 'pop2': IKE SA up" || fail "1: no IKE SA to pop2"
wait_until 10 active_is pop1 && pass "1: traffic to pop1 (the primary) from the start" ||
	fail "1: active POP $(active_pop), not pop1"
[ "$(events | head -n 1)" = "active pop1" ] && [ "$(events | wc -l)" = 1 ] &&
	pass "1: one event: active pop1" || fail "1: events: $(events | tr '\n' ';')"
wait_until 10 ping_ok && pass "1: ping through the tunnel" || fail "1: no ping through the tunnel"
stop_branch

# ---- 2: the backup's handshake finishes first, the primary a little later ----
info "2: pop1's first packets are lost for 2 s, pop2 answers at once"
link pb down
t0=$(now)
start_branch
wait_until 30 since "pop 'pop2': IKE SA up" || fail "2: no IKE SA to pop2"
sleep 1
link pb up
wait_until 30 active_is pop1 && pass "2: traffic to pop1, the primary, $(sub "$(now)" "$t0") s after the start" ||
	fail "2: active POP $(active_pop), not pop1"
first=$(events | head -n 1)
[ "$first" = "active pop1" ] && pass "2: pop2 never carried the traffic (first event: $first)" ||
	fail "2: the first event was '$first', not 'active pop1' (events: $(events | tr '\n' ';'))"
events | grep -qE '^(failover|fallback) ' && fail "2: failover/fallback events at start-up: $(events | tr '\n' ';')" ||
	pass "2: no failover or fallback event at start-up"
[ "$(metric ikd_site_fallbacks_total)" = 0 ] && [ "$(metric ikd_site_failovers_total)" = 0 ] &&
	pass "2: no fallback or failover counted" ||
	fail "2: fallbacks $(metric ikd_site_fallbacks_total), failovers $(metric ikd_site_failovers_total) counted"
since "waiting up to 5 s for the primary" && pass "2: the log says the backup waited for the primary" ||
	info "2: pop1 was up before pop2 here (no wait logged)"
stop_branch

# ---- 3: the primary is late, beyond the grace ----
info "3: pop1 is dark for the first 15 s"
link pb down
t0=$(now)
start_branch
wait_until 30 active_is pop2 && pass "3: pop2 carries the traffic while pop1 is not up ($(sub "$(now)" "$t0") s after the start)" ||
	fail "3: active POP $(active_pop), not pop2"
wait_until 5 ping_ok && pass "3: ping through pop2" || fail "3: no ping through pop2"
while awk -v d="$(sub "$(now)" "$t0")" 'BEGIN { exit !(d < 15) }'; do sleep 0.5; done
t_up=$(now)
link pb up
if wait_until 20 active_is pop1; then
	d=$(sub "$(now)" "$t_up")
	pass "3: traffic to pop1 $d s after it came up (the hold-down is 60 s: not applied)"
else
	fail "3: traffic not on pop1 20 s after it came up: $(active_pop)"
fi
ev=$(events | tr '\n' ';')
[ "$ev" = "active pop2;active pop1;" ] && pass "3: events: $ev (no fallback)" || fail "3: events: $ev"
[ "$(metric ikd_site_fallbacks_total)" = 0 ] && [ "$(metric ikd_site_failovers_total)" = 0 ] &&
	pass "3: no fallback or failover counted" ||
	fail "3: fallbacks $(metric ikd_site_fallbacks_total), failovers $(metric ikd_site_failovers_total) counted"
wait_until 5 ping_ok && pass "3: ping through pop1" || fail "3: no ping through pop1"

# ---- 4: every POP dark, then back (the same branch, default timers) ----
info "4: both POPs dark for 30 s"
wait_until 20 site_up || fail "4: the site is not up before the outage"
link pb down
link pc down
wait_until 15 since "pop 'pop1': tunnel down" || fail "4: pop1 was not declared dead"
wait_until 10 since "pop 'pop2': tunnel down" || fail "4: pop2 was not declared dead"
sleep 24
t_back=$(now)
link pb up
link pc up
if wait_until 30 ping_ok; then
	d=$(sub "$(now)" "$t_back")
	info "4: recovery after 30 s with every POP dark: traffic flows again $d s after the POPs came back (default timers)"
	awk -v d="$d" 'BEGIN { exit !(d <= 8) }' && pass "4: back within 8 s ($d s)" ||
		fail "4: back only after $d s"
else
	fail "4: no traffic 30 s after the POPs came back"
fi
wait_until 20 active_is pop1 && pass "4: traffic on pop1 again" || fail "4: active POP $(active_pop)"
[ "$fails" = 0 ] || finish
exit 0
