/* phaxcl — ex-situ training of inverter-based memristive crossbar networks.
 *
 * One public header, prefix phx_. Handles are opaque; option and result
 * structs are caller-owned. Every fallible call returns a phx_status and, when
 * given a phx_err, fills it with a one-line message that names the file,
 * option or device at fault. The library keeps no global state but two
 * records, each guarded by a mutex: CLBlast keeps its tuning parameters
 * per OpenCL device for the whole process, so the OpenCL backend records
 * which backend instance set them last on each device, to keep one
 * instance's parameters from reaching another; and libngspice is one
 * simulator per process, so the circuit engine records which engine holds
 * it (one at a time). Besides, each thread carries one flag: whether it
 * runs one of the C path's host workers (Monte Carlo chips, returned-load
 * solves), so that work it starts stays on it instead of starting more.
 */
#ifndef PHAXCL_H
#define PHAXCL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PHX_VERSION "0.1.0"
#define PHX_MAX_LAYERS 16

/* Every public function is exported with PHX_API; the library hides the
 * rest (built with -fvisibility=hidden). */
#if defined(__GNUC__) || defined(__clang__)
#define PHX_API __attribute__((visibility("default")))
#else
#define PHX_API
#endif

/* Status codes as an X-macro table: name, pinned value, message. A value
 * never changes meaning once released; new codes take new numbers. */
#define PHX_STATUS_MAP(X)                                              \
  X(OK, 0, "success")                                                  \
  X(EINVAL, 1, "invalid argument")                                     \
  X(ENOMEM, 2, "out of memory")                                        \
  X(EIO, 3, "input/output error")                                      \
  X(EFORMAT, 4, "malformed file")                                      \
  X(ESHAPE, 5, "shape mismatch")                                       \
  X(ENAN, 6, "non-finite value")                                       \
  X(ENODEV, 7, "no such device")                                       \
  X(ENOBACKEND, 8, "backend not available in this build")              \
  X(EBUILD, 9, "kernel build failed")                                  \
  X(EDEVICE, 10, "device error")                                       \
  X(EDEVMEM, 11, "out of device memory")                               \
  X(ECHECK, 12, "cross-check failed")                                  \
  X(EINTERNAL, 13, "internal error")                                   \
  X(EINTR, 14, "interrupted")                                          \
  X(ESIM, 15, "circuit simulation failed")

typedef enum {
#define PHX_STATUS_ENUM(name, value, msg) PHX_##name = value,
  PHX_STATUS_MAP(PHX_STATUS_ENUM)
#undef PHX_STATUS_ENUM
  PHX_STATUS_COUNT /* one past the largest value */
} phx_status;

/* Short description of a status ("out of memory"). Never NULL. */
PHX_API const char *phx_strerror(phx_status s);
/* Symbolic name of a status ("PHX_ENOMEM"). Never NULL. */
PHX_API const char *phx_status_name(phx_status s);

/* Caller-owned error report: status plus a one-line message. */
typedef struct phx_err {
  phx_status status;
  char msg[512];
} phx_err;

/* ---- model ------------------------------------------------------------ */

typedef enum { PHX_LOSS_CE = 0, PHX_LOSS_MSE = 1 } phx_loss;

/* Model options (docs/model.md). sizes[0] is the input count, sizes[nlayers] the
 * class count. c and d are the inverted / non-inverted VTC fits
 * o = a1 + a2 * tanh(a4 * (z - a3)). */
typedef struct phx_model_opts {
  int nlayers;
  int sizes[PHX_MAX_LAYERS + 1];
  double vdd;   /* supply, V; rails at +-vdd/2 */
  double gmin;  /* smallest conductance, S */
  double ratio; /* gmax / gmin */
  double c[4];
  double d[4];
  phx_loss loss;
  /* Table neurons only (phx_model_set_table): 1 = every hidden neuron's
   * outputs sag under the load of the next crossbar's rows, returned to
   * 0 V (docs/model.md, "Table neurons and loading"); 2 = the same loads
   * returned to the next layer's column nodes, rows and columns solved
   * together ("Returned loads"); 0 = ideal sources, as old models. */
  int load_aware;
} phx_model_opts;

/* Fills docs/model.md defaults: 196-100-10, vdd 0.5, gmin 0.12 uS, ratio 8.33,
 * the 90 nm inverter fits, cross-entropy. */
PHX_API void phx_model_opts_default(phx_model_opts *o);
/* Checks ranges and sizes; message names the offending option. */
PHX_API phx_status phx_model_opts_check(const phx_model_opts *o, phx_err *err);

typedef struct phx_model phx_model;

/* New model with all theta zero. */
PHX_API phx_status phx_model_new(const phx_model_opts *o, phx_model **out, phx_err *err);
PHX_API void phx_model_free(phx_model *m);
/* theta ~ U(-e, e), e = sqrt(6/(R+M)), from a seeded generator (same on
 * every backend and platform). */
PHX_API void phx_model_init(phx_model *m, uint64_t seed);
PHX_API const phx_model_opts *phx_model_get_opts(const phx_model *m);
/* Layer l's theta, row-major M x R (R = 2N+2, rows in docs/model.md order). */
PHX_API float *phx_model_theta(phx_model *m, int l);
PHX_API const float *phx_model_theta_const(const phx_model *m, int l);
/* The neuron as a table instead of the tanh fits c, d (docs/model.md,
 * "Table neurons and loading"): one inverter's output at nv inputs
 * v0 + i dv for L loads to 0 V (loads[0] = 0, increasing, S); values is
 * L x nv (V). Both inverters of a neuron use it; slopes are made here
 * (monotone cubic). L = 0 removes the table. Saved with the model. */
PHX_API phx_status phx_model_set_table(phx_model *m, int L, int nv, double v0, double dv,
                                       const double *loads, const double *values,
                                       phx_err *err);
/* The table's L (0 when the model uses the tanh fits) and its layout;
 * any pointer may be NULL. T is L x nv x 2 (value, dF/dv). */
PHX_API int phx_model_table(const phx_model *m, int *nv, double *v0, double *dv,
                            const double **loads, const double **T);
