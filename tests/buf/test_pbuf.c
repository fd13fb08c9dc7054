/* Pbuf unit tests: every behaviour lwIP's test/unit/core/test_pbuf.c checks, plus POOL chaining,
 * exhaustion and recovery, reference counts on shared chains, refused frees, header room,
 * resizing and reshaping, and every accessor at and past the end. Each test runs on a fresh
 * us_bufs; the teardown fails the test if any pool block or heap byte is still in use. */
#include "testutil.h"

#include <string.h>

#include "ustack/pbuf.h"

#define STRUCT ((uint32_t)US_PBUF_STRUCT_SIZE)
#define SMALL_BUFSIZE 128u
#define SMALL_COUNT 8u

/* ---- fixtures ---- */

static int setup_default(void **state)
{
    *state = us_test_bufs_new(NULL);
    return 0;
}

/* Small POOL blocks so that chains form: 8 blocks of 128 bytes, 8 headers, 4 KiB of heap. */
static int setup_small(void **state)
{
    us_bufs_config cfg = {.pbuf_pool_count = SMALL_COUNT,
                          .pbuf_pool_bufsize = SMALL_BUFSIZE,
                          .pbuf_count = 8,
                          .heap_size = 4096};
    *state = us_test_bufs_new(&cfg);
    return 0;
}

static int teardown(void **state)
{
    us_test_bufs_free(*state);
    return 0;
}

/* ---- helpers ---- */

/* Heap bytes (header included) of one block asked for n bytes, per heap.h. */
static uint32_t heap_cost(size_t n)
{
    size_t s = US_ALIGN_UP(n, US_HEAP_ALIGN);
    if (s < US_HEAP_MIN_SIZE)
        s = US_HEAP_MIN_SIZE;
    return (uint32_t)(US_HEAP_HDR_SIZE + s);
}

static uint8_t *pl(const us_pbuf *p)
{
    return p->payload;
}

/* A chain of n segments of `type` (RAM or POOL, layer RAW) with the given lengths. */
static us_pbuf *chain_of(us_bufs *b, us_pbuf_type type, const uint32_t *lens, int n)
{
    us_pbuf *h = NULL;
    for (int i = 0; i < n; i++) {
        us_pbuf *q = us_pbuf_alloc(b, US_PBUF_RAW, lens[i], type);
        assert_non_null(q);
        if (h == NULL)
            h = q;
        else
            assert_int_equal(us_pbuf_cat(h, q), US_OK);
    }
    return h;
}

static uint8_t pattern(uint32_t i)
{
    return (uint8_t)(i * 7u + 3u);
}

static void fill_pattern(us_pbuf *p)
{
    for (uint32_t i = 0; i < p->tot_len; i++)
        assert_int_equal(us_pbuf_put_at(p, i, pattern(i)), US_OK);
}

static void check_pattern(const us_pbuf *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(us_pbuf_get_at(p, i), pattern(i));
}

static void check_stats(const us_bufs *b, uint32_t einval, uint32_t ebuf, uint32_t erange,
                        uint32_t illegal)
{
    assert_int_equal(b->pbuf_stats.einval, einval);
    assert_int_equal(b->pbuf_stats.ebuf, ebuf);
    assert_int_equal(b->pbuf_stats.erange, erange);
    assert_int_equal(b->pbuf_stats.illegal, illegal);
}

/* Check one segment's fields. */
static void check_seg(const us_pbuf *p, uint32_t len, uint32_t tot_len, us_pbuf_type type)
{
    assert_non_null(p);
    assert_int_equal(p->len, len);
    assert_int_equal(p->tot_len, tot_len);
    assert_int_equal(p->type, type);
}

/* CUSTOM free callback bookkeeping: the tests keep one of these around the us_pbuf_custom. */
typedef struct custom_rec {
    us_pbuf_custom c; /* first, so the pbuf pointer leads back here */
    int freed;
    us_pbuf *freed_p;
} custom_rec;

static void custom_free(us_pbuf *p)
{
    custom_rec *r = (custom_rec *)(void *)p;
    r->freed++;
    r->freed_p = p;
}

/* ---- allocation ---- */

static void test_pbuf_alloc_zero_length_every_type(void **state)
{
    us_bufs *b = *state;
    static const us_pbuf_type types[] = {US_PBUF_RAM, US_PBUF_POOL, US_PBUF_ROM, US_PBUF_REF};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        us_pbuf *p = us_pbuf_alloc(b, US_PBUF_TRANSPORT, 0, types[i]);
        check_seg(p, 0, 0, types[i]);
        assert_null(p->next);
        assert_int_equal(p->ref, 1);
        assert_int_equal(p->flags, 0);
        assert_ptr_equal(p->owner, b);
        if (types[i] == US_PBUF_ROM || types[i] == US_PBUF_REF)
            assert_null(p->payload);
        else
            assert_ptr_equal(p->payload, (uint8_t *)p + STRUCT + US_PBUF_TRANSPORT);
        assert_int_equal(us_pbuf_free(p), 1);
    }
    uint8_t byte = 0;
    us_pbuf *r = us_pbuf_alloc_reference(b, &byte, 0, US_PBUF_REF);
    check_seg(r, 0, 0, US_PBUF_REF);
    assert_ptr_equal(r->payload, &byte);
    assert_int_equal(us_pbuf_free(r), 1);
    r = us_pbuf_alloc_reference(b, NULL, 0, US_PBUF_ROM);
    check_seg(r, 0, 0, US_PBUF_ROM);
    assert_int_equal(us_pbuf_free(r), 1);

    /* Zero-length CUSTOM, with no memory at all and with header room only. */
    custom_rec rec = {.c.free_fn = custom_free};
    us_pbuf *c = us_pbuf_alloced_custom(b, US_PBUF_RAW, 0, &rec.c, NULL, 0);
    assert_ptr_equal(c, &rec.c.pbuf);
    check_seg(c, 0, 0, US_PBUF_CUSTOM);
    assert_null(c->payload);
    assert_int_equal(c->ref, 1);
    assert_int_equal(us_pbuf_free(c), 1);
    assert_int_equal(rec.freed, 1);

    uint8_t mem[US_PBUF_LINK];
    custom_rec rec2 = {.c.free_fn = custom_free};
    c = us_pbuf_alloced_custom(b, US_PBUF_LINK, 0, &rec2.c, mem, sizeof(mem));
    check_seg(c, 0, 0, US_PBUF_CUSTOM);
    assert_ptr_equal(c->payload, mem + US_PBUF_LINK);
    assert_int_equal(us_pbuf_add_header(c, US_PBUF_LINK), US_OK);
    assert_ptr_equal(c->payload, mem);
    assert_int_equal(us_pbuf_free(c), 1);
    assert_int_equal(rec2.freed, 1);
    check_stats(b, 0, 0, 0, 0);
}

static void test_pbuf_alloc_ram_layout(void **state)
{
    us_bufs *b = *state;
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_IP, 100, US_PBUF_RAM);
    check_seg(p, 100, 100, US_PBUF_RAM);
    assert_ptr_equal(p->payload, (uint8_t *)p + STRUCT + US_PBUF_IP);
    assert_int_equal(b->heap.stats.used, heap_cost(STRUCT + US_PBUF_IP + 100));
    assert_int_equal(us_pbuf_take(p, "0123456789", 10), US_OK);
    assert_memory_equal(p->payload, "0123456789", 10);
    assert_int_equal(us_pbuf_free(p), 1);
    assert_int_equal(b->heap.stats.used, 0);
}

static void test_pbuf_alloc_pool_one_frame_one_block(void **state)
{
    us_bufs *b = *state;
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, 1514, US_PBUF_POOL);
    check_seg(p, 1514, 1514, US_PBUF_POOL);
    assert_null(p->next);
    assert_ptr_equal(p->payload, (uint8_t *)p + STRUCT);
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].stats.used, 1);
    assert_int_equal(us_pbuf_free(p), 1);
    /* 1514 bytes after the transport room (54) no longer fit 1536: two blocks. */
    p = us_pbuf_alloc(b, US_PBUF_TRANSPORT, 1514, US_PBUF_POOL);
    check_seg(p, 1536 - 54, 1514, US_PBUF_POOL);
    check_seg(p->next, 1514 - (1536 - 54), 1514 - (1536 - 54), US_PBUF_POOL);
    assert_ptr_equal(p->next->payload, (uint8_t *)p->next + STRUCT);
    assert_int_equal(us_pbuf_free(p), 2);
}

