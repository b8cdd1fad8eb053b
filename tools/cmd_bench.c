/* phaxcl bench: training throughput (samples/s) of each backend on the
 * paper task (196-100-10, batch 32, bundled data) and on Fashion-MNIST
 * (784-256-256-10, batch 256), with the GFLOP/s the GEMMs achieve next to
 * the machine's measured SGEMM rate. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "phx_config.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static const char USAGE[] =
    "usage: phaxcl bench [OPTIONS]\n"
    "\n"
    "Training throughput (samples/s, Adam, excluding the first epoch as a\n"
    "warm-up) on (a) the paper task 196-100-10, batch 32, on --data and\n"
    "(b) Fashion-MNIST 784-256-256-10, batch 256, from --fashion (skipped when\n"
    "absent). Prints the GEMM GFLOP/s achieved (forward and backward products)\n"
    "and the machine's SGEMM GFLOP/s through the library's matrix code.\n"
    "\n"
    "  --backend LIST   backends to measure, repeatable or comma-separated\n"
    "                   (default: c, plus opencl when a device is found)\n"
    "  --device SPEC    OpenCL device: P:D or part of its name\n"
    "  --epochs N       epochs per task (default: 20 paper, 3 Fashion)\n"
    "  --limit N        use only the first N training samples (0 = all)\n"
    "  --data DIR       paper-task data (default: bundled mnist14)\n"
    "  --fashion DIR    Fashion-MNIST folder (default " FASHION_DIR ")\n"
    "  --ops            instead: the time of every operation (each case of its\n"
    "                   descriptor, as `check` runs it) at the paper task's sizes\n"
    "                   (196 inputs, 100 neurons, batch 32)\n"
    "  --mc [N]         instead: Monte Carlo speed, N drawn chips (default 1000;\n"
    "                   20 % spread, 10 % stuck, 8 levels, 2 mV offsets) of a\n"
    "                   paper-task model over --data's test set on each backend,\n"
    "                   and each one's speed as a fraction of the C path's\n"
    "  --json           one JSON object per measurement\n"
    "  --verbose        backend details on stderr\n"
    "  --help           this text\n";

static const phx_cli_spec SPEC = {
    "bench",
    PHX_O_BACKEND | PHX_O_DEVICE | PHX_O_EPOCHS | PHX_O_LIMIT | PHX_O_DATA | PHX_O_FASHION |
        PHX_O_JSON | PHX_O_VERBOSE,
    0, 0, USAGE};

/* One benchmark task. */
typedef struct task {
  const char *name;
  const char *dir;
  int hidden[2], nhidden;
  int batch;
  int epochs;
} task;

/* Seconds of every epoch after the first (the warm-up). */
typedef struct timing {
  double first, rest;
  int epochs;
} timing;

/* Epoch hook: splits the warm-up epoch from the timed ones. */
static int on_epoch(const phx_epoch_stats *s, void *user) {
  timing *t = user;
  if (s->epoch == 1) t->first = s->seconds;
  else t->rest += s->seconds;
  t->epochs = s->epoch;
  return 0;
}

/* Multiply-adds x2 of the GEMMs in one training sample: per layer with N
 * inputs and M neurons, forward and weight gradient (the input layer folds
 * its p/n pairs to N+1 columns) and, above the input layer, the gradient
 * into the previous activations. */
static double flops_per_sample(const phx_model_opts *o) {
  double f = 0;
  for (int l = 0; l < o->nlayers; l++) {
    double N = o->sizes[l], M = o->sizes[l + 1];
    f += l == 0 ? 4.0 * M * (N + 1) : 6.0 * M * (2 * N + 2);
  }
  return f;
}

/* Prints one result line or object. */
static void print_result(const phx_cli *c, const task *t, const char *sizes,
                         const phx_backend *b, double sps, double gflops, double sgemm,
                         int epochs, long samples, double seconds, double lps, double ms) {
  if (c->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", t->name);
    cJSON_AddStringToObject(o, "layers", sizes);
    cJSON_AddStringToObject(o, "backend", phx_backend_name(b));
    cJSON_AddStringToObject(o, "device", phx_backend_device(b));
    cJSON_AddNumberToObject(o, "batch", t->batch);
    cJSON_AddNumberToObject(o, "epochs", epochs);
    cJSON_AddNumberToObject(o, "samples", (double)samples);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    cJSON_AddNumberToObject(o, "samples_per_s", sps);
    cJSON_AddNumberToObject(o, "gflops", gflops);
    cJSON_AddNumberToObject(o, "sgemm_gflops", sgemm);
    if (lps >= 0) cJSON_AddNumberToObject(o, "launches_per_step", lps);
    cJSON_AddNumberToObject(o, "ms_per_step", ms);
    phx_cli_print_json(o);
  } else {
    char l[32] = "-";
    if (lps >= 0) snprintf(l, sizeof l, "%.1f", lps);
    printf("%-8s %-16s %-7s %-28.28s %5d %12.0f %9.2f %7.1f %% %13s %8.3f\n", t->name,
           sizes, phx_backend_name(b), phx_backend_device(b), t->batch, sps, gflops,
           sgemm > 0 ? 100.0 * gflops / sgemm : 0.0, l, ms);
  }
  fflush(stdout);
}

