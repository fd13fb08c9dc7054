/* libustack wire: what every protocol parser shares — the reasons a frame is refused, and the parse
 * flags. Parsers return US_WIRE_OK or exactly one reason; the stack counts drops per reason, so the
 * values are small non-negative integers usable as an index into a counter array of
 * US_WIRE_ERR_COUNT entries (unlike us_status, which is negative for errors). */
#ifndef USTACK_WIRE_WIRE_H
#define USTACK_WIRE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum us_wire_err {
    US_WIRE_OK = 0,
    US_WIRE_TRUNCATED,       /* shorter than the fixed header (or a VLAN tag, or the ARP body) */
    US_WIRE_BAD_VLAN,        /* more than two stacked VLAN tags */
    US_WIRE_BAD_VERSION,     /* IPv4: version field is not 4 */
    US_WIRE_BAD_IHL,         /* IPv4: header length below 20 bytes or beyond the frame */
    US_WIRE_BAD_TOTAL_LEN,   /* IPv4: total length below the header length or beyond the frame */
    US_WIRE_BAD_FRAGMENT,    /* IPv4: fragment offset + payload length beyond 65535 */
    US_WIRE_BAD_CHECKSUM,    /* IPv4 header, ICMP, UDP or TCP checksum does not verify */
    US_WIRE_BAD_DATA_OFFSET, /* TCP: data offset below 5 words or beyond the segment */
    US_WIRE_BAD_OPTION,      /* TCP: option past the header, length 0 or 1, wrong length for kind */
    US_WIRE_BAD_LENGTH,      /* UDP: length field < 8 or past the datagram; TCP: segment > 65535 */
    US_WIRE_UNSUPPORTED,     /* well-formed but not handled: ARP other than Ethernet/IPv4 */
    US_WIRE_ERR_COUNT        /* number of values, for counter arrays */
} us_wire_err;

/* "US_WIRE_TRUNCATED: shorter than the fixed header", ...; never NULL. */
const char *us_wire_err_str(us_wire_err e);

/* Parse flags (bitwise or). */
#define US_WIRE_SKIP_CSUM 0x1u /* do not verify checksums: the device did (checksum offload) */

#ifdef __cplusplus
}
#endif

#endif /* USTACK_WIRE_WIRE_H */
