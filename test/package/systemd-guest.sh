#!/bin/bash
# The Debian package on a real systemd: run in a guest whose pid 1 is systemd and whose kernel
# has ESP (test/package/systemd-test boots a minimal Debian 12 so, with test/vm/boot -s). As
# an engineer would: dpkg -i (apt-get -f install for the dependencies), configure an edge
# router (role initiator) with two sites, each with a primary and a backup POP, start it with
# systemctl, add the POPs and sites with xfrmctl, ping through ESP; then systemctl restart and
# reload, the journal, the watchdog, an upgrade, dpkg -r and dpkg -P.
#   test/package/systemd-guest.sh DEB
#
#   root namespace: the router, ikd under systemd, 192.0.2.10, LANs 10.1.0.1 and 10.1.1.1
#   ikdu-p1 (pop1)  192.0.2.1    ikd responder started by hand, clouds 10.2.0.1, 10.2.1.1
#   ikdu-p2 (pop2)  192.0.2.2    the same; all three on one bridge in ikdu-w
#   site s1: 10.1.0.0/24 <-> 10.2.0.0/24, primary pop1, backup pop2 (PSK from a file)
#   site s2: 10.1.1.0/24 <-> 10.2.1.0/24, primary pop2, backup pop1 (PSK on stdin)
# The POPs' stores hold the same site records (one record serves both roles).
#
# Figures printed: systemctl restart to every site up and to the first ping through; the
# packets a ping at 10 Hz loses across systemctl reload. Exit 0 pass, 1 fail.
# shellcheck disable=SC2016 # the conditions given to wait_until are evaluated later, by eval
set -uo pipefail
deb=$(readlink -f "${1:?usage: systemd-guest.sh DEB}")
me=systemd-guest
prefix=ikdu
work=$(mktemp -d /tmp/ikdu.XXXXXX)
. "$(dirname "$0")/../netns/lib.sh"
export SYSTEMD_PAGER=cat SYSTEMD_COLORS=0
info() { echo "$me: [${SECONDS} s] $*"; }
now() { local t=$EPOCHREALTIME; echo "${t/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# wait_until SECONDS COMMAND...: by the clock, as every check is slow in the VM
wait_until() {
	local end=$((SECONDS + $1)); shift
	while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.1; done
	"$@"
}
prop() { systemctl show -P "$1" ikd; }
x() { xfrmctl "$@"; }
pop_ikd_log() { for p in p1 p2; do echo "--- $p.log"; tail -n 20 "$work/$p.log"; done; }
journal_tail() { echo "--- journalctl -u ikd"; journalctl -u ikd -o short-monotonic -n 40 --no-pager; }
# every site's status, "s1=up s2=up"
statuses() {
	x -j site list 2>/dev/null | jq -r '[.sites[] | "\(.name)=\(.status)"] | sort | join(" ")'
}
all_up() { [ "$(statuses)" = "s1=up s2=up" ]; }
# Every tunnel of every site up (two sites x two POPs), each with its Child SA installed.
tunnels_up() {
	[ "$(x -j sa list 2>/dev/null | jq '[.. | objects | select(.type == "child" and
		.installed == true)] | length')" = 4 ]
}
# The kernel's ESP SPIs in namespace $1 (- for the root), sorted, as 8 hex digits.
kernel_spis() {
	local n=()
	[ "$1" = - ] || n=(-n "$1")
	ip "${n[@]}" xfrm state | awk '$1 == "proto" && $2 == "esp" && $3 == "spi" { print substr($4, 3) }' |
		sort
}
# What ikd says it has: the SPIs of its Child SAs, both directions.
ikd_spis() {
	x -j sa list | jq -r '[.. | objects | select(.type == "child") | .spi_in, .spi_out] |
		unique | .[]' | sort
}
count() {	# count NS state|policy
	local n=()
	[ "$1" = - ] || n=(-n "$1")
	ip "${n[@]}" xfrm "$2" | grep -c '^src'
}
oneline() { tr '\n' ' ' <<<"$1"; }
ping_from() { ping -n -q -c "${3:-2}" -i 0.2 -W 2 -I "$1" "$2" >/dev/null 2>&1; }
pings_ok() { ping_from 10.1.0.1 10.2.0.1 1 && ping_from 10.1.1.1 10.2.1.1 1; }

