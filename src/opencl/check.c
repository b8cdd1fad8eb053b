/* `phaxcl check`: every backend operation, a whole forward/backward pass and
 * one optimizer step, run on OpenCL devices and on the C path ("c",
 * float32) with identical random inputs, compared element by element. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cl_device.h"
#include "net.h"
#include "rng.h"

/* NMSE limits: rel. L2 1e-5 for elementwise maps, 1e-4 where sums, tanh
 * slopes or the whole network enter (the gradient criterion). */
#define TOL_ELEM 1e-10
#define TOL_SUM 1e-8

/* Sizes of one check run. */
typedef struct ck_size {
  int N, M, B; /* inputs, neurons (R = 2N+2), batch */
  int hidden;  /* hidden width of the whole-pass network */
} ck_size;

/* One device's run: its backend, the C reference, the report callback. */
typedef struct ck {
  phx_backend *cl, *ref;
  const char *device;
  phx_check_fn fn;
  void *user;
  int failures;
  phx_rng rng;
  ck_size sz;
} ck;

/* A buffer on both backends with the same contents. */
typedef struct pair {
  phx_buf *c, *r;
  size_t n;
} pair;

static void pair_free(ck *k, pair *p) {
  if (p->c) k->cl->ops->release(k->cl->impl, p->c);
  if (p->r) k->ref->ops->release(k->ref->impl, p->r);
  p->c = p->r = NULL;
}

static int pair_alloc(ck *k, pair *p, phx_btype t, size_t n, phx_err *err) {
  p->n = n;
  p->c = k->cl->ops->alloc(k->cl->impl, t, n, err);
  if (!p->c) return err->status ? (int)err->status : PHX_ENOMEM;
  p->r = k->ref->ops->alloc(k->ref->impl, t, n, err);
  if (!p->r) return err->status ? (int)err->status : PHX_ENOMEM;
  return 0;
}

/* Writes host data (double or int32) to both sides. */
static int pair_write(ck *k, pair *p, const void *src, phx_htype h, phx_err *err) {
  int s = k->cl->ops->write(k->cl->impl, p->c, 0, p->n, src, h, err);
  if (!s) s = k->ref->ops->write(k->ref->impl, p->r, 0, p->n, src, h, err);
  return s;
}

/* Fills both sides with U(lo, hi). */
static int pair_random(ck *k, pair *p, double lo, double hi, phx_err *err) {
  double *h = malloc(p->n * sizeof *h);
  if (!h) return phx_fail(err, PHX_ENOMEM, "check: out of memory");
  for (size_t i = 0; i < p->n; i++) h[i] = lo + (hi - lo) * phx_rng_uniform(&k->rng);
  int s = pair_write(k, p, h, PHX_HOST_F64, err);
  free(h);
  return s;
}

/* Emits one row from the two results. gemm_rule adds CLBlast's element
 * test |a - r| <= 1e-3 + 0.005 |r|. */
static void report(ck *k, const char *op, const double *a, const double *r,
                   size_t n, double tol, int gemm_rule) {
  double maxref = 0, num = 0, den = 0, max_abs = 0, max_rel = 0;
  int elem_ok = 1, finite = 1;
  for (size_t i = 0; i < n; i++) maxref = fmax(maxref, fabs(r[i]));
  const double floor_ = fmax(1e-6 * maxref, 1e-30);
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(a[i]) || !isfinite(r[i])) finite = 0;
    const double d = fabs(a[i] - r[i]);
    num += d * d;
    den += r[i] * r[i];
    max_abs = fmax(max_abs, d);
    max_rel = fmax(max_rel, d / fmax(fabs(r[i]), floor_));
    if (gemm_rule && d > 1e-3 + 0.005 * fabs(r[i])) elem_ok = 0;
  }
  phx_check_row row;
  row.op = op;
  row.device = k->device;
  row.max_abs = max_abs;
  row.max_rel = max_rel;
  row.nmse = den > 0 ? num / den : (num > 0 ? INFINITY : 0);
  row.tol_nmse = tol;
  row.count = (long)n;
  row.pass = finite && elem_ok && row.nmse <= tol;
  if (!row.pass) k->failures++;
  k->fn(&row, k->user);
}

