"""The circuit commands over libphaxcl: conductance tables and netlists
(export), test samples through ngspice (spice), chips drawn with device
variation (mc, draw), and characterised neurons (phaxcl vtc files)."""
import ctypes as C
import os

import numpy as np

from . import _lib as L
from ._lib import Error, call, enc, lib
from .core import Dataset, Model, as_backend, as_dataset, evaluate, scaled, variation

CORNERS = ("tt", "ff", "ss", "sf", "fs")


def inverter(kind="behavioural", corner=None, models=None, drive=None):
    """A checked phx_inverter: 'behavioural', 'sky130' or a .subckt file
    (with models: its library), as the CLI's --inverter/--corner/--models;
    drive: sky130 devices in parallel, as --drive."""
    inv = L.Inverter()
    if kind == "behavioural":
        lib.phx_inverter_default(C.byref(inv))
    elif kind == "sky130":
        lib.phx_inverter_sky130(C.byref(inv))
    else:
        lib.phx_inverter_default(C.byref(inv))
        inv.kind = 2
        inv.subckt_file = enc(kind)
    if corner is not None:
        inv.corner = enc(corner)
    if models is not None:
        inv.models_file = enc(models)
    if drive is not None:
        inv.mult = float(drive)
    call(lib.phx_inverter_check, C.byref(inv))
    return inv


def export_csv(model, folder):
    """Writes layer{l}_conductance_S.csv and layer{l}_resistance_Ohm.csv per
    layer (as `phaxcl export --format csv`); returns the paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for l in range(model.nlayers):
        for what, name in ((0, "conductance_S"), (1, "resistance_Ohm")):
            p = os.path.join(folder, f"layer{l}_{name}.csv")
            call(lib.phx_export_csv, model._h, l, what, enc(p))
            paths.append(p)
    return paths


def export_spice(model, path, x=None, inverter_kind="behavioural", corner=None,
                 models=None, drive=None):
    """The network as an ngspice netlist; with x (one sample; features in
    their own units for a model trained on a table) a standalone deck that
    `ngspice -b` runs."""
    inv = inverter(inverter_kind, corner, models, drive)
    xp = None
    if x is not None:
        x = np.ascontiguousarray(model.scale(x), dtype=np.float32).ravel()
        if x.size != model.sizes[0]:
            raise Error(f"x: expected {model.sizes[0]} features, got {x.size}", "PHX_ESHAPE")
        xp = x.ctypes.data_as(L.F32P)
    call(lib.phx_export_spice, model._h, C.byref(inv), xp, enc(path))


ENGINES = {"auto": 0, "lib": 1, "binary": 2}


def spice(model, data, n=0, inverter_kind="behavioural", corner=None, models=None,
          engine="auto", drive=None):
    """The first n samples of data (0 = all) through ngspice against the
    model. Returns a dict: the summary (max_dv, mean_dv, agreement,
    sim_accuracy, ...), 'samples' (a list of per-sample dicts), 'sim' and
    'model' (n x outputs, V) and 'labels'. A regression model (data in
    target units, as evaluate takes it): also 'target' (V), 'target_units',
    'sim_units', 'model_units' and 'regression', the errors against the
    targets over the converged samples as `phaxcl spice` reports them:
    mean_dv_target and max_dv_target (V), mse_sim, mse_model, mre_sim,
    mre_model (target units)."""
    raw = as_dataset(data)
    data = scaled(model, raw)
    o = L.SpiceOpts()
    lib.phx_spice_opts_default(C.byref(o))
    o.inv = inverter(inverter_kind, corner, models, drive)
    if engine not in ENGINES:
        raise Error(f"engine: expected auto, lib or binary, got '{engine}'", "PHX_EINVAL")
    o.engine = ENGINES[engine]
    count = len(data) if not n else min(int(n), len(data))
    o.count = count
    outs = model.sizes[-1]
    samples = (L.SpiceSample * count)()
    sim = np.zeros((count, outs))
    r = L.SpiceResult()
    call(lib.phx_spice_run, model._h, data._h, C.byref(o), C.byref(r), samples,
         sim.ctypes.data_as(L.F64P))
    res = L.struct_dict(r)
    res["samples"] = [L.struct_dict(s) for s in samples]
    res["sim"] = sim
    res["model"] = model.forward(data.x[:count])
    res["labels"] = data.labels[:count]
    res["converged_mask"] = np.array([s["converged"] for s in res["samples"]], dtype=bool)
    if model.targets:
        _regression_figures(model, res, data.y[:count], raw.y[:count])
    return res


def _regression_figures(model, res, target_v, target):
    """spice()'s figures of a regression model in volts and target units."""
    a, b = model._linear(lib.phx_model_unscale_target, model.targets)
    res["target"], res["target_units"] = target_v, target
    res["sim_units"], res["model_units"] = a + b * res["sim"], a + b * res["model"]
    ok = res["converged_mask"]
    y = res["target_units"][ok]
    floor = 1e-3 * (y.max(0) - y.min(0)) if len(y) else 0
    den = np.maximum(np.abs(y), floor)
    es, em = res["sim_units"][ok] - y, res["model_units"][ok] - y
    dv = np.abs(res["sim"][ok] - target_v[ok])
    res["regression"] = {
        "mean_dv_target": float(dv.mean()) if dv.size else 0.0,
        "max_dv_target": float(dv.max()) if dv.size else 0.0,
        "mse_sim": float(np.mean(es ** 2)) if es.size else 0.0,
        "mse_model": float(np.mean(em ** 2)) if em.size else 0.0,
        "mre_sim": float(np.mean(np.abs(es) / den)) if es.size else 0.0,
        "mre_model": float(np.mean(np.abs(em) / den)) if em.size else 0.0}


