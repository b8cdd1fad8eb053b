/* The layer operands around the matrix products (which CLBlast computes):
 * the input row vector, the inverter VTCs and their derivatives. One
 * work-item per output element; the grid is rounded up to PHX_WG. */

/* V (B x (N+1)): V[b][0] = 1, V[b][1+i] = (X[idx[ioff+b]][i] - 0.5) vdd. */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_gather_input(const int N, const int B, __global const float *X,
                      __global const int *idx, const uint ioff,
                      __global float *V) {
  const size_t g = get_global_id(0);
  const size_t cols = (size_t)N + 1;
  if (g >= (size_t)B * cols) return;
  const size_t b = g / cols, c = g - b * cols; /* no %: see common.cl */
  if (c == 0) {
    V[g] = 1.0f;
  } else {
    const size_t row = (size_t)idx[ioff + b];
    V[g] = (X[row * (size_t)N + (c - 1)] - 0.5f) * PHX_VDD;
  }
}

/* Z (B x M) -> U (B x (2M+2)) = [vdd/2, -vdd/2, o-_1..o-_M, o+_1..o+_M]. */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_activate(const int B, const int M, __global const float *Z,
                  __global float *U) {
  const size_t g = get_global_id(0);
  const size_t cols = 2 * (size_t)M + 2;
  if (g >= (size_t)B * cols) return;
  const size_t b = g / cols, c = g - b * cols; /* no %: see common.cl */
  float u;
  if (c == 0) {
    u = PHX_HALF;
  } else if (c == 1) {
    u = -PHX_HALF;
  } else if (c < (size_t)M + 2) {
    const float z = Z[b * (size_t)M + (c - 2)];
    u = PHX_C1 + PHX_C2 * tanh(PHX_C4 * (z - PHX_C3));
  } else {
    const float z = Z[b * (size_t)M + (c - 2 - (size_t)M)];
    u = PHX_D1 + PHX_D2 * tanh(PHX_D4 * (z - PHX_D3));
  }
  U[g] = u;
}

/* 1 - tanh^2(x) as 4e / (1 + e)^2, e = exp(-2|x|): accurate in the tails,
 * where 1 - tanh^2 from tanh cancels to zero. */
float phx_sech2(float x) {
  const float e = exp(-2.0f * fabs(x)), q = 1.0f + e;
  return 4.0f * e / (q * q);
}

/* dL/dU (B x (2M+2)) -> dL/dZ (B x M) through both VTCs. */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_activate_backward(const int B, const int M, __global const float *Z,
                           __global const float *dU, __global float *dZ) {
  const size_t g = get_global_id(0);
  if (g >= (size_t)B * (size_t)M) return;
  const size_t b = g / (size_t)M, j = g - b * (size_t)M;
  const size_t cols = 2 * (size_t)M + 2;
  const float z = Z[g];
  dZ[g] = dU[b * cols + 2 + j] * (PHX_C2 * PHX_C4) * phx_sech2(PHX_C4 * (z - PHX_C3)) +
          dU[b * cols + 2 + (size_t)M + j] * (PHX_D2 * PHX_D4) *
              phx_sech2(PHX_D4 * (z - PHX_D3));
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
