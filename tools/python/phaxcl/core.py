"""Models, data sets, backends and training: libphaxcl's model API with
numpy arrays in and out."""
import ctypes as C
import json
import os

import numpy as np

from . import _lib as L
from ._lib import Error, call, enc, lib

OPTIMIZERS = {"sgd": 0, "momentum": 1, "adam": 2, "lbfgs": 3}
LOSSES = {"ce": 0, "mse": 1}
_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def bundled_data():
    """The folder of the bundled 14x14 MNIST task (data/mnist14)."""
    for d in (os.path.join(_DATA_DIR, "mnist14"),
              os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "mnist14")):
        if os.path.isdir(d):
            return os.path.abspath(d)
    raise Error("the bundled data set data/mnist14 is not installed", "PHX_EIO")


class Dataset:
    """Samples x (count x dim, float32 in [0, 1]) and integer labels, held by
    the library. Dataset(x, labels) copies numpy arrays; Dataset.load_dir and
    Dataset.load_idx read IDX files. Dataset.regression(x, y) holds
    continuous targets y instead, and phaxcl.load_table reads a CSV or
    NumPy table; the features of both are in their own units (a model scales
    them, docs/model.md "Regression and tabular data")."""

    _table = False  # features in their own units: a model fits and applies a scaling
    _spec = None    # where a table came from (load_table, split): the model records it
    _circuit = False  # already through a model's scaling (scaled())

    def __init__(self, x, labels, classes=None):
        x = np.asarray(x)
        y = np.asarray(labels)
        if x.ndim != 2:
            raise Error(f"x: expected a 2-D array (samples x features), got shape {x.shape}",
                        "PHX_ESHAPE")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise Error(f"labels: expected {x.shape[0]} labels (one per row of x), "
                        f"got shape {y.shape}", "PHX_ESHAPE")
        if y.size and not np.issubdtype(y.dtype, np.integer):
            if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise Error("labels: expected integer class labels", "PHX_EINVAL")
        if y.size and (y.min() < -2**31 or y.max() >= 2**31):
            raise Error("labels: outside the 32-bit range", "PHX_EINVAL")
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.int32)
        if classes is None:
            classes = int(y.max()) + 1 if y.size else 1
        h = C.c_void_p()
        call(lib.phx_dataset_new, x.shape[0], x.shape[1], int(classes),
             x.ctypes.data_as(L.F32P), y.ctypes.data_as(L.I32P), C.byref(h))
        self._h = h

    @classmethod
    def _own(cls, h, table=False, spec=None):
        d = cls.__new__(cls)
        d._h = h
        d._table, d._spec = table, spec
        return d

    @classmethod
    def regression(cls, x, y):
        """count x dim features and count (or count x targets) continuous
        targets, both copied; features in their own units."""
        x = np.asarray(x)
        y = np.asarray(y)
        if x.ndim != 2:
            raise Error(f"x: expected a 2-D array (samples x features), got shape {x.shape}",
                        "PHX_ESHAPE")
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        if y.ndim != 2 or y.shape[0] != x.shape[0] or y.shape[1] < 1:
            raise Error(f"y: expected {x.shape[0]} rows of targets (one per row of x), "
                        f"got shape {y.shape}", "PHX_ESHAPE")
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.ascontiguousarray(y, dtype=np.float32)
        h = C.c_void_p()
        call(lib.phx_dataset_new_regression, x.shape[0], x.shape[1], y.shape[1],
             x.ctypes.data_as(L.F32P), y.ctypes.data_as(L.F32P), C.byref(h))
        return cls._own(h, table=True)

    @classmethod
    def load_dir(cls, folder=None, pool=1):
        """(train, test) from an MNIST-layout IDX folder (default: the bundled
        data); test is None when the folder has no t10k files."""
        folder = bundled_data() if folder is None else folder
        tr, te = C.c_void_p(), C.c_void_p()
        call(lib.phx_dataset_load_dir, enc(folder), int(pool), C.byref(tr), C.byref(te))
        return cls._own(tr), (cls._own(te) if te.value else None)

    @classmethod
    def load_idx(cls, images, labels, pool=1):
        h = C.c_void_p()
        call(lib.phx_dataset_load_idx, enc(images), enc(labels), int(pool), C.byref(h))
        return cls._own(h)

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.phx_dataset_free(h)
            self._h = None

    def _release(self):
        """The library handle, no longer freed by this object."""
        h, self._h = self._h, None
        return h

    def __len__(self):
        return lib.phx_dataset_count(self._h)

    @property
    def dim(self):
        return lib.phx_dataset_dim(self._h)

    @property
    def classes(self):
        return lib.phx_dataset_classes(self._h)

    @property
    def x(self):
        """A copy of the samples, float32 (count x dim)."""
        n, d = len(self), self.dim
        return np.ctypeslib.as_array(lib.phx_dataset_x(self._h), (n * d,)).reshape(n, d).copy() \
            if n * d else np.zeros((n, d), np.float32)

    @property
    def labels(self):
        n = len(self)
        return np.ctypeslib.as_array(lib.phx_dataset_labels(self._h), (n,)).copy() \
            if n else np.zeros(0, np.int32)

    @property
    def targets(self):
        """Regression targets per sample; 0 for class labels."""
        return lib.phx_dataset_targets(self._h)

    @property
    def y(self):
        """A copy of the regression targets (count x targets, float32), or
        None for class labels."""
        n, t = len(self), self.targets
        if not t:
            return None
        return np.ctypeslib.as_array(lib.phx_dataset_y(self._h), (n * t,)).reshape(n, t).copy() \
            if n else np.zeros((0, t), np.float32)

    def __repr__(self):
        what = f"{self.targets} targets" if self.targets else f"{self.classes} classes"
        return f"<phaxcl.Dataset {len(self)} x {self.dim}, {what}>"


