/* Pbuf chains against a flat byte-array model: seeded random chains mixing POOL (itself chained
 * over 128-byte blocks), RAM, REF over a static arena and CUSTOM segments, put through random
 * operations. After every operation the whole chain must equal the model byte for byte, every
 * segment must satisfy tot_len == len + next->tot_len (the last: tot_len == len), and the error
 * counters must have moved exactly as expected. Every chain is freed at the end of its round and
 * every pool, the heap and the CUSTOM slots must then be back to zero in use. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "ustack/pbuf.h"

#define STRUCT ((uint32_t)US_PBUF_STRUCT_SIZE)
#define BUFSIZE 128u
#define MODEL_MAX 8192u
#define CAT_LIMIT 5000u /* cat only while the result stays below this */
#define ARENA_SIZE (1u << 17)
#define NSLOTS 48
#define SLOT_MEM 512u
#define ROUNDS 1500
#define OPS 32

typedef struct model_ctx model_ctx;

typedef struct custom_slot {
    us_pbuf_custom c; /* first: the pbuf pointer leads back to the slot */
    model_ctx *ctx;
    int live;
    uint8_t mem[SLOT_MEM];
} custom_slot;

struct model_ctx {
    us_bufs *b;
    us_test_rng rng;
    us_pbuf_stats expect; /* what b->pbuf_stats must read */
    uint32_t arena_used;
    uint32_t custom_live;
    uint64_t ops_done;
    custom_slot slots[NSLOTS];
    uint8_t arena[ARENA_SIZE]; /* REF payloads; reset every round */
};

/* A chain and what it must hold. */
typedef struct mchain {
    us_pbuf *p;
    uint32_t n;
    uint8_t m[MODEL_MAX];
} mchain;

static uint32_t below(model_ctx *c, uint32_t n)
{
    return us_test_below(&c->rng, n);
}

static void rand_bytes(model_ctx *c, uint8_t *d, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        d[i] = (uint8_t)us_test_rand(&c->rng);
}

static void slot_free(us_pbuf *p)
{
    custom_slot *s = (custom_slot *)(void *)p;
    assert_int_equal(s->live, 1);
    s->live = 0;
    s->ctx->custom_live--;
}

static void check_stats(const model_ctx *c)
{
    const us_pbuf_stats *s = &c->b->pbuf_stats;
    assert_int_equal(s->einval, c->expect.einval);
    assert_int_equal(s->ebuf, c->expect.ebuf);
    assert_int_equal(s->erange, c->expect.erange);
    assert_int_equal(s->illegal, c->expect.illegal);
}

/* The whole chain equals m[0, n) and the length invariants hold. */
static void verify(const us_pbuf *p, const uint8_t *m, uint32_t n)
{
    if (p == NULL) {
        assert_int_equal(n, 0);
        return;
    }
    assert_int_equal(p->tot_len, n);
    uint32_t off = 0;
    for (const us_pbuf *q = p; q != NULL; q = q->next) {
        assert_true(q->ref >= 1);
        if (q->next != NULL)
            assert_int_equal(q->tot_len, q->len + q->next->tot_len);
        else
            assert_int_equal(q->tot_len, q->len);
        assert_int_equal(q->tot_len, n - off);
        if (q->len > 0)
            assert_memory_equal(q->payload, m + off, q->len);
        off += q->len;
    }
    assert_int_equal(off, n);
}

static uint32_t rand_len(model_ctx *c, uint32_t max)
{
    return below(c, 8) == 0 ? 0 : below(c, max + 1);
}

