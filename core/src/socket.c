/* The socket tables and their API (socket.h), and the glue between TCP connections (net/tcp.h, a
 * TCB that knows nothing of the stack) and the rest of the stack: demultiplexing, listeners and
 * accept queues, building frames from what a TCB dispatches, wakers, deadlines, slot lifetimes.
 *
 * TCP slots. Every connection, listener and not-yet-accepted child takes one slot of the table,
 * each with its TCB, receive and send rings and out-of-order array. A slot is freed when nothing
 * refers to it any more: the application released (or never held) it, it is no listener and on
 * no accept queue, its TCB is CLOSED and has nothing left to send (an abort's RST).
 * Listen: a SYN to a listener takes a free slot (none: NO_SOCKET) unless the listener's backlog —
 * children in SYN_RCVD plus established ones not yet accepted — is full (SOCKET_FULL); both drops
 * are silent, the peer retries its SYN. A segment to a listener carrying ACK gets a RST (RFC 9293
 * 3.10.7.2), as does any segment reaching no socket (NO_SOCKET) unless it is a RST itself.
 * Output: each dispatched segment is built straight into a device TX buffer: Ethernet (MAC from
 * ARP; unknown: the request goes out and the socket waits, data staying in its ring), IPv4 (DF),
 * TCP header via us_tcp_emit with the payload copied from the send ring and summed while hot.
 * A segment that cannot be routed, or whose next hop ARP gave up on, counts as lost on the wire
 * (us__tcp_sent), so the TCB's own retransmission and abort logic bounds the attempt. */
#include <string.h>

#include "stack_internal.h"
#include "ustack/wire/bytes.h"
#include "ustack/wire/checksum.h"

const char *us_tcp_state_name(us_tcp_state st)
{
    switch (st) {
    case US_TCP_CLOSED: return "CLOSED";
    case US_TCP_LISTEN: return "LISTEN";
    case US_TCP_SYN_SENT: return "SYN_SENT";
    case US_TCP_SYN_RCVD: return "SYN_RCVD";
    case US_TCP_ESTABLISHED: return "ESTABLISHED";
    case US_TCP_FIN_WAIT_1: return "FIN_WAIT_1";
    case US_TCP_FIN_WAIT_2: return "FIN_WAIT_2";
    case US_TCP_CLOSE_WAIT: return "CLOSE_WAIT";
    case US_TCP_CLOSING: return "CLOSING";
    case US_TCP_LAST_ACK: return "LAST_ACK";
    case US_TCP_TIME_WAIT: return "TIME_WAIT";
    }
    return "?";
}

#define EPHEMERAL_LO 49152u
#define EPHEMERAL_N 16384u

void us__sockets_init(us_stack *s, uint8_t *udp_rings, uint8_t *tcp_rings, us_tcp_ooseg *ooseq)
{
    const us_stack_config *c = &s->cfg;
    for (uint32_t i = 0; i < s->udp_n; i++) {
        us__udp_sock *u = &s->udp[i];
        memset(u, 0, sizeof(*u));
        uint8_t *m = udp_rings + (size_t)i * (c->udp_rx_buf + c->udp_tx_buf);
        us__ring_init(&u->rx, m, c->udp_rx_buf);
        us__ring_init(&u->tx, m + c->udp_rx_buf, c->udp_tx_buf);
    }
    for (uint32_t i = 0; i < s->tcp_n; i++) {
        us__tcp_sock *t = &s->tcp[i];
        memset(t, 0, sizeof(*t));
        uint8_t *m = tcp_rings + (size_t)i * (c->tcp_rx_buf + c->tcp_tx_buf);
        us__ring_init(&t->rx, m, c->tcp_rx_buf);
        us__ring_init(&t->tx, m + c->tcp_rx_buf, c->tcp_tx_buf);
        t->ooseq = c->tcp_ooseq_max ? ooseq + (size_t)i * c->tcp_ooseq_max : NULL;
        t->parent = US__NONE;
        t->acc_next = t->acc_head = t->acc_tail = US__NONE;
        us__tcp_init(&t->tcb, &s->tcp_params, &t->rx, &t->tx, t->ooseq);
    }
}

/* ---- handles and wakers ---- */

static us__udp_sock *udp_get(us_stack *s, us_sock h)
{
    if (s == NULL || h < 0 || (uint32_t)h >= s->udp_n || !s->udp[h].in_use)
        return NULL;
    return &s->udp[h];
}

/* The TCP slot of an application handle (one the application holds), or NULL. */
static us__tcp_sock *tcp_get(const us_stack *s, us_sock h)
{
    if (s == NULL || h < 0 || (uint32_t)h < s->udp_n || (uint32_t)h - s->udp_n >= s->tcp_n)
        return NULL;
    us__tcp_sock *t = &s->tcp[(uint32_t)h - s->udp_n];
    return t->in_use && t->user_ref ? t : NULL;
}

static uint32_t tcp_index(const us_stack *s, const us__tcp_sock *t)
{
    return (uint32_t)(t - s->tcp);
}

static void set_waker(us__waker *w, us_waker_fn fn, void *ctx)
{
    w->fn = fn;
    w->ctx = fn ? ctx : NULL;
}

