/* libFuzzer harness: IDX loading through gzip. First byte even: the rest
 * is written as it is (the seeds are .gz files, so this fuzzes zlib's
 * input and our handling of its errors); odd: the rest is gzip-compressed
 * first, so the IDX parser behind zlib sees the fuzzed bytes. The first
 * byte's next bit picks images or labels; the other file is fixed. */
#include <stdint.h>
#include <zlib.h>

#include "fuzz_idx_pair.h"
#include "phaxcl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *img = fuzz_path(0, "images.gz"), *lab = fuzz_path(1, "labels.gz");
  int as_labels = (data[0] >> 1) & 1;
  const char *target = as_labels ? lab : img;
  if (data[0] & 1) {
    gzFile g = gzopen(target, "wb1");
    if (!g || (size > 1 && gzwrite(g, data + 1, (unsigned)(size - 1)) != (int)(size - 1)) ||
        gzclose(g) != Z_OK)
      abort();
  } else {
    fuzz_write(target, data + 1, size - 1);
  }
  fuzz_idx_other(as_labels, img, lab);
  phx_dataset *d = NULL;
  phx_err err;
  if (phx_dataset_load_idx(img, lab, 1, &d, &err) == PHX_OK) phx_dataset_free(d);
  return 0;
}
