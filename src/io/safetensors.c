/* Model files in the safetensors format: an 8-byte little-endian header
 * length, a JSON header (tensor table plus "__metadata__" of strings), then
 * the raw little-endian tensor data. One F32 tensor "layers.{l}.theta" of
 * shape [M, 2N+2] per layer; the metadata holds every model option.
 * Checkpoints add 1-D tensors and metadata keys named "train.*" (see
 * safetensors.h). Saving is atomic; loading validates the whole file before
 * it returns. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "safetensors.h"
#include "scaling.h"

#define ST_MAX_HEADER (100u * 1024u * 1024u) /* same cap as the reference */
#define ST_FORMAT "phaxcl"

/* The metadata of a model's recorded variation (phx_model_get_variation):
 * these four numbers, then variation.levels and variation.dist; all or
 * none. variation.offset_sigma (V) only when not 0, so that files without
 * it read as no offsets. */
static const char *const VARY_KEYS[4] = {"variation.sigma", "variation.read_noise",
                                         "variation.stuck_off", "variation.stuck_on"};

/* ---- encoding helpers ---------------------------------------------------- */

/* Shortest "%.{15,16,17}g" text that reads back to exactly v. */
static void fmt_double(char *buf, size_t n, double v) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) return;
  }
}

/* "a,b,c,d" of four doubles, each exact. */
static void fmt_fit(char *buf, size_t n, const double *a) {
  char t[4][40];
  for (int i = 0; i < 4; i++) fmt_double(t[i], sizeof t[i], a[i]);
  snprintf(buf, n, "%s,%s,%s,%s", t[0], t[1], t[2], t[3]);
}

static void put_le32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static const char *const DTYPE_NAME[2] = {"F64", "I32"};
static const size_t DTYPE_SIZE[2] = {8, 4};

/* Adds one tensor entry: dtype, shape, data_offsets [*off, *off + bytes). */
static int add_entry(cJSON *root, const char *name, const char *dtype, const int *shape,
                     int rank, unsigned long long bytes, unsigned long long *off) {
  char num[32];
  cJSON *t = cJSON_AddObjectToObject(root, name);
  int ok = t && cJSON_AddStringToObject(t, "dtype", dtype);
  cJSON *sh = ok ? cJSON_AddArrayToObject(t, "shape") : NULL;
  cJSON *offs = sh ? cJSON_AddArrayToObject(t, "data_offsets") : NULL;
  ok = offs != NULL;
  /* Integers as raw text so large offsets print exactly. */
  for (int i = 0; ok && i < rank; i++) {
    snprintf(num, sizeof num, "%d", shape[i]);
    ok = cJSON_AddItemToArray(sh, cJSON_CreateRaw(num));
  }
  snprintf(num, sizeof num, "%llu", *off);
  ok = ok && cJSON_AddItemToArray(offs, cJSON_CreateRaw(num));
  *off += bytes;
  snprintf(num, sizeof num, "%llu", *off);
  ok = ok && cJSON_AddItemToArray(offs, cJSON_CreateRaw(num));
  return ok;
}

/* Adds "key": "v0,v1,..." (n exact doubles); 0 when out of memory. */
static int add_list(cJSON *meta, const char *key, const double *v, int n) {
  char *text = malloc((size_t)n * 32 + 1), num[40];
  if (!text) return 0;
  size_t len = 0;
  text[0] = 0;
  for (int i = 0; i < n; i++) {
    fmt_double(num, sizeof num, v[i]);
    len += (size_t)sprintf(text + len, i ? ",%s" : "%s", num);
  }
  int ok = cJSON_AddStringToObject(meta, key, text) != NULL;
  free(text);
  return ok;
}

/* The model's data scaling as metadata "scale.*" (none when it has none). */
static int add_scaling(cJSON *meta, const phx_model *m) {
  phx_scaling sc;
  phx_model_get_scaling(m, &sc);
  int ok = 1;
  if (sc.features)
    ok = add_list(meta, "scale.x_lo", sc.x_lo, sc.features) &&
         add_list(meta, "scale.x_hi", sc.x_hi, sc.features);
  if (ok && sc.targets) {
    const double v[2] = {sc.v_lo, sc.v_hi};
    ok = add_list(meta, "scale.y_lo", sc.y_lo, sc.targets) &&
         add_list(meta, "scale.y_hi", sc.y_hi, sc.targets) && add_list(meta, "scale.v", v, 2);
  }
  if (ok && sc.data.target) {
    char num[40];
    fmt_double(num, sizeof num, sc.data.split);
    ok = cJSON_AddStringToObject(meta, "data.target", sc.data.target) &&
         cJSON_AddStringToObject(meta, "data.header", sc.data.header) &&
         cJSON_AddStringToObject(meta, "data.split", num);
    snprintf(num, sizeof num, "%llu", (unsigned long long)sc.data.seed);
    ok = ok && cJSON_AddStringToObject(meta, "data.seed", num);
    snprintf(num, sizeof num, "%lld", (long long)sc.data.rows);
    ok = ok && cJSON_AddStringToObject(meta, "data.rows", num);
  }
  return ok;
}

/* What write_body writes. */
typedef struct st_out {
  const phx_model *m;
  const char *header;
  const phx_st_tensor *x;
  int nx;
} st_out;

