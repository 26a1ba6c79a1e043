#!/bin/bash
# xfrmctl against fake_ikd (lib/ctl's real handler and store, a made-up runtime): every verb,
# exit statuses, tables and JSON, and that a PSK never shows on stdout or stderr.
# Usage: cli.sh XFRMCTL FAKE_IKD PROM_CHECK
set -euo pipefail

xfrmctl=$1
fake=$2
prom_check=$3
tmp=$(mktemp -d /tmp/xfrmctl-cli.XXXXXX)
sock=$tmp/ikd.sock
key='Cli-Secret-Key-0123456789'
key2='Other-Secret-Key-9876543210'
fake_pid=
fake2_pid=

cleanup() {
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null || true
	[ -n "$fake2_pid" ] && kill "$fake2_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	echo "--- stdout" >&2
	cat "$tmp/out" >&2 || true
	echo "--- stderr" >&2
	cat "$tmp/err" >&2 || true
	exit 1
}

# x EXPECTED-STATUS ARGS...: run xfrmctl on the fake socket (stdin from /dev/null unless given).
x() {
	local want=$1 got=0
	shift
	"$xfrmctl" -s "$sock" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || got=$?
	[ "$got" = "$want" ] || fail "xfrmctl $* exited $got, expected $want"
	no_key
}

# The same with stdin from a file.
x_in() {
	local input=$1 want=$2 got=0
	shift 2
	"$xfrmctl" -s "$sock" "$@" >"$tmp/out" 2>"$tmp/err" <"$input" || got=$?
	[ "$got" = "$want" ] || fail "xfrmctl $* exited $got, expected $want"
	no_key
}

no_key() {
	if grep -qF -e "$key" -e "$key2" "$tmp/out" "$tmp/err"; then
		fail "a PSK was printed"
	fi
}

out_has() { grep -qF -- "$1" "$tmp/out" || fail "stdout lacks '$1'"; }
out_re() { grep -qE -- "$1" "$tmp/out" || fail "stdout does not match '$1'"; }
out_lacks() { if grep -qF -- "$1" "$tmp/out"; then fail "stdout has '$1'"; fi; }
err_has() { grep -qF -- "$1" "$tmp/err" || fail "stderr lacks '$1'"; }
json() { python3 -c "import json,sys; d=json.load(open('$tmp/out')); $1" || fail "JSON: $1"; }

"$fake" "$sock" "$tmp/store" &
fake_pid=$!
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.05
done
[ -S "$sock" ] || fail "fake_ikd did not start"

# --- usage and reachability
x 2
x 2 frobnicate
err_has "'frobnicate' is unknown: site, pop, sa, status, refresh, monitor, metrics"
x 2 s l
err_has "'s' is ambiguous: site, sa, status"
x 2 site e
err_has "site: 'e' is ambiguous: edit, enable, export"
"$xfrmctl" -s "$tmp/nowhere.sock" status >"$tmp/out" 2>"$tmp/err" && fail "no daemon: exit 0"
err_has "xfrmctl: cannot reach ikd at $tmp/nowhere.sock"
IKD_SOCKET=$sock "$xfrmctl" status >"$tmp/out" 2>"$tmp/err" || fail "IKD_SOCKET not used"

# --- POPs
x 0 pop add fra1 gateway 198.51.100.1 location "Frankfurt, DE"
x 0 pop add ams1 gateway 198.51.100.2 probe-ip 10.0.0.2
x 0 po a lon1 gateway 198.51.100.3
x 1 pop add bad1 gateway not-an-ip
err_has "xfrmctl: pop 'bad1': gateway 'not-an-ip': not an IP address"
x 2 pop add odd1 gateway
err_has "needs a value"

