/* One descriptor per operation of backend.h: its buffers, its shape
 * contract, its test cases and its float64 reference, written from the
 * formulas in backend.h and docs/model.md (independently of the backends'
 * code). Adding an operation means: its contract in backend.h, its C body
 * (cpu/cpu_ops.h), its kernel (cl/ and opencl/backend_opencl.c) and its
 * descriptor here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curve.h"
#include "op_desc.h"
#include "return_solve.h"
#include "vary.h"

/* NMSE limits in `phaxcl check`: elementwise maps, and results where sums,
 * tanh slopes or differences of weights enter. */
#define TOL_ELEM 1e-10
#define TOL_SUM 1e-8

#define IN PHX_OB_IN
#define OUT PHX_OB_OUT
#define REAL PHX_BUF_REAL
#define I32 PHX_BUF_I32
#define BUF(st, f, t, io, lo, hi, tol) {#f, offsetof(st, f), t, io, lo, hi, tol}
#define ARGS(c, st) ((st *)(void *)(c)->args.bytes)
#define CARGS(c, st) ((const st *)(const void *)(c)->args.bytes)

/* Sizes must be non-negative and their products must not overflow. */
static int bad_size(long v) { return v < 0 || v > (1L << 30); }

static int fail_sizes(const char *what, phx_err *err) {
  return phx_fail(err, PHX_EINVAL, "%s out of range", what);
}

static double sig(double t) { return 1 / (1 + exp(-t)); }

/* Reference map of one row set: W, S, E (when E) and P = s (1 - s) (when P). */
static void ref_map(const phx_consts *k, int M, int R, const double *th, double *W,
                    double *S, double *E, double *P) {
  const int N = (R - 2) / 2;
  for (int j = 0; j < M; j++) {
    double s = 0;
    for (int r = 0; r < R; r++) {
      const double sg = sig(th[j * R + r]);
      s += W[j * R + r] = k->gmin * (1 + k->k * sg);
      if (P) P[j * R + r] = sg * (1 - sg);
    }
    for (int r = 0; r < R; r++) W[j * R + r] /= s;
    S[j] = s;
    if (!E) continue;
    E[j * (N + 1)] = k->vdd / 2 * (W[j * R] - W[j * R + 1]);
    for (int i = 0; i < N; i++) E[j * (N + 1) + 1 + i] = W[j * R + 2 + i] - W[j * R + 2 + N + i];
  }
}

/* Reference map_backward: dWE expanded when fold, then normalisation and
 * the sigmoid mapping. */
static void ref_map_backward(const phx_consts *k, int M, int R, int fold, const double *th,
                             const double *W, const double *S, const double *dWE,
                             const double *drow, const double *dgm, double *dt) {
  const int N = (R - 2) / 2;
  for (int j = 0; j < M; j++) {
    double g[R > 0 ? R : 1];
    if (fold) {
      const double *d = dWE + j * (N + 1);
      g[0] = k->vdd / 2 * d[0];
      g[1] = -k->vdd / 2 * d[0];
      for (int i = 0; i < N; i++) {
        g[2 + i] = d[1 + i];
        g[2 + N + i] = -d[1 + i];
      }
    } else {
      memcpy(g, dWE + j * R, sizeof(double) * (size_t)R);
    }
    double dot = 0;
    for (int q = 0; q < R; q++) dot += g[q] * W[j * R + q];
    for (int r = 0; r < R; r++) {
      const double s1 = sig(th[j * R + r]);
      const double dg =
          (g[r] - dot) / S[j] + (drow ? drow[r] : 0) + (dgm ? dgm[(size_t)j * R + r] : 0);
      dt[j * R + r] = dg * k->gmin * k->k * s1 * (1 - s1);
    }
  }
}

/* Reference optimizer step over n entries (m, v may be NULL when unused). */
static void ref_update(const phx_optim *o, size_t n, double *th, const double *g, double *m,
                       double *v) {
  for (size_t i = 0; i < n; i++) {
    if (o->kind == PHX_OPT_SGD) {
      th[i] -= o->lr * g[i];
    } else if (o->kind == PHX_OPT_MOMENTUM) {
      m[i] = o->momentum * m[i] + g[i];
      th[i] -= o->lr * m[i];
    } else {
      m[i] = o->beta1 * m[i] + (1 - o->beta1) * g[i];
      v[i] = o->beta2 * v[i] + (1 - o->beta2) * g[i] * g[i];
      const double mh = m[i] / (1 - pow(o->beta1, (double)o->t));
      const double vh = v[i] / (1 - pow(o->beta2, (double)o->t));
      th[i] -= o->lr * mh / (sqrt(vh) + o->eps);
    }
  }
}

/* The optimizer of a case: kind < 0 means none. */
static void make_optim(phx_op_case *c, int kind, long t) {
  c->optim = (phx_optim){(phx_optimizer)(kind < 0 ? 0 : kind), 0.05, 0.9, 0.9, 0.999, 1e-8, t};
}

/* An optimizer's own checks: known kind, Adam's step count. */
static int check_optim(const phx_optim *o, phx_err *err) {
  if (!o) return phx_fail(err, PHX_EINVAL, "optimizer missing");
  if (o->kind != PHX_OPT_SGD && o->kind != PHX_OPT_MOMENTUM && o->kind != PHX_OPT_ADAM)
    return phx_fail(err, PHX_EINVAL, "optimizer %d has no device step", (int)o->kind);
  if (o->kind == PHX_OPT_ADAM && o->t < 1)
    return phx_fail(err, PHX_EINVAL, "adam step count %ld < 1", o->t);
  return 0;
}

/* ---- map_forward ---- */

enum { MF_THETA, MF_W, MF_S, MF_E };

static int map_shape(int M, int R, phx_err *err) {
  if (bad_size(M) || bad_size(R) || R < 2 || R % 2 || (long)M * R > (1L << 31))
    return fail_sizes("M or R (R = 2N+2)", err);
  return 0;
}

static int mf_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_map_forward *a = args;
  int rc = map_shape(a->M, a->R, err);
  if (rc) return rc;
  const size_t MR = (size_t)a->M * a->R, N = (size_t)(a->R - 2) / 2;
  need[MF_THETA] = need[MF_W] = MR;
  need[MF_S] = (size_t)a->M;
  need[MF_E] = a->fold ? (size_t)a->M * (N + 1) : 0;
  return 0;
}

/* M, R and fold of a mapping case (the three lead every mapping's args);
 * case 1 folds. */
static void map_make(int i, const phx_op_sizes *sz, phx_op_case *c, int *mrf) {
  mrf[0] = sz->M;
  mrf[1] = 2 * sz->N + 2;
  mrf[2] = i;
  snprintf(c->label, sizeof c->label, "%s", i ? "fold" : "");
}

static void mf_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  phx_args_map_forward *a = ARGS(c, phx_args_map_forward);
  int mrf[3];
  map_make(i, sz, c, mrf);
  a->M = mrf[0], a->R = mrf[1], a->fold = mrf[2];
}

static void mf_ref(const phx_op_case *c, double **h) {
  const phx_args_map_forward *a = CARGS(c, phx_args_map_forward);
  ref_map(&c->k, a->M, a->R, h[MF_THETA], h[MF_W], h[MF_S], a->fold ? h[MF_E] : NULL, NULL);
}

static const phx_op_desc d_map_forward = {
    "map_forward", PHX_OP_map_forward, sizeof(phx_args_map_forward), 4,
    {BUF(phx_args_map_forward, theta, REAL, IN, -4, 4, 0),
     BUF(phx_args_map_forward, W, REAL, OUT, -1, 1, TOL_ELEM),
     BUF(phx_args_map_forward, S, REAL, OUT, -1, 1, TOL_ELEM),
     BUF(phx_args_map_forward, E, REAL, OUT, -1, 1, TOL_SUM)},
    mf_shape, 2, mf_make, NULL, mf_ref, 0};

/* ---- map_backward ---- */

enum { MB_THETA, MB_W, MB_S, MB_DWE, MB_DTHETA, MB_DROW, MB_DGM };

