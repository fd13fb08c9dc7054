/* Packet buffers with lwIP's pbuf semantics (src/core/pbuf.c) over the pools and heap of one
 * us_bufs: allocation by type, reference-counted chains, copying between chains and flat memory,
 * header moves, shrinking. The single-block POOL alloc and the free loop are the hot paths; every
 * rare case lives in a separate function so they stay short. */
#include "ustack/pbuf.h"

#include <assert.h>
#include <string.h>

#include "compiler.h"

/* Largest length of a pbuf or chain. Lengths stay below 2^31, like heap blocks: the sum of any two
 * lengths or offsets then cannot wrap a uint32_t, and us_pbuf_memcmp's "1 + index" can never be
 * confused with its UINT32_MAX error value. Anything longer is a bad length (pbuf_stats.einval). */
#define PBUF_MAX_LEN 0x7FFFFFFFu

#define PBUF_STRUCT ((uint32_t)US_PBUF_STRUCT_SIZE)


static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* Counters of the first pbuf that is not NULL (nothing to count on when neither is). */
static void count_einval(const us_pbuf *a, const us_pbuf *b)
{
    const us_pbuf *p = a != NULL ? a : b;
    if (p != NULL)
        p->owner->pbuf_stats.einval++;
}

static inline void pbuf_init_fields(us_pbuf *p, void *payload, uint32_t len, uint32_t tot_len,
                                    us_pbuf_type type, us_bufs *owner)
{
    p->next = NULL;
    p->payload = payload;
    p->tot_len = tot_len;
    p->len = len;
    p->type = (uint8_t)type;
    p->flags = 0;
    p->ref = 1;
    p->owner = owner;
}

/* ---- allocation and freeing ---- */

/* A POOL chain of more than one block (or a bad layer): lwIP's pbuf_alloc PBUF_POOL loop. */
US__NOINLINE static us_pbuf *pbuf_alloc_pool_chain(us_bufs *b, uint32_t layer, uint32_t length)
{
    uint32_t bufsize = b->pbuf_pool_bufsize;
    if (layer >= bufsize || length > PBUF_MAX_LEN) {
        b->pbuf_stats.einval++;
        return NULL;
    }
    us_pool *pool = &b->pools[US_POOL_PBUF_POOL];
    us_pbuf *head = NULL, *tail = NULL;
    uint32_t rem = length, off = layer;
    do {
        uint8_t *blk = us_pool_get(pool);
        if (blk == NULL) {
            /* The pool counted the failure; give back what was taken. */
            if (head != NULL)
                (void)us_pbuf_free(head);
            return NULL;
        }
        us_pbuf *q = (us_pbuf *)(void *)blk;
        uint32_t n = min_u32(rem, bufsize - off);
        pbuf_init_fields(q, blk + PBUF_STRUCT + off, n, rem, US_PBUF_POOL, b);
        if (tail != NULL)
            tail->next = q;
        else
            head = q;
        tail = q;
        rem -= n;
        off = 0;
    } while (rem > 0);
    return head;
}

US__NOINLINE static us_pbuf *pbuf_alloc_slow(us_bufs *b, uint32_t layer, uint32_t length,
                                              us_pbuf_type type)
{
    if (b == NULL)
        return NULL;
    switch (type) {
    case US_PBUF_POOL:
        return pbuf_alloc_pool_chain(b, layer, length);
    case US_PBUF_RAM: {
        if ((uint64_t)layer + length > PBUF_MAX_LEN) {
            b->pbuf_stats.einval++;
            return NULL;
        }
        uint8_t *blk = us_heap_alloc(&b->heap, (size_t)PBUF_STRUCT + layer + length);
        if (blk == NULL)
            return NULL;
        us_pbuf *p = (us_pbuf *)(void *)blk;
        pbuf_init_fields(p, blk + PBUF_STRUCT + layer, length, length, US_PBUF_RAM, b);
        return p;
    }
    case US_PBUF_ROM:
    case US_PBUF_REF: {
        /* As in lwIP the layer means nothing here: there is no room to reserve. */
        if (length > PBUF_MAX_LEN) {
            b->pbuf_stats.einval++;
            return NULL;
        }
        us_pbuf *p = us_pool_get(&b->pools[US_POOL_PBUF]);
        if (p == NULL)
            return NULL;
        pbuf_init_fields(p, NULL, length, length, type, b);
        return p;
    }
    case US_PBUF_CUSTOM: /* only through us_pbuf_alloced_custom */
    default:
        b->pbuf_stats.einval++;
        return NULL;
    }
}