/* One segment (a POOL one may come as a chain) holding fresh random bytes appended to m. */
static us_pbuf *new_segment(model_ctx *c, uint8_t *m, uint32_t *n)
{
    us_bufs *b = c->b;
    us_pbuf *s = NULL;
    uint32_t kind = below(c, 4);
    if (kind == 2) { /* REF over the arena, with a little slack in front */
        uint32_t len = rand_len(c, 300), slack = below(c, 20);
        if (c->arena_used + slack + len <= ARENA_SIZE) {
            uint8_t *at = c->arena + c->arena_used + slack;
            c->arena_used += slack + len;
            rand_bytes(c, at, len);
            s = us_pbuf_alloc_reference(b, at, len, below(c, 2) ? US_PBUF_REF : US_PBUF_ROM);
            assert_non_null(s);
            memcpy(m + *n, at, len);
            *n += len;
            return s;
        }
        kind = 1;
    }
    if (kind == 3) { /* CUSTOM from a free slot */
        for (int i = 0; i < NSLOTS; i++) {
            custom_slot *sl = &c->slots[i];
            if (sl->live)
                continue;
            uint32_t layer = below(c, 61);
            uint32_t len = rand_len(c, SLOT_MEM - layer);
            sl->c.free_fn = slot_free;
            sl->ctx = c;
            s = us_pbuf_alloced_custom(b, (us_pbuf_layer)layer, len, &sl->c, sl->mem, SLOT_MEM);
            assert_non_null(s);
            sl->live = 1;
            c->custom_live++;
            break;
        }
        if (s == NULL)
            kind = 1;
    }
    if (kind == 0) {
        static const uint32_t layers[] = {0, 14, 34, 54, 100, 127};
        uint32_t layer = layers[below(c, 6)];
        s = us_pbuf_alloc(b, (us_pbuf_layer)layer, rand_len(c, 400), US_PBUF_POOL);
    } else if (kind == 1) {
        s = us_pbuf_alloc(b, (us_pbuf_layer)below(c, 61), rand_len(c, 300), US_PBUF_RAM);
    }
    assert_non_null(s);
    rand_bytes(c, m + *n, s->tot_len);
    assert_int_equal(us_pbuf_take(s, m + *n, s->tot_len), US_OK);
    *n += s->tot_len;
    return s;
}

/* A chain of 1..5 segments; its bytes go to m[0, *n). */
static us_pbuf *new_chain(model_ctx *c, uint8_t *m, uint32_t *n)
{
    us_pbuf *h = NULL;
    *n = 0;
    uint32_t segs = 1 + below(c, 5);
    for (uint32_t i = 0; i < segs; i++) {
        us_pbuf *s = new_segment(c, m, n);
        if (h == NULL)
            h = s;
        else
            assert_int_equal(us_pbuf_cat(h, s), US_OK);
    }
    verify(h, m, *n);
    return h;
}

static void free_chain(us_pbuf *p)
{
    if (p != NULL)
        assert_int_equal(us_pbuf_free(p), (int)us_pbuf_clen(p));
}

/* ---- the operations ---- */

static void op_copy_partial(model_ctx *c, mchain *x)
{
    uint8_t out[MODEL_MAX + 8];
    uint32_t off = below(c, x->n + 3), len = below(c, x->n + 3);
    memset(out, 0xA5, sizeof(out));
    uint32_t want = off > x->n ? 0 : (len < x->n - off ? len : x->n - off);
    if (off > x->n)
        c->expect.erange++;
    assert_int_equal(us_pbuf_copy_partial(x->p, out, len, off), want);
    if (want > 0)
        assert_memory_equal(out, x->m + off, want);
    assert_int_equal(out[want], 0xA5);
}

static void op_take_at(model_ctx *c, mchain *x)
{
    uint8_t data[MODEL_MAX + 8];
    uint32_t off = below(c, x->n + 3), len = below(c, x->n + 3);
    rand_bytes(c, data, len);
    if (off <= x->n && len <= x->n - off) {
        assert_int_equal(us_pbuf_take_at(x->p, data, len, off), US_OK);
        memcpy(x->m + off, data, len);
    } else {
        c->expect.ebuf++;
        assert_int_equal(us_pbuf_take_at(x->p, data, len, off), US_EBUF);
    }
}

static void op_get_put_at(model_ctx *c, mchain *x)
{
    for (int k = 0; k < 4; k++) {
        uint32_t off = below(c, x->n + 2);
        uint8_t v = (uint8_t)us_test_rand(&c->rng);
        if (off < x->n) {
            assert_int_equal(us_pbuf_get_at(x->p, off), x->m[off]);
            assert_int_equal(us_pbuf_put_at(x->p, off, v), US_OK);
            x->m[off] = v;
            assert_int_equal(us_pbuf_get_at(x->p, off), v);
        } else {
            c->expect.erange += 2;
            assert_int_equal(us_pbuf_get_at(x->p, off), US_ERANGE);
            assert_int_equal(us_pbuf_put_at(x->p, off, v), US_ERANGE);
        }
    }
}

