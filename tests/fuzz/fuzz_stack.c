/* libFuzzer target for a whole us_stack: one stack per input, small pools, a listening TCP socket
 * (port 80, backlog 2) and a UDP socket bound to port 7, driven by the input read as records
 *   [op: 1 byte][length: 2 bytes, big-endian][length bytes of argument]
 * (a length past the end of the input is cut to what is left). op & 7 picks the operation, the
 * high bits are its flags:
 *   0 FRAME   deliver the argument as a received frame, in a pbuf from the stack's own bufs:
 *             POOL (chained: the POOL blocks are 512 bytes), or RAM if 0x80. 0x40: queue it for
 *             dev->rx instead (taken by the next POLL). 0x20: first rewrite the destination MAC to
 *             ours and fix the IPv4 / TCP / UDP / ICMP checksums, so mutations get past them.
 *   1 TIME    arg[0] bit 0: egress READYLIST (else ALL); bit 1: jump to us_poll_at (else advance
 *             by arg[1..2] in units of 1 us / 1 ms / 100 ms / 1 s by bits 2-3); bit 4: us_poll
 *             (drains dev->rx) instead of us_egress. Then us_poll_at.
 *   2 APP     the application: accept, recv, send, close, abort, release, connect, UDP recv /
 *             echo / send, listener close or re-listen, info, wakers, ARP announce / static
 *             entry (see op_app).
 *   3 TXCTL   the device's refusal pattern: one bit per tx_acquire, cyclic (1 = refuse); empty
 *             argument = accept everything.
 *   4 TCPPEER a TCP segment from the peer answering one of the last segments the stack sent:
 *             ports and addresses swapped, seq = its ack + d, ack = its seq + its length + d,
 *             flags, window, options and data from the argument (see op_tcp_peer).
 *   5 ARPPEER an ARP reply to the last ARP request the stack sent.
 *   6 UDPPEER a well-formed UDP datagram from 10.0.0.2: arg = sport, dport, data.
 *   7 IPPEER  a well-formed IPv4 packet from the peer: protocol, ident, fragment field and TTL from
 *             the argument, the rest its payload (drives reassembly past the header checks).
 * Oracles, each an abort (a crash for libFuzzer): ASan/UBSan; every frame the stack sends parses
 * (Ethernet, ARP, IPv4 with its checksum, TCP / UDP / ICMP with theirs), comes from our MAC and
 * address, and fits the MTU; each acquired TX buffer is committed once before the next acquire
 * (and written only within the length asked: it is malloc'd to that size); API results keep their
 * documented ranges; egress with no refusal leaves nothing due at `now`; at the end, after every
 * socket is aborted and released and time runs past TIME_WAIT and ARP aging, every TCP / UDP slot
 * is free, the stack has nothing scheduled, and every pool, the heap and the reassembly heap are
 * back to zero in use: a leak is a crash. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack_internal.h"
#include "ustack/iface.h"
#include "ustack/pbuf.h"
#include "ustack/socket.h"
#include "ustack/stack.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"
#include "ustack/wire/udp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define US_MS 1000000ull
#define US_SEC 1000000000ull

#define FZ_MTU 1500u
#define FZ_IP 0x0A000001u      /* 10.0.0.1: the stack */
#define FZ_PEER 0x0A000002u    /* 10.0.0.2: the on-link peer */
#define FZ_GW 0x0A0000FEu      /* 10.0.0.254: the gateway */
#define FZ_OFFLINK 0xC0A80109u /* 192.168.1.9: reached through the gateway */
#define FZ_NOBODY 0x0A00004Du  /* 10.0.0.77: never answers ARP */
#define FZ_APP 4u              /* TCP handles the application holds besides the listener */
#define FZ_RXQ 8u
#define FZ_SEGS 4u             /* recent TCP segments remembered for TCPPEER */
#define FZ_MAX_RECORDS 2048u

static const uint8_t fz_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t fz_peer_mac[6] = {0x02, 0, 0, 0, 0, 0x02};

#define FZ_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_stack: check failed: %s (%s:%d): ", #cond, __FILE__, __LINE__);  \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A TCP segment the stack sent, as TCPPEER needs it. */
typedef struct fz_seg {
    uint8_t dst_mac[6];
    uint32_t src_ip, dst_ip;
    uint16_t sport, dport;
    uint32_t seq, ack, seglen; /* seglen: data + SYN + FIN */
    uint8_t flags;
} fz_seg;

typedef struct fz {
    us_stack *s;
    void *mem;
    us_time now;
    /* device */
    uint8_t *tx_out;    /* the acquired, not yet committed buffer */
    uint32_t tx_out_len;
    uint8_t refuse[8];  /* refusal pattern, one bit per acquire */
    uint32_t refuse_bits, refuse_pos;
    bool refused;       /* a tx_acquire was refused since this was last cleared */
    us_pbuf *rxq[FZ_RXQ];
    uint32_t rx_head, rx_n;
    /* what the stack sent, for the PEER ops */
    fz_seg segs[FZ_SEGS];
    uint32_t seg_n, seg_next;
    bool arp_req_seen;
    uint32_t arp_req_tpa;
    /* the application */
    us_sock listener, udp;
    us_sock app[FZ_APP];
    uint32_t wakes;
} fz;

static fz F;

/* ---- the capture device ---- */

