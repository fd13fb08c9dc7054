/* ARP (Ethernet/IPv4) parse and emit. Layout: htype(2) ptype(2) hlen(1) plen(1) op(2) sha(6)
 * spa(4) tha(6) tpa(4). */
#include "ustack/wire/arp.h"

#include <string.h>

#include "ustack/wire/bytes.h"

us_wire_err us_arp_parse(us_arp_repr *r, const uint8_t *buf, size_t len)
{
    if (len < US_ARP_FIXED_LEN)
        return US_WIRE_TRUNCATED;
    if (us_get_be16(buf) != US_ARP_HTYPE_ETHERNET || us_get_be16(buf + 2) != US_ETHERTYPE_IPV4 ||
        buf[4] != US_ETH_ADDR_LEN || buf[5] != 4)
        return US_WIRE_UNSUPPORTED;
    if (len < US_ARP_LEN)
        return US_WIRE_TRUNCATED;
    r->op = us_get_be16(buf + 6);
    memcpy(r->sha, buf + 8, US_ETH_ADDR_LEN);
    r->spa = us_get_be32(buf + 14);
    memcpy(r->tha, buf + 18, US_ETH_ADDR_LEN);
    r->tpa = us_get_be32(buf + 24);
    return US_WIRE_OK;
}

size_t us_arp_emit(const us_arp_repr *r, uint8_t *buf)
{
    us_put_be16(buf, US_ARP_HTYPE_ETHERNET);
    us_put_be16(buf + 2, US_ETHERTYPE_IPV4);
    buf[4] = US_ETH_ADDR_LEN;
    buf[5] = 4;
    us_put_be16(buf + 6, r->op);
    memcpy(buf + 8, r->sha, US_ETH_ADDR_LEN);
    us_put_be32(buf + 14, r->spa);
    memcpy(buf + 18, r->tha, US_ETH_ADDR_LEN);
    us_put_be32(buf + 24, r->tpa);
    return US_ARP_LEN;
}
