"""Pictures of training, conductances and the circuit (matplotlib).

Each kind is a function that returns a matplotlib Figure (for notebooks)
and a subcommand of `python -m phaxcl.plot` / `phaxcl plot` that writes it
as PNG or SVG (by the --out extension, atomically):

  curves LOG...        loss and accuracy per epoch from `train --log` files
  conductance MODEL    conductance maps per layer (crossbar rows x neurons, uS)
  neuron FILE          a neuron's fitted curves against its sweep (phaxcl vtc)
  spice MODEL          ngspice against the model: scatter and |dV| histogram
  mc MODEL             Monte Carlo accuracy histogram over drawn chips
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
from matplotlib.figure import Figure

from ._lib import Error

DEFAULT_SIZE = (1000, 600)  # pixels
DEFAULT_DPI = 100


def _figure(size=DEFAULT_SIZE, dpi=DEFAULT_DPI):
    return Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, layout="constrained")


# ---- training curves -------------------------------------------------------

def read_log(path):
    """The runs in a `train --log` file: a list of (label, epochs), epochs
    being the per-epoch dicts. A header line ({"run": ...}) starts a run."""
    runs = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except UnicodeDecodeError:
        raise Error(f"{path}: not a text file (expected JSON lines from 'phaxcl train "
                    "--log')", "PHX_EFORMAT") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            o = json.loads(line)
        except ValueError:
            raise Error(f"{path}:{no}: not a JSON line", "PHX_EFORMAT") from None
        if not isinstance(o, dict):
            raise Error(f"{path}:{no}: expected a JSON object", "PHX_EFORMAT")
        if "run" in o or not runs:
            runs.append((str(o.get("run", os.path.basename(path))), []))
        if "epoch" in o:
            for k in ("loss", "train_acc"):
                if not isinstance(o.get(k), (int, float)):
                    raise Error(f"{path}:{no}: epoch without a number '{k}'",
                                "PHX_EFORMAT")
            runs[-1][1].append(o)
    runs = [r for r in runs if r[1]]
    if not runs:
        raise Error(f"{path}: no epochs (expected a file from 'phaxcl train --log')",
                    "PHX_EFORMAT")
    return runs


def curves(runs, size=DEFAULT_SIZE, dpi=DEFAULT_DPI):
    """Loss (left) and accuracy (right) per epoch, one colour per run;
    training solid, test dashed. runs: log paths, or (label, epochs) pairs."""
    pairs = []
    for r in runs:
        pairs.extend(read_log(r) if isinstance(r, (str, os.PathLike)) else [r])
    fig = _figure(size, dpi)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (label, ep) in enumerate(pairs):
        col = f"C{i % 10}"
        e = [o["epoch"] for o in ep]
        ax_loss.plot(e, [o["loss"] for o in ep], color=col, label=f"{label} train")
        ax_acc.plot(e, [100 * o["train_acc"] for o in ep], color=col, label=f"{label} train")
        test = [o for o in ep if o.get("test_acc") is not None]
        if test:
            et = [o["epoch"] for o in test]
            ax_loss.plot(et, [o["test_loss"] for o in test], color=col, ls="--",
                         label=f"{label} test")
            ax_acc.plot(et, [100 * o["test_acc"] for o in test], color=col, ls="--",
                        label=f"{label} test")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig


# ---- conductance maps -------------------------------------------------------

def conductance(model, layers=None, size=DEFAULT_SIZE, dpi=DEFAULT_DPI):
    """Per layer, the crossbar's conductances in uS: crossbar rows (bias
    pair, then the + rows and the - rows of the inputs, docs/model.md) down,
    neurons across, the row groups marked. One axes plus a colour bar per
    layer."""
    layers = list(range(model.nlayers)) if layers is None else list(layers)
    fig = _figure(size, dpi)
    axes = fig.subplots(1, len(layers), squeeze=False)[0]
    gmin, ratio = model.opts["gmin"], model.opts["ratio"]
    for ax, l in zip(axes, layers):
        g = model.conductances(l).T * 1e6  # rows x neurons
        n = (g.shape[0] - 2) // 2
        im = ax.imshow(g, aspect="auto", interpolation="nearest", cmap="viridis",
                       vmin=gmin * 1e6, vmax=gmin * ratio * 1e6)
        for y in (1.5, n + 1.5):
            ax.axhline(y, color="white", lw=1)
        ax.set_yticks([0.5, 2 + (n - 1) / 2, n + 2 + (n - 1) / 2])
        # Input layer: x+ rows then x-; hidden layers: the previous layer's
        # o- (h-) rows then its o+ (h+), as the netlist and CSV name them.
        groups = ("x+", "x-") if l == 0 else ("h-", "h+")
        ax.set_yticklabels(["bias", f"{groups[0]} (1..{n})", f"{groups[1]} (1..{n})"])
        ax.set(xlabel="neuron", title=f"layer {l}: {g.shape[0]} rows x {g.shape[1]} neurons")
        fig.colorbar(im, ax=ax, label="conductance (uS)")
    return fig


# ---- neuron curves ----------------------------------------------------------

def neuron(n, size=DEFAULT_SIZE, dpi=DEFAULT_DPI):
    """The swept outputs o- and o+ with their tanh fits (top) and the fit
    residuals in mV (bottom)."""
    from .circuit import Neuron
    z = n.sweep["z"]
    if not len(z):
        raise Error("the neuron file holds no sweep to plot", "PHX_EFORMAT")
    fig = _figure(size, dpi)
    ax, res = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    for key, a, name, col in (("om", n.c, "o-", "C0"), ("op", n.d, "o+", "C1")):
        fit = Neuron.curve(a, z)
        ax.plot(z, n.sweep[key], color=col, lw=2.5, alpha=0.5, label=f"{name} swept")
        ax.plot(z, fit, color=col, ls="--", lw=1, label=f"{name} fit")
        res.plot(z, 1e3 * (n.sweep[key] - fit), color=col, label=f"{name} swept - fit")
    ax.set(ylabel="output (V)", title=f"neuron at vdd {n.vdd:g} V: rms {1e3 * n.rms[0]:.2f} mV"
           f" (o-), {1e3 * n.rms[1]:.2f} mV (o+)")
    res.set(xlabel="input z (V)", ylabel="residual (mV)")
    for a in (ax, res):
        a.grid(alpha=0.3)
        a.legend(fontsize="small")
    return fig


# ---- SPICE against the model ------------------------------------------------

def spice(result, size=DEFAULT_SIZE, dpi=DEFAULT_DPI):
    """From phaxcl.spice(): simulated against model outputs of the
    converged samples (left) and the histogram of |dV| (right)."""
    ok = result["converged_mask"]
    sim, mod = result["sim"][ok], result["model"][ok]
    if not sim.size:
        raise Error("no converged sample to plot", "PHX_ESIM")
    fig = _figure(size, dpi)
    sc, hist = fig.subplots(1, 2)
    sc.scatter(mod.ravel(), sim.ravel(), s=6, alpha=0.6, label="outputs")
    lo, hi = min(mod.min(), sim.min()), max(mod.max(), sim.max())
    sc.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls="--", label="sim = model")
    sc.set(xlabel="model output (V)", ylabel="ngspice output (V)",
           title=f"{len(sim)} samples, agreement {100 * result['agreement']:.1f} %")
    sc.legend(fontsize="small")
    dv = np.abs(sim - mod).ravel()
    floor = 1e-15  # below ngspice's solver tolerance; keeps log bins finite
    dv = np.maximum(dv, floor)
    bins = np.logspace(np.log10(dv.min()), np.log10(max(dv.max(), dv.min() * 10)), 30)
    bins[0], bins[-1] = dv.min(), max(bins[-1], dv.max())  # no sample lost to rounding
    hist.hist(dv, bins=bins, color="C1")
    hist.set_xscale("log")
    hist.set(xlabel="|dV| (V)", ylabel="outputs",
             title=f"max {result['max_dv']:.3g} V, mean {result['mean_dv']:.3g} V")
    for a in (sc, hist):
        a.grid(alpha=0.3)
    return fig


# ---- Monte Carlo ------------------------------------------------------------

def mc(result, size=DEFAULT_SIZE, dpi=DEFAULT_DPI):
    """From phaxcl.mc(): the accuracy of each drawn chip, with the ideal
    circuit, the mean and the 5th percentile marked."""
    acc = 100 * np.asarray(result["acc"])
    if not acc.size:
        raise Error("no drawn chips to plot", "PHX_EINVAL")
    fig = _figure(size, dpi)
    ax = fig.subplots()
    # Accuracy moves in steps of one sample: bins are whole steps, centred.
    step = 100.0 / max(int(result.get("count") or 0), 1)
    while (acc.max() - acc.min()) / step > 60:
        step *= 2
    edges = np.arange(acc.min() - step / 2, acc.max() + step, step)
    ax.hist(acc, bins=edges, color="C0", alpha=0.8, label=f"{acc.size} chips")
    for v, name, col in ((result["ideal"], "ideal", "k"), (result["mean"], "mean", "C3"),
                         (result["p5"], "5th percentile", "C2")):
        ax.axvline(100 * v, color=col, ls="--", label=f"{name} {100 * v:.2f} %")
    ax.set(xlabel="test accuracy (%)", ylabel="chips",
           title=f"Monte Carlo: mean {100 * result['mean']:.2f} % +- {100 * result['std']:.2f}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


# ---- writing ----------------------------------------------------------------

def save(fig, path):
    """Writes fig as PNG or SVG (by path's extension), atomically: a temp
    file in the same folder, then a rename."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in (".png", ".svg"):
        raise Error(f"--out {path}: expected a .png or .svg file name", "PHX_EINVAL")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".phaxcl-plot-", suffix=ext, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format=ext[1:], dpi=fig.dpi)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ---- command line -----------------------------------------------------------

