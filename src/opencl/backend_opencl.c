/* The OpenCL backend: the phx_bops table on one device, one context and one
 * in-order queue. Buffers are cl_mem (float or int32), kernels come from
 * the cl/ kernel files (embedded, or $PHAXCL_KERNEL_DIR) built with the model constants
 * as -D options through the binary cache, and matrix products go through
 * CLBlast. All device arithmetic is fp32; reductions are fixed trees. */
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "cl_cache.h"
#include "cl_device.h"
#include "cl_probe.h"
#include "cl_source.h"
#include "cl_tune.h"

/* Every kernel of the program: enum id, function name. */
#define PHX_KERNELS(X)                          \
  X(K_MAP_FORWARD, "phx_map_forward")           \
  X(K_MAP_BACKWARD, "phx_map_backward")         \
  X(K_STEP_MAP, "phx_step_map")                 \
  X(K_GATHER_INPUT, "phx_gather_input")         \
  X(K_ACTIVATE, "phx_activate")                 \
  X(K_ACTIVATE_BACKWARD, "phx_activate_backward") \
  X(K_SCALE_BLOCK, "phx_scale_block")           \
  X(K_LOSS, "phx_loss")                         \
  X(K_SGD, "phx_sgd")                           \
  X(K_MOMENTUM, "phx_momentum")                 \
  X(K_ADAM, "phx_adam")                         \
  X(K_GEMM_NT, "phx_gemm_nt")                   \
  X(K_GEMM_XN, "phx_gemm_xn")                   \
  X(K_GEMM_NT_ACT, "phx_gemm_nt_act")           \
  X(K_CROSSBAR_POWER, "phx_crossbar_power")     \
  X(K_VARY_CELLS, "phx_vary_cells")             \
  X(K_VARY_COLUMNS, "phx_vary_columns")         \
  X(K_ACTIVATE_TABLE, "phx_activate_table")     \
  X(K_ACTIVATE_TABLE_BACKWARD, "phx_activate_table_backward") \
  X(K_TABLE_LOAD_GRAD, "phx_table_load_grad")   \
  X(K_ROW_LOAD, "phx_row_load")                 \
  X(K_NEURON_OFFSET, "phx_neuron_offset")       \
  X(K_ACTIVATE_RETURN, "phx_activate_return")   \
  X(K_ACTIVATE_RETURN_BACKWARD, "phx_activate_return_backward") \
  X(K_RETURN_LOAD_GRAD, "phx_return_load_grad")     \
  X(K_LOOP_PROBE, "phx_loop_probe")

enum {
#define PHX_KENUM(id, name) id,
  PHX_KERNELS(PHX_KENUM)
#undef PHX_KENUM
  K_COUNT
};

static const char *const kernel_names[K_COUNT] = {
#define PHX_KNAME(id, name) name,
    PHX_KERNELS(PHX_KNAME)
#undef PHX_KNAME
};

/* Buffers are phx_buf (backend.h) whose p is the cl_mem. */
#define MEM(b) ((cl_mem)(b)->p)

typedef struct phx_cl {
  phx_cl_dev dev;
  char desc[400];
  cl_context ctx;
  cl_command_queue queue;
  cl_program prog;
  cl_kernel k[K_COUNT];
  char options[1024]; /* options of the current program ("" before prepare) */
  size_t wg;
  cl_mem gemm_tmp;    /* CLBlast's scratch for indirect GEMM, grown on need */
  size_t gemm_tmp_bytes;
  cl_mem ret_tmp, ret_c, ret_st; /* cl/return.cl's per-sample scratch, load
                                  * terms and status, grown on need */
  size_t ret_tmp_bytes, ret_c_bytes, ret_st_bytes;
  int full_loops;     /* long loops run to the end: -1 not probed, 0 no, 1 yes */
  long launches;      /* kernels enqueued + CLBlast calls */
  int own_gemm;       /* products through cl/gemm.cl instead of CLBlast */
  int gv;             /* vector width of cl/gemm.cl (PHX_GV) */
  int verbose;
  char kernel_dir[1024]; /* "" = the embedded kernels */
  char cache_dir[1024];  /* "" = no program cache */
  phx_cl_tuning tune;    /* per-device choices and CLBlast parameters */
  cl_ulong max_alloc; /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
  cl_ulong allocated; /* bytes in live buffers (ours, not CLBlast's scratch) */
  double gmin;        /* of the prepared model, for level lists in S */
} phx_cl;

static const phx_bops opencl_ops;

/* An OpenCL error as a phx_status: out-of-memory codes are PHX_EDEVMEM. */
static phx_status cl_error(const phx_cl *c, phx_err *err, cl_int e,
                           const char *call) {
  if (e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_RESOURCES ||
      e == CL_OUT_OF_HOST_MEMORY)
    return phx_fail(err, PHX_EDEVMEM, "opencl: %s on %s: %s (out of device memory)",
                    call, c->desc, phx_cl_errname(e));
  return phx_fail(err, PHX_EDEVICE, "opencl: %s failed on %s: %s", call,
                  c->desc, phx_cl_errname(e));
}

static void release_program(phx_cl *c) {
  for (int i = 0; i < K_COUNT; i++)
    if (c->k[i]) {
      clReleaseKernel(c->k[i]);
      c->k[i] = NULL;
    }
  if (c->prog) clReleaseProgram(c->prog);
  c->prog = NULL;
  c->options[0] = 0;
}

static void cl_destroy(void *impl) {
  phx_cl *c = impl;
  if (!c) return;
  if (c->queue) clFinish(c->queue);
  release_program(c);
  phx_cl_tune_release(&c->dev, c);
  phx_cl_tuning_free(&c->tune);
  if (c->gemm_tmp) clReleaseMemObject(c->gemm_tmp);
  if (c->ret_tmp) clReleaseMemObject(c->ret_tmp);
  if (c->ret_st) clReleaseMemObject(c->ret_st);
  if (c->ret_c) clReleaseMemObject(c->ret_c);
  if (c->queue) clReleaseCommandQueue(c->queue);
  if (c->ctx) clReleaseContext(c->ctx);
  free(c);
}

/* A double as an exact fp32 OpenCL literal ("1.20000004e-07f"). */
static void float_literal(char *buf, size_t size, double v) {
  snprintf(buf, size, "%.9g", (double)(float)v);
  if (!strpbrk(buf, ".eEni")) strncat(buf, ".0", size - strlen(buf) - 1);
  strncat(buf, "f", size - strlen(buf) - 1);
}

