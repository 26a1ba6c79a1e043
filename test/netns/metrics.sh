#!/bin/bash
# `xfrmctl metrics` against real ikd over network namespaces: a branch (ikd, role initiator)
# with two sites, and two ikd gateways (role responder) as its POPs.
#   test/netns/metrics.sh BUILD_DIR
#
#   ikdme-a (branch)  192.0.2.1, LAN 10.1.0.1    -- bridge in ikdme-w (ports pa, pb, pc) --
#   ikdme-b (pop1)    192.0.2.2, cloud 10.2.0.1     ikd responder
#   ikdme-c (pop2)    192.0.2.3, cloud 10.2.0.1     ikd responder
#   pop3              192.0.2.9                     nobody: IKE_SA_INIT times out
#
# Site branch1 (primary pop1, backup pop2, IKE SA rekey every 6 s) comes up; site branch2
# has a PSK the gateways do not share (primary pop1, backup pop3). Every scrape of the three
# daemons must pass test/tools/prom_check (the strict reader) and promtool when installed.
# Asserted: the site up on the gateway (and on the branch with ESP), its IKE SAs, the failed
# handshakes by reason (auth_failed at both ends, timeout towards pop3) and per site; IKE SA
# rekeys counted and kept when pop1 goes dark and its tunnel is torn down; DPD misses; after
# an edit, a disable and a delete the counters do not go back and a deleted site's series go;
# `-o FILE` writes a 0644 file that a reader never finds half-written. With ESP in the kernel
# (the VM) also the traffic counters, which must not drop when a tunnel and its SAs go, the
# failover to pop2 and the fallback to pop1. Exit 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
build=$(cd "${1:?usage: test/netns/metrics.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "metrics.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
prom_check=$build/test/tools/prom_check
work=$(mktemp -d /tmp/ikdme.XXXXXX)
psk_hex=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
psk2_hex=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
psk3_hex=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
me=metrics.sh
prefix=ikdme
. "$(dirname "$0")/lib.sh"
info() { echo "metrics.sh: [${SECONDS} s] $*"; }
wait_until() {	# wait_until SECONDS COMMAND...
	local end=$((SECONDS + $1)); shift
	while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.3; done
	"$@"
}
ctl() { local n=$1; shift; ip netns exec "ikdme-$n" "$xfrmctl" -s "$work/$n.sock" "$@"; }
link() { ip -n ikdme-w link set "$1" "$2"; }	# link pb|pc up|down
count() { grep -c -- "$2" "$1" 2>/dev/null; }
more_than() { [ "$(count "$1" "$2")" -gt "$3" ]; }	# more_than FILE PATTERN N
have_promtool=0
command -v promtool >/dev/null && have_promtool=1

# scrape a|b|c: the daemon's metrics into $work/N.prom, checked; 1 when anything is wrong.
scrape() {
	ctl "$1" metrics >"$work/$1.prom" 2>"$work/$1.err" ||
		{ fail "xfrmctl metrics on $1: $(cat "$work/$1.err")"; return 1; }
	"$prom_check" "$work/$1.prom" >/dev/null 2>"$work/$1.err" ||
		{ fail "$1's metrics refused by the strict reader: $(cat "$work/$1.err")"; return 1; }
	if [ "$have_promtool" = 1 ] &&
		! promtool check metrics <"$work/$1.prom" >"$work/$1.err" 2>&1; then
		fail "$1's metrics refused by promtool: $(cat "$work/$1.err")"
		return 1
	fi
	return 0
}
# val a|b|c SERIES: the value of the sample SERIES (as printed) in the last scrape, or "none"
val() {
	awk -v s="$2" 'index($0, s " ") == 1 { print substr($0, length(s) + 2); f = 1 }
		END { if (!f) print "none" }' "$work/$1.prom"
}
# expect a|b|c SERIES OP NUMBER WHAT: pass or fail on the last scrape's value
expect() {
	local v
	v=$(val "$1" "$2")
	if [ "$v" != none ] && awk -v v="$v" -v n="$4" -v op="$3" 'BEGIN {
		exit !((op == "==" && v == n) || (op == ">=" && v >= n) || (op == ">" && v > n)) }'; then
		pass "$5 ($1: $2 = $v)"
	else
		fail "$5 ($1: $2 = $v, expected $3 $4)"
	fi
}
# scrape_until SECONDS a|b|c SERIES OP NUMBER: scrape until the value is as expected
scrape_until() {
	local end=$((SECONDS + $1)) v
	while :; do
		scrape "$2" || return 1
		v=$(val "$2" "$3")
		[ "$v" != none ] && awk -v v="$v" -v n="$5" -v op="$4" 'BEGIN {
			exit !((op == "==" && v == n) || (op == ">=" && v >= n)) }' && return 0
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.5
	done
}

