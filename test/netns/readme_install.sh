#!/bin/bash
# The README's "Install" section, followed literally: its xfrmctl lines are read from README.md
# itself and run against an ikd branch router with the packaged ikd.conf (every line commented
# out: the defaults), so this test breaks when the README changes in a way it does not follow.
#   test/netns/readme_install.sh BUILD_DIR
#
#   ikdri-br  (branch)  203.0.113.2/24, default via 203.0.113.1 -- ikdri-rt (router) --
#   ikdri-fra (POP fra1) 198.51.100.1/24  ikd responder, service 10.2.0.1 on lo
#   ikdri-ams (POP ams1) 198.51.100.2/24  ikd responder, service 10.2.0.1 on lo
#
# The site is what the README adds: no source-ip, the default selectors (0.0.0.0/0 both
# ways), no mark; the POPs have only a gateway. The one substitution: the README's PSK file
# /root/b12.psk becomes a file in this test's work directory (the key is random); and ikd's
# store and control socket live there too (the only lines added to the packaged ikd.conf).
# The gateways' stores hold site b12 with the same key.
# Asserted: the site's IKE SA comes up with each POP. With ESP (the VM) a ping from the
# branch to 10.2.0.1 passes, which only the tunnel can carry (the router has no route to
# 10.2.0.0/16); without ESP (the host) each POP's Child SA install error is logged instead.
# Exit 0 pass, 1 fail, 77 skipped (not root). KEEP=1 keeps the logs.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/readme_install.sh BUILD_DIR}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "readme_install.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
work=$(mktemp -d /tmp/ikdri.XXXXXX)
me=readme_install.sh
prefix=ikdri
. "$(dirname "$0")/lib.sh"
info() { echo "$me: $*"; }
fatal() { fail "$*"; finish; }
finish() {
	for n in br fra ams; do echo "== $n.log"; tail -n 25 "$work/$n.log"; done
	echo "== xfrmctl site show b12 (branch)"; x site show b12 2>&1
	exit 1
}
x() { ip netns exec ikdri-br "$xfrmctl" -s "$work/br.sock" "$@"; }
wait_until() {
	local end=$((SECONDS + $1)); shift
	while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.2; done
	"$@"
}