/* The JSON header for m and its extras, or NULL when out of memory. */
static char *build_header(const phx_model *m, const phx_st_tensor *x, int nx,
                          const char *const *extra_meta, int nmeta) {
  const phx_model_opts *o = phx_model_get_opts(m);
  char buf[1024], num[64];
  cJSON *root = cJSON_CreateObject();
  cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
  int ok = root && meta;
  ok = ok && cJSON_AddStringToObject(meta, "format", ST_FORMAT);
  ok = ok && cJSON_AddStringToObject(meta, "version", PHX_VERSION);
  snprintf(buf, sizeof buf, "%d", o->nlayers);
  ok = ok && cJSON_AddStringToObject(meta, "nlayers", buf);
  size_t len = 0;
  buf[0] = 0;
  for (int l = 0; l <= o->nlayers; l++)
    len += (size_t)snprintf(buf + len, sizeof buf - len, l ? ",%d" : "%d", o->sizes[l]);
  ok = ok && cJSON_AddStringToObject(meta, "sizes", buf);
  fmt_double(num, sizeof num, o->vdd);
  ok = ok && cJSON_AddStringToObject(meta, "vdd", num);
  fmt_double(num, sizeof num, o->gmin);
  ok = ok && cJSON_AddStringToObject(meta, "gmin", num);
  fmt_double(num, sizeof num, o->ratio);
  ok = ok && cJSON_AddStringToObject(meta, "ratio", num);
  fmt_fit(buf, sizeof buf, o->c);
  ok = ok && cJSON_AddStringToObject(meta, "c", buf);
  fmt_fit(buf, sizeof buf, o->d);
  ok = ok && cJSON_AddStringToObject(meta, "d", buf);
  ok = ok && cJSON_AddStringToObject(meta, "loss", o->loss == PHX_LOSS_MSE ? "mse" : "ce");
  /* written only when set, so that files of tanh models stay as they were */
  if (o->load_aware)
    ok = ok && cJSON_AddStringToObject(meta, "load_aware", o->load_aware == 2 ? "2" : "1");
  double tv0, tdv;
  if (phx_model_table(m, NULL, &tv0, &tdv, NULL, NULL) > 0) {
    ok = ok && cJSON_AddStringToObject(meta, "neuron", "table");
    fmt_double(num, sizeof num, tv0);
    ok = ok && cJSON_AddStringToObject(meta, "neuron.v0", num);
    fmt_double(num, sizeof num, tdv);
    ok = ok && cJSON_AddStringToObject(meta, "neuron.dv", num);
  }
  const phx_variation *v = phx_model_get_variation(m);
  if (v) {
    snprintf(buf, sizeof buf, "%d", v->levels);
    ok = ok && cJSON_AddStringToObject(meta, "variation.levels", buf);
    const double x[4] = {v->sigma, v->read_noise, v->stuck_off, v->stuck_on};
    for (int i = 0; ok && i < 4; i++) {
      fmt_double(num, sizeof num, x[i]);
      ok = cJSON_AddStringToObject(meta, VARY_KEYS[i], num) != NULL;
    }
    ok = ok && cJSON_AddStringToObject(meta, "variation.dist",
                                       v->dist == PHX_VAR_GAUSSIAN ? "gaussian" : "lognormal");
    size_t at = 0;
    buf[0] = 0;
    for (int q = 0; ok && q < v->nlist; q++) {
      fmt_double(num, sizeof num, v->list[q]);
      at += (size_t)snprintf(buf + at, sizeof buf - at, q ? ",%s" : "%s", num);
    }
    if (v->nlist > 0) ok = ok && cJSON_AddStringToObject(meta, "variation.levels_list", buf);
    if (v->offset_sigma > 0) {
      fmt_double(num, sizeof num, v->offset_sigma);
      ok = ok && cJSON_AddStringToObject(meta, "variation.offset_sigma", num);
    }
  }
  ok = ok && add_scaling(meta, m);

  for (int i = 0; ok && i < nmeta; i++)
    ok = cJSON_AddStringToObject(meta, extra_meta[2 * i], extra_meta[2 * i + 1]) != NULL;

  unsigned long long off = 0;
  for (int l = 0; ok && l < o->nlayers; l++) {
    int shape[2] = {phx_model_rows(m, l), phx_model_cols(m, l)};
    char name[32];
    snprintf(name, sizeof name, "layers.%d.theta", l);
    ok = add_entry(root, name, "F32", shape, 2,
                   4ULL * (unsigned long long)shape[0] * (unsigned long long)shape[1], &off);
  }
  for (int i = 0; ok && i < nx; i++) {
    int shape[1] = {(int)x[i].count};
    ok = add_entry(root, x[i].name, DTYPE_NAME[x[i].dtype], shape, 1,
                   DTYPE_SIZE[x[i].dtype] * (unsigned long long)x[i].count, &off);
  }
  char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
  cJSON_Delete(root);
  return text;
}

/* Writes header length, header padded with spaces to 8 bytes, then every
 * layer's theta as little-endian float32, then the extras. Returns 0 or
 * errno. */