static int mb_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_map_backward *a = args;
  int rc = map_shape(a->M, a->R, err);
  if (rc) return rc;
  const size_t MR = (size_t)a->M * a->R, N = (size_t)(a->R - 2) / 2;
  need[MB_THETA] = need[MB_W] = need[MB_DTHETA] = MR;
  need[MB_S] = (size_t)a->M;
  need[MB_DWE] = a->fold ? (size_t)a->M * (N + 1) : MR;
  if (a->loads && a->fold)
    return phx_fail(err, PHX_EINVAL, "map_backward: row loads need an unfolded layer");
  if (a->loads < 0 || a->loads > 2)
    return phx_fail(err, PHX_EINVAL, "map_backward: loads must be 0, 1 or 2");
  need[MB_DROW] = a->loads ? (size_t)a->R : 0;
  need[MB_DGM] = a->loads == 2 ? MR : 0;
  return 0;
}

static void mb_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  phx_args_map_backward *a = ARGS(c, phx_args_map_backward);
  int mrf[3];
  map_make(i & 1, sz, c, mrf);
  a->M = mrf[0], a->R = mrf[1], a->fold = mrf[2];
  if (i >= 2) { /* the row loads' gradient of a load-aware net; 3: returned */
    a->fold = 0;
    a->loads = i - 1;
    snprintf(c->label, sizeof c->label, i == 2 ? "loads" : "loads+return");
  }
}

/* W and S of the random theta, so that the inputs are a real map. */
static void mb_fill(const phx_op_case *c, double **h, phx_rng *rng) {
  (void)rng;
  const phx_args_map_backward *a = CARGS(c, phx_args_map_backward);
  ref_map(&c->k, a->M, a->R, h[MB_THETA], h[MB_W], h[MB_S], NULL, NULL);
}

static void mb_ref(const phx_op_case *c, double **h) {
  const phx_args_map_backward *a = CARGS(c, phx_args_map_backward);
  ref_map_backward(&c->k, a->M, a->R, a->fold, h[MB_THETA], h[MB_W], h[MB_S], h[MB_DWE],
                   a->loads ? h[MB_DROW] : NULL, a->loads == 2 ? h[MB_DGM] : NULL, h[MB_DTHETA]);
}

static const phx_op_desc d_map_backward = {
    "map_backward", PHX_OP_map_backward, sizeof(phx_args_map_backward), 7,
    {BUF(phx_args_map_backward, theta, REAL, IN, -4, 4, 0),
     BUF(phx_args_map_backward, W, REAL, IN, 0, 1, 0),
     BUF(phx_args_map_backward, S, REAL, IN, 1, 2, 0),
     BUF(phx_args_map_backward, dWE, REAL, IN, -1, 1, 0),
     BUF(phx_args_map_backward, dtheta, REAL, OUT, -1, 1, TOL_SUM),
     BUF(phx_args_map_backward, drow, REAL, IN, -1e6, 1e6, 0),
     BUF(phx_args_map_backward, dgm, REAL, IN, -1e6, 1e6, 0)},
    mb_shape, 4, mb_make, mb_fill, mb_ref, 0};

/* ---- gather_input ---- */

enum { GI_X, GI_IDX, GI_V };

static int gi_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_gather_input *a = args;
  if (bad_size(a->N) || bad_size(a->B) || bad_size(a->count) || a->ioff > (1UL << 31))
    return fail_sizes("N, B, count or ioff", err);
  need[GI_X] = (size_t)a->count * a->N;
  need[GI_IDX] = a->ioff + (size_t)a->B;
  need[GI_V] = (size_t)a->B * (a->N + 1);
  return 0;
}

static void gi_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  (void)i;
  phx_args_gather_input *a = ARGS(c, phx_args_gather_input);
  a->N = sz->N;
  a->B = sz->B;
  a->count = 2 * sz->B + 3;
  a->ioff = 3;
}

/* A random permutation of [0, count), cut to n entries. */
static void fill_perm(double *h, size_t n, int count, phx_rng *rng) {
  int32_t *p = malloc((size_t)count * sizeof *p);
  if (!p) abort();
  for (int i = 0; i < count; i++) p[i] = i;
  phx_rng_shuffle(rng, p, count);
  for (size_t i = 0; i < n; i++) h[i] = p[i % (size_t)count];
  free(p);
}

static void gi_fill(const phx_op_case *c, double **h, phx_rng *rng) {
  const phx_args_gather_input *a = CARGS(c, phx_args_gather_input);
  fill_perm(h[GI_IDX], a->ioff + (size_t)a->B, a->count, rng);
}

static void gi_ref(const phx_op_case *c, double **h) {
  const phx_args_gather_input *a = CARGS(c, phx_args_gather_input);
  const int N = a->N;
  for (int b = 0; b < a->B; b++) {
    const size_t x = (size_t)h[GI_IDX][a->ioff + (size_t)b];
    h[GI_V][(size_t)b * (N + 1)] = 1;
    for (int i = 0; i < N; i++)
      h[GI_V][(size_t)b * (N + 1) + 1 + i] = (h[GI_X][x * N + i] - 0.5) * c->k.vdd;
  }
}

static const phx_op_desc d_gather_input = {
    "gather_input", PHX_OP_gather_input, sizeof(phx_args_gather_input), 3,
    {BUF(phx_args_gather_input, X, REAL, IN, 0, 1, 0),
     BUF(phx_args_gather_input, idx, I32, IN, 0, 0, 0),
     BUF(phx_args_gather_input, V, REAL, OUT, -1, 1, TOL_ELEM)},
    gi_shape, 1, gi_make, gi_fill, gi_ref, 0};

/* ---- gemm ---- */

enum { GM_A, GM_B, GM_C };

/* Elements an operand of rows x cols at offset off with leading ld spans;
 * -1 when ld is too small. */
static long long operand_extent(size_t off, int rows, int cols, int ld) {
  if (rows == 0 || cols == 0) return 0;
  if (ld < cols) return -1;
  return (long long)off + (long long)(rows - 1) * ld + cols;
}

static int gm_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_gemm *a = args;
  if (bad_size(a->m) || bad_size(a->n) || bad_size(a->k))
    return fail_sizes("gemm m, n or k", err);
  const long long ea = operand_extent(a->aoff, a->transA ? a->k : a->m,
                                      a->transA ? a->m : a->k, a->lda);
  const long long eb = operand_extent(a->boff, a->transB ? a->n : a->k,
                                      a->transB ? a->k : a->n, a->ldb);
  const long long ec = operand_extent(a->coff, a->m, a->n, a->ldc);
  if (ea < 0 || eb < 0 || ec < 0)
    return phx_fail(err, PHX_EINVAL, "leading dimension of %s smaller than its columns",
                    ea < 0 ? "A" : eb < 0 ? "B" : "C");
  /* an empty product touches nothing */
  const int empty = a->m == 0 || a->n == 0;
  need[GM_A] = empty ? 0 : (size_t)ea;
  need[GM_B] = empty ? 0 : (size_t)eb;
  need[GM_C] = (size_t)ec;
  return 0;
}

/* Cases 0-7: the four transpose pairs at beta 0 and 0.5, at the problem's
 * size (batch x neurons x rows), with offsets and padded leading
 * dimensions. Cases 8-9: fixed sizes that the C path sums in 2 and 3
 * slices of k to stay on one BLAS thread. */
static void gm_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  phx_args_gemm *a = ARGS(c, phx_args_gemm);
  static const int fixed[2][3] = {{33, 101, 97}, {20, 30, 1200}};
  const int pad = 3;
  a->transA = i < 8 ? i & 1 : 0;
  a->transB = i < 8 ? (i >> 1) & 1 : i == 9;
  a->m = i < 8 ? sz->B : fixed[i - 8][0];
  a->n = i < 8 ? sz->M : fixed[i - 8][1];
  a->k = i < 8 ? 2 * sz->N + 2 : fixed[i - 8][2];
  a->alpha = 1.25;
  a->beta = i < 8 ? (i >> 2 ? 0.5 : 0.0) : 0.3;
  a->aoff = 5;
  a->boff = 2;
  a->coff = 4;
  a->lda = (a->transA ? a->m : a->k) + pad;
  a->ldb = (a->transB ? a->k : a->n) + pad;
  a->ldc = a->n + pad;
  snprintf(c->label, sizeof c->label, "%c%c,beta %.1f%s", a->transA ? 'T' : 'N',
           a->transB ? 'T' : 'N', a->beta, i < 8 ? "" : i == 8 ? ",33x101x97" : ",20x30x1200");
}