static uint8_t *dev_tx_acquire(void *ctx, uint32_t len)
{
    fz *f = ctx;
    FZ_CHECK(f->tx_out == NULL, "tx_acquire while an acquired buffer was not committed");
    FZ_CHECK(len >= 14 && len <= FZ_MTU + 14, "tx_acquire of %u bytes (MTU %u)", len, FZ_MTU);
    if (f->refuse_bits) {
        uint32_t bit = f->refuse_pos++ % f->refuse_bits;
        if (f->refuse[bit / 8] & (1u << (bit % 8))) {
            f->refused = true;
            return NULL;
        }
    }
    f->tx_out = malloc(len); /* exactly len: ASan sees a write past it */
    FZ_CHECK(f->tx_out != NULL, "out of memory");
    f->tx_out_len = len;
    return f->tx_out;
}

static void remember_tcp(fz *f, const uint8_t *frame, const us_ipv4_repr *ip,
                         const us_tcp_repr *t)
{
    fz_seg *g = &f->segs[f->seg_next];
    f->seg_next = (f->seg_next + 1) % FZ_SEGS;
    if (f->seg_n < FZ_SEGS)
        f->seg_n++;
    memcpy(g->dst_mac, frame, 6);
    g->src_ip = ip->src;
    g->dst_ip = ip->dst;
    g->sport = t->src_port;
    g->dport = t->dst_port;
    g->seq = t->seq;
    g->ack = t->ack;
    g->flags = t->flags;
    g->seglen = (uint32_t)t->payload_len + ((t->flags & US_TCP_SYN) ? 1u : 0u) +
                ((t->flags & US_TCP_FIN) ? 1u : 0u);
}

/* Every frame the stack sends must be well formed. */
static void check_output(fz *f, const uint8_t *b, uint32_t len)
{
    us_eth_repr e;
    size_t hl = 0;
    FZ_CHECK(us_eth_parse(&e, b, len, &hl) == US_WIRE_OK, "sent an unparsable Ethernet header");
    FZ_CHECK(memcmp(e.src, fz_mac, 6) == 0, "sent from another MAC");
    FZ_CHECK(e.vlan_tags == 0 && hl == 14, "sent a VLAN tag");
    if (e.ethertype == US_ETHERTYPE_ARP) {
        us_arp_repr a;
        FZ_CHECK(us_arp_parse(&a, b + 14, len - 14) == US_WIRE_OK, "sent a bad ARP message");
        FZ_CHECK(a.spa == FZ_IP && memcmp(a.sha, fz_mac, 6) == 0, "ARP from another address");
        FZ_CHECK(a.op == US_ARP_OP_REQUEST || a.op == US_ARP_OP_REPLY, "ARP op %u", a.op);
        if (a.op == US_ARP_OP_REQUEST) {
            f->arp_req_seen = true;
            f->arp_req_tpa = a.tpa;
        }
        return;
    }
    FZ_CHECK(e.ethertype == US_ETHERTYPE_IPV4, "sent ethertype 0x%04x", e.ethertype);
    us_ipv4_repr ip;
    us_wire_err w = us_ipv4_parse(&ip, b + 14, len - 14, 0);
    FZ_CHECK(w == US_WIRE_OK, "sent a bad IPv4 header: %s", us_wire_err_str(w));
    FZ_CHECK(ip.src == FZ_IP, "sent from IPv4 0x%08x", ip.src);
    FZ_CHECK(ip.ttl > 0, "sent TTL 0");
    FZ_CHECK(14u + ip.header_len + ip.payload_len <= FZ_MTU + 14u, "IPv4 packet beyond the MTU");
    if (ip.more_frags || ip.frag_offset)
        return; /* a fragment: the transport header is checked over the whole datagram only */
    const uint8_t *pl = b + 14 + ip.header_len;
    if (ip.proto == US_IP_PROTO_TCP) {
        us_tcp_repr t;
        w = us_tcp_parse(&t, pl, ip.payload_len, ip.src, ip.dst, 0);
        FZ_CHECK(w == US_WIRE_OK, "sent a bad TCP segment: %s", us_wire_err_str(w));
        FZ_CHECK(!((t.flags & US_TCP_SYN) && (t.flags & US_TCP_RST)), "sent SYN+RST");
        remember_tcp(f, b, &ip, &t);
    } else if (ip.proto == US_IP_PROTO_UDP) {
        us_udp_repr u;
        w = us_udp_parse(&u, pl, ip.payload_len, ip.src, ip.dst, 0);
        FZ_CHECK(w == US_WIRE_OK, "sent a bad UDP datagram: %s", us_wire_err_str(w));
    } else if (ip.proto == US_IP_PROTO_ICMP) {
        us_icmp_repr m;
        w = us_icmp_parse(&m, pl, ip.payload_len, 0);
        FZ_CHECK(w == US_WIRE_OK, "sent a bad ICMP message: %s", us_wire_err_str(w));
    } else {
        FZ_CHECK(0, "sent IPv4 protocol %u", ip.proto);
    }
}

static void dev_tx_commit(void *ctx, uint8_t *buf, uint32_t len)
{
    fz *f = ctx;
    FZ_CHECK(f->tx_out != NULL && buf == f->tx_out, "tx_commit of a buffer not acquired");
    FZ_CHECK(len <= f->tx_out_len, "tx_commit of %u bytes, %u acquired", len, f->tx_out_len);
    check_output(f, buf, len);
    free(f->tx_out);
    f->tx_out = NULL;
}

static us_pbuf *dev_rx(void *ctx)
{
    fz *f = ctx;
    if (f->rx_n == 0)
        return NULL;
    us_pbuf *p = f->rxq[f->rx_head];
    f->rx_head = (f->rx_head + 1) % FZ_RXQ;
    f->rx_n--;
    return p;
}

