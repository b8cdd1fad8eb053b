/* IDX labels: 254, the largest class an IDX label file can name here, loads
 * (255 classes); 255 is refused naming the file and the item. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <string.h>

#include "phaxcl.h"
#include "test_util.h"

static void put(const char *path, const unsigned char *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(b, 1, n, f) != n || fclose(f)) exit(99);
}

int main(void) {
  if (tmpdir_make("labels")) return 99;
  const unsigned char img[16 + 3 * 4] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
  unsigned char lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 0, 254, 1};
  put(in_dir("img"), img, sizeof img);
  put(in_dir("lab"), lab, sizeof lab);
  phx_err err = {0};
  phx_dataset *d = NULL;
  must(phx_dataset_load_idx(in_dir("img"), in_dir("lab"), 1, &d, &err), &err, "label 254");
  CHECK(phx_dataset_classes(d) == 255 && phx_dataset_labels(d)[1] == 254);
  phx_dataset_free(d);
  d = NULL;
  lab[10] = 255;
  put(in_dir("lab"), lab, sizeof lab);
  phx_status s = phx_dataset_load_idx(in_dir("img"), in_dir("lab"), 1, &d, &err);
  CHECKF(s == PHX_EFORMAT && strstr(err.msg, "label 255 of item 2"), "label 255: %s: %s",
         phx_status_name(s), err.msg);
  CHECK(d == NULL);
  tmpdir_remove();
  return finish("idx_label_range");
}
