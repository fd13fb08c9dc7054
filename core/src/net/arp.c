/* The ARP cache (RFC 826). Learning follows RFC 826's merge rule: a message updates an existing
 * entry for its sender; a new entry is made only from a message addressed to us (request or reply),
 * so a gratuitous ARP refreshes an entry we have and never adds one. MACs are never learned from
 * IPv4 frames (lwIP's ETHARP_TRUST_IP_MAC off): an IPv4 source address is easy to forge.
 * Eviction when the table is full: the least recently confirmed RESOLVED entry; PENDING and STATIC
 * entries are never evicted (a lookup then fails: ARP_QUEUE). */
#include "net/arp.h"

#include <string.h>

#include "stack_internal.h"
#include "ustack/wire/arp.h"

size_t us__arp_mem_size(uint32_t n, uint32_t qcap)
{
    return US_ALIGN_UP((size_t)n * sizeof(us__arp_entry), 16u) +
           (size_t)n * qcap * sizeof(us_pbuf *);
}

void us__arp_init(us__arp *a, void *mem, uint32_t n, uint32_t qcap, uint32_t dl_base)
{
    memset(a, 0, sizeof(*a));
    a->e = mem;
    a->n = n;
    a->qcap = qcap;
    a->dl_base = dl_base;
    size_t table = US_ALIGN_UP((size_t)n * sizeof(us__arp_entry), 16u);
    us_pbuf **q = (us_pbuf **)((uint8_t *)mem + table);
    for (uint32_t i = 0; i < n; i++) {
        memset(&a->e[i], 0, sizeof(a->e[i]));
        a->e[i].q = q + (size_t)i * qcap;
    }
}

void us__arp_frame(const us_stack *s, uint8_t *buf, uint16_t op, const uint8_t *eth_dst,
                   const uint8_t *tha, uint32_t tpa)
{
    us__eth_header(s, buf, eth_dst, US_ETHERTYPE_ARP);
    us_arp_repr r;
    r.op = op;
    memcpy(r.sha, s->cfg.mac, US_ETH_ADDR_LEN);
    r.spa = s->cfg.ipv4_addr;
    memcpy(r.tha, tha, US_ETH_ADDR_LEN);
    r.tpa = tpa;
    us_arp_emit(&r, buf + US_ETH_HDR_LEN);
}

#define ARP_FRAME_LEN (US_ETH_HDR_LEN + US_ARP_LEN)

static const uint8_t zero_mac[US_ETH_ADDR_LEN] = {0};

/* Broadcast a request for ip; false (and owed) when the device refused. */
static bool send_request(us_stack *s, uint32_t ip)
{
    uint8_t *buf = us__tx_acquire(s, ARP_FRAME_LEN);
    if (buf == NULL)
        return false;
    us__arp_frame(s, buf, US_ARP_OP_REQUEST, us__eth_bcast, zero_mac, ip);
    us__tx_commit(s, buf, ARP_FRAME_LEN);
    return true;
}

static void request(us_stack *s, us__arp_entry *e)
{
    if (!send_request(s, e->ip)) {
        e->req_owed = true;
        s->arp.dirty = true;
    } else {
        e->req_owed = false;
    }
}

static void drop_queue(us_stack *s, us__arp_entry *e)
{
    while (e->qlen) {
        (void)us_pbuf_free(e->q[e->qhead]);
        e->q[e->qhead] = NULL;
        e->qhead = (e->qhead + 1) % s->arp.qcap;
        e->qlen--;
        s->stats.drop[US_DROP_ARP_QUEUE]++;
    }
    e->qhead = 0;
}

static void entry_free(us_stack *s, uint32_t i)
{
    us__arp_entry *e = &s->arp.e[i];
    drop_queue(s, e);
    e->state = US__ARP_FREE;
    e->req_owed = false;
    us__dl_cancel(&s->dl, s->arp.dl_base + i);
}

static uint32_t find(const us__arp *a, uint32_t ip)
{
    for (uint32_t i = 0; i < a->n; i++)
        if (a->e[i].state != US__ARP_FREE && a->e[i].ip == ip)
            return i;
    return US__NONE;
}

