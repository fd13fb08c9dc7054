/* sbtraffic: flow extraction. One pass over the trace; flows live in a growing array indexed by a
 * hash map on the 5-tuple with its two endpoints in a canonical order, so both directions find the
 * same flow. Fragments are tied to their datagram's flow through a second map keyed by
 * (src, dst, protocol, IP ident). Without checksum verification (a replay's pass), a run of
 * datagrams of the UDP conversation the full path last placed is taken in bulk by udp_run, which
 * checks and counts what the full path would, byte for byte, without parsing into reprs. */
#include "sbtraffic/flows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bigalloc.h"
#include "flowpass.h"
#include "keymap.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"
#include "ustack/wire/udp.h"

/* A first fragment with the ident of one seen less than this long ago is the same datagram again
 * (RFC 791 reassembly timeouts are of this order); after it, the ident has been reused. */
#define FRAG_SAME_DATAGRAM_NS (30ull * 1000000000ull)

typedef struct frag_entry {
    uint32_t flow;
    uint8_t dir; /* of the datagram in its flow */
    uint64_t ts_ns;
} frag_entry;

typedef struct ctx {
    sb_flows *out;
    size_t cap;
    bool check_csum;
    /* The last lookup: consecutive frames mostly belong to the same conversation, and hashing the
     * key costs more than comparing it. Forgotten whenever a flow is added (a new flow may take
     * over a 5-tuple). */
    bool last_valid;
    uint8_t last_proto;
    uint16_t last_sport, last_dport;
    uint32_t last_src, last_dst, last_fi;
    /* The fast path's memory (udp_run): the addresses and ports, as the bytes on the wire, of the
     * last unfragmented UDP datagram the full path placed, with its flow and direction. A UDP
     * 5-tuple, once it has a flow, keeps it (only TCP reuses a 5-tuple for a new flow). */
    bool udp_valid;
    uint8_t udp_dir;
    uint32_t udp_fi;
    uint8_t udp_addrs[8]; /* IPv4 source and destination */
    uint8_t udp_ports[4]; /* source and destination port */
    sb__keymap flow_map;
    sb__keymap frag_map;
    frag_entry *frags;
    size_t n_frags, frags_cap;
} ctx;

const char *sb_proto_name(uint8_t proto)
{
    switch (proto) {
    case US_IP_PROTO_TCP: return "tcp";
    case US_IP_PROTO_UDP: return "udp";
    case US_IP_PROTO_ICMP: return "icmp";
    }
    return "ip";
}

char *sb_ip_str(uint32_t ip, char buf[16])
{
    snprintf(buf, 16, "%u.%u.%u.%u", (unsigned)(ip >> 24), (unsigned)(ip >> 16) & 0xffu,
             (unsigned)(ip >> 8) & 0xffu, (unsigned)ip & 0xffu);
    return buf;
}

/* The map key of a conversation: protocol and the two endpoints, lower one first, each endpoint as
 * (address << 16 | port) in one 64-bit word, the protocol above the lower one's 48 bits. Only the
 * map sees it (equal conversations, equal keys; nothing depends on where a key lands). */
static void flow_map_key(uint8_t k[SB__KEYMAP_KEY], uint8_t proto, uint32_t ip_a, uint16_t port_a,
                         uint32_t ip_b, uint16_t port_b)
{
    uint64_t a = ((uint64_t)ip_a << 16) | port_a, b = ((uint64_t)ip_b << 16) | port_b;
    if (b < a) {
        uint64_t t = a;
        a = b;
        b = t;
    }
    a |= (uint64_t)proto << 48;
    memcpy(k, &a, 8);
    memcpy(k + 8, &b, 8);
}

static void frag_map_key(uint8_t k[SB__KEYMAP_KEY], uint8_t proto, uint32_t src, uint32_t dst,
                         uint16_t ident)
{
    memset(k, 0, SB__KEYMAP_KEY);
    k[0] = proto;
    us_put_be32(k + 2, src);
    us_put_be32(k + 6, dst);
    us_put_be16(k + 10, ident);
}

