/* The device-variation options shared by `mc` (the chips to evaluate) and
 * `train` (the chips to train for): taken out of argv before the common
 * parser sees it. */
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

int phx_cli_variation(int *argc, char **argv, phx_variation *v, int *draws) {
  static const char *const names[] = {"--levels", "--sigma", "--dist", "--read-noise",
                                      "--stuck-off", "--stuck-on", "--draws"};
  const int count = draws ? 7 : 6;
  int n = 1;
  for (int i = 1; i < *argc; i++) {
    const char *a = argv[i];
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
    if ((which == 0 || which == 6) && x != (double)(int)x)
      return phx_cli_fail(PHX_EXIT_USAGE, "%s: expected a whole number, got '%s'", a, val);
  }
  *argc = n;
  phx_err err = {PHX_OK, ""};
  if (phx_variation_check(v, &err)) return phx_cli_fail(PHX_EXIT_USAGE, "%s", err.msg);
  return -1;
}
