/* In-memory datasets: construction from caller arrays (class labels or
 * regression targets), accessors, and the seeded train/test split. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "rng.h"

phx_status phx_dataset_alloc(int count, int dim, int classes, int targets,
                             phx_dataset **out, phx_err *err) {
  phx_dataset *d = calloc(1, sizeof *d);
  float *x = malloc((size_t)count * (size_t)dim * sizeof *x);
  int32_t *lab = calloc((size_t)count, sizeof *lab);
  float *y = targets > 0 ? malloc((size_t)count * (size_t)targets * sizeof *y) : NULL;
  if (!d || !x || !lab || (targets > 0 && !y)) {
    free(d), free(x), free(lab), free(y);
    return phx_fail(err, PHX_ENOMEM, "dataset: cannot allocate %d x %d values", count, dim);
  }
  d->count = count;
  d->dim = dim;
  d->classes = classes;
  d->targets = targets > 0 ? targets : 0;
  d->x = x;
  d->labels = lab;
  d->y = y;
  *out = d;
  return PHX_OK;
}

/* Shape and finiteness of caller arrays, shared by both constructors. */
static phx_status check_new(int count, int dim, const float *x, phx_dataset **out,
                            phx_err *err) {
  if (!out) return phx_fail(err, PHX_EINVAL, "dataset: out is NULL");
  *out = NULL;
  if (count < 1 || dim < 1)
    return phx_fail(err, PHX_EINVAL, "dataset: count and dim must be >= 1 (got %d, %d)",
                    count, dim);
  if (!x) return phx_fail(err, PHX_EINVAL, "dataset: x is NULL");
  size_t n = (size_t)count * (size_t)dim;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i]))
      return phx_fail(err, PHX_ENAN, "dataset: sample %zu, feature %zu is not finite (%g)",
                      i / (size_t)dim, i % (size_t)dim, x[i]);
  return PHX_OK;
}

/* Copies caller data after checking shape, finiteness and label range. */
phx_status phx_dataset_new(int count, int dim, int classes, const float *x,
                           const int32_t *labels, phx_dataset **out, phx_err *err) {
  phx_status s = check_new(count, dim, x, out, err);
  if (s) return s;
  if (classes < 1)
    return phx_fail(err, PHX_EINVAL, "dataset: classes must be >= 1 (got %d)", classes);
  if (!labels) return phx_fail(err, PHX_EINVAL, "dataset: labels is NULL");
  for (int i = 0; i < count; i++)
    if (labels[i] < 0 || labels[i] >= classes)
      return phx_fail(err, PHX_EINVAL, "dataset: label %d of sample %d is outside 0..%d",
                      (int)labels[i], i, classes - 1);
  if ((s = phx_dataset_alloc(count, dim, classes, 0, out, err))) return s;
  memcpy((*out)->x, x, (size_t)count * (size_t)dim * sizeof *x);
  memcpy((*out)->labels, labels, (size_t)count * sizeof *labels);
  return PHX_OK;
}

phx_status phx_dataset_new_regression(int count, int dim, int targets, const float *x,
                                      const float *y, phx_dataset **out, phx_err *err) {
  phx_status s = check_new(count, dim, x, out, err);
  if (s) return s;
  if (targets < 1)
    return phx_fail(err, PHX_EINVAL, "dataset: targets must be >= 1 (got %d)", targets);
  if (!y) return phx_fail(err, PHX_EINVAL, "dataset: y is NULL");
  size_t ny = (size_t)count * (size_t)targets;
  for (size_t i = 0; i < ny; i++)
    if (!isfinite(y[i]))
      return phx_fail(err, PHX_ENAN, "dataset: sample %zu, target %zu is not finite (%g)",
                      i / (size_t)targets, i % (size_t)targets, y[i]);
  if ((s = phx_dataset_alloc(count, dim, 1, targets, out, err))) return s;
  memcpy((*out)->x, x, (size_t)count * (size_t)dim * sizeof *x);
  memcpy((*out)->y, y, ny * sizeof *y);
  return PHX_OK;
}

void phx_dataset_free(phx_dataset *d) {
  if (!d) return;
  free(d->x);
  free(d->labels);
  free(d->y);
  free(d);
}

int phx_dataset_count(const phx_dataset *d) { return d->count; }
int phx_dataset_dim(const phx_dataset *d) { return d->dim; }
int phx_dataset_classes(const phx_dataset *d) { return d->classes; }
const float *phx_dataset_x(const phx_dataset *d) { return d->x; }
const int32_t *phx_dataset_labels(const phx_dataset *d) { return d->labels; }
int phx_dataset_targets(const phx_dataset *d) { return d->targets; }
const float *phx_dataset_y(const phx_dataset *d) { return d->y; }

