/* phaxcl eval and phaxcl grad: a saved model against data, either scored
 * (accuracy, loss, confusion matrix on the test set) or differentiated
 * (mean loss and exact gradient over the first N training samples, saved
 * as safetensors with the model's tensor names). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const char EVAL_USAGE[] =
    "usage: phaxcl eval MODEL [OPTIONS]\n"
    "\n"
    "Accuracy, mean loss and confusion matrix (rows: true class, columns:\n"
    "predicted) of the model in MODEL on the test set of --data. A regression\n"
    "model: MSE, RMSE, mean relative error and largest error in target units,\n"
    "and the MSE in volts^2 at the outputs.\n"
    "\n"
    "  --data DIR|FILE  MNIST-layout IDX folder (default: bundled mnist14), or a\n"
    "                   table (.csv/.tsv/.txt[.gz], .npz, .npy): the test part\n"
    "                   of the model's own split when it is the table the model\n"
    "                   was split from (as many rows), else every row; --split P\n"
    "                   its test part as in train (same --seed), --split 0 all\n"
    "  --target COLS    table target columns as in train (default: the model's)\n"
    "  --test FILE      a table to score instead of --data\n"
    "  --split P  --labels FILE  --header auto|yes|no  --seed N   as in train\n"
    "  --predictions FILE  write each sample's prediction (class, or targets in\n"
    "                   target units) and truth as CSV\n"
    "  --pool N         average N x N pixel blocks (default 1)\n"
    "  --backend NAME   auto (default), c, c64 or opencl\n"
    "  --device SPEC    OpenCL device: P:D or part of its name\n"
    "  --power          static power per inference estimated from the model:\n"
    "                   crossbar dissipation sum g (u - z)^2 plus the neurons'\n"
    "                   supply current from --neuron FILE (phaxcl vtc)\n"
    "  --neuron FILE    neuron file for --power\n"
    "  --faults FILE    a chip's known stuck cells (layer row column gmin|gmax|G\n"
    "                   per line): evaluate that chip\n"
    "  --levels N       conductances programmed to N levels from gmin to gmax\n"
    "  --levels-file F  ... or to a device's own levels (one conductance a line)\n"
    "                   (default: the levels the model was trained for, else 0:\n"
    "                   continuous; the random parts of a variation are `mc`'s)\n"
    "  --draw K         instead: chip K as `phaxcl mc` draws it (--draw-seed N as\n"
    "                   its --seed, default 1), with the model's variation and\n"
    "                   --sigma, --stuck-off/on, --read-noise, --offset-sigma ...\n"
    "  --json           one JSON object\n"
    "  --verbose        backend details on stderr\n"
    "  --help           this text\n";

static const char GRAD_USAGE[] =
    "usage: phaxcl grad MODEL --out FILE [OPTIONS]\n"
    "\n"
    "The mean loss of the model in MODEL over the first N training samples of\n"
    "--data and its exact gradient with respect to every theta, written to FILE\n"
    "as safetensors with the same tensor names (layers.L.theta).\n"
    "\n"
    "  --out FILE       where to write the gradient (required)\n"
    "  --data DIR       MNIST-layout IDX folder (default: bundled mnist14)\n"
    "  --pool N         average N x N pixel blocks (default 1)\n"
    "  --limit N        use the first N training samples (default 0 = all)\n"
    "  --backend NAME   auto (default), c, c64 or opencl\n"
    "  --device SPEC    OpenCL device: P:D or part of its name\n"
    "  --json           one JSON object\n"
    "  --verbose        backend details on stderr\n"
    "  --help           this text\n";

static const phx_cli_spec EVAL_SPEC = {
    "eval",
    PHX_O_DATA | PHX_O_POOL | PHX_O_BACKEND | PHX_O_DEVICE | PHX_O_JSON | PHX_O_VERBOSE |
        PHX_O_TABLE | PHX_O_SEED,
    1, 1, EVAL_USAGE};

static const phx_cli_spec GRAD_SPEC = {
    "grad",
    PHX_O_DATA | PHX_O_POOL | PHX_O_LIMIT | PHX_O_OUT | PHX_O_BACKEND | PHX_O_DEVICE |
        PHX_O_JSON | PHX_O_VERBOSE | PHX_O_TABLE | PHX_O_SEED,
    1, 1, GRAD_USAGE};

/* Loads MODEL and one split of --data, checked against each other. */
/* The chip eval scores: m's faults pinned, then its conductances on the
 * levels of v (the model's, or --levels) when there are any. */
