/* sbtraffic: the canonical trace generator. A small discrete-event loop in capture time: each
 * kind schedules its clients' and the server's actions as events; every frame is built with the
 * wire emitters, placed on its direction's link no earlier than the previous frame's end, and
 * recorded; at the end the frames are sorted by time and written through libpcap.
 *
 * TCP consistency as an analyser checks it: a side acknowledges only what it has received — the
 * server a client segment from its capture time on, a client a server segment one round trip after
 * it — so no ACK covers an unseen segment; each direction's segments leave in sequence order. */
#include "sbtraffic/gen.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "sbtraffic/rng.h"
#include "ustack/wire/arp.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"
#include "ustack/wire/tcp.h"
#include "ustack/wire/udp.h"

#define MSS 1460u
#define TCP_WINDOW 65535u
#define MIN_FRAME 60u      /* Ethernet minimum without FCS: shorter frames are padded */
#define MAX_FRAME 1514u
#define WIRE_OVERHEAD 24u  /* preamble + SFD 8, FCS 4, inter-frame gap 12 */
#define L4_OFF (US_ETH_HDR_LEN + US_IPV4_HDR_LEN)
#define MAX_CLIENTS 250u   /* 10.0.1.1 .. 10.0.1.250 */
#define C2S 0
#define S2C 1
#define NS_PER_S 1000000000.0
#define SB_GEN_MAX_BYTES (1ull << 30) /* frame bytes held before writing */

/* Server ports. Chosen so that a protocol analyser does not take the patterned payload for a real
 * protocol it would then call malformed. */
#define PORT_UDP_SINK 9000u
#define PORT_TCP_SINK 9001u
#define PORT_TCP_RR 9002u
#define PORT_IOT_UDP 9003u
#define PORT_IOT_TCP 9004u
#define PORT_BURST 9005u
#define PORT_IDLE_TCP 9006u
#define PORT_IDLE_UDP 9007u
#define CLIENT_PORT_BASE 49152u

static const sb_gen_kind_info kinds[SB_GEN_KIND_COUNT] = {
    [SB_GEN_UDP_ONEWAY] = {"udp-oneway",
                           "steady UDP datagrams at a fixed interval from one client: the UDP "
                           "receive path (sensor stream, telemetry sink)",
                           "datagrams/s", "UDP payload bytes",
                           SB_GEN_P_RATE | SB_GEN_P_SIZE | SB_GEN_P_LINK, 1, 1472, 0, 0,
                           {.duration_ns = 1000000000ull, .rate = 10000, .size = 64,
                            .link_mbps = 100}},
    [SB_GEN_TCP_BULK] = {"tcp-bulk",
                         "one TCP connection, the client streams full segments at a fixed rate, "
                         "the server ACKs every second one: bulk receive (upload, firmware image)",
                         "segments/s", "TCP payload bytes per segment",
                         SB_GEN_P_RATE | SB_GEN_P_SIZE | SB_GEN_P_LINK, 1, MSS, 0, 0,
                         {.duration_ns = 1000000000ull, .rate = 8000, .size = MSS,
                          .link_mbps = 100}},
    [SB_GEN_TCP_RR] = {"tcp-rr",
                       "request/response exchanges, Poisson arrivals, spread round-robin over a few "
                       "persistent TCP connections from one client: an HTTP/1.1 or RPC server",
                       "requests/s (all connections)", "request payload bytes",
                       SB_GEN_P_RATE | SB_GEN_P_SIZE | SB_GEN_P_RESP_SIZE | SB_GEN_P_CONNS |
                           SB_GEN_P_LINK,
                       1, 60000, 60000, 1000,
                       {.duration_ns = 1000000000ull, .rate = 1000, .size = 100,
                        .resp_size = 1000, .conns = 4, .link_mbps = 100}},
    [SB_GEN_ICMP_PING] = {"icmp-ping",
                          "ICMP echo requests at a fixed interval, each answered by the server: "
                          "ping monitoring",
                          "requests/s", "echo data bytes",
                          SB_GEN_P_RATE | SB_GEN_P_SIZE | SB_GEN_P_LINK, 0, 1472, 0, 0,
                          {.duration_ns = 1000000000ull, .rate = 100, .size = 56,
                           .link_mbps = 100}},
    [SB_GEN_IOT_MIX] = {"iot-mix",
                        "many clients, small sporadic messages with exponential inter-arrivals: "
                        "60% UDP reports (half answered), 40% messages on one persistent TCP "
                        "connection per client, opened on first use (MQTT-like; 30% answered)",
                        "messages/s (all clients)",
                        "largest payload bytes (each uniform in 8..size)",
                        SB_GEN_P_RATE | SB_GEN_P_SIZE | SB_GEN_P_CONNS | SB_GEN_P_LINK, 8, MSS, 0,
                        MAX_CLIENTS,
                        {.duration_ns = 1000000000ull, .rate = 400, .size = 64, .conns = 20,
                         .link_mbps = 100}},
    /* 128-byte datagrams back to back at 1 Gbit/s (1.55 us apart) arrive faster than the default
     * cost profile processes one (about 2.6 us), so a burst piles up in the RX ring and the pool
     * under every scheduler; at 100 Mbit/s, or with 512-byte datagrams at 1 Gbit/s, an
     * event-driven scheduler keeps up and the trace puts no pressure on anything. */
    [SB_GEN_BURSTY] = {"bursty",
                       "on/off traffic: bursts of back-to-back UDP datagrams at line rate, Poisson "
                       "burst starts, each from one of 4 clients: pool exhaustion, RX ring "
                       "overflow",
                       "bursts/s", "UDP payload bytes",
                       SB_GEN_P_RATE | SB_GEN_P_SIZE | SB_GEN_P_BURST | SB_GEN_P_LINK, 1, 1472, 0,
                       0,
                       {.duration_ns = 1000000000ull, .rate = 50, .size = 128, .burst = 64,
                        .link_mbps = 1000}},
    [SB_GEN_IDLE_HEAVY] = {"idle-heavy",
                           "small request/response exchanges (TCP on one persistent connection or "
                           "UDP, half each) separated by long exponential silences: where polling "
                           "wastes most",
                           "exchanges/s", "request payload bytes",
                           SB_GEN_P_RATE | SB_GEN_P_SIZE | SB_GEN_P_RESP_SIZE | SB_GEN_P_LINK, 1,
                           1472, 1460, 0,
                           {.duration_ns = 1000000000ull, .rate = 4, .size = 32, .resp_size = 64,
                            .link_mbps = 100}},
};

