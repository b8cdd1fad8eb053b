"""Bad input raises phaxcl.Error carrying the library's one-line message
(the same text the CLI prints after "phaxcl: ")."""
import numpy as np
import pytest

import phaxcl
from conftest import run_cli


def test_nan_data():
    x = np.zeros((3, 196), np.float32)
    x[1, 7] = np.nan
    with pytest.raises(phaxcl.Error) as e:
        phaxcl.Dataset(x, [0, 1, 2])
    assert e.value.status == "PHX_ENAN"
    assert str(e.value) == "dataset: sample 1, feature 7 is not finite (nan)"


def test_wrong_shapes(data):
    train, test = data
    m = phaxcl.Model([195, 10, 10])
    with pytest.raises(phaxcl.Error) as e:
        phaxcl.train(m, train, epochs=1, backend="c")
    assert e.value.status == "PHX_ESHAPE"
    assert str(e.value) == "training set has 196 inputs per sample but the model expects 195"
    with pytest.raises(phaxcl.Error) as e:
        phaxcl.evaluate(m, test, backend="c")
    assert "196 inputs per sample but the model expects 195" in str(e.value)
    with pytest.raises(phaxcl.Error, match="expected a 2-D array"):
        phaxcl.Dataset(np.zeros(196), [0])
    with pytest.raises(phaxcl.Error, match="expected 3 labels"):
        phaxcl.Dataset(np.zeros((3, 196)), [0, 1])
    with pytest.raises(phaxcl.Error) as e:
        m.set_theta(0, np.zeros((10, 5)))
    assert e.value.status == "PHX_ESHAPE"
    with pytest.raises(phaxcl.Error, match="expected samples x 195"):
        m.forward(np.zeros((2, 196)))


def test_unknown_backend():
    with pytest.raises(phaxcl.Error) as e:
        phaxcl.Backend("cuda")
    assert e.value.status == "PHX_EINVAL"
    assert str(e.value) == "unknown backend 'cuda' (expected auto, c, c64, opencl)"


def test_unknown_device_same_as_cli(cli):
    with pytest.raises(phaxcl.Error) as e:
        phaxcl.Backend("opencl", device="no-such-device-xyz")
    assert e.value.status in ("PHX_ENODEV", "PHX_ENOBACKEND")
    r = run_cli(cli, "eval", phaxcl.bundled_data() + "/../no.safetensors", check=False)
    assert r.returncode == 1
    r = run_cli(cli, "train", "--epochs", "1", "--backend", "opencl", "--device",
                "no-such-device-xyz", check=False)
    assert r.returncode == 1 and r.stderr.strip() == f"phaxcl: {e.value}"


def test_corrupt_model_same_as_cli(cli, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(phaxcl.Error) as e:
        phaxcl.Model.load(bad)
    assert e.value.status == "PHX_EFORMAT" and str(bad) in str(e.value)
    r = run_cli(cli, "info", bad, check=False)
    assert r.returncode == 1 and r.stderr.strip() == f"phaxcl: {e.value}"


def test_bad_options():
    with pytest.raises(phaxcl.Error, match=r"^--layers: size 2 must be in"):
        phaxcl.Model([196, 0, 10])
    with pytest.raises(phaxcl.Error) as e:
        phaxcl.train(phaxcl.Model([196, 5, 10]), phaxcl.bundled_data(), epochs=1,
                     lr=float("nan"), backend="c")
    assert str(e.value) == "--lr: must be a positive finite number (got nan)"
    with pytest.raises(phaxcl.Error, match="no such folder"):
        phaxcl.load_idx("/nonexistent-phaxcl-folder")
    with pytest.raises(phaxcl.Error, match="label -1 of sample 1"):
        phaxcl.Dataset(np.zeros((3, 4)), [0, -1, 2])
    with pytest.raises(phaxcl.Error, match="optimizer"):
        phaxcl.train(phaxcl.Model(), phaxcl.bundled_data(), optimizer="rmsprop")
    with pytest.raises(phaxcl.Error) as e:
        phaxcl.variation(sigma=-1)
    assert e.value.status == "PHX_EINVAL" and "--sigma" in str(e.value)
    with pytest.raises(phaxcl.Error) as e:
        phaxcl.variation(offset_sigma=float("nan"))
    assert e.value.status == "PHX_EINVAL" and "--offset-sigma" in str(e.value)


def test_save_error_names_the_path(trained, tmp_path):
    m, _ = trained
    target = tmp_path / "no-such-folder" / "m.safetensors"
    with pytest.raises(phaxcl.Error) as e:
        m.save(target)
    assert e.value.status == "PHX_EIO" and str(target) in str(e.value)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "no-such-folder").exists()
