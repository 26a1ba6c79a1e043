#!/bin/bash
# The reconnect storm (issue 18): a POP holding N sites restarts and every site reconnects at
# once. For each DH group (MODP-2048, Curve25519):
#   1. an ikd POP (role responder, ikd.conf's defaults apart from the namespace's addresses and
#      paths: the cookie threshold is ikd's default) holding N sites; build/bench/handshake
#      establishes N IKE SAs (each site once, 64 in flight) and ikd must count all N;
#   2. that ikd is killed with SIGKILL and a new one started from the same store (a POP
#      restart: its state is lost); as soon as its control socket answers, every site
#      reconnects at once: build/bench/handshake --storm, all N handshakes in flight;
#   3. the time from the storm's first IKE_SA_INIT to the last IKE SA established, ikd's
#      start-up time, ikd's and the generator's CPU, cookie rounds, retransmissions per
#      handshake, sites given up on, datagrams the kernel dropped, the load average: each
#      beside issue 18's goal. A missed goal is reported, never asserted.
#   bench/storm.sh BUILD_DIR [N]      (root; N default 10000; STORM_GROUPS="x25519" or
#                                      "modp2048" for one group; KEEP=1 keeps the files)
# Variants, to see where the time goes (the header says when one is in use):
#   STORM_SPREAD_MS=M   the N sites start evenly over M ms instead of at once (sites that notice
#                       the restart at different moments, e.g. within a liveness interval);
#   STORM_RCVBUF=BYTES  ikd's IKE sockets get a receive buffer of BYTES (ikd.conf's
#                       receive-buffer) instead of its default, 16 MiB.
#   STORM_DH_WORKERS=K  ikd.conf's dh-workers (threads making DH key pairs ahead) instead of
#                       its default, one less than the CPUs (0: every pair made when needed).
#   STORM_PERF=1        perf record -g on the new ikd during the storm; its top symbols are
#                       printed (perf report --no-children), the data kept in the work directory.
#   STORM_DEADLINE=S    in-flight handshakes are given up S s after the storm began (120).
# Exit 77 without root, 1 when a step failed or not every site came back (the output says
# which), 0 otherwise.
set -uo pipefail
build=$(cd "${1:?usage: bench/storm.sh BUILD_DIR [N]}" && pwd)
n=${2:-10000}
groups=${STORM_GROUPS:-modp2048 x25519}
deadline=${STORM_DEADLINE:-120}
spread_ms=${STORM_SPREAD_MS:-0}
rcvbuf=${STORM_RCVBUF:-}
dh_workers=${STORM_DH_WORKERS:-}
perf=${STORM_PERF:-}
perf_pid=
[ "$(id -u)" = 0 ] || { echo "storm.sh: needs root for network namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
gen=$build/bench/handshake
for p in "$ikd" "$xfrmctl" "$gen"; do
	[ -x "$p" ] || { echo "storm.sh: build ikd, xfrmctl and bench/handshake in $build first"; exit 1; }
done
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 10 ] && [ "$n" -le 100000 ] ||
	{ echo "storm.sh: N must be 10 .. 100000"; exit 2; }
work=$(mktemp -d /tmp/ikd-storm.XXXXXX)
ns_r=ikdst-r-$$
ns_i=ikdst-i-$$
pid=
gen_pid=