def as_dataset(d):
    """A Dataset from a Dataset, an (x, labels) pair, or None."""
    if d is None or isinstance(d, Dataset):
        return d
    if isinstance(d, (tuple, list)) and len(d) == 2:
        return Dataset(d[0], d[1])
    raise Error("data: expected a phaxcl.Dataset or an (x, labels) pair", "PHX_EINVAL")


def load_idx(folder=None, pool=1):
    """(train, test) Datasets from an IDX folder (default: bundled mnist14)."""
    return Dataset.load_dir(folder, pool)


class Model:
    """A crossbar network. Model([196, 100, 10], seed=1, vdd=0.5, ...) makes a
    new one initialised from seed (as `phaxcl train` does); Model.load(path)
    reads a safetensors model or checkpoint. Options: vdd (V), gmin (S),
    ratio, c and d (the four VTC fit coefficients each), loss ('ce'|'mse')."""

    def __init__(self, sizes=(196, 100, 10), seed=1, **opts):
        o = L.ModelOpts()
        lib.phx_model_opts_default(C.byref(o))
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or len(sizes) > L.MAX_LAYERS + 1:
            raise Error(f"sizes: expected 2 to {L.MAX_LAYERS + 1} layer sizes, got {sizes}",
                        "PHX_EINVAL")
        o.nlayers = len(sizes) - 1
        for i, s in enumerate(sizes):
            o.sizes[i] = s
        for k, v in opts.items():
            if k in ("c", "d"):
                v = list(v)
                if len(v) != 4:
                    raise Error(f"{k}: expected 4 fit coefficients a1..a4", "PHX_EINVAL")
                getattr(o, k)[:] = [float(a) for a in v]
            elif k == "loss":
                if v not in LOSSES:
                    raise Error(f"loss: expected ce or mse, got '{v}'", "PHX_EINVAL")
                o.loss = LOSSES[v]
            elif k in ("vdd", "gmin", "ratio"):
                setattr(o, k, float(v))
            elif k == "load_aware":  # True: loads returned to 0 V; "return": to
                # the next layer's columns (train --load-return)
                o.load_aware = 2 if v == "return" else int(bool(v))
            else:
                raise TypeError(f"Model: unknown option '{k}'")
        call(lib.phx_model_opts_check, C.byref(o))
        h = C.c_void_p()
        call(lib.phx_model_new, C.byref(o), C.byref(h))
        self._h = h
        if seed is not None:
            lib.phx_model_init(h, int(seed))

    @classmethod
    def _own(cls, h):
        m = cls.__new__(cls)
        m._h = h
        return m

    @classmethod
    def load(cls, path):
        h = C.c_void_p()
        call(lib.phx_model_load, enc(path), C.byref(h))
        return cls._own(h)

    def save(self, path):
        """Writes the model as safetensors, atomically."""
        call(lib.phx_model_save, self._h, enc(path))

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.phx_model_free(h)
            self._h = None

    @property
    def opts(self):
        """The model options as a dict (sizes, vdd, gmin, ratio, c, d, loss)."""
        o = lib.phx_model_get_opts(self._h).contents
        return {"sizes": [o.sizes[i] for i in range(o.nlayers + 1)], "vdd": o.vdd,
                "gmin": o.gmin, "ratio": o.ratio, "c": list(o.c), "d": list(o.d),
                "loss": {v: k for k, v in LOSSES.items()}[o.loss],
                "load_aware": "return" if o.load_aware == 2 else bool(o.load_aware)}

    @property
    def sizes(self):
        return self.opts["sizes"]

    @property
    def nlayers(self):
        return lib.phx_model_get_opts(self._h).contents.nlayers

    def _layer(self, layer):
        if not 0 <= layer < self.nlayers:
            raise Error(f"layer {layer}: the model has layers 0..{self.nlayers - 1}",
                        "PHX_EINVAL")
        return lib.phx_model_rows(self._h, layer), lib.phx_model_cols(self._h, layer)

    def theta(self, layer):
        """Layer's theta, a float32 copy (neurons M x rows R = 2N + 2)."""
        m, r = self._layer(layer)
        return np.ctypeslib.as_array(lib.phx_model_theta(self._h, layer), (m * r,)) \
            .reshape(m, r).copy()

    def set_theta(self, layer, value):
        m, r = self._layer(layer)
        v = np.asarray(value, dtype=np.float32)
        if v.shape != (m, r):
            raise Error(f"theta of layer {layer}: expected shape ({m}, {r}), got {v.shape}",
                        "PHX_ESHAPE")
        if not np.all(np.isfinite(v)):
            raise Error(f"theta of layer {layer}: non-finite value", "PHX_ENAN")
        np.ctypeslib.as_array(lib.phx_model_theta(self._h, layer), (m * r,))[:] = v.ravel()

    @property
    def thetas(self):
        return [self.theta(l) for l in range(self.nlayers)]

    def conductances(self, layer):
        """Layer's crosspoint conductances in S (M x R, float64), as the
        library maps theta (no variation)."""
        m, r = self._layer(layer)
        v = L.Variation()
        lib.phx_variation_default(C.byref(v))
        g = np.zeros((m, r))
        call(lib.phx_draw_conductances, self._h, C.byref(v), 0, 0, layer,
             g.ctypes.data_as(L.F64P))
        return g

    def resistances(self, layer):
        """Layer's crosspoint resistances in Ohm (1 / conductance)."""
        return 1.0 / self.conductances(layer)

    def forward(self, x):
        """Outputs of the last layer's neurons (o-, V) for each row of x
        (float64, samples x classes), as the model defines them."""
        x = np.asarray(x, dtype=np.float32)
        one = x.ndim == 1
        x = np.ascontiguousarray(x.reshape(1, -1) if one else x)
        sizes = self.sizes
        if x.ndim != 2 or x.shape[1] != sizes[0]:
            raise Error(f"x: expected samples x {sizes[0]} features, got shape {x.shape}",
                        "PHX_ESHAPE")
        if not np.all(np.isfinite(x)):
            raise Error("x: non-finite value", "PHX_ENAN")
        out = np.zeros((x.shape[0], sizes[-1]))
        for i in range(x.shape[0]):
            lib.phx_model_forward64(self._h, x[i].ctypes.data_as(L.F32P),
                                    out[i].ctypes.data_as(L.F64P))
        return out[0] if one else out

    @property
    def targets(self):
        """Regression targets (the output count) of a regression model; 0
        for a classifier."""
        return lib.phx_model_targets(self._h)

    @property
    def scaled(self):
        """True when the model carries a data scaling (trained on a table):
        predict() then takes features in their own units."""
        return bool(lib.phx_model_scaled(self._h))

    @property
    def data_spec(self):
        """The table the model was trained on (target columns, header, split
        fraction and seed, rows; as `phaxcl eval` uses it), or None."""
        d = L.DataSpec()
        if not lib.phx_model_get_data_spec(self._h, C.byref(d)):
            return None
        return {"target": d.target.decode(), "header": d.header.decode(), "split": d.split,
                "seed": d.seed, "rows": d.rows}

    def _linear(self, fn, n):
        """(offset, slope) of n per-column linear maps fn(m, j, v)."""
        a = np.array([fn(self._h, j, 0.0) for j in range(n)])
        return a, np.array([fn(self._h, j, 1.0) for j in range(n)]) - a

    def fit_scaling(self, data):
        """Fits the model's scaling on a training table (train() does it when
        the model has none): feature ranges onto [0, 1], regression targets
        onto the middle of the output swing; records where the table came
        from (phaxcl.load_table, phaxcl.split) as data_spec."""
        call(lib.phx_model_fit_scaling, self._h, data._h)
        sp = data._spec
        if sp:
            keep = [enc(sp["target"]), enc(sp["header"])]
            d = L.DataSpec(keep[0], keep[1], sp["split"], sp["seed"], sp["rows"])
            call(lib.phx_model_set_data_spec, self._h, C.byref(d))

    def scale(self, x):
        """Features in their own units to the circuit's input range [0, 1]
        through the model's scaling (unchanged without one)."""
        x = np.asarray(x, dtype=np.float64)
        if not self.scaled:
            return x
        a, b = self._linear(lib.phx_model_scale_feature, self.sizes[0])
        return a + b * x

    def predict(self, x):
        """The model's answer for each row of x (features in their own units
        when the model is scaled): the class (largest output), or for a
        regression model the targets in target units (samples x targets)."""
        o = self.forward(self.scale(x))
        if not self.targets:
            return np.argmax(o, axis=-1)
        a, b = self._linear(lib.phx_model_unscale_target, self.targets)
        return a + b * o

    def copy(self):
        """An independent copy with everything the model file holds (theta,
        options, neuron tables), through a save and a load."""
        import tempfile
        with tempfile.TemporaryDirectory(prefix="phaxcl-") as d:
            path = os.path.join(d, "copy.safetensors")
            self.save(path)
            return Model.load(path)

    def __repr__(self):
        return f"<phaxcl.Model {'-'.join(map(str, self.sizes))}>"


