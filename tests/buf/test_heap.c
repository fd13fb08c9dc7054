/* Heap tests: exact stats and placement (first fit, split, merge, trim), refused frees, and
 * lwIP's test_mem-style random rounds. Each test runs on a fresh heap over malloc'd memory; the
 * teardown checks the block list from the inside and that stats.used is back to exactly 0. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "ustack/heap.h"

#define HDR US_HEAP_HDR_SIZE
#define MIN US_HEAP_MIN_SIZE
#define AREA 1024u /* the default heap of every test */

typedef struct th {
    us_heap heap;
    void *mem;
} th;

/* (Re)build t's heap with `size` bytes of block area. */
static void th_init(th *t, size_t size)
{
    free(t->mem);
    size_t need = us_heap_mem_size(size);
    assert_true(need > 0);
    t->mem = malloc(need);
    assert_non_null(t->mem);
    assert_int_equal(us_heap_init(&t->heap, "test", t->mem, need, size), US_OK);
}

static int th_setup(void **state)
{
    th *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    th_init(t, AREA);
    *state = t;
    return 0;
}

/* White-box view of a block header, mirroring heap.c: uint32 next, prev, used, pad (16 bytes). */
typedef struct hdr_view {
    uint32_t next, prev, used, pad;
} hdr_view;

static hdr_view hdr_get(const us_heap *h, uint32_t off)
{
    hdr_view v;
    memcpy(&v, h->ram + off, sizeof(v));
    return v;
}

static int start_bit(const us_heap *h, uint32_t off)
{
    uint32_t u = off / US_HEAP_ALIGN;
    return (h->starts[u >> 3] >> (u & 7u)) & 1;
}

/* Walk the block list and check every invariant the heap relies on: links both ways, a start bit
 * exactly at each header, no two adjacent free blocks, lfree = lowest free block, and stats.used =
 * the sum of used blocks (header + payload). */
static void heap_check(const us_heap *h)
{
    uint32_t off = 0, prev = 0, used = 0, first_free = h->size;
    int prev_free = 0;
    while (off < h->size) {
        hdr_view v = hdr_get(h, off);
        assert_true(start_bit(h, off));
        assert_int_equal(v.prev, prev);
        assert_true(v.next > off && v.next <= h->size);
        assert_true(v.next - off >= HDR + MIN);
        assert_true(v.used <= 1);
        for (uint32_t u = off + US_HEAP_ALIGN; u < v.next; u += US_HEAP_ALIGN)
            assert_false(start_bit(h, u));
        if (v.used) {
            used += v.next - off;
        } else {
            assert_false(prev_free);
            if (first_free == h->size)
                first_free = off;
        }
        prev_free = !v.used;
        prev = off;
        off = v.next;
    }
    assert_int_equal(off, h->size);
    hdr_view end = hdr_get(h, h->size);
    assert_int_equal(end.next, h->size);
    assert_int_equal(end.prev, h->size);
    assert_int_equal(end.used, 1);
    assert_int_equal(h->lfree, first_free);
    assert_int_equal(h->stats.used, used);
    assert_true(h->stats.max >= h->stats.used);
    assert_int_equal(h->stats.avail, h->size);
}

/* Every test ends here: the heap is consistent and nothing is left in use. */
static int th_teardown(void **state)
{
    th *t = *state;
    heap_check(&t->heap);
    assert_int_equal(t->heap.stats.used, 0);
    free(t->mem);
    free(t);
    return 0;
}

/* Offset of a payload pointer from ram. */
static uint32_t off_of(const us_heap *h, const void *p)
{
    return (uint32_t)((const uint8_t *)p - h->ram);
}

/* ---- init ---- */

