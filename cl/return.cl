/* Returned loads (backend.h: activate_return, activate_return_backward;
 * docs/model.md "Returned loads"): the float port of core/return_solve.c.
 * One work-item per sample; its scratch lies in global memory (WS floats a
 * sample, RET_WS below), its status in st[b]: 0 settled, 1 not (or a
 * singular system), 2 its loops were ended early (phx_ret_ran). */

/* Per sample: sv, sg, sz, zb, u (R each; u only backward), A (R x K),
 * J (K x K), res, dx, x, best, x0 (K each; lam in res backward). */
#define RET_WS(R, K) (5 * (R) + (R) * (K) + (K) * (K) + 5 * (K))
/* How far from x = Wn u(x) a settled sample may be: float rounds the
 * rows' crossings to 1e-5 V at worst (measured on PoCL with the sky130
 * neuron at drive 1), where the double solve of the C path meets
 * core/return_solve.h's 1e-6 V. */
#define PHX_RET_TOL_F32 1e-4f

/* Where v falls in every load's row (return_solve.c's ret_at): the
 * interval i, inside, and the Hermite weights h (phx_tab_hermite), found
 * once for all L samples. */
void phx_ret_locate(const int NV, const float v0, const float dv, const float v, int *i,
                    int *inside, float *h) {
  *i = phx_tab_hermite(NV, phx_tab_place(NV, v0, dv, v, inside), h);
}

/* Load k's output u (return_solve.c's ret_u): at G = loads[k] the table
 * is that load's row alone, evaluated at phx_ret_locate's place (NaN v:
 * NaN u, as phx_tab_eval gives). */
float phx_ret_u(__global const float *T, const int NV, const float dv, const int k,
                const float v, const int i, const float *h) {
  if (isnan(v)) return v;
  return phx_tab_cubic(T + ((size_t)k * (size_t)NV + (size_t)i) * 2, h, dv);
}

/* f at load k from its u. */
float phx_ret_f(__global const float *loads, const int k, const float u, const float G,
                const float zb) {
  return loads[k] * u - G * (u - zb);
}

/* A sample of the output characteristic (return_solve.c's ret_pt) as six
 * floats: u, du/dv, f, df/dv, df/dG, df/dzb; load k's into p. */
void phx_ret_sample(__global const float *T, __global const float *loads, const int NV,
                    const float dv, const int k, const float v, const int i,
                    const int inside, const float *h, const float G, const float zb,
                    float *p) {
  p[0] = phx_ret_u(T, NV, dv, k, v, i, h);
  if (isnan(v) || !inside)
    p[1] = isnan(v) ? v : 0.0f;
  else
    p[1] = phx_tab_cubic(T + ((size_t)k * (size_t)NV + (size_t)i) * 2, h + 4, dv) / dv;
  p[2] = phx_ret_f(loads, k, p[0], G, zb);
  p[3] = (loads[k] - G) * p[1];
  p[4] = -(p[0] - zb);
  p[5] = G;
}

/* The zero of f on the line through samples a and b, and its partials. */
void phx_ret_cross(const float *a, const float *b, float *u, float *uv, float *ug, float *uz) {
  const float den = a[2] - b[2], t = a[2] / den, sb = b[2] / den, du = b[0] - a[0];
  *u = a[0] + t * du;
  *uv = a[1] + t * (b[1] - a[1]) + du * ((t * b[3] - sb * a[3]) / den);
  *ug = du * ((t * b[4] - sb * a[4]) / den);
  *uz = du * ((t * b[5] - sb * a[5]) / den);
}

/* phx_curve_solve: the load line I = G (u - zb) across the polyline; the
 * scan takes f alone, the two samples it settles between in full. */