class Backend:
    """Where training and evaluation run: "c", "c64", "opencl" or "auto",
    with device as the CLI's --device (P:D or part of a name). Functions
    that take backend= accept a name or a Backend (reused: kernels are
    built once)."""

    def __init__(self, name="auto", device=None, verbose=0):
        o = L.BackendOpts()
        lib.phx_backend_opts_default(C.byref(o))
        self._device = enc(device)  # kept alive: the library may hold it
        o.device = self._device
        o.verbose = int(verbose)
        h = C.c_void_p()
        call(lib.phx_backend_new_opts, enc(name), C.byref(o), C.byref(h))
        self._h = h

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.phx_backend_free(h)
            self._h = None

    @property
    def name(self):
        return lib.phx_backend_name(self._h).decode()

    @property
    def device(self):
        return lib.phx_backend_device(self._h).decode()

    def __repr__(self):
        return f"<phaxcl.Backend {self.name}: {self.device}>"


def as_backend(b, device=None):
    return b if isinstance(b, Backend) else Backend(b or "auto", device)


def variation(sigma=0.0, levels=0, dist="lognormal", read_noise=0.0, stuck_off=0.0,
              stuck_on=0.0, offset_sigma=0.0):
    """A checked phx_variation. sigma and read_noise are fractions (0.2 =
    20 %, the CLI's --sigma 20), as the library takes them; offset_sigma,
    the neurons' switching-point offset, in volts (0.002 = --offset-sigma 2)."""
    v = L.Variation()
    lib.phx_variation_default(C.byref(v))
    v.levels, v.sigma, v.read_noise = int(levels), float(sigma), float(read_noise)
    v.stuck_off, v.stuck_on = float(stuck_off), float(stuck_on)
    v.offset_sigma = float(offset_sigma)
    if dist not in ("lognormal", "gaussian"):
        raise Error(f"dist: expected lognormal or gaussian, got '{dist}'", "PHX_EINVAL")
    v.dist = 0 if dist == "lognormal" else 1
    call(lib.phx_variation_check, C.byref(v))
    return v


