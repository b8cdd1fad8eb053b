/* phaxcl sweep: trains one model per combination of hidden sizes, neuron
 * files and seeds, evaluates each on the test set and, per variation level,
 * over drawn chips; one JSON line per run, in run order, printed as the
 * runs finish. Under mpirun the runs are split over the ranks (contiguous
 * shares) and rank 0 prints: its own as they finish, the others' at the end. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "par.h"

static const char USAGE[] =
    "usage: phaxcl sweep [--hidden LIST] [--seeds LIST] [--neurons LIST] [--sigmas LIST]\n"
    "                    [OPTIONS]\n"
    "\n"
    "Trains a model for every combination of the lists (hidden sizes outermost,\n"
    "then neuron files, then seeds), evaluates it on the test set and, for each\n"
    "variation level, over --draws chips as `phaxcl mc` draws them (seed 1,\n"
    "lognormal spread). Prints one JSON line per run, in run order, each as\n"
    "soon as the runs before it are done. Under mpirun the runs are spread\n"
    "over the ranks; rank 0 prints (its own runs, the first, as they finish).\n"
    "\n"
    "  --hidden LIST      hidden layer sizes, alternatives separated by ':', the\n"
    "                     layers of one by ',' (\"100:50,20\": 196-100-10 and\n"
    "                     196-50-20-10; default 100)\n"
    "  --seeds LIST       training seeds (default 1)\n"
    "  --neurons LIST     neuron files from `phaxcl vtc`, ',' separated (default:\n"
    "                     the model's own fits)\n"
    "  --sigmas LIST      programming spreads in % for Monte Carlo (default: none)\n"
    "  --draws N          chips per variation level (default 20)\n"
    "  --epochs N  --batch N  --lr X  --optimizer NAME  --loss ce|mse  --vdd V\n"
    "  --ratio R  --gmin US  --limit N  as for `phaxcl train`\n"
    "  --data DIR  --pool N  --backend NAME  --device SPEC  --verbose\n"
    "  --help             this text\n";

static const phx_cli_spec SPEC = {
    "sweep",
    PHX_O_DATA | PHX_O_POOL | PHX_O_EPOCHS | PHX_O_BATCH | PHX_O_LR | PHX_O_OPTIMIZER |
        PHX_O_LOSS | PHX_O_VDD | PHX_O_RATIO | PHX_O_GMIN | PHX_O_BACKEND | PHX_O_DEVICE |
        PHX_O_LIMIT | PHX_O_VERBOSE,
    0, 0, USAGE};

#define MAX_ITEMS 64

typedef struct grid {
  char *hidden[MAX_ITEMS], *neurons[MAX_ITEMS];
  double seeds[MAX_ITEMS], sigmas[MAX_ITEMS];
  int nh, nn, ns, nsig, draws;
  char *buf[2]; /* the split copies of --hidden and --neurons */
} grid;

/* Splits a copy of s at sep into at most MAX_ITEMS parts. */
static int split(const char *opt, const char *s, char sep, char **keep, char **out, int *n) {
  free(*keep);
  *keep = strdup(s);
  if (!*keep) return phx_cli_fail(PHX_EXIT_RUN, "out of memory");
  *n = 0;
  for (char *p = *keep;;) {
    if (*n == MAX_ITEMS)
      return phx_cli_fail(PHX_EXIT_USAGE, "%s: more than %d items", opt, MAX_ITEMS);
    out[(*n)++] = p;
    char *e = strchr(p, sep);
    if (!e) break;
    *e = '\0';
    p = e + 1;
  }
  for (int i = 0; i < *n; i++)
    if (!*out[i]) return phx_cli_fail(PHX_EXIT_USAGE, "%s: empty item in '%s'", opt, s);
  return 0;
}

/* A ',' list of numbers in [lo, hi]. */
static int numbers(const char *opt, const char *s, double lo, double hi, double *out, int *n) {
  *n = 0;
  for (const char *p = s;;) {
    char *end = NULL;
    double v = strtod(p, &end);
    if (end == p || (*end && *end != ',') || !(v >= lo && v <= hi))
      return phx_cli_fail(PHX_EXIT_USAGE, "%s: expected numbers from %g to %g, got '%s'", opt,
                          lo, hi, s);
    if (*n == MAX_ITEMS)
      return phx_cli_fail(PHX_EXIT_USAGE, "%s: more than %d items", opt, MAX_ITEMS);
    out[(*n)++] = v;
    if (!*end) return 0;
    p = end + 1;
  }
}

