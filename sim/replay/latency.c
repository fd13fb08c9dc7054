/* stackbench replay: the latency histogram (see latency.h for the method and its error). */
#include "latency.h"

#include <stdlib.h>

int sb_lat_init(sb_lat *h)
{
    h->n = 0;
    h->max = 0;
    h->counts = calloc(SB_LAT_BUCKETS, sizeof(*h->counts));
    return h->counts ? 0 : -1;
}

void sb_lat_free(sb_lat *h)
{
    free(h->counts);
    h->counts = NULL;
    h->n = 0;
    h->max = 0;
}

/* The highest value bucket b holds. */
static uint64_t bucket_top(uint32_t b)
{
    if (b < SB_LAT_EXACT)
        return b;
    uint32_t rel = b - SB_LAT_EXACT;
    unsigned k = rel / (1u << SB_LAT_SUB_BITS) + SB_LAT_SUB_BITS + 1u;
    uint64_t sub = rel % (1u << SB_LAT_SUB_BITS) + (1u << SB_LAT_SUB_BITS);
    unsigned shift = k - SB_LAT_SUB_BITS;
    return ((sub + 1u) << shift) - 1u;
}

uint64_t sb_lat_percentile(const sb_lat *h, unsigned pct)
{
    if (h->n == 0 || pct == 0)
        return 0;
    if (pct > 100)
        pct = 100;
    /* Nearest rank: ceil(n * pct / 100), at least 1. */
    unsigned __int128 r = ((unsigned __int128)h->n * pct + 99u) / 100u;
    uint64_t rank = r == 0 ? 1 : (uint64_t)r;
    uint64_t cum = 0;
    for (uint32_t b = 0; b < SB_LAT_BUCKETS; b++) {
        cum += h->counts[b];
        if (cum >= rank) {
            uint64_t v = bucket_top(b);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}