uint32_t sb_flows_find(const sb_flows *f, uint8_t proto, uint32_t ip_a, uint16_t port_a,
                       uint32_t ip_b, uint16_t port_b, unsigned *dir)
{
    for (size_t i = f->n; i-- > 0;) {
        const sb_flow_key *k = &f->flows[i].key;
        if (k->proto != proto)
            continue;
        if (k->client_ip == ip_a && k->client_port == port_a && k->server_ip == ip_b &&
            k->server_port == port_b) {
            if (dir)
                *dir = SB_C2S;
            return (uint32_t)i;
        }
        if (k->client_ip == ip_b && k->client_port == port_b && k->server_ip == ip_a &&
            k->server_port == port_a) {
            if (dir)
                *dir = SB_S2C;
            return (uint32_t)i;
        }
    }
    return SB_FLOW_NONE;
}

/* Append a new flow with client (cip, cport); returns its index or SB_FLOW_NONE (no memory). */
static uint32_t new_flow(ctx *c, uint8_t proto, uint32_t cip, uint16_t cport, uint32_t sip,
                         uint16_t sport, uint64_t ts, size_t frame)
{
    sb_flows *o = c->out;
    if (o->n == c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 64;
        sb_flow *nf = realloc(o->flows, ncap * sizeof *nf);
        if (!nf)
            return SB_FLOW_NONE;
        o->flows = nf;
        c->cap = ncap;
    }
    uint8_t k[SB__KEYMAP_KEY];
    flow_map_key(k, proto, cip, cport, sip, sport);
    c->last_valid = false;
    if (sb__keymap_put(&c->flow_map, k, (uint32_t)o->n) != SB_OK)
        return SB_FLOW_NONE;
    sb_flow *f = &o->flows[o->n];
    memset(f, 0, sizeof *f);
    f->key.proto = proto;
    f->key.client_ip = cip;
    f->key.client_port = cport;
    f->key.server_ip = sip;
    f->key.server_port = sport;
    f->start_ns = ts;
    f->end_ns = ts;
    f->first_frame = (uint32_t)frame;
    return (uint32_t)o->n++;
}

static uint32_t find_flow_map(ctx *c, uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst,
                              uint16_t dport)
{
    uint8_t k[SB__KEYMAP_KEY];
    flow_map_key(k, proto, src, sport, dst, dport);
    uint32_t *v = sb__keymap_get(&c->flow_map, k);
    uint32_t fi = v ? *v : SB_FLOW_NONE;
    if (fi != SB_FLOW_NONE) {
        c->last_valid = true;
        c->last_proto = proto;
        c->last_src = src;
        c->last_dst = dst;
        c->last_sport = sport;
        c->last_dport = dport;
        c->last_fi = fi;
    }
    return fi;
}

static inline uint32_t find_flow(ctx *c, uint8_t proto, uint32_t src, uint16_t sport,
                                 uint32_t dst, uint16_t dport)
{
    if (c->last_valid && c->last_proto == proto && c->last_src == src && c->last_dst == dst &&
        c->last_sport == sport && c->last_dport == dport)
        return c->last_fi;
    return find_flow_map(c, proto, src, sport, dst, dport);
}

/* Direction of a packet from (src, sport) in flow f. */
static unsigned dir_of(const sb_flow *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    const sb_flow_key *k = &f->key;
    if (k->client_ip == src && k->client_port == sport && k->server_ip == dst &&
        k->server_port == dport)
        return SB_C2S;
    return SB_S2C;
}

static void count_packet(sb_flows *o, uint32_t fi, unsigned dir, size_t frame, uint64_t ts)
{
    sb_flow *f = &o->flows[fi];
    f->pkts[dir]++;
    if (ts > f->end_ns)
        f->end_ns = ts;
    o->frame_flow[frame] = fi;
    o->frame_dir[frame] = (uint8_t)dir;
}

