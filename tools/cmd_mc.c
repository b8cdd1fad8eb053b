/* phaxcl mc: Monte Carlo evaluation of a saved model on chips drawn with
 * device variation (levels, programming spread, read noise, stuck cells):
 * accuracy mean, spread, minimum and 5th percentile over the draws. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "par.h"

static const char USAGE[] =
    "usage: phaxcl mc MODEL [OPTIONS]\n"
    "\n"
    "Accuracy of the model in MODEL on the test set of --data over --draws\n"
    "(a regression model: its test MSE, in target units, over the draws)\n"
    "chips, each drawn with the variation below (draw k depends on --seed and\n"
    "k alone: the same chips on every backend). Order per cell: levels,\n"
    "programming spread, read noise, stuck cells (docs/model.md). A model\n"
    "trained for a chip (train --sigma ...) brings its variation as the\n"
    "default; the options below override it one by one.\n"
    "\n"
    "  --draws N        chips to draw (default 100)\n"
    "  --levels N       programmable levels from gmin to gmax (default 0: continuous)\n"
    "  --levels-file F  a device's own levels instead: one conductance a line, in S\n"
    "                   or with a unit (0.5uS), or after a 'unit uS' line\n"
    "  --sigma PCT      programming spread in % (default 0)\n"
    "  --dist NAME      lognormal (default: g e^(sigma n)) or gaussian (g (1 + sigma n))\n"
    "  --read-noise PCT multiplicative read noise in % (default 0)\n"
    "  --stuck-off F    fraction of cells stuck at gmin (default 0)\n"
    "  --stuck-on F     fraction of cells stuck at gmax (default 0)\n"
    "  --offset-sigma MV|FILE  per-neuron switching-point offset, Gaussian sigma in\n"
    "                   mV, or a neuron file's measured one (phaxcl vtc --mc N);\n"
    "                   each neuron computes f(z - delta) (default 0)\n"
    "  --faults FILE    a chip's known stuck cells (layer row column gmin|gmax|G\n"
    "                   per line), pinned before the draws\n"
    "  --seed N         draws seed (default 1)\n"
    "  --limit N        evaluate the first N test samples (default 0 = all)\n"
    "  --data DIR|FILE  MNIST-layout IDX folder (default: bundled mnist14), or a\n"
    "                   table (.csv/.tsv/.txt[.gz], .npz, .npy): the test part\n"
    "                   of the model's own split when it is the table the model\n"
    "                   was split from (as many rows), else every row; --split P\n"
    "                   its test part as in train (same --seed), --split 0 all\n"
    "  --target COLS    table target columns as in train (default: the model's)\n"
    "  --test FILE      a table to score instead of --data\n"
    "  --split P  --labels FILE  --header auto|yes|no   as in train\n"
    "  --pool N         average N x N pixel blocks (default 1)\n"
    "  --backend NAME   auto (default), c, c64 or opencl\n"
    "  --device SPEC    OpenCL device: P:D or part of its name\n"
    "  --json           one JSON object (with every draw's accuracy)\n"
    "  --verbose        backend details on stderr\n"
    "  --help           this text\n";

static const phx_cli_spec SPEC = {
    "mc",
    PHX_O_DATA | PHX_O_POOL | PHX_O_SEED | PHX_O_LIMIT | PHX_O_BACKEND | PHX_O_DEVICE |
        PHX_O_JSON | PHX_O_VERBOSE | PHX_O_TABLE,
    1, 1, USAGE};

static void print_result(const phx_cli *c, const phx_backend *b, const phx_variation *v,
                         const phx_mc_result *r, const double *acc) {
  if (c->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", c->args[0]);
    cJSON_AddNumberToObject(o, "draws", r->draws);
    cJSON_AddNumberToObject(o, "samples", r->count);
    phx_cli_vary_json(o, v);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddNumberToObject(o, "ideal", r->ideal);
    cJSON_AddNumberToObject(o, "mean", r->mean);
    cJSON_AddNumberToObject(o, "std", r->std);
    cJSON_AddNumberToObject(o, "min", r->min);
    cJSON_AddNumberToObject(o, "p5", r->p5);
    cJSON_AddNumberToObject(o, "max", r->max);
    cJSON_AddItemToObject(o, "accuracy", cJSON_CreateDoubleArray(acc, r->draws));
    cJSON_AddStringToObject(o, "backend", phx_backend_name(b));
    cJSON_AddStringToObject(o, "device", phx_backend_device(b));
    phx_cli_print_json(o);
    return;
  }
  printf("model %s, %d draws on %d samples (%s, %s)\n", c->args[0], r->draws, r->count,
         phx_backend_name(b), phx_backend_device(b));
  char vs[256];
  printf("variation: %s\n", phx_cli_vary_str(v, vs, sizeof vs));
  printf("accuracy: ideal %.2f %%, mean %.2f %%, std %.2f, min %.2f %%, 5th percentile "
         "%.2f %%, max %.2f %%\n",
         100 * r->ideal, 100 * r->mean, 100 * r->std, 100 * r->min, 100 * r->p5,
         100 * r->max);
}

/* A regression model: each draw as a model of its own (phx_model_draw,
 * the chips phx_monte_carlo draws), scored by its test MSE in target units. */
