#!/bin/bash
# The responder's cost of IKE handshakes, ikd against strongSwan's charon in the same run:
#   bench/handshake.sh BUILD_DIR [N]      (N handshakes per responder and group; default 10000)
# For each DH group (MODP-2048, Curve25519) and each responder, a fresh responder in its own
# network namespace holding max(N, 10000) sites, and build/bench/handshake in a second one
# driving N IKE_SA_INIT + IKE_AUTH handshakes at it (PSK, 64 in flight, each site once) and
# keeping every IKE SA. Prints figures only (bench/README.md). Needs root: exit 77 otherwise.
# charon runs twice: charon-1psk, one connection for any site and one PSK for any identity
# (as its load-tester), and charon, the same connection and a PSK per site (by identity);
# HANDSHAKE_CHARON=sites gives the latter one connection per site (loading them takes minutes).
# HANDSHAKE_SITES=S gives the responders S sites instead (S >= N). KEEP=1 keeps the files.
# HANDSHAKE_SEGMENTS=K: the run in K equal segments, CPU per SA from /proc/PID/stat in each and
# the flatness (last / second); 10 by default when N >= 100000, else the four phases.
# HANDSHAKE_GROUPS="x25519" and HANDSHAKE_RESPONDERS="ikd" choose what runs (default: both
# groups; ikd, charon-1psk, charon), e.g. for the 100,000-SA run:
#   HANDSHAKE_GROUPS=x25519 HANDSHAKE_RESPONDERS=ikd bench/handshake.sh build-bench 100000
# HANDSHAKE_IDLE=SECONDS: how long the responder is watched idle afterwards (default 10; ikd
# frees an IKE_AUTH answer kept for retransmission after 60 s: 65 shows what stays).
# HANDSHAKE_DH_WORKERS=K: ikd's dh-workers (threads making DH key pairs ahead; 0: none).
# HANDSHAKE_CPUS="1 2": each responder once on one CPU (it on CPU 0, the generator on CPU 1)
# and once on every CPU (neither pinned), and the ratio of their handshakes/s (issue 18's
# "both cores"); the default runs each once, unpinned.
# HANDSHAKE_HTHRESH4="L R": the kernel's IPv4 policy hash thresholds in the responder's namespace
# (ip xfrm policy set hthresh4 L R: policies whose local prefix is at least L bits and remote
# at least R are hashed, the others kept apart and searched; the kernel's default is 32 32).
# With ESP each Child SA brings three policies (172.16.0.0/12 to a site's /24): "12 24"
# hashes them all.
# HANDSHAKE_SYSCALLS=1: strace -c -f attached to the responder for the run, its system calls
# per handshake printed after it (the CPU figures of such a run mean nothing: strace stops
# every call).
set -uo pipefail
build=$(cd "${1:?usage: bench/handshake.sh BUILD_DIR [N]}" && pwd)
n=${2:-10000}
window=64
[ "$(id -u)" = 0 ] || { echo "handshake.sh: needs root for network namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
gen=$build/bench/handshake
if [ ! -x "$ikd" ] || [ ! -x "$gen" ]; then
	echo "handshake.sh: build ikd and bench/handshake in $build first"
	exit 1
fi
have_charon=1
[ -x /usr/lib/ipsec/charon ] && command -v swanctl >/dev/null || have_charon=0
sites=${HANDSHAKE_SITES:-$((n > 10000 ? n : 10000))}
[ "$sites" -ge "$n" ] || { echo "handshake.sh: HANDSHAKE_SITES must be at least N"; exit 2; }
charon_mode=${HANDSHAKE_CHARON:-one}
segments=${HANDSHAKE_SEGMENTS:-$((n >= 100000 ? 10 : 0))}
groups=${HANDSHAKE_GROUPS:-modp2048 x25519}
responders=${HANDSHAKE_RESPONDERS:-ikd charon-1psk charon}
cpus=${HANDSHAKE_CPUS:-all}
for c in $cpus; do
	case $c in
	all) ;;
	1) [ "$(nproc)" -ge 2 ] || { echo "handshake.sh: HANDSHAKE_CPUS=1 needs two CPUs"; exit 2; } ;;
	2) [ "$(nproc)" -ge 2 ] || { echo "handshake.sh: HANDSHAKE_CPUS=2 needs two CPUs"; exit 2; } ;;
	*) echo "handshake.sh: HANDSHAKE_CPUS takes 1, 2 or all"; exit 2 ;;
	esac