void us_sock_set_rx_waker(us_stack *s, us_sock h, us_waker_fn fn, void *ctx)
{
    us__udp_sock *u = udp_get(s, h);
    us__tcp_sock *t;
    if (u)
        set_waker(&u->rx_waker, fn, ctx);
    else if ((t = tcp_get(s, h)) != NULL)
        set_waker(&t->rx_waker, fn, ctx);
}

void us_sock_set_tx_waker(us_stack *s, us_sock h, us_waker_fn fn, void *ctx)
{
    us__udp_sock *u = udp_get(s, h);
    us__tcp_sock *t;
    if (u)
        set_waker(&u->tx_waker, fn, ctx);
    else if ((t = tcp_get(s, h)) != NULL)
        set_waker(&t->tx_waker, fn, ctx);
}

/* ---- UDP ---- */

static bool udp_port_used(const us_stack *s, uint16_t port)
{
    for (uint32_t i = 0; i < s->udp_n; i++)
        if (s->udp[i].in_use && s->udp[i].port == port)
            return true;
    return false;
}

static bool tcp_port_used(const us_stack *s, uint16_t port)
{
    for (uint32_t i = 0; i < s->tcp_n; i++)
        if (s->tcp[i].in_use && (s->tcp[i].listener || s->tcp[i].tcb.state != US_TCP_CLOSED) &&
            s->tcp[i].tcb.local_port == port)
            return true;
    return false;
}

/* An ephemeral port (RFC 6335 range) free for the protocol: a random start, then the next free one
 * (deterministic for a seed). 0 when the whole range is taken. */
static uint16_t ephemeral(us_stack *s, bool (*used)(const us_stack *, uint16_t))
{
    uint32_t start = (uint32_t)(us__rand(s) % EPHEMERAL_N);
    for (uint32_t k = 0; k < EPHEMERAL_N; k++) {
        uint16_t p = (uint16_t)(EPHEMERAL_LO + (start + k) % EPHEMERAL_N);
        if (!used(s, p))
            return p;
    }
    return 0;
}

us_sock us_udp_open(us_stack *s)
{
    if (s == NULL)
        return US_EINVAL;
    for (uint32_t i = 0; i < s->udp_n; i++) {
        us__udp_sock *u = &s->udp[i];
        if (u->in_use)
            continue;
        u->in_use = true;
        u->port = 0;
        us__ring_init(&u->rx, u->rx.buf, u->rx.cap);
        us__ring_init(&u->tx, u->tx.buf, u->tx.cap);
        set_waker(&u->rx_waker, NULL, NULL);
        set_waker(&u->tx_waker, NULL, NULL);
        return (us_sock)i;
    }
    return US_ENOMEM;
}

us_status us_udp_bind(us_stack *s, us_sock h, uint16_t port)
{
    us__udp_sock *u = udp_get(s, h);
    if (u == NULL || u->port != 0)
        return US_EINVAL;
    if (port == 0) {
        port = ephemeral(s, udp_port_used);
        if (port == 0)
            return US_EINVAL;
    } else if (udp_port_used(s, port)) {
        return US_EINVAL;
    }
    u->port = port;
    return US_OK;
}

us_status us_udp_send(us_stack *s, us_sock h, const void *data, uint32_t len, uint32_t dst_ip,
                      uint16_t dst_port)
{
    us__udp_sock *u = udp_get(s, h);
    if (u == NULL || u->port == 0 || len > US__UDP_MAX_PAYLOAD || (data == NULL && len > 0) ||
        dst_port == 0 || dst_ip == 0)
        return US_EINVAL;
    if (us__ring_free(&u->tx) < US__UDP_REC_LEN + len)
        return US_EBUF;
    uint8_t rec[US__UDP_REC_LEN];
    us_put_be32(rec, dst_ip);
    us_put_be16(rec + 4, dst_port);
    us_put_be16(rec + 6, (uint16_t)len);
    us__ring_write(&u->tx, rec, sizeof(rec));
    if (len)
        us__ring_write(&u->tx, data, len);
    us__ready_push(s, (uint32_t)h);
    us__egress_wanted(s);
    return US_OK;
}

/* us_udp_recv of the datagram at the head of r when the record wraps around the ring's end. */
US__NOINLINE static int32_t udp_recv_wrapped(us_ring *r, void *buf, uint32_t cap,
                                             uint32_t *src_ip, uint16_t *src_port)
{
    uint8_t rec[US__UDP_REC_LEN];
    us__ring_peek(r, 0, rec, sizeof(rec));
    uint32_t len = us_get_be16(rec + 6);
    uint32_t n = len < cap ? len : cap;
    if (n)
        us__ring_peek(r, US__UDP_REC_LEN, buf, n);
    us__ring_consume(r, US__UDP_REC_LEN + len);
    if (src_ip)
        *src_ip = us_get_be32(rec);
    if (src_port)
        *src_port = us_get_be16(rec + 4);
    return (int32_t)len;
}