static int mc_regression(const phx_cli *c, phx_backend *b, const phx_model *m,
                         phx_dataset **test, const phx_variation *v, int draws, double *mse) {
  phx_err err = {0};
  phx_regress_result ideal, r;
  int n = phx_dataset_count(*test);
  if (c->limit > 0 && c->limit < n) { /* the first --limit samples */
    phx_dataset *part = NULL;
    if (phx_dataset_new_regression(c->limit, phx_dataset_dim(*test), phx_dataset_targets(*test),
                                   phx_dataset_x(*test), phx_dataset_y(*test), &part, &err))
      return phx_cli_err(&err);
    phx_dataset_free(*test);
    *test = part;
    n = c->limit;
  }
  if (phx_evaluate_regression(b, m, *test, &ideal, NULL, &err)) return phx_cli_err(&err);
  double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
  for (int k = 0; k < draws; k++) {
    phx_model *dm = NULL;
    if (phx_model_draw(m, v, c->seed, k, &dm, &err) ||
        phx_evaluate_regression(b, dm, *test, &r, NULL, &err)) {
      phx_model_free(dm);
      return phx_cli_err(&err);
    }
    phx_model_free(dm);
    mse[k] = r.mse;
    sum += r.mse;
    sq += r.mse * r.mse;
    lo = fmin(lo, r.mse);
    hi = fmax(hi, r.mse);
  }
  const double mean = sum / draws, sd = sqrt(fmax(0, sq / draws - mean * mean));
  if (c->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", c->args[0]);
    cJSON_AddNumberToObject(o, "draws", draws);
    cJSON_AddNumberToObject(o, "samples", n);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddNumberToObject(o, "ideal_mse", ideal.mse);
    cJSON_AddNumberToObject(o, "mean_mse", mean);
    cJSON_AddNumberToObject(o, "std_mse", sd);
    cJSON_AddNumberToObject(o, "min_mse", lo);
    cJSON_AddNumberToObject(o, "max_mse", hi);
    cJSON_AddItemToObject(o, "mse", cJSON_CreateDoubleArray(mse, draws));
    cJSON_AddStringToObject(o, "backend", phx_backend_name(b));
    cJSON_AddStringToObject(o, "device", phx_backend_device(b));
    return phx_cli_print_json(o);
  }
  printf("model %s (regression), %d draws on %d samples (%s, %s)\n", c->args[0], draws, n,
         phx_backend_name(b), phx_backend_device(b));
  printf("test mse (target units): ideal %.6g, mean %.6g, std %.3g, min %.6g, max %.6g\n",
         ideal.mse, mean, sd, lo, hi);
  return 0;
}

/* Under mpirun: rank r evaluates its contiguous share of the draws (each a
 * pure function of seed and draw number), rank 0 the ideal accuracy too;
 * the accuracies are gathered and summarised in draw order. */
static int mc_ranks(phx_backend *b, const phx_model *m, const phx_dataset *d, int limit,
                    const phx_variation *v, int draws, uint64_t seed, phx_mc_result *r,
                    double *acc) {
  phx_err err = {PHX_OK, ""};
  int first, count, n = phx_dataset_count(d);
  if (limit > 0 && limit < n) n = limit;
  double ideal = 0;
  phx_par_range(draws, 1, phx_par_rank(), &first, &count);
  if (phx_monte_carlo_range(b, m, d, limit, v, seed, first, count, acc + first,
                            phx_par_rank() == 0 ? &ideal : NULL, &err) ||
      phx_par_gather_range(draws, 1, 1, acc, &err) ||
      phx_mc_summary(acc, draws, ideal, n, r, &err))
    return phx_cli_err(&err);
  return 0;
}

int phx_cmd_mc(int argc, char **argv) {
  phx_variation v;
  phx_variation_default(&v);
  int draws = 100;
  unsigned given = 0;
  int rc = phx_cli_variation(&argc, argv, &v, &draws, &given);
  if (rc >= 0) return rc;
  phx_faults *faults = NULL;
  if ((rc = phx_cli_faults(&argc, argv, &faults)) >= 0) return rc;
  phx_cli c;
  rc = phx_cli_parse(&SPEC, argc, argv, &c);
  if (rc >= 0) {
    phx_faults_free(faults);
    return rc;
  }
  rc = 0;
  if (!(c.given & PHX_O_SEED)) c.seed = 1;
  phx_err err = {PHX_OK, ""};
  phx_model *m = NULL;
  phx_dataset *test = NULL;
  phx_backend *b = NULL;
  double *acc = malloc((size_t)draws * sizeof *acc);
  if (!acc) {
    phx_faults_free(faults);
    return phx_cli_fail(PHX_EXIT_RUN, "out of memory for %d draws", draws);
  }
  if (phx_model_load(c.args[0], &m, &err)) rc = phx_cli_err(&err);
  if (!rc) rc = phx_cli_apply_faults(faults, m);
  if (!rc) rc = phx_cli_vary_merge(m, &v, given);
  if (!rc) rc = phx_cli_model_data(&c, m, 0, &test);
  if (!rc) rc = phx_cli_backend(&c, c.nbackends ? c.backends[0] : "auto", &b);
  phx_mc_result r;
  if (!rc && phx_model_targets(m)) {
    /* regression draws are models of their own, evaluated in this process */
    rc = mc_regression(&c, b, m, &test, &v, draws, acc);
  } else {
    /* the C path's draws run on a worker per core: BLAS threads would only
     * contend with them (OpenCL devices use no BLAS) */
    phx_par_blas_serial();
    if (!rc && phx_par_size() > 1)
      rc = mc_ranks(b, m, test, c.limit, &v, draws, c.seed, &r, acc);
    else if (!rc && phx_monte_carlo(b, m, test, c.limit, &v, draws, c.seed, &r, acc, &err))
      rc = phx_cli_err(&err);
    if (!rc) print_result(&c, b, &v, &r, acc);
  }
  phx_backend_free(b);
  phx_dataset_free(test);
  phx_model_free(m);
  phx_faults_free(faults);
  free(acc);
  return rc;
}