const sb_gen_kind_info *sb_gen_info(sb_gen_kind kind)
{
    return (unsigned)kind < SB_GEN_KIND_COUNT ? &kinds[kind] : NULL;
}

sb_status sb_gen_kind_parse(const char *name, sb_gen_kind *kind, sb_err *err)
{
    for (unsigned k = 0; k < SB_GEN_KIND_COUNT; k++) {
        if (name && strcmp(name, kinds[k].name) == 0) {
            *kind = (sb_gen_kind)k;
            return SB_OK;
        }
    }
    return sb__fail(err, SB_EINVAL,
                    "unknown kind '%s' (kinds: udp-oneway, tcp-bulk, tcp-rr, icmp-ping, iot-mix, "
                    "bursty, idle-heavy)",
                    name ? name : "");
}

void sb_gen_params_default(sb_gen_kind kind, sb_gen_params *p)
{
    const sb_gen_kind_info *k = sb_gen_info(kind);
    if (k)
        *p = k->defaults;
    else
        memset(p, 0, sizeof *p);
}

sb_status sb_gen_check(sb_gen_kind kind, const sb_gen_params *p, sb_err *err)
{
    const sb_gen_kind_info *k = sb_gen_info(kind);
    if (!k)
        return sb__fail(err, SB_EINVAL, "unknown kind %d", (int)kind);
    if (p->duration_ns == 0 || p->duration_ns > 3600ull * 1000000000ull)
        return sb__fail(err, SB_EINVAL, "--duration: must be above 0 and at most 3600 s");
    if (!(p->rate > 0 && p->rate <= 1e6))
        return sb__fail(err, SB_EINVAL, "--rate %g: must be above 0 and at most 1000000 %s",
                        p->rate, k->rate_unit);
    if (p->size < k->size_min || p->size > k->size_max)
        return sb__fail(err, SB_EINVAL, "--size %u: must be %u to %u for %s", (unsigned)p->size,
                        (unsigned)k->size_min, (unsigned)k->size_max, k->name);
    if ((k->params & SB_GEN_P_RESP_SIZE) && p->resp_size > k->resp_max)
        return sb__fail(err, SB_EINVAL, "--resp-size %u: at most %u for %s",
                        (unsigned)p->resp_size, (unsigned)k->resp_max, k->name);
    if ((k->params & SB_GEN_P_CONNS) && (p->conns < 1 || p->conns > k->conns_max))
        return sb__fail(err, SB_EINVAL, "--conns %u: must be 1 to %u for %s", (unsigned)p->conns,
                        (unsigned)k->conns_max, k->name);
    if ((k->params & SB_GEN_P_BURST) && (p->burst < 1 || p->burst > 100000))
        return sb__fail(err, SB_EINVAL, "--burst %u: must be 1 to 100000", (unsigned)p->burst);
    if (!(p->link_mbps >= 1 && p->link_mbps <= 400000))
        return sb__fail(err, SB_EINVAL, "--link-mbps %g: must be 1 to 400000", p->link_mbps);
    return SB_OK;
}

/* Expected frames of a trace, from the rate: refuses absurd parameters before any work. */
static double expected_frames(sb_gen_kind kind, const sb_gen_params *p)
{
    double events = p->rate * (double)p->duration_ns / 1e9;
    switch (kind) {
    case SB_GEN_UDP_ONEWAY: return events;
    case SB_GEN_TCP_BULK: return 1.5 * events;
    case SB_GEN_TCP_RR:
        return events * (2.0 + (double)((p->size + MSS - 1) / MSS) +
                         (double)((p->resp_size + MSS - 1) / MSS));
    case SB_GEN_ICMP_PING: return 2.0 * events;
    case SB_GEN_IOT_MIX: return 3.0 * events;
    case SB_GEN_BURSTY: return events * (double)p->burst;
    case SB_GEN_IDLE_HEAVY: return 3.0 * events;
    default: return 0;
    }
}

/* ---- the generator's state ---- */

typedef struct host {
    uint32_t ip;
    uint8_t mac[US_ETH_ADDR_LEN];
    uint16_t ip_id; /* next IPv4 identification */
} host;

typedef struct rec {
    uint64_t t;     /* capture time, ns */
    uint64_t order; /* emission order: ties keep it */
    size_t off;     /* into the arena */
    uint32_t len;
} rec;

