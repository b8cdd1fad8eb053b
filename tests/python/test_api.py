"""API round trips: models, theta, conductances, data, forward, gradient,
training hooks, Monte Carlo, circuit commands, neurons."""
import csv

import numpy as np
import pytest

import phaxcl
from conftest import bits


def test_model_roundtrip(tmp_path):
    m = phaxcl.Model([196, 30, 10], seed=5, vdd=0.6, ratio=10.0, gmin=0.2e-6, loss="mse")
    assert m.sizes == [196, 30, 10] and m.nlayers == 2
    assert [t.shape for t in m.thetas] == [(30, 394), (10, 62)]
    rng = np.random.default_rng(0)
    t0 = rng.normal(size=(30, 394)).astype(np.float32)
    m.set_theta(0, t0)
    assert np.array_equal(bits(m.theta(0)), bits(t0))
    m.save(tmp_path / "m.safetensors")
    k = phaxcl.Model.load(tmp_path / "m.safetensors")
    assert k.opts == m.opts
    assert k.opts["loss"] == "mse" and k.opts["vdd"] == 0.6 and k.opts["ratio"] == 10.0
    for a, b in zip(k.thetas, m.thetas):
        assert np.array_equal(bits(a), bits(b))
    c = m.copy()
    assert c.opts == m.opts and all(np.array_equal(a, b) for a, b in zip(c.thetas, m.thetas))


def test_seeded_init_is_reproducible():
    a, b = phaxcl.Model(seed=9), phaxcl.Model(seed=9)
    assert np.array_equal(bits(a.theta(0)), bits(b.theta(0)))
    assert not np.array_equal(a.theta(0), phaxcl.Model(seed=10).theta(0))
    z = phaxcl.Model(seed=None)
    assert not z.theta(0).any()  # no seed: all theta zero


def test_conductances_match_csv_export(trained, tmp_path):
    m, _ = trained
    o = m.opts
    paths = phaxcl.export_csv(m, tmp_path)
    assert len(paths) == 2 * m.nlayers
    for l in range(m.nlayers):
        g = m.conductances(l)
        assert g.shape == m.theta(l).shape
        assert g.min() >= o["gmin"] * (1 - 1e-9) and g.max() <= o["gmin"] * o["ratio"] * (1 + 1e-9)
        np.testing.assert_allclose(m.resistances(l), 1 / g)
        with open(tmp_path / f"layer{l}_conductance_S.csv") as f:
            rows = list(csv.reader(f))
        table = np.array([[float(v) for v in r[1:]] for r in rows[1:]])  # rows x neurons
        np.testing.assert_allclose(table, g.T, rtol=1e-6)
        assert rows[1][0] == "bias+" and rows[3][0] == ("x1+" if l == 0 else "h1-")


def test_dataset_roundtrip(data):
    train, test = data
    assert (len(train), len(test), train.dim, train.classes) == (800, 200, 196, 10)
    x, y = train.x, train.labels
    assert x.dtype == np.float32 and x.shape == (800, 196) and 0 <= x.min() and x.max() <= 1
    d = phaxcl.Dataset(x, y)
    assert np.array_equal(d.x, x) and np.array_equal(d.labels, y) and d.classes == 10
    pooled, _ = phaxcl.load_idx(pool=2)
    assert pooled.dim == 49
    np.testing.assert_allclose(pooled.x[0, 0], x[0].reshape(14, 14)[:2, :2].mean(), rtol=1e-6)


def test_forward_agrees_with_evaluate(trained, data):
    m, _ = trained
    test = data[1]
    r = phaxcl.evaluate(m, test, backend="c")
    out = m.forward(test.x)
    assert out.shape == (200, 10)
    vdd = m.opts["vdd"]
    assert np.all(np.abs(out) <= vdd / 2 + 1e-3)
    acc = np.mean(m.predict(test.x) == test.labels)
    assert abs(acc - r["accuracy"]) <= 1 / 200  # float64 vs float32 ties at most
    assert r["accuracy"] > 0.6 and r["count"] == 200
    assert r["confusion"].sum() == 200 and np.trace(r["confusion"]) == round(r["accuracy"] * 200)
    assert np.array_equal(m.forward(test.x[0]), out[0])