PHX_API int phx_model_rows(const phx_model *m, int l); /* M */
        PHX_API int phx_model_cols(const phx_model *m, int l); /* R */
        /* safetensors: tensors layers.{l}.theta (F32 [M, R]) plus metadata.
         * Saving is atomic (temp file, fsync, rename). Loading validates everything
         * before returning a model. */
        PHX_API phx_status phx_model_save(const phx_model *m, const char *path, phx_err *err);
PHX_API phx_status phx_model_load(const char *path, phx_model **out, phx_err *err);

/* ---- data ------------------------------------------------------------- */

typedef struct phx_dataset phx_dataset;

/* One IDX image file + label file (each optionally gzip-compressed; the
 * name is tried as given and with ".gz"). Pixels scale to [0, 1]; pool > 1
 * averages pool x pool blocks. */
PHX_API phx_status phx_dataset_load_idx(const char *images, const char *labels, int pool,
                                        phx_dataset **out, phx_err *err);
/* A folder in the MNIST layout: train-*-idx?-ubyte and t10k-*-idx?-ubyte. */
PHX_API phx_status phx_dataset_load_dir(const char *dir, int pool, phx_dataset **train,
                                        phx_dataset **test, phx_err *err);
/* A dataset from memory (copied). Values must be finite; labels in
 * [0, classes). */
PHX_API phx_status phx_dataset_new(int count, int dim, int classes, const float *x,
                                   const int32_t *labels, phx_dataset **out, phx_err *err);
PHX_API void phx_dataset_free(phx_dataset *d);
PHX_API int phx_dataset_count(const phx_dataset *d);
PHX_API int phx_dataset_dim(const phx_dataset *d);
PHX_API int phx_dataset_classes(const phx_dataset *d); /* 1 + largest label */
        PHX_API const float *phx_dataset_x(const phx_dataset *d);        /* count x dim */
        PHX_API const int32_t *phx_dataset_labels(const phx_dataset *d); /* count */

        /* ---- backends ----------------------------------------------------------- */

        typedef struct phx_backend phx_backend;

/* name: "c" (float32 C path), "c64" (float64 C path, for checks), "opencl",
 * or "auto" (an OpenCL GPU/accelerator if present, else "c"). device: an
 * OpenCL device spec ("P:D", or a substring of platform/vendor/device name);
 * NULL uses $PHAXCL_DEVICE, then the best device. verbose > 0 reports
 * compile times and cache hits on stderr. */
/* Backend settings. A field left at its default (NULL, or -1) takes the
 * environment variable named beside it when use_env is set, else the
 * built-in default; the library reads the environment nowhere else. */
typedef struct phx_backend_opts {
  const char *device;         /* $PHAXCL_DEVICE; else the best device */
  int verbose;                /* > 0: compile times, cache hits on stderr */
  int use_env;                /* 1 (default): unset fields read the environment */
  const char *cache_dir;      /* $PHAXCL_CACHE_DIR; else $XDG_CACHE_HOME/phaxcl
                                 or ~/.cache/phaxcl */
  int cache;                  /* -1: $PHAXCL_CACHE ("0" is off), else on; 0 off;
                                 1 on */
  const char *kernel_dir;     /* $PHAXCL_KERNEL_DIR; else the embedded kernels */
  const char *gemm;           /* $PHAXCL_GEMM: "own" or "clblast"; else chosen per
                                 device (data/clblast) */
  const char *clblast_params; /* $PHAXCL_CLBLAST_PARAMS: a parameter file, or "0"
                                 for none; else the stored tuning of the device */
} phx_backend_opts;

/* Defaults: every field unset, use_env 1. */
PHX_API void phx_backend_opts_default(phx_backend_opts *o);
/* As phx_backend_new, with every setting explicit (o NULL: defaults). */
PHX_API phx_status phx_backend_new_opts(const char *name, const phx_backend_opts *o,
                                        phx_backend **out, phx_err *err);
PHX_API phx_status phx_backend_new(const char *name, const char *device, int verbose,
                                   phx_backend **out, phx_err *err);
PHX_API void phx_backend_free(phx_backend *b);
PHX_API const char *phx_backend_name(const phx_backend *b);
/* Human-readable device description ("cpu (OpenBLAS)", "pocl: pthread-..."). */
PHX_API const char *phx_backend_device(const phx_backend *b);

/* ---- training, evaluation, gradients -------------------------------------- */

typedef enum {
  PHX_OPT_SGD = 0,
  PHX_OPT_MOMENTUM = 1,
  PHX_OPT_ADAM = 2,
  PHX_OPT_LBFGS = 3
} phx_optimizer;

typedef struct phx_train_opts {
  phx_optimizer optimizer;
  int epochs;      /* for lbfgs: iterations */
  int batch;       /* mini-batch size (ignored by lbfgs: full batch) */
  double lr;
  double momentum; /* momentum optimizer */
  double beta1, beta2, eps; /* adam */
  uint64_t seed;   /* shuffling */
  int limit;       /* use only the first `limit` training samples; 0 = all */
  /* Checkpoints. checkpoint: a file written atomically every
   * checkpoint_every epochs (0: only when stopped through hooks->stop) and
   * at the end; it is a model file (phx_model_load reads it) plus the
   * optimizer state (exact theta, momentum or Adam moments, step count),
   * the position in the run, the training options and a hash of the
   * training data. resume: a checkpoint to continue from; m must have its
   * model options, the options above (except epochs, the total to reach)
   * and the training data must be those it was written with. Resumed runs
   * equal uninterrupted ones bit for bit on the same backend and device;
   * L-BFGS restarts its history from the checkpoint's parameters. NULL:
   * none. */
  const char *checkpoint;
  int checkpoint_every;
  const char *resume;
  /* Variation-aware training (mini-batch optimizers): when not NULL, each
   * step's forward pass runs on a chip drawn from it (draw = step, from
   * seed), gradients pass straight through the drawn perturbation
   * (docs/model.md). NULL trains the ideal circuit. */
  const struct phx_variation *vary;
  /* Retraining around a chip's known stuck cells (phx_faults_load): they
   * are pinned at their values from the start and stay there, gradients
   * for them dropped, so the result is the faulty chip's best parameters.
   * NULL: none. */
  const struct phx_faults *faults;
  /* Chips drawn per step of variation-aware training, their gradients
   * averaged (0 means 1). */
  int vary_draws;
} phx_train_opts;

