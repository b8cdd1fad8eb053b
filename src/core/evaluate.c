/* Evaluation (loss, accuracy, confusion matrix) and the exact full-batch
 * gradient, both run through the backend-resident network of net.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

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
