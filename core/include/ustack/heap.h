/* libustack heap: lwIP's mem.c design over caller memory — one array of blocks linked by 32-bit
 * indices (not pointers), `lfree` = lowest free block, first-fit, split when the rest can hold a
 * header plus US_HEAP_MIN_SIZE, merge with free neighbours on free, shrink in place (trim).
 * A bitmap of block starts makes free's validity check exact: foreign pointers, pointers into the
 * middle of a block and double frees are refused and counted in stats.illegal. */
#ifndef USTACK_HEAP_H
#define USTACK_HEAP_H

#include "ustack/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Payloads are aligned to this, and sizes are rounded up to it. */
#define US_HEAP_ALIGN 16u
/* Smallest payload a block is split off for (smaller requests are rounded up to it). */
#define US_HEAP_MIN_SIZE 16u
/* Bytes of header in front of each payload. */
#define US_HEAP_HDR_SIZE 16u

typedef struct us_heap {
    uint8_t *ram;     /* block headers and payloads; ram + size holds the end sentinel header */
    uint8_t *starts;  /* bitmap, 1 bit per US_HEAP_ALIGN unit of ram: a block header starts here */
    uint32_t size;    /* bytes of ram before the end sentinel */
    uint32_t lfree;   /* offset of the lowest free block (== size when none is free) */
    const char *name;
    us_mem_stats stats; /* in bytes; used counts header + payload of every block in use */
} us_heap;

/* Bytes of memory us_heap_init needs for a heap with `size` bytes of block area (rounded up to
 * US_HEAP_ALIGN; headers come out of it). 0 if size is too small or too large (>= 2^31). */
size_t us_heap_mem_size(size_t size);

/* Lay a heap of `size` bytes of block area over mem[0, mem_len): one free block spanning all.
 * Returns US_OK or US_EINVAL (NULL, size < header + US_HEAP_MIN_SIZE, size >= 2^31, mem too
 * small). stats.avail is the block area in bytes. */
us_status us_heap_init(us_heap *heap, const char *name, void *mem, size_t mem_len, size_t size);

/* First-fit allocation of at least `size` bytes, aligned to US_HEAP_ALIGN. Returns NULL (and
 * counts stats.err) when no free block is large enough or size >= 2^31. size 0 is served as
 * US_HEAP_MIN_SIZE (lwIP returns NULL for 0); every non-NULL result must be freed. */
void *us_heap_alloc(us_heap *heap, size_t size);

/* Free a block. Merges it with free neighbours. Returns US_OK, or US_EILLEGAL (stats.illegal,
 * heap unchanged) for NULL, a pointer not returned by us_heap_alloc/us_heap_trim of this heap, or
 * one already freed. */
us_status us_heap_free(us_heap *heap, void *p);

/* Shrink block p to new_size bytes in place; the tail is freed (merged with a free successor, or
 * split off when it can hold a header + US_HEAP_MIN_SIZE). Returns p; NULL with stats.illegal for
 * an invalid p; p unchanged (no error) when new_size >= its current size (trim never grows). */
void *us_heap_trim(us_heap *heap, void *p, size_t new_size);

/* Usable bytes of block p (>= the size asked for), or 0 if p is not a live block. */
size_t us_heap_block_size(const us_heap *heap, const void *p);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_HEAP_H */