/* --draw K (draw >= 0): chip K of the whole variation, from seed. */
static int eval_chip(phx_model **m, const phx_faults *faults, phx_variation *v,
                     unsigned given, int draw, uint64_t seed) {
  int rc = phx_cli_apply_faults(faults, *m);
  if (!rc) rc = phx_cli_vary_merge(*m, v, given);
  phx_model *chip = NULL;
  phx_err err = {0};
  if (!rc && draw >= 0) { /* the chip mc draws as its draw K, offsets and all */
    if (phx_model_draw(*m, v, seed, draw, &chip, &err)) return phx_cli_err(&err);
    phx_model_free(*m);
    *m = chip;
    return 0;
  }
  if (rc || (v->levels < 2 && v->nlist == 0)) return rc;
  phx_variation lv;
  phx_variation_default(&lv);
  lv.levels = v->levels;
  lv.nlist = v->nlist;
  memcpy(lv.list, v->list, sizeof lv.list);
  if (phx_model_draw(*m, &lv, 0, 0, &chip, &err)) return phx_cli_err(&err);
  phx_model_free(*m);
  *m = chip;
  return 0;
}

static int load_inputs(const phx_cli *c, int want_train, const phx_faults *faults,
                       phx_variation *v, unsigned given, int draw, uint64_t seed, phx_model **m,
                       phx_dataset **d) {
  phx_err err = {0};
  if (phx_model_load(c->args[0], m, &err)) return phx_cli_err(&err);
  int rc = v ? eval_chip(m, faults, v, given, draw, seed) : 0;
  if (rc) return rc;
  return phx_cli_model_data(c, *m, want_train, d);
}

/* Adds the backend and device to o, prints it on one line and frees it. */
static void put_json(cJSON *o, const phx_backend *b) {
  cJSON_AddStringToObject(o, "backend", phx_backend_name(b));
  cJSON_AddStringToObject(o, "device", phx_backend_device(b));
  phx_cli_print_json(o);
}

/* Prints the evaluation as text or JSON. */
static void print_eval(const phx_cli *c, const phx_backend *b, const phx_eval_result *r,
                       const int64_t *conf, int k, const phx_power *pw,
                       const phx_variation *v) {
  if (c->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", c->args[0]);
    cJSON_AddStringToObject(o, "data", phx_cli_data_dir(c));
    cJSON_AddNumberToObject(o, "count", r->count);
    cJSON_AddNumberToObject(o, "accuracy", r->accuracy);
    cJSON_AddNumberToObject(o, "loss", r->loss);
    cJSON_AddNumberToObject(o, "levels", v->levels);
    if (v->nlist > 0)
      cJSON_AddItemToObject(o, "levels_S", cJSON_CreateDoubleArray(v->list, v->nlist));
    cJSON *rows = cJSON_AddArrayToObject(o, "confusion");
    for (int i = 0; i < k; i++) {
      cJSON *row = cJSON_CreateArray();
      for (int j = 0; j < k; j++)
        cJSON_AddItemToArray(row, cJSON_CreateNumber((double)conf[(size_t)i * k + j]));
      cJSON_AddItemToArray(rows, row);
    }
    if (pw) {
      cJSON *p = cJSON_AddObjectToObject(o, "power_W");
      cJSON_AddNumberToObject(p, "estimated", pw->total_W);
      cJSON_AddNumberToObject(p, "crossbar", pw->crossbar_W);
      cJSON_AddNumberToObject(p, "neurons", pw->neuron_W);
    }
    put_json(o, b);
    return;
  }
  long correct = lround(r->accuracy * r->count);
  printf("accuracy %.2f %% (%ld/%d)  loss %.6f\n", 100.0 * r->accuracy, correct, r->count,
         r->loss);
  printf("confusion matrix (rows: true class, columns: predicted)\n     ");
  for (int j = 0; j < k; j++) printf(" %5d", j);
  printf("\n");
  for (int i = 0; i < k; i++) {
    printf("%5d", i);
    for (int j = 0; j < k; j++) printf(" %5lld", (long long)conf[(size_t)i * k + j]);
    printf("\n");
  }
  if (pw)
    printf("power %.4f uW per inference estimated (crossbar %.4f uW, neurons %.4f uW%s)\n",
           1e6 * pw->total_W, 1e6 * pw->crossbar_W, 1e6 * pw->neuron_W,
           c->neuron ? "" : ": no --neuron");
  if (v->levels >= 2) printf("conductances on %d levels from gmin to gmax\n", v->levels);
  if (v->nlist > 0) printf("conductances on the %d listed levels\n", v->nlist);
  printf("backend %s: %s\n", phx_backend_name(b), phx_backend_device(b));
}

