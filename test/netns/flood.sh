#!/bin/bash
# A half-open flood at an ikd gateway (RFC 7296 §2.6): IKE_SA_INIT requests from many source
# addresses and ports that never complete. Asserted: past cookie-threshold the gateway
# demands cookies and keeps no state for them (its half-open count and memory stay bounded),
# an established site stays up throughout (its liveness checks keep being answered), and a
# new site still gets in during the flood (with a cookie round).
#   test/netns/flood.sh BUILD_DIR [REQUESTS]
# The flood is paced (IKE_FLOOD_RATE, 2,000/s by default) so that the result does not depend
# on how fast this machine is; FLOOD_RATE=0 floods as fast as a socket goes.
# Exit 0 pass, 1 fail, 77 skipped (not root).
set -uo pipefail
build=$(cd "${1:?usage: test/netns/flood.sh BUILD_DIR [REQUESTS]}" && pwd)
requests=${2:-20000}
[ "$(id -u)" = 0 ] || { echo "flood.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
flood=$build/test/netns/ike_flood
work=$(mktemp -d /tmp/ikdf.XXXXXX)
psk_hex=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
me=flood.sh
prefix=ikdf
. "$(dirname "$0")/lib.sh"
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

ns_bridge g a b f
# The flooder speaks from 16 addresses (64 ports each).
srcs=()
for k in $(seq 100 115); do
	ip -n ikdf-f addr add "192.0.2.$k/24" dev ikdf-f
	srcs+=("192.0.2.$k")
done

umask 077
store="version = 1
[pop gw]
gateway = 192.0.2.1
probe-ip = 10.2.0.1
[pop spare]
gateway = 192.0.2.9
probe-ip = 10.2.0.1
accepting = no"
for s in 1 2; do
	store+="
[site s$s]
id = s$s.example.com
psk = hex:$psk_hex
primary = gw
backups = spare
local-ts = 10.1.$s.0/24
remote-ts = 10.2.0.0/24"
done
printf '%s\n' "$store" >"$work/g.store"
printf '%s\n' "$store" | awk '/^\[site s2\]/ { skip = 1 } !skip' >"$work/a.store"
printf '%s\n' "$store" | awk '/^\[site s1\]/ { skip = 1 } /^\[site s2\]/ { skip = 0 } !skip' >"$work/b.store"
printf 'role = responder\nstore = %s/g.store\ncontrol-socket = %s/g.sock\ncookie-threshold = 50\n' \
	"$work" "$work" >"$work/g.conf"
# The branches tolerate 10 s of silence (dpd-misses): what is asserted is that the gateway
# keeps the established SA through the flood; under AddressSanitizer it answers a 2,000/s
# flood's neighbours more slowly than the default 3 s detection allows.
for x in a b; do
	printf 'role = initiator\nstore = %s/%s.store\ncontrol-socket = %s/%s.sock\ndpd-misses = 10\n' \
		"$work" "$x" "$work" "$x" >"$work/$x.conf"
done
ip netns exec ikdf-g "$ikd" -c "$work/g.conf" >"$work/g.log" 2>&1 &
echo $! >"$work/g.pid"
wait_for "$work/g.log" started 5
ip netns exec ikdf-a "$ikd" -c "$work/a.conf" >"$work/a.log" 2>&1 &
echo $! >"$work/a.pid"
wait_for "$work/g.log" "site 's1' .*IKE SA up" 10 || fail "site s1 did not come up before the flood"
gpid=$(cat "$work/g.pid")
rss0=$(rss_kb "$gpid")

IKE_FLOOD_RATE=${FLOOD_RATE:-2000} ip netns exec ikdf-f "$flood" 192.0.2.1 "$requests" "${srcs[@]}" \
	>"$work/flood.out" 2>&1 &
echo $! >"$work/flood.pid"
sleep 1
# A new site during the flood.
ip netns exec ikdf-b "$ikd" -c "$work/b.conf" -d >"$work/b.log" 2>&1 &
echo $! >"$work/b.pid"
half_max=0
while kill -0 "$(cat "$work/flood.pid")" 2>/dev/null; do
	h=$(ip netns exec ikdf-g "$xfrmctl" -j -s "$work/g.sock" status 2>/dev/null |
	    sed -n 's/.*"half_open": *\([0-9]*\).*/\1/p')
	[ -n "$h" ] && [ "$h" -gt "$half_max" ] && half_max=$h
	sleep 0.2
done
rm -f "$work/flood.pid"
rss1=$(rss_kb "$gpid")
cat "$work/flood.out"
status=$(ip netns exec ikdf-g "$xfrmctl" -j -s "$work/g.sock" status 2>/dev/null)
cookies=$(echo "$status" | sed -n 's/.*"cookies_sent": *\([0-9]*\).*/\1/p')
echo "flood.sh: gateway: at most $half_max half-open SAs seen, $cookies cookie demands, RSS ${rss0} kB before, ${rss1} kB after"
[ "${cookies:-0}" -gt $((requests / 2)) ] && pass "cookies demanded past the threshold ($cookies of $requests)" ||
	fail "too few cookie demands (${cookies:-0} of $requests)"
[ "$half_max" -le 60 ] && pass "half-open SAs bounded by the threshold (at most $half_max, threshold 50)" ||
	fail "half-open SAs grew to $half_max"
if [ -n "${ASAN_OPTIONS:-}" ]; then
	# AddressSanitizer keeps freed memory in quarantine: RSS says nothing there.
	echo "flood.sh: (RSS not asserted under AddressSanitizer: grew $((rss1 - rss0)) kB)"
elif [ $((rss1 - rss0)) -lt 16384 ]; then
	pass "memory bounded: RSS grew $((rss1 - rss0)) kB"
else
	fail "RSS grew $((rss1 - rss0)) kB under the flood"
fi
if wait_for "$work/g.log" "site 's2' .*IKE SA up" 20; then
	pass "a new site got in during the flood"
	grep -q "IKE_SA_INIT again (COOKIE)" "$work/b.log" &&
		pass "the new site went through a cookie round" || echo "flood.sh: (the new site needed no cookie)"
else
	fail "the new site could not get in during the flood"
fi
# The handshakes' DH key pairs: made ahead by dh-workers threads (default: one less than the
# CPUs), which the new sites' IKE_SA_INITs took.
status=$(ip netns exec ikdf-g "$xfrmctl" -j -s "$work/g.sock" status 2>/dev/null)
json_n() { echo "$status" | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p"; }
workers=$(json_n dh_workers) ahead=$(json_n dh_pairs_ahead) here=$(json_n dh_pairs_here)
later=$(json_n dh_keys_later) held=$(json_n ike_auth_held)
cpus=$(nproc)
want=$((cpus > 9 ? 8 : cpus - 1))
[ "$workers" = "$want" ] &&
	pass "DH key pairs made ahead: dh-workers $workers with $cpus CPUs" ||
	fail "dh-workers ${workers:-?}, not $want with $cpus CPUs"
if [ "$want" -gt 0 ]; then
	[ "${ahead:-0}" -gt 0 ] &&
		pass "handshakes took key pairs made ahead ($ahead; $here made in place)" ||
		fail "no handshake took a key pair made ahead (${here:-?} made in place)"
	# The sites that got in (s1, s2) had their keys made by a worker, IKE_AUTH after them.
	[ "${later:-0}" -ge 2 ] &&
		pass "IKE_SA_INITs answered before their keys, made by a worker ($later; $held IKE_AUTH waited)" ||
		fail "keys made by a worker for ${later:-?} IKE_SA_INITs, not at least the 2 sites'"
fi
grep -q "site 's1'.*tunnel down\|site 's1'.*peer dead" "$work/a.log" "$work/g.log" &&
	fail "the established site went down during the flood" || pass "the established site stayed up"
[ "$fails" = 0 ] || { tail -n 20 "$work/g.log"; exit 1; }
echo "flood.sh: all passed"
