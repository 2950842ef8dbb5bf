#!/usr/bin/env bash
# Everything the lab needs on Debian 12, idempotently: system packages and the
# Python environment (.venv) here; then `ipsec-lab setup` (lab/provision/, shipped in the
# package) builds a UML kernel that boots on this CPU, our own UML, and the daemon root
# filesystems ("flavors") into ~/.cache/ipsec-lab. Run as root from anywhere:
#
#   ci/setup.sh                                  # all of it
#   ci/setup.sh --no-flavors                     # skip the Debian-suite daemon trees
#   ci/setup.sh --flavors=libreswan@sid,racoon@0.9.1  # only the trees these flavors need
#   ci/setup.sh --no-own-uml                     # skip our own UML (faster boot, time-travel)
#                                                # (our own UML: ~10 min the first time)
#   ci/setup.sh --dry-run                        # say what setup would run
set -euo pipefail
cd "$(dirname "$0")/.."

# user-mode-linux: the kernel with ESP and PF_KEY; libreswan + libnss3-tools: the
# "system" Libreswan flavor; mmdebstrap: the other flavors; patchelf: the newer UML;
# util-linux: nsenter, which starts every daemon and tool in its peer; iproute2: tc for the
# router's impairments (and, with iputils-ping and tcpdump, for poking at a lab by hand);
# tmux: the CLI test; chromium (and a font with ✓ ✗ ≠): tests/test_report.py looks at the
# report's grid in it, headless.
# build-essential ... quilt, git: racoon (ipsec-tools), which `ipsec-lab setup` builds from source.
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

# the kernels, trees and racoon builds, with the options given (ipsec-lab setup --help)
.venv/bin/ipsec-lab setup "$@"
