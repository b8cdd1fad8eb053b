/* Table neurons (backend.h: activate_table, activate_table_backward,
 * row_load; docs/model.md "Table neurons and loading"): one inverter's
 * F(v; G) as a cubic Hermite in v per tabulated load, linear in G. */

/* Input v's place in steps from v0, clamped into [0, NV-1]; *inside is 0
 * where it was clamped (core/curve.h's phx_curve_place). */
float phx_tab_place(const int NV, const float v0, const float dv, const float v, int *inside) {
  float x = (v - v0) / dv;
  *inside = 1;
  if (!(x > 0.0f)) { x = 0.0f; *inside = 0; }
  if (x > (float)(NV - 1)) { x = (float)(NV - 1); *inside = 0; }
  return x;
}

/* The cubic Hermite at place x (clamped): returns the interval i and puts
 * the weights of y_i, m_i, y_i+1, m_i+1 for the value in h[0..3] and for
 * the slope (times dv) in h[4..7] (core/curve.h's phx_curve_hermite). */
int phx_tab_hermite(const int NV, const float x, float *h) {
  int i = (int)x;
  if (i > NV - 2) i = NV - 2;
  const float t = x - (float)i, t2 = t * t, t3 = t2 * t;
  h[0] = 2.0f * t3 - 3.0f * t2 + 1.0f;
  h[1] = t3 - 2.0f * t2 + t;
  h[2] = 3.0f * t2 - 2.0f * t3;
  h[3] = t3 - t2;
  h[4] = 6.0f * t2 - 6.0f * t;
  h[5] = 3.0f * t2 - 4.0f * t + 1.0f;
  h[6] = 6.0f * t - 6.0f * t2;
  h[7] = 3.0f * t2 - 2.0f * t;
  return i;
}

/* One interval's cubic from its ends p = (y_i, s_i, y_i+1, s_i+1) and
 * four of phx_tab_hermite's weights (h: the value; h + 4: the slope once
 * divided by dv; core/curve.h's phx_curve_cubic). */
float phx_tab_cubic(__global const float *p, const float *h, const float dv) {
  return h[0] * p[0] + h[1] * (p[1] * dv) + h[2] * p[2] + h[3] * (p[3] * dv);
}

/* One load's cubic at x steps from v0 (x already clamped). */
void phx_tab_row(__global const float *row, const int NV, const float x, const float dv,
                 float *f, float *fv) {
  float h[8];
  __global const float *p = row + 2 * phx_tab_hermite(NV, x, h);
  *f = phx_tab_cubic(p, h, dv);
  *fv = phx_tab_cubic(p, h + 4, dv) / dv;
}

/* F(v; G), dF/dv, dF/dG; NaN in gives NaN out. */
void phx_tab_eval(__global const float *T, __global const float *loads, const int L,
                  const int NV, const float v0, const float dv, const float v, const float G,
                  float *f, float *fv, float *fg) {
  if (isnan(v)) {
    *f = *fv = *fg = v;
    return;
  }
  int inside, k = 0;
  const float x = phx_tab_place(NV, v0, dv, v, &inside);
  float w = 0.0f;
  if (L > 1 && G > loads[0]) {
    if (G >= loads[L - 1]) {
      k = L - 2;
      w = 1.0f;
    } else {
      int hi = L - 1;
      while (hi - k > 1) {
        const int mid = (k + hi) / 2;
        if (loads[mid] <= G) k = mid;
        else hi = mid;
      }
      w = (G - loads[k]) / (loads[k + 1] - loads[k]);
    }
  }
  __global const float *r0 = T + (size_t)k * (size_t)NV * 2;
  float f0, d0, f1 = 0.0f, d1 = 0.0f;
  phx_tab_row(r0, NV, x, dv, &f0, &d0);
  if (L > 1) phx_tab_row(r0 + (size_t)NV * 2, NV, x, dv, &f1, &d1);
  *f = (1.0f - w) * f0 + w * f1;
  *fv = inside ? (1.0f - w) * d0 + w * d1 : 0.0f;
  *fg = (L > 1 && G > loads[0] && G < loads[L - 1]) ? (f1 - f0) / (loads[k + 1] - loads[k])
                                                      : 0.0f;
}

