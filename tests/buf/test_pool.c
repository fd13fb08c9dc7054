/* Pools: init limits, get/put order, exact stats, exhaustion and recovery, bulk all-or-nothing,
 * illegal frees (double, foreign, misaligned) refused without corrupting the pool, reclaim. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "ustack/pool.h"

typedef struct pool_fixture {
    us_pool pool;
    void *mem;
} pool_fixture;

static pool_fixture *fixture_new(uint32_t block_size, uint32_t count)
{
    pool_fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    size_t need = us_pool_mem_size(block_size, count);
    assert_true(need > 0);
    f->mem = malloc(need);
    assert_non_null(f->mem);
    assert_int_equal(us_pool_init(&f->pool, "test", f->mem, need, block_size, count), US_OK);
    return f;
}

/* Teardown discipline: nothing may be left in use. */
static void fixture_free(pool_fixture *f)
{
    assert_int_equal(f->pool.stats.used, 0);
    free(f->mem);
    free(f);
}

static void test_pool_init_rejects_bad_sizes(void **state)
{
    (void)state;
    us_pool p;
    uint8_t mem[4096];
    assert_int_equal(us_pool_mem_size(0, 4), 0);
    assert_int_equal(us_pool_mem_size(64, 0), 0);
    assert_int_equal(us_pool_mem_size(UINT32_MAX, UINT32_MAX), 0);
    assert_int_equal(us_pool_init(&p, "x", mem, sizeof(mem), 0, 4), US_EINVAL);
    assert_int_equal(us_pool_init(&p, "x", mem, sizeof(mem), 64, 0), US_EINVAL);
    assert_int_equal(us_pool_init(NULL, "x", mem, sizeof(mem), 64, 4), US_EINVAL);
    assert_int_equal(us_pool_init(&p, "x", NULL, sizeof(mem), 64, 4), US_EINVAL);
    /* One byte short of what us_pool_mem_size asks for. */
    size_t need = us_pool_mem_size(64, 4);
    assert_int_equal(us_pool_init(&p, "x", mem, need - 1, 64, 4), US_EINVAL);
    assert_int_equal(us_pool_init(&p, "x", mem, need, 64, 4), US_OK);
    assert_int_equal(p.stats.avail, 4);
    assert_int_equal(p.stride, 80); /* 64 rounded to an odd multiple of 16 */
}

static void test_pool_init_rounds_stride_and_aligns_blocks(void **state)
{
    (void)state;
    pool_fixture *f = fixture_new(40, 3);
    assert_int_equal(f->pool.stride, 48);
    void *a = us_pool_get(&f->pool);
    void *b = us_pool_get(&f->pool);
    assert_int_equal((uintptr_t)a % US_POOL_ALIGN, 0);
    /* Low addresses first, one stride apart. */
    assert_ptr_equal((uint8_t *)b, (uint8_t *)a + 48);
    assert_int_equal(us_pool_put(&f->pool, a), US_OK);
    assert_int_equal(us_pool_put(&f->pool, b), US_OK);
    fixture_free(f);
}

static void test_pool_get_put_is_lifo_with_exact_stats(void **state)
{
    (void)state;
    pool_fixture *f = fixture_new(64, 4);
    void *a = us_pool_get(&f->pool);
    void *b = us_pool_get(&f->pool);
    assert_int_equal(f->pool.stats.used, 2);
    assert_int_equal(f->pool.stats.max, 2);
    assert_int_equal(us_pool_put(&f->pool, a), US_OK);
    assert_int_equal(f->pool.stats.used, 1);
    /* The block just returned is the next handed out (cache-warm). */
    assert_ptr_equal(us_pool_get(&f->pool), a);
    assert_int_equal(us_pool_put(&f->pool, a), US_OK);
    assert_int_equal(us_pool_put(&f->pool, b), US_OK);
    assert_int_equal(f->pool.stats.used, 0);
    assert_int_equal(f->pool.stats.max, 2);
    assert_int_equal(f->pool.stats.err, 0);
    assert_int_equal(f->pool.stats.illegal, 0);
    fixture_free(f);
}

