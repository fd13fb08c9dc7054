/* TCP connection state machine (core/src/net/tcp.c), driven TCB against TCB without a stack.
 *
 * Harness: two TCBs A and B with their own rings and out-of-order arrays,
 * and a tiny "wire" between them. Dispatch output is turned into a pbuf (payload copied out of the
 * send ring into a POOL or RAM pbuf) and queued with a delivery time; the wire can drop, delay and
 * reorder segments, or hold them for a test to inspect, drop or deliver one by one. A virtual clock
 * advances to the next wire delivery or us__tcp_poll_at. The harness plays the stack's part where a
 * TCB needs it: a listener (us__tcp_accept_syn) and the RST reply to a CLOSED endpoint.
 * Tests are named test_tcp_<state>_<event>; every teardown resets both TCBs and checks that no
 * pool block or heap byte is left in use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/tcp.h"
#include "testutil.h"

#define MS 1000000ull


#define A 0
#define B 1

#define H_QCAP 8192
#define H_OOMAX 64

typedef struct h_side {
    us_tcb t;
    us_ring rx, tx;
    uint8_t *rxmem, *txmem;
    us_tcp_ooseg oo[H_OOMAX];
    const us_tcp_params *pr;
    uint32_t ip;
    uint16_t port;
    unsigned ev;       /* events accumulated since the test last cleared them */
    bool listen;       /* a CLOSED TCB takes a SYN through us__tcp_accept_syn */
    uint32_t iss;      /* ISS used by the listener / connect helper */
    /* bulk application */
    uint64_t goal;     /* bytes to send, then close */
    uint64_t app_sent, app_rcvd;
    bool app_closed, app_reads, fin_seen;
    uint32_t sent_segs, sent_data_segs;
} h_side;

typedef struct h_seg {
    us_tcp_repr r;
    us_pbuf *p;
    us_time at;
    uint64_t id;
    int from;
} h_seg;

typedef struct h_net {
    us_bufs *bufs;
    us_tcp_params pr;  /* shared params (both sides unless a test points one elsewhere) */
    us_tcp_params prb; /* spare, for a side with different params */
    h_side s[2];
    h_seg *q;
    uint32_t qn;
    uint64_t next_id;
    us_time now, lat;
    us_test_rng rng;
    uint32_t loss_ppm[2];    /* per direction, by sender */
    uint32_t reorder_ppm;
    us_time reorder_extra;
    bool hold;               /* keep segments on the wire until the test delivers them */
    us_pbuf_type ptype;
    uint32_t drops, delivered;
    bool check_window;       /* assert data is sent within the peer's window (probes excepted) */
} h_net;

static inline uint8_t h_pattern(int side, uint64_t k)
{
    uint64_t x = (k + 0x9E37u * (uint64_t)side) * 0x9E3779B97F4A7C15ull;
    return (uint8_t)(x >> 56);
}

static inline void h_params_default(us_tcp_params *p)
{
    memset(p, 0, sizeof(*p));
    p->mss = 1460;
    p->ooseq_max = 8;
    p->time_wait = 1000 * MS;
    p->delayed_ack = 40 * MS;
    p->rto_initial = 1000 * MS;
    p->rto_min = 200 * MS;
    p->rto_max = 60000 * MS;
    p->max_retries = 12;
}

/* A network with rings of the given sizes (A rx, A tx, B rx, B tx); stored in *state for the
 * teardown. */
static inline h_net *h_new(void **state, uint32_t arx, uint32_t atx, uint32_t brx, uint32_t btx)
{
    h_net *n = calloc(1, sizeof(*n));
    assert_non_null(n);
    *state = n;
    us_bufs_config cfg;
    us_bufs_config_default(&cfg);
    cfg.pbuf_pool_count = 2048;
    cfg.pbuf_pool_bufsize = 512; /* segments become chains: the copy paths walk them */
    cfg.heap_size = 4u << 20;
    n->bufs = us_test_bufs_new(&cfg);
    n->q = calloc(H_QCAP, sizeof(*n->q));
    assert_non_null(n->q);
    h_params_default(&n->pr);
    h_params_default(&n->prb);
    n->lat = 1 * MS;
    n->rng.s = 42;
    n->ptype = US_PBUF_POOL;
    n->check_window = true;
    uint32_t caps[2][2] = {{arx, atx}, {brx, btx}};
    for (int i = 0; i < 2; i++) {
        h_side *s = &n->s[i];
        s->rxmem = malloc(caps[i][0]);
        s->txmem = malloc(caps[i][1]);
        assert_non_null(s->rxmem);
        assert_non_null(s->txmem);
        us__ring_init(&s->rx, s->rxmem, caps[i][0]);
        us__ring_init(&s->tx, s->txmem, caps[i][1]);
        s->pr = &n->pr;
        us__tcp_init(&s->t, s->pr, &s->rx, &s->tx, s->oo);
        s->ip = i == A ? 0x0a000001u : 0x0a000002u;
        s->port = i == A ? 40000 : 80;
        s->iss = i == A ? 1000u : 5000u;
    }
    return n;
}

/* Re-bind side i to other params (before any open). */
static inline void h_use_params(h_net *n, int i, const us_tcp_params *pr)
{
    h_side *s = &n->s[i];
    s->pr = pr;
    us__tcp_init(&s->t, pr, &s->rx, &s->tx, s->oo);
}

static inline int h_teardown(void **state)
{
    h_net *n = *state;
    if (n == NULL)
        return 0;
    for (uint32_t k = 0; k < n->qn; k++)
        if (n->q[k].p)
            us_pbuf_free(n->q[k].p);
    for (int i = 0; i < 2; i++) {
        us__tcp_reset(&n->s[i].t);
        free(n->s[i].rxmem);
        free(n->s[i].txmem);
    }
    us_test_bufs_free(n->bufs);
    free(n->q);
    free(n);
    *state = NULL;
    return 0;
}

static inline us_pbuf *h_pbuf(h_net *n, const void *data, uint32_t len)
{
    if (len == 0)
        return NULL;
    us_pbuf *p = us_pbuf_alloc(n->bufs, US_PBUF_RAW, len, n->ptype);
    assert_non_null(p);
    assert_int_equal(us_pbuf_take(p, data, len), US_OK);
    return p;
}

static inline void h_enqueue(h_net *n, int from, const us_tcp_repr *r, us_pbuf *p)
{
    if (!n->hold && n->loss_ppm[from] && us_test_below(&n->rng, 1000000) < n->loss_ppm[from]) {
        n->drops++;
        if (p)
            us_pbuf_free(p);
        return;
    }
    assert_true(n->qn < H_QCAP);
    h_seg *g = &n->q[n->qn++];
    g->r = *r;
    g->p = p;
    g->from = from;
    g->id = n->next_id++;
    g->at = n->now + n->lat;
    if (!n->hold && n->reorder_ppm && us_test_below(&n->rng, 1000000) < n->reorder_ppm)
        g->at += 1 + us_test_rand(&n->rng) % (n->reorder_extra ? n->reorder_extra : 2 * n->lat);
}

/* Everything side i's dispatch offers now goes on the wire. Returns the number of segments. */
static inline uint32_t h_xmit(h_net *n, int i)
{
    h_side *s = &n->s[i];
    us_tcp_out out;
    uint32_t k = 0;
    static uint8_t buf[65536];
    while (us__tcp_dispatch(&s->t, n->now, &out)) {
        assert_true(++k < 100000);
        assert_int_equal(out.repr.payload_len, out.data_len);
        us_pbuf *p = NULL;
        if (out.data_len) {
            assert_true(out.data_len <= s->t.snd_mss);
            assert_true(out.data_off + out.data_len <= s->tx.len);
            if (n->check_window && !s->t.force && !s->t.rexmit) {
                uint32_t right = s->t.snd_una + s->t.snd_wnd;
                assert_true((int32_t)(out.repr.seq + out.data_len - right) <= 0);
            }
            us__ring_peek(&s->tx, out.data_off, buf, out.data_len);
            p = h_pbuf(n, buf, out.data_len);
            s->sent_data_segs++;
        }
        s->sent_segs++;
        h_enqueue(n, i, &out.repr, p);
        us__tcp_sent(&s->t, &out, n->now);
    }
    return k;
}

static inline void h_app(h_net *n);

/* Give segment k of the wire to its destination (the harness is the stack around it). */
static inline unsigned h_deliver(h_net *n, uint32_t k)
{
    assert_true(k < n->qn);
    h_seg g = n->q[k];
    memmove(&n->q[k], &n->q[k + 1], (n->qn - k - 1) * sizeof(*n->q));
    n->qn--;
    int to = 1 - g.from;
    h_side *d = &n->s[to];
    n->delivered++;
    unsigned ev = 0;
    if (d->t.state == US_TCP_CLOSED) {
        if (g.p)
            us_pbuf_free(g.p);
        if (d->listen && (g.r.flags & (US_TCP_SYN | US_TCP_ACK | US_TCP_RST)) == US_TCP_SYN) {
            ev = us__tcp_accept_syn(&d->t, d->ip, n->s[g.from].ip, &g.r, d->iss, n->now);
        } else {
            us_tcp_repr rst;
            if (us__tcp_rst_reply(&g.r, &rst))
                h_enqueue(n, to, &rst, NULL);
        }
    } else {
        ev = us__tcp_input(&d->t, &g.r, g.p, n->now);
    }
    d->ev |= ev;
    return ev;
}

/* Index of the i-th segment on the wire sent by `from`, or -1. */
static inline int h_find(const h_net *n, int from, uint32_t i)
{
    for (uint32_t k = 0; k < n->qn; k++)
        if (n->q[k].from == from && i-- == 0)
            return (int)k;
    return -1;
}

static inline uint32_t h_count(const h_net *n, int from)
{
    uint32_t c = 0;
    for (uint32_t k = 0; k < n->qn; k++)
        c += n->q[k].from == from;
    return c;
}

static inline const us_tcp_repr *h_peek(const h_net *n, int from, uint32_t i)
{
    int k = h_find(n, from, i);
    assert_true(k >= 0);
    return &n->q[k].r;
}

/* Drop the i-th segment from `from` on the wire. */
static inline void h_drop(h_net *n, int from, uint32_t i)
{
    int k = h_find(n, from, i);
    assert_true(k >= 0);
    if (n->q[k].p)
        us_pbuf_free(n->q[k].p);
    memmove(&n->q[k], &n->q[k + 1], (n->qn - (uint32_t)k - 1) * sizeof(*n->q));
    n->qn--;
}

static inline void h_drop_all(h_net *n, int from)
{
    while (h_count(n, from))
        h_drop(n, from, 0);
}

/* Deliver the i-th segment from `from` (no transmission afterwards). */
static inline unsigned h_deliver_nth(h_net *n, int from, uint32_t i)
{
    int k = h_find(n, from, i);
    assert_true(k >= 0);
    return h_deliver(n, (uint32_t)k);
}

/* Deliver every segment from `from` now on the wire, in order; the receiver transmits after each
 * (its replies join the wire). Returns the events of the receiver. */
static inline unsigned h_deliver_all(h_net *n, int from)
{
    unsigned ev = 0;
    uint32_t c = h_count(n, from);
    for (uint32_t i = 0; i < c; i++) {
        ev |= h_deliver_nth(n, from, 0);
        h_xmit(n, 1 - from);
    }
    return ev;
}

/* Craft a segment and give it to side `to` as if from the other side. */
static inline unsigned h_inject(h_net *n, int to, uint8_t flags, uint32_t seq, uint32_t ack,
                                uint16_t wnd, const void *data, uint32_t len)
{
    us_tcp_repr r;
    memset(&r, 0, sizeof(r));
    r.src_port = n->s[1 - to].port;
    r.dst_port = n->s[to].port;
    r.flags = flags;
    r.seq = seq;
    r.ack = ack;
    r.window = wnd;
    r.payload_len = len;
    unsigned ev = us__tcp_input(&n->s[to].t, &r, h_pbuf(n, data, len), n->now);
    n->s[to].ev |= ev;
    return ev;
}

static inline us_time h_min(us_time a, us_time b)
{
    return a < b ? a : b;
}

/* One step of the event loop: advance the clock to the next delivery or TCB deadline, deliver
 * what is due, run timers, let the applications act, transmit. False when nothing is left. */
static inline bool h_step(h_net *n)
{
    us_time next = US_TIME_NEVER;
    for (uint32_t k = 0; k < n->qn; k++)
        next = h_min(next, n->q[k].at);
    for (int i = 0; i < 2; i++)
        next = h_min(next, us__tcp_poll_at(&n->s[i].t, n->now));
    if (next == US_TIME_NEVER)
        return false;
    if (next > n->now)
        n->now = next;
    for (;;) {
        int best = -1;
        for (uint32_t k = 0; k < n->qn; k++)
            if (n->q[k].at <= n->now &&
                (best < 0 || n->q[k].at < n->q[best].at ||
                 (n->q[k].at == n->q[best].at && n->q[k].id < n->q[best].id)))
                best = (int)k;
        if (best < 0)
            break;
        int to = 1 - n->q[best].from;
        h_deliver(n, (uint32_t)best);
        h_app(n);
        h_xmit(n, to);
    }
    for (int i = 0; i < 2; i++) {
        if (us__tcp_poll_at(&n->s[i].t, n->now) <= n->now)
            n->s[i].ev |= us__tcp_timers(&n->s[i].t, n->now);
    }
    h_app(n);
    h_xmit(n, A);
    h_xmit(n, B);
    return true;
}

/* Run until `until` (absolute) or nothing is left. */
static inline void h_run_until(h_net *n, us_time until)
{
    for (uint64_t guard = 0; guard < 50000000; guard++) {
        us_time next = US_TIME_NEVER;
        for (uint32_t k = 0; k < n->qn; k++)
            next = h_min(next, n->q[k].at);
        for (int i = 0; i < 2; i++)
            next = h_min(next, us__tcp_poll_at(&n->s[i].t, n->now));
        if (next > until) {
            if (until != US_TIME_NEVER && until > n->now)
                n->now = until;
            return;
        }
        if (!h_step(n))
            return;
    }
    fail_msg("event loop did not settle");
}

