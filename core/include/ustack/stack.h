/* libustack stack instance: configuration, init over caller memory, and counters. All state of
 * one stack — buffers, ARP cache, reassembly, sockets, timers — lives in the memory given to
 * us_stack_init, so many stacks share one process (the replay harness runs two). Time is always
 * an argument in nanoseconds; the stack never reads a clock. */
#ifndef USTACK_STACK_H
#define USTACK_STACK_H

#include "ustack/bufs.h"
#include "ustack/dev.h"
#include "ustack/wire/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t us_time; /* nanoseconds of the host's clock (virtual or real) */
#define US_TIME_NEVER UINT64_MAX

typedef struct us_stack us_stack;

typedef struct us_stack_config {
    uint8_t mac[6];
    uint32_t ipv4_addr;    /* host order */
    uint32_t ipv4_netmask; /* host order */
    uint32_t ipv4_gateway; /* host order; 0 = none (off-link destinations are unreachable) */
    us_bufs_config bufs;

    uint32_t udp_sockets;       /* UDP socket table size; default 8 */
    uint32_t tcp_sockets;       /* TCP socket table size (listeners included); default 8 */
    uint32_t udp_rx_buf;        /* bytes of receive ring per UDP socket; default 8 KiB */
    uint32_t udp_tx_buf;        /* bytes of send ring per UDP socket; default 8 KiB */
    uint32_t tcp_rx_buf;        /* receive ring (window) per TCP socket; default 64 KiB */
    uint32_t tcp_tx_buf;        /* send ring per TCP socket; default 64 KiB */

    uint32_t arp_entries;       /* ARP cache size; default 16 */
    uint32_t arp_queue;         /* packets queued per unresolved entry; default 4 */
    us_time arp_max_age;        /* a resolved entry expires after this; default 5 min */
    us_time arp_retry;          /* request retransmit interval while pending; default 1 s */
    uint32_t arp_max_retries;   /* requests before a pending entry fails; default 5 */

    uint32_t reass_max_bytes;   /* payload bytes held in all reassemblies at once; default 16 KiB */
    uint32_t reass_slots;       /* datagrams being reassembled at once; default 4 */
    us_time reass_timeout;      /* an incomplete datagram is dropped after this; default 15 s */

    uint16_t tcp_mss;           /* MSS we announce; 0 = mtu - 40; default 0 */
    uint32_t tcp_ooseq_max;     /* segments held out of order per connection; default 64 (a
                                   64 KiB window holds 45 full segments: fewer turns every loss
                                   into a timeout) */
    us_time tcp_time_wait;      /* TIME_WAIT length (2 MSL); default 60 s */
    us_time tcp_fin_wait2_timeout; /* a released connection left in FIN_WAIT_2 by a silent peer
                                      is dropped after this; default 60 s (Linux's
                                      tcp_fin_timeout) */
    us_time tcp_delayed_ack;    /* delayed-ACK timeout; default 40 ms; 0 = ACK every segment */
    us_time tcp_rto_initial;    /* RFC 6298: 1 s */
    us_time tcp_rto_min;        /* default 200 ms (Linux; RFC 6298 says 1 s) */
    us_time tcp_rto_max;        /* default 60 s */
    uint32_t tcp_max_retries;   /* retransmissions of one segment before the connection is
                                   aborted; default 12 */
    uint64_t seed;              /* ISNs and ephemeral ports: same seed, same numbers */
} us_stack_config;

