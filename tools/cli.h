/* Option parsing and the small helpers every subcommand shares: strict
 * number parsing, the bundled data set, backends, layer lists, and the
 * "phaxcl: <message>" error convention (exit 2 for usage, 1 at run time). */
#ifndef PHX_CLI_H
#define PHX_CLI_H

#include <stdint.h>

#include "phaxcl.h"

/* Exit statuses. */
enum { PHX_EXIT_OK = 0, PHX_EXIT_RUN = 1, PHX_EXIT_USAGE = 2 };

/* One bit per option; a command lists the ones it accepts. */
enum {
  PHX_O_DATA = 1u << 0,
  PHX_O_POOL = 1u << 1,
  PHX_O_LAYERS = 1u << 2,
  PHX_O_EPOCHS = 1u << 3,
  PHX_O_BATCH = 1u << 4,
  PHX_O_LR = 1u << 5,
  PHX_O_OPTIMIZER = 1u << 6,
  PHX_O_LOSS = 1u << 7,
  PHX_O_SEED = 1u << 8,
  PHX_O_VDD = 1u << 9,
  PHX_O_RATIO = 1u << 10,
  PHX_O_BACKEND = 1u << 11,
  PHX_O_DEVICE = 1u << 12,
  PHX_O_SAVE = 1u << 13,
  PHX_O_INIT = 1u << 14,
  PHX_O_LIMIT = 1u << 15,
  PHX_O_OUT = 1u << 16,
  PHX_O_JSON = 1u << 17,
  PHX_O_VERBOSE = 1u << 18,
  PHX_O_FASHION = 1u << 19, /* bench only */
  PHX_O_GMIN = 1u << 20,
  PHX_O_VTC_C = 1u << 21,
  PHX_O_VTC_D = 1u << 22,
  PHX_O_CHECKPOINT = 1u << 23,       /* train only */
  PHX_O_CHECKPOINT_EVERY = 1u << 24, /* train only */
  PHX_O_RESUME = 1u << 25,           /* train only */
  PHX_O_TARGET = 1u << 26,           /* tables (cli_data.c) */
  PHX_O_TEST = 1u << 27,
  PHX_O_SPLIT = 1u << 28,
  PHX_O_LABELS = 1u << 29,
  PHX_O_TASK = 1u << 30,
  PHX_O_HEADER = 1u << 31,
};
/* The table options every data-reading command accepts. */
#define PHX_O_TABLE (PHX_O_TARGET | PHX_O_TEST | PHX_O_SPLIT | PHX_O_LABELS | PHX_O_TASK | \
                     PHX_O_HEADER)
/* Second option set (phx_cli_spec.allowed2): the circuit commands'. */
enum {
  PHX_O2_FORMAT = 1u << 0,
  PHX_O2_INVERTER = 1u << 1,
  PHX_O2_CORNER = 1u << 2,
  PHX_O2_MODELS = 1u << 3,
  PHX_O2_SAMPLE = 1u << 4,
  PHX_O2_N = 1u << 5,
  PHX_O2_NEURON = 1u << 6,
  PHX_O2_LOAD = 1u << 7,
  PHX_O2_POWER = 1u << 8,
  PHX_O2_ENGINE = 1u << 9,
  PHX_O2_STEP = 1u << 10,
  PHX_O2_LOADS = 1u << 11,
  PHX_O2_CURVE = 1u << 12,
  PHX_O2_LOAD_AWARE = 1u << 13,
  PHX_O2_LOG = 1u << 14, /* train only */
  PHX_O2_PREDICTIONS = 1u << 15, /* eval */
  PHX_O2_DRIVE = 1u << 16, /* vtc, export, spice: sky130 devices in parallel */
  PHX_O2_LOAD_RETURN = 1u << 17, /* train: loads returned to the next columns */
};
/* The model options every model-creating command accepts. */
#define PHX_O_MODEL (PHX_O_LAYERS | PHX_O_LOSS | PHX_O_VDD | PHX_O_RATIO | \
                     PHX_O_GMIN | PHX_O_VTC_C | PHX_O_VTC_D)

