/* The C backend's operations, written once for a real type. backend_cpu.c
 * includes this file twice: with CPU_REAL float (the "c" backend) and with
 * CPU_REAL double (the "c64" check backend). Before each inclusion it
 * defines:
 *   CPU_REAL        the element type
 *   CPU_SFX         suffix for the generated names (f32, f64)
 *   CPU_EXP(x)      exp in that type, saturating instead of overflowing
 *   CPU_FABS(x)     fabs in that type
 *   CPU_LOG(x)      log in that type
 *   CPU_SQRT(x)     sqrt in that type
 *   CPU_TANH(x)     tanh in that type
 *   CPU_COS2PI(u)   cos(2 pi u) in that type
 *   CPU_LOGU(x)     log in that type for x in (0, 1] (vectorisable for float)
 *   CPU_UNIFORM(k, i, s)  the variation uniform (core/vary.h) in that type
 *   CPU_RINT(x)     rint in that type (round half to even)
 *   CPU_HTYPE       the host type that matches CPU_REAL (PHX_HOST_F32/F64)
 *   CPU_CBLAS_GEMM  cblas_sgemm or cblas_dgemm (only when PHX_HAVE_BLAS)
 *   CPU_HOT         attribute for the elementwise hot loops (may be empty)
 *   CPU_INLINE      static inline, forced where the compiler allows, so that
 *                   helpers are compiled into each target clone of CPU_HOT
 * This file undefines all of them but CPU_INLINE at its end.
 * The formulas are those documented op by op in backend.h. */

#define CPU_CAT2(a, b) a##_##b
#define CPU_CAT(a, b) CPU_CAT2(a, b)
#define FN(name) CPU_CAT(name, CPU_SFX)

typedef CPU_REAL FN(real);

/* Sum of x[0..n) with sixteen independent partial sums (one AVX-512
 * register of float): the order is fixed by the source, so deterministic
 * whatever the vector width, and not bound by the latency of one chain. */
CPU_INLINE CPU_REAL FN(sum)(const CPU_REAL *x, int n) {
  CPU_REAL a[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int q = 0; q < 16; q++) a[q] += x[i + q];
  for (; i < n; i++) a[i & 15] += x[i];
  for (int h = 8; h > 0; h /= 2)
    for (int q = 0; q < h; q++) a[q] += a[q + h];
  return a[0];
}

/* Dot product of x and y, same summation scheme as sum(). */
CPU_INLINE CPU_REAL FN(dot)(const CPU_REAL *x, const CPU_REAL *y, int n) {
  CPU_REAL a[16] = {0};
  int i = 0;
  for (; i + 16 <= n; i += 16)
    for (int q = 0; q < 16; q++) a[q] += x[i + q] * y[i + q];
  for (; i < n; i++) a[i & 15] += x[i] * y[i];
  for (int h = 8; h > 0; h /= 2)
    for (int q = 0; q < h; q++) a[q] += a[q + h];
  return a[0];
}

/* 1 - tanh^2(x) = 4e / (1+e)^2 with e = exp(-2|x|): accurate in the tails,
 * where 1 - tanh^2 computed from tanh would cancel to zero. */
static inline CPU_REAL FN(sech2)(CPU_REAL x) {
  CPU_REAL e = CPU_EXP(-2 * CPU_FABS(x)), q = 1 + e;
  return 4 * e / (q * q);
}

/* ---- buffers ------------------------------------------------------------ */

/* Zero-filled, 64-byte aligned storage (whole cache lines for BLAS). */
static phx_buf *FN(alloc)(void *impl, phx_btype t, size_t n, phx_err *err) {
  (void)impl;
  size_t es = t == PHX_BUF_I32 ? sizeof(int32_t) : sizeof(CPU_REAL);
  if (n > ((size_t)-1 - 64) / es) {
    phx_fail(err, PHX_ENOMEM, "cpu backend: buffer of %zu elements is too large", n);
    return NULL;
  }
  size_t bytes = (n * es + 63) / 64 * 64;
  if (bytes == 0) bytes = 64;
  phx_buf *b = malloc(sizeof *b);
  void *p = b ? aligned_alloc(64, bytes) : NULL;
  if (!p) {
    free(b);
    phx_fail(err, PHX_ENOMEM, "cpu backend: cannot allocate %zu bytes", bytes);
    return NULL;
  }
  memset(p, 0, bytes);
  b->type = t;
  b->n = n;
  b->p = p;
  return b;
}

/* Host -> buffer with type conversion (range and host type checked by
 * phx_buf_write). */
static int FN(write)(void *impl, phx_buf *b, size_t off, size_t n, const void *src,
                     phx_htype h, phx_err *err) {
  (void)impl;
  (void)err;
  if (b->type == PHX_BUF_I32) {
    int32_t *d = (int32_t *)b->p + off;
    if (h == PHX_HOST_I32) {
      memcpy(d, src, n * sizeof *d);
    } else if (h == PHX_HOST_F32) {
      for (size_t i = 0; i < n; i++) d[i] = (int32_t)((const float *)src)[i];
    } else {
      for (size_t i = 0; i < n; i++) d[i] = (int32_t)((const double *)src)[i];
    }
    return 0;
  }
  CPU_REAL *d = (CPU_REAL *)b->p + off;
  if (h == CPU_HTYPE) {
    memcpy(d, src, n * sizeof *d);
  } else if (h == PHX_HOST_F32) {
    for (size_t i = 0; i < n; i++) d[i] = (CPU_REAL)((const float *)src)[i];
  } else if (h == PHX_HOST_F64) {
    for (size_t i = 0; i < n; i++) d[i] = (CPU_REAL)((const double *)src)[i];
  } else {
    for (size_t i = 0; i < n; i++) d[i] = (CPU_REAL)((const int32_t *)src)[i];
  }
  return 0;
}

/* Buffer -> host with type conversion (range and host type checked by
 * phx_buf_read). */
static int FN(read)(void *impl, const phx_buf *b, size_t off, size_t n, void *dst,
                    phx_htype h, phx_err *err) {
  (void)impl;
  (void)err;
  if (b->type == PHX_BUF_I32) {
    const int32_t *s = (const int32_t *)b->p + off;
    if (h == PHX_HOST_I32) {
      memcpy(dst, s, n * sizeof *s);
    } else if (h == PHX_HOST_F32) {
      for (size_t i = 0; i < n; i++) ((float *)dst)[i] = (float)s[i];
    } else {
      for (size_t i = 0; i < n; i++) ((double *)dst)[i] = (double)s[i];
    }
    return 0;
  }
  const CPU_REAL *s = (const CPU_REAL *)b->p + off;
  if (h == CPU_HTYPE) {
    memcpy(dst, s, n * sizeof *s);
  } else if (h == PHX_HOST_F32) {
    for (size_t i = 0; i < n; i++) ((float *)dst)[i] = (float)s[i];
  } else if (h == PHX_HOST_F64) {
    for (size_t i = 0; i < n; i++) ((double *)dst)[i] = (double)s[i];
  } else {
    for (size_t i = 0; i < n; i++) ((int32_t *)dst)[i] = (int32_t)s[i];
  }
  return 0;
}