/* --predictions: per sample the k predictions then the k truths, under
 * a header pred0..,true0.., written atomically by the library. */
static int save_preds(const char *path, int n, int k, const double *pred, const double *truth) {
  double *v = malloc((size_t)n * 2 * (size_t)k * sizeof *v);
  char *head = malloc((size_t)k * 24 + 1);
  phx_err err = {0};
  int rc = 0;
  if (!v || !head) rc = phx_cli_fail(PHX_EXIT_RUN, "out of memory");
  if (!rc) {
    size_t at = 0;
    for (int j = 0; j < 2 * k; j++)
      at += (size_t)sprintf(head + at, "%s%s%d", j ? "," : "", j < k ? "pred" : "true",
                            j < k ? j : j - k);
    for (size_t i = 0; i < (size_t)n; i++)
      for (size_t j = 0; j < (size_t)k; j++) {
        v[i * 2 * k + j] = pred[i * k + j];
        v[i * 2 * k + k + j] = truth[i * k + j];
      }
    if (phx_csv_save(path, head, v, n, 2 * k, &err)) rc = phx_cli_err(&err);
  }
  free(v);
  free(head);
  return rc;
}

/* A classifier's predicted and true class of every sample (the model's
 * double-precision forward pass, argmax first on ties). */
static int class_preds(const phx_cli *c, const phx_model *m, const phx_dataset *d) {
  const phx_model_opts *o = phx_model_get_opts(m);
  const int n = phx_dataset_count(d), K = o->sizes[o->nlayers], N = phx_dataset_dim(d);
  double *out = malloc((size_t)K * sizeof *out), *pred = malloc((size_t)n * sizeof *pred);
  double *truth = malloc((size_t)n * sizeof *truth);
  int rc = 0;
  if (!out || !pred || !truth) rc = phx_cli_fail(PHX_EXIT_RUN, "out of memory");
  for (int i = 0; !rc && i < n; i++) {
    phx_model_forward64(m, phx_dataset_x(d) + (size_t)i * N, out);
    int best = 0;
    for (int j = 1; j < K; j++) best = out[j] > out[best] ? j : best;
    pred[i] = best;
    truth[i] = phx_dataset_labels(d)[i];
  }
  if (!rc) rc = save_preds(c->predictions, n, 1, pred, truth);
  free(out);
  free(pred);
  free(truth);
  return rc;
}