def train(model, data, test=None, *, backend="auto", device=None, optimizer="adam",
          epochs=None, batch=None, lr=None, momentum=None, beta1=None, beta2=None,
          eps=None, seed=None, limit=0, checkpoint=None, checkpoint_every=0,
          resume=None, vary=None, vary_draws=None, on_epoch=None, log=None, run=None):
    """Trains model in place. data: a Dataset, an (x, labels) pair or an IDX
    folder (then test defaults to its t10k set). Unset options take the
    library's defaults (adam, lr 0.1, batch 16, 50 epochs, seed 1; lbfgs 400
    iterations). on_epoch(stats dict) is called after each epoch; a true
    return stops training. vary: a dict of variation() arguments for
    variation-aware training, vary_draws the chips per step whose gradients
    are averaged (default 1). log: a file that receives the run as JSON
    lines, as `phaxcl train --log` writes them (run: its label). Returns the
    list of epoch stats."""
    if isinstance(data, (str, os.PathLike)):
        data, t = Dataset.load_dir(data)
        test = t if test is None else test
    data, test = as_dataset(data), as_dataset(test)
    data, test = _scaled_for_training(model, data, test)
    if optimizer not in OPTIMIZERS:
        raise Error(f"optimizer: expected sgd, momentum, adam or lbfgs, got '{optimizer}'",
                    "PHX_EINVAL")
    t = L.TrainOpts()
    lib.phx_train_opts_default(C.byref(t))
    t.optimizer = OPTIMIZERS[optimizer]
    if optimizer == "lbfgs" and epochs is None:
        epochs = 400  # as the CLI
    for k, v in (("epochs", epochs), ("batch", batch), ("lr", lr), ("momentum", momentum),
                 ("beta1", beta1), ("beta2", beta2), ("eps", eps), ("seed", seed)):
        if v is not None:
            setattr(t, k, type(getattr(t, k))(v))
    t.limit = int(limit)
    keep = [enc(checkpoint), enc(resume)]
    t.checkpoint, t.resume = keep
    t.checkpoint_every = int(checkpoint_every)
    v = variation(**vary) if vary else None
    if v is not None:
        t.vary = C.pointer(v)
    if vary_draws is not None:
        t.vary_draws = int(vary_draws)
    b = as_backend(backend, device)
    history, failure = [], []
    sizes = "-".join(map(str, model.sizes))
    lg = _Log(log)

    def epoch_cb(s, _user):
        st = L.struct_dict(s.contents)
        if st["test_acc"] < 0:
            st["test_acc"] = st["test_loss"] = None
        history.append(st)
        lg.write(st)
        if on_epoch is None:
            return 0
        try:
            return 1 if on_epoch(st) else 0
        except BaseException as e:  # raised again once training returns
            failure.append(e)
            return 1

    hooks = L.TrainHooks()
    hooks.on_epoch = L.EPOCH_FN(epoch_cb)
    with lg:
        lg.write({"run": run or sizes, "model": sizes, "optimizer": optimizer,
                  "epochs": t.epochs, "batch": t.batch, "lr": t.lr, "seed": t.seed,
                  "backend": b.name, "device": b.device})
        call(lib.phx_train, b._h, model._h, data._h, test._h if test is not None else None,
             C.byref(t), C.byref(hooks))
        if failure:
            raise failure[0]
        last = history[-1]["test_acc"] if history else None
        lg.write({"done": True, "model": sizes, "backend": b.name, "device": b.device,
                  **({"test_acc": last} if last is not None else {})})
    return history


