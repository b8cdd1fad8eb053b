/* Every operation of the C backends ("c" float32 and "c64" float64) against
 * a plain double-precision reference written here from the formulas of
 * backend.h and docs/model.md: the mapping and its backward pass (folded and
 * not), the input gather, gemm in all four transpose combinations with
 * offsets, both VTCs and their derivatives, both losses (including the
 * clamped region of cross-entropy and argmax ties), the optimizer steps
 * against hand-computed values, the fused step_map against the reference
 * formulas, and buffer conversions and bounds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "phx_config.h"
#include "rng.h"
#include "test_util.h"

typedef struct ctx {
  phx_backend *b;
  const phx_bops *op;
  double tol; /* relative tolerance against the double reference */
  int failures;
  phx_err err;
} ctx;

/* A REAL buffer holding x (n values). */
static phx_buf *up(ctx *c, size_t n, const double *x) {
  phx_buf *b = c->op->alloc(c->b->impl, PHX_BUF_REAL, n, &c->err);
  if (!b) die("alloc", &c->err);
  if (x && c->op->write(c->b->impl, b, 0, n, x, PHX_HOST_F64, &c->err)) die("write", &c->err);
  return b;
}

/* An I32 buffer holding x (n values). */
static phx_buf *up_i32(ctx *c, size_t n, const int32_t *x) {
  phx_buf *b = c->op->alloc(c->b->impl, PHX_BUF_I32, n, &c->err);
  if (!b) die("alloc", &c->err);
  if (c->op->write(c->b->impl, b, 0, n, x, PHX_HOST_I32, &c->err)) die("write", &c->err);
  return b;
}

static double *down(ctx *c, const phx_buf *b, size_t n) {
  double *x = malloc(n * sizeof *x);
  if (!x || c->op->read(c->b->impl, b, 0, n, x, PHX_HOST_F64, &c->err)) die("read", &c->err);
  return x;
}

static void rel(ctx *c, phx_buf *b) { c->op->release(c->b->impl, b); }

/* max |got - ref| / max |ref|, checked against the context's tolerance. */
static void cmp(ctx *c, const char *what, const double *got, const double *ref, size_t n) {
  double emax = 0, rmax = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs(got[i] - ref[i]);
    if (!(e <= emax)) emax = e; /* NaN propagates as failure */
    if (fabs(ref[i]) > rmax) rmax = fabs(ref[i]);
  }
  double r = emax / (rmax > 1e-300 ? rmax : 1e-300);
  int ok = r <= c->tol;
  printf("  %-4s %-34s max rel err %.3e  %s\n", c->b->name, what, r, ok ? "ok" : "FAIL");
  if (!ok) c->failures++;
}

static void expect(ctx *c, int cond, const char *what) {
  printf("  %-4s %-34s %s\n", c->b->name, what, cond ? "ok" : "FAIL");
  if (!cond) c->failures++;
}

static void fill(phx_rng *r, double *x, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * phx_rng_uniform(r);
}

static double sig(double t) { return 1 / (1 + exp(-t)); }

/* Reference W, S, E of backend.h's map_forward. */
static void ref_map(const phx_consts *k, int M, int R, const double *th, double *W,
                    double *S, double *E) {
  int N = (R - 2) / 2;
  for (int j = 0; j < M; j++) {
    double s = 0;
    for (int r = 0; r < R; r++) s += W[j * R + r] = k->gmin * (1 + k->k * sig(th[j * R + r]));
    for (int r = 0; r < R; r++) W[j * R + r] /= s;
    S[j] = s;
    E[j * (N + 1)] = k->vdd / 2 * (W[j * R] - W[j * R + 1]);
    for (int i = 0; i < N; i++) E[j * (N + 1) + 1 + i] = W[j * R + 2 + i] - W[j * R + 2 + N + i];
  }
}

/* Reference map_backward: expand dE when folding (dWE is then M x (N+1)),
 * then normalisation and sigmoid as documented. */
