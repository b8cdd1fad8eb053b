/* The returned-load tests' neurons: a weak inverter under load as a table
 * of 101 inputs (-0.25 .. 0.25 V), 5 loads (0, 1, 2, 4, 8 uS) or L loads
 * evenly from 0 to 8 uS (at most 200), each row the unloaded curve divided
 * by 1 + 1.5e5 G. With many loads each row's solve scans far before its
 * crossing (past llvmpipe's loop limit at the paper's sizes). */
#ifndef PHX_TEST_WEAK_TABLE_H
#define PHX_TEST_WEAK_TABLE_H

#include <math.h>

#include "phaxcl.h"

static phx_status set_weak_table(phx_model *m, int L, phx_err *err) {
  enum { NV = 101, LMAX = 200 };
  static const double five[5] = {0, 1e-6, 2e-6, 4e-6, 8e-6};
  double loads[LMAX], vals[LMAX * NV];
  for (int k = 0; k < L; k++) {
    loads[k] = L == 5 ? five[k] : 8e-6 * k / (L - 1);
    for (int i = 0; i < NV; i++)
      vals[k * NV + i] = -0.25 * tanh(10 * (-0.25 + i * 0.005 + 0.02)) / (1 + 1.5e5 * loads[k]);
  }
  return phx_model_set_table(m, L, NV, -0.25, 0.005, loads, vals, err);
}

#endif