# ---- 0: the guest ----
if [ "$(cat /proc/1/comm)" = systemd ]; then
	pass "pid 1 is systemd ($(systemctl --version | head -n 1)), kernel $(uname -r)"
else
	fail "pid 1 is $(cat /proc/1/comm), not systemd"
	exit 1
fi
state=$(systemctl is-system-running --wait)
[ "$state" = running ] && pass "systemctl is-system-running: running" ||
	fail "systemctl is-system-running: $state ($(systemctl list-units --failed --no-legend --plain | awk '{ print $1 }' | tr '\n' ' '))"
info "$(systemd-analyze | head -n 1)"

# ---- 1: install ----
# As on a router: dpkg -i, and apt-get -f install for the dependencies it lacks (this root
# has them in a local repository: no network here).
t0=$(now)
if dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1; then
	pass "dpkg -i $(basename "$deb") in $(since "$t0") s, every dependency already there"
elif grep -q 'dependency problems' "$work/dpkg-i.log"; then
	lacking=$(sed -n 's/^ ikd depends on \([^;]*\);.*/\1/p' "$work/dpkg-i.log" | paste -sd ' ')
	if apt-get -f install -y -q >"$work/apt.log" 2>&1; then
		pass "dpkg -i, then apt-get -f install brought ${lacking:-its dependencies}: $(since "$t0") s"
	else
		fail "apt-get -f install:"; cat "$work/apt.log"; exit 1
	fi
else
	fail "dpkg -i $(basename "$deb"):"; cat "$work/dpkg-i.log"; exit 1
fi
st=$(dpkg-query -W -f='${Status} ${Version}' ikd)
[[ $st == "install ok installed "* ]] && pass "dpkg: $st" || fail "dpkg: $st"
# Nothing the package ships is enabled or running: ikd.service and any other unit.
units=$(dpkg -L ikd | sed -En 's#^(/usr)?/lib/systemd/system/([^/]+\.(service|timer|socket))$#\2#p')
states=$(for u in $units; do
	echo "$u:$(systemctl is-enabled "$u" 2>&1):$(systemctl is-active "$u" 2>&1)"; done)
if grep -qx 'ikd.service:disabled:inactive' <<<"$states" &&
	! grep -qvE ':(disabled|static):inactive$' <<<"$states" && ! pgrep -x ikd >/dev/null; then
	pass "installed disabled and not running: $(oneline "$states")"
else
	fail "after install: $(oneline "$states"); ikd processes: $(pgrep -x ikd | tr '\n' ' ')"
fi
[ "$(stat -c '%a %U' /var/lib/ikd 2>&1)" = "700 root" ] &&
	pass "/var/lib/ikd made 0700 root at install" ||
	fail "/var/lib/ikd: $(stat -c '%a %U' /var/lib/ikd 2>&1)"

# ---- 2: the POPs, ikd by hand in namespaces ----
net_setup() (
	set -e
	ns_bridge p1 p2
	ip link add ikdu-r type veth peer name pr netns ikdu-w
	ip -n ikdu-w link set pr master br0 up
	ip addr add 192.0.2.10/24 dev ikdu-r
	ip link set ikdu-r up
	ip addr add 10.1.0.1/32 dev lo
	ip addr add 10.1.1.1/32 dev lo
	ip route add 10.2.0.0/16 via 192.0.2.1 src 10.1.0.1
	for i in 1 2; do
		ip -n "ikdu-p$i" addr add 10.2.0.1/32 dev lo
		ip -n "ikdu-p$i" addr add 10.2.1.1/32 dev lo
		ip -n "ikdu-p$i" route add 10.1.0.0/16 via 192.0.2.10
	done
)
t_net=$(now)
{ net_setup; echo "net_setup: exit $? after $(since "$t_net") s"; } >"$work/net.log" 2>&1
grep -q '^net_setup: exit 0 ' "$work/net.log" || { fail "the network setup:"; cat "$work/net.log"; exit 1; }
info "$(tail -n 1 "$work/net.log")"
psk1="s1 key $(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
psk2="s2 key $(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
umask 077
for i in 1 2; do
	cat >"$work/p$i.store" <<STORE
