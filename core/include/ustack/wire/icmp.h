/* libustack wire: ICMPv4 messages (RFC 792). Every message is an 8-byte header (type, code,
 * checksum, one "rest of header" word) followed by data; the repr names the parts the stack uses:
 * echo request/reply carry ident, seq and echo data; destination unreachable and time exceeded
 * carry the original datagram's header and first bytes as data. Other types come through
 * generically (type, code, rest word, data). The checksum covers the whole message. */
#ifndef USTACK_WIRE_ICMP_H
#define USTACK_WIRE_ICMP_H

#include "ustack/wire/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define US_ICMP_HDR_LEN 8u

#define US_ICMP_ECHO_REPLY 0u
#define US_ICMP_DEST_UNREACH 3u
#define US_ICMP_ECHO_REQUEST 8u
#define US_ICMP_TIME_EXCEEDED 11u

/* Destination unreachable codes. */
#define US_ICMP_UNREACH_NET 0u
#define US_ICMP_UNREACH_HOST 1u
#define US_ICMP_UNREACH_PROTO 2u
#define US_ICMP_UNREACH_PORT 3u
#define US_ICMP_UNREACH_FRAG_NEEDED 4u /* next-hop MTU in rest & 0xFFFF (RFC 1191) */
/* Time exceeded codes. */
#define US_ICMP_TIME_TTL 0u
#define US_ICMP_TIME_REASSEMBLY 1u

typedef struct us_icmp_repr {
    uint8_t type;
    uint8_t code;
    /* Bytes 4..8 of the header as one word: set by parse for every type; emitted for every type
     * except echo, whose word is built from ident and seq. */
    uint32_t rest;
    uint16_t ident; /* echo request/reply: identifier (parse leaves 0 for other types) */
    uint16_t seq;   /* echo request/reply: sequence number (parse leaves 0 for other types) */
    /* Everything after the header: echo data; for destination unreachable and time exceeded the
     * embedded original IP header + leading payload bytes (its total length usually exceeds what is
     * quoted). Parse points into the parsed buffer. */
    const uint8_t *data;
    size_t data_len;
} us_icmp_repr;

/* Parse the ICMP message at buf[0, len), len being exactly the message length (the IPv4 payload
 * length, without link padding: the checksum covers len bytes). flags: US_WIRE_SKIP_CSUM.
 * Returns US_WIRE_OK, US_WIRE_TRUNCATED (len < 8) or US_WIRE_BAD_CHECKSUM. Reads nothing beyond
 * buf[len); on error *r is unspecified. */
us_wire_err us_icmp_parse(us_icmp_repr *r, const uint8_t *buf, size_t len, unsigned flags);

/* Write the whole message of r to buf (room for US_ICMP_HDR_LEN + r->data_len bytes): header, a
 * copy of r->data (which may already sit at buf + 8, or overlap buf in any way), checksum.
 * Returns US_ICMP_HDR_LEN + r->data_len. */
size_t us_icmp_emit(const us_icmp_repr *r, uint8_t *buf);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_WIRE_ICMP_H */
