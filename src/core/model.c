/* The model: its options (defaults and range checks), its parameters theta
 * (one row-major M x R float matrix per layer) and their seeded
 * initialisation. Files (safetensors.c) and backends build on this. */
#define _DEFAULT_SOURCE /* sysconf(_SC_PHYS_PAGES) */
#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "curve.h"
#include "net.h"
#include "rng.h"
#include "scaling.h"

/* Largest layer width accepted; keeps R = 2N+2 and M*R within int. */
#define PHX_MAX_SIZE 1000000

struct phx_model {
  phx_model_opts opts;
  int has_vary;       /* the chip it was trained for (saved with it) */
  phx_variation vary;
  float *theta[PHX_MAX_LAYERS]; /* theta[l] points into one allocation */
  float *data;
  phx_curve curve;              /* curve.L = 0: the tanh fits */
  double *curve_mem;            /* T then loads */
  phx_scaling sc;               /* sc.x_lo etc. point into scale_data */
  double *scale_data;
  double *offsets;              /* a drawn chip's neuron offsets (V), or NULL */
  char *spec_text;              /* sc.data.target and .header point here */
};

/* docs/model.md defaults, so every caller starts from the same circuit. */
void phx_model_opts_default(phx_model_opts *o) {
  static const double c[4] = {-0.0012, -0.2483, -0.0235, 31.7581};
  static const double d[4] = {-0.0011, 0.2490, -0.0203, 193.0602};
  memset(o, 0, sizeof *o);
  o->nlayers = 2;
  o->sizes[0] = 196;
  o->sizes[1] = 100;
  o->sizes[2] = 10;
  o->vdd = 0.5;
  o->gmin = 0.12e-6;
  o->ratio = 8.33;
  memcpy(o->c, c, sizeof c);
  memcpy(o->d, d, sizeof d);
  o->loss = PHX_LOSS_CE;
}

/* Checks one VTC fit: finite coefficients and a non-zero slope a4. */
static phx_status check_fit(const double *a, const char *name, phx_err *err) {
  for (int i = 0; i < 4; i++)
    if (!isfinite(a[i]))
      return phx_fail(err, PHX_EINVAL, "--%s: %s%d must be finite (got %g)",
                      name, name, i + 1, a[i]);
  if (a[3] == 0.0)
    return phx_fail(err, PHX_EINVAL, "--%s: %s4 (the slope) must be nonzero",
                    name, name);
  return PHX_OK;
}

/* A finite value strictly above a bound (vdd, gmin > 0; ratio > 1). */
static phx_status check_positive(double v, const char *opt, double above,
                                 phx_err *err) {
  if (!isfinite(v))
    return phx_fail(err, PHX_EINVAL, "%s: must be finite (got %g)", opt, v);
  if (!(v > above))
    return phx_fail(err, PHX_EINVAL, "%s: must be > %g (got %g)", opt, above, v);
  return PHX_OK;
}

/* Validates options before anything is allocated; messages name the CLI
 * option that sets the offending field. */
phx_status phx_model_opts_check(const phx_model_opts *o, phx_err *err) {
  if (!o) return phx_fail(err, PHX_EINVAL, "model options: NULL");
  if (o->nlayers < 1 || o->nlayers > PHX_MAX_LAYERS)
    return phx_fail(err, PHX_EINVAL,
                    "--layers: need 1 to %d layers, i.e. 2 to %d sizes (got %d layers)",
                    PHX_MAX_LAYERS, PHX_MAX_LAYERS + 1, o->nlayers);
  for (int l = 0; l <= o->nlayers; l++)
    if (o->sizes[l] < 1 || o->sizes[l] > PHX_MAX_SIZE)
      return phx_fail(err, PHX_EINVAL,
                      "--layers: size %d must be in 1..%d (got %d)", l + 1,
                      PHX_MAX_SIZE, o->sizes[l]);
  phx_status s;
  for (int l = 0; l < o->nlayers; l++) {
    long long r = 2LL * o->sizes[l] + 2, m = o->sizes[l + 1];
    if (r * m > 0x7fffffffLL)
      return phx_fail(err, PHX_EINVAL,
                      "--layers: layer %d (%d -> %d) has too many parameters (%lld)",
                      l + 1, o->sizes[l], o->sizes[l + 1], r * m);
  }
  s = check_positive(o->vdd, "--vdd", 0.0, err);
  if (s) return s;
  s = check_positive(o->gmin, "--gmin", 0.0, err);
  if (s) return s;
  s = check_positive(o->ratio, "--ratio", 1.0, err);
  if (s) return s;
  s = check_fit(o->c, "c", err);
  if (s) return s;
  s = check_fit(o->d, "d", err);
  if (s) return s;
  if (o->loss != PHX_LOSS_CE && o->loss != PHX_LOSS_MSE)
    return phx_fail(err, PHX_EINVAL, "--loss: must be ce or mse (got %d)", (int)o->loss);
  if (o->load_aware < 0 || o->load_aware > 2)
    return phx_fail(err, PHX_EINVAL, "--load-aware: must be 0, 1 or 2 (got %d)", o->load_aware);
  return PHX_OK;
}

