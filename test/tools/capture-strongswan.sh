#!/bin/bash
# Capture real IKEv2 exchanges between two strongSwan charon daemons in network namespaces,
# with charon logging its derived keys, and write them as test data:
#   test/data/strongswan/<name>/{ike_sa_init_request,ike_sa_init_response,
#                                ike_auth_request,ike_auth_response}.hex  and keys.txt
# The IKE_SA_INIT messages are clear text; IKE_AUTH is checked by decrypting it with the keys.
# The host kernel needs no ESP: IKE completes before charon installs the Child SA.
# Usage (root): test/tools/capture-strongswan.sh [OUTDIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/test/data/strongswan}
work=$(mktemp -d /tmp/ikdcap.XXXXXX)
psk="ikd interop test key 2026"

cleanup() {
	for s in a b; do
		[ -f "$work/$s/charon.pid" ] && kill "$(cat "$work/$s/charon.pid")" 2>/dev/null || true
	done
	[ -f "$work/tcpdump.pid" ] && kill "$(cat "$work/tcpdump.pid")" 2>/dev/null || true
	ip netns del ikdcap-a 2>/dev/null || true
	ip netns del ikdcap-b 2>/dev/null || true
	sleep 0.2
	rm -rf "$work"
}
trap cleanup EXIT

ip netns add ikdcap-a
ip netns add ikdcap-b
ip link add ikdcap0 netns ikdcap-a type veth peer name ikdcap1 netns ikdcap-b
ip -n ikdcap-a addr add 10.99.0.1/24 dev ikdcap0
ip -n ikdcap-b addr add 10.99.0.2/24 dev ikdcap1
for ns in ikdcap-a ikdcap-b; do
	ip -n $ns link set lo up
done
ip -n ikdcap-a link set ikdcap0 up
ip -n ikdcap-b link set ikdcap1 up

# conf SIDE: one charon per namespace, its own vici socket, pid file and log.
conf() {
	local side=$1 dir=$work/$1
	mkdir -p "$dir/swanctl/conf.d"
	cat >"$dir/strongswan.conf" <<CONF
charon {
	load_modular = no
	load = random nonce openssl pem pkcs1 kdf kernel-netlink socket-default vici
	plugins {
		vici { socket = unix://$dir/charon.vici }
	}
	port = 500
	port_nat_t = 4500
	install_routes = no
	filelog {
		keys {
			path = $dir/charon.log
			default = 1
			ike = 4
			enc = 1
			cfg = 1
		}
	}
}
swanctl { load = random openssl }
CONF
}

# start SIDE NS: charon in its own mount namespace with a private /run.
start() {
	local side=$1 ns=$2 dir=$work/$1
	ip netns exec "$ns" unshare -m sh -c "mount -t tmpfs tmpfs /run && \
		STRONGSWAN_CONF=$dir/strongswan.conf exec /usr/lib/ipsec/charon" \
		>"$dir/stdout" 2>&1 &
	echo $! >"$dir/charon.pid"
	for _ in $(seq 100); do
		[ -S "$dir/charon.vici" ] && return 0
		sleep 0.1
	done
	echo "charon $side did not start" >&2
	cat "$dir/stdout" >&2
	exit 1
}

# swanctl_side SIDE COMMAND [ARGS]: the command comes first, then its options.
swanctl_side() {
	local side=$1 cmd=$2; shift 2
	STRONGSWAN_CONF=$work/$side/strongswan.conf \
		swanctl "$cmd" --uri "unix://$work/$side/charon.vici" "$@"
}

# capture NAME IKE_PROPOSAL ESP_PROPOSAL ID_I ID_R
capture() {
	local name=$1 ike=$2 esp=$3 id_i=$4 id_r=$5
	for s in a b; do conf $s; done
	cat >"$work/a/swanctl/conf.d/c.conf" <<C
connections { c {
	version = 2
	local_addrs = 10.99.0.1
	remote_addrs = 10.99.0.2
	proposals = $ike
	local { auth = psk
		id = $id_i }
	remote { auth = psk
		id = $id_r }
	children { c { local_ts = 10.1.0.0/16
		remote_ts = 0.0.0.0/0
		esp_proposals = $esp } }
} }
secrets { ike { secret = "$psk" } }
C
	cat >"$work/b/swanctl/conf.d/c.conf" <<C
connections { c {
	version = 2
	local_addrs = 10.99.0.2
	remote_addrs = 10.99.0.1
	proposals = $ike
	local { auth = psk
		id = $id_r }
	remote { auth = psk
		id = $id_i }
	children { c { local_ts = 0.0.0.0/0
		remote_ts = 10.1.0.0/16
		esp_proposals = $esp } }
} }
secrets { ike { secret = "$psk" } }
C
	start a ikdcap-a
	start b ikdcap-b
	for s in a b; do
		swanctl_side $s --load-all --file "$work/$s/swanctl/conf.d/c.conf" >/dev/null
	done
	ip netns exec ikdcap-a tcpdump -i ikdcap0 -U -w "$work/$name.pcap" udp port 500 or udp port 4500 \
		>/dev/null 2>&1 &
	echo $! >"$work/tcpdump.pid"
	sleep 1
	# The Child SA cannot be installed without ESP in this kernel; IKE_AUTH completes first.
	swanctl_side a --initiate --ike c --child c --timeout 20 >"$work/$name.initiate" 2>&1 || true
	sleep 1
	kill "$(cat "$work/tcpdump.pid")"
	rm -f "$work/tcpdump.pid"
	for s in a b; do
		kill "$(cat "$work/$s/charon.pid")"
		rm -f "$work/$s/charon.pid"
	done
	sleep 0.5
	python3 "$top/test/tools/strongswan-extract.py" "$work/$name.pcap" "$work/a/charon.log" \
		"$psk" "$ike" "$id_i" "$id_r" "$out/$name"
	rm -rf "$work/a" "$work/b"
}

mkdir -p "$out"
capture modp2048 aes256-sha256-modp2048 aes256-sha256 fqdn:branch-12.example.com 10.99.0.2
capture ecp384 aes256gcm16-prfsha384-ecp384 aes256gcm16 branch-7@example.com fqdn:pop-fra1.example.net
capture x25519 aes128-sha1-prfsha1-x25519 aes128-sha1 10.99.0.1 10.99.0.2
echo "captures written to $out"
