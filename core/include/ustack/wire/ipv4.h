/* libustack wire: IPv4 headers (RFC 791). Parse checks version, header length, total length and
 * (unless told not to) the header checksum, and skips options without interpreting them. Bytes
 * after the total length are link padding (Ethernet pads to 60) and are ignored. Emit writes a
 * 20-byte header without options, checksum included. */
#ifndef USTACK_WIRE_IPV4_H
#define USTACK_WIRE_IPV4_H

#include "ustack/wire/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define US_IPV4_HDR_LEN 20u     /* without options */
#define US_IPV4_MAX_HDR_LEN 60u /* IHL 15 */
#define US_IPV4_MAX_LEN 65535u

#define US_IP_PROTO_ICMP 1u
#define US_IP_PROTO_TCP 6u
#define US_IP_PROTO_UDP 17u

typedef struct us_ipv4_repr {
    uint32_t src;         /* host order */
    uint32_t dst;         /* host order */
    uint8_t proto;
    uint8_t ttl;
    uint8_t dscp_ecn;     /* the whole second byte: DSCP << 2 | ECN */
    uint16_t ident;
    bool dont_frag;
    bool more_frags;
    uint16_t frag_offset; /* in bytes (a multiple of 8) */
    uint8_t header_len;   /* bytes, options included; the payload starts here. Set by parse. */
    uint16_t payload_len; /* total length - header_len */
} us_ipv4_repr;

/* Parse the IPv4 header at buf[0, len), len being what the link layer delivered (padding
 * included). The payload is buf[r->header_len, r->header_len + r->payload_len).
 * flags: US_WIRE_SKIP_CSUM to trust the header checksum (offload).
 * Returns US_WIRE_OK or, checked in this order: US_WIRE_TRUNCATED (len < 20),
 * US_WIRE_BAD_VERSION (not 4), US_WIRE_BAD_IHL (IHL < 5 or IHL * 4 > len),
 * US_WIRE_BAD_TOTAL_LEN (total length < IHL * 4 or > len), US_WIRE_BAD_CHECKSUM,
 * US_WIRE_BAD_FRAGMENT (fragment offset + payload length > 65535). Reads nothing beyond buf[len);
 * on error *r is unspecified. */
us_wire_err us_ipv4_parse(us_ipv4_repr *r, const uint8_t *buf, size_t len, unsigned flags);

/* Write the 20-byte header of r to buf (room for US_IPV4_HDR_LEN bytes): total length
 * 20 + r->payload_len (which must be <= 65515), no options (r->header_len is ignored), checksum
 * computed. r->frag_offset must be a multiple of 8. Returns US_IPV4_HDR_LEN. */
size_t us_ipv4_emit(const us_ipv4_repr *r, uint8_t *buf);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_WIRE_IPV4_H */