/* Add bytes of payload going dir to the flow's message list. Returns false on no memory. */
static inline bool add_payload(sb_flow *f, unsigned dir, uint64_t bytes, uint64_t ts)
{
    if (bytes == 0)
        return true;
    f->bytes[dir] += bytes;
    if (f->n_msgs && f->msgs[f->n_msgs - 1].dir == dir) {
        f->msgs[f->n_msgs - 1].bytes += bytes;
        f->msgs[f->n_msgs - 1].pkts++;
        return true;
    }
    if (f->n_msgs == f->msgs_cap_) {
        size_t ncap = f->msgs_cap_ ? 2 * f->msgs_cap_ : 8;
        sb_flow_msg *nm = realloc(f->msgs, ncap * sizeof *nm);
        if (!nm)
            return false;
        f->msgs = nm;
        f->msgs_cap_ = ncap;
    }
    sb_flow_msg *m = &f->msgs[f->n_msgs++];
    m->dir = (uint8_t)dir;
    m->pkts = 1;
    m->bytes = bytes;
    m->start_ns = ts;
    return true;
}

static bool tcp_closed(const sb_flow *f)
{
    return f->rst || (f->fin[SB_C2S] && f->fin[SB_S2C]);
}

/* Account one unfragmented TCP segment. Returns SB_OK or SB_ENOMEM. */
static sb_status on_tcp(ctx *c, const us_ipv4_repr *ip, const us_tcp_repr *t, size_t frame,
                        uint64_t ts)
{
    bool syn = t->flags & US_TCP_SYN, ack = t->flags & US_TCP_ACK;
    uint32_t fi = find_flow(c, US_IP_PROTO_TCP, ip->src, t->src_port, ip->dst, t->dst_port);
    if (fi != SB_FLOW_NONE && syn && !ack && tcp_closed(&c->out->flows[fi]))
        fi = SB_FLOW_NONE; /* the 5-tuple is reused by a new connection */
    if (fi == SB_FLOW_NONE) {
        if (syn && ack) /* we missed the SYN: the receiver of the SYN-ACK is the client */
            fi = new_flow(c, US_IP_PROTO_TCP, ip->dst, t->dst_port, ip->src, t->src_port, ts, frame);
        else
            fi = new_flow(c, US_IP_PROTO_TCP, ip->src, t->src_port, ip->dst, t->dst_port, ts, frame);
        if (fi == SB_FLOW_NONE)
            return SB_ENOMEM;
    }
    sb_flow *f = &c->out->flows[fi];
    unsigned d = dir_of(f, ip->src, t->src_port, ip->dst, t->dst_port);
    count_packet(c->out, fi, d, frame, ts);
    if (syn) {
        if (d == SB_C2S && !ack)
            f->syn_seen = true;
        if (d == SB_S2C && ack)
            f->synack_seen = true;
        f->isn[d] = t->seq;
        f->isn_known[d] = true;
        f->seq_next_[d] = t->seq + 1;
        f->seq_valid_[d] = true;
    }
    if (t->payload_len) {
        uint32_t s = t->seq + (syn ? 1u : 0u), e = s + (uint32_t)t->payload_len;
        if (!f->seq_valid_[d]) {
            f->seq_next_[d] = s;
            f->seq_valid_[d] = true;
        }
        int32_t ahead = (int32_t)(e - f->seq_next_[d]);
        uint64_t fresh = ahead > 0 ? (uint32_t)ahead : 0;
        if (fresh < t->payload_len)
            f->retrans_bytes[d] += t->payload_len - fresh;
        if (ahead > 0)
            f->seq_next_[d] = e;
        if (!add_payload(f, d, fresh, ts))
            return SB_ENOMEM;
    }
    if (t->flags & US_TCP_FIN)
        f->fin[d] = true;
    if (t->flags & US_TCP_RST)
        f->rst = true;
    return SB_OK;
}

/* Find or create the flow of a UDP datagram; returns its index, direction in *dir. */
static inline uint32_t udp_flow(ctx *c, const us_ipv4_repr *ip, uint16_t sport, uint16_t dport,
                         size_t frame, uint64_t ts, unsigned *dir)
{
    uint32_t fi = find_flow(c, US_IP_PROTO_UDP, ip->src, sport, ip->dst, dport);
    if (fi == SB_FLOW_NONE)
        fi = new_flow(c, US_IP_PROTO_UDP, ip->src, sport, ip->dst, dport, ts, frame);
    if (fi != SB_FLOW_NONE)
        *dir = dir_of(&c->out->flows[fi], ip->src, sport, ip->dst, dport);
    return fi;
}

