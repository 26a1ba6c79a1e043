#!/bin/bash
# xfrmctl against the real ikd, end to end: every verb through the control socket of a
# branch ikd, asserted on the output (text and JSON), on the exit status and on the store
# file; a restart of the branch keeps the same sites and POPs; and a change to one site
# (edit, disable, enable, an import that adds another site) rebuilds that site's tunnels
# and leaves the other site's IKE SAs alone.
#   test/netns/ctl.sh BUILD_DIR
#
#   ikdc-N-b  (branch)  192.0.2.1  ikd initiator     -- bridge in ikdc-N-w --
#   ikdc-N-g1 (pop1)    192.0.2.2  ikd responder, identity pop1.example.net
#   ikdc-N-g2 (pop2)    192.0.2.3  ikd responder, identity pop2.example.net
#
# The gateways learn the sites through their own xfrmctl (an import of the branch's
# export --with-psk). On a kernel without ESP (the host) Child SA installs fail with a logged
# reason, so the tunnels are asserted on their IKE SAs (xfrmctl -j sa list).
# No pre-shared key may appear in any output of xfrmctl (but export --with-psk into a file)
# nor in any log of ikd. Needs jq. Exit 0 pass, 1 fail, 77 skipped (not root, no jq).
set -uo pipefail
build=$(cd "${1:?usage: test/netns/ctl.sh BUILD_DIR}" && pwd)
[ "$(id -u)" = 0 ] || { echo "ctl.sh: needs root for namespaces: skipped"; exit 77; }
command -v jq >/dev/null || { echo "ctl.sh: needs jq to read xfrmctl -j: skipped"; exit 77; }
ikd=$build/ikd/ikd
xfrmctl=$build/xfrmctl/xfrmctl
[ -x "$xfrmctl" ] || { echo "ctl.sh: $xfrmctl is not built"; exit 1; }
work=$(mktemp -d /tmp/ikdc.XXXXXX)
ns=ikdc-$$
fails=0
t0=$(date +%s)
exec </dev/null	# never a terminal: xfrmctl must not prompt for a key

rnd() { od -An -tx1 -N6 /dev/urandom | tr -d ' \n'; }
psk_a="alpha key $(rnd)"
psk_b="bravo key $(rnd)"
psk_c="charlie \"quoted\", key $(rnd)"	# CSV-escaped in the import
psk_d="delta key $(rnd)"
psk_d2="delta new key $(rnd)"
psk_e="echo key $(rnd)"
psk_open="world-readable key $(rnd)"
psk_cmdline="command line key $(rnd)"
psk_f="foxtrot key $(rnd)"
all_psks=("$psk_a" "$psk_b" "$psk_c" "$psk_d" "$psk_d2" "$psk_e" "$psk_open" "$psk_cmdline" "$psk_f")

