/* libFuzzer harness: tables. The first byte picks the reader and its
 * options (bits 0-1: .csv, .csv again, .npy with a fixed valid targets
 * file, .npz; bit 2: regression; bits 3-4: header auto/yes/no; bits 5-7:
 * a --target spec); the rest is the file. A table that loads must be
 * self-consistent: finite values, labels inside the classes. */
#include <math.h>
#include <stdint.h>

#include "fuzz_util.h"
#include "phaxcl.h"

static const char *const TARGETS[8] = {NULL, "0", "-1", "1,-1", "y", "a,b", "-2", "7"};

/* A .npy of three int32 targets, the partner of a fuzzed features file. */
static void write_targets(const char *path) {
  static const uint8_t npy[] = "\x93NUMPY\x01\x00\x3a\x00"
                               "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }\n"
                               "\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00";
  fuzz_write(path, npy, sizeof npy - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char *const names[4] = {"t.csv", "u.csv", "x.npy", "z.npz"};
  const int kind = data[0] & 3;
  const char *path = fuzz_path(kind, names[kind]);
  fuzz_write(path, data + 1, size - 1);
  const char *ypath = NULL;
  if (kind == 2) {
    ypath = fuzz_path(3, "y.npy");
    write_targets(ypath);
  }
  phx_table_opts o;
  phx_table_opts_default(&o);
  o.regression = (data[0] >> 2) & 1;
  o.header = ((data[0] >> 3) & 3) == 0 ? -1 : ((data[0] >> 3) & 3) == 1;
  o.target = TARGETS[data[0] >> 5];
  phx_dataset *d = NULL;
  phx_err err;
  if (phx_dataset_load_table(path, ypath, &o, &d, &err) != PHX_OK) {
    if (d || !err.msg[0] || strchr(err.msg, '\n')) abort(); /* one line, nothing returned */
    return 0;
  }
  const int n = phx_dataset_count(d), dim = phx_dataset_dim(d), T = phx_dataset_targets(d);
  if (n < 1 || dim < 1 || (o.regression ? T < 1 : T != 0)) abort();
  for (size_t i = 0; i < (size_t)n * dim; i++)
    if (!isfinite(phx_dataset_x(d)[i])) abort();
  for (size_t i = 0; i < (size_t)n * T; i++)
    if (!isfinite(phx_dataset_y(d)[i])) abort();
  for (int i = 0; i < n; i++)
    if (phx_dataset_labels(d)[i] < 0 || phx_dataset_labels(d)[i] >= phx_dataset_classes(d))
      abort();
  phx_dataset_free(d);
  return 0;
}
