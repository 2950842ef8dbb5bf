#!/usr/bin/env bash
# The package as another repository uses it, for real (docs/own-daemon.md): the wheel built
# from this checkout's files, installed into a fresh venv in a temporary directory outside
# the checkout; there `ipsec-lab doctor`, `ipsec-lab setup --flavors=libreswan@sid,strongswan@sid`
# (fast when the cache has them) and the page's own test file under pytest, which must pass
# every cell it has (none skipped). Run as root, after ci/setup.sh (.ci/run calls it):
#
#   ci/package-check.sh            # KEEP=1: keep the temporary directory; PYTHON: the venv's python
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)
python=${PYTHON:-python3}
page=docs/own-daemon.md
test_file=test_my_libreswan.py
work=$(mktemp -d "${TMPDIR:-/tmp}/ipl-package-check.XXXXXX")
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; fi
case $work/ in "$checkout"/*) echo "package-check: $work is inside the checkout" >&2; exit 1 ;; esac

die() { echo "package-check: $*" >&2; exit 1; }
steps=()
began=$EPOCHREALTIME
lap=$began
ended() {  # the time of the step that ended
    local now=$EPOCHREALTIME
    [ ${#steps[@]} -eq 0 ] || steps[-1]+=$(awk -v a="$lap" -v b="$now" 'BEGIN { printf "|%.1f s", b - a }')
    lap=$now
}
step() {  # a step begins
    ended
    steps+=("$1")
    echo "package-check: [${#steps[@]}/6] $1"
}

step "the wheel, from a copy of the checkout's files"
mkdir "$work/src" "$work/dist" "$work/newproj"
git ls-files -z --cached --others --exclude-standard \
    | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$work/src"
.venv/bin/python -m pip wheel --no-deps -q -w "$work/dist" "$work/src" 2>&1 | grep -v '^WARNING: Location' || true
wheel=$(ls "$work"/dist/ipsec_lab-*.whl) || die "no wheel was built"

step "a fresh venv outside the checkout, the wheel installed"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$wheel" 2>&1 | grep -v '^WARNING: Location' || true
bin=$work/venv/bin
[ -x "$bin/ipsec-lab" ] || die "the wheel installed no ipsec-lab command"
cd "$work/newproj"  # from here on nothing of the checkout is in reach
"$bin/python" - <<'PY' || die "the installed package is not the one in the venv, or has no pytest plugin"
import importlib.metadata as md, lab, pathlib, sys
assert pathlib.Path(lab.__file__).is_relative_to(sys.prefix), lab.__file__
assert [e.value for e in md.entry_points(group="pytest11") if e.name == "ipsec_lab"] == ["lab.plugin"]
PY

step "ipsec-lab setup --flavors=libreswan@sid,strongswan@sid"
"$bin/ipsec-lab" setup --flavors=libreswan@sid,strongswan@sid

step "ipsec-lab doctor"
"$bin/ipsec-lab" doctor || die "ipsec-lab doctor found something missing (above)"

step "$test_file: the example of $page"
awk -v file="$test_file" '
    index($0, "<!-- package-check: " file " -->") { want = 1; next }
    want && /^```python$/ { inside = 1; next }
    inside && /^```$/ { exit }
    inside { print }' "$checkout/$page" >"$test_file"
[ -s "$test_file" ] || die "$page has no python block after <!-- package-check: $test_file -->"
lines=$(grep -cv '^\s*$' "$test_file")
echo "package-check: $test_file, $lines lines that are not empty:"
sed 's/^/    /' "$test_file"

step "pytest $test_file (MY_LIBRESWAN: the libreswan@sid tree)"
flavors=$("$bin/python" -c 'from lab.flavors import flavors_dir; print(flavors_dir())')
out=$(MY_LIBRESWAN=$flavors/libreswan-sid "$bin/pytest" -n "${PACKAGE_CHECK_WORKERS:-2}" -rs -p no:cacheprovider \
      "$test_file" 2>&1) || { echo "$out"; die "pytest $test_file failed"; }
echo "$out" | tail -5
echo "$out" | tail -1 | grep -Eq '^=+ [0-9]+ passed in [0-9.]+s' \
    || die "pytest $test_file: not every cell passed (skipped or none; above)"

ended
echo "package-check: passed in $(awk -v a="$began" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }')"
for s in "${steps[@]}"; do
    printf '  %-60s %8s\n' "${s%|*}" "${s##*|}"
done
