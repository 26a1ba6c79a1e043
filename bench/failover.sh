#!/bin/bash
# Failover time with ikd's default liveness timers: from the primary POP's death (its WAN link
# goes down) to the first packet answered through the backup POP, and the packets a 10 Hz
# ping loses, over repeated runs. Figures only, no pass/fail (bench/README.md).
#   bench/failover.sh BUILD_DIR [RUNS]        (root; RUNS defaults to 10)
#
#   ikdbf-a (branch)  192.0.2.1, LAN 10.1.0.1/24   -- bridge in ikdbf-w (ports pa, pb, pc) --
#   ikdbf-b (pop1)    192.0.2.2, service 10.2.0.1    ikd responder, the site's primary
#   ikdbf-c (pop2)    192.0.2.3, service 10.2.0.1    ikd responder, the backup
#
# The branch's ikd.conf sets only its paths and hold-down = 5 (default 60), so that traffic
# returns to pop1 between runs; dpd-interval (1 s), dpd-misses (3), retransmit-* and
# reconnect-* keep their defaults. Each run: a 10 Hz ping from the LAN through pop1, pop1's
# bridge port down, the ping until 2 s after ikd moved the traffic to pop2, the port up, and
# the fallback awaited. On a kernel without ESP the namespaces run under Debian's kernel in
# qemu (test/vm/boot), as test/demo/run does. KEEP=1 keeps the logs.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: bench/failover.sh BUILD_DIR [RUNS]}" && pwd)
runs=${2:-10}
hold=5
[ "$(id -u)" = 0 ] || { echo "failover.sh: needs root for namespaces: skipped"; exit 77; }
case $runs in ''|*[!0-9]*|0) echo "failover.sh: RUNS must be a positive number" >&2; exit 2 ;; esac
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
for f in "$ikd" "$xfrmctl"; do [ -x "$f" ] || { echo "failover.sh: no $f (build first)" >&2; exit 1; }; done
command -v ping >/dev/null || { echo "failover.sh: needs ping (iputils-ping)" >&2; exit 1; }

# Can this kernel run ESP? A throwaway SA in a throwaway namespace says.
esp=0
probe=ikdbf-probe-$$
if ip netns add "$probe" 2>/dev/null; then
	ip -n "$probe" xfrm state add src 192.0.2.91 dst 192.0.2.92 proto esp spi 0x100 mode tunnel \
		aead 'rfc4106(gcm(aes))' 0x0123456789abcdef0123456789abcdef01234567 128 2>/dev/null && esp=1
	ip netns del "$probe"
fi
if [ "$esp" = 0 ]; then
	[ -n "${IKD_VM:-}" ] && { echo "failover.sh: no ESP even in the VM" >&2; exit 1; }
	echo "failover.sh: this kernel cannot run ESP: measuring under Debian's kernel in qemu (test/vm/boot)"
	exec "$top/test/vm/boot" -q "$top/bench/failover.sh $build $runs" "$top"
fi

