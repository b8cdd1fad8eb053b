"""The circuit commands over libphaxcl: conductance tables and netlists
(export), test samples through ngspice (spice), chips drawn with device
variation (mc, draw), and characterised neurons (phaxcl vtc files)."""
import ctypes as C
import os

import numpy as np

from . import _lib as L
from ._lib import Error, call, enc, lib
from .core import Model, as_backend, as_dataset, variation

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
    """The network as an ngspice netlist; with x (one sample) a standalone
    deck that `ngspice -b` runs."""
    inv = inverter(inverter_kind, corner, models, drive)
    xp = None
    if x is not None:
        x = np.ascontiguousarray(x, dtype=np.float32).ravel()
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
    'model' (n x outputs, V) and 'labels'."""
    data = as_dataset(data)
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
    return res


def mc(model, data, draws=100, seed=1, limit=0, *, backend="auto", device=None, **vary):
    """Monte Carlo accuracy over `draws` chips drawn with variation(**vary)
    (sigma=0.2 is the CLI's --sigma 20). Returns the summary dict (ideal,
    mean, std, min, p5, max) with 'acc', each draw's accuracy."""
    data = as_dataset(data)
    v = variation(**vary)
    b = as_backend(backend, device)
    r = L.McResult()
    acc = np.zeros(max(int(draws), 0))
    call(lib.phx_monte_carlo, b._h, model._h, data._h, int(limit), C.byref(v), int(draws),
         int(seed), C.byref(r), acc.ctypes.data_as(L.F64P))
    res = L.struct_dict(r)
    res["acc"] = acc
    return res


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