/* Find or create the flow of an ICMP echo (type request or reply); direction in *dir. */
static uint32_t icmp_flow(ctx *c, const us_ipv4_repr *ip, uint8_t type, uint16_t ident,
                          size_t frame, uint64_t ts, unsigned *dir)
{
    *dir = type == US_ICMP_ECHO_REQUEST ? SB_C2S : SB_S2C;
    uint32_t fi = find_flow(c, US_IP_PROTO_ICMP, ip->src, ident, ip->dst, ident);
    if (fi == SB_FLOW_NONE) {
        if (*dir == SB_C2S)
            fi = new_flow(c, US_IP_PROTO_ICMP, ip->src, ident, ip->dst, ident, ts, frame);
        else
            fi = new_flow(c, US_IP_PROTO_ICMP, ip->dst, ident, ip->src, ident, ts, frame);
    }
    return fi;
}

static sb_status remember_fragment(ctx *c, const uint8_t k[SB__KEYMAP_KEY], uint32_t fi,
                                   unsigned dir, uint64_t ts)
{
    uint32_t *v = sb__keymap_get(&c->frag_map, k);
    if (v) {
        c->frags[*v].flow = fi;
        c->frags[*v].dir = (uint8_t)dir;
        c->frags[*v].ts_ns = ts;
        return SB_OK;
    }
    if (c->n_frags == c->frags_cap) {
        size_t ncap = c->frags_cap ? 2 * c->frags_cap : 64;
        frag_entry *nf = realloc(c->frags, ncap * sizeof *nf);
        if (!nf)
            return SB_ENOMEM;
        c->frags = nf;
        c->frags_cap = ncap;
    }
    if (sb__keymap_put(&c->frag_map, k, (uint32_t)c->n_frags) != SB_OK)
        return SB_ENOMEM;
    c->frags[c->n_frags].flow = fi;
    c->frags[c->n_frags].dir = (uint8_t)dir;
    c->frags[c->n_frags].ts_ns = ts;
    c->n_frags++;
    return SB_OK;
}

/* A fragment (first or later) of a datagram. l4/l4len: this fragment's IPv4 payload. */
static sb_status on_fragment(ctx *c, const us_ipv4_repr *ip, const uint8_t *l4, size_t l4len,
                             size_t frame, uint64_t ts)
{
    sb_flows_stats *s = &c->out->stats;
    s->fragments++;
    uint8_t k[SB__KEYMAP_KEY];
    frag_map_key(k, ip->proto, ip->src, ip->dst, ip->ident);
    uint32_t *v = sb__keymap_get(&c->frag_map, k);
    const frag_entry *known = v ? &c->frags[*v] : NULL;
    if (known && ts - known->ts_ns > FRAG_SAME_DATAGRAM_NS)
        known = NULL; /* an old datagram with the same ident */
    if (ip->frag_offset != 0) {
        if (!known) {
            s->orphan_fragments++;
            return SB_OK;
        }
        count_packet(c->out, known->flow, known->dir, frame, ts);
        return SB_OK;
    }
    if (known) { /* the first fragment again */
        s->dup_fragments++;
        count_packet(c->out, known->flow, known->dir, frame, ts);
        return SB_OK;
    }
    /* A new datagram: read what its first fragment holds of the L4 header. */
    uint32_t fi = SB_FLOW_NONE;
    unsigned d = SB_C2S;
    if (ip->proto == US_IP_PROTO_UDP) {
        if (l4len < US_UDP_HDR_LEN) {
            s->malformed_l4++;
            return SB_OK;
        }
        uint16_t ulen = us_get_be16(l4 + 4);
        fi = udp_flow(c, ip, us_get_be16(l4), us_get_be16(l4 + 2), frame, ts, &d);
        if (fi == SB_FLOW_NONE)
            return SB_ENOMEM;
        count_packet(c->out, fi, d, frame, ts);
        if (!add_payload(&c->out->flows[fi], d, ulen > US_UDP_HDR_LEN ? ulen - US_UDP_HDR_LEN : 0,
                         ts))
            return SB_ENOMEM;
    } else if (ip->proto == US_IP_PROTO_TCP) {
        if (l4len < 4) {
            s->malformed_l4++;
            return SB_OK;
        }
        s->frag_other++;
        uint16_t sp = us_get_be16(l4), dp = us_get_be16(l4 + 2);
        fi = find_flow(c, US_IP_PROTO_TCP, ip->src, sp, ip->dst, dp);
        if (fi == SB_FLOW_NONE)
            fi = new_flow(c, US_IP_PROTO_TCP, ip->src, sp, ip->dst, dp, ts, frame);
        if (fi == SB_FLOW_NONE)
            return SB_ENOMEM;
        d = dir_of(&c->out->flows[fi], ip->src, sp, ip->dst, dp);
        count_packet(c->out, fi, d, frame, ts);
    } else if (ip->proto == US_IP_PROTO_ICMP) {
        if (l4len < US_ICMP_HDR_LEN) {
            s->malformed_l4++;
            return SB_OK;
        }
        uint8_t type = l4[0];
        if (type != US_ICMP_ECHO_REQUEST && type != US_ICMP_ECHO_REPLY) {
            s->icmp_other++;
            return SB_OK;
        }
        s->frag_other++;
        fi = icmp_flow(c, ip, type, us_get_be16(l4 + 4), frame, ts, &d);
        if (fi == SB_FLOW_NONE)
            return SB_ENOMEM;
        count_packet(c->out, fi, d, frame, ts);
    } else {
        s->other_proto++;
        return SB_OK;
    }
    return remember_fragment(c, k, fi, d, ts);
}