static void op_memcmp(model_ctx *c, mchain *x)
{
    uint8_t s[MODEL_MAX + 8];
    uint32_t off = below(c, x->n + 2), len = below(c, x->n + 2);
    if (off > x->n || len > x->n - off) {
        rand_bytes(c, s, len);
        c->expect.erange++;
        assert_int_equal(us_pbuf_memcmp(x->p, off, s, len), UINT32_MAX);
        return;
    }
    memcpy(s, x->m + off, len);
    uint32_t want = 0;
    if (len > 0 && below(c, 2)) {
        uint32_t k = below(c, len);
        s[k] ^= (uint8_t)(1 + below(c, 255));
        want = k + 1;
    }
    assert_int_equal(us_pbuf_memcmp(x->p, off, s, len), want);
}

static uint32_t naive_find(const uint8_t *m, uint32_t n, const uint8_t *s, uint32_t sl,
                           uint32_t start)
{
    if (sl > n)
        return UINT32_MAX;
    for (uint32_t i = start; i + sl <= n; i++)
        if (memcmp(m + i, s, sl) == 0)
            return i;
    return UINT32_MAX;
}

static void op_memfind(model_ctx *c, mchain *x)
{
    uint8_t s[8];
    uint32_t sl;
    if (x->n > 0 && below(c, 4) != 0) {
        uint32_t pos = below(c, x->n);
        sl = 1 + below(c, 6);
        if (sl > x->n - pos)
            sl = x->n - pos;
        memcpy(s, x->m + pos, sl);
    } else {
        sl = below(c, 4);
        rand_bytes(c, s, sl);
    }
    uint32_t start = below(c, x->n + 2);
    uint32_t want;
    if (start > x->n) {
        c->expect.erange++;
        want = UINT32_MAX;
    } else {
        want = naive_find(x->m, x->n, s, sl, start);
    }
    assert_int_equal(us_pbuf_memfind(x->p, s, sl, start), want);
}

static void op_get_contiguous(model_ctx *c, mchain *x)
{
    uint8_t buf[MODEL_MAX + 8];
    uint32_t off = below(c, x->n + 2), len = below(c, x->n + 2);
    size_t bufsize = (len > 0 && below(c, 8) == 0) ? len - 1 : len + below(c, 4);
    const uint8_t *r = us_pbuf_get_contiguous(x->p, buf, bufsize, len, off);
    if (bufsize < len) {
        c->expect.ebuf++;
        assert_null(r);
        return;
    }
    if (off > x->n || len > x->n - off) {
        c->expect.erange++;
        assert_null(r);
        return;
    }
    assert_non_null(r);
    if (len == 0)
        return;
    assert_memory_equal(r, x->m + off, len);
    /* A pointer into the segment when the range lies in one, else the buffer. */
    const us_pbuf *q = x->p;
    uint32_t o = off;
    while (o >= q->len) {
        o -= q->len;
        q = q->next;
    }
    if (q->len - o >= len)
        assert_ptr_equal(r, (const uint8_t *)q->payload + o);
    else
        assert_ptr_equal(r, buf);
}

static void op_copy_to_other(model_ctx *c, mchain *x, mchain *y)
{
    y->p = new_chain(c, y->m, &y->n);
    if (below(c, 2)) {
        if (y->n >= x->n) {
            assert_int_equal(us_pbuf_copy(y->p, x->p), US_OK);
            memcpy(y->m, x->m, x->n);
        } else {
            c->expect.ebuf++;
            assert_int_equal(us_pbuf_copy(y->p, x->p), US_EBUF);
        }
    } else {
        uint32_t off = below(c, x->n + 2), len = below(c, x->n + 2);
        us_status want = US_OK;
        if (off > x->n || len > x->n - off) {
            want = US_ERANGE;
            c->expect.erange++;
        } else if (len > y->n) {
            want = US_EBUF;
            c->expect.ebuf++;
        }
        assert_int_equal(us_pbuf_copy_partial_pbuf(y->p, x->p, len, off), want);
        if (want == US_OK)
            memmove(y->m, x->m + off, len);
    }
    verify(y->p, y->m, y->n);
    free_chain(y->p);
    y->p = NULL;
}

