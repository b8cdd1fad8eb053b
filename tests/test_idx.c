/* IDX datasets. Without arguments: generated files, plain and gzip, exact
 * pooling values, the folder layout, and every malformed case refused with a
 * message naming the file. With "--bundled DIR": the bundled mnist14 task
 * (800/200, 196 features, 10 classes, 80/20 per class). With "--folder DIR
 * COUNT_TRAIN COUNT_TEST": an installed MNIST-layout folder (skips when
 * absent), e.g. /usr/share/datasets/fashion-mnist. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "phaxcl.h"
#include "test_util.h"

/* ---- generated files --------------------------------------------------------- */

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* Writes bytes to path, gzip-compressed when gz. */
static void write_bytes(const char *path, const unsigned char *b, size_t n, int gz) {
  if (gz) {
    gzFile g = gzopen(path, "wb9");
    if (!g || (n && gzwrite(g, b, (unsigned)n) != (int)n) || gzclose(g) != Z_OK) {
      fprintf(stderr, "cannot write %s\n", path);
      exit(99);
    }
    return;
  }
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(b, 1, n, f) != n)) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(99);
  }
  fclose(f);
}

/* An images file: magic, dims, pixels; extra bytes appended or cut. */
static void write_images(const char *path, uint32_t magic, uint32_t count, uint32_t rows,
                         uint32_t cols, const unsigned char *pix, long delta, int gz) {
  size_t data = (size_t)count * rows * cols;
  size_t n = 16 + data;
  unsigned char *b = calloc(n + 64, 1);
  put_be32(b, magic), put_be32(b + 4, count), put_be32(b + 8, rows), put_be32(b + 12, cols);
  if (pix) memcpy(b + 16, pix, data);
  write_bytes(path, b, (size_t)((long)n + delta), gz);
  free(b);
}

static void write_labels(const char *path, uint32_t magic, uint32_t count,
                         const unsigned char *lab, long delta, int gz) {
  size_t n = 8 + count;
  unsigned char *b = calloc(n + 64, 1);
  put_be32(b, magic), put_be32(b + 4, count);
  if (lab) memcpy(b + 8, lab, count);
  write_bytes(path, b, (size_t)((long)n + delta), gz);
  free(b);
}

/* Three 4x4 images with known pixels and labels 0, 5, 2. */
static unsigned char pix[3 * 16];
static const unsigned char lab[3] = {0, 5, 2};

static void make_pixels(void) {
  for (int i = 0; i < 3 * 16; i++) pix[i] = (unsigned char)(i * 37 % 256);
  /* First image, top-left 2x2 block {0, 255, 255, 255}: mean 0.75. */
  pix[0] = 0, pix[1] = 255, pix[4] = 255, pix[5] = 255;
  pix[2] = pix[3] = pix[6] = pix[7] = 255; /* top-right block all 255: 1.0 */
}

/* Loads and compares every value with sum / (255 pool^2). */
static void check_good(const char *images, const char *labels, int pool) {
  phx_dataset *d = NULL;
  phx_err err = {0};
  phx_status s = phx_dataset_load_idx(images, labels, pool, &d, &err);
  if (s || !d) {
    fprintf(stderr, "load %s pool %d: %s\n", images, pool, err.msg);
    failures++;
    return;
  }
  int side = 4 / pool;
  CHECK(phx_dataset_count(d) == 3);
  CHECK(phx_dataset_dim(d) == side * side);
  CHECK(phx_dataset_classes(d) == 6);
  const float *x = phx_dataset_x(d);
  const int32_t *y = phx_dataset_labels(d);
  for (int i = 0; i < 3; i++) {
    CHECK(y[i] == lab[i]);
    for (int r = 0; r < side; r++)
      for (int c = 0; c < side; c++) {
        unsigned sum = 0;
        for (int a = 0; a < pool; a++)
          for (int b = 0; b < pool; b++) sum += pix[i * 16 + (r * pool + a) * 4 + c * pool + b];
        float want = (float)(sum / (255.0 * pool * pool));
        CHECK(x[(size_t)i * side * side + r * side + c] == want);
      }
  }
  if (pool == 2) {
    CHECK(x[0] == 0.75f);
    CHECK(x[1] == 1.0f);
  }
  if (pool == 1) CHECK(x[1] == 1.0f && x[0] == 0.0f);
  phx_dataset_free(d);
}