def test_gradient_matches_finite_differences(trained, data):
    m, _ = trained
    train = data[0]
    loss, grads = phaxcl.gradient(m, train, 64, backend="c64")
    assert [g.shape for g in grads] == [t.shape for t in m.thetas]
    h = 1e-2
    for l, (i, j) in ((0, (3, 100)), (1, (2, 5)), (1, (7, 0))):
        t = m.theta(l)
        p, q = m.copy(), m.copy()
        tp, tq = t.copy(), t.copy()
        tp[i, j] += h
        tq[i, j] -= h
        p.set_theta(l, tp)
        q.set_theta(l, tq)
        lp, _ = phaxcl.gradient(p, train, 64, backend="c64")
        lq, _ = phaxcl.gradient(q, train, 64, backend="c64")
        fd = (lp - lq) / (float(tp[i, j]) - float(tq[i, j]))
        assert abs(fd - grads[l][i, j]) <= 1e-3 * max(abs(fd), 1e-3), (l, i, j, fd, grads[l][i, j])


def test_train_callback_and_early_stop(data):
    m = phaxcl.Model([196, 10, 10])
    seen = []
    hist = phaxcl.train(m, data[0], data[1], epochs=5, backend="c",
                        on_epoch=lambda s: seen.append(s) or s["epoch"] == 2)
    assert [s["epoch"] for s in hist] == [1, 2] and seen == hist
    assert all(0 <= s["train_acc"] <= 1 and s["test_acc"] is not None for s in hist)

    def boom(s):
        raise KeyError("from the callback")
    with pytest.raises(KeyError):
        phaxcl.train(m, data[0], epochs=3, backend="c", on_epoch=boom)


def test_train_from_folder_and_arrays(data):
    train, test = data
    a, b = phaxcl.Model([196, 10, 10]), phaxcl.Model([196, 10, 10])
    ha = phaxcl.train(a, phaxcl.bundled_data(), epochs=2, backend="c")
    hb = phaxcl.train(b, (train.x, train.labels), (test.x, test.labels), epochs=2, backend="c")
    assert ha == [dict(s, seconds=t["seconds"]) for s, t in zip(hb, ha)]
    assert all(np.array_equal(bits(x), bits(y)) for x, y in zip(a.thetas, b.thetas))


def test_backend_object_and_names():
    b = phaxcl.Backend("c")
    assert b.name == "c" and "cpu" in b.device
    assert phaxcl.Backend("c64").name == "c64"


def test_devices_lists_opencl():
    try:
        devs = phaxcl.devices()
    except phaxcl.Error as e:
        assert e.status in ("PHX_ENOBACKEND", "PHX_ENODEV")
        pytest.skip(str(e))
    assert devs and all({"spec", "name", "type", "platform_name"} <= set(d) for d in devs)
    assert sum(d["is_default"] for d in devs) <= 1


def test_mc(trained, data):
    m, _ = trained
    ideal = phaxcl.evaluate(m, data[1], backend="c")["accuracy"]
    r = phaxcl.mc(m, data[1], draws=4, backend="c")  # no variation: every chip ideal
    assert np.all(r["acc"] == r["ideal"]) and r["ideal"] == pytest.approx(ideal)
    r = phaxcl.mc(m, data[1], draws=30, backend="c", sigma=0.3, stuck_off=0.05)
    assert r["acc"].shape == (30,) and r["draws"] == 30
    assert r["mean"] == pytest.approx(r["acc"].mean()) and r["min"] == r["acc"].min()
    chip = phaxcl.draw(m, 3, sigma=0.3, stuck_off=0.05)
    assert phaxcl.evaluate(chip, data[1], backend="c")["accuracy"] == pytest.approx(
        r["acc"][3], abs=1 / 200)


def test_spice_matches_model(trained, data, spice_ok, tmp_path):
    m, _ = trained
    r = phaxcl.spice(m, data[1], n=8)
    assert r["count"] == 8 and r["converged"] == 8 and r["sim"].shape == (8, 10)
    assert r["max_dv"] < 1e-6 and r["agreement"] == 1.0
    np.testing.assert_allclose(r["sim"], r["model"], atol=1e-6)
    phaxcl.export_spice(m, tmp_path / "net.cir", x=data[1].x[0])
    assert ".end" in (tmp_path / "net.cir").read_text()


def test_neuron_file():
    import os
    path = os.path.join(os.path.dirname(phaxcl.bundled_data()), "sky130-neuron.json")
    n = phaxcl.Neuron(path)
    z = n.sweep["z"]
    assert len(z) > 100 and n.vdd == 0.5
    for key, a, rms in (("om", n.c, n.rms[0]), ("op", n.d, n.rms[1])):
        res = n.sweep[key] - phaxcl.Neuron.curve(a, z)
        assert np.sqrt(np.mean(res ** 2)) == pytest.approx(rms, rel=0.05)