int32_t us_udp_recv(us_stack *s, us_sock h, void *buf, uint32_t cap, uint32_t *src_ip,
                    uint16_t *src_port)
{
    us__udp_sock *u = udp_get(s, h);
    if (u == NULL || (buf == NULL && cap > 0))
        return US_EINVAL;
    us_ring *r = &u->rx;
    if (r->len < US__UDP_REC_LEN)
        return US_EAGAIN;
    /* Record header and datagram are read in place when they do not wrap around the ring's end
     * (they never do while the ring is drained as fast as it fills: an empty ring starts again at
     * 0). */
    const uint8_t *rec = r->buf + r->head;
    uint32_t room = r->cap - r->head;
    if (room < US__UDP_REC_LEN)
        return udp_recv_wrapped(r, buf, cap, src_ip, src_port);
    uint32_t len = us_get_be16(rec + 6);
    if (room - US__UDP_REC_LEN < len)
        return udp_recv_wrapped(r, buf, cap, src_ip, src_port);
    uint32_t n = len < cap ? len : cap;
    if (src_ip)
        *src_ip = us_get_be32(rec);
    if (src_port)
        *src_port = us_get_be16(rec + 4);
    /* Consumed before the copy: the bytes stay where they are until the next write, and only len
     * is left to keep across the copy. */
    us__ring_consume(r, US__UDP_REC_LEN + len);
    if (n)
        memcpy(buf, rec + US__UDP_REC_LEN, n);
    return (int32_t)len;
}

us_status us_udp_close(us_stack *s, us_sock h)
{
    us__udp_sock *u = udp_get(s, h);
    if (u == NULL)
        return US_EINVAL;
    u->in_use = false;
    u->port = 0;
    us__ring_init(&u->rx, u->rx.buf, u->rx.cap);
    us__ring_init(&u->tx, u->tx.buf, u->tx.cap);
    set_waker(&u->rx_waker, NULL, NULL);
    set_waker(&u->tx_waker, NULL, NULL);
    return US_OK;
}

/* ---- TCP slots ---- */

static us_time timer_min(const us_tcb *t)
{
    us_time d = t->rtx_at;
    if (t->delack_at < d)
        d = t->delack_at;
    if (t->tw_at < d)
        d = t->tw_at;
    return d;
}

/* Put slot i's next deadline in the heap. With push, a TCB that has output now joins the ready
 * list (not while it waits for ARP: the answer re-queues it). has_output: the caller knows it has
 * (an input event said so), which spares asking the TCB. */
static void rearm(us_stack *s, uint32_t i, us_time now, bool push, bool has_output)
{
    us__tcp_sock *t = &s->tcp[i];
    if (!t->in_use || t->listener) {
        us__dl_cancel(&s->dl, i);
        return;
    }
    us_time d = has_output ? now : us__tcp_poll_at(&t->tcb, now);
    if (d <= now) {
        if (push && !t->arp_wait)
            us__ready_push(s, s->udp_n + i);
        d = timer_min(&t->tcb);
    }
    us__dl_set(&s->dl, i, d);
}

static void sync_counters(us_stack *s, us__tcp_sock *t)
{
    const us_tcb *b = &t->tcb;
    if (b->retransmits >= t->seen_rtx)
        s->stats.tcp_retransmits += b->retransmits - t->seen_rtx;
    if (b->fast_retransmits >= t->seen_frtx)
        s->stats.tcp_fast_retransmits += b->fast_retransmits - t->seen_frtx;
    if (b->timeouts >= t->seen_to)
        s->stats.tcp_timeouts += b->timeouts - t->seen_to;
    t->seen_rtx = b->retransmits;
    t->seen_frtx = b->fast_retransmits;
    t->seen_to = b->timeouts;
}

static void slot_clear(us__tcp_sock *t)
{
    t->user_ref = t->listener = t->queued = t->eof = t->arp_wait = false;
    t->arp_ip = 0;
    t->parent = t->acc_next = t->acc_head = t->acc_tail = US__NONE;
    t->backlog = t->syn_pending = t->acc_len = 0;
    set_waker(&t->rx_waker, NULL, NULL);
    set_waker(&t->tx_waker, NULL, NULL);
}

/* A free slot made ready for a new connection, or US__NONE. */
static uint32_t tcp_alloc(us_stack *s)
{
    for (uint32_t i = 0; i < s->tcp_n; i++) {
        us__tcp_sock *t = &s->tcp[i];
        if (t->in_use)
            continue;
        us__tcp_reset(&t->tcb);
        us__ring_init(&t->rx, t->rx.buf, t->rx.cap);
        us__ring_init(&t->tx, t->tx.buf, t->tx.cap);
        us__tcp_init(&t->tcb, &s->tcp_params, &t->rx, &t->tx, t->ooseq);
        slot_clear(t);
        t->seen_rtx = t->seen_frtx = t->seen_to = 0;
        t->in_use = true;
        return i;
    }
    return US__NONE;
}

static void tcp_free(us_stack *s, uint32_t i)
{
    us__tcp_sock *t = &s->tcp[i];
    sync_counters(s, t);
    us__tcp_reset(&t->tcb);
    slot_clear(t);
    t->in_use = false;
    us__dl_cancel(&s->dl, i);
}

/* Free slot i if nothing refers to it any more. */
static void maybe_free(us_stack *s, uint32_t i, us_time now)
{
    us__tcp_sock *t = &s->tcp[i];
    if (!t->in_use || t->user_ref || t->listener || t->parent != US__NONE ||
        t->tcb.state != US_TCP_CLOSED)
        return;
    if (us__tcp_dispatch(&t->tcb, now, NULL))
        return; /* a RST still to go */
    tcp_free(s, i);
}