work=$(mktemp -d /tmp/ikdbf.XXXXXX)
cleanup() {
	for p in "$work"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
	sleep 0.3
	for n in a b c w; do ip netns del "ikdbf-$n" 2>/dev/null; done
	if [ -n "${KEEP:-}" ]; then echo "failover.sh: logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
now() { local t=$EPOCHREALTIME; echo "${t/,/.}"; }	# no fork: exact under qemu too
wait_until() {	# wait_until SECONDS COMMAND...
	local n=$(($1 * 10)); shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
show() { ip netns exec ikdbf-a "$xfrmctl" -s "$work/a.sock" -j site show branch1 2>/dev/null; }
active_is() { show | grep -q "\"active_pop\": *\"$1\""; }
both_up() { [ "$(show | grep -c '"state": *"up"')" -ge 2 ]; }
ready() { active_is pop1 && both_up; }
die() { echo "failover.sh: $*" >&2; for n in a b c; do echo "== $n.log"; tail -15 "$work/$n.log"; done; exit 1; }

for n in a b c w; do ip netns add "ikdbf-$n"; ip -n "ikdbf-$n" link set lo up; done
ip -n ikdbf-w link add br0 type bridge
ip -n ikdbf-w link set br0 up
i=1
for n in a b c; do
	ip link add "ikdbf-$n" netns "ikdbf-$n" type veth peer name "p$n" netns ikdbf-w
	ip -n "ikdbf-$n" addr add "192.0.2.$i/24" dev "ikdbf-$n"
	ip -n "ikdbf-$n" link set "ikdbf-$n" up
	ip -n ikdbf-w link set "p$n" master br0 up
	i=$((i + 1))
done
ip -n ikdbf-a addr add 10.1.0.1/24 dev lo
for n in b c; do
	ip -n "ikdbf-$n" addr add 10.2.0.1/32 dev lo
	ip -n "ikdbf-$n" route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1
done
ip -n ikdbf-a route add 10.2.0.0/24 via 192.0.2.2 src 10.1.0.1

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
psk = hex:$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
primary = pop1
backups = pop2
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24"
printf '%s\n' "$store" >"$work/a.store"
printf 'role = initiator\nstore = %s/a.store\ncontrol-socket = %s/a.sock\nhold-down = %d\n' \
	"$work" "$work" "$hold" >"$work/a.conf"
for n in b c; do
	printf '%s\nsource-ip = 192.0.2.1\n' "$store" >"$work/$n.store"
	printf 'role = responder\nstore = %s/%s.store\ncontrol-socket = %s/%s.sock\nidentity = pop%d.example.net\n' \
		"$work" "$n" "$work" "$n" "$([ $n = b ] && echo 1 || echo 2)" >"$work/$n.conf"
done
for n in b c a; do
	ip netns exec "ikdbf-$n" "$ikd" -c "$work/$n.conf" >"$work/$n.log" 2>&1 &
	echo $! >"$work/$n.pid"
	wait_until 20 test -S "$work/$n.sock" || die "ikd in ikdbf-$n did not start"
done
ip netns exec ikdbf-a "$xfrmctl" -j -s "$work/a.sock" monitor >"$work/monitor.json" 2>&1 &
echo $! >"$work/monitor.pid"
# pop2 may come up first; then traffic moves to pop1 after the hold-down.
wait_until 60 ready || die "the tunnels did not come up with pop1 active"

echo "failover.sh: kernel $(uname -r)$([ -n "${IKD_VM:-}" ] && echo ' (qemu, TCG)'); $runs runs"
echo "failover.sh: branch ikd with the default dpd-interval (1 s), dpd-misses (3), retransmit-*"
echo "             and reconnect-*; hold-down shortened to $hold s (default 60) so that traffic"
echo "             returns to pop1 between runs; a 10 Hz ping from 10.1.0.1 to 10.2.0.1"
out=() lost=() dec=() rate=()
for r in $(seq "$runs"); do
	# A random phase against the liveness checks (one a second).
	sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 1 + r / 32768 }')"
	m=$(($(wc -l <"$work/monitor.json") + 1))
	ip netns exec ikdbf-a ping -D -O -n -i 0.1 -W 1 -I 10.1.0.1 10.2.0.1 >"$work/ping.$r" 2>&1 &
	echo $! >"$work/ping.pid"
	sleep 1
	# The moment the port is down: ip returns once the kernel made the change.
	ip -n ikdbf-w link set pb down
	t_fail=$(now)
	wait_until 30 active_is pop2 || die "run $r: no failover to pop2"
	sleep 2
	kill "$(cat "$work/ping.pid")" 2>/dev/null
	rm -f "$work/ping.pid"
	ip -n ikdbf-w link set pb up
	# ikd's decision: the failover event's time (milliseconds, UTC).
	t_dec=$(tail -n +"$m" "$work/monitor.json" | grep '"event": "failover"' | head -n 1 |
		sed -n 's/.*"time": "\([^"]*\)".*/\1/p')
	t_dec=$([ -n "$t_dec" ] && date -d "$t_dec" +%s.%N || echo "$t_fail")
	# The first reply after the first lost request came through pop2 (pop1 is unreachable).
	set -- $(awk -v tf="$t_fail" '
		/bytes from/ { match($0, /^\[[0-9.]+\]/); ts = substr($0, 2, RLENGTH - 2) + 0
			match($0, /icmp_seq=[0-9]+/); seq = substr($0, RSTART + 9, RLENGTH - 9) + 0
			got[seq] = 1; at[seq] = ts; if (seq > max) max = seq; if (!t1) { t1 = ts; s1 = seq } }
		END { for (s = 1; s <= max; s++) if (!got[s]) { n++; if (!first) first = s }
			for (s = first + 1; s <= max && first; s++) if (got[s]) { up = at[s]; break }
			rate = max > s1 ? (max - s1) / (at[max] - t1) : 0
			printf "%.2f %d %.1f\n", up ? up - tf : -1, n, rate }' "$work/ping.$r")
	out+=("$1") lost+=("$2") rate+=("$3")
	dec+=("$(awk -v a="$t_dec" -v b="$t_fail" 'BEGIN { printf "%.2f", a - b }')")
	printf 'run %2d: ikd failed over after %5.2f s; first answer through pop2 after %5.2f s; %3d packets lost\n' \
		"$r" "${dec[-1]}" "$1" "$2"
	[ "$r" = "$runs" ] && break
	wait_until $((hold + 60)) ready || die "run $r: traffic did not return to pop1"
done

stats() {	# stats FORMAT VALUES...: min median max
	local f=$1; shift
	printf '%s\n' "$@" | sort -g | awk -v f="$f" '{ v[NR] = $1 } END {
		med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf f " " f " " f, v[1], med, v[NR] }'
}
echo
row() { printf '%-54s %s\n' "$@"; }
row "over $runs runs" "$(printf '%7s %7s %7s' min median max)"
row "  primary down -> first answer through the backup (s)" "$(stats %7.2f "${out[@]}")"
row "  packets lost" "$(stats %7.0f "${lost[@]}")"
row "  primary down -> ikd's failover decision (s)" "$(stats %7.2f "${dec[@]}")"
row "  ping requests per second (10 asked)" "$(stats %7.1f "${rate[@]}")"
echo "(goal from the failover issue: a median of at most 3 s to the first answer)"
