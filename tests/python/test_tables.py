"""Tables and regression from Python: a CSV or numpy arrays in, figures and
predictions in target units out, the same numbers as the CLI on the same
model and rows, and save/load keeping the scaling and the table's record."""
import numpy as np
import pytest

import phaxcl
from conftest import run_cli


def arm_table(path, n=400, seed=2):
    """A 2-joint arm's inverse kinematics as a CSV with a header: (x, y)
    from the angles, targets the angles (inversek2j's kind of data)."""
    rng = np.random.default_rng(seed)
    t1, t2 = rng.uniform(0, np.pi / 2, n), rng.uniform(0, np.pi / 2, n)
    x = 0.5 * np.cos(t1) + 0.5 * np.cos(t1 + t2)
    y = 0.5 * np.sin(t1) + 0.5 * np.sin(t1 + t2)
    np.savetxt(path, np.column_stack([x, y, t1, t2]), delimiter=",", fmt="%.9g",
               header="x,y,t_theta1,t_theta2", comments="")
    return path


@pytest.fixture(scope="module")
def arm(tmp_path_factory):
    """A regression model trained from a CSV split 25 % / 75 %, saved."""
    d = tmp_path_factory.mktemp("tables")
    csv = arm_table(d / "arm.csv")
    table = phaxcl.load_table(csv, target=["t_theta1", "t_theta2"])
    tr, te = phaxcl.split(table, 0.25, seed=4)
    m = phaxcl.Model([2, 8, 2], seed=1, loss="mse")
    m.fit_scaling(tr)
    before = phaxcl.evaluate(m, te, backend="c")["mse"]
    phaxcl.train(m, tr, te, epochs=6, lr=0.05, backend="c")
    m.save(d / "arm.st")
    return m, csv, table, te, before, d / "arm.st"


def test_load_and_split(arm):
    _, _, table, te, _, _ = arm
    assert (len(table), table.dim, table.targets) == (400, 2, 2)
    assert table.y.shape == (400, 2) and len(te) == 100
    assert np.all(table.y >= 0) and np.all(table.y <= np.pi / 2 + 1e-6)


def test_regression_in_target_units(arm):
    m, _, _, te, before, _ = arm
    r = phaxcl.evaluate(m, te, backend="c", predictions=True)
    assert r["count"] == 100 and r["targets"] == 2
    assert r["mse"] < 0.5 * before
    assert r["rmse"] == pytest.approx(np.sqrt(r["mse"]))
    assert r["application_error"] == r["mre"] > 0
    # the predictions are angles (rad) whose error is the reported one
    p = r["predictions"]
    assert p.shape == (100, 2)
    assert np.mean((p - te.y) ** 2) == pytest.approx(r["mse"], rel=1e-5)
    # predict() from the raw features gives them again
    assert np.allclose(m.predict(te.x), p, atol=1e-5)


def test_same_numbers_as_the_cli(arm, cli):
    """`phaxcl eval MODEL --data CSV` scores the rows split() held out (the
    model records target, split, seed and rows) with the same figures."""
    m, csv, _, te, _, path = arm
    assert m.data_spec == {"target": "t_theta1,t_theta2", "header": "x,y,t_theta1,t_theta2",
                           "split": 0.25, "seed": 4, "rows": 400}
    import json
    out = json.loads(run_cli(cli, "eval", path, "--data", csv, "--backend", "c",
                             "--json").stdout)
    r = phaxcl.evaluate(m, te, backend="c")
    assert out["count"] == 100
    for k in ("mse", "rmse", "mre", "max_err", "mse_v"):
        assert out[k] == pytest.approx(r[k], rel=1e-12), k


def test_save_load_round_trip(arm):
    m, _, _, te, _, path = arm
    m2 = phaxcl.Model.load(path)
    assert m2.targets == 2 and m2.scaled and m2.data_spec == m.data_spec
    a = phaxcl.evaluate(m, te, backend="c", predictions=True)
    b = phaxcl.evaluate(m2, te, backend="c", predictions=True)
    assert a["mse"] == b["mse"] and np.array_equal(a["predictions"], b["predictions"])


