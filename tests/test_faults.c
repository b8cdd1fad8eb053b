/* Stuck-cell maps: fault files parse with line-numbered errors; a map is
 * checked against the model (cells inside the layers, conductances within
 * [gmin, gmax], no cell twice) and leaves the model untouched when it is
 * refused; pinned cells evaluate as the stuck chip; retraining around them
 * keeps them exactly where they are (gmin, gmax and a conductance between)
 * and wins back the accuracy the faults cost; on OpenCL (every device but
 * simulators) the same.
 * Usage: test_faults DATA_DIR [opencl] (77 when no device) */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "phaxcl.h"
#include "test_util.h"

/* Writes len bytes of text to dir/name and returns the path. */
static const char *put_n(const char *name, const char *text, size_t len) {
  const char *p = in_dir(name);
  FILE *f = fopen(p, "w");
  if (!f || fwrite(text, 1, len, f) != len || fclose(f)) {
    perror(p);
    exit(1);
  }
  return p;
}

static const char *put(const char *name, const char *text) {
  return put_n(name, text, strlen(text));
}

/* The load of text (len bytes) fails with a message containing want. */
static void refused_n(const char *text, size_t len, const char *want) {
  phx_faults *f = NULL;
  phx_err err = {PHX_OK, ""};
  const phx_status s = phx_faults_load(put_n("bad.txt", text, len), &f, &err);
  CHECKF(s == PHX_EFORMAT && !f && strstr(err.msg, want) && strstr(err.msg, "bad.txt"),
         "'%s': status %d, message '%s' (wanted '%s')", text, (int)s, err.msg, want);
}

static void refused(const char *text, const char *want) { refused_n(text, strlen(text), want); }

static phx_faults *load(const char *text) {
  phx_faults *f = NULL;
  phx_err err = {PHX_OK, ""};
  must(phx_faults_load(put("ok.txt", text), &f, &err), &err, text);
  return f;
}

static void test_parse(void) {
  phx_faults *f = load("# a map\n\n0 1 2 gmin\n1, 3, 4, gmax  # comment\n0 5 6 0.5uS\n"
                       "0 7 8 4e-7\r\n0 9 9 500nS\n");
  CHECK(phx_faults_count(f) == 5);
  phx_faults_free(f);
  f = load("");
  CHECK(phx_faults_count(f) == 0);
  phx_faults_free(f);
  refused("0 1 2\n", "line 1: expected 'layer row column value', got 3 fields");
  refused("0 1 2 gmin\n0 1 2 gmin 5\n", "line 2: expected");
  refused("\n\n-1 1 2 gmin\n", "line 3: layer '-1'");
  refused("0 x 2 gmin\n", "line 1: row 'x'");
  refused("0 1 99999999999 gmin\n", "line 1: column");
  refused("0 1 2 stuck\n", "line 1: value 'stuck'");
  refused("0 1 2 0.5kS\n", "value '0.5kS'");
  refused("0 1 2 -1e-7\n", "value '-1e-7'");
  refused("0 1 2 nan\n", "value 'nan'");
  refused_n("0 1 2 gmin\n0 1\0 3 gmax\n", 22, "line 2: a NUL byte");
  phx_err err = {PHX_OK, ""};
  phx_faults *none = NULL;
  CHECK(phx_faults_load(in_dir("missing.txt"), &none, &err) == PHX_EIO && !none &&
        strstr(err.msg, "missing.txt"));
  CHECK(phx_faults_load(dir, &none, &err) == PHX_EIO && !none);
}

/* apply refuses text with a message containing want, m unchanged. */
static void apply_refused(phx_model *m, const char *text, const char *want) {
  phx_faults *f = load(text);
  const float before = phx_model_theta(m, 0)[0];
  phx_err err = {PHX_OK, ""};
  const phx_status s = phx_model_apply_faults(m, f, &err);
  CHECKF(s != PHX_OK && strstr(err.msg, want) && phx_model_theta(m, 0)[0] == before,
         "'%s': status %d, message '%s' (wanted '%s')", text, (int)s, err.msg, want);
  phx_faults_free(f);
}