static void ref_map_backward(const phx_consts *k, int M, int R, int fold, const double *th,
                             const double *W, const double *S, const double *dWE,
                             double *ref) {
  const int N = (R - 2) / 2;
  double *g = malloc(sizeof *g * (size_t)R);
  if (!g) abort();
  for (int j = 0; j < M; j++) {
    if (fold) {
      const double *d = dWE + j * (N + 1);
      g[0] = k->vdd / 2 * d[0];
      g[1] = -k->vdd / 2 * d[0];
      for (int i = 0; i < N; i++) {
        g[2 + i] = d[1 + i];
        g[2 + N + i] = -d[1 + i];
      }
    } else {
      memcpy(g, dWE + j * R, sizeof(double) * R);
    }
    double dot = 0;
    for (int q = 0; q < R; q++) dot += g[q] * W[j * R + q];
    for (int r = 0; r < R; r++) {
      double s1 = sig(th[j * R + r]);
      ref[j * R + r] = (g[r] - dot) / S[j] * k->gmin * k->k * s1 * (1 - s1);
    }
  }
  free(g);
}

static void test_map(ctx *c, const phx_consts *k, phx_rng *rng) {
  enum { M = 7, N = 5, R = 2 * N + 2 };
  double th[M * R], W[M * R], S[M], E[M * (N + 1)], dW[M * R], dE[M * (N + 1)], ref[M * R];
  fill(rng, th, M * R, -3, 3);
  fill(rng, dW, M * R, -1, 1);
  fill(rng, dE, M * (N + 1), -1, 1);
  ref_map(k, M, R, th, W, S, E);
  phx_buf *bt = up(c, M * R, th), *bw = up(c, M * R, NULL), *bs = up(c, M, NULL);
  phx_buf *be = up(c, M * (N + 1), NULL), *bd = up(c, M * R, NULL);
  for (int fold = 0; fold <= 1; fold++) {
    if (c->op->map_forward(c->b->impl, M, R, fold, bt, bw, bs, be, &c->err)) die("map_forward", &c->err);
    double *w = down(c, bw, M * R), *s = down(c, bs, M);
    cmp(c, fold ? "map_forward W (fold)" : "map_forward W", w, W, M * R);
    cmp(c, "map_forward S", s, S, M);
    if (fold) {
      double *e = down(c, be, M * (N + 1));
      cmp(c, "map_forward E", e, E, M * (N + 1));
      free(e);
    }
    free(w);
    free(s);
    ref_map_backward(k, M, R, fold, th, W, S, fold ? dE : dW, ref);
    phx_buf *bg = fold ? up(c, M * (N + 1), dE) : up(c, M * R, dW);
    if (c->op->map_backward(c->b->impl, M, R, fold, bt, bw, bs, bg, bd, &c->err))
      die("map_backward", &c->err);
    double *d = down(c, bd, M * R);
    cmp(c, fold ? "map_backward (fold)" : "map_backward", d, ref, M * R);
    free(d);
    rel(c, bg);
  }
  rel(c, bt); rel(c, bw); rel(c, bs); rel(c, be); rel(c, bd);
}

/* The optional fused step_map against the reference map, map_backward
 * and optimizer formulas: map only, then one step of each optimizer from
 * random state, folded and not; rows long enough for the vector loops and
 * their remainders. */
