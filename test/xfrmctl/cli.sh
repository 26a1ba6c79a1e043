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
err_has "'frobnicate' is unknown: site, pop, sa, tunnel, status, refresh, monitor, metrics"
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
# A site with no active POP shows none (not its primary in its place).
out_has "c1    203.0.113.9      dynamic    down    -     0 Kbps      IoT"
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
err_has "'colour': not a filter (name, id, source-ip, status, pop, traffic, enabled, throughput, --sort"
x 2 site list status sideways
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

# --- help at every level: on stdout, exit 0, nothing parsed or asked
x 0 help
out_has "usage: xfrmctl [-j] [-s SOCKET] OBJECT VERB [ARGS]"
out_has "xfrmctl site add|edit|show|list|enable|disable|delete|import|export"
x 0 --help
out_has "'xfrmctl OBJECT --help'"
for a in "site --help" "site -h" "site help" "help site"; do
	# shellcheck disable=SC2086 # the words of $a are the arguments
	x 0 $a
	out_has "usage: xfrmctl site VERB [ARGS]"
	out_re "^  list +List sites, 100 a page, by name\.$"
	[ ! -s "$tmp/err" ] || fail "xfrmctl $a wrote to stderr"
done
for a in "site add --help" "site add b99 --help" "site add -h" "help site add" "site help add"; do
	# shellcheck disable=SC2086
	x 0 $a
	out_has "usage: xfrmctl site add NAME KEY VALUE ... [psk-file PATH | psk -]"
	out_re "^  psk-file PATH +the key from a file only its owner can read$"
	out_re "^  traffic TYPE +User, IoT, Mixed, Machine or \"Guest Wifi\"$"
done
x 1 site show b99
x 0 si l --help
out_re "^  --page-size N +N sites a page, 1 to 1000 \(default 100\)$"
out_re "^  throughput LOW-HIGH +throughput in Kbps from LOW to HIGH"
out_re "^  source-ip ADDRESS\|PREFIX\|dynamic +that source IP"
x 0 site delete --help
out_re "^  --yes +no confirmation"
x 0 pop add --help
out_re "^  gateway ADDRESS +the POP's IKE address \(required\)$"
x 0 status --help
out_has "usage: xfrmctl status show"
x 0 metrics --help
out_has "usage: xfrmctl metrics [-o FILE]"
x 0 refresh -h
out_has "usage: xfrmctl refresh"
x 2 help bogus
err_has "'bogus' is unknown"
x 2 site help bogus
err_has "site help: 'bogus' is unknown"

# --- exit status: 2 for a wrong request, whichever side finds it; 1 for a refusal
x 2 site list --sort sideways
err_has "site list: --sort: 'sideways' is not a column: name, id, source-ip"
x 2 site list --page 0
x 2 site list --page-size 5000
err_has "--page-size '5000': a number from 1 to 1000"
x 2 site list throughput fast
err_has "site list: throughput 'fast': a range in Kbps"
x 2 site list source-ip 203.0.113.9/24
err_has "source-ip '203.0.113.9/24': an address, a prefix"
x 2 site edit b12 colour red
err_has "xfrmctl: site 'b12': colour: no such site field"
x 1 site edit nope colour red
err_has "site 'nope': no such site"
x 1 site edit b12 primary nowhere
x 2 pop edit fra1 colour red
err_has "pop 'fra1': colour: no such POP field"
x 2 site enable b12 b12
err_has "named twice"
# -j: the error as JSON on stdout too
x 2 -j site list status sideways
err_has "status 'sideways'"
json 'e = d["error"]; assert e["exit"] == 2 and e["object"] == "site list" and e["message"] == "site list: status \x27sideways\x27: up, down or disabled", e'
x 2 -j site list --sort sideways
json 'assert d["error"]["exit"] == 2 and "not a column" in d["error"]["message"]'
x 1 -j site show nope
json 'assert d == {"error": {"message": "site \x27nope\x27: no such site", "object": "site show", "exit": 1}}, d'
x 2 -j frobnicate
json 'assert d["error"]["object"] is None and d["error"]["exit"] == 2'
x 2 -j site add b98 colour red psk-file "$tmp/psk"
json 'assert d["error"]["object"] == "site add" and d["error"]["exit"] == 2'
"$xfrmctl" -j -s "$tmp/nowhere.sock" status >"$tmp/out" 2>"$tmp/err" && fail "no daemon: exit 0"
json 'assert d["error"]["exit"] == 1 and d["error"]["message"].startswith("cannot reach ikd at")'

# --- a user the socket's mode keeps out is told which group may use it (as root only)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && getent group daemon >/dev/null; then
	chmod 711 "$tmp"
	chgrp daemon "$sock"
	chmod 660 "$sock"
	got=0
	setpriv --reuid=65534 --regid=65534 --clear-groups "$xfrmctl" -s "$sock" status \
		>"$tmp/out" 2>"$tmp/err" || got=$?
	[ "$got" = 1 ] || fail "a user outside the socket's group: exit $got"
	err_has "cannot reach ikd at $sock: permission denied: the socket is for root or group daemon"
	chmod 600 "$sock"
	chgrp root "$sock"
	chmod 700 "$tmp"
