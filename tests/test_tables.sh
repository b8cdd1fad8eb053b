#!/bin/bash
# Suite 'cli': tables and regression through the command line. Small
# AxBench kernels (tools/make_axbench.py) are trained as regression and as
# classification, evaluated (the same figures as training's summary, and
# the --predictions file), run through mc, export and spice; bad tables and
# options give one-line messages naming the file, line and column, with
# exit 1 (run time) or 2 (usage).
# usage: test_tables.sh PHAXCL SOURCE_ROOT
set -u
PHX=${1:?usage: test_tables.sh PHAXCL SOURCE_ROOT}
SRC=${2:?usage: test_tables.sh PHAXCL SOURCE_ROOT}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect STATUS "SUBSTRING" -- ARGS...: exit status, and the substring in
# stderr's one line (failures) or in stdout (success).
expect() {
  local want=$1 msg=$2
  shift 3
  "$PHX" "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  if [ "$rc" != "$want" ]; then
    fail "phaxcl $*: exit $rc, expected $want; stderr: $(head -c 300 "$T/err")"
  elif [ "$want" != 0 ]; then
    if [ "$(wc -l <"$T/err")" != 1 ] || ! grep -q '^phaxcl: ' "$T/err"; then
      fail "phaxcl $*: not one 'phaxcl: ' line: $(head -c 300 "$T/err")"
    elif ! grep -qF -- "$msg" "$T/err"; then
      fail "phaxcl $*: stderr lacks '$msg': $(head -c 300 "$T/err")"
    fi
  elif [ -n "$msg" ] && ! grep -qF -- "$msg" "$T/out"; then
    fail "phaxcl $*: stdout lacks '$msg': $(head -c 300 "$T/out")"
  fi
}

python3 "$SRC/tools/make_axbench.py" "$T" --train 400 --test 100 inversek2j kmeans \
  >/dev/null || { echo "FAIL: make_axbench.py"; exit 1; }
IK=(--data "$T/inversek2j-train.csv" --test "$T/inversek2j-test.csv" --target t_theta1,t_theta2)

# ---- regression: train, eval (the same figures), predictions ----------------
expect 0 '"task":"regression"' -- train "${IK[@]}" --layers ,8, --epochs 8 --lr 0.05 \
  --backend c --save "$T/ik.st" --json
mse_train=$(tail -1 "$T/out" | sed -n 's/.*"test_mse":\([^,]*\).*/\1/p')
expect 0 '"task":"regression"' -- eval "$T/ik.st" --data "$T/inversek2j-test.csv" \
  --target -2,-1 --backend c --json --predictions "$T/pred.csv"
mse_eval=$(sed -n 's/.*"mse":\([^,]*\).*/\1/p' "$T/out")
[ -n "$mse_train" ] && [ "$mse_train" = "$mse_eval" ] ||
  fail "eval mse '$mse_eval' differs from train's '$mse_train'"
mse_ik=$mse_eval
[ "$(head -1 "$T/pred.csv")" = "pred0,pred1,true0,true1" ] && [ "$(wc -l <"$T/pred.csv")" = 101 ] ||
  fail "predictions file: $(head -2 "$T/pred.csv")"
# the truths in the file are the test table's targets
t1=$(sed -n 2p "$T/inversek2j-test.csv" | cut -d, -f3)
p1=$(sed -n 2p "$T/pred.csv" | cut -d, -f3)
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 1e-5 * (1 + abs(a)))" "$t1" "$p1" ||
  fail "predictions: truth $p1 is not the table's $t1"
expect 0 "mean relative error" -- eval "$T/ik.st" --data "$T/inversek2j-test.csv" --backend c
# gzip, and a --split of one file (held-out part reproducible from --seed)
gzip -c "$T/inversek2j-train.csv" >"$T/ik.csv.gz"
expect 0 "test (80 samples)" -- train --data "$T/ik.csv.gz" --split 0.2 --seed 3 --target -2,-1 \
  --layers ,8, --epochs 2 --backend c --save "$T/ik2.st"
expect 0 "regression on 80 samples" -- eval "$T/ik2.st" --data "$T/ik.csv.gz" --split 0.2 \
  --seed 3 --target -2,-1 --backend c
