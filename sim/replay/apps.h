/* stackbench replay: the applications on the stack under test, one us_app for all of them.
 *   UDP sink      one socket bound to every UDP port the trace's flows use at the server side;
 *                 reads every datagram.
 *   TCP server    a listener on every TCP server port of the trace; accepts every connection and
 *                 plays the recorded server's part of its flow: after each client message of the
 *                 recorded size it answers with the recorded response size (tcp-rr, iot-mix), and
 *                 with no response recorded it is a sink (tcp-bulk). It closes when the client has
 *                 closed and nothing is left to answer. A connection is matched to its flow by the
 *                 ISN of the SYN-ACK the stack sent for it (the harness reports each SYN-ACK it
 *                 sees leave the NIC); one it cannot match is served as a sink.
 *   ICMP echo     in the stack itself.
 * bytes_delivered counts the application payload bytes read (UDP datagrams, TCP stream bytes).
 * The step does nothing — and returns 0 — when no socket has anything for it, so idle polling
 * loops stay empty. Every socket's wakers are us_sched_app_waker (ctx = the scheduler). */
#ifndef SBREPLAY_APPS_H
#define SBREPLAY_APPS_H

#include <stdint.h>

#include "sbtraffic/flows.h"
#include "ustack/sched.h"
#include "ustack/socket.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The flow a connection belongs to, from the ISN of the stack's SYN-ACK; SB_FLOW_NONE if unknown. */
typedef uint32_t (*sb_apps_flow_of_iss_fn)(void *ctx, uint32_t iss);

typedef struct sb_app_conn {
    us_sock h;
    const sb_flow *flow;  /* NULL: served as a sink */
    size_t msg;           /* current message of the flow */
    uint64_t c2s_before;  /* client bytes of the messages before `msg` */
    uint64_t rx_total;    /* stream bytes read */
    uint64_t tx_done;     /* bytes of the current (server) message sent */
    uint8_t eof, closing;
} sb_app_conn;

typedef struct sb_apps {
    us_stack *stack;
    us_sched *sched;
    const sb_flows *flows;
    us_sock *udp;
    uint16_t *udp_port;
    uint32_t n_udp;
    us_sock *listen;
    uint16_t *listen_port;
    uint32_t n_listen;
    sb_app_conn *conns;
    uint32_t n_conns, cap_conns;
    sb_apps_flow_of_iss_fn flow_of_iss;
    void *flow_of_iss_ctx;
    uint8_t *buf; /* scratch for reads and the response pattern */
    uint32_t buf_len;
    /* Counters. */
    uint64_t bytes_delivered; /* payload read */
    uint64_t bytes_sent;      /* response bytes handed to the stack */
    uint64_t datagrams, accepted, unmatched, closed, resets;
} sb_apps;

/* The UDP ports / TCP ports the applications will use for flows f (distinct, ascending); each
 * array gets at most f->n entries. Returns the counts in *n_udp, *n_tcp. */
void sb_apps_ports(const sb_flows *f, uint16_t *udp, uint32_t *n_udp, uint16_t *tcp,
                   uint32_t *n_tcp);

/* Most TCP flows of f open at once in the recording (from their first to last packet). */
uint32_t sb_apps_tcp_concurrency(const sb_flows *f);

/* Open and bind / listen every socket on s for flows f, with room for max_conns connections.
 * Returns US_OK, US_ENOMEM (socket table too small, or malloc), US_EINVAL (a port in use). */
us_status sb_apps_init(sb_apps *a, us_stack *s, const sb_flows *f, uint32_t max_conns,
                       sb_apps_flow_of_iss_fn fn, void *fn_ctx);

/* Register the scheduler whose app waker the sockets use (before us_sched_start). */
void sb_apps_set_sched(sb_apps *a, us_sched *sc);

/* The us_app step (ctx = the sb_apps). */
int sb_apps_step(void *ctx, us_stack *s, us_time now, uint64_t *bytes);

/* Connections not yet closed and released. */
static inline uint32_t sb_apps_open_conns(const sb_apps *a)
{
    return a->n_conns;
}

/* Abort every connection, close every socket (teardown) and free the memory. */
void sb_apps_close(sb_apps *a, us_time now);

#ifdef __cplusplus
}
#endif

#endif /* SBREPLAY_APPS_H */
