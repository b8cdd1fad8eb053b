"""Python and the CLI compute the same things: training gives the same
theta bit for bit on the C path, the --log files hold the same epochs,
and evaluation agrees."""
import json
import os
import sys

import numpy as np
import pytest

import phaxcl
from conftest import bits, run_cli

CASES = [
    # CLI options, the same as train() keywords (besides seed for the model)
    (["--epochs", "3"], dict(epochs=3), 1),
    (["--optimizer", "momentum", "--lr", "0.05", "--batch", "32", "--epochs", "2",
      "--seed", "7", "--layers", "196,24,10"], dict(optimizer="momentum", lr=0.05, batch=32,
                                                     epochs=2, seed=7), 7),
    (["--epochs", "1", "--layers", "196,24,10", "--sigma", "20", "--stuck-on", "0.05",
      "--vary-draws", "2"], dict(epochs=1, vary=dict(sigma=0.2, stuck_on=0.05), vary_draws=2), 1),
]


@pytest.mark.parametrize("args,kw,seed", CASES)
def test_train_bit_identical(cli, data, tmp_path, args, kw, seed):
    path = tmp_path / "cli.safetensors"
    log = tmp_path / "cli.jsonl"
    run_cli(cli, "train", "--backend", "c", "--save", path, "--log", log, *args)
    want = phaxcl.Model.load(path)
    sizes = want.sizes
    train, test = data
    for source in ("idx", "numpy"):
        m = phaxcl.Model(sizes, seed=seed)
        if source == "idx":
            hist = phaxcl.train(m, train, test, backend="c", **kw)
        else:
            hist = phaxcl.train(m, (train.x, train.labels), (test.x, test.labels),
                                backend="c", **kw)
        for l in range(m.nlayers):
            assert np.array_equal(bits(m.theta(l)), bits(want.theta(l))), (source, l)
        lines = [json.loads(s) for s in log.read_text().splitlines()]
        assert lines[0]["run"] == str(path) and lines[-1]["done"] is True
        epochs = [o for o in lines if "epoch" in o]
        assert len(epochs) == len(hist) == kw["epochs"]
        for a, b in zip(epochs, hist):
            for k in ("loss", "train_acc", "test_loss", "test_acc"):
                assert a[k] == pytest.approx(b[k], rel=1e-14, abs=0), (k, a, b)


def test_python_log_reads_like_cli_log(cli, data, tmp_path):
    log = tmp_path / "py.jsonl"
    phaxcl.train(phaxcl.Model([196, 8, 10]), data[0], data[1], epochs=2, backend="c", log=log,
                 run="python run")
    from phaxcl.plot import read_log
    (label, epochs), = read_log(log)
    assert label == "python run" and [o["epoch"] for o in epochs] == [1, 2]


def test_evaluate_same_as_cli(cli, trained, data):
    m, path = trained
    r = json.loads(run_cli(cli, "eval", path, "--backend", "c", "--json").stdout)
    e = phaxcl.evaluate(m, data[1], backend="c")
    assert r["accuracy"] == e["accuracy"] and r["count"] == e["count"]
    assert r["loss"] == pytest.approx(e["loss"], rel=1e-14)
    assert np.array_equal(np.array(r["confusion"]), e["confusion"])


def test_cli_plot_runs_the_package(cli, trained, tmp_path):
    log = tmp_path / "run.jsonl"
    run_cli(cli, "train", "--backend", "c", "--epochs", "2", "--layers", "196,8,10",
            "--log", log)
    out = tmp_path / "curves.png"
    env = dict(os.environ, PHAXCL_PYTHON=sys.executable)
    r = run_cli(cli, "plot", "curves", log, "--out", out, "--size", "640x480", env=env)
    assert r.stdout.strip() == f"wrote {out}"
    from matplotlib.image import imread
    assert imread(out).shape == (480, 640, 4)
    bad = run_cli(cli, "plot", "curves", path_that_is_binary(tmp_path), "--out", out,
                  check=False, env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("phaxcl plot: ")
    assert len(bad.stderr.strip().splitlines()) == 1
    assert imread(out).shape == (480, 640, 4)  # the earlier picture is still whole


def path_that_is_binary(tmp_path):
    p = tmp_path / "binary.jsonl"
    p.write_bytes(b"\x80\x81\x82")
    return p


def test_check_same_rows_as_cli(cli):
    try:
        rows = phaxcl.check(device="pocl")
    except phaxcl.Error as e:
        pytest.skip(f"no PoCL device: {e}")
    r = run_cli(cli, "check", "--device", "pocl", "--json")
    want = [json.loads(s) for s in r.stdout.splitlines() if s.startswith("{")]
    want = [w for w in want if "op" in w]
    assert [(w["op"], w["count"]) for w in want] == [(x["op"], x["count"]) for x in rows]
    assert all(x["pass"] == 1 for x in rows)