static void gm_ref(const phx_op_case *c, double **h) {
  const phx_args_gemm *a = CARGS(c, phx_args_gemm);
  const double *A = h[GM_A], *B = h[GM_B];
  double *C = h[GM_C];
  for (int i = 0; i < a->m; i++)
    for (int j = 0; j < a->n; j++) {
      double s = 0;
      for (int p = 0; p < a->k; p++)
        s += (a->transA ? A[a->aoff + (size_t)p * a->lda + i]
                        : A[a->aoff + (size_t)i * a->lda + p]) *
             (a->transB ? B[a->boff + (size_t)j * a->ldb + p]
                        : B[a->boff + (size_t)p * a->ldb + j]);
      double *r = &C[a->coff + (size_t)i * a->ldc + j];
      *r = a->alpha * s + (a->beta != 0 ? a->beta * *r : 0);
    }
}

static const phx_op_desc d_gemm = {
    "gemm", PHX_OP_gemm, sizeof(phx_args_gemm), 3,
    {BUF(phx_args_gemm, A, REAL, IN, -1, 1, 0),
     BUF(phx_args_gemm, B, REAL, IN, -1, 1, 0),
     BUF(phx_args_gemm, C, REAL, IN | OUT, -1, 1, TOL_SUM)},
    gm_shape, 10, gm_make, NULL, gm_ref, 1};

/* ---- activate, activate_backward ---- */

enum { AC_Z, AC_U };
enum { AB_Z, AB_DU, AB_DZ };

static int ac_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_activate *a = args;
  if (bad_size(a->B) || bad_size(a->M)) return fail_sizes("B or M", err);
  need[AC_Z] = (size_t)a->B * a->M;
  need[AC_U] = (size_t)a->B * (2 * (size_t)a->M + 2);
  return 0;
}

static int ab_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_activate_backward *a = args;
  if (bad_size(a->B) || bad_size(a->M)) return fail_sizes("B or M", err);
  need[AB_Z] = need[AB_DZ] = (size_t)a->B * a->M;
  need[AB_DU] = (size_t)a->B * (2 * (size_t)a->M + 2);
  return 0;
}

static void ac_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  (void)i;
  phx_args_activate *a = ARGS(c, phx_args_activate);
  a->B = sz->B;
  a->M = sz->M;
}

static void ab_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  (void)i;
  phx_args_activate_backward *a = ARGS(c, phx_args_activate_backward);
  a->B = sz->B;
  a->M = sz->M;
}

/* U (B x (2M+2)) of Z (B x M), as activate. */
static void ref_activate(const phx_consts *k, int B, int M_, const double *Z, double *U) {
  const size_t M = (size_t)M_, RU = 2 * M + 2;
  for (int b = 0; b < B; b++) {
    double *u = U + b * RU;
    u[0] = k->vdd / 2;
    u[1] = -k->vdd / 2;
    for (size_t j = 0; j < M; j++) {
      const double z = Z[b * M + j];
      u[2 + j] = k->c[0] + k->c[1] * tanh(k->c[3] * (z - k->c[2]));
      u[2 + M + j] = k->d[0] + k->d[1] * tanh(k->d[3] * (z - k->d[2]));
    }
  }
}

static void ac_ref(const phx_op_case *c, double **h) {
  const phx_args_activate *a = CARGS(c, phx_args_activate);
  ref_activate(&c->k, a->B, a->M, h[AC_Z], h[AC_U]);
}

static void ab_ref(const phx_op_case *c, double **h) {
  const phx_args_activate_backward *a = CARGS(c, phx_args_activate_backward);
  const phx_consts *k = &c->k;
  const size_t M = (size_t)a->M, RU = 2 * M + 2;
  for (int b = 0; b < a->B; b++)
    for (size_t j = 0; j < M; j++) {
      const double z = h[AB_Z][b * M + j];
      const double tc = tanh(k->c[3] * (z - k->c[2])), td = tanh(k->d[3] * (z - k->d[2]));
      h[AB_DZ][b * M + j] = h[AB_DU][b * RU + 2 + j] * k->c[1] * k->c[3] * (1 - tc * tc) +
                            h[AB_DU][b * RU + 2 + M + j] * k->d[1] * k->d[3] * (1 - td * td);
    }
}

/* Around the switching points, where both curves are steep. */
static const phx_op_desc d_activate = {
    "activate", PHX_OP_activate, sizeof(phx_args_activate), 2,
    {BUF(phx_args_activate, Z, REAL, IN, -0.08, 0.04, 0),
     BUF(phx_args_activate, U, REAL, OUT, -1, 1, TOL_ELEM)},
    ac_shape, 1, ac_make, NULL, ac_ref, 0};

static const phx_op_desc d_activate_backward = {
    "activate_backward", PHX_OP_activate_backward, sizeof(phx_args_activate_backward), 3,
    {BUF(phx_args_activate_backward, Z, REAL, IN, -0.08, 0.04, 0),
     BUF(phx_args_activate_backward, dU, REAL, IN, -1, 1, 0),
     BUF(phx_args_activate_backward, dZ, REAL, OUT, -1, 1, TOL_SUM)},
    ab_shape, 1, ab_make, NULL, ab_ref, 0};

/* ---- loss ---- */

enum { LS_U, LS_LABELS, LS_IDX, LS_LOSSV, LS_PRED, LS_DU, LS_TARGETS };

static int ls_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_loss *a = args;
  if (bad_size(a->B) || bad_size(a->M) || bad_size(a->count) || a->ioff > (1UL << 31) ||
      a->ooff > (1UL << 31))
    return fail_sizes("B, M, count, ioff or ooff", err);
  if (a->M < 1) return phx_fail(err, PHX_EINVAL, "loss needs at least one output");
  const size_t RU = 2 * (size_t)a->M + 2;
  need[LS_U] = (size_t)a->B * RU;
  need[LS_LABELS] = a->has_targets ? 0 : (size_t)a->count;
  need[LS_TARGETS] = a->has_targets ? (size_t)a->count * (size_t)a->M : 0;
  need[LS_IDX] = a->ioff + (size_t)a->B;
  need[LS_LOSSV] = need[LS_PRED] = a->ooff + (size_t)a->B;
  need[LS_DU] = a->grad ? (size_t)a->B * RU : 0;
  return 0;
}

/* Cross-entropy and squared error with their gradients, cross-entropy
 * without, and squared error against target voltages (regression). */
static void ls_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  phx_args_loss *a = ARGS(c, phx_args_loss);
  a->B = sz->B;
  a->M = sz->M < 10 ? sz->M : 10;
  a->count = 2 * sz->B + 1;
  a->grad = i != 2;
  a->scale = 1.0 / sz->B;
  a->ioff = 1;
  a->ooff = 2;
  a->has_targets = i == 3;
  c->k.loss = i == 1 || i == 3 ? PHX_LOSS_MSE : PHX_LOSS_CE;
  snprintf(c->label, sizeof c->label, "%s%s%s", c->k.loss == PHX_LOSS_MSE ? "mse" : "ce",
           a->grad ? "" : ",nograd", a->has_targets ? ",targets" : "");
}

/* Labels of the classes, a shuffled order, and outputs beyond the rails
 * too, so that the cross-entropy clamp (zero gradient) is exercised; the
 * bias columns are the rails. */
static void ls_fill(const phx_op_case *c, double **h, phx_rng *rng) {
  const phx_args_loss *a = CARGS(c, phx_args_loss);
  const size_t RU = 2 * (size_t)a->M + 2;
  for (int i = 0; i < a->count && !a->has_targets; i++)
    h[LS_LABELS][i] = (double)phx_rng_below(rng, (uint64_t)a->M);
  fill_perm(h[LS_IDX], a->ioff + (size_t)a->B, a->count, rng);
  for (size_t i = 0; i < (size_t)a->B * RU; i++) {
    const size_t col = i % RU;
    h[LS_U][i] = col == 0   ? c->k.vdd / 2
                 : col == 1 ? -c->k.vdd / 2
                            : -0.3 + 0.6 * phx_rng_uniform(rng);
  }
}

