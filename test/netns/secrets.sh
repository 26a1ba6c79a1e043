#!/bin/bash
# Secrets stay secret through a whole run at debug level: a branch (ikd, role initiator) with
# several sites, each with its own key, to two ikd POPs; short lifetimes (IKE and Child SA
# rekeys); keys changed through xfrmctl (psk-file, psk - on stdin), a site added whose key
# the POPs do not share (AUTHENTICATION_FAILED); pop1 killed (-9) and restarted (the branch
# declares it dead, fails over where ESP runs, and authenticates again); every read-only
# verb of xfrmctl (site list/show/export without --with-psk, pop list/show, sa list,
# status, monitor, in text and JSON); SIGTERM. Asserted:
#  - no log and no xfrmctl output holds any PSK, as text or as hex (lower and upper case,
#    plain, space- or colon-separated), nor any 12-character (text) or 8-byte (hex) piece
#    of one;
#  - where the kernel runs ESP (the VM), none holds any piece of an ESP key the kernel had
#    (`ip -s xfrm state`, sampled all along); on a kernel without ESP that part says SKIP;
#  - no /proc/*/cmdline or /proc/*/environ holds a PSK at any of the samples taken every
#    0.2 s during the run;
#  - xfrmctl refuses a psk-file, an import CSV and a secrets file of mode 0640 or 0644,
#    saying why, and changes nothing;
#  - ikd's permitted, inheritable and ambient capabilities are CAP_NET_ADMIN and
#    CAP_NET_BIND_SERVICE at most (the effective set and no-new-privileges: tunnels.sh).
#   test/netns/secrets.sh BUILD_DIR
#
#   hsec-a (branch)  192.0.2.1   ikd initiator, sites s1..s3 (s4 added), -d
#   hsec-b (pop1)    192.0.2.2   ikd responder, -d
#   hsec-c (pop2)    192.0.2.3   ikd responder, -d
# Exit 0 pass, 1 fail, 77 skipped (not root). KEEP=1 keeps the files.
set -uo pipefail
build=$(cd "${1:?usage: test/netns/secrets.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "secrets.sh: needs root for namespaces: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
work=$(mktemp -d /tmp/hsec.XXXXXX)
me=secrets.sh
prefix=hsec
. "$(dirname "$0")/lib.sh"
have_esp=0
esp_here && have_esp=1
# What must never show up is kept apart from what is searched ($work/out, $work/*.log).
sec=$work/secret
mkdir -m 700 "$sec" "$work/out"
umask 077

newkey() { head -c 18 /dev/urandom | base64 | tr '+/' 'xy'; }	# 24 characters
hexof() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# patterns SECRET_TEXT: grep -F lines for it and its pieces, as text and as hex
patterns() {
	local t=$1 h sp co CO i
	h=$(hexof "$t")
	sp=$(printf '%s' "$t" | od -An -tx1 | tr -s ' \n' '  ' | sed 's/^ *//; s/ *$//')
	co=${sp// /:}
	CO=${co^^}
	for ((i = 0; i + 12 <= ${#t}; i++)); do echo "${t:i:12}"; done
	hex_patterns "$h"
	for ((i = 0; i + 23 <= ${#sp}; i += 3)); do
		echo "${sp:i:23}"
		echo "${co:i:23}"
		echo "${CO:i:23}"
	done
}
# hex_patterns HEX: every 8-byte piece, lower and upper case
hex_patterns() {
	local h=${1,,} H=${1^^} i
	for ((i = 0; i + 16 <= ${#h}; i += 2)); do echo "${h:i:16}"; echo "${H:i:16}"; done
}
declare -A key
for s in s1 s2 s3 s4 s4pop s2new s3new; do
	key[$s]=$(newkey)
	patterns "${key[$s]}" >>"$sec/psk.pats"
	printf '%s\n%s\n' "${key[$s]}" "$(hexof "${key[$s]}")" >>"$sec/proc.pats"
done

ns_bridge a b c
pops=$two_pops
site() {	# site NAME KEY N
	printf '[site %s]\nid = %s.example.com\npsk = hex:%s\nprimary = pop1\nbackups = pop2\n' \
		"$1" "$1" "$(hexof "$2")"
	printf 'local-ts = 10.1.%s.0/24\nremote-ts = 10.2.0.0/24\nvendor-rules = no\n' "$3"
	printf 'ike-lifetime = 60\nike-rekey = 14\nchild-lifetime = 40\nchild-rekey = 6\ndpd-interval = 1\n'
}
{ echo "$pops"; site s1 "${key[s1]}" 1; site s2 "${key[s2]}" 2; site s3 "${key[s3]}" 3; } >"$work/a.store"
cp "$work/a.store" "$work/b.store"
cp "$work/a.store" "$work/c.store"
cat >"$work/a.conf" <<CONF
role = initiator
store = $work/a.store
control-socket = $work/a.sock
log-level = debug
dpd-interval = 1
retransmit-timeout = 300
retransmit-tries = 3
reconnect-min = 1
reconnect-max = 2
hold-down = 5
CONF
for n in b c; do
	printf 'role = responder\nstore = %s/%s.store\ncontrol-socket = %s/%s.sock\nidentity = pop%s.example.net\n' \
		"$work" "$n" "$work" "$n" "$([ $n = b ] && echo 1 || echo 2)" >"$work/$n.conf"
done
start_ikd() {	# start_ikd NS: with -d (the configuration says debug too, for the branch)
	ip netns exec "hsec-$1" "$ikd" -c "$work/$1.conf" -d >>"$work/$1.log" 2>&1 &
	echo $! >"$work/$1.pid"
}
x() {	# x NS OUTNAME ARGS...: xfrmctl, its stdout and stderr kept in $work/out
	local n=$1 o=$2
	shift 2
	ip netns exec "hsec-$n" "$xfrmctl" -s "$work/$n.sock" "$@" >"$work/out/$n.$o.out" 2>"$work/out/$n.$o.err"
}

# Every 0.2 s: any process whose command line or environment holds a PSK?
sampler() {
	local n=0
	while [ ! -e "$work/sampler.stop" ]; do
		grep -laF -f "$sec/proc.pats" /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null >>"$sec/proc.hits"
		n=$((n + 1))
		sleep 0.2
	done
	echo "$n" >"$sec/proc.samples"
}
# Where ESP runs: every ESP key the kernel holds, sampled every 2 s.
esp_keys() {
	while [ ! -e "$work/sampler.stop" ]; do
		for n in a b c; do
			ip -n "hsec-$n" -s xfrm state 2>/dev/null |
				sed -n 's/^[[:space:]]*\(enc\|auth\|auth-trunc\|aead\) .* 0x\([0-9a-f]*\).*/\2/p'
		done >>"$sec/esp.keys"
		sleep 2
	done
}
sampler &
echo $! >"$work/sampler.pid"
[ "$have_esp" = 1 ] && { esp_keys & echo $! >"$work/espkeys.pid"; }

start_ikd b
start_ikd c
wait_for "$work/b.log" started 5 && wait_for "$work/c.log" started 5 || fail "the POPs did not start"
start_ikd a
for _ in $(seq 50); do [ -S "$work/a.sock" ] && break; sleep 0.1; done
ip netns exec hsec-a "$xfrmctl" -s "$work/a.sock" -j monitor >"$work/out/a.monitor.json" 2>&1 &
echo $! >"$work/monitor-j.pid"
ip netns exec hsec-a "$xfrmctl" -s "$work/a.sock" monitor >"$work/out/a.monitor.txt" 2>&1 &
echo $! >"$work/monitor-t.pid"
if wait_count "$work/a.log" "pop 'pop[12]': IKE SA up" 6 15; then
	pass "3 sites up to both POPs, every ikd at debug level"
else
	fail "the sites did not come up: $(grep -c "IKE SA up" "$work/a.log") of 6 IKE SAs"
fi

# ---- keys through xfrmctl: a new site, two keys changed, files of the wrong mode ----
printf '%s\n' "${key[s4]}" >"$sec/s4.psk"
printf '%s\n' "${key[s4pop]}" >"$sec/s4pop.psk"
printf '%s\n' "${key[s3new]}" >"$sec/s3new.psk"
printf '%s\n' "${key[s2new]}" >"$sec/s2new.psk"
chmod 600 "$sec"/*.psk
add_s4() {	# add_s4 NS KEYFILE
	x "$1" "add-s4" site add s4 id fqdn:s4.example.com primary pop1 backups pop2 \
		local-ts 10.1.4.0/24 remote-ts 10.2.0.0/24 dpd-interval 1 psk-file "$2"
}
add_s4 a "$sec/s4.psk" && add_s4 b "$sec/s4pop.psk" && add_s4 c "$sec/s4pop.psk" &&
	pass "site s4 added everywhere with psk-file (the POPs with another key)" || fail "site add s4: $(cat "$work"/out/*.add-s4.err)"
ok=1
for n in a b c; do
	x "$n" edit-s3 site edit s3 psk-file "$sec/s3new.psk" || ok=0
	ip netns exec "hsec-$n" "$xfrmctl" -s "$work/$n.sock" site edit s2 psk - <"$sec/s2new.psk" \
		>"$work/out/$n.edit-s2.out" 2>"$work/out/$n.edit-s2.err" || ok=0
done
[ "$ok" = 1 ] && pass "keys of s3 (psk-file) and s2 (psk - on stdin) changed on all three" || fail "a key change failed"
wait_for "$work/b.log" "refused (AUTHENTICATION_FAILED): bad pre-shared key for site 's4' (identity 's4.example.com')" 10 &&
	pass "s4's key differs at the POP: AUTHENTICATION_FAILED, the site and its identity logged, not the key" ||
	fail "no AUTHENTICATION_FAILED for s4"

for mode in 640 644; do
	cp "$sec/s4.psk" "$sec/wide.psk"
	chmod "$mode" "$sec/wide.psk"
	x a "wide$mode" site add s5 id fqdn:s5.example.com primary pop1 backups pop2 psk-file "$sec/wide.psk"
	rc=$?
	want="mode 0$mode lets $([ $mode = 640 ] && echo "its group" || echo "group and others") read the key; chmod 600"
	[ "$rc" = 1 ] && grep -qF "$want" "$work/out/a.wide$mode.err" &&
		pass "psk-file of mode 0$mode refused: $(cat "$work/out/a.wide$mode.err")" ||
		fail "psk-file of mode 0$mode: exit $rc, '$(cat "$work/out/a.wide$mode.err")'"
	printf 'name,id,psk,primary,backups\ns5,fqdn:s5.example.com,%s,pop1,pop2\n' "${key[s4]}" >"$sec/wide.csv"
	chmod "$mode" "$sec/wide.csv"
	x a "import$mode" site import "$sec/wide.csv"
	rc=$?
	[ "$rc" = 1 ] && grep -qF "holds pre-shared keys and" "$work/out/a.import$mode.err" &&
	   grep -qF "(mode 0$mode); chmod 600" "$work/out/a.import$mode.err" &&
		pass "site import of a key CSV of mode 0$mode refused" ||
		fail "site import, mode 0$mode: exit $rc, '$(cat "$work/out/a.import$mode.err")'"
	printf 'name,psk\ns5,%s\n' "${key[s4]}" >"$sec/wide.secrets"
	printf 'name,id,primary,backups\ns5,fqdn:s5.example.com,pop1,pop2\n' >"$sec/nokey.csv"
	chmod "$mode" "$sec/wide.secrets"
	x a "secrets$mode" site import "$sec/nokey.csv" --secrets "$sec/wide.secrets"
	rc=$?
	[ "$rc" = 1 ] && grep -qF "wide.secrets holds pre-shared keys" "$work/out/a.secrets$mode.err" &&
		pass "site import --secrets of mode 0$mode refused" ||
		fail "site import --secrets, mode 0$mode: exit $rc, '$(cat "$work/out/a.secrets$mode.err")'"
done
x a show-s5 site show s5 && fail "s5 was added from a file others can read" || pass "... and s5 was never added"
for n in a b c; do
	m=$(stat -c %a "$work/$n.store")
	[ "$m" = 600 ] || fail "$n.store has mode $m after the edits"
done

# ---- rekeys, then pop1 dies and comes back ----
if wait_count "$work/a.log" "pop 'pop1': IKE SA rekeyed" 1 25; then
	pass "IKE SAs rekeyed ($(grep -c "IKE SA rekeyed" "$work/a.log") at the branch so far)"
else
	fail "no IKE SA rekey"
fi
echo "$me: Child SA rekeys at the branch so far: $(grep -c "Child SA .* rekeyed" "$work/a.log")"
{ kill -9 "$(cat "$work/b.pid")"; wait "$(cat "$work/b.pid")"; } 2>/dev/null; rm -f "$work/b.pid"
if [ "$have_esp" = 1 ]; then
	wait_for "$work/a.log" "failover from pop 'pop1' to pop 'pop2'" 15 && pass "pop1 killed: failover to pop2" ||
		fail "no failover to pop2"
else
	wait_for "$work/a.log" "pop 'pop1'.*peer dead" 15 && pass "pop1 killed: the branch declares it dead" ||
		fail "pop1's death went unnoticed"
	echo "$me: (no ESP here: no Child SA is usable, so there is no traffic to fail over; test/vm)"
fi
n_up=$(grep -c "pop 'pop1': IKE SA up" "$work/a.log")
start_ikd b
wait_count "$work/a.log" "pop 'pop1': IKE SA up" $((n_up + 3)) 20 &&
	pass "pop1 back: s1, s2 and s3 authenticate again (s2 and s3 with their new keys)" ||
	fail "the sites did not come back to pop1 ($(grep -c "pop 'pop1': IKE SA up" "$work/a.log") IKE SAs up)"

# ---- every read-only verb, text and JSON, at the branch and at a POP ----
for n in a b; do
	for j in "" -j; do
		t=${j:-text}
		x "$n" "status$t" $j status
		x "$n" "sitelist$t" $j site list
		x "$n" "poplist$t" $j pop list
		x "$n" "popshow$t" $j pop show pop1
		x "$n" "salist$t" $j sa list
		for s in s1 s2 s3 s4; do x "$n" "show-$s$t" $j site show "$s"; done
	done
	x "$n" export site export
	x "$n" export-file site export "$work/out/$n.export.csv"
	grep -q "(set)" "$work/out/$n.show-s1text.out" || fail "$n: site show does not say (set)"
done
[ "$(wc -l <"$work/out/a.export.out")" -ge 5 ] && pass "site export without --with-psk: $(($(wc -l <"$work/out/a.export.out") - 1)) sites, no psk column filled" ||
	fail "site export: $(head -3 "$work/out/a.export.out")"

# ---- capabilities (the effective set and no-new-privileges: tunnels.sh checks them) ----
for n in a b c; do
	caps=$(awk '/^Cap(Inh|Prm|Amb):/ { printf "%s %s ", $1, $2 }' "/proc/$(cat "$work/$n.pid")/status")
	if [ "$caps" = "CapInh: 0000000000000000 CapPrm: 0000000000001400 CapAmb: 0000000000000000 " ]; then
		[ "$n" = a ] && pass "ikd's permitted set: CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only, nothing inheritable or ambient (all three)"
	else
		fail "ikd $n's capabilities: $caps"
	fi
done

# ---- stop: SIGTERM deletes politely (more log lines) ----
for n in a b c; do kill -TERM "$(cat "$work/$n.pid")" 2>/dev/null; done
for n in a b c; do wait_for "$work/$n.log" "ikd stopped" 5 || fail "$n did not stop"; done
touch "$work/sampler.stop"
sleep 0.5
for p in monitor-j monitor-t; do kill "$(cat "$work/$p.pid")" 2>/dev/null; rm -f "$work/$p.pid"; done
wait "$(cat "$work/sampler.pid")" 2>/dev/null; rm -f "$work/sampler.pid"
[ -f "$work/espkeys.pid" ] && { wait "$(cat "$work/espkeys.pid")" 2>/dev/null; rm -f "$work/espkeys.pid"; }

# ---- the verdict ----
files=("$work"/*.log "$work"/out/*)
lines=$(cat "${files[@]}" | wc -l)
echo "$me: searching ${#files[@]} files ($lines lines: 3 debug logs, monitor, every xfrmctl output) for $(wc -l <"$sec/psk.pats") pieces of 7 PSKs"
# The search itself finds what it must: a piece of a key, upper case and colon-separated.
h=$(hexof "${key[s2new]}")
h=${h^^}
printf 'ok: %s:%s:%s:%s:%s:%s:%s:%s\n' ${h:10:2} ${h:12:2} ${h:14:2} ${h:16:2} ${h:18:2} \
	${h:20:2} ${h:22:2} ${h:24:2} >"$sec/canary"
grep -qF -f "$sec/psk.pats" "$sec/canary" || fail "the search misses a planted piece of a key"
if hits=$(grep -lF -f "$sec/psk.pats" "${files[@]}"); then
	fail "a PSK (or a piece of one) in: $hits"
	grep -oF -f "$sec/psk.pats" "${files[@]}" | head -5
else
	pass "no PSK, as text or hex, whole or in pieces, in any log or xfrmctl output"
fi
echo "$me: (debug lines in the logs: $(cat "$work"/*.log | grep -Ec '^([^ ]+ )?debug:'); ikd logs little more at debug level)"
samples=$(cat "$sec/proc.samples" 2>/dev/null || echo 0)
if [ -s "$sec/proc.hits" ]; then
	fail "a PSK on a command line or in an environment: $(sort -u "$sec/proc.hits" | head -3)"
elif [ "$samples" -ge 20 ]; then
	pass "no PSK in any /proc/*/cmdline or /proc/*/environ ($samples samples)"
else
	fail "too few /proc samples ($samples)"
fi
if [ "$have_esp" = 1 ]; then
	sort -u "$sec/esp.keys" | grep -v '^0*$' >"$sec/esp.uniq"
	while read -r k; do hex_patterns "$k"; done <"$sec/esp.uniq" >"$sec/esp.pats"
	n_keys=$(wc -l <"$sec/esp.uniq")
	if [ "$n_keys" -lt 6 ]; then
		fail "only $n_keys ESP keys seen in the kernel"
	elif hits=$(grep -lF -f "$sec/esp.pats" "${files[@]}"); then
		fail "an ESP key (or a piece of one) in: $hits"
	else
		pass "none of the $n_keys ESP keys the kernel held (sampled every 2 s) in any log or output"
	fi
else
	echo "$me: SKIP: no ESP in this kernel, so it holds no ESP keys to look for (the VM runs this part)"
fi
[ "$fails" = 0 ] || { for f in a b; do echo "== $f.log"; grep -v "debug:" "$work/$f.log" | tail -15; done; exit 1; }
echo "$me: all passed"