ns_bridge a b c
ip -n ikdme-a addr add 10.1.0.1/32 dev lo
ip -n ikdme-b addr add 10.2.0.1/32 dev lo
ip -n ikdme-c addr add 10.2.0.1/32 dev lo
ip -n ikdme-a route add 10.2.0.0/24 via 192.0.2.2 src 10.1.0.1
ip -n ikdme-b route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1
ip -n ikdme-c route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1

have_esp=0
esp_here && have_esp=1
[ "$have_esp" = 1 ] && info "this kernel runs ESP: traffic counters are asserted" ||
	info "no ESP in this kernel: the IKE side is asserted; traffic needs ESP (test/vm)"

umask 077
pops="version = 1
[pop pop1]
gateway = 192.0.2.2
ike-id = pop1.example.net
[pop pop2]
gateway = 192.0.2.3
ike-id = pop2.example.net
[pop pop3]
gateway = 192.0.2.9"
site1="[site branch1]
id = branch1.example.com
source-ip = 192.0.2.1
primary = pop1
backups = pop2
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24
vendor-rules = no
ike-lifetime = 120
ike-rekey = 6
child-lifetime = 60
child-rekey = 5
dpd-interval = 1"
site2="[site branch2]
id = branch2.example.com
source-ip = 192.0.2.1
primary = pop1
backups = pop3
local-ts = 10.1.0.0/24
remote-ts = 10.3.0.0/24"
printf '%s\n%s\npsk = hex:%s\n%s\npsk = hex:%s\n' "$pops" "$site1" "$psk_hex" "$site2" "$psk2_hex" \
	>"$work/a.store"
for n in b c; do
	printf '%s\n%s\npsk = hex:%s\n%s\npsk = hex:%s\n' "$pops" "$site1" "$psk_hex" "$site2" \
		"$psk3_hex" >"$work/$n.store"
done
# A dead POP is found in 3 s (DPD every second) and retried within 1-2 s; IKE_SA_INIT to
# nobody gives up after 4 transmissions (0.2 + 0.4 + 0.8 + 1.6 s).
cat >"$work/a.conf" <<CONF
role = initiator
store = $work/a.store
control-socket = $work/a.sock
dpd-interval = 1
dpd-misses = 3
retransmit-timeout = 200
retransmit-tries = 4
reconnect-min = 1
reconnect-max = 2
hold-down = 3
CONF
for n in b c; do
	p=$([ $n = b ] && echo pop1 || echo pop2)
	printf 'role = responder\nstore = %s/%s.store\ncontrol-socket = %s/%s.sock\nidentity = %s.example.net\n' \
		"$work" "$n" "$work" "$n" "$p" >"$work/$n.conf"
done
finish() { for f in a b c; do echo "== $f.log"; tail -n 25 "$work/$f.log"; done; exit 1; }
start_ikd() {	# start_ikd a|b|c
	ip netns exec "ikdme-$1" "$ikd" -c "$work/$1.conf" >>"$work/$1.log" 2>&1 &
	echo $! >"$work/$1.pid"
	wait_until 30 test -S "$work/$1.sock" || { fail "ikd in ikdme-$1 did not start"; finish; }
}