def test_from_numpy_arrays():
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 10, (300, 2))
    y = 2 * x[:, 0] + x[:, 1]  # one target, 0..30
    d = phaxcl.Dataset.regression(x, y)
    assert d.targets == 1 and d.y.shape == (300, 1)
    m = phaxcl.Model([2, 8, 1], seed=2, loss="mse")
    m.fit_scaling(d)
    before = phaxcl.evaluate(m, d, backend="c")["mse"]
    phaxcl.train(m, d, epochs=8, lr=0.05, backend="c")
    after = phaxcl.evaluate(m, d, backend="c")
    assert after["mse"] < 0.25 * before and m.data_spec is None
    p = m.predict(x)
    assert p.shape == (300, 1) and abs(p.mean() - y.mean()) < 2


def test_classification_table(tmp_path):
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (200, 3))
    cls = (x[:, 0] + x[:, 1] > 0).astype(int)
    csv = tmp_path / "cls.csv"
    np.savetxt(csv, np.column_stack([x * 100, cls]), delimiter=",", fmt="%.6g",
               header="a,b,c,label", comments="")
    d = phaxcl.load_table(csv)
    assert d.targets == 0 and d.classes == 2
    m = phaxcl.Model([3, 8, 2], seed=1)
    phaxcl.train(m, d, epochs=10, lr=0.05, backend="c")
    assert m.scaled and not m.targets
    assert phaxcl.evaluate(m, d, backend="c")["accuracy"] > 0.8
    assert np.mean(m.predict(x * 100) == cls) > 0.8


def test_errors(tmp_path, arm):
    m, csv, _, te, _, _ = arm
    with pytest.raises(phaxcl.Error, match=r"arm\.csv: line 1: --target column 'nope'"):
        phaxcl.load_table(csv, target="nope")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,x\n")
    with pytest.raises(phaxcl.Error, match=r"bad\.csv: line 3, column 3: not a number"):
        phaxcl.load_table(bad)
    with pytest.raises(phaxcl.Error, match="y: expected 3 rows"):
        phaxcl.Dataset.regression(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(phaxcl.Error, match="task: expected"):
        phaxcl.load_table(csv, task="x")
    # a classifier cannot score regression targets
    c = phaxcl.Model([2, 4, 2], seed=1)
    with pytest.raises(phaxcl.Error, match="regression targets but the model is a classifier"):
        phaxcl.evaluate(c, te, backend="c")


def test_mc_like_the_cli(arm, cli):
    """Chips drawn from a regression model: each draw's test MSE in target
    units, the CLI's figures."""
    import json
    m, csv, _, te, _, path = arm
    r = phaxcl.mc(m, te, draws=3, seed=2, sigma=0.1, backend="c")
    out = json.loads(run_cli(cli, "mc", path, "--data", csv, "--draws", 3, "--seed", 2,
                             "--sigma", 10, "--backend", "c", "--json").stdout)
    assert out["samples"] == r["count"] == 100
    assert np.allclose(out["mse"], r["mse"], rtol=1e-12) and r["ideal"] == out["ideal_mse"]
    assert r["mean"] == pytest.approx(out["mean_mse"]) and r["std"] == pytest.approx(out["std_mse"])
    assert r["min"] >= r["ideal"] * 0.5 and len(r["mre"]) == 3


def test_spice_in_both_units(arm, spice_ok):
    m, _, _, te, _, _ = arm
    r = phaxcl.spice(m, te, n=20)
    g = r["regression"]
    assert r["converged"] == 20 and r["mean_dv"] < 1e-6
    assert r["target_units"].shape == r["sim_units"].shape == (20, 2)
    p = phaxcl.evaluate(m, te, backend="c64", predictions=True)["predictions"][:20]
    assert np.allclose(r["model_units"], p, atol=1e-9)
    assert np.allclose(r["sim_units"], p, atol=1e-5)
    assert g["mse_sim"] == pytest.approx(np.mean((p - te.y[:20]) ** 2), rel=1e-4)
    assert 0 < g["mean_dv_target"] <= g["max_dv_target"] < 0.5