/* ---- conductance mapping ------------------------------------------------ */

/* One row of the map: g = gmin + gk s into w, then w /= S, E from w when
 * fold (ej not NULL), and s (1 - s) into p when p is not NULL (computed as
 * s s e, e = exp(-theta), as map_backward does). Returns S. Kept as
 * separate simple loops over the row (in L1) so that each vectorises. */
CPU_INLINE CPU_REAL FN(map_row)(const CPU_REAL *tj, CPU_REAL *wj, CPU_REAL *pj,
                                CPU_REAL *ej, int R, CPU_REAL gmin, CPU_REAL gk,
                                CPU_REAL half) {
  if (pj) {
    for (int r = 0; r < R; r++) {
      CPU_REAL e = CPU_EXP(-tj[r]), sg = 1 / (1 + e);
      wj[r] = gmin + gk * sg;
      pj[r] = sg * sg * e;
    }
  } else {
    for (int r = 0; r < R; r++) wj[r] = gmin + gk / (1 + CPU_EXP(-tj[r]));
  }
  CPU_REAL sj = FN(sum)(wj, R), inv = 1 / sj;
  for (int r = 0; r < R; r++) wj[r] *= inv;
  if (ej) {
    const int N = (R - 2) / 2;
    ej[0] = half * (wj[0] - wj[1]);
    for (int i = 0; i < N; i++) ej[1 + i] = wj[2 + i] - wj[2 + N + i];
  }
  return sj;
}

/* theta -> g -> W = g / S, and the folded input-layer weights E. */
CPU_HOT static int FN(map_forward)(void *impl, const phx_args_map_forward *a,
                                   phx_err *err) {
  (void)err;
  const cpu_impl *c = impl;
  const int M = a->M, R = a->R, fold = a->fold, N = (R - 2) / 2;
  const phx_buf *theta = a->theta, *W = a->W, *S = a->S, *E = a->E;
  const CPU_REAL gmin = (CPU_REAL)c->gmin, gk = (CPU_REAL)(c->gmin * c->k);
  const CPU_REAL half = (CPU_REAL)(c->vdd / 2);
  const CPU_REAL *th = theta->p;
  CPU_REAL *w = W->p, *s = S->p;
  for (int j = 0; j < M; j++)
    s[j] = FN(map_row)(th + (size_t)j * R, w + (size_t)j * R, NULL,
                       fold ? (CPU_REAL *)E->p + (size_t)j * (N + 1) : NULL, R, gmin, gk,
                       half);
  return 0;
}

/* dL/dW (or dL/dE when fold) -> dL/dtheta through the normalisation and the
 * sigmoid mapping. With fold the expanded dW is never stored: its dot with
 * W is taken segment by segment and each dtheta segment is written from
 * the matching dE entries. */
CPU_HOT static int FN(map_backward)(void *impl, const phx_args_map_backward *a,
                                    phx_err *err) {
  (void)err;
  const cpu_impl *c = impl;
  const int M = a->M, R = a->R, fold = a->fold, N = (R - 2) / 2;
  const phx_buf *theta = a->theta, *W = a->W, *S = a->S, *dWE = a->dWE, *dtheta = a->dtheta;
  const CPU_REAL gk = (CPU_REAL)(c->gmin * c->k);
  const CPU_REAL half = (CPU_REAL)(c->vdd / 2);
  const CPU_REAL *th = theta->p, *w = W->p, *s = S->p, *g = dWE->p;
  CPU_REAL *dt = dtheta->p;
  for (int j = 0; j < M; j++) {
    const CPU_REAL *tj = th + (size_t)j * R, *wj = w + (size_t)j * R;
    CPU_REAL *dj = dt + (size_t)j * R;
    /* dj first holds gmin k s (1 - s) / S_j, the factor every entry needs. */
    const CPU_REAL f = gk / s[j];
    for (int r = 0; r < R; r++) {
      CPU_REAL e = CPU_EXP(-tj[r]), sg = 1 / (1 + e);
      dj[r] = f * (sg * sg * e);
    }
    if (fold) {
      const CPU_REAL *ej = g + (size_t)j * (N + 1);
      const CPU_REAL d0 = half * ej[0], *de = ej + 1;
      CPU_REAL dot = d0 * (wj[0] - wj[1]);
      dot += FN(dot)(de, wj + 2, N) - FN(dot)(de, wj + 2 + N, N);
      dj[0] *= d0 - dot;
      dj[1] *= -d0 - dot;
      CPU_REAL *dp = dj + 2, *dn = dj + 2 + N;
      for (int i = 0; i < N; i++) {
        dp[i] *= de[i] - dot;
        dn[i] *= -de[i] - dot;
      }
    } else {
      const CPU_REAL *gj = g + (size_t)j * R;
      const CPU_REAL dot = FN(dot)(gj, wj, R);
      if (a->loads == 2) { /* + dL/dG_r and the returned loads' dgm */
        const CPU_REAL *dr = a->drow->p, *dm = (const CPU_REAL *)a->dgm->p + (size_t)j * R;
        const CPU_REAL sj = s[j];
        for (int r = 0; r < R; r++) dj[r] *= gj[r] - dot + sj * (dr[r] + dm[r]);
      } else if (a->loads) { /* + dL/dG_r, times S_j as dj holds 1/S_j */
        const CPU_REAL *dr = a->drow->p, sj = s[j];
        for (int r = 0; r < R; r++) dj[r] *= gj[r] - dot + sj * dr[r];
      } else {
        for (int r = 0; r < R; r++) dj[r] *= gj[r] - dot;
      }
    }
  }
  return 0;
}

/* ---- layers ------------------------------------------------------------- */

/* V = [1, (x - 0.5) vdd] for the samples idx[ioff .. ioff+B). */
static int FN(gather_input)(void *impl, const phx_args_gather_input *a, phx_err *err) {
  const cpu_impl *c = impl;
  const int N = a->N, B = a->B;
  const phx_buf *X = a->X, *idx = a->idx, *V = a->V;
  const size_t ioff = a->ioff, nx = (size_t)a->count;
  const int32_t *ix = (const int32_t *)idx->p + ioff;
  const CPU_REAL vdd = (CPU_REAL)c->vdd, half = (CPU_REAL)0.5;
  for (int b = 0; b < B; b++) {
    if (ix[b] < 0 || (size_t)ix[b] >= nx)
      return phx_fail(err, PHX_EINVAL, "cpu backend: sample index %d out of range",
                      (int)ix[b]);
    const CPU_REAL *x = (const CPU_REAL *)X->p + (size_t)ix[b] * N;
    CPU_REAL *v = (CPU_REAL *)V->p + (size_t)b * (N + 1);
    v[0] = 1;
    for (int i = 0; i < N; i++) v[1 + i] = (x[i] - half) * vdd;
  }
  return 0;
}

