/* On every OpenCL device: the loss and exact gradient of the paper's model
 * over bundled MNIST samples agree with the C path (relative L2 <= 1e-4 per
 * tensor), also for a table model whose loads return to the next layer's
 * columns, and training twice from one seed gives bit-identical models. */
#include <math.h>
#include <string.h>

#include "phx_config.h"
#include "test_opencl_util.h"
#include "weak_table.h"

/* sqrt(sum (a-b)^2 / sum b^2) */
static double rel_l2(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    den += (double)b[i] * b[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

static size_t layer_size(const phx_model *m, int l) {
  return (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
}

/* The gradient on backend b. */
static phx_status gradient(phx_backend *b, const phx_model *m, const phx_dataset *d,
                           int limit, double *loss, phx_model **g, phx_err *err) {
  phx_status s = phx_model_new(phx_model_get_opts(m), g, err);
  if (!s) s = phx_gradient(b, m, d, limit, loss, *g, err);
  return s;
}

/* One short training run from seed 7; the caller frees *out. */
static phx_status train_once(phx_backend *b, const phx_model_opts *mo,
                             const phx_dataset *d, int limit, int batch,
                             phx_model **out, phx_err *err) {
  phx_status s = phx_model_new(mo, out, err);
  if (s) return s;
  phx_model_init(*out, 7);
  phx_train_opts o;
  phx_train_opts_default(&o);
  o.epochs = 2;
  o.limit = limit;
  o.batch = batch;
  o.seed = 7;
  return phx_train(b, *out, d, NULL, &o, NULL, err);
}

/* Loss and gradient of a returned-load table model (train --load-return):
 * activate_return and its adjoint on the device against the C path.
 * llvmpipe may refuse them instead, naming its loop limiter (it ends a
 * work-item's loops after 65535 iterations in all: the solve would come
 * out wrong); no other device may. */
static void returned_loads(phx_backend *cl, phx_backend *c, const char *spec,
                           const phx_model_opts *base, const phx_dataset *train, int limit,
                           int L, int llvmpipe) {
  phx_model_opts mo = *base;
  mo.load_aware = 2;
  phx_err err = {0};
  phx_model *m = NULL, *gc = NULL, *gr = NULL;
  double lc = 0, lr = 0;
  phx_status s = phx_model_new(&mo, &m, &err);
  if (!s) phx_model_init(m, 5);
  if (!s) s = set_weak_table(m, L, &err);
  if (!s) s = gradient(cl, m, train, limit, &lc, &gc, &err);
  if (s == PHX_ENOBACKEND && llvmpipe) {
    TCL_EXPECT(strstr(err.msg, "65535") != NULL, "%s: returned loads (%d) refused: %s", spec,
               L, err.msg);
    printf("  returned loads (%d): refused (%s)\n", L, err.msg);
    phx_model_free(m);
    phx_model_free(gc);
    return;
  }
  if (!s) s = gradient(c, m, train, limit, &lr, &gr, &err);
  TCL_EXPECT(s == PHX_OK, "%s: returned loads (%d): %s", spec, L, err.msg);
  if (!s) {
    const double dl = fabs(lc - lr) / fabs(lr);
    double e[PHX_MAX_LAYERS], most = dl * 10;
    for (int l = 0; l < mo.nlayers; l++) {
      e[l] = rel_l2(phx_model_theta(gc, l), phx_model_theta(gr, l), layer_size(m, l));
      most = e[l] > most ? e[l] : most;
    }
    printf("  returned loads (%d): loss opencl %.9g c %.9g rel %.2e; gradient relative L2", L,
           lc, lr, dl);
    for (int l = 0; l < mo.nlayers; l++) printf(" %.3e", e[l]);
    printf("\n");
    TCL_EXPECT(dl <= 1e-5, "%s: returned loads (%d): loss differs by %.2e relative", spec, L,
               dl);
    TCL_EXPECT(most <= 1e-4, "%s: returned loads (%d): gradient relative L2 %.3e", spec, L,
               most);
  }
  phx_model_free(m);
  phx_model_free(gc);
  phx_model_free(gr);
}

static void run_device(const phx_cl_dev *dv, const phx_dataset *train) {
  const int small = tcl_is_simulator(dv);
  char spec[32];
  snprintf(spec, sizeof spec, "%d:%d", dv->pidx, dv->didx);
  printf("device %s %s (%s sizes)\n", spec, dv->dname, small ? "small" : "paper");
  phx_model_opts mo;
  phx_model_opts_default(&mo);
  mo.nlayers = 2;
  mo.sizes[0] = phx_dataset_dim(train);
  mo.sizes[1] = small ? 12 : 100;
  mo.sizes[2] = 10;
  const int limit = small ? 12 : 400;
  phx_err err = {0};
  phx_backend *cl = NULL, *c = NULL;
  phx_model *m = NULL, *gc = NULL, *gr = NULL, *t1 = NULL, *t2 = NULL;
  phx_status s = phx_backend_new("opencl", spec, 0, &cl, &err);
  if (!s) s = phx_backend_new("c", NULL, 0, &c, &err);
  if (!s) s = phx_model_new(&mo, &m, &err);
  if (!s) phx_model_init(m, 3);
  double lc = 0, lr = 0;
  if (!s) s = gradient(cl, m, train, limit, &lc, &gc, &err);
  if (!s) s = gradient(c, m, train, limit, &lr, &gr, &err);
  TCL_EXPECT(s == PHX_OK, "%s: gradient: %s", spec, err.msg);
  if (!s) {
    const double dl = fabs(lc - lr) / fabs(lr);
    printf("  loss opencl %.9g c %.9g rel %.2e\n", lc, lr, dl);
    TCL_EXPECT(dl <= 1e-5, "%s: loss differs by %.2e relative", spec, dl);
    for (int l = 0; l < mo.nlayers; l++) {
      const double e = rel_l2(phx_model_theta(gc, l), phx_model_theta(gr, l),
                              layer_size(m, l));
      printf("  grad layer %d relative L2 %.3e\n", l, e);
      TCL_EXPECT(e <= 1e-4, "%s: layer %d gradient relative L2 %.3e > 1e-4", spec, l, e);
    }
  }
  /* determinism: two runs, identical bits */
  const long before = phx_backend_opencl_launches(cl);
  if (!s) s = train_once(cl, &mo, train, small ? 16 : 256, small ? 8 : 32, &t1, &err);
  const long launches = phx_backend_opencl_launches(cl) - before;
  if (!s) s = train_once(cl, &mo, train, small ? 16 : 256, small ? 8 : 32, &t2, &err);
  TCL_EXPECT(s == PHX_OK, "%s: training: %s", spec, err.msg);
  if (!s) {
    for (int l = 0; l < mo.nlayers; l++)
      TCL_EXPECT(memcmp(phx_model_theta(t1, l), phx_model_theta(t2, l),
                        layer_size(t1, l) * sizeof(float)) == 0,
                 "%s: two training runs differ in layer %d", spec, l);
    const double e = rel_l2(phx_model_theta(t1, 0), phx_model_theta(m, 0), layer_size(m, 0));
    TCL_EXPECT(e > 0, "%s: training did not change theta", spec);
    printf("  two training runs identical; %ld kernel launches in one run\n", launches);
    TCL_EXPECT(launches > 0, "%s: no kernel launches counted", spec);
  }
  TCL_EXPECT(phx_backend_opencl_launches(c) == -1, "launch count on the C path");
  for (int i = 0; i < 2 && cl && c; i++)
    returned_loads(cl, c, spec, &mo, train, limit, i ? 200 : 5,
                   strstr(dv->dname, "llvmpipe") != NULL);
  phx_model_free(m);
  phx_model_free(gc);
  phx_model_free(gr);
  phx_model_free(t1);
  phx_model_free(t2);
  phx_backend_free(cl);
  phx_backend_free(c);
}

int main(void) {
  int n = 0;
  phx_cl_dev *devs = tcl_devices(&n);
  phx_dataset *train = NULL, *test = NULL;
  phx_err err = {0};
  if (phx_dataset_load_dir(PHX_SOURCE_DATADIR "/mnist14", 1, &train, &test, &err)) {
    fprintf(stderr, "FAIL: bundled data: %s\n", err.msg);
    free(devs);
    return 1;
  }
  for (int i = 0; i < n; i++) run_device(&devs[i], train);
  phx_dataset_free(train);
  phx_dataset_free(test);
  free(devs);
  return tcl_failures ? 1 : 0;
}