static void test_heap_init_rejects_bad_args(void **state)
{
    th *t = *state;
    us_heap h;
    size_t need = us_heap_mem_size(AREA);
    /* 15 bytes of alignment slack + area + sentinel header + ceil((1024/16 + 1) / 8) bitmap bytes */
    assert_int_equal(need, 15 + 1024 + 16 + 9);
    assert_int_equal(us_heap_mem_size(HDR + MIN), 15 + 32 + 16 + 1);
    assert_int_equal(us_heap_mem_size(0), 0);
    assert_int_equal(us_heap_mem_size(HDR + MIN - 1), 0);
    assert_int_equal(us_heap_mem_size((size_t)1 << 31), 0);
    assert_int_equal(us_heap_mem_size(SIZE_MAX), 0);

    uint8_t *mem = malloc(need);
    assert_non_null(mem);
    assert_int_equal(us_heap_init(NULL, "x", mem, need, AREA), US_EINVAL);
    assert_int_equal(us_heap_init(&h, "x", NULL, need, AREA), US_EINVAL);
    assert_int_equal(us_heap_init(&h, "x", mem, need, 0), US_EINVAL);
    assert_int_equal(us_heap_init(&h, "x", mem, need, HDR + MIN - 1), US_EINVAL);
    assert_int_equal(us_heap_init(&h, "x", mem, need, (size_t)1 << 31), US_EINVAL);
    assert_int_equal(us_heap_init(&h, "x", mem, need, SIZE_MAX), US_EINVAL);
    assert_int_equal(us_heap_init(&h, "x", mem, need - 1, AREA), US_EINVAL);
    assert_int_equal(us_heap_init(&h, "x", mem, 0, AREA), US_EINVAL);

    /* The smallest heap holds exactly one minimum block. */
    assert_int_equal(us_heap_init(&h, NULL, mem, us_heap_mem_size(HDR + MIN), HDR + MIN), US_OK);
    assert_string_equal(h.name, "heap");
    assert_int_equal(h.stats.avail, 32);
    void *p = us_heap_alloc(&h, 1);
    assert_non_null(p);
    assert_null(us_heap_alloc(&h, 1));
    assert_int_equal(h.stats.err, 1);
    assert_int_equal(us_heap_free(&h, p), US_OK);
    assert_int_equal(h.stats.used, 0);
    free(mem);
    heap_check(&t->heap);
}

static void test_heap_init_stats(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    assert_string_equal(h->name, "test");
    assert_int_equal(h->size, AREA);
    assert_int_equal(h->lfree, 0);
    assert_int_equal(h->stats.avail, AREA);
    assert_int_equal(h->stats.used, 0);
    assert_int_equal(h->stats.max, 0);
    assert_int_equal(h->stats.err, 0);
    assert_int_equal(h->stats.illegal, 0);
    assert_int_equal((uintptr_t)h->ram % US_HEAP_ALIGN, 0);

    /* A size that is not a multiple of the alignment is rounded up. */
    th_init(t, 1000);
    assert_int_equal(t->heap.size, 1008);
    assert_int_equal(t->heap.stats.avail, 1008);
    heap_check(&t->heap);
}

/* Any mem pointer works when mem_len is us_heap_mem_size: the slack absorbs the alignment. */
static void test_heap_init_misaligned_mem(void **state)
{
    th *t = *state;
    size_t need = us_heap_mem_size(AREA);
    uint8_t *raw = malloc(need + US_HEAP_ALIGN);
    assert_non_null(raw);
    for (size_t shift = 0; shift < US_HEAP_ALIGN; shift++) {
        us_heap h;
        assert_int_equal(us_heap_init(&h, "m", raw + shift, need, AREA), US_OK);
        assert_true(h.ram >= raw + shift);
        assert_true(h.starts + 9 <= raw + shift + need);
        uint8_t *p = us_heap_alloc(&h, AREA - HDR);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % US_HEAP_ALIGN, 0);
        memset(p, 0xA5, AREA - HDR); /* the whole payload is inside mem (ASan would tell) */
        heap_check(&h);
        assert_int_equal(us_heap_free(&h, p), US_OK);
        heap_check(&h);
    }
    free(raw);
    heap_check(&t->heap);
}

/* ---- alloc ---- */

static void test_heap_alloc_zero(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    void *p = us_heap_alloc(h, 0);
    assert_non_null(p);
    assert_ptr_equal(p, h->ram + HDR);
    assert_int_equal(us_heap_block_size(h, p), MIN);
    assert_int_equal(h->stats.used, HDR + MIN);
    assert_int_equal(h->lfree, HDR + MIN);
    heap_check(h);
    assert_int_equal(us_heap_free(h, p), US_OK);
    assert_int_equal(h->stats.used, 0);
    assert_int_equal(h->lfree, 0);
}