static void ls_ref(const phx_op_case *c, double **h) {
  const phx_args_loss *a = CARGS(c, phx_args_loss);
  const double vdd = c->k.vdd, half = vdd / 2;
  const size_t RU = 2 * (size_t)a->M + 2;
  for (int b = 0; b < a->B; b++) {
    const size_t smp = (size_t)h[LS_IDX][a->ioff + (size_t)b];
    const int y = a->has_targets ? -1 : (int)h[LS_LABELS][smp];
    const double *tg = a->has_targets ? h[LS_TARGETS] + smp * (size_t)a->M : NULL;
    const double *o = h[LS_U] + b * RU + 2;
    double *g = a->grad ? h[LS_DU] + b * RU : NULL;
    if (g) memset(g, 0, RU * sizeof *g);
    double l = 0;
    int best = 0;
    for (int j = 0; j < a->M; j++) {
      if (o[j] > o[best]) best = j;
      const double t = tg ? tg[j] : j == y ? half : -half;
      double dl;
      if (tg || c->k.loss == PHX_LOSS_MSE) {
        l += (o[j] - t) * (o[j] - t);
        dl = 2 * (o[j] - t);
      } else {
        const double hh = (o[j] + half) / vdd, yy = (t + half) / vdd;
        const int clamped = hh < 1e-7 || hh > 1 - 1e-7;
        const double q = clamped ? (hh < 1e-7 ? 1e-7 : 1 - 1e-7) : hh;
        l -= yy * log(q) + (1 - yy) * log(1 - q);
        dl = clamped ? 0 : (q - yy) / (q * (1 - q)) / vdd;
      }
      if (g) g[2 + j] = a->scale * dl;
    }
    h[LS_LOSSV][a->ooff + (size_t)b] = l;
    h[LS_PRED][a->ooff + (size_t)b] = best;
  }
}

static const phx_op_desc d_loss = {
    "loss", PHX_OP_loss, sizeof(phx_args_loss), 7,
    {BUF(phx_args_loss, U, REAL, IN, -0.3, 0.3, 0),
     BUF(phx_args_loss, labels, I32, IN, 0, 0, 0),
     BUF(phx_args_loss, idx, I32, IN, 0, 0, 0),
     BUF(phx_args_loss, lossv, REAL, OUT, -1, 1, TOL_SUM),
     BUF(phx_args_loss, pred, I32, OUT, 0, 0, 0),
     BUF(phx_args_loss, dU, REAL, OUT, -1, 1, TOL_SUM),
     BUF(phx_args_loss, targets, REAL, IN, -0.2, 0.2, 0)},
    ls_shape, 4, ls_make, ls_fill, ls_ref, 0};

/* ---- opt_step ---- */

enum { OS_THETA, OS_GRAD, OS_M, OS_V };

static int os_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_opt_step *a = args;
  int rc = check_optim(a->o, err);
  if (rc) return rc;
  if (a->n > ((size_t)1 << 31)) return fail_sizes("n", err);
  need[OS_THETA] = need[OS_GRAD] = a->n;
  need[OS_M] = a->o->kind != PHX_OPT_SGD ? a->n : 0;
  need[OS_V] = a->o->kind == PHX_OPT_ADAM ? a->n : 0;
  return 0;
}

/* SGD, momentum, and Adam at its first and a later step. */
static void os_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  static const char *names[] = {"sgd", "momentum", "adam", "adam,t=3"};
  phx_args_opt_step *a = ARGS(c, phx_args_opt_step);
  make_optim(c, i < 3 ? i : PHX_OPT_ADAM, i < 3 ? 1 : 3);
  a->o = &c->optim;
  a->n = (size_t)sz->M * (2 * (size_t)sz->N + 2);
  snprintf(c->label, sizeof c->label, "%s", names[i]);
}

static void os_ref(const phx_op_case *c, double **h) {
  const phx_args_opt_step *a = CARGS(c, phx_args_opt_step);
  ref_update(a->o, a->n, h[OS_THETA], h[OS_GRAD], h[OS_M], h[OS_V]);
}

static const phx_op_desc d_opt_step = {
    "opt_step", PHX_OP_opt_step, sizeof(phx_args_opt_step), 4,
    {BUF(phx_args_opt_step, theta, REAL, IN | OUT, -2, 2, TOL_ELEM),
     BUF(phx_args_opt_step, grad, REAL, IN, -0.1, 0.1, 0),
     BUF(phx_args_opt_step, m, REAL, IN | OUT, -0.1, 0.1, TOL_ELEM),
     BUF(phx_args_opt_step, v, REAL, IN | OUT, 0, 0.01, TOL_ELEM)},
    os_shape, 4, os_make, NULL, os_ref, 0};

/* ---- layer_forward: gemm then activate, fused ---- */

enum { LF_A, LF_WT, LF_Z, LF_U };

static int lf_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_layer_forward *a = args;
  if (bad_size(a->B) || bad_size(a->M) || bad_size(a->K) || a->B == 0 || a->M == 0)
    return fail_sizes("B, M or K", err);
  need[LF_A] = (size_t)a->B * a->K;
  need[LF_WT] = (size_t)a->M * a->K;
  need[LF_Z] = (size_t)a->B * a->M;
  need[LF_U] = (size_t)a->B * (2 * (size_t)a->M + 2);
  return 0;
}

/* A hidden or output layer (K = R), then the input layer (K = N+1). */
static void lf_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  phx_args_layer_forward *a = ARGS(c, phx_args_layer_forward);
  a->B = sz->B;
  a->M = sz->M;
  a->K = i ? sz->N + 1 : 2 * sz->N + 2;
  snprintf(c->label, sizeof c->label, "%s", i ? "fold" : "");
}

/* The unfused ops' references in turn: the product, then activate. */
static void lf_ref(const phx_op_case *c, double **h) {
  const phx_args_layer_forward *a = CARGS(c, phx_args_layer_forward);
  const size_t K = (size_t)a->K;
  for (int b = 0; b < a->B; b++)
    for (int j = 0; j < a->M; j++) {
      double s = 0;
      for (size_t p = 0; p < K; p++) s += h[LF_A][b * K + p] * h[LF_WT][j * K + p];
      h[LF_Z][(size_t)b * a->M + j] = s;
    }
  ref_activate(&c->k, a->B, a->M, h[LF_Z], h[LF_U]);
}

/* Inputs and weights whose products land around the switching points. */
static const phx_op_desc d_layer_forward = {
    "layer_forward", PHX_OP_layer_forward, sizeof(phx_args_layer_forward), 4,
    {BUF(phx_args_layer_forward, A, REAL, IN, -0.25, 0.25, 0),
     BUF(phx_args_layer_forward, Wt, REAL, IN, -0.005, 0.01, 0),
     BUF(phx_args_layer_forward, Z, REAL, OUT, -1, 1, TOL_SUM),
     BUF(phx_args_layer_forward, U, REAL, OUT, -1, 1, TOL_SUM)},
    lf_shape, 2, lf_make, NULL, lf_ref, 0};

/* ---- step_map ---- */

enum { SM_THETA, SM_W, SM_S, SM_E, SM_P, SM_DWE, SM_DTHETA, SM_M, SM_V };

static int sm_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_step_map *a = args;
  int rc = map_shape(a->M, a->R, err);
  if (!rc && a->o) rc = check_optim(a->o, err);
  if (rc) return rc;
  const size_t MR = (size_t)a->M * a->R, N = (size_t)(a->R - 2) / 2;
  const size_t ME = (size_t)a->M * (N + 1);
  need[SM_THETA] = need[SM_W] = need[SM_P] = MR;
  need[SM_S] = (size_t)a->M;
  need[SM_E] = a->fold ? ME : 0;
  need[SM_DWE] = a->o ? (a->fold ? ME : MR) : 0;
  need[SM_DTHETA] = a->o ? MR : 0;
  need[SM_M] = a->o && a->o->kind != PHX_OPT_SGD ? MR : 0;
  need[SM_V] = a->o && a->o->kind == PHX_OPT_ADAM ? MR : 0;
  return 0;
}

/* Map only, then a step of each optimizer; plain and folded. */
static void sm_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  static const char *kinds[] = {"map", "sgd", "momentum", "adam"};
  phx_args_step_map *a = ARGS(c, phx_args_step_map);
  const int kind = i % 4 - 1;
  make_optim(c, kind, 2);
  a->o = kind < 0 ? NULL : &c->optim;
  a->M = sz->M;
  a->R = 2 * sz->N + 2;
  a->fold = i / 4;
  snprintf(c->label, sizeof c->label, "%s%s", kinds[i % 4], a->fold ? ",fold" : "");
}

/* W, S, E and P of the random theta: the state a step starts from. */
static void sm_fill(const phx_op_case *c, double **h, phx_rng *rng) {
  (void)rng;
  const phx_args_step_map *a = CARGS(c, phx_args_step_map);
  ref_map(&c->k, a->M, a->R, h[SM_THETA], h[SM_W], h[SM_S], a->fold ? h[SM_E] : NULL,
          h[SM_P]);
}

