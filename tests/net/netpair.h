/* Test device and two-stack wiring for the stack-layer tests. A node is one us_stack over malloc'd
 * memory with an in-test device: received frames come from an RX queue (for us_poll) or are
 * injected straight into us_ingress; transmitted frames are captured in order in a fixed array of
 * TX buffers, where the test reads them. A knob refuses the next N tx_acquire calls. Two nodes are
 * "wired" by forwarding one's captured frames into the other's ingress.
 * np_free fails the test if any pool block or heap byte of the node's stack is still in use. */
#ifndef STACKBENCH_NETPAIR_H
#define STACKBENCH_NETPAIR_H

#include <stdbool.h>

#include "testutil.h"
#include "ustack/iface.h"
#include "ustack/socket.h"
#include "ustack/stack.h"
#include "ustack/wire/ipv4.h"

#define NP_FRAME_MAX 2048u
#define NP_TX_SLOTS 256u
#define NP_RXQ 64u

/* Node addresses used throughout: A = 10.0.0.1 / 02:00:00:00:00:01, B = 10.0.0.2 / ...:02. */
#define NP_IP_A 0x0A000001u
#define NP_IP_B 0x0A000002u
extern const uint8_t np_mac_a[6];
extern const uint8_t np_mac_b[6];
extern const uint8_t np_mac_bcast[6];

typedef struct np_node {
    us_dev dev;
    us_stack *s;
    void *mem;
    us_stack_config cfg;
    uint8_t tx[NP_TX_SLOTS][NP_FRAME_MAX];
    uint32_t tx_len[NP_TX_SLOTS];
    uint32_t tx_n;       /* committed frames held in tx[] */
    uint32_t refuse;     /* refuse this many more tx_acquire calls */
    uint32_t refuse_skip; /* ... after letting this many more through */
    uint32_t acquires;   /* tx_acquire calls */
    uint32_t refused;    /* of them refused */
    us_pbuf *rxq[NP_RXQ];
    uint32_t rx_head, rx_n;
    uint32_t wakes;      /* egress-waker firings counted by np_count_wake */
    uint32_t rx_nobuf;   /* frames np_forward could not hand over: the node's pool was empty */
} np_node;

/* A stack config with the defaults and the given address and MAC (last byte). */
void np_config(us_stack_config *cfg, uint32_t ip, uint8_t mac_last);

/* A node. cfg NULL: np_config(A). */
np_node *np_new(const us_stack_config *cfg, uint32_t mtu, uint32_t caps);
/* As np_new, with dev.max_burst. */
np_node *np_new_ex(const us_stack_config *cfg, uint32_t mtu, uint32_t caps, uint32_t max_burst);
np_node *np_new_a(void); /* defaults, address A, MTU 1500 */
np_node *np_new_b(void); /* defaults, address B, MTU 1500 */
/* Free the node: RX queue drained, then asserts nothing of its stack's buffers is in use. */
void np_free(np_node *n);

/* A POOL pbuf of n's stack holding frame[0, len). */
us_pbuf *np_pbuf(np_node *n, const uint8_t *frame, uint32_t len);
/* As np_pbuf, as a chain of two POOL pbufs holding frame[0, at) and frame[at, len), 0 < at < len:
 * a frame whose headers may straddle a segment boundary. */
us_pbuf *np_pbuf_split(np_node *n, const uint8_t *frame, uint32_t len, uint32_t at);
/* us_ingress of a copy of frame. */
unsigned np_inject(np_node *n, const uint8_t *frame, uint32_t len, us_time now);
/* Queue a copy of frame for dev->rx (us_poll). */
void np_rx_push(np_node *n, const uint8_t *frame, uint32_t len);

/* Forget the captured frames. */
void np_tx_clear(np_node *n);
/* Drop captured frame i (as if lost on the wire). */
void np_tx_remove(np_node *n, uint32_t i);
/* Ingress every frame `from` captured into `to`, then clear from's capture. A frame for which
 * `to`'s PBUF_POOL has no block is dropped as a NIC would (to->rx_nobuf). Returns the count. */
uint32_t np_forward(np_node *from, np_node *to, us_time now);
/* Egress both nodes (ALL) and forward both ways until no frame moves. Returns frames moved. */
uint32_t np_exchange(np_node *a, np_node *b, us_time now);
/* Teach each node the other's MAC by an ARP exchange (a asks for b). */
void np_arp_pair(np_node *a, np_node *b, us_time now);

/* Egress-waker callback counting into ((np_node *)ctx)->wakes. */
void np_count_wake(void *ctx);

/* ---- frame builders (wire emit) ---- */

/* Ethernet + IPv4 header (ip: payload_len and fragment fields as given) + payload. Returns the
 * frame length. */
uint32_t np_build_ip(uint8_t *buf, const uint8_t *dst_mac, const uint8_t *src_mac,
                     const us_ipv4_repr *ip, const void *payload, uint32_t len);
/* A UDP datagram in one frame, checksum computed. */
uint32_t np_build_udp(uint8_t *buf, const uint8_t *dst_mac, const uint8_t *src_mac, uint32_t src,
                      uint32_t dst, uint16_t sport, uint16_t dport, const void *data, uint32_t len);
/* The UDP datagram (header + data, checksummed) into out; returns 8 + len. */
uint32_t np_udp_message(uint8_t *out, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                        const void *data, uint32_t len);
/* An ARP frame. */
uint32_t np_build_arp(uint8_t *buf, const uint8_t *eth_dst, uint16_t op, const uint8_t *sha,
                      uint32_t spa, const uint8_t *tha, uint32_t tpa);
/* An IPv4 repr with the usual fields (TTL 64, no fragment). */
us_ipv4_repr np_ip(uint32_t src, uint32_t dst, uint8_t proto, uint16_t ident, uint32_t payload_len);

/* Decode hex (spaces allowed) into out; returns the byte count. */
uint32_t np_hex(const char *hex, uint8_t *out, uint32_t cap);

#endif
