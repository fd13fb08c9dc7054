/* Internal: IPv4 input (validation, demultiplexing, reassembly) and output (routing to a next hop,
 * ARP, fragmentation), and the received-packet view every protocol input works on. */
#ifndef USTACK_NET_IPV4_H
#define USTACK_NET_IPV4_H

#include <stdbool.h>

#include "ring.h"
#include "ustack/heap.h"
#include "ustack/pbuf.h"
#include "ustack/stack.h"
#include "ustack/wire/ipv4.h"

#define US__IP_TTL 64u
/* Fragments held per datagram being reassembled (a 65535-byte datagram over a 1500-byte MTU has
 * 45); more are dropped (REASS_MEM), so bookkeeping memory is bounded. */
#define US__REASS_MAX_FRAGS 48u

/* A received packet: the frame pbuf (owned by whoever holds the view) and, when the whole frame
 * lies in its first segment (the usual case), a flat pointer to it. Headers are read from flat
 * when set, else copied out of the chain into a small buffer on the caller's stack. */
typedef struct us__pkt {
    us_pbuf *p;
    const uint8_t *flat;
    uint32_t len; /* p->tot_len */
} us__pkt;

static inline void us__pkt_set(us__pkt *k, us_pbuf *p)
{
    k->p = p;
    k->len = p->tot_len;
    k->flat = p->len == p->tot_len ? (const uint8_t *)p->payload : NULL;
}

/* Free the frame and forget it: an input step done with it (delivered, copied out, or dropped). */
static inline void us__pkt_release(us__pkt *k)
{
    (void)us_pbuf_free(k->p);
    k->p = NULL;
}

/* us__pkt_view's chained case. */
const uint8_t *us__pkt_view_chain(const us__pkt *k, uint32_t off, uint32_t want, uint8_t *scratch,
                                  uint32_t n);

/* min(want, len - off) bytes at off (*got): a pointer into the frame, or scratch (want bytes) with
 * a copy. off must be <= len. Inline: every layer's input starts with one. */
static inline const uint8_t *us__pkt_view(const us__pkt *k, uint32_t off, uint32_t want,
                                          uint8_t *scratch, uint32_t *got)
{
    uint32_t n = k->len - off;
    if (n > want)
        n = want;
    *got = n;
    if (k->flat)
        return k->flat + off;
    return us__pkt_view_chain(k, off, want, scratch, n);
}

/* Partial checksum of [off, off + n) (offsets counted from off), added to acc. */
uint32_t us__pkt_csum(const us__pkt *k, uint32_t off, uint32_t n, uint32_t acc);
void us__pkt_copy(const us__pkt *k, uint32_t off, void *dst, uint32_t n);
/* Append [off, off + n) to ring r (the caller checked it fits). */
void us__pkt_to_ring(const us__pkt *k, uint32_t off, uint32_t n, us_ring *r);

/* An IPv4 datagram handed to ICMP, UDP or TCP: where its header and payload are, and the few
 * header fields the protocols use (the rest stay in the header, at ip_off). */
typedef struct us__ipctx {
    us__pkt *k;
    uint32_t ip_off; /* IPv4 header in k */
    uint32_t l4_off; /* payload in k; the header is l4_off - ip_off bytes, options included */
    uint32_t l4_len;
    uint32_t src, dst;   /* host order */
    unsigned csum_flags; /* US_WIRE_SKIP_CSUM when the device verified (never after reassembly) */
    bool bcast;          /* sent to a broadcast address */
} us__ipctx;

/* One datagram being reassembled. */
typedef struct us__reass_chunk us__reass_chunk;
typedef struct us__reass_slot {
    bool used;
    uint8_t proto;
    uint8_t hdr_len;  /* of the first fragment's header, once it is here */
    bool have_first, have_last;
    uint16_t ident;
    uint32_t src, dst;
    uint32_t total;   /* payload length, known once the last fragment is here */
    uint32_t bytes;   /* payload bytes held */
    uint32_t nfrags;
    us__reass_chunk *chunks; /* sorted by offset */
    uint8_t hdr[US_IPV4_MAX_HDR_LEN];
} us__reass_slot;

