/* Returned loads (docs/model.md, "Returned loads"): a hidden neuron's rows
 * draw their current from the next layer's column nodes, not from 0 V, so
 * the rows and those columns settle together. This is that solve for one
 * sample in double, with its exact gradient by the adjoint of the fixed
 * point. The float64 reference of the ops, the C path and the host forward
 * pass (circuit/forward.c) all run it; cl/return.cl is its float port. */
#ifndef PHX_RETURN_SOLVE_H
#define PHX_RETURN_SOLVE_H

#include <stddef.h>

#include "curve.h"

/* One inverter with input v whose load G returns to zb: where the load
 * line I = G (u - zb) crosses the output characteristic the table samples
 * at its loads, (F(v; G_k), G_k F(v; G_k)), straight between samples;
 * past either end the end segment nearer a crossing is extended. Sets u
 * and du/dv, du/dG, du/dzb (exact for that polyline). */
void phx_curve_solve(const phx_curve *c, double v, double G, double zb, double *u, double *uv,
                     double *ug, double *uz);

/* A loaded layer: M neurons whose outputs drive rows 2..2M+1 of the next
 * layer (R = 2M + 2 rows, K columns, weights w = g / S as map_forward
 * writes W, column sums S, row loads G = sum_k g_kr). */
typedef struct phx_ret {
  int M, K;
  double vdd;
  const phx_curve *cv;
  const double *w, *S, *G; /* K x R, K, R */
  double *work;            /* phx_ret_work(M, K) doubles, the caller's */
} phx_ret;

/* Doubles of scratch one sample's solve needs. */
size_t phx_ret_work(int M, int K);

/* How far from x = W u(x) a settled sample may be, V. Newton gets to
 * 1e-12 V but stalls at a kink of the rows (a crossing moving between
 * two of the table's loads, or a jump where a row's solve changes ends);
 * the plain iteration then gets there too (4 samples in 3 epochs of the
 * paper task at drive 1, all to 1e-12 V). A float backend's rounding
 * stops far above 1e-12 V, so this is the bound a sample must meet. */
#define PHX_RET_TOL 1e-6

/* The neurons' inputs v (M) -> the rows u (2M+2: the bias pair, o-, o+)
 * and the next layer's column voltages x (K) they settle with: Newton on
 * x = W u(x) from x = 0, then, where it stalls above PHX_RET_TOL, the
 * plain iteration x <- W u(x). Returns 0, or -1 when it did not settle to
 * PHX_RET_TOL (u and x then hold the best iterate). */
int phx_ret_forward(const phx_ret *p, const double *v, double *u, double *x);

/* The adjoint at the solution x for v: from gx = dL/dx (K), with
 * (I - J)^T lam = gx, J = dW u(x)/dx:
 *   lam (K)  the gradient that replaces gx for the next layer's weights
 *            (dL/dW_kr = lam_k u_r) and rows;
 *   dv (M)   dL/dv;
 *   c, e (R) the load terms: dL/dg_kr gains c_r + e_r x_k through row r's
 *            load G_r and return voltage zb_r = sum_k g_kr x_k / G_r.
 * Returns 0, or -1 when I - J is singular. */
int phx_ret_backward(const phx_ret *p, const double *v, const double *x, const double *gx,
                     double *lam, double *dv, double *c, double *e);

#endif /* PHX_RETURN_SOLVE_H */
