/* The backend seam: a table of operations that the trainer (net.c) drives
 * without knowing which backend runs them. Each backend (backend_cpu.c,
 * backend_opencl.c) fills one phx_bops and owns its buffers.
 *
 * Conventions for every operation:
 *  - matrices are row-major; sizes and offsets count elements, not bytes;
 *  - REAL buffers hold the backend's real type (float, or double for the
 *    c64 check backend); I32 buffers hold int32;
 *  - operations may run asynchronously; read() and finish() synchronise;
 *  - a non-zero return is a phx_status with err filled.
 */
#ifndef PHX_BACKEND_H
#define PHX_BACKEND_H

#include "phaxcl.h"

typedef enum { PHX_BUF_REAL = 0, PHX_BUF_I32 = 1 } phx_btype;
typedef enum { PHX_HOST_F32 = 0, PHX_HOST_F64 = 1, PHX_HOST_I32 = 2 } phx_htype;

typedef struct phx_buf phx_buf; /* defined by each backend */

/* Model constants every operation may need (OpenCL bakes them in as -D). */
typedef struct phx_consts {
  double vdd;
  double gmin;
  double k;    /* ratio - 1 */
  double c[4]; /* inverted VTC */
  double d[4]; /* non-inverted VTC */
  phx_loss loss;
} phx_consts;

typedef struct phx_optim {
  phx_optimizer kind; /* SGD, MOMENTUM or ADAM */
  double lr, momentum, beta1, beta2, eps;
  long t; /* 1-based step count (adam bias correction) */
} phx_optim;

typedef struct phx_bops phx_bops;

/* A backend instance: its table, its private state, its description. */
struct phx_backend {
  const phx_bops *ops;
  void *impl;
  char name[16];
  char device[256];
  int verbose;
};

struct phx_bops {
  const char *name;
  void (*destroy)(void *impl);

  /* Constants are set once per net (OpenCL compiles its programs here). */
  int (*prepare)(void *impl, const phx_consts *k, phx_err *err);

  /* Zero-filled buffer of n elements. */
  phx_buf *(*alloc)(void *impl, phx_btype t, size_t n, phx_err *err);
  void (*release)(void *impl, phx_buf *b);
  /* Copy n elements between host (of type h) and buffer at element offset. */
  int (*write)(void *impl, phx_buf *b, size_t off, size_t n, const void *src,
               phx_htype h, phx_err *err);
  int (*read)(void *impl, const phx_buf *b, size_t off, size_t n, void *dst,
              phx_htype h, phx_err *err);
  /* Wait for all queued work. */
  int (*finish)(void *impl, phx_err *err);

  /* theta (M x R) -> W = g / S (M x R), S (M).
   * When fold, also E (M x (N+1)), N = (R-2)/2, the input-layer weights with
   * the p/n pair and the bias pair folded (inputs drive p = +v, n = -v):
   *   E[j][0]   = vdd/2 * (W[j][0] - W[j][1])
   *   E[j][1+i] = W[j][2+i] - W[j][2+N+i]                                  */
  int (*map_forward)(void *impl, int M, int R, int fold, const phx_buf *theta,
                     phx_buf *W, phx_buf *S, phx_buf *E, phx_err *err);
  /* dL/dW (M x R), or when fold dL/dE (M x (N+1)) -> dL/dtheta (M x R):
   *   dW expanded from dE when fold (dW0 = vdd/2 dE0, dW1 = -vdd/2 dE0,
   *     dW[2+i] = dE[1+i], dW[2+N+i] = -dE[1+i]);
   *   dg[j][r] = (dW[j][r] - sum_q dW[j][q] W[j][q]) / S[j];
   *   dtheta = dg * gmin * k * s * (1 - s),  s = sigmoid(theta).          */
  int (*map_backward)(void *impl, int M, int R, int fold, const phx_buf *theta,
                      const phx_buf *W, const phx_buf *S, const phx_buf *dWE,
                      phx_buf *dtheta, phx_err *err);

  /* Input layer operand: V (B x (N+1)), V[b][0] = 1,
   * V[b][1+i] = (X[idx[ioff+b]][i] - 0.5) * vdd. X is n x N. */
  int (*gather_input)(void *impl, int N, int B, const phx_buf *X,
                      const phx_buf *idx, size_t ioff, phx_buf *V, phx_err *err);

