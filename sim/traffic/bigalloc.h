/* sbtraffic internal: allocation of the large per-frame arrays (a trace's frames, the flow pass's
 * per-frame flow and direction). A million-frame trace needs some 40 MB of them, written once in
 * order; on 4 KiB pages that is about ten thousand page faults, a sizeable part of loading the
 * trace. Arrays of 2 MiB or more are therefore aligned to 2 MiB and offered to the kernel for
 * transparent huge pages (one fault per 2 MiB where it takes them, as Linux does in its default
 * "madvise" mode). Everything returned is an ordinary malloc block: free() and realloc() apply. */
#ifndef SBTRAFFIC_BIGALLOC_H
#define SBTRAFFIC_BIGALLOC_H

#include <stddef.h>

/* The size from which sb__big_alloc aligns and marks a block (one huge page). */
#define SB__BIG (2u << 20)

/* A block of at least bytes bytes (contents undefined), or NULL. bytes 0 gives a valid minimal
 * block. Never fails where malloc(bytes) would not (it falls back to it). */
void *sb__big_alloc(size_t bytes);

#endif /* SBTRAFFIC_BIGALLOC_H */
