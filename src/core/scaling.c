/* Fitting and applying a model's data scaling (scaling.h): feature ranges
 * onto [0, 1], regression targets onto the middle of the o- swing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "scaling.h"

/* Fraction of the o- half-swing |c2| the targets' range spans: the tanh
 * reaches it at a finite input, so every target stays trainable. */
#define PHX_TARGET_SWING 0.8

/* Range of column j of a row-major n x k float array; a constant column
 * gets a unit range centred on its value (so it maps to the middle). */
static void column_range(const float *a, int n, int k, int j, double *lo, double *hi) {
  double l = a[j], h = a[j];
  for (int i = 1; i < n; i++) {
    const double v = a[(size_t)i * (size_t)k + (size_t)j];
    l = v < l ? v : l;
    h = v > h ? v : h;
  }
  if (!(h > l)) {
    l -= 0.5;
    h += 0.5;
  }
  *lo = l;
  *hi = h;
}

phx_status phx_model_fit_scaling(phx_model *m, const phx_dataset *d, phx_err *err) {
  if (!m || !d) return phx_fail(err, PHX_EINVAL, "phx_model_fit_scaling: NULL argument");
  const phx_model_opts *o = phx_model_get_opts(m);
  const int F = d->dim, T = d->targets, out = o->sizes[o->nlayers];
  if (F != o->sizes[0])
    return phx_fail(err, PHX_ESHAPE, "the data has %d features but the model %d inputs", F,
                    o->sizes[0]);
  if (T && T != out)
    return phx_fail(err, PHX_ESHAPE, "the data has %d targets but the model %d outputs", T,
                    out);
  double *buf = malloc((2 * (size_t)F + 2 * (size_t)T) * sizeof *buf);
  if (!buf) return phx_fail(err, PHX_ENOMEM, "scaling: out of memory");
  for (int i = 0; i < F; i++) column_range(d->x, d->count, F, i, &buf[i], &buf[F + i]);
  for (int j = 0; j < T; j++)
    column_range(d->y, d->count, T, j, &buf[2 * F + j], &buf[2 * F + T + j]);
  const double swing = PHX_TARGET_SWING * fabs(o->c[1]);
  const phx_scaling sc = {F, buf, buf + F, T, buf + 2 * F, buf + 2 * F + T,
                          o->c[0] - swing, o->c[0] + swing, {0}};
  phx_status s = phx_model_set_scaling(m, &sc, err);
  free(buf);
  return s;
}

int phx_model_scaled(const phx_model *m) {
  phx_scaling sc;
  phx_model_get_scaling(m, &sc);
  return sc.features > 0 || sc.targets > 0;
}

int phx_model_targets(const phx_model *m) {
  phx_scaling sc;
  phx_model_get_scaling(m, &sc);
  return sc.targets;
}

double phx_model_scale_feature(const phx_model *m, int i, double x) {
  phx_scaling sc;
  phx_model_get_scaling(m, &sc);
  if (i < 0 || i >= sc.features) return x;
  return (x - sc.x_lo[i]) / (sc.x_hi[i] - sc.x_lo[i]);
}

double phx_model_unscale_target(const phx_model *m, int j, double v) {
  phx_scaling sc;
  phx_model_get_scaling(m, &sc);
  if (j < 0 || j >= sc.targets) return v;
  return sc.y_lo[j] + (v - sc.v_lo) / (sc.v_hi - sc.v_lo) * (sc.y_hi[j] - sc.y_lo[j]);
}

/* d's kind and shape against the model's: PHX_OK, or the refusal. */
static phx_status check_kind(const phx_model *m, const phx_scaling *sc, const phx_dataset *d,
                             phx_err *err) {
  const phx_model_opts *o = phx_model_get_opts(m);
  if (d->dim != o->sizes[0])
    return phx_fail(err, PHX_ESHAPE, "the data has %d features but the model %d inputs",
                    d->dim, o->sizes[0]);
  if (sc->targets != d->targets) {
    if (!sc->targets)
      return phx_fail(err, PHX_ESHAPE, "the data has regression targets but the model is a "
                      "classifier");
    if (!d->targets)
      return phx_fail(err, PHX_ESHAPE, "the data has class labels but the model is a "
                      "regression model of %d targets", sc->targets);
    return phx_fail(err, PHX_ESHAPE, "the data has %d targets but the model %d", d->targets,
                    sc->targets);
  }
  return PHX_OK;
}

/* src's values through sc into r (r may be src: each value is read before
 * it is written). */
static phx_status scale_into(const phx_scaling *sc, const phx_dataset *src, phx_dataset *r,
                             phx_err *err) {
  const size_t F = (size_t)src->dim, T = (size_t)src->targets;
  for (size_t i = 0; i < (size_t)src->count; i++) {
    for (size_t f = 0; sc->features && f < F; f++) {
      const double x = src->x[i * F + f];
      r->x[i * F + f] = (float)((x - sc->x_lo[f]) / (sc->x_hi[f] - sc->x_lo[f]));
      /* a feature far outside its training range would overflow float */
      if (!isfinite(r->x[i * F + f]))
        return phx_fail(err, PHX_ENAN, "sample %zu, feature %zu is not finite once scaled", i,
                        f);
    }
    for (size_t j = 0; j < T; j++) {
      const double y = src->y[i * T + j];
      r->y[i * T + j] = (float)(sc->v_lo + (y - sc->y_lo[j]) / (sc->y_hi[j] - sc->y_lo[j]) *
                                               (sc->v_hi - sc->v_lo));
    }
  }
  return PHX_OK;
}

phx_status phx_model_scale_data(const phx_model *m, const phx_dataset *d, phx_dataset **out,
                                phx_err *err) {
  if (!m || !d || !out) return phx_fail(err, PHX_EINVAL, "phx_model_scale_data: NULL argument");
  *out = NULL;
  phx_scaling sc;
  phx_model_get_scaling(m, &sc);
  phx_status s = check_kind(m, &sc, d, err);
  if (!s) s = phx_dataset_alloc(d->count, d->dim, d->classes, d->targets, out, err);
  if (s) return s;
  phx_dataset *r = *out;
  if (!sc.features) memcpy(r->x, d->x, (size_t)d->count * (size_t)d->dim * sizeof *d->x);
  memcpy(r->labels, d->labels, (size_t)d->count * sizeof *d->labels);
  if ((s = scale_into(&sc, d, r, err))) {
    phx_dataset_free(r);
    *out = NULL;
  }
  return s;
}

phx_status phx_model_scale_data_inplace(const phx_model *m, phx_dataset *d, phx_err *err) {
  if (!m || !d)
    return phx_fail(err, PHX_EINVAL, "phx_model_scale_data_inplace: NULL argument");
  phx_scaling sc;
  phx_model_get_scaling(m, &sc);
  phx_status s = check_kind(m, &sc, d, err);
  return s ? s : scale_into(&sc, d, d, err);
}
