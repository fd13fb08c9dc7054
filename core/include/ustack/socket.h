/* libustack sockets: a fixed table of UDP and TCP sockets with byte rings, and one-shot wakers.
 * Handles are small non-negative integers (us_sock); calls on a bad handle return US_EINVAL.
 * Data calls copy between the caller and the socket's rings: TCP keeps unacknowledged data in its
 * send ring and builds each segment straight into a device TX buffer, so sending allocates no
 * pbuf; received in-order data is copied into the receive ring and the frame freed at once.
 * Wakers fire once and must be registered again; spurious wakes are allowed. If a call fails,
 * no waker is fired for it. A waker may be cleared from inside any callback. */
#ifndef USTACK_SOCKET_H
#define USTACK_SOCKET_H

#include "ustack/iface.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t us_sock; /* >= 0 a socket; < 0 a us_status */

/* ---- wakers ---- */

/* Receive side: in-order TCP data, a UDP datagram, a new connection to accept, a state change.
 * Send side: acknowledged bytes freed send space, a state change (connected, closed, reset). */
void us_sock_set_rx_waker(us_stack *s, us_sock h, us_waker_fn fn, void *ctx);
void us_sock_set_tx_waker(us_stack *s, us_sock h, us_waker_fn fn, void *ctx);

/* ---- UDP ---- */

/* A UDP socket, or US_ENOMEM when the table is full. */
us_sock us_udp_open(us_stack *s);
/* Bind to a local port (0 = an ephemeral one). US_OK, US_EINVAL (in use, bad handle). */
us_status us_udp_bind(us_stack *s, us_sock h, uint16_t port);
/* Queue one datagram of len bytes to dst_ip:dst_port; sent by the next egress. US_OK, US_EBUF
 * (does not fit the send ring now; nothing queued), US_EINVAL (unbound, len > 65507). */
us_status us_udp_send(us_stack *s, us_sock h, const void *data, uint32_t len, uint32_t dst_ip,
                      uint16_t dst_port);
/* Take the oldest datagram: copies up to cap bytes (the rest of the datagram is discarded) and
 * returns its full length, or US_EAGAIN when none is waiting. src_ip / src_port may be NULL. */
int32_t us_udp_recv(us_stack *s, us_sock h, void *buf, uint32_t cap, uint32_t *src_ip,
                    uint16_t *src_port);
/* Close and free the handle; queued datagrams are dropped. */
us_status us_udp_close(us_stack *s, us_sock h);

/* ---- TCP (RFC 9293) ---- */

typedef enum us_tcp_state {
    US_TCP_CLOSED,
    US_TCP_LISTEN,
    US_TCP_SYN_SENT,
    US_TCP_SYN_RCVD,
    US_TCP_ESTABLISHED,
    US_TCP_FIN_WAIT_1,
    US_TCP_FIN_WAIT_2,
    US_TCP_CLOSE_WAIT,
    US_TCP_CLOSING,
    US_TCP_LAST_ACK,
    US_TCP_TIME_WAIT,
} us_tcp_state;

const char *us_tcp_state_name(us_tcp_state st);

/* A TCP socket in CLOSED, or US_ENOMEM when the table is full. */
us_sock us_tcp_open(us_stack *s);
/* Listen on port with room for `backlog` connections not yet accepted. Each incoming connection
 * takes a free socket of the table (none free: the SYN is dropped and counted). */
us_status us_tcp_listen(us_stack *s, us_sock h, uint16_t port, uint32_t backlog);
/* An established connection from the listener's queue, or US_EAGAIN. */
us_sock us_tcp_accept(us_stack *s, us_sock listener);
/* Active open to dst_ip:dst_port from local_port (0 = ephemeral). The SYN goes out on egress. */
us_status us_tcp_connect(us_stack *s, us_sock h, uint32_t dst_ip, uint16_t dst_port,
                         uint16_t local_port, us_time now);
/* Copy up to len bytes into the send ring; returns bytes taken (0 when full: the tx waker fires
 * when space frees), or US_EINVAL when the connection cannot send (not yet / no longer). */
int32_t us_tcp_send(us_stack *s, us_sock h, const void *data, uint32_t len);
/* Copy up to len bytes of received data out; returns bytes read, 0 at end of stream (FIN
 * received and all data read), US_EAGAIN when nothing is there yet, US_EINVAL on a reset or
 * closed connection. */
int32_t us_tcp_recv(us_stack *s, us_sock h, void *buf, uint32_t len);
/* Bytes waiting to be read / free space in the send ring. */
uint32_t us_tcp_recv_queue(const us_stack *s, us_sock h);
uint32_t us_tcp_send_space(const us_stack *s, us_sock h);
/* Send FIN after the queued data (graceful close). The handle stays valid until us_tcp_release. */
us_status us_tcp_close(us_stack *s, us_sock h);
/* Send RST and go to CLOSED at once. */
us_status us_tcp_abort(us_stack *s, us_sock h, us_time now);
/* Give the handle back to the table. A connection still open is closed gracefully in the
 * background and its slot freed when it reaches CLOSED. */
us_status us_tcp_release(us_stack *s, us_sock h);
us_tcp_state us_tcp_get_state(const us_stack *s, us_sock h);

/* Per-connection figures (for tests and reports). */
typedef struct us_tcp_info {
    us_tcp_state state;
    uint32_t snd_una, snd_nxt, snd_wnd, rcv_nxt, rcv_wnd;
    uint32_t cwnd, ssthresh, mss;
    us_time srtt, rttvar, rto;
    uint32_t retransmits, dup_acks, ooseq_segs;
    uint8_t snd_wscale, rcv_wscale;
} us_tcp_info;
us_status us_tcp_get_info(const us_stack *s, us_sock h, us_tcp_info *out);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_SOCKET_H */
