/* The on-disk binary cache for OpenCL programs (see cl_cache.h). */
#include "cl_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PHX_CACHE_MAGIC "PHXCLBIN"
#define PHX_CACHE_FORMAT 1u

/* File layout: magic[8], u32 format, u32 zero, u64 key[2], u64 payload
 * size, u64 payload checksum, then the payload (the device binary). */
typedef struct cache_header {
  char magic[8];
  uint32_t format, zero;
  uint64_t key[2];
  uint64_t size, sum;
} cache_header;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* FNV-1a, 64 bit, from a given basis. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* Adds one length-prefixed field to both halves of the key (so that field
 * boundaries cannot shift between keys). */
static void key_add(uint64_t key[2], const char *s) {
  uint64_t len = strlen(s);
  key[0] = fnv1a(key[0], &len, sizeof len);
  key[0] = fnv1a(key[0], s, (size_t)len);
  key[1] = fnv1a(key[1] ^ 0x9e3779b97f4a7c15ULL, s, (size_t)len);
  key[1] = fnv1a(key[1], &len, sizeof len);
}

/* The cache folder `want`, created if needed; 0 when the cache is off or
 * has no place. */
static int cache_dir(const char *want, char *dir, size_t size) {
  if (!want || !*want) return 0;
  const int w = snprintf(dir, size, "%s", want);
  if (w < 0 || (size_t)w >= size) return 0;
  /* mkdir -p */
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
      *p = '/';
      return 0;
    }
    *p = '/';
  }
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return 0;
  return 1;
}

int phx_cl_cache_file(const char *cache_dir_want, const char *prefix,
                      const char *const *fields, int nfields, char *path, size_t size) {
  char dir[1024];
  if (!cache_dir(cache_dir_want, dir, sizeof dir)) return 0;
  uint64_t key[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
  for (int i = 0; i < nfields; i++) key_add(key, fields[i]);
  const int w = snprintf(path, size, "%s/%s%016llx%016llx", dir, prefix,
                         (unsigned long long)key[0], (unsigned long long)key[1]);
  return w > 0 && (size_t)w < size;
}

/* Reads and verifies an entry; returns the payload (caller frees) or NULL
 * when the file is absent (*bad = 0) or fails a check (*bad = 1). */
static unsigned char *entry_load(const char *path, const uint64_t key[2],
                                 size_t *size, int *bad) {
  *bad = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  *bad = 1;
  cache_header h;
  unsigned char *payload = NULL;
  if (fread(&h, sizeof h, 1, f) != 1 ||
      memcmp(h.magic, PHX_CACHE_MAGIC, 8) != 0 || h.format != PHX_CACHE_FORMAT ||
      h.key[0] != key[0] || h.key[1] != key[1] || h.size == 0 ||
      h.size > ((uint64_t)1 << 31))
    goto done;
  payload = malloc((size_t)h.size);
  if (!payload || fread(payload, 1, (size_t)h.size, f) != (size_t)h.size ||
      fgetc(f) != EOF || fnv1a(0xcbf29ce484222325ULL, payload, (size_t)h.size) != h.sum) {
    free(payload);
    payload = NULL;
    goto done;
  }
  *bad = 0;
  *size = (size_t)h.size;
done:
  fclose(f);
  return payload;
}

/* Writes an entry atomically: a temp file in the same folder, renamed. */
static int entry_store(const char *path, const uint64_t key[2],
                       const unsigned char *bin, size_t size) {
  char tmp[1100];
  snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) return -1;
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(tmp);
    return -1;
  }
  cache_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, PHX_CACHE_MAGIC, 8);
  h.format = PHX_CACHE_FORMAT;
  h.key[0] = key[0];
  h.key[1] = key[1];
  h.size = size;
  h.sum = fnv1a(0xcbf29ce484222325ULL, bin, size);
  int ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(bin, 1, size, f) == size;
  ok = (fflush(f) == 0) && ok;
  ok = (fsync(fileno(f)) == 0) && ok;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* The build log, newlines joined with " | ", into buf. */
static void build_log(cl_program prog, cl_device_id dev, char *buf, size_t size,
                      int verbose, const char *devname) {
  size_t n = 0;
  buf[0] = 0;
  if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) !=
          CL_SUCCESS || n == 0)
    return;
  char *log = malloc(n + 1);
  if (!log) return;
  if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, n, log, NULL) !=
      CL_SUCCESS) {
    free(log);
    return;
  }
  log[n] = 0;
  if (verbose > 0) fprintf(stderr, "phaxcl: opencl: build log for %s:\n%s\n", devname, log);
  size_t o = 0;
  for (const char *p = log; *p && o + 4 < size; p++) {
    if (*p == '\n') {
      while (p[1] == '\n') p++;
      if (p[1] && o > 0) {
        memcpy(buf + o, " | ", 3);
        o += 3;
      }
    } else if (*p != '\r') {
      buf[o++] = *p;
    }
  }
  buf[o] = 0;
  free(log);
}

