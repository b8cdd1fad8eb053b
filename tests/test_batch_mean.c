/* A mini-batch step is an SGD step on the mean gradient of its samples,
 * the last, smaller batch of an epoch included: one epoch of plain SGD
 * over 5 samples in batches of 2 (2 + 2 + 1) equals three steps built from
 * phx_gradient on the same samples in the epoch's order (phx_epoch_order).
 * Catches a last batch scaled by 1/batch instead of 1/B. */
#include <math.h>
#include <string.h>

#include "net.h"
#include "test_util.h"

#define N 5
#define DIM 6

int main(void) {
  phx_err err = {0};
  float x[N * DIM];
  int32_t y[N];
  for (int i = 0; i < N; i++) {
    for (int j = 0; j < DIM; j++) x[i * DIM + j] = (float)((i * 5 + j * 3) % 7) / 6.0f;
    y[i] = i % 3;
  }
  phx_dataset *d = NULL;
  must(phx_dataset_new(N, DIM, 3, x, y, &d, &err), &err, "dataset");
  phx_backend *b = NULL;
  must(phx_backend_new("c64", NULL, 0, &b, &err), &err, "backend c64");
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.nlayers = 1;
  o.sizes[0] = DIM;
  o.sizes[1] = 3;
  phx_model *trained = NULL, *manual = NULL, *g = NULL;
  must(phx_model_new(&o, &trained, &err), &err, "model");
  must(phx_model_new(&o, &manual, &err), &err, "model");
  must(phx_model_new(&o, &g, &err), &err, "grad");
  phx_model_init(trained, 4);
  phx_model_init(manual, 4);
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.optimizer = PHX_OPT_SGD;
  t.epochs = 1;
  t.batch = 2;
  t.lr = 50; /* the raw gradients are tiny: make the steps visible */
  t.seed = 3;
  must(phx_train(b, trained, d, NULL, &t, NULL, &err), &err, "train");

  int32_t order[N];
  phx_epoch_order(t.seed, 1, order, N);
  size_t n = (size_t)phx_model_rows(manual, 0) * (size_t)phx_model_cols(manual, 0);
  double moved = 0, off = 0;
  float *th = phx_model_theta(manual, 0);
  float start[64];
  memcpy(start, th, n * sizeof *th);
  for (int first = 0; first < N; first += t.batch) {
    int B = N - first < t.batch ? N - first : t.batch;
    float bx[2 * DIM];
    int32_t by[2];
    for (int k = 0; k < B; k++) {
      memcpy(bx + k * DIM, x + order[first + k] * DIM, DIM * sizeof *x);
      by[k] = y[order[first + k]];
    }
    phx_dataset *bd = NULL;
    must(phx_dataset_new(B, DIM, 3, bx, by, &bd, &err), &err, "batch");
    double loss;
    must(phx_gradient(b, manual, bd, 0, &loss, g, &err), &err, "gradient");
    const float *gr = phx_model_theta_const(g, 0);
    for (size_t i = 0; i < n; i++) th[i] = (float)(th[i] - t.lr * gr[i]);
    phx_dataset_free(bd);
  }
  const float *tt = phx_model_theta_const(trained, 0);
  for (size_t i = 0; i < n; i++) {
    moved = fmax(moved, fabs((double)th[i] - start[i]));
    off = fmax(off, fabs((double)tt[i] - th[i]));
  }
  printf("batch_mean: parameters moved up to %.3g, training and manual steps differ by "
         "%.3g\n", moved, off);
  CHECKF(moved > 1e-3, "the steps barely moved the parameters (%.3g): test too weak", moved);
  CHECKF(off <= 1e-5 * moved, "training differs from mean-gradient SGD steps by %.3g", off);
  phx_model_free(trained);
  phx_model_free(manual);
  phx_model_free(g);
  phx_backend_free(b);
  phx_dataset_free(d);
  return finish("batch_mean");
}
