#!/bin/bash
# Check a built ikd .deb without installing it: unpack it into a temporary root
# (dpkg-deb -x) and check its files, modes, conffiles, maintainer scripts and unit, and
# that the unpacked programs run. Nothing is installed, no service is started.
# Usage: test/package/install-test.sh [DEB]   (default: /tmp/ikd-deb/ikd_*.deb)
set -euo pipefail

deb=${1:-}
if [ -z "$deb" ]; then
	for d in /tmp/ikd-deb/ikd_*.deb; do deb=$d; done
fi
if [ ! -f "$deb" ]; then
	echo "install-test.sh: no .deb (build one with test/package/build-deb.sh)" >&2
	exit 2
fi

tmp=$(mktemp -d /tmp/ikd-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
ctl=$tmp/DEBIAN
failed=0

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failed=1; }
# expect WHAT COMMAND...: WHAT holds when COMMAND succeeds.
expect() {
	local what=$1

	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}

dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$ctl"
dpkg-deb -c "$deb" >"$tmp/contents"
echo "checking $deb ($(dpkg-deb -f "$deb" Version))"
# The units' directory is debhelper's choice: /lib in Debian 12, /usr/lib in 13 (merged /usr).
udir=lib/systemd/system
[ -e "$root/usr/lib/systemd/system/ikd.service" ] && udir=usr/lib/systemd/system

