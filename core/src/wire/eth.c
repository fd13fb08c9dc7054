/* Ethernet II parse and emit, with VLAN tag stripping. */
#include "ustack/wire/eth.h"

#include <string.h>

#include "ustack/wire/bytes.h"
#include "wire/check.h"

us_wire_err us_eth_parse(us_eth_repr *r, const uint8_t *buf, size_t len, size_t *hdr_len)
{
    uint16_t type;
    uint32_t hl;
    us_wire_err e = us__eth_check(buf, len, &type, &hl);
    if (e != US_WIRE_OK)
        return e;
    memcpy(r->dst, buf, US_ETH_ADDR_LEN);
    memcpy(r->src, buf + US_ETH_ADDR_LEN, US_ETH_ADDR_LEN);
    r->ethertype = type;
    r->vlan_tags = (uint8_t)((hl - US_ETH_HDR_LEN) / US_ETH_VLAN_TAG_LEN);
    *hdr_len = hl;
    return US_WIRE_OK;
}

size_t us_eth_emit(const us_eth_repr *r, uint8_t *buf)
{
    memcpy(buf, r->dst, US_ETH_ADDR_LEN);
    memcpy(buf + US_ETH_ADDR_LEN, r->src, US_ETH_ADDR_LEN);
    us_put_be16(buf + 2 * US_ETH_ADDR_LEN, r->ethertype);
    return US_ETH_HDR_LEN;
}
