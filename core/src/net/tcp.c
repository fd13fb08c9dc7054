/* One TCP connection as a state machine (RFC 9293): segment input with a header-prediction fast
 * path first, the general path after it; output computed by a const dispatch and committed by
 * us__tcp_sent; RFC 6298 RTO, RFC 5681/6582 NewReno with RFC 3042 limited transmit, RFC 7323
 * window scaling and timestamps (echoed; our RTT comes from one timed segment), RFC 2018 SACK
 * blocks as a receiver (the peer's blocks are ignored), persist probes, delayed ACKs and a bounded
 * out-of-order queue of pbufs. No allocation, no clock: time is `now`.
 *
 * Interop notes: one duplicate ACK is owed per out-of-order segment (acks_owed), so that a stack
 * that drains a burst of frames before egress still gives the peer its dupacks; the ACK field of an
 * old duplicate segment is still processed (as BSD does), because peers that pull snd_nxt back on a
 * timeout (ns-3) send ACKs left of our window; ACKs and RSTs we send carry snd_max, not a pulled-
 * back snd_nxt (Linux's tcp_acceptable_seq).
 *
 * Sequence space and the send ring: the ring head is the byte at data_start(t) = snd_una, plus one
 * while our SYN is unacknowledged (SYN_SENT, SYN_RCVD: those states alone have it outstanding, as
 * a close in SYN_RCVD is queued until ESTABLISHED). The last queued byte ends at data_end(t); our
 * FIN, once the application closed (states FIN_WAIT_1, CLOSING, LAST_ACK), has sequence number
 * data_end(t). A segment at seq carries ring bytes from offset seq - data_start(t). */
#include "net/tcp.h"

#include <assert.h>
#include <string.h>

#define TCP_DEFAULT_MSS 536u   /* RFC 9293 3.7.1: the peer sent no MSS option */
#define TCP_MIN_MSS 64u        /* floor for a peer's MSS option (a tiny one would stall us) */
#define TCP_MAX_CWND (1u << 30)
#define TCP_SSTHRESH_INIT UINT32_MAX /* RFC 5681 3.1: arbitrarily high */
#define TCP_TS_OPT_LEN 12u           /* NOP NOP timestamps: what it takes from every segment */
#define TCP_MAX_ACKS_OWED 64u

/* ---- sequence arithmetic (RFC 9293 3.4: modulo 2^32) ---- */

static inline bool seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static inline bool seq_leq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) <= 0;
}

static inline bool seq_gt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

static inline bool seq_geq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

/* lo <= s < lo + n */
static inline bool seq_in(uint32_t s, uint32_t lo, uint32_t n)
{
    return s - lo < n;
}

static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static inline uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

/* ---- state predicates ---- */

static inline bool synchronized(us_tcp_state st)
{
    return st >= US_TCP_ESTABLISHED;
}

/* States where our FIN is queued or sent but not yet acknowledged. */
static inline bool fin_state(us_tcp_state st)
{
    return st == US_TCP_FIN_WAIT_1 || st == US_TCP_CLOSING || st == US_TCP_LAST_ACK;
}

/* States that take segment text (RFC 9293 3.10.7.4, seventh). */
static inline bool recv_state(us_tcp_state st)
{
    return st == US_TCP_ESTABLISHED || st == US_TCP_FIN_WAIT_1 || st == US_TCP_FIN_WAIT_2;
}

static inline uint32_t data_start(const us_tcb *t)
{
    return t->snd_una + (t->state == US_TCP_SYN_SENT || t->state == US_TCP_SYN_RCVD ? 1u : 0u);
}

static inline uint32_t data_end(const us_tcb *t)
{
    return data_start(t) + t->tx->len;
}

/* ---- small helpers ---- */

static uint32_t ooseq_free_all(us_tcb *t)
{
    uint32_t n = t->ooseq_n;
    for (uint32_t i = 0; i < n; i++) {
        if (t->ooseq[i].p != NULL)
            us_pbuf_free(t->ooseq[i].p);
        t->ooseq[i].p = NULL;
    }
    t->ooseq_n = 0;
    return n;
}

static void timers_off(us_tcb *t)
{
    t->rtx_at = US_TIME_NEVER;
    t->delack_at = US_TIME_NEVER;
    t->tw_at = US_TIME_NEVER;
}

/* Everything that makes dispatch offer a segment, except a pending RST. */
static void output_off(us_tcb *t)
{
    t->ack_now = false;
    t->acks_owed = 0;
    t->unacked_segs = 0;
    t->persist = false;
    t->force = false;
    t->rexmit = false;
}

static unsigned enter_closed(us_tcb *t)
{
    t->state = US_TCP_CLOSED;
    timers_off(t);
    output_off(t);
    ooseq_free_all(t);
    return US_TCP_EV_STATE | US_TCP_EV_CLOSED;
}

static void enter_time_wait(us_tcb *t, us_time now)
{
    t->state = US_TCP_TIME_WAIT;
    t->rtx_at = US_TIME_NEVER;
    t->tw_at = now + t->params->time_wait;
    t->persist = false;
    t->force = false;
    t->rexmit = false;
    ooseq_free_all(t);
}

/* The MSS we send with: RFC 9293 3.7.1 (536 without the option), never above ours. */
static uint16_t eff_mss(const us_tcb *t, const us_tcp_repr *syn)
{
    uint32_t m = syn->mss_present ? syn->mss : TCP_DEFAULT_MSS;
    m = min_u32(m, t->params->mss);
    return (uint16_t)max_u32(m, TCP_MIN_MSS);
}

/* The smallest shift that lets a 16-bit window cover the whole receive ring (RFC 7323 2.2). */
static uint8_t wscale_for(uint32_t cap)
{
    uint8_t s = 0;
    while (s < US_TCP_MAX_WSCALE && (cap >> s) > 0xffffu)
        s++;
    return s;
}

/* RFC 5681 3.1 / RFC 3390: IW = min(4*SMSS, max(2*SMSS, 4380)). */
static uint32_t initial_cwnd(uint32_t mss)
{
    return min_u32(4 * mss, max_u32(2 * mss, 4380));
}

/* RFC 6298 2.2/2.3: SRTT + max(G, 4 * RTTVAR) with G one nanosecond, clamped; 2.1 before the first
 * sample. */
static us_time rto_base(const us_tcb *t)
{
    const us_tcp_params *pr = t->params;
    us_time rto = pr->rto_initial;
    if (t->have_rtt) {
        us_time var4 = 4 * t->rttvar;
        rto = t->srtt + (var4 > 1 ? var4 : 1);
    }
    if (rto < pr->rto_min)
        rto = pr->rto_min;
    if (rto > pr->rto_max)
        rto = pr->rto_max;
    return rto;
}

static void rtt_sample(us_tcb *t, us_time r)
{
    if (!t->have_rtt) {
        t->srtt = r;
        t->rttvar = r / 2;
        t->have_rtt = true;
    } else {
        us_time delta = t->srtt > r ? t->srtt - r : r - t->srtt;
        t->rttvar = (3 * t->rttvar + delta) / 4; /* beta = 1/4, with the old SRTT */
        t->srtt = (7 * t->srtt + r) / 8;         /* alpha = 1/8 */
    }
    t->rto = rto_base(t);
}

/* Our SYN (or SYN-ACK) was acknowledged by `ack`: take the RTT sample it carries (Karn: only if
 * it was not retransmitted) and reset the retransmission state, in SYN_SENT and SYN_RCVD alike. */
