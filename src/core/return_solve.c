/* The returned-load solve of one sample (return_solve.h). */
#include <math.h>

#include "return_solve.h"

/* A sample of the output characteristic: at load G_k the output u_k
 * (du_k/dv) and f = G_k u_k - G (u_k - zb), the current the table's load
 * takes less what the returned load takes (zero at the crossing). */
typedef struct ret_pt {
  double u, uv, f, fv, fg, fz;
} ret_pt;

/* Where v falls in every load's row (phx_curve_place, phx_curve_hermite),
 * found once for all L samples. */
typedef struct ret_at {
  int i, inside, nan;
  double v, hf[4], hv[4];
} ret_at;

static ret_at ret_locate(const phx_curve *c, double v) {
  ret_at a = {0, 1, v != v, v, {0}, {0}};
  if (!a.nan) a.i = phx_curve_hermite(c->NV, phx_curve_place(c, v, &a.inside), a.hf, a.hv);
  return a;
}

/* Load k's row at v's interval. */
static const double *ret_row(const phx_curve *c, const ret_at *a, int k) {
  return c->T + ((size_t)k * c->NV + (size_t)a->i) * 2;
}

/* Load k's output u: phx_curve_eval(c, v, loads[k]) is that load's row
 * alone (its weight is 0 or 1 exactly there), so it is evaluated alone. */
static double ret_u(const phx_curve *c, const ret_at *a, int k) {
  return a->nan ? a->v : phx_curve_cubic(ret_row(c, a, k), a->hf, c->dv);
}

/* f at load k from its u. */
static double ret_f(const phx_curve *c, int k, double u, double G, double zb) {
  return c->loads[k] * u - G * (u - zb);
}

/* Load k's whole sample (the scan needs only f's sign; the two samples
 * it settles between are then taken in full). */
static ret_pt ret_sample(const phx_curve *c, const ret_at *a, int k, double G, double zb) {
  ret_pt p;
  p.u = ret_u(c, a, k);
  if (a->nan || !a->inside) p.uv = a->nan ? a->v : 0;
  else p.uv = phx_curve_cubic(ret_row(c, a, k), a->hv, c->dv) / c->dv;
  p.f = ret_f(c, k, p.u, G, zb);
  p.fv = (c->loads[k] - G) * p.uv;
  p.fg = -(p.u - zb);
  p.fz = G;
  return p;
}

/* The zero of f on the line through samples a and b, and its partials:
 * u = ua + t (ub - ua), t = fa / (fa - fb). */
static void ret_cross(const ret_pt *a, const ret_pt *b, double *u, double *uv, double *ug,
                      double *uz) {
  /* t - s = 1; dt = (t dfb - s dfa) / (fa - fb), no square of a small
   * difference (a float port would lose it below the normal range) */
  const double den = a->f - b->f, t = a->f / den, sb = b->f / den, du = b->u - a->u;
  *u = a->u + t * du;
  *uv = a->uv + t * (b->uv - a->uv) + du * ((t * b->fv - sb * a->fv) / den);
  *ug = du * ((t * b->fg - sb * a->fg) / den);
  *uz = du * ((t * b->fz - sb * a->fz) / den);
}

void phx_curve_solve(const phx_curve *c, double v, double G, double zb, double *u, double *uv,
                     double *ug, double *uz) {
  const ret_at at = ret_locate(c, v);
  if (c->L < 2) {
    const ret_pt p = ret_sample(c, &at, 0, G, zb);
    *u = p.u, *uv = p.uv, *ug = *uz = 0;
    return;
  }
  const double first = ret_f(c, 0, ret_u(c, &at, 0), G, zb);
  double prev, cur = first;
  for (int k = 1; k < c->L; k++) {
    prev = cur;
    cur = ret_f(c, k, ret_u(c, &at, k), G, zb);
    if ((cur > 0) != (prev > 0)) {
      const ret_pt a = ret_sample(c, &at, k - 1, G, zb), b = ret_sample(c, &at, k, G, zb);
      ret_cross(&a, &b, u, uv, ug, uz);
      return;
    }
  }
  /* No crossing: the returned current lies past what the table's loads
   * draw, or flows into the output; extend the end segment nearer a
   * crossing. (Where the side changes, u jumps by the difference of the
   * two ends' slopes, small where every sample nears 0 V. The chord of
   * both ends is continuous there but left a steep loaded table of the
   * gradient test without a settled point.) */
  const int ka = fabs(cur) < fabs(first) ? c->L - 2 : 0;
  const ret_pt a = ret_sample(c, &at, ka, G, zb), b = ret_sample(c, &at, ka + 1, G, zb);
  if (a.f != b.f) {
    ret_cross(&a, &b, u, uv, ug, uz);
    return;
  }
  *u = b.u, *uv = b.uv, *ug = *uz = 0;
}

