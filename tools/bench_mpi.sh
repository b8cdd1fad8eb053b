#!/usr/bin/env bash
# One run of each job that MPI splits, as one process and under
# `mpirun -np N` (default 2), with wall times and speed-up side by side and
# whether the report is the same (times left out).
# usage: tools/bench_mpi.sh [BUILD_DIR [N]]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
np=${2:-2}
PHX=$PWD/$build/tools/phaxcl
MPI=(mpirun -q -np "$np")
[ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

untimed() { python3 "$PWD/tools/untimed_json.py"; }
now() { date +%s.%N; }
# job name, then the command's arguments (run as one process and under mpirun)
row() {
  local name=$1 same
  shift
  local t0 t1 t2
  t0=$(now)
  "$PHX" "$@" | untimed >"$T/one"
  t1=$(now)
  "${MPI[@]}" "$PHX" "$@" | untimed >"$T/mpi"
  t2=$(now)
  if cmp -s "$T/one" "$T/mpi"; then same=yes; else same=no; fi
  python3 -c "import sys; a=float(sys.argv[2])-float(sys.argv[1]); b=float(sys.argv[3])-float(sys.argv[2]); \
print('%-8s %14.2f %16.2f %9.2fx   %s' % (sys.argv[4], a, b, a / b, sys.argv[5]))" \
    "$t0" "$t1" "$t2" "$name" "$same"
}

"$PHX" train --epochs 20 --save "$T/m.st" >/dev/null
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); mpirun -np $np"
printf '%-8s %14s %16s %10s   %s\n' job "one process s" "mpirun -np $np s" speed-up "same report"
# spice: ngspice single-threaded per rank; the one process as users run it
row spice spice "$T/m.st" --json
# mc: the one process uses every core (threads), each rank one
row mc mc "$T/m.st" --draws 400 --sigma 20 --stuck-off 0.02 --backend c --json
# train: data-parallel; the reference is the same blocks in one process
# (OpenBLAS on every core there, one thread per rank under mpirun)
row train train --layers ,400, --batch 256 --epochs 10 --backend c --grad-blocks 8 --json