cleanup() {
	for p in "$work"/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
	sleep 0.3
	for n in b g1 g2 h w; do ip netns del "$ns-$n" 2>/dev/null; done
	if [ -n "${KEEP:-}" ]; then echo "ctl.sh: logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

pass() { echo "ctl.sh: PASS: $*"; }
fail() { echo "ctl.sh: FAIL: $*"; fails=$((fails + 1)); }
# ok DESCRIPTION: PASS if the command just before held; on FAIL, what xfrmctl said last
# (if it ran since the previous ok). No $(...) in DESCRIPTION: it would set $? first.
ok() {
	local held=$?

	if [ "$held" = 0 ]; then
		pass "$1"
	else
		fail "$1"
		if [ "$fresh" = 1 ]; then
			echo "    rc=$rc"
			[ -n "$out" ] && printf '%s\n' "$out" | head -15 | sed 's/^/    out: /'
			[ -n "$err" ] && printf '%s\n' "$err" | head -6 | sed 's/^/    err: /'
		fi
	fi
	fresh=0
	return 0
}
eventually() {	# eventually SECONDS COMMAND...: until COMMAND holds, for at most SECONDS
	local end=$((SECONDS + $1))

	shift
	until "$@"; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
}
wait_for() {	# wait_for FILE PATTERN SECONDS
	for _ in $(seq $(($3 * 10))); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}

# x NS ARGS...: xfrmctl in namespace NS against that namespace's ikd; sets out, err, rc.
# Every output is kept in ctl.all for the final check that no key was printed.
out="" err="" rc=0 fresh=0
x() {
	local n=$1
	shift
	out=$(ip netns exec "$ns-$n" "$xfrmctl" -s "$work/$n.sock" "$@" 2>"$work/err")
	rc=$?
	err=$(cat "$work/err")
	fresh=1
	printf '%s\n%s\n' "$out" "$err" >>"$work/ctl.all"
}
rc_is() { [ "$rc" = "$1" ]; }
out_has() { grep -qF -- "$1" <<<"$out"; }
err_has() { grep -qF -- "$1" <<<"$err"; }
j() { jq -r "$@" <<<"$out"; }	# j FILTER: on the last output
# A table's header and rows with runs of blanks made one.
squeeze() { tr -s ' ' <<<"$out"; }
# store_field NS SECTION KEY: the value of KEY in [SECTION] of NS's store ("" if absent;
# "<none>" if the section is absent).
store_field() {
	awk -v sec="[$2]" -v key="$3" '
		/^\[/ { in_sec = ($0 == sec); if (in_sec) found = 1; next }
		in_sec && index($0, key " =") == 1 { v = substr($0, length(key) + 3); sub(/^ /, "", v); print v }
		END { if (!found) print "<none>" }' "$work/$1.store"
}
store_sections() { grep '^\[' "$work/$1.store" | tr '\n' ' '; }
# ike_spis NS SITE: "POP SPI" of each IKE SA of SITE that is up, sorted.
ike_spis() {
	x "$1" -j sa list
	j --arg s "$2" '.sas[] | select(.type == "ike" and .site == $s and .state == "up") |
		"\(.pop) \(.spi)"' | sort
}
n_ike() { [ "$(ike_spis "$1" "$2" | grep -c .)" -ge "$3" ]; }	# n_ike NS SITE N
wait_ike() { eventually "$4" n_ike "$1" "$2" "$3"; }	# wait_ike NS SITE N SECONDS
no_ike() { [ -z "$(ike_spis b "$1")$(ike_spis b "${2:-$1}")" ]; }	# no_ike SITE [SITE]
# rebuilt BEFORE: siteA has 2 IKE SAs, none of them one of BEFORE; they go into a1.
rebuilt() {
	a1=$(ike_spis b siteA)
	[ "$(grep -c . <<<"$a1")" = 2 ] && [ -z "$(comm -12 <(echo "$1") <(echo "$a1"))" ]
}
# monitor_downs FROM: the POPs of siteA's "down" events after line FROM of the monitor.
monitor_downs() {
	tail -n +$(($1 + 1)) "$work/monitor.out" |
		jq -r 'select(.event == "down" and .site == "siteA") | .pop' 2>/dev/null | sort -u | tr '\n' ' '
}
# Sites and POPs without what changes at run time.
config_json() {
	x b -j site list
	j -S '[.sites[] | del(.status, .active_pop, .throughput_kbps)]'
	x b -j pop list
	j -S '.pops'
}

# ---- the network ----
for n in b g1 g2 w; do ip netns add "$ns-$n"; ip -n "$ns-$n" link set lo up; done
ip -n "$ns-w" link add br0 type bridge
ip -n "$ns-w" link set br0 up
i=1
for n in b g1 g2; do
	ip link add eth0 netns "$ns-$n" type veth peer name "p$n" netns "$ns-w"
	ip -n "$ns-$n" addr add "192.0.2.$i/24" dev eth0
	ip -n "$ns-$n" link set eth0 up
	ip -n "$ns-w" link set "p$n" master br0 up
	i=$((i + 1))
done

umask 077
cat >"$work/b.conf" <<CONF
role = initiator
store = $work/b.store
control-socket = $work/b.sock
retransmit-timeout = 300
retransmit-tries = 3
reconnect-min = 1
reconnect-max = 2
hold-down = 3
dpd-interval = 2
dpd-misses = 5
CONF
for g in 1 2; do
	cat >"$work/g$g.conf" <<CONF
role = responder
store = $work/g$g.store
control-socket = $work/g$g.sock
identity = pop$g.example.net
CONF
done
start_ikd() {	# start_ikd NS: its store starts empty
	ip netns exec "$ns-$1" "$ikd" -c "$work/$1.conf" -d >>"$work/$1.log" 2>&1 &
	echo $! >"$work/$1.pid"
	for _ in $(seq 50); do [ -S "$work/$1.sock" ] && return 0; sleep 0.1; done
	return 1
}
for n in g1 g2 b; do
	start_ikd "$n" || fail "ikd in $n did not start"
done

# ---- POPs ----
x b pop add pop1 gateway 192.0.2.2 probe-ip 10.2.0.1 location "Frankfurt, DE" ike-id pop1.example.net
rc_is 0; ok "pop add pop1"
x b pop add pop2 gateway 192.0.2.3 location Amsterdam ike-id pop2.example.net
rc_is 0; ok "pop add pop2"
x b pop add pop3 gateway 192.0.2.9 location Spare accepting no
rc_is 0; ok "pop add pop3 (not accepting)"
x b pop add pop1 gateway 192.0.2.7
rc_is 1 && err_has "pop 'pop1'" && err_has "exists"
ok "pop add of an existing name: exit 1, says it exists"
x b pop add pop4 location Nowhere
rc_is 1 && err_has "pop 'pop4'" && err_has "gateway"
ok "pop add without gateway: exit 1, names the field"
x b pop list
[ "$(squeeze | head -1)" = "NAME GATEWAY PROBE IP LOCATION ACCEPTING PRIMARY FOR BACKUP FOR TUNNELS UP DOWN ACTIVE FOR" ] &&
	grep -q '^pop1 *192.0.2.2 *10.2.0.1 *Frankfurt, DE *yes' <<<"$out" &&
	grep -q '^pop3 *192.0.2.9 .*Spare *no' <<<"$out"; ok "pop list: the table"
x b -j pop list
[ "$(j '"\(.total)|\([.pops[].name] | join(","))|\(.pops[0].location)|\(.pops[2].accepting)|" +
	(.pops[0].sites_primary | type)')" = "3|pop1,pop2,pop3|Frankfurt, DE|false|number" ]
ok "pop list -j: every POP, typed fields"
x b pop show pop1
out_has "gateway:       192.0.2.2" && out_has "ike-id:        pop1.example.net" &&
	out_has "sites-primary: 0"; ok "pop show pop1"
x b -j pop show pop2
[ "$(j '"\(.gateway)/\(.ike_id)"')" = "192.0.2.3/pop2.example.net" ]; ok "pop show -j pop2"
x b pop edit pop2 location "Amsterdam, NL" probe-ip 10.2.0.2
rc_is 0; ok "pop edit pop2"
x b -j pop show pop2
[ "$(j '"\(.location)/\(.probe_ip)"')" = "Amsterdam, NL/10.2.0.2" ]
ok "pop show after edit: the new fields"
[ "$(store_field b 'pop pop2' location)" = "Amsterdam, NL" ] &&
	[ "$(store_field b 'pop pop2' probe-ip)" = "10.2.0.2" ] &&
	[ "$(store_field b 'pop pop3' accepting)" = no ]; ok "store: the POPs' fields"
x b pop show nosuch
rc_is 1 && err_has "pop 'nosuch'"; ok "pop show of an unknown POP: exit 1, names it"
x b pop edit nosuch location X
rc_is 1 && err_has "pop 'nosuch'"; ok "pop edit of an unknown POP: exit 1"

# ---- site add and the keys ----
printf '%s\n' "$psk_a" >"$work/a.psk"
chmod 600 "$work/a.psk"
printf '%s\n' "$psk_open" >"$work/open.psk"
chmod 644 "$work/open.psk"
x b site add siteO id fqdn:o.example.com psk-file "$work/open.psk" primary pop1 backups pop2
rc_is 1 && err_has "site 'siteO'" && err_has "0644" && err_has "chmod 600"
ok "site add: a psk-file of mode 0644 is refused (exit 1), naming the mode"
x b site add siteP id fqdn:p.example.com psk "$psk_cmdline" primary pop1 backups pop2
rc_is 2 && err_has "command line"; ok "site add: psk SECRET on the command line is refused (exit 2)"
x b site add siteQ id fqdn:q.example.com primary pop1 backups pop2
rc_is 2 && err_has "no key"; ok "site add: no key and no terminal: exit 2"
x b site list
! out_has siteO && ! out_has siteP && ! out_has siteQ; ok "refused site adds added nothing"
x b site add siteA id fqdn:a.example.com psk-file "$work/a.psk" primary pop1 backups pop2 \
	traffic IoT local-ts 10.1.1.0/24 remote-ts 10.2.0.0/16 source-ip 192.0.2.1 enabled no
rc_is 0; ok "site add siteA (psk-file of mode 0600)"
x b site add siteB id b@example.com psk - primary pop2 backups pop1,pop3 traffic User \
	local-ts 10.1.2.0/24 enabled no <<<"$psk_b"
rc_is 0; ok "site add siteB (psk - from stdin)"
x b site add siteA id fqdn:a2.example.com psk-file "$work/a.psk" primary pop1 backups pop2
rc_is 1 && err_has "site 'siteA'" && err_has "exists"; ok "site add of an existing name: exit 1"
x b site add siteR id fqdn:r.example.com psk-file "$work/a.psk" primary nosuch backups pop2
rc_is 1 && err_has "nosuch"; ok "site add with an unknown POP: exit 1, names the POP"
[ "$(stat -c %a "$work/b.store")" = 600 ]; ok "store: mode 0600"
sections=$(store_sections b)
[ "$sections" = "[pop pop1] [pop pop2] [pop pop3] [site siteA] [site siteB] " ]
ok "store: a section per POP and per site ($sections)"
[ "$(store_field b 'site siteA' id)" = fqdn:a.example.com ] &&
	[ "$(store_field b 'site siteA' source-ip)" = 192.0.2.1 ] &&
	[ "$(store_field b 'site siteA' traffic)" = IoT ] &&
	[ "$(store_field b 'site siteA' local-ts)" = 10.1.1.0/24 ] &&
	[ "$(store_field b 'site siteA' enabled)" = no ] &&
	[ "$(store_field b 'site siteB' id)" = email:b@example.com ] &&
	[ "$(store_field b 'site siteB' backups)" = pop1,pop3 ] &&
	[ -n "$(store_field b 'site siteA' psk)" ] && [ -n "$(store_field b 'site siteB' psk)" ]
ok "store: the sites' fields, keys present"

# ---- the gateways learn the sites from the branch's export ----
x b site export
rc_is 0 && [ "$(head -1 <<<"$out" | cut -d, -f1-4)" = "name,id,source-ip,primary" ] &&
	! head -1 <<<"$out" | tr ',' '\n' | grep -qx psk &&
	grep -q '^siteA,fqdn:a.example.com,192.0.2.1,pop1,pop2,IoT,no' <<<"$out" &&
	grep -q '^siteB,email:b@example.com,,pop2,"pop1,pop3",User,no' <<<"$out"
ok "site export: CSV without keys, lists quoted"
x b site export --with-psk "$work/sites.csv"
rc_is 0 && [ "$(stat -c %a "$work/sites.csv")" = 600 ] &&
	head -1 "$work/sites.csv" | grep -q ',psk,' &&
	grep -qF "$psk_a" "$work/sites.csv" && grep -qF "$psk_b" "$work/sites.csv"
ok "site export --with-psk FILE: the keys, file mode 0600"
for g in g1 g2; do
	x "$g" pop add pop1 gateway 192.0.2.2 && x "$g" pop add pop2 gateway 192.0.2.3 &&
		x "$g" pop add pop3 gateway 192.0.2.9 && x "$g" site import "$work/sites.csv"
	rc_is 0 && out_has "2 rows: 2 added"; ok "$g: POPs added, sites imported from the export"
	x "$g" site enable siteA siteB
	rc_is 0; ok "$g: site enable siteA siteB"
done

# ---- enable, all or nothing ----
sum_b=$(md5sum <"$work/b.store")
x b site enable siteA nosuch siteB
rc_is 1 && err_has "site 'nosuch'"; ok "site enable with one unknown name: exit 1, names it"
[ "$(md5sum <"$work/b.store")" = "$sum_b" ] && x b -j site list &&
	[ "$(j '[.sites[].enabled] | join(",")')" = "false,false" ]
ok "... and enabled nothing (store and list unchanged)"
x b site enable siteA siteB
rc_is 0 && [ "$(store_field b 'site siteA' enabled)/$(store_field b 'site siteB' enabled)" = yes/yes ]
ok "site enable siteA siteB"
if wait_ike b siteA 2 10 && wait_ike b siteB 2 10; then
	pass "both sites have an IKE SA to each POP"
else
	fail "the sites' IKE SAs did not come up"
	ike_spis b siteA; ike_spis b siteB
fi
# With ESP: "Child SA up"; without (this host): the gateways' kernels refuse it before they
# answer, and the branch is told NO_PROPOSAL_CHOSEN.
grep -q "Child SA up\|the POP refused the Child SA: NO_PROPOSAL_CHOSEN" "$work/b.log"; ok "the Child SA outcome is logged"

# ---- pop list: live health from the running ikd ----
x b pop list
[ "$(squeeze | head -1)" = "NAME GATEWAY PROBE IP LOCATION ACCEPTING PRIMARY FOR BACKUP FOR TUNNELS UP DOWN ACTIVE FOR" ]
ok "pop list: the health columns"
x b -j pop list
[ "$(j '[.pops[] | "\(.name):\(.tunnels_up)"] | join(",")')" = "pop1:2,pop2:2,pop3:0" ] &&
	[ "$(j '[.pops[] | (.tunnels_up, .tunnels_down, .sites_active) | type] | unique | join(",")')" = number ]
ok "pop list -j: tunnels up per POP (pop1 and pop2 two each, pop3 none), typed"
active=$(j '[.pops[].sites_active] | add')
x b -j site list
[ "$active" = "$(j '[.sites[] | select(.active_pop != "")] | length')" ]
ok "pop list: sites active on the POPs ($active) as site list's active POPs"
x g1 -j pop list
[ "$(j '[.pops[] | has("tunnels_up")] | any')" = false ]; ok "a gateway's pop list: no health columns"

# ---- site list: columns, filters, sort, pages ----
x b site list
[ "$(squeeze | head -1)" = "NAME SOURCE IDENTITY SOURCE IP STATUS POP THROUGHPUT TRAFFIC TYPE" ] &&
	grep -Eq '^siteA +a.example.com +192.0.2.1 +(up +pop1|down +(pop1|-)) +[0-9]+ Kbps +IoT *$' <<<"$out" &&
	grep -Eq '^siteB +b@example.com +dynamic +(up +pop[12]|down +(pop[12]|-)) +[0-9]+ Kbps +User *$' <<<"$out"
ok "site list: the console's default columns (the POP: the active one, '-' with none)"
x b si l
[ "$(grep -c '^site[AB] ' <<<"$out")" = 2 ]; ok "si l: the unambiguous prefixes of site list"
x b -j site list
[ "$(j '"\(.total)/\(.page)/\(.page_size)|" +
	(.sites[0] | "\(.name) \(.psk) \(.enabled) \(.if_id) \(.local_ts | join(";"))|") +
	(.sites[1] | "\(.backups | join(",")) \(.id_type)")')" = \
  "2/1/100|siteA (set) true 0 10.1.1.0/24|pop1,pop3 email" ]
ok "site list -j: every field, typed, key shown as (set)"
x b site list --columns name,primary,backups,local-ts
[ "$(squeeze | head -1)" = "NAME PRIMARY BACKUPS LOCAL TS" ] &&
	grep -q '^siteB *pop2 *pop1,pop3 *10.1.2.0/24 *$' <<<"$out"; ok "site list --columns"
x b site list --columns name,nosuch
rc_is 2 && err_has "'nosuch'"; ok "site list --columns with an unknown column: exit 2"

# More sites: two from a CSV (quotes, embedded commas, CRLF), then 105 for the pages.
q_psk_c="\"${psk_c//\"/\"\"}\""	# RFC 4180: quoted, its quotes doubled
row_c="\"siteC\",\"fqdn:c.example.com\",$q_psk_c,pop1,\"pop2\",\"Guest Wifi\""
row_c+=",\"10.1.3.0/24,10.1.4.0/24\",10.2.0.0/16,\"aes256gcm16,aes256-sha256\",no"
printf '%s\r\n' 'name,id,psk,primary,backups,traffic,local-ts,remote-ts,esp-proposals,enabled' \
	"$row_c" "siteD,d@example.com,$psk_d,pop2,pop3,Machine,10.1.5.0/24,0.0.0.0/0,aes256-sha256,no" >"$work/cd.csv"
chmod 644 "$work/cd.csv"
sum_b=$(md5sum <"$work/b.store")
x b site import "$work/cd.csv" --dry-run
rc_is 1 && err_has "holds pre-shared keys" && err_has "(mode 0644); chmod 600"
ok "site import: a key file that others can read is refused, naming its mode"
chmod 600 "$work/cd.csv"
x b site import "$work/cd.csv" --dry-run
rc_is 0 && out_has "2 rows: 2 added, 0 changed, 0 unchanged" && out_has "dry run"
ok "site import --dry-run: reports 2 to add"
[ "$(md5sum <"$work/b.store")" = "$sum_b" ] && x b site list && ! out_has siteC
ok "... and changed nothing"
x b -j site import "$work/cd.csv" --dry-run
[ "$(j '"\(.dry_run)/\(.added)"')" = true/2 ]; ok "site import -j --dry-run"
x b site import "$work/cd.csv"
rc_is 0 && out_has "2 rows: 2 added" && [ -z "$err" ]
ok "site import: 2 sites from a key file of mode 0600, no warning"
x b -j site show siteC
[ "$(j '"\(.traffic)|\(.local_ts | join(";"))|\(.esp_proposals)|\(.enabled)|\(.psk)"')" = \
  "Guest Wifi|10.1.3.0/24;10.1.4.0/24|aes256gcm16,aes256-sha256|false|(set)" ]
ok "imported siteC: quoted fields with commas as one field each"
[ "$(store_field b 'site siteC' local-ts)" = "10.1.3.0/24,10.1.4.0/24" ] &&
	[ "$(store_field b 'site siteC' traffic)" = "Guest Wifi" ] &&
	[ "$(store_field b 'site siteD' backups)" = pop3 ]; ok "store: the imported sites"
x b site import "$work/cd.csv"
rc_is 0 && out_has "0 added, 0 changed, 2 unchanged"; ok "the same import again: 2 unchanged"
# One bad row among good ones (line 3): nothing imported, the line named.
printf '%s\n' 'name,id,psk,primary,backups' "siteX,fqdn:x.example.com,key x $(rnd),pop1,pop2" \
	"siteY,fqdn:y.example.com,key y $(rnd),pop1,nosuchpop" "siteZ,fqdn:z.example.com,key z $(rnd),pop2,pop1" \
	>"$work/bad.csv"
sum_b=$(md5sum <"$work/b.store")
x b site import "$work/bad.csv"
rc_is 1 && err_has "line 3" && err_has "nosuchpop" && err_has "nothing imported" &&
	! err_has "line 2" && ! err_has "line 4"
ok "site import with one bad row: exit 1, line 3 named, nothing imported"
[ "$(md5sum <"$work/b.store")" = "$sum_b" ] && x b site list && ! out_has siteX && ! out_has siteZ
ok "... the store and the list are unchanged"
# The same site on two rows: which one is meant? A bad row, like a column named twice.
printf '%s\n' 'name,id,psk,primary,backups' "siteX,fqdn:x1.example.com,key x $(rnd),pop1,pop2" \
	"siteX,fqdn:x2.example.com,key x $(rnd),pop1,pop2" >"$work/twice.csv"
x b site import "$work/twice.csv" --dry-run
rc_is 1 && err_has "line 3" && err_has "siteX"
ok "site import naming a site on two rows: exit 1, the second row (line 3) is bad"
x b site import "$work/nosuch.csv"
rc_is 1 && err_has "nosuch.csv"; ok "site import of a missing file: exit 1, names it"

awk -v k="$(rnd)" 'BEGIN {
	print "name,id,psk,primary,backups,traffic,enabled"
	for (i = 0; i < 105; i++)
		printf "p%03d,fqdn:p%03d.example.com,k%03d%s,pop1,pop2,Mixed,no\n", i, i, i, k
}' >"$work/many.csv"
x b site import "$work/many.csv"
rc_is 0 && out_has "105 rows: 105 added"; ok "site import of 105 sites"
x b site list
[ "$(grep -c '^p[0-9]\|^site' <<<"$out")" = 100 ] && out_has "page 1 of 2 (109 sites)"
ok "site list: 100 to a page, says so"
x b -j site list --page 2
[ "$(j '"\(.total)/\(.page)/\(.sites | length) \([.sites[].name] | join(","))"')" = \
  "109/2/9 p100,p101,p102,p103,p104,siteA,siteB,siteC,siteD" ]
ok "site list -j --page 2: the last 9 by name"
x b site list --page 2 --sort desc
[ "$(awk 'NR > 1 { print $1 }' <<<"$out" | head -3 | tr '\n' ' ')" = "p008 p007 p006 " ] &&
	out_has "page 2 of 2"; ok "site list --sort desc --page 2"
x b -j site list --sort desc
[ "$(j '[.sites[].name] | .[0:4] | join(",")')" = "siteD,siteC,siteB,siteA" ]
ok "site list -j --sort desc"
x b -j site list --page 3
rc_is 0 && [ "$(j '.sites | length')" = 0 ]; ok "site list past the last page: empty"
x b site list name siteA
[ "$(awk 'NR > 1 { print $1 }' <<<"$out" | tr '\n' ' ')" = "siteA " ]; ok "site list name siteA"
x b -j site list id example.com name site
[ "$(j '[.sites[].name] | join(",")')" = "siteA,siteB,siteC,siteD" ]
ok "site list id/name: substrings, combined"
x b -j site list id b@
[ "$(j '[.sites[].name] | join(",")')" = siteB ]; ok "site list id b@"
x b -j site list status disabled name site
[ "$(j '[.sites[].name] | join(",")')" = "siteC,siteD" ]; ok "site list status disabled"
x b -j site list status up
up=$(j '.total')
x b -j site list status down
[ $((up + $(j '.total'))) = 2 ]; ok "site list status up / down: the two enabled sites ($up up)"
x b -j site list pop pop3
[ "$(j '[.sites[].name] | join(",")')" = "siteB,siteD" ]
ok "site list pop pop3: as primary or backup"
x b -j site list pop pop1 name site
[ "$(j '[.sites[].name] | join(",")')" = "siteA,siteB,siteC" ]; ok "site list pop pop1"
x b -j site list traffic IoT
[ "$(j '[.sites[].name] | join(",")')" = siteA ]; ok "site list traffic IoT"
x b -j site list traffic "Guest Wifi"
[ "$(j '[.sites[].name] | join(",")')" = siteC ]; ok "site list traffic 'Guest Wifi'"
x b -j site list traffic Mixed
[ "$(j '.total')" = 105 ]; ok "site list traffic Mixed: 105"
x b -j site list enabled yes
[ "$(j '[.sites[].name] | join(",")')" = "siteA,siteB" ]; ok "site list enabled yes"
x b site list status sideways
rc_is 2 && err_has "status 'sideways': up, down or disabled"
ok "site list with a bad status: exit 2 (a usage error found by ikd), names the value"
x b -j site list status sideways
rc_is 2 && [ "$(j '"\(.error.exit)|\(.error.object)|\(.error.message)"')" = \
  "2|site list|site list: status 'sideways': up, down or disabled" ] && err_has sideways
ok "site list -j with a bad status: the error as JSON on stdout, text on stderr"
x b site list --sort sideways
rc_is 2 && err_has "'sideways' is not a column"; ok "site list --sort sideways: exit 2"
x b site edit siteA colour red
rc_is 2 && err_has "colour: no such site field"; ok "site edit of an unknown field: exit 2"
x b -j site list --sort throughput --reverse --page-size 3 source-ip dynamic
[ "$(j '"\(.page_size)|\(.sites | length)|\(.total)"')" = "3|3|108" ]
ok "site list --sort throughput --page-size 3 source-ip dynamic"
x b -j site list source-ip 192.0.2.0/24 throughput 0-
[ "$(j '[.sites[].name] | join(",")')" = siteA ]; ok "site list source-ip PREFIX throughput 0-"
x b site list --page-size 50 --page 2
out_has "page 2 of 3 (109 sites): --page 3 for the next, --all for every one"
ok "site list --page-size 50: says how to get the next page"
x b -j site list --all --page-size 40
[ "$(j '"\(.total)|\(.sites | length)|\(.sites[108].name)"')" = "109|109|siteD" ]
ok "site list --all: every page in one document"
x b site delete --filter name p10
rc_is 1 && err_has "5 sites match; not on a terminal to confirm: give --yes"
ok "site delete --filter without a terminal nor --yes: exit 1, says why"
x b -j site list name p10
[ "$(j '.total')" = 5 ]; ok "... and deleted nothing"
x b site delete --filter name p10 --yes
rc_is 0 && out_has "site delete: 5 sites deleted" && x b -j site list name p10 &&
	[ "$(j '.total')" = 0 ] && [ "$(store_field b 'site p100' id)" = "<none>" ]
ok "site delete --filter name p10 --yes: 5 gone from the list and the store"
x b site list bogus x
rc_is 2 && err_has "'bogus'"; ok "site list with an unknown filter: exit 2"
x b site list --page
rc_is 2; ok "site list --page without a value: exit 2"

# Bulk delete: one unknown name and nothing goes.
names=$(seq -f 'p%03g' 0 99 | tr '\n' ' ')
x b site delete $names nosuch
rc_is 1 && err_has "site 'nosuch'"; ok "site delete of 101 names, one unknown: exit 1"
x b -j site list
[ "$(j '.total')" = 104 ]; ok "... and nothing deleted"
x b site delete $names
rc_is 0 && x b -j site list && [ "$(j '.total')" = 4 ] &&
	[ "$(store_field b 'site p000' id)" = "<none>" ]
ok "site delete of 100 sites: gone from the list and the store"

# ---- site show ----
x b site show siteA
out_has "psk:             (set)" && out_has "local-ts:        10.1.1.0/24" &&
	out_has "traffic:         IoT" &&
	grep -Eq '^status: +(up|down)$' <<<"$out" && out_has "tunnels:" &&
	grep -Eq '^pop1 +192.0.2.2:500 +up ' <<<"$out" && grep -Eq '^pop2 +192.0.2.3:500 +up ' <<<"$out"
ok "site show siteA: fields, key (set), status, a tunnel row per POP"
x b -j site show siteB
[ "$(j '"\(.psk) \(.status | IN("up", "down")) \(.tunnels[0].child_sas | type) " +
	([.tunnels[] | "\(.pop):\(.state):\(.peer)"] | sort | join(","))')" = \
  "(set) true number pop1:up:192.0.2.2:500,pop2:up:192.0.2.3:500" ]
ok "site show -j siteB: the tunnels to pop1 and pop2 up (pop3 does not accept)"
x b site show nosuch
rc_is 1 && err_has "site 'nosuch'" && err_has "no such site"
ok "site show of an unknown site: exit 1"
x b site show
rc_is 2; ok "site show without a name: exit 2"

# ---- site edit ----
x b site edit siteD traffic IoT mark 0x10/0xff psk - <<<"$psk_d2"
rc_is 0 && x b -j site show siteD && [ "$(j '"\(.traffic)/\(.mark)"')" = "IoT/0x10/0xff" ]
ok "site edit siteD traffic, mark and key (psk -)"
x b site export --with-psk "$work/all.csv"
grep -qF "$q_psk_c" "$work/all.csv" && grep -qF ",$psk_d2," "$work/all.csv" &&
	! grep -qF "$psk_d," "$work/all.csv"
ok "site export --with-psk: siteC's key with its quotes and comma as imported, siteD's new key"
[ "$(store_field b 'site siteD' traffic)/$(store_field b 'site siteD' mark)" = IoT/0x10/0xff ]
ok "store: siteD edited"
sum_b=$(md5sum <"$work/b.store")
x b site edit siteD traffic Bogus
rc_is 1 && err_has "site 'siteD'" && err_has "'Bogus'"
ok "site edit with a bad value: exit 1, names it"
x b site edit siteD nosuchfield 1
rc_is 2 && err_has "nosuchfield: no such site field"; ok "site edit of an unknown field: exit 2"
x b site edit nosuch traffic IoT
rc_is 1 && err_has "site 'nosuch'"; ok "site edit of an unknown site: exit 1"
x b site edit siteD
rc_is 2; ok "site edit with nothing to change: exit 2"
x b site edit siteD psk "$psk_cmdline"
rc_is 2; ok "site edit: psk SECRET on the command line is refused (exit 2)"
[ "$(md5sum <"$work/b.store")" = "$sum_b" ]; ok "refused edits left the store alone"

# ---- POP delete ----
x b pop delete pop3
rc_is 1 && err_has "pop 'pop3'" && err_has "'siteB'" && err_has "'siteD'"
ok "pop delete of a POP in use: exit 1, names the sites"
x b site delete siteD
rc_is 0 && [ "$(store_field b 'site siteD' id)" = "<none>" ]; ok "site delete siteD"
x b site edit siteB backups pop1
rc_is 0; ok "site edit siteB backups pop1"
x b -j pop show pop3
[ "$(j '"\(.sites_primary)/\(.sites_backup)"')" = 0/0 ]; ok "pop show pop3: no sites use it"
x b pop delete pop3
rc_is 0 && [ "$(store_field b 'pop pop3' gateway)" = "<none>" ]; ok "pop delete pop3"
x b -j pop list
[ "$(j '[.pops[] | "\(.name):\(.sites_primary):\(.sites_backup)"] | join(",")')" = \
  "pop1:2:1,pop2:1:2" ]
ok "pop list: sites per POP as primary and backup"

# ---- the daemon ----
x b status
rc_is 0 && out_has "sites:" && out_has "pops:" && out_has "role:"; ok "status"
grep -Eq '^listen: +0\.0\.0\.0:500,0\.0\.0\.0:4500(,\[::\]:500,\[::\]:4500)?$' <<<"$out"
ok "status: the addresses and ports ikd listens on"
grep -Eq '^kernel-esp: +(yes|no \(CONFIG_[A-Z0-9_]+ not set: .+\))$' <<<"$out"
ok "status: kernel-esp yes, or no with the option and what it means"
x b -j status
[ "$(j '"\(.listen[0])|\(.ike_port)|\(.natt_port)"')" = "0.0.0.0:500|500|4500" ] &&
	{ [ "$(j .kernel_esp)" = yes ] ||
	  [ "$(j '.kernel_esp_missing as $m | .kernel_esp | startswith("no (\($m) not set: ")')" = true ]; }
ok "status -j: listen, ports, kernel_esp and kernel_esp_missing"
dups=$(cut -d: -f1 <<<"$out" | sort | uniq -d | tr '\n' ' ')
[ -z "$dups" ]; ok "status: each field once (twice: ${dups:-none})"
x b -j status
[ "$(j '"\(.sites)/\(.sites_enabled)/\(.pops)/\(.role)/\(.ike_sas >= 4)"')" = "3/2/2/initiator/true" ]
ok "status -j: sites, POPs, role, IKE SAs"
x b sa list
[ "$(grep -Ec "^site[AB] pop pop[12]: 192.0.2.[23]:500, initiator, up [0-9]+ s, rekey in [0-9]+ s, expires in [0-9]+ s$" <<<"$out")" = 4 ] &&
	[ "$(grep -Ec "^  IKE aes256-sha256-prfsha256-modp2048, spi [0-9a-f]{16}_[0-9a-f]{16}, nat no$" <<<"$out")" = 4 ] &&
	grep -q "^  local 'fqdn:a.example.com', remote 'pop1.example.net'$" <<<"$out"
ok "sa list: each IKE SA with its suite, SPIs, identities and the time to its rekey and expiry"
x b sa list site siteB pop pop2
[ "$(grep -c "^site" <<<"$out")" = 1 ] && grep -q "^siteB pop pop2: " <<<"$out"
ok "sa list site siteB pop pop2: that IKE SA alone"
x b -j sa list site siteA
[ "$(j '[.sas[] | .site] | unique | join(",")')" = siteA ] &&
	[ "$(j '[.sas[] | select(.type == "ike") | .rekey_in_s | type] | unique | join(",")')" = number ]
ok "sa list -j site siteA: siteA's IKE SAs, with the time to their rekey"

# ---- tunnel initiate, terminate, rekey: by hand, the outcome awaited ----
ike_spi() {	# ike_spi SITE POP: the IKE SA's SPIs of that tunnel, from sa list -j
	x b -j sa list site "$1" pop "$2"
	j '.sas[0].spi // ""'
}
spi0=$(ike_spi siteA pop1)
x b tunnel rekey siteA pop1 --ike
rc_is 0 && grep -Eq "^site 'siteA' pop pop1: IKE SA $spi0 replaced by [0-9a-f]{16}_[0-9a-f]{16}$" <<<"$out" &&
	[ "$(ike_spi siteA pop1)" != "$spi0" ]
ok "tunnel rekey siteA pop1 --ike: waits, and names the IKE SA that replaced the old one"
x b tunnel rekey siteA pop1
# Without ESP the tunnel has no Child SA to rekey: said so, exit 1.
modprobe -q esp4 2>/dev/null
if [ ! -d /sys/module/esp4 ]; then
	rc_is 1 && err_has "site 'siteA' pop pop1: nothing to rekey: not up, no Child SA"
	ok "tunnel rekey siteA pop1 (no Child SA on this host): exit 1, says why"
fi
spi0=$(ike_spi siteB pop2)
x b tunnel terminate siteB pop2
rc_is 0 && out_has "site 'siteB' pop pop2: IKE SA $spi0 deleted"
ok "tunnel terminate siteB pop2: the IKE SA deleted, and said so"
eventually 15 sh -c "[ -n \"\$(ip netns exec $ns-b $xfrmctl -s $work/b.sock -j sa list site siteB pop pop2 |
	jq -r '.sas[] | select(.state == \"up\") | .spi')\" ]"
ok "tunnel terminate siteB pop2: the edge router builds it again (reconnect-min)"
x b tunnel initiate siteA pop1
rc_is 1 && err_has "nothing to initiate: up, or connecting"
ok "tunnel initiate of a tunnel that is up: exit 1, says so"
x b tunnel initiate siteA nosuchpop
rc_is 1 && err_has "pop 'nosuchpop': no such POP"
ok "tunnel initiate siteA nosuchpop: exit 1, names the POP"
x b tunnel rekey siteA --timeout 0
rc_is 2 && err_has "tunnel rekey: --timeout '0': seconds, 1 to 3600"
ok "tunnel rekey --timeout 0: a usage error, exit 2"
x b tunnel terminate siteA --ike
rc_is 2 && err_has "--ike is for rekey"
ok "tunnel terminate --ike: a usage error, exit 2"
x g1 tunnel initiate siteA
rc_is 1 && err_has "a gateway does not initiate: the site connects to it"
ok "tunnel initiate on a gateway: exit 1, says the site connects to it"
x b -j tunnel rekey siteB pop1 --ike --no-wait
rc_is 0 && [ "$(j '.tunnels[0].pop')" = pop1 ]
ok "tunnel rekey -j --no-wait: the tunnel acted on, as sa list has it"
x b -j sa list
# Only Child SAs the kernel holds are listed: none on a host without ESP, where every one is
# refused (by the gateways, before they answer).
min_children=0
modprobe -q esp4 2>/dev/null
[ -d /sys/module/esp4 ] && min_children=4
[ "$(j --argjson m "$min_children" '([.sas[] | select(.type == "ike") | .spi | test("^[0-9a-f]{16}_[0-9a-f]{16}$")] | all) and
	([.sas[] | select(.type == "ike") | (.children // [])[] | select(.type == "child")] | length >= $m) and
	(if $m == 0 then ([.sas[] | select(.type == "child")] | length) == 0 else true end)')" = true ]
ok "sa list -j: IKE SAs with SPIs, each with the Child SAs the kernel holds nested"
# Each IKE SA row carries a children array: it must not be empty while the IKE SA has
# Child SAs (listed as their own rows).
[ "$(j '[.sas[] | select(.type == "child") | "\(.site)/\(.pop)"] as $c |
	[.sas[] | select(.type == "ike" and has("children") and (.children | length) == 0 and
	 ("\(.site)/\(.pop)" as $k | $c | index($k) != null))] | length')" = 0 ]
ok "sa list -j: an IKE SA's children array lists its Child SAs"
x g1 -j sa list
[ "$(j '[.sas[] | select(.type == "ike" and .role == "responder" and .state == "up") | .site] |
	sort | join(",")')" = "siteA,siteB" ]; ok "the gateway's sa list: siteA and siteB as responder"
x b refresh
rc_is 0; ok "refresh"
x b -s "$work/nosuch.sock" status
rc_is 1 && err_has "cannot reach ikd"; ok "an unreachable ikd: exit 1, says so"
x b bogus
rc_is 2 && err_has "'bogus'"; ok "an unknown object: exit 2"
x b site bogus
rc_is 2 && err_has "'bogus'"; ok "an unknown verb: exit 2"
x b --frobnicate status
rc_is 2; ok "an unknown option: exit 2"
x b site add siteH --help
rc_is 0 && out_has "usage: xfrmctl site add NAME KEY VALUE" && [ -z "$err" ] && x b site show siteH &&
	rc_is 1; ok "site add --help: the help on stdout, exit 0, no site named --help or siteH"
x b help site
rc_is 0 && out_has "usage: xfrmctl site VERB [ARGS]"; ok "help site"
# A user who may not use the socket is told why, whether the kernel or ikd refuses.
nobody() { out=$(ip netns exec "$ns-b" setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$xfrmctl" -s "$work/b.sock" "$@" 2>"$work/err"); rc=$?; err=$(cat "$work/err"); fresh=1; }
nobody status
rc_is 1 && err_has "permission denied: the socket is for root only"
ok "a non-root user, socket mode 0600: exit 1, permission denied, for root only"
chmod 711 "$work"
chmod 666 "$work/b.sock"
nobody status
rc_is 1 && err_has "permission denied: the socket is for root only" && ! err_has "Broken pipe"
ok "a non-root user through a socket opened to all: ikd refuses, saying why"
nobody -j status
[ "$(j '"\(.error.exit)|\(.error.message | contains("permission denied"))"')" = "1|true" ]
ok "... and with -j as JSON"
chmod 600 "$work/b.sock"
chmod 700 "$work"
x b site import
rc_is 2; ok "site import without a file: exit 2"

# ---- restart: the same sites and POPs ----
before=$(config_json)
export_before=$(x b site export && echo "$out")
kill -TERM "$(cat "$work/b.pid")"
wait_for "$work/b.log" "ikd stopped" 5 && sleep 0.2
start_ikd b
wait_for "$work/b.log" "started: role initiator, 3 sites, 2 POPs" 5
ok "restart: ikd found 3 sites and 2 POPs"
after=$(config_json)
[ -n "$before" ] && [ "$before" = "$after" ]; ok "restart: site list -j and pop list -j as before"
[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after") | head
[ "$export_before" = "$(x b site export && echo "$out")" ]; ok "restart: site export as before"
if wait_ike b siteA 2 10 && wait_ike b siteB 2 10; then
	pass "restart: the IKE SAs are back"
else
	fail "restart: the IKE SAs did not come back"
fi

# ---- a change to one site leaves the other site's IKE SAs alone ----
# xfrmctl monitor follows the daemon's events meanwhile.
ip netns exec "$ns-b" "$xfrmctl" -s "$work/b.sock" -j monitor >"$work/monitor.out" 2>&1 &
echo $! >"$work/monitor.pid"
b0=$(ike_spis b siteB)
g1b0=$(ike_spis g1 siteB)
a0=$(ike_spis b siteA)
[ "$(grep -c . <<<"$b0")" = 2 ] && [ "$(grep -c . <<<"$a0")" = 2 ]
ok "siteA and siteB: 2 IKE SAs each"
b_same() {	# b_same WHAT: siteB's IKE SAs untouched, at the branch and at pop1
	local b1 g
	b1=$(ike_spis b siteB)
	g=$(ike_spis g1 siteB)
	if [ "$b1" = "$b0" ] && [ "$g" = "$g1b0" ]; then
		pass "$1: siteB's IKE SAs unchanged"
	else
		fail "$1: siteB's IKE SAs changed"
		printf '    before: %s\n    after:  %s\n' "$b0" "$b1"
		grep "site 'siteB'" "$work/b.log" | grep -Ev '^([^ ]+ )?debug:' | tail -n 4 | sed 's/^/    /'
		b0=$b1
		g1b0=$g
	fi
}
# The gateways accept wider selectors for siteA (each rebuilds siteA's tunnel only), so that
# the Child SA still matches when the branch narrows them below.
for g in g1 g2; do
	x "$g" site edit siteA local-ts 10.1.0.0/16
	rc_is 0; ok "$g: site edit siteA local-ts 10.1.0.0/16"
done
wait_ike b siteA 2 10
sleep 0.5
b_same "siteA edited at the gateways"
a0=$(ike_spis b siteA)
[ "$(grep -c . <<<"$a0")" = 2 ]; ok "siteA back up to both gateways"
x b site edit siteA local-ts 10.1.9.0/24 traffic Mixed
rc_is 0 && [ "$(store_field b 'site siteA' local-ts)" = 10.1.9.0/24 ]
ok "site edit siteA local-ts, traffic"
eventually 10 rebuilt "$a0"; ok "site edit siteA: siteA's IKE SAs rebuilt (new SPIs)"
b_same "site edit siteA"
x b site disable siteA nosuch
rc_is 1 && err_has "site 'nosuch'" && [ "$(store_field b 'site siteA' enabled)" = yes ]
ok "site disable siteA nosuch: exit 1, siteA still enabled"
[ "$(ike_spis b siteA)" = "$a1" ]; ok "a refused disable leaves siteA's IKE SAs alone"
mark=$(wc -l <"$work/monitor.out")
x b site disable siteA
rc_is 0 && [ "$(store_field b 'site siteA' enabled)" = no ]; ok "site disable siteA"
eventually 5 no_ike siteA && x b -j site show siteA && [ "$(j '.status')" = disabled ]
ok "site disable siteA: its IKE SAs gone, status disabled"
b_same "site disable siteA"
# The tunnels that the disable took down are events like any other tunnel going down.
downs_ok() { downs=$(monitor_downs "$mark"); [ "$downs" = "pop1 pop2 " ]; }
eventually 2 downs_ok
ok "monitor: site disable siteA shows its tunnels down (got: ${downs:-none})"
x b site enable siteA
rc_is 0; ok "site enable siteA"
a_disabled=$a1
eventually 10 rebuilt "$a_disabled"; ok "site enable siteA: new IKE SAs"
a2=$a1
b_same "site enable siteA"
# A third site from an import (its key from a secrets file), known to the gateways first.
printf '%s\n' "name,id,primary,backups,local-ts" "siteE,fqdn:e.example.com,pop2,pop1,10.1.10.0/24" \
	>"$work/e.csv"
printf '%s\n' "name,psk" "siteE,$psk_e" >"$work/e-keys.csv"
for g in g1 g2; do
	x "$g" site import "$work/e.csv" --secrets "$work/e-keys.csv"
	rc_is 0 && out_has "1 rows: 1 added"; ok "$g: site import siteE --secrets"
done
x b site import "$work/e.csv" --secrets "$work/e-keys.csv"
rc_is 0 && out_has "1 added" && [ -z "$err" ]
ok "site import siteE --secrets (files 0600: no warning)"
if wait_ike b siteE 2 10; then pass "siteE: an IKE SA to each POP"; else fail "siteE has no IKE SAs"; fi
b_same "site import of siteE"
[ "$(ike_spis b siteA)" = "$a2" ]; ok "site import of siteE: siteA's IKE SAs unchanged"
grep -q "site 'siteE'.*IKE SA up" "$work/g2.log"; ok "pop2's ikd has siteE up"
x b site disable siteA siteE
rc_is 0 && [ "$(store_field b 'site siteA' enabled)/$(store_field b 'site siteE' enabled)" = no/no ]
ok "site disable siteA siteE"
eventually 5 no_ike siteA siteE; ok "site disable siteA siteE: their IKE SAs gone"
b_same "site disable siteA siteE"

kill "$(cat "$work/monitor.pid")" 2>/dev/null
rm -f "$work/monitor.pid"
# Every line one JSON object with an RFC 3339 UTC time; siteB, left alone, has no event.
grep -v '^xfrmctl: ' "$work/monitor.out" | jq -e -s 'length > 0 and all(.[];
	(.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$")) and
	(.event | type) == "string" and (.site | type) == "string")' >/dev/null
ok "monitor -j: JSON Lines with RFC 3339 UTC times"
mon() { grep -v '^xfrmctl: ' "$work/monitor.out" | jq -r "$1"; }
[ -n "$(mon 'select(.event == "up" and .site == "siteE") | .pop')" ]; ok "monitor: siteE up"
[ -z "$(mon 'select(.site == "siteB") | .event')" ]; ok "monitor: no event for siteB meanwhile"

# ---- a site renamed: its tunnels and SAs go on under the new name ----
# sa_rows SITE: each IKE and Child SA of SITE as "TYPE POP SPIS", sorted.
sa_rows() {
	x b -j sa list
	j --arg s "$1" '[.sas[] | select(.site == $s) |
		"\(.type) \(.pop) \(.spi // "") \(.spi_in // "") \(.spi_out // "")"] | sort | join(",")'
}
b_rows=$(sa_rows siteB)
x b -j site show siteB
b_status=$(j '.status')
[ "$(grep -o 'ike ' <<<"$b_rows" | grep -c .)" = 2 ]; ok "siteB before the rename: 2 IKE SAs ($b_status)"
log_mark=$(wc -l <"$work/b.log")
x b site rename siteB branch-b
rc_is 0; ok "site rename siteB branch-b"
[ "$(store_field b 'site branch-b' id)" = email:b@example.com ] && [ "$(store_field b 'site siteB' id)" = "<none>" ]
ok "store: the record under its new name"
[ "$(sa_rows branch-b)" = "$b_rows" ] && [ -z "$(sa_rows siteB)" ]
ok "sa list -j: the same IKE and Child SAs, SPIs and all, under branch-b"
sleep 3	# a DPD round (dpd-interval 2): the tunnels go on
[ "$(sa_rows branch-b)" = "$b_rows" ]; ok "3 s later: still the same SAs"
x b -j site show branch-b
[ "$(j '"\(.status) \([.tunnels[] | "\(.pop):\(.state)"] | sort | join(","))"')" = \
  "$b_status pop1:up,pop2:up" ]; ok "site show branch-b: status $b_status as before, both tunnels up"
tail -n +$((log_mark + 1)) "$work/b.log" >"$work/b.after-rename.log"
grep -q "site 'siteB': renamed 'branch-b'" "$work/b.after-rename.log" &&
	! grep -q "tunnel down" "$work/b.after-rename.log"; ok "ikd's log: renamed, no tunnel down"
x b site rename branch-b siteA
rc_is 1 && err_has "site 'siteA': exists"; ok "site rename onto another site: exit 1, names it"
x b site rename nosuch x
rc_is 1 && err_has "site 'nosuch': no such site"; ok "site rename of an unknown site: exit 1"
x b site rename branch-b
rc_is 2; ok "site rename with one name: exit 2"
# The gateways know it by its identity: a rename there keeps their IKE SA too.
g1_rows=$(x g1 -j sa list && j '[.sas[] | select(.site == "siteB") | "\(.type) \(.spi // "") \(.spi_in // "")"] | sort | join(",")')
x g1 site rename siteB branch-b
rc_is 0 && [ "$(x g1 -j sa list && j '[.sas[] | select(.site == "branch-b") | "\(.type) \(.spi // "") \(.spi_in // "")"] | sort | join(",")')" = "$g1_rows" ] &&
	[ -n "$g1_rows" ]; ok "pop1's ikd: site rename keeps the responder's SAs"

# ---- records: one identity a site, a branch site on one POP, a gateway site with none ----
printf '%s\n' "$psk_f" >"$work/f.psk"
chmod 600 "$work/f.psk"
x b site add siteF id fqdn:A.EXAMPLE.com psk-file "$work/f.psk" primary pop1 backups pop2
rc_is 1 && err_has "site 'siteF' id 'fqdn:A.EXAMPLE.com': already the identity of site 'siteA'"
ok "site add with siteA's identity in capitals: exit 1, names both sites"
x b site add siteF id fqdn:f.example.com psk-file "$work/f.psk" primary pop1 local-ts 10.1.11.0/24
rc_is 1 && err_has "at least one backup POP"; ok "a branch's site with one POP under vendor-rules: refused"
x g1 site add siteF id fqdn:f.example.com psk-file "$work/f.psk" local-ts 10.1.11.0/24 \
	esp-proposals aes256gcm16
rc_is 0 && [ "$(store_field g1 'site siteF' primary)" = "" ]; ok "pop1's ikd (a gateway): a site with no POP"
x b site add siteF id fqdn:f.example.com psk-file "$work/f.psk" primary pop1 vendor-rules no \
	local-ts 10.1.11.0/24 esp-proposals aes256gcm16
rc_is 0; ok "a branch's site with one POP, vendor-rules no"
if wait_ike b siteF 1 10; then pass "siteF: an IKE SA to its one POP"; else fail "siteF has no IKE SA"; fi
x b -j site show siteF
[ "$(j '[.tunnels[] | "\(.pop):\(.state)"] | join(",")')" = "pop1:up" ]; ok "site show siteF: one tunnel, up"
grep -q "site 'siteF'.*IKE SA up" "$work/g1.log"; ok "pop1's ikd has siteF up"

# ---- 10,002 sites through the real ikd: more than one frame, streamed both ways ----
# A responder of its own (h, loopback only): it initiates nothing for the sites it holds.
ip netns add "$ns-h"
ip -n "$ns-h" link set lo up
printf 'role = responder\nstore = %s/h.store\ncontrol-socket = %s/h.sock\nidentity = pop9.example.net\n' \
	"$work" "$work" >"$work/h.conf"
start_ikd h || fail "ikd in h did not start"
x h pop add pop1 gateway 192.0.2.2 && x h pop add pop2 gateway 192.0.2.3
awk 'BEGIN { print "name,id,psk,primary,backups"
	for (i = 0; i < 10002; i++) printf "big%05d,fqdn:big%d.example.com,big site key %08d,pop1,pop2\n", i, i, i }' \
	>"$work/big.csv"
x h site import "$work/big.csv"
rc_is 0 && out_has "10002 rows: 10002 added"; ok "site import of 10,002 sites"
x h site export --with-psk "$work/big-out.csv"
rc_is 0 && [ "$(grep -c '^big' "$work/big-out.csv")" = 10002 ] &&
	[ "$(stat -c %a "$work/big-out.csv")" = 600 ]
ok "site export --with-psk of 10,002 sites (past one 1 MiB frame): every site, file mode 0600"
x h site import "$work/big-out.csv"
rc_is 0 && out_has "0 added, 0 changed, 10002 unchanged"; ok "the export (past one 1 MiB frame) imported back: unchanged"
kill -TERM "$(cat "$work/h.pid")"
wait_for "$work/h.log" "ikd stopped" 10 && sleep 0.2
start_ikd h
wait_for "$work/h.log" "started: role responder, 10002 sites, 2 POPs" 10
ok "restart: 10,002 sites from the store"
x h site export --with-psk "$work/big-back.csv"
rc_is 0 && cmp -s "$work/big-out.csv" "$work/big-back.csv"
ok "restart: the export byte for byte as before"
grep -q "control: site import from" "$work/h.log" &&
	[ "$(grep -c "control: site import from" "$work/h.log")" = 2 ]
ok "a chunked import is logged once, not once a frame"

# ---- no key anywhere it should not be ----
for k in "${all_psks[@]}"; do
	printf '%s\n' "$k"
	printf '%s' "$k" | od -An -tx1 | tr -d ' \n'	# as the store writes it (hex:)
	echo
done >"$work/keys"
leaked=0
for f in ctl.all monitor.out b.log g1.log g2.log; do
	if grep -qiFf "$work/keys" "$work/$f"; then
		fail "$f holds a key, line $(grep -niFf "$work/keys" "$work/$f" | head -1 | cut -d: -f1)"
		leaked=1
	fi
done
[ "$leaked" = 0 ]; ok "no key in any xfrmctl output nor in ikd's logs"
[ "$(stat -c %a "$work/b.store")/$(stat -c %a "$work/g1.store")" = 600/600 ]
ok "stores still mode 0600"

echo "ctl.sh: $(($(date +%s) - t0)) s"
if [ "$fails" != 0 ]; then
	for f in b g1 g2; do
		kill -0 "$(cat "$work/$f.pid")" 2>/dev/null || echo "ctl.sh: ikd in $ns-$f is not running"
		echo "== $f.log"
		grep -Ev '^([^ ]+ )?debug:' "$work/$f.log" | tail -20
	done
	exit 1
fi
echo "ctl.sh: all passed"
