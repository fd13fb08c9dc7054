/* stackbench replay, flow mode: the peer. A second libustack instance with ample buffers re-enacts
 * the trace's flows against the stack under test. It costs no CPU and processes everything at once:
 * on every frame arrival, flow event and timer it runs its applications, us_ingress and
 * us_egress(ALL) at that engine time. Its applications:
 *   TCP client   connects at the flow's recorded start, sends each client message no earlier than
 *                its recorded time and not before the previous server message has fully arrived,
 *                closes after the last message, done when the server's FIN arrived;
 *   UDP sender   one datagram of the recorded payload size at each recorded time;
 *   ICMP pinger  the recorded echo requests at their times (crafted frames: libustack has no raw
 *                socket), done when all are answered.
 * All recorded clients become the one peer (10.0.1.1); each flow keeps its recorded client port
 * unless an earlier flow used it (then it takes a free one from 20000 up), so every flow has its
 * own 5-tuple. Static ARP entries both ways: no ARP exchange takes place. */
#include <stdlib.h>
#include <string.h>

#include "harness_internal.h"
#include "ustack/wire/eth.h"
#include "ustack/wire/icmp.h"
#include "ustack/wire/ipv4.h"

enum { PF_WAIT = 0, PF_CONNECTING, PF_RUN, PF_CLOSING, PF_DONE };

#define PEER_TXBUF 2048u
#define PEER_PATTERN (64u * 1024u)

typedef struct peer_flow {
    sb_rp *rp;
    uint32_t fi;
    uint32_t self; /* index in sb_peer.pf */
    uint8_t proto, state, dirty, queued_close, waiting_sock, ebuf;
    uint16_t port;
    us_sock h;
    size_t msg;
    uint64_t tx_done, rx_total, s2c_before;
    us_time ready_at;
    us_time close_at; /* TCP: the client's recorded FIN (or its last packet), virtual time */
    sb_event_id ev;
    us_time ev_at;
    uint32_t *items; /* trace frames: UDP datagrams / ICMP echo requests, in order */
    uint32_t *sizes; /* UDP payload bytes of each */
    uint32_t n_items, next_item;
    uint64_t answered;
} peer_flow;

struct sb_peer {
    void *mem;
    us_stack *s;
    uint8_t *txbuf, *pattern, *scratch;
    peer_flow *pf;
    uint32_t n;
    uint32_t *dirty, n_dirty;
    uint32_t *waiting, n_waiting;
    uint32_t *close_after, n_close;
    sb_event_id timer_ev;
    us_time timer_at;
    uint32_t *tcp_port_flow; /* 65536 entries */
    int in_run;
    uint32_t n_done, n_failed;
    uint64_t bytes_sent, bytes_rcvd, pings_sent, pings_answered, drop_pool, send_fail;
};

static us_time now_of(const sb_rp *rp)
{
    return rp->teardown ? rp->teardown_now : rp->des.now;
}

/* ---- the peer's device: sends onto the link into the NIC ---- */

static uint8_t *pd_tx_acquire(void *ctx, uint32_t len)
{
    sb_rp *rp = ctx;
    return len <= PEER_TXBUF ? rp->peer->txbuf : NULL;
}

static void pd_tx_commit(void *ctx, uint8_t *buf, uint32_t len)
{
    sb_rp *rp = ctx;
    (void)sb_link_send(&rp->link_in, buf, len, now_of(rp), NULL);
}

/* ---- bookkeeping ---- */

static void mark_dirty(peer_flow *pf)
{
    sb_peer *p = pf->rp->peer;
    if (pf->dirty || pf->state == PF_DONE)
        return;
    pf->dirty = 1;
    p->dirty[p->n_dirty++] = pf->self;
}

static void peer_waker(void *ctx)
{
    mark_dirty(ctx);
}

static void flow_done(peer_flow *pf, int failed)
{
    sb_peer *p = pf->rp->peer;
    if (pf->state == PF_DONE)
        return;
    pf->state = PF_DONE;
    p->n_done++;
    if (failed)
        p->n_failed++;
    if (pf->ev != SB_EVENT_NONE)
        sb_des_cancel(&pf->rp->des, pf->ev);
    pf->ev = SB_EVENT_NONE;
}

