#!/usr/bin/env bash
# Fuzzes every parser for as long as asked: builds build-fuzz (clang,
# libFuzzer, ASan/UBSan, no OpenCL/BLAS) and runs each harness of
# tests/fuzz for SECONDS (default 600), one after the other, keeping the
# grown corpora in build-fuzz/tests/fuzz/corpus-NAME. Any crash, leak or
# timeout stops with a non-zero status; the reproducer lands in that folder.
# With --coverage, then replays each corpus through a coverage build
# (build-fuzz-cov) and prints llvm-cov's line coverage of src/io.
# usage: tools/fuzz.sh [--coverage] [SECONDS [HARNESS...]]
#   HARNESS: idx idx_gz model checkpoint neuron faults levels (default: all)
set -uo pipefail
cd "$(dirname "$0")/.."
cov=0
if [ "${1:-}" = --coverage ]; then cov=1; shift; fi
secs=${1:-600}
shift || true
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(idx idx_gz model checkpoint neuron faults levels)
opts=(-Dfuzz=enabled -Dopencl=disabled -Dblas=disabled -Dbuildtype=debugoptimized)
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz "${opts[@]}" -Db_sanitize=address,undefined \
    -Db_lundef=false >/dev/null || exit 1
fi
meson compile -C build-fuzz >/dev/null || exit 1
status=0
for n in "${names[@]}"; do
  echo "== fuzz $n for $secs s"
  PHX_FUZZ_SECONDS=$secs tests/fuzz/run_fuzz.sh "build-fuzz/tests/fuzz/fuzz_$n" \
    "tests/fuzz/corpus/$n" "$PWD/build-fuzz/tests/fuzz/corpus-$n" |
    grep -E "DONE|Done|stat::number_of_executed_units|ERROR|SUMMARY|crash|leak|timeout"
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "fuzz $n: FAILED"; status=1; }
done
[ $cov = 1 ] || exit $status

# Coverage: the same harnesses built with clang's source-based coverage,
# run once over every input the fuzzing kept.
if [ ! -f build-fuzz-cov/build.ninja ]; then
  CC=clang CFLAGS="-fprofile-instr-generate -fcoverage-mapping" \
    LDFLAGS="-fprofile-instr-generate" meson setup build-fuzz-cov "${opts[@]}" >/dev/null || exit 1
fi
# Only the harnesses: they link libFuzzer, which the library's fuzzing
# instrumentation needs at link time.
meson compile -C build-fuzz-cov $(printf 'tests/fuzz/fuzz_%s ' "${names[@]}") >/dev/null ||
  exit 1
for n in "${names[@]}"; do
  exe=build-fuzz-cov/tests/fuzz/fuzz_$n
  rm -f build-fuzz-cov/$n.profraw
  LLVM_PROFILE_FILE=build-fuzz-cov/$n.profraw "$exe" -runs=0 \
    "build-fuzz/tests/fuzz/corpus-$n" "tests/fuzz/corpus/$n" >/dev/null 2>&1
  llvm-profdata merge -o "build-fuzz-cov/$n.profdata" "build-fuzz-cov/$n.profraw" || continue
  echo "== coverage of $n"
  llvm-cov report "$exe" -instr-profile="build-fuzz-cov/$n.profdata" \
    src/io/idx.c src/io/safetensors.c src/io/checkpoint.c src/io/file.c src/circuit/vtc.c |
    awk 'NR == 1 || /src\/(io|circuit)/ || /TOTAL/'
done
exit $status
