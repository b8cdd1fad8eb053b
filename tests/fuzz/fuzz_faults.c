/* libFuzzer harness: fault files (train/eval/mc --faults). A map that
 * loads is applied to a two-layer model: either refused with the model
 * untouched, or every listed cell pinned, and applying it again changes
 * nothing. */
#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "phaxcl.h"

static phx_model *model(void) {
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.sizes[0] = 4, o.sizes[1] = 3, o.sizes[2] = 2; /* 10 x 3 and 8 x 2 cells */
  phx_model *m = NULL;
  phx_err err;
  if (phx_model_new(&o, &m, &err)) abort();
  return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_path(0, "faults.txt");
  fuzz_write(path, data, size);
  phx_faults *f = NULL;
  phx_err err;
  if (phx_faults_load(path, &f, &err) != PHX_OK) {
    if (f || !strstr(err.msg, path)) abort();
    return 0;
  }
  if (phx_faults_count(f) < 0) abort();
  phx_model *m = model();
  float before[46], after[46];
  const phx_status s = phx_model_apply_faults(m, f, &err);
  memcpy(after, phx_model_theta(m, 0), 30 * sizeof(float));
  memcpy(after + 30, phx_model_theta(m, 1), 16 * sizeof(float));
  if (s != PHX_OK) {
    for (int i = 0; i < 46; i++)
      if (after[i] != 0) abort(); /* a refused map leaves the model as it was */
  } else {
    memcpy(before, after, sizeof after);
    if (phx_model_apply_faults(m, f, &err) != PHX_OK) abort();
    if (memcmp(phx_model_theta(m, 0), before, 30 * sizeof(float)) ||
        memcmp(phx_model_theta(m, 1), before + 30, 16 * sizeof(float)))
      abort();
  }
  phx_model_free(m);
  phx_faults_free(f);
  return 0;
}
