#!/usr/bin/env bash
# train --log FILE: a header line, one JSON object per epoch, a summary line,
# each written whole; an unwritable --log fails in one line before training
# and writes no --save.
# Usage: test_cli_log.sh PHAXCL_EXE
set -euo pipefail
exe=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$exe" train --backend c --epochs 3 --layers 196,8,10 --log "$dir/run.jsonl" \
  --save "$dir/m.safetensors" >/dev/null
[ "$(wc -l <"$dir/run.jsonl")" = 5 ] || fail "expected 5 lines, got $(wc -l <"$dir/run.jsonl")"
head -1 "$dir/run.jsonl" | grep -q "^{\"run\":\"$dir/m.safetensors\",\"model\":\"196-8-10\"," \
  || fail "header: $(head -1 "$dir/run.jsonl")"
for e in 1 2 3; do
  sed -n "$((e + 1))p" "$dir/run.jsonl" | grep -q "^{\"epoch\":$e,\"epochs\":3,\"loss\":[0-9.e+-]*,\"train_acc\":[0-9.e+-]*,\"test_loss\":[0-9.e+-]*,\"test_acc\":[0-9.e+-]*,\"seconds\":[0-9.e+-]*}$" \
    || fail "epoch $e: $(sed -n "$((e + 1))p" "$dir/run.jsonl")"
done
tail -1 "$dir/run.jsonl" | grep -q '^{"done":true,' || fail "summary: $(tail -1 "$dir/run.jsonl")"

# The same epochs as --json prints.
"$exe" train --backend c --epochs 3 --layers 196,8,10 --json | grep '"epoch"' \
  | sed 's/,"seconds":[^}]*}//' >"$dir/json.txt"
grep '"epoch"' "$dir/run.jsonl" | sed 's/,"seconds":[^}]*}//' | cmp -s - "$dir/json.txt" \
  || fail "--log epochs differ from --json"

set +e
"$exe" train --backend c --epochs 1 --log "$dir/no/such/run.jsonl" --save "$dir/x.safetensors" \
  >/dev/null 2>"$dir/err"
rc=$?
set -e
[ $rc = 1 ] || fail "unwritable --log: exit $rc"
[ "$(cat "$dir/err")" = "phaxcl: --log $dir/no/such/run.jsonl: cannot open for writing" ] \
  || fail "message: $(cat "$dir/err")"
[ ! -e "$dir/x.safetensors" ] || fail "--save written after a failed --log"
"$exe" eval "$dir/m.safetensors" --log x 2>/dev/null && fail "eval accepted --log"
echo "ok"