/* Take child i off its listener (accept queue or SYN_RCVD count). */
static void detach_child(us_stack *s, uint32_t i)
{
    us__tcp_sock *t = &s->tcp[i];
    us__tcp_sock *l = &s->tcp[t->parent];
    if (t->queued) {
        uint32_t prev = US__NONE, at = l->acc_head;
        while (at != US__NONE && at != i) {
            prev = at;
            at = s->tcp[at].acc_next;
        }
        if (at == i) {
            if (prev == US__NONE)
                l->acc_head = t->acc_next;
            else
                s->tcp[prev].acc_next = t->acc_next;
            if (l->acc_tail == i)
                l->acc_tail = prev;
            l->acc_len--;
        }
        t->queued = false;
        t->acc_next = US__NONE;
    } else if (l->syn_pending > 0) {
        l->syn_pending--;
    }
    t->parent = US__NONE;
}

/* Act on what a TCB call reported: accept queue, data nobody will read, wakers, ready list,
 * deadline, slot lifetime. Returns US_INGRESS_* bits. */
static unsigned tcp_events(us_stack *s, uint32_t i, unsigned ev, us_time now)
{
    us__tcp_sock *t = &s->tcp[i];
    unsigned ret = 0;
    sync_counters(s, t);
    us_tcp_state st = t->tcb.state;
    if (st == US_TCP_CLOSE_WAIT || st == US_TCP_CLOSING || st == US_TCP_LAST_ACK ||
        st == US_TCP_TIME_WAIT)
        t->eof = true;
    if (ev & (US_TCP_EV_RX | US_TCP_EV_TX | US_TCP_EV_STATE | US_TCP_EV_ACCEPTED |
              US_TCP_EV_CLOSED))
        ret |= US_INGRESS_STATE_CHANGED;
    if (ev & US_TCP_EV_INVALID)
        ret |= us__drop(s, US_DROP_TCP_INVALID);
    if (ev & US_TCP_EV_OOSEQ_FULL)
        ret |= us__drop(s, US_DROP_TCP_OOSEQ);
    bool wake_rx = (ev & (US_TCP_EV_RX | US_TCP_EV_STATE)) != 0;
    bool wake_tx = (ev & (US_TCP_EV_TX | US_TCP_EV_STATE)) != 0;
    uint32_t wake_listener = US__NONE;

    if ((ev & US_TCP_EV_ACCEPTED) && t->parent != US__NONE && !t->queued) {
        us__tcp_sock *l = &s->tcp[t->parent];
        if (l->syn_pending > 0)
            l->syn_pending--;
        t->queued = true;
        t->acc_next = US__NONE;
        if (l->acc_tail == US__NONE)
            l->acc_head = i;
        else
            s->tcp[l->acc_tail].acc_next = i;
        l->acc_tail = i;
        l->acc_len++;
        wake_listener = t->parent;
    }
    if ((ev & US_TCP_EV_RX) && !t->user_ref && t->parent == US__NONE && t->rx.len) {
        /* Released: nobody will read. Discard, so the window stays open while the connection
         * closes in the background. */
        uint32_t n = t->rx.len;
        us__ring_consume(&t->rx, n);
        ev |= us__tcp_recvd(&t->tcb, n);
    }
    if (ev & US_TCP_EV_CLOSED) {
        t->arp_wait = false;
        if (t->parent != US__NONE)
            detach_child(s, i);
    }
    rearm(s, i, now, true, (ev & US_TCP_EV_OUTPUT) != 0);
    maybe_free(s, i, now);

    /* Wakers last: a callback may call back into the stack, even release this socket. */
    if (wake_listener != US__NONE)
        us__wake(&s->tcp[wake_listener].rx_waker);
    if (wake_rx)
        us__wake(&t->rx_waker);
    if (wake_tx)
        us__wake(&t->tx_waker);
    return ret;
}

/* ---- TCP input ---- */

typedef struct rst_ctx {
    us_tcp_repr rst;
    uint32_t dst;
} rst_ctx;

static void build_rst(us_stack *s, uint8_t *ip_pkt, void *ctx)
{
    const rst_ctx *rc = ctx;
    uint32_t hl = (uint32_t)us_tcp_header_len(&rc->rst);
    us_ipv4_repr ip;
    us__ipv4_repr_init(s, &ip, rc->dst, US_IP_PROTO_TCP, hl);
    ip.dont_frag = true;
    us_ipv4_emit(&ip, ip_pkt);
    us_tcp_emit(&rc->rst, ip_pkt + US_IPV4_HDR_LEN, s->cfg.ipv4_addr, rc->dst, 0);
}

/* Answer seg (which reached no connection) with the RST RFC 9293 prescribes, if any. */
static void rst_reply(us_stack *s, const us__ipctx *c, const us_tcp_repr *seg, us_time now)
{
    rst_ctx rc;
    memset(&rc, 0, sizeof(rc));
    if (!us__tcp_rst_reply(seg, &rc.rst))
        return;
    rc.rst.payload_len = 0;
    rc.dst = c->src;
    if (rc.dst == 0 || (rc.dst >> 28) == 0xEu || rc.dst == 0xFFFFFFFFu)
        return;
    uint32_t len = US_IPV4_HDR_LEN + (uint32_t)us_tcp_header_len(&rc.rst);
    us__ipv4_output(s, rc.dst, len, build_rst, &rc, now);
}

