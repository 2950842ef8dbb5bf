#!/usr/bin/env bash
# Builds the lab's own User-Mode Linux kernel from Debian's linux-source-7.2 (the suite
# UML_SOURCE_SUITE, default sid; fetched with apt into a temporary directory, nothing
# installed): everything the lab needs built in (no modules to load at boot, no raid6
# benchmark: it boots to init in about 0.2 s against 1.2 s for Debian's UML), time-travel
# support for the lifecycle cells, and the seccomp mode of UML 6.16 and later. When it is
# there, the lab boots it for every worker; Debian's UML (install-uml.sh) is the fallback.
#
#   build-uml.sh            # idempotent; about 10 minutes on 2 cores the first time
#
# `ipsec-lab setup` runs it (`ipsec-lab setup --no-own-uml` does not). Its steps say
# [n/6]; while make runs, a line every $IPSEC_LAB_PROGRESS_EVERY seconds (default 20) says how
# many files it has compiled, and of about how many: the count of the last build here, kept
# beside the kernel (compiled-files). The result is $cache/uml-own/linux
# (stripped) with an empty modules directory beside it, which lab.kernel.uml finds like the
# Debian kernel. The one source change: CRYPTO_DRBG selects CRYPTO_JITTERENTROPY, whose
# self-test never ends on time-travel's simulated clock.
set -euo pipefail
cache=${IPSEC_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ipsec-lab}
dest=$cache/uml-own
version=7.2
suite=${UML_SOURCE_SUITE:-sid}
every=${IPSEC_LAB_PROGRESS_EVERY:-20}

# what the lab needs built in (charon also probes IPv4 policy routing and XFRM interfaces)
enable=(UML_TIME_TRAVEL_SUPPORT NET INET IPV6 XFRM XFRM_USER XFRM_ALGO NET_KEY
        INET_ESP INET6_ESP INET_AH INET6_AH INET_IPCOMP INET6_IPCOMP XFRM_IPCOMP
        INET_XFRM_TUNNEL INET6_XFRM_TUNNEL INET_TUNNEL INET6_TUNNEL
        CRYPTO_AES CRYPTO_CBC CRYPTO_CTR CRYPTO_GCM CRYPTO_SEQIV CRYPTO_ECHAINIV
        CRYPTO_AUTHENC CRYPTO_HMAC CRYPTO_SHA1 CRYPTO_SHA256 CRYPTO_SHA512 CRYPTO_MD5
        CRYPTO_DES CRYPTO_CHACHA20POLY1305 CRYPTO_CCM CRYPTO_CMAC CRYPTO_XCBC CRYPTO_NULL
        CRYPTO_DEFLATE CRYPTO_USER_API_HASH VETH TUN NET_NS HOSTFS UNIX PACKET NETFILTER
        NF_TABLES NF_TABLES_INET NF_TABLES_IPV4 NF_TABLES_IPV6
        NET_SCHED NET_SCH_NETEM NET_SCH_TBF DEVTMPFS TMPFS UNIX98_PTYS MAGIC_SYSRQ
        IPV6_MULTIPLE_TABLES NET_IPIP IPV6_TUNNEL
        NET_SCH_PRIO NET_SCH_INGRESS NET_CLS_U32 NET_CLS_MATCHALL NET_CLS_ACT NET_ACT_NAT NET_ACT_GACT
        IP_ADVANCED_ROUTER IP_MULTIPLE_TABLES XFRM_INTERFACE)

# a kernel of another version, or without an option asked for here, is built again
have_all() {
    [ -x "$dest/linux" ] && [ -f "$dest/config" ] && [[ "$(cat "$dest/release" 2>/dev/null)" == "$version".* ]] \
        || return 1
    for opt in "${enable[@]}"; do grep -q "^CONFIG_$opt=y" "$dest/config" || return 1; done
}
if have_all; then
    echo "build-uml: $dest/linux is there ($(cat "$dest/release"))"
    exit 0
