/* Slopes of the table neurons' cubics (curve.h). */
#include "curve.h"

/* Fritsch and Butland's harmonic mean of the neighbouring secants (the
 * uniform-grid form of Fritsch-Carlson's monotone limiter): 0 at a turning
 * point, one-sided secants at the ends. */
void phx_curve_slopes(double *T, int L, int NV, double dv) {
  for (int k = 0; k < L; k++) {
    double *row = T + (size_t)k * NV * 2;
    for (int i = 0; i < NV; i++) {
      const double dl = i > 0 ? (row[2 * i] - row[2 * i - 2]) / dv : 0;
      const double dr = i < NV - 1 ? (row[2 * i + 2] - row[2 * i]) / dv : 0;
      double m;
      if (i == 0) m = dr;
      else if (i == NV - 1) m = dl;
      else m = dl * dr > 0 ? 2 * dl * dr / (dl + dr) : 0;
      row[2 * i + 1] = m;
    }
  }
}