static void test_heap_alloc_rounding(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    void *a = us_heap_alloc(h, 1);
    assert_int_equal(us_heap_block_size(h, a), 16);
    assert_int_equal(h->stats.used, 32);
    void *b = us_heap_alloc(h, 16);
    assert_int_equal(us_heap_block_size(h, b), 16);
    assert_int_equal(h->stats.used, 64);
    void *c = us_heap_alloc(h, 17);
    assert_int_equal(us_heap_block_size(h, c), 32);
    assert_int_equal(h->stats.used, 112);
    void *d = us_heap_alloc(h, 100);
    assert_int_equal(us_heap_block_size(h, d), 112);
    assert_int_equal(h->stats.used, 240);
    /* Packed from the bottom, one header apart. */
    assert_int_equal(off_of(h, a), 16);
    assert_int_equal(off_of(h, b), 48);
    assert_int_equal(off_of(h, c), 80);
    assert_int_equal(off_of(h, d), 128);
    assert_int_equal(h->lfree, 240);
    heap_check(h);

    assert_int_equal(us_heap_free(h, c), US_OK);
    assert_int_equal(h->stats.used, 192);
    assert_int_equal(us_heap_free(h, a), US_OK);
    assert_int_equal(h->stats.used, 160);
    assert_int_equal(us_heap_free(h, d), US_OK);
    assert_int_equal(h->stats.used, 32);
    assert_int_equal(us_heap_free(h, b), US_OK);
    assert_int_equal(h->stats.used, 0);
    assert_int_equal(h->stats.err, 0);
}

static void test_heap_alloc_too_large(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    assert_null(us_heap_alloc(h, AREA - HDR + 1));
    assert_int_equal(h->stats.err, 1);
    assert_null(us_heap_alloc(h, (size_t)1 << 31));
    assert_int_equal(h->stats.err, 2);
    assert_null(us_heap_alloc(h, SIZE_MAX));
    assert_int_equal(h->stats.err, 3);
    assert_int_equal(h->stats.used, 0);
    assert_int_equal(h->stats.max, 0);
    /* The largest request is the whole area less one header. */
    void *p = us_heap_alloc(h, AREA - HDR);
    assert_ptr_equal(p, h->ram + HDR);
    assert_int_equal(h->stats.used, AREA);
    assert_int_equal(h->lfree, AREA);
    assert_int_equal(us_heap_free(h, p), US_OK);
}

static void test_heap_first_fit_reuses_hole(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    uint8_t *a = us_heap_alloc(h, 64);
    uint8_t *b = us_heap_alloc(h, 64);
    uint8_t *c = us_heap_alloc(h, 64);
    assert_int_equal(h->lfree, 240);
    assert_int_equal(us_heap_free(h, b), US_OK);
    assert_int_equal(h->lfree, 80);
    assert_int_equal(h->stats.used, 160);

    /* 32 of B's 64 leave 32 = header + MIN: split, and the rest serves the next small request. */
    uint8_t *d = us_heap_alloc(h, 32);
    assert_ptr_equal(d, b);
    assert_int_equal(us_heap_block_size(h, d), 32);
    assert_int_equal(h->lfree, 128);
    uint8_t *e = us_heap_alloc(h, 1);
    assert_ptr_equal(e, b + 48);
    assert_int_equal(us_heap_block_size(h, e), 16);
    assert_int_equal(h->lfree, 240);
    assert_int_equal(h->stats.used, 240);
    /* Beyond the hole: the big tail. */
    uint8_t *f = us_heap_alloc(h, 1);
    assert_ptr_equal(f, c + 80);
    heap_check(h);

    assert_int_equal(us_heap_free(h, a), US_OK);
    assert_int_equal(us_heap_free(h, e), US_OK);
    assert_int_equal(us_heap_free(h, c), US_OK);
    assert_int_equal(us_heap_free(h, f), US_OK);
    assert_int_equal(us_heap_free(h, d), US_OK);
    assert_int_equal(h->lfree, 0);
}

static void test_heap_no_split_small_remainder(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    void *a = us_heap_alloc(h, 64);
    void *b = us_heap_alloc(h, 64);
    void *c = us_heap_alloc(h, 64);
    assert_int_equal(us_heap_free(h, b), US_OK);

    /* 48 of 64 would leave 16 < header + MIN: the whole 64 is handed out and counted. */
    void *d = us_heap_alloc(h, 48);
    assert_ptr_equal(d, b);
    assert_int_equal(us_heap_block_size(h, d), 64);
    assert_int_equal(h->stats.used, 240);
    assert_int_equal(h->lfree, 240);
    heap_check(h);
    assert_int_equal(us_heap_free(h, a), US_OK);
    assert_int_equal(us_heap_free(h, c), US_OK);
    assert_int_equal(us_heap_free(h, d), US_OK);

    /* Same at the edge of the whole area: 1008 free, 992 asked leaves 16 -> no split. */
    void *p = us_heap_alloc(h, AREA - 2 * HDR);
    assert_int_equal(us_heap_block_size(h, p), AREA - HDR);
    assert_int_equal(h->stats.used, AREA);
    assert_int_equal(h->lfree, AREA);
    assert_int_equal(us_heap_free(h, p), US_OK);
    /* 976 leaves exactly header + MIN -> split; the rest takes one minimum block. */
    p = us_heap_alloc(h, AREA - 3 * HDR);
    assert_int_equal(us_heap_block_size(h, p), AREA - 3 * HDR);
    assert_int_equal(h->stats.used, AREA - HDR - MIN);
    assert_int_equal(h->lfree, AREA - HDR - MIN);
    void *q = us_heap_alloc(h, MIN);
    assert_ptr_equal(q, h->ram + AREA - MIN);
    assert_null(us_heap_alloc(h, 0));
    assert_int_equal(h->stats.err, 1);
    assert_int_equal(us_heap_free(h, p), US_OK);
    assert_int_equal(us_heap_free(h, q), US_OK);
}