static void test_pbuf_pool_chaining_exact_sizes(void **state)
{
    us_bufs *b = *state;
    us_pool *pool = &b->pools[US_POOL_PBUF_POOL];

    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, SMALL_BUFSIZE, US_PBUF_POOL);
    check_seg(p, 128, 128, US_PBUF_POOL);
    assert_null(p->next);
    assert_int_equal(us_pbuf_clen(p), 1);
    assert_int_equal(us_pbuf_free(p), 1);

    p = us_pbuf_alloc(b, US_PBUF_RAW, SMALL_BUFSIZE + 1, US_PBUF_POOL);
    check_seg(p, 128, 129, US_PBUF_POOL);
    check_seg(p->next, 1, 1, US_PBUF_POOL);
    assert_null(p->next->next);
    assert_int_equal(pool->stats.used, 2);
    assert_int_equal(us_pbuf_free(p), 2);

    /* With header room the first block holds bufsize - layer. */
    p = us_pbuf_alloc(b, US_PBUF_TRANSPORT, 200, US_PBUF_POOL);
    check_seg(p, 74, 200, US_PBUF_POOL);
    assert_ptr_equal(p->payload, (uint8_t *)p + STRUCT + 54);
    check_seg(p->next, 126, 126, US_PBUF_POOL);
    assert_ptr_equal(p->next->payload, (uint8_t *)p->next + STRUCT);
    assert_int_equal(us_pbuf_free(p), 2);

    p = us_pbuf_alloc(b, US_PBUF_RAW, 3 * 128 + 5, US_PBUF_POOL);
    const uint32_t lens[] = {128, 128, 128, 5}, tots[] = {389, 261, 133, 5};
    us_pbuf *q = p;
    for (int i = 0; i < 4; i++, q = q->next) {
        check_seg(q, lens[i], tots[i], US_PBUF_POOL);
        assert_int_equal(q->ref, 1);
    }
    assert_null(q);
    assert_int_equal(us_pbuf_clen(p), 4);
    assert_int_equal(pool->stats.used, 4);
    assert_int_equal(us_pbuf_free(p), 4);
    assert_int_equal(pool->stats.used, 0);

    /* Exactly all blocks. */
    p = us_pbuf_alloc(b, US_PBUF_RAW, SMALL_COUNT * SMALL_BUFSIZE, US_PBUF_POOL);
    assert_int_equal(us_pbuf_clen(p), SMALL_COUNT);
    assert_int_equal(pool->stats.used, SMALL_COUNT);
    assert_int_equal(us_pbuf_free(p), (int)SMALL_COUNT);
    check_stats(b, 0, 0, 0, 0);
}

static void test_pbuf_pool_layer_past_block(void **state)
{
    us_bufs *b = *state;
    assert_null(us_pbuf_alloc(b, (us_pbuf_layer)SMALL_BUFSIZE, 0, US_PBUF_POOL));
    assert_null(us_pbuf_alloc(b, (us_pbuf_layer)(SMALL_BUFSIZE + 1), 10, US_PBUF_POOL));
    check_stats(b, 2, 0, 0, 0);
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].stats.used, 0);
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].stats.err, 0);
    us_pbuf *p = us_pbuf_alloc(b, (us_pbuf_layer)(SMALL_BUFSIZE - 1), 1, US_PBUF_POOL);
    check_seg(p, 1, 1, US_PBUF_POOL);
    assert_int_equal(us_pbuf_free(p), 1);
}

static void test_pbuf_pool_exhaustion_and_recovery(void **state)
{
    us_bufs *b = *state;
    us_pool *pool = &b->pools[US_POOL_PBUF_POOL];
    us_pbuf *ps[SMALL_COUNT];
    for (uint32_t i = 0; i < SMALL_COUNT; i++)
        assert_non_null(ps[i] = us_pbuf_alloc(b, US_PBUF_RAW, 10, US_PBUF_POOL));
    assert_null(us_pbuf_alloc(b, US_PBUF_RAW, 10, US_PBUF_POOL));
    assert_int_equal(pool->stats.err, 1);
    assert_int_equal(pool->stats.used, SMALL_COUNT);

    /* Three free blocks, a four-block chain: the three taken are given back. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(us_pbuf_free(ps[i]), 1);
    assert_null(us_pbuf_alloc(b, US_PBUF_RAW, 3 * 128 + 1, US_PBUF_POOL));
    assert_int_equal(pool->stats.err, 2);
    assert_int_equal(pool->stats.used, SMALL_COUNT - 3);
    check_stats(b, 0, 0, 0, 0);

    /* A three-block chain fits exactly. */
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, 3 * 128, US_PBUF_POOL);
    assert_int_equal(us_pbuf_clen(p), 3);
    assert_int_equal(pool->stats.used, SMALL_COUNT);
    assert_int_equal(us_pbuf_free(p), 3);
    for (uint32_t i = 3; i < SMALL_COUNT; i++)
        assert_int_equal(us_pbuf_free(ps[i]), 1);
    assert_int_equal(pool->stats.used, 0);

    /* Recovered: the whole pool in one chain. */
    p = us_pbuf_alloc(b, US_PBUF_RAW, SMALL_COUNT * 128, US_PBUF_POOL);
    assert_non_null(p);
    assert_int_equal(us_pbuf_free(p), (int)SMALL_COUNT);
    assert_int_equal(pool->stats.err, 2);
    assert_int_equal(pool->stats.max, SMALL_COUNT);
}

static void test_pbuf_header_pool_exhaustion(void **state)
{
    us_bufs *b = *state;
    us_pool *pool = &b->pools[US_POOL_PBUF];
    uint8_t data[4] = {1, 2, 3, 4};
    us_pbuf *ps[8];
    for (int i = 0; i < 8; i++)
        assert_non_null(ps[i] = us_pbuf_alloc_reference(b, data, 4, US_PBUF_REF));
    assert_null(us_pbuf_alloc_reference(b, data, 4, US_PBUF_REF));
    assert_null(us_pbuf_alloc(b, US_PBUF_RAW, 4, US_PBUF_ROM));
    assert_int_equal(pool->stats.err, 2);
    check_stats(b, 0, 0, 0, 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(us_pbuf_free(ps[i]), 1);
}

static void test_pbuf_ram_heap_exhaustion(void **state)
{
    us_bufs *b = *state;
    assert_null(us_pbuf_alloc(b, US_PBUF_RAW, 8192, US_PBUF_RAM));
    assert_int_equal(b->heap.stats.err, 1);
    assert_int_equal(b->heap.stats.used, 0);
    check_stats(b, 0, 0, 0, 0);
}

static void test_pbuf_alloc_huge_length_every_type(void **state)
{
    us_bufs *b = *state;
    uint8_t mem[16];
    custom_rec rec = {.c.free_fn = custom_free};
    assert_null(us_pbuf_alloc(b, US_PBUF_RAW, UINT32_MAX, US_PBUF_RAM));
    assert_null(us_pbuf_alloc(b, US_PBUF_TRANSPORT, UINT32_MAX - 10, US_PBUF_RAM));
    assert_null(us_pbuf_alloc(b, US_PBUF_RAW, UINT32_MAX, US_PBUF_POOL));
    assert_null(us_pbuf_alloc(b, US_PBUF_TRANSPORT, UINT32_MAX, US_PBUF_POOL));
    assert_null(us_pbuf_alloc(b, US_PBUF_RAW, UINT32_MAX, US_PBUF_ROM));
    assert_null(us_pbuf_alloc(b, US_PBUF_RAW, UINT32_MAX, US_PBUF_REF));
    assert_null(us_pbuf_alloc_reference(b, mem, UINT32_MAX, US_PBUF_REF));
    assert_null(us_pbuf_alloc_reference(b, mem, UINT32_MAX, US_PBUF_ROM));
    assert_null(us_pbuf_alloced_custom(b, US_PBUF_RAW, UINT32_MAX, &rec.c, mem, UINT32_MAX));
    assert_null(us_pbuf_alloced_custom(b, US_PBUF_LINK, UINT32_MAX - 5, &rec.c, mem, UINT32_MAX));
    check_stats(b, 10, 0, 0, 0);
    for (int i = 0; i < US_POOL_COUNT; i++) {
        assert_int_equal(b->pools[i].stats.used, 0);
        assert_int_equal(b->pools[i].stats.err, 0);
    }
    assert_int_equal(b->heap.stats.err, 0);
    assert_int_equal(rec.freed, 0);
}

static void test_pbuf_alloc_bad_arguments(void **state)
{
    us_bufs *b = *state;
    uint8_t mem[32];
    assert_null(us_pbuf_alloc(NULL, US_PBUF_RAW, 10, US_PBUF_POOL));
    assert_null(us_pbuf_alloc(NULL, US_PBUF_RAW, 10, US_PBUF_RAM));
    check_stats(b, 0, 0, 0, 0);
    assert_null(us_pbuf_alloc(b, US_PBUF_RAW, 10, US_PBUF_CUSTOM));
    assert_null(us_pbuf_alloc(b, US_PBUF_RAW, 10, (us_pbuf_type)99));
    check_stats(b, 2, 0, 0, 0);
    assert_null(us_pbuf_alloc_reference(b, mem, 10, US_PBUF_RAM));
    assert_null(us_pbuf_alloc_reference(b, mem, 10, US_PBUF_POOL));
    assert_null(us_pbuf_alloc_reference(b, NULL, 10, US_PBUF_REF));
    assert_null(us_pbuf_alloc_reference(NULL, mem, 10, US_PBUF_REF));
    check_stats(b, 5, 0, 0, 0);

    custom_rec rec = {.c.free_fn = NULL};
    assert_null(us_pbuf_alloced_custom(b, US_PBUF_RAW, 10, &rec.c, mem, sizeof(mem)));
    rec.c.free_fn = custom_free;
    assert_null(us_pbuf_alloced_custom(b, US_PBUF_RAW, 10, NULL, mem, sizeof(mem)));
    assert_null(us_pbuf_alloced_custom(b, US_PBUF_LINK, 19, &rec.c, mem, sizeof(mem)));
    assert_null(us_pbuf_alloced_custom(b, US_PBUF_RAW, 1, &rec.c, NULL, 1));
    assert_null(us_pbuf_alloced_custom(NULL, US_PBUF_RAW, 10, &rec.c, mem, sizeof(mem)));
    check_stats(b, 9, 0, 0, 0);
    /* layer + length == payload_mem_len exactly is fine. */
    us_pbuf *c = us_pbuf_alloced_custom(b, US_PBUF_LINK, 18, &rec.c, mem, sizeof(mem));
    check_seg(c, 18, 18, US_PBUF_CUSTOM);
    assert_ptr_equal(c->payload, mem + 14);
    assert_ptr_equal(rec.c.mem, mem);
    assert_int_equal(us_pbuf_free(c), 1);
    assert_int_equal(rec.freed, 1);
    check_stats(b, 9, 0, 0, 0);
}

static void test_pbuf_alloc_reference_rom_ref(void **state)
{
    us_bufs *b = *state;
    static const uint8_t rom[] = "constant";
    uint8_t ram[6] = "hello";
    us_pbuf *r = us_pbuf_alloc_reference(b, (void *)(uintptr_t)rom, 8, US_PBUF_ROM);
    us_pbuf *f = us_pbuf_alloc_reference(b, ram, 5, US_PBUF_REF);
    check_seg(r, 8, 8, US_PBUF_ROM);
    check_seg(f, 5, 5, US_PBUF_REF);
    assert_ptr_equal(r->payload, rom);
    assert_ptr_equal(f->payload, ram);
    assert_int_equal(b->pools[US_POOL_PBUF].stats.used, 2);
    assert_int_equal(us_pbuf_cat(f, r), US_OK);
    assert_int_equal(us_pbuf_memcmp(f, 0, "helloconstant", 13), 0);
    assert_int_equal(us_pbuf_free(f), 2);
    assert_int_equal(b->pools[US_POOL_PBUF].stats.used, 0);
}

/* ---- CUSTOM ---- */

static void test_pbuf_custom_free_called_once_at_last_ref(void **state)
{
    us_bufs *b = *state;
    uint8_t mem[100];
    custom_rec rec = {.c.free_fn = custom_free};
    us_pbuf *c = us_pbuf_alloced_custom(b, US_PBUF_IP, 60, &rec.c, mem, sizeof(mem));
    check_seg(c, 60, 60, US_PBUF_CUSTOM);
    assert_ptr_equal(c->payload, mem + 34);
    assert_ptr_equal(c->owner, b);
    assert_int_equal(us_pbuf_ref(c), US_OK);
    assert_int_equal(us_pbuf_ref(c), US_OK);
    assert_int_equal(c->ref, 3);
    assert_int_equal(us_pbuf_free(c), 0);
    assert_int_equal(us_pbuf_free(c), 0);
    assert_int_equal(rec.freed, 0);
    assert_int_equal(us_pbuf_free(c), 1);
    assert_int_equal(rec.freed, 1);
    assert_ptr_equal(rec.freed_p, c);
    assert_int_equal(c->ref, 0);
    /* A fourth free is refused and the callback is not called again. */
    assert_int_equal(us_pbuf_free(c), US_EILLEGAL);
    assert_int_equal(rec.freed, 1);
    check_stats(b, 0, 0, 0, 1);
}

static void test_pbuf_custom_in_chain_freed_with_it(void **state)
{
    us_bufs *b = *state;
    uint8_t mem[40];
    custom_rec rec = {.c.free_fn = custom_free};
    us_pbuf *h = us_pbuf_alloc(b, US_PBUF_RAW, 10, US_PBUF_POOL);
    us_pbuf *c = us_pbuf_alloced_custom(b, US_PBUF_RAW, 40, &rec.c, mem, sizeof(mem));
    assert_int_equal(us_pbuf_cat(h, c), US_OK);
    assert_int_equal(h->tot_len, 50);
    assert_int_equal(us_pbuf_free(h), 2);
    assert_int_equal(rec.freed, 1);
}

/* ---- freeing and references ---- */

static void test_pbuf_free_double_free_refused(void **state)
{
    us_bufs *b = *state;
    us_pool *pool = &b->pools[US_POOL_PBUF_POOL];
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, 100, US_PBUF_POOL);
    assert_int_equal(us_pbuf_free(p), 1);
    us_mem_stats before = pool->stats;
    assert_int_equal(us_pbuf_free(p), US_EILLEGAL);
    check_stats(b, 0, 0, 0, 1);
    assert_memory_equal(&pool->stats, &before, sizeof(before));
    assert_int_equal(pool->stats.illegal, 0);

    us_pbuf *r = us_pbuf_alloc(b, US_PBUF_RAW, 100, US_PBUF_RAM);
    assert_int_equal(us_pbuf_free(r), 1);
    assert_int_equal(us_pbuf_free(r), US_EILLEGAL);
    check_stats(b, 0, 0, 0, 2);
    assert_int_equal(b->heap.stats.illegal, 0);
    assert_int_equal(b->heap.stats.used, 0);

    us_pbuf *f = us_pbuf_alloc(b, US_PBUF_RAW, 0, US_PBUF_REF);
    assert_int_equal(us_pbuf_free(f), 1);
    assert_int_equal(us_pbuf_free(f), US_EILLEGAL);
    check_stats(b, 0, 0, 0, 3);
    assert_int_equal(b->pools[US_POOL_PBUF].stats.illegal, 0);

    assert_int_equal(us_pbuf_free(NULL), US_EILLEGAL);
    check_stats(b, 0, 0, 0, 3);
}

