/* The conductance mapping of MODEL.md, one work-item per crossbar column j
 * (row j of theta), launched as single-work-item groups: theta -> g ->
 * W = g / S, and its backward pass. Rows run in explicit vectors of PHX_GV
 * (GVEC, GLOAD from gemm.cl) so that exp vectorises on CPU devices; each
 * row sum runs lane-wise then across lanes, then over the tail: a fixed
 * order, the same on every run. */

/* g / gmin = 1 + k s(theta): the column sum in units of gmin keeps fp32
 * well scaled; W is the same ratio either way. */
float phx_gunit(float t) { return 1.0f + PHX_K * phx_sigmoid(t); }
GVEC phx_gunit_v(GVEC t) { return 1.0f + PHX_K * (1.0f / (1.0f + exp(-t))); }

/* theta (M x R) -> W (M x R), S (M); when fold, also E (M x (N+1)),
 * E[j][0] = vdd/2 (W0 - W1), E[j][1+i] = W[2+i] - W[2+N+i]. E is never
 * touched when fold == 0 (the host passes any buffer). */
__kernel void phx_map_forward(const int M, const int R, const int fold,
                              __global const float *theta, __global float *W,
                              __global float *S, __global float *E) {
  const int j = (int)get_global_id(0);
  if (j >= M) return;
  __global const float *th = theta + (size_t)j * R;
  __global float *w = W + (size_t)j * R;
  /* g into W first (one exp per element), then the sum, then W /= sum */
  GVEC accv = (GVEC)(0.0f);
  int r = 0;
  for (; r + PHX_GV <= R; r += PHX_GV) {
    const GVEC g = phx_gunit_v(GLOAD(th + r));
    accv += g;
    GSTORE(g, w + r);
  }
  float sum = GSUM(accv);
  for (int q = r; q < R; q++) {
    const float g = phx_gunit(th[q]);
    sum += g;
    w[q] = g;
  }
  for (r = 0; r + PHX_GV <= R; r += PHX_GV) GSTORE(GLOAD(w + r) / sum, w + r);
  for (int q = r; q < R; q++) w[q] = w[q] / sum;
  S[j] = PHX_GMIN * sum;
  if (fold) {
    const int N = (R - 2) / 2;
    __global float *e = E + (size_t)j * (N + 1);
    e[0] = PHX_HALF * (w[0] - w[1]);
    for (int i = 1; i <= N; i++) e[i] = w[1 + i] - w[1 + N + i];
  }
}

/* dL/dW of element r of a row, or, when fold, expanded from dL/dE. */
float phx_dw_at(__global const float *d, const int r, const int N,
                const int fold) {
  if (!fold) return d[r];
  if (r == 0) return PHX_HALF * d[0];
  if (r == 1) return -PHX_HALF * d[0];
  if (r < 2 + N) return d[r - 1];
  return -d[r - 1 - N];
}

/* dL/dtheta of one element from dL/dW, the row's dot and 1/S. */
float phx_dtheta(float dw, float dot, float sj, float t) {
  const float s = phx_sigmoid(t);
  return (dw - dot) / sj * (PHX_GMIN * PHX_K) * s * (1.0f - s);
}

GVEC phx_dtheta_v(GVEC dw, float dot, float sj, GVEC t) {
  const GVEC s = 1.0f / (1.0f + exp(-t));
  return (dw - dot) / sj * (PHX_GMIN * PHX_K) * s * (1.0f - s);
}

/* dL/dW (or dL/dE when fold) -> dL/dtheta:
 * dg = (dW - sum_q dW_q W_q) / S, dtheta = dg gmin k s (1 - s). */
__kernel void phx_map_backward(const int M, const int R, const int fold,
                               __global const float *theta, __global const float *W,
                               __global const float *S, __global const float *dWE,
                               __global float *dtheta) {
  const int j = (int)get_global_id(0);
  if (j >= M) return;
  const int N = (R - 2) / 2;
  __global const float *th = theta + (size_t)j * R;
  __global const float *w = W + (size_t)j * R;
  __global const float *d = dWE + (size_t)j * (fold ? N + 1 : R);
  __global float *out = dtheta + (size_t)j * R;
  const float sj = S[j];
  if (fold) {
    /* dW = [h d0, -h d0, d[1..N], -d[1..N]] (h = vdd/2), over i = 0..N-1 */
    GVEC accv = (GVEC)(0.0f);
    int i = 0;
    for (; i + PHX_GV <= N; i += PHX_GV)
      accv += GLOAD(d + 1 + i) * (GLOAD(w + 2 + i) - GLOAD(w + 2 + N + i));
    float dot = PHX_HALF * d[0] * (w[0] - w[1]) + GSUM(accv);
    for (int q = i; q < N; q++) dot += d[1 + q] * (w[2 + q] - w[2 + N + q]);
    out[0] = phx_dtheta(PHX_HALF * d[0], dot, sj, th[0]);
    out[1] = phx_dtheta(-PHX_HALF * d[0], dot, sj, th[1]);
    for (i = 0; i + PHX_GV <= N; i += PHX_GV) {
      const GVEC dv = GLOAD(d + 1 + i);
      GSTORE(phx_dtheta_v(dv, dot, sj, GLOAD(th + 2 + i)), out + 2 + i);
      GSTORE(phx_dtheta_v(-dv, dot, sj, GLOAD(th + 2 + N + i)), out + 2 + N + i);
    }
    for (int q = i; q < N; q++) {
      out[2 + q] = phx_dtheta(d[1 + q], dot, sj, th[2 + q]);
      out[2 + N + q] = phx_dtheta(-d[1 + q], dot, sj, th[2 + N + q]);
    }
    return;
  }
  GVEC accv = (GVEC)(0.0f);
  int r = 0;
  for (; r + PHX_GV <= R; r += PHX_GV) accv += GLOAD(d + r) * GLOAD(w + r);
  float dot = GSUM(accv);
  for (int q = r; q < R; q++) dot += d[q] * w[q];
  for (r = 0; r + PHX_GV <= R; r += PHX_GV)
    GSTORE(phx_dtheta_v(GLOAD(d + r), dot, sj, GLOAD(th + r)), out + r);
  for (int q = r; q < R; q++) out[q] = phx_dtheta(d[q], dot, sj, th[q]);
}