/* Physical memory in bytes; 0 when the system does not say. */
static double host_memory(void) {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && size > 0) return (double)pages * (double)size;
#endif
  return 0;
}

/* Refused up front: calloc would succeed (overcommit) and the first pass
 * over the memory would bring in the OOM killer instead of an error. */
phx_status phx_check_fits(double bytes, const char *what, phx_err *err) {
  double have = host_memory();
  if (have > 0 && bytes > have)
    return phx_fail(err, PHX_ENOMEM, "%s needs %.1f GB of memory, more than the %.1f GB "
                    "this machine has", what, bytes / 1e9, have / 1e9);
  return PHX_OK;
}

/* Allocates all layers in one zeroed block, layer after layer. */
phx_status phx_model_new(const phx_model_opts *o, phx_model **out, phx_err *err) {
  if (!out) return phx_fail(err, PHX_EINVAL, "phx_model_new: out is NULL");
  *out = NULL;
  phx_status s = phx_model_opts_check(o, err);
  if (s) return s;
  size_t total = 0;
  for (int l = 0; l < o->nlayers; l++)
    total += (size_t)o->sizes[l + 1] * (size_t)(2 * o->sizes[l] + 2);
  char what[64];
  snprintf(what, sizeof what, "a model of %zu parameters", total);
  if ((s = phx_check_fits((double)total * sizeof(float), what, err))) return s;
  phx_model *m = calloc(1, sizeof *m);
  float *data = calloc(total, sizeof *data);
  if (!m || !data) {
    free(m);
    free(data);
    return phx_fail(err, PHX_ENOMEM, "model: cannot allocate %zu parameters", total);
  }
  m->opts = *o;
  for (int l = o->nlayers + 1; l <= PHX_MAX_LAYERS; l++) m->opts.sizes[l] = 0;
  m->data = data;
  size_t off = 0;
  for (int l = 0; l < o->nlayers; l++) {
    m->theta[l] = data + off;
    off += (size_t)o->sizes[l + 1] * (size_t)(2 * o->sizes[l] + 2);
  }
  *out = m;
  return PHX_OK;
}

void phx_model_free(phx_model *m) {
  if (!m) return;
  free(m->data);
  free(m->scale_data);
  free(m->spec_text);
  free(m->curve_mem);
  free(m->offsets);
  free(m);
}

phx_status phx_model_set_table(phx_model *m, int L, int nv, double v0, double dv,
                               const double *loads, const double *values, phx_err *err) {
  if (!m) return phx_fail(err, PHX_EINVAL, "neuron table: no model");
  if (L == 0) {
    free(m->curve_mem);
    m->curve_mem = NULL;
    memset(&m->curve, 0, sizeof m->curve);
    return PHX_OK;
  }
  if (L < 1 || L > 4096 || nv < 5 || nv > 1000000 || !loads || !values)
    return phx_fail(err, PHX_EINVAL, "neuron table: need 1 to 4096 loads and 5 to 1000000 "
                    "inputs (got %d x %d)", L, nv);
  if (!isfinite(v0) || !(dv > 0) || !isfinite(dv))
    return phx_fail(err, PHX_EINVAL, "neuron table: input grid v0 %g, step %g is not valid",
                    v0, dv);
  if (loads[0] != 0)
    return phx_fail(err, PHX_EINVAL, "neuron table: the first load must be 0 S (got %g)",
                    loads[0]);
  for (int k = 1; k < L; k++)
    if (!(loads[k] > loads[k - 1]) || !isfinite(loads[k]))
      return phx_fail(err, PHX_EINVAL, "neuron table: loads must increase (load %d: %g)", k,
                      loads[k]);
  for (size_t i = 0; i < (size_t)L * nv; i++)
    if (!isfinite(values[i]))
      return phx_fail(err, PHX_ENAN, "neuron table: value %zu is not finite", i);
  double *mem = malloc(((size_t)L * nv * 2 + (size_t)L) * sizeof *mem);
  if (!mem) return phx_fail(err, PHX_ENOMEM, "neuron table: out of memory");
  for (size_t i = 0; i < (size_t)L * nv; i++) mem[2 * i] = values[i];
  phx_curve_slopes(mem, L, nv, dv);
  double *ld = mem + (size_t)L * nv * 2;
  memcpy(ld, loads, (size_t)L * sizeof *ld);
  free(m->curve_mem);
  m->curve_mem = mem;
  m->curve = (phx_curve){L, nv, v0, dv, mem, ld};
  return PHX_OK;
}

