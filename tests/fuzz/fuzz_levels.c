/* libFuzzer harness: level files (--levels-file). A file that loads gives
 * 2 to PHX_MAX_LEVEL_LIST positive, strictly ascending levels and nothing
 * else of the variation changed; a refused one leaves it untouched and
 * names the file. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "phaxcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_path(0, "device.levels");
  fuzz_write(path, data, size);
  phx_variation v, before;
  phx_variation_default(&v);
  v.sigma = 0.25;
  before = v;
  phx_err err;
  if (phx_levels_load(path, &v, &err) != PHX_OK) {
    if (memcmp(&v, &before, sizeof v) || !strstr(err.msg, path)) abort();
    return 0;
  }
  if (v.nlist < 2 || v.nlist > PHX_MAX_LEVEL_LIST || v.levels != 0 || v.sigma != 0.25) abort();
  for (int q = 0; q < v.nlist; q++)
    if (!(isfinite(v.list[q]) && v.list[q] > 0 && (q == 0 || v.list[q] > v.list[q - 1])))
      abort();
  if (phx_variation_check(&v, &err) != PHX_OK) abort();
  return 0;
}
