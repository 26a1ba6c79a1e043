#!/bin/bash
# xfrmctl's bash completion: objects, verbs, fields and values, and site and POP names asked
# of a stand-in ikd (fake_ikd); with no daemon it completes no names and prints nothing.
# Usage: completion.sh COMPLETION-FILE XFRMCTL FAKE_IKD
set -euo pipefail

completion=$1
xfrmctl=$2
fake=$3
tmp=$(mktemp -d /tmp/ikd-completion.XXXXXX)
sock=$tmp/ikd.sock
fake_pid=
failed=0

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=/dev/null
source "$completion"
complete -p xfrmctl >/dev/null || { echo "FAIL: no completion registered for xfrmctl"; exit 1; }

# check 'LINE' 'EXPECTED...': complete LINE as typed (a trailing space starts a new word)
# with the built xfrmctl as the command, and compare COMPREPLY, sorted, one line.
check() {
	local line=$1 want=$2 got
	local -a words

	read -r -a words <<<"$line"
	[[ $line == *' ' ]] && words+=('')
	words[0]=$xfrmctl
	COMP_WORDS=("${words[@]}")
	COMP_CWORD=$((${#words[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMPREPLY=()
	_xfrmctl 2>"$tmp/stderr"
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	got=${got% }
	if [ "$got" != "$want" ]; then
		echo "FAIL: '$line<TAB>' gave '$got', expected '$want'"
		failed=1
	elif [ -s "$tmp/stderr" ]; then
		echo "FAIL: '$line<TAB>' printed: $(cat "$tmp/stderr")"
		failed=1
	else
		echo "ok: '$line<TAB>' -> '$got'"
	fi
}

# --- no daemon: words only, no names, no noise
export IKD_SOCKET=$tmp/nowhere.sock
check 'xfrmctl si' 'site'
check 'xfrmctl s' 'sa site status'
check 'xfrmctl ' 'help metrics monitor pop refresh sa site status tunnel'
check 'xfrmctl --' '--help --json --socket --version'
check 'xfrmctl -j ' 'help metrics monitor pop refresh sa site status tunnel'
check 'xfrmctl help ' 'metrics monitor pop refresh sa site status tunnel'
check 'xfrmctl tunnel ' 'help initiate rekey terminate'
check 'xfrmctl tunnel rekey b12 fra1 --' '--ike --no-wait --timeout'
check 'xfrmctl sa list ' 'pop site'
check 'xfrmctl help site ' 'add delete disable edit enable export help import list rename show'
check 'xfrmctl help si e' 'edit enable export'
check 'xfrmctl help site add ' ''
check 'xfrmctl metrics --h' '--help'
check 'xfrmctl site ' 'add delete disable edit enable export help import list rename show'
check 'xfrmctl site e' 'edit enable export'
check 'xfrmctl pop ' 'add delete edit help list show'
check 'xfrmctl sa ' 'help list'
check 'xfrmctl status ' 'help show'
check 'xfrmctl refresh ' ''
check 'xfrmctl metrics ' '--help --output -o'
check "xfrmctl metrics -o $tmp/stde" "$tmp/stderr"
check "xfrmctl metrics --output $tmp/stde" "$tmp/stderr"
check "xfrmctl metrics -o x " ''
check 'xfrmctl frob ' ''
check 'xfrmctl site show ' ''
check 'xfrmctl site add b13 pri' 'primary'
check 'xfrmctl site add b13 traffic ' 'IoT Machine Mixed User guest-wifi'
check 'xfrmctl site add b13 psk ' '-'
check 'xfrmctl si ed b12 enabled ' 'no yes'
check 'xfrmctl site edit b12 enabled no vendor-rules ' 'no yes'
check 'xfrmctl site edit b12 psk-s' 'psk-short'
check 'xfrmctl site add b13 psk-short ' 'no yes'
check 'xfrmctl site ren' 'rename'
check 'xfrmctl site list ' '--all --columns --help --page --page-size --reverse --sort enabled id name pop source-ip status throughput traffic'
check 'xfrmctl site list status ' 'disabled down up'
check 'xfrmctl site list status up --sort thr' 'throughput throughput-kbps'
check 'xfrmctl site list --page-size 5 --reverse source-ip ' 'dynamic'
check 'xfrmctl site delete --' '--filter --help --yes'
check 'xfrmctl site disable --filter ' '--yes enabled id name pop source-ip status throughput traffic'
check 'xfrmctl site disable --filter status ' 'disabled down up'
check 'xfrmctl site enable --yes --filter status down tr' 'traffic'
check 'xfrmctl site delete --filter traffic ' 'IoT Machine Mixed User guest-wifi'
check 'xfrmctl site list --columns name,st' 'name,status'
check 'xfrmctl site import x.csv --' '--dry-run --secrets'
check 'xfrmctl site export --' '--with-psk'
check 'xfrmctl pop add lon1 ' 'accepting gateway ike-id location probe-ip'
check 'xfrmctl pop edit lon1 accepting ' 'no yes'
check 'xfrmctl pop add lon1 gateway 192.0.2.1 acc' 'accepting'

# --- a daemon with two POPs and two sites
"$fake" "$sock" "$tmp/store" &
fake_pid=$!
for _ in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.05
done
[ -S "$sock" ] || { echo "FAIL: fake_ikd did not start"; exit 1; }
printf 'Completion-Test-Key-0123456789\n' >"$tmp/psk"
chmod 600 "$tmp/psk"
x() { "$xfrmctl" -s "$sock" "$@" >/dev/null; }
x pop add fra1 gateway 198.51.100.1
x pop add ams1 gateway 198.51.100.2
x site add b12 id fqdn:b12.example.com psk-file "$tmp/psk" primary fra1 backups ams1
x site add c1 id 203.0.113.9 psk-file "$tmp/psk" primary ams1 backups fra1

check "xfrmctl -s $sock site show " 'b12 c1'
check "xfrmctl --socket $sock site show b" 'b12'
check "xfrmctl -s $sock site show b12 " ''
check "xfrmctl -s $sock si del b12 " 'b12 c1'
check "xfrmctl -s $sock site edit " 'b12 c1'
check "xfrmctl -s $sock site rename " 'b12 c1'
check "xfrmctl -s $sock site rename b12 " ''
check "xfrmctl -s $sock site edit c1 primary " 'ams1 fra1'
check "xfrmctl -s $sock site add b13 backups fra1," 'fra1,ams1 fra1,fra1'
check "xfrmctl -s $sock site list pop f" 'fra1'
check "xfrmctl -s $sock site list name c" 'c1'
check "xfrmctl -s $sock pop show " 'ams1 fra1'
check "xfrmctl -s $sock pop delete fra1 a" 'ams1'
IKD_SOCKET=$sock check 'xfrmctl site enable ' 'b12 c1'
check "xfrmctl -s $sock site delete --filter pop a" 'ams1'
check "xfrmctl -s $sock site delete --filter name " 'b12 c1'
# A site name is not a POP name.
check "xfrmctl -s $sock site add b13 primary b" ''

# --- the daemon gone: no names, no noise
kill "$fake_pid"
wait "$fake_pid" 2>/dev/null || true
fake_pid=
check "xfrmctl -s $sock site show " ''

exit "$failed"
