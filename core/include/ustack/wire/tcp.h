/* libustack wire: TCP headers (RFC 9293) and the options the stack uses: MSS, window scale
 * (RFC 7323), SACK-permitted and SACK (RFC 2018), timestamps (RFC 7323). Parse walks the options
 * strictly inside the header — every option other than EOL and NOP must carry a length byte >= 2
 * that keeps it inside, so malformed options cannot loop or overrun — and skips unknown kinds.
 * Emit lays options out as Linux does (MSS; SACK-permitted + timestamps; NOP + window scale; NOP
 * NOP + SACK), every option group 4-byte aligned, so a Linux segment re-emits byte for byte. */
#ifndef USTACK_WIRE_TCP_H
#define USTACK_WIRE_TCP_H

#include "ustack/wire/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define US_TCP_HDR_LEN 20u     /* without options */
#define US_TCP_MAX_HDR_LEN 60u /* data offset 15 */
#define US_TCP_MAX_SACK 4u     /* SACK blocks an option can hold in 40 bytes */
#define US_TCP_MAX_WSCALE 14u  /* RFC 7323 2.3: larger shifts are taken as 14 */

/* Flag bits (byte 13 of the header). */
#define US_TCP_FIN 0x01u
#define US_TCP_SYN 0x02u
#define US_TCP_RST 0x04u
#define US_TCP_PSH 0x08u
#define US_TCP_ACK 0x10u
#define US_TCP_URG 0x20u
#define US_TCP_ECE 0x40u
#define US_TCP_CWR 0x80u

/* Option kinds. */
#define US_TCP_OPT_EOL 0u
#define US_TCP_OPT_NOP 1u
#define US_TCP_OPT_MSS 2u
#define US_TCP_OPT_WSCALE 3u
#define US_TCP_OPT_SACK_PERM 4u
#define US_TCP_OPT_SACK 5u
#define US_TCP_OPT_TS 8u

typedef struct us_tcp_sack_block {
    uint32_t left;  /* first sequence number of the block */
    uint32_t right; /* sequence number just past the block */
} us_tcp_sack_block;

typedef struct us_tcp_repr {
    uint16_t src_port;
    uint16_t dst_port;
    uint32_t seq;
    uint32_t ack;
    uint8_t flags;   /* US_TCP_FIN ... US_TCP_CWR */
    uint16_t window; /* raw field, not scaled */
    uint16_t urgent;
    /* Options; a field is meaningful only when its presence flag is set. */
    bool mss_present;
    uint16_t mss;
    bool wscale_present;
    uint8_t wscale; /* shift; parse clamps to US_TCP_MAX_WSCALE */
    bool sack_permitted;
    bool ts_present;
    uint32_t tsval;
    uint32_t tsecr;
    uint8_t sack_count; /* blocks in sack[], 0..US_TCP_MAX_SACK */
    us_tcp_sack_block sack[US_TCP_MAX_SACK];
    uint8_t header_len;     /* bytes, options included; set by parse (emit: us_tcp_header_len) */
    const uint8_t *payload; /* parse: into the parsed buffer; emit: unused */
    size_t payload_len;
} us_tcp_repr;

/* Parse the TCP segment at buf[0, len), len being exactly the segment length (the IPv4 payload
 * length: TCP has no length field of its own), sent from src_ip to dst_ip (host order).
 * flags: US_WIRE_SKIP_CSUM. Options: EOL ends the walk (what follows is padding); NOP is skipped;
 * any other kind needs a length byte >= 2 that keeps it inside the header; MSS must have length 4,
 * window scale 3, SACK-permitted 2, timestamps 10, SACK 2 + 8n with n = 1..4; other kinds are
 * skipped; a repeated option overwrites the earlier one.
 * Returns US_WIRE_OK or, in this order: US_WIRE_TRUNCATED (len < 20), US_WIRE_BAD_LENGTH
 * (len > 65535), US_WIRE_BAD_DATA_OFFSET (data offset < 5 or data offset * 4 > len),
 * US_WIRE_BAD_CHECKSUM, US_WIRE_BAD_OPTION. Reads nothing beyond buf[len); on error *r is
 * unspecified. */
us_wire_err us_tcp_parse(us_tcp_repr *r, const uint8_t *buf, size_t len, uint32_t src_ip,
                         uint32_t dst_ip, unsigned flags);

/* Header length, options included, that us_tcp_emit writes for r: 20 plus 4 for MSS, 12 for
 * timestamps (with SACK-permitted in its padding when both are present), 4 for SACK-permitted
 * alone, 4 for window scale, 4 + 8 per SACK block. SACK blocks that do not fit in the 40 option
 * bytes are left out, the last ones first (RFC 2018: the first block reports the most recent
 * data): with timestamps at most 3 fit, with timestamps, MSS and window scale at most 2. */
size_t us_tcp_header_len(const us_tcp_repr *r);

/* Write the header and options of r to hdr (room for us_tcp_header_len(r) bytes) with the
 * checksum over the pseudo-header, the header and the payload of r->payload_len bytes, whose
 * partial sum the caller gives as payload_sum (us_csum_partial over the payload, segments merged
 * with us_csum_combine at offsets counted from the payload's start; 0 for no payload).
 * hdr_len + r->payload_len must be <= 65535. r->header_len and r->payload are ignored; the payload
 * is not touched. Returns us_tcp_header_len(r). */
size_t us_tcp_emit(const us_tcp_repr *r, uint8_t *hdr, uint32_t src_ip, uint32_t dst_ip,
                   uint32_t payload_sum);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_WIRE_TCP_H */