/* C = alpha op(A) op(B) + beta C, row-major; CBLAS when built with it. */
static int FN(gemm)(void *impl, const phx_args_gemm *g, phx_err *err) {
  (void)impl;
  (void)err;
  const int transA = g->transA, transB = g->transB, m = g->m, n = g->n, k = g->k;
  const int lda = g->lda, ldb = g->ldb, ldc = g->ldc;
  const double alpha = g->alpha, beta = g->beta;
  const phx_buf *A = g->A, *B = g->B, *C = g->C;
  const size_t aoff = g->aoff, boff = g->boff, coff = g->coff;
  if (m == 0 || n == 0) return 0;
  const CPU_REAL *a = (const CPU_REAL *)A->p + aoff, *bb = (const CPU_REAL *)B->p + boff;
  CPU_REAL *cc = (CPU_REAL *)C->p + coff;
#if PHX_HAVE_BLAS
  if (k > 0) {
    const enum CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE tb = transB ? CblasTrans : CblasNoTrans;
    const double mnk = (double)m * n * k;
    /* A small product that OpenBLAS would spread over its threads is issued
     * as a sum of slices along k, each under its threading threshold, so
     * that it runs on this thread: at this size waking, waiting for and
     * spinning the other threads costs more than it saves (several times
     * the product itself on a busy 2-core machine). No global thread
     * setting is touched. Slicing k (C = alpha A1 B1 + beta C, then
     * C += alpha A2 B2, ...) packs each operand once and keeps the
     * kernel's full m x n tiles; slicing m or n instead repacks an operand
     * per slice and measured 15-25 % slower. */
    const double mn = (double)m * n;
    if (mnk > CPU_BLAS_SERIAL_MNK && mnk < CPU_BLAS_SMALL_MNK && mn <= CPU_BLAS_SERIAL_MNK) {
      int per = (int)(CPU_BLAS_SERIAL_MNK / mn);
      const int parts = (k + per - 1) / per;
      per = (k + parts - 1) / parts; /* even slices, still under the threshold */
      for (int p0 = 0; p0 < k; p0 += per) {
        const int w = k - p0 < per ? k - p0 : per;
        CPU_CBLAS_GEMM(CblasRowMajor, ta, tb, m, n, w, (CPU_REAL)alpha,
                       a + (transA ? (size_t)p0 * lda : (size_t)p0), lda,
                       bb + (transB ? (size_t)p0 : (size_t)p0 * ldb), ldb,
                       p0 ? (CPU_REAL)1 : (CPU_REAL)beta, cc, ldc);
      }
      return 0;
    }
    CPU_CBLAS_GEMM(CblasRowMajor, ta, tb, m, n, k, (CPU_REAL)alpha, a, lda, bb, ldb,
                   (CPU_REAL)beta, cc, ldc);
    return 0;
  }
#endif
  const CPU_REAL al = (CPU_REAL)alpha, be = (CPU_REAL)beta;
  for (int i = 0; i < m; i++) {
    CPU_REAL *ci = cc + (size_t)i * ldc;
    /* beta == 0 overwrites, as BLAS does (NaN in C does not propagate). */
    if (be == 0)
      for (int j = 0; j < n; j++) ci[j] = 0;
    else if (be != 1)
      for (int j = 0; j < n; j++) ci[j] *= be;
    if (!transB) {
      for (int p = 0; p < k; p++) {
        const CPU_REAL aip = al * (transA ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]);
        const CPU_REAL *bp = bb + (size_t)p * ldb;
        for (int j = 0; j < n; j++) ci[j] += aip * bp[j];
      }
    } else {
      for (int j = 0; j < n; j++) {
        const CPU_REAL *bj = bb + (size_t)j * ldb;
        CPU_REAL acc = 0;
        if (!transA) {
          acc = FN(dot)(a + (size_t)i * lda, bj, k);
        } else {
          for (int p = 0; p < k; p++) acc += a[(size_t)p * lda + i] * bj[p];
        }
        ci[j] += al * acc;
      }
    }
  }
  return 0;
}

/* Both inverter VTCs of the net voltages, plus the two bias rails. */
CPU_HOT static int FN(activate)(void *impl, const phx_args_activate *a, phx_err *err) {
  (void)err;
  const cpu_impl *c = impl;
  const int B = a->B, M = a->M, RU = 2 * M + 2;
  const phx_buf *Z = a->Z, *U = a->U;
  const CPU_REAL c1 = (CPU_REAL)c->c[0], c2 = (CPU_REAL)c->c[1], c3 = (CPU_REAL)c->c[2],
                 c4 = (CPU_REAL)c->c[3];
  const CPU_REAL d1 = (CPU_REAL)c->d[0], d2 = (CPU_REAL)c->d[1], d3 = (CPU_REAL)c->d[2],
                 d4 = (CPU_REAL)c->d[3];
  const CPU_REAL half = (CPU_REAL)(c->vdd / 2);
  for (int b = 0; b < B; b++) {
    const CPU_REAL *z = (const CPU_REAL *)Z->p + (size_t)b * M;
    CPU_REAL *u = (CPU_REAL *)U->p + (size_t)b * RU;
    CPU_REAL *om = u + 2, *op = u + 2 + M;
    u[0] = half;
    u[1] = -half;
    for (int j = 0; j < M; j++) om[j] = c1 + c2 * CPU_TANH(c4 * (z[j] - c3));
    for (int j = 0; j < M; j++) op[j] = d1 + d2 * CPU_TANH(d4 * (z[j] - d3));
  }
  return 0;
}

/* dL/dU -> dL/dZ through both VTC derivatives. */
CPU_HOT static int FN(activate_backward)(void *impl, const phx_args_activate_backward *a,
                                         phx_err *err) {
  (void)err;
  const cpu_impl *c = impl;
  const int B = a->B, M = a->M, RU = 2 * M + 2;
  const phx_buf *Z = a->Z, *dU = a->dU, *dZ = a->dZ;
  const CPU_REAL c3 = (CPU_REAL)c->c[2], c4 = (CPU_REAL)c->c[3];
  const CPU_REAL d3 = (CPU_REAL)c->d[2], d4 = (CPU_REAL)c->d[3];
  const CPU_REAL cs = (CPU_REAL)(c->c[1] * c->c[3]), ds = (CPU_REAL)(c->d[1] * c->d[3]);
  for (int b = 0; b < B; b++) {
    const CPU_REAL *z = (const CPU_REAL *)Z->p + (size_t)b * M;
    const CPU_REAL *gu = (const CPU_REAL *)dU->p + (size_t)b * RU;
    const CPU_REAL *gm = gu + 2, *gp = gu + 2 + M;
    CPU_REAL *gz = (CPU_REAL *)dZ->p + (size_t)b * M;
    for (int j = 0; j < M; j++)
      gz[j] = gm[j] * cs * FN(sech2)(c4 * (z[j] - c3)) +
              gp[j] * ds * FN(sech2)(d4 * (z[j] - d3));
  }
  return 0;
}

/* ---- table neurons (backend.h, activate_table) ------------------------- */

typedef struct FN(curve) {
  int L, NV;
  CPU_REAL v0, dv;
  const CPU_REAL *T, *loads;
} FN(curve);