# the model keeps its --target and --split: eval of the table it was split
# from scores the same held-out rows on the same columns by default
expect 0 '"task":"regression"' -- train --data "$T/ik.csv.gz" --split 0.25 --seed 5 \
  --target t_theta1,t_theta2 --layers ,8, --epochs 2 --backend c --save "$T/ik3.st" --json
mse_train=$(tail -1 "$T/out" | sed -n 's/.*"test_mse":\([^,]*\).*/\1/p')
expect 0 '"count":100,' -- eval "$T/ik3.st" --data "$T/ik.csv.gz" --backend c --json
mse_eval=$(sed -n 's/.*"mse":\([^,]*\).*/\1/p' "$T/out")
[ -n "$mse_train" ] && [ "$mse_train" = "$mse_eval" ] ||
  fail "eval of the stored split: mse '$mse_eval', train's '$mse_train'"
expect 0 '"count":400,' -- eval "$T/ik3.st" --data "$T/ik.csv.gz" --split 0 --backend c --json
expect 0 "table       target t_theta1,t_theta2; test part 0.25 of 400 rows (seed 5)" -- \
  info "$T/ik3.st"
sed '1s/t_theta2/t_other/' "$T/inversek2j-train.csv" >"$T/renamed-all.csv"
expect 1 "renamed-all.csv: line 1: --target column 't_theta2' is not in the header (the target $T/ik3.st was trained with" -- \
  eval "$T/ik3.st" --data "$T/renamed-all.csv" --backend c
awk -F, -v OFS=, '{ t = $1; $1 = $2; $2 = t; print }' "$T/inversek2j-train.csv" >"$T/swapped.csv"
expect 1 "swapped.csv: line 1: the header (y,x,t_theta1,t_theta2) is not the one $T/ik3.st was trained on (x,y,t_theta1,t_theta2)" -- \
  eval "$T/ik3.st" --data "$T/swapped.csv" --backend c
expect 2 "--split 0: training holds out a test part" -- train --data "$T/ik.csv.gz" --split 0
# a checkpoint resumed ends where the run without a stop ends (the scaling
# travels in the checkpoint)
"$PHX" train "${IK[@]}" --layers ,8, --epochs 4 --backend c --json >"$T/full" 2>&1
"$PHX" train "${IK[@]}" --layers ,8, --epochs 2 --backend c --checkpoint "$T/ck.st" >/dev/null 2>&1
"$PHX" train "${IK[@]}" --resume "$T/ck.st" --epochs 4 --backend c --json >"$T/resumed" 2>&1
[ "$(tail -1 "$T/full")" = "$(tail -1 "$T/resumed")" ] ||
  fail "resumed regression run differs: $(tail -1 "$T/resumed") vs $(tail -1 "$T/full")"
# mc, export, spice on the regression model
expect 0 "test mse (target units): ideal" -- mc "$T/ik.st" --data "$T/inversek2j-test.csv" \
  --target -2,-1 --sigma 5 --draws 3 --backend c
expect 0 "" -- export "$T/ik.st" --format spice --data "$T/inversek2j-test.csv" --target -2,-1 \
  --sample 3 --out "$T/ik.cir"
grep -q '^\.end' "$T/ik.cir" || fail "export: no deck"
grep -q '^\*   v(om1_1) = .*  target 1 = .* (target = .* v)$' "$T/ik.cir" ||
  fail "export: the deck lacks the outputs in target units"
if command -v ngspice >/dev/null 2>&1 || [ -e /usr/lib/x86_64-linux-gnu/libngspice.so.0 ]; then
  expect 0 "(simulated - target, volts)" -- spice "$T/ik.st" --data "$T/inversek2j-test.csv" \
    --target -2,-1 --n 4
  # every test sample: the simulated outputs are the model's, and their
  # errors in target units are eval's (figures in volts and target units)
  expect 0 '"task":"regression"' -- spice "$T/ik.st" --data "$T/inversek2j-test.csv" --n 100 \
    --json
  python3 - "$T/out" "$mse_ik" <<'PY' || fail "spice regression figures: $(head -c 300 "$T/out")"