static void count_wake(void *ctx)
{
    ((fz *)ctx)->wakes++;
}

/* A socket waker that clears itself from inside the callback (allowed by socket.h). */
static void self_clearing_wake(void *ctx)
{
    us_sock h = (us_sock)(intptr_t)ctx;
    F.wakes++;
    us_sock_set_rx_waker(F.s, h, NULL, NULL);
    us_sock_set_tx_waker(F.s, h, NULL, NULL);
}

/* ---- frames into the stack ---- */

/* Checksum fix-up of a frame addressed to us, for FRAME with 0x20. */
static void fix_frame(uint8_t *b, uint32_t len)
{
    if (len < 14)
        return;
    memcpy(b, fz_mac, 6);
    uint32_t off = 12;
    for (int tags = 0; tags < 2 && off + 2 <= len; tags++) {
        uint16_t et = us_get_be16(b + off);
        if (et != US_ETHERTYPE_VLAN && et != US_ETHERTYPE_QINQ && et != US_ETHERTYPE_QINQ_OLD)
            break;
        off += 4;
    }
    if (off + 2 > len || us_get_be16(b + off) != US_ETHERTYPE_IPV4)
        return;
    uint8_t *ip = b + off + 2;
    uint32_t room = len - (off + 2);
    if (room < 20)
        return;
    uint32_t ihl = (ip[0] & 0x0Fu) * 4u, total = us_get_be16(ip + 2);
    if (ihl < 20 || ihl > room || total < ihl || total > room)
        return;
    us_put_be16(ip + 10, 0);
    us_put_be16(ip + 10, us_csum(ip, ihl));
    if (us_get_be16(ip + 6) & 0x3FFFu)
        return; /* a fragment */
    uint32_t src = us_get_be32(ip + 12), dst = us_get_be32(ip + 16);
    uint8_t *t = ip + ihl;
    uint32_t tl = total - ihl;
    uint32_t sum = us_csum_pseudo_ipv4(src, dst, ip[9], (uint16_t)tl);
    if (ip[9] == US_IP_PROTO_TCP && tl >= 20) {
        us_put_be16(t + 16, 0);
        us_put_be16(t + 16, us_csum_finish(us_csum_partial(t, tl, sum)));
    } else if (ip[9] == US_IP_PROTO_UDP && tl >= 8 && us_get_be16(t + 6) != 0) {
        us_put_be16(t + 6, 0);
        uint16_t c = us_csum_finish(us_csum_partial(t, tl, sum));
        us_put_be16(t + 6, c ? c : 0xFFFFu);
    } else if (ip[9] == US_IP_PROTO_ICMP && tl >= 8) {
        us_put_be16(t + 2, 0);
        us_put_be16(t + 2, us_csum(t, tl));
    }
}

/* Hand frame[0, len) to the stack in a pbuf of its own bufs; a NIC with no buffer drops it. */
static void deliver(fz *f, const uint8_t *frame, uint32_t len, bool ram, bool queue)
{
    us_pbuf *p = us_pbuf_alloc(us_stack_bufs(f->s), US_PBUF_RAW, len,
                               ram ? US_PBUF_RAM : US_PBUF_POOL);
    if (p == NULL)
        return;
    FZ_CHECK(p->tot_len == len, "pbuf of %u bytes has tot_len %u", len, p->tot_len);
    FZ_CHECK(us_pbuf_take(p, frame, len) == US_OK, "pbuf_take failed");
    if (queue) {
        if (f->rx_n == FZ_RXQ) {
            FZ_CHECK(us_pbuf_free(p) >= 1, "free failed");
            return;
        }
        f->rxq[(f->rx_head + f->rx_n++) % FZ_RXQ] = p;
        return;
    }
    unsigned r = us_ingress(f->s, p, f->now);
    FZ_CHECK(r & US_INGRESS_PROCESSED, "ingress did not process (0x%x)", r);
}

static uint8_t frame_buf[65536 + 64];

static void op_frame(fz *f, uint8_t op, const uint8_t *a, uint32_t n)
{
    memcpy(frame_buf, a, n);
    if (op & 0x20)
        fix_frame(frame_buf, n);
    deliver(f, frame_buf, n, (op & 0x80) != 0, (op & 0x40) != 0);
}

/* Ethernet + IPv4 header from the peer (or from off-link via the gateway) around payload, which
 * is already at frame_buf + 34. Returns the frame length. */
static uint32_t peer_ip_frame(const us_ipv4_repr *ip, uint32_t payload_len, const uint8_t *src_mac)
{
    us_eth_repr e;
    memcpy(e.dst, fz_mac, 6);
    memcpy(e.src, src_mac, 6);
    e.ethertype = US_ETHERTYPE_IPV4;
    e.vlan_tags = 0;
    us_eth_emit(&e, frame_buf);
    us_ipv4_repr r = *ip;
    r.payload_len = (uint16_t)payload_len;
    us_ipv4_emit(&r, frame_buf + 14);
    return 34 + payload_len;
}

static us_ipv4_repr peer_ip(uint32_t src, uint8_t proto)
{
    us_ipv4_repr ip;
    memset(&ip, 0, sizeof(ip));
    ip.src = src;
    ip.dst = FZ_IP;
    ip.proto = proto;
    ip.ttl = 64;
    ip.header_len = 20;
    return ip;
}

/* TCPPEER: arg[0] flags; arg[1] bits 0-1 which recent segment (0 = the last), bit 2 MSS, 3 window
 * scale, 4 SACK-permitted, 5 timestamps, 6 one SACK block, 7 a wrong checksum; arg[2] / arg[3]
 * seq / ack deltas (signed); arg[4..5] window; the rest is data. */
