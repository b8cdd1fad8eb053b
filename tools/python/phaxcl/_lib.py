"""The C library through ctypes: finding libphaxcl, the public structs of
include/phaxcl.h field for field, and errors as Python exceptions.

Kept in one place so that a change to the header touches one Python file."""
import ctypes as C
import glob
import os

_HERE = os.path.dirname(os.path.abspath(__file__))

MAX_LAYERS = 16
MAX_LEVEL_LIST = 32


def _find_library():
    # A wheel carries the library next to this file; a source checkout
    # names the built one in $PHAXCL_LIBRARY; else the system's.
    env = os.environ.get("PHAXCL_LIBRARY")
    if env:
        return env
    local = sorted(glob.glob(os.path.join(_HERE, "libphaxcl*.so*")))
    if local:
        return local[0]
    import ctypes.util
    found = ctypes.util.find_library("phaxcl")
    if found:
        return found
    raise OSError("phaxcl: libphaxcl not found: install the package with "
                  "'pip install .' or set PHAXCL_LIBRARY to the built library")


lib = C.CDLL(_find_library())


class Error(Exception):
    """A library call failed, or its arguments were refused before the call.
    str(e) is the one-line message; e.status is the status name
    ("PHX_ESHAPE"), e.code its value in include/phaxcl.h."""

    def __init__(self, message, status="PHX_EINVAL"):
        super().__init__(message)
        self.status = status
        self.code = STATUS[status]


# ---- structs (include/phaxcl.h) ------------------------------------------

class Err(C.Structure):
    _fields_ = [("status", C.c_int), ("msg", C.c_char * 512)]


class ModelOpts(C.Structure):
    _fields_ = [("nlayers", C.c_int), ("sizes", C.c_int * (MAX_LAYERS + 1)),
                ("vdd", C.c_double), ("gmin", C.c_double), ("ratio", C.c_double),
                ("c", C.c_double * 4), ("d", C.c_double * 4), ("loss", C.c_int),
                ("load_aware", C.c_int)]


class BackendOpts(C.Structure):
    _fields_ = [("device", C.c_char_p), ("verbose", C.c_int), ("use_env", C.c_int),
                ("cache_dir", C.c_char_p), ("cache", C.c_int), ("kernel_dir", C.c_char_p),
                ("gemm", C.c_char_p), ("clblast_params", C.c_char_p)]


class Variation(C.Structure):
    _fields_ = [("levels", C.c_int), ("sigma", C.c_double), ("dist", C.c_int),
                ("read_noise", C.c_double), ("stuck_off", C.c_double),
                ("stuck_on", C.c_double), ("nlist", C.c_int),
                ("list", C.c_double * MAX_LEVEL_LIST), ("offset_sigma", C.c_double)]


class TrainOpts(C.Structure):
    _fields_ = [("optimizer", C.c_int), ("epochs", C.c_int), ("batch", C.c_int),
                ("lr", C.c_double), ("momentum", C.c_double), ("beta1", C.c_double),
                ("beta2", C.c_double), ("eps", C.c_double), ("seed", C.c_uint64),
                ("limit", C.c_int), ("checkpoint", C.c_char_p),
                ("checkpoint_every", C.c_int), ("resume", C.c_char_p),
                ("vary", C.POINTER(Variation)), ("faults", C.c_void_p),
                ("vary_draws", C.c_int)]


class EpochStats(C.Structure):
    _fields_ = [("epoch", C.c_int), ("epochs", C.c_int), ("loss", C.c_double),
                ("train_acc", C.c_double), ("test_loss", C.c_double),
                ("test_acc", C.c_double), ("seconds", C.c_double)]


EPOCH_FN = C.CFUNCTYPE(C.c_int, C.POINTER(EpochStats), C.c_void_p)
PROGRESS_FN = C.CFUNCTYPE(None, C.c_long, C.c_long, C.c_void_p)


