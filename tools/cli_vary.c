/* The device-variation options shared by `mc` (the chips to evaluate) and
 * `train` (the chips to train for): taken out of argv before the common
 * parser sees it. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A number option: the whole argument, within [lo, hi]. */
static int number(const char *opt, const char *s, double lo, double hi, double *out) {
  char *end = NULL;
  const double v = s ? strtod(s, &end) : 0;
  if (!s || !*s || *end || !(v >= lo && v <= hi))
    return phx_cli_fail(PHX_EXIT_USAGE, "%s: expected a number from %g to %g, got '%s'", opt,
                        lo, hi, s ? s : "");
  *out = v;
  return 0;
}

/* --offset-sigma: mV, or a neuron file whose offset `phaxcl vtc --mc N`
 * measured (its sigma). */
static int offset_sigma(const char *val, double *out) {
  char *end = NULL;
  const double mv = strtod(val, &end);
  if (*val && !*end) {
    if (!(mv >= 0 && mv <= 1000))
      return phx_cli_fail(PHX_EXIT_USAGE, "--offset-sigma: expected mV from 0 to 1000, got '%s'",
                          val);
    *out = mv * 1e-3;
    return 0;
  }
  phx_err err = {PHX_OK, ""};
  phx_neuron *n = NULL;
  if (phx_neuron_load(val, &n, &err))
    return phx_cli_fail(PHX_EXIT_USAGE, "--offset-sigma: not mV nor a neuron file: %s", err.msg);
  double sigma = 0;
  const int draws = phx_neuron_offset(n, NULL, &sigma);
  phx_neuron_free(n);
  if (draws < 2)
    return phx_cli_fail(PHX_EXIT_USAGE, "--offset-sigma %s: the neuron file has no measured "
                        "offset (phaxcl vtc --mc N --out FILE)", val);
  *out = sigma;
  return 0;
}

int phx_cli_variation(int *argc, char **argv, phx_variation *v, int *draws, unsigned *given) {
  static const char *const names[] = {"--levels", "--sigma", "--dist", "--read-noise",
                                      "--stuck-off", "--stuck-on", "--draws"};
  const int count = draws ? 7 : 6;
  int n = 1, lists = 0, levels = 0;
  if (given) *given = 0;
  for (int i = 1; i < *argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--levels-file") == 0) {
      if (i + 1 >= *argc) return phx_cli_fail(PHX_EXIT_USAGE, "%s needs a value", a);
      phx_err err = {PHX_OK, ""};
      if (phx_levels_load(argv[++i], v, &err)) return phx_cli_err(&err);
      if (given) *given |= PHX_VARY_LEVELS;
      lists++;
      continue;
    }
    if (strcmp(a, "--offset-sigma") == 0) {
      if (i + 1 >= *argc) return phx_cli_fail(PHX_EXIT_USAGE, "%s needs a value", a);
      int rc = offset_sigma(argv[++i], &v->offset_sigma);
      if (rc) return rc;
      if (given) *given |= PHX_VARY_OFFSET;
      continue;
    }
    int which = -1;
    for (int k = 0; k < count; k++)
      if (strcmp(a, names[k]) == 0) which = k;
    if (which < 0) {
      argv[n++] = argv[i];
      continue;
    }
    if (i + 1 >= *argc) return phx_cli_fail(PHX_EXIT_USAGE, "%s needs a value", a);
    const char *val = argv[++i];
    double x = 0;
    int rc = 0;
    switch (which) {
      case 0: rc = number(a, val, 0, 1 << 20, &x), v->levels = (int)x; break;
      case 1: rc = number(a, val, 0, 1000, &x), v->sigma = x / 100; break;
      case 2:
        if (strcmp(val, "lognormal") == 0) v->dist = PHX_VAR_LOGNORMAL;
        else if (strcmp(val, "gaussian") == 0) v->dist = PHX_VAR_GAUSSIAN;
        else rc = phx_cli_fail(PHX_EXIT_USAGE, "--dist: expected lognormal or gaussian, got '%s'", val);
        break;
      case 3: rc = number(a, val, 0, 1000, &x), v->read_noise = x / 100; break;
      case 4: rc = number(a, val, 0, 1, &v->stuck_off); break;
      case 5: rc = number(a, val, 0, 1, &v->stuck_on); break;
      default: rc = number(a, val, 1, 10000000, &x), *draws = (int)x; break;
    }
    if (rc) return rc;
    if (given) *given |= 1u << which;
    levels += which == 0;
    if ((which == 0 || which == 6) && x != (double)(int)x)
      return phx_cli_fail(PHX_EXIT_USAGE, "%s: expected a whole number, got '%s'", a, val);
  }
  *argc = n;
  if (lists && levels)
    return phx_cli_fail(PHX_EXIT_USAGE, "--levels and --levels-file exclude each other");
  phx_err err = {PHX_OK, ""};
  if (phx_variation_check(v, &err)) return phx_cli_fail(PHX_EXIT_USAGE, "%s", err.msg);
  return -1;
}