static void test_apply(void) {
  phx_model *m = tiny_model(3, 2); /* 8 rows, 2 columns; gmin 0.12 uS, ratio 8.33 */
  apply_refused(m, "0 0 0 gmax\n1 0 0 gmin\n", "line 2: layer 1, the model has layers 0 to 0");
  apply_refused(m, "0 0 0 gmax\n0 8 0 gmin\n", "line 2: cell (8, 0) outside layer 0's 8 rows x 2");
  apply_refused(m, "0 0 0 gmax\n0 7 2 gmin\n", "cell (7, 2) outside");
  apply_refused(m, "0 0 0 0.1uS\n", "line 1: 1e-07 S is outside the model's conductance range");
  apply_refused(m, "0 0 0 1.2uS\n", "outside the model's conductance range");
  apply_refused(m, "0 0 0 gmax\n0 1 1 gmin\n\n0 0 0 gmin\n",
                "line 4: layer 0 cell (0, 0) is already on line 1");
  phx_faults *f = load("0 0 0 gmax\n0 7 1 gmin\n0 3 0 0.5uS\n0 4 0 0.12uS\n");
  phx_err err = {PHX_OK, ""};
  must(phx_model_apply_faults(m, f, &err), &err, "apply");
  const float *th = phx_model_theta(m, 0);
  const double p = (0.5 / 0.12 - 1) / (8.33 - 1);
  CHECK(th[0] == 100.0f && th[8 + 7] == -100.0f && th[4] == -100.0f);
  CHECKF(fabs(th[3] - log(p / (1 - p))) < 1e-6, "theta %g, want %g", th[3], log(p / (1 - p)));
  phx_faults_free(f);
  phx_model_free(m);
}

static double accuracy(phx_backend *b, const phx_model *m, const phx_dataset *d) {
  phx_eval_result r;
  phx_err err = {PHX_OK, ""};
  must(phx_evaluate(b, m, d, &r, NULL, &err), &err, "evaluate");
  return r.accuracy;
}

/* A 20 % map of the hidden layer (gmin, gmax and conductances between in
 * turn) and 20 % of the output layer. */
static const char *random_map(const phx_model *m) {
  const char *p = in_dir("map.txt");
  FILE *f = fopen(p, "w");
  if (!f) exit(1);
  uint32_t x = 12345;
  int k = 0;
  for (int l = 0; l < 2; l++)
    for (int j = 0; j < phx_model_rows(m, l); j++)
      for (int r = 0; r < phx_model_cols(m, l); r++) {
        x = x * 1664525u + 1013904223u;
        if ((x >> 8) % 5) continue;
        k++;
        if (k % 3 == 0) fprintf(f, "%d %d %d gmin\n", l, r, j);
        else if (k % 3 == 1) fprintf(f, "%d %d %d gmax\n", l, r, j);
        else fprintf(f, "%d %d %d %.3guS\n", l, r, j, 0.2 + 0.7 * ((x >> 4) % 100) / 100.0);
      }
  fclose(f);
  return p;
}

