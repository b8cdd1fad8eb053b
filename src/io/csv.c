/* Tables as delimited text (CSV, TSV, whitespace), plain or gzip: read as
 * a stream through zlib (which passes plain files through), so memory
 * holds the parsed values and one line, never the file. Every defect is
 * refused with "FILE: line L, column C: ..." on one line. Also the CSV
 * writer of result tables (phx_csv_save). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "dataset.h"
#include "file.h"
#include "net.h" /* phx_check_fits */
#include "table.h"

#define CSV_MAX_LINE ((size_t)64 << 20) /* one row of 64 MB is a broken file */
#define CSV_MAX_CLASS 65535

typedef struct csv {
  const char *path;
  gzFile g;
  char chunk[1 << 16];
  size_t clen, cpos;
  int eof;
  char *line;
  size_t lcap;
  long lineno;
  char delim;     /* ' ' for runs of blanks */
  char **field;   /* the current row's fields, pointing into line */
  size_t *col;    /* their 1-based character columns */
  int nfield, fcap;
} csv;

/* The next line without its end (\n or \r\n) into r->line: 1, or 0 at the
 * end of the file, or -1 with err set. */
static int next_line(csv *r, phx_err *err) {
  size_t len = 0;
  int got = 0;
  for (;;) {
    if (r->cpos == r->clen) {
      if (r->eof) break;
      int n = gzread(r->g, r->chunk, sizeof r->chunk);
      if (n < 0) {
        int zerr;
        const char *m = gzerror(r->g, &zerr);
        phx_fail(err, PHX_EFORMAT, "%s: line %ld: %s", r->path, r->lineno + 1,
                 zerr == Z_ERRNO ? strerror(errno) : m);
        return -1;
      }
      if (n == 0) {
        r->eof = 1;
        break;
      }
      r->clen = (size_t)n;
      r->cpos = 0;
    }
    got = 1;
    const char *s = r->chunk + r->cpos, *nl = memchr(s, '\n', r->clen - r->cpos);
    size_t take = nl ? (size_t)(nl - s) : r->clen - r->cpos;
    if (len + take + 1 > r->lcap) {
      if (len + take + 1 > CSV_MAX_LINE) {
        phx_fail(err, PHX_EFORMAT, "%s: line %ld is longer than %zu MB", r->path,
                 r->lineno + 1, CSV_MAX_LINE >> 20);
        return -1;
      }
      size_t cap = r->lcap ? r->lcap : 4096;
      while (cap < len + take + 1) cap *= 2;
      char *l = realloc(r->line, cap);
      if (!l) {
        phx_fail(err, PHX_ENOMEM, "%s: line %ld: out of memory", r->path, r->lineno + 1);
        return -1;
      }
      r->line = l;
      r->lcap = cap;
    }
    memcpy(r->line + len, s, take);
    len += take;
    r->cpos += take + (nl ? 1 : 0);
    if (nl) break;
  }
  if (!got) return 0;
  if (len && r->line[len - 1] == '\r') len--;
  r->line[len] = 0;
  if (memchr(r->line, 0, len)) {
    phx_fail(err, PHX_EFORMAT, "%s: line %ld: a NUL byte (not a text file?)", r->path,
             r->lineno + 1);
    return -1;
  }
  r->lineno++;
  return 1;
}

static int blank(char c) { return c == ' ' || c == '\t'; }

/* Records one field starting at p (column 1 + p - line). */
static int push_field(csv *r, char *p, phx_err *err) {
  if (r->nfield == r->fcap) {
    int cap = r->fcap ? 2 * r->fcap : 64;
    char **f = realloc(r->field, (size_t)cap * sizeof *f);
    if (f) r->field = f;
    size_t *c = f ? realloc(r->col, (size_t)cap * sizeof *c) : NULL;
    if (!c) return phx_fail(err, PHX_ENOMEM, "%s: line %ld: out of memory", r->path, r->lineno);
    r->col = c;
    r->fcap = cap;
  }
  r->col[r->nfield] = (size_t)(p - r->line) + 1;
  r->field[r->nfield++] = p;
  return 0;
}

/* Splits r->line into fields in place: surrounding blanks trimmed, a field
 * in double quotes unquoted ("" inside is one quote). */
