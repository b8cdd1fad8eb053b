/* Finite-difference gradient check of whole networks through phx_net on
 * the float64 "c64" backend: folded input layer, normalisation, sigmoid
 * mapping, both VTCs, both losses, and gradient accumulation across two
 * batches. Central differences in double must agree with the analytic
 * gradient to 1e-6 relative (max |g_fd - g| / max |g| per layer). Then the
 * float32 "c" backend's gradient must agree with c64's to 1e-4. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "rng.h"
#include "test_util.h"

enum { NS = 7, B1 = 3 }; /* 7 samples: a batch of 3, then one of 4 */

/* Mean loss over the NS samples, and (when grad) the gradient of it left
 * in the net's dtheta: two batches, the second accumulating. */
static double net_loss(phx_net *n, int grad) {
  phx_err err = {0};
  double sum;
  const double scale = 1.0 / NS;
  if (phx_net_batch(n, PHX_SLOT_TRAIN, 0, B1, scale, grad, 0, &err) ||
      phx_net_batch(n, PHX_SLOT_TRAIN, B1, NS - B1, scale, grad, 1, &err) ||
      (grad && phx_net_grad_finish(n, &err)) ||
      phx_net_metrics(n, PHX_SLOT_TRAIN, NS, &sum, NULL, NULL, NULL, &err))
    die("net", &err);
  return sum / NS;
}

/* The table neuron of the table cases (NULL: the tanh fits). */
static const phx_curve *g_curve;
/* Neuron offsets (a drawn chip's switching points) of the offset cases:
 * the gradient passes them straight (d(z - delta)/dz = 1), at shifted
 * points of the curves. */
static int g_offsets;

/* Offsets of up to +-30 mV, every neuron its own. */
static void set_offsets(phx_net *n, const phx_model_opts *o) {
  double d[64];
  int k = 0;
  for (int l = 0; l < o->nlayers; l++)
    for (int j = 0; j < o->sizes[l + 1]; j++, k++) d[k] = 0.03 * sin(1.7 * k + 0.4);
  phx_err err = {0};
  if (phx_net_set_offsets(n, d, &err)) die("offsets", &err);
}

/* A net on backend `name` for options o with the current neuron. */
static void net_on(const char *name, const phx_model_opts *o, const phx_dataset *d,
                   phx_backend **b, phx_net **n) {
  phx_err err = {0};
  if (phx_backend_new(name, NULL, 0, b, &err) || phx_net_new(*b, o, 4, n, &err) ||
      phx_net_set_curve(*n, g_curve, &err) || phx_net_bind(*n, PHX_SLOT_TRAIN, d, 0, &err))
    die("setup", &err);
  if (g_offsets) set_offsets(*n, o);
}

/* The analytic gradient of every layer at theta on backend `name`. */
static double **grad_on(const char *name, const phx_model_opts *o, const phx_dataset *d,
                        double **theta) {
  phx_err err = {0};
  phx_backend *b;
  phx_net *n;
  net_on(name, o, d, &b, &n);
  for (int l = 0; l < o->nlayers; l++)
    if (phx_net_set_theta64(n, l, theta[l], &err)) die("set_theta64", &err);
  net_loss(n, 1);
  double **g = calloc((size_t)o->nlayers, sizeof *g);
  for (int l = 0; l < o->nlayers; l++) {
    size_t cnt = (size_t)o->sizes[l + 1] * (2 * o->sizes[l] + 2);
    g[l] = malloc(cnt * sizeof **g);
    if (phx_net_get_grad64(n, l, g[l], &err)) die("get_grad64", &err);
  }
  phx_net_free(n);
  phx_backend_free(b);
  return g;
}