static void test_pbuf_ref_limits(void **state)
{
    us_bufs *b = *state;
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, 1, US_PBUF_RAM);
    for (uint32_t i = 1; i < UINT16_MAX; i++)
        assert_int_equal(us_pbuf_ref(p), US_OK);
    assert_int_equal(p->ref, UINT16_MAX);
    assert_int_equal(us_pbuf_ref(p), US_EINVAL);
    assert_int_equal(p->ref, UINT16_MAX);
    check_stats(b, 1, 0, 0, 0);
    /* chain cannot add a reference either, and leaves h alone. */
    us_pbuf *h = us_pbuf_alloc(b, US_PBUF_RAW, 2, US_PBUF_RAM);
    assert_int_equal(us_pbuf_chain(h, p), US_EINVAL);
    assert_null(h->next);
    assert_int_equal(h->tot_len, 2);
    check_stats(b, 2, 0, 0, 0);
    for (uint32_t i = 1; i < UINT16_MAX; i++)
        assert_int_equal(us_pbuf_free(p), 0);
    assert_int_equal(us_pbuf_free(p), 1);
    assert_int_equal(us_pbuf_free(h), 1);
    assert_int_equal(us_pbuf_ref(NULL), US_EINVAL);
    check_stats(b, 2, 0, 0, 0);
}

static void test_pbuf_chain_shared_free_head_first(void **state)
{
    us_bufs *b = *state;
    us_pbuf *h = us_pbuf_alloc(b, US_PBUF_RAW, 10, US_PBUF_RAM);
    us_pbuf *t = us_pbuf_alloc(b, US_PBUF_RAW, 20, US_PBUF_POOL);
    assert_int_equal(us_pbuf_chain(h, t), US_OK);
    assert_int_equal(h->ref, 1);
    assert_int_equal(t->ref, 2);
    assert_int_equal(h->tot_len, 30);
    assert_int_equal(t->tot_len, 20);
    assert_ptr_equal(h->next, t);
    /* The head goes; the walk stops at t, which we still hold. */
    assert_int_equal(us_pbuf_free(h), 1);
    assert_int_equal(t->ref, 1);
    assert_int_equal(b->heap.stats.used, 0);
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].stats.used, 1);
    assert_int_equal(us_pbuf_free(t), 1);
}

static void test_pbuf_chain_shared_free_tail_first(void **state)
{
    us_bufs *b = *state;
    us_pbuf *h = us_pbuf_alloc(b, US_PBUF_RAW, 10, US_PBUF_RAM);
    us_pbuf *t = us_pbuf_alloc(b, US_PBUF_RAW, 20, US_PBUF_POOL);
    us_pbuf *t2 = us_pbuf_alloc(b, US_PBUF_RAW, 5, US_PBUF_POOL);
    assert_int_equal(us_pbuf_cat(t, t2), US_OK);
    assert_int_equal(us_pbuf_chain(h, t), US_OK);
    assert_int_equal(h->tot_len, 35);
    assert_int_equal(us_pbuf_clen(h), 3);
    assert_int_equal(us_pbuf_free(t), 0); /* our reference dropped, the chain's remains */
    assert_int_equal(t->ref, 1);
    assert_int_equal(t2->ref, 1);
    assert_int_equal(us_pbuf_free(h), 3);
}

static void test_pbuf_chain_two_heads_share_tail(void **state)
{
    us_bufs *b = *state;
    us_pbuf *h1 = us_pbuf_alloc(b, US_PBUF_RAW, 1, US_PBUF_RAM);
    us_pbuf *h2 = us_pbuf_alloc(b, US_PBUF_RAW, 2, US_PBUF_RAM);
    us_pbuf *t = us_pbuf_alloc(b, US_PBUF_RAW, 3, US_PBUF_POOL);
    assert_int_equal(us_pbuf_cat(h1, t), US_OK);  /* h1 takes our reference */
    assert_int_equal(us_pbuf_chain(h2, t), US_OK); /* h2 adds one */
    assert_int_equal(t->ref, 2);
    assert_int_equal(h2->tot_len, 5);
    /* h1 -> t and h2 -> t: appending h2's chain to h1's would close a cycle. */
    assert_int_equal(us_pbuf_cat(h1, h2), US_EINVAL);
    check_stats(b, 1, 0, 0, 0);
    assert_int_equal(h1->tot_len, 4);
    assert_int_equal(us_pbuf_free(h1), 1);
    assert_int_equal(us_pbuf_free(h2), 2);
}

static void test_pbuf_cat_takes_over_reference(void **state)
{
    us_bufs *b = *state;
    const uint32_t lens[] = {3, 4};
    us_pbuf *h = chain_of(b, US_PBUF_RAM, lens, 2);
    us_pbuf *t = us_pbuf_alloc(b, US_PBUF_RAW, 5, US_PBUF_POOL);
    assert_int_equal(us_pbuf_cat(h, t), US_OK);
    check_seg(h, 3, 12, US_PBUF_RAM);
    check_seg(h->next, 4, 9, US_PBUF_RAM);
    check_seg(t, 5, 5, US_PBUF_POOL);
    assert_int_equal(t->ref, 1);
    assert_int_equal(us_pbuf_free(h), 3);
}

