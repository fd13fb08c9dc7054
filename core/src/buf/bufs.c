/* The buffer memory of one stack: sizes every pool of US_POOL_TABLE and the heap from the config
 * and lays them one after another over the caller's memory. */
#include "ustack/bufs.h"

#include <string.h>

#include "ustack/pbuf.h"

static const char *const pool_names[US_POOL_COUNT] = {
#define US_POOL_NAME(id, name) name,
    US_POOL_TABLE(US_POOL_NAME)
#undef US_POOL_NAME
};

const char *us_pool_name(us_pool_id id)
{
    return (unsigned)id < US_POOL_COUNT ? pool_names[id] : "?";
}

void us_bufs_config_default(us_bufs_config *cfg)
{
    cfg->pbuf_pool_count = 32;
    cfg->pbuf_pool_bufsize = 1536;
    cfg->pbuf_count = 32;
    cfg->heap_size = 64u * 1024u;
}

/* Block size and count of each pool under cfg; 0 if cfg is invalid. */
static int pool_shapes(const us_bufs_config *cfg, uint32_t size[US_POOL_COUNT],
                       uint32_t count[US_POOL_COUNT])
{
    if (cfg == NULL || cfg->pbuf_pool_bufsize == 0 ||
        cfg->pbuf_pool_bufsize > UINT32_MAX - US_PBUF_STRUCT_SIZE)
        return 0;
    size[US_POOL_PBUF] = (uint32_t)sizeof(us_pbuf);
    count[US_POOL_PBUF] = cfg->pbuf_count;
    size[US_POOL_PBUF_POOL] = (uint32_t)US_PBUF_STRUCT_SIZE + cfg->pbuf_pool_bufsize;
    count[US_POOL_PBUF_POOL] = cfg->pbuf_pool_count;
    return 1;
}

size_t us_bufs_mem_size(const us_bufs_config *cfg)
{
    uint32_t size[US_POOL_COUNT], count[US_POOL_COUNT];
    if (!pool_shapes(cfg, size, count))
        return 0;
    size_t total = 0;
    for (int i = 0; i < US_POOL_COUNT; i++) {
        size_t n = us_pool_mem_size(size[i], count[i]);
        if (n == 0 || total + n < total)
            return 0;
        total += n;
    }
    size_t h = us_heap_mem_size(cfg->heap_size);
    if (h == 0 || total + h < total)
        return 0;
    return total + h;
}

us_status us_bufs_init(us_bufs *b, const us_bufs_config *cfg, void *mem, size_t mem_len)
{
    uint32_t size[US_POOL_COUNT], count[US_POOL_COUNT];
    size_t need = us_bufs_mem_size(cfg);
    if (b == NULL || mem == NULL || need == 0 || mem_len < need || !pool_shapes(cfg, size, count))
        return US_EINVAL;

    memset(b, 0, sizeof(*b));
    uint8_t *at = mem;
    for (int i = 0; i < US_POOL_COUNT; i++) {
        size_t n = us_pool_mem_size(size[i], count[i]);
        us_status st = us_pool_init(&b->pools[i], pool_names[i], at, n, size[i], count[i]);
        if (st != US_OK)
            return st;
        at += n;
    }
    size_t h = us_heap_mem_size(cfg->heap_size);
    us_status st = us_heap_init(&b->heap, "heap", at, h, cfg->heap_size);
    if (st != US_OK)
        return st;
    b->pbuf_pool_bufsize = cfg->pbuf_pool_bufsize;
    return US_OK;
}

int us_bufs_all_free(const us_bufs *b)
{
    for (int i = 0; i < US_POOL_COUNT; i++)
        if (b->pools[i].stats.used != 0)
            return 0;
    return b->heap.stats.used == 0;
}