done
pin_r=() pin_i=()
work=$(mktemp -d /tmp/ikd-handshake.XXXXXX)
ns_r=ikdhs-r-$$
ns_i=ikdhs-i-$$
pid=

stop_responder() {
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}
cleanup() {
	stop_responder
	ip netns del "$ns_r" 2>/dev/null
	ip netns del "$ns_i" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "handshake.sh: files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
wait_for() {
	for _ in $(seq $(($3 * 10))); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
elapsed() {
	awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

#   $ns_i 10.77.0.2 (load generator) -- veth -- 10.77.0.1 $ns_r (ikd or charon)
ip netns add "$ns_r" && ip netns add "$ns_i" || exit 1
ip link add "hs$$r" netns "$ns_r" type veth peer name "hs$$i" netns "$ns_i" || exit 1
ip -n "$ns_r" addr add 10.77.0.1/24 dev "hs$$r"
ip -n "$ns_i" addr add 10.77.0.2/24 dev "hs$$i"
for ns in "$ns_r" "$ns_i"; do ip -n "$ns" link set lo up; done
ip -n "$ns_r" link set "hs$$r" up
ip -n "$ns_i" link set "hs$$i" up
if [ -n "${HANDSHAKE_HTHRESH4:-}" ]; then
	# shellcheck disable=SC2086 # two numbers
	ip -n "$ns_r" xfrm policy set hthresh4 $HANDSHAKE_HTHRESH4 || exit 1
	echo "the responder's IPv4 policy hash thresholds: $HANDSHAKE_HTHRESH4 (local, remote)"
fi

# Site i: identity site-NNNNN.bench.example, key BASE-NNNNN, network 10.x.y.0/24 (i = 256x + y),
# as build/bench/handshake expects them.
umask 077
base="bench-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
printf '%s' "$base" >"$work/psk"
base_hex=$(printf '%s' "$base" | od -An -tx1 | tr -d ' \n')
ike_props="aes256-sha256-modp2048,aes256-sha256-x25519"
# write_store COUNT FILE: ikd's store with sites 0 .. COUNT-1 (COUNT = 0: the POPs alone).
write_store() {
	awk -v n="$1" -v hex="$base_hex" -v props="$ike_props" 'BEGIN {
	print "version = 1\n\n[pop gw]\ngateway = 10.77.0.1\nprobe-ip = 10.77.0.1"
	print "\n[pop spare]\ngateway = 10.77.0.9\nprobe-ip = 10.77.0.9\naccepting = no"
	for (i = 0; i < n; i++) {
		num = sprintf("%05d", i)
		h = hex "2d"	# "-", then the digits: "0" is 0x30
		for (j = 1; j <= length(num); j++)
			h = h "3" substr(num, j, 1)
		printf "\n[site s%s]\nid = site-%s.bench.example\npsk = hex:%s\n", num, num, h
		printf "primary = gw\nbackups = spare\n"
		printf "local-ts = %d.%d.%d.0/24\nremote-ts = 172.16.0.0/12\n", 10 + int(i / 65536),
			int(i / 256) % 256, i % 256
		printf "ike-proposals = %s\nesp-proposals = aes256-sha256\n", props
		printf "dpd-interval = 86400\nvendor-rules = no\n"
	}
}' >"$2"
}
write_store "$sites" "$work/ikd.store"
cat >"$work/ikd.conf" <<CONF
role = responder
listen = 10.77.0.1
identity = gw.bench.example
store = $work/ikd.store
control-socket = $work/ikd.sock
cookie-threshold = 1000000
${HANDSHAKE_DH_WORKERS:+dh-workers = $HANDSHAKE_DH_WORKERS}
CONF
# The same daemon with fewer sites (no SA ever): what a site held costs (site_memory).
for k in 0 10000; do
	write_store "$k" "$work/ikd-$k.store"
	sed "s|^store = .*|store = $work/ikd-$k.store|; s|ikd.sock|ikd-$k.sock|" \
		"$work/ikd.conf" >"$work/ikd-$k.conf"
done

# write_swanctl MODE FILE: one connection for any site (one), or one per site (sites); the
# secrets: one PSK for any identity (1psk), or one per site by identity.
write_swanctl() {
	awk -v n="$sites" -v base="$base" -v props="$ike_props" -v mode="$1" 'BEGIN {
		print "connections {"
		for (i = 0; i < (mode == "sites" ? n : 1); i++) {
			num = sprintf("%05d", i)
			printf "\ts%s {\n\t\tlocal_addrs = 10.77.0.1\n\t\tproposals = %s\n", num, props
			printf "\t\tlocal {\n\t\t\tauth = psk\n\t\t\tid = gw.bench.example\n\t\t}\n"
			printf "\t\tremote {\n\t\t\tauth = psk\n"
			if (mode == "sites")
				printf "\t\t\tid = site-%s.bench.example\n", num
			net = sprintf("%d.%d.%d.0/24", 10 + int(i / 65536), int(i / 256) % 256, i % 256)
			if (mode != "sites")
				net = "10.0.0.0/7"
			printf "\t\t}\n\t\tchildren {\n\t\t\ts%s {\n", num
			printf "\t\t\t\tlocal_ts = 172.16.0.0/12\n\t\t\t\tremote_ts = %s\n", net
			printf "\t\t\t\tesp_proposals = aes256-sha256\n\t\t\t}\n\t\t}\n\t}\n"
		}
		print "}\nsecrets {"
		if (mode == "1psk")
			printf "\tike-any {\n\t\tsecret = \"%s\"\n\t}\n", base
		for (i = 0; mode != "1psk" && i < n; i++) {
			num = sprintf("%05d", i)
			printf "\tike-%s {\n\t\tid = site-%s.bench.example\n", num, num
			printf "\t\tsecret = \"%s-%s\"\n\t}\n", base, num
		}
		print "}"
	}' >"$2"
}
if [ "$have_charon" = 1 ]; then
	write_swanctl "$charon_mode" "$work/swanctl.conf"
	write_swanctl 1psk "$work/swanctl-1psk.conf"
	cat >"$work/strongswan.conf" <<CONF
charon {
	load_modular = no
	load = random nonce openssl pem pkcs1 kdf kernel-netlink socket-default vici
	plugins { vici { socket = unix://$work/charon.vici } }
	install_routes = no
	ikesa_table_size = 16384
	ikesa_table_segments = 16
	cookie_threshold = 1000000
	cookie_threshold_ip = 1000000
	block_threshold = 1000000
	filelog { log { path = $work/charon.log
		flush_line = yes
		default = 1 } }
}
swanctl { load = random openssl }
CONF
fi

start_ikd() {
	ip netns exec "$ns_r" "${pin_r[@]}" "$ikd" -c "$work/${1:-ikd}.conf" >"$work/ikd.log" 2>&1 &
	pid=$!
	wait_for "$work/ikd.log" "started" 30 || { tail -5 "$work/ikd.log"; return 1; }
}
start_charon() {
	local conf=$work/swanctl${1:+-$1}.conf

	[ -f "$conf" ] || { echo "handshake.sh: no $conf"; return 1; }
	: >"$work/charon.log"
	rm -f "$work/charon.vici"
	ip netns exec "$ns_r" "${pin_r[@]}" unshare -m sh -c "mount -t tmpfs tmpfs /run &&
		STRONGSWAN_CONF=$work/strongswan.conf exec /usr/lib/ipsec/charon" \
		>"$work/charon.out" 2>&1 &
	pid=$!
	for _ in $(seq 100); do [ -S "$work/charon.vici" ] && break; sleep 0.1; done
	STRONGSWAN_CONF=$work/strongswan.conf swanctl --load-all --file "$conf" \
		--uri "unix://$work/charon.vici" >"$work/swanctl.out" 2>&1 ||
		{ tail -3 "$work/swanctl.out"; return 1; }
}
# Child SAs the kernel refused, from the responder's log.
install_failures() {
	if [ "$1" = ikd ]; then
		grep -c "kernel refused the Child SA" "$work/ikd.log"
	else
		grep -c "unable to install inbound and outbound IPsec SA" "$work/charon.log"
	fi
}
# One responder, one group; 3 when the responder exited during the run (stopped from outside).
# resp: ikd, charon (a PSK per site) or charon-1psk (one PSK for any identity).
measure() {
	local resp=$1 group=$2 label=${3:-$1} t0 rc kind=${1%%-*} variant=${1#*-} extra=()

	t0=$(date +%s.%N)
	[ "$variant" = "$resp" ] && variant=
	if ! "start_$kind" $variant; then
		echo "handshake.sh: $resp did not start"
		stop_responder
		return 1
	fi
	[ "$resp" = charon-1psk ] && extra+=(--one-psk)
	[ "$segments" -gt 0 ] && extra+=(--segments "$segments")
	echo "$resp: ready in $(elapsed "$t0") s (configuration loaded)"
	if [ -n "${HANDSHAKE_SYSCALLS:-}" ]; then
		strace -f -c -o "$work/strace" -p "$pid" 2>"$work/strace.err" &
		tracer=$!
		sleep 1
	fi
	ip netns exec "$ns_i" "${pin_i[@]}" "$gen" --responder 10.77.0.1 --local 10.77.0.2 \
		--pid "$pid" --psk-file "$work/psk" --group "$group" --count "$n" --sites "$sites" \
		--window "$window" --idle "${HANDSHAKE_IDLE:-10}" --label "$label" \
		--results "$work/results" "${extra[@]}"
	rc=$?
	if [ -n "${HANDSHAKE_SYSCALLS:-}" ]; then
		kill -INT "$tracer"
		wait "$tracer"
		syscalls_per_hs "$work/strace" "$resp" "$n"
	fi
	stop_responder
	echo "  Child SA installs the kernel refused (responder's log): $(install_failures "$kind")"
	# and why, each reason once (its first line in the log, ikd's)
	[ "$kind" = ikd ] && grep -o "kernel refused the Child SA.*" "$work/ikd.log" | sort |
		uniq -c | sort -rn | head -5 | sed 's/^/    /'
	[ "$rc" = 3 ] && echo "  $resp's last words: $(tail -1 "$work/$kind.log")"
	echo
	return "$rc"
}
# strace -c's table as calls per handshake (those made at least once per ten handshakes).
syscalls_per_hs() {
	[ -s "$1" ] || { echo "handshake.sh: HANDSHAKE_SYSCALLS: strace wrote no table ($(head -1 "$work/strace.err"))"; exit 1; }
	awk -v n="$3" -v r="$2" '
		$1 ~ /^[0-9.]+$/ && NF >= 5 { name = $NF; calls = (NF == 6 ? $4 : $4) + 0
			if (name != "total" && calls >= n / 10) { line = line sprintf(" %s %.2f", name, calls / n); total += calls } }
		END { printf "  system calls per handshake (%s, strace -c -f):%s; in all %.1f\n", r, line, total / n }' "$1"
}
rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
anon_kib() {
	awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"
}
# ikd's resident memory with no site, 10,000 and all the run's sites, no SA ever: per site.
# VmRSS counts the program's and libraries' pages too (file-backed, shared, and more of them
# touched when sites are loaded: under Debian's kernel in the VM, 1.4 MiB more at 10,000
# sites than on this host); RssAnon is the daemon's own memory, what the sites cost.
site_memory() {
	local k empty=0 empty_anon=0 rss anon

	echo "ikd's memory per site held with no SA (1 s after start-up, minus an ikd with no site;"
	echo "  goal <= 0.5 KiB per site), load average $(cut -d' ' -f1-3 /proc/loadavg):"
	for k in 0 10000 $([ "$sites" != 10000 ] && echo "$sites"); do
		start_ikd "$([ "$k" = "$sites" ] && echo ikd || echo "ikd-$k")" || return 1
		sleep 1
		rss=$(rss_kib "$pid")
		anon=$(anon_kib "$pid")
		stop_responder
		if [ "$k" = 0 ]; then
			empty=$rss empty_anon=$anon
			echo "  no site: VmRSS $rss KiB, of it anonymous (RssAnon) $anon KiB"
		else
			awk -v k="$k" -v r="$rss" -v e="$empty" -v a="$anon" -v ea="$empty_anon" \
				'BEGIN { printf "  %6d sites: VmRSS %d KiB, %.1f MiB over none: %.2f KiB" \
				" per site; anonymous %.2f KiB per site\n", k, r, (r - e) / 1024,
				(r - e) / k, (a - ea) / k }'
		fi
	done
	echo
}

echo "bench/handshake.sh: $n handshakes per responder and DH group, $window in flight," \
	"$sites sites, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  responder and load generator in two network namespaces (veth); every IKE SA is kept"
echo "  ikd: role responder, cookie-threshold = 1000000 (no cookies), half-open-timeout 30 s"
echo "    (default), log-level info (default), site dpd-interval = 86400 (no DPD in the run),"
echo "    dh-workers ${HANDSHAKE_DH_WORKERS:-default (one less than the CPUs it may run on)}"
if [ "$have_charon" = 1 ]; then
	echo "  charon $(/usr/lib/ipsec/charon --version 2>/dev/null | sed -n 's/.*strongSwan //p'):" \
		"$([ "$charon_mode" = one ] && echo "one connection for any site" ||
		echo "one connection per site"), a PSK per site by identity;"
	echo "    charon-1psk: one connection for any site and one PSK for any identity;"
	echo "    cookie_threshold, cookie_threshold_ip, block_threshold = 1000000 (no cookies);"
	echo "    ikesa_table_size = 16384 (default 1; ikd has 16384 buckets); no DPD (default);"
	echo "    log level 1 (default) to a file"
else
	echo "  charon: /usr/lib/ipsec/charon or swanctl not installed: skipped"
fi
echo "  Child SA: both responders negotiate it and try to install it; where the kernel has no"
echo "    ESP (counted below) both keep the IKE SA and refuse the Child SA in their IKE_AUTH"
echo "    response (NO_PROPOSAL_CHOSEN): ikd installs it before it answers, as charon does"
[ "$segments" -gt 0 ] && echo "  $segments segments of $((n / segments)) handshakes each"
[ "$cpus" != all ] && echo "  CPUs: each responder on 1 (pinned to CPU 0, the generator to CPU 1) and on" \
	"2 (neither pinned), as HANDSHAKE_CPUS says: $cpus"
echo
t_all=$(date +%s.%N)
[[ " $responders " = *" ikd "* ]] && site_memory
# Handshakes/s of the generator's "all" line, from a run's output; then the CPUs the responder
# and the generator kept busy on average (CPU ms per SA x handshakes/s).
hs_rate() {
	awk '$1 == "all" && NF == 5 { r = $4; c = $3 * $4 / 1000; g = $5 * $4 / 1000 }
		END { if (r) printf "%d %.2f %.2f\n", r, c, g }' "$1"
}
scaling=()
for group in $groups; do
	for resp in $responders; do
		[ "$resp" != ikd ] && [ "$have_charon" = 0 ] && continue
		for c in $cpus; do
			label=$resp
			case $c in
			1) pin_r=(taskset -c 0) pin_i=(taskset -c 1) label=$resp/1cpu ;;
			2) pin_r=() pin_i=() label=$resp/2cpu ;;
			*) pin_r=() pin_i=() ;;
			esac
			measure "$resp" "$group" "$label" | tee "$work/out.$c"
			if [ "${PIPESTATUS[0]}" = 3 ]; then
				echo "handshake.sh: $resp was stopped from outside during the run: once more"
				measure "$resp" "$group" "$label" | tee "$work/out.$c"
			fi
		done
		pin_r=() pin_i=()
		if [[ " $cpus " = *" 1 "* ]] && [[ " $cpus " = *" 2 "* ]]; then
			one=$(hs_rate "$work/out.1") two=$(hs_rate "$work/out.2")
			if [ -z "$one" ] || [ -z "$two" ]; then
				scaling+=("  $resp, $group: a run gave no figure (see above)")
			else
				scaling+=("$(awk -v r="$resp" -v g="$group" -v a="$one" -v b="$two" 'BEGIN {
					split(a, x, " "); split(b, y, " ")
					printf "  %-12s %-9s %6d hs/s on 1 CPU, %6d on 2: %.2fx (goal >= 1.8x);" \
					" busy %.2f / %.2f CPUs, the generator %.2f / %.2f",
					r, g, x[1], y[1], y[1] / x[1], x[2], y[2], x[3], y[3] }')")
			fi
		fi
	done
done
[ -f "$work/results" ] && "$gen" --summary "$work/results"
if [ "${#scaling[@]}" -gt 0 ]; then
	echo "Both CPUs: handshakes/s on two over one, in this run; busy: CPU per SA x handshakes/s,"
	echo "  the CPUs each side kept busy on average, on one and on two (the generator has the"
	echo "  second CPU alone in the one-CPU runs and shares both in the two-CPU runs: the most"
	echo "  a responder can reach here is 2 / (its CPU per SA + the generator's) handshakes/s)"
	printf '%s\n' "${scaling[@]}"
fi
echo "handshake.sh: $(elapsed "$t_all") s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