/* One network configuration; returns the number of failed comparisons. */
/* regress: continuous target voltages (squared error) instead of labels. */
static int check_case(const char *label, const int *sizes, int nlayers, phx_loss loss,
                      double ratio, uint64_t seed, int load_aware, int regress) {
  phx_err err = {0};
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.load_aware = load_aware;
  o.nlayers = nlayers;
  for (int l = 0; l <= nlayers; l++) o.sizes[l] = sizes[l];
  o.loss = loss;
  o.ratio = ratio;
  const int N0 = sizes[0], C = sizes[nlayers];

  phx_rng rng;
  phx_rng_seed(&rng, seed);
  float x[NS * 64];
  int32_t y[NS];
  for (int i = 0; i < NS * N0; i++) x[i] = (float)phx_rng_uniform(&rng);
  for (int i = 0; i < NS; i++) y[i] = i % C; /* every class present */
  float t[NS * 64];
  for (int i = 0; i < NS * C; i++) t[i] = (float)(0.4 * phx_rng_uniform(&rng) - 0.2);
  phx_dataset *d;
  if (regress ? phx_dataset_new_regression(NS, N0, C, x, t, &d, &err)
              : phx_dataset_new(NS, N0, C, x, y, &d, &err))
    die("dataset", &err);

  double *theta[PHX_MAX_LAYERS];
  size_t cnt[PHX_MAX_LAYERS];
  for (int l = 0; l < nlayers; l++) {
    int R = 2 * sizes[l] + 2, M = sizes[l + 1];
    cnt[l] = (size_t)M * R;
    theta[l] = malloc(cnt[l] * sizeof **theta);
    /* wider than the initialisation range so the sigmoid is not linear */
    for (size_t i = 0; i < cnt[l]; i++) theta[l][i] = 3 * (2 * phx_rng_uniform(&rng) - 1);
  }

  double **g = grad_on("c64", &o, d, theta);
  double **gf = grad_on("c", &o, d, theta);

  /* Central differences on c64, one parameter at a time. */
  phx_backend *b;
  phx_net *n;
  net_on("c64", &o, d, &b, &n);
  for (int l = 0; l < nlayers; l++)
    if (phx_net_set_theta64(n, l, theta[l], &err)) die("set_theta64", &err);
  const double L0 = net_loss(n, 0);
  int failures = 0;
  printf("%s (loss %s%s, ratio %.2f, neuron %s%s, L = %.6f)\n", label,
         loss == PHX_LOSS_CE ? "ce" : "mse", regress ? " on target voltages" : "", ratio,
         !g_curve ? "tanh" : load_aware == 2 ? "table, loads returned"
                   : load_aware ? "table, load-aware" : "table",
         g_offsets ? ", offsets" : "", L0);
  for (int l = 0; l < nlayers; l++) {
    double emax = 0, gmax = 0, fmax_ = 0;
    for (size_t i = 0; i < cnt[l]; i++) {
      const double t = theta[l][i], h = 1e-6 * fmax(1.0, fabs(t));
      theta[l][i] = t + h;
      phx_net_set_theta64(n, l, theta[l], &err);
      const double lp = net_loss(n, 0);
      theta[l][i] = t - h;
      phx_net_set_theta64(n, l, theta[l], &err);
      const double lm = net_loss(n, 0);
      theta[l][i] = t;
      const double fd = (lp - lm) / (2 * h);
      emax = fmax(emax, fabs(fd - g[l][i]));
      gmax = fmax(gmax, fabs(g[l][i]));
      fmax_ = fmax(fmax_, fabs(gf[l][i] - g[l][i]));
    }
    phx_net_set_theta64(n, l, theta[l], &err);
    const double rel = emax / gmax, relf = fmax_ / gmax;
    const int ok = gmax > 0 && rel <= 1e-6, okf = relf <= 1e-4;
    printf("  layer %d (%zu params): max|g| %.3e  fd rel err %.3e %s  c vs c64 rel err %.3e %s\n",
           l, cnt[l], gmax, rel, ok ? "ok" : "FAIL", relf, okf ? "ok" : "FAIL");
    failures += !ok + !okf;
  }
  phx_net_free(n);
  phx_backend_free(b);
  for (int l = 0; l < nlayers; l++) {
    free(theta[l]);
    free(g[l]);
    free(gf[l]);
  }
  free(g);
  free(gf);
  phx_dataset_free(d);
  return failures;
}