void phx_ret_row(__global const float *T, __global const float *loads, const int L,
                 const int NV, const float v0, const float dv, const float v, const float G,
                 const float zb, float *u, float *uv, float *ug, float *uz) {
  float a[6], b[6], h[8];
  int i, inside;
  phx_ret_locate(NV, v0, dv, v, &i, &inside, h);
  if (L < 2) {
    phx_ret_sample(T, loads, NV, dv, 0, v, i, inside, h, G, zb, a);
    *u = a[0];
    *uv = a[1];
    *ug = *uz = 0.0f;
    return;
  }
  const float first = phx_ret_f(loads, 0, phx_ret_u(T, NV, dv, 0, v, i, h), G, zb);
  float prev, cur = first;
  for (int k = 1; k < L; k++) {
    prev = cur;
    cur = phx_ret_f(loads, k, phx_ret_u(T, NV, dv, k, v, i, h), G, zb);
    if ((cur > 0.0f) != (prev > 0.0f)) {
      phx_ret_sample(T, loads, NV, dv, k - 1, v, i, inside, h, G, zb, a);
      phx_ret_sample(T, loads, NV, dv, k, v, i, inside, h, G, zb, b);
      phx_ret_cross(a, b, u, uv, ug, uz);
      return;
    }
  }
  /* past the table: the end segment nearer a crossing */
  const int ka = fabs(cur) < fabs(first) ? L - 2 : 0;
  phx_ret_sample(T, loads, NV, dv, ka, v, i, inside, h, G, zb, a);
  phx_ret_sample(T, loads, NV, dv, ka + 1, v, i, inside, h, G, zb, b);
  if (a[2] != b[2]) {
    phx_ret_cross(a, b, u, uv, ug, uz);
    return;
  }
  *u = b[0];
  *uv = b[1];
  *ug = *uz = 0.0f;
}

/* The rows for column voltages x into u, their partials into w's first
 * 4R floats. */
void phx_ret_rows(const int M, const int K, __global const float *T,
                  __global const float *loads, const int L, const int NV, const float v0,
                  const float dv, __global const float *Wn, __global const float *Sn,
                  __global const float *G, __global const float *v, __global const float *x,
                  __global float *u, __global float *w) {
  const int R = 2 * M + 2;
  __global float *sv = w, *sg = w + R, *sz = w + 2 * R, *zb = w + 3 * R;
  u[0] = PHX_HALF;
  u[1] = -PHX_HALF;
  for (int j = 0; j < M; j++)
    for (int q = 0; q < 2; q++) {
      const int r = 2 + q * M + j;
      const float g = G[r];
      float s = 0.0f;
      for (int k = 0; k < K; k++) s += Wn[(size_t)k * R + r] * Sn[k] * x[k];
      zb[r] = g > 0.0f ? s / g : 0.0f;
      float uu, a, b2, c2;
      phx_ret_row(T, loads, L, NV, v0, dv, q ? u[2 + j] : v[j], g, zb[r], &uu, &a, &b2, &c2);
      u[r] = uu;
      sv[r] = a;
      sg[r] = b2;
      sz[r] = c2;
    }
}

/* A = du/dx and J = Wn A. */
void phx_ret_jacobian(const int M, const int K, __global const float *Wn,
                      __global const float *Sn, __global const float *G, __global float *w) {
  const int R = 2 * M + 2;
  __global const float *sv = w, *sz = w + 2 * R;
  __global float *A = w + 5 * R, *J = A + (size_t)R * K;
  for (int k = 0; k < 2 * K; k++) A[k] = 0.0f;
  for (int j = 0; j < M; j++) {
    const int rp = 2 + j, rn = 2 + M + j;
    for (int k = 0; k < K; k++) {
      const float ap =
          G[rp] > 0.0f ? sz[rp] * Wn[(size_t)k * R + rp] * Sn[k] / G[rp] : 0.0f;
      const float an =
          G[rn] > 0.0f ? sz[rn] * Wn[(size_t)k * R + rn] * Sn[k] / G[rn] : 0.0f;
      A[(size_t)rp * K + k] = ap;
      A[(size_t)rn * K + k] = sv[rn] * ap + an;
    }
  }
  for (int k = 0; k < K; k++)
    for (int q = 0; q < K; q++) {
      float s = 0.0f;
      for (int r = 2; r < R; r++) s += Wn[(size_t)k * R + r] * A[(size_t)r * K + q];
      J[(size_t)k * K + q] = s;
    }
}