/* The bulk applications: write the pattern up to goal, then close; read everything, check it. */
static inline void h_app(h_net *n)
{
    static uint8_t buf[65536];
    for (int i = 0; i < 2; i++) {
        h_side *s = &n->s[i];
        us_tcp_state st = s->t.state;
        bool can_send = st == US_TCP_ESTABLISHED || st == US_TCP_CLOSE_WAIT;
        if (can_send && s->app_sent < s->goal && us__ring_free(&s->tx)) {
            uint64_t want = s->goal - s->app_sent;
            uint32_t room = us__ring_free(&s->tx);
            uint32_t k = (uint32_t)(want < room ? want : room);
            if (k > sizeof(buf))
                k = sizeof(buf);
            for (uint32_t j = 0; j < k; j++)
                buf[j] = h_pattern(i, s->app_sent + j);
            assert_int_equal(us__ring_write(&s->tx, buf, k), k);
            s->app_sent += k;
            s->ev |= us__tcp_queued(&s->t);
        }
        if (s->app_reads) {
            uint32_t got;
            while ((got = us__ring_read(&s->rx, buf, sizeof(buf))) > 0) {
                for (uint32_t j = 0; j < got; j++) {
                    if (buf[j] != h_pattern(1 - i, s->app_rcvd + j))
                        fail_msg("side %d: byte %llu is %u, expected %u", i,
                                 (unsigned long long)(s->app_rcvd + j), buf[j],
                                 h_pattern(1 - i, s->app_rcvd + j));
                }
                s->app_rcvd += got;
                s->ev |= us__tcp_recvd(&s->t, got);
            }
        }
        st = s->t.state;
        if (s->goal && !s->app_closed && s->app_sent == s->goal &&
            (st == US_TCP_ESTABLISHED || st == US_TCP_CLOSE_WAIT)) {
            s->app_closed = true;
            s->ev |= us__tcp_close(&s->t);
        }
    }
}

/* Active open A -> B through the wire (B listens); both ESTABLISHED afterwards. */
static inline void h_establish(h_net *n)
{
    n->s[B].listen = true;
    us__tcp_connect(&n->s[A].t, n->s[A].ip, n->s[A].port, n->s[B].ip, n->s[B].port, n->s[A].iss,
                    n->now);
    h_xmit(n, A);
    bool hold = n->hold;
    n->hold = false;
    for (int k = 0; k < 100 && (n->s[A].t.state != US_TCP_ESTABLISHED ||
                                n->s[B].t.state != US_TCP_ESTABLISHED || n->qn);
         k++)
        h_step(n);
    n->hold = hold;
    assert_int_equal(n->s[A].t.state, US_TCP_ESTABLISHED);
    assert_int_equal(n->s[B].t.state, US_TCP_ESTABLISHED);
    n->s[A].ev = n->s[B].ev = 0;
}

/* Queue len pattern bytes on side i (its stream offset continues). */
static inline void h_write(h_net *n, int i, uint32_t len)
{
    h_side *s = &n->s[i];
    for (uint32_t j = 0; j < len; j++) {
        uint8_t c = h_pattern(i, s->app_sent + j);
        assert_int_equal(us__ring_write(&s->tx, &c, 1), 1);
    }
    s->app_sent += len;
    s->ev |= us__tcp_queued(&s->t);
}

/* Read and check everything side i has received. Returns the bytes read. */
static inline uint32_t h_read(h_net *n, int i)
{
    h_side *s = &n->s[i];
    uint8_t c;
    uint32_t k = 0;
    while (us__ring_read(&s->rx, &c, 1) == 1) {
        assert_int_equal(c, h_pattern(1 - i, s->app_rcvd));
        s->app_rcvd++;
        k++;
    }
    if (k)
        s->ev |= us__tcp_recvd(&s->t, k);
    return k;
}


/* ---- helpers for the state tests ---- */

#define EV_RX US_TCP_EV_RX
#define EV_TX US_TCP_EV_TX
#define EV_STATE US_TCP_EV_STATE
#define EV_OUTPUT US_TCP_EV_OUTPUT
#define EV_CLOSED US_TCP_EV_CLOSED
#define EV_ACCEPTED US_TCP_EV_ACCEPTED
#define EV_INVALID US_TCP_EV_INVALID
#define EV_OOSEQ_FULL US_TCP_EV_OOSEQ_FULL

#define TA(n) (&(n)->s[A].t)
#define TB(n) (&(n)->s[B].t)

/* The raw window field that leaves t's idea of its peer's window unchanged. */
static uint16_t raw_wnd_of_peer(const us_tcb *t)
{
    return (uint16_t)(t->snd_wnd >> t->snd_wscale);
}

/* Pattern bytes [off, off + len) of side `side`'s stream. */
static void pat(int side, uint64_t off, uint8_t *buf, uint32_t len)
{
    for (uint32_t j = 0; j < len; j++)
        buf[j] = h_pattern(side, off + j);
}

/* A data segment from A to B at stream offset off (seq = A's iss + 1 + off), acknowledging what
 * B has sent. */
static unsigned inject_a_data(h_net *n, uint32_t off, uint32_t len, uint8_t extra)
{
    static uint8_t buf[70000];
    pat(A, off, buf, len);
    const us_tcb *b = TB(n);
    return h_inject(n, B, (uint8_t)(US_TCP_ACK | extra), n->s[A].iss + 1 + off, b->snd_nxt,
                    raw_wnd_of_peer(b), buf, len);
}

/* Bring side `who` into state st (A is the active opener / closer, B the passive one). */
static void reach(h_net *n, us_tcp_state st)
{
    n->hold = true;
    switch (st) {
    case US_TCP_SYN_SENT:
        us__tcp_connect(TA(n), n->s[A].ip, n->s[A].port, n->s[B].ip, n->s[B].port, 1000, n->now);
        h_xmit(n, A);
        return;
    case US_TCP_SYN_RCVD:
        n->s[B].listen = true;
        us__tcp_connect(TA(n), n->s[A].ip, n->s[A].port, n->s[B].ip, n->s[B].port, 1000, n->now);
        h_xmit(n, A);
        h_deliver_all(n, A);
        assert_int_equal(TB(n)->state, US_TCP_SYN_RCVD);
        return;
    default:
        break;
    }
    h_establish(n);
    n->hold = true;
    switch (st) {
    case US_TCP_ESTABLISHED:
        break;
    case US_TCP_FIN_WAIT_1:
        us__tcp_close(TA(n));
        h_xmit(n, A);
        break;
    case US_TCP_FIN_WAIT_2:
    case US_TCP_CLOSE_WAIT:
        us__tcp_close(TA(n));
        h_xmit(n, A);
        h_deliver_all(n, A);
        h_deliver_all(n, B);
        assert_int_equal(TA(n)->state, US_TCP_FIN_WAIT_2);
        assert_int_equal(TB(n)->state, US_TCP_CLOSE_WAIT);
        break;
    case US_TCP_CLOSING:
        us__tcp_close(TA(n));
        us__tcp_close(TB(n));
        h_xmit(n, A);
        h_xmit(n, B);
        h_deliver_nth(n, B, 0); /* B's FIN reaches A, whose own FIN is unacknowledged */
        assert_int_equal(TA(n)->state, US_TCP_CLOSING);
        break;
    case US_TCP_LAST_ACK:
    case US_TCP_TIME_WAIT:
        us__tcp_close(TA(n));
        h_xmit(n, A);
        h_deliver_all(n, A);
        h_deliver_all(n, B);
        us__tcp_close(TB(n));
        h_xmit(n, B);
        assert_int_equal(TB(n)->state, US_TCP_LAST_ACK);
        if (st == US_TCP_TIME_WAIT) {
            h_deliver_all(n, B);
            assert_int_equal(TA(n)->state, US_TCP_TIME_WAIT);
        }
        break;
    default:
        fail_msg("reach: state %d", st);
    }
    n->s[A].ev = n->s[B].ev = 0;
}

/* ---- CLOSED: new, abort ---- */

static void test_tcp_closed_new_and_abort(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    us_tcb *a = TA(n);
    us_tcp_out out;
    assert_int_equal(a->state, US_TCP_CLOSED);
    assert_true(us__tcp_poll_at(a, 0) == US_TIME_NEVER);
    assert_int_equal(us__tcp_dispatch(a, 0, &out), 0);
    assert_int_equal(us__tcp_abort(a), 0);
    assert_int_equal(us__tcp_close(a), 0);
    assert_int_equal(us__tcp_timers(a, 5 * MS), 0);

    /* SYN_SENT: abort sends nothing */
    us__tcp_connect(a, n->s[A].ip, n->s[A].port, n->s[B].ip, n->s[B].port, 77, 0);
    assert_int_equal(a->state, US_TCP_SYN_SENT);
    assert_true(us__tcp_poll_at(a, 0) == 0);
    assert_int_equal(us__tcp_abort(a), EV_STATE | EV_CLOSED);
    assert_int_equal(a->state, US_TCP_CLOSED);
    assert_int_equal(us__tcp_dispatch(a, 0, &out), 0);

    /* ESTABLISHED: abort leaves one RST|ACK at snd_nxt; the peer takes it */
    h_establish(n);
    n->hold = true;
    h_write(n, A, 100);
    assert_int_equal(h_xmit(n, A), 1);
    uint32_t nxt = a->snd_nxt;
    assert_int_equal(us__tcp_abort(a), EV_STATE | EV_CLOSED | EV_OUTPUT);
    assert_int_equal(a->state, US_TCP_CLOSED);
    assert_true(us__tcp_poll_at(a, n->now) == n->now);
    assert_int_equal(h_xmit(n, A), 1);
    const us_tcp_repr *r = h_peek(n, A, 1);
    assert_int_equal(r->flags, US_TCP_RST | US_TCP_ACK);
    assert_int_equal(r->seq, nxt);
    assert_int_equal(r->ack, TB(n)->snd_nxt);
    assert_int_equal(h_xmit(n, A), 0);
    assert_true(us__tcp_poll_at(a, n->now) == US_TIME_NEVER);
    unsigned ev = h_deliver_all(n, A);
    assert_int_equal(ev & (EV_RX | EV_CLOSED), EV_RX | EV_CLOSED);
    assert_int_equal(TB(n)->state, US_TCP_CLOSED);
    assert_true(TB(n)->was_reset);
    assert_int_equal(n->s[B].rx.len, 100);
}

/* ---- opening ---- */

static void test_tcp_syn_sent_active_open_handshake(void **state)
{
    h_net *n = h_new(state, 262144, 65536, 100000, 65536);
    us_tcb *a = TA(n), *b = TB(n);
    n->hold = true;
    n->s[B].listen = true;
    us__tcp_connect(a, n->s[A].ip, n->s[A].port, n->s[B].ip, n->s[B].port, 1000, 0);
    assert_int_equal(h_xmit(n, A), 1);
    const us_tcp_repr *syn = h_peek(n, A, 0);
    assert_int_equal(syn->flags, US_TCP_SYN);
    assert_int_equal(syn->seq, 1000);
    assert_int_equal(syn->ack, 0);
    assert_int_equal(syn->src_port, 40000);
    assert_int_equal(syn->dst_port, 80);
    assert_true(syn->mss_present);
    assert_int_equal(syn->mss, 1460);
    assert_true(syn->wscale_present);
    assert_int_equal(syn->wscale, 3); /* 262144 >> 3 = 32768 fits 16 bits, >> 2 does not */
    assert_int_equal(syn->window, 65535);
    assert_false(syn->ts_present);
    assert_int_equal(syn->payload_len, 0);
    assert_int_equal(a->snd_nxt, 1001);
    assert_int_equal(a->snd_max, 1001);
    assert_true(a->rtx_at == 1000 * MS);
    assert_int_equal(h_xmit(n, A), 0); /* nothing more until an answer or the timer */

    n->now = 2 * MS;
    assert_int_equal(h_deliver_nth(n, A, 0), EV_OUTPUT);
    assert_int_equal(b->state, US_TCP_SYN_RCVD);
    assert_int_equal(h_xmit(n, B), 1);
    const us_tcp_repr *sa = h_peek(n, B, 0);
    assert_int_equal(sa->flags, US_TCP_SYN | US_TCP_ACK);
    assert_int_equal(sa->seq, 5000);
    assert_int_equal(sa->ack, 1001);
    assert_true(sa->mss_present);
    assert_int_equal(sa->mss, 1460);
    assert_true(sa->wscale_present);
    assert_int_equal(sa->wscale, 1); /* 100000 >> 1 = 50000 */
    assert_int_equal(sa->window, 65535);

    n->now = 5 * MS;
    unsigned ev = h_deliver_nth(n, B, 0);
    assert_int_equal(ev, EV_STATE | EV_OUTPUT);
    assert_int_equal(a->state, US_TCP_ESTABLISHED);
    assert_int_equal(a->snd_una, 1001);
    assert_int_equal(a->irs, 5000);
    assert_int_equal(a->rcv_nxt, 5001);
    assert_int_equal(a->snd_wscale, 1);
    assert_int_equal(a->rcv_wscale, 3);
    assert_int_equal(a->snd_wnd, 65535); /* a SYN's window is never scaled */
    assert_int_equal(a->snd_mss, 1460);
    assert_int_equal(a->cwnd, 4380);
    assert_true(a->srtt == 5 * MS);
    assert_true(a->rttvar == 5 * MS / 2);
    assert_true(a->rto == 200 * MS); /* 5 + 4 * 2.5 ms, clamped to rto_min */
    assert_true(a->rtx_at == US_TIME_NEVER);
    assert_int_equal(h_xmit(n, A), 1);
    const us_tcp_repr *ack = h_peek(n, A, 0);
    assert_int_equal(ack->flags, US_TCP_ACK);
    assert_int_equal(ack->seq, 1001);
    assert_int_equal(ack->ack, 5001);
    assert_false(ack->mss_present);
    assert_false(ack->wscale_present);
    assert_int_equal(ack->window, 262144 >> 3);

    n->now = 7 * MS;
    ev = h_deliver_nth(n, A, 0);
    assert_int_equal(ev, EV_STATE | EV_ACCEPTED);
    assert_int_equal(b->state, US_TCP_ESTABLISHED);
    assert_int_equal(b->snd_una, 5001);
    assert_int_equal(b->rcv_nxt, 1001);
    assert_int_equal(b->snd_wscale, 3);
    assert_int_equal(b->rcv_wscale, 1);
    assert_int_equal(b->snd_wnd, 262144);
    assert_true(b->srtt == 5 * MS); /* SYN-ACK at 2 ms, ACK at 7 ms */
    assert_int_equal(h_xmit(n, B), 0);
    assert_int_equal(n->qn, 0);
    assert_true(us__tcp_poll_at(a, n->now) == US_TIME_NEVER);
    assert_true(us__tcp_poll_at(b, n->now) == US_TIME_NEVER);
}

