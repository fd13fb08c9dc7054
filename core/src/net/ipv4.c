/* IPv4 input and output (RFC 791, RFC 1122 3.3).
 *
 * Input: the wire checks (us_ipv4_parse's) of version, IHL, total length (link padding beyond it
 * is ignored) and the header checksum; then the destination must be ours or a broadcast address
 * (NOT_FOR_US) and the TTL nonzero (TTL). Fragments go to reassembly; whole datagrams to ICMP, UDP
 * or TCP; any other protocol is answered with protocol unreachable and dropped (IP_PROTO). The
 * path of a whole datagram is inline in net/rx.h; its rare exits are here.
 *
 * Reassembly keeps each fragment's data as a chunk in a heap of its own (carved at init), keyed by
 * (src, dst, proto, ident), at most reass_slots datagrams and reass_max_bytes of payload at once
 * (beyond either: REASS_MEM, the fragment is dropped and the datagram may still complete), and at
 * most US__REASS_MAX_FRAGS fragments per datagram. A datagram not complete reass_timeout after its
 * first fragment is dropped (REASS_TIMEOUT) and its memory freed. When complete it is copied into
 * one RAM pbuf (POOL when the heap has none) and delivered as if it had arrived whole; checksum
 * offload never applies to it (no device can verify a fragmented transport checksum).
 * Overlap policy: a fragment overlapping bytes already received is accepted only if the overlapping
 * bytes are identical (a duplicate adds nothing and is freed); otherwise — or if fragments disagree
 * on where the datagram ends — the whole datagram is dropped (REASS_OVERLAP), in the spirit of
 * RFC 5722. A non-final fragment whose length is not a multiple of 8, and an empty fragment, are
 * malformed (drop_wire[BAD_FRAGMENT]).
 *
 * Output: routing is on-link / gateway / none; a packet larger than the MTU is fragmented (UDP and
 * ICMP only: TCP's MSS always fits, and TCP sets DF). */
#include "net/ipv4.h"

#include <assert.h>
#include <string.h>

#include "net/rx.h"
#include "stack_internal.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/icmp.h"
#include "wire/check.h"

/* ---- the packet view ---- */

const uint8_t *us__pkt_view_chain(const us__pkt *k, uint32_t off, uint32_t want, uint8_t *scratch,
                                  uint32_t n)
{
    if (n == 0)
        return scratch;
    const uint8_t *v = us_pbuf_get_contiguous(k->p, scratch, want, n, off);
    assert(v != NULL); /* off + n <= len by construction */
    return v;
}

uint32_t us__pkt_csum(const us__pkt *k, uint32_t off, uint32_t n, uint32_t acc)
{
    if (k->flat)
        return us_csum_partial(k->flat + off, n, acc);
    uint32_t o;
    const us_pbuf *q = us_pbuf_skip(k->p, off, &o);
    uint32_t pos = 0;
    acc = us_csum_fold(acc);
    while (n > 0 && q != NULL) {
        uint32_t take = q->len - o < n ? q->len - o : n;
        acc = us_csum_combine(acc, us_csum_partial((const uint8_t *)q->payload + o, take, 0), pos);
        pos += take;
        n -= take;
        q = q->next;
        o = 0;
    }
    return acc;
}

void us__pkt_copy(const us__pkt *k, uint32_t off, void *dst, uint32_t n)
{
    if (k->flat)
        memcpy(dst, k->flat + off, n);
    else
        (void)us_pbuf_copy_partial(k->p, dst, n, off);
}

void us__pkt_to_ring(const us__pkt *k, uint32_t off, uint32_t n, us_ring *r)
{
    if (k->flat) {
        us__ring_write(r, k->flat + off, n);
        return;
    }
    uint32_t o;
    const us_pbuf *q = us_pbuf_skip(k->p, off, &o);
    while (n > 0 && q != NULL) {
        uint32_t take = q->len - o < n ? q->len - o : n;
        us__ring_write(r, (const uint8_t *)q->payload + o, take);
        n -= take;
        q = q->next;
        o = 0;
    }
}

/* ---- reassembly ---- */

struct us__reass_chunk {
    us__reass_chunk *next;
    uint32_t off, len; /* payload bytes [off, off + len) of the datagram */
};

