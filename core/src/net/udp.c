/* UDP (RFC 768) data path. Receive: check (checksum 0 = none), demultiplex by destination port to
 * a bound socket (none: port unreachable unless broadcast, NO_SOCKET), append the datagram with its
 * record header to the receive ring (no room: SOCKET_FULL), wake the reader; inline in net/rx.h,
 * with the chained-frame entry and the rare exits here.
 * Send, one datagram per egress visit:
 *   - MAC known (or broadcast): built straight from the send ring into TX buffers — one frame with
 *     copy and checksum fused, or fragments when it exceeds the MTU;
 *   - MAC pending: copied into a RAM pbuf queued behind the ARP request (lwIP's etharp queue), so
 *     one unresolved destination never blocks the datagrams behind it;
 *   - device refused a TX buffer: the datagram is dropped (tx_alloc_fail and TX_UDP counted; UDP
 *     is unreliable and the application's pacing, not the stack, decides on resending) and egress
 *     stops; the socket stays ready if more datagrams wait.
 * Under US_DEV_CSUM_TX a single-frame datagram leaves the checksum for the device (field 0); a
 * fragmented one is always summed (no device can checksum across fragments). */
#include "net/udp.h"

#include <string.h>

#include "net/rx.h"
#include "stack_internal.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/udp.h"
#include "wire/check.h"

/* Receive. A datagram in a flat frame is handled inline (net/rx.h); these are the general entry
 * and the rare exits. */

unsigned us__udp_input(us_stack *s, us__ipctx *c, us_time now)
{
    us__pkt *k = c->k;
    if (k->flat)
        return us__udp_rx(s, c, now);
    /* Chained: the checks see the 8 header bytes (and the true length, for the length check; with
     * SKIP_CSUM they read nothing else); the checksum is summed over the chain. */
    uint8_t scratch[US_UDP_HDR_LEN];
    uint32_t got, ulen = 0;
    const uint8_t *h = us__pkt_view(k, c->l4_off, US_UDP_HDR_LEN, scratch, &got);
    us_wire_err e = got < US_UDP_HDR_LEN
                        ? US_WIRE_TRUNCATED
                        : us__udp_check(h, c->l4_len, c->src, c->dst, US_WIRE_SKIP_CSUM, &ulen);
    if (e == US_WIRE_OK && !(c->csum_flags & US_WIRE_SKIP_CSUM) && us_get_be16(h + 6) != 0) {
        uint32_t sum = us_csum_pseudo_ipv4(c->src, c->dst, US_IP_PROTO_UDP, (uint16_t)ulen);
        if (us_csum_finish(us__pkt_csum(k, c->l4_off, ulen, sum)) != 0)
            e = US_WIRE_BAD_CHECKSUM;
    }
    if (e != US_WIRE_OK)
        return us__rx_drop_wire(s, k, e);
    return us__udp_deliver(s, c, h, ulen, NULL, now);
}

unsigned us__udp_no_socket(us_stack *s, us__ipctx *c, us_time now)
{
    us__icmp_unreach(s, c, US_ICMP_UNREACH_PORT, now);
    return us__rx_drop(s, c->k, US_DROP_NO_SOCKET);
}

/* Partial sum of n ring bytes from off (a wrapped ring is two spans). */
static uint32_t ring_csum(const us_ring *r, uint32_t off, uint32_t n)
{
    uint32_t at = r->head + off;
    if (at >= r->cap)
        at -= r->cap;
    uint32_t first = r->cap - at < n ? r->cap - at : n;
    uint32_t sum = us_csum_partial(r->buf + at, first, 0);
    if (n > first)
        sum = us_csum_combine(sum, us_csum_partial(r->buf, n - first, 0), first);
    return sum;
}