/* Defaults that train the paper task well: adam, lr 0.1, batch 16, 50
 * epochs, seed 1. */
PHX_API void phx_train_opts_default(phx_train_opts *o);

typedef struct phx_epoch_stats {
  int epoch;         /* 1-based */
  int epochs;
  double loss;       /* mean training loss over the epoch */
  double train_acc;  /* fraction correct during the epoch */
  double test_loss;
  double test_acc;   /* -1 when no test set */
  double seconds;    /* wall time of the epoch (training + test pass) */
} phx_epoch_stats;

/* Called after each epoch; a non-zero return stops training early. */
typedef int (*phx_epoch_fn)(const phx_epoch_stats *s, void *user);
/* Called during an epoch with samples done / total (for progress bars). */
typedef void (*phx_progress_fn)(long done, long total, void *user);

/* stop, when not NULL, is polled after every optimizer step: once non-zero
 * (from a signal handler, say), training writes the checkpoint when one is
 * set and returns PHX_EINTR, leaving the caller's model untouched. */
typedef struct phx_train_hooks {
  phx_epoch_fn on_epoch;
  phx_progress_fn on_progress;
  void *user;
  const volatile sig_atomic_t *stop;
  const struct phx_train_parallel *parallel; /* NULL: one process (issue 11, below) */
} phx_train_hooks;

/* Trains m in place on backend b. test may be NULL. Returns PHX_EINTR when
 * hooks->stop ended the run (the message says where and what was saved). */
PHX_API phx_status phx_train(phx_backend *b, phx_model *m, const phx_dataset *train,
                             const phx_dataset *test, const phx_train_opts *o,
                             const phx_train_hooks *hooks, phx_err *err);

/* A checkpoint's training options (o; its pointer fields are set to NULL)
 * and the epochs (L-BFGS iterations) it has completed, for resuming with the
 * options it was written with. A plain model file: PHX_EFORMAT. */
PHX_API phx_status phx_checkpoint_info(const char *path, phx_train_opts *o,
                                       int *epochs_done, phx_err *err);

typedef struct phx_eval_result {
  int count;
  double loss;     /* mean loss */
  double accuracy; /* fraction */
} phx_eval_result;

/* Evaluates m on d. confusion, when not NULL, receives classes x classes
 * counts (row: true class, column: predicted). */
PHX_API phx_status phx_evaluate(phx_backend *b, const phx_model *m, const phx_dataset *d,
                                phx_eval_result *res, int64_t *confusion, phx_err *err);

/* Mean loss and its exact gradient over the first `limit` samples of d
 * (0 = all). grad must have m's shape; its theta receives dL/dtheta. */
PHX_API phx_status phx_gradient(phx_backend *b, const phx_model *m, const phx_dataset *d,
                                int limit, double *loss, phx_model *grad, phx_err *err);

/* Static power per inference (W) that the model's crossbars dissipate,
 * sum over crosspoints of g (u - z)^2 (docs/model.md, "Power"), over the
 * first `limit` samples of d (0 = all): the mean over samples in *mean and,
 * when per_layer is not NULL, each layer's mean (nlayers values). The
 * neurons' supply current is not included. */
PHX_API phx_status phx_crossbar_power(phx_backend *b, const phx_model *m, const phx_dataset *d,
                                      int limit, double *mean, double *per_layer, phx_err *err);

/* ---- device non-idealities and Monte Carlo ------------------------------ */

typedef enum { PHX_VAR_LOGNORMAL = 0, PHX_VAR_GAUSSIAN = 1 } phx_var_dist;

/* What a chip does to the trained conductances, applied per crosspoint in
 * this order (docs/model.md, "Device variation"):
 *  levels      programmable levels, evenly spaced from gmin to gmax, the
 *              nearest taken; 0 = continuous
 *  nlist, list instead of levels (which must then be 0): the device's own
 *              levels in S, strictly ascending, within the model's
 *              [gmin, gmax] (phx_levels_load reads them from a file); the
 *              nearest taken, the lower one on a tie
 *  sigma       programming variation (fraction, 0.2 = 20 %): g e^(sigma n)
 *              (lognormal) or g (1 + sigma n) (Gaussian, cut at 0)
 *  read_noise  multiplicative Gaussian read noise (fraction), one read per
 *              draw
 *  stuck_off, stuck_on  fractions of cells stuck at gmin and at gmax
 *  offset_sigma  per-neuron switching-point offset (V, Gaussian sigma):
 *              each neuron's first inverter switches delta_j away from
 *              its curve, the neuron computes f(z - delta_j) (both
 *              outputs; docs/model.md "Device variation"); 0 = none.
 *              `phaxcl vtc --mc N` measures it with the sky130 mismatch
 *              models. */
#define PHX_MAX_LEVEL_LIST 32
typedef struct phx_variation {
  int levels;
  double sigma;
  phx_var_dist dist;
  double read_noise;
  double stuck_off, stuck_on;
  int nlist;
  double list[PHX_MAX_LEVEL_LIST];
  double offset_sigma;
} phx_variation;

/* No variation: every field zero, lognormal. */
PHX_API void phx_variation_default(phx_variation *v);
/* Checks ranges; the message names the option (--sigma, --levels ...). */
PHX_API phx_status phx_variation_check(const phx_variation *v, phx_err *err);
/* A level list's levels within o's [gmin, gmax] (1e-9 relative slack). */
PHX_API phx_status phx_variation_check_model(const phx_variation *v, const phx_model_opts *o,
                                             phx_err *err);
