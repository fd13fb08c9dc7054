/* libustack wire: Ethernet II headers. Parsing strips up to two stacked VLAN tags (802.1Q 0x8100,
 * 802.1ad 0x88a8, and the pre-standard QinQ 0x9100) and reports the inner ethertype; an unknown
 * ethertype is not an error here (the caller drops and counts it). Emit writes an untagged
 * header. */
#ifndef USTACK_WIRE_ETH_H
#define USTACK_WIRE_ETH_H

#include "ustack/wire/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define US_ETH_ADDR_LEN 6u
#define US_ETH_HDR_LEN 14u     /* untagged header */
#define US_ETH_VLAN_TAG_LEN 4u /* one TPID + TCI */
#define US_ETH_MAX_VLAN_TAGS 2u

#define US_ETHERTYPE_IPV4 0x0800u
#define US_ETHERTYPE_ARP 0x0806u
#define US_ETHERTYPE_IPV6 0x86DDu
#define US_ETHERTYPE_VLAN 0x8100u     /* 802.1Q C-tag */
#define US_ETHERTYPE_QINQ 0x88A8u     /* 802.1ad S-tag */
#define US_ETHERTYPE_QINQ_OLD 0x9100u /* pre-standard S-tag */

typedef struct us_eth_repr {
    uint8_t dst[US_ETH_ADDR_LEN];
    uint8_t src[US_ETH_ADDR_LEN];
    uint16_t ethertype; /* after any VLAN tags */
    uint8_t vlan_tags;  /* tags stripped, 0..US_ETH_MAX_VLAN_TAGS */
} us_eth_repr;

/* Parse the header at buf[0, len) into *r, and the payload offset (14 + 4 per tag) into *hdr_len.
 * Returns US_WIRE_OK, US_WIRE_TRUNCATED (len < 14, or a tag announced but not all of it plus the
 * next ethertype present) or US_WIRE_BAD_VLAN (a third tag). Reads nothing beyond buf[len); on
 * error *r and *hdr_len are unspecified. */
us_wire_err us_eth_parse(us_eth_repr *r, const uint8_t *buf, size_t len, size_t *hdr_len);

/* Write the untagged 14-byte header of r to buf (room for US_ETH_HDR_LEN bytes); r->vlan_tags is
 * ignored. Returns US_ETH_HDR_LEN. */
size_t us_eth_emit(const us_eth_repr *r, uint8_t *buf);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_WIRE_ETH_H */
