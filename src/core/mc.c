/* Device variation settings and Monte Carlo evaluation: each draw maps
 * theta to a drawn chip on the backend (op map_vary) and runs the forward
 * pass over the data; the draws' accuracies give mean, spread and tail. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "net.h"
#include "scaling.h"
#include "vary.h"

#define MC_BATCH 256

void phx_variation_default(phx_variation *v) {
  memset(v, 0, sizeof *v);
  v->dist = PHX_VAR_LOGNORMAL;
}

phx_status phx_variation_check(const phx_variation *v, phx_err *err) {
  if (!v) return phx_fail(err, PHX_EINVAL, "variation settings missing");
  if (v->levels < 0 || v->levels == 1 || v->levels > 1 << 20)
    return phx_fail(err, PHX_EINVAL, "--levels: %d (expected 0 for continuous, or 2 to %d)",
                    v->levels, 1 << 20);
  if (!(v->sigma >= 0 && v->sigma <= 10))
    return phx_fail(err, PHX_EINVAL, "--sigma: %g (expected 0 to 1000 %%)", v->sigma * 100);
  if (v->dist != PHX_VAR_LOGNORMAL && v->dist != PHX_VAR_GAUSSIAN)
    return phx_fail(err, PHX_EINVAL, "--dist: unknown distribution %d", (int)v->dist);
  if (!(v->read_noise >= 0 && v->read_noise <= 10))
    return phx_fail(err, PHX_EINVAL, "--read-noise: %g (expected 0 to 1000 %%)",
                    v->read_noise * 100);
  if (v->nlist < 0 || v->nlist == 1 || v->nlist > PHX_MAX_LEVEL_LIST)
    return phx_fail(err, PHX_EINVAL, "--levels-file: %d levels (expected 2 to %d)", v->nlist,
                    PHX_MAX_LEVEL_LIST);
  if (v->nlist && v->levels)
    return phx_fail(err, PHX_EINVAL, "--levels and --levels-file exclude each other");
  for (int q = 0; q < v->nlist; q++)
    if (!(isfinite(v->list[q]) && v->list[q] > 0 && (q == 0 || v->list[q] > v->list[q - 1])))
      return phx_fail(err, PHX_EINVAL, "--levels-file: level %d (%g S) is not positive and "
                      "above the one before", q + 1, v->list[q]);
  if (!(v->offset_sigma >= 0 && v->offset_sigma <= 1))
    return phx_fail(err, PHX_EINVAL, "--offset-sigma: %g mV (expected 0 to 1000 mV)",
                    v->offset_sigma * 1e3);
  if (!(v->stuck_off >= 0 && v->stuck_off <= 1) || !(v->stuck_on >= 0 && v->stuck_on <= 1) ||
      !(v->stuck_off + v->stuck_on <= 1))
    return phx_fail(err, PHX_EINVAL,
                    "--stuck-off %g, --stuck-on %g: fractions in [0, 1] summing to at most 1",
                    v->stuck_off, v->stuck_on);
  return PHX_OK;
}

phx_status phx_variation_check_model(const phx_variation *v, const phx_model_opts *o,
                                     phx_err *err) {
  if (!v || !o) return phx_fail(err, PHX_EINVAL, "variation and model options required");
  const double gmax = o->gmin * o->ratio;
  for (int q = 0; q < v->nlist; q++)
    if (!(v->list[q] >= o->gmin * (1 - 1e-9) && v->list[q] <= gmax * (1 + 1e-9)))
      return phx_fail(err, PHX_EINVAL,
                      "--levels-file: level %d (%g S) is outside the model's [%g, %g] S", q + 1,
                      v->list[q], o->gmin, gmax);
  return PHX_OK;
}

phx_status phx_draw_conductances(const phx_model *m, const phx_variation *v,
                                 uint64_t seed, int draw, int l, double *g, phx_err *err) {
  if (!m || !g) return phx_fail(err, PHX_EINVAL, "phx_draw_conductances: model and output required");
  const phx_model_opts *o = phx_model_get_opts(m);
  phx_status s = phx_variation_check(v, err);
  if (!s) s = phx_variation_check_model(v, o, err);
  if (s) return s;
  if (l < 0 || l >= o->nlayers) return phx_fail(err, PHX_EINVAL, "no layer %d", l);
  if (draw < 0) return phx_fail(err, PHX_EINVAL, "--draw: must be >= 0 (got %d)", draw);
  const double k = o->ratio - 1;
  const uint32_t key = phx_vary_key(seed, draw, l);
  const float *th = phx_model_theta_const(m, l);
  const size_t n = (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
  for (size_t i = 0; i < n; i++) {
    const double gu = 1 + k / (1 + exp(-(double)th[i]));
    g[i] = o->gmin * phx_vary_cell_ref(gu, v, k, o->gmin, key, (uint32_t)i);
  }
  return PHX_OK;
}

double phx_draw_offset(const phx_variation *v, uint64_t seed, int draw, int l, int j) {
  if (!v || j < 0) return 0;
  return phx_vary_offset_ref(v->offset_sigma, phx_vary_key(seed, draw, l), (uint32_t)j);
}

/* The drawn chip's neuron offsets on *out (none without offset_sigma). */
static phx_status draw_offsets(phx_model *out, const phx_variation *v, uint64_t seed, int draw,
                               phx_err *err) {
  if (!(v->offset_sigma > 0)) return PHX_OK;
  const phx_model_opts *o = phx_model_get_opts(out);
  size_t total = 0;
  for (int l = 0; l < o->nlayers; l++) total += (size_t)o->sizes[l + 1];
  double *d = malloc(total * sizeof *d);
  if (!d) return phx_fail(err, PHX_ENOMEM, "out of memory for the neuron offsets");
  size_t at = 0;
  for (int l = 0; l < o->nlayers; l++)
    for (int j = 0; j < o->sizes[l + 1]; j++) d[at++] = phx_draw_offset(v, seed, draw, l, j);
  phx_status s = phx_model_set_offsets(out, d, err);
  free(d);
  return s;
}

