/* The circuit commands: phaxcl export (CSV tables, ngspice netlists and
 * standalone decks), phaxcl spice (the closed loop through ngspice) and
 * phaxcl vtc (neuron characterisation into a neuron file). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "par.h"

#define INVERTER_HELP                                                            \
  "  --inverter KIND    behavioural (default: B-sources with the model's fits),\n" \
  "                     sky130 (transistor level, SkyWater 130 nm) or FILE: a\n"   \
  "                     .subckt NAME in out vdd vss of your own\n"                 \
  "  --corner C         tt (default for sky130), ff, ss, sf or fs\n"               \
  "  --models FILE      the model library (.lib FILE C with --corner, else\n"      \
  "                     .include); sky130 default: $PHAXCL_SKY130_LIB, then the\n" \
  "                     cache tools/fetch_sky130.sh fills\n"                       \
  "  --neuron FILE      the inverter (and sizing) of a neuron file from vtc\n"      \
  "  --drive M          sky130: each transistor M times in parallel (default 1,\n"  \
  "                     or the neuron file's): M times the drive\n"

/* The chip options export and spice share. */
#define DRAW_USAGE                                                                    \
  "  --draw K           chip K drawn with the variation options below (as\n"          \
  "                     `phaxcl mc` draws it, --draw-seed as its --seed)\n"           \
  "  --draw-seed N      (default 1); --levels, --levels-file, --sigma, --dist,\n"     \
  "                     --read-noise, --stuck-off, --stuck-on, --offset-sigma as\n"  \
  "                     for `phaxcl mc` (offsets: a VOFF source before each neuron)\n" \
  "                     (default: the variation the model was trained for)\n"        \
  "  --faults FILE      a chip's known stuck cells (layer row column\n"               \
  "                     gmin|gmax|G per line), pinned before any draw\n"

static const char EXPORT_USAGE[] =
    "usage: phaxcl export MODEL --format csv|spice [OPTIONS]\n"
    "\n"
    "Writes a trained model for the chip or the circuit simulator.\n"
    "csv: per layer, the conductance (S) and resistance (Ohm) of every\n"
    "crosspoint; rows bias+, bias-, x1+..xN+, x1-..xN- (hidden layers: h1-..hN-\n"
    "for the previous neurons' o-, h1+..hN+ for their o+), one column per neuron.\n"
    "spice: an ngspice netlist of the whole network; with --sample K a\n"
    "standalone deck that 'ngspice -b DECK' runs, printing every output node.\n"
    "\n"
    "  --format F         csv or spice (required)\n"
    "  --out PATH         csv: a folder for layerL_conductance_S.csv and\n"
    "                     layerL_resistance_Ohm.csv; spice: the netlist file\n"
    "                     (default: stdout)\n"
    INVERTER_HELP
    "  --sample K         standalone deck for test sample K of --data\n"
    "  --data DIR|FILE    MNIST-layout IDX folder (default: bundled mnist14), or a\n"
    "                     table as for `phaxcl eval` (--target, --test, --split,\n"
    "                     --labels, --header, --seed as there)\n"
    "  --pool N           average N x N pixel blocks (default 1)\n"
    DRAW_USAGE
    "  --help             this text\n";

static const char SPICE_USAGE[] =
    "usage: phaxcl spice MODEL [OPTIONS]\n"
    "\n"
    "Runs test samples through the model's netlist in ngspice (libngspice\n"
    "in-process, else the ngspice binary) and compares the simulated outputs\n"
    "with the model's: max and mean |dV|, class agreement, simulated accuracy,\n"
    "supply power per inference (measured and estimated). A regression model:\n"
    "the outputs' error against the targets in volts (mean and max |dV|) and in\n"
    "target units (MSE, RMSE, mean relative error, max error), simulated and\n"
    "in the model; --json adds each sample's target and outputs in both units.\n"
    "\n"
    "  --data DIR|FILE    MNIST-layout IDX folder (default: bundled mnist14), or a\n"
    "                     table as for `phaxcl eval` (--target, --test, --split,\n"
    "                     --labels, --header, --seed as there)\n"
    "  --pool N           average N x N pixel blocks (default 1)\n"
    "  --n N              the first N test samples (default: all)\n"
    "  --sweep N          samples per DC sweep (default: 50, or N/64 when more);\n"
    "                     each starts from a fresh operating point, the rest warm;\n"
    "                     under mpirun ranks take whole sweeps\n"
    "  --threads N        ngspice's OpenMP threads (libngspice; default: its own\n"
    "                     2, under mpirun 1 per rank)\n"
    INVERTER_HELP
    "  --engine E         auto (default), lib or binary\n"
    DRAW_USAGE
    "  --json             one JSON object with every sample\n"
    "  --verbose          ngspice's messages on stderr\n"
    "  --help             this text\n";

static const char VTC_USAGE[] =
    "usage: phaxcl vtc [OPTIONS]\n"
    "\n"
    "Characterises the neuron (two inverters in series, as the netlist builds\n"
    "it) with ngspice DC sweeps: fits o = a1 + a2 tanh(a4 (z - a3)) to the first\n"
    "(o-, the model's c) and second inverter's output (o+, d) by least squares,\n"
    "and measures the output resistance and the supply current along the sweep.\n"
    "\n"
    "  --inverter KIND    sky130 (default) or FILE (.subckt NAME in out vdd vss)\n"
    "  --drive M          sky130: each transistor M times in parallel (default\n"
    "                     1): M times the drive, to size for the rows it loads\n"
    "  --corner C         tt (default), ff, ss, sf or fs\n"
    "  --models FILE      model library (see 'phaxcl export --help')\n"
    "  --vdd V            supply (default 0.5); rails at +-V/2\n"
    "  --load G           conductance in uS from each output to 0 V (default 0)\n"
    "  --step MV          sweep step in mV (default 0.25)\n"
    "  --loads LIST|auto  also sweep one inverter into each load (uS, from 0\n"
    "                     up; auto: 0, then 0.05 uS up in 20 % steps to 455): the\n"
    "                     table of train --curve table --load-aware\n"
    "  --out FILE         write the neuron file (JSON) for train/export/spice --neuron\n"
    "  --mc N             also N mismatch instances of the first inverter (sky130:\n"
    "                     the corner's _mm section, MC_MM_SWITCH=1): the switching\n"
    "                     point's mean and sigma, kept in the neuron file for\n"
    "                     --offset-sigma FILE (mc, train, export, spice)\n"
    "  --seed S           the mismatch draw (default 1)\n"
    "  --engine E         auto (default), lib or binary\n"
    "  --json             one JSON object\n"
    "  --help             this text\n";

