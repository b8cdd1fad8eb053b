/* The IDX harnesses fuzz one file of an image/label pair; this writes the
 * other one, a fixed valid file of 3 items of 2 x 2 pixels. */
#ifndef PHX_FUZZ_IDX_PAIR_H
#define PHX_FUZZ_IDX_PAIR_H

#include "fuzz_util.h"

static void fuzz_idx_other(int fuzzed_labels, const char *images, const char *labels) {
  static const uint8_t img[16 + 3 * 4] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2,
                                          1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  static const uint8_t lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 0, 2};
  if (fuzzed_labels) fuzz_write(images, img, sizeof img);
  else fuzz_write(labels, lab, sizeof lab);
}

#endif /* PHX_FUZZ_IDX_PAIR_H */
