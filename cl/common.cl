/* Shared by every phaxcl kernel. The host passes the model constants, the
 * per-device choices and the shared tile sizes as -D options (floats as
 * exact literals; src/opencl/backend_opencl.c builds them from one table):
 *   PHX_WG            work-group size, a power of two, used by every launch
 *   PHX_GV            vector width of the explicit-vector kernels: 1, 8, 16
 *   PHX_NT_TILE       phx_gemm_nt's block (TILE x TILE per work-item)
 *   PHX_XN_ROWS       phx_gemm_xn's rows per work-item
 *   PHX_VDD           supply (V); rails at +-PHX_VDD/2
 *   PHX_GMIN, PHX_K   g = PHX_GMIN * (1 + PHX_K * sigmoid(theta))
 *   PHX_C1..PHX_C4    inverted VTC   o- = C1 + C2 tanh(C4 (z - C3))
 *   PHX_D1..PHX_D4    non-inverted   o+ = D1 + D2 tanh(D4 (z - D3))
 *   PHX_LOSS          0 cross-entropy, 1 squared error
 * fp32 only; no fast-math; no atomics.
 * Index splits use q = g / n, r = g - q n rather than g % n: the div/rem
 * pair becomes an LLVM `freeze` that Oclgrind's uninitialised-value
 * checker (21.10) cannot interpret. */
#if !defined(PHX_WG) || !defined(PHX_VDD) || !defined(PHX_GMIN) || \
    !defined(PHX_K) || !defined(PHX_LOSS) || !defined(PHX_GV) ||       \
    !defined(PHX_NT_TILE) || !defined(PHX_XN_ROWS)
#error "phaxcl kernels need -D PHX_WG, PHX_VDD, PHX_GMIN, PHX_K, PHX_LOSS, PHX_GV, PHX_NT_TILE, PHX_XN_ROWS"
#endif

#define PHX_HALF (0.5f * PHX_VDD)
#define PHX_CE_EPS 1e-7f

/* Logistic function; exp overflow for very negative t gives exactly 0. */
float phx_sigmoid(float t) { return 1.0f / (1.0f + exp(-t)); }

/* Sum of one value per work-item over the work-group, as a fixed binary
 * tree (same order on every run: deterministic without atomics). Every
 * work-item of the group must call it; all receive the sum. */
float phx_group_sum(__local float *buf, float v) {
  const int lid = (int)get_local_id(0);
  buf[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = PHX_WG / 2; s > 0; s >>= 1) {
    if (lid < s) buf[lid] += buf[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  const float total = buf[0];
  barrier(CLK_LOCAL_MEM_FENCE); /* buf may be reused after return */
  return total;
}

/* Explicit vectors of PHX_GV floats (the elementwise and own GEMM kernels):
 * the speed then does not depend on the implicit work-item vectoriser. */
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


/* Device variation (map_vary): the counter-based hash of src/core/vary.h,
 * the same integer code, so every backend draws the same cells. */
uint phx_mix32(uint x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

float phx_vary_uniform(const uint key, const uint i, const uint s) {
  const uint h = phx_mix32(key ^ phx_mix32(i * 8U + s));
  return ((float)(h >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

/* log on (0, 1] and cos(2 pi u): the same branch-free approximations as
 * the C path's float code (src/cpu/backend_cpu.c, cpu_logf and
 * cpu_cos2pif), so both draw the same normals to float rounding. */
float phx_logu(const float x) {
  int b = as_int(x);
  const int e = (b - 0x3f3504f3) >> 23;
  b -= e * (1 << 23);
  const float m = as_float(b);
  const float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
  const float p =
      1.0f + t2 * (1.0f / 3 + t2 * (1.0f / 5 + t2 * (1.0f / 7 + t2 * (1.0f / 9 + t2 * (1.0f / 11)))));
  return 2.0f * t * p + (float)e * 0.693147180559945f;
}

float phx_cos2pi(const float u) {
  float v = fabs(u - rint(u));
  const int flip = v > 0.25f;
  v = flip ? 0.5f - v : v;
  const float x = 6.283185307179586f * v, x2 = x * x;
  const float c =
      1.0f + x2 * (-1.0f / 2 + x2 * (1.0f / 24 + x2 * (-1.0f / 720 + x2 * (1.0f / 40320 +
             x2 * (-1.0f / 3628800 + x2 * (1.0f / 479001600))))));
  return flip ? -c : c;
}

/* The two VTC curves of a neuron (o- and o+ of z): activate in layer.cl
 * and the fused product in gemm.cl. */
float phx_vtc_inv(float z) { return PHX_C1 + PHX_C2 * tanh(PHX_C4 * (z - PHX_C3)); }
float phx_vtc_non(float z) { return PHX_D1 + PHX_D2 * tanh(PHX_D4 * (z - PHX_D3)); }