# --- PSK input
printf '%s\n' "$key" >"$tmp/psk"
chmod 644 "$tmp/psk"
x 1 site add b12 id fqdn:b12.example.com psk-file "$tmp/psk" primary fra1 backups ams1
err_has "psk-file $tmp/psk: mode 0644 lets group and others read the key; chmod 600"
chmod 600 "$tmp/psk"
x 2 site add b12 id fqdn:b12.example.com psk "$key" primary fra1 backups ams1
err_has "a key on the command line is seen by every user"
x 2 site add b12 id fqdn:b12.example.com primary fra1 backups ams1
err_has "no key: give psk-file PATH or psk - (stdin)"
x 0 site add b12 id fqdn:b12.example.com psk-file "$tmp/psk" primary fra1 backups ams1,lon1
printf '%s' "$key2" >"$tmp/psk2"
x_in "$tmp/psk2" 0 site add c1 id 203.0.113.9 psk - primary ams1 backups fra1 traffic IoT
x 1 site add c1 id 203.0.113.9 psk-file "$tmp/psk" primary ams1 backups fra1
err_has "xfrmctl: site 'c1': exists"

# --- list, show
x 0 si l
out_has "NAME  SOURCE IDENTITY  SOURCE IP  STATUS  POP   THROUGHPUT  TRAFFIC TYPE"
out_has "b12   b12.example.com  dynamic    up      fra1  1234 Kbps   User"
out_has "c1    203.0.113.9      dynamic    down    ams1  0 Kbps      IoT"
x 0 -j site list
json 'assert d["total"] == 2 and d["page"] == 1 and len(d["sites"]) == 2'
json 's = d["sites"][0]; assert s["name"] == "b12" and s["psk"] == "(set)" and s["enabled"] is True'
json 's = d["sites"][0]; assert s["backups"] == ["ams1", "lon1"] and s["ike_lifetime"] == 86400'
json 'assert d["sites"][0]["throughput_kbps"] == 1234'
x 0 site list status up
out_has "b12"
out_lacks "c1 "
x 0 site list --columns name,status,pri
out_has "NAME  STATUS  PRIMARY"
x 2 site list --columns name,bogus
err_has "'bogus' is not a column"
x 2 site list colour red
err_has "'colour': not a filter"
x 1 site list status sideways
err_has "xfrmctl: site list: status 'sideways': up, down or disabled"
x 0 site list --sort desc --page=1 traffic iot
out_has "c1"
out_lacks "b12"
x 0 site show b12
out_re "^psk: +\\(set\\)$"
out_re "^backups: +ams1,lon1$"
out_re "^source-ip: +-$"
out_has "tunnels:"
out_has "POP   ROLE     IKE          IN BYTES"
out_has "lon1  backup   established  1000"
x 0 -j site show b12
json 'assert d["name"] == "b12" and len(d["tunnels"]) == 3 and d["tunnels"][0]["in_bytes"] == 1000'
x 1 site show nope
err_has "xfrmctl: site 'nope': no such site"

# --- edit, enable, disable, delete
x 1 site edit b12 traffic Bulk
err_has "xfrmctl: site 'b12': traffic 'Bulk': one of User, IoT, Mixed, Machine, Guest Wifi"
x 0 site edit b12 traffic "Guest Wifi" mark 0x10/0xff
x 0 -j site show b12
json 'assert d["traffic"] == "Guest Wifi" and d["mark"] == "0x10/0xff"'
x 2 site edit b12
x 0 site disable b12 c1
x 0 site list status disabled
out_has "b12"
out_has "c1"
x 1 site enable b12 nope
err_has "site 'nope': no such site"
x 0 -j site show b12
json 'assert d["enabled"] is False and d["status"] == "disabled"'
x 0 site enable b12 c1