/* Send the datagram at the head of u's ring (len payload bytes) to mac. */
static us_status send_direct(us_stack *s, us__udp_sock *u, const uint8_t *mac, uint32_t dst,
                             uint16_t dport, uint32_t len)
{
    us_ipv4_repr ip;
    us__ipv4_repr_init(s, &ip, dst, US_IP_PROTO_UDP, US_UDP_HDR_LEN + len);
    us_udp_repr ur = {.src_port = u->port, .dst_port = dport, .payload = NULL, .payload_len = len};
    if (US_IPV4_HDR_LEN + US_UDP_HDR_LEN + len <= s->dev.mtu) {
        const uint32_t hl = US_ETH_HDR_LEN + US_IPV4_HDR_LEN + US_UDP_HDR_LEN;
        uint8_t *buf = us__tx_acquire(s, hl + len);
        if (buf == NULL)
            return US_EAGAIN;
        uint8_t *pl = buf + hl;
        us__ring_peek(&u->tx, US__UDP_REC_LEN, pl, len);
        bool offload = (s->dev.caps & US_DEV_CSUM_TX) != 0;
        uint32_t sum = offload ? 0 : us_csum_partial(pl, len, 0); /* hot in cache from the copy */
        uint8_t *uh = buf + US_ETH_HDR_LEN + US_IPV4_HDR_LEN;
        us_udp_emit(&ur, uh, s->cfg.ipv4_addr, dst, sum);
        if (offload)
            us_put_be16(uh + 6, 0);
        us_ipv4_emit(&ip, buf + US_ETH_HDR_LEN);
        us__eth_header(s, buf, mac, US_ETHERTYPE_IPV4);
        us__tx_commit(s, buf, hl + len);
        return US_OK;
    }
    uint8_t uh[US_UDP_HDR_LEN];
    us_udp_emit(&ur, uh, s->cfg.ipv4_addr, dst, ring_csum(&u->tx, US__UDP_REC_LEN, len));
    us__src src = {.hdr = uh, .hdr_len = US_UDP_HDR_LEN, .ring = &u->tx,
                   .ring_off = US__UDP_REC_LEN};
    return us__ipv4_send(s, mac, &ip, &src);
}

/* The datagram at the head of u's ring as a complete IPv4 packet in a RAM pbuf, or NULL. */
static us_pbuf *build_pbuf(us_stack *s, us__udp_sock *u, uint32_t dst, uint16_t dport,
                           uint32_t len)
{
    const uint32_t hl = US_IPV4_HDR_LEN + US_UDP_HDR_LEN;
    us_pbuf *p = us_pbuf_alloc(&s->bufs, US_PBUF_LINK, hl + len, US_PBUF_RAM);
    if (p == NULL)
        return NULL;
    uint8_t *d = p->payload;
    us__ring_peek(&u->tx, US__UDP_REC_LEN, d + hl, len);
    us_udp_repr ur = {.src_port = u->port, .dst_port = dport, .payload = NULL, .payload_len = len};
    us_udp_emit(&ur, d + US_IPV4_HDR_LEN, s->cfg.ipv4_addr, dst, us_csum_partial(d + hl, len, 0));
    us_ipv4_repr ip;
    us__ipv4_repr_init(s, &ip, dst, US_IP_PROTO_UDP, US_UDP_HDR_LEN + len);
    us_ipv4_emit(&ip, d);
    return p;
}

us__visit us__udp_egress(us_stack *s, uint32_t i, us_time now)
{
    us__udp_sock *u = &s->udp[i];
    if (!u->in_use || u->tx.len < US__UDP_REC_LEN)
        return US__VISIT_IDLE;
    uint8_t rec[US__UDP_REC_LEN];
    us__ring_peek(&u->tx, 0, rec, sizeof(rec));
    uint32_t dst = us_get_be32(rec);
    uint16_t dport = us_get_be16(rec + 4);
    uint32_t len = us_get_be16(rec + 6);
    us__visit v = US__VISIT_SENT;

    uint32_t entry = US__NONE;
    uint8_t mac[US_ETH_ADDR_LEN];
    us__next_hop nh = us__ipv4_next_hop(s, dst, now, mac, &entry);
    if (nh == US__NH_READY) {
        if (send_direct(s, u, mac, dst, dport, len) != US_OK) {
            s->stats.drop[US_DROP_TX_UDP]++;
            v = US__VISIT_REFUSED;
        }
    } else if (nh == US__NH_QUEUE) {
        us_pbuf *p = build_pbuf(s, u, dst, dport, len);
        if (p == NULL)
            s->stats.drop[US_DROP_POOL]++;
        else
            us__arp_enqueue(s, entry, p);
    }
    us__ring_consume(&u->tx, US__UDP_REC_LEN + len);
    if (v == US__VISIT_SENT && u->tx.len >= US__UDP_REC_LEN)
        us__ready_push(s, i); /* the next datagram, on a later turn */
    us__wake(&u->tx_waker);
    return v;
}
