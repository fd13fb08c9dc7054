/* UDP parse and emit. */
#include "ustack/wire/udp.h"

#include <assert.h>

#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/ipv4.h"
#include "wire/check.h"

us_wire_err us_udp_parse(us_udp_repr *r, const uint8_t *buf, size_t len, uint32_t src_ip,
                         uint32_t dst_ip, unsigned flags)
{
    uint32_t ulen;
    us_wire_err e = us__udp_check(buf, len, src_ip, dst_ip, flags, &ulen);
    if (e != US_WIRE_OK)
        return e;
    r->src_port = us_get_be16(buf);
    r->dst_port = us_get_be16(buf + 2);
    r->payload = buf + US_UDP_HDR_LEN;
    r->payload_len = ulen - US_UDP_HDR_LEN;
    return US_WIRE_OK;
}

size_t us_udp_emit(const us_udp_repr *r, uint8_t *hdr, uint32_t src_ip, uint32_t dst_ip,
                   uint32_t payload_sum)
{
    assert(r->payload_len <= 0xFFFFu - US_UDP_HDR_LEN);
    uint16_t ulen = (uint16_t)(US_UDP_HDR_LEN + r->payload_len);
    us_put_be16(hdr, r->src_port);
    us_put_be16(hdr + 2, r->dst_port);
    us_put_be16(hdr + 4, ulen);
    us_put_be16(hdr + 6, 0);
    uint32_t sum = us_csum_pseudo_ipv4(src_ip, dst_ip, US_IP_PROTO_UDP, ulen) +
                   us_csum_fold(payload_sum);
    uint16_t csum = us_csum_finish(us_csum_partial(hdr, US_UDP_HDR_LEN, sum));
    us_put_be16(hdr + 6, csum == 0 ? 0xFFFFu : csum);
    return US_UDP_HDR_LEN;
}