def _size(s):
    try:
        w, h = (int(v) for v in s.lower().split("x"))
        if w < 100 or h < 100 or w > 20000 or h > 20000:
            raise ValueError
        return w, h
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels (100..20000), "
                                         f"got '{s}'") from None


def _pct(s):
    v = float(s)
    return v / 100.0


def _parser():
    p = argparse.ArgumentParser(prog="phaxcl plot", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="kind", required=True, metavar="KIND")

    def kind(name, help_):
        k = sub.add_parser(name, help=help_, description=help_)
        k.add_argument("--out", required=True, help="output file, .png or .svg")
        k.add_argument("--size", type=_size, default=DEFAULT_SIZE,
                       help="WIDTHxHEIGHT in pixels (default 1000x600)")
        k.add_argument("--dpi", type=int, default=DEFAULT_DPI, help="dots per inch (100)")
        return k

    def data(k):
        k.add_argument("--data", help="IDX folder (default: bundled mnist14); test set used")
        k.add_argument("--pool", type=int, default=1)

    k = kind("curves", "training curves from 'phaxcl train --log' files (several runs)")
    k.add_argument("logs", nargs="+", metavar="LOG")
    k = kind("conductance", "conductance maps per layer")
    k.add_argument("model", metavar="MODEL")
    k.add_argument("--layer", type=int, action="append", help="only this layer (repeatable)")
    k = kind("neuron", "a neuron's fitted curves against its sweep")
    k.add_argument("neuron", metavar="NEURON")
    k = kind("spice", "ngspice against model outputs: scatter and |dV| histogram")
    k.add_argument("model", metavar="MODEL")
    data(k)
    k.add_argument("--n", type=int, default=0, help="samples (default all)")
    k.add_argument("--inverter", default="behavioural", help="behavioural, sky130 or FILE")
    k.add_argument("--corner")
    k.add_argument("--models")
    k.add_argument("--engine", default="auto", choices=("auto", "lib", "binary"))
    k = kind("mc", "Monte Carlo accuracy histogram over drawn chips")
    k.add_argument("model", metavar="MODEL")
    data(k)
    k.add_argument("--draws", type=int, default=200)
    k.add_argument("--seed", type=int, default=1)
    k.add_argument("--limit", type=int, default=0)
    k.add_argument("--sigma", type=_pct, default=0.0, help="spread in %% (as phaxcl mc)")
    k.add_argument("--levels", type=int, default=0)
    k.add_argument("--dist", default="lognormal", choices=("lognormal", "gaussian"))
    k.add_argument("--read-noise", type=_pct, default=0.0, help="in %%")
    k.add_argument("--stuck-off", type=float, default=0.0)
    k.add_argument("--stuck-on", type=float, default=0.0)
    k.add_argument("--backend", default="auto")
    k.add_argument("--device")
    return p