static uint8_t *chunk_data(us__reass_chunk *c)
{
    return (uint8_t *)c + sizeof(us__reass_chunk);
}

/* Heap bytes one chunk costs beyond its data: heap header, chunk header, rounding. */
#define CHUNK_OVERHEAD                                                                             \
    (US_HEAP_HDR_SIZE + US_ALIGN_UP(sizeof(us__reass_chunk), 16u) + US_HEAP_ALIGN)

static size_t reass_heap_size(uint32_t slots, uint32_t max_bytes)
{
    return (size_t)max_bytes + (size_t)slots * US__REASS_MAX_FRAGS * CHUNK_OVERHEAD;
}

size_t us__reass_mem_size(uint32_t slots, uint32_t max_bytes)
{
    if (slots == 0)
        return 0;
    return us_heap_mem_size(reass_heap_size(slots, max_bytes));
}

void us__reass_init(us__reass *r, us__reass_slot *slot_mem, void *heap_mem, size_t heap_len,
                    uint32_t slots, uint32_t max_bytes, uint32_t dl_base)
{
    memset(r, 0, sizeof(*r));
    r->slot = slot_mem;
    r->n = slots;
    r->dl_base = dl_base;
    memset(slot_mem, 0, (size_t)slots * sizeof(*slot_mem));
    if (slots)
        (void)us_heap_init(&r->heap, "reass", heap_mem, heap_len,
                           reass_heap_size(slots, max_bytes));
}

static void reass_free(us_stack *s, uint32_t i)
{
    us__reass_slot *r = &s->reass.slot[i];
    us__reass_chunk *c = r->chunks;
    while (c != NULL) {
        us__reass_chunk *next = c->next;
        (void)us_heap_free(&s->reass.heap, c);
        c = next;
    }
    s->reass.bytes -= r->bytes;
    memset(r, 0, sizeof(*r));
    us__dl_cancel(&s->dl, s->reass.dl_base + i);
}

void us__reass_timer(us_stack *s, uint32_t i, us_time now)
{
    (void)now;
    if (!s->reass.slot[i].used)
        return;
    reass_free(s, i);
    s->stats.drop[US_DROP_REASS_TIMEOUT]++;
}

static bool same_bytes(const us__pkt *k, uint32_t off, const uint8_t *data, uint32_t n)
{
    if (k->flat)
        return memcmp(k->flat + off, data, n) == 0;
    return us_pbuf_memcmp(k->p, off, data, n) == 0;
}

/* Slot i holds every byte of its datagram: rebuild it in one pbuf and deliver it. */
static unsigned assemble(us_stack *s, uint32_t i, bool bcast, us_time now)
{
    us__reass_slot *r = &s->reass.slot[i];
    uint32_t hl = r->hdr_len, total = r->total;
    if (hl + total > US_IPV4_MAX_LEN) {
        reass_free(s, i);
        return us__drop_wire(s, US_WIRE_BAD_FRAGMENT);
    }
    us_pbuf *p = us_pbuf_alloc(&s->bufs, US_PBUF_RAW, hl + total, US_PBUF_RAM);
    if (p == NULL) {
        reass_free(s, i);
        return us__drop(s, US_DROP_POOL);
    }
    uint8_t *d = p->payload;
    memcpy(d, r->hdr, hl);
    for (us__reass_chunk *c = r->chunks; c != NULL; c = c->next)
        memcpy(d + hl + c->off, chunk_data(c), c->len);
    /* The header of the whole datagram: its total length, no fragment fields, a fresh checksum. */
    us_put_be16(d + 2, (uint16_t)(hl + total));
    us_put_be16(d + 6, 0);
    us_put_be16(d + 10, 0);
    us_put_be16(d + 10, us_csum(d, hl));
    reass_free(s, i);
    us_ipv4_repr ip;
    us_wire_err e = us_ipv4_parse(&ip, d, hl + total, US_WIRE_SKIP_CSUM);
    assert(e == US_WIRE_OK);
    (void)e;
    us__pkt k;
    us__pkt_set(&k, p);
    /* No device verified the transport checksum of a datagram that arrived in fragments. */
    us__ipctx c = {.k = &k, .ip_off = 0, .l4_off = ip.header_len, .l4_len = ip.payload_len,
                   .src = ip.src, .dst = ip.dst, .csum_flags = 0, .bcast = bcast};
    return us__ipv4_deliver(s, &c, ip.proto, now);
}

