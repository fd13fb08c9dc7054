/* Helpers shared by the wire tests: real frames decoded from frames.h, exact-size copies for
 * out-of-bounds detection (ASan flags any read past a malloc'd prefix), and a naive checksum. */
#ifndef STACKBENCH_WIRE_TEST_H
#define STACKBENCH_WIRE_TEST_H

#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "testutil.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/ipv4.h"

#define WT_MAX_FRAME 2048u

static inline uint8_t wt_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return (uint8_t)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (uint8_t)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (uint8_t)(c - 'A' + 10);
    fail_msg("bad hex digit '%c'", c);
    return 0;
}

/* Decode hex (spaces allowed between bytes) into out; returns the byte count. */
static inline size_t wt_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*hex) {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        assert_true(hex[1] != '\0');
        assert_true(n < cap);
        out[n++] = (uint8_t)((wt_nibble(hex[0]) << 4) | wt_nibble(hex[1]));
        hex += 2;
    }
    return n;
}

static inline const wire_frame *wt_find(const char *name)
{
    for (size_t i = 0; i < sizeof(wire_frames) / sizeof(wire_frames[0]); i++)
        if (strcmp(wire_frames[i].name, name) == 0)
            return &wire_frames[i];
    fail_msg("no frame named %s", name);
    return NULL;
}

/* The bytes of a named real frame into out (WT_MAX_FRAME bytes); returns its length. */
static inline size_t wt_frame(const char *name, uint8_t *out)
{
    return wt_hex(wt_find(name)->hex, out, WT_MAX_FRAME);
}

/* Offset of the network-layer header of a decoded frame (after Ethernet + tags, SLL, or none). */
static inline size_t wt_l3_offset(const wire_frame *f, const uint8_t *b, size_t len)
{
    switch (f->link) {
    case FRAME_SLL: return 16;
    case FRAME_RAW: return 0;
    case FRAME_ETH: break;
    }
    us_eth_repr eth;
    size_t hl = 0;
    assert_int_equal(us_eth_parse(&eth, b, len, &hl), US_WIRE_OK);
    return hl;
}

/* Decode a real IPv4 frame, parse its IPv4 header (checksum verified) and return the frame length;
 * *ip_off is where the IPv4 header starts. */
static inline size_t wt_ip_frame(const char *name, uint8_t *out, size_t *ip_off, us_ipv4_repr *ip)
{
    const wire_frame *f = wt_find(name);
    size_t len = wt_hex(f->hex, out, WT_MAX_FRAME);
    *ip_off = wt_l3_offset(f, out, len);
    assert_int_equal(us_ipv4_parse(ip, out + *ip_off, len - *ip_off, 0), US_WIRE_OK);
    return len;
}

/* A malloc'd copy of exactly n bytes (n may be 0): reading past it is an ASan error. */
static inline uint8_t *wt_dup(const uint8_t *src, size_t n)
{
    uint8_t *p = malloc(n);
    if (n)
        assert_non_null(p);
    if (n)
        memcpy(p, src, n);
    return p;
}

/* Byte-at-a-time ones-complement sum of b[0, n) as big-endian words, folded (not complemented). */
static inline uint16_t wt_naive_fold(const uint8_t *b, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (i & 1) ? b[i] : (uint64_t)b[i] << 8;
    while (s >> 16)
        s = (s & 0xFFFFu) + (s >> 16);
    return (uint16_t)s;
}

static inline void wt_fill_random(us_test_rng *rng, uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)us_test_rand(rng);
}

#endif
