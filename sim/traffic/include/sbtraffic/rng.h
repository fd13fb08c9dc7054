/* sbtraffic: the seeded pseudo-random numbers of the simulation side. xoshiro256** seeded through
 * splitmix64 (Blackman and Vigna), and an exponential variate computed with a logarithm of our own
 * (IEEE-754 basic operations only, no libm), so the same seed gives the same numbers — and the
 * generator the same bytes — on every machine and C library. */
#ifndef SBTRAFFIC_RNG_H
#define SBTRAFFIC_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sb_rng {
    uint64_t s[4];
} sb_rng;

/* One splitmix64 step: advances *x and returns the next output. */
static inline uint64_t sb_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Seed r from one 64-bit value (any value, 0 included). */
static inline void sb_rng_seed(sb_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = sb_splitmix64(&x);
}

static inline uint64_t sb_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* The next 64 random bits (xoshiro256**). */
static inline uint64_t sb_rng_next(sb_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = sb_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = sb_rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n), n > 0, without modulo bias (rejection). */
static inline uint64_t sb_rng_below(sb_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = sb_rng_next(r);
    while (x >= limit);
    return x % n;
}

/* Uniform in (0, 1]: never 0, so its logarithm is finite. */
static inline double sb_rng_unit(sb_rng *r)
{
    return (double)((sb_rng_next(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

/* Natural logarithm of x > 0, to about 1 ulp, from basic IEEE operations only. */
double sb_ln(double x);

/* An exponentially distributed duration with the given mean, in ns, rounded to the nearest ns. */
uint64_t sb_rng_exp_ns(sb_rng *r, double mean_ns);

#ifdef __cplusplus
}
#endif

#endif /* SBTRAFFIC_RNG_H */
