/* Matrix products for CPU devices (PoCL), where CLBlast's kernels pay for
 * local memory and barriers that a CPU does not need. One work-item per
 * register block, work-groups of one work-item, explicit vectors of
 * PHX_GV floats (the device's native width: 16 or 8 on CPUs, 1 elsewhere)
 * so that the speed does not depend on the implicit work-item vectoriser. Sums run in a fixed order:
 * results are the same run to run. Row-major, element offsets, as in
 * backend.h; rows past m are read clamped and never written. The vector
 * macros (GVEC, GLOAD, ...) are in common.cl. */
/* C = alpha * r + beta * C (beta == 0 ignores C, which may hold NaN). */
#define PHX_STORE(Cp, r) (*(Cp) = beta == 0.0f ? alpha * (r) : alpha * (r) + beta * *(Cp))

/* The PHX_NT_TILE x PHX_NT_TILE block at rows i0, columns j0 of A B^T, A
 * m x k, B n x k: both operands run along k, so each work-item sums its
 * dot products over vectors of k and each vector once at the end. Rows and
 * columns past m and n are read clamped (their sums are not stored). */
void phx_nt_tile(const int m, const int n, const int k, __global const float *A,
                 const uint aoff, const int lda, __global const float *B, const uint boff,
                 const int ldb, const int i0, const int j0,
                 float r[PHX_NT_TILE][PHX_NT_TILE]) {
  __global const float *a[PHX_NT_TILE], *b[PHX_NT_TILE];
  for (int t = 0; t < PHX_NT_TILE; t++) {
    a[t] = A + aoff + (size_t)min(i0 + t, m - 1) * (size_t)lda;
    b[t] = B + boff + (size_t)min(j0 + t, n - 1) * (size_t)ldb;
  }
  /* the tile loops unrolled, so that acc stays in registers (PoCL does
   * not unroll them by itself and keeps acc on the stack) */
  GVEC acc[PHX_NT_TILE][PHX_NT_TILE];
#pragma unroll
  for (int s = 0; s < PHX_NT_TILE; s++)
#pragma unroll
    for (int t = 0; t < PHX_NT_TILE; t++) acc[s][t] = (GVEC)(0.0f);
  int p = 0;
  for (; p + PHX_GV <= k; p += PHX_GV) {
    GVEC av[PHX_NT_TILE];
#pragma unroll
    for (int s = 0; s < PHX_NT_TILE; s++) av[s] = GLOAD(a[s] + p);
#pragma unroll
    for (int t = 0; t < PHX_NT_TILE; t++) {
      const GVEC bt = GLOAD(b[t] + p);
#pragma unroll
      for (int s = 0; s < PHX_NT_TILE; s++) acc[s][t] += av[s] * bt;
    }
  }
  for (int s = 0; s < PHX_NT_TILE; s++)
    for (int t = 0; t < PHX_NT_TILE; t++) {
      float x = GSUM(acc[s][t]);
      for (int q = p; q < k; q++) x += a[s][q] * b[t][q];
      r[s][t] = x;
    }
}

/* C (m x n) = alpha A B^T + beta C, A m x k, B n x k (see phx_nt_tile). */
__kernel void phx_gemm_nt(const int m, const int n, const int k, const float alpha,
                          __global const float *A, const uint aoff, const int lda,
                          __global const float *B, const uint boff, const int ldb,
                          const float beta, __global float *C, const uint coff,
                          const int ldc) {
  const int j0 = (int)get_global_id(0) * PHX_NT_TILE, i0 = (int)get_global_id(1) * PHX_NT_TILE;
  if (i0 >= m || j0 >= n) return;
  float r[PHX_NT_TILE][PHX_NT_TILE];
  phx_nt_tile(m, n, k, A, aoff, lda, B, boff, ldb, i0, j0, r);
  for (int s = 0; s < PHX_NT_TILE && i0 + s < m; s++)
    for (int t = 0; t < PHX_NT_TILE && j0 + t < n; t++)
      PHX_STORE(C + coff + (size_t)(i0 + s) * (size_t)ldc + (j0 + t), r[s][t]);
}