static int write_body(FILE *f, const void *ctx) {
  const st_out *w = ctx;
  const phx_model *m = w->m;
  size_t hlen = strlen(w->header), padded = (hlen + 7) / 8 * 8;
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((unsigned long long)padded >> (8 * i));
  if (fwrite(len8, 1, 8, f) != 8 || fwrite(w->header, 1, hlen, f) != hlen)
    return errno ? errno : EIO;
  for (size_t i = hlen; i < padded; i++)
    if (fputc(' ', f) == EOF) return errno ? errno : EIO;
  unsigned char chunk[4096 * 8];
  for (int l = 0; l < phx_model_get_opts(m)->nlayers; l++) {
    const float *th = phx_model_theta_const(m, l);
    size_t n = (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
    for (size_t i = 0; i < n;) {
      size_t k = 0;
      for (; k < 4096 && i < n; k++, i++) {
        uint32_t u;
        memcpy(&u, &th[i], 4);
        put_le32(chunk + 4 * k, u);
      }
      if (fwrite(chunk, 4, k, f) != k) return errno ? errno : EIO;
    }
  }
  for (int t = 0; t < w->nx; t++) {
    const phx_st_tensor *x = &w->x[t];
    for (size_t i = 0; i < x->count;) {
      size_t k = 0;
      for (; k < 4096 && i < x->count; k++, i++) {
        if (x->dtype == PHX_ST_F64) {
          uint64_t u;
          memcpy(&u, (const double *)x->data + i, 8);
          put_le32(chunk + 8 * k, (uint32_t)u);
          put_le32(chunk + 8 * k + 4, (uint32_t)(u >> 32));
        } else {
          uint32_t u;
          memcpy(&u, (const int32_t *)x->data + i, 4);
          put_le32(chunk + 4 * k, u);
        }
      }
      size_t sz = DTYPE_SIZE[x->dtype];
      if (fwrite(chunk, sz, k, f) != k) return errno ? errno : EIO;
    }
  }
  return 0;
}

/* Refuses what must never reach a file: non-finite parameters or state. */
static phx_status check_saveable(const phx_model *m, const char *path,
                                 const phx_st_tensor *x, int nx, phx_err *err) {
  if (phx_model_get_opts(m)->load_aware && !phx_model_table(m, NULL, NULL, NULL, NULL, NULL))
    return phx_fail(err, PHX_EINVAL, "%s: not saved: load_aware needs a table neuron", path);
  for (int l = 0; l < phx_model_get_opts(m)->nlayers; l++) {
    const float *th = phx_model_theta_const(m, l);
    size_t R = (size_t)phx_model_cols(m, l), n = (size_t)phx_model_rows(m, l) * R;
    for (size_t i = 0; i < n; i++)
      if (!isfinite(th[i]))
        return phx_fail(err, PHX_ENAN,
                        "%s: not saved: layers.%d.theta element [%zu, %zu] is %g", path, l,
                        i / R, i % R, th[i]);
  }
  for (int t = 0; t < nx; t++) {
    if (x[t].dtype != PHX_ST_F64) continue;
    const double *d = x[t].data;
    for (size_t i = 0; i < x[t].count; i++)
      if (!isfinite(d[i]))
        return phx_fail(err, PHX_ENAN, "%s: not saved: %s element %zu is %g", path,
                        x[t].name, i, d[i]);
  }
  return PHX_OK;
}

/* Atomic save (file.c): the previous file stays whole until the new one is. */
phx_status phx_st_save(const phx_model *m, const char *path, const phx_st_tensor *x,
                       int nx, const char *const *meta, int nmeta, phx_err *err) {
  if (!m || !path || !*path) return phx_fail(err, PHX_EINVAL, "save: no model or path");
  if (nx < 0 || nx > PHX_ST_MAX_EXTRA)
    return phx_fail(err, PHX_EINVAL, "%s: %d extra tensors (at most %d)", path, nx,
                    PHX_ST_MAX_EXTRA);
  /* A table neuron travels as two more tensors ahead of the caller's. */
  phx_st_tensor all[PHX_ST_MAX_EXTRA + 2];
  int na = 0, nv;
  const double *loads, *T;
  const int L = phx_model_table(m, &nv, NULL, NULL, &loads, &T);
  double *vals = NULL;
  if (L > 0) {
    vals = malloc((size_t)L * nv * sizeof *vals);
    if (!vals) return phx_fail(err, PHX_ENOMEM, "%s: out of memory while saving", path);
    for (size_t i = 0; i < (size_t)L * nv; i++) vals[i] = T[2 * i]; /* slopes are remade */
    all[na++] = (phx_st_tensor){"neuron.loads", PHX_ST_F64, (size_t)L, (void *)loads};
    all[na++] = (phx_st_tensor){"neuron.table", PHX_ST_F64, (size_t)L * nv, vals};
  }
  for (int i = 0; i < nx; i++) all[na++] = x[i];
  phx_status s = check_saveable(m, path, all, na, err);
  char *header = s ? NULL : build_header(m, all, na, meta, nmeta);
  if (!s && !header) s = phx_fail(err, PHX_ENOMEM, "%s: out of memory while saving", path);
  if (!s) {
    st_out w = {m, header, all, na};
    s = phx_file_save_atomic(path, write_body, &w, err);
  }
  free(header);
  free(vals);
  return s;
}

phx_status phx_model_save(const phx_model *m, const char *path, phx_err *err) {
  return phx_st_save(m, path, NULL, 0, NULL, 0, err);
}

/* ---- loading ------------------------------------------------------------- */

/* Reads the whole file; returns its bytes and size or fails naming path. */
static phx_status slurp(const char *path, unsigned char **buf, size_t *size,
                        phx_err *err) {
  int fd;
  phx_status s = phx_file_open_regular(path, &fd, err);
  if (s) return s;
  FILE *f = fdopen(fd, "rb");
  struct stat st;
  if (!f || fstat(fd, &st) != 0) {
    if (f) fclose(f);
    else close(fd);
    return phx_fail(err, PHX_EIO, "%s: cannot read", path);
  }
  size_t n = (size_t)st.st_size;
  unsigned char *b = malloc(n ? n : 1);
  if (!b) {
    fclose(f);
    return phx_fail(err, PHX_ENOMEM, "%s: cannot allocate %zu bytes", path, n);
  }
  size_t got = fread(b, 1, n, f);
  int bad = ferror(f);
  fclose(f);
  if (got != n || bad) {
    free(b);
    return phx_fail(err, PHX_EIO, "%s: read error (got %zu of %zu bytes)", path, got, n);
  }
  *buf = b;
  *size = n;
  return PHX_OK;
}

/* A metadata string value, or NULL (with err set) when absent/not a string. */
static const char *meta_str(const cJSON *meta, const char *key, const char *path,
                            phx_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
  if (!cJSON_IsString(v) || !v->valuestring) {
    phx_fail(err, PHX_EFORMAT, "%s: metadata \"%s\" missing or not a string", path, key);
    return NULL;
  }
  return v->valuestring;
}

/* Parses n comma-separated doubles exactly filling s; -1 on bad text. */
static int parse_doubles(const char *s, double *out, int n) {
  for (int i = 0; i < n; i++) {
    /* strtod alone would take " 1", "0x1p3" and "04"; we write none. */
    const char *d = *s == '-' ? s + 1 : s;
    if (*d < '0' || *d > '9' || (d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) ||
        (d[0] == '0' && d[1] >= '0' && d[1] <= '9'))
      return -1;
    char *end;
    errno = 0;
    out[i] = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(out[i])) return -1;
    s = end;
    if (i + 1 < n) {
      if (*s != ',') return -1;
      s++;
    }
  }
  return *s ? -1 : 0;
}

