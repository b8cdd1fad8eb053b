#!/bin/bash
# Suite 'cli': every bad-input case through the phaxcl command line, with
# its message and exit status (2: usage, 1: run time), plus the file
# guarantees (--save atomic on failure, grad --out, --json, --epochs 0).
# usage: test_cli.sh PHAXCL SOURCE_ROOT
set -u
PHX=${1:?usage: test_cli.sh PHAXCL SOURCE_ROOT}
SRC=${2:?usage: test_cli.sh PHAXCL SOURCE_ROOT}
DATA=$SRC/data/mnist14
PY=$(command -v python3 || true)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ran=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect STATUS "MESSAGE-SUBSTRING" -- ARGS...: runs phaxcl ARGS, checks
# the exit status and that stderr has "phaxcl: " and the substring.
expect() {
  local want=$1 msg=$2
  shift 3
  ran=$((ran + 1))
  "$PHX" "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  if [ "$rc" != "$want" ]; then
    fail "phaxcl $*: exit $rc, expected $want; stderr: $(head -c 300 "$T/err")"
    return
  fi
  if [ "$want" != 0 ]; then
    if ! grep -q '^phaxcl: ' "$T/err"; then
      fail "phaxcl $*: stderr lacks 'phaxcl: ': $(head -c 300 "$T/err")"
    elif ! grep -qF -- "$msg" "$T/err"; then
      fail "phaxcl $*: stderr lacks '$msg': $(head -c 300 "$T/err")"
    fi
  elif [ -n "$msg" ] && ! grep -qF -- "$msg" "$T/out"; then
    fail "phaxcl $*: stdout lacks '$msg': $(head -c 300 "$T/out")"
  fi
}

# ---- usage errors: exit 2 ------------------------------------------------
"$PHX" >/dev/null 2>"$T/err"; [ $? = 2 ] && grep -q "usage: phaxcl" "$T/err" || fail "no command: not a usage error"
expect 2 "unknown command 'fly'" -- fly
expect 2 "unknown option '--bogus'" -- train --bogus
expect 2 "unknown option '--bogus'" -- train --bogus=3
expect 2 "unknown option '-x'" -- train -x
expect 2 "unknown option '--out'" -- train --out x
expect 2 "unknown option '--epochs'" -- eval m --epochs 3
expect 2 "--lr: expected a positive number, got 'abc'" -- train --lr abc
expect 2 "--lr: expected a positive number, got 'nan'" -- train --lr nan
expect 2 "--lr: expected a positive number, got 'inf'" -- train --lr inf
expect 2 "--lr: expected a positive number, got '-0.1'" -- train --lr -0.1
expect 2 "--lr: expected a positive number, got '0.1x'" -- train --lr=0.1x
expect 2 "--lr: missing value" -- train --lr
expect 2 "--epochs: expected a non-negative integer, got '-1'" -- train --epochs -1
expect 2 "--epochs: expected a non-negative integer, got '2.5'" -- train --epochs 2.5
expect 2 "--epochs: expected a non-negative integer, got '99999999999'" -- train --epochs 99999999999
expect 2 "--batch: expected a positive integer, got '0'" -- train --batch 0
expect 2 "--seed: expected a non-negative integer, got '-3'" -- train --seed -3
expect 2 "--vdd: expected a positive number (volts), got 'NaN'" -- train --vdd NaN
expect 2 "--ratio: expected a number greater than 1" -- train --ratio 1
expect 2 "--gmin: expected a positive conductance in uS, got '0'" -- train --gmin 0
expect 2 "--vtc-c: expected four numbers a1,a2,a3,a4" -- train --vtc-c 1,2,3
expect 2 "--vtc-d: expected four numbers a1,a2,a3,a4" -- train --vtc-d 1,2,3,nan
expect 2 "--vtc-d: expected four numbers a1,a2,a3,a4" -- train --vtc-d 1,2,3,4,5
expect 2 "--vtc-c: expected four numbers a1,a2,a3,a4" -- train --vtc-c ,1,2,3
expect 0 "saved $T/fits.st" -- train --epochs 0 --gmin 0.5 --vtc-c=-0.001,-0.25,-0.02,30 \
  --vtc-d -0.0011,0.2490,-0.0203,100 --save "$T/fits.st"