/* Three 80-byte blocks A B C (offsets 0, 80, 160) before a block Z filling the rest, so only
 * merging A, B and C with each other can give back a 224-byte payload at A. */
static void coalesce_case(us_heap *h, const int order[3], const uint32_t lfree_after[3])
{
    void *blk[3];
    for (int i = 0; i < 3; i++)
        blk[i] = us_heap_alloc(h, 64);
    void *z = us_heap_alloc(h, AREA - 3 * 80 - HDR);
    assert_non_null(z);
    assert_int_equal(h->lfree, AREA);
    assert_int_equal(h->stats.used, AREA);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(us_heap_free(h, blk[order[i]]), US_OK);
        assert_int_equal(h->lfree, lfree_after[i]);
        heap_check(h);
    }
    assert_int_equal(h->stats.used, AREA - 240);
    void *m = us_heap_alloc(h, 3 * 80 - HDR);
    assert_ptr_equal(m, blk[0]);
    assert_int_equal(us_heap_block_size(h, m), 224);
    assert_int_equal(h->lfree, AREA);
    assert_int_equal(us_heap_free(h, m), US_OK);
    assert_int_equal(us_heap_free(h, z), US_OK);
    assert_int_equal(h->lfree, 0);
    /* ... and everything merged back into one block. */
    void *all = us_heap_alloc(h, AREA - HDR);
    assert_ptr_equal(all, h->ram + HDR);
    assert_int_equal(us_heap_free(h, all), US_OK);
    heap_check(h);
}

static void test_heap_coalesce_a_c_b(void **state)
{
    th *t = *state;
    coalesce_case(&t->heap, (const int[3]){0, 2, 1}, (const uint32_t[3]){0, 0, 0});
}

static void test_heap_coalesce_c_b_a(void **state)
{
    th *t = *state;
    coalesce_case(&t->heap, (const int[3]){2, 1, 0}, (const uint32_t[3]){160, 80, 0});
}

static void test_heap_coalesce_b_a_c(void **state)
{
    th *t = *state;
    coalesce_case(&t->heap, (const int[3]){1, 0, 2}, (const uint32_t[3]){80, 0, 0});
}

static void test_heap_exhaustion(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    void *blk[16];
    int n = 0;
    /* 80-byte blocks: 12 fit in 1024 (960), leaving a 64-byte block with 48 of payload. */
    while ((blk[n] = us_heap_alloc(h, 64)) != NULL) {
        n++;
        assert_true(n < 16);
        assert_int_equal(h->stats.err, 0);
    }
    assert_int_equal(n, 12);
    assert_int_equal(h->stats.err, 1);
    assert_null(us_heap_alloc(h, 64));
    assert_int_equal(h->stats.err, 2);
    assert_int_equal(h->stats.used, 960);
    assert_int_equal(h->lfree, 960);
    blk[n] = us_heap_alloc(h, 48);
    assert_ptr_equal(blk[n], h->ram + 976);
    n++;
    assert_int_equal(h->lfree, AREA);
    assert_int_equal(h->stats.used, AREA);
    assert_null(us_heap_alloc(h, 0));
    assert_int_equal(h->stats.err, 3);
    assert_int_equal(h->stats.max, AREA);
    heap_check(h);
    for (int i = 0; i < n; i++)
        assert_int_equal(us_heap_free(h, blk[i]), US_OK);
    assert_int_equal(h->stats.used, 0);
    assert_int_equal(h->stats.err, 3);
    assert_int_equal(h->stats.illegal, 0);
    void *all = us_heap_alloc(h, AREA - HDR);
    assert_non_null(all);
    assert_int_equal(us_heap_free(h, all), US_OK);
}

