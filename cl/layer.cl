/* The layer operands around the matrix products (which CLBlast computes):
 * the input row vector, the inverter VTCs and their derivatives. One
 * work-item per output element; the grid is rounded up to PHX_WG. */

/* V (B x (N+1)): V[b][0] = 1, V[b][1+i] = (X[idx[ioff+b]][i] - 0.5) vdd.
 * One work-item per sample and PHX_GV inputs, as in phx_activate. */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_gather_input(const int N, const int B, const int count,
                      __global const float *X, __global const int *idx,
                      const uint ioff, __global float *V) {
  const uint g = (uint)get_global_id(0);
  const uint chunks = ((uint)N + PHX_GV - 1) / PHX_GV;
  if (g >= (uint)B * chunks) return;
  const uint b = g / chunks, i0 = (g - b * chunks) * PHX_GV; /* no %: see common.cl */
  const int s = idx[ioff + b];
  __global float *v = V + (size_t)b * ((size_t)N + 1) + 1;
  if (i0 == 0) v[-1] = 1.0f;
  if ((uint)s >= (uint)count) { /* outside X: NaN, never a stray read */
    for (int i = (int)i0; i < N && i < (int)i0 + PHX_GV; i++) v[i] = NAN;
    return;
  }
  __global const float *x = X + (size_t)s * (size_t)N;
  if (i0 + PHX_GV <= (uint)N) {
    GSTORE((GLOAD(x + i0) - 0.5f) * PHX_VDD, v + i0);
  } else {
    for (int i = (int)i0; i < N; i++) v[i] = (x[i] - 0.5f) * PHX_VDD;
  }
}

/* Crossbar dissipation per sample (backend.h, crossbar_power): one
 * work-item per sample, sums over columns and rows in a fixed order. The
 * column term sum_r W u^2 - z^2 is a difference of nearly equal sums, so
 * each column's term is summed on its own before it is weighted by S. */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_crossbar_power(const int B, const int M, const int R, const int fold,
                        __global const float *U, __global const float *Z,
                        __global const float *W, __global const float *S,
                        __global float *P) {
  const int b = (int)get_global_id(0);
  if (b >= B) return;
  const int N = (R - 2) / 2, RU = fold ? N + 1 : R;
  __global const float *u = U + (size_t)b * (size_t)RU;
  __global const float *z = Z + (size_t)b * (size_t)M;
  float p = 0.0f;
  for (int j = 0; j < M; j++) {
    __global const float *w = W + (size_t)j * (size_t)R;
    float q;
    if (fold) {
      q = PHX_HALF * PHX_HALF * (w[0] + w[1]);
      for (int i = 0; i < N; i++) q += (w[2 + i] + w[2 + N + i]) * (u[1 + i] * u[1 + i]);
    } else {
      q = 0.0f;
      for (int r = 0; r < R; r++) q += w[r] * (u[r] * u[r]);
    }
    p += S[j] * (q - z[j] * z[j]);
  }
  P[b] = p;
}

/* Z (B x M) -> U (B x (2M+2)) = [vdd/2, -vdd/2, o-_1..o-_M, o+_1..o+_M].
 * One work-item per sample and PHX_GV neurons (explicit vectors, so that
 * tanh vectorises on CPU devices); the last block of a row goes element
 * by element. */