static unsigned reass_input(us_stack *s, us__pkt *k, uint32_t off, const us_ipv4_repr *ip,
                            bool bcast, us_time now)
{
    us__reass *R = &s->reass;
    uint32_t len = ip->payload_len, fo = ip->frag_offset, end = fo + len;
    uint32_t data_off = off + ip->header_len;
    bool last = !ip->more_frags;
    unsigned ret = 0;
    uint32_t i;

    if (len == 0 || (!last && (len & 7u))) {
        ret = us__drop_wire(s, US_WIRE_BAD_FRAGMENT);
        goto out;
    }
    for (i = 0; i < R->n; i++) {
        const us__reass_slot *r = &R->slot[i];
        if (r->used && r->src == ip->src && r->dst == ip->dst && r->proto == ip->proto &&
            r->ident == ip->ident)
            break;
    }
    if (i == R->n) {
        for (i = 0; i < R->n && R->slot[i].used; i++) {
        }
        if (i == R->n) {
            ret = us__drop(s, US_DROP_REASS_MEM);
            goto out;
        }
        us__reass_slot *r = &R->slot[i];
        r->used = true;
        r->src = ip->src;
        r->dst = ip->dst;
        r->proto = ip->proto;
        r->ident = ip->ident;
        us__dl_set(&s->dl, R->dl_base + i, now + s->cfg.reass_timeout);
    }
    us__reass_slot *r = &R->slot[i];

    /* Does this fragment agree with what is here? Its end against the known total, its bytes
     * against every chunk it overlaps; and how far from fo the chunks already cover it. */
    bool conflict = (last && r->have_last && r->total != end) ||
                    (!last && r->have_last && end > r->total);
    uint32_t cover = fo;
    for (us__reass_chunk *c = r->chunks; c != NULL && !conflict; c = c->next) {
        uint32_t cs = c->off, ce = c->off + c->len;
        if (last && ce > end)
            conflict = true;
        else if (ce > fo && cs < end) {
            uint32_t lo = cs > fo ? cs : fo, hi = ce < end ? ce : end;
            if (!same_bytes(k, data_off + (lo - fo), chunk_data(c) + (lo - cs), hi - lo))
                conflict = true;
        }
        if (cs <= cover && ce > cover)
            cover = ce;
    }
    if (conflict) {
        reass_free(s, i);
        ret = us__drop(s, US_DROP_REASS_OVERLAP);
        goto out;
    }
    if (cover < end) { /* new bytes: keep the fragment */
        if (R->bytes + len > s->cfg.reass_max_bytes || r->nfrags >= US__REASS_MAX_FRAGS) {
            ret = us__drop(s, US_DROP_REASS_MEM);
            goto out;
        }
        us__reass_chunk *c = us_heap_alloc(&R->heap, sizeof(*c) + len);
        if (c == NULL) {
            ret = us__drop(s, US_DROP_REASS_MEM);
            goto out;
        }
        c->off = fo;
        c->len = len;
        us__pkt_copy(k, data_off, chunk_data(c), len);
        us__reass_chunk **at = &r->chunks;
        while (*at != NULL && (*at)->off <= fo)
            at = &(*at)->next;
        c->next = *at;
        *at = c;
        r->bytes += len;
        R->bytes += len;
        r->nfrags++;
        if (fo == 0 && !r->have_first) {
            r->hdr_len = ip->header_len;
            us__pkt_copy(k, off, r->hdr, ip->header_len);
            r->have_first = true;
        }
    }
    if (last) {
        r->have_last = true;
        r->total = end;
    }
    us__pkt_release(k);
    if (r->have_first && r->have_last) {
        uint32_t done = 0;
        for (us__reass_chunk *c = r->chunks; c != NULL && c->off <= done; c = c->next)
            if (c->off + c->len > done)
                done = c->off + c->len;
        if (done >= r->total)
            return assemble(s, i, bcast, now);
    }
    return ret;
out:
    us__pkt_release(k);
    return ret;
}