static void build_options(char *buf, size_t size, const phx_consts *k,
                          size_t wg, int gv, const int *konst) {
  char v[8][40];
  const char *names[] = {"PHX_VDD", "PHX_GMIN", "PHX_K"};
  const double vals[] = {k->vdd, k->gmin, k->k};
  int o = snprintf(buf, size, "-cl-std=CL1.2 -DPHX_WG=%zu -DPHX_GV=%d -DPHX_LOSS=%d",
                   wg, gv, (int)k->loss);
#define PHX_CL_CONST_OPT(macro, key, def, lo, hi)                 \
  if (o > 0 && (size_t)o < size)                                  \
    o += snprintf(buf + o, size - (size_t)o, " -D%s=%d", #macro, konst[PHX_CK_##key]);
  PHX_CL_CONSTS(PHX_CL_CONST_OPT)
#undef PHX_CL_CONST_OPT
  for (int i = 0; i < 3 && o > 0 && (size_t)o < size; i++) {
    float_literal(v[0], sizeof v[0], vals[i]);
    o += snprintf(buf + o, size - (size_t)o, " -D%s=%s", names[i], v[0]);
  }
  for (int i = 0; i < 4 && o > 0 && (size_t)o < size; i++) {
    float_literal(v[0], sizeof v[0], k->c[i]);
    float_literal(v[1], sizeof v[1], k->d[i]);
    o += snprintf(buf + o, size - (size_t)o, " -DPHX_C%d=%s -DPHX_D%d=%s",
                  i + 1, v[0], i + 1, v[1]);
  }
}

/* Reads a whole file (caller frees). */
static char *read_text(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *s = malloc(cap);
  while (s) {
    if (n + 1024 + 1 > cap) {
      char *g = realloc(s, cap *= 2);
      if (!g) {
        free(s);
        s = NULL;
        break;
      }
      s = g;
    }
    size_t r = fread(s + n, 1, 1024, f);
    n += r;
    if (r < 1024) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (!s || bad) {
    free(s);
    return NULL;
  }
  s[n] = 0;
  *len = n;
  return s;
}

/* The program source: the embedded files in order, or the same names from
 * the kernel folder setting (PHAXCL_KERNEL_DIR). Caller frees. */
static phx_status program_source(const char *dir, char **out, phx_err *err) {
  size_t total = 1;
  char **parts = calloc((size_t)phx_cl_nfiles, sizeof *parts);
  size_t *lens = calloc((size_t)phx_cl_nfiles, sizeof *lens);
  phx_status s = PHX_OK;
  if (!parts || !lens) {
    s = phx_fail(err, PHX_ENOMEM, "opencl: out of memory");
    goto done;
  }
  for (int i = 0; i < phx_cl_nfiles; i++) {
    if (dir && *dir) {
      char path[1024];
      snprintf(path, sizeof path, "%s/%s", dir, phx_cl_files[i].name);
      parts[i] = read_text(path, &lens[i]);
      if (!parts[i]) {
        s = phx_fail(err, PHX_EIO, "opencl: cannot read kernel file %s (PHAXCL_KERNEL_DIR)",
                     path);
        goto done;
      }
    } else {
      lens[i] = strlen(phx_cl_files[i].text);
    }
    total += lens[i] + 1;
  }
  char *src = malloc(total);
  if (!src) {
    s = phx_fail(err, PHX_ENOMEM, "opencl: out of memory");
    goto done;
  }
  size_t o = 0;
  for (int i = 0; i < phx_cl_nfiles; i++) {
    memcpy(src + o, parts[i] ? parts[i] : phx_cl_files[i].text, lens[i]);
    o += lens[i];
    src[o++] = '\n';
  }
  src[o] = 0;
  *out = src;
done:
  if (parts)
    for (int i = 0; i < phx_cl_nfiles; i++) free(parts[i]);
  free(parts);
  free(lens);
  return s;
}

static size_t floor_pow2(size_t v) {
  size_t p = 1;
  while (p * 2 <= v) p *= 2;
  return p;
}

/* Builds the program for k at work-group size c->wg and creates its
 * kernels; sets *fits = 0 when a kernel cannot run at that size. */
static phx_status build_program(phx_cl *c, const phx_consts *k,
                                const char *src, size_t *kernel_wg,
                                phx_err *err) {
  char options[1024];
  build_options(options, sizeof options, k, c->wg, c->gv, c->tune.konst);
  if (c->prog && strcmp(options, c->options) == 0) return PHX_OK;
  release_program(c);
  phx_status s = phx_cl_build(c->ctx, &c->dev, src, options, c->cache_dir, c->verbose,
                              &c->prog, NULL, err);
  if (s != PHX_OK) return s;
  *kernel_wg = c->wg;
  for (int i = 0; i < K_COUNT; i++) {
    cl_int e;
    c->k[i] = clCreateKernel(c->prog, kernel_names[i], &e);
    if (e != CL_SUCCESS) {
      release_program(c);
      return phx_fail(err, PHX_EBUILD, "opencl: kernel %s missing from the program on %s: %s",
                      kernel_names[i], c->desc, phx_cl_errname(e));
    }
    size_t kw = 0;
    e = clGetKernelWorkGroupInfo(c->k[i], c->dev.device, CL_KERNEL_WORK_GROUP_SIZE,
                                 sizeof kw, &kw, NULL);
    if (e != CL_SUCCESS) {
      release_program(c);
      return cl_error(c, err, e, "clGetKernelWorkGroupInfo");
    }
    if (kw < *kernel_wg) *kernel_wg = kw;
  }
  snprintf(c->options, sizeof c->options, "%s", options);
  return PHX_OK;
}

/* Compiles the kernels with the model constants (a no-op when they are
 * unchanged). The work-group size shrinks when some kernel cannot run at
 * the preferred one. */
static int cl_prepare(void *impl, const phx_consts *k, phx_err *err) {
  phx_cl *c = impl;
  c->gmin = k->gmin;
  char *src = NULL;
  phx_status s = program_source(c->kernel_dir, &src, err);
  if (s != PHX_OK) return s;
  for (int attempt = 0; attempt < 8; attempt++) {
    size_t kw = c->wg;
    s = build_program(c, k, src, &kw, err);
    if (s != PHX_OK || kw >= c->wg) break;
    if (kw == 0) {
      s = phx_fail(err, PHX_EDEVICE, "opencl: %s reports work-group size 0", c->desc);
      break;
    }
    c->wg = floor_pow2(kw);
    release_program(c);
  }
  free(src);
  return s;
}

/* ---- buffers ---- */

/* Zeroes a new buffer with host writes rather than clEnqueueFillBuffer:
 * Oclgrind's uninitialised-value checker does not count a fill as a
 * write, and then reports every later read of such a buffer. */
static cl_int zero_fill(phx_cl *c, cl_mem mem, size_t bytes) {
  const size_t chunk = bytes < ((size_t)1 << 20) ? bytes : ((size_t)1 << 20);
  void *zeros = calloc(1, chunk);
  if (!zeros) return CL_OUT_OF_HOST_MEMORY;
  cl_int e = CL_SUCCESS;
  for (size_t o = 0; o < bytes && e == CL_SUCCESS; o += chunk) {
    const size_t n = bytes - o < chunk ? bytes - o : chunk;
    e = clEnqueueWriteBuffer(c->queue, mem, CL_FALSE, o, n, zeros, 0, NULL, NULL);
  }
  const cl_int f = clFinish(c->queue); /* zeros must outlive the writes */
  free(zeros);
  return e != CL_SUCCESS ? e : f;
}

static phx_buf *cl_alloc(void *impl, phx_btype t, size_t n, phx_err *err) {
  phx_cl *c = impl;
  phx_buf *b = calloc(1, sizeof *b);
  if (!b) {
    phx_fail(err, PHX_ENOMEM, "opencl: out of host memory");
    return NULL;
  }
  b->type = t;
  b->n = n;
  const size_t bytes = (n ? n : 1) * 4; /* float and int32 are both 4 bytes */
  /* Some runtimes (Oclgrind, PoCL) grant buffers beyond what the device
   * reports and fail later or never; refuse up front with a clear message. */
  if ((c->max_alloc && bytes > c->max_alloc) ||
      (c->dev.global_mem && c->allocated + bytes > c->dev.global_mem)) {
    phx_fail(err, PHX_EDEVMEM,
             "opencl: out of device memory on %s: a %.1f MiB buffer with %.1f MiB in use "
             "exceeds its limits (largest buffer %.1f MiB, memory %.1f MiB)",
             c->desc, bytes / 1048576.0, c->allocated / 1048576.0,
             c->max_alloc / 1048576.0, c->dev.global_mem / 1048576.0);
    free(b);
    return NULL;
  }
  cl_int e;
  b->p = clCreateBuffer(c->ctx, CL_MEM_READ_WRITE, bytes, NULL, &e);
  if (e == CL_SUCCESS) {
    e = zero_fill(c, MEM(b), bytes);
    if (e == CL_SUCCESS) {
      c->allocated += bytes;
      return b;
    }
    clReleaseMemObject(MEM(b));
    cl_error(c, err, e, "clEnqueueWriteBuffer (zero fill)");
  } else {
    if (e == CL_INVALID_BUFFER_SIZE) e = CL_MEM_OBJECT_ALLOCATION_FAILURE;
    char call[96];
    snprintf(call, sizeof call, "clCreateBuffer (%zu bytes)", bytes);
    cl_error(c, err, e, call);
  }
  free(b);
  return NULL;
}

static void cl_release(void *impl, phx_buf *b) {
  phx_cl *c = impl;
  if (!b) return;
  c->allocated -= (b->n ? b->n : 1) * 4;
  clReleaseMemObject(MEM(b));
  free(b);
}

/* Host values converted to the buffer's element type (float or int32). */
static void convert_in(const phx_buf *b, const void *src, phx_htype h,
                       size_t n, void *dst) {
  float *f = dst;
  int32_t *i32 = dst;
  for (size_t i = 0; i < n; i++) {
    double v = h == PHX_HOST_F32   ? (double)((const float *)src)[i]
               : h == PHX_HOST_F64 ? ((const double *)src)[i]
                                   : (double)((const int32_t *)src)[i];
    if (b->type == PHX_BUF_REAL)
      f[i] = (float)v;
    else
      i32[i] = (int32_t)v;
  }
}

/* Range, host type and n > 0 are checked by phx_buf_write / phx_buf_read. */
static int cl_write(void *impl, phx_buf *b, size_t off, size_t n,
                    const void *src, phx_htype h, phx_err *err) {
  phx_cl *c = impl;
  const int direct = (b->type == PHX_BUF_REAL && h == PHX_HOST_F32) ||
                     (b->type == PHX_BUF_I32 && h == PHX_HOST_I32);
  void *tmp = NULL;
  if (!direct) {
    tmp = malloc(n * 4);
    if (!tmp) return phx_fail(err, PHX_ENOMEM, "opencl: out of host memory");
    convert_in(b, src, h, n, tmp);
  }
  cl_int e = clEnqueueWriteBuffer(c->queue, MEM(b), CL_TRUE, off * 4, n * 4,
                                  direct ? src : tmp, 0, NULL, NULL);
  free(tmp);
  return e == CL_SUCCESS ? PHX_OK : cl_error(c, err, e, "clEnqueueWriteBuffer");
}

static int cl_read(void *impl, const phx_buf *b, size_t off, size_t n,
                   void *dst, phx_htype h, phx_err *err) {
  phx_cl *c = impl;
  const int direct = (b->type == PHX_BUF_REAL && h == PHX_HOST_F32) ||
                     (b->type == PHX_BUF_I32 && h == PHX_HOST_I32);
  void *tmp = direct ? dst : malloc(n * 4);
  if (!tmp) return phx_fail(err, PHX_ENOMEM, "opencl: out of host memory");
  cl_int e = clEnqueueReadBuffer(c->queue, MEM(b), CL_TRUE, off * 4, n * 4, tmp,
                                 0, NULL, NULL);
  if (e == CL_SUCCESS && !direct) {
    for (size_t i = 0; i < n; i++) {
      double v = b->type == PHX_BUF_REAL ? (double)((const float *)tmp)[i]
                                         : (double)((const int32_t *)tmp)[i];
      if (h == PHX_HOST_F32)
        ((float *)dst)[i] = (float)v;
      else if (h == PHX_HOST_F64)
        ((double *)dst)[i] = v;
      else
        ((int32_t *)dst)[i] = (int32_t)v;
    }
  }
  if (!direct) free(tmp);
  return e == CL_SUCCESS ? PHX_OK : cl_error(c, err, e, "clEnqueueReadBuffer");
}

static int cl_finish(void *impl, phx_err *err) {
  phx_cl *c = impl;
  cl_int e = clFinish(c->queue);
  return e == CL_SUCCESS ? PHX_OK : cl_error(c, err, e, "clFinish");
}

/* ---- kernel launches ---- */

/* Kernel arguments, set in order from a list of (size, pointer) pairs. */
typedef struct karg {
  size_t size;
  const void *ptr;
} karg;

#define KA(v) ((karg){sizeof(v), &(v)})

/* Sets the arguments of kernel id and enqueues it over a grid of dims
 * dimensions: global work-items in work-groups of local. Nothing is enqueued
 * when the grid is empty. */
static int launch_grid(phx_cl *c, int id, cl_uint dims, const size_t *global,
                       const size_t *local, const karg *args, int nargs, phx_err *err) {
  if (!c->prog)
    return phx_fail(err, PHX_EINTERNAL, "opencl: %s launched before prepare",
                    kernel_names[id]);
  for (cl_uint d = 0; d < dims; d++)
    if (global[d] == 0) return PHX_OK;
  for (int i = 0; i < nargs; i++) {
    cl_int e = clSetKernelArg(c->k[id], (cl_uint)i, args[i].size, args[i].ptr);
    if (e != CL_SUCCESS) {
      char call[96];
      snprintf(call, sizeof call, "clSetKernelArg(%s, %d)", kernel_names[id], i);
      return cl_error(c, err, e, call);
    }
  }
  cl_int e = clEnqueueNDRangeKernel(c->queue, c->k[id], dims, NULL, global, local, 0,
                                    NULL, NULL);
  if (e != CL_SUCCESS) {
    char call[96];
    snprintf(call, sizeof call, "clEnqueueNDRangeKernel(%s)", kernel_names[id]);
    return cl_error(c, err, e, call);
  }
  c->launches++;
  return PHX_OK;
}

/* Enqueues `groups` work-groups of c->wg work-items. */
static int launch(phx_cl *c, int id, size_t groups, const karg *args, int nargs,
                  phx_err *err) {
  const size_t global = groups * c->wg, local = c->wg;
  return launch_grid(c, id, 1, &global, &local, args, nargs, err);
}

/* Enqueues a gx x gy grid (cl/gemm.cl, the per-row kernels of cl/map.cl,
 * the per-sample solves of cl/return.cl) in groups of row_wg x 1
 * work-items: 1 on most devices, more where a group costs a dispatch and
 * leaves SIMD lanes idle (llvmpipe). Small groups also spread a small
 * batch of long solves over a CPU device's cores (groups of c->wg would
 * put 16 samples on one). */
static int launch2d(phx_cl *c, int id, size_t gx, size_t gy, const karg *args,
                    int nargs, phx_err *err) {
  /* every such kernel returns early past its grid, so rounding gx up is safe */
  const size_t l = (size_t)c->tune.konst[PHX_CK_row_wg];
  const size_t global[2] = {(gx + l - 1) / l * l, gy}, local[2] = {l, 1};
  return launch_grid(c, id, 2, global, local, args, nargs, err);
}

/* Work-groups to cover `items` with one work-item each. */
static size_t groups_for(const phx_cl *c, size_t items) {
  return (items + c->wg - 1) / c->wg;
}

/* Kernel offsets are 32-bit; buffers beyond that are refused. */
static int off32(const phx_cl *c, size_t v, cl_uint *out, phx_err *err) {
  if (v > 0xffffffffu)
    return phx_fail(err, PHX_EINVAL, "opencl: offset %zu too large for %s", v,
                    c->desc);
  *out = (cl_uint)v;
  return PHX_OK;
}

static int cl_map_forward(void *impl, const phx_args_map_forward *p, phx_err *err) {
  phx_cl *c = impl;
  cl_int m = p->M, r = p->R, f = p->fold ? 1 : 0;
  cl_mem e = p->fold ? MEM(p->E) : MEM(p->W); /* E is never touched when !fold */
  const karg a[] = {KA(m), KA(r), KA(f), KA(p->theta->p), KA(p->W->p), KA(p->S->p), KA(e)};
  return launch2d(c, K_MAP_FORWARD, (size_t)p->M, 1, a, 7, err);
}

static int cl_map_backward(void *impl, const phx_args_map_backward *p, phx_err *err) {
  phx_cl *c = impl;
  cl_int m = p->M, r = p->R, f = p->fold ? 1 : 0;
  cl_int ld = p->loads;
  cl_mem dr = p->loads ? MEM(p->drow) : MEM(p->S); /* never read when !loads */
  cl_mem dm = p->loads == 2 ? MEM(p->dgm) : MEM(p->S); /* read when loads == 2 */
  const karg a[] = {KA(m), KA(r), KA(f), KA(p->theta->p), KA(p->W->p), KA(p->S->p),
                    KA(p->dWE->p), KA(p->dtheta->p), KA(ld), KA(dr), KA(dm)};
  return launch2d(c, K_MAP_BACKWARD, (size_t)p->M, 1, a, 11, err);
}

/* Where a device ends a work-item's loops early, as Mesa's llvmpipe does
 * after 65535 iterations in all (its loop limiter): the kernels' results
 * would be wrong without a word, so the op is refused (PHX_ENOBACKEND). */
#define LOOP_LIMIT_MSG                                                             \
  "opencl: %s ends a work-item's loops early (Mesa's llvmpipe after 65535 "        \
  "iterations in all), before %s is done: use --backend c or another device"

/* Loop iterations a work-item may run in all without a probe (below
 * llvmpipe's limit). */
#define PHX_CL_LOOPS_SAFE 60000.0

/* Refuses (PHX_ENOBACKEND) a launch whose work-items may loop `iters`
 * times where the device ends loops early: for kernels without a status
 * word of their own (the returned-load ones check themselves). Devices
 * named llvmpipe are probed once, on the first such launch; the count is
 * the source's, before any unrolling, so it may refuse a launch llvmpipe
 * would just have managed. */
static int loops_fit(phx_cl *c, double iters, const char *what, phx_err *err) {
  if (iters <= PHX_CL_LOOPS_SAFE) return PHX_OK;
  if (c->full_loops < 0 && !strstr(c->desc, "llvmpipe")) c->full_loops = 1;
  if (c->full_loops < 0) {
    cl_int n = 70000, out[2] = {0, 0}, e;
    cl_mem m = clCreateBuffer(c->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof out,
                              out, &e);
    if (e != CL_SUCCESS) return cl_error(c, err, e, "clCreateBuffer (loop probe)");
    const karg a[] = {KA(n), KA(m)};
    int rc = launch(c, K_LOOP_PROBE, 1, a, 2, err);
    if (!rc) {
      e = clEnqueueReadBuffer(c->queue, m, CL_TRUE, 0, sizeof out, out, 0, NULL, NULL);
      if (e != CL_SUCCESS) rc = cl_error(c, err, e, "clEnqueueReadBuffer (loop probe)");
    }
    clReleaseMemObject(m);
    if (rc) return rc;
    c->full_loops = out[(n - 1) & 1] == n - 1;
  }
  if (!c->full_loops) return phx_fail(err, PHX_ENOBACKEND, LOOP_LIMIT_MSG, c->desc, what);
  return PHX_OK;
}

static int cl_activate_table(void *impl, const phx_args_activate_table *p, phx_err *err) {
  phx_cl *c = impl;
  cl_int b = p->B, m = p->M, l = p->L, nv = p->NV, ld = p->loaded ? 1 : 0;
  cl_float v0 = (cl_float)p->v0, dv = (cl_float)p->dv;
  cl_mem g = p->loaded ? MEM(p->G) : MEM(p->loads); /* never read when !loaded */
  const karg a[] = {KA(b),       KA(m),       KA(l),           KA(nv), KA(v0), KA(dv),
                    KA(ld),      KA(p->Z->p), KA(p->T->p), KA(p->loads->p), KA(g),
                    KA(p->U->p)};
  return launch(c, K_ACTIVATE_TABLE, groups_for(c, (size_t)p->B * (size_t)p->M), a, 12, err);
}

static int cl_activate_table_backward(void *impl, const phx_args_activate_table_backward *p,
                                      phx_err *err) {
  phx_cl *c = impl;
  cl_int b = p->B, m = p->M, l = p->L, nv = p->NV, ld = p->loaded ? 1 : 0;
  cl_int acc = p->accumulate ? 1 : 0;
  cl_float v0 = (cl_float)p->v0, dv = (cl_float)p->dv;
  cl_mem g = p->loaded ? MEM(p->G) : MEM(p->loads);
  const karg a[] = {KA(b),       KA(m),       KA(l),           KA(nv), KA(v0),     KA(dv),
                    KA(ld),      KA(p->Z->p), KA(p->T->p), KA(p->loads->p), KA(g),
                    KA(p->dU->p), KA(p->dZ->p)};
  int s = launch(c, K_ACTIVATE_TABLE_BACKWARD, groups_for(c, (size_t)p->B * (size_t)p->M), a,
                 13, err);
  if (s || !p->loaded) return s;
  /* one work-item a neuron: two table lookups (a binary search over the
   * loads each) for every sample of the batch */
  int lg = 1;
  while ((1 << lg) < p->L) lg++;
  s = loops_fit(c, (double)p->B * (3 + 2 * lg), "the batch's load gradient", err);
  if (s) return s;
  const karg ga[] = {KA(b),       KA(m),       KA(l),           KA(nv), KA(v0),      KA(dv),
                     KA(acc),     KA(p->Z->p), KA(p->T->p), KA(p->loads->p), KA(p->G->p),
                     KA(p->dU->p), KA(p->dG->p)};
  return launch(c, K_TABLE_LOAD_GRAD, groups_for(c, (size_t)p->M), ga, 13, err);
}

static int cl_row_load(void *impl, const phx_args_row_load *p, phx_err *err) {
  phx_cl *c = impl;
  cl_int m = p->M, r = p->R;
  const karg a[] = {KA(m), KA(r), KA(p->W->p), KA(p->S->p), KA(p->G->p)};
  return launch(c, K_ROW_LOAD, groups_for(c, (size_t)p->R), a, 5, err);
}

/* A scratch buffer of at least `need` bytes in *m (size *have), grown on
 * need and kept (CLBlast's GEMM scratch, the returned-load kernels'
 * workspace); zero-filled when it grows if `zero` is set. */
static int grow(phx_cl *c, cl_mem *m, size_t *have, size_t need, int zero, const char *what,
                phx_err *err) {
  if (need <= *have) return 0;
  if (*m) clReleaseMemObject(*m);
  *have = 0;
  cl_int e;
  *m = clCreateBuffer(c->ctx, CL_MEM_READ_WRITE, need, NULL, &e);
  if (e == CL_SUCCESS && zero) e = zero_fill(c, *m, need);
  if (e != CL_SUCCESS) {
    if (*m) clReleaseMemObject(*m);
    *m = NULL;
    char call[96];
    snprintf(call, sizeof call, "clCreateBuffer (%s)", what);
    return cl_error(c, err, e, call);
  }
  *have = need;
  return 0;
}

/* Scratch for B samples (cl/return.cl's RET_WS floats each), their load
 * terms C (B x R, the backward pass) and B status words. */
static int ret_scratch(phx_cl *c, int B, int M, int K, phx_err *err) {
  const size_t R = 2 * (size_t)M + 2, k = (size_t)K;
  const size_t ws = 5 * R + R * k + k * k + 5 * k;
  /* zero-filled: Oclgrind takes some of the kernels' loop stores for
   * unwritten memory (docs/model.md, "Oclgrind") */
  const char *what = "returned-load scratch";
  int rc = grow(c, &c->ret_tmp, &c->ret_tmp_bytes, (size_t)B * ws * 4, 1, what, err);
  if (!rc) rc = grow(c, &c->ret_c, &c->ret_c_bytes, (size_t)B * R * 4, 1, what, err);
  return rc ? rc : grow(c, &c->ret_st, &c->ret_st_bytes, (size_t)B * 4, 1, what, err);
}

/* The first sample whose status is not 0 (-1: none) and that status, a
 * blocking read; status 2 (loops ended early) is refused here. */
static int ret_status(phx_cl *c, int B, int *bad, phx_err *err) {
  cl_int *st = malloc((size_t)B * sizeof *st);
  if (!st) return phx_fail(err, PHX_ENOMEM, "opencl: out of memory");
  cl_int e = clEnqueueReadBuffer(c->queue, c->ret_st, CL_TRUE, 0, (size_t)B * 4, st, 0, NULL,
                                 NULL);
  *bad = -1;
  int code = 0;
  for (int b = 0; b < B && e == CL_SUCCESS; b++)
    if (st[b]) {
      *bad = b;
      code = st[b];
      break;
    }
  free(st);
  if (e != CL_SUCCESS) return cl_error(c, err, e, "clEnqueueReadBuffer (status)");
  if (code == 2) return phx_fail(err, PHX_ENOBACKEND, LOOP_LIMIT_MSG, c->desc,
                                 "the returned-load solve");
  return 0;
}

static int cl_activate_return(void *impl, const phx_args_activate_return *p, phx_err *err) {
  phx_cl *c = impl;
  cl_int b = p->B, m = p->M, k = p->K, l = p->L, nv = p->NV;
  cl_float v0 = (cl_float)p->v0, dv = (cl_float)p->dv;
  int bad, rc = ret_scratch(c, p->B, p->M, p->K, err);
  if (rc) return rc;
  const karg a[] = {KA(b),         KA(m),           KA(k),       KA(l),        KA(nv),
                    KA(v0),        KA(dv),          KA(p->Z->p), KA(p->T->p),  KA(p->loads->p),
                    KA(p->G->p),   KA(p->Wn->p),    KA(p->Sn->p), KA(p->U->p), KA(c->ret_tmp),
                    KA(c->ret_st)};
  if ((rc = launch2d(c, K_ACTIVATE_RETURN, (size_t)p->B, 1, a, 16, err)) ||
      (rc = ret_status(c, p->B, &bad, err)))
    return rc;
  if (bad >= 0) return phx_fail(err, PHX_ENAN, "activate_return: sample %d did not settle", bad);
  return 0;
}

static int cl_activate_return_backward(void *impl, const phx_args_activate_return_backward *p,
                                       phx_err *err) {
  phx_cl *c = impl;
  cl_int b = p->B, m = p->M, k = p->K, l = p->L, nv = p->NV, r = 2 * p->M + 2;
  cl_int acc = p->accumulate ? 1 : 0;
  cl_float v0 = (cl_float)p->v0, dv = (cl_float)p->dv;
  int bad, rc = ret_scratch(c, p->B, p->M, p->K, err);
  if (rc) return rc;
  cl_mem cb = c->ret_c;
  const karg a[] = {KA(b),        KA(m),          KA(k),        KA(l),         KA(nv),
                    KA(v0),       KA(dv),         KA(p->Z->p),  KA(p->T->p),   KA(p->loads->p),
                    KA(p->G->p),  KA(p->Wn->p),   KA(p->Sn->p), KA(p->Zn->p),  KA(p->dZn->p),
                    KA(p->dZ->p), KA(p->Er->p),   KA(cb),       KA(c->ret_tmp), KA(c->ret_st)};
  const karg ga[] = {KA(b), KA(r), KA(acc), KA(cb), KA(p->dG->p)};
  if (!(rc = launch2d(c, K_ACTIVATE_RETURN_BACKWARD, (size_t)p->B, 1, a, 20, err)) &&
      !(rc = loops_fit(c, p->B, "the batch's load gradient", err)))
    rc = launch(c, K_RETURN_LOAD_GRAD, groups_for(c, (size_t)r), ga, 5, err);
  if (!rc) rc = ret_status(c, p->B, &bad, err);
  if (rc) return rc;
  if (bad >= 0)
    return phx_fail(err, PHX_ENAN, "activate_return_backward: sample %d: singular", bad);
  return 0;
}

static int cl_neuron_offset(void *impl, const phx_args_neuron_offset *p, phx_err *err) {
  phx_cl *c = impl;
  cl_int b = p->B, m = p->M, g = p->G;
  const karg a[] = {KA(b), KA(m), KA(g), KA(p->Z->p), KA(p->D->p), KA(p->Zs->p)};
  return launch(c, K_NEURON_OFFSET, groups_for(c, (size_t)p->B), a, 6, err);
}

/* Work-groups for B rows of `width` elements, PHX_GV per work-item. */
static size_t groups_rows(const phx_cl *c, int B, int width) {
  const size_t chunks = ((size_t)width + (size_t)c->gv - 1) / (size_t)c->gv;
  return groups_for(c, (size_t)B * chunks);
}

static int cl_gather_input(void *impl, const phx_args_gather_input *p, phx_err *err) {
  phx_cl *c = impl;
  cl_uint io;
  int s = off32(c, p->ioff, &io, err);
  if (s) return s;
  cl_int n = p->N, b = p->B, cnt = p->count;
  const karg a[] = {KA(n), KA(b), KA(cnt), KA(p->X->p), KA(p->idx->p), KA(io), KA(p->V->p)};
  return launch(c, K_GATHER_INPUT, groups_rows(c, p->B, p->N), a, 7, err);
}

static int cl_activate(void *impl, const phx_args_activate *p, phx_err *err) {
  phx_cl *c = impl;
  cl_int b = p->B, m = p->M;
  const karg a[] = {KA(b), KA(m), KA(p->Z->p), KA(p->U->p)};
  return launch(c, K_ACTIVATE, groups_rows(c, p->B, p->M), a, 4, err);
}

static int cl_activate_backward(void *impl, const phx_args_activate_backward *p,
                                phx_err *err) {
  phx_cl *c = impl;
  cl_int b = p->B, m = p->M;
  const karg a[] = {KA(b), KA(m), KA(p->Z->p), KA(p->dU->p), KA(p->dZ->p)};
  return launch(c, K_ACTIVATE_BACKWARD, groups_rows(c, p->B, p->M), a, 5, err);
}

static int cl_loss(void *impl, const phx_args_loss *p, phx_err *err) {
  phx_cl *c = impl;
  cl_uint io, oo;
  int s = off32(c, p->ioff, &io, err);
  if (!s) s = off32(c, p->ooff, &oo, err);
  if (s) return s;
  cl_int b = p->B, m = p->M, cnt = p->count, want = p->grad != 0;
  cl_float sc = (cl_float)p->scale;
  cl_mem du = want ? MEM(p->dU) : MEM(p->lossv); /* untouched when !want */
  cl_int ht = p->has_targets != 0;
  cl_mem tg = ht ? MEM(p->targets) : MEM(p->U); /* not read when !ht */
  cl_mem lab = ht ? MEM(p->U) : MEM(p->labels); /* not read when ht */
  const karg a[] = {KA(b),          KA(m),         KA(cnt),      KA(p->U->p),
                    KA(lab),        KA(p->idx->p), KA(io),     KA(sc),
                    KA(p->lossv->p), KA(p->pred->p), KA(oo),     KA(want),
                    KA(du),         KA(ht),        KA(tg)};
  return launch(c, K_LOSS, groups_for(c, (size_t)p->B), a, 15, err);
}

static int cl_crossbar_power(void *impl, const phx_args_crossbar_power *p, phx_err *err) {
  phx_cl *c = impl;
  cl_int b = p->B, m = p->M, r = p->R, f = p->fold != 0;
  const karg a[] = {KA(b),       KA(m),       KA(r),       KA(f),      KA(p->U->p),
                    KA(p->Z->p), KA(p->W->p), KA(p->S->p), KA(p->P->p)};
  /* one work-item a sample: every column's rows */
  int rc = loops_fit(c, (double)p->M * (p->R + 1), "the power sum of this layer", err);
  return rc ? rc : launch(c, K_CROSSBAR_POWER, groups_for(c, (size_t)p->B), a, 9, err);
}

static int cl_map_vary(void *impl, const phx_args_map_vary *p, phx_err *err) {
  phx_cl *c = impl;
  const phx_variation *v = p->v;
  cl_uint n;
  int s = off32(c, (size_t)p->M * (size_t)p->R, &n, err);
  if (s) return s;
  cl_int m = p->M, r = p->R, f = p->fold ? 1 : 0, lv = v->levels;
  cl_int dist = v->dist == PHX_VAR_GAUSSIAN;
  cl_uint key = p->key;
  cl_float sg = (cl_float)v->sigma, rd = (cl_float)v->read_noise;
  cl_float off = (cl_float)v->stuck_off, on = (cl_float)v->stuck_on;
  cl_mem e = p->fold ? MEM(p->E) : MEM(p->W); /* E is never touched when !fold */
  /* a level list in units of gmin, by value (PHX_MAX_LEVEL_LIST = 2 x 16) */
  cl_int nl = v->nlist;
  cl_float16 l0, l1;
  memset(&l0, 0, sizeof l0);
  memset(&l1, 0, sizeof l1);
  for (int q = 0; q < v->nlist; q++)
    (q < 16 ? l0.s : l1.s)[q % 16] = (cl_float)(v->list[q] / c->gmin);
  const karg a[] = {KA(n),  KA(key), KA(lv),  KA(nl), KA(l0), KA(l1), KA(dist),
                    KA(sg), KA(rd),  KA(off), KA(on), KA(p->theta->p), KA(p->W->p)};
  const karg b[] = {KA(m), KA(r), KA(f), KA(p->W->p), KA(p->S->p), KA(e)};
  s = launch(c, K_VARY_CELLS, groups_for(c, ((size_t)n + (size_t)c->gv - 1) / (size_t)c->gv), a,
             13, err);
  return s ? s : launch2d(c, K_VARY_COLUMNS, (size_t)p->M, 1, b, 6, err);
}

/* Adam's bias-corrected step lr / (1 - b1^t) and 1 / sqrt(1 - b2^t), narrowed
 * to float as the C path does (ops.c has checked the step count); shared by the plain and the fused step. */
static void adam_scales(const phx_optim *o, cl_float *step, cl_float *rb2) {
  *step = (cl_float)(o->lr / (1 - pow(o->beta1, (double)o->t)));
  *rb2 = (cl_float)(1 / sqrt(1 - pow(o->beta2, (double)o->t)));
}

static int cl_opt_step(void *impl, const phx_args_opt_step *p, phx_err *err) {
  phx_cl *c = impl;
  const phx_optim *o = p->o;
  cl_uint nn;
  int s = off32(c, p->n, &nn, err);
  if (s) return s;
  cl_float lr = (cl_float)o->lr;
  const size_t g = groups_for(c, p->n);
  switch (o->kind) {
    case PHX_OPT_SGD: {
      const karg a[] = {KA(nn), KA(lr), KA(p->theta->p), KA(p->grad->p)};
      return launch(c, K_SGD, g, a, 4, err);
    }
    case PHX_OPT_MOMENTUM: {
      cl_float mu = (cl_float)o->momentum;
      const karg a[] = {KA(nn), KA(lr), KA(mu), KA(p->theta->p), KA(p->grad->p), KA(p->m->p)};
      return launch(c, K_MOMENTUM, g, a, 6, err);
    }
    default: { /* ADAM: ops.c admits no other kind */
      cl_float step, rb2;
      adam_scales(o, &step, &rb2);
      cl_float b1 = (cl_float)o->beta1, b2 = (cl_float)o->beta2;
      cl_float eps = (cl_float)o->eps;
      const karg a[] = {KA(nn), KA(step), KA(rb2), KA(b1), KA(b2), KA(eps),
                        KA(p->theta->p), KA(p->grad->p), KA(p->m->p), KA(p->v->p)};
      return launch(c, K_ADAM, groups_for(c, (p->n + (size_t)c->gv - 1) / (size_t)c->gv), a,
                    10, err);
    }
  }
}

/* map_backward + opt_step + map_forward in one launch (see backend.h and
 * cl/map.cl): saves two launches per layer and step, which dominate small
 * nets on CPU devices. */
static int cl_step_map(void *impl, const phx_args_step_map *p, phx_err *err) {
  phx_cl *c = impl;
  const phx_optim *o = p->o;
  cl_int kind = -1;
  cl_float8 k = {{0}};
  if (o) {
    k.s[0] = (cl_float)o->lr;
    switch (o->kind) {
      case PHX_OPT_SGD: kind = 0; break;
      case PHX_OPT_MOMENTUM:
        kind = 1;
        k.s[1] = (cl_float)o->momentum;
        break;
      default: /* ADAM */
        adam_scales(o, &k.s[0], &k.s[6]);
        kind = 2;
        k.s[2] = (cl_float)o->beta1;
        k.s[3] = (cl_float)(1 - o->beta1);
        k.s[4] = (cl_float)o->beta2;
        k.s[5] = (cl_float)(1 - o->beta2);
        k.s[7] = (cl_float)o->eps;
        break;
    }
  }
  /* buffers the kind does not use are never touched: any valid one will do */
  cl_mem th = MEM(p->theta);
  cl_mem e = p->fold ? MEM(p->E) : MEM(p->W);
  cl_mem d = o ? MEM(p->dWE) : th, dt = o ? MEM(p->dtheta) : th;
  cl_mem mm = kind >= 1 ? MEM(p->m) : th;
  cl_mem vv = kind == 2 ? MEM(p->v) : th;
  cl_int nm = p->M, r = p->R, f = p->fold ? 1 : 0;
  const karg a[] = {KA(nm), KA(r),       KA(f),       KA(kind), KA(k),
                    KA(th), KA(p->W->p), KA(p->S->p), KA(e),    KA(p->P->p),
                    KA(d),  KA(dt),      KA(mm),      KA(vv)};
  return launch2d(c, K_STEP_MAP, (size_t)p->M, 1, a, 14, err);
}

/* ---- matrix products (CLBlast) ---- */

static int clblast_error(const phx_cl *c, phx_err *err, CLBlastStatusCode st,
                         const char *call) {
  if (st == CLBlastTempBufferAllocFailure || st == CLBlastOpenCLOutOfResources ||
      st == CLBlastOpenCLOutOfHostMemory)
    return phx_fail(err, PHX_EDEVMEM, "opencl: %s on %s: CLBlast status %d (out of device memory)",
                    call, c->desc, (int)st);
  if (st > -1000)
    return phx_fail(err, PHX_EDEVICE, "opencl: %s failed on %s: %s", call,
                    c->desc, phx_cl_errname((cl_int)st));
  return phx_fail(err, PHX_EDEVICE, "opencl: %s failed on %s: CLBlast status %d",
                  call, c->desc, (int)st);
}

/* C = alpha op(A) op(B) + beta C through CLBlastSgemmWithTempBuffer: the
 * scratch buffer is ours and reused, so no call allocates on the device. */
static int cl_gemm(void *impl, const phx_args_gemm *p, phx_err *err) {
  phx_cl *c = impl;
  const int transA = p->transA, transB = p->transB, m = p->m, n = p->n, k = p->k;
  const int lda = p->lda, ldb = p->ldb, ldc = p->ldc;
  const double alpha = p->alpha, beta = p->beta;
  const phx_buf *A = p->A, *B = p->B, *C = p->C;
  const size_t aoff = p->aoff, boff = p->boff, coff = p->coff;
  if (m <= 0 || n <= 0) return PHX_OK;
  if (k <= 0 || alpha == 0.0) {
    cl_uint co;
    int s = off32(c, coff, &co, err);
    if (s) return s;
    cl_int mm = m, nn = n, ld = ldc;
    cl_float bt = (cl_float)beta;
    const karg a[] = {KA(mm), KA(nn), KA(bt), KA(C->p), KA(co), KA(ld)};
    return launch(c, K_SCALE_BLOCK, groups_for(c, (size_t)m * (size_t)n), a, 6, err);
  }
  /* Own kernels cover A B^T and op(A) B. CLBlast's parameters on this
   * device may have been set by another instance; when they cannot be
   * made ours, our own kernels run where they can. */
  const int own_covers = !transA || !transB;
  int own = c->own_gemm && own_covers;
  if (!own && !phx_cl_tune_claim(&c->dev, c, &c->tune, c->verbose)) {
    if (!own_covers)
      return phx_fail(err, PHX_EDEVICE,
                      "opencl: CLBlast's parameters on %s were changed by another backend "
                      "instance in this process; a transposed-transposed product needs them",
                      c->desc);
    own = 1;
  }
  if (own && !transA && transB) {
    cl_uint ao, bo, co;
    int s = off32(c, aoff, &ao, err);
    if (!s) s = off32(c, boff, &bo, err);
    if (!s) s = off32(c, coff, &co, err);
    if (s) return s;
    cl_int mm = m, nn = n, kk = k, la = lda, lb = ldb, lc = ldc;
    cl_float al = (cl_float)alpha, bt = (cl_float)beta;
    const karg a[] = {KA(mm), KA(nn), KA(kk), KA(al), KA(A->p), KA(ao), KA(la), KA(B->p),
                      KA(bo), KA(lb), KA(bt), KA(C->p), KA(co), KA(lc)};
    const size_t t = (size_t)c->tune.konst[PHX_CK_nt_tile];
    return launch2d(c, K_GEMM_NT, ((size_t)n + t - 1) / t, ((size_t)m + t - 1) / t, a, 14, err);
  }
  if (own && !transB) {
    cl_uint ao, bo, co;
    int s = off32(c, aoff, &ao, err);
    if (!s) s = off32(c, boff, &bo, err);
    if (!s) s = off32(c, coff, &co, err);
    if (s) return s;
    cl_int t = transA ? 1 : 0, mm = m, nn = n, kk = k, la = lda, lb = ldb, lc = ldc;
    cl_float al = (cl_float)alpha, bt = (cl_float)beta;
    const karg a[] = {KA(t), KA(mm), KA(nn), KA(kk), KA(al), KA(A->p), KA(ao), KA(la),
                      KA(B->p), KA(bo), KA(lb), KA(bt), KA(C->p), KA(co), KA(lc)};
    const size_t gv = (size_t)c->gv;
    return launch2d(c, K_GEMM_XN, ((size_t)n + gv - 1) / gv,
                    ((size_t)m + (size_t)c->tune.konst[PHX_CK_xn_rows] - 1) /
                        (size_t)c->tune.konst[PHX_CK_xn_rows],
                    a, 15, err);
  }
  const CLBlastTranspose ta = transA ? CLBlastTransposeYes : CLBlastTransposeNo;
  const CLBlastTranspose tb = transB ? CLBlastTransposeYes : CLBlastTransposeNo;
  size_t need = 0;
  CLBlastStatusCode st = CLBlastSGemmTempBufferSize(
      CLBlastLayoutRowMajor, ta, tb, (size_t)m, (size_t)n, (size_t)k, aoff,
      (size_t)lda, boff, (size_t)ldb, coff, (size_t)ldc, &c->queue, &need);
  if (st != CLBlastSuccess) return clblast_error(c, err, st, "CLBlastSGemmTempBufferSize");
  int rc = grow(c, &c->gemm_tmp, &c->gemm_tmp_bytes, need, 0, "GEMM scratch", err);
  if (rc) return rc;
  st = CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, ta, tb, (size_t)m,
                                  (size_t)n, (size_t)k, (float)alpha, MEM(A),
                                  aoff, (size_t)lda, MEM(B), boff, (size_t)ldb,
                                  (float)beta, MEM(C), coff, (size_t)ldc,
                                  &c->queue, NULL, c->gemm_tmp);
  if (st != CLBlastSuccess) return clblast_error(c, err, st, "CLBlastSgemm");
  c->launches++;
  return PHX_OK;
}

/* The product and activate in one launch where the product runs on our
 * own kernels (CPU devices, rusticl); with CLBlast, the two ops in turn. */
static int cl_layer_forward(void *impl, const phx_args_layer_forward *p, phx_err *err) {
  phx_cl *c = impl;
  if (!c->own_gemm) {
    const phx_args_gemm g = {.transA = 0, .transB = 1, .m = p->B, .n = p->M, .k = p->K,
                             .alpha = 1.0, .beta = 0.0, .A = p->A, .lda = p->K, .B = p->Wt,
                             .ldb = p->K, .C = p->Z, .ldc = p->M};
    const phx_args_activate ac = {p->B, p->M, p->Z, p->U};
    int s = cl_gemm(impl, &g, err);
    return s ? s : cl_activate(impl, &ac, err);
  }
  cl_int b = p->B, m = p->M, k = p->K;
  const karg a[] = {KA(b), KA(m), KA(k), KA(p->A->p), KA(p->Wt->p), KA(p->Z->p), KA(p->U->p)};
  const size_t t = (size_t)c->tune.konst[PHX_CK_nt_tile];
  return launch2d(c, K_GEMM_NT_ACT, ((size_t)p->M + t - 1) / t, ((size_t)p->B + t - 1) / t, a,
                  7, err);
}

static const phx_bops opencl_ops = {
    .name = "opencl",
    .destroy = cl_destroy,
    .prepare = cl_prepare,
    .alloc = cl_alloc,
    .release = cl_release,
    .write = cl_write,
    .read = cl_read,
    .finish = cl_finish,
#define CL_OP_ENTRY(name, type, opt) .name = cl_##name,
    PHX_OPS(CL_OP_ENTRY)
#undef CL_OP_ENTRY
};

/* ---- construction ---- */

phx_status phx_backend_opencl_new(const phx_backend_conf *conf, int gpu_only,
                                  phx_backend **out, phx_err *err) {
  const int verbose = conf->verbose;
  *out = NULL;
  phx_cl_dev *devs = NULL;
  int n = 0, count = 0, pick = 0;
  phx_status s = phx_cl_devices(&devs, &n, err);
  if (s != PHX_OK) return s;
  int *idx = malloc((size_t)n * sizeof *idx);
  if (!idx) {
    free(devs);
    return phx_fail(err, PHX_ENOMEM, "opencl: out of memory");
  }
  /* no device named: the fastest, measured (cached after the first time) */
  if (!conf->device[0]) phx_cl_probe_devices(devs, n, conf, 0);
  s = phx_cl_select(devs, n, conf->device, conf->device_from, 0, gpu_only, idx, &count, err);
  if (s == PHX_OK) pick = idx[0];
  free(idx);
  phx_cl *c = NULL;
  phx_backend *b = NULL;
  if (s == PHX_OK) {
    c = calloc(1, sizeof *c);
    b = calloc(1, sizeof *b);
    if (!c || !b) s = phx_fail(err, PHX_ENOMEM, "opencl: out of memory");
  }
  if (s != PHX_OK) {
    free(devs);
    free(c);
    free(b);
    return s;
  }
  c->dev = devs[pick];
  c->full_loops = -1;
  free(devs);
  if (clGetDeviceInfo(c->dev.device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof c->max_alloc,
                      &c->max_alloc, NULL) != CL_SUCCESS)
    c->max_alloc = 0;
  c->verbose = verbose;
  phx_cl_describe(&c->dev, c->desc, sizeof c->desc);
  snprintf(c->kernel_dir, sizeof c->kernel_dir, "%s", conf->kernel_dir);
  snprintf(c->cache_dir, sizeof c->cache_dir, "%s", conf->cache_dir);
  /* per-device choices: own GEMM or CLBlast, vector width, work-group */
  phx_cl_tune_choose(&c->dev, conf->clblast_params, verbose, &c->tune);
  c->own_gemm = conf->gemm >= 0 ? conf->gemm : c->tune.gemm;
  c->gv = c->tune.gv;
  const size_t wmax = c->dev.max_wg ? c->dev.max_wg : 1;
  c->wg = floor_pow2((size_t)c->tune.wg < wmax ? (size_t)c->tune.wg : wmax);
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                   (cl_context_properties)c->dev.platform, 0};
  cl_int e;
  c->ctx = clCreateContext(props, 1, &c->dev.device, NULL, NULL, &e);
  if (e == CL_SUCCESS)
    c->queue = clCreateCommandQueue(c->ctx, c->dev.device, 0, &e);
  if (e != CL_SUCCESS) {
    s = cl_error(c, err, e, c->ctx ? "clCreateCommandQueue" : "clCreateContext");
    cl_destroy(c);
    free(b);
    return s;
  }
  if (!c->own_gemm) (void)phx_cl_tune_claim(&c->dev, c, &c->tune, verbose);
  b->ops = &opencl_ops;
  b->impl = c;
  snprintf(b->name, sizeof b->name, "opencl");
  /* the description, cut to the handle's field */
  const size_t dl = strlen(c->desc) < sizeof b->device - 1 ? strlen(c->desc)
                                                           : sizeof b->device - 1;
  memcpy(b->device, c->desc, dl);
  b->device[dl] = 0;
  b->verbose = verbose;
  b->fuse = c->tune.konst[PHX_CK_fuse] && c->own_gemm;
  if (verbose > 0)
    fprintf(stderr, "phaxcl: opencl: using %d:%d %s (%s, %u compute units)\n",
            c->dev.pidx, c->dev.didx, c->desc, phx_cl_type_name(&c->dev),
            c->dev.compute_units);
  *out = b;
  return PHX_OK;
}