version = 1
[pop pop1]
gateway = 192.0.2.1
ike-id = pop1.example.net
[pop pop2]
gateway = 192.0.2.2
ike-id = pop2.example.net
[site s1]
id = s1.example.com
source-ip = 192.0.2.10
psk = hex:$(hex "$psk1")
primary = pop1
backups = pop2
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24
[site s2]
id = s2.example.com
source-ip = 192.0.2.10
psk = hex:$(hex "$psk2")
primary = pop2
backups = pop1
local-ts = 10.1.1.0/24
remote-ts = 10.2.1.0/24
STORE
	cat >"$work/p$i.conf" <<CONF
role = responder
listen = 192.0.2.$i
identity = pop$i.example.net
store = $work/p$i.store
control-socket = $work/p$i.sock
CONF
	ip netns exec "ikdu-p$i" /usr/sbin/ikd -c "$work/p$i.conf" >"$work/p$i.log" 2>&1 &
	echo $! >"$work/p$i.pid"
done
for i in 1 2; do
	wait_for "$work/p$i.log" started 20 || { fail "pop$i's ikd did not start"; pop_ikd_log; exit 1; }
done
info "the POPs' ikd started"

# ---- 3: the router under systemd ----
cat >/etc/ikd/ikd.conf <<'CONF'
# An edge router: its sites connect to their POPs from 192.0.2.10.
role = initiator
listen = 192.0.2.10
CONF
t0=$(now)
if systemctl start ikd; then
	pass "systemctl start ikd returned in $(since "$t0") s (Type=notify: after READY=1)"
else
	fail "systemctl start ikd"; journal_tail; exit 1
fi
show=$(systemctl show -p ActiveState,SubState,StatusText ikd | sort | tr '\n' ' ')
info "systemctl show: $show"
[[ $show == "ActiveState=active StatusText=initiator: "*" SubState=running " ]] &&
	pass "systemctl show: active, running, with a STATUS text" || fail "systemctl show: $show"
# systemd reports the watchdog of a started service.
wd=$(prop WatchdogUSec)
[ "$(prop Type)" = notify ] && [ -n "$wd" ] && [ "$wd" != 0 ] && [ "$wd" != infinity ] &&
	pass "unit: Type=notify, WatchdogUSec=$wd" || fail "unit: Type=$(prop Type), WatchdogUSec=$wd"
pid1=$(prop MainPID)

printf '%s\n' "$psk1" >"$work/s1.psk"
x pop add pop1 gateway 192.0.2.1 ike-id pop1.example.net location Frankfurt &&
	x pop add pop2 gateway 192.0.2.2 ike-id pop2.example.net location Amsterdam &&
	x site add s1 id fqdn:s1.example.com psk-file "$work/s1.psk" primary pop1 backups pop2 \
		local-ts 10.1.0.0/24 remote-ts 10.2.0.0/24 &&
	x site add s2 id fqdn:s2.example.com psk - primary pop2 backups pop1 \
		local-ts 10.1.1.0/24 remote-ts 10.2.1.0/24 <<<"$psk2" &&
	pass "xfrmctl: two POPs, site s1 (psk-file) and site s2 (psk on stdin)" ||
	fail "xfrmctl could not add the POPs and sites"
[ "$(stat -c %a /var/lib/ikd/sites.conf 2>&1)" = 600 ] && pass "the store is 0600" ||
	fail "the store: $(stat -c %a /var/lib/ikd/sites.conf 2>&1)"
t0=$(now)
if wait_until 60 all_up && wait_until 30 tunnels_up; then
	pass "both sites up, four tunnels with their Child SAs, $(since "$t0") s after the last site add"
else
	fail "sites: $(statuses)"; x sa list; journal_tail; pop_ikd_log
