/* Shared test fixtures. Every suite that touches buffers builds its us_bufs with
 * us_test_bufs_new() and tears it down with us_test_bufs_free(), which fails the test if any pool
 * block or heap byte is still in use: a leak anywhere fails the test (lwIP's test discipline). */
#ifndef STACKBENCH_TESTUTIL_H
#define STACKBENCH_TESTUTIL_H

/* cmocka needs these before its header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ustack/bufs.h"

/* A us_bufs over heap memory from the test process (malloc is fine outside the core). cfg NULL
 * means us_bufs_config_default(). Fails the test if init fails. */
us_bufs *us_test_bufs_new(const us_bufs_config *cfg);

/* Asserts every pool and the heap are back to zero in use (naming the first that is not), then
 * releases the memory. */
void us_test_bufs_free(us_bufs *b);

/* Deterministic PRNG for seeded randomized tests (splitmix64). */
typedef struct us_test_rng {
    uint64_t s;
} us_test_rng;

static inline uint64_t us_test_rand(us_test_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); n > 0. */
static inline uint32_t us_test_below(us_test_rng *r, uint32_t n)
{
    return (uint32_t)(us_test_rand(r) % n);
}

#endif
