#!/bin/bash
# Build the Debian package from a clean copy of a commit (git archive, never the working
# tree) in a temporary directory, run lintian on the .deb, and copy the .deb out.
# Usage: test/package/build-deb.sh [-o OUTDIR] [TREE-ISH]   (default: HEAD, /tmp/ikd-deb)
# Needs dpkg-dev, debhelper, lintian and the Build-Depends of debian/control. Exit status:
# 0 built and lintian reports no error, 1 otherwise.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
out=/tmp/ikd-deb
treeish=HEAD

while [ $# -gt 0 ]; do
	case $1 in
	-o) out=$2; shift 2 ;;
	-h|--help) sed -n '2,6p' "$0"; exit 0 ;;
	-*) echo "build-deb.sh: unknown option '$1'" >&2; exit 2 ;;
	*) treeish=$1; shift ;;
	esac
done

for tool in git dpkg-buildpackage dh lintian; do
	command -v "$tool" >/dev/null || {
		echo "build-deb.sh: $tool is missing (apt-get install dpkg-dev debhelper lintian)" >&2
		exit 1
	}
done

tmp=$(mktemp -d /tmp/ikd-build-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

tree=$(git -C "$top" rev-parse --verify "$treeish^{tree}")
git -C "$top" archive --format=tar --prefix=src/ "$treeish" | tar -x -C "$tmp"
[ -f "$tmp/src/debian/control" ] || { echo "build-deb.sh: $treeish has no debian/" >&2; exit 1; }
version=$(dpkg-parsechangelog -l "$tmp/src/debian/changelog" -S Version)
upstream=${version%-*}
src=$tmp/ikd-$upstream
mv "$tmp/src" "$src"
echo "building ikd $version from $treeish (tree $tree) in $tmp"

# The source package first, from the clean tree, for lintian's checks of debian/.
(cd "$tmp" && tar --exclude="ikd-$upstream/debian" -cJf "ikd_$upstream.orig.tar.xz" \
	"ikd-$upstream" && dpkg-source -b "ikd-$upstream") >"$tmp/source.log" 2>&1 ||
	{ cat "$tmp/source.log"; echo "build-deb.sh: dpkg-source failed" >&2; exit 1; }

if ! (cd "$src" && dpkg-checkbuilddeps) 2>"$tmp/deps"; then
	cat "$tmp/deps" >&2
	echo "build-deb.sh: install the missing Build-Depends with apt-get" >&2
	exit 1
fi

if ! (cd "$src" && dpkg-buildpackage -b -uc -us) >"$tmp/build.log" 2>&1; then
	tail -n 60 "$tmp/build.log"
	echo "build-deb.sh: dpkg-buildpackage failed (the last 60 lines above)" >&2
	exit 1
fi
grep -E '^ *(Ok|Fail|Skipped|Timeout): ' "$tmp/build.log" | sed 's/^ */unit tests: /' || true

mkdir -p "$out"
debs=("$tmp"/*.deb)
cp "${debs[@]}" "$tmp"/*.changes "$tmp"/*.buildinfo "$tmp"/*.dsc "$tmp"/*.tar.xz "$out"/
for deb in "${debs[@]}"; do
	echo "built $out/$(basename "$deb")"
	dpkg-deb -f "$deb" Package Version Architecture Depends Installed-Size | sed 's/^/  /'
done

# Every tag lintian finds, including informational ones and overrides, then a count.
status=0
lintian --fail-on error --display-info --show-overrides --tag-display-limit 0 "${debs[@]}" \
	"$tmp"/*.dsc >"$tmp/lintian.out" 2>&1 || status=$?
grep -v 'running with root privileges' "$tmp/lintian.out" >"$tmp/lintian" || true
if [ -s "$tmp/lintian" ]; then
	echo "lintian:"
	sed 's/^/  /' "$tmp/lintian"
fi
for level in E W I O; do
	printf '%s: %s  ' "$level" "$(grep -c "^$level: " "$tmp/lintian" || true)"
done
echo
if grep -q '^E: ' "$tmp/lintian" || [ "$status" != 0 ]; then
	echo "build-deb.sh: lintian reports errors" >&2
	exit 1
fi
echo "ok: $out/ikd_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).deb"
