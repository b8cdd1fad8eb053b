/* The model's circuit in double precision, layer by layer as
 * docs/model.md writes it (no folding): the reference the ngspice results
 * are compared with, and the node voltages the power estimate needs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "circuit.h"
#include "net.h"

double phx_circ_g(const phx_model_opts *o, float theta) {
  return o->gmin * (1.0 + (o->ratio - 1.0) / (1.0 + exp(-(double)theta)));
}

phx_status phx_circ_acts_new(const phx_model_opts *o, phx_circ_acts *a, phx_err *err) {
  size_t n = 0;
  for (int l = 0; l <= o->nlayers; l++) n += 2 * (size_t)o->sizes[l] + 2;
  for (int l = 0; l < o->nlayers; l++) n += (size_t)o->sizes[l + 1];
  memset(a, 0, sizeof *a);
  a->mem = malloc(n * sizeof *a->mem);
  if (!a->mem) return phx_fail(err, PHX_ENOMEM, "out of memory for the forward pass");
  double *p = a->mem;
  for (int l = 0; l <= o->nlayers; l++) {
    a->u[l] = p;
    p += 2 * (size_t)o->sizes[l] + 2;
    if (l < o->nlayers) {
      a->z[l] = p;
      p += o->sizes[l + 1];
    }
  }
  return PHX_OK;
}

void phx_circ_acts_free(phx_circ_acts *a) {
  free(a->mem);
  a->mem = NULL;
}

/* Layer 0's rows for sample x: the bias pair, then p = v and n = -v. */
static void input_rows(const phx_model_opts *o, const float *x, double *u) {
  const int n0 = o->sizes[0];
  u[0] = o->vdd / 2;
  u[1] = -o->vdd / 2;
  for (int i = 0; i < n0; i++) {
    const double v = ((double)x[i] - 0.5) * o->vdd;
    u[2 + i] = v;
    u[2 + n0 + i] = -v;
  }
}

/* The column voltages z (M) of rows u (R) through theta t. */
static void columns(const phx_model_opts *o, const float *t, int M, int R, const double *u,
                    double *z) {
  for (int j = 0; j < M; j++) {
    double s = 0, zs = 0;
    for (int r = 0; r < R; r++) {
      const double g = phx_circ_g(o, t[(size_t)j * R + r]);
      s += g;
      zs += g * u[r];
    }
    z[j] = zs / s;
  }
}

/* Row r's load on the next layer (theta tn, K columns of R rows): its
 * conductance to those columns, returned, and with zz (their voltages)
 * sum_k g_kr zz_k in *gz. */
static double row_load(const phx_model_opts *o, const float *tn, int K, int R, int r,
                       const double *zz, double *gz) {
  double G = 0, q = 0;
  for (int k = 0; k < K; k++) {
    const double g = phx_circ_g(o, tn[(size_t)k * R + r]);
    G += g;
    if (zz) q += g * zz[k];
  }
  if (gz) *gz = q;
  return G;
}

/* What neuron j of layer l sees of its column voltage z: z less the
 * chip's offset of that neuron (phx_model_offsets; none on a trained
 * model). z itself stays the node voltage the power needs. */
static double neuron_in(const phx_model *m, int l, int j, double z) {
  const double *off = phx_model_offsets(m, l);
  return off ? z - off[j] : z;
}

