/* The binary cache on every device: a second build is a hit and runs; a
 * corrupted, truncated, stale or driver-refused entry is discarded and
 * rebuilt; PHAXCL_CACHE=0 turns it off; writes leave no temp files. */
#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl_cache.h"
#include "test_opencl_util.h"

static const char *src =
    "__kernel void twice(__global float *x) {\n"
    "  const int i = (int)get_global_id(0);\n"
    "  x[i] = 2.0f * (float)i + OFFSET;\n"
    "}\n";

/* Builds, runs the kernel on 16 items and checks x[i] = 2i + 0.5. */
static phx_cl_origin build_and_run(const phx_cl_dev *d, cl_context ctx,
                                   cl_command_queue q, phx_cl_build_info *info) {
  cl_program prog = NULL;
  phx_err err = {0};
  /* the cache folder as the backend settings resolve it from the environment */
  phx_backend_conf conf;
  phx_status s = phx_backend_conf_resolve(NULL, &conf, &err);
  if (!s)
    s = phx_cl_build(ctx, d, src, "-cl-std=CL1.2 -DOFFSET=0.5f", conf.cache_dir, 0, &prog,
                     info, &err);
  TCL_EXPECT(s == PHX_OK, "%s: build: %s", d->dname, err.msg);
  if (s) return (phx_cl_origin)-1;
  cl_int e;
  cl_kernel k = clCreateKernel(prog, "twice", &e);
  cl_mem m = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 16 * sizeof(float), NULL, &e);
  clSetKernelArg(k, 0, sizeof m, &m);
  size_t g = 16;
  e = clEnqueueNDRangeKernel(q, k, 1, NULL, &g, NULL, 0, NULL, NULL);
  float out[16] = {0};
  if (e == CL_SUCCESS)
    e = clEnqueueReadBuffer(q, m, CL_TRUE, 0, sizeof out, out, 0, NULL, NULL);
  TCL_EXPECT(e == CL_SUCCESS, "%s: run: %s", d->dname, phx_cl_errname(e));
  for (int i = 0; i < 16; i++)
    TCL_EXPECT(out[i] == 2.0f * (float)i + 0.5f, "%s: x[%d] = %g", d->dname, i, out[i]);
  clReleaseMemObject(m);
  clReleaseKernel(k);
  clReleaseProgram(prog);
  return info->origin;
}

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Overwrites `n` bytes at offset `off` of the file. */
static void patch(const char *path, long off, const void *bytes, size_t n) {
  FILE *f = fopen(path, "r+b");
  if (!f) {
    tcl_fail("cannot open %s", path);
    return;
  }
  fseek(f, off, SEEK_SET);
  fwrite(bytes, 1, n, f);
  fclose(f);
}

static uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* Replaces the payload with junk under a valid header (format 1: magic[8],
 * u32 format, u32 0, u64 key[2], u64 size, u64 sum): only the driver can
 * refuse it. */
static void junk_payload(const char *path) {
  unsigned char head[48];
  FILE *f = fopen(path, "rb");
  if (!f || fread(head, 1, sizeof head, f) != sizeof head) {
    tcl_fail("cannot read %s", path);
    if (f) fclose(f);
    return;
  }
  fclose(f);
  unsigned char junk[256];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 37 + 11);
  uint64_t size = sizeof junk, sum = fnv1a(junk, sizeof junk);
  memcpy(head + 32, &size, 8);
  memcpy(head + 40, &sum, 8);
  f = fopen(path, "wb");
  fwrite(head, 1, sizeof head, f);
  fwrite(junk, 1, sizeof junk, f);
  fclose(f);
}

static int temp_files(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) n++;
  if (d) closedir(d);
  return n;
}