static void op_realloc(model_ctx *c, mchain *x)
{
    uint32_t nl = below(c, 8) == 0 ? x->n + 1 + below(c, 3) : below(c, x->n + 1);
    if (nl > x->n) {
        c->expect.einval++;
        assert_int_equal(us_pbuf_realloc(x->p, nl), US_EINVAL);
        return;
    }
    uint32_t heap_before = c->b->heap.stats.used;
    assert_int_equal(us_pbuf_realloc(x->p, nl), US_OK);
    assert_true(c->b->heap.stats.used <= heap_before);
    x->n = nl;
}

static void op_free_header(model_ctx *c, mchain *x)
{
    uint32_t size = below(c, 8) == 0 ? x->n + 1 : below(c, x->n + 1);
    if (size > x->n) {
        c->expect.erange++;
        assert_ptr_equal(us_pbuf_free_header(x->p, size), x->p);
        return;
    }
    x->p = us_pbuf_free_header(x->p, size);
    memmove(x->m, x->m + size, x->n - size);
    x->n -= size;
}

static void op_cat(model_ctx *c, mchain *x, mchain *y)
{
    y->p = new_chain(c, y->m, &y->n);
    if (x->n + y->n > CAT_LIMIT) {
        free_chain(y->p);
    } else if (below(c, 2)) {
        assert_int_equal(us_pbuf_cat(x->p, y->p), US_OK);
        memcpy(x->m + x->n, y->m, y->n);
        x->n += y->n;
    } else {
        /* chain adds a reference; dropping ours leaves x's. */
        assert_int_equal(us_pbuf_chain(x->p, y->p), US_OK);
        assert_int_equal(y->p->ref, 2);
        assert_int_equal(us_pbuf_free(y->p), 0);
        memcpy(x->m + x->n, y->m, y->n);
        x->n += y->n;
    }
    y->p = NULL;
}

static void op_dechain(model_ctx *c, mchain *x)
{
    us_pbuf *p = x->p;
    if (p->next == NULL) {
        assert_null(us_pbuf_dechain(p));
        return;
    }
    uint32_t first = p->len;
    if (below(c, 2)) {
        /* Without another reference the rest is freed. */
        assert_null(us_pbuf_dechain(p));
        x->n = first;
        return;
    }
    us_pbuf *rest = p->next;
    assert_int_equal(us_pbuf_ref(rest), US_OK);
    assert_ptr_equal(us_pbuf_dechain(p), rest);
    verify(p, x->m, first);
    verify(rest, x->m + first, x->n - first);
    if (below(c, 2)) {
        assert_int_equal(us_pbuf_free(p), 1);
        x->p = rest;
        memmove(x->m, x->m + first, x->n - first);
        x->n -= first;
    } else {
        free_chain(rest);
        x->n = first;
    }
}

static void op_coalesce(model_ctx *c, mchain *x)
{
    static const us_pbuf_layer layers[] = {US_PBUF_RAW, US_PBUF_LINK, US_PBUF_IP,
                                           US_PBUF_TRANSPORT};
    us_pbuf *p = x->p;
    us_pbuf *q = us_pbuf_coalesce(p, layers[below(c, 4)]);
    if (p->next == NULL && q == p)
        return;
    assert_ptr_not_equal(q, p);
    assert_null(q->next);
    assert_int_equal(q->type, US_PBUF_RAM);
    x->p = q;
}

static void op_clone(model_ctx *c, mchain *x)
{
    int pool = (int)below(c, 2);
    uint32_t layer = pool ? below(c, BUFSIZE) : below(c, 61);
    us_pbuf *q = us_pbuf_clone(c->b, (us_pbuf_layer)layer, pool ? US_PBUF_POOL : US_PBUF_RAM,
                               x->p);
    assert_non_null(q);
    verify(q, x->m, x->n);
    assert_int_equal(q->type, pool ? US_PBUF_POOL : US_PBUF_RAM);
    free_chain(q);
}

