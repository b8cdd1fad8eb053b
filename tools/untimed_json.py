#!/usr/bin/env python3
"""JSON lines from stdin to stdout without their timings (seconds,
load_seconds, sim_seconds), keys sorted: for comparing runs of one job
(tools/bench_mpi.sh, tests/test_mpi.sh)."""
import json
import sys

for line in sys.stdin:
    d = json.loads(line)
    for k in ("seconds", "load_seconds", "sim_seconds"):
        d.pop(k, None)
    print(json.dumps(d, sort_keys=True))