static void test_tcp_syn_sent_options_negotiated(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    /* B announces a smaller MSS: both send with the smaller one */
    n->prb.mss = 1000;
    h_use_params(n, B, &n->prb);
    h_establish(n);
    assert_int_equal(TA(n)->snd_mss, 1000);
    assert_int_equal(TB(n)->snd_mss, 1000);
    assert_int_equal(TA(n)->cwnd, 4000); /* min(4 * 1000, max(2 * 1000, 4380)) */
    assert_int_equal(TA(n)->rcv_wscale, 1);
    assert_int_equal(TA(n)->snd_wscale, 1);
    us__tcp_reset(TA(n));
    us__tcp_reset(TB(n));

    /* A peer SYN-ACK without options: MSS 536, no window scaling either way */
    us_tcb *a = TA(n);
    n->hold = true;
    us__tcp_connect(a, n->s[A].ip, n->s[A].port, n->s[B].ip, n->s[B].port, 1000, n->now);
    h_xmit(n, A);
    h_drop_all(n, A);
    unsigned ev = h_inject(n, A, US_TCP_SYN | US_TCP_ACK, 9000, 1001, 4000, NULL, 0);
    assert_int_equal(ev, EV_STATE | EV_OUTPUT);
    assert_int_equal(a->snd_mss, 536);
    assert_int_equal(a->snd_wscale, 0);
    assert_int_equal(a->rcv_wscale, 0);
    assert_int_equal(a->cwnd, 2144); /* 4 * 536 */
    h_xmit(n, A);
    assert_int_equal(h_peek(n, A, 0)->window, 65535); /* unscaled: capped at 16 bits */
    h_drop_all(n, A);

    /* A SYN without options reaching a listener: SYN-ACK carries MSS but no window scale */
    us_tcp_repr syn;
    memset(&syn, 0, sizeof(syn));
    syn.src_port = 1234;
    syn.dst_port = 80;
    syn.seq = 777;
    syn.flags = US_TCP_SYN;
    syn.window = 1000;
    us_tcb *b = TB(n);
    assert_int_equal(us__tcp_accept_syn(b, n->s[B].ip, 0x0a000009u, &syn, 42, n->now), EV_OUTPUT);
    assert_int_equal(b->local_port, 80);
    assert_int_equal(b->remote_port, 1234);
    assert_int_equal(b->remote_ip, 0x0a000009u);
    assert_int_equal(b->snd_mss, 536);
    assert_int_equal(b->snd_wnd, 1000);
    h_xmit(n, B);
    const us_tcp_repr *sa = h_peek(n, B, 0);
    assert_int_equal(sa->flags, US_TCP_SYN | US_TCP_ACK);
    assert_int_equal(sa->seq, 42);
    assert_int_equal(sa->ack, 778);
    assert_true(sa->mss_present);
    assert_false(sa->wscale_present);
    assert_int_equal(sa->dst_port, 1234);
}

static void test_tcp_syn_rcvd_syn_again_and_timeout(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    reach(n, US_TCP_SYN_RCVD);
    us_tcb *b = TB(n);
    h_xmit(n, B);
    assert_int_equal(h_count(n, B), 1);
    h_drop_all(n, B); /* the SYN-ACK is lost; A's SYN comes again */
    unsigned ev = h_inject(n, B, US_TCP_SYN, 1000, 0, 65535, NULL, 0);
    assert_int_equal(ev & EV_OUTPUT, EV_OUTPUT);
    assert_int_equal(b->state, US_TCP_SYN_RCVD);
    assert_int_equal(h_xmit(n, B), 1);
    const us_tcp_repr *sa = h_peek(n, B, 0);
    assert_int_equal(sa->flags, US_TCP_SYN | US_TCP_ACK);
    assert_int_equal(sa->seq, 5000);
    assert_int_equal(sa->ack, 1001);
    h_drop_all(n, B);
    /* and the timer resends it, backing off, until max_retries */
    n->pr.max_retries = 2;
    us_time t1 = b->rtx_at;
    assert_true(t1 == n->now + 1000 * MS);
    n->now = t1;
    assert_int_equal(us__tcp_timers(b, n->now), EV_OUTPUT);
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->flags, US_TCP_SYN | US_TCP_ACK);
    assert_true(b->rtx_at == t1 + 2000 * MS);
    n->now = b->rtx_at;
    assert_int_equal(us__tcp_timers(b, n->now), EV_OUTPUT);
    n->now = b->rtx_at;
    assert_true(n->now == t1 + 6000 * MS);
    assert_int_equal(us__tcp_timers(b, n->now), EV_STATE | EV_CLOSED);
    assert_int_equal(b->state, US_TCP_CLOSED);
    assert_int_equal(b->timeouts, 2);
}

static void test_tcp_syn_rcvd_unacceptable_ack_rst(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    reach(n, US_TCP_SYN_RCVD);
    us_tcb *b = TB(n);
    h_xmit(n, B);
    h_drop_all(n, B);
    unsigned ev = h_inject(n, B, US_TCP_ACK, 1001, 9999, 65535, NULL, 0);
    assert_int_equal(ev, EV_OUTPUT | EV_INVALID);
    assert_int_equal(b->state, US_TCP_SYN_RCVD);
    assert_int_equal(h_xmit(n, B), 1);
    const us_tcp_repr *r = h_peek(n, B, 0);
    assert_int_equal(r->flags, US_TCP_RST);
    assert_int_equal(r->seq, 9999);
    /* the real ACK still completes the handshake */
    ev = h_inject(n, B, US_TCP_ACK, 1001, 5001, 65535, NULL, 0);
    assert_int_equal(ev, EV_STATE | EV_ACCEPTED);
    assert_int_equal(b->state, US_TCP_ESTABLISHED);
}

static void test_tcp_syn_sent_unacceptable_ack_rst(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    reach(n, US_TCP_SYN_SENT);
    us_tcb *a = TA(n);
    h_drop_all(n, A);
    unsigned ev = h_inject(n, A, US_TCP_SYN | US_TCP_ACK, 7000, 12345, 65535, NULL, 0);
    assert_int_equal(ev, EV_OUTPUT | EV_INVALID);
    assert_int_equal(a->state, US_TCP_SYN_SENT);
    assert_int_equal(h_xmit(n, A), 1);
    const us_tcp_repr *r = h_peek(n, A, 0);
    assert_int_equal(r->flags, US_TCP_RST);
    assert_int_equal(r->seq, 12345);
    /* an ACK of the ISS itself is unacceptable too (SEG.ACK =< ISS) */
    h_drop_all(n, A);
    ev = h_inject(n, A, US_TCP_ACK, 7000, 1000, 65535, NULL, 0);
    assert_int_equal(ev, EV_OUTPUT | EV_INVALID);
    h_xmit(n, A);
    assert_int_equal(h_peek(n, A, 0)->seq, 1000);
    /* neither SYN nor RST: dropped */
    h_drop_all(n, A);
    assert_int_equal(h_inject(n, A, US_TCP_ACK, 7000, 1001, 65535, NULL, 0), EV_INVALID);
    assert_int_equal(a->state, US_TCP_SYN_SENT);
}

static void test_tcp_syn_sent_timeout(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    n->pr.max_retries = 3;
    reach(n, US_TCP_SYN_SENT);
    us_tcb *a = TA(n);
    h_drop_all(n, A);
    us_time expect[] = {1000 * MS, 3000 * MS, 7000 * MS};
    for (int k = 0; k < 3; k++) {
        assert_true(us__tcp_poll_at(a, n->now) == expect[k]);
        n->now = expect[k] - 1;
        assert_int_equal(us__tcp_timers(a, n->now), 0);
        n->now = expect[k];
        assert_int_equal(us__tcp_timers(a, n->now), EV_OUTPUT);
        assert_int_equal(h_xmit(n, A), 1);
        const us_tcp_repr *r = h_peek(n, A, 0);
        assert_int_equal(r->flags, US_TCP_SYN);
        assert_int_equal(r->seq, 1000);
        assert_true(r->mss_present);
        h_drop_all(n, A);
        assert_int_equal(a->retransmits, (uint32_t)k + 1);
        assert_true(a->rto == (2000u * MS) << k);
    }
    assert_true(us__tcp_poll_at(a, n->now) == 15000 * MS);
    n->now = 15000 * MS;
    assert_int_equal(us__tcp_timers(a, n->now), EV_STATE | EV_CLOSED);
    assert_int_equal(a->state, US_TCP_CLOSED);
    assert_false(a->was_reset);
    assert_int_equal(a->timeouts, 3);
    assert_int_equal(h_xmit(n, A), 0);
    assert_true(us__tcp_poll_at(a, n->now) == US_TIME_NEVER);
}

static void test_tcp_syn_sent_simultaneous_open(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    us_tcb *a = TA(n), *b = TB(n);
    n->hold = true;
    us__tcp_connect(a, n->s[A].ip, n->s[A].port, n->s[B].ip, n->s[B].port, 1000, 0);
    us__tcp_connect(b, n->s[B].ip, n->s[B].port, n->s[A].ip, n->s[A].port, 5000, 0);
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_xmit(n, B), 1);
    n->now = 1 * MS;
    assert_int_equal(h_deliver_nth(n, A, 0), EV_STATE | EV_OUTPUT);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_STATE | EV_OUTPUT);
    assert_int_equal(a->state, US_TCP_SYN_RCVD);
    assert_int_equal(b->state, US_TCP_SYN_RCVD);
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_xmit(n, B), 1);
    const us_tcp_repr *ra = h_peek(n, A, 0), *rb = h_peek(n, B, 0);
    assert_int_equal(ra->flags, US_TCP_SYN | US_TCP_ACK);
    assert_int_equal(ra->seq, 1000);
    assert_int_equal(ra->ack, 5001);
    assert_true(ra->wscale_present);
    assert_int_equal(rb->flags, US_TCP_SYN | US_TCP_ACK);
    assert_int_equal(rb->seq, 5000);
    assert_int_equal(rb->ack, 1001);
    n->now = 2 * MS;
    assert_int_equal(h_deliver_nth(n, A, 0), EV_STATE); /* no EV_ACCEPTED: an active open */
    assert_int_equal(h_deliver_nth(n, B, 0), EV_STATE);
    assert_int_equal(a->state, US_TCP_ESTABLISHED);
    assert_int_equal(b->state, US_TCP_ESTABLISHED);
    assert_int_equal(a->snd_una, 1001);
    assert_int_equal(a->rcv_nxt, 5001);
    assert_int_equal(b->snd_una, 5001);
    assert_int_equal(b->rcv_nxt, 1001);
    assert_int_equal(a->snd_wscale, 1);
    assert_int_equal(h_xmit(n, A) + h_xmit(n, B), 0);
    /* data flows both ways */
    n->hold = false;
    n->s[A].app_reads = n->s[B].app_reads = true;
    n->s[A].goal = 20000;
    n->s[B].goal = 30000;
    h_app(n);
    h_run_until(n, US_TIME_NEVER);
    assert_int_equal(n->s[A].app_rcvd, 30000);
    assert_int_equal(n->s[B].app_rcvd, 20000);
    assert_int_equal(a->state, US_TCP_CLOSED);
    assert_int_equal(b->state, US_TCP_CLOSED);
}

static void test_tcp_syn_sent_timestamps_negotiated(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    n->pr.timestamps = true;
    us_tcb *a = TA(n), *b = TB(n);
    n->hold = true;
    n->s[B].listen = true;
    n->now = 3 * MS;
    us__tcp_connect(a, n->s[A].ip, n->s[A].port, n->s[B].ip, n->s[B].port, 1000, n->now);
    h_xmit(n, A);
    const us_tcp_repr *syn = h_peek(n, A, 0);
    assert_true(syn->ts_present);
    assert_int_equal(syn->tsval, 1000 + 3); /* ISS + milliseconds */
    assert_int_equal(syn->tsecr, 0);
    n->now = 4 * MS;
    h_deliver_nth(n, A, 0);
    h_xmit(n, B);
    const us_tcp_repr *sa = h_peek(n, B, 0);
    assert_true(sa->ts_present);
    assert_int_equal(sa->tsval, 5000 + 4);
    assert_int_equal(sa->tsecr, 1003);
    assert_true(b->ts_ok);
    assert_int_equal(b->snd_mss, 1448);
    n->now = 5 * MS;
    h_deliver_nth(n, B, 0);
    assert_true(a->ts_ok);
    assert_int_equal(a->snd_mss, 1448);
    assert_int_equal(a->cwnd, 4380); /* min(4 * 1448, max(2 * 1448, 4380)) */
    h_xmit(n, A);
    assert_true(h_peek(n, A, 0)->ts_present);
    assert_int_equal(h_peek(n, A, 0)->tsecr, 5004);
    h_deliver_all(n, A);
    assert_int_equal(b->state, US_TCP_ESTABLISHED);

    /* data: full segments are 1448 bytes; the echo follows RFC 7323 4.3: the TSval of the first
     * segment that the next ACK covers, so the peer's RTT includes the ACK's delay */
    h_write(n, A, 1448);
    n->now = 10 * MS;
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_peek(n, A, 0)->payload_len, 1448);
    assert_int_equal(h_peek(n, A, 0)->tsval, 1010);
    h_write(n, A, 1448);
    n->now = 15 * MS;
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_peek(n, A, 1)->tsval, 1015);
    n->now = 16 * MS;
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX); /* delayed */
    assert_int_equal(b->ts_recent, 1010);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX | EV_OUTPUT);
    assert_int_equal(b->ts_recent, 1010);
    h_xmit(n, B);
    assert_true(h_peek(n, B, 0)->ts_present);
    assert_int_equal(h_peek(n, B, 0)->tsecr, 1010);
    assert_int_equal(h_peek(n, B, 0)->tsval, 5016);
    h_drop_all(n, B);
    h_write(n, A, 100);
    n->now = 20 * MS;
    h_xmit(n, A);
    h_deliver_nth(n, A, 0);
    assert_int_equal(b->ts_recent, 1020); /* at the left edge again: taken */
    /* RSTs carry none */
    us__tcp_abort(b);
    h_drop_all(n, B);
    h_xmit(n, B);
    assert_int_equal(h_peek(n, B, 0)->flags, US_TCP_RST | US_TCP_ACK);
    assert_false(h_peek(n, B, 0)->ts_present);
}

static void test_tcp_syn_sent_timestamps_refused(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    n->prb.timestamps = true; /* A offers, B (default params) does not */
    h_use_params(n, A, &n->prb);
    h_establish(n);
    assert_false(TA(n)->ts_ok);
    assert_false(TB(n)->ts_ok);
    assert_int_equal(TA(n)->snd_mss, 1460);
    n->hold = true;
    h_write(n, A, 10);
    h_xmit(n, A);
    assert_false(h_peek(n, A, 0)->ts_present);
}

