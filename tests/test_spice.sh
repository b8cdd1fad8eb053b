#!/bin/bash
# Suite 'spice' through the command line. behavioural: the paper task's
# netlist in ngspice within 10 uV of the model; a standalone deck checked by
# hand the way a user would (ngspice -b, printed nodes against the model's
# values in the deck), which must FAIL once one conductance is perturbed or
# the p/n rows are swapped; the CSV; CLI errors. sky130: vtc fits, train
# --neuron, a few paper-task samples at transistor level, power.
# usage: test_spice.sh PHAXCL SOURCE_ROOT behavioural|sky130
# Exits 77 only when ngspice (or, for sky130, its models) cannot be had.
set -u
PHX=${1:?usage: test_spice.sh PHAXCL SOURCE_ROOT behavioural|sky130}
SRC=${2:?}
PART=${3:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# the program, not a folder of that name earlier on PATH (meson puts
# /usr/lib/x86_64-linux-gnu there, which holds one)
NGSPICE=
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [ -f "$d/ngspice" ] && [ -x "$d/ngspice" ] && { NGSPICE=$d/ngspice; break; }
done
[ -n "$NGSPICE" ] || { echo "ngspice not installed"; exit 77; }

# json FILE EXPR: a value from a JSON file (python3), for the checks below
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# expect STATUS SUBSTRING ARGS...: exit status and message on stderr
expect() {
  local want=$1 msg=$2
  shift 2
  "$PHX" "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  [ "$rc" = "$want" ] || { fail "phaxcl $*: exit $rc, expected $want: $(head -c 300 "$T/err")"; return; }
  [ "$want" = 0 ] || grep -qF -- "$msg" "$T/err" || fail "phaxcl $*: stderr lacks '$msg': $(head -c 300 "$T/err")"
  [ "$want" = 0 ] && [ "$(wc -l <"$T/err")" -gt 1 ] && [ -n "$msg" ] && fail "phaxcl $*: more than one error line"
  return 0
}

# deck_check DECK: runs the standalone deck and compares every printed
# output with the model's value written in the deck; prints the largest
# |dV| and succeeds when it is at most 10 uV.
deck_check() {
  "$NGSPICE" -b "$1" >"$T/deck.out" 2>&1 || { echo "ngspice failed on $1"; return 2; }
  awk '
    /^\*   v\(om[0-9_]+\) = / { want[$2] = $4 }
    /^v\(om[0-9_]+\) = / { got[$1] = $3 }
    END {
      n = 0; worst = 0
      for (k in want) { if (!(k in got)) { print "missing " k; exit 2 }
        d = got[k] - want[k]; if (d < 0) d = -d; if (d > worst) worst = d; n++ }
      printf "%d outputs, max |dV| %.3g V\n", n, worst
      exit (n > 0 && worst <= 1e-5) ? 0 : 1
    }' "$1" "$T/deck.out"
}

if [ "$PART" = behavioural ]; then
  "$PHX" train --save "$T/paper.st" >/dev/null || fail "train"
  # ---- the closed loop on 40 paper-task samples ----
  "$PHX" spice "$T/paper.st" --n 40 --json >"$T/s.json" || fail "spice: $(cat "$T/s.json")"
  [ "$(json "$T/s.json" "d['converged']")" = 40 ] || fail "spice: not all 40 converged"
  json "$T/s.json" "0 if d['max_dv'] <= 10e-6 else sys.exit('max_dv %g' % d['max_dv'])" >/dev/null \
    || fail "spice: max |dV| above 10 uV: $(json "$T/s.json" "d['max_dv']")"
  [ "$(json "$T/s.json" "d['agreement']")" = 1 ] || fail "spice: agreement below 100 %"
  json "$T/s.json" "len(d['samples'][0]['sim']) == 10 and d['power_W']['measured'] > 0 or sys.exit(1)" \
    >/dev/null || fail "spice --json: samples or power missing"
  # the binary engine gives the same outputs
  "$PHX" spice "$T/paper.st" --n 3 --engine binary --json >"$T/b.json" || fail "spice --engine binary"
  [ "$(json "$T/b.json" "d['engine']")" = "ngspice binary" ] || fail "--engine binary not used"
  json "$T/b.json" "d['max_dv'] <= 10e-6 or sys.exit(1)" >/dev/null || fail "binary engine: max |dV|"

  # ---- a drawn chip (device variation, neuron offsets as VOFF sources):
  # ngspice agrees with phaxcl mc ----
  H="--sigma 20 --stuck-off 0.05 --stuck-on 0.05 --levels 8 --offset-sigma 5"
  "$PHX" mc "$T/paper.st" --draws 2 --seed 5 --limit 40 $H --json >"$T/mc.json" || fail "mc"
  for k in 0 1; do
    "$PHX" spice "$T/paper.st" --n 40 --draw $k --draw-seed 5 $H --json >"$T/d.json" \
      || fail "spice --draw $k"
    [ "$(json "$T/d.json" "d['agreement']")" = 1 ] || fail "spice --draw $k: agreement below 100 %"
    [ "$(json "$T/d.json" "d['sim_accuracy']")" = "$(json "$T/mc.json" "d['accuracy'][$k]")" ] \
      || fail "spice --draw $k: accuracy differs from mc's draw $k"
  done
  expect 2 "need --draw K" export "$T/paper.st" --format csv --sigma 10
  # eval --draw K scores mc's chip K (every test sample)
  "$PHX" mc "$T/paper.st" --draws 2 --seed 5 $H --json >"$T/mcall.json" || fail "mc, all samples"
  "$PHX" eval "$T/paper.st" --draw 1 --draw-seed 5 $H --json >"$T/e1.json" || fail "eval --draw 1"
  [ "$(json "$T/e1.json" "d['accuracy']")" = "$(json "$T/mcall.json" "d['accuracy'][1]")" ] \
    || fail "eval --draw 1: not mc's draw 1"
  # the draw's netlist feeds every neuron z - delta through its own source
  "$PHX" export "$T/paper.st" --format spice --draw 1 --draw-seed 5 $H --out "$T/draw1.cir" \
    2>/dev/null || fail "export --draw 1"
  [ "$(grep -c '^VOFF' "$T/draw1.cir")" = 110 ] || fail "export --draw: not 110 neuron offsets"
  expect 2 "--offset-sigma: expected mV from 0 to 1000, got '-1'" mc "$T/paper.st" --offset-sigma -1
  expect 2 "has no measured offset" mc "$T/paper.st" --offset-sigma "$SRC/data/sky130-neuron.json"

  # ---- a standalone deck, checked by hand ----
  "$PHX" export "$T/paper.st" --format spice --sample 7 --out "$T/deck.cir" 2>/dev/null || fail "export --sample"
  deck_check "$T/deck.cir" || fail "standalone deck disagrees with the model"
  # one conductance 20 % off: the output neuron least in saturation
  j=$(awk '/^\*   v\(om1_/ { v = $4 < 0 ? -$4 : $4; if (best == "" || v < best) { best = v; j = $2 } }
           END { gsub(/v\(om1_|\)/, "", j); print j }' "$T/deck.cir")
  awk -v r="R1_${j}_0" '$1 == r { $4 = $4 * 1.2 } { print }' "$T/deck.cir" >"$T/perturbed.cir"
  cmp -s "$T/deck.cir" "$T/perturbed.cir" && fail "perturbation did not change the deck"
  deck_check "$T/perturbed.cir"
  [ $? = 1 ] || fail "a 20 % conductance error went unnoticed"
  # p and n rows of the inputs swapped
  sed -E '/^R0_/ { s/ xp([0-9]+) / xSWAP\1 /; s/ xn([0-9]+) / xp\1 /; s/ xSWAP([0-9]+) / xn\1 / }' \
    "$T/deck.cir" >"$T/swapped.cir"
  deck_check "$T/swapped.cir"
  [ $? = 1 ] || fail "swapped p/n rows went unnoticed"

  # ---- csv ----
  "$PHX" export "$T/paper.st" --format csv --out "$T/csv" 2>/dev/null || fail "export csv"
  [ "$(wc -l <"$T/csv/layer0_conductance_S.csv")" = 395 ] || fail "layer 0 csv: not 394 rows + header"
  [ "$(head -1 "$T/csv/layer1_resistance_Ohm.csv" | tr ',' '\n' | wc -l)" = 11 ] || fail "layer 1 csv: not 10 columns"
  sed -n 2p "$T/csv/layer1_conductance_S.csv" | grep -q '^bias+,' || fail "csv: first row not bias+"
  grep -q '^h100+,' "$T/csv/layer1_conductance_S.csv" || fail "csv: no row h100+"
  grep -q '^x196-,' "$T/csv/layer0_resistance_Ohm.csv" || fail "csv: no row x196-"

  # ---- errors: one line naming the culprit ----
  expect 2 "export: --format csv|spice is required" export "$T/paper.st"
  expect 2 "--format: expected csv or spice, got 'pdf'" export "$T/paper.st" --format pdf
  expect 2 "--sample 200: the test set has 200 samples" export "$T/paper.st" --format spice --sample 200
  expect 2 "need --format spice" export "$T/paper.st" --format csv --inverter sky130
  printf '.subckt inv a b c\n.ends\n' >"$T/three.sub"
  expect 1 "--inverter $T/three.sub: subcircuit inv has 3 ports (a b c), expected 4" \
    spice "$T/paper.st" --inverter "$T/three.sub" --n 2
  expect 1 "--inverter $T/none.sub" export "$T/paper.st" --format spice --inverter "$T/none.sub"
  PHAXCL_NGSPICE=$T/no-ngspice expect 1 "ngspice not found" spice "$T/paper.st" --n 2 --engine binary
  PHAXCL_SKY130_LIB=$T/none.lib expect 1 "PHAXCL_SKY130_LIB=$T/none.lib" spice "$T/paper.st" --inverter sky130 --n 2
  expect 1 "--models $T/none.lib" vtc --models "$T/none.lib"
  expect 1 "--corner: expected tt, ff, ss, sf or fs, got 'xx'" vtc --corner xx
  expect 2 "vtc: --inverter must be sky130 or a subckt FILE" vtc --inverter behavioural
  expect 2 "--drive: expected a whole number of devices from 1 to 1000, got '0'" vtc --drive 0
  expect 2 "--drive: only for --inverter sky130" spice "$T/paper.st" --inverter "$T/three.sub" --drive 2
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['sizing']['mult']=2.5; json.dump(d,open(sys.argv[2],'w'))" \
    "$SRC/data/sky130-neuron.json" "$T/half.json"
  expect 1 "$T/half.json: sizing.mult must be a whole number from 1 to 1000" train --neuron "$T/half.json" --epochs 1
  echo '{' >"$T/bad.json"
  expect 1 "$T/bad.json: not valid JSON" train --neuron "$T/bad.json" --epochs 1
  echo '{"format":"phaxcl-neuron"}' >"$T/bad.json"
  expect 1 "$T/bad.json: inverter must be" train --neuron "$T/bad.json" --epochs 1
  expect 2 "--vdd 0.6 conflicts with --neuron $SRC/data/sky130-neuron.json (measured at 0.5 V)" \
    train --neuron "$SRC/data/sky130-neuron.json" --vdd 0.6
  expect 2 "drop --vtc-c/--vtc-d" train --neuron "$SRC/data/sky130-neuron.json" --vtc-c 0,1,0,1
  expect 0 "power" eval "$T/paper.st" --power
  for cmd in export spice vtc; do expect 0 "" $cmd --help; done

  # ---- table neurons: the shipped neuron's o- sweep as the table ----
  expect 2 "--load-aware needs --curve table" train --load-aware --epochs 1
  expect 2 "--load-return needs --curve table" train --load-return --epochs 1
  expect 2 "--curve table needs --neuron FILE" train --curve table --epochs 1
  expect 2 "--curve: expected tanh or table, got 'cubic'" train --curve cubic --epochs 1
  "$PHX" train --neuron "$SRC/data/sky130-neuron.json" --curve table --epochs 2 \
    --save "$T/table.st" >"$T/t.out" 2>&1 || fail "train --curve table: $(tail -2 "$T/t.out")"
  "$PHX" eval "$T/table.st" >"$T/t.out" 2>&1 || fail "eval of a table model: $(cat "$T/t.out")"
  # a drawn chip of a table model keeps the table (not the tanh fits); 40
  # epochs take it off chance level, where both would score 10 %
  "$PHX" train --neuron "$SRC/data/sky130-neuron.json" --curve table --epochs 40 \
    --save "$T/table.st" >/dev/null 2>&1 || fail "train --curve table, 40 epochs"
  "$PHX" mc "$T/table.st" --draws 2 --seed 5 $H --json >"$T/mct.json" || fail "mc of a table model"
  "$PHX" eval "$T/table.st" --draw 1 --draw-seed 5 $H --json >"$T/et.json" || fail "eval --draw of a table model"
  [ "$(json "$T/et.json" "d['accuracy']")" = "$(json "$T/mct.json" "d['accuracy'][1]")" ] \
    || fail "eval --draw 1 of a table model: not mc's draw 1"
  expect 1 "behavioural neurons are tanh fits" spice "$T/table.st" --n 2
  expect 1 "behavioural neurons are tanh fits" export "$T/table.st" --format spice
  expect 0 "" train --neuron "$SRC/data/sky130-neuron.json" --curve table --load-aware --epochs 1
  grep -q "no loaded sweeps" "$T/err" || fail "train --load-aware without loaded sweeps: no note"
  expect 2 "--loads: expected auto or uS values" vtc --loads 1,x
else
  # ---- sky130: models fetched once into the build tree's cache ----
  lib=$("$SRC/tools/fetch_sky130.sh" 2>"$T/fetch.err") || { echo "sky130 models unavailable: $(tail -1 "$T/fetch.err")"; exit 77; }
  export PHAXCL_SKY130_LIB=$lib
  "$PHX" vtc --json --out "$T/n.json" >"$T/v.json" || fail "vtc: $(cat "$T/v.json")"
  # the shipped neuron was measured with the same sizing and corner
  json "$T/v.json" "abs(d['c'][3] / 118.35 - 1) < 0.02 and abs(d['c'][2] + 0.0224) < 0.5e-3 and d['rms_c_mV'] < 10 or sys.exit(str(d))" \
    >/dev/null || fail "vtc: o- fit off the shipped neuron's: $(cat "$T/v.json")"
  json "$T/v.json" "d['d'][3] > 1000 and abs(d['d'][2] + 0.0215) < 0.5e-3 or sys.exit(1)" >/dev/null \
    || fail "vtc: o+ fit off: $(cat "$T/v.json")"
  # the engine loads only the library's two transistors (libtrim.c); the
  # same inverter as a subckt FILE loads the whole section: the same sweep
  printf '%s\n' '.subckt inv1 in out vdd vss' \
    'XP out in vdd vdd sky130_fd_pr__pfet_01v8_lvt w=5 l=1' \
    'XN out in vss vss sky130_fd_pr__nfet_01v8_lvt w=40 l=0.35' '.ends inv1' >"$T/inv1.sp"
  "$PHX" vtc --inverter "$T/inv1.sp" --models "$lib" --corner tt --out "$T/f.json" >/dev/null \
    || fail "vtc --inverter FILE"
  python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1]))['sweep'] != json.load(open(sys.argv[2]))['sweep'])" \
    "$T/n.json" "$T/f.json" || fail "vtc: the cut-down library's sweep differs from the whole library's"
  "$PHX" train --neuron "$T/n.json" --epochs 10 --save "$T/sky.st" >"$T/train.out" 2>&1 || fail "train --neuron"
  # --drive M: M devices in parallel, M times the drive (output resistance
  # at a rail 1/M), the same curve; the neuron file keeps it for the netlist
  "$PHX" vtc --drive 10 --step 5 --out "$T/d10.json" >/dev/null || fail "vtc --drive 10"
  python3 -c "import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]));
