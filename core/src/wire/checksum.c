/* The Internet checksum over contiguous memory. 32-bit words are loaded with memcpy (any alignment,
 * no aliasing trouble) in host order and summed into a 64-bit accumulator, so carries are not
 * folded per word; the total is folded once at the end and byte-swapped on little-endian hosts
 * (the ones-complement sum commutes with byte swapping, RFC 1071 section 2(B)). */
#include "ustack/wire/checksum.h"

#include <string.h>

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static uint32_t load32(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, sizeof(w));
    return w;
}

/* Fold a 64-bit host-order sum to 16 bits with end-around carry. */
static uint32_t fold64(uint64_t s)
{
    s = (s & 0xFFFFFFFFu) + (s >> 32); /* <= 0x1FFFFFFFE */
    s = (s & 0xFFFFFFFFu) + (s >> 32); /* <= 0xFFFFFFFF */
    return us_csum_fold((uint32_t)s);
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof(w));
    return w;
}

/* Both 32-bit halves of a 64-bit load, added without carries lost (< 2^33). */
static inline uint64_t halves(uint64_t w)
{
    return (w & 0xFFFFFFFFu) + (w >> 32);
}

/* Host-order 16-bit-lane sum of p[0, len), folded to 16 bits. Four independent accumulators of
 * 32-bit halves: no carry chain between them, and the compiler can vectorise the loop. Measured
 * about 2x faster than summing 32-bit loads with two accumulators (bench: tcp_rx_segment spends a
 * third of its instructions here). */
static uint32_t sum_host_order(const uint8_t *p, size_t len)
{
    uint64_t sum = 0;
    /* Each accumulator gains < 2^33 per 32-byte round, so a block of 2^24 rounds (512 MiB) adds
     * < 2^57: fold between blocks and nothing overflows, whatever len is. */
    while (len >= 32) {
        size_t rounds = len / 32;
        if (rounds > ((size_t)1 << 24))
            rounds = (size_t)1 << 24;
        len -= rounds * 32;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        while (rounds--) {
            s0 += halves(load64(p));
            s1 += halves(load64(p + 8));
            s2 += halves(load64(p + 16));
            s3 += halves(load64(p + 24));
            p += 32;
        }
        sum = fold64(sum) + fold64(s0) + fold64(s1) + fold64(s2) + fold64(s3);
    }
    while (len >= 4) {
        sum += load32(p);
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t h;
        memcpy(&h, p, 2);
        sum += h;
        p += 2;
        len -= 2;
    }
    if (len) {
        /* The odd last byte is the first byte of a zero-padded 16-bit word, in host order. */
        uint8_t pad[2] = {p[0], 0};
        uint16_t h;
        memcpy(&h, pad, 2);
        sum += h;
    }
    return fold64(sum);
}

uint32_t us_csum_partial(const void *data, size_t len, uint32_t acc)
{
    uint32_t s = len ? sum_host_order((const uint8_t *)data, len) : 0;
    if (host_is_little_endian())
        s = ((s & 0xFFu) << 8) | (s >> 8);
    return fold64((uint64_t)acc + s);
}

uint16_t us_csum(const void *data, size_t len)
{
    return us_csum_finish(us_csum_partial(data, len, 0));
}
