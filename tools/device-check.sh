#!/usr/bin/env bash
# The checks to run when a machine with a GPU (or any new OpenCL device) is
# at hand, in one go (issue 13): installs what is missing (tools/setup.sh,
# when a package mirror can be reached), builds, lists the devices, runs
# `phaxcl check --device all` (one process per implementation), the OpenCL
# test suite (its "others" tests run on every registered driver that is not
# PoCL, Oclgrind or Mesa: the GPU's) and `phaxcl bench` on every
# non-simulator device, each next to that device's SGEMM through CLBlast.
# Everything goes into one report file; the exit status is 0 only when every
# step passed.
#
# usage: tools/device-check.sh [REPORT [BUILD_DIR]]
#   REPORT     default device-check-report.txt; BUILD_DIR default build-device
# environment:
#   BENCH_ARGS   extra `phaxcl bench` options (e.g. "--epochs 3 --limit 400")
#   SUITE_ARGS   `meson test` selection (default "--suite opencl"; or test names)
#   SKIP_SETUP=1 build only (no package installation)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
report=${1:-device-check-report.txt}
build=${2:-build-device}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/report
status=0

say() { printf '%s\n' "$*" | tee -a "$out"; }
# step NAME CMD...: runs CMD, its output into the report, its status noted.
step() {
  local name=$1
  shift
  say ""
  say "== $name: $*"
  local t0=$SECONDS
  "$@" >"$tmp/step" 2>&1
  local rc=$?
  cat "$tmp/step" >>"$out"
  say "-- $name: exit $rc, $((SECONDS - t0)) s"
  [ "$rc" = 0 ] || status=1
  return "$rc"
}

say "phaxcl device check, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
say "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(uname -srm), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
command -v nvidia-smi >/dev/null && say "$(nvidia-smi -L 2>&1)"

# A GPU driver whose OpenCL library is installed but not registered (a
# container with the NVIDIA driver mounted): register it for this run only.
vendors=${OCL_ICD_VENDORS:-/etc/OpenCL/vendors}
if ! grep -qil nvidia "$vendors"/*.icd 2>/dev/null &&
   ldconfig -p 2>/dev/null | grep -q 'libnvidia-opencl.so.1'; then
  mkdir -p "$tmp/vendors"
  cp "$vendors"/*.icd "$tmp/vendors/" 2>/dev/null
  echo libnvidia-opencl.so.1 >"$tmp/vendors/nvidia.icd"
  export OCL_ICD_VENDORS=$tmp/vendors
  say "registered libnvidia-opencl.so.1 for this run (OCL_ICD_VENDORS=$OCL_ICD_VENDORS)"
fi
# rusticl's software device, when Mesa is installed
export RUSTICL_ENABLE=${RUSTICL_ENABLE:-llvmpipe}
export PHAXCL_CACHE_DIR=${PHAXCL_CACHE_DIR:-$PWD/$build/cache}

# Build: setup.sh installs what is missing; offline it fails at apt-get,
# and a plain build of what is installed is tried.
saved=$status
if [ "${SKIP_SETUP:-0}" != 1 ] && step setup tools/setup.sh "$build"; then :
elif [ -f "$build/build.ninja" ] || step configure meson setup "$build"; then
  step build meson compile -C "$build" && status=$saved # built all the same
fi
phaxcl=$build/tools/phaxcl
if [ ! -x "$phaxcl" ]; then
  say "no $phaxcl: the build failed (see above); nothing else can run"
  mv "$out" "$report"
  exit 1
fi

command -v clinfo >/dev/null && step clinfo clinfo -l
step devices "$phaxcl" devices
step check "$phaxcl" check --device all
say "check rows: $(grep -c ' pass$' "$tmp/step") pass, $(grep -c ' FAIL$' "$tmp/step") FAIL"
# shellcheck disable=SC2086
step opencl-suite meson test -C "$build" --print-errorlogs ${SUITE_ARGS:---suite opencl}
grep -E '^(Ok|Fail|Skipped|Timeout):' "$tmp/step" >>"$out"

# bench on every device but simulators and software rasterisers (llvmpipe
# trains at hundreds of samples/s: minutes for nothing new)
"$phaxcl" devices --json >"$tmp/devices.json" 2>/dev/null
python3 - "$tmp/devices.json" >"$tmp/bench-devices" <<'EOF'
import json, sys
try:
    devs = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    devs = []
for d in devs:
    if d["type"] != "simulator" and not d.get("software"):
        print(d["id"])
EOF
while read -r dev; do
  # shellcheck disable=SC2086
  step "bench $dev" "$phaxcl" bench --backend opencl --device "$dev" ${BENCH_ARGS:-}
done <"$tmp/bench-devices"

say ""
say "device check: $([ "$status" = 0 ] && echo 'all steps passed' || echo 'some steps FAILED')"
mv "$out" "$report"
echo "report: $report"
exit "$status"