/* The frame reduced to the segment's payload (padding cut), or NULL when it has none; the view
 * no longer owns it. */
static us_pbuf *take_payload(us__pkt *k, uint32_t off, uint32_t n)
{
    us_pbuf *p = k->p;
    k->p = NULL;
    if (n == 0) {
        (void)us_pbuf_free(p);
        return NULL;
    }
    p = us_pbuf_free_header(p, off);
    (void)us_pbuf_realloc(p, n);
    return p;
}

static unsigned listen_input(us_stack *s, uint32_t li, us__ipctx *c, const us_tcp_repr *seg,
                             us_time now)
{
    us__tcp_sock *l = &s->tcp[li];
    unsigned ret;
    if (seg->flags & US_TCP_RST) {
        ret = us__drop(s, US_DROP_TCP_INVALID); /* ignored in LISTEN */
    } else if (seg->flags & US_TCP_ACK) {
        rst_reply(s, c, seg, now);
        ret = us__drop(s, US_DROP_TCP_INVALID);
    } else if (!(seg->flags & US_TCP_SYN)) {
        ret = us__drop(s, US_DROP_TCP_INVALID);
    } else if (l->syn_pending + l->acc_len >= l->backlog) {
        ret = us__drop(s, US_DROP_SOCKET_FULL);
    } else {
        uint32_t i = tcp_alloc(s);
        if (i == US__NONE) {
            ret = us__drop(s, US_DROP_NO_SOCKET);
        } else {
            /* Data on a SYN is not kept: our SYN-ACK acknowledges the SYN alone, so the peer
             * sends it again. */
            us__pkt_release(c->k);
            us__tcp_sock *t = &s->tcp[i];
            t->parent = li;
            l->syn_pending++;
            uint32_t iss = (uint32_t)us__rand(s);
            unsigned ev = us__tcp_accept_syn(&t->tcb, s->cfg.ipv4_addr, c->src, seg, iss, now);
            return tcp_events(s, i, ev, now) | US_INGRESS_STATE_CHANGED;
        }
    }
    us__pkt_release(c->k);
    return ret;
}

unsigned us__tcp_sock_input(us_stack *s, us__ipctx *c, us_time now)
{
    us__pkt *k = c->k;
    us_tcp_repr seg;
    us_wire_err e;
    if (k->flat) {
        e = us_tcp_parse(&seg, k->flat + c->l4_off, c->l4_len, c->src, c->dst,
                         c->csum_flags);
    } else {
        /* Chained: the parser reads the header (data offset * 4 <= min(60, length) bytes, all in
         * the copy) and checks the data offset against the true length; the checksum is summed over
         * the chain. The parsed payload pointer is meaningless here: cleared below. */
        uint8_t scratch[US_TCP_MAX_HDR_LEN];
        uint32_t got;
        const uint8_t *h = us__pkt_view(k, c->l4_off, sizeof(scratch), scratch, &got);
        e = us_tcp_parse(&seg, h, c->l4_len, c->src, c->dst, US_WIRE_SKIP_CSUM);
        seg.payload = NULL;
        if (e == US_WIRE_OK && !(c->csum_flags & US_WIRE_SKIP_CSUM)) {
            uint32_t sum =
                us_csum_pseudo_ipv4(c->src, c->dst, US_IP_PROTO_TCP, (uint16_t)c->l4_len);
            if (us_csum_finish(us__pkt_csum(k, c->l4_off, c->l4_len, sum)) != 0)
                e = US_WIRE_BAD_CHECKSUM;
        }
    }
    if (e != US_WIRE_OK) {
        us__pkt_release(k);
        return us__drop_wire(s, e);
    }
    if (c->bcast) {
        us__pkt_release(k);
        return us__drop(s, US_DROP_NOT_FOR_US);
    }
    /* RFC 9293 3.10.7.2 / RFC 1122 4.2.3.10: no connection with a source that names no single
     * host (unspecified, broadcast, multicast) or claims to be us. */
    uint32_t src = c->src;
    if (src == 0 || src == 0xFFFFFFFFu || src == s->bcast || (src >> 28) == 0xEu ||
        src == s->cfg.ipv4_addr) {
        us__pkt_release(k);
        return us__drop(s, US_DROP_TCP_INVALID);
    }
    uint32_t found = US__NONE, listener = US__NONE;
    for (uint32_t i = 0; i < s->tcp_n; i++) {
        const us__tcp_sock *t = &s->tcp[i];
        if (!t->in_use || t->tcb.local_port != seg.dst_port)
            continue;
        if (t->listener) {
            listener = i;
        } else if (t->tcb.state != US_TCP_CLOSED && t->tcb.remote_port == seg.src_port &&
                   t->tcb.remote_ip == c->src) {
            found = i;
            break;
        }
    }
    if (found != US__NONE) {
        us__tcp_sock *t = &s->tcp[found];
        uint32_t n = (uint32_t)seg.payload_len;
        us_pbuf *pl = take_payload(k, c->l4_off + seg.header_len, n);
        unsigned ev = us__tcp_input(&t->tcb, &seg, pl, now);
        return tcp_events(s, found, ev, now);
    }
    if (listener != US__NONE)
        return listen_input(s, listener, c, &seg, now);
    rst_reply(s, c, &seg, now);
    us__pkt_release(k);
    return us__drop(s, US_DROP_NO_SOCKET);
}