static void test_pbuf_cat_onto_zero_length_keeps_refs(void **state)
{
    us_bufs *b = *state;
    /* lwIP's test_pbuf_copy_zero_pbuf: a zero-length pbuf in a chain. */
    us_pbuf *p1 = us_pbuf_alloc(b, US_PBUF_RAW, 1024, US_PBUF_RAM);
    us_pbuf *p2 = us_pbuf_alloc(b, US_PBUF_RAW, 2, US_PBUF_POOL);
    p2->len = p2->tot_len = 0;
    assert_int_equal(us_pbuf_cat(p1, p2), US_OK);
    assert_int_equal(p1->ref, 1);
    assert_int_equal(p2->ref, 1);
    assert_int_equal(p1->tot_len, 1024);
    fill_pattern(p1);
    us_pbuf *p3 = us_pbuf_alloc(b, US_PBUF_RAW, p1->tot_len, US_PBUF_POOL);
    assert_int_equal(us_pbuf_copy(p3, p1), US_OK);
    check_pattern(p3, 1024);
    assert_int_equal(us_pbuf_free(p1), 2);
    assert_int_equal(us_pbuf_free(p3), 1);

    /* And the other way round: data appended to a zero-length head. */
    us_pbuf *z = us_pbuf_alloc(b, US_PBUF_RAW, 0, US_PBUF_RAM);
    us_pbuf *d = us_pbuf_alloc(b, US_PBUF_RAW, 10, US_PBUF_POOL);
    assert_int_equal(us_pbuf_cat(z, d), US_OK);
    assert_int_equal(z->ref, 1);
    assert_int_equal(d->ref, 1);
    check_seg(z, 0, 10, US_PBUF_RAM);
    fill_pattern(z);
    check_pattern(z, 10);
    assert_int_equal(pl(d)[0], pattern(0));
    assert_int_equal(us_pbuf_free(z), 2);
    check_stats(b, 0, 0, 0, 0);
}

static void test_pbuf_cat_invalid(void **state)
{
    us_bufs *b = *state;
    const uint32_t lens[] = {3, 4, 5};
    us_pbuf *h = chain_of(b, US_PBUF_RAM, lens, 3);
    assert_int_equal(us_pbuf_cat(h, NULL), US_EINVAL);
    assert_int_equal(us_pbuf_cat(NULL, h), US_EINVAL);
    assert_int_equal(us_pbuf_cat(h, h), US_EINVAL);
    assert_int_equal(us_pbuf_cat(h, h->next->next), US_EINVAL); /* would close a cycle */
    assert_int_equal(us_pbuf_cat(h->next, h), US_EINVAL);
    assert_int_equal(us_pbuf_chain(h, h->next), US_EINVAL);
    assert_int_equal(us_pbuf_cat(NULL, NULL), US_EINVAL);
    check_stats(b, 6, 0, 0, 0);
    check_seg(h, 3, 12, US_PBUF_RAM);
    check_seg(h->next, 4, 9, US_PBUF_RAM);
    check_seg(h->next->next, 5, 5, US_PBUF_RAM);
    assert_int_equal(h->next->ref, 1);
    assert_int_equal(us_pbuf_free(h), 3);
}

static void test_pbuf_dechain(void **state)
{
    us_bufs *b = *state;
    us_pbuf *h = us_pbuf_alloc(b, US_PBUF_RAW, 10, US_PBUF_RAM);
    us_pbuf *t = us_pbuf_alloc(b, US_PBUF_RAW, 200, US_PBUF_POOL); /* two blocks */
    assert_int_equal(us_pbuf_cat(h, t), US_OK);
    /* The rest had only h's reference: it is freed. */
    assert_null(us_pbuf_dechain(h));
    check_seg(h, 10, 10, US_PBUF_RAM);
    assert_null(h->next);
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].stats.used, 0);
    assert_null(us_pbuf_dechain(h)); /* nothing to unlink */

    t = us_pbuf_alloc(b, US_PBUF_RAW, 200, US_PBUF_POOL);
    assert_int_equal(us_pbuf_chain(h, t), US_OK);
    assert_ptr_equal(us_pbuf_dechain(h), t);
    check_seg(t, 128, 200, US_PBUF_POOL);
    assert_int_equal(t->ref, 1);
    check_seg(h, 10, 10, US_PBUF_RAM);
    assert_null(us_pbuf_dechain(NULL));
    assert_int_equal(us_pbuf_free(t), 2);
    assert_int_equal(us_pbuf_free(h), 1);
}

static void test_pbuf_clen_and_skip(void **state)
{
    us_bufs *b = *state;
    assert_int_equal(us_pbuf_clen(NULL), 0);
    const uint32_t lens[] = {5, 0, 7, 0};
    us_pbuf *h = chain_of(b, US_PBUF_RAM, lens, 4);
    us_pbuf *s1 = h->next, *s2 = s1->next, *s3 = s2->next;
    assert_int_equal(us_pbuf_clen(h), 4);
    uint32_t off = 99;
    assert_ptr_equal(us_pbuf_skip(h, 0, &off), h);
    assert_int_equal(off, 0);
    assert_ptr_equal(us_pbuf_skip(h, 4, &off), h);
    assert_int_equal(off, 4);
    /* Byte 5 is in s2; the zero-length s1 holds no byte. */
    assert_ptr_equal(us_pbuf_skip(h, 5, &off), s2);
    assert_int_equal(off, 0);
    assert_ptr_equal(us_pbuf_skip(h, 11, &off), s2);
    assert_int_equal(off, 6);
    /* offset == tot_len: the trailing zero-length segment. */
    assert_ptr_equal(us_pbuf_skip(h, 12, &off), s3);
    assert_int_equal(off, 0);
    check_stats(b, 0, 0, 0, 0);
    assert_null(us_pbuf_skip(h, 13, &off));
    check_stats(b, 0, 0, 1, 0);
    assert_null(us_pbuf_skip(h, UINT32_MAX, NULL));
    check_stats(b, 0, 0, 2, 0);
    /* From s2 too: its tot_len lands on the zero-length s3. */
    off = 99;
    assert_ptr_equal(us_pbuf_skip(s2, 7, &off), s3);
    assert_int_equal(off, 0);
    /* Without a zero-length tail, tot_len gives NULL. */
    us_pbuf *single = us_pbuf_alloc(b, US_PBUF_RAW, 7, US_PBUF_POOL);
    assert_null(us_pbuf_skip(single, 7, &off));
    assert_int_equal(off, 0);
    assert_ptr_equal(us_pbuf_skip(single, 6, &off), single);
    assert_int_equal(off, 6);
    assert_null(us_pbuf_skip(NULL, 0, &off));
    check_stats(b, 0, 0, 2, 0);
    assert_int_equal(us_pbuf_free(single), 1);
    assert_int_equal(us_pbuf_free(h), 4);
}

/* ---- copying ---- */

static void test_pbuf_copy_unmatched_segments(void **state)
{
    us_bufs *b = *state;
    /* lwIP's test_pbuf_copy_unmatched_chains: 1+2+...+5 bytes into 3+7+5 and (RAM vs POOL). */
    const uint32_t from_lens[] = {1, 2, 3, 4, 5};
    const uint32_t to_lens[] = {3, 7, 5};
    us_pbuf *from = chain_of(b, US_PBUF_RAM, from_lens, 5);
    us_pbuf *to = chain_of(b, US_PBUF_POOL, to_lens, 3);
    assert_int_equal(from->tot_len, 15);
    assert_int_equal(to->tot_len, 15);
    fill_pattern(from);
    assert_int_equal(us_pbuf_copy(to, from), US_OK);
    check_pattern(to, 15);
    for (uint32_t i = 0; i < 15; i++)
        assert_int_equal(us_pbuf_get_at(to, i), us_pbuf_get_at(from, i));
    assert_int_equal(pl(to->next)[0], pattern(3));
    assert_int_equal(pl(to->next->next)[4], pattern(14));

    /* A larger target: bytes past from->tot_len stay. */
    const uint32_t big_lens[] = {6, 6, 6};
    us_pbuf *big = chain_of(b, US_PBUF_RAM, big_lens, 3);
    for (uint32_t i = 0; i < 18; i++)
        assert_int_equal(us_pbuf_put_at(big, i, 0xEE), US_OK);
    assert_int_equal(us_pbuf_copy(big, from), US_OK);
    check_pattern(big, 15);
    for (uint32_t i = 15; i < 18; i++)
        assert_int_equal(us_pbuf_get_at(big, i), 0xEE);

    /* Target too small: refused, counted, untouched. */
    us_pbuf *small = us_pbuf_alloc(b, US_PBUF_RAW, 14, US_PBUF_RAM);
    memset(small->payload, 0x55, 14);
    assert_int_equal(us_pbuf_copy(small, from), US_EBUF);
    check_stats(b, 0, 1, 0, 0);
    for (uint32_t i = 0; i < 14; i++)
        assert_int_equal(pl(small)[i], 0x55);
    assert_int_equal(us_pbuf_copy(NULL, from), US_EINVAL);
    assert_int_equal(us_pbuf_copy(small, NULL), US_EINVAL);
    check_stats(b, 2, 1, 0, 0);
    assert_int_equal(us_pbuf_copy(from, from), US_OK);
    check_pattern(from, 15);

    assert_int_equal(us_pbuf_free(small), 1);
    assert_int_equal(us_pbuf_free(big), 3);
    assert_int_equal(us_pbuf_free(to), 3);
    assert_int_equal(us_pbuf_free(from), 5);
}

