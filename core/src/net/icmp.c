/* ICMPv4 (RFC 792, RFC 1122 3.2.2): echo requests sent to our unicast address are answered
 * (same ident, sequence and data); every other type — replies, errors, broadcast echoes — is
 * dropped as ICMP_TYPE. Replies go through us__ipv4_output: straight into a TX buffer when the
 * sender's MAC is in the ARP cache (it normally is: the pinger asked for ours first, and RFC 826
 * has us learn the asker), else queued behind an ARP request. A large echo (reassembled) is
 * answered in fragments. */
#include "net/icmp.h"

#include <string.h>

#include "stack_internal.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/icmp.h"

typedef struct echo_ctx {
    const us__ipctx *c;
    uint16_t ident, seq;
} echo_ctx;

static void build_echo_reply(us_stack *s, uint8_t *ip_pkt, void *ctx)
{
    const echo_ctx *e = ctx;
    const us__ipctx *c = e->c;
    us_ipv4_repr ip;
    us__ipv4_repr_init(s, &ip, c->src, US_IP_PROTO_ICMP, c->l4_len);
    us_ipv4_emit(&ip, ip_pkt);
    uint8_t *msg = ip_pkt + US_IPV4_HDR_LEN;
    uint32_t n = c->l4_len - US_ICMP_HDR_LEN;
    us__pkt_copy(c->k, c->l4_off + US_ICMP_HDR_LEN, msg + US_ICMP_HDR_LEN, n);
    us_icmp_repr r;
    memset(&r, 0, sizeof(r));
    r.type = US_ICMP_ECHO_REPLY;
    r.ident = e->ident;
    r.seq = e->seq;
    r.data = msg + US_ICMP_HDR_LEN;
    r.data_len = n;
    us_icmp_emit(&r, msg);
}

unsigned us__icmp_input(us_stack *s, us__ipctx *c, us_time now)
{
    us__pkt *k = c->k;
    us_icmp_repr r;
    us_wire_err e;
    if (k->flat) {
        e = us_icmp_parse(&r, k->flat + c->l4_off, c->l4_len, c->csum_flags);
    } else {
        /* Chained: the header from a copy, the checksum over the chain. */
        uint8_t scratch[US_ICMP_HDR_LEN];
        uint32_t got;
        const uint8_t *h = us__pkt_view(k, c->l4_off, US_ICMP_HDR_LEN, scratch, &got);
        e = us_icmp_parse(&r, h, got, US_WIRE_SKIP_CSUM);
        if (e == US_WIRE_OK && !(c->csum_flags & US_WIRE_SKIP_CSUM) &&
            us_csum_finish(us__pkt_csum(k, c->l4_off, c->l4_len, 0)) != 0)
            e = US_WIRE_BAD_CHECKSUM;
    }
    unsigned ret = 0;
    if (e != US_WIRE_OK) {
        ret = us__drop_wire(s, e);
    } else if (r.type == US_ICMP_ECHO_REQUEST && !c->bcast) {
        echo_ctx ctx = {c, r.ident, r.seq};
        us__ipv4_output(s, c->src, US_IPV4_HDR_LEN + c->l4_len, build_echo_reply, &ctx, now);
    } else {
        ret = us__drop(s, US_DROP_ICMP_TYPE);
    }
    us__pkt_release(k);
    return ret;
}

typedef struct unreach_ctx {
    const us__ipctx *c;
    uint8_t code;
    uint32_t quote; /* bytes of the original datagram quoted */
} unreach_ctx;

static void build_unreach(us_stack *s, uint8_t *ip_pkt, void *ctx)
{
    const unreach_ctx *u = ctx;
    const us__ipctx *c = u->c;
    us_ipv4_repr ip;
    us__ipv4_repr_init(s, &ip, c->src, US_IP_PROTO_ICMP, US_ICMP_HDR_LEN + u->quote);
    us_ipv4_emit(&ip, ip_pkt);
    uint8_t *msg = ip_pkt + US_IPV4_HDR_LEN;
    us__pkt_copy(c->k, c->ip_off, msg + US_ICMP_HDR_LEN, u->quote);
    us_icmp_repr r;
    memset(&r, 0, sizeof(r));
    r.type = US_ICMP_DEST_UNREACH;
    r.code = u->code;
    r.rest = 0;
    r.data = msg + US_ICMP_HDR_LEN;
    r.data_len = u->quote;
    us_icmp_emit(&r, msg);
}

void us__icmp_unreach(us_stack *s, const us__ipctx *c, uint8_t code, us_time now)
{
    uint32_t src = c->src;
    /* RFC 1122 3.2.2: never about a broadcast datagram, nor to a source that names no single host
     * (unspecified, broadcast, multicast, or ourselves). */
    if (c->bcast || src == 0 || src == 0xFFFFFFFFu || src == s->bcast || (src >> 28) == 0xEu ||
        src == s->cfg.ipv4_addr)
        return;
    unreach_ctx u = {c, code, (c->l4_off - c->ip_off) + (c->l4_len < 8 ? c->l4_len : 8u)};
    us__ipv4_output(s, src, US_IPV4_HDR_LEN + US_ICMP_HDR_LEN + u.quote, build_unreach, &u, now);
}