us_pbuf *us_pbuf_alloc(us_bufs *b, us_pbuf_layer layer, uint32_t length, us_pbuf_type type)
{
    uint32_t off = (uint32_t)layer;
    /* Hot path: a POOL pbuf that fits one block of a pool that is not empty. Everything else,
     * an empty pool (reclaim, counting) included, goes out of line so this needs no frame. */
    if (US_LIKELY(type == US_PBUF_POOL && b != NULL)) {
        uint32_t bufsize = b->pbuf_pool_bufsize;
        us_pool *pool = &b->pools[US_POOL_PBUF_POOL];
        if (US_LIKELY(off < bufsize && length <= bufsize - off && pool->stats.used < pool->count)) {
            uint8_t *blk = us_pool_get(pool);
            us_pbuf *p = (us_pbuf *)(void *)blk;
            pbuf_init_fields(p, blk + PBUF_STRUCT + off, length, length, US_PBUF_POOL, b);
            return p;
        }
    }
    return pbuf_alloc_slow(b, off, length, type);
}

us_pbuf *us_pbuf_alloc_reference(us_bufs *b, void *payload, uint32_t length, us_pbuf_type type)
{
    if (b == NULL)
        return NULL;
    if ((type != US_PBUF_ROM && type != US_PBUF_REF) || (payload == NULL && length > 0) ||
        length > PBUF_MAX_LEN) {
        b->pbuf_stats.einval++;
        return NULL;
    }
    us_pbuf *p = us_pool_get(&b->pools[US_POOL_PBUF]);
    if (p == NULL)
        return NULL;
    pbuf_init_fields(p, payload, length, length, type, b);
    return p;
}

us_pbuf *us_pbuf_alloced_custom(us_bufs *b, us_pbuf_layer layer, uint32_t length,
                                us_pbuf_custom *p, void *payload_mem, uint32_t payload_mem_len)
{
    if (b == NULL)
        return NULL;
    uint32_t off = (uint32_t)layer;
    if (p == NULL || p->free_fn == NULL || (uint64_t)off + length > payload_mem_len ||
        (uint64_t)off + length > PBUF_MAX_LEN || (payload_mem == NULL && payload_mem_len > 0)) {
        b->pbuf_stats.einval++;
        return NULL;
    }
    uint8_t *mem = payload_mem;
    p->mem = mem;
    pbuf_init_fields(&p->pbuf, mem != NULL ? mem + off : NULL, length, length, US_PBUF_CUSTOM, b);
    return &p->pbuf;
}

/* Give a segment whose count fell to 0 back to where it came from. */
static void pbuf_release(us_pbuf *p)
{
    us_bufs *b = p->owner;
    switch ((us_pbuf_type)p->type) {
    case US_PBUF_POOL:
        (void)us_pool_put(&b->pools[US_POOL_PBUF_POOL], p);
        break;
    case US_PBUF_RAM:
        (void)us_heap_free(&b->heap, p);
        break;
    case US_PBUF_ROM:
    case US_PBUF_REF:
        (void)us_pool_put(&b->pools[US_POOL_PBUF], p);
        break;
    case US_PBUF_CUSTOM:
        ((us_pbuf_custom *)(void *)p)->free_fn(p);
        break;
    default:
        assert(0 && "us_pbuf_free: bad pbuf type");
        break;
    }
}

US__COLD static int pbuf_free_illegal(us_pbuf *p)
{
    if (p != NULL)
        p->owner->pbuf_stats.illegal++;
    return US_EILLEGAL;
}

/* The general walk: drop one reference per segment until one stays referenced. */
US__NOINLINE static int pbuf_free_chain(us_pbuf *p)
{
    if (p == NULL || p->ref == 0)
        return pbuf_free_illegal(p);
    int count = 0;
    for (;;) {
        if (--p->ref != 0)
            break; /* still referenced: it, and the rest through it, stay */
        us_pbuf *next = p->next;
        /* ref stays 0 in the released memory, so a second free of p is detected. */
        pbuf_release(p);
        count++;
        p = next;
        if (p == NULL)
            break;
        if (US_UNLIKELY(p->ref == 0)) {
            /* A freed segment inside a live chain: stop rather than free it twice. */
            p->owner->pbuf_stats.illegal++;
            break;
        }
    }
    return count;
}