static void op_tcp_peer(fz *f, const uint8_t *a, uint32_t n)
{
    if (f->seg_n == 0 || n < 6)
        return;
    uint32_t back = a[1] & 3u;
    if (back >= f->seg_n)
        back = f->seg_n - 1;
    const fz_seg *g = &f->segs[(f->seg_next + FZ_SEGS - 1 - back) % FZ_SEGS];
    us_tcp_repr t;
    memset(&t, 0, sizeof(t));
    t.src_port = g->dport;
    t.dst_port = g->sport;
    t.seq = g->ack + (uint32_t)(int32_t)(int8_t)a[2];
    t.ack = g->seq + g->seglen + (uint32_t)(int32_t)(int8_t)a[3];
    t.flags = a[0];
    t.window = us_get_be16(a + 4);
    t.mss_present = (a[1] & 0x04u) != 0;
    t.mss = (uint16_t)(536u + (a[4] & 0x3Fu) * 16u);
    t.wscale_present = (a[1] & 0x08u) != 0;
    t.wscale = a[5] & 0x0Fu;
    t.sack_permitted = (a[1] & 0x10u) != 0;
    t.ts_present = (a[1] & 0x20u) != 0;
    t.tsval = (uint32_t)(f->now / US_MS);
    t.tsecr = 0;
    if (a[1] & 0x40u) {
        t.sack_count = 1;
        t.sack[0].left = g->seq + (uint32_t)a[2] * 64u;
        t.sack[0].right = t.sack[0].left + 1u + (uint32_t)a[3] * 64u;
    }
    uint32_t dlen = n - 6;
    size_t hl = us_tcp_header_len(&t);
    if (34u + hl + dlen > sizeof(frame_buf))
        return;
    uint8_t *seg = frame_buf + 34;
    memcpy(seg + hl, a + 6, dlen);
    t.payload_len = dlen;
    us_tcp_emit(&t, seg, g->dst_ip, g->src_ip, us_csum_partial(seg + hl, dlen, 0));
    if (a[1] & 0x80u)
        seg[16] ^= 0x5Au;
    us_ipv4_repr ip = peer_ip(g->dst_ip, US_IP_PROTO_TCP);
    ip.dont_frag = true;
    ip.ident = (uint16_t)f->now;
    static const uint8_t gw_mac[6] = {0x02, 0, 0, 0, 0, 0xFE};
    uint32_t len = peer_ip_frame(&ip, (uint32_t)hl + dlen, g->dst_mac[0] & 1u ? gw_mac : g->dst_mac);
    deliver(f, frame_buf, len, false, false);
}

/* ARPPEER: a reply to the last request; arg[0..5] the MAC to announce (default the peer's). */
static void op_arp_peer(fz *f, const uint8_t *a, uint32_t n)
{
    if (!f->arp_req_seen)
        return;
    us_arp_repr r;
    r.op = US_ARP_OP_REPLY;
    memcpy(r.sha, n >= 6 ? a : fz_peer_mac, 6);
    r.sha[0] &= 0xFEu;
    r.spa = f->arp_req_tpa;
    memcpy(r.tha, fz_mac, 6);
    r.tpa = FZ_IP;
    us_eth_repr e;
    memcpy(e.dst, fz_mac, 6);
    memcpy(e.src, r.sha, 6);
    e.ethertype = US_ETHERTYPE_ARP;
    e.vlan_tags = 0;
    us_eth_emit(&e, frame_buf);
    us_arp_emit(&r, frame_buf + 14);
    deliver(f, frame_buf, 14 + US_ARP_LEN, false, false);
}

/* UDPPEER: arg[0..1] source port, arg[2..3] destination port, the rest data. */
static void op_udp_peer(fz *f, const uint8_t *a, uint32_t n)
{
    if (n < 4 || 34u + 8u + (n - 4) > sizeof(frame_buf))
        return;
    uint32_t dlen = n - 4;
    uint8_t *u = frame_buf + 34;
    memcpy(u + 8, a + 4, dlen);
    us_udp_repr r = {.src_port = us_get_be16(a), .dst_port = us_get_be16(a + 2),
                     .payload = NULL, .payload_len = dlen};
    us_udp_emit(&r, u, FZ_PEER, FZ_IP, us_csum_partial(u + 8, dlen, 0));
    us_ipv4_repr ip = peer_ip(FZ_PEER, US_IP_PROTO_UDP);
    ip.ident = us_get_be16(a);
    deliver(f, frame_buf, peer_ip_frame(&ip, 8 + dlen, fz_peer_mac), false, false);
}

/* IPPEER: arg[0] protocol, arg[1..2] ident, arg[3..4] flags + fragment offset field, arg[5] TTL,
 * arg[6] bit 0: from off-link (through the gateway), bit 1: a RAM pbuf; the rest the payload. */
static void op_ip_peer(fz *f, const uint8_t *a, uint32_t n)
{
    if (n < 7 || 34u + (n - 7) > sizeof(frame_buf) || n - 7 > 65515u)
        return;
    uint32_t plen = n - 7;
    memcpy(frame_buf + 34, a + 7, plen);
    us_ipv4_repr ip = peer_ip((a[6] & 1u) ? FZ_OFFLINK : FZ_PEER, a[0]);
    ip.ident = us_get_be16(a + 1);
    uint16_t ff = us_get_be16(a + 3);
    ip.dont_frag = (ff & 0x4000u) != 0;
    ip.more_frags = (ff & 0x2000u) != 0;
    ip.frag_offset = (uint16_t)((ff & 0x1FFFu) * 8u);
    if ((uint32_t)ip.frag_offset + plen > 65535u)
        return;
    ip.ttl = a[5];
    static const uint8_t gw_mac[6] = {0x02, 0, 0, 0, 0, 0xFE};
    uint32_t len = peer_ip_frame(&ip, plen, (a[6] & 1u) ? gw_mac : fz_peer_mac);
    deliver(f, frame_buf, len, (a[6] & 2u) != 0, false);
}

