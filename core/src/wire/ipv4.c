/* IPv4 header parse and emit. */
#include "ustack/wire/ipv4.h"

#include <assert.h>

#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"

#define IPV4_FLAG_DF 0x4000u
#define IPV4_FLAG_MF 0x2000u
#define IPV4_FRAG_MASK 0x1FFFu

us_wire_err us_ipv4_parse(us_ipv4_repr *r, const uint8_t *buf, size_t len, unsigned flags)
{
    if (len < US_IPV4_HDR_LEN)
        return US_WIRE_TRUNCATED;
    if ((buf[0] >> 4) != 4)
        return US_WIRE_BAD_VERSION;
    size_t hl = (size_t)(buf[0] & 0x0Fu) * 4;
    if (hl < US_IPV4_HDR_LEN || hl > len)
        return US_WIRE_BAD_IHL;
    size_t total = us_get_be16(buf + 2);
    if (total < hl || total > len)
        return US_WIRE_BAD_TOTAL_LEN;
    if (!(flags & US_WIRE_SKIP_CSUM) &&
        (hl == US_IPV4_HDR_LEN ? us_csum_ipv4_hdr20(buf) : us_csum(buf, hl)) != 0)
        return US_WIRE_BAD_CHECKSUM;
    uint16_t frag = us_get_be16(buf + 6);
    size_t frag_offset = (size_t)(frag & IPV4_FRAG_MASK) * 8;
    if (frag_offset + (total - hl) > US_IPV4_MAX_LEN)
        return US_WIRE_BAD_FRAGMENT;

    r->dscp_ecn = buf[1];
    r->ident = us_get_be16(buf + 4);
    r->dont_frag = (frag & IPV4_FLAG_DF) != 0;
    r->more_frags = (frag & IPV4_FLAG_MF) != 0;
    r->frag_offset = (uint16_t)frag_offset;
    r->ttl = buf[8];
    r->proto = buf[9];
    r->src = us_get_be32(buf + 12);
    r->dst = us_get_be32(buf + 16);
    r->header_len = (uint8_t)hl;
    r->payload_len = (uint16_t)(total - hl);
    return US_WIRE_OK;
}

size_t us_ipv4_emit(const us_ipv4_repr *r, uint8_t *buf)
{
    assert(r->payload_len <= US_IPV4_MAX_LEN - US_IPV4_HDR_LEN);
    assert((r->frag_offset & 7u) == 0);
    uint16_t frag = (uint16_t)((r->frag_offset / 8) & IPV4_FRAG_MASK);
    if (r->dont_frag)
        frag |= IPV4_FLAG_DF;
    if (r->more_frags)
        frag |= IPV4_FLAG_MF;
    buf[0] = 0x45; /* version 4, IHL 5 */
    buf[1] = r->dscp_ecn;
    us_put_be16(buf + 2, (uint16_t)(US_IPV4_HDR_LEN + r->payload_len));
    us_put_be16(buf + 4, r->ident);
    us_put_be16(buf + 6, frag);
    buf[8] = r->ttl;
    buf[9] = r->proto;
    us_put_be16(buf + 10, 0);
    us_put_be32(buf + 12, r->src);
    us_put_be32(buf + 16, r->dst);
    us_put_be16(buf + 10, us_csum_ipv4_hdr20(buf));
    return US_IPV4_HDR_LEN;
}
