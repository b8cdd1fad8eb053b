#!/usr/bin/env python3
"""Training through the Python package against the CLI on the paper task
(196-100-10 on the bundled mnist14, the CLI's defaults: adam, lr 0.1,
batch 16, 50 epochs, seed 1), same backend, one after the other.

Prints, per backend, three ratios Python / CLI (best of --repeat runs each):
  process  whole process: start, load data, train, save the model
  cpu      the same process's CPU time (user + system; less noisy on a
           shared machine)
  train    the training itself: phaxcl.train()'s wall time against the
           CLI's first-to-last epoch span (sum of its epochs' seconds)
  epochs   the library's own per-epoch seconds, summed
and checks that both runs end with the same theta.

With --callgrind it counts instructions instead (valgrind; the C path;
epochs 5..12 against 1..4, so that start-up cancels), which a busy machine
does not disturb.

Usage: tools/bench_python.py --cli build/tools/phaxcl [--backend c[,opencl]]
       [--epochs 50] [--repeat 3] [--callgrind]  (run with the venv's python
       that has the package: pip install .)"""
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


def run(cmd):
    """stdout, wall seconds and CPU seconds (user + system) of a command."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        sys.exit(f"bench_python: {' '.join(cmd[:2])} failed: {err.strip()}")
    return out, wall, ru.ru_utime + ru.ru_stime


def run_cli(cli, backend, epochs, out):
    stdout, wall, cpu = run([cli, "train", "--backend", backend, "--epochs", str(epochs),
                             "--json", "--save", out])
    ep = [o for o in map(json.loads, stdout.splitlines()) if "epoch" in o]
    return {"process": wall, "cpu": cpu, "epochs": sum(o["seconds"] for o in ep),
            "train": sum(o["seconds"] for o in ep), "test_acc": ep[-1]["test_acc"]}


def run_py(backend, epochs, out):
    stdout, wall, cpu = run([sys.executable, "-c", PY_RUN, backend, str(epochs), out])
    o = json.loads(stdout.splitlines()[-1])
    o["process"], o["cpu"] = wall, cpu
    return o


def collected(cmd, env):
    """Instructions a command executes, counted by callgrind."""
    with tempfile.NamedTemporaryFile(suffix=".cg") as f:
        r = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={f.name}",
                            *cmd], capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit(f"bench_python: {cmd[0]} under callgrind failed: {r.stderr.strip()[-300:]}")
    return int([l for l in r.stderr.splitlines() if "Collected :" in l][-1].split()[-1])


def callgrind(cli, backend, lo, hi, tmp):
    """Training's instructions per epoch through Python and the CLI: the
    difference between a run of hi and one of lo epochs, so that start-up
    (the interpreter, numpy) cancels. One OpenBLAS thread: counts repeat."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    out = os.path.join(tmp, "cg.safetensors")
    cnt = {}
    for e in (lo, hi):
        cnt["cli", e] = collected([cli, "train", "--backend", backend, "--epochs", str(e),
                                   "--save", out], env)
        cnt["py", e] = collected([sys.executable, "-c", PY_RUN, backend, str(e), out], env)
    c, p = cnt["cli", hi] - cnt["cli", lo], cnt["py", hi] - cnt["py", lo]
    print(f"{backend}: instructions for epochs {lo + 1}..{hi}: CLI {c:,}  Python {p:,}  "
          f"ratio {p / c:.4f}")
    print(f"  start-up: CLI {cnt['cli', lo] - c * lo // (hi - lo):,}  "
          f"Python {cnt['py', lo] - p * lo // (hi - lo):,} instructions")
    return p / c


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", required=True)
    ap.add_argument("--backend", default="c")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--callgrind", action="store_true",
                    help="count instructions (valgrind) instead of timing: C path only")
    a = ap.parse_args()
    import phaxcl
    tmp = tempfile.mkdtemp(prefix="phaxcl-bench-")
    if a.callgrind:
        r = callgrind(a.cli, "c", 4, 12, tmp)
        print(f"train ratio Python / CLI (instructions): {r:.4f} "
              f"({'within' if r <= 1.05 else 'OUTSIDE'} 5 %)")
        return
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
        for k in ("process", "cpu", "train", "epochs"):
            ratio = p[k] / c[k]
            if k == "train":
                worst = max(worst, ratio)
            print(f"  {k:8s} CLI {c[k]:8.3f} s  Python {p[k]:8.3f} s  ratio {ratio:.3f}")
    print(f"train ratio Python / CLI, worst backend: {worst:.3f} "
          f"({'within' if worst <= 1.05 else 'OUTSIDE'} 5 %)")


if __name__ == "__main__":
    main()
