/* Internal: one TCP connection (a TCB) as a state machine that knows nothing of the stack around
 * it (RFC 9293, RFC 6298 RTO, RFC 5681/6582 NewReno, RFC 7323 window scale + timestamps, RFC 2018
 * SACK blocks as a receiver).
 * The stack (socket.c / iface.c) demultiplexes segments to TCBs, owns the socket slots and rings,
 * and turns the segments a TCB wants to send into frames:
 *
 *   input:   us__tcp_input(t, seg, payload, now)           -> US_TCP_EV_* bits
 *   timers:  us__tcp_timers(t, now)                        -> US_TCP_EV_* bits (at us__tcp_poll_at)
 *   output:  while (us__tcp_dispatch(t, now, &out)) {       (smoltcp's dispatch)
 *                get a TX buffer, or stop (the TCB is unchanged and will offer it again);
 *                build the frame from out.repr and out.data_len bytes of the send ring at
 *                out.data_off; commit;
 *                us__tcp_sent(t, &out, now); }
 *
 * Frames: size the header with us_tcp_header_len(&out.repr). Options come as negotiated:
 * timestamps on every segment but RSTs (snd_mss already leaves their 12 bytes, so 20 + 12 +
 * data_len <= the MSS we announce + 20), SACK blocks on pure ACKs only.
 *
 * Sequence state follows RFC 9293 names. Data to send sits in *tx starting at snd_una (ring head =
 * snd_una, plus one for an unacknowledged SYN); received in-order data is appended to *rx. Out-of-
 * order segments are held as pbufs (bounded by params->ooseq_max) and given back to the pool by
 * us__tcp_ooseq_free under pool pressure. */
#ifndef USTACK_NET_TCP_H
#define USTACK_NET_TCP_H

#include <stdbool.h>

#include "ring.h"
#include "ustack/pbuf.h"
#include "ustack/socket.h"
#include "ustack/wire/tcp.h"

/* Shared by every TCB of a stack; from us_stack_config. */
typedef struct us_tcp_params {
    uint16_t mss;        /* MSS we announce, and the most we send */
    uint32_t ooseq_max;  /* out-of-order segments held per connection */
    us_time time_wait;
    us_time fin_wait2_timeout; /* an orphaned connection in FIN_WAIT_2 is dropped after this */
    us_time delayed_ack; /* 0: ACK every segment at once */
    us_time rto_initial, rto_min, rto_max;
    uint32_t max_retries;
    bool timestamps;      /* offer RFC 7323 timestamps (off when zeroed). Recommended with Linux
                             peers: without them a Linux sender in loss recovery gets no RTT
                             sample (Karn) and its RTO stays backed off */
    bool sack_off;        /* do not offer SACK (RFC 2018; zero, the default: offered). As the
                             receiver we report held out-of-order data in SACK blocks; as the
                             sender we ignore the peer's blocks (NewReno recovery) */
} us_tcp_params;

/* What an input or timer call changed, for the stack to wake the right parties. */
#define US_TCP_EV_RX 0x01u       /* new in-order data or FIN readable: fire the rx waker */
#define US_TCP_EV_TX 0x02u       /* acknowledged bytes freed send space: fire the tx waker */
#define US_TCP_EV_STATE 0x04u    /* state changed: fire both wakers */
#define US_TCP_EV_OUTPUT 0x08u   /* the TCB has something to send now: put it on the ready list */
#define US_TCP_EV_CLOSED 0x10u   /* reached CLOSED (reset, timeout, TIME_WAIT over): slot may go */
#define US_TCP_EV_ACCEPTED 0x20u /* SYN_RCVD -> ESTABLISHED of a passive open: queue on the
                                    listener */
#define US_TCP_EV_INVALID 0x40u  /* the segment was unacceptable, dropped (US_DROP_TCP_INVALID) */
#define US_TCP_EV_OOSEQ_FULL 0x80u /* an out-of-order segment was dropped: queue full
                                      (US_DROP_TCP_OOSEQ) */

/* One held out-of-order segment: its first sequence number and its payload (a pbuf chain whose
 * tot_len is the segment's payload length; a FIN flag travels with it). */
typedef struct us_tcp_ooseg {
    uint32_t seq;
    bool fin;
    us_pbuf *p;
} us_tcp_ooseg;