/* One load's cubic at x steps from v0 (clamped into the table). */
CPU_INLINE void FN(curve_row)(const CPU_REAL *row, int NV, CPU_REAL x, CPU_REAL dv,
                              CPU_REAL *f, CPU_REAL *fv) {
  int i = (int)x;
  if (i > NV - 2) i = NV - 2;
  const CPU_REAL t = x - (CPU_REAL)i, t2 = t * t, t3 = t2 * t;
  const CPU_REAL y0 = row[2 * i], m0 = row[2 * i + 1] * dv;
  const CPU_REAL y1 = row[2 * i + 2], m1 = row[2 * i + 3] * dv;
  *f = (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + t) * m0 + (3 * t2 - 2 * t3) * y1 +
       (t3 - t2) * m1;
  *fv = ((6 * t2 - 6 * t) * y0 + (3 * t2 - 4 * t + 1) * m0 + (6 * t - 6 * t2) * y1 +
         (3 * t2 - 2 * t) * m1) / dv;
}

/* F(v; G), dF/dv, dF/dG as core/curve.h defines them. */
CPU_INLINE void FN(curve_eval)(const FN(curve) *c, CPU_REAL v, CPU_REAL G, CPU_REAL *f,
                               CPU_REAL *fv, CPU_REAL *fg) {
  if (v != v) {
    *f = *fv = *fg = v;
    return;
  }
  CPU_REAL x = (v - c->v0) / c->dv, w = 0;
  int inside = 1, k = 0;
  if (!(x > 0)) x = 0, inside = 0;
  if (x > (CPU_REAL)(c->NV - 1)) x = (CPU_REAL)(c->NV - 1), inside = 0;
  const int L = c->L;
  if (L > 1 && G > c->loads[0]) {
    if (G >= c->loads[L - 1]) {
      k = L - 2;
      w = 1;
    } else {
      int hi = L - 1;
      while (hi - k > 1) {
        const int mid = (k + hi) / 2;
        if (c->loads[mid] <= G) k = mid;
        else hi = mid;
      }
      w = (G - c->loads[k]) / (c->loads[k + 1] - c->loads[k]);
    }
  }
  const CPU_REAL *r0 = c->T + (size_t)k * c->NV * 2;
  CPU_REAL f0, d0, f1 = 0, d1 = 0;
  FN(curve_row)(r0, c->NV, x, c->dv, &f0, &d0);
  if (L > 1) FN(curve_row)(r0 + (size_t)c->NV * 2, c->NV, x, c->dv, &f1, &d1);
  *f = (1 - w) * f0 + w * f1;
  *fv = inside ? (1 - w) * d0 + w * d1 : 0;
  *fg = L > 1 && G > c->loads[0] && G < c->loads[L - 1]
            ? (f1 - f0) / (c->loads[k + 1] - c->loads[k])
            : 0;
}

CPU_INLINE FN(curve) FN(curve_of)(int L, int NV, double v0, double dv, const phx_buf *T,
                                  const phx_buf *loads) {
  const FN(curve) c = {L, NV, (CPU_REAL)v0, (CPU_REAL)dv, T->p, loads->p};
  return c;
}

/* Both inverters of every neuron through the table, loaded by G. */
static int FN(activate_table)(void *impl, const phx_args_activate_table *a, phx_err *err) {
  (void)err;
  const cpu_impl *c = impl;
  const int B = a->B, M = a->M, RU = 2 * M + 2;
  const FN(curve) cv = FN(curve_of)(a->L, a->NV, a->v0, a->dv, a->T, a->loads);
  const CPU_REAL *G = a->loaded ? a->G->p : NULL, half = (CPU_REAL)(c->vdd / 2);
  for (int b = 0; b < B; b++) {
    const CPU_REAL *z = (const CPU_REAL *)a->Z->p + (size_t)b * M;
    CPU_REAL *u = (CPU_REAL *)a->U->p + (size_t)b * RU;
    u[0] = half;
    u[1] = -half;
    for (int j = 0; j < M; j++) {
      CPU_REAL fv, fg;
      FN(curve_eval)(&cv, z[j], G ? G[2 + j] : 0, &u[2 + j], &fv, &fg);
      FN(curve_eval)(&cv, u[2 + j], G ? G[2 + M + j] : 0, &u[2 + M + j], &fv, &fg);
    }
  }
  return 0;
}

/* dL/dU -> dL/dZ and the loads' gradient, summed over the batch in sample
 * order. */
static int FN(activate_table_backward)(void *impl, const phx_args_activate_table_backward *a,
                                       phx_err *err) {
  (void)impl;
  (void)err;
  const int B = a->B, M = a->M, RU = 2 * M + 2;
  const FN(curve) cv = FN(curve_of)(a->L, a->NV, a->v0, a->dv, a->T, a->loads);
  const CPU_REAL *G = a->loaded ? a->G->p : NULL;
  CPU_REAL *dG = a->loaded ? a->dG->p : NULL;
  if (dG && !a->accumulate)
    for (int r = 0; r < RU; r++) dG[r] = 0;
  for (int b = 0; b < B; b++) {
    const CPU_REAL *z = (const CPU_REAL *)a->Z->p + (size_t)b * M;
    const CPU_REAL *du = (const CPU_REAL *)a->dU->p + (size_t)b * RU;
    CPU_REAL *dz = (CPU_REAL *)a->dZ->p + (size_t)b * M;
    for (int j = 0; j < M; j++) {
      CPU_REAL om, omv, omg, op, opv, opg;
      FN(curve_eval)(&cv, z[j], G ? G[2 + j] : 0, &om, &omv, &omg);
      FN(curve_eval)(&cv, om, G ? G[2 + M + j] : 0, &op, &opv, &opg);
      const CPU_REAL da = du[2 + j] + du[2 + M + j] * opv;
      dz[j] = da * omv;
      if (dG) {
        dG[2 + j] += da * omg;
        dG[2 + M + j] += du[2 + M + j] * opg;
      }
    }
  }
  return 0;
}

/* G[r] = sum_j W[j][r] S[j]: every row's conductance to the columns. */
static int FN(row_load)(void *impl, const phx_args_row_load *a, phx_err *err) {
  (void)impl;
  (void)err;
  const int M = a->M, R = a->R;
  const CPU_REAL *w = a->W->p, *s = a->S->p;
  CPU_REAL *g = a->G->p;
  for (int r = 0; r < R; r++) g[r] = 0;
  for (int j = 0; j < M; j++)
    for (int r = 0; r < R; r++) g[r] += w[(size_t)j * R + r] * s[j];
  return 0;
}