phx_status phx_model_draw(const phx_model *m, const phx_variation *v, uint64_t seed,
                          int draw, phx_model **out, phx_err *err) {
  if (!m || !out) return phx_fail(err, PHX_EINVAL, "phx_model_draw: model and out required");
  *out = NULL;
  phx_model_opts o = *phx_model_get_opts(m);
  double *g[PHX_MAX_LAYERS] = {0};
  double lo = INFINITY, hi = 0;
  phx_status s = PHX_OK;
  for (int l = 0; l < o.nlayers && !s; l++) {
    const size_t n = (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
    g[l] = malloc(n * sizeof *g[l]);
    if (!g[l]) s = phx_fail(err, PHX_ENOMEM, "out of memory for the drawn conductances");
    if (!s) s = phx_draw_conductances(m, v, seed, draw, l, g[l], err);
    for (size_t i = 0; !s && i < n; i++) {
      if (g[l][i] < 1e-6 * o.gmin) g[l][i] = 1e-6 * o.gmin;
      lo = fmin(lo, g[l][i]);
      hi = fmax(hi, g[l][i]);
    }
  }
  if (!s) {
    /* a range a little wider than the drawn one keeps every logit finite */
    o.gmin = lo * (1 - 1e-7);
    o.ratio = hi * (1 + 1e-7) / o.gmin;
    s = phx_model_new(&o, out, err);
  }
  for (int l = 0; !s && l < o.nlayers; l++) {
    float *th = phx_model_theta(*out, l);
    const size_t n = (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
    for (size_t i = 0; i < n; i++) {
      const double p = (g[l][i] / o.gmin - 1) / (o.ratio - 1);
      th[i] = (float)log(p / (1 - p));
    }
  }
  if (!s) { /* the drawn chip reads and writes data as the trained one */
    phx_scaling sc;
    phx_model_get_scaling(m, &sc);
    s = phx_model_set_scaling(*out, &sc, err);
  }
  if (!s) s = phx_model_copy_table(m, *out, err);
  if (!s) s = draw_offsets(*out, v, seed, draw, err);
  for (int l = 0; l < o.nlayers; l++) free(g[l]);
  if (s && *out) {
    phx_model_free(*out);
    *out = NULL;
  }
  return s;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Fraction correct over the bound samples, after the map in place. */
static phx_status accuracy(phx_net *net, int n, double *acc, phx_err *err) {
  const int mb = phx_net_max_batch(net);
  phx_status s = PHX_OK;
  for (int off = 0; !s && off < n; off += mb)
    s = phx_net_batch(net, PHX_SLOT_TEST, (size_t)off, n - off < mb ? n - off : mb, 1.0, 0, 0, err);
  long correct = 0;
  if (!s) s = phx_net_metrics(net, PHX_SLOT_TEST, n, NULL, &correct, NULL, NULL, err);
  if (!s) *acc = (double)correct / n;
  return s;
}

/* One worker's share of the draws: k = first, first + step, ... below end
 * on its own net, so that workers share nothing but the read-only inputs. */
typedef struct mc_job {
  phx_backend *b;
  const phx_model *m;
  const phx_dataset *d;
  const phx_variation *v;
  int n, first, step, end, base; /* acc[k - base] receives draw k */
  int pass;                      /* chips per pass (phx_net_draws_correct), 0: one */
  uint64_t seed;
  double *acc, *ideal;           /* ideal: NULL, or this worker measures it */
  phx_status s;
  phx_err err;
} mc_job;

static void mc_work(void *jobs, int t, int T) {
  mc_job *j = (mc_job *)jobs + t;
  (void)T;
  phx_net *net = NULL;
  phx_err *err = &j->err;
  phx_status s = phx_net_new(j->b, phx_model_get_opts(j->m), j->n < MC_BATCH ? j->n : MC_BATCH,
                             &net, err);
  if (!s) s = phx_net_set_theta(net, j->m, err);
  if (!s) s = phx_net_bind(net, PHX_SLOT_TEST, j->d, j->n, err);
  if (!s && j->ideal) s = accuracy(net, j->n, j->ideal, err);
  for (int k = j->first; !s && j->pass && k < j->end; k += j->pass) {
    long ok[PHX_MC_PASS];
    const int P = j->end - k < j->pass ? j->end - k : j->pass;
    s = phx_net_draws_correct(net, j->v, j->seed, k, P, j->n, ok, err);
    for (int d = 0; !s && d < P; d++) j->acc[k + d - j->base] = (double)ok[d] / j->n;
  }
  for (int k = j->first; !s && !j->pass && k < j->end; k += j->step) {
    s = phx_net_map_vary(net, j->v, j->seed, k, err);
    if (!s) s = accuracy(net, j->n, &j->acc[k - j->base], err);
  }
  phx_net_free(net);
  j->s = s;
}

/* Workers: the C path's draws run on every core this process may use
 * (phx_host_workers: MPI ranks bound to cores do not oversubscribe them;
 * each draw is its own pure function of seed and number, so the split
 * changes no result); an OpenCL device runs them in order. */
static int mc_workers(const phx_backend *b, int draws) {
  const char *name = phx_backend_name(b);
  if (strcmp(name, "c") != 0 && strcmp(name, "c64") != 0) return 1;
  return phx_host_workers(draws);
}

/* Whether draws run many chips per pass: on a device (the C path runs
 * one chip per core instead). */
static int mc_batched(const phx_backend *b, const phx_model *m) {
  const char *name = phx_backend_name(b);
  return strcmp(name, "c") && strcmp(name, "c64") && !phx_model_get_opts(m)->load_aware;
}

/* The shared checks; n receives the samples per draw. */
static phx_status mc_check(phx_backend *b, const phx_model *m, const phx_dataset *d, int limit,
                           const phx_variation *v, int draws, int *n, phx_err *err) {
  if (!b || !m || !d || !v)
    return phx_fail(err, PHX_EINVAL,
                    "monte carlo: backend, model, data and variation are required");
  if (draws < 1 || draws > 10000000)
    return phx_fail(err, PHX_EINVAL, "--draws: %d (expected 1 to 10000000)", draws);
  if (limit < 0) return phx_fail(err, PHX_EINVAL, "--limit: must be >= 0 (got %d)", limit);
  if (phx_model_targets(m) || phx_dataset_targets(d))
    return phx_fail(err, PHX_EINVAL, "phx_monte_carlo scores classes; a regression model's "
                    "draws: phx_model_draw and phx_evaluate_regression");
  phx_status s = phx_variation_check(v, err);
  if (!s) s = phx_variation_check_model(v, phx_model_get_opts(m), err);
  if (s) return s;
  *n = phx_dataset_count(d);
  if (limit > 0 && limit < *n) *n = limit;
  if (*n < 1) return phx_fail(err, PHX_ESHAPE, "the data set is empty");
  return PHX_OK;
}

phx_status phx_monte_carlo_range(phx_backend *b, const phx_model *m, const phx_dataset *d,
                                 int limit, const phx_variation *v, uint64_t seed, int first,
                                 int count, double *acc, double *ideal, phx_err *err) {
  int n = 0;
  phx_status s = mc_check(b, m, d, limit, v, count < 1 ? 1 : count, &n, err);
  if (s) return s;
  if (first < 0 || (count > 0 && !acc))
    return phx_fail(err, PHX_EINVAL, "monte carlo: draws from %d, %d of them, need acc", first,
                    count);
  const int T = mc_workers(b, count > 0 ? count : 1);
  /* a device takes many chips per pass, so that launches do not dominate
   * (not load-aware nets: their rows' loads differ chip by chip) */
  const int pass = T == 1 && mc_batched(b, m) ? PHX_MC_PASS : 0;
  mc_job jobs[PHX_HOST_MAX_THREADS];
  for (int t = 0; t < T; t++)
    jobs[t] = (mc_job){.b = b, .m = m, .d = d, .v = v, .n = n, .first = first + t, .step = T,
                       .end = first + count, .base = first, .pass = pass, .seed = seed, .acc = acc,
                       .ideal = t == 0 ? ideal : NULL, .s = PHX_OK, .err = {PHX_OK, ""}};
  phx_host_run(T, mc_work, jobs);
  for (int t = 0; t < T && !s; t++)
    if (jobs[t].s) s = phx_fail(err, jobs[t].s, "%s", jobs[t].err.msg);
  return s;
}

phx_status phx_mc_summary(const double *acc, int draws, double ideal, int count,
                          phx_mc_result *res, phx_err *err) {
  if (!acc || !res || draws < 1)
    return phx_fail(err, PHX_EINVAL,
                    "phx_mc_summary: accuracies, at least one draw and result required");
  double *a = malloc((size_t)draws * sizeof *a);
  if (!a) return phx_fail(err, PHX_ENOMEM, "out of memory for %d draws", draws);
  memset(res, 0, sizeof *res);
  res->ideal = ideal;
  double sum = 0, sq = 0;
  for (int k = 0; k < draws; k++) sum += acc[k];
  res->mean = sum / draws;
  for (int k = 0; k < draws; k++) sq += (acc[k] - res->mean) * (acc[k] - res->mean);
  res->std = draws > 1 ? sqrt(sq / (draws - 1)) : 0;
  memcpy(a, acc, (size_t)draws * sizeof *a);
  qsort(a, (size_t)draws, sizeof *a, cmp_double);
  res->min = a[0];
  res->max = a[draws - 1];
  /* 5th percentile: linear between the order statistics around it */
  const double pos = 0.05 * (draws - 1);
  const int lo = (int)pos;
  res->p5 = lo + 1 < draws ? a[lo] + (pos - lo) * (a[lo + 1] - a[lo]) : a[lo];
  res->draws = draws;
  res->count = count;
  free(a);
  return PHX_OK;
}

phx_status phx_monte_carlo(phx_backend *b, const phx_model *m, const phx_dataset *d,
                           int limit, const phx_variation *v, int draws, uint64_t seed,
                           phx_mc_result *res, double *acc, phx_err *err) {
  int n = 0;
  if (!res) return phx_fail(err, PHX_EINVAL, "phx_monte_carlo: result required");
  phx_status s = mc_check(b, m, d, limit, v, draws, &n, err);
  if (s) return s;
  double *a = malloc((size_t)draws * sizeof *a), ideal = 0;
  if (!a) return phx_fail(err, PHX_ENOMEM, "out of memory for %d draws", draws);
  s = phx_monte_carlo_range(b, m, d, limit, v, seed, 0, draws, a, &ideal, err);
  if (!s) s = phx_mc_summary(a, draws, ideal, n, res, err);
  if (!s && acc) memcpy(acc, a, (size_t)draws * sizeof *a);
  free(a);
  return s;
}
