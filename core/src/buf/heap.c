/* The heap: lwIP's mem.c over caller memory. Blocks are linked by 32-bit offsets into `ram`;
 * an always-used sentinel header at ram + size ends the list, and the `starts` bitmap marks every
 * live block header so that free/trim can tell a block pointer from any other pointer exactly. */
#include "ustack/heap.h"

#include <assert.h>
#include <string.h>

/* One block header. Offsets (not pointers) keep it 16 bytes on every target and the heap
 * relocatable; `used` is a whole word so the header stays exactly one alignment unit. */
typedef struct heap_hdr {
    uint32_t next; /* offset of the next header (the sentinel's is itself) */
    uint32_t prev; /* offset of the previous header (the first block's and the sentinel's: itself) */
    uint32_t used; /* 1 in use, 0 free */
    uint32_t pad;
} heap_hdr;

_Static_assert(sizeof(heap_hdr) == US_HEAP_HDR_SIZE, "heap header must be one alignment unit");
_Static_assert(US_HEAP_HDR_SIZE % US_HEAP_ALIGN == 0, "payloads must stay aligned");
_Static_assert(US_HEAP_MIN_SIZE % US_HEAP_ALIGN == 0, "split points must stay aligned");

/* Sizes at or above this are refused: offsets (sentinel and bitmap included) must fit 32 bits. */
#define HEAP_SIZE_LIMIT ((size_t)1 << 31)

/* Every header lies at a multiple of US_HEAP_ALIGN from the 16-aligned ram, so the cast is to
 * properly aligned memory. */
static heap_hdr *hdr_at(const us_heap *heap, uint32_t off)
{
    return (heap_hdr *)(void *)(heap->ram + off);
}

static void start_set(us_heap *heap, uint32_t off)
{
    uint32_t u = off / US_HEAP_ALIGN;
    heap->starts[u >> 3] |= (uint8_t)(1u << (u & 7u));
}

static void start_clear(us_heap *heap, uint32_t off)
{
    uint32_t u = off / US_HEAP_ALIGN;
    heap->starts[u >> 3] &= (uint8_t)~(1u << (u & 7u));
}

static int start_test(const us_heap *heap, uint32_t off)
{
    uint32_t u = off / US_HEAP_ALIGN;
    return (heap->starts[u >> 3] >> (u & 7u)) & 1u;
}

/* Block area rounded to the alignment, or 0 when out of range. */
static size_t heap_area(size_t size)
{
    if (size < US_HEAP_HDR_SIZE + US_HEAP_MIN_SIZE || size >= HEAP_SIZE_LIMIT)
        return 0;
    return US_ALIGN_UP(size, US_HEAP_ALIGN);
}

/* Bitmap bytes: one bit per alignment unit of the block area plus the sentinel. */
static size_t heap_bitmap_bytes(size_t area)
{
    size_t units = area / US_HEAP_ALIGN + 1;
    return (units + 7) / 8;
}

size_t us_heap_mem_size(size_t size)
{
    size_t area = heap_area(size);
    if (area == 0)
        return 0;
    /* ALIGN - 1 bytes of slack let any mem pointer be rounded up to the alignment. */
    return (US_HEAP_ALIGN - 1) + area + US_HEAP_HDR_SIZE + heap_bitmap_bytes(area);
}

