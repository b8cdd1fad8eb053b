/* Mismatch Monte Carlo of the neuron's first inverter (phaxcl vtc --mc):
 * many copies on one swept input in one ngspice run, each transistor
 * drawing its own threshold shift from the model library's mismatch
 * parameters; the spread of their switching points is the per-neuron
 * offset sigma that device variation draws (phx_variation.offset_sigma). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "circuit.h"

#define MC_MAX_INSTANCES 10000

typedef struct mc_ctx {
  const phx_vtc_opts *o;
  const phx_inverter *inv;
  int count;
  uint64_t seed;
} mc_ctx;

/* The deck: the inverter with the mismatch section, `count` copies. */
static void mc_deck(FILE *f, const void *ctx) {
  const mc_ctx *c = ctx;
  const phx_vtc_opts *o = c->o;
  const phx_inverter *inv = c->inv;
  const int count = c->count;
  const uint64_t seed = c->seed;
  phx_model_opts mo;
  phx_model_opts_default(&mo);
  mo.vdd = o->vdd;
  fprintf(f, "* phaxcl vtc --mc: %d mismatch instances of the first inverter\n", count);
  /* ngspice's AGAUSS draws at parse time, from this seed (1 .. 2^31-1) */
  fprintf(f, ".options seed=%llu\n", (unsigned long long)(seed % 2147483646ULL) + 1);
  phx_circ_write_neuron(f, inv, &mo);
  const char *name = inv->kind == PHX_INV_FILE ? inv->subckt_name : "phx_inv";
  fprintf(f, "VDD vdd 0 DC %.17g\nVSS vss 0 DC %.17g\nVIN in 0 DC 0\n", o->vdd / 2,
          -o->vdd / 2);
  for (int k = 0; k < count; k++) fprintf(f, "XI%d in mo%d vdd vss %s\n", k, k, name);
}

/* Where v (decreasing through 0: an inverter) crosses 0 V over the sweep
 * z, linear between points; NAN when it does not. */
static double crossing(const double *z, const double *v, int n) {
  for (int i = 1; i < n; i++)
    if ((v[i - 1] > 0) != (v[i] > 0)) return z[i - 1] + v[i - 1] / (v[i - 1] - v[i]) * (z[i] - z[i - 1]);
  return NAN;
}

phx_status phx_vtc_mc(const phx_vtc_opts *o, int instances, uint64_t seed, double *points,
                      double *mean, double *sigma, phx_err *err) {
  if (!o || !mean || !sigma) return phx_fail(err, PHX_EINVAL, "vtc --mc: options and results required");
  if (instances < 2 || instances > MC_MAX_INSTANCES)
    return phx_fail(err, PHX_EINVAL, "--mc: %d instances (expected 2 to %d)", instances,
                    MC_MAX_INSTANCES);
  if (!(o->vdd > 0) || !(o->step > 0) || !(o->step < o->vdd))
    return phx_fail(err, PHX_EINVAL, "vtc: need vdd > 0, 0 < step < vdd");
  if (o->inv.kind == PHX_INV_BEHAVIOURAL)
    return phx_fail(err, PHX_EINVAL, "--mc: a behavioural neuron has no transistors to mismatch");
  phx_inverter inv = o->inv;
  phx_status s = phx_inverter_check(&inv, err);
  if (s) return s;
  if (inv.kind == PHX_INV_SKY130) /* the corner's mismatch section: MC_MM_SWITCH=1 */
    strncat(inv.corner, "_mm", sizeof inv.corner - strlen(inv.corner) - 1);
  else if (!inv.corner[0])
    return phx_fail(err, PHX_EINVAL, "--mc with --inverter FILE needs --corner naming the "
                    "library's mismatch section");
  phx_engine *e = NULL;
  const mc_ctx ctx = {o, &inv, instances, seed};
  s = phx_vtc_sweep(o, mc_deck, &ctx, &e, err);
  int n = 0;
  const double *z = NULL;
  if (!s) {
    z = phx_engine_vec(e, "v-sweep", &n);
    if (!z) z = phx_engine_vec(e, "vin", &n);
    if (!z || n < 3) s = phx_fail(err, PHX_ESIM, "vtc --mc: ngspice gave no sweep");
  }
  double sum = 0, sq = 0, *pt = malloc((size_t)instances * sizeof *pt);
  if (!s && !pt) s = phx_fail(err, PHX_ENOMEM, "out of memory");
  for (int k = 0; !s && k < instances; k++) {
    char name[32];
    int len = 0;
    snprintf(name, sizeof name, "mo%d", k);
    const double *v = phx_engine_vec(e, name, &len);
    if (!v || len < n) {
      s = phx_fail(err, PHX_ESIM, "vtc --mc: ngspice gave no vector %s", name);
      break;
    }
    pt[k] = crossing(z, v, n);
    if (!isfinite(pt[k]))
      s = phx_fail(err, PHX_ESIM, "vtc --mc: instance %d never switches within the rails", k);
    sum += pt[k];
  }
  phx_engine_close(e);
  if (!s) {
    *mean = sum / instances;
    for (int k = 0; k < instances; k++) sq += (pt[k] - *mean) * (pt[k] - *mean);
    *sigma = sqrt(sq / (instances - 1));
    if (points) memcpy(points, pt, (size_t)instances * sizeof *pt);
  }
  free(pt);
  return s;
}
