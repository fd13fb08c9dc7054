/* Internal: us_csum_partial for data shorter than US__CSUM_SHORT_MAX bytes, inline. checksum.c
 * builds us_csum_partial on it (and its bulk loop on the rest), and the receive path's checks
 * (wire/check.h) inline it for a small datagram, which then costs no call: below 128 bytes the
 * straight-line code is cheaper than the bulk loop's call anyway. */
#ifndef USTACK_WIRE_CSUM_SHORT_H
#define USTACK_WIRE_CSUM_SHORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ustack/wire/checksum.h"

#define US__CSUM_SHORT_MAX 128u

static inline int us__csum_host_le(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1); /* a constant to the compiler */
    return first == 1;
}

static inline uint32_t us__csum_load32(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, sizeof(w));
    return w;
}

static inline uint64_t us__csum_load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
    return w;
}

/* The sum of p[0, len) for len < US__CSUM_SHORT_MAX, added to sum with end-around carry: by the
 * binary digits of len, straight-line, one 64-bit word per add (a loop here is one the compiler
 * vectorises, with a set-up that costs a 20-byte IPv4 header ~80 instructions). A host-order
 * 64-bit word is congruent modulo 0xFFFF to the sum of its four host-order 16-bit lanes
 * (2^16 = 1), and every load starts at an even offset of the data, so each byte stays in its
 * lane. */
static inline uint64_t us__csum_short(uint64_t sum, const uint8_t *p, size_t len)
{
    if (len & 64) {
        sum = us__csum_add64(sum, us__csum_load64(p));
        sum = us__csum_add64(sum, us__csum_load64(p + 8));
        sum = us__csum_add64(sum, us__csum_load64(p + 16));
        sum = us__csum_add64(sum, us__csum_load64(p + 24));
        sum = us__csum_add64(sum, us__csum_load64(p + 32));
        sum = us__csum_add64(sum, us__csum_load64(p + 40));
        sum = us__csum_add64(sum, us__csum_load64(p + 48));
        sum = us__csum_add64(sum, us__csum_load64(p + 56));
        p += 64;
    }
    if (len & 32) {
        sum = us__csum_add64(sum, us__csum_load64(p));
        sum = us__csum_add64(sum, us__csum_load64(p + 8));
        sum = us__csum_add64(sum, us__csum_load64(p + 16));
        sum = us__csum_add64(sum, us__csum_load64(p + 24));
        p += 32;
    }
    if (len & 16) {
        sum = us__csum_add64(sum, us__csum_load64(p));
        sum = us__csum_add64(sum, us__csum_load64(p + 8));
        p += 16;
    }
    if (len & 8) {
        sum = us__csum_add64(sum, us__csum_load64(p));
        p += 8;
    }
    if (len & 4) {
        sum = us__csum_add64(sum, us__csum_load32(p));
        p += 4;
    }
    if (len & 2) {
        uint16_t h;
        memcpy(&h, p, 2);
        sum = us__csum_add64(sum, h);
        p += 2;
    }
    if (len & 1) {
        /* The odd last byte is the first byte of a zero-padded 16-bit word, in host order. */
        uint8_t pad[2] = {p[0], 0};
        uint16_t h;
        memcpy(&h, pad, 2);
        sum = us__csum_add64(sum, h);
    }
    return sum;
}

/* The end of us_csum_partial: the 64-bit end-around sum of the data (host order) to a partial
 * sum, acc added. */
static inline uint32_t us__csum_finish_short(uint64_t sum, uint32_t acc)
{
    uint32_t s = us__csum_fold64(sum);
    /* Little-endian: the host-order sum is the byte swap of the network one. Modulo 0xFFFF a swap
     * is a multiplication by 256, which on a 32-bit value is a rotation by 8 (2^32 = 1), and a
     * rotation keeps zero zero: no fold needed first. */
    if (us__csum_host_le())
        s = (s << 8) | (s >> 24);
    return us_csum_fold(us__csum_add32(s, acc));
}

/* us_csum_partial(data, len, acc) for len < US__CSUM_SHORT_MAX. */
static inline uint32_t us__csum_partial_short(const void *data, size_t len, uint32_t acc)
{
    return us__csum_finish_short(us__csum_short(0, (const uint8_t *)data, len), acc);
}

#endif /* USTACK_WIRE_CSUM_SHORT_H */