/* ---- time ---- */

/* Egress at now; with no refusal on the way, nothing may be left due at now (or a scheduler that
 * trusts us_poll_at would spin). */
static void egress(fz *f, us_egress_mode mode)
{
    f->refused = false;
    (void)us_egress(f->s, f->now, mode);
    FZ_CHECK(f->tx_out == NULL, "egress left a TX buffer acquired and not committed");
    us_time at = us_poll_at(f->s, f->now);
    if (!f->refused)
        FZ_CHECK(at > f->now, "egress without refusals left work due: poll_at %llu, now %llu",
                 (unsigned long long)at, (unsigned long long)f->now);
}

static void op_time(fz *f, const uint8_t *a, uint32_t n)
{
    uint8_t mode = n > 0 ? a[0] : 0;
    if (mode & 2u) {
        us_time at = us_poll_at(f->s, f->now);
        if (at != US_TIME_NEVER && at > f->now)
            f->now = at;
    } else {
        static const us_time unit[4] = {1000ull, US_MS, 100 * US_MS, US_SEC};
        uint32_t amount = n >= 3 ? us_get_be16(a + 1) : (n == 2 ? a[1] : 1u);
        f->now += (us_time)amount * unit[(mode >> 2) & 3u];
    }
    if (mode & 0x10u) {
        f->refused = false;
        (void)us_poll(f->s, f->now);
        FZ_CHECK(f->tx_out == NULL, "poll left a TX buffer acquired and not committed");
    } else {
        egress(f, (mode & 1u) ? US_EGRESS_READYLIST : US_EGRESS_ALL);
    }
}

/* ---- the application ---- */

static uint8_t app_buf[65536];

static uint32_t dst_of(uint8_t sel)
{
    static const uint32_t d[4] = {FZ_PEER, FZ_GW, FZ_OFFLINK, FZ_NOBODY};
    return d[sel & 3u];
}

static int free_app_slot(const fz *f)
{
    for (uint32_t i = 0; i < FZ_APP; i++)
        if (f->app[i] < 0)
            return (int)i;
    return -1;
}

static void keep_or_release(fz *f, us_sock h)
{
    int k = free_app_slot(f);
    if (k >= 0) {
        f->app[k] = h;
    } else {
        FZ_CHECK(us_tcp_abort(f->s, h, f->now) == US_OK, "abort of a fresh handle");
        FZ_CHECK(us_tcp_release(f->s, h) == US_OK, "release of a fresh handle");
    }
}

static void check_info(fz *f, us_sock h)
{
    us_tcp_info in;
    if (us_tcp_get_info(f->s, h, &in) != US_OK)
        return;
    const us_stack_config *c = us_stack_get_config(f->s);
    FZ_CHECK(in.state <= US_TCP_TIME_WAIT, "state %d", (int)in.state);
    FZ_CHECK(in.state == us_tcp_get_state(f->s, h), "info and get_state disagree");
    FZ_CHECK((int32_t)(in.snd_nxt - in.snd_una) >= 0, "snd_nxt %u before snd_una %u", in.snd_nxt,
             in.snd_una);
    FZ_CHECK(us_tcp_recv_queue(f->s, h) <= c->tcp_rx_buf, "recv queue beyond the ring");
    FZ_CHECK(us_tcp_send_space(f->s, h) <= c->tcp_tx_buf, "send space beyond the ring");
    FZ_CHECK(in.ooseq_segs <= c->tcp_ooseq_max, "%u out-of-order segments", in.ooseq_segs);
    if (in.state == US_TCP_ESTABLISHED || in.state == US_TCP_CLOSE_WAIT) {
        FZ_CHECK(in.rto >= c->tcp_rto_min && in.rto <= c->tcp_rto_max, "rto %llu",
                 (unsigned long long)in.rto);
        FZ_CHECK(in.mss > 0 && in.mss <= FZ_MTU - 40, "mss %u", in.mss);
    }
}