#define PHX_CLI_MAX_ARGS 4
#define PHX_CLI_MAX_BACKENDS 8

/* What a subcommand accepts: options, positional argument count, help. */
typedef struct phx_cli_spec {
  const char *name;     /* "train" */
  unsigned allowed;     /* PHX_O_* bits */
  int min_args, max_args;
  const char *usage;    /* full --help text */
} phx_cli_spec;

/* Parsed command line. `given` has a bit for every option that appeared. */
typedef struct phx_cli {
  unsigned given;
  const char *data;
  int pool;
  int layers[PHX_MAX_LAYERS + 1];
  int nlayers;          /* entries in the --layers list */
  int layers_skip_first, layers_skip_last; /* empty first / last field */
  int epochs, batch, limit;
  double lr, vdd, ratio;
  double gmin;          /* siemens (given in uS) */
  double vtc_c[4], vtc_d[4]; /* inverter fits a1..a4 */
  phx_optimizer optimizer;
  phx_loss loss;
  uint64_t seed;
  const char *backends[PHX_CLI_MAX_BACKENDS];
  int nbackends;
  const char *device, *save, *init, *out, *fashion;
  const char *checkpoint, *resume;
  int checkpoint_every;
  int json, verbose;
  /* tables: --target, --test, --labels, --split fraction (0: not given,
   * or --split 0, given: no split),
   * --task (0 auto, 1 classification, 2 regression), --header (-1 auto) */
  const char *target, *test, *labels;
  double split;
  int task, header;
  const char *predictions; /* eval --predictions FILE */
  const char *args[PHX_CLI_MAX_ARGS];
  int nargs;
  /* circuit commands */
  unsigned given2;
  const char *format, *inverter, *corner, *models, *neuron, *engine;
  const char *log;  /* train --log: JSON lines per epoch */
  int sample, n, power;
  double load, step; /* S (given in uS), V (given in mV) */
  int drive;         /* --drive: sky130 devices in parallel (0: not given) */
  const char *loads, *curve; /* vtc --loads LIST|auto (uS); train --curve tanh|table */
  int load_aware;
} phx_cli;

/* Parses argv (argv[0] is the subcommand). Returns -1 to go on, or the
 * exit status to return now (0 after --help, 2 after a usage error, whose
 * message is already printed). */
int phx_cli_parse(const phx_cli_spec *spec, int argc, char **argv, phx_cli *c);
/* The same, also accepting the PHX_O2_* options in allowed2. */
int phx_cli_parse2(const phx_cli_spec *spec, unsigned allowed2, int argc, char **argv,
                   phx_cli *c);