static void peer_run(sb_rp *rp, us_time now);

static void flow_event(void *ctx, void *arg)
{
    (void)arg;
    peer_flow *pf = ctx;
    pf->ev = SB_EVENT_NONE;
    mark_dirty(pf);
    peer_run(pf->rp, pf->rp->des.now);
}

/* Make sure the flow is serviced at `at`. */
static void flow_at(peer_flow *pf, us_time at)
{
    if (pf->ev != SB_EVENT_NONE) {
        if (pf->ev_at <= at)
            return;
        sb_des_cancel(&pf->rp->des, pf->ev);
    }
    pf->ev_at = at;
    pf->ev = sb_des_schedule(&pf->rp->des, at, flow_event, pf, NULL);
}

static void wait_socket(peer_flow *pf)
{
    sb_peer *p = pf->rp->peer;
    if (!pf->waiting_sock) {
        pf->waiting_sock = 1;
        p->waiting[p->n_waiting++] = pf->self;
    }
}

static void arm(sb_peer *p, peer_flow *pf)
{
    us_sock_set_rx_waker(p->s, pf->h, peer_waker, pf);
    us_sock_set_tx_waker(p->s, pf->h, peer_waker, pf);
}

/* ---- the applications ---- */

static void tcp_service(sb_rp *rp, peer_flow *pf, us_time now)
{
    sb_peer *p = rp->peer;
    const sb_flow *fl = &rp->flows->flows[pf->fi];
    if (pf->state == PF_WAIT) {
        us_time start = sb__rp_scale(rp, fl->start_ns);
        if (now < start) {
            flow_at(pf, start);
            return;
        }
        us_sock h = us_tcp_open(p->s);
        if (h < 0) {
            wait_socket(pf); /* the table is full: retried whenever the peer runs */
            return;
        }
        pf->h = h;
        if (us_tcp_connect(p->s, h, SB_RP_STACK_IP, fl->key.server_port, pf->port, now) !=
            US_OK) {
            (void)us_tcp_release(p->s, h);
            pf->h = -1;
            flow_done(pf, 1);
            return;
        }
        pf->state = PF_CONNECTING;
    }
    if (pf->state == PF_CONNECTING) {
        us_tcp_state st = us_tcp_get_state(p->s, pf->h);
        if (st == US_TCP_ESTABLISHED || st == US_TCP_CLOSE_WAIT) {
            pf->state = PF_RUN;
            pf->ready_at = now;
        } else if (st == US_TCP_CLOSED) {
            (void)us_tcp_release(p->s, pf->h);
            pf->h = -1;
            flow_done(pf, 1);
            return;
        } else {
            arm(p, pf);
            return;
        }
    }
    int eof = 0;
    for (;;) {
        int32_t n = us_tcp_recv(p->s, pf->h, p->scratch, PEER_PATTERN);
        if (n > 0) {
            pf->rx_total += (uint64_t)n;
            p->bytes_rcvd += (uint64_t)n;
            continue;
        }
        if (n == 0) {
            eof = 1;
        } else if (n != US_EAGAIN) {
            (void)us_tcp_release(p->s, pf->h); /* reset */
            pf->h = -1;
            flow_done(pf, 1);
            return;
        }
        break;
    }
    if (pf->state == PF_RUN) {
        while (pf->msg < fl->n_msgs) {
            const sb_flow_msg *m = &fl->msgs[pf->msg];
            if (m->dir == SB_C2S) {
                us_time t = sb__rp_scale(rp, m->start_ns);
                if (t < pf->ready_at)
                    t = pf->ready_at;
                if (now < t) {
                    flow_at(pf, t);
                    break;
                }
                uint64_t left = m->bytes - pf->tx_done;
                if (left > 0) {
                    int32_t k = us_tcp_send(p->s, pf->h, p->pattern,
                                            left > PEER_PATTERN ? PEER_PATTERN : (uint32_t)left);
                    if (k < 0) {
                        pf->msg = fl->n_msgs; /* cannot send any more */
                        break;
                    }
                    if (k == 0)
                        break; /* send ring full: the tx waker fires */
                    pf->tx_done += (uint64_t)k;
                    p->bytes_sent += (uint64_t)k;
                    if (pf->tx_done < m->bytes)
                        continue;
                }
                pf->tx_done = 0;
                pf->msg++;
            } else {
                if (pf->rx_total < pf->s2c_before + m->bytes)
                    break;
                pf->s2c_before += m->bytes;
                pf->msg++;
                pf->ready_at = now;
            }
        }
        if (pf->msg >= fl->n_msgs && !eof && now < pf->close_at) {
            flow_at(pf, pf->close_at); /* the client closes when it did in the recording */
        } else if (pf->msg >= fl->n_msgs || eof) {
            (void)us_tcp_close(p->s, pf->h);
            pf->state = PF_CLOSING;
        }
    }
    if (pf->state == PF_CLOSING) {
        us_tcp_state st = us_tcp_get_state(p->s, pf->h);
        if (eof || st == US_TCP_CLOSED || st == US_TCP_TIME_WAIT) {
            (void)us_tcp_release(p->s, pf->h); /* TIME_WAIT goes on in the background */
            pf->h = -1;
            flow_done(pf, 0);
            return;
        }
    }
    arm(p, pf);
}

