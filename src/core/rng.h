/* Seeded generator shared by initialisation and shuffling: splitmix64 to
 * seed, xoshiro256** to draw. Same sequence on every platform and backend. */
#ifndef PHX_RNG_H
#define PHX_RNG_H

#include <stdint.h>

typedef struct phx_rng { uint64_t s[4]; } phx_rng;

static inline uint64_t phx_splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline void phx_rng_seed(phx_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = phx_splitmix64(&seed);
}

static inline uint64_t phx_rng_next(phx_rng *r) {
  uint64_t *s = r->s;
  uint64_t x = s[1] * 5, result = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t;
  s[3] = (s[3] << 45) | (s[3] >> 19);
  return result;
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double phx_rng_uniform(phx_rng *r) {
  return (double)(phx_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n), unbiased (Lemire's rejection). */
static inline uint64_t phx_rng_below(phx_rng *r, uint64_t n) {
  uint64_t threshold = (0 - n) % n, x;
  do x = phx_rng_next(r); while (x < threshold);
  return x % n;
}

/* Fisher-Yates shuffle of a[0..n). */
static inline void phx_rng_shuffle(phx_rng *r, int32_t *a, int n) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)phx_rng_below(r, (uint64_t)i + 1);
    int32_t t = a[i]; a[i] = a[j]; a[j] = t;
  }
}

#endif /* PHX_RNG_H */
