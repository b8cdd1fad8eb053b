/* libFuzzer harness: checkpoint loading (the model plus its "train.*"
 * tensors and metadata). A checkpoint that loads must also load as a
 * plain model. */
#include <stdint.h>

#include "fuzz_util.h"
#include "phaxcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_path(0, "ck.st");
  fuzz_write(path, data, size);
  phx_train_opts o;
  int done = 0;
  phx_err err;
  if (phx_checkpoint_info(path, &o, &done, &err) != PHX_OK) return 0;
  phx_model *m = NULL;
  if (phx_model_load(path, &m, &err) != PHX_OK || done < 0) abort();
  phx_model_free(m);
  return 0;
}