us_status us_heap_init(us_heap *heap, const char *name, void *mem, size_t mem_len, size_t size)
{
    size_t need = us_heap_mem_size(size);
    if (heap == NULL || mem == NULL || need == 0 || mem_len < need)
        return US_EINVAL;

    size_t area = heap_area(size);
    memset(heap, 0, sizeof(*heap));
    heap->ram = (uint8_t *)US_ALIGN_UP((uintptr_t)mem, US_HEAP_ALIGN);
    heap->starts = heap->ram + area + US_HEAP_HDR_SIZE;
    heap->size = (uint32_t)area;
    heap->name = name != NULL ? name : "heap";
    memset(heap->starts, 0, heap_bitmap_bytes(area));

    heap_hdr *first = hdr_at(heap, 0);
    *first = (heap_hdr){.next = heap->size, .prev = 0, .used = 0};
    /* The sentinel is "used" so that neither allocation nor merging ever walks past it. Its bit is
     * set because it is a header; free cannot reach it, its payload would lie beyond ram + size. */
    heap_hdr *end = hdr_at(heap, heap->size);
    *end = (heap_hdr){.next = heap->size, .prev = heap->size, .used = 1};
    start_set(heap, 0);
    start_set(heap, heap->size);

    heap->lfree = 0;
    /* avail is the block area: the most that can be in use at once, headers included (a single
     * allocation can get at most avail - US_HEAP_HDR_SIZE bytes of payload). */
    heap->stats.avail = heap->size;
    return US_OK;
}

/* Header offset of p if p is the payload of a live block of this heap; -1 otherwise. Exact: the
 * payload must lie in the block area, be aligned relative to ram, have a block start recorded
 * just in front of it, and that block must be in use. Integer compares, since p may be foreign. */
static int64_t heap_live_block(const us_heap *heap, const void *p)
{
    uintptr_t a = (uintptr_t)p, base = (uintptr_t)heap->ram;
    if (p == NULL || a < base + US_HEAP_HDR_SIZE || a - base > heap->size)
        return -1;
    uintptr_t po = a - base;
    if (po % US_HEAP_ALIGN != 0)
        return -1;
    uint32_t h = (uint32_t)(po - US_HEAP_HDR_SIZE);
    if (h >= heap->size || !start_test(heap, h) || hdr_at(heap, h)->used != 1)
        return -1;
    return h;
}

/* Move lfree forward to the lowest free block at or after it (the sentinel stops the walk). */
static void heap_advance_lfree(us_heap *heap)
{
    while (heap->lfree < heap->size && hdr_at(heap, heap->lfree)->used)
        heap->lfree = hdr_at(heap, heap->lfree)->next;
}

void *us_heap_alloc(us_heap *heap, size_t size)
{
    assert(heap != NULL);
    if (size >= HEAP_SIZE_LIMIT || size + US_HEAP_HDR_SIZE > heap->size) {
        heap->stats.err++;
        return NULL;
    }
    if (size < US_HEAP_MIN_SIZE)
        size = US_HEAP_MIN_SIZE;
    uint32_t need = (uint32_t)US_ALIGN_UP(size, US_HEAP_ALIGN);

    for (uint32_t ptr = heap->lfree; ptr < heap->size; ptr = hdr_at(heap, ptr)->next) {
        heap_hdr *mem = hdr_at(heap, ptr);
        if (mem->used)
            continue;
        uint32_t cap = mem->next - ptr - US_HEAP_HDR_SIZE;
        if (cap < need)
            continue;
        if (cap >= need + US_HEAP_HDR_SIZE + US_HEAP_MIN_SIZE) {
            /* Split: the rest becomes a free block. Its successor is used (free blocks never
             * touch), so no merge is due. */
            uint32_t ptr2 = ptr + US_HEAP_HDR_SIZE + need;
            heap_hdr *mem2 = hdr_at(heap, ptr2);
            *mem2 = (heap_hdr){.next = mem->next, .prev = ptr, .used = 0};
            if (mem->next != heap->size)
                hdr_at(heap, mem->next)->prev = ptr2;
            mem->next = ptr2;
            start_set(heap, ptr2);
        }
        /* Too small a rest to split off: the whole block is handed out and counted. */
        mem->used = 1;
        heap->stats.used += mem->next - ptr;
        if (heap->stats.used > heap->stats.max)
            heap->stats.max = heap->stats.used;
        if (ptr == heap->lfree)
            heap_advance_lfree(heap);
        return heap->ram + ptr + US_HEAP_HDR_SIZE;
    }
    heap->stats.err++;
    return NULL;
}

/* lwIP's plug_holes: merge free block `off` with a free successor and a free predecessor, so
 * that no two free blocks are ever adjacent. Headers that vanish lose their start bit. */