typedef struct us__reass {
    us__reass_slot *slot;
    uint32_t n;
    uint32_t bytes;   /* payload bytes held in all slots */
    uint32_t dl_base; /* deadline item of slot 0 */
    us_heap heap;     /* fragment data */
} us__reass;

/* Bytes of fragment storage (a heap) for `slots` datagrams holding max_bytes of payload in all. */
size_t us__reass_mem_size(uint32_t slots, uint32_t max_bytes);
void us__reass_init(us__reass *r, us__reass_slot *slot_mem, void *heap_mem, size_t heap_len,
                    uint32_t slots, uint32_t max_bytes, uint32_t dl_base);
/* The slot's timeout came: drop it (REASS_TIMEOUT). */
void us__reass_timer(us_stack *s, uint32_t slot, us_time now);

/* An IPv4 packet at offset off of the frame in k. Takes the frame. Returns US_INGRESS_* bits.
 * The general entry, for any frame; us_ingress takes net/rx.h's inline path, which comes here only
 * for a frame whose header is not in its first segment. */
unsigned us__ipv4_input(us_stack *s, us__pkt *k, uint32_t off, us_time now);

/* ---- output ---- */

typedef enum us__route {
    US__ROUTE_NONE,  /* off-link and no gateway */
    US__ROUTE_NEXT,  /* *next_hop on-link */
    US__ROUTE_BCAST, /* limited or subnet broadcast: Ethernet broadcast, no ARP */
} us__route;
us__route us__ipv4_route(const us_stack *s, uint32_t dst, uint32_t *next_hop);

/* Where a packet to dst goes now. READY: send it at once to *mac (the ARP entry has nothing
 * queued before it; *entry is US__NONE for a broadcast). QUEUE: it must wait in ARP entry *entry.
 * NO_ROUTE and ARP_FULL are drops, counted here (NO_ROUTE, ARP_QUEUE). */
typedef enum us__next_hop {
    US__NH_READY,
    US__NH_QUEUE,
    US__NH_NO_ROUTE,
    US__NH_ARP_FULL,
} us__next_hop;
us__next_hop us__ipv4_next_hop(us_stack *s, uint32_t dst, us_time now, uint8_t *mac,
                               uint32_t *entry);

/* The next IPv4 identification. */
uint16_t us__ipv4_ident(us_stack *s);

/* Where the payload bytes of an IPv4 packet come from when it is sent: hdr_len bytes of hdr, then
 * bytes from the ring (at ring_off) or from flat. */
typedef struct us__src {
    const uint8_t *hdr;
    uint32_t hdr_len;
    const us_ring *ring;
    uint32_t ring_off;
    const uint8_t *flat;
} us__src;

/* Send the packet `ip` (payload_len = the whole payload, no fragment fields) to mac, in fragments
 * when it exceeds the MTU. Returns US_OK, or US_EAGAIN when the device refused a TX buffer
 * (counted; the fragments before it went out). */
us_status us__ipv4_send(us_stack *s, const uint8_t *mac, const us_ipv4_repr *ip,
                        const us__src *src);

/* Send the complete IPv4 packet held in RAM pbuf p (our 20-byte header + payload) to mac.
 * Does not take p. US_OK or US_EAGAIN. */
us_status us__ipv4_send_pbuf(us_stack *s, const uint8_t *mac, const us_pbuf *p);

/* Writes a complete IPv4 packet of the length agreed with us__ipv4_output into ip. */
typedef void (*us__ipv4_build_fn)(us_stack *s, uint8_t *ip, void *ctx);

/* Send a locally made packet (ICMP replies, TCP RSTs) of len bytes to dst: straight into a TX
 * buffer when the MAC is known and the packet fits the MTU, else built into a RAM pbuf that waits
 * in the ARP entry's queue (MAC pending, or the device refused). Drops are counted (NO_ROUTE,
 * ARP_QUEUE, POOL). */
void us__ipv4_output(us_stack *s, uint32_t dst, uint32_t len, us__ipv4_build_fn build, void *ctx,
                     us_time now);

/* Fill a 20-byte header for a packet of ours. */
void us__ipv4_repr_init(us_stack *s, us_ipv4_repr *ip, uint32_t dst, uint8_t proto,
                        uint32_t payload_len);

#endif /* USTACK_NET_IPV4_H */
