/* Level files: a device's programmable conductances, one a line,
 * strictly ascending, in S unless a "unit uS" line (S, mS, uS, nS) comes
 * before the first; a number may carry its own unit ("0.5uS"). '#' starts
 * a comment. Read whole and checked line by line. */
#include <stdio.h>
#include <string.h>

#include "conductance.h"
#include "file.h"

/* One line's tokens (comment cut) into *v; *scale is the unit's. */
static phx_status parse_line(char *s, int line, const char *path, double *scale,
                             phx_variation *v, phx_err *err) {
  char *tok[3], *save = NULL;
  int n = 0;
  for (char *t = strtok_r(s, " \t\r\n\v\f", &save); t && n < 3; t = strtok_r(NULL, " \t\r\n\v\f", &save))
    tok[n++] = t;
  if (n == 0) return PHX_OK;
  if (strcmp(tok[0], "unit") == 0) {
    static const char *const units[] = {"S", "mS", "uS", "nS"};
    static const double scales[] = {1, 1e-3, 1e-6, 1e-9};
    int u = -1;
    for (int i = 0; n == 2 && i < 4; i++)
      if (strcmp(tok[1], units[i]) == 0) u = i;
    if (u < 0 || v->nlist > 0)
      return phx_fail(err, PHX_EFORMAT, "%s: line %d: expected 'unit S|mS|uS|nS' before the "
                      "first level", path, line);
    *scale = scales[u];
    return PHX_OK;
  }
  if (n != 1)
    return phx_fail(err, PHX_EFORMAT, "%s: line %d: expected one conductance", path, line);
  double g = 0;
  const char *last = tok[0] + strlen(tok[0]) - 1;
  const int has_unit = *last == 'S';
  if (phx_parse_conductance(tok[0], &g) || !(g > 0))
    return phx_fail(err, PHX_EFORMAT, "%s: line %d: '%.40s' is not a positive conductance "
                    "(such as 5e-7 or 0.5uS)", path, line, tok[0]);
  if (!has_unit) g *= *scale;
  if (v->nlist == PHX_MAX_LEVEL_LIST)
    return phx_fail(err, PHX_EFORMAT, "%s: line %d: more than %d levels", path, line,
                    PHX_MAX_LEVEL_LIST);
  if (v->nlist > 0 && !(g > v->list[v->nlist - 1]))
    return phx_fail(err, PHX_EFORMAT, "%s: line %d: %g S is not above the level before (%g S)",
                    path, line, g, v->list[v->nlist - 1]);
  v->list[v->nlist++] = g;
  return PHX_OK;
}

/* What the line reader carries: the list so far and the unit. */
typedef struct levels_read {
  const char *path;
  double scale;
  phx_variation v;
} levels_read;

static phx_status level_line(char *text, int line, void *ctx, phx_err *err) {
  levels_read *r = ctx;
  return parse_line(text, line, r->path, &r->scale, &r->v, err);
}

phx_status phx_levels_load(const char *path, phx_variation *v, phx_err *err) {
  if (!path || !v) return phx_fail(err, PHX_EINVAL, "phx_levels_load: path and v required");
  levels_read r = {path, 1, *v};
  r.v.levels = 0;
  r.v.nlist = 0;
  phx_status s = phx_file_lines(path, "--levels-file", level_line, &r, err);
  if (!s && r.v.nlist < 2)
    s = phx_fail(err, PHX_EFORMAT, "%s: %d level%s, at least 2 needed", path, r.v.nlist,
                 r.v.nlist == 1 ? "" : "s");
  if (!s) *v = r.v;
  return s;
}
