/* Checkpoints as safetensors files: the model's tensors and metadata, plus
 * tensors and metadata keys named "train.*" (see checkpoint.h). */
#include "checkpoint.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

static const char *const OPT_NAME[4] = {"sgd", "momentum", "adam", "lbfgs"};

/* Keys of the scalar metadata, in one table for writing and reading. */
enum { K_VERSION, K_OPTIMIZER, K_EPOCHS, K_EPOCH, K_OFFSET, K_STEP, K_BATCH, K_LR,
       K_MOMENTUM, K_BETA1, K_BETA2, K_EPS, K_SEED, K_LIMIT, K_SAMPLES, K_HASH, K_COUNT };
static const char *const KEY[K_COUNT] = {
    "train.checkpoint", "train.optimizer", "train.epochs", "train.epoch",
    "train.offset",     "train.step",      "train.batch",  "train.lr",
    "train.momentum",   "train.beta1",     "train.beta2",  "train.eps",
    "train.seed",       "train.limit",     "train.samples", "train.data_hash"};

/* Chips per step of variation-aware training, when more than one. */
static const char KEY_DRAWS[] = "train.vary_draws";

uint64_t phx_ckpt_data_hash(const phx_dataset *d, int n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const unsigned char *p = (const unsigned char *)phx_dataset_x(d);
  size_t bytes = (size_t)n * (size_t)phx_dataset_dim(d) * sizeof(float);
  for (size_t i = 0; i < bytes; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  p = (const unsigned char *)phx_dataset_labels(d);
  for (size_t i = 0; i < (size_t)n * sizeof(int32_t); i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  /* regression targets too (classification data hashes as before) */
  p = (const unsigned char *)phx_dataset_y(d);
  bytes = p ? (size_t)n * (size_t)phx_dataset_targets(d) * sizeof(float) : 0;
  for (size_t i = 0; i < bytes; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

void phx_ckpt_free(phx_ckpt *c) {
  for (int l = 0; l < PHX_MAX_LAYERS; l++) {
    free(c->theta[l]);
    free(c->m[l]);
    free(c->v[l]);
  }
  free(c->loss);
  free(c->pred);
  memset(c, 0, sizeof *c);
}

/* Adds one extra tensor to the list. */
static void extra(phx_st_tensor *x, int *nx, const char *name, int l, phx_st_dtype t,
                  size_t count, const void *data) {
  phx_st_tensor *e = &x[(*nx)++];
  if (l >= 0) snprintf(e->name, sizeof e->name, "train.%s.%d", name, l);
  else snprintf(e->name, sizeof e->name, "train.%s", name);
  e->dtype = t;
  e->count = count;
  e->data = (void *)data;
}

phx_status phx_ckpt_save(const char *path, const phx_model *m, const phx_ckpt *c,
                         phx_err *err) {
  phx_st_tensor x[PHX_ST_MAX_EXTRA];
  int nx = 0;
  for (int l = 0; l < c->nlayers; l++) {
    extra(x, &nx, "theta", l, PHX_ST_F64, c->count[l], c->theta[l]);
    if (c->m[l]) extra(x, &nx, "m", l, PHX_ST_F64, c->count[l], c->m[l]);
    if (c->v[l]) extra(x, &nx, "v", l, PHX_ST_F64, c->count[l], c->v[l]);
  }
  if (c->offset > 0) {
    extra(x, &nx, "loss", -1, PHX_ST_F64, (size_t)c->offset, c->loss);
    extra(x, &nx, "pred", -1, PHX_ST_I32, (size_t)c->offset, c->pred);
  }
  char val[K_COUNT][48];
  const phx_train_opts *o = &c->opts;
  snprintf(val[K_VERSION], 48, "%s", PHX_CKPT_VERSION);
  snprintf(val[K_OPTIMIZER], 48, "%s", OPT_NAME[o->optimizer]);
  snprintf(val[K_EPOCHS], 48, "%d", o->epochs);
  snprintf(val[K_EPOCH], 48, "%d", c->epoch);
  snprintf(val[K_OFFSET], 48, "%d", c->offset);
  snprintf(val[K_STEP], 48, "%lld", c->step);
  snprintf(val[K_BATCH], 48, "%d", o->batch);
  /* %.17g reads back to the same double. */
  snprintf(val[K_LR], 48, "%.17g", o->lr);
  snprintf(val[K_MOMENTUM], 48, "%.17g", o->momentum);
  snprintf(val[K_BETA1], 48, "%.17g", o->beta1);
  snprintf(val[K_BETA2], 48, "%.17g", o->beta2);
  snprintf(val[K_EPS], 48, "%.17g", o->eps);
  snprintf(val[K_SEED], 48, "%" PRIu64, o->seed);
  snprintf(val[K_LIMIT], 48, "%d", o->limit);
  snprintf(val[K_SAMPLES], 48, "%d", c->samples);
  snprintf(val[K_HASH], 48, "%016" PRIx64, c->data_hash);
  const char *meta[2 * K_COUNT + 2];
  for (int k = 0; k < K_COUNT; k++) {
    meta[2 * k] = KEY[k];
    meta[2 * k + 1] = val[k];
  }
  /* only when not 1, so that other checkpoints keep their exact keys */
  char draws[16];
  snprintf(draws, sizeof draws, "%d", o->vary_draws);
  meta[2 * K_COUNT] = KEY_DRAWS;
  meta[2 * K_COUNT + 1] = draws;
  return phx_st_save(m, path, x, nx, meta, K_COUNT + (o->vary_draws > 1), err);
}

/* A metadata value as the writer formats it; -1 when absent or malformed. */
static int meta_num(const cJSON *meta, int k, int is_double, double *d, uint64_t *u,
                    const char *path, phx_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, KEY[k]);
  const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
  char *end = NULL;
  errno = 0;
  if (s && is_double && (*s == '-' || (*s >= '0' && *s <= '9'))) *d = strtod(s, &end);
  else if (s && !is_double && (k == K_HASH ? isxdigit((unsigned char)*s) : isdigit((unsigned char)*s)))
    *u = strtoull(s, &end, k == K_HASH ? 16 : 10);
  if (!s || !end || end == s || *end || errno || (is_double && !isfinite(*d))) {
    phx_fail(err, PHX_EFORMAT, "%s: checkpoint metadata \"%s\" is missing or malformed",
             path, KEY[k]);
    return -1;
  }
  return 0;
}

/* Reads the scalar metadata into c. */
static phx_status read_meta(const cJSON *meta, const char *path, phx_ckpt *c,
                            phx_err *err) {
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(meta, KEY[K_VERSION]);
  if (!ver)
    return phx_fail(err, PHX_EFORMAT,
                    "%s: a model file without training state, not a checkpoint", path);
  if (!cJSON_IsString(ver) || strcmp(ver->valuestring, PHX_CKPT_VERSION) != 0)
    return phx_fail(err, PHX_EFORMAT, "%s: checkpoint version is not %s", path,
                    PHX_CKPT_VERSION);
  const cJSON *on = cJSON_GetObjectItemCaseSensitive(meta, KEY[K_OPTIMIZER]);
  int opt = -1;
  for (int i = 0; i < 4 && cJSON_IsString(on); i++)
    if (strcmp(on->valuestring, OPT_NAME[i]) == 0) opt = i;
  if (opt < 0)
    return phx_fail(err, PHX_EFORMAT, "%s: checkpoint optimizer is not one of sgd, "
                    "momentum, adam, lbfgs", path);
  c->opts.optimizer = (phx_optimizer)opt;
  double d[5];
  uint64_t u[K_COUNT] = {0};
  static const int dbl[5] = {K_LR, K_MOMENTUM, K_BETA1, K_BETA2, K_EPS};
  static const int ints[9] = {K_EPOCHS, K_EPOCH, K_OFFSET, K_STEP, K_BATCH,
                              K_SEED,   K_LIMIT, K_SAMPLES, K_HASH};
  for (int i = 0; i < 5; i++)
    if (meta_num(meta, dbl[i], 1, &d[i], NULL, path, err)) return PHX_EFORMAT;
  for (int i = 0; i < 9; i++) {
    if (meta_num(meta, ints[i], 0, NULL, &u[ints[i]], path, err)) return PHX_EFORMAT;
    if (ints[i] != K_SEED && ints[i] != K_HASH && ints[i] != K_STEP &&
        u[ints[i]] > 0x7fffffffu)
      return phx_fail(err, PHX_EFORMAT, "%s: checkpoint metadata \"%s\" is out of range",
                      path, KEY[ints[i]]);
  }
  c->opts.lr = d[0], c->opts.momentum = d[1], c->opts.beta1 = d[2], c->opts.beta2 = d[3];
  c->opts.eps = d[4];
  c->opts.epochs = (int)u[K_EPOCHS];
  c->opts.batch = (int)u[K_BATCH];
  c->opts.seed = u[K_SEED];
  c->opts.limit = (int)u[K_LIMIT];
  c->epoch = (int)u[K_EPOCH];
  c->offset = (int)u[K_OFFSET];
  c->step = u[K_STEP] > (uint64_t)INT64_MAX ? -1 : (long long)u[K_STEP];
  c->samples = (int)u[K_SAMPLES];
  c->data_hash = u[K_HASH];
  if (c->step < 0 || c->samples < 1 || c->offset >= c->samples || c->opts.batch < 1)
    return phx_fail(err, PHX_EFORMAT, "%s: checkpoint position is inconsistent", path);
  const cJSON *dv = cJSON_GetObjectItemCaseSensitive(meta, KEY_DRAWS);
  if (dv) {
    char *end = NULL;
    const long k = cJSON_IsString(dv) ? strtol(dv->valuestring, &end, 10) : 0;
    if (!end || end == dv->valuestring || *end || k < 2 || k > 1024)
      return phx_fail(err, PHX_EFORMAT, "%s: checkpoint metadata \"%s\" is malformed", path,
                      KEY_DRAWS);
    c->opts.vary_draws = (int)k;
  }
  return PHX_OK;
}

/* Moves extra tensor `name` of `count` values and dtype t into *dst. */
static phx_status take(phx_st_tensor *x, int nx, const char *name, phx_st_dtype t,
                       size_t count, int required, void **dst, const char *path,
                       phx_err *err) {
  for (int i = 0; i < nx; i++) {
    if (strcmp(x[i].name, name) != 0) continue;
    if (x[i].dtype != t || x[i].count != count)
      return phx_fail(err, PHX_EFORMAT, "%s: tensor %s: expected %s [%zu]", path, name,
                      t == PHX_ST_F64 ? "F64" : "I32", count);
    if (t == PHX_ST_F64)
      for (size_t k = 0; k < count; k++)
        if (!isfinite(((double *)x[i].data)[k]))
          return phx_fail(err, PHX_ENAN, "%s: tensor %s: element %zu is not finite", path,
                          name, k);
    *dst = x[i].data;
    x[i].data = NULL;
    return PHX_OK;
  }
  if (required) return phx_fail(err, PHX_EFORMAT, "%s: tensor %s missing", path, name);
  return PHX_OK;
}

phx_status phx_ckpt_load(const char *path, phx_model **mout, phx_ckpt *c, phx_err *err) {
  memset(c, 0, sizeof *c);
  *mout = NULL;
  phx_model *m = NULL;
  phx_st_tensor *x = NULL;
  int nx = 0;
  cJSON *meta = NULL;
  phx_status s = phx_st_load(path, &m, &x, &nx, &meta, err);
  if (s) return s;
  s = read_meta(meta, path, c, err);
  const phx_model_opts *mo = phx_model_get_opts(m);
  c->nlayers = mo->nlayers;
  int moments = c->opts.optimizer == PHX_OPT_MOMENTUM || c->opts.optimizer == PHX_OPT_ADAM;
  char name[48];
  for (int l = 0; l < c->nlayers && !s; l++) {
    c->count[l] = (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
    snprintf(name, sizeof name, "train.theta.%d", l);
    s = take(x, nx, name, PHX_ST_F64, c->count[l], 1, (void **)&c->theta[l], path, err);
    snprintf(name, sizeof name, "train.m.%d", l);
    if (!s) s = take(x, nx, name, PHX_ST_F64, c->count[l], moments, (void **)&c->m[l], path, err);
    snprintf(name, sizeof name, "train.v.%d", l);
    if (!s) s = take(x, nx, name, PHX_ST_F64, c->count[l], moments, (void **)&c->v[l], path, err);
    /* The float model must be the exact parameters rounded. */
    const float *th = phx_model_theta_const(m, l);
    for (size_t i = 0; i < c->count[l] && !s; i++)
      if ((float)c->theta[l][i] != th[i])
        s = phx_fail(err, PHX_EFORMAT, "%s: train.theta.%d disagrees with layers.%d.theta",
                     path, l, l);
  }
  if (!s && c->offset > 0) {
    s = take(x, nx, "train.loss", PHX_ST_F64, (size_t)c->offset, 1, (void **)&c->loss, path,
             err);
    if (!s)
      s = take(x, nx, "train.pred", PHX_ST_I32, (size_t)c->offset, 1, (void **)&c->pred,
               path, err);
  }
  for (int i = 0; i < nx; i++) free(x[i].data);
  free(x);
  cJSON_Delete(meta);
  if (s) {
    phx_ckpt_free(c);
    phx_model_free(m);
    return s;
  }
  *mout = m;
  return PHX_OK;
}

phx_status phx_checkpoint_info(const char *path, phx_train_opts *o, int *epochs_done,
                               phx_err *err) {
  if (!path || !o) return phx_fail(err, PHX_EINVAL, "checkpoint: no path or options");
  phx_model *m = NULL;
  phx_ckpt c;
  phx_status s = phx_ckpt_load(path, &m, &c, err);
  if (s) return s;
  phx_train_opts_default(o);
  o->optimizer = c.opts.optimizer;
  o->epochs = c.opts.epochs;
  o->batch = c.opts.batch;
  o->lr = c.opts.lr;
  o->momentum = c.opts.momentum;
  o->beta1 = c.opts.beta1;
  o->beta2 = c.opts.beta2;
  o->eps = c.opts.eps;
  o->seed = c.opts.seed;
  o->limit = c.opts.limit;
  o->vary_draws = c.opts.vary_draws;
  if (epochs_done) *epochs_done = c.epoch;
  phx_ckpt_free(&c);
  phx_model_free(m);
  return PHX_OK;
}