# ---- 1: up, refused, timed out ----
# pop1 first, so that it is the active POP from the start (no fallback to count yet).
start_ikd b
start_ikd a
wait_until 15 grep -q "site 'branch1' pop 'pop1': IKE SA up" "$work/a.log" ||
	{ fail "branch1's IKE SA to pop1 did not come up"; finish; }
[ "$have_esp" = 1 ] && { scrape_until 30 a 'ikd_site_up{site="branch1"}' == 1 || true; }
start_ikd c
wait_until 15 grep -q "site 'branch1' pop 'pop2': IKE SA up" "$work/a.log" ||
	{ fail "branch1's IKE SA to pop2 did not come up"; finish; }
wait_until 10 grep -q "site 'branch2' pop 'pop1': IKE_AUTH failed: AUTHENTICATION_FAILED" \
	"$work/a.log" || fail "branch2 was not refused"
wait_until 15 grep -q "site 'branch2' pop 'pop3': IKE_SA_INIT: no answer" "$work/a.log" ||
	fail "IKE_SA_INIT to pop3 did not time out"
[ "$have_esp" = 1 ] && { scrape_until 30 a 'ikd_site_child_sas{site="branch1"}' == 2 || true; }

scrape a && scrape b && scrape c && pass "the metrics of all three ikd pass the strict reader$(
	[ "$have_promtool" = 1 ] && echo " and promtool")"
expect b 'ikd_site_up{site="branch1"}' == 1 "the gateway says branch1 is up"
expect b 'ikd_site_status{site="branch1",status="up"}' == 1 "... and its status is up"
expect b 'ikd_site_ike_sas{site="branch1"}' == 1 "... with one IKE SA"
expect b 'ikd_site_up{site="branch2"}' == 0 "the gateway says branch2 is down"
expect b 'ikd_handshake_failures_total{reason="auth_failed"}' '>=' 1 \
	"the gateway counts the PSK it refused as auth_failed"
expect b 'ikd_site_handshake_failures_total{site="branch2"}' '>=' 1 "... against branch2"
expect b 'ikd_half_open_sas' == 0 "no half-open SA left on the gateway"
expect a 'ikd_site_ike_sas{site="branch1"}' == 2 "the branch has an IKE SA to each POP"
expect a 'ikd_handshake_failures_total{reason="auth_failed"}' '>=' 1 \
	"the branch counts AUTHENTICATION_FAILED from pop1"
expect a 'ikd_handshake_failures_total{reason="timeout"}' '>=' 1 \
	"the branch counts the timeout towards pop3"
expect a 'ikd_site_handshake_failures_total{site="branch2"}' '>=' 2 "... both against branch2"
expect a 'ikd_site_up{site="branch2"}' == 0 "branch2 is down on the branch"
expect a 'ikd_ike_messages_sent_total' '>' 0 "IKE messages sent"
expect a 'ikd_ike_messages_received_total' '>' 0 "IKE messages received"
expect a 'ikd_kernel_esp' == "$have_esp" "ikd_kernel_esp says what the kernel can do"
expect a "ikd_build_info{version=\"$("$ikd" -V | cut -d' ' -f2)\"}" == 1 "the version"
start=$(val a ikd_start_time_seconds)
awk -v s="$start" -v now="$(date +%s)" 'BEGIN { exit !(s > now - 120 && s <= now + 1) }' &&
	pass "ikd_start_time_seconds is when ikd started ($start)" ||
	fail "ikd_start_time_seconds is $start, now is $(date +%s)"
