/* Datasets from IDX files (the MNIST layout, plain or gzip-compressed),
 * with optional pool x pool averaging.
 * Every malformed input is refused with a one-line message naming the file. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "backend.h"
#include "dataset.h"
#include "file.h"

#define IDX_IMAGES_MAGIC 0x00000803u /* unsigned bytes, 3 dimensions */
#define IDX_LABELS_MAGIC 0x00000801u /* unsigned bytes, 1 dimension */
#define IDX_MAX_LABEL 254

/* ---- IDX files ----------------------------------------------------------- */

/* One decoded IDX file: the path actually read and its bytes. */
typedef struct {
  char *path;
  unsigned char *bytes;
  size_t size;
} idx_file;

static void idx_file_free(idx_file *f) {
  free(f->path);
  free(f->bytes);
}

/* Picks name, or name.gz when name does not exist; fails naming both. */
static phx_status resolve(const char *name, char **path, phx_err *err) {
  struct stat st;
  size_t n = strlen(name);
  char *gz = malloc(n + 4);
  if (!gz) return phx_fail(err, PHX_ENOMEM, "%s: out of memory", name);
  memcpy(gz, name, n);
  memcpy(gz + n, ".gz", 4);
  if (stat(name, &st) == 0 || errno != ENOENT) {
    free(gz);
    *path = strdup(name);
    return *path ? PHX_OK : phx_fail(err, PHX_ENOMEM, "%s: out of memory", name);
  }
  if (stat(gz, &st) == 0) {
    *path = gz;
    return PHX_OK;
  }
  phx_fail(err, PHX_EIO, "%s: no such file (also tried %s)", name, gz);
  free(gz);
  return PHX_EIO;
}

/* Largest read handed to zlib at once: gzread counts in int. */
#define IDX_CHUNK (1u << 24)
/* Trailing bytes counted before giving up on an exact figure. */
#define IDX_TRAIL_COUNT (1u << 20)

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads up to n bytes; returns the count read (short only at the end of the
 * data) or -1 with err set. A gzip stream cut short reads as the end; zlib
 * reports it through gzerror, checked here too. */
