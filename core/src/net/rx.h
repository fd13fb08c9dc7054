/* Internal: the receive hot path, inline (the hot path in a header, as DPDK does). The checks and
 * demultiplexing of a whole IPv4 datagram (net/ipv4.c's input) and UDP delivery into a socket's
 * receive ring (net/udp.c's input) compile into us_ingress: a datagram crosses no call boundary
 * between its Ethernet header and the ring, and nothing is built for it beyond the few header
 * fields the next step reads. Everything rare leaves through the out-of-line functions below,
 * which share these same steps: frames whose headers are not in their first segment (copied out
 * of the chain first), fragments, ICMP, TCP and other protocols, and every drop.
 * Included by iface.c, net/ipv4.c and net/udp.c only. */
#ifndef USTACK_NET_RX_H
#define USTACK_NET_RX_H

#include "stack_internal.h"
#include "ustack/wire/bytes.h"
#include "wire/check.h"

/* ---- the rare paths, out of line ---- */

/* Count a drop of the frame in k (drop[r] / drop_wire[e]), free it and clear k->p. Return
 * US_INGRESS_DROPPED. (iface.c) */
unsigned us__rx_drop(us_stack *s, us__pkt *k, us_drop_reason r);
unsigned us__rx_drop_wire(us_stack *s, us__pkt *k, us_wire_err e);

/* A fragment whose header h passed the checks, to reassembly, which keeps every header field.
 * Takes the frame. (net/ipv4.c) */
unsigned us__ipv4_fragment(us_stack *s, us__pkt *k, uint32_t off, const uint8_t *h, bool bcast,
                           us_time now);

/* A whole datagram of protocol proto (any: UDP too), to ICMP, UDP or TCP; any other protocol is
 * answered with protocol unreachable and dropped (IP_PROTO). Takes the frame. (net/ipv4.c) */
unsigned us__ipv4_deliver(us_stack *s, us__ipctx *c, uint8_t proto, us_time now);

/* A checked datagram to a port no socket is bound to: port unreachable (net/icmp.c decides whether
 * one may be sent), NO_SOCKET. Takes the frame. (net/udp.c) */
unsigned us__udp_no_socket(us_stack *s, us__ipctx *c, us_time now);

/* ---- UDP ---- */

/* The socket bound to port dport, or NULL (port 0 is never bound). */
static US__ALWAYS_INLINE us__udp_sock *us__udp_lookup(us_stack *s, uint16_t dport)
{
    if (dport == 0)
        return NULL;
    for (uint32_t i = 0; i < s->udp_n; i++)
        if (s->udp[i].port == dport && s->udp[i].in_use)
            return &s->udp[i];
    return NULL;
}

/* A datagram that passed the checks, h its 8-byte header and ulen its length field: appended with
 * its record header to the receive ring of the socket bound to its destination port (no room:
 * SOCKET_FULL), then the reader's waker. payload points to the ulen - 8 data bytes when they lie
 * in the frame's first segment, else is NULL (copied from the chain). Takes the frame. */
static US__ALWAYS_INLINE unsigned us__udp_deliver(us_stack *s, us__ipctx *c, const uint8_t *h,
                                                  uint32_t ulen, const uint8_t *payload,
                                                  us_time now)
{
    us__pkt *k = c->k;
    us__udp_sock *u = us__udp_lookup(s, us_get_be16(h + 2));
    if (u == NULL)
        return us__udp_no_socket(s, c, now);
    uint32_t n = ulen - US_UDP_HDR_LEN;
    if (us__ring_free(&u->rx) < US__UDP_REC_LEN + n)
        return us__rx_drop(s, k, US_DROP_SOCKET_FULL);
    uint8_t rec[US__UDP_REC_LEN];
    us_put_be32(rec, c->src);
    memcpy(rec + 4, h, 2); /* the source port, big-endian in both */
    us_put_be16(rec + 6, (uint16_t)n);
    if (payload != NULL) {
        us__ring_write_rec(&u->rx, rec, sizeof(rec), payload, n);
    } else {
        us__ring_write(&u->rx, rec, sizeof(rec));
        us__pkt_to_ring(k, c->l4_off + US_UDP_HDR_LEN, n, &u->rx);
    }
    us__pkt_release(k);
    us__wake(&u->rx_waker);
    return US_INGRESS_STATE_CHANGED;
}

/* UDP input (net/udp.c describes it). A datagram in a chained frame goes to us__udp_input. */
static US__ALWAYS_INLINE unsigned us__udp_rx(us_stack *s, us__ipctx *c, us_time now)
{
    us__pkt *k = c->k;
    if (k->flat == NULL)
        return us__udp_input(s, c, now);
    const uint8_t *h = k->flat + c->l4_off;
    uint32_t ulen;
    us_wire_err e = us__udp_check(h, c->l4_len, c->src, c->dst, c->csum_flags, &ulen);
    if (e != US_WIRE_OK)
        return us__rx_drop_wire(s, k, e);
    return us__udp_deliver(s, c, h, ulen, h + US_UDP_HDR_LEN, now);
}

/* ---- IPv4 ---- */

/* IPv4 input (net/ipv4.c describes it) of the packet at offset off of the frame in k, whose header
 * is readable at h: IHL * 4 bytes once the checks know IHL (a copy when the frame is chained). */
static US__ALWAYS_INLINE unsigned us__ipv4_rx_hdr(us_stack *s, us__pkt *k, uint32_t off,
                                                  const uint8_t *h, us_time now)
{
    unsigned flags = (s->dev.caps & US_DEV_CSUM_RX) ? US_WIRE_SKIP_CSUM : 0u;
    uint32_t hl, total;
    us_wire_err e = us__ipv4_check(h, k->len - off, flags, &hl, &total);
    if (e != US_WIRE_OK)
        return us__rx_drop_wire(s, k, e);
    uint32_t dst = us_get_be32(h + 16);
    bool bcast = dst == 0xFFFFFFFFu || dst == s->bcast;
    if (dst != s->cfg.ipv4_addr && !bcast)
        return us__rx_drop(s, k, US_DROP_NOT_FOR_US);
    if (h[8] == 0) /* TTL */
        return us__rx_drop(s, k, US_DROP_TTL);
    if (us_get_be16(h + 6) & (US__IPV4_FLAG_MF | US__IPV4_FRAG_MASK))
        return us__ipv4_fragment(s, k, off, h, bcast, now);
    us__ipctx c = {.k = k, .ip_off = off, .l4_off = off + hl, .l4_len = total - hl,
                   .src = us_get_be32(h + 12), .dst = dst, .csum_flags = flags, .bcast = bcast};
    uint8_t proto = h[9];
    if (proto == US_IP_PROTO_UDP)
        return us__udp_rx(s, &c, now);
    return us__ipv4_deliver(s, &c, proto, now);
}

/* IPv4 input of the packet at offset off of the frame in k. Takes the frame. Returns
 * US_INGRESS_* bits. A frame whose header is not in its first segment goes to us__ipv4_input. */
static US__ALWAYS_INLINE unsigned us__ipv4_rx(us_stack *s, us__pkt *k, uint32_t off, us_time now)
{
    if (k->flat == NULL)
        return us__ipv4_input(s, k, off, now);
    return us__ipv4_rx_hdr(s, k, off, k->flat + off, now);
}

#endif /* USTACK_NET_RX_H */
