/* Every operation of the C backends ("c" float32 and "c64" float64) against
 * its float64 reference, driven by the op descriptors (src/core/op_table.c):
 * every case of every op at two problem sizes. Then what a table cannot
 * say: optimizer steps against hand-computed values, a bad sample index
 * refused, buffer conversions and bounds, backend selection by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "op_desc.h"
#include "phx_config.h"
#include "rng.h"
#include "test_util.h"

typedef struct ctx {
  phx_backend *b;
  double tol; /* relative tolerance against the double reference */
  int failures;
  phx_err err;
} ctx;

/* A REAL buffer holding x (n values). */
static phx_buf *up(ctx *c, size_t n, const double *x) {
  phx_buf *b = phx_buf_alloc(c->b, PHX_BUF_REAL, n, &c->err);
  if (!b) die("alloc", &c->err);
  if (x && phx_buf_write(c->b, b, 0, n, x, PHX_HOST_F64, &c->err)) die("write", &c->err);
  return b;
}

static double *down(ctx *c, const phx_buf *b, size_t n) {
  double *x = malloc(n * sizeof *x);
  if (!x || phx_buf_read(c->b, b, 0, n, x, PHX_HOST_F64, &c->err)) die("read", &c->err);
  return x;
}

static void rel(ctx *c, phx_buf *b) { phx_buf_release(c->b, b); }

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
  printf("  %-4s %-44s max rel err %.3e  %s\n", c->b->name, what, r, ok ? "ok" : "FAIL");
  if (!ok) c->failures++;
}

static void expect(ctx *c, int cond, const char *what) {
  printf("  %-4s %-44s %s\n", c->b->name, what, cond ? "ok" : "FAIL");
  if (!cond) c->failures++;
}

/* Every case of every op at size sz against the descriptor's reference. */
static void test_table(ctx *c, const phx_op_sizes *sz) {
  for (int id = 0; id < PHX_OP_COUNT; id++) {
    const phx_op_desc *d = phx_op_descs[id];
    if (!phx_op_supported(c->b, d->id)) {
      expect(c, 0, d->name); /* the C path implements every op */
      continue;
    }
    for (int i = 0; i < d->ncases; i++) {
      phx_op_inst t;
      double *got[PHX_OP_MAXBUF], *ref[PHX_OP_MAXBUF];
      if (phx_op_inst_init(&t, d, i, sz, 42 + (uint64_t)i, &c->err) ||
          phx_op_inst_ref(&t, ref, &c->err) ||
          phx_op_inst_exec(&t, c->b, -1, 1, got, NULL, &c->err))
        die(d->name, &c->err);
      for (int b = 0; b < d->nbuf; b++) {
        if (!t.need[b] || !(d->buf[b].io & PHX_OB_OUT)) continue;
        char what[96];
        snprintf(what, sizeof what, "%s(%s).%s N%d M%d B%d", d->name, t.c.label,
                 d->buf[b].name, sz->N, sz->M, sz->B);
        cmp(c, what, got[b], ref[b], t.need[b]); /* also: untouched parts kept */
      }
      phx_op_outs_free(got);
      phx_op_outs_free(ref);
      phx_op_inst_free(&t);
    }
  }
}

/* An index outside the samples is refused, never read. */
static void test_bad_index(ctx *c) {
  enum { n = 9, N = 6, B = 4, IOFF = 3 };
  const int32_t idx[n] = {8, 0, 5, 2, 7, 1, 4, 3, 6};
  phx_buf *bx = up(c, n * N, NULL), *bv = up(c, B * (N + 1), NULL);
  phx_buf *bi = phx_buf_alloc(c->b, PHX_BUF_I32, n, &c->err);
  if (!bi || phx_buf_write(c->b, bi, 0, n, idx, PHX_HOST_I32, &c->err)) die("idx", &c->err);
  phx_args_gather_input a = {N, B, n, bx, bi, IOFF, bv};
  expect(c, phx_op_gather_input(c->b, &a, &c->err) == PHX_OK, "gather_input in range");
  a.count = 7; /* idx[IOFF + 1] is 7 */
  expect(c, phx_op_gather_input(c->b, &a, &c->err) != PHX_OK, "gather_input refuses bad index");
  rel(c, bx); rel(c, bi); rel(c, bv);
}