  /* C = alpha * op(A) * op(B) + beta * C, row-major, op(A) m x k,
   * op(B) k x n; aoff/boff/coff are element offsets. */
  int (*gemm)(void *impl, int transA, int transB, int m, int n, int k,
              double alpha, const phx_buf *A, size_t aoff, int lda,
              const phx_buf *B, size_t boff, int ldb, double beta, phx_buf *C,
              size_t coff, int ldc, phx_err *err);

  /* Z (B x M) -> U (B x (2M+2)) = [vdd/2, -vdd/2, o-_1..o-_M, o+_1..o+_M]. */
  int (*activate)(void *impl, int B, int M, const phx_buf *Z, phx_buf *U,
                  phx_err *err);
  /* dL/dU (B x (2M+2)) -> dL/dZ (B x M), using Z:
   *   dZ = dU[2+j] * c2 c4 (1 - tanh^2(c4 (z - c3)))
   *      + dU[2+M+j] * d2 d4 (1 - tanh^2(d4 (z - d3))).                   */
  int (*activate_backward)(void *impl, int B, int M, const phx_buf *Z,
                           const phx_buf *dU, phx_buf *dZ, phx_err *err);

  /* Loss of outputs o = U[b][2+j] (U is B x (2M+2)) against class
   * labels[idx[ioff+b]] (targets +vdd/2 for it, -vdd/2 otherwise).
   * Writes lossv[ooff+b] (per-sample loss, summed over outputs) and
   * pred[ooff+b] (argmax_j o, first on ties). When dU is not NULL, writes
   * dU = scale * dloss/dU (columns other than the o- ones are zero). */
  int (*loss)(void *impl, int B, int M, const phx_buf *U, const phx_buf *labels,
              const phx_buf *idx, size_t ioff, double scale, phx_buf *lossv,
              phx_buf *pred, size_t ooff, phx_buf *dU, phx_err *err);

  /* One optimizer step over n parameters: theta -= update(grad); m and v are
   * the optimizer's state (m for momentum/adam, v for adam; may be NULL when
   * unused). */
  int (*opt_step)(void *impl, const phx_optim *o, size_t n, phx_buf *theta,
                  const phx_buf *grad, phx_buf *m, phx_buf *v, phx_err *err);

  /* OPTIONAL (NULL when a backend lacks it; net.c then runs map_forward,
   * map_backward and opt_step): the per-parameter work of a training step
   * in one pass over theta (M x R) instead of three. P (M x R) holds
   * s (1 - s), s = sigmoid(theta), so that the backward part needs no exp.
   *   o == NULL: map only: W, S, E (when fold) as map_forward, and P;
   *     dWE, dtheta, m, v are not used (may be NULL).
   *   o != NULL: dtheta as map_backward from dWE, W, S, E and P, which
   *     must be those of theta as this op last wrote them; then the step
   *     of o (SGD, MOMENTUM or ADAM) on theta, m, v as opt_step; then W,
   *     S, E and P of the new theta as with o == NULL.                    */
  int (*step_map)(void *impl, const phx_optim *o, int M, int R, int fold,
                  phx_buf *theta, phx_buf *W, phx_buf *S, phx_buf *E, phx_buf *P,
                  const phx_buf *dWE, phx_buf *dtheta, phx_buf *m, phx_buf *v,
                  phx_err *err);
};

/* Sets err (if not NULL) to status s with a printf-style message; returns s. */
phx_status phx_fail(phx_err *err, phx_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Constants of a model's options. */
void phx_consts_from_opts(phx_consts *k, const phx_model_opts *o);

/* Backend constructors (backend_cpu.c, backend_opencl.c). */
phx_status phx_backend_cpu_new(int f64, phx_backend **out, phx_err *err);
/* gpu_only: with no device named (device NULL and $PHAXCL_DEVICE unset),
 * accept only a GPU or accelerator and return PHX_ENODEV otherwise; this is
 * how "auto" decides between OpenCL and the C path. */
phx_status phx_backend_opencl_new(const char *device, int verbose, int gpu_only,
                                  phx_backend **out, phx_err *err);

#endif /* PHX_BACKEND_H */
