/* Names of the wire parse errors. */
#include "ustack/wire/wire.h"

const char *us_wire_err_str(us_wire_err e)
{
    switch (e) {
    case US_WIRE_OK: return "US_WIRE_OK: parsed";
    case US_WIRE_TRUNCATED: return "US_WIRE_TRUNCATED: shorter than the fixed header";
    case US_WIRE_BAD_VLAN: return "US_WIRE_BAD_VLAN: more than two VLAN tags";
    case US_WIRE_BAD_VERSION: return "US_WIRE_BAD_VERSION: IP version is not 4";
    case US_WIRE_BAD_IHL: return "US_WIRE_BAD_IHL: IPv4 header length below 20 or beyond the frame";
    case US_WIRE_BAD_TOTAL_LEN:
        return "US_WIRE_BAD_TOTAL_LEN: IPv4 total length below the header or beyond the frame";
    case US_WIRE_BAD_FRAGMENT: return "US_WIRE_BAD_FRAGMENT: fragment ends beyond 65535";
    case US_WIRE_BAD_CHECKSUM: return "US_WIRE_BAD_CHECKSUM: checksum does not verify";
    case US_WIRE_BAD_DATA_OFFSET:
        return "US_WIRE_BAD_DATA_OFFSET: TCP data offset below 5 or beyond the segment";
    case US_WIRE_BAD_OPTION: return "US_WIRE_BAD_OPTION: malformed TCP option";
    case US_WIRE_BAD_LENGTH: return "US_WIRE_BAD_LENGTH: length field out of range";
    case US_WIRE_UNSUPPORTED: return "US_WIRE_UNSUPPORTED: valid but unsupported";
    case US_WIRE_ERR_COUNT: break;
    }
    return "US_WIRE_?: unknown error";
}
