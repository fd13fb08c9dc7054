/* Internal: a byte ring over caller memory, with reads at an offset from the head so TCP can
 * (re)transmit any unacknowledged byte without copying it out first. Capacity is any size; head
 * and length are kept, so full and empty are unambiguous. */
#ifndef USTACK_RING_H
#define USTACK_RING_H

#include <stdint.h>
#include <string.h>

typedef struct us_ring {
    uint8_t *buf;
    uint32_t cap;
    uint32_t head; /* index of the oldest byte */
    uint32_t len;  /* bytes stored */
} us_ring;

static inline void us__ring_init(us_ring *r, uint8_t *buf, uint32_t cap)
{
    r->buf = buf;
    r->cap = cap;
    r->head = 0;
    r->len = 0;
}

static inline uint32_t us__ring_free(const us_ring *r)
{
    return r->cap - r->len;
}

/* Append up to n bytes; returns the number appended. */
static inline uint32_t us__ring_write(us_ring *r, const void *data, uint32_t n)
{
    uint32_t room = r->cap - r->len;
    if (n > room)
        n = room;
    uint32_t tail = r->head + r->len;
    if (tail >= r->cap)
        tail -= r->cap;
    if (n <= r->cap - tail) {
        /* One piece, the common case: with a constant n (a datagram record) the copy inlines. */
        memcpy(r->buf + tail, data, n);
    } else {
        uint32_t first = r->cap - tail;
        memcpy(r->buf + tail, data, first);
        memcpy(r->buf, (const uint8_t *)data + first, n - first);
    }
    r->len += n;
    return n;
}

/* Append hn bytes of hdr then n bytes of data; the caller checked that hn + n fit. When both lie
 * before the end of the buffer (the common case) the tail is computed once and the two copies
 * are adjacent; otherwise two ordinary writes. */
static inline void us__ring_write_rec(us_ring *r, const void *hdr, uint32_t hn, const void *data,
                                      uint32_t n)
{
    uint32_t tail = r->head + r->len;
    if (tail >= r->cap)
        tail -= r->cap;
    if (hn + n <= r->cap - tail) {
        uint8_t *at = r->buf + tail;
        memcpy(at, hdr, hn);
        memcpy(at + hn, data, n);
        r->len += hn + n;
        return;
    }
    (void)us__ring_write(r, hdr, hn);
    (void)us__ring_write(r, data, n);
}

/* Copy n bytes starting `off` bytes after the head into dst, without consuming them. The caller
 * guarantees off + n <= len. */
static inline void us__ring_peek(const us_ring *r, uint32_t off, void *dst, uint32_t n)
{
    uint32_t at = r->head + off;
    if (at >= r->cap)
        at -= r->cap;
    if (n <= r->cap - at) {
        memcpy(dst, r->buf + at, n);
    } else {
        uint32_t first = r->cap - at;
        memcpy(dst, r->buf + at, first);
        memcpy((uint8_t *)dst + first, r->buf, n - first);
    }
}

/* Drop n <= len bytes from the head. */
static inline void us__ring_consume(us_ring *r, uint32_t n)
{
    r->head += n;
    if (r->head >= r->cap)
        r->head -= r->cap;
    r->len -= n;
    if (r->len == 0)
        r->head = 0; /* keep data contiguous when we can: cheaper peeks and writes */
}

/* Read and consume up to n bytes; returns the number read. */
static inline uint32_t us__ring_read(us_ring *r, void *dst, uint32_t n)
{
    if (n > r->len)
        n = r->len;
    us__ring_peek(r, 0, dst, n);
    us__ring_consume(r, n);
    return n;
}

#endif /* USTACK_RING_H */
