/* phaxcl info: a saved model's options, sizes and, per layer, the range of
 * its conductances g = gmin (1 + k s(theta)) and resistances 1/g, the
 * numbers a chip designer maps to devices. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

/* What a table model's hidden rows are loaded by (phx_model_opts.load_aware). */
static const char *loads_name(int load_aware) {
  return load_aware == 2 ? "returned to the next layer's columns"
         : load_aware    ? "returned to 0 V"
                         : "none";
}

static const char USAGE[] =
    "usage: phaxcl info MODEL [OPTIONS]\n"
    "\n"
    "The model options (sizes, Vdd, conductance range, VTC fits, loss) of a\n"
    "checkpoint and, per layer, its conductance range in uS and resistance\n"
    "range in MOhm.\n"
    "\n"
    "  --json      one JSON object\n"
    "  --verbose   accepted for symmetry with the other commands\n"
    "  --help      this text\n";

static const phx_cli_spec SPEC = {"info", PHX_O_JSON | PHX_O_VERBOSE, 1, 1, USAGE};

/* Conductance range (S) of one layer and its memristor count. */
typedef struct range {
  double gmin, gmax;
  size_t count;
} range;

/* Smallest and largest conductance of layer l, in S. */
static range layer_range(const phx_model *m, int l) {
  const phx_model_opts *o = phx_model_get_opts(m);
  const float *t = phx_model_theta_const(m, l);
  range r = {INFINITY, -INFINITY, (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l)};
  double k = o->ratio - 1.0;
  for (size_t i = 0; i < r.count; i++) {
    double g = o->gmin * (1.0 + k / (1.0 + exp(-(double)t[i])));
    if (g < r.gmin) r.gmin = g;
    if (g > r.gmax) r.gmax = g;
  }
  return r;
}

/* The model as one JSON object. */
static void print_json(const char *path, const phx_model *m) {
  const phx_model_opts *o = phx_model_get_opts(m);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "model", path);
  cJSON *sizes = cJSON_AddArrayToObject(j, "sizes");
  for (int l = 0; l <= o->nlayers; l++) cJSON_AddItemToArray(sizes, cJSON_CreateNumber(o->sizes[l]));
  cJSON_AddNumberToObject(j, "vdd", o->vdd);
  cJSON_AddNumberToObject(j, "gmin", o->gmin);
  cJSON_AddNumberToObject(j, "ratio", o->ratio);
  cJSON_AddItemToObject(j, "c", cJSON_CreateDoubleArray(o->c, 4));
  cJSON_AddItemToObject(j, "d", cJSON_CreateDoubleArray(o->d, 4));
  cJSON_AddStringToObject(j, "loss", o->loss == PHX_LOSS_MSE ? "mse" : "ce");
  int tnv = 0;
  const int tl = phx_model_table(m, &tnv, NULL, NULL, NULL, NULL);
  cJSON_AddStringToObject(j, "neuron", tl > 0 ? "table" : "tanh");
  cJSON_AddStringToObject(j, "loads", loads_name(o->load_aware));
  const phx_variation *v = phx_model_get_variation(m);
  if (v) {
    phx_cli_vary_json(cJSON_AddObjectToObject(j, "variation"), v);
  }
  cJSON_AddStringToObject(j, "task", phx_model_targets(m) ? "regression" : "classification");
  cJSON_AddBoolToObject(j, "scaled", phx_model_scaled(m));
  phx_data_spec ds;
  if (phx_model_get_data_spec(m, &ds)) {
    cJSON *t = cJSON_AddObjectToObject(j, "table");
    cJSON_AddStringToObject(t, "target", ds.target);
    cJSON_AddStringToObject(t, "header", ds.header);
    cJSON_AddNumberToObject(t, "split", ds.split);
    cJSON_AddNumberToObject(t, "seed", (double)ds.seed);
    cJSON_AddNumberToObject(t, "rows", (double)ds.rows);
  }
  cJSON *layers = cJSON_AddArrayToObject(j, "layers");
  size_t total = 0;
  for (int l = 0; l < o->nlayers; l++) {
    range r = layer_range(m, l);
    total += r.count;
    cJSON *x = cJSON_CreateObject();
    cJSON_AddNumberToObject(x, "inputs", o->sizes[l]);
    cJSON_AddNumberToObject(x, "neurons", o->sizes[l + 1]);
    cJSON_AddNumberToObject(x, "rows", phx_model_cols(m, l));
    cJSON_AddNumberToObject(x, "memristors", (double)r.count);
    cJSON_AddNumberToObject(x, "g_min_uS", r.gmin * 1e6);
    cJSON_AddNumberToObject(x, "g_max_uS", r.gmax * 1e6);
    cJSON_AddNumberToObject(x, "r_min_MOhm", 1e-6 / r.gmax);
    cJSON_AddNumberToObject(x, "r_max_MOhm", 1e-6 / r.gmin);
    cJSON_AddItemToArray(layers, x);
  }
  cJSON_AddNumberToObject(j, "parameters", (double)total);
  phx_cli_print_json(j);
}