static void test_good(void) {
  write_images(in_dir("img"), 0x803, 3, 4, 4, pix, 0, 0);
  write_labels(in_dir("lab"), 0x801, 3, lab, 0, 0);
  write_images(in_dir("zimg.gz"), 0x803, 3, 4, 4, pix, 0, 1);
  write_labels(in_dir("zlab.gz"), 0x801, 3, lab, 0, 1);
  for (int pool = 1; pool <= 4; pool *= 2) {
    check_good(in_dir("img"), in_dir("lab"), pool);
    check_good(in_dir("zimg.gz"), in_dir("zlab.gz"), pool); /* .gz named */
    check_good(in_dir("zimg"), in_dir("zlab"), pool);       /* .gz found */
    check_good(in_dir("img"), in_dir("zlab"), pool);        /* mixed */
  }
}

/* ---- malformed files --------------------------------------------------------- */

/* Loading fails with status s, and the message names `names` and holds
 * `needle`. */
static void expect_refused(const char *images, const char *labels, int pool, phx_status s,
                           const char *names, const char *needle) {
  phx_dataset *d = NULL;
  phx_err err = {0};
  phx_status got = phx_dataset_load_idx(images, labels, pool, &d, &err);
  if (got != s || d || !strstr(err.msg, names) || !strstr(err.msg, needle) ||
      strchr(err.msg, '\n')) {
    fprintf(stderr, "%s + %s: expected %s naming %s with \"%s\", got %s: %s\n", images,
            labels, phx_status_name(s), names, needle, phx_status_name(got), err.msg);
    failures++;
  }
  phx_dataset_free(d);
}

static void test_bad(void) {
  char img[512], labf[512];
  snprintf(img, sizeof img, "%s", in_dir("img"));
  snprintf(labf, sizeof labf, "%s", in_dir("lab"));
  char *p;

  p = in_dir("magic-img");
  write_images(p, 0x801, 3, 4, 4, pix, 0, 0);
  expect_refused(p, labf, 1, PHX_EFORMAT, p, "wrong magic 0x00000801, expected 0x00000803");
  p = in_dir("magic-lab");
  write_labels(p, 0x803, 3, lab, 0, 0);
  expect_refused(img, p, 1, PHX_EFORMAT, p, "wrong magic");
  p = in_dir("short-magic");
  write_labels(p, 0x801, 0, NULL, -6, 0);
  expect_refused(img, p, 1, PHX_EFORMAT, p, "wrong magic");
  p = in_dir("trunc-head");
  write_images(p, 0x803, 3, 4, 4, pix, -50, 0); /* 14 bytes: dims cut */
  expect_refused(p, labf, 1, PHX_EFORMAT, p, "truncated: header needs 16 bytes, found 14");
  p = in_dir("trunc-img");
  write_images(p, 0x803, 3, 4, 4, pix, -10, 0);
  expect_refused(p, labf, 1, PHX_EFORMAT, p, "truncated: expected 48 pixel bytes, found 38");
  p = in_dir("trunc-lab");
  write_labels(p, 0x801, 3, lab, -1, 0);
  expect_refused(img, p, 1, PHX_EFORMAT, p, "truncated: expected 3 label bytes, found 2");
  p = in_dir("trail-img");
  write_images(p, 0x803, 3, 4, 4, pix, 5, 0);
  expect_refused(p, labf, 1, PHX_EFORMAT, p, "trailing garbage: 5 bytes");
  p = in_dir("trail-lab.gz");
  write_labels(p, 0x801, 3, lab, 1, 1);
  expect_refused(img, p, 1, PHX_EFORMAT, p, "trailing garbage: 1 bytes");
  p = in_dir("count-lab");
  write_labels(p, 0x801, 2, lab, 0, 0);
  expect_refused(img, p, 1, PHX_ESHAPE, p, "2 labels, but");
  expect_refused(img, p, 1, PHX_ESHAPE, img, "has 3 images");
  p = in_dir("zero-img");
  write_images(p, 0x803, 0, 4, 4, NULL, 0, 0);
  write_labels(in_dir("zero-lab"), 0x801, 0, NULL, 0, 0);
  expect_refused(p, in_dir("zero-lab"), 1, PHX_EFORMAT, p, "no images");
  p = in_dir("big-lab");
  unsigned char l255[3] = {1, 255, 0};
  write_labels(p, 0x801, 3, l255, 0, 0);
  expect_refused(img, p, 1, PHX_EFORMAT, p, "label 255 of item 1 is out of range (0..254)");
  p = in_dir("empty");
  write_bytes(p, NULL, 0, 0);
  expect_refused(p, labf, 1, PHX_EFORMAT, p, "empty file");
  p = in_dir("empty.gz");
  write_bytes(p, NULL, 0, 1);
  expect_refused(img, p, 1, PHX_EFORMAT, p, "empty file");

  /* gzip damage: a flipped byte inside the deflate data, a cut stream. */
  FILE *f = fopen(in_dir("zimg.gz"), "rb");
  unsigned char gzb[4096];
  size_t n = f ? fread(gzb, 1, sizeof gzb, f) : 0;
  if (f) fclose(f);
  CHECK(n > 30);
  unsigned char bad[4096];
  memcpy(bad, gzb, n);
  bad[n - 6] ^= 0x55; /* inside the CRC/length trailer */
  p = in_dir("crc.gz");
  write_bytes(p, bad, n, 0);
  expect_refused(p, labf, 1, PHX_EFORMAT, p, "gzip");
  memcpy(bad, gzb, n);
  bad[12] ^= 0xff; /* inside the compressed data */
  p = in_dir("flip.gz");
  write_bytes(p, bad, n, 0);
  expect_refused(p, labf, 1, PHX_EFORMAT, p, "");
  p = in_dir("cut.gz");
  write_bytes(p, gzb, n / 2, 0);
  expect_refused(p, labf, 1, PHX_EFORMAT, p, "gzip");

  /* Missing files name both paths tried. */
  p = in_dir("absent");
  expect_refused(p, labf, 1, PHX_EIO, p, "no such file (also tried");
  expect_refused(img, p, 1, PHX_EIO, ".gz", "no such file");

  /* Pooling that does not divide the image; bad pool values. */
  expect_refused(img, labf, 3, PHX_EINVAL, img, "--pool 3: image size 4x4");
  expect_refused(img, labf, 0, PHX_EINVAL, "--pool", "must be >= 1");
}