static void test_step_map(ctx *c, const phx_consts *k, phx_rng *rng) {
  enum { M = 5, N = 21, R = 2 * N + 2, MR = M * R, ME = M * (N + 1) };
  if (!c->op->step_map) {
    expect(c, 0, "step_map present");
    return;
  }
  static double th[MR], W[MR], S[M], E[ME], P[MR], dWE[MR], dt[MR], m[MR], v[MR];
  static double th2[MR], m2[MR], v2[MR];
  const struct { phx_optimizer kind; const char *name; } kinds[] = {
      {PHX_OPT_SGD, "sgd"}, {PHX_OPT_MOMENTUM, "momentum"}, {PHX_OPT_ADAM, "adam"}};
  for (int fold = 0; fold <= 1; fold++) {
    for (size_t q = 0; q < sizeof kinds / sizeof kinds[0]; q++) {
      char what[64];
      fill(rng, th, MR, -4, 4);
      fill(rng, dWE, MR, -1, 1);
      fill(rng, m, MR, -0.1, 0.1);
      fill(rng, v, MR, 0, 0.01);
      phx_buf *bt = up(c, MR, th), *bw = up(c, MR, NULL), *bs = up(c, M, NULL);
      phx_buf *be = up(c, ME, NULL), *bp = up(c, MR, NULL), *bd = up(c, MR, NULL);
      phx_buf *bg = up(c, fold ? ME : MR, dWE), *bm = up(c, MR, m), *bv = up(c, MR, v);
      /* Map only: W, S, E and P = s (1 - s). */
      ref_map(k, M, R, th, W, S, E);
      for (int i = 0; i < MR; i++) P[i] = sig(th[i]) * (1 - sig(th[i]));
      if (c->op->step_map(c->b->impl, NULL, M, R, fold, bt, bw, bs, be, bp, NULL, NULL,
                          NULL, NULL, &c->err))
        die("step_map", &c->err);
      double *got = down(c, bw, MR);
      snprintf(what, sizeof what, "step_map map W%s", fold ? " (fold)" : "");
      if (q == 0) cmp(c, what, got, W, MR);
      free(got);
      got = down(c, bp, MR);
      if (q == 0) cmp(c, "step_map map P", got, P, MR);
      free(got);
      /* One step: reference gradient at theta, update, map of the new theta. */
      ref_map_backward(k, M, R, fold, th, W, S, dWE, dt);
      phx_optim o = {kinds[q].kind, 0.05, 0.9, 0.9, 0.999, 1e-8, 3};
      const double bc1 = 1 - pow(o.beta1, 3), bc2 = 1 - pow(o.beta2, 3);
      for (int i = 0; i < MR; i++) {
        m2[i] = m[i];
        v2[i] = v[i];
        if (o.kind == PHX_OPT_SGD) {
          th2[i] = th[i] - o.lr * dt[i];
        } else if (o.kind == PHX_OPT_MOMENTUM) {
          m2[i] = o.momentum * m[i] + dt[i];
          th2[i] = th[i] - o.lr * m2[i];
        } else {
          m2[i] = o.beta1 * m[i] + (1 - o.beta1) * dt[i];
          v2[i] = o.beta2 * v[i] + (1 - o.beta2) * dt[i] * dt[i];
          th2[i] = th[i] - o.lr * (m2[i] / bc1) / (sqrt(v2[i] / bc2) + o.eps);
        }
      }
      ref_map(k, M, R, th2, W, S, E);
      for (int i = 0; i < MR; i++) P[i] = sig(th2[i]) * (1 - sig(th2[i]));
      if (c->op->step_map(c->b->impl, &o, M, R, fold, bt, bw, bs, be, bp, bg, bd, bm, bv,
                          &c->err))
        die("step_map", &c->err);
      struct { phx_buf *b; const double *ref; int n; const char *name; } outs[] = {
          {bd, dt, MR, "dtheta"}, {bt, th2, MR, "theta"}, {bm, m2, MR, "m"},
          {bv, v2, MR, "v"},      {bw, W, MR, "W"},       {bs, S, M, "S"},
          {bp, P, MR, "P"},       {be, E, ME, "E"}};
      for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        if ((!fold && outs[i].b == be) || (o.kind == PHX_OPT_SGD && outs[i].b == bm) ||
            (o.kind != PHX_OPT_ADAM && outs[i].b == bv))
          continue;
        got = down(c, outs[i].b, (size_t)outs[i].n);
        snprintf(what, sizeof what, "step_map %s%s %s", kinds[q].name,
                 fold ? " fold" : "", outs[i].name);
        cmp(c, what, got, outs[i].ref, (size_t)outs[i].n);
        free(got);
      }
      if (q == 2 && fold) {
        o.kind = PHX_OPT_LBFGS;
        expect(c, c->op->step_map(c->b->impl, &o, M, R, fold, bt, bw, bs, be, bp, bg, bd,
                                  bm, bv, &c->err) != 0,
               "step_map refuses lbfgs");
        o.kind = PHX_OPT_ADAM;
        expect(c, c->op->step_map(c->b->impl, &o, M, R, fold, bt, bw, bs, be, NULL, bg, bd,
                                  bm, bv, &c->err) != 0,
               "step_map refuses a missing P");
      }
      rel(c, bt); rel(c, bw); rel(c, bs); rel(c, be); rel(c, bp);
      rel(c, bd); rel(c, bg); rel(c, bm); rel(c, bv);
    }
  }
}