else
	echo "cli.sh: not root (or no setpriv, no group daemon): the socket's group not checked"
fi

# --- site list: source IP, throughput, sort by any column, page size, every page
x 0 site edit c1 source-ip 203.0.113.9
x 0 -j site list source-ip 203.0.113.9
json 'assert [s["name"] for s in d["sites"]] == ["c1"]'
x 0 -j site list source-ip 203.0.113.0/24
json 'assert [s["name"] for s in d["sites"]] == ["c1"]'
x 0 -j site list source-ip dynamic
json 'assert [s["name"] for s in d["sites"]] == ["b12"]'
x 0 -j site list throughput 1000-
json 'assert [s["name"] for s in d["sites"]] == ["b12"]'
x 0 -j site list throughput -10
json 'assert [s["name"] for s in d["sites"]] == ["c1"]'
x 0 -j site list throughput 1234-1234
json 'assert [s["name"] for s in d["sites"]] == ["b12"]'
x 0 -j site list --sort throughput
json 'assert [s["name"] for s in d["sites"]] == ["c1", "b12"]'
x 0 -j site list --sort throughput --reverse
json 'assert [s["name"] for s in d["sites"]] == ["b12", "c1"]'
x 0 -j site list --sort=source-ip
json 'assert [s["name"] for s in d["sites"]] == ["b12", "c1"]'
x 0 site list --sort traf --columns name,traffic
out_re "^c1 +IoT$"
[ "$(sed -n 2p "$tmp/out" | cut -d' ' -f1)" = c1 ] || fail "--sort traffic: c1 (IoT) first"
x 0 -j site list --page-size 1
json 'assert d["total"] == 2 and d["page_size"] == 1 and [s["name"] for s in d["sites"]] == ["b12"]'
x 0 site list --page-size 1
out_has "page 1 of 2 (2 sites): --page 2 for the next, --all for every one"
x 0 site list --page-size 1 --page 2
out_has "page 2 of 2 (2 sites): --all for every one"
x 0 -j site list --page-size 1 --all
json 'assert d["total"] == 2 and [s["name"] for s in d["sites"]] == ["b12", "c1"]'
x 0 site list --all --page-size=1 --sort name --reverse
[ "$(awk 'NR > 1 { print $1 }' "$tmp/out" | tr '\n' ' ')" = "c1 b12 " ] || fail "--all: both rows"
out_lacks "page "
x 2 site list --all --page 2
x 0 site edit c1 source-ip ""

# --- bulk changes by a filter: confirmed on a terminal, or --yes
x 1 site disable --filter traffic IoT
err_has "site disable: 1 site matches; not on a terminal to confirm: give --yes"
x 0 -j site show c1
json 'assert d["enabled"] is True'
x 0 site disable --filter traffic IoT --yes
out_has "site disable: 1 site disabled"
x 0 -j site show c1
json 'assert d["enabled"] is False'
x 0 -j site enable --yes --filter status disabled
json 'assert d["sites"] == 1'
x 0 site delete --filter name nomatch --yes
out_has "site delete: no site matches: nothing changed"
x 2 site delete b12 --filter name x
err_has "names or --filter, not both"
x 2 site delete --filter colour red --yes
err_has "site delete: 'colour': not a filter"
x 2 site delete --filter
# On a terminal: asked, and only "y" goes on.
tty_run() {	# tty_run ANSWER ARGS...: xfrmctl on a pseudo-terminal, ANSWER typed
	local answer=$1 got=0
	shift
	printf '%s\n' "$answer" | script -qec "$(printf '%q ' "$xfrmctl" -s "$sock" "$@")" \
		/dev/null >"$tmp/out" 2>&1 || got=$?
	echo "$got"
}
[ "$(tty_run n site disable --filter name c1)" = 1 ] || fail "not confirmed: exit 1"
out_has "site disable: 1 site matches (c1). Disable them? [y/N]"
out_has "site disable: not confirmed: nothing changed"
x 0 -j site show c1
json 'assert d["enabled"] is True'
[ "$(tty_run y site disable --filter name c1)" = 0 ] || fail "confirmed: exit 0"
out_has "site disable: 1 site disabled"
x 0 -j site show c1
json 'assert d["enabled"] is False'
x 0 site enable c1

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
out_has "NAME  GATEWAY       PROBE IP  LOCATION       ACCEPTING  PRIMARY FOR  BACKUP FOR  TUNNELS UP  DOWN  ACTIVE FOR"
out_has "fra1  198.51.100.1  -         Frankfurt, DE  yes        1            1           1           1     1"
x 0 -j pop list
json 'assert d["total"] == 3 and d["pops"][1]["sites_primary"] == 1'
json 'assert d["pops"][0]["accepting"] is True'
json 'p = d["pops"][1]; assert (p["tunnels_up"], p["tunnels_down"], p["sites_active"]) == (1, 1, 0), p'
x 0 site edit b12 backups ams1,lon1
x 1 pop delete lon1
err_has "xfrmctl: pop 'lon1': used by 1 site ('b12')"
x 0 pop edit lon1 accepting no
x 0 pop show lon1
out_re "^accepting: +no$"
x 0 site edit b12 backups ams1
x 0 pop delete lon1
x 1 pop show lon1