if [ "$have_esp" = 1 ]; then
	expect a 'ikd_site_up{site="branch1"}' == 1 "the branch says branch1 is up"
	expect a 'ikd_site_active_pop_info{site="branch1",pop="pop1"}' == 1 "... through pop1"
	expect a 'ikd_site_child_sas{site="branch1"}' == 2 "... with a Child SA to each POP"
	ip netns exec ikdme-a ping -n -q -c 20 -i 0.05 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null ||
		fail "no ping through branch1's tunnel"
	scrape a
	expect a 'ikd_site_sent_packets_total{site="branch1"}' '>=' 20 "the pings went out in ESP"
	expect a 'ikd_site_received_packets_total{site="branch1"}' '>=' 20 "... and came back"
	expect a 'ikd_site_sent_bytes_total{site="branch1"}' '>' 0 "... and their bytes"
	scrape b
	expect b 'ikd_site_received_packets_total{site="branch1"}' '>=' 20 "the gateway received them"
else
	expect a 'ikd_site_up{site="branch1"}' == 0 "without ESP no Child SA: branch1 down"
	expect a 'ikd_site_child_sas{site="branch1"}' == 0 "... no Child SA in the kernel"
	expect b 'ikd_site_child_sas{site="branch1"}' == 0 "... on either side"
	expect a 'ikd_site_sent_bytes_total{site="branch1"}' == 0 "... and no traffic"
fi

# ---- 2: rekeys, then pop1 goes dark: its tunnels go, the counts stay ----
scrape_until 30 a 'ikd_site_ike_rekeys_total{site="branch1"}' '>=' 2 &&
	pass "IKE SA rekeys counted on the branch ($(val a 'ikd_site_ike_rekeys_total{site="branch1"}'))" ||
	fail "no IKE SA rekeys counted on the branch"
scrape_until 10 b 'ikd_site_ike_rekeys_total{site="branch1"}' '>=' 1 &&
	pass "... and on the gateway ($(val b 'ikd_site_ike_rekeys_total{site="branch1"}'))" ||
	fail "no IKE SA rekeys counted on the gateway"
if [ "$have_esp" = 1 ]; then
	scrape_until 20 a 'ikd_site_child_rekeys_total{site="branch1"}' '>=' 1 &&
		pass "Child SA rekeys counted" || fail "no Child SA rekeys counted"
fi
rekeys_a=$(val a 'ikd_site_ike_rekeys_total{site="branch1"}')
rekeys_b=$(val b 'ikd_site_ike_rekeys_total{site="branch1"}')
sent_a=$(val a 'ikd_site_sent_bytes_total{site="branch1"}')
fail_a=$(val a 'ikd_site_handshake_failures_total{site="branch2"}')
downs=$(count "$work/a.log" "site 'branch1' pop 'pop1': tunnel down")
ups=$(count "$work/a.log" "site 'branch1' pop 'pop1': IKE SA up")
info "pop1's link goes down"
link pb down
wait_until 15 more_than "$work/a.log" "site 'branch1' pop 'pop1': tunnel down" "$downs" &&
	pass "pop1 declared dead" || fail "pop1 was not declared dead"
scrape a
expect a 'ikd_site_dpd_misses_total{site="branch1"}' '>=' 1 "DPD misses counted"
expect a 'ikd_site_ike_sas{site="branch1"}' == 1 "one IKE SA left (to pop2)"
expect a 'ikd_site_ike_rekeys_total{site="branch1"}' '>=' "$rekeys_a" \
	"the rekeys of pop1's torn-down tunnel still count"
if [ "$have_esp" = 1 ]; then
	expect a 'ikd_site_failovers_total{site="branch1"}' == 1 "the failover to pop2 counted"
	expect a 'ikd_site_active_pop_info{site="branch1",pop="pop2"}' == 1 "... pop2 is active"
	expect a 'ikd_site_sent_bytes_total{site="branch1"}' '>=' "$sent_a" \
		"the bytes pop1's deleted Child SAs carried still count"
fi
info "pop1's link comes back"
link pb up
wait_until 20 more_than "$work/a.log" "site 'branch1' pop 'pop1': IKE SA up" "$ups" ||
	fail "pop1's tunnel did not come back"