import json, sys
o = json.load(open(sys.argv[1]))
g, mse = o["regression"], float(sys.argv[2])
s = o["samples"][0]
assert o["count"] == 100 and o["mean_dv"] < 1e-6 and "agreement" not in o, o
assert abs(g["mse_model"] - mse) < 1e-5 * mse and abs(g["mse_sim"] - mse) < 1e-3 * mse, (g, mse)
assert 0 < g["mean_dv_target"] <= g["max_dv_target"] < 0.5 and g["mre_sim"] > 0, g
assert len(s["target"]) == len(s["sim_units"]) == 2 and "sim_class" not in s, s
PY
fi

# ---- classification from a table ----------------------------------------------
expect 0 "test" -- train --data "$T/kmeans-train.csv" --test "$T/kmeans-test.csv" --layers ,16, \
  --epochs 3 --backend c --save "$T/km.st"
expect 0 "confusion matrix" -- eval "$T/km.st" --data "$T/kmeans-test.csv" --backend c \
  --predictions "$T/kp.csv"
[ "$(head -1 "$T/kp.csv")" = "pred0,true0" ] || fail "class predictions: $(head -2 "$T/kp.csv")"
expect 0 "accuracy" -- mc "$T/km.st" --data "$T/kmeans-test.csv" --draws 2 --sigma 5 --backend c

# ---- bad tables and options ---------------------------------------------------
printf 'a,b,c\n1,2,3\n4,5\n' >"$T/ragged.csv"
expect 1 "ragged.csv: line 3, column 3: 2 fields, but the header has 3" -- \
  train --data "$T/ragged.csv" --epochs 1
printf 'a,b\n1,2\n3,oops\n' >"$T/text.csv"
expect 1 "text.csv: line 3, column 3: not a number 'oops'" -- train --data "$T/text.csv"
printf 'a,b\n1,2\nNaN,3\n' >"$T/nan.csv"
expect 1 "nan.csv: line 3, column 1: not a finite number 'NaN'" -- train --data "$T/nan.csv"
: >"$T/empty.csv"
expect 1 "empty.csv: empty file" -- train --data "$T/empty.csv"
expect 1 "--target column 'nope' is not in the header" -- train --data "$T/kmeans-train.csv" \
  --target nope
sed '1s/t_theta2/t_other/' "$T/inversek2j-test.csv" >"$T/renamed.csv"
expect 1 "--test $T/renamed.csv: line 1: the header (x,y,t_theta1,t_other) does not match" -- \
  train --data "$T/inversek2j-train.csv" --test "$T/renamed.csv" --target -1
expect 1 "missing.csv: cannot open: No such file" -- train --data "$T/missing.csv"
printf 'x,y,class\n0.1,0.2,1\n0.3,0.4,0\n' >"$T/cls.csv"
expect 1 "cls.csv: the data has 1 targets but the model 2" -- \
  eval "$T/ik.st" --data "$T/cls.csv" --target -1 --backend c
expect 1 "kmeans-test.csv: line 1: the header (r,g,b,t_cluster) is not the one" -- \
  eval "$T/ik.st" --data "$T/kmeans-test.csv" --target -1 --backend c
expect 1 "cls.csv: line 2, column 1: class label '0.1' is not an integer" -- \
  eval "$T/km.st" --data "$T/cls.csv" --target x --backend c
expect 2 "--loss ce: regression trains with squared error" -- train "${IK[@]}" --loss ce
expect 2 "--split: expected a test fraction in [0, 1), got '1'" -- train "${IK[@]}" --split 1
expect 2 "--task: expected auto, classification or regression" -- train "${IK[@]}" --task x
expect 2 "--target, --test, --labels and --header need --data FILE" -- train --target 1 --epochs 0
cp "$T/ik.st" "$T/keep.st"
expect 1 "line 3, column 3" -- train --data "$T/ragged.csv" --save "$T/ik.st"
cmp -s "$T/ik.st" "$T/keep.st" || fail "a failed run touched --save"

echo "tables: $fails failure(s)"
[ "$fails" = 0 ]
