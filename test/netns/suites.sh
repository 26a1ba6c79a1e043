#!/bin/bash
# The interop matrix: every suite the seeds list, between ikd and strongSwan's charon, in
# both directions at once: ikd initiates one site per suite to charon, and charon initiates
# one connection per suite to a second ikd acting as the gateway.
#   test/netns/suites.sh BUILD_DIR
# IKE: AES-CBC-128/192/256 x SHA-1/256/384/512 x MODP 2048/3072/4096/8192 (each value at
# least once); ESP: AES-CBC-128/256, AES-GCM-128/192/256 and NULL.
# With ESP in the kernel (the VM) a ping must pass through each Child SA, both kernels must
# hold the same keys for each SA and no packet may fail its integrity check; without it (the
# host) each IKE SA must be established at both ends and the ikd gateway's Child SA install
# error must name the kernel option that suite lacks. IKD_CHARON_ROOT: charon from that root
# (test/vm/trixie-root: strongSwan 6.0.1). Exit 0 pass, 1 fail, 77 skipped.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/suites.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "suites.sh: needs root for namespaces: skipped"; exit 77; }
[ -x /usr/lib/ipsec/charon ] || { echo "suites.sh: strongSwan's charon is not installed: skipped"; exit 77; }
ikd=$build/ikd/ikd
work=$(mktemp -d /tmp/ikds.XXXXXX)
psk="suite key $(od -An -tx1 -N8 /dev/urandom | tr -d ' ')"
psk_hex=$(printf '%s' "$psk" | od -An -tx1 | tr -d ' \n')
# IKE proposal | ESP proposal
cases=(
	"aes128-sha1-modp2048|aes128-sha1"
	"aes192-sha256-modp3072|aes256-sha256"
	"aes256-sha384-modp4096|aes128gcm16"
	"aes256-sha512-modp8192|aes192gcm16"
	"aes128-sha256-modp2048|aes256gcm16"
	"aes256-sha256-modp2048|null-sha256"
)

me=suites.sh
prefix=ikds
. "$(dirname "$0")/lib.sh"

#   ikds-x (ikd branch) 192.0.2.1 -- 192.0.2.2 ikds-y (charon) 198.51.100.2 -- 198.51.100.1 ikds-z (ikd gw)
for n in x y z; do ip netns add "ikds-$n"; ip -n "ikds-$n" link set lo up; done
ip link add ikds0 netns ikds-x type veth peer name ikds1 netns ikds-y
ip link add ikds2 netns ikds-z type veth peer name ikds3 netns ikds-y
ip -n ikds-x addr add 192.0.2.1/24 dev ikds0
ip -n ikds-y addr add 192.0.2.2/24 dev ikds1
ip -n ikds-z addr add 198.51.100.1/24 dev ikds2
ip -n ikds-y addr add 198.51.100.2/24 dev ikds3
ip -n ikds-x link set ikds0 up
ip -n ikds-y link set ikds1 up
ip -n ikds-z link set ikds2 up
ip -n ikds-y link set ikds3 up
ip -n ikds-x route add 10.2.0.0/16 via 192.0.2.2
ip -n ikds-y route add 10.1.0.0/16 via 192.0.2.1
ip -n ikds-z route add 10.4.0.0/16 via 198.51.100.2
ip -n ikds-y route add 10.3.0.0/16 via 198.51.100.1

have_esp=0
esp_here && have_esp=1