/* ---- input ---- */

/* A whole datagram's path is inline (net/rx.h); these are its rare exits. */

unsigned us__ipv4_deliver(us_stack *s, us__ipctx *c, uint8_t proto, us_time now)
{
    switch (proto) {
    case US_IP_PROTO_UDP: return us__udp_rx(s, c, now);
    case US_IP_PROTO_TCP: return us__tcp_sock_input(s, c, now);
    case US_IP_PROTO_ICMP: return us__icmp_input(s, c, now);
    default: break;
    }
    us__icmp_unreach(s, c, US_ICMP_UNREACH_PROTO, now);
    return us__rx_drop(s, c->k, US_DROP_IP_PROTO);
}

unsigned us__ipv4_fragment(us_stack *s, us__pkt *k, uint32_t off, const uint8_t *h, bool bcast,
                           us_time now)
{
    us_ipv4_repr ip;
    us_wire_err e = us_ipv4_parse(&ip, h, k->len - off, US_WIRE_SKIP_CSUM);
    assert(e == US_WIRE_OK); /* the checks passed */
    (void)e;
    return reass_input(s, k, off, &ip, bcast, now);
}

unsigned us__ipv4_input(us_stack *s, us__pkt *k, uint32_t off, us_time now)
{
    /* Only the header is needed here. On a chained frame it is copied out; the checks are given
     * the whole length the link delivered (to check the total length against it) but read no more
     * than IHL * 4 <= min(60, that length) bytes, all of them in the copy. */
    uint8_t scratch[US_IPV4_MAX_HDR_LEN];
    uint32_t got;
    const uint8_t *h = us__pkt_view(k, off, sizeof(scratch), scratch, &got);
    return us__ipv4_rx_hdr(s, k, off, h, now);
}

/* ---- output ---- */

us__route us__ipv4_route(const us_stack *s, uint32_t dst, uint32_t *next_hop)
{
    const us_stack_config *c = &s->cfg;
    if (dst == 0xFFFFFFFFu || dst == s->bcast)
        return US__ROUTE_BCAST;
    if (((dst ^ c->ipv4_addr) & c->ipv4_netmask) == 0) {
        *next_hop = dst;
        return US__ROUTE_NEXT;
    }
    if (c->ipv4_gateway != 0) {
        *next_hop = c->ipv4_gateway;
        return US__ROUTE_NEXT;
    }
    return US__ROUTE_NONE;
}

uint16_t us__ipv4_ident(us_stack *s)
{
    return s->ip_ident++;
}

void us__ipv4_repr_init(us_stack *s, us_ipv4_repr *ip, uint32_t dst, uint8_t proto,
                        uint32_t payload_len)
{
    memset(ip, 0, sizeof(*ip));
    ip->src = s->cfg.ipv4_addr;
    ip->dst = dst;
    ip->proto = proto;
    ip->ttl = US__IP_TTL;
    ip->ident = us__ipv4_ident(s);
    ip->header_len = US_IPV4_HDR_LEN;
    ip->payload_len = (uint16_t)payload_len;
}

/* Copy payload bytes [off, off + n) of the packet described by src. */
static void src_copy(const us__src *src, uint32_t off, uint8_t *dst, uint32_t n)
{
    if (off < src->hdr_len) {
        uint32_t m = src->hdr_len - off < n ? src->hdr_len - off : n;
        memcpy(dst, src->hdr + off, m);
        dst += m;
        off += m;
        n -= m;
    }
    if (n == 0)
        return;
    off -= src->hdr_len;
    if (src->ring)
        us__ring_peek(src->ring, src->ring_off + off, dst, n);
    else
        memcpy(dst, src->flat + off, n);
}