static void test_pbuf_copy_partial(void **state)
{
    us_bufs *b = *state;
    const uint32_t lens[] = {4, 0, 6, 5};
    us_pbuf *p = chain_of(b, US_PBUF_RAM, lens, 4);
    fill_pattern(p);
    uint8_t out[20];
    memset(out, 0xAA, sizeof(out));
    assert_int_equal(us_pbuf_copy_partial(p, out, 15, 0), 15);
    for (uint32_t i = 0; i < 15; i++)
        assert_int_equal(out[i], pattern(i));
    assert_int_equal(out[15], 0xAA);
    /* Straddling, and clipped at the end. */
    memset(out, 0xAA, sizeof(out));
    assert_int_equal(us_pbuf_copy_partial(p, out, 20, 3), 12);
    for (uint32_t i = 0; i < 12; i++)
        assert_int_equal(out[i], pattern(3 + i));
    assert_int_equal(out[12], 0xAA);
    assert_int_equal(us_pbuf_copy_partial(p, out, 2, 9), 2);
    assert_int_equal(out[0], pattern(9));
    assert_int_equal(out[1], pattern(10));
    /* At the end: nothing to copy, not an error; past it: counted. */
    memset(out, 0xAA, sizeof(out));
    assert_int_equal(us_pbuf_copy_partial(p, out, 5, 15), 0);
    assert_int_equal(us_pbuf_copy_partial(p, out, 0, 3), 0);
    check_stats(b, 0, 0, 0, 0);
    assert_int_equal(us_pbuf_copy_partial(p, out, 5, 16), 0);
    assert_int_equal(us_pbuf_copy_partial(p, out, UINT32_MAX, UINT32_MAX), 0);
    check_stats(b, 0, 0, 2, 0);
    assert_int_equal(us_pbuf_copy_partial(p, NULL, 5, 0), 0);
    check_stats(b, 1, 0, 2, 0);
    assert_int_equal(us_pbuf_copy_partial(NULL, out, 5, 0), 0);
    for (size_t i = 0; i < sizeof(out); i++)
        assert_int_equal(out[i], 0xAA);
    assert_int_equal(us_pbuf_copy_partial(p, out, UINT32_MAX, 14), 1);
    assert_int_equal(out[0], pattern(14));
    check_stats(b, 1, 0, 2, 0);
    assert_int_equal(us_pbuf_free(p), 4);
}

static void test_pbuf_copy_partial_pbuf_target_too_small(void **state)
{
    us_bufs *b = *state;
    /* lwIP's test_pbuf_copy_partial_pbuf. */
    us_pbuf *a = us_pbuf_alloc(b, US_PBUF_RAW, 5, US_PBUF_RAM);
    us_pbuf *c = us_pbuf_alloc(b, US_PBUF_RAW, 7, US_PBUF_POOL);
    us_pbuf *dest = us_pbuf_alloc(b, US_PBUF_RAW, 14, US_PBUF_RAM);
    assert_int_equal(us_pbuf_take(a, "Hello", 5), US_OK);
    assert_int_equal(us_pbuf_take(c, " World!", 7), US_OK);
    memset(dest->payload, 0, dest->len);
    assert_int_equal(us_pbuf_cat(a, c), US_OK);

    assert_int_equal(us_pbuf_copy_partial_pbuf(dest, a, a->tot_len, 0), US_OK);
    assert_memory_equal(dest->payload, "Hello World!\0\0", 14);
    assert_int_equal(us_pbuf_copy_partial_pbuf(dest, a, 6, 6), US_OK);
    assert_memory_equal(dest->payload, "World!World!\0\0", 14);
    assert_int_equal(us_pbuf_copy_partial_pbuf(dest, a, 0, 12), US_OK);
    check_stats(b, 0, 0, 0, 0);

    /* Target too small. */
    us_pbuf *tiny = us_pbuf_alloc(b, US_PBUF_RAW, 4, US_PBUF_RAM);
    memset(tiny->payload, 0x11, 4);
    assert_int_equal(us_pbuf_copy_partial_pbuf(tiny, a, 12, 0), US_EBUF);
    assert_int_equal(us_pbuf_copy_partial_pbuf(tiny, a, 5, 3), US_EBUF);
    check_stats(b, 0, 2, 0, 0);
    assert_memory_equal(tiny->payload, "\x11\x11\x11\x11", 4);
    assert_int_equal(us_pbuf_copy_partial_pbuf(tiny, a, 4, 8), US_OK);
    assert_memory_equal(tiny->payload, "rld!", 4);

    /* Source too short. */
    assert_int_equal(us_pbuf_copy_partial_pbuf(dest, a, 13, 0), US_ERANGE);
    assert_int_equal(us_pbuf_copy_partial_pbuf(dest, a, 3, 10), US_ERANGE);
    assert_int_equal(us_pbuf_copy_partial_pbuf(dest, a, 1, UINT32_MAX), US_ERANGE);
    assert_int_equal(us_pbuf_copy_partial_pbuf(dest, a, UINT32_MAX, 1), US_ERANGE);
    check_stats(b, 0, 2, 4, 0);
    assert_memory_equal(dest->payload, "World!World!\0\0", 14);
    assert_int_equal(us_pbuf_copy_partial_pbuf(NULL, a, 1, 0), US_EINVAL);
    assert_int_equal(us_pbuf_copy_partial_pbuf(dest, NULL, 1, 0), US_EINVAL);
    check_stats(b, 2, 2, 4, 0);

    assert_int_equal(us_pbuf_free(tiny), 1);
    assert_int_equal(us_pbuf_free(dest), 1);
    assert_int_equal(us_pbuf_free(a), 2);
}

static void test_pbuf_take_at_edges(void **state)
{
    us_bufs *b = *state;
    /* lwIP's test_pbuf_take_at_edge, on two POOL blocks of 128 + 72. */
    const uint8_t data[] = {0x01, 0x08, 0x82, 0x02};
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, 200, US_PBUF_POOL);
    us_pbuf *q = p->next;
    assert_non_null(q);
    memset(p->payload, 0, p->len);
    memset(q->payload, 0, q->len);

    /* Offset 0. */
    assert_int_equal(us_pbuf_take_at(p, data, sizeof(data), 0), US_OK);
    assert_memory_equal(p->payload, data, sizeof(data));
    assert_int_equal(pl(q)[0], 0);

    /* At len - 1: straddling the two segments. */
    assert_int_equal(us_pbuf_take_at(p, data, sizeof(data), p->len - 1), US_OK);
    assert_int_equal(pl(p)[p->len - 1], data[0]);
    assert_memory_equal(q->payload, data + 1, sizeof(data) - 1);
    assert_int_equal(pl(q)[3], 0);

    /* Exactly at the second segment's start. */
    memset(q->payload, 0, q->len);
    assert_int_equal(us_pbuf_take_at(p, data, sizeof(data), p->len), US_OK);
    assert_memory_equal(q->payload, data, sizeof(data));
    assert_int_equal(pl(p)[p->len - 1], data[0]);

    /* Up to the very end, and one past it. */
    assert_int_equal(us_pbuf_take_at(p, data, sizeof(data), 196), US_OK);
    assert_memory_equal(pl(q) + 68, data, 4);
    assert_int_equal(us_pbuf_take_at(p, data, sizeof(data), 197), US_EBUF);
    assert_int_equal(us_pbuf_take_at(p, data, 0, 200), US_OK);
    check_stats(b, 0, 1, 0, 0);
    assert_memory_equal(pl(q) + 68, data, 4);

    /* take: from 0, whole chain, too long. */
    uint8_t big[201];
    for (uint32_t i = 0; i < sizeof(big); i++)
        big[i] = pattern(i);
    assert_int_equal(us_pbuf_take(p, big, 200), US_OK);
    check_pattern(p, 200);
    memset(big, 0, sizeof(big));
    assert_int_equal(us_pbuf_take(p, big, 201), US_EBUF);
    check_pattern(p, 200);
    assert_int_equal(us_pbuf_take(p, NULL, 1), US_EINVAL);
    assert_int_equal(us_pbuf_take(NULL, big, 1), US_EINVAL);
    check_stats(b, 1, 2, 0, 0);
    assert_int_equal(us_pbuf_free(p), 2);
}

static void test_pbuf_get_put_at_first_segment_length(void **state)
{
    us_bufs *b = *state;
    /* lwIP's test_pbuf_get_put_at_edge. */
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, 200, US_PBUF_POOL);
    us_pbuf *q = p->next;
    memset(p->payload, 0, p->len);
    memset(q->payload, 0, q->len);
    assert_int_equal(us_pbuf_put_at(p, p->len, 0x42), US_OK);
    assert_int_equal(pl(q)[0], 0x42);
    assert_int_equal(us_pbuf_get_at(p, p->len), 0x42);
    assert_int_equal(us_pbuf_put_at(p, p->len - 1, 0x24), US_OK);
    assert_int_equal(pl(p)[p->len - 1], 0x24);
    assert_int_equal(us_pbuf_get_at(p, p->len - 1), 0x24);
    assert_int_equal(us_pbuf_put_at(p, 199, 0xFF), US_OK);
    assert_int_equal(us_pbuf_get_at(p, 199), 0xFF);
    assert_int_equal(us_pbuf_get_at(q, 71), 0xFF);
    check_stats(b, 0, 0, 0, 0);
    assert_int_equal(us_pbuf_get_at(NULL, 0), US_EINVAL);
    assert_int_equal(us_pbuf_put_at(NULL, 0, 1), US_EINVAL);
    check_stats(b, 0, 0, 0, 0);
    assert_int_equal(us_pbuf_free(p), 2);
}

