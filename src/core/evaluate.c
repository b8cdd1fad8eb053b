/* Evaluation (loss, accuracy, confusion matrix) and the exact full-batch
 * gradient, both run through the backend-resident network of net.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "scaling.h"

/* Largest batch used for a forward or gradient sweep. */
#define SWEEP_BATCH 256

/* A dataset must feed the model's inputs and fit its outputs. */
static phx_status check_data(const phx_model *m, const phx_dataset *d,
                             phx_err *err) {
  const phx_model_opts *mo = phx_model_get_opts(m);
  int in = mo->sizes[0], out = mo->sizes[mo->nlayers];
  if (phx_dataset_count(d) < 1) return phx_fail(err, PHX_ESHAPE, "the data set is empty");
  if (phx_dataset_dim(d) != in)
    return phx_fail(err, PHX_ESHAPE,
                    "the data has %d inputs per sample but the model expects %d",
                    phx_dataset_dim(d), in);
  if (phx_dataset_classes(d) > out)
    return phx_fail(err, PHX_ESHAPE,
                    "the data has %d classes but the model has only %d outputs",
                    phx_dataset_classes(d), out);
  return PHX_OK;
}

/* Runs slot `slot` of net through batches of at most SWEEP_BATCH samples;
 * with grad, accumulates the gradient of the mean loss over count. */
static phx_status sweep(phx_net *net, int slot, int count, int grad, phx_err *err) {
  int mb = phx_net_max_batch(net);
  for (int off = 0; off < count; off += mb) {
    int B = count - off < mb ? count - off : mb;
    phx_status s = phx_net_batch(net, slot, (size_t)off, B,
                                 grad ? 1.0 / count : 1.0, grad, off > 0, err);
    if (s) return s;
  }
  return PHX_OK;
}

/* A loss that overflowed (e.g. a huge but finite theta) is an error, not a
 * result: callers would print "nan" and exit 0. */
static phx_status check_loss(double sum, int n, phx_err *err) {
  if (isfinite(sum)) return PHX_OK;
  return phx_fail(err, PHX_ENAN,
                  "the loss over %d samples is not finite (%g): the model's parameters "
                  "overflow the float range", n, sum);
}

/* Forward pass over all of d; the confusion matrix is outputs x outputs
 * (the model's class count), row = true class, column = prediction. */
phx_status phx_evaluate(phx_backend *b, const phx_model *m, const phx_dataset *d,
                        phx_eval_result *res, int64_t *confusion, phx_err *err) {
  if (!b || !m || !d || !res)
    return phx_fail(err, PHX_EINVAL, "phx_evaluate: backend, model, data and result are required");
  phx_status s = check_data(m, d, err);
  if (s) return s;
  const phx_model_opts *mo = phx_model_get_opts(m);
  int n = phx_dataset_count(d), classes = mo->sizes[mo->nlayers];
  int32_t *pred = NULL, *truth = NULL;
  if (confusion) {
    pred = malloc(sizeof *pred * (size_t)n);
    truth = malloc(sizeof *truth * (size_t)n);
    if (!pred || !truth) {
      free(pred);
      free(truth);
      return phx_fail(err, PHX_ENOMEM, "out of memory for %d predictions", n);
    }
  }
  phx_net *net = NULL;
  double sum = 0;
  long correct = 0;
  s = phx_net_new(b, mo, n < SWEEP_BATCH ? n : SWEEP_BATCH, &net, err);
  if (!s) s = phx_net_set_theta(net, m, err);
  if (!s) s = phx_net_bind(net, PHX_SLOT_TEST, d, 0, err);
  if (!s) s = sweep(net, PHX_SLOT_TEST, n, 0, err);
  if (!s) s = phx_net_metrics(net, PHX_SLOT_TEST, n, &sum, &correct, pred, truth, err);
  if (!s) s = check_loss(sum, n, err);
  if (!s) {
    res->count = n;
    res->loss = sum / n;
    res->accuracy = (double)correct / n;
    if (confusion) {
      memset(confusion, 0, sizeof *confusion * (size_t)classes * (size_t)classes);
      for (int i = 0; i < n; i++) {
        if (pred[i] < 0 || pred[i] >= classes || truth[i] < 0 || truth[i] >= classes) {
          s = phx_fail(err, PHX_EINTERNAL, "prediction %d or label %d out of range",
                       (int)pred[i], (int)truth[i]);
          break;
        }
        confusion[(size_t)truth[i] * (size_t)classes + (size_t)pred[i]]++;
      }
    }
  }
  if (net) phx_net_free(net);
  free(pred);
  free(truth);
  return s;
}

/* Mean loss over the first `limit` samples and its exact gradient, read
 * back into grad (which must have m's shape). */