r=b['sweep']['rout_om_Ohm'][0]/a['sweep']['rout_om_Ohm'][0]
sys.exit(0 if a['sizing']['mult']==10 and abs(r/10-1)<0.05 else 'mult %s, rail Rout ratio %g' % (a['sizing']['mult'], r))" \
    "$T/d10.json" "$T/n.json" 2>"$T/err" || fail "vtc --drive 10: $(cat "$T/err")"
  "$PHX" export "$T/sky.st" --format spice --inverter sky130 --neuron "$T/d10.json" --out "$T/d10.cir" \
    >/dev/null 2>&1 || fail "export --neuron (drive 10)"
  [ "$(grep -c 'l=[0-9.]* m=10$' "$T/d10.cir")" = 2 ] || fail "export: the neuron file's drive is not in the netlist"
  grep -q "^\.lib \"$lib\" tt\$" "$T/d10.cir" || fail "export: no .lib line for the whole library"
  grep -q "lr 0.01" "$T/train.out" || fail "train --neuron: no lr hint"
  "$PHX" info "$T/sky.st" | grep -q "vtc c       -0.0008" || fail "train --neuron: fits not in the model"
  "$PHX" spice "$T/sky.st" --inverter sky130 --neuron "$T/n.json" --n 4 --json >"$T/k.json" \
    || fail "spice sky130: $(cat "$T/k.json")"
  json "$T/k.json" "d['converged'] == 4 and d['corner'] == 'tt' and 0 < d['mean_dv'] < 0.5 or sys.exit(1)" >/dev/null \
    || fail "spice sky130: $(head -c 600 "$T/k.json")"
  # table neurons under load: a coarse loaded sweep, a load-aware model, the
  # transistor circuit; the model file carries the table
  "$PHX" vtc --loads 0,1,2,4,8,16 --step 2 --out "$T/nl.json" >/dev/null || fail "vtc --loads"
  json "$T/nl.json" "len(d['loaded']['loads_S']) == 6 and len(d['loaded']['out_V'][5]) == len(d['sweep']['z_V']) or sys.exit(1)" \
    >/dev/null || fail "vtc --loads: no loaded sweeps in the file"
  "$PHX" train --neuron "$T/nl.json" --curve table --load-aware --epochs 3 --save "$T/la.st" \
    >"$T/t.out" 2>&1 || fail "train --load-aware: $(tail -2 "$T/t.out")"
  "$PHX" spice "$T/la.st" --inverter sky130 --neuron "$T/nl.json" --n 3 --json >"$T/la.json" \
    || fail "spice of a load-aware model: $(head -c 300 "$T/la.json")"
  json "$T/la.json" "d['converged'] == 3 and d['mean_dv'] < 0.5 or sys.exit(1)" >/dev/null \
    || fail "spice of a load-aware model: $(head -c 600 "$T/la.json")"
  # the host solve with loads returning to the column nodes reproduces the
  # transistor circuit (0.3 mV mean here; the model itself is hundreds off)
  json "$T/la.json" "d['return_solved']['mean_dv'] < 0.01 and d['return_solved']['max_dv'] < 0.02 or sys.exit(1)" >/dev/null \
    || fail "return solve more than 10 mV from the circuit: $(head -c 900 "$T/la.json")"
  # returned loads: the model solves what the return solve does, so the
  # model itself now follows the transistor circuit (same 10 mV bound);
  # the file says so, and eval gives the accuracy the report does
  "$PHX" train --neuron "$T/nl.json" --curve table --load-return --epochs 3 --save "$T/lr.st" \
    >"$T/t.out" 2>&1 || fail "train --load-return: $(tail -2 "$T/t.out")"
  "$PHX" info "$T/lr.st" | grep -q "loads returned to the next layer's columns" \
    || fail "info: a returned-load model not shown as one"
  "$PHX" spice "$T/lr.st" --inverter sky130 --neuron "$T/nl.json" --n 3 --json >"$T/lr.json" \
    || fail "spice of a returned-load model: $(head -c 300 "$T/lr.json")"
  json "$T/lr.json" "d['converged'] == 3 and d['max_dv'] < 0.01 and d['agreement'] == 1 or sys.exit(1)" >/dev/null \
    || fail "returned-load model more than 10 mV from the circuit: $(head -c 900 "$T/lr.json")"
  expect 1 "--loads: must start at 0" vtc --loads 1,2 --step 5
  # mismatch: tt_mm, 6 instances; the same seed the same instances; the
  # neuron file carries the sigma to --offset-sigma
  "$PHX" vtc --mc 6 --seed 3 --step 2 --json --out "$T/nm.json" >"$T/m1.json" || fail "vtc --mc"
  "$PHX" vtc --mc 6 --seed 3 --step 2 --json >"$T/m2.json" || fail "vtc --mc again"
  json "$T/m1.json" "d['offset']['section'] == 'tt_mm' and 0.3 < d['offset']['sigma_mV'] < 20 and abs(d['offset']['mean_mV'] / 1e3 - d['c'][2]) < 0.01 or sys.exit(1)" \
    >/dev/null || fail "vtc --mc: $(cat "$T/m1.json")"
  [ "$(json "$T/m1.json" "d['offset']")" = "$(json "$T/m2.json" "d['offset']")" ] \
    || fail "vtc --mc: the same seed drew other instances"
  "$PHX" mc "$T/sky.st" --draws 2 --limit 20 --offset-sigma "$T/nm.json" --json >"$T/mo.json" \
    || fail "mc --offset-sigma FILE"
  [ "$(json "$T/mo.json" "round(d['offset_sigma_mV'], 9) == round($(json "$T/m1.json" "d['offset']['sigma_mV']"), 9)")" = True ] \
    || fail "mc --offset-sigma FILE: not the file's sigma: $(head -c 400 "$T/mo.json")"
  expect 2 "--mc: expected 2 to 10000 instances" vtc --mc 1
  # power: the estimate (crossbar + the neurons' measured supply current) within 10 %
  json "$T/k.json" "abs(d['power_W']['estimated'] / d['power_W']['measured'] - 1) < 0.1 or sys.exit(1)" >/dev/null \
    || fail "power: estimate and measurement more than 10 % apart: $(json "$T/k.json" "d['power_W']")"
fi
[ $fails = 0 ] && echo "spice $PART: all checks passed"
exit $((fails > 0))