#define INV_OPTS \
  (PHX_O2_INVERTER | PHX_O2_CORNER | PHX_O2_MODELS | PHX_O2_NEURON | PHX_O2_DRIVE)

static const phx_cli_spec EXPORT_SPEC = {
    "export", PHX_O_OUT | PHX_O_DATA | PHX_O_POOL | PHX_O_TABLE | PHX_O_SEED, 1, 1, EXPORT_USAGE};
static const unsigned EXPORT_OPTS2 = PHX_O2_FORMAT | INV_OPTS | PHX_O2_SAMPLE;
static const phx_cli_spec SPICE_SPEC = {
    "spice", PHX_O_DATA | PHX_O_POOL | PHX_O_JSON | PHX_O_VERBOSE | PHX_O_TABLE | PHX_O_SEED, 1, 1,
    SPICE_USAGE};
static const unsigned SPICE_OPTS2 = INV_OPTS | PHX_O2_N | PHX_O2_ENGINE;
static const phx_cli_spec VTC_SPEC = {"vtc", PHX_O_VDD | PHX_O_OUT | PHX_O_JSON | PHX_O_VERBOSE |
                                      PHX_O_SEED, 0, 0, VTC_USAGE};
static const unsigned VTC_OPTS2 = PHX_O2_INVERTER | PHX_O2_CORNER | PHX_O2_MODELS |
                                  PHX_O2_LOAD | PHX_O2_STEP | PHX_O2_ENGINE | PHX_O2_LOADS |
                                  PHX_O2_DRIVE;

/* vtc --loads: a list in uS (0 first), or auto: 0, then 0.05 uS up to 455 uS in
 * steps of 20 % (the paper net's rows see 1.2 to 10 uS, a 256-wide layer's
 * up to 256 uS). Returns the count, or -1 after printing why. */
static int parse_loads(const char *v, double *out, int max) {
  int n = 0;
  if (!strcmp(v, "auto")) {
    out[n++] = 0;
    for (double g = 0.05e-6; g < 500.1e-6 && n < max; g *= 1.2) out[n++] = g;
    return n;
  }
  const char *p = v;
  while (*p && n < max) {
    char *end;
    errno = 0;
    double us = strtod(p, &end);
    if (end == p || errno || !isfinite(us) || us < 0 || (*end && *end != ',')) {
      phx_cli_fail(PHX_EXIT_USAGE, "--loads: expected auto or uS values like 0,1,2.5, got '%s'",
                   v);
      return -1;
    }
    out[n++] = us * 1e-6;
    p = *end ? end + 1 : end;
  }
  return n;
}

static int engine_of(const phx_cli *c) {
  if (!c->engine || !strcmp(c->engine, "auto")) return 0;
  return strcmp(c->engine, "lib") ? 2 : 1;
}

/* --drive: only the built-in sky130 inverter has devices to multiply. */
static int cli_drive(const phx_cli *c, phx_inverter *inv) {
  if (!c->drive) return 0;
  if (inv->kind != PHX_INV_SKY130)
    return phx_cli_fail(PHX_EXIT_USAGE,
                        "--drive: only for --inverter sky130 (scale a subckt FILE yourself)");
  inv->mult = c->drive;
  return 0;
}

/* --neuron, then --inverter, --corner and --models, into inv. The library
 * checks what they name when the netlist is built. */
static int cli_inverter(const phx_cli *c, phx_inverter *inv, phx_neuron **neuron) {
  phx_inverter_default(inv);
  if (c->neuron) {
    phx_err err = {0};
    phx_neuron *n = NULL;
    if (phx_neuron_load(c->neuron, &n, &err)) return phx_cli_err(&err);
    *inv = *phx_neuron_inverter(n);
    if (neuron) *neuron = n;
    else phx_neuron_free(n);
  }
  if (c->inverter) {
    if (!strcmp(c->inverter, "behavioural") || !strcmp(c->inverter, "behavioral")) {
      inv->kind = PHX_INV_BEHAVIOURAL;
    } else if (!strcmp(c->inverter, "sky130")) {
      /* a sky130 neuron file keeps its sizing */
      if (!(c->neuron && inv->kind == PHX_INV_SKY130)) phx_inverter_sky130(inv);
    } else {
      inv->kind = PHX_INV_FILE;
      inv->corner[0] = '\0';
      snprintf(inv->subckt_file, sizeof inv->subckt_file, "%s", c->inverter);
    }
  }
  if (c->corner) snprintf(inv->corner, sizeof inv->corner, "%s", c->corner);
  if (c->models) snprintf(inv->models_file, sizeof inv->models_file, "%s", c->models);
  return cli_drive(c, inv);
}

/* What export and spice take besides their own options: a chip's known
 * faults and a drawn chip (--draw K, --draw-seed N, the variation options). */
