/* Internal: the ARP cache of one stack (RFC 826) — a bounded table of entries, each FREE, PENDING
 * (a request is out; packets wait in its bounded queue), RESOLVED (ages out after arp_max_age) or
 * STATIC (never ages). Requests are retried every arp_retry up to arp_max_retries; then the entry
 * fails and its queued packets are dropped (ARP_QUEUE). Deadlines live in the stack's heap. */
#ifndef USTACK_NET_ARP_H
#define USTACK_NET_ARP_H

#include <stdbool.h>

#include "ustack/pbuf.h"
#include "ustack/stack.h"
#include "ustack/wire/eth.h"

struct us__pkt;

typedef enum us__arp_state {
    US__ARP_FREE,
    US__ARP_PENDING,
    US__ARP_RESOLVED,
    US__ARP_STATIC,
} us__arp_state;

typedef struct us__arp_entry {
    uint8_t state;     /* us__arp_state */
    bool req_owed;     /* a request is due but the device refused a TX buffer */
    uint8_t mac[US_ETH_ADDR_LEN];
    uint32_t ip;
    uint32_t requests; /* requests sent while pending */
    us_time stamp;     /* when created (pending) or last confirmed (resolved): eviction order */
    us_pbuf **q;       /* arp_queue slots: complete IPv4 packets (RAM pbufs) waiting for the MAC */
    uint32_t qhead, qlen;
} us__arp_entry;

typedef struct us__arp {
    us__arp_entry *e;
    uint32_t n;        /* entries */
    uint32_t qcap;     /* queue slots per entry */
    uint32_t dl_base;  /* deadline item of entry 0 */
    bool announce;     /* a gratuitous ARP is owed */
    bool dirty;        /* owed output: announce, a request, the queue of a resolved entry */
} us__arp;

/* What us__arp_lookup found. */
typedef enum us__arp_res {
    US__ARP_HIT,  /* mac filled in */
    US__ARP_WAIT, /* pending (a request is out or owed); *entry is the entry */
    US__ARP_FULL, /* no entry could be made: the table holds only pending and static entries */
} us__arp_res;

/* Memory for n entries with qcap queue slots each, and init over it. */
size_t us__arp_mem_size(uint32_t n, uint32_t qcap);
void us__arp_init(us__arp *a, void *mem, uint32_t n, uint32_t qcap, uint32_t dl_base);

/* One ARP message at pkt offset off (after the Ethernet header). Takes the frame. Returns
 * US_INGRESS_* bits. */
unsigned us__arp_input(us_stack *s, struct us__pkt *k, uint32_t off, us_time now);

/* The MAC of on-link ip. On a miss a pending entry is made and a request sent (or owed). */
us__arp_res us__arp_lookup(us_stack *s, uint32_t ip, us_time now, uint8_t mac[US_ETH_ADDR_LEN],
                           uint32_t *entry);

/* Queue p (a complete IPv4 packet, RAM) on entry. Takes p in every case: a full queue drops it
 * (ARP_QUEUE). */
void us__arp_enqueue(us_stack *s, uint32_t entry, us_pbuf *p);

/* The entry's deadline came (retry, failure or aging). */
void us__arp_timer(us_stack *s, uint32_t entry, us_time now);

/* Send what is owed: gratuitous ARP, owed requests, queues of resolved entries. Returns false if
 * the device refused a TX buffer (the rest stays owed). */
bool us__arp_flush(us_stack *s, us_time now);

/* Emit a 42-byte ARP frame (Ethernet + message) into buf. */
void us__arp_frame(const us_stack *s, uint8_t *buf, uint16_t op, const uint8_t *eth_dst,
                   const uint8_t *tha, uint32_t tpa);

#endif /* USTACK_NET_ARP_H */
