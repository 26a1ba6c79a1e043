#!/bin/bash
# A gateway's downstream health check (ikd.conf(5) health-check) over network namespaces: an
# ikd responder whose check is a script that fails while a file exists (and hangs while
# another one does), and two branch routers (ikd initiators).
#   test/netns/health.sh BUILD_DIR
#
#   ikdhc-a (branch1)  192.0.2.1   -- bridge in ikdhc-w --
#   ikdhc-b (gateway)  192.0.2.2      ikd responder: health-check = command check.sh,
#                                     interval 1 s, timeout 1 s, rise 2, fall 2
#   ikdhc-c (branch2)  192.0.2.3      started while the check fails
#
# Asserted: with the check passing, branch1 comes up and `xfrmctl -j status` says accepting;
# the check fails: "not accepting new tunnels" logged once, a monitor event, STATUS=, status
# accepting false; branch1's IKE SA stays (same SPIs, DPD answered every second) and rekeys;
# branch2 is refused with AUTHENTICATION_FAILED (its log and the gateway's); a check that
# hangs is killed at its 1 s timeout and counts as failed, no process of it left behind and
# no zombie, while xfrmctl keeps getting answers at once; the check passes again: "accepting
# new tunnels again" once, status accepting true, branch2 comes up; failing again, then
# SIGHUP with the check removed from ikd.conf: accepting, no check runs. IKE only: no ESP.
# Exit 0 pass, 1 fail, 77 skipped (not root). KEEP=1 keeps the logs.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/health.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "health.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
work=$(mktemp -d /tmp/ikdhc.XXXXXX)
psk_hex=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
me=health.sh
prefix=ikdhc
. "$(dirname "$0")/lib.sh"
info() { echo "health.sh: [${SECONDS} s] $*"; }
ctl() { ip netns exec "ikdhc-$1" "$xfrmctl" -s "$work/$1.sock" "${@:2}"; }
# json_field JSON KEY: the first value of KEY (a string's contents, or a number or boolean)
json_field() { sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$1" | head -n 1; }
accepting() { json_field "$(ctl b -j status 2>/dev/null)" accepting; }
# ike_spi NS SITE [POP]: the SPIs of SITE's IKE SA (to POP, on a branch) that is up; the
# JSON has an SA a line.
ike_spi() {
	ctl "$1" -j sa list 2>/dev/null | grep '"type": "ike", "site": "'"$2"'", "pop": "'"${3:-}" |
		grep '"state": "up"' | sed -n 's/.*"spi": "\([0-9a-f_]*\)".*/\1/p'
}
now_ms() { local t=$EPOCHREALTIME; t=${t/,/.}; echo $(( ${t%.*} * 1000 + 10#${t#*.} / 1000 )); }
# wait_until SECONDS COMMAND...: by the clock
wait_until() {
	local end=$((SECONDS + $1)); shift
	while [ "$SECONDS" -lt "$end" ]; do "$@" && return 0; sleep 0.2; done
	"$@"
}
count() { grep -c -- "$2" "$1" 2>/dev/null; }
finish() { for f in a b c; do echo "== $f.log"; tail -n 20 "$work/$f.log"; done; exit 1; }

ns_bridge a b c

umask 077
# pop2, the backup every site needs, is nobody: the branches' tries to it go unanswered.
pop="version = 1
[pop pop1]
gateway = 192.0.2.2
ike-id = pop1.example.net
[pop pop2]
gateway = 192.0.2.9"
site1="[site branch1]
id = branch1.example.com
psk = hex:$psk_hex
primary = pop1
backups = pop2
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24
vendor-rules = no"
site2="[site branch2]
id = branch2.example.com
psk = hex:$psk_hex
primary = pop1
backups = pop2
local-ts = 10.3.0.0/24
remote-ts = 10.2.0.0/24
vendor-rules = no"
# vendor-rules = no: these are not the seeds' POPs. branch1 checks liveness
# every second (dead after 3 silent ones) and rekeys its IKE SA at 20 s; the gateway's
# copies keep the default times, so only branch1 rekeys.
printf '%s\n%s\ndpd-interval = 1\nike-lifetime = 120\nike-rekey = 20\n' \
	"$pop" "$site1" >"$work/a.store"
printf '%s\n%s\n' "$pop" "$site2" >"$work/c.store"
printf '%s\n%s\nsource-ip = 192.0.2.1\n%s\nsource-ip = 192.0.2.3\n' "$pop" "$site1" "$site2" \
	>"$work/b.store"
# The check: fails while $work/down exists, hangs while $work/hang does. Its sleep carries a
# duration of its own, so that the processes it leaves (none, it must be) can be counted.
hang_s="600.$RANDOM"
cat >"$work/check.sh" <<SH
#!/bin/sh
[ -e $work/hang ] && exec sleep $hang_s
[ ! -e $work/down ]
SH
chmod 700 "$work/check.sh"
for x in a c; do
	cat >"$work/$x.conf" <<CONF
role = initiator
store = $work/$x.store
control-socket = $work/$x.sock
rekey-jitter = 0
retransmit-timeout = 300
retransmit-tries = 3
reconnect-min = 1
reconnect-max = 2
CONF
done
cat >"$work/b.conf" <<CONF
role = responder
store = $work/b.store
control-socket = $work/b.sock
identity = pop1.example.net
health-check = command $work/check.sh
health-interval = 1
health-timeout = 1
health-rise = 2
health-fall = 2
CONF

# sd_notify: the gateway's datagrams, one a line (python3 if installed).
py=$(command -v /usr/bin/python3 python3 | head -n 1)
if [ -n "$py" ]; then
	"$py" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as f:
    while True:
        f.write(s.recv(4096).decode() + "\n")
        f.flush()
' "$work/notify.sock" "$work/notify.log" &
	echo $! >"$work/notify.pid"
	wait_until 5 test -S "$work/notify.sock"
fi

start_ikd() {	# start_ikd a|b|c
	NOTIFY_SOCKET=$([ "$1" = b ] && [ -n "$py" ] && echo "$work/notify.sock") \
		ip netns exec "ikdhc-$1" "$ikd" -d -c "$work/$1.conf" >>"$work/$1.log" 2>&1 &
	echo $! >"$work/$1.pid"
	wait_until 10 test -S "$work/$1.sock" || { fail "ikd in ikdhc-$1 did not start"; finish; }
}

# ---- 1: the check passes; branch1 comes up ----
start_ikd b
ctl b -j monitor >"$work/monitor.json" 2>&1 &
echo $! >"$work/monitor.pid"
wait_for "$work/b.log" "downstream check passed: accepting new tunnels" 5 &&
	[ "$(accepting)" = true ] &&
	[ "$(json_field "$(ctl b -j status)" health_state)" = passing ] &&
	pass "the check passes: accepting, health_state passing" ||
	fail "the first check did not pass: $(ctl b -j status 2>&1 | tr -d '\n')"
start_ikd a
wait_for "$work/a.log" "pop 'pop1': IKE SA up" 10 &&
	wait_for "$work/b.log" "site 'branch1' .*IKE SA up" 5 || { fail "branch1 did not come up"; finish; }
spi_a=$(ike_spi a branch1 pop1)
spi_b=$(ike_spi b branch1)
[ -n "$spi_a" ] && [ "$spi_a" = "$spi_b" ] || fail "branch1's IKE SA: '$spi_a' here, '$spi_b' there"
info "branch1 up, $spi_a"

# ---- 2: the check fails ----
rx_before=$(json_field "$(ctl b -j status)" ike_received)
t0=$(now_ms)
touch "$work/down"
if wait_for "$work/b.log" "downstream check failed: not accepting new tunnels" 6; then
	t1=$(now_ms)
	pass "check failing: 'not accepting new tunnels' logged $(( t1 - t0 )) ms after the file appeared (fall 2, interval 1 s)"
else
	fail "no 'not accepting new tunnels' in the gateway's log"; finish
fi
[ "$(accepting)" = false ] && pass "xfrmctl -j status: accepting false" ||
	fail "status while failing: $(ctl b -j status 2>&1 | tr -d '\n')"
grep -q '"event": "not-accepting"' "$work/monitor.json" &&
	pass "xfrmctl monitor: a not-accepting event" || fail "no not-accepting event: $(cat "$work/monitor.json")"
if [ -n "$py" ]; then
	wait_for "$work/notify.log" "^STATUS=.*not accepting new tunnels" 3 &&
		pass "sd_notify STATUS= says not accepting" || fail "STATUS=: $(tail -n 3 "$work/notify.log")"
fi

# branch2 starts now: refused, and the gateway says why.
start_ikd c
wait_for "$work/c.log" "pop 'pop1': IKE_AUTH failed: AUTHENTICATION_FAILED" 10 &&
	pass "branch2 (started while failing): IKE_SA_INIT answered, IKE_AUTH answered AUTHENTICATION_FAILED" ||
	fail "branch2 was not refused: $(tail -n 3 "$work/c.log")"
grep -q "refused (AUTHENTICATION_FAILED): not accepting new tunnels (downstream check), identity 'branch2.example.com'" \
	"$work/b.log" && pass "the gateway logs the refusal with its reason" ||
	fail "no refusal line naming the check in the gateway's log"
grep -q "site 'branch2' .*IKE SA up" "$work/b.log" && fail "branch2 came up while the check failed"

# branch1 stays: same SPIs, heard from (DPD every second: dead after 3 silent seconds).
sleep 5
pop1_row=$(ctl a -j site show branch1 | grep '{"pop": "pop1"')
last_heard=$(json_field "$pop1_row" last_heard_s)
rx_after=$(json_field "$(ctl b -j status)" ike_received)
if [ "$(ike_spi a branch1 pop1)" = "$spi_a" ] && [ "$(ike_spi b branch1)" = "$spi_b" ] &&
   [ "$(json_field "$pop1_row" state)" = up ] &&
   [ "${last_heard:-99}" -le 2 ] && [ $((rx_after - rx_before)) -ge 5 ]; then
	pass "branch1 stays up with the same IKE SA, last heard ${last_heard} s ago, $((rx_after - rx_before)) IKE messages received by the gateway meanwhile"
else
	fail "branch1 while failing: spi $(ike_spi a branch1 pop1) (was $spi_a), last heard ${last_heard:-?} s, rx $rx_before -> $rx_after"
fi
grep -q "pop 'pop1'.*\(dead\|down\)" "$work/a.log" && fail "branch1 saw its POP go down: $(grep "pop 'pop1'.*\(dead\|down\)" "$work/a.log" | head -n 1)"

# ---- 3: the check hangs: killed at its timeout, a failure; the loop answers meanwhile ----
# status_ms: how long one `xfrmctl status` takes, from the command's start to its end
status_ms() {
	local t=$(now_ms)
	ctl b -j status >/dev/null || fail "xfrmctl status failed"
	echo $(( $(now_ms) - t ))
}
base=0
for _ in $(seq 10); do d=$(status_ms); [ "$d" -gt "$base" ] && base=$d; done
killed_before=$(count "$work/b.log" "killed: no answer within 1 s")
touch "$work/hang"
hang_from=$(now_ms)
worst=0
max_alive=0
for _ in $(seq 20); do
	d=$(status_ms)
	[ "$d" -gt "$worst" ] && worst=$d
	alive=$(pgrep -fc "sleep $hang_s")
	[ "$alive" -gt "$max_alive" ] && max_alive=$alive
	sleep 0.2
done
killed=$(( $(count "$work/b.log" "killed: no answer within 1 s") - killed_before ))
hang_ms=$(( $(now_ms) - hang_from ))
[ "$killed" -ge 2 ] &&
	pass "a hanging check is killed at its 1 s timeout ($killed times in $hang_ms ms)" ||
	fail "hanging checks killed: $killed"
[ "$max_alive" -le 1 ] && pass "at most one hanging check alive at a time (seen: $max_alive)" ||
	fail "$max_alive hanging checks alive at once"
# A loop that waited for the check would hold an answer up to its 1 s timeout.
[ "$worst" -lt $((base + 500)) ] &&
	pass "xfrmctl status while checks hung: $worst ms at worst of 20 (before: $base ms of 10)" ||
	fail "xfrmctl status took $worst ms while a check hung (before: $base ms)"
zombies=$(ps -o stat= --ppid "$(cat "$work/b.pid")" | grep -c Z)
[ "$zombies" = 0 ] && pass "no zombie child of ikd" || fail "$zombies zombie children of ikd"
[ "$(accepting)" = false ] && pass "a hung check counts as failed: still not accepting" ||
	fail "accepting while the check hung"

# ---- 4: branch1's IKE SA rekeys at 20 s while the gateway is not accepting ----
if wait_for "$work/a.log" "pop 'pop1': IKE SA rekeyed" 25 &&
   wait_for "$work/b.log" "site 'branch1' .*IKE SA rekeyed" 5; then
	[ "$(accepting)" = false ] && pass "branch1's IKE SA rekeyed while not accepting" ||
		fail "the rekey came after the check passed again: nothing shown"
else
	fail "no IKE SA rekey of branch1 while not accepting"
fi

# ---- 5: the check passes again ----
rm -f "$work/hang" "$work/down"
t0=$(now_ms)
if wait_for "$work/b.log" "downstream check passed: accepting new tunnels again" 6; then
	t1=$(now_ms)
	pass "check passing: 'accepting new tunnels again' logged $(( t1 - t0 )) ms after (rise 2; a hung check may still be running)"
else
	fail "no 'accepting new tunnels again' in the gateway's log"; finish
fi
[ "$(accepting)" = true ] && pass "xfrmctl -j status: accepting true" ||
	fail "status after: $(ctl b -j status 2>&1 | tr -d '\n')"
grep -q '"event": "accepting"' "$work/monitor.json" && pass "xfrmctl monitor: an accepting event" ||
	fail "no accepting event"
wait_for "$work/c.log" "pop 'pop1': IKE SA up" 10 &&
	wait_for "$work/b.log" "site 'branch2' .*IKE SA up" 5 &&
	pass "branch2 comes up once the check passes" || fail "branch2 did not come up"
if [ -n "$py" ]; then
	wait_until 6 sh -c "tail -n 1 '$work/notify.log' | grep -q '^STATUS=' &&
		! tail -n 1 '$work/notify.log' | grep -q 'not accepting'" &&
		pass "sd_notify STATUS= no longer says not accepting" ||
		fail "STATUS= after: $(tail -n 1 "$work/notify.log")"
fi
alive=$(pgrep -fc "sleep $hang_s")
[ "$alive" = 0 ] && pass "no process of the hung checks left" || fail "$alive hung check processes left"
n_fail=$(count "$work/b.log" "downstream check failed: not accepting new tunnels")
n_ok=$(count "$work/b.log" "downstream check passed: accepting new tunnels again")
n_ev=$(grep -c '"event": "\(not-\)\{0,1\}accepting"' "$work/monitor.json")
[ "$n_fail" = 1 ] && [ "$n_ok" = 1 ] && [ "$n_ev" = 2 ] &&
	pass "each change logged once and sent to the monitor once" ||
	fail "changes logged: failed $n_fail, again $n_ok; monitor events $n_ev"

# ---- 6: SIGHUP: failing again, then the check removed from ikd.conf: accepting ----
touch "$work/down"
wait_count "$work/b.log" "downstream check failed: not accepting new tunnels" 2 6 ||
	fail "the check did not fail a second time"
sed -i '/^health-/d' "$work/b.conf"
kill -HUP "$(cat "$work/b.pid")"
if wait_for "$work/b.log" "downstream check removed: accepting new tunnels again" 5 &&
   [ "$(accepting)" = true ] && ! ctl b -j status | grep -q health_; then
	pass "SIGHUP without health-check: accepting again, no check in status"
else
	fail "after SIGHUP without health-check: $(ctl b -j status 2>&1 | tr -d '\n')"
fi
checks=$(count "$work/b.log" "downstream check \(passed\|failed\) after")
sleep 2
[ "$(count "$work/b.log" "downstream check \(passed\|failed\) after")" = "$checks" ] &&
	pass "no check runs after its removal" || fail "checks still run after the removal"
for x in a b c; do
	kill -0 "$(cat "$work/$x.pid")" 2>/dev/null || fail "ikd in ikdhc-$x is gone"
done

[ "$fails" = 0 ] || finish
echo "health.sh: all passed"
exit 0
