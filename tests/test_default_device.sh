#!/usr/bin/env bash
# The default OpenCL device is the one that trains fastest (issue 13): with
# PoCL and rusticl (llvmpipe) registered, `phaxcl devices` marks PoCL, shows
# both probe figures (cached: a second listing runs no probe), calls
# llvmpipe software; PHAXCL_DEVICE still overrides.
# Usage: test_default_device.sh PHAXCL ICD_ROOT
set -u
phx=$1 icd=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir "$T/vendors"
cp "$icd/pocl/pocl.icd" "$icd/rusticl/rusticl.icd" "$T/vendors/"
export OCL_ICD_VENDORS=$T/vendors PHAXCL_CACHE_DIR=$T/cache RUSTICL_ENABLE=llvmpipe
unset PHAXCL_DEVICE
"$phx" devices --json >"$T/d.json" 2>"$T/err" || { cat "$T/err"; echo "SKIP: no device"; exit 77; }
grep -q '"platform":"rusticl"' "$T/d.json" && grep -q '"platform_vendor":"The pocl project"' "$T/d.json" \
  || { echo "SKIP: needs both PoCL and rusticl"; cat "$T/d.json"; exit 77; }
python3 - "$T/d.json" <<'PY' || exit 1
import json, sys
devs = json.load(open(sys.argv[1]))
fail = 0
def expect(c, msg):
    global fail
    if not c:
        print("FAIL:", msg); fail = 1
pocl = [d for d in devs if d["platform_vendor"] == "The pocl project"][0]
lp = [d for d in devs if d["platform"] == "rusticl"][0]
print(f"pocl probe {pocl.get('probe_samples_per_s')}, llvmpipe probe {lp.get('probe_samples_per_s')}")
expect(pocl["default"] and not lp["default"], "PoCL is not the default")
expect(lp["software"] and not pocl["software"], "llvmpipe not marked software")
expect(pocl.get("probe_samples_per_s", 0) > 0 and lp.get("probe_samples_per_s", 0) > 0,
       "a probe figure is missing")
sys.exit(fail)
PY
n=$(ls "$T/cache"/probe-* 2>/dev/null | wc -l)
[ "$n" = 2 ] || { echo "FAIL: $n cached probe figures, expected 2"; exit 1; }
# cached: the figures come back unchanged
"$phx" devices --json >"$T/d2.json" || exit 1
cmp -s <(grep -o '"probe_samples_per_s":[0-9.e+]*' "$T/d.json") \
       <(grep -o '"probe_samples_per_s":[0-9.e+]*' "$T/d2.json") \
  || { echo "FAIL: the second listing measured again"; exit 1; }
# the table marks PoCL, and PHAXCL_DEVICE overrides the default
"$phx" devices | grep '^\*' | grep -q pthread || { echo "FAIL: table default"; exit 1; }
PHAXCL_DEVICE=rusticl "$phx" train --backend opencl --epochs 1 --limit 64 --save "$T/m.safetensors" \
  2>&1 | grep -q llvmpipe || { echo "FAIL: PHAXCL_DEVICE=rusticl not used"; exit 1; }
echo "default device checks passed"