static long long gz_read_n(gzFile g, const char *path, unsigned char *buf, size_t n,
                           phx_err *err) {
  size_t got = 0;
  while (got < n) {
    size_t want = n - got < IDX_CHUNK ? n - got : IDX_CHUNK;
    int r = gzread(g, buf + got, (unsigned)want);
    if (r < 0) {
      int code;
      const char *msg = gzerror(g, &code);
      if (code == Z_ERRNO)
        phx_fail(err, PHX_EIO, "%s: read error: %s", path, strerror(errno));
      else
        phx_fail(err, PHX_EFORMAT, "%s: gzip data is corrupt: %s", path, msg);
      return -1;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  int code;
  const char *msg = gzerror(g, &code);
  if (code != Z_OK && code != Z_BUF_ERROR) {
    phx_fail(err, PHX_EFORMAT, "%s: gzip data is corrupt: %s", path, msg);
    return -1;
  }
  if (got < n && code == Z_BUF_ERROR) {
    phx_fail(err, PHX_EFORMAT, "%s: gzip data is truncated", path);
    return -1;
  }
  return (long long)got;
}

/* Reads one IDX file of ndims dimensions of unsigned bytes (plain or gzip,
 * zlib passes plain files through): the header first, then exactly the
 * bytes it declares, growing the buffer only as data arrives so that a
 * lying header cannot make us allocate more than the file holds; anything
 * after the declared data is an error. f->bytes receives the data only. */
static phx_status read_idx(const char *name, uint32_t magic, int ndims, uint32_t *dims,
                           const char *what, idx_file *f, phx_err *err) {
  memset(f, 0, sizeof *f);
  phx_status s = resolve(name, &f->path, err);
  if (s) return s;
  int fd;
  if ((s = phx_file_open_regular(f->path, &fd, err))) {
    idx_file_free(f);
    memset(f, 0, sizeof *f);
    return s;
  }
  struct stat st;
  int plain = 1;
  unsigned char peek[2];
  if (fstat(fd, &st) == 0 && pread(fd, peek, 2, 0) == 2)
    plain = !(peek[0] == 0x1f && peek[1] == 0x8b);
  errno = 0;
  gzFile g = gzdopen(fd, "rb");
  if (!g) {
    close(fd);
    s = phx_fail(err, PHX_ENOMEM, "%s: cannot open: out of memory", f->path);
    idx_file_free(f);
    memset(f, 0, sizeof *f);
    return s;
  }
  const size_t head = 4 + 4 * (size_t)ndims;
  unsigned char h[4 + 4 * 3];
  long long got = gz_read_n(g, f->path, h, head, err);
  uint64_t need = 1;
  if (got < 0) {
    s = err ? err->status : PHX_EIO;
    goto out;
  }
  if (got == 0) {
    s = phx_fail(err, PHX_EFORMAT, "%s: empty file", f->path);
    goto out;
  }
  if (got < 4 || be32(h) != magic) {
    s = phx_fail(err, PHX_EFORMAT,
                 "%s: wrong magic 0x%08x, expected 0x%08x (IDX %s: unsigned bytes, %d "
                 "dimension%s)", f->path, got >= 4 ? (unsigned)be32(h) : 0u,
                 (unsigned)magic, what, ndims, ndims > 1 ? "s" : "");
    goto out;
  }
  if ((size_t)got < head) {
    s = phx_fail(err, PHX_EFORMAT, "%s: truncated: header needs %zu bytes, found %lld",
                 f->path, head, got);
    goto out;
  }
  for (int i = 0; i < ndims; i++) {
    dims[i] = be32(h + 4 + 4 * i);
    need *= dims[i];
    if (need > (1ULL << 40)) {
      s = phx_fail(err, PHX_EFORMAT, "%s: dimensions are implausibly large", f->path);
      goto out;
    }
  }
  /* A plain file's size is known: refuse a mismatch before reading. */
  if (plain && S_ISREG(st.st_mode) && (uint64_t)st.st_size != head + need) {
    uint64_t have = (uint64_t)st.st_size - head;
    s = have < need
            ? phx_fail(err, PHX_EFORMAT, "%s: truncated: expected %llu %s bytes, found %llu",
                       f->path, (unsigned long long)need, what, (unsigned long long)have)
            : phx_fail(err, PHX_EFORMAT,
                       "%s: trailing garbage: %llu bytes after the %llu %s bytes", f->path,
                       (unsigned long long)(have - need), (unsigned long long)need, what);
    goto out;
  }
  if (need > SIZE_MAX - 1) {
    s = phx_fail(err, PHX_ENOMEM, "%s: %llu %s bytes do not fit in memory", f->path,
                 (unsigned long long)need, what);
    goto out;
  }
  size_t cap = 0, len = 0;
  while (len < need) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : (size_t)1 << 20;
      if (ncap > need) ncap = (size_t)need;
      unsigned char *nb = realloc(f->bytes, ncap ? ncap : 1);
      if (!nb) {
        s = phx_fail(err, PHX_ENOMEM, "%s: out of memory after %zu of %llu %s bytes",
                     f->path, len, (unsigned long long)need, what);
        goto out;
      }
      f->bytes = nb;
      cap = ncap;
    }
    got = gz_read_n(g, f->path, f->bytes + len, cap - len, err);
    if (got < 0) {
      s = err ? err->status : PHX_EIO;
      goto out;
    }
    len += (size_t)got;
    if (len < cap) break; /* the data ended early */
  }
  if (len < need) {
    s = phx_fail(err, PHX_EFORMAT, "%s: truncated: expected %llu %s bytes, found %zu",
                 f->path, (unsigned long long)need, what, len);
    goto out;
  }
  /* Count what follows, but only so far: a .gz can expand without end. */
  unsigned char tail[4096];
  unsigned long long extra = 0;
  do {
    got = gz_read_n(g, f->path, tail, sizeof tail, err);
    if (got < 0) {
      s = err ? err->status : PHX_EIO;
      goto out;
    }
    extra += (unsigned long long)got;
  } while (got == (long long)sizeof tail && extra < IDX_TRAIL_COUNT);
  if (extra > 0) {
    s = phx_fail(err, PHX_EFORMAT, "%s: trailing garbage: %s%llu bytes after the %llu %s bytes",
                 f->path, got == (long long)sizeof tail ? "more than " : "", extra,
                 (unsigned long long)need, what);
    goto out;
  }
  f->size = len;
out:;
  int rc = gzclose(g);
  if (!s && rc != Z_OK)
    s = phx_fail(err, PHX_EFORMAT, "%s: gzip data is corrupt or truncated (zlib %d)",
                 f->path, rc);
  if (s) {
    idx_file_free(f);
    memset(f, 0, sizeof *f);
  }
  return s;
}

