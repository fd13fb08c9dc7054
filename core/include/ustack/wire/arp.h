/* libustack wire: ARP for IPv4 over Ethernet (RFC 826) — the only kind the stack speaks. Any other
 * hardware or protocol type is refused as US_WIRE_UNSUPPORTED. The operation is reported as is;
 * deciding what to do with an unknown one is the ARP module's business. */
#ifndef USTACK_WIRE_ARP_H
#define USTACK_WIRE_ARP_H

#include "ustack/wire/eth.h"

#ifdef __cplusplus
extern "C" {
#endif

#define US_ARP_LEN 28u /* Ethernet/IPv4 ARP message */
#define US_ARP_FIXED_LEN 8u /* htype, ptype, hlen, plen, op */
#define US_ARP_HTYPE_ETHERNET 1u
#define US_ARP_OP_REQUEST 1u
#define US_ARP_OP_REPLY 2u

typedef struct us_arp_repr {
    uint16_t op;
    uint8_t sha[US_ETH_ADDR_LEN]; /* sender hardware address */
    uint32_t spa;                 /* sender protocol address, host order */
    uint8_t tha[US_ETH_ADDR_LEN]; /* target hardware address */
    uint32_t tpa;                 /* target protocol address, host order */
} us_arp_repr;

/* Parse the ARP message at buf[0, len) (Ethernet padding after 28 bytes is ignored).
 * Returns US_WIRE_OK; US_WIRE_TRUNCATED (len < 8, or < 28 for an Ethernet/IPv4 message);
 * US_WIRE_UNSUPPORTED (htype != 1, ptype != 0x0800, hlen != 6 or plen != 4). */
us_wire_err us_arp_parse(us_arp_repr *r, const uint8_t *buf, size_t len);

/* Write the 28-byte Ethernet/IPv4 ARP message of r to buf (room for US_ARP_LEN bytes).
 * Returns US_ARP_LEN. */
size_t us_arp_emit(const us_arp_repr *r, uint8_t *buf);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_WIRE_ARP_H */