fi
# The packets the router's outbound SAs carried.
esp_out() {
	ip -s xfrm state | awk '/^src/ { out = $2 == "192.0.2.10" }
		out && $1 ~ /^[0-9]+\(bytes\),$/ { split($2, p, "("); n += p[1] } END { print n + 0 }'
}
e0=$(esp_out)
if ping_from 10.1.0.1 10.2.0.1 3 && ping_from 10.1.1.1 10.2.1.1 3; then
	pass "ping through both sites' tunnels (active POPs: s1 $(x -j site show s1 | jq -r .active_pop), s2 $(x -j site show s2 | jq -r .active_pop))"
else
	fail "no ping through the tunnels"; ip xfrm state; ip xfrm policy
fi
e1=$(esp_out)
[ $((e1 - e0)) -ge 6 ] && pass "the pings went out in ESP: $((e1 - e0)) packets on the outbound SAs" ||
	fail "ESP packets out: $e0 -> $e1"
info "sites up, pinging"

# ---- 4: restart: every site back, no stale kernel state ----
# The shipped watchdog (30 s) would need the new process to live 30 s to prove anything: a
# runtime drop-in shortens it to 20 s, so that the rest of the test shows ikd feeding it.
mkdir -p /run/systemd/system/ikd.service.d
printf '[Service]\nWatchdogSec=20s\n' >/run/systemd/system/ikd.service.d/watchdog.conf
systemctl daemon-reload
info "restart"
n_state=$(count - state) n_policy=$(count - policy)
n_p1="$(count ikdu-p1 state)/$(count ikdu-p1 policy)"
n_p2="$(count ikdu-p2 state)/$(count ikdu-p2 policy)"
spis_before=$(kernel_spis -)
pop_spis_before=$(kernel_spis ikdu-p1; kernel_spis ikdu-p2)
[ "$spis_before" = "$(ikd_spis)" ] && pass "before restart: the kernel holds exactly ikd's $n_state SAs ($n_policy policies)" ||
	fail "before restart: kernel SPIs $(oneline "$spis_before"), ikd's $(oneline "$(ikd_spis)")"
# The figure: from systemctl restart to every site up, then to traffic through both.
t0=$(now)
systemctl restart ikd || { fail "systemctl restart ikd"; journal_tail; exit 1; }
t_ret=$(since "$t0")
wait_until 60 all_up || { fail "restart: sites $(statuses) after 60 s"; journal_tail; }
t_up=$(since "$t0")
wait_until 30 pings_ok || fail "restart: no ping through after every site was up"
t_ping=$(since "$t0")
wait_until 30 tunnels_up || { fail "restart: not every tunnel back"; x sa list; }
info "restart: systemctl restart returned in $t_ret s; every site up after $t_up s; ping through both after $t_ping s; all four tunnels after $(since "$t0") s"
pass "restart: every site up $t_up s after systemctl restart"
pid2=$(prop MainPID)
[ "$pid2" != "$pid1" ] && pass "restart: a new process ($pid1 -> $pid2)" || fail "restart: MainPID $pid2"
spis_after=$(kernel_spis -)
[ "$(count - state)" = "$n_state" ] && [ "$(count - policy)" = "$n_policy" ] &&
	pass "restart: $n_state SAs and $n_policy policies, as before" ||
	fail "restart: SAs $n_state -> $(count - state), policies $n_policy -> $(count - policy)"
[ "$spis_after" = "$(ikd_spis)" ] && pass "restart: the kernel holds exactly ikd's live SAs" ||
	fail "restart: kernel SPIs $(oneline "$spis_after"), ikd's $(oneline "$(ikd_spis)")"
[ -z "$(comm -12 <(echo "$spis_before") <(echo "$spis_after"))" ] &&
	pass "restart: none of the old SPIs is left in the kernel" ||
	fail "restart: old SPIs left: $(comm -12 <(echo "$spis_before") <(echo "$spis_after") | tr '\n' ' ')"
# The old SAs were deleted at the POPs too (INFORMATIONAL Delete on SIGTERM).
wait_until 10 eval '[ "$(count ikdu-p1 state)/$(count ikdu-p1 policy)" = "$n_p1" ] &&
	[ "$(count ikdu-p2 state)/$(count ikdu-p2 policy)" = "$n_p2" ]' &&
	pass "restart: the POPs hold as many SAs/policies as before ($n_p1, $n_p2)" ||
	fail "restart: POP SAs/policies $n_p1 -> $(count ikdu-p1 state)/$(count ikdu-p1 policy), $n_p2 -> $(count ikdu-p2 state)/$(count ikdu-p2 policy)"