static void test_pbuf_accessors_offset_past_end(void **state)
{
    us_bufs *b = *state;
    const uint32_t lens[] = {5, 7};
    us_pbuf *p = chain_of(b, US_PBUF_POOL, lens, 2);
    fill_pattern(p);
    uint8_t buf[32];
    memset(buf, 0xAA, sizeof(buf));
    const uint32_t N = 12;

    assert_int_equal(us_pbuf_get_at(p, N), US_ERANGE);
    assert_int_equal(us_pbuf_get_at(p, UINT32_MAX), US_ERANGE);
    check_stats(b, 0, 0, 2, 0);
    assert_int_equal(us_pbuf_put_at(p, N, 0), US_ERANGE);
    assert_int_equal(us_pbuf_put_at(p, UINT32_MAX, 0), US_ERANGE);
    check_stats(b, 0, 0, 4, 0);
    assert_int_equal(us_pbuf_copy_partial(p, buf, 1, N + 1), 0);
    check_stats(b, 0, 0, 5, 0);
    assert_int_equal(us_pbuf_memcmp(p, N, buf, 1), UINT32_MAX);
    assert_int_equal(us_pbuf_memcmp(p, 1, buf, N), UINT32_MAX);
    assert_int_equal(us_pbuf_memcmp(p, 1, buf, UINT32_MAX), UINT32_MAX);
    assert_int_equal(us_pbuf_memcmp(p, UINT32_MAX, buf, 2), UINT32_MAX);
    check_stats(b, 0, 0, 9, 0);
    assert_int_equal(us_pbuf_memcmp(p, N, buf, 0), 0);
    assert_int_equal(us_pbuf_memfind(p, buf, 1, N + 1), UINT32_MAX);
    assert_int_equal(us_pbuf_memfind(p, buf, 1, UINT32_MAX), UINT32_MAX);
    check_stats(b, 0, 0, 11, 0);
    assert_null(us_pbuf_get_contiguous(p, buf, sizeof(buf), 1, N));
    assert_null(us_pbuf_get_contiguous(p, buf, sizeof(buf), 2, N - 1));
    assert_null(us_pbuf_get_contiguous(p, buf, sizeof(buf), 1, UINT32_MAX));
    check_stats(b, 0, 0, 14, 0);
    assert_ptr_equal(us_pbuf_free_header(p, N + 1), p);
    assert_ptr_equal(us_pbuf_free_header(p, UINT32_MAX), p);
    check_stats(b, 0, 0, 16, 0);
    assert_null(us_pbuf_skip(p, N + 1, NULL));
    check_stats(b, 0, 0, 17, 0);
    /* take_at reports a chain too short as US_EBUF (pbuf.h). */
    assert_int_equal(us_pbuf_take_at(p, buf, 1, N), US_EBUF);
    assert_int_equal(us_pbuf_take_at(p, buf, 1, N + 1), US_EBUF);
    assert_int_equal(us_pbuf_take_at(p, buf, UINT32_MAX, 1), US_EBUF);
    assert_int_equal(us_pbuf_take_at(p, buf, 2, UINT32_MAX), US_EBUF);
    check_stats(b, 0, 4, 17, 0);
    assert_int_equal(us_pbuf_remove_header(p, 6), US_EBUF);
    check_stats(b, 0, 5, 17, 0);

    /* Nothing moved, no byte touched. */
    check_seg(p, 5, 12, US_PBUF_POOL);
    check_seg(p->next, 7, 7, US_PBUF_POOL);
    check_pattern(p, N);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0xAA);
    assert_int_equal(us_pbuf_free(p), 2);
}

static void test_pbuf_memcmp_memfind(void **state)
{
    us_bufs *b = *state;
    us_pbuf *a = us_pbuf_alloc(b, US_PBUF_RAW, 5, US_PBUF_RAM);
    us_pbuf *c = us_pbuf_alloc(b, US_PBUF_RAW, 7, US_PBUF_POOL);
    us_pbuf *z = us_pbuf_alloc(b, US_PBUF_RAW, 0, US_PBUF_RAM);
    us_pbuf *d = us_pbuf_alloc(b, US_PBUF_RAW, 4, US_PBUF_RAM);
    assert_int_equal(us_pbuf_take(a, "Hello", 5), US_OK);
    assert_int_equal(us_pbuf_take(c, " World!", 7), US_OK);
    assert_int_equal(us_pbuf_take(d, " Wor", 4), US_OK);
    assert_int_equal(us_pbuf_cat(a, c), US_OK);
    assert_int_equal(us_pbuf_cat(a, z), US_OK);
    assert_int_equal(us_pbuf_cat(a, d), US_OK);
    /* "Hello World! Wor" over segments 5 | 7 | 0 | 4 */

    assert_int_equal(us_pbuf_memcmp(a, 0, "Hello", 5), 0);
    assert_int_equal(us_pbuf_memcmp(a, 0, "Hello World! Wor", 16), 0);
    assert_int_equal(us_pbuf_memcmp(a, 3, "lo Wo", 5), 0);
    assert_int_equal(us_pbuf_memcmp(a, 0, "Help", 4), 4);
    assert_int_equal(us_pbuf_memcmp(a, 0, "Jello", 5), 1);
    assert_int_equal(us_pbuf_memcmp(a, 3, "lo Wx", 5), 5);
    assert_int_equal(us_pbuf_memcmp(a, 10, "d! Wox", 6), 6);
    assert_int_equal(us_pbuf_memcmp(a, 16, "", 0), 0);
    check_stats(b, 0, 0, 0, 0);
    assert_int_equal(us_pbuf_memcmp(a, 0, NULL, 1), UINT32_MAX);
    assert_int_equal(us_pbuf_memcmp(NULL, 0, "x", 1), UINT32_MAX);
    check_stats(b, 1, 0, 0, 0);

    assert_int_equal(us_pbuf_memfind(a, "Hello", 5, 0), 0);
    assert_int_equal(us_pbuf_memfind(a, "o W", 3, 0), 4);
    assert_int_equal(us_pbuf_memfind(a, "o W", 3, 5), UINT32_MAX);
    assert_int_equal(us_pbuf_memfind(a, " Wor", 4, 0), 5);
    assert_int_equal(us_pbuf_memfind(a, " Wor", 4, 6), 12);
    assert_int_equal(us_pbuf_memfind(a, "! W", 3, 0), 11); /* across the zero-length segment */
    assert_int_equal(us_pbuf_memfind(a, "r", 1, 9), 15);
    assert_int_equal(us_pbuf_memfind(a, "Wor", 3, 14), UINT32_MAX);
    assert_int_equal(us_pbuf_memfind(a, "xyz", 3, 0), UINT32_MAX);
    assert_int_equal(us_pbuf_memfind(a, "Hello World! Wor!", 17, 0), UINT32_MAX);
    assert_int_equal(us_pbuf_memfind(a, "", 0, 7), 7);
    assert_int_equal(us_pbuf_memfind(a, "", 0, 16), 16);
    check_stats(b, 1, 0, 0, 0);
    assert_int_equal(us_pbuf_memfind(a, NULL, 1, 0), UINT32_MAX);
    assert_int_equal(us_pbuf_memfind(NULL, "x", 1, 0), UINT32_MAX);
    check_stats(b, 2, 0, 0, 0);
    assert_int_equal(us_pbuf_free(a), 4);
}

static void test_pbuf_get_contiguous(void **state)
{
    us_bufs *b = *state;
    const uint32_t lens[] = {6, 10};
    us_pbuf *p = chain_of(b, US_PBUF_RAM, lens, 2);
    fill_pattern(p);
    uint8_t buf[16];
    memset(buf, 0, sizeof(buf));

    /* Inside one segment: a pointer into it, buffer untouched. */
    uint8_t *r = us_pbuf_get_contiguous(p, buf, sizeof(buf), 4, 1);
    assert_ptr_equal(r, pl(p) + 1);
    r = us_pbuf_get_contiguous(p, buf, sizeof(buf), 10, 6);
    assert_ptr_equal(r, pl(p->next));
    r = us_pbuf_get_contiguous(p, buf, sizeof(buf), 3, 13);
    assert_ptr_equal(r, pl(p->next) + 7);
    assert_int_equal(buf[0], 0);

    /* Across segments: copied into the buffer. */
    r = us_pbuf_get_contiguous(p, buf, 5, 5, 3);
    assert_ptr_equal(r, buf);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(buf[i], pattern(3 + i));
    r = us_pbuf_get_contiguous(p, buf, sizeof(buf), 16, 0);
    assert_ptr_equal(r, buf);
    for (uint32_t i = 0; i < 16; i++)
        assert_int_equal(buf[i], pattern(i));
    check_stats(b, 0, 0, 0, 0);

    /* Buffer too small (whichever path the bytes would take), or missing. */
    memset(buf, 0, sizeof(buf));
    assert_null(us_pbuf_get_contiguous(p, buf, 4, 5, 3));
    assert_null(us_pbuf_get_contiguous(p, buf, 3, 4, 0));
    check_stats(b, 0, 2, 0, 0);
    assert_null(us_pbuf_get_contiguous(p, NULL, 16, 4, 0));
    check_stats(b, 1, 2, 0, 0);
    for (uint32_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0);
    assert_null(us_pbuf_get_contiguous(NULL, buf, 16, 4, 0));
    check_stats(b, 1, 2, 0, 0);
    assert_int_equal(us_pbuf_free(p), 2);
}