static void sm_ref(const phx_op_case *c, double **h) {
  const phx_args_step_map *a = CARGS(c, phx_args_step_map);
  if (a->o) {
    ref_map_backward(&c->k, a->M, a->R, a->fold, h[SM_THETA], h[SM_W], h[SM_S], h[SM_DWE], NULL, NULL,
                     h[SM_DTHETA]);
    ref_update(a->o, (size_t)a->M * a->R, h[SM_THETA], h[SM_DTHETA], h[SM_M], h[SM_V]);
  }
  ref_map(&c->k, a->M, a->R, h[SM_THETA], h[SM_W], h[SM_S], a->fold ? h[SM_E] : NULL,
          h[SM_P]);
}

static const phx_op_desc d_step_map = {
    "step_map", PHX_OP_step_map, sizeof(phx_args_step_map), 9,
    {BUF(phx_args_step_map, theta, REAL, IN | OUT, -4, 4, TOL_SUM),
     BUF(phx_args_step_map, W, REAL, IN | OUT, 0, 1, TOL_SUM),
     BUF(phx_args_step_map, S, REAL, IN | OUT, 1, 2, TOL_SUM),
     BUF(phx_args_step_map, E, REAL, IN | OUT, -1, 1, TOL_SUM),
     BUF(phx_args_step_map, P, REAL, IN | OUT, 0, 0.25, TOL_SUM),
     BUF(phx_args_step_map, dWE, REAL, IN, -1, 1, 0),
     BUF(phx_args_step_map, dtheta, REAL, OUT, -1, 1, TOL_SUM),
     BUF(phx_args_step_map, m, REAL, IN | OUT, -0.1, 0.1, TOL_SUM),
     BUF(phx_args_step_map, v, REAL, IN | OUT, 0, 0.01, TOL_SUM)},
    sm_shape, 8, sm_make, sm_fill, sm_ref, 0};

/* ---- crossbar_power ---- */

enum { CP_U, CP_Z, CP_W, CP_S, CP_P };

static int cp_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_crossbar_power *a = args;
  int rc = map_shape(a->M, a->R, err);
  if (rc) return rc;
  if (bad_size(a->B)) return fail_sizes("B", err);
  const size_t N = (size_t)(a->R - 2) / 2;
  need[CP_U] = (size_t)a->B * (a->fold ? N + 1 : (size_t)a->R);
  need[CP_Z] = (size_t)a->B * a->M;
  need[CP_W] = (size_t)a->M * a->R;
  need[CP_S] = (size_t)a->M;
  need[CP_P] = (size_t)a->B;
  return 0;
}

/* A hidden layer (rows u), and the input layer from its folded operand. */
static void cp_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  phx_args_crossbar_power *a = ARGS(c, phx_args_crossbar_power);
  int mrf[3];
  map_make(i, sz, c, mrf);
  a->M = mrf[0], a->R = mrf[1], a->fold = mrf[2];
  a->B = sz->B;
}

/* The row voltages u of a case: U itself, or unfolded from V. */
static double row_u(const phx_args_crossbar_power *a, const phx_consts *k, const double *U,
                    int b, int r) {
  if (!a->fold) return U[(size_t)b * a->R + r];
  const int N = (a->R - 2) / 2;
  const double *v = U + (size_t)b * (N + 1);
  return r == 0 ? k->vdd / 2 : r == 1 ? -k->vdd / 2 : r < 2 + N ? v[r - 1] : -v[r - 1 - N];
}

/* A real divider: rows of W positive summing to one, S of the size a
 * crossbar has, z = W u, V[b][0] = 1 when folded. */
static void cp_fill(const phx_op_case *c, double **h, phx_rng *rng) {
  const phx_args_crossbar_power *a = CARGS(c, phx_args_crossbar_power);
  const int M = a->M, R = a->R;
  for (int j = 0; j < M; j++) {
    double sum = 0;
    for (int r = 0; r < R; r++) sum += h[CP_W][(size_t)j * R + r] = 0.1 + phx_rng_uniform(rng);
    for (int r = 0; r < R; r++) h[CP_W][(size_t)j * R + r] /= sum;
    h[CP_S][j] = R * c->k.gmin * (1 + c->k.k * phx_rng_uniform(rng));
  }
  const int N = (R - 2) / 2;
  for (int b = 0; b < a->B; b++) {
    if (a->fold) h[CP_U][(size_t)b * (N + 1)] = 1;
    for (int j = 0; j < M; j++) {
      double z = 0;
      for (int r = 0; r < R; r++) z += h[CP_W][(size_t)j * R + r] * row_u(a, &c->k, h[CP_U], b, r);
      h[CP_Z][(size_t)b * M + j] = z;
    }
  }
}

/* Straight from the definition: sum of g (u - z)^2 over the crosspoints. */
static void cp_ref(const phx_op_case *c, double **h) {
  const phx_args_crossbar_power *a = CARGS(c, phx_args_crossbar_power);
  for (int b = 0; b < a->B; b++) {
    double p = 0;
    for (int j = 0; j < a->M; j++)
      for (int r = 0; r < a->R; r++) {
        const double g = h[CP_W][(size_t)j * a->R + r] * h[CP_S][j];
        const double d = row_u(a, &c->k, h[CP_U], b, r) - h[CP_Z][(size_t)b * a->M + j];
        p += g * d * d;
      }
    h[CP_P][b] = p;
  }
}

static const phx_op_desc d_crossbar_power = {
    "crossbar_power", PHX_OP_crossbar_power, sizeof(phx_args_crossbar_power), 5,
    {BUF(phx_args_crossbar_power, U, REAL, IN, -0.25, 0.25, 0),
     BUF(phx_args_crossbar_power, Z, REAL, IN, -0.1, 0.1, 0),
     BUF(phx_args_crossbar_power, W, REAL, IN, 0, 1, 0),
     BUF(phx_args_crossbar_power, S, REAL, IN, 1e-6, 2e-6, 0),
     BUF(phx_args_crossbar_power, P, REAL, OUT, -1, 1, TOL_SUM)},
    cp_shape, 2, cp_make, cp_fill, cp_ref, 0};

/* ---- map_vary ---- */

enum { MV_THETA, MV_W, MV_S, MV_E };

static int mv_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_map_vary *a = args;
  int rc = map_shape(a->M, a->R, err);
  if (!rc) rc = phx_variation_check(a->v, err);
  if (rc) return rc;
  const size_t MR = (size_t)a->M * a->R, N = (size_t)(a->R - 2) / 2;
  need[MV_THETA] = need[MV_W] = MR;
  need[MV_S] = (size_t)a->M;
  need[MV_E] = a->fold ? (size_t)a->M * (N + 1) : 0;
  return 0;
}

/* A hard chip (8 levels, 20 % lognormal, read noise, 5 % stuck each way),
 * a Gaussian one, folded, no variation at all (map_forward's result), and
 * a device's own uneven levels (in S, for the default gmin 0.12 uS) with a
 * 10 % spread, folded. */
static const phx_variation mv_cases[4] = {
    {8, 0.2, PHX_VAR_LOGNORMAL, 0.02, 0.05, 0.05, 0, {0}, 0},
    {0, 0.1, PHX_VAR_GAUSSIAN, 0, 0, 0, 0, {0}, 0},
    {0, 0, PHX_VAR_LOGNORMAL, 0, 0, 0, 0, {0}, 0},
    {0, 0.1, PHX_VAR_LOGNORMAL, 0, 0.02, 0, 6, {0.12e-6, 0.15e-6, 0.21e-6, 0.33e-6, 0.6e-6, 0.99e-6}, 0},
};

static void mv_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  static const char *names[] = {"hard", "gaussian,fold", "ideal", "level list,fold"};
  phx_args_map_vary *a = ARGS(c, phx_args_map_vary);
  a->M = sz->M;
  a->R = 2 * sz->N + 2;
  a->fold = i == 1 || i == 3;
  a->v = &mv_cases[i];
  a->key = phx_vary_key(7, i, 1);
  snprintf(c->label, sizeof c->label, "%s", names[i]);
}