/* Reads both sides of a pair and reports them. */
static int compare(ck *k, const char *op, pair *p, double tol, int gemm_rule,
                   phx_err *err) {
  double *a = malloc(p->n * sizeof *a), *r = malloc(p->n * sizeof *r);
  int s = (!a || !r) ? phx_fail(err, PHX_ENOMEM, "check: out of memory") : 0;
  if (!s) s = k->cl->ops->read(k->cl->impl, p->c, 0, p->n, a, PHX_HOST_F64, err);
  if (!s) s = k->ref->ops->read(k->ref->impl, p->r, 0, p->n, r, PHX_HOST_F64, err);
  if (!s) report(k, op, a, r, p->n, tol, gemm_rule);
  free(a);
  free(r);
  return s;
}

/* Integer results must agree exactly: reported as the mismatch count. */
static int compare_int(ck *k, const char *op, pair *p, phx_err *err) {
  int32_t *a = malloc(p->n * sizeof *a), *r = malloc(p->n * sizeof *r);
  int s = (!a || !r) ? phx_fail(err, PHX_ENOMEM, "check: out of memory") : 0;
  if (!s) s = k->cl->ops->read(k->cl->impl, p->c, 0, p->n, a, PHX_HOST_I32, err);
  if (!s) s = k->ref->ops->read(k->ref->impl, p->r, 0, p->n, r, PHX_HOST_I32, err);
  if (!s) {
    long bad = 0;
    for (size_t i = 0; i < p->n; i++) bad += a[i] != r[i];
    phx_check_row row = {op, k->device, (double)bad, bad ? 1.0 : 0.0,
                         bad ? 1.0 : 0.0, 0.0, (long)p->n, bad == 0};
    if (!row.pass) k->failures++;
    k->fn(&row, k->user);
  }
  free(a);
  free(r);
  return s;
}

static int prepare_both(ck *k, const phx_consts *c, phx_err *err) {
  int s = k->cl->ops->prepare(k->cl->impl, c, err);
  if (!s) s = k->ref->ops->prepare(k->ref->impl, c, err);
  return s;
}

/* Runs the same operation on both backends (OpenCL first); inside the
 * arguments, P(x) names side of pair x that the current backend owns. */
#define CALL2(name, ...)                                 \
  do {                                                   \
    for (int side_ = 0; side_ < 2 && !s; side_++) {      \
      phx_backend *b_ = side_ ? k->ref : k->cl;          \
      s = b_->ops->name(b_->impl, __VA_ARGS__);          \
    }                                                    \
  } while (0)
#define P(x) (side_ ? (x).r : (x).c)
#define OPR(name) k->ref->ops->name(k->ref->impl

