/* NumPy arrays as tables: a .npy pair (features, targets) or one .npz
 * holding arrays x and y. An .npz is a zip archive; it is read through
 * libzip (Debian's libzip, which checks the archive's structure and CRCs
 * and inflates deflated members), each member streamed into floats, so
 * memory holds the values only. Arrays: 1-D or 2-D, C or Fortran order,
 * bool, (u)int8..64 or float32/64, little-endian or single-byte. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "dataset.h"
#include "file.h"
#include "net.h" /* phx_check_fits */
#include "table.h"

/* A byte source: reads exactly n bytes or returns non-zero. */
typedef struct npy_src {
  int (*read)(void *ctx, void *buf, size_t n);
  void *ctx;
  const char *name; /* "FILE" or "FILE: member x.npy", for messages */
} npy_src;

typedef struct npy_array {
  char kind;       /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
  int size;        /* bytes per element */
  int fortran;
  long long rows, cols; /* 1-D arrays: cols = 1 */
  int ndim;
  float *v;        /* rows x cols, row-major */
} npy_array;

static int file_read(void *ctx, void *buf, size_t n) {
  return fread(buf, 1, n, ctx) != n;
}

static int zip_read(void *ctx, void *buf, size_t n) {
  return zip_fread(ctx, buf, n) != (zip_int64_t)n;
}

/* Value of 'key': in the header dict text, or NULL. */
static const char *dict_value(const char *h, const char *key) {
  const char *p = strstr(h, key);
  if (!p) return NULL;
  p += strlen(key);
  while (*p == ' ') p++;
  if (*p != ':') return NULL;
  p++;
  while (*p == ' ') p++;
  return p;
}

/* Parses the header dict: descr, fortran_order, shape. */
static phx_status parse_header(const npy_src *s, const char *h, npy_array *a, phx_err *err) {
  const char *d = dict_value(h, "'descr'"), *f = dict_value(h, "'fortran_order'"),
             *sh = dict_value(h, "'shape'");
  if (!d || !f || !sh)
    return phx_fail(err, PHX_EFORMAT, "%s: .npy header lacks descr, fortran_order or shape",
                    s->name);
  char endian, kind;
  int size, n = 0;
  if (sscanf(d, "'%c%c%d'%n", &endian, &kind, &size, &n) != 3 || n == 0 ||
      !(endian == '<' || endian == '|' || (endian == '=' && size == 1)) ||
      !strchr("fiub", kind) || !(size == 1 || size == 2 || size == 4 || size == 8) ||
      (kind == 'f' && size < 4) || (kind == 'b' && size != 1)) {
    char shown[13]; /* the descr as one printable line: errors are one line */
    int i = 0;
    for (; i < 12 && d[i]; i++) shown[i] = d[i] >= ' ' && d[i] <= '~' ? d[i] : '?';
    shown[i] = 0;
    return phx_fail(err, PHX_EFORMAT, "%s: dtype %s is not a little-endian bool, integer "
                    "or float32/64", s->name, shown);
  }
  a->kind = kind;
  a->size = size;
  if (!strncmp(f, "True", 4)) a->fortran = 1;
  else if (!strncmp(f, "False", 5)) a->fortran = 0;
  else return phx_fail(err, PHX_EFORMAT, "%s: fortran_order is not True or False", s->name);
  if (*sh != '(') return phx_fail(err, PHX_EFORMAT, "%s: shape is not a tuple", s->name);
  long long dim[3];
  int nd = 0;
  const char *p = sh + 1;
  for (;;) {
    while (*p == ' ') p++;
    if (*p == ')') break;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < 0 || nd == 3)
      return phx_fail(err, PHX_EFORMAT, "%s: shape is not a tuple of sizes", s->name);
    dim[nd++] = v;
    p = end;
    while (*p == ' ') p++;
    if (*p == ',') p++;
  }
  if (nd < 1 || nd > 2)
    return phx_fail(err, PHX_EFORMAT, "%s: a %d-D array; tables are 1-D or 2-D", s->name, nd);
  a->ndim = nd;
  a->rows = dim[0];
  a->cols = nd == 2 ? dim[1] : 1;
  if (a->rows < 1 || a->cols < 1)
    return phx_fail(err, PHX_EFORMAT, "%s: an empty array (shape %lld x %lld)", s->name,
                    a->rows, a->cols);
  if (a->rows > INT_MAX || a->cols > INT_MAX || a->rows * a->cols > ((long long)1 << 40))
    return phx_fail(err, PHX_EFORMAT, "%s: shape %lld x %lld is too large", s->name, a->rows,
                    a->cols);
  return PHX_OK;
}

