/* The reference figure for `phaxcl bench`: how many GFLOP/s a plain square
 * SGEMM reaches on this machine through the same matrix library the C path
 * links, so training throughput can be judged against the hardware. */
#include <stdlib.h>
#include <time.h>

#include "phaxcl.h"
#include "phx_config.h"

#if PHX_HAVE_BLAS
#include <cblas.h>
#endif

/* Monotonic seconds. */
static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* C = A * B, n x n row-major: CBLAS when built with it, else i-k-j loops. */
static void sgemm(int n, const float *a, const float *b, float *c) {
#if PHX_HAVE_BLAS
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b,
              n, 0.0f, c, n);
#else
  for (size_t i = 0; i < (size_t)n * (size_t)n; i++) c[i] = 0.0f;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < n; k++) {
      float aik = a[(size_t)i * n + k];
      const float *brow = b + (size_t)k * n;
      float *crow = c + (size_t)i * n;
      for (int j = 0; j < n; j++) crow[j] += aik * brow[j];
    }
#endif
}

/* Best rate over repeated products after one warm-up call. */
double phx_bench_sgemm_gflops(int n, double min_seconds, const char **impl) {
  if (impl) *impl = PHX_HAVE_BLAS ? "cblas" : "loops";
  if (n < 1) n = 1;
  size_t nn = (size_t)n * (size_t)n;
  float *a = malloc(sizeof *a * nn), *b = malloc(sizeof *b * nn),
        *c = malloc(sizeof *c * nn);
  if (!a || !b || !c) {
    free(a);
    free(b);
    free(c);
    return -1.0;
  }
  for (size_t i = 0; i < nn; i++) {
    a[i] = (float)((i * 7 + 3) % 17) / 17.0f - 0.5f;
    b[i] = (float)((i * 5 + 1) % 13) / 13.0f - 0.5f;
  }
  sgemm(n, a, b, c);
  double best = 0.0, start = now_seconds(), flops = 2.0 * (double)nn * n;
  do {
    double t0 = now_seconds();
    sgemm(n, a, b, c);
    double dt = now_seconds() - t0;
    if (dt > 0 && flops / dt > best) best = flops / dt;
  } while (now_seconds() - start < min_seconds);
  free(a);
  free(b);
  free(c);
  return best * 1e-9;
}
