/* IPv4 header parse and emit. */
#include "ustack/wire/ipv4.h"

#include <assert.h>

#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "wire/check.h"

us_wire_err us_ipv4_parse(us_ipv4_repr *r, const uint8_t *buf, size_t len, unsigned flags)
{
    uint32_t hl, total;
    us_wire_err e = us__ipv4_check(buf, len, flags, &hl, &total);
    if (e != US_WIRE_OK)
        return e;
    uint16_t frag = us_get_be16(buf + 6);
    r->dscp_ecn = buf[1];
    r->ident = us_get_be16(buf + 4);
    r->dont_frag = (frag & US__IPV4_FLAG_DF) != 0;
    r->more_frags = (frag & US__IPV4_FLAG_MF) != 0;
    r->frag_offset = (uint16_t)((frag & US__IPV4_FRAG_MASK) * 8u);
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
    uint16_t frag = (uint16_t)((r->frag_offset / 8) & US__IPV4_FRAG_MASK);
    if (r->dont_frag)
        frag |= US__IPV4_FLAG_DF;
    if (r->more_frags)
        frag |= US__IPV4_FLAG_MF;
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