/* A free entry, or the oldest resolved one evicted; US__NONE when neither exists. */
static uint32_t alloc_entry(us_stack *s)
{
    uint32_t best = US__NONE;
    for (uint32_t i = 0; i < s->arp.n; i++) {
        const us__arp_entry *e = &s->arp.e[i];
        if (e->state == US__ARP_FREE)
            return i;
        if (e->state == US__ARP_RESOLVED && (best == US__NONE || e->stamp < s->arp.e[best].stamp))
            best = i;
    }
    if (best != US__NONE)
        entry_free(s, best);
    return best;
}

/* Send what waits in the queue of a resolved entry; false when the device refused. */
static bool flush_queue(us_stack *s, us__arp_entry *e)
{
    while (e->qlen) {
        us_pbuf *p = e->q[e->qhead];
        if (us__ipv4_send_pbuf(s, e->mac, p) != US_OK) {
            s->arp.dirty = true;
            return false;
        }
        (void)us_pbuf_free(p);
        e->q[e->qhead] = NULL;
        e->qhead = (e->qhead + 1) % s->arp.qcap;
        e->qlen--;
    }
    e->qhead = 0;
    return true;
}

/* Entry i now has a MAC: send its queue and wake the sockets that waited for it. */
static void resolved(us_stack *s, uint32_t i, us_time now)
{
    us__arp_entry *e = &s->arp.e[i];
    (void)now;
    e->req_owed = false;
    (void)flush_queue(s, e);
    us__tcp_arp_resolved(s, e->ip);
}

/* Learn ip -> mac (update, or create when `create`). */
static bool learn(us_stack *s, uint32_t ip, const uint8_t *mac, bool create, us_time now)
{
    uint32_t i = find(&s->arp, ip);
    if (i == US__NONE) {
        if (!create || (i = alloc_entry(s)) == US__NONE)
            return false;
        us__arp_entry *e = &s->arp.e[i];
        e->ip = ip;
        e->qlen = e->qhead = 0;
        e->requests = 0;
        e->state = US__ARP_PENDING; /* becomes RESOLVED below */
    }
    us__arp_entry *e = &s->arp.e[i];
    if (e->state == US__ARP_STATIC)
        return true; /* static entries are never overwritten by the network */
    bool was_pending = e->state == US__ARP_PENDING;
    memcpy(e->mac, mac, US_ETH_ADDR_LEN);
    e->state = US__ARP_RESOLVED;
    e->stamp = now;
    us__dl_set(&s->dl, s->arp.dl_base + i, now + s->cfg.arp_max_age);
    if (was_pending)
        resolved(s, i, now);
    return true;
}

unsigned us__arp_input(us_stack *s, us__pkt *k, uint32_t off, us_time now)
{
    uint8_t scratch[US_ARP_LEN];
    uint32_t got;
    const uint8_t *h = us__pkt_view(k, off, US_ARP_LEN, scratch, &got);
    us_arp_repr r;
    us_wire_err err = us_arp_parse(&r, h, got);
    us__pkt_release(k); /* everything needed is in r now */
    if (err != US_WIRE_OK)
        return us__drop_wire(s, err);
    if (r.op != US_ARP_OP_REQUEST && r.op != US_ARP_OP_REPLY)
        return us__drop_wire(s, US_WIRE_UNSUPPORTED);
    uint32_t me = s->cfg.ipv4_addr;
    /* Our own address as the sender: another host claims it, or our announcement came back.
     * Neither is learned nor answered. */
    if (r.spa == me)
        return us__drop(s, US_DROP_NOT_FOR_US);
    /* A sender with a group MAC, or an unspecified sender (a probe, RFC 5227): nothing to learn. */
    bool can_learn = r.spa != 0 && !(r.sha[0] & 1u);
    bool to_us = r.tpa == me;
    bool merged = can_learn && learn(s, r.spa, r.sha, to_us, now);
    if (!to_us)
        return merged ? 0u : us__drop(s, US_DROP_NOT_FOR_US);
    if (r.op == US_ARP_OP_REQUEST && !(r.sha[0] & 1u)) {
        uint8_t *buf = us__tx_acquire(s, ARP_FRAME_LEN);
        if (buf != NULL) { /* refused: the requester asks again */
            us__arp_frame(s, buf, US_ARP_OP_REPLY, r.sha, r.sha, r.spa);
            us__tx_commit(s, buf, ARP_FRAME_LEN);
        }
    }
    return 0;
}