def _scaled_for_training(model, data, test):
    """Tables (regression data, phaxcl.load_table): the model's scaling,
    fitted on data unless the model has one, with the table's record; then
    both sets in the circuit's units. Other data as given."""
    if not (data._table or data.targets or model.scaled):
        return data, test
    if not model.scaled:
        model.fit_scaling(data)
    return scaled(model, data), scaled(model, test)


def scaled(model, data):
    """data in the model's circuit units (features on [0, 1], targets in
    volts): a new Dataset; data itself when it is None or not a table."""
    if data is None or data._circuit or not (data._table or data.targets):
        return data
    h = C.c_void_p()
    call(lib.phx_model_scale_data, model._h, data._h, C.byref(h))
    d = Dataset._own(h)
    d._circuit = True
    return d


class _Log:
    """train(log=...): JSON lines, flushed one by one (None: no log)."""

    def __init__(self, path):
        self.f = open(path, "w", encoding="utf-8") if path is not None else None

    def write(self, obj):
        if self.f:
            self.f.write(json.dumps(obj) + "\n")
            self.f.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.f:
            self.f.close()


def evaluate(model, data, *, backend="auto", device=None, predictions=False):
    """Loss, accuracy and confusion matrix (true x predicted) of model on data.
    A regression model (data in target units, as phaxcl.load_table or
    Dataset.regression give it): count, targets, mse, rmse, mre (mean
    relative error, AxBench's application error of inversek2j, blackscholes
    and fft; also as application_error), max_err (all in target units) and
    mse_v (V^2 at the outputs), as `phaxcl eval`; with predictions=True also
    the predictions in target units (count x targets)."""
    data = as_dataset(data)
    b = as_backend(backend, device)
    if model.targets or data.targets:
        d = scaled(model, data)
        r = L.RegressResult()
        pred = np.zeros((len(d), max(model.targets, 1)))
        call(lib.phx_evaluate_regression, b._h, model._h, d._h, C.byref(r),
             pred.ctypes.data_as(L.F64P))
        out = L.struct_dict(r)
        out["application_error"] = r.mre
        if predictions:
            out["predictions"] = pred
        return out
    if model.scaled:
        data = scaled(model, data)
    n = max(model.sizes[-1], data.classes)
    conf = np.zeros((n, n), dtype=np.int64)
    r = L.EvalResult()
    call(lib.phx_evaluate, b._h, model._h, data._h, C.byref(r), conf.ctypes.data_as(L.I64P))
    return {"count": r.count, "loss": r.loss, "accuracy": r.accuracy, "confusion": conf}