/* Loads an image/label pair; also reports the pooled image size. */
static phx_status load_pair(const char *images, const char *labels, int pool,
                            phx_dataset **out, int *rows_out, int *cols_out,
                            phx_err *err) {
  if (pool < 1) return phx_fail(err, PHX_EINVAL, "--pool: must be >= 1 (got %d)", pool);
  idx_file fi, fl;
  uint32_t di[3] = {0, 0, 0}, dl[1] = {0};
  phx_status s = read_idx(images, IDX_IMAGES_MAGIC, 3, di, "pixel", &fi, err);
  if (s) return s;
  if ((s = read_idx(labels, IDX_LABELS_MAGIC, 1, dl, "label", &fl, err))) {
    idx_file_free(&fi);
    return s;
  }
  if (di[0] == 0 || di[1] == 0 || di[2] == 0) {
    s = phx_fail(err, PHX_EFORMAT, "%s: no images (dimensions %ux%ux%u)", fi.path,
                 (unsigned)di[0], (unsigned)di[1], (unsigned)di[2]);
    goto out;
  }
  if (di[0] > 0x7fffffffu || (unsigned long long)di[1] * di[2] > 0x7fffffffu) {
    s = phx_fail(err, PHX_EFORMAT, "%s: dimensions %ux%ux%u are too large", fi.path,
                 (unsigned)di[0], (unsigned)di[1], (unsigned)di[2]);
    goto out;
  }
  if (dl[0] != di[0]) {
    s = phx_fail(err, PHX_ESHAPE, "%s: %u labels, but %s has %u images", fl.path,
                 (unsigned)dl[0], fi.path, (unsigned)di[0]);
    goto out;
  }
  if (di[1] % (uint32_t)pool || di[2] % (uint32_t)pool) {
    s = phx_fail(err, PHX_EINVAL, "--pool %d: image size %ux%u of %s is not divisible by %d",
                 pool, (unsigned)di[1], (unsigned)di[2], fi.path, pool);
    goto out;
  }
  int count = (int)di[0], rows = (int)di[1], cols = (int)di[2];
  int pr = rows / pool, pc = cols / pool, maxl = 0;
  const unsigned char *lab = fl.bytes, *pix = fi.bytes;
  for (int i = 0; i < count; i++) {
    if (lab[i] > IDX_MAX_LABEL) {
      s = phx_fail(err, PHX_EFORMAT, "%s: label %u of item %d is out of range (0..%d)",
                   fl.path, lab[i], i, IDX_MAX_LABEL);
      goto out;
    }
    if (lab[i] > maxl) maxl = lab[i];
  }
  phx_dataset *d;
  if ((s = phx_dataset_alloc(count, pr * pc, maxl + 1, 0, &d, err))) goto out;
  /* Block average of pool x pool pixels, then scale to [0, 1]. */
  double denom = 255.0 * pool * pool;
  for (int i = 0; i < count; i++) {
    const unsigned char *img = pix + (size_t)i * rows * cols;
    float *dst = d->x + (size_t)i * pr * pc;
    for (int r = 0; r < pr; r++)
      for (int c = 0; c < pc; c++) {
        unsigned sum = 0;
        for (int a = 0; a < pool; a++)
          for (int b = 0; b < pool; b++) sum += img[(r * pool + a) * cols + c * pool + b];
        dst[r * pc + c] = (float)((double)sum / denom);
      }
    d->labels[i] = lab[i];
  }
  *out = d;
  if (rows_out) *rows_out = pr;
  if (cols_out) *cols_out = pc;
out:
  idx_file_free(&fi);
  idx_file_free(&fl);
  return s;
}

phx_status phx_dataset_load_idx(const char *images, const char *labels, int pool,
                                phx_dataset **out, phx_err *err) {
  if (!images || !labels || !out)
    return phx_fail(err, PHX_EINVAL, "dataset: images, labels or out is NULL");
  *out = NULL;
  return load_pair(images, labels, pool, out, NULL, NULL, err);
}

/* "dir/name" in a fresh string. */
static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (p) {
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
  }
  return p;
}

/* Loads the MNIST layout; train and test must share the image size, and
 * both report the larger class count so models fit either. */
phx_status phx_dataset_load_dir(const char *dir, int pool, phx_dataset **train,
                                phx_dataset **test, phx_err *err) {
  if (!dir || !train || !test)
    return phx_fail(err, PHX_EINVAL, "dataset: dir, train or test is NULL");
  *train = *test = NULL;
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return phx_fail(err, PHX_EIO, "%s: no such folder", dir);
  static const char *const names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  char *p[4];
  for (int i = 0; i < 4; i++) p[i] = join(dir, names[i]);
  phx_status s = PHX_OK;
  if (!p[0] || !p[1] || !p[2] || !p[3]) s = phx_fail(err, PHX_ENOMEM, "%s: out of memory", dir);
  int r0 = 0, c0 = 0, r1 = 0, c1 = 0;
  if (!s) s = load_pair(p[0], p[1], pool, train, &r0, &c0, err);
  if (!s) s = load_pair(p[2], p[3], pool, test, &r1, &c1, err);
  if (!s && (r0 != r1 || c0 != c1))
    s = phx_fail(err, PHX_ESHAPE, "%s: test images are %dx%d but train images %dx%d", p[2],
                 r1 * pool, c1 * pool, r0 * pool, c0 * pool);
  if (!s) {
    int k = (*train)->classes > (*test)->classes ? (*train)->classes : (*test)->classes;
    (*train)->classes = (*test)->classes = k;
  }
  if (s) {
    phx_dataset_free(*train);
    phx_dataset_free(*test);
    *train = *test = NULL;
  }
  for (int i = 0; i < 4; i++) free(p[i]);
  return s;
}