class TrainHooks(C.Structure):
    _fields_ = [("on_epoch", EPOCH_FN), ("on_progress", PROGRESS_FN),
                ("user", C.c_void_p), ("stop", C.POINTER(C.c_int)),
                ("parallel", C.c_void_p)]


class EvalResult(C.Structure):
    _fields_ = [("count", C.c_int), ("loss", C.c_double), ("accuracy", C.c_double)]


class McResult(C.Structure):
    _fields_ = [("draws", C.c_int), ("count", C.c_int), ("ideal", C.c_double),
                ("mean", C.c_double), ("std", C.c_double), ("min", C.c_double),
                ("p5", C.c_double), ("max", C.c_double)]


class DeviceInfo(C.Structure):
    _fields_ = [("platform", C.c_int), ("index", C.c_int), ("type", C.c_char * 16),
                ("platform_name", C.c_char * 128), ("platform_vendor", C.c_char * 128),
                ("platform_version", C.c_char * 256), ("name", C.c_char * 256),
                ("vendor", C.c_char * 128), ("version", C.c_char * 128),
                ("driver", C.c_char * 128), ("c_version", C.c_char * 128),
                ("compute_units", C.c_uint), ("global_mem", C.c_uint64),
                ("max_work_group", C.c_size_t), ("fp64", C.c_int), ("is_default", C.c_int),
                ("software", C.c_int), ("probe", C.c_double)]


class CheckRow(C.Structure):
    _fields_ = [("op", C.c_char_p), ("device", C.c_char_p), ("max_abs", C.c_double),
                ("max_rel", C.c_double), ("nmse", C.c_double), ("tol_nmse", C.c_double),
                ("count", C.c_long), ("pass_", C.c_int), ("skipped", C.c_char_p)]


CHECK_FN = C.CFUNCTYPE(None, C.POINTER(CheckRow), C.c_void_p)


class CheckOpts(C.Structure):
    _fields_ = [("device", C.c_char_p), ("small", C.c_int), ("seed", C.c_uint64),
                ("verbose", C.c_int)]


class Inverter(C.Structure):
    _fields_ = [("kind", C.c_int), ("corner", C.c_char * 8), ("wp", C.c_double),
                ("lp", C.c_double), ("wn", C.c_double), ("ln", C.c_double),
                ("pmodel", C.c_char * 64), ("nmodel", C.c_char * 64),
                ("subckt_file", C.c_char * 1024), ("subckt_name", C.c_char * 64),
                ("models_file", C.c_char * 1024), ("mult", C.c_double)]


class SpiceOpts(C.Structure):
    _fields_ = [("inv", Inverter), ("count", C.c_int), ("engine", C.c_int),
                ("verbose", C.c_int), ("first", C.c_int), ("threads", C.c_int),
                ("sweep", C.c_int)]


class SpiceSample(C.Structure):
    _fields_ = [("index", C.c_int), ("label", C.c_int), ("converged", C.c_int),
                ("model_class", C.c_int), ("sim_class", C.c_int), ("max_dv", C.c_double),
                ("mean_dv", C.c_double), ("power_W", C.c_double), ("rails_W", C.c_double),
                ("inputs_W", C.c_double), ("returned_max_dv", C.c_double),
                ("returned_mean_dv", C.c_double), ("returned_class", C.c_int)]


class SpiceResult(C.Structure):
    _fields_ = [("count", C.c_int), ("converged", C.c_int), ("outputs", C.c_int),
                ("max_dv", C.c_double), ("mean_dv", C.c_double), ("agreement", C.c_double),
                ("sim_accuracy", C.c_double), ("model_accuracy", C.c_double),
                ("power_mean_W", C.c_double), ("supply_power_W", C.c_double),
                ("input_power_W", C.c_double), ("load_seconds", C.c_double),
                ("sim_seconds", C.c_double), ("engine", C.c_char * 32),
                ("returned_max_dv", C.c_double), ("returned_mean_dv", C.c_double),
                ("returned_agreement", C.c_double)]