/* Prints why a task was skipped. */
static void print_skip(const phx_cli *c, const task *t, const char *why) {
  if (c->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", t->name);
    cJSON_AddStringToObject(o, "skipped", why);
    phx_cli_print_json(o);
  } else {
    printf("%-8s skipped: %s\n", t->name, why);
  }
  fflush(stdout);
}

/* Kernel launches so far on an OpenCL backend; -1 on the C path. */
static long launch_count(const phx_backend *b) { return phx_backend_opencl_launches(b); }

/* One `--ops` row. */
static void print_op(const phx_op_speed *r, void *user) {
  const phx_cli *c = ((const void **)user)[0];
  const phx_backend *b = ((const void **)user)[1];
  if (c->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "op", r->op);
    cJSON_AddStringToObject(o, "variant", r->variant);
    cJSON_AddStringToObject(o, "backend", phx_backend_name(b));
    cJSON_AddStringToObject(o, "device", phx_backend_device(b));
    cJSON_AddNumberToObject(o, "us", r->seconds * 1e6);
    cJSON_AddNumberToObject(o, "elements", (double)r->elements);
    phx_cli_print_json(o);
  } else {
    printf("%-18s %-24s %-7s %-28.28s %10.1f\n", r->op, r->variant, phx_backend_name(b),
           phx_backend_device(b), r->seconds * 1e6);
  }
  fflush(stdout);
}

/* `--ops`: every op descriptor's cases on each backend. */
static int run_ops(const phx_cli *c, phx_backend **bs, int nb) {
  if (!c->json)
    printf("%-18s %-24s %-7s %-28s %10s\n", "op", "variant", "backend", "device", "us/run");
  for (int i = 0; i < nb; i++) {
    const void *ctx[2] = {c, bs[i]};
    phx_err err = {PHX_OK, ""};
    if (phx_bench_ops(bs[i], 196, 100, 32, 50, print_op, (void *)ctx, &err))
      return phx_cli_err(&err);
  }
  return 0;
}

/* Trains task t on backend b and reports; returns an exit status. */
static int run_one(const phx_cli *c, const task *t, phx_backend *b, const phx_dataset *train,
                   double sgemm) {
  phx_err err = {0};
  phx_model_opts mo;
  phx_model_opts_default(&mo);
  mo.nlayers = t->nhidden + 1;
  mo.sizes[0] = phx_dataset_dim(train);
  for (int i = 0; i < t->nhidden; i++) mo.sizes[i + 1] = t->hidden[i];
  mo.sizes[mo.nlayers] = phx_dataset_classes(train);
  char sizes[128];
  phx_cli_sizes_str(&mo, sizes, sizeof sizes);
  phx_model *m = NULL;
  if (phx_model_new(&mo, &m, &err)) return phx_cli_err(&err);
  phx_model_init(m, 1);
  phx_train_opts o;
  phx_train_opts_default(&o);
  o.batch = t->batch;
  o.epochs = t->epochs;
  o.limit = c->limit;
  timing tm = {0};
  phx_train_hooks hooks = {.on_epoch = on_epoch, .user = &tm};
  long launches = launch_count(b);
  phx_status s = phx_train(b, m, train, NULL, &o, &hooks, &err);
  if (launches >= 0) launches = launch_count(b) - launches;
  phx_model_free(m);
  if (s) return phx_cli_err(&err);
  long n = phx_dataset_count(train);
  if (c->limit > 0 && c->limit < n) n = c->limit;
  int counted = tm.epochs > 1 ? tm.epochs - 1 : tm.epochs;
  double secs = tm.epochs > 1 ? tm.rest : tm.first;
  long samples = n * counted;
  double sps = secs > 0 ? (double)samples / secs : 0.0;
  double gflops = sps * flops_per_sample(&mo) * 1e-9;
  /* launches over every step of every epoch, per-epoch work included */
  long steps = (long)tm.epochs * ((n + t->batch - 1) / t->batch);
  double lps = launches >= 0 && steps > 0 ? (double)launches / (double)steps : -1.0;
  /* milliseconds per optimizer step over the timed epochs */
  const long timed_steps = (long)counted * ((n + t->batch - 1) / t->batch);
  const double ms = timed_steps > 0 ? 1e3 * secs / (double)timed_steps : 0.0;
  print_result(c, t, sizes, b, sps, gflops, sgemm, counted, samples, secs, lps, ms);
  return 0;
}

/* The backends to measure: --backend, or c plus opencl when it opens. */
static int open_backends(const phx_cli *c, phx_backend **bs, int *nb) {
  *nb = 0;
  if (c->nbackends) {
    for (int i = 0; i < c->nbackends; i++) {
      int rc = phx_cli_backend(c, c->backends[i], &bs[*nb]);
      if (rc) return rc;
      (*nb)++;
    }
    return 0;
  }
  int rc = phx_cli_backend(c, "c", &bs[0]);
  if (rc) return rc;
  *nb = 1;
  phx_err err = {0};
  if (phx_backend_new("opencl", c->device, c->verbose, &bs[1], &err) == PHX_OK) *nb = 2;
  else if (c->verbose) fprintf(stderr, "phaxcl: bench: no opencl: %s\n", err.msg);
  return 0;
}