int phx_cli_vary_merge(const phx_model *m, phx_variation *v, unsigned given) {
  const phx_variation *mv = phx_model_get_variation(m);
  phx_variation out = mv ? *mv : *v;
  if (given & PHX_VARY_LEVELS) {
    out.levels = v->levels;
    out.nlist = v->nlist;
    memcpy(out.list, v->list, sizeof out.list);
  }
  if (given & PHX_VARY_SIGMA) out.sigma = v->sigma;
  if (given & PHX_VARY_DIST) out.dist = v->dist;
  if (given & PHX_VARY_READ) out.read_noise = v->read_noise;
  if (given & PHX_VARY_OFF) out.stuck_off = v->stuck_off;
  if (given & PHX_VARY_ON) out.stuck_on = v->stuck_on;
  if (given & PHX_VARY_OFFSET) out.offset_sigma = v->offset_sigma;
  phx_err err = {PHX_OK, ""};
  if (phx_variation_check(&out, &err) ||
      phx_variation_check_model(&out, phx_model_get_opts(m), &err))
    return phx_cli_fail(PHX_EXIT_USAGE, "%s", err.msg);
  *v = out;
  return 0;
}

int phx_vary_any(const phx_variation *v) {
  return v->levels || v->nlist || v->sigma > 0 || v->read_noise > 0 || v->stuck_off > 0 ||
         v->stuck_on > 0 || v->offset_sigma > 0;
}

const char *phx_cli_vary_str(const phx_variation *v, char *buf, size_t len) {
  char lv[96];
  if (v->nlist > 0)
    snprintf(lv, sizeof lv, "%d listed levels %.4g..%.4g uS", v->nlist, v->list[0] * 1e6,
             v->list[v->nlist - 1] * 1e6);
  else snprintf(lv, sizeof lv, "levels %d", v->levels);
  snprintf(buf, len, "%s, %s spread %.3g %%, read noise %.3g %%, stuck %.3g at gmin, "
           "%.3g at gmax, neuron offset %.3g mV", lv,
           v->dist == PHX_VAR_GAUSSIAN ? "gaussian" : "lognormal", v->sigma * 100,
           v->read_noise * 100, v->stuck_off, v->stuck_on, v->offset_sigma * 1e3);
  return buf;
}

void phx_cli_vary_json(struct cJSON *o, const phx_variation *v) {
  cJSON_AddNumberToObject(o, "levels", v->levels);
  if (v->nlist > 0) cJSON_AddItemToObject(o, "levels_S", cJSON_CreateDoubleArray(v->list, v->nlist));
  cJSON_AddNumberToObject(o, "sigma_pct", v->sigma * 100);
  cJSON_AddStringToObject(o, "dist", v->dist == PHX_VAR_GAUSSIAN ? "gaussian" : "lognormal");
  cJSON_AddNumberToObject(o, "read_noise_pct", v->read_noise * 100);
  cJSON_AddNumberToObject(o, "stuck_off", v->stuck_off);
  cJSON_AddNumberToObject(o, "stuck_on", v->stuck_on);
  cJSON_AddNumberToObject(o, "offset_sigma_mV", v->offset_sigma * 1e3);
}

int phx_cli_draw(int *argc, char **argv, int *draw, uint64_t *seed) {
  int n = 1;
  for (int i = 1; i < *argc; i++) {
    const int is_draw = !strcmp(argv[i], "--draw"), is_seed = !strcmp(argv[i], "--draw-seed");
    if (!is_draw && !is_seed) {
      argv[n++] = argv[i];
      continue;
    }
    if (i + 1 >= *argc) return phx_cli_fail(PHX_EXIT_USAGE, "%s needs a value", argv[i]);
    char *end = NULL;
    const char *val = argv[++i];
    const unsigned long long x = strtoull(val, &end, 10);
    if (!*val || *end || *val == '-' || (is_draw && x > 2000000000ULL))
      return phx_cli_fail(PHX_EXIT_USAGE, "%s: expected a non-negative integer, got '%s'",
                          argv[i - 1], val);
    if (is_draw) *draw = (int)x;
    else *seed = x;
  }
  *argc = n;
  return -1;
}