us_status us__ipv4_send(us_stack *s, const uint8_t *mac, const us_ipv4_repr *ip,
                        const us__src *src)
{
    uint32_t total = ip->payload_len;
    uint32_t room = s->dev.mtu - US_IPV4_HDR_LEN;
    uint32_t step = total <= room ? total : (room & ~7u);
    us_ipv4_repr f = *ip;
    uint32_t o = 0;
    do {
        uint32_t n = total - o < step ? total - o : step;
        uint32_t flen = US_ETH_HDR_LEN + US_IPV4_HDR_LEN + n;
        uint8_t *buf = us__tx_acquire(s, flen);
        if (buf == NULL)
            return US_EAGAIN;
        f.frag_offset = (uint16_t)o;
        f.more_frags = o + n < total;
        f.payload_len = (uint16_t)n;
        us__eth_header(s, buf, mac, US_ETHERTYPE_IPV4);
        us_ipv4_emit(&f, buf + US_ETH_HDR_LEN);
        src_copy(src, o, buf + US_ETH_HDR_LEN + US_IPV4_HDR_LEN, n);
        us__tx_commit(s, buf, flen);
        o += n;
    } while (o < total);
    return US_OK;
}

us_status us__ipv4_send_pbuf(us_stack *s, const uint8_t *mac, const us_pbuf *p)
{
    us_ipv4_repr ip;
    us_wire_err e = us_ipv4_parse(&ip, p->payload, p->len, US_WIRE_SKIP_CSUM);
    assert(e == US_WIRE_OK); /* we built it */
    if (e != US_WIRE_OK)
        return US_OK;
    us__src src = {.flat = (const uint8_t *)p->payload + ip.header_len};
    return us__ipv4_send(s, mac, &ip, &src);
}

us__next_hop us__ipv4_next_hop(us_stack *s, uint32_t dst, us_time now, uint8_t *mac,
                               uint32_t *entry)
{
    uint32_t nh = 0;
    *entry = US__NONE;
    us__route rt = us__ipv4_route(s, dst, &nh);
    if (rt == US__ROUTE_NONE) {
        s->stats.drop[US_DROP_NO_ROUTE]++;
        return US__NH_NO_ROUTE;
    }
    if (rt == US__ROUTE_BCAST) {
        memcpy(mac, us__eth_bcast, US_ETH_ADDR_LEN);
        return US__NH_READY;
    }
    us__arp_res res = us__arp_lookup(s, nh, now, mac, entry);
    if (res == US__ARP_FULL) {
        s->stats.drop[US_DROP_ARP_QUEUE]++;
        return US__NH_ARP_FULL;
    }
    /* A packet may overtake none already waiting for the same neighbour. */
    if (res == US__ARP_HIT && (*entry == US__NONE || s->arp.e[*entry].qlen == 0))
        return US__NH_READY;
    return US__NH_QUEUE;
}

void us__ipv4_output(us_stack *s, uint32_t dst, uint32_t len, us__ipv4_build_fn build, void *ctx,
                     us_time now)
{
    uint32_t entry = US__NONE;
    uint8_t mac[US_ETH_ADDR_LEN];
    us__next_hop nh = us__ipv4_next_hop(s, dst, now, mac, &entry);
    if (nh == US__NH_NO_ROUTE || nh == US__NH_ARP_FULL)
        return;
    bool ready = nh == US__NH_READY;
    if (ready && len <= s->dev.mtu) {
        ready = false; /* one attempt: if the device refuses, the packet waits in the queue */
        uint32_t flen = US_ETH_HDR_LEN + len;
        uint8_t *buf = us__tx_acquire(s, flen);
        if (buf != NULL) {
            build(s, buf + US_ETH_HDR_LEN, ctx);
            us__eth_header(s, buf, mac, US_ETHERTYPE_IPV4);
            us__tx_commit(s, buf, flen);
            return;
        }
        if (entry == US__NONE)
            return; /* a broadcast the device refused (tx_alloc_fail): not kept */
    }
    us_pbuf *p = us_pbuf_alloc(&s->bufs, US_PBUF_LINK, len, US_PBUF_RAM);
    if (p == NULL) {
        s->stats.drop[US_DROP_POOL]++;
        return;
    }
    build(s, p->payload, ctx);
    if (ready && us__ipv4_send_pbuf(s, mac, p) == US_OK) {
        (void)us_pbuf_free(p);
        return;
    }
    if (entry == US__NONE) {
        (void)us_pbuf_free(p);
        return;
    }
    us__arp_enqueue(s, entry, p);
}
