"""phaxcl from Python: train inverter-based memristive crossbar networks
with libphaxcl, numpy arrays in and out.

    import phaxcl
    train, test = phaxcl.load_idx()            # bundled 14x14 MNIST
    m = phaxcl.Model([196, 100, 10], seed=1)
    phaxcl.train(m, train, test, epochs=20, backend="c")
    phaxcl.evaluate(m, test)["accuracy"]
    m.conductances(0)                           # S, neurons x crossbar rows

Tables and regression:

    d = phaxcl.load_table("ik-train.csv", target="t_theta1,t_theta2")
    tr, te = phaxcl.split(d, 0.2, seed=1)
    m = phaxcl.Model([d.dim, 16, d.targets], loss="mse")
    phaxcl.train(m, tr, te, epochs=30, lr=0.05, backend="c")
    phaxcl.evaluate(m, te)["mse"]                # target units
    m.predict(te.x)                             # targets in target units

Errors are phaxcl.Error with the library's one-line message. Plots:
python -m phaxcl.plot KIND ... (or phaxcl.plot.curves(...) and friends).
"""
from ._lib import Error
from .core import (Backend, Dataset, Model, bundled_data, check, devices, evaluate,
                   gradient, load_idx, train, variation)
from .circuit import Neuron, draw, export_csv, export_spice, inverter, mc, spice
from .tables import load_table, split

__version__ = "0.1.0"

__all__ = ["Error", "Backend", "Dataset", "Model", "bundled_data", "check", "devices",
           "evaluate", "gradient", "load_idx", "train", "variation", "Neuron", "draw",
           "export_csv", "export_spice", "inverter", "mc", "spice", "load_table", "split"]