/* A device's levels from a text file: one conductance a line, strictly
 * ascending, 2 to PHX_MAX_LEVEL_LIST of them, in S unless a "unit uS"
 * (S, mS, uS, nS) line comes first; a number may carry its own unit
 * (0.5uS). '#' starts a comment. Into v->list and v->nlist (v->levels set
 * to 0); errors name the file and line. */
PHX_API phx_status phx_levels_load(const char *path, phx_variation *v, phx_err *err);

typedef struct phx_mc_result {
  int draws, count;  /* draws, and samples per draw */
  double ideal;      /* accuracy without variation */
  double mean, std;  /* accuracy over the draws */
  double min, p5, max;
} phx_mc_result;

/* The conductances (S) of layer l of chip `draw` drawn from v and seed,
 * as phx_monte_carlo evaluates it (M x R, like the layer's theta). */
PHX_API phx_status phx_draw_conductances(const phx_model *m, const phx_variation *v,
                                         uint64_t seed, int draw, int l, double *g,
                                         phx_err *err);

/* Chip `draw` of v and seed as a model of its own, for the circuit
 * commands (export, spice): its conductances are the drawn ones (relative
 * error below 1e-6; a cell cut to 0 S by a Gaussian spread becomes
 * 1e-6 gmin), which can lie beyond the trained [gmin, gmax], so the drawn
 * model's gmin and ratio widen to hold them. */
PHX_API phx_status phx_model_draw(const phx_model *m, const phx_variation *v, uint64_t seed,
                                  int draw, phx_model **out, phx_err *err);

/* The device variation a model was trained for (variation-aware training
 * records it; it is saved in the model file, metadata "variation"), or
 * NULL: `mc`, `eval`, `export` and `spice` take it as their default. */
PHX_API const phx_variation *phx_model_get_variation(const phx_model *m);
/* Records v (checked; NULL clears it). */
PHX_API phx_status phx_model_set_variation(phx_model *m, const phx_variation *v, phx_err *err);

/* A chip's per-neuron input offsets (V): layer l's M values, or NULL when
 * the model has none. phx_model_draw sets them when v->offset_sigma > 0;
 * every evaluation (net, circuit forward pass, netlist) applies them as
 * f(z - delta_j). They live with the model object only (a model file
 * holds the trained chip, not a drawn one). */
PHX_API const double *phx_model_offsets(const phx_model *m, int l);
/* Sets all layers' offsets, layer 0's neurons first (sum of sizes[1..L]
 * values, each finite and within +-vdd); NULL clears them. */
PHX_API phx_status phx_model_set_offsets(phx_model *m, const double *delta, phx_err *err);
/* Neuron j's offset (V) of layer l of chip `draw` drawn from v and seed:
 * sigma n, n a Box-Muller normal from the same counter hash as the
 * conductances (its own streams), so every backend draws the same. */
PHX_API double phx_draw_offset(const phx_variation *v, uint64_t seed, int draw, int l, int j);

/* Monte Carlo evaluation: `draws` chips drawn from v (draw k from seed and
 * k alone, the same on every backend), each evaluated on the first
 * `limit` samples of d (0 = all). acc, when not NULL, receives each
 * draw's accuracy. */
PHX_API phx_status phx_monte_carlo(phx_backend *b, const phx_model *m, const phx_dataset *d,
                                   int limit, const phx_variation *v, int draws, uint64_t seed,
                                   phx_mc_result *res, double *acc, phx_err *err);

/* ---- stuck-cell maps ---------------------------------------------------- */

/* A chip's known stuck cells, read from a fault file: one cell a line,
 *   layer row column value
 * layer, row and column 0-based (rows in docs/model.md order: the bias
 * pair, then p and n of each input; columns are the layer's neurons, as
 * the netlist's R<layer>_<column>_<row>), value gmin, gmax or a
 * conductance in S with an optional unit (5e-7, 0.5uS). '#' starts a
 * comment; commas count as blanks. Errors name the file and line. */
typedef struct phx_faults phx_faults;
PHX_API phx_status phx_faults_load(const char *path, phx_faults **out, phx_err *err);
PHX_API void phx_faults_free(phx_faults *f);
PHX_API int phx_faults_count(const phx_faults *f);
/* Pins the faulty cells of m at their values (theta saturated at +-100
 * for gmin and gmax, the logit of a conductance between them), after
 * checking every fault against m: cells inside the layers, conductances
 * within [gmin, gmax], no cell twice. On error m is unchanged. */
PHX_API phx_status phx_model_apply_faults(phx_model *m, const phx_faults *f, phx_err *err);

/* ---- benchmark helper (for `phaxcl bench`) ------------------------------- */

/* The machine's single-precision GEMM throughput as the C path sees it:
 * C = A * B on n x n matrices through CBLAS when the build has it (plain
 * loops otherwise), repeated for at least min_seconds. Returns GFLOP/s, or
 * a negative value when memory runs out. impl, when not NULL, receives
 * "cblas" or "loops". */
PHX_API double phx_bench_sgemm_gflops(int n, double min_seconds, const char **impl);

/* The speed of every operation, from the op descriptors that drive `check`
 * and the op tests: each case of each operation at N inputs, M neurons and
 * batch B, run `reps` times on b after one warm-up run (for `phaxcl bench
 * --ops`). fn receives one row per case. */
typedef struct phx_op_speed {
  const char *op;      /* "map_forward" */
  const char *variant; /* the case ("fold", "NT,beta 0.0", ...), "" for none */
  double seconds;      /* mean wall time of one run, synchronised */
  long elements;       /* elements in the op's buffers */
} phx_op_speed;

typedef void (*phx_op_speed_fn)(const phx_op_speed *r, void *user);

PHX_API phx_status phx_bench_ops(phx_backend *b, int N, int M, int B, int reps,
                                 phx_op_speed_fn fn, void *user, phx_err *err);

/* ---- OpenCL devices and cross-checks -----------------------------------
 * Declared and exported in every build: without the OpenCL backend they
 * return PHX_ENOBACKEND with a message saying so (and
 * phx_backend_opencl_launches returns -1). */