static void syn_acked(us_tcb *t, uint32_t ack, us_time now)
{
    t->snd_una = ack;
    if (seq_lt(t->snd_nxt, t->snd_una))
        t->snd_nxt = t->snd_una;
    if (t->rtt_timing && seq_gt(ack, t->rtt_seq)) {
        t->rtt_timing = false;
        rtt_sample(t, now - t->rtt_start);
    }
    t->retries = 0;
    t->rto = rto_base(t);
    t->rtx_at = t->snd_una == t->snd_max ? US_TIME_NEVER : now + t->rto;
    t->recover = t->snd_una;
}

static inline uint32_t oo_end_of(const us_tcp_ooseg *s)
{
    return s->seq + (s->p ? s->p->tot_len : 0);
}

/* ---- timestamps (RFC 7323: echoed for the peer's RTT measurement and PAWS; our own RTT comes
 * from one timed segment, Karn's rule) ---- */

/* TSval: a millisecond clock (RFC 7323 5.4: 1 ms to 1 s per tick), offset by the ISS. */
static inline uint32_t ts_val(const us_tcb *t, us_time now)
{
    return t->iss + (uint32_t)(now / 1000000u);
}

/* RFC 7323 4.3: remember the TSval of the segment that our next ACK acknowledges first. */
static inline void ts_update(us_tcb *t, const us_tcp_repr *seg)
{
    if (seg->ts_present && seq_leq(seg->seq, t->last_ack_sent) &&
        (int32_t)(seg->tsval - t->ts_recent) >= 0)
        t->ts_recent = seg->tsval;
}

/* The peer's SYN (or SYN-ACK) decides: timestamps if both offered them; the option then takes 12
 * bytes of every segment, as Linux counts it. */
static void ts_negotiate(us_tcb *t, const us_tcp_repr *syn)
{
    t->ts_ok = t->params->timestamps && syn->ts_present;
    if (t->ts_ok) {
        t->ts_recent = syn->tsval;
        t->snd_mss = (uint16_t)max_u32((uint32_t)t->snd_mss - TCP_TS_OPT_LEN, TCP_MIN_MSS);
    }
}

/* RFC 2018: SACK blocks only if both SYNs carried SACK-permitted. */
static void sack_negotiate(us_tcb *t, const us_tcp_repr *syn)
{
    t->sack_ok = !t->params->sack_off && syn->sack_permitted;
}

/* The SACK blocks of an ACK (RFC 2018 4): the runs of held out-of-order data, adjacent entries
 * merged, the run holding the latest segment first, then the others from the highest down. */
static void sack_fill(const us_tcb *t, us_tcp_repr *r)
{
    us_tcp_sack_block runs[US_TCP_MAX_SACK + 1];
    uint32_t nruns = 0, first = 0;
    bool have_first = false;
    /* Walk from the highest entry down, keeping the first US_TCP_MAX_SACK runs, plus the run of
     * sack_recent wherever it is. */
    uint32_t k = t->ooseq_n;
    while (k > 0) {
        uint32_t hi = k - 1, lo = hi;
        uint32_t right = oo_end_of(&t->ooseq[hi]);
        while (lo > 0 && oo_end_of(&t->ooseq[lo - 1]) == t->ooseq[lo].seq)
            lo--;
        uint32_t left = t->ooseq[lo].seq;
        bool recent = seq_geq(t->sack_recent, left) && seq_lt(t->sack_recent, right);
        if (left != right && (nruns < US_TCP_MAX_SACK || (recent && !have_first))) {
            uint32_t at = nruns < US_TCP_MAX_SACK ? nruns++ : US_TCP_MAX_SACK - 1;
            runs[at].left = left;
            runs[at].right = right;
            if (recent) {
                first = at;
                have_first = true;
            }
        }
        k = lo;
    }
    if (nruns == 0)
        return;
    r->sack[0] = runs[first];
    uint32_t n = 1;
    for (uint32_t i = 0; i < nruns; i++)
        if (i != first)
            r->sack[n++] = runs[i];
    r->sack_count = (uint8_t)n;
}

/* An out-of-order segment: one duplicate ACK each (RFC 5681 4.2). */
static inline void owe_dupack(us_tcb *t)
{
    t->ack_now = true;
    if (t->acks_owed < TCP_MAX_ACKS_OWED)
        t->acks_owed++;
}

/* ---- receive window ---- */

/* Receiver SWS avoidance (RFC 9293 3.8.6.2.2): the right edge moves by at least this much. */
static uint32_t rcv_sws_threshold(const us_tcb *t)
{
    uint32_t th = min_u32(t->params->mss, t->rx->cap / 2);
    return th ? th : 1;
}

/* The window field of a non-SYN segment: the free receive space, scaled, moved right only by a
 * useful amount, and never shrinking the edge already advertised (RFC 9293 3.8.6.2.2). */
static uint16_t rcv_wnd_field(const us_tcb *t)
{
    uint32_t ws = t->rcv_wscale;
    uint32_t wnd = min_u32(us__ring_free(t->rx) >> ws, 0xffffu);
    uint32_t edge = t->rcv_nxt + (wnd << ws);
    if (seq_gt(edge, t->rcv_adv) && edge - t->rcv_adv >= rcv_sws_threshold(t))
        return (uint16_t)wnd;
    if (!seq_gt(t->rcv_adv, t->rcv_nxt))
        return 0;
    uint32_t adv = t->rcv_adv - t->rcv_nxt;
    return (uint16_t)min_u32((adv + (1u << ws) - 1) >> ws, 0xffffu);
}

static uint16_t syn_wnd_field(const us_tcb *t)
{
    return (uint16_t)min_u32(us__ring_free(t->rx), 0xffffu);
}

/* ---- send side ---- */

/* Bytes of new data that may go at snd_nxt now within min(cwnd, snd_wnd), after sender SWS
 * avoidance (RFC 9293 3.8.6.2.1, without Nagle: a full segment, all that is queued, or half the
 * largest window the peer offered); 0 for none. */
static uint32_t send_len(const us_tcb *t)
{
    uint32_t end = data_end(t);
    if (!seq_lt(t->snd_nxt, end))
        return 0;
    uint32_t unsent = end - t->snd_nxt;
    uint32_t cwnd = t->cwnd;
    if (t->dupacks && t->dupacks < 3 && !t->in_recovery)
        cwnd += t->dupacks * t->snd_mss; /* RFC 3042 limited transmit: new data on dupacks 1, 2 */
    uint32_t wnd = min_u32(cwnd, t->snd_wnd);
    uint32_t flight = t->snd_nxt - t->snd_una;
    if (flight >= wnd)
        return 0;
    uint32_t len = min_u32(min_u32(unsent, wnd - flight), t->snd_mss);
    if (len == t->snd_mss || len == unsent || len >= t->max_sndwnd / 2)
        return len;
    return 0;
}

/* Data queued that the window keeps back with nothing in flight to bring an ACK (or the window is
 * zero): only probes can move it (RFC 9293 3.8.6.1). */
static bool needs_persist(const us_tcb *t)
{
    if (!synchronized(t->state) || t->state == US_TCP_TIME_WAIT || t->tx->len == 0)
        return false;
    if (t->snd_wnd == 0)
        return true;
    return t->snd_una == t->snd_max && seq_lt(t->snd_nxt, data_end(t)) && send_len(t) == 0;
}

