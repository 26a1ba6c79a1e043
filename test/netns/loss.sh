#!/bin/bash
# Random loss on the IKE path: a branch (ikd, role initiator) with 10 sites, each with an ikd
# POP as primary (pop1) and another as backup (pop2), while nftables on the bridge between
# them drops UDP 500/4500 at random, in both directions (`numgen random mod 100 < P`).
#   test/netns/loss.sh BUILD_DIR
#
#   ikdls-a (branch)  192.0.2.1, LAN 10.1.1.1 (site01's)   -- bridge in ikdls-w, the loss --
#   ikdls-b (pop1)    192.0.2.2, cloud 10.2.0.1              ikd responder
#   ikdls-c (pop2)    192.0.2.3, cloud 10.2.0.1              ikd responder
#
#  1. Establishment at 0 %, 10 % and 30 % loss: the branch's ikd is started with every
#     tunnel (sites x POPs) to bring up at once, and the time from its start to each tunnel's
#     IKE SA and Child SA is printed (min/median/max per level). Every tunnel must be up
#     within a bound computed from the timers below and the loss: the time by which the
#     retransmissions (and reconnects) bring a tunnel up but with a chance below 1e-6.
#  2. 30 % loss for a minute: no tunnel is declared dead (no false failover), and every
#     tunnel rekeys its IKE SA (and, with ESP, its Child SA) at least once.
#  3. pop1 goes silent (100 % drop): every site's tunnel to it is declared dead within
#     dpd-interval x dpd-misses.
# The timers of the branch: retransmit-timeout 200 ms, 5 tries, reconnect 1-2 s, a liveness
# check every second, dead after 20 silent seconds; the POPs keep the defaults. At 30 % each
# way only 49 % of the round trips complete, so a tunnel meets k failed checks in a row with
# chance 0.51^k: with the default 3 misses a healthy POP behind such a path is declared dead
# about every 30 s (LOSS_DPD_MISSES=3: 46 times in 20 tunnel-minutes); 20 make a false death
# less likely than 1 in 1000 over this test's tunnel-minutes (the estimate is printed).
# With ESP in the kernel (the VM) a ping runs through site01 and its failover to pop2 is
# asserted; without ESP (the host) the IKE side is. Only IKE is dropped, never ESP.
# LOSS_SITES, LOSS_WATCH (seconds of phase 2), LOSS_DPD_MISSES change the figures;
# LOSS_LOG_LEVEL=debug logs every exchange.
# Exit 0 pass, 1 fail, 77 skipped (not root, or no nftables). KEEP=1 keeps the logs.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/loss.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "loss.sh: needs root for namespaces: skipped"; exit 77; }
command -v nft >/dev/null || { echo "loss.sh: needs nft (nftables): skipped"; exit 77; }
ikd=$build/ikd/ikd
work=$(mktemp -d /tmp/ikdls.XXXXXX)
me=loss.sh
prefix=ikdls
. "$(dirname "$0")/lib.sh"

n_sites=${LOSS_SITES:-10}
watch_s=${LOSS_WATCH:-60}
retx_ms=200 retx_tries=5 rmin=1 rmax=2 dpd_i=1 dpd_m=${LOSS_DPD_MISSES:-20}
n_tun=$((2 * n_sites))

info() { echo "loss.sh: $*"; }
now() { local t=$EPOCHREALTIME; echo "${t/,/.}"; }
# Each line of a log gets the time it was written (epoch seconds) in front.
stamp() { local l t; while IFS= read -r l; do t=$EPOCHREALTIME; printf '%s %s\n' "${t/,/.}" "$l"; done; }
count() { grep -c -- "$2" "$1" 2>/dev/null; }
since() { tail -n +"$2" "$1"; }	# since FILE LINE
lines() { wc -l <"$1"; }
# wait_since FILE LINE PATTERN N SECONDS: until PATTERN has appeared N times from LINE on
wait_since() {
	for _ in $(seq $(($5 * 10))); do
		[ "$(since "$1" "$2" | grep -c -- "$3")" -ge "$4" ] && return 0
		sleep 0.1
	done
	return 1
}
site() { printf 'site%02d' "$1"; }