/* Compiles from source. */
static phx_status build_source(cl_context ctx, const phx_cl_dev *dev,
                               const char *src, const char *options,
                               int verbose, cl_program *out, phx_err *err) {
  char devname[400];
  phx_cl_describe(dev, devname, sizeof devname);
  cl_int e;
  cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &e);
  if (e != CL_SUCCESS)
    return phx_fail(err, PHX_EDEVICE,
                    "opencl: clCreateProgramWithSource failed on %s: %s",
                    devname, phx_cl_errname(e));
  e = clBuildProgram(prog, 1, &dev->device, options, NULL, NULL);
  if (e != CL_SUCCESS) {
    char log[400];
    build_log(prog, dev->device, log, sizeof log, verbose, devname);
    clReleaseProgram(prog);
    if (e == CL_BUILD_PROGRAM_FAILURE || e == CL_INVALID_BUILD_OPTIONS ||
        e == CL_COMPILER_NOT_AVAILABLE)
      return phx_fail(err, PHX_EBUILD, "opencl: kernel build failed on %s (%s): %s",
                      devname, phx_cl_errname(e), log[0] ? log : "(empty build log)");
    return phx_fail(err, PHX_EDEVICE, "opencl: clBuildProgram failed on %s: %s",
                    devname, phx_cl_errname(e));
  }
  *out = prog;
  return PHX_OK;
}

/* The device binary of a built program (caller frees), or NULL. */
static unsigned char *program_binary(cl_program prog, size_t *size) {
  size_t n = 0;
  if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof n, &n, NULL) !=
          CL_SUCCESS || n == 0)
    return NULL;
  unsigned char *bin = malloc(n);
  if (!bin) return NULL;
  if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) !=
      CL_SUCCESS) {
    free(bin);
    return NULL;
  }
  *size = n;
  return bin;
}

phx_status phx_cl_build(cl_context ctx, const phx_cl_dev *dev, const char *src,
                        const char *options, const char *want_dir, int verbose,
                        cl_program *out,
                        phx_cl_build_info *info, phx_err *err) {
  phx_cl_build_info local;
  if (!info) info = &local;
  memset(info, 0, sizeof *info);
  char devname[400];
  phx_cl_describe(dev, devname, sizeof devname);
  const double t0 = now_s();
  char dir[900];
  const int cached = cache_dir(want_dir, dir, sizeof dir);
  uint64_t key[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
  char fmt[16];
  snprintf(fmt, sizeof fmt, "%u", PHX_CACHE_FORMAT);
  key_add(key, fmt);
  key_add(key, src);
  key_add(key, options);
  key_add(key, dev->pversion);
  key_add(key, dev->dname);
  key_add(key, dev->driver);
  if (cached)
    snprintf(info->path, sizeof info->path, "%s/%016llx%016llx.bin", dir,
             (unsigned long long)key[0], (unsigned long long)key[1]);

  if (cached) {
    size_t size = 0;
    int bad = 0;
    unsigned char *bin = entry_load(info->path, key, &size, &bad);
    if (bin) {
      const unsigned char *cbin = bin;
      cl_int st = CL_SUCCESS, e;
      cl_program prog = clCreateProgramWithBinary(ctx, 1, &dev->device, &size,
                                                  &cbin, &st, &e);
      if (e == CL_SUCCESS && st == CL_SUCCESS &&
          clBuildProgram(prog, 1, &dev->device, options, NULL, NULL) == CL_SUCCESS) {
        free(bin);
        info->origin = PHX_CL_HIT;
        info->seconds = now_s() - t0;
        if (verbose > 0)
          fprintf(stderr, "phaxcl: opencl: program for %s loaded from cache %s in %.3f s\n",
                  devname, info->path, info->seconds);
        *out = prog;
        return PHX_OK;
      }
      if (e == CL_SUCCESS) clReleaseProgram(prog);
      free(bin);
      bad = 1;
    }
    if (bad) {
      if (verbose > 0)
        fprintf(stderr, "phaxcl: opencl: cache entry %s is corrupt or stale: discarded\n",
                info->path);
      unlink(info->path);
      info->origin = PHX_CL_REPLACED;
    }
  }

  phx_status s = build_source(ctx, dev, src, options, verbose, out, err);
  if (s != PHX_OK) return s;
  if (cached) {
    size_t size = 0;
    unsigned char *bin = program_binary(*out, &size);
    if (bin && entry_store(info->path, key, bin, size) == 0) info->stored = 1;
    free(bin);
  }
  info->seconds = now_s() - t0;
  if (verbose > 0)
    fprintf(stderr, "phaxcl: opencl: program for %s built from source in %.3f s (%s)\n",
            devname, info->seconds,
            !cached ? "cache off"
                    : info->stored ? "cache miss, stored"
                                   : "cache miss, not stored");
  return PHX_OK;
}