static int split(csv *r, phx_err *err) {
  r->nfield = 0;
  char *p = r->line;
  if (r->delim == ' ')
    while (blank(*p)) p++;
  for (;;) {
    while (r->delim != ' ' && blank(*p)) p++;
    char *start = p, *w = p;
    if (*p == '"') {
      size_t qcol = (size_t)(p - r->line) + 1;
      for (p++;; p++) {
        if (!*p)
          return phx_fail(err, PHX_EFORMAT, "%s: line %ld, column %zu: unterminated quote",
                          r->path, r->lineno, qcol);
        if (*p == '"' && p[1] == '"') *w++ = *p++;
        else if (*p == '"') break;
        else *w++ = *p;
      }
      p++;
      while (blank(*p) && *p != r->delim) p++;
      if (*p && *p != r->delim)
        return phx_fail(err, PHX_EFORMAT, "%s: line %ld, column %zu: text after a closing quote",
                        r->path, r->lineno, (size_t)(p - r->line) + 1);
    } else {
      while (*p && (r->delim == ' ' ? !blank(*p) : *p != r->delim)) p++;
      w = p;
      while (w > start && blank(w[-1])) w--;
    }
    if (push_field(r, start, err)) return err->status;
    char at = *p;
    *w = 0;
    if (!at) break;
    p++;
    if (r->delim == ' ') {
      while (blank(*p)) p++;
      if (!*p) break;
    }
  }
  return 0;
}

/* A finite number filling the whole field: 0, 1 not a number, 2 not finite. */
static int parse_num(const char *s, double *v) {
  if (!*s) return 1;
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  if (end == s || *end) return 1;
  return isfinite(*v) ? 0 : 2; /* nan, inf, or beyond double range */
}

/* The delimiter of a first line: the most frequent of , ; tab outside
 * quotes, else runs of blanks. */
static char detect_delim(const char *l) {
  int n[3] = {0, 0, 0}, q = 0;
  for (; *l; l++) {
    if (*l == '"') q = !q;
    if (q) continue;
    n[0] += *l == ',';
    n[1] += *l == ';';
    n[2] += *l == '\t';
  }
  int best = n[0] >= n[1] ? (n[0] >= n[2] ? 0 : 2) : (n[1] >= n[2] ? 1 : 2);
  return n[best] ? ",;\t"[best] : ' ';
}

/* A row to skip: empty, blanks only, or a # comment. */
static int skip_line(const char *l) {
  while (blank(*l)) l++;
  return !*l || *l == '#';
}

/* Target columns from the spec: names (with a header) or indices, -1 the
 * last; is_target[c] marks them, tcol lists them in spec order. */
static phx_status resolve_targets(const csv *r, const char *spec, int ncol, int header,
                                  unsigned char *is_target, int *tcol, int *nt, phx_err *err) {
  *nt = 0;
  if (!spec || !*spec) spec = "-1";
  const char *p = spec;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char tok[256];
    if (n == 0 || n >= sizeof tok)
      return phx_fail(err, PHX_EINVAL, "%s: --target '%s': an empty or overlong column",
                      r->path, spec);
    memcpy(tok, p, n);
    tok[n] = 0;
    char *end;
    long c = strtol(tok, &end, 10);
    int col = -1;
    if (*end == 0 && end != tok) {
      if (c < 0) c += ncol;
      if (c < 0 || c >= ncol)
        return phx_fail(err, PHX_EINVAL, "%s: --target %s: no such column (the file has %d "
                        "columns, 0..%d)", r->path, tok, ncol, ncol - 1);
      col = (int)c;
    } else {
      if (!header)
        return phx_fail(err, PHX_EINVAL, "%s: --target %s: a column name, but the file has "
                        "no header row", r->path, tok);
      for (int i = 0; i < ncol && col < 0; i++)
        if (strcmp(r->field[i], tok) == 0) col = i;
      if (col < 0)
        return phx_fail(err, PHX_EINVAL, "%s: line 1: --target column '%s' is not in the "
                        "header", r->path, tok);
    }
    if (is_target[col])
      return phx_fail(err, PHX_EINVAL, "%s: --target '%s': column %d named twice", r->path,
                      spec, col);
    is_target[col] = 1;
    tcol[(*nt)++] = col;
    p = e ? e + 1 : p + n;
  }
  if (*nt == ncol)
    return phx_fail(err, PHX_EINVAL, "%s: every one of the %d columns is a target: no "
                    "features left", r->path, ncol);
  return PHX_OK;
}