/* After an ACK or a window change: start, keep or stop probing. */
static void update_persist(us_tcb *t, us_time now)
{
    if (needs_persist(t)) {
        if (!t->persist || t->rtx_at == US_TIME_NEVER) {
            t->persist = true;
            t->rtx_at = now + t->rto;
        }
        t->retries = 0; /* the peer answers: never give up while it does */
    } else if (t->persist) {
        /* The window opened: resend a probe byte the peer may have dropped with the data after
         * it, from a fresh backoff. */
        t->persist = false;
        t->force = false;
        t->retries = 0;
        t->rto = rto_base(t);
        t->snd_nxt = t->snd_una;
        t->rtx_at = US_TIME_NEVER;
    }
}

/* Sequence number of a segment without text: snd_max (snd_nxt may have been pulled back by a
 * timeout, and a peer that got more would find an ACK at snd_nxt left of its window), but not past
 * the right edge of the peer's window (Linux's tcp_acceptable_seq). */
static uint32_t ctl_seq(const us_tcb *t)
{
    uint32_t right = t->snd_una + t->snd_wnd;
    return seq_gt(t->snd_max, right) ? right : t->snd_max;
}

static void fill_out(const us_tcb *t, us_tcp_out *out, uint32_t seq, uint32_t len, uint8_t flags,
                     us_time now)
{
    us_tcp_repr *r = &out->repr;
    memset(r, 0, sizeof(*r));
    r->src_port = t->local_port;
    r->dst_port = t->remote_port;
    r->seq = seq;
    r->flags = flags;
    if (flags & US_TCP_ACK) {
        r->ack = t->rcv_nxt;
        r->window = (flags & US_TCP_SYN) ? syn_wnd_field(t) : rcv_wnd_field(t);
    }
    if (t->ts_ok && !(flags & US_TCP_RST)) {
        r->ts_present = true;
        r->tsval = ts_val(t, now);
        r->tsecr = t->ts_recent;
    }
    r->payload_len = len;
    out->data_off = len ? seq - data_start(t) : 0;
    out->data_len = len;
}

static void fill_data(const us_tcb *t, us_tcp_out *out, uint32_t seq, uint32_t len, uint32_t end,
                      bool fin, us_time now)
{
    uint8_t flags = US_TCP_ACK;
    if (len && seq + len == end)
        flags |= US_TCP_PSH;
    if (fin)
        flags |= US_TCP_FIN;
    fill_out(t, out, seq, len, flags, now);
}

/* The next segment to send, filled into *out — or, with out NULL, only whether there is one: the
 * question us__tcp_poll_at asks after every input, which must not pay for building the header. */
static int dispatch(const us_tcb *t, us_time now, us_tcp_out *out)
{
    if (t->rst_pending) {
        if (out) {
            fill_out(t, out, t->rst_seq, 0, t->rst_ack ? US_TCP_RST | US_TCP_ACK : US_TCP_RST,
                     now);
            out->repr.window = 0;
        }
        return 1;
    }
    switch (t->state) {
    case US_TCP_CLOSED:
    case US_TCP_LISTEN:
        return 0;
    case US_TCP_SYN_SENT:
    case US_TCP_SYN_RCVD: {
        if (t->snd_nxt != t->iss)
            return 0;
        if (out == NULL)
            return 1;
        bool rcvd = t->state == US_TCP_SYN_RCVD;
        fill_out(t, out, t->iss, 0, rcvd ? US_TCP_SYN | US_TCP_ACK : US_TCP_SYN, now);
        out->repr.window = syn_wnd_field(t);
        out->repr.mss_present = true;
        out->repr.mss = t->params->mss;
        if (!rcvd && t->params->timestamps) { /* offered in our SYN; answered if offered */
            out->repr.ts_present = true;
            out->repr.tsval = ts_val(t, now);
            out->repr.tsecr = 0;
        }
        out->repr.sack_permitted = rcvd ? t->sack_ok : !t->params->sack_off;
        /* RFC 7323 2.2: offered in every SYN; in a SYN-ACK only if the SYN had it. */
        if (!rcvd || t->snd_wscale || t->rcv_wscale) {
            out->repr.wscale_present = true;
            out->repr.wscale = t->rcv_wscale;
        }
        return 1;
    }
    default:
        break;
    }

    uint32_t end = data_end(t);
    bool fin_st = fin_state(t->state);
    if (t->rexmit) {
        uint32_t avail = end - t->snd_una;
        uint32_t len = min_u32(avail, t->snd_mss);
        bool fin = fin_st && len == avail && seq_gt(t->snd_max, end);
        if (len || fin) {
            if (out)
                fill_data(t, out, t->snd_una, len, end, fin, now);
            return 1;
        }
    }
    if (t->force && seq_lt(t->snd_nxt, end)) {
        if (out) {
            /* Probe: what the window allows, at least one byte. */
            uint32_t unsent = end - t->snd_nxt;
            uint32_t right = t->snd_una + t->snd_wnd;
            uint32_t usable = seq_gt(right, t->snd_nxt) ? right - t->snd_nxt : 0;
            uint32_t len = min_u32(min_u32(unsent, t->snd_mss), max_u32(usable, 1));
            fill_data(t, out, t->snd_nxt, len, end, fin_st && len == unsent, now);
        }
        return 1;
    }
    uint32_t len = send_len(t);
    if (len) {
        if (out)
            fill_data(t, out, t->snd_nxt, len, end, fin_st && t->snd_nxt + len == end, now);
        return 1;
    }
    if (fin_st && t->snd_nxt == end) { /* FIN alone (data all sent); a window does not hold it */
        if (out)
            fill_data(t, out, end, 0, end, true, now);
        return 1;
    }
    if (t->ack_now || t->acks_owed) {
        if (out) {
            fill_out(t, out, ctl_seq(t), 0, US_TCP_ACK, now);
            if (t->sack_ok && t->ooseq_n) /* on pure ACKs only: they have room for the option */
                sack_fill(t, &out->repr);
        }
        return 1;
    }
    return 0;
}

int us__tcp_dispatch(const us_tcb *t, us_time now, us_tcp_out *out)
{
    return dispatch(t, now, out);
}

void us__tcp_sent(us_tcb *t, const us_tcp_out *out, us_time now)
{
    const us_tcp_repr *r = &out->repr;
    if (r->flags & US_TCP_RST) {
        t->rst_pending = false;
        return;
    }
    if (r->flags & US_TCP_ACK) {
        /* Any ACK pays ack_now; only a pure one pays an owed duplicate: a segment with text or
         * SYN/FIN is no duplicate ACK to the peer (RFC 5681 2). */
        bool pure = out->data_len == 0 && !(r->flags & (US_TCP_SYN | US_TCP_FIN));
        t->ack_now = false;
        if (t->acks_owed && pure)
            t->acks_owed--;
        t->unacked_segs = 0;
        t->delack_at = US_TIME_NEVER;
        t->last_ack_sent = t->rcv_nxt;
        uint32_t ws = (r->flags & US_TCP_SYN) ? 0 : t->rcv_wscale;
        uint32_t edge = t->rcv_nxt + ((uint32_t)r->window << ws);
        if (seq_gt(edge, t->rcv_adv))
            t->rcv_adv = edge;
    }
    uint32_t seg_len = out->data_len + ((r->flags & US_TCP_SYN) ? 1u : 0u) +
                       ((r->flags & US_TCP_FIN) ? 1u : 0u);
    if (seg_len == 0)
        return;
    uint32_t seq = r->seq, end = seq + seg_len;
    if (seq_lt(seq, t->snd_max)) {
        if (!t->force)
            t->retransmits++;
        t->rtt_timing = false; /* Karn: no sample while anything was sent twice */
    } else if (!t->rtt_timing) {
        t->rtt_timing = true;
        t->rtt_seq = seq;
        t->rtt_start = now;
    }
    if (seq_leq(seq, t->snd_nxt) && seq_gt(end, t->snd_nxt))
        t->snd_nxt = end;
    if (seq_gt(end, t->snd_max))
        t->snd_max = end;
    if (seq == t->snd_una)
        t->rexmit = false;
    t->force = false;
    if (t->rtx_at == US_TIME_NEVER) /* RFC 6298 5.1 */
        t->rtx_at = now + t->rto;
}