/* APP: arg[0] action, arg[1] handle / address selector, the rest its arguments. */
static void op_app(fz *f, const uint8_t *a, uint32_t n)
{
    if (n < 2)
        return;
    uint8_t act = a[0] % 14u, sel = a[1];
    const uint8_t *x = a + 2;
    uint32_t xn = n - 2;
    us_sock h = f->app[sel % FZ_APP];
    us_stack *s = f->s;
    switch (act) {
    case 0: { /* accept */
        if (f->listener < 0)
            break;
        us_sock c = us_tcp_accept(s, f->listener);
        /* US_EINVAL once the listener was closed (the handle stays, it no longer listens) */
        FZ_CHECK(c >= 0 || c == US_EAGAIN || c == US_EINVAL, "accept returned %d", (int)c);
        if (c >= 0) {
            FZ_CHECK(c != f->listener && c != f->udp, "accept returned a handle in use");
            for (uint32_t i = 0; i < FZ_APP; i++)
                FZ_CHECK(f->app[i] != c, "accept returned a handle in use");
            keep_or_release(f, c);
        }
        break;
    }
    case 1: { /* recv */
        if (h < 0)
            break;
        uint32_t want = xn >= 2 ? us_get_be16(x) : (uint32_t)sizeof(app_buf);
        uint32_t q = us_tcp_recv_queue(s, h);
        int32_t r = us_tcp_recv(s, h, app_buf, want);
        FZ_CHECK(r == US_EAGAIN || r == US_EINVAL || (r >= 0 && (uint32_t)r <= want),
                 "recv of %u returned %d", want, (int)r);
        if (q > 0 && want > 0)
            FZ_CHECK(r == (int32_t)(q < want ? q : want), "recv of %u with %u queued gave %d",
                     want, q, (int)r);
        break;
    }
    case 2: { /* send: the data given, or arg[0] odd: be16(arg[1..2]) bytes of a pattern */
        if (h < 0)
            break;
        const uint8_t *d = x;
        uint32_t len = xn;
        if (xn >= 3 && (x[0] & 1u)) {
            len = us_get_be16(x + 1);
            for (uint32_t i = 0; i < len; i++)
                app_buf[i] = (uint8_t)(i * 7u + x[0]);
            d = app_buf;
        }
        uint32_t space = us_tcp_send_space(s, h);
        int32_t r = us_tcp_send(s, h, d, len);
        FZ_CHECK(r == US_EINVAL || (r >= 0 && (uint32_t)r <= len && (uint32_t)r <= space),
                 "send of %u (space %u) returned %d", len, space, (int)r);
        break;
    }
    case 3: /* close */
        if (h >= 0)
            FZ_CHECK(us_tcp_close(s, h) == US_OK, "close of a held handle failed");
        break;
    case 4: /* abort */
        if (h >= 0)
            FZ_CHECK(us_tcp_abort(s, h, f->now) == US_OK, "abort of a held handle failed");
        break;
    case 5: /* release */
        if (h >= 0) {
            FZ_CHECK(us_tcp_release(s, h) == US_OK, "release of a held handle failed");
            f->app[sel % FZ_APP] = -1;
        }
        break;
    case 6: { /* connect to a selected address, port arg[0..1], local port arg[2..3] or 0 */
        if (free_app_slot(f) < 0)
            break;
        us_sock c = us_tcp_open(s);
        FZ_CHECK(c >= 0 || c == US_ENOMEM, "tcp_open returned %d", (int)c);
        if (c < 0)
            break;
        uint16_t port = xn >= 2 ? us_get_be16(x) : 80;
        uint16_t lport = xn >= 4 ? us_get_be16(x + 2) : 0;
        us_status st = us_tcp_connect(s, c, dst_of(sel >> 2), port, lport, f->now);
        FZ_CHECK(st == US_OK || st == US_EINVAL, "connect returned %d", (int)st);
        keep_or_release(f, c);
        break;
    }
    case 7: { /* UDP recv; arg[0] odd: echo it back to where it came from */
        if (f->udp < 0)
            break;
        uint32_t sip = 0;
        uint16_t sport = 0;
        uint32_t cap = xn >= 3 ? us_get_be16(x + 1) : (uint32_t)sizeof(app_buf);
        int32_t r = us_udp_recv(s, f->udp, app_buf, cap, &sip, &sport);
        FZ_CHECK(r == US_EAGAIN || (r >= 0 && r <= 65535), "udp_recv returned %d", (int)r);
        if (r >= 0 && xn >= 1 && (x[0] & 1u)) {
            uint32_t len = (uint32_t)r < cap ? (uint32_t)r : cap;
            us_status st = us_udp_send(s, f->udp, app_buf, len, sip, sport);
            FZ_CHECK(st == US_OK || st == US_EBUF || st == US_EINVAL, "udp_send returned %d",
                     (int)st);
        }
        break;
    }
    case 8: { /* UDP send to a selected address: port arg[0..1], then data (arg[2] odd: be16
                 (arg[3..4]) bytes of a pattern, for fragmentation) */
        if (f->udp < 0 || xn < 2)
            break;
        const uint8_t *d = x + 2;
        uint32_t len = xn - 2;
        if (xn >= 5 && (x[2] & 1u)) {
            len = us_get_be16(x + 3);
            memset(app_buf, x[2], len);
            d = app_buf;
        }
        us_status st = us_udp_send(s, f->udp, d, len, dst_of(sel >> 2), us_get_be16(x));
        FZ_CHECK(st == US_OK || st == US_EBUF || st == US_EINVAL, "udp_send returned %d", (int)st);
        break;
    }
    case 9: /* the listener: close it (sel odd) or release and listen again with a new backlog */
        if (f->listener >= 0 && (sel & 1u)) {
            FZ_CHECK(us_tcp_close(s, f->listener) == US_OK, "listener close failed");
        } else {
            if (f->listener >= 0)
                FZ_CHECK(us_tcp_release(s, f->listener) == US_OK, "listener release failed");
            f->listener = us_tcp_open(s);
            if (f->listener >= 0 &&
                us_tcp_listen(s, f->listener, 80, 1u + (sel >> 1) % 4u) != US_OK) {
                FZ_CHECK(us_tcp_release(s, f->listener) == US_OK, "release failed");
                f->listener = -1;
            }
        }
        break;
    case 10: /* info of every handle */
        for (uint32_t i = 0; i < FZ_APP; i++)
            if (f->app[i] >= 0)
                check_info(f, f->app[i]);
        if (f->listener >= 0)
            check_info(f, f->listener);
        break;
    case 11: /* wakers on a handle (sel bit 2: the self-clearing one) */
        if (h >= 0) {
            us_waker_fn fn = (sel & 4u) ? self_clearing_wake : count_wake;
            void *ctx = (sel & 4u) ? (void *)(intptr_t)h : (void *)f;
            us_sock_set_rx_waker(s, h, fn, ctx);
            us_sock_set_tx_waker(s, h, fn, ctx);
        }
        break;
    case 12: /* the UDP socket: close, and bind a new one to 7 (sel odd: an ephemeral port) */
        if (f->udp >= 0)
            FZ_CHECK(us_udp_close(s, f->udp) == US_OK, "udp_close failed");
        f->udp = us_udp_open(s);
        if (f->udp >= 0 && us_udp_bind(s, f->udp, (sel & 1u) ? 0 : 7) != US_OK) {
            FZ_CHECK(us_udp_close(s, f->udp) == US_OK, "udp_close failed");
            f->udp = -1;
        }
        break;
    case 13: /* ARP: announce ourselves (sel odd), or a static entry for a selected address */
        if (sel & 1u) {
            us_arp_announce(s);
        } else {
            us_status st = us_arp_add_static(s, dst_of(sel >> 2), fz_peer_mac);
            FZ_CHECK(st == US_OK || st == US_ENOMEM, "arp_add_static returned %d", (int)st);
        }
        break;
    default:
        break;
    }
    FZ_CHECK(f->tx_out == NULL, "an API call left a TX buffer acquired");
}