/* ---- refused frees ---- */

static void test_heap_free_invalid(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    uint8_t *a = us_heap_alloc(h, 64);
    uint8_t *b = us_heap_alloc(h, 64);
    uint8_t *c = us_heap_alloc(h, 64);
    int local;
    uint8_t *foreign = malloc(64);
    assert_non_null(foreign);
    const uint32_t used = h->stats.used;
    assert_int_equal(used, 240);

    void *bad[] = {
        NULL,
        &local,
        foreign,
        h->ram,                    /* its header would lie before ram */
        (void *)((uintptr_t)h->ram - HDR), /* just below ram */
        a + 16,                    /* inside A, aligned, no block starts at a + 0 */
        a + 1,                     /* misaligned */
        b - 8,                     /* misaligned, inside A */
        h->ram + AREA,             /* payload of a header that would start in the last unit */
        h->ram + AREA + HDR,       /* the sentinel's "payload" */
        (void *)((uintptr_t)h->ram + AREA + 4 * HDR), /* past the end */
        c + 80,                    /* the free tail's payload: a block, but not in use */
    };
    uint32_t illegal = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(us_heap_free(h, bad[i]), US_EILLEGAL);
        assert_int_equal(h->stats.illegal, ++illegal);
        assert_int_equal(us_heap_block_size(h, bad[i]), 0);
        assert_int_equal(h->stats.used, used);
        heap_check(h);
    }

    /* Payload bytes that look like a header must not fool the check. A fake in-use header at
     * A's payload offset 16 sits where no block starts (only the start bitmap can tell), and a
     * fake used word at a[0] is what a misaligned a + 8 would read as its header's used field. */
    const uint32_t fake[4] = {off_of(h, a) + 64 - HDR, off_of(h, a) - HDR, 1, 0};
    memcpy(a + 16, fake, sizeof(fake));
    memcpy(a, &fake[2], sizeof(fake[2]));
    void *forged[] = {a + 32, a + 8};
    for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
        assert_int_equal(us_heap_free(h, forged[i]), US_EILLEGAL);
        assert_int_equal(h->stats.illegal, ++illegal);
        assert_null(us_heap_trim(h, forged[i], 16));
        assert_int_equal(h->stats.illegal, ++illegal);
        assert_int_equal(us_heap_block_size(h, forged[i]), 0);
        assert_int_equal(h->stats.used, used);
        heap_check(h);
    }

#if UINTPTR_MAX > 0xFFFFFFFFu
    /* A pointer 4 GiB away whose offset from ram truncates to A's: compared, never dereferenced. */
    void *far = (void *)((uintptr_t)a + ((uintptr_t)1 << 32));
    assert_int_equal(us_heap_free(h, far), US_EILLEGAL);
    assert_int_equal(h->stats.illegal, ++illegal);
    assert_int_equal(us_heap_block_size(h, far), 0);
    assert_int_equal(h->stats.used, used);
#endif

    /* Double free of a block still standing alone, then of one merged away (its start is gone). */
    assert_int_equal(us_heap_free(h, c), US_OK);
    assert_int_equal(us_heap_free(h, c), US_EILLEGAL);
    assert_int_equal(h->stats.illegal, ++illegal);
    assert_int_equal(us_heap_free(h, a), US_OK);
    assert_int_equal(us_heap_free(h, b), US_OK); /* merges A, B and the tail */
    assert_int_equal(us_heap_free(h, b), US_EILLEGAL);
    assert_int_equal(h->stats.illegal, ++illegal);
    assert_int_equal(us_heap_free(h, a), US_EILLEGAL);
    assert_int_equal(h->stats.illegal, ++illegal);
    assert_int_equal(h->stats.used, 0);
    assert_int_equal(h->lfree, 0);
    heap_check(h);

    /* Still fully usable. */
    void *all = us_heap_alloc(h, AREA - HDR);
    assert_ptr_equal(all, h->ram + HDR);
    assert_int_equal(us_heap_free(h, all), US_OK);
    assert_int_equal(h->stats.illegal, illegal);
    assert_int_equal(h->stats.err, 0);
    free(foreign);
}