expect 0 "gmin        0.5 uS" -- info "$T/fits.st"
expect 0 "vtc c       -0.001 -0.25 -0.02 30" -- info "$T/fits.st"
expect 0 "vtc d       -0.0011 0.249 -0.0203 100" -- info "$T/fits.st"
expect 2 "--pool: expected an integer from 1 to 64, got '0'" -- train --pool 0
expect 2 "--limit: expected a non-negative integer, got 'all'" -- grad m --out g --limit all
expect 2 "--layers: expected positive sizes like 196,100,10, got '196,x,10'" -- train --layers 196,x,10
expect 2 "--layers: expected positive sizes like 196,100,10, got '196,0,10'" -- train --layers 196,0,10
expect 2 "--layers: expected sizes like 196,100,10, got '196,,10'" -- train --layers 196,,10
expect 2 "--optimizer: expected sgd, momentum, adam or lbfgs, got 'rmsprop'" -- train --optimizer rmsprop
expect 2 "--loss: expected ce or mse, got 'hinge'" -- train --loss hinge
expect 2 "--backend: expected auto, c, c64 or opencl, got 'cuda'" -- train --backend cuda
expect 2 "--json: takes no value" -- train --json=1
expect 2 "--data: expected a value, got ''" -- train --data ''
expect 2 "eval: missing argument" -- eval
expect 2 "info: unexpected argument 'b'" -- info a b
expect 2 "grad: --out FILE is required" -- grad m

# ---- --help and --version --------------------------------------------------
for cmd in train eval grad info bench; do
  expect 0 "usage: phaxcl $cmd" -- $cmd --help
done
expect 0 "usage: phaxcl COMMAND" -- --help
expect 0 "phaxcl 0." -- --version

# ---- a model to work with -----------------------------------------------
expect 0 "saved $T/init.st" -- train --epochs 0 --save "$T/init.st"
expect 0 "196-100-10" -- info "$T/init.st"
expect 0 "R min..max (MOhm)" -- info "$T/init.st"
expect 0 "saved $T/m.st" -- train --epochs 2 --limit 200 --save "$T/m.st"

# ---- missing and damaged files: exit 1, the file named ------------------
expect 1 "$T/nowhere" -- train --data "$T/nowhere" --epochs 1
expect 1 "$T/nomodel.st" -- eval "$T/nomodel.st"
expect 1 "$T/nomodel.st" -- info "$T/nomodel.st"
expect 1 "$T/nomodel.st" -- grad "$T/nomodel.st" --out "$T/g.st"
expect 1 "$T/nomodel.st" -- train --init "$T/nomodel.st"
head -c 100 "$T/m.st" >"$T/trunc.st"
printf 'this is not a model file at all, just some text\n' >"$T/text.st"
cp "$T/m.st" "$T/cut.st" && truncate -s -64 "$T/cut.st"
for bad in trunc text cut; do
  expect 1 "$T/$bad.st" -- eval "$T/$bad.st"
  expect 1 "$T/$bad.st" -- info "$T/$bad.st"
  expect 1 "$T/$bad.st" -- grad "$T/$bad.st" --out "$T/g.st"
  expect 1 "$T/$bad.st" -- train --init "$T/$bad.st" --epochs 1
done
[ -e "$T/g.st" ] && fail "grad wrote --out from a damaged model"