fi
# gcc without its recommends lacks libc6-dev, which UML (a program linked with libc) needs
missing=()
for p in flex bison bc make gcc libc6-dev binutils perl xz-utils; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "build-uml: [1/6] installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || { echo "build-uml: could not install ${missing[*]}" >&2; exit 1; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ipl-build-uml.XXXXXX")
ticker=
trap '[ -z "$ticker" ] || kill "$ticker" 2>/dev/null; rm -rf "$work"' EXIT
started=$EPOCHREALTIME
# the source package of $suite, fetched the way install-uml.sh fetches the kernel
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/deb"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
    >"$work/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=-
          -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work" -o "Dir::Cache::archives=$work/archives"
          -o Acquire::Check-Valid-Until=false -o APT::Sandbox::User=root -q)
echo "build-uml: [2/6] fetching linux-source-$version from Debian $suite"
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$work" && apt-get "${apt_opts[@]}" download "linux-source-$version" >/dev/null) \
    || { echo "build-uml: linux-source-$version is not in Debian $suite (UML_SOURCE_SUITE=...)" >&2; exit 1; }
echo "build-uml: [3/6] unpacking the sources"
dpkg-deb -x "$work"/linux-source-"$version"_*.deb "$work/deb"
rm -f "$work"/linux-source-"$version"_*.deb
tar -C "$work" -xf "$work/deb/usr/src/linux-source-$version.tar.xz"
rm -rf "$work/deb"
src=$work/linux-source-$version
cd "$src"

# jitterentropy loops forever on the simulated clock: DRBG must not pull it in
sed -i '/^config CRYPTO_DRBG$/,/^config /s/^\tselect CRYPTO_JITTERENTROPY$/\tselect CRYPTO_JITTERENTROPY if !UML_TIME_TRAVEL_SUPPORT/' crypto/Kconfig
grep -q 'CRYPTO_JITTERENTROPY if !UML_TIME_TRAVEL_SUPPORT' crypto/Kconfig \
    || { echo "build-uml: crypto/Kconfig did not take the jitterentropy change" >&2; exit 1; }

echo "build-uml: [4/6] configuring (${#enable[@]} options built in, time-travel's jitterentropy change)"
make ARCH=um defconfig >/dev/null
args=()
for opt in "${enable[@]}"; do args+=(--enable "$opt"); done
# time-travel needs one CPU and no raid6 benchmark (which takes 0.85 s of Debian's UML boot)
scripts/config "${args[@]}" --disable CRYPTO_JITTERENTROPY --disable MODULES --disable SMP \
    --disable RAID6_PQ_BENCHMARK
make ARCH=um olddefconfig >/dev/null
for opt in "${enable[@]}" ; do  # olddefconfig drops what a dependency forbids: say so
    grep -q "^CONFIG_$opt=y" .config || { echo "build-uml: CONFIG_$opt did not stay built in" >&2; exit 1; }
done
echo "build-uml: [5/6] compiling with make -j$(nproc) (about 10 min on 2 cores; the log: $work/build.log)"
compiled() { grep -c '^  CC' "$work/build.log" || true; }
last=$(cat "$dest/compiled-files" 2>/dev/null || true)
of() {  # n -> "n of about M (P%)" after a build that counted, else "n so far"
    if [[ $last =~ ^[1-9][0-9]*$ ]]; then echo "$1 of about $last ($(($1 * 100 / last))%)"; else echo "$1 so far"; fi
}
(while sleep "$every" >/dev/null 2>&1; do echo "build-uml: [5/6] compiling: files compiled: $(of "$(compiled)")"; done) &
ticker=$!
make ARCH=um -j"$(nproc)" linux >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log" >&2; echo "build-uml: make failed" >&2; exit 1; }
kill "$ticker" 2>/dev/null || true
ticker=
echo "build-uml: [6/6] $(compiled) files compiled; stripping and installing into $dest"
strip linux

new=$dest.new
rm -rf "$new"
mkdir -p "$new/modules/$(make -s ARCH=um kernelrelease)"
: >"$new/modules/$(make -s ARCH=um kernelrelease)/modules.dep"  # nothing to load: all built in
cp linux "$new/linux"
cp .config "$new/config"
compiled >"$new/compiled-files"  # the next build's "of about"
make -s ARCH=um kernelrelease >"$new/release"
rm -rf "$dest"
mv "$new" "$dest"
elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
printf 'build-uml: %s (%s) in %.0f s\n' "$dest/linux" "$(cat "$dest/release")" "$elapsed"