/* eval of a regression model: errors in target units, optional predictions. */
static int eval_regression(const phx_cli *c, phx_backend *b, const phx_model *m,
                           const phx_dataset *d) {
  const int n = phx_dataset_count(d), T = phx_model_targets(m);
  double *pred = malloc((size_t)n * T * sizeof *pred), *truth = malloc((size_t)n * T * sizeof *truth);
  phx_err err = {0};
  phx_regress_result r;
  int rc = 0;
  if (!pred || !truth) rc = phx_cli_fail(PHX_EXIT_RUN, "out of memory for %d predictions", n);
  else if (phx_evaluate_regression(b, m, d, &r, pred, &err))
    rc = phx_cli_fail(PHX_EXIT_RUN, "%s: %s", c->args[0], err.msg);
  if (!rc && c->predictions) {
    for (size_t i = 0; i < (size_t)n * T; i++)
      truth[i] = phx_model_unscale_target(m, (int)(i % (size_t)T), phx_dataset_y(d)[i]);
    rc = save_preds(c->predictions, n, T, pred, truth);
  }
  if (!rc && c->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", c->args[0]);
    cJSON_AddStringToObject(o, "data", phx_cli_data_dir(c));
    cJSON_AddStringToObject(o, "task", "regression");
    cJSON_AddNumberToObject(o, "count", r.count);
    cJSON_AddNumberToObject(o, "targets", r.targets);
    phx_cli_regress_json(o, &r, "");
    put_json(o, b);
  } else if (!rc) {
    printf("regression on %d samples, %d target%s\n", r.count, r.targets,
           r.targets > 1 ? "s" : "");
    printf("mse %.6g  rmse %.6g  mean relative error %.4f %%  max error %.6g (target units)\n",
           r.mse, r.rmse, 100 * r.mre, r.max_err);
    printf("mse at the outputs %.6g V^2\n", r.mse_v);
    printf("backend %s: %s\n", phx_backend_name(b), phx_backend_device(b));
  }
  free(pred);
  free(truth);
  return rc;
}

int phx_cmd_eval(int argc, char **argv) {
  phx_cli c;
  phx_faults *faults = NULL;
  phx_variation v;
  phx_variation_default(&v);
  unsigned given = 0;
  int draw = -1;
  uint64_t draw_seed = 1;
  int rc = phx_cli_variation(&argc, argv, &v, NULL, &given);
  if (rc < 0) rc = phx_cli_draw(&argc, argv, &draw, &draw_seed);
  if (rc < 0 && draw < 0 && (given & ~(unsigned)PHX_VARY_LEVELS))
    rc = phx_cli_fail(PHX_EXIT_USAGE, "eval: of the variation options only --levels and "
                      "--levels-file without --draw K; the others draw chips: phaxcl mc");
  if (rc >= 0) return rc;
  rc = phx_cli_faults(&argc, argv, &faults);
  if (rc >= 0) return rc;
  rc = phx_cli_parse2(&EVAL_SPEC, PHX_O2_POWER | PHX_O2_NEURON | PHX_O2_PREDICTIONS, argc,
                      argv, &c);
  if (rc < 0 && c.neuron && !c.power)
    rc = phx_cli_fail(PHX_EXIT_USAGE, "eval: --neuron needs --power");
  if (rc >= 0) {
    phx_faults_free(faults);
    return rc;
  }
  phx_model *m = NULL;
  phx_dataset *d = NULL;
  phx_backend *b = NULL;
  int64_t *conf = NULL;
  rc = load_inputs(&c, 0, faults, &v, given, draw, draw_seed, &m, &d);
  phx_faults_free(faults);
  if (!rc) rc = phx_cli_backend(&c, NULL, &b);
  if (!rc && phx_model_targets(m)) {
    phx_power pw;
    rc = eval_regression(&c, b, m, d);
    if (!rc && c.power && !(rc = phx_cli_power(&c, m, d, &pw)) && !c.json)
      printf("power %.4f uW per inference estimated (crossbar %.4f uW, neurons %.4f uW)\n",
             1e6 * pw.total_W, 1e6 * pw.crossbar_W, 1e6 * pw.neuron_W);
  } else if (!rc) {
    const phx_model_opts *mo = phx_model_get_opts(m);
    int k = mo->sizes[mo->nlayers];
    conf = calloc((size_t)k * (size_t)k, sizeof *conf);
    phx_err err = {0};
    phx_eval_result r;
    if (!conf) rc = phx_cli_fail(PHX_EXIT_RUN, "out of memory for the confusion matrix");
    else if (phx_evaluate(b, m, d, &r, conf, &err))
      rc = phx_cli_fail(PHX_EXIT_RUN, "%s: %s", c.args[0], err.msg); /* name the model */
    else {
      phx_power pw;
      rc = c.power ? phx_cli_power(&c, m, d, &pw) : 0;
      if (!rc && c.predictions) rc = class_preds(&c, m, d);
      if (!rc) print_eval(&c, b, &r, conf, k, c.power ? &pw : NULL, &v);
    }
  }
  free(conf);
  if (b) phx_backend_free(b);
  if (m) phx_model_free(m);
  if (d) phx_dataset_free(d);
  return rc;
}