umask 077
pops="version = 1
[pop charon]
gateway = 192.0.2.2
probe-ip = 10.2.0.1
[pop spare]
gateway = 192.0.2.9
probe-ip = 10.2.0.1
accepting = no"
printf '%s\n' "$pops" >"$work/branch.store"
printf '%s\n' "$pops" >"$work/gw.store"
conns=""
i=0
for c in "${cases[@]}"; do
	i=$((i + 1))
	ike=${c%%|*}
	esp=${c#*|}
	ip -n ikds-x addr add "10.1.$i.1/32" dev lo
	ip -n ikds-z addr add "10.3.$i.1/32" dev lo
	ip -n ikds-y addr add "10.2.$i.1/32" dev lo
	ip -n ikds-y addr add "10.4.$i.1/32" dev lo
	# ikd initiates site s$i to charon
	printf '[site s%s]\nid = s%s.branch.example\npsk = hex:%s\nprimary = charon\nbackups = spare\nlocal-ts = 10.1.%s.0/24\nremote-ts = 10.2.%s.0/24\nike-proposals = %s\nesp-proposals = %s\nvendor-rules = no\n' \
		"$i" "$i" "$psk_hex" "$i" "$i" "$ike" "$esp" >>"$work/branch.store"
	# charon initiates g$i to the ikd gateway (which sees it as site g$i)
	printf '[site g%s]\nid = g%s.branch.example\npsk = hex:%s\nprimary = charon\nbackups = spare\nlocal-ts = 10.4.%s.0/24\nremote-ts = 10.3.%s.0/24\nike-proposals = %s\nesp-proposals = %s\nvendor-rules = no\n' \
		"$i" "$i" "$psk_hex" "$i" "$i" "$ike" "$esp" >>"$work/gw.store"
	conns+="
	s$i { version = 2
		local_addrs = 192.0.2.2
		remote_addrs = 192.0.2.1
		proposals = $ike
		local { auth = psk
			id = fqdn:charon.example }
		remote { auth = psk
			id = fqdn:s$i.branch.example }
		children { s$i { local_ts = 10.2.$i.0/24
			remote_ts = 10.1.$i.0/24
			esp_proposals = $esp } } }
	g$i { version = 2
		local_addrs = 198.51.100.2
		remote_addrs = 198.51.100.1
		proposals = $ike
		local { auth = psk
			id = fqdn:g$i.branch.example }
		remote { auth = psk }
		children { g$i { local_ts = 10.4.$i.0/24
			remote_ts = 10.3.$i.0/24
			esp_proposals = $esp } } }"
done
cat >"$work/branch.conf" <<CONF
role = initiator
store = $work/branch.store
control-socket = $work/branch.sock
retransmit-timeout = 500
CONF
cat >"$work/gw.conf" <<CONF
role = responder
store = $work/gw.store
control-socket = $work/gw.sock
identity = gw.example
CONF
printf 'connections {%s\n}\nsecrets { ike { secret = "%s" } }\n' "$conns" "$psk" >"$work/swanctl.conf"

charon_start ikds-y "$work/swanctl.conf"
swan --list-conns 2>/dev/null | grep -q s1 || { fail "charon refused the configuration"; exit 1; }
charon_v=$(swan --version 2>/dev/null | grep -o 'swanctl [0-9.]*' | sed 's/swanctl/strongSwan/')
echo "suites.sh: $charon_v${IKD_CHARON_ROOT:+ from $IKD_CHARON_ROOT}"

ip netns exec ikds-z "$ikd" -c "$work/gw.conf" >"$work/gw.log" 2>&1 &
echo $! >"$work/gw.pid"
ip netns exec ikds-x "$ikd" -c "$work/branch.conf" >"$work/branch.log" 2>&1 &
echo $! >"$work/branch.pid"
wait_for "$work/gw.log" "started" 5
jobs=()
for i in $(seq ${#cases[@]}); do
	swan --initiate --ike "g$i" --child "g$i" --timeout 20 >"$work/init-g$i.out" 2>&1 &
	jobs+=($!)
done
wait "${jobs[@]}"

i=0
for c in "${cases[@]}"; do
	i=$((i + 1))
	ike=${c%%|*}
	esp=${c#*|}
	for dir in "ikd->charon s$i branch x" "charon->ikd g$i gw z"; do
		set -- $dir
		name=$2
		log=$work/$3.log
		src=$([ "$3" = branch ] && echo "10.1.$i.1 10.2.$i.1" || echo "10.3.$i.1 10.4.$i.1")
		if ! wait_for "$log" "site '$name' .*IKE SA up" 30; then
			fail "$1 $ike / $esp: no IKE SA"
			continue
		fi
		if ! grep -q "IKE_SA $name\[[0-9]*\] established" "$work/charon.log"; then
			fail "$1 $ike / $esp: charon has no IKE SA"
			continue
		fi
		if [ "$have_esp" = 1 ]; then
			ns=$4
			set -- $src
			if ip netns exec "ikds-$ns" ping -n -q -c 2 -i 0.2 -W 2 -I "$1" "$2" >/dev/null; then
				pass "$dir: $ike / $esp: IKE SA, Child SA, ping through it"
			else
				fail "$dir: $ike / $esp: no traffic through the Child SA"
			fi
		else
			pass "$dir: $ike / $esp: IKE SA established at both ends (no ESP here)"
			# The gateway's install error names what this suite needs (the kernel
			# looks the algorithm up before ESP itself). The branch logs none:
			# charon, without ESP too, refuses the Child SA before ikd installs it.
			[ "$3" = gw ] || continue
			want=CONFIG_INET_ESP
			case $esp in *gcm*) kernel_lacks CONFIG_CRYPTO_GCM && want=CONFIG_CRYPTO_GCM ;; esac
			if grep -q "site '$name' .*kernel refused the Child SA: .*; this kernel lacks $want\([:;]\|\$\)" "$log"; then
				pass "$dir: $esp: the install error names $want"
			else
				fail "$dir: $esp: the install error does not name $want:" \
					"$(grep -m 1 "site '$name' .*kernel refused the Child SA" "$log")"
			fi
		fi
	done
done
if [ "$have_esp" = 1 ]; then
	# Both ends' kernels hold the same keys for every SA of every suite, both directions.
	for ns in ikds-x ikds-z; do
		same=$(xfrm_same_keys "$ns" ikds-y)
		if [ "$(echo "$same" | wc -l)" = 1 ] && [ "${same%% *}" -ge $((2 * ${#cases[@]})) ]; then
			pass "$ns and charon: the same keys in both kernels ($same)"
		else
			fail "$ns and charon: $(echo "$same" | tr '\n' ';')"
		fi
	done
	bad=$(xfrm_clean ikds-x ikds-y ikds-z)
	[ -z "$bad" ] && pass "no packet failed its integrity check or found no SA ($charon_v)" ||
		fail "$bad"
fi
grep -rqF "$psk" "$work"/*.log && fail "a log holds the PSK"
[ "$fails" = 0 ] || { tail -n 20 "$work/branch.log" "$work/gw.log"; exit 1; }
echo "suites.sh: all ${#cases[@]} suites passed in both directions"
