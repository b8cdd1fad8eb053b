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

void phx_circ_forward(const phx_model *m, const float *x, phx_circ_acts *a) {
  const phx_model_opts *o = phx_model_get_opts(m);
  double h = o->vdd / 2;
  int n0 = o->sizes[0];
  a->u[0][0] = h;
  a->u[0][1] = -h;
  for (int i = 0; i < n0; i++) {
    double v = ((double)x[i] - 0.5) * o->vdd;
    a->u[0][2 + i] = v;
    a->u[0][2 + n0 + i] = -v;
  }
  const phx_curve *cv = phx_model_curve(m);
  for (int l = 0; l < o->nlayers; l++) {
    int M = o->sizes[l + 1], R = 2 * o->sizes[l] + 2;
    const float *t = phx_model_theta_const(m, l);
    const double *u = a->u[l];
    double *un = a->u[l + 1];
    un[0] = h;
    un[1] = -h;
    if (cv) { /* table neurons, loaded by the next layer's rows when load-aware */
      const int loaded = o->load_aware && l + 1 < o->nlayers;
      const float *tn = loaded ? phx_model_theta_const(m, l + 1) : NULL;
      const int Mn = loaded ? o->sizes[l + 2] : 0, Rn = 2 * M + 2;
      for (int j = 0; j < M; j++) {
        double s = 0, zs = 0, gm = 0, gp = 0, fv, fg;
        for (int r = 0; r < R; r++) {
          double g = phx_circ_g(o, t[(size_t)j * R + r]);
          s += g;
          zs += g * u[r];
        }
        for (int k = 0; k < Mn; k++) {
          gm += phx_circ_g(o, tn[(size_t)k * Rn + 2 + j]);
          gp += phx_circ_g(o, tn[(size_t)k * Rn + 2 + M + j]);
        }
        a->z[l][j] = zs / s;
        phx_curve_eval(cv, a->z[l][j], gm, &un[2 + j], &fv, &fg);
        phx_curve_eval(cv, un[2 + j], gp, &un[2 + M + j], &fv, &fg);
      }
      continue;
    }
    for (int j = 0; j < M; j++) {
      double s = 0, zs = 0;
      for (int r = 0; r < R; r++) {
        double g = phx_circ_g(o, t[(size_t)j * R + r]);
        s += g;
        zs += g * u[r];
      }
      double z = zs / s;
      a->z[l][j] = z;
      /* next layer: p_j = o-_j, n_j = o+_j */
      un[2 + j] = o->c[0] + o->c[1] * tanh(o->c[3] * (z - o->c[2]));
      un[2 + M + j] = o->d[0] + o->d[1] * tanh(o->d[3] * (z - o->d[2]));
    }
  }
}

/* One inverter with input v whose load G returns to zb instead of 0 V:
 * where the load line I = G (u - zb) crosses the output curve the table
 * samples, (u_k, I_k = G_k u_k) for the tabulated loads G_k; linear
 * between samples. Past either end (a return voltage beyond the open
 * output pushes current in) the end segment is extended. */
static double solve_row(const phx_curve *c, double v, double G, double zb) {
  double u[2], f[2], fv, fg, u0 = 0, f0 = 0, u1 = 0, f1 = 0;
  for (int k = 0; k < c->L; k++) {
    u[k & 1] = 0;
    phx_curve_eval(c, v, c->loads[k], &u[k & 1], &fv, &fg);
    f[k & 1] = c->loads[k] * u[k & 1] - G * (u[k & 1] - zb);
    if (k == 1) u0 = u[0], f0 = f[0], u1 = u[1], f1 = f[1];
    if (k > 0 && (f[k & 1] > 0) != (f[!(k & 1)] > 0)) {
      const double pu = u[!(k & 1)], pf = f[!(k & 1)];
      return pu + pf / (pf - f[k & 1]) * (u[k & 1] - pu);
    }
  }
  if (c->L < 2) return u[0];
  const int k = c->L - 1;
  if (fabs(f[k & 1]) < fabs(f0)) u0 = u[!(k & 1)], f0 = f[!(k & 1)], u1 = u[k & 1], f1 = f[k & 1];
  return f1 != f0 ? u0 + f0 / (f0 - f1) * (u1 - u0) : u1;
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
  const double h = o->vdd / 2;
  const int n0 = o->sizes[0];
  a->u[0][0] = h;
  a->u[0][1] = -h;
  for (int i = 0; i < n0; i++) {
    const double v = ((double)x[i] - 0.5) * o->vdd;
    a->u[0][2 + i] = v;
    a->u[0][2 + n0 + i] = -v;
  }
  columns(o, phx_model_theta_const(m, 0), o->sizes[1], 2 * n0 + 2, a->u[0], a->z[0]);
  for (int l = 0; l < o->nlayers; l++) {
    const int M = o->sizes[l + 1], R = 2 * M + 2, last = l + 1 == o->nlayers;
    double *u = a->u[l + 1], fv, fg;
    u[0] = h;
    u[1] = -h;
    if (last) { /* the outputs drive nothing */
      for (int j = 0; j < M; j++) {
        phx_curve_eval(cv, a->z[l][j], 0, &u[2 + j], &fv, &fg);
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
          double G = 0, gz = 0;
          for (int k = 0; k < K; k++) {
            const double g = phx_circ_g(o, tn[(size_t)k * R + r]);
            G += g;
            gz += g * zz[k];
          }
          u[r] = solve_row(cv, q ? u[2 + j] : a->z[l][j], G, gz / G);
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
        if (neuron) mean->neuron_W += o->vdd * phx_neuron_supply_current(neuron, z);
      }
    }
  }
  phx_circ_acts_free(&a);
  mean->crossbar_W /= n;
  mean->neuron_W /= n;
  mean->total_W = mean->crossbar_W + mean->neuron_W;
  return PHX_OK;
}
