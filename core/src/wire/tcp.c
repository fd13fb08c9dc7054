/* TCP header and option parse and emit. */
#include "ustack/wire/tcp.h"

#include <assert.h>
#include <string.h>

#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/ipv4.h"

#define TCP_MAX_OPT_LEN (US_TCP_MAX_HDR_LEN - US_TCP_HDR_LEN) /* 40 */

/* Walk the option bytes p[0, n) into r, whose option fields are zero on entry. */
static us_wire_err parse_options(us_tcp_repr *r, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t kind = p[i];
        if (kind == US_TCP_OPT_EOL)
            break;
        if (kind == US_TCP_OPT_NOP) {
            i++;
            continue;
        }
        /* A length byte >= 2 that stays inside the header: the walk always advances and ends. */
        if (n - i < 2)
            return US_WIRE_BAD_OPTION;
        size_t olen = p[i + 1];
        if (olen < 2 || olen > n - i)
            return US_WIRE_BAD_OPTION;
        const uint8_t *v = p + i + 2;
        switch (kind) {
        case US_TCP_OPT_MSS:
            if (olen != 4)
                return US_WIRE_BAD_OPTION;
            r->mss_present = true;
            r->mss = us_get_be16(v);
            break;
        case US_TCP_OPT_WSCALE:
            if (olen != 3)
                return US_WIRE_BAD_OPTION;
            r->wscale_present = true;
            r->wscale = v[0] > US_TCP_MAX_WSCALE ? (uint8_t)US_TCP_MAX_WSCALE : v[0];
            break;
        case US_TCP_OPT_SACK_PERM:
            if (olen != 2)
                return US_WIRE_BAD_OPTION;
            r->sack_permitted = true;
            break;
        case US_TCP_OPT_TS:
            if (olen != 10)
                return US_WIRE_BAD_OPTION;
            r->ts_present = true;
            r->tsval = us_get_be32(v);
            r->tsecr = us_get_be32(v + 4);
            break;
        case US_TCP_OPT_SACK: {
            size_t blocks = (olen - 2) / 8;
            if ((olen - 2) % 8 != 0 || blocks == 0 || blocks > US_TCP_MAX_SACK)
                return US_WIRE_BAD_OPTION;
            for (size_t b = 0; b < blocks; b++) {
                r->sack[b].left = us_get_be32(v + 8 * b);
                r->sack[b].right = us_get_be32(v + 8 * b + 4);
            }
            r->sack_count = (uint8_t)blocks;
            break;
        }
        default: /* unknown kinds are skipped by their length */
            break;
        }
        i += olen;
    }
    return US_WIRE_OK;
}

us_wire_err us_tcp_parse(us_tcp_repr *r, const uint8_t *buf, size_t len, uint32_t src_ip,
                         uint32_t dst_ip, unsigned flags)
{
    if (len < US_TCP_HDR_LEN)
        return US_WIRE_TRUNCATED;
    if (len > US_IPV4_MAX_LEN)
        return US_WIRE_BAD_LENGTH;
    size_t hl = (size_t)(buf[12] >> 4) * 4;
    if (hl < US_TCP_HDR_LEN || hl > len)
        return US_WIRE_BAD_DATA_OFFSET;
    /* Checksum before options: a corrupted segment counts as a checksum failure. */
    if (!(flags & US_WIRE_SKIP_CSUM)) {
        uint32_t sum = us_csum_pseudo_ipv4(src_ip, dst_ip, US_IP_PROTO_TCP, (uint16_t)len);
        if (us_csum_finish(us_csum_partial(buf, len, sum)) != 0)
            return US_WIRE_BAD_CHECKSUM;
    }
    memset(r, 0, sizeof(*r));
    us_wire_err e = parse_options(r, buf + US_TCP_HDR_LEN, hl - US_TCP_HDR_LEN);
    if (e != US_WIRE_OK)
        return e;
    r->src_port = us_get_be16(buf);
    r->dst_port = us_get_be16(buf + 2);
    r->seq = us_get_be32(buf + 4);
    r->ack = us_get_be32(buf + 8);
    r->flags = buf[13];
    r->window = us_get_be16(buf + 14);
    r->urgent = us_get_be16(buf + 18);
    r->header_len = (uint8_t)hl;
    r->payload = buf + hl;
    r->payload_len = len - hl;
    return US_WIRE_OK;
}

