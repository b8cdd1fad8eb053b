#!/usr/bin/env python3
"""Training through the Python package against the CLI on the paper task
(196-100-10 on the bundled mnist14, the CLI's defaults: adam, lr 0.1,
batch 16, 50 epochs, seed 1), same backend, one after the other.

Prints, per backend, three ratios Python / CLI (best of --repeat runs each):
  process  whole process: start, load data, train, save the model
  train    the training itself: phaxcl.train()'s wall time against the
           CLI's first-to-last epoch span (sum of its epochs' seconds)
  epochs   the library's own per-epoch seconds, summed
and checks that both runs end with the same theta.

Usage: tools/bench_python.py --cli build/tools/phaxcl [--backend c[,opencl]]
       [--epochs 50] [--repeat 3]  (run with the venv's python that has the
       package: pip install .)"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

PY_RUN = r"""
import json, sys, time
t0 = time.perf_counter()
import phaxcl
backend, epochs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
train, test = phaxcl.load_idx()
m = phaxcl.Model([196, 100, 10], seed=1)
b = phaxcl.Backend(backend)
t1 = time.perf_counter()
hist = phaxcl.train(m, train, test, backend=b, epochs=epochs)
t2 = time.perf_counter()
m.save(out)
print(json.dumps({"train": t2 - t1, "epochs": sum(s["seconds"] for s in hist),
                  "test_acc": hist[-1]["test_acc"]}))
"""


def run_cli(cli, backend, epochs, out):
    t0 = time.perf_counter()
    r = subprocess.run([cli, "train", "--backend", backend, "--epochs", str(epochs), "--json",
                        "--save", out], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    lines = [json.loads(s) for s in r.stdout.splitlines()]
    ep = [o for o in lines if "epoch" in o]
    return {"process": wall, "epochs": sum(o["seconds"] for o in ep),
            "train": sum(o["seconds"] for o in ep), "test_acc": ep[-1]["test_acc"]}


def run_py(backend, epochs, out):
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PY_RUN, backend, str(epochs), out],
                       capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    o = json.loads(r.stdout.splitlines()[-1])
    o["process"] = wall
    return o


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--backend", default="c")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    import phaxcl
    tmp = tempfile.mkdtemp(prefix="phaxcl-bench-")
    worst = 0.0
    for backend in a.backend.split(","):
        best = {"cli": {}, "py": {}}
        for _ in range(a.repeat):  # alternate, so drifts hit both
            for who, fn in (("cli", run_cli), ("py", lambda *x: run_py(*x))):
                args = (a.cli, backend, a.epochs) if who == "cli" else (backend, a.epochs)
                r = fn(*args, os.path.join(tmp, f"{who}.safetensors"))
                for k, v in r.items():
                    if k != "test_acc":
                        best[who][k] = min(best[who].get(k, v), v)
                best[who]["test_acc"] = r["test_acc"]
        same = all((x == y).all() for x, y in zip(
            phaxcl.Model.load(os.path.join(tmp, "cli.safetensors")).thetas,
            phaxcl.Model.load(os.path.join(tmp, "py.safetensors")).thetas))
        c, p = best["cli"], best["py"]
        print(f"{backend}: test acc CLI {100 * c['test_acc']:.2f} %, Python "
              f"{100 * p['test_acc']:.2f} %, theta {'identical' if same else 'DIFFERENT'}")
        for k in ("process", "train", "epochs"):
            ratio = p[k] / c[k]
            if k == "train":
                worst = max(worst, ratio)
            print(f"  {k:8s} CLI {c[k]:8.3f} s  Python {p[k]:8.3f} s  ratio {ratio:.3f}")
    print(f"train ratio Python / CLI, worst backend: {worst:.3f} "
          f"({'within' if worst <= 1.05 else 'OUTSIDE'} 5 %)")


if __name__ == "__main__":
    main()