/* One OpenCL device as `phaxcl devices` shows it. */
typedef struct phx_device_info {
  int platform, index;     /* its "P:D" */
  char type[16];           /* "GPU", "accelerator", "CPU", "simulator", "other" */
  char platform_name[128], platform_vendor[128], platform_version[256];
  char name[256], vendor[128], version[128], driver[128], c_version[128];
  unsigned compute_units;
  uint64_t global_mem;     /* bytes */
  size_t max_work_group;
  int fp64;                /* cl_khr_fp64 (never used by phaxcl's kernels) */
  int is_default;          /* what --backend opencl uses when none is named */
  int software;            /* a software rasteriser's CPU fallback (llvmpipe) */
  double probe;            /* samples/s of the training probe (the paper task's
                              step), cached per device and driver; 0 = not run
                              (simulators) or failed */
} phx_device_info;

/* Every platform's devices in P:D order (free with phx_devices_free). No
 * OpenCL runtime or no device: PHX_ENODEV with a message saying which. */
PHX_API phx_status phx_devices(phx_device_info **out, int *count, phx_err *err);
PHX_API void phx_devices_free(phx_device_info *d);

/* One line of `phaxcl check`: an operation run on an OpenCL device and on
 * the C path ("c", float32) with identical inputs. max_rel divides by
 * max(|ref|, 1e-6 max|ref|). pass needs nmse <= tol_nmse and, for gemm,
 * every element within 1e-3 + 0.5% |ref| (CLBlast's own test rule). */
typedef struct phx_check_row {
  const char *op;     /* e.g. "map_forward(fold).W", "pass.grad[0]" */
  const char *device; /* "P:D platform: device" */
  double max_abs, max_rel, nmse, tol_nmse;
  long count;         /* elements compared */
  int pass;
  const char *skipped; /* NULL, or why the device does not run this op (then
                          pass is 1 and nothing was compared) */
} phx_check_row;

typedef void (*phx_check_fn)(const phx_check_row *row, void *user);

typedef struct phx_check_opts {
  const char *device; /* "all", "P:D" or a name substring; NULL = $PHAXCL_DEVICE
                         or the default device */
  int small;          /* 1 small sizes, 0 moderate, -1 small on simulators */
  uint64_t seed;
  int verbose;
} phx_check_opts;

PHX_API void phx_check_opts_default(phx_check_opts *o);

/* Runs every backend operation, a whole forward/backward pass and one
 * optimizer step on each selected device and on the C path; calls fn for
 * each row. *failures (may be NULL) receives the number of failed rows.
 * Returns PHX_ECHECK when a row failed, another status when a device could
 * not run at all. */
PHX_API phx_status phx_check_run(const phx_check_opts *o, phx_check_fn fn, void *user,
                                 int *failures, phx_err *err);

/* Kernel launches (kernels enqueued plus CLBlast calls) since b was
 * created; -1 when b is not an OpenCL backend. */
PHX_API long phx_backend_opencl_launches(const phx_backend *b);

/* The device's single-precision GEMM throughput through CLBlast (with the
 * stored tuning), the figure `phaxcl bench` judges an OpenCL backend's
 * training against: C = A * B on n x n matrices in b's queue, repeated for
 * at least min_seconds. n <= 0 picks 4096 on GPUs and accelerators, 512
 * elsewhere; *n_used (when not NULL) receives it. Returns GFLOP/s, or -1
 * when b is not an OpenCL backend or the product fails. */
PHX_API double phx_bench_opencl_sgemm_gflops(const phx_backend *b, int n, double min_seconds,
                                             int *n_used);


/* ---- circuit: export, ngspice closed loop, neuron characterisation -------
 * Additive section owned by the circuit work (src/circuit). Netlists follow
 * docs/model.md's circuit node for node; ngspice runs in-process through
 * libngspice when the build has it, else the `ngspice` binary on PATH. */

typedef enum {
  PHX_INV_BEHAVIOURAL = 0, /* B-sources with the model's tanh fits */
  PHX_INV_SKY130 = 1,      /* transistor level, SkyWater 130 nm lvt devices */
  PHX_INV_FILE = 2         /* a user's .subckt NAME in out vdd vss */
} phx_inverter_kind;

/* How a neuron (two inverters in series: the first gives o-, the second
 * o+) is built in a netlist. Caller-owned; strings are copied by users. */
typedef struct phx_inverter {
  phx_inverter_kind kind;
  char corner[8];          /* sky130 / --models sections: tt ff ss sf fs; "" none */
  double wp, lp, wn, ln;   /* sky130 sizing in um (p and n devices) */
  char pmodel[64], nmodel[64]; /* sky130 device subcircuits */
  char subckt_file[1024];  /* PHX_INV_FILE: the .subckt file */
  char subckt_name[64];    /* filled by phx_inverter_check from the file */
  char models_file[1024];  /* .lib/.include line; sky130: sky130.lib.spice
                              ("" = $PHAXCL_SKY130_LIB or the cache) */
  double mult;             /* sky130: each device this many times in parallel
                              (ngspice m=); 1 = one, the default. The drive
                              a designer sizes for the next crossbar's load */
} phx_inverter;

/* Behavioural neuron, and the sky130 sizing of data/sky130-neuron.json
 * (p w=5 l=1, n w=40 l=0.35, lvt, tt corner, mult 1). */
PHX_API void phx_inverter_default(phx_inverter *inv);
PHX_API void phx_inverter_sky130(phx_inverter *inv);
/* Resolves and checks what a netlist needs: the model library exists, a
 * user subcircuit exists and has exactly the ports in out vdd vss, the
 * corner is known. One-line message naming the file at fault. */
PHX_API phx_status phx_inverter_check(phx_inverter *inv, phx_err *err);

/* Conductances of every crosspoint as CSV, per layer: rows named bias+,
 * bias-, x1+..xN+, x1-..xN- (hidden layers: h1-..hN- for the previous
 * layer's o-, h1+..hN+ for its o+), one column per neuron. what 0:
 * conductance in S, 1: resistance 1/g in Ohm. */
PHX_API phx_status phx_export_csv(const phx_model *m, int layer, int what, const char *path,
                                  phx_err *err);