static void udp_service(sb_rp *rp, peer_flow *pf, us_time now)
{
    sb_peer *p = rp->peer;
    const sb_flow *fl = &rp->flows->flows[pf->fi];
    while (pf->next_item < pf->n_items) {
        us_time t = sb__rp_scale(rp, rp->trace->frames[pf->items[pf->next_item]].ts_ns);
        if (t > now) {
            flow_at(pf, t);
            return;
        }
        if (pf->h < 0) {
            us_sock h = us_udp_open(p->s);
            if (h < 0) {
                wait_socket(pf);
                return;
            }
            pf->h = h;
            if (us_udp_bind(p->s, h, pf->port) != US_OK)
                (void)us_udp_bind(p->s, h, 0);
        }
        uint32_t size = pf->sizes[pf->next_item];
        us_status st =
            us_udp_send(p->s, pf->h, p->pattern, size, SB_RP_STACK_IP, fl->key.server_port);
        if (st == US_EBUF && !pf->ebuf) {
            pf->ebuf = 1; /* after the egress that empties the ring */
            mark_dirty(pf);
            return;
        }
        pf->ebuf = 0;
        if (st == US_OK)
            p->bytes_sent += size;
        else
            p->send_fail++;
        pf->next_item++;
    }
    if (!pf->queued_close) {
        pf->queued_close = 1; /* close once the egress has sent the last datagram */
        p->close_after[p->n_close++] = pf->self;
    }
}

static void icmp_service(sb_rp *rp, peer_flow *pf, us_time now)
{
    sb_peer *p = rp->peer;
    while (pf->next_item < pf->n_items) {
        uint32_t i = pf->items[pf->next_item];
        const sb_frame *fr = &rp->trace->frames[i];
        us_time t = sb__rp_scale(rp, fr->ts_ns);
        if (t > now) {
            flow_at(pf, t);
            return;
        }
        sb_rw_action act;
        if (fr->len <= PEER_PATTERN &&
            sb_rw_frame(&rp->rw, i, fr->data, fr->len, p->scratch, &act, NULL) == SB_OK &&
            act == SB_RW_TO_STACK) {
            (void)sb_link_send(&rp->link_in, p->scratch, fr->len, now, NULL);
            p->pings_sent++;
        } else {
            p->send_fail++;
            pf->answered++; /* nothing will answer it */
        }
        pf->next_item++;
    }
    if (pf->answered >= pf->n_items)
        flow_done(pf, 0);
}

static void service(sb_rp *rp, peer_flow *pf, us_time now)
{
    if (pf->state == PF_DONE)
        return;
    if (pf->proto == US_IP_PROTO_TCP)
        tcp_service(rp, pf, now);
    else if (pf->proto == US_IP_PROTO_UDP)
        udp_service(rp, pf, now);
    else
        icmp_service(rp, pf, now);
}

static void peer_timer(void *ctx, void *arg)
{
    (void)arg;
    sb_rp *rp = ctx;
    rp->peer->timer_ev = SB_EVENT_NONE;
    rp->peer->timer_at = US_TIME_NEVER;
    peer_run(rp, rp->des.now);
}

