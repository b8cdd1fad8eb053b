/* Static power of the crossbars over a data set: forward batches through
 * the backend-resident network, then the crossbar_power op per layer. */
#include <stdlib.h>
#include <string.h>

#include "net.h"

#define POWER_BATCH 256

phx_status phx_crossbar_power(phx_backend *b, const phx_model *m, const phx_dataset *d,
                              int limit, double *mean, double *per_layer, phx_err *err) {
  if (!b || !m || !d || !mean)
    return phx_fail(err, PHX_EINVAL, "phx_crossbar_power: backend, model, data and mean are required");
  if (limit < 0) return phx_fail(err, PHX_EINVAL, "--limit: must be >= 0 (got %d)", limit);
  const phx_model_opts *mo = phx_model_get_opts(m);
  int n = phx_dataset_count(d);
  if (limit > 0 && limit < n) n = limit;
  if (n < 1) return phx_fail(err, PHX_ESHAPE, "the data set is empty");
  const int mb = n < POWER_BATCH ? n : POWER_BATCH;
  double layers[PHX_MAX_LAYERS] = {0};
  double *w = calloc((size_t)mb, sizeof *w);
  if (!w) return phx_fail(err, PHX_ENOMEM, "out of memory");
  phx_net *net = NULL;
  double total = 0;
  phx_status s = phx_net_new(b, mo, mb, &net, err);
  if (!s) s = phx_net_set_theta(net, m, err);
  if (!s) s = phx_net_bind(net, PHX_SLOT_TEST, d, n, err);
  for (int off = 0; !s && off < n; off += mb) {
    const int B = n - off < mb ? n - off : mb;
    memset(w, 0, (size_t)mb * sizeof *w);
    s = phx_net_batch(net, PHX_SLOT_TEST, (size_t)off, B, 1.0, 0, 0, err);
    if (!s) s = phx_net_power(net, B, w, layers, err);
    for (int i = 0; !s && i < B; i++) total += w[i];
  }
  if (!s) {
    *mean = total / n;
    if (per_layer)
      for (int l = 0; l < mo->nlayers; l++) per_layer[l] = layers[l] / n;
  }
  phx_net_free(net);
  free(w);
  return s;
}