static void mv_ref(const phx_op_case *c, double **h) {
  const phx_args_map_vary *a = CARGS(c, phx_args_map_vary);
  const phx_variation *v = a->v;
  const double k = c->k.k, gmin = c->k.gmin;
  const int M = a->M, R = a->R, N = (R - 2) / 2;
  for (int j = 0; j < M; j++) {
    double sum = 0, *w = h[MV_W] + (size_t)j * R;
    for (int r = 0; r < R; r++) {
      const uint32_t i = (uint32_t)(j * R + r);
      const double gu = phx_vary_cell_ref(1 + k * sig(h[MV_THETA][i]), v, k, gmin, a->key, i);
      sum += w[r] = gu;
    }
    for (int r = 0; r < R; r++) w[r] /= sum;
    h[MV_S][j] = gmin * sum;
    if (!a->fold) continue;
    double *e = h[MV_E] + (size_t)j * (N + 1);
    e[0] = c->k.vdd / 2 * (w[0] - w[1]);
    for (int i = 0; i < N; i++) e[1 + i] = w[2 + i] - w[2 + N + i];
  }
}

static const phx_op_desc d_map_vary = {
    "map_vary", PHX_OP_map_vary, sizeof(phx_args_map_vary), 4,
    {BUF(phx_args_map_vary, theta, REAL, IN, -4, 4, 0),
     BUF(phx_args_map_vary, W, REAL, OUT, -1, 1, TOL_SUM),
     BUF(phx_args_map_vary, S, REAL, OUT, -1, 1, TOL_SUM),
     BUF(phx_args_map_vary, E, REAL, OUT, -1, 1, TOL_SUM)},
    mv_shape, 4, mv_make, NULL, mv_ref, 0};

/* ---- the table ---- */

/* ---- activate_table, activate_table_backward, row_load ---- */

enum { AT_Z, AT_T, AT_LOADS, AT_G, AT_U };
enum { ATB_Z, ATB_T, ATB_LOADS, ATB_G, ATB_DU, ATB_DZ, ATB_DG };

/* The test table: 5 loads up to 8 uS, 201 inputs over the rails. */
#define AT_L 5
#define AT_NV 201

static int at_sizes(int B, int M, int L, int NV, double dv, phx_err *err) {
  if (bad_size(B) || bad_size(M) || L < 1 || NV < 2 || (long)L * NV > (1L << 28))
    return fail_sizes("B, M, L (>= 1) or NV (>= 2)", err);
  if (!(dv > 0)) return phx_fail(err, PHX_EINVAL, "table step dv must be > 0");
  return 0;
}

static int at_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_activate_table *a = args;
  int rc = at_sizes(a->B, a->M, a->L, a->NV, a->dv, err);
  if (rc) return rc;
  const size_t RU = 2 * (size_t)a->M + 2;
  need[AT_Z] = (size_t)a->B * a->M;
  need[AT_T] = (size_t)a->L * a->NV * 2;
  need[AT_LOADS] = (size_t)a->L;
  need[AT_G] = a->loaded ? RU : 0;
  need[AT_U] = (size_t)a->B * RU;
  return 0;
}

static int atb_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_activate_table_backward *a = args;
  int rc = at_sizes(a->B, a->M, a->L, a->NV, a->dv, err);
  if (rc) return rc;
  const size_t RU = 2 * (size_t)a->M + 2;
  need[ATB_Z] = need[ATB_DZ] = (size_t)a->B * a->M;
  need[ATB_T] = (size_t)a->L * a->NV * 2;
  need[ATB_LOADS] = (size_t)a->L;
  need[ATB_G] = need[ATB_DG] = a->loaded ? RU : 0;
  need[ATB_DU] = (size_t)a->B * RU;
  return 0;
}

/* Case 0: unloaded; 1: loaded; 2 (backward): loaded, accumulating. */
static void at_common(int i, const phx_op_sizes *sz, phx_op_case *c, int *BMLN, int *loaded,
                      double *v0, double *dv) {
  BMLN[0] = sz->B;
  BMLN[1] = sz->M;
  BMLN[2] = AT_L;
  BMLN[3] = AT_NV;
  *loaded = i > 0;
  *v0 = -c->k.vdd / 2;
  *dv = c->k.vdd / (AT_NV - 1);
  snprintf(c->label, sizeof c->label, "%s", i == 0 ? "" : i == 1 ? "loaded" : "loaded+acc");
}

static void at_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  phx_args_activate_table *a = ARGS(c, phx_args_activate_table);
  int q[4];
  at_common(i, sz, c, q, &a->loaded, &a->v0, &a->dv);
  a->B = q[0], a->M = q[1], a->L = q[2], a->NV = q[3];
}

static void atb_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  phx_args_activate_table_backward *a = ARGS(c, phx_args_activate_table_backward);
  int q[4];
  at_common(i, sz, c, q, &a->loaded, &a->v0, &a->dv);
  a->B = q[0], a->M = q[1], a->L = q[2], a->NV = q[3];
  a->accumulate = i == 2;
}

/* A plausible inverter under load: a steep tanh that sags as the load
 * draws current through 150 kOhm; loads 0, 1, 2, 4, 8 uS. */
static void at_table(double *T, double *loads, double vdd, double v0, double dv) {
  for (int k = 0; k < AT_L; k++) {
    loads[k] = k ? 1e-6 * (double)(1 << (k - 1)) : 0;
    for (int n = 0; n < AT_NV; n++) {
      const double v = v0 + n * dv;
      T[(k * AT_NV + n) * 2] = -vdd / 2 * tanh(30 * (v + 0.02)) / (1 + 1.5e5 * loads[k]);
    }
  }
  phx_curve_slopes(T, AT_L, AT_NV, dv);
}

static void at_fill(const phx_op_case *c, double **h, phx_rng *rng) {
  (void)rng;
  const phx_args_activate_table *a = CARGS(c, phx_args_activate_table);
  at_table(h[AT_T], h[AT_LOADS], c->k.vdd, a->v0, a->dv);
}

static void atb_fill(const phx_op_case *c, double **h, phx_rng *rng) {
  (void)rng;
  const phx_args_activate_table_backward *a = CARGS(c, phx_args_activate_table_backward);
  at_table(h[ATB_T], h[ATB_LOADS], c->k.vdd, a->v0, a->dv);
}

static phx_curve at_curve(int L, int NV, double v0, double dv, const double *T,
                          const double *loads) {
  const phx_curve cv = {L, NV, v0, dv, T, loads};
  return cv;
}

static void at_ref(const phx_op_case *c, double **h) {
  const phx_args_activate_table *a = CARGS(c, phx_args_activate_table);
  const phx_curve cv = at_curve(a->L, a->NV, a->v0, a->dv, h[AT_T], h[AT_LOADS]);
  const size_t M = (size_t)a->M, RU = 2 * M + 2;
  for (int b = 0; b < a->B; b++) {
    double *u = h[AT_U] + b * RU, fv, fg;
    u[0] = c->k.vdd / 2;
    u[1] = -c->k.vdd / 2;
    for (size_t j = 0; j < M; j++) {
      phx_curve_eval(&cv, h[AT_Z][b * M + j], a->loaded ? h[AT_G][2 + j] : 0, &u[2 + j], &fv,
                     &fg);
      phx_curve_eval(&cv, u[2 + j], a->loaded ? h[AT_G][2 + M + j] : 0, &u[2 + M + j], &fv,
                     &fg);
    }
  }
}

static void atb_ref(const phx_op_case *c, double **h) {
  const phx_args_activate_table_backward *a = CARGS(c, phx_args_activate_table_backward);
  const phx_curve cv = at_curve(a->L, a->NV, a->v0, a->dv, h[ATB_T], h[ATB_LOADS]);
  const size_t M = (size_t)a->M, RU = 2 * M + 2;
  const double *G = a->loaded ? h[ATB_G] : NULL;
  double *dG = a->loaded ? h[ATB_DG] : NULL;
  if (dG && !a->accumulate)
    for (size_t r = 0; r < RU; r++) dG[r] = 0;
  for (int b = 0; b < a->B; b++)
    for (size_t j = 0; j < M; j++) {
      const double *du = h[ATB_DU] + b * RU;
      double om, omv, omg, op, opv, opg;
      phx_curve_eval(&cv, h[ATB_Z][b * M + j], G ? G[2 + j] : 0, &om, &omv, &omg);
      phx_curve_eval(&cv, om, G ? G[2 + M + j] : 0, &op, &opv, &opg);
      const double da = du[2 + j] + du[2 + M + j] * opv;
      h[ATB_DZ][b * M + j] = da * omv;
      if (dG) {
        dG[2 + j] += da * omg;
        dG[2 + M + j] += du[2 + M + j] * opg;
      }
    }
}