static void test_gather(ctx *c, const phx_consts *k, phx_rng *rng) {
  enum { n = 9, N = 6, B = 4, IOFF = 3 };
  double X[n * N], ref[B * (N + 1)];
  int32_t idx[n] = {8, 0, 5, 2, 7, 1, 4, 3, 6};
  fill(rng, X, n * N, 0, 1);
  for (int b = 0; b < B; b++) {
    ref[b * (N + 1)] = 1;
    for (int i = 0; i < N; i++) ref[b * (N + 1) + 1 + i] = (X[idx[IOFF + b] * N + i] - 0.5) * k->vdd;
  }
  phx_buf *bx = up(c, n * N, X), *bi = up_i32(c, n, idx), *bv = up(c, B * (N + 1), NULL);
  if (c->op->gather_input(c->b->impl, N, B, bx, bi, IOFF, bv, &c->err)) die("gather", &c->err);
  double *v = down(c, bv, B * (N + 1));
  cmp(c, "gather_input", v, ref, B * (N + 1));
  int32_t bad[n];
  memcpy(bad, idx, sizeof bad);
  bad[IOFF + 1] = n; /* out of range must be refused, not read */
  c->op->write(c->b->impl, bi, 0, n, bad, PHX_HOST_I32, &c->err);
  expect(c, c->op->gather_input(c->b->impl, N, B, bx, bi, IOFF, bv, &c->err) != 0,
         "gather_input refuses bad index");
  free(v);
  rel(c, bx); rel(c, bi); rel(c, bv);
}

/* All four transpose combinations, with offsets and padded leading
 * dimensions, beta 0 (C prefilled with NaN must be overwritten) and 0.3. */
static void test_gemm(ctx *c, phx_rng *rng) {
  enum { PAD = 3, AOFF = 4, BOFF = 2, COFF = 5 };
  /* A tiny product, and two between OpenBLAS's threading threshold and
   * CPU_BLAS_SMALL_MNK, which the backend sums in 2 and 3 slices of k. */
  static const int sizes[][3] = {{5, 7, 6}, {33, 101, 97}, {20, 30, 1200}};
  for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
  for (int ta = 0; ta <= 1; ta++)
    for (int tb = 0; tb <= 1; tb++)
      for (int bi = 0; bi <= 1; bi++) {
        const int m = sizes[z][0], n = sizes[z][1], kk = sizes[z][2];
        const double alpha = 0.7, beta = bi ? 0.3 : 0.0;
        int arows = ta ? kk : m, acols = ta ? m : kk, brows = tb ? n : kk, bcols = tb ? kk : n;
        int lda = acols + PAD, ldb = bcols + PAD, ldc = n + PAD;
        size_t na = AOFF + (size_t)arows * lda, nb = BOFF + (size_t)brows * ldb,
               nc = COFF + (size_t)m * ldc;
        double *A = malloc(na * sizeof *A), *Bm = malloc(nb * sizeof *Bm),
               *C = malloc(nc * sizeof *C), *ref = malloc(nc * sizeof *ref);
        fill(rng, A, na, -1, 1);
        fill(rng, Bm, nb, -1, 1);
        fill(rng, C, nc, -1, 1);
        if (!bi)
          for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) C[COFF + i * ldc + j] = NAN;
        memcpy(ref, C, nc * sizeof *C);
        for (int i = 0; i < m; i++)
          for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < kk; p++)
              s += (ta ? A[AOFF + p * lda + i] : A[AOFF + i * lda + p]) *
                   (tb ? Bm[BOFF + j * ldb + p] : Bm[BOFF + p * ldb + j]);
            double *r = &ref[COFF + i * ldc + j];
            *r = alpha * s + (beta != 0 ? beta * *r : 0);
          }
        phx_buf *ba = up(c, na, A), *bb = up(c, nb, Bm), *bc = up(c, nc, C);
        if (c->op->gemm(c->b->impl, ta, tb, m, n, kk, alpha, ba, AOFF, lda, bb, BOFF, ldb, beta,
                        bc, COFF, ldc, &c->err))
          die("gemm", &c->err);
        double *got = down(c, bc, nc);
        char what[64];
        snprintf(what, sizeof what, "gemm %c%c beta %.1f %dx%dx%d", ta ? 'T' : 'N',
                 tb ? 'T' : 'N', beta, m, n, kk);
        cmp(c, what, got, ref, nc); /* also checks padding and offsets untouched */
        if (z == 0 && ta == 0 && tb == 0 && bi == 0)
          expect(c, c->op->gemm(c->b->impl, 0, 0, m, n, kk + 50, alpha, ba, AOFF, lda + 50, bb,
                                BOFF, ldb, beta, bc, COFF, ldc, &c->err) != 0,
                 "gemm refuses operand overrun");
        free(got); free(A); free(Bm); free(C); free(ref);
        rel(c, ba); rel(c, bb); rel(c, bc);
      }
}