enum ev_type {
    EV_ARP_REQUEST,  /* a: client */
    EV_ARP_REPLY,    /* a: client */
    EV_LEARN,        /* a: conn, b: side that learns, c: the other side's next seq */
    EV_SYN,          /* a: conn */
    EV_SYNACK,       /* a: conn */
    EV_OPEN,         /* a: conn; the client's ACK of the SYN-ACK */
    EV_SEND,         /* a: conn; the client sends its next queued request if it can */
    EV_RESPOND,      /* a: conn; the server answers the request it received */
    EV_GOT_RESPONSE, /* a: conn, b: the client must ACK it */
    EV_SRV_FIN,      /* a: conn */
    EV_LAST_ACK,     /* a: conn */
    EV_BULK,         /* a: conn; next bulk segment */
    EV_SRV_ACK,      /* a: conn; the server's ACK of bulk data */
    EV_UDP_ONEWAY,   /* a: datagram number */
    EV_PING,         /* a: echo number */
    EV_PING_REPLY,   /* a: echo number, b: ident */
    EV_IOT,
    EV_UDP_REPLY,    /* a: client, b: payload bytes, c: server port << 16 | client port */
    EV_BURST,
    EV_IDLE,
    EV_END,          /* the duration is over: close connections once idle */
};

typedef struct ev {
    uint64_t t;
    uint64_t order;
    uint32_t type, a, b, c;
} ev;

typedef struct req {
    uint32_t req, resp;
} req;

enum conn_state { CS_CLOSED, CS_SYN_SENT, CS_OPEN, CS_CLOSING, CS_DONE };

typedef struct tcp_conn {
    uint32_t client; /* index of the client host */
    uint16_t cport, sport;
    enum conn_state state;
    uint32_t snd_nxt[2]; /* next seq each side sends */
    uint32_t ack_of[2];  /* ack each side sends: the other side's data it has received */
    bool ack_valid[2];   /* ack_of[side] has been learned (the other side's SYN arrived) */
    uint64_t off[2];     /* payload bytes sent each way (pattern offset) */
    bool busy;           /* a request awaits its response */
    bool close_when_idle;
    uint32_t cur_resp;
    uint32_t unacked;    /* bulk: client segments the server has not ACKed */
    uint64_t bulk_sent;
    req *q;
    size_t qhead, qlen, qcap;
} tcp_conn;

typedef struct gen {
    sb_gen_kind kind;
    sb_gen_params p;
    sb_rng rng;
    uint64_t end_ns;
    host server;
    host clients[MAX_CLIENTS];
    uint32_t n_clients;
    uint64_t link_free[2];
    rec *recs;
    size_t n_recs, recs_cap;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    uint64_t order;
    ev *heap;
    size_t n_ev, ev_cap;
    tcp_conn *conns;
    uint32_t n_conns;
    uint64_t counter; /* requests / datagrams / echoes issued */
    uint16_t ping_ident;
    bool nomem;
    bool too_many;
} gen;

/* ---- events: a binary min-heap on (t, order) ---- */

static bool ev_before(const ev *x, const ev *y)
{
    return x->t < y->t || (x->t == y->t && x->order < y->order);
}

static void push_ev(gen *g, uint64_t t, uint32_t type, uint32_t a, uint32_t b, uint32_t c)
{
    if (g->n_ev == g->ev_cap) {
        size_t ncap = g->ev_cap ? 2 * g->ev_cap : 256;
        ev *nh = realloc(g->heap, ncap * sizeof *nh);
        if (!nh) {
            g->nomem = true;
            return;
        }
        g->heap = nh;
        g->ev_cap = ncap;
    }
    ev e = {.t = t, .order = g->order++, .type = type, .a = a, .b = b, .c = c};
    size_t i = g->n_ev++;
    while (i > 0 && ev_before(&e, &g->heap[(i - 1) / 2])) {
        g->heap[i] = g->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g->heap[i] = e;
}

static ev pop_ev(gen *g)
{
    ev top = g->heap[0];
    ev last = g->heap[--g->n_ev];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const ev *mv = &last;
        if (l < g->n_ev && ev_before(&g->heap[l], mv)) {
            m = l;
            mv = &g->heap[l];
        }
        if (r < g->n_ev && ev_before(&g->heap[r], mv))
            m = r;
        if (m == i)
            break;
        g->heap[i] = g->heap[m];
        i = m;
    }
    if (g->n_ev > 0)
        g->heap[i] = last;
    return top;
}

/* ---- frames ---- */

/* Wire time of a frame of len bytes at the link rate. */
static uint64_t wire_ns(const gen *g, size_t len)
{
    return (uint64_t)((double)(len + WIRE_OVERHEAD) * 8000.0 / g->p.link_mbps + 0.5);
}

/* Record frame f (len bytes, padded here to the minimum) going dir, wanted at time t; it leaves
 * when the link that way is free. Returns its capture time. */
static uint64_t put_frame(gen *g, int dir, uint64_t t, uint8_t *f, size_t len)
{
    if (len < MIN_FRAME) {
        memset(f + len, 0, MIN_FRAME - len);
        len = MIN_FRAME;
    }
    if (t < g->link_free[dir])
        t = g->link_free[dir];
    g->link_free[dir] = t + wire_ns(g, len);
    if (g->n_recs >= SB_GEN_MAX_FRAMES || g->arena_len + len > SB_GEN_MAX_BYTES) {
        g->too_many = true;
        return t;
    }
    if (g->n_recs == g->recs_cap) {
        size_t ncap = g->recs_cap ? 2 * g->recs_cap : 1024;
        rec *nr = realloc(g->recs, ncap * sizeof *nr);
        if (!nr) {
            g->nomem = true;
            return t;
        }
        g->recs = nr;
        g->recs_cap = ncap;
    }
    if (g->arena_len + len > g->arena_cap) {
        size_t ncap = g->arena_cap ? 2 * g->arena_cap : 1u << 20;
        uint8_t *na = realloc(g->arena, ncap);
        if (!na) {
            g->nomem = true;
            return t;
        }
        g->arena = na;
        g->arena_cap = ncap;
    }
    memcpy(g->arena + g->arena_len, f, len);
    g->recs[g->n_recs++] = (rec){.t = t, .order = g->order++, .off = g->arena_len,
                                 .len = (uint32_t)len};
    g->arena_len += len;
    return t;
}

