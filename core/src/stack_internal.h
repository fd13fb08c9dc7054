/* Internal: the us_stack itself and what the stack-layer files (stack.c, iface.c, socket.c,
 * net/arp.c, net/ipv4.c, net/icmp.c, net/udp.c) share. Everything lives in the memory given to
 * us_stack_init; the struct is at its start.
 *
 * Identifiers: a socket id (= its public handle) is i for UDP slot i and udp_n + i for TCP slot i;
 * the ready list is over socket ids. A deadline item is i for TCP slot i, tcp_n + i for ARP entry
 * i, tcp_n + arp_n + i for reassembly slot i. */
#ifndef USTACK_STACK_INTERNAL_H
#define USTACK_STACK_INTERNAL_H

#include <stdbool.h>

#include "compiler.h"
#include "deadline.h"
#include "net/arp.h"
#include "net/icmp.h"
#include "net/ipv4.h"
#include "net/tcp.h"
#include "net/udp.h"
#include "ring.h"
#include "ustack/iface.h"
#include "ustack/socket.h"

#define US__NONE UINT32_MAX

typedef struct us__tcp_sock {
    us_tcb tcb;
    us_ring rx, tx;
    us_tcp_ooseg *ooseq;
    bool in_use;   /* the slot is taken (by the application or by the stack) */
    bool user_ref; /* the application holds the handle */
    bool listener;
    bool queued;   /* on its listener's accept queue */
    bool eof;      /* a FIN was received (recv returns 0 once rx is empty) */
    bool arp_wait; /* a segment waits for arp_ip's MAC */
    uint32_t arp_ip;
    uint32_t parent;   /* listener slot until accepted, else US__NONE */
    uint32_t acc_next; /* next on the listener's accept queue */
    /* listener only */
    uint32_t backlog, syn_pending, acc_head, acc_tail, acc_len;
    us__waker rx_waker, tx_waker;
    uint32_t seen_rtx, seen_frtx, seen_to; /* TCB counters already added to the stack stats */
} us__tcp_sock;

struct us_stack {
    us_stack_config cfg;
    us_dev dev;
    us_bufs bufs;
    us_stack_stats stats;
    us_tcp_params tcp_params;
    uint64_t rng;      /* splitmix64 state: ISNs, ephemeral ports */
    uint16_t ip_ident; /* next IPv4 identification */
    uint32_t bcast;    /* subnet-directed broadcast address */
    us_time now;       /* latest time the host gave us: for API calls that take none (send, recv,
                          close), whose TCB deadlines are computed from it */
    us__waker egress_waker;

    us__udp_sock *udp;
    uint32_t udp_n;
    us__tcp_sock *tcp;
    uint32_t tcp_n;

    /* Ready list: FIFO of socket ids that have something to send now. */
    uint32_t *rl_next;
    uint8_t *rl_in;
    uint32_t rl_head, rl_tail;

    us__dl dl; /* deadlines */

    us__arp arp;
    us__reass reass;
};

/* ---- stack.c ---- */
uint64_t us__rand(us_stack *s);

/* ---- iface.c ---- */
/* A TX buffer of len bytes, or NULL (tx_alloc_fail counted). */
uint8_t *us__tx_acquire(us_stack *s, uint32_t len);
void us__tx_commit(us_stack *s, uint8_t *buf, uint32_t len);
/* Write the 14-byte Ethernet header (from our MAC). */
void us__eth_header(const us_stack *s, uint8_t *buf, const uint8_t *dst, uint16_t ethertype);
/* Count a drop; return US_INGRESS_DROPPED. */
unsigned us__drop(us_stack *s, us_drop_reason r);
unsigned us__drop_wire(us_stack *s, us_wire_err e);
void us__ready_push(us_stack *s, uint32_t id);
void us__ready_push_front(us_stack *s, uint32_t id);
/* 1 when egress has something to do now (ready sockets, owed ARP output). */
int us__output_pending(const us_stack *s);
/* Fire the egress-wanted waker. */
void us__egress_wanted(us_stack *s);
extern const uint8_t us__eth_bcast[US_ETH_ADDR_LEN];

/* ---- socket.c ---- */
unsigned us__tcp_sock_input(us_stack *s, us__ipctx *c, us_time now);
us__visit us__tcp_egress(us_stack *s, uint32_t i, us_time now);
void us__tcp_sock_timer(us_stack *s, uint32_t i, us_time now);
/* Sockets waiting for ip's MAC: it is known now / ARP gave up. */
void us__tcp_arp_resolved(us_stack *s, uint32_t ip);
void us__tcp_arp_failed(us_stack *s, uint32_t ip, us_time now);
/* PBUF_POOL reclaim: free the out-of-order queues of all connections. */
void us__tcp_reclaim(us_pool *pool, void *ctx);
void us__sockets_init(us_stack *s, uint8_t *udp_rings, uint8_t *tcp_rings, us_tcp_ooseg *ooseq);

#endif /* USTACK_STACK_INTERNAL_H */