/* Optimizer steps against values worked out by hand (theta 1, gradient
 * 0.5 then -1, lr 0.1). */
static phx_status opt2(ctx *c, const phx_optim *o, phx_buf *th, phx_buf *g, phx_buf *m,
                       phx_buf *v) {
  const phx_args_opt_step a = {o, 2, th, g, m, v};
  return phx_op_opt_step(c->b, &a, &c->err);
}

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
    if (opt2(c, &o, th, g, m, v)) die("opt_step", &c->err);
    double *a = down(c, th, 2);
    phx_buf_write(c->b, g, 0, 2, g2, PHX_HOST_F64, &c->err);
    o.t = 2;
    if (opt2(c, &o, th, g, m, v)) die("opt_step", &c->err);
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
  expect(c, opt2(c, &o, th, th, NULL, NULL) == PHX_EINVAL, "opt_step adam refuses missing state");
  rel(c, th);
}

static void test_buffers(ctx *c) {
  const double x[4] = {1.5, -2.25, 3, 1e-3};
  const float xf[4] = {1.5f, -2.25f, 3, 1e-3f};
  const int32_t xi[4] = {7, -3, 0, 2147483647};
  phx_buf *b = up(c, 6, NULL), *bi = phx_buf_alloc(c->b, PHX_BUF_I32, 4, &c->err);
  double z[6];
  float f[4];
  int32_t i4[4];
  phx_buf_read(c->b, b, 0, 6, z, PHX_HOST_F64, &c->err);
  int ok = 1;
  for (int i = 0; i < 6; i++) ok &= z[i] == 0;
  expect(c, ok, "alloc zero-fills");
  phx_buf_write(c->b, b, 2, 4, xf, PHX_HOST_F32, &c->err);
  phx_buf_read(c->b, b, 1, 5, z, PHX_HOST_F64, &c->err);
  ok = z[0] == 0;
  for (int i = 0; i < 4; i++) ok &= fabs(z[1 + i] - x[i]) <= 1e-7 * fabs(x[i]);
  phx_buf_read(c->b, b, 2, 4, f, PHX_HOST_F32, &c->err);
  for (int i = 0; i < 4; i++) ok &= f[i] == xf[i];
  expect(c, ok, "write f32 / read f64,f32 at offsets");
  phx_buf_write(c->b, bi, 0, 4, xi, PHX_HOST_I32, &c->err);
  phx_buf_read(c->b, bi, 0, 4, i4, PHX_HOST_I32, &c->err);
  expect(c, memcmp(i4, xi, sizeof xi) == 0, "i32 round trip");
  expect(c, phx_buf_write(c->b, b, 3, 4, x, PHX_HOST_F64, &c->err) != 0 &&
                phx_buf_read(c->b, b, 7, 0, z, PHX_HOST_F64, &c->err) != 0,
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
  /* tiny, and rows long enough for the vector loops and their remainders */
  const phx_op_sizes sizes[] = {{5, 7, 3}, {21, 5, 17}};
  for (int f64 = 1; f64 >= 0; f64--) {
    ctx c = {0};
    if (phx_backend_cpu_new(f64, &c.b, &c.err)) die("backend", &c.err);
    printf("backend %s: %s\n", phx_backend_name(c.b), phx_backend_device(c.b));
    c.tol = f64 ? 1e-10 : 2e-5;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) test_table(&c, &sizes[i]);
    if (phx_backend_prepare(c.b, &k, &c.err)) die("prepare", &c.err);
    test_buffers(&c);
    test_bad_index(&c);
    c.tol = f64 ? 1e-12 : 1e-6;
    test_opt(&c);
    failures += c.failures;
    phx_backend_free(c.b);
  }
  printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