/* Per-sample loss, argmax prediction and (optionally) scaled dL/dU. */
static int FN(loss)(void *impl, const phx_args_loss *a, phx_err *err) {
  const cpu_impl *c = impl;
  const int B = a->B, M = a->M, RU = 2 * M + 2;
  const phx_buf *U = a->U, *labels = a->labels, *idx = a->idx, *lossv = a->lossv;
  const phx_buf *pred = a->pred, *dU = a->grad ? a->dU : NULL;
  const size_t ioff = a->ioff, ooff = a->ooff;
  const double scale = a->scale;
  const int32_t *ix = (const int32_t *)idx->p + ioff;
  const int32_t *lab = labels ? (const int32_t *)labels->p : NULL;
  const CPU_REAL vdd = (CPU_REAL)c->vdd, half = (CPU_REAL)(c->vdd / 2);
  const CPU_REAL inv = (CPU_REAL)(1 / c->vdd), sc = (CPU_REAL)scale;
  const CPU_REAL lo = (CPU_REAL)1e-7, hi = (CPU_REAL)(1 - 1e-7);
  CPU_REAL *lv = (CPU_REAL *)lossv->p + ooff;
  int32_t *pr = (int32_t *)pred->p + ooff;
  const CPU_REAL *tv = a->has_targets ? a->targets->p : NULL;
  for (int b = 0; b < B; b++) {
    if (ix[b] < 0 || ix[b] >= a->count || (!tv && (lab[ix[b]] < 0 || lab[ix[b]] >= M)))
      return phx_fail(err, PHX_EINVAL, "cpu backend: sample index %d or its label out of range",
                      (int)ix[b]);
    const int y = tv ? -1 : lab[ix[b]];
    const CPU_REAL *t = tv ? tv + (size_t)ix[b] * (size_t)M : NULL;
    const CPU_REAL *o = (const CPU_REAL *)U->p + (size_t)b * RU + 2;
    CPU_REAL *g = dU ? (CPU_REAL *)dU->p + (size_t)b * RU : NULL;
    if (g) memset(g, 0, sizeof *g * (size_t)RU);
    double l = 0;
    int best = 0;
    for (int j = 0; j < M; j++) {
      if (o[j] > o[best]) best = j;
      CPU_REAL dl;
      if (t || c->loss == PHX_LOSS_MSE) {
        CPU_REAL e = o[j] - (t ? t[j] : j == y ? half : -half);
        l += (double)(e * e);
        dl = 2 * e;
      } else {
        /* The probability of the target side: h for the true class, 1 - h
         * (computed as (vdd/2 - o) / vdd, without cancellation) otherwise;
         * zero gradient where the clamp is active. */
        const int is_y = j == y;
        CPU_REAL q = (is_y ? o[j] + half : half - o[j]) / vdd;
        const int clamped = q < lo || q > hi;
        q = q < lo ? lo : q > hi ? hi : q;
        l -= (double)CPU_LOG(q);
        dl = clamped ? 0 : (is_y ? -inv : inv) / q;
      }
      if (g) g[2 + j] = sc * dl;
    }
    lv[b] = (CPU_REAL)l;
    pr[b] = best;
  }
  return 0;
}

/* ---- optimizer ---------------------------------------------------------- */

/* An optimizer's constants, narrowed once per call. */
typedef struct FN(upd) {
  int kind;
  CPU_REAL lr, mu, b1, b2, a1, a2, step, rb2, eps;
} FN(upd);

/* Checks o and the state it needs, and fills k. */
static int FN(upd_init)(FN(upd) *k, const phx_optim *o, phx_err *err) {
  memset(k, 0, sizeof *k);
  k->kind = (int)o->kind;
  k->lr = (CPU_REAL)o->lr;
  switch (o->kind) {
    case PHX_OPT_SGD:
      return 0;
    case PHX_OPT_MOMENTUM:
      k->mu = (CPU_REAL)o->momentum;
      return 0;
    case PHX_OPT_ADAM: {
      const double bc1 = 1 - pow(o->beta1, (double)o->t);
      const double bc2 = 1 - pow(o->beta2, (double)o->t);
      k->b1 = (CPU_REAL)o->beta1;
      k->b2 = (CPU_REAL)o->beta2;
      k->a1 = (CPU_REAL)(1 - o->beta1);
      k->a2 = (CPU_REAL)(1 - o->beta2);
      k->step = (CPU_REAL)(o->lr / bc1);
      k->rb2 = (CPU_REAL)(1 / sqrt(bc2));
      k->eps = (CPU_REAL)o->eps;
      return 0;
    }
    default:
      return phx_fail(err, PHX_EINVAL, "cpu backend: optimizer %d has no device step",
                      (int)o->kind);
  }
}

/* theta -= update(g) over n entries: SGD, momentum (m = mu m + g;
 * theta -= lr m) or Adam. Inlined into callers whose kind is a constant,
 * so each kind gets its own vectorised loop. */
CPU_INLINE void FN(update)(int kind, const FN(upd) *k, size_t n, CPU_REAL *th,
                           const CPU_REAL *g, CPU_REAL *mv, CPU_REAL *vv) {
  const CPU_REAL lr = k->lr, mu = k->mu, b1 = k->b1, b2 = k->b2, a1 = k->a1, a2 = k->a2;
  const CPU_REAL step = k->step, rb2 = k->rb2, eps = k->eps;
  if (kind == PHX_OPT_SGD) {
    for (size_t i = 0; i < n; i++) th[i] -= lr * g[i];
  } else if (kind == PHX_OPT_MOMENTUM) {
    for (size_t i = 0; i < n; i++) {
      mv[i] = mu * mv[i] + g[i];
      th[i] -= lr * mv[i];
    }
  } else if (kind == PHX_OPT_ADAM) {
    for (size_t i = 0; i < n; i++) {
      mv[i] = b1 * mv[i] + a1 * g[i];
      vv[i] = b2 * vv[i] + a2 * g[i] * g[i];
      th[i] -= step * mv[i] / (CPU_SQRT(vv[i]) * rb2 + eps);
    }
  }
}

/* One SGD, momentum or Adam step. */
CPU_HOT static int FN(opt_step)(void *impl, const phx_args_opt_step *a, phx_err *err) {
  (void)impl;
  const phx_optim *o = a->o;
  const size_t n = a->n;
  const phx_buf *theta = a->theta, *grad = a->grad, *m = a->m, *v = a->v;
  FN(upd) k;
  int rc = FN(upd_init)(&k, o, err);
  if (rc) return rc;
  CPU_REAL *th = theta->p, *mv = m ? m->p : NULL, *vv = v ? v->p : NULL;
  const CPU_REAL *g = grad->p;
  switch (o->kind) {
    case PHX_OPT_SGD: FN(update)(PHX_OPT_SGD, &k, n, th, g, mv, vv); break;
    case PHX_OPT_MOMENTUM: FN(update)(PHX_OPT_MOMENTUM, &k, n, th, g, mv, vv); break;
    default: FN(update)(PHX_OPT_ADAM, &k, n, th, g, mv, vv); break;
  }
  return 0;
}

/* ---- fused step --------------------------------------------------------- */

/* step_map's rows for one optimizer kind (-1: map only). Per row, all in
 * L1: the row's dtheta from dWE and the P of the current theta (no exp),
 * the optimizer update, then the map of the new theta (one exp). */