typedef struct drawn {
  phx_variation v;
  unsigned given;     /* PHX_VARY_* options on the command line */
  int draw;           /* -1: no draw asked for */
  uint64_t seed;
  phx_faults *faults; /* NULL: none */
} drawn;

/* --draw K, --draw-seed N and the variation options, taken out of argv.
 * -1 to go on, or an exit status. */
static int draw_options(int *argc, char **argv, drawn *d) {
  phx_variation_default(&d->v);
  d->draw = -1;
  d->seed = 1;
  int rc = phx_cli_variation(argc, argv, &d->v, NULL, &d->given);
  if (rc < 0) rc = phx_cli_draw(argc, argv, &d->draw, &d->seed);
  if (rc >= 0) return rc;
  if (d->given && d->draw < 0)
    return phx_cli_fail(PHX_EXIT_USAGE, "the variation options need --draw K");
  return -1;
}

/* The draw options and --faults, then the command's own: -1 to go on, or
 * an exit status. */
static int parse_drawn(const phx_cli_spec *spec, unsigned opts2, int argc, char **argv,
                       phx_cli *c, drawn *d) {
  d->faults = NULL;
  int rc = draw_options(&argc, argv, d);
  if (rc < 0) rc = phx_cli_faults(&argc, argv, &d->faults);
  if (rc < 0) rc = phx_cli_parse2(spec, opts2, argc, argv, c);
  if (rc >= 0) {
    phx_faults_free(d->faults);
    d->faults = NULL;
  }
  return rc;
}

/* Pins the known faults of *m (and frees them), then replaces *m by its
 * chip d->draw (when one is asked for) drawn from the variation the model
 * was trained for, with the command line's options over it. */
static int apply_draw(phx_model **m, drawn *d) {
  int rc = phx_cli_apply_faults(d->faults, *m);
  phx_faults_free(d->faults);
  d->faults = NULL;
  if (!rc && d->draw >= 0) rc = phx_cli_vary_merge(*m, &d->v, d->given);
  if (rc || d->draw < 0) return rc;
  phx_err err = {0};
  phx_model *chip = NULL;
  if (phx_model_draw(*m, &d->v, d->seed, d->draw, &chip, &err)) return phx_cli_err(&err);
  phx_model_free(*m);
  *m = chip;
  return 0;
}

/* Test sample K of --data, checked against the model. */
static int load_sample(const phx_cli *c, const phx_model *m, phx_dataset **test) {
  return phx_cli_model_data(c, m, 0, test);
}

static int export_csv(const phx_cli *c, const phx_model *m) {
  const phx_model_opts *o = phx_model_get_opts(m);
  phx_err err = {0};
  if (c->out && mkdir(c->out, 0777) && errno != EEXIST)
    return phx_cli_fail(PHX_EXIT_RUN, "--out %s: %s", c->out, strerror(errno));
  for (int l = 0; l < o->nlayers; l++)
    for (int what = 0; what < 2; what++) {
      char path[4200];
      if (c->out)
        snprintf(path, sizeof path, "%s/layer%d_%s.csv", c->out, l,
                 what ? "resistance_Ohm" : "conductance_S");
      else
        printf("%s# layer %d: %s\n", l || what ? "\n" : "", l,
               what ? "resistance (Ohm)" : "conductance (S)");
      fflush(stdout);
      if (phx_export_csv(m, l, what, c->out ? path : NULL, &err)) return phx_cli_err(&err);
    }
  if (c->out) fprintf(stderr, "phaxcl: wrote %d layers to %s/\n", o->nlayers, c->out);
  return 0;
}

int phx_cmd_export(int argc, char **argv) {
  drawn d;
  phx_cli c;
  int rc = parse_drawn(&EXPORT_SPEC, EXPORT_OPTS2, argc, argv, &c, &d);
  if (rc >= 0) return rc;
  rc = 0;
  int spice = c.format && !strcmp(c.format, "spice");
  if (!c.format) rc = phx_cli_fail(PHX_EXIT_USAGE, "export: --format csv|spice is required");
  else if (!spice && (c.given2 & (INV_OPTS | PHX_O2_SAMPLE)))
    rc = phx_cli_fail(PHX_EXIT_USAGE,
                      "export: --inverter/--corner/--models/--neuron/--sample need --format spice");
  else if ((c.given & PHX_O_DATA) && !(c.given2 & PHX_O2_SAMPLE))
    rc = phx_cli_fail(PHX_EXIT_USAGE, "export: --data needs --sample K");
  phx_err err = {0};
  phx_model *m = NULL;
  phx_dataset *test = NULL;
  phx_inverter inv;
  if (!rc && phx_model_load(c.args[0], &m, &err)) rc = phx_cli_err(&err);
  if (rc) {
    phx_faults_free(d.faults);
    return rc;
  }
  rc = apply_draw(&m, &d);
  if (rc) {
    phx_model_free(m);
    return rc;
  }
  if (!spice) rc = export_csv(&c, m);
  else rc = cli_inverter(&c, &inv, NULL);
  if (spice && !rc && (c.given2 & PHX_O2_SAMPLE)) {
    rc = load_sample(&c, m, &test);
    if (!rc && c.sample >= phx_dataset_count(test))
      rc = phx_cli_fail(PHX_EXIT_USAGE, "--sample %d: the test set has %d samples (0..%d)",
                        c.sample, phx_dataset_count(test), phx_dataset_count(test) - 1);
  }
  if (spice && !rc) {
    const float *x = test ? phx_dataset_x(test) + (size_t)c.sample * phx_dataset_dim(test) : NULL;
    if (phx_export_spice(m, &inv, x, c.out, &err)) rc = phx_cli_err(&err);
    else if (c.out) fprintf(stderr, "phaxcl: wrote %s\n", c.out);
  }
  if (test) phx_dataset_free(test);
  phx_model_free(m);
  return rc;
}