static void test_heap_block_size_invalid(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    uint8_t *p = us_heap_alloc(h, 40);
    assert_int_equal(us_heap_block_size(h, p), 48);
    assert_int_equal(us_heap_block_size(h, NULL), 0);
    assert_int_equal(us_heap_block_size(h, p + 16), 0);
    assert_int_equal(us_heap_free(h, p), US_OK);
    assert_int_equal(us_heap_block_size(h, p), 0);
    assert_int_equal(h->stats.illegal, 0); /* a query is not a refused free */
}

/* ---- trim ---- */

static void test_heap_trim_split(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    uint8_t *a = us_heap_alloc(h, 128);
    uint8_t *b = us_heap_alloc(h, 16); /* a used successor: the tail must be split off */
    memset(a, 0x5A, 128);
    assert_int_equal(h->stats.used, 144 + 32);
    assert_ptr_equal(us_heap_trim(h, a, 20), a);
    assert_int_equal(us_heap_block_size(h, a), 32);
    assert_int_equal(h->stats.used, 48 + 32);
    assert_int_equal(h->lfree, 48);
    for (int i = 0; i < 32; i++)
        assert_int_equal(a[i], 0x5A);
    heap_check(h);
    /* The tail (80 bytes of payload) is a block of its own now. */
    uint8_t *c = us_heap_alloc(h, 80);
    assert_ptr_equal(c, a + 48);
    assert_int_equal(us_heap_block_size(h, c), 80);
    assert_int_equal(h->stats.used, 48 + 96 + 32);
    assert_int_equal(us_heap_free(h, a), US_OK);
    assert_int_equal(us_heap_free(h, b), US_OK);
    assert_int_equal(us_heap_free(h, c), US_OK);
}

static void test_heap_trim_too_small_to_split(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    uint8_t *a = us_heap_alloc(h, 64);
    uint8_t *b = us_heap_alloc(h, 16);
    assert_int_equal(h->stats.used, 80 + 32);
    /* 40 -> 48 leaves a 16-byte tail: too small for header + MIN, nothing changes. */
    assert_ptr_equal(us_heap_trim(h, a, 40), a);
    assert_int_equal(us_heap_block_size(h, a), 64);
    assert_int_equal(h->stats.used, 80 + 32);
    /* 49 rounds back up to 64: nothing to trim. */
    assert_ptr_equal(us_heap_trim(h, a, 49), a);
    assert_int_equal(us_heap_block_size(h, a), 64);
    assert_int_equal(h->lfree, 112);
    heap_check(h);
    /* 0 -> MIN leaves 48 >= header + MIN: split. */
    assert_ptr_equal(us_heap_trim(h, a, 0), a);
    assert_int_equal(us_heap_block_size(h, a), MIN);
    assert_int_equal(h->stats.used, 32 + 32);
    assert_int_equal(h->lfree, 32);
    assert_int_equal(us_heap_free(h, b), US_OK);
    assert_int_equal(us_heap_free(h, a), US_OK);
    assert_int_equal(h->stats.illegal, 0);
}

static void test_heap_trim_merges_free_successor(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    /* Successor is the free tail: even a 16-byte tail is given back (merged into it). */
    uint8_t *a = us_heap_alloc(h, 64);
    assert_int_equal(h->lfree, 80);
    assert_ptr_equal(us_heap_trim(h, a, 48), a);
    assert_int_equal(us_heap_block_size(h, a), 48);
    assert_int_equal(h->stats.used, 64);
    assert_int_equal(h->lfree, 64);
    heap_check(h);
    uint8_t *rest = us_heap_alloc(h, AREA - 64 - HDR);
    assert_ptr_equal(rest, a + 64);
    assert_int_equal(h->stats.used, AREA);
    assert_int_equal(us_heap_free(h, rest), US_OK);

    /* Successor is a hole between used blocks: A B C Z, free B, trim A -> the hole grows down. */
    uint8_t *b = us_heap_alloc(h, 64);
    uint8_t *c = us_heap_alloc(h, 64);
    uint8_t *z = us_heap_alloc(h, AREA - 3 * 80 + 16 - HDR); /* A is 64 now: fill to the end */
    assert_non_null(z);
    assert_int_equal(h->stats.used, AREA);
    assert_int_equal(us_heap_free(h, b), US_OK);
    assert_int_equal(h->lfree, 64);
    assert_ptr_equal(us_heap_trim(h, a, 16), a);
    assert_int_equal(us_heap_block_size(h, a), 16);
    assert_int_equal(h->lfree, 32);
    assert_int_equal(h->stats.used, AREA - 112);
    heap_check(h);
    uint8_t *d = us_heap_alloc(h, 96); /* the hole is now 32..144 */
    assert_ptr_equal(d, a + 32);
    assert_int_equal(us_heap_block_size(h, d), 96);
    assert_int_equal(h->stats.used, AREA);
    assert_int_equal(us_heap_free(h, a), US_OK);
    assert_int_equal(us_heap_free(h, c), US_OK);
    assert_int_equal(us_heap_free(h, d), US_OK);
    assert_int_equal(us_heap_free(h, z), US_OK);
}

