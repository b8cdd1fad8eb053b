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

