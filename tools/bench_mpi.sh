#!/usr/bin/env bash
# One run of each job that MPI splits, as one process and under
# `mpirun -np N` (default 2), with wall times and speed-up side by side and
# whether the report is the same (times left out).
# usage: tools/bench_mpi.sh [BUILD_DIR [N]]
# SKY130_N=K: transistor-level samples (default 200, the whole bundled test
# set; 0 leaves the row out; each rank parses the two transistors it uses
# from the sky130 library).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
np=${2:-2}
PHX=$PWD/$build/tools/phaxcl
MPI=(mpirun -q -np "$np")
[ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
FASHION=/usr/share/datasets/fashion-mnist
export PHAXCL_CACHE_DIR=${PHAXCL_CACHE_DIR:-$PWD/$build/cache}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

untimed() { python3 "$PWD/tools/untimed_json.py"; }
# job name, then the command's arguments (run as one process and under
# mpirun): wall and CPU seconds (user + system, every rank) side by side.
# On a machine others load, the CPU ratio says what idle cores would give.
# With REF set (env assignments), "same" compares the ranks' report with an
# untimed one-process run under those instead of the timed one.
row() {
  local name=$1 same
  shift
  /usr/bin/time -f "%e %U %S" -o "$T/t1" "$PHX" "$@" | untimed >"$T/one"
  /usr/bin/time -f "%e %U %S" -o "$T/t2" "${MPI[@]}" "$PHX" "$@" | untimed >"$T/mpi"
  [ -z "${REF:-}" ] || env $REF "$PHX" "$@" | untimed >"$T/one"
  if cmp -s "$T/one" "$T/mpi"; then same=yes; else same=no; fi
  python3 - "$name" "$same" "$T/t1" "$T/t2" <<'PY'
import sys
name, same = sys.argv[1:3]
w1, u1, s1 = map(float, open(sys.argv[3]).read().split()[-3:])
w2, u2, s2 = map(float, open(sys.argv[4]).read().split()[-3:])
print("%-9s %9.2f %9.2f %8.2fx %9.2f %9.2f %8.2f   %s"
      % (name, w1, w2, w1 / w2, u1 + s1, u2 + s2, (u1 + s1) / (u2 + s2), same))
PY
}

"$PHX" train --epochs 20 --save "$T/m.st" >/dev/null
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); mpirun -np $np"
printf '%-9s %9s %9s %9s %9s %9s %8s   %s\n' job "wall 1" "wall $np" speed-up "cpu 1" "cpu $np" \
  "cpu 1/$np" "same report"
# spice: single-threaded ngspice in the one process and in every rank;
# the bundled test set (200 samples), behavioural inverters
row spice spice "$T/m.st" --threads 1 --json
# a realistic set: 1000 Fashion-MNIST test images (14x14), behavioural
if [ -d "$FASHION" ]; then
  "$PHX" train --data "$FASHION" --pool 2 --limit 2000 --epochs 3 --save "$T/f.st" >/dev/null
  row spice1k spice "$T/f.st" --data "$FASHION" --pool 2 --n 1000 --threads 1 --json
fi
# transistor level: sky130 inverters (models from tools/fetch_sky130.sh)
sky_n=${SKY130_N:-200}
if [ "$sky_n" != 0 ] && [ -d "$PHAXCL_CACHE_DIR/sky130" ]; then
  row "sky130-$sky_n" spice "$T/m.st" --inverter sky130 --n "$sky_n" --threads 1 --json
fi
# mc: the one process runs a worker per core, each rank one
row mc mc "$T/m.st" --draws 4000 --sigma 20 --stuck-off 0.02 --backend c --json
row mc20k mc "$T/m.st" --draws 20000 --sigma 20 --stuck-off 0.02 --backend c --json
# train: data-parallel; the one process runs the same blocks with OpenBLAS
# on every core, whose rounding differs: the report is compared with one
# BLAS thread (as every rank runs), untimed
REF=OPENBLAS_NUM_THREADS=1 row train train --layers ,400, --batch 256 --epochs 100 --backend c \
  --grad-blocks 8 --json