/* (I - J) y = b, or its transpose, in place of b; J is overwritten. */
int phx_ret_lin(__global float *J, const int K, const int trans, __global float *b) {
  for (int i = 0; i < K; i++)
    for (int q = i; q < K; q++) {
      const float a = (float)(i == q) - J[(size_t)i * K + q];
      const float t = (float)(i == q) - J[(size_t)q * K + i];
      J[(size_t)i * K + q] = trans ? t : a;
      J[(size_t)q * K + i] = trans ? a : t;
    }
  for (int c = 0; c < K; c++) {
    int piv = c;
    for (int i = c + 1; i < K; i++)
      if (fabs(J[(size_t)i * K + c]) > fabs(J[(size_t)piv * K + c])) piv = i;
    if (!(fabs(J[(size_t)piv * K + c]) > 0.0f)) return -1;
    if (piv != c) {
      for (int q = 0; q < K; q++) {
        const float t = J[(size_t)c * K + q];
        J[(size_t)c * K + q] = J[(size_t)piv * K + q];
        J[(size_t)piv * K + q] = t;
      }
      const float t = b[c];
      b[c] = b[piv];
      b[piv] = t;
    }
    for (int i = c + 1; i < K; i++) {
      const float f = J[(size_t)i * K + c] / J[(size_t)c * K + c];
      for (int q = c; q < K; q++) J[(size_t)i * K + q] -= f * J[(size_t)c * K + q];
      b[i] -= f * b[c];
    }
  }
  for (int i = K - 1; i >= 0; i--) {
    float s = b[i];
    for (int q = i + 1; q < K; q++) s -= J[(size_t)i * K + q] * b[q];
    b[i] = s / J[(size_t)i * K + i];
  }
  return 0;
}

/* Rows at x, res = Wn u - x; max |res| (NaN stays). */
float phx_ret_residual(const int M, const int K, __global const float *T,
                       __global const float *loads, const int L, const int NV, const float v0,
                       const float dv, __global const float *Wn, __global const float *Sn,
                       __global const float *G, __global const float *v,
                       __global const float *x, __global float *u, __global float *w,
                       __global float *res) {
  const int R = 2 * M + 2;
  phx_ret_rows(M, K, T, loads, L, NV, v0, dv, Wn, Sn, G, v, x, u, w);
  float most = 0.0f;
  for (int k = 0; k < K; k++) {
    float s = 0.0f;
    for (int r = 0; r < R; r++) s += Wn[(size_t)k * R + r] * u[r];
    res[k] = s - x[k];
    if (!(fabs(res[k]) <= most)) most = fabs(res[k]);
  }
  return most;
}

#define RET_ARGS M, K, T, loads, L, NV, v0, dv, Wn, Sn, G

/* Whether this work-item's loops all ran to the end: a device that ends
 * them early (Mesa's llvmpipe, after 65535 iterations in all, far fewer
 * than a sample of the real table takes) then runs the loop below once
 * instead of twice. Its count lives in memory (*s, scratch), so that no
 * compiler knows it and unrolls the loop away. */
int phx_ret_ran(__global int *s) {
  *s = 0;
  while (*s < 2) *s += 1;
  return *s == 2;
}

/* Z (B x M) -> U: Newton on x = Wn u(x) from x = 0 to 1e-7 V, the plain
 * iteration where it stalls; settled within PHX_RET_TOL_F32. */
__kernel void phx_activate_return(const int B, const int M, const int K, const int L,
                                  const int NV, const float v0, const float dv,
                                  __global const float *Z, __global const float *T,
                                  __global const float *loads, __global const float *G,
                                  __global const float *Wn, __global const float *Sn,
                                  __global float *U, __global float *ws, __global int *st) {
  const int b = (int)get_global_id(0);
  if (b >= B) return;
  const int R = 2 * M + 2;
  __global float *w = ws + (size_t)b * RET_WS(R, K);
  __global float *J = w + 5 * R + (size_t)R * K, *res = J + (size_t)K * K, *dx = res + K;
  __global float *x = dx + K, *best = x + K, *x0 = best + K, *u = U + (size_t)b * R;
  __global const float *v = Z + (size_t)b * M;
  for (int k = 0; k < K; k++) x[k] = 0.0f;
  float nr = phx_ret_residual(RET_ARGS, v, x, u, w, res);
  for (int it = 0; it < 30 && nr > 1e-7f && !isnan(nr); it++) {
    phx_ret_jacobian(M, K, Wn, Sn, G, w);
    for (int k = 0; k < K; k++) dx[k] = res[k];
    if (phx_ret_lin(J, K, 0, dx)) break;
    float step = 1.0f, nt = nr;
    for (int k = 0; k < K; k++) x0[k] = x[k];
    /* Below 1e-5 V float's rounding sets the residual, so there only the
     * full step is tried: halving it up to 11 more times took most of the
     * solve's time at drive 1 (14.1 line-search residuals a sample on the
     * sky130 table, 3.9 with this rule; 5.2 and 3.8 at drive 3). */
    for (int h = 0; h < 12; h++, step *= 0.5f) {
      for (int k = 0; k < K; k++) x[k] = x0[k] + step * dx[k];
      nt = phx_ret_residual(RET_ARGS, v, x, u, w, res);
      if (nt < nr || nr <= 1e-5f) break;
    }
    if (!(nt < nr)) { /* stalled: back to x0, its rows in u */
      for (int k = 0; k < K; k++) x[k] = x0[k];
      nr = phx_ret_residual(RET_ARGS, v, x, u, w, res);
      break;
    }
    nr = nt;
  }
  if (!(nr <= PHX_RET_TOL_F32)) {
    float nb = nr; /* u and res are x's */
    for (int k = 0; k < K; k++) best[k] = x[k];
    for (int it = 0; it < 2000 && nr > 1e-7f; it++) {
      for (int k = 0; k < K; k++) x[k] += res[k];
      nr = phx_ret_residual(RET_ARGS, v, x, u, w, res);
      if (nr < nb) {
        nb = nr;
        for (int k = 0; k < K; k++) best[k] = x[k];
      }
    }
    for (int k = 0; k < K; k++) x[k] = best[k];
    nr = phx_ret_residual(RET_ARGS, v, x, u, w, res);
  }
  const int settled = nr <= PHX_RET_TOL_F32;
  st[b] = phx_ret_ran(st + b) ? !settled : 2;
}