/* Growing value arrays for x (rows x F) and y (rows x T). */
typedef struct grow {
  float *x, *y;
  size_t rows, cap;
} grow;

static phx_status grow_row(grow *g, int F, int T, const char *path, long line, phx_err *err) {
  if (g->rows < g->cap) return PHX_OK;
  if (g->rows >= (size_t)INT_MAX)
    return phx_fail(err, PHX_EINVAL, "%s: line %ld: more than %d rows", path, line, INT_MAX);
  size_t cap = g->cap ? g->cap * 2 : 1024;
  if (cap > (size_t)INT_MAX) cap = (size_t)INT_MAX;
  char what[300];
  snprintf(what, sizeof what, "%s: %zu rows of %d values", path, cap, F + T);
  phx_status s = phx_check_fits((double)cap * (F + T) * sizeof(float), what, err);
  if (s) return s;
  float *x = realloc(g->x, cap * (size_t)F * sizeof *x);
  if (x) g->x = x;
  float *y = x ? realloc(g->y, cap * (size_t)T * sizeof *y) : NULL;
  if (!y)
    return phx_fail(err, PHX_ENOMEM, "%s: line %ld: out of memory for %zu rows", path, line,
                    cap);
  g->y = y;
  g->cap = cap;
  return PHX_OK;
}

/* Reads the whole table from an open reader. */
static phx_status read_table(csv *r, const phx_table_opts *o, phx_dataset **out,
                             phx_err *err) {
  int rc;
  while ((rc = next_line(r, err)) == 1 && skip_line(r->line)) {}
  if (rc < 0) return err->status;
  if (rc == 0) return phx_fail(err, PHX_EFORMAT, "%s: empty file (no rows)", r->path);
  r->delim = o->delimiter ? o->delimiter : detect_delim(r->line);
  if (split(r, err)) return err->status;
  const int ncol = r->nfield;
  int header = o->header;
  if (header < 0) {
    header = 0;
    for (int i = 0; i < ncol && !header; i++) {
      double v;
      header = parse_num(r->field[i], &v) == 1;
    }
  }
  if (o->header_out && o->header_size) {
    size_t at = 0;
    o->header_out[0] = 0;
    for (int i = 0; header && i < ncol && at + 1 < o->header_size; i++)
      at += (size_t)snprintf(o->header_out + at, o->header_size - at, "%s%s", i ? "," : "",
                             r->field[i]);
  }
  unsigned char *is_target = calloc((size_t)ncol, 1);
  int *tcol = malloc((size_t)ncol * sizeof *tcol), nt = 0;
  grow g = {0};
  phx_status s = PHX_OK;
  if (!is_target || !tcol) {
    s = phx_fail(err, PHX_ENOMEM, "%s: out of memory", r->path);
    goto out;
  }
  if ((s = resolve_targets(r, o->target, ncol, header, is_target, tcol, &nt, err))) goto out;
  if (!o->regression && nt != 1) {
    s = phx_fail(err, PHX_EINVAL, "%s: --target: classification takes one label column "
                 "(got %d)", r->path, nt);
    goto out;
  }
  const int F = ncol - nt;
  int maxc = 0, first = !header;
  for (;;) {
    if (!first) {
      while ((rc = next_line(r, err)) == 1 && skip_line(r->line)) {}
      if (rc < 0) {
        s = err->status;
        goto out;
      }
      if (rc == 0) break;
      if ((s = split(r, err))) goto out;
    }
    first = 0;
    if (r->nfield != ncol) {
      s = phx_fail(err, PHX_EFORMAT, "%s: line %ld, column %zu: %d fields, but %s has %d",
                   r->path, r->lineno, r->col[r->nfield < ncol ? r->nfield - 1 : ncol],
                   r->nfield, header ? "the header" : "the first row", ncol);
      goto out;
    }
    if ((s = grow_row(&g, F, nt, r->path, r->lineno, err))) goto out;
    float *xr = g.x + g.rows * (size_t)F, *yr = g.y + g.rows * (size_t)nt;
    for (int c = 0, f = 0; c < ncol; c++) {
      double v;
      int bad = parse_num(r->field[c], &v);
      if (bad) {
        s = phx_fail(err, bad == 2 ? PHX_ENAN : PHX_EFORMAT,
                     "%s: line %ld, column %zu: %s '%.40s'", r->path, r->lineno, r->col[c],
                     bad == 2 ? "not a finite number" : "not a number", r->field[c]);
        goto out;
      }
      if (!is_target[c]) {
        if (!isfinite((float)v)) {
          s = phx_fail(err, PHX_ENAN, "%s: line %ld, column %zu: %s is beyond float range",
                       r->path, r->lineno, r->col[c], r->field[c]);
          goto out;
        }
        xr[f++] = (float)v;
      }
    }
    for (int t = 0; t < nt; t++) {
      double v = 0;
      parse_num(r->field[tcol[t]], &v);
      if (!o->regression && (v != floor(v) || v < 0 || v > CSV_MAX_CLASS)) {
        s = phx_fail(err, PHX_EFORMAT, "%s: line %ld, column %zu: class label '%s' is not "
                     "an integer in 0..%d", r->path, r->lineno, r->col[tcol[t]],
                     r->field[tcol[t]], CSV_MAX_CLASS);
        goto out;
      }
      if (!isfinite((float)v)) {
        s = phx_fail(err, PHX_ENAN, "%s: line %ld, column %zu: %s is beyond float range",
                     r->path, r->lineno, r->col[tcol[t]], r->field[tcol[t]]);
        goto out;
      }
      yr[t] = (float)v;
      if (!o->regression && (int)v > maxc) maxc = (int)v;
    }
    g.rows++;
  }
  if (g.rows == 0) {
    s = phx_fail(err, PHX_EFORMAT, "%s: no data rows%s", r->path,
                 header ? " after the header" : "");
    goto out;
  }
  phx_dataset *d;
  if ((s = phx_dataset_alloc((int)g.rows, F, o->regression ? 1 : maxc + 1,
                             o->regression ? nt : 0, &d, err)))
    goto out;
  free(d->x);
  d->x = g.x;
  g.x = NULL;
  if (o->regression) {
    free(d->y);
    d->y = g.y;
    g.y = NULL;
  } else {
    for (size_t i = 0; i < g.rows; i++) d->labels[i] = (int32_t)g.y[i];
  }
  *out = d;
out:
  free(g.x);
  free(g.y);
  free(is_target);
  free(tcol);
  return s;
}