static cJSON *doubles(const double *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++)
    cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
  return a;
}

static void add_num(cJSON *o, const char *k, double v) {
  if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
  else cJSON_AddNullToObject(o, k);
}

/* A number for a JSON object, null when not finite. */
typedef struct named {
  const char *key;
  double v;
} named;

static void add_nums(cJSON *o, const named *n, size_t count) {
  for (size_t i = 0; i < count; i++) add_num(o, n[i].key, n[i].v);
}

static const char *const KIND_NAMES[] = {"behavioural", "sky130", "file"};

/* A regression model's outputs against the targets over the converged
 * samples: mean and largest |sim - target| in volts; in target units the
 * MSE, mean relative error (phx_evaluate_regression's, AxBench's
 * application error) and largest error of the simulated outputs and of the
 * model's own. */
typedef struct regress_fig {
  int n;
  double dv_target, max_dv_target;
  double mse_sim, mse_model, mre_sim, mre_model, max_sim, max_model;
} regress_fig;

static regress_fig regress_figures(const phx_model *m, const phx_dataset *d,
                                   const phx_spice_result *r, const phx_spice_sample *s,
                                   const double *sim) {
  regress_fig f = {0};
  const int K = r->outputs, N = phx_dataset_dim(d);
  double *ref = malloc((size_t)K * 3 * sizeof *ref), *lo = ref + K, *hi = lo + K;
  if (!ref) return f;
  /* the relative error's floor: 1e-3 of each target's range over the samples */
  for (int j = 0; j < K; j++) lo[j] = INFINITY, hi[j] = -INFINITY;
  for (int k = 0; k < r->count; k++)
    for (int j = 0; s[k].converged && j < K; j++) {
      const double y = phx_model_unscale_target(m, j, phx_dataset_y(d)[(size_t)k * K + j]);
      lo[j] = fmin(lo[j], y);
      hi[j] = fmax(hi[j], y);
    }
  for (int k = 0; k < r->count; k++) {
    if (!s[k].converged) continue;
    phx_model_forward64(m, phx_dataset_x(d) + (size_t)k * N, ref);
    for (int j = 0; j < K; j++) {
      const double t = phx_dataset_y(d)[(size_t)k * K + j], v = sim[(size_t)k * K + j];
      const double yt = phx_model_unscale_target(m, j, t);
      const double es = fabs(phx_model_unscale_target(m, j, v) - yt);
      const double em = fabs(phx_model_unscale_target(m, j, ref[j]) - yt);
      const double den = fmax(fabs(yt), 1e-3 * (hi[j] - lo[j]));
      f.dv_target += fabs(v - t);
      f.max_dv_target = fmax(f.max_dv_target, fabs(v - t));
      f.mse_sim += es * es;
      f.mse_model += em * em;
      f.mre_sim += den > 0 ? es / den : 0;
      f.mre_model += den > 0 ? em / den : 0;
      f.max_sim = fmax(f.max_sim, es);
      f.max_model = fmax(f.max_model, em);
    }
    f.n++;
  }
  free(ref);
  if (f.n) {
    const double nk = (double)f.n * K;
    f.dv_target /= nk;
    f.mse_sim /= nk;
    f.mse_model /= nk;
    f.mre_sim /= nk;
    f.mre_model /= nk;
  }
  return f;
}