static void test_activate(ctx *c, const phx_consts *k, phx_rng *rng) {
  enum { B = 3, M = 8, RU = 2 * M + 2 };
  double Z[B * M], dU[B * RU], U[B * RU], dZ[B * M];
  fill(rng, Z, B * M, -0.12, 0.08);
  Z[3] = -0.0203; /* at d3: the steepest point of the second VTC */
  Z[4] = 0.25;    /* deep in saturation */
  fill(rng, dU, B * RU, -1, 1);
  for (int b = 0; b < B; b++) {
    U[b * RU] = k->vdd / 2;
    U[b * RU + 1] = -k->vdd / 2;
    for (int j = 0; j < M; j++) {
      double z = Z[b * M + j], tc = tanh(k->c[3] * (z - k->c[2])), td = tanh(k->d[3] * (z - k->d[2]));
      U[b * RU + 2 + j] = k->c[0] + k->c[1] * tc;
      U[b * RU + 2 + M + j] = k->d[0] + k->d[1] * td;
      dZ[b * M + j] = dU[b * RU + 2 + j] * k->c[1] * k->c[3] * (1 - tc * tc) +
                      dU[b * RU + 2 + M + j] * k->d[1] * k->d[3] * (1 - td * td);
    }
  }
  phx_buf *bz = up(c, B * M, Z), *bu = up(c, B * RU, NULL), *bdu = up(c, B * RU, dU),
          *bdz = up(c, B * M, NULL);
  if (c->op->activate(c->b->impl, B, M, bz, bu, &c->err)) die("activate", &c->err);
  if (c->op->activate_backward(c->b->impl, B, M, bz, bdu, bdz, &c->err)) die("activate_backward", &c->err);
  double *u = down(c, bu, B * RU), *dz = down(c, bdz, B * M);
  cmp(c, "activate", u, U, B * RU);
  cmp(c, "activate_backward", dz, dZ, B * M);
  free(u); free(dz);
  rel(c, bz); rel(c, bu); rel(c, bdu); rel(c, bdz);
}

