# Shared by the test/netns scripts (sourced). Before sourcing, set:
#   me=NAME (for PASS/FAIL lines), prefix=ikdX (namespace names), work=DIR (mktemp -d)
# Gives: two_pops, pass, fail, wait_for, wait_count, wait_until, ns_bridge, lans, esp_here,
# kernel_lacks, charon_conf, charon_start, charon_version, swan, xfrm_clean, xfrm_same_keys,
# and an EXIT trap that stops what the script started ($work/*.pid) and deletes its
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

# lans BRANCH POP...: of namespaces made by ns_bridge (BRANCH at 192.0.2.1, the first POP at
# 192.0.2.2): the branch's LAN 10.1.0.1/24 and each POP's cloud side 10.2.0.1 on their lo,
# routed to each other over the bridge (the branch's LAN through the first POP).
lans() {
	local b=$1 n
	shift
	ip -n "$prefix-$b" addr add 10.1.0.1/24 dev lo
	ip -n "$prefix-$b" route add 10.2.0.0/24 via 192.0.2.2 src 10.1.0.1
	for n in "$@"; do
		ip -n "$prefix-$n" addr add 10.2.0.1/32 dev lo
		ip -n "$prefix-$n" route add 10.1.0.0/24 via 192.0.2.1 src 10.2.0.1
	done
}

# wait_until SECONDS COMMAND...: until COMMAND succeeds, by the clock (a check may take a
# while in the VM); COMMAND's status at the end
wait_until() {
	local end=$((SECONDS + $1))
	shift
	while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.2; done
	"$@"
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

# charon_start NAMESPACE SWANCTL_CONF [stock]: strongSwan's charon with a private
# strongswan.conf (log in $work/charon.log) and /run, its configuration loaded. With "stock",
# the plugins the distribution's packages enable (what default proposals depend on).
# $charon_extra: more lines for its charon section. $charon_id: a second charon in the same
# script gives each its own (e.g. charon_id=2: $work/charon2.log, charon2.vici, charon2.pid,
# strongswan2.conf); swan talks to the one charon_id names.
charon_start() {
	local plugins="load_modular = no
	load = random nonce openssl pem pkcs1 kdf kernel-netlink socket-default vici
	plugins { vici { socket = unix://$work/charon${charon_id:-}.vici } }"
	[ "${3:-}" = stock ] && plugins="load_modular = yes
	plugins { include /etc/strongswan.d/charon/*.conf
		vici { socket = unix://$work/charon${charon_id:-}.vici } }"
	cat >"$work/strongswan${charon_id:-}.conf" <<CONF
charon {
	$plugins
	install_routes = no
	${charon_extra:-}
	filelog { log { path = $work/charon${charon_id:-}.log
		flush_line = yes
		time_format = %T
		time_add_ms = yes
		default = 1
		ike = 2
		chd = 2 } }
}
swanctl { load = random openssl }
CONF
	local r=${IKD_CHARON_ROOT:-}
	if [ -n "$r" ]; then
		# Another release's charon (test/vm/trixie-root: strongSwan 6), chrooted in a
		# private mount namespace with $work bound in at the same path.
		ip netns exec "$1" unshare -m --propagation private sh -c "
			mount -t tmpfs tmpfs $r/run && mount -t proc proc $r/proc &&
			mount --rbind /dev $r/dev && mount -t tmpfs tmpfs $r/tmp &&
			mkdir -p $r$work && mount --bind $work $r$work &&
			STRONGSWAN_CONF=$work/strongswan${charon_id:-}.conf exec chroot $r /usr/lib/ipsec/charon" \
			>"$work/charon${charon_id:-}.out" 2>&1 &
	else
		ip netns exec "$1" unshare -m sh -c "mount -t tmpfs tmpfs /run &&
			STRONGSWAN_CONF=$work/strongswan${charon_id:-}.conf exec /usr/lib/ipsec/charon" \
			>"$work/charon${charon_id:-}.out" 2>&1 &
	fi
	echo $! >"$work/charon${charon_id:-}.pid"
	for _ in $(seq 150); do [ -S "$work/charon${charon_id:-}.vici" ] && break; sleep 0.1; done
	swan --load-all --file "$2" >/dev/null 2>&1
}

# charon_version: the version of the strongSwan that charon_start runs (IKD_CHARON_ROOT's
# when set), e.g. 6.0.1, from the package database (swanctl loads every plugin to say it).
charon_version() {
	dpkg-query --admindir="${IKD_CHARON_ROOT:-}/var/lib/dpkg" -W -f '${Version}' \
		strongswan-charon 2>/dev/null | sed 's/^[0-9]*://; s/-[^-]*$//'
}

# swan COMMAND [ARGS]: swanctl on this script's charon (from IKD_CHARON_ROOT's when set).
swan() {
	if [ -n "${IKD_CHARON_ROOT:-}" ]; then
		nsenter -t "$(cat "$work/charon${charon_id:-}.pid")" -m chroot "$IKD_CHARON_ROOT" \
			env STRONGSWAN_CONF="$work/strongswan${charon_id:-}.conf" \
			swanctl "$1" --uri "unix://$work/charon${charon_id:-}.vici" "${@:2}"
	else
		STRONGSWAN_CONF=$work/strongswan${charon_id:-}.conf \
			swanctl "$1" --uri "unix://$work/charon${charon_id:-}.vici" "${@:2}"
	fi
}

# xfrm_same_keys NS1 NS2: every ESP SA in NS1 is in NS2 (same addresses and SPI) with the
# same algorithms and keys. Prints how many were compared and, for each that differs or is
# missing, its SPI; never a key.
xfrm_same_keys() {
	local id a b n=0
	while read -r id; do
		[ -n "$id" ] || continue
		# shellcheck disable=SC2086 # id is "src A dst B proto esp spi S"
		a=$(ip -n "$1" xfrm state get $id | grep -E '^[[:space:]]+(enc|auth|auth-trunc|aead) ')
		# shellcheck disable=SC2086
		b=$(ip -n "$2" xfrm state get $id 2>/dev/null |
			grep -E '^[[:space:]]+(enc|auth|auth-trunc|aead) ')
		if [ -n "$a" ] && [ "$a" = "$b" ]; then
			n=$((n + 1))
		else
			echo "keys differ or SA missing: ${id##* }"
		fi
	done < <(ip -n "$1" xfrm state | awk '/^src/ { a = "src " $2 " dst " $4 }
		$1 == "proto" && $2 == "esp" { print a " proto esp spi " $4 }')
	echo "$n SAs compared"
}

# xfrm_clean NAMESPACE...: no inbound ESP packet failed its integrity check or found no
# state (/proc/net/xfrm_stat, per namespace); a line naming what did, else nothing.
xfrm_clean() {
	local n bad=""
	for n in "$@"; do
		bad+=$(ip netns exec "$n" awk '($1 == "XfrmInStateProtoError" ||
			$1 == "XfrmInNoStates" || $1 == "XfrmInStateInvalid") && $2 != 0 {
			printf " %s %s=%s", ns, $1, $2 }' ns="$n" /proc/net/xfrm_stat)
	done
	[ -z "$bad" ] || echo "xfrm_stat:$bad"
}