# --- files, owners and modes as dpkg will create them
expect=(
	'-rwxr-xr-x root/root ./usr/sbin/ikd'
	'-rwxr-xr-x root/root ./usr/sbin/xfrmctl'
	'-rw-r--r-- root/root ./etc/ikd/ikd.conf'
	'-rw-r--r-- root/root ./etc/ikd/ikd.conf.example'
	"-rw-r--r-- root/root ./$udir/ikd.service"
	"-rw-r--r-- root/root ./$udir/ikd-metrics.service"
	"-rw-r--r-- root/root ./$udir/ikd-metrics.timer"
	'-rw-r--r-- root/root ./usr/lib/tmpfiles.d/ikd.conf'
	'-rw-r--r-- root/root ./usr/share/bash-completion/completions/xfrmctl'
	'-rw-r--r-- root/root ./usr/share/man/man8/ikd.8.gz'
	'-rw-r--r-- root/root ./usr/share/man/man8/xfrmctl.8.gz'
	'-rw-r--r-- root/root ./usr/share/man/man5/ikd.conf.5.gz'
	'-rw-r--r-- root/root ./usr/share/doc/ikd/copyright'
)
awk '{ print $1, $2, $6 }' "$tmp/contents" >"$tmp/modes"
for e in "${expect[@]}"; do
	if grep -qxF -- "$e" "$tmp/modes"; then
		ok "$e"
	else
		fail "expected '$e', the package has: $(grep -F "${e##* }" "$tmp/modes" || echo nothing)"
	fi
done
if grep -E '^.{8}w' "$tmp/modes" | grep -q .; then
	fail "world-writable: $(grep -E '^.{8}w' "$tmp/modes")"
else
	ok "nothing world-writable"
fi
if awk '$1 ~ /[sS]/' "$tmp/modes" | grep -q .; then
	fail "setuid/setgid: $(awk '$1 ~ /[sS]/' "$tmp/modes")"
else
	ok "nothing setuid or setgid"
fi
if awk '$2 != "root/root"' "$tmp/modes" | grep -q .; then
	fail "not owned by root: $(awk '$2 != "root/root"' "$tmp/modes")"
else
	ok "everything owned by root"
fi
# The store's directory (pre-shared keys) is made at run time, root-only: never shipped
# readable by others.
if grep -q ' \./var/lib/ikd/*$' "$tmp/modes"; then
	expect "/var/lib/ikd shipped 0700 root" \
		grep -qxF 'drwx------ root/root ./var/lib/ikd/' "$tmp/modes"
else
	ok "/var/lib/ikd not shipped"
fi
expect "tmpfiles.d makes /var/lib/ikd 0700 root" \
	grep -qxF 'd /var/lib/ikd 0700 root root -' "$root/usr/lib/tmpfiles.d/ikd.conf"

# --- conffiles and maintainer scripts
expect "/etc/ikd/ikd.conf is a conffile" grep -qxF /etc/ikd/ikd.conf "$ctl/conffiles"
# dh_installsystemd's enabling snippet enables on first install; --no-enable's only
# re-enables a unit the engineer had enabled (guarded by debian-installed).
if grep -q 'deb-systemd-helper enable' "$ctl/postinst" &&
	! grep -q 'deb-systemd-helper debian-installed' "$ctl/postinst"; then
	fail "postinst enables ikd.service"
elif grep -qE 'deb-systemd-invoke (start|[$]_dh_action)' "$ctl/postinst"; then
	fail "postinst starts ikd.service"
else
	ok "postinst neither enables nor starts ikd.service (re-enables only if it was enabled)"
fi
expect "postinst restarts a running ikd on upgrade" \
	grep -q 'deb-systemd-invoke try-restart' "$ctl/postinst"
expect "prerm stops ikd on removal" grep -q 'deb-systemd-invoke stop ikd.service' "$ctl/prerm"
expect "prerm stops the metrics timer on removal" \
	grep -q 'deb-systemd-invoke stop ikd-metrics.timer' "$ctl/prerm"
expect "postrm purge removes /etc/ikd and /var/lib/ikd" \
	grep -q 'rm -rf /etc/ikd /var/lib/ikd' "$ctl/postrm"
for s in postinst prerm postrm; do
	sh -n "$ctl/$s" || fail "$s: not valid sh"
done
# Remove (not purge) must keep the settings and the store: no rm outside the purge block.
if awk '/"\$1" = "?purge"?/ { purge = 1 } /^fi/ { purge = 0 } !purge && /rm -/' \
	"$ctl/postrm" | grep -q .; then
	fail "postrm removes files outside purge"
else
	ok "remove keeps /etc/ikd and /var/lib/ikd"
fi

# --- the programs run from the unpacked tree, with the libraries Depends names
for p in ikd xfrmctl; do
	if v=$("$root/usr/sbin/$p" --version 2>&1); then
		ok "$p --version: $v"
	else
		fail "$p --version: $v"
	fi
	if ldd "$root/usr/sbin/$p" | grep -q 'not found'; then
		fail "$p: $(ldd "$root/usr/sbin/$p" | grep 'not found')"
	fi
done
ok "Depends: $(dpkg-deb -f "$deb" Depends)"

# --- ikd accepts the shipped ikd.conf (with a store of our own)
cp "$root/etc/ikd/ikd.conf" "$tmp/ikd.conf"
echo "store = $tmp/sites.conf" >>"$tmp/ikd.conf"
if out=$("$root/usr/sbin/ikd" -c "$tmp/ikd.conf" --check 2>&1); then
	ok "ikd --check accepts /etc/ikd/ikd.conf"
else
	fail "ikd --check /etc/ikd/ikd.conf: $out"
fi
expect "ikd.conf is the example" cmp -s "$root/etc/ikd/ikd.conf" "$root/etc/ikd/ikd.conf.example"

# --- the unit
unit=$root/$udir/ikd.service
# shellcheck disable=SC2016 # $MAINPID is for systemd
for line in 'Type=notify' 'NotifyAccess=main' 'WatchdogSec=30s' 'ExecStart=/usr/sbin/ikd' \
	'ExecReload=/bin/kill -HUP $MAINPID' 'StateDirectory=ikd' 'StateDirectoryMode=0700' \
	'RuntimeDirectory=ikd' 'ProtectSystem=strict' 'NoNewPrivileges=yes'; do
	expect "unit: $line" grep -qxF -- "$line" "$unit"
done
expect "metrics unit: xfrmctl metrics -o into the node exporter's directory" grep -qxF \
	'ExecStart=/usr/sbin/xfrmctl metrics -o /var/lib/prometheus/node-exporter/ikd.prom' \
	"$root/$udir/ikd-metrics.service"
if command -v systemd-analyze >/dev/null; then
	# verify wants ExecStart to exist: point it at the unpacked binary.
	mkdir -p "$tmp/unit"
	sed "s|^ExecStart=/usr/sbin/ikd|ExecStart=$root/usr/sbin/ikd|" "$unit" >"$tmp/unit/ikd.service"
	if out=$(systemd-analyze verify --man=no "$tmp/unit/ikd.service" 2>&1); then
		ok "systemd-analyze verify: clean"
	else
		fail "systemd-analyze verify: $out"
	fi
	score=$(systemd-analyze security --offline=true "$tmp/unit/ikd.service" 2>/dev/null |
		grep 'Overall exposure level' || true)
	echo "info: systemd-analyze security: ${score:-not available}"
	# The metrics timer and the service it starts (xfrmctl metrics -o for the node exporter).
	sed "s|^ExecStart=/usr/sbin/xfrmctl|ExecStart=$root/usr/sbin/xfrmctl|" \
		"$root/$udir/ikd-metrics.service" >"$tmp/unit/ikd-metrics.service"
	cp "$root/$udir/ikd-metrics.timer" "$tmp/unit/"
	if out=$(systemd-analyze verify --man=no "$tmp/unit/ikd-metrics.service" \
		"$tmp/unit/ikd-metrics.timer" 2>&1); then
		ok "systemd-analyze verify ikd-metrics.service and .timer: clean"
	else
		fail "systemd-analyze verify ikd-metrics: $out"
	fi
else
	echo "skip: systemd-analyze is not installed"
fi

# --- bash completion loads and registers itself
if bash -c "source '$root/usr/share/bash-completion/completions/xfrmctl' &&
	complete -p xfrmctl" >/dev/null 2>&1; then
	ok "bash completion for xfrmctl loads"
else
	fail "bash completion for xfrmctl does not load"
fi

# --- man pages
if command -v mandoc >/dev/null; then
	for m in man8/ikd.8 man8/xfrmctl.8 man5/ikd.conf.5; do
		zcat "$root/usr/share/man/$m.gz" | mandoc -Tlint -W warning >"$tmp/lint" 2>&1 ||
			true
		if [ -s "$tmp/lint" ]; then fail "$m: $(cat "$tmp/lint")"; else ok "$m: mandoc -Tlint clean"; fi
	done
fi

if [ "$failed" = 0 ]; then
	echo "install-test.sh: all checks passed"
else
	echo "install-test.sh: FAILED"
fi
exit "$failed"