int phx_model_table(const phx_model *m, int *nv, double *v0, double *dv,
                    const double **loads, const double **T) {
  if (nv) *nv = m->curve.NV;
  if (v0) *v0 = m->curve.v0;
  if (dv) *dv = m->curve.dv;
  if (loads) *loads = m->curve.loads;
  if (T) *T = m->curve.T;
  return m->curve.L;
}

const phx_curve *phx_model_curve(const phx_model *m) {
  return m->curve.L > 0 ? &m->curve : NULL;
}

phx_status phx_model_copy_table(const phx_model *from, phx_model *to, phx_err *err) {
  const phx_curve *c = &from->curve;
  if (c->L == 0) return phx_model_set_table(to, 0, 0, 0, 0, NULL, NULL, err);
  const size_t n = (size_t)c->L * c->NV * 2 + (size_t)c->L; /* T, then loads */
  double *mem = malloc(n * sizeof *mem);
  if (!mem) return phx_fail(err, PHX_ENOMEM, "neuron table: out of memory");
  memcpy(mem, from->curve_mem, n * sizeof *mem);
  free(to->curve_mem);
  to->curve_mem = mem;
  to->curve = (phx_curve){c->L, c->NV, c->v0, c->dv, mem, mem + (size_t)c->L * c->NV * 2};
  return PHX_OK;
}


void phx_model_get_scaling(const phx_model *m, phx_scaling *sc) { *sc = m->sc; }

/* Copies sc into m after checking it against m's sizes; features 0 and
 * targets 0 clear the scaling. */
phx_status phx_model_set_scaling(phx_model *m, const phx_scaling *sc, phx_err *err) {
  const int F = sc->features, T = sc->targets;
  if ((F != 0 && F != m->opts.sizes[0]) ||
      (T != 0 && T != m->opts.sizes[m->opts.nlayers]))
    return phx_fail(err, PHX_ESHAPE, "scaling: %d features and %d targets do not fit a model "
                    "of %d inputs and %d outputs", F, T, m->opts.sizes[0],
                    m->opts.sizes[m->opts.nlayers]);
  const phx_data_spec *d = &sc->data;
  if (d->target && !(d->split >= 0 && d->split < 1 && d->rows >= 0))
    return phx_fail(err, PHX_EINVAL, "data spec: split %g (expected [0, 1)) or rows %lld "
                    "(expected >= 0) out of range", d->split, (long long)d->rows);
  /* the strings first: d may point into m's own */
  const char *hd = d->header ? d->header : "";
  const size_t nt = d->target ? strlen(d->target) + 1 : 0, nh = d->target ? strlen(hd) + 1 : 0;
  char *text = nt ? malloc(nt + nh) : NULL;
  if (nt && !text) return phx_fail(err, PHX_ENOMEM, "scaling: out of memory");
  if (nt) {
    memcpy(text, d->target, nt);
    memcpy(text + nt, hd, nh);
  }
  const size_t n = 2 * (size_t)F + 2 * (size_t)T;
  double *buf = n ? malloc(n * sizeof *buf) : NULL;
  if (n && !buf) {
    free(text);
    return phx_fail(err, PHX_ENOMEM, "scaling: out of memory");
  }
  for (int i = 0; i < F; i++) {
    buf[i] = sc->x_lo[i];
    buf[F + i] = sc->x_hi[i];
  }
  for (int j = 0; j < T; j++) {
    buf[2 * F + j] = sc->y_lo[j];
    buf[2 * F + T + j] = sc->y_hi[j];
  }
  free(m->scale_data);
  m->scale_data = buf;
  m->sc = *sc;
  m->sc.x_lo = F ? buf : NULL;
  m->sc.x_hi = F ? buf + F : NULL;
  m->sc.y_lo = T ? buf + 2 * F : NULL;
  m->sc.y_hi = T ? buf + 2 * F + T : NULL;
  if (!T) m->sc.v_lo = m->sc.v_hi = 0;
  free(m->spec_text);
  m->spec_text = text;
  if (text) {
    m->sc.data.target = text;
    m->sc.data.header = text + nt;
  } else {
    m->sc.data = (phx_data_spec){0};
  }
  return PHX_OK;
}