def gradient(model, data, limit=0, *, backend="auto", device=None):
    """(mean loss, [dL/dtheta per layer]) over the first limit samples."""
    data = as_dataset(data)
    b = as_backend(backend, device)
    g = model.copy()  # the library overwrites its theta with the gradient
    loss = C.c_double()
    call(lib.phx_gradient, b._h, model._h, data._h, int(limit), C.byref(loss), g._h)
    return loss.value, g.thetas


def devices():
    """The OpenCL devices as `phaxcl devices` lists them (list of dicts)."""
    p, n = C.POINTER(L.DeviceInfo)(), C.c_int()
    call(lib.phx_devices, C.byref(p), C.byref(n))
    try:
        out = []
        for i in range(n.value):
            d = L.struct_dict(p[i])
            d["spec"] = f"{d['platform']}:{d['index']}"
            out.append(d)
        return out
    finally:
        lib.phx_devices_free(p)


def check(device=None, small=None, seed=None):
    """`phaxcl check`: every OpenCL op against the C path. Returns the rows
    (dicts with op, device, max_abs, max_rel, nmse, tol_nmse, count, pass,
    skipped: None, or why the device does not run the op);
    a failed row does not raise, a device that cannot run does."""
    o = L.CheckOpts()
    lib.phx_check_opts_default(C.byref(o))
    keep = enc(device)
    o.device = keep
    if small is not None:  # 1 small sizes, 0 moderate; default as the CLI's
        o.small = int(small)
    if seed is not None:
        o.seed = int(seed)
    rows = []
    cb = L.CHECK_FN(lambda r, _u: rows.append(L.struct_dict(r.contents)))
    fails = C.c_int()
    err = L.Err()
    s = lib.phx_check_run(C.byref(o), cb, None, C.byref(fails), C.byref(err))
    if s and lib.phx_status_name(s) != b"PHX_ECHECK":
        L.raise_status(s, err.msg.decode(errors="replace"))
    return rows
