/* The conductance mapping of docs/model.md, one work-item per crossbar column j
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
                               __global float *dtheta, const int loads,
                               __global const float *drow, __global const float *dgm) {
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
  if (loads) { /* + dL/dG_r (row_load), as S_j dG_r inside (dw - dot) / S_j;
                 * 2: + dgm (returned loads) the same way */
    __global const float *dm = dgm + (size_t)j * R;
    for (int q = 0; q < R; q++)
      out[q] = phx_dtheta(d[q] + sj * (drow[q] + (loads > 1 ? dm[q] : 0.0f)), dot, sj, th[q]);
    return;
  }
  for (r = 0; r + PHX_GV <= R; r += PHX_GV)
    GSTORE(phx_dtheta_v(GLOAD(d + r), dot, sj, GLOAD(th + r)), out + r);
  for (int q = r; q < R; q++) out[q] = phx_dtheta(d[q], dot, sj, th[q]);
}

/* step_map (backend.h): map_backward, the optimizer step and map_forward
 * of one row in one pass, one work-item per row as above. kind: -1 map
 * only, 0 SGD, 1 momentum, 2 Adam. o = (lr, mu, b1, 1-b1, b2, 1-b2, rb2,
 * eps); for Adam o.s0 is lr / (1 - b1^t). P holds s (1 - s) of theta as
 * this kernel last wrote it, so the backward part needs no exp. */

/* One element (T float) or one vector (T GVEC) at t: dtheta from dW, P and
 * the row's dot, the step on theta (and m, v), then the map of the new
 * theta: writes P and returns g / gmin. m and v are touched only by the
 * kinds that own them (the host may pass theta for them). */
#define PHX_STEP_ELEM(NAME, T, LD, ST)                                      \
  T NAME(const int kind, const float8 o, const float dot, const float f,    \
         const T dw, __global float *t, __global float *dt,                 \
         __global float *m, __global float *v, __global float *p) {        \
    T th = LD(t);                                                           \
    if (kind >= 0) {                                                        \
      const T g = f * LD(p) * (dw - dot);                                   \
      ST(g, dt);                                                            \
      if (kind == 0) {                                                      \
        th -= o.s0 * g;                                                     \
      } else if (kind == 1) {                                               \
        const T mi = o.s1 * LD(m) + g;                                      \
        ST(mi, m);                                                          \
        th -= o.s0 * mi;                                                    \
      } else {                                                              \
        const T mi = o.s2 * LD(m) + o.s3 * g;                               \
        const T vi = o.s4 * LD(v) + o.s5 * g * g;                           \
        ST(mi, m);                                                          \
        ST(vi, v);                                                          \
        th -= o.s0 * mi / (sqrt(vi) * o.s6 + o.s7);                         \
      }                                                                     \
      ST(th, t);                                                            \
    }                                                                       \
    /* s (1 - s) as s s e, as the C path forms it (no cancellation near  \
     * s = 1); fmin keeps e = inf (theta < -88) from giving 0 * inf */     \
    const T e = exp(-th), s = 1.0f / (1.0f + e);                            \
    ST(s * s * fmin(e, FLT_MAX), p);                                        \
    return 1.0f + PHX_K * s;                                                \
  }

#define PHX_LD1(p) (*(p))
#define PHX_ST1(x, p) (*(p) = (x))
PHX_STEP_ELEM(phx_step_1, float, PHX_LD1, PHX_ST1)
PHX_STEP_ELEM(phx_step_v, GVEC, GLOAD, GSTORE)

/* n consecutive elements whose dW is sign * d[i]: g / gmin into w, summed
 * lane-wise into *accv; returns the sum of the scalar tail. */