/* The whole network as an ngspice netlist at path. x: NULL for a netlist
 * without input values (inputs as subcircuit-free voltage sources at 0 V),
 * or one sample (sizes[0] features in [0, 1]): then a standalone deck that
 * `ngspice -b` runs, printing every output node and the model's values. */
PHX_API phx_status phx_export_spice(const phx_model *m, const phx_inverter *inv, const float *x,
                                    const char *path, phx_err *err);

/* Model outputs in double precision (docs/model.md), one sample: out
 * receives the last layer's o- (sizes[nlayers] values). */
PHX_API void phx_model_forward64(const phx_model *m, const float *x, double *out);

typedef struct phx_spice_opts {
  phx_inverter inv;
  int count;        /* samples from the start of the set; 0 = all */
  int engine;       /* 0 auto (library, else binary), 1 library, 2 binary */
  int verbose;      /* ngspice's own messages on stderr */
  int first;        /* the samples from here on (count of them); 0: from the start */
  int threads;      /* libngspice's OpenMP threads; 0: its default */
  int sweep;        /* samples per DC sweep, 0: one sweep. Each sweep starts from
                       a fresh operating point (costly) and warm-starts the
                       samples after its first; sweeps start at multiples of
                       this in the whole set, so any range that starts at one
                       gives each sample the bits a run over the whole set does */
} phx_spice_opts;

PHX_API void phx_spice_opts_default(phx_spice_opts *o);

/* One simulated sample. */
typedef struct phx_spice_sample {
  int index, label;
  int converged;         /* 0: ngspice found no operating point */
  int model_class, sim_class;
  double max_dv, mean_dv; /* |simulated - model| over the outputs, V */
  double power_W;        /* delivered by rails and input drivers */
  double rails_W, inputs_W; /* power_W's two parts */
  /* table-neuron models (phx_spice_result.returned_*): against the host
   * solve with returning row loads; NaN and -1 otherwise */
  double returned_max_dv, returned_mean_dv;
  int returned_class;
} phx_spice_sample;

typedef struct phx_spice_result {
  int count, converged;
  int outputs;              /* classes */
  double max_dv, mean_dv;   /* over converged samples and all outputs */
  double agreement;         /* converged samples with sim class == model class, / count */
  double sim_accuracy;      /* converged and sim class == label, / count */
  double model_accuracy;
  double power_mean_W;      /* mean over converged samples */
  double supply_power_W;    /* of that: the rails (bias rows, neuron supplies) */
  double input_power_W;     /* of that: the input drivers */
  double load_seconds, sim_seconds;
  char engine[32];          /* "libngspice" or "ngspice binary" */
  /* Table-neuron models: the simulation against the same table neurons with
   * each row's load returning to the next crossbar's column nodes, solved
   * on the host (docs/model.md, "Table neurons and loading"); NaN for tanh
   * models. What of the gap to the model that return explains. */
  double returned_max_dv, returned_mean_dv, returned_agreement;
} phx_spice_result;

/* Runs the first o->count samples of d through ngspice: the circuit is
 * loaded once and every input source is a pwl of one swept index node, so
 * one DC sweep solves all samples. samples (count entries) and sim_out
 * (count x outputs, V) may be NULL. A sample without a solution is marked
 * not converged and counts against agreement and accuracy. */
PHX_API phx_status phx_spice_run(const phx_model *m, const phx_dataset *d, const phx_spice_opts *o,
                                 phx_spice_result *res, phx_spice_sample *samples, double *sim_out,
                                 phx_err *err);

/* Least-squares fit of v = a1 + a2 tanh(a4 (z - a3)) (Levenberg-Marquardt).
 * a: on entry an initial guess, or all zero for an automatic one; on exit
 * the fit. rms (V) may be NULL. */
PHX_API phx_status phx_fit_tanh(const double *z, const double *v, int n, double a[4], double *rms,
                                phx_err *err);

/* A characterised neuron (phaxcl vtc): fits, sweep, sizing, corner. */
typedef struct phx_neuron phx_neuron;

typedef struct phx_vtc_opts {
  phx_inverter inv;
  double vdd;      /* V */
  double load;     /* conductance (S) from each output to 0 V */
  double step;     /* sweep step, V */
  int engine;      /* as phx_spice_opts */
  /* Also sweep one inverter with each of these loads (S, increasing, the
   * first 0) from its output to 0 V: the table of table neurons
   * (phx_neuron_table). nloads 0: none. */
  int nloads;
  const double *loads;
} phx_vtc_opts;

PHX_API void phx_vtc_opts_default(phx_vtc_opts *o);
/* DC sweeps of the neuron over [-vdd/2, vdd/2], fits, output resistance and
 * supply current along the sweep. */
PHX_API phx_status phx_vtc_run(const phx_vtc_opts *o, phx_neuron **out, phx_err *err);
PHX_API phx_status phx_neuron_load(const char *path, phx_neuron **out, phx_err *err);
PHX_API phx_status phx_neuron_save(const phx_neuron *n, const char *path, phx_err *err);
PHX_API void phx_neuron_free(phx_neuron *n);
/* Fits c (o-) and d (o+), their rms residuals (V), and the supply. */
PHX_API void phx_neuron_fits(const phx_neuron *n, double c[4], double d[4], double rms[2],
                             double *vdd);
/* The inverter it was measured with (for export and spice). */
PHX_API const phx_inverter *phx_neuron_inverter(const phx_neuron *n);
/* The raw sweep (returns its length): input z, outputs o- and o+ (V),
 * their output resistances (Ohm) and the supply current (A). Any pointer
 * may be NULL. */
PHX_API int phx_neuron_sweep(const phx_neuron *n, const double **z, const double **om,
                             const double **op, const double **rout_m, const double **rout_p,
                             const double **isup);
/* The table of one inverter under load (phx_model_set_table's layout): the
 * loaded sweeps of `vtc --loads` when the file has them, else the unloaded
 * neuron's o- sweep as one load of 0 S (the second inverter is the same
 * circuit, driven by o-). Returns L, or 0 with err set when the sweep is
 * not on an even grid. */
