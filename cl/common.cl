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
#define GUVEC uint
#define GIVEC int
#define GIOTA 0U
#define GCVTF(x) convert_float(x)
#define GASI(x) as_int(x)
#define GASF(x) as_float(x)
#elif PHX_GV == 16
#define GVEC float16
#define GLOAD(p) vload16(0, (p))
#define GSTORE(v, p) vstore16((v), 0, (p))
#define GSUM(v) phx_hsum8((v).lo + (v).hi)
#define GUVEC uint16
#define GIVEC int16
#define GIOTA ((uint16)(0U, 1U, 2U, 3U, 4U, 5U, 6U, 7U, 8U, 9U, 10U, 11U, 12U, 13U, 14U, 15U))
#define GCVTF(x) convert_float16(x)
#define GASI(x) as_int16(x)
#define GASF(x) as_float16(x)
#elif PHX_GV == 8
#define GVEC float8
#define GLOAD(p) vload8(0, (p))
#define GSTORE(v, p) vstore8((v), 0, (p))
#define GSUM(v) phx_hsum8(v)
#define GUVEC uint8
#define GIVEC int8
#define GIOTA ((uint8)(0U, 1U, 2U, 3U, 4U, 5U, 6U, 7U))
#define GCVTF(x) convert_float8(x)
#define GASI(x) as_int8(x)
#define GASF(x) as_float8(x)
#else
#error "PHX_GV must be 1, 8 or 16"
#endif

float phx_hsum8(float8 v) {
  const float4 a = v.lo + v.hi;
  const float2 b = a.lo + a.hi;
  return b.x + b.y;
}


/* Device variation (map_vary): the counter-based hash of src/core/vary.h,
 * the same integer code, so every backend draws the same cells. These run
 * on PHX_GV cells at once (GUVEC lanes: consecutive indices), explicitly,
 * as the implicit vectoriser does not pack them; each lane computes
 * exactly what the scalar code would. */
GUVEC phx_mix32(GUVEC x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

GVEC phx_vary_uniform(const uint key, const GUVEC i, const uint s) {
  const GUVEC h = phx_mix32(key ^ phx_mix32(i * 8U + s));
  return (GCVTF(h >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

/* log on (0, 1] and cos(2 pi u): the same branch-free approximations as
 * the C path's float code (src/cpu/backend_cpu.c, cpu_logf and
 * cpu_cos2pif), so both draw the same normals to float rounding. */
GVEC phx_logu(const GVEC x) {
  GIVEC b = GASI(x);
  const GIVEC e = (b - 0x3f3504f3) >> 23;
  b -= e * (1 << 23);
  const GVEC m = GASF(b);
  const GVEC t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
  const GVEC p =
      1.0f + t2 * (1.0f / 3 + t2 * (1.0f / 5 + t2 * (1.0f / 7 + t2 * (1.0f / 9 + t2 * (1.0f / 11)))));
  return 2.0f * t * p + GCVTF(e) * 0.693147180559945f;
}

GVEC phx_cos2pi(const GVEC u) {
  GVEC v = fabs(u - rint(u));
  const GIVEC flip = isgreater(v, (GVEC)(0.25f));
  v = select(v, 0.5f - v, flip);
  const GVEC x = 6.283185307179586f * v, x2 = x * x;
  const GVEC c =
      1.0f + x2 * (-1.0f / 2 + x2 * (1.0f / 24 + x2 * (-1.0f / 720 + x2 * (1.0f / 40320 +
             x2 * (-1.0f / 3628800 + x2 * (1.0f / 479001600))))));
  return select(c, -c, flip);
}

/* The two VTC curves of a neuron (o- and o+ of z): activate in layer.cl
 * and the fused product in gemm.cl. */
float phx_vtc_inv(float z) { return PHX_C1 + PHX_C2 * tanh(PHX_C4 * (z - PHX_C3)); }
float phx_vtc_non(float z) { return PHX_D1 + PHX_D2 * tanh(PHX_D4 * (z - PHX_D3)); }

/* Iterates n times, the last two indices left in out[0] and out[1]: the
 * host's check that a work-item's loops run to the end (backend_opencl.c,
 * loops_fit). Mesa's llvmpipe ends them after 65535 iterations in all
 * (its loop limiter). */
__kernel void phx_loop_probe(const int n, __global int *out) {
  if (get_global_id(0) != 0) return;
  for (int i = 0; i < n; i++) out[i & 1] = i;
}