/* map_forward and map_backward, plain and folded. */
static int check_map(ck *k, phx_err *err) {
  const int M = k->sz.M, N = k->sz.N, R = 2 * N + 2;
  const size_t MR = (size_t)M * R, ME = (size_t)M * (N + 1);
  pair th = {0}, W = {0}, S = {0}, E = {0}, dW = {0}, dE = {0}, dt = {0};
  int s = 0;
  if (!s) s = pair_alloc(k, &th, PHX_BUF_REAL, MR, err);
  if (!s) s = pair_alloc(k, &W, PHX_BUF_REAL, MR, err);
  if (!s) s = pair_alloc(k, &S, PHX_BUF_REAL, (size_t)M, err);
  if (!s) s = pair_alloc(k, &E, PHX_BUF_REAL, ME, err);
  if (!s) s = pair_alloc(k, &dW, PHX_BUF_REAL, MR, err);
  if (!s) s = pair_alloc(k, &dE, PHX_BUF_REAL, ME, err);
  if (!s) s = pair_alloc(k, &dt, PHX_BUF_REAL, MR, err);
  if (!s) s = pair_random(k, &th, -4, 4, err);
  for (int fold = 0; fold <= 1 && !s; fold++) {
    char name[64];
    CALL2(map_forward,M, R, fold, P(th), P(W), P(S), P(E), err);
    snprintf(name, sizeof name, "map_forward%s.W", fold ? "(fold)" : "");
    if (!s) s = compare(k, name, &W, TOL_ELEM, 0, err);
    snprintf(name, sizeof name, "map_forward%s.S", fold ? "(fold)" : "");
    if (!s) s = compare(k, name, &S, TOL_ELEM, 0, err);
    if (fold && !s) s = compare(k, "map_forward(fold).E", &E, TOL_SUM, 0, err);
  }
  /* Backward from the reference's W and S, written identically to both. */
  double *hw = malloc(MR * sizeof *hw), *hs = malloc((size_t)M * sizeof *hs);
  if (!s && (!hw || !hs)) s = phx_fail(err, PHX_ENOMEM, "check: out of memory");
  if (!s) s = OPR(read), W.r, 0, MR, hw, PHX_HOST_F64, err);
  if (!s) s = OPR(read), S.r, 0, (size_t)M, hs, PHX_HOST_F64, err);
  if (!s) s = pair_write(k, &W, hw, PHX_HOST_F64, err);
  if (!s) s = pair_write(k, &S, hs, PHX_HOST_F64, err);
  free(hw);
  free(hs);
  if (!s) s = pair_random(k, &dW, -1, 1, err);
  if (!s) s = pair_random(k, &dE, -1, 1, err);
  for (int fold = 0; fold <= 1 && !s; fold++) {
    pair *d = fold ? &dE : &dW;
    CALL2(map_backward,M, R, fold, P(th), P(W), P(S), P(*d), P(dt), err);
    if (!s)
      s = compare(k, fold ? "map_backward(fold).dtheta" : "map_backward.dtheta", &dt,
                  TOL_SUM, 0, err);
  }
  pair *all[] = {&th, &W, &S, &E, &dW, &dE, &dt};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(k, all[i]);
  return s;
}

/* A random permutation prefix of [0, n) as int32 on both sides. */
static int random_index(ck *k, pair *idx, int n, phx_err *err) {
  int32_t *h = malloc((size_t)n * sizeof *h);
  if (!h) return phx_fail(err, PHX_ENOMEM, "check: out of memory");
  for (int i = 0; i < n; i++) h[i] = i;
  phx_rng_shuffle(&k->rng, h, n);
  int s = pair_write(k, idx, h, PHX_HOST_I32, err);
  free(h);
  return s;
}

/* gather_input at an offset into a shuffled order. */
static int check_gather(ck *k, phx_err *err) {
  const int N = k->sz.N, B = k->sz.B, n = 2 * B + 3;
  pair X = {0}, idx = {0}, V = {0};
  int s = pair_alloc(k, &X, PHX_BUF_REAL, (size_t)n * N, err);
  if (!s) s = pair_alloc(k, &idx, PHX_BUF_I32, (size_t)n, err);
  if (!s) s = pair_alloc(k, &V, PHX_BUF_REAL, (size_t)B * (N + 1), err);
  if (!s) s = pair_random(k, &X, 0, 1, err);
  if (!s) s = random_index(k, &idx, n, err);
  CALL2(gather_input,N, B, P(X), P(idx), 3, P(V), err);
  if (!s) s = compare(k, "gather_input", &V, TOL_ELEM, 0, err);
  pair_free(k, &X);
  pair_free(k, &idx);
  pair_free(k, &V);
  return s;
}

