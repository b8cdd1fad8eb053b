#!/bin/bash
# Suite 'mpi': under `mpirun -np 2` (and 3, oversubscribed) mc, spice and
# train report what one process reports, bit for bit (times aside); only
# rank 0 writes; a rank that fails ends the job with one error line and no
# file written; checkpoints resume at any rank count, and SIGTERM to
# mpirun leaves rank 0's checkpoint. Skipped (77) only in builds without MPI.
# usage: test_mpi.sh PHAXCL SOURCE_ROOT HAVE_MPI(0|1)
set -u
PHX=${1:?usage: test_mpi.sh PHAXCL SOURCE_ROOT HAVE_MPI}
SRC=${2:?usage: test_mpi.sh PHAXCL SOURCE_ROOT HAVE_MPI}
[ "${3:-0}" = 1 ] || { echo "built without MPI: skipped"; exit 77; }
command -v mpirun >/dev/null || { echo "FAIL: an MPI build without mpirun on PATH"; exit 1; }
command -v python3 >/dev/null || { echo "no python3: skipped"; exit 77; }
MPI=(mpirun -q --oversubscribe)
[ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
untimed() { python3 "$SRC/tools/untimed_json.py"; }
export OPENBLAS_NUM_THREADS=1 # the one-process reference as each rank runs

"$PHX" train --epochs 3 --backend c --save "$T/m.st" >/dev/null || exit 99

# mc: the draws split over ranks, one report
"$PHX" mc "$T/m.st" --draws 37 --sigma 20 --stuck-off 0.02 --json >"$T/mc1" || exit 99
for np in 2 3; do
  "${MPI[@]}" -np $np "$PHX" mc "$T/m.st" --draws 37 --sigma 20 --stuck-off 0.02 --json \
    >"$T/mc$np" 2>"$T/err" || fail "mc -np $np: $(cat "$T/err")"
  cmp -s "$T/mc1" "$T/mc$np" || fail "mc -np $np: report differs from one process"
done
"$PHX" mc "$T/m.st" --draws 5 --sigma 10 >"$T/mct1" || exit 99
"${MPI[@]}" -np 2 "$PHX" mc "$T/m.st" --draws 5 --sigma 10 >"$T/mct2" || fail "mc text -np 2"
cmp -s "$T/mct1" "$T/mct2" || fail "mc: text report differs"

# train: data-parallel theta and epochs the same for 1 (--grad-blocks), 2, 3 ranks
A=(--epochs 2 --backend c --json)
"$PHX" train "${A[@]}" --grad-blocks 8 --save "$T/t1.st" | untimed >"$T/t1" || exit 99
for np in 2 3; do
  mkdir "$T/d$np"
  "${MPI[@]}" -np $np "$PHX" train "${A[@]}" --save "$T/d$np/t.st" 2>"$T/err" | untimed \
    >"$T/t$np" || fail "train -np $np: $(cat "$T/err")"
  cmp -s "$T/t1.st" "$T/d$np/t.st" || fail "train -np $np: theta differs from --grad-blocks 8"
  sed "s#$T/d$np/t.st#$T/t1.st#" "$T/t$np" | cmp -s "$T/t1" - || fail "train -np $np: epochs differ"
  [ "$(ls -A "$T/d$np")" = t.st ] || fail "train -np $np: files besides the model: $(ls -A "$T/d$np")"
done
"$PHX" train --optimizer lbfgs --epochs 3 --backend c --grad-blocks 4 --save "$T/l1.st" \
  >/dev/null || exit 99
"${MPI[@]}" -np 2 "$PHX" train --optimizer lbfgs --epochs 3 --backend c --grad-blocks 4 \
  --save "$T/l2.st" >/dev/null 2>"$T/err" || fail "lbfgs -np 2: $(cat "$T/err")"
cmp -s "$T/l1.st" "$T/l2.st" || fail "lbfgs -np 2: theta differs"
"${MPI[@]}" -np 3 "$PHX" train --epochs 1 --grad-blocks 2 >/dev/null 2>"$T/err"
[ $? = 2 ] && grep -q "^phaxcl: --grad-blocks 2: fewer blocks than the 3 ranks" "$T/err" \
  || fail "3 ranks, 2 blocks: $(cat "$T/err")"

# checkpoints: rank 0 writes them; a run resumed at another rank count
# trains the theta of the run never stopped
C=(--epochs 2 --backend c --checkpoint-every 1)
mkdir "$T/ck"
"${MPI[@]}" -np 2 "$PHX" train "${C[@]}" --checkpoint "$T/ck/c.st" >/dev/null 2>"$T/err" \
  || fail "checkpoint -np 2: $(cat "$T/err")"
[ "$(ls -A "$T/ck")" = c.st ] || fail "checkpoint -np 2: files: $(ls -A "$T/ck")"
"$PHX" train --epochs 3 --backend c --grad-blocks 8 --save "$T/r1.st" >/dev/null || exit 99
"${MPI[@]}" -np 3 "$PHX" train --resume "$T/ck/c.st" --epochs 3 --backend c \
  --save "$T/ck/r3.st" >/dev/null 2>"$T/err" || fail "resume -np 3: $(cat "$T/err")"
cmp -s "$T/r1.st" "$T/ck/r3.st" || fail "checkpoint on 2 ranks, resumed on 3: theta differs"

# SIGTERM to mpirun (SIGINT alike) mid-run: every rank stops at one step,
# rank 0 writes the checkpoint and says so; no model, no temp file
# (mpirun's own libevent may warn as it tears the job down: not ours)
mkdir "$T/sig"
"${MPI[@]}" -np 2 "$PHX" train --epochs 100000 --backend c --checkpoint "$T/sig/c.st" \
  --save "$T/sig/m.st" >"$T/sigout" 2>"$T/sigerr" &
pid=$!
for _ in $(seq 600); do grep -q '^epoch' "$T/sigout" && break; sleep 0.1; done
kill -TERM $pid
wait $pid
[ $? != 0 ] || fail "SIGTERM: exit 0"
grep -q "^phaxcl: interrupted .*; checkpoint written to $T/sig/c.st$" "$T/sigerr" \
  && [ "$(grep -c interrupted "$T/sigerr")" = 1 ] \
  && [ "$(grep -v '^phaxcl: ' "$T/sigerr" | grep -vc '^\[warn\] Epoll')" = 0 ] \
  || fail "SIGTERM: stderr: $(cat "$T/sigerr")"
[ "$(ls -A "$T/sig")" = c.st ] || fail "SIGTERM: files: $(ls -A "$T/sig")"
# the epoch it stopped in (or after), then one more, against one process
e=$(sed -n 's/^phaxcl: interrupted .*epoch \([0-9]*\);.*/\1/p' "$T/sigerr")
if [ -n "$e" ]; then
  e=$((e + 1))
  "$PHX" train --epochs $e --backend c --grad-blocks 8 --save "$T/sig1.st" >/dev/null || exit 99
  "${MPI[@]}" -np 2 "$PHX" train --resume "$T/sig/c.st" --epochs $e --backend c \
    --save "$T/sig/m.st" >/dev/null 2>"$T/err" || fail "resume after SIGTERM: $(cat "$T/err")"
  cmp -s "$T/sig1.st" "$T/sig/m.st" || fail "stopped by SIGTERM and resumed: theta differs"
fi

# spice: samples split at sweep starts, the same per-sample results
if "$PHX" spice "$T/m.st" --n 20 --sweep 6 --json 2>"$T/err" | untimed >"$T/s1"; then
  # ranks take 12 and 8 samples, the second from a sweep start mid-set
  "${MPI[@]}" -np 2 "$PHX" spice "$T/m.st" --n 20 --sweep 6 --json 2>"$T/err" | untimed \
    >"$T/s2" || fail "spice -np 2: $(cat "$T/err")"
  cmp -s "$T/s1" "$T/s2" || fail "spice -np 2: report differs from one process"
else
  echo "spice unavailable here ($(cat "$T/err")): not compared"
fi

# sweep: runs split over ranks, one line per run in run order
S=(--hidden 20:30,10 --seeds 1,2,3 --sigmas 10 --draws 4 --epochs 2 --backend c)
"$PHX" sweep "${S[@]}" | untimed >"$T/w1" || exit 99
[ "$(grep -c '"run"' "$T/w1")" = 6 ] || fail "sweep: $(cat "$T/w1")"
for np in 2 3; do
  "${MPI[@]}" -np $np "$PHX" sweep "${S[@]}" 2>"$T/err" | untimed >"$T/w$np" \
    || fail "sweep -np $np: $(cat "$T/err")"
  cmp -s "$T/w1" "$T/w$np" || fail "sweep -np $np: lines differ from one process"
done

# a command without ranks (eval) runs once, on rank 0
"${MPI[@]}" -np 2 "$PHX" eval "$T/m.st" >"$T/ev" 2>"$T/err" || fail "eval -np 2: $(cat "$T/err")"
[ "$(grep -c '^accuracy' "$T/ev")" = 1 ] || fail "eval -np 2: $(cat "$T/ev")"

# failures: one rank's bad input ends the job with its one line, no file
"${MPI[@]}" -np 1 "$PHX" train --epochs 50 --save "$T/f.st" : \
  -np 1 "$PHX" train --epochs 50 --data "$T/nowhere" --save "$T/f.st" >/dev/null 2>"$T/err"
rc=$?
[ $rc != 0 ] || fail "a failing rank: exit 0"
[ "$(grep -c . "$T/err")" = 1 ] && grep -q "^phaxcl: .*$T/nowhere" "$T/err" \
  || fail "a failing rank: stderr: $(cat "$T/err")"
[ -z "$(ls -A "$T" | grep '^f\.st')" ] || fail "a failing rank: files left: $(ls -A "$T")"
# the same bad input on every rank: still one line
"${MPI[@]}" -np 2 "$PHX" mc "$T/missing.st" >/dev/null 2>"$T/err"
rc=$?
[ $rc != 0 ] || fail "bad input on all ranks: exit 0"
[ "$(grep -c . "$T/err")" = 1 ] && grep -q "^phaxcl: .*missing.st" "$T/err" \
  || fail "bad input on all ranks: stderr: $(cat "$T/err")"

echo "mpi: $fails failure(s)"
[ $fails = 0 ]