us__arp_res us__arp_lookup(us_stack *s, uint32_t ip, us_time now, uint8_t mac[US_ETH_ADDR_LEN],
                           uint32_t *entry)
{
    uint32_t i = find(&s->arp, ip);
    if (i != US__NONE) {
        us__arp_entry *e = &s->arp.e[i];
        *entry = i;
        if (e->state == US__ARP_PENDING)
            return US__ARP_WAIT;
        memcpy(mac, e->mac, US_ETH_ADDR_LEN);
        return US__ARP_HIT;
    }
    i = alloc_entry(s);
    if (i == US__NONE)
        return US__ARP_FULL;
    us__arp_entry *e = &s->arp.e[i];
    e->state = US__ARP_PENDING;
    e->ip = ip;
    e->qhead = e->qlen = 0;
    e->stamp = now;
    e->requests = 1;
    request(s, e);
    us__dl_set(&s->dl, s->arp.dl_base + i, now + s->cfg.arp_retry);
    *entry = i;
    return US__ARP_WAIT;
}

void us__arp_enqueue(us_stack *s, uint32_t entry, us_pbuf *p)
{
    us__arp_entry *e = &s->arp.e[entry];
    if (e->qlen >= s->arp.qcap) {
        (void)us_pbuf_free(p);
        s->stats.drop[US_DROP_ARP_QUEUE]++;
        return;
    }
    e->q[(e->qhead + e->qlen) % s->arp.qcap] = p;
    e->qlen++;
    if (e->state != US__ARP_PENDING)
        s->arp.dirty = true; /* resolved: the device refused; the next egress flushes it */
}

void us__arp_timer(us_stack *s, uint32_t i, us_time now)
{
    us__arp_entry *e = &s->arp.e[i];
    if (e->state == US__ARP_PENDING) {
        if (e->requests >= s->cfg.arp_max_retries) {
            uint32_t ip = e->ip;
            entry_free(s, i); /* queued packets dropped: ARP_QUEUE */
            us__tcp_arp_failed(s, ip, now);
            return;
        }
        e->requests++;
        request(s, e);
        us__dl_set(&s->dl, s->arp.dl_base + i, now + s->cfg.arp_retry);
    } else if (e->state == US__ARP_RESOLVED) {
        entry_free(s, i); /* aged out; the next packet asks again */
    }
}

bool us__arp_flush(us_stack *s, us_time now)
{
    (void)now;
    if (!s->arp.dirty)
        return true;
    if (s->arp.announce) {
        uint8_t *buf = us__tx_acquire(s, ARP_FRAME_LEN);
        if (buf == NULL)
            return false;
        /* Gratuitous ARP: a broadcast request for our own address (RFC 5227 2.3). */
        us__arp_frame(s, buf, US_ARP_OP_REQUEST, us__eth_bcast, zero_mac, s->cfg.ipv4_addr);
        us__tx_commit(s, buf, ARP_FRAME_LEN);
        s->arp.announce = false;
    }
    for (uint32_t i = 0; i < s->arp.n; i++) {
        us__arp_entry *e = &s->arp.e[i];
        if (e->req_owed) {
            if (e->state == US__ARP_PENDING && !send_request(s, e->ip))
                return false;
            e->req_owed = false;
        }
        if ((e->state == US__ARP_RESOLVED || e->state == US__ARP_STATIC) && !flush_queue(s, e))
            return false;
    }
    s->arp.dirty = false;
    return true;
}

us_status us_arp_add_static(us_stack *s, uint32_t ip, const uint8_t mac[6])
{
    if (s == NULL || mac == NULL || ip == 0 || (mac[0] & 1u))
        return US_EINVAL;
    uint32_t i = find(&s->arp, ip);
    if (i == US__NONE && (i = alloc_entry(s)) == US__NONE)
        return US_ENOMEM;
    us__arp_entry *e = &s->arp.e[i];
    bool was_pending = e->state == US__ARP_PENDING;
    if (e->state == US__ARP_FREE)
        e->qhead = e->qlen = 0;
    e->ip = ip;
    memcpy(e->mac, mac, US_ETH_ADDR_LEN);
    e->state = US__ARP_STATIC;
    us__dl_cancel(&s->dl, s->arp.dl_base + i);
    if (was_pending)
        resolved(s, i, 0);
    if (us__output_pending(s))
        us__egress_wanted(s);
    return US_OK;
}

void us_arp_announce(us_stack *s)
{
    if (s == NULL)
        return;
    s->arp.announce = true;
    s->arp.dirty = true;
    us__egress_wanted(s);
}