# The README's install commands: the xfrmctl lines of the first sh block under "## Install"
# that has any.
mapfile -t readme < <(awk '
	/^## / { inst = ($0 == "## Install") }
	inst && /^```/ { code = !code; if (!code && n) exit; next }
	inst && code && /^xfrmctl / { print; n++ }' "$top/README.md")
[ "${#readme[@]}" -ge 3 ] || { fail "README.md's Install section has no xfrmctl lines"; exit 1; }
for l in "${readme[@]}"; do info "README: $l"; done
# What the rest of this test assumes of those lines; a README that moves on breaks it here.
expect_line() {
	printf '%s\n' "${readme[@]}" | grep -qxF -- "$1" ||
		{ fail "README.md's Install section no longer says: $1"; exit 1; }
}
expect_line "xfrmctl pop add fra1 gateway 198.51.100.1"
expect_line "xfrmctl pop add ams1 gateway 198.51.100.2"
expect_line "xfrmctl site add b12 id fqdn:b12.example.com psk-file /root/b12.psk primary fra1 backups ams1"

# Namespaces: the branch's default route reaches both POPs through a router.
for n in br rt fra ams; do ip netns add "ikdri-$n"; ip -n "ikdri-$n" link set lo up; done
ip link add ikdri-wan netns ikdri-br type veth peer name wan netns ikdri-rt
ip -n ikdri-br addr add 203.0.113.2/24 dev ikdri-wan
ip -n ikdri-br link set ikdri-wan up
ip -n ikdri-br route add default via 203.0.113.1
ip -n ikdri-rt addr add 203.0.113.1/24 dev wan
ip -n ikdri-rt link set wan up
ip -n ikdri-rt link add br0 type bridge
ip -n ikdri-rt addr add 198.51.100.254/24 dev br0
ip -n ikdri-rt link set br0 up
ip netns exec ikdri-rt sysctl -q -w net.ipv4.ip_forward=1
i=1
for n in fra ams; do
	ip link add "ikdri-$n" netns "ikdri-$n" type veth peer name "p$n" netns ikdri-rt
	ip -n "ikdri-$n" addr add "198.51.100.$i/24" dev "ikdri-$n"
	ip -n "ikdri-$n" link set "ikdri-$n" up
	ip -n "ikdri-$n" route add default via 198.51.100.254
	ip -n "ikdri-$n" addr add 10.2.0.1/32 dev lo
	ip -n ikdri-rt link set "p$n" master br0 up
	i=$((i + 1))
done
ip netns exec ikdri-br ping -n -q -c 1 -W 2 198.51.100.2 >/dev/null ||
	{ fail "the branch does not reach the POPs before ikd runs"; exit 1; }

have_esp=0
esp_here && have_esp=1
[ "$have_esp" = 1 ] && info "this kernel runs ESP: a ping through the tunnel is asserted" ||
	info "no ESP in this kernel: the IKE SAs and the Child SA install error are asserted (test/vm: ping)"

umask 077
psk="readme key $(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$psk" >"$work/b12.psk"
psk_hex=$(printf '%s' "$psk" | od -An -tx1 | tr -d ' \n')
# The gateways: ikd responders whose stores hold site b12 (dynamic source, the same key).
for n in fra ams; do
	cat >"$work/$n.store" <<STORE
version = 1
[pop fra1]
gateway = 198.51.100.1
[pop ams1]
gateway = 198.51.100.2
[site b12]
id = fqdn:b12.example.com
psk = hex:$psk_hex
primary = fra1
backups = ams1
STORE
	printf 'role = responder\nstore = %s/%s.store\ncontrol-socket = %s/%s.sock\n' \
		"$work" "$n" "$work" "$n" >"$work/$n.conf"
	ip netns exec "ikdri-$n" "$ikd" -c "$work/$n.conf" >"$work/$n.log" 2>&1 &
	echo $! >"$work/$n.pid"
done
# The branch: the packaged ikd.conf as installed, its paths in this test's directory.
{ cat "$top/dist/ikd.conf"; printf 'store = %s/br.store\ncontrol-socket = %s/br.sock\n' "$work" "$work"; } \
	>"$work/br.conf"
ip netns exec ikdri-br "$ikd" -c "$work/br.conf" >"$work/br.log" 2>&1 &
echo $! >"$work/br.pid"
for n in fra ams br; do
	# The first ESP state in a VM costs seconds (module loads, crypto self-tests): 30 s.
	wait_until 30 test -S "$work/$n.sock" || fatal "ikd in ikdri-$n did not start"
done

# The README's lines, the PSK file's path the only change.
for l in "${readme[@]}"; do
	l=${l//\/root\/b12.psk/$work/b12.psk}
	read -r -a argv <<<"$l"
	if out=$(x "${argv[@]:1}" 2>&1); then
		pass "$l"
	else
		fatal "$l: $out"
	fi
done

# tunnel_up POP: the branch's tunnel to POP has an IKE SA (site show, JSON).
tunnel_up() {
	x -j site show b12 2>/dev/null | jq -e --arg p "$1" \
		'[.. | objects | select(.pop? == $p and .state? == "up")] | length > 0' >/dev/null
}
ike_up=()
for p in fra1 ams1; do
	gw=$([ $p = fra1 ] && echo fra || echo ams)
	if wait_until 15 tunnel_up "$p" &&
		wait_for "$work/br.log" "site 'b12' pop '$p': IKE SA up" 5 &&
		wait_for "$work/$gw.log" "site 'b12' .*IKE SA up" 5; then
		pass "the README's site b12: IKE SA up with $p (both ends say so)"
		ike_up+=("$p")
	else
		fail "the README's site b12: no IKE SA with $p"
		lines=$(grep "site 'b12' pop '$p'" "$work/br.log") ||
			lines="(no line about site 'b12' pop '$p')"
		echo "    the branch's log: $lines"
		echo "    site show b12 (branch): $(x -j site show b12 2>&1 | jq -c --arg p "$p" \
			'[.. | objects | select(.pop? == $p) | {pop, state, last_error}]' 2>/dev/null)"
		echo "    the branch's blocking policies (fail-closed):" \
			"$(ip -n ikdri-br xfrm policy | grep -c 'action block')"
	fi
done
if [ "$have_esp" = 1 ]; then
	if wait_until 15 ip netns exec ikdri-br ping -n -q -c 2 -i 0.2 -W 1 10.2.0.1 >/dev/null; then
		pass "a ping from the branch reaches 10.2.0.1 through the tunnel"
	else
		fail "no traffic through the README's site b12"
		ip -n ikdri-br xfrm state; ip -n ikdri-br xfrm policy
	fi
else
	# Each POP's kernel refuses the Child SA before the POP answers: the POP says why, the
	# branch that the POP refused it.
	for p in "${ike_up[@]}"; do
		gw=$([ "$p" = fra1 ] && echo fra || echo ams)
		if wait_for "$work/br.log" "site 'b12' pop '$p': the POP refused the Child SA: NO_PROPOSAL_CHOSEN" 5 &&
		   wait_for "$work/$gw.log" "site 'b12' .*kernel refused the Child SA: .*; this kernel lacks " 5; then
			pass "no ESP here: $p says why its kernel refused the Child SA, the branch that $p refused it"
		else
			fail "no Child SA install error logged for $p"
		fi
	done
fi
for n in br fra ams; do
	kill -0 "$(cat "$work/$n.pid")" 2>/dev/null || fail "ikd in ikdri-$n is gone: $(tail -n 2 "$work/$n.log")"
done
[ "$fails" = 0 ] || finish
echo "$me: all passed"