int us_pbuf_free(us_pbuf *p)
{
    /* Hot path: one POOL pbuf, last reference. */
    if (US_LIKELY(p != NULL && p->ref == 1 && p->next == NULL && p->type == US_PBUF_POOL)) {
        p->ref = 0;
        (void)us_pool_put(&p->owner->pools[US_POOL_PBUF_POOL], p);
        return 1;
    }
    return pbuf_free_chain(p);
}

us_status us_pbuf_ref(us_pbuf *p)
{
    if (p == NULL)
        return US_EINVAL;
    /* At the maximum the count would wrap; at 0 the pbuf is already freed. */
    if (p->ref == UINT16_MAX || p->ref == 0) {
        p->owner->pbuf_stats.einval++;
        return US_EINVAL;
    }
    p->ref++;
    return US_OK;
}

uint32_t us_pbuf_clen(const us_pbuf *p)
{
    uint32_t n = 0;
    for (; p != NULL; p = p->next)
        n++;
    return n;
}

/* ---- chains ---- */

us_status us_pbuf_cat(us_pbuf *h, us_pbuf *t)
{
    if (h == NULL || t == NULL || h == t || t->ref == 0 || t->tot_len > PBUF_MAX_LEN - h->tot_len) {
        count_einval(h, t);
        return US_EINVAL;
    }
    us_pbuf *last = h;
    while (last->next != NULL)
        last = last->next;
    /* Linking last -> t closes a cycle exactly when last is reachable from t (t inside h's
     * chain, or both chains sharing segments): refuse that before changing anything. */
    for (const us_pbuf *q = t; q != NULL; q = q->next) {
        if (q == last) {
            h->owner->pbuf_stats.einval++;
            return US_EINVAL;
        }
    }
    for (us_pbuf *q = h; q != last; q = q->next)
        q->tot_len += t->tot_len;
    last->tot_len += t->tot_len;
    last->next = t;
    return US_OK;
}

us_status us_pbuf_chain(us_pbuf *h, us_pbuf *t)
{
    if (t != NULL && t->ref == UINT16_MAX) {
        t->owner->pbuf_stats.einval++;
        return US_EINVAL;
    }
    us_status st = us_pbuf_cat(h, t);
    if (st != US_OK)
        return st;
    t->ref++;
    return US_OK;
}

us_pbuf *us_pbuf_dechain(us_pbuf *p)
{
    if (p == NULL || p->next == NULL)
        return NULL;
    us_pbuf *q = p->next;
    q->tot_len = p->tot_len - p->len;
    p->next = NULL;
    p->tot_len = p->len;
    /* Drop the reference p held on the rest. */
    return us_pbuf_free(q) == 0 ? q : NULL;
}

us_pbuf *us_pbuf_skip(us_pbuf *p, uint32_t offset, uint32_t *out_offset)
{
    if (p != NULL && offset > p->tot_len)
        p->owner->pbuf_stats.erange++;
    uint32_t off = offset;
    us_pbuf *q = p;
    while (q != NULL && q->len <= off) {
        if (off == 0 && q->tot_len == 0)
            break; /* offset == tot_len, on a zero-length segment at the end */
        off -= q->len;
        q = q->next;
    }
    if (out_offset != NULL)
        *out_offset = off;
    return q;
}

/* ---- copying ---- */

/* The chain walkers below take a range the caller has checked against tot_len, so the walk never
 * runs off the chain; zero-length segments are stepped over. */

static void chain_read(const us_pbuf *q, uint32_t off, uint8_t *dst, uint32_t len)
{
    while (len > 0) {
        while (off >= q->len) {
            off -= q->len;
            q = q->next;
        }
        uint32_t n = min_u32(q->len - off, len);
        memcpy(dst, (const uint8_t *)q->payload + off, n);
        dst += n;
        len -= n;
        off += n;
    }
}

US__NOINLINE static void chain_write(us_pbuf *q, uint32_t off, const uint8_t *src, uint32_t len)
{
    while (len > 0) {
        while (off >= q->len) {
            off -= q->len;
            q = q->next;
        }
        uint32_t n = min_u32(q->len - off, len);
        memcpy((uint8_t *)q->payload + off, src, n);
        src += n;
        len -= n;
        off += n;
    }
}

