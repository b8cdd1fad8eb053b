"""Shared fixtures of the python suite: the bundled data, a small trained
model, the CLI (PHAXCL_CLI, from tests/test_python.sh) and whether ngspice
runs here."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import phaxcl


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
