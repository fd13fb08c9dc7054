/* libustack buffer memory of one stack: the pool table and the heap, laid over one memory area at
 * init (lwIP's memp_pools[] + mem.c). Every pbuf points back to the us_bufs it came from, so
 * freeing needs no global. Later modules add their pools to US_POOL_TABLE. */
#ifndef USTACK_BUFS_H
#define USTACK_BUFS_H

#include "ustack/common.h"
#include "ustack/heap.h"
#include "ustack/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The pools of a stack, declared once: X(id, name). Block sizes and counts come from
 * us_bufs_config. */
#define US_POOL_TABLE(X)                                                                          \
    X(PBUF, "pbuf")           /* header-only pbufs: ROM and REF */                                \
    X(PBUF_POOL, "pbuf_pool") /* pbuf header + pbuf_pool_bufsize bytes: POOL pbufs (RX) */

typedef enum us_pool_id {
#define US_POOL_ENUM(id, name) US_POOL_##id,
    US_POOL_TABLE(US_POOL_ENUM)
#undef US_POOL_ENUM
    US_POOL_COUNT
} us_pool_id;

typedef struct us_bufs_config {
    uint32_t pbuf_pool_count;   /* POOL pbuf blocks (lwIP's PBUF_POOL_SIZE); default 32 */
    uint32_t pbuf_pool_bufsize; /* payload bytes per POOL block (PBUF_POOL_BUFSIZE); default 1536 */
    uint32_t pbuf_count;        /* header-only pbufs for ROM/REF (MEMP_NUM_PBUF); default 32 */
    uint32_t heap_size;         /* heap bytes, for RAM pbufs (MEM_SIZE); default 64 KiB */
} us_bufs_config;

/* Failures of pbuf operations other than running out of memory (that is counted by the pool or
 * heap that ran out), by reason. */
typedef struct us_pbuf_stats {
    uint32_t einval;  /* bad argument: NULL, bad type or layer, length overflow */
    uint32_t ebuf;    /* no room: header move past the reserved room, copy target too small */
    uint32_t erange;  /* offset or length past tot_len */
    uint32_t illegal; /* free of a pbuf whose reference count is already 0 (double free) */
} us_pbuf_stats;

typedef struct us_bufs {
    us_pool pools[US_POOL_COUNT];
    us_heap heap;
    uint32_t pbuf_pool_bufsize;
    us_pbuf_stats pbuf_stats;
} us_bufs;

/* Fill cfg with the defaults documented in us_bufs_config. */
void us_bufs_config_default(us_bufs_config *cfg);

/* Bytes of memory us_bufs_init needs for cfg; 0 if cfg is invalid (a zero count or size, or a
 * size that overflows). */
size_t us_bufs_mem_size(const us_bufs_config *cfg);

/* Lay out every pool and the heap over mem[0, mem_len). Returns US_OK or US_EINVAL (invalid cfg,
 * mem too small). */
us_status us_bufs_init(us_bufs *b, const us_bufs_config *cfg, void *mem, size_t mem_len);

/* Name of a pool for reports ("pbuf_pool"), or "?" for an id out of range. */
const char *us_pool_name(us_pool_id id);

/* 1 when every pool and the heap are back to zero in use (what every test teardown asserts). */
int us_bufs_all_free(const us_bufs *b);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_BUFS_H */
