/* The C backend: every phx_bops operation on host memory, in float32 ("c",
 * the fast path) and float64 ("c64", the reference for gradient checks).
 * The operations are written once in cpu_ops.h and instantiated here for
 * both types; matrix products go to CBLAS when the build found it. */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "host.h"
#include "phx_config.h"
#include "return_solve.h"
#include "vary.h"

#if PHX_HAVE_BLAS
#include <cblas.h>
/* OpenBLAS 0.3.x runs a GEMM on one thread when m n k <= 65536 * 4 (its
 * GEMM_MULTITHREAD_THRESHOLD default), on all its threads above. Products
 * between that and CPU_BLAS_SMALL_MNK are summed in slices of k to stay on
 * one thread (see gemm in cpu_ops.h); the paper task's largest is
 * 32 x 100 x 197, Fashion-MNIST's smallest 256 x 10 x 514. */
#define CPU_BLAS_SERIAL_MNK 262144.0
#define CPU_BLAS_SMALL_MNK 1048576.0
#endif

/* Buffers are phx_buf (backend.h) with p pointing at 64-byte aligned host
 * memory. */
/* The model constants, kept in double and narrowed per operation. */
typedef struct cpu_impl {
  double vdd, gmin, k;
  double c[4], d[4];
  phx_loss loss;
} cpu_impl;

static void cpu_destroy(void *impl) { free(impl); }

static int cpu_prepare(void *impl, const phx_consts *k, phx_err *err) {
  cpu_impl *c = impl;
  if (!(k->vdd > 0) || !(k->gmin > 0) || !(k->k >= 0))
    return phx_fail(err, PHX_EINVAL, "cpu backend: vdd, gmin must be > 0 and k >= 0");
  c->vdd = k->vdd;
  c->gmin = k->gmin;
  c->k = k->k;
  memcpy(c->c, k->c, sizeof c->c);
  memcpy(c->d, k->d, sizeof c->d);
  c->loss = k->loss;
  return 0;
}

static void cpu_release(void *impl, phx_buf *b) {
  (void)impl;
  if (b) {
    free(b->p);
    free(b);
  }
}

/* Host work is synchronous: nothing to wait for. */
static int cpu_finish(void *impl, phx_err *err) {
  (void)impl;
  (void)err;
  return 0;
}

/* exp for float, branch-free so that the compiler vectorises the loops that
 * call it (float compares would block that under -ftrapping-math, so the
 * range is limited on the integer exponent instead): round x / ln2 to n
 * with the 1.5 * 2^23 trick, a degree-6 polynomial on the remainder
 * (Cody-Waite split of ln2), and 2^n built in the exponent bits. About
 * 1 ulp for |x| < 87; beyond that it saturates near 2^127 or 2^-126 rather
 * than overflowing, so sigmoid and sech^2 never meet inf * 0. NaN stays NaN.
 * Valid for |x| < 2.9e6, far beyond any argument the operations pass. */