/* Whether fr carries the addresses and ports of c->udp_* where an unfragmented UDP datagram behind a
 * 20-byte IPv4 header would: worth trying udp_run (which checks the rest). */
static inline bool udp_same_key(const ctx *c, const sb_frame *fr)
{
    enum { IP = US_ETH_HDR_LEN, L4 = US_ETH_HDR_LEN + US_IPV4_HDR_LEN };
    return c->udp_valid && fr->len >= L4 + US_UDP_HDR_LEN &&
           memcmp(fr->data + IP + 12, c->udp_addrs, 8) == 0 &&
           memcmp(fr->data + L4, c->udp_ports, 4) == 0;
}

/* The flow pass's common frames, in bulk and without the full parse: from frames[i] on, while they
 * are unfragmented UDP datagrams behind a 20-byte IPv4 header, between the same addresses and ports
 * as the last datagram the full path placed (c->udp_*: so in the same flow and direction), and
 * carry no payload or add it to the flow's last message (a new message needs memory: the full path
 * does that). Checks exactly what on_frame's path through us_ipv4_parse and us_udp_parse
 * (checksums not verified) would, and counts what it would; the counts are kept in locals over the
 * run (through the pointers the compiler would reload them around every store). Returns the first
 * frame it did not take (i when none). */
static size_t udp_run(ctx *c, const sb_frame *frames, size_t i, size_t n)
{
    enum { IP = US_ETH_HDR_LEN, L4 = US_ETH_HDR_LEN + US_IPV4_HDR_LEN };
    sb_flows *o = c->out;
    const uint32_t fi = c->udp_fi;
    const unsigned dir = c->udp_dir;
    sb_flow *f = &o->flows[fi];
    sb_flow_msg *m = f->n_msgs && f->msgs[f->n_msgs - 1].dir == dir ? &f->msgs[f->n_msgs - 1]
                                                                     : NULL;
    uint64_t addrs;
    uint32_t ports;
    memcpy(&addrs, c->udp_addrs, 8);
    memcpy(&ports, c->udp_ports, 4);
    uint64_t end_ns = f->end_ns, bytes = 0;
    uint32_t msg_pkts = 0;
    size_t j = i;
    for (; j < n; j++) {
        const uint8_t *d = frames[j].data;
        size_t len = frames[j].len;
        uint64_t fa;
        uint32_t fp;
        if (len < L4 + US_UDP_HDR_LEN)
            break;
        memcpy(&fa, d + IP + 12, 8);
        memcpy(&fp, d + L4, 4);
        if (fa != addrs || fp != ports)
            break;
        /* Ethertype IPv4; version 4 with IHL 5; UDP; neither MF nor a fragment offset (DF may
         * be). */
        if (us_get_be16(d + 2 * US_ETH_ADDR_LEN) != US_ETHERTYPE_IPV4 || d[IP] != 0x45 ||
            d[IP + 9] != US_IP_PROTO_UDP || (us_get_be16(d + IP + 6) & 0x3FFFu) != 0)
            break;
        /* IPv4 total length within the frame and holding the UDP header; UDP length within it. */
        size_t total = us_get_be16(d + IP + 2), ulen = us_get_be16(d + L4 + 4);
        if (total < US_IPV4_HDR_LEN + US_UDP_HDR_LEN || total > len - IP ||
            ulen < US_UDP_HDR_LEN || ulen > total - US_IPV4_HDR_LEN)
            break;
        size_t payload = ulen - US_UDP_HDR_LEN;
        if (payload) {
            if (!m)
                break; /* a new message */
            bytes += payload;
            msg_pkts++;
        }
        uint64_t ts = frames[j].ts_ns;
        end_ns = ts > end_ns ? ts : end_ns;
    }
    if (j == i)
        return i;
    /* count_packet's per-frame part, for the run at once. */
    uint32_t *frame_flow = o->frame_flow;
    uint8_t *frame_dir = o->frame_dir;
    for (size_t k = i; k < j; k++)
        frame_flow[k] = fi;
    for (size_t k = i; k < j; k++)
        frame_dir[k] = (uint8_t)dir;
    size_t k = j - i;
    o->stats.frames += k;
    o->stats.ipv4 += k;
    f->pkts[dir] += k;
    f->end_ns = end_ns;
    f->bytes[dir] += bytes;
    if (m) {
        m->bytes += bytes;
        m->pkts += msg_pkts;
    }
    return j;
}