static void test_loss(ctx *c, phx_consts k, phx_rng *rng) {
  enum { B = 4, M = 5, RU = 2 * M + 2, n = 6, IOFF = 1, OOFF = 2 };
  const double h = k.vdd / 2, scale = 0.25;
  int32_t labels[n] = {4, 0, 2, 1, 3, 2}, idx[n] = {5, 3, 0, 2, 1, 4};
  double U[B * RU];
  fill(rng, U, B * RU, -0.2, 0.2);
  /* sample 0: tie between outputs 1 and 3 (first wins); an output at the
   * rail (h = 1, clamped) on a wrong class and one at -rail on its class. */
  U[0 * RU + 2 + 1] = U[0 * RU + 2 + 3] = 0.24;
  U[1 * RU + 2 + 4] = h;  /* sample 1 is idx[2] = 0: label 4, h = 1 clamped */
  U[2 * RU + 2 + 0] = h;  /* sample 2 is idx[3] = 2: label 2; output 0 wrong, clamped */
  U[3 * RU + 2 + 2] = -h; /* sample 3 is idx[4] = 1: label 0; output 2 at h = 0 */
  for (int loss = 0; loss <= 1; loss++) {
    k.loss = loss ? PHX_LOSS_MSE : PHX_LOSS_CE;
    if (c->op->prepare(c->b->impl, &k, &c->err)) die("prepare", &c->err);
    double lref[n + 2] = {0}, dref[B * RU] = {0};
    int32_t pref[B];
    for (int b = 0; b < B; b++) {
      int y = labels[idx[IOFF + b]], best = 0;
      double l = 0;
      for (int j = 0; j < M; j++) {
        double o = U[b * RU + 2 + j], t = j == y ? h : -h, g;
        if (o > U[b * RU + 2 + best]) best = j;
        if (loss) {
          l += (o - t) * (o - t);
          g = 2 * (o - t);
        } else {
          /* -(y' log h + (1-y') log(1-h)), with 1 - h taken as (vdd/2 - o)/vdd
           * so the clamped value 1e-7 is exact in double too */
          double hh = (o + h) / k.vdd, hn = (h - o) / k.vdd, yy = j == y ? 1 : 0;
          double hc = fmin(fmax(hh, 1e-7), 1 - 1e-7), hnc = fmin(fmax(hn, 1e-7), 1 - 1e-7);
          l += -(yy * log(hc) + (1 - yy) * log(hnc));
          g = (hh < 1e-7 || hh > 1 - 1e-7) ? 0 : (-yy / hc + (1 - yy) / hnc) / k.vdd;
        }
        dref[b * RU + 2 + j] = scale * g;
      }
      lref[OOFF + b] = l;
      pref[b] = best;
    }
    phx_buf *bu = up(c, B * RU, U), *bl = up_i32(c, n, labels), *bi = up_i32(c, n, idx);
    phx_buf *blv = up(c, n + 2, NULL), *bd = up(c, B * RU, NULL);
    phx_buf *bp = c->op->alloc(c->b->impl, PHX_BUF_I32, n + 2, &c->err);
    double junk[B * RU];
    fill(rng, junk, B * RU, -9, 9); /* dU must be fully overwritten */
    c->op->write(c->b->impl, bd, 0, B * RU, junk, PHX_HOST_F64, &c->err);
    if (!bp || c->op->loss(c->b->impl, B, M, bu, bl, bi, IOFF, scale, blv, bp, OOFF, bd, &c->err))
      die("loss", &c->err);
    double *lv = down(c, blv, n + 2), *d = down(c, bd, B * RU);
    int32_t pr[n + 2];
    c->op->read(c->b->impl, bp, 0, n + 2, pr, PHX_HOST_I32, &c->err);
    cmp(c, loss ? "loss mse values" : "loss ce values (with clamping)", lv, lref, n + 2);
    cmp(c, loss ? "loss mse dU" : "loss ce dU (zero where clamped)", d, dref, B * RU);
    int pok = pr[0] == 0 && pr[1] == 0 && pr[n + 1] == 0;
    for (int b = 0; b < B; b++) pok &= pr[OOFF + b] == pref[b];
    expect(c, pok && pref[0] == 1, "loss argmax, first on ties");
    /* Without dU: same values, nothing else written. */
    if (c->op->loss(c->b->impl, B, M, bu, bl, bi, IOFF, scale, blv, bp, OOFF, NULL, &c->err))
      die("loss", &c->err);
    free(lv);
    lv = down(c, blv, n + 2);
    cmp(c, "loss without dU", lv, lref, n + 2);
    free(lv); free(d);
    rel(c, bu); rel(c, bl); rel(c, bi); rel(c, blv); rel(c, bd); rel(c, bp);
  }
}

/* Optimizer steps against values worked out by hand (theta 1, gradient
 * 0.5 then -1, lr 0.1). */