/* All four transpose cases with offsets, padded leading dimensions, beta. */
static int check_gemm(ck *k, phx_err *err) {
  const int m = k->sz.B, n = k->sz.M, kk = 2 * k->sz.N + 2, pad = 3;
  const size_t off = 5;
  const size_t big = off + (size_t)(kk + pad) * (size_t)(kk + pad) +
                     (size_t)(m + n + pad) * (size_t)(m + n + kk + pad);
  pair A = {0}, B = {0}, C = {0};
  int s = pair_alloc(k, &A, PHX_BUF_REAL, big, err);
  if (!s) s = pair_alloc(k, &B, PHX_BUF_REAL, big, err);
  if (!s) s = pair_alloc(k, &C, PHX_BUF_REAL, off + (size_t)m * (n + pad), err);
  if (!s) s = pair_random(k, &A, -1, 1, err);
  if (!s) s = pair_random(k, &B, -1, 1, err);
  for (int t = 0; t < 4 && !s; t++) {
    const int ta = t & 1, tb = t >> 1;
    const int lda = (ta ? m : kk) + pad, ldb = (tb ? kk : n) + pad, ldc = n + pad;
    const double beta = t == 0 ? 0.0 : 0.5;
    char name[64];
    snprintf(name, sizeof name, "gemm(%c%c, beta %.1f)", ta ? 'T' : 'N',
             tb ? 'T' : 'N', beta);
    if (!s) s = pair_random(k, &C, -1, 1, err);
    CALL2(gemm,ta, tb, m, n, kk, 1.25, P(A), off, lda, P(B), off, ldb, beta, P(C), off, ldc, err);
    if (!s) s = compare(k, name, &C, TOL_SUM, 1, err);
  }
  pair_free(k, &A);
  pair_free(k, &B);
  pair_free(k, &C);
  return s;
}

/* activate and activate_backward around the inverters' switching point. */
static int check_activate(ck *k, phx_err *err) {
  const int M = k->sz.M, B = k->sz.B;
  const size_t RU = 2 * (size_t)M + 2;
  pair Z = {0}, U = {0}, dU = {0}, dZ = {0};
  int s = pair_alloc(k, &Z, PHX_BUF_REAL, (size_t)B * M, err);
  if (!s) s = pair_alloc(k, &U, PHX_BUF_REAL, (size_t)B * RU, err);
  if (!s) s = pair_alloc(k, &dU, PHX_BUF_REAL, (size_t)B * RU, err);
  if (!s) s = pair_alloc(k, &dZ, PHX_BUF_REAL, (size_t)B * M, err);
  if (!s) s = pair_random(k, &Z, -0.08, 0.04, err);
  if (!s) s = pair_random(k, &dU, -1, 1, err);
  CALL2(activate,B, M, P(Z), P(U), err);
  if (!s) s = compare(k, "activate", &U, TOL_ELEM, 0, err);
  CALL2(activate_backward,B, M, P(Z), P(dU), P(dZ), err);
  if (!s) s = compare(k, "activate_backward", &dZ, TOL_SUM, 0, err);
  pair_free(k, &Z);
  pair_free(k, &U);
  pair_free(k, &dU);
  pair_free(k, &dZ);
  return s;
}

