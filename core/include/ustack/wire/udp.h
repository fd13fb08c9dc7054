/* libustack wire: UDP headers (RFC 768). Parse checks the length field against the bytes delivered
 * (trailing bytes beyond it are ignored) and the checksum over the IPv4 pseudo-header unless it is
 * zero ("no checksum"). Emit writes only the 8-byte header: the payload may live elsewhere or in a
 * chain, so the caller passes its partial sum. */
#ifndef USTACK_WIRE_UDP_H
#define USTACK_WIRE_UDP_H

#include "ustack/wire/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define US_UDP_HDR_LEN 8u

typedef struct us_udp_repr {
    uint16_t src_port;
    uint16_t dst_port;
    const uint8_t *payload; /* parse: into the parsed buffer; emit: unused */
    size_t payload_len;     /* length field - 8 */
} us_udp_repr;

/* Parse the UDP datagram at buf[0, len) (the IPv4 payload) sent from src_ip to dst_ip (host order;
 * for the pseudo-header). flags: US_WIRE_SKIP_CSUM. A zero checksum field is never verified.
 * Returns US_WIRE_OK, US_WIRE_TRUNCATED (len < 8), US_WIRE_BAD_LENGTH (length field < 8 or > len)
 * or US_WIRE_BAD_CHECKSUM. Reads nothing beyond buf[len); on error *r is unspecified. */
us_wire_err us_udp_parse(us_udp_repr *r, const uint8_t *buf, size_t len, uint32_t src_ip,
                         uint32_t dst_ip, unsigned flags);

/* Write the 8-byte header of r to hdr (room for US_UDP_HDR_LEN bytes): ports, length
 * 8 + r->payload_len (which must be <= 65527), and the checksum over the pseudo-header, the header
 * and the payload, whose partial sum the caller gives as payload_sum (us_csum_partial over the
 * payload, segments merged with us_csum_combine at offsets counted from the payload's start; 0 for
 * no payload). A computed checksum of 0 is sent as 0xFFFF (0 means "none"). The payload itself is
 * not touched; r->payload is ignored. Returns US_UDP_HDR_LEN. */
size_t us_udp_emit(const us_udp_repr *r, uint8_t *hdr, uint32_t src_ip, uint32_t dst_ip,
                   uint32_t payload_sum);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_WIRE_UDP_H */