us_time us__tcp_poll_at(const us_tcb *t, us_time now)
{
    if (dispatch(t, now, NULL))
        return now;
    us_time at = t->rtx_at;
    if (t->delack_at < at)
        at = t->delack_at;
    if (t->tw_at < at)
        at = t->tw_at;
    return at;
}

/* ---- lifecycle ---- */

void us__tcp_init(us_tcb *t, const us_tcp_params *params, us_ring *rx, us_ring *tx,
                  us_tcp_ooseg *ooseq)
{
    memset(t, 0, sizeof(*t));
    t->params = params;
    t->rx = rx;
    t->tx = tx;
    t->ooseq = ooseq;
    t->state = US_TCP_CLOSED;
    t->rto = params->rto_initial;
    timers_off(t);
}

/* Fresh connection state shared by both opens. */
static void open_common(us_tcb *t, uint32_t local_ip, uint16_t local_port, uint32_t remote_ip,
                        uint16_t remote_port, uint32_t iss)
{
    ooseq_free_all(t);
    t->local_ip = local_ip;
    t->local_port = local_port;
    t->remote_ip = remote_ip;
    t->remote_port = remote_port;
    t->iss = iss;
    t->snd_una = t->snd_nxt = t->snd_max = iss;
    t->snd_wnd = 0;
    t->snd_wl1 = t->snd_wl2 = 0;
    t->snd_mss = t->params->mss;
    t->snd_wscale = 0;
    t->rcv_wscale = wscale_for(t->rx->cap);
    t->ts_ok = false;
    t->ts_recent = 0;
    t->last_ack_sent = 0;
    t->sack_ok = false;
    t->sack_recent = 0;
    t->irs = t->rcv_nxt = t->rcv_adv = 0;
    t->cwnd = initial_cwnd(t->snd_mss);
    t->ssthresh = TCP_SSTHRESH_INIT;
    t->recover = iss;
    t->dupacks = 0;
    t->in_recovery = false;
    t->cwnd_acc = 0;
    t->srtt = t->rttvar = 0;
    t->have_rtt = false;
    t->rto = rto_base(t);
    t->rtt_timing = false;
    t->retries = 0;
    timers_off(t);
    output_off(t);
    t->fin_queued = false;
    t->rst_pending = false;
    t->passive = false;
    t->was_reset = false;
    t->max_sndwnd = 0;
}

void us__tcp_connect(us_tcb *t, uint32_t local_ip, uint16_t local_port, uint32_t remote_ip,
                     uint16_t remote_port, uint32_t iss, us_time now)
{
    (void)now;
    open_common(t, local_ip, local_port, remote_ip, remote_port, iss);
    t->state = US_TCP_SYN_SENT;
}

unsigned us__tcp_accept_syn(us_tcb *t, uint32_t local_ip, uint32_t remote_ip,
                            const us_tcp_repr *syn, uint32_t iss, us_time now)
{
    (void)now;
    open_common(t, local_ip, syn->dst_port, remote_ip, syn->src_port, iss);
    t->passive = true;
    t->state = US_TCP_SYN_RCVD;
    t->irs = syn->seq;
    t->rcv_nxt = syn->seq + 1;
    t->rcv_adv = t->rcv_nxt;
    t->last_ack_sent = t->rcv_nxt;
    t->snd_mss = eff_mss(t, syn);
    ts_negotiate(t, syn);
    sack_negotiate(t, syn);
    t->cwnd = initial_cwnd(t->snd_mss);
    if (syn->wscale_present) {
        t->snd_wscale = syn->wscale;
    } else {
        t->rcv_wscale = 0;
    }
    t->snd_wnd = syn->window; /* never scaled in a SYN */
    t->max_sndwnd = t->snd_wnd;
    t->snd_wl1 = syn->seq;
    t->snd_wl2 = iss;
    return US_TCP_EV_OUTPUT;
}

void us__tcp_orphan(us_tcb *t, us_time now)
{
    t->orphan = true;
    if (t->state == US_TCP_FIN_WAIT_2 && t->tw_at == US_TIME_NEVER)
        t->tw_at = now + t->params->fin_wait2_timeout;
}

unsigned us__tcp_close(us_tcb *t)
{
    switch (t->state) {
    case US_TCP_LISTEN:
    case US_TCP_SYN_SENT:
        return enter_closed(t);
    case US_TCP_SYN_RCVD:
        t->fin_queued = true; /* the FIN follows once the SYN is acknowledged (RFC 9293 3.10.4) */
        return 0;
    case US_TCP_ESTABLISHED:
        t->state = US_TCP_FIN_WAIT_1;
        t->fin_queued = true;
        return US_TCP_EV_STATE | US_TCP_EV_OUTPUT;
    case US_TCP_CLOSE_WAIT:
        t->state = US_TCP_LAST_ACK;
        t->fin_queued = true;
        return US_TCP_EV_STATE | US_TCP_EV_OUTPUT;
    default:
        return 0;
    }
}

unsigned us__tcp_abort(us_tcb *t)
{
    us_tcp_state st = t->state;
    if (st == US_TCP_CLOSED) {
        ooseq_free_all(t);
        return 0;
    }
    unsigned ev = enter_closed(t);
    /* RFC 9293 3.10.5: RST in SYN_RCVD and the synchronized states up to CLOSE_WAIT. */
    if (st == US_TCP_SYN_RCVD || st == US_TCP_ESTABLISHED || st == US_TCP_FIN_WAIT_1 ||
        st == US_TCP_FIN_WAIT_2 || st == US_TCP_CLOSE_WAIT) {
        t->rst_pending = true;
        t->rst_seq = ctl_seq(t);
        t->rst_ack = true;
        ev |= US_TCP_EV_OUTPUT;
    }
    return ev;
}

uint32_t us__tcp_ooseq_free(us_tcb *t)
{
    return ooseq_free_all(t);
}

void us__tcp_reset(us_tcb *t)
{
    ooseq_free_all(t);
    t->state = US_TCP_CLOSED;
    timers_off(t);
    output_off(t);
    t->rst_pending = false;
}

int us__tcp_rst_reply(const us_tcp_repr *seg, us_tcp_repr *rst)
{
    if (seg->flags & US_TCP_RST)
        return 0;
    memset(rst, 0, sizeof(*rst));
    rst->src_port = seg->dst_port;
    rst->dst_port = seg->src_port;
    if (seg->flags & US_TCP_ACK) {
        rst->seq = seg->ack;
        rst->flags = US_TCP_RST;
    } else {
        uint32_t seg_len = (uint32_t)seg->payload_len + ((seg->flags & US_TCP_SYN) ? 1u : 0u) +
                           ((seg->flags & US_TCP_FIN) ? 1u : 0u);
        rst->seq = 0;
        rst->ack = seg->seq + seg_len;
        rst->flags = US_TCP_RST | US_TCP_ACK;
    }
    return 1;
}

/* ---- application side ---- */

