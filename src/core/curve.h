/* Table neurons (docs/model.md, "Table neurons and loading"): one
 * inverter's output F(v; G) as a monotone cubic in v per tabulated load G,
 * linear in G between loads. The float64 evaluation here is the reference
 * the op descriptors, the circuit's forward pass and the gradient check
 * use; the backends carry their own (cpu_ops.h, cl/table.cl). */
#ifndef PHX_CURVE_H
#define PHX_CURVE_H

#include <stddef.h>

/* A table: L loads (loads[0] = 0, increasing), NV inputs v0 + i dv; T is
 * L x NV x 2 (value, dF/dv). */
typedef struct phx_curve {
  int L, NV;
  double v0, dv;
  const double *T, *loads;
} phx_curve;

/* Fills the slopes T[k][i][1] from the values T[k][i][0] by Fritsch and
 * Carlson's rule, so that each load's curve is monotone where its samples
 * are (a steep inverter must not overshoot the rails between samples). */
void phx_curve_slopes(double *T, int L, int NV, double dv);

/* The index k of the load interval [loads[k], loads[k+1]] that holds G and
 * the weight w of loads[k+1]; w = 0 or 1 (and no G slope) outside. */
static inline int phx_curve_load_at(const double *loads, int L, double G, double *w) {
  if (L < 2 || !(G > loads[0])) {
    *w = 0;
    return 0;
  }
  if (G >= loads[L - 1]) {
    *w = 1;
    return L - 2;
  }
  int lo = 0, hi = L - 1;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (loads[mid] <= G) lo = mid;
    else hi = mid;
  }
  *w = (G - loads[lo]) / (loads[lo + 1] - loads[lo]);
  return lo;
}

/* Input v's place in steps from v0, clamped into [0, NV-1]; *inside is 0
 * where it was clamped (the curve is flat past its ends). */
static inline double phx_curve_place(const phx_curve *c, double v, int *inside) {
  double x = (v - c->v0) / c->dv;
  *inside = 1;
  if (!(x > 0)) x = 0, *inside = 0;
  if (x > c->NV - 1) x = c->NV - 1, *inside = 0;
  return x;
}

/* The cubic Hermite at place x (clamped): returns the interval i and sets
 * the weights of y_i, m_i, y_i+1, m_i+1 (m: slope times dv) for the value
 * (hf) and, divided by dv, for the slope (hv). Every load's row at the
 * same input shares them. */
static inline int phx_curve_hermite(int NV, double x, double hf[4], double hv[4]) {
  int i = (int)x;
  if (i > NV - 2) i = NV - 2;
  const double t = x - i, t2 = t * t, t3 = t2 * t;
  hf[0] = 2 * t3 - 3 * t2 + 1, hf[1] = t3 - 2 * t2 + t;
  hf[2] = 3 * t2 - 2 * t3, hf[3] = t3 - t2;
  hv[0] = 6 * t2 - 6 * t, hv[1] = 3 * t2 - 4 * t + 1;
  hv[2] = 6 * t - 6 * t2, hv[3] = 3 * t2 - 2 * t;
  return i;
}

/* One interval's cubic from its ends p = (y_i, s_i, y_i+1, s_i+1) (s: the
 * stored slope, d/dv) and phx_curve_hermite's weights h (hf: the value;
 * hv: the slope once divided by dv). */
static inline double phx_curve_cubic(const double *p, const double h[4], double dv) {
  return h[0] * p[0] + h[1] * (p[1] * dv) + h[2] * p[2] + h[3] * (p[3] * dv);
}

/* The cubic Hermite of one load's row at input position x (in steps from
 * v0, already clamped into [0, NV-1]): value and d/dv. */
static inline void phx_curve_row(const double *row, int NV, double x, double dv, double *f,
                                 double *fv) {
  double hf[4], hv[4];
  const double *p = row + 2 * phx_curve_hermite(NV, x, hf, hv);
  *f = phx_curve_cubic(p, hf, dv);
  *fv = phx_curve_cubic(p, hv, dv) / dv;
}

/* F(v; G), dF/dv and dF/dG. */
static inline void phx_curve_eval(const phx_curve *c, double v, double G, double *f,
                                  double *fv, double *fg) {
  if (v != v) { /* NaN in, NaN out: never an index from it */
    *f = *fv = *fg = v;
    return;
  }
  int inside;
  const double x = phx_curve_place(c, v, &inside);
  double w;
  const int k = phx_curve_load_at(c->loads, c->L, G, &w);
  const double *r0 = c->T + (size_t)k * c->NV * 2;
  double f0, v0d, f1 = 0, v1d = 0;
  phx_curve_row(r0, c->NV, x, c->dv, &f0, &v0d);
  if (c->L > 1) phx_curve_row(r0 + (size_t)c->NV * 2, c->NV, x, c->dv, &f1, &v1d);
  *f = (1 - w) * f0 + w * f1;
  *fv = inside ? (1 - w) * v0d + w * v1d : 0;
  *fg = c->L > 1 && G > c->loads[0] && G < c->loads[c->L - 1]
            ? (f1 - f0) / (c->loads[k + 1] - c->loads[k])
            : 0;
}

#endif /* PHX_CURVE_H */