/* ---- in-memory datasets -------------------------------------------------------- */

static void test_new(void) {
  float x[6] = {0, 0.5f, 1, -2, 3, 4};
  int32_t y[3] = {0, 2, 1};
  phx_dataset *d = NULL;
  phx_err err = {0};
  CHECK(phx_dataset_new(3, 2, 3, x, y, &d, &err) == PHX_OK && d);
  if (d) {
    x[0] = 9; /* copied, not aliased */
    CHECK(phx_dataset_x(d)[0] == 0 && phx_dataset_x(d)[5] == 4);
    CHECK(phx_dataset_labels(d)[1] == 2 && phx_dataset_classes(d) == 3);
    CHECK(phx_dataset_count(d) == 3 && phx_dataset_dim(d) == 2);
    phx_dataset_free(d);
  }
  d = NULL;
  CHECK(phx_dataset_new(3, 2, 2, x, y, &d, &err) == PHX_EINVAL && !d);
  CHECK(strstr(err.msg, "label 2") != NULL);
  x[3] = NAN;
  CHECK(phx_dataset_new(3, 2, 3, x, y, &d, &err) == PHX_ENAN && !d);
  CHECK(strstr(err.msg, "sample 1, feature 1") != NULL);
  CHECK(phx_dataset_new(0, 2, 3, x, y, &d, &err) == PHX_EINVAL && !d);
  phx_dataset_free(NULL);
}

/* ---- folders ------------------------------------------------------------------ */

static void test_dir(void) {
  char sub[512];
  snprintf(sub, sizeof sub, "%s", in_dir("mn"));
  mkdir(sub, 0755);
  char p[4][600];
  snprintf(p[0], sizeof p[0], "%s/train-images-idx3-ubyte", sub);
  snprintf(p[1], sizeof p[1], "%s/train-labels-idx1-ubyte.gz", sub);
  snprintf(p[2], sizeof p[2], "%s/t10k-images-idx3-ubyte.gz", sub);
  snprintf(p[3], sizeof p[3], "%s/t10k-labels-idx1-ubyte", sub);
  unsigned char tl[2] = {7, 1};
  write_images(p[0], 0x803, 3, 4, 4, pix, 0, 0);
  write_labels(p[1], 0x801, 3, lab, 0, 1);
  write_images(p[2], 0x803, 2, 4, 4, pix + 16, 0, 1);
  write_labels(p[3], 0x801, 2, tl, 0, 0);
  phx_dataset *tr = NULL, *te = NULL;
  phx_err err = {0};
  CHECK(phx_dataset_load_dir(sub, 2, &tr, &te, &err) == PHX_OK);
  if (tr && te) {
    CHECK(phx_dataset_count(tr) == 3 && phx_dataset_count(te) == 2);
    CHECK(phx_dataset_dim(tr) == 4 && phx_dataset_dim(te) == 4);
    CHECK(phx_dataset_classes(tr) == 8 && phx_dataset_classes(te) == 8); /* max of both */
    CHECK(phx_dataset_x(te)[0] == (float)((pix[16] + pix[17] + pix[20] + pix[21]) / 1020.0));
  } else {
    fprintf(stderr, "load_dir: %s\n", err.msg);
  }
  phx_dataset_free(tr);
  phx_dataset_free(te);

  /* Test images of another size than train images. */
  write_images(p[2], 0x803, 2, 2, 8, pix + 16, 0, 1);
  CHECK(phx_dataset_load_dir(sub, 1, &tr, &te, &err) == PHX_ESHAPE && !tr && !te);
  CHECK(strstr(err.msg, sub) && strstr(err.msg, "t10k-images-idx3-ubyte") &&
        strstr(err.msg, "2x8"));
  /* A missing file is named. */
  remove(p[3]);
  CHECK(phx_dataset_load_dir(sub, 1, &tr, &te, &err) == PHX_EIO && !tr && !te);
  CHECK(strstr(err.msg, p[3]) != NULL);
  CHECK(phx_dataset_load_dir(in_dir("nope"), 1, &tr, &te, &err) == PHX_EIO);
  CHECK(strstr(err.msg, in_dir("nope")) != NULL);
}