float phx_step_seg(const int kind, const float8 o, const float dot,
                   const float f, const int n, const float sign,
                   __global const float *d, __global float *t,
                   __global float *dt, __global float *m, __global float *v,
                   __global float *p, __global float *w, GVEC *accv) {
  int i = 0;
  for (; i + PHX_GV <= n; i += PHX_GV) {
    const GVEC dw = kind >= 0 ? sign * GLOAD(d + i) : (GVEC)(0.0f);
    const GVEC g = phx_step_v(kind, o, dot, f, dw, t + i, dt + i, m + i, v + i, p + i);
    *accv += g;
    GSTORE(g, w + i);
  }
  float tail = 0.0f;
  for (; i < n; i++) {
    const float dw = kind >= 0 ? sign * d[i] : 0.0f;
    const float g = phx_step_1(kind, o, dot, f, dw, t + i, dt + i, m + i, v + i, p + i);
    tail += g;
    w[i] = g;
  }
  return tail;
}

/* Unused buffers (dWE, dtheta, m, v in map-only mode; m, v for SGD; E when
 * fold == 0) may be any buffer: they are never touched. */
__kernel void phx_step_map(const int M, const int R, const int fold,
                           const int kind, const float8 o,
                           __global float *theta, __global float *W,
                           __global float *S, __global float *E,
                           __global float *P, __global const float *dWE,
                           __global float *dtheta, __global float *m,
                           __global float *v) {
  const int j = (int)get_global_id(0);
  if (j >= M) return;
  const int N = (R - 2) / 2;
  const size_t off = (size_t)j * R;
  __global float *th = theta + off, *w = W + off, *p = P + off;
  __global float *dt = dtheta + off, *mj = m + off, *vj = v + off;
  __global float *e = E + (size_t)j * (N + 1);
  __global const float *d = dWE + (size_t)j * (fold ? N + 1 : R);
  float dot = 0.0f, f = 0.0f;
  if (kind >= 0) {
    /* sum_q dW_q W_q; when fold, the same as the dot of dE with E */
    __global const float *x = fold ? e : w;
    const int n = fold ? N + 1 : R;
    GVEC accv = (GVEC)(0.0f);
    int r = 0;
    for (; r + PHX_GV <= n; r += PHX_GV) accv += GLOAD(d + r) * GLOAD(x + r);
    dot = GSUM(accv);
    for (int q = r; q < n; q++) dot += d[q] * x[q];
    f = (PHX_GMIN * PHX_K) / S[j];
  }
  GVEC accv = (GVEC)(0.0f);
  float tail;
  if (fold) {
    /* dW = [h d0, -h d0, d[1..N], -d[1..N]] (h = vdd/2) */
    const float d0 = kind >= 0 ? PHX_HALF * d[0] : 0.0f;
    w[0] = phx_step_1(kind, o, dot, f, d0, th, dt, mj, vj, p);
    w[1] = phx_step_1(kind, o, dot, f, -d0, th + 1, dt + 1, mj + 1, vj + 1, p + 1);
    tail = w[0] + w[1];
    tail += phx_step_seg(kind, o, dot, f, N, 1.0f, d + 1, th + 2, dt + 2, mj + 2,
                         vj + 2, p + 2, w + 2, &accv);
    tail += phx_step_seg(kind, o, dot, f, N, -1.0f, d + 1, th + 2 + N, dt + 2 + N,
                         mj + 2 + N, vj + 2 + N, p + 2 + N, w + 2 + N, &accv);
  } else {
    tail = phx_step_seg(kind, o, dot, f, R, 1.0f, d, th, dt, mj, vj, p, w, &accv);
  }
  const float sum = GSUM(accv) + tail;
  int r = 0;
  for (; r + PHX_GV <= R; r += PHX_GV) GSTORE(GLOAD(w + r) / sum, w + r);
  for (int q = r; q < R; q++) w[q] = w[q] / sum;
  S[j] = PHX_GMIN * sum;
  if (fold) {
    e[0] = PHX_HALF * (w[0] - w[1]);
    for (int i = 1; i <= N; i++) e[i] = w[1 + i] - w[1 + N + i];
  }
}

/* map_forward of a chip drawn with variation (backend.h, map_vary): the
 * cells i (PHX_GV consecutive ones), uniforms from phx_vary_uniform. */