stop_ikd() {
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}
cleanup() {
	[ -n "$gen_pid" ] && kill "$gen_pid" 2>/dev/null && wait "$gen_pid" 2>/dev/null
	stop_ikd
	ip netns del "$ns_r" 2>/dev/null
	ip netns del "$ns_i" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "storm.sh: files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
	echo "storm.sh: FAILED: $*"
	exit 1
}
now() {
	echo "$EPOCHREALTIME"
}
since() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'
}
loadavg() {
	cut -d' ' -f1-3 /proc/loadavg
}
# utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15, after "comm)").
cpu_s() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null |
		awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }'
}
# The namespace's UDP counters: InDatagrams NoPorts InErrors RcvbufErrors (/proc/net/snmp).
udp_counters() {
	ip netns exec "$1" awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) col[$i] = i; h = 1 }
		else print $col["InDatagrams"], $col["NoPorts"], $col["InErrors"],
			$col["RcvbufErrors"] }' /proc/net/snmp
}
# Packets dropped at the input backlog (netdev_max_backlog), every CPU: the host's, not ours.
backlog_drops() {
	local s=0 _ dropped

	while read -r _ dropped _; do s=$((s + 0x$dropped)); done </proc/net/softnet_stat
	echo "$s"
}
# The receive buffer of ikd's IKE socket (port 500) as the kernel has it: ss's skmem rb.
ikd_rcvbuf() {
	ip netns exec "$ns_r" ss -Huamn 'sport = :500' | grep -o 'rb[0-9]*' | head -1 | tr -d rb
}
# ikd's own count of established IKE SAs (xfrmctl status), empty when it does not answer.
ikd_ike_sas() {
	"$xfrmctl" -s "$work/ikd.sock" status 2>/dev/null | awk '$1 == "ike-sas:" { print $2 }'
}

#   $ns_i 10.77.0.2 (every site: build/bench/handshake) -- veth -- 10.77.0.1 $ns_r (the POP)
ip netns add "$ns_r" && ip netns add "$ns_i" || fail "cannot add network namespaces"
ip link add "st$$r" netns "$ns_r" type veth peer name "st$$i" netns "$ns_i" ||
	fail "cannot add the veth pair"
ip -n "$ns_r" addr add 10.77.0.1/24 dev "st$$r"
ip -n "$ns_i" addr add 10.77.0.2/24 dev "st$$i"
for ns in "$ns_r" "$ns_i"; do ip -n "$ns" link set lo up; done
ip -n "$ns_r" link set "st$$r" up
ip -n "$ns_i" link set "st$$i" up

# The sites as build/bench/handshake expects them (bench/handshake.sh writes the same):
# identity site-NNNNN.bench.example, key BASE-NNNNN, network 10.x.y.0/24.
umask 077
base="bench-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
printf '%s' "$base" >"$work/psk"
base_hex=$(printf '%s' "$base" | od -An -tx1 | tr -d ' \n')
awk -v n="$n" -v hex="$base_hex" 'BEGIN {
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
		printf "ike-proposals = aes256-sha256-modp2048,aes256-sha256-x25519\n"
		printf "esp-proposals = aes256-sha256\ndpd-interval = 86400\nvendor-rules = no\n"
	}
}' >"$work/ikd.store"
# Only what the namespaces need: every other setting (cookie-threshold 50, half-open-timeout
# 30 s, log-level info, retransmissions) is ikd's default.
cat >"$work/ikd.conf" <<CONF
role = responder
listen = 10.77.0.1
identity = gw.bench.example
store = $work/ikd.store
control-socket = $work/ikd.sock
${rcvbuf:+receive-buffer = $rcvbuf}
${dh_workers:+dh-workers = $dh_workers}
CONF

# Start ikd; sets pid and t_answer (seconds from its exec to its control socket's first
# answer). The socket is opened last in ikd's start-up, after the IKE sockets.
start_ikd() {
	local t0

	rm -f "$work/ikd.sock"
	t0=$(now)
	ip netns exec "$ns_r" "$ikd" -c "$work/ikd.conf" >>"$work/ikd.log" 2>&1 &
	pid=$!
	while ! "$xfrmctl" -s "$work/ikd.sock" status >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || { tail -3 "$work/ikd.log"; return 1; }
		awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { exit b - a > 60 ? 0 : 1 }' && return 1
	done
	t_answer=$(since "$t0")
}