/* The model as text. */
static void print_text(const char *path, const phx_model *m) {
  const phx_model_opts *o = phx_model_get_opts(m);
  char sz[128];
  phx_cli_sizes_str(o, sz, sizeof sz);
  size_t total = 0;
  for (int l = 0; l < o->nlayers; l++)
    total += (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
  printf("model       %s\n", path);
  printf("sizes       %s (%d layers, %zu memristors)\n", sz, o->nlayers, total);
  printf("vdd         %g V\n", o->vdd);
  printf("gmin        %g uS (%g MOhm)\n", o->gmin * 1e6, 1e-6 / o->gmin);
  printf("ratio       %g (gmax %g uS)\n", o->ratio, o->gmin * o->ratio * 1e6);
  printf("vtc c       %g %g %g %g  (inverted)\n", o->c[0], o->c[1], o->c[2], o->c[3]);
  printf("vtc d       %g %g %g %g  (non-inverted)\n", o->d[0], o->d[1], o->d[2], o->d[3]);
  printf("loss        %s\n", o->loss == PHX_LOSS_MSE ? "mse" : "ce");
  int tnv = 0;
  const int tl = phx_model_table(m, &tnv, NULL, NULL, NULL, NULL);
  if (tl > 0)
    printf("neuron      table (%d load%s x %d inputs), loads %s\n", tl, tl > 1 ? "s" : "",
           tnv, loads_name(o->load_aware));
  const phx_variation *v = phx_model_get_variation(m);
  char vs[256];
  if (v) printf("trained for %s\n", phx_cli_vary_str(v, vs, sizeof vs));
  if (phx_model_targets(m))
    printf("task        regression, %d target%s (0 V at the output is %g in target 1's "
           "units)\n", phx_model_targets(m), phx_model_targets(m) > 1 ? "s" : "",
           phx_model_unscale_target(m, 0, 0.0));
  else
    printf("task        classification\n");
  printf("scaling     %s\n", phx_model_scaled(m) ? "features by their training ranges "
         "(fitted on a table)" : "none (inputs used as given)");
  phx_data_spec ds;
  if (phx_model_get_data_spec(m, &ds)) {
    printf("table       target %s; ", ds.target);
    if (ds.split > 0)
      printf("test part %g of %lld rows (seed %llu)\n", ds.split, (long long)ds.rows,
             (unsigned long long)ds.seed);
    else
      printf("%lld rows, a separate test table\n", (long long)ds.rows);
  }
  printf("layer  inputs  neurons  rows  g min..max (uS)      R min..max (MOhm)\n");
  for (int l = 0; l < o->nlayers; l++) {
    range r = layer_range(m, l);
    printf("%5d  %6d  %7d  %4d  %8.4f..%-8.4f  %8.4f..%-8.4f\n", l, o->sizes[l],
           o->sizes[l + 1], phx_model_cols(m, l), r.gmin * 1e6, r.gmax * 1e6,
           1e-6 / r.gmax, 1e-6 / r.gmin);
  }
}

int phx_cmd_info(int argc, char **argv) {
  phx_cli c;
  int rc = phx_cli_parse(&SPEC, argc, argv, &c);
  if (rc >= 0) return rc;
  phx_err err = {0};
  phx_model *m = NULL;
  if (phx_model_load(c.args[0], &m, &err)) return phx_cli_err(&err);
  if (c.json) print_json(c.args[0], m);
  else print_text(c.args[0], m);
  phx_model_free(m);
  return 0;
}