/* Parses a non-negative decimal int with nothing around it; -1 on error. */
static int parse_int(const char *s, const char **rest) {
  long v = 0;
  if (*s < '0' || *s > '9') return -1;
  if (*s == '0' && s[1] >= '0' && s[1] <= '9') return -1; /* "04": not ours */
  while (*s >= '0' && *s <= '9') {
    v = v * 10 + (*s++ - '0');
    if (v > 0x7fffffffL) return -1;
  }
  if (rest) *rest = s;
  else if (*s) return -1;
  return (int)v;
}

/* n doubles of metadata key into out: 0 when absent (*present = 0), else
 * exactly n finite numbers or an error naming the key. */
static phx_status meta_list(const cJSON *meta, const char *key, int n, double *out,
                            int *present, const char *path, phx_err *err) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
  *present = v != NULL;
  if (!v) return PHX_OK;
  if (parse_doubles(v->valuestring, out, n))
    return phx_fail(err, PHX_EFORMAT, "%s: metadata %s is not %d finite numbers", path, key, n);
  return PHX_OK;
}

/* A decimal unsigned 64-bit integer as the writer prints it (no sign,
 * blanks or leading zeros); -1 on anything else. */
static int parse_u64(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (*s < '0' || *s > '9' || (*s == '0' && s[1])) return -1;
  for (; *s >= '0' && *s <= '9'; s++) {
    const uint64_t d = (uint64_t)(*s - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return *s ? -1 : 0;
}

/* The "data.*" metadata (phx_data_spec): none, or all five keys. The
 * strings point into meta. */
static phx_status parse_data_spec(const cJSON *meta, const char *path, phx_data_spec *d,
                                  phx_err *err) {
  static const char *const keys[5] = {"data.target", "data.header", "data.split", "data.seed",
                                      "data.rows"};
  const char *v[5];
  int n = 0;
  for (int i = 0; i < 5; i++) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(meta, keys[i]);
    v[i] = it ? it->valuestring : NULL;
    n += v[i] != NULL;
  }
  *d = (phx_data_spec){0};
  if (n == 0) return PHX_OK;
  for (int i = 0; i < 5; i++)
    if (!v[i])
      return phx_fail(err, PHX_EFORMAT, "%s: metadata %s is missing (data.* come together)",
                      path, keys[i]);
  uint64_t rows;
  if (!*v[0]) return phx_fail(err, PHX_EFORMAT, "%s: metadata data.target is empty", path);
  if (parse_doubles(v[2], &d->split, 1) || !(d->split >= 0 && d->split < 1))
    return phx_fail(err, PHX_EFORMAT, "%s: metadata data.split \"%.40s\" is not a fraction "
                    "in [0, 1)", path, v[2]);
  if (parse_u64(v[3], &d->seed))
    return phx_fail(err, PHX_EFORMAT, "%s: metadata data.seed \"%.40s\" is not a seed", path,
                    v[3]);
  if (parse_u64(v[4], &rows) || rows > (uint64_t)INT64_MAX)
    return phx_fail(err, PHX_EFORMAT, "%s: metadata data.rows \"%.40s\" is not a row count",
                    path, v[4]);
  d->target = v[0];
  d->header = v[1];
  d->rows = (int64_t)rows;
  return PHX_OK;
}

/* The "scale.*" metadata into m: either none, or the feature ranges and/or
 * the target ranges with their voltages, each range non-empty. */
static phx_status parse_scaling(const cJSON *meta, const char *path, phx_model *m,
                                phx_err *err) {
  const phx_model_opts *o = phx_model_get_opts(m);
  const int F = o->sizes[0], T = o->sizes[o->nlayers];
  double *buf = malloc((2 * (size_t)F + 2 * (size_t)T + 2) * sizeof *buf);
  if (!buf) return phx_fail(err, PHX_ENOMEM, "%s: out of memory", path);
  double *xl = buf, *xh = buf + F, *yl = xh + F, *yh = yl + T, *v = yh + T;
  int p[5];
  phx_status s = meta_list(meta, "scale.x_lo", F, xl, &p[0], path, err);
  if (!s) s = meta_list(meta, "scale.x_hi", F, xh, &p[1], path, err);
  if (!s) s = meta_list(meta, "scale.y_lo", T, yl, &p[2], path, err);
  if (!s) s = meta_list(meta, "scale.y_hi", T, yh, &p[3], path, err);
  if (!s) s = meta_list(meta, "scale.v", 2, v, &p[4], path, err);
  if (!s && (p[0] != p[1] || p[2] != p[3] || p[2] != p[4]))
    s = phx_fail(err, PHX_EFORMAT, "%s: metadata scale.*: a range without its other end",
                 path);
  for (int i = 0; !s && p[0] && i < F; i++)
    if (!(xh[i] > xl[i]))
      s = phx_fail(err, PHX_EFORMAT, "%s: metadata scale.x: feature %d has an empty range",
                   path, i);
  for (int j = 0; !s && p[2] && j < T; j++)
    if (!(yh[j] > yl[j]))
      s = phx_fail(err, PHX_EFORMAT, "%s: metadata scale.y: target %d has an empty range",
                   path, j);
  if (!s && p[2] && !(v[1] != v[0]))
    s = phx_fail(err, PHX_EFORMAT, "%s: metadata scale.v: an empty voltage range", path);
  phx_data_spec d;
  if (!s) s = parse_data_spec(meta, path, &d, err);
  if (!s) {
    const phx_scaling sc = {p[0] ? F : 0, xl, xh, p[2] ? T : 0, yl, yh, v[0], v[1], d};
    s = phx_model_set_scaling(m, &sc, err);
  }
  free(buf);
  return s;
}

/* Model options from the metadata, checked like CLI options. */
static phx_status parse_meta(const cJSON *root, const char *path,
                             phx_model_opts *o, phx_err *err) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
  if (!cJSON_IsObject(meta))
    return phx_fail(err, PHX_EFORMAT, "%s: no \"__metadata__\" object in the header", path);
  const cJSON *it;
  cJSON_ArrayForEach(it, meta) {
    if (!cJSON_IsString(it))
      return phx_fail(err, PHX_EFORMAT, "%s: metadata \"%s\" is not a string", path,
                      it->string);
  }
  memset(o, 0, sizeof *o);
  const char *v = meta_str(meta, "format", path, err);
  if (!v) return PHX_EFORMAT;
  if (strcmp(v, ST_FORMAT) != 0)
    return phx_fail(err, PHX_EFORMAT, "%s: metadata format is \"%s\", expected \"%s\"",
                    path, v, ST_FORMAT);
  if (!meta_str(meta, "version", path, err)) return PHX_EFORMAT;

  if (!(v = meta_str(meta, "nlayers", path, err))) return PHX_EFORMAT;
  o->nlayers = parse_int(v, NULL);
  if (o->nlayers < 1 || o->nlayers > PHX_MAX_LAYERS)
    return phx_fail(err, PHX_EFORMAT, "%s: metadata nlayers \"%s\" is not in 1..%d",
                    path, v, PHX_MAX_LAYERS);
  if (!(v = meta_str(meta, "sizes", path, err))) return PHX_EFORMAT;
  const char *s = v;
  int count = 0;
  for (;;) {
    int x = parse_int(s, &s);
    if (x < 0 || count > PHX_MAX_LAYERS)
      return phx_fail(err, PHX_EFORMAT, "%s: metadata sizes \"%s\" is not a list of sizes",
                      path, v);
    o->sizes[count++] = x;
    if (!*s) break;
    if (*s++ != ',')
      return phx_fail(err, PHX_EFORMAT, "%s: metadata sizes \"%s\" is not a list of sizes",
                      path, v);
  }
  if (count != o->nlayers + 1)
    return phx_fail(err, PHX_EFORMAT,
                    "%s: metadata sizes \"%s\" has %d entries but nlayers %d needs %d",
                    path, v, count, o->nlayers, o->nlayers + 1);

  static const char *const scalar[3] = {"vdd", "gmin", "ratio"};
  double *dst[3] = {&o->vdd, &o->gmin, &o->ratio};
  for (int i = 0; i < 3; i++) {
    if (!(v = meta_str(meta, scalar[i], path, err))) return PHX_EFORMAT;
    if (parse_doubles(v, dst[i], 1))
      return phx_fail(err, PHX_EFORMAT, "%s: metadata %s \"%s\" is not a finite number",
                      path, scalar[i], v);
  }
  if (!(v = meta_str(meta, "c", path, err))) return PHX_EFORMAT;
  if (parse_doubles(v, o->c, 4))
    return phx_fail(err, PHX_EFORMAT, "%s: metadata c \"%s\" is not four finite numbers",
                    path, v);
  if (!(v = meta_str(meta, "d", path, err))) return PHX_EFORMAT;
  if (parse_doubles(v, o->d, 4))
    return phx_fail(err, PHX_EFORMAT, "%s: metadata d \"%s\" is not four finite numbers",
                    path, v);
  if (!(v = meta_str(meta, "loss", path, err))) return PHX_EFORMAT;
  if (strcmp(v, "ce") == 0) o->loss = PHX_LOSS_CE;
  else if (strcmp(v, "mse") == 0) o->loss = PHX_LOSS_MSE;
  else
    return phx_fail(err, PHX_EFORMAT, "%s: metadata loss \"%s\" is not ce or mse", path, v);

  const cJSON *la = cJSON_GetObjectItemCaseSensitive(meta, "load_aware");
  if (la) {
    if (strcmp(la->valuestring, "0") && strcmp(la->valuestring, "1") &&
        strcmp(la->valuestring, "2"))
      return phx_fail(err, PHX_EFORMAT, "%s: metadata load_aware \"%s\" is not 0, 1 or 2",
                      path, la->valuestring);
    o->load_aware = la->valuestring[0] - '0';
  }
  phx_err e2;
  if (phx_model_opts_check(o, &e2))
    return phx_fail(err, PHX_EFORMAT, "%s: metadata: %s", path, e2.msg);
  return PHX_OK;
}

