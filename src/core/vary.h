/* Device variation drawn the same way on every backend: a counter-based
 * hash of (seed, draw, layer) and the element's index gives each
 * crosspoint its own uniforms, so a draw is a pure function of its key
 * (no generator state to carry between kernels or threads). cl/common.cl
 * has the same hash for the kernels. */
#ifndef PHX_VARY_H
#define PHX_VARY_H

#include <math.h>
#include <stdint.h>

#include "phaxcl.h"

/* A 32-bit integer mixer (two multiply-xorshift rounds). */
static inline uint32_t phx_mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

/* The key of one layer of one draw. */
static inline uint32_t phx_vary_key(uint64_t seed, int draw, int layer) {
  uint32_t k = phx_mix32((uint32_t)seed ^ phx_mix32((uint32_t)(seed >> 32) + 0x9e3779b9U));
  k = phx_mix32(k ^ phx_mix32((uint32_t)draw + 0x85ebca6bU));
  return phx_mix32(k ^ phx_mix32((uint32_t)layer + 0xc2b2ae35U));
}

/* Uniform in (0, 1) on a grid of 2^23 points, stream s of element i:
 * exact in float as in double, so both paths start from the same value. */
static inline double phx_vary_uniform(uint32_t key, uint32_t i, uint32_t s) {
  const uint32_t h = phx_mix32(key ^ phx_mix32(i * 8U + s));
  return ((double)(h >> 9) + 0.5) * (1.0 / 8388608.0);
}

/* The same uniform in float (exact: 24 significant bits suffice). */
static inline float phx_vary_uniformf(uint32_t key, uint32_t i, uint32_t s) {
  const uint32_t h = phx_mix32(key ^ phx_mix32(i * 8U + s));
  return ((float)(h >> 9) + 0.5f) * (1.0f / 8388608.0f);
}

/* Streams of an element: programming noise (two uniforms), stuck, read
 * noise (two uniforms). */
enum { PHX_VS_PROG = 0, PHX_VS_STUCK = 2, PHX_VS_READ = 3 };

/* One drawn crosspoint in double, from the definition (backend.h,
 * map_vary), in units of gmin: gu is 1 + k s(theta) (a level list is
 * in S, hence gmin). The op table's
 * reference and phx_draw_conductances use it; the backends have their own
 * bodies. */
static inline double phx_vary_cell_ref(double gu, const phx_variation *v, double k,
                                       double gmin, uint32_t key, uint32_t i) {
  if (v->levels >= 2) gu = 1 + nearbyint((gu - 1) / (k / (v->levels - 1))) * (k / (v->levels - 1));
  if (v->nlist > 0) {
    /* the nearest listed level, the lower one on a tie */
    double best = v->list[0] / gmin;
    for (int q = 1; q < v->nlist; q++)
      if (fabs(v->list[q] / gmin - gu) < fabs(best - gu)) best = v->list[q] / gmin;
    gu = best;
  }
  if (v->sigma > 0) {
    const double u1 = phx_vary_uniform(key, i, PHX_VS_PROG);
    const double u2 = phx_vary_uniform(key, i, PHX_VS_PROG + 1);
    const double n = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
    gu = fmax(v->dist == PHX_VAR_GAUSSIAN ? gu * (1 + v->sigma * n) : gu * exp(v->sigma * n), 0);
  }
  if (v->read_noise > 0) {
    const double u1 = phx_vary_uniform(key, i, PHX_VS_READ);
    const double u2 = phx_vary_uniform(key, i, PHX_VS_READ + 1);
    gu = fmax(gu * (1 + v->read_noise * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2)), 0);
  }
  const double u = phx_vary_uniform(key, i, PHX_VS_STUCK);
  if (u < v->stuck_off) gu = 1;
  else if (u < v->stuck_off + v->stuck_on) gu = 1 + k;
  return gu;
}

#endif /* PHX_VARY_H */
