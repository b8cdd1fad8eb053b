#!/bin/bash
# Runs one libFuzzer harness for PHX_FUZZ_SECONDS (default 15) from the
# seed corpus; new inputs go to SCRATCH, never into the repository. Prints
# libFuzzer's closing statistics; any crash, leak or timeout fails.
# usage: run_fuzz.sh HARNESS SEEDS SCRATCH
set -u
exe=$(realpath "${1:?usage: run_fuzz.sh HARNESS SEEDS SCRATCH}")
seeds=$(realpath "${2:?}")
scratch=${3:?}
mkdir -p "$scratch" && scratch=$(realpath "$scratch")
cd "$scratch" || exit 1
# -error_exitcode: libFuzzer's default, 77, is meson's "skip"; a crash fails
"$exe" -max_total_time="${PHX_FUZZ_SECONDS:-15}" -timeout=10 -rss_limit_mb=2048 -error_exitcode=1 \
  -max_len=65536 -print_final_stats=1 -artifact_prefix="$scratch/" \
  "$scratch" "$seeds" 2>&1 | grep -v -E '^#[0-9]+.*(NEW|REDUCE|pulse)' | tail -n 60
exit "${PIPESTATUS[0]}"
