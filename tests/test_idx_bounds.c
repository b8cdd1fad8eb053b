/* IDX input is read header first and only as far as the header declares:
 * trailing data is an error in plain and gzip files alike, found without
 * reading (or holding) what follows; data one byte short is truncated; a
 * link to /dev/zero is refused. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "phaxcl.h"
#include "test_util.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Peak resident memory so far (VmHWM), in KiB; -1 when unknown. Used as a
 * difference, so valgrind's and ASan's own memory cancel out. */
static long peak_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmHWM: %ld kB", &v) == 1) break;
  if (f) fclose(f);
  return v;
}

/* Writes an IDX label file declaring 3 labels, holding the first `have`
 * of them (3: all) and then `zeros` extra bytes. */
static void labels_cut(const char *path, int gz, int have, size_t zeros) {
  static const unsigned char head[11] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 0};
  static unsigned char chunk[1 << 16];
  gzFile g = gzopen(path, gz ? "wb1" : "wbT");
  if (!g || gzwrite(g, head, 8 + (unsigned)have) != 8 + have) exit(99);
  while (zeros > 0) {
    unsigned k = zeros < sizeof chunk ? (unsigned)zeros : (unsigned)sizeof chunk;
    if (gzwrite(g, chunk, k) != (int)k) exit(99);
    zeros -= k;
  }
  if (gzclose(g) != Z_OK) exit(99);
}

static void labels_with_tail(const char *path, int gz, size_t zeros) {
  labels_cut(path, gz, 3, zeros);
}

static void images(const char *path) {
  unsigned char b[16 + 3 * 4] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(b, 1, sizeof b, f) != sizeof b || fclose(f)) exit(99);
}

int main(void) {
  if (tmpdir_make("idxb")) return 99;
  /* The old reader inflated everything first: 64 MiB of zeros after the
   * labels took 64 MiB of memory; the new one stops after the header's 3
   * labels plus a bounded count of what follows. The peak RSS tells. */
  phx_err err = {0};
  phx_dataset *d = NULL;
  images(in_dir("img"));
  labels_with_tail(in_dir("ok.gz"), 1, 0);
  must(phx_dataset_load_idx(in_dir("img"), in_dir("ok.gz"), 1, &d, &err), &err, "honest gz");
  phx_dataset_free(d);
  d = NULL;

  labels_with_tail(in_dir("big.gz"), 1, (size_t)64 << 20);
  long peak0 = peak_kib();
  double t0 = now();
  phx_status s = phx_dataset_load_idx(in_dir("img"), in_dir("big.gz"), 1, &d, &err);
  double dt = now() - t0;
  CHECKF(s == PHX_EFORMAT && strstr(err.msg, "big.gz") && strstr(err.msg, "trailing"),
         "gz with 64 MiB after the labels: %s: %s", phx_status_name(s), err.msg);
  long grew = peak_kib() - peak0;
  CHECKF(grew < 24 * 1024, "gz trailing data took %.2f s and %ld KiB more memory: read too "
         "far", dt, grew);

  labels_with_tail(in_dir("plain"), 0, 5);
  s = phx_dataset_load_idx(in_dir("img"), in_dir("plain"), 1, &d, &err);
  CHECKF(s == PHX_EFORMAT && strstr(err.msg, "trailing garbage: 5 bytes"),
         "plain trailing: %s: %s", phx_status_name(s), err.msg);

  /* One label short, plain and gzip: truncated, not loaded. */
  for (int gz = 0; gz < 2; gz++) {
    labels_cut(in_dir("short"), gz, 2, 0);
    s = phx_dataset_load_idx(in_dir("img"), in_dir("short"), 1, &d, &err);
    CHECKF(s == PHX_EFORMAT && strstr(err.msg, "truncated"), "%s file one label short: %s: %s",
           gz ? "gzip" : "plain", phx_status_name(s), err.msg);
  }

  if (symlink("/dev/zero", in_dir("zero"))) return 99;
  t0 = now();
  s = phx_dataset_load_idx(in_dir("img"), in_dir("zero"), 1, &d, &err);
  CHECKF(s == PHX_EIO && strstr(err.msg, "regular file") && now() - t0 < 2.0,
         "link to /dev/zero: %s: %s", phx_status_name(s), err.msg);
  CHECK(d == NULL);
  tmpdir_remove();
  return finish("idx_bounds");
}