/* Scratch: per row the solve's partials (du/dv, du/dG, du/dzb) and zb,
 * A (R x K) = du_r/dx_k, J (K x K), three K vectors. */
size_t phx_ret_work(int M, int K) {
  const size_t R = 2 * (size_t)M + 2;
  return 4 * R + R * K + (size_t)K * K + 3 * (size_t)K;
}

/* The rows for column voltages x: u and the partials of each row's solve.
 * The o+ row's input is its o- row's output. */
static void ret_rows(const phx_ret *p, const double *v, const double *x, double *u) {
  const int M = p->M, K = p->K, R = 2 * M + 2;
  double *sv = p->work, *sg = sv + R, *sz = sg + R, *zb = sz + R;
  u[0] = p->vdd / 2;
  u[1] = -p->vdd / 2;
  for (int j = 0; j < M; j++)
    for (int q = 0; q < 2; q++) {
      const int r = 2 + q * M + j;
      const double G = p->G[r];
      double s = 0;
      for (int k = 0; k < K; k++) s += p->w[(size_t)k * R + r] * p->S[k] * x[k];
      zb[r] = G > 0 ? s / G : 0;
      phx_curve_solve(p->cv, q ? u[2 + j] : v[j], G, zb[r], &u[r], &sv[r], &sg[r], &sz[r]);
    }
}

/* A = du/dx and J = W A (the fixed point's Jacobian), from ret_rows'
 * partials. */
static void ret_jacobian(const phx_ret *p) {
  const int M = p->M, K = p->K, R = 2 * M + 2;
  const double *sv = p->work, *sz = sv + 2 * (size_t)R;
  double *A = p->work + 4 * (size_t)R, *J = A + (size_t)R * K;
  for (int k = 0; k < 2 * K; k++) A[k] = 0; /* the bias rows are rails */
  for (int j = 0; j < M; j++) {
    const int rp = 2 + j, rn = 2 + M + j;
    for (int k = 0; k < K; k++) {
      /* dzb_r/dx_k = g_kr / G_r = w_kr S_k / G_r */
      const double ap = p->G[rp] > 0 ? sz[rp] * p->w[(size_t)k * R + rp] * p->S[k] / p->G[rp] : 0;
      const double an = p->G[rn] > 0 ? sz[rn] * p->w[(size_t)k * R + rn] * p->S[k] / p->G[rn] : 0;
      A[(size_t)rp * K + k] = ap;
      A[(size_t)rn * K + k] = sv[rn] * ap + an;
    }
  }
  for (int k = 0; k < K; k++)
    for (int q = 0; q < K; q++) {
      double s = 0;
      for (int r = 2; r < R; r++) s += p->w[(size_t)k * R + r] * A[(size_t)r * K + q];
      J[(size_t)k * K + q] = s;
    }
}

/* Solves (I - J) y = b (trans: (I - J)^T y = b) in place of b, Gaussian
 * elimination with partial pivoting on a copy in J's place. */
static int ret_lin(double *J, int K, int trans, double *b) {
  for (int i = 0; i < K; i++)
    for (int q = i; q < K; q++) { /* I - J, transposed when asked */
      const double a = (i == q) - J[(size_t)i * K + q], t = (i == q) - J[(size_t)q * K + i];
      J[(size_t)i * K + q] = trans ? t : a;
      J[(size_t)q * K + i] = trans ? a : t;
    }
  for (int c = 0; c < K; c++) {
    int piv = c;
    for (int i = c + 1; i < K; i++)
      if (fabs(J[(size_t)i * K + c]) > fabs(J[(size_t)piv * K + c])) piv = i;
    if (!(fabs(J[(size_t)piv * K + c]) > 0)) return -1;
    if (piv != c) {
      for (int q = 0; q < K; q++) {
        const double t = J[(size_t)c * K + q];
        J[(size_t)c * K + q] = J[(size_t)piv * K + q];
        J[(size_t)piv * K + q] = t;
      }
      const double t = b[c];
      b[c] = b[piv];
      b[piv] = t;
    }
    for (int i = c + 1; i < K; i++) {
      const double f = J[(size_t)i * K + c] / J[(size_t)c * K + c];
      for (int q = c; q < K; q++) J[(size_t)i * K + q] -= f * J[(size_t)c * K + q];
      b[i] -= f * b[c];
    }
  }
  for (int i = K - 1; i >= 0; i--) {
    double s = b[i];
    for (int q = i + 1; q < K; q++) s -= J[(size_t)i * K + q] * b[q];
    b[i] = s / J[(size_t)i * K + i];
  }
  return 0;
}