void phx_circ_forward(const phx_model *m, const float *x, phx_circ_acts *a) {
  const phx_model_opts *o = phx_model_get_opts(m);
  const phx_curve *cv = phx_model_curve(m);
  input_rows(o, x, a->u[0]);
  for (int l = 0; l < o->nlayers; l++) {
    const int M = o->sizes[l + 1], R = 2 * o->sizes[l] + 2;
    columns(o, phx_model_theta_const(m, l), M, R, a->u[l], a->z[l]);
    double *un = a->u[l + 1];
    un[0] = o->vdd / 2;
    un[1] = -o->vdd / 2;
    /* table neurons are loaded by the next layer's rows when load-aware */
    const int loaded = cv && o->load_aware && l + 1 < o->nlayers;
    const float *tn = loaded ? phx_model_theta_const(m, l + 1) : NULL;
    const int Mn = loaded ? o->sizes[l + 2] : 0, Rn = 2 * M + 2;
    for (int j = 0; j < M; j++) {
      const double z = neuron_in(m, l, j, a->z[l][j]);
      /* next layer: p_j = o-_j, n_j = o+_j */
      if (!cv) {
        un[2 + j] = o->c[0] + o->c[1] * tanh(o->c[3] * (z - o->c[2]));
        un[2 + M + j] = o->d[0] + o->d[1] * tanh(o->d[3] * (z - o->d[2]));
        continue;
      }
      const double gm = row_load(o, tn, Mn, Rn, 2 + j, NULL, NULL);
      const double gp = row_load(o, tn, Mn, Rn, 2 + M + j, NULL, NULL);
      double fv, fg;
      phx_curve_eval(cv, z, gm, &un[2 + j], &fv, &fg);
      phx_curve_eval(cv, un[2 + j], gp, &un[2 + M + j], &fv, &fg);
    }
  }
}

/* One inverter with input v whose load G returns to zb instead of 0 V:
 * where the load line I = G (u - zb) crosses the output curve the table
 * samples, (u_k, I_k = G_k u_k) for the tabulated loads G_k; linear
 * between samples. Past either end (a return voltage beyond the open
 * output pushes current in) the end segment nearer a crossing is
 * extended. */
static double solve_row(const phx_curve *c, double v, double G, double zb) {
  double u = 0, f = 0, pu = 0, pf = 0, u0 = 0, f0 = 0, u1 = 0, f1 = 0, fv, fg;
  for (int k = 0; k < c->L; k++) {
    pu = u;
    pf = f;
    phx_curve_eval(c, v, c->loads[k], &u, &fv, &fg);
    f = c->loads[k] * u - G * (u - zb);
    if (k == 0) u0 = u, f0 = f;
    if (k == 1) u1 = u, f1 = f;
    if (k > 0 && (f > 0) != (pf > 0)) return pu + pf / (pf - f) * (u - pu);
  }
  if (c->L < 2) return u;
  if (fabs(f) < fabs(f0)) u0 = pu, f0 = pf, u1 = u, f1 = f;
  return f1 != f0 ? u0 + f0 / (f0 - f1) * (u1 - u0) : u1;
}