CPU_INLINE void FN(step_rows)(const cpu_impl *c, int kind, const FN(upd) *k, int M,
                              int R, int fold, CPU_REAL *th, CPU_REAL *w, CPU_REAL *s,
                              CPU_REAL *e, CPU_REAL *p, const CPU_REAL *dwe, CPU_REAL *dt,
                              CPU_REAL *mv, CPU_REAL *vv) {
  const int N = (R - 2) / 2;
  const CPU_REAL gmin = (CPU_REAL)c->gmin, gk = (CPU_REAL)(c->gmin * c->k);
  const CPU_REAL half = (CPU_REAL)(c->vdd / 2);
  for (int j = 0; j < M; j++) {
    const size_t o = (size_t)j * R;
    CPU_REAL *ej = fold ? e + (size_t)j * (N + 1) : NULL;
    if (kind >= 0) {
      CPU_REAL *dj = dt + o;
      const CPU_REAL *pj = p + o;
      const CPU_REAL f = gk / s[j];
      if (fold) {
        /* sum_q dW_q W_q of the expanded dW is the dot of dE with E. */
        const CPU_REAL *ge = dwe + (size_t)j * (N + 1), *de = ge + 1;
        const CPU_REAL dot = FN(dot)(ge, ej, N + 1), d0 = half * ge[0];
        dj[0] = f * pj[0] * (d0 - dot);
        dj[1] = f * pj[1] * (-d0 - dot);
        for (int i = 0; i < N; i++) {
          dj[2 + i] = f * pj[2 + i] * (de[i] - dot);
          dj[2 + N + i] = f * pj[2 + N + i] * (-de[i] - dot);
        }
      } else {
        const CPU_REAL *gj = dwe + o;
        const CPU_REAL dot = FN(dot)(gj, w + o, R);
        for (int r = 0; r < R; r++) dj[r] = f * pj[r] * (gj[r] - dot);
      }
      FN(update)(kind, k, (size_t)R, th + o, dj, mv ? mv + o : NULL, vv ? vv + o : NULL);
    }
    s[j] = FN(map_row)(th + o, w + o, p + o, ej, R, gmin, gk, half);
  }
}

/* map_backward + opt_step + map_forward in one pass (see backend.h). */
CPU_HOT static int FN(step_map)(void *impl, const phx_args_step_map *a, phx_err *err) {
  const cpu_impl *c = impl;
  const phx_optim *o = a->o;
  const int M = a->M, R = a->R, fold = a->fold;
  const phx_buf *theta = a->theta, *W = a->W, *S = a->S, *E = a->E, *P = a->P;
  const phx_buf *dWE = a->dWE, *dtheta = a->dtheta, *m = a->m, *v = a->v;
  CPU_REAL *th = theta->p, *w = W->p, *s = S->p, *p = P->p;
  CPU_REAL *e = fold ? E->p : NULL;
  if (!o) {
    FN(step_rows)(c, -1, NULL, M, R, fold, th, w, s, e, p, NULL, NULL, NULL, NULL);
    return 0;
  }
  FN(upd) k;
  int rc = FN(upd_init)(&k, o, err);
  if (rc) return rc;
  const CPU_REAL *g = dWE->p;
  CPU_REAL *dt = dtheta->p, *mv = m ? m->p : NULL, *vv = v ? v->p : NULL;
  switch (o->kind) {
    case PHX_OPT_SGD:
      FN(step_rows)(c, PHX_OPT_SGD, &k, M, R, fold, th, w, s, e, p, g, dt, mv, vv);
      break;
    case PHX_OPT_MOMENTUM:
      FN(step_rows)(c, PHX_OPT_MOMENTUM, &k, M, R, fold, th, w, s, e, p, g, dt, mv, vv);
      break;
    default:
      FN(step_rows)(c, PHX_OPT_ADAM, &k, M, R, fold, th, w, s, e, p, g, dt, mv, vv);
      break;
  }
  return 0;
}

/* ---- device variation ----------------------------------------------------- */

/* A drawn chip's row (see map_vary in backend.h), in units of gmin:
 * each step is its own branch-free pass over the row (in L1), so that the
 * float path vectorises, hash included. */
CPU_INLINE void FN(vary_row)(CPU_REAL *g, const CPU_REAL *th, int R, const phx_variation *v,
                             const CPU_REAL *lu, CPU_REAL k, uint32_t key, uint32_t i0) {
  for (int r = 0; r < R; r++) g[r] = 1 + k / (1 + CPU_EXP(-th[r]));
  if (v->levels >= 2) {
    const CPU_REAL step = k / (CPU_REAL)(v->levels - 1), inv = 1 / step;
    for (int r = 0; r < R; r++) g[r] = 1 + CPU_RINT((g[r] - 1) * inv) * step;
  }
  /* a level list (lu: in units of gmin): the nearest, the lower on a tie */
  for (int r = 0; r < R && v->nlist > 0; r++) {
    CPU_REAL best = lu[0];
    for (int q = 1; q < v->nlist; q++) {
      const CPU_REAL dq = lu[q] - g[r], db = best - g[r];
      if ((dq < 0 ? -dq : dq) < (db < 0 ? -db : db)) best = lu[q];
    }
    g[r] = best;
  }
  if (v->sigma > 0) {
    const CPU_REAL sg = (CPU_REAL)v->sigma;
    const int gauss = v->dist == PHX_VAR_GAUSSIAN;
    for (int r = 0; r < R; r++) {
      const uint32_t i = i0 + (uint32_t)r;
      const CPU_REAL u1 = CPU_UNIFORM(key, i, PHX_VS_PROG);
      const CPU_REAL u2 = CPU_UNIFORM(key, i, PHX_VS_PROG + 1);
      const CPU_REAL n = CPU_SQRT(-2 * CPU_LOGU(u1)) * CPU_COS2PI(u2);
      const CPU_REAL x = gauss ? g[r] * (1 + sg * n) : g[r] * CPU_EXP(sg * n);
      g[r] = x > 0 ? x : 0;
    }
  }
  if (v->read_noise > 0) {
    const CPU_REAL sr = (CPU_REAL)v->read_noise;
    for (int r = 0; r < R; r++) {
      const uint32_t i = i0 + (uint32_t)r;
      const CPU_REAL u1 = CPU_UNIFORM(key, i, PHX_VS_READ);
      const CPU_REAL u2 = CPU_UNIFORM(key, i, PHX_VS_READ + 1);
      const CPU_REAL x = g[r] * (1 + sr * CPU_SQRT(-2 * CPU_LOGU(u1)) * CPU_COS2PI(u2));
      g[r] = x > 0 ? x : 0;
    }
  }
  if (v->stuck_off > 0 || v->stuck_on > 0) {
    /* compared in double, as the float uniform is exact there */
    const double off = v->stuck_off, on = v->stuck_off + v->stuck_on;
    for (int r = 0; r < R; r++) {
      const double u = CPU_UNIFORM(key, i0 + (uint32_t)r, PHX_VS_STUCK);
      g[r] = u < off ? 1 : u < on ? 1 + k : g[r];
    }
  }
}