/* A window update goes at once when the read moved the right edge by at least an MSS (receiver
 * SWS avoidance) while the window the peer knows is under half the ring: then the peer may be held
 * back. Otherwise the next ACK carries it (as Linux's tcp_cleanup_rbuf), so that an application
 * reading each segment as it comes does not turn every segment into an ACK. */
unsigned us__tcp_recvd(us_tcb *t, uint32_t n)
{
    (void)n;
    if (!recv_state(t->state))
        return 0;
    uint32_t ws = t->rcv_wscale;
    uint32_t wnd = min_u32(us__ring_free(t->rx) >> ws, 0xffffu);
    uint32_t edge = t->rcv_nxt + (wnd << ws);
    uint32_t adv = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    if (seq_gt(edge, t->rcv_adv) && edge - t->rcv_adv >= rcv_sws_threshold(t) &&
        adv < t->rx->cap / 2) {
        t->ack_now = true;
        return US_TCP_EV_OUTPUT;
    }
    return 0;
}

unsigned us__tcp_queued(us_tcb *t)
{
    if (!synchronized(t->state) || t->state == US_TCP_TIME_WAIT)
        return 0;
    if (send_len(t))
        return US_TCP_EV_OUTPUT;
    if (!t->persist && t->snd_una == t->snd_max && needs_persist(t)) {
        /* Nothing in flight to bring a window update and no `now` here to arm the timer: probe at
         * once; us__tcp_sent starts the timer that paces the following probes. */
        t->persist = true;
        t->force = true;
        return US_TCP_EV_OUTPUT;
    }
    return 0;
}

/* ---- timers ---- */

static unsigned rtx_timeout(us_tcb *t, us_time now)
{
    t->rtx_at = US_TIME_NEVER;
    us_tcp_state st = t->state;
    bool sync = synchronized(st);
    bool probe = sync && (t->persist || (t->snd_wnd == 0 && t->tx->len > 0));
    if (st == US_TCP_CLOSED || st == US_TCP_LISTEN || st == US_TCP_TIME_WAIT)
        return 0;
    if (!probe && t->snd_una == t->snd_max)
        return 0; /* nothing outstanding */
    if (t->retries >= t->params->max_retries)
        return enter_closed(t);
    t->retries++;
    t->rto = t->rto * 2 < t->params->rto_max ? t->rto * 2 : t->params->rto_max; /* 5.5 */
    t->rtx_at = now + t->rto;
    t->rtt_timing = false;
    if (probe) {
        /* Zero-window probe (RFC 9293 3.8.6.1), not a loss: congestion state is left alone. */
        t->persist = true;
        t->force = true;
        t->rexmit = false;
        t->snd_nxt = t->snd_una;
        return US_TCP_EV_OUTPUT;
    }
    t->timeouts++;
    if (sync) {
        if (t->retries == 1) { /* RFC 5681 (4): the first timeout of this segment */
            uint32_t flight = t->snd_max - t->snd_una;
            t->ssthresh = max_u32(flight / 2, 2u * t->snd_mss);
        }
        t->cwnd = t->snd_mss; /* loss window */
        t->cwnd_acc = 0;
        t->in_recovery = false;
        t->dupacks = 0;
        t->rexmit = false;
        t->recover = t->snd_max; /* RFC 6582 4.1: no fast retransmit for what went before */
    }
    t->snd_nxt = t->snd_una; /* go-back-N; the SYN or SYN-ACK again in SYN_SENT / SYN_RCVD */
    return US_TCP_EV_OUTPUT;
}

unsigned us__tcp_timers(us_tcb *t, us_time now)
{
    unsigned ev = 0;
    if (t->tw_at <= now) {
        t->tw_at = US_TIME_NEVER;
        if (t->state == US_TCP_TIME_WAIT || (t->state == US_TCP_FIN_WAIT_2 && t->orphan))
            return enter_closed(t);
    }
    if (t->delack_at <= now) {
        t->delack_at = US_TIME_NEVER;
        if (synchronized(t->state)) {
            t->ack_now = true;
            ev |= US_TCP_EV_OUTPUT;
        }
    }
    if (t->rtx_at <= now)
        ev |= rtx_timeout(t, now);
    return ev;
}

/* ---- input ---- */

/* Append len bytes of chain p from offset off to the receive ring. */
static void copy_to_rx(us_ring *rx, const us_pbuf *p, uint32_t off, uint32_t len)
{
    for (const us_pbuf *q = p; q != NULL && len > 0; q = q->next) {
        if (off >= q->len) {
            off -= q->len;
            continue;
        }
        uint32_t n = min_u32(q->len - off, len);
        uint32_t w = us__ring_write(rx, (const uint8_t *)q->payload + off, n);
        assert(w == n);
        (void)w;
        len -= n;
        off = 0;
    }
}

static inline void free_payload(us_pbuf *p)
{
    if (p != NULL)
        us_pbuf_free(p);
}

/* In-order data arrived: ACK every second segment, else after delayed_ack (RFC 9293 3.8.6.3). */
static inline void delay_ack(us_tcb *t, us_time now)
{
    if (++t->unacked_segs >= 2 || t->params->delayed_ack == 0)
        t->ack_now = true;
    else if (t->delack_at == US_TIME_NEVER)
        t->delack_at = now + t->params->delayed_ack;
}

/* Congestion window growth on a new ACK outside recovery (RFC 5681 3.1; CA by bytes acked), only
 * while the window was what limited the sender (RFC 7661: flight, before this ACK, at least half of
 * cwnd), so that an application- or receiver-limited flow does not build a window it never used. */
static inline void cwnd_grow(us_tcb *t, uint32_t acked, uint32_t flight)
{
    if (2 * (uint64_t)flight < t->cwnd)
        return;
    if (t->cwnd < t->ssthresh) {
        t->cwnd += min_u32(acked, t->snd_mss);
    } else {
        t->cwnd_acc += acked;
        if (t->cwnd_acc >= t->cwnd) {
            t->cwnd_acc -= t->cwnd;
            t->cwnd += t->snd_mss;
        }
    }
    if (t->cwnd > TCP_MAX_CWND)
        t->cwnd = TCP_MAX_CWND;
}

/* Header prediction, pure ACK of new data (ESTABLISHED, nothing unusual). */
static unsigned fast_ack(us_tcb *t, const us_tcp_repr *seg, us_time now)
{
    uint32_t ack = seg->ack;
    uint32_t acked = ack - t->snd_una;
    uint32_t flight = t->snd_nxt - t->snd_una;
    if (t->ts_ok)
        ts_update(t, seg);
    us__ring_consume(t->tx, acked); /* no SYN or FIN outstanding in ESTABLISHED */
    t->snd_una = ack;
    if (seq_lt(t->snd_nxt, ack))
        t->snd_nxt = ack;
    t->snd_wl1 = seg->seq;
    t->snd_wl2 = ack;
    t->dupacks = 0;
    if (t->rtt_timing && seq_gt(ack, t->rtt_seq)) {
        t->rtt_timing = false;
        rtt_sample(t, now - t->rtt_start);
    }
    if (t->retries) {
        t->retries = 0;
        t->rto = rto_base(t);
    }
    cwnd_grow(t, acked, flight);
    if (seq_lt(t->recover, ack))
        t->recover = ack; /* keep it within 2^31 of snd_una */
    unsigned ev = US_TCP_EV_TX;
    if (ack == t->snd_max) {
        t->rtx_at = US_TIME_NEVER;
        if (t->tx->len)
            update_persist(t, now); /* the window may be too small to use */
    } else {
        t->rtx_at = now + t->rto; /* RFC 6298 5.3 */
    }
    if (t->ack_now || t->acks_owed || send_len(t) || t->force)
        ev |= US_TCP_EV_OUTPUT;
    return ev;
}