/* Takes the sweep's own options out of argv; -1 to go on, else an exit status. */
static int grid_options(int *argc, char **argv, grid *g) {
  int k = 1, rc = 0;
  double draws = 20;
  for (int i = 1; i < *argc && !rc; i++) {
    const char *a = argv[i];
    int ours = !strcmp(a, "--hidden") || !strcmp(a, "--seeds") || !strcmp(a, "--neurons") ||
               !strcmp(a, "--sigmas") || !strcmp(a, "--draws");
    if (!ours) {
      argv[k++] = argv[i];
      continue;
    }
    if (i + 1 >= *argc) return phx_cli_fail(PHX_EXIT_USAGE, "%s needs a value", a);
    const char *v = argv[++i];
    int one = 0;
    if (!strcmp(a, "--hidden")) rc = split(a, v, ':', &g->buf[0], g->hidden, &g->nh);
    else if (!strcmp(a, "--neurons")) rc = split(a, v, ',', &g->buf[1], g->neurons, &g->nn);
    else if (!strcmp(a, "--seeds")) rc = numbers(a, v, 0, 9007199254740992.0, g->seeds, &g->ns);
    else if (!strcmp(a, "--sigmas")) rc = numbers(a, v, 0, 1000, g->sigmas, &g->nsig);
    else if ((rc = numbers(a, v, 1, 1000000, &draws, &one)) == 0 && one != 1)
      rc = phx_cli_fail(PHX_EXIT_USAGE, "--draws: one number");
  }
  if (rc) return rc;
  *argc = k;
  g->draws = (int)draws;
  return -1;
}

/* Numbers per run: status, test accuracy, test loss, seconds, then mean,
 * std, min and 5th percentile accuracy per variation level. */
#define HEAD 4
#define PER_SIGMA 4

/* --hidden's "50,20" into c's layer list (inputs and classes around it). */
static int set_hidden(phx_cli *c, const char *h) {
  c->nlayers = 0;
  c->layers_skip_first = c->layers_skip_last = 1;
  c->given |= PHX_O_LAYERS;
  for (const char *p = h;;) {
    char *end = NULL;
    long v = strtol(p, &end, 10);
    if (end == p || (*end && *end != ',') || v < 1 || v > 1 << 20)
      return phx_cli_fail(PHX_EXIT_USAGE, "--hidden: expected sizes, got '%s'", h);
    if (c->nlayers + 3 > PHX_MAX_LAYERS + 1)
      return phx_cli_fail(PHX_EXIT_USAGE, "--hidden %s: at most %d layers", h, PHX_MAX_LAYERS);
    c->layers[c->nlayers++] = (int)v;
    if (!*end) return 0;
    p = end + 1;
  }
}

static double seconds_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Run i of the grid on b: its numbers into out. Failures of the run itself
 * (divergence, say) are its status; bad options end the sweep. */
static int one_run(const phx_cli *base, const grid *g, int i, phx_backend *b,
                   const phx_dataset *train, const phx_dataset *test, double *out) {
  const int s = i % g->ns, nu = (i / g->ns) % g->nn, h = i / (g->ns * g->nn);
  phx_cli c = *base;
  c.seed = (uint64_t)g->seeds[s];
  c.neuron = g->nn && g->neurons[nu] ? g->neurons[nu] : NULL;
  int rc = set_hidden(&c, g->hidden[h]);
  if (!rc) rc = phx_cli_apply_neuron(&c);
  phx_model *m = NULL;
  if (!rc) rc = phx_cli_make_model(&c, train, &m);
  if (rc) return rc;
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.optimizer = c.optimizer;
  t.epochs = c.epochs;
  if (t.optimizer == PHX_OPT_LBFGS && !(c.given & PHX_O_EPOCHS)) t.epochs = 400;
  t.batch = c.batch;
  t.lr = c.lr;
  t.seed = c.seed;
  t.limit = c.limit;
  phx_err err = {PHX_OK, ""};
  phx_eval_result ev = {0};
  const double t0 = seconds_now();
  phx_status st = phx_train(b, m, train, test, &t, NULL, &err);
  if (!st) st = phx_evaluate(b, m, test, &ev, NULL, &err);
  for (int k = 0; k < g->nsig && !st; k++) {
    phx_variation v;
    phx_variation_default(&v);
    v.sigma = g->sigmas[k] / 100;
    phx_mc_result r;
    st = phx_monte_carlo(b, m, test, 0, &v, g->draws, 1, &r, NULL, &err);
    double *p = out + HEAD + PER_SIGMA * k;
    p[0] = r.mean;
    p[1] = r.std;
    p[2] = r.min;
    p[3] = r.p5;
  }
  out[0] = st;
  out[1] = ev.accuracy;
  out[2] = ev.loss;
  out[3] = seconds_now() - t0;
  if (st && c.verbose) fprintf(stderr, "phaxcl: sweep run %d: %s\n", i, err.msg);
  phx_model_free(m);
  return 0;
}