int phx_cmd_bench(int argc, char **argv) {
  /* --ops and --mc [N] are this command's own: taken out before the common parser */
  int ops = 0, n = 0, mc = 0;
  for (int i = 0; i < argc; i++) {
    if (i > 0 && strcmp(argv[i], "--ops") == 0) ops = 1;
    else if (i > 0 && strcmp(argv[i], "--mc") == 0) {
      mc = 1000;
      char *end = NULL;
      const long d = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
      if (i + 1 < argc && *argv[i + 1] && !*end) {
        if (d < 1 || d > 1000000)
          return phx_cli_fail(PHX_EXIT_USAGE, "--mc: expected 1 to 1000000 draws, got '%s'",
                              argv[i + 1]);
        mc = (int)d;
        i++;
      }
    } else argv[n++] = argv[i];
  }
  argc = n;
  phx_cli c;
  int rc = phx_cli_parse(&SPEC, argc, argv, &c);
  if (rc >= 0) return rc;
  phx_backend *bs[PHX_CLI_MAX_BACKENDS] = {0};
  int nb = 0;
  rc = open_backends(&c, bs, &nb);
  if (!rc && (ops || mc)) {
    rc = ops ? run_ops(&c, bs, nb) : phx_bench_mc(&c, bs, nb, mc);
    for (int i = 0; i < nb; i++) phx_backend_free(bs[i]);
    return rc;
  }
  const char *impl = "?";
  double sgemm = 0;
  if (!rc) {
    sgemm = phx_bench_sgemm_gflops(1024, 1.0, &impl);
    if (c.json)
      printf("{\"sgemm_gflops\":%.3f,\"sgemm_n\":1024,\"sgemm_impl\":\"%s\"}\n", sgemm, impl);
    else
      printf("SGEMM 1024x1024 (%s): %.1f GFLOP/s ('of SGEMM' of the C path)\n", impl, sgemm);
    fflush(stdout);
  }
  /* each OpenCL backend is judged against its own device's SGEMM (CLBlast) */
  double dev_sgemm[PHX_CLI_MAX_BACKENDS] = {0};
  for (int i = 0; i < nb && !rc; i++) {
    int dn = 0;
    dev_sgemm[i] = phx_bench_opencl_sgemm_gflops(bs[i], 0, 0.5, &dn);
    if (dev_sgemm[i] <= 0) continue;
    if (c.json)
      printf("{\"device\":\"%s\",\"device_sgemm_gflops\":%.3f,\"device_sgemm_n\":%d,"
             "\"device_sgemm_impl\":\"clblast\"}\n", phx_backend_device(bs[i]), dev_sgemm[i], dn);
    else
      printf("device SGEMM %dx%d (CLBlast) on %s: %.1f GFLOP/s ('of SGEMM' below)\n", dn, dn,
             phx_backend_device(bs[i]), dev_sgemm[i]);
    fflush(stdout);
  }
  if (!rc && !c.json)
    printf("\n%-8s %-16s %-7s %-28s %5s %12s %9s %9s %9s %8s\n", "task", "layers", "backend",
           "device", "batch", "samples/s", "GFLOP/s", "of SGEMM", "launches/step", "ms/step");
  task tasks[2] = {
      {"paper", phx_cli_data_dir(&c), {100, 0}, 1, 32, (c.given & PHX_O_EPOCHS) ? c.epochs : 20},
      {"fashion", c.fashion ? c.fashion : FASHION_DIR, {256, 256}, 2, 256,
       (c.given & PHX_O_EPOCHS) ? c.epochs : 3},
  };
  for (int k = 0; k < 2 && !rc; k++) {
    task *t = &tasks[k];
    if (t->epochs < 1) {
      rc = phx_cli_fail(PHX_EXIT_USAGE, "--epochs: bench needs at least 1");
      break;
    }
    if (k == 1 && !c.fashion && access(t->dir, R_OK) != 0) {
      print_skip(&c, t, "no Fashion-MNIST at " FASHION_DIR
                        " (apt-get install dataset-fashion-mnist, or --fashion DIR)");
      continue;
    }
    phx_dataset *train = NULL;
    phx_err err = {0};
    phx_dataset *test = NULL;
    if (phx_dataset_load_dir(t->dir, 1, &train, &test, &err)) {
      rc = phx_cli_err(&err);
      break;
    }
    phx_dataset_free(test);
    for (int i = 0; i < nb && !rc; i++)
      rc = run_one(&c, t, bs[i], train, dev_sgemm[i] > 0 ? dev_sgemm[i] : sgemm);
    phx_dataset_free(train);
  }
  for (int i = 0; i < nb; i++) phx_backend_free(bs[i]);
  return rc;
}
