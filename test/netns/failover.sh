#!/bin/bash
# POP failover corner cases over network namespaces: a branch (ikd, role initiator) whose site
# has an ikd gateway as primary POP (pop1) and another as backup (pop2).
#   test/netns/failover.sh BUILD_DIR
#
#   ikdfo-a (branch)  192.0.2.1, LAN 10.1.0.1/24   -- bridge in ikdfo-w (ports pa, pb, pc) --
#   ikdfo-b (pop1)    192.0.2.2, cloud 10.2.0.1       ikd responder
#   ikdfo-c (pop2)    192.0.2.3, cloud 10.2.0.1       ikd responder
#
# The branch runs ikd's default liveness timers (a check every second, dead after 3 silent
# seconds) with a 20 s hold-down, and finds a POP that comes back within seconds
# (retransmit-tries 3, reconnect 1-2 s). A POP "fails" when its bridge port goes down.
#  a. pop1 flaps (down 10 s, up 10 s, for 60 s): traffic falls back to it at most once per
#     hold-down, each fallback a full hold-down after pop1's tunnel came up, and once after
#     the flapping stops.
#  b. every POP down under a 10 Hz ping: no clear-text packet from the LAN leaves the branch
#     (tcpdump on its WAN interface if installed, an nftables counter on the bridge), the outbound
#     policy is `action block`, `site show` says down.
#  c. `xfrmctl pop edit pop2 accepting no`: pop2 is skipped, no IKE SA to it; back with yes.
#     Each edit re-applies the site under a 100 Hz ping: its outbound policy must stay in
#     place (`ip xfrm monitor`: never deleted, only updated) and no clear text may leave.
#  d. status (up: the active POP's tunnel usable and heard from in the last 60 s): with every
#     POP silent, "down" from the detection on (the first question after it says so), never
#     "up" until a POP answers again, then "up" within seconds (15 s allowed for the VM).
# They run in the order a, c, b with d.
# With ESP in the kernel (the VM) all of it is asserted. Without ESP (the host) no Child SA
# is ever usable, so traffic never moves: the IKE side (the flapping POP declared dead and
# reconnected, no IKE SA to a POP not accepting), the blocking policy, the down status and
# the absence of clear text are asserted, and the traffic parts are said to need ESP.
# Exit 0 pass, 1 fail, 77 skipped (not root). KEEP=1 keeps the logs.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/failover.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "failover.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
work=$(mktemp -d /tmp/ikdfo.XXXXXX)
psk_hex=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
hold=20
me=failover.sh
prefix=ikdfo
. "$(dirname "$0")/lib.sh"
info() { echo "failover.sh: $*"; }
phase() { echo "failover.sh: [${SECONDS} s] $*"; }
now() { local t=$EPOCHREALTIME; echo "${t/,/.}"; }	# no fork: cheap and exact in the VM
# wait_until SECONDS COMMAND...: by the clock, as a check may take a while in the VM
wait_until() {
	local end=$((SECONDS + $1)); shift
	while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.3; done
	"$@"
}
ctl() { ip netns exec ikdfo-a "$xfrmctl" -s "$work/a.sock" "$@"; }
show() { ctl -j site show branch1 2>/dev/null; }
site_status() { ctl -j site list 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p' | head -n 1; }
both_up() { [ "$(show | grep -c '"state": *"up"')" -ge 2 ]; }
active_pop() { show | sed -n 's/.*"active_pop": *"\([^"]*\)".*/\1/p'; }
active_is() { [ "$(active_pop)" = "$1" ]; }
# The active POP as the monitor last reported it (cheaper than asking ikd in a loop).
mon_active_is() {
	[ "$(grep -E '"event": "(active|failover|fallback|blocked)"' "$work/monitor.json" | tail -n 1 |
		sed -n 's/.*"pop": "\([^"]*\)".*/\1/p')" = "$1" ]
}
status_is() { [ "$(site_status)" = "$1" ]; }
count() { grep -c -- "$2" "$1" 2>/dev/null; }
log_has_n() { [ "$(count "$1" "$2")" -ge "$3" ]; }	# log_has_n FILE PATTERN N
link() { ip -n ikdfo-w link set "$1" "$2"; }	# link pb|pc up|down
# ev_times EVENT POP FROM_LINE: the times (epoch seconds) of the branch's monitor events
ev_times() {
	tail -n +"$3" "$work/monitor.json" | grep "\"event\": \"$1\"" | grep "\"pop\": \"$2\"" |
		sed -n 's/.*"time": "\([^"]*\)".*/\1/p' | date -f - +%s.%N
}
mon_lines() { wc -l <"$work/monitor.json"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
# ping_lines_after TIME REGEX: lines of `ping -D` stamped after TIME that match REGEX
ping_lines_after() {
	awk -v t="$1" -v re="$2" 'match($0, /^\[[0-9.]+\]/) && substr($0, 2, RLENGTH - 2) + 0 > t &&
		$0 ~ re { n++ } END { print n + 0 }' "$work/ping.log"
}

ns_bridge a b c
ip -n ikdfo-a addr add 10.1.0.1/24 dev lo
ip -n ikdfo-b addr add 10.2.0.1/32 dev lo
ip -n ikdfo-c addr add 10.2.0.1/32 dev lo
ip -n ikdfo-a route add 10.2.0.0/24 via 192.0.2.2 src 10.1.0.1
ip -n ikdfo-b route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1
ip -n ikdfo-c route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1

have_esp=0
esp_here && have_esp=1
[ "$have_esp" = 1 ] && info "this kernel runs ESP: traffic is asserted" ||
	info "no ESP in this kernel: the IKE side and the policies are asserted; traffic needs ESP (test/vm)"

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
remote-ts = 10.2.0.0/24"
printf '%s\n%s\n' "$pops" "$site" >"$work/a.store"
for n in b c; do printf '%s\n%s\nsource-ip = 192.0.2.1\n' "$pops" "$site" >"$work/$n.store"; done
# Default dpd-interval and dpd-misses; a short way back for a POP that returns.
cat >"$work/a.conf" <<CONF
role = initiator
store = $work/a.store
control-socket = $work/a.sock
hold-down = $hold
retransmit-tries = 3
reconnect-min = 1
reconnect-max = 2
CONF
for n in b c; do
	p=$([ $n = b ] && echo pop1 || echo pop2)
	printf 'role = responder\nstore = %s/%s.store\ncontrol-socket = %s/%s.sock\nidentity = %s.example.net\n' \
		"$work" "$n" "$work" "$n" "$p" >"$work/$n.conf"
done
finish() { for f in a b c; do echo "== $f.log"; tail -n 25 "$work/$f.log"; done; exit 1; }
# The daemons must live through the whole test: a scenario without them proves nothing.
alive() {
	for n in a b c; do
		[ -f "$work/$n.pid" ] && ! kill -0 "$(cat "$work/$n.pid")" 2>/dev/null &&
			{ fail "ikd in ikdfo-$n is gone (it exited or was killed):" \
				"$(tail -n 2 "$work/$n.log" | tr '\n' ' ')"; finish; }
	done
	return 0
}
start_ikd() {	# start_ikd a|b|c
	ip netns exec "ikdfo-$1" "$ikd" -c "$work/$1.conf" >>"$work/$1.log" 2>&1 &
	echo $! >"$work/$1.pid"
	# The first start in the VM loads modules and runs crypto self-tests: seconds.
	wait_until 30 test -S "$work/$1.sock" || { fail "ikd in ikdfo-$1 did not start"; finish; }
}

# ---- the branch comes up: pop1 first, so that it is the active POP from the start ----
start_ikd b
start_ikd a
ip netns exec ikdfo-a "$xfrmctl" -j -s "$work/a.sock" monitor >"$work/monitor.json" 2>&1 &
echo $! >"$work/monitor.pid"
if [ "$have_esp" = 1 ]; then
	wait_until 40 active_is pop1 && pass "traffic to pop1 (the primary)" ||
		fail "pop1 did not become the active POP"
else
	wait_until 15 grep -q "pop 'pop1': IKE SA up" "$work/a.log" && pass "IKE SA up to pop1" ||
		fail "no IKE SA to pop1"
fi
start_ikd c
wait_until 20 grep -q "pop 'pop2': IKE SA up" "$work/a.log" && pass "IKE SA up to pop2 (the backup)" ||
	fail "no IKE SA to pop2"
[ "$have_esp" = 1 ] && { wait_until 10 status_is up && pass "site status up" || fail "site status: $(site_status)"; }

# ---- a: a flapping primary ----
phase "a: pop1's link goes down and up every 10 s for 60 s (hold-down $hold s)"
m=$(($(mon_lines) + 1))
downs0=$(count "$work/a.log" "pop 'pop1': tunnel down")
ups0=$(count "$work/a.log" "pop 'pop1': IKE SA up")
t_a=$(now)
for _ in 1 2 3; do
	link pb down; sleep 10
	link pb up; sleep 10
done
t_a_end=$(now)
downs=$(($(count "$work/a.log" "pop 'pop1': tunnel down") - downs0))
ups=$(($(count "$work/a.log" "pop 'pop1': IKE SA up") - ups0))
[ "$downs" -ge 3 ] && pass "a: pop1 declared dead at each of its 3 outages ($downs tunnel downs)" ||
	fail "a: pop1 was declared dead $downs times in 3 outages"
[ "$ups" -ge 2 ] && pass "a: pop1's tunnel came back while its link was up ($ups times)" ||
	fail "a: pop1's tunnel came back $ups times"
if [ "$have_esp" = 1 ]; then
	# pop1 came back at t_a + 50 s and stays: one fallback a hold-down after its tunnel is up.
	wait_until $((hold + 20)) mon_active_is pop1 || true
	sleep 1
	mapfile -t fb < <(ev_times fallback pop1 "$m")
	mapfile -t up1 < <(ev_times up pop1 "$m")
	mapfile -t fo < <(ev_times failover pop2 "$m")
	[ "${#fo[@]}" -ge 1 ] && pass "a: failover to pop2 when pop1 first went dark ($(sub "${fo[0]}" "$t_a") s)" ||
		fail "a: no failover to pop2"
	# One pass over the times (each program started costs in the VM): the fallbacks during
	# the flapping, and any that came less than a hold-down after pop1's tunnel came up
	# (the monitor's times are in milliseconds: 0.2 s allowed for that and the timer) or
	# less than a hold-down after the previous fallback.
	set -- $(awk -v ta="$t_a" -v te="$t_a_end" -v h="$hold" -v fb="${fb[*]}" -v up="${up1[*]}" 'BEGIN {
		nf = split(fb, F, " "); nu = split(up, U, " "); during = 0; bad = 0
		for (i = 1; i <= nf; i++) {
			if (F[i] <= te) during++
			last = 0
			for (j = 1; j <= nu; j++) if (U[j] <= F[i]) last = U[j]
			if (F[i] - last < h - 0.2) bad++
			if (i > 1 && F[i] - F[i - 1] < h) bad++
		}
		printf "%d %d %d", during, nf - during, bad
		printf " fallbacks_at"; for (i = 1; i <= nf; i++) printf ",+%.1f", F[i] - ta
		printf " pop1_up_at"; for (j = 1; j <= nu; j++) printf ",+%.1f", U[j] - ta }')
	during=$1 after=$2 bad=$3 upl=${5//,/ } fbl=${4//,/ }
	info "a: fallbacks: $during during the 60 s of flapping, $after after; ${upl//_/ } s; ${fbl//_/ } s"
	[ "$during" -le $((60 / hold)) ] &&
		pass "a: at most one fallback per hold-down while flapping ($during in 60 s)" ||
		fail "a: $during fallbacks in 60 s of flapping with a $hold s hold-down"
	if [ "$bad" = 0 ]; then
		[ "${#fb[@]}" -ge 1 ] && pass "a: every fallback came a full hold-down after pop1's tunnel was up"
	else
		fail "a: $bad fallbacks came less than the $hold s hold-down after pop1's tunnel" \
			"came up or after the previous fallback"
	fi
	if [ "$after" = 1 ] && active_is pop1; then
		pass "a: once the flapping stopped, traffic went back to pop1 exactly once"
	else
		fail "a: after the flapping: $after fallbacks, active $(active_pop)"
	fi
else
	n=$(tail -n +"$m" "$work/monitor.json" | grep -c '"event": "\(failover\|fallback\)"')
	[ "$n" = 0 ] && pass "a: no Child SA usable, so no failover or fallback (traffic switching needs ESP)" ||
		fail "a: $n failover/fallback events without a usable Child SA"
	wait_until 10 log_has_n "$work/a.log" "pop 'pop1': IKE SA up" $((ups0 + ups + 1)) || true
fi

# ---- the witnesses of clear text, for c and b ----
alive
# nftables on the bridge, at the branch's port: IPv4 from the LAN in clear text (ESP's outer
# source is 192.0.2.1), to the tunnelled network and, as a control, elsewhere.
nft_ok=0
if command -v nft >/dev/null && ip netns exec ikdfo-w nft -f - <<'NFT'
table netdev fo {
	counter lan_clear { }
	counter lan_control { }
	counter wan_esp { }
	chain in {
		type filter hook ingress device "pa" priority 0;
		ip saddr 10.1.0.0/24 ip daddr 10.2.0.0/24 counter name "lan_clear"
		ip saddr 10.1.0.0/24 ip daddr 192.0.2.0/24 counter name "lan_control"
		ip saddr 192.0.2.1 ip protocol esp counter name "wan_esp"
	}
}
NFT
then nft_ok=1; fi
nft_count() { ip netns exec ikdfo-w nft list counter netdev fo "$1" | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }
# tcpdump on the branch's WAN interface, when installed.
tcpdump_ok=0
if command -v tcpdump >/dev/null; then
	ip netns exec ikdfo-a tcpdump -i ikdfo-a -n -U -w "$work/wan.pcap" ip >"$work/tcpdump.log" 2>&1 &
	echo $! >"$work/tcpdump.pid"
	wait_until 5 grep -q "listening" "$work/tcpdump.log" && tcpdump_ok=1
fi
[ "$nft_ok" = 1 ] || [ "$tcpdump_ok" = 1 ] || fail "neither nftables nor tcpdump can watch the WAN link"
# pcap_count FROM TO FILTER...: packets captured between two times (epoch seconds)
pcap_count() {
	local from=$1 to=$2; shift 2
	tcpdump -tt -n -r "$work/wan.pcap" "$@" 2>/dev/null |
		awk -v a="$from" -v b="$to" '$1 + 0 >= a && $1 + 0 <= b { n++ } END { print n + 0 }'
}
# The control: clear text that no policy covers does show up on the wire.
ip netns exec ikdfo-a ping -n -q -c 3 -i 0.2 -W 1 -I 10.1.0.1 192.0.2.2 >/dev/null 2>&1

# ---- c: a POP that stops accepting new tunnels is skipped ----
phase "c: xfrmctl pop edit pop2 accepting no, under a 100 Hz ping"
# Each edit re-applies the site: its outbound policy must stay in place (updated, never
# deleted and added again), else clear text can leave in between.
ip netns exec ikdfo-a ip xfrm monitor policy >"$work/xfrm-monitor.log" 2>&1 &
echo $! >"$work/xfrm-monitor.pid"
ip netns exec ikdfo-a ping -q -n -i 0.01 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1 &
echo $! >"$work/ping-c.pid"
t_c=$(now)
c_up=$(count "$work/c.log" "site 'branch1' .*IKE SA up")
skipped0=$(count "$work/a.log" "pop 'pop2' skipped (not accepting new tunnels)")
tries0=$(count "$work/a.log" "pop 'pop2': connecting")
# pop1's Child SA (its inbound SPI): an edit of another POP, or of a field of pop1 that no
# tunnel is built from, must leave it alone (it used to rebuild every tunnel of the site).
pop1_spi() { ctl -j sa list 2>/dev/null | jq -r '.. | objects | select(.type == "child" and .pop == "pop1") | .spi_in' | sort | tr '\n' ' '; }
spi1=$(pop1_spi)
act1=$(active_pop)
if ctl pop edit pop2 accepting no >/dev/null; then
	pass "c: pop edit pop2 accepting no"
else
	fail "c: pop edit pop2 accepting no refused"
fi
wait_until 5 log_has_n "$work/a.log" "pop 'pop2' skipped (not accepting new tunnels)" $((skipped0 + 1)) &&
	pass "c: the branch skips pop2 (not accepting new tunnels)" || fail "c: pop2 not skipped"
# Long enough for a reconnect attempt (1-2 s apart) had pop2 still been tried.
sleep 4
sa=$(ctl -j sa list 2>&1)
if grep -q <<<"$sa" '"pop": *"pop2"'; then
	fail "c: the branch still has an IKE SA to pop2: $sa"
elif ! grep -q <<<"$sa" '"pop": *"pop1"'; then
	fail "c: the branch has no IKE SA to pop1 either: $sa"
else
	pass "c: the branch's IKE SAs: pop1 only"
fi
sa=$(ip netns exec ikdfo-c "$xfrmctl" -s "$work/c.sock" -j sa list 2>&1)
if grep -q <<<"$sa" '"type": *"ike"'; then
	fail "c: pop2 still holds an IKE SA: $sa"
else
	pass "c: pop2 holds no IKE SA"
fi
[ "$(count "$work/c.log" "site 'branch1' .*IKE SA up")" = "$c_up" ] &&
	pass "c: no new IKE SA to pop2 since the edit" || fail "c: pop2 got a new IKE SA after the edit"
[ "$(count "$work/a.log" "pop 'pop2': connecting")" = "$tries0" ] &&
	pass "c: the branch has not tried pop2 since the edit" || fail "c: the branch still tries to connect to pop2"
ctl pop edit pop2 accepting yes >/dev/null || fail "c: pop edit pop2 accepting yes refused"
wait_until 15 log_has_n "$work/c.log" "site 'branch1' .*IKE SA up" $((c_up + 1)) &&
	pass "c: accepting again: the tunnel to pop2 is back" || fail "c: no tunnel to pop2 after accepting yes"
ctl pop edit pop1 location "Berlin, DE" >/dev/null || fail "c: pop edit pop1 location refused"
if [ "$have_esp" = 1 ]; then
	spi1_after=$(pop1_spi)
	[ -n "$spi1" ] && [ "$spi1_after" = "$spi1" ] &&
		pass "c: pop1's Child SA ($spi1) untouched by the edits of pop2 and of pop1's location" ||
		fail "c: pop1's Child SA changed with edits that do not touch it: '$spi1' -> '$spi1_after'"
	[ "$(active_pop)" = "$act1" ] && pass "c: the site kept its active POP ($act1) through the edits" ||
		fail "c: the active POP changed from $act1 to $(active_pop) with the edits"
fi
sleep 0.5
for p in ping-c xfrm-monitor; do kill "$(cat "$work/$p.pid")" 2>/dev/null; rm -f "$work/$p.pid"; done
t_c_end=$(now)
gaps=$(awk '/^Deleted src 10.1.0.0\/24 dst 10.2.0.0\/24/ { d = 1; next }
	d && /dir out/ { n++ } { d = 0 } END { print n + 0 }' "$work/xfrm-monitor.log")
[ "$gaps" = 0 ] && pass "c: the site's outbound policy stayed in place through both edits" ||
	fail "c: the site's outbound policy was deleted $gaps times while the edits were applied" \
		"(fail-open until it is added again)"
c_clear=0
if [ "$nft_ok" = 1 ]; then
	c_clear=$(nft_count lan_clear)
	[ "$c_clear" = 0 ] && pass "c: nftables: no clear-text packet from the LAN reached the WAN during the edits" ||
		fail "c: nftables counted $c_clear clear-text packets from 10.1.0.0/24 to 10.2.0.0/24 during the edits"
fi
if [ "$tcpdump_ok" = 1 ]; then
	n=$(pcap_count "$t_c" "$t_c_end" src net 10.1.0.0/24 and dst net 10.2.0.0/24)
	[ "$n" = 0 ] && pass "c: tcpdump: no clear-text packet from the LAN left the branch during the edits" ||
		{ fail "c: tcpdump saw $n clear-text packets from 10.1.0.0/24 to 10.2.0.0/24 during the edits"
		  tcpdump -n -r "$work/wan.pcap" src net 10.1.0.0/24 and dst net 10.2.0.0/24 2>/dev/null | head -3; }
fi

# ---- b and d: every POP down under a 10 Hz ping ----
alive
if [ "$have_esp" = 1 ]; then
	wait_until 20 both_up && wait_until 5 status_is up &&
		pass "b: both tunnels up again, status up" || fail "b: status $(site_status) before the test"
fi
phase "b: every POP's link down under a 10 Hz ping from 10.1.0.1 to 10.2.0.1"
t_b=$(now)
ip netns exec ikdfo-a ping -D -O -n -i 0.1 -W 1 -I 10.1.0.1 10.2.0.1 >"$work/ping.log" 2>&1 &
echo $! >"$work/ping.pid"
sleep 2
m=$(($(mon_lines) + 1))
t_down=$(now)
link pb down
link pc down
statuses=()
t_blocked=""
while le "$(sub "$(now)" "$t_down")" 10; do	# 10 s with every POP silent
	ts=$(sub "$(now)" "$t_down")
	st=$(site_status)
	statuses+=("$ts-$(sub "$(now)" "$t_down"):$st")
	sleep 0.3
done
mapfile -t blk < <(ev_times blocked "" "$m")
sent_down=$(ping_lines_after "$t_down" .)
info "b: site status (asked-answered, seconds after both links went down): ${statuses[*]}"
pol=$(ip -n ikdfo-a xfrm policy list dir out src 10.1.0.0/24 dst 10.2.0.0/24 2>&1)
if grep -q <<<"$pol" "action block"; then
	pass "b: every POP down: the outbound policy is action block"
else
	fail "b: the outbound policy does not block: $pol"
fi
text=$(ctl site show branch1 2>&1)
if show | grep -q '"status": *"down"'; then
	pass "b: site show says down"
else
	fail "b: site show with every POP down: $text"
fi
if [ "$have_esp" = 1 ]; then
	[ "${#blk[@]}" -ge 1 ] && t_blocked=${blk[0]} &&
		pass "b: ikd blocked the site's traffic $(sub "$t_blocked" "$t_down") s after the links went down" ||
		fail "b: no 'blocked' event"
fi

alive
# ---- d: the status while every POP is silent, and when one answers again ----
if [ "$have_esp" = 1 ] && [ -n "$t_blocked" ]; then
	# ikd's rule: up while the active POP's tunnel is usable and was heard from in the last
	# 60 s; the detection clears the active POP, so any question asked after it gets "down".
	det=$(sub "$t_blocked" "$t_down")
	first="" up_after=""
	for s in "${statuses[@]}"; do
		asked=${s%%-*} answered=${s#*-} st=${s#*:}
		answered=${answered%%:*}
		le "$det" "$asked" || continue
		[ -z "$first" ] &&
			first="$st, asked $(sub "$asked" "$det") s and answered $(sub "$answered" "$det") s after it"
		[ "$st" = down ] || up_after="$up_after +$asked:$st"
	done
	if [ -z "$first" ]; then
		fail "d: no status asked after the detection (${statuses[*]})"
	elif [ "${first%%,*}" = down ]; then
		pass "d: status at the first question after the detection: $first"
	else
		fail "d: status at the first question after the detection: $first"
	fi
	[ -z "$up_after" ] && pass "d: never up after the detection while every POP is silent" ||
		fail "d: status not down after the detection with every POP silent:$up_after"
fi
c_up=$(count "$work/a.log" "pop 'pop2': IKE SA up")
link pc up
t_back=$(now)
if [ "$have_esp" = 1 ]; then
	if wait_until 15 status_is up; then
		pass "d: pop2 answers again: status up $(sub "$(now)" "$t_back") s later, active $(active_pop)"
	else
		fail "d: status still $(site_status) 15 s after pop2 came back"
	fi
	sleep 2
	replies=$(ping_lines_after "$t_back" "bytes from")
	[ "$replies" -ge 5 ] && pass "d: the ping gets answers through pop2 ($replies)" ||
		fail "d: the ping gets $replies answers after pop2 came back"
else
	[ "$(count "$work/a.log" "pop 'pop2': tunnel down")" -ge 1 ] &&
		pass "d: pop2 declared dead while silent (IKE side)" || fail "d: pop2 never declared dead"
	wait_until 15 log_has_n "$work/a.log" "pop 'pop2': IKE SA up" $((c_up + 1)) &&
		pass "d: pop2 answers again: its IKE SA is back" || fail "d: no IKE SA to pop2 after its link came back"
	status_is down && pass "d: status down throughout (no usable Child SA without ESP; up needs ESP)" ||
		fail "d: status $(site_status) without a usable Child SA"
fi
kill "$(cat "$work/ping.pid")" 2>/dev/null; rm -f "$work/ping.pid"
sleep 0.3
if [ -f "$work/tcpdump.pid" ]; then
	kill -INT "$(cat "$work/tcpdump.pid")" 2>/dev/null
	rm -f "$work/tcpdump.pid"
	sleep 0.5
fi

info "b: the ping sent $sent_down requests while every POP was down"
[ "$sent_down" -ge 30 ] || fail "b: the ping sent only $sent_down requests while every POP was down"
t_b_end=$(now)
if [ "$nft_ok" = 1 ]; then
	clear=$(($(nft_count lan_clear) - c_clear)) control=$(nft_count lan_control) esp=$(nft_count wan_esp)
	info "b: nftables at the branch's bridge port: $clear clear-text LAN packets, $control control, $esp ESP"
	[ "$control" -ge 1 ] || fail "nftables did not see the control packets"
	[ "$clear" = 0 ] && pass "b: nftables: no clear-text packet from the LAN reached the WAN" ||
		fail "b: nftables counted $clear clear-text packets from 10.1.0.0/24 to 10.2.0.0/24"
fi
if [ "$tcpdump_ok" = 1 ]; then
	clear=$(pcap_count "$t_b" "$t_b_end" src net 10.1.0.0/24 and dst net 10.2.0.0/24)
	control=$(pcap_count 0 "$t_b_end" src net 10.1.0.0/24 and dst host 192.0.2.2)
	esp=$(pcap_count 0 "$t_b_end" src host 192.0.2.1 and esp)
	info "b: tcpdump on the branch's WAN interface: $clear clear-text LAN packets, $control control, $esp ESP"
	[ "$control" -ge 1 ] || fail "tcpdump did not see the control packets"
	[ "$clear" = 0 ] && pass "b: tcpdump: no clear-text packet from the LAN left the branch" ||
		{ fail "b: tcpdump saw $clear clear-text packets from 10.1.0.0/24 to 10.2.0.0/24"
		  tcpdump -n -r "$work/wan.pcap" src net 10.1.0.0/24 and dst net 10.2.0.0/24 2>/dev/null | head -5; }
fi
[ "$have_esp" = 1 ] && [ "${esp:-0}" = 0 ] && fail "b: no ESP on the WAN link while the tunnels were up"

alive
grep -qi "$psk_hex" "$work"/*.log "$work/monitor.json" && fail "a log holds the PSK"
[ "$fails" = 0 ] || finish
echo "failover.sh: all passed"
