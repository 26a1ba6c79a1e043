#!/bin/bash
# The store survives a death at every step of a write: strace kills store_tool at the N-th
# call of each system call the write makes (open, write, fchmod, fsync, rename, ...), one run
# per call, and the store must then load as the old one or the new one, whole, never a mix;
# a temporary file left behind is never the store (ikd removes such leftovers at start-up:
# test/netns/tunnels.sh). Because the write fsyncs the file before the rename and the
# directory after it, the states a power cut can leave on a journalling file system are these
# same ones. Exit 77 without strace.
#   store_steps.sh STORE_TOOL
set -uo pipefail
tool=${1:?usage: store_steps.sh STORE_TOOL}
command -v strace >/dev/null || { echo "store_steps.sh: strace is not installed: skipped"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
store=$dir/sites.conf
fails=0
# Built with AddressSanitizer, the leak check cannot run under ptrace (strace): off for it.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
"$tool" write "$store" 300 old || exit 1
# Which calls, how many times: one traced write of the new store.
strace -f -qq -o "$dir/trace" "$tool" write "$dir/probe.conf" 400 new || exit 1
calls=$(awk -F'(' '{ sub(/^[0-9]+ +/, "", $1); print $1 }' "$dir/trace" |
	grep -E '^(openat|write|fchmod|fsync|fdatasync|rename|renameat|renameat2|close|unlink)$' |
	sort | uniq -c)
runs=0 olds=0 news=0
while read -r n call; do
	for k in $(seq 1 "$n"); do
		"$tool" write "$store" 300 old || exit 1
		{ strace -f -qq -o /dev/null -e trace="$call" -e inject="$call":signal=KILL:when="$k" \
			"$tool" write "$store" 400 new >/dev/null 2>&1; } 2>/dev/null
		runs=$((runs + 1))
		if ! got=$("$tool" check "$store" 2>&1); then
			echo "store_steps.sh: FAIL: killed at $call #$k: $got"
			fails=$((fails + 1))
			continue
		fi
		case "$got" in
		"300 old") olds=$((olds + 1)) ;;
		"400 new") news=$((news + 1)) ;;
		*) echo "store_steps.sh: FAIL: killed at $call #$k: the store holds '$got'"; fails=$((fails + 1)) ;;
		esac
		rm -f "$dir"/sites.conf.tmp.*
	done
done <<<"$calls"
echo "store_steps.sh: $runs kills, one at each call of a write ($(echo $calls | tr '\n' ' ')): old store $olds times, new $news, never a mix"
[ "$runs" -gt 5 ] || { echo "store_steps.sh: FAIL: only $runs steps traced"; exit 1; }
[ "$olds" -gt 0 ] && [ "$news" -gt 0 ] || { echo "store_steps.sh: FAIL: one outcome only"; exit 1; }
[ "$fails" = 0 ]