typedef struct us_tcb {
    us_tcp_state state;
    uint32_t local_ip, remote_ip;
    uint16_t local_port, remote_port;

    /* send sequence space */
    uint32_t iss, snd_una, snd_nxt, snd_max; /* snd_max: highest sequence number sent + 1 */
    uint32_t snd_wnd;                        /* peer's window, scaled */
    uint32_t snd_wl1, snd_wl2;
    uint16_t snd_mss;                        /* the most we put in one segment */
    uint8_t snd_wscale, rcv_wscale;          /* shifts in use (0 without window scaling) */
    bool ts_ok;                              /* timestamps negotiated (snd_mss leaves room) */
    uint32_t ts_recent;                      /* TSval to echo (RFC 7323 4.3) */
    uint32_t last_ack_sent;                  /* rcv_nxt our last ACK carried */
    bool sack_ok;                            /* SACK-permitted both ways: ACKs carry blocks */
    uint32_t sack_recent;                    /* seq of the latest out-of-order segment (its
                                                block is reported first) */

    /* receive sequence space */
    uint32_t irs, rcv_nxt;
    uint32_t rcv_adv; /* right edge last advertised: the window never shrinks below it */

    /* congestion control (NewReno) */
    uint32_t cwnd, ssthresh, recover;
    uint32_t dupacks;
    bool in_recovery;

    /* RTT and RTO (RFC 6298); one timed segment at a time (Karn's rule) */
    us_time srtt, rttvar, rto;
    bool rtt_timing;
    uint32_t rtt_seq;
    us_time rtt_start;
    uint32_t retries; /* consecutive RTO expirations of the oldest segment */

    /* timers: US_TIME_NEVER when off */
    us_time rtx_at;     /* retransmission (also SYN, FIN, zero-window persist) */
    us_time delack_at;  /* delayed ACK */
    us_time tw_at;      /* TIME_WAIT end; for an orphan, also the FIN_WAIT_2 timeout */

    /* what to send */
    bool ack_now;       /* an ACK (or window update) is owed at once: any segment pays it */
    uint32_t acks_owed; /* pure duplicate ACKs owed, one per out-of-order segment, so that a
                           stack draining a burst before egress still sends every one */
    uint32_t unacked_segs; /* full segments received since our last ACK */
    bool fin_queued;    /* the application closed: FIN after the data in tx */
    bool rst_pending;   /* one RST to send (abort, or the reply to an unacceptable ACK in
                           SYN_SENT / SYN_RCVD): seq rst_seq, ACK rcv_nxt if rst_ack */
    uint32_t rst_seq;
    bool rst_ack;
    bool persist;       /* zero window (or a window too small to use, nothing in flight): the rtx
                           timer sends probes, backing off, for as long as the peer answers */
    bool force;         /* a probe is due: one segment even if the window forbids it */
    bool rexmit;        /* fast retransmit / NewReno partial ACK: resend the segment at snd_una */
    bool orphan;        /* the application let go of it (us__tcp_orphan) */
    bool passive;       /* opened by us__tcp_accept_syn (EV_ACCEPTED on reaching ESTABLISHED) */
    bool have_rtt;      /* srtt/rttvar hold at least one sample */
    bool was_reset;     /* reached CLOSED by a RST from the peer */
    uint32_t max_sndwnd; /* largest window the peer offered (send-side SWS avoidance) */
    uint32_t cwnd_acc;   /* bytes acknowledged in congestion avoidance, towards the next MSS */

    us_ring *rx, *tx;
    us_tcp_ooseg *ooseq; /* params->ooseq_max entries, sorted by seq */
    uint32_t ooseq_n;
    const us_tcp_params *params;

    uint32_t retransmits; /* counters, for us_tcp_info and the stack's stats */
    uint32_t fast_retransmits;
    uint32_t timeouts;
} us_tcb;

/* A segment the TCB wants sent. */
typedef struct us_tcp_out {
    us_tcp_repr repr;  /* ports, seq, ack, flags, window, options; payload_len = data_len */
    uint32_t data_off; /* payload starts this many bytes after the tx ring head */
    uint32_t data_len;
} us_tcp_out;

