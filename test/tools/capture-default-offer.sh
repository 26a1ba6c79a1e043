#!/bin/bash
# Capture the IKE_SA_INIT request strongSwan's charon sends with its default proposals (a
# connection without a proposals line) and its distribution's stock plugin set, as hex.
# A listener in a second network namespace takes the first datagram and never answers.
#   test/tools/capture-default-offer.sh OUTFILE [ROOT]
# ROOT: a Debian root (e.g. trixie from mmdebstrap) whose charon runs chrooted; without it
# the host's charon. Root only. The charon version goes to stderr.
set -euo pipefail
out=${1:?usage: capture-default-offer.sh OUTFILE [ROOT]}
root=${2:-}
work=$(mktemp -d /var/tmp/ikdoffer.XXXXXX)
ns=ikdoffer

cleanup() {
	[ -f "$work/charon.pid" ] && kill "$(cat "$work/charon.pid")" 2>/dev/null || true
	[ -f "$work/listen.pid" ] && kill "$(cat "$work/listen.pid")" 2>/dev/null || true
	sleep 0.3
	ip netns del $ns-a 2>/dev/null || true
	ip netns del $ns-b 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

ip netns add $ns-a
ip netns add $ns-b
ip link add ${ns}0 netns $ns-a type veth peer name ${ns}1 netns $ns-b
ip -n $ns-a addr add 192.0.2.1/24 dev ${ns}0
ip -n $ns-b addr add 192.0.2.2/24 dev ${ns}1
for n in a b; do ip -n $ns-$n link set lo up; done
ip -n $ns-a link set ${ns}0 up
ip -n $ns-b link set ${ns}1 up

# The stock plugin set: every plugin the packages enable in /etc/strongswan.d/charon.
cat >"$work/strongswan.conf" <<CONF
charon {
	load_modular = yes
	plugins {
		include /etc/strongswan.d/charon/*.conf
		vici { socket = unix://$work/charon.vici }
	}
	install_routes = no
	filelog { log { path = $work/charon.log
		default = 1
		ike = 2 } }
}
swanctl { load = random openssl }
CONF
cat >"$work/c.conf" <<C
connections { c {
	version = 2
	local_addrs = 192.0.2.1
	remote_addrs = 192.0.2.2
	local { auth = psk
		id = branch.example.com }
	remote { auth = psk
		id = gw.example.net }
	children { c { local_ts = 10.1.0.0/16
		remote_ts = 10.2.0.0/16 } }
} }
secrets { ike { secret = "default offer capture" } }
C

ip netns exec $ns-b python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.2", 500))
open(sys.argv[1] + ".ready", "w").close()
data, _ = s.recvfrom(65535)
open(sys.argv[1], "w").write(data.hex() + "\n")
' "$work/offer.hex" &
echo $! >"$work/listen.pid"
for _ in $(seq 50); do [ -e "$work/offer.hex.ready" ] && break; sleep 0.1; done

if [ -n "$root" ]; then
	ip netns exec $ns-a unshare -m --propagation private sh -c "
		mount -t tmpfs tmpfs $root/run && mount -t proc proc $root/proc &&
		mount --rbind /dev $root/dev && mount -t tmpfs tmpfs $root/tmp &&
		mkdir -p $root$work && mount --bind $work $root$work &&
		STRONGSWAN_CONF=$work/strongswan.conf exec chroot $root /usr/lib/ipsec/charon" \
		>"$work/charon.out" 2>&1 &
else
	ip netns exec $ns-a unshare -m sh -c "mount -t tmpfs tmpfs /run &&
		STRONGSWAN_CONF=$work/strongswan.conf exec /usr/lib/ipsec/charon" \
		>"$work/charon.out" 2>&1 &
fi
echo $! >"$work/charon.pid"
for _ in $(seq 150); do [ -S "$work/charon.vici" ] && break; sleep 0.1; done
[ -S "$work/charon.vici" ] || { cat "$work/charon.out" >&2; exit 1; }
swan() {
	if [ -n "$root" ]; then
		nsenter -t "$(cat "$work/charon.pid")" -m -n chroot "$root" env \
			STRONGSWAN_CONF="$work/strongswan.conf" swanctl "$@" --uri "unix://$work/charon.vici"
	else
		STRONGSWAN_CONF=$work/strongswan.conf swanctl "$@" --uri "unix://$work/charon.vici"
	fi
}
swan --load-all --file "$work/c.conf" >/dev/null 2>&1
swan --initiate --ike c --child c --timeout 3 >/dev/null 2>&1 || true
for _ in $(seq 50); do [ -s "$work/offer.hex" ] && break; sleep 0.1; done
[ -s "$work/offer.hex" ] || { echo "no IKE_SA_INIT captured" >&2; cat "$work/charon.log" >&2; exit 1; }
grep -m1 -o 'Starting IKE charon daemon (strongSwan [^)]*)' "$work/charon.log" >&2 || true
grep -m1 'sending IKE_SA_INIT\|generating IKE_SA_INIT' "$work/charon.log" >&2 || true
cp "$work/offer.hex" "$out"