/* One little-endian element as double. */
static double element(const unsigned char *p, char kind, int size) {
  uint64_t u = 0;
  for (int i = size - 1; i >= 0; i--) u = u << 8 | p[i];
  if (kind == 'f') {
    if (size == 4) {
      uint32_t w = (uint32_t)u;
      float f;
      memcpy(&f, &w, 4);
      return f;
    }
    double d;
    memcpy(&d, &u, 8);
    return d;
  }
  if (kind == 'i') {
    int64_t v = (int64_t)(u << (64 - 8 * size)) >> (64 - 8 * size); /* sign-extend */
    return (double)v;
  }
  return (double)u;
}

/* Reads a whole .npy stream into a->v. */
static phx_status read_npy(const npy_src *s, npy_array *a, phx_err *err) {
  unsigned char pre[12];
  memset(a, 0, sizeof *a);
  if (s->read(s->ctx, pre, 10) || memcmp(pre, "\x93NUMPY", 6))
    return phx_fail(err, PHX_EFORMAT, "%s: not a .npy array (no \\x93NUMPY magic)", s->name);
  size_t hlen;
  if (pre[6] == 1) {
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
  } else if (pre[6] == 2 || pre[6] == 3) {
    if (s->read(s->ctx, pre + 10, 2))
      return phx_fail(err, PHX_EFORMAT, "%s: truncated .npy header", s->name);
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  } else {
    return phx_fail(err, PHX_EFORMAT, "%s: .npy format version %d is not 1, 2 or 3", s->name,
                    pre[6]);
  }
  if (hlen > 1 << 20)
    return phx_fail(err, PHX_EFORMAT, "%s: .npy header of %zu bytes", s->name, hlen);
  char *h = malloc(hlen + 1);
  if (!h) return phx_fail(err, PHX_ENOMEM, "%s: out of memory", s->name);
  phx_status st = PHX_OK;
  if (s->read(s->ctx, h, hlen)) st = phx_fail(err, PHX_EFORMAT, "%s: truncated .npy header",
                                              s->name);
  if (!st) {
    h[hlen] = 0;
    if (memchr(h, 0, hlen)) st = phx_fail(err, PHX_EFORMAT, "%s: NUL in .npy header", s->name);
  }
  if (!st) st = parse_header(s, h, a, err);
  free(h);
  if (st) return st;
  const size_t n = (size_t)a->rows * (size_t)a->cols;
  char what[300];
  snprintf(what, sizeof what, "%s: %zu values", s->name, n);
  if ((st = phx_check_fits((double)n * sizeof(float), what, err))) return st;
  a->v = malloc(n * sizeof *a->v);
  if (!a->v) return phx_fail(err, PHX_ENOMEM, "%s: out of memory for %zu values", s->name, n);
  unsigned char buf[1 << 16];
  const size_t per = sizeof buf / (size_t)a->size;
  for (size_t i = 0; i < n;) {
    size_t k = n - i < per ? n - i : per;
    if (s->read(s->ctx, buf, k * (size_t)a->size)) {
      free(a->v);
      a->v = NULL;
      return phx_fail(err, PHX_EFORMAT, "%s: truncated: %zu of %zu values", s->name, i, n);
    }
    for (size_t j = 0; j < k; j++, i++) {
      /* element i in file order; Fortran order stores column by column */
      size_t at = a->fortran ? (i % (size_t)a->rows) * (size_t)a->cols + i / (size_t)a->rows : i;
      const double v = element(buf + j * (size_t)a->size, a->kind, a->size);
      a->v[at] = (float)v;
      if (!isfinite(a->v[at])) {
        free(a->v);
        a->v = NULL;
        return phx_fail(err, PHX_ENAN, "%s: element [%zu, %zu] is not a finite float (%g)",
                        s->name, at / (size_t)a->cols, at % (size_t)a->cols, v);
      }
    }
  }
  return PHX_OK;
}