/* The loss (prepared with kind `loss`) on outputs of the VTC range. */
static int check_loss(ck *k, const phx_consts *base, phx_loss loss, phx_err *err) {
  const int M = k->sz.M < 10 ? k->sz.M : 10, B = k->sz.B, n = 2 * B + 1;
  const size_t RU = 2 * (size_t)M + 2;
  phx_consts c = *base;
  c.loss = loss;
  int s = prepare_both(k, &c, err);
  pair U = {0}, lab = {0}, idx = {0}, lv = {0}, pr = {0}, dU = {0};
  if (!s) s = pair_alloc(k, &U, PHX_BUF_REAL, (size_t)B * RU, err);
  if (!s) s = pair_alloc(k, &lab, PHX_BUF_I32, (size_t)n, err);
  if (!s) s = pair_alloc(k, &idx, PHX_BUF_I32, (size_t)n, err);
  if (!s) s = pair_alloc(k, &lv, PHX_BUF_REAL, (size_t)B + 2, err);
  if (!s) s = pair_alloc(k, &pr, PHX_BUF_I32, (size_t)B + 2, err);
  if (!s) s = pair_alloc(k, &dU, PHX_BUF_REAL, (size_t)B * RU, err);
  if (!s) s = pair_random(k, &dU, -1, 1, err); /* must be overwritten */
  if (!s) s = random_index(k, &idx, n, err);
  if (!s) {
    int32_t *h = malloc((size_t)n * sizeof *h);
    if (!h) s = phx_fail(err, PHX_ENOMEM, "check: out of memory");
    for (int i = 0; !s && i < n; i++) h[i] = (int32_t)phx_rng_below(&k->rng, (uint64_t)M);
    if (!s) s = pair_write(k, &lab, h, PHX_HOST_I32, err);
    free(h);
  }
  /* outputs beyond the rails too, so that the CE clamp (zero gradient)
   * is exercised; the bias columns are the rails */
  double *hu = malloc((size_t)B * RU * sizeof *hu);
  if (!s && !hu) s = phx_fail(err, PHX_ENOMEM, "check: out of memory");
  for (size_t i = 0; !s && i < (size_t)B * RU; i++) {
    const size_t col = i % RU;
    hu[i] = col == 0 ? 0.25 : col == 1 ? -0.25 : -0.3 + 0.6 * phx_rng_uniform(&k->rng);
  }
  if (!s) s = pair_write(k, &U, hu, PHX_HOST_F64, err);
  free(hu);
  const double scale = 1.0 / B;
  CALL2(loss,B, M, P(U), P(lab), P(idx), 1, scale, P(lv), P(pr), 2, P(dU), err);
  const char *kind = loss == PHX_LOSS_CE ? "ce" : "mse";
  char name[64];
  snprintf(name, sizeof name, "loss(%s).loss", kind);
  if (!s) s = compare(k, name, &lv, TOL_SUM, 0, err);
  snprintf(name, sizeof name, "loss(%s).pred", kind);
  if (!s) s = compare_int(k, name, &pr, err);
  snprintf(name, sizeof name, "loss(%s).dU", kind);
  if (!s) s = compare(k, name, &dU, TOL_SUM, 0, err);
  pair *all[] = {&U, &lab, &idx, &lv, &pr, &dU};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(k, all[i]);
  if (!s) s = prepare_both(k, base, err);
  return s;
}

/* Two steps of each optimizer from the same state. */
static int check_opt(ck *k, phx_err *err) {
  const size_t n = (size_t)k->sz.M * (2 * (size_t)k->sz.N + 2);
  pair th = {0}, g = {0}, m = {0}, v = {0};
  int s = pair_alloc(k, &th, PHX_BUF_REAL, n, err);
  if (!s) s = pair_alloc(k, &g, PHX_BUF_REAL, n, err);
  if (!s) s = pair_alloc(k, &m, PHX_BUF_REAL, n, err);
  if (!s) s = pair_alloc(k, &v, PHX_BUF_REAL, n, err);
  static const char *names[] = {"opt_step(sgd)", "opt_step(momentum)", "opt_step(adam)"};
  for (int kind = 0; kind < 3 && !s; kind++) {
    phx_optim o = {(phx_optimizer)kind, 0.05, 0.9, 0.9, 0.999, 1e-8, 1};
    if (!s) s = pair_random(k, &th, -2, 2, err);
    if (!s) s = pair_random(k, &m, -0.1, 0.1, err);
    if (!s) s = pair_random(k, &v, 0, 0.01, err);
    for (int step = 0; step < 2 && !s; step++, o.t++) {
      if (!s) s = pair_random(k, &g, -0.1, 0.1, err);
      CALL2(opt_step,&o, n, P(th), P(g), P(m), P(v), err);
    }
    char name[64];
    snprintf(name, sizeof name, "%s.theta", names[kind]);
    if (!s) s = compare(k, name, &th, TOL_ELEM, 0, err);
    if (kind > 0) {
      snprintf(name, sizeof name, "%s.m", names[kind]);
      if (!s) s = compare(k, name, &m, TOL_ELEM, 0, err);
    }
    if (kind == 2) {
      snprintf(name, sizeof name, "%s.v", names[kind]);
      if (!s) s = compare(k, name, &v, TOL_ELEM, 0, err);
    }
  }
  pair_free(k, &th);
  pair_free(k, &g);
  pair_free(k, &m);
  pair_free(k, &v);
  return s;
}

/* The fused step_map against the C path's, plain and folded: the map-only
 * mode from random theta, then one step of each optimizer from that map
 * (dtheta, the new theta and state, and the new W, S, E and P). */
