/* ICMPv4 parse and emit. */
#include "ustack/wire/icmp.h"

#include <string.h>

#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"

static int is_echo(uint8_t type)
{
    return type == US_ICMP_ECHO_REQUEST || type == US_ICMP_ECHO_REPLY;
}

us_wire_err us_icmp_parse(us_icmp_repr *r, const uint8_t *buf, size_t len, unsigned flags)
{
    if (len < US_ICMP_HDR_LEN)
        return US_WIRE_TRUNCATED;
    if (!(flags & US_WIRE_SKIP_CSUM) && us_csum(buf, len) != 0)
        return US_WIRE_BAD_CHECKSUM;
    r->type = buf[0];
    r->code = buf[1];
    r->rest = us_get_be32(buf + 4);
    if (is_echo(r->type)) {
        r->ident = us_get_be16(buf + 4);
        r->seq = us_get_be16(buf + 6);
    } else {
        r->ident = 0;
        r->seq = 0;
    }
    r->data = buf + US_ICMP_HDR_LEN;
    r->data_len = len - US_ICMP_HDR_LEN;
    return US_WIRE_OK;
}

size_t us_icmp_emit(const us_icmp_repr *r, uint8_t *buf)
{
    size_t len = US_ICMP_HDR_LEN + r->data_len;
    /* Data first: it may overlap the header bytes about to be written. */
    if (r->data_len && r->data != buf + US_ICMP_HDR_LEN)
        memmove(buf + US_ICMP_HDR_LEN, r->data, r->data_len);
    buf[0] = r->type;
    buf[1] = r->code;
    us_put_be16(buf + 2, 0);
    if (is_echo(r->type)) {
        us_put_be16(buf + 4, r->ident);
        us_put_be16(buf + 6, r->seq);
    } else {
        us_put_be32(buf + 4, r->rest);
    }
    us_put_be16(buf + 2, us_csum(buf, len));
    return len;
}