def mc(model, data, draws=100, seed=1, limit=0, *, backend="auto", device=None, **vary):
    """Monte Carlo accuracy over `draws` chips drawn with variation(**vary)
    (sigma=0.2 is the CLI's --sigma 20). Returns the summary dict (ideal,
    mean, std, min, p5, max) with 'acc', each draw's accuracy. A regression
    model: the same figures of the test MSE in target units (with 'mse',
    each draw's, and 'mre', each draw's mean relative error) as `phaxcl
    mc` reports them (std over the draws, not over draws - 1)."""
    data = as_dataset(data)
    v = variation(**vary)
    b = as_backend(backend, device)
    if model.targets:
        return _mc_regression(model, data, draws, seed, limit, b, vary)
    r = L.McResult()
    acc = np.zeros(max(int(draws), 0))
    call(lib.phx_monte_carlo, b._h, model._h, data._h, int(limit), C.byref(v), int(draws),
         int(seed), C.byref(r), acc.ctypes.data_as(L.F64P))
    res = L.struct_dict(r)
    res["acc"] = acc
    return res


def _mc_regression(model, data, draws, seed, limit, b, vary):
    """mc() of a regression model: every chip scored by evaluate() on the
    first limit samples (0 = all)."""
    if 0 < limit < len(data):
        data = Dataset.regression(data.x[:limit], data.y[:limit])
    data = scaled(model, data)  # once, not per chip
    ideal = evaluate(model, data, backend=b)
    runs = [evaluate(draw(model, k, seed, **vary), data, backend=b) for k in range(int(draws))]
    mse = np.array([r["mse"] for r in runs])
    if not len(mse):
        raise Error("draws: expected at least 1", "PHX_EINVAL")
    return {"draws": len(mse), "count": len(data), "ideal": ideal["mse"],
            "mean": float(mse.mean()), "std": float(mse.std()),
            "min": float(mse.min()), "p5": float(np.percentile(mse, 5)),
            "max": float(mse.max()), "mse": mse, "mre": np.array([r["mre"] for r in runs])}


def draw(model, k, seed=1, **vary):
    """Chip k of variation(**vary) and seed as a Model of its own."""
    v = variation(**vary)
    h = C.c_void_p()
    call(lib.phx_model_draw, model._h, C.byref(v), int(seed), int(k), C.byref(h))
    return Model._own(h)


class Neuron:
    """A characterised neuron (a `phaxcl vtc` file): fits c (o-) and d (o+),
    their rms residuals (V), vdd, and the sweep they were fitted to."""

    def __init__(self, path):
        h = C.c_void_p()
        call(lib.phx_neuron_load, enc(path), C.byref(h))
        self._h = h
        c, d, rms, vdd = (C.c_double * 4)(), (C.c_double * 4)(), (C.c_double * 2)(), C.c_double()
        lib.phx_neuron_fits(h, c, d, rms, C.byref(vdd))
        self.c, self.d, self.rms, self.vdd = list(c), list(d), list(rms), vdd.value
        ptrs = [L.F64P() for _ in range(6)]
        n = lib.phx_neuron_sweep(h, *[C.byref(p) for p in ptrs])
        names = ("z", "om", "op", "rout_m", "rout_p", "isup")
        self.sweep = {k: (np.ctypeslib.as_array(p, (n,)).copy() if n and p else np.zeros(0))
                      for k, p in zip(names, ptrs)}

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.phx_neuron_free(h)
            self._h = None

    @staticmethod
    def curve(a, z):
        """a1 + a2 tanh(a4 (z - a3)), the model's VTC fit (docs/model.md)."""
        return a[0] + a[1] * np.tanh(a[3] * (np.asarray(z) - a[2]))