void us__tcp_sock_timer(us_stack *s, uint32_t i, us_time now)
{
    us__tcp_sock *t = &s->tcp[i];
    if (!t->in_use || t->listener)
        return;
    unsigned ev = us__tcp_timers(&t->tcb, now);
    (void)tcp_events(s, i, ev, now);
    if (t->in_use && !t->arp_wait)
        us__ready_push(s, s->udp_n + i); /* an expired deadline: egress visits it */
}

void us__tcp_reclaim(us_pool *pool, void *ctx)
{
    us_stack *s = ctx;
    (void)pool;
    for (uint32_t i = 0; i < s->tcp_n; i++)
        if (s->tcp[i].in_use && !s->tcp[i].listener)
            s->stats.tcp_ooseq_reclaimed += us__tcp_ooseq_free(&s->tcp[i].tcb);
}

/* ---- TCP output ---- */

/* out went nowhere (no route, ARP gave up): the TCB counts it sent, its timers take over. */
static void lost(us_stack *s, uint32_t i, const us_tcp_out *out, us_time now)
{
    us__tcp_sock *t = &s->tcp[i];
    us__tcp_sent(&t->tcb, out, now);
    sync_counters(s, t);
    rearm(s, i, now, false, false);
    maybe_free(s, i, now);
}

us__visit us__tcp_egress(us_stack *s, uint32_t i, us_time now)
{
    us__tcp_sock *t = &s->tcp[i];
    if (!t->in_use || t->listener)
        return US__VISIT_IDLE;
    us_tcp_out out;
    if (!us__tcp_dispatch(&t->tcb, now, &out)) {
        maybe_free(s, i, now);
        return US__VISIT_IDLE;
    }
    uint32_t remote = t->tcb.remote_ip, nh = 0, entry;
    uint8_t mac[US_ETH_ADDR_LEN];
    if (us__ipv4_route(s, remote, &nh) != US__ROUTE_NEXT) {
        s->stats.drop[US_DROP_NO_ROUTE]++;
        lost(s, i, &out, now);
        return US__VISIT_IDLE;
    }
    us__arp_res res = us__arp_lookup(s, nh, now, mac, &entry);
    if (res == US__ARP_FULL) {
        s->stats.drop[US_DROP_ARP_QUEUE]++;
        lost(s, i, &out, now);
        return US__VISIT_IDLE;
    }
    if (res == US__ARP_WAIT) {
        t->arp_wait = true;
        t->arp_ip = nh;
        return US__VISIT_IDLE;
    }
    t->arp_wait = false;

    uint32_t hl = (uint32_t)us_tcp_header_len(&out.repr);
    uint32_t n = out.data_len;
    const uint32_t l3 = US_ETH_HDR_LEN + US_IPV4_HDR_LEN;
    uint32_t flen = l3 + hl + n;
    uint8_t *buf = us__tx_acquire(s, flen);
    if (buf == NULL)
        return US__VISIT_REFUSED;
    bool offload = (s->dev.caps & US_DEV_CSUM_TX) != 0;
    uint8_t *pl = buf + l3 + hl;
    uint32_t sum = 0;
    if (n) {
        us__ring_peek(&t->tx, out.data_off, pl, n);
        if (!offload)
            sum = us_csum_partial(pl, n, 0); /* the bytes are hot in cache from the copy */
    }
    out.repr.payload_len = n;
    us_tcp_emit(&out.repr, buf + l3, s->cfg.ipv4_addr, remote, sum);
    if (offload)
        us_put_be16(buf + l3 + 16, 0); /* the device fills it */
    us_ipv4_repr ip;
    us__ipv4_repr_init(s, &ip, remote, US_IP_PROTO_TCP, hl + n);
    ip.dont_frag = true;
    us_ipv4_emit(&ip, buf + US_ETH_HDR_LEN);
    us__eth_header(s, buf, mac, US_ETHERTYPE_IPV4);
    us__tx_commit(s, buf, flen);
    us__tcp_sent(&t->tcb, &out, now);
    sync_counters(s, t);
    rearm(s, i, now, true, false); /* more to send: back on the ready list, at the tail */
    maybe_free(s, i, now);
    return US__VISIT_SENT;
}

void us__tcp_arp_resolved(us_stack *s, uint32_t ip)
{
    for (uint32_t i = 0; i < s->tcp_n; i++) {
        us__tcp_sock *t = &s->tcp[i];
        if (t->in_use && t->arp_wait && t->arp_ip == ip) {
            t->arp_wait = false;
            us__ready_push(s, s->udp_n + i);
        }
    }
}

void us__tcp_arp_failed(us_stack *s, uint32_t ip, us_time now)
{
    for (uint32_t i = 0; i < s->tcp_n; i++) {
        us__tcp_sock *t = &s->tcp[i];
        if (!t->in_use || !t->arp_wait || t->arp_ip != ip)
            continue;
        t->arp_wait = false;
        us_tcp_out out;
        if (us__tcp_dispatch(&t->tcb, now, &out))
            lost(s, i, &out, now);
    }
}

