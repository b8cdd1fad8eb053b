/* libFuzzer harness: IDX loading, plain files. The first byte picks which
 * file of the pair the rest of the input is (even: images, odd: labels);
 * the other is a fixed valid file of 3 items. */
#include <stdint.h>

#include "fuzz_idx_pair.h"
#include "phaxcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *img = fuzz_path(0, "images"), *lab = fuzz_path(1, "labels");
  int as_labels = data[0] & 1;
  fuzz_write(as_labels ? lab : img, data + 1, size - 1);
  fuzz_idx_other(as_labels, img, lab);
  phx_dataset *d = NULL;
  phx_err err;
  int pool = 1 + (data[0] >> 1) % 3;
  if (phx_dataset_load_idx(img, lab, pool, &d, &err) == PHX_OK) {
    /* A loaded set must be self-consistent. */
    const int32_t *y = phx_dataset_labels(d);
    for (int i = 0; i < phx_dataset_count(d); i++)
      if (y[i] < 0 || y[i] >= phx_dataset_classes(d)) abort();
    phx_dataset_free(d);
  }
  return 0;
}