static void test_tcp_established_dupack_per_segment(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    uint32_t nxt = b->rcv_nxt;
    /* five segments out of order in one burst, before B gets to transmit: five duplicate ACKs */
    for (int k = 1; k <= 5; k++)
        assert_int_equal(inject_a_data(n, (uint32_t)k * 100, 100, 0) & EV_OUTPUT, EV_OUTPUT);
    assert_int_equal(h_xmit(n, B), 5);
    for (uint32_t k = 0; k < 5; k++) {
        assert_int_equal(h_peek(n, B, k)->ack, nxt);
        assert_int_equal(h_peek(n, B, k)->window, h_peek(n, B, 0)->window);
    }
    h_drop_all(n, B);
    /* owed duplicates are forgotten once the gap fills: one ACK for the new rcv_nxt */
    for (int k = 6; k <= 8; k++)
        inject_a_data(n, (uint32_t)k * 100, 100, 0);
    inject_a_data(n, 0, 100, 0);
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->ack, nxt + 900);
    /* data going out meanwhile does not pay for a duplicate */
    h_drop_all(n, B);
    inject_a_data(n, 1000, 100, 0);
    inject_a_data(n, 1100, 100, 0);
    h_write(n, B, 50);
    assert_int_equal(h_xmit(n, B), 3);
    assert_int_equal(h_peek(n, B, 0)->payload_len, 50);
    assert_int_equal(h_peek(n, B, 1)->payload_len, 0);
    assert_int_equal(h_peek(n, B, 2)->payload_len, 0);
    assert_int_equal(h_peek(n, B, 2)->ack, nxt + 900);
}

static void test_tcp_established_sack_blocks(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    assert_true(b->sack_ok);
    assert_true(TA(n)->sack_ok);
    uint32_t base = b->rcv_nxt;
    inject_a_data(n, 1000, 100, 0);
    h_xmit(n, B);
    const us_tcp_repr *r = h_peek(n, B, 0);
    assert_int_equal(r->sack_count, 1);
    assert_int_equal(r->sack[0].left, base + 1000);
    assert_int_equal(r->sack[0].right, base + 1100);
    h_drop_all(n, B);
    /* three runs; the latest segment's run first, then the others from the highest down;
     * adjacent entries form one run */
    inject_a_data(n, 3000, 100, 0);
    inject_a_data(n, 5000, 100, 0);
    inject_a_data(n, 1100, 100, 0); /* joins [1000, 1100) */
    h_xmit(n, B);
    r = h_peek(n, B, 2);
    assert_int_equal(r->sack_count, 3);
    assert_int_equal(r->sack[0].left, base + 1000);
    assert_int_equal(r->sack[0].right, base + 1200);
    assert_int_equal(r->sack[1].left, base + 5000);
    assert_int_equal(r->sack[2].left, base + 3000);
    h_drop_all(n, B);
    /* more runs than fit: the latest is still first */
    inject_a_data(n, 7000, 100, 0);
    inject_a_data(n, 9000, 100, 0);
    inject_a_data(n, 3100, 50, 0);
    h_xmit(n, B);
    r = h_peek(n, B, 2);
    assert_int_equal(r->sack_count, 4);
    assert_int_equal(r->sack[0].left, base + 3000);
    assert_int_equal(r->sack[0].right, base + 3150);
    assert_int_equal(r->sack[1].left, base + 9000);
    h_drop_all(n, B);
    /* data segments carry none (no room taken from the payload); no blocks once in order */
    h_write(n, B, 10);
    inject_a_data(n, 11000, 100, 0);
    h_xmit(n, B);
    assert_int_equal(h_peek(n, B, 0)->payload_len, 10);
    assert_int_equal(h_peek(n, B, 0)->sack_count, 0);
    assert_int_equal(h_peek(n, B, 1)->sack_count, 4);
    h_drop_all(n, B);
    inject_a_data(n, 0, 11100, 0);
    assert_int_equal(b->ooseq_n, 0);
    h_xmit(n, B);
    assert_int_equal(h_peek(n, B, 0)->sack_count, 0);
    assert_int_equal(h_peek(n, B, 0)->ack, base + 11100);
    /* SACK-permitted: in our SYN unless sack_off; in a SYN-ACK only if the SYN had it */
    us__tcp_reset(TA(n));
    n->pr.sack_off = true;
    n->hold = true;
    h_drop_all(n, B);
    us__tcp_connect(TA(n), n->s[A].ip, n->s[A].port, n->s[B].ip, n->s[B].port, 1, n->now);
    h_xmit(n, A);
    assert_false(h_peek(n, A, 0)->sack_permitted);
}

/* ---- ESTABLISHED: receiving ---- */

static void test_tcp_established_in_sequence_receive(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    uint32_t nxt = b->rcv_nxt;
    h_write(n, A, 3000);
    assert_int_equal(h_xmit(n, A), 3); /* 1460 + 1460 + 80 within IW 4380 */
    assert_int_equal(h_peek(n, A, 0)->payload_len, 1460);
    assert_int_equal(h_peek(n, A, 1)->payload_len, 1460);
    assert_int_equal(h_peek(n, A, 2)->payload_len, 80);
    assert_int_equal(h_peek(n, A, 2)->flags, US_TCP_ACK | US_TCP_PSH);
    assert_int_equal(h_peek(n, A, 0)->flags, US_TCP_ACK);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX); /* first segment: the ACK waits */
    assert_true(us__tcp_poll_at(b, n->now) == n->now + 40 * MS);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX | EV_OUTPUT); /* second: ACK at once */
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->ack, nxt + 2920);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX);
    assert_int_equal(b->rcv_nxt, nxt + 3000);
    assert_int_equal(n->s[B].rx.len, 3000);
    assert_int_equal(h_read(n, B), 3000);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_TX);
    assert_int_equal(TA(n)->snd_una, nxt + 2920);
    assert_int_equal(n->s[A].tx.len, 80);
    assert_int_equal(TA(n)->cwnd, 4380 + 1460); /* slow start: + min(acked, MSS) */
}

static void test_tcp_established_trim_old_data(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    uint32_t nxt = b->rcv_nxt;
    assert_int_equal(inject_a_data(n, 0, 20, 0), EV_RX);
    /* 10 old bytes, 20 new ones: the old part is cut, an ACK goes at once */
    assert_int_equal(inject_a_data(n, 10, 30, 0), EV_RX | EV_OUTPUT);
    assert_int_equal(b->rcv_nxt, nxt + 40);
    assert_int_equal(n->s[B].rx.len, 40);
    h_xmit(n, B);
    assert_int_equal(h_peek(n, B, 0)->ack, nxt + 40);
    h_drop_all(n, B);
    /* entirely old: unacceptable, answered with an ACK */
    assert_int_equal(inject_a_data(n, 0, 40, 0), EV_OUTPUT | EV_INVALID);
    assert_int_equal(n->s[B].rx.len, 40);
    h_xmit(n, B);
    assert_int_equal(h_peek(n, B, 0)->ack, nxt + 40);
    h_drop_all(n, B);
    /* an old FIN after data: the data part old, the FIN new */
    assert_int_equal(inject_a_data(n, 30, 10, US_TCP_FIN), EV_RX | EV_STATE | EV_OUTPUT);
    assert_int_equal(b->state, US_TCP_CLOSE_WAIT);
    assert_int_equal(b->rcv_nxt, nxt + 41);
    assert_int_equal(h_read(n, B), 40);
}

static void test_tcp_established_window_overrun(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 4000, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    uint32_t nxt = b->rcv_nxt;
    assert_int_equal(b->rcv_wscale, 0);
    assert_int_equal(b->rcv_adv, nxt + 4000);
    /* 5000 bytes into a 4000-byte window: the tail is cut, the FIN with it */
    unsigned ev = inject_a_data(n, 0, 5000, US_TCP_FIN);
    assert_int_equal(ev, EV_RX | EV_OUTPUT);
    assert_int_equal(b->state, US_TCP_ESTABLISHED);
    assert_int_equal(b->rcv_nxt, nxt + 4000);
    assert_int_equal(n->s[B].rx.len, 4000);
    h_xmit(n, B);
    assert_int_equal(h_peek(n, B, 0)->ack, nxt + 4000);
    assert_int_equal(h_peek(n, B, 0)->window, 0);
    h_drop_all(n, B);
    /* zero window: data at rcv_nxt is not taken, but answered (a probe) */
    ev = inject_a_data(n, 4000, 100, 0);
    assert_int_equal(ev, EV_OUTPUT);
    assert_int_equal(b->rcv_nxt, nxt + 4000);
    h_xmit(n, B);
    assert_int_equal(h_peek(n, B, 0)->window, 0);
    h_drop_all(n, B);
    /* beyond a zero window: unacceptable */
    assert_int_equal(inject_a_data(n, 4010, 100, 0), EV_OUTPUT | EV_INVALID);
    /* the application reads 1000 bytes: less than an MSS, no window update yet */
    uint8_t tmp[4000];
    us__ring_read(&n->s[B].rx, tmp, 1000);
    assert_int_equal(us__tcp_recvd(b, 1000), 0);
    /* 1500 more: the window opens by 2500 >= MSS */
    us__ring_read(&n->s[B].rx, tmp, 1500);
    assert_int_equal(us__tcp_recvd(b, 1500), EV_OUTPUT);
    assert_int_equal(h_xmit(n, B), 1); /* one ACK for the unacceptable segment and the update */
    assert_int_equal(h_peek(n, B, 0)->window, 2500);
    /* in-window data now partly beyond it: the rest is cut */
    assert_int_equal(inject_a_data(n, 4000, 3000, 0), EV_RX | EV_OUTPUT);
    assert_int_equal(b->rcv_nxt, nxt + 6500);
}

static void test_tcp_established_delayed_ack(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    h_write(n, A, 100);
    h_xmit(n, A);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX);
    us_time due = n->now + 40 * MS;
    assert_true(us__tcp_poll_at(b, n->now) == due);
    assert_int_equal(us__tcp_timers(b, due - 1), 0);
    assert_int_equal(h_xmit(n, B), 0);
    n->now = due;
    assert_int_equal(us__tcp_timers(b, n->now), EV_OUTPUT);
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->ack, b->rcv_nxt);
    assert_true(us__tcp_poll_at(b, n->now) == US_TIME_NEVER);
    h_deliver_all(n, B);

    /* every second segment is acknowledged at once */
    h_write(n, A, 4 * 1460);
    TA(n)->cwnd = 10 * 1460;
    assert_int_equal(h_xmit(n, A), 4);
    unsigned evs[4];
    for (int k = 0; k < 4; k++) {
        evs[k] = h_deliver_nth(n, A, 0);
        h_xmit(n, B);
    }
    assert_int_equal(evs[0], EV_RX);
    assert_int_equal(evs[1], EV_RX | EV_OUTPUT);
    assert_int_equal(evs[2], EV_RX);
    assert_int_equal(evs[3], EV_RX | EV_OUTPUT);
    assert_int_equal(h_count(n, B), 2);

    /* delayed_ack 0: every segment at once */
    n->pr.delayed_ack = 0;
    h_write(n, A, 10);
    h_xmit(n, A);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX | EV_OUTPUT);
}

static void test_tcp_established_window_update_after_read(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 16384, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    assert_int_equal(b->rcv_wscale, 0);
    TA(n)->cwnd = 20 * 1460;
    h_write(n, A, 12000);
    assert_int_equal(h_xmit(n, A), 9);
    h_deliver_all(n, A);
    h_deliver_all(n, B);
    n->now = b->delack_at; /* the 9th segment's ACK */
    assert_int_equal(us__tcp_timers(b, n->now), EV_OUTPUT);
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->window, 16384 - 12000);
    h_drop_all(n, B);
    uint8_t tmp[8192];
    /* under an MSS: no update */
    us__ring_read(&n->s[B].rx, tmp, 1000);
    assert_int_equal(us__tcp_recvd(b, 1000), 0);
    /* an MSS or more while the advertised window is under half the ring: update at once */
    us__ring_read(&n->s[B].rx, tmp, 1000);
    assert_int_equal(us__tcp_recvd(b, 1000), EV_OUTPUT);
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->window, 16384 - 12000 + 2000);
    /* the peer knows of 6384 bytes now; after reading 4000 more it knows of over half the ring */
    us__ring_read(&n->s[B].rx, tmp, 3000);
    assert_int_equal(us__tcp_recvd(b, 3000), EV_OUTPUT);
    h_xmit(n, B);
    us__ring_read(&n->s[B].rx, tmp, 5000);
    assert_int_equal(us__tcp_recvd(b, 5000), 0); /* 9384 known: the next ACK carries it */
}

/* ---- closing ---- */

static void test_tcp_fin_wait_1_active_close(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *a = TA(n), *b = TB(n);
    assert_int_equal(us__tcp_close(a), EV_STATE | EV_OUTPUT);
    assert_int_equal(a->state, US_TCP_FIN_WAIT_1);
    assert_int_equal(us__tcp_close(a), 0);
    assert_int_equal(h_xmit(n, A), 1);
    const us_tcp_repr *fin = h_peek(n, A, 0);
    assert_int_equal(fin->flags, US_TCP_FIN | US_TCP_ACK);
    assert_int_equal(fin->seq, 1001);
    assert_int_equal(fin->ack, 5001);
    assert_int_equal(a->snd_max, 1002);
    assert_true(a->rtx_at != US_TIME_NEVER);

    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX | EV_STATE | EV_OUTPUT);
    assert_int_equal(b->state, US_TCP_CLOSE_WAIT);
    assert_int_equal(b->rcv_nxt, 1002);
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->flags, US_TCP_ACK);
    assert_int_equal(h_peek(n, B, 0)->ack, 1002);

    assert_int_equal(h_deliver_nth(n, B, 0), EV_STATE);
    assert_int_equal(a->state, US_TCP_FIN_WAIT_2);
    assert_true(a->rtx_at == US_TIME_NEVER);
    assert_int_equal(h_xmit(n, A), 0);

    /* B still sends in CLOSE_WAIT; A still receives in FIN_WAIT_2 */
    h_write(n, B, 500);
    assert_int_equal(us__tcp_close(b), EV_STATE | EV_OUTPUT);
    assert_int_equal(b->state, US_TCP_LAST_ACK);
    assert_int_equal(h_xmit(n, B), 1); /* the FIN rides on the data */
    const us_tcp_repr *last = h_peek(n, B, 0);
    assert_int_equal(last->flags, US_TCP_FIN | US_TCP_ACK | US_TCP_PSH);
    assert_int_equal(last->seq, 5001);
    assert_int_equal(last->payload_len, 500);

    assert_int_equal(h_deliver_nth(n, B, 0), EV_RX | EV_STATE | EV_OUTPUT);
    assert_int_equal(a->state, US_TCP_TIME_WAIT);
    assert_int_equal(h_read(n, A), 500);
    us_time tw_end = n->now + 1000 * MS;
    assert_true(a->tw_at == tw_end);
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_peek(n, A, 0)->flags, US_TCP_ACK);
    assert_int_equal(h_peek(n, A, 0)->seq, 1002);
    assert_int_equal(h_peek(n, A, 0)->ack, 5502);

    assert_int_equal(h_deliver_nth(n, A, 0), EV_STATE | EV_CLOSED | EV_TX);
    assert_int_equal(b->state, US_TCP_CLOSED);
    assert_false(b->was_reset);
    assert_int_equal(n->s[B].tx.len, 0);

    /* TIME_WAIT ends exactly at time_wait */
    assert_true(us__tcp_poll_at(a, n->now) == tw_end);
    assert_int_equal(us__tcp_timers(a, tw_end - 1), 0);
    assert_int_equal(a->state, US_TCP_TIME_WAIT);
    assert_int_equal(us__tcp_timers(a, tw_end), EV_STATE | EV_CLOSED);
    assert_int_equal(a->state, US_TCP_CLOSED);
}