/* ---- TCP API ---- */

us_sock us_tcp_open(us_stack *s)
{
    if (s == NULL)
        return US_EINVAL;
    uint32_t i = tcp_alloc(s);
    if (i == US__NONE)
        return US_ENOMEM;
    s->tcp[i].user_ref = true;
    return (us_sock)(s->udp_n + i);
}

us_status us_tcp_listen(us_stack *s, us_sock h, uint16_t port, uint32_t backlog)
{
    us__tcp_sock *t = tcp_get(s, h);
    if (t == NULL || t->listener || t->tcb.state != US_TCP_CLOSED || port == 0 || backlog == 0)
        return US_EINVAL;
    for (uint32_t i = 0; i < s->tcp_n; i++)
        if (s->tcp[i].in_use && s->tcp[i].listener && s->tcp[i].tcb.local_port == port)
            return US_EINVAL;
    t->listener = true;
    t->backlog = backlog;
    t->syn_pending = t->acc_len = 0;
    t->acc_head = t->acc_tail = US__NONE;
    /* The listener is the stack's (tcp.h: a SYN reaching one goes to a fresh TCB); its TCB only
     * records the state and port for get_state and demultiplexing. */
    t->tcb.state = US_TCP_LISTEN;
    t->tcb.local_ip = s->cfg.ipv4_addr;
    t->tcb.local_port = port;
    us__dl_cancel(&s->dl, tcp_index(s, t));
    return US_OK;
}

us_sock us_tcp_accept(us_stack *s, us_sock listener)
{
    us__tcp_sock *l = tcp_get(s, listener);
    if (l == NULL || !l->listener)
        return US_EINVAL;
    if (l->acc_head == US__NONE)
        return US_EAGAIN;
    uint32_t i = l->acc_head;
    us__tcp_sock *t = &s->tcp[i];
    l->acc_head = t->acc_next;
    if (l->acc_head == US__NONE)
        l->acc_tail = US__NONE;
    l->acc_len--;
    t->queued = false;
    t->acc_next = US__NONE;
    t->parent = US__NONE;
    t->user_ref = true;
    return (us_sock)(s->udp_n + i);
}

us_status us_tcp_connect(us_stack *s, us_sock h, uint32_t dst_ip, uint16_t dst_port,
                         uint16_t local_port, us_time now)
{
    us__tcp_sock *t = tcp_get(s, h);
    uint32_t nh;
    if (t == NULL || t->listener || t->tcb.state != US_TCP_CLOSED || dst_port == 0 ||
        us__ipv4_route(s, dst_ip, &nh) != US__ROUTE_NEXT || dst_ip == s->cfg.ipv4_addr)
        return US_EINVAL;
    if (now > s->now)
        s->now = now;
    if (local_port == 0) {
        local_port = ephemeral(s, tcp_port_used);
        if (local_port == 0)
            return US_EINVAL;
    } else {
        for (uint32_t i = 0; i < s->tcp_n; i++) {
            const us__tcp_sock *o = &s->tcp[i];
            if (o->in_use && !o->listener && o->tcb.state != US_TCP_CLOSED &&
                o->tcb.local_port == local_port && o->tcb.remote_ip == dst_ip &&
                o->tcb.remote_port == dst_port)
                return US_EINVAL;
        }
    }
    uint32_t i = tcp_index(s, t);
    t->eof = false;
    t->arp_wait = false;
    us__ring_init(&t->rx, t->rx.buf, t->rx.cap); /* nothing left from an earlier connection */
    us__ring_init(&t->tx, t->tx.buf, t->tx.cap);
    uint32_t iss = (uint32_t)us__rand(s);
    us__tcp_connect(&t->tcb, s->cfg.ipv4_addr, local_port, dst_ip, dst_port, iss, now);
    us__ready_push(s, s->udp_n + i);
    rearm(s, i, now, true, false);
    us__egress_wanted(s);
    return US_OK;
}

int32_t us_tcp_send(us_stack *s, us_sock h, const void *data, uint32_t len)
{
    us__tcp_sock *t = tcp_get(s, h);
    if (t == NULL || (data == NULL && len > 0))
        return US_EINVAL;
    us_tcp_state st = t->tcb.state;
    if ((st != US_TCP_ESTABLISHED && st != US_TCP_CLOSE_WAIT) || t->tcb.fin_queued)
        return US_EINVAL;
    uint32_t n = us__ring_write(&t->tx, data, len);
    if (n == 0)
        return 0;
    unsigned ev = us__tcp_queued(&t->tcb);
    uint32_t i = tcp_index(s, t);
    if (ev & US_TCP_EV_OUTPUT) {
        if (!t->arp_wait)
            us__ready_push(s, s->udp_n + i);
        rearm(s, i, s->now, false, false);
        us__egress_wanted(s);
    }
    return (int32_t)n;
}