static void test_heap_trim_never_grows(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    uint8_t *a = us_heap_alloc(h, 64);
    assert_ptr_equal(us_heap_trim(h, a, 64), a);
    assert_ptr_equal(us_heap_trim(h, a, 65), a);
    assert_ptr_equal(us_heap_trim(h, a, 1000), a);
    assert_ptr_equal(us_heap_trim(h, a, (size_t)1 << 31), a);
    assert_ptr_equal(us_heap_trim(h, a, SIZE_MAX), a);
    assert_int_equal(us_heap_block_size(h, a), 64);
    assert_int_equal(h->stats.used, 80);
    assert_int_equal(h->stats.err, 0);
    assert_int_equal(h->stats.illegal, 0);
    assert_int_equal(us_heap_free(h, a), US_OK);
}

static void test_heap_trim_invalid(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    uint8_t *a = us_heap_alloc(h, 64);
    uint8_t *b = us_heap_alloc(h, 64);
    assert_null(us_heap_trim(h, NULL, 16));
    assert_int_equal(h->stats.illegal, 1);
    assert_null(us_heap_trim(h, a + 16, 16));
    assert_int_equal(h->stats.illegal, 2);
    assert_null(us_heap_trim(h, a + 1, 16));
    assert_int_equal(h->stats.illegal, 3);
    assert_int_equal(us_heap_free(h, b), US_OK);
    assert_null(us_heap_trim(h, b, 16));
    assert_int_equal(h->stats.illegal, 4);
    assert_int_equal(us_heap_block_size(h, a), 64);
    assert_int_equal(h->stats.used, 80);
    heap_check(h);
    assert_int_equal(us_heap_free(h, a), US_OK);
}

/* ---- stats ---- */

static void test_heap_max_high_water(void **state)
{
    th *t = *state;
    us_heap *h = &t->heap;
    void *a = us_heap_alloc(h, 100); /* 16 + 112 */
    void *b = us_heap_alloc(h, 16);  /* 16 + 16 */
    assert_int_equal(h->stats.used, 160);
    assert_int_equal(h->stats.max, 160);
    assert_int_equal(us_heap_free(h, a), US_OK);
    assert_int_equal(h->stats.used, 32);
    assert_int_equal(h->stats.max, 160);
    void *c = us_heap_alloc(h, 16); /* split from A's 112 */
    assert_ptr_equal(c, a);
    assert_int_equal(h->stats.used, 64);
    assert_int_equal(h->stats.max, 160);
    void *d = us_heap_alloc(h, 200); /* 16 + 208 lands after B: 64 + 224 = 288 */
    assert_int_equal(h->stats.used, 288);
    assert_int_equal(h->stats.max, 288);
    assert_int_equal(us_heap_free(h, b), US_OK);
    assert_int_equal(us_heap_free(h, c), US_OK);
    assert_int_equal(us_heap_free(h, d), US_OK);
    assert_int_equal(h->stats.used, 0);
    assert_int_equal(h->stats.max, 288);
}

/* ---- random rounds (lwIP test_mem) ---- */

#define LIVE_MAX 64

typedef struct live {
    uint8_t *p;
    size_t len; /* bytes filled with pat: the block's usable size */
    uint8_t pat;
} live;

static void live_check(const live *l)
{
    for (size_t i = 0; i < l->len; i++)
        if (l->p[i] != l->pat)
            fail_msg("block %p byte %zu is 0x%02x, expected 0x%02x (overlap)", (void *)l->p, i,
                     l->p[i], l->pat);
}

