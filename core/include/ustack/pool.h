/* libustack pools: fixed-size blocks carved once from caller memory (lwIP's memp, DPDK's mempool).
 * get and put are O(1) and inline. Free blocks sit on a LIFO stack of block pointers kept outside
 * the blocks, so a use-after-free cannot corrupt the free list, and a per-block state byte lets put
 * refuse double frees and foreign pointers exactly (counted in stats.illegal).
 * The stack holds each free block's pointer and index, so get does no arithmetic at all and the
 * block it hands out is the very value put stored; only put computes an index, to validate. */
#ifndef USTACK_POOL_H
#define USTACK_POOL_H

#include "ustack/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define US_LIKELY(x) __builtin_expect(!!(x), 1)
#define US_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define US_LIKELY(x) (x)
#define US_UNLIKELY(x) (x)
#endif

/* Blocks are aligned to this many bytes and their stride is an odd multiple of it: a fixed
 * rotate in the index test below, and consecutive blocks spread over cache sets instead of
 * aliasing the way power-of-two strides do. Costs at most US_POOL_ALIGN bytes per block. */
#define US_POOL_ALIGN 16u
#define US__POOL_ALIGN_SHIFT 4u

typedef struct us__pool_slot {
    uint8_t *blk;
    uint32_t idx;
} us__pool_slot;

typedef struct us_pool us_pool;

/* Called when a get finds the pool empty, before the get fails: free what can be freed (TCP drops
 * its out-of-order queue there, as lwIP's PBUF_POOL_FREE_OOSEQ). Called at most once per failing
 * get and never re-entered: a get made from inside it fails without calling it again. */
typedef void (*us_pool_reclaim_fn)(us_pool *pool, void *ctx);

struct us_pool {
    uint8_t *base;      /* block 0 */
    us__pool_slot *free; /* LIFO stack of free blocks: the first count - stats.used are valid */
    uint8_t *state;     /* one byte per block: 1 in use, 0 free */
    uint32_t count;     /* blocks in all */
    uint32_t stride;    /* bytes between blocks: block_size rounded up to an odd multiple of 16 */
    uint32_t block_size;
    /* Exact division test (Granlund–Montgomery): stride = odd * 16, inv = odd^-1 mod 2^64.
     * rotr((p - base) * inv, 4) is the block index iff p is a block start, else >= count. */
    uint64_t inv;
    int in_reclaim;
    us_pool_reclaim_fn reclaim;
    void *reclaim_ctx;
    uint32_t reclaims; /* times reclaim was called */
    const char *name;
    us_mem_stats stats; /* in blocks */
};

/* Bytes of memory us_pool_init needs for `count` blocks of `block_size` bytes (blocks plus
 * bookkeeping, plus slack to align an arbitrary pointer). 0 if either is 0 or the size overflows. */
size_t us_pool_mem_size(uint32_t block_size, uint32_t count);

/* Carve `count` blocks of `block_size` bytes from mem[0, mem_len). The pool keeps pointers into
 * mem; mem must outlive it. `name` (static) appears in reports.
 * Returns US_OK, or US_EINVAL (NULL arguments, zero or overflowing sizes, mem_len too small). */
us_status us_pool_init(us_pool *pool, const char *name, void *mem, size_t mem_len,
                       uint32_t block_size, uint32_t count);

/* Install (or with fn == NULL remove) the reclaim callback. */
void us_pool_set_reclaim(us_pool *pool, us_pool_reclaim_fn fn, void *ctx);

void *us__pool_get_slow(us_pool *pool);

static inline uint32_t us__pool_index(const us_pool *pool, const void *p)
{
    uint64_t m = (uint64_t)((uintptr_t)p - (uintptr_t)pool->base) * pool->inv;
    uint64_t q = (m >> US__POOL_ALIGN_SHIFT) | (m << (64u - US__POOL_ALIGN_SHIFT));
    return q < pool->count ? (uint32_t)q : UINT32_MAX;
}

/* One block, or NULL when the pool is (still, after reclaim) empty: stats.err counts that. */
static inline void *us_pool_get(us_pool *pool)
{
    /* The free count is count - used: one counter to load and store, not two. */
    uint32_t used = pool->stats.used;
    uint32_t free = pool->count - used;
    if (US_UNLIKELY(free == 0))
        return us__pool_get_slow(pool);
    us__pool_slot slot = pool->free[free - 1];
    uint32_t max = pool->stats.max;
    uint8_t *state = pool->state;
    /* Loads first, stores last: a store through uint8_t* may alias any field of *pool. */
    used++;
    pool->stats.used = used;
    if (US_UNLIKELY(used > max)) /* rare once warm: a branch beats an unconditional store */
        pool->stats.max = used;
    state[slot.idx] = 1;
    return slot.blk;
}

/* Give a block back. Returns US_OK, or US_EILLEGAL (counted in stats.illegal, pool unchanged)
 * when p is not a block of this pool or is already free. NULL is illegal too. */
static inline us_status us_pool_put(us_pool *pool, void *p)
{
    uint32_t idx = us__pool_index(pool, p);
    if (US_UNLIKELY(idx == UINT32_MAX || pool->state[idx] == 0)) {
        pool->stats.illegal++;
        return US_EILLEGAL;
    }
    uint32_t used = pool->stats.used;
    us__pool_slot *slot = &pool->free[pool->count - used];
    uint8_t *state = pool->state;
    slot->blk = (uint8_t *)p;
    slot->idx = idx;
    pool->stats.used = used - 1;
    state[idx] = 0;
    return US_OK;
}

/* All or nothing: n blocks into out[0..n), or none. Returns US_OK, US_ENOMEM (one stats.err,
 * out untouched, after one reclaim attempt) or US_EINVAL (out NULL with n > 0). n == 0 is US_OK. */
us_status us_pool_get_bulk(us_pool *pool, void **out, uint32_t n);

/* Put n blocks back. Each one is checked as by us_pool_put; the illegal ones are counted and
 * skipped. Returns US_OK if all were accepted, else US_EILLEGAL. */
us_status us_pool_put_bulk(us_pool *pool, void *const *blocks, uint32_t n);

/* 1 if p is a block of this pool that is in use now, else 0. */
static inline int us_pool_owns(const us_pool *pool, const void *p)
{
    uint32_t idx = us__pool_index(pool, p);
    return idx != UINT32_MAX && pool->state[idx] != 0;
}

#ifdef __cplusplus
}
#endif

#endif /* USTACK_POOL_H */
