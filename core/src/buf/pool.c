/* Pools: init (carving blocks and bookkeeping from caller memory), the empty-pool slow path with
 * its reclaim callback, and the bulk operations. get/put themselves are inline in pool.h. */
#include "ustack/pool.h"

#include <string.h>

/* Bookkeeping per block: one free-stack slot and one state byte. */
#define POOL_META_PER_BLOCK (sizeof(us__pool_slot) + 1u)

static int pool_sizes(uint32_t block_size, uint32_t count, size_t *stride, size_t *total)
{
    if (block_size == 0 || count == 0)
        return 0;
    size_t s = US_ALIGN_UP((size_t)block_size, US_POOL_ALIGN);
    if ((s / US_POOL_ALIGN) % 2 == 0)
        s += US_POOL_ALIGN; /* odd multiple of the alignment: see US_POOL_ALIGN */
    if (s > UINT32_MAX || s < block_size)
        return 0;
    /* Keep the whole carve below 2^62 so no product below can overflow. */
    if ((uint64_t)count > ((uint64_t)1 << 62) / (s + POOL_META_PER_BLOCK))
        return 0;
    *stride = s;
    *total = (size_t)count * (s + POOL_META_PER_BLOCK) + US_POOL_ALIGN;
    return 1;
}

size_t us_pool_mem_size(uint32_t block_size, uint32_t count)
{
    size_t stride, total;
    return pool_sizes(block_size, count, &stride, &total) ? total : 0;
}

/* Inverse of an odd number modulo 2^64 by Newton's iteration (each step doubles correct bits). */
static uint64_t inverse_odd(uint64_t d)
{
    uint64_t x = d; /* correct to 3 bits for odd d */
    for (int i = 0; i < 5; i++)
        x *= 2 - d * x;
    return x;
}

us_status us_pool_init(us_pool *pool, const char *name, void *mem, size_t mem_len,
                       uint32_t block_size, uint32_t count)
{
    size_t stride, total;
    if (pool == NULL || mem == NULL || !pool_sizes(block_size, count, &stride, &total) ||
        mem_len < total)
        return US_EINVAL;

    memset(pool, 0, sizeof(*pool));
    uintptr_t start = US_ALIGN_UP((uintptr_t)mem, US_POOL_ALIGN);
    pool->base = (uint8_t *)start;
    pool->free = (us__pool_slot *)(void *)(pool->base + (size_t)count * stride);
    pool->state = (uint8_t *)(pool->free + count);
    pool->count = count;
    pool->stride = (uint32_t)stride;
    pool->block_size = block_size;
    pool->name = name != NULL ? name : "pool";

    pool->inv = inverse_odd((uint64_t)stride >> US__POOL_ALIGN_SHIFT);

    /* Hand out low addresses first: block 0 on top of the stack. */
    for (uint32_t i = 0; i < count; i++) {
        pool->free[i].idx = count - 1 - i;
        pool->free[i].blk = pool->base + (size_t)(count - 1 - i) * stride;
    }
    memset(pool->state, 0, count);
    pool->stats.avail = count;
    return US_OK;
}

void us_pool_set_reclaim(us_pool *pool, us_pool_reclaim_fn fn, void *ctx)
{
    pool->reclaim = fn;
    pool->reclaim_ctx = ctx;
}

/* Ask the reclaim callback (once, never re-entered) to free blocks. 1 if `need` are free now. */
static int pool_try_reclaim(us_pool *pool, uint32_t need)
{
    if (pool->reclaim != NULL && !pool->in_reclaim) {
        pool->in_reclaim = 1;
        pool->reclaims++;
        pool->reclaim(pool, pool->reclaim_ctx);
        pool->in_reclaim = 0;
    }
    return pool->count - pool->stats.used >= need;
}

void *us__pool_get_slow(us_pool *pool)
{
    if (pool_try_reclaim(pool, 1))
        return us_pool_get(pool);
    pool->stats.err++;
    return NULL;
}

us_status us_pool_get_bulk(us_pool *pool, void **out, uint32_t n)
{
    if (n == 0)
        return US_OK;
    if (out == NULL)
        return US_EINVAL;
    if (pool->count - pool->stats.used < n && !pool_try_reclaim(pool, n)) {
        pool->stats.err++;
        return US_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++)
        out[i] = us_pool_get(pool);
    return US_OK;
}

us_status us_pool_put_bulk(us_pool *pool, void *const *blocks, uint32_t n)
{
    us_status st = US_OK;
    for (uint32_t i = 0; i < n; i++)
        if (us_pool_put(pool, blocks[i]) != US_OK)
            st = US_EILLEGAL;
    return st;
}
