/* libustack: types every module shares — the one status enum and memory statistics.
 * The core is C11, allocates nothing after init and keeps no globals. */
#ifndef USTACK_COMMON_H
#define USTACK_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One status type for the whole core: US_OK is zero, errors are negative. */
typedef enum us_status {
    US_OK = 0,
    US_ENOMEM = -1,   /* a pool or the heap had nothing left (counted in its stats.err) */
    US_EINVAL = -2,   /* argument misuse: bad pointer, size, offset or layer */
    US_EBUF = -3,     /* a buffer is too small for the operation (header room, target size) */
    US_EILLEGAL = -4, /* a free of something not allocated here, or freed twice (stats.illegal) */
    US_EAGAIN = -5,   /* resource busy now; try again later (device refused a TX buffer, ...) */
    US_ERANGE = -6,   /* an offset or length past the end of the data */
} us_status;

/* Human-readable name of a status ("US_ENOMEM: out of memory"); never NULL. */
const char *us_status_str(us_status s);

/* Statistics kept by every pool and by the heap, as lwIP's stats_mem.
 * Units are blocks for a pool and bytes for the heap. */
typedef struct us_mem_stats {
    uint32_t avail;   /* capacity */
    uint32_t used;    /* in use now */
    uint32_t max;     /* high-water mark of used */
    uint32_t err;     /* allocations refused for lack of memory */
    uint32_t illegal; /* frees of foreign pointers and double frees, refused */
} us_mem_stats;

#define US_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((size_t)(a) - 1))

#ifdef __cplusplus
}
#endif

#endif /* USTACK_COMMON_H */