static void print_run(const phx_cli *c, const grid *g, int i, const double *r,
                      const phx_dataset *train) {
  const int s = i % g->ns, nu = (i / g->ns) % g->nn, h = i / (g->ns * g->nn);
  phx_cli lc = *c;
  phx_model_opts o;
  char sizes[128] = "";
  if (!set_hidden(&lc, g->hidden[h]) &&
      !phx_cli_layers(&lc, phx_dataset_dim(train), phx_dataset_classes(train), &o))
    phx_cli_sizes_str(&o, sizes, sizeof sizes);
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "run", i);
  cJSON_AddStringToObject(j, "layers", sizes);
  if (g->neurons[nu]) cJSON_AddStringToObject(j, "neuron", g->neurons[nu]);
  else cJSON_AddNullToObject(j, "neuron");
  cJSON_AddNumberToObject(j, "seed", g->seeds[s]);
  if ((int)r[0]) {
    cJSON_AddStringToObject(j, "error", phx_status_name((phx_status)(int)r[0]));
  } else {
    cJSON_AddNumberToObject(j, "test_acc", r[1]);
    cJSON_AddNumberToObject(j, "test_loss", r[2]);
    cJSON *mc = cJSON_AddArrayToObject(j, "mc");
    for (int k = 0; k < g->nsig; k++) {
      const double *p = r + HEAD + PER_SIGMA * k;
      cJSON *e = cJSON_CreateObject();
      cJSON_AddNumberToObject(e, "sigma_pct", g->sigmas[k]);
      cJSON_AddNumberToObject(e, "draws", g->draws);
      cJSON_AddNumberToObject(e, "mean", p[0]);
      cJSON_AddNumberToObject(e, "std", p[1]);
      cJSON_AddNumberToObject(e, "min", p[2]);
      cJSON_AddNumberToObject(e, "p5", p[3]);
      cJSON_AddItemToArray(mc, e);
    }
  }
  cJSON_AddNumberToObject(j, "seconds", r[3]);
  phx_cli_print_json(j);
}

int phx_cmd_sweep(int argc, char **argv) {
  static char dflt_hidden[] = "100";
  grid g = {.nh = 1, .nn = 1, .ns = 1, .draws = 20};
  g.hidden[0] = dflt_hidden;
  g.seeds[0] = 1;
  int rc = grid_options(&argc, argv, &g);
  phx_cli c;
  if (rc < 0) rc = phx_cli_parse(&SPEC, argc, argv, &c);
  if (rc >= 0) {
    free(g.buf[0]);
    free(g.buf[1]);
    return rc;
  }
  rc = 0;
  const int runs = g.nh * g.nn * g.ns, W = HEAD + PER_SIGMA * g.nsig;
  phx_dataset *train = NULL, *test = NULL;
  phx_backend *b = NULL;
  double *all = calloc((size_t)runs * W, sizeof *all);
  if (!all) rc = phx_cli_fail(PHX_EXIT_RUN, "out of memory");
  if (!rc) rc = phx_cli_load_data(&c, &train, &test);
  if (!rc) rc = phx_cli_backend(&c, NULL, &b);
  int first = 0, count = 0;
  phx_par_range(runs, 1, phx_par_rank(), &first, &count);
  /* rank 0's share comes first in run order: its lines go out as its runs
   * finish, so a later failure or a kill loses none of them */
  for (int i = first; !rc && i < first + count; i++) {
    rc = one_run(&c, &g, i, b, train, test, all + (size_t)i * W);
    if (!rc && phx_par_rank() == 0) {
      print_run(&c, &g, i, all + (size_t)i * W, train);
      fflush(stdout);
    }
  }
  phx_err err = {PHX_OK, ""};
  if (!rc && phx_par_gather_range(runs, 1, W, all, &err)) rc = phx_cli_err(&err);
  for (int i = first + count; !rc && i < runs; i++)
    print_run(&c, &g, i, all + (size_t)i * W, train);
  phx_backend_free(b);
  phx_dataset_free(train);
  phx_dataset_free(test);
  free(all);
  free(g.buf[0]);
  free(g.buf[1]);
  return rc;
}
