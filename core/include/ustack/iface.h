/* libustack interface: the split poll that schedulers drive (smoltcp's poll_ingress_single /
 * poll_egress / poll_at, embassy-net's wake model).
 *   us_ingress   process exactly one received frame
 *   us_egress    let sockets transmit (every socket in order, or only those on the ready list)
 *   us_poll_at   when the stack next needs egress without new input
 *   us_poll      ingress drained from the device + egress: the unit the sync scheduler calls
 * Sockets report their needs to the stack: "now" (data, flags or a window update to send) puts
 * them on the ready list and fires the stack's egress-wanted waker; a timer (retransmit, delayed
 * ACK, persist, TIME_WAIT, ARP retry, reassembly timeout) goes into the stack's deadline heap. */
#ifndef USTACK_IFACE_H
#define USTACK_IFACE_H

#include "ustack/stack.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one ingress call did (bit set). */
#define US_INGRESS_PROCESSED 0x1u     /* a frame was consumed (always set by us_ingress) */
#define US_INGRESS_STATE_CHANGED 0x2u /* a socket changed state or got data (smoltcp's
                                         SocketStateChanged) */
#define US_INGRESS_DROPPED 0x4u       /* the frame was dropped (counted by reason) */

/* Process one received frame. The stack takes ownership of frame in every case (it is freed,
 * queued or delivered; never leaked). Replies (ARP, ICMP echo, RST, ACKs due at once) are sent
 * through the device here or queued for egress. Returns US_INGRESS_* bits. */
unsigned us_ingress(us_stack *s, us_pbuf *frame, us_time now);

typedef enum us_egress_mode {
    US_EGRESS_ALL,       /* visit every socket in table order, at most one segment each per pass,
                            passes repeated until none sends (smoltcp's poll_egress) */
    US_EGRESS_READYLIST, /* visit only sockets that asked (ready list + expired deadlines) */
} us_egress_mode;

/* Run due timers and let sockets transmit until nothing is left or the device refuses a TX buffer
 * (counted in tx_alloc_fail; those sockets stay ready). Returns the number of frames sent. */
uint32_t us_egress(us_stack *s, us_time now, us_egress_mode mode);

/* The next time egress has work without new input: `now` (or earlier) if something is ready,
 * the earliest deadline, or US_TIME_NEVER. */
us_time us_poll_at(const us_stack *s, us_time now);

/* Drain received frames from dev->rx (up to dev->max_burst), then egress over all sockets.
 * Returns 1 if any frame was processed or sent, else 0. */
int us_poll(us_stack *s, us_time now);

/* The stack's egress-wanted waker: fired (once; register again) by a send, a receive that reopens
 * the window by at least one MSS, connect, close, abort, and by ingress that leaves a reply
 * pending. fn == NULL removes it. */
typedef void (*us_waker_fn)(void *ctx);
void us_set_egress_waker(us_stack *s, us_waker_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_IFACE_H */
