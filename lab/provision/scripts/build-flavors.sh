#!/usr/bin/env bash
# Build the Debian root filesystems ("flavors") that the lab chroots daemons into.
#
#   build-flavors.sh                      # the default set
#   build-flavors.sh strongswan@sid ...   # only these
#
# `ipsec-lab setup` runs it once per tree. mmdebstrap's own progress lines ("I: ...") are
# passed on, each with the flavor's name.
#
# Each tree goes to $IPSEC_LAB_FLAVORS (default: ${IPSEC_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-lab}/flavors)
# as <impl>-<suite>. A tree that exists is kept; a new one is built beside it under a
# temporary name and renamed into place only when mmdebstrap succeeded.
set -euo pipefail

DEFAULT_FLAVORS=(libreswan@bookworm libreswan@sid strongswan@bookworm strongswan@sid)
MIRROR=${IPSEC_LAB_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${IPSEC_LAB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
FLAVORS_DIR=${IPSEC_LAB_FLAVORS:-${IPSEC_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-lab}/flavors}
HOOKS=/usr/share/mmdebstrap/hooks

# Lean package lists: what the daemon, its control tool and the lab's helpers need.
declare -A PACKAGES=(
    [libreswan]=libreswan,systemd-standalone-tmpfiles,libnss3-tools,iproute2
    [strongswan]=charon-systemd,libstrongswan-standard-plugins,strongswan-swanctl,iproute2
)

die() { echo "build-flavors: $*" >&2; exit 1; }

command -v mmdebstrap >/dev/null || die "mmdebstrap not found (apt-get install mmdebstrap)"

mirror_lines() {  # suite -> one apt source line per argument
    local suite=$1
    echo "deb $MIRROR $suite main"
    if [[ $suite != sid && $suite != unstable ]]; then
        echo "deb $MIRROR $suite-updates main"
        echo "deb $SECURITY_MIRROR $suite-security main"
    fi
}

build_one() {  # impl@suite
    local flavor=$1 impl suite dest tmp started elapsed
    impl=${flavor%%@*}
    suite=${flavor#*@}
    [[ $flavor == *@* && -n $impl && -n $suite ]] || die "$flavor: expected IMPL@SUITE"
    [[ -n ${PACKAGES[$impl]:-} ]] || die "$flavor: unknown daemon $impl (known: ${!PACKAGES[*]})"
    dest=$FLAVORS_DIR/$impl-$suite
    if [[ -d $dest ]]; then
        echo "$flavor: $dest exists, kept"
        return 0
    fi
    mkdir -p "$FLAVORS_DIR"
    tmp=$(mktemp -d "$FLAVORS_DIR/.$impl-$suite.XXXXXX")
    # mmdebstrap wants an empty directory; the trap removes a half-built tree
    trap 'rm -rf -- "$tmp"' EXIT
    local -a opts=(
        --variant=apt
        --include="${PACKAGES[$impl]}"
        --dpkgopt='path-exclude=/usr/share/man/*'
        --dpkgopt='path-exclude=/usr/share/doc/*'
        --dpkgopt='path-exclude=/usr/share/locale/*'
    )
    [[ $suite == sid || $suite == unstable ]] && opts+=(--aptopt='Acquire::Check-Valid-Until "false"')
    # bookworm: merge /usr in a hook instead of installing usrmerge (and perl with it)
    [[ $suite == bookworm ]] && opts+=(--hook-dir="$HOOKS/maybe-merged-usr")
    local -a sources
    mapfile -t sources < <(mirror_lines "$suite")
    echo "$flavor: building into $tmp"
    started=$EPOCHREALTIME
    # the whole output into the log; its progress lines ("I: ...") on to the person too
    mmdebstrap "${opts[@]}" "$suite" "$tmp" "${sources[@]}" 2>&1 | tee "$tmp.log" \
        | sed -un "s|^I: |$flavor: mmdebstrap: |p" \
        || { tail -20 "$tmp.log" >&2; rm -f "$tmp.log"; die "$flavor: mmdebstrap failed"; }
    rm -f "$tmp.log"
    chmod 755 "$tmp"
    mv -T "$tmp" "$dest"
    trap - EXIT
    elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
    printf '%s: built %s in %.1f s, %s\n' "$flavor" "$dest" "$elapsed" "$(du -sh "$dest" | cut -f1)"
}

flavors=("$@")
[[ ${#flavors[@]} -gt 0 ]] || flavors=("${DEFAULT_FLAVORS[@]}")
for flavor in "${flavors[@]}"; do
    build_one "$flavor"
done