/* ---- setup and teardown ---- */

static void stack_config(us_stack_config *c)
{
    us_stack_config_default(c);
    memcpy(c->mac, fz_mac, 6);
    c->ipv4_addr = FZ_IP;
    c->ipv4_gateway = FZ_GW;
    c->bufs.pbuf_pool_count = 10;  /* a 1514-byte frame takes 3 blocks */
    c->bufs.pbuf_pool_bufsize = 512;
    c->bufs.pbuf_count = 4;
    c->bufs.heap_size = 16384;     /* one reassembled 8 KiB datagram at a time */
    c->udp_sockets = 2;
    c->tcp_sockets = 5;            /* listener + FZ_APP, so the table can run full */
    c->udp_rx_buf = 12288;
    c->udp_tx_buf = 12288;
    c->tcp_rx_buf = 4096;          /* small windows: zero window, persist */
    c->tcp_tx_buf = 4096;
    c->arp_entries = 4;
    c->arp_queue = 2;
    c->reass_slots = 2;
    c->reass_max_bytes = 16384;
    c->tcp_ooseq_max = 4;
    c->tcp_max_retries = 4;
    c->seed = 1;
}

static void setup(fz *f)
{
    memset(f, 0, sizeof(*f));
    us_stack_config c;
    stack_config(&c);
    us_dev d;
    memset(&d, 0, sizeof(d));
    d.ctx = f;
    d.mtu = FZ_MTU;
    d.max_burst = 4;
    d.rx = dev_rx;
    d.tx_acquire = dev_tx_acquire;
    d.tx_commit = dev_tx_commit;
    size_t need = us_stack_mem_size(&c);
    FZ_CHECK(need > 0, "invalid config");
    f->mem = malloc(need);
    FZ_CHECK(f->mem != NULL, "out of memory");
    us_status st = US_EINVAL;
    f->s = us_stack_init(f->mem, need, &c, &d, &st);
    FZ_CHECK(f->s != NULL && st == US_OK, "us_stack_init failed");
    us_set_egress_waker(f->s, count_wake, f);
    f->listener = us_tcp_open(f->s);
    FZ_CHECK(f->listener >= 0, "tcp_open");
    FZ_CHECK(us_tcp_listen(f->s, f->listener, 80, 2) == US_OK, "listen");
    f->udp = us_udp_open(f->s);
    FZ_CHECK(f->udp >= 0, "udp_open");
    FZ_CHECK(us_udp_bind(f->s, f->udp, 7) == US_OK, "udp_bind");
    for (uint32_t i = 0; i < FZ_APP; i++)
        f->app[i] = -1;
}

/* FUZZ_STACK_VERBOSE=1: one line per record and the stack's counters at the end, to see what an
 * input does (reading a crasher, checking that a seed goes where it is meant to). */
static int verbose = -1;