/* Option bytes us_tcp_emit writes for r, and the SACK blocks among them. */
static size_t options_len(const us_tcp_repr *r, size_t *sack_blocks)
{
    size_t n = 0;
    if (r->mss_present)
        n += 4;
    if (r->ts_present)
        n += 12; /* (SACK-permitted | NOP NOP) + timestamps */
    else if (r->sack_permitted)
        n += 4; /* NOP NOP SACK-permitted */
    if (r->wscale_present)
        n += 4; /* NOP window scale */
    /* At most 20 bytes so far, so at least 2 blocks always fit. */
    size_t blocks = r->sack_count < US_TCP_MAX_SACK ? r->sack_count : US_TCP_MAX_SACK;
    size_t room = (TCP_MAX_OPT_LEN - n - 4) / 8;
    if (blocks > room)
        blocks = room;
    if (blocks)
        n += 4 + 8 * blocks; /* NOP NOP SACK */
    *sack_blocks = blocks;
    return n;
}

size_t us_tcp_header_len(const us_tcp_repr *r)
{
    size_t blocks;
    return US_TCP_HDR_LEN + options_len(r, &blocks);
}

size_t us_tcp_emit(const us_tcp_repr *r, uint8_t *hdr, uint32_t src_ip, uint32_t dst_ip,
                   uint32_t payload_sum)
{
    size_t blocks;
    size_t hl = US_TCP_HDR_LEN + options_len(r, &blocks);
    assert(hl + r->payload_len <= US_IPV4_MAX_LEN);
    us_put_be16(hdr, r->src_port);
    us_put_be16(hdr + 2, r->dst_port);
    us_put_be32(hdr + 4, r->seq);
    us_put_be32(hdr + 8, r->ack);
    hdr[12] = (uint8_t)((hl / 4) << 4);
    hdr[13] = r->flags;
    us_put_be16(hdr + 14, r->window);
    us_put_be16(hdr + 16, 0);
    us_put_be16(hdr + 18, r->urgent);

    uint8_t *p = hdr + US_TCP_HDR_LEN;
    if (r->mss_present) {
        p[0] = US_TCP_OPT_MSS;
        p[1] = 4;
        us_put_be16(p + 2, r->mss);
        p += 4;
    }
    if (r->ts_present) {
        if (r->sack_permitted) {
            p[0] = US_TCP_OPT_SACK_PERM;
            p[1] = 2;
        } else {
            p[0] = US_TCP_OPT_NOP;
            p[1] = US_TCP_OPT_NOP;
        }
        p[2] = US_TCP_OPT_TS;
        p[3] = 10;
        us_put_be32(p + 4, r->tsval);
        us_put_be32(p + 8, r->tsecr);
        p += 12;
    } else if (r->sack_permitted) {
        p[0] = US_TCP_OPT_NOP;
        p[1] = US_TCP_OPT_NOP;
        p[2] = US_TCP_OPT_SACK_PERM;
        p[3] = 2;
        p += 4;
    }
    if (r->wscale_present) {
        p[0] = US_TCP_OPT_NOP;
        p[1] = US_TCP_OPT_WSCALE;
        p[2] = 3;
        p[3] = r->wscale;
        p += 4;
    }
    if (blocks) {
        p[0] = US_TCP_OPT_NOP;
        p[1] = US_TCP_OPT_NOP;
        p[2] = US_TCP_OPT_SACK;
        p[3] = (uint8_t)(2 + 8 * blocks);
        p += 4;
        for (size_t b = 0; b < blocks; b++) {
            us_put_be32(p, r->sack[b].left);
            us_put_be32(p + 4, r->sack[b].right);
            p += 8;
        }
    }
    assert((size_t)(p - hdr) == hl);

    uint32_t sum = us_csum_pseudo_ipv4(src_ip, dst_ip, US_IP_PROTO_TCP,
                                       (uint16_t)(hl + r->payload_len)) +
                   us_csum_fold(payload_sum);
    us_put_be16(hdr + 16, us_csum_finish(us_csum_partial(hdr, hl, sum)));
    return hl;
}
