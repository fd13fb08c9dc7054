/* Shared test fixtures: a us_bufs per test and the no-leak teardown check. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct test_bufs {
    us_bufs bufs; /* first: the pointer handed out is also the allocation */
    void *mem;
} test_bufs;

us_bufs *us_test_bufs_new(const us_bufs_config *cfg)
{
    us_bufs_config def;
    if (cfg == NULL) {
        us_bufs_config_default(&def);
        cfg = &def;
    }
    size_t need = us_bufs_mem_size(cfg);
    assert_true(need > 0);
    test_bufs *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->mem = malloc(need);
    assert_non_null(t->mem);
    assert_int_equal(us_bufs_init(&t->bufs, cfg, t->mem, need), US_OK);
    return &t->bufs;
}

void us_test_bufs_free(us_bufs *b)
{
    test_bufs *t = (test_bufs *)b;
    for (int i = 0; i < US_POOL_COUNT; i++) {
        if (b->pools[i].stats.used != 0)
            fail_msg("leak: pool %s has %u blocks in use at teardown", us_pool_name((us_pool_id)i),
                     b->pools[i].stats.used);
    }
    if (b->heap.stats.used != 0)
        fail_msg("leak: heap has %u bytes in use at teardown", b->heap.stats.used);
    assert_true(us_bufs_all_free(b));
    free(t->mem);
    free(t);
}