static void random_rounds(us_heap *h, uint64_t seed, int rounds)
{
    us_test_rng rng = {seed};
    live tab[LIVE_MAX];
    int n = 0;
    uint32_t err = h->stats.err;
    uint8_t next_pat = 1;
    for (int r = 0; r < rounds; r++) {
        uint32_t op = us_test_below(&rng, 10);
        if (op < 5 && n < LIVE_MAX) {
            /* Mostly small, sometimes large, sometimes 0. */
            size_t want = us_test_below(&rng, 4) == 0 ? us_test_below(&rng, 2048)
                                                      : us_test_below(&rng, 200);
            uint8_t *p = us_heap_alloc(h, want);
            if (p == NULL) {
                assert_int_equal(h->stats.err, ++err);
                continue;
            }
            assert_int_equal((uintptr_t)p % US_HEAP_ALIGN, 0);
            size_t bs = us_heap_block_size(h, p);
            assert_true(bs >= want && bs >= MIN);
            tab[n] = (live){p, bs, next_pat};
            memset(p, next_pat, bs);
            next_pat = (uint8_t)(next_pat % 255 + 1);
            n++;
        } else if (op < 8 && n > 0) {
            int i = (int)us_test_below(&rng, (uint32_t)n);
            live_check(&tab[i]);
            assert_int_equal(us_heap_free(h, tab[i].p), US_OK);
            tab[i] = tab[--n];
        } else if (n > 0) {
            int i = (int)us_test_below(&rng, (uint32_t)n);
            size_t to = us_test_below(&rng, (uint32_t)tab[i].len + 32);
            uint32_t used = h->stats.used;
            assert_ptr_equal(us_heap_trim(h, tab[i].p, to), tab[i].p);
            size_t bs = us_heap_block_size(h, tab[i].p);
            assert_true(bs <= tab[i].len);
            assert_true(bs >= to || bs == tab[i].len);
            assert_int_equal(used - h->stats.used, tab[i].len - bs);
            tab[i].len = bs; /* the kept prefix must be intact */
            live_check(&tab[i]);
        }
        heap_check(h);
    }
    for (int i = 0; i < n; i++)
        live_check(&tab[i]);
    while (n > 0) {
        assert_int_equal(us_heap_free(h, tab[n - 1].p), US_OK);
        n--;
        heap_check(h);
    }
    assert_int_equal(h->stats.used, 0);
    assert_int_equal(h->stats.illegal, 0);
    assert_int_equal(h->lfree, 0);
    void *all = us_heap_alloc(h, h->size - HDR);
    assert_ptr_equal(all, h->ram + HDR);
    assert_int_equal(us_heap_free(h, all), US_OK);
}

static void test_heap_random_rounds(void **state)
{
    th *t = *state;
    th_init(t, 16u * 1024u);
    for (uint64_t seed = 1; seed <= 8; seed++)
        random_rounds(&t->heap, seed * 0x1234567ull, 5000);
    assert_true(t->heap.stats.max > 0);
    assert_true(t->heap.stats.max <= t->heap.stats.avail);
}

/* Small heap: allocation failures and full-heap paths are frequent. */
static void test_heap_random_rounds_tight(void **state)
{
    th *t = *state;
    th_init(t, 2000);
    for (uint64_t seed = 100; seed < 104; seed++)
        random_rounds(&t->heap, seed, 5000);
    assert_true(t->heap.stats.err > 0);
}

/* ---- the heap inside a us_bufs ---- */

static void test_heap_in_bufs_fixture(void **state)
{
    (void)state;
    us_bufs *b = us_test_bufs_new(NULL);
    us_heap *h = &b->heap;
    assert_int_equal(h->stats.avail, h->size);
    heap_check(h);
    void *p = us_heap_alloc(h, 1500);
    assert_non_null(p);
    assert_int_equal(h->stats.used, HDR + 1504);
    assert_int_equal(us_heap_free(h, p), US_OK);
    heap_check(h);
    us_test_bufs_free(b);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)
    const struct CMUnitTest tests[] = {
        T(test_heap_init_rejects_bad_args),
        T(test_heap_init_stats),
        T(test_heap_init_misaligned_mem),
        T(test_heap_alloc_zero),
        T(test_heap_alloc_rounding),
        T(test_heap_alloc_too_large),
        T(test_heap_first_fit_reuses_hole),
        T(test_heap_no_split_small_remainder),
        T(test_heap_coalesce_a_c_b),
        T(test_heap_coalesce_c_b_a),
        T(test_heap_coalesce_b_a_c),
        T(test_heap_exhaustion),
        T(test_heap_free_invalid),
        T(test_heap_block_size_invalid),
        T(test_heap_trim_split),
        T(test_heap_trim_too_small_to_split),
        T(test_heap_trim_merges_free_successor),
        T(test_heap_trim_never_grows),
        T(test_heap_trim_invalid),
        T(test_heap_max_high_water),
        T(test_heap_random_rounds),
        T(test_heap_random_rounds_tight),
        T(test_heap_in_bufs_fixture),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