# One group: the sites up, the POP restarted, the storm. Figures to stdout; a line of the
# summary to $work/summary; 1 when a step failed or a site did not come back.
storm() {
	local group=$1 rc count udp0 udp1 gudp0 gudp1 bl0 bl1 cpu_up t_answer rb

	echo "== $group: $n sites, IKE aes256-sha256-$group, load average $(loadavg)"
	: >"$work/ikd.log"
	start_ikd || { echo "storm.sh: $group: ikd did not start"; return 1; }
	echo "  1. POP up in $t_answer s (its control socket answered); $n sites connect, 64 in flight"
	ip netns exec "$ns_i" "$gen" --responder 10.77.0.1 --local 10.77.0.2 --pid "$pid" \
		--psk-file "$work/psk" --group "$group" --count "$n" --sites "$n" --window 64 \
		--idle 0 --label "before" >"$work/before.$group" 2>&1
	rc=$?
	sed -n 's/^  established/    generator: established/p' "$work/before.$group"
	count=$(ikd_ike_sas)
	echo "    ikd (xfrmctl status): ike-sas $count"
	if [ "$rc" != 0 ] || [ "$count" != "$n" ]; then
		tail -5 "$work/before.$group"
		echo "storm.sh: $group: the POP did not hold all $n IKE SAs before its restart" \
			"(generator exit $rc, ikd counts '$count')"
		stop_ikd
		return 1
	fi

	# The storm generator is set up and waits for the new ikd's PID on a FIFO.
	rm -f "$work/go"
	mkfifo "$work/go"
	ip netns exec "$ns_i" "$gen" --storm --responder 10.77.0.1 --local 10.77.0.2 \
		--wait-pid "$work/go" --psk-file "$work/psk" --group "$group" --count "$n" \
		--sites "$n" --deadline "$deadline" --spread "$spread_ms" --label "storm" \
		--results "$work/results.$group" \
		>"$work/storm.$group" 2>&1 &
	gen_pid=$!
	read -r -a udp0 <<<"$(udp_counters "$ns_r")"
	read -r -a gudp0 <<<"$(udp_counters "$ns_i")"
	bl0=$(backlog_drops)
	echo "  2. kill -9 $pid (the POP's state is lost), a new ikd from the same store"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	pid=
	if ! start_ikd; then
		echo "storm.sh: $group: the new ikd did not start"
		kill "$gen_pid" 2>/dev/null
		wait "$gen_pid" 2>/dev/null
		gen_pid=
		stop_ikd
		return 1
	fi
	cpu_up=$(cpu_s "$pid")
	if [ -n "$perf" ]; then
		perf record -q -F 499 -g -p "$pid" -o "$work/perf.$group.data" 2>"$work/perf.err" &
		perf_pid=$!
	fi
	echo "$pid" >"$work/go"
	rb=$(ikd_rcvbuf)
	echo "     its control socket answered $t_answer s after its start (its CPU by then:" \
		"$cpu_up s); every site reconnects now"
	wait "$gen_pid"
	rc=$?
	gen_pid=
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid" 2>/dev/null
		perf_pid=
	fi
	read -r -a udp1 <<<"$(udp_counters "$ns_r")"
	read -r -a gudp1 <<<"$(udp_counters "$ns_i")"
	bl1=$(backlog_drops)
	count=$(ikd_ike_sas)
	echo "  3. the storm"
	sed 's/^/  /' "$work/storm.$group"
	echo "    ikd (xfrmctl status): ike-sas $count (goal $n)"
	echo "    UDP datagrams in ikd's namespace during the storm:" \
		"$(( ${udp1[0]:-0} - ${udp0[0]:-0} )) received by ikd's sockets," \
		"$(( ${udp1[3]:-0} - ${udp0[3]:-0} )) dropped"
	echo "      because the socket's receive buffer was full (RcvbufErrors; ikd's port 500" \
		"socket: $rb bytes), $(( ${udp1[2]:-0} - ${udp0[2]:-0} )) input errors in all," \
		"$(( ${udp1[1]:-0} - ${udp0[1]:-0} )) to no port"
	echo "    at the generator's socket (its own namespace): $(( ${gudp1[0]:-0} - ${gudp0[0]:-0} ))" \
		"received, $(( ${gudp1[3]:-0} - ${gudp0[3]:-0} )) dropped (buffer full)"
	echo "    the host's input backlog drops meanwhile (netdev_max_backlog" \
		"$(cat /proc/sys/net/core/netdev_max_backlog), every CPU): $((bl1 - bl0))"
	echo "    Child SAs the kernel refused (ikd's log, both runs): $(grep -c \
		"kernel refused the Child SA" "$work/ikd.log")"
	if [ -n "$perf" ]; then
		echo "    perf: ikd's samples during the storm, top symbols (self):"
		perf report -i "$work/perf.$group.data" --no-children --stdio --sort sym 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -15 | sed 's/^/      /'
	fi
	stop_ikd
	if [ -s "$work/results.$group" ]; then
		echo "$(cat "$work/results.$group") $t_answer $cpu_up $(( ${udp1[3]:-0} - ${udp0[3]:-0} ))" \
			>>"$work/summary"
	fi
	if [ "$rc" != 0 ] || [ "$count" != "$n" ]; then
		echo "storm.sh: $group: not every site came back (generator exit $rc, ikd counts" \
			"'$count' of $n)"
		return 1
	fi
	echo
}

