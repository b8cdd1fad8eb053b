/* Matrix products for CPU devices (PoCL), where CLBlast's kernels pay for
 * local memory and barriers that a CPU does not need. One work-item per
 * register block, work-groups of one work-item, explicit vectors of
 * PHX_GV floats (the device's native width: 16 or 8 on CPUs, 1 elsewhere)
 * so that the speed does not depend on the implicit work-item vectoriser. Sums run in a fixed order:
 * results are the same run to run. Row-major, element offsets, as in
 * backend.h; rows past m are read clamped and never written.
 * GVEC, GLOAD, GSTORE and GSUM serve the later files too. */
#ifndef PHX_GV
#define PHX_GV 1
#endif
#if PHX_GV == 1 /* scalar devices (GPUs, simulators): plain floats */
#define GVEC float
#define GLOAD(p) (*(p))
#define GSTORE(v, p) (*(p) = (v))
#define GSUM(v) (v)
#elif PHX_GV == 16
#define GVEC float16
#define GLOAD(p) vload16(0, (p))
#define GSTORE(v, p) vstore16((v), 0, (p))
#define GSUM(v) phx_hsum8((v).lo + (v).hi)
#elif PHX_GV == 8
#define GVEC float8
#define GLOAD(p) vload8(0, (p))
#define GSTORE(v, p) vstore8((v), 0, (p))
#define GSUM(v) phx_hsum8(v)
#else
#error "PHX_GV must be 1, 8 or 16"
#endif

float phx_hsum8(float8 v) {
  const float4 a = v.lo + v.hi;
  const float2 b = a.lo + a.hi;
  return b.x + b.y;
}

/* C = alpha * r + beta * C (beta == 0 ignores C, which may hold NaN). */
#define PHX_STORE(Cp, r) (*(Cp) = beta == 0.0f ? alpha * (r) : alpha * (r) + beta * *(Cp))

/* C (m x n) = alpha A B^T + beta C, A m x k, B n x k: both operands run
 * along k, so each work-item takes a 4 x 4 block of dot products over
 * vectors of k and sums each vector once at the end. */
__kernel void phx_gemm_nt(const int m, const int n, const int k, const float alpha,
                          __global const float *A, const uint aoff, const int lda,
                          __global const float *B, const uint boff, const int ldb,
                          const float beta, __global float *C, const uint coff,
                          const int ldc) {
  const int j0 = (int)get_global_id(0) * 4, i0 = (int)get_global_id(1) * 4;
  if (i0 >= m || j0 >= n) return;
  __global const float *a[4], *b[4];
  for (int t = 0; t < 4; t++) {
    a[t] = A + aoff + (size_t)min(i0 + t, m - 1) * (size_t)lda;
    b[t] = B + boff + (size_t)min(j0 + t, n - 1) * (size_t)ldb;
  }
  GVEC acc[4][4];
  for (int s = 0; s < 4; s++)
    for (int t = 0; t < 4; t++) acc[s][t] = (GVEC)(0.0f);
  int p = 0;
  for (; p + PHX_GV <= k; p += PHX_GV) {
    const GVEC a0 = GLOAD(a[0] + p), a1 = GLOAD(a[1] + p), a2 = GLOAD(a[2] + p),
               a3 = GLOAD(a[3] + p);
    for (int t = 0; t < 4; t++) {
      const GVEC bt = GLOAD(b[t] + p);
      acc[0][t] += a0 * bt;
      acc[1][t] += a1 * bt;
      acc[2][t] += a2 * bt;
      acc[3][t] += a3 * bt;
    }
  }
  for (int s = 0; s < 4 && i0 + s < m; s++)
    for (int t = 0; t < 4 && j0 + t < n; t++) {
      float r = GSUM(acc[s][t]);
      for (int q = p; q < k; q++) r += a[s][q] * b[t][q];
      PHX_STORE(C + coff + (size_t)(i0 + s) * (size_t)ldc + (j0 + t), r);
    }
}

/* C (m x n) = alpha op(A) B + beta C, op(A) m x k (A[i][p], or A[p][i]
 * when ta), B k x n: B runs along n, so each work-item takes 8 rows by one
 * vector of columns, broadcasting op(A) elements; the last column block
 * (n not a multiple of PHX_GV) goes element by element. */
__kernel void phx_gemm_xn(const int ta, const int m, const int n, const int k,
                          const float alpha, __global const float *A, const uint aoff,
                          const int lda, __global const float *B, const uint boff,
                          const int ldb, const float beta, __global float *C,
                          const uint coff, const int ldc) {
  const int j0 = (int)get_global_id(0) * PHX_GV, i0 = (int)get_global_id(1) * 8;
  if (i0 >= m || j0 >= n) return;
  /* op(A)[i][p] = A[aoff + i * si + p * sp] */
  const size_t si = ta ? 1 : (size_t)lda, sp = ta ? (size_t)lda : 1;
  __global const float *a[8];
  for (int s = 0; s < 8; s++) a[s] = A + aoff + (size_t)min(i0 + s, m - 1) * si;
  __global const float *b = B + boff + j0;
  if (j0 + PHX_GV <= n) {
    GVEC acc[8];
    for (int s = 0; s < 8; s++) acc[s] = (GVEC)(0.0f);
    for (int p = 0; p < k; p++) {
      const GVEC bv = GLOAD(b + (size_t)p * (size_t)ldb);
      const size_t o = (size_t)p * sp;
      for (int s = 0; s < 8; s++) acc[s] += a[s][o] * bv;
    }
    for (int s = 0; s < 8 && i0 + s < m; s++) {
      float r[PHX_GV];
      GSTORE(acc[s], r);
      __global float *c = C + coff + (size_t)(i0 + s) * (size_t)ldc + j0;
      for (int t = 0; t < PHX_GV; t++) PHX_STORE(c + t, r[t]);
    }
  } else {
    for (int s = 0; s < 8 && i0 + s < m; s++)
      for (int t = 0; j0 + t < n; t++) {
        float r = 0.0f;
        for (int p = 0; p < k; p++) r += a[s][(size_t)p * sp] * b[(size_t)p * (size_t)ldb + t];
        PHX_STORE(C + coff + (size_t)(i0 + s) * (size_t)ldc + (j0 + t), r);
      }
  }
}
