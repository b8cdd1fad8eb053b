/* The epoch shuffle covers every sample: over many epochs each sample
 * takes every position (the mutant "shuffle(order, n - 1)" pins the last
 * sample to the end), every order is a permutation, orders depend on
 * (seed, epoch) only and differ between epochs. */
#include <string.h>

#include "net.h"
#include "test_util.h"

#define N 10
#define EPOCHS 400

int main(void) {
  int seen[N][N] = {{0}};
  int32_t order[N], again[N], prev[N];
  int repeats = 0;
  for (int e = 1; e <= EPOCHS; e++) {
    phx_epoch_order(7, e, order, N);
    int hit[N] = {0};
    for (int i = 0; i < N; i++) {
      CHECKF(order[i] >= 0 && order[i] < N && !hit[order[i]]++,
             "epoch %d: order is not a permutation", e);
      if (order[i] >= 0 && order[i] < N) seen[order[i]][i]++;
    }
    phx_epoch_order(7, e, again, N);
    CHECKF(!memcmp(order, again, sizeof order), "epoch %d: order not reproducible", e);
    if (e > 1) repeats += !memcmp(order, prev, sizeof order);
    memcpy(prev, order, sizeof order);
  }
  /* 400 epochs of 10: each (sample, position) pair expected 40 times;
   * never seeing one has probability below 1e-16. */
  for (int s = 0; s < N; s++)
    for (int p = 0; p < N; p++)
      CHECKF(seen[s][p] > 0, "sample %d never at position %d in %d epochs", s, p, EPOCHS);
  CHECKF(repeats == 0, "%d epochs repeated the previous order", repeats);
  phx_epoch_order(8, 1, again, N);
  phx_epoch_order(7, 1, order, N);
  CHECK(memcmp(order, again, sizeof order) != 0);
  return finish("shuffle");
}
