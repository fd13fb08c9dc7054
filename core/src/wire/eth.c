/* Ethernet II parse and emit, with VLAN tag stripping. */
#include "ustack/wire/eth.h"

#include <string.h>

#include "ustack/wire/bytes.h"

static int is_vlan_tpid(uint16_t t)
{
    return t == US_ETHERTYPE_VLAN || t == US_ETHERTYPE_QINQ || t == US_ETHERTYPE_QINQ_OLD;
}

us_wire_err us_eth_parse(us_eth_repr *r, const uint8_t *buf, size_t len, size_t *hdr_len)
{
    if (len < US_ETH_HDR_LEN)
        return US_WIRE_TRUNCATED;
    memcpy(r->dst, buf, US_ETH_ADDR_LEN);
    memcpy(r->src, buf + US_ETH_ADDR_LEN, US_ETH_ADDR_LEN);
    /* off is where the current ethertype/TPID field starts; a tag moves it 4 bytes on. */
    size_t off = 2 * US_ETH_ADDR_LEN;
    uint16_t type = us_get_be16(buf + off);
    uint8_t tags = 0;
    while (is_vlan_tpid(type)) {
        if (tags == US_ETH_MAX_VLAN_TAGS)
            return US_WIRE_BAD_VLAN;
        if (len < off + US_ETH_VLAN_TAG_LEN + 2)
            return US_WIRE_TRUNCATED;
        off += US_ETH_VLAN_TAG_LEN;
        type = us_get_be16(buf + off);
        tags++;
    }
    r->ethertype = type;
    r->vlan_tags = tags;
    *hdr_len = off + 2;
    return US_WIRE_OK;
}

size_t us_eth_emit(const us_eth_repr *r, uint8_t *buf)
{
    memcpy(buf, r->dst, US_ETH_ADDR_LEN);
    memcpy(buf + US_ETH_ADDR_LEN, r->src, US_ETH_ADDR_LEN);
    us_put_be16(buf + 2 * US_ETH_ADDR_LEN, r->ethertype);
    return US_ETH_HDR_LEN;
}
