#!/bin/bash
# dist/ikd.conf, installed as /etc/ikd/ikd.conf: ikd accepts it as shipped and with every
# line uncommented, and it shows every key that ikd.conf(5) documents.
# Usage: conf-example.sh IKD.CONF IKD.CONF.5 IKD
set -euo pipefail

example=$1
manpage=$2
ikd=$3
tmp=$(mktemp -d /tmp/ikd-conf-example.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0

# A store of our own, so that the check never reads the host's.
store="store = $tmp/sites.conf"

cp "$example" "$tmp/shipped.conf"
echo "$store" >>"$tmp/shipped.conf"
if ! "$ikd" -c "$tmp/shipped.conf" --check >"$tmp/out" 2>&1; then
	echo "FAIL: ikd refuses the example as shipped:"
	cat "$tmp/out"
	failed=1
fi

sed -E 's/^#([a-z-]+ = )/\1/' "$example" >"$tmp/all.conf"
echo "$store" >>"$tmp/all.conf"
if ! "$ikd" -c "$tmp/all.conf" --check >"$tmp/out" 2>&1; then
	echo "FAIL: ikd refuses the example with every line uncommented:"
	cat "$tmp/out"
	failed=1
fi

# ".It Cm key No = ..." (and ".It Cm a No = Ar s , Cm b No = Ar s") in the man page.
grep -E '^\.It Cm [a-z-]+ No =' "$manpage" | grep -oE 'Cm [a-z-]+ No =' |
	awk '{ print $2 }' | sort -u >"$tmp/documented"
grep -oE '^#[a-z-]+ = ' "$example" | tr -d '#= ' | sort -u >"$tmp/shown"
[ -s "$tmp/documented" ] || { echo "FAIL: no keys found in $manpage"; exit 1; }
missing=$(comm -23 "$tmp/documented" "$tmp/shown")
extra=$(comm -13 "$tmp/documented" "$tmp/shown")
if [ -n "$missing" ]; then
	echo "FAIL: ikd.conf(5) documents keys the example lacks:" "$missing"
	failed=1
fi
if [ -n "$extra" ]; then
	echo "FAIL: the example has keys ikd.conf(5) does not document:" "$extra"
	failed=1
fi
if [ "$failed" = 0 ]; then
	echo "ok: $(wc -l <"$tmp/shown") keys, accepted shipped and uncommented"
fi
exit "$failed"