static void teardown(fz *f)
{
    us_stack *s = f->s;
    f->refuse_bits = 0;
    for (uint32_t i = 0; i < FZ_APP; i++) {
        if (f->app[i] < 0)
            continue;
        FZ_CHECK(us_tcp_abort(s, f->app[i], f->now) == US_OK, "abort at teardown");
        FZ_CHECK(us_tcp_release(s, f->app[i]) == US_OK, "release at teardown");
    }
    if (f->listener >= 0)
        FZ_CHECK(us_tcp_release(s, f->listener) == US_OK, "listener release at teardown");
    if (f->udp >= 0)
        FZ_CHECK(us_udp_close(s, f->udp) == US_OK, "udp_close at teardown");
    while (f->rx_n)
        FZ_CHECK(us_pbuf_free(dev_rx(f)) >= 1, "free of a queued frame");
    /* Time runs on to every deadline (retransmissions of background closes, TIME_WAIT, ARP
     * retries and aging, reassembly timeouts) until nothing is scheduled. */
    egress(f, US_EGRESS_ALL);
    for (int i = 0; i < 1000; i++) {
        us_time at = us_poll_at(s, f->now);
        if (at == US_TIME_NEVER)
            break;
        if (at > f->now)
            f->now = at;
        egress(f, US_EGRESS_ALL);
    }
    FZ_CHECK(us_poll_at(s, f->now) == US_TIME_NEVER, "something stays scheduled forever");
    for (uint32_t i = 0; i < s->tcp_n; i++)
        FZ_CHECK(!s->tcp[i].in_use, "TCP slot %u still in use (state %s)", i,
                 us_tcp_state_name(s->tcp[i].tcb.state));
    for (uint32_t i = 0; i < s->udp_n; i++)
        FZ_CHECK(!s->udp[i].in_use, "UDP slot %u still in use", i);
    us_bufs *b = us_stack_bufs(s);
    for (int i = 0; i < US_POOL_COUNT; i++)
        FZ_CHECK(b->pools[i].stats.used == 0, "leak: pool %s has %u blocks in use",
                 us_pool_name((us_pool_id)i), b->pools[i].stats.used);
    FZ_CHECK(b->heap.stats.used == 0, "leak: heap has %u bytes in use", b->heap.stats.used);
    FZ_CHECK(us_bufs_all_free(b), "leak: us_bufs_all_free");
    FZ_CHECK(b->pbuf_stats.illegal == 0, "%u double frees", b->pbuf_stats.illegal);
    if (s->reass.n)
        FZ_CHECK(s->reass.heap.stats.used == 0, "leak: reassembly heap has %u bytes in use",
                 s->reass.heap.stats.used);
    FZ_CHECK(f->tx_out == NULL, "a TX buffer is still acquired");
    free(f->mem);
    f->mem = NULL;
    f->s = NULL;
}

static void trace_op(fz *f, uint32_t rec, uint8_t op, const uint8_t *a, uint32_t n)
{
    static const char *const names[8] = {"FRAME",   "TIME",    "APP",     "TXCTL",
                                          "TCPPEER", "ARPPEER", "UDPPEER", "IPPEER"};
    fprintf(stderr, "#%u t=%.6f %s(0x%02x) len %u:", rec, (double)f->now / 1e9, names[op & 7u],
            op, n);
    for (uint32_t i = 0; i < n && i < 16; i++)
        fprintf(stderr, " %02x", a[i]);
    fprintf(stderr, n > 16 ? " ... ->" : " ->");
    const us_stack_stats *st = us_stack_get_stats(f->s);
    fprintf(stderr, " tx %llu", (unsigned long long)st->frames_tx);
    for (uint32_t i = 0; i < FZ_APP; i++)
        if (f->app[i] >= 0)
            fprintf(stderr, " app[%u] %s", i, us_tcp_state_name(us_tcp_get_state(f->s, f->app[i])));
    fprintf(stderr, "\n");
}

static void trace_end(fz *f)
{
    const us_stack_stats *st = us_stack_get_stats(f->s);
    fprintf(stderr, "end t=%.6f: rx %llu tx %llu tx_refused %llu rtx %llu fast %llu rto %llu\n",
            (double)f->now / 1e9, (unsigned long long)st->frames_rx,
            (unsigned long long)st->frames_tx, (unsigned long long)st->tx_alloc_fail,
            (unsigned long long)st->tcp_retransmits, (unsigned long long)st->tcp_fast_retransmits,
            (unsigned long long)st->tcp_timeouts);
    for (int i = 0; i < US_DROP_COUNT; i++)
        if (st->drop[i])
            fprintf(stderr, "  drop %s: %llu\n", us_drop_name((us_drop_reason)i),
                    (unsigned long long)st->drop[i]);
    for (int i = 0; i < US_WIRE_ERR_COUNT; i++)
        if (st->drop_wire[i])
            fprintf(stderr, "  drop %s: %llu\n", us_wire_err_str((us_wire_err)i),
                    (unsigned long long)st->drop_wire[i]);
    for (uint32_t i = 0; i < FZ_APP; i++)
        if (f->app[i] >= 0)
            fprintf(stderr, "  app[%u] = %d: %s, %u queued\n", i, (int)f->app[i],
                    us_tcp_state_name(us_tcp_get_state(f->s, f->app[i])),
                    us_tcp_recv_queue(f->s, f->app[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz *f = &F;
    if (verbose < 0) {
        const char *v = getenv("FUZZ_STACK_VERBOSE");
        verbose = v != NULL && v[0] != '\0' && v[0] != '0';
    }
    setup(f);
    for (uint32_t rec = 0; size >= 3 && rec < FZ_MAX_RECORDS; rec++) {
        uint8_t op = data[0];
        uint32_t n = us_get_be16(data + 1);
        data += 3;
        size -= 3;
        if (n > size)
            n = (uint32_t)size;
        const uint8_t *a = data;
        data += n;
        size -= n;
        switch (op & 7u) {
        case 0:
            op_frame(f, op, a, n);
            break;
        case 1:
            op_time(f, a, n);
            break;
        case 2:
            op_app(f, a, n);
            break;
        case 3:
            f->refuse_bits = 8u * (n < 8 ? n : 8);
            f->refuse_pos = 0;
            memcpy(f->refuse, a, f->refuse_bits / 8);
            break;
        case 4:
            op_tcp_peer(f, a, n);
            break;
        case 5:
            op_arp_peer(f, a, n);
            break;
        case 6:
            op_udp_peer(f, a, n);
            break;
        default:
            op_ip_peer(f, a, n);
            break;
        }
        FZ_CHECK(f->tx_out == NULL, "op %u left a TX buffer acquired", op & 7u);
        if (verbose)
            trace_op(f, rec, op, a, n);
    }
    if (verbose)
        trace_end(f);
    teardown(f);
    return 0;
}