# ---- corrupt IDX data sets, made from the bundled one ----------------------
mkdata() { # mkdata NAME: an uncompressed copy of mnist14 in $T/NAME
  mkdir -p "$T/$1"
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    gzip -dc "$DATA/$f.gz" >"$T/$1/$f"
  done
}
mkdata good
expect 0 "test" -- train --data "$T/good" --epochs 1 --limit 50
# truncated image file
mkdata trunc
truncate -s -1000 "$T/trunc/train-images-idx3-ubyte"
expect 1 "$T/trunc/train-images-idx3-ubyte: truncated" -- train --data "$T/trunc" --epochs 1
# truncated gzip stream
mkdata truncgz
gzip -c "$T/truncgz/t10k-images-idx3-ubyte" | head -c 2000 >"$T/truncgz/t10k-images-idx3-ubyte.gz"
rm "$T/truncgz/t10k-images-idx3-ubyte"
expect 1 "$T/truncgz/t10k-images-idx3-ubyte.gz" -- train --data "$T/truncgz" --epochs 1
# wrong magic
mkdata magic
printf '\x00\x00\x09\x99' | dd of="$T/magic/train-labels-idx1-ubyte" bs=1 count=4 conv=notrunc 2>/dev/null
expect 1 "$T/magic/train-labels-idx1-ubyte: wrong magic" -- train --data "$T/magic" --epochs 1
# label count disagrees with the image count
mkdata count
printf '\x00\x00\x03\x1f' | dd of="$T/count/train-labels-idx1-ubyte" bs=1 seek=4 count=4 conv=notrunc 2>/dev/null
truncate -s $((8 + 799)) "$T/count/train-labels-idx1-ubyte"
expect 1 "799 labels, but" -- train --data "$T/count" --epochs 1
# label out of range of the file format
mkdata range
printf '\xff' | dd of="$T/range/t10k-labels-idx1-ubyte" bs=1 seek=20 count=1 conv=notrunc 2>/dev/null
expect 1 "$T/range/t10k-labels-idx1-ubyte: label 255 of item 12 is out of range" -- eval "$T/m.st" --data "$T/range"
# labels beyond the model's outputs
mkdata classes
printf '\x0c' | dd of="$T/classes/t10k-labels-idx1-ubyte" bs=1 seek=8 count=1 conv=notrunc 2>/dev/null
expect 1 "labels go up to class 12 but the model in $T/m.st (196-100-10) has only 10 outputs" -- eval "$T/m.st" --data "$T/classes"

# ---- shapes: --layers, --init and the data must agree ---------------------
expect 1 "samples have 196 inputs but --layers (784-100-10) expects 784" -- train --layers 784,100,10 --epochs 1
expect 1 "labels go up to class 9 but --layers (196-20-5) has only 5 outputs" -- train --layers 196,20,5 --epochs 1
expect 2 "--layers 196-50-10 conflicts with --init $T/m.st (196-100-10)" -- train --init "$T/m.st" --layers 196,50,10
expect 0 "saved $T/small.st" -- train --pool 2 --epochs 0 --save "$T/small.st"
expect 0 "49-100-10" -- info "$T/small.st"
expect 1 "samples have 196 inputs but the model in $T/small.st (49-100-10) expects 49" -- train --init "$T/small.st" --epochs 1
expect 1 "samples have 196 inputs but the model in $T/small.st (49-100-10) expects 49" -- eval "$T/small.st"
expect 1 "samples have 196 inputs but the model in $T/small.st (49-100-10) expects 49" -- grad "$T/small.st" --out "$T/g.st"
expect 0 "accuracy" -- eval "$T/small.st" --pool 2
expect 0 "196-30-10" -- train --layers 30 --epochs 1 --limit 50
expect 0 "196-30-20-10" -- train --layers ,30,20, --epochs 1 --limit 50
expect 0 "196-30-10" -- train --layers 196,30, --epochs 1 --limit 50
expect 0 "196-100-10" -- train --init "$T/m.st" --layers 196,100,10 --epochs 1 --limit 50

# ---- backends and devices ---------------------------------------------
if "$PHX" devices >/dev/null 2>"$T/err"; then
  expect 1 "nosuchdevice123" -- train --backend opencl --device nosuchdevice123 --epochs 1
else
  grep -q "no OpenCL support" "$T/err" && {
    expect 1 "this build has no OpenCL support" -- train --backend opencl --epochs 1
    expect 1 "this build has no OpenCL support" -- devices
    expect 1 "this build has no OpenCL support" -- check
  }
fi
expect 0 "backend c64" -- train --backend c64 --epochs 1 --limit 50

# ---- --save is never replaced by a failed run ----------------------------
cp "$T/m.st" "$T/keep.st"
expect 1 "try a lower --lr" -- train --optimizer sgd --lr 1e38 --epochs 2 --save "$T/keep.st"
cmp -s "$T/m.st" "$T/keep.st" || fail "failed training changed the --save file"
ls "$T" | grep -v -E '^(good|trunc|truncgz|magic|count|range|classes|out|err|.*\.st)$' | grep . && fail "stray files left in $T"
expect 1 "--save $T/nodir/x.st: cannot write to folder $T/nodir" -- train --epochs 1 --limit 50 --save "$T/nodir/x.st"