/* A table neuron like a weak inverter: a steep curve that sags under
 * load through 100 kOhm and shifts a little; loads 0 to 5 uS, past what
 * the small nets' rows see (0.36 to 4 uS at ratio 8.33). */
enum { TL = 6, TNV = 101 };
static double t_table[TL * TNV * 2];
static const double t_loads[TL] = {0, 0.5e-6, 1e-6, 2e-6, 3e-6, 5e-6};

static phx_curve make_curve(void) {
  const double v0 = -0.25, dv = 0.5 / (TNV - 1);
  for (int k = 0; k < TL; k++)
    for (int i = 0; i < TNV; i++) {
      const double v = v0 + i * dv, G = t_loads[k];
      t_table[(k * TNV + i) * 2] = -0.25 * tanh(20 * (v + 0.02 + 2e3 * G)) / (1 + 1e5 * G);
    }
  phx_curve_slopes(t_table, TL, TNV, dv);
  const phx_curve c = {TL, TNV, v0, dv, t_table, t_loads};
  return c;
}

int main(void) {
  static const int one_hidden[] = {6, 5, 3}, two_hidden[] = {6, 5, 4, 3};
  int failures = 0;
  for (int loss = 0; loss <= 1; loss++) {
    phx_loss ls = loss ? PHX_LOSS_MSE : PHX_LOSS_CE;
    failures += check_case("6-5-3", one_hidden, 2, ls, 8.33, 1, 0, 0);
    failures += check_case("6-5-4-3", two_hidden, 3, ls, 8.33, 2, 0, 0);
  }
  /* The device's full conductance range. */
  failures += check_case("6-5-4-3", two_hidden, 3, PHX_LOSS_CE, 66.0, 3, 0, 0);
  /* Regression (issue 12): the loss against each sample's target row. */
  failures += check_case("6-5-4-3", two_hidden, 3, PHX_LOSS_MSE, 8.33, 7, 0, 1);
  /* Neuron offsets (issue 7) on the tanh fits */
  g_offsets = 1;
  failures += check_case("6-5-4-3", two_hidden, 3, PHX_LOSS_CE, 8.33, 9, 0, 0);
  g_offsets = 0;
  /* Table neurons, unloaded and loaded by the next layer's rows: the load
   * gradient reaches theta through row_load and map_backward. */
  const phx_curve c = make_curve();
  g_curve = &c;
  failures += check_case("6-5-3", one_hidden, 2, PHX_LOSS_CE, 8.33, 4, 0, 0);
  failures += check_case("6-5-3", one_hidden, 2, PHX_LOSS_CE, 8.33, 5, 1, 0);
  failures += check_case("6-5-4-3", two_hidden, 3, PHX_LOSS_MSE, 8.33, 6, 1, 0);
  /* ... and regression through the loaded table neurons */
  failures += check_case("6-5-4-3", two_hidden, 3, PHX_LOSS_MSE, 8.33, 8, 1, 1);
  /* ... and offsets before the loaded table neurons */
  g_offsets = 1;
  failures += check_case("6-5-4-3", two_hidden, 3, PHX_LOSS_CE, 8.33, 10, 1, 0);
  /* Returned loads: rows and the next layer's columns solved together,
   * the gradient through the fixed point's adjoint (two coupled pairs in
   * 6-5-4-3), with the offsets, then without */
  failures += check_case("6-5-4-3", two_hidden, 3, PHX_LOSS_CE, 8.33, 11, 2, 0);
  g_offsets = 0;
  failures += check_case("6-5-3", one_hidden, 2, PHX_LOSS_CE, 8.33, 12, 2, 0);
  failures += check_case("6-5-4-3", two_hidden, 3, PHX_LOSS_MSE, 8.33, 13, 2, 0);
  printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