class TableOpts(C.Structure):
    _fields_ = [("target", C.c_char_p), ("header", C.c_int), ("regression", C.c_int),
                ("delimiter", C.c_char), ("header_out", C.c_char_p),
                ("header_size", C.c_size_t)]


class RegressResult(C.Structure):
    _fields_ = [("count", C.c_int), ("targets", C.c_int), ("mse_v", C.c_double),
                ("mse", C.c_double), ("rmse", C.c_double), ("mre", C.c_double),
                ("max_err", C.c_double)]


class DataSpec(C.Structure):
    _fields_ = [("target", C.c_char_p), ("header", C.c_char_p), ("split", C.c_double),
                ("seed", C.c_uint64), ("rows", C.c_int64)]


def struct_dict(s):
    """A ctypes struct's scalar fields as a dict (bytes decoded)."""
    out = {}
    for name, _ in s._fields_:
        v = getattr(s, name)
        if isinstance(v, bytes):
            v = v.decode(errors="replace")
        out[name.rstrip("_")] = v
    return out


# ---- signatures ------------------------------------------------------------

P = C.c_void_p
PP = C.POINTER(C.c_void_p)
ERR = C.POINTER(Err)
F32P = C.POINTER(C.c_float)
F64P = C.POINTER(C.c_double)
I32P = C.POINTER(C.c_int32)
I64P = C.POINTER(C.c_int64)
S = C.c_char_p
I = C.c_int