static void test_pool_exhaustion_counts_err_and_recovers(void **state)
{
    (void)state;
    pool_fixture *f = fixture_new(32, 3);
    void *blk[3];
    for (int i = 0; i < 3; i++)
        assert_non_null(blk[i] = us_pool_get(&f->pool));
    assert_null(us_pool_get(&f->pool));
    assert_null(us_pool_get(&f->pool));
    assert_int_equal(f->pool.stats.err, 2);
    assert_int_equal(f->pool.stats.used, 3);
    assert_int_equal(f->pool.stats.max, 3);
    assert_int_equal(us_pool_put(&f->pool, blk[1]), US_OK);
    assert_ptr_equal(us_pool_get(&f->pool), blk[1]);
    assert_int_equal(f->pool.stats.err, 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(us_pool_put(&f->pool, blk[i]), US_OK);
    fixture_free(f);
}

static void test_pool_blocks_are_distinct_and_writable(void **state)
{
    (void)state;
    pool_fixture *f = fixture_new(100, 16);
    uint8_t *blk[16];
    for (int i = 0; i < 16; i++) {
        blk[i] = us_pool_get(&f->pool);
        memset(blk[i], i, 100);
    }
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 100; j++)
            assert_int_equal(blk[i][j], i);
    for (int i = 0; i < 16; i++)
        assert_int_equal(us_pool_put(&f->pool, blk[i]), US_OK);
    fixture_free(f);
}

static void test_pool_double_free_is_refused_and_counted(void **state)
{
    (void)state;
    pool_fixture *f = fixture_new(64, 2);
    void *a = us_pool_get(&f->pool);
    assert_int_equal(us_pool_put(&f->pool, a), US_OK);
    assert_int_equal(us_pool_put(&f->pool, a), US_EILLEGAL);
    assert_int_equal(f->pool.stats.illegal, 1);
    assert_int_equal(f->pool.stats.used, 0);
    /* The pool is intact: both blocks come out once each, then it is empty. */
    void *x = us_pool_get(&f->pool);
    void *y = us_pool_get(&f->pool);
    assert_non_null(x);
    assert_non_null(y);
    assert_ptr_not_equal(x, y);
    assert_null(us_pool_get(&f->pool));
    assert_int_equal(us_pool_put(&f->pool, x), US_OK);
    assert_int_equal(us_pool_put(&f->pool, y), US_OK);
    fixture_free(f);
}

static void test_pool_foreign_and_misaligned_pointers_are_refused(void **state)
{
    (void)state;
    pool_fixture *f = fixture_new(64, 4);
    pool_fixture *other = fixture_new(64, 4);
    uint8_t *a = us_pool_get(&f->pool);
    uint8_t stack_byte = 0;
    void *last = f->pool.base + 3 * f->pool.stride;
    assert_int_equal(us_pool_put(&f->pool, NULL), US_EILLEGAL);
    assert_int_equal(us_pool_put(&f->pool, &stack_byte), US_EILLEGAL);
    assert_int_equal(us_pool_put(&f->pool, a + 1), US_EILLEGAL);
    assert_int_equal(us_pool_put(&f->pool, a + 16), US_EILLEGAL);
    assert_int_equal(us_pool_put(&f->pool, (void *)((uintptr_t)a - 64)), US_EILLEGAL); /* before */
    assert_int_equal(us_pool_put(&f->pool, f->pool.base + 4 * f->pool.stride), US_EILLEGAL);
    assert_int_equal(us_pool_put(&f->pool, last), US_EILLEGAL);            /* free block */
    assert_int_equal(us_pool_put(&f->pool, other->pool.base), US_EILLEGAL);
    assert_int_equal(f->pool.stats.illegal, 8);
    assert_int_equal(f->pool.stats.used, 1);
    assert_true(us_pool_owns(&f->pool, a));
    assert_false(us_pool_owns(&f->pool, a + 1));
    assert_false(us_pool_owns(&other->pool, a));
    assert_int_equal(us_pool_put(&f->pool, a), US_OK);
    fixture_free(f);
    fixture_free(other);
}

