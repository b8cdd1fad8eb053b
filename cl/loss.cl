/* The loss of docs/model.md on the network outputs o = U[b][2+j], one work-item
 * per sample (the sum over outputs runs in a fixed order). Targets are
 * +vdd/2 for the true class and -vdd/2 for the others, or with has_targets
 * the sample's row of target voltages (regression, squared error). */

/* Per-sample loss (summed over outputs) and argmax (first on ties) at
 * lossv/pred[ooff+b]; when want_grad, dU = scale dloss/dU with zeros in the
 * columns that are not o- outputs (dU is untouched otherwise). */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_loss(const int B, const int M, const int count, __global const float *U,
              __global const int *labels, __global const int *idx,
              const uint ioff, const float scale, __global float *lossv,
              __global int *pred, const uint ooff, const int want_grad,
              __global float *dU, const int has_targets,
              __global const float *targets) {
  const size_t b = get_global_id(0);
  if (b >= (size_t)B) return;
  const size_t cols = 2 * (size_t)M + 2;
  __global const float *u = U + b * cols;
  __global float *du = dU + b * cols;
  const int s = idx[ioff + b];
  if ((uint)s >= (uint)count) { /* outside labels: NaN loss, never a stray read */
    lossv[ooff + b] = NAN;
    pred[ooff + b] = -1;
    return;
  }
  /* regression: squared error against the sample's target voltages */
  const int label = has_targets ? -1 : labels[s];
  __global const float *t = targets + (has_targets ? (size_t)s * (size_t)M : 0);
  float sum = 0.0f, best = u[2];
  int arg = 0;
  for (int j = 0; j < M; j++) {
    const float o = u[2 + j];
    if (o > best) { best = o; arg = j; }
    const int hit = j == label;
    float l, dl;
    if (has_targets) {
      const float e = o - t[j];
      l = e * e;
      dl = 2.0f * e;
    } else {
#if PHX_LOSS == 0
    /* binary cross-entropy on h = (o + vdd/2) / vdd against y' in {0, 1}:
     * -log q with q the probability of the target side (h for the true
     * class, 1 - h = (vdd/2 - o) / vdd otherwise, without cancellation),
     * q clamped to [eps, 1 - eps], zero gradient where the clamp acts */
    const float q = (hit ? o + PHX_HALF : PHX_HALF - o) / PHX_VDD;
    const float qc = clamp(q, PHX_CE_EPS, 1.0f - PHX_CE_EPS);
    l = -log(qc);
    dl = (q < PHX_CE_EPS || q > 1.0f - PHX_CE_EPS)
             ? 0.0f
             : (hit ? -1.0f / PHX_VDD : 1.0f / PHX_VDD) / qc;
#else
    const float y = hit ? PHX_HALF : -PHX_HALF;
    l = (o - y) * (o - y);
    dl = 2.0f * (o - y);
#endif
    }
    sum += l;
    if (want_grad) du[2 + j] = scale * dl;
  }
  if (want_grad) {
    du[0] = 0.0f;
    du[1] = 0.0f;
    for (int j = 0; j < M; j++) du[2 + M + j] = 0.0f;
  }
  lossv[ooff + b] = sum;
  pred[ooff + b] = arg;
}
