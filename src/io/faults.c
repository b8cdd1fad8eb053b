/* Fault files: a chip's measured stuck-cell map, one cell a line
 *   layer row column value
 * (0-based; value gmin, gmax or a conductance such as 0.35uS), '#' starts
 * a comment, commas count as blanks. The whole file is read and checked
 * line by line before a map is returned; core/faults.c checks it against
 * a model. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conductance.h"
#include "faults.h"
#include "file.h"

void phx_faults_free(phx_faults *f) {
  if (!f) return;
  free(f->f);
  free(f);
}

int phx_faults_count(const phx_faults *f) { return f ? f->count : 0; }

/* A whole token as an integer in [0, INT_MAX]. */
static int index_of(const char *tok, int *out) {
  if (*tok < '0' || *tok > '9') return -1;
  char *end = NULL;
  errno = 0;
  const long v = strtol(tok, &end, 10);
  if (errno || *end || v > INT_MAX) return -1;
  *out = (int)v;
  return 0;
}

/* One line, comment already cut: *got 0 for a blank line, 1 for a fault
 * in *ft; an error names the line. */
static phx_status parse_line(char *s, int line, const char *path, phx_fault *ft, int *got,
                             phx_err *err) {
  static const char *const what[] = {"layer", "row", "column"};
  char *tok[5], *save = NULL;
  int n = 0;
  for (char *t = strtok_r(s, " \t\r\n\v\f,", &save); t && n < 5;
       t = strtok_r(NULL, " \t\r\n\v\f,", &save))
    tok[n++] = t;
  *got = n > 0;
  if (n == 0) return PHX_OK;
  if (n != 4)
    return phx_fail(err, PHX_EFORMAT, "%s: line %d: expected 'layer row column value', got %s%d fields",
                    path, line, n > 4 ? "more than " : "", n > 4 ? 4 : n);
  int *idx[3] = {&ft->layer, &ft->row, &ft->col};
  for (int k = 0; k < 3; k++)
    if (index_of(tok[k], idx[k]))
      return phx_fail(err, PHX_EFORMAT, "%s: line %d: %s '%.40s' is not a whole number >= 0",
                      path, line, what[k], tok[k]);
  ft->line = line;
  ft->g = 0;
  if (strcmp(tok[3], "gmin") == 0) ft->kind = PHX_STUCK_GMIN;
  else if (strcmp(tok[3], "gmax") == 0) ft->kind = PHX_STUCK_GMAX;
  else if (phx_parse_conductance(tok[3], &ft->g) == 0) ft->kind = PHX_STUCK_G;
  else
    return phx_fail(err, PHX_EFORMAT,
                    "%s: line %d: value '%.40s' is not gmin, gmax or a conductance "
                    "(such as 5e-7 or 0.5uS)", path, line, tok[3]);
  return PHX_OK;
}

static phx_status add(phx_faults *f, const phx_fault *ft, phx_err *err) {
  if (f->count == f->cap) {
    if (f->cap >= INT_MAX / 2) return phx_fail(err, PHX_EFORMAT, "%s: too many faults", f->path);
    const int cap = f->cap ? 2 * f->cap : 64;
    phx_fault *nf = realloc(f->f, (size_t)cap * sizeof *nf);
    if (!nf) return phx_fail(err, PHX_ENOMEM, "out of memory reading %s", f->path);
    f->f = nf;
    f->cap = cap;
  }
  f->f[f->count++] = *ft;
  return PHX_OK;
}

/* One line of the file: a fault or nothing. */
static phx_status fault_line(char *text, int line, void *ctx, phx_err *err) {
  phx_faults *f = ctx;
  phx_fault ft;
  int got = 0;
  phx_status s = parse_line(text, line, f->path, &ft, &got, err);
  return !s && got ? add(f, &ft, err) : s;
}

phx_status phx_faults_load(const char *path, phx_faults **out, phx_err *err) {
  if (!path || !out) return phx_fail(err, PHX_EINVAL, "phx_faults_load: path and out required");
  *out = NULL;
  phx_faults *f = calloc(1, sizeof *f);
  if (!f) return phx_fail(err, PHX_ENOMEM, "out of memory reading %s", path);
  snprintf(f->path, sizeof f->path, "%s", path);
  phx_status s = phx_file_lines(path, "--faults", fault_line, f, err);
  if (s) {
    phx_faults_free(f);
    return s;
  }
  *out = f;
  return PHX_OK;
}
