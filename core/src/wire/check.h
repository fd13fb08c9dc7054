/* Internal: the header checks of the receive path, inline. Each is exactly the validation of one
 * public parser (us_eth_parse, us_ipv4_parse, us_udp_parse), in the same order and with the same
 * results, but fills no repr: the stack's input reads the few fields it needs straight from the
 * header afterwards, and the parsers themselves are these checks plus the repr, so the rules are
 * written once. Like the parsers they read nothing beyond buf[len). */
#ifndef USTACK_WIRE_CHECK_H
#define USTACK_WIRE_CHECK_H

#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/udp.h"
#include "wire/csum_short.h"

#define US__IPV4_FLAG_DF 0x4000u
#define US__IPV4_FLAG_MF 0x2000u
#define US__IPV4_FRAG_MASK 0x1FFFu

/* us_eth_parse's checks: the ethertype after any VLAN tags into *type, the payload offset
 * (14 + 4 per tag) into *hdr_len. */
static inline us_wire_err us__eth_check(const uint8_t *buf, size_t len, uint16_t *type,
                                        uint32_t *hdr_len)
{
    if (len < US_ETH_HDR_LEN)
        return US_WIRE_TRUNCATED;
    /* off is where the current ethertype/TPID field starts; a tag moves it 4 bytes on. */
    uint32_t off = 2 * US_ETH_ADDR_LEN;
    uint16_t t = us_get_be16(buf + off);
    /* Every TPID is >= 0x8100 and IPv4 / ARP are below it: one compare for an untagged frame. */
    while (t >= US_ETHERTYPE_VLAN &&
           (t == US_ETHERTYPE_VLAN || t == US_ETHERTYPE_QINQ || t == US_ETHERTYPE_QINQ_OLD)) {
        if (off == 2 * US_ETH_ADDR_LEN + US_ETH_MAX_VLAN_TAGS * US_ETH_VLAN_TAG_LEN)
            return US_WIRE_BAD_VLAN;
        if (len < off + US_ETH_VLAN_TAG_LEN + 2)
            return US_WIRE_TRUNCATED;
        off += US_ETH_VLAN_TAG_LEN;
        t = us_get_be16(buf + off);
    }
    *type = t;
    *hdr_len = off + 2;
    return US_WIRE_OK;
}

/* us_ipv4_parse's checks, in its order: the header length (bytes) into *hl and the total length
 * into *total once they are known good. */
static inline us_wire_err us__ipv4_check(const uint8_t *buf, size_t len, unsigned flags,
                                         uint32_t *hl, uint32_t *total)
{
    if (len < US_IPV4_HDR_LEN)
        return US_WIRE_TRUNCATED;
    uint32_t vihl = buf[0], h = US_IPV4_HDR_LEN;
    if (vihl != 0x45) { /* 0x45, version 4 without options, needs no more checks: len >= 20 */
        if ((vihl >> 4) != 4)
            return US_WIRE_BAD_VERSION;
        h = (vihl & 0x0Fu) * 4;
        if (h < US_IPV4_HDR_LEN || h > len)
            return US_WIRE_BAD_IHL;
    }
    uint32_t t = us_get_be16(buf + 2);
    /* h <= len here, so this is h <= t <= len in one unsigned compare (t < h wraps). */
    if (t - h > len - h)
        return US_WIRE_BAD_TOTAL_LEN;
    /* Intact iff the header sums to 0xFFFF (us_csum(...) == 0); a byte swap keeps 0xFFFF. */
    if (!(flags & US_WIRE_SKIP_CSUM) &&
        (h == US_IPV4_HDR_LEN ? us__csum_hdr20_fold(buf) : us_csum_partial(buf, h, 0)) != 0xFFFFu)
        return US_WIRE_BAD_CHECKSUM;
    uint32_t frag_offset = (uint32_t)(us_get_be16(buf + 6) & US__IPV4_FRAG_MASK) * 8;
    if (frag_offset + (t - h) > US_IPV4_MAX_LEN)
        return US_WIRE_BAD_FRAGMENT;
    *hl = h;
    *total = t;
    return US_WIRE_OK;
}

/* us_udp_parse's checks: the length field into *ulen once it is known good. */
static inline us_wire_err us__udp_check(const uint8_t *buf, size_t len, uint32_t src_ip,
                                        uint32_t dst_ip, unsigned flags, uint32_t *ulen)
{
    if (len < US_UDP_HDR_LEN)
        return US_WIRE_TRUNCATED;
    uint32_t n = us_get_be16(buf + 4);
    if (n < US_UDP_HDR_LEN || n > len)
        return US_WIRE_BAD_LENGTH;
    if (!(flags & US_WIRE_SKIP_CSUM) && us_get_be16(buf + 6) != 0) {
        /* The pseudo-header (RFC 768) as a partial sum: each address as one 32-bit value is
         * congruent to the sum of its two 16-bit words modulo 0xFFFF, and us_csum_partial takes
         * any accumulator. Intact iff the whole sums to 0xFFFF (us_csum_partial folds to
         * [0, 0xFFFF]). */
        uint32_t sum = us__csum_add32(us__csum_add32(src_ip, dst_ip), US_IP_PROTO_UDP + n);
        sum = n < US__CSUM_SHORT_MAX ? us__csum_partial_short(buf, n, sum)
                                     : us_csum_partial(buf, n, sum);
        if (sum != 0xFFFFu)
            return US_WIRE_BAD_CHECKSUM;
    }
    *ulen = n;
    return US_WIRE_OK;
}

#endif /* USTACK_WIRE_CHECK_H */