/* The table neuron of the metadata ("neuron": "table", its grid) and the
 * tensors neuron.loads and neuron.table onto m; a tanh model has none. */
static phx_status attach_table(const cJSON *root, const char *path, phx_model *m,
                               const phx_st_tensor *x, int nx, phx_err *err) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(meta, "neuron");
  const phx_st_tensor *ld = NULL, *tb = NULL;
  for (int i = 0; i < nx; i++) {
    if (!strcmp(x[i].name, "neuron.loads")) ld = &x[i];
    if (!strcmp(x[i].name, "neuron.table")) tb = &x[i];
  }
  if (!kind || !strcmp(kind->valuestring, "tanh")) {
    if (ld || tb)
      return phx_fail(err, PHX_EFORMAT, "%s: neuron tensors without metadata neuron=table",
                      path);
    if (phx_model_get_opts(m)->load_aware)
      return phx_fail(err, PHX_EFORMAT, "%s: load_aware needs a table neuron", path);
    return PHX_OK;
  }
  if (strcmp(kind->valuestring, "table"))
    return phx_fail(err, PHX_EFORMAT, "%s: metadata neuron \"%s\" is not tanh or table", path,
                    kind->valuestring);
  double g[2];
  static const char *const keys[2] = {"neuron.v0", "neuron.dv"};
  for (int i = 0; i < 2; i++) {
    const char *v = meta_str(meta, keys[i], path, err);
    if (!v) return PHX_EFORMAT;
    if (parse_doubles(v, &g[i], 1))
      return phx_fail(err, PHX_EFORMAT, "%s: metadata %s \"%s\" is not a finite number", path,
                      keys[i], v);
  }
  if (!ld || !tb || ld->dtype != PHX_ST_F64 || tb->dtype != PHX_ST_F64 || ld->count == 0 ||
      tb->count % ld->count)
    return phx_fail(err, PHX_EFORMAT, "%s: neuron.loads and neuron.table (F64, loads x "
                    "inputs) missing or inconsistent", path);
  phx_err e2;
  if (phx_model_set_table(m, (int)ld->count, (int)(tb->count / ld->count), g[0], g[1],
                          ld->data, tb->data, &e2))
    return phx_fail(err, PHX_EFORMAT, "%s: %s", path, e2.msg);
  return PHX_OK;
}

