/* sbtraffic internal: large arrays on transparent huge pages where the system offers them. */
#include "bigalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE SB__BIG /* x86-64 and arm64 (4 KiB base pages) */

void *sb__big_alloc(size_t bytes)
{
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE_PAGE && bytes <= SIZE_MAX - HUGE_PAGE) {
        size_t rounded = (bytes + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
        void *p = aligned_alloc(HUGE_PAGE, rounded);
        if (p) {
            /* Only a hint: without THP (or with it off) the block is just ordinary memory. */
            (void)madvise(p, rounded, MADV_HUGEPAGE);
            return p;
        }
    }
#endif
    return malloc(bytes ? bytes : 1);
}