# --- import, export
cat >"$tmp/sites.csv" <<EOF
name,id,psk,primary,backups,traffic
d4,fqdn:d4.example.com,$key,fra1,ams1,Machine
b12,fqdn:b12.example.com,,fra1,ams1,Mixed
EOF
chmod 644 "$tmp/sites.csv"
x 1 site import "$tmp/sites.csv" --dry-run
err_has "site import: $tmp/sites.csv holds pre-shared keys and group and others can read it (mode 0644); chmod 600"
chmod 640 "$tmp/sites.csv"
x 1 site import "$tmp/sites.csv"
err_has "its group can read it (mode 0640)"
x 1 site show d4
chmod 600 "$tmp/sites.csv"
x 0 site import "$tmp/sites.csv" --dry-run
out_has "2 rows: 1 added, 1 changed, 0 unchanged (dry run: nothing changed)"
x 1 site show d4
x 0 -j site import "$tmp/sites.csv"
json 'assert d["rows"] == 2 and d["added"] == 1 and d["dry_run"] is False'
[ ! -s "$tmp/err" ] || fail "a warning for a 0600 file"
cat >"$tmp/bad.csv" <<EOF
name,id,primary,backups,traffic
e5,fqdn:e5.example.com,fra1,ams1,Bulk
f6,x,nowhere,ams1,IoT
EOF
x 1 site import "$tmp/bad.csv"
err_has "xfrmctl: site import: 2 bad rows, nothing imported"
err_has "  line 2: "
err_has "  line 3: "
printf 'name,id,primary,backups\ne5,fqdn:e5.example.com,fra1,ams1\n' >"$tmp/nokey.csv"
printf 'name,psk\ne5,%s\n' "$key" >"$tmp/secrets.csv"
chmod 640 "$tmp/secrets.csv"
chmod 644 "$tmp/nokey.csv"	# no keys in it: its mode does not matter
x 1 site import "$tmp/nokey.csv" --secrets "$tmp/secrets.csv"
err_has "site import: $tmp/secrets.csv holds pre-shared keys and its group can read it (mode 0640)"
x 1 site show e5
chmod 600 "$tmp/secrets.csv"
x 0 site import "$tmp/nokey.csv" --secrets "$tmp/secrets.csv"
[ ! -s "$tmp/err" ] || fail "a warning for a 0600 secrets file"
x 0 site export
out_has "name,id,source-ip,primary"
out_has "d4,fqdn:d4.example.com,,fra1,ams1,Machine"
x 0 site export "$tmp/plain.csv"
grep -qF "e5,fqdn:e5.example.com" "$tmp/plain.csv" || fail "export to a file"
x 0 site export --with-psk "$tmp/keys.csv"
[ "$(stat -c %a "$tmp/keys.csv")" = 600 ] || fail "exported keys not 0600"
grep -qF "$key" "$tmp/keys.csv" || fail "--with-psk without the keys"
x 2 site import
x 2 site export --bogus