/* theta -> a drawn chip's W, S (and E when fold). */
CPU_HOT static int FN(map_vary)(void *impl, const phx_args_map_vary *a, phx_err *err) {
  const cpu_impl *c = impl;
  const int M = a->M, R = a->R, N = (R - 2) / 2;
  const CPU_REAL k = (CPU_REAL)c->k, half = (CPU_REAL)(c->vdd / 2);
  const CPU_REAL *th = a->theta->p;
  CPU_REAL *w = a->W->p, *s = a->S->p;
  CPU_REAL lu[PHX_MAX_LEVEL_LIST];
  for (int q = 0; q < a->v->nlist; q++) lu[q] = (CPU_REAL)(a->v->list[q] / c->gmin);
  for (int j = 0; j < M; j++) {
    CPU_REAL *wj = w + (size_t)j * R;
    FN(vary_row)(wj, th + (size_t)j * R, R, a->v, lu, k, a->key, (uint32_t)((size_t)j * R));
    const CPU_REAL sum = FN(sum)(wj, R);
    if (!(sum > 0))
      return phx_fail(err, PHX_ENAN, "map_vary: column %d has no conductance left", j);
    const CPU_REAL inv = 1 / sum;
    for (int r = 0; r < R; r++) wj[r] *= inv;
    s[j] = (CPU_REAL)c->gmin * sum;
    if (a->fold) {
      CPU_REAL *ej = (CPU_REAL *)a->E->p + (size_t)j * (N + 1);
      ej[0] = half * (wj[0] - wj[1]);
      for (int i = 0; i < N; i++) ej[1 + i] = wj[2 + i] - wj[2 + N + i];
    }
  }
  return 0;
}

/* ---- power -------------------------------------------------------------- */

/* Crossbar dissipation per sample, in double whatever the real type: a
 * difference of two nearly equal sums (sum w u^2 - z^2) loses float
 * precision, and this runs once per evaluation, not per step. */
static int FN(crossbar_power)(void *impl, const phx_args_crossbar_power *a, phx_err *err) {
  (void)err;
  const cpu_impl *c = impl;
  const int M = a->M, R = a->R, N = (R - 2) / 2;
  const int RU = a->fold ? N + 1 : R;
  const double h2 = c->vdd * c->vdd / 4;
  const CPU_REAL *w = a->W->p, *s = a->S->p;
  for (int b = 0; b < a->B; b++) {
    const CPU_REAL *u = (const CPU_REAL *)a->U->p + (size_t)b * RU;
    const CPU_REAL *z = (const CPU_REAL *)a->Z->p + (size_t)b * M;
    double p = 0;
    for (int j = 0; j < M; j++) {
      const CPU_REAL *wj = w + (size_t)j * R;
      double q = 0;
      if (a->fold) {
        q = h2 * ((double)wj[0] + wj[1]);
        for (int i = 0; i < N; i++)
          q += ((double)wj[2 + i] + wj[2 + N + i]) * ((double)u[1 + i] * u[1 + i]);
      } else {
        for (int r = 0; r < R; r++) q += (double)wj[r] * ((double)u[r] * u[r]);
      }
      p += (double)s[j] * (q - (double)z[j] * z[j]);
    }
    ((CPU_REAL *)a->P->p)[b] = (CPU_REAL)p;
  }
  return 0;
}

/* The product, then activate: the C path runs the unfused ops, so that
 * `check` compares a device's fused kernel with them. */
static int FN(layer_forward)(void *impl, const phx_args_layer_forward *a, phx_err *err) {
  const phx_args_gemm g = {.transA = 0, .transB = 1, .m = a->B, .n = a->M, .k = a->K,
                           .alpha = 1.0, .beta = 0.0, .A = a->A, .lda = a->K, .B = a->Wt,
                           .ldb = a->K, .C = a->Z, .ldc = a->M};
  const phx_args_activate ac = {a->B, a->M, a->Z, a->U};
  int rc = FN(gemm)(impl, &g, err);
  return rc ? rc : FN(activate)(impl, &ac, err);
}

/* Zs = Z - D, row b taking D's row b / G. */
static int FN(neuron_offset)(void *impl, const phx_args_neuron_offset *a, phx_err *err) {
  (void)impl;
  (void)err;
  const size_t M = (size_t)a->M;
  const CPU_REAL *z = a->Z->p, *d = a->D->p;
  CPU_REAL *zs = a->Zs->p;
  for (int b = 0; b < a->B; b++) {
    const CPU_REAL *db = d + (size_t)(b / a->G) * M;
    for (size_t j = 0; j < M; j++) zs[(size_t)b * M + j] = z[(size_t)b * M + j] - db[j];
  }
  return 0;
}

/* ---- returned loads (backend.h, activate_return) ------------------------ */

/* n reals of buffer b as doubles into d. */
CPU_INLINE void FN(to_f64)(const phx_buf *b, size_t n, double *d) {
  const CPU_REAL *s = b->p;
  for (size_t i = 0; i < n; i++) d[i] = (double)s[i];
}

/* The table and the next layer in double, with a sample's scratch for
 * each of T workers: the C path runs core/return_solve.c, the reference's
 * own solve, in double whatever its real type (a K x K Newton solve per
 * sample; the float inputs and outputs keep the path's precision). The
 * samples are independent, so workers (phx_host_run) take them one by one
 * and the results do not depend on T or on who took which. */
typedef struct FN(ret_stage) {
  double *mem, *shared;
  size_t each; /* doubles of one worker's scratch */
  int M, K, T;
  phx_curve cv;
  phx_ret p; /* work points at worker 0's scratch */
} FN(ret_stage);

/* One worker's scratch: the solve's work, then v, dv (M), u, e (RU), x,
 * lam, gx (K). The backward pass writes c into the job's per-sample rows
 * instead, to be summed in sample order. */
typedef struct FN(ret_scratch) {
  phx_ret p;
  double *v, *dv, *u, *e, *x, *lam, *gx;
} FN(ret_scratch);

static int FN(ret_open)(FN(ret_stage) *q, const cpu_impl *c, int B, int M, int K, int L,
                        int NV, double v0, double dv, const phx_buf *T, const phx_buf *loads,
                        const phx_buf *G, const phx_buf *Wn, const phx_buf *Sn, phx_err *err) {
  const size_t RU = 2 * (size_t)M + 2, nt = (size_t)L * NV * 2, Kz = (size_t)K;
  const size_t shared = nt + L + RU + Kz * RU + Kz;
  q->each = phx_ret_work(M, K) + 2 * (size_t)M + 2 * RU + 3 * Kz;
  q->T = phx_host_workers(B / 4);
  double *m = malloc((shared + q->T * q->each) * sizeof *m);
  if (!m) return phx_fail(err, PHX_ENOMEM, "activate_return: out of memory");
  double *t = m, *ld = t + nt, *g = ld + L, *w = g + RU, *sn = w + Kz * RU;
  FN(to_f64)(T, nt, t);
  FN(to_f64)(loads, (size_t)L, ld);
  FN(to_f64)(G, RU, g);
  FN(to_f64)(Wn, Kz * RU, w);
  FN(to_f64)(Sn, Kz, sn);
  q->mem = m;
  q->shared = m + shared;
  q->M = M;
  q->K = K;
  const phx_curve cv = {L, NV, v0, dv, t, ld};
  q->cv = cv;
  const phx_ret p = {M, K, c->vdd, &q->cv, w, sn, g, q->shared};
  q->p = p;
  return 0;
}

