/* An honest IDX image file over 2 GiB loads (the old reader refused it as
 * corrupt: "request does not fit in an int"). The file is sparse, so it
 * costs no disk; loading it needs about 2.1 GiB of memory, hence the
 * separate 'slow' suite. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "phaxcl.h"
#include "test_util.h"

#define COUNT 8200u /* 8200 x 512 x 512 = 2.0 GiB + 16 MiB */
#define SIDE 512u

static void be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

int main(void) {
  if (tmpdir_make("idxlarge")) return 99;
  unsigned char h[16];
  be32(h, 0x803), be32(h + 4, COUNT), be32(h + 8, SIDE), be32(h + 12, SIDE);
  int fd = open(in_dir("img"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  off_t size = 16 + (off_t)COUNT * SIDE * SIDE;
  /* One lit pixel in the last image, so the end of the file is read too. */
  unsigned char one = 255;
  if (fd < 0 || write(fd, h, 16) != 16 || ftruncate(fd, size) != 0 ||
      pwrite(fd, &one, 1, size - 1) != 1 || close(fd) != 0) {
    perror("image file");
    return 99;
  }
  unsigned char *lab = calloc(8 + COUNT, 1);
  be32(lab, 0x801), be32(lab + 4, COUNT);
  lab[8 + COUNT - 1] = 7;
  FILE *f = fopen(in_dir("lab"), "wb");
  if (!f || fwrite(lab, 1, 8 + COUNT, f) != 8 + COUNT || fclose(f)) return 99;
  free(lab);
  phx_err err = {0};
  phx_dataset *d = NULL;
  phx_status s = phx_dataset_load_idx(in_dir("img"), in_dir("lab"), 64, &d, &err);
  CHECKF(s == PHX_OK, "%lld-byte IDX: %s: %s", (long long)size, phx_status_name(s), err.msg);
  if (d) {
    CHECK(phx_dataset_count(d) == (int)COUNT && phx_dataset_dim(d) == 64);
    CHECK(phx_dataset_labels(d)[COUNT - 1] == 7 && phx_dataset_classes(d) == 8);
    const float *x = phx_dataset_x(d) + (size_t)(COUNT - 1) * 64;
    CHECKF(x[63] > 0.0f && x[62] == 0.0f, "last pooled pixel %g", x[63]);
  }
  phx_dataset_free(d);
  tmpdir_remove();
  return finish("idx_large");
}
