#!/usr/bin/env bash
# Build racoon, setkey and racoonctl (ipsec-tools) from source into flavor prefixes:
#
#   build-racoon.sh                     # both releases: racoon@0.8.2 racoon@0.9.1
#   build-racoon.sh racoon@0.9.1        # only this one
#
# `ipsec-lab setup` runs it once per release; each release's steps say [n/m].
#
# Each release goes to $FLAVORS_DIR/racoon-<release>/ (sbin/racoon, sbin/setkey,
# sbin or bin/racoonctl), built without shared libraries so that the binaries need only
# libc and libcrypto of the machine that runs them. A prefix that exists is kept; a new
# one is built in a temporary directory and renamed into place only when every step
# succeeded.
#
# Sources: with IPSEC_LAB_RACOON_SOURCES=DIR, the release tarballs in DIR (offline
# machines, CI); otherwise the pinned commit of the public repository below, cloned with
# git and archived the same way. Either way the archive's commit id and (for a tarball) its
# sha256 must be the pinned ones before anything is built.
set -euo pipefail

REPOSITORY=${IPSEC_LAB_RACOON_REPOSITORY:-https://github.com/rdratlos/racoon-ipsec-tools}
FLAVORS_DIR=${IPSEC_LAB_FLAVORS:-${IPSEC_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-lab}/flavors}
SOURCES=${IPSEC_LAB_RACOON_SOURCES:-}
DEFAULT_RELEASES=(0.8.2 0.9.1)

# release -> archive name, commit, sha256 of the archive
declare -A ARCHIVE=([0.8.2]=ipsec-tools-0.8.2+20140711-14 [0.9.1]=ipsec-tools-0.9.1)
declare -A COMMIT=([0.8.2]=22c8e3964db8b69c2a381fa7cae1cba59a6722d9
                   [0.9.1]=1c3c760d7828b0d47b57f311edb6f7936de2c012)
declare -A SHA256=([0.8.2]=951d334f3e4770495ec2797ade9385661e5df9c72e9cbf948b5bc4ba65973945
                   [0.9.1]=b9425d94f1e63cdfed71d60bddd16a7d5f319c66bbf786883d0e91b8864de3e0)

# configure options both releases share; the release's own follow in configure_flags
COMMON_FLAGS=(--enable-ipv6 --enable-dpd --enable-natt --enable-frag --enable-hybrid
              --enable-adminport --disable-security-context --without-readline
              --disable-shared)
BUILD_PACKAGES=(build-essential autoconf automake libtool bison flex libfl-dev libssl-dev
                pkg-config quilt git ca-certificates)

die() { echo "build-racoon: $*" >&2; exit 1; }

need_tools() {
    local missing=() tool
    for tool in gcc make autoreconf libtoolize bison flex quilt pkg-config; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    [[ -f /usr/include/openssl/evp.h ]] || missing+=("openssl headers")
    [[ ${#missing[@]} -eq 0 ]] || die "missing ${missing[*]} (apt-get install ${BUILD_PACKAGES[*]})"
}

fetch_archive() {  # release dest-file: the pinned archive into dest-file, checked
    local release=$1 out=$2 name=${ARCHIVE[$1]} got
    if [[ -n $SOURCES ]]; then
        [[ -f $SOURCES/$name.tar.gz ]] || die "racoon@$release: $SOURCES/$name.tar.gz not found (IPSEC_LAB_RACOON_SOURCES)"
        cp "$SOURCES/$name.tar.gz" "$out"
        got=$(sha256sum "$out" | cut -d' ' -f1)
        [[ $got == "${SHA256[$release]}" ]] \
            || die "racoon@$release: $SOURCES/$name.tar.gz has sha256 $got, expected ${SHA256[$release]}"
    else
        command -v git >/dev/null || die "racoon@$release: git not found (apt-get install git), or set IPSEC_LAB_RACOON_SOURCES to a directory of the release tarballs"
        local clone=$out.git
        git init -q --bare "$clone"
        git -C "$clone" fetch -q --depth 1 "$REPOSITORY" "${COMMIT[$release]}" \
            || die "racoon@$release: could not fetch commit ${COMMIT[$release]} from $REPOSITORY"
        git -C "$clone" archive --format=tar.gz --prefix="$name/" -o "$out" "${COMMIT[$release]}"
        rm -rf -- "$clone"
    fi
    got=$(zcat "$out" | git get-tar-commit-id 2>/dev/null || true)
    [[ $got == "${COMMIT[$release]}" ]] \
        || die "racoon@$release: the archive is of commit ${got:-none}, expected ${COMMIT[$release]}"
}

configure_flags() {  # release prefix -> configure's arguments, one per line
    local release=$1 prefix=$2
    printf '%s\n' --prefix="$prefix" --sysconfdir="$prefix/etc" --localstatedir="$prefix/var" \
        "${COMMON_FLAGS[@]}"
    case $release in
        0.8.2) printf '%s\n' --with-kernel-headers=/usr/include ;;
        # without it configure asks systemd.pc and installs units outside the prefix
        0.9.1) printf '%s\n' --without-systemdsystemunitdir --disable-gssapi --without-libldap \
                   --without-libpam ;;
    esac
}

build_one() {  # racoon@RELEASE
    local flavor=$1 release=${1#racoon@} dest tmp work started elapsed cflags
    [[ $flavor == racoon@* && -n ${ARCHIVE[$release]:-} ]] \
        || die "$flavor: unknown release (known: ${!ARCHIVE[*]}, as racoon@RELEASE)"
    dest=$FLAVORS_DIR/racoon-$release
    if [[ -x $dest/sbin/racoon ]]; then
        echo "$flavor: $dest exists, kept"
        return 0
    fi
    mkdir -p "$FLAVORS_DIR"
    tmp=$(mktemp -d "$FLAVORS_DIR/.racoon-$release.XXXXXX")
    trap 'rm -rf -- "$tmp"' EXIT
    started=$EPOCHREALTIME
    local steps=6 n=1
    [[ $release == 0.8.2 ]] && steps=7
    echo "$flavor: [1/$steps] fetching and checking the sources"
    fetch_archive "$release" "$tmp/src.tar.gz"
    tar -xzf "$tmp/src.tar.gz" -C "$tmp"
    work=$tmp/${ARCHIVE[$release]}
    local log=$tmp/build.log
    step() {  # what, command...: run in the source tree; on failure the log's tail and the step
        local what=$1; shift
        n=$((n + 1))
        echo "$flavor: [$n/$steps] $what"
        (cd "$work" && "$@") >>"$log" 2>&1 \
            || { tail -15 "$log" >&2; die "$flavor: $what failed (the lines above are its end)"; }
    }
    if [[ $release == 0.8.2 ]]; then  # Debian's 45 patches, as the last Debian package had them
        step "applying Debian's patches" env QUILT_PATCHES=debian/patches quilt push -a -q
        cflags="-g -O2 -Wno-error -fcommon -Wno-deprecated-declarations"
    else
        cflags="-g -O2"
    fi
    step "autoreconf" autoreconf -fi
    local -a flags
    mapfile -t flags < <(configure_flags "$release" "$dest")
    step "configure" env CFLAGS="$cflags" ./configure "${flags[@]}"
    step "make" make -j"$(nproc)"
    step "make install" make install DESTDIR="$tmp/root"
    # the prefix as installed, moved into place in one rename
    echo "$flavor: [$steps/$steps] into $dest"
    mv -T "$tmp/root$dest" "$tmp/prefix"
    rm -rf -- "$tmp/prefix/share/man" "$tmp/prefix/share/doc"
    for exe in racoon setkey; do
        [[ -x $tmp/prefix/sbin/$exe ]] || die "$flavor: make install made no sbin/$exe"
    done
    chmod 755 "$tmp/prefix"
    mv -T "$tmp/prefix" "$dest"
    rm -rf -- "$tmp"
    trap - EXIT
    elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
    printf '%s: built %s in %.1f s (%s)\n' "$flavor" "$dest" "$elapsed" \
        "$("$dest/sbin/racoon" -V 2>&1 | head -1)"
}

need_tools
flavors=("$@")
[[ ${#flavors[@]} -gt 0 ]] || flavors=("${DEFAULT_RELEASES[@]/#/racoon@}")
for flavor in "${flavors[@]}"; do
    build_one "$flavor"
done
