#!/usr/bin/env bash
# `phaxcl check --device all` runs each registered .icd in its own process:
# with PoCL and an implementation that aborts on load registered together,
# PoCL's rows all pass, the other fails as one "crashed" row, exit 1.
# Usage: test_check_isolation.sh PHAXCL CRASH_LIBRARY POCL_ICD_DIR
set -u
phx=$1 crash=$2 pocl=$3
[ -s "$pocl/pocl.icd" ] || { echo "SKIP: no pocl.icd"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir "$T/vendors"
cp "$pocl/pocl.icd" "$T/vendors/"
echo "$crash" > "$T/vendors/crash.icd"
OCL_ICD_VENDORS=$T/vendors PHAXCL_DEVICE='' "$phx" check --device all >"$T/out" 2>"$T/err"
rc=$?
cat "$T/out" "$T/err"
grep -q "pocl: 0:0" "$T/out" || { echo "SKIP: PoCL has no device here"; exit 77; }
fail=0
[ "$rc" = 1 ] || { echo "FAIL: exit $rc, expected 1"; fail=1; }
grep -q "^platform .*crashed (signal 6" "$T/out" || { echo "FAIL: no crashed row"; fail=1; }
n=$(grep -c "pocl: 0:0 .* pass$" "$T/out")
bad=$(grep "pocl: 0:0" "$T/out" | grep -vc " pass$")
if [ "$n" -le 50 ] || [ "$bad" != 0 ]; then echo "FAIL: PoCL rows: $n passed, $bad not"; fail=1; fi
grep -q "1 OpenCL implementation(s) failed" "$T/err" || { echo "FAIL: no summary line"; fail=1; }
exit $fail