/* The adjoint at x = Zn: lam into dZn, dZ, Er, and c per sample into
 * C (B x R) for phx_return_load_grad to sum in sample order. */
__kernel void phx_activate_return_backward(
    const int B, const int M, const int K, const int L, const int NV, const float v0,
    const float dv, __global const float *Z, __global const float *T,
    __global const float *loads, __global const float *G, __global const float *Wn,
    __global const float *Sn, __global const float *Zn, __global float *dZn,
    __global float *dZ, __global float *Er, __global float *C, __global float *ws,
    __global int *st) {
  const int b = (int)get_global_id(0);
  if (b >= B) return;
  const int R = 2 * M + 2;
  __global float *w = ws + (size_t)b * RET_WS(R, K);
  __global float *J = w + 5 * R + (size_t)R * K, *lam = J + (size_t)K * K;
  __global float *u = w + 4 * R, *c = C + (size_t)b * R, *e = Er + (size_t)b * R;
  __global const float *sv = w, *sg = w + R, *sz = w + 2 * R, *zb = w + 3 * R;
  __global float *dzn = dZn + (size_t)b * K;
  phx_ret_rows(M, K, T, loads, L, NV, v0, dv, Wn, Sn, G, Z + (size_t)b * M,
               Zn + (size_t)b * K, u, w);
  phx_ret_jacobian(M, K, Wn, Sn, G, w);
  for (int k = 0; k < K; k++) lam[k] = dzn[k];
  const int singular = phx_ret_lin(J, K, 1, lam);
  for (int k = 0; k < K; k++) dzn[k] = lam[k];
  for (int r = 0; r < R; r++) { /* mu = Wn^T lam, in e for now */
    float s = 0.0f;
    for (int k = 0; k < K; k++) s += lam[k] * Wn[(size_t)k * R + r];
    e[r] = s;
  }
  c[0] = c[1] = e[0] = e[1] = 0.0f;
  for (int j = 0; j < M; j++) {
    const int rp = 2 + j, rn = 2 + M + j;
    const float an = e[rn], ap = e[rp] + an * sv[rn];
    dZ[(size_t)b * M + j] = ap * sv[rp];
    const float ep = G[rp] > 0.0f ? ap * sz[rp] / G[rp] : 0.0f;
    const float en = G[rn] > 0.0f ? an * sz[rn] / G[rn] : 0.0f;
    c[rp] = ap * sg[rp] - ep * zb[rp];
    c[rn] = an * sg[rn] - en * zb[rn];
    e[rp] = ep;
    e[rn] = en;
  }
  st[b] = phx_ret_ran(st + b) ? singular : 2;
}

/* dG (+)= sum over the batch of C, in sample order: one work-item a row. */
__kernel void phx_return_load_grad(const int B, const int R, const int accumulate,
                                   __global const float *C, __global float *dG) {
  const int r = (int)get_global_id(0);
  if (r >= R) return;
  float s = accumulate ? dG[r] : 0.0f;
  for (int b = 0; b < B; b++) s += C[(size_t)b * R + r];
  dG[r] = s;
}