/* Everything the peer does at one instant, until nothing is left to do. */
static void peer_run(sb_rp *rp, us_time now)
{
    sb_peer *p = rp->peer;
    if (p->in_run || rp->teardown)
        return;
    p->in_run = 1;
    /* Flows waiting for a socket get another chance each time. */
    uint32_t nw = p->n_waiting;
    p->n_waiting = 0;
    for (uint32_t i = 0; i < nw; i++) {
        peer_flow *pf = &p->pf[p->waiting[i]];
        pf->waiting_sock = 0;
        mark_dirty(pf);
    }
    for (;;) {
        while (p->n_dirty) {
            peer_flow *pf = &p->pf[p->dirty[--p->n_dirty]];
            pf->dirty = 0;
            service(rp, pf, now);
        }
        (void)us_egress(p->s, now, US_EGRESS_ALL);
        if (!p->n_dirty)
            break;
    }
    for (uint32_t i = 0; i < p->n_close; i++) {
        peer_flow *pf = &p->pf[p->close_after[i]];
        if (pf->h >= 0)
            (void)us_udp_close(p->s, pf->h);
        pf->h = -1;
        flow_done(pf, 0);
    }
    p->n_close = 0;
    p->in_run = 0;
    us_time at = us_poll_at(p->s, now);
    if (at != US_TIME_NEVER && at <= now)
        at = now + 1; /* something is owed that cannot go now: look again, time moving on */
    if (at != p->timer_at) {
        if (p->timer_ev != SB_EVENT_NONE)
            sb_des_cancel(&rp->des, p->timer_ev);
        p->timer_ev = SB_EVENT_NONE;
        p->timer_at = at;
        if (at != US_TIME_NEVER)
            p->timer_ev = sb_des_schedule(&rp->des, at, peer_timer, rp, NULL);
    }
    sb__rp_check_done(rp);
}

/* An echo reply to the pinger: count it. Returns 1 if the frame was one. */
static int pinger_reply(sb_rp *rp, const uint8_t *data, uint32_t len)
{
    us_eth_repr e;
    size_t off;
    us_ipv4_repr ip;
    if (us_eth_parse(&e, data, len, &off) != US_WIRE_OK || e.ethertype != US_ETHERTYPE_IPV4 ||
        us_ipv4_parse(&ip, data + off, len - off, US_WIRE_SKIP_CSUM) != US_WIRE_OK ||
        ip.proto != US_IP_PROTO_ICMP || ip.frag_offset || ip.more_frags || ip.payload_len < 8)
        return 0;
    const uint8_t *icmp = data + off + ip.header_len;
    if (icmp[0] != 0 /* echo reply */)
        return 0;
    uint16_t ident = (uint16_t)(icmp[4] << 8 | icmp[5]);
    sb_peer *p = rp->peer;
    for (uint32_t k = 0; k < p->n; k++) {
        peer_flow *pf = &p->pf[k];
        if (pf->proto == US_IP_PROTO_ICMP && rp->flows->flows[pf->fi].key.client_port == ident &&
            pf->answered < pf->next_item) {
            pf->answered++;
            p->pings_answered++;
            if (pf->next_item == pf->n_items && pf->answered >= pf->n_items)
                flow_done(pf, 0);
            return 1;
        }
    }
    return 1; /* an unexpected reply: not for the peer's stack either */
}

void sb__peer_deliver(void *ctx, const uint8_t *data, uint32_t len, us_time arrival)
{
    sb_rp *rp = ctx;
    sb_peer *p = rp->peer;
    if (!p || rp->teardown)
        return;
    if (pinger_reply(rp, data, len)) {
        sb__rp_check_done(rp);
        return;
    }
    us_pbuf *pb = us_pbuf_alloc(us_stack_bufs(p->s), US_PBUF_RAW, len, US_PBUF_POOL);
    if (!pb) {
        p->drop_pool++;
        return;
    }
    (void)us_pbuf_take(pb, data, len);
    (void)us_ingress(p->s, pb, arrival);
    peer_run(rp, arrival);
}

int sb__peer_done(const sb_rp *rp)
{
    return !rp->peer || rp->peer->n_done == rp->peer->n;
}