int32_t us_tcp_recv(us_stack *s, us_sock h, void *buf, uint32_t len)
{
    us__tcp_sock *t = tcp_get(s, h);
    if (t == NULL || t->listener || (buf == NULL && len > 0))
        return US_EINVAL;
    if (t->rx.len == 0) {
        if (t->eof)
            return 0;
        return t->tcb.state == US_TCP_CLOSED ? US_EINVAL : US_EAGAIN;
    }
    uint32_t n = us__ring_read(&t->rx, buf, len);
    if (n) {
        unsigned ev = us__tcp_recvd(&t->tcb, n);
        if (ev & US_TCP_EV_OUTPUT) {
            uint32_t i = tcp_index(s, t);
            if (!t->arp_wait)
                us__ready_push(s, s->udp_n + i);
            rearm(s, i, s->now, false, false);
            us__egress_wanted(s);
        }
    }
    return (int32_t)n;
}

uint32_t us_tcp_recv_queue(const us_stack *s, us_sock h)
{
    const us__tcp_sock *t = tcp_get(s, h);
    return t ? t->rx.len : 0;
}

uint32_t us_tcp_send_space(const us_stack *s, us_sock h)
{
    const us__tcp_sock *t = tcp_get(s, h);
    return t && !t->listener ? us__ring_free(&t->tx) : 0;
}

/* Stop listening: children not yet accepted are aborted and freed in the background. */
static void close_listener(us_stack *s, uint32_t li, us_time now)
{
    us__tcp_sock *l = &s->tcp[li];
    l->listener = false;
    l->acc_head = l->acc_tail = US__NONE;
    l->acc_len = l->syn_pending = l->backlog = 0;
    us__tcp_reset(&l->tcb);
    for (uint32_t i = 0; i < s->tcp_n; i++) {
        us__tcp_sock *t = &s->tcp[i];
        if (!t->in_use || t->parent != li)
            continue;
        t->parent = US__NONE;
        t->queued = false;
        t->acc_next = US__NONE;
        (void)tcp_events(s, i, us__tcp_abort(&t->tcb), now);
    }
}

us_status us_tcp_close(us_stack *s, us_sock h)
{
    us__tcp_sock *t = tcp_get(s, h);
    if (t == NULL)
        return US_EINVAL;
    uint32_t i = tcp_index(s, t);
    if (t->listener)
        close_listener(s, i, s->now);
    else
        (void)tcp_events(s, i, us__tcp_close(&t->tcb), s->now);
    us__egress_wanted(s);
    return US_OK;
}

us_status us_tcp_abort(us_stack *s, us_sock h, us_time now)
{
    us__tcp_sock *t = tcp_get(s, h);
    if (t == NULL)
        return US_EINVAL;
    if (now > s->now)
        s->now = now;
    uint32_t i = tcp_index(s, t);
    if (t->listener)
        close_listener(s, i, now);
    else
        (void)tcp_events(s, i, us__tcp_abort(&t->tcb), now);
    us__egress_wanted(s);
    return US_OK;
}

us_status us_tcp_release(us_stack *s, us_sock h)
{
    us__tcp_sock *t = tcp_get(s, h);
    if (t == NULL)
        return US_EINVAL;
    uint32_t i = tcp_index(s, t);
    set_waker(&t->rx_waker, NULL, NULL);
    set_waker(&t->tx_waker, NULL, NULL);
    if (t->listener)
        close_listener(s, i, s->now);
    t->user_ref = false;
    unsigned ev = 0;
    us_tcp_state st = t->tcb.state;
    if ((st == US_TCP_SYN_SENT || st == US_TCP_SYN_RCVD || st == US_TCP_ESTABLISHED ||
         st == US_TCP_CLOSE_WAIT) &&
        !t->tcb.fin_queued)
        ev |= us__tcp_close(&t->tcb);
    if (t->rx.len) {
        uint32_t n = t->rx.len;
        us__ring_consume(&t->rx, n);
        ev |= us__tcp_recvd(&t->tcb, n);
    }
    us__tcp_orphan(&t->tcb, s->now);
    (void)tcp_events(s, i, ev, s->now);
    if (us__output_pending(s))
        us__egress_wanted(s);
    return US_OK;
}

us_tcp_state us_tcp_get_state(const us_stack *s, us_sock h)
{
    const us__tcp_sock *t = tcp_get(s, h);
    return t ? t->tcb.state : US_TCP_CLOSED;
}

us_status us_tcp_get_info(const us_stack *s, us_sock h, us_tcp_info *out)
{
    const us__tcp_sock *t = tcp_get(s, h);
    if (t == NULL || out == NULL)
        return US_EINVAL;
    const us_tcb *b = &t->tcb;
    memset(out, 0, sizeof(*out));
    out->state = b->state;
    out->snd_una = b->snd_una;
    out->snd_nxt = b->snd_nxt;
    out->snd_wnd = b->snd_wnd;
    out->rcv_nxt = b->rcv_nxt;
    out->rcv_wnd = us__ring_free(&t->rx);
    out->cwnd = b->cwnd;
    out->ssthresh = b->ssthresh;
    out->mss = b->snd_mss;
    out->srtt = b->srtt;
    out->rttvar = b->rttvar;
    out->rto = b->rto;
    out->retransmits = b->retransmits;
    out->dup_acks = b->dupacks;
    out->ooseq_segs = b->ooseq_n;
    out->snd_wscale = b->snd_wscale;
    out->rcv_wscale = b->rcv_wscale;
    return US_OK;
}