# ---- grad --out -----------------------------------------------------------
expect 0 "gradient written to $T/g.st" -- grad "$T/m.st" --limit 100 --out "$T/g.st"
expect 0 "196-100-10" -- info "$T/g.st"
expect 0 "over 100 samples" -- grad "$T/m.st" --limit 100 --out "$T/g2.st" --backend c64
if [ -n "$PY" ]; then
  "$PY" - "$T/g.st" "$T/g2.st" <<'EOF' || fail "grad --out is not a safetensors file with the model's tensors"
import json, struct, sys, math
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == '__metadata__':
            continue
        s, e = v['data_offsets']
        assert v['dtype'] == 'F32', v
        out[k] = (v['shape'], struct.unpack('<%df' % ((e - s) // 4), b[8 + n + s:8 + n + e]))
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert sorted(a) == ['layers.0.theta', 'layers.1.theta'], sorted(a)
assert a['layers.0.theta'][0] == [100, 394] and a['layers.1.theta'][0] == [10, 202]
for k in a:
    x, y = a[k][1], b[k][1]
    num = math.sqrt(sum((p - q) ** 2 for p, q in zip(x, y)))
    den = math.sqrt(sum(q * q for q in y))
    assert den > 0 and num / den < 1e-4, (k, num, den)
EOF
fi

# ---- --json: every line is one JSON object ----------------------------------
if [ -n "$PY" ]; then
  jsonlines() { "$PY" -c '
import json, sys
lines = [l for l in sys.stdin.read().splitlines()]
assert lines, "no output"
objs = [json.loads(l) for l in lines]
assert all(isinstance(o, dict) for o in objs)
print(len(objs))' || fail "$1: output is not one JSON object per line"; }
  "$PHX" train --epochs 3 --limit 100 --json | jsonlines "train --json" >"$T/n"
  [ "$(cat "$T/n")" = 4 ] || fail "train --json --epochs 3: $(cat "$T/n") objects, expected 4"
  "$PHX" train --optimizer lbfgs --epochs 3 --limit 100 --json | jsonlines "train lbfgs --json" >/dev/null
  "$PHX" eval "$T/m.st" --json | jsonlines "eval --json" >/dev/null
  "$PHX" eval "$T/m.st" --json | "$PY" -c '
import json, sys
o = json.loads(sys.stdin.read())
assert o["count"] == 200 and sum(map(sum, o["confusion"])) == 200
assert abs(sum(o["confusion"][i][i] for i in range(10)) / 200 - o["accuracy"]) < 1e-9' ||
    fail "eval --json: confusion matrix does not match the accuracy"
  "$PHX" grad "$T/m.st" --limit 10 --out "$T/g3.st" --json | jsonlines "grad --json" >/dev/null
  "$PHX" info "$T/m.st" --json | jsonlines "info --json" >/dev/null
fi

# ---- --epochs 0 --save, then info; --init continues from it --------------
expect 0 "initialised" -- train --epochs 0 --seed 9 --layers 40 --save "$T/zero.st"
expect 0 "196-40-10" -- info "$T/zero.st"
expect 0 "saved $T/zero.st" -- train --init "$T/zero.st" --epochs 1 --limit 100 --save "$T/zero.st"
"$PHX" train --epochs 0 --seed 9 --layers 40 --save "$T/zero2.st" >/dev/null
"$PHX" train --epochs 0 --seed 9 --layers 40 --save "$T/zero3.st" >/dev/null
cmp -s "$T/zero2.st" "$T/zero3.st" || fail "--epochs 0 with one seed is not reproducible"

# ---- --faults: a chip's stuck cells ------------------------------------------
printf '# layer row column value\n0 0 0 gmax\n0 5 3 gmin\n1 7 2 0.5uS\n' >"$T/ok.faults"
printf '0 0 0 gmax\n0 0 0 gmin\n' >"$T/dup.faults"
printf '0 0 0 gmax\n2 0 0 gmin\n' >"$T/layer.faults"
printf '0 0 0 gmax\n0 1 2 3 4\n' >"$T/fields.faults"
expect 0 "accuracy" -- eval "$T/m.st" --faults "$T/ok.faults"
expect 1 "$T/dup.faults: line 2: layer 0 cell (0, 0) is already on line 1" -- eval "$T/m.st" --faults "$T/dup.faults"
expect 1 "$T/layer.faults: line 2: layer 2, the model has layers 0 to 1" -- mc "$T/m.st" --draws 2 --faults "$T/layer.faults"
expect 1 "$T/fields.faults: line 2: expected 'layer row column value'" -- export "$T/m.st" --format csv --faults "$T/fields.faults"
expect 1 "$T/nofile.faults" -- spice "$T/m.st" --faults "$T/nofile.faults"
expect 2 "--faults needs a value" -- eval "$T/m.st" --faults
expect 2 "--faults needs --init MODEL" -- train --faults "$T/ok.faults" --epochs 1
expect 1 "--faults needs a mini-batch optimizer" -- train --init "$T/m.st" --faults "$T/ok.faults" --optimizer lbfgs --epochs 1
cp "$T/m.st" "$T/keepf.st"
expect 1 "line 2" -- train --init "$T/m.st" --faults "$T/dup.faults" --epochs 1 --save "$T/keepf.st"
cmp -s "$T/m.st" "$T/keepf.st" || fail "a refused fault map changed the --save file"
expect 0 "saved $T/chip.st" -- train --init "$T/m.st" --faults "$T/ok.faults" --epochs 2 --limit 200 --save "$T/chip.st"
# the retrained chip holds its faults: pinning them again changes nothing
"$PHX" eval "$T/chip.st" >"$T/e1" && "$PHX" eval "$T/chip.st" --faults "$T/ok.faults" >"$T/e2" &&
  cmp -s "$T/e1" "$T/e2" || fail "train --faults: the saved model does not hold the faults"
"$PHX" export "$T/chip.st" --format spice --faults "$T/ok.faults" --out "$T/chip.cir" >/dev/null 2>&1 &&
  grep -q '^R0_0_0 vdd z0_0 1.00040016' "$T/chip.cir" || fail "export --faults: R0_0_0 is not at gmax"

# ---- the variation a model was trained for --------------------------------------
OLD=$SRC/tests/data/model-main-2dd7bbb.safetensors   # written by main at 2dd7bbb
expect 0 "accuracy 80.50 % (161/200)  loss 1.345630" -- eval "$OLD" --backend c
expect 0 "ideal 80.50 %, mean 79.60 %, std 2.43, min 75.00 %, 5th percentile 75.95 %" -- mc "$OLD" --backend c --draws 20 --sigma 10
"$PHX" info "$OLD" | grep -q "trained for" && fail "info: an old model shows a variation"
H="--sigma 20 --levels 8 --stuck-off 0.05 --stuck-on 0.05"
expect 0 "saved $T/aw.st" -- train $H --epochs 1 --limit 100 --save "$T/aw.st" --checkpoint "$T/aw.ck"
expect 0 "trained for levels 8, lognormal spread 20 %, read noise 0 %, stuck 0.05 at gmin, 0.05 at gmax" -- info "$T/aw.st"
expect 0 "trained for levels 8" -- info "$T/aw.ck"
expect 0 "variation: levels 8, lognormal spread 20 %, read noise 0 %, stuck 0.05 at gmin, 0.05 at gmax" -- mc "$T/aw.st" --draws 3
expect 0 "variation: levels 4, lognormal spread 20 %, read noise 0 %, stuck 0 at gmin, 0.05 at gmax" -- mc "$T/aw.st" --draws 3 --levels 4 --stuck-off 0
expect 2 "--stuck-off 0.05, --stuck-on 0.99" -- mc "$T/aw.st" --draws 3 --stuck-on 0.99
expect 0 "conductances on 8 levels" -- eval "$T/aw.st"
"$PHX" eval "$T/aw.st" --levels 0 | grep -q "levels" && fail "eval --levels 0 still on levels"
expect 2 "eval: of the variation options only --levels" -- eval "$T/aw.st" --sigma 5
"$PHX" export "$T/aw.st" --format csv --draw 4 >"$T/d1" && "$PHX" export "$T/aw.st" --format csv --draw 4 $H >"$T/d2" &&
  cmp -s "$T/d1" "$T/d2" || fail "export --draw: the model's variation is not the default"
# a resumed run trains for the checkpoint's chip (and its --vary-draws)
expect 0 "saved $T/aw2.st" -- train $H --vary-draws 2 --epochs 2 --limit 100 --save "$T/aw2.st"
expect 0 "" -- train $H --vary-draws 2 --epochs 1 --limit 100 --checkpoint "$T/aw2.ck"
expect 0 "saved $T/aw3.st" -- train --resume "$T/aw2.ck" --epochs 2 --save "$T/aw3.st"
"$PHX" export "$T/aw2.st" --format csv >"$T/d1" && "$PHX" export "$T/aw3.st" --format csv >"$T/d2" &&
  cmp -s "$T/d1" "$T/d2" || fail "train --resume: not the run it resumes (variation, --vary-draws)"
expect 1 "--vary-draws differs from the checkpoint's" -- train --resume "$T/aw2.ck" --epochs 2 --vary-draws 3
expect 2 "--vary-draws: expected a whole number from 1 to 1024, got '0'" -- train $H --vary-draws 0
expect 2 "--vary-draws: expected a whole number from 1 to 1024, got '2x'" -- train $H --vary-draws 2x
expect 2 "--vary-draws: expected a whole number from 1 to 1024, got ''" -- train $H --vary-draws
expect 2 "--vary-draws needs variation-aware training" -- train --vary-draws 2 --epochs 1

# ---- --levels-file: a device's own levels --------------------------------------
printf '# device\nunit uS\n0.12\n0.25\n0.5\n0.9996\n' >"$T/dev.levels"
printf 'unit uS\n0.12\n0.1\n' >"$T/down.levels"
printf 'unit uS\n0.05\n0.5\n' >"$T/low.levels"
expect 0 "conductances on the 4 listed levels" -- eval "$T/m.st" --levels-file "$T/dev.levels"
expect 0 "variation: 4 listed levels 0.12..0.9996 uS" -- mc "$T/m.st" --draws 3 --levels-file "$T/dev.levels"
expect 1 "$T/down.levels: line 3: 1e-07 S is not above the level before" -- mc "$T/m.st" --levels-file "$T/down.levels"
expect 2 "--levels-file: level 1 (5e-08 S) is outside the model's" -- mc "$T/m.st" --levels-file "$T/low.levels"
expect 2 "--levels and --levels-file exclude each other" -- mc "$T/m.st" --levels 4 --levels-file "$T/dev.levels"
expect 2 "--levels-file needs a value" -- train --levels-file
expect 0 "saved $T/lv.st" -- train --levels-file "$T/dev.levels" --sigma 5 --epochs 1 --limit 100 --save "$T/lv.st"
expect 0 "trained for 4 listed levels" -- info "$T/lv.st"
expect 0 "conductances on the 4 listed levels" -- eval "$T/lv.st"
expect 0 "saved" -- train --levels-file "$T/dev.levels" --epochs 1 --limit 100 --save "$T/lv2.st"
expect 0 "levels 6," -- mc "$T/lv.st" --draws 2 --levels 6

# ---- OpenCL failures keep the last good checkpoint ---------------------------
# Oclgrind reports 128 MiB of device memory: a too-large model is refused
# with a clear message, and an existing --save file stays as it was.
if "$PHX" devices 2>/dev/null | grep -q Oclgrind; then
  cp "$T/zero.st" "$T/keep2.st"
  expect 1 "out of device memory on Oclgrind" -- train --backend opencl --device oclgrind \
    --layers 196,200000,10 --epochs 1 --limit 10 --save "$T/zero.st"
  cmp -s "$T/zero.st" "$T/keep2.st" || fail "device out of memory changed the --save file"
  expect 1 "no device matches --device 'no-such-gpu'; devices: " -- train --backend opencl \
    --device no-such-gpu --epochs 1 --save "$T/zero.st"
  cmp -s "$T/zero.st" "$T/keep2.st" || fail "a missing device changed the --save file"
fi

# sweep: a run that cannot start ends the sweep, but the lines of the runs
# before it are out already
expect 1 "nonexistent.json" -- sweep --neurons "$SRC/data/sky130-neuron.json,$T/nonexistent.json" \
  --epochs 1 --backend c
[ "$(grep -c '"run":0,' "$T/out")" = 1 ] || fail "sweep: the finished run's line is lost: $(cat "$T/out")"

echo "$ran command checks, $fails failure(s)"
[ "$fails" = 0 ]