_SIGS = {
    "phx_strerror": (S, [I]),
    "phx_status_name": (S, [I]),
    "phx_model_opts_default": (None, [C.POINTER(ModelOpts)]),
    "phx_model_opts_check": (I, [C.POINTER(ModelOpts), ERR]),
    "phx_model_new": (I, [C.POINTER(ModelOpts), PP, ERR]),
    "phx_model_free": (None, [P]),
    "phx_model_init": (None, [P, C.c_uint64]),
    "phx_model_get_opts": (C.POINTER(ModelOpts), [P]),
    "phx_model_theta": (F32P, [P, I]),
    "phx_model_rows": (I, [P, I]),
    "phx_model_cols": (I, [P, I]),
    "phx_model_save": (I, [P, S, ERR]),
    "phx_model_load": (I, [S, PP, ERR]),
    "phx_dataset_load_dir": (I, [S, I, PP, PP, ERR]),
    "phx_dataset_load_idx": (I, [S, S, I, PP, ERR]),
    "phx_dataset_new": (I, [I, I, I, F32P, I32P, PP, ERR]),
    "phx_dataset_free": (None, [P]),
    "phx_dataset_count": (I, [P]),
    "phx_dataset_dim": (I, [P]),
    "phx_dataset_classes": (I, [P]),
    "phx_dataset_x": (F32P, [P]),
    "phx_dataset_labels": (I32P, [P]),
    "phx_backend_opts_default": (None, [C.POINTER(BackendOpts)]),
    "phx_backend_new_opts": (I, [S, C.POINTER(BackendOpts), PP, ERR]),
    "phx_backend_free": (None, [P]),
    "phx_backend_name": (S, [P]),
    "phx_backend_device": (S, [P]),
    "phx_train_opts_default": (None, [C.POINTER(TrainOpts)]),
    "phx_train": (I, [P, P, P, P, C.POINTER(TrainOpts), C.POINTER(TrainHooks), ERR]),
    "phx_evaluate": (I, [P, P, P, C.POINTER(EvalResult), I64P, ERR]),
    "phx_gradient": (I, [P, P, P, I, F64P, P, ERR]),
    "phx_variation_default": (None, [C.POINTER(Variation)]),
    "phx_variation_check": (I, [C.POINTER(Variation), ERR]),
    "phx_draw_conductances": (I, [P, C.POINTER(Variation), C.c_uint64, I, I, F64P, ERR]),
    "phx_model_draw": (I, [P, C.POINTER(Variation), C.c_uint64, I, PP, ERR]),
    "phx_monte_carlo": (I, [P, P, P, I, C.POINTER(Variation), I, C.c_uint64,
                            C.POINTER(McResult), F64P, ERR]),
    "phx_devices": (I, [C.POINTER(C.POINTER(DeviceInfo)), C.POINTER(I), ERR]),
    "phx_devices_free": (None, [C.POINTER(DeviceInfo)]),
    "phx_check_opts_default": (None, [C.POINTER(CheckOpts)]),
    "phx_check_run": (I, [C.POINTER(CheckOpts), CHECK_FN, P, C.POINTER(I), ERR]),
    "phx_inverter_default": (None, [C.POINTER(Inverter)]),
    "phx_inverter_sky130": (None, [C.POINTER(Inverter)]),
    "phx_inverter_check": (I, [C.POINTER(Inverter), ERR]),
    "phx_export_csv": (I, [P, I, I, S, ERR]),
    "phx_export_spice": (I, [P, C.POINTER(Inverter), F32P, S, ERR]),
    "phx_model_forward64": (None, [P, F32P, F64P]),
    "phx_spice_opts_default": (None, [C.POINTER(SpiceOpts)]),
    "phx_spice_run": (I, [P, P, C.POINTER(SpiceOpts), C.POINTER(SpiceResult),
                          C.POINTER(SpiceSample), F64P, ERR]),
    "phx_neuron_load": (I, [S, PP, ERR]),
    "phx_neuron_free": (None, [P]),
    "phx_neuron_fits": (None, [P, F64P, F64P, F64P, F64P]),
    "phx_neuron_sweep": (I, [P] + [C.POINTER(F64P)] * 6),
    "phx_neuron_inverter": (C.POINTER(Inverter), [P]),
    "phx_dataset_new_regression": (I, [I, I, I, F32P, F32P, PP, ERR]),
    "phx_dataset_targets": (I, [P]),
    "phx_dataset_y": (F32P, [P]),
    "phx_dataset_split": (I, [P, C.c_double, C.c_uint64, PP, PP, ERR]),
    "phx_table_opts_default": (None, [C.POINTER(TableOpts)]),
    "phx_dataset_load_table": (I, [S, S, C.POINTER(TableOpts), PP, ERR]),
    "phx_model_fit_scaling": (I, [P, P, ERR]),
    "phx_model_scale_data": (I, [P, P, PP, ERR]),
    "phx_model_scaled": (I, [P]),
    "phx_model_targets": (I, [P]),
    "phx_model_unscale_target": (C.c_double, [P, I, C.c_double]),
    "phx_model_scale_feature": (C.c_double, [P, I, C.c_double]),
    "phx_evaluate_regression": (I, [P, P, P, C.POINTER(RegressResult), F64P, ERR]),
    "phx_model_set_data_spec": (I, [P, C.POINTER(DataSpec), ERR]),
    "phx_model_get_data_spec": (I, [P, C.POINTER(DataSpec)]),
}
for _name, (_res, _args) in _SIGS.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args


# Status names and values, from the library itself (values past the last
# one all share the library's name for an unknown status).
_names = [lib.phx_status_name(i).decode() for i in range(64)]
STATUS = {n: i for i, n in enumerate(_names) if _names.count(n) == 1}


def call(fn, *args):
    """Calls a fallible library function with a fresh phx_err as its last
    argument; raises Error with the library's message when it fails."""
    err = Err()
    status = fn(*args, C.byref(err))
    if status:
        raise_status(status, err.msg.decode(errors="replace"))


def raise_status(status, msg=""):
    name = lib.phx_status_name(status).decode()
    raise Error(msg or lib.phx_strerror(status).decode(), name)


def enc(s):
    """A str (or path) as bytes for a char* argument; None stays NULL."""
    return None if s is None else os.fsencode(s)