phx_status phx_table_load_csv(const char *path, const phx_table_opts *o, phx_dataset **out,
                              phx_err *err) {
  int fd;
  phx_status s = phx_file_open_regular(path, &fd, err);
  if (s) return s;
  csv *r = calloc(1, sizeof *r);
  if (!r) {
    close(fd);
    return phx_fail(err, PHX_ENOMEM, "%s: out of memory", path);
  }
  r->path = path;
  r->g = gzdopen(fd, "rb");
  if (!r->g) {
    close(fd);
    free(r);
    return phx_fail(err, PHX_ENOMEM, "%s: cannot start reading", path);
  }
  gzbuffer(r->g, 1 << 17);
  s = read_table(r, o, out, err);
  gzclose(r->g);
  free(r->line);
  free(r->field);
  free(r->col);
  free(r);
  return s;
}

/* ---- writing --------------------------------------------------------------- */

typedef struct csv_out {
  const char *header;
  const double *v;
  int rows, cols;
} csv_out;

static int write_csv(FILE *f, const void *ctx) {
  const csv_out *o = ctx;
  if (o->header && fprintf(f, "%s\n", o->header) < 0) return errno ? errno : EIO;
  for (size_t i = 0; i < (size_t)o->rows; i++) {
    for (size_t j = 0; j < (size_t)o->cols; j++)
      if (fprintf(f, "%s%.9g", j ? "," : "", o->v[i * (size_t)o->cols + j]) < 0)
        return errno ? errno : EIO;
    if (fputc('\n', f) == EOF) return errno ? errno : EIO;
  }
  return 0;
}

phx_status phx_csv_save(const char *path, const char *header, const double *v, int rows,
                        int cols, phx_err *err) {
  if (!path || !*path || !v || rows < 0 || cols < 1)
    return phx_fail(err, PHX_EINVAL, "phx_csv_save: no path, values or columns");
  for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++)
    if (!isfinite(v[i]))
      return phx_fail(err, PHX_ENAN, "%s: not saved: row %zu, column %zu is %g", path,
                      i / (size_t)cols, i % (size_t)cols, v[i]);
  const csv_out o = {header, v, rows, cols};
  return phx_file_save_atomic(path, write_csv, &o, err);
}