# The gateway let the old IKE SA go: found dead, or replaced by the branch's new one.
wait_until 15 grep -Eq "site 'branch1' .*(tunnel down|replaced by a new IKE SA)" "$work/b.log" ||
	fail "the gateway kept branch1's old IKE SA"
scrape a && scrape b
expect b 'ikd_site_ike_rekeys_total{site="branch1"}' '>=' "$rekeys_b" \
	"the gateway's rekey count survives its tunnel's end"
if [ "$have_esp" = 1 ]; then
	scrape_until 15 a 'ikd_site_fallbacks_total{site="branch1"}' == 1 &&
		pass "the fallback to pop1 counted" || fail "no fallback to pop1 counted"
	expect a 'ikd_site_failovers_total{site="branch1"}' == 1 "still one failover"
fi

# ---- 3: edit, disable, delete ----
scrape a
fail_a=$(val a 'ikd_site_handshake_failures_total{site="branch2"}')
rekeys_a=$(val a 'ikd_site_ike_rekeys_total{site="branch1"}')
ctl a site edit branch2 remote-ts 10.4.0.0/24 >/dev/null || fail "site edit"
ctl a site disable branch1 >/dev/null || fail "site disable"
scrape a
expect a 'ikd_site_handshake_failures_total{site="branch2"}' '>=' "$fail_a" \
	"an edited site keeps its counts"
expect a 'ikd_site_status{site="branch1",status="disabled"}' == 1 "a disabled site says so"
expect a 'ikd_site_up{site="branch1"}' == 0 "... is not up"
expect a 'ikd_site_ike_sas{site="branch1"}' == 0 "... has no IKE SA"
expect a 'ikd_site_ike_rekeys_total{site="branch1"}' '>=' "$rekeys_a" "... and keeps its counts"
ctl a site delete branch2 >/dev/null || fail "site delete"
scrape a
grep -q 'site="branch2"' "$work/a.prom" && fail "a deleted site still has series" ||
	pass "a deleted site's series are gone"
ctl a site enable branch1 >/dev/null || fail "site enable"

# ---- 4: -o FILE, read while it is rewritten ----
mkdir -m 0755 "$work/textfile"
ctl a metrics -o "$work/textfile/ikd.prom" >"$work/o.out" 2>&1 ||
	fail "metrics -o: $(cat "$work/o.out")"
[ "$(stat -c %a "$work/textfile/ikd.prom")" = 644 ] && pass "metrics -o writes mode 0644" ||
	fail "metrics -o wrote mode $(stat -c %a "$work/textfile/ikd.prom")"
"$prom_check" "$work/textfile/ikd.prom" >/dev/null && pass "... a file the strict reader passes" ||
	fail "... a file the strict reader refuses"
( for _ in $(seq 40); do ctl a metrics -o "$work/textfile/ikd.prom" || exit 1; done ) \
	>"$work/o.out" 2>&1 &
writer=$!
reads=0 torn=0
while kill -0 "$writer" 2>/dev/null; do
	cp "$work/textfile/ikd.prom" "$work/read.prom"
	"$prom_check" "$work/read.prom" >/dev/null 2>&1 || torn=$((torn + 1))
	reads=$((reads + 1))
done
wait "$writer" || fail "metrics -o failed while rewritten: $(cat "$work/o.out")"
[ "$reads" -gt 0 ] && [ "$torn" = 0 ] &&
	pass "$reads reads during 40 rewrites: never a partial file" ||
	fail "$torn of $reads reads during the rewrites found a partial file"
[ "$(find "$work/textfile" -mindepth 1 | wc -l)" = 1 ] && pass "no temporary file left behind" ||
	fail "left in the directory: $(ls -A "$work/textfile")"

for n in a b c; do
	kill -0 "$(cat "$work/$n.pid")" 2>/dev/null || fail "ikd in ikdme-$n died"
done
[ "$fails" = 0 ] || finish
echo "metrics.sh: all checks passed"