phx_status phx_gradient(phx_backend *b, const phx_model *m, const phx_dataset *d,
                        int limit, double *loss, phx_model *grad, phx_err *err) {
  if (!b || !m || !d || !grad)
    return phx_fail(err, PHX_EINVAL, "phx_gradient: backend, model, data and grad are required");
  if (limit < 0) return phx_fail(err, PHX_EINVAL, "--limit: must be >= 0 (got %d)", limit);
  phx_status s = check_data(m, d, err);
  if (s) return s;
  const phx_model_opts *mo = phx_model_get_opts(m), *go = phx_model_get_opts(grad);
  if (go->nlayers != mo->nlayers)
    return phx_fail(err, PHX_ESHAPE, "gradient holder has %d layers, the model %d",
                    go->nlayers, mo->nlayers);
  for (int l = 0; l <= mo->nlayers; l++)
    if (go->sizes[l] != mo->sizes[l])
      return phx_fail(err, PHX_ESHAPE, "gradient holder size %d is %d, the model's %d",
                      l, go->sizes[l], mo->sizes[l]);
  int n = phx_dataset_count(d);
  if (limit > 0 && limit < n) n = limit;
  phx_net *net = NULL;
  double sum = 0;
  long correct = 0;
  s = phx_net_new(b, mo, n < SWEEP_BATCH ? n : SWEEP_BATCH, &net, err);
  if (!s) s = phx_net_set_theta(net, m, err);
  if (!s) s = phx_net_bind(net, PHX_SLOT_TRAIN, d, n, err);
  if (!s) s = sweep(net, PHX_SLOT_TRAIN, n, 1, err);
  if (!s) s = phx_net_grad_finish(net, err);
  if (!s) s = phx_net_metrics(net, PHX_SLOT_TRAIN, n, &sum, &correct, NULL, NULL, err);
  if (!s) s = check_loss(sum, n, err);
  if (!s) s = phx_net_get_grad(net, grad, err);
  for (int l = 0; l < mo->nlayers && !s; l++) {
    const float *g = phx_model_theta_const(grad, l);
    size_t R = (size_t)phx_model_cols(grad, l), cnt = (size_t)phx_model_rows(grad, l) * R;
    for (size_t i = 0; i < cnt; i++)
      if (!isfinite(g[i])) {
        s = phx_fail(err, PHX_ENAN, "the gradient of layer %d, element [%zu, %zu], is not "
                     "finite (%g)", l, i / R, i % R, g[i]);
        break;
      }
  }
  if (!s && loss) *loss = sum / n;
  if (net) phx_net_free(net);
  return s;
}

/* Forward passes batch by batch, reading each batch's outputs back and
 * comparing them with the targets in the model's target units. */
phx_status phx_evaluate_regression(phx_backend *b, const phx_model *m, const phx_dataset *d,
                                   phx_regress_result *res, double *pred, phx_err *err) {
  if (!b || !m || !d || !res)
    return phx_fail(err, PHX_EINVAL,
                    "phx_evaluate_regression: backend, model, data and result are required");
  const int T = phx_model_targets(m);
  if (!T) return phx_fail(err, PHX_EINVAL, "the model is a classifier, not a regression model");
  if (phx_dataset_targets(d) != T)
    return phx_fail(err, PHX_ESHAPE, "the data has %d targets but the model %d",
                    phx_dataset_targets(d), T);
  phx_status s = check_data(m, d, err);
  if (s) return s;
  const phx_model_opts *mo = phx_model_get_opts(m);
  const int n = phx_dataset_count(d);
  const float *yv = phx_dataset_y(d);
  double *lo = calloc((size_t)T, sizeof *lo), *hi = calloc((size_t)T, sizeof *hi);
  double *out = malloc((size_t)(n < SWEEP_BATCH ? n : SWEEP_BATCH) * (size_t)T * sizeof *out);
  phx_net *net = NULL;
  if (!lo || !hi || !out) s = phx_fail(err, PHX_ENOMEM, "out of memory for %d outputs", n);
  /* the targets' range over d, in target units, bounds mre's denominator */
  for (int j = 0; !s && j < T; j++) {
    lo[j] = hi[j] = phx_model_unscale_target(m, j, yv[j]);
    for (int i = 1; i < n; i++) {
      const double y = phx_model_unscale_target(m, j, yv[(size_t)i * T + j]);
      lo[j] = y < lo[j] ? y : lo[j];
      hi[j] = y > hi[j] ? y : hi[j];
    }
  }
  if (!s) s = phx_net_new(b, mo, n < SWEEP_BATCH ? n : SWEEP_BATCH, &net, err);
  if (!s) s = phx_net_set_theta(net, m, err);
  if (!s) s = phx_net_bind(net, PHX_SLOT_TEST, d, 0, err);
  double sv = 0, se = 0, sr = 0, mx = 0;
  const int mb = net ? phx_net_max_batch(net) : 1;
  for (int off = 0; !s && off < n; off += mb) {
    const int B = n - off < mb ? n - off : mb;
    s = phx_net_batch(net, PHX_SLOT_TEST, (size_t)off, B, 1.0, 0, 0, err);
    if (!s) s = phx_net_outputs(net, B, out, err);
    for (int i = 0; !s && i < B; i++)
      for (int j = 0; j < T; j++) {
        const size_t k = (size_t)(off + i) * T + j;
        const double o = out[(size_t)i * T + j], ev = o - yv[k];
        const double p = phx_model_unscale_target(m, j, o);
        const double y = phx_model_unscale_target(m, j, yv[k]), e = fabs(p - y);
        const double floor_y = 1e-3 * (hi[j] - lo[j]);
        sv += ev * ev;
        se += e * e;
        sr += e / (fabs(y) > floor_y ? fabs(y) : floor_y > 0 ? floor_y : 1);
        mx = e > mx ? e : mx;
        if (pred) pred[k] = p;
      }
  }
  if (!s && !(isfinite(sv) && isfinite(se)))
    s = check_loss(NAN, n, err);
  if (!s) {
    const double cnt = (double)n * T;
    res->count = n;
    res->targets = T;
    res->mse_v = sv / cnt;
    res->mse = se / cnt;
    res->rmse = sqrt(res->mse);
    res->mre = sr / cnt;
    res->max_err = mx;
  }
  if (net) phx_net_free(net);
  free(lo);
  free(hi);
  free(out);
  return s;
}
