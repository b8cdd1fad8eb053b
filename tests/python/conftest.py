"""Shared fixtures of the python suite: the bundled data, a small trained
model, the CLI (PHAXCL_CLI, from tests/test_python.sh) and whether ngspice
runs here."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import phaxcl
from phaxcl import _lib


def pytest_sessionstart(session):
    """Every struct mirrored in _lib.py has the C size and last-field offset
    (tests/abi_sizes.c, its path in PHX_ABI_SIZES): a header change the
    mirror missed stops the session here with the struct's name, before a
    call through the stale mirror crashes the interpreter."""
    import ctypes

    exe = os.environ.get("PHX_ABI_SIZES")
    if not exe:
        return  # run outside tests/test_python.sh
    mirror = {
        "phx_err": _lib.Err, "phx_model_opts": _lib.ModelOpts,
        "phx_backend_opts": _lib.BackendOpts, "phx_variation": _lib.Variation,
        "phx_train_opts": _lib.TrainOpts, "phx_epoch_stats": _lib.EpochStats,
        "phx_train_hooks": _lib.TrainHooks, "phx_eval_result": _lib.EvalResult,
        "phx_mc_result": _lib.McResult, "phx_device_info": _lib.DeviceInfo,
        "phx_check_row": _lib.CheckRow, "phx_check_opts": _lib.CheckOpts,
        "phx_inverter": _lib.Inverter, "phx_spice_opts": _lib.SpiceOpts,
        "phx_spice_sample": _lib.SpiceSample, "phx_spice_result": _lib.SpiceResult,
        "phx_table_opts": _lib.TableOpts, "phx_regress_result": _lib.RegressResult,
        "phx_data_spec": _lib.DataSpec,
    }
    rows = subprocess.run([exe], check=True, capture_output=True, text=True).stdout.split("\n")
    names = set()
    for row in filter(None, rows):
        name, size, last = row.split()
        s = mirror[name]
        got = (ctypes.sizeof(s), getattr(s, s._fields_[-1][0]).offset)
        if got != (int(size), int(last)):
            pytest.exit(f"_lib.py: {name} is {got} (size, last offset), the header's "
                        f"({size}, {last})", returncode=1)
        names.add(name)
    if names != set(mirror):
        pytest.exit(f"abi_sizes lists {sorted(names)}, _lib.py mirrors {sorted(mirror)}",
                    returncode=1)


@pytest.fixture(scope="session")
def data():
    return phaxcl.load_idx()


@pytest.fixture(scope="session")
def trained(data, tmp_path_factory):
    """A 196-20-10 model trained for 10 epochs on the C path, saved."""
    m = phaxcl.Model([196, 20, 10], seed=3)
    phaxcl.train(m, data[0], data[1], epochs=10, lr=0.05, backend="c")
    path = tmp_path_factory.mktemp("model") / "small.safetensors"
    m.save(path)
    return m, path


@pytest.fixture(scope="session")
def cli():
    exe = os.environ.get("PHAXCL_CLI") or shutil.which("phaxcl")
    if not exe:
        pytest.skip("no phaxcl CLI (PHAXCL_CLI unset)")
    return exe


def run_cli(exe, *args, check=True, env=None):
    r = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, env=env)
    if check and r.returncode:
        raise AssertionError(f"phaxcl {' '.join(map(str, args))}: {r.stderr}")
    return r


@pytest.fixture(scope="session")
def spice_ok(data, trained):
    """Skips the test when ngspice cannot run here (neither the library nor
    the binary)."""
    try:
        phaxcl.spice(trained[0], data[1], n=1)
    except phaxcl.Error as e:
        if e.status in ("PHX_ESIM", "PHX_ENOBACKEND", "PHX_EIO"):
            pytest.skip(f"ngspice unavailable: {e}")
        raise
    return True


def bits(a):
    """A float32 array's bit patterns, for bit-for-bit comparisons."""
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
