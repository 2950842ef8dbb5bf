#!/usr/bin/env bash
# Builds the lab's own User-Mode Linux kernel from Debian's linux-source-6.12: everything
# the lab needs built in (no modules to load at boot), and time-travel support, so that
# lifecycle cells can skip the guest's idle time. Cached: a kernel that exists is kept.
#
#   ci/build-uml.sh            # idempotent; about 10 minutes on 2 cores the first time
#
# ci/setup.sh runs it (ci/setup.sh --no-own-uml does not); without it, cells marked
# time_travel run in real time on Debian's UML, or skip if they need time travel.
# The result is $cache/uml-own/linux (stripped) with an empty modules directory beside it,
# which lab.kernel.uml finds like the Debian kernel. The one source change: CRYPTO_DRBG selects
# CRYPTO_JITTERENTROPY, whose self-test never ends on time-travel's simulated clock.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${IPSEC_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-lab}
dest=$cache/uml-own
version=6.12

if [ -x "$dest/linux" ] && [ -f "$dest/config" ]; then
    echo "build-uml: $dest/linux is there ($(cat "$dest/release"))"
    exit 0
fi
# gcc without its recommends lacks libc6-dev, which UML (a program linked with libc) needs
missing=()
for p in "linux-source-$version" flex bison bc make gcc libc6-dev binutils perl xz-utils; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "build-uml: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || { echo "build-uml: could not install ${missing[*]} (linux-source-$version is in Debian 12's" \
                  "bookworm-security and point releases)" >&2; exit 1; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ipl-build-uml.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$EPOCHREALTIME
tar -C "$work" -xf "/usr/src/linux-source-$version.tar.xz"
src=$(echo "$work"/linux-source-*)
cd "$src"

# jitterentropy loops forever on the simulated clock: DRBG must not pull it in
sed -i '/^config CRYPTO_DRBG$/,/^config /s/^\tselect CRYPTO_JITTERENTROPY$/\tselect CRYPTO_JITTERENTROPY if !UML_TIME_TRAVEL_SUPPORT/' crypto/Kconfig
grep -q 'CRYPTO_JITTERENTROPY if !UML_TIME_TRAVEL_SUPPORT' crypto/Kconfig \
    || { echo "build-uml: crypto/Kconfig did not take the jitterentropy change" >&2; exit 1; }

make ARCH=um defconfig >/dev/null
enable=(UML_TIME_TRAVEL_SUPPORT NET INET IPV6 XFRM XFRM_USER XFRM_ALGO NET_KEY
        INET_ESP INET6_ESP INET_AH INET6_AH INET_IPCOMP INET6_IPCOMP XFRM_IPCOMP
        INET_XFRM_TUNNEL INET6_XFRM_TUNNEL INET_TUNNEL INET6_TUNNEL
        CRYPTO_AES CRYPTO_CBC CRYPTO_CTR CRYPTO_GCM CRYPTO_SEQIV CRYPTO_ECHAINIV
        CRYPTO_AUTHENC CRYPTO_HMAC CRYPTO_SHA1 CRYPTO_SHA256 CRYPTO_SHA512 CRYPTO_MD5
        CRYPTO_DES CRYPTO_CHACHA20POLY1305 CRYPTO_CCM CRYPTO_CMAC CRYPTO_XCBC CRYPTO_NULL
        CRYPTO_DEFLATE CRYPTO_USER_API_HASH VETH TUN NET_NS HOSTFS UNIX PACKET NETFILTER
        NF_TABLES NF_TABLES_INET NF_TABLES_IPV4 NF_TABLES_IPV6 NFT_NAT NFT_MASQ NF_NAT
        NET_SCHED NET_SCH_NETEM NET_SCH_TBF DEVTMPFS TMPFS UNIX98_PTYS MAGIC_SYSRQ
        IPV6_MULTIPLE_TABLES NET_IPIP IPV6_TUNNEL)
args=()
for opt in "${enable[@]}"; do args+=(--enable "$opt"); done
scripts/config "${args[@]}" --disable CRYPTO_JITTERENTROPY --disable MODULES
make ARCH=um olddefconfig >/dev/null
make ARCH=um -j"$(nproc)" linux >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log" >&2; echo "build-uml: make failed" >&2; exit 1; }
strip linux

new=$dest.new
rm -rf "$new"
mkdir -p "$new/modules/$(make -s ARCH=um kernelrelease)"
: >"$new/modules/$(make -s ARCH=um kernelrelease)/modules.dep"  # nothing to load: all built in
cp linux "$new/linux"
cp .config "$new/config"
make -s ARCH=um kernelrelease >"$new/release"
rm -rf "$dest"
mv "$new" "$dest"
elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
printf 'build-uml: %s (%s) in %.0f s\n' "$dest/linux" "$(cat "$dest/release")" "$elapsed"