/* ---- headers ---- */

static void test_pbuf_header_add_remove_ram(void **state)
{
    us_bufs *b = *state;
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_TRANSPORT, 10, US_PBUF_RAM);
    uint8_t *start = pl(p);
    assert_int_equal(us_pbuf_add_header(p, 20), US_OK);
    assert_ptr_equal(p->payload, start - 20);
    check_seg(p, 30, 30, US_PBUF_RAM);
    assert_int_equal(us_pbuf_add_header(p, 34), US_OK); /* all 54 bytes of room */
    assert_ptr_equal(p->payload, (uint8_t *)p + STRUCT);
    check_seg(p, 64, 64, US_PBUF_RAM);
    assert_int_equal(us_pbuf_add_header(p, 1), US_EBUF);
    assert_int_equal(us_pbuf_add_header_force(p, 1), US_EBUF);
    check_stats(b, 0, 2, 0, 0);
    assert_ptr_equal(p->payload, (uint8_t *)p + STRUCT);
    check_seg(p, 64, 64, US_PBUF_RAM);
    assert_int_equal(us_pbuf_add_header(p, 0), US_OK);

    assert_int_equal(us_pbuf_remove_header(p, 54), US_OK);
    assert_ptr_equal(p->payload, start);
    check_seg(p, 10, 10, US_PBUF_RAM);
    assert_int_equal(us_pbuf_remove_header(p, 11), US_EBUF);
    assert_int_equal(us_pbuf_remove_header(p, UINT32_MAX), US_EBUF);
    check_stats(b, 0, 4, 0, 0);
    assert_ptr_equal(p->payload, start);
    assert_int_equal(us_pbuf_remove_header(p, 10), US_OK);
    check_seg(p, 0, 0, US_PBUF_RAM);
    assert_ptr_equal(p->payload, start + 10);
    assert_int_equal(us_pbuf_add_header(p, UINT32_MAX), US_EINVAL);
    check_stats(b, 1, 4, 0, 0);
    assert_int_equal(us_pbuf_add_header(NULL, 1), US_EINVAL);
    assert_int_equal(us_pbuf_remove_header(NULL, 1), US_EINVAL);
    check_stats(b, 1, 4, 0, 0);
    assert_int_equal(us_pbuf_free(p), 1);
}

static void test_pbuf_header_pool_chain_segments(void **state)
{
    us_bufs *b = *state;
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_IP, 300, US_PBUF_POOL);
    check_seg(p, 94, 300, US_PBUF_POOL);
    assert_int_equal(us_pbuf_add_header(p, 34), US_OK);
    check_seg(p, 128, 334, US_PBUF_POOL);
    assert_int_equal(us_pbuf_add_header(p, 1), US_EBUF);
    /* A segment after the first has no room. */
    us_pbuf *q = p->next;
    void *qp = q->payload;
    assert_int_equal(us_pbuf_add_header(q, 1), US_EBUF);
    check_stats(b, 0, 2, 0, 0);
    assert_ptr_equal(q->payload, qp);
    check_seg(q, 128, 206, US_PBUF_POOL);
    assert_int_equal(us_pbuf_remove_header(q, 28), US_OK);
    assert_int_equal(us_pbuf_add_header(q, 28), US_OK);
    assert_ptr_equal(q->payload, qp);
    assert_int_equal(us_pbuf_free(p), 3);
}

static void test_pbuf_header_rom_ref_refused_force_works(void **state)
{
    us_bufs *b = *state;
    uint8_t frame[40];
    for (uint32_t i = 0; i < sizeof(frame); i++)
        frame[i] = pattern(i);
    static const us_pbuf_type types[] = {US_PBUF_ROM, US_PBUF_REF};
    for (int k = 0; k < 2; k++) {
        us_pbuf *p = us_pbuf_alloc_reference(b, frame + 14, 26, types[k]);
        assert_int_equal(us_pbuf_add_header(p, 14), US_EINVAL);
        assert_ptr_equal(p->payload, frame + 14);
        check_seg(p, 26, 26, types[k]);
        assert_int_equal(us_pbuf_add_header_force(p, 14), US_OK);
        assert_ptr_equal(p->payload, frame);
        check_seg(p, 40, 40, types[k]);
        check_pattern(p, 40);
        assert_int_equal(us_pbuf_remove_header(p, 20), US_OK);
        assert_ptr_equal(p->payload, frame + 20);
        check_seg(p, 20, 20, types[k]);
        assert_int_equal(us_pbuf_remove_header(p, 21), US_EBUF);
        assert_int_equal(us_pbuf_free(p), 1);
    }
    check_stats(b, 2, 2, 0, 0);
    /* A header-only pbuf with no payload yet cannot be moved back. */
    us_pbuf *n = us_pbuf_alloc(b, US_PBUF_RAW, 0, US_PBUF_REF);
    assert_int_equal(us_pbuf_add_header_force(n, 4), US_EINVAL);
    assert_null(n->payload);
    check_stats(b, 3, 2, 0, 0);
    assert_int_equal(us_pbuf_free(n), 1);
}

static void test_pbuf_header_custom_room(void **state)
{
    us_bufs *b = *state;
    uint8_t mem[64];
    custom_rec rec = {.c.free_fn = custom_free};
    us_pbuf *c = us_pbuf_alloced_custom(b, US_PBUF_LINK, 30, &rec.c, mem, sizeof(mem));
    assert_int_equal(us_pbuf_add_header(c, 15), US_EBUF);
    check_stats(b, 0, 1, 0, 0);
    assert_ptr_equal(c->payload, mem + 14);
    assert_int_equal(us_pbuf_add_header(c, 14), US_OK);
    assert_ptr_equal(c->payload, mem);
    check_seg(c, 44, 44, US_PBUF_CUSTOM);
    assert_int_equal(us_pbuf_remove_header(c, 44), US_OK);
    check_seg(c, 0, 0, US_PBUF_CUSTOM);
    assert_int_equal(us_pbuf_add_header(c, 44), US_OK);
    assert_int_equal(us_pbuf_free(c), 1);
    assert_int_equal(rec.freed, 1);
}

static void test_pbuf_free_header_across_segments(void **state)
{
    us_bufs *b = *state;
    const uint32_t lens[] = {5, 7, 9};
    us_pbuf *p = chain_of(b, US_PBUF_RAM, lens, 3);
    fill_pattern(p);
    us_pbuf *s1 = p->next, *s2 = s1->next;
    uint32_t heap_all = b->heap.stats.used;

    assert_ptr_equal(us_pbuf_free_header(p, 0), p);
    check_seg(p, 5, 21, US_PBUF_RAM);
    /* Within the first segment. */
    assert_ptr_equal(us_pbuf_free_header(p, 3), p);
    check_seg(p, 2, 18, US_PBUF_RAM);
    assert_int_equal(us_pbuf_get_at(p, 0), pattern(3));
    /* Exactly the first segment: it is freed. */
    assert_ptr_equal(us_pbuf_free_header(p, 2), s1);
    check_seg(s1, 7, 16, US_PBUF_RAM);
    assert_int_equal(s1->ref, 1);
    assert_int_equal(b->heap.stats.used, heap_all - heap_cost(STRUCT + 5));
    /* Past the second segment into the third. */
    assert_ptr_equal(us_pbuf_free_header(s1, 10), s2);
    check_seg(s2, 6, 6, US_PBUF_RAM);
    assert_int_equal(us_pbuf_get_at(s2, 0), pattern(15));
    assert_int_equal(us_pbuf_clen(s2), 1);
    /* Too much: counted, unchanged. */
    assert_ptr_equal(us_pbuf_free_header(s2, 7), s2);
    check_stats(b, 0, 0, 1, 0);
    check_seg(s2, 6, 6, US_PBUF_RAM);
    /* All of it. */
    assert_null(us_pbuf_free_header(s2, 6));
    assert_int_equal(b->heap.stats.used, 0);
    assert_null(us_pbuf_free_header(NULL, 0));

    /* All of a POOL chain at once. */
    us_pbuf *q = us_pbuf_alloc(b, US_PBUF_RAW, 300, US_PBUF_POOL);
    assert_null(us_pbuf_free_header(q, 300));
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].stats.used, 0);
    check_stats(b, 0, 0, 1, 0);
}

/* ---- resizing and reshaping ---- */

static void test_pbuf_realloc_shrink_ram(void **state)
{
    us_bufs *b = *state;
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_TRANSPORT, 1000, US_PBUF_RAM);
    fill_pattern(p);
    assert_int_equal(b->heap.stats.used, heap_cost(STRUCT + 54 + 1000));
    assert_int_equal(us_pbuf_realloc(p, 1000), US_OK);
    assert_int_equal(b->heap.stats.used, heap_cost(STRUCT + 54 + 1000));
    assert_int_equal(us_pbuf_realloc(p, 1001), US_EINVAL);
    check_stats(b, 1, 0, 0, 0);
    check_seg(p, 1000, 1000, US_PBUF_RAM);
    assert_int_equal(us_pbuf_realloc(p, 100), US_OK);
    check_seg(p, 100, 100, US_PBUF_RAM);
    assert_int_equal(b->heap.stats.used, heap_cost(STRUCT + 54 + 100));
    check_pattern(p, 100);
    /* The header room is kept. */
    assert_int_equal(us_pbuf_add_header(p, 54), US_OK);
    assert_int_equal(us_pbuf_realloc(p, 0), US_OK);
    check_seg(p, 0, 0, US_PBUF_RAM);
    assert_int_equal(us_pbuf_free(p), 1);
    assert_int_equal(us_pbuf_realloc(NULL, 0), US_EINVAL);
    check_stats(b, 1, 0, 0, 0);

    /* A RAM chain: trailing segments freed, the new last one trimmed. */
    const uint32_t lens[] = {100, 100, 100};
    p = chain_of(b, US_PBUF_RAM, lens, 3);
    fill_pattern(p);
    assert_int_equal(us_pbuf_realloc(p, 150), US_OK);
    check_seg(p, 100, 150, US_PBUF_RAM);
    check_seg(p->next, 50, 50, US_PBUF_RAM);
    assert_null(p->next->next);
    assert_int_equal(b->heap.stats.used, heap_cost(STRUCT + 100) + heap_cost(STRUCT + 50));
    check_pattern(p, 150);
    /* Exactly at a segment boundary. */
    assert_int_equal(us_pbuf_realloc(p, 100), US_OK);
    check_seg(p, 100, 100, US_PBUF_RAM);
    assert_null(p->next);
    assert_int_equal(b->heap.stats.used, heap_cost(STRUCT + 100));
    assert_int_equal(us_pbuf_free(p), 1);
}

