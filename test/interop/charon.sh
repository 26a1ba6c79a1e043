#!/bin/bash
# Interop: lib/ike's initiator (test/interop/ike_client) against strongSwan's charon as the
# responder, over UDP between two network namespaces.
#   test/interop/charon.sh BUILD_DIR
# On a kernel with ESP (the VM) the Child SA is installed on both sides and a ping between
# the two LANs must go through it. On a kernel without ESP charon authenticates us and then
# cannot install its half of the child: the IKE SA must still be ESTABLISHED at charon.
# Exit 0 on success, 1 on failure, 77 (skipped) when charon is not installed.
# KEEP=1 keeps charon's log in /tmp/charon-interop.log.
set -euo pipefail
build=$(cd "${1:?usage: test/interop/charon.sh BUILD_DIR}" && pwd)
[ -x /usr/lib/ipsec/charon ] || { echo "charon.sh: strongSwan's charon is not installed: skipped"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "charon.sh: needs root for namespaces: skipped"; exit 77; }
work=$(mktemp -d /tmp/ikdi.XXXXXX)
psk="interop key $(od -An -tx1 -N8 /dev/urandom | tr -d ' ')"

cleanup() {
	[ -f "$work/charon.pid" ] && kill "$(cat "$work/charon.pid")" 2>/dev/null
	ip netns del ikdi-a 2>/dev/null || true
	ip netns del ikdi-b 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap "cp $work/charon.log /tmp/charon-interop.log; cleanup" EXIT

ip netns add ikdi-a
ip netns add ikdi-b
ip link add ikdi0 netns ikdi-a type veth peer name ikdi1 netns ikdi-b
ip -n ikdi-a addr add 10.98.0.1/24 dev ikdi0
ip -n ikdi-b addr add 10.98.0.2/24 dev ikdi1
for l in a:ikdi0 b:ikdi1 a:lo b:lo; do ip -n "ikdi-${l%%:*}" link set "${l#*:}" up; done
ip -n ikdi-a addr add 10.1.0.1/32 dev lo
ip -n ikdi-b addr add 10.2.0.1/32 dev lo
ip -n ikdi-a route add 10.2.0.0/24 dev ikdi0 src 10.1.0.1
ip -n ikdi-b route add 10.1.0.0/24 dev ikdi1 src 10.2.0.1

umask 077
printf '%s\n' "$psk" >"$work/psk"
cat >"$work/strongswan.conf" <<CONF
charon {
	load_modular = no
	load = random nonce openssl pem pkcs1 kdf kernel-netlink socket-default vici
	plugins { vici { socket = unix://$work/charon.vici } }
	install_routes = no
	filelog { log { path = $work/charon.log
		flush_line = yes
		default = 1
		ike = 2 } }
}
swanctl { load = random openssl }
CONF
cat >"$work/pop.conf" <<CONF
connections { pop {
	version = 2
	local_addrs = 10.98.0.2
	remote_addrs = 10.98.0.1
	proposals = aes256-sha256-modp2048
	local { auth = psk
		id = fqdn:pop.example }
	remote { auth = psk
		id = fqdn:branch-12.example.com }
	children { net { local_ts = 10.2.0.0/24
		remote_ts = 10.1.0.0/24
		esp_proposals = aes256gcm16,aes256-sha256 } }
} }
secrets { ike { secret = "$psk" } }
CONF
ip netns exec ikdi-b unshare -m sh -c "mount -t tmpfs tmpfs /run &&
	STRONGSWAN_CONF=$work/strongswan.conf exec /usr/lib/ipsec/charon" >"$work/stdout" 2>&1 &
echo $! >"$work/charon.pid"
for _ in $(seq 100); do [ -S "$work/charon.vici" ] && break; sleep 0.1; done
swan() { STRONGSWAN_CONF=$work/strongswan.conf swanctl "$1" --uri "unix://$work/charon.vici" "${@:2}"; }
swan --load-all --file "$work/pop.conf" >/dev/null 2>&1

have_esp=0
grep -q '^esp4 ' /proc/modules 2>/dev/null || modprobe -q esp4 2>/dev/null || true
grep -qE '^(esp4) ' /proc/modules 2>/dev/null && have_esp=1
rc=0
ip netns exec ikdi-a "$build/test/interop/ike_client" 10.98.0.1 10.98.0.2 "$work/psk" \
	10.1.0.0/24 10.2.0.0/24 --install 2>&1 | tee "$work/client.out" || rc=${PIPESTATUS[0]}
# strongSwan 6 that cannot install the Child SA (no ESP here) answers IKE_AUTH with a bare
# NO_PROPOSAL_CHOSEN and keeps no IKE SA (5.9 keeps the IKE SA): read as the answer, after
# charon verified our AUTH. Nothing is left to check the liveness or the Delete on.
if [ "$have_esp" = 0 ] && grep -q 'IKE_AUTH: failed (NO_PROPOSAL_CHOSEN)' "$work/client.out"; then
	grep -q "authentication of 'branch-12.example.com' with pre-shared key successful" \
		"$work/charon.log" || { echo "charon.sh: FAIL: charon did not verify our AUTH"; exit 1; }
	echo "charon.sh: PASS: charon verified our AUTH; its bare NO_PROPOSAL_CHOSEN (no ESP in" \
		"this kernel for the child) was read as the answer"
	echo "charon.sh: this charon keeps no IKE SA without the child: liveness and Delete not checked"
	exit 0
fi
grep -q 'liveness check on the IKE SA: answered' "$work/client.out" ||
	{ echo "charon.sh: FAIL: charon did not answer our liveness check"; exit 1; }
status=$(swan --list-sas 2>/dev/null || true)
echo "$status" | sed -n '1,6p'
echo "$status" | grep -q ESTABLISHED || { echo "charon.sh: FAIL: charon has no ESTABLISHED IKE SA"; tail -n 20 "$work/charon.log"; exit 1; }
if [ "$rc" = 0 ]; then
	# Both kernels hold the Child SA: traffic between the LANs goes through ESP.
	ip netns exec ikdi-a ping -n -q -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 | grep 'packets transmitted'
	ip netns exec ikdi-a ping -n -q -c 1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null ||
		{ echo "charon.sh: FAIL: no traffic through the tunnel"; exit 1; }
	pkts=$(ip -n ikdi-a -s xfrm state | grep -o '[0-9]\+(packets)' | tr '\n' ' ')
	echo "charon.sh: ESP through the tunnel, branch SA counters: $pkts"
	echo "$status" | grep -q INSTALLED || { echo "charon.sh: FAIL: charon's child not installed"; exit 1; }
	echo "charon.sh: PASS: IKE SA and Child SA with strongSwan, traffic flows"
elif [ "$rc" = 3 ] && [ "$have_esp" = 0 ]; then
	echo "charon.sh: PASS: IKE SA with strongSwan (both AUTHs verified); no ESP in this kernel for the child"
else
	echo "charon.sh: FAIL: ike_client exited $rc"
	tail -n 20 "$work/charon.log"
	exit 1
fi

# A second IKE SA, deleted by us: charon must drop it (INFORMATIONAL Delete, §1.4.1).
swan --terminate --ike pop --force >/dev/null 2>&1 || true
ip netns exec ikdi-a "$build/test/interop/ike_client" 10.98.0.1 10.98.0.2 "$work/psk" \
	10.1.0.0/24 10.2.0.0/24 --delete | tee "$work/client2.out" || true
grep -q 'IKE SA delete: acknowledged' "$work/client2.out" ||
	{ echo "charon.sh: FAIL: our Delete was not acknowledged"; exit 1; }
if swan --list-sas 2>/dev/null | grep -q ESTABLISHED; then
	echo "charon.sh: FAIL: charon still holds an IKE SA after our Delete"
	exit 1
fi
grep -q 'received DELETE for IKE_SA' "$work/charon.log" ||
	{ echo "charon.sh: FAIL: charon did not log our Delete"; exit 1; }
echo "charon.sh: PASS: liveness check and IKE SA Delete with strongSwan"