static void test_tcp_time_wait_fin_again(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    reach(n, US_TCP_TIME_WAIT);
    us_tcb *a = TA(n);
    h_drop_all(n, A);
    n->now += 500 * MS;
    /* B's FIN again (our ACK was lost): ACK it and restart the 2 MSL wait */
    unsigned ev = h_inject(n, A, US_TCP_FIN | US_TCP_ACK, 5001, 1002, 32768, NULL, 0);
    assert_int_equal(ev, EV_OUTPUT | EV_INVALID);
    assert_true(a->tw_at == n->now + 1000 * MS);
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_peek(n, A, 0)->ack, 5002);
    assert_int_equal(a->state, US_TCP_TIME_WAIT);
}

static void test_tcp_close_wait_passive_close(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *a = TA(n), *b = TB(n);
    /* A sends data and FIN; B's ACK of the FIN is lost, so A retransmits the FIN */
    h_write(n, A, 300);
    us__tcp_close(a);
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_peek(n, A, 0)->flags, US_TCP_ACK | US_TCP_PSH | US_TCP_FIN);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX | EV_STATE | EV_OUTPUT);
    assert_int_equal(b->state, US_TCP_CLOSE_WAIT);
    h_xmit(n, B);
    h_drop_all(n, B);
    n->now = a->rtx_at;
    assert_int_equal(us__tcp_timers(a, n->now), EV_OUTPUT);
    assert_int_equal(h_xmit(n, A), 1);
    const us_tcp_repr *r = h_peek(n, A, 0);
    assert_int_equal(r->flags, US_TCP_ACK | US_TCP_PSH | US_TCP_FIN); /* go-back-N: data + FIN */
    assert_int_equal(r->payload_len, 300);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_OUTPUT | EV_INVALID); /* old: ACK it again */
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->ack, 1302);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_TX | EV_STATE);
    assert_int_equal(a->state, US_TCP_FIN_WAIT_2);
    assert_int_equal(h_read(n, B), 300);
    /* B closes: LAST_ACK, then CLOSED on A's ACK */
    assert_int_equal(us__tcp_close(b), EV_STATE | EV_OUTPUT);
    assert_int_equal(b->state, US_TCP_LAST_ACK);
    h_xmit(n, B);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_RX | EV_STATE | EV_OUTPUT);
    assert_int_equal(a->state, US_TCP_TIME_WAIT);
    h_xmit(n, A);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_STATE | EV_CLOSED);
    assert_int_equal(b->state, US_TCP_CLOSED);
}

static void test_tcp_fin_wait_1_simultaneous_close(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *a = TA(n), *b = TB(n);
    us__tcp_close(a);
    us__tcp_close(b);
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX | EV_STATE | EV_OUTPUT);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_RX | EV_STATE | EV_OUTPUT);
    assert_int_equal(a->state, US_TCP_CLOSING);
    assert_int_equal(b->state, US_TCP_CLOSING);
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, A, 0)->ack, 5002);
    assert_int_equal(h_peek(n, A, 0)->seq, 1002);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_STATE);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_STATE);
    assert_int_equal(a->state, US_TCP_TIME_WAIT);
    assert_int_equal(b->state, US_TCP_TIME_WAIT);
    assert_int_equal(h_xmit(n, A) + h_xmit(n, B), 0);
    us_time end = n->now + 1000 * MS;
    assert_true(us__tcp_poll_at(a, n->now) == end);
    assert_int_equal(us__tcp_timers(a, end), EV_STATE | EV_CLOSED);
    assert_int_equal(us__tcp_timers(b, end), EV_STATE | EV_CLOSED);
}

static void test_tcp_fin_wait_1_fin_and_ack_together(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *a = TA(n), *b = TB(n);
    us__tcp_close(a);
    h_xmit(n, A);
    h_deliver_nth(n, A, 0);
    assert_int_equal(b->state, US_TCP_CLOSE_WAIT);
    h_drop_all(n, B);
    us__tcp_close(b); /* B's FIN also acknowledges A's: FIN_WAIT_1 -> TIME_WAIT directly */
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->ack, 1002);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_RX | EV_STATE | EV_OUTPUT);
    assert_int_equal(a->state, US_TCP_TIME_WAIT);
}

static void test_tcp_syn_rcvd_close_queues_fin(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    reach(n, US_TCP_SYN_RCVD);
    us_tcb *b = TB(n);
    assert_int_equal(us__tcp_close(b), 0);
    assert_int_equal(b->state, US_TCP_SYN_RCVD);
    h_xmit(n, B);
    assert_int_equal(h_count(n, B), 1); /* only the SYN-ACK */
    h_deliver_all(n, B);
    unsigned ev = h_deliver_all(n, A);
    assert_int_equal(ev & (EV_STATE | EV_ACCEPTED | EV_OUTPUT), EV_STATE | EV_ACCEPTED | EV_OUTPUT);
    assert_int_equal(b->state, US_TCP_FIN_WAIT_1);
    assert_int_equal(h_count(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->flags, US_TCP_FIN | US_TCP_ACK);
    assert_int_equal(h_peek(n, B, 0)->seq, 5001);
}

/* ---- unacceptable segments ---- */

static void test_tcp_established_ack_of_unsent_data(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    uint32_t una = b->snd_una;
    uint8_t d[10] = {0};
    pat(A, 0, d, 10);
    unsigned ev = h_inject(n, B, US_TCP_ACK, b->rcv_nxt, b->snd_max + 100,
                           raw_wnd_of_peer(b), d, 10);
    assert_int_equal(ev, EV_OUTPUT | EV_INVALID);
    assert_int_equal(b->snd_una, una);
    assert_int_equal(n->s[B].rx.len, 0); /* the text went with the segment */
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->flags, US_TCP_ACK);
    assert_int_equal(h_peek(n, B, 0)->seq, b->snd_nxt);
    assert_int_equal(h_peek(n, B, 0)->ack, b->rcv_nxt);
    /* an old duplicate ACK (below snd_una) is ignored, the text taken */
    h_write(n, B, 50);
    h_xmit(n, B);
    h_deliver_all(n, B);
    h_deliver_all(n, A); /* A's delayed ACK: nothing yet */
    n->now = TA(n)->delack_at;
    us__tcp_timers(TA(n), n->now);
    h_xmit(n, A);
    h_deliver_all(n, A);
    assert_int_equal(b->snd_una, una + 50);
    ev = h_inject(n, B, US_TCP_ACK, b->rcv_nxt, una, raw_wnd_of_peer(b), d, 10);
    assert_int_equal(ev, EV_RX);
    assert_int_equal(b->snd_una, una + 50);
    assert_int_equal(n->s[B].rx.len, 10);
}

static void test_tcp_established_out_of_window_seq(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    uint8_t d[100] = {0};
    unsigned ev = h_inject(n, B, US_TCP_ACK, b->rcv_nxt + 1000000, b->snd_nxt, raw_wnd_of_peer(b),
                           d, 100);
    assert_int_equal(ev, EV_OUTPUT | EV_INVALID);
    ev = h_inject(n, B, US_TCP_ACK, b->rcv_nxt - 5000, b->snd_nxt, raw_wnd_of_peer(b), d, 100);
    assert_int_equal(ev, EV_OUTPUT | EV_INVALID);
    ev = h_inject(n, B, US_TCP_ACK, b->rcv_nxt - 1, b->snd_nxt, raw_wnd_of_peer(b), NULL, 0);
    assert_int_equal(ev, EV_OUTPUT | EV_INVALID); /* a keep-alive: answered */
    assert_int_equal(h_xmit(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->ack, b->rcv_nxt);
    assert_int_equal(n->s[B].rx.len, 0);
    assert_int_equal(b->state, US_TCP_ESTABLISHED);
    /* a RST out of window is ignored, without an answer */
    h_drop_all(n, B);
    ev = h_inject(n, B, US_TCP_RST, b->rcv_nxt - 1, 0, 0, NULL, 0);
    assert_int_equal(ev, EV_INVALID);
    ev = h_inject(n, B, US_TCP_RST, b->rcv_nxt + 70000, 0, 0, NULL, 0);
    assert_int_equal(ev, EV_INVALID);
    assert_int_equal(h_xmit(n, B), 0);
    assert_int_equal(b->state, US_TCP_ESTABLISHED);
}

static void test_tcp_established_syn_challenge_ack(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    unsigned ev = h_inject(n, B, US_TCP_SYN, b->rcv_nxt + 10, 0, 1000, NULL, 0);
    assert_int_equal(ev, EV_OUTPUT | EV_INVALID);
    assert_int_equal(b->state, US_TCP_ESTABLISHED);
    assert_int_equal(h_xmit(n, B), 1);
    const us_tcp_repr *r = h_peek(n, B, 0);
    assert_int_equal(r->flags, US_TCP_ACK);
    assert_int_equal(r->seq, b->snd_nxt);
    assert_int_equal(r->ack, b->rcv_nxt);
    h_drop_all(n, B);
    ev = h_inject(n, B, US_TCP_SYN | US_TCP_ACK, b->rcv_nxt - 100, b->snd_nxt, 1000, NULL, 0);
    assert_int_equal(ev, EV_OUTPUT | EV_INVALID);
    assert_int_equal(b->state, US_TCP_ESTABLISHED);
    /* no ACK flag: dropped */
    h_drop_all(n, B);
    uint8_t d[5] = {0};
    ev = h_inject(n, B, 0, b->rcv_nxt, 0, 1000, d, 5);
    assert_int_equal(ev, EV_INVALID);
    assert_int_equal(n->s[B].rx.len, 0);
}

/* ---- RST in every state ---- */

/* Bring a TCB into st, give it a RST at rcv_nxt (the peer's view), expect CLOSED. */
static void rst_in_state(void **state, us_tcp_state st)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    reach(n, st);
    int side = (st == US_TCP_SYN_RCVD || st == US_TCP_CLOSE_WAIT || st == US_TCP_LAST_ACK) ? B : A;
    us_tcb *t = &n->s[side].t;
    assert_int_equal(t->state, st);
    /* first a RST just left of the window: ignored */
    unsigned ev = h_inject(n, side, US_TCP_RST, t->rcv_nxt - 1, 0, 0, NULL, 0);
    assert_int_equal(ev, EV_INVALID);
    assert_int_equal(t->state, st);
    /* in window (not exactly rcv_nxt): accepted under the RFC 9293 baseline */
    ev = h_inject(n, side, US_TCP_RST | US_TCP_ACK, t->rcv_nxt + 1, t->snd_nxt, 0, NULL, 0);
    assert_int_equal(ev, EV_STATE | EV_CLOSED);
    assert_int_equal(t->state, US_TCP_CLOSED);
    assert_true(t->was_reset);
    assert_true(us__tcp_poll_at(t, n->now) == US_TIME_NEVER);
}

static void test_tcp_syn_sent_rst(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    reach(n, US_TCP_SYN_SENT);
    us_tcb *a = TA(n);
    /* without an ACK: ignored */
    assert_int_equal(h_inject(n, A, US_TCP_RST, 0, 0, 0, NULL, 0), EV_INVALID);
    /* with an unacceptable ACK: ignored, no RST answered */
    assert_int_equal(h_inject(n, A, US_TCP_RST | US_TCP_ACK, 0, 5, 0, NULL, 0), EV_INVALID);
    assert_int_equal(a->state, US_TCP_SYN_SENT);
    h_drop_all(n, A);
    assert_int_equal(h_xmit(n, A), 0);
    /* acceptable ACK: connection refused */
    assert_int_equal(h_inject(n, A, US_TCP_RST | US_TCP_ACK, 0, 1001, 0, NULL, 0),
                     EV_STATE | EV_CLOSED);
    assert_int_equal(a->state, US_TCP_CLOSED);
    assert_true(a->was_reset);
    /* the same through the wire: a SYN to a closed port is answered by the RST reply */
    n->s[B].listen = false;
    us__tcp_connect(a, n->s[A].ip, n->s[A].port, n->s[B].ip, n->s[B].port, 3000, n->now);
    h_xmit(n, A);
    h_deliver_all(n, A); /* B (CLOSED) answers with us__tcp_rst_reply */
    const us_tcp_repr *r = h_peek(n, B, 0);
    assert_int_equal(r->flags, US_TCP_RST | US_TCP_ACK);
    assert_int_equal(r->seq, 0);
    assert_int_equal(r->ack, 3001);
    assert_int_equal(h_deliver_all(n, B), EV_STATE | EV_CLOSED);
    assert_int_equal(a->state, US_TCP_CLOSED);
}

static void test_tcp_closed_rst_reply(void **state)
{
    (void)state;
    us_tcp_repr seg, rst;
    memset(&seg, 0, sizeof(seg));
    seg.src_port = 1;
    seg.dst_port = 2;
    seg.seq = 100;
    seg.ack = 555;
    seg.flags = US_TCP_ACK | US_TCP_FIN;
    seg.payload_len = 10;
    assert_int_equal(us__tcp_rst_reply(&seg, &rst), 1);
    assert_int_equal(rst.flags, US_TCP_RST);
    assert_int_equal(rst.seq, 555);
    assert_int_equal(rst.src_port, 2);
    assert_int_equal(rst.dst_port, 1);
    seg.flags = US_TCP_SYN | US_TCP_FIN;
    assert_int_equal(us__tcp_rst_reply(&seg, &rst), 1);
    assert_int_equal(rst.flags, US_TCP_RST | US_TCP_ACK);
    assert_int_equal(rst.seq, 0);
    assert_int_equal(rst.ack, 112);
    seg.flags = US_TCP_RST | US_TCP_ACK;
    assert_int_equal(us__tcp_rst_reply(&seg, &rst), 0);
}