static void test_pbuf_realloc_shrink_pool(void **state)
{
    us_bufs *b = *state;
    us_pool *pool = &b->pools[US_POOL_PBUF_POOL];
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, 3 * 128 + 5, US_PBUF_POOL);
    fill_pattern(p);
    assert_int_equal(pool->stats.used, 4);
    assert_int_equal(us_pbuf_realloc(p, 130), US_OK);
    check_seg(p, 128, 130, US_PBUF_POOL);
    check_seg(p->next, 2, 2, US_PBUF_POOL);
    assert_null(p->next->next);
    assert_int_equal(pool->stats.used, 2);
    check_pattern(p, 130);
    assert_int_equal(us_pbuf_realloc(p, 131), US_EINVAL);
    check_stats(b, 1, 0, 0, 0);
    assert_int_equal(us_pbuf_realloc(p, 0), US_OK);
    check_seg(p, 0, 0, US_PBUF_POOL);
    assert_null(p->next);
    assert_int_equal(pool->stats.used, 1);
    assert_int_equal(us_pbuf_free(p), 1);

    /* A shared tail is only dropped, not freed. */
    us_pbuf *h = us_pbuf_alloc(b, US_PBUF_RAW, 10, US_PBUF_POOL);
    us_pbuf *t = us_pbuf_alloc(b, US_PBUF_RAW, 10, US_PBUF_POOL);
    assert_int_equal(us_pbuf_chain(h, t), US_OK);
    assert_int_equal(us_pbuf_realloc(h, 5), US_OK);
    check_seg(h, 5, 5, US_PBUF_POOL);
    assert_int_equal(t->ref, 1);
    assert_int_equal(us_pbuf_free(t), 1);
    assert_int_equal(us_pbuf_free(h), 1);
}

static void test_pbuf_realloc_ref_adjusts_lengths(void **state)
{
    us_bufs *b = *state;
    uint8_t data[20] = {0};
    us_pbuf *p = us_pbuf_alloc_reference(b, data, 20, US_PBUF_REF);
    assert_int_equal(us_pbuf_realloc(p, 7), US_OK);
    check_seg(p, 7, 7, US_PBUF_REF);
    assert_ptr_equal(p->payload, data);
    assert_int_equal(us_pbuf_free(p), 1);
}

static void test_pbuf_coalesce(void **state)
{
    us_bufs *b = *state;
    const uint32_t lens[] = {3, 0, 10, 7};
    us_pbuf *p = chain_of(b, US_PBUF_POOL, lens, 4);
    fill_pattern(p);
    p->flags = US_PBUF_FLAG_PUSH;
    us_pbuf *q = us_pbuf_coalesce(p, US_PBUF_IP);
    assert_ptr_not_equal(q, p);
    check_seg(q, 20, 20, US_PBUF_RAM);
    assert_null(q->next);
    assert_int_equal(q->ref, 1);
    assert_int_equal(q->flags, US_PBUF_FLAG_PUSH);
    assert_ptr_equal(q->payload, (uint8_t *)q + STRUCT + US_PBUF_IP);
    check_pattern(q, 20);
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].stats.used, 0);
    /* One segment already: unchanged. */
    assert_ptr_equal(us_pbuf_coalesce(q, US_PBUF_RAW), q);
    assert_null(us_pbuf_coalesce(NULL, US_PBUF_RAW));
    assert_int_equal(us_pbuf_free(q), 1);

    /* Heap too small: p comes back unchanged, the heap counts it. */
    const uint32_t big[] = {128, 128, 128, 128, 128, 128, 128, 128};
    p = chain_of(b, US_PBUF_POOL, big, 8);
    us_pbuf *r = us_pbuf_alloc(b, US_PBUF_RAW, 3500, US_PBUF_RAM);
    assert_non_null(r);
    assert_ptr_equal(us_pbuf_coalesce(p, US_PBUF_RAW), p);
    assert_int_equal(b->heap.stats.err, 1);
    assert_int_equal(us_pbuf_clen(p), 8);
    assert_int_equal(p->tot_len, 1024);
    check_stats(b, 0, 0, 0, 0);
    assert_int_equal(us_pbuf_free(r), 1);
    assert_int_equal(us_pbuf_free(p), 8);
}

static void test_pbuf_clone(void **state)
{
    us_bufs *b = *state;
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, 300, US_PBUF_POOL);
    fill_pattern(p);
    us_pbuf *c = us_pbuf_clone(b, US_PBUF_LINK, US_PBUF_RAM, p);
    check_seg(c, 300, 300, US_PBUF_RAM);
    assert_ptr_equal(c->payload, (uint8_t *)c + STRUCT + 14);
    check_pattern(c, 300);
    us_pbuf *d = us_pbuf_clone(b, US_PBUF_RAW, US_PBUF_POOL, c);
    assert_int_equal(us_pbuf_clen(d), 3);
    check_pattern(d, 300);
    assert_int_equal(us_pbuf_free(d), 3);
    assert_int_equal(us_pbuf_free(c), 1);

    assert_null(us_pbuf_clone(b, US_PBUF_RAW, US_PBUF_ROM, p));
    assert_null(us_pbuf_clone(b, US_PBUF_RAW, US_PBUF_CUSTOM, p));
    assert_null(us_pbuf_clone(b, US_PBUF_RAW, US_PBUF_RAM, NULL));
    assert_null(us_pbuf_clone(NULL, US_PBUF_RAW, US_PBUF_RAM, p));
    check_stats(b, 4, 0, 0, 0);
    assert_int_equal(us_pbuf_free(p), 3);
}

/* Out of POOL blocks: NULL, the pool counts it, the partial copy is given back. */
static void test_pbuf_clone_out_of_memory(void **state)
{
    us_bufs *b = *state;
    us_pbuf *p = us_pbuf_alloc(b, US_PBUF_RAW, 5 * 128, US_PBUF_POOL);
    assert_null(us_pbuf_clone(b, US_PBUF_RAW, US_PBUF_POOL, p));
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].stats.err, 1);
    assert_int_equal(b->pools[US_POOL_PBUF_POOL].stats.used, 5);
    check_stats(b, 0, 0, 0, 0);
    assert_int_equal(us_pbuf_free(p), 5);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup_default, teardown)
#define TS(name) cmocka_unit_test_setup_teardown(name, setup_small, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_pbuf_alloc_zero_length_every_type),
        T(test_pbuf_alloc_ram_layout),
        T(test_pbuf_alloc_pool_one_frame_one_block),
        TS(test_pbuf_pool_chaining_exact_sizes),
        TS(test_pbuf_pool_layer_past_block),
        TS(test_pbuf_pool_exhaustion_and_recovery),
        TS(test_pbuf_header_pool_exhaustion),
        TS(test_pbuf_ram_heap_exhaustion),
        T(test_pbuf_alloc_huge_length_every_type),
        T(test_pbuf_alloc_bad_arguments),
        T(test_pbuf_alloc_reference_rom_ref),
        T(test_pbuf_custom_free_called_once_at_last_ref),
        T(test_pbuf_custom_in_chain_freed_with_it),
        T(test_pbuf_free_double_free_refused),
        T(test_pbuf_ref_limits),
        T(test_pbuf_chain_shared_free_head_first),
        T(test_pbuf_chain_shared_free_tail_first),
        T(test_pbuf_chain_two_heads_share_tail),
        T(test_pbuf_cat_takes_over_reference),
        T(test_pbuf_cat_onto_zero_length_keeps_refs),
        T(test_pbuf_cat_invalid),
        TS(test_pbuf_dechain),
        T(test_pbuf_clen_and_skip),
        T(test_pbuf_copy_unmatched_segments),
        T(test_pbuf_copy_partial),
        T(test_pbuf_copy_partial_pbuf_target_too_small),
        TS(test_pbuf_take_at_edges),
        TS(test_pbuf_get_put_at_first_segment_length),
        T(test_pbuf_accessors_offset_past_end),
        T(test_pbuf_memcmp_memfind),
        T(test_pbuf_get_contiguous),
        T(test_pbuf_header_add_remove_ram),
        TS(test_pbuf_header_pool_chain_segments),
        T(test_pbuf_header_rom_ref_refused_force_works),
        T(test_pbuf_header_custom_room),
        T(test_pbuf_free_header_across_segments),
        T(test_pbuf_realloc_shrink_ram),
        TS(test_pbuf_realloc_shrink_pool),
        T(test_pbuf_realloc_ref_adjusts_lengths),
        TS(test_pbuf_coalesce),
        TS(test_pbuf_clone),
        TS(test_pbuf_clone_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
