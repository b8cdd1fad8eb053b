/* Model options (defaults, every range check), model allocation and the
 * seeded initialisation: deterministic, seed-dependent, within +-e, drawn
 * layer after layer in row-major order from phx_rng. Table neurons: their
 * checks, and the table and load_aware through a model file. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phaxcl.h"
#include "rng.h"
#include "test_util.h"

/* The defaults are the docs/model.md numbers, exactly. */
static void test_defaults(void) {
  phx_model_opts o;
  memset(&o, 0xab, sizeof o);
  phx_model_opts_default(&o);
  CHECK(o.nlayers == 2);
  CHECK(o.sizes[0] == 196 && o.sizes[1] == 100 && o.sizes[2] == 10);
  CHECK(o.sizes[3] == 0);
  CHECK(o.vdd == 0.5 && o.gmin == 0.12e-6 && o.ratio == 8.33);
  CHECK(o.c[0] == -0.0012 && o.c[1] == -0.2483 && o.c[2] == -0.0235 && o.c[3] == 31.7581);
  CHECK(o.d[0] == -0.0011 && o.d[1] == 0.2490 && o.d[2] == -0.0203 && o.d[3] == 193.0602);
  CHECK(o.loss == PHX_LOSS_CE);
  phx_err err = {0};
  CHECK(phx_model_opts_check(&o, &err) == PHX_OK);
}

/* One bad option: EINVAL and a message naming the option. */
static void expect_bad(const phx_model_opts *o, const char *needle) {
  phx_err err = {0};
  phx_status s = phx_model_opts_check(o, &err);
  CHECK(s == PHX_EINVAL);
  CHECK(err.status == PHX_EINVAL);
  if (!strstr(err.msg, needle)) {
    fprintf(stderr, "message \"%s\" does not name %s\n", err.msg, needle);
    failures++;
  }
  static char sentinel;
  phx_model *m = (phx_model *)(void *)&sentinel; /* must be reset to NULL */
  CHECK(phx_model_new(o, &m, NULL) == PHX_EINVAL);
  CHECK(m == NULL);
}

static void test_checks(void) {
  phx_model_opts d, o;
  phx_model_opts_default(&d);
  o = d; o.nlayers = 0; expect_bad(&o, "--layers");
  o = d; o.nlayers = PHX_MAX_LAYERS + 1; expect_bad(&o, "--layers");
  o = d; o.sizes[1] = 0; expect_bad(&o, "--layers");
  o = d; o.sizes[2] = -3; expect_bad(&o, "--layers");
  o = d; o.sizes[0] = 2000000; expect_bad(&o, "--layers");
  o = d; o.sizes[0] = 900000; o.sizes[1] = 900000; expect_bad(&o, "--layers");
  o = d; o.vdd = 0; expect_bad(&o, "--vdd");
  o = d; o.vdd = NAN; expect_bad(&o, "--vdd");
  o = d; o.gmin = -1e-6; expect_bad(&o, "--gmin");
  o = d; o.ratio = 0.5; expect_bad(&o, "--ratio");
  o = d; o.ratio = 1.0; expect_bad(&o, "--ratio");
  o = d; o.ratio = INFINITY; expect_bad(&o, "--ratio");
  o = d; o.c[1] = NAN; expect_bad(&o, "--c");
  o = d; o.c[3] = 0; expect_bad(&o, "--c");
  o = d; o.d[0] = INFINITY; expect_bad(&o, "--d");
  o = d; o.d[3] = 0; expect_bad(&o, "--d");
  o = d; o.loss = (phx_loss)7; expect_bad(&o, "--loss");

  phx_err err = {0};
  phx_model_opts_default(&o);
  CHECK(phx_model_opts_check(&o, &err) == PHX_OK);
  o.ratio = 0.5;
  phx_model_opts_check(&o, &err);
  CHECK(strcmp(err.msg, "--ratio: must be > 1 (got 0.5)") == 0);
  o = d;
  o.nlayers = 1; /* sizes[2] is then ignored */
  o.sizes[2] = -1;
  CHECK(phx_model_opts_check(&o, &err) == PHX_OK);
}

/* Shapes, zero theta, accessors out of range. */
static void test_new(void) {
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.nlayers = 3;
  o.sizes[0] = 5; o.sizes[1] = 4; o.sizes[2] = 3; o.sizes[3] = 2;
  phx_model *m = NULL;
  phx_err err = {0};
  CHECK(phx_model_new(&o, &m, &err) == PHX_OK);
  if (!m) return;
  CHECK(phx_model_get_opts(m)->nlayers == 3);
  CHECK(phx_model_get_opts(m)->sizes[3] == 2);
  int expect_m[3] = {4, 3, 2}, expect_r[3] = {12, 10, 8};
  for (int l = 0; l < 3; l++) {
    CHECK(phx_model_rows(m, l) == expect_m[l]);
    CHECK(phx_model_cols(m, l) == expect_r[l]);
    const float *t = phx_model_theta_const(m, l);
    CHECK(t != NULL && t == phx_model_theta(m, l));
    for (int i = 0; t && i < expect_m[l] * expect_r[l]; i++) CHECK(t[i] == 0.0f);
  }
  CHECK(phx_model_theta(m, 3) == NULL && phx_model_theta(m, -1) == NULL);
  CHECK(phx_model_rows(m, 3) == 0 && phx_model_cols(m, -1) == 0);
  phx_model_free(m);
  phx_model_free(NULL);
}