# --- CSV as Excel writes it, and the messages for what it cannot read
printf '\xef\xbb\xbfName,ID,Primary,BACKUPS,Enabled\r\nx7,fqdn:x7.example.com,fra1,ams1,FALSE\r\n' >"$tmp/excel.csv"
printf 'name,psk\nx7,%s\n' "$key" >"$tmp/excel-keys.csv"
chmod 600 "$tmp/excel-keys.csv"
x 0 site import "$tmp/excel.csv" --secrets "$tmp/excel-keys.csv"
out_has "1 rows: 1 added"
x 0 -j site show x7
json 'assert d["enabled"] is False'
x 0 site delete x7
printf 'name;id;primary;backups\nx8;x8.example.com;fra1;ams1\n' >"$tmp/semi.csv"
x 1 site import "$tmp/semi.csv"
err_has "line 1: the header is separated by ';', not ','"
printf 'name,id,primary,backups\nx8,x8.example.com,fra1,ams1\nx9,caf\xe9.example.com,fra1,ams1\n' >"$tmp/latin1.csv"
x 1 site import "$tmp/latin1.csv"
err_has "line 3: not UTF-8 text"
long=$(printf 'a%.0s' $(seq 63)).$(printf 'b%.0s' $(seq 63)).$(printf 'c%.0s' $(seq 63)).$(printf 'd%.0s' $(seq 60)).x
printf 'name,id,primary,backups\nx8,%s,fra1,ams1\n' "$long" >"$tmp/long.csv"
x 1 site import "$tmp/long.csv"
err_has "line 2: id 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' (254 bytes): not a valid fqdn identity"
printf 'name,psk\nx8,\nnosuch,%s\n' "$key" >"$tmp/bad-keys.csv"
chmod 600 "$tmp/bad-keys.csv"
printf 'name,id,primary,backups\nx8,x8.example.com,fra1,ams1\n' >"$tmp/x8.csv"
x 1 site import "$tmp/x8.csv" --secrets "$tmp/bad-keys.csv"
err_has "site import: 2 bad rows, nothing imported"
err_has "  bad-keys.csv line 2: site 'x8' psk: missing"
err_has "  bad-keys.csv line 3: site 'nosuch': not in x8.csv"
# More bad rows than are listed: the count of the rest and how to see them.
awk 'BEGIN { print "name,id,primary,backups"; for (i = 0; i < 60; i++) printf "y%d,y%d.example.com,nowhere,ams1\n", i, i }' >"$tmp/many-bad.csv"
x 1 site import "$tmp/many-bad.csv" --dry-run
err_has "site import: 60 bad rows, nothing imported"
err_has "  line 51: "
err_has "  (and 10 more: correct these and run the import again, with --dry-run, to see them)"


# --- delete, all or nothing
x 1 site delete d4 nope
x 0 site show d4
x 0 site delete d4 e5
x 1 site show d4

# --- POP counts and deletion
x 0 pop list
out_has "NAME  GATEWAY       PROBE IP  LOCATION       ACCEPTING  PRIMARY FOR  BACKUP FOR"
out_has "fra1  198.51.100.1  -         Frankfurt, DE  yes        1            1"
x 0 -j pop list
json 'assert d["total"] == 3 and d["pops"][1]["sites_primary"] == 1'
json 'assert d["pops"][0]["accepting"] is True'
x 0 site edit b12 backups ams1,lon1
x 1 pop delete lon1
err_has "xfrmctl: pop 'lon1': used by 1 site ('b12')"
x 0 pop edit lon1 accepting no
x 0 pop show lon1
out_re "^accepting: +no$"
x 0 site edit b12 backups ams1
x 0 pop delete lon1
x 1 pop show lon1

# --- the runtime's verbs
x 0 status
out_re "^sites: +2$"
out_re "^role: +initiator$"
x 0 -j status
json 'assert d["sites"] == 2 and d["role"] == "initiator"'
x 0 sa list
out_has "SITE  POP   KIND  STATE"
x 0 -j sa
json 'assert d["sas"][0]["state"] == "established"'
x 0 refresh
x 1 monitor
err_has "xfrmctl: monitor: not supported yet"