static inline float cpu_expf(float x) {
  const float magic = 12582912.0f; /* 1.5 * 2^23 */
  float t = x * 1.44269504088896341f + magic;
  float n = t - magic;
  int32_t ti;
  memcpy(&ti, &t, sizeof ti);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  /* Estrin's scheme: three independent pairs, then r^2 and r^4, instead
   * of one chain of six multiply-adds, so the loops that call this are
   * not bound by the chain's latency. */
  const float r2 = r * r, r4 = r2 * r2;
  const float q01 = 5.0000001201e-1f + 1.6666665459e-1f * r;
  const float q23 = 4.1665795894e-2f + 8.3334519073e-3f * r;
  const float q45 = 1.3981999507e-3f + 1.9875691500e-4f * r;
  float p = (q01 + r2 * q23) + r4 * q45;
  p = p * r2 + r + 1.0f;
  int32_t e = ti - 0x4B400000;
  e = e < -126 ? -126 : e;
  e = e > 127 ? 127 : e;
  int32_t bits = (e + 127) * (1 << 23);
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* exp for double with the argument limited to +-700, so that exp never
 * returns inf (the float path saturates the same way, see cpu_expf). */
static inline double cpu_exp(double x) {
  x = x < -700 ? -700 : x;
  return exp(x > 700 ? 700 : x);
}

/* tanh for float from cpu_expf: 1 - 2 / (1 + e^{2x}); absolute error a few
 * 1e-8, which is what the VTC outputs need. */
static inline float cpu_tanhf(float x) {
  return 1.0f - 2.0f / (1.0f + cpu_expf(2.0f * x));
}

/* log for float on (0, 1] and beyond, branch-free so that map_vary's loop
 * vectorises: x = m 2^e with m in [sqrt(1/2), sqrt(2)), then
 * log m = 2 atanh(t), t = (m - 1) / (m + 1), as an odd series to t^11
 * (|t| < 0.172: error below 1e-8 relative). Positive normal x only. */
static inline float cpu_logf(float x) {
  int32_t b;
  memcpy(&b, &x, sizeof b);
  /* exponent with the mantissa moved into [sqrt(1/2), sqrt(2)) */
  const int32_t adj = b - 0x3f3504f3;
  const int32_t e = adj >> 23;
  b -= e * (1 << 23);
  float m;
  memcpy(&m, &b, sizeof m);
  const float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
  const float p = 1.0f + t2 * (1.0f / 3 + t2 * (1.0f / 5 + t2 * (1.0f / 7 + t2 * (1.0f / 9 + t2 * (1.0f / 11)))));
  return 2.0f * t * p + (float)e * 0.693147180559945f;
}

/* cos(2 pi u) for float, branch-free: u reduced to |v| <= 1/4 around the
 * nearest half period (sign from the reduction), then the Taylor series of
 * cos to x^12 on [-pi/2, pi/2] (error below 3e-7). */
static inline float cpu_cos2pif(float u) {
  float v = u - rintf(u);       /* [-1/2, 1/2] */
  v = v < 0 ? -v : v;           /* cos is even */
  const int flip = v > 0.25f;   /* cos(2 pi v) = -cos(2 pi (1/2 - v)) */
  v = flip ? 0.5f - v : v;
  const float x = 6.283185307179586f * v, x2 = x * x;
  const float c = 1.0f + x2 * (-1.0f / 2 + x2 * (1.0f / 24 + x2 * (-1.0f / 720 + x2 * (1.0f / 40320 + x2 * (-1.0f / 3628800 + x2 * (1.0f / 479001600))))));
  return flip ? -c : c;
}

/* The float path's elementwise loops are also compiled for AVX2 and
 * AVX-512 and picked at load time (GNU ifunc), since a portable build
 * targets SSE2 only. Each machine always runs the same clone, so results
 * stay deterministic per machine. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute) && \
    defined(__GLIBC__)
#if __has_attribute(target_clones)
#define CPU_HOT_F32 __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef CPU_HOT_F32
#define CPU_HOT_F32
#endif
/* Helpers (sum, dot) must be inlined into the clones above: called out of
 * line they run the SSE2 baseline code even on an AVX-512 machine. */
#if defined(__GNUC__)
#define CPU_INLINE static inline __attribute__((always_inline))
#else
#define CPU_INLINE static inline
#endif

#define CPU_REAL float
#define CPU_HOT CPU_HOT_F32
#define CPU_SFX f32
#define CPU_EXP(x) cpu_expf(x)
#define CPU_LOG(x) logf(x)
#define CPU_SQRT(x) sqrtf(x)
#define CPU_TANH(x) cpu_tanhf(x)
#define CPU_COS2PI(u) cpu_cos2pif(u)
#define CPU_LOGU(x) cpu_logf(x)
#define CPU_UNIFORM(key, i, s) phx_vary_uniformf(key, i, s)
#define CPU_RINT(x) rintf(x)
#define CPU_FABS(x) fabsf(x)
#define CPU_HTYPE PHX_HOST_F32
#define CPU_CBLAS_GEMM cblas_sgemm
#include "cpu_ops.h"

#define CPU_REAL double
#define CPU_HOT
#define CPU_SFX f64
#define CPU_EXP(x) cpu_exp(x)
#define CPU_LOG(x) log(x)
#define CPU_SQRT(x) sqrt(x)
#define CPU_TANH(x) tanh(x)
#define CPU_COS2PI(u) cos(6.283185307179586 * (u))
#define CPU_LOGU(x) log(x)
#define CPU_UNIFORM(key, i, s) phx_vary_uniform(key, i, s)
#define CPU_RINT(x) rint(x)
#define CPU_FABS(x) fabs(x)
#define CPU_HTYPE PHX_HOST_F64
#define CPU_CBLAS_GEMM cblas_dgemm
#include "cpu_ops.h"

/* A "c" (float32) or "c64" (float64) backend instance. */
phx_status phx_backend_cpu_new(int f64, phx_backend **out, phx_err *err) {
  *out = NULL;
  phx_backend *b = calloc(1, sizeof *b);
  cpu_impl *c = calloc(1, sizeof *c);
  if (!b || !c) {
    free(b);
    free(c);
    return phx_fail(err, PHX_ENOMEM, "cpu backend: out of memory");
  }
  b->ops = f64 ? &cpu_bops_f64 : &cpu_bops_f32;
  b->impl = c;
  snprintf(b->name, sizeof b->name, "%s", f64 ? "c64" : "c");
  snprintf(b->device, sizeof b->device, "cpu (%s, %s)",
           PHX_HAVE_BLAS ? "OpenBLAS" : "loops", f64 ? "float64" : "float32");
  *out = b;
  return PHX_OK;
}