uint32_t sb__peer_flow_of_tcp_port(const sb_rp *rp, uint16_t port)
{
    return rp->peer ? rp->peer->tcp_port_flow[port] : SB_FLOW_NONE;
}

void sb__peer_report(sb_rp *rp)
{
    sb_peer *p = rp->peer;
    sb_replay_result *r = rp->res;
    r->peer_bytes_sent = p->bytes_sent;
    r->peer_bytes_rcvd = p->bytes_rcvd;
    r->pings_sent = p->pings_sent;
    r->pings_answered = p->pings_answered;
    r->flows_total = p->n;
    r->flows_done = p->n_done - p->n_failed;
}

/* ---- setup and teardown ---- */

/* Payload bytes of the UDP datagram starting in trace frame fr, or -1 if it carries no header. */
static int32_t udp_payload(const sb_frame *fr)
{
    us_eth_repr e;
    size_t off;
    us_ipv4_repr ip;
    if (us_eth_parse(&e, fr->data, fr->len, &off) != US_WIRE_OK ||
        e.ethertype != US_ETHERTYPE_IPV4 ||
        us_ipv4_parse(&ip, fr->data + off, fr->len - off, US_WIRE_SKIP_CSUM) != US_WIRE_OK ||
        ip.frag_offset != 0 || ip.payload_len < 8)
        return -1;
    const uint8_t *u = fr->data + off + ip.header_len;
    uint32_t ulen = (uint32_t)u[4] << 8 | u[5];
    if (ulen < 8)
        return -1;
    ulen -= 8;
    return ulen > 65507 ? 65507 : (int32_t)ulen;
}

static int tcp_fin(const sb_frame *fr)
{
    us_eth_repr e;
    size_t off;
    us_ipv4_repr ip;
    if (us_eth_parse(&e, fr->data, fr->len, &off) != US_WIRE_OK ||
        e.ethertype != US_ETHERTYPE_IPV4 ||
        us_ipv4_parse(&ip, fr->data + off, fr->len - off, US_WIRE_SKIP_CSUM) != US_WIRE_OK ||
        ip.proto != US_IP_PROTO_TCP || ip.frag_offset != 0 || ip.payload_len < 14)
        return 0;
    return (fr->data[off + ip.header_len + 13] & 0x01u) != 0; /* FIN */
}

static int icmp_request(const sb_frame *fr)
{
    us_eth_repr e;
    size_t off;
    us_ipv4_repr ip;
    if (us_eth_parse(&e, fr->data, fr->len, &off) != US_WIRE_OK ||
        e.ethertype != US_ETHERTYPE_IPV4 ||
        us_ipv4_parse(&ip, fr->data + off, fr->len - off, US_WIRE_SKIP_CSUM) != US_WIRE_OK ||
        ip.frag_offset != 0 || ip.payload_len < 8)
        return 0;
    return fr->data[off + ip.header_len] == 8;
}