/* The variation the model was trained for, when its keys are there (all
 * of them, checked like the CLI options). Files without them load as
 * before. */
static phx_status parse_vary(const cJSON *root, const char *path, phx_model *m,
                             phx_err *err) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
  const cJSON *it;
  int any = 0;
  cJSON_ArrayForEach(it, meta) any |= strncmp(it->string, "variation.", 10) == 0;
  if (!any) return PHX_OK;
  phx_variation v;
  phx_variation_default(&v);
  const char *s = meta_str(meta, "variation.levels", path, err);
  if (!s) return PHX_EFORMAT;
  if ((v.levels = parse_int(s, NULL)) < 0)
    return phx_fail(err, PHX_EFORMAT, "%s: metadata variation.levels \"%s\" is not a count",
                    path, s);
  double *x[4] = {&v.sigma, &v.read_noise, &v.stuck_off, &v.stuck_on};
  for (int i = 0; i < 4; i++) {
    if (!(s = meta_str(meta, VARY_KEYS[i], path, err))) return PHX_EFORMAT;
    if (parse_doubles(s, x[i], 1))
      return phx_fail(err, PHX_EFORMAT, "%s: metadata %s \"%s\" is not a finite number",
                      path, VARY_KEYS[i], s);
  }
  const cJSON *ll = cJSON_GetObjectItemCaseSensitive(meta, "variation.levels_list");
  if (ll) {
    int n = 1;
    for (const char *c = ll->valuestring; *c; c++) n += *c == ',';
    if (n > PHX_MAX_LEVEL_LIST || parse_doubles(ll->valuestring, v.list, n))
      return phx_fail(err, PHX_EFORMAT, "%s: metadata variation.levels_list \"%.60s\" is not "
                      "a list of up to %d numbers", path, ll->valuestring, PHX_MAX_LEVEL_LIST);
    v.nlist = n;
  }
  const cJSON *os = cJSON_GetObjectItemCaseSensitive(meta, "variation.offset_sigma");
  if (os && (!cJSON_IsString(os) || parse_doubles(os->valuestring, &v.offset_sigma, 1)))
    return phx_fail(err, PHX_EFORMAT,
                    "%s: metadata variation.offset_sigma is not a finite number", path);
  if (!(s = meta_str(meta, "variation.dist", path, err))) return PHX_EFORMAT;
  if (strcmp(s, "gaussian") == 0) v.dist = PHX_VAR_GAUSSIAN;
  else if (strcmp(s, "lognormal") != 0)
    return phx_fail(err, PHX_EFORMAT,
                    "%s: metadata variation.dist \"%s\" is not lognormal or gaussian", path, s);
  phx_err e2;
  if (phx_model_set_variation(m, &v, &e2))
    return phx_fail(err, PHX_EFORMAT, "%s: metadata: %s", path, e2.msg);
  return PHX_OK;
}

/* A JSON number that is an exact integer in [0, 2^53]; -1 otherwise. */
static long long json_uint(const cJSON *v) {
  if (!cJSON_IsNumber(v)) return -1;
  double d = v->valuedouble;
  if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d)) return -1;
  return (long long)d;
}

/* Tensor name "layers.{l}.theta" -> l, or -1 for any other name. */
static int layer_of(const char *name) {
  const char *rest;
  if (strncmp(name, "layers.", 7) != 0) return -1;
  if (name[7] == '0' && name[8] != '.') return -1; /* no leading zeros */
  int l = parse_int(name + 7, &rest);
  if (l < 0 || strcmp(rest, ".theta") != 0) return -1;
  return l;
}

typedef struct { long long begin, end; int index; } span;

/* Checks one tensor entry: dtype, a shape of `rank` dimensions equal to
 * want (when want[0] >= 0), data_offsets inside the data section holding
 * exactly the shape's bytes. Records the span and the shape. */
static phx_status check_tensor(const cJSON *t, const char *path, const char *dtype,
                               long long esize, int rank, const long long *want,
                               const char *sizes, long long dlen, span *sp,
                               long long *shape, phx_err *err) {
  const char *name = t->string;
  if (!cJSON_IsObject(t))
    return phx_fail(err, PHX_EFORMAT, "%s: tensor %s: entry is not an object", path, name);
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
  if (!cJSON_IsString(dt))
    return phx_fail(err, PHX_EFORMAT, "%s: tensor %s: no dtype", path, name);
  if (strcmp(dt->valuestring, dtype) != 0)
    return phx_fail(err, PHX_EFORMAT, "%s: tensor %s: dtype %s, expected %s", path, name,
                    dt->valuestring, dtype);
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
  int ok = cJSON_IsArray(sh) && cJSON_GetArraySize(sh) == rank;
  long long count = 1;
  for (int i = 0; ok && i < rank; i++) {
    shape[i] = json_uint(cJSON_GetArrayItem(sh, i));
    ok = shape[i] >= 0 && shape[i] <= 0x7fffffffLL;
    if (ok) count *= shape[i];
  }
  if (!ok)
    return phx_fail(err, PHX_EFORMAT, "%s: tensor %s: shape is not %d non-negative integers",
                    path, name, rank);
  if (want && (shape[0] != want[0] || shape[1] != want[1]))
    return phx_fail(err, PHX_ESHAPE, "%s: tensor %s: shape [%lld, %lld] does not match "
                    "sizes %s (expected [%lld, %lld])", path, name, shape[0], shape[1],
                    sizes, want[0], want[1]);
  const cJSON *of = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
  long long b = -1, e = -1;
  if (cJSON_IsArray(of) && cJSON_GetArraySize(of) == 2) {
    b = json_uint(cJSON_GetArrayItem(of, 0));
    e = json_uint(cJSON_GetArrayItem(of, 1));
  }
  if (b < 0 || e < 0)
    return phx_fail(err, PHX_EFORMAT,
                    "%s: tensor %s: data_offsets is not two non-negative integers", path, name);
  if (b > e || e > dlen)
    return phx_fail(err, PHX_EFORMAT,
                    "%s: tensor %s: data_offsets [%lld, %lld] outside the %lld-byte data section",
                    path, name, b, e, dlen);
  if (count > dlen / esize || e - b != esize * count)
    return phx_fail(err, PHX_EFORMAT,
                    "%s: tensor %s: data_offsets [%lld, %lld] hold %lld bytes, shape needs %lld",
                    path, name, b, e, e - b, esize * count);
  sp->begin = b;
  sp->end = e;
  return PHX_OK;
}