/* Inputs past both rails (the table's ends), loads past the last one. */
static const phx_op_desc d_activate_table = {
    "activate_table", PHX_OP_activate_table, sizeof(phx_args_activate_table), 5,
    {BUF(phx_args_activate_table, Z, REAL, IN, -0.27, 0.27, 0),
     BUF(phx_args_activate_table, T, REAL, IN, 0, 0, 0),
     BUF(phx_args_activate_table, loads, REAL, IN, 0, 0, 0),
     BUF(phx_args_activate_table, G, REAL, IN, 0, 10e-6, 0),
     BUF(phx_args_activate_table, U, REAL, OUT, -1, 1, TOL_SUM)},
    at_shape, 2, at_make, at_fill, at_ref, 0};

static const phx_op_desc d_activate_table_backward = {
    "activate_table_backward", PHX_OP_activate_table_backward,
    sizeof(phx_args_activate_table_backward), 7,
    {BUF(phx_args_activate_table_backward, Z, REAL, IN, -0.27, 0.27, 0),
     BUF(phx_args_activate_table_backward, T, REAL, IN, 0, 0, 0),
     BUF(phx_args_activate_table_backward, loads, REAL, IN, 0, 0, 0),
     BUF(phx_args_activate_table_backward, G, REAL, IN, 0, 10e-6, 0),
     BUF(phx_args_activate_table_backward, dU, REAL, IN, -1, 1, 0),
     BUF(phx_args_activate_table_backward, dZ, REAL, OUT, -1, 1, TOL_SUM),
     BUF(phx_args_activate_table_backward, dG, REAL, IN | OUT, -1e3, 1e3, TOL_SUM)},
    atb_shape, 3, atb_make, atb_fill, atb_ref, 0};

enum { RL_W, RL_S, RL_G };

static int rl_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_row_load *a = args;
  int rc = map_shape(a->M, a->R, err);
  if (rc) return rc;
  need[RL_W] = (size_t)a->M * a->R;
  need[RL_S] = (size_t)a->M;
  need[RL_G] = (size_t)a->R;
  return 0;
}

static void rl_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  (void)i;
  phx_args_row_load *a = ARGS(c, phx_args_row_load);
  a->M = sz->M;
  a->R = 2 * sz->N + 2;
}

static void rl_ref(const phx_op_case *c, double **h) {
  const phx_args_row_load *a = CARGS(c, phx_args_row_load);
  for (int r = 0; r < a->R; r++) {
    double g = 0;
    for (int j = 0; j < a->M; j++) g += h[RL_W][(size_t)j * a->R + r] * h[RL_S][j];
    h[RL_G][r] = g;
  }
}

static const phx_op_desc d_row_load = {
    "row_load", PHX_OP_row_load, sizeof(phx_args_row_load), 3,
    {BUF(phx_args_row_load, W, REAL, IN, 0, 0.1, 0),
     BUF(phx_args_row_load, S, REAL, IN, 1e-6, 2e-5, 0),
     BUF(phx_args_row_load, G, REAL, OUT, -1, 1, TOL_SUM)},
    rl_shape, 1, rl_make, NULL, rl_ref, 0};

/* ---- activate_return, activate_return_backward ---- */

enum { AR_Z, AR_T, AR_LOADS, AR_G, AR_WN, AR_SN, AR_U };
/* the backward op's first six slots are the forward's (ar_inputs) */
enum { ARB_ZN = AR_SN + 1, ARB_DZN, ARB_DZ, ARB_DG, ARB_ER };

static int ar_sizes(int B, int M, int K, int L, int NV, double dv, phx_err *err) {
  int rc = at_sizes(B, M, L, NV, dv, err);
  if (rc) return rc;
  if (K < 1 || K > 4096 || (long)K * (2L * M + 2) > (1L << 30))
    return fail_sizes("K (1 to 4096 columns of the next layer)", err);
  return 0;
}

static int ar_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_activate_return *a = args;
  int rc = ar_sizes(a->B, a->M, a->K, a->L, a->NV, a->dv, err);
  if (rc) return rc;
  const size_t RU = 2 * (size_t)a->M + 2;
  need[AR_Z] = (size_t)a->B * a->M;
  need[AR_T] = (size_t)a->L * a->NV * 2;
  need[AR_LOADS] = (size_t)a->L;
  need[AR_G] = RU;
  need[AR_WN] = (size_t)a->K * RU;
  need[AR_SN] = (size_t)a->K;
  need[AR_U] = (size_t)a->B * RU;
  return 0;
}

static int arb_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_activate_return_backward *a = args;
  int rc = ar_sizes(a->B, a->M, a->K, a->L, a->NV, a->dv, err);
  if (rc) return rc;
  const size_t RU = 2 * (size_t)a->M + 2;
  need[AR_Z] = need[ARB_DZ] = (size_t)a->B * a->M;
  need[AR_T] = (size_t)a->L * a->NV * 2;
  need[AR_LOADS] = (size_t)a->L;
  need[AR_G] = need[ARB_DG] = RU;
  need[AR_WN] = (size_t)a->K * RU;
  need[AR_SN] = (size_t)a->K;
  need[ARB_ZN] = need[ARB_DZN] = (size_t)a->B * a->K;
  need[ARB_ER] = (size_t)a->B * RU;
  return 0;
}

/* Up to 4 columns in the next layer; case 1 (backward): accumulating. */
static void ar_common(const phx_op_sizes *sz, phx_op_case *c, int *BMKLN, double *v0,
                      double *dv) {
  BMKLN[0] = sz->B;
  BMKLN[1] = sz->M;
  BMKLN[2] = sz->M < 4 ? sz->M : 4;
  BMKLN[3] = AT_L;
  BMKLN[4] = AT_NV;
  *v0 = -c->k.vdd / 2;
  *dv = c->k.vdd / (AT_NV - 1);
}

static void ar_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  (void)i;
  phx_args_activate_return *a = ARGS(c, phx_args_activate_return);
  int q[5];
  ar_common(sz, c, q, &a->v0, &a->dv);
  a->B = q[0], a->M = q[1], a->K = q[2], a->L = q[3], a->NV = q[4];
}

static void arb_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  phx_args_activate_return_backward *a = ARGS(c, phx_args_activate_return_backward);
  int q[5];
  ar_common(sz, c, q, &a->v0, &a->dv);
  a->B = q[0], a->M = q[1], a->K = q[2], a->L = q[3], a->NV = q[4];
  a->accumulate = i == 1;
  snprintf(c->label, sizeof c->label, "%s", i ? "acc" : "");
}

/* A real next layer: W's rows normalised, S_k about R uS (a row of 1 uS
 * cells), G its row loads; then the test table. */
static void ar_layer(int M, int K, double *W, double *S, double *G) {
  const int R = 2 * M + 2;
  for (int k = 0; k < K; k++) {
    double s = 0;
    for (int r = 0; r < R; r++) s += W[(size_t)k * R + r];
    for (int r = 0; r < R; r++) W[(size_t)k * R + r] /= s;
    S[k] *= R * 1e-6;
  }
  for (int r = 0; r < R; r++) {
    G[r] = 0;
    for (int k = 0; k < K; k++) G[r] += W[(size_t)k * R + r] * S[k];
  }
}

/* n values rounded to float: the solve's conditioning (two steep
 * inverters in series) would otherwise turn the rounding of the inputs
 * on a float backend into most of the difference from the reference. */
static void ar_round(double *h, size_t n) {
  for (size_t i = 0; i < n; i++) h[i] = (double)(float)h[i];
}

static phx_ret ar_ret(const phx_op_case *c, int M, int K, const phx_curve *cv, const double *W,
                      const double *S, const double *G, double *work) {
  const phx_ret p = {M, K, c->k.vdd, cv, W, S, G, work};
  return p;
}

/* The inputs both ops share, slots Z, T, loads, G, Wn, Sn (the same
 * places in both): a real next layer and the test table, in float. */
static void ar_inputs(const phx_op_case *c, int B, int M, int K, int L, int NV, double v0,
                      double dv, double **h) {
  const size_t RU = 2 * (size_t)M + 2;
  ar_layer(M, K, h[AR_WN], h[AR_SN], h[AR_G]);
  at_table(h[AR_T], h[AR_LOADS], c->k.vdd, v0, dv);
  ar_round(h[AR_Z], (size_t)B * M);
  ar_round(h[AR_WN], (size_t)K * RU);
  ar_round(h[AR_SN], (size_t)K);
  ar_round(h[AR_G], RU);
  ar_round(h[AR_T], (size_t)L * NV * 2);
  ar_round(h[AR_LOADS], (size_t)L);
}