static void test_opt(ctx *c) {
  const double g1[2] = {0.5, 0.5}, g2[2] = {-1, -1}, one[2] = {1, 1};
  phx_optim o = {PHX_OPT_SGD, 0.1, 0.9, 0.9, 0.999, 1e-8, 1};
  struct { phx_optimizer kind; double after1, after2; const char *name; } cases[] = {
      /* sgd: 1 - 0.05 = 0.95; 0.95 + 0.1 = 1.05 */
      {PHX_OPT_SGD, 0.95, 1.05, "sgd"},
      /* momentum: v = 0.5, theta 0.95; v = 0.45 - 1 = -0.55, theta 1.005 */
      {PHX_OPT_MOMENTUM, 0.95, 1.005, "momentum"},
      /* adam: m = 0.05, v = 2.5e-4, mhat 0.5, vhat 0.25: 1 - 0.1*0.5/(0.5+1e-8);
       * then m = -0.055, v = 1.24975e-3, mhat = -0.055/0.19,
       * vhat = 1.24975e-3/1.999e-3 */
      {PHX_OPT_ADAM, 0.9000000019999999, 0.9366103542405653, "adam"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    phx_buf *th = up(c, 2, one), *g = up(c, 2, g1), *m = up(c, 2, NULL), *v = up(c, 2, NULL);
    o.kind = cases[i].kind;
    o.t = 1;
    if (c->op->opt_step(c->b->impl, &o, 2, th, g, m, v, &c->err)) die("opt_step", &c->err);
    double *a = down(c, th, 2);
    c->op->write(c->b->impl, g, 0, 2, g2, PHX_HOST_F64, &c->err);
    o.t = 2;
    if (c->op->opt_step(c->b->impl, &o, 2, th, g, m, v, &c->err)) die("opt_step", &c->err);
    double *b = down(c, th, 2);
    double got[4] = {a[0], a[1], b[0], b[1]};
    double ref[4] = {cases[i].after1, cases[i].after1, cases[i].after2, cases[i].after2};
    char what[64];
    snprintf(what, sizeof what, "opt_step %s (2 steps)", cases[i].name);
    cmp(c, what, got, ref, 4);
    free(a); free(b);
    rel(c, th); rel(c, g); rel(c, m); rel(c, v);
  }
  o.kind = PHX_OPT_ADAM;
  phx_buf *th = up(c, 2, one);
  expect(c, c->op->opt_step(c->b->impl, &o, 2, th, th, NULL, NULL, &c->err) != 0,
         "opt_step adam refuses missing state");
  rel(c, th);
}

static void test_buffers(ctx *c) {
  const double x[4] = {1.5, -2.25, 3, 1e-3};
  const float xf[4] = {1.5f, -2.25f, 3, 1e-3f};
  const int32_t xi[4] = {7, -3, 0, 2147483647};
  phx_buf *b = up(c, 6, NULL), *bi = c->op->alloc(c->b->impl, PHX_BUF_I32, 4, &c->err);
  double z[6];
  float f[4];
  int32_t i4[4];
  c->op->read(c->b->impl, b, 0, 6, z, PHX_HOST_F64, &c->err);
  int ok = 1;
  for (int i = 0; i < 6; i++) ok &= z[i] == 0;
  expect(c, ok, "alloc zero-fills");
  c->op->write(c->b->impl, b, 2, 4, xf, PHX_HOST_F32, &c->err);
  c->op->read(c->b->impl, b, 1, 5, z, PHX_HOST_F64, &c->err);
  ok = z[0] == 0;
  for (int i = 0; i < 4; i++) ok &= fabs(z[1 + i] - x[i]) <= 1e-7 * fabs(x[i]);
  c->op->read(c->b->impl, b, 2, 4, f, PHX_HOST_F32, &c->err);
  for (int i = 0; i < 4; i++) ok &= f[i] == xf[i];
  expect(c, ok, "write f32 / read f64,f32 at offsets");
  c->op->write(c->b->impl, bi, 0, 4, xi, PHX_HOST_I32, &c->err);
  c->op->read(c->b->impl, bi, 0, 4, i4, PHX_HOST_I32, &c->err);
  expect(c, memcmp(i4, xi, sizeof xi) == 0, "i32 round trip");
  expect(c, c->op->write(c->b->impl, b, 3, 4, x, PHX_HOST_F64, &c->err) != 0 &&
                c->op->read(c->b->impl, b, 7, 0, z, PHX_HOST_F64, &c->err) != 0,
         "read/write refuse out-of-range");
  rel(c, b);
  rel(c, bi);
}

/* Backend selection by name (backend.c). */
static int test_dispatch(void) {
  int failures = 0;
  phx_err e = {0};
  phx_backend *b = NULL;
  phx_status s = phx_backend_new("cuda", NULL, 0, &b, &e);
  int ok = s == PHX_EINVAL && !b &&
           strcmp(e.msg, "unknown backend 'cuda' (expected auto, c, c64, opencl)") == 0;
  printf("  dispatch unknown name: %s  %s\n", e.msg, ok ? "ok" : "FAIL");
  failures += !ok;
  const char *names[] = {"c", "c64"};
  for (int i = 0; i < 2; i++) {
    s = phx_backend_new(names[i], NULL, 0, &b, &e);
    ok = s == PHX_OK && b && strcmp(phx_backend_name(b), names[i]) == 0 &&
         strncmp(phx_backend_device(b), "cpu (", 5) == 0;
    printf("  dispatch %-4s -> %s, %s  %s\n", names[i], b ? phx_backend_name(b) : "-",
           b ? phx_backend_device(b) : "-", ok ? "ok" : "FAIL");
    failures += !ok;
    phx_backend_free(b);
  }
#if !PHX_HAVE_OPENCL
  s = phx_backend_new("opencl", NULL, 0, &b, &e);
  ok = s == PHX_ENOBACKEND && !b &&
       strcmp(e.msg, "backend 'opencl': this build has no OpenCL support") == 0;
  printf("  dispatch opencl without OpenCL: %s  %s\n", e.msg, ok ? "ok" : "FAIL");
  failures += !ok;
#endif
  /* "auto" always yields a working backend here (OpenCL or the C path),
   * unless a device named in the environment is missing. */
  const char *env = getenv("PHAXCL_DEVICE");
  if (!env || !*env) {
    s = phx_backend_new("auto", NULL, 0, &b, &e);
    ok = s == PHX_OK && b;
    printf("  dispatch auto -> %s  %s\n", b ? phx_backend_name(b) : e.msg, ok ? "ok" : "FAIL");
    failures += !ok;
    phx_backend_free(b);
  }
  return failures;
}

int main(void) {
  int failures = test_dispatch();
  phx_model_opts mo;
  phx_model_opts_default(&mo);
  phx_consts k;
  phx_consts_from_opts(&k, &mo);
  if (k.k != mo.ratio - 1 || k.vdd != mo.vdd || k.c[3] != mo.c[3] || k.d[1] != mo.d[1]) {
    printf("  phx_consts_from_opts  FAIL\n");
    failures++;
  }
  for (int f64 = 1; f64 >= 0; f64--) {
    ctx c = {0};
    if (phx_backend_cpu_new(f64, &c.b, &c.err)) die("backend", &c.err);
    c.op = c.b->ops;
    c.tol = f64 ? 1e-12 : 2e-5;
    printf("backend %s: %s\n", phx_backend_name(c.b), phx_backend_device(c.b));
    if (c.op->prepare(c.b->impl, &k, &c.err)) die("prepare", &c.err);
    phx_rng rng;
    phx_rng_seed(&rng, 42); /* same inputs for both backends */
    test_buffers(&c);
    test_map(&c, &k, &rng);
    test_gather(&c, &k, &rng);
    test_gemm(&c, &rng);
    test_activate(&c, &k, &rng);
    test_loss(&c, k, &rng);
    c.tol = f64 ? 1e-12 : 1e-6;
    test_opt(&c);
    c.tol = f64 ? 1e-10 : 2e-5;
    test_step_map(&c, &k, &rng);
    failures += c.failures;
    phx_backend_free(c.b);
  }
  printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