sb_status sb__peer_init(sb_rp *rp, sb_err *err)
{
    const sb_flows *f = rp->flows;
    const sb_trace *t = rp->trace;
    sb_peer *p = calloc(1, sizeof(*p));
    if (!p)
        return sb__fail(err, SB_ENOMEM, "out of memory");
    rp->peer = p;
    p->timer_at = US_TIME_NEVER;
    size_t nf = f->n ? f->n : 1;
    p->pf = calloc(nf, sizeof(*p->pf));
    p->dirty = malloc(nf * sizeof(uint32_t));
    p->waiting = malloc(nf * sizeof(uint32_t));
    p->close_after = malloc(nf * sizeof(uint32_t));
    p->tcp_port_flow = malloc(65536 * sizeof(uint32_t));
    p->txbuf = malloc(PEER_TXBUF);
    p->pattern = malloc(PEER_PATTERN);
    p->scratch = malloc(PEER_PATTERN + 64);
    uint32_t *index = malloc(nf * sizeof(uint32_t)); /* flow -> peer flow, or UINT32_MAX */
    uint8_t *used = calloc(2 * 65536, 1);
    if (!p->pf || !p->dirty || !p->waiting || !p->close_after || !p->tcp_port_flow ||
        !p->txbuf || !p->pattern || !p->scratch || !index || !used) {
        free(index);
        free(used);
        return sb__fail(err, SB_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < PEER_PATTERN; i++)
        p->pattern[i] = (uint8_t)('A' + i % 26);
    for (uint32_t i = 0; i < 65536; i++)
        p->tcp_port_flow[i] = SB_FLOW_NONE;

    /* One peer flow per TCP, UDP and ICMP echo flow, with its own port. */
    uint32_t n_udp = 0, n_tcp = 0, next_port = 20000;
    for (size_t i = 0; i < f->n; i++) {
        const sb_flow_key *k = &f->flows[i].key;
        index[i] = UINT32_MAX;
        if (k->proto != US_IP_PROTO_TCP && k->proto != US_IP_PROTO_UDP &&
            k->proto != US_IP_PROTO_ICMP)
            continue;
        peer_flow *pf = &p->pf[p->n];
        *pf = (peer_flow){.rp = rp, .fi = (uint32_t)i, .self = p->n, .proto = k->proto, .h = -1,
                          .ev = SB_EVENT_NONE, .close_at = US_TIME_NEVER};
        if (k->proto != US_IP_PROTO_ICMP) {
            uint8_t *u = used + (k->proto == US_IP_PROTO_TCP ? 0 : 65536);
            uint16_t port = k->client_port;
            if (port == 0 || u[port]) {
                for (uint32_t tries = 0; tries < 65536 && (u[next_port] || next_port == 0);
                     tries++)
                    next_port = next_port >= 65535 ? 1024 : next_port + 1;
                port = (uint16_t)next_port;
            }
            u[port] = 1;
            pf->port = port;
            if (k->proto == US_IP_PROTO_TCP) {
                p->tcp_port_flow[port] = (uint32_t)i;
                n_tcp++;
            } else {
                n_udp++;
            }
        }
        index[i] = p->n++;
    }
    free(used);
    /* The UDP datagrams and echo requests each flow's client sent, in trace order. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < t->n && i < f->n_frames; i++) {
            uint32_t fi = f->frame_flow[i];
            if (fi == SB_FLOW_NONE || f->frame_dir[i] != SB_C2S || index[fi] == UINT32_MAX)
                continue;
            peer_flow *pf = &p->pf[index[fi]];
            int32_t size = -1;
            if (pf->proto == US_IP_PROTO_TCP && pass == 0 && tcp_fin(&t->frames[i])) {
                us_time at = sb__rp_scale(rp, t->frames[i].ts_ns);
                if (at < pf->close_at)
                    pf->close_at = at;
            }
            if (pf->proto == US_IP_PROTO_UDP)
                size = udp_payload(&t->frames[i]);
            else if (pf->proto == US_IP_PROTO_ICMP)
                size = icmp_request(&t->frames[i]) ? 0 : -1;
            if (size < 0)
                continue;
            if (pass == 0) {
                pf->n_items++;
            } else {
                pf->items[pf->next_item] = (uint32_t)i;
                if (pf->sizes)
                    pf->sizes[pf->next_item] = (uint32_t)size;
                pf->next_item++;
            }
        }
        if (pass == 0) {
            for (uint32_t k = 0; k < p->n; k++) {
                peer_flow *pf = &p->pf[k];
                if (pf->n_items == 0)
                    continue;
                pf->items = malloc(pf->n_items * sizeof(uint32_t));
                if (pf->proto == US_IP_PROTO_UDP)
                    pf->sizes = malloc(pf->n_items * sizeof(uint32_t));
                if (!pf->items || (pf->proto == US_IP_PROTO_UDP && !pf->sizes)) {
                    free(index);
                    return sb__fail(err, SB_ENOMEM, "out of memory");
                }
            }
        }
    }
    free(index);
    for (uint32_t k = 0; k < p->n; k++) {
        peer_flow *pf = &p->pf[k];
        pf->next_item = 0;
        if (pf->close_at == US_TIME_NEVER) /* no FIN recorded: close after the last packet */
            pf->close_at = sb__rp_scale(rp, f->flows[pf->fi].end_ns);
    }

    /* The peer stack: ample buffers, a socket for every flow open at once. */
    uint32_t conc = sb_apps_tcp_concurrency(f);
    us_stack_config pc;
    us_stack_config_default(&pc);
    const uint8_t pmac[6] = {0x02, 0, 0, 0, 0x01, 0x01};
    memcpy(pc.mac, pmac, 6);
    pc.ipv4_addr = SB_RP_PEER_IP;
    pc.ipv4_netmask = SB_RP_NETMASK;
    pc.bufs.pbuf_pool_count = 4096;
    pc.bufs.pbuf_count = 512;
    pc.bufs.heap_size = 1024u * 1024u;
    pc.udp_sockets = n_udp < 1 ? 1 : (n_udp > 1024 ? 1024 : n_udp);
    uint32_t tcp_socks = n_tcp < 2 * conc + 16 ? n_tcp : 2 * conc + 16;
    pc.tcp_sockets = tcp_socks < 1 ? 1 : tcp_socks;
    pc.udp_tx_buf = 64u * 1024u;
    pc.udp_rx_buf = 16u * 1024u;
    pc.tcp_time_wait = 100000000ull; /* 100 ms: the ports are not reused anyway */
    pc.seed = rp->cfg.seed ^ 0x9EE4A11CE5ull;
    us_dev dev = {.ctx = rp, .mtu = 1500, .max_burst = 0, .caps = 0, .rx = NULL,
                  .tx_acquire = pd_tx_acquire, .tx_commit = pd_tx_commit};
    size_t need = us_stack_mem_size(&pc);
    p->mem = need ? malloc(need) : NULL;
    if (!p->mem)
        return sb__fail(err, SB_ENOMEM, "out of memory for the peer");
    p->s = us_stack_init(p->mem, need, &pc, &dev, NULL);
    if (!p->s)
        return sb__fail(err, SB_EINVAL, "the peer stack refuses its configuration");
    const uint8_t smac[6] = {0x02, 0, 0, 0, 0, 0x01};
    if (us_arp_add_static(p->s, SB_RP_STACK_IP, smac) != US_OK)
        return sb__fail(err, SB_EINVAL, "peer: static ARP entry refused");
    us_arp_add_static(rp->stack, SB_RP_PEER_IP, pmac);

    /* Every flow's first action. */
    for (uint32_t k = 0; k < p->n; k++) {
        peer_flow *pf = &p->pf[k];
        const sb_flow *fl = &f->flows[pf->fi];
        if (pf->proto == US_IP_PROTO_TCP) {
            flow_at(pf, sb__rp_scale(rp, fl->start_ns));
        } else if (pf->n_items == 0) {
            pf->state = PF_DONE; /* nothing the client sent: nothing to re-enact */
            p->n_done++;
        } else {
            flow_at(pf, sb__rp_scale(rp, t->frames[pf->items[0]].ts_ns));
        }
    }
    return SB_OK;
}