/* ---- bundled and installed data ---------------------------------------------------- */

/* The bundled paper task: 800/200, 14x14, 10 classes, 80/20 per class. */
static int bundled(const char *path) {
  phx_dataset *tr = NULL, *te = NULL;
  phx_err err = {0};
  if (phx_dataset_load_dir(path, 1, &tr, &te, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  CHECK(phx_dataset_count(tr) == 800 && phx_dataset_count(te) == 200);
  CHECK(phx_dataset_dim(tr) == 196 && phx_dataset_dim(te) == 196);
  CHECK(phx_dataset_classes(tr) == 10 && phx_dataset_classes(te) == 10);
  int per[2][10] = {{0}};
  phx_dataset *ds[2] = {tr, te};
  for (int k = 0; k < 2; k++) {
    const int32_t *y = phx_dataset_labels(ds[k]);
    for (int i = 0; i < phx_dataset_count(ds[k]); i++) {
      per[k][y[i]]++;
      CHECK(y[i] == i % 10); /* interleaved order (data/README.md) */
    }
    const float *x = phx_dataset_x(ds[k]);
    double sum = 0, mx = 0;
    for (size_t i = 0; i < (size_t)phx_dataset_count(ds[k]) * 196; i++) {
      CHECK(x[i] >= 0 && x[i] <= 1);
      sum += x[i];
      if (x[i] > mx) mx = x[i];
    }
    /* Digits: mostly dark background, strokes up to near white. */
    double mean = sum / (phx_dataset_count(ds[k]) * 196.0);
    CHECK(mean > 0.05 && mean < 0.3 && mx > 0.9);
  }
  for (int c = 0; c < 10; c++) CHECK(per[0][c] == 80 && per[1][c] == 20);
  phx_dataset_free(tr);
  phx_dataset_free(te);
  return failures ? 1 : 0;
}

/* An installed MNIST-layout folder at pool 1 and 2. */
static int folder(const char *path, int ntrain, int ntest) {
  struct stat st;
  if (stat(path, &st) != 0) {
    printf("%s: not installed, skipping\n", path);
    return 77;
  }
  phx_dataset *tr = NULL, *te = NULL;
  phx_err err = {0};
  if (phx_dataset_load_dir(path, 2, &tr, &te, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  CHECK(phx_dataset_count(tr) == ntrain && phx_dataset_count(te) == ntest);
  CHECK(phx_dataset_dim(tr) == 196 && phx_dataset_dim(te) == 196);
  CHECK(phx_dataset_classes(tr) == 10 && phx_dataset_classes(te) == 10);
  phx_dataset_free(tr);
  phx_dataset_free(te);
  return failures ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--bundled") == 0) return bundled(argv[2]);
  if (argc == 5 && strcmp(argv[1], "--folder") == 0)
    return folder(argv[2], atoi(argv[3]), atoi(argv[4]));
  if (argc != 1) {
    fprintf(stderr, "usage: %s [--bundled DIR | --folder DIR NTRAIN NTEST]\n", argv[0]);
    return 99;
  }
  if (tmpdir_make("idx")) return 99;
  make_pixels();
  test_good();
  test_bad();
  test_new();
  test_dir();
  tmpdir_remove();
  return finish("idx");
}