ns_bridge a b c
ip -n ikdls-a addr add 10.1.1.1/32 dev lo
ip -n ikdls-b addr add 10.2.0.1/32 dev lo
ip -n ikdls-c addr add 10.2.0.1/32 dev lo
ip -n ikdls-a route add 10.2.0.0/24 via 192.0.2.2 src 10.1.1.1
ip -n ikdls-b route add 10.1.0.0/16 via 192.0.2.1 src 10.2.0.1
ip -n ikdls-c route add 10.1.0.0/16 via 192.0.2.1 src 10.2.0.1
have_esp=0
esp_here && have_esp=1
[ "$have_esp" = 1 ] && info "this kernel runs ESP: traffic is asserted" ||
	info "no ESP in this kernel: the IKE side is asserted; Child SA rekeys and traffic need ESP (test/vm)"

# ---- the loss: nftables on the bridge, per POP, both directions, with counters ----
loss_b=0 loss_c=0
set_loss() {	# set_loss PCT_POP1 PCT_POP2
	local rules="" ip pct rnd
	loss_b=$1 loss_c=$2
	for x in "192.0.2.2 $1" "192.0.2.3 $2"; do
		set -- $x; ip=$1 pct=$2
		[ "$pct" -gt 0 ] || continue
		rnd="numgen random mod 100 < $pct"
		[ "$pct" -ge 100 ] && rnd=""
		for dir in saddr daddr; do
			rules="$rules
			ip $dir $ip udp dport { 500, 4500 } counter
			ip $dir $ip udp dport { 500, 4500 } $rnd counter drop"
		done
	done
	ip netns exec ikdls-w nft -f - <<NFT
flush chain bridge loss path
table bridge loss {
	chain path {$rules
	}
}
NFT
}
# The loss the rules made since the last set_loss: "dropped/seen"
loss_seen() {
	ip netns exec ikdls-w nft list chain bridge loss path |
		awk '/packets/ { n = $0; sub(/.*packets /, "", n); n += 0
			if (/drop/) d += n; else s += n }
			END { printf "%d/%d (%.1f %%)", d, s, s ? 100 * d / s : 0 }'
}
ip netns exec ikdls-w nft -f - <<'NFT' || { echo "loss.sh: nftables refused a bridge table: skipped"; exit 77; }
table bridge loss {
	chain path { type filter hook forward priority 0; policy accept; }
}
NFT

# ---- configuration ----
umask 077
pops=$two_pops
printf '%s\n' "$pops" >"$work/a.store"
printf '%s\n' "$pops" >"$work/b.store"
psks=()
for i in $(seq "$n_sites"); do
	psk=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
	psks+=("$psk")
	rec="[site $(site "$i")]
id = $(site "$i").example.com
psk = hex:$psk
primary = pop1
backups = pop2
local-ts = 10.1.$i.0/24
remote-ts = 10.2.0.0/24
vendor-rules = no
ike-lifetime = 90
ike-rekey = 15
child-lifetime = 60
child-rekey = 10"
	printf '%s\n' "$rec" >>"$work/a.store"
	printf '%s\nsource-ip = 192.0.2.1\n' "$rec" >>"$work/b.store"
done
cp "$work/b.store" "$work/c.store"
cat >"$work/a.conf" <<CONF
role = initiator
store = $work/a.store
control-socket = $work/a.sock
retransmit-timeout = $retx_ms
retransmit-tries = $retx_tries
reconnect-min = $rmin
reconnect-max = $rmax
dpd-interval = $dpd_i
dpd-misses = $dpd_m
hold-down = 5
CONF
for n in b c; do
	printf 'role = responder\nstore = %s/%s.store\ncontrol-socket = %s/%s.sock\nidentity = pop%s.example.net\n' \
		"$work" "$n" "$work" "$n" "$([ $n = b ] && echo 1 || echo 2)" >"$work/$n.conf"
done
[ -n "${LOSS_LOG_LEVEL:-}" ] && for n in a b c; do echo "log-level = $LOSS_LOG_LEVEL" >>"$work/$n.conf"; done