static void test_tcp_syn_rcvd_rst(void **state)
{
    rst_in_state(state, US_TCP_SYN_RCVD);
}

static void test_tcp_established_rst(void **state)
{
    rst_in_state(state, US_TCP_ESTABLISHED);
}

static void test_tcp_fin_wait_1_rst(void **state)
{
    rst_in_state(state, US_TCP_FIN_WAIT_1);
}

static void test_tcp_fin_wait_2_rst(void **state)
{
    rst_in_state(state, US_TCP_FIN_WAIT_2);
}

static void test_tcp_close_wait_rst(void **state)
{
    rst_in_state(state, US_TCP_CLOSE_WAIT);
}

static void test_tcp_closing_rst(void **state)
{
    rst_in_state(state, US_TCP_CLOSING);
}

static void test_tcp_last_ack_rst(void **state)
{
    rst_in_state(state, US_TCP_LAST_ACK);
}

static void test_tcp_time_wait_rst(void **state)
{
    rst_in_state(state, US_TCP_TIME_WAIT);
}

static void test_tcp_established_rst_with_zero_window(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 2000, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    assert_int_equal(inject_a_data(n, 0, 2000, 0) & EV_RX, EV_RX); /* B's window is now 0 */
    h_xmit(n, B);
    assert_int_equal(h_inject(n, B, US_TCP_RST, b->rcv_nxt + 1, 0, 0, NULL, 0), EV_INVALID);
    assert_int_equal(h_inject(n, B, US_TCP_RST, b->rcv_nxt, 0, 0, NULL, 0), EV_STATE | EV_CLOSED);
}

/* ---- loss recovery ---- */

static void test_tcp_established_fast_retransmit(void **state)
{
    h_net *n = h_new(state, 65536, 262144, 262144, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *a = TA(n);
    const uint32_t mss = 1460;
    a->cwnd = 10 * mss;
    h_write(n, A, 10 * mss);
    assert_int_equal(h_xmit(n, A), 10);
    h_drop(n, A, 2);
    h_deliver_all(n, A); /* B: ACK after two segments, then a duplicate for each of the 7 others */
    assert_int_equal(h_count(n, B), 8);
    for (uint32_t k = 1; k < 8; k++)
        assert_int_equal(h_peek(n, B, k)->ack, 1001 + 2 * mss);

    assert_int_equal(h_deliver_nth(n, B, 0), EV_TX);
    assert_int_equal(a->cwnd, 11 * mss);
    assert_int_equal(h_deliver_nth(n, B, 0), 0);
    assert_int_equal(h_deliver_nth(n, B, 0), 0);
    assert_int_equal(a->dupacks, 2);
    assert_false(a->in_recovery);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_OUTPUT); /* third duplicate */
    assert_true(a->in_recovery);
    assert_int_equal(a->ssthresh, 4 * mss); /* flight 8 MSS / 2 */
    assert_int_equal(a->cwnd, 7 * mss);     /* ssthresh + 3 MSS */
    assert_int_equal(a->recover, 1001 + 10 * mss);
    assert_int_equal(a->fast_retransmits, 1);
    assert_int_equal(h_xmit(n, A), 1);
    const us_tcp_repr *r = h_peek(n, A, 0);
    assert_int_equal(r->seq, 1001 + 2 * mss);
    assert_int_equal(r->payload_len, mss);
    assert_int_equal(a->retransmits, 1);
    assert_int_equal(a->snd_nxt, 1001 + 10 * mss);
    for (int k = 0; k < 4; k++)
        h_deliver_nth(n, B, 0);
    assert_int_equal(a->cwnd, 11 * mss); /* inflated by one MSS per further duplicate */
    assert_int_equal(h_xmit(n, A), 0);   /* nothing new queued */

    h_deliver_all(n, A); /* the retransmission fills the gap: B acknowledges everything */
    assert_int_equal(h_peek(n, B, 0)->ack, 1001 + 10 * mss);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_TX);
    assert_false(a->in_recovery);
    assert_int_equal(a->cwnd, 2 * mss); /* min(ssthresh, max(flight 0, MSS) + MSS) */
    assert_int_equal(a->dupacks, 0);
    assert_int_equal(n->s[A].tx.len, 0);
    assert_true(a->rtx_at == US_TIME_NEVER);
    assert_int_equal(h_read(n, B), 10 * mss);
}

static void test_tcp_established_newreno_partial_ack(void **state)
{
    h_net *n = h_new(state, 65536, 262144, 262144, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *a = TA(n);
    const uint32_t mss = 1460;
    a->cwnd = 10 * mss;
    h_write(n, A, 11 * mss);
    assert_int_equal(h_xmit(n, A), 10); /* segments 0..9 */
    h_drop(n, A, 5);
    h_drop(n, A, 2);
    h_deliver_all(n, A);
    assert_int_equal(h_count(n, B), 7); /* ACK of 0-1, then a duplicate for 3, 4, 6, 7, 8, 9 */
    assert_int_equal(h_deliver_nth(n, B, 0), EV_TX | EV_OUTPUT);
    assert_int_equal(a->cwnd, 11 * mss);
    assert_int_equal(h_xmit(n, A), 1); /* the window grew: segment 10 goes, and is lost too */
    h_drop_all(n, A);
    h_deliver_nth(n, B, 0);
    h_deliver_nth(n, B, 0);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_OUTPUT);
    assert_true(a->in_recovery);
    uint32_t flight = 9 * mss; /* segments 2..10 */
    assert_int_equal(a->ssthresh, flight / 2);
    assert_int_equal(a->cwnd, flight / 2 + 3 * mss);
    assert_int_equal(a->recover, 1001 + 11 * mss);
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_peek(n, A, 0)->seq, 1001 + 2 * mss);
    for (int k = 0; k < 3; k++)
        h_deliver_nth(n, B, 0);
    assert_int_equal(h_count(n, B), 0);
    uint32_t cwnd = flight / 2 + 6 * mss;
    assert_int_equal(a->cwnd, cwnd);
    assert_int_equal(h_xmit(n, A), 0);

    /* the retransmission fills the first hole: a partial ACK up to the second */
    h_deliver_all(n, A);
    assert_int_equal(h_count(n, B), 1);
    assert_int_equal(h_peek(n, B, 0)->ack, 1001 + 5 * mss);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_TX | EV_OUTPUT);
    assert_true(a->in_recovery);
    cwnd = cwnd - 3 * mss + mss; /* deflate by what was acknowledged, add back one MSS */
    assert_int_equal(a->cwnd, cwnd);
    assert_int_equal(h_xmit(n, A), 1); /* the next hole */
    assert_int_equal(h_peek(n, A, 0)->seq, 1001 + 5 * mss);
    assert_int_equal(a->retransmits, 2);
    assert_int_equal(a->fast_retransmits, 1);

    /* the second hole filled: B acknowledges up to the lost segment 10, still short of recover */
    h_deliver_all(n, A);
    assert_int_equal(h_peek(n, B, 0)->ack, 1001 + 10 * mss);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_TX | EV_OUTPUT);
    assert_true(a->in_recovery);
    cwnd = cwnd - 5 * mss + mss;
    assert_int_equal(a->cwnd, cwnd);
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_peek(n, A, 0)->seq, 1001 + 10 * mss);
    assert_int_equal(a->retransmits, 3);

    /* the full ACK ends recovery: cwnd = min(ssthresh, max(flight, MSS) + MSS). The last
     * segment filled no gap B held: its ACK waits for the delayed-ACK timer. */
    h_deliver_all(n, A);
    assert_int_equal(h_count(n, B), 0);
    n->now = TB(n)->delack_at;
    assert_int_equal(us__tcp_timers(TB(n), n->now), EV_OUTPUT);
    h_xmit(n, B);
    assert_int_equal(h_peek(n, B, 0)->ack, 1001 + 11 * mss);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_TX);
    assert_false(a->in_recovery);
    assert_int_equal(a->cwnd, 2 * mss);
    assert_int_equal(a->ssthresh, flight / 2);
    assert_int_equal(h_read(n, B), 11 * mss);
    assert_int_equal(a->fast_retransmits, 1);
}

static void test_tcp_established_rto_full_window_lost(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *a = TA(n);
    const uint32_t mss = 1460;
    assert_true(a->rto == 200 * MS); /* handshake RTT 2 ms: rto_min */
    h_write(n, A, 3 * mss);
    assert_int_equal(h_xmit(n, A), 3); /* IW */
    h_drop_all(n, A);
    us_time t0 = n->now;
    assert_true(us__tcp_poll_at(a, n->now) == t0 + 200 * MS);

    n->now = t0 + 200 * MS;
    assert_int_equal(us__tcp_timers(a, n->now), EV_OUTPUT);
    assert_int_equal(a->timeouts, 1);
    assert_int_equal(a->ssthresh, 2 * mss); /* max(3 MSS / 2, 2 MSS) */
    assert_int_equal(a->cwnd, mss);
    assert_true(a->rto == 400 * MS);
    assert_int_equal(a->snd_nxt, a->snd_una);
    assert_int_equal(h_xmit(n, A), 1); /* one segment: cwnd 1 MSS */
    assert_int_equal(h_peek(n, A, 0)->seq, a->snd_una);
    assert_int_equal(h_peek(n, A, 0)->payload_len, mss);
    assert_int_equal(a->retransmits, 1);
    h_drop_all(n, A);

    n->now = t0 + 600 * MS;
    assert_true(us__tcp_poll_at(a, n->now - 1) == n->now);
    assert_int_equal(us__tcp_timers(a, n->now), EV_OUTPUT);
    assert_true(a->rto == 800 * MS);
    assert_int_equal(a->ssthresh, 2 * mss); /* held on a second timeout of the same segment */
    assert_int_equal(a->timeouts, 2);
    assert_int_equal(h_xmit(n, A), 1);

    /* it arrives; B's delayed ACK; go-back-N continues in slow start */
    h_deliver_all(n, A);
    n->now = TB(n)->delack_at;
    us__tcp_timers(TB(n), n->now);
    h_xmit(n, B);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_TX | EV_OUTPUT);
    assert_int_equal(a->cwnd, 2 * mss);
    assert_true(a->rto == 200 * MS); /* back-off ends with the new ACK (no RTT sample: Karn) */
    assert_true(a->srtt == 2 * MS);
    assert_int_equal(a->retries, 0);
    assert_int_equal(h_xmit(n, A), 2);
    assert_int_equal(a->retransmits, 4);
    n->hold = false;
    n->s[B].app_reads = true;
    h_run_until(n, n->now + 1000 * MS);
    assert_int_equal(n->s[B].app_rcvd, 3 * mss);
    assert_int_equal(a->snd_una, a->snd_max);
}

static void test_tcp_established_rtt_estimate(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *a = TA(n);
    a->have_rtt = false;
    us_time samples[] = {100 * MS, 200 * MS, 50 * MS};
    us_time srtt[] = {100 * MS, 112500000, 104687500};
    us_time rttvar[] = {50 * MS, 62500000, 62500000};
    for (int k = 0; k < 3; k++) {
        h_write(n, A, 100);
        assert_int_equal(h_xmit(n, A), 1);
        h_drop_all(n, A);
        n->now += samples[k];
        unsigned ev = h_inject(n, A, US_TCP_ACK, a->rcv_nxt, a->snd_max, raw_wnd_of_peer(a),
                               NULL, 0);
        assert_int_equal(ev & EV_TX, EV_TX);
        assert_true(a->srtt == srtt[k]);
        assert_true(a->rttvar == rttvar[k]);
        assert_true(a->rto == srtt[k] + 4 * rttvar[k]);
    }
    /* Karn: a retransmitted segment gives no sample; the RTO comes back from the estimate */
    h_write(n, A, 100);
    h_xmit(n, A);
    h_drop_all(n, A);
    n->now = a->rtx_at;
    us__tcp_timers(a, n->now);
    assert_true(a->rto == 2 * (srtt[2] + 4 * rttvar[2]));
    h_xmit(n, A);
    h_drop_all(n, A);
    n->now += 10 * MS;
    h_inject(n, A, US_TCP_ACK, a->rcv_nxt, a->snd_max, raw_wnd_of_peer(a), NULL, 0);
    assert_true(a->srtt == srtt[2]);
    assert_true(a->rttvar == rttvar[2]);
    assert_true(a->rto == srtt[2] + 4 * rttvar[2]);
    /* the RTO is clamped to [rto_min, rto_max] */
    n->pr.rto_max = 300 * MS;
    h_write(n, A, 100);
    h_xmit(n, A);
    h_drop_all(n, A);
    n->now += 1 * MS;
    h_inject(n, A, US_TCP_ACK, a->rcv_nxt, a->snd_max, raw_wnd_of_peer(a), NULL, 0);
    assert_true(a->rto == 300 * MS);
}

static void test_tcp_established_old_segment_ack_kept(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    h_write(n, B, 1000);
    h_xmit(n, B);
    h_drop_all(n, B);
    uint32_t una = b->snd_una;
    /* a pure ACK left of the window (the peer pulled snd_nxt back): its ACK still counts */
    unsigned ev = h_inject(n, B, US_TCP_ACK, b->rcv_nxt - 100, una + 1000, raw_wnd_of_peer(b),
                           NULL, 0);
    assert_int_equal(ev, EV_TX | EV_OUTPUT | EV_INVALID);
    assert_int_equal(b->snd_una, una + 1000);
    assert_int_equal(n->s[B].tx.len, 0);
    assert_true(b->rtx_at == US_TIME_NEVER);
    /* ... but is never a duplicate ACK */
    h_write(n, B, 3000);
    h_xmit(n, B);
    for (int k = 0; k < 4; k++)
        h_inject(n, B, US_TCP_ACK, b->rcv_nxt - 1, b->snd_una, raw_wnd_of_peer(b), NULL, 0);
    assert_int_equal(b->dupacks, 0);
    assert_int_equal(b->fast_retransmits, 0);
}