/* Payload bytes: a lowercase alphabet running on from the stream offset, so the content of any
 * byte is known from its position (and no analyser mistakes it for a binary protocol). */
static void fill_payload(uint8_t *p, size_t n, uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)('a' + (off + i) % 26);
}

/* Ethernet + IPv4 headers in front of an l4len-byte payload already at f + L4_OFF; records the
 * frame. Returns its capture time. */
static uint64_t put_ipv4(gen *g, int dir, uint64_t t, host *src, const host *dst, uint8_t proto,
                         uint8_t *f, size_t l4len)
{
    us_eth_repr e;
    memcpy(e.dst, dst->mac, US_ETH_ADDR_LEN);
    memcpy(e.src, src->mac, US_ETH_ADDR_LEN);
    e.ethertype = US_ETHERTYPE_IPV4;
    e.vlan_tags = 0;
    us_eth_emit(&e, f);
    us_ipv4_repr ip;
    memset(&ip, 0, sizeof ip);
    ip.src = src->ip;
    ip.dst = dst->ip;
    ip.proto = proto;
    ip.ttl = 64;
    ip.ident = src->ip_id++;
    ip.dont_frag = true;
    ip.payload_len = (uint16_t)l4len;
    us_ipv4_emit(&ip, f + US_ETH_HDR_LEN);
    return put_frame(g, dir, t, f, L4_OFF + l4len);
}

static uint64_t udp_send(gen *g, int dir, uint64_t t, host *src, const host *dst, uint16_t sport,
                         uint16_t dport, uint32_t plen, uint64_t pattern_off)
{
    uint8_t f[MAX_FRAME];
    uint8_t *pl = f + L4_OFF + US_UDP_HDR_LEN;
    fill_payload(pl, plen, pattern_off);
    us_udp_repr u = {.src_port = sport, .dst_port = dport, .payload = NULL, .payload_len = plen};
    us_udp_emit(&u, f + L4_OFF, src->ip, dst->ip, us_csum_partial(pl, plen, 0));
    return put_ipv4(g, dir, t, src, dst, US_IP_PROTO_UDP, f, US_UDP_HDR_LEN + plen);
}

static uint64_t icmp_send(gen *g, int dir, uint64_t t, host *src, const host *dst, uint8_t type,
                          uint16_t ident, uint16_t seq, uint32_t dlen)
{
    uint8_t f[MAX_FRAME];
    uint8_t *data = f + L4_OFF + US_ICMP_HDR_LEN;
    fill_payload(data, dlen, seq);
    us_icmp_repr m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.code = 0;
    m.ident = ident;
    m.seq = seq;
    m.data = data;
    m.data_len = dlen;
    size_t n = us_icmp_emit(&m, f + L4_OFF);
    return put_ipv4(g, dir, t, src, dst, US_IP_PROTO_ICMP, f, n);
}

