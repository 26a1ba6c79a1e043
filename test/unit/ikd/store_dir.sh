#!/bin/bash
# ikd -t and ikd's start-up check the store's directory: a missing one, a file, one its
# group or others can enter are refused with the fix named; a good one passes.
# Usage: store_dir.sh IKD
set -euo pipefail
ikd=$1
tmp=$(mktemp -d /tmp/ikd-store-dir.XXXXXX)
trap 'chmod -R u+rwx "$tmp"; rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; cat "$tmp/out"; exit 1; }
check() {	# check WANT-STATUS STORE-PATH: ikd -t with that store
	local got=0
	printf 'store = %s\ncontrol-socket = %s/ikd.sock\n' "$2" "$tmp" >"$tmp/ikd.conf"
	"$ikd" -c "$tmp/ikd.conf" -t >"$tmp/out" 2>&1 || got=$?
	[ "$got" = "$1" ] || fail "ikd -t with store $2 exited $got, expected $1"
}
has() { grep -qF -- "$1" "$tmp/out" || fail "output lacks '$1'"; }

mkdir -m 700 "$tmp/ok"
check 0 "$tmp/ok/sites.conf"
has "are valid (0 sites, 0 POPs)"
check 1 "$tmp/missing/sites.conf"
has "store directory $tmp/missing: no such directory (ikd saves every change there); create it: install -d -m 700 $tmp/missing"
touch "$tmp/file"
check 1 "$tmp/file/sites.conf"
has "store directory $tmp/file: not a directory"
mkdir -m 755 "$tmp/open"
check 1 "$tmp/open/sites.conf"
has "store directory $tmp/open: mode 0755 lets group and others in (the store holds the sites' keys); chmod 700 $tmp/open"
[ "$(stat -c %a "$tmp/open")" = 755 ] || fail "ikd -t changed the directory's mode"
mkdir -m 750 "$tmp/group"
check 1 "$tmp/group/sites.conf"
has "mode 0750 lets its group in"
echo "ok: the store's directory is checked by ikd -t"