/* Header prediction, in-order data that fits, acknowledging nothing new. */
static unsigned fast_data(us_tcb *t, const us_tcp_repr *seg, us_pbuf *p, uint32_t len,
                          us_time now)
{
    if (p->len == len) {
        us__ring_write(t->rx, p->payload, len);
    } else {
        copy_to_rx(t->rx, p, 0, len);
    }
    us_pbuf_free(p);
    if (t->ts_ok)
        ts_update(t, seg);
    t->rcv_nxt += len;
    t->acks_owed = 0; /* duplicates for an older rcv_nxt would now be false ones */
    t->snd_wl1 = seg->seq;
    t->snd_wl2 = seg->ack;
    delay_ack(t, now);
    return t->ack_now ? US_TCP_EV_RX | US_TCP_EV_OUTPUT : US_TCP_EV_RX;
}

/* End (exclusive) of a held segment's data. */
static inline uint32_t oo_end(const us_tcp_ooseg *s)
{
    return oo_end_of(s);
}

/* Cut chain p down to its bytes [off, off + len); NULL when none remain (p freed). */
static us_pbuf *trim_pbuf(us_pbuf *p, uint32_t off, uint32_t len)
{
    if (p == NULL)
        return NULL;
    if (len == 0 || off >= p->tot_len) {
        us_pbuf_free(p);
        return NULL;
    }
    if (off > 0)
        p = us_pbuf_free_header(p, off);
    if (p != NULL && p->tot_len > len)
        us_pbuf_realloc(p, len);
    return p;
}

/* Hold segment [seq, seq + len) (+ FIN) out of order; p (exactly len bytes, or NULL) is owned by
 * the queue or freed. Entries stay sorted and disjoint: the parts already held are cut off the
 * new segment, entries it covers entirely are replaced. Returns false when it was dropped because
 * the queue is full. */
static bool ooseq_insert(us_tcb *t, uint32_t seq, uint32_t len, bool fin, us_pbuf *p)
{
    us_tcp_ooseg *q = t->ooseq;
    uint32_t n = t->ooseq_n;
    uint32_t end = seq + len;
    uint32_t i = 0;
    while (i < n && seq_lt(q[i].seq, seq))
        i++;
    if (i > 0) { /* the entry before may overlap our head */
        us_tcp_ooseg *prev = &q[i - 1];
        uint32_t pend = oo_end(prev);
        if (seq_geq(pend, end)) { /* nothing new */
            if (fin && pend == end)
                prev->fin = true;
            free_payload(p);
            return true;
        }
        if (seq_gt(pend, seq)) {
            uint32_t d = pend - seq;
            p = trim_pbuf(p, d, len - d);
            seq = pend;
            len -= d;
        }
    }
    uint32_t j = i; /* entries [i, j) lie inside the new segment */
    while (j < n && seq_leq(oo_end(&q[j]), end))
        j++;
    if (j < n && seq_lt(q[j].seq, end)) { /* the next entry overlaps our tail */
        len = q[j].seq - seq;
        p = trim_pbuf(p, 0, len);
        fin = false;
        end = seq + len;
    }
    if (len == 0 && !fin && j == i) {
        free_payload(p);
        return true;
    }
    if (j == i && n >= t->params->ooseq_max) {
        free_payload(p);
        return false;
    }
    for (uint32_t k = i; k < j; k++) {
        if (q[k].fin && oo_end(&q[k]) == end)
            fin = true;
        free_payload(q[k].p);
    }
    uint32_t removed = j - i;
    if (removed != 1)
        memmove(&q[i + 1], &q[j], (n - j) * sizeof(*q));
    q[i].seq = seq;
    q[i].fin = fin;
    q[i].p = p;
    t->ooseq_n = n - removed + 1;
    return true;
}

/* Move held segments that the in-order data has reached into rx. Returns true if a held FIN is
 * now in order (the rest of the queue, beyond the FIN, is freed). */
static bool ooseq_deliver(us_tcb *t)
{
    us_tcp_ooseg *q = t->ooseq;
    bool fin = false;
    uint32_t k = 0;
    while (k < t->ooseq_n && seq_leq(q[k].seq, t->rcv_nxt)) {
        uint32_t end = oo_end(&q[k]);
        if (seq_gt(end, t->rcv_nxt)) {
            uint32_t d = t->rcv_nxt - q[k].seq;
            uint32_t n = end - t->rcv_nxt;
            copy_to_rx(t->rx, q[k].p, d, n);
            t->rcv_nxt = end;
        }
        fin = q[k].fin && end == t->rcv_nxt;
        free_payload(q[k].p);
        q[k].p = NULL;
        k++;
        if (fin)
            break;
    }
    if (fin) {
        for (uint32_t m = k; m < t->ooseq_n; m++)
            free_payload(q[m].p);
        t->ooseq_n = 0;
    } else if (k) {
        memmove(q, q + k, (t->ooseq_n - k) * sizeof(*q));
        t->ooseq_n -= k;
    }
    return fin;
}

/* The peer's FIN is in order (RFC 9293 3.10.7.4, eighth). */
static unsigned fin_in_order(us_tcb *t, us_time now)
{
    t->rcv_nxt++;
    t->ack_now = true;
    t->acks_owed = 0;
    t->delack_at = US_TIME_NEVER;
    ooseq_free_all(t);
    switch (t->state) {
    case US_TCP_ESTABLISHED:
        t->state = US_TCP_CLOSE_WAIT;
        break;
    case US_TCP_FIN_WAIT_1: /* our FIN not yet acknowledged, or we would be in FIN_WAIT_2 */
        t->state = US_TCP_CLOSING;
        break;
    case US_TCP_FIN_WAIT_2:
        enter_time_wait(t, now);
        break;
    default:
        break;
    }
    return US_TCP_EV_RX | US_TCP_EV_STATE;
}

/* Segment text and FIN of an acceptable segment in ESTABLISHED / FIN_WAIT_1 / FIN_WAIT_2
 * (seventh and eighth steps): trimmed to what is new and fits, then appended in order or held. */
static unsigned receive_text(us_tcb *t, uint32_t seq, uint32_t len, bool fin, us_pbuf *p,
                             us_time now)
{
    unsigned ev = 0;
    uint32_t off = 0;
    if (seq_lt(seq, t->rcv_nxt)) { /* starts with old data: cut it (acceptance saw something new) */
        uint32_t d = t->rcv_nxt - seq;
        if (d > len) { /* only a FIN at most, and old too */
            d = len;
            fin = false;
        }
        off = d;
        len -= d;
        seq = t->rcv_nxt;
        t->ack_now = true;
    }
    uint32_t space = us__ring_free(t->rx);
    uint32_t room = seq_in(seq, t->rcv_nxt, space + 1) ? t->rcv_nxt + space - seq : 0;
    if (len > room) {
        len = room; /* beyond the window: cut (the FIN with it) */
        fin = false;
        t->ack_now = true;
    }
    if (seq == t->rcv_nxt) {
        bool gap = t->ooseq_n > 0;
        if (len) {
            copy_to_rx(t->rx, p, off, len);
            t->rcv_nxt += len;
            t->acks_owed = 0;
            ev |= US_TCP_EV_RX;
        }
        free_payload(p);
        if (gap && ooseq_deliver(t))
            fin = true;
        if (gap)
            t->ack_now = true; /* RFC 5681 4.2: at once when a gap fills */
        if (fin)
            ev |= fin_in_order(t, now);
        else if (len)
            delay_ack(t, now);
    } else {
        p = trim_pbuf(p, off, len);
        if ((len || fin) && !ooseq_insert(t, seq, len, fin, p))
            ev |= US_TCP_EV_OOSEQ_FULL;
        else if (len)
            t->sack_recent = seq;
        owe_dupack(t); /* RFC 5681 4.2: out of order, a duplicate ACK at once, each */
    }
    return ev;
}