/* Worker t's scratch. */
static FN(ret_scratch) FN(ret_scratch_of)(const FN(ret_stage) *q, int t) {
  const size_t RU = 2 * (size_t)q->M + 2;
  FN(ret_scratch) s;
  s.p = q->p;
  s.p.work = q->shared + (size_t)t * q->each;
  s.v = s.p.work + phx_ret_work(q->M, q->K);
  s.dv = s.v + q->M;
  s.u = s.dv + q->M;
  s.e = s.u + RU;
  s.x = s.e + RU;
  s.lam = s.x + q->K;
  s.gx = s.lam + q->K;
  return s;
}

/* The workers' job: the next sample to take (samples differ in Newton
 * steps, so each worker takes the next one free rather than a fixed share),
 * and per worker the first sample that failed (B: none). */
typedef struct FN(ret_job) {
  const FN(ret_stage) *q;
  const void *a;
  double *c; /* backward: each sample's load terms c (RU a sample) */
  atomic_int next;
  int bad[PHX_HOST_MAX_THREADS];
} FN(ret_job);

static void FN(ret_forward_share)(void *ctx, int t, int T) {
  FN(ret_job) *job = ctx;
  const phx_args_activate_return *a = job->a;
  const int B = a->B, M = a->M, RU = 2 * M + 2;
  FN(ret_scratch) q = FN(ret_scratch_of)(job->q, t);
  (void)T;
  job->bad[t] = B;
  for (int b; (b = atomic_fetch_add(&job->next, 1)) < B;) {
    const CPU_REAL *z = (const CPU_REAL *)a->Z->p + (size_t)b * M;
    for (int j = 0; j < M; j++) q.v[j] = z[j];
    if (phx_ret_forward(&q.p, q.v, q.u, q.x)) {
      job->bad[t] = b;
      return;
    }
    CPU_REAL *u = (CPU_REAL *)a->U->p + (size_t)b * RU;
    for (int r = 0; r < RU; r++) u[r] = (CPU_REAL)q.u[r];
  }
}

/* The first failed sample, or B: samples are taken in order and each
 * worker finishes what it took, so every sample before the smallest
 * failure taken by any worker was taken and came through. */
static int FN(ret_first_bad)(const FN(ret_job) *job, int T, int B) {
  int bad = B;
  for (int t = 0; t < T; t++) bad = job->bad[t] < bad ? job->bad[t] : bad;
  return bad;
}

/* Z -> U, each sample's rows settled with the next layer's columns. */
static int FN(activate_return)(void *impl, const phx_args_activate_return *a, phx_err *err) {
  FN(ret_stage) q;
  int rc = FN(ret_open)(&q, impl, a->B, a->M, a->K, a->L, a->NV, a->v0, a->dv, a->T, a->loads,
                        a->G, a->Wn, a->Sn, err);
  if (rc) return rc;
  FN(ret_job) job = {.q = &q, .a = a};
  atomic_init(&job.next, 0);
  phx_host_run(q.T, FN(ret_forward_share), &job);
  const int bad = FN(ret_first_bad)(&job, q.T, a->B);
  if (bad < a->B) rc = phx_fail(err, PHX_ENAN, "activate_return: sample %d did not settle", bad);
  free(q.mem);
  return rc;
}

static void FN(ret_backward_share)(void *ctx, int t, int T) {
  FN(ret_job) *job = ctx;
  const phx_args_activate_return_backward *a = job->a;
  const int B = a->B, M = a->M, K = a->K, RU = 2 * M + 2;
  FN(ret_scratch) q = FN(ret_scratch_of)(job->q, t);
  (void)T;
  job->bad[t] = B;
  for (int b; (b = atomic_fetch_add(&job->next, 1)) < B;) {
    const CPU_REAL *z = (const CPU_REAL *)a->Z->p + (size_t)b * M;
    const CPU_REAL *zn = (const CPU_REAL *)a->Zn->p + (size_t)b * K;
    CPU_REAL *dzn = (CPU_REAL *)a->dZn->p + (size_t)b * K;
    for (int j = 0; j < M; j++) q.v[j] = z[j];
    for (int k = 0; k < K; k++) q.x[k] = zn[k], q.gx[k] = dzn[k];
    double *c = job->c + (size_t)b * RU;
    if (phx_ret_backward(&q.p, q.v, q.x, q.gx, q.lam, q.dv, c, q.e)) {
      job->bad[t] = b;
      return;
    }
    CPU_REAL *dz = (CPU_REAL *)a->dZ->p + (size_t)b * M;
    CPU_REAL *er = (CPU_REAL *)a->Er->p + (size_t)b * RU;
    for (int k = 0; k < K; k++) dzn[k] = (CPU_REAL)q.lam[k];
    for (int j = 0; j < M; j++) dz[j] = (CPU_REAL)q.dv[j];
    for (int r = 0; r < RU; r++) er[r] = (CPU_REAL)q.e[r];
  }
}

/* The adjoint per sample; c summed over the batch in sample order. */
static int FN(activate_return_backward)(void *impl, const phx_args_activate_return_backward *a,
                                        phx_err *err) {
  const int B = a->B, RU = 2 * a->M + 2;
  FN(ret_stage) q;
  int rc = FN(ret_open)(&q, impl, B, a->M, a->K, a->L, a->NV, a->v0, a->dv, a->T, a->loads,
                        a->G, a->Wn, a->Sn, err);
  if (rc) return rc;
  FN(ret_job) job = {.q = &q, .a = a, .c = malloc((size_t)B * RU * sizeof(double))};
  atomic_init(&job.next, 0);
  if (!job.c) {
    free(q.mem);
    return phx_fail(err, PHX_ENOMEM, "activate_return_backward: out of memory");
  }
  phx_host_run(q.T, FN(ret_backward_share), &job);
  const int bad = FN(ret_first_bad)(&job, q.T, B);
  if (bad < B) {
    rc = phx_fail(err, PHX_ENAN, "activate_return_backward: sample %d: singular", bad);
  } else {
    CPU_REAL *dG = a->dG->p;
    if (!a->accumulate)
      for (int r = 0; r < RU; r++) dG[r] = 0;
    for (int b = 0; b < B; b++)
      for (int r = 0; r < RU; r++) dG[r] += (CPU_REAL)job.c[(size_t)b * RU + r];
  }
  free(job.c);
  free(q.mem);
  return rc;
}

/* The operation table of this instantiation. */
static const phx_bops FN(cpu_bops) = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .prepare = cpu_prepare,
    .alloc = FN(alloc),
    .release = cpu_release,
    .write = FN(write),
    .read = FN(read),
    .finish = cpu_finish,
#define CPU_OP_ENTRY(name, type, opt) .name = FN(name),
    PHX_OPS(CPU_OP_ENTRY)
#undef CPU_OP_ENTRY
};

#undef FN
#undef CPU_CAT
#undef CPU_CAT2
/* The parameters, so that the file can be included again with others. */
#undef CPU_REAL
#undef CPU_HOT
#undef CPU_SFX
#undef CPU_EXP
#undef CPU_LOG
#undef CPU_SQRT
#undef CPU_TANH
#undef CPU_COS2PI
#undef CPU_LOGU
#undef CPU_UNIFORM
#undef CPU_RINT
#undef CPU_FABS
#undef CPU_HTYPE
#undef CPU_CBLAS_GEMM