static void test_pool_odd_block_sizes_validate_exactly(void **state)
{
    (void)state;
    /* Strides 48, 80, 1584, 16 and 4112 (= 257 * 16) exercise the inverse. */
    const uint32_t sizes[] = {33, 80, 1584, 1, 4096};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        pool_fixture *f = fixture_new(sizes[s], 7);
        uint8_t *blk[7];
        for (int i = 0; i < 7; i++)
            blk[i] = us_pool_get(&f->pool);
        for (int i = 0; i < 7; i++) {
            for (uint32_t off = 1; off < f->pool.stride; off += 7)
                assert_false(us_pool_owns(&f->pool, blk[i] + off));
            assert_true(us_pool_owns(&f->pool, blk[i]));
        }
        for (int i = 6; i >= 0; i--)
            assert_int_equal(us_pool_put(&f->pool, blk[i]), US_OK);
        assert_int_equal(f->pool.stats.illegal, 0);
        fixture_free(f);
    }
}

static void test_pool_bulk_get_is_all_or_nothing(void **state)
{
    (void)state;
    pool_fixture *f = fixture_new(64, 4);
    void *out[5] = {0};
    assert_int_equal(us_pool_get_bulk(&f->pool, out, 5), US_ENOMEM);
    assert_int_equal(f->pool.stats.err, 1);
    assert_int_equal(f->pool.stats.used, 0);
    for (int i = 0; i < 5; i++)
        assert_null(out[i]);
    assert_int_equal(us_pool_get_bulk(&f->pool, out, 3), US_OK);
    assert_int_equal(f->pool.stats.used, 3);
    assert_int_equal(us_pool_get_bulk(&f->pool, out + 3, 2), US_ENOMEM);
    assert_null(out[3]);
    assert_int_equal(us_pool_get_bulk(&f->pool, out + 3, 0), US_OK);
    assert_int_equal(us_pool_get_bulk(&f->pool, NULL, 1), US_EINVAL);
    assert_int_equal(us_pool_put_bulk(&f->pool, out, 3), US_OK);
    assert_int_equal(f->pool.stats.used, 0);
    assert_int_equal(f->pool.stats.err, 2);
    fixture_free(f);
}

static void test_pool_bulk_put_skips_illegal_blocks(void **state)
{
    (void)state;
    pool_fixture *f = fixture_new(64, 4);
    void *out[2];
    assert_int_equal(us_pool_get_bulk(&f->pool, out, 2), US_OK);
    void *mixed[3] = {out[0], out[0], out[1]};
    assert_int_equal(us_pool_put_bulk(&f->pool, mixed, 3), US_EILLEGAL);
    assert_int_equal(f->pool.stats.illegal, 1);
    assert_int_equal(f->pool.stats.used, 0);
    fixture_free(f);
}

typedef struct reclaim_ctx {
    int calls;
    void *hold[4];
    int held;
    int get_inside; /* try a get from inside the callback */
    void *inner;
} reclaim_ctx;

static void reclaim_release_one(us_pool *pool, void *ctx)
{
    reclaim_ctx *rc = ctx;
    rc->calls++;
    if (rc->get_inside)
        rc->inner = us_pool_get(pool); /* must fail without recursing */
    if (rc->held > 0)
        assert_int_equal(us_pool_put(pool, rc->hold[--rc->held]), US_OK);
}

static void test_pool_reclaim_is_called_once_when_empty(void **state)
{
    (void)state;
    pool_fixture *f = fixture_new(64, 2);
    reclaim_ctx rc = {0};
    us_pool_set_reclaim(&f->pool, reclaim_release_one, &rc);
    rc.hold[rc.held++] = us_pool_get(&f->pool);
    void *mine = us_pool_get(&f->pool);
    assert_int_equal(rc.calls, 0);
    /* Empty: reclaim frees the held block, and the get succeeds with it. */
    void *got = us_pool_get(&f->pool);
    assert_int_equal(rc.calls, 1);
    assert_non_null(got);
    assert_int_equal(f->pool.stats.err, 0);
    assert_int_equal(f->pool.reclaims, 1);
    /* Empty again, nothing left to reclaim: one call, then the get fails and is counted. */
    assert_null(us_pool_get(&f->pool));
    assert_int_equal(rc.calls, 2);
    assert_int_equal(f->pool.stats.err, 1);
    assert_int_equal(us_pool_put(&f->pool, got), US_OK);
    assert_int_equal(us_pool_put(&f->pool, mine), US_OK);
    fixture_free(f);
}

