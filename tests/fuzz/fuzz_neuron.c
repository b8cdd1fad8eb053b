/* libFuzzer harness: neuron files (phaxcl vtc's JSON). A file that loads
 * must save and load back to the same fits, and to the same sweep within
 * the 9 significant digits sweeps are stored with. */
#include <math.h>
#include <stdint.h>

#include "fuzz_util.h"
#include "phaxcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_path(0, "neuron.json"), *again = fuzz_path(1, "again.json");
  fuzz_write(path, data, size);
  phx_neuron *n = NULL, *n2 = NULL;
  phx_err err;
  if (phx_neuron_load(path, &n, &err) != PHX_OK) return 0;
  if (phx_neuron_save(n, again, &err) != PHX_OK || phx_neuron_load(again, &n2, &err) != PHX_OK)
    abort();
  double c[4], d[4], rms[2], c2[4], d2[4], rms2[2];
  phx_neuron_fits(n, c, d, rms, NULL);
  phx_neuron_fits(n2, c2, d2, rms2, NULL);
  if (memcmp(c, c2, sizeof c) || memcmp(d, d2, sizeof d)) abort();
  const double *z, *om, *z2, *om2;
  const int len = phx_neuron_sweep(n, &z, &om, NULL, NULL, NULL, NULL);
  const int len2 = phx_neuron_sweep(n2, &z2, &om2, NULL, NULL, NULL, NULL);
  if (len != len2) abort();
  for (int i = 0; i < len; i++)
    if (!(fabs(z[i] - z2[i]) <= 1e-8 * fabs(z[i])) || !(fabs(om[i] - om2[i]) <= 1e-8 * fabs(om[i])))
      abort();
  phx_neuron_free(n);
  phx_neuron_free(n2);
  return 0;
}
