/* Helpers shared by the C-path test programs: the failure counter, the
 * CHECK macros that count failed expectations and go on, aborting on a
 * library error a test cannot continue from, and the summary at the end.
 *
 * A test that works in a temporary folder defines _XOPEN_SOURCE 700 and
 * TEST_UTIL_TMPDIR before its first #include; it then also gets `dir`,
 * in_dir(), tmpdir_make() and tmpdir_remove(). */
#ifndef PHX_TEST_UTIL_H
#define PHX_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phaxcl.h"

static int failures;

/* Counts a failure, naming the place and the condition. */
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                          \
    }                                                                      \
  } while (0)

/* Counts a failure, naming the place, with a printf-style message. */
#define CHECKF(cond, ...)                                         \
  do {                                                            \
    if (!(cond)) {                                                \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);        \
      fprintf(stderr, __VA_ARGS__);                               \
      fputc('\n', stderr);                                        \
      failures++;                                                 \
    }                                                             \
  } while (0)

/* Aborts the test program on a library error it cannot continue from. */
static inline void must(phx_status s, const phx_err *err, const char *what) {
  if (s) {
    fprintf(stderr, "FAIL %s: %s (%s)\n", what, err->msg, phx_status_name(s));
    exit(1);
  }
}

/* The same for a failure already known, without the status name. */
static inline _Noreturn void die(const char *what, const phx_err *e) {
  fprintf(stderr, "FATAL %s: %s\n", what, e->msg);
  exit(1);
}

/* The exit status: 1 after any failure (counted on stderr), else 0 with
 * "NAME: all checks passed" on stdout when name is not NULL. */
static inline int finish(const char *name) {
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else if (name) printf("%s: all checks passed\n", name);
  return failures ? 1 : 0;
}

/* A one-layer model inputs -> outputs with default options, theta zero. */
static inline phx_model *tiny_model(int inputs, int outputs) {
  phx_model_opts o;
  phx_err err = {0};
  phx_model_opts_default(&o);
  o.nlayers = 1;
  o.sizes[0] = inputs;
  o.sizes[1] = outputs;
  phx_model *m = NULL;
  must(phx_model_new(&o, &m, &err), &err, "tiny model");
  return m;
}

/* The whole file at path (*n bytes); exits 99 when it cannot be read. */
static inline unsigned char *test_slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(99);
  }
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  rewind(f);
  unsigned char *b = malloc(*n + 1);
  if (!b || fread(b, 1, *n, f) != *n) exit(99);
  fclose(f);
  return b;
}

/* The safetensors file src copied to dst with the first `from` in its JSON
 * header replaced by `to` and the header length rewritten (tensor offsets
 * count from the data section, so the tensors stay where they were).
 * Exits 99 when `from` is not in the header or dst cannot be written. */
static inline void st_header_swap(const char *src, const char *dst, const char *from,
                                  const char *to) {
  size_t n, hlen = 0;
  unsigned char *b = test_slurp(src, &n);
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
  char *h = malloc(hlen + 1);
  memcpy(h, b + 8, hlen);
  h[hlen] = 0;
  char *at = strstr(h, from);
  if (!at) {
    fprintf(stderr, "%s not in the header of %s\n", from, src);
    exit(99);
  }
  const size_t nl = hlen - strlen(from) + strlen(to), pre = (size_t)(at - h);
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(nl >> (8 * i));
  FILE *f = fopen(dst, "wb");
  if (!f || fwrite(len8, 1, 8, f) != 8 || fwrite(h, 1, pre, f) != pre || fputs(to, f) < 0 ||
      fputs(at + strlen(from), f) < 0 || fwrite(b + 8 + hlen, 1, n - 8 - hlen, f) != n - 8 - hlen ||
      fclose(f)) {
    perror(dst);
    exit(99);
  }
  free(h);
  free(b);
}

/* The OpenCL devices as "P:D" specs through the public API (*n of them,
 * caller frees), or NULL after printing SKIP when there is none: the
 * test then exits 77. sim[i], when sim is not NULL, is 1 for simulators. */
static inline char (*opencl_specs(int *n, int **sim))[32] {
  phx_err err = {PHX_OK, ""};
  phx_device_info *dev = NULL;
  *n = 0;
  if (phx_devices(&dev, n, &err) != PHX_OK) {
    printf("SKIP: %s\n", err.msg);
    return NULL;
  }
  char (*specs)[32] = calloc((size_t)*n + 1, sizeof *specs);
  if (sim) *sim = calloc((size_t)*n + 1, sizeof **sim);
  if (!specs || (sim && !*sim)) die("devices", &err);
  for (int i = 0; i < *n; i++) {
    snprintf(specs[i], sizeof specs[i], "%d:%d", dev[i].platform, dev[i].index);
    if (sim) (*sim)[i] = strcmp(dev[i].type, "simulator") == 0;
  }
  phx_devices_free(dev);
  return specs;
}

#ifdef TEST_UTIL_TMPDIR
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>

static char dir[256];

/* dir/name in one of 8 rotating buffers: copy it if kept for long. */
static inline char *in_dir(const char *name) {
  static char buf[8][512];
  static int next;
  char *p = buf[next++ % 8];
  snprintf(p, 512, "%s/%s", dir, name);
  return p;
}

/* Makes the folder $TMPDIR/phx-TAG-XXXXXX (/tmp without TMPDIR) in dir:
 * 0, or -1 after saying why. */
static inline int tmpdir_make(const char *tag) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/phx-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return -1;
  }
  return 0;
}

static inline int tmpdir_rm_entry(const char *p, const struct stat *sb, int flag,
                                  struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(p);
}

/* Files in folder d whose name contains ".tmp." (leftovers of a save). */
static inline int count_temps(const char *d) {
  DIR *dp = opendir(d);
  int n = 0;
  struct dirent *e;
  while (dp && (e = readdir(dp)))
    if (strstr(e->d_name, ".tmp.")) n++;
  if (dp) closedir(dp);
  return n;
}

/* Removes dir and everything in it. */
static inline void tmpdir_remove(void) {
  nftw(dir, tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
#endif /* TEST_UTIL_TMPDIR */

#endif /* PHX_TEST_UTIL_H */