static int check_step_map(ck *k, phx_err *err) {
  const int M = k->sz.M, N = k->sz.N, R = 2 * N + 2;
  const size_t MR = (size_t)M * R, ME = (size_t)M * (N + 1);
  pair th = {0}, W = {0}, S = {0}, E = {0}, Pm = {0}, dW = {0}, dt = {0}, m = {0}, v = {0};
  int s = 0;
  if (!s) s = pair_alloc(k, &th, PHX_BUF_REAL, MR, err);
  if (!s) s = pair_alloc(k, &W, PHX_BUF_REAL, MR, err);
  if (!s) s = pair_alloc(k, &S, PHX_BUF_REAL, (size_t)M, err);
  if (!s) s = pair_alloc(k, &E, PHX_BUF_REAL, ME, err);
  if (!s) s = pair_alloc(k, &Pm, PHX_BUF_REAL, MR, err);
  if (!s) s = pair_alloc(k, &dW, PHX_BUF_REAL, MR, err);
  if (!s) s = pair_alloc(k, &dt, PHX_BUF_REAL, MR, err);
  if (!s) s = pair_alloc(k, &m, PHX_BUF_REAL, MR, err);
  if (!s) s = pair_alloc(k, &v, PHX_BUF_REAL, MR, err);
  static const char *kinds[] = {"map", "sgd", "momentum", "adam"};
  for (int fold = 0; fold <= 1 && !s; fold++) {
    for (int kind = -1; kind < 3 && !s; kind++) {
      phx_optim o = {(phx_optimizer)(kind < 0 ? 0 : kind), 0.05, 0.9, 0.9, 0.999, 1e-8, 2};
      const phx_optim *op = kind < 0 ? NULL : &o;
      /* the state a step starts from: both sides map the same theta */
      if (!s) s = pair_random(k, &th, -4, 4, err);
      CALL2(step_map, NULL, M, R, fold, P(th), P(W), P(S), P(E), P(Pm), NULL, NULL, NULL,
            NULL, err);
      if (kind >= 0) {
        if (!s) s = pair_random(k, &dW, -1, 1, err); /* dE in its first M(N+1) */
        if (!s) s = pair_random(k, &m, -0.1, 0.1, err);
        if (!s) s = pair_random(k, &v, 0, 0.01, err);
        CALL2(step_map, op, M, R, fold, P(th), P(W), P(S), P(E), P(Pm), P(dW), P(dt), P(m),
              P(v), err);
      }
      /* element maps from identical theta are TOL_ELEM; all after a sum,
       * or a difference of W (E), TOL_SUM */
      const double tol = kind < 0 ? TOL_ELEM : TOL_SUM;
      struct {
        const char *field;
        pair *p;
        int when;
      } out[] = {{"dtheta", &dt, kind >= 0},  {"theta", &th, kind >= 0},
                 {"m", &m, kind >= 1},        {"v", &v, kind == 2},
                 {"W", &W, 1},                {"S", &S, 1},
                 {"E", &E, fold},             {"P", &Pm, 1}};
      for (size_t i = 0; i < sizeof out / sizeof out[0] && !s; i++) {
        if (!out[i].when) continue;
        char name[64];
        snprintf(name, sizeof name, "step_map(%s%s).%s", kinds[kind + 1],
                 fold ? ",fold" : "", out[i].field);
        s = compare(k, name, out[i].p, out[i].p == &E ? TOL_SUM : tol, 0, err);
      }
    }
  }
  pair *all[] = {&th, &W, &S, &E, &Pm, &dW, &dt, &m, &v};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(k, all[i]);
  return s;
}

/* A three-layer network on random data: two accumulated batches, the
 * gradient of every layer, then one Adam step. */
