/* stackbench replay: per-frame latency percentiles in a fixed-size log-linear histogram (the
 * HdrHistogram layout). Values below 2048 ns have a bucket each (exact); above, each power of two
 * is split into 1024 buckets, so a bucket is at most 1/1024 of its values wide (< 0.1 %). A
 * percentile is the nearest rank (the smallest recorded value v such that at least p % of the
 * samples are <= v), reported as the highest value its bucket can hold, clipped to the largest
 * sample: exact below 2048 ns, at most 0.1 % high above, never below the true value. Memory is
 * fixed (about 450 KiB) whatever the number of frames, and the result depends only on the
 * multiset of samples. */
#ifndef SBREPLAY_LATENCY_H
#define SBREPLAY_LATENCY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SB_LAT_SUB_BITS 10u                       /* 1024 buckets per power of two */
#define SB_LAT_EXACT (2u << SB_LAT_SUB_BITS)      /* values below this have a bucket each */
#define SB_LAT_BUCKETS (SB_LAT_EXACT + (64u - SB_LAT_SUB_BITS - 1u) * (1u << SB_LAT_SUB_BITS))

typedef struct sb_lat {
    uint64_t *counts; /* SB_LAT_BUCKETS */
    uint64_t n;       /* samples */
    uint64_t max;     /* largest sample */
} sb_lat;

/* Allocate an empty histogram. Returns 0, or -1 when memory runs out. */
int sb_lat_init(sb_lat *h);
void sb_lat_free(sb_lat *h);

/* Bucket of value v (exposed for tests). */
static inline uint32_t sb_lat_bucket(uint64_t v)
{
    if (v < SB_LAT_EXACT)
        return (uint32_t)v;
    unsigned k = 63u - (unsigned)__builtin_clzll(v); /* >= SB_LAT_SUB_BITS + 1 */
    unsigned shift = k - SB_LAT_SUB_BITS;
    return SB_LAT_EXACT + (k - SB_LAT_SUB_BITS - 1u) * (1u << SB_LAT_SUB_BITS) +
           (uint32_t)((v >> shift) - (1u << SB_LAT_SUB_BITS));
}

static inline void sb_lat_add(sb_lat *h, uint64_t v)
{
    h->counts[sb_lat_bucket(v)]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

/* The pct-th percentile (1..100, nearest rank) as described above; 0 with no samples. */
uint64_t sb_lat_percentile(const sb_lat *h, unsigned pct);

#ifdef __cplusplus
}
#endif

#endif /* SBREPLAY_LATENCY_H */