static uint64_t arp_send(gen *g, int dir, uint64_t t, const host *src, const host *dst,
                         uint16_t op)
{
    static const uint8_t bcast[US_ETH_ADDR_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t f[MAX_FRAME];
    us_eth_repr e;
    memcpy(e.dst, op == US_ARP_OP_REQUEST ? bcast : dst->mac, US_ETH_ADDR_LEN);
    memcpy(e.src, src->mac, US_ETH_ADDR_LEN);
    e.ethertype = US_ETHERTYPE_ARP;
    e.vlan_tags = 0;
    us_eth_emit(&e, f);
    us_arp_repr a;
    memset(&a, 0, sizeof a);
    a.op = op;
    memcpy(a.sha, src->mac, US_ETH_ADDR_LEN);
    a.spa = src->ip;
    if (op == US_ARP_OP_REPLY)
        memcpy(a.tha, dst->mac, US_ETH_ADDR_LEN);
    a.tpa = dst->ip;
    us_arp_emit(&a, f + US_ETH_HDR_LEN);
    return put_frame(g, dir, t, f, US_ETH_HDR_LEN + US_ARP_LEN);
}

/* One TCP segment of connection ci going dir; the other side learns of it when it arrives (the
 * server at capture time, a client a round trip later). Returns its capture time. */
static uint64_t tcp_send(gen *g, uint32_t ci, int dir, uint8_t flags, uint32_t plen, uint64_t t)
{
    tcp_conn *c = &g->conns[ci];
    host *cli = &g->clients[c->client];
    host *src = dir == C2S ? cli : &g->server;
    host *dst = dir == C2S ? &g->server : cli;
    uint8_t f[MAX_FRAME];
    us_tcp_repr r;
    memset(&r, 0, sizeof r);
    r.src_port = dir == C2S ? c->cport : c->sport;
    r.dst_port = dir == C2S ? c->sport : c->cport;
    r.seq = c->snd_nxt[dir];
    r.ack = (flags & US_TCP_ACK) ? c->ack_of[dir] : 0;
    r.flags = flags;
    r.window = TCP_WINDOW;
    r.payload_len = plen;
    if (flags & US_TCP_SYN) {
        r.mss_present = true;
        r.mss = MSS;
    }
    size_t hl = us_tcp_header_len(&r);
    uint8_t *pl = f + L4_OFF + hl;
    fill_payload(pl, plen, c->off[dir]);
    us_tcp_emit(&r, f + L4_OFF, src->ip, dst->ip, us_csum_partial(pl, plen, 0));
    uint64_t ta = put_ipv4(g, dir, t, src, dst, US_IP_PROTO_TCP, f, hl + plen);
    c->snd_nxt[dir] += plen + ((flags & US_TCP_SYN) ? 1u : 0u) + ((flags & US_TCP_FIN) ? 1u : 0u);
    c->off[dir] += plen;
    push_ev(g, dir == C2S ? ta : ta + SB_GEN_RTT_NS, EV_LEARN, ci, dir == C2S ? S2C : C2S,
            c->snd_nxt[dir]);
    return ta;
}

/* bytes of data going dir in MSS segments, PSH on the last. Returns the last one's time. */
static uint64_t tcp_send_data(gen *g, uint32_t ci, int dir, uint32_t bytes, uint64_t t)
{
    uint64_t ta = t;
    while (bytes > 0) {
        uint32_t seg = bytes < MSS ? bytes : MSS;
        bytes -= seg;
        ta = tcp_send(g, ci, dir, (uint8_t)(US_TCP_ACK | (bytes == 0 ? US_TCP_PSH : 0)), seg, t);
    }
    return ta;
}

/* ---- TCP connections, shared by the kinds ---- */

static uint32_t conn_new(gen *g, uint32_t client, uint16_t cport, uint16_t sport)
{
    tcp_conn *c = &g->conns[g->n_conns];
    memset(c, 0, sizeof *c);
    c->client = client;
    c->cport = cport;
    c->sport = sport;
    c->state = CS_CLOSED;
    c->snd_nxt[C2S] = (uint32_t)sb_rng_next(&g->rng);
    c->snd_nxt[S2C] = (uint32_t)sb_rng_next(&g->rng);
    return g->n_conns++;
}

static void conn_open(gen *g, uint32_t ci, uint64_t t)
{
    g->conns[ci].state = CS_SYN_SENT;
    push_ev(g, t, EV_SYN, ci, 0, 0);
}

static void conn_enqueue(gen *g, uint32_t ci, uint32_t reqb, uint32_t resp)
{
    tcp_conn *c = &g->conns[ci];
    if (c->qlen == c->qcap) {
        size_t ncap = c->qcap ? 2 * c->qcap : 8;
        req *nq = malloc(ncap * sizeof *nq);
        if (!nq) {
            g->nomem = true;
            return;
        }
        for (size_t i = 0; i < c->qlen; i++)
            nq[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = nq;
        c->qhead = 0;
        c->qcap = ncap;
    }
    c->q[(c->qhead + c->qlen) % c->qcap] = (req){reqb, resp};
    c->qlen++;
}

static void conn_close(gen *g, uint32_t ci, uint64_t t)
{
    tcp_conn *c = &g->conns[ci];
    c->state = CS_CLOSING;
    uint64_t ta = tcp_send(g, ci, C2S, US_TCP_FIN | US_TCP_ACK, 0, t);
    push_ev(g, ta + SB_GEN_SERVER_NS, EV_SRV_FIN, ci, 0, 0);
}

/* The client, idle on an open connection, sends its next request, or closes if told to and
 * nothing is left. Returns true if it sent something. */
static bool conn_kick(gen *g, uint32_t ci, uint64_t t)
{
    tcp_conn *c = &g->conns[ci];
    if (c->state != CS_OPEN || c->busy)
        return false;
    if (c->qlen > 0) {
        req r = c->q[c->qhead];
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
        uint64_t ta = tcp_send_data(g, ci, C2S, r.req, t);
        c->busy = true;
        c->cur_resp = r.resp;
        push_ev(g, ta + SB_GEN_SERVER_NS, EV_RESPOND, ci, 0, 0);
        return true;
    }
    if (c->close_when_idle) {
        conn_close(g, ci, t);
        return true;
    }
    return false;
}

/* ---- the kinds: setup and events ---- */

static void setup_hosts(gen *g, uint32_t n_clients)
{
    g->server.ip = 0x0a000001u; /* 10.0.0.1 */
    const uint8_t smac[US_ETH_ADDR_LEN] = {0x02, 0, 0, 0, 0, 0x01};
    memcpy(g->server.mac, smac, US_ETH_ADDR_LEN);
    g->server.ip_id = (uint16_t)sb_rng_next(&g->rng);
    g->n_clients = n_clients;
    for (uint32_t i = 0; i < n_clients; i++) {
        host *h = &g->clients[i];
        h->ip = 0x0a000100u + i + 1; /* 10.0.1.(i+1) */
        const uint8_t cmac[US_ETH_ADDR_LEN] = {0x02, 0, 0, 0, 0x01, (uint8_t)(i + 1)};
        memcpy(h->mac, cmac, US_ETH_ADDR_LEN);
        h->ip_id = (uint16_t)sb_rng_next(&g->rng);
        push_ev(g, (uint64_t)i * 10000u, EV_ARP_REQUEST, i, 0, 0);
    }
}

static double mean_gap_ns(const gen *g)
{
    return NS_PER_S / g->p.rate;
}

/* Payload size uniform in [lo, hi]. */
static uint32_t uniform(gen *g, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)sb_rng_below(&g->rng, (uint64_t)hi - lo + 1);
}

static sb_status setup(gen *g)
{
    const sb_gen_params *p = &g->p;
    uint32_t clients = 1, conns = 0;
    switch (g->kind) {
    case SB_GEN_TCP_BULK: conns = 1; break;
    case SB_GEN_TCP_RR: conns = p->conns; break;
    case SB_GEN_IOT_MIX: clients = p->conns; conns = p->conns; break;
    case SB_GEN_BURSTY: clients = 4; break;
    case SB_GEN_IDLE_HEAVY: conns = 1; break;
    default: break;
    }
    g->conns = calloc(conns ? conns : 1, sizeof *g->conns);
    if (!g->conns)
        return SB_ENOMEM;
    setup_hosts(g, clients);
    uint64_t start = SB_GEN_START_NS;
    switch (g->kind) {
    case SB_GEN_UDP_ONEWAY:
        push_ev(g, start, EV_UDP_ONEWAY, 0, 0, 0);
        break;
    case SB_GEN_TCP_BULK:
        conn_open(g, conn_new(g, 0, CLIENT_PORT_BASE, PORT_TCP_SINK), start);
        break;
    case SB_GEN_TCP_RR:
        for (uint32_t i = 0; i < conns; i++)
            conn_open(g, conn_new(g, 0, (uint16_t)(CLIENT_PORT_BASE + i), PORT_TCP_RR),
                      start + (uint64_t)i * 20000u);
        push_ev(g, start + 500000u + sb_rng_exp_ns(&g->rng, mean_gap_ns(g)), EV_SEND, 0, 0, 0);
        push_ev(g, g->end_ns, EV_END, 0, 0, 0);
        break;
    case SB_GEN_ICMP_PING:
        g->ping_ident = (uint16_t)sb_rng_next(&g->rng);
        push_ev(g, start, EV_PING, 0, 0, 0);
        break;
    case SB_GEN_IOT_MIX:
        for (uint32_t i = 0; i < conns; i++)
            conn_new(g, i, (uint16_t)(CLIENT_PORT_BASE + i), PORT_IOT_TCP);
        push_ev(g, start + sb_rng_exp_ns(&g->rng, mean_gap_ns(g)), EV_IOT, 0, 0, 0);
        push_ev(g, g->end_ns, EV_END, 0, 0, 0);
        break;
    case SB_GEN_BURSTY:
        push_ev(g, start + sb_rng_exp_ns(&g->rng, mean_gap_ns(g)), EV_BURST, 0, 0, 0);
        break;
    case SB_GEN_IDLE_HEAVY:
        conn_open(g, conn_new(g, 0, CLIENT_PORT_BASE, PORT_IDLE_TCP), start);
        push_ev(g, start + 500000u + sb_rng_exp_ns(&g->rng, mean_gap_ns(g)), EV_IDLE, 0, 0, 0);
        push_ev(g, g->end_ns, EV_END, 0, 0, 0);
        break;
    default:
        return SB_EINVAL;
    }
    return SB_OK;
}

static void on_event(gen *g, const ev *e)
{
    const sb_gen_params *p = &g->p;
    uint64_t t = e->t;
    tcp_conn *c = e->a < g->n_conns ? &g->conns[e->a] : NULL;
    switch ((enum ev_type)e->type) {
    case EV_ARP_REQUEST: {
        uint64_t ta = arp_send(g, C2S, t, &g->clients[e->a], &g->server, US_ARP_OP_REQUEST);
        push_ev(g, ta + SB_GEN_SERVER_NS, EV_ARP_REPLY, e->a, 0, 0);
        break;
    }
    case EV_ARP_REPLY:
        arp_send(g, S2C, t, &g->server, &g->clients[e->a], US_ARP_OP_REPLY);
        break;
    case EV_LEARN:
        if (!c->ack_valid[e->b] || (int32_t)(e->c - c->ack_of[e->b]) > 0)
            c->ack_of[e->b] = e->c;
        c->ack_valid[e->b] = true;
        break;
    case EV_SYN: {
        uint64_t ta = tcp_send(g, e->a, C2S, US_TCP_SYN, 0, t);
        push_ev(g, ta + SB_GEN_SERVER_NS, EV_SYNACK, e->a, 0, 0);
        break;
    }
    case EV_SYNACK: {
        uint64_t ta = tcp_send(g, e->a, S2C, US_TCP_SYN | US_TCP_ACK, 0, t);
        push_ev(g, ta + SB_GEN_RTT_NS + SB_GEN_CLIENT_NS, EV_OPEN, e->a, 0, 0);
        break;
    }
    case EV_OPEN:
        tcp_send(g, e->a, C2S, US_TCP_ACK, 0, t);
        c->state = CS_OPEN;
        if (g->kind == SB_GEN_TCP_BULK)
            push_ev(g, t, EV_BULK, e->a, 0, 0);
        else
            conn_kick(g, e->a, t);
        break;
    case EV_SEND: /* tcp-rr: the next request arrives; connections take turns */
        if (t < g->end_ns) {
            uint32_t ci = (uint32_t)(g->counter++ % g->n_conns);
            conn_enqueue(g, ci, p->size, p->resp_size);
            conn_kick(g, ci, t);
            push_ev(g, t + sb_rng_exp_ns(&g->rng, mean_gap_ns(g)), EV_SEND, 0, 0, 0);
        }
        break;
    case EV_RESPOND: {
        uint64_t ta;
        if (c->cur_resp > 0)
            ta = tcp_send_data(g, e->a, S2C, c->cur_resp, t);
        else
            ta = tcp_send(g, e->a, S2C, US_TCP_ACK, 0, t);
        push_ev(g, ta + SB_GEN_RTT_NS + SB_GEN_CLIENT_NS, EV_GOT_RESPONSE, e->a,
                c->cur_resp > 0, 0);
        break;
    }
    case EV_GOT_RESPONSE:
        c->busy = false;
        /* The next request or the FIN carries the ACK; otherwise ACK on its own. */
        if (!conn_kick(g, e->a, t) && e->b)
            tcp_send(g, e->a, C2S, US_TCP_ACK, 0, t);
        break;
    case EV_SRV_FIN: {
        uint64_t ta = tcp_send(g, e->a, S2C, US_TCP_FIN | US_TCP_ACK, 0, t);
        push_ev(g, ta + SB_GEN_RTT_NS + SB_GEN_CLIENT_NS, EV_LAST_ACK, e->a, 0, 0);
        break;
    }
    case EV_LAST_ACK:
        tcp_send(g, e->a, C2S, US_TCP_ACK, 0, t);
        c->state = CS_DONE;
        break;
    case EV_BULK:
        if (t < g->end_ns) {
            /* PSH every 16 segments, as a writer of 16-segment chunks would cause. */
            uint8_t fl = (uint8_t)(US_TCP_ACK | (c->bulk_sent % 16 == 15 ? US_TCP_PSH : 0));
            uint64_t ta = tcp_send(g, e->a, C2S, fl, p->size, t);
            c->bulk_sent++;
            if (++c->unacked == 2) {
                c->unacked = 0;
                push_ev(g, ta + SB_GEN_SERVER_NS, EV_SRV_ACK, e->a, 0, 0);
            }
            push_ev(g, t + (uint64_t)(mean_gap_ns(g) + 0.5), EV_BULK, e->a, 0, 0);
        } else {
            conn_close(g, e->a, t); /* the server's FIN-ACK also ACKs an odd last segment */
        }
        break;
    case EV_SRV_ACK:
        tcp_send(g, e->a, S2C, US_TCP_ACK, 0, t);
        break;
    case EV_UDP_ONEWAY:
        if (t < g->end_ns) {
            udp_send(g, C2S, t, &g->clients[0], &g->server, CLIENT_PORT_BASE, PORT_UDP_SINK,
                     p->size, (uint64_t)e->a * p->size);
            /* Nominal times i * period: no drift from rounding. */
            uint64_t next = SB_GEN_START_NS +
                            (uint64_t)((double)(e->a + 1) * mean_gap_ns(g) + 0.5);
            push_ev(g, next, EV_UDP_ONEWAY, e->a + 1, 0, 0);
        }
        break;
    case EV_PING:
        if (t < g->end_ns) {
            uint16_t seq = (uint16_t)(e->a + 1);
            uint64_t ta = icmp_send(g, C2S, t, &g->clients[0], &g->server, US_ICMP_ECHO_REQUEST,
                                    g->ping_ident, seq, p->size);
            push_ev(g, ta + SB_GEN_SERVER_NS, EV_PING_REPLY, e->a, 0, 0);
            uint64_t next = SB_GEN_START_NS +
                            (uint64_t)((double)(e->a + 1) * mean_gap_ns(g) + 0.5);
            push_ev(g, next, EV_PING, e->a + 1, 0, 0);
        }
        break;
    case EV_PING_REPLY:
        icmp_send(g, S2C, t, &g->server, &g->clients[0], US_ICMP_ECHO_REPLY, g->ping_ident,
                  (uint16_t)(e->a + 1), p->size);
        break;
    case EV_IOT:
        if (t < g->end_ns) {
            uint32_t ci = (uint32_t)sb_rng_below(&g->rng, g->n_clients);
            uint32_t size = uniform(g, 8, p->size);
            if (sb_rng_below(&g->rng, 100) < 60) {
                uint64_t ta = udp_send(g, C2S, t, &g->clients[ci], &g->server,
                                       (uint16_t)(CLIENT_PORT_BASE + ci), PORT_IOT_UDP, size,
                                       g->counter);
                if (sb_rng_below(&g->rng, 2) == 0)
                    push_ev(g, ta + SB_GEN_SERVER_NS, EV_UDP_REPLY, ci, uniform(g, 4, 16),
                            PORT_IOT_UDP << 16 | (CLIENT_PORT_BASE + ci));
            } else {
                uint32_t resp = sb_rng_below(&g->rng, 10) < 3 ? 4 : 0;
                conn_enqueue(g, ci, size, resp);
                if (g->conns[ci].state == CS_CLOSED)
                    conn_open(g, ci, t);
                else
                    conn_kick(g, ci, t);
            }
            g->counter++;
            push_ev(g, t + sb_rng_exp_ns(&g->rng, mean_gap_ns(g)), EV_IOT, 0, 0, 0);
        }
        break;
    case EV_UDP_REPLY:
        udp_send(g, S2C, t, &g->server, &g->clients[e->a], (uint16_t)(e->c >> 16),
                 (uint16_t)e->c, e->b, g->counter);
        break;
    case EV_BURST:
        if (t < g->end_ns) {
            uint32_t ci = (uint32_t)sb_rng_below(&g->rng, g->n_clients);
            for (uint32_t i = 0; i < p->burst; i++)
                udp_send(g, C2S, t, &g->clients[ci], &g->server,
                         (uint16_t)(CLIENT_PORT_BASE + ci), PORT_BURST, p->size,
                         (g->counter++) * p->size);
            push_ev(g, t + sb_rng_exp_ns(&g->rng, mean_gap_ns(g)), EV_BURST, 0, 0, 0);
        }
        break;
    case EV_IDLE:
        if (t < g->end_ns) {
            if (sb_rng_below(&g->rng, 2) == 0) {
                conn_enqueue(g, 0, p->size, p->resp_size);
                conn_kick(g, 0, t);
            } else {
                uint64_t ta = udp_send(g, C2S, t, &g->clients[0], &g->server,
                                       CLIENT_PORT_BASE + 1, PORT_IDLE_UDP, p->size, g->counter);
                if (p->resp_size > 0)
                    push_ev(g, ta + SB_GEN_SERVER_NS, EV_UDP_REPLY, 0, p->resp_size,
                            PORT_IDLE_UDP << 16 | (CLIENT_PORT_BASE + 1));
            }
            g->counter++;
            push_ev(g, t + sb_rng_exp_ns(&g->rng, mean_gap_ns(g)), EV_IDLE, 0, 0, 0);
        }
        break;
    case EV_END:
        for (uint32_t i = 0; i < g->n_conns; i++) {
            g->conns[i].close_when_idle = true;
            conn_kick(g, i, t);
        }
        break;
    }
}

/* ---- output ---- */

static int rec_cmp(const void *x, const void *y)
{
    const rec *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static sb_status write_pcap(const gen *g, const char *out_path, sb_err *err)
{
    size_t n = strlen(out_path);
    char *tmp = malloc(n + 5);
    if (!tmp)
        return sb__fail(err, SB_ENOMEM, "%s: out of memory", out_path);
    memcpy(tmp, out_path, n);
    memcpy(tmp + n, ".tmp", 5);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        sb_status st = sb__fail(err, SB_EIO, "cannot write %s: %s", out_path, strerror(errno));
        free(tmp);
        return st;
    }
    pcap_t *pd = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535,
                                                      PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t *d = pd ? pcap_dump_fopen(pd, fp) : NULL;
    if (!d) {
        sb_status st = sb__fail(err, SB_EIO, "cannot write %s: %s", out_path,
                                pd ? pcap_geterr(pd) : "libpcap could not start a dump");
        fclose(fp);
        if (pd)
            pcap_close(pd);
        remove(tmp);
        free(tmp);
        return st;
    }
    for (size_t i = 0; i < g->n_recs; i++) {
        const rec *r = &g->recs[i];
        struct pcap_pkthdr h;
        memset(&h, 0, sizeof h);
        h.ts.tv_sec = (time_t)(SB_GEN_EPOCH_S + r->t / 1000000000u);
        h.ts.tv_usec = (suseconds_t)(r->t % 1000000000u); /* ns: the dump is ns precision */
        h.caplen = r->len;
        h.len = r->len;
        pcap_dump((u_char *)d, &h, g->arena + r->off);
    }
    errno = 0;
    bool bad = pcap_dump_flush(d) != 0 || ferror(fp);
    int saved = errno;
    pcap_dump_close(d); /* closes fp */
    pcap_close(pd);
    if (bad) {
        remove(tmp);
        free(tmp);
        return sb__fail(err, SB_EIO, "cannot write %s: %s", out_path,
                        saved ? strerror(saved) : "write error");
    }
    if (rename(tmp, out_path) != 0) {
        sb_status st = sb__fail(err, SB_EIO, "cannot write %s: %s", out_path, strerror(errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return SB_OK;
}

static void gen_free(gen *g)
{
    for (uint32_t i = 0; i < g->n_conns; i++)
        free(g->conns[i].q);
    free(g->conns);
    free(g->recs);
    free(g->arena);
    free(g->heap);
}

sb_status sb_gen(sb_gen_kind kind, const sb_gen_params *p, const char *out_path, sb_err *err)
{
    if (!p || !out_path || !*out_path)
        return sb__fail(err, SB_EINVAL, "no output file given");
    sb_status st = sb_gen_check(kind, p, err);
    if (st != SB_OK)
        return st;
    if (expected_frames(kind, p) > (double)SB_GEN_MAX_FRAMES)
        return sb__fail(err, SB_EINVAL,
                        "the trace would have about %.0f frames, more than %u: lower --rate or "
                        "--duration",
                        expected_frames(kind, p), SB_GEN_MAX_FRAMES);
    gen *g = calloc(1, sizeof *g);
    if (!g)
        return sb__fail(err, SB_ENOMEM, "out of memory");
    g->kind = kind;
    g->p = *p;
    g->end_ns = p->duration_ns;
    sb_rng_seed(&g->rng, p->seed);
    st = setup(g);
    while (st == SB_OK && g->n_ev > 0 && !g->nomem && !g->too_many) {
        ev e = pop_ev(g);
        on_event(g, &e);
    }
    if (st == SB_OK && g->nomem)
        st = sb__fail(err, SB_ENOMEM, "out of memory generating %s", out_path);
    else if (st == SB_OK && g->too_many)
        st = sb__fail(err, SB_EINVAL,
                      "the trace would exceed %u frames or 1 GiB: lower --rate or --duration",
                      SB_GEN_MAX_FRAMES);
    else if (st != SB_OK)
        st = sb__fail(err, st, "out of memory generating %s", out_path);
    if (st == SB_OK) {
        qsort(g->recs, g->n_recs, sizeof *g->recs, rec_cmp);
        st = write_pcap(g, out_path, err);
    }
    gen_free(g);
    free(g);
    return st;
}