static int check_pass(ck *k, const phx_model_opts *base, uint64_t seed, phx_err *err) {
  phx_model_opts o = *base;
  o.nlayers = 3;
  o.sizes[0] = k->sz.N;
  o.sizes[1] = k->sz.hidden;
  o.sizes[2] = k->sz.hidden / 2 > 2 ? k->sz.hidden / 2 : 3;
  o.sizes[3] = 10 < k->sz.M ? 10 : k->sz.M;
  const int B = k->sz.B, count = 2 * B, classes = o.sizes[3];
  phx_model *m = NULL;
  phx_dataset *d = NULL;
  phx_net *nc = NULL, *nr = NULL;
  float *x = malloc((size_t)count * o.sizes[0] * sizeof *x);
  int32_t *lab = malloc((size_t)count * sizeof *lab);
  double *gc = NULL, *gr = NULL;
  int s = (!x || !lab) ? phx_fail(err, PHX_ENOMEM, "check: out of memory") : 0;
  for (int i = 0; !s && i < count * o.sizes[0]; i++) x[i] = (float)phx_rng_uniform(&k->rng);
  for (int i = 0; !s && i < count; i++) lab[i] = i % classes;
  if (!s) s = phx_dataset_new(count, o.sizes[0], classes, x, lab, &d, err);
  if (!s) s = phx_model_new(&o, &m, err);
  if (!s) phx_model_init(m, seed);
  if (!s) s = phx_net_new(k->cl, &o, B, &nc, err);
  if (!s) s = phx_net_new(k->ref, &o, B, &nr, err);
  phx_net *both[2] = {nc, nr};
  for (int i = 0; i < 2 && !s; i++) {
    phx_net *n = both[i];
    if (!s) s = phx_net_set_theta(n, m, err);
    if (!s) s = phx_net_bind(n, PHX_SLOT_TRAIN, d, count, err);
    if (!s) s = phx_net_batch(n, PHX_SLOT_TRAIN, 0, B, 1.0 / count, 1, 0, err);
    if (!s) s = phx_net_batch(n, PHX_SLOT_TRAIN, (size_t)B, B, 1.0 / count, 1, 1, err);
    if (!s) s = phx_net_grad_finish(n, err);
  }
  double lc = 0, lr = 0;
  long cc = 0, cr = 0;
  if (!s) s = phx_net_metrics(nc, PHX_SLOT_TRAIN, count, &lc, &cc, NULL, NULL, err);
  if (!s) s = phx_net_metrics(nr, PHX_SLOT_TRAIN, count, &lr, &cr, NULL, NULL, err);
  if (!s) report(k, "pass.loss", &lc, &lr, 1, TOL_SUM, 0);
  for (int l = 0; l < o.nlayers && !s; l++) {
    const size_t n = (size_t)o.sizes[l + 1] * (2 * (size_t)o.sizes[l] + 2);
    gc = realloc(gc, n * sizeof *gc);
    gr = realloc(gr, n * sizeof *gr);
    if (!gc || !gr) {
      s = phx_fail(err, PHX_ENOMEM, "check: out of memory");
      break;
    }
    char name[64];
    snprintf(name, sizeof name, "pass.grad[%d]", l);
    if (!s) s = phx_net_get_grad64(nc, l, gc, err);
    if (!s) s = phx_net_get_grad64(nr, l, gr, err);
    if (!s) report(k, name, gc, gr, n, TOL_SUM, 0);
  }
  phx_optim adam = {PHX_OPT_ADAM, 0.01, 0.9, 0.9, 0.999, 1e-8, 1};
  if (!s) s = phx_net_step(nc, &adam, err);
  if (!s) s = phx_net_step(nr, &adam, err);
  phx_model *tc = NULL, *tr = NULL;
  if (!s) s = phx_model_new(&o, &tc, err);
  if (!s) s = phx_model_new(&o, &tr, err);
  if (!s) s = phx_net_get_theta(nc, tc, err);
  if (!s) s = phx_net_get_theta(nr, tr, err);
  for (int l = 0; l < o.nlayers && !s; l++) {
    const size_t n = (size_t)o.sizes[l + 1] * (2 * (size_t)o.sizes[l] + 2);
    double *a = malloc(n * sizeof *a), *r = malloc(n * sizeof *r);
    if (!a || !r) {
      free(a);
      free(r);
      s = phx_fail(err, PHX_ENOMEM, "check: out of memory");
      break;
    }
    const float *ta = phx_model_theta(tc, l), *tb = phx_model_theta(tr, l);
    for (size_t i = 0; i < n; i++) {
      a[i] = ta[i];
      r[i] = tb[i];
    }
    char name[64];
    snprintf(name, sizeof name, "pass.adam_step.theta[%d]", l);
    report(k, name, a, r, n, TOL_SUM, 0);
    free(a);
    free(r);
  }
  phx_model_free(tc);
  phx_model_free(tr);
  free(gc);
  free(gr);
  phx_net_free(nc);
  phx_net_free(nr);
  phx_model_free(m);
  phx_dataset_free(d);
  free(x);
  free(lab);
  return s;
}