static int print_spice(const phx_cli *c, const phx_model *m, const phx_dataset *d,
                       const phx_spice_result *r, const phx_spice_sample *s, const double *sim,
                       const phx_power *est, const phx_inverter *inv) {
  int K = r->outputs;
  const int regress = phx_model_targets(m) > 0;
  const regress_fig rf = regress ? regress_figures(m, d, r, s, sim) : (regress_fig){0};
  if (!c->json && regress) {
    printf("spice %s: %d samples through %s, inverter %s%s%s (regression)\n", c->args[0],
           r->count, r->engine, KIND_NAMES[inv->kind],
           inv->kind == PHX_INV_SKY130 ? " corner " : "",
           inv->kind == PHX_INV_SKY130 ? inv->corner : "");
    printf("converged      %d/%d\n", r->converged, r->count);
    printf("max |dV|       %.3f uV (simulated - model)\n", 1e6 * r->max_dv);
    printf("mean |dV|      %.3f uV (simulated - model)\n", 1e6 * r->mean_dv);
    printf("vs target      mean |dV| %.3f mV, max %.3f mV (simulated - target, volts)\n",
           1e3 * rf.dv_target, 1e3 * rf.max_dv_target);
    printf("mse            %.6g simulated, %.6g model (target units)\n", rf.mse_sim,
           rf.mse_model);
    printf("rmse           %.6g simulated, %.6g model (target units)\n", sqrt(rf.mse_sim),
           sqrt(rf.mse_model));
    printf("mean rel error %.4f %% simulated, %.4f %% model\n", 100 * rf.mre_sim,
           100 * rf.mre_model);
    printf("max error      %.6g simulated, %.6g model (target units)\n", rf.max_sim,
           rf.max_model);
    printf("power          %.4f uW per inference measured, %.4f uW estimated\n",
           1e6 * r->power_mean_W, 1e6 * est->total_W);
    printf("time           %.2f s load, %.2f s simulation\n", r->load_seconds, r->sim_seconds);
    return 0;
  }
  if (!c->json) {
    printf("spice %s: %d samples through %s, inverter %s%s%s", c->args[0], r->count,
           r->engine, KIND_NAMES[inv->kind], inv->kind == PHX_INV_SKY130 ? " corner " : "",
           inv->kind == PHX_INV_SKY130 ? inv->corner : "");
    if (inv->kind == PHX_INV_SKY130 && inv->mult > 1) printf(" drive %g", inv->mult);
    printf("\n");
    printf("converged      %d/%d\n", r->converged, r->count);
    printf("max |dV|       %.3f uV\n", 1e6 * r->max_dv);
    printf("mean |dV|      %.3f uV\n", 1e6 * r->mean_dv);
    printf("agreement      %.2f %% (simulated class == model class)\n", 100 * r->agreement);
    printf("accuracy       %.2f %% simulated, %.2f %% model\n", 100 * r->sim_accuracy,
           100 * r->model_accuracy);
    printf("power          %.4f uW per inference measured (rails %.4f, inputs %.4f), "
           "%.4f uW estimated (crossbar %.4f, neurons %.4f)\n",
           1e6 * r->power_mean_W, 1e6 * r->supply_power_W, 1e6 * r->input_power_W,
           1e6 * est->total_W, 1e6 * est->crossbar_W, 1e6 * est->neuron_W);
    if (!isnan(r->returned_max_dv))
      printf("return solved  max |dV| %.3f uV, mean %.3f uV, agreement %.2f %% (loads "
             "returning to the column nodes)\n",
             1e6 * r->returned_max_dv, 1e6 * r->returned_mean_dv, 100 * r->returned_agreement);
    printf("time           %.2f s load, %.2f s simulation\n", r->load_seconds, r->sim_seconds);
    for (int k = 0; k < r->count; k++)
      if (!s[k].converged) printf("sample %d: did not converge\n", k);
    return 0;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "model", c->args[0]);
  cJSON_AddStringToObject(o, "data", phx_cli_data_dir(c));
  cJSON_AddStringToObject(o, "engine", r->engine);
  cJSON_AddStringToObject(o, "inverter", KIND_NAMES[inv->kind]);
  if (inv->kind != PHX_INV_BEHAVIOURAL && inv->corner[0])
    cJSON_AddStringToObject(o, "corner", inv->corner);
  /* a regression model has no classes: no agreement or accuracies */
  const named top[] = {{"count", r->count},
                       {"converged", r->converged},
                       {"max_dv", r->max_dv},
                       {"mean_dv", r->mean_dv},
                       {"load_seconds", r->load_seconds},
                       {"sim_seconds", r->sim_seconds},
                       {"agreement", r->agreement},
                       {"sim_accuracy", r->sim_accuracy},
                       {"model_accuracy", r->model_accuracy}};
  const named pw[] = {{"measured", r->power_mean_W},       {"rails", r->supply_power_W},
                      {"inputs", r->input_power_W},        {"estimated", est->total_W},
                      {"estimated_crossbar", est->crossbar_W},
                      {"estimated_neurons", est->neuron_W}};
  add_nums(o, top, sizeof top / sizeof *top - (regress ? 3 : 0));
  if (regress) {
    cJSON_AddStringToObject(o, "task", "regression");
    const named rg[] = {{"mean_dv_target", rf.dv_target}, {"max_dv_target", rf.max_dv_target},
                        {"mse_sim", rf.mse_sim},          {"mse_model", rf.mse_model},
                        {"rmse_sim", sqrt(rf.mse_sim)},   {"rmse_model", sqrt(rf.mse_model)},
                        {"mre_sim", rf.mre_sim},          {"mre_model", rf.mre_model},
                        {"max_err_sim", rf.max_sim},      {"max_err_model", rf.max_model}};
    add_nums(cJSON_AddObjectToObject(o, "regression"), rg, sizeof rg / sizeof *rg);
  }
  add_nums(cJSON_AddObjectToObject(o, "power_W"), pw, sizeof pw / sizeof *pw);
  if (!isnan(r->returned_max_dv)) {
    const named ret[] = {{"max_dv", r->returned_max_dv},
                         {"mean_dv", r->returned_mean_dv},
                         {"agreement", r->returned_agreement}};
    add_nums(cJSON_AddObjectToObject(o, "return_solved"), ret, sizeof ret / sizeof *ret);
  }
  cJSON *arr = cJSON_AddArrayToObject(o, "samples");
  double *ref = malloc((size_t)K * sizeof *ref);
  if (!ref) {
    cJSON_Delete(o);
    return phx_cli_fail(PHX_EXIT_RUN, "out of memory");
  }
  int N = phx_dataset_dim(d);
  for (int k = 0; k < r->count; k++) {
    cJSON *x = cJSON_CreateObject();
    cJSON_AddNumberToObject(x, "index", k);
    cJSON_AddBoolToObject(x, "converged", s[k].converged);
    if (!regress) {
      cJSON_AddNumberToObject(x, "label", s[k].label);
      cJSON_AddNumberToObject(x, "model_class", s[k].model_class);
      if (s[k].converged) cJSON_AddNumberToObject(x, "sim_class", s[k].sim_class);
      else cJSON_AddNullToObject(x, "sim_class");
    }
    add_num(x, "max_dv", s[k].max_dv);
    add_num(x, "mean_dv", s[k].mean_dv);
    add_num(x, "power_W", s[k].power_W);
    phx_model_forward64(m, phx_dataset_x(d) + (size_t)k * N, ref);
    cJSON_AddItemToObject(x, "model", doubles(ref, K));
    cJSON_AddItemToObject(x, "sim", doubles(sim + (size_t)k * K, K));
    if (regress) { /* volts, then the three in target units */
      const float *y = phx_dataset_y(d) + (size_t)k * K;
      double *u = malloc((size_t)K * 4 * sizeof *u);
      for (int j = 0; u && j < K; j++) {
        u[j] = y[j];
        u[K + j] = phx_model_unscale_target(m, j, y[j]);
        u[2 * K + j] = phx_model_unscale_target(m, j, ref[j]);
        u[3 * K + j] = phx_model_unscale_target(m, j, sim[(size_t)k * K + j]);
      }
      if (u) {
        cJSON_AddItemToObject(x, "target", doubles(u, K));
        cJSON_AddItemToObject(x, "target_units", doubles(u + K, K));
        cJSON_AddItemToObject(x, "model_units", doubles(u + 2 * K, K));
        cJSON_AddItemToObject(x, "sim_units", doubles(u + 3 * K, K));
      }
      free(u);
    }
    cJSON_AddItemToArray(arr, x);
  }
  free(ref);
  return phx_cli_print_json(o);
}