start_ikd() {	# start_ikd a|b|c LOG
	ip netns exec "ikdls-$1" "$ikd" -c "$work/$1.conf" 2> >(stamp >>"$2") >/dev/null &
	echo $! >"$work/$1.pid"
}
stop_branch() {
	local pid
	pid=$(cat "$work/a.pid"); rm -f "$work/a.pid"
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	fail "the branch's ikd did not stop on SIGTERM"
}
finish() {
	for f in "$work"/*.log; do echo "== $f"; tail -n 25 "$f"; done
	exit 1
}

# bound Q: the seconds by which a tunnel is up but with a chance below 1e-6, when a round trip
# completes with chance Q: IKE_SA_INIT, then IKE_AUTH, each sent at 0, t, 3t, 7t ... (t the
# retransmit-timeout, retransmit-tries sends) and given up after (2^tries - 1) t; then a new
# attempt after the reconnect back-off (reconnect-min, doubling up to reconnect-max) and up
# to 1 s of jitter. Exact over 100 ms steps, 12 attempts.
bound() {
	awk -v q="$1" -v b="$((retx_ms / 100))" -v R="$retx_tries" -v rmin="$rmin" -v rmax="$rmax" '
	function exch(IN, OK, F,   t, n, p) {
		for (t in IN) {
			p = IN[t]
			for (n = 1; n <= R; n++) OK[t + b * (2 ^ (n - 1) - 1)] += p * q * (1 - q) ^ (n - 1)
			F[t + b * (2 ^ R - 1)] += p * (1 - q) ^ R
		}
	}
	BEGIN {
		S[0] = 1; r = rmin; top = 0
		for (k = 0; k < 12; k++) {
			split("", O); split("", F); split("", A)
			exch(S, O, F); exch(O, A, F)
			for (t in A) { U[t] += A[t]; if (t + 0 > top) top = t + 0 }
			split("", S)
			for (t in F) for (j = 0; j < 10; j++) S[t + 10 * r + j] += F[t] / 10
			r = 2 * r > rmax ? rmax : 2 * r
		}
		for (t = 0; t <= top; t++) if (t in U) { c += U[t]; if (c >= 1 - 1e-6) break }
		printf "%.1f", t / 10
	}'
}

# ---- the POPs, then the branch once per loss level ----
start_ikd b "$work/b.log"
start_ikd c "$work/c.log"
wait_for "$work/b.log" started 10 && wait_for "$work/c.log" started 10 || { fail "the POPs did not start"; finish; }
# Processing: handshakes of every tunnel at once on a loaded machine or an emulated one.
slack=$([ "$have_esp" = 1 ] && echo 20 || echo 3)
# Establishment: the line that says both the IKE SA and the Child SA are up; without ESP the
# POPs refuse every Child SA before they answer, so the IKE SA's line alone.
up_re=": IKE SA up .*Child SA up"
[ "$have_esp" = 1 ] || up_re=": IKE SA up"
table=()
levels=(${LOSS_LEVELS:-0 10 30})
for lvl in "${levels[@]}"; do
	q=$(awk -v p="$lvl" 'BEGIN { printf "%.4f", (1 - p / 100) ^ 2 }')
	b=$(bound "$q")
	lim=$(awk -v b="$b" -v s="$slack" 'BEGIN { printf "%d", b + s + 0.999 }')
	set_loss "$lvl" "$lvl"
	log=$work/a-$lvl.log
	t0=$(now)
	start_ikd a "$log"
	wait_count "$log" "$up_re" "$n_tun" "$lim"
	up=$(count "$log" "$up_re")
	mapfile -t ts < <(for i in $(seq "$n_sites"); do for p in pop1 pop2; do
		grep -m1 "site '$(site "$i")' pop '$p'$up_re" "$log" |
			awk -v t0="$t0" '{ printf "%.2f\n", $1 - t0 }'
	done; done)
	st=$(printf '%s\n' "${ts[@]}" | sort -n | awk '{ v[NR] = $1 } END {
		if (!NR) { print "- - -"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.2f %.2f %.2f", v[1], m, v[NR] }')
	set -- $st
	table+=("$(printf '%4s %%   %2d/%-2d  %6s %6s %6s   %5s   %s' "$lvl" "$up" "$n_tun" "$1" "$2" "$3" "$lim" "$(loss_seen)")")
	info "loss $lvl %: $up of $n_tun tunnels up, min/median/max $1/$2/$3 s (bound $lim s: $b s from the timers + $slack s)"
	if [ "$up" -ge "$n_tun" ]; then
		pass "$lvl % loss: every tunnel up within $lim s (slowest $3 s)"
	else
		fail "$lvl % loss: $up of $n_tun tunnels up after $lim s"
	fi
	[ "$lvl" = "${levels[-1]}" ] && break	# the last level's branch stays for what follows
	set_loss 0 0	# the Deletes get through, so each level starts clean
	stop_branch
	sleep 0.5
done
info "establishment (ikd start -> IKE SA and Child SA up, seconds; $n_sites sites x 2 POPs):"
info "level  up      min    median max     bound   IKE packets dropped/seen"
for row in "${table[@]}"; do info "$row"; done
[ "$fails" = 0 ] || finish

# ---- 2: a minute at 30 %: no false death, rekeys complete ----
if [ "$have_esp" = 1 ]; then
	ip netns exec ikdls-a ping -D -O -n -i 0.2 -W 1 -I 10.1.1.1 10.2.0.1 >"$work/ping.log" 2>&1 &
	echo $! >"$work/ping.pid"
fi
# What the timers give: a false death needs dpd-misses seconds of checks (about one a second
# once the back-off reaches the interval, a few more before) that all fail.
q=$(awk 'BEGIN { printf "%.4f", 0.7 ^ 2 }')
exp=$(awk -v q="$q" -v m="$dpd_m" -v n="$n_tun" -v s="$((watch_s + dpd_i * dpd_m))" \
	'BEGIN { printf "%.1g", n * s * q * (1 - q) ^ (m + 1) }')
info "30 % loss for $watch_s s: $n_tun tunnels, dpd-misses $dpd_m x ${dpd_i} s: expected false deaths ~$exp"
m=$(($(lines "$log") + 1))
set_loss 30 30
sleep "$watch_s"
w=$work/watch.log
since "$log" "$m" >"$w"
ike_rk=$(grep -c "IKE SA rekeyed" "$w")
child_rk=$(grep -c "Child SA .* rekeyed" "$w")
downs=$(grep -c "tunnel down" "$w")
fos=$(grep -c ": failover from" "$w")
not_ike=() not_child=()
for i in $(seq "$n_sites"); do for p in pop1 pop2; do
	grep -q "site '$(site "$i")' pop '$p': IKE SA rekeyed" "$w" || not_ike+=("$(site "$i")/$p")
	grep -q "site '$(site "$i")' pop '$p': Child SA .* rekeyed" "$w" || not_child+=("$(site "$i")/$p")
done; done
info "30 % loss, $watch_s s: $ike_rk IKE SA rekeys, $child_rk Child SA rekeys, $downs tunnels declared dead, $fos failovers; IKE packets dropped/seen $(loss_seen)"
[ "$downs" = 0 ] && pass "30 % loss for $watch_s s: no tunnel declared dead" ||
	fail "30 % loss: $downs tunnels declared dead: $(grep -m 3 "tunnel down" "$w" | cut -c 1-200)"
[ "${#not_ike[@]}" = 0 ] && pass "30 % loss: every tunnel rekeyed its IKE SA ($ike_rk rekeys)" ||
	fail "30 % loss: no IKE SA rekey on ${not_ike[*]}"
if [ "$have_esp" = 1 ]; then
	[ "${#not_child[@]}" = 0 ] && pass "30 % loss: every tunnel rekeyed its Child SA ($child_rk rekeys)" ||
		fail "30 % loss: no Child SA rekey on ${not_child[*]}"
	[ "$fos" = 0 ] && pass "30 % loss: no failover" || fail "30 % loss: $fos failovers"
	# -O names each request left unanswered: the highest sequence number is the count sent.
	sent=$(grep -o 'icmp_seq=[0-9]*' "$work/ping.log" | cut -d= -f2 | sort -n | tail -n 1)
	got=$(grep -c 'bytes from' "$work/ping.log")
	info "ping through site01 (ESP is not dropped): $got replies to $sent requests"
	# Where ESP packets went missing, if any did: the kernels' own XFRM error counters.
	for n in a b; do
		info "ikdls-$n XFRM errors: $(ip netns exec "ikdls-$n" awk '$2 != 0 { printf "%s %s ", $1, $2 }' /proc/net/xfrm_stat)"
	done
	sent=${sent:-0}
	[ "$sent" -ge $((watch_s * 3)) ] && [ "$got" -ge $((sent - 2)) ] &&
		pass "30 % loss on IKE: the traffic of site01 flows" ||
		fail "30 % loss on IKE: site01's ping got $got replies to $sent requests"
else
	info "Child SA rekeys need a Child SA in the kernel (ESP): not asserted here"
fi

# ---- 3: pop1 goes silent ----
m=$(($(lines "$log") + 1))
set_loss 100 30
t1=${EPOCHREALTIME/,/.}	# the drop is in place: nothing the POP sends arrives after this
lim=$((dpd_i * dpd_m + 1))
wait_since "$log" "$m" "pop 'pop1': tunnel down" "$n_sites" $((lim + 2))
w=$work/silent.log
since "$log" "$m" >"$w"
mapfile -t ts < <(grep "pop 'pop1': tunnel down" "$w" | awk -v t1="$t1" '{ printf "%.2f\n", $1 - t1 }')
n=${#ts[@]}
st=$(printf '%s\n' "${ts[@]}" | sort -n | awk 'NF { v[++n] = $1 } END { if (n) printf "%s %s %s", v[1], v[int((n + 1) / 2)], v[n]; else print "- - -" }')
set -- $st
info "pop1 silent: $n of $n_sites tunnels declared dead, after min/median/max $1/$2/$3 s (bound $lim s)"
if [ "$n" -ge "$n_sites" ] && awk -v a="$3" -v b="$lim" 'BEGIN { exit !(a <= b) }'; then
	pass "pop1 silent: declared dead on every site within $3 s (dpd-interval $dpd_i s x dpd-misses $dpd_m)"
else
	fail "pop1 silent: $n of $n_sites tunnels declared dead, the last after $3 s (bound $lim s)"
fi
n=$(grep "pop 'pop1': tunnel down" "$w" | grep -vc "peer dead")
[ "$n" = 0 ] || fail "pop1's tunnels went down for another reason: $(grep -m 1 "pop 'pop1': tunnel down" "$w")"
n=$(grep -c "pop 'pop2': tunnel down" "$w")
[ "$n" = 0 ] && pass "pop2 (30 % loss) stayed up meanwhile" || fail "pop2 declared dead $n times meanwhile"
if [ "$have_esp" = 1 ]; then
	sleep 1
	n=$(since "$log" "$m" | grep -c ": failover from pop 'pop1' to pop 'pop2'")
	[ "$n" -ge "$n_sites" ] && pass "every site failed over to pop2" || fail "$n of $n_sites sites failed over to pop2"
	# The site's own policy (ikd's priority 0x494b), not a probe's (one per tunnel).
	pol=$(ip -n ikdls-a xfrm policy list dir out src 10.1.1.0/24 dst 10.2.0.0/24 priority 18763)
	grep -q "tmpl src 192.0.2.1 dst 192.0.2.3" <<<"$pol" && pass "site01's outbound policy points at pop2" ||
		fail "site01's outbound policy: $pol"
	k=$(grep -c 'bytes from' "$work/ping.log")
	sleep 2
	[ "$(grep -c 'bytes from' "$work/ping.log")" -ge $((k + 5)) ] && pass "site01's ping flows through pop2" ||
		fail "site01's ping does not flow through pop2"
	kill "$(cat "$work/ping.pid")" 2>/dev/null; rm -f "$work/ping.pid"
fi
for k in "${psks[@]}"; do grep -qi "$k" "$work"/*.log && fail "a log holds a PSK"; done
[ "$fails" = 0 ] || finish
info "all passed in $SECONDS s"