echo "bench/storm.sh: a POP holding $n sites restarts; every site reconnects at once." \
	"$(nproc) CPUs, load average $(loadavg)"
echo "  POP: ikd role responder in a network namespace, ikd.conf's defaults (cookie-threshold" \
	"50, half-open-timeout 30 s, log-level info);"
echo "    the store: each site dpd-interval = 86400 (the generator answers no liveness check)"
echo "  sites: build/bench/handshake in a second namespace (veth): IKE_SA_INIT + IKE_AUTH with a" \
	"PSK per site and one Child SA,"
echo "    RFC 7296 retransmissions from 2 s doubling, 5 transmissions per request; COOKIE" \
	"rounds answered"
echo "  Child SA: this kernel may lack ESP; ikd then refuses the Child SA (NO_PROPOSAL_CHOSEN)" \
	"and keeps the IKE SA:"
echo "    IKE SAs are counted, as bench/handshake.sh does"
[ "$spread_ms" != 0 ] && echo "  VARIANT: the sites start evenly over $spread_ms ms, not at once"
[ -n "$rcvbuf" ] && echo "  VARIANT: ikd's IKE sockets with a receive buffer of $rcvbuf bytes" \
	"(receive-buffer; its default is 16 MiB)"
[ -n "$dh_workers" ] && echo "  VARIANT: dh-workers = $dh_workers (its default: one less than the CPUs," \
	"$(($(nproc) - 1)) here)"
echo
failed=
t_all=$(now)
for group in $groups; do
	storm "$group" || failed="$failed $group"
done
if [ -s "$work/summary" ]; then
	echo "Summary (issue 18's goals in brackets; times from the storm's first IKE_SA_INIT):"
	awk -v n="$n" 'function t(v) { return v < 0 ? "never" : sprintf("%.2f s", v) }
	{
		goal = $1 == "x25519" ? 6 : 15
		printf "  %-8s back %5d/%d, given up %d (0), last SA %s (<= %d s), half %s," \
			" 90%% %s\n", $1, $3, $2, $4, t($6), goal, t($7), t($8)
		printf "           ikd up in %.2f s (CPU %.2f s); storm CPU: ikd %.2f s, generator" \
			" %.2f s; DH bound %.2f s\n", $23, $24, $10, $11, $22 * $2 / 1000
		printf "           cookie rounds %d, retransmissions %d, per handshake max %d (<= 2):" \
			" none %d, one %d, two %d, more %d\n", $12, $13, $14, $15, $16, $17, $18
		printf "           dropped at ikd'"'"'s socket (buffer full) %d; load %.2f -> %.2f\n",
			$25, $19, $20
	}' "$work/summary"
fi
echo "storm.sh: $(since "$t_all") s; load average $(loadavg)"
[ -z "$failed" ] || fail "the storm did not complete for:$failed"
exit 0
