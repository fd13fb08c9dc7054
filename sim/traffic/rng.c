/* sbtraffic: the deterministic logarithm behind exponential variates. Range reduction with frexp
 * (exact), then ln(m) = 2 atanh((m-1)/(m+1)) as a series; every step is a correctly rounded IEEE
 * operation, so the result is the same everywhere (ISO C mode: no contraction into FMAs). */
#include "sbtraffic/rng.h"

#include <math.h>

double sb_ln(double x)
{
    int e;
    double m = frexp(x, &e); /* x = m * 2^e, m in [0.5, 1) */
    if (m < 0.70710678118654752440) {
        m *= 2.0;
        e -= 1;
    } /* m in [0.707, 1.414): |z| <= 0.1716 */
    double z = (m - 1.0) / (m + 1.0), z2 = z * z;
    /* 2 (z + z^3/3 + ... + z^23/23): the next term is below 1e-19 of the sum. */
    double p = 1.0 / 23.0;
    for (int k = 21; k >= 1; k -= 2)
        p = p * z2 + 1.0 / (double)k;
    return (double)e * 0.69314718055994530942 + 2.0 * z * p;
}

uint64_t sb_rng_exp_ns(sb_rng *r, double mean_ns)
{
    double v = -sb_ln(sb_rng_unit(r)) * mean_ns;
    return (uint64_t)(v + 0.5);
}