static inline bool ack_acceptable(const us_tcb *t, uint32_t ack)
{
    return seq_gt(ack, t->snd_una) && seq_leq(ack, t->snd_max);
}

/* SYN_SENT (RFC 9293 3.10.7.3). */
static unsigned syn_sent_input(us_tcb *t, const us_tcp_repr *seg, us_pbuf *p, uint32_t len,
                               us_time now)
{
    uint8_t flags = seg->flags;
    if ((flags & US_TCP_ACK) && !(seq_gt(seg->ack, t->iss) && seq_leq(seg->ack, t->snd_max))) {
        free_payload(p);
        if (flags & US_TCP_RST)
            return US_TCP_EV_INVALID;
        t->rst_pending = true;
        t->rst_seq = seg->ack;
        t->rst_ack = false;
        return US_TCP_EV_OUTPUT | US_TCP_EV_INVALID;
    }
    if (flags & US_TCP_RST) {
        free_payload(p);
        if (!(flags & US_TCP_ACK))
            return US_TCP_EV_INVALID;
        t->was_reset = true;
        return enter_closed(t);
    }
    if (!(flags & US_TCP_SYN)) {
        free_payload(p);
        return US_TCP_EV_INVALID;
    }
    t->irs = seg->seq;
    t->rcv_nxt = seg->seq + 1;
    t->rcv_adv = t->rcv_nxt + syn_wnd_field(t); /* what our SYN offered */
    t->last_ack_sent = t->rcv_nxt;
    t->snd_mss = eff_mss(t, seg);
    ts_negotiate(t, seg);
    sack_negotiate(t, seg);
    if (seg->wscale_present) {
        t->snd_wscale = seg->wscale;
    } else {
        t->snd_wscale = 0;
        t->rcv_wscale = 0;
    }
    t->snd_wnd = seg->window; /* never scaled in a SYN */
    t->max_sndwnd = t->snd_wnd;
    t->snd_wl1 = seg->seq;
    t->cwnd = initial_cwnd(t->snd_mss);
    if (!(flags & US_TCP_ACK)) {
        /* Simultaneous open: SYN_RCVD, our SYN again as a SYN-ACK. Any text is dropped. */
        free_payload(p);
        t->state = US_TCP_SYN_RCVD;
        t->snd_wl2 = t->iss;
        t->snd_nxt = t->iss;
        return US_TCP_EV_STATE | US_TCP_EV_OUTPUT;
    }
    t->snd_wl2 = seg->ack;
    syn_acked(t, seg->ack, now);
    t->state = US_TCP_ESTABLISHED;
    t->ack_now = true;
    unsigned ev = US_TCP_EV_STATE | US_TCP_EV_OUTPUT;
    if (len || (flags & US_TCP_FIN))
        ev |= receive_text(t, seg->seq + 1, len, flags & US_TCP_FIN, p, now);
    else
        free_payload(p);
    return ev;
}

/* The ACK field in a synchronized state (RFC 9293 3.10.7.4, fifth; RFC 5681, RFC 6582). Sets *drop
 * when the segment must go no further. */
static unsigned process_ack(us_tcb *t, const us_tcp_repr *seg, uint32_t len, uint8_t flags,
                            bool old, us_time now, bool *drop)
{
    uint32_t ack = seg->ack;
    if (seq_gt(ack, t->snd_max)) { /* acknowledges something not yet sent */
        t->ack_now = true;
        *drop = true;
        return US_TCP_EV_INVALID;
    }
    unsigned ev = 0;
    uint32_t wnd = (uint32_t)seg->window << t->snd_wscale;
    uint32_t mss = t->snd_mss;
    if (seq_gt(ack, t->snd_una)) {
        uint32_t acked = ack - t->snd_una;
        uint32_t flight = t->snd_nxt - t->snd_una;
        uint32_t end = data_end(t);
        bool fin_acked = fin_state(t->state) && seq_gt(t->snd_max, end) && seq_gt(ack, end);
        uint32_t data_acked = fin_acked ? t->tx->len : acked;
        if (data_acked) {
            us__ring_consume(t->tx, data_acked);
            ev |= US_TCP_EV_TX;
        }
        t->snd_una = ack;
        if (seq_lt(t->snd_nxt, ack))
            t->snd_nxt = ack;
        if (t->rtt_timing && seq_gt(ack, t->rtt_seq)) {
            t->rtt_timing = false;
            rtt_sample(t, now - t->rtt_start);
        }
        t->retries = 0;
        t->rto = rto_base(t); /* back-off ends with a new ACK */
        if (t->in_recovery) {
            if (seq_geq(ack, t->recover)) { /* full ACK: RFC 6582 3.2 step 3, option 1 */
                uint32_t left = t->snd_max - ack;
                t->cwnd = min_u32(t->ssthresh, max_u32(left, mss) + mss);
                t->in_recovery = false;
                t->dupacks = 0;
                t->rexmit = false;
                t->cwnd_acc = 0;
            } else { /* partial ACK: step 4 */
                t->cwnd = t->cwnd > acked ? t->cwnd - acked : 0;
                if (acked >= mss)
                    t->cwnd += mss;
                if (t->cwnd < mss)
                    t->cwnd = mss;
                t->rexmit = true;
            }
        } else {
            t->dupacks = 0;
            cwnd_grow(t, acked, flight);
            if (seq_lt(t->recover, ack))
                t->recover = ack;
        }
        t->rtx_at = ack == t->snd_max ? US_TIME_NEVER : now + t->rto;
        if (fin_acked) {
            switch (t->state) {
            case US_TCP_FIN_WAIT_1:
                t->state = US_TCP_FIN_WAIT_2;
                if (t->orphan)
                    t->tw_at = now + t->params->fin_wait2_timeout;
                ev |= US_TCP_EV_STATE;
                break;
            case US_TCP_CLOSING:
                enter_time_wait(t, now);
                ev |= US_TCP_EV_STATE;
                break;
            case US_TCP_LAST_ACK:
                *drop = true;
                return ev | enter_closed(t);
            default:
                break;
            }
        }
    } else if (ack == t->snd_una && len == 0 && !(flags & (US_TCP_SYN | US_TCP_FIN)) && !old &&
               wnd == t->snd_wnd && t->snd_max != t->snd_una && !t->persist) {
        /* duplicate ACK (RFC 5681 2) */
        t->dupacks++;
        if (t->in_recovery) {
            t->cwnd = min_u32(t->cwnd + mss, TCP_MAX_CWND); /* inflate */
        } else if (t->dupacks == 3 && seq_geq(ack, t->recover)) {
            uint32_t flight = t->snd_max - t->snd_una;
            t->ssthresh = max_u32(flight / 2, 2 * mss);
            t->cwnd = t->ssthresh + 3 * mss;
            t->recover = t->snd_max;
            t->in_recovery = true;
            t->rexmit = true;
            t->fast_retransmits++;
        }
    }
    /* window update (RFC 9293 3.10.7.4: SND.UNA =< SEG.ACK =< SND.NXT and newer than the last) */
    if (seq_geq(ack, t->snd_una) &&
        (seq_lt(t->snd_wl1, seg->seq) || (t->snd_wl1 == seg->seq && seq_leq(t->snd_wl2, ack)))) {
        t->snd_wnd = wnd;
        t->snd_wl1 = seg->seq;
        t->snd_wl2 = ack;
        if (wnd > t->max_sndwnd)
            t->max_sndwnd = wnd;
    }
    update_persist(t, now);
    return ev;
}

