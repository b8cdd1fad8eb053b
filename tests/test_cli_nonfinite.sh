#!/bin/bash
# Suite 'cli': a model with one finite but huge parameter (3e38) loads, but
# `eval` and `grad` must fail with exit 1 naming the model, instead of
# printing "loss -nan" and writing a gradient file of NaNs (issue 9).
# usage: test_cli_nonfinite.sh PHAXCL
set -u
PHX=${1:?usage: test_cli_nonfinite.sh PHAXCL}
command -v python3 >/dev/null || { echo "no python3: skipped"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
"$PHX" train --epochs 0 --layers ,20, --save "$T/m.st" >/dev/null || exit 99
python3 - "$T/m.st" "$T/huge.st" <<'PY' || exit 99
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
at = 8 + struct.unpack('<Q', b[:8])[0] + 4 * 5  # layers.0.theta[0, 5]
b[at:at + 4] = struct.pack('<f', 3e38)
open(sys.argv[2], 'wb').write(b)
PY
"$PHX" info "$T/huge.st" >/dev/null || fail "the huge model does not load"
"$PHX" eval "$T/huge.st" >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 1 ] || fail "eval: exit $rc, expected 1: $(cat "$T/out")"
grep -q "^phaxcl: $T/huge.st: .*not finite" "$T/err" || fail "eval: message: $(cat "$T/err")"
"$PHX" grad "$T/huge.st" --out "$T/g.st" >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 1 ] || fail "grad: exit $rc, expected 1"
grep -q "^phaxcl: $T/huge.st: .*not finite" "$T/err" || fail "grad: message: $(cat "$T/err")"
[ -e "$T/g.st" ] && fail "grad wrote a gradient file"
echo "cli_nonfinite: $fails failure(s)"
[ $fails = 0 ]