__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_activate(const int B, const int M, __global const float *Z,
                  __global float *U) {
  const uint g = (uint)get_global_id(0);
  const uint chunks = ((uint)M + PHX_GV - 1) / PHX_GV;
  if (g >= (uint)B * chunks) return;
  const uint b = g / chunks, j0 = (g - b * chunks) * PHX_GV; /* no %: see common.cl */
  __global const float *z = Z + (size_t)b * (size_t)M;
  __global float *u = U + (size_t)b * (2 * (size_t)M + 2);
  if (j0 == 0) {
    u[0] = PHX_HALF;
    u[1] = -PHX_HALF;
  }
  if (j0 + PHX_GV <= (uint)M) {
    const GVEC zv = GLOAD(z + j0);
    GSTORE(PHX_C1 + PHX_C2 * tanh(PHX_C4 * (zv - PHX_C3)), u + 2 + j0);
    GSTORE(PHX_D1 + PHX_D2 * tanh(PHX_D4 * (zv - PHX_D3)), u + 2 + M + j0);
  } else {
    for (int j = (int)j0; j < M; j++) {
      u[2 + j] = phx_vtc_inv(z[j]);
      u[2 + M + j] = phx_vtc_non(z[j]);
    }
  }
}

/* 1 - tanh^2(x) as 4e / (1 + e)^2, e = exp(-2|x|): accurate in the tails,
 * where 1 - tanh^2 from tanh cancels to zero. */
float phx_sech2(float x) {
  const float e = exp(-2.0f * fabs(x)), q = 1.0f + e;
  return 4.0f * e / (q * q);
}
GVEC phx_sech2_v(GVEC x) {
  const GVEC e = exp(-2.0f * fabs(x)), q = 1.0f + e;
  return 4.0f * e / (q * q);
}

/* dL/dU (B x (2M+2)) -> dL/dZ (B x M) through both VTCs; work split as in
 * phx_activate. */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_activate_backward(const int B, const int M, __global const float *Z,
                           __global const float *dU, __global float *dZ) {
  const uint g = (uint)get_global_id(0);
  const uint chunks = ((uint)M + PHX_GV - 1) / PHX_GV;
  if (g >= (uint)B * chunks) return;
  const uint b = g / chunks, j0 = (g - b * chunks) * PHX_GV; /* no %: see common.cl */
  __global const float *z = Z + (size_t)b * (size_t)M;
  __global const float *du = dU + (size_t)b * (2 * (size_t)M + 2) + 2;
  __global float *dz = dZ + (size_t)b * (size_t)M;
  if (j0 + PHX_GV <= (uint)M) {
    const GVEC zv = GLOAD(z + j0);
    GSTORE(GLOAD(du + j0) * (PHX_C2 * PHX_C4) * phx_sech2_v(PHX_C4 * (zv - PHX_C3)) +
               GLOAD(du + M + j0) * (PHX_D2 * PHX_D4) * phx_sech2_v(PHX_D4 * (zv - PHX_D3)),
           dz + j0);
  } else {
    for (int j = (int)j0; j < M; j++)
      dz[j] = du[j] * (PHX_C2 * PHX_C4) * phx_sech2(PHX_C4 * (z[j] - PHX_C3)) +
              du[M + j] * (PHX_D2 * PHX_D4) * phx_sech2(PHX_D4 * (z[j] - PHX_D3));
  }
}

/* C[i][j] = beta * C[i][j] over an m x n block (a product with k == 0). */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_scale_block(const int m, const int n, const float beta,
                     __global float *C, const uint coff, const int ldc) {
  const size_t g = get_global_id(0);
  if (g >= (size_t)m * (size_t)n) return;
  const size_t i = g / (size_t)n, j = g - i * (size_t)n;
  __global float *c = C + coff + i * (size_t)ldc + j;
  *c = beta == 0.0f ? 0.0f : beta * *c;
}

/* Zs = Z - D, row b taking D's row b / G (the neurons' input offsets):
 * one work-item per sample, its row in order. */
__kernel void phx_neuron_offset(const int B, const int M, const int G,
                                __global const float *Z, __global const float *D,
                                __global float *Zs) {
  const int b = (int)get_global_id(0);
  if (b >= B) return;
  __global const float *z = Z + (size_t)b * (size_t)M;
  __global const float *d = D + (size_t)(b / G) * (size_t)M;
  __global float *zs = Zs + (size_t)b * (size_t)M;
  for (int j = 0; j < M; j++) zs[j] = z[j] - d[j];
}