static unsigned slow_input(us_tcb *t, const us_tcp_repr *seg, us_pbuf *p, uint32_t len,
                           us_time now)
{
    switch (t->state) {
    case US_TCP_CLOSED:
    case US_TCP_LISTEN:
        free_payload(p);
        return 0;
    case US_TCP_SYN_SENT:
        return syn_sent_input(t, seg, p, len, now);
    default:
        break;
    }
    uint8_t flags = seg->flags;
    uint32_t seq = seg->seq;
    unsigned ev = 0;

    if (t->state == US_TCP_SYN_RCVD && (flags & US_TCP_SYN) && seq == t->irs &&
        !(flags & US_TCP_RST)) {
        if ((flags & US_TCP_ACK) && ack_acceptable(t, seg->ack)) {
            flags &= (uint8_t)~US_TCP_SYN; /* simultaneous open: the peer's SYN-ACK; SYN known */
            seq++;
        } else { /* the peer's SYN again: our SYN-ACK was lost */
            free_payload(p);
            t->snd_nxt = t->iss;
            return US_TCP_EV_OUTPUT | US_TCP_EV_INVALID;
        }
    }

    /* first: sequence number acceptable? (RFC 9293 3.10.7.4, the four cases) */
    uint32_t space = us__ring_free(t->rx);
    uint32_t adv = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    uint32_t wnd = max_u32(space, adv);
    uint32_t seg_len = len + ((flags & US_TCP_SYN) ? 1u : 0u) + ((flags & US_TCP_FIN) ? 1u : 0u);
    bool ok;
    if (wnd == 0)
        ok = seq == t->rcv_nxt; /* zero window: ACKs, RSTs (and a probe's ACK) still count */
    else if (seg_len == 0)
        ok = seq_in(seq, t->rcv_nxt, wnd);
    else
        ok = seq_in(seq, t->rcv_nxt, wnd) || seq_in(seq + seg_len - 1, t->rcv_nxt, wnd);
    if (!ok) {
        free_payload(p);
        if (flags & US_TCP_RST)
            return US_TCP_EV_INVALID;
        if (t->state == US_TCP_SYN_RCVD) {
            t->snd_nxt = t->iss; /* answer with the SYN-ACK again */
            return US_TCP_EV_OUTPUT | US_TCP_EV_INVALID;
        }
        t->ack_now = true;
        if (t->state == US_TCP_TIME_WAIT && (flags & US_TCP_FIN))
            t->tw_at = now + t->params->time_wait; /* FIN again: restart 2 MSL */
        if ((flags & (US_TCP_ACK | US_TCP_SYN)) == US_TCP_ACK && seq_lt(seq, t->rcv_nxt)) {
            /* An old duplicate still carries a valid ACK (BSD's tcp_input keeps it): a peer that
             * pulled its snd_nxt back after a timeout (ns-3 does) sends its ACKs left of our
             * window. Never a duplicate ACK, and no window update from it (snd_wl1 is newer). */
            bool drop = false;
            ev |= process_ack(t, seg, 0, flags, true, now, &drop);
            if (t->state == US_TCP_CLOSED)
                return ev | US_TCP_EV_INVALID;
        }
        return ev | US_TCP_EV_OUTPUT | US_TCP_EV_INVALID;
    }

    /* second: RST (RFC 9293 baseline: accepted when its sequence number is in the window) */
    if (flags & US_TCP_RST) {
        free_payload(p);
        if (!(seq_in(seq, t->rcv_nxt, wnd) || seq == t->rcv_nxt))
            return US_TCP_EV_INVALID;
        t->was_reset = true;
        return enter_closed(t);
    }

    if (t->ts_ok)
        ts_update(t, seg);

    /* fourth: SYN in a synchronized state (or a new SYN in SYN_RCVD): challenge ACK */
    if (flags & US_TCP_SYN) {
        free_payload(p);
        if (t->state == US_TCP_SYN_RCVD)
            t->snd_nxt = t->iss;
        else
            t->ack_now = true;
        return US_TCP_EV_OUTPUT | US_TCP_EV_INVALID;
    }

    /* fifth: ACK */
    if (!(flags & US_TCP_ACK)) {
        free_payload(p);
        return US_TCP_EV_INVALID;
    }
    if (t->state == US_TCP_SYN_RCVD) {
        if (!ack_acceptable(t, seg->ack)) {
            free_payload(p);
            t->rst_pending = true;
            t->rst_seq = seg->ack;
            t->rst_ack = false;
            return US_TCP_EV_OUTPUT | US_TCP_EV_INVALID;
        }
        syn_acked(t, seg->ack, now); /* ack == iss + 1: only the SYN was sent */
        t->snd_wnd = (uint32_t)seg->window << t->snd_wscale;
        t->max_sndwnd = max_u32(t->max_sndwnd, t->snd_wnd);
        t->snd_wl1 = seq;
        t->snd_wl2 = seg->ack;
        t->state = t->fin_queued ? US_TCP_FIN_WAIT_1 : US_TCP_ESTABLISHED;
        ev |= US_TCP_EV_STATE | (t->passive ? US_TCP_EV_ACCEPTED : 0u);
    } else {
        bool drop = false;
        ev |= process_ack(t, seg, len, flags, false, now, &drop);
        if (drop) {
            free_payload(p);
            if (t->ack_now)
                ev |= US_TCP_EV_OUTPUT;
            return ev;
        }
    }

    /* seventh and eighth: text and FIN */
    if ((len || (flags & US_TCP_FIN)) && recv_state(t->state))
        ev |= receive_text(t, seq, len, flags & US_TCP_FIN, p, now);
    else
        free_payload(p);

    if (dispatch(t, now, NULL))
        ev |= US_TCP_EV_OUTPUT;
    return ev;
}

unsigned us__tcp_input(us_tcb *t, const us_tcp_repr *seg, us_pbuf *payload, us_time now)
{
    uint32_t len = (uint32_t)seg->payload_len;
    if (payload != NULL && payload->tot_len < len)
        len = payload->tot_len; /* defensive: the caller promised tot_len == payload_len */
    else if (payload == NULL)
        len = 0;
    /* Header prediction (Van Jacobson; RFC 1323 appendix): the common in-order cases first. */
    if (t->state == US_TCP_ESTABLISHED &&
        (seg->flags & (US_TCP_SYN | US_TCP_FIN | US_TCP_RST | US_TCP_URG | US_TCP_ACK)) ==
            US_TCP_ACK &&
        seg->seq == t->rcv_nxt && t->ooseq_n == 0 && !t->persist && !t->in_recovery &&
        t->snd_wnd != 0 && ((uint32_t)seg->window << t->snd_wscale) == t->snd_wnd) {
        if (len == 0) {
            if (ack_acceptable(t, seg->ack)) {
                free_payload(payload);
                return fast_ack(t, seg, now);
            }
        } else if (seg->ack == t->snd_una && len <= us__ring_free(t->rx)) {
            return fast_data(t, seg, payload, len, now);
        }
    }
    return slow_input(t, seg, payload, len, now);
}