/* Chain to chain; memmove because chains may share segments. */
static void chain_copy(us_pbuf *to, uint32_t to_off, const us_pbuf *from, uint32_t from_off,
                       uint32_t len)
{
    while (len > 0) {
        while (to_off >= to->len) {
            to_off -= to->len;
            to = to->next;
        }
        while (from_off >= from->len) {
            from_off -= from->len;
            from = from->next;
        }
        uint32_t n = min_u32(min_u32(to->len - to_off, from->len - from_off), len);
        memmove((uint8_t *)to->payload + to_off, (const uint8_t *)from->payload + from_off, n);
        to_off += n;
        from_off += n;
        len -= n;
    }
}

/* 0 if the n bytes at off equal s, else 1 + the index of the first difference. */
static uint32_t chain_cmp(const us_pbuf *q, uint32_t off, const uint8_t *s, uint32_t n)
{
    uint32_t done = 0;
    while (done < n) {
        while (off >= q->len) {
            off -= q->len;
            q = q->next;
        }
        uint32_t k = min_u32(q->len - off, n - done);
        const uint8_t *a = (const uint8_t *)q->payload + off;
        if (memcmp(a, s + done, k) != 0) {
            uint32_t i = 0;
            while (a[i] == s[done + i])
                i++;
            return done + i + 1;
        }
        done += k;
        off += k;
    }
    return 0;
}

us_status us_pbuf_copy(us_pbuf *to, const us_pbuf *from)
{
    if (to == NULL || from == NULL) {
        count_einval(to, from);
        return US_EINVAL;
    }
    if (to->tot_len < from->tot_len) {
        to->owner->pbuf_stats.ebuf++;
        return US_EBUF;
    }
    if (to != from)
        chain_copy(to, 0, from, 0, from->tot_len);
    return US_OK;
}

uint32_t us_pbuf_copy_partial(const us_pbuf *p, void *dst, uint32_t len, uint32_t offset)
{
    if (p == NULL)
        return 0;
    if (dst == NULL && len > 0) {
        p->owner->pbuf_stats.einval++;
        return 0;
    }
    if (offset > p->tot_len) {
        p->owner->pbuf_stats.erange++;
        return 0;
    }
    uint32_t n = min_u32(len, p->tot_len - offset);
    if (n > 0)
        chain_read(p, offset, dst, n);
    return n;
}

us_status us_pbuf_copy_partial_pbuf(us_pbuf *to, const us_pbuf *from, uint32_t len,
                                    uint32_t from_offset)
{
    if (to == NULL || from == NULL) {
        count_einval(to, from);
        return US_EINVAL;
    }
    if (from_offset > from->tot_len || len > from->tot_len - from_offset) {
        from->owner->pbuf_stats.erange++;
        return US_ERANGE;
    }
    if (to->tot_len < len) {
        to->owner->pbuf_stats.ebuf++;
        return US_EBUF;
    }
    chain_copy(to, 0, from, from_offset, len);
    return US_OK;
}

us_status us_pbuf_take_at(us_pbuf *p, const void *data, uint32_t len, uint32_t offset)
{
    if (p == NULL)
        return US_EINVAL;
    if (data == NULL && len > 0) {
        p->owner->pbuf_stats.einval++;
        return US_EINVAL;
    }
    if (offset > p->tot_len || len > p->tot_len - offset) {
        p->owner->pbuf_stats.ebuf++;
        return US_EBUF;
    }
    /* All in the first segment (a NIC's RX copy): no chain walk, and with chain_write kept out of
     * line, no registers to save. */
    if (offset <= p->len && len <= p->len - offset)
        memcpy((uint8_t *)p->payload + offset, data, len);
    else
        chain_write(p, offset, data, len);
    return US_OK;
}

us_status us_pbuf_take(us_pbuf *p, const void *data, uint32_t len)
{
    return us_pbuf_take_at(p, data, len, 0);
}

int us_pbuf_get_at(const us_pbuf *p, uint32_t offset)
{
    if (p == NULL)
        return US_EINVAL;
    if (offset >= p->tot_len) {
        p->owner->pbuf_stats.erange++;
        return US_ERANGE;
    }
    const us_pbuf *q = p;
    while (offset >= q->len) {
        offset -= q->len;
        q = q->next;
    }
    return ((const uint8_t *)q->payload)[offset];
}