PHX_API int phx_neuron_table(const phx_neuron *n, int *nv, double *v0, double *dv,
                             const double **loads, const double **values, phx_err *err);
/* Static supply current (A) of one neuron at input z, interpolated. */
PHX_API double phx_neuron_supply_current(const phx_neuron *n, double z);
/* Training hint stored with the neuron (0 when none): steep curves need a
 * smaller learning rate. */
PHX_API void phx_neuron_train_hint(const phx_neuron *n, double *lr, int *epochs);

/* The neuron's switching-point offset measured over mismatch instances
 * (phx_vtc_mc; the neuron file's "offset"): returns the instance count (0
 * when not measured), mean and sigma (V) of the first inverter's
 * switching point. Either pointer may be NULL. */
PHX_API int phx_neuron_offset(const phx_neuron *n, double *mean, double *sigma);
PHX_API phx_status phx_neuron_set_offset(phx_neuron *n, int instances, double mean,
                                         double sigma, phx_err *err);
/* Monte Carlo of the neuron's first inverter with the model library's
 * mismatch (sky130: the corner's "_mm" section, tt_mm for tt, which sets
 * MC_MM_SWITCH=1 so that every transistor instance draws its own
 * threshold shift through AGAUSS; a FILE inverter: its --corner as given):
 * `instances` copies on one input, swept over [-vdd/2, vdd/2] by o->step,
 * ngspice seeded by `.options seed`. The switching point of a copy is the
 * input where its output crosses 0 V (mid-rail), linear between sweep
 * points; points (may be NULL) receives each one, *mean and *sigma
 * (sample) theirs (V). */
PHX_API phx_status phx_vtc_mc(const phx_vtc_opts *o, int instances, uint64_t seed,
                              double *points, double *mean, double *sigma, phx_err *err);

typedef struct phx_power {
  double crossbar_W;  /* sum over layers of sum g (u - z)^2 */
  double neuron_W;    /* vdd * supply current of every neuron (0 without one) */
  double total_W;
} phx_power;

/* Mean static power per inference over the first count samples of d
 * (0 = all), from the model; neuron may be NULL. */
PHX_API phx_status phx_power_estimate(const phx_model *m, const phx_dataset *d, int count,
                                      const phx_neuron *neuron, phx_power *mean, phx_err *err);

/* ---- tabular data and regression (issue 12) -----------------------------
 * Additive section owned by the tabular work (src/io/csv.c, npy.c,
 * src/core/scaling.c). A regression dataset holds `targets` continuous
 * values per sample instead of a class label; a regression model maps each
 * target linearly onto its outputs' voltage range (the o- of its last
 * layer, one neuron per target) and trains with squared error
 * (docs/model.md, "Regression and tabular data"). */

/* count x targets values y (copied; finite). Labels are all 0. */
PHX_API phx_status phx_dataset_new_regression(int count, int dim, int targets, const float *x,
                                              const float *y, phx_dataset **out, phx_err *err);
/* Regression targets per sample; 0 for a dataset of class labels. */
PHX_API int phx_dataset_targets(const phx_dataset *d);
/* count x targets values, NULL for class labels. */
PHX_API const float *phx_dataset_y(const phx_dataset *d);
/* A seeded split: round(count * test_fraction) samples, drawn by a
 * shuffle of seed, go to test, the rest to train, both in file order. */
PHX_API phx_status phx_dataset_split(const phx_dataset *d, double test_fraction, uint64_t seed,
                                     phx_dataset **train, phx_dataset **test, phx_err *err);
/* The same split without a second copy of the table (for tables near the
 * machine's memory): d keeps the training rows (moved up in place, its
 * memory shrunk), *test receives the test rows; d plus the test part at
 * most. On failure d is unchanged. */
PHX_API phx_status phx_dataset_split_take(phx_dataset *d, double test_fraction, uint64_t seed,
                                          phx_dataset **test, phx_err *err);

/* How a table is read. */
typedef struct phx_table_opts {
  /* Target columns: comma-separated names (with a header) or 0-based
   * indices ("-1" is the last column); NULL or "" = the last column. The
   * other columns are the features. For .npz/.npy: unused. */
  const char *target;
  int header;     /* -1: detect (a first row with a non-numeric field), 0 no, 1 yes */
  int regression; /* 1: targets are continuous; 0: one target column of class
                     labels 0, 1, 2 ... (integers) */
  char delimiter; /* 0: detect from the first line (',' ';' tab or space) */
  /* Out, when not NULL: the header row's column names joined by ','
   * (truncated to header_size), "" without a header; text tables only. To
   * check that a test table has the training table's columns. */
  char *header_out;
  size_t header_size;
} phx_table_opts;

PHX_API void phx_table_opts_default(phx_table_opts *o);

/* A table from a file, by its name: .csv, .tsv or .txt (optionally .gz)
 * read as text, streaming with memory for the values only (refused
 * with PHX_ENOMEM before the machine runs out); .npz (arrays named x and
 * y, stored or deflated); .npy (the features; the targets come from a
 * second .npy, y_path). Every defect is a one-line message naming the file
 * and, for text, the line and column. y_path is NULL except for .npy. */
PHX_API phx_status phx_dataset_load_table(const char *path, const char *y_path,
                                          const phx_table_opts *o, phx_dataset **out,
                                          phx_err *err);

/* Fits the model's scaling on a training set: per feature, its range maps
 * onto the input range [0, 1] (a constant feature maps to 0.5); for a
 * regression set (targets must equal the model's outputs), each target's
 * range maps linearly onto the middle 80 % of the o- output swing
 * (c1 -+ 0.8 |c2|). Stored with the model (phx_model_save). */
PHX_API phx_status phx_model_fit_scaling(phx_model *m, const phx_dataset *train, phx_err *err);
/* d in the circuit's units: features through the model's input scaling
 * and targets in volts (a copy; without scaling the features are copied
 * unchanged). Refused when d's kind (labels / targets) does not match
 * the model's. */
PHX_API phx_status phx_model_scale_data(const phx_model *m, const phx_dataset *d,
                                        phx_dataset **out, phx_err *err);