/* One work-item per (sample, neuron). */
__kernel void phx_activate_table(const int B, const int M, const int L, const int NV,
                                 const float v0, const float dv, const int loaded,
                                 __global const float *Z, __global const float *T,
                                 __global const float *loads, __global const float *G,
                                 __global float *U) {
  const size_t g = get_global_id(0);
  if (g >= (size_t)B * (size_t)M) return;
  const size_t b = g / (size_t)M;
  const int j = (int)(g - b * (size_t)M);
  __global float *u = U + b * (2 * (size_t)M + 2);
  if (j == 0) {
    u[0] = PHX_HALF;
    u[1] = -PHX_HALF;
  }
  float om, op, fv, fg;
  phx_tab_eval(T, loads, L, NV, v0, dv, Z[g], loaded ? G[2 + j] : 0.0f, &om, &fv, &fg);
  phx_tab_eval(T, loads, L, NV, v0, dv, om, loaded ? G[2 + M + j] : 0.0f, &op, &fv, &fg);
  u[2 + j] = om;
  u[2 + M + j] = op;
}

/* dZ: one work-item per (sample, neuron). */
__kernel void phx_activate_table_backward(const int B, const int M, const int L, const int NV,
                                          const float v0, const float dv, const int loaded,
                                          __global const float *Z, __global const float *T,
                                          __global const float *loads,
                                          __global const float *G, __global const float *dU,
                                          __global float *dZ) {
  const size_t g = get_global_id(0);
  if (g >= (size_t)B * (size_t)M) return;
  const size_t b = g / (size_t)M;
  const int j = (int)(g - b * (size_t)M);
  __global const float *du = dU + b * (2 * (size_t)M + 2);
  float om, omv, omg, op, opv, opg;
  phx_tab_eval(T, loads, L, NV, v0, dv, Z[g], loaded ? G[2 + j] : 0.0f, &om, &omv, &omg);
  phx_tab_eval(T, loads, L, NV, v0, dv, om, loaded ? G[2 + M + j] : 0.0f, &op, &opv, &opg);
  dZ[g] = (du[2 + j] + du[2 + M + j] * opv) * omv;
}

/* dG: one work-item per neuron, summing its samples in order (no float
 * atomics: the same bits every run). */
__kernel void phx_table_load_grad(const int B, const int M, const int L, const int NV,
                                  const float v0, const float dv, const int accumulate,
                                  __global const float *Z, __global const float *T,
                                  __global const float *loads, __global const float *G,
                                  __global const float *dU, __global float *dG) {
  const int j = (int)get_global_id(0);
  if (j >= M) return;
  const size_t RU = 2 * (size_t)M + 2;
  float sm = 0.0f, sp = 0.0f;
  for (int b = 0; b < B; b++) {
    __global const float *du = dU + (size_t)b * RU;
    float om, omv, omg, op, opv, opg;
    phx_tab_eval(T, loads, L, NV, v0, dv, Z[(size_t)b * M + j], G[2 + j], &om, &omv, &omg);
    phx_tab_eval(T, loads, L, NV, v0, dv, om, G[2 + M + j], &op, &opv, &opg);
    sm += (du[2 + j] + du[2 + M + j] * opv) * omg;
    sp += du[2 + M + j] * opg;
  }
  if (accumulate) {
    dG[2 + j] += sm;
    dG[2 + M + j] += sp;
  } else {
    dG[2 + j] = sm;
    dG[2 + M + j] = sp;
  }
  if (j == 0 && !accumulate) dG[0] = dG[1] = 0.0f;
}

/* G[r] = sum_j W[j][r] S[j]: one work-item per row, columns in order. */
__kernel void phx_row_load(const int M, const int R, __global const float *W,
                           __global const float *S, __global float *G) {
  const int r = (int)get_global_id(0);
  if (r >= R) return;
  float g = 0.0f;
  for (int j = 0; j < M; j++) g += W[(size_t)j * R + r] * S[j];
  G[r] = g;
}
