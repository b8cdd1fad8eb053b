/* The conductance mapping of MODEL.md, one work-group per crossbar column j
 * (row j of theta): theta -> g -> W = g / S, and its backward pass. Row
 * sums use the work-group tree of phx_group_sum. */

/* g / gmin = 1 + k s(theta): the column sum in units of gmin keeps fp32
 * well scaled; W is the same ratio either way. */
float phx_gunit(float t) { return 1.0f + PHX_K * phx_sigmoid(t); }

/* theta (M x R) -> W (M x R), S (M); when fold, also E (M x (N+1)),
 * E[j][0] = vdd/2 (W0 - W1), E[j][1+i] = W[2+i] - W[2+N+i]. E is never
 * touched when fold == 0 (the host passes any buffer). */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_map_forward(const int R, const int fold,
                     __global const float *theta, __global float *W,
                     __global float *S, __global float *E) {
  __local float buf[PHX_WG];
  const int j = (int)get_group_id(0), lid = (int)get_local_id(0);
  __global const float *th = theta + (size_t)j * R;
  __global float *w = W + (size_t)j * R;
  float acc = 0.0f;
  for (int r = lid; r < R; r += PHX_WG) acc += phx_gunit(th[r]);
  const float sum = phx_group_sum(buf, acc);
  for (int r = lid; r < R; r += PHX_WG) w[r] = phx_gunit(th[r]) / sum;
  if (lid == 0) S[j] = PHX_GMIN * sum;
  if (fold) {
    const int N = (R - 2) / 2;
    __global float *e = E + (size_t)j * (N + 1);
    for (int i = lid; i <= N; i += PHX_WG) {
      if (i == 0)
        e[0] = PHX_HALF * (phx_gunit(th[0]) / sum - phx_gunit(th[1]) / sum);
      else
        e[i] = phx_gunit(th[1 + i]) / sum - phx_gunit(th[1 + N + i]) / sum;
    }
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

/* dL/dW (or dL/dE when fold) -> dL/dtheta:
 * dg = (dW - sum_q dW_q W_q) / S, dtheta = dg gmin k s (1 - s). */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_map_backward(const int R, const int fold,
                      __global const float *theta, __global const float *W,
                      __global const float *S, __global const float *dWE,
                      __global float *dtheta) {
  __local float buf[PHX_WG];
  const int j = (int)get_group_id(0), lid = (int)get_local_id(0);
  const int N = (R - 2) / 2;
  __global const float *th = theta + (size_t)j * R;
  __global const float *w = W + (size_t)j * R;
  __global const float *d = dWE + (size_t)j * (fold ? N + 1 : R);
  __global float *out = dtheta + (size_t)j * R;
  float acc = 0.0f;
  for (int r = lid; r < R; r += PHX_WG) acc += phx_dw_at(d, r, N, fold) * w[r];
  const float dot = phx_group_sum(buf, acc);
  const float sj = S[j];
  for (int r = lid; r < R; r += PHX_WG) {
    const float s = phx_sigmoid(th[r]);
    const float dg = (phx_dw_at(d, r, N, fold) - dot) / sj;
    out[r] = dg * (PHX_GMIN * PHX_K) * s * (1.0f - s);
  }
}