void sb__peer_free(sb_rp *rp, us_time now)
{
    sb_peer *p = rp->peer;
    if (!p)
        return;
    for (uint32_t k = 0; k < p->n; k++) {
        peer_flow *pf = &p->pf[k];
        if (pf->ev != SB_EVENT_NONE)
            sb_des_cancel(&rp->des, pf->ev);
        if (p->s && pf->h >= 0) {
            if (pf->proto == US_IP_PROTO_TCP) {
                (void)us_tcp_abort(p->s, pf->h, now);
                (void)us_tcp_release(p->s, pf->h);
            } else {
                (void)us_udp_close(p->s, pf->h);
            }
        }
        free(pf->items);
        free(pf->sizes);
    }
    if (p->timer_ev != SB_EVENT_NONE)
        sb_des_cancel(&rp->des, p->timer_ev);
    if (p->s) {
        (void)us_egress(p->s, now, US_EGRESS_ALL);
        us_bufs *b = us_stack_bufs(p->s);
        rp->res->leak_peer_pool =
            b->pools[US_POOL_PBUF_POOL].stats.used + b->pools[US_POOL_PBUF].stats.used;
        rp->res->leak_peer_heap = b->heap.stats.used;
    }
    free(p->mem);
    free(p->pf);
    free(p->dirty);
    free(p->waiting);
    free(p->close_after);
    free(p->tcp_port_flow);
    free(p->txbuf);
    free(p->pattern);
    free(p->scratch);
    free(p);
    rp->peer = NULL;
}