/* layer_forward (backend.h): Z (B x M) = A Wt^T, A B x K, Wt M x K, and
 * U (B x (2M+2)) = activate(Z) from the same block, in one launch. */
__kernel void phx_gemm_nt_act(const int B, const int M, const int K,
                              __global const float *A, __global const float *Wt,
                              __global float *Z, __global float *U) {
  const int j0 = (int)get_global_id(0) * PHX_NT_TILE, i0 = (int)get_global_id(1) * PHX_NT_TILE;
  if (i0 >= B || j0 >= M) return;
  float r[PHX_NT_TILE][PHX_NT_TILE];
  phx_nt_tile(B, M, K, A, 0, K, Wt, 0, K, i0, j0, r);
  for (int s = 0; s < PHX_NT_TILE && i0 + s < B; s++) {
    __global float *u = U + (size_t)(i0 + s) * (2 * (size_t)M + 2);
    if (j0 == 0) {
      u[0] = PHX_HALF;
      u[1] = -PHX_HALF;
    }
    for (int t = 0; t < PHX_NT_TILE && j0 + t < M; t++) {
      const float z = r[s][t];
      Z[(size_t)(i0 + s) * (size_t)M + (j0 + t)] = z;
      u[2 + j0 + t] = phx_vtc_inv(z);
      u[2 + M + j0 + t] = phx_vtc_non(z);
    }
  }
}

/* C (m x n) = alpha op(A) B + beta C, op(A) m x k (A[i][p], or A[p][i]
 * when ta), B k x n: B runs along n, so each work-item takes PHX_XN_ROWS rows by one
 * vector of columns, broadcasting op(A) elements; the last column block
 * (n not a multiple of PHX_GV) goes element by element. */
__kernel void phx_gemm_xn(const int ta, const int m, const int n, const int k,
                          const float alpha, __global const float *A, const uint aoff,
                          const int lda, __global const float *B, const uint boff,
                          const int ldb, const float beta, __global float *C,
                          const uint coff, const int ldc) {
  const int j0 = (int)get_global_id(0) * PHX_GV, i0 = (int)get_global_id(1) * PHX_XN_ROWS;
  if (i0 >= m || j0 >= n) return;
  /* op(A)[i][p] = A[aoff + i * si + p * sp] */
  const size_t si = ta ? 1 : (size_t)lda, sp = ta ? (size_t)lda : 1;
  __global const float *a[PHX_XN_ROWS];
  for (int s = 0; s < PHX_XN_ROWS; s++) a[s] = A + aoff + (size_t)min(i0 + s, m - 1) * si;
  __global const float *b = B + boff + j0;
  if (j0 + PHX_GV <= n) {
    GVEC acc[PHX_XN_ROWS];
    for (int s = 0; s < PHX_XN_ROWS; s++) acc[s] = (GVEC)(0.0f);
    for (int p = 0; p < k; p++) {
      const GVEC bv = GLOAD(b + (size_t)p * (size_t)ldb);
      const size_t o = (size_t)p * sp;
      for (int s = 0; s < PHX_XN_ROWS; s++) acc[s] += a[s][o] * bv;
    }
    for (int s = 0; s < PHX_XN_ROWS && i0 + s < m; s++) {
      float r[PHX_GV];
      GSTORE(acc[s], r);
      __global float *c = C + coff + (size_t)(i0 + s) * (size_t)ldc + j0;
      for (int t = 0; t < PHX_GV; t++) PHX_STORE(c + t, r[t]);
    }
  } else {
    for (int s = 0; s < PHX_XN_ROWS && i0 + s < m; s++)
      for (int t = 0; j0 + t < n; t++) {
        float r = 0.0f;
        for (int p = 0; p < k; p++) r += a[s][(size_t)p * sp] * b[(size_t)p * (size_t)ldb + t];
        PHX_STORE(C + coff + (size_t)(i0 + s) * (size_t)ldc + (j0 + t), r);
      }
  }
}