def _test_set(a):
    from .core import load_idx
    train, test = load_idx(a.data, a.pool)
    return test if test is not None else train


def figure_for(a):
    """The Figure a parsed command line asks for."""
    from . import circuit
    from .core import Model
    sz = dict(size=a.size, dpi=a.dpi)
    if a.kind == "curves":
        return curves(a.logs, **sz)
    if a.kind == "conductance":
        return conductance(Model.load(a.model), a.layer, **sz)
    if a.kind == "neuron":
        return neuron(circuit.Neuron(a.neuron), **sz)
    if a.kind == "spice":
        r = circuit.spice(Model.load(a.model), _test_set(a), a.n, a.inverter, a.corner,
                          a.models, a.engine)
        return spice(r, **sz)
    r = circuit.mc(Model.load(a.model), _test_set(a), a.draws, a.seed, a.limit,
                   backend=a.backend, device=a.device, sigma=a.sigma, levels=a.levels,
                   dist=a.dist, read_noise=a.read_noise, stuck_off=a.stuck_off,
                   stuck_on=a.stuck_on)
    return mc(r, **sz)


def main(argv=None):
    a = _parser().parse_args(argv)
    try:
        save(figure_for(a), a.out)
    except Error as e:
        print(f"phaxcl plot: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"phaxcl plot: {e.filename or a.out}: {e.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