static sb_status on_frame(ctx *c, const sb_frame *fr, size_t frame)
{
    sb_flows_stats *s = &c->out->stats;
    s->frames++;
    us_eth_repr eth;
    size_t off = US_ETH_HDR_LEN;
    /* A trace's frames come untagged (trace.h): read the ethertype in place unless it is a tag. */
    if (fr->len >= US_ETH_HDR_LEN)
        eth.ethertype = us_get_be16(fr->data + 2 * US_ETH_ADDR_LEN);
    if ((fr->len < US_ETH_HDR_LEN || eth.ethertype == US_ETHERTYPE_VLAN ||
         eth.ethertype == US_ETHERTYPE_QINQ || eth.ethertype == US_ETHERTYPE_QINQ_OLD) &&
        us_eth_parse(&eth, fr->data, fr->len, &off) != US_WIRE_OK) {
        s->other++;
        return SB_OK;
    }
    if (eth.ethertype == US_ETHERTYPE_ARP) {
        s->arp++;
        return SB_OK;
    }
    if (eth.ethertype != US_ETHERTYPE_IPV4) {
        s->other++;
        return SB_OK;
    }
    s->ipv4++;
    const uint8_t *p = fr->data + off;
    size_t plen = fr->len - off;
    us_ipv4_repr ip;
    const unsigned csum = c->check_csum ? 0u : US_WIRE_SKIP_CSUM;
    us_wire_err we = us_ipv4_parse(&ip, p, plen, csum);
    if (we == US_WIRE_BAD_CHECKSUM) {
        s->bad_ip_csum++;
        we = us_ipv4_parse(&ip, p, plen, US_WIRE_SKIP_CSUM);
    }
    if (we != US_WIRE_OK) {
        s->malformed_ip++;
        return SB_OK;
    }
    const uint8_t *l4 = p + ip.header_len;
    size_t l4len = ip.payload_len;
    if (ip.more_frags || ip.frag_offset)
        return on_fragment(c, &ip, l4, l4len, frame, fr->ts_ns);

    if (ip.proto == US_IP_PROTO_TCP) {
        us_tcp_repr t;
        we = us_tcp_parse(&t, l4, l4len, ip.src, ip.dst, csum);
        if (we == US_WIRE_BAD_CHECKSUM) {
            s->bad_l4_csum++;
            we = us_tcp_parse(&t, l4, l4len, ip.src, ip.dst, US_WIRE_SKIP_CSUM);
        }
        if (we != US_WIRE_OK) {
            s->malformed_l4++;
            return SB_OK;
        }
        return on_tcp(c, &ip, &t, frame, fr->ts_ns);
    }
    if (ip.proto == US_IP_PROTO_UDP) {
        us_udp_repr u;
        we = us_udp_parse(&u, l4, l4len, ip.src, ip.dst, csum);
        if (we == US_WIRE_BAD_CHECKSUM) {
            s->bad_l4_csum++;
            we = us_udp_parse(&u, l4, l4len, ip.src, ip.dst, US_WIRE_SKIP_CSUM);
        }
        if (we != US_WIRE_OK) {
            s->malformed_l4++;
            return SB_OK;
        }
        unsigned d;
        uint32_t fi = udp_flow(c, &ip, u.src_port, u.dst_port, frame, fr->ts_ns, &d);
        if (fi == SB_FLOW_NONE)
            return SB_ENOMEM;
        c->udp_valid = true;
        c->udp_fi = fi;
        c->udp_dir = (uint8_t)d;
        memcpy(c->udp_addrs, p + 12, sizeof c->udp_addrs);
        memcpy(c->udp_ports, l4, sizeof c->udp_ports);
        count_packet(c->out, fi, d, frame, fr->ts_ns);
        return add_payload(&c->out->flows[fi], d, u.payload_len, fr->ts_ns) ? SB_OK : SB_ENOMEM;
    }
    if (ip.proto == US_IP_PROTO_ICMP) {
        us_icmp_repr m;
        we = us_icmp_parse(&m, l4, l4len, csum);
        if (we == US_WIRE_BAD_CHECKSUM) {
            s->bad_l4_csum++;
            we = us_icmp_parse(&m, l4, l4len, US_WIRE_SKIP_CSUM);
        }
        if (we != US_WIRE_OK) {
            s->malformed_l4++;
            return SB_OK;
        }
        if (m.type != US_ICMP_ECHO_REQUEST && m.type != US_ICMP_ECHO_REPLY) {
            s->icmp_other++;
            return SB_OK;
        }
        unsigned d;
        uint32_t fi = icmp_flow(c, &ip, m.type, m.ident, frame, fr->ts_ns, &d);
        if (fi == SB_FLOW_NONE)
            return SB_ENOMEM;
        count_packet(c->out, fi, d, frame, fr->ts_ns);
        return add_payload(&c->out->flows[fi], d, m.data_len, fr->ts_ns) ? SB_OK : SB_ENOMEM;
    }
    s->other_proto++;
    return SB_OK;
}