/* spice's --sweep N and --threads N, taken out of argv; -1 to go on, else
 * an exit status. */
static int spice_options(int *argc, char **argv, int *sweep, int *threads) {
  int k = 1;
  for (int i = 1; i < *argc; i++) {
    const int is_sweep = !strcmp(argv[i], "--sweep");
    if (!is_sweep && strcmp(argv[i], "--threads") != 0) {
      argv[k++] = argv[i];
      continue;
    }
    char *end = NULL;
    long v = i + 1 < *argc ? strtol(argv[i + 1], &end, 10) : 0;
    if (!end || *end || v < 1 || v > 1 << 30)
      return phx_cli_fail(PHX_EXIT_USAGE, "%s: expected a positive count, got '%s'", argv[i],
                          i + 1 < *argc ? argv[i + 1] : "");
    *(is_sweep ? sweep : threads) = (int)v;
    i++;
  }
  *argc = k;
  return -1;
}

/* Under mpirun: rank r simulates its contiguous share of the n samples
 * (whole sweeps, so each sample's result is the one a single process
 * computes),
 * every share is gathered (per sample: its fields, then the outputs) and
 * the report is recomputed in sample order, as one process computes it. */
enum { SPICE_FIELDS = 13 };
static int spice_ranks(const phx_model *m, const phx_dataset *d, phx_spice_opts *so, int n,
                       phx_spice_result *r, phx_spice_sample *s, double *sim,
                       const phx_neuron *neuron, phx_power *est) {
  const phx_model_opts *o = phx_model_get_opts(m);
  const int K = o->sizes[o->nlayers], W = SPICE_FIELDS + K;
  int first, count;
  phx_par_range(n, so->sweep, phx_par_rank(), &first, &count);
  phx_err err = {0};
  double *all = calloc((size_t)n * W, sizeof *all);
  if (!all) return phx_cli_fail(PHX_EXIT_RUN, "out of memory");
  phx_spice_result mine = {0};
  so->first = first;
  so->count = count;
  if (!so->threads) so->threads = 1; /* one core per rank */
  int rc = count > 0 && phx_spice_run(m, d, so, &mine, s + first, sim + (size_t)first * K, &err)
               ? phx_cli_err(&err)
               : 0;
  for (int k = first; !rc && k < first + count; k++) {
    double *row = all + (size_t)k * W;
    const phx_spice_sample *p = &s[k];
    const double f[SPICE_FIELDS] = {p->index,     p->label,           p->converged,
                                    p->model_class, p->sim_class,      p->max_dv,
                                    p->mean_dv,     p->power_W,        p->rails_W,
                                    p->inputs_W,    p->returned_max_dv, p->returned_mean_dv,
                                    p->returned_class};
    memcpy(row, f, sizeof f);
    memcpy(row + SPICE_FIELDS, sim + (size_t)k * K, (size_t)K * sizeof *row);
  }
  /* rank 0's own part of the report while the other ranks finish theirs */
  if (!rc && phx_par_rank() == 0 && phx_power_estimate(m, d, n, neuron, est, &err))
    rc = phx_cli_err(&err);
  if (!rc && phx_par_gather_range(n, so->sweep, W, all, &err)) rc = phx_cli_err(&err);
  for (int k = 0; !rc && k < n; k++) {
    const double *row = all + (size_t)k * W;
    s[k] = (phx_spice_sample){(int)row[0], (int)row[1], (int)row[2],  (int)row[3], (int)row[4],
                              row[5],      row[6],      row[7],       row[8],      row[9],
                              row[10],     row[11],     (int)row[12]};
    memcpy(sim + (size_t)k * K, row + SPICE_FIELDS, (size_t)K * sizeof *sim);
  }
  free(all);
  if (!rc && phx_spice_summary(s, n, K, r, &err)) rc = phx_cli_err(&err);
  if (!rc) {
    /* rank 0's engine and times: it loaded the same circuit, its share */
    snprintf(r->engine, sizeof r->engine, "%s", mine.engine);
    r->load_seconds = mine.load_seconds;
    r->sim_seconds = mine.sim_seconds;
  }
  return rc;
}