/* Same seed: same bits; other seed: different; every value within +-e;
 * and the order is layer by layer, row-major, one phx_rng stream. */
static void test_init(void) {
  phx_model_opts o;
  phx_model_opts_default(&o);
  phx_model *a = NULL, *b = NULL, *c = NULL;
  CHECK(phx_model_new(&o, &a, NULL) == PHX_OK);
  CHECK(phx_model_new(&o, &b, NULL) == PHX_OK);
  CHECK(phx_model_new(&o, &c, NULL) == PHX_OK);
  if (!a || !b || !c) return;
  phx_model_init(a, 42);
  phx_model_init(b, 42);
  phx_model_init(c, 43);
  phx_rng rng;
  phx_rng_seed(&rng, 42);
  for (int l = 0; l < o.nlayers; l++) {
    int M = phx_model_rows(a, l), R = phx_model_cols(a, l);
    size_t n = (size_t)M * (size_t)R;
    const float *ta = phx_model_theta_const(a, l), *tb = phx_model_theta_const(b, l),
                *tc = phx_model_theta_const(c, l);
    CHECK(memcmp(ta, tb, n * sizeof *ta) == 0);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += ta[i] == tc[i];
    CHECK(same < n / 100);
    double e = sqrt(6.0 / (R + M)), lo = 0, hi = 0, sum = 0;
    size_t off_order = 0;
    for (size_t i = 0; i < n; i++) {
      CHECK(fabs((double)ta[i]) <= (double)(float)e);
      if (ta[i] < lo) lo = ta[i];
      if (ta[i] > hi) hi = ta[i];
      sum += ta[i];
      float want = (float)((2.0 * phx_rng_uniform(&rng) - 1.0) * e);
      off_order += want != ta[i];
    }
    CHECK(off_order == 0);
    /* A uniform draw of thousands of values spans nearly all of (-e, e). */
    CHECK(lo < -0.95 * e && hi > 0.95 * e);
    CHECK(fabs(sum / (double)n) < 0.05 * e);
  }
  phx_model_free(a);
  phx_model_free(b);
  phx_model_free(c);
}

/* A table neuron survives save and load exactly (values; slopes remade the
 * same), with load_aware; bad tables are refused naming the fault. */
static void test_table(void) {
  phx_err err = {0};
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.load_aware = 1;
  phx_model *m = NULL;
  must(phx_model_new(&o, &m, &err), &err, "new");
  enum { L = 3, NV = 9 };
  double loads[L] = {0, 1e-6, 3e-6}, vals[L * NV];
  for (int i = 0; i < L * NV; i++) vals[i] = -0.25 * tanh(10 * ((i % NV) - 4) / 8.0) / (1 + i / NV);
  CHECK(phx_model_table(m, NULL, NULL, NULL, NULL, NULL) == 0);
  must(phx_model_set_table(m, L, NV, -0.25, 0.0625, loads, vals, &err), &err, "set_table");
  if (tmpdir_make("model")) die("tmpdir", NULL);
  must(phx_model_save(m, in_dir("t.st"), &err), &err, "save");
  phx_model *b = NULL;
  must(phx_model_load(in_dir("t.st"), &b, &err), &err, "load");
  int nv, nv2;
  double v0, dv, v02, dv2;
  const double *la, *ta, *lb, *tb;
  CHECK(phx_model_table(m, &nv, &v0, &dv, &la, &ta) == L);
  CHECK(phx_model_table(b, &nv2, &v02, &dv2, &lb, &tb) == L);
  CHECK(nv == nv2 && v0 == v02 && dv == dv2);
  CHECK(memcmp(la, lb, L * sizeof *la) == 0 && memcmp(ta, tb, 2 * L * NV * sizeof *ta) == 0);
  CHECK(phx_model_get_opts(b)->load_aware == 1);
  /* monotone cubic: each load's slopes have the sign of its curve */
  for (int i = 0; i < L * NV; i++) CHECK(ta[2 * i + 1] <= 0);
  phx_model_free(b);
  loads[0] = 1e-7;
  CHECK(phx_model_set_table(m, L, NV, -0.25, 0.0625, loads, vals, &err) == PHX_EINVAL);
  CHECK(strstr(err.msg, "first load must be 0") != NULL);
  loads[0] = 0;
  loads[2] = 0.5e-6;
  CHECK(phx_model_set_table(m, L, NV, -0.25, 0.0625, loads, vals, &err) == PHX_EINVAL);
  CHECK(strstr(err.msg, "loads must increase") != NULL);
  loads[2] = 3e-6;
  vals[5] = NAN;
  CHECK(phx_model_set_table(m, L, NV, -0.25, 0.0625, loads, vals, &err) == PHX_ENAN);
  /* a load-aware model without its table is not saved */
  must(phx_model_set_table(m, 0, 0, 0, 0, NULL, NULL, &err), &err, "clear");
  CHECK(phx_model_save(m, in_dir("u.st"), &err) == PHX_EINVAL);
  CHECK(strstr(err.msg, "load_aware needs a table neuron") != NULL);
  tmpdir_remove();
  phx_model_free(m);
}

int main(void) {
  test_defaults();
  test_checks();
  test_new();
  test_init();
  test_table();
  return finish("model");
}