/* The tensor table: exactly the expected layers plus any "train.*" extras
 * (1-D F64 or I32), spans tiling the data. Extras go to x (may be NULL:
 * checked and skipped). */
static phx_status check_table(const cJSON *root, const char *path,
                              const phx_model_opts *o, long long dlen, span *spans,
                              phx_st_tensor *x, int *nx, phx_err *err) {
  int seen[PHX_MAX_LAYERS] = {0}, nmeta = 0, nextra = 0;
  span extra[PHX_ST_MAX_EXTRA];
  char sizes[PHX_MAX_LAYERS * 12 + 12];
  size_t len = 0;
  for (int l = 0; l <= o->nlayers; l++)
    len += (size_t)snprintf(sizes + len, sizeof sizes - len, l ? ",%d" : "%d", o->sizes[l]);
  const cJSON *t;
  cJSON_ArrayForEach(t, root) {
    if (strcmp(t->string, "__metadata__") == 0) {
      if (++nmeta > 1)
        return phx_fail(err, PHX_EFORMAT, "%s: duplicate \"__metadata__\"", path);
      continue;
    }
    long long shape[2];
    phx_status s;
    if (strncmp(t->string, PHX_ST_EXTRA_PREFIX, strlen(PHX_ST_EXTRA_PREFIX)) == 0 ||
        strcmp(t->string, "neuron.loads") == 0 || strcmp(t->string, "neuron.table") == 0) {
      if (nextra == PHX_ST_MAX_EXTRA || strlen(t->string) >= sizeof x->name)
        return phx_fail(err, PHX_EFORMAT, "%s: too many extra tensors or name too long (%s)",
                        path, t->string);
      const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
      int i32 = cJSON_IsString(dt) && strcmp(dt->valuestring, "I32") == 0;
      s = check_tensor(t, path, i32 ? "I32" : "F64", i32 ? 4 : 8, 1, NULL, sizes, dlen,
                       &extra[nextra], shape, err);
      if (s) return s;
      for (int i = 0; i < nextra; i++)
        if (x && strcmp(x[i].name, t->string) == 0)
          return phx_fail(err, PHX_EFORMAT, "%s: duplicate tensor %s", path, t->string);
      if (x) {
        snprintf(x[nextra].name, sizeof x[nextra].name, "%s", t->string);
        x[nextra].dtype = i32 ? PHX_ST_I32 : PHX_ST_F64;
        x[nextra].count = (size_t)shape[0];
        x[nextra].data = NULL;
      }
      extra[nextra].index = PHX_MAX_LAYERS + nextra;
      nextra++;
      continue;
    }
    int l = layer_of(t->string);
    if (l < 0 || l >= o->nlayers)
      return phx_fail(err, PHX_EFORMAT, "%s: unexpected tensor \"%s\" (model has %d layers)",
                      path, t->string, o->nlayers);
    if (seen[l]++)
      return phx_fail(err, PHX_EFORMAT, "%s: duplicate tensor %s", path, t->string);
    span *sp = &spans[l];
    sp->index = l;
    const long long want[2] = {o->sizes[l + 1], 2LL * o->sizes[l] + 2};
    s = check_tensor(t, path, "F32", 4, 2, want, sizes, dlen, sp, shape, err);
    if (s) return s;
  }
  for (int l = 0; l < o->nlayers; l++)
    if (!seen[l])
      return phx_fail(err, PHX_EFORMAT, "%s: tensor layers.%d.theta missing", path, l);
  /* Sort spans by start, then require them to tile [0, dlen) exactly. */
  span sorted[PHX_MAX_LAYERS + PHX_ST_MAX_EXTRA];
  int ns = o->nlayers + nextra;
  memcpy(sorted, spans, sizeof(span) * (size_t)o->nlayers);
  memcpy(sorted + o->nlayers, extra, sizeof(span) * (size_t)nextra);
  for (int i = 1; i < ns; i++)
    for (int j = i; j > 0 && sorted[j].begin < sorted[j - 1].begin; j--) {
      span tmp = sorted[j];
      sorted[j] = sorted[j - 1];
      sorted[j - 1] = tmp;
    }
  long long at = 0;
  for (int i = 0; i < ns; i++) {
    if (sorted[i].begin != at)
      return phx_fail(err, PHX_EFORMAT,
                      "%s: tensor %d: data_offsets start at %lld, expected %lld "
                      "(tensors must be contiguous, without overlap or gaps)",
                      path, sorted[i].index, sorted[i].begin, at);
    at = sorted[i].end;
  }
  if (at != dlen)
    return phx_fail(err, PHX_EFORMAT,
                    "%s: tensors cover %lld bytes but the data section has %lld", path, at,
                    dlen);
  for (int i = 0; i < nextra; i++) spans[PHX_MAX_LAYERS + i] = extra[i];
  *nx = nextra;
  return PHX_OK;
}

/* A raw NUL byte, or a \u0000 escape inside a string: cJSON would cut the
 * string there, so "ce\u0000x" would read as "ce". */
static int header_has_nul(const char *h, size_t n) {
  int in_str = 0;
  for (size_t i = 0; i < n; i++) {
    if (h[i] == 0) return 1;
    if (!in_str) {
      in_str = h[i] == '"';
    } else if (h[i] == '"') {
      in_str = 0;
    } else if (h[i] == '\\' && i + 1 < n) {
      if (h[i + 1] == 'u' && i + 5 < n && !strncmp(h + i + 2, "0000", 4)) return 1;
      i++; /* the escaped character, so \\" does not end the string */
    }
  }
  return 0;
}