/* Rows at x, then res = W u - x; returns max |res|. */
static double ret_residual(const phx_ret *p, const double *v, const double *x, double *u,
                           double *res) {
  const int K = p->K, R = 2 * p->M + 2;
  ret_rows(p, v, x, u);
  double most = 0;
  for (int k = 0; k < K; k++) {
    double s = 0;
    for (int r = 0; r < R; r++) s += p->w[(size_t)k * R + r] * u[r];
    res[k] = s - x[k];
    if (!(fabs(res[k]) <= most)) most = fabs(res[k]); /* NaN stays */
  }
  return most;
}

int phx_ret_forward(const phx_ret *p, const double *v, double *u, double *x) {
  const int K = p->K, R = 2 * p->M + 2;
  double *J = p->work + 4 * (size_t)R + (size_t)R * K, *res = J + (size_t)K * K,
         *dx = res + K, *x0 = dx + K;
  for (int k = 0; k < K; k++) x[k] = 0;
  double nr = ret_residual(p, v, x, u, res);
  for (int it = 0; it < 30 && nr > 1e-12; it++) {
    if (nr != nr) return -1;
    ret_jacobian(p);
    for (int k = 0; k < K; k++) dx[k] = res[k];
    if (ret_lin(J, K, 0, dx)) break;
    /* Newton's step from x0, halved while it does not shrink the residual */
    double step = 1, nt = nr;
    for (int k = 0; k < K; k++) x0[k] = x[k];
    for (int h = 0; h < 12; h++, step /= 2) {
      for (int k = 0; k < K; k++) x[k] = x0[k] + step * dx[k];
      nt = ret_residual(p, v, x, u, res);
      if (nt < nr) break;
    }
    if (!(nt < nr)) { /* stalled */
      for (int k = 0; k < K; k++) x[k] = x0[k];
      nr = ret_residual(p, v, x, u, res);
      break;
    }
    nr = nt;
  }
  if (nr <= PHX_RET_TOL) return 0;
  /* Newton stalled far out (a row's crossing moving between the table's
   * loads is a kink): the plain iteration x <- W u(x), which contracts
   * wherever the circuit settles, keeping the best x it meets */
  double *best = dx, nb = nr; /* u and res are x's */
  for (int k = 0; k < K; k++) best[k] = x[k];
  for (int it = 0; it < 2000 && nr > 1e-12; it++) {
    for (int k = 0; k < K; k++) x[k] += res[k];
    nr = ret_residual(p, v, x, u, res);
    if (nr < nb) {
      nb = nr;
      for (int k = 0; k < K; k++) best[k] = x[k];
    }
  }
  for (int k = 0; k < K; k++) x[k] = best[k];
  nr = ret_residual(p, v, x, u, res);
  return nr <= PHX_RET_TOL ? 0 : -1;
}

int phx_ret_backward(const phx_ret *p, const double *v, const double *x, const double *gx,
                     double *lam, double *dv, double *c, double *e) {
  const int M = p->M, K = p->K, R = 2 * M + 2;
  const double *sv = p->work, *sg = sv + R, *sz = sg + R, *zb = sz + R;
  double *J = p->work + 4 * (size_t)R + (size_t)R * K, *u = c; /* c is written last */
  ret_rows(p, v, x, u);
  ret_jacobian(p);
  for (int k = 0; k < K; k++) lam[k] = gx[k];
  if (ret_lin(J, K, 1, lam)) return -1;
  /* mu = W^T lam is dL/du; the o+ row's input is the o- row's output */
  double *mu = e;
  for (int r = 0; r < R; r++) {
    double s = 0;
    for (int k = 0; k < K; k++) s += lam[k] * p->w[(size_t)k * R + r];
    mu[r] = s;
  }
  c[0] = c[1] = e[0] = e[1] = 0;
  for (int j = 0; j < M; j++) {
    const int rp = 2 + j, rn = 2 + M + j;
    const double an = mu[rn], ap = mu[rp] + an * sv[rn];
    dv[j] = ap * sv[rp];
    const int rs[2] = {rp, rn};
    const double as[2] = {ap, an};
    for (int q = 0; q < 2; q++) {
      const int r = rs[q];
      const double er = p->G[r] > 0 ? as[q] * sz[r] / p->G[r] : 0;
      c[r] = as[q] * sg[r] - er * zb[r];
      e[r] = er;
    }
  }
  return 0;
}
