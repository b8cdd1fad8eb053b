/* The model's circuit in double precision, layer by layer as
 * docs/model.md writes it (no folding): the reference the ngspice results
 * are compared with, and the node voltages the power estimate needs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "circuit.h"
#include "net.h"
#include "return_solve.h"

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
  if (cv && o->load_aware == 2) { /* the model's own loads are returned */
    if (phx_circ_forward_returned(m, x, a, NULL)) {
      for (int l = 0; l < o->nlayers; l++)
        for (int r = 0; r < 2 * o->sizes[l + 1] + 2; r++) a->u[l + 1][r] = NAN;
    }
    return;
  }
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

/* Layer l+1's map in double for the returned solve: w (K x R), S (K),
 * G (R) from its theta, in mem (phx_ret_work included). */
static phx_ret returned_layer(const phx_model *m, int l, const phx_curve *cv, double *mem) {
  const phx_model_opts *o = phx_model_get_opts(m);
  const int M = o->sizes[l + 1], K = o->sizes[l + 2], R = 2 * M + 2;
  const float *tn = phx_model_theta_const(m, l + 1);
  double *w = mem, *S = w + (size_t)K * R, *G = S + K;
  for (int r = 0; r < R; r++) G[r] = 0;
  for (int k = 0; k < K; k++) {
    double s = 0;
    for (int r = 0; r < R; r++) {
      const double g = phx_circ_g(o, tn[(size_t)k * R + r]);
      w[(size_t)k * R + r] = g;
      G[r] += g;
      s += g;
    }
    S[k] = s;
    for (int r = 0; r < R; r++) w[(size_t)k * R + r] /= s;
  }
  const phx_ret p = {M, K, o->vdd, cv, w, S, G, G + R};
  return p;
}

phx_status phx_circ_forward_returned(const phx_model *m, const float *x, phx_circ_acts *a,
                                     phx_err *err) {
  const phx_model_opts *o = phx_model_get_opts(m);
  const phx_curve *cv = phx_model_curve(m);
  if (!cv) return phx_fail(err, PHX_EINVAL, "return solve: the model has no table neuron");
  size_t most = 1;
  for (int l = 0; l + 1 < o->nlayers; l++) {
    const int M = o->sizes[l + 1], K = o->sizes[l + 2];
    const size_t need = ((size_t)K + 1) * (2 * (size_t)M + 2) + K + phx_ret_work(M, K) + M;
    most = need > most ? need : most;
  }
  double *mem = malloc(most * sizeof *mem);
  if (!mem) return phx_fail(err, PHX_ENOMEM, "return solve: out of memory");
  phx_status s = PHX_OK;
  input_rows(o, x, a->u[0]);
  columns(o, phx_model_theta_const(m, 0), o->sizes[1], 2 * o->sizes[0] + 2, a->u[0], a->z[0]);
  for (int l = 0; l < o->nlayers; l++) {
    const int M = o->sizes[l + 1];
    double *u = a->u[l + 1], fv, fg;
    if (l + 1 == o->nlayers) { /* the outputs drive nothing */
      u[0] = o->vdd / 2;
      u[1] = -o->vdd / 2;
      for (int j = 0; j < M; j++) {
        phx_curve_eval(cv, neuron_in(m, l, j, a->z[l][j]), 0, &u[2 + j], &fv, &fg);
        phx_curve_eval(cv, u[2 + j], 0, &u[2 + M + j], &fv, &fg);
      }
      break;
    }
    /* rows of layer l+1 and its column nodes z[l+1] together */
    const phx_ret p = returned_layer(m, l, cv, mem);
    double *v = p.work + phx_ret_work(M, p.K);
    for (int j = 0; j < M; j++) v[j] = neuron_in(m, l, j, a->z[l][j]);
    if (phx_ret_forward(&p, v, u, a->z[l + 1])) {
      s = phx_fail(err, PHX_ESIM, "return solve: layer %d did not settle", l + 1);
      break;
    }
  }
  free(mem);
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
