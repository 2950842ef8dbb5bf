#!/usr/bin/env bash
# Everything the lab needs on Debian 12, idempotently: system packages, the
# Python environment (.venv), a UML kernel that boots on this CPU, and the
# daemon root filesystems ("flavors"). Run as root from anywhere:
#
#   ci/setup.sh                                  # all of it
#   ci/setup.sh --no-flavors                     # skip the Debian-suite daemon trees
#   ci/setup.sh --flavors=libreswan@sid,racoon@0.9.1  # only the trees these flavors need
#   ci/setup.sh --no-own-uml                     # skip our own UML (faster boot, time-travel)
#                                                # (ci/build-uml.sh: ~10 min the first time)
set -euo pipefail
cd "$(dirname "$0")/.."
flavors=all
own_uml=yes
for arg in "$@"; do
    case $arg in
        --no-flavors) flavors=none ;;
        --flavors=*) flavors=${arg#--flavors=} ;;
        --no-own-uml) own_uml=no ;;
        *) echo "setup: unknown option $arg (allowed: --no-flavors, --flavors=LIST, --no-own-uml)" >&2
           exit 2 ;;
    esac
done

# user-mode-linux: the kernel with ESP and PF_KEY; libreswan + libnss3-tools: the
# "system" Libreswan flavor; mmdebstrap: the other flavors; patchelf: the newer UML;
# util-linux: nsenter, which starts every daemon and tool in its peer; iproute2: tc for the
# router's impairments (and, with iputils-ping and tcpdump, for poking at a lab by hand);
# tmux: the CLI test; chromium (and a font with ✓ ✗ ≠): tests/test_report.py looks at the
# report's grid in it, headless.
# build-essential ... quilt, git: racoon (ipsec-tools), which ci/build-racoon.sh builds from source.
packages=(user-mode-linux kmod util-linux libreswan libnss3-tools iproute2 iputils-ping tcpdump
          mmdebstrap patchelf debian-archive-keyring python3 python3-venv tmux ca-certificates
          build-essential autoconf automake libtool bison flex libfl-dev libssl-dev pkg-config
          quilt git chromium fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

ci/install-uml.sh
# our own UML: every worker boots it (0.2 s to init against Debian's 1.2 s), and the cells
# marked time_travel (lifecycle cells) get it with time-travel
if [ "$own_uml" = yes ]; then ci/build-uml.sh; fi
case $flavors in
    none) ;;
    all) ci/build-flavors.sh
         ci/build-racoon.sh ;;
    *)  # NAME@SUITE flavors have a tree, racoon@RELEASE a prefix built from source;
        # plain names and paths use binaries that are there already
        trees=() racoons=()
        IFS=, read -ra wanted <<<"$flavors"
        for f in "${wanted[@]}"; do
            case $f in
                *@/*|*@.*|*@system) ;;
                racoon@*) racoons+=("${f/@privsep-/@}") ;;  # a variant: its release's build
                *@*) trees+=("$f") ;;
            esac
        done
        if [ ${#trees[@]} -gt 0 ]; then ci/build-flavors.sh "${trees[@]}"; fi
        if [ ${#racoons[@]} -gt 0 ]; then ci/build-racoon.sh "${racoons[@]}"; fi ;;
esac
echo "setup: done"