us_status us_pbuf_put_at(us_pbuf *p, uint32_t offset, uint8_t value)
{
    if (p == NULL)
        return US_EINVAL;
    if (offset >= p->tot_len) {
        p->owner->pbuf_stats.erange++;
        return US_ERANGE;
    }
    us_pbuf *q = p;
    while (offset >= q->len) {
        offset -= q->len;
        q = q->next;
    }
    ((uint8_t *)q->payload)[offset] = value;
    return US_OK;
}

uint32_t us_pbuf_memcmp(const us_pbuf *p, uint32_t offset, const void *s, uint32_t n)
{
    if (p == NULL)
        return UINT32_MAX;
    if (s == NULL && n > 0) {
        p->owner->pbuf_stats.einval++;
        return UINT32_MAX;
    }
    if (offset > p->tot_len || n > p->tot_len - offset) {
        p->owner->pbuf_stats.erange++;
        return UINT32_MAX;
    }
    return chain_cmp(p, offset, s, n);
}

uint32_t us_pbuf_memfind(const us_pbuf *p, const void *mem, uint32_t mem_len, uint32_t start)
{
    if (p == NULL)
        return UINT32_MAX;
    if (mem == NULL && mem_len > 0) {
        p->owner->pbuf_stats.einval++;
        return UINT32_MAX;
    }
    if (start > p->tot_len) {
        p->owner->pbuf_stats.erange++;
        return UINT32_MAX;
    }
    if (mem_len > p->tot_len - start)
        return UINT32_MAX; /* not found; not an error */
    if (mem_len == 0)
        return start;
    const uint8_t *m = mem;
    uint32_t last = p->tot_len - mem_len; /* last offset a match can start at */
    uint32_t base = 0;                    /* offset of q's first byte */
    for (const us_pbuf *q = p; q != NULL && base <= last; base += q->len, q = q->next) {
        if (start >= base + q->len)
            continue;
        const uint8_t *d = q->payload;
        uint32_t i = start > base ? start - base : 0;
        uint32_t end = min_u32(q->len, last - base + 1);
        while (i < end) {
            const uint8_t *hit = memchr(d + i, m[0], end - i);
            if (hit == NULL)
                break;
            i = (uint32_t)(hit - d);
            if (chain_cmp(q, i + 1, m + 1, mem_len - 1) == 0)
                return base + i;
            i++;
        }
    }
    return UINT32_MAX;
}

void *us_pbuf_get_contiguous(const us_pbuf *p, void *buffer, size_t bufsize, uint32_t len,
                             uint32_t offset)
{
    if (p == NULL)
        return NULL;
    /* As lwIP: the buffer must be usable even when the bytes turn out to be contiguous. */
    if (buffer == NULL) {
        p->owner->pbuf_stats.einval++;
        return NULL;
    }
    if (bufsize < len) {
        p->owner->pbuf_stats.ebuf++;
        return NULL;
    }
    if (offset > p->tot_len || len > p->tot_len - offset) {
        p->owner->pbuf_stats.erange++;
        return NULL;
    }
    if (len == 0)
        return buffer;
    const us_pbuf *q = p;
    while (offset >= q->len) {
        offset -= q->len;
        q = q->next;
    }
    if (q->len - offset >= len)
        return (uint8_t *)q->payload + offset;
    chain_read(q, offset, buffer, len);
    return buffer;
}

/* ---- resizing and reshaping ---- */

us_status us_pbuf_realloc(us_pbuf *p, uint32_t new_len)
{
    if (p == NULL)
        return US_EINVAL;
    if (new_len > p->tot_len) {
        p->owner->pbuf_stats.einval++;
        return US_EINVAL;
    }
    if (new_len == p->tot_len)
        return US_OK;
    uint32_t shrink = p->tot_len - new_len;
    uint32_t rem = new_len;
    us_pbuf *q = p;
    while (rem > q->len) {
        rem -= q->len;
        q->tot_len -= shrink;
        q = q->next;
    }
    /* q is the new last segment and keeps rem bytes; only a RAM block can give memory back. */
    if (q->type == US_PBUF_RAM && rem != q->len)
        (void)us_heap_trim(&q->owner->heap, q,
                           (size_t)((uint8_t *)q->payload - (uint8_t *)q) + rem);
    q->len = rem;
    q->tot_len = rem;
    us_pbuf *rest = q->next;
    q->next = NULL;
    if (rest != NULL)
        (void)us_pbuf_free(rest);
    return US_OK;
}