/* Why a received frame (or a packet the stack meant to send) was dropped. X(id, name). */
#define US_DROP_TABLE(X)                                                                           \
    X(NOT_FOR_US, "not_for_us")         /* MAC or IPv4 destination is another host's */            \
    X(ETHERTYPE, "ethertype")           /* neither IPv4 nor ARP */                                 \
    X(IP_PROTO, "ip_proto")             /* IPv4 protocol not handled (ICMP unreachable sent) */    \
    X(TTL, "ttl")                       /* TTL 0 on arrival */                                     \
    X(ICMP_TYPE, "icmp_type")           /* ICMP type the stack does not answer */                  \
    X(NO_SOCKET, "no_socket")           /* UDP port unreachable, TCP segment with no connection */ \
    X(SOCKET_FULL, "socket_full")       /* UDP receive ring full */                                \
    X(TCP_INVALID, "tcp_invalid")       /* unacceptable TCP segment (out of window, bad ACK) */    \
    X(TCP_OOSEQ, "tcp_ooseq")           /* out-of-order segment beyond the queue's limit */        \
    X(REASS_MEM, "reass_mem")           /* reassembly memory or slots exhausted */                 \
    X(REASS_TIMEOUT, "reass_timeout")   /* incomplete datagram expired */                          \
    X(REASS_OVERLAP, "reass_overlap")   /* fragment overlapping another with different data */     \
    X(ARP_QUEUE, "arp_queue")           /* packet waiting for ARP: queue full or ARP failed */     \
    X(NO_ROUTE, "no_route")             /* destination off-link and no gateway */                  \
    X(POOL, "pool")                     /* no buffer for a packet to send (pool or heap empty) */  \
    X(TX_UDP, "tx_udp")                 /* UDP datagram dropped: device refused a TX buffer */

typedef enum us_drop_reason {
#define US_DROP_ENUM(id, name) US_DROP_##id,
    US_DROP_TABLE(US_DROP_ENUM)
#undef US_DROP_ENUM
    US_DROP_COUNT
} us_drop_reason;

const char *us_drop_name(us_drop_reason r);

typedef struct us_stack_stats {
    uint64_t frames_rx;       /* frames handed to ingress */
    uint64_t frames_tx;       /* frames committed to the device */
    uint64_t bytes_rx;
    uint64_t bytes_tx;
    uint64_t tx_alloc_fail;   /* TX buffers the device refused */
    uint64_t socket_visits;   /* sockets examined by egress */
    uint64_t egress_calls;
    uint64_t ingress_calls;
    uint64_t drop_wire[US_WIRE_ERR_COUNT]; /* malformed frames, by parse error */
    uint64_t drop[US_DROP_COUNT];          /* other drops, by reason */
    uint64_t tcp_retransmits;
    uint64_t tcp_fast_retransmits;
    uint64_t tcp_timeouts;    /* RTO expirations */
    uint64_t tcp_ooseq_reclaimed; /* out-of-order segments freed by the pool's reclaim */
} us_stack_stats;

/* Fill cfg with the defaults documented above (MAC 02:00:00:00:00:01, 10.0.0.1/24, no gateway). */
void us_stack_config_default(us_stack_config *cfg);

/* Bytes of memory us_stack_init needs for cfg; 0 if cfg is invalid. */
size_t us_stack_mem_size(const us_stack_config *cfg);

/* Build a stack in mem[0, mem_len) (which must outlive it) for device dev (copied). Returns the
 * stack, or NULL with *st (if st) = US_EINVAL for an invalid cfg, a NULL dev callback, or mem too
 * small. */
us_stack *us_stack_init(void *mem, size_t mem_len, const us_stack_config *cfg, const us_dev *dev,
                        us_status *st);

const us_stack_stats *us_stack_get_stats(const us_stack *s);
us_bufs *us_stack_bufs(us_stack *s);
const us_stack_config *us_stack_get_config(const us_stack *s);
/* The device the stack was built for (schedulers drain dev->rx themselves, frame by frame). */
const us_dev *us_stack_get_dev(const us_stack *s);

/* Add a static ARP entry (never ages) / announce our address with a gratuitous ARP on the next
 * egress. US_OK, US_ENOMEM (cache full of static entries). */
us_status us_arp_add_static(us_stack *s, uint32_t ip, const uint8_t mac[6]);
void us_arp_announce(us_stack *s);

#ifdef __cplusplus
}
#endif

#endif /* USTACK_STACK_H */
