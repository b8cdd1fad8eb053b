/* Conductances in the text files users write (fault maps, level lists):
 * a finite number in siemens with an optional unit suffix S, mS, uS or nS
 * written straight after it ("0.5uS", "5e-7"). */
#ifndef PHX_CONDUCTANCE_H
#define PHX_CONDUCTANCE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The whole token as a conductance in S; 0 on success, -1 when it is not
 * one (empty, trailing text, unknown unit, not finite, negative). */
static inline int phx_parse_conductance(const char *tok, double *out) {
  static const struct { const char *unit; double scale; } units[] = {
      {"", 1}, {"S", 1}, {"mS", 1e-3}, {"uS", 1e-6}, {"nS", 1e-9}};
  char *end = NULL;
  const double v = strtod(tok, &end);
  if (end == tok) return -1;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcmp(end, units[i].unit) == 0) {
      const double g = v * units[i].scale;
      if (!isfinite(g) || !(g >= 0)) return -1;
      *out = g;
      return 0;
    }
  return -1;
}

#endif /* PHX_CONDUCTANCE_H */