GVEC phx_vary_cell(GVEC gu, const int levels, const int nl, const float *lv, const int dist,
                   const float sigma, const float read, const float off, const float on,
                   const uint key, const GUVEC i) {
  if (levels >= 2) {
    const float step = PHX_K / (float)(levels - 1);
    gu = 1.0f + rint((gu - 1.0f) / step) * step;
  }
  if (nl > 0) {
    /* a level list (units of gmin): the nearest, the lower on a tie */
    GVEC best = (GVEC)(lv[0]);
    for (int q = 1; q < nl; q++) {
      const GVEC l = (GVEC)(lv[q]);
      best = select(best, l, isless(fabs(l - gu), fabs(best - gu)));
    }
    gu = best;
  }
  if (sigma > 0.0f) {
    const GVEC u1 = phx_vary_uniform(key, i, 0), u2 = phx_vary_uniform(key, i, 1);
    const GVEC n = sqrt(-2.0f * phx_logu(u1)) * phx_cos2pi(u2);
    if (dist == 1) gu = gu * (1.0f + sigma * n);
    else gu = gu * exp(sigma * n);
    gu = select((GVEC)(0.0f), gu, isgreater(gu, (GVEC)(0.0f)));
  }
  if (read > 0.0f) {
    const GVEC u1 = phx_vary_uniform(key, i, 3), u2 = phx_vary_uniform(key, i, 4);
    const GVEC n = sqrt(-2.0f * phx_logu(u1)) * phx_cos2pi(u2);
    gu = gu * (1.0f + read * n);
    gu = select((GVEC)(0.0f), gu, isgreater(gu, (GVEC)(0.0f)));
  }
  if (off > 0.0f || on > 0.0f) {
    /* below off: gmin; else below off + on: gmax */
    const GVEC u = phx_vary_uniform(key, i, 2);
    gu = select(gu, (GVEC)(1.0f + PHX_K), isless(u, (GVEC)(off + on)));
    gu = select(gu, (GVEC)(1.0f), isless(u, (GVEC)(off)));
  }
  return gu;
}

/* map_vary in two launches: the cells, PHX_GV per work-item (the last
 * one's tail padded in private memory), then per column the sum in order,
 * W /= sum, S and E. */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_vary_cells(const uint n, const uint key, const int levels, const int nl,
                    const float16 l0, const float16 l1, const int dist, const float sigma,
                    const float read, const float off, const float on,
                    __global const float *theta, __global float *W) {
  const uint i0 = (uint)get_global_id(0) * PHX_GV;
  if (i0 >= n) return;
  float lv[32]; /* PHX_MAX_LEVEL_LIST, passed by value as two float16 */
  vstore16(l0, 0, lv);
  vstore16(l1, 1, lv);
  const GUVEC i = i0 + GIOTA;
  if (n - i0 >= PHX_GV) {
    GSTORE(phx_vary_cell(phx_gunit_v(GLOAD(theta + i0)), levels, nl, lv, dist, sigma, read, off,
                         on, key, i),
           W + i0);
    return;
  }
  float t[PHX_GV];
  for (uint q = 0; q < PHX_GV; q++) t[q] = q < n - i0 ? theta[i0 + q] : 0.0f;
  GSTORE(phx_vary_cell(phx_gunit_v(GLOAD(t)), levels, nl, lv, dist, sigma, read, off, on, key, i),
         t);
  for (uint q = 0; q < n - i0; q++) W[i0 + q] = t[q];
}

__kernel void phx_vary_columns(const int M, const int R, const int fold, __global float *W,
                               __global float *S, __global float *E) {
  const int j = (int)get_global_id(0);
  if (j >= M) return;
  __global float *w = W + (size_t)j * R;
  float sum = 0.0f;
  for (int r = 0; r < R; r++) sum += w[r];
  for (int r = 0; r < R; r++) w[r] = w[r] / sum;
  S[j] = PHX_GMIN * sum;
  if (fold) {
    const int N = (R - 2) / 2;
    __global float *e = E + (size_t)j * (N + 1);
    e[0] = PHX_HALF * (w[0] - w[1]);
    for (int i = 0; i < N; i++) e[1 + i] = w[2 + i] - w[2 + N + i];
  }
}