sb_flows_opts sb_flows_opts_default(void)
{
    sb_flows_opts o = {.check_csum = true};
    return o;
}

sb_status sb_flows_extract(sb_flows *out, const sb_trace *t, sb_err *err)
{
    return sb_flows_extract_opts(out, t, NULL, err);
}

/* The pass over frames [i, n): runs of one UDP conversation through udp_run when checksums are not
 * checked, every other frame through on_frame. out->frame_flow and frame_dir have room for n.
 * Returns SB_OK or SB_ENOMEM (stopping at the frame that needed the memory). */
static sb_status flow_pass(ctx *c, const sb_frame *frames, size_t i, size_t n)
{
    sb_flows *out = c->out;
    /* Checking checksums takes the full parse of every frame; without, runs of one UDP
     * conversation take udp_run. */
    const bool fast = !c->check_csum;
    sb_status st = SB_OK;
    while (st == SB_OK && i < n) {
        if (fast && udp_same_key(c, &frames[i])) {
            size_t j = udp_run(c, frames, i, n);
            if (j > i) {
                i = j;
                continue;
            }
        }
        /* What a frame in no flow keeps (count_packet overwrites it for the others). */
        out->frame_flow[i] = SB_FLOW_NONE;
        out->frame_dir[i] = 0;
        st = on_frame(c, &frames[i], i);
        i++;
    }
    return st;
}

static void ctx_init(ctx *c, sb_flows *out, const sb_flows_opts *opts)
{
    memset(out, 0, sizeof *out);
    memset(c, 0, sizeof *c);
    c->out = out;
    c->check_csum = opts ? opts->check_csum : true;
}

static void ctx_free(ctx *c)
{
    sb__keymap_free(&c->flow_map);
    sb__keymap_free(&c->frag_map);
    free(c->frags);
}