/* Bind a TCB to its rings and out-of-order array (ooseq_max entries); state CLOSED. */
void us__tcp_init(us_tcb *t, const us_tcp_params *params, us_ring *rx, us_ring *tx,
                  us_tcp_ooseg *ooseq);

/* Active open: SYN_SENT with initial sequence number iss; the SYN is offered by dispatch. */
void us__tcp_connect(us_tcb *t, uint32_t local_ip, uint16_t local_port, uint32_t remote_ip,
                     uint16_t remote_port, uint32_t iss, us_time now);

/* Passive open: t (CLOSED) takes the SYN `syn` that reached a listener; SYN_RCVD, SYN-ACK offered
 * by dispatch. Returns US_TCP_EV_OUTPUT. */
unsigned us__tcp_accept_syn(us_tcb *t, uint32_t local_ip, uint32_t remote_ip,
                            const us_tcp_repr *syn, uint32_t iss, us_time now);

/* One segment for this connection. payload (may be NULL when seg->payload_len == 0) holds the
 * segment's data, payload->tot_len == seg->payload_len, and is owned by the TCB from here on
 * (appended to rx and freed, held out of order, or freed). Returns US_TCP_EV_* bits. */
unsigned us__tcp_input(us_tcb *t, const us_tcp_repr *seg, us_pbuf *payload, us_time now);

/* Run the timers due at now (retransmission with backoff, persist probes, delayed ACK, TIME_WAIT).
 * Returns US_TCP_EV_* bits. */
unsigned us__tcp_timers(us_tcb *t, us_time now);

/* The next segment to send now, if any (1) — data within min(cwnd, snd_wnd), SYN/FIN, an owed
 * ACK or window update, a zero-window probe, an RST — or 0. Changes nothing. With out NULL it
 * only answers whether there is one (cheap: no header is built). */
int us__tcp_dispatch(const us_tcb *t, us_time now, us_tcp_out *out);

/* out (from dispatch) went on the wire: advance snd_nxt/snd_max, start RTT timing and the
 * retransmission timer, clear owed ACKs. */
void us__tcp_sent(us_tcb *t, const us_tcp_out *out, us_time now);

/* The earliest time the TCB needs a timer or output call: now if it has output, a deadline, or
 * US_TIME_NEVER. */
us_time us__tcp_poll_at(const us_tcb *t, us_time now);

/* The application read n bytes from rx: returns US_TCP_EV_OUTPUT if the window reopened by at
 * least one MSS (or from zero), so a window update is owed at once. */
unsigned us__tcp_recvd(us_tcb *t, uint32_t n);

/* The application queued data (tx grew): US_TCP_EV_OUTPUT if something may be sent now. */
unsigned us__tcp_queued(us_tcb *t);

/* Graceful close: FIN after queued data. Returns US_TCP_EV_* bits (e.g. CLOSED from SYN_SENT). */
unsigned us__tcp_close(us_tcb *t);

/* The application released its handle: nobody will read or close any more. A peer that ACKs our
 * FIN and then goes silent would hold the connection in FIN_WAIT_2 for ever, so an orphan there
 * is dropped (silently, as Linux's tcp_fin_timeout does) after params->fin_wait2_timeout. */
void us__tcp_orphan(us_tcb *t, us_time now);

/* Abort: CLOSED at once (returns EV_STATE | EV_CLOSED); in a synchronized state or SYN_RCVD a
 * RST is left to send (rst_pending, EV_OUTPUT): dispatch offers it even though the TCB is CLOSED,
 * so the stack should let it go out before it frees the slot. Frees the out-of-order queue. */
unsigned us__tcp_abort(us_tcb *t);

/* Free every held out-of-order segment; returns how many (for the pool's reclaim). */
uint32_t us__tcp_ooseq_free(us_tcb *t);

/* The RST that RFC 9293 3.10.7.1 prescribes for a segment that reached no connection, into *rst;
 * 0 when none may be sent (the segment itself is a RST). */
int us__tcp_rst_reply(const us_tcp_repr *seg, us_tcp_repr *rst);

/* Release everything the TCB holds (out-of-order pbufs) and set CLOSED: timers off, nothing to
 * send. Bindings (rings, params) and the counters stay. */
void us__tcp_reset(us_tcb *t);

#endif /* USTACK_NET_TCP_H */