phx_status phx_circ_forward_returned(const phx_model *m, const float *x, phx_circ_acts *a,
                                     phx_err *err) {
  const phx_model_opts *o = phx_model_get_opts(m);
  const phx_curve *cv = phx_model_curve(m);
  if (!cv) return phx_fail(err, PHX_EINVAL, "return solve: the model has no table neuron");
  int most = 1;
  for (int l = 0; l <= o->nlayers; l++) most = o->sizes[l] > most ? o->sizes[l] : most;
  double *znew = malloc((size_t)most * sizeof *znew);
  if (!znew) return phx_fail(err, PHX_ENOMEM, "return solve: out of memory");
  phx_status s = PHX_OK;
  input_rows(o, x, a->u[0]);
  columns(o, phx_model_theta_const(m, 0), o->sizes[1], 2 * o->sizes[0] + 2, a->u[0], a->z[0]);
  for (int l = 0; l < o->nlayers; l++) {
    const int M = o->sizes[l + 1], R = 2 * M + 2, last = l + 1 == o->nlayers;
    double *u = a->u[l + 1], fv, fg;
    u[0] = o->vdd / 2;
    u[1] = -o->vdd / 2;
    if (last) { /* the outputs drive nothing */
      for (int j = 0; j < M; j++) {
        phx_curve_eval(cv, neuron_in(m, l, j, a->z[l][j]), 0, &u[2 + j], &fv, &fg);
        phx_curve_eval(cv, u[2 + j], 0, &u[2 + M + j], &fv, &fg);
      }
      break;
    }
    /* rows of layer l+1 and its column nodes z[l+1] together: iterate
     * the rows' outputs against the return voltages they produce */
    const float *tn = phx_model_theta_const(m, l + 1);
    const int K = o->sizes[l + 2];
    double *zz = a->z[l + 1];
    for (int k = 0; k < K; k++) zz[k] = 0;
    double change = 1;
    for (int it = 0; it < 500 && change > 1e-12; it++) {
      for (int j = 0; j < M; j++)
        for (int q = 0; q < 2; q++) {
          const int r = 2 + q * M + j;
          double gz;
          const double G = row_load(o, tn, K, R, r, zz, &gz);
          u[r] = solve_row(cv, q ? u[2 + j] : neuron_in(m, l, j, a->z[l][j]), G, gz / G);
        }
      columns(o, tn, K, R, u, znew);
      change = 0;
      for (int k = 0; k < K; k++) {
        change = fmax(change, fabs(znew[k] - zz[k]));
        zz[k] = znew[k];
      }
    }
    if (change > 1e-9) {
      s = phx_fail(err, PHX_ESIM, "return solve: layer %d did not settle (%.3g V)", l + 1,
                   change);
      break;
    }
  }
  free(znew);
  return s;
}

void phx_model_forward64(const phx_model *m, const float *x, double *out) {
  const phx_model_opts *o = phx_model_get_opts(m);
  phx_circ_acts a;
  if (phx_circ_acts_new(o, &a, NULL)) {
    for (int j = 0; j < o->sizes[o->nlayers]; j++) out[j] = NAN;
    return;
  }
  phx_circ_forward(m, x, &a);
  memcpy(out, a.u[o->nlayers] + 2, (size_t)o->sizes[o->nlayers] * sizeof *out);
  phx_circ_acts_free(&a);
}

phx_status phx_power_estimate(const phx_model *m, const phx_dataset *d, int count,
                              const phx_neuron *neuron, phx_power *mean, phx_err *err) {
  const phx_model_opts *o = phx_model_get_opts(m);
  if (phx_dataset_dim(d) != o->sizes[0])
    return phx_fail(err, PHX_ESHAPE, "power: samples have %d inputs, the model expects %d",
                    phx_dataset_dim(d), o->sizes[0]);
  int n = phx_dataset_count(d);
  if (count > 0 && count < n) n = count;
  memset(mean, 0, sizeof *mean);
  if (n == 0) return PHX_OK;
  phx_circ_acts a;
  phx_status s = phx_circ_acts_new(o, &a, err);
  if (s) return s;
  const float *x = phx_dataset_x(d);
  for (int k = 0; k < n; k++) {
    phx_circ_forward(m, x + (size_t)k * o->sizes[0], &a);
    for (int l = 0; l < o->nlayers; l++) {
      int M = o->sizes[l + 1], R = 2 * o->sizes[l] + 2;
      const float *t = phx_model_theta_const(m, l);
      for (int j = 0; j < M; j++) {
        double z = a.z[l][j];
        /* every memristor of the column dissipates g (u_r - z)^2 */
        for (int r = 0; r < R; r++) {
          double dv = a.u[l][r] - z;
          mean->crossbar_W += phx_circ_g(o, t[(size_t)j * R + r]) * dv * dv;
        }
        if (neuron)
          mean->neuron_W += o->vdd * phx_neuron_supply_current(neuron, neuron_in(m, l, j, z));
      }
    }
  }
  phx_circ_acts_free(&a);
  mean->crossbar_W /= n;
  mean->neuron_W /= n;
  mean->total_W = mean->crossbar_W + mean->neuron_W;
  return PHX_OK;
}