/* L2 norm of one layer of a model-shaped holder. */
static double layer_norm(const phx_model *g, int l) {
  const float *t = phx_model_theta_const(g, l);
  size_t n = (size_t)phx_model_rows(g, l) * (size_t)phx_model_cols(g, l);
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)t[i] * t[i];
  return sqrt(s);
}

int phx_cmd_grad(int argc, char **argv) {
  phx_cli c;
  int rc = phx_cli_parse(&GRAD_SPEC, argc, argv, &c);
  if (rc >= 0) return rc;
  if (!c.out) return phx_cli_fail(PHX_EXIT_USAGE, "grad: --out FILE is required");
  phx_model *m = NULL, *g = NULL;
  phx_dataset *d = NULL;
  phx_backend *b = NULL;
  phx_err err = {0};
  double loss = 0;
  rc = load_inputs(&c, 1, NULL, NULL, 0, -1, 0, &m, &d);
  if (!rc) rc = phx_cli_backend(&c, NULL, &b);
  /* the gradient's file has the model's tensors, not its neuron table:
   * no load_aware without one */
  phx_model_opts go;
  if (!rc) {
    go = *phx_model_get_opts(m);
    go.load_aware = 0;
    if (phx_model_new(&go, &g, &err)) rc = phx_cli_err(&err);
  }
  if (!rc && phx_gradient(b, m, d, c.limit, &loss, g, &err))
    rc = phx_cli_fail(PHX_EXIT_RUN, "%s: %s", c.args[0], err.msg); /* name the model */
  if (!rc && phx_model_save(g, c.out, &err)) rc = phx_cli_err(&err);
  if (!rc) {
    const phx_model_opts *mo = phx_model_get_opts(m);
    int n = phx_dataset_count(d);
    if (c.limit > 0 && c.limit < n) n = c.limit;
    if (c.json) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "model", c.args[0]);
      cJSON_AddNumberToObject(o, "count", n);
      cJSON_AddNumberToObject(o, "loss", loss);
      cJSON *norms = cJSON_AddArrayToObject(o, "grad_norms");
      for (int l = 0; l < mo->nlayers; l++)
        cJSON_AddItemToArray(norms, cJSON_CreateNumber(layer_norm(g, l)));
      cJSON_AddStringToObject(o, "out", c.out);
      put_json(o, b);
    } else {
      printf("loss %.9g over %d samples\n", loss, n);
      for (int l = 0; l < mo->nlayers; l++)
        printf("layers.%d.theta  [%d, %d]  |grad| %.6g\n", l, phx_model_rows(g, l),
               phx_model_cols(g, l), layer_norm(g, l));
      printf("gradient written to %s (backend %s: %s)\n", c.out, phx_backend_name(b),
             phx_backend_device(b));
    }
  }
  if (b) phx_backend_free(b);
  if (g) phx_model_free(g);
  if (m) phx_model_free(m);
  if (d) phx_dataset_free(d);
  return rc;
}