int phx_cmd_spice(int argc, char **argv) {
  drawn d;
  phx_cli c;
  int sweep = 0, threads = 0;
  int rc = spice_options(&argc, argv, &sweep, &threads);
  if (rc < 0) rc = parse_drawn(&SPICE_SPEC, SPICE_OPTS2, argc, argv, &c, &d);
  if (rc >= 0) return rc;
  phx_err err = {0};
  phx_model *m = NULL;
  phx_dataset *test = NULL;
  phx_neuron *neuron = NULL;
  phx_spice_opts so;
  phx_spice_opts_default(&so);
  if (phx_model_load(c.args[0], &m, &err)) {
    phx_faults_free(d.faults);
    return phx_cli_err(&err);
  }
  rc = apply_draw(&m, &d);
  if (!rc) rc = cli_inverter(&c, &so.inv, &neuron);
  if (!rc) rc = load_sample(&c, m, &test);
  phx_spice_sample *s = NULL;
  double *sim = NULL;
  if (!rc) {
    int n = phx_dataset_count(test);
    if (c.n > 0 && c.n < n) n = c.n;
    const phx_model_opts *o = phx_model_get_opts(m);
    so.count = n;
    /* Sweeps of 50 samples, or n / 64: a fresh operating point costs about
     * 20 warm-started samples (behavioural 196-100-10), and 64 sweeps are
     * enough ranks; the same for any rank count, so ranks split at them. */
    so.sweep = n / 64 + (n % 64 != 0) > 50 ? n / 64 + (n % 64 != 0) : 50;
    if (sweep) so.sweep = sweep;
    so.threads = threads;
    so.engine = engine_of(&c);
    so.verbose = c.verbose;
    s = calloc((size_t)n, sizeof *s);
    sim = calloc((size_t)n * o->sizes[o->nlayers], sizeof *sim);
    phx_spice_result r;
    phx_power est = {0};
    if (!s || !sim) rc = phx_cli_fail(PHX_EXIT_RUN, "out of memory");
    else if (phx_par_size() > 1) rc = spice_ranks(m, test, &so, n, &r, s, sim, neuron, &est);
    else if (phx_spice_run(m, test, &so, &r, s, sim, &err) ||
             phx_power_estimate(m, test, n, neuron, &est, &err))
      rc = phx_cli_err(&err);
    /* the report is rank 0's alone: the others' stdout goes nowhere */
    if (!rc && phx_par_rank() == 0) rc = print_spice(&c, m, test, &r, s, sim, &est, &so.inv);
  }
  free(s);
  free(sim);
  phx_neuron_free(neuron);
  if (test) phx_dataset_free(test);
  phx_model_free(m);
  return rc;
}

/* Index of the sweep point nearest z. */
static int nearest(const double *z, int n, double at) {
  int b = 0;
  for (int i = 1; i < n; i++)
    if (fabs(z[i] - at) < fabs(z[b] - at)) b = i;
  return b;
}

/* vtc --mc N out of argv: 0 when absent, -1 after printing why. */
static int mc_option(int *argc, char **argv) {
  int n = 1, mc = 0;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--mc")) {
      argv[n++] = argv[i];
      continue;
    }
    char *end = NULL;
    const char *val = i + 1 < *argc ? argv[++i] : "";
    const long x = strtol(val, &end, 10);
    if (!*val || *end || x < 2 || x > 10000) {
      phx_cli_fail(PHX_EXIT_USAGE, "--mc: expected 2 to 10000 instances, got '%s'", val);
      return -1;
    }
    mc = (int)x;
  }
  *argc = n;
  return mc;
}

int phx_cmd_vtc(int argc, char **argv) {
  phx_cli c;
  const int mc = mc_option(&argc, argv);
  if (mc < 0) return PHX_EXIT_USAGE;
  int rc = phx_cli_parse2(&VTC_SPEC, VTC_OPTS2, argc, argv, &c);
  if (rc >= 0) return rc;
  phx_vtc_opts o;
  phx_vtc_opts_default(&o);
  if (c.inverter && strcmp(c.inverter, "sky130")) {
    if (!strcmp(c.inverter, "behavioural") || !strcmp(c.inverter, "behavioral"))
      return phx_cli_fail(PHX_EXIT_USAGE, "vtc: --inverter must be sky130 or a subckt FILE");
    o.inv.kind = PHX_INV_FILE;
    o.inv.corner[0] = '\0';
    snprintf(o.inv.subckt_file, sizeof o.inv.subckt_file, "%s", c.inverter);
  }
  if (c.corner) snprintf(o.inv.corner, sizeof o.inv.corner, "%s", c.corner);
  if (c.models) snprintf(o.inv.models_file, sizeof o.inv.models_file, "%s", c.models);
  if ((rc = cli_drive(&c, &o.inv))) return rc;
  o.vdd = c.vdd;
  o.load = c.load;
  if (c.given2 & PHX_O2_STEP) o.step = c.step;
  double loads[256];
  if (c.loads) {
    if ((o.nloads = parse_loads(c.loads, loads, 256)) < 0) return PHX_EXIT_USAGE;
    o.loads = loads;
  }
  o.engine = engine_of(&c);
  phx_err err = {0};
  phx_neuron *n = NULL;
  if (phx_vtc_run(&o, &n, &err)) return phx_cli_err(&err);
  double mc_mean = 0, mc_sigma = 0;
  const uint64_t seed = c.given & PHX_O_SEED ? c.seed : 1;
  if (mc && (phx_vtc_mc(&o, mc, seed, NULL, &mc_mean, &mc_sigma, &err) ||
             phx_neuron_set_offset(n, mc, mc_mean, mc_sigma, &err))) {
    phx_neuron_free(n);
    return phx_cli_err(&err);
  }
  rc = c.out && phx_neuron_save(n, c.out, &err) ? phx_cli_err(&err) : 0;
  double cf[4], df[4], rms[2], lr;
  int epochs;
  phx_neuron_fits(n, cf, df, rms, NULL);
  phx_neuron_train_hint(n, &lr, &epochs);
  /* output resistance where a designer looks: at the switching point and
   * at the rails; the largest supply current */
  if (!rc && c.json) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "inverter", KIND_NAMES[o.inv.kind]);
    cJSON_AddStringToObject(j, "corner", o.inv.corner);
    if (o.inv.kind == PHX_INV_SKY130) cJSON_AddNumberToObject(j, "drive", o.inv.mult);
    cJSON_AddNumberToObject(j, "vdd", o.vdd);
    cJSON_AddNumberToObject(j, "load_S", o.load);
    cJSON_AddItemToObject(j, "c", cJSON_CreateDoubleArray(cf, 4));
    cJSON_AddItemToObject(j, "d", cJSON_CreateDoubleArray(df, 4));
    cJSON_AddNumberToObject(j, "rms_c_mV", rms[0] * 1e3);
    cJSON_AddNumberToObject(j, "rms_d_mV", rms[1] * 1e3);
    if (lr > 0) cJSON_AddNumberToObject(j, "train_lr", lr);
    if (mc) {
      cJSON *of = cJSON_AddObjectToObject(j, "offset");
      cJSON_AddNumberToObject(of, "instances", mc);
      cJSON_AddNumberToObject(of, "seed", (double)seed);
      char sec[16];
      snprintf(sec, sizeof sec, "%s%s", o.inv.corner, o.inv.kind == PHX_INV_SKY130 ? "_mm" : "");
      cJSON_AddStringToObject(of, "section", sec);
      cJSON_AddNumberToObject(of, "mean_mV", mc_mean * 1e3);
      cJSON_AddNumberToObject(of, "sigma_mV", mc_sigma * 1e3);
    }
    if (c.out) cJSON_AddStringToObject(j, "out", c.out);
    rc = phx_cli_print_json(j);
  } else if (!rc) {
    printf("neuron: inverter %s%s%s, drive %g, vdd %g V, load %g uS\n",
           KIND_NAMES[o.inv.kind], o.inv.corner[0] ? " corner " : "", o.inv.corner,
           o.inv.kind == PHX_INV_SKY130 ? o.inv.mult : 1, o.vdd, o.load * 1e6);
    printf("o- (c): %.6g %.6g %.6g %.6g  rms %.3f mV\n", cf[0], cf[1], cf[2], cf[3],
           rms[0] * 1e3);
    printf("o+ (d): %.6g %.6g %.6g %.6g  rms %.3f mV\n", df[0], df[1], df[2], df[3],
           rms[1] * 1e3);
    const double *z, *rm, *rp, *is;
    int np = phx_neuron_sweep(n, &z, NULL, NULL, &rm, &rp, &is);
    int at[3] = {0, nearest(z, np, cf[2]), np - 1};
    static const char *const where[3] = {"-vdd/2", "switching", "+vdd/2"};
    printf("input       Rout o-      Rout o+      supply current\n");
    for (int k = 0; k < 3; k++)
      printf("%-10s  %9.4g Ohm  %9.4g Ohm  %9.4g A\n", where[k], rm[at[k]], rp[at[k]],
             is[at[k]]);
    if (lr > 0)
      printf("train with: --neuron FILE (uses lr %g, %d epochs unless given: steep curves)\n",
             lr, epochs);
    if (mc)
      printf("switching point over %d mismatch instances: mean %.3f mV, sigma %.3f mV\n", mc,
             mc_mean * 1e3, mc_sigma * 1e3);
    if (c.out) printf("wrote %s\n", c.out);
  }
  phx_neuron_free(n);
  return rc;
}