us_pbuf *us_pbuf_clone(us_bufs *b, us_pbuf_layer layer, us_pbuf_type type, const us_pbuf *p)
{
    if (p == NULL || b == NULL) {
        if (b != NULL)
            b->pbuf_stats.einval++;
        else if (p != NULL)
            p->owner->pbuf_stats.einval++;
        return NULL;
    }
    /* Only types that carry their own data memory can hold a copy. */
    if (type != US_PBUF_RAM && type != US_PBUF_POOL) {
        b->pbuf_stats.einval++;
        return NULL;
    }
    us_pbuf *q = us_pbuf_alloc(b, layer, p->tot_len, type);
    if (q == NULL)
        return NULL;
    chain_copy(q, 0, p, 0, p->tot_len);
    q->flags = p->flags;
    return q;
}

us_pbuf *us_pbuf_coalesce(us_pbuf *p, us_pbuf_layer layer)
{
    if (p == NULL || p->next == NULL)
        return p;
    us_pbuf *q = us_pbuf_clone(p->owner, layer, US_PBUF_RAM, p);
    if (q == NULL)
        return p;
    (void)us_pbuf_free(p);
    return q;
}

static us_status pbuf_add_header_impl(us_pbuf *p, uint32_t size, int force)
{
    if (p == NULL)
        return US_EINVAL;
    if (size == 0)
        return US_OK;
    us_bufs *b = p->owner;
    if (size > PBUF_MAX_LEN - p->tot_len) {
        b->pbuf_stats.einval++;
        return US_EINVAL;
    }
    uint8_t *payload = p->payload;
    switch ((us_pbuf_type)p->type) {
    case US_PBUF_RAM:
    case US_PBUF_POOL: {
        /* The room is what lies between the struct and the payload of this block (none in a
         * POOL segment after the first). */
        size_t room = (size_t)(payload - ((uint8_t *)p + PBUF_STRUCT));
        if (size > room) {
            b->pbuf_stats.ebuf++;
            return US_EBUF;
        }
        break;
    }
    case US_PBUF_CUSTOM: {
        const uint8_t *mem = ((const us_pbuf_custom *)(const void *)p)->mem;
        size_t room = (mem != NULL && payload != NULL) ? (size_t)(payload - mem) : 0;
        if (size > room) {
            b->pbuf_stats.ebuf++;
            return US_EBUF;
        }
        break;
    }
    case US_PBUF_ROM:
    case US_PBUF_REF:
        /* No room of ours in front of foreign memory, unless the caller vouches for it. */
        if (!force || payload == NULL || (uintptr_t)payload < size) {
            b->pbuf_stats.einval++;
            return US_EINVAL;
        }
        break;
    default:
        b->pbuf_stats.einval++;
        return US_EINVAL;
    }
    p->payload = payload - size;
    p->len += size;
    p->tot_len += size;
    return US_OK;
}

us_status us_pbuf_add_header(us_pbuf *p, uint32_t size)
{
    return pbuf_add_header_impl(p, size, 0);
}

us_status us_pbuf_add_header_force(us_pbuf *p, uint32_t size)
{
    return pbuf_add_header_impl(p, size, 1);
}

us_status us_pbuf_remove_header(us_pbuf *p, uint32_t size)
{
    if (p == NULL)
        return US_EINVAL;
    if (size == 0)
        return US_OK;
    if (size > p->len) {
        p->owner->pbuf_stats.ebuf++;
        return US_EBUF;
    }
    p->payload = (uint8_t *)p->payload + size;
    p->len -= size;
    p->tot_len -= size;
    return US_OK;
}

us_pbuf *us_pbuf_free_header(us_pbuf *q, uint32_t size)
{
    if (q == NULL)
        return NULL;
    if (size > q->tot_len) {
        q->owner->pbuf_stats.erange++;
        return q;
    }
    us_pbuf *p = q;
    uint32_t left = size;
    while (left > 0) {
        if (left >= p->len) {
            /* The whole segment goes; the rest inherits the reference it held. */
            us_pbuf *f = p;
            left -= p->len;
            p = p->next;
            f->next = NULL;
            f->tot_len = f->len;
            (void)us_pbuf_free(f);
        } else {
            p->payload = (uint8_t *)p->payload + left;
            p->len -= left;
            p->tot_len -= left;
            left = 0;
        }
    }
    return p;
}