static void op_add_header(model_ctx *c, mchain *x)
{
    us_pbuf *p = x->p;
    uint32_t size = below(c, 70);
    uint8_t *pl = p->payload;
    uint32_t room;
    us_status want;
    switch (p->type) {
    case US_PBUF_RAM:
    case US_PBUF_POOL:
        room = (uint32_t)(pl - ((uint8_t *)p + STRUCT));
        want = size <= room ? US_OK : US_EBUF;
        break;
    case US_PBUF_CUSTOM:
        room = (uint32_t)(pl - ((us_pbuf_custom *)(void *)p)->mem);
        want = size <= room ? US_OK : US_EBUF;
        break;
    default: /* ROM, REF */
        want = US_EINVAL;
        break;
    }
    if (size == 0)
        want = US_OK;
    if (want == US_EBUF)
        c->expect.ebuf++;
    if (want == US_EINVAL)
        c->expect.einval++;
    assert_int_equal(us_pbuf_add_header(p, size), want);
    if (want != US_OK) {
        assert_ptr_equal(p->payload, pl);
        return;
    }
    assert_ptr_equal(p->payload, pl - size);
    memmove(x->m + size, x->m, x->n);
    rand_bytes(c, x->m, size);
    memcpy(p->payload, x->m, size);
    x->n += size;
}

static void op_remove_header(model_ctx *c, mchain *x)
{
    us_pbuf *p = x->p;
    uint32_t size = below(c, p->len + 2);
    if (size > p->len) {
        c->expect.ebuf++;
        assert_int_equal(us_pbuf_remove_header(p, size), US_EBUF);
        return;
    }
    assert_int_equal(us_pbuf_remove_header(p, size), US_OK);
    memmove(x->m, x->m + size, x->n - size);
    x->n -= size;
}

static void run_op(model_ctx *c, mchain *x, mchain *y)
{
    switch (below(c, 15)) {
    case 0: op_copy_partial(c, x); break;
    case 1: op_take_at(c, x); break;
    case 2: op_get_put_at(c, x); break;
    case 3: op_memcmp(c, x); break;
    case 4: op_memfind(c, x); break;
    case 5: op_get_contiguous(c, x); break;
    case 6: op_copy_to_other(c, x, y); break;
    case 7: op_realloc(c, x); break;
    case 8: op_free_header(c, x); break;
    case 9: op_cat(c, x, y); break;
    case 10: op_dechain(c, x); break;
    case 11: op_coalesce(c, x); break;
    case 12: op_clone(c, x); break;
    case 13: op_add_header(c, x); break;
    default: op_remove_header(c, x); break;
    }
    c->ops_done++;
    verify(x->p, x->m, x->n);
    check_stats(c);
}

static void all_free(const model_ctx *c)
{
    assert_true(us_bufs_all_free(c->b));
    assert_int_equal(c->custom_live, 0);
}

/* ---- fixture and test ---- */

static int setup(void **state)
{
    us_bufs_config cfg = {.pbuf_pool_count = 512,
                          .pbuf_pool_bufsize = BUFSIZE,
                          .pbuf_count = 512,
                          .heap_size = 1u << 20};
    model_ctx *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->b = us_test_bufs_new(&cfg);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    model_ctx *c = *state;
    assert_int_equal(c->custom_live, 0);
    us_test_bufs_free(c->b);
    free(c);
    return 0;
}

static void run_seed(model_ctx *c, uint64_t seed)
{
    static mchain x, y; /* 16 KiB each: kept off the stack */
    c->rng.s = seed;
    for (int round = 0; round < ROUNDS; round++) {
        c->arena_used = 0;
        x.p = new_chain(c, x.m, &x.n);
        for (int k = 0; k < OPS; k++) {
            if (x.p == NULL) /* free_header took all of it */
                x.p = new_chain(c, x.m, &x.n);
            run_op(c, &x, &y);
        }
        free_chain(x.p);
        x.p = NULL;
        all_free(c);
    }
}

static void test_pbuf_model_seed_1(void **state)
{
    run_seed(*state, 1);
}

static void test_pbuf_model_seed_2(void **state)
{
    run_seed(*state, 0x5EED0002u);
}

static void test_pbuf_model_seed_3(void **state)
{
    run_seed(*state, 0xC0FFEE1234ull);
}

static void test_pbuf_model_seed_4(void **state)
{
    model_ctx *c = *state;
    run_seed(c, 0xDEADBEEFCAFEull);
    assert_true(c->ops_done >= (uint64_t)ROUNDS * OPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pbuf_model_seed_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pbuf_model_seed_2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pbuf_model_seed_3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pbuf_model_seed_4, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
