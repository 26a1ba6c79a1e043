#!/bin/sh
# meson install script: install ikd.conf only where none exists, so that `meson install`
# never overwrites an engineer's settings. Honours DESTDIR (made absolute by meson).
# Usage: install-conf.sh SOURCE DESTINATION (an absolute path)
set -eu

src=$1
dest=${DESTDIR:-}$2

if [ -n "${MESON_INSTALL_DRY_RUN:-}" ]; then
	exit 0
fi
if [ -e "$dest" ] || [ -L "$dest" ]; then
	[ -n "${MESON_INSTALL_QUIET:-}" ] || echo "Keeping $dest (it exists)"
	exit 0
fi
mkdir -p "$(dirname "$dest")"
install -m 0644 "$src" "$dest"
[ -n "${MESON_INSTALL_QUIET:-}" ] || echo "Installing $src to $dest"
