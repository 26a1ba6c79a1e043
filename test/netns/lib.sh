# Shared by the test/netns scripts (sourced). Before sourcing, set:
#   me=NAME (for PASS/FAIL lines), prefix=ikdX (namespace names), work=DIR (mktemp -d)
# Gives: two_pops, pass, fail, wait_for, wait_count, ns_bridge, esp_here, kernel_lacks, charon_conf,
# charon_start,
# swan, and an EXIT trap that stops what the script started ($work/*.pid) and deletes its
# namespaces ($prefix-*) and, unless KEEP is set, $work.
fails=0

# The store's two POPs of most scenarios: pop1 at 192.0.2.2 and pop2 at 192.0.2.3, each
# answering the probe at 10.2.0.1 (its cloud side).
two_pops="version = 1
[pop pop1]
gateway = 192.0.2.2
probe-ip = 10.2.0.1
ike-id = pop1.example.net
[pop pop2]
gateway = 192.0.2.3
probe-ip = 10.2.0.1
ike-id = pop2.example.net"
pass() { echo "$me: PASS: $*"; }
fail() { echo "$me: FAIL: $*"; fails=$((fails + 1)); }

# wait_for FILE PATTERN SECONDS: until PATTERN (grep) is in FILE
wait_for() {
	for _ in $(seq $(($3 * 10))); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}

# wait_count FILE PATTERN N SECONDS: until PATTERN has appeared N times
wait_count() {
	for _ in $(seq $(($4 * 10))); do
		[ "$(grep -c -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

netns_cleanup() {
	for p in "$work"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
	sleep 0.3
	for n in $(ip netns list | awk '{ print $1 }' | grep "^$prefix-"); do ip netns del "$n"; done
	if [ -n "${KEEP:-}" ]; then echo "$me: logs kept in $work"; else rm -rf "$work"; fi
}
trap netns_cleanup EXIT

# ns_bridge N1 N2 ...: namespaces $prefix-Ni on one bridge (in $prefix-w), each with its
# interface $prefix-Ni at 192.0.2.i/24, i counted from 1.
ns_bridge() {
	local i=1 n
	ip netns add "$prefix-w"
	ip -n "$prefix-w" link set lo up
	ip -n "$prefix-w" link add br0 type bridge
	ip -n "$prefix-w" link set br0 up
	for n in "$@"; do
		ip netns add "$prefix-$n"
		ip -n "$prefix-$n" link set lo up
		ip link add "$prefix-$n" netns "$prefix-$n" type veth peer name "p$n" netns "$prefix-w"
		ip -n "$prefix-$n" addr add "192.0.2.$i/24" dev "$prefix-$n"
		ip -n "$prefix-$n" link set "$prefix-$n" up
		ip -n "$prefix-w" link set "p$n" master br0 up
		i=$((i + 1))
	done
}

# esp_here [esp4|esp6]: can this kernel run ESP?
esp_here() {
	modprobe -q "${1:-esp4}" 2>/dev/null || true
	[ -d "/sys/module/${1:-esp4}" ]
}

# kernel_lacks OPTION: /proc/config.gz says OPTION is neither built in nor a module (false when
# the configuration cannot be read).
kernel_lacks() {
	[ -r /proc/config.gz ] && ! zcat /proc/config.gz | grep -qE "^$1=(y|m)\$"
}

# charon_start NAMESPACE SWANCTL_CONF: strongSwan's charon with a private strongswan.conf
# (log in $work/charon.log) and /run, its configuration loaded.
charon_start() {
	cat >"$work/strongswan.conf" <<CONF
charon {
	load_modular = no
	load = random nonce openssl pem pkcs1 kdf kernel-netlink socket-default vici
	plugins { vici { socket = unix://$work/charon.vici } }
	install_routes = no
	filelog { log { path = $work/charon.log
		flush_line = yes
		default = 1
		ike = 2
		chd = 2 } }
}
swanctl { load = random openssl }
CONF
	ip netns exec "$1" unshare -m sh -c "mount -t tmpfs tmpfs /run &&
		STRONGSWAN_CONF=$work/strongswan.conf exec /usr/lib/ipsec/charon" \
		>"$work/charon.out" 2>&1 &
	echo $! >"$work/charon.pid"
	for _ in $(seq 100); do [ -S "$work/charon.vici" ] && break; sleep 0.1; done
	swan --load-all --file "$2" >/dev/null 2>&1
}

swan() { STRONGSWAN_CONF=$work/strongswan.conf swanctl "$1" --uri "unix://$work/charon.vici" "${@:2}"; }