static void ar_fill(const phx_op_case *c, double **h, phx_rng *rng) {
  (void)rng;
  const phx_args_activate_return *a = CARGS(c, phx_args_activate_return);
  ar_inputs(c, a->B, a->M, a->K, a->L, a->NV, a->v0, a->dv, h);
}

static void ar_ref(const phx_op_case *c, double **h) {
  const phx_args_activate_return *a = CARGS(c, phx_args_activate_return);
  const phx_curve cv = at_curve(a->L, a->NV, a->v0, a->dv, h[AR_T], h[AR_LOADS]);
  const size_t RU = 2 * (size_t)a->M + 2;
  double *work = malloc((phx_ret_work(a->M, a->K) + a->K) * sizeof *work);
  if (!work) return; /* the outputs stay NaN: the check fails */
  const phx_ret p = ar_ret(c, a->M, a->K, &cv, h[AR_WN], h[AR_SN], h[AR_G], work + a->K);
  for (int b = 0; b < a->B; b++)
    phx_ret_forward(&p, h[AR_Z] + (size_t)b * a->M, h[AR_U] + b * RU, work);
  free(work);
}

/* Zn: the columns the forward pass settles at. */
static void arb_fill(const phx_op_case *c, double **h, phx_rng *rng) {
  (void)rng;
  const phx_args_activate_return_backward *a = CARGS(c, phx_args_activate_return_backward);
  const size_t RU = 2 * (size_t)a->M + 2;
  ar_inputs(c, a->B, a->M, a->K, a->L, a->NV, a->v0, a->dv, h);
  const phx_curve cv = at_curve(a->L, a->NV, a->v0, a->dv, h[AR_T], h[AR_LOADS]);
  double *work = malloc((phx_ret_work(a->M, a->K) + RU) * sizeof *work);
  if (!work) return;
  const phx_ret p = ar_ret(c, a->M, a->K, &cv, h[AR_WN], h[AR_SN], h[AR_G], work + RU);
  for (int b = 0; b < a->B; b++)
    phx_ret_forward(&p, h[AR_Z] + (size_t)b * a->M, work, h[ARB_ZN] + (size_t)b * a->K);
  ar_round(h[ARB_ZN], (size_t)a->B * a->K);
  ar_round(h[ARB_DZN], (size_t)a->B * a->K);
  ar_round(h[ARB_DG], RU);
  free(work);
}

static void arb_ref(const phx_op_case *c, double **h) {
  const phx_args_activate_return_backward *a = CARGS(c, phx_args_activate_return_backward);
  const phx_curve cv = at_curve(a->L, a->NV, a->v0, a->dv, h[AR_T], h[AR_LOADS]);
  const size_t RU = 2 * (size_t)a->M + 2, K = (size_t)a->K;
  double *work = malloc((phx_ret_work(a->M, a->K) + K + RU) * sizeof *work);
  if (!work) return;
  double *lam = work, *cr = lam + K;
  const phx_ret p = ar_ret(c, a->M, a->K, &cv, h[AR_WN], h[AR_SN], h[AR_G], cr + RU);
  double *dG = h[ARB_DG];
  if (!a->accumulate)
    for (size_t r = 0; r < RU; r++) dG[r] = 0;
  for (int b = 0; b < a->B; b++) {
    double *dzn = h[ARB_DZN] + b * K;
    phx_ret_backward(&p, h[AR_Z] + (size_t)b * a->M, h[ARB_ZN] + b * K, dzn, lam,
                     h[ARB_DZ] + (size_t)b * a->M, cr, h[ARB_ER] + b * RU);
    memcpy(dzn, lam, K * sizeof *lam);
    for (size_t r = 0; r < RU; r++) dG[r] += cr[r];
  }
  free(work);
}

static const phx_op_desc d_activate_return = {
    "activate_return", PHX_OP_activate_return, sizeof(phx_args_activate_return), 7,
    {BUF(phx_args_activate_return, Z, REAL, IN, -0.27, 0.27, 0),
     BUF(phx_args_activate_return, T, REAL, IN, 0, 0, 0),
     BUF(phx_args_activate_return, loads, REAL, IN, 0, 0, 0),
     BUF(phx_args_activate_return, G, REAL, IN, 0, 0, 0),
     BUF(phx_args_activate_return, Wn, REAL, IN, 0.1, 1, 0),
     BUF(phx_args_activate_return, Sn, REAL, IN, 0.5, 1.5, 0),
     BUF(phx_args_activate_return, U, REAL, OUT, -1, 1, TOL_SUM)},
    ar_shape, 1, ar_make, ar_fill, ar_ref, 0};

static const phx_op_desc d_activate_return_backward = {
    "activate_return_backward", PHX_OP_activate_return_backward,
    sizeof(phx_args_activate_return_backward), 11,
    {BUF(phx_args_activate_return_backward, Z, REAL, IN, -0.27, 0.27, 0),
     BUF(phx_args_activate_return_backward, T, REAL, IN, 0, 0, 0),
     BUF(phx_args_activate_return_backward, loads, REAL, IN, 0, 0, 0),
     BUF(phx_args_activate_return_backward, G, REAL, IN, 0, 0, 0),
     BUF(phx_args_activate_return_backward, Wn, REAL, IN, 0.1, 1, 0),
     BUF(phx_args_activate_return_backward, Sn, REAL, IN, 0.5, 1.5, 0),
     BUF(phx_args_activate_return_backward, Zn, REAL, IN, 0, 0, 0),
     BUF(phx_args_activate_return_backward, dZn, REAL, IN | OUT, -1, 1, TOL_SUM),
     BUF(phx_args_activate_return_backward, dZ, REAL, OUT, -1, 1, TOL_SUM),
     BUF(phx_args_activate_return_backward, dG, REAL, IN | OUT, -1e3, 1e3, TOL_SUM),
     BUF(phx_args_activate_return_backward, Er, REAL, OUT, -1, 1, TOL_SUM)},
    arb_shape, 2, arb_make, arb_fill, arb_ref, 0};

/* ---- neuron_offset ---- */

enum { NO_Z, NO_D, NO_ZS };

static int no_shape(const void *args, size_t *need, phx_err *err) {
  const phx_args_neuron_offset *a = args;
  if (bad_size(a->B) || bad_size(a->M) || a->G < 1 || bad_size(a->G) ||
      (long)a->B * a->M > (1L << 31))
    return fail_sizes("B, M or G (G >= 1)", err);
  need[NO_Z] = need[NO_ZS] = (size_t)a->B * a->M;
  need[NO_D] = (size_t)((a->B + a->G - 1) / a->G) * a->M;
  return 0;
}

/* One chip's offsets (G = B), and chips of 3 rows each. */
static void no_make(int i, const phx_op_sizes *sz, phx_op_case *c) {
  phx_args_neuron_offset *a = ARGS(c, phx_args_neuron_offset);
  a->B = sz->B;
  a->M = sz->M;
  a->G = i == 0 ? sz->B : 3;
  snprintf(c->label, sizeof c->label, "G %d", a->G);
}

static void no_ref(const phx_op_case *c, double **h) {
  const phx_args_neuron_offset *a = CARGS(c, phx_args_neuron_offset);
  const size_t M = (size_t)a->M;
  for (int b = 0; b < a->B; b++)
    for (size_t j = 0; j < M; j++)
      h[NO_ZS][b * M + j] = h[NO_Z][b * M + j] - h[NO_D][(size_t)(b / a->G) * M + j];
}

/* Offsets of tens of mV on column voltages within the rails. */
static const phx_op_desc d_neuron_offset = {
    "neuron_offset", PHX_OP_neuron_offset, sizeof(phx_args_neuron_offset), 3,
    {BUF(phx_args_neuron_offset, Z, REAL, IN, -0.25, 0.25, 0),
     BUF(phx_args_neuron_offset, D, REAL, IN, -0.05, 0.05, 0),
     BUF(phx_args_neuron_offset, Zs, REAL, OUT, -1, 1, TOL_ELEM)},
    no_shape, 2, no_make, NULL, no_ref, 0};

const phx_op_desc *const phx_op_descs[PHX_OP_COUNT] = {
#define PHX_OP_DESC_ENTRY(name, type, opt) [PHX_OP_##name] = &d_##name,
    PHX_OPS(PHX_OP_DESC_ENTRY)
#undef PHX_OP_DESC_ENTRY
};