/* Features x and targets y as a dataset (y: n values or n x T). */
static phx_status make_table(const char *name, npy_array *x, npy_array *y,
                             const phx_table_opts *o, phx_dataset **out, phx_err *err) {
  if (x->rows != y->rows)
    return phx_fail(err, PHX_ESHAPE, "%s: %lld samples of features but %lld of targets", name,
                    x->rows, y->rows);
  const int n = (int)x->rows, F = (int)x->cols, T = (int)y->cols;
  if (!o->regression && T != 1)
    return phx_fail(err, PHX_ESHAPE, "%s: class labels must be one column (got %d)", name, T);
  int maxc = 0;
  for (int i = 0; !o->regression && i < n; i++) {
    const float v = y->v[i];
    if (v != floorf(v) || v < 0 || v > 65535)
      return phx_fail(err, PHX_EFORMAT, "%s: label %d (%g) is not an integer class in 0..65535",
                      name, i, v);
    if ((int)v > maxc) maxc = (int)v;
  }
  phx_dataset *d;
  phx_status s = phx_dataset_alloc(n, F, o->regression ? 1 : maxc + 1, o->regression ? T : 0,
                                   &d, err);
  if (s) return s;
  free(d->x);
  d->x = x->v;
  x->v = NULL;
  if (o->regression) {
    free(d->y);
    d->y = y->v;
    y->v = NULL;
  } else {
    for (int i = 0; i < n; i++) d->labels[i] = (int32_t)y->v[i];
  }
  *out = d;
  return PHX_OK;
}

/* One .npy file into a. */
static phx_status load_npy_file(const char *path, npy_array *a, phx_err *err) {
  int fd;
  phx_status s = phx_file_open_regular(path, &fd, err);
  if (s) return s;
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    return phx_fail(err, PHX_EIO, "%s: cannot read", path);
  }
  npy_src src = {file_read, f, path};
  s = read_npy(&src, a, err);
  unsigned char extra;
  if (!s && fread(&extra, 1, 1, f) == 1) {
    free(a->v);
    a->v = NULL;
    s = phx_fail(err, PHX_EFORMAT, "%s: data beyond the array's shape", path);
  }
  fclose(f);
  return s;
}

phx_status phx_table_load_npy(const char *x_path, const char *y_path, const phx_table_opts *o,
                              phx_dataset **out, phx_err *err) {
  if (!y_path)
    return phx_fail(err, PHX_EINVAL, "%s: a .npy of features needs its targets' .npy "
                    "(--labels FILE)", x_path);
  npy_array x, y;
  phx_status s = load_npy_file(x_path, &x, err);
  if (s) return s;
  if (!(s = load_npy_file(y_path, &y, err))) {
    s = make_table(y_path, &x, &y, o, out, err);
    free(y.v);
  }
  free(x.v);
  return s;
}

/* Member NAME.npy (x or X, y or Y) of an open archive into a. */
static phx_status load_member(zip_t *z, const char *path, const char *lower, npy_array *a,
                              phx_err *err) {
  char name[16], label[1200];
  zip_int64_t idx = -1;
  for (int up = 0; up < 2 && idx < 0; up++) {
    snprintf(name, sizeof name, "%c.npy", up ? lower[0] - 'a' + 'A' : lower[0]);
    idx = zip_name_locate(z, name, 0);
  }
  if (idx < 0)
    return phx_fail(err, PHX_EFORMAT, "%s: no array %s (%s.npy) in the archive", path, lower,
                    lower);
  snprintf(label, sizeof label, "%s: %s", path, name);
  zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)idx, 0);
  if (!f)
    return phx_fail(err, PHX_EFORMAT, "%s: %s", label, zip_error_strerror(zip_get_error(z)));
  npy_src src = {zip_read, f, label};
  phx_status s = read_npy(&src, a, err);
  unsigned char extra;
  if (!s && zip_fread(f, &extra, 1) != 0) {
    free(a->v);
    a->v = NULL;
    s = phx_fail(err, PHX_EFORMAT, "%s: data beyond the array's shape or a bad CRC", label);
  }
  zip_fclose(f);
  return s;
}

phx_status phx_table_load_npz(const char *path, const phx_table_opts *o, phx_dataset **out,
                              phx_err *err) {
  int fd;
  phx_status s = phx_file_open_regular(path, &fd, err);
  if (s) return s;
  int zerr = 0;
  zip_t *z = zip_fdopen(fd, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
  if (!z) {
    zip_error_t e;
    zip_error_init_with_code(&e, zerr);
    s = phx_fail(err, PHX_EFORMAT, "%s: not a readable .npz (zip) archive: %s", path,
                 zip_error_strerror(&e));
    zip_error_fini(&e);
    close(fd);
    return s;
  }
  npy_array x, y;
  s = load_member(z, path, "x", &x, err);
  if (!s) {
    if (!(s = load_member(z, path, "y", &y, err))) {
      s = make_table(path, &x, &y, o, out, err);
      free(y.v);
    }
    free(x.v);
  }
  zip_discard(z);
  return s;
}