# --- metrics: the Prometheus text format, on stdout or replacing a file
x 0 metrics
out_has 'ikd_site_up{site="b12"} 1'
out_has 'ikd_site_up{site="c1"} 0'
out_has 'ikd_site_status{site="c1",status="down"} 1'
out_has 'ikd_site_active_pop_info{site="b12",pop="fra1"} 1'
out_has 'ikd_site_received_bytes_total{site="b12"} 3000'
out_has 'ikd_handshake_failures_total{reason="auth_failed"} 3'
out_has 'ikd_build_info{version="0.0.0-fake"} 1'
"$prom_check" "$tmp/out" >/dev/null 2>"$tmp/err" || fail "metrics: the strict reader refused it"
cp "$tmp/out" "$tmp/metrics.stdout"
x 2 metrics -o
x 2 metrics --output
x 2 metrics extra
err_has "xfrmctl: metrics: 'extra': not an option (-o FILE)"
x 2 metrics -o a -o b
x 2 -j metrics
err_has "-j does not apply"
x 1 metrics -o "$tmp/nodir/ikd.prom"
err_has "cannot create a file in $tmp/nodir"
(umask 077 && x 0 metrics -o "$tmp/ikd.prom") || fail "metrics -o"
[ -s "$tmp/out" ] && fail "metrics -o also wrote to stdout"
[ "$(stat -c %a "$tmp/ikd.prom")" = 644 ] || fail "metrics -o: mode $(stat -c %a "$tmp/ikd.prom")"
cmp -s "$tmp/ikd.prom" "$tmp/metrics.stdout" || fail "metrics -o wrote other text than stdout"
inode=$(stat -c %i "$tmp/ikd.prom")
x 0 metrics --output="$tmp/ikd.prom"
[ "$(stat -c %i "$tmp/ikd.prom")" != "$inode" ] || fail "metrics -o rewrote the file in place"
ls -A "$tmp" | grep -q '^\.ikd\.prom\.' && fail "metrics -o left a temporary file"

# --- 10,002 sites: more than one control frame carries, streamed both ways
awk -v k="$key" 'BEGIN { print "name,id,psk,primary,backups,traffic"
	for (i = 0; i < 10002; i++) printf "big%05d,fqdn:big%d.example.com,%s-%d,fra1,ams1,IoT\n", i, i, k, i }' >"$tmp/big.csv"
chmod 600 "$tmp/big.csv"
x 0 site import "$tmp/big.csv" --dry-run
out_has "10002 rows: 10002 added, 0 changed, 0 unchanged (dry run: nothing changed)"
x 0 site import "$tmp/big.csv"
out_has "10002 rows: 10002 added"
x 0 site export --with-psk "$tmp/big-out.csv"
[ "$(stat -c %a "$tmp/big-out.csv")" = 600 ] || fail "exported keys not 0600"
[ "$(grep -c '^big' "$tmp/big-out.csv")" = 10002 ] || fail "export: not every site"
x 0 site export
[ "$(grep -c '^big' "$tmp/out")" = 10002 ] || fail "export to stdout: not every site"
x 0 site import "$tmp/big-out.csv"
out_has "10004 rows: 0 added, 0 changed, 10004 unchanged"
# A second daemon with the same POPs takes the export and gives back the same bytes.
"$fake" "$tmp/ikd2.sock" "$tmp/store2" &
fake2_pid=$!
for _ in $(seq 100); do
	[ -S "$tmp/ikd2.sock" ] && break
	sleep 0.05
done
sock1=$sock
sock=$tmp/ikd2.sock
x 0 pop add fra1 gateway 198.51.100.1
x 0 pop add ams1 gateway 198.51.100.2
x 0 pop add lon1 gateway 198.51.100.3
x 0 site import "$tmp/big-out.csv"
out_has "10004 rows: 10004 added"
x 0 site export --with-psk "$tmp/big-back.csv"
cmp -s "$tmp/big-out.csv" "$tmp/big-back.csv" || fail "the round trip changed the CSV"
sock=$sock1
kill "$fake2_pid"
fake2_pid=
# A failed export leaves the file it would have replaced.
echo "old" >"$tmp/kept.csv"
"$xfrmctl" -s "$tmp/ikd2.sock" site export "$tmp/kept.csv" >"$tmp/out" 2>"$tmp/err" && fail "export without a daemon"
[ "$(cat "$tmp/kept.csv")" = old ] || fail "a failed export replaced the file"
ls "$tmp" | grep -q 'kept.csv.tmp' && fail "a failed export left its temporary file"

# --- the store holds the keys, no output did
grep -qF "psk = hex:" "$tmp/store" || fail "the store has no keys"
[ "$(stat -c %a "$tmp/store")" = 600 ] || fail "the store is not 0600"
echo "xfrmctl CLI: all checks passed"
