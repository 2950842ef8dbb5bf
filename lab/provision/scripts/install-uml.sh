#!/usr/bin/env bash
# Puts a User-Mode Linux kernel that boots on this CPU into the lab's cache.
#
# Debian 12's user-mode-linux (6.1) panics at the first guest process on CPUs
# with AMX state ("ptrace set fp regs failed"); the newer UML of Debian's
# unstable suite boots there. It is built against a newer glibc, so it comes
# with that suite's libc6, unpacked beside it, and its ELF interpreter points
# there (patchelf). Nothing is installed into the system.
#
#   install-uml.sh            # idempotent; UML_SUITE=trixie|sid (default sid)
#
# `ipsec-lab setup` runs it (the first step).
set -euo pipefail
cache=${IPSEC_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-lab}
dest=$cache/uml
suite=${UML_SUITE:-sid}

if [ -x "$dest/linux.uml" ] && compgen -G "$dest/modules/*/modules.dep" >/dev/null; then
    echo "install-uml: $dest/linux.uml is there ($(basename "$(dirname "$(compgen -G "$dest/modules/*/modules.dep" | head -1)")"))"
    exit 0
fi
command -v patchelf >/dev/null || { echo "install-uml: patchelf is missing (apt-get install patchelf)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/root"
cat >"$work/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main
SRC
apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=-
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work" -o "Dir::Cache::archives=$work/archives"
          -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root -q)
echo "install-uml: [1/3] fetching user-mode-linux and libc6 from Debian $suite"
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$work" && apt-get "${apt_opts[@]}" download user-mode-linux libc6 >/dev/null)
echo "install-uml: [2/3] unpacking them"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done

echo "install-uml: [3/3] into $dest, its ELF interpreter pointed at the libc beside it"
new=$dest.new
rm -rf "$new"
mkdir -p "$new/lib"
cp -a "$work/root/usr/lib/x86_64-linux-gnu/." "$new/lib/"
cp -a "$work/root/usr/lib/uml/modules" "$new/modules"
cp "$work/root/usr/bin/linux.uml" "$new/linux.uml"
patchelf --set-interpreter "$dest/lib/ld-linux-x86-64.so.2" --set-rpath "$dest/lib" "$new/linux.uml"
rm -rf "$dest"
mv "$new" "$dest"
echo "install-uml: $(ls "$dest/modules") from $suite in $dest"