phx_status phx_model_set_data_spec(phx_model *m, const phx_data_spec *d, phx_err *err) {
  if (!m) return phx_fail(err, PHX_EINVAL, "phx_model_set_data_spec: model is NULL");
  phx_scaling sc = m->sc;
  sc.data = d ? *d : (phx_data_spec){0};
  return phx_model_set_scaling(m, &sc, err);
}

int phx_model_get_data_spec(const phx_model *m, phx_data_spec *d) {
  *d = m ? m->sc.data : (phx_data_spec){0};
  return d->target != NULL;
}

/* Glorot-uniform draw from one generator over all layers in order, row-major,
 * so any backend that starts from this host copy gets the same values. */
void phx_model_init(phx_model *m, uint64_t seed) {
  phx_rng rng;
  phx_rng_seed(&rng, seed);
  for (int l = 0; l < m->opts.nlayers; l++) {
    int M = phx_model_rows(m, l), R = phx_model_cols(m, l);
    double e = sqrt(6.0 / (double)(R + M));
    size_t n = (size_t)M * (size_t)R;
    for (size_t i = 0; i < n; i++)
      m->theta[l][i] = (float)((2.0 * phx_rng_uniform(&rng) - 1.0) * e);
  }
}

const phx_model_opts *phx_model_get_opts(const phx_model *m) { return &m->opts; }

float *phx_model_theta(phx_model *m, int l) {
  return (l >= 0 && l < m->opts.nlayers) ? m->theta[l] : NULL;
}

const float *phx_model_theta_const(const phx_model *m, int l) {
  return (l >= 0 && l < m->opts.nlayers) ? m->theta[l] : NULL;
}

int phx_model_rows(const phx_model *m, int l) {
  return (l >= 0 && l < m->opts.nlayers) ? m->opts.sizes[l + 1] : 0;
}

int phx_model_cols(const phx_model *m, int l) {
  return (l >= 0 && l < m->opts.nlayers) ? 2 * m->opts.sizes[l] + 2 : 0;
}

const phx_variation *phx_model_get_variation(const phx_model *m) {
  return m && m->has_vary ? &m->vary : NULL;
}

phx_status phx_model_set_variation(phx_model *m, const phx_variation *v, phx_err *err) {
  if (!m) return phx_fail(err, PHX_EINVAL, "phx_model_set_variation: model is NULL");
  if (v) {
    phx_status s = phx_variation_check(v, err);
    if (!s) s = phx_variation_check_model(v, &m->opts, err);
    if (s) return s;
    m->vary = *v;
  }
  m->has_vary = v != NULL;
  return PHX_OK;
}

/* Neurons before layer l's first: the offsets' layout. */
static size_t neurons_before(const phx_model_opts *o, int l) {
  size_t n = 0;
  for (int k = 0; k < l; k++) n += (size_t)o->sizes[k + 1];
  return n;
}

const double *phx_model_offsets(const phx_model *m, int l) {
  if (!m || !m->offsets || l < 0 || l >= m->opts.nlayers) return NULL;
  return m->offsets + neurons_before(&m->opts, l);
}

phx_status phx_model_set_offsets(phx_model *m, const double *delta, phx_err *err) {
  if (!m) return phx_fail(err, PHX_EINVAL, "phx_model_set_offsets: model is NULL");
  const size_t n = neurons_before(&m->opts, m->opts.nlayers);
  double *d = NULL;
  if (delta) {
    for (size_t i = 0; i < n; i++)
      if (!isfinite(delta[i]) || fabs(delta[i]) > m->opts.vdd)
        return phx_fail(err, PHX_EINVAL, "neuron offset %zu: %g V (expected finite, within "
                        "+-vdd)", i, delta[i]);
    if (!(d = malloc(n * sizeof *d)))
      return phx_fail(err, PHX_ENOMEM, "out of memory for %zu neuron offsets", n);
    memcpy(d, delta, n * sizeof *d);
  }
  free(m->offsets);
  m->offsets = d;
  return PHX_OK;
}