/* Where a table model's data came from (metadata data.*), so that commands
 * on the saved model read the same target columns and hold out the same
 * rows: phaxcl eval MODEL --data TABLE scores the held-out part of the
 * table it was trained on. */
typedef struct phx_data_spec {
  const char *target; /* target columns as --target takes them (names when the
                         table has a header); NULL: nothing recorded */
  const char *header; /* the table's header row joined by ',', "" without */
  double split;       /* test fraction of phx_dataset_split of the table, in
                         [0, 1); 0: a separate test table, no split */
  uint64_t seed;      /* that split's seed */
  int64_t rows;       /* rows of the whole table */
} phx_data_spec;
/* Records d in m (copied; NULL clears). Kept by phx_model_save/load and by
 * drawn chips; phx_model_fit_scaling clears it. */
PHX_API phx_status phx_model_set_data_spec(phx_model *m, const phx_data_spec *d, phx_err *err);
/* m's record (pointers into m, valid until it changes): 1, or 0 with *d
 * zeroed when none (models trained on IDX data, or saved before it). */
PHX_API int phx_model_get_data_spec(const phx_model *m, phx_data_spec *d);
/* phx_model_scale_data in place, without a copy: refused (d unchanged)
 * when the kinds do not match; a value not finite once scaled fails with
 * d left partly scaled. */
PHX_API phx_status phx_model_scale_data_inplace(const phx_model *m, phx_dataset *d,
                                                phx_err *err);
/* 1 when the model carries a scaling (fitted on a table), else 0. */
PHX_API int phx_model_scaled(const phx_model *m);
/* Regression targets of the model (its output count); 0 for a classifier. */
PHX_API int phx_model_targets(const phx_model *m);
/* Output voltage v of target j back in the target's units. */
PHX_API double phx_model_unscale_target(const phx_model *m, int j, double v);
/* A feature value x of feature i in the circuit's [0, 1] input range. */
PHX_API double phx_model_scale_feature(const phx_model *m, int i, double x);

typedef struct phx_regress_result {
  int count, targets;
  double mse_v;   /* mean over samples and targets of (o - y)^2, V^2 */
  double mse;     /* the same in target units */
  double rmse;    /* sqrt(mse) */
  double mre;     /* mean |pred - y| / max(|y|, 1e-3 * range of y over d), target units */
  double max_err; /* largest |pred - y|, target units */
} phx_regress_result;

/* On regression data phx_train's and phx_evaluate's accuracies are 0 (there
 * are no classes) and their loss is the squared error in V^2 summed over
 * the outputs; phx_monte_carlo refuses a regression model (draw chips with
 * phx_model_draw and score each with phx_evaluate_regression).
 * Evaluates a regression model on d (already through phx_model_scale_data).
 * pred, when not NULL, receives count x targets predictions in target
 * units. */
PHX_API phx_status phx_evaluate_regression(phx_backend *b, const phx_model *m,
                                           const phx_dataset *d, phx_regress_result *res,
                                           double *pred, phx_err *err);

/* Writes rows x cols values as CSV (a header line first unless NULL;
 * "%.9g", which reads back to the same float) atomically: the previous
 * file stays whole until the new one is. Non-finite values are refused. */
PHX_API phx_status phx_csv_save(const char *path, const char *header, const double *v, int rows,
                                int cols, phx_err *err);
/* ---- scale-out (issue 11): what the CLI's MPI layer builds on ------------
 * The library has no MPI in it: Monte Carlo and spice work on ranges whose
 * per-item results are independent of the split (a draw depends on seed and
 * draw number alone, a sample on itself), the summaries recompute the
 * reports from gathered per-item results in item order, and data-parallel
 * training takes a gather callback. */

/* Draws first .. first+count-1 of phx_monte_carlo's (each a pure function of
 * seed and draw number): acc[k - first] receives draw k's accuracy; ideal,
 * when not NULL, the accuracy without variation. */
PHX_API phx_status phx_monte_carlo_range(phx_backend *b, const phx_model *m,
                                         const phx_dataset *d, int limit,
                                         const phx_variation *v, uint64_t seed, int first,
                                         int count, double *acc, double *ideal, phx_err *err);
/* phx_monte_carlo's report from every draw's accuracy (draws of them, in
 * draw order) and the ideal accuracy on count samples. */
PHX_API phx_status phx_mc_summary(const double *acc, int draws, double ideal, int count,
                                  phx_mc_result *res, phx_err *err);

/* phx_spice_run's report from its per-sample results (n of them, in sample
 * order, outputs classes); load and simulation times are left at zero. */
PHX_API phx_status phx_spice_summary(const phx_spice_sample *s, int n, int outputs,
                                     phx_spice_result *res, phx_err *err);

/* Every rank's `mine` (counts[r] doubles from rank r) concatenated in rank
 * order into all, on every rank (MPI_Allgatherv). */
typedef phx_status (*phx_gather_fn)(void *user, const double *mine, const size_t *counts,
                                    double *all, phx_err *err);

/* Data-parallel training (phx_train_hooks.parallel): every batch is cut
 * into `blocks` fixed blocks (a power of two, 1 to 1024; the same on every
 * rank), rank r computes the gradients of its contiguous share of the
 * blocks, and the block gradients are summed in double over one fixed
 * binary tree whatever rank computed them, so the trained theta is the same
 * bit for bit for any rank count up to `blocks` (and differs from a run
 * without `parallel` by float rounding only). Every rank trains the same
 * model; per-sample metrics are gathered each epoch, so every rank reports
 * the same epochs. A stop request (hooks->stop) on any rank stops every
 * rank at the same step; checkpoints are written by rank 0 alone, which
 * every rank waits for, and any rank can --resume them (the file must be
 * readable there) at any rank count with the same blocks. */
typedef struct phx_train_parallel {
  int rank, size;
  int blocks;
  phx_gather_fn gather;
  void *user;
} phx_train_parallel;

#ifdef __cplusplus
}
#endif
#endif /* PHAXCL_H */