/* Every check on one device. */
static int check_device(ck *k, uint64_t seed, phx_err *err) {
  phx_model_opts mo;
  phx_model_opts_default(&mo);
  phx_consts c;
  phx_consts_from_opts(&c, &mo);
  phx_rng_seed(&k->rng, seed);
  int s = prepare_both(k, &c, err);
  if (!s) s = check_map(k, err);
  if (!s) s = check_gather(k, err);
  if (!s) s = check_gemm(k, err);
  if (!s) s = check_activate(k, err);
  if (!s) s = check_loss(k, &c, PHX_LOSS_CE, err);
  if (!s) s = check_loss(k, &c, PHX_LOSS_MSE, err);
  if (!s) s = check_opt(k, err);
  if (!s && k->cl->ops->step_map && k->ref->ops->step_map) s = check_step_map(k, err);
  if (!s) s = check_pass(k, &mo, seed, err);
  return s;
}

void phx_check_opts_default(phx_check_opts *o) {
  memset(o, 0, sizeof *o);
  o->small = -1;
  o->seed = 1;
}

phx_status phx_check_run(const phx_check_opts *o, phx_check_fn fn, void *user,
                         int *failures, phx_err *err) {
  phx_check_opts def;
  if (!o) {
    phx_check_opts_default(&def);
    o = &def;
  }
  if (failures) *failures = 0;
  phx_cl_dev *devs = NULL;
  int n = 0, count = 0, total = 0;
  phx_status s = phx_cl_devices(&devs, &n, err);
  if (s != PHX_OK) return s;
  int *idx = malloc((size_t)n * sizeof *idx);
  if (!idx) {
    free(devs);
    return phx_fail(err, PHX_ENOMEM, "check: out of memory");
  }
  s = phx_cl_select(devs, n, o->device, 1, 0, idx, &count, err);
  phx_err first = {PHX_OK, ""};
  for (int i = 0; s == PHX_OK && i < count; i++) {
    const phx_cl_dev *d = &devs[idx[i]];
    char spec[32], label[300];
    snprintf(spec, sizeof spec, "%d:%d", d->pidx, d->didx);
    snprintf(label, sizeof label, "%s %s", spec, d->dname);
    const int small = o->small >= 0 ? o->small : d->cls == PHX_CL_SIMULATOR;
    ck k;
    memset(&k, 0, sizeof k);
    k.device = label;
    k.fn = fn;
    k.user = user;
    k.sz = small ? (ck_size){10, 6, 5, 8} : (ck_size){196, 100, 50, 48};
    phx_err e = {PHX_OK, ""};
    int rc = phx_backend_opencl_new(spec, o->verbose, 0, &k.cl, &e);
    if (!rc) rc = phx_backend_cpu_new(0, &k.ref, &e);
    if (!rc) rc = check_device(&k, o->seed, &e);
    if (rc) {
      /* a device that cannot run the checks is one failed row */
      phx_check_row row = {"device", label, NAN, NAN, NAN, 0, 0, 0};
      k.failures++;
      fn(&row, user);
      if (first.status == PHX_OK) phx_fail(&first, (phx_status)rc, "%s", e.msg);
    }
    total += k.failures;
    phx_backend_free(k.cl);
    phx_backend_free(k.ref);
  }
  free(idx);
  free(devs);
  if (s != PHX_OK) return s;
  if (failures) *failures = total;
  if (first.status != PHX_OK) {
    phx_fail(err, PHX_ECHECK, "%s", first.msg);
    return PHX_ECHECK;
  }
  if (total) return phx_fail(err, PHX_ECHECK, "check: %d result(s) out of tolerance", total);
  return PHX_OK;
}