long phx_backend_opencl_launches(const phx_backend *b) {
  if (!b || b->ops != &opencl_ops) return -1;
  return ((const phx_cl *)b->impl)->launches;
}

/* Monotonic seconds (the SGEMM figure below). */
static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double phx_bench_opencl_sgemm_gflops(const phx_backend *b, int n, double min_seconds,
                                     int *n_used) {
  if (n_used) *n_used = 0;
  if (!b || b->ops != &opencl_ops) return -1;
  phx_cl *c = b->impl;
  if (n <= 0) n = c->dev.cls == PHX_CL_GPU || c->dev.cls == PHX_CL_ACCEL ? 4096 : 512;
  if (n_used) *n_used = n;
  const size_t bytes = (size_t)n * (size_t)n * sizeof(float);
  cl_int e = CL_SUCCESS;
  cl_mem m[3] = {NULL, NULL, NULL};
  const float one = 1.0f;
  for (int i = 0; i < 3 && e == CL_SUCCESS; i++) {
    m[i] = clCreateBuffer(c->ctx, CL_MEM_READ_WRITE, bytes, NULL, &e);
    if (e == CL_SUCCESS)
      e = clEnqueueFillBuffer(c->queue, m[i], &one, sizeof one, 0, bytes, 0, NULL, NULL);
  }
  /* CLBlast with this device's stored parameters, as training uses it */
  phx_cl_tune_claim(&c->dev, c, &c->tune, c->verbose);
  double t0 = 0, secs = 0;
  long reps = 0;
  for (int round = 0; round < 2 && e == CL_SUCCESS; round++) {
    t0 = mono_s();
    reps = 0;
    do { /* round 0 is the warm-up (kernel builds), one product */
      const CLBlastStatusCode st = CLBlastSgemm(
          CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, (size_t)n, (size_t)n,
          (size_t)n, 1.0f, m[0], 0, (size_t)n, m[1], 0, (size_t)n, 0.0f, m[2], 0, (size_t)n,
          &c->queue, NULL);
      e = st == CLBlastSuccess ? clFinish(c->queue) : CL_INVALID_OPERATION;
      reps++;
      secs = mono_s() - t0;
    } while (e == CL_SUCCESS && round == 1 && secs < min_seconds);
  }
  for (int i = 0; i < 3; i++)
    if (m[i]) clReleaseMemObject(m[i]);
  if (e != CL_SUCCESS || secs <= 0) return -1;
  return 2.0 * (double)n * (double)n * (double)n * (double)reps / secs * 1e-9;
}
