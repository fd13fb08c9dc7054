/* Internal: UDP sockets' data path — demultiplexing received datagrams into receive rings, and
 * sending queued datagrams from send rings on egress. Both rings hold whole datagrams, each behind
 * an 8-byte record header: address (4), port (2), length (2), big-endian. */
#ifndef USTACK_NET_UDP_H
#define USTACK_NET_UDP_H

#include <stdbool.h>

#include "net/ipv4.h"
#include "ring.h"
#include "ustack/iface.h"

#define US__UDP_REC_LEN 8u
#define US__UDP_MAX_PAYLOAD 65507u /* 65535 - 20 - 8 */

typedef struct us__waker {
    us_waker_fn fn;
    void *ctx;
} us__waker;

/* Fire a one-shot waker: it is cleared before the call, so the callback may register again or
 * clear any waker. */
static inline void us__wake(us__waker *w)
{
    us_waker_fn fn = w->fn;
    void *ctx = w->ctx;
    w->fn = NULL;
    w->ctx = NULL;
    if (fn)
        fn(ctx);
}

typedef struct us__udp_sock {
    bool in_use;
    uint16_t port; /* 0 = unbound */
    us_ring rx, tx;
    us__waker rx_waker, tx_waker;
} us__udp_sock;

/* A UDP datagram to us. Takes the frame. Returns US_INGRESS_* bits. The general entry, for any
 * frame; a datagram in a flat frame takes net/rx.h's inline path. */
unsigned us__udp_input(us_stack *s, us__ipctx *c, us_time now);

/* What one socket visit of egress did. */
typedef enum us__visit {
    US__VISIT_IDLE,    /* nothing to send (or waiting for ARP) */
    US__VISIT_SENT,    /* made progress: a segment or datagram went out, was queued or dropped */
    US__VISIT_REFUSED, /* the device refused a TX buffer: stop egress */
} us__visit;

/* Send (at most) the oldest datagram of socket i. */
us__visit us__udp_egress(us_stack *s, uint32_t i, us_time now);

#endif /* USTACK_NET_UDP_H */
