"""Tables: CSV (plain or .gz) and NumPy files read by libphaxcl into
Datasets, and the seeded train/test split, as `phaxcl train --data FILE
--target COLS --split P` reads and splits them."""
import ctypes as C
import os

import numpy as np

from . import _lib as L
from ._lib import Error, call, enc, lib
from .core import Dataset

TASKS = ("auto", "regression", "classification")


def _target_names(spec, header, ncol):
    """spec with column indices named by the header (as the CLI records
    them), or spec unchanged when the header does not name every column."""
    names = header.split(",") if header else []
    out = []
    for tok in spec.split(","):
        try:
            i = int(tok)
        except ValueError:
            out.append(tok)
            continue
        i = i + ncol if i < 0 else i
        named = len(names) == ncol and 0 <= i < ncol and names[i]
        out.append(names[i] if named and not names[i].lstrip("-").isdigit() else tok)
    return ",".join(out)


def load_table(path, target=None, *, header=None, task="auto", y_path=None,
               delimiter=None):
    """A Dataset from a table file: .csv/.tsv/.txt (optionally .gz), .npz
    (arrays x and y) or .npy (the features; y_path the targets' .npy).
    target: the target columns, names (with a header) or indices as a
    comma-separated string or a list (default: the last column). header:
    None to detect, True or False. task: "auto" (one column of integers
    0..65535 is classification, anything else regression), "regression" or
    "classification". The features stay in their own units; train() fits
    the model's scaling on them. Errors name the file, line and column."""
    if task not in TASKS:
        raise Error(f"task: expected auto, regression or classification, got '{task}'",
                    "PHX_EINVAL")
    if isinstance(target, (list, tuple)):
        target = ",".join(str(t) for t in target)
    elif target is not None:
        target = str(target)
    o = L.TableOpts()
    lib.phx_table_opts_default(C.byref(o))
    keep = enc(target)
    o.target = keep
    o.header = -1 if header is None else int(bool(header))
    o.regression = int(task != "classification")
    if delimiter is not None:
        o.delimiter = enc(delimiter)[:1]
    head = C.create_string_buffer(8192)
    o.header_out = C.cast(head, C.c_char_p)
    o.header_size = len(head)
    h = C.c_void_p()
    call(lib.phx_dataset_load_table, enc(path), enc(y_path), C.byref(o), C.byref(h))
    d = Dataset._own(h, table=True)
    hd = head.value.decode(errors="replace")
    if task == "auto" and d.targets == 1:
        y = d.y[:, 0]
        if len(y) and np.all((y >= 0) & (y <= 65535) & (y == np.round(y))):
            d = Dataset._own(Dataset(d.x, y.astype(np.int32))._release(), table=True)
    ncol = d.dim + max(d.targets, 1)
    d._spec = {"target": _target_names(target or "-1", hd, ncol), "header": hd,
               "split": 0.0, "seed": 0, "rows": len(d), "path": os.fspath(path)}
    return d


def split(data, fraction=0.2, seed=1):
    """(train, test): round(len * fraction) rows drawn by a shuffle of seed
    go to test, the rest to train, both in table order (phx_dataset_split,
    the CLI's --split). A model trained on train records the split, so
    `phaxcl eval MODEL --data TABLE` scores the same test rows."""
    tr, te = C.c_void_p(), C.c_void_p()
    call(lib.phx_dataset_split, data._h, float(fraction), int(seed), C.byref(tr), C.byref(te))
    spec = dict(data._spec, split=float(fraction), seed=int(seed)) if data._spec else None
    return (Dataset._own(tr, data._table, spec), Dataset._own(te, data._table, spec))