/* Prints "phaxcl: <formatted message>" on stderr and returns status. */
int phx_cli_fail(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prints a library error and returns 1. */
int phx_cli_err(const phx_err *err);

/* Prints a JSON value on one line of stdout and frees it. Returns 0, or
 * PHX_EXIT_RUN after "phaxcl: out of memory" when it cannot be printed. */
struct cJSON;
int phx_cli_print_json(struct cJSON *j);

/* --data, or the bundled data set (install prefix, then source tree). */
const char *phx_cli_data_dir(const phx_cli *c);
/* Loads --data (train and test sets; test may be left NULL by passing
 * NULL), as stored (features and targets not scaled). An IDX folder gives
 * its two sets; a table (cli_data.c) gives --test FILE as the test set or
 * a seeded --split of --data. Prints the error and returns 1 on failure,
 * 0 on success. */
int phx_cli_load_data(const phx_cli *c, phx_dataset **train, phx_dataset **test);
/* What train records of a table in its model (phx_data_spec; the strings
 * point into this struct). */
typedef struct phx_cli_table_info {
  phx_data_spec spec;
  char target[4096], header[8192];
} phx_cli_table_info;
/* phx_cli_load_data, and for a table its record in *info (spec.target NULL
 * for an IDX folder). */
int phx_cli_load_data_info(const phx_cli *c, phx_dataset **train, phx_dataset **test,
                           phx_cli_table_info *info);
/* --data names a table file rather than an IDX folder. */
int phx_cli_is_table(const phx_cli *c);
/* For commands on a saved model m: the samples to score (want_train 0:
 * the test split of an IDX folder; of a table --test FILE, the --split
 * test part (--split 0: every row), or by default the part m was tested
 * on when m records a split of a table of as many rows, else every row;
 * 1: the training part). The target columns are --target's, else those m
 * was trained with; a table whose header is not m's is refused. Checked
 * against m and through m's scaling (phx_model_scale_data). 0 or an exit
 * status. */
int phx_cli_model_data(const phx_cli *c, const phx_model *m, int want_train,
                       phx_dataset **out);
/* A regression result's errors into o as prefix + mse, rmse, mre, max_err
 * and mse_v (eval: no prefix; train's closing summary: "test_"). */
void phx_cli_regress_json(struct cJSON *o, const phx_regress_result *r, const char *prefix);
/* *d through m's scaling, in place (on failure *d is left partly scaled:
 * free it); src names the data in messages. 0 or an exit status. */
int phx_cli_scale(const phx_model *m, const char *src, phx_dataset **d);
/* The first --backend (default "auto") with --device and --verbose. */
int phx_cli_backend(const phx_cli *c, const char *name, phx_backend **b);

/* Model sizes from the --layers list and the data: the input count and the
 * class count fill an omitted first / last entry. Returns 0, or prints a
 * message and returns an exit status. */
int phx_cli_layers(const phx_cli *c, int inputs, int classes, phx_model_opts *o);
/* "196-100-10" into buf. */
const char *phx_cli_sizes_str(const phx_model_opts *o, char *buf, size_t len);

/* The data must match the model: same input count, classes <= outputs.
 * what names the model's origin ("the model in FILE", "--layers"). */
int phx_cli_check_data(const phx_model_opts *o, const phx_dataset *d,
                       const char *data_dir, const char *what);

/* The device-variation options (--levels, --sigma, --dist, --read-noise,
 * --stuck-off, --stuck-on, --offset-sigma MV|NEURON-FILE, and --draws when
 * draws is not NULL) taken out
 * of argv into v (cli_vary.c); *given (when not NULL) gets a PHX_VARY_*
 * bit for each one that appeared. -1 to go on, or the exit status. */
enum {
  PHX_VARY_LEVELS = 1u << 0,
  PHX_VARY_SIGMA = 1u << 1,
  PHX_VARY_DIST = 1u << 2,
  PHX_VARY_READ = 1u << 3,
  PHX_VARY_OFF = 1u << 4,
  PHX_VARY_ON = 1u << 5,
  PHX_VARY_OFFSET = 1u << 7, /* --offset-sigma (1u << 6 is --draws) */
};
int phx_cli_variation(int *argc, char **argv, phx_variation *v, int *draws, unsigned *given);
/* --draw K and --draw-seed N (export, spice, eval) taken out of argv into
 * *draw and *seed (left as they are when absent); -1 to go on, or the
 * exit status. */
int phx_cli_draw(int *argc, char **argv, int *draw, uint64_t *seed);
/* The variation a command uses: the one m was trained for (saved in its
 * file), with the options in `given` taken from v instead; v itself when
 * m has none. Checked against m (a level list within its [gmin, gmax]).
 * 0, or prints the error and returns an exit status. */
int phx_cli_vary_merge(const phx_model *m, phx_variation *v, unsigned given);
/* v perturbs the chip at all. */
int phx_vary_any(const phx_variation *v);
/* "levels 8, lognormal spread 20 %, ..." into buf. */
const char *phx_cli_vary_str(const phx_variation *v, char *buf, size_t len);
/* v's fields into the JSON object o (levels, sigma_pct, dist, ...). */
void phx_cli_vary_json(struct cJSON *o, const phx_variation *v);

/* --faults FILE taken out of argv and read into *out (NULL when absent;
 * the caller frees it) (cli_faults.c). -1 to go on, or the exit status. */
int phx_cli_faults(int *argc, char **argv, phx_faults **out);
/* Pins f's cells in m (nothing when f is NULL): 0, or prints the error
 * and returns an exit status. */
int phx_cli_apply_faults(const phx_faults *f, phx_model *m);

#endif /* PHX_CLI_H */