static void run_device(const phx_cl_dev *d, const char *dir) {
  cl_int e;
  cl_context ctx = clCreateContext(NULL, 1, &d->device, NULL, NULL, &e);
  cl_command_queue q = ctx ? clCreateCommandQueue(ctx, d->device, 0, &e) : NULL;
  if (!q) {
    tcl_fail("%s: context: %s", d->dname, phx_cl_errname(e));
    return;
  }
  printf("device %d:%d %s\n", d->pidx, d->didx, d->dname);
  phx_cl_build_info info;
  setenv("PHAXCL_CACHE_DIR", dir, 1);
  unsetenv("PHAXCL_CACHE");

  phx_cl_origin o = build_and_run(d, ctx, q, &info);
  TCL_EXPECT(o == PHX_CL_BUILT && info.stored, "%s: first build: origin %d stored %d",
             d->dname, (int)o, info.stored);
  TCL_EXPECT(strncmp(info.path, dir, strlen(dir)) == 0, "entry %s not under %s",
             info.path, dir);
  char path[1024];
  snprintf(path, sizeof path, "%s", info.path);
  const long size = file_size(path);
  TCL_EXPECT(size > 48, "%s: cache entry %s has %ld bytes", d->dname, path, size);
  o = build_and_run(d, ctx, q, &info);
  TCL_EXPECT(o == PHX_CL_HIT, "%s: second build is not a cache hit (%d)", d->dname, (int)o);
  printf("  miss then hit: ok (%ld-byte entry)\n", size);

  /* a flipped payload byte: checksum mismatch */
  unsigned char bad = 0x5a;
  patch(path, size / 2, &bad, 1);
  o = build_and_run(d, ctx, q, &info);
  TCL_EXPECT(o == PHX_CL_REPLACED && info.stored, "%s: corrupt entry not replaced (%d)",
             d->dname, (int)o);
  o = build_and_run(d, ctx, q, &info);
  TCL_EXPECT(o == PHX_CL_HIT, "%s: rebuilt entry is not a hit (%d)", d->dname, (int)o);
  /* truncated */
  TCL_EXPECT(truncate(path, 20) == 0, "truncate %s", path);
  o = build_and_run(d, ctx, q, &info);
  TCL_EXPECT(o == PHX_CL_REPLACED, "%s: truncated entry not replaced (%d)", d->dname, (int)o);
  /* another format version: stale */
  const uint32_t fmt = 999;
  patch(path, 8, &fmt, sizeof fmt);
  o = build_and_run(d, ctx, q, &info);
  TCL_EXPECT(o == PHX_CL_REPLACED, "%s: stale entry not replaced (%d)", d->dname, (int)o);
  /* bad magic */
  patch(path, 0, "XXXX", 4);
  o = build_and_run(d, ctx, q, &info);
  TCL_EXPECT(o == PHX_CL_REPLACED, "%s: bad magic not replaced (%d)", d->dname, (int)o);
  /* intact header, binary the driver refuses */
  junk_payload(path);
  o = build_and_run(d, ctx, q, &info);
  TCL_EXPECT(o == PHX_CL_REPLACED, "%s: refused binary not replaced (%d)", d->dname, (int)o);
  o = build_and_run(d, ctx, q, &info);
  TCL_EXPECT(o == PHX_CL_HIT, "%s: final build is not a hit (%d)", d->dname, (int)o);
  printf("  corrupt, truncated, stale, bad magic, refused binary: rebuilt\n");

  setenv("PHAXCL_CACHE", "0", 1);
  o = build_and_run(d, ctx, q, &info);
  TCL_EXPECT(o == PHX_CL_BUILT && !info.stored && info.path[0] == 0,
             "%s: PHAXCL_CACHE=0 still used the cache", d->dname);
  unsetenv("PHAXCL_CACHE");
  TCL_EXPECT(temp_files(dir) == 0, "temp files left in %s", dir);
  clReleaseCommandQueue(q);
  clReleaseContext(ctx);
}

int main(void) {
  int n = 0;
  phx_cl_dev *devs = tcl_devices(&n);
  char dir[] = "/tmp/phaxcl-cache-test-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  /* a nested folder that does not exist yet: the cache creates it */
  char sub[256];
  snprintf(sub, sizeof sub, "%s/a/b", dir);
  for (int i = 0; i < n; i++) run_device(&devs[i], sub);
  free(devs);
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
  return tcl_failures ? 1 : 0;
}