static void test_tcp_established_ack_seq_after_go_back(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *a = TA(n);
    h_write(n, A, 3 * 1460);
    h_xmit(n, A);
    h_deliver_all(n, A); /* B has it all; its ACKs are lost */
    h_drop_all(n, B);
    n->now = a->rtx_at;
    us__tcp_timers(a, n->now);
    assert_int_equal(a->snd_nxt, a->snd_una);
    h_drop_all(n, A);
    h_xmit(n, A);
    h_drop_all(n, A);
    /* data from B: A's ACK carries snd_max, which B (rcv_nxt == A's snd_max) accepts */
    h_write(n, B, 10);
    h_xmit(n, B);
    n->pr.delayed_ack = 0;
    h_deliver_all(n, B);
    assert_int_equal(h_peek(n, A, 0)->seq, a->snd_max);
    assert_int_equal(h_peek(n, A, 0)->payload_len, 0);
    assert_int_equal(h_deliver_all(n, A) & EV_INVALID, 0);
}

static void test_tcp_established_limited_transmit(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *a = TA(n);
    /* one exchange first, so that B's window is the one its duplicates repeat (the SYN-ACK's
     * unscaled window differs from the first scaled one, which makes it a window update) */
    n->pr.delayed_ack = 0;
    h_write(n, A, 100);
    h_xmit(n, A);
    h_deliver_all(n, A);
    h_deliver_all(n, B);
    a->cwnd = 4 * 1460;
    h_write(n, A, 8 * 1460);
    assert_int_equal(h_xmit(n, A), 4);
    h_drop(n, A, 0);
    h_deliver_all(n, A); /* three duplicate ACKs */
    assert_int_equal(h_count(n, B), 3);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_OUTPUT);
    assert_int_equal(h_xmit(n, A), 1); /* RFC 3042: one new segment on the first duplicate */
    assert_int_equal(h_peek(n, A, 0)->seq, 1101 + 4 * 1460);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_OUTPUT);
    assert_int_equal(h_xmit(n, A), 1); /* and one on the second */
    assert_int_equal(a->cwnd, 4 * 1460);
    assert_int_equal(h_deliver_nth(n, B, 0), EV_OUTPUT);
    assert_true(a->in_recovery);
    assert_int_equal(a->ssthresh, 3 * 1460); /* flight 6 MSS at the third duplicate */
    assert_int_equal(h_xmit(n, A), 1);
    assert_int_equal(h_peek(n, A, 2)->seq, 1101);
}

static void test_tcp_established_cwnd_not_grown_when_app_limited(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    us_tcb *a = TA(n);
    n->s[B].app_reads = true;
    /* 100 bytes at a time, each acknowledged before the next: the flight never fills cwnd */
    for (int k = 0; k < 50; k++) {
        h_write(n, A, 100);
        h_run_until(n, n->now + 100 * MS);
    }
    assert_int_equal(a->cwnd, 4380);
    assert_int_equal(n->s[B].app_rcvd, 5000);
}

/* ---- persist ---- */

static void test_tcp_established_zero_window_probe(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 8192, 65536);
    n->pr.max_retries = 5; /* probes go on past it while the peer answers */
    h_establish(n);
    us_tcb *a = TA(n), *b = TB(n);
    h_write(n, A, 20000);
    h_run_until(n, n->now + 1000 * MS); /* B's application does not read: its window closes */
    assert_int_equal(n->s[B].rx.len, 8192);
    assert_int_equal(a->snd_wnd, 0);
    assert_true(a->persist);
    assert_true(a->snd_max - a->snd_una <= 1); /* at most a probe byte out */
    assert_int_equal(n->s[A].tx.len, 20000 - 8192);

    n->hold = true;
    us_time prev = 0, gap = 0;
    for (int k = 0; k < 10; k++) {
        us_time at = us__tcp_poll_at(a, n->now);
        assert_true(at > n->now && at != US_TIME_NEVER);
        if (prev) {
            us_time g = at - prev;
            if (gap)
                assert_true(g == (2 * gap < 60000 * MS ? 2 * gap : 60000 * MS));
            gap = g;
        }
        prev = at;
        n->now = at;
        assert_int_equal(us__tcp_timers(a, n->now), EV_OUTPUT);
        assert_int_equal(h_xmit(n, A), 1);
        const us_tcp_repr *r = h_peek(n, A, 0);
        assert_int_equal(r->payload_len, 1);
        assert_int_equal(r->seq, a->snd_una);
        h_deliver_all(n, A);   /* B: no room; answers with window 0 */
        assert_int_equal(h_peek(n, B, 0)->window, 0);
        assert_int_equal(h_deliver_all(n, B) & EV_CLOSED, 0);
        assert_int_equal(a->state, US_TCP_ESTABLISHED);
        assert_true(a->persist);
    }
    assert_true(gap >= 60000 * MS / 2);
    assert_int_equal(a->timeouts, 0);  /* probes are not losses */
    assert_int_equal(a->cwnd >= 1460, 1);

    /* B reads: the window update restarts the transfer */
    n->hold = false;
    n->s[B].app_reads = true;
    h_app(n);
    h_run_until(n, n->now + 5000 * MS);
    assert_false(a->persist);
    assert_int_equal(n->s[B].app_rcvd, 20000);
    assert_int_equal(n->s[A].tx.len, 0);
    assert_true(b->rcv_nxt == a->snd_max);
}

static void test_tcp_established_zero_window_probe_gives_up(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 8192, 65536);
    n->pr.max_retries = 3;
    h_establish(n);
    us_tcb *a = TA(n);
    h_write(n, A, 20000);
    h_run_until(n, n->now + 1000 * MS);
    assert_true(a->persist);
    /* the peer vanishes: unanswered probes count towards max_retries */
    n->hold = true;
    for (int k = 0; k < 3; k++) {
        n->now = us__tcp_poll_at(a, n->now);
        assert_int_equal(us__tcp_timers(a, n->now), EV_OUTPUT);
        assert_int_equal(h_xmit(n, A), 1);
        h_drop_all(n, A);
    }
    n->now = us__tcp_poll_at(a, n->now);
    assert_int_equal(us__tcp_timers(a, n->now), EV_STATE | EV_CLOSED);
    assert_int_equal(a->state, US_TCP_CLOSED);
}

static void test_tcp_established_queued_into_zero_window(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 8192, 65536);
    h_establish(n);
    us_tcb *a = TA(n);
    h_write(n, A, 8192);
    h_run_until(n, n->now + 1000 * MS);
    assert_int_equal(a->snd_wnd, 0);
    assert_false(a->persist); /* nothing queued: nothing to probe for */
    assert_true(us__tcp_poll_at(a, n->now) == US_TIME_NEVER);
    n->hold = true;
    h_write(n, A, 10);
    assert_int_equal(n->s[A].ev & EV_OUTPUT, EV_OUTPUT);
    assert_int_equal(h_xmit(n, A), 1); /* a probe at once, then the timer paces the next ones */
    assert_int_equal(h_peek(n, A, 0)->payload_len, 1);
    assert_true(a->persist);
    assert_true(a->rtx_at != US_TIME_NEVER);
    n->hold = false;
    n->s[B].app_reads = true;
    h_app(n);
    h_run_until(n, n->now + 5000 * MS);
    assert_int_equal(n->s[B].app_rcvd, 8202);
}

/* ---- out-of-order queue ---- */

static void test_tcp_established_ooseq_fin(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    uint32_t nxt = b->rcv_nxt;
    h_write(n, A, 2000);
    us__tcp_close(TA(n));
    assert_int_equal(h_xmit(n, A), 2);
    assert_int_equal(h_peek(n, A, 1)->flags & US_TCP_FIN, US_TCP_FIN);
    assert_int_equal(h_deliver_nth(n, A, 1), EV_OUTPUT); /* data + FIN out of order: held */
    assert_int_equal(b->state, US_TCP_ESTABLISHED);
    assert_int_equal(b->ooseq_n, 1);
    assert_true(b->ooseq[0].fin);
    h_xmit(n, B);
    assert_int_equal(h_peek(n, B, 0)->ack, nxt); /* duplicate ACK at once */
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX | EV_STATE | EV_OUTPUT);
    assert_int_equal(b->state, US_TCP_CLOSE_WAIT);
    assert_int_equal(b->rcv_nxt, nxt + 2001);
    assert_int_equal(b->ooseq_n, 0);
    assert_int_equal(h_read(n, B), 2000);

    /* a bare FIN ahead of the data it follows */
    us__tcp_reset(TA(n));
    us__tcp_reset(TB(n));
    h_drop_all(n, A);
    h_drop_all(n, B);
    us__ring_init(&n->s[A].tx, n->s[A].txmem, 65536);
    us__ring_init(&n->s[B].rx, n->s[B].rxmem, 65536);
    n->s[A].app_sent = n->s[B].app_rcvd = 0;
    h_establish(n);
    n->hold = true;
    nxt = b->rcv_nxt;
    h_write(n, A, 1000);
    h_xmit(n, A);
    us__tcp_close(TA(n));
    h_xmit(n, A);
    assert_int_equal(h_peek(n, A, 1)->flags, US_TCP_FIN | US_TCP_ACK);
    assert_int_equal(h_peek(n, A, 1)->payload_len, 0);
    assert_int_equal(h_deliver_nth(n, A, 1), EV_OUTPUT);
    assert_int_equal(b->ooseq_n, 1);
    assert_null(b->ooseq[0].p);
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX | EV_STATE | EV_OUTPUT);
    assert_int_equal(b->state, US_TCP_CLOSE_WAIT);
    assert_int_equal(b->rcv_nxt, nxt + 1001);
    assert_int_equal(h_read(n, B), 1000);
}

static void test_tcp_established_ooseq_full_drop(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    n->pr.ooseq_max = 2;
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    TA(n)->cwnd = 10 * 1460;
    h_write(n, A, 5 * 1460);
    assert_int_equal(h_xmit(n, A), 5);
    assert_int_equal(h_deliver_nth(n, A, 1), EV_OUTPUT);
    assert_int_equal(h_deliver_nth(n, A, 1), EV_OUTPUT);
    assert_int_equal(b->ooseq_n, 2);
    assert_int_equal(h_deliver_nth(n, A, 1), EV_OUTPUT | EV_OOSEQ_FULL);
    assert_int_equal(b->ooseq_n, 2);
    /* the gap fills: the two held segments follow at once */
    assert_int_equal(h_deliver_nth(n, A, 0), EV_RX | EV_OUTPUT);
    assert_int_equal(b->ooseq_n, 0);
    assert_int_equal(n->s[B].rx.len, 3 * 1460);
    /* the dropped one comes again later; all arrives */
    n->hold = false;
    n->s[B].app_reads = true;
    h_run_until(n, n->now + 5000 * MS);
    assert_int_equal(n->s[B].app_rcvd, 5 * 1460);
    /* ooseq_max 0: nothing is ever held */
    n->pr.ooseq_max = 0;
    assert_int_equal(inject_a_data(n, 5 * 1460 + 100, 10, 0), EV_OUTPUT | EV_OOSEQ_FULL);
    assert_int_equal(b->ooseq_n, 0);
}

static void test_tcp_established_ooseq_free(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    const us_mem_stats *pool = &n->bufs->pools[US_POOL_PBUF_POOL].stats;
    assert_int_equal(pool->used, 0);
    inject_a_data(n, 1000, 1000, 0);
    inject_a_data(n, 3000, 1000, 0);
    inject_a_data(n, 5000, 1000, US_TCP_FIN);
    assert_int_equal(b->ooseq_n, 3);
    assert_true(pool->used >= 3 * 2); /* 1000 bytes need two 512-byte blocks each */
    assert_int_equal(us__tcp_ooseq_free(b), 3);
    assert_int_equal(b->ooseq_n, 0);
    assert_int_equal(pool->used, 0);
    assert_int_equal(us__tcp_ooseq_free(b), 0);
    /* the data comes again and is taken normally */
    inject_a_data(n, 1000, 1000, 0);
    assert_int_equal(inject_a_data(n, 0, 1000, 0), EV_RX | EV_OUTPUT);
    assert_int_equal(h_read(n, B), 2000);
    /* abort and reset free what is held too */
    inject_a_data(n, 3000, 1000, 0);
    assert_int_equal(b->ooseq_n, 1);
    us__tcp_abort(b);
    assert_int_equal(b->ooseq_n, 0);
    assert_int_equal(pool->used, 0);
}

static void test_tcp_established_ooseq_overlaps(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    uint32_t base = b->rcv_nxt;
    inject_a_data(n, 100, 100, 0);
    inject_a_data(n, 300, 100, 0);
    inject_a_data(n, 150, 200, 0); /* overlaps both: only [200, 300) is new */
    assert_int_equal(b->ooseq_n, 3);
    assert_int_equal(b->ooseq[0].seq, base + 100);
    assert_int_equal(b->ooseq[1].seq, base + 200);
    assert_int_equal(b->ooseq[1].p->tot_len, 100);
    assert_int_equal(b->ooseq[2].seq, base + 300);
    inject_a_data(n, 50, 400, 0); /* covers all three: replaces them */
    assert_int_equal(b->ooseq_n, 1);
    assert_int_equal(b->ooseq[0].seq, base + 50);
    assert_int_equal(b->ooseq[0].p->tot_len, 400);
    inject_a_data(n, 500, 100, 0);
    inject_a_data(n, 500, 100, 0); /* duplicate */
    inject_a_data(n, 520, 20, 0);  /* inside */
    assert_int_equal(b->ooseq_n, 2);
    inject_a_data(n, 480, 40, 0); /* [480, 500) new, the rest held */
    assert_int_equal(b->ooseq_n, 3);
    assert_int_equal(b->ooseq[1].seq, base + 480);
    assert_int_equal(b->ooseq[1].p->tot_len, 20);
    /* the gap before 50 fills: everything up to 450 in order; [450, 480) still missing */
    assert_int_equal(inject_a_data(n, 0, 60, 0), EV_RX | EV_OUTPUT);
    assert_int_equal(b->rcv_nxt, base + 450);
    assert_int_equal(b->ooseq_n, 2);
    assert_int_equal(inject_a_data(n, 440, 40, 0), EV_RX | EV_OUTPUT);
    assert_int_equal(b->rcv_nxt, base + 600);
    assert_int_equal(b->ooseq_n, 0);
    assert_int_equal(h_read(n, B), 600);
}