/* Samples idx[0..n) of d as a new dataset (classes kept from d). */
static phx_status subset(const phx_dataset *d, const int32_t *idx, int n, phx_dataset **out,
                         phx_err *err) {
  phx_status s = phx_dataset_alloc(n, d->dim, d->classes, d->targets, out, err);
  if (s) return s;
  const size_t D = (size_t)d->dim, T = (size_t)d->targets;
  for (int i = 0; i < n; i++) {
    const size_t k = (size_t)idx[i];
    memcpy((*out)->x + (size_t)i * D, d->x + k * D, D * sizeof *d->x);
    (*out)->labels[i] = d->labels[k];
    if (T) memcpy((*out)->y + (size_t)i * T, d->y + k * T, T * sizeof *d->y);
  }
  return PHX_OK;
}

/* Which of d's samples go to test: a seeded Fisher-Yates shuffle whose
 * last round(count * f) samples test, the rest train (each part then kept
 * in file order). A mask of count bytes, or NULL with err set. */
static unsigned char *test_rows(const phx_dataset *d, double test_fraction, uint64_t seed,
                                int *ntest, phx_err *err) {
  if (!(test_fraction > 0 && test_fraction < 1)) {
    phx_fail(err, PHX_EINVAL, "--split: the test fraction must be in (0, 1) (got %g)",
             test_fraction);
    return NULL;
  }
  const int n = d->count;
  const int nt = (int)lround(n * test_fraction), ntrain = n - nt;
  if (nt < 1 || ntrain < 1) {
    phx_fail(err, PHX_EINVAL, "--split %g: %d samples leave %d to train and %d to test",
             test_fraction, n, ntrain, nt);
    return NULL;
  }
  int32_t *perm = malloc((size_t)n * sizeof *perm);
  unsigned char *is_test = calloc((size_t)n, 1);
  if (!perm || !is_test) {
    free(perm);
    free(is_test);
    phx_fail(err, PHX_ENOMEM, "split: out of memory for %d samples", n);
    return NULL;
  }
  phx_rng rng;
  phx_rng_seed(&rng, seed);
  for (int i = 0; i < n; i++) perm[i] = i;
  phx_rng_shuffle(&rng, perm, n);
  for (int i = ntrain; i < n; i++) is_test[perm[i]] = 1;
  free(perm);
  *ntest = nt;
  return is_test;
}

phx_status phx_dataset_split(const phx_dataset *d, double test_fraction, uint64_t seed,
                             phx_dataset **train, phx_dataset **test, phx_err *err) {
  if (!d || !train || !test) return phx_fail(err, PHX_EINVAL, "split: NULL argument");
  *train = *test = NULL;
  int ntest = 0;
  unsigned char *is_test = test_rows(d, test_fraction, seed, &ntest, err);
  if (!is_test) return err ? err->status : PHX_EINVAL;
  const int n = d->count, ntrain = n - ntest;
  int32_t *idx = malloc((size_t)n * sizeof *idx);
  phx_status s = PHX_OK;
  if (!idx) {
    s = phx_fail(err, PHX_ENOMEM, "split: out of memory for %d samples", n);
    goto out;
  }
  int a = 0, b = ntrain;
  for (int i = 0; i < n; i++) idx[is_test[i] ? b++ : a++] = i;
  if ((s = subset(d, idx, ntrain, train, err))) goto out;
  if ((s = subset(d, idx + ntrain, ntest, test, err))) {
    phx_dataset_free(*train);
    *train = NULL;
  }
out:
  free(is_test);
  free(idx);
  return s;
}

/* Shrinks an allocation to n bytes; keeps it when realloc cannot. */
static void *shrink(void *p, size_t n) {
  void *q = n ? realloc(p, n) : NULL;
  return q ? q : p;
}

phx_status phx_dataset_split_take(phx_dataset *d, double test_fraction, uint64_t seed,
                                  phx_dataset **test, phx_err *err) {
  if (!d || !test) return phx_fail(err, PHX_EINVAL, "split: NULL argument");
  *test = NULL;
  int ntest = 0;
  unsigned char *is_test = test_rows(d, test_fraction, seed, &ntest, err);
  if (!is_test) return err ? err->status : PHX_EINVAL;
  phx_dataset *t = NULL;
  phx_status s = phx_dataset_alloc(ntest, d->dim, d->classes, d->targets, &t, err);
  if (s) {
    free(is_test);
    return s;
  }
  /* train rows move up (never past where they are read), test rows out */
  const size_t D = (size_t)d->dim, T = (size_t)d->targets;
  size_t a = 0, b = 0;
  for (size_t i = 0; i < (size_t)d->count; i++) {
    phx_dataset *to = is_test[i] ? t : d;
    const size_t k = is_test[i] ? b++ : a++;
    if (to == d && k == i) continue;
    memmove(to->x + k * D, d->x + i * D, D * sizeof *d->x);
    if (T) memmove(to->y + k * T, d->y + i * T, T * sizeof *d->y);
    else to->labels[k] = d->labels[i]; /* regression labels stay 0, untouched */
  }
  free(is_test);
  d->count = (int)a;
  d->x = shrink(d->x, a * D * sizeof *d->x);
  d->labels = shrink(d->labels, a * sizeof *d->labels);
  if (T) d->y = shrink(d->y, a * T * sizeof *d->y);
  *test = t;
  return PHX_OK;
}
