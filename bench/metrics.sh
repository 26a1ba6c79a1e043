#!/bin/bash
# `xfrmctl metrics` at gateway scale: an ikd responder holding S sites (10,000) with N of them
# connected (build/bench/handshake, every IKE SA kept), then `xfrmctl metrics` timed RUNS
# times (5): the wall time of each scrape, the size of the exposition, its pages, and the
# strict reader's verdict. Without ESP in the kernel no Child SA is installed, so no SA
# counter is read from the kernel (the VM reads two per Child SA).
#   bench/metrics.sh BUILD_DIR [N] [RUNS]     (root; HANDSHAKE_SITES=S as handshake.sh)
set -uo pipefail
build=$(cd "${1:?usage: bench/metrics.sh BUILD_DIR [N] [RUNS]}" && pwd)
n=${2:-10000}
runs=${3:-5}
[ "$(id -u)" = 0 ] || { echo "metrics.sh: needs root for namespaces"; exit 2; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
gen=$build/bench/handshake
prom_check=$build/test/tools/prom_check
for p in "$ikd" "$xfrmctl" "$gen" "$prom_check"; do
	[ -x "$p" ] || { echo "metrics.sh: build $p first (meson -Dbench=true -Dtests=true)"; exit 2; }
done
sites=${HANDSHAKE_SITES:-$((n > 10000 ? n : 10000))}
work=$(mktemp -d /tmp/ikd-bench-metrics.XXXXXX)
ns_r=ikdbm-r-$$
ns_i=ikdbm-i-$$
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$ns_r" 2>/dev/null
	ip netns del "$ns_i" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "metrics.sh: files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

ip netns add "$ns_r" && ip netns add "$ns_i" || exit 1
ip link add "bm$$r" netns "$ns_r" type veth peer name "bm$$i" netns "$ns_i" || exit 1
ip -n "$ns_r" addr add 10.77.0.1/24 dev "bm$$r"
ip -n "$ns_i" addr add 10.77.0.2/24 dev "bm$$i"
for ns in "$ns_r" "$ns_i"; do ip -n "$ns" link set lo up; done
ip -n "$ns_r" link set "bm$$r" up
ip -n "$ns_i" link set "bm$$i" up

# The sites as build/bench/handshake expects them (bench/handshake.sh has the same).
umask 077
base="bench-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
printf '%s' "$base" >"$work/psk"
base_hex=$(printf '%s' "$base" | od -An -tx1 | tr -d ' \n')
awk -v n="$sites" -v hex="$base_hex" 'BEGIN {
	print "version = 1\n\n[pop gw]\ngateway = 10.77.0.1\n\n[pop spare]\ngateway = 10.77.0.9"
	for (i = 0; i < n; i++) {
		num = sprintf("%05d", i)
		h = hex "2d"
		for (j = 1; j <= length(num); j++)
			h = h "3" substr(num, j, 1)
		printf "\n[site s%s]\nid = site-%s.bench.example\npsk = hex:%s\n", num, num, h
		printf "primary = gw\nbackups = spare\n"
		printf "local-ts = 10.%d.%d.0/24\nremote-ts = 172.16.0.0/12\n", int(i / 256), i % 256
		printf "ike-proposals = aes256-sha256-x25519\nesp-proposals = aes256-sha256\n"
		printf "dpd-interval = 86400\nvendor-rules = no\n"
	}
}' >"$work/ikd.store"
cat >"$work/ikd.conf" <<CONF
role = responder
listen = 10.77.0.1
identity = gw.bench.example
store = $work/ikd.store
control-socket = $work/ikd.sock
cookie-threshold = 1000000
log-level = warning
CONF
ip netns exec "$ns_r" "$ikd" -c "$work/ikd.conf" >"$work/ikd.log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -S "$work/ikd.sock" ] && break; sleep 0.1; done
[ -S "$work/ikd.sock" ] || { echo "metrics.sh: ikd did not start"; tail -3 "$work/ikd.log"; exit 1; }

echo "bench/metrics.sh: $sites sites, $n connected, $(nproc) CPUs, load average" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$n" -gt 0 ]; then
	ip netns exec "$ns_i" "$gen" --responder 10.77.0.1 --local 10.77.0.2 --pid "$pid" \
		--psk-file "$work/psk" --group x25519 --count "$n" --sites "$sites" --window 64 \
		--label ikd >"$work/gen.out" 2>&1 || { tail -5 "$work/gen.out"; exit 1; }
fi
ip netns exec "$ns_r" "$xfrmctl" -s "$work/ikd.sock" status >"$work/status" 2>&1
echo "  ikd: $(grep -E '^(sites-up|ike-sas|child-sas):' "$work/status" | tr -s ' ' | tr '\n' ' ')"
times=()
for _ in $(seq "$runs"); do
	t0=$(date +%s%N)
	ip netns exec "$ns_r" "$xfrmctl" -s "$work/ikd.sock" metrics >"$work/out.prom" ||
		{ echo "metrics.sh: xfrmctl metrics failed"; exit 1; }
	times+=("$(( ($(date +%s%N) - t0) / 1000000 ))")
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
echo "  xfrmctl metrics, $runs runs (ms, sorted): $sorted"
echo "  exposition: $(wc -c <"$work/out.prom") bytes, $(wc -l <"$work/out.prom") lines," \
	"$(( (sites + 999) / 1000 )) pages of up to 1000 sites"
echo "  strict reader: $("$prom_check" "$work/out.prom" 2>&1)"
echo "  ikd_site_up = 1: $(grep -c '^ikd_site_up{.*} 1$' "$work/out.prom") sites"