sb_status sb_flows_extract_opts(sb_flows *out, const sb_trace *t, const sb_flows_opts *opts,
                                sb_err *err)
{
    /* The pass sb_trace_load_flows feeds chunk by chunk, fed every frame at once. */
    sb__flowpass *fp = sb__flowpass_new(out, opts);
    if (!fp)
        return sb__fail(err, SB_ENOMEM, "flow extraction: out of memory");
    sb__flowpass_feed(fp, t->frames, t->n, t->n);
    return sb__flowpass_finish(fp, true, err);
}

/* The flow pass (flowpass.h), fed the frames as they come (sb_trace_load_flows) or all at once
 * (sb_flows_extract_opts), with the per-frame arrays grown to the caller's frame array (reserved
 * the same way: large ones from sb__big_alloc, trimmed at the end). */
struct sb__flowpass {
    ctx c;
    size_t done; /* frames passed */
    size_t cap;  /* room in out->frame_flow and frame_dir */
    sb_status st;
};

sb__flowpass *sb__flowpass_new(sb_flows *out, const sb_flows_opts *opts)
{
    memset(out, 0, sizeof *out);
    sb__flowpass *fp = malloc(sizeof *fp);
    if (!fp)
        return NULL;
    ctx_init(&fp->c, out, opts);
    fp->done = 0;
    fp->cap = 0;
    fp->st = SB_OK;
    return fp;
}

/* Room for cap frames in both per-frame arrays. */
static bool flowpass_room(sb__flowpass *fp, size_t cap)
{
    sb_flows *out = fp->c.out;
    if (cap <= fp->cap)
        return true;
    if (cap > SIZE_MAX / sizeof *out->frame_flow)
        return false;
    uint32_t *ff;
    uint8_t *fd;
    if (!out->frame_flow && cap * sizeof *ff >= SB__BIG) {
        /* The loader reserved its frame array at once: the same here, on huge pages. */
        ff = sb__big_alloc(cap * sizeof *ff);
        fd = ff ? sb__big_alloc(cap) : NULL;
        if (!fd) {
            free(ff);
            return false;
        }
    } else {
        ff = realloc(out->frame_flow, cap * sizeof *ff);
        if (!ff)
            return false;
        out->frame_flow = ff;
        fd = realloc(out->frame_dir, cap);
        if (!fd)
            return false;
    }
    out->frame_flow = ff;
    out->frame_dir = fd;
    fp->cap = cap;
    return true;
}

void sb__flowpass_feed(sb__flowpass *fp, const sb_frame *frames, size_t n, size_t cap)
{
    if (fp->st != SB_OK || n <= fp->done)
        return;
    if (!flowpass_room(fp, cap > n ? cap : n)) {
        fp->st = SB_ENOMEM;
        return;
    }
    fp->st = flow_pass(&fp->c, frames, fp->done, n);
    fp->done = n;
}

sb_status sb__flowpass_finish(sb__flowpass *fp, bool keep, sb_err *err)
{
    sb_flows *out = fp->c.out;
    sb_status st = fp->st;
    ctx_free(&fp->c);
    if (keep && st == SB_OK) {
        size_t n = fp->done;
        out->n_frames = n;
        if (!out->frame_flow) {
            /* Nothing fed (no frames): empty arrays, not NULL. */
            out->frame_flow = sb__big_alloc(0);
            out->frame_dir = sb__big_alloc(0);
            if (!out->frame_flow || !out->frame_dir)
                st = SB_ENOMEM;
        } else if (fp->cap - n > n / 8) {
            /* Give back the reserve, as the loader does with its frame array. */
            uint32_t *ff = realloc(out->frame_flow, (n ? n : 1) * sizeof *ff);
            if (ff)
                out->frame_flow = ff;
            uint8_t *fd = realloc(out->frame_dir, n ? n : 1);
            if (fd)
                out->frame_dir = fd;
        }
    }
    free(fp);
    if (!keep) {
        sb_flows_free(out);
        return SB_OK;
    }
    if (st != SB_OK) {
        sb_flows_free(out);
        return sb__fail(err, st, "flow extraction: out of memory");
    }
    return SB_OK;
}

void sb_flows_free(sb_flows *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->flows[i].msgs);
    free(f->flows);
    free(f->frame_flow);
    free(f->frame_dir);
    memset(f, 0, sizeof *f);
}