/* Copies the extras' values out of the file's data section. */
static phx_status decode_extras(const char *path, const unsigned char *data,
                                const span *spans, phx_st_tensor *x, int nx,
                                phx_err *err) {
  for (int t = 0; t < nx; t++) {
    size_t n = x[t].count, es = x[t].dtype == PHX_ST_F64 ? 8 : 4;
    x[t].data = malloc(n ? n * es : 1);
    if (!x[t].data)
      return phx_fail(err, PHX_ENOMEM, "%s: cannot allocate tensor %s", path, x[t].name);
    const unsigned char *p = data + spans[PHX_MAX_LAYERS + t].begin;
    for (size_t i = 0; i < n; i++) {
      if (es == 8) {
        uint64_t u = (uint64_t)get_le32(p + 8 * i) | (uint64_t)get_le32(p + 8 * i + 4) << 32;
        memcpy((double *)x[t].data + i, &u, 8);
      } else {
        uint32_t u = get_le32(p + 4 * i);
        memcpy((int32_t *)x[t].data + i, &u, 4);
      }
    }
  }
  return PHX_OK;
}

/* Validates every part of the file, then decodes into a fresh model. */
phx_status phx_st_load(const char *path, phx_model **out, phx_st_tensor **xout, int *nxout,
                       cJSON **meta, phx_err *err) {
  if (!path || !out) return phx_fail(err, PHX_EINVAL, "load: no path or output");
  *out = NULL;
  if (xout) *xout = NULL;
  if (nxout) *nxout = 0;
  if (meta) *meta = NULL;
  unsigned char *buf = NULL;
  size_t size = 0;
  phx_status s = slurp(path, &buf, &size, err);
  if (s) return s;
  cJSON *root = NULL;
  phx_st_tensor *x = NULL;
  int nx = 0;
  if (size < 8) {
    s = phx_fail(err, PHX_EFORMAT, "%s: %zu bytes is too short for a safetensors file",
                 path, size);
    goto out;
  }
  unsigned long long hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
  if (hlen < 2 || hlen > ST_MAX_HEADER || hlen > size - 8) {
    s = phx_fail(err, PHX_EFORMAT,
                 "%s: header length %llu does not fit the %zu-byte file", path, hlen, size);
    goto out;
  }
  const char *htext = (const char *)buf + 8, *hend = NULL;
  if (htext[0] != '{') {
    s = phx_fail(err, PHX_EFORMAT, "%s: header does not start with '{'", path);
    goto out;
  }
  if (header_has_nul(htext, (size_t)hlen)) {
    s = phx_fail(err, PHX_EFORMAT, "%s: header holds a NUL character", path);
    goto out;
  }
  root = cJSON_ParseWithLengthOpts(htext, (size_t)hlen, &hend, 0);
  if (!root || !cJSON_IsObject(root)) {
    s = phx_fail(err, PHX_EFORMAT, "%s: header is not valid JSON (near byte %ld)", path,
                 root || !hend ? 8L : (long)(hend - (const char *)buf));
    goto out;
  }
  for (const char *p = hend; p < htext + hlen; p++)
    if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') {
      s = phx_fail(err, PHX_EFORMAT, "%s: garbage after the JSON header", path);
      goto out;
    }
  phx_model_opts o;
  if ((s = parse_meta(root, path, &o, err))) goto out;
  span spans[PHX_MAX_LAYERS + PHX_ST_MAX_EXTRA];
  const unsigned char *data = buf + 8 + hlen;
  long long dlen = (long long)(size - 8 - hlen);
  if (!(x = calloc(PHX_ST_MAX_EXTRA, sizeof *x))) {
    s = phx_fail(err, PHX_ENOMEM, "%s: out of memory", path);
    goto out;
  }
  if ((s = check_table(root, path, &o, dlen, spans, x, &nx, err))) goto out;
  if ((s = decode_extras(path, data, spans, x, nx, err))) goto out;

  phx_model *m = NULL;
  if ((s = phx_model_new(&o, &m, err))) goto out;
  s = parse_vary(root, path, m, err);
  for (int l = 0; l < o.nlayers && !s; l++) {
    float *th = phx_model_theta(m, l);
    int R = phx_model_cols(m, l);
    size_t n = (size_t)phx_model_rows(m, l) * (size_t)R;
    const unsigned char *p = data + spans[l].begin;
    for (size_t i = 0; i < n; i++) {
      uint32_t u = get_le32(p + 4 * i);
      memcpy(&th[i], &u, 4);
      if (!isfinite(th[i])) {
        s = phx_fail(err, PHX_ENAN, "%s: tensor layers.%d.theta: element [%zu, %zu] is %g",
                     path, l, i / (size_t)R, i % (size_t)R, th[i]);
        break;
      }
    }
  }
  if (!s) s = attach_table(root, path, m, x, nx, err);
  if (!s) s = parse_scaling(cJSON_GetObjectItemCaseSensitive(root, "__metadata__"), path, m,
                            err);
  if (s) {
    phx_model_free(m);
    goto out;
  }
  /* the caller sees the train.* extras only */
  int keep = 0;
  for (int t = 0; t < nx; t++) {
    if (strncmp(x[t].name, "neuron.", 7) == 0) free(x[t].data);
    else x[keep++] = x[t];
  }
  nx = keep;
  *out = m;
  if (xout) {
    *xout = x;
    *nxout = nx;
    x = NULL;
  }
  if (meta) {
    *meta = cJSON_DetachItemFromObjectCaseSensitive(root, "__metadata__");
  }
out:
  if (x)
    for (int t = 0; t < nx; t++) free(x[t].data);
  free(x);
  cJSON_Delete(root);
  free(buf);
  return s;
}

phx_status phx_model_load(const char *path, phx_model **out, phx_err *err) {
  return phx_st_load(path, out, NULL, NULL, NULL, err);
}
