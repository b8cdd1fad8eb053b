"""Each plot kind written as PNG and SVG and read back: a valid image of the
size asked for, with the expected axes and series."""
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.image import imread

import phaxcl
from phaxcl import plot

SIZE = (800, 500)
DPI = 100


def check_files(fig, tmp_path, name, n_axes):
    """Writes fig as PNG and SVG through plot.save, reads both back."""
    png, svg = tmp_path / f"{name}.png", tmp_path / f"{name}.svg"
    plot.save(fig, png)
    plot.save(fig, svg)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert imread(png).shape == (SIZE[1], SIZE[0], 4)
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert root.get("width") == f"{SIZE[0] * 72 / DPI:g}pt"
    assert root.get("height") == f"{SIZE[1] * 72 / DPI:g}pt"
    ids = [g.get("id", "") for g in root.iter("{http://www.w3.org/2000/svg}g")]
    assert sum(1 for i in ids if i.startswith("axes_")) == n_axes
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".phaxcl-plot-")]


def test_curves(trained, data, tmp_path, cli):
    from conftest import run_cli
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_cli(cli, "train", "--backend", "c", "--epochs", "3", "--layers", "196,8,10",
            "--log", a)
    phaxcl.train(phaxcl.Model([196, 8, 10]), data[0], epochs=4, backend="c", log=b)  # no test
    fig = plot.curves([a, b], size=SIZE, dpi=DPI)
    loss, acc = fig.axes
    assert len(fig.axes) == 2
    assert len(loss.lines) == 3 and len(acc.lines) == 3  # a: train + test, b: train
    assert [len(l.get_xdata()) for l in acc.lines] == [3, 3, 4]
    np.testing.assert_allclose(acc.lines[2].get_ydata(),
                               [100 * o["train_acc"] for o in plot.read_log(b)[0][1]])
    check_files(fig, tmp_path, "curves", 2)


def test_conductance(trained, tmp_path):
    m, _ = trained
    fig = plot.conductance(m, size=SIZE, dpi=DPI)
    assert len(fig.axes) == 4  # two layers, each with a colour bar
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (394, 20)
    np.testing.assert_allclose(img, m.conductances(0).T * 1e6)
    assert len(fig.axes[0].lines) == 2  # bias | + | - group boundaries
    check_files(fig, tmp_path, "conductance", 4)
    one = plot.conductance(m, layers=[1], size=SIZE, dpi=DPI)
    assert len(one.axes) == 2 and one.axes[0].images[0].get_array().shape == (42, 10)


def test_neuron(tmp_path):
    n = phaxcl.Neuron(os.path.join(os.path.dirname(phaxcl.bundled_data()),
                                   "sky130-neuron.json"))
    fig = plot.neuron(n, size=SIZE, dpi=DPI)
    top, res = fig.axes
    assert len(top.lines) == 4 and len(res.lines) == 2
    np.testing.assert_array_equal(top.lines[0].get_ydata(), n.sweep["om"])
    check_files(fig, tmp_path, "neuron", 2)


def test_spice(trained, data, spice_ok, tmp_path):
    m, _ = trained
    r = phaxcl.spice(m, data[1], n=6)
    fig = plot.spice(r, size=SIZE, dpi=DPI)
    sc, hist = fig.axes
    assert len(sc.collections) == 1 and len(sc.collections[0].get_offsets()) == 60
    assert len(sc.lines) == 1 and len(hist.patches) == 29  # 30 edges
    assert sum(p.get_height() for p in hist.patches) == 60
    check_files(fig, tmp_path, "spice", 2)


def test_mc(trained, data, tmp_path):
    m, _ = trained
    r = phaxcl.mc(m, data[1], draws=40, backend="c", sigma=0.3)
    fig = plot.mc(r, size=SIZE, dpi=DPI)
    ax, = fig.axes
    assert sum(p.get_height() for p in ax.patches) == 40
    assert len(ax.lines) == 3  # ideal, mean, 5th percentile
    check_files(fig, tmp_path, "mc", 1)


@pytest.mark.parametrize("kind", ["curves", "conductance", "neuron", "mc", "spice"])
def test_command_line(kind, trained, data, tmp_path, spice_ok, capsys):
    m, path = trained
    neuron = os.path.join(os.path.dirname(phaxcl.bundled_data()), "sky130-neuron.json")
    log = tmp_path / "l.jsonl"
    phaxcl.train(phaxcl.Model([196, 8, 10]), data[0], data[1], epochs=2, backend="c", log=log)
    args = {"curves": [log], "conductance": [path], "neuron": [neuron],
            "mc": [path, "--draws", "10", "--sigma", "20", "--backend", "c"],
            "spice": [path, "--n", "3"]}[kind]
    out = tmp_path / f"{kind}.svg"
    assert plot.main([kind, *map(str, args), "--out", str(out), "--size", "700x400"]) == 0
    root = ET.parse(out).getroot()
    assert root.get("width") == "504pt" and root.get("height") == "288pt"


def test_command_line_errors(trained, tmp_path, capsys):
    _, path = trained
    keep = tmp_path / "keep.png"
    keep.write_bytes(b"old")
    assert plot.main(["conductance", str(path), "--out", str(tmp_path / "x.jpg")]) == 1
    assert "expected a .png or .svg" in capsys.readouterr().err
    assert plot.main(["conductance", str(tmp_path / "missing.safetensors"),
                      "--out", str(keep)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("phaxcl plot: ") and "missing.safetensors" in err
    assert keep.read_bytes() == b"old"
    with pytest.raises(SystemExit) as e:
        plot.main(["curves", str(path), "--out", str(keep), "--size", "5x5"])
    assert e.value.code == 2