static void heap_plug_holes(us_heap *heap, uint32_t off)
{
    heap_hdr *mem = hdr_at(heap, off);
    assert(!mem->used && off < heap->size);

    /* The sentinel is used, so a free successor is always a real block. */
    heap_hdr *nmem = hdr_at(heap, mem->next);
    if (!nmem->used) {
        uint32_t n = mem->next;
        if (heap->lfree == n)
            heap->lfree = off;
        mem->next = nmem->next;
        if (nmem->next != heap->size)
            hdr_at(heap, nmem->next)->prev = off;
        start_clear(heap, n);
    }

    /* The first block's prev is itself: nothing to merge with. */
    if (mem->prev != off) {
        uint32_t p = mem->prev;
        heap_hdr *pmem = hdr_at(heap, p);
        if (!pmem->used) {
            /* lfree needs no update: it is at or below the free predecessor already. */
            pmem->next = mem->next;
            if (mem->next != heap->size)
                hdr_at(heap, mem->next)->prev = p;
            start_clear(heap, off);
        }
    }
}

us_status us_heap_free(us_heap *heap, void *p)
{
    assert(heap != NULL);
    int64_t h = heap_live_block(heap, p);
    if (h < 0) {
        heap->stats.illegal++;
        return US_EILLEGAL;
    }
    uint32_t off = (uint32_t)h;
    heap_hdr *mem = hdr_at(heap, off);
    assert(heap->stats.used >= mem->next - off);
    heap->stats.used -= mem->next - off;
    mem->used = 0;
    if (off < heap->lfree)
        heap->lfree = off;
    heap_plug_holes(heap, off);
    return US_OK;
}

void *us_heap_trim(us_heap *heap, void *p, size_t new_size)
{
    assert(heap != NULL);
    int64_t h = heap_live_block(heap, p);
    if (h < 0) {
        heap->stats.illegal++;
        return NULL;
    }
    uint32_t off = (uint32_t)h;
    heap_hdr *mem = hdr_at(heap, off);
    uint32_t cur = mem->next - off - US_HEAP_HDR_SIZE;
    if (new_size >= cur)
        return p; /* trim never grows */
    if (new_size < US_HEAP_MIN_SIZE)
        new_size = US_HEAP_MIN_SIZE;
    uint32_t want = (uint32_t)US_ALIGN_UP(new_size, US_HEAP_ALIGN);
    if (want >= cur)
        return p;

    uint32_t ptr2 = off + US_HEAP_HDR_SIZE + want;
    uint32_t n = mem->next;
    heap_hdr *nmem = hdr_at(heap, n);
    if (!nmem->used) {
        /* Free successor: move its header down so it takes the tail (any size, even one unit). */
        heap_hdr moved = *nmem;
        start_clear(heap, n);
        *hdr_at(heap, ptr2) = (heap_hdr){.next = moved.next, .prev = off, .used = 0};
        start_set(heap, ptr2);
        if (moved.next != heap->size)
            hdr_at(heap, moved.next)->prev = ptr2;
        if (heap->lfree == n)
            heap->lfree = ptr2;
    } else if (cur - want >= US_HEAP_HDR_SIZE + US_HEAP_MIN_SIZE) {
        /* Used successor and a tail big enough for a block: split it off as a free block. */
        *hdr_at(heap, ptr2) = (heap_hdr){.next = n, .prev = off, .used = 0};
        start_set(heap, ptr2);
        if (n != heap->size)
            nmem->prev = ptr2;
        if (ptr2 < heap->lfree)
            heap->lfree = ptr2;
    } else {
        return p; /* the tail could not hold a block: keep it (as lwIP does) */
    }
    mem->next = ptr2;
    heap->stats.used -= cur - want;
    return p;
}

size_t us_heap_block_size(const us_heap *heap, const void *p)
{
    assert(heap != NULL);
    int64_t h = heap_live_block(heap, p);
    if (h < 0)
        return 0;
    return hdr_at(heap, (uint32_t)h)->next - (uint32_t)h - US_HEAP_HDR_SIZE;
}