int phx_cli_neuron_table(const phx_cli *c, phx_model *m) {
  if (!c->curve || strcmp(c->curve, "table")) return 0;
  if (!c->neuron)
    return phx_cli_fail(PHX_EXIT_USAGE, "--curve table needs --neuron FILE (its sweeps)");
  phx_err err = {0};
  phx_neuron *n = NULL;
  if (phx_neuron_load(c->neuron, &n, &err)) return phx_cli_err(&err);
  int nv = 0;
  double v0 = 0, dv = 0;
  const double *loads = NULL, *vals = NULL;
  int L = phx_neuron_table(n, &nv, &v0, &dv, &loads, &vals, &err);
  if (L > 0 && L < 2 && phx_model_get_opts(m)->load_aware)
    fprintf(stderr, "phaxcl: note: --neuron %s has no loaded sweeps (phaxcl vtc --loads): "
            "--load-aware sees no load\n", c->neuron);
  int rc = L > 0 && !phx_model_set_table(m, L, nv, v0, dv, loads, vals, &err) ? 0
                                                                               : phx_cli_err(&err);
  phx_neuron_free(n);
  return rc;
}

int phx_cli_apply_neuron(phx_cli *c) {
  if (!c->neuron) return 0;
  if (c->given & (PHX_O_VTC_C | PHX_O_VTC_D))
    return phx_cli_fail(PHX_EXIT_USAGE, "--neuron %s sets the fits: drop --vtc-c/--vtc-d",
                        c->neuron);
  phx_err err = {0};
  phx_neuron *n = NULL;
  if (phx_neuron_load(c->neuron, &n, &err)) return phx_cli_err(&err);
  double vdd, lr;
  int epochs;
  phx_neuron_fits(n, c->vtc_c, c->vtc_d, NULL, &vdd);
  phx_neuron_train_hint(n, &lr, &epochs);
  phx_neuron_free(n);
  /* the fits hold at the supply they were measured at, nowhere else */
  if ((c->given & PHX_O_VDD) && fabs(c->vdd - vdd) > 1e-9 * vdd)
    return phx_cli_fail(PHX_EXIT_USAGE, "--vdd %g conflicts with --neuron %s (measured at %g V)",
                        c->vdd, c->neuron, vdd);
  c->vdd = vdd;
  int set_lr = lr > 0 && !(c->given & PHX_O_LR), set_ep = epochs > 0 && !(c->given & PHX_O_EPOCHS);
  if (set_lr) c->lr = lr;
  if (set_ep) c->epochs = epochs;
  if (set_lr || set_ep)
    fprintf(stderr, "phaxcl: note: --neuron %s: lr %g, %d epochs (its steep curves need them)\n",
            c->neuron, c->lr, c->epochs);
  return 0;
}

int phx_cli_power(const phx_cli *c, const phx_model *m, const phx_dataset *d, phx_power *p) {
  phx_err err = {0};
  phx_neuron *n = NULL;
  if (c->neuron && phx_neuron_load(c->neuron, &n, &err)) return phx_cli_err(&err);
  int rc = phx_power_estimate(m, d, 0, n, p, &err) ? phx_cli_err(&err) : 0;
  phx_neuron_free(n);
  return rc;
}