# --- records: one identity a site, a long key unless said, values a peer can have, rename
printf 'short-key\n' >"$tmp/short.psk"
chmod 600 "$tmp/short.psk"
x 1 site add g7 id fqdn:B12.EXAMPLE.com psk-file "$tmp/psk" primary fra1 backups ams1
err_has "xfrmctl: site 'g7' id 'fqdn:B12.EXAMPLE.com': already the identity of site 'b12' (fqdn:b12.example.com)"
x 1 site add g7 id fqdn:g7.example.com psk-file "$tmp/short.psk" primary fra1 backups ams1
err_has "xfrmctl: site 'g7' psk: 9 bytes, fewer than 16: one captured IKE_AUTH lets anyone try short keys offline (RFC 7296 §2.15); use a longer key, or psk-short yes to keep this one"
grep -qF short-key "$tmp/err" && fail "the short key was printed"
x 0 site add g7 id fqdn:g7.example.com psk-file "$tmp/short.psk" psk-short yes primary fra1 backups ams1
x 1 site edit g7 source-ip 0.0.0.0
err_has "xfrmctl: site 'g7' source-ip '0.0.0.0': the unspecified address, not a peer's (leave it empty for a dynamic address)"
x 1 site edit g7 source-ip 224.0.0.1
err_has "source-ip '224.0.0.1': a multicast address"
x 1 site edit g7 remote-ts 10.2.3.4/16
err_has "xfrmctl: site 'g7' remote-ts '10.2.3.4/16': host bits set; the network is 10.2.0.0/16"
x 1 site edit g7 backups ""
err_has "xfrmctl: site 'g7' backups: at least one backup POP (the POPs want tunnels to two of them; vendor-rules no for one POP)"
x 0 site edit g7 backups "" vendor-rules no
x 1 site edit g7 primary ""
err_has "xfrmctl: site 'g7' primary: missing (a branch's site connects to its primary POP)"
x 1 pop add fra2 gateway 198.51.100.1
err_has "xfrmctl: pop 'fra2' gateway '198.51.100.1': already the gateway of pop 'fra1'"
x 0 site rename g7 g8
x 1 site show g7
x 0 -j site show g8
json 'assert d["id"] == "g7.example.com" and d["psk_short"] is True and d["vendor_rules"] is False'
x 0 site export
out_has "g8,fqdn:g7.example.com,"
x 1 site rename g8 b12
err_has "xfrmctl: site 'b12': exists"
x 1 site rename nope g9
err_has "xfrmctl: site 'nope': no such site"
x 2 site rename g8
err_has "site rename: OLD and NEW names (site rename OLD NEW)"
x 1 site edit g8 name g9
err_has "a site is renamed with site rename OLD NEW"
x 0 site delete g8

# --- the runtime's verbs
x 0 status
out_re "^sites: +2$"
out_re "^role: +initiator$"
x 0 -j status
json 'assert d["sites"] == 2 and d["role"] == "initiator"'
# The SA view: each IKE SA, its Child SAs under it, as swanctl --list-sas shows them.
x 0 sa list
out_has "b12 pop fra1: 198.51.100.1:500, initiator, up 120 s, rekey in 13000 s, expires in 14280 s"
out_has "  IKE aes256-sha256-prfsha256-modp2048, spi 0011223344556677_8899aabbccddeeff, nat no"
out_has "  local 'fqdn:b12.example.com', remote 'fra1.example.net'"
out_has "  child c0ffee01/c0ffee02: aes256gcm16, installed, reqid 0x494b0001, mark 0x10/0xff, if_id 0, up 120 s"
out_has "    10.1.0.0/24 === 10.2.0.0/24"
out_has "    in 1234 bytes, 10 packets; out 4321 bytes, 12 packets; rekey in 3000 s, expires in 3480 s"
out_has "c1 pop ams1: 198.51.100.2:500, initiator, ike-sa-init"
out_has "  IKE -, spi 0102030405060708_0000000000000000, nat no"
x 0 sa list site c1
out_lacks "b12"
out_has "c1 pop ams1"
x 0 sa list pop fra1
out_has "b12 pop fra1"
out_lacks "c1 pop"
x 2 sa list colour red
err_has "sa list: 'colour' is not a filter (site NAME, pop NAME)"
x 0 -j sa
json 'assert d["sas"][0]["state"] == "up" and d["sas"][0]["children"][0]["ts_local"] == "10.1.0.0/24"'
json 'assert d["sas"][0]["children"][0]["bytes_in"] == 1234 and d["sas"][0]["rekey_in_s"] == 13000'
x 0 -j sa list site b12
json 'assert [s["site"] for s in d["sas"]] == ["b12"]'
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
