/* libFuzzer harness: safetensors model loading. A model that loads must
 * save and load back to the same parameters. */
#include <stdint.h>

#include "fuzz_util.h"
#include "phaxcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_path(0, "model.st"), *again = fuzz_path(1, "again.st");
  fuzz_write(path, data, size);
  phx_model *m = NULL, *m2 = NULL;
  phx_err err;
  if (phx_model_load(path, &m, &err) != PHX_OK) return 0;
  if (phx_model_save(m, again, &err) != PHX_OK || phx_model_load(again, &m2, &err) != PHX_OK)
    abort();
  for (int l = 0; l < phx_model_get_opts(m)->nlayers; l++) {
    size_t n = (size_t)phx_model_rows(m, l) * (size_t)phx_model_cols(m, l);
    if (memcmp(phx_model_theta_const(m, l), phx_model_theta_const(m2, l), n * sizeof(float)))
      abort();
  }
  phx_model_free(m);
  phx_model_free(m2);
  return 0;
}