static void test_tcp_established_ooseq_random(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    n->pr.ooseq_max = H_OOMAX;
    h_establish(n);
    n->hold = true;
    us_tcb *b = TB(n);
    us_test_rng rng = {7};
    uint32_t total = 0;
    for (int round = 0; round < 20; round++) {
        const uint32_t span = 3000;
        for (int k = 0; k < 40; k++) {
            uint32_t off = us_test_below(&rng, span);
            uint32_t len = 1 + us_test_below(&rng, 300);
            if (off + len > span)
                len = span - off;
            bool old = (int32_t)(n->s[A].iss + 1 + total + off + len - b->rcv_nxt) <= 0;
            unsigned ev = inject_a_data(n, total + off, len, 0);
            assert_int_equal(ev & EV_INVALID, old ? EV_INVALID : 0);
            for (uint32_t i = 1; i < b->ooseq_n; i++) { /* sorted, disjoint */
                uint32_t end = b->ooseq[i - 1].seq + b->ooseq[i - 1].p->tot_len;
                assert_true((int32_t)(b->ooseq[i].seq - end) >= 0);
            }
        }
        inject_a_data(n, total, span, 0);
        assert_int_equal(b->ooseq_n, 0);
        total += span;
        assert_int_equal(b->rcv_nxt, n->s[A].iss + 1 + total);
        assert_int_equal(h_read(n, B), span);
    }
}

/* ---- whole transfers ---- */

/* Both sides send their goal, close, and read everything; run until both are CLOSED. */
static void transfer(h_net *n, uint64_t a_goal, uint64_t b_goal)
{
    n->s[A].goal = a_goal;
    n->s[B].goal = b_goal;
    n->s[A].app_reads = n->s[B].app_reads = true;
    h_app(n);
    h_xmit(n, A);
    h_xmit(n, B);
    h_run_until(n, US_TIME_NEVER);
    assert_int_equal(n->s[B].app_rcvd, a_goal);
    assert_int_equal(n->s[A].app_rcvd, b_goal);
    assert_int_equal(TA(n)->state, US_TCP_CLOSED);
    assert_int_equal(TB(n)->state, US_TCP_CLOSED);
    assert_false(TA(n)->was_reset);
    assert_false(TB(n)->was_reset);
    assert_int_equal(n->qn, 0);
}

static void test_tcp_established_seq_wraparound(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    n->s[A].iss = 0xffffffffu - 5000;
    n->s[B].iss = 0xfffffff0u;
    h_establish(n);
    assert_true(TA(n)->snd_una > 0xffff0000u);
    transfer(n, 300000, 200000);
    assert_true(TA(n)->snd_una < 400000); /* wrapped */
    assert_true(TB(n)->snd_una < 400000);
}

static void test_tcp_established_seq_wraparound_with_loss(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    n->s[A].iss = 0xffffffffu - 100000;
    n->s[B].iss = 0x7ffffff0u;
    h_establish(n);
    n->loss_ppm[A] = n->loss_ppm[B] = 20000;
    n->reorder_ppm = 20000;
    transfer(n, 1000000, 300000);
}

static uint64_t bulk_bytes(void)
{
    const char *e = getenv("TCP_BULK_MB");
    uint64_t mb = e ? strtoull(e, NULL, 10) : 4;
    return (mb ? mb : 4) << 20;
}

static void bulk(void **state, uint32_t loss_ppm, uint32_t reorder_ppm, uint64_t seed)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    n->rng.s = seed;
    h_establish(n);
    n->loss_ppm[A] = n->loss_ppm[B] = loss_ppm;
    n->reorder_ppm = reorder_ppm;
    uint64_t bytes = bulk_bytes();
    us_time t0 = n->now;
    transfer(n, bytes, bytes / 8);
    print_message("bulk %llu B, loss %u ppm, reorder %u ppm: %.3f s virtual, %u drops, "
                  "A: %u retransmits (%u fast, %u timeouts), B: %u retransmits\n",
                  (unsigned long long)bytes, loss_ppm, reorder_ppm,
                  (double)(n->now - t0) / 1e9, n->drops, TA(n)->retransmits,
                  TA(n)->fast_retransmits, TA(n)->timeouts, TB(n)->retransmits);
    if (loss_ppm == 0 && reorder_ppm == 0) {
        assert_int_equal(TA(n)->retransmits, 0);
        assert_int_equal(TB(n)->retransmits, 0);
    }
}

static void test_tcp_established_bulk_no_loss(void **state)
{
    bulk(state, 0, 0, 1);
}

static void test_tcp_established_bulk_reorder(void **state)
{
    bulk(state, 0, 50000, 2);
}

static void test_tcp_established_bulk_loss_1pct(void **state)
{
    bulk(state, 10000, 10000, 3);
}

static void test_tcp_established_bulk_timestamps(void **state)
{
    h_net *n = h_new(state, 65536, 65536, 65536, 65536);
    n->pr.timestamps = true;
    n->rng.s = 5;
    h_establish(n);
    assert_true(TA(n)->ts_ok);
    n->loss_ppm[A] = n->loss_ppm[B] = 20000;
    n->reorder_ppm = 10000;
    transfer(n, 2u << 20, 1u << 20);
}

static void test_tcp_established_bulk_loss_5pct(void **state)
{
    bulk(state, 50000, 20000, 4);
}

static void test_tcp_established_bulk_small_rings(void **state)
{
    h_net *n = h_new(state, 3000, 5000, 2000, 7000);
    n->rng.s = 9;
    n->pr.mss = 536;
    h_establish(n);
    n->loss_ppm[A] = n->loss_ppm[B] = 10000;
    n->reorder_ppm = 10000;
    transfer(n, 300000, 200000);
}

static void test_tcp_established_bulk_ram_pbufs_no_delack(void **state)
{
    h_net *n = h_new(state, 131072, 65536, 262144, 131072);
    n->ptype = US_PBUF_RAM;
    n->pr.delayed_ack = 0;
    n->rng.s = 11;
    h_establish(n);
    n->loss_ppm[A] = n->loss_ppm[B] = 5000;
    n->reorder_ppm = 5000;
    transfer(n, 2u << 20, 1u << 20);
}

/* ---- robustness: random segments against every state ---- */

static void check_invariants(h_net *n, int i)
{
    const us_tcb *t = &n->s[i].t;
    const h_side *s = &n->s[i];
    assert_true(s->rx.len <= s->rx.cap);
    assert_true(t->ooseq_n <= t->params->ooseq_max);
    if (t->state == US_TCP_CLOSED || t->state == US_TCP_LISTEN)
        return;
    assert_true((int32_t)(t->snd_nxt - t->snd_una) >= 0);
    assert_true((int32_t)(t->snd_max - t->snd_nxt) >= 0);
    assert_true(t->snd_max - t->snd_una <= s->tx.len + 2);
    if (t->state >= US_TCP_ESTABLISHED)
        assert_true(t->cwnd >= t->snd_mss);
    uint32_t free_ = us__ring_free(&s->rx);
    for (uint32_t k = 0; k < t->ooseq_n; k++) {
        const us_tcp_ooseg *o = &t->ooseq[k];
        uint32_t len = o->p ? o->p->tot_len : 0;
        assert_true((int32_t)(o->seq - t->rcv_nxt) > 0);
        assert_true(o->seq + len - t->rcv_nxt <= free_);
        if (k) {
            const us_tcp_ooseg *q = &t->ooseq[k - 1];
            assert_true((int32_t)(o->seq - (q->seq + (q->p ? q->p->tot_len : 0))) >= 0);
        }
    }
    us_tcp_out out;
    if (us__tcp_dispatch(t, n->now, &out)) {
        assert_true(out.data_off + out.data_len <= s->tx.len);
        assert_true(out.data_len <= t->snd_mss);
    }
}

static void test_tcp_established_random_segments(void **state)
{
    h_net *n = h_new(state, 8192, 16384, 8192, 16384);
    n->pr.ooseq_max = 4;
    n->pr.mss = 1000;
    us_test_rng rng = {12345};
    static uint8_t junk[4096];
    for (uint32_t k = 0; k < sizeof(junk); k++)
        junk[k] = (uint8_t)k;
    uint32_t established = 0;
    for (int iter = 0; iter < 60000; iter++) {
        us_tcb *b = TB(n);
        if (b->state == US_TCP_CLOSED || TA(n)->state == US_TCP_CLOSED) {
            for (uint32_t k = 0; k < n->qn; k++)
                if (n->q[k].p)
                    us_pbuf_free(n->q[k].p);
            n->qn = 0;
            us__tcp_reset(TA(n));
            us__tcp_reset(TB(n));
            for (int i = 0; i < 2; i++) {
                us__ring_init(&n->s[i].rx, n->s[i].rxmem, n->s[i].rx.cap);
                us__ring_init(&n->s[i].tx, n->s[i].txmem, n->s[i].tx.cap);
                n->s[i].iss = (uint32_t)us_test_rand(&rng);
            }
            n->hold = false;
            h_establish(n);
            n->hold = true;
            established++;
        }
        uint32_t r = us_test_below(&rng, 100);
        if (r < 55) { /* a random segment, mostly near the window */
            uint8_t flags = US_TCP_ACK;
            uint32_t f = us_test_below(&rng, 100);
            if (f < 4)
                flags |= US_TCP_FIN;
            else if (f < 6)
                flags = US_TCP_RST | (us_test_below(&rng, 2) ? US_TCP_ACK : 0);
            else if (f < 8)
                flags |= US_TCP_SYN;
            else if (f < 9)
                flags = 0;
            uint32_t seq = b->rcv_nxt + us_test_below(&rng, 12000) - 3000;
            uint32_t ack = b->snd_una + us_test_below(&rng, 3000) - 1000;
            uint32_t len = us_test_below(&rng, 3) ? us_test_below(&rng, 1200) : 0;
            uint16_t wnd = (uint16_t)us_test_below(&rng, 9000);
            if (us_test_below(&rng, 4) == 0) { /* exactly in order */
                seq = b->rcv_nxt;
                ack = b->snd_una + us_test_below(&rng, b->snd_max - b->snd_una + 1);
            }
            h_inject(n, B, flags, seq, ack, wnd, junk, len);
        } else if (r < 70) {
            n->now += us_test_below(&rng, 300) * MS;
            for (int i = 0; i < 2; i++)
                if (us__tcp_poll_at(&n->s[i].t, n->now) <= n->now)
                    n->s[i].ev |= us__tcp_timers(&n->s[i].t, n->now);
        } else if (r < 80) {
            uint32_t room = us__ring_free(&n->s[B].tx);
            uint32_t k = us_test_below(&rng, 3000);
            if (k > room)
                k = room;
            if (b->state == US_TCP_ESTABLISHED || b->state == US_TCP_CLOSE_WAIT) {
                us__ring_write(&n->s[B].tx, junk, k);
                us__tcp_queued(b);
            }
        } else if (r < 88) {
            uint8_t tmp[4096];
            uint32_t got = us__ring_read(&n->s[B].rx, tmp, us_test_below(&rng, 4096));
            us__tcp_recvd(b, got);
        } else if (r < 92) {
            us__tcp_close(b);
        } else if (r < 93) {
            us__tcp_abort(b);
        } else if (r < 96) {
            h_xmit(n, B);
            h_drop_all(n, B);
        } else {
            us__tcp_ooseq_free(b);
        }
        check_invariants(n, B);
    }
    assert_true(established > 10);
}

#define T(name) cmocka_unit_test_teardown(name, h_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tcp_closed_new_and_abort),
        cmocka_unit_test(test_tcp_closed_rst_reply),
        T(test_tcp_syn_sent_active_open_handshake),
        T(test_tcp_syn_sent_options_negotiated),
        T(test_tcp_syn_sent_timestamps_negotiated),
        T(test_tcp_syn_sent_timestamps_refused),
        T(test_tcp_established_dupack_per_segment),
        T(test_tcp_established_sack_blocks),
        T(test_tcp_syn_sent_unacceptable_ack_rst),
        T(test_tcp_syn_sent_timeout),
        T(test_tcp_syn_sent_simultaneous_open),
        T(test_tcp_syn_sent_rst),
        T(test_tcp_syn_rcvd_syn_again_and_timeout),
        T(test_tcp_syn_rcvd_unacceptable_ack_rst),
        T(test_tcp_syn_rcvd_close_queues_fin),
        T(test_tcp_syn_rcvd_rst),
        T(test_tcp_established_in_sequence_receive),
        T(test_tcp_established_trim_old_data),
        T(test_tcp_established_window_overrun),
        T(test_tcp_established_delayed_ack),
        T(test_tcp_established_window_update_after_read),
        T(test_tcp_established_ack_of_unsent_data),
        T(test_tcp_established_out_of_window_seq),
        T(test_tcp_established_syn_challenge_ack),
        T(test_tcp_established_rst),
        T(test_tcp_established_rst_with_zero_window),
        T(test_tcp_established_fast_retransmit),
        T(test_tcp_established_newreno_partial_ack),
        T(test_tcp_established_rto_full_window_lost),
        T(test_tcp_established_rtt_estimate),
        T(test_tcp_established_old_segment_ack_kept),
        T(test_tcp_established_ack_seq_after_go_back),
        T(test_tcp_established_limited_transmit),
        T(test_tcp_established_cwnd_not_grown_when_app_limited),
        T(test_tcp_established_zero_window_probe),
        T(test_tcp_established_zero_window_probe_gives_up),
        T(test_tcp_established_queued_into_zero_window),
        T(test_tcp_established_ooseq_fin),
        T(test_tcp_established_ooseq_full_drop),
        T(test_tcp_established_ooseq_free),
        T(test_tcp_established_ooseq_overlaps),
        T(test_tcp_established_ooseq_random),
        T(test_tcp_fin_wait_1_active_close),
        T(test_tcp_fin_wait_1_simultaneous_close),
        T(test_tcp_fin_wait_1_fin_and_ack_together),
        T(test_tcp_fin_wait_1_rst),
        T(test_tcp_fin_wait_2_rst),
        T(test_tcp_close_wait_passive_close),
        T(test_tcp_close_wait_rst),
        T(test_tcp_closing_rst),
        T(test_tcp_last_ack_rst),
        T(test_tcp_time_wait_fin_again),
        T(test_tcp_time_wait_rst),
        T(test_tcp_established_seq_wraparound),
        T(test_tcp_established_seq_wraparound_with_loss),
        T(test_tcp_established_bulk_no_loss),
        T(test_tcp_established_bulk_reorder),
        T(test_tcp_established_bulk_loss_1pct),
        T(test_tcp_established_bulk_loss_5pct),
        T(test_tcp_established_bulk_timestamps),
        T(test_tcp_established_bulk_small_rings),
        T(test_tcp_established_bulk_ram_pbufs_no_delack),
        T(test_tcp_established_random_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