static void test_pool_reclaim_is_not_reentered(void **state)
{
    (void)state;
    pool_fixture *f = fixture_new(64, 1);
    reclaim_ctx rc = {.get_inside = 1};
    us_pool_set_reclaim(&f->pool, reclaim_release_one, &rc);
    void *a = us_pool_get(&f->pool);
    assert_null(us_pool_get(&f->pool));
    assert_int_equal(rc.calls, 1);
    assert_null(rc.inner);
    assert_int_equal(f->pool.stats.err, 2); /* the inner get and the outer one */
    us_pool_set_reclaim(&f->pool, NULL, NULL);
    assert_null(us_pool_get(&f->pool));
    assert_int_equal(rc.calls, 1);
    assert_int_equal(us_pool_put(&f->pool, a), US_OK);
    fixture_free(f);
}

static void test_pool_bulk_get_asks_reclaim_for_the_shortfall(void **state)
{
    (void)state;
    pool_fixture *f = fixture_new(64, 3);
    reclaim_ctx rc = {0};
    rc.hold[rc.held++] = us_pool_get(&f->pool);
    us_pool_set_reclaim(&f->pool, reclaim_release_one, &rc);
    void *out[3];
    assert_int_equal(us_pool_get_bulk(&f->pool, out, 3), US_OK);
    assert_int_equal(rc.calls, 1);
    assert_int_equal(us_pool_put_bulk(&f->pool, out, 3), US_OK);
    fixture_free(f);
}

static void test_pool_random_rounds_keep_stats_exact(void **state)
{
    (void)state;
    enum { N = 64 };
    pool_fixture *f = fixture_new(24, N);
    void *live[N];
    uint32_t nlive = 0, max = 0;
    us_test_rng rng = {42};
    for (int round = 0; round < 20000; round++) {
        if (nlive < N && (nlive == 0 || us_test_below(&rng, 2))) {
            live[nlive] = us_pool_get(&f->pool);
            assert_non_null(live[nlive]);
            memset(live[nlive], (int)nlive, 24);
            nlive++;
        } else {
            uint32_t i = us_test_below(&rng, nlive);
            assert_int_equal(us_pool_put(&f->pool, live[i]), US_OK);
            live[i] = live[--nlive];
        }
        if (nlive > max)
            max = nlive;
        assert_int_equal(f->pool.stats.used, nlive);
    }
    assert_int_equal(f->pool.stats.max, max);
    while (nlive > 0)
        assert_int_equal(us_pool_put(&f->pool, live[--nlive]), US_OK);
    assert_int_equal(f->pool.stats.illegal, 0);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_init_rejects_bad_sizes),
        cmocka_unit_test(test_pool_init_rounds_stride_and_aligns_blocks),
        cmocka_unit_test(test_pool_get_put_is_lifo_with_exact_stats),
        cmocka_unit_test(test_pool_exhaustion_counts_err_and_recovers),
        cmocka_unit_test(test_pool_blocks_are_distinct_and_writable),
        cmocka_unit_test(test_pool_double_free_is_refused_and_counted),
        cmocka_unit_test(test_pool_foreign_and_misaligned_pointers_are_refused),
        cmocka_unit_test(test_pool_odd_block_sizes_validate_exactly),
        cmocka_unit_test(test_pool_bulk_get_is_all_or_nothing),
        cmocka_unit_test(test_pool_bulk_put_skips_illegal_blocks),
        cmocka_unit_test(test_pool_reclaim_is_called_once_when_empty),
        cmocka_unit_test(test_pool_reclaim_is_not_reentered),
        cmocka_unit_test(test_pool_bulk_get_asks_reclaim_for_the_shortfall),
        cmocka_unit_test(test_pool_random_rounds_keep_stats_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