[ -z "$(comm -12 <(echo "$pop_spis_before" | sort) <({ kernel_spis ikdu-p1; kernel_spis ikdu-p2; } | sort))" ] &&
	pass "restart: none of the old SPIs is left at the POPs" ||
	fail "restart: old SPIs left at the POPs"

# STATUS= follows the sites (refreshed every 5 s).
wait_until 10 eval '[[ "$(prop StatusText)" == "initiator: 2 sites up, 0 down" ]]' &&
	pass "StatusText: $(prop StatusText)" || fail "StatusText: $(prop StatusText)"

# ---- 5: reload keeps the tunnels ----
conf0=$(cat /etc/ikd/ikd.conf)
reloaded() { journalctl -u ikd -o cat | grep -c '^reloaded /etc/ikd/ikd.conf'; }
spis_before=$(kernel_spis -)
ping -n -q -i 0.1 -c 40 -W 1 -I 10.1.0.1 10.2.0.1 >"$work/ping-reload" 2>&1 &
ping_pid=$!
sleep 1
echo 'dpd-interval = 2' >>/etc/ikd/ikd.conf
systemctl reload ikd && rc=0 || rc=$?
wait_until 10 eval '[ "$(prop SubState)" = running ]'
info "reload: exit $rc, $(systemctl show -p ActiveState,SubState ikd | sort | tr '\n' ' ')"
wait "$ping_pid"
read -r sent got < <(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' \
	"$work/ping-reload")
info "a 10 Hz ping across systemctl reload: ${sent:-?} sent, ${got:-?} received"
[ "$rc" = 0 ] && [ "$(prop MainPID)" = "$pid2" ] && pass "systemctl reload: same process" ||
	fail "systemctl reload: exit $rc, MainPID $pid2 -> $(prop MainPID)"
[ "$(kernel_spis -)" = "$spis_before" ] && pass "reload: the same $(wc -l <<<"$spis_before") SPIs" ||
	fail "reload changed the SPIs: $(oneline "$spis_before") -> $(oneline "$(kernel_spis -)")"
[ "${sent:-}" = 40 ] && [ "$got" = "$sent" ] && pass "reload: zero packets lost" ||
	fail "reload: ${sent:-?} sent, ${got:-?} received"
wait_until 10 eval '[ "$(reloaded)" = 1 ]' && pass "journal: ikd reloaded its settings" ||
	fail "journal: $(reloaded) reload lines"
# A reload applies the log level, and refuses with a warning what needs a restart: at
# log-level warning the warning is logged, the notice that follows it is not.
printf '%s\n' 'log-level = warning' 'ike-port = 5500' >>/etc/ikd/ikd.conf
systemctl reload ikd
wait_until 10 eval 'journalctl -u ikd -o cat | grep -q "^reload: role, ports"' ||
	fail "no warning from a reload that changes ike-port"
printf '%s\n' "$conf0" >/etc/ikd/ikd.conf
systemctl reload ikd
wait_until 10 eval '[ "$(reloaded)" -ge 2 ]'
[ "$(reloaded)" = 2 ] && pass "reload applies log-level: no notice at warning, back at info" ||
	fail "reload and log-level: $(reloaded) 'reloaded' lines, expected 2"
wait_until 10 eval '[ "$(prop SubState)" = running ]'

# ---- 6: the journal ----
j=$(journalctl -u ikd -o json --output-fields=PRIORITY,MESSAGE,SYSLOG_IDENTIFIER)
started=$(jq -r 'select(.MESSAGE | test("^ikd .* started: role initiator")) | .PRIORITY' <<<"$j" | sort -u)
up=$(jq -r 'select(.MESSAGE | test("IKE SA up")) | .PRIORITY' <<<"$j" | sort -u)
warnl=$(jq -r 'select(.MESSAGE | test("^reload: role, ports")) | .PRIORITY' <<<"$j" | sort -u)
info "journal priorities: 'started' $started, 'IKE SA up' ${up:-none}, the reload warning ${warnl:-none}"
[ "$started" = 5 ] && [ -n "$up" ] && [ "$up" != 3 ] && [ "$warnl" = 4 ] &&
	pass "journalctl -u ikd: ikd's lines with their priorities" ||
	fail "priorities: started '$started', IKE SA up '$up', reload warning '$warnl'"
pw=$(journalctl -u ikd -p warning -o cat)
grep -q '^reload: role, ports' <<<"$pw" && ! grep -q 'started: role' <<<"$pw" &&
	pass "journalctl -u ikd -p warning: the warning, not the notices ($(wc -l <<<"$pw") lines)" ||
	fail "journalctl -u ikd -p warning: $pw"
journalctl -u ikd -p notice -o cat | grep -q 'started: role initiator' &&
	pass "journalctl -u ikd -p notice: the start line" || fail "-p notice lacks the start line"
all=$(journalctl -o cat --no-pager)
if grep -qF -e "$psk1" -e "$psk2" -e "$(hex "$psk1")" -e "$(hex "$psk2")" <<<"$all"; then
	fail "a pre-shared key is in the journal"
else
	pass "no pre-shared key in the journal ($(wc -l <<<"$all") lines)"
fi

# ---- 7: the watchdog: fed, never fired ----
# ikd sends WATCHDOG=1 every half period: the process started by the restart must have
# outlived the 20 s watchdog and been heard from in the last period.
mono_us() { awk '{ printf "%d", $1 * 1000000 }' /proc/uptime; }
started_us=$(prop ExecMainStartTimestampMonotonic)
wait_until 30 eval '[ $(( $(mono_us) - started_us )) -gt 22000000 ]'
fed_us=$(prop WatchdogTimestampMonotonic)
age_s=$(( ($(mono_us) - started_us) / 1000000 ))
quiet_s=$(( ($(mono_us) - fed_us) / 1000000 ))
info "watchdog: $(prop WatchdogUSec); ikd has run ${age_s} s, last WATCHDOG=1 ${quiet_s} s ago"
[ "$(prop WatchdogUSec)" = 20s ] && [ "$(prop MainPID)" = "$pid2" ] &&
	[ "$(prop ActiveState)" = active ] && [ "$age_s" -gt 20 ] && [ "$fed_us" -gt "$started_us" ] &&
	[ "$quiet_s" -lt 20 ] && pass "watchdog: ikd feeds it (alive ${age_s} s under a 20 s watchdog)" ||
	fail "watchdog: $(prop WatchdogUSec), MainPID $pid2 -> $(prop MainPID), $(prop ActiveState), run ${age_s} s, quiet ${quiet_s} s"
nr=$(prop NRestarts)
wdk=$(journalctl -u ikd -o cat | grep -ci 'watchdog timeout')
[ "$nr" = 0 ] && [ "$wdk" = 0 ] && [ "$(prop Result)" = success ] &&
	pass "never killed by the watchdog: NRestarts 0, Result success" ||
	fail "NRestarts $nr, watchdog timeouts $wdk, Result $(prop Result)"
rm -r /run/systemd/system/ikd.service.d
systemctl daemon-reload

# ---- 8: an upgrade restarts a running ikd and keeps its settings and sites ----
conf_sum=$(md5sum </etc/ikd/ikd.conf)
t0=$(now)
if dpkg -i "$deb" >"$work/dpkg-u.log" 2>&1; then
	pass "dpkg -i of the package again (an upgrade) in $(since "$t0") s"
else
	fail "dpkg -i again:"; cat "$work/dpkg-u.log"
fi
pid3=$(prop MainPID)
[ "$pid3" != "$pid2" ] && [ "$(prop ActiveState)" = active ] &&
	[ "$(systemctl is-enabled ikd)" = disabled ] &&
	pass "upgrade: ikd restarted ($pid2 -> $pid3), still disabled" ||
	fail "upgrade: MainPID $pid2 -> $pid3, $(prop ActiveState), $(systemctl is-enabled ikd)"
[ "$(md5sum </etc/ikd/ikd.conf)" = "$conf_sum" ] &&
	pass "upgrade: /etc/ikd/ikd.conf kept as the engineer wrote it" ||
	fail "upgrade: /etc/ikd/ikd.conf changed"
t0=$(now)
wait_until 60 all_up && wait_until 30 pings_ok &&
	pass "upgrade: both sites up and pinging again $(since "$t0") s after dpkg returned" ||
	fail "upgrade: sites $(statuses)"

# ---- 9: dpkg -r keeps the settings and the store, dpkg -P removes them ----
systemctl enable ikd >/dev/null 2>&1
[ "$(systemctl is-enabled ikd)" = enabled ] || fail "systemctl enable ikd: $(systemctl is-enabled ikd)"
t0=$(now)
if dpkg -r ikd >"$work/dpkg-r.log" 2>&1; then
	pass "dpkg -r ikd in $(since "$t0") s"
else
	fail "dpkg -r ikd:"; cat "$work/dpkg-r.log"
fi
act=$(systemctl is-active ikd)
[ "$act" != active ] && ! kill -0 "$pid3" 2>/dev/null && pass "dpkg -r stopped ikd ($act)" ||
	fail "after dpkg -r: $act, pid $pid3 alive: $(kill -0 "$pid3" 2>/dev/null && echo yes)"
[ "$(count - state)/$(count - policy)" = 0/0 ] &&
	pass "dpkg -r: no SA or policy left in the router's kernel" ||
	fail "dpkg -r: $(count - state) SAs, $(count - policy) policies left"
wait_until 10 eval '[ "$(count ikdu-p1 state)$(count ikdu-p2 state)" = 00 ]' &&
	pass "dpkg -r: the POPs deleted their SAs (ikd said goodbye)" ||
	{ fail "dpkg -r: the POPs still hold $(count ikdu-p1 state) and $(count ikdu-p2 state) SAs"
	  for p in ikdu-p1 ikdu-p2; do echo "--- $p: ip xfrm state (SPIs)"
		ip -n "$p" xfrm state | grep -E '^src|proto' | paste - - ; done
	  pop_ikd_log; journal_tail; }
[ -f /etc/ikd/ikd.conf ] && grep -q '^role = initiator' /etc/ikd/ikd.conf &&
	[ "$(stat -c %a /var/lib/ikd/sites.conf 2>&1)" = 600 ] &&
	grep -q '^\[site s2\]' /var/lib/ikd/sites.conf && [ ! -e /usr/sbin/ikd ] &&
	pass "dpkg -r: /etc/ikd/ikd.conf and the store (0600, both sites) kept, programs gone" ||
	fail "dpkg -r: $(ls -la /etc/ikd /var/lib/ikd /usr/sbin/ikd 2>&1 | tr '\n' ' ')"
st=$(dpkg-query -W -f='${Status}' ikd 2>&1)
[ "$st" = "deinstall ok config-files" ] && pass "dpkg: $st" || fail "dpkg after -r: $st"
t0=$(now)
if dpkg -P ikd >"$work/dpkg-p.log" 2>&1; then
	pass "dpkg -P ikd in $(since "$t0") s"
else
	fail "dpkg -P ikd:"; cat "$work/dpkg-p.log"
fi
[ ! -e /etc/ikd ] && [ ! -e /var/lib/ikd ] &&
	pass "dpkg -P: /etc/ikd and /var/lib/ikd (the keys) gone" ||
	fail "dpkg -P left: $(ls -d /etc/ikd /var/lib/ikd 2>/dev/null | tr '\n' ' ')"
left=$(find /etc/systemd/system /var/lib/systemd/deb-systemd-helper-enabled \
	/var/lib/systemd/deb-systemd-helper-masked -name 'ikd*' 2>/dev/null)
[ -z "$left" ] && pass "dpkg -P: no enablement or mask of ikd.service left" ||
	fail "dpkg -P left: $left"
st=$(dpkg-query -W -f='${Status}' ikd 2>&1)
[[ $st != *installed* ]] || fail "dpkg after -P: $st"

if [ "$fails" = 0 ]; then
	info "all checks passed"
else
	info "$fails checks failed"
fi
[ "$fails" = 0 ]