static void test_retrain(const char *data, const char *backend, const char *device) {
  phx_err err = {PHX_OK, ""};
  phx_dataset *train = NULL, *test = NULL;
  must(phx_dataset_load_dir(data, 1, &train, &test, &err), &err, data);
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.sizes[1] = 30;
  phx_model *m = NULL, *chip = NULL;
  must(phx_model_new(&o, &m, &err), &err, "model");
  phx_model_init(m, 2);
  phx_backend *b = NULL;
  must(phx_backend_new(backend, device, 0, &b, &err), &err, backend);
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.epochs = 20;
  must(phx_train(b, m, train, NULL, &t, NULL, &err), &err, "train");
  const double ideal = accuracy(b, m, test);
  phx_faults *f = NULL;
  must(phx_faults_load(random_map(m), &f, &err), &err, "map");
  must(phx_model_new(&o, &chip, &err), &err, "chip");
  for (int l = 0; l < 2; l++)
    memcpy(phx_model_theta(chip, l), phx_model_theta(m, l),
           sizeof(float) * (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l));
  must(phx_model_apply_faults(chip, f, &err), &err, "apply");
  const double faulty = accuracy(b, chip, test);
  float *pinned[2];
  for (int l = 0; l < 2; l++) {
    const size_t n = (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
    pinned[l] = malloc(n * sizeof(float));
    memcpy(pinned[l], phx_model_theta(chip, l), n * sizeof(float));
  }
  /* retrain from the unpinned model: the trainer pins the cells itself */
  t.faults = f;
  t.lr = 0.05;
  must(phx_train(b, m, train, NULL, &t, NULL, &err), &err, "retrain");
  int kept = 1, moved = 0;
  phx_faults *again = NULL;
  must(phx_faults_load(in_dir("map.txt"), &again, &err), &err, "map");
  phx_model *check = NULL;
  must(phx_model_new(&o, &check, &err), &err, "check");
  for (int l = 0; l < 2; l++) {
    const size_t n = (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
    memcpy(phx_model_theta(check, l), phx_model_theta(m, l), n * sizeof(float));
  }
  must(phx_model_apply_faults(check, again, &err), &err, "apply again");
  for (int l = 0; l < 2; l++) {
    const size_t n = (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
    for (size_t i = 0; i < n; i++) {
      const float a = phx_model_theta(m, l)[i];
      /* a faulty cell: the map pins it where it already is */
      if (phx_model_theta(check, l)[i] != a) kept = 0;
      moved += a != pinned[l][i];
    }
    free(pinned[l]);
  }
  const double retrained = accuracy(b, m, test);
  CHECKF(kept, "retraining moved a stuck cell");
  CHECKF(moved > 1000, "retraining moved only %d parameters", moved);
  printf("%s %s: ideal %.2f %%, faulty chip %.2f %%, retrained %.2f %%\n", backend,
         device ? device : "", 100 * ideal, 100 * faulty, 100 * retrained);
  CHECKF(faulty < ideal - 0.03 && retrained > faulty + 0.02,
         "ideal %.3f, faulty %.3f, retrained %.3f", ideal, faulty, retrained);
  t.optimizer = PHX_OPT_LBFGS;
  CHECK(phx_train(b, m, train, NULL, &t, NULL, &err) == PHX_EINVAL &&
        strstr(err.msg, "--faults needs a mini-batch optimizer"));
  phx_faults_free(again);
  phx_faults_free(f);
  phx_model_free(check);
  phx_model_free(chip);
  phx_model_free(m);
  phx_backend_free(b);
  phx_dataset_free(train);
  phx_dataset_free(test);
}

int main(int argc, char **argv) {
  if (argc != 2 && !(argc == 3 && strcmp(argv[2], "opencl") == 0)) {
    fprintf(stderr, "usage: test_faults DATA_DIR [opencl]\n");
    return 2;
  }
  if (tmpdir_make("faults")) return 1;
  if (argc == 3) {
    int n = 0, *sim = NULL, ran = 0;
    char(*specs)[32] = opencl_specs(&n, &sim);
    for (int i = 0; specs && i < n; i++)
      if (!sim[i]) test_retrain(argv[1], "opencl", specs[i]), ran++;
    free(specs);
    free(sim);
    tmpdir_remove();
    if (!ran) {
      printf("SKIP: no OpenCL device but simulators\n");
      return 77;
    }
    return finish("faults (opencl)");
  }
  test_parse();
  test_apply();
  test_retrain(argv[1], "c", NULL);
  tmpdir_remove();
  return finish("faults");
}
